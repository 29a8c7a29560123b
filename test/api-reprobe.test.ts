/**
 * Recordings whose header facts an older engine read (migration 013's `probed_by` NULL or older)
 * are read again: by the server's sweep after start (api/plugins/reprobe.ts), and at their file's
 * first use (recordingFileNow). Only while the file is the registered one; what people added stays.
 */
import { appendFile, readFile, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { VERSION } from "../src/engine/version.js";
import { createClip, listClips } from "../src/store/clips.js";
import { createDataset } from "../src/store/datasets.js";
import { createNote, listNotes } from "../src/store/notes.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { addRecordingTag, getRecording, getRecordingLocation, insertRecording, readByOlderEngine, recordingFileNow } from "../src/store/recordings.js";
import { freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

const RATE = 8000;
let t: TestDatabase;
let dir: { path: string; remove(): Promise<void> };
/** Real paths of two audio roots: the apps here are given only the first. */
let root: string;
let otherRoot: string;

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  await Promise.all(["audio", "elsewhere"].map((d) => import("node:fs/promises").then((fs) => fs.mkdir(join(dir.path, d)))));
  [root, otherRoot] = await resolveRoots([join(dir.path, "audio"), join(dir.path, "elsewhere")]);
});

afterAll(async () => {
  await t?.cleanup();
  await dir?.remove();
});

/** A mono 16-bit WAV of `frames` samples of a sine; `unsetSize`: its data chunk's size field left 0, as a streaming writer leaves it. */
function wav(frames: number, hz = 440, unsetSize = false): Uint8Array {
  const x = new Float32Array(frames);
  for (let i = 0; i < frames; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * hz * i) / RATE);
  const bytes = encodeWav16(x, RATE);
  if (unsetSize) new DataView(bytes.buffer, bytes.byteOffset).setUint32(40, 0, true);
  return bytes;
}

/** A dataset of its own directory under `under`, for one test. */
async function dataset(name: string, under = root): Promise<{ id: string; dir: string }> {
  const audioDir = join(under, name);
  await import("node:fs/promises").then((fs) => fs.mkdir(audioDir));
  return { id: (await createDataset(t.db.sql, { name, audio_dir: audioDir, created_by: null })).id, dir: audioDir };
}

/** Writes `bytes` to `name` in the dataset's directory and registers it as this engine does. */
async function register(ds: { id: string; dir: string }, name: string, bytes: Uint8Array): Promise<string> {
  await writeFile(join(ds.dir, name), bytes);
  return (await insertRecording(t.db.sql, { dataset_id: ds.id, path: name, ...(await probeFile(join(ds.dir, name))), created_by: null }))!.id;
}

/** Makes the row what an older reader left: these facts, read by `probedBy`. */
async function readByOlder(id: string, facts: { frames: number; channels?: number }, probedBy: string | null = null): Promise<void> {
  await t.db.sql`UPDATE recordings SET frames = ${facts.frames}, channels = COALESCE(${facts.channels ?? null}::int, channels), probed_by = ${probedBy} WHERE id = ${id}`;
}

async function row(id: string): Promise<{ frames: number; channels: number; file_samplerate: number; probed_by: string | null; duration: number }> {
  const [r] = await t.db.sql`SELECT frames::float8 AS frames, channels, file_samplerate, probed_by, duration FROM recordings WHERE id = ${id}`;
  return r as never;
}

interface LogLine { level: number; msg: string; recording?: { id: string; path: string }; reason?: string; clipsPastEnd?: number; clipsAboveNyquist?: number; stored?: number; corrected?: number; left?: number; complete?: boolean }

/** An app on the test database with the first root, its log lines kept; `onLine` is told of each as it is written. */
async function startApp(onLine?: (line: LogLine, app: App) => void): Promise<{ app: App; lines: LogLine[]; summary(): LogLine | undefined }> {
  const lines: LogLine[] = [];
  const app = await buildApp({
    database: t.db,
    audioRoots: [root],
    logger: { level: "info", stream: { write: (text: string) => { const line = JSON.parse(text) as LogLine; lines.push(line); onLine?.(line, app); } } },
  });
  await app.ready();
  return { app, lines, summary: () => lines.find((l) => l.msg === "recordings read again by this engine's readers") };
}

const SWEEP_DONE = { timeout: 30_000, interval: 20 };

describe("the sweep at server start", () => {
  it("reads again the facts an older reader read, keeps tags, notes and clips, and leaves files replaced, missing, outside its roots or read by a newer engine", async () => {
    const ds = await dataset("sweep");
    // Registered as this engine counts them (4000 frames, 0.5 s), then made what 0.4.0's reader
    // had stored: a WAV whose writer left the data size 0 counted no frames.
    const unset = await register(ds, "unset.wav", wav(4000, 440, true));
    const clip = await createClip(t.db.sql, { recording_id: unset, start_time: 0.1, end_time: 0.4, created_by: null });
    await addRecordingTag(t.db.sql, unset, { key: "species", value: "Pipistrellus", created_by: null });
    await createNote(t.db.sql, { message: "call at 0.2 s", recording_id: unset, created_by: null });
    await readByOlder(unset, { frames: 0 });
    // A row another older engine read with wrong channels and frames.
    const older = await register(ds, "older.wav", wav(2400, 1000));
    await readByOlder(older, { frames: 123, channels: 2 }, "0.4.0");
    // Rewritten with other bytes of the same size (and a later time), appended to, deleted.
    const replaced = await register(ds, "replaced.wav", wav(800, 440));
    await writeFile(join(ds.dir, "replaced.wav"), wav(800, 3000));
    const later = new Date(Date.now() + 60_000);
    await utimes(join(ds.dir, "replaced.wav"), later, later);
    const resized = await register(ds, "resized.wav", wav(800));
    await appendFile(join(ds.dir, "resized.wav"), new Uint8Array(100));
    const missing = await register(ds, "missing.wav", wav(800));
    const missingBytes = await readFile(join(ds.dir, "missing.wav"));
    await unlink(join(ds.dir, "missing.wav"));
    for (const id of [replaced, resized, missing]) await readByOlder(id, { frames: 5 });
    // Facts a newer engine read (a newer server beside this one) stay.
    const newer = await register(ds, "newer.wav", wav(800));
    await readByOlder(newer, { frames: 7 }, "999.0.0");
    // A dataset outside this server's roots is for the servers given that directory.
    const away = await dataset("away", otherRoot);
    const outside = await register(away, "outside.wav", wav(800));
    await readByOlder(outside, { frames: 9 });

    const { app, lines, summary } = await startApp();
    try {
      await expect.poll(summary, SWEEP_DONE).toBeDefined();
      expect(summary()).toMatchObject({ stored: 2, corrected: 2, left: 3, complete: true });
      expect(await row(unset)).toEqual({ frames: 4000, channels: 1, file_samplerate: RATE, probed_by: VERSION, duration: 0.5 });
      expect(await row(older)).toEqual({ frames: 2400, channels: 1, file_samplerate: RATE, probed_by: VERSION, duration: 0.3 });
      const shown = (await app.inject({ url: `/v1/recordings/${unset}` })).json();
      expect(shown).toMatchObject({ frames: 4000, duration: 0.5, channels: 1, tags: [{ key: "species", value: "Pipistrellus" }] });
      expect((await listClips(t.db.sql, { recording_id: unset, state: "active", limit: 10, offset: 0, sort: "start_time", order: "asc" })).items.map((c) => c.id)).toEqual([clip.id]);
      expect((await listNotes(t.db.sql, { recording_id: unset, state: "active", limit: 10, offset: 0 })).items.map((n) => n.message)).toEqual(["call at 0.2 s"]);
      // Left as they were: the files are not the registered content, or not there.
      for (const id of [replaced, resized, missing]) expect(await row(id)).toMatchObject({ frames: 5, probed_by: null });
      expect(await row(newer)).toMatchObject({ frames: 7, probed_by: "999.0.0" });
      expect(await row(outside)).toMatchObject({ frames: 9, probed_by: null });
      // Each left one said once, at warn, with why.
      const warned = lines.filter((l) => l.level === 40);
      expect(warned.map((l) => l.recording!.path).sort()).toEqual(["missing.wav", "replaced.wav", "resized.wav"]);
      expect(warned.find((l) => l.recording!.path === "missing.wav")!.reason).toBe("file missing.wav does not exist in the dataset's audio_dir");
      expect(warned.find((l) => l.recording!.path === "resized.wav")!.reason).toMatch(/has changed since it was registered: 1644 bytes then, 1744 now/);
      expect(warned.find((l) => l.recording!.path === "replaced.wav")!.reason).toMatch(/the same size, but modified \(MD5 [0-9a-f]{32} then, [0-9a-f]{32} now\)/);
    } finally {
      await app.close();
    }

    // The next start tries the left ones again: the missing file put back (the same bytes) is read.
    await writeFile(join(ds.dir, "missing.wav"), missingBytes);
    const again = await startApp();
    try {
      await expect.poll(again.summary, SWEEP_DONE).toBeDefined();
      expect(again.summary()).toMatchObject({ stored: 1, corrected: 1, left: 2, complete: true });
      expect(await row(missing)).toEqual({ frames: 800, channels: 1, file_samplerate: RATE, probed_by: VERSION, duration: 0.1 });
    } finally {
      await again.app.close();
      await t.db.sql`DELETE FROM datasets WHERE id IN (${ds.id}, ${away.id})`;
    }
  });

  it("keeps the clips of a recording that comes out shorter, and warns of those that now end after it", async () => {
    const ds = await dataset("shorter");
    // 0.5 s of audio that an older reader counted as 1 s (as junk after an Ogg's last page was).
    const id = await register(ds, "shorter.wav", wav(4000));
    await readByOlder(id, { frames: 8000 });
    const inside = await createClip(t.db.sql, { recording_id: id, start_time: 0.1, end_time: 0.4, created_by: null });
    const after = await createClip(t.db.sql, { recording_id: id, start_time: 0.6, end_time: 0.9, created_by: null });
    const { app, lines } = await startApp();
    try {
      await expect.poll(async () => (await row(id)).probed_by, SWEEP_DONE).toBe(VERSION);
      expect(await row(id)).toMatchObject({ frames: 4000, duration: 0.5 });
      const clips = await listClips(t.db.sql, { recording_id: id, state: "active", limit: 10, offset: 0, sort: "start_time", order: "asc" });
      expect(clips.items.map((c) => [c.id, c.start_time, c.end_time])).toEqual([[inside.id, 0.1, 0.4], [after.id, 0.6, 0.9]]);
      await expect.poll(() => lines.find((l) => l.level === 40), SWEEP_DONE).toMatchObject({
        msg: "recording's facts corrected; some of its clips now end after it or reach above its Nyquist frequency",
        recording: { id, path: "shorter.wav" },
        clipsPastEnd: 1,
        clipsAboveNyquist: 0,
      });
    } finally {
      await app.close();
      await t.db.sql`DELETE FROM datasets WHERE id = ${ds.id}`;
    }
  });

  it("keeps the clips whose band a lower rate leaves above the Nyquist frequency, and warns of them", async () => {
    const ds = await dataset("lower");
    // An 8 kHz file whose rate an older reader took for 16 kHz: Nyquist 8 kHz then, 4 kHz now.
    const id = await register(ds, "lower.wav", wav(800));
    await t.db.sql`UPDATE recordings SET file_samplerate = 16000, probed_by = NULL WHERE id = ${id}`;
    const band = (low_freq: number | null, high_freq: number | null) => createClip(t.db.sql, { recording_id: id, start_time: 0.01, end_time: 0.02, low_freq, high_freq, created_by: null });
    await band(1000, 4000);
    await band(3000, 5000);
    await band(4000, null);
    const { app, lines } = await startApp();
    try {
      await expect.poll(async () => (await row(id)).probed_by, SWEEP_DONE).toBe(VERSION);
      expect(await row(id)).toMatchObject({ file_samplerate: RATE });
      expect((await t.db.sql`SELECT count(*)::int AS n FROM clips WHERE recording_id = ${id}`)[0].n).toBe(3);
      await expect.poll(() => lines.find((l) => l.level === 40), SWEEP_DONE).toMatchObject({
        msg: "recording's facts corrected; some of its clips now end after it or reach above its Nyquist frequency",
        recording: { id, path: "lower.wav" },
        clipsPastEnd: 0,
        clipsAboveNyquist: 2,
      });
    } finally {
      await app.close();
      await t.db.sql`DELETE FROM datasets WHERE id = ${ds.id}`;
    }
  });

  it("stores each recording once when two servers sweep the same database at once", async () => {
    const ds = await dataset("twice");
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await register(ds, `${i}.wav`, wav(400 + i)));
    for (const id of ids) await readByOlder(id, { frames: 1 });
    const apps = await Promise.all([startApp(), startApp()]);
    const corrections = () => apps.flatMap((a) => a.lines).filter((l) => l.msg === "recording's facts corrected");
    try {
      await expect.poll(async () => (await Promise.all(ids.map(row))).every((r) => r.probed_by === VERSION), SWEEP_DONE).toBe(true);
    } finally {
      await Promise.all(apps.map((a) => a.app.close()));
    }
    try {
      // Each stored by one of them, the other's update finding the row read already.
      expect(corrections().map((l) => l.recording!.id).sort()).toEqual([...ids].sort());
      expect(apps.flatMap((a) => a.lines).filter((l) => l.level >= 40)).toEqual([]);
      expect((await Promise.all(ids.map(row))).map((r) => [r.frames, r.probed_by])).toEqual(ids.map((_, i) => [400 + i, VERSION]));
    } finally {
      await t.db.sql`DELETE FROM datasets WHERE id = ${ds.id}`;
    }
  });

  it("stops when the server closes mid-sweep, with nothing stored after, and the next start finishes it", async () => {
    const ds = await dataset("closing");
    const n = 60;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await register(ds, `${i}.wav`, wav(100 + i)));
    for (const id of ids) await readByOlder(id, { frames: 1 });
    const stale = async () => Number((await t.db.sql`SELECT count(*) AS n FROM recordings WHERE dataset_id = ${ds.id} AND probed_by IS NULL`)[0].n);
    let firstCorrected: () => void;
    const corrected1 = new Promise<void>((resolve) => (firstCorrected = resolve));
    const started = await startApp((line) => {
      if (line.msg.startsWith("recording's facts corrected")) firstCorrected();
    });
    // Closed as soon as the first recording is corrected: the sweep is under way.
    await corrected1;
    await started.app.close();
    const corrected = started.lines.filter((l) => l.msg.startsWith("recording's facts corrected")).length;
    // What is stored is what was reported before the close ended: no update came after it.
    expect(n - (await stale())).toBe(corrected);
    expect(corrected).toBeLessThan(n);
    expect(started.summary()).toMatchObject({ stored: corrected, complete: false });
    expect(started.lines.filter((l) => l.level >= 40)).toEqual([]);

    const next = await startApp();
    try {
      await expect.poll(next.summary, SWEEP_DONE).toBeDefined();
      expect(next.summary()).toMatchObject({ stored: n - corrected, left: 0, complete: true });
      expect(await stale()).toBe(0);
    } finally {
      await next.app.close();
      await t.db.sql`DELETE FROM datasets WHERE id = ${ds.id}`;
    }
  });
});

describe("a file's first use (recordingFileNow)", () => {
  it("reads again the facts of a recording an older engine read, and returns them", async () => {
    const ds = await dataset("use");
    const id = await register(ds, "use.wav", wav(1600, 440, true));
    await readByOlder(id, { frames: 0, channels: 2 });
    const used = await recordingFileNow(t.db.sql, await getRecordingLocation(t.db.sql, id), id);
    expect(used).toMatchObject({ frames: 1600, channels: 1, file_samplerate: RATE, size: (await stat(join(ds.dir, "use.wav"))).size });
    expect(await getRecording(t.db.sql, id)).toMatchObject({ frames: 1600, channels: 1, duration: 0.2 });
    expect((await row(id)).probed_by).toBe(VERSION);
    await t.db.sql`DELETE FROM datasets WHERE id = ${ds.id}`;
  });

  it("leaves the facts a newer engine read, and refuses a replaced file before reading anything", async () => {
    const ds = await dataset("use-left");
    const newer = await register(ds, "newer.wav", wav(800));
    await readByOlder(newer, { frames: 7 }, "999.0.0");
    expect(await recordingFileNow(t.db.sql, await getRecordingLocation(t.db.sql, newer), newer)).toMatchObject({ frames: 7 });
    expect(await row(newer)).toMatchObject({ frames: 7, probed_by: "999.0.0" });
    const resized = await register(ds, "resized.wav", wav(800));
    await readByOlder(resized, { frames: 7 });
    await appendFile(join(ds.dir, "resized.wav"), new Uint8Array(2));
    await expect(recordingFileNow(t.db.sql, await getRecordingLocation(t.db.sql, resized), resized)).rejects.toThrow(/has changed since it was registered: 1644 bytes then, 1646 now/);
    expect(await row(resized)).toMatchObject({ frames: 7, probed_by: null });
    await rm(join(ds.dir, "resized.wav"));
    await t.db.sql`DELETE FROM datasets WHERE id = ${ds.id}`;
  });

  it("orders engine versions as numbers, part by part", () => {
    const [major, minor] = VERSION.split(".").map(Number);
    expect(readByOlderEngine(null)).toBe(true);
    expect(readByOlderEngine(VERSION)).toBe(false);
    expect(readByOlderEngine("0.0.0")).toBe(true);
    expect(readByOlderEngine(`${major}.${minor + 10}.0`)).toBe(false); // 0.16.0 is after 0.6.0, as numbers (not as text)
    expect(readByOlderEngine(`${major + 1}`)).toBe(false); // 1 is 1.0.0
    expect(readByOlderEngine("unknown")).toBe(true);
  });
});
