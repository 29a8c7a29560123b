/**
 * The headless Chromium of the viewer's browser tests (test/web*.test.ts): Debian's
 * /usr/bin/chromium driven by playwright-core, with the flags that keep it off the network and
 * quiet in CI, one profile directory per suite.
 */
import { existsSync } from "node:fs";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
/** An explicit opt-out for machines without Chromium; a browser that is merely missing fails the suite. */
export const SKIP_BROWSER = process.env.SONOTILE_SKIP_BROWSER === "1";

/** Starts Chromium on profile directory `profile` at 1400 × 900 CSS pixels (scale 1): its context and first page. */
export async function launchChromium(profile: string): Promise<{ context: BrowserContext; page: Page }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it (apt-get install -y chromium), or set SONOTILE_SKIP_BROWSER=1 to skip the browser tests`);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1400, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  return { context, page };
}

/**
 * Drags a file of `text` named `name` onto the viewer's spectrogram and drops it there, as a file
 * dragged from the desktop: `dragover` (then `dragged`, to look at the plot under the drag), `drop`.
 */
export async function dropFile(page: Page, name: string, text: string, dragged: () => Promise<void> = async () => {}) {
  const transfer = await page.evaluateHandle(([n, t]) => {
    const d = new DataTransfer();
    d.items.add(new File([t], n, { type: "text/plain" }));
    return d;
  }, [name, text] as const);
  await page.dispatchEvent("#plot", "dragover", { dataTransfer: transfer });
  await dragged();
  await page.dispatchEvent("#plot", "drop", { dataTransfer: transfer });
}
