/**
 * The viewer's clip panel (web/clip-panel.ts) in headless Chromium (Debian's /usr/bin/chromium
 * driven by playwright-core, as test/web.test.ts) against an in-process server: a clip selected by
 * a click on its box, or from the keyboard through the list of clips in view, is tagged (with
 * completion from the tags in use), untagged, noted, moved and deleted, its notes edited, archived,
 * restored and trashed — each checked in what the server then holds — its archived notes and the
 * trashed ones the user may restore listed apart a page at a time, another member's note is
 * read-only, another member's clip shows no Move or Delete but whose it is, a viewer's token, a
 * reader without one and an archived clip get no control of a change, Clip selection and Import
 * are offered to a member or an admin on a recording not read-only (itself or its dataset), a table
 * dropped where they are not is refused unsent, a viewer's token's refusal
 * (its role changed meanwhile) is said on the status line, a change made in
 * another tab shows once the page has the focus again, a recording or dataset archived there takes
 * back every change once the page is shown again, a recording is opened from the list, or a change
 * (a clip created among them) gets a 409, saying why — a clip or note archived so takes back the
 * panel's changes at its 409 — a recording opened from the list and the focus right after read its
 * state once, a read-only recording's clips are listed and
 * opened read-only, a token entered while a link's recording opens keeps that opening, the clip
 * count is forgotten as another recording opens, the page
 * and the panel share one GET /v1/users/me, and Escape closes the panel; a half-typed note or tag
 * stays with its clip (and leaving the page asks first while one is unsaved), a move sends the
 * bounds edited alone against their values as read (another's move said, not reverted), its
 * computed feature values are computed again, an earlier error leaves the status line as a clip
 * opens, and times are shown to the digits that tell a clip apart.
 * Screenshots go to test-artifacts/.
 * Chromium must be installed; SONOTILE_SKIP_BROWSER=1 skips the suite on purpose.
 */
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { type BrowserContext, type Page, type Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { resolveRoots } from "../src/store/paths.js";
import { createToken } from "../src/store/tokens.js";
import { putFeatureValues } from "../src/store/features.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { TileService } from "../src/tiles/service.js";
import { dropFile, launchChromium, SKIP_BROWSER } from "./browser.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

if (SKIP_BROWSER) console.warn("test/web-clip-panel.test.ts skipped: SONOTILE_SKIP_BROWSER=1");

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = join(ROOT, "test-artifacts");

let t: TestDatabase;
let app: App;
let tiles: TileService;
let audio: { path: string; remove(): Promise<void> };
let profile: { path: string; remove(): Promise<void> };
let context: BrowserContext;
let page: Page;
let base: string;
let adminKey: string;
let adminId: string;
/** A viewer's key: it reads, and every write is refused (403). */
let viewerKey: string;
/** A member's key (mia): she changes her own notes, not the admin's. */
let memberKey: string;
let memberId: string;
/** Another member's key (ben): he tags and notes mia's clips, and may not move or delete them. */
let otherMemberKey: string;
let datasetId: string;
/** The recordings made so far: each test annotates one of its own. */
let recordings = 0;

interface Clip { id: string; recording_id: string; start_time: number; end_time: number; low_freq: number | null; high_freq: number | null; features: { name: string; value: number | null }[]; tags: { key: string; value: string }[]; notes: { message: string; is_issue: boolean; created_by: string | null; created_at: string }[]; state: string; created_by: string | null }

/** As the admin, through the API: the answer's JSON (a 2xx asserted). */
async function call(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, payload?: object) {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${adminKey}` }, ...(payload ? { payload } : {}) });
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.body ? res.json() : null;
}

/** The clip as the server holds it now (null once deleted). */
async function held(id: string): Promise<Clip | null> {
  const res = await app.inject({ url: `/v1/clips/${id}` });
  return res.statusCode === 404 ? null : res.json();
}

/**
 * A 2 s recording of its own (48 kHz: Nyquist 24 kHz), with clips at `spans` (s; and Hz, a box)
 * created with `creatorKey`: opened in the page with `key` as its token and the link's `params`
 * (SPEC §2, "&name=value…"), its clips drawn.
 */
async function openWithClips(spans: ([number, number] | [number, number, number | null, number | null])[], key = adminKey, params = "", creatorKey = adminKey): Promise<{ recordingId: string; clips: Clip[] }> {
  const path = `r${++recordings}.wav`;
  await writeSineWav(join(audio.path, "panel", path), 48000, 2, 3000);
  const rec = await call("POST", "/v1/recordings", { dataset_id: datasetId, path });
  const clips: Clip[] = [];
  for (const [start_time, end_time, low_freq, high_freq] of spans) {
    const res = await app.inject({ method: "POST", url: "/v1/clips", headers: { authorization: `Bearer ${creatorKey}` }, payload: { recording_id: rec.id, start_time, end_time, low_freq, high_freq } });
    expect(res.statusCode, res.body).toBe(201);
    clips.push(res.json());
  }
  await page.goto(`${base}/?${path}#recording=${rec.id}${params}`);
  await enterToken(key);
  // Its view drawn and its clips listed: with none, no count of boxes waits for the view.
  await expect.poll(() => page.getAttribute("#clip-count", "data-count")).toBe(String(spans.length));
  await expect.poll(() => page.locator("#clips div").count()).toBe(spans.length);
  await expect.poll(() => page.locator("#clip-list button").count()).toBe(spans.length);
  return { recordingId: rec.id, clips };
}

/** Clicks the plot at real time `seconds`, in its middle row (or at `height`, a fraction of the plot's from the top). */
async function clickAt(seconds: number, height = 0.5) {
  const v = JSON.parse((await page.getAttribute("#plot", "data-view"))!) as { start: number; end: number };
  const box = (await page.locator("#plot").boundingBox())!;
  await page.mouse.click(box.x + ((seconds - v.start) / (v.end - v.start)) * box.width, box.y + box.height * height);
}

/** The panel's title once it shows clip `c` (its band to the Hz, if it has one). */
async function panelShows(c: { start_time: number; end_time: number; low_freq?: number | null; high_freq?: number | null }) {
  // Visible first: a panel closed keeps its last title, and opens once the clip is fetched.
  await expect.poll(() => page.isVisible("#clip-panel")).toBe(true);
  const band = c.low_freq != null && c.high_freq != null ? `, ${Math.round(c.low_freq)}–${Math.round(c.high_freq)} Hz` : "";
  await expect.poll(() => page.textContent("#clip-panel-title")).toBe(`Clip ${c.start_time.toFixed(4)}–${c.end_time.toFixed(4)} s${band}`);
}

const status = () => page.textContent("#status");
/** Whether clip `id`'s box is drawn as selected. */
const selected = (id: string) => page.$eval(`#clips div[data-clip-id="${id}"]`, (d) => d.classList.contains("selected"));
/** Whether Clip selection and Import selections… are enabled, and their tooltips. */
const offered = () => Promise.all(["#clip-selection", "#import-selections"].map(async (sel) => [await page.isEnabled(sel), await page.getAttribute(sel, "title")]));
/** Why a viewer's token (vera's) creates and imports no clip. */
/** The line under the panel's title: whose the clip is, and why the panel offers less than every change. */
const creator = () => page.textContent("#clip-panel-creator");
/** Whether the panel shows its controls of a change: Move clip, Delete clip…, and the tag and note forms. */
const controls = () => Promise.all(["#clip-panel-bounds", "#clip-panel-delete", "#clip-panel-tag-form", "#clip-panel-note-form"].map((sel) => page.isVisible(sel)));
/** offered() while a member may create and import clips in the recording. */
const clipNow = () => [[true, expect.stringMatching(/^Create a clip of the selection/)], [true, expect.stringMatching(/^Import a Raven selection table/)]];
const viewerWhy = "vera's token is a viewer's, which can only read: enter a member's API token at the top to create or import clips";
/** The page once token `key` is entered (none: the field emptied). */
async function enterToken(key: string) {
  await page.fill("#token", key);
  await page.dispatchEvent("#token", "change");
}
/** A Raven selection table of one selection, 0.2–0.5 s over 1–3 kHz. */
const ONE_SELECTION = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n1\tSpectrogram 1\t1\t0.2\t0.5\t1000\t3000\n";
/** Collects the URLs of the requests `method` the page sends from now until the returned function, which stops and gives them. */
function requestsSent(method: string): () => string[] {
  const urls: string[] = [];
  const listen = (r: Request) => { if (r.method() === method) urls.push(r.url()); };
  page.on("request", listen);
  return () => { page.off("request", listen); return urls; };
}

/**
 * Holds the page's requests of the recording `id` (GET /v1/recordings/{id}) until `release()`:
 * `asked` settles as the first is held. Once released, one the page dropped meanwhile is let go.
 */
async function holdRecording(id: string): Promise<{ isHeld: (url: URL) => boolean; asked: Promise<void>; release: () => void }> {
  const isHeld = (url: URL) => url.pathname === `/v1/recordings/${id}`;
  let held!: () => void, release!: () => void;
  const asked = new Promise<void>((resolve) => (held = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(isHeld, async (route) => {
    held();
    await released;
    await route.continue().catch(() => { /* the page dropped it */ });
  });
  return { isHeld, asked, release };
}

/** Selects a stretch from the plot's middle by the keyboard — [, Shift+→ four times, ] — leaving the focus on the plot. */
async function markSelection() {
  await page.focus("#plot");
  await page.keyboard.press("[");
  for (let i = 0; i < 4; i++) await page.keyboard.press("Shift+ArrowRight");
  await page.keyboard.press("]");
}

/** The focused element: a listed clip's id for its button, else the element's id. */
const focusedId = () => page.evaluate(() => (document.activeElement as HTMLElement).dataset.clipId ?? document.activeElement!.id);

describe.skipIf(SKIP_BROWSER)("the viewer's clip panel in Chromium", () => {
  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, "scripts", "build_web.mjs")]);
    t = await freshDatabase();
    const admin = (await ensureAdmin(t.db.sql))!;
    adminKey = admin.key;
    adminId = admin.user.id;
    const viewer = await createUser(t.db.sql, { username: "vera", name: "Vera", role: "viewer" });
    viewerKey = (await createToken(t.db.sql, { user_id: viewer.id, name: "vera", created_by: null })).key;
    memberId = (await createUser(t.db.sql, { username: "mia", name: "Mia" })).id;
    memberKey = (await createToken(t.db.sql, { user_id: memberId, name: "mia", created_by: null })).key;
    const ben = await createUser(t.db.sql, { username: "ben", name: "Ben" });
    otherMemberKey = (await createToken(t.db.sql, { user_id: ben.id, name: "ben", created_by: null })).key;
    audio = await tempDir();
    await mkdir(join(audio.path, "panel"));
    await mkdir(ARTIFACTS, { recursive: true });
    const [root] = await resolveRoots([audio.path]);
    tiles = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql) });
    app = await buildApp({ database: t.db, audioRoots: [root], tiles });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    datasetId = (await call("POST", "/v1/datasets", { name: "panel", audio_dir: join(root, "panel") })).id;
    profile = await tempDir("sonotile-chromium-");
    ({ context, page } = await launchChromium(profile.path));
  });

  afterAll(async () => {
    await context?.close();
    await app?.close();
    await tiles?.close();
    await t?.cleanup();
    await audio?.remove();
    await profile?.remove();
  });

  it("selects a clip by a click on its box and tags it — from the tags in use, completed, and a new one — then untags it", async () => {
    // Tags in use: on another clip of the recording, and in the server's vocabulary.
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1.2, 1.6]]);
    await call("POST", `/v1/clips/${b.id}/tags`, { key: "species", value: "Pipistrellus pygmaeus" });
    await call("POST", "/v1/tags", { key: "species", value: "Myotis daubentonii" });
    // Back from another tab, the page fetches its clips, b's tag with them.
    const refetched = page.waitForResponse((r) => r.url().includes(`/v1/clips?recording_id=`));
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await refetched;
    await clickAt(0.35);
    await panelShows(a);
    // Its box drawn as selected, its button in the list pressed; its bounds in the fields.
    expect(await selected(a.id)).toBe(true);
    expect(await page.getAttribute(`#clip-list button[data-clip-id="${a.id}"]`, "aria-pressed")).toBe("true");
    expect(await selected(b.id)).toBe(false);
    expect([await page.inputValue("#clip-panel-start"), await page.inputValue("#clip-panel-end")]).toEqual(["0.2", "0.5"]);
    expect(await page.textContent("#clip-panel-tags")).toBe("No tags.");

    // The controls are found by their labels.
    const key = page.getByRole("combobox", { name: "tag key" }), value = page.getByRole("combobox", { name: "value" });
    await key.focus();
    await expect.poll(() => page.$$eval("#clip-panel-tag-keys option", (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["species"]);
    await key.fill("species");
    await value.focus();
    await value.pressSequentially("p");
    // The recording's value first, then the vocabulary's that hold the text typed.
    await expect.poll(() => page.$$eval("#clip-panel-tag-values option", (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["Pipistrellus pygmaeus"]);
    await value.fill("Myo");
    await value.dispatchEvent("input");
    await expect.poll(() => page.$$eval("#clip-panel-tag-values option", (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["Pipistrellus pygmaeus", "Myotis daubentonii"]);
    await value.fill("Myotis daubentonii");
    await page.getByRole("button", { name: "Add tag" }).click();
    await expect.poll(async () => (await held(a.id))!.tags).toEqual([{ key: "species", value: "Myotis daubentonii" }]);
    await expect.poll(status).toBe("tag species: Myotis daubentonii added to clip 0.2000–0.5000 s");
    // A new tag, by Enter in the value field (the key stays for the next).
    expect(await key.inputValue()).toBe("species");
    await key.fill("quality");
    await value.fill("faint ");
    await value.press("Enter");
    await expect.poll(async () => (await held(a.id))!.tags).toEqual([{ key: "quality", value: "faint" }, { key: "species", value: "Myotis daubentonii" }]);
    await expect.poll(() => page.locator("#clip-panel-tags li .tag").allTextContents()).toEqual(["quality: faint", "species: Myotis daubentonii"]);

    await page.getByRole("button", { name: "Remove tag species: Myotis daubentonii" }).click();
    await expect.poll(async () => (await held(a.id))!.tags).toEqual([{ key: "quality", value: "faint" }]);
    await expect.poll(() => page.locator("#clip-panel-tags li .tag").allTextContents()).toEqual(["quality: faint"]);
    expect(await status()).toBe("tag species: Myotis daubentonii removed from clip 0.2000–0.5000 s");
    // The focus on the next tag's button left (the last one's: none after it).
    expect(await page.evaluate(() => document.activeElement!.getAttribute("aria-label"))).toBe("Remove tag quality: faint");
    expect((await held(b.id))!.tags).toEqual([{ key: "species", value: "Pipistrellus pygmaeus" }]);
  });

  it("writes notes on a clip, an issue among them, listed with author and time", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    await clickAt(0.6);
    await panelShows(a);
    expect(await page.textContent("#clip-panel-notes")).toBe("No notes.");
    await page.getByRole("textbox", { name: "note" }).fill("two calls overlap\nthe second is faint");
    await page.getByRole("button", { name: "Add note" }).click();
    await expect.poll(async () => (await held(a.id))!.notes.length).toBe(1);
    await expect.poll(() => page.locator("#clip-panel-notes .message").count()).toBe(1); // the field emptied for the next
    await page.getByRole("textbox", { name: "note" }).fill("clipped at the start?");
    await page.getByRole("checkbox", { name: "an issue" }).check();
    await page.getByRole("button", { name: "Add note" }).click();
    await expect.poll(async () => (await held(a.id))!.notes.length).toBe(2);
    const notes = (await held(a.id))!.notes;
    expect(notes.map((n) => [n.message, n.is_issue, n.created_by])).toEqual([["two calls overlap\nthe second is faint", false, adminId], ["clipped at the start?", true, adminId]]);
    // Listed oldest first: message, issue, author's name and the time the server gave.
    // The author's username, as the note carries it (every reader sees it; a name needed a token to read the user).
    await expect.poll(() => page.locator("#clip-panel-notes .author").allTextContents()).toEqual(["admin", "admin"]);
    expect(await page.locator("#clip-panel-notes .message").allTextContents()).toEqual(["two calls overlap\nthe second is faint", "clipped at the start?"]);
    expect(await page.locator("#clip-panel-notes li").evaluateAll((lis) => lis.map((li) => li.querySelector(".issue") !== null))).toEqual([false, true]);
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-panel-notes.png") });
    expect(await page.locator("#clip-panel-notes time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")))).toEqual(notes.map((n) => n.created_at));
    expect(await page.textContent("#clip-panel-note-count")).toBe("(2)");
    expect(await page.inputValue("#clip-panel-note")).toBe("");
    expect(await page.isChecked("#clip-panel-issue")).toBe(false);
  });

  it("lists a note once when the panel was refreshed, or closed and opened again, while it was being added — it was listed twice, or said not added though saved", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    await clickAt(0.6);
    await panelShows(a);
    // The POST's answer held back once the server has saved the note, until released.
    let saved!: () => void, release!: () => void;
    const holdNote = () => [new Promise<void>((r) => (saved = r)), new Promise<void>((r) => (release = r))] as const;
    let [isSaved, released] = holdNote();
    await page.route("**/v1/notes", async (route) => {
      const response = await route.fetch();
      saved();
      await released;
      await route.fulfill({ response });
    });
    const addNote = async (message: string) => {
      await page.getByRole("textbox", { name: "note" }).fill(message);
      await page.getByRole("button", { name: "Add note" }).click();
      await isSaved;
    };
    const clipFetched = () => page.waitForResponse((r) => r.url().endsWith(`/v1/clips/${a.id}`) && r.request().method() === "GET");
    const messages = () => page.locator("#clip-panel-notes .message").allTextContents();

    // Back from another tab before the answer: the refresh lists the note, which the answer appended again.
    await addNote("first");
    let fetched = clipFetched();
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await fetched;
    await expect.poll(messages).toEqual(["first"]);
    fetched = clipFetched();
    release();
    await expect.poll(() => page.inputValue("#clip-panel-note")).toBe(""); // the answer taken
    expect(await messages()).toEqual(["first"]);
    await fetched; // the clip as the server has it after the answer
    expect(await messages()).toEqual(["first"]);
    expect(await status()).toBe("note added to clip 0.4000–0.9000 s");

    // Closed and opened again, its clip not yet fetched when the answer comes: said not added, though saved.
    [isSaved, released] = holdNote();
    await addNote("second");
    await page.focus("#plot");
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    let releaseClip!: () => void;
    const clipReleased = new Promise<void>((r) => (releaseClip = r));
    await page.route(`**/v1/clips/${a.id}`, async (route) => {
      await clipReleased;
      await route.continue();
    });
    const reopened = page.waitForRequest((r) => r.url().endsWith(`/v1/clips/${a.id}`));
    await clickAt(0.6);
    await reopened;
    await page.evaluate(() => (document.getElementById("status")!.textContent = ""));
    release();
    await expect.poll(status).toBe("note added to clip 0.4000–0.9000 s");
    releaseClip();
    await panelShows(a);
    await expect.poll(messages).toEqual(["first", "second"]);
    await page.unroute(`**/v1/clips/${a.id}`);
    await page.unroute("**/v1/notes");
    expect((await held(a.id))!.notes.map((n) => n.message)).toEqual(["first", "second"]);
  });

  it("shows a note's author by username to a reader without a token, as to one with a token", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]], "");
    await call("POST", "/v1/notes", { clip_id: a.id, message: "seen" });
    const anonymous = await app.inject({ url: `/v1/users/${adminId}`, remoteAddress: "192.0.2.7" });
    expect(anonymous.statusCode).toBe(401); // what the page had to ask: beyond loopback a user is read with a token only
    await clickAt(0.6);
    await panelShows(a);
    expect(await page.locator("#clip-panel-notes .author").allTextContents()).toEqual(["admin"]);
    await enterToken(viewerKey);
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await expect.poll(() => page.locator("#clip-panel-notes .author").allTextContents()).toEqual(["admin"]);
  });

  /** The list item of note `id` among the clip's active notes, or under Archived or Trashed notes (`hidden`). */
  const noteItem = (id: string, hidden?: "archived" | "trashed") => page.locator(`#clip-panel-${hidden ? `${hidden}-` : ""}notes li[data-note-id="${id}"]`);
  /** The note as the server holds it now. */
  const heldNote = async (id: string): Promise<{ message: string; is_issue: boolean; state: string }> => call("GET", `/v1/notes/${id}`);
  /** What the focused element is in a note's item (its data-control: edit, message, restore…), else its id. */
  const focusedControl = () => page.evaluate(() => (document.activeElement as HTMLElement).dataset.control ?? document.activeElement!.id);
  const POLL = { timeout: 10_000 };

  it("edits a note's message and issue flag from the keyboard, Escape cancelling an edit, and a reload shows what was saved", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    const note = await call("POST", "/v1/notes", { clip_id: a.id, message: "one call" });
    await clickAt(0.6);
    await panelShows(a);
    const item = noteItem(note.id);
    await expect.poll(() => item.count(), POLL).toBe(1);
    await item.getByRole("button", { name: "Edit" }).focus();
    await page.keyboard.press("Enter");
    const message = item.getByRole("textbox", { name: "message" }), issue = item.getByRole("checkbox", { name: "an issue" });
    await expect.poll(focusedControl, POLL).toBe("message");
    expect([await message.inputValue(), await issue.isChecked()]).toEqual(["one call", false]);
    // Blank: said, nothing sent.
    await message.fill("  \n ");
    await item.getByRole("button", { name: "Save" }).click();
    await expect.poll(status, POLL).toBe("note not saved: write its message first");
    // Escape ends the edit, not the panel: the note as it was, the focus back on its Edit button.
    await message.fill("changed my mind");
    await message.press("Escape");
    await expect.poll(() => item.locator("textarea").count(), POLL).toBe(0);
    expect(await page.isVisible("#clip-panel")).toBe(true);
    expect(await item.locator(".message").textContent()).toBe("one call");
    expect(await focusedControl()).toBe("edit");
    expect((await heldNote(note.id)).message).toBe("one call");

    await page.keyboard.press("Enter");
    await expect.poll(focusedControl, POLL).toBe("message");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("two calls\nthe second faint");
    await page.keyboard.press("Tab");
    expect(await focusedControl()).toBe("is_issue");
    await page.keyboard.press("Space");
    await page.keyboard.press("Tab");
    expect(await focusedControl()).toBe("save");
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-panel-note-edit.png") });
    await page.keyboard.press("Enter");
    await expect.poll(async () => { const n = await heldNote(note.id); return [n.message, n.is_issue]; }, POLL).toEqual(["two calls\nthe second faint", true]);
    await expect.poll(status, POLL).toBe("note edited on clip 0.4000–0.9000 s");
    await expect.poll(() => item.locator(".message").textContent(), POLL).toBe("two calls\nthe second faint");
    expect(await item.locator(".issue").count()).toBe(1);
    expect(await focusedControl()).toBe("edit");

    await page.reload();
    await expect.poll(() => page.locator("#clips div").count(), POLL).toBe(1);
    await clickAt(0.6);
    await panelShows(a);
    await expect.poll(() => noteItem(note.id).locator(".message").textContent(), POLL).toBe("two calls\nthe second faint");
    expect(await noteItem(note.id).locator(".issue").textContent()).toBe("issue");
    expect(await page.textContent("#clip-panel-note-count")).toBe("(1)");
  });

  it("shows another's note read-only to a member and to a viewer, changeable by its author and an admin, and says on the status line why the server refuses a change", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]], memberKey);
    const admins = await call("POST", "/v1/notes", { clip_id: a.id, message: "the admin's" });
    const mine = (await app.inject({ method: "POST", url: "/v1/notes", headers: { authorization: `Bearer ${memberKey}` }, payload: { clip_id: a.id, message: "mia's" } })).json();
    await clickAt(0.6);
    await panelShows(a);
    const buttons = (id: string) => noteItem(id).getByRole("button").allTextContents();
    await expect.poll(() => buttons(mine.id), POLL).toEqual(["Edit", "Archive", "Trash…"]);
    expect(await buttons(admins.id)).toEqual([]);
    // A viewer changes none; an admin every one; none without a token. The panel follows the token entered.
    for (const [key, mayChange] of [[viewerKey, []], [adminKey, ["Edit", "Archive", "Trash…"]], ["", []]] as const) {
      await enterToken(key);
      await expect.poll(() => Promise.all([buttons(mine.id), buttons(admins.id)]), POLL).toEqual([mayChange, mayChange]);
    }
    await enterToken(memberKey);
    await expect.poll(() => Promise.all([buttons(mine.id), buttons(admins.id)]), POLL).toEqual([["Edit", "Archive", "Trash…"], []]);

    // Archived meanwhile (another tab): the edit is refused (409), said in red, and the panel lists
    // the clip's notes again at that: the note is under Archived notes, read-only — its form, whose
    // every Save was another 409, put away as typed: restored, it shows again (it was dropped).
    await noteItem(mine.id).getByRole("button", { name: "Edit" }).click();
    await noteItem(mine.id).getByRole("textbox", { name: "message" }).fill("mia's, rewritten");
    await app.inject({ method: "POST", url: `/v1/notes/${mine.id}/archive`, headers: { authorization: `Bearer ${memberKey}` } });
    await noteItem(mine.id).getByRole("button", { name: "Save" }).click();
    await expect.poll(status, POLL).toBe(`note not saved: note ${mine.id} is archived and read-only; restore it first`);
    expect(await page.getAttribute("#status", "class")).toBe("error");
    await expect.poll(() => noteItem(mine.id, "archived").count(), POLL).toBe(1);
    expect(await noteItem(mine.id).count()).toBe(0);
    expect(await status()).toBe(`note not saved: note ${mine.id} is archived and read-only; restore it first`);
    await call("POST", `/v1/notes/${mine.id}/restore`);
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await expect.poll(() => noteItem(mine.id).getByRole("textbox", { name: "message" }).inputValue().catch(() => null), POLL).toBe("mia's, rewritten");
    await noteItem(mine.id).getByRole("button", { name: "Cancel" }).click();
    await expect.poll(() => buttons(mine.id), POLL).toEqual(["Edit", "Archive", "Trash…"]);
    // Made a viewer since the panel showed her note: her archive is refused (403), the page says which token to give.
    await call("PATCH", `/v1/users/${memberId}`, { role: "viewer" });
    try {
      await noteItem(mine.id).getByRole("button", { name: "Archive" }).click();
      await expect.poll(status, POLL).toBe("note not archived: this needs the member role; user mia is viewer — mia's token is a viewer's, which can only read: enter a member's API token at the top");
    } finally {
      await call("PATCH", `/v1/users/${memberId}`, { role: "member" });
    }
    expect((await heldNote(mine.id)).state).toBe("active");
    expect((await heldNote(admins.id)).message).toBe("the admin's");
  });

  it("archives a note — listed collapsed under Archived notes, marked and read-only — and restores it, from the keyboard", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    const kept = await call("POST", "/v1/notes", { clip_id: a.id, message: "kept" });
    const note = await call("POST", "/v1/notes", { clip_id: a.id, message: "superseded", is_issue: true });
    await clickAt(0.6);
    await panelShows(a);
    await expect.poll(() => page.locator("#clip-panel-notes .message").allTextContents(), POLL).toEqual(["kept", "superseded"]);
    expect(await page.isVisible("#clip-panel-archived")).toBe(false); // none archived
    await noteItem(note.id).getByRole("button", { name: "Archive" }).focus();
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await heldNote(note.id)).state, POLL).toBe("archived");
    await expect.poll(status, POLL).toBe("note archived on clip 0.4000–0.9000 s: read-only, listed under Archived notes");
    await expect.poll(() => page.locator("#clip-panel-notes .message").allTextContents(), POLL).toEqual(["kept"]);
    expect(await page.textContent("#clip-panel-note-count")).toBe("(1)");
    // Collapsed, its summary focused and counting it.
    expect(await page.textContent("#clip-panel-archived summary")).toBe("Archived notes (1)");
    expect(await page.$eval("#clip-panel-archived", (d) => (d as HTMLDetailsElement).open)).toBe(false);
    expect(await noteItem(note.id, "archived").isVisible()).toBe(false);
    expect(await focusedControl()).toBe("clip-panel-archived-summary");
    await page.keyboard.press("Enter");
    await expect.poll(() => noteItem(note.id, "archived").isVisible(), POLL).toBe(true);
    // Marked archived, with its message and flag, and nothing to change but Restore.
    const archived = noteItem(note.id, "archived");
    expect(await archived.getAttribute("class")).toBe("archived");
    expect(await archived.locator(".message").textContent()).toBe("superseded");
    expect(await archived.locator("small").textContent()).toMatch(/^archived · issue · admin · /);
    expect(await archived.getByRole("button").allTextContents()).toEqual(["Restore"]);
    expect(await archived.locator("textarea, input").count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-panel-archived-note.png") });
    await page.keyboard.press("Tab");
    expect(await focusedControl()).toBe("restore");
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await heldNote(note.id)).state, POLL).toBe("active");
    await expect.poll(() => page.locator("#clip-panel-notes .message").allTextContents(), POLL).toEqual(["kept", "superseded"]);
    expect(await status()).toBe("note restored on clip 0.4000–0.9000 s");
    expect(await page.isVisible("#clip-panel-archived")).toBe(false);
    expect(await noteItem(note.id).getByRole("button").allTextContents()).toEqual(["Edit", "Archive", "Trash…"]);
    expect(await page.evaluate(() => document.activeElement!.closest("li")?.dataset.noteId)).toBe(note.id);
    expect(await focusedControl()).toBe("edit");
    expect((await heldNote(kept.id)).state).toBe("active");
  });

  it("trashes a note once the trash is confirmed, not when it is cancelled", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    const first = await call("POST", "/v1/notes", { clip_id: a.id, message: "first" });
    const note = await call("POST", "/v1/notes", { clip_id: a.id, message: "a wrong guess:\nnot a bat at all, a cricket" });
    await clickAt(0.6);
    await panelShows(a);
    await expect.poll(() => noteItem(note.id).count(), POLL).toBe(1);
    const asked: string[] = [];
    page.once("dialog", (d) => { asked.push(d.message()); void d.dismiss(); });
    await noteItem(note.id).getByRole("button", { name: "Trash…" }).click();
    expect(asked).toEqual(["Move the note “a wrong guess: not a bat at all, a cricket” to the trash? It is hidden at once, and deleted for good when the trash is purged."]);
    expect((await heldNote(note.id)).state).toBe("active");
    expect(await noteItem(note.id).count()).toBe(1);

    page.once("dialog", (d) => void d.accept());
    await noteItem(note.id).getByRole("button", { name: "Trash…" }).click();
    await expect.poll(async () => (await heldNote(note.id)).state, POLL).toBe("trashed");
    await expect.poll(() => page.locator("#clip-panel-notes .message").allTextContents(), POLL).toEqual(["first"]);
    expect(await status()).toBe("note trashed on clip 0.4000–0.9000 s: listed under Trashed notes, to restore until the trash is purged");
    expect(await page.isVisible("#clip-panel-archived")).toBe(false);
    expect(await page.textContent("#clip-panel-trashed summary")).toBe("Trashed notes (1)");
    // The focus on the note beside it.
    expect(await page.evaluate(() => document.activeElement!.closest("li")?.dataset.noteId)).toBe(first.id);
    expect((await held(a.id))!.notes.map((n) => n.message)).toEqual(["first"]);
  });

  it("lists a clip's trashed notes, collapsed, to their author and to an admin only, and restores one — the page could not bring a trashed note back", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]], memberKey);
    const asMia = { authorization: `Bearer ${memberKey}` };
    const write = async (message: string) => (await app.inject({ method: "POST", url: "/v1/notes", headers: asMia, payload: { clip_id: a.id, message } })).json();
    const admins = await call("POST", "/v1/notes", { clip_id: a.id, message: "the admin's, trashed" });
    await call("POST", `/v1/notes/${admins.id}/trash`);
    const mine = await write("mia's, trashed");
    await app.inject({ method: "POST", url: `/v1/notes/${mine.id}/trash`, headers: asMia });
    const kept = await write("mia's, kept");
    await clickAt(0.6);
    await panelShows(a);
    await expect.poll(() => page.locator("#clip-panel-notes .message").allTextContents(), POLL).toEqual(["mia's, kept"]);
    // Hers only (the admin's she may not restore), collapsed.
    await expect.poll(() => page.textContent("#clip-panel-trashed summary"), POLL).toBe("Trashed notes (1)");
    expect(await page.$eval("#clip-panel-trashed", (d) => (d as HTMLDetailsElement).open)).toBe(false);
    expect(await page.locator("#clip-panel-trashed-notes li").evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.noteId))).toEqual([mine.id]);
    expect(await page.isVisible("#clip-panel-trashed-more")).toBe(false);
    // A viewer and a reader without a token see none; an admin every one, newest first.
    for (const [key, listed] of [[viewerKey, null], ["", null], [adminKey, [mine.id, admins.id]]] as const) {
      await enterToken(key);
      if (listed === null) await expect.poll(() => page.isHidden("#clip-panel-trashed"), POLL).toBe(true);
      else await expect.poll(() => page.locator("#clip-panel-trashed-notes li").evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.noteId)), POLL).toEqual(listed);
    }
    expect(await page.textContent("#clip-panel-trashed summary")).toBe("Trashed notes (2)");
    await enterToken(memberKey);
    await expect.poll(() => page.textContent("#clip-panel-trashed summary"), POLL).toBe("Trashed notes (1)");

    // Trashed from the panel: listed there at once.
    page.once("dialog", (d) => void d.accept());
    await noteItem(kept.id).getByRole("button", { name: "Trash…" }).click();
    await expect.poll(() => page.textContent("#clip-panel-trashed summary"), POLL).toBe("Trashed notes (2)");
    expect(await status()).toBe("note trashed on clip 0.4000–0.9000 s: listed under Trashed notes, to restore until the trash is purged");
    expect(await page.textContent("#clip-panel-notes")).toBe("No notes.");
    await page.click("#clip-panel-trashed-summary");
    const trashed = noteItem(mine.id, "trashed");
    await expect.poll(() => trashed.isVisible(), POLL).toBe(true);
    expect(await trashed.getAttribute("class")).toBe("trashed");
    expect(await trashed.locator(".message").textContent()).toBe("mia's, trashed");
    expect(await trashed.locator("small").textContent()).toMatch(/^trashed · mia · /);
    expect(await trashed.getByRole("button").allTextContents()).toEqual(["Restore"]);
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-panel-trashed-note.png") });
    await trashed.getByRole("button", { name: "Restore" }).focus();
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await heldNote(mine.id)).state, POLL).toBe("active");
    await expect.poll(() => page.locator("#clip-panel-notes .message").allTextContents(), POLL).toEqual(["mia's, trashed"]);
    expect(await status()).toBe("note restored on clip 0.4000–0.9000 s");
    expect(await page.textContent("#clip-panel-trashed summary")).toBe("Trashed notes (1)");
    expect(await focusedControl()).toBe("edit");
    expect([(await heldNote(kept.id)).state, (await heldNote(admins.id)).state]).toEqual(["trashed", "trashed"]);

    // On an archived clip nothing is restored (409): the trashed notes are not listed.
    await call("POST", `/v1/clips/${a.id}/archive`);
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await expect.poll(() => page.isHidden("#clip-panel-trashed"), POLL).toBe(true);
    await call("POST", `/v1/clips/${a.id}/restore`);
  });

  it("pages through more archived notes than the panel asked for — 1001: it listed 1000 and counted 1000 — by Show more, newest first", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    // Note i written i seconds ago: newest first, "archived 1" to "archived 1001".
    await t.db.sql`INSERT INTO notes (message, clip_id, state, state_changed_at, created_at, created_by)
                   SELECT 'archived ' || i, ${a.id}, 'archived', now(), now() - i * interval '1 second', ${adminId} FROM generate_series(1, 1001) AS i`;
    await clickAt(0.6);
    await panelShows(a);
    await expect.poll(() => page.textContent("#clip-panel-archived summary"), POLL).toBe("Archived notes (1001)");
    const messages = () => page.locator("#clip-panel-archived-notes .message").allTextContents();
    const numbered = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `archived ${from + i}`);
    expect(await messages()).toEqual(numbered(1, 100));
    await page.click("#clip-panel-archived-summary");
    const more = page.locator("#clip-panel-archived-more");
    expect(await more.textContent()).toBe("Show 100 more (100 of 1001 listed)");
    await more.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-panel-archived-more.png") });
    await more.focus();
    for (let listed = 200; listed <= 1000; listed += 100) {
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#clip-panel-archived-notes li").count(), POLL).toBe(listed);
      expect(await focusedControl()).toBe("clip-panel-archived-more");
    }
    expect(await more.textContent()).toBe("Show 1 more (1000 of 1001 listed)");
    await page.keyboard.press("Enter");
    await expect.poll(messages, POLL).toEqual(numbered(1, 1001));
    expect(await more.isHidden()).toBe(true);
    expect(await focusedControl()).toBe("clip-panel-archived-summary");
    expect(await page.textContent("#clip-panel-archived summary")).toBe("Archived notes (1001)");
    // A refresh lists them again in one page, the API's largest: the last one is a Show more away again.
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await expect.poll(() => more.textContent(), POLL).toBe("Show 1 more (1000 of 1001 listed)");
    expect(await messages()).toEqual(numbered(1, 1000));
  });

  it("keeps the notes a Show more listed while a refresh was on its way: the refresh asked for fewer, and is asked again", async () => {
    const { clips: [a] } = await openWithClips([[0.4, 0.9]]);
    await t.db.sql`INSERT INTO notes (message, clip_id, state, state_changed_at, created_at, created_by)
                   SELECT 'archived ' || i, ${a.id}, 'archived', now(), now() - i * interval '1 second', ${adminId} FROM generate_series(1, 150) AS i`;
    await clickAt(0.6);
    await panelShows(a);
    await page.click("#clip-panel-archived-summary");
    const listed = () => page.locator("#clip-panel-archived-notes li").count();
    expect(await listed()).toBe(100);
    // The refresh (the window's focus) asks for 100 and is held on its clip; Show more lists 150 meanwhile.
    let releaseClip!: () => void;
    const clipReleased = new Promise<void>((r) => (releaseClip = r));
    await page.route(`**/v1/clips/${a.id}`, async (route) => {
      await clipReleased;
      await route.continue();
    });
    const refreshing = page.waitForRequest((r) => r.url().endsWith(`/v1/clips/${a.id}`));
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await refreshing;
    await page.click("#clip-panel-archived-more");
    await expect.poll(listed, POLL).toBe(150);
    const askedAgain = page.waitForRequest((r) => r.url().includes("/v1/notes?") && r.url().includes("limit=150"));
    releaseClip();
    await askedAgain;
    await page.unroute(`**/v1/clips/${a.id}`);
    await panelShows(a);
    await expect.poll(() => page.locator("#clip-panel-archived-notes .message").allTextContents(), POLL)
      .toEqual(Array.from({ length: 150 }, (_, i) => `archived ${i + 1}`));
    expect(await page.isHidden("#clip-panel-archived-more")).toBe(true);
  });

  it("selects the clip a selection is the range of, not creating its twin: Enter after a click on a clip, and Clip selection", async () => {
    const { recordingId, clips: [a] } = await openWithClips([[0.2, 0.5]]);
    await clickAt(0.3);
    await panelShows(a);
    expect(await page.textContent("#selection-range")).toBe("0.2000–0.5000 s"); // its range selected, to play
    await page.focus("#plot");
    await page.keyboard.press("Enter");
    const already = "no clip created: the recording has the clip 0.2000–0.5000 s already — selected";
    await expect.poll(status).toBe(already);
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    await page.click("#clip-selection");
    await panelShows(a);
    await expect.poll(() => selected(a.id)).toBe(true);
    const listing = await call("GET", `/v1/clips?recording_id=${recordingId}`);
    expect(listing.items.map((c: Clip) => [c.id, c.start_time, c.end_time])).toEqual([[a.id, 0.2, 0.5]]);
    expect(await page.locator("#clips div").count()).toBe(1);
  });

  it("makes a box's selection its clip: Clip selection and Enter select the box drawn, or a box clicked, creating no time-only twin and no job; Shift makes that twin on purpose", async () => {
    const { recordingId } = await openWithClips([]);
    await expect.poll(async () => JSON.parse((await page.getAttribute("#plot", "data-view")) ?? "null")).not.toBeNull();
    const v = JSON.parse((await page.getAttribute("#plot", "data-view"))!) as { start: number; end: number };
    const plot = (await page.locator("#plot").boundingBox())!;
    const x = (s: number) => plot.x + ((s - v.start) / (v.end - v.start)) * plot.width;
    await page.keyboard.down("Shift");
    await page.mouse.move(x(1.1), plot.y + plot.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(x(1.5), plot.y + plot.height * 0.6, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up("Shift");
    const clipsHeld = async () => (await call("GET", `/v1/clips?recording_id=${recordingId}`)).items as Clip[];
    await expect.poll(async () => (await clipsHeld()).length).toBe(1);
    const [box] = await clipsHeld();
    expect(box.low_freq).not.toBeNull();
    await panelShows(box);
    const range = `${box.start_time.toFixed(4)}–${box.end_time.toFixed(4)} s`;
    expect(await page.textContent("#selection-range")).toBe(range);
    // The walk's user: Clip selection taken for "confirm the box" made a band-less twin of every box, each with its own features job.
    const posted: string[] = [];
    const onRequest = (r: Request) => { if (r.method() === "POST") posted.push(new URL(r.url()).pathname); };
    page.on("request", onRequest);
    const already = (c: Clip) => `no clip created: the recording has the clip ${bounds(c)} already — selected`;
    const bounds = (c: Clip) => `${c.start_time.toFixed(4)}–${c.end_time.toFixed(4)} s${c.low_freq === null ? "" : `, ${Math.round(c.low_freq)}–${Math.round(c.high_freq!)} Hz`}`;
    await page.click("#clip-selection");
    await expect.poll(status).toBe(already(box));
    await panelShows(box);
    await page.focus("#plot");
    await page.keyboard.press("Enter");
    // A box clicked (the panel closed first): its selection is that clip too.
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    await clickAt(1.3, 0.45);
    await panelShows(box);
    await page.click("#clip-selection");
    await page.waitForTimeout(300);
    expect(posted).toEqual([]);
    expect((await clipsHeld()).map((c) => c.id)).toEqual([box.id]);
    expect(await page.locator("#clips div").count()).toBe(1);
    // On purpose, with Shift: a clip of the selection's times over the whole band, its features computed.
    await page.click("#clip-selection", { modifiers: ["Shift"] });
    await expect.poll(async () => (await clipsHeld()).length).toBe(2);
    const twin = (await clipsHeld()).find((c) => c.id !== box.id)!;
    expect([twin.start_time, twin.end_time, twin.low_freq, twin.high_freq]).toEqual([box.start_time, box.end_time, null, null]);
    await panelShows(twin);
    await expect.poll(() => posted).toEqual(["/v1/clips", "/v1/jobs"]);
    // Its selection is the twin's now; Shift again finds it: neither makes a third.
    await page.click("#clip-selection");
    await expect.poll(status).toBe(already(twin));
    await page.focus("#plot");
    await page.keyboard.press("Shift+Enter");
    await page.waitForTimeout(300);
    page.off("request", onRequest);
    expect(posted).toEqual(["/v1/clips", "/v1/jobs"]);
    expect((await clipsHeld()).length).toBe(2);
  });

  it("opens the panel on a clip just drawn, to tag it at once, the focus left on the plot", async () => {
    const { recordingId } = await openWithClips([]);
    const v = JSON.parse((await page.getAttribute("#plot", "data-view"))!) as { start: number; end: number };
    const box = (await page.locator("#plot").boundingBox())!;
    const x = (s: number) => box.x + ((s - v.start) / (v.end - v.start)) * box.width;
    await page.keyboard.down("Shift");
    await page.mouse.move(x(1.1), box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(x(1.3), box.y + box.height * 0.6, { steps: 5 });
    await page.mouse.move(x(1.5), box.y + box.height * 0.7, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up("Shift");
    await expect.poll(async () => (await call("GET", `/v1/clips?recording_id=${recordingId}`)).total).toBe(1);
    const [made] = (await call("GET", `/v1/clips?recording_id=${recordingId}`)).items as Clip[];
    // A box drawn from 30 % to 70 % of the plot's height over 0–24 kHz: a clip of that band.
    expect(made.low_freq! / 24000).toBeCloseTo(0.3, 1);
    expect(made.high_freq! / 24000).toBeCloseTo(0.7, 1);
    await panelShows(made);
    expect(await selected(made.id)).toBe(true);
    expect(await focusedId()).toBe("plot");
    await page.getByRole("combobox", { name: "tag key" }).fill("call");
    await page.getByRole("combobox", { name: "value" }).fill("echolocation");
    await page.getByRole("button", { name: "Add tag" }).click();
    await expect.poll(async () => (await held(made.id))!.tags).toEqual([{ key: "call", value: "echolocation" }]);

    // From the keyboard: a range marked with [ and ] (the view moved between them), Enter: the new
    // clip's panel, the focus still on the plot — Escape closes the panel there.
    await page.focus("#plot");
    await page.keyboard.press("+");
    await page.keyboard.press("Home");
    await page.keyboard.press("[");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("]");
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await call("GET", `/v1/clips?recording_id=${recordingId}`)).total).toBe(2);
    const second = ((await call("GET", `/v1/clips?recording_id=${recordingId}&sort=start_time&order=asc`)).items as Clip[])[0];
    await panelShows(second);
    expect(await focusedId()).toBe("plot");
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    expect(await focusedId()).toBe("plot");
  });

  it("clamps a box drawn over a plot resampled above the recording's rate to its Nyquist frequency, makes none of a box wholly above it, and names the band of a clip it has already", async () => {
    // Resampled to 96 kHz, the plot shows 0–48 kHz of a recording whose Nyquist frequency is 24 kHz.
    const { recordingId } = await openWithClips([], adminKey, "&resample=true&samplerate=96000");
    await expect.poll(async () => JSON.parse((await page.getAttribute("#plot", "data-view")) ?? "null")).not.toBeNull();
    const v = JSON.parse((await page.getAttribute("#plot", "data-view"))!) as { start: number; end: number };
    const plot = (await page.locator("#plot").boundingBox())!;
    const x = (s: number) => plot.x + ((s - v.start) / (v.end - v.start)) * plot.width;
    /** Shift-draws a box from [t0 s, y0] to [t1 s, y1] (fractions of the plot's height from its top). */
    const draw = async (t0: number, y0: number, t1: number, y1: number) => {
      await page.keyboard.down("Shift");
      await page.mouse.move(x(t0), plot.y + plot.height * y0);
      await page.mouse.down();
      await page.mouse.move(x(t1), plot.y + plot.height * y1, { steps: 5 });
      await page.mouse.up();
      await page.keyboard.up("Shift");
    };
    const posted: string[] = [];
    const onRequest = (r: Request) => { if (r.method() === "POST" && new URL(r.url()).pathname === "/v1/clips") posted.push(r.url()); };
    page.on("request", onRequest);
    const clipsHeld = async () => (await call("GET", `/v1/clips?recording_id=${recordingId}`)).items as Clip[];

    // 10–30 % of the height: about 33.6–43.2 kHz, wholly above 24 kHz: said, nothing posted.
    await draw(0.2, 0.1, 0.6, 0.3);
    await expect.poll(() => page.textContent("#clip-info")).toBe("no clip created: the box lies above the recording's Nyquist frequency (24000 Hz)");
    await page.waitForTimeout(300);
    page.off("request", onRequest);
    expect(posted).toEqual([]);
    expect(await clipsHeld()).toEqual([]);

    // 40–70 % of the height: about 14.4–28.8 kHz: a clip of 14.4–24 kHz.
    await draw(1.1, 0.4, 1.5, 0.7);
    await expect.poll(async () => (await clipsHeld()).length).toBe(1);
    const [made] = await clipsHeld();
    expect(made.low_freq! / 48000).toBeCloseTo(0.3, 1);
    expect(made.high_freq).toBe(24000);
    await panelShows(made);

    // The same box again: that clip selected, its band named, no twin made.
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    await draw(1.1, 0.4, 1.5, 0.7);
    await expect.poll(status).toBe(`no clip created: the recording has the clip ${made.start_time.toFixed(4)}–${made.end_time.toFixed(4)} s, ${Math.round(made.low_freq!)}–24000 Hz already — selected`);
    await panelShows(made);
    expect((await clipsHeld()).map((c) => c.id)).toEqual([made.id]);
  });

  it("completes tag keys and values with the dataset's tags before the rest of the vocabulary, matching the text typed in keys", async () => {
    // Another recording of the dataset carries a tag no clip in view does; the vocabulary has others.
    const elsewhere = await openWithClips([[0.1, 0.3]]);
    await call("POST", `/v1/recordings/${elsewhere.recordingId}/tags`, { key: "habitat", value: "riparian woodland" });
    await call("POST", "/v1/tags", { key: "habitat", value: "beech woodland" });
    await call("POST", "/v1/tags", { key: "haberdashery", value: "hats" });
    const { clips: [a] } = await openWithClips([[0.2, 0.5]]);
    await clickAt(0.3);
    await panelShows(a);
    const key = page.getByRole("combobox", { name: "tag key" }), value = page.getByRole("combobox", { name: "value" });
    const options = (list: string) => page.$$eval(`#${list} option`, (os) => os.map((o) => (o as HTMLOptionElement).value));
    await key.focus();
    await key.pressSequentially("HAB");
    // The keys holding the text typed: the dataset's first, then the vocabulary's (by key, it put haberdashery first).
    await expect.poll(() => options("clip-panel-tag-keys")).toEqual(["habitat", "haberdashery"]);
    await key.fill("habitat");
    await value.focus();
    await value.pressSequentially("wood");
    await expect.poll(() => options("clip-panel-tag-values")).toEqual(["riparian woodland", "beech woodland"]);
  });

  it("fetches the tags in use once for the completion and narrows them as one types, again after the window's focus — it asked the server at each pause", async () => {
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1.2, 1.6]]);
    await call("POST", `/v1/clips/${b.id}/tags`, { key: "behaviour", value: "feeding buzz" });
    await call("POST", "/v1/tags", { key: "behaviour", value: "social" });
    await clickAt(0.3);
    await panelShows(a);
    const asked: string[] = [];
    await page.route("**/v1/tags?*", (route) => {
      asked.push(new URL(route.request().url()).search);
      return route.continue();
    });
    const key = page.getByRole("combobox", { name: "tag key" }), value = page.getByRole("combobox", { name: "value" });
    const options = (list: string) => page.$$eval(`#${list} option`, (os) => os.map((o) => (o as HTMLOptionElement).value));
    // Typed with pauses longer than the completion waits for: each pause narrows the lists.
    await key.focus();
    for (const c of "beh") {
      await key.press(c);
      await page.waitForTimeout(300);
    }
    await expect.poll(() => options("clip-panel-tag-keys")).toEqual(["behaviour"]);
    await key.fill("behaviour");
    await value.focus();
    for (const c of "so") {
      await value.press(c);
      await page.waitForTimeout(300);
    }
    await expect.poll(() => options("clip-panel-tag-values")).toEqual(["social"]);
    await value.fill("");
    await value.dispatchEvent("input");
    // The recording's value first (its clip b's), then the vocabulary's.
    await expect.poll(() => options("clip-panel-tag-values")).toEqual(["feeding buzz", "social"]);
    // One request a scope: the recording's, its dataset's, the vocabulary's.
    expect(asked.sort()).toEqual([`?dataset_id=${datasetId}&limit=1000`, `?limit=1000`, `?recording_id=${a.recording_id}&limit=1000`].sort());
    // Tagged elsewhere, back to the page: its focus refreshes the panel and the lists with it.
    await call("POST", "/v1/tags", { key: "behaviour", value: "song" });
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await value.blur();
    await value.focus();
    await expect.poll(() => options("clip-panel-tag-values")).toEqual(["feeding buzz", "social", "song"]);
    expect(asked.length).toBe(6);
    await page.unroute("**/v1/tags?*");
  });

  it("moves a clip's bounds to the numbers typed, and says why the server refuses others", async () => {
    const { clips: [a] } = await openWithClips([[0.2, 0.5]]);
    // A value as a job computes it (its engine version), and one a client set.
    await putFeatureValues(t.db.sql, "clip", [{ id: a.id, name: "duration_s", value: 0.3, created_by: null, engine_version: "0.0.0-test", recording_hash: "0".repeat(32) }]);
    await call("POST", `/v1/clips/${a.id}/features`, { name: "call_quality", value: 3 });
    await clickAt(0.3);
    await panelShows(a);
    await page.getByRole("spinbutton", { name: "start (s)" }).fill("0.25");
    await page.getByRole("spinbutton", { name: "end (s)" }).fill("0.75");
    const jobPosted = page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).pathname === "/v1/jobs");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => { const c = (await held(a.id))!; return [c.start_time, c.end_time]; }).toEqual([0.25, 0.75]);
    await panelShows({ start_time: 0.25, end_time: 0.75 });
    // Drawn at once at its new bounds, its list entry too.
    await expect.poll(() => page.getAttribute(`#clips div[data-clip-id="${a.id}"]`, "data-end")).toBe("0.75");
    await expect.poll(() => page.locator("#clip-list button").allTextContents()).toEqual(["0.2500–0.7500 s · 1 features"]);
    // The value computed for its bounds before is removed (the client's stays), and computed again
    // by a job, as for a clip drawn: it was kept, shown and exported as the moved clip's.
    expect(await status()).toBe("clip moved to 0.2500–0.7500 s: 1 feature value computed for its bounds before removed, computed again");
    expect((await held(a.id))!.features).toEqual([{ name: "call_quality", value: 3 }]);
    expect((await jobPosted).postDataJSON()).toMatchObject({ task: "extract_features", data: { targets: { clip_ids: [a.id] } } });
    await expect.poll(() => page.textContent("#clip-job")).toMatch(/^computing features \(job pending\)…$/); // no worker runs here
    expect(await page.locator("#clip-info tr[data-feature]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.feature))).toEqual(["call_quality"]);

    // An end before the start: refused by the server, said on the status line, the clip unmoved.
    await page.getByRole("spinbutton", { name: "end (s)" }).fill("0.1");
    await page.getByRole("spinbutton", { name: "end (s)" }).press("Enter");
    await expect.poll(status).toMatch(/^clip not moved: .*end_time.*must be > start_time \(0\.25\)/);
    expect(await page.getAttribute("#status", "class")).toBe("error");
    expect(await page.getAttribute("#clip-panel-end", "aria-invalid")).toBe("true");
    // Past the recording's 2 s end, and an empty field: refused too.
    await page.getByRole("spinbutton", { name: "end (s)" }).fill("3");
    await page.getByRole("spinbutton", { name: "end (s)" }).press("Enter");
    await expect.poll(status).toMatch(/^clip not moved: .*end_time/);
    await page.getByRole("spinbutton", { name: "start (s)" }).fill("");
    await page.getByRole("spinbutton", { name: "end (s)" }).fill("0.8");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(status).toBe("clip not moved: start must be a number of seconds");
    const c = (await held(a.id))!;
    expect([c.start_time, c.end_time]).toEqual([0.25, 0.75]);
  });

  it("shows a clip's times to the decimal that tells its recording's samples apart and its band to the Hz, and moves it by the fields edited alone: Move unedited keeps every bound to the last digit stored — the fields showed 16 digits", async () => {
    // The bounds of a box as a drag draws them: ends and band at fractional pixels.
    const stored = { start_time: 0.9747422680412371, end_time: 1.2345678901234567, low_freq: 1234.5678901, high_freq: 5678.912345 };
    const { clips: [a] } = await openWithClips([[stored.start_time, stored.end_time, stored.low_freq, stored.high_freq]]);
    await clickAt(1.1, 0.85); // within its band: 3.6 kHz
    await panelShows(a);
    const fields = () => Promise.all(["start", "end", "low", "high"].map((f) => page.inputValue(`#clip-panel-${f}`)));
    // 48 kHz: a sample is 20.8 µs, the fifth decimal (10 µs) tells samples apart.
    expect(await fields()).toEqual(["0.97474", "1.23457", "1235", "5679"]);
    const patches = requestsSent("PATCH");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(status).toBe("clip not moved: no bound was edited");
    expect(patches()).toEqual([]);
    expect(await held(a.id)).toMatchObject(stored);
    // The end edited alone: it moves, the start and the band stay as stored.
    await page.getByRole("spinbutton", { name: "end (s)" }).fill("1.5");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => (await held(a.id))!.end_time).toBe(1.5);
    expect(await held(a.id)).toMatchObject({ ...stored, end_time: 1.5 });
    expect(await fields()).toEqual(["0.97474", "1.5", "1235", "5679"]);
    // The low bound emptied: removed, the rest as stored.
    await page.getByRole("spinbutton", { name: "low (Hz)" }).fill("");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => (await held(a.id))!.low_freq).toBe(null);
    expect(await held(a.id)).toMatchObject({ ...stored, end_time: 1.5, low_freq: null });
  });

  it("keeps a bound typed while a Move's answer is on its way: the answer filled every field again, the typing lost and the next Move finding nothing edited", async () => {
    const { clips: [a] } = await openWithClips([[0.2, 0.5, 1000, 5000]]);
    await clickAt(0.35, 0.9); // within its band: 2.4 kHz
    await panelShows(a);
    // The PATCH's answer held back once the server has moved the clip, until released.
    let moved!: () => void, release!: () => void;
    const isMoved = new Promise<void>((r) => (moved = r)), released = new Promise<void>((r) => (release = r));
    await page.route(`**/v1/clips/${a.id}`, async (route) => {
      if (route.request().method() !== "PATCH") return route.continue();
      const response = await route.fetch();
      moved();
      await released;
      await route.fulfill({ response });
    });
    await page.fill("#clip-panel-end", "0.6");
    await page.getByRole("button", { name: "Move clip" }).click();
    await isMoved;
    await page.fill("#clip-panel-high", "7000");
    release();
    await expect.poll(status).toBe("clip moved to 0.2000–0.6000 s, 1000–5000 Hz");
    expect(await Promise.all(["end", "high"].map((f) => page.inputValue(`#clip-panel-${f}`)))).toEqual(["0.6", "7000"]);
    await page.unroute(`**/v1/clips/${a.id}`);
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => (await held(a.id))!.high_freq).toBe(7000);
    expect(await held(a.id)).toMatchObject({ start_time: 0.2, end_time: 0.6, low_freq: 1000, high_freq: 7000 });
  });

  it("draws a clip with frequency bounds as a box over its band, one without over the plot's height; the panel shows, moves and removes the bounds", async () => {
    const { clips: [box, plain, below] } = await openWithClips([[0.2, 0.6, 6000, 12000], [0.9, 1.2], [1.4, 1.8, null, 6000]]);
    const plot = (await page.locator("#plot").boundingBox())!;
    /** A box's top and bottom as fractions of the plot's height. */
    const rows = async (id: string) => {
      const r = (await page.locator(`#clips div[data-clip-id="${id}"]`).boundingBox())!;
      return [(r.y - plot.y) / plot.height, (r.y + r.height - plot.y) / plot.height];
    };
    // 6–12 kHz of 0–24 kHz (the plot's edges half a bin beyond: within a percent).
    const [top, bottom] = await rows(box.id);
    expect(top).toBeCloseTo(0.5, 1);
    expect(bottom).toBeCloseTo(0.75, 1);
    expect(await rows(plain.id)).toEqual([0, 1]);
    const [belowTop, belowBottom] = await rows(below.id);
    expect([Math.abs(belowTop - 0.75) < 0.02, belowBottom]).toEqual([true, 1]);
    expect(await page.locator("#clip-list button").allTextContents()).toEqual(["0.2000–0.6000 s, 6000–12000 Hz", "0.9000–1.2000 s", "1.4000–1.8000 s, ≤ 6000 Hz"]);
    // A click above the box's band, at its time, selects nothing; within it, the box.
    await clickAt(0.4, 0.2);
    await page.waitForTimeout(300);
    expect(await page.isVisible("#clip-panel")).toBe(false);
    await clickAt(0.4, 0.6);
    await panelShows(box);
    expect(await page.textContent("#clip-info h2")).toBe("Clip 0.2000–0.6000 s, 6000–12000 Hz ");
    expect(await page.getAttribute(`#clips div[data-clip-id="${box.id}"]`, "title")).toBe("clip 0.2000–0.6000 s, 6000–12000 Hz");
    expect([await page.inputValue("#clip-panel-low"), await page.inputValue("#clip-panel-high")]).toEqual(["6000", "12000"]);
    await page.getByRole("spinbutton", { name: "low (Hz)" }).fill("3000");
    await page.getByRole("spinbutton", { name: "high (Hz)" }).fill("18000");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => { const c = (await held(box.id))!; return [c.start_time, c.end_time, c.low_freq, c.high_freq]; }).toEqual([0.2, 0.6, 3000, 18000]);
    await panelShows({ start_time: 0.2, end_time: 0.6, low_freq: 3000, high_freq: 18000 });
    await expect.poll(async () => (await rows(box.id))[0]).toBeCloseTo(0.25, 1);
    // Above Nyquist: the server's refusal on the status line, the field marked.
    await page.getByRole("spinbutton", { name: "high (Hz)" }).fill("30000");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(status).toMatch(/^clip not moved: .*high_freq.*Nyquist frequency \(24000 Hz\)/);
    expect(await page.getAttribute("#clip-panel-high", "aria-invalid")).toBe("true");
    // Emptied: the bounds removed, the box over the plot's height again.
    await page.getByRole("spinbutton", { name: "low (Hz)" }).fill("");
    await page.getByRole("spinbutton", { name: "high (Hz)" }).fill("");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => { const c = (await held(box.id))!; return [c.low_freq, c.high_freq]; }).toEqual([null, null]);
    await expect.poll(() => rows(box.id)).toEqual([0, 1]);
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-bands.png") });
  });

  it("deletes a clip once the deletion is confirmed, not when it is cancelled", async () => {
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1, 1.5]]);
    await call("POST", `/v1/clips/${a.id}/tags`, { key: "species", value: "Myotis" });
    await clickAt(0.3);
    await panelShows(a);
    const asked: string[] = [];
    page.once("dialog", (d) => { asked.push(d.message()); void d.dismiss(); });
    await page.getByRole("button", { name: "Delete clip…" }).click();
    expect(asked).toEqual(["Delete the clip 0.2000–0.5000 s with its 1 tag for good?"]);
    expect(await held(a.id)).not.toBeNull();
    expect(await page.isVisible("#clip-panel")).toBe(true);

    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Delete clip…" }).click();
    await expect.poll(() => held(a.id)).toBeNull();
    await expect.poll(() => page.locator("#clips div").evaluateAll((ds) => ds.map((d) => (d as HTMLElement).dataset.clipId))).toEqual([b.id]);
    await expect.poll(() => page.locator("#clip-list button").count()).toBe(1);
    expect(await page.isVisible("#clip-panel")).toBe(false);
    expect(await status()).toBe("clip 0.2000–0.5000 s deleted");
    expect(await held(b.id)).not.toBeNull();
  });

  it("shows Move and Delete on a clip to its creator and an admin only — another member sees whose it is, and tags it — and no change at all to a viewer, a reader without a token, or on an archived clip", async () => {
    // Mia's clip, seen by Ben: both members.
    const { clips: [a] } = await openWithClips([[0.2, 0.5]], otherMemberKey, "", memberKey);
    expect(a.created_by).toBe(memberId);
    await clickAt(0.3);
    await panelShows(a);
    expect(await controls()).toEqual([false, false, true, true]);
    expect(await page.getByRole("button", { name: "Move clip" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: "Delete clip…" }).count()).toBe(0);
    expect(await creator()).toBe("Created by mia: only its creator or an admin may move or delete it — tag it, or write a note for its creator.");
    // He tags it: any member may.
    await page.getByRole("combobox", { name: "tag key" }).fill("species");
    await page.getByRole("combobox", { name: "value" }).fill("Myotis");
    await page.getByRole("button", { name: "Add tag" }).click();
    await expect.poll(async () => (await held(a.id))!.tags, POLL).toEqual([{ key: "species", value: "Myotis" }]);
    // The panel shows it once the POST's answer arrives, which may be after the server holds it.
    await expect.poll(() => page.getByRole("button", { name: "Remove tag species: Myotis" }).count(), POLL).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "web-clip-panel-others-clip.png") });

    // An admin moves and deletes anyone's: the controls are back, with whose it is.
    await enterToken(adminKey);
    await expect.poll(creator, POLL).toBe("Created by mia.");
    expect(await controls()).toEqual([true, true, true, true]);
    // Its creator too: she moves it.
    await enterToken(memberKey);
    await expect.poll(creator, POLL).toBe("Created by you.");
    expect(await controls()).toEqual([true, true, true, true]);
    await page.getByRole("spinbutton", { name: "end (s)" }).fill("0.6");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => (await held(a.id))!.end_time, POLL).toBe(0.6);
    await expect.poll(status, POLL).toBe("clip moved to 0.2000–0.6000 s");

    // A viewer's token only reads, and a reader without one writes nothing: no control, and why.
    await enterToken(viewerKey);
    await expect.poll(creator, POLL).toBe("Created by mia. vera's token is a viewer's, which can only read: enter a member's API token at the top to change it.");
    expect(await controls()).toEqual([false, false, false, false]);
    expect(await page.getByRole("button", { name: "Remove tag species: Myotis" }).count()).toBe(0);
    expect(await page.locator("#clip-panel-tags li .tag").allTextContents()).toEqual(["species: Myotis"]);
    await enterToken("");
    await expect.poll(creator, POLL).toBe("Created by mia. Enter a member's API token at the top to tag it, write notes on it, move or delete it.");
    expect(await controls()).toEqual([false, false, false, false]);

    // Archived (elsewhere): read-only to everyone, its admin included.
    await enterToken(adminKey);
    await expect.poll(controls, POLL).toEqual([true, true, true, true]);
    await call("POST", `/v1/clips/${a.id}/archive`);
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await expect.poll(() => page.textContent("#clip-panel-title"), POLL).toBe("Clip 0.2000–0.6000 s (archived: read-only)");
    expect(await creator()).toBe("Created by mia.");
    expect(await controls()).toEqual([false, false, false, false]);
    expect(await page.getByRole("button", { name: "Remove tag species: Myotis" }).count()).toBe(0);
    await call("POST", `/v1/clips/${a.id}/restore`);
    expect((await held(a.id))!).toMatchObject({ start_time: 0.2, end_time: 0.6, state: "active", created_by: memberId });
  });

  it("takes back the panel's changes, saying why, once a change is refused (409) because the clip was archived behind the page's back — each further click was another 409", async () => {
    const { clips: [a] } = await openWithClips([[0.2, 0.6]], memberKey, "", memberKey);
    await clickAt(0.4);
    await panelShows(a);
    await expect.poll(controls, POLL).toEqual([true, true, true, true]);
    // Archived by another user; the page gets no focus, and a note is written on it.
    await call("POST", `/v1/clips/${a.id}/archive`);
    try {
      await page.getByRole("textbox", { name: "note" }).fill("a second call");
      await page.getByRole("button", { name: "Add note" }).click();
      await expect.poll(status, POLL).toMatch(/^note not added: .*archived/);
      expect(await page.getAttribute("#status", "class")).toBe("error");
      await expect.poll(() => page.textContent("#clip-panel-title"), POLL).toBe("Clip 0.2000–0.6000 s (archived: read-only)");
      expect(await controls()).toEqual([false, false, false, false]);
      expect(await creator()).toBe("Created by you.");
      expect(await status()).toMatch(/^note not added: .*archived/); // the refresh leaves the reason said
      // Restored, and the page shown again: offered again. Archived once more, a tag added is refused the same.
      await call("POST", `/v1/clips/${a.id}/restore`);
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      await expect.poll(controls, POLL).toEqual([true, true, true, true]);
      await call("POST", `/v1/clips/${a.id}/archive`);
      await page.getByRole("combobox", { name: "tag key" }).fill("species");
      await page.getByRole("combobox", { name: "value" }).fill("Myotis");
      await page.getByRole("button", { name: "Add tag" }).click();
      await expect.poll(status, POLL).toMatch(/^tag not added: .*archived/);
      await expect.poll(controls, POLL).toEqual([false, false, false, false]);
      expect(await page.textContent("#clip-panel-title")).toBe("Clip 0.2000–0.6000 s (archived: read-only)");
      expect(await held(a.id)).toMatchObject({ state: "archived", tags: [], notes: [] });
    } finally {
      await call("POST", `/v1/clips/${a.id}/restore`);
    }
  });

  it("offers Clip selection and Import selections… only to a member or an admin, on a recording that is not read-only, saying why — a viewer's Enter made no clip but a 403", async () => {
    const { recordingId } = await openWithClips([], viewerKey);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("0"); // its view drawn, its clips listed
    // A selection marked from the keyboard: it plays for anyone.
    await markSelection();
    expect(await page.isEnabled("#play-selection")).toBe(true);
    await expect.poll(offered, POLL).toEqual([[false, viewerWhy], [false, viewerWhy]]);
    // Enter on the plot says so, and asks the server nothing.
    const posts = requestsSent("POST");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.textContent("#clip-info"), POLL).toBe(`${viewerWhy}.`);
    expect(posts()).toEqual([]);
    // A member's token: offered, with what they do.
    await enterToken(memberKey);
    await expect.poll(offered, POLL).toEqual([[true, expect.stringMatching(/^Create a clip of the selection/)], [true, expect.stringMatching(/^Import a Raven selection table/)]]);
    // An archived recording (a link opens it): read-only to everyone.
    await call("POST", `/v1/recordings/${recordingId}/archive`);
    try {
      await page.reload();
      await expect.poll(() => page.textContent("#recording-name"), POLL).toBe(`r${recordings}.wav`);
      const archivedWhy = `r${recordings}.wav is archived: read-only, no clip is created or imported in it`;
      await expect.poll(offered, POLL).toEqual([[false, archivedWhy], [false, archivedWhy]]);
    } finally {
      await call("POST", `/v1/recordings/${recordingId}/restore`);
    }
  });

  it("treats a recording of an archived or trashed dataset, opened by a link, as read-only as one archived itself: nothing sent, saying why — Clip selection and Import were offered, the server's 409 shown after a click", async () => {
    // A dataset of its own: the others' recordings stay writable.
    await mkdir(join(audio.path, "shelved"));
    await writeSineWav(join(audio.path, "shelved", "s1.wav"), 48000, 2, 3000);
    const shelved = await call("POST", "/v1/datasets", { name: "shelved", audio_dir: "shelved" });
    const rec = await call("POST", "/v1/recordings", { dataset_id: shelved.id, path: "s1.wav" });
    await call("POST", "/v1/clips", { recording_id: rec.id, start_time: 0.2, end_time: 0.5 });
    for (const [action, hidden] of [["archive", "archived"], ["trash", "trashed"]] as const) {
      await call("POST", `/v1/datasets/${shelved.id}/${action}`);
      try {
        // The recording's own state is active: its dataset's alone makes it read-only.
        expect((await call("GET", `/v1/recordings/${rec.id}`)).state).toBe("active");
        await page.goto(`${base}/?${hidden}#recording=${rec.id}`);
        await enterToken(memberKey);
        await expect.poll(() => page.textContent("#recording-name"), POLL).toBe("s1.wav");
        await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("1"); // its view drawn, its clip listed (opened read-only: the test below)
        const why = `s1.wav's dataset shelved is ${hidden}: read-only, no clip is created or imported in it`;
        await expect.poll(offered, POLL).toEqual([[false, why], [false, why]]);
        // Enter on a selection, and a table dropped onto the plot, say so and send nothing.
        const posts = requestsSent("POST");
        await markSelection();
        await page.keyboard.press("Enter");
        await expect.poll(() => page.textContent("#clip-info"), POLL).toBe(`${why}.`);
        await dropFile(page, "s1.selections.txt", ONE_SELECTION);
        await expect.poll(() => page.textContent("#selections-result"), POLL).toBe(`s1.selections.txt not imported. ${why}.`);
        expect(posts()).toEqual([]);
      } finally {
        await call("POST", `/v1/datasets/${shelved.id}/restore`);
      }
    }
    expect((await call("GET", `/v1/clips?recording_id=${rec.id}`)).total).toBe(1); // the one made before
  });

  it("takes back Clip selection, Import and the panel's changes once the page is shown again after its dataset was archived elsewhere, saying why — and offers them again once restored; a change refused (409) meanwhile does the same", async () => {
    await mkdir(join(audio.path, "behind"));
    await writeSineWav(join(audio.path, "behind", "b1.wav"), 48000, 2, 3000);
    const behind = await call("POST", "/v1/datasets", { name: "behind", audio_dir: "behind" });
    const rec = await call("POST", "/v1/recordings", { dataset_id: behind.id, path: "b1.wav" });
    const made = await app.inject({ method: "POST", url: "/v1/clips", headers: { authorization: `Bearer ${memberKey}` }, payload: { recording_id: rec.id, start_time: 0.2, end_time: 0.5 } });
    expect(made.statusCode, made.body).toBe(201);
    const clip: Clip = made.json();
    const noted = await app.inject({ method: "POST", url: "/v1/notes", headers: { authorization: `Bearer ${memberKey}` }, payload: { clip_id: clip.id, message: "faint" } });
    expect(noted.statusCode, noted.body).toBe(201);
    const editing = () => page.locator(`#clip-panel-notes li[data-note-id="${noted.json().id}"]`).getByRole("textbox", { name: "message" });
    await page.goto(`${base}/?behind#recording=${rec.id}`);
    await enterToken(memberKey);
    await expect.poll(() => page.locator("#clips div").count(), POLL).toBe(1);
    await markSelection();
    await expect.poll(offered, POLL).toEqual(clipNow());
    await clickAt(0.45); // the clip's end in view: the selection's keys panned the plot
    await panelShows(clip);
    await expect.poll(creator, POLL).toBe("Created by you.");
    expect(await controls()).toEqual([true, true, true, true]);
    // Her note being edited, as the dataset is archived.
    await page.getByRole("button", { name: "Edit" }).click();
    await editing().fill("faint, half rewritten");
    try {
      // Archived in another tab (here the API, as that tab does), then back to this one: its focus.
      await call("POST", `/v1/datasets/${behind.id}/archive`);
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      const why = "b1.wav's dataset behind is archived: read-only, no clip is created or imported in it";
      await expect.poll(offered, POLL).toEqual([[false, why], [false, why]]);
      await expect.poll(creator, POLL).toBe("Created by you. b1.wav's dataset behind is archived: its clips are read-only.");
      expect(await controls()).toEqual([false, false, false, false]);
      expect(await page.textContent("#clip-panel-title")).toBe("Clip 0.2000–0.5000 s");
      expect(await editing().count()).toBe(0); // no form to save with
      expect(await page.locator("#clip-panel-notes .message").allTextContents()).toEqual(["faint"]);
      // Its clip still drawn and listed, fetched as the focus asks: the listing's `active` left out every clip of the archived dataset.
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      await page.waitForResponse((r) => r.url().includes(`/v1/clips?recording_id=${rec.id}`));
      await expect.poll(() => page.$$eval("#clips div", (boxes) => boxes.map((b) => (b as HTMLElement).dataset.clipId)), POLL).toEqual([clip.id]);
      expect(await page.getAttribute("#clip-count", "data-count")).toBe("1");

      // Restored there, and the tab shown again (a visibilitychange, no focus): offered again.
      await call("POST", `/v1/datasets/${behind.id}/restore`);
      await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
      await expect.poll(offered, POLL).toEqual(clipNow());
      await expect.poll(creator, POLL).toBe("Created by you.");
      expect(await controls()).toEqual([true, true, true, true]);
      // The edit is back as it was typed (it was dropped with the text).
      expect(await editing().inputValue()).toBe("faint, half rewritten");
      await page.getByRole("button", { name: "Cancel" }).click();

      // The recording archived elsewhere while the page is looked at: a tag added is refused (409),
      // said on the status line, and the page reads the recording's state again at that.
      await call("POST", `/v1/recordings/${rec.id}/archive`);
      await page.getByRole("combobox", { name: "tag key" }).fill("species");
      await page.getByRole("combobox", { name: "value" }).fill("Myotis");
      await page.getByRole("button", { name: "Add tag" }).click();
      await expect.poll(status, POLL).toMatch(/^tag not added: .*archived/);
      const archivedWhy = "b1.wav is archived: read-only, no clip is created or imported in it";
      await expect.poll(offered, POLL).toEqual([[false, archivedWhy], [false, archivedWhy]]);
      await expect.poll(creator, POLL).toBe("Created by you. b1.wav is archived: its clips are read-only.");
      expect(await controls()).toEqual([false, false, false, false]);
      expect((await held(clip.id))!.tags).toEqual([]);

      // Restored and shown again, then archived once more: a table dropped is refused (409), the same.
      await call("POST", `/v1/recordings/${rec.id}/restore`);
      await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
      await expect.poll(offered, POLL).toEqual(clipNow());
      await call("POST", `/v1/recordings/${rec.id}/archive`);
      await dropFile(page, "b1.selections.txt", ONE_SELECTION);
      await expect.poll(() => page.textContent("#selections-result"), POLL).toMatch(/^b1\.selections\.txt not imported, no clip created: .*archived/);
      await expect.poll(offered, POLL).toEqual([[false, archivedWhy], [false, archivedWhy]]);
      expect((await call("GET", `/v1/clips?recording_id=${rec.id}&state=all`)).total).toBe(1);
    } finally {
      await call("POST", `/v1/datasets/${behind.id}/restore`); // first: nothing under an archived dataset is restored
      await call("POST", `/v1/recordings/${rec.id}/restore`);
    }
  });

  it("lists the clips of a read-only recording opened by a link — archived or trashed itself, or its dataset — and opens them read-only, saying why; those archived or trashed of their own before stay out — it listed none", async () => {
    await mkdir(join(audio.path, "kept"));
    await writeSineWav(join(audio.path, "kept", "k1.wav"), 48000, 2, 3000);
    const kept = await call("POST", "/v1/datasets", { name: "kept", audio_dir: "kept" });
    const rec = await call("POST", "/v1/recordings", { dataset_id: kept.id, path: "k1.wav" });
    const [left, archived, trashed]: Clip[] = await Promise.all([[0.2, 0.5], [0.8, 1.0], [1.2, 1.4]].map(([start_time, end_time]) =>
      call("POST", "/v1/clips", { recording_id: rec.id, start_time, end_time })));
    await call("POST", `/v1/clips/${archived.id}/archive`);
    await call("POST", `/v1/clips/${trashed.id}/trash`);
    const hidings = [
      ["datasets", kept.id, "archive", "k1.wav's dataset kept is archived"],
      ["datasets", kept.id, "trash", "k1.wav's dataset kept is trashed"],
      ["recordings", rec.id, "archive", "k1.wav is archived"],
      ["recordings", rec.id, "trash", "k1.wav is trashed"],
    ] as const;
    for (const [table, id, action, why] of hidings) {
      await call("POST", `/v1/${table}/${id}/${action}`);
      try {
        await page.goto(`${base}/?${action}-${table}#recording=${rec.id}`);
        await enterToken(memberKey);
        await expect.poll(() => page.$$eval("#clips div", (boxes) => boxes.map((b) => (b as HTMLElement).dataset.clipId)), POLL).toEqual([left.id]);
        await expect.poll(() => page.locator("#clip-list button").count(), POLL).toBe(1);
        await clickAt(0.3);
        await panelShows(left);
        await expect.poll(creator, POLL).toBe(`Created by admin. ${why}: its clips are read-only.`);
        expect(await controls()).toEqual([false, false, false, false]);
      } finally {
        await call("POST", `/v1/${table}/${id}/restore`);
      }
    }
    // Restored, the recording lists its active clip alone, as before.
    expect((await call("GET", `/v1/clips?recording_id=${rec.id}`)).items.map((c: Clip) => c.id)).toEqual([left.id]);
  });

  it("reads the state of a recording opened from the list, and of its dataset: archived since the page read it, Clip selection and Import are taken back at once, saying why — the first clip was the server's 409 — and its clips are listed", async () => {
    await mkdir(join(audio.path, "later"));
    for (const path of ["l1.wav", "l2.wav"]) await writeSineWav(join(audio.path, "later", path), 48000, 2, 3000);
    const later = await call("POST", "/v1/datasets", { name: "later", audio_dir: "later" });
    const [first, second] = [await call("POST", "/v1/recordings", { dataset_id: later.id, path: "l1.wav" }), await call("POST", "/v1/recordings", { dataset_id: later.id, path: "l2.wav" })];
    await call("POST", "/v1/clips", { recording_id: second.id, start_time: 0.2, end_time: 0.5 });
    await page.goto(`${base}/?later#recording=${first.id}`);
    await enterToken(memberKey);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("0"); // its view drawn, its clips listed
    await expect.poll(() => page.getAttribute("#import-selections", "title"), POLL).toMatch(/^Import a Raven selection table/);
    expect(await page.isEnabled("#import-selections")).toBe(true);
    // Archived elsewhere; the page gets no focus, and opens the list's next recording.
    await call("POST", `/v1/datasets/${later.id}/archive`);
    try {
      await page.click(`#recordings button[data-id="${second.id}"]`);
      await expect.poll(() => page.textContent("#recording-name"), POLL).toBe("l2.wav");
      const why = "l2.wav's dataset later is archived: read-only, no clip is created or imported in it";
      await expect.poll(offered, POLL).toEqual([[false, why], [false, why]]);
      await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("1");
    } finally {
      await call("POST", `/v1/datasets/${later.id}/restore`);
    }
  });

  it("reads a recording's state once as it is opened from the list and the page gets the focus within 3 s — each had a 3 s limit of its own, and both read — and again at the end of those 3 s", async () => {
    await mkdir(join(audio.path, "twice"));
    for (const path of ["t1.wav", "t2.wav"]) await writeSineWav(join(audio.path, "twice", path), 48000, 2, 3000);
    const twice = await call("POST", "/v1/datasets", { name: "twice", audio_dir: "twice" });
    const [first, second] = [await call("POST", "/v1/recordings", { dataset_id: twice.id, path: "t1.wav" }), await call("POST", "/v1/recordings", { dataset_id: twice.id, path: "t2.wav" })];
    await page.goto(`${base}/?twice#recording=${first.id}`);
    await enterToken(memberKey);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("0"); // its view drawn, its clips listed
    const urls: string[] = [];
    const listen = (r: Request) => { if (r.method() === "GET") urls.push(new URL(r.url()).pathname); };
    /** The reads of the second recording's state and its dataset's sent so far: one GET of each per read. */
    const reads = () => urls.filter((u) => u === `/v1/recordings/${second.id}` || u === `/v1/datasets/${twice.id}`).length;
    page.on("request", listen);
    try {
      const read = page.waitForResponse((r) => new URL(r.url()).pathname === `/v1/datasets/${twice.id}`);
      await page.click(`#recordings button[data-id="${second.id}"]`);
      await read;
      // The focus right after: the user asked again (its answer the mark that the focus was handled), the state not.
      const userAsked = page.waitForResponse((r) => new URL(r.url()).pathname === "/v1/users/me");
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      await userAsked;
      expect(reads()).toBe(2);
      // Read once more at the end of the 3 s since the opening's read: a change made meanwhile elsewhere shows.
      await expect.poll(reads, POLL).toBe(4);
    } finally {
      page.off("request", listen);
    }
  });

  it("re-reads the recording's state when a clip it creates is refused (409: archived behind the page's back) and takes back Clip selection and Import, saying why", async () => {
    const path = `r${++recordings}.wav`;
    await writeSineWav(join(audio.path, "panel", path), 48000, 2, 3000);
    const recordingId = (await call("POST", "/v1/recordings", { dataset_id: datasetId, path })).id as string;
    await page.goto(`${base}/?${path}#recording=${recordingId}`);
    await enterToken(memberKey);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("0"); // its view drawn, its clips listed
    await markSelection();
    await expect.poll(offered, POLL).toEqual(clipNow());
    await call("POST", `/v1/recordings/${recordingId}/archive`);
    try {
      await page.keyboard.press("Enter");
      await expect.poll(() => page.textContent("#clip-info"), POLL).toMatch(/^clip not created: .*archived/);
      const why = `${path} is archived: read-only, no clip is created or imported in it`;
      await expect.poll(offered, POLL).toEqual([[false, why], [false, why]]);
      expect((await call("GET", `/v1/clips?recording_id=${recordingId}&state=all`)).total).toBe(0);
    } finally {
      await call("POST", `/v1/recordings/${recordingId}/restore`);
    }
  });

  it("keeps opening a linked recording when a token is entered before it is shown — the datasets and the link were loaded a second time, whose opening reset the selection made meanwhile — and clips the selection as the token's member", async () => {
    const path = `r${++recordings}.wav`;
    await writeSineWav(join(audio.path, "panel", path), 48000, 2, 3000);
    const recordingId = (await call("POST", "/v1/recordings", { dataset_id: datasetId, path })).id as string;
    // The link's recording is held until the token is entered: the page is still opening it.
    const { asked: linkAsked, release } = await holdRecording(recordingId);
    const sent = requestsSent("GET");
    try {
      await page.goto(`${base}/?${path}#recording=${recordingId}`);
      await linkAsked;
      await enterToken(memberKey);
      release();
      await expect.poll(() => page.textContent("#recording-name"), POLL).toBe(path);
      await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("0"); // its view drawn, its clips listed
    } finally {
      release();
      await page.unrouteAll({ behavior: "wait" }); // its handler ended: a request held past a failure is let through
    }
    const paths = sent().map((url) => new URL(url).pathname);
    expect(paths.filter((p) => p === "/v1/datasets")).toHaveLength(1);
    expect(paths.filter((p) => p === `/v1/recordings/${recordingId}`)).toHaveLength(1);
    await markSelection();
    await expect.poll(offered, POLL).toEqual(clipNow());
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await call("GET", `/v1/clips?recording_id=${recordingId}`)).items.map((c: Clip) => c.created_by), POLL).toEqual([memberId]);
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("1");
  });

  it("forgets the previous recording's clip count as another is opened, until this one's clips are listed — it held the previous one's", async () => {
    const next = `r${++recordings}.wav`;
    await writeSineWav(join(audio.path, "panel", next), 48000, 2, 3000);
    const nextId = (await call("POST", "/v1/recordings", { dataset_id: datasetId, path: next })).id as string;
    await call("POST", "/v1/clips", { recording_id: nextId, start_time: 0.2, end_time: 0.5 });
    await openWithClips([[0.1, 0.3], [0.6, 0.9]]);
    expect(await page.getAttribute("#clip-count", "data-count")).toBe("2");
    // The next recording's clips are held until its count is looked at.
    const isNextsClips = (url: URL) => url.pathname === "/v1/clips" && url.searchParams.get("recording_id") === nextId;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await page.route(isNextsClips, async (route) => {
      await released;
      await route.continue();
    });
    try {
      await page.evaluate((id) => { location.hash = `recording=${id}`; }, nextId); // a link pasted in
      await expect.poll(() => page.textContent("#recording-name"), POLL).toBe(next);
      expect([await page.getAttribute("#clip-count", "data-count"), await page.textContent("#clip-count")]).toEqual([null, ""]);
      release();
      await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("1");
      expect(await page.textContent("#clip-count")).toBe("(1)");
    } finally {
      release();
      await page.unrouteAll({ behavior: "wait" });
    }
  });

  it("opens the newer of two links — one pasted in while the page's own was still read — the older's answer dropped, and a link to what is shown changes nothing: the older landed last, showing its recording, and the same link in another order reset the selection", async () => {
    const [older, newer] = [`r${++recordings}.wav`, `r${++recordings}.wav`];
    const ids: string[] = [];
    for (const path of [older, newer]) {
      await writeSineWav(join(audio.path, "panel", path), 48000, 2, 3000);
      ids.push((await call("POST", "/v1/recordings", { dataset_id: datasetId, path })).id as string);
    }
    const [olderId, newerId] = ids;
    await call("POST", "/v1/clips", { recording_id: olderId, start_time: 0.1, end_time: 0.2 });
    for (const [start_time, end_time] of [[0.2, 0.5], [0.6, 0.9]]) await call("POST", "/v1/clips", { recording_id: newerId, start_time, end_time });
    // The page's own link's recording is held until the pasted one is shown.
    const { isHeld: isOlder, asked: olderAsked, release } = await holdRecording(olderId);
    try {
      await page.goto(`${base}/?${older}#recording=${olderId}`);
      await enterToken(memberKey);
      await olderAsked;
      let ended!: (r: Request) => void;
      const olderEnded = new Promise<Request>((resolve) => (ended = (r) => { if (isOlder(new URL(r.url()))) resolve(r); }));
      page.on("requestfinished", ended).on("requestfailed", ended);
      await page.evaluate((id) => { location.hash = `recording=${id}`; }, newerId); // a link pasted in
      await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("2");
      release();
      expect((await olderEnded).failure()?.errorText).toBe("net::ERR_ABORTED"); // dropped: no answer of it opens anything
      page.off("requestfinished", ended).off("requestfailed", ended);
    } finally {
      release();
      await page.unrouteAll({ behavior: "wait" });
    }
    expect(await page.textContent("#recording-name")).toBe(newer);
    expect(await page.$$eval("#recordings button.open", (bs) => bs.map((b) => b.dataset.id))).toEqual([newerId]);
    expect(new URLSearchParams((await page.evaluate(() => location.hash)).slice(1)).get("recording")).toBe(newerId);
    // A link to what is shown, its values in another order: nothing is read (the page's handler has run once the event's next listener has), the selection kept.
    await markSelection();
    await expect.poll(offered, POLL).toEqual(clipNow());
    await expect.poll(() => page.evaluate(() => location.hash), POLL).toMatch(/&level=/); // the view's link written
    const read = await page.evaluate(() => new Promise<string[]>((resolve) => {
      const urls: string[] = [], fetchOfPage = window.fetch;
      window.fetch = (input, init) => { urls.push(String(input)); return fetchOfPage(input, init); };
      addEventListener("hashchange", () => setTimeout(() => { window.fetch = fetchOfPage; resolve(urls); }), { once: true });
      const q = new URLSearchParams(location.hash.slice(1));
      const recording = q.get("recording")!;
      q.delete("recording");
      q.append("recording", recording);
      location.hash = q.toString();
    }));
    expect(read).toEqual([]);
    expect(await offered()).toEqual(clipNow());
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getAttribute("#clip-count", "data-count"), POLL).toBe("3");
  });

  it("moves the view alone at a link to the recording open — another time and zoom, another band, and Back — keeping its clips, the selection, the clip panel and a note being typed, reading nothing of the recording: it opened the recording again, which closed the panel and dropped all of it", async () => {
    const { recordingId, clips } = await openWithClips([[0.2, 0.5], [1.2, 1.5]], memberKey);
    await clickAt(0.35);
    await panelShows(clips[0]);
    await page.fill("#clip-panel-note", "a call, half described");
    const plotView = async () => JSON.parse((await page.getAttribute("#plot", "data-view"))!) as { level: number; scale: number; start: number; end: number };
    const fitted = await plotView();
    expect(fitted.scale).not.toBe(1); // a 2 s recording fitted: level 2 at scale 1 is another view (1, farther out than the whole 2 s, is raised to 2)
    const tileSources = () => page.$$eval("#tiles img", (imgs) => imgs.map((i) => (i as HTMLImageElement).dataset.src!));
    const sent = requestsSent("GET");
    /** Everything the page shows of the recording open, clip and typing, as it was before the links. */
    const kept = async () => [
      await page.textContent("#recording-name"), await page.isVisible("#clip-panel"), await page.textContent("#clip-panel-title"),
      await page.inputValue("#clip-panel-note"), await selected(clips[0].id), await page.isVisible("#selection"),
      await page.textContent("#selection-range"), await page.locator("#clips div").count(),
    ];
    const before = await kept();
    expect(before).toEqual([expect.stringMatching(/^r\d+\.wav$/), true, "Clip 0.2000–0.5000 s", "a call, half described", true, true, "0.2000–0.5000 s", 2]);
    // Another time and zoom, pasted in: level 3, past the closest whole level (2, 4 px a frame —
    // for this 2 s recording also the farthest, where the whole recording stays in view whatever
    // the link's t), is level 2 drawn at twice its scale, 1.3 s in the middle.
    await page.evaluate((id) => { location.hash = `recording=${id}&t=1.3&level=3`; }, recordingId);
    const middle = async () => { const v = await plotView(); return [v.level, v.scale, +((v.start + v.end) / 2).toFixed(2)]; };
    await expect.poll(middle, POLL).toEqual([2, 2, 1.3]);
    expect(await kept()).toEqual(before);
    // A time refused: the whole recording, saying why; the same link again takes the refusal off (it stayed).
    await page.evaluate((id) => { location.hash = `recording=${id}&t=abc&level=3`; }, recordingId);
    await expect.poll(status, POLL).toBe(`the link's t "abc" was refused: it must be a number of seconds: the whole recording is shown`);
    expect(await plotView()).toEqual(fitted);
    await page.evaluate((id) => { location.hash = `recording=${id}&t=1.3&level=3`; }, recordingId);
    await expect.poll(middle, POLL).toEqual([2, 2, 1.3]);
    expect([await status(), ...await kept()]).toEqual(["", ...before]);
    // Another band: the tiles of fmin–fmax, the view where it was.
    await page.evaluate((id) => { location.hash = `recording=${id}&t=1.3&level=3&fmin=2000&fmax=12000`; }, recordingId);
    await expect.poll(async () => (await tileSources()).every((s) => s.includes("fmin=2000") && s.includes("fmax=12000")), POLL).toBe(true);
    expect([await page.inputValue("#param-fmin"), await page.inputValue("#param-fmax"), (await plotView()).level]).toEqual(["2000", "12000", 2]);
    expect(await kept()).toEqual(before);
    // Back: the whole band again.
    await page.goBack();
    await expect.poll(async () => { const s = await tileSources(); return s.length > 0 && s.every((u) => !u.includes("fmin=")); }, POLL).toBe(true);
    expect([await page.inputValue("#param-fmin"), (await plotView()).level]).toEqual(["", 2]);
    expect(await kept()).toEqual(before);
    const paths = sent().map((url) => new URL(url).pathname);
    expect(paths.filter((p) => (p.startsWith("/v1/recordings") && !p.includes("/tiles/")) || p.startsWith("/v1/datasets"))).toEqual([]);
    // The note typed is still the one saved.
    await page.click("#clip-panel-note-form button");
    await expect.poll(async () => (await held(clips[0].id))!.notes.map((n) => n.message), POLL).toEqual(["a call, half described"]);
  });

  it("refuses a selection table dropped without a token or with a viewer's, sending nothing, as the Import button disabled says — the server's 401 or 403 was shown", async () => {
    const { recordingId } = await openWithClips([], viewerKey);
    const sent = requestsSent("POST");
    const noToken = "Creating or importing clips needs an API token (top right)";
    for (const [key, why] of [[viewerKey, viewerWhy], ["", noToken]] as const) {
      await enterToken(key);
      await expect.poll(offered, POLL).toEqual([[false, why], [false, why]]);
      await dropFile(page, "t.selections.txt", ONE_SELECTION);
      await expect.poll(() => page.textContent("#selections-result"), POLL).toBe(`t.selections.txt not imported. ${why}.`);
      expect(await page.getAttribute("#selections-result", "class")).toBe("error");
    }
    expect(sent()).toEqual([]);
    // A member's drop is sent: its clip made.
    await enterToken(memberKey);
    await expect.poll(offered, POLL).toEqual([[false, expect.any(String)], [true, expect.stringMatching(/^Import a Raven selection table/)]]);
    await dropFile(page, "t.selections.txt", ONE_SELECTION);
    await expect.poll(() => page.textContent("#selections-result"), POLL).toContain("Imported t.selections.txt: 1 clip created");
    const made = await call("GET", `/v1/clips?recording_id=${recordingId}`);
    expect(made.items.map((c: Clip) => [c.start_time, c.end_time, c.low_freq, c.high_freq, c.created_by])).toEqual([[0.2, 0.5, 1000, 3000, memberId]]);
    // Made a viewer since the page asked who she is (another tab): the server's 403 is said, with which token to give.
    await call("PATCH", `/v1/users/${memberId}`, { role: "viewer" });
    try {
      await dropFile(page, "t.selections.txt", ONE_SELECTION);
      await expect.poll(() => page.textContent("#selections-result"), POLL)
        .toBe("t.selections.txt not imported, no clip created: this needs the member role; user mia is viewerEnter a member's API token at the top (API token), then try again.");
    } finally {
      await call("PATCH", `/v1/users/${memberId}`, { role: "member" });
    }
  });

  it("goes through the clips in view from the keyboard: Tab to the list, the arrows from clip to clip, Tab into the panel, Escape back", async () => {
    const { clips: [a, b, c] } = await openWithClips([[0.1, 0.3], [0.6, 0.9], [1.3, 1.7]]);
    // The list is one stop of the Tab order, reached from the plot.
    await page.focus("#plot");
    for (let i = 0; i < 20 && !(await page.evaluate(() => document.activeElement!.matches("#clip-list button"))); i++) await page.keyboard.press("Tab");
    expect(await focusedId()).toBe(a.id);
    expect(await page.locator("#clip-list button[tabindex='0']").count()).toBe(1);
    await page.keyboard.press("ArrowRight");
    await panelShows(b);
    expect(await focusedId()).toBe(b.id);
    await page.keyboard.press("End");
    await panelShows(c);
    await page.keyboard.press("ArrowLeft");
    await panelShows(b);
    expect(await selected(b.id)).toBe(true);
    // Tab leaves the list for the panel: its close button first, then its bounds, on to the tag fields.
    await page.keyboard.press("Tab");
    expect(await focusedId()).toBe("clip-panel-close");
    await page.keyboard.press("Tab");
    expect(await focusedId()).toBe("clip-panel-start");
    for (let i = 0; i < 10 && (await focusedId()) !== "clip-panel-tag-key"; i++) await page.keyboard.press("Tab");
    expect(await focusedId()).toBe("clip-panel-tag-key");
    await page.keyboard.type("call");
    await page.keyboard.press("Tab");
    await page.keyboard.type("feeding buzz");
    await page.keyboard.press("Enter");
    await expect.poll(async () => (await held(b.id))!.tags).toEqual([{ key: "call", value: "feeding buzz" }]);
    expect((await held(a.id))!.tags).toEqual([]);
    // Escape closes the panel, the focus back on the clip's button in the list.
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    expect(await focusedId()).toBe(b.id);
    expect(await selected(b.id)).toBe(false);
    // Selected again by a click, Escape on the plot closes it as well.
    await clickAt(1.5);
    await panelShows(c);
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
  });

  it("asks who the token's user is once for the page and its clip panel — each asked GET /v1/users/me, the panel at every clip opened — and once again back from another tab", async () => {
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1.2, 1.6]], memberKey, "", memberKey);
    const askedMe: string[] = [];
    const listen = (r: Request) => { if (new URL(r.url()).pathname === "/v1/users/me") askedMe.push(r.method()); };
    page.on("request", listen);
    try {
      await page.reload(); // the token kept (localStorage)
      await expect.poll(() => page.locator("#clips div").count(), POLL).toBe(2);
      for (const [c, at] of [[a, 0.3], [b, 1.4]] as const) {
        await clickAt(at);
        await panelShows(c);
        await expect.poll(() => page.textContent("#clip-panel-creator"), POLL).toBe("Created by you.");
      }
      await expect.poll(() => page.getAttribute("#import-selections", "title"), POLL).toMatch(/^Import a Raven selection table/);
      expect(await page.isEnabled("#import-selections")).toBe(true);
      expect(askedMe).toEqual(["GET"]);
      // Back from another tab: the role may have changed, asked once for the page and the panel's refresh.
      const refreshed = page.waitForResponse((r) => r.url().endsWith(`/v1/clips/${b.id}`));
      await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
      await refreshed;
      expect(askedMe).toEqual(["GET", "GET"]);
    } finally {
      page.off("request", listen);
    }
  });

  it("shows a clip changed or deleted in another tab once the page has the focus again", async () => {
    const { clips: [a] } = await openWithClips([[0.2, 0.5]]);
    await clickAt(0.3);
    await panelShows(a);
    // Another tab (here the API, as it would) tags, notes and moves it.
    await call("POST", `/v1/clips/${a.id}/tags`, { key: "species", value: "Nyctalus noctula" });
    await call("POST", "/v1/notes", { clip_id: a.id, message: "checked" });
    await call("PATCH", `/v1/clips/${a.id}`, { start_time: 0.3, end_time: 0.8 });
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await panelShows({ start_time: 0.3, end_time: 0.8 });
    await expect.poll(() => page.locator("#clip-panel-tags li .tag").allTextContents()).toEqual(["species: Nyctalus noctula"]);
    expect(await page.locator("#clip-panel-notes .message").allTextContents()).toEqual(["checked"]);
    expect([await page.inputValue("#clip-panel-start"), await page.inputValue("#clip-panel-end")]).toEqual(["0.3", "0.8"]);
    await expect.poll(() => page.getAttribute(`#clips div[data-clip-id="${a.id}"]`, "data-end")).toBe("0.8");
    // Deleted there: the panel closes and says so.
    await call("DELETE", `/v1/clips/${a.id}`);
    await page.evaluate(() => window.dispatchEvent(new FocusEvent("focus")));
    await expect.poll(status).toBe("the clip selected no longer exists: it was deleted (elsewhere)");
    expect(await page.isVisible("#clip-panel")).toBe(false);
    await expect.poll(() => page.locator("#clips div").count()).toBe(0);
  });
  /** The panel's note and tag fields: the note, its issue box, the tag key and value. */
  const drafted = () => Promise.all([page.inputValue("#clip-panel-note"), page.isChecked("#clip-panel-issue"), page.inputValue("#clip-panel-tag-key"), page.inputValue("#clip-panel-tag-value")]);

  it("keeps a half-typed note and tag with their clip: another clip opened — from the list, or by its box — shows its own (none), its Add note saves nothing typed on the first, and back on the first its draft is there — they stayed in the panel, and were saved on the clip opened", async () => {
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1.2, 1.6]], memberKey);
    await clickAt(0.35);
    await panelShows(a);
    await page.fill("#clip-panel-note", "half a note on a");
    await page.check("#clip-panel-issue");
    await page.fill("#clip-panel-tag-key", "species");
    await page.fill("#clip-panel-tag-value", "Myo");
    await page.click(`#clip-list button[data-clip-id="${b.id}"]`);
    await panelShows(b);
    expect(await drafted()).toEqual(["", false, "", ""]);
    await page.getByRole("button", { name: "Add note" }).click();
    await expect.poll(status).toBe("note not added: write its message first");
    await page.fill("#clip-panel-note", "b's own");
    await page.getByRole("button", { name: "Add note" }).click();
    await expect.poll(async () => (await held(b.id))!.notes.map((n) => [n.message, n.is_issue])).toEqual([["b's own", false]]);
    // Back on a by its box: its draft, nothing of it saved; then on b again, its note added: nothing left.
    await clickAt(0.35);
    await panelShows(a);
    expect(await drafted()).toEqual(["half a note on a", true, "species", "Myo"]);
    expect([(await held(a.id))!.notes, (await held(a.id))!.tags]).toEqual([[], []]);
    await clickAt(1.4);
    await panelShows(b);
    expect(await drafted()).toEqual(["", false, "", ""]);
    // Closed and opened again: a's draft still.
    await clickAt(0.35);
    await panelShows(a);
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    await page.click(`#clip-list button[data-clip-id="${a.id}"]`);
    await panelShows(a);
    expect(await drafted()).toEqual(["half a note on a", true, "species", "Myo"]);
    await page.getByRole("button", { name: "Add note" }).click();
    await expect.poll(async () => (await held(a.id))!.notes.map((n) => [n.message, n.is_issue])).toEqual([["half a note on a", true]]);
    expect((await held(b.id))!.notes.map((n) => n.message)).toEqual(["b's own"]);
  });

  it("warns before the page is left (beforeunload) while a note, a tag value or bounds are typed and not saved, on the clip shown or another — not without", async () => {
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1.2, 1.6]], memberKey, "", memberKey);
    /** Whether leaving the page now is asked about: a beforeunload event is cancelled. */
    const guarded = () => page.evaluate(() => { const e = new Event("beforeunload", { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; });
    await clickAt(0.35);
    await panelShows(a);
    expect(await guarded()).toBe(false);
    await page.fill("#clip-panel-note", "a call");
    expect(await guarded()).toBe(true);
    await page.fill("#clip-panel-note", "");
    expect(await guarded()).toBe(false);
    await page.fill("#clip-panel-tag-value", "faint");
    expect(await guarded()).toBe(true);
    await page.fill("#clip-panel-tag-value", "");
    await page.fill("#clip-panel-start", "0.25");
    expect(await guarded()).toBe(true);
    await page.fill("#clip-panel-start", "0.2"); // as shown: not an edit
    expect(await guarded()).toBe(false);
    // A draft on a clip no longer shown counts too, until it is saved.
    await page.fill("#clip-panel-note", "a call");
    await clickAt(1.4);
    await panelShows(b);
    expect(await guarded()).toBe(true);
    await clickAt(0.35);
    await panelShows(a);
    await page.getByRole("button", { name: "Add note" }).click();
    await expect.poll(async () => (await held(a.id))!.notes.length).toBe(1);
    await expect.poll(guarded).toBe(false);
  });

  it("spends an Escape on the plot stopping what plays: the clip's panel stays open, the next Escape closes it — one press did both", async () => {
    const { clips: [a] } = await openWithClips([[0.2, 0.5]]);
    await clickAt(0.35);
    await panelShows(a);
    await page.selectOption("#rate", "0.1"); // 20 s of playing: still playing at the Escape
    const paused = () => page.evaluate(() => document.querySelector("audio")!.paused);
    await page.focus("#plot");
    await page.keyboard.press(" ");
    await expect.poll(paused, { timeout: 10_000 }).toBe(false);
    await page.keyboard.press("Escape");
    await expect.poll(paused).toBe(true);
    expect(await page.isVisible("#clip-panel")).toBe(true);
    await page.keyboard.press("Escape");
    await expect.poll(() => page.isVisible("#clip-panel")).toBe(false);
    await page.selectOption("#rate", "1");
  });

  it("moves a clip by the fields edited alone, with their values as read: another's move of another field meanwhile stays, and of the same field is said, not overwritten — the panel sent all four bounds as it had read them, reverting it", async () => {
    const { clips: [a] } = await openWithClips([[0.2, 0.5, 1000, 5000]], memberKey, "", memberKey);
    await clickAt(0.35, 0.9); // within its band: 2.4 kHz
    await panelShows(a);
    const bodies: unknown[] = [];
    page.on("request", (r) => { if (r.method() === "PATCH") bodies.push(r.postDataJSON()); });
    // Another (the admin, through the API) moves the end meanwhile; the user moves the start.
    await call("PATCH", `/v1/clips/${a.id}`, { end_time: 0.6 });
    await page.fill("#clip-panel-start", "0.25");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => (await held(a.id))!.start_time).toBe(0.25);
    expect(await held(a.id)).toMatchObject({ start_time: 0.25, end_time: 0.6, low_freq: 1000, high_freq: 5000 });
    expect(bodies).toEqual([{ start_time: 0.25, expected: { start_time: 0.2 } }]);
    // The database holds the move before the page has read the answer: wait for the page.
    await expect.poll(() => page.inputValue("#clip-panel-end")).toBe("0.6");
    // The start moved again by the other, the user's start from 0.25: refused, said, the fields
    // showing the clip now with the user's edit kept — Move again applies it.
    await call("PATCH", `/v1/clips/${a.id}`, { start_time: 0.3, high_freq: 6000 });
    await page.fill("#clip-panel-start", "0.22");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(status).toBe("clip not moved: its start was moved meanwhile by another (0.3 s now, 0.25 s as read) — the fields show the clip as it is now, with your edit kept: Move clip again to apply it");
    expect(await page.getAttribute("#status", "class")).toBe("error");
    expect(await held(a.id)).toMatchObject({ start_time: 0.3, end_time: 0.6, high_freq: 6000 });
    await expect.poll(() => page.inputValue("#clip-panel-high")).toBe("6000");
    // The page as well as the panel: the clip's box, its line in the list, the features' heading and
    // the selection show it as it is now (they kept 0.25–0.6 s, 1000–5000 Hz).
    const now = "0.3000–0.6000 s, 1000–6000 Hz";
    await expect.poll(() => page.getAttribute(`#clips div[data-clip-id="${a.id}"]`, "title")).toBe(`clip ${now}`);
    await expect.poll(() => page.textContent(`#clip-list button[data-clip-id="${a.id}"]`)).toBe(now);
    expect(await page.textContent("#clip-info h2")).toMatch(/^Clip 0\.3000–0\.6000 s, 1000–6000 Hz/);
    expect(await page.textContent("#selection-range")).toBe("0.3000–0.6000 s");
    expect([await page.inputValue("#clip-panel-start"), await page.getAttribute("#clip-panel-start", "aria-invalid")]).toEqual(["0.22", "true"]);
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(async () => (await held(a.id))!.start_time).toBe(0.22);
    expect(await held(a.id)).toMatchObject({ start_time: 0.22, end_time: 0.6, low_freq: 1000, high_freq: 6000 });
    expect(bodies.at(-1)).toEqual({ start_time: 0.22, expected: { start_time: 0.3 } });
    await expect.poll(status).toBe("clip moved to 0.2200–0.6000 s, 1000–6000 Hz");
    expect(await page.getAttribute("#status", "class")).toBe("");
  });

  it("takes the panel's earlier error off the status line once a clip is opened, or made and opened — it stayed red over the clip made next", async () => {
    const { clips: [a, b] } = await openWithClips([[0.2, 0.5], [1.2, 1.6]], memberKey, "", memberKey);
    await clickAt(0.35);
    await panelShows(a);
    await page.fill("#clip-panel-end", "3");
    await page.getByRole("button", { name: "Move clip" }).click();
    await expect.poll(status).toMatch(/^clip not moved: .*end_time/);
    await clickAt(1.4);
    await panelShows(b);
    await expect.poll(status).toBe("");
    expect(await page.getAttribute("#status", "class")).toBe("");
    await page.getByRole("button", { name: "Add tag" }).click();
    await expect.poll(status).toBe("tag not added: a tag needs a key and a value");
    await markSelection();
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#clips div").count()).toBe(3);
    await expect.poll(status).toBe("");
  });

  it("shows a clip's times to as many decimals as tell it apart — 4 significant digits of its length, at most to the sample — in the list, its box's title, the selection and the status line, as in the panel: a 4.5 ms clip read 0.274–0.279 s", async () => {
    const { clips: [short, long] } = await openWithClips([[0.274, 0.2785, 30000 / 2 ** 4, 8000], [1.2, 1.6]]);
    // 48 kHz: the fifth decimal tells samples apart (4.5 ms to 4 significant digits would be the sixth).
    await expect.poll(() => page.locator("#clip-list button").allTextContents()).toEqual(["0.27400–0.27850 s, 1875–8000 Hz", "1.2000–1.6000 s"]);
    expect(await page.getAttribute(`#clips div[data-clip-id="${short.id}"]`, "title")).toBe("clip 0.27400–0.27850 s, 1875–8000 Hz");
    await page.click(`#clip-list button[data-clip-id="${short.id}"]`);
    await expect.poll(() => page.textContent("#clip-panel-title")).toBe("Clip 0.27400–0.27850 s, 1875–8000 Hz");
    expect(await page.textContent("#selection-range")).toBe("0.27400–0.27850 s");
    expect(await page.textContent("#clip-info h2")).toMatch(/^Clip 0\.27400–0\.27850 s, 1875–8000 Hz/);
    await page.fill("#clip-panel-tag-key", "call");
    await page.fill("#clip-panel-tag-value", "FM");
    await page.getByRole("button", { name: "Add tag" }).click();
    await expect.poll(status).toBe("tag call: FM added to clip 0.27400–0.27850 s, 1875–8000 Hz");
    await page.click(`#clip-list button[data-clip-id="${long.id}"]`);
    await expect.poll(() => page.textContent("#selection-range")).toBe("1.2000–1.6000 s");
  });
});
