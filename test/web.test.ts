/**
 * The viewer page (issue 8) in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core) against an in-process server with the demo dataset: tiles load for the
 * visible range and sit side by side without gaps at every zoom — and, drawn at one or more
 * pixels per frame, equal the server's one-shot image of the same frames pixel for pixel across
 * every tile boundary (no seam); zoom and pan move the view, the colormap changes the pixels,
 * the API's validation messages land next to their field, a click reads a value, a shift-drag
 * creates a clip, the clips in view are drawn and listed however many the recording has (and
 * however late an older view's answer comes, and asked for again only when the view moved),
 * every recording of a dataset is reached by the list's pager and search, deep links open any
 * recording, selection tables are imported (their clips drawn at once, their faults listed by line
 * and column) and exported as the route names them, and server data shows as text, never markup.
 * Screenshots go to test-artifacts/.
 * Chromium must be installed (`apt-get install -y chromium`; CI does): without it the suite
 * fails, unless SONOTILE_SKIP_BROWSER=1 says to skip it on purpose.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import UPNG from "upng-js";
import { type BrowserContext, type Page, type Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { IMPORT_BODY_LIMIT } from "../src/api/import-limit.js";
import { frameCount, frameGeometry } from "../src/engine/geometry.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { ensureDemoAudio, ensureDemoDataset } from "../src/demo/index.js";
import { resolveRoots } from "../src/store/paths.js";
import { listRecordings } from "../src/store/recordings.js";
import { ensureAdmin } from "../src/store/users.js";
import { TileService } from "../src/tiles/service.js";
import { createDataset } from "../src/store/datasets.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { startWorker, type ExtractWorker } from "../src/jobs/worker.js";
import { dropFile, launchChromium, SKIP_BROWSER } from "./browser.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";
import { UUID_RULE } from "../src/store/common.js";

if (SKIP_BROWSER) console.warn("test/web.test.ts skipped: SONOTILE_SKIP_BROWSER=1");

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = join(ROOT, "test-artifacts");

let t: TestDatabase;
let app: App;
/** The same server as one listening beyond loopback would be: every route needs a token. */
let locked: App;
let lockedBase: string;
let tiles: TileService;
/**
 * A clip's or a selection's times as the viewer says them (web/clip-panel.ts timeRangeText): to 4
 * significant digits of its length, at least 4 decimals, at most the decimal of a sample at `rate`.
 */
const timeRange = (start: number, end: number, rate: number) => {
  const digits = Math.max(4, Math.min(Math.ceil(Math.log10(rate)), 3 - Math.floor(Math.log10(end - start))));
  return `${start.toFixed(digits)}–${end.toFixed(digits)} s`;
};
/** The job worker `sonotile serve` runs beside the API. */
let worker: ExtractWorker;
let audio: { path: string; remove(): Promise<void> };
/** Audio of the datasets besides the demo. */
let extra: { path: string; remove(): Promise<void> };
let profile: { path: string; remove(): Promise<void> };
let context: BrowserContext;
let page: Page;
let base: string;
let adminKey: string;
let batId: string;
let birdId: string;
/** A recording of a second dataset, "second", listed after "demo". */
let second: { datasetId: string; recordingId: string };

/** Waits until the plot holds tiles, all decoded, all of whose URLs contain `part` (and not `absent`: a parameter back at its default). */
async function tilesLoaded(part = "", absent?: string) {
  await page.waitForFunction(([s, not]) => {
    const imgs = [...document.querySelectorAll<HTMLImageElement>("#tiles img")];
    return imgs.length > 0 && imgs.every((i) => i.dataset.loaded === "true" && i.complete && i.naturalWidth > 0 && i.dataset.src!.includes(s) && !(not && i.dataset.src!.includes(not)));
  }, [part, absent] as const);
}

/** The view as the plot gives it: `scale` is 1 but in a fitted view, which draws its level scaled to fill the plot. */
interface View { z: number; level: number; scale: number; start: number; end: number }
const view = async (): Promise<View> => JSON.parse((await page.getAttribute("#plot", "data-view"))!);
/** The level a zoom step in goes to from view `v`: the next whole one closer in than its pixels per frame (a fitted view's scale included). */
const nextLevelIn = (v: View) => Math.floor(Math.log2(2 ** v.level * v.scale)) + 1;

/** The plot as RGBA pixels (device pixels = CSS pixels here), saved as an artifact. */
async function plotPixels(name: string) {
  const png = await page.locator("#plot").screenshot();
  await writeFile(join(ARTIFACTS, `web-${name}.png`), png);
  await page.screenshot({ path: join(ARTIFACTS, `web-${name}-page.png`) });
  const img = UPNG.decode(png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength) as ArrayBuffer);
  return { width: img.width, height: img.height, rgba: new Uint8Array(UPNG.toRGBA8(img)[0]) };
}
type Pixels = Awaited<ReturnType<typeof plotPixels>>;

/** Tile boundaries (CSS px) inside the plot, where both neighbouring tiles are shown, and where the tiles start and end. */
async function boundaries(): Promise<{ inside: number[]; left: number; right: number }> {
  return page.evaluate(() => {
    const plot = document.getElementById("plot")!.getBoundingClientRect();
    const rects = [...document.querySelectorAll<HTMLImageElement>("#tiles img")].map((i) => i.getBoundingClientRect()).sort((a, b) => a.left - b.left);
    const inside = rects.slice(1).map((r) => r.left - plot.left).filter((x) => x >= 4 && x <= plot.width - 4);
    return {
      inside,
      left: Math.max(0, rects[0].left - plot.left),
      right: Math.min(plot.width, rects[rects.length - 1].right - plot.left),
    };
  });
}

/**
 * Tiles placed without gaps at every zoom: no background (magenta) shows anywhere between the
 * first and last tile, and every boundary is on a whole pixel. What the pixels on either side of
 * a boundary show is checked exactly by `oneShotMismatches`.
 */
async function expectNoGaps(name: string) {
  const { inside, left, right } = await boundaries();
  const pixels = await plotPixels(name);
  let magenta = 0;
  for (let y = 0; y < pixels.height; y++) {
    for (let x = Math.ceil(left); x < Math.floor(right); x++) {
      const i = (y * pixels.width + x) * 4;
      if (pixels.rgba[i] === 255 && pixels.rgba[i + 1] === 0 && pixels.rgba[i + 2] === 255) magenta++;
    }
  }
  expect(magenta, `${name}: background shows between tiles`).toBe(0);
  expect(inside.length, `${name}: no tile boundary in view`).toBeGreaterThan(0);
  for (const b of inside) expect(Number.isInteger(b), `${name}: tile boundary at fractional pixel ${b}`).toBe(true);
}

/**
 * Compares the plot, pixel for pixel, with the server's one-shot image of the same frames
 * (GET …/spectrogram?start_time&end_time&format=png with the tiles' parameters): the truth a
 * seamless row of tiles must reproduce, since both have whole-recording semantics. Needs a
 * zoom of 2^level ≥ 1 pixels per frame (level ≥ 0, tiles of z = 0, each frame drawn as that
 * many identical columns) and one plot row per tile row (plot height = bins). Every column of
 * every tile in view is compared, both sides of each boundary included. Exact equality holds:
 * tiles and image are the same palette PNGs without a colour profile, which Chromium draws
 * unchanged (the tests' screenshots are sRGB like the untagged images).
 * Returns the boundaries compared and the pixels that differ (with the first few described).
 */
async function oneShotMismatches(name: string): Promise<{ boundaries: number; mismatches: number; first: string[] }> {
  const { level } = await view();
  expect(level, `${name}: the one-shot comparison needs one or more pixels per frame`).toBeGreaterThanOrEqual(0);
  const pxPerFrame = 2 ** level;
  const placed = await page.evaluate(() => {
    const plot = document.getElementById("plot")!.getBoundingClientRect();
    return [...document.querySelectorAll<HTMLImageElement>("#tiles img")].map((i) => {
      const r = i.getBoundingClientRect();
      return { x: Number(i.dataset.x), src: i.dataset.src!, left: r.left - plot.left, right: r.right - plot.left };
    });
  });
  const pixels = await plotPixels(name);
  const inView = placed.filter((t) => t.right > 0 && t.left < pixels.width).sort((a, b) => a.left - b.left);
  const tileUrl = new URL(inView[0].src, base);
  const recordingId = tileUrl.pathname.split("/")[3];
  const query = tileUrl.searchParams;
  const tileWidth = Number(query.get("width"));
  // Plot column p inside tile t shows frame t.x·W + floor((p − t.left) / pxPerFrame).
  const columns: { p: number; frame: number }[] = [];
  for (const t of inView) {
    for (let p = Math.max(0, t.left); p < Math.min(pixels.width, t.right); p++) columns.push({ p, frame: t.x * tileWidth + Math.floor((p - t.left) / pxPerFrame) });
  }
  const f0 = columns[0].frame, f1 = columns[columns.length - 1].frame + 1;
  // Frame i is centred at i·hop: half a hop either side selects exactly frames [f0, f1).
  const hop = Number((await app.inject({ url: inView[0].src })).headers["x-hop-seconds"]);
  for (const option of ["width", "height", "fmin", "fmax"]) query.delete(option);
  query.set("start_time", String((f0 - 0.5) * hop));
  query.set("end_time", String((f1 - 0.5) * hop));
  query.set("format", "png");
  const res = await app.inject({ url: `/v1/recordings/${recordingId}/spectrogram?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  const png = UPNG.decode(new Uint8Array(res.rawPayload).buffer);
  const image = new Uint8Array(UPNG.toRGBA8(png)[0]);
  expect([png.width, png.height], `${name}: one-shot image size`).toEqual([f1 - f0, pixels.height]);
  let mismatches = 0;
  const first: string[] = [];
  for (const { p, frame } of columns) {
    for (let y = 0; y < pixels.height; y++) {
      const a = (y * pixels.width + p) * 4, b = (y * png.width + frame - f0) * 4;
      for (let c = 0; c < 3; c++) {
        if (pixels.rgba[a + c] === image[b + c]) continue;
        mismatches++;
        if (first.length < 5) first.push(`x=${p} y=${y} (frame ${frame}): plot ${pixels.rgba.slice(a, a + 3).join(",")} vs image ${image.slice(b, b + 3).join(",")}`);
        break;
      }
    }
  }
  return { boundaries: inView.length - 1, mismatches, first };
}

/** Spoils the tile under the plot's centre on purpose: drawn 10 % darker, or one pixel to the right. */
async function doctorMiddleTile(change: "darker" | "shifted") {
  await page.evaluate((change) => {
    const plot = document.getElementById("plot")!.getBoundingClientRect();
    const centre = plot.left + plot.width / 2;
    const img = [...document.querySelectorAll<HTMLImageElement>("#tiles img")].find((i) => i.getBoundingClientRect().left <= centre && i.getBoundingClientRect().right > centre)!;
    img.style.filter = change === "darker" ? "brightness(0.9)" : "";
    if (change === "shifted") img.style.left = `${parseFloat(img.style.left) + 1}px`;
  }, change);
}

async function expectMatchesOneShot(name: string) {
  const { boundaries: compared, mismatches, first } = await oneShotMismatches(name);
  expect(compared, `${name}: tile boundaries in view`).toBeGreaterThanOrEqual(3);
  expect(mismatches, `${name}: pixels unlike the one-shot image: ${first.join("; ")}`).toBe(0);
}

/** Fraction of pixels whose red, green and blue differ (0 for a gray image). */
function colourFraction(p: Pixels): number {
  let coloured = 0;
  for (let i = 0; i < p.rgba.length; i += 4) if (p.rgba[i] !== p.rgba[i + 1] || p.rgba[i + 1] !== p.rgba[i + 2]) coloured++;
  return coloured / (p.width * p.height);
}

/** Plays the visible range: the cursor shows and moves right while the audio plays; a second click pauses. */
async function expectPlays() {
  // The audio's fetch and decode took past vitest's 1 s poll on a machine busy with other suites.
  const started = { timeout: 10_000 };
  await page.click("#play");
  await expect.poll(() => page.evaluate(() => !document.getElementById("cursor")!.hidden), started).toBe(true);
  const x0 = await page.evaluate(() => parseFloat(document.getElementById("cursor")!.style.left));
  await expect.poll(() => page.evaluate(() => parseFloat(document.getElementById("cursor")!.style.left)), started).toBeGreaterThan(x0 + 5);
  expect(await page.evaluate(() => document.querySelector("audio")!.currentTime)).toBeGreaterThan(0);
  // Slowed down, lower: with the pitch kept (the browser's default) a bat call stays ultrasonic.
  expect(await page.evaluate(() => document.querySelector("audio")!.preservesPitch)).toBe(false);
  await page.click("#play"); // pauses
  await expect.poll(() => page.evaluate(() => document.querySelector("audio")!.paused)).toBe(true);
}

/** WCAG contrast ratio of two CSS `rgb(…)` colours (4.5 or more for normal text, AA). */
function contrastRatio(a: string, b: string): number {
  const luminance = (css: string) => {
    const [r, g, bl] = css.match(/[\d.]+/g)!.slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (high + 0.05) / (low + 0.05);
}

/** Draws a box on the plot with Shift held, from (x0, y0) to (x1, y1) in the plot's pixels: a selection, and a clip once a token is given. */
async function shiftDraw(x0: number, y0: number, x1: number, y1: number) {
  const box = (await page.locator("#plot").boundingBox())!;
  await page.keyboard.down("Shift");
  await page.mouse.move(box.x + x0, box.y + y0);
  await page.mouse.down();
  await page.mouse.move(box.x + x1, box.y + y1, { steps: 8 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
}

async function setParam(name: string, value: string) {
  const field = page.locator(`#param-${name}`);
  if ((await field.evaluate((e) => e.tagName)) === "SELECT") await field.selectOption(value);
  else await field.fill(value);
  await field.dispatchEvent("change");
}

/** A field recorder's file name (site, recorder, serial, date, time, settings): 120 characters. */
const LONG_NAME = "WythamWoods_NorthRidge-SiteA12_SM4BAT-FS_S4U09876_20240517_053012_UTC0100_TE10_Gain12dB_Deployment03_Card2_Segment42.wav";
/** Window widths the layout must fit, from a desktop to a phone; the toolbar stays one row from 900 px up. */
const LAYOUT_WIDTHS = [1280, 900, 700, 500, 375];
const ONE_ROW_TOOLBAR_WIDTH = 900;

/** A box of the page, named by its element's id or tag and text. */
interface Placed { name: string; left: number; right: number; top: number; bottom: number; height: number }

/**
 * The page's layout at the current window size: the width the document scrolls to beside the
 * window's, the box of every visible control (header, toolbar, recording list, parameters,
 * read-out, clips, the clip panel), of the header's and the toolbar's items, of the toolbar and of the plot.
 */
async function layout() {
  return page.evaluate(() => {
    const box = (e: Element): Placed => {
      const r = e.getBoundingClientRect();
      return { name: e.id || `${e.tagName.toLowerCase()} "${e.textContent!.slice(0, 30)}"`, left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height };
    };
    const visible = (e: Element) => e.getBoundingClientRect().width > 0;
    const toolbar = document.getElementById("toolbar")!;
    return {
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      headerItems: [...document.querySelector("header")!.children].filter(visible).map(box),
      controls: [...document.querySelectorAll("header > *, #toolbar > *, #recording-name, nav button, aside label, #readout, #selections > *, #goto, #clip-list button, #clip-info *, #clip-panel :is(h2, button, input, textarea, li)")].filter(visible).map(box),
      toolbar: box(toolbar),
      toolbarItems: [...toolbar.children].filter(visible).map(box),
      plot: box(document.getElementById("plot")!),
    };
  });
}

/** Resizes the window to `width` × `height` px, returning once the page has handled the resize (axes and tiles placed for the new plot width). */
async function resizeWindow(width: number, height = 900) {
  // The page's own listener, added when it loaded, runs before this one.
  const handled = page.evaluate(() => new Promise((resolve) => addEventListener("resize", resolve, { once: true })));
  await page.setViewportSize({ width, height });
  await handled;
}

/** Names of the pairs of boxes that overlap (by more than half a pixel). */
function overlapping(boxes: Placed[]): string[] {
  const pairs: string[] = [];
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      const x = Math.min(a.right, b.right) - Math.max(a.left, b.left), y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (x > 0.5 && y > 0.5) pairs.push(`${a.name} / ${b.name}`);
    }
  }
  return pairs;
}

describe.skipIf(SKIP_BROWSER)("viewer page in Chromium", () => {
  beforeAll(async () => {
    // The page as `npm run build` bundles it (esbuild, well under a second).
    execFileSync(process.execPath, [join(ROOT, "scripts", "build_web.mjs")]);
    // One connection on the embedded database, as `sonotile serve` uses it beside its job worker.
    t = await freshDatabase();
    const admin = await ensureAdmin(t.db.sql);
    adminKey = admin!.key;
    audio = await tempDir();
    await ensureDemoAudio(audio.path);
    extra = await tempDir();
    const [root, extraRoot] = await resolveRoots([audio.path, extra.path]);
    await ensureDemoDataset(t.db.sql, root, admin!.user.id);
    // A folder of its own: the tests below make datasets of other folders of this root, and none may lie inside another's.
    const secondDir = join(extraRoot, "second");
    await mkdir(secondDir);
    await writeSineWav(join(secondDir, "tone.wav"), 48000, 1, 5000);
    const dataset = await createDataset(t.db.sql, { name: "second", audio_dir: secondDir, created_by: null });
    const tone = await insertRecording(t.db.sql, { dataset_id: dataset.id, path: "tone.wav", ...(await probeFile(join(secondDir, "tone.wav"))), created_by: null });
    second = { datasetId: dataset.id, recordingId: tone!.id };
    const recordings = await listRecordings(t.db.sql, { state: "active", sort: "path", order: "asc", limit: 10, offset: 0 });
    batId = recordings.items.find((r) => r.path === "bats-384k.wav")!.id;
    birdId = recordings.items.find((r) => r.path === "birds-48k.wav")!.id;
    tiles = new TileService({ threads: 2, statsStore: tileStatsStore(t.db.sql) });
    app = await buildApp({ database: t.db, audioRoots: [root, extraRoot], tiles });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    locked = await buildApp({ database: t.db, audioRoots: [root, extraRoot], tiles, requireAuthForReads: true });
    lockedBase = await locked.listen({ host: "127.0.0.1", port: 0 });
    profile = await tempDir("sonotile-chromium-");
    await mkdir(ARTIFACTS, { recursive: true });
    ({ context, page } = await launchChromium(profile.path));
  });

  afterAll(async () => {
    await context?.close();
    await worker?.stop();
    await app?.close();
    await locked?.close();
    await tiles?.close();
    await t?.cleanup();
    await audio?.remove();
    await extra?.remove();
    await profile?.remove();
  });

  /** Creates through the API as the admin: the created record. */
  async function post(url: string, payload: object) {
    const res = await app.inject({ method: "POST", url, headers: { authorization: `Bearer ${adminKey}` }, payload });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json();
  }

  /** A 120 s 1 kHz tone at 8 kHz, `file`, registered in a dataset `name` of its own: the recording. */
  async function toneRecordingApart(name: string, file: string) {
    const dir = join(extra.path, name);
    await mkdir(dir);
    await writeSineWav(join(dir, file), 8000, 120, 1000);
    const dataset = await post("/v1/datasets", { name, audio_dir: dir });
    return post("/v1/recordings", { dataset_id: dataset.id, path: file });
  }

  it("lists the demo recordings and shows the bat recording's tiles, without gaps, with axes in real units", async () => {
    await page.goto(`${base}/#recording=${batId}`);
    await expect.poll(() => page.locator("#recordings button").allTextContents()).toEqual([
      expect.stringContaining("bats-384k.wav"), expect.stringContaining("birds-48k.wav"),
    ]);
    await tilesLoaded();
    // Magenta behind the tiles: any gap between two of them shows.
    await page.addStyleTag({ content: "#plot { background: #f0f !important; }" });
    // 5 s fit the plot from 0; the frequency axis reaches the 192 kHz Nyquist.
    const v = await view();
    expect(v.start).toBeLessThan(0.02);
    expect(v.end).toBeGreaterThan(5);
    expect(await page.locator("#taxis span").first().textContent()).toMatch(/^0(\.0+)? s$/);
    expect(await page.locator("#faxis span").last().textContent()).toMatch(/kHz$/);
    const top = Number((await page.locator("#faxis span").last().textContent())!.replace(" kHz", ""));
    expect(top).toBeGreaterThan(150);
    expect(top).toBeLessThanOrEqual(192);
    // Narrow tiles so that several boundaries are in view.
    await setParam("width", "128");
    await tilesLoaded("width=128");
    expect(await page.locator("#tiles img").count()).toBeGreaterThanOrEqual(3);
    await expectNoGaps("fit");
  });

  it("zooms and pans through the tile pyramid, without gaps at every level", async () => {
    const before = await view();
    await page.click("#zoom-in");
    await tilesLoaded("/tiles/0/");
    const zoomed = await view();
    // From the fitted view's scale to the next whole level closer in, drawn unscaled: the span in proportion.
    expect(zoomed.level).toBe(nextLevelIn(before));
    expect(zoomed.scale).toBe(1);
    expect(zoomed.end - zoomed.start).toBeCloseTo((before.end - before.start) * before.scale * 2 ** (before.level - zoomed.level), 3);
    await expectNoGaps("zoom-in");
    // Lazy: only tiles that overlap the plot or one plot width either side are in the page.
    const placed = await page.evaluate(() => {
      const plot = document.getElementById("plot")!.getBoundingClientRect();
      return [...document.querySelectorAll("#tiles img")].map((i) => {
        const r = i.getBoundingClientRect();
        return { left: r.left - plot.left, right: r.right - plot.left, width: plot.width };
      });
    });
    for (const r of placed) {
      expect(r.right).toBeGreaterThan(-r.width);
      expect(r.left).toBeLessThan(2 * r.width);
    }

    // Back to the start, then dragging 200 px to the left moves the view 200 px later in time.
    for (let i = 0; i < 3; i++) await page.click("#pan-left");
    const startView = await view();
    const box = (await page.locator("#plot").boundingBox())!;
    await page.mouse.move(box.x + 400, box.y + 200);
    await page.mouse.down();
    await page.mouse.move(box.x + 300, box.y + 200, { steps: 5 });
    await page.mouse.move(box.x + 200, box.y + 200, { steps: 5 });
    await page.mouse.up();
    const panned = await view();
    const secondsPerPx = (zoomed.end - zoomed.start) / box.width;
    expect(startView.start).toBeCloseTo(-(box.width / 2) * secondsPerPx - 0.5 * 0.0125, 3); // half the plot before 0 s at most
    expect(panned.start - startView.start).toBeCloseTo(200 * secondsPerPx, 6);
    await tilesLoaded();
    await expectNoGaps("pan");
    // Panning stops with half the plot still on the recording (5 s long).
    for (let i = 0; i < 4; i++) await page.click("#pan-right");
    const last = await view();
    expect((last.start + last.end) / 2).toBeCloseTo(5, 1);

    // Zoomed out as far as it goes: the closest whole level at which the 5 s fit the plot (a longer
    // recording's, past one frame per pixel, has tiles of z > 0: "zooms out no further than …").
    for (let i = 0; i < 4; i++) await page.click("#zoom-out");
    const frames = frameCount(5 * 384000, frameGeometry(0.025, 0.5, 384000));
    expect(await view()).toMatchObject({ level: Math.floor(Math.log2(box.width / frames)), scale: 1 });
    await tilesLoaded(`/tiles/${(await view()).z}/`);
    await page.click("#fit");
    await tilesLoaded();
  });

  it("changes the pixels with the colormap", async () => {
    const gray = await plotPixels("gray");
    const { right } = await boundaries();
    expect(right).toBeGreaterThan(100);
    expect(colourFraction(gray)).toBeLessThan(1 - right / gray.width + 0.01); // only the magenta beyond the end
    await setParam("cmap", "viridis");
    await tilesLoaded("cmap=viridis");
    const viridis = await plotPixels("viridis");
    // viridis has no gray entry: every tile pixel is coloured.
    expect(colourFraction(viridis)).toBeGreaterThan(right / viridis.width - 0.01);
    await expectNoGaps("viridis");
  });

  it("shows the API's validation message next to the field and keeps the view", async () => {
    await setParam("window_size", "-1");
    await expect.poll(() => page.textContent("#error-window_size")).toBe("must be > 0");
    await setParam("window_size", "0.025");
    await expect.poll(() => page.textContent("#error-window_size")).toBe("");
    await setParam("min_dB", "5");
    await expect.poll(() => page.textContent("#error-min_dB")).toContain("must be <= 0");
    await setParam("min_dB", "-100");
    await expect.poll(() => page.textContent("#error-min_dB")).toBe("");
    // A band upside down is refused naming fmax; one outside the spectrum (Nyquist is 192 kHz) by the tile options' own check.
    await setParam("fmin", "150000");
    await setParam("fmax", "100000");
    await expect.poll(() => page.textContent("#error-fmax")).toContain("must be >= fmin (150000 Hz)");
    await setParam("fmin", "250000");
    await setParam("fmax", "300000");
    await expect.poll(() => page.textContent("#error-fmin")).toContain("no frequency bin");
    await setParam("fmax", "100000"); // as the next test expects it
  });

  it("crops the frequency axis to fmin–fmax", async () => {
    await setParam("fmin", "20000");
    await tilesLoaded("fmax=100000");
    await page.waitForFunction(() => document.getElementById("error-fmin")!.textContent === "");
    const labels = (await page.locator("#faxis span").allTextContents()).map((t) => Number(t.replace(" kHz", "")));
    expect(labels[0]).toBeGreaterThanOrEqual(20);
    expect(labels[labels.length - 1]).toBeLessThanOrEqual(100);
    expect(labels[labels.length - 1]).toBeGreaterThanOrEqual(90);
    await page.screenshot({ path: join(ARTIFACTS, "web-band-page.png") });
    await setParam("fmin", "");
    await setParam("fmax", "");
    // Both cleared: tiles still cropped (both set, or fmax alone) would put the next test's click at 60 or 50 kHz.
    await tilesLoaded("cmap=viridis", "fmax=");
  });

  it("reads time, frequency and value at a click", async () => {
    const box = (await page.locator("#plot").boundingBox())!;
    const v = await view();
    await page.mouse.click(box.x + 50, box.y + box.height / 2);
    await expect.poll(() => page.getAttribute("#readout", "data-value")).not.toBeNull();
    const text = (await page.textContent("#readout"))!;
    // Half-way up is half the 192 kHz band; the time is that of pixel 50.
    const [, t, f] = /t = ([\d.]+) s, f = ([\d.]+) kHz/.exec(text)!;
    expect(Number(t)).toBeCloseTo(v.start + (50 / box.width) * (v.end - v.start), 2);
    expect(Number(f)).toBeCloseTo(96, 0);
    const value = Number(await page.getAttribute("#readout", "data-value"));
    expect(value).toBeLessThanOrEqual(0); // normalized dB
    expect(value).toBeGreaterThan(-200);
  });

  it("keeps what an annotator looks at: the view's time across a new hop, the recording in view when zoomed at its end, bins at their rows' middle, power values to four digits, a tile that failed asked for again", async () => {
    const box = (await page.locator("#plot").boundingBox())!;
    const middle = (v: View) => (v.start + v.end) / 2;
    // A zoom step by the key, then a pan, then a new hop: the middle of the view stays (it moved to other seconds).
    await page.focus("#plot");
    const fitted = await view();
    await page.keyboard.press("+");
    expect((await view()).level).toBe(nextLevelIn(fitted));
    await page.keyboard.press("ArrowRight");
    const before = await view();
    await setParam("hop_size", "0.25");
    await tilesLoaded("hop_size=0.25");
    expect(middle(await view())).toBeCloseTo(middle(before), 2);
    await setParam("hop_size", "0.5");
    await tilesLoaded("", "hop_size=");
    // Two wheel notches at the right edge of the fitted view stay on the (5 s) recording.
    await page.click("#fit");
    await tilesLoaded();
    for (let i = 0; i < 2; i++) {
      await page.mouse.move(box.x + box.width - 5, box.y + 100);
      await page.mouse.wheel(0, -100);
    }
    expect((await view()).start).toBeLessThan(5);
    await page.click("#fit");
    await tilesLoaded();
    // Twenty bins (a 38-sample window at 384 kHz), a row each: 0 Hz sits at the middle of the bottom row (it sat on the edge).
    await setParam("window_size", "0.0001");
    await tilesLoaded("window_size=0.0001");
    await page.mouse.click(box.x + 50, box.y + box.height - 2);
    await expect.poll(() => page.textContent("#readout")).toMatch(/row 0\/20,/);
    const zero = await page.locator("#faxis span", { hasText: /^0 kHz$/ }).evaluate((s) => parseFloat((s as HTMLElement).style.top));
    expect(zero).toBeCloseTo(box.height * (1 - 1 / 40), 0);
    await setParam("window_size", "0.025");
    await tilesLoaded("", "window_size=");
    // Power values span decades: shown to four significant digits, not as 0.00.
    await setParam("scale", "power");
    await tilesLoaded("scale=power");
    await page.evaluate(() => document.getElementById("readout")!.removeAttribute("data-value"));
    await page.mouse.click(box.x + 50, box.y + box.height / 2);
    await expect.poll(() => page.getAttribute("#readout", "data-value")).not.toBeNull();
    const power = Number(await page.getAttribute("#readout", "data-value"));
    expect(power).toBeGreaterThan(0);
    expect(/value = (\S+) power/.exec((await page.textContent("#readout"))!)![1]).toBe(power.toPrecision(4));
    // Every tile answered 503 once (the parameters' first probe too) is asked for again after its
    // Retry-After (a tile stayed a gap for good, a probe a message for good).
    const asked = new Map<string, number>();
    const amplitude = /\/tiles\/\d+\/\d+\.png\?.*scale=amplitude/;
    await page.route(amplitude, (route) => {
      const n = asked.get(route.request().url()) ?? 0;
      asked.set(route.request().url(), n + 1);
      if (n === 0) return route.fulfill({ status: 503, headers: { "retry-after": "1", "content-type": "application/json" }, body: JSON.stringify({ message: "busy" }) });
      return route.continue();
    });
    await setParam("scale", "amplitude");
    await tilesLoaded("scale=amplitude");
    const shown = await page.locator("#tiles img").evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).dataset.src!));
    for (const src of shown) expect(asked.get(new URL(src, page.url()).href), src).toBeGreaterThanOrEqual(2); // refused, then asked again
    await page.unroute(amplitude);
    await setParam("scale", "dB");
    await tilesLoaded("", "scale=");
  });

  it("plays the visible range with a moving cursor", async () => {
    await expectPlays();
  });

  it("creates a clip from a shift-drawn box once a token is given, bounded to the box's band, and shows its features computed for that band", async () => {
    const box = (await page.locator("#plot").boundingBox())!;
    const drawBox = (x0: number, x1: number) => shiftDraw(x0, 100, x1, 300);
    await drawBox(100, 300);
    await expect.poll(() => page.textContent("#clip-info")).toContain("needs an API token");

    await page.fill("#token", adminKey);
    await page.dispatchEvent("#token", "change");
    const v = await view();
    await drawBox(100, 300);
    await expect.poll(() => page.getAttribute("#clip-info", "data-clip-id")).not.toBeNull();
    const clipId = (await page.getAttribute("#clip-info", "data-clip-id"))!;
    const res = await app.inject({ url: `/v1/clips/${clipId}` });
    expect(res.statusCode).toBe(200);
    const clip = res.json();
    const secondsPerPx = (v.end - v.start) / box.width;
    expect(clip.recording_id).toBe(batId);
    expect(Math.abs(clip.start_time - (v.start + 100 * secondsPerPx))).toBeLessThan(2 * secondsPerPx);
    expect(Math.abs(clip.end_time - (v.start + 300 * secondsPerPx))).toBeLessThan(2 * secondsPerPx);
    // Plot rows 100–300 of 400 over 0–192 kHz: the clip's bounds 48–144 kHz, its box over them.
    expect(clip.low_freq).toBeCloseTo(48_000, -3);
    expect(clip.high_freq).toBeCloseTo(144_000, -3);
    await expect.poll(() => page.locator("#clips div").count()).toBe(1);
    const drawn = (await page.locator("#clips div").boundingBox())!;
    expect(Math.abs(drawn.y - box.y - 100)).toBeLessThan(3);
    expect(Math.abs(drawn.y + drawn.height - box.y - 300)).toBeLessThan(3);

    // The features appear once the job is done, named and in units; the box spans plot rows
    // 100–300 of 400 over 0–192 kHz, i.e. 48–144 kHz, where the bat calls' peak lies.
    const peak = page.locator('#clip-info tr[data-feature="peak_frequency_hz"]');
    await expect.poll(() => peak.count(), { timeout: 30_000 }).toBe(1);
    expect(await peak.locator("th").textContent()).toBe("Peak frequency");
    expect(await peak.locator(".unit").textContent()).toBe("kHz");
    expect(await page.locator("#clip-info tr[data-feature]").count()).toBe(14);
    const computed = (await app.inject({ url: `/v1/clips/${clipId}` })).json().features as { name: string; value: number }[];
    const peakHz = computed.find((f) => f.name === "peak_frequency_hz")!.value;
    expect(peakHz).toBeGreaterThanOrEqual(48_000);
    expect(peakHz).toBeLessThanOrEqual(144_000);
    expect(Number(await peak.locator(".value").textContent())).toBeCloseTo(peakHz / 1000, 1);
    const job = (await app.inject({ url: "/v1/jobs?limit=1&sort=created_at&order=desc" })).json().items[0];
    expect(job.data.band.low_freq).toBeCloseTo(48_000, -3);
    expect(job.data.band.high_freq).toBeCloseTo(144_000, -3);
    await expect.poll(() => page.locator("#clip-list button").allTextContents()).toEqual([`${timeRange(clip.start_time, clip.end_time, 384000)}, ${Math.round(clip.low_freq)}–${Math.round(clip.high_freq)} Hz · 14 features`]);
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-page.png") });
  });

  /**
   * A bat night in miniature: a dataset of two 8 kHz recordings, "night.wav" (120 s, 250 clips
   * of 0.2 s every 0.48 s) and "dense.wav" (120 s, 1100 clips of 0.04 s every 0.1 s, more than
   * the page draws at a time). Inserted in SQL: 1350 requests would be slow.
   */
  let manyClips: Promise<{ nightId: string; denseId: string }> | undefined;
  function manyClipsDataset() {
    manyClips ??= (async () => {
      const dir = join(extra.path, "night");
      await mkdir(dir);
      await writeSineWav(join(dir, "night.wav"), 8000, 120, 1000);
      await writeSineWav(join(dir, "dense.wav"), 8000, 120, 1000);
      const dataset = await post("/v1/datasets", { name: "bat night", audio_dir: dir });
      const night = await post("/v1/recordings", { dataset_id: dataset.id, path: "night.wav" });
      const dense = await post("/v1/recordings", { dataset_id: dataset.id, path: "dense.wav" });
      await t.db.sql`INSERT INTO clips (recording_id, start_time, end_time) SELECT ${night.id}::uuid, i * 0.48::float8, i * 0.48::float8 + 0.2 FROM generate_series(0, 249) AS i`;
      await t.db.sql`INSERT INTO clips (recording_id, start_time, end_time) SELECT ${dense.id}::uuid, i * 0.1::float8, i * 0.1::float8 + 0.04 FROM generate_series(0, 1099) AS i`;
      return { nightId: night.id as string, denseId: dense.id as string };
    })();
    return manyClips;
  }

  /** Time for the view to rest and its clips to arrive (the debounce, up to six requests), on a machine busy with other tests. */
  const CLIPS_SETTLE = { timeout: 10_000 };

  /** Every clip of a recording, as the API has them, sorted by start time. */
  async function allClips(recordingId: string): Promise<{ id: string; start_time: number; end_time: number }[]> {
    const res = await app.inject({ url: `/v1/clips?recording_id=${recordingId}&limit=1000&offset=0` });
    const rest = await app.inject({ url: `/v1/clips?recording_id=${recordingId}&limit=1000&offset=1000` });
    return [...res.json().items, ...rest.json().items];
  }

  /**
   * The clips the page draws over the visible range and lists, by id, once the view has rested
   * and its clips arrived; each box checked to sit on its clip's times (within a pixel).
   */
  async function clipsShown() {
    const v = await view();
    const width = (await page.locator("#plot").boundingBox())!.width;
    const secondsPerPx = (v.end - v.start) / width;
    const boxes = await page.$$eval("#clips div", (ds) => ds.map((d) => ({
      id: (d as HTMLElement).dataset.clipId!, start: Number((d as HTMLElement).dataset.start), end: Number((d as HTMLElement).dataset.end),
      left: parseFloat((d as HTMLElement).style.left), width: parseFloat((d as HTMLElement).style.width),
    })));
    const drawn = boxes.filter((b) => b.start < v.end && b.end > v.start);
    for (const b of drawn) {
      expect(Math.abs(b.left - (b.start - v.start) / secondsPerPx), `clip ${b.id}'s box`).toBeLessThan(1);
      expect(Math.abs(b.width - (b.end - b.start) / secondsPerPx), `clip ${b.id}'s box width`).toBeLessThan(1);
    }
    return {
      drawn: drawn.map((b) => b.id),
      listed: await page.$$eval("#clip-list button", (bs) => bs.map((b) => (b as HTMLElement).dataset.clipId)),
      count: await page.getAttribute("#clip-count", "data-count"),
      note: await page.evaluate(() => { const n = document.getElementById("clip-note")!; return n.hidden ? null : n.textContent; }),
    };
  }

  /** What clipsShown must give at the current view: the clips overlapping it, all drawn and listed, no note. */
  async function expectedInView(clips: { id: string; start_time: number; end_time: number }[]) {
    const v = await view();
    const ids = clips.filter((c) => c.start_time < v.end && c.end_time > v.start).map((c) => c.id);
    return { drawn: ids, listed: ids, count: String(ids.length), note: null };
  }

  it("draws and lists every clip in view of a recording of 250, past the 100th, at every zoom and pan", async () => {
    const { nightId } = await manyClipsDataset();
    const clips = await allClips(nightId);
    expect(clips).toHaveLength(250);
    await page.goto(`${base}/?night#recording=${nightId}`);
    await tilesLoaded(nightId);
    // The whole recording in view: all 250, over two pages of the clips list.
    expect((await view()).end).toBeGreaterThan(120);
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
    expect((await clipsShown()).drawn).toHaveLength(250);
    // Zoomed in on the middle (~73–82 s): clips 150 to 170, none of which the first 100 hold.
    for (let i = 0; i < 4; i++) await page.click("#zoom-in");
    const zoomed = await view();
    expect(zoomed.level).toBe(0);
    expect(zoomed.start).toBeGreaterThan(100 * 0.48);
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
    expect((await clipsShown()).drawn.length).toBeGreaterThanOrEqual(15);
    // Panned right by three half plots: the clips there.
    for (let i = 0; i < 3; i++) await page.click("#pan-right");
    expect((await view()).start).toBeGreaterThan(zoomed.end);
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
    await page.screenshot({ path: join(ARTIFACTS, "web-clips-in-view-page.png") });
  });

  it("never lets an older view's clips overwrite a newer one's, however late they arrive", async () => {
    // The dense recording: zoomed in from the whole (more than the cap), the page holds only the
    // clips of the view and a plot width either side, and asks again as the view leaves them.
    const { denseId } = await manyClipsDataset();
    const clips = await allClips(denseId);
    await page.goto(`${base}/?stale#recording=${denseId}`);
    await tilesLoaded(denseId);
    for (let i = 0; i < 4; i++) await page.click("#zoom-in");
    await page.focus("#plot");
    await page.keyboard.press("End"); // at the end: eight half plots back stay past 30 s
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
    // The next clips request (two plot widths back) answers 2 s late; meanwhile the view moves
    // two plot widths further back, out of the window that request asked for, and asks again.
    let held: Promise<void> | undefined;
    const route = /\/v1\/clips\?/;
    await page.route(route, async (r) => {
      if (!held) {
        held = new Promise((resolve) => setTimeout(resolve, 2000));
        await held;
      }
      await r.continue().catch(() => undefined); // the page gave up on it
    });
    try {
      for (let i = 0; i < 4; i++) await page.click("#pan-left");
      await expect.poll(() => held !== undefined, CLIPS_SETTLE).toBe(true);
      for (let i = 0; i < 4; i++) await page.click("#pan-left");
      expect((await view()).start).toBeGreaterThan(30); // clips on either side: the late answer would leave some out
      await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
      await held;
      await new Promise((resolve) => setTimeout(resolve, 500)); // the late answer, had it been read
      expect(await clipsShown()).toEqual(await expectedInView(clips));
    } finally {
      await page.unroute(route);
    }
  });

  it("says how many clips in view it does not draw past its cap of 1000, and draws them all once zoomed in", async () => {
    const { denseId } = await manyClipsDataset();
    const clips = await allClips(denseId);
    expect(clips).toHaveLength(1100);
    await page.goto(`${base}/?dense#recording=${denseId}`);
    await tilesLoaded(denseId);
    const v = await view();
    expect(v.end).toBeGreaterThan(120);
    // The first 1000 by start time drawn and listed; the count and the note are of all 1100.
    const first = clips.slice(0, 1000).map((c) => c.id);
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual({ drawn: first, listed: first, count: "1100", note: "100 more clips in view not drawn: at most 1000 are drawn at a time, zoom in to see them." });
    // Zoomed in to ~10 s (~100 clips): all drawn, no note; and again after a pan past the window fetched.
    for (let i = 0; i < 4; i++) await page.click("#zoom-in");
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
    expect((await clipsShown()).drawn.length).toBeGreaterThanOrEqual(90);
    const zoomed = await view();
    for (let i = 0; i < 4; i++) await page.click("#pan-right");
    expect((await view()).start).toBeGreaterThan(zoomed.end);
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual(await expectedInView(clips));
  });

  it("counts only the clips it lists past its cap on a read-only recording: those archived on their own are neither drawn nor counted — the note counted them, and they took places of the 1000 drawn", async () => {
    const shelved = await toneRecordingApart("shelf", "shelved.wav");
    // 1200 clips every 0.1 s, every tenth archived on its own (120) before the recording: 1080 as it was left.
    await t.db.sql`INSERT INTO clips (recording_id, start_time, end_time, state) SELECT ${shelved.id}::uuid, i * 0.1::float8, i * 0.1::float8 + 0.04, CASE WHEN i % 10 = 5 THEN 'archived' ELSE 'active' END FROM generate_series(0, 1199) AS i`;
    await post(`/v1/recordings/${shelved.id}/archive`, {});
    const pages = await Promise.all([0, 1000].map(async (offset) => (await app.inject({ url: `/v1/clips?recording_id=${shelved.id}&state=archived&limit=1000&offset=${offset}` })).json().items));
    const asLeft = pages.flat().filter((c: { state: string }) => c.state === "active");
    expect(asLeft).toHaveLength(1080);
    await page.goto(`${base}/?shelf#recording=${shelved.id}`);
    await tilesLoaded(shelved.id);
    expect((await view()).end).toBeGreaterThan(120);
    const first = asLeft.slice(0, 1000).map((c: { id: string }) => c.id);
    await expect.poll(clipsShown, CLIPS_SETTLE).toEqual({ drawn: first, listed: first, count: "1080", note: "80 more clips in view not drawn: at most 1000 are drawn at a time, zoom in to see them." });
  });

  it("pages a window's clips by cursor: a clip deleted while the pages are read shifts none of the others — by offset the clip after the next page's start was skipped", async () => {
    const paged = await toneRecordingApart("paged", "paged.wav");
    // 450 clips every 0.2 s: three pages of at most 200, all inside the first view's window.
    await t.db.sql`INSERT INTO clips (recording_id, start_time, end_time) SELECT ${paged.id}::uuid, i * 0.2::float8, i * 0.2::float8 + 0.05 FROM generate_series(0, 449) AS i`;
    const clips = await allClips(paged.id);
    expect(clips).toHaveLength(450);
    // The second page's request waits until one clip of the first page is deleted.
    let deleted: string | undefined;
    const route = /\/v1\/clips\?/;
    await page.route(route, async (r) => {
      if (!deleted && /[?&](offset=[1-9]|cursor=)/.test(r.request().url())) {
        deleted = clips[10].id;
        await app.inject({ method: "DELETE", url: `/v1/clips/${deleted}`, headers: { authorization: `Bearer ${adminKey}` } });
      }
      await r.continue().catch(() => undefined);
    });
    try {
      await page.goto(`${base}/?paged#recording=${paged.id}`);
      await tilesLoaded(paged.id);
      expect((await view()).end).toBeGreaterThan(90);
      await expect.poll(() => deleted !== undefined, CLIPS_SETTLE).toBe(true);
      // Every clip but the one deleted while the pages were read (which the first page had already).
      const kept = clips.filter((c) => c.id !== deleted).map((c) => c.id);
      await expect.poll(async () => (await clipsShown()).drawn.filter((id) => id !== deleted), CLIPS_SETTLE).toEqual(kept);
    } finally {
      await page.unroute(route);
    }
  });

  it("asks for a capped window's clips again only once the view moved: not after a pan stopped at the recording's start, nor a window made taller", async () => {
    const { denseId } = await manyClipsDataset();
    const clips = await allClips(denseId);
    await page.goto(`${base}/?clamped#recording=${denseId}`);
    await tilesLoaded(denseId);
    await page.focus("#plot");
    // Half a plot before the start, as far as a pan goes: its window (the view and a plot width
    // either side) still holds all 1100, more than the cap.
    await page.keyboard.press("ArrowLeft");
    const before = await view();
    const inView = clips.filter((c) => c.start_time < before.end && c.end_time > before.start).length;
    expect(inView).toBeLessThan(1000);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), CLIPS_SETTLE).toBe(String(inView));
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => { if (r.url().includes("/v1/clips?")) asked.push(r.url()); };
    page.on("request", onRequest);
    try {
      await page.keyboard.press("ArrowLeft"); // stopped at the start: the view stays
      expect(await view()).toEqual(before);
      await resizeWindow(1400, 1000); // taller, as wide: the plot (400 px high) and its view stay
      expect(await view()).toEqual(before);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the 150 ms rest, and the six requests it made each time
      expect(asked).toEqual([]);
      expect((await clipsShown()).count).toBe(String(inView)); // listed as before, from the clips fetched
      // A pan that moves the view asks again.
      await page.keyboard.press("ArrowRight");
      await expect.poll(() => asked.length, CLIPS_SETTLE).toBeGreaterThan(0);
    } finally {
      page.off("request", onRequest);
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it("lists every dataset in the picker, past the 100th (only the first 100 by name could be picked)", async () => {
    // Datasets of directories that need not exist: the picker lists them, it opens none of them.
    await t.db.sql`INSERT INTO datasets (name, audio_dir) SELECT format('zz-%s', lpad(i::text, 3, '0')), format('/nowhere/zz-%s', i) FROM generate_series(0, 100) AS i`;
    try {
      const { total } = (await app.inject({ url: "/v1/datasets?limit=1" })).json();
      await page.goto(`${base}/?datasets`);
      await expect.poll(() => page.$$eval("#dataset option", (os) => os.length)).toBe(total);
      expect(await page.$$eval("#dataset option", (os) => os.at(-1)!.textContent)).toBe("zz-100 (0)");
    } finally {
      await t.db.sql`DELETE FROM datasets WHERE name LIKE 'zz-%'`;
    }
  });

  it("reaches every recording of a dataset of 150, past the 100th, by the pager and by a search, and opens it", async () => {
    // An AudioMoth season in miniature: 150 files registered by SQL as copies of the first (150 requests would be slow).
    const dir = join(extra.path, "season");
    await mkdir(dir);
    const name = (i: number) => `rec-${String(i).padStart(3, "0")}.wav`;
    for (let i = 0; i < 150; i++) await writeSineWav(join(dir, name(i)), 8000, 1, 1000);
    const dataset = await post("/v1/datasets", { name: "AudioMoth season", audio_dir: dir });
    const first = await post("/v1/recordings", { dataset_id: dataset.id, path: name(0) });
    await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_mtime, file_samplerate, frames, channels, probed_by, time_expansion)
      SELECT dataset_id, format('rec-%s.wav', lpad(i::text, 3, '0')), hash, file_size, file_mtime, file_samplerate, frames, channels, probed_by, time_expansion
      FROM recordings, generate_series(1, 149) AS i WHERE id = ${first.id}`;
    const idOf = async (path: string) => (await app.inject({ url: `/v1/recordings?dataset_id=${dataset.id}&search=${path}` })).json().items[0].id as string;
    const listed = () => page.$$eval("#recordings button", (bs) => bs.map((b) => b.textContent!.split(".wav")[0]));
    const range = () => page.textContent("#recordings-range");
    const opens = async (path: string) => {
      const id = await idOf(path);
      await page.click(`#recordings button[data-id="${id}"]`);
      await tilesLoaded(id);
      expect(await page.textContent("#recording-name")).toBe(path);
      expect(await page.locator("#recordings button.open").getAttribute("data-id")).toBe(id);
    };

    await page.goto(`${base}/?season#recording=${first.id}`);
    await tilesLoaded(first.id);
    await expect.poll(range).toBe("1–100 of 150");
    expect(await listed()).toEqual(Array.from({ length: 100 }, (_, i) => name(i).replace(".wav", "")));
    expect(await page.isDisabled("#recordings-prev")).toBe(true);
    // The next page: the other 50 (none of them could be picked).
    await page.click("#recordings-next");
    await expect.poll(range).toBe("101–150 of 150");
    expect(await listed()).toEqual(Array.from({ length: 50 }, (_, i) => name(100 + i).replace(".wav", "")));
    expect(await page.isDisabled("#recordings-next")).toBe(true);
    await opens(name(123));
    await page.click("#recordings-prev");
    await expect.poll(range).toBe("1–100 of 150");

    // A search lists the recordings whose path holds it, from the first.
    await page.fill("#recording-search", "rec-14");
    await expect.poll(range).toBe("1–10 of 10");
    expect(await listed()).toEqual(Array.from({ length: 10 }, (_, i) => name(140 + i).replace(".wav", "")));
    await opens(name(147));
    await page.fill("#recording-search", "nothing like it");
    await expect.poll(range).toBe("no recordings match");
    expect(await listed()).toEqual([]);
  });

  it("shows a time-expanded recording in real units", async () => {
    // The bird recording declared as recorded at 10× time expansion: 480 kHz real, 1 s long.
    const res = await app.inject({ method: "PATCH", url: `/v1/recordings/${birdId}`, headers: { authorization: `Bearer ${adminKey}` }, payload: { time_expansion: 10 } });
    expect(res.statusCode).toBe(200);
    await page.goto(`${base}/?te#recording=${birdId}`);
    await tilesLoaded();
    expect(await page.textContent("#title")).toContain("1.00 s, 480.0 kHz");
    const top = Number((await page.locator("#faxis span").last().textContent())!.replace(" kHz", ""));
    expect(top).toBeGreaterThanOrEqual(200); // 24 kHz without the expansion
    expect(top).toBeLessThanOrEqual(240);
    const v = await view();
    expect(v.end).toBeGreaterThan(1);
    expect(v.end).toBeLessThan(10);
    await page.screenshot({ path: join(ARTIFACTS, "web-time-expansion-page.png") });
  });

  it("draws tiles identical to the server's one-shot image, pixel for pixel across every tile boundary", async () => {
    await page.goto(`${base}/?exact#recording=${batId}`);
    await tilesLoaded();
    await page.addStyleTag({ content: "#clips { display: none; }" }); // the clips' boxes: not the tiles compared
    // One plot row per tile row: a 2 ms window at 384 kHz has 385 bins; the plot is made 385 px tall.
    await page.addStyleTag({ content: "#viewer { grid-template-rows: 385px 2rem !important; }" });
    await setParam("window_size", "0.002");
    await setParam("width", "128");
    await tilesLoaded("width=128");
    // Level 0: one pixel per frame; dragged so that the view starts 0.1 s in, the boundaries not where the fit put them.
    while ((await view()).level < 0) await page.click("#zoom-in");
    const box = (await page.locator("#plot").boundingBox())!;
    const v0 = await view();
    await page.mouse.move(box.x + 200, box.y + 100);
    await page.mouse.down();
    await page.mouse.move(box.x + 200 + (v0.start - 0.1) / ((v0.end - v0.start) / box.width), box.y + 100, { steps: 5 });
    await page.mouse.up();
    await tilesLoaded("/tiles/0/");
    expect((await view()).level).toBe(0);
    await expectMatchesOneShot("exact-level0");
    // Two pixels per frame: every frame drawn as two identical columns.
    await page.click("#zoom-in");
    await tilesLoaded("/tiles/0/");
    await expectMatchesOneShot("exact-level1");

    // The check itself bites: a tile drawn 10 % darker (as a tile normalized on its own would
    // be), or one pixel out of place, is found.
    await doctorMiddleTile("darker");
    expect((await oneShotMismatches("exact-darker-tile")).mismatches).toBeGreaterThan(1000);
    await doctorMiddleTile("shifted");
    expect((await oneShotMismatches("exact-shifted-tile")).mismatches).toBeGreaterThan(100);
  });

  it("takes a tile's failure off the status line once the tile loads after all", async () => {
    await page.goto(`${base}/?tile-failure#recording=${batId}`);
    await tilesLoaded();
    const status = () => page.textContent("#status");
    // The second tile of the view fails once, then is answered: refused (busy), the status line
    // says so, and the message goes once the tile loads (asked again after the Retry-After's
    // second) — it stayed up, in red, over a complete spectrogram, through every later zoom and
    // pan; never answered (connection refused), it says so too, and goes likewise. The
    // parameters' probe asks for tile 0 only.
    const failures: [string, (route: Route) => Promise<void>, unknown][] = [
      ["-90", (route) => route.fulfill({ status: 503, headers: { "retry-after": "1", "content-type": "application/json" }, body: JSON.stringify({ message: "all tile workers are busy" }) }),
        "all tile workers are busy"],
      ["-80", (route) => route.abort("connectionrefused"), expect.stringContaining("cannot be reached")],
    ];
    for (const [minDb, fail, said] of failures) {
      const second = new RegExp(`/tiles/\\d+/1\\.png\\?.*min_dB=${minDb}`);
      let failed = 0;
      await page.route(second, (route) => (failed++ === 0 ? fail(route) : route.continue()));
      await setParam("min_dB", minDb);
      await expect.poll(status).toEqual(said);
      await expect.poll(() => page.locator('#tiles img[data-x="1"][data-loaded="true"]').count(), { timeout: 5000 }).toBe(1);
      await tilesLoaded(`min_dB=${minDb}`);
      await expect.poll(status).toBe("");
      await page.unroute(second);
    }
  });

  it("shows the status line's errors legibly on the dark header", async () => {
    await page.goto(`${base}/?contrast#recording=${batId}`);
    await tilesLoaded();
    await setParam("hop_size", "-1");
    await expect.poll(() => page.getAttribute("#status", "class")).toBe("error");
    const [text, background] = await page.evaluate(() => [getComputedStyle(document.getElementById("status")!).color, getComputedStyle(document.querySelector("header")!).backgroundColor]);
    expect(contrastRatio(text, background), `${text} on ${background}`).toBeGreaterThanOrEqual(4.5); // dark red on the header: 2.0
    await setParam("hop_size", "0.5");
    await tilesLoaded("", "hop_size=");
  });

  it("keeps the read-out's marker on the time and frequency it reads through zooms and pans, and drops it with the recording", async () => {
    await page.goto(`${base}/?marker#recording=${batId}`);
    await tilesLoaded();
    const box = (await page.locator("#plot").boundingBox())!;
    await page.mouse.click(box.x + 300, box.y + 100);
    await expect.poll(() => page.getAttribute("#readout", "data-value")).not.toBeNull();
    const [, t] = /t = ([\d.]+) s/.exec((await page.textContent("#readout"))!)!;
    const marker = () => page.evaluate(() => {
      const m = document.getElementById("marker")!;
      return { x: parseFloat(m.style.left), y: parseFloat(m.style.top), hidden: m.hidden };
    });
    const expectMarkerOnReadout = async () => {
      const v = await view(), m = await marker();
      expect(m.hidden).toBe(false);
      expect(Math.abs(m.x - ((Number(t) - v.start) / (v.end - v.start)) * box.width), `marker at ${m.x} px`).toBeLessThan(1);
      expect(m.y).toBeCloseTo(100, 0);
    };
    await page.click("#zoom-in");
    await expectMarkerOnReadout(); // it stayed at x = 300 px, over another time
    await page.mouse.move(box.x + 400, box.y + 200);
    await page.mouse.down();
    await page.mouse.move(box.x + 450, box.y + 200, { steps: 5 });
    await page.mouse.up();
    await expectMarkerOnReadout();
    await page.click(`#recordings button[data-id="${birdId}"]`);
    await tilesLoaded(birdId);
    expect((await marker()).hidden).toBe(true); // it stayed over the next recording
    expect(await page.textContent("#readout")).toBe("");
  });

  it("applies a new speed to the audio playing", async () => {
    await page.goto(`${base}/?speed#recording=${batId}`);
    await tilesLoaded();
    await page.click("#play");
    // The audio's fetch and decode took past the 1 s poll on a machine busy with other suites.
    await expect.poll(() => page.evaluate(() => !document.querySelector("audio")!.paused), { timeout: 10_000 }).toBe(true);
    await page.selectOption("#rate", "0.5");
    expect(await page.evaluate(() => document.querySelector("audio")!.playbackRate)).toBe(0.5); // it waited for the next play
    await page.click("#play"); // pauses
    await page.selectOption("#rate", "1");
  });

  it("keeps at least half the plot on the recording when the window grows", async () => {
    await page.goto(`${base}/?resize#recording=${batId}`);
    await tilesLoaded();
    await page.focus("#plot");
    await page.keyboard.press("+");
    await page.keyboard.press("+");
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight"); // as far as a pan goes: half the plot past the end
    try {
      await page.setViewportSize({ width: 2400, height: 900 });
      // Half of it, less the last frame's column past the 5 s (a couple of pixels); it was a fifth.
      await expect.poll(async () => { const v = await view(); return (5 - v.start) / (v.end - v.start); }).toBeGreaterThan(0.49);
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it("opens a deep link to a recording of any dataset", async () => {
    await page.goto(`${base}/?second#recording=${second.recordingId}`);
    await tilesLoaded();
    expect(await page.textContent("#title")).toContain("tone.wav");
    expect(await page.inputValue("#dataset")).toBe(second.datasetId);
    expect(await page.locator("#recordings button.open").textContent()).toContain("tone.wav");
    // A link pasted into the open page's address bar that names no recording says it is the link's.
    await page.evaluate(() => { location.hash = "#recording=nonsense"; });
    await expect.poll(() => page.textContent("#status")).toBe(`the linked recording cannot be opened: invalid path: id: ${UUID_RULE}`);
  });

  it("shows names from the server as text, never as markup", async () => {
    // What a member could store: markup whose handler runs if any of it reaches innerHTML.
    const markup = "<img src=x onerror=window.__xss=1>";
    const dir = join(extra.path, "xss");
    await mkdir(dir);
    await writeSineWav(join(dir, `${markup}.wav`), 48000, 1, 5000);
    const dataset = await post("/v1/datasets", { name: `xss ${markup}`, audio_dir: dir });
    const rec = await post("/v1/recordings", { dataset_id: dataset.id, path: `${markup}.wav` });
    const clip = await post("/v1/clips", { recording_id: rec.id, start_time: 0.1, end_time: 0.5 });
    await post(`/v1/clips/${clip.id}/features`, { name: markup, value: 1.5 });

    await page.goto(`${base}/?xss#recording=${rec.id}`);
    await tilesLoaded();
    await page.click("#clip-list button");
    await expect.poll(() => page.getAttribute("#clip-info", "data-clip-id")).toBe(clip.id);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator("img:not(#tiles img)").count()).toBe(0);
    expect(await page.locator("#recordings button.open").textContent()).toContain(`${markup}.wav`);
    expect(await page.locator("#dataset option:checked").textContent()).toContain(markup);
    expect(await page.textContent("#clip-info")).toContain(markup);
  });

  it("works on a server that requires a token for every route once the token is entered, playback included", async () => {
    await page.goto(`${lockedBase}/#recording=${batId}`);
    await expect.poll(() => page.textContent("#status")).toContain("needs a token");
    await page.fill("#token", adminKey);
    await page.dispatchEvent("#token", "change");
    await tilesLoaded();
    await expectPlays();
  });

  it("loads on such a server once a token entered while the tokenless load was in flight — kept until it failed, then loaded again with the token", async () => {
    await page.goto(`${lockedBase}/?tokenless`);
    await page.evaluate(() => localStorage.removeItem("sonotile.token"));
    // The first listing of the datasets is held until the token is entered: it was sent without one.
    const isListing = (url: URL) => url.pathname === "/v1/datasets";
    let asked!: () => void, release!: () => void;
    const listingAsked = new Promise<void>((resolve) => (asked = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const authorized: (string | undefined)[] = [];
    await page.route(isListing, async (route) => {
      authorized.push(route.request().headers().authorization);
      asked();
      await released;
      await route.continue();
    });
    try {
      await page.goto(`${lockedBase}/?mid-load#recording=${batId}`);
      await listingAsked;
      await page.fill("#token", adminKey);
      await page.dispatchEvent("#token", "change");
      release();
      await tilesLoaded();
    } finally {
      release();
      await page.unrouteAll({ behavior: "wait" });
    }
    expect(await page.textContent("#recording-name")).toBe("bats-384k.wav");
    expect(authorized).toEqual([undefined, `Bearer ${adminKey}`]);
  });

  /** A dataset for selection tables: `a1.wav` (5 s at 48 kHz, the recording test/fixtures/raven-selections.txt is of) and `bat-te10.wav`, declared time-expanded ×10 (real: 0.5 s at 480 kHz). */
  let tableStudy: Promise<{ plainId: string; expandedId: string }> | undefined;
  function tableDataset() {
    tableStudy ??= (async () => {
      const dir = join(extra.path, "tables");
      await mkdir(dir);
      await writeSineWav(join(dir, "a1.wav"), 48000, 5, 2000);
      await writeSineWav(join(dir, "bat-te10.wav"), 48000, 5, 2000);
      const dataset = await post("/v1/datasets", { name: "selection tables", audio_dir: dir });
      const plain = await post("/v1/recordings", { dataset_id: dataset.id, path: "a1.wav" });
      const expanded = await post("/v1/recordings", { dataset_id: dataset.id, path: "bat-te10.wav" });
      const res = await app.inject({ method: "PATCH", url: `/v1/recordings/${expanded.id}`, headers: { authorization: `Bearer ${adminKey}` }, payload: { time_expansion: 10 } });
      expect(res.statusCode, res.body).toBe(200);
      return { plainId: plain.id as string, expandedId: expanded.id as string };
    })();
    return tableStudy;
  }
  const RAVEN_TABLE = join(ROOT, "test", "fixtures", "raven-selections.txt");

  /** The page with `token` entered (none: the field emptied), opened on `recordingId` with its tiles and clips loaded. */
  async function openWithToken(recordingId: string, token: string) {
    await page.goto(`${base}/?tables#recording=${recordingId}`);
    await page.fill("#token", token);
    await page.dispatchEvent("#token", "change");
    await tilesLoaded(recordingId);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count")).not.toBeNull();
  }

  /** Drops a file of `text` named `name` onto the spectrogram, as a file dragged from the desktop: the plot marked while it is dragged over. */
  const dropTable = (name: string, text: string) => dropFile(page, name, text, async () => {
    expect(await page.getAttribute("#plot", "class")).toContain("dropping");
  });

  /** The clips of a recording as the API lists them: start, end and tags. */
  async function recordingClips(recordingId: string) {
    const res = await app.inject({ url: `/v1/clips?recording_id=${recordingId}&sort=start_time&order=asc&limit=100` });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().items as { start_time: number; end_time: number; tags: { key: string; value: string }[] }[]);
  }

  it("imports a Raven selection table chosen with the keyboard or dropped onto the spectrogram: its clips drawn at once, without a reload, and a summary", async () => {
    const { plainId } = await tableDataset();
    // Without a token the page refuses the table, as its Import button is disabled: what to do about it said, nothing sent.
    await openWithToken(plainId, "");
    expect(await page.isHidden("#selections-times-label")).toBe(true); // no time expansion: nothing to choose
    await page.setInputFiles("#selections-file", RAVEN_TABLE);
    await expect.poll(() => page.textContent("#selections-result")).toBe("raven-selections.txt not imported. Creating or importing clips needs an API token (top right).");
    expect(await page.getAttribute("#selections-result", "class")).toBe("error");
    expect(await recordingClips(plainId)).toEqual([]);

    await openWithToken(plainId, adminKey);
    await page.evaluate(() => { (window as { __samePage?: boolean }).__samePage = true; });
    // The button by the keyboard opens the file chooser.
    const chooser = page.waitForEvent("filechooser");
    await page.focus("#import-selections");
    await page.keyboard.press("Enter");
    await (await chooser).setFiles(RAVEN_TABLE);
    await expect.poll(() => page.textContent("#selections-result")).toContain("Imported raven-selections.txt: 3 clips created, 0 existing clips found (none created for them), 0 tags added to existing clips.");
    const summary = (await page.textContent("#selections-result"))!;
    expect(summary).toContain("Columns read as tags: Species, Call type.");
    expect(summary).toContain("Columns not used (measurements, feature values, Clip ID): Delta Time (s).");
    expect(summary).not.toContain("{");
    // The table's three selections (Raven's two Views of one selection are one clip), drawn and listed.
    const stored = await recordingClips(plainId);
    expect(stored.map((c) => [c.start_time, c.end_time])).toEqual([[0.25, 0.75], [1.1, 1.6], [2, 3.25]]);
    expect(stored[0].tags).toEqual(expect.arrayContaining([{ key: "Species", value: "Myotis daubentonii" }, { key: "Call type", value: "FM sweep" }]));
    await expect.poll(() => page.locator("#clips div").count()).toBe(3);
    expect(await page.locator("#clips div").evaluateAll((boxes) => boxes.map((b) => [Number((b as HTMLElement).dataset.start), Number((b as HTMLElement).dataset.end)]))).toEqual([[0.25, 0.75], [1.1, 1.6], [2, 3.25]]);
    expect(await page.getAttribute("#clip-count", "data-count")).toBe("3");
    await page.screenshot({ path: join(ARTIFACTS, "web-selections-imported-page.png") });

    // The same table dropped onto the spectrogram: its clips exist, none created.
    await dropTable("raven-selections.txt", await readFile(RAVEN_TABLE, "utf8"));
    await expect.poll(() => page.textContent("#selections-result")).toContain("Imported raven-selections.txt: 0 clips created, 3 existing clips found");
    expect(await recordingClips(plainId)).toHaveLength(3);
    expect(await page.getAttribute("#plot", "class")).not.toContain("dropping");
    expect(await page.evaluate(() => (window as { __samePage?: boolean }).__samePage)).toBe(true);
  });

  it("lists a faulty table's faults by line and column, creates no clip, refuses a table over 8 MiB unsent, and fits a phone's width", async () => {
    const { plainId } = await tableDataset();
    await openWithToken(plainId, adminKey);
    const before = await recordingClips(plainId);
    const faulty = [
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies",
      "1\tSpectrogram 1\t1\t0.5\t0.9\t1000\t3000\tMyotis",
      "2\tSpectrogram 1\t1\t1,5\t2.0\t1000\t3000\tMyotis",
      "3\tSpectrogram 1\t1\t3.0\t2.5\t1000\t3000\tMyotis",
      "4\tSpectrogram 1\t1\t4.0\t4.5\t3000\t1000\tMyotis",
    ].join("\n");
    await page.setInputFiles("#selections-file", { name: "faulty.selections.txt", mimeType: "text/plain", buffer: Buffer.from(faulty) });
    const rows = page.locator("#selections-result table.faults tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    const cells = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    expect(cells).toEqual([
      ["3", "Begin Time (s)", expect.stringContaining("'1,5' is not a number of seconds (a decimal comma")],
      ["4", "End Time (s)", expect.stringContaining("must be after Begin Time (s)")],
      ["5", "High Freq (Hz)", expect.stringContaining("1000 Hz must be above Low Freq (Hz) (3000 Hz)")],
    ]);
    expect(await page.locator("#selections-result thead th").allTextContents()).toEqual(["Line", "Column", "Problem"]);
    expect(await page.textContent("#selections-result p")).toBe("faulty.selections.txt not imported, no clip created: 3 faults (the header is line 1).");
    expect(await recordingClips(plainId)).toEqual(before);
    // A table over the import's 8 MiB is refused by the page, naming its size, and never sent.
    const imports: string[] = [];
    const listen = (r: { url(): string }) => { if (r.url().includes("/v1/clips/import")) imports.push(r.url()); };
    page.on("request", listen);
    await page.setInputFiles("#selections-file", { name: "huge.txt", mimeType: "text/plain", buffer: Buffer.alloc(IMPORT_BODY_LIMIT + 1, "a") });
    await expect.poll(() => page.textContent("#selections-result")).toBe("huge.txt not imported: it has 8,388,609 bytes, more than the 8,388,608 an import takes — split the table.");
    page.off("request", listen);
    expect(imports).toEqual([]);
    await page.setInputFiles("#selections-file", { name: "faulty.selections.txt", mimeType: "text/plain", buffer: Buffer.from(faulty) });
    await expect.poll(() => rows.count()).toBe(3);
    try {
      await resizeWindow(375);
      const fits = await page.evaluate(() => {
        const within = [...document.querySelectorAll("#selections > *, #selections-result *")].filter((e) => e.getBoundingClientRect().width > 0)
          .filter((e) => e.getBoundingClientRect().left < 0 || e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).map((e) => e.id || e.textContent);
        return { outside: within, scrolls: document.documentElement.scrollWidth > document.documentElement.clientWidth };
      });
      await page.screenshot({ path: join(ARTIFACTS, "web-selections-faults-375-page.png"), fullPage: true });
      expect(fits).toEqual({ outside: [], scrolls: false });
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it("imports a time-expanded recording's table in the file's units or in real ones, as chosen, the choice explained in its tooltip", async () => {
    const { expandedId } = await tableDataset();
    await openWithToken(expandedId, adminKey);
    expect(await page.isVisible("#selections-times")).toBe(true);
    expect(await page.inputValue("#selections-times")).toBe("file"); // as Raven shows a time-expanded recording
    const tooltip = (await page.getAttribute("#selections-times-label", "title"))!;
    expect(tooltip).toContain("time-expanded ×10");
    expect(tooltip).toContain("divides the table's seconds by 10 and multiplies its Hz by 10");
    // The fixture's table, of this recording's file (a table naming another file is refused).
    const table = { name: "bat-te10.Table.1.selections.txt", mimeType: "text/plain", buffer: Buffer.from((await readFile(RAVEN_TABLE, "utf8")).replaceAll("a1.wav", "bat-te10.wav")) };
    // Read as real, the file's seconds run past the 0.5 s recording: the fault says which units to choose.
    await page.selectOption("#selections-times", "real");
    await page.setInputFiles("#selections-file", table);
    await expect.poll(() => page.locator("#selections-result tbody tr").count()).toBeGreaterThan(0);
    const faults = await page.locator("#selections-result tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    expect(faults).toContainEqual(["4", "End Time (s)", expect.stringContaining("(a table of the file as stored, in its own seconds: import with times=file)")]);
    await page.selectOption("#selections-times", "file");
    await page.setInputFiles("#selections-file", table);
    await expect.poll(() => page.textContent("#selections-result")).toContain("3 clips created");
    const stored = await recordingClips(expandedId);
    // The file's seconds divided by 10 (1.1 / 10 is 0.11000000000000001 in binary: compared to the nanosecond).
    expect(stored.map((c) => [c.start_time, c.end_time].map((t) => Number(t.toFixed(9))))).toEqual([[0.025, 0.075], [0.11, 0.16], [0.2, 0.325]]);
    await expect.poll(() => page.locator("#clips div").count()).toBe(3);
  });

  it("downloads the recording's clips as a Raven table or CSV, with or without feature values, named as the export route names it", async () => {
    const { plainId } = await tableDataset();
    await openWithToken(plainId, adminKey);
    if ((await recordingClips(plainId)).length === 0) {
      await page.setInputFiles("#selections-file", RAVEN_TABLE);
      await expect.poll(() => page.textContent("#selections-result")).toContain("3 clips created");
    }
    // A feature value computed for the first clip: a column of the export with feature values alone.
    const [first] = (await app.inject({ url: `/v1/clips?recording_id=${plainId}&sort=start_time&order=asc&limit=1` })).json().items as { id: string }[];
    await post(`/v1/clips/${first.id}/features`, { name: "peak_frequency_hz", value: 2000 });
    /** The download of the export button (pressed with the keyboard), its name and text, and the route's answer to the same query. */
    const download = async (query: string) => {
      const started = page.waitForEvent("download");
      await page.focus("#export-selections");
      await page.keyboard.press("Enter");
      const file = await started;
      const text = await readFile((await file.path())!, "utf8");
      const route = await app.inject({ url: `/v1/clips/export?recording_id=${plainId}&${query}` });
      expect(route.statusCode, route.body).toBe(200);
      return { name: file.suggestedFilename(), text, route };
    };
    const raven = await download("format=raven");
    expect(raven.name).toBe("a1.Table.1.selections.txt");
    expect(raven.route.headers["content-disposition"]).toContain(`filename="${raven.name}"`);
    expect(raven.text).toBe(raven.route.body);
    const lines = raven.text.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^Selection\tView\tChannel\tBegin Time \(s\)\tEnd Time \(s\)\tLow Freq \(Hz\)\tHigh Freq \(Hz\)\tBegin Path\t/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain("Myotis daubentonii");
    expect(raven.text).not.toContain("feature:"); // asked without feature values
    expect(await page.textContent("#selections-result")).toContain("Exported a1.wav's clips as a1.Table.1.selections.txt.");

    await page.selectOption("#export-format", "csv");
    await page.check("#export-features");
    const csv = await download("format=csv&features=all");
    expect(csv.name).toBe("a1.selections.csv");
    expect(csv.text).toBe(csv.route.body);
    expect(csv.text.split("\r\n")[0]).toMatch(/,feature:peak_frequency_hz$/);
    expect(csv.text.split("\r\n")[1]).toMatch(/,2000$/);
    await page.uncheck("#export-features");
    await page.selectOption("#export-format", "raven");
  });

  /** A field study's dataset: a recording with a short name, one with LONG_NAME, and a clip of the latter with features. */
  let fieldStudy: Promise<{ shortId: string; longId: string }> | undefined;
  function fieldDataset() {
    fieldStudy ??= (async () => {
      const dir = join(extra.path, "field");
      await mkdir(dir);
      await writeSineWav(join(dir, "tone.wav"), 48000, 1, 5000);
      await writeSineWav(join(dir, LONG_NAME), 48000, 1, 5000);
      const dataset = await post("/v1/datasets", { name: "Wytham Woods 2024 passive acoustic monitoring, North Ridge transects", audio_dir: dir });
      const short = await post("/v1/recordings", { dataset_id: dataset.id, path: "tone.wav" });
      const long = await post("/v1/recordings", { dataset_id: dataset.id, path: LONG_NAME });
      const clip = await post("/v1/clips", { recording_id: long.id, start_time: 0.1, end_time: 0.5 });
      // Besides SPEC §7's, a feature of the study's own, named through the API in one long word.
      for (const [name, value] of [["peak_frequency_hz", 5000], ["spectral_bandwidth_hz", 120.5], ["wingbeat_frequency_hz_from_autocorrelation_of_the_envelope", 12.5]] as const) await post(`/v1/clips/${clip.id}/features`, { name, value });
      return { shortId: short.id as string, longId: long.id as string };
    })();
    return fieldStudy;
  }

  it("keeps the toolbar on one row, its controls and the plot in place, with a 120-character recording name, cut short with an ellipsis and whole in its title", async () => {
    const { shortId, longId } = await fieldDataset();
    try {
      for (const width of LAYOUT_WIDTHS.filter((w) => w >= ONE_ROW_TOOLBAR_WIDTH)) {
        await page.setViewportSize({ width, height: 900 });
        await page.goto(`${base}/?toolbar-${width}#recording=${shortId}`);
        await tilesLoaded(shortId);
        const short = await layout();
        await page.click(`#recordings button[data-id="${longId}"]`);
        await tilesLoaded(longId);
        const long = await layout();
        await page.screenshot({ path: join(ARTIFACTS, `web-long-name-${width}-page.png`) });
        // One row, as tall as a one-line button: the name wrapped onto three lines (and "▶ Play visible" too), or ran past the window.
        const rowHeight = long.toolbarItems.find((b) => b.name === "zoom-in")!.height;
        expect.soft(long.toolbar.height, `${width} px: toolbar height`).toBeCloseTo(rowHeight, 0);
        expect.soft(long.toolbar.right, `${width} px: toolbar past the window`).toBeLessThanOrEqual(long.clientWidth);
        for (const [i, item] of long.toolbarItems.entries()) {
          if (item.name === "title") continue; // its width is the name's
          expect.soft([item.left, item.top], `${width} px: ${item.name} moved by the long name`).toEqual([short.toolbarItems[i].left, short.toolbarItems[i].top]);
        }
        expect.soft(long.plot.top, `${width} px: plot pushed down`).toBe(short.plot.top);
        const name = await page.evaluate(() => {
          const e = document.getElementById("recording-name");
          return e && { text: e.textContent, title: e.title, overflow: getComputedStyle(e).textOverflow, cut: e.scrollWidth > e.clientWidth, right: e.getBoundingClientRect().right };
        });
        expect.soft(name, `${width} px: the name`).toMatchObject({ text: LONG_NAME, title: LONG_NAME, overflow: "ellipsis", cut: true });
        expect.soft(name?.right, `${width} px: the name past the toolbar`).toBeLessThanOrEqual(long.toolbar.right);
        expect.soft(await page.textContent("#title")).toContain("1.00 s, 48.0 kHz"); // the facts stay whole beside the name
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it("fits every control in the window from 1280 down to 375 px wide, with a long recording name, its clip's features and a read-out", async () => {
    const { longId } = await fieldDataset();
    await page.goto(`${base}/?layout#recording=${longId}`);
    await tilesLoaded(longId);
    await page.click("#clip-list button");
    await expect.poll(() => page.locator("#clip-info tr[data-feature]").count()).toBe(3);
    const box = (await page.locator("#plot").boundingBox())!;
    // Past the 1 s recording's end (panned right: half the plot beyond it): no value to read — it said "value = NaN dB".
    await page.click("#pan-right");
    await page.mouse.click(box.x + box.width - 5, box.y + 100);
    await expect.poll(() => page.textContent("#readout")).toMatch(/kHz: outside the recording \(0–1\.00 s\), no value$/);
    expect(await page.getAttribute("#readout", "data-value")).toBeNull();
    await page.mouse.click(box.x + 20, box.y + 100);
    await expect.poll(() => page.getAttribute("#readout", "data-value")).not.toBeNull();
    expect(Number(await page.getAttribute("#readout", "data-value"))).not.toBeNaN();
    try {
      for (const width of LAYOUT_WIDTHS) {
        await resizeWindow(width);
        await tilesLoaded(longId);
        const l = await layout();
        await page.screenshot({ path: join(ARTIFACTS, `web-layout-${width}-page.png`), fullPage: true });
        // Soft: every width is checked (and photographed) whichever fails.
        expect.soft(l.scrollWidth, `${width} px: the page scrolls sideways`).toBeLessThanOrEqual(l.clientWidth);
        const outside = l.controls.filter((c) => c.left < 0 || c.right > l.clientWidth + 0.5).map((c) => `${c.name} (${c.left.toFixed(0)}–${c.right.toFixed(0)} px)`);
        expect.soft(outside, `${width} px: controls past the window's ${l.clientWidth} px`).toEqual([]);
        // Wrapped, if at all, in rows: no item over another.
        expect.soft(overlapping(l.headerItems), `${width} px: header items overlap`).toEqual([]);
        expect.soft(overlapping(l.toolbarItems), `${width} px: toolbar items overlap`).toEqual([]);
        // A feature's value and unit each on one line ("0.12|05 kH|z" at 375 px); only names break.
        const wrapped = await page.$$eval("#clip-info td", (cells) => cells.filter((c) => {
          const range = document.createRange();
          range.selectNodeContents(c);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1;
        }).map((c) => c.textContent));
        expect.soft(wrapped, `${width} px: feature values or units broken across lines`).toEqual([]);
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it("zooms out and back in at the pointer to the very view it left: the time under the pointer does not slide", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?anchor#recording=${nightId}`);
    await tilesLoaded(nightId);
    await page.click("#zoom-in"); // from the fitted view's scale to a whole level
    await tilesLoaded(nightId);
    const fitted = await view();
    const box = (await page.locator("#plot").boundingBox())!;
    // An odd pixel: half of it is no whole pixel at the level out, where the origin is rounded.
    await page.mouse.move(Math.round(box.x) + 301, box.y + 100);
    await page.mouse.wheel(0, 100);
    await expect.poll(async () => (await view()).level).toBe(fitted.level - 1);
    await page.mouse.wheel(0, -100);
    await expect.poll(async () => (await view()).level).toBe(fitted.level);
    // It came back one pixel (16 frames, 0.2 s) later: each step anchored on the rounded origin.
    expect(await view()).toEqual(fitted);
  });

  it("names its icon buttons, the spectrogram and the parameters' units for a screen reader, and goes to the recording's start and end by Home and End", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?keys#recording=${nightId}`);
    await tilesLoaded(nightId);
    // The buttons were named by their symbols ("+", "◀", the pager's "◀" too); the plot had no name.
    for (const name of ["Zoom in", "Zoom out", "Pan left", "Pan right", "Fit the whole recording", "Previous recordings", "Next recordings"]) {
      expect(await page.getByRole("button", { name, exact: true }).count(), name).toBe(1);
    }
    // The parameters' fields say their units: "window_size 0.025" could be read as milliseconds, "hop_size 0.5" as seconds.
    for (const name of ["window_size (s)", "hop_size (× window)", "samplerate (Hz)", "low_freq (Hz)", "fmin (Hz)", "fmax (Hz)", "min_dB"]) {
      expect(await page.getByRole("textbox", { name, exact: true }).count(), name).toBe(1);
    }
    const plot = page.getByRole("application", { name: "Spectrogram" });
    expect(await plot.getAttribute("aria-describedby")).toBe("plot-hint");
    expect(await page.textContent("#plot-hint")).toContain("Home and End");
    // Reached by Tab from the speed, it shows its focus (it had "outline: none"), outside its pixels.
    await page.focus("#rate");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("plot");
    const ring = await plot.evaluate((e) => { const c = getComputedStyle(e); return { style: c.outlineStyle, width: parseFloat(c.outlineWidth), offset: parseFloat(c.outlineOffset) }; });
    expect(ring.style).toBe("solid");
    expect(ring.width).toBeGreaterThanOrEqual(2);
    expect(ring.offset).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 6; i++) await page.keyboard.press("+");
    const zoomed = await view();
    expect(zoomed.level).toBe(2);
    // The last of the 120 s recording's 9601 frames (one every 12.5 ms, 0 s to 120 s) ends at the plot's right edge.
    await page.keyboard.press("End");
    const end = await view();
    expect(end.end - end.start).toBeCloseTo(zoomed.end - zoomed.start, 9);
    expect(end.end).toBeCloseTo(120 + 0.0125 / 2, 9);
    await tilesLoaded(nightId);
    await page.keyboard.press("Home");
    expect((await view()).start).toBeCloseTo(-0.0125 / 2, 9); // frame 0's left edge at the plot's
  });

  it("applies parameters changed while the server cannot be reached once it answers, and says a clip not created for that reason", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?unreachable#recording=${nightId}`);
    await tilesLoaded(nightId);
    await page.fill("#token", adminKey);
    await page.dispatchEvent("#token", "change");
    // The server gone for the first three asks of the new colormap's tiles (the parameters' probe among them), then back.
    const magma = /\/tiles\/\d+\/\d+\.png\?.*cmap=magma/;
    let refused = 0;
    await page.route(magma, (route) => (refused++ < 3 ? route.abort("connectionrefused") : route.continue()));
    await setParam("cmap", "magma");
    await expect.poll(() => page.textContent("#status")).toMatch(/^the server cannot be reached .*: the parameters are applied once it answers$/);
    // Given up after the first failure, the panel said magma over gray tiles for good.
    await tilesLoaded("cmap=magma");
    expect(refused).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.textContent("#status")).toBe("");
    await page.unroute(magma);
    // A clip drawn while the server is away: it said "clip not created: Failed to fetch".
    await page.route("**/v1/clips", (route) => route.abort("connectionrefused"));
    await shiftDraw(100, 100, 200, 100);
    await expect.poll(() => page.textContent("#clip-info")).toMatch(/^clip not created: the server cannot be reached \(.+\)$/);
    await page.unroute("**/v1/clips");
    await setParam("cmap", "gray");
  });

  it("keeps the recording, the view and the parameters in the address: a reload shows the same, a link with a refused parameter names it", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?reload#recording=${nightId}`);
    await tilesLoaded(nightId);
    await setParam("cmap", "viridis");
    await page.locator("#param-pcen").setChecked(false);
    await tilesLoaded("pcen=false");
    await page.focus("#plot");
    for (let i = 0; i < 3; i++) await page.keyboard.press("+");
    await page.keyboard.press("ArrowRight");
    const shown = await view();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe(
      `#recording=${nightId}&t=${+((shown.start + shown.end) / 2).toFixed(6)}&level=${shown.level}&cmap=viridis&pcen=false`);
    await tilesLoaded("pcen=false");
    // It showed the whole recording in gray with PCEN: the call zoomed in to was lost.
    await page.reload();
    await tilesLoaded("pcen=false");
    expect(await view()).toEqual(shown);
    expect(await page.inputValue("#param-cmap")).toBe("viridis");
    expect(await page.isChecked("#param-pcen")).toBe(false);
    expect(await page.locator("#tiles img").evaluateAll((imgs) => imgs.every((i) => (i as HTMLImageElement).dataset.src!.includes("cmap=viridis")))).toBe(true);
    // A link whose parameter the server refuses, opened in a page of its own (another query: a
    // link to the recording open, a hash alone, moves its view): the message at its field, no axes.
    await page.goto(`${base}/?refused#recording=${nightId}&t=60&level=0&window_size=-1`);
    await expect.poll(() => page.textContent("#error-window_size")).toBe("must be > 0");
    expect(await page.inputValue("#param-cmap")).toBe("gray"); // not in the link: the default
    expect(await page.locator("#taxis span, #faxis span").count()).toBe(0);
    await page.goto(`${base}/?reload#recording=${nightId}`); // the next test's panel at its defaults
    await tilesLoaded(nightId, "cmap=");
  });

  it("keeps a link's view and valid parameters in the address while the server refuses one of them, and shows that view once it is fixed", async () => {
    const { nightId } = await manyClipsDataset();
    // The address became `#recording=…&window_size=abc`: the time and zoom the link was sent for were lost.
    await page.goto(`${base}/?badparam#recording=${nightId}&t=60&level=1&cmap=viridis&window_size=abc&pcen=maybe`);
    await expect.poll(() => page.textContent("#error-window_size")).not.toBe("");
    expect(await page.textContent("#error-pcen")).toBe('"maybe" was refused: must be true or false');
    expect(await page.inputValue("#param-window_size")).toBe("abc"); // left for the user to fix
    expect(await page.inputValue("#param-cmap")).toBe("viridis");
    await page.waitForTimeout(300); // past the address's delay
    expect(await page.evaluate(() => location.hash)).toBe(`#recording=${nightId}&t=60&level=1&window_size=abc&cmap=viridis`);
    await setParam("window_size", "0.05");
    await tilesLoaded("window_size=0.05");
    const shown = await view();
    expect(shown.level).toBe(1);
    expect((shown.start + shown.end) / 2).toBeCloseTo(60, 1);
    const linked = async () => Object.fromEntries(new URLSearchParams((await page.evaluate(() => location.hash)).slice(1)));
    await expect.poll(async () => (await linked()).window_size).toBe("0.05");
    const { t: at, ...rest } = await linked();
    expect(Number(at)).toBeCloseTo(60, 1);
    expect(rest).toEqual({ recording: nightId, level: "1", window_size: "0.05", cmap: "viridis" });
    expect(await page.locator("#tiles img").evaluateAll((imgs) => imgs.every((i) => (i as HTMLImageElement).dataset.src!.includes("cmap=viridis")))).toBe(true);
    await page.goto(`${base}/?badparam#recording=${nightId}`); // the next test's panel at its defaults
    await tilesLoaded(nightId, "cmap=");
  });

  it("refuses a link's zoom level out of range or empty and a boolean parameter neither true nor false, says so, and fits the recording", async () => {
    await page.goto(`${base}/?linkfit#recording=${batId}`);
    await tilesLoaded(batId);
    const fitted = await view();
    // level=40 drew tiles 10^12 px wide; level=-2000 a scale of 0, a view of NaN; pcen=maybe turned PCEN off unsaid.
    for (const [i, level] of ["40", "-2000", ""].entries()) {
      await page.goto(`${base}/?badlink-${i}#recording=${batId}&t=1&level=${level}&pcen=maybe`);
      await tilesLoaded(batId, "pcen=false");
      expect(await page.getAttribute("#plot", "data-view")).not.toMatch(/null|NaN|Infinity/); // JSON writes NaN as null
      expect(await view()).toEqual(fitted);
      await expect.poll(() => page.textContent("#status")).toMatch(new RegExp(`the link's level "${level}" was refused: it must be a number from -20 to \\d+(\\.\\d)?: the whole recording is shown$`));
      expect(await page.textContent("#error-pcen")).toBe('"maybe" was refused: must be true or false');
      expect(await page.isChecked("#param-pcen")).toBe(true); // the default
    }
  });

  it("keeps the seconds in view, to the nearest zoom level, when a new window size changes the hop", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?span#recording=${nightId}`);
    await tilesLoaded(nightId);
    await page.focus("#plot");
    for (let i = 0; i < 4; i++) await page.keyboard.press("+");
    const before = await view();
    const span = (v: View) => v.end - v.start;
    // A ten times shorter window (2.5 ms, hop 1.25 ms): 8 s in view became 0.8 s.
    await setParam("window_size", "0.0025");
    await tilesLoaded("window_size=0.0025");
    const after = await view();
    expect(after.level).toBe(before.level - 3); // frames ten times as many, pixels per frame 2^-3: 8/10 of the span
    expect(span(after) / span(before)).toBeCloseTo(8 / 10, 9);
    expect((after.start + after.end) / 2).toBeCloseTo((before.start + before.end) / 2, 1);
    await setParam("window_size", "0.025");
    await tilesLoaded(nightId, "window_size=");
    expect(span(await view()) / span(before)).toBeCloseTo(1, 9);
  });

  it("keeps the previous view's pixels, scaled, until a zoom's tiles arrive, none of the old parameters' after a change, and nothing of a tile until its pixels arrive", async () => {
    // A 2.5 ms window: 4000 frames, the 5 s shown whole at a level farther out than −1.
    await page.goto(`${base}/?pending#recording=${batId}&window_size=0.0025`);
    await tilesLoaded(batId);
    await page.addStyleTag({ content: "#clips { display: none; }" }); // its clips' boxes: not what is looked at
    // In to tiles of z = 1 (level −1, unscaled); the next level in needs those of z = 0.
    while ((await view()).level < -1 || (await view()).scale !== 1) await page.click("#zoom-in");
    await tilesLoaded("/tiles/1/");
    const before = await view();
    const old = await plotPixels("placeholder-before");
    // The tiles of the next level held back: their images are in the plot, without pixels yet.
    const held: Route[] = [];
    let release = false;
    const tile = /\/tiles\/\d+\/\d+\.png/;
    // The probe of new parameters (tile 0/0) goes through: the tiles in view are held.
    await page.route(tile, (route) => (release || route.request().url().includes("/tiles/0/0.png?") && route.request().url().includes("cmap=viridis") ? route.continue() : void held.push(route)));
    await page.click("#zoom-in");
    await expect.poll(() => held.length).toBeGreaterThan(0);
    const pending = await page.locator("#tiles img:not([data-loaded])").evaluateAll((imgs) => imgs.map((i) => ({ alt: (i as HTMLImageElement).alt, visibility: getComputedStyle(i).visibility })));
    expect(pending.length).toBeGreaterThan(0);
    for (const img of pending) expect(img).toEqual({ alt: "", visibility: "hidden" });
    // Each plot column shows what the column of the view before at its time showed (within a
    // pixel of rounding): the plot was blank, its background alone, until the new tiles came.
    const zoomed = await view();
    expect(zoomed.level).toBe(before.level + 1);
    const now = await plotPixels("placeholder");
    const column = (p: Pixels, x: number) => {
      const values: number[] = [];
      for (let y = 0; y < p.height; y++) values.push(...p.rgba.subarray((y * p.width + x) * 4, (y * p.width + x) * 4 + 3));
      return values.join();
    };
    const background = [0x45, 0x5a, 0x64].join();
    let matched = 0, drawn = 0;
    for (let x = 0; x < now.width; x++) {
      const t = zoomed.start + ((x + 0.5) / now.width) * (zoomed.end - zoomed.start);
      const sx = Math.floor(((t - before.start) / (before.end - before.start)) * old.width);
      const c = column(now, x);
      if (!c.startsWith(`${background},`)) drawn++;
      if ([sx - 1, sx, sx + 1].some((s) => s >= 0 && s < old.width && column(old, s) === c)) matched++;
    }
    expect(drawn).toBeGreaterThan(now.width / 2); // the recording spans more than half the plot
    expect(matched).toBeGreaterThan(0.97 * now.width);
    // New parameters: the old ones' pixels go at once, placeholders included; only the new ones' show.
    await setParam("cmap", "viridis");
    await expect.poll(() => page.locator("#tiles img").evaluateAll((imgs) => imgs.length > 0 && imgs.every((i) => (i as HTMLImageElement).dataset.src!.includes("cmap=viridis")))).toBe(true);
    expect(await page.locator("#placeholders img").count()).toBe(0);
    const changed = await plotPixels("placeholder-params");
    let gray = 0;
    for (let i = 0; i < changed.rgba.length; i += 4) {
      const [r, g, b] = changed.rgba.subarray(i, i + 3);
      if (r === g && g === b) gray++; // the gray colormap's: viridis has no gray
    }
    expect(gray).toBe(0);
    release = true;
    for (const route of held) await route.continue();
    await page.unroute(tile);
    await tilesLoaded("cmap=viridis");
    await setParam("cmap", "gray"); // the next test's panel at its defaults
    await tilesLoaded(batId, "cmap=");
  });

  it("shows a clip created in another tab once the page is looked at again", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?tabs#recording=${nightId}`);
    await tilesLoaded(nightId);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), CLIPS_SETTLE).toBe("250");
    // Another tab is looked at, and a clip is made there (here through the API, as that tab does).
    const other = await context.newPage();
    await other.bringToFront();
    const clip = await post("/v1/clips", { recording_id: nightId, start_time: 1.01, end_time: 1.09 });
    try {
      // A pan and back: the clips fetched still serve the view, so none are asked for.
      await page.focus("#plot");
      await page.keyboard.press("ArrowRight");
      await page.keyboard.press("ArrowLeft");
      await page.waitForTimeout(500);
      expect(await page.getAttribute("#clip-count", "data-count")).toBe("250");
      // Back to this tab: the view's clips asked for again, the new one drawn. (Headless Chromium
      // sends a page brought to the front no focus event: it is sent as a browser sends it.)
      await page.bringToFront();
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      await expect.poll(() => page.getAttribute("#clip-count", "data-count"), CLIPS_SETTLE).toBe("251");
      expect(await page.locator(`#clips div[data-clip-id="${clip.id}"]`).count()).toBe(1);
    } finally {
      await other.close();
      await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: { authorization: `Bearer ${adminKey}` } });
    }
  });
  it("fits the whole recording to the plot's width: a 1 s and a 5 s recording fill it, tiles on whole pixels", async () => {
    for (const id of [second.recordingId, batId]) {
      await page.goto(`${base}/?fit#recording=${id}`);
      await tilesLoaded(id);
      const plotWidth = (await page.locator("#plot").boundingBox())!.width;
      // It filled 40 % of the plot for 1 s (4 pixels per frame at most) and 95 % for 5 s (whole levels only).
      const { left, right } = await boundaries();
      expect(left).toBe(0);
      expect(right).toBe(plotWidth);
      // From the first frame's left edge to the last one's right edge (frame i centred at i · hop).
      const v = await view();
      const rec = (await app.inject({ url: `/v1/recordings/${id}` })).json();
      const g = frameGeometry(0.025, 0.5, rec.samplerate), hop = g.hop / rec.samplerate;
      expect(v.start).toBeCloseTo(-hop / 2, 9);
      expect(v.end).toBeCloseTo((frameCount(rec.frames, g) - 0.5) * hop, 9);
    }
    await setParam("width", "128");
    await tilesLoaded("width=128");
    await page.addStyleTag({ content: "#plot { background: #f0f !important; }" });
    await expectNoGaps("fit-scaled");
    // A zoom step goes to the next whole level closer in: tiles at whole pixels per frame again.
    const fitted = await view();
    await page.click("#zoom-in");
    await tilesLoaded("width=128");
    expect(await view()).toMatchObject({ level: nextLevelIn(fitted), scale: 1 });
    await setParam("width", "256");
    await tilesLoaded("width=256");
  });

  it("zooms out no further than the level that shows the whole recording — buttons, wheel, keys and a link's level, raised and said: it went on to −20, the recording a sliver of the plot", async () => {
    const { nightId } = await manyClipsDataset();
    await page.goto(`${base}/?farthest#recording=${nightId}`);
    await tilesLoaded(nightId);
    const plotWidth = (await page.locator("#plot").boundingBox())!.width;
    const frames = frameCount(8000 * 120, frameGeometry(0.025, 0.5, 8000));
    // The closest whole level at which the 120 s fit the plot: Fit's, or the one past it.
    const farthest = Math.floor(Math.log2(plotWidth / frames));
    for (let i = 0; i < 6; i++) await page.click("#zoom-out");
    const out = await view();
    expect(out).toMatchObject({ level: farthest, scale: 1 });
    // The whole recording in view, filling more than half the plot.
    expect(out.start).toBeLessThan(0);
    expect(out.end).toBeGreaterThan(120);
    expect(120 / (out.end - out.start)).toBeGreaterThan(0.5);
    await tilesLoaded(`/tiles/${-farthest}/`); // tiles of the pyramid's level z = −level
    // The wheel and the key go no further either.
    const box = (await page.locator("#plot").boundingBox())!;
    await page.mouse.move(box.x + 300, box.y + 100);
    for (let i = 0; i < 3; i++) await page.mouse.wheel(0, 100);
    await page.focus("#plot");
    for (let i = 0; i < 3; i++) await page.keyboard.press("-");
    await page.waitForTimeout(100);
    expect(await view()).toEqual(out);
    // A link asking for a level farther out is shown at the farthest, saying so.
    await page.goto(`${base}/?farthest-link#recording=${nightId}&t=60&level=-10`);
    await tilesLoaded(nightId);
    expect(await view()).toMatchObject({ level: farthest, scale: 1 });
    expect(((await view()).start + (await view()).end) / 2).toBeCloseTo(60, 1);
    expect(await page.textContent("#status")).toBe(`the link's level "-10" was raised to ${farthest}: a level farther out shows more than the whole recording`);
    expect(await page.getAttribute("#status", "class")).toBe("error");
    await expect.poll(() => page.evaluate(() => new URLSearchParams(location.hash.slice(1)).get("level"))).toBe(String(farthest));
  });

  it("shows the whole recording at the farthest level: a zoom out from a view panned to the end, a pan and a window grown wider (the plot once twice the recording) leave none of it out", async () => {
    const { nightId } = await manyClipsDataset();
    const frames = frameCount(8000 * 120, frameGeometry(0.025, 0.5, 8000));
    /** The farthest level for the plot's width now: the closest at which the 120 s fit it. */
    const farthest = async () => Math.floor(Math.log2((await page.locator("#plot").boundingBox())!.width / frames));
    /** The whole 120 s in view (within the rounding of the origin to a whole pixel), filling more than half the plot. */
    const expectWhole = async (what: string) => {
      const v = await view();
      const pixel = (v.end - v.start) / (await page.locator("#plot").boundingBox())!.width;
      expect(v, what).toMatchObject({ level: await farthest(), scale: 1 });
      expect(v.start, what).toBeLessThanOrEqual(pixel);
      expect(v.end, what).toBeGreaterThanOrEqual(120 - pixel);
      expect(120 / (v.end - v.start), what).toBeGreaterThan(0.5);
    };
    await page.goto(`${base}/?farthest-whole#recording=${nightId}&t=60&level=-1`);
    await tilesLoaded(nightId);
    await page.focus("#plot");
    await page.keyboard.press("End"); // the end at the plot's right edge: its middle 7 s before it
    for (let i = 0; i < 6; i++) await page.keyboard.press("-");
    await expectWhole("zoomed out from the end"); // its middle kept: the first 33 s were out of view
    for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
    await expectWhole("panned right");
    for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowLeft");
    await expectWhole("panned left");
    try {
      await resizeWindow(2400);
      await expectWhole("the window grown wider"); // it stayed at the level before (−4 for −3): the recording filled less than half the plot
      const wide = await view();
      await resizeWindow(1400);
      expect((await view()).level, "narrower again: the level kept, closer in than the whole recording's now").toBe(wide.level);
      await page.keyboard.press("-");
      await expectWhole("zoomed out on the narrower plot");
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 }); // as before, whatever failed
    }
  });

  it("zooms from a fitted view to the whole level on either side of it: in from a scale below 1 to its own level, out from one above 1 to its own — each skipped that level for the one past it", async () => {
    const plotWidth = (await page.locator("#plot").boundingBox())!.width;
    const dir = join(extra.path, "zoomsteps");
    await mkdir(dir);
    const dataset = await post("/v1/datasets", { name: "zoom steps", audio_dir: dir });
    // Fitted at level −1, scaled 0.86 (as a 22.5 s recording was in the walk) and 1.2: at 8 kHz a frame is 12.5 ms.
    for (const [scale, inward, outward] of [[0.86, -1, -2], [1.2, 0, -1]]) {
      const path = `fitted-${scale}.wav`;
      await writeSineWav(join(dir, path), 8000, Math.round(plotWidth / (0.5 * scale)) * 0.0125);
      const rec = await post("/v1/recordings", { dataset_id: dataset.id, path });
      await page.goto(`${base}/?zoomsteps-${scale}#recording=${rec.id}`);
      await tilesLoaded(rec.id);
      const fitted = await view();
      expect(fitted.level).toBe(-1);
      expect(fitted.scale).toBeCloseTo(scale, 2);
      await page.click("#zoom-in");
      expect(await view(), `zoomed in from a scale of ${scale}`).toMatchObject({ level: inward, scale: 1 });
      await page.click("#fit");
      expect(await view()).toEqual(fitted);
      await page.click("#zoom-out");
      expect(await view(), `zoomed out from a scale of ${scale}`).toMatchObject({ level: outward, scale: 1 });
    }
  });

  it("puts the address back to the link of the recording shown when a link's recording cannot be opened, the error kept on the status line — the link refused stayed, and a reload tried it again", async () => {
    await page.goto(`${base}/?unknown#recording=${second.recordingId}`);
    await tilesLoaded(second.recordingId);
    await expect.poll(() => page.evaluate(() => location.hash)).toMatch(/&level=/);
    const shown = await page.evaluate(() => location.hash);
    const missing = "00000000-0000-4000-8000-000000000000";
    await page.evaluate((id) => { location.hash = `#recording=${id}&t=1&level=0`; }, missing);
    await expect.poll(() => page.textContent("#status")).toMatch(/^the linked recording cannot be opened: .+/);
    expect(await page.getAttribute("#status", "class")).toBe("error");
    await expect.poll(() => page.evaluate(() => location.hash)).toBe(shown);
    expect(await page.textContent("#recording-name")).toBe("tone.wav");
    const message = await page.textContent("#status");
    await page.waitForTimeout(300); // past the address's delay: the error stays
    expect(await page.textContent("#status")).toBe(message);
    // A reload shows the recording shown, without the error.
    await page.reload();
    await tilesLoaded(second.recordingId);
    expect(await page.textContent("#recording-name")).toBe("tone.wav");
    expect(await page.textContent("#status")).toBe("");
  });

  it("plays a selection — a box drawn, a clip opened, or marked by keys — and makes a clip of one marked by keys", async () => {
    await page.goto(`${base}/?selection#recording=${batId}`);
    await tilesLoaded(batId);
    await page.fill("#token", "");
    await page.dispatchEvent("#token", "change");
    const selected = async () => ({ start: Number(await page.getAttribute("#selection", "data-start")), end: Number(await page.getAttribute("#selection", "data-end")) });
    /** Plays the selection by `act`: the playback asked for is the selection's range, and the cursor moves inside it. */
    const expectPlaysSelection = async (act: () => Promise<void>) => {
      const sel = await selected();
      const asked = page.waitForRequest(/\/playback\?/);
      await act();
      const url = new URL((await asked).url());
      expect(Number(url.searchParams.get("start_time"))).toBeCloseTo(sel.start, 9);
      expect(Number(url.searchParams.get("end_time"))).toBeCloseTo(sel.end, 9);
      await expect.poll(() => page.evaluate(() => !document.getElementById("cursor")!.hidden), { timeout: 10_000 }).toBe(true);
      const box = await page.evaluate(() => [document.getElementById("selection")!.style.left, document.getElementById("selection")!.style.width].map(parseFloat));
      const x = await page.evaluate(() => parseFloat(document.getElementById("cursor")!.style.left));
      expect(x).toBeGreaterThanOrEqual(box[0] - 1);
      expect(x).toBeLessThanOrEqual(box[0] + box[1] + 1);
      await act(); // pauses
      await expect.poll(() => page.evaluate(() => document.querySelector("audio")!.paused)).toBe(true);
    };
    expect(await page.isDisabled("#play-selection")).toBe(true);
    // A shift-drawn box, without a token (no clip made): still a selection to play.
    const box = (await page.locator("#plot").boundingBox())!;
    const v = await view();
    await shiftDraw(100, 100, 300, 300);
    const secondsPerPx = (v.end - v.start) / box.width;
    const drawn = await selected();
    expect(Math.abs(drawn.start - (v.start + 100 * secondsPerPx))).toBeLessThan(2 * secondsPerPx);
    expect(Math.abs(drawn.end - (v.start + 300 * secondsPerPx))).toBeLessThan(2 * secondsPerPx);
    await expectPlaysSelection(() => page.click("#play-selection"));

    // From the keyboard: [ at the plot's middle, four twentieths of the plot on, ].
    await page.focus("#plot");
    const middle = async () => { const w = await view(); return (w.start + w.end) / 2; };
    await page.keyboard.press("[");
    const t0 = await middle();
    for (let i = 0; i < 4; i++) await page.keyboard.press("Shift+ArrowRight");
    const t1 = await middle();
    expect(t1 - t0).toBeCloseTo((v.end - v.start) / 5, 1); // each step on a whole pixel
    await page.keyboard.press("]");
    expect(await selected()).toEqual({ start: expect.closeTo(t0, 9), end: expect.closeTo(t1, 9) });
    expect(await page.textContent("#selection-range")).toBe(timeRange(t0, t1, 384000));
    await expectPlaysSelection(() => page.keyboard.press("p"));
    // Enter makes it a clip, once a token is given.
    await page.fill("#token", adminKey);
    await page.dispatchEvent("#token", "change");
    await page.focus("#plot");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getAttribute("#clip-info", "data-clip-id"), { timeout: 10_000 }).not.toBeNull();
    const clipId = (await page.getAttribute("#clip-info", "data-clip-id"))!;
    try {
      const clip = (await app.inject({ url: `/v1/clips/${clipId}` })).json();
      expect(clip.start_time).toBeCloseTo(t0, 9);
      expect(clip.end_time).toBeCloseTo(t1, 9);
      // Another box drawn, then the clip opened from the list: the clip is what plays.
      await shiftDraw(600, 100, 700, 300);
      await expect.poll(async () => (await selected()).start, { timeout: 10_000 }).toBeGreaterThan(t1);
      await expect.poll(() => page.getAttribute("#clip-info", "data-clip-id"), { timeout: 10_000 }).not.toBe(clipId); // its clip made
      await page.click(`#clip-list button[data-clip-id="${clipId}"]`);
      expect(await selected()).toEqual({ start: clip.start_time, end: clip.end_time });
      await expectPlaysSelection(() => page.click("#play-selection"));
    } finally {
      for (const c of await allClips(batId)) await app.inject({ method: "DELETE", url: `/v1/clips/${c.id}`, headers: { authorization: `Bearer ${adminKey}` } });
    }
  });

  it("makes one clip of a selection however fast Enter is pressed twice or held", async () => {
    await page.goto(`${base}/?enter-once#recording=${batId}`);
    await tilesLoaded(batId);
    await page.fill("#token", adminKey);
    await page.dispatchEvent("#token", "change");
    await page.focus("#plot");
    await page.keyboard.press("[");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("]");
    const posts: string[] = [];
    const countPost = (r: { method(): string; url(): string }) => { if (r.method() === "POST" && r.url().endsWith("/v1/clips")) posts.push(r.url()); };
    page.on("request", countPost);
    try {
      // Two presses before the first clip is created, then a held key's repeat: each made a clip with its own job.
      await page.evaluate(() => {
        const plot = document.getElementById("plot")!;
        for (const repeat of [false, false, true]) plot.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", repeat, bubbles: true }));
      });
      expect(await page.isDisabled("#clip-selection")).toBe(true); // while the clip is being created
      await expect.poll(() => page.getAttribute("#clip-info", "data-clip-id")).not.toBeNull();
      await expect.poll(() => page.isDisabled("#clip-selection")).toBe(false);
      await expect.poll(() => page.textContent("#clip-info")).not.toContain("No features yet."); // the clip shown has its features
      expect(posts.length).toBe(1);
      expect((await allClips(batId)).length).toBe(1);
    } finally {
      page.off("request", countPost);
      for (const c of await allClips(batId)) await app.inject({ method: "DELETE", url: `/v1/clips/${c.id}`, headers: { authorization: `Bearer ${adminKey}` } });
    }
  });

  it("stops playing as another recording is opened: no error, the cursor gone, Play visible offered again — the cursor threw on the new recording's missing geometry and stayed over it", async () => {
    const errors: string[] = [];
    const onError = (err: Error) => errors.push(err.message);
    page.on("pageerror", onError);
    try {
      await page.goto(`${base}/?switch-playing#recording=${batId}`);
      await tilesLoaded(batId);
      await page.click("#play");
      await expect.poll(() => page.evaluate(() => !document.querySelector("audio")!.paused && !document.getElementById("cursor")!.hidden), { timeout: 10_000 }).toBe(true);
      await page.click(`#recordings button[data-id="${birdId}"]`);
      await tilesLoaded(birdId);
      await page.waitForTimeout(300); // a few animation frames of the cursor's
      expect(errors).toEqual([]);
      expect(await page.evaluate(() => [document.querySelector("audio")!.paused, document.getElementById("cursor")!.hidden])).toEqual([true, true]);
      expect([await page.textContent("#play"), await page.getAttribute("#play", "aria-pressed")]).toEqual(["▶ Play visible", "false"]);
    } finally {
      page.off("pageerror", onError);
    }
  });

  it("makes each recording opened a history entry: Back and Forward go between them with their views, a zoom or pan replaces the entry — Back left the page", async () => {
    await page.goto(`${base}/?history#recording=${batId}&t=2&level=0`);
    await tilesLoaded(batId);
    await page.focus("#plot");
    await page.keyboard.press("+"); // no entry of its own; the address follows it before the next recording's entry
    const batView = await view();
    await page.click(`#recordings button[data-id="${birdId}"]`);
    await tilesLoaded(birdId);
    await page.focus("#plot");
    await page.keyboard.press("+");
    await page.keyboard.press("ArrowRight");
    const birdView = await view();
    await expect.poll(() => page.evaluate(() => location.hash)).toContain(`&t=${+((birdView.start + birdView.end) / 2).toFixed(6)}&`);
    // (history.length tells nothing here: Chromium keeps at most 50 entries. One Back reaching the bat below says the bird's zoom and pan replaced its entry.)
    await page.evaluate(() => history.back());
    await expect.poll(() => page.textContent("#recording-name")).toBe("bats-384k.wav");
    await tilesLoaded(batId);
    expect(await page.evaluate(() => location.search)).toBe("?history"); // still the page, not about:blank
    expect(await view()).toEqual(batView);
    expect(await page.locator("#recordings button.open").textContent()).toContain("bats-384k.wav");
    await page.evaluate(() => history.forward());
    await expect.poll(() => page.textContent("#recording-name")).toBe("birds-48k.wav");
    await tilesLoaded(birdId);
    expect(await view()).toEqual(birdView);
  });

  it("shows a link pasted in right after another moved the view, before the address follows it (150 ms): the link the page wrote last was taken for what is shown, and the view stayed", async () => {
    await page.goto(`${base}/?link-quick#recording=${batId}&t=1.5&level=1`);
    await tilesLoaded(batId);
    const middle = async () => { const v = await view(); return +((v.start + v.end) / 2).toFixed(2); };
    await expect.poll(middle).toBe(1.5);
    await expect.poll(() => page.evaluate(() => new URLSearchParams(location.hash.slice(1)).get("t"))).toBe("1.5"); // the address follows
    // Another time, then at once the first link again: it is not what is shown any more.
    await page.evaluate((id) => {
      location.hash = `recording=${id}&t=0.5&level=1`;
      setTimeout(() => { location.hash = `recording=${id}&t=1.5&level=1`; }, 20);
    }, batId);
    await new Promise((r) => setTimeout(r, 600));
    expect(await middle()).toBe(1.5);
  });

  /** A 2 h 0 min 5 s recording (a 100 Hz tone at 1 kHz) in a dataset of its own: its id. */
  let longRecording: Promise<string> | undefined;
  function longRecordingId() {
    longRecording ??= (async () => {
      const dir = join(extra.path, "long");
      await mkdir(dir);
      await writeSineWav(join(dir, "night-long.wav"), 1000, 7205, 100);
      const dataset = await post("/v1/datasets", { name: "long night", audio_dir: dir });
      return (await post("/v1/recordings", { dataset_id: dataset.id, path: "night-long.wav" })).id as string;
    })();
    return longRecording;
  }
  const middleOf = (v: View) => (v.start + v.end) / 2;
  const timeLabels = () => page.locator("#taxis span").allTextContents();

  it("labels a recording of an hour or more in h:mm:ss at the ticks' precision, and goes to a time typed in seconds or h:mm:ss", async () => {
    const longId = await longRecordingId();
    await page.goto(`${base}/?long#recording=${longId}`);
    await tilesLoaded(longId);
    // Its duration too, after its name and in the list (it read "7205.00 s").
    expect(await page.textContent("#recording-facts")).toBe(" — 2:00:05, 1.0 kHz");
    expect(await page.locator(`#recordings button[data-id="${longId}"] small`).textContent()).toMatch(/^2:00:05 · 1\.0 kHz/);
    // The whole 2 h: whole clock steps (it read "0 s", "500 s" … "7000 s").
    const whole = await timeLabels();
    expect(whole[0]).toBe("0:00:00");
    for (const label of whole) expect(label).toMatch(/^[0-2]:[0-5]\d:[0-5]\d$/);
    const seconds = whole.map((l) => l.split(":").reduce((s, part) => 60 * s + Number(part), 0));
    expect([300, 600, 900, 1200, 1800]).toContain(seconds[1] - seconds[0]);
    // Named for a screen reader, reached from the plot by g; a time in h:mm:ss centred at the zoom shown.
    const go = page.getByRole("textbox", { name: "Go to time" });
    expect(await go.count()).toBe(1);
    await page.focus("#plot");
    await page.keyboard.press("+");
    await page.keyboard.press("+");
    const before = await view();
    await page.keyboard.press("g");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("goto");
    await page.keyboard.type("1:52:30.5");
    await page.keyboard.press("Enter");
    const plotWidth = (await page.locator("#plot").boundingBox())!.width;
    const pixel = (v: View) => (v.end - v.start) / plotWidth;
    await expect.poll(async () => Math.abs(middleOf(await view()) - 6750.5)).toBeLessThan(pixel(before));
    expect((await view()).level).toBe(before.level);
    // Closest in: tenths of a second after the seconds.
    await page.focus("#plot");
    for (let i = 0; i < 14; i++) await page.keyboard.press("+"); // past the closest level: it stops there
    expect((await view()).level).toBe(2);
    const close = await timeLabels();
    expect(close.length).toBeGreaterThan(3);
    for (const label of close) expect(label).toMatch(/^1:52:[23]\d\.\d$/);
    await page.screenshot({ path: join(ARTIFACTS, "web-long-clock-page.png") });
    // Seconds too; a value that is no time refused, naming the field, the view kept.
    await go.fill("600");
    await go.press("Enter");
    await expect.poll(async () => Math.round(middleOf(await view()) * 100) / 100).toBe(600);
    const kept = await view();
    for (const bad of ["abc", "1:75:00", "-3", "9000"]) {
      await go.fill(bad);
      await go.press("Enter");
      await expect.poll(() => page.textContent("#status")).toMatch(/^go to time: /);
      expect(await page.getAttribute("#goto", "aria-invalid"), bad).toBe("true");
      expect(await view()).toEqual(kept);
    }
    expect(await page.textContent("#status")).toBe(`go to time: "9000" is past the recording's end (2:00:05)`);
    await go.fill("1:00:00");
    await go.press("Enter");
    await expect.poll(async () => Math.round(middleOf(await view()) * 100) / 100).toBe(3600);
    expect([await page.getAttribute("#goto", "aria-invalid"), await page.textContent("#status")]).toEqual(["false", ""]);
    // A recording under an hour keeps seconds.
    await page.goto(`${base}/?short#recording=${batId}`);
    await tilesLoaded(batId);
    for (const label of await timeLabels()) expect(label).toMatch(/^\d+(\.\d+)? s$/);
  });

  it("reads a time expansion changed elsewhere as the page is looked at again, and redraws in the new units, the part of the file in view kept", async () => {
    const id = second.recordingId; // 1 s at 48 kHz
    await page.goto(`${base}/?te-refresh#recording=${id}&t=0.6&level=1`);
    await tilesLoaded(id);
    expect(await page.textContent("#recording-facts")).toBe(" — 1.00 s, 48.0 kHz");
    const hop = 0.0125, pixel = (level: number) => hop / 2 ** level; // seconds per pixel: the hop is in real seconds
    expect(Math.abs(middleOf(await view()) - 0.6)).toBeLessThanOrEqual(pixel(1));
    const revision = new URL((await page.getAttribute("#tiles img", "data-src"))!, base).searchParams.get("revision");
    const patch = (te: number) => app.inject({ method: "PATCH", url: `/v1/recordings/${id}`, headers: { authorization: `Bearer ${adminKey}` }, payload: { time_expansion: te } });
    /** Back to this tab: its focus (headless Chromium sends none), which reads the recording again once 3 s have passed since the last read. */
    const lookAgain = () => page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    try {
      expect((await patch(2)).statusCode).toBe(200);
      await lookAgain();
      await expect.poll(() => page.textContent("#recording-facts"), { timeout: 10_000 }).toBe(" — 0.50 s, 96.0 kHz");
      await tilesLoaded(id, `revision=${revision}&`);
      // Half the seconds across the plot would be a level past the closest: the 0.5 s now narrower
      // than the plot, it is fitted (the closest level at scale 1 left it a sliver of the plot).
      const halved = frameCount(48000, frameGeometry(0.025, 0.5, 96000));
      const after = await view();
      expect(after.start).toBeCloseTo(-hop / 2, 9);
      expect(after.end).toBeCloseTo((halved - 0.5) * hop, 6);
      const top = Number((await page.locator("#faxis span").last().textContent())!.replace(" kHz", ""));
      expect(top).toBeGreaterThan(40); // 24 kHz before
      expect(await page.locator("#recordings button.open small").textContent()).toContain("TE 2");
      // A fitted view stays fitted: the whole second again once the expansion is 1.
      await page.click("#fit");
      expect((await patch(1)).statusCode).toBe(200);
      await lookAgain();
      await expect.poll(() => page.textContent("#recording-facts"), { timeout: 10_000 }).toBe(" — 1.00 s, 48.0 kHz");
      await tilesLoaded(id);
      const frames = frameCount(48000, frameGeometry(0.025, 0.5, 48000));
      const fitted = await view();
      expect(fitted.start).toBeCloseTo(-hop / 2, 9);
      expect(fitted.end).toBeCloseTo((frames - 0.5) * hop, 6);
    } finally {
      expect((await patch(1)).statusCode).toBe(200);
    }
  });

  it("shows the same part of the file when a time expansion raised elsewhere asks for a zoom past the closest level: scaled — the closest level at scale 1 kept the old seconds across the plot", async () => {
    const id = batId; // 5 s at 384 kHz
    await page.goto(`${base}/?te-closest#recording=${id}&t=2&level=2`);
    await tilesLoaded(id);
    const before = await view();
    expect(before.level).toBe(2);
    const span = (v: View) => v.end - v.start;
    const revision = new URL((await page.getAttribute("#tiles img", "data-src"))!, base).searchParams.get("revision");
    const patch = (te: number) => app.inject({ method: "PATCH", url: `/v1/recordings/${id}`, headers: { authorization: `Bearer ${adminKey}` }, payload: { time_expansion: te } });
    try {
      expect((await patch(2)).statusCode).toBe(200);
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      await expect.poll(() => page.textContent("#recording-facts"), { timeout: 10_000 }).toBe(" — 2.50 s, 768.0 kHz");
      await tilesLoaded(id, `revision=${revision}&`);
      // Half the real seconds across the plot, around the same sample: 1 s real now.
      const after = await view();
      expect(after.level).toBe(2);
      expect([after.level, after.scale]).toEqual([2, 2]);
      expect(span(after) / span(before)).toBeCloseTo(1 / 2, 6);
      expect(Math.abs(middleOf(after) - 1)).toBeLessThanOrEqual(span(after) / 500);
    } finally {
      expect((await patch(1)).statusCode).toBe(200);
    }
  });

  it("shows Play visible's playing state, and stops it by Escape, Space or the button", async () => {
    await page.goto(`${base}/?stop#recording=${batId}`);
    await tilesLoaded(batId);
    const played = async () => [await page.textContent("#play"), await page.getAttribute("#play", "aria-pressed"), await page.evaluate(() => document.querySelector("audio")!.paused)];
    const PLAYING = ["■ Stop", "true", false], STOPPED = ["▶ Play visible", "false", true];
    const START = { timeout: 10_000 };
    expect(await played()).toEqual(STOPPED);
    await page.click("#play");
    await expect.poll(played, START).toEqual(PLAYING);
    await page.click("#play");
    await expect.poll(played).toEqual(STOPPED);
    await page.focus("#plot");
    await page.keyboard.press(" ");
    await expect.poll(played, START).toEqual(PLAYING);
    await page.keyboard.press("Escape");
    await expect.poll(played).toEqual(STOPPED);
    await expect.poll(() => page.evaluate(() => document.getElementById("cursor")!.hidden)).toBe(true);
    await page.keyboard.press(" ");
    await expect.poll(played, START).toEqual(PLAYING);
    await page.keyboard.press(" ");
    await expect.poll(played).toEqual(STOPPED);
    expect(await page.evaluate(() => scrollY)).toBe(0); // Space did not scroll the page
  });

  it("shows a playback still being fetched as playing, and stops it by Space, Escape or the button before its audio arrives — they read the paused audio as nothing playing, the button disabled", async () => {
    await page.goto(`${base}/?stop-loading#recording=${batId}`);
    await tilesLoaded(batId);
    const held: Route[] = [];
    const playback = (url: URL) => url.pathname.endsWith("/playback");
    await page.route(playback, (r) => void held.push(r));
    const played = async () => [await page.textContent("#play"), await page.getAttribute("#play", "aria-pressed"), await page.isEnabled("#play"), await page.evaluate(() => document.querySelector("audio")!.paused)];
    const LOADING = ["■ Stop", "true", true, true], STOPPED = ["▶ Play visible", "false", true, true];
    try {
      for (const stop of [() => page.keyboard.press(" "), () => page.keyboard.press("Escape"), () => page.click("#play")]) {
        await page.focus("#plot");
        const asked = held.length;
        await page.keyboard.press(" ");
        await expect.poll(() => held.length).toBe(asked + 1);
        expect(await played()).toEqual(LOADING);
        await stop();
        expect(await played()).toEqual(STOPPED);
        // Stopped, not asked again; its audio arriving then does not start.
        await held.at(-1)!.continue();
        await page.waitForTimeout(500);
        expect(held.length).toBe(asked + 1);
        expect(await played()).toEqual(STOPPED);
        expect(await page.textContent("#status")).toBe("");
      }
    } finally {
      await page.unroute(playback);
    }
  });

  it("keeps the time at the plot's middle as the window is resized — it kept the left edge", async () => {
    await page.goto(`${base}/?resize-middle#recording=${batId}&t=2&level=1`);
    await tilesLoaded(batId);
    const pixel = 0.0125 / 2; // seconds per pixel at level 1: a 12.5 ms hop over 2 px
    expect(Math.abs(middleOf(await view()) - 2)).toBeLessThanOrEqual(pixel);
    try {
      for (const width of [1000, 1700, 1400]) {
        await resizeWindow(width);
        const v = await view();
        expect(Math.abs(middleOf(v) - 2), `at ${width} px`).toBeLessThanOrEqual(pixel);
        expect(v.level).toBe(1);
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it("puts every parameter's name and unit on one line", async () => {
    await page.goto(`${base}/?labels`);
    await page.waitForSelector("#param-hop_size");
    const lines = await page.$$eval("#params label", (labels) => labels.map((l) => {
      const range = document.createRange();
      range.selectNodeContents(l.firstChild!);
      return [l.firstChild!.textContent, range.getClientRects().length];
    }));
    expect(lines.length).toBeGreaterThan(20);
    // "hop_size (× window)" took two.
    for (const [name, count] of lines) expect(count, name as string).toBe(1);
  });
});
