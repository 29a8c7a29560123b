/**
 * The demo data of `sonotile serve --demo`: the synthetic recordings decode with the stated
 * rates and lengths, put their energy where the calls are meant to be, and register once in
 * the dataset "demo" however often the server starts.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode } from "../src/audio/index.js";
import { ensureDemoAudio, ensureDemoDataset } from "../src/demo/index.js";
import { listRecordings } from "../src/store/recordings.js";
import { resolveRoots } from "../src/store/paths.js";
import { freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

let dir: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  dir = await tempDir();
  await ensureDemoAudio(dir.path);
});

afterAll(async () => {
  await dir?.remove();
});

/** Power of x[start, start+n) at frequency f (a single-bin DFT, float64), per sample. */
function powerAt(x: Float32Array, fs: number, start: number, n: number, f: number): number {
  let re = 0;
  let im = 0;
  for (let i = 0; i < n; i++) {
    const w = (2 * Math.PI * f * i) / fs;
    re += x[start + i] * Math.cos(w);
    im -= x[start + i] * Math.sin(w);
  }
  return (re * re + im * im) / (n * n);
}

describe("demo recordings", () => {
  it("are 5 s at 384 kHz with FM calls between 35 and 90 kHz", async () => {
    const bats = await decode(join(dir.path, "bats-384k.wav"));
    expect(bats).toMatchObject({ samplerate: 384000, channels: 1, frames: 5 * 384000 });
    // The first call spans [0.05 s, 0.053 s); its sweep passes through 60 kHz, not 10 kHz.
    const start = Math.round(0.05 * 384000);
    const n = Math.round(0.003 * 384000);
    const inBand = powerAt(bats.data[0], 384000, start, n, 60000);
    expect(inBand / powerAt(bats.data[0], 384000, start, n, 10000)).toBeGreaterThan(100);
    // Between calls there is only faint noise.
    expect(powerAt(bats.data[0], 384000, Math.round(0.1 * 384000), n, 60000)).toBeLessThan(inBand / 100);
  });

  it("are 10 s at 48 kHz with chirps between 2.5 and 7 kHz", async () => {
    const birds = await decode(join(dir.path, "birds-48k.wav"));
    expect(birds).toMatchObject({ samplerate: 48000, channels: 1, frames: 10 * 48000 });
    const x = birds.data[0];
    let peak = 0;
    for (const v of x) peak = Math.max(peak, Math.abs(v));
    expect(peak).toBeGreaterThan(0.2);
    expect(peak).toBeLessThan(1);
    // Phrases start at 0.3 s: a syllable there, silence (noise) at 0.1 s.
    const n = Math.round(0.05 * 48000);
    const energy = (from: number) => { let e = 0; for (let i = 0; i < n; i++) e += x[from + i] ** 2; return e / n; };
    expect(energy(Math.round(0.31 * 48000))).toBeGreaterThan(1000 * energy(Math.round(0.1 * 48000)));
  });

  it("register once in the dataset demo", async () => {
    const t: TestDatabase = await freshDatabase();
    try {
      const [real] = await resolveRoots([dir.path]);
      const first = await ensureDemoDataset(t.db.sql, real, null);
      expect(first?.registered.map((r) => r.path)).toEqual(["bats-384k.wav", "birds-48k.wav"]);
      const [demo] = await t.db.sql`SELECT run_id FROM datasets WHERE name = 'demo'`;
      expect(demo.run_id).toBe(first!.run.id);
      expect(await ensureDemoDataset(t.db.sql, real, null)).toBeNull();
      // A start with nothing to register records no run (every `serve --demo` added an empty import run).
      expect((await t.db.sql`SELECT count(*)::int AS n FROM runs WHERE kind = 'import'`)[0].n).toBe(1);
      // Two servers starting together on one database: one dataset, no error.
      await t.db.sql`DELETE FROM datasets`;
      const both = await Promise.all([ensureDemoDataset(t.db.sql, real, null), ensureDemoDataset(t.db.sql, real, null)]);
      expect(both.flatMap((r) => r?.registered ?? []).map((r) => r.path).sort()).toEqual(["bats-384k.wav", "birds-48k.wav"]);
      const page = await listRecordings(t.db.sql, { state: "active", sort: "path", order: "asc", limit: 10, offset: 0 });
      expect(page.items.map((r) => [r.path, r.samplerate, r.duration])).toEqual([["bats-384k.wav", 384000, 5], ["birds-48k.wav", 48000, 10]]);
    } finally {
      await t.cleanup();
    }
  });

  it("of a second server with a data directory of its own, on the same database, form a dataset of their own (it stopped at 'name already exists')", async () => {
    const t: TestDatabase = await freshDatabase();
    const other = await tempDir();
    try {
      await ensureDemoAudio(other.path);
      const [first, second] = await resolveRoots([dir.path, other.path]);
      await ensureDemoDataset(t.db.sql, first, null);
      const added = await ensureDemoDataset(t.db.sql, second, null);
      expect(added?.registered.map((r) => r.path)).toEqual(["bats-384k.wav", "birds-48k.wav"]);
      const datasets = await t.db.sql`SELECT name, audio_dir FROM datasets ORDER BY name`;
      expect(datasets.map((d) => [d.name, d.audio_dir])).toEqual([["demo", first], [`demo (${second})`, second]]);
      expect((await t.db.sql`SELECT status FROM runs WHERE kind = 'import' ORDER BY created_at`).map((r) => r.status)).toEqual(["completed", "completed"]);
      expect(await ensureDemoDataset(t.db.sql, second, null)).toBeNull(); // found by its directory at the next start
      // The two starting at the same moment: both check the name before either inserts it.
      await t.db.sql`DELETE FROM datasets`;
      await Promise.all([ensureDemoDataset(t.db.sql, first, null), ensureDemoDataset(t.db.sql, second, null)]);
      expect((await t.db.sql`SELECT count(*)::int AS n FROM datasets WHERE name LIKE 'demo%'`)[0].n).toBe(2);
    } finally {
      await t.cleanup();
      await other.remove();
    }
  });
});
