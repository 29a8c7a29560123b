/**
 * Tiles over the tile work limit (TileServiceOptions.maxTileSamples, lowered here) through the
 * HTTP route (SPEC §4, §10): pooled from the overview the stats pass keeps and persists with the
 * stats — a 503 with the pass's progress while it runs, then the tile, equal to the max-pooling of
 * the one-pass spectrogram; the overview read back by another instance; stats stored without one
 * (before migration 023) computed again for such a tile only. Embedded database, or DATABASE_URL.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { openAudio } from "../src/audio/index.js";
import { parseParams } from "../src/engine/params.js";
import { spectrogramOfRecording } from "../src/engine/recording.js";
import { createDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { tileOptionsSchema } from "../src/tiles/grid.js";
import { TileService, type TileRecording } from "../src/tiles/service.js";
import { bytesToF32, maxAbsDiff } from "./golden.js";
import { FIXTURES, freshDatabase, type TestDatabase } from "./store-helpers.js";

const FILE = "whombat_tests_bats.wav"; // 44.1 kHz stereo, 22.5 s
// 88-sample windows 11 apart: 90,317 frames of 45 bins. A tile 128 wide at zoom 9 covers 65,536
// frames, 5.8·10^6 samples transformed: over a limit of 2^20, as zoom 8's 2.9·10^6; zoom 3's 9·10^4 is within it.
const QUERY = "width=128&window_size=0.002&hop_size=0.12&pcen=false&normalize=false";
const PARAMS = { window_size: 0.002, hop_size: 0.12, pcen: false, normalize: false };
const LIMIT = 2 ** 20;
let t: TestDatabase;
let app: App;
let tiles: TileService;
let recording: TileRecording;
const services: TileService[] = [];

/** Another server instance on the same database, with the same lowered limit. */
function instance(): TileService {
  const service = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql), maxTileSamples: LIMIT });
  services.push(service);
  return service;
}

beforeAll(async () => {
  t = await freshDatabase();
  const [root] = await resolveRoots([join(FIXTURES, "recordings")]);
  const dataset = await createDataset(t.db.sql, { name: "overview", audio_dir: root, created_by: null });
  const facts = await probeFile(join(root, FILE));
  const { id } = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: FILE, ...facts, created_by: null }))!;
  recording = { id, path: join(root, FILE), hash: facts.hash, timeExpansion: 1, samplerate: facts.file_samplerate, frames: facts.frames, channels: facts.channels };
  // A request waits 200 ms for a pass, then gets its 503.
  tiles = new TileService({ threads: 2, statsStore: tileStatsStore(t.db.sql), statsWaitMs: 200, maxTileSamples: LIMIT });
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await tiles?.close();
  for (const s of services) await s.close();
  await t?.cleanup();
});

/** Max-pooling (by 2^z frames, every bin its row) of the one-pass spectrogram's frames [f0, f1): what SPEC §4 says a tile is. */
async function expectedTile(f0: number, f1: number, factor: number): Promise<Float32Array> {
  const reader = await openAudio(recording.path);
  const whole = await spectrogramOfRecording(reader, PARAMS);
  await reader.close();
  const columns = Math.ceil((f1 - f0) / factor);
  const out = new Float32Array(whole.bins * columns).fill(-Infinity);
  for (let k = 0; k < whole.bins; k++) {
    for (let f = f0; f < f1; f++) {
      const i = k * columns + Math.floor((f - f0) / factor);
      out[i] = Math.max(out[i], whole.data[k * whole.frames + f]);
    }
  }
  return out;
}

describe("a tile over the tile work limit, through the HTTP route", () => {
  it("answers 503 with the pass's progress while the pass that keeps the overview runs (parameters that need no pass of their own), then the tile: the max-pooling of the one-pass spectrogram", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const run = tiles.pool.stats.bind(tiles.pool);
    tiles.pool.stats = async (task, signal, clients) => {
      await held;
      return run(task, signal, clients);
    };
    onTestFinished(() => {
      tiles.pool.stats = run;
    });
    const url = `/v1/recordings/${recording.id}/tiles/9/1.f32?${QUERY}`;
    const pending = await app.inject({ url });
    expect([pending.statusCode, pending.headers["retry-after"]], pending.body).toEqual([503, "10"]);
    expect(pending.json().message).toMatch(/^the recording's statistics for these parameters .* are being computed in one pass over the whole recording: 0 % of its \d+ frames done after \d+ s; retry in a few seconds$/);
    release();
    let res = pending;
    for (let i = 0; i < 300 && res.statusCode === 503; i++) res = await app.inject({ url });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    const [f0, f1] = res.headers["x-frame-range"]!.toString().split(",").map(Number);
    expect([f0, res.headers["x-frames-per-column"], res.headers["x-shape"]]).toEqual([65536, "512", `45,${Math.ceil((f1 - 65536) / 512)}`]);
    expect(maxAbsDiff(bytesToF32(res.rawPayload), await expectedTile(f0, f1, 512))).toBeLessThanOrEqual(1e-3);
    expect((await app.inject({ url, headers: { "if-none-match": res.headers.etag as string } })).statusCode).toBe(304);
    // Kept with the stats: one chunk of 4 bytes × 45 bins × ⌈frames / 512⌉ columns.
    const [row] = await t.db.sql`SELECT overview_bytes::int AS bytes, (SELECT count(*)::int FROM recording_stats_overview_chunks c WHERE c.recording_id = s.recording_id) AS chunks FROM recording_stats s WHERE recording_id = ${recording.id}`;
    expect(row).toEqual({ bytes: 4 * 45 * Math.ceil(f1 / 512), chunks: 1 });
  });

  it("shows the overview in the stats listing and lookup — by the parameters that need no pass of their own too, once such a tile ran one", async () => {
    const listed = (await app.inject({ url: `/v1/recordings/${recording.id}/stats` })).json();
    expect(listed.total).toBe(1);
    const [entry] = listed.items;
    const columns = Math.ceil(entry.frames / 512);
    expect([entry.frames, entry.params.pcen, entry.pcen_checkpoints, entry.overview]).toEqual([90_317, false, null, { columns, every_frames: 512, bytes: 4 * 45 * columns }]);
    const [row] = await t.db.sql`SELECT overview_bytes::int AS bytes FROM recording_stats WHERE recording_id = ${recording.id}`;
    expect(row.bytes).toBe(entry.overview.bytes);
    // Parameters that share these stats (scale, cmap) find them as well.
    for (const query of ["window_size=0.002&hop_size=0.12&pcen=false&normalize=false", "window_size=0.002&hop_size=0.12&pcen=false&scale=amplitude&cmap=gray"]) {
      const found = await app.inject({ url: `/v1/recordings/${recording.id}/stats/lookup?${query}` });
      expect([found.statusCode, found.json()], query).toEqual([200, entry]);
    }
    // Others of that kind, for which no tile ran a pass, are still a 404 that says why.
    const none = await app.inject({ url: `/v1/recordings/${recording.id}/stats/lookup?window_size=0.004&pcen=false&normalize=false` });
    expect([none.statusCode, none.json().message]).toEqual([404, expect.stringMatching(/^no recording stats are kept for these parameters on recording [-0-9a-f]{36} \(key [0-9a-f]{32}\): dB without pcen or normalize needs no whole-recording statistic, so their tiles are computed without a pass — except tiles pooled from the overview \(every tile from zoom 9 up of a recording over the tile work limit, within the pass limit\), the first of which computes them$/)]);
  });

  it("below zoom 9 a tile over the limit is still a 400 naming z", async () => {
    const res = await app.inject({ url: `/v1/recordings/${recording.id}/tiles/8/0.f32?${QUERY}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().fields).toEqual([{ field: "z", message: `a tile at zoom 8 would transform ${(32_768 * 88).toExponential(2)} samples (32768 frames of 88); the limit is ${LIMIT.toExponential(2)}: ask for a lower zoom, a narrower width, or a longer hop_size` }]);
  });
});

describe("the overview stored with the stats", () => {
  const options = tileOptionsSchema.parse({ width: 128 });

  it("is read back by another instance, which computes the tile without a pass: the same bytes", async () => {
    const p = parseParams(PARAMS);
    const here = await tiles.tile(recording, p, 9, 0, options, "f32");
    const other = instance();
    const plan = await other.planTile(recording, p, 9, 0, options, "f32");
    expect([plan.task.kind, other.computed]).toEqual(["overview", 0]); // its overview read from the database: no pass
    const there = await other.render(plan);
    expect([there.etag, Buffer.from(there.body).equals(Buffer.from(here.body))]).toEqual([here.etag, true]);
  });

  it("stored without one (before migration 023): the first tile of the recording, at any zoom, computes them again, with one", async () => {
    const p = parseParams(PARAMS);
    const before = await tiles.tile(recording, p, 9, 0, options, "npy");
    await t.db.sql`UPDATE recording_stats SET overview_bytes = NULL WHERE recording_id = ${recording.id}`;
    await t.db.sql`DELETE FROM recording_stats_overview_chunks WHERE recording_id = ${recording.id}`;
    const other = instance();
    // Power shares the stats of dB without PCEN (scale and normalization are applied after them).
    await other.tile(recording, parseParams({ ...PARAMS, scale: "power" }), 3, 0, options, "f32");
    expect(other.computed).toBe(2); // the pass, and the tile from the samples
    expect((await t.db.sql`SELECT overview_bytes IS NOT NULL AS kept FROM recording_stats WHERE recording_id = ${recording.id}`)[0].kept).toBe(true);
    const after = await other.tile(recording, p, 9, 0, options, "npy");
    expect(other.computed).toBe(3); // the tile from the overview alone
    expect(Buffer.from(after.body).equals(Buffer.from(before.body))).toBe(true);
    expect((await t.db.sql`SELECT overview_bytes IS NOT NULL AS kept FROM recording_stats WHERE recording_id = ${recording.id}`)[0].kept).toBe(true);
  });
});
