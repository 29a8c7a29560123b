/**
 * GET /v1/recordings/{id}/stats and …/stats/lookup (SPEC §5 recording stats): the stats stored
 * for a recording's current content, with the parameters they are for, their normalization maximum
 * and PCEN checkpoints — read-only, never starting a pass. Embedded database, or DATABASE_URL.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { decode } from "../src/audio/index.js";
import { parseParams } from "../src/engine/params.js";
import { spectrogram } from "../src/engine/spectrogram.js";
import { VERSION } from "../src/engine/version.js";
import { createDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { recordingStatsIdentity, TileService } from "../src/tiles/service.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let tiles: TileService;
let dir: Awaited<ReturnType<typeof tempDir>>;
let id: string;
let hash: string;
const SECONDS = 20;

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  // 20 s at 8 kHz: 1601 frames of 200 samples 100 apart, PCEN checkpoints before frames 512, 1024 and 1536.
  await writeSineWav(join(dir.path, "tone.wav"), 8000, SECONDS, 1000);
  const [root] = await resolveRoots([dir.path]);
  const dataset = await createDataset(t.db.sql, { name: "stats", audio_dir: root, created_by: null });
  const facts = await probeFile(join(root, "tone.wav"));
  ({ id, hash } = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: "tone.wav", ...facts, created_by: null }))!);
  tiles = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql) });
  app = await buildApp({ database: t.db, audioRoots: [root], tiles });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await tiles?.close();
  await t?.cleanup();
  await dir?.remove();
});

const get = (url: string) => app.inject({ url: `/v1/recordings/${id}/${url}` });
const listed = async () => (await get("stats")).json();

describe("recording stats over HTTP", () => {
  it("describe params in the OpenAPI document so that a validator takes null values (nullable beside a type, not beside anyOf)", async () => {
    const doc = (await app.inject({ url: "/docs/json" })).json();
    const params = doc.paths["/v1/recordings/{id}/stats"].get.responses["200"].content["application/json"].schema.properties.items.items.properties.params;
    // OpenAPI 3.0's nullable counts only beside a type: Ajv refused to compile it beside anyOf, and the document allowed no null (low_freq: null is one).
    expect(params.additionalProperties).toEqual({ anyOf: [{ type: "number", nullable: true }, { type: "string" }, { type: "boolean" }] });
  });

  it("lists nothing and looks up a 404 until a tile computes them; a GET starts no pass", async () => {
    const empty = await get("stats");
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toEqual({ items: [], limit: 50, offset: 0, total: 0 });
    const missing = await get("stats/lookup?window_size=0.025");
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toMatch(new RegExp(`^the stats of recording ${id} for these parameters are not computed yet \\(key [0-9a-f]{32}\\): the first tile or one-shot image with them computes them$`));
    expect(tiles.computed).toBe(0);
    expect(await t.db.sql`SELECT 1 FROM recording_stats`).toHaveLength(0);
    expect((await app.inject({ url: "/v1/recordings/00000000-0000-4000-8000-000000000000/stats" })).statusCode).toBe(404);
  });

  it("gives each parameter set's maximum, frames and PCEN checkpoints, by the parameters a client sends", async () => {
    for (const query of ["", "pcen=false&window_size=0.01"]) expect((await get(`tiles/0/0.f32?${query}`)).statusCode, query).toBe(200);
    const page = await listed();
    expect(page.total).toBe(2);
    const [plain, pcen] = [page.items.find((s: { params: { pcen: boolean } }) => !s.params.pcen), page.items.find((s: { params: { pcen: boolean } }) => s.params.pcen)];

    // The maximum is max(S) of the whole recording after PCEN, before normalization.
    const { data: [samples] } = await decode(join(dir.path, "tone.wav"));
    const maximum = (params: object) => spectrogram(samples, 8000, { ...params, normalize: false, scale: "power" }).data.reduce((m, v) => Math.max(m, v), 0);
    expect(pcen).toMatchObject({
      key: expect.stringMatching(/^[0-9a-f]{32}$/), status: "ready", time_expansion: 1, engine: VERSION,
      frames: 1601, geometry: { nperseg: 200, noverlap: 100, hop: 100, bins: 101, samplerate: 8000 },
      pcen_checkpoints: { count: 3, every_frames: 512, bytes: 3 * 101 * 4 }, overview: null,
      created_at: expect.any(String), computed_at: expect.any(String),
    });
    expect(pcen.maximum / maximum({})).toBeCloseTo(1, 5);
    // The analysis parameters, by the names a request sends; those that share the stats (scale, cmap…) are not among them.
    expect(pcen.params).toEqual({
      resample: false, samplerate: 44100, low_freq: null, high_freq: null, filter_order: 5, window_size: 200.5 / 8000, hop_size: 1 - 100.5 / 200.5,
      window: "hann", kaiser_beta: 14, channel: 0, pcen: true, pcen_smooth: 0.025, pcen_gain: 0.98, pcen_bias: 2, pcen_power: 0.5, pcen_eps: 1e-6,
    });
    expect(plain).toMatchObject({ status: "ready", frames: 4001, geometry: { nperseg: 80, hop: 40 }, pcen_checkpoints: null, overview: null, params: { pcen: false, window_size: 80.5 / 8000 } });
    expect(plain.maximum / maximum({ pcen: false, window_size: 0.01 })).toBeCloseTo(1, 5);
    expect(JSON.stringify(page)).not.toMatch(/checkpoints":\{[^}]*data/);

    // A lookup by the parameters of a tile URL: those that share the stats, or give the same frames, find the same entry.
    for (const query of ["", "scale=power&cmap=viridis&normalize=false", "window_size=0.02501&hop_size=0.4999", "pcen_smooth=0.025"]) {
      const found = await get(`stats/lookup?${query}`);
      expect([found.statusCode, found.json()], query).toEqual([200, pcen]);
    }
    expect((await get("stats/lookup?pcen=false&window_size=0.01&kaiser_beta=3")).json()).toEqual(plain);
    expect(tiles.computed).toBe(2 + 2); // the two passes and two tiles: no lookup computed anything
  });

  it("refuses parameters the recording cannot take (400 naming the field), and says when they need no stats", async () => {
    const channel = await get("stats/lookup?channel=1");
    expect([channel.statusCode, channel.json().fields]).toEqual([400, [{ field: "channel", message: "must be < channels (1)" }]]);
    expect((await get("stats/lookup?window=nope")).json().fields.map((f: { field: string }) => f.field)).toEqual(["window"]);
    const none = await get("stats/lookup?pcen=false&normalize=false");
    expect([none.statusCode, none.json().message]).toEqual([404, expect.stringMatching(new RegExp(`^no recording stats are kept for these parameters on recording ${id} \\(key [0-9a-f]{32}\\): dB without pcen or normalize needs no whole-recording statistic, so their tiles are computed without a pass — except tiles pooled from the overview \\(every tile from zoom 9 up of a recording over the tile work limit, within the pass limit\\), the first of which computes them$`))]);
  });

  it("lists stats being computed under a live claim, not a lapsed one, nor another content's", async () => {
    const store = tileStatsStore(t.db.sql);
    const live = recordingStatsIdentity({ samplerate: 8000, timeExpansion: 1, frames: SECONDS * 8000 }, parseParams({ window_size: 0.05 }));
    const lapsed = recordingStatsIdentity({ samplerate: 8000, timeExpansion: 1, frames: SECONDS * 8000 }, parseParams({ window_size: 0.06 }));
    expect(await store.claim(id, hash, live, "elsewhere:1:live", 60_000)).toBe(true);
    expect(await store.claim(id, hash, lapsed, "elsewhere:2:dead", 1)).toBe(true);
    await t.db.sql`UPDATE recording_stats SET recording_hash = ${"f".repeat(32)} WHERE recording_id = ${id} AND info->'for'->>'pcen' = 'false'`;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const page = await listed();
    expect(page.items.map((s: { key: string }) => s.key).sort()).toEqual([live.key, (await get("stats/lookup")).json().key].sort());
    expect(page.items.find((s: { key: string }) => s.key === live.key)).toMatchObject({
      status: "computing", params: { window_size: 400.5 / 8000 }, engine: VERSION, maximum: null, frames: null, pcen_checkpoints: null, computed_at: null,
    });
    expect((await get("stats/lookup?pcen=false&window_size=0.01")).statusCode).toBe(404);
  });

  it("shows the stats stored before they kept their parameters: unknown in the listing, the request's in a lookup", async () => {
    await t.db.sql`UPDATE recording_stats SET info = info - 'for' WHERE recording_id = ${id} AND status = 'ready'`;
    const [old] = (await listed()).items.filter((s: { status: string }) => s.status === "ready");
    expect(old).toMatchObject({ params: null, time_expansion: null, engine: null, frames: 1601, pcen_checkpoints: { count: 3 } });
    expect((await get("stats/lookup")).json()).toMatchObject({ key: old.key, params: { pcen: true, window_size: 200.5 / 8000 }, time_expansion: 1, engine: VERSION });
  });
});
