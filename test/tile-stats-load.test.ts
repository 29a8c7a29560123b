/**
 * Stored stats loaded by the tile layer (tileStatsStore's load) are used where getStats read them:
 * the PCEN checkpoints were copied once more on the main thread, which served no request
 * meanwhile — /health neither (SPEC §10): 0.6–0.9 s for the 181 MB of 20 min at 384 kHz with a
 * hop of 96 samples, on a loaded 2-core machine. getStats is wrapped to keep the rows it returns;
 * nothing else is changed.
 */
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { parseParams } from "../src/engine/params.js";
import { createDataset } from "../src/store/datasets.js";
import { insertRecording } from "../src/store/recordings.js";
import type { RecordingStats } from "../src/store/stats.js";
import { recordingStatsIdentity, type TileRecording } from "../src/tiles/service.js";
import { freshDatabase, type TestDatabase } from "./store-helpers.js";

const read: (RecordingStats | null)[] = [];

vi.mock("../src/store/stats.js", async (importOriginal) => {
  const stats = await importOriginal<typeof import("../src/store/stats.js")>();
  return { ...stats, getStats: async (...args: Parameters<typeof stats.getStats>) => { const row = await stats.getStats(...args); read.push(row); return row; } };
});

let t: TestDatabase;
let recording: TileRecording;

beforeAll(async () => {
  t = await freshDatabase();
  const dataset = await createDataset(t.db.sql, { name: "load", audio_dir: "/nonexistent/load", created_by: null });
  const facts = { hash: "0123456789abcdef0123456789abcdef", file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1 };
  const rec = await insertRecording(t.db.sql, { dataset_id: dataset.id, path: "a.wav", ...facts, created_by: null });
  recording = { id: rec!.id, path: "/nonexistent/load/a.wav", hash: facts.hash, timeExpansion: 1, samplerate: 1000, frames: 10000, channels: 1 };
}, 60_000);

afterAll(async () => {
  await t?.cleanup();
});

it("loaded stats hold their PCEN checkpoints where they were read, not in a copy", async () => {
  const store = tileStatsStore(t.db.sql);
  const identity = recordingStatsIdentity(recording, parseParams({ pcen: true }));
  expect(await store.claim(recording.id, recording.hash, identity, "me", 60_000, false)).toBe(true);
  const bins = 3;
  const checkpoints = Float32Array.from({ length: 5 * bins }, (_, i) => i / 7);
  const geometry = { bins, frames: 10000 } as never;
  await store.save(recording.id, recording.hash, identity, "me", { stats: { frames: 10000, peak: 2, checkpointEvery: 512, bins, checkpoints, firstCheckpoint: 1 }, geometry });
  const loaded = await store.load(recording.id, recording.hash, identity.key);
  expect(loaded!.stats.checkpoints).toEqual(checkpoints);
  expect(loaded!.stats.checkpoints.buffer).toBe(read.at(-1)!.pcen_checkpoints!.buffer);
  await store.close();
});
