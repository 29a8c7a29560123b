/**
 * The spectrogram routes over HTTP (SPEC §4, §5, §10) on a real fixture recording registered in
 * a dataset: immutable tiles with ETag/304, seamless f32 tiles, validation naming the field,
 * stats persisted for every instance, the streamed range (order, cancellation on disconnect),
 * the one-shot image and its limit, and /health answering while the pool is busy.
 * Runs on the embedded database, or real PostgreSQL when DATABASE_URL is set.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { AddressInfo, Socket } from "node:net";
import UPNG from "upng-js";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { parseParams } from "../src/engine/params.js";
import { VERSION } from "../src/engine/version.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { AudioFormatError, openAudio } from "../src/audio/index.js";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import { spectrogramOfRecording } from "../src/engine/recording.js";
import { createDataset, importDataset } from "../src/store/datasets.js";
import { probeFile } from "../src/store/probe.js";
import { resolveRoots } from "../src/store/paths.js";
import { insertRecording, listRecordings } from "../src/store/recordings.js";
import { MAX_LIMIT } from "../src/api/schemas.js";
import { MAX_ZOOM, TILE_WIDTHS } from "../src/tiles/grid.js";
import { createToken } from "../src/store/tokens.js";
import { createClip } from "../src/store/clips.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { tileOptionsSchema } from "../src/tiles/grid.js";
import { StatsPendingError, TileService, type StatsStore } from "../src/tiles/service.js";
import { FIXTURES, freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";
import { bytesToF32, firstDifference, pngText } from "./golden.js";
import { command as spectrogramCommand } from "../src/cli/commands/spectrogram.js";
import { FAULT_WORKER_URL, faultTask } from "./fault-tasks.js";
import { TaskClients } from "../src/tiles/fair-queue.js";
import { WASM32_MEMORY_MAX } from "../src/engine/wasm.js";

const FILE = "whombat_tests_bats.wav"; // 44.1 kHz stereo, 22.5 s
let t: TestDatabase;
let app: App;
let tiles: TileService;
let id: string;
let hash: string;
let frames: number;
let adminKey: string;
let adminId: string;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
/** The fixture as the tile service sees it. */
const recording = () => ({ id, path: join(FIXTURES, "recordings", FILE), hash, timeExpansion: 1, samplerate: 44100, frames, channels: 2 });

beforeAll(async () => {
  t = await freshDatabase();
  const admin = await ensureAdmin(t.db.sql);
  adminKey = admin!.key;
  adminId = admin!.user.id;
  const [recordingsDir] = await resolveRoots([join(FIXTURES, "recordings")]);
  const dataset = await createDataset(t.db.sql, { name: "fixtures", audio_dir: recordingsDir, created_by: admin!.user.id });
  await importDataset(t.db.sql, dataset.id, admin!.user.id);
  const page = await listRecordings(t.db.sql, { dataset_id: dataset.id, limit: 100, offset: 0, sort: "path", order: "asc", state: "active" } as never);
  ({ id, hash, frames } = page.items.find((r) => r.path === FILE)!);
  // Some tests start stats passes of seconds of work; on a machine busy with other suites one
  // passed the default 20 s a request waits for a pass, and the test got the clients' StatsPendingError
  // ("is cancelled when its client disconnects", in three runs at load 12–22): they wait up to the test limit.
  tiles = new TileService({ threads: 2, statsStore: tileStatsStore(t.db.sql), statsWaitMs: 55_000 });
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, tileLimits: { maxStreamTiles: 300, maxImagePixels: 552 * 100, maxTilePixels: 600 * 1024 } });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await tiles?.close();
  await t?.cleanup();
});

describe("tiles", () => {
  it("are immutable under the recording's revision: strong ETag, year-long caching, 304 on If-None-Match", async () => {
    const { revision } = (await app.inject({ url: `/v1/recordings/${id}` })).json();
    const url = `/v1/recordings/${id}/tiles/0/1.png?revision=${revision}&cmap=viridis&width=256`;
    const first = await app.inject({ url });
    expect(first.statusCode).toBe(200);
    expect(first.headers["content-type"]).toBe("image/png");
    expect(first.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    const image = UPNG.decode(first.rawPayload.buffer.slice(first.rawPayload.byteOffset, first.rawPayload.byteOffset + first.rawPayload.byteLength) as ArrayBuffer);
    expect([image.width, image.height]).toEqual([256, 552]);
    const again = await app.inject({ url, headers: { "if-none-match": etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe("");
    expect(again.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    // Asked with a token, the answer is for the browser's cache only, not a proxy's (RFC 9111 §3.5).
    for (const [u, expected] of [[url, "private, max-age=31536000, immutable"], [`/v1/recordings/${id}/tiles/0/1.png?cmap=viridis&width=256`, "private, no-cache"], [`/v1/recordings/${id}/spectrogram?start_time=1&end_time=2&revision=${revision}`, "private, max-age=31536000, immutable"]]) {
      expect((await app.inject({ url: u, headers: auth(adminKey) })).headers["cache-control"], u).toBe(expected);
    }
    // The same parameters in another order and spelling are the same tile.
    const same = await app.inject({ url: `/v1/recordings/${id}/tiles/0/1.png?width=256&pcen=true&cmap=viridis` });
    expect(same.headers.etag).toBe(etag);
    // An empty revision is refused on every route that takes one, as every empty query value is (a tile was served as a stale URL's, no-cache).
    for (const route of ["tiles/0/1.png?", "tiles/0/stream?start_time=0&end_time=1&", "spectrogram?start_time=1&end_time=2&"]) {
      const empty = await app.inject({ url: `/v1/recordings/${id}/${route}revision=` });
      expect([empty.statusCode, empty.json().fields], route).toEqual([400, [{ field: "revision", message: "must not be empty" }]]);
    }
    // A client that carries the revision on every spectrogram URL may do so on a stream too (it was a 400 naming it).
    const stream = await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=1&width=256&revision=${revision}` });
    expect([stream.statusCode, stream.headers["x-tile-range"]], stream.body.slice(0, 200)).toEqual([200, "0/0-0"]);
  });

  it("have one ETag for one content, however the request spells it", async () => {
    const tile = (query: string) => app.inject({ url: `/v1/recordings/${id}/tiles/0/2.png?width=256${query}` });
    const plain = await tile("");
    // fmin 0, fmax at Nyquist (22050 Hz) and a height of every bin (552) are the defaults, spelled out.
    // A window of 0.02501 s or a hop of 0.4999 gives the default's frames (1102 samples, 551 apart):
    // each had an ETag, a cache entry and a stats pass of its own.
    // A picture clips to [min_dB, max_dB] anyway: clamping the values first changes no pixel.
    for (const query of ["&fmin=0", "&height=552", "&fmax=22050", "&fmin=0&fmax=22050&height=552", "&window_size=0.02501", "&hop_size=0.4999", "&window_size=0.0250099&hop_size=0.50001", "&clamp=true", "&clamp=true&min_dB=-100"]) {
      const same = await tile(query);
      expect([query, same.headers.etag], query).toEqual([query, plain.headers.etag]);
      expect(same.rawPayload.equals(plain.rawPayload), query).toBe(true);
    }
    expect((await tile("&height=276")).headers.etag).not.toBe(plain.headers.etag);
    expect((await tile("&window_size=0.026")).headers.etag).not.toBe(plain.headers.etag);
    expect((await tile("&hop_size=0.49")).headers.etag).not.toBe(plain.headers.etag);
    expect((await tile("&fmin=1000")).headers.etag).not.toBe(plain.headers.etag);
    expect((await tile("&clamp=true&min_dB=-80")).headers.etag).not.toBe(plain.headers.etag);
    // In numbers clamping does change the values.
    const numbers = (query: string) => app.inject({ url: `/v1/recordings/${id}/tiles/0/2.f32?width=256${query}` });
    expect((await numbers("&clamp=true")).headers.etag).not.toBe((await numbers("")).headers.etag);
    // Frames are centred at i · 551/44100 s: ends moved within a hop select the same frames [81, 161).
    const image = (start: number, end: number) => app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=${start}&end_time=${end}` });
    const [a, b] = [await image(1, 2), await image(1.0001, 2.0001)];
    expect([a.headers["x-frame-range"], b.headers["x-frame-range"]]).toEqual(["81,161", "81,161"]);
    expect(b.headers.etag).toBe(a.headers.etag);
  });

  it("side by side equal the whole recording's spectrogram (f32, PCEN on)", async () => {
    const reader = await openAudio(join(FIXTURES, "recordings", FILE));
    const whole = await spectrogramOfRecording(reader, { channel: 1 });
    await reader.close();
    const columns: Float32Array[] = [];
    let frames = 0;
    for (let x = 0; frames < whole.frames; x++) {
      const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/${x}.f32?channel=1&width=512` });
      expect(res.statusCode).toBe(200);
      const [rows, cols] = (res.headers["x-shape"] as string).split(",").map(Number);
      expect(rows).toBe(whole.bins);
      expect(res.headers["x-frame-range"]).toBe(`${x * 512},${x * 512 + cols}`);
      columns.push(bytesToF32(res.rawPayload));
      frames += cols;
    }
    expect(frames).toBe(whole.frames);
    let worst = 0;
    columns.forEach((tile, x) => {
      const cols = tile.length / whole.bins;
      for (let k = 0; k < whole.bins; k++)
        for (let c = 0; c < cols; c++) worst = Math.max(worst, Math.abs(tile[k * cols + c] - whole.data[k * whole.frames + x * 512 + c]));
    });
    expect(worst).toBeLessThanOrEqual(0.05);
  });

  it("computes the recording's stats once and keeps them in the database", async () => {
    await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.npy?window_size=0.01` });
    const rows = await t.db.sql`SELECT status, maximum, info FROM recording_stats WHERE recording_id = ${id}`;
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.status === "ready" && r.maximum > 0)).toBe(true);
    // A second service (another server instance) finds them instead of recomputing.
    const other = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql) });
    await other.stats(recording(), parseParams({ window_size: 0.01 }));
    expect(other.computed).toBe(0);
    await other.close();
  });

  it("answer 503 with Retry-After while the stats take longer than a request waits, then serve them", async () => {
    // Another server instance whose requests wait only 1 ms for stats: the pass over the
    // 22 s recording takes longer, goes on in the background, and the next request finds it.
    const slow = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql), statsWaitMs: 1 });
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: slow });
    try {
      const url = `/v1/recordings/${id}/tiles/0/0.f32?window_size=0.013&pcen=false`;
      const first = await other.inject({ url });
      expect(first.statusCode).toBe(503);
      expect(first.headers["retry-after"]).toBe("10");
      // How far the pass has come, once it runs here (tiles.test.ts: statsPendingMessage).
      expect(first.json().message).toMatch(/being computed in one pass over the whole recording(: \d+ % of its \d+ frames done after .*)?; retry in a few seconds$/);
      let next = first;
      for (let i = 0; i < 200 && next.statusCode === 503; i++) {
        await new Promise((r) => setTimeout(r, 50));
        next = await other.inject({ url });
      }
      expect(next.statusCode).toBe(200);
      expect(slow.computed).toBe(2); // the stats once, then the tile
    } finally {
      await other.close();
      await slow.close();
    }
  });

  it("answer a tile whose pass has read the whole recording once its stats are stored, past the wait — its 503 said 'the rest of the recording still being read'", async () => {
    // Stats stored slowly (a loaded database), held until the test lets them through.
    const store = tileStatsStore(t.db.sql);
    let saved!: () => void;
    let storing = false;
    const saving = new Promise<void>((resolve) => (saved = resolve));
    const slowStore: StatsStore = { ...store, save: async (...args) => { storing = true; await saving; return store.save(...args); } };
    const slow = new TileService({ threads: 1, statsStore: slowStore, statsWaitMs: 50 });
    // The pass reads once the first request has its 503. Read before that request's timer ran (a
    // loaded machine), it left that request waiting for a save held until its answer: a deadlock.
    let answered!: () => void;
    const firstAnswered = new Promise<void>((resolve) => (answered = resolve));
    const pass = slow.pool.stats.bind(slow.pool);
    slow.pool.stats = async (...args) => { await firstAnswered; return pass(...args); };
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: slow });
    try {
      const url = `/v1/recordings/${id}/tiles/0/0.f32?window_size=0.029&pcen=false`;
      expect((await other.inject({ url })).statusCode).toBe(503);
      answered();
      for (let i = 0; i < 400 && !storing; i++) await new Promise((r) => setTimeout(r, 50));
      expect(storing).toBe(true);
      // Read, being stored: a request waits for the stats past its 50 ms.
      const answer = other.inject({ url });
      await new Promise((r) => setTimeout(r, 300));
      saved();
      expect((await answer).statusCode).toBe(200);
    } finally {
      answered(); // a failure above leaves no pass or save held through the close
      saved();
      await other.close();
      await slow.close();
    }
  });

  /**
   * A stalled pass's time to go as its 503 says it: 1 frame scanned of thousands is minutes at its
   * pace — or hours, once the machine took over 1.5 s between the pass's start and the 503 (a 2 s
   * hold said "about 1 h 19 min to go" where the test read minutes and seconds).
   */
  const LONG_TO_GO = String.raw`(\d+ min \d+ s|\d+ h \d+ min)`;

  it("answer a tile whose pass waits for a pass slot 503 with its place, the running pass's progress, and a Retry-After from that pass's time to go", async () => {
    // Two threads: one pass slot, held by a pass that has scanned 1 frame of thousands (minutes to go at its pace).
    const slow = new TileService({ threads: 2, statsWaitMs: 50 });
    let stop!: (err: Error) => void;
    slow.pool.stats = (task) => {
      task.progress![0] = 1;
      return new Promise((_, reject) => (stop = reject));
    };
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: slow });
    try {
      const running = await other.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=0.019` });
      expect([running.statusCode, running.headers["retry-after"]]).toEqual([503, "60"]);
      expect(running.json().message).toMatch(new RegExp(`are being computed in one pass over the whole recording: 0 % of its \\d+ frames done after \\d+ s, about ${LONG_TO_GO} to go; retry in about 1 min 0 s$`));
      const queued = await other.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=0.023` });
      expect([queued.statusCode, queued.headers["retry-after"]]).toEqual([503, "60"]);
      expect(queued.json()).toMatchObject({ statusCode: 503, error: "Service Unavailable" });
      expect(queued.json().message).toMatch(new RegExp(`are to be computed in one pass over the whole recording, which waits for a free pass slot: queued behind 1 pass \\(0 % of its \\d+ frames done after \\d+ s, about ${LONG_TO_GO} to go\\); retry in about 1 min 0 s$`));
    } finally {
      stop(new Error("test over"));
      await other.close();
      await slow.close();
    }
  });

  it("list the stats of a pass waiting for a pass slot as computing, claimed by the instance it waits on, as the status's description says (it said a pass was under way)", async () => {
    // Two threads: one pass slot, held by a pass that never ends; the second parameter set's pass waits for it.
    const slow = new TileService({ threads: 2, statsStore: tileStatsStore(t.db.sql), statsWaitMs: 50 });
    let stop: ((err: Error) => void) | undefined;
    slow.pool.stats = () => new Promise((_, reject) => (stop = reject));
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: slow });
    const lookup = async (window: number) => (await other.inject({ url: `/v1/recordings/${id}/stats/lookup?window_size=${window}` })).json();
    try {
      for (const window of [0.0191, 0.0231]) expect((await other.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=${window}` })).statusCode).toBe(503);
      // Claimed before its pass waits for the slot (so that other instances wait for it rather than compute it too).
      for (const window of [0.0191, 0.0231]) expect(await lookup(window), String(window)).toMatchObject({ status: "computing", computed_at: null });
      expect(slow.computed).toBe(1); // only the first pass has started
      const doc = (await other.inject({ url: "/openapi.json" })).json().paths["/v1/recordings/{id}/stats/lookup"].get;
      expect(doc.responses["200"].content["application/json"].schema.properties.status.description).toMatch(/^ready: stored; or computing: claimed by a server instance \(under a live lease\), its pass over the whole recording running there or waiting there for a pass slot/);
    } finally {
      stop?.(new Error("test over"));
      await other.close();
      await slow.close();
    }
  });

  it("refuse a client's pass past its share of the pass-slot queue with a 503 whose Retry-After is when its first waiting pass starts (it was 1 s), while another client's pass still gets a place", async () => {
    // Two threads: one pass slot, held by a pass with minutes to go; 8 passes may wait, 2 of one client.
    const slow = new TileService({ threads: 2, statsWaitMs: 50 });
    const stops: ((err: Error) => void)[] = [];
    slow.pool.stats = (task) => {
      task.progress![0] = 1;
      return new Promise((_, reject) => stops.push(reject));
    };
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: slow });
    const tile = (window: number, remoteAddress: string) => other.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=${window}`, remoteAddress });
    try {
      for (const window of [0.019, 0.023, 0.027]) expect((await tile(window, "192.0.2.1")).statusCode).toBe(503); // one runs, two wait
      const refused = await tile(0.031, "192.0.2.1");
      expect([refused.statusCode, refused.headers["retry-after"]]).toEqual([503, "60"]);
      expect(refused.json().message).toBe("you have 2 statistics passes waiting for a thread already, the most one client may have (other clients' passes still get a place); retry in about 1 min 0 s");
      const another = await tile(0.035, "192.0.2.2");
      expect([another.statusCode, another.headers["retry-after"]]).toEqual([503, "60"]);
      expect(another.json().message).toMatch(new RegExp(`which waits for a free pass slot: queued behind 2 passes \\(the one nearest its end: 0 % of its \\d+ frames done after \\d+ s, about ${LONG_TO_GO} to go\\); retry in about 1 min 0 s$`));
    } finally {
      for (const stop of stops) stop(new Error("test over"));
      await other.close();
      await slow.close();
    }
  });

  it("answer dB without PCEN or normalization at the first request: no stats pass, no claim, no 503", async () => {
    // As above, an instance whose requests wait 1 ms for stats: these parameters wait for none.
    const slow = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql), statsWaitMs: 1 });
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: slow });
    try {
      const rows = async () => (await t.db.sql`SELECT count(*)::int AS n FROM recording_stats WHERE recording_id = ${id}`)[0].n;
      const before = await rows();
      const query = "window_size=0.017&pcen=false&normalize=false&low_freq=3000";
      for (const url of [`/v1/recordings/${id}/tiles/0/2.png?${query}`, `/v1/recordings/${id}/tiles/0/2.f32?${query}`, `/v1/recordings/${id}/spectrogram?start_time=1&end_time=2&${query}`]) {
        const res = await other.inject({ url });
        expect([url, res.statusCode, res.headers["x-value-range"]]).toEqual([url, 200, "-100,0"]);
      }
      expect([await rows(), slow.computed]).toEqual([before, 3]);
      // Power (or amplitude) without normalization is drawn against the recording's maximum: it waits for the pass.
      const power = await other.inject({ url: `/v1/recordings/${id}/tiles/0/2.png?${query}&scale=power` });
      expect(power.statusCode).toBe(503);
    } finally {
      await other.close();
      await slow.close();
    }
  });

  it("refuse bad requests with 400 naming the field", async () => {
    const cases: [string, string][] = [
      ["0/0.png?window=hanning", "window"],
      ["0/0.png?hop_size=2", "hop_size"],
      ["0/0.png?min_dB=-10&max_dB=-20", "min_dB"],
      ["0/0.png?colour=red", "colour"],
      ["0/0.png?width=300", "width"],
      ["0/9999.png", "tile"],
      ["0/0.png?channel=2", "channel"],
      ["0/0.png?high_freq=30000", "high_freq"],
      ["0/0.png?window_size=100", "window_size"],
      ["0/0.gif", "tile"],
    ];
    for (const [path, field] of cases) {
      const res = await app.inject({ url: `/v1/recordings/${id}/tiles/${path}` });
      expect(res.statusCode, path).toBe(400);
      expect(res.json().message, path).toContain(field);
      // the field a client can map to what it sent: a path segment or a query field (a tile past the end was blamed on "x")
      expect(res.json().fields.map((f: { field: string }) => f.field), path).toContain(field);
    }
    // The schema's checks and the engine's cross-field ones name the query alike (the schema's said "invalid querystring:").
    for (const query of ["window=hanning", "min_dB=-10&max_dB=-20"]) {
      expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.png?${query}` })).json().message, query).toMatch(/^invalid query: /);
    }
    expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.gif` })).json().message).toMatch(/^invalid path: tile: /);
    expect((await app.inject({ url: `/v1/recordings/00000000-0000-0000-0000-000000000000/tiles/0/0.png` })).statusCode).toBe(404);
    // An empty start_time is missing, not 0.
    const empty = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=&end_time=2` });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().fields.map((f: { field: string }) => f.field)).toEqual(["start_time"]);
  });

  it("read every number of the path and query as the spectrogram parameters read theirs: decimal, never hex, octal, binary or padded", async () => {
    /** The fields of a 400, or the status of anything else. */
    const refusal = async (url: string) => {
      const res = await app.inject({ url: `/v1/recordings/${id}/${url}` });
      return res.statusCode === 400 ? res.json().fields : res.statusCode;
    };
    // Number() — hence z.coerce — reads all of these as 1 (or 3, 10, 16, 512).
    for (const text of ["0x1", "0b1", "0o1", "%201", "1%20"]) {
      expect(await refusal(`spectrogram?start_time=${text}&end_time=2&format=f32`), text).toEqual([{ field: "start_time", message: "must be a number of seconds" }]);
      expect(await refusal(`tiles/0/stream?start_time=0&end_time=${text}`), text).toEqual([{ field: "end_time", message: "must be a number of seconds" }]);
      expect(await refusal(`tiles/0/0.f32?fmin=${text}`), text).toEqual([{ field: "fmin", message: "must be a number" }]);
      expect(await refusal(`tiles/0/0.f32?window_size=${text}`), text).toEqual([{ field: "window_size", message: "must be a number" }]);
    }
    for (const z of ["0x3", "1e1", "3.0", "%203", "0b11", "21"]) {
      expect(await refusal(`tiles/${z}/0.f32`), z).toEqual([{ field: "z", message: "must be an integer from 0 to 20" }]);
      expect(await refusal(`tiles/${z}/stream?start_time=0&end_time=1`), z).toEqual([{ field: "z", message: "must be an integer from 0 to 20" }]);
    }
    // A malformed percent-encoding names the path parameter it falls in (it was Fastify's "'/v1/…/%ff.f32' is not a valid url component").
    const badEncoding = "has a malformed percent-encoding: each % must be followed by two hex digits, the bytes they encode UTF-8 text (a % itself is sent as %25)";
    expect(await refusal("tiles/0/%ff.f32")).toEqual([{ field: "tile", message: badEncoding }]);
    expect(await refusal("tiles/%zz/0.f32")).toEqual([{ field: "z", message: badEncoding }]);
    expect(await refusal("tiles/%/stream?start_time=0&end_time=1")).toEqual([{ field: "z", message: badEncoding }]);
    // x is read as z is, digits with an optional sign ("+1.f32" and "-0.f32" were refused, saying only "must be <x>.png…", while z took "+1" and "-0").
    const tileMessage = "must be <x>.png, <x>.f32 or <x>.npy, x an integer (decimal digits, an optional sign)";
    for (const x of ["0x1", "1e1", "1.0", "%201", " 1", ""]) expect(await refusal(`tiles/0/${x}.f32`), x).toEqual([{ field: "tile", message: tileMessage }]);
    const f32 = async (url: string) => (await app.inject({ url: `/v1/recordings/${id}/${url}?pcen=false` })).headers["x-frame-range"];
    expect(await f32("tiles/0/%2B1.f32")).toBe(await f32("tiles/0/1.f32"));
    expect(await f32("tiles/0/-0.f32")).toBe(await f32("tiles/0/0.f32"));
    expect(await f32("tiles/%2B1/-0.f32")).toBe(await f32("tiles/1/0.f32"));
    expect((await refusal("tiles/0/-1.f32"))[0]).toMatchObject({ field: "tile", message: expect.stringMatching(/^x must be an integer from 0 to \d+ /) });
    expect(await refusal("tiles/0/0.f32?width=0x200")).toEqual([{ field: "width", message: "must be one of 128, 256, 512, 1024" }]);
    expect(await refusal("tiles/0/0.f32?width=5.12e2")).toEqual([{ field: "width", message: "must be one of 128, 256, 512, 1024" }]);
    expect(await refusal("tiles/0/0.f32?height=0x10")).toEqual([{ field: "height", message: "must be an integer" }]);
    expect(await refusal("tiles/0/0.f32?height=1.6e1")).toEqual([{ field: "height", message: "must be an integer" }]);
    // A band upside down names fmax and the rule (it named fmin: "no frequency bin lies in [3000, 2000] Hz"); the 0 Hz row alone is a band.
    expect(await refusal("tiles/0/0.f32?fmin=3000&fmax=2000")).toEqual([{ field: "fmax", message: "must be >= fmin (3000 Hz)" }]);
    // A field that breaks its own rule is blamed once: the rules between fields do not repeat it.
    expect(await refusal("tiles/0/0.f32?pcen_bias=0")).toEqual([{ field: "pcen_bias", message: "must be > 0" }]);
    expect(await refusal("tiles/0/0.f32?pcen_eps=0")).toEqual([{ field: "pcen_eps", message: "must be > 0" }]);
    expect(await refusal("tiles/0/0.f32?min_dB=1")).toEqual([{ field: "min_dB", message: "must be <= 0" }]);
    expect(await refusal("tiles/0/0.f32?min_dB=-50&max_dB=-50")).toEqual([{ field: "min_dB", message: "must be < max_dB (-50)" }]);
    const dc = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?fmin=0&fmax=0&pcen=false` });
    expect([dc.statusCode, dc.headers["x-shape"]?.toString().split(",")[0], dc.headers["x-frequency-range"]], dc.body).toEqual([200, "1", "0,0"]);
    // fmax above Nyquist keeps every bin up to Nyquist (one band for recordings at several rates); fmin above it leaves none.
    const [wide, all] = [await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?fmax=250000&pcen=false` }), await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?pcen=false` })];
    expect([wide.statusCode, wide.headers["x-shape"], wide.headers.etag]).toEqual([200, all.headers["x-shape"], all.headers.etag]);
    expect((await refusal("tiles/0/0.f32?fmin=30000"))[0]).toMatchObject({ field: "fmin", message: expect.stringContaining("no frequency bin lies in [30000, 22050] Hz") });
    // Decimal forms still work, with their values.
    const tile = await app.inject({ url: `/v1/recordings/${id}/tiles/1/0.f32?width=128&height=16&fmin=1e3&fmax=%2B2.0E4&pcen=false` });
    expect(tile.statusCode, tile.body).toBe(200);
    expect([tile.headers["x-shape"], tile.headers["x-frames-per-column"]]).toEqual(["16,128", "2"]);
    const image = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=1e0&end_time=2.&format=f32&pcen=false` });
    expect(image.statusCode, image.body).toBe(200);
    expect(image.headers["x-frame-range"]).toBe(await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=1&end_time=2&format=f32&pcen=false` }).then((r) => r.headers["x-frame-range"]));
  });

  it("refuse a resampling ratio beyond the filter limit with 400 naming samplerate and a rate that works", async () => {
    // 44100 → 262147 Hz reduces to 262147/44100 (above 2^18).
    const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.png?resample=true&samplerate=262147` });
    expect(res.statusCode).toBe(400);
    expect(res.json().fields).toEqual([{ field: "samplerate", message: expect.stringMatching(/262147\/44100, too long a filter\); e\.g\. \d+ Hz works$/) }]);
  });

  it("refuse parameters whose whole-recording pass would transform more than 2^36 samples with 400 naming hop_size, before any work", async () => {
    // 2 s windows (88,200 samples) hopping one sample (noverlap = int((2 − 2e-5)·44100) = 88199):
    // scipy pads 44,100 zeros on each side, so there are frames + 1 of them, each 88,200 samples.
    const transformed = ((frames + 1) * 88_200).toExponential(2);
    const computed = tiles.computed;
    for (const route of ["tiles/0/0.png?", "tiles/0/stream?start_time=0&end_time=1&", "spectrogram?start_time=0&end_time=1&format=f32&"]) {
      const res = await app.inject({ url: `/v1/recordings/${id}/${route}window_size=2&hop_size=0.00001` });
      expect(res.statusCode, route).toBe(400);
      expect(res.json().fields, route).toEqual([{ field: "hop_size", message: `a pass over this recording would transform ${transformed} samples (1-sample hops of 88200); the limit is 6.87e+10: use a longer hop_size or a shorter window_size` }]);
    }
    expect(tiles.computed).toBe(computed);
  });

  it("let parameters that need no pass (dB, no PCEN, no normalization) past the pass limit: their tiles have limits of their own", async () => {
    const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=2&hop_size=0.00001&pcen=false&normalize=false&height=64` });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.headers["x-shape"]).toBe("64,512");
  });

  it("name the engine version that computed them, as /version does: a saved tile or image says which sonotile made it", async () => {
    const { version } = (await app.inject({ url: "/version" })).json();
    for (const url of [`/v1/recordings/${id}/tiles/0/0.npy`, `/v1/recordings/${id}/tiles/1/0.png`, `/v1/recordings/${id}/spectrogram?start_time=0&end_time=0.5`]) {
      const res = await app.inject({ url });
      expect([url, res.statusCode, res.headers["x-engine-version"]]).toEqual([url, 200, version]);
    }
  });

  it("say in a PNG's text what made them, as the CLI's image does — engine version, the recording's MD5 and time expansion, the parameters, where the pixels lie — nothing the ETag does not fix; 304s and ETags as before", async () => {
    const { revision } = (await app.inject({ url: `/v1/recordings/${id}` })).json();
    const pictures = [`/v1/recordings/${id}/tiles/1/0.png?width=256&cmap=magma&revision=${revision}`, `/v1/recordings/${id}/spectrogram?start_time=1&end_time=2&revision=${revision}`];
    for (const url of pictures) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      const text = pngText(res.rawPayload);
      expect(text.Software).toBe(`sonotile ${VERSION}`);
      const made = JSON.parse(text.sonotile);
      expect(made).toMatchObject({ version: VERSION, source: { md5: hash, time_expansion: 1 }, params: { cmap: url.includes("magma") ? "magma" : "gray", clamp: false } });
      expect(Object.keys(made.params)).toHaveLength(22);
      // The geometry headers' values, by their names.
      for (const header of ["x-frame-range", "x-first-frame-seconds", "x-hop-seconds", "x-frequency-range", "x-value-range", "x-shape"]) {
        expect(made.geometry[header.slice(2).replaceAll("-", "_")], header).toBe(res.headers[header]);
      }
      // Not the recording's id: a recording of the same bytes has the same ETag, and the same body.
      expect(text.sonotile).not.toContain(id);
      expect((await app.inject({ url, headers: { "if-none-match": res.headers.etag as string } })).statusCode).toBe(304);
    }
    // Numbers carry no text: their headers say as much.
    const numbers = await app.inject({ url: `/v1/recordings/${id}/tiles/1/0.npy?width=256` });
    expect(numbers.rawPayload.includes(Buffer.from("sonotile"))).toBe(false);
  });

  it("refuse a zoom below 9 whose tiles would transform more than 2^32 samples with 400 naming z, before the stats pass", async () => {
    // 1 s windows (44,100 samples) hopping one sample: a tile 1024 columns wide at zoom 8 covers
    // 1024 · 2^8 = 262,144 frames — within the pass limit, but minutes of one core for one tile.
    // (From zoom 9 such a tile is pooled from the overview the pass keeps: api-tile-overview.test.ts.)
    const computed = tiles.computed;
    const res = await app.inject({ url: `/v1/recordings/${id}/tiles/8/0.f32?window_size=1&hop_size=0.00002&width=1024` });
    expect(res.statusCode).toBe(400);
    expect(res.json().fields).toEqual([{ field: "z", message: `a tile at zoom 8 would transform ${(262_144 * 44_100).toExponential(2)} samples (262144 frames of 44100); the limit is 4.29e+9: ask for a lower zoom, a narrower width, or a longer hop_size` }]);
    expect(tiles.computed).toBe(computed);
  });

  it("refuse what only the engine finds with 400 naming the field, on every route: a hop of 0 samples, a band edge too close to 0 Hz", async () => {
    // The engine refuses these in a worker: the hop was a 500 (the error's class lost between
    // threads), the edge a filter whose every sample is NaN — a 422 blaming the audio.
    const cases: [string, string][] = [["hop_size=1e-320", "hop_size"], ["low_freq=1e-320", "low_freq"], ["high_freq=1e-320", "high_freq"], ["low_freq=1e-5&high_freq=4000", "low_freq"],
      // bias^power in range, the PCEN values not: found by the engine too.
      ["pcen_bias=1.01&pcen_power=1000", "pcen_power"],
      // Parameters that need no stats pass: the tile's own task finds it.
      ["low_freq=1e-320&pcen=false&normalize=false", "low_freq"]];
    for (const [query, field] of cases) {
      for (const route of ["tiles/0/0.f32?", "tiles/0/stream?start_time=0&end_time=1&", "spectrogram?start_time=0&end_time=1&format=f32&"]) {
        const res = await app.inject({ url: `/v1/recordings/${id}/${route}${query}` });
        expect(res.statusCode, route + query).toBe(400);
        expect(res.json().fields.map((f: { field: string }) => f.field), route + query).toEqual([field]);
      }
    }
    // Unknown names are refused on every route (the stream's query let them through).
    for (const route of ["tiles/0/0.f32?", "tiles/0/stream?start_time=0&end_time=1&", "spectrogram?start_time=0&end_time=1&format=f32&"]) {
      const res = await app.inject({ url: `/v1/recordings/${id}/${route}bogus=1` });
      expect([res.statusCode, res.json().message], route).toEqual([400, expect.stringMatching(/bogus/)]);
    }
    expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?low_freq=1e-320` })).json().message).toBe(
      "invalid query: low_freq: must be further from 0 Hz: an order-5 Butterworth edge at 1e-320 Hz cannot be computed at 44100 Hz (a pole rounds onto 0 Hz in float64)",
    );
  });
});

describe("streamed range", () => {
  it("sends the interval's tiles in order, as multipart parts with their own headers", async () => {
    const res = await app.inject({ url: `/v1/recordings/${id}/tiles/1/stream?start_time=2&end_time=9&format=f32&width=128&pcen=false` });
    expect(res.statusCode).toBe(200);
    const boundary = /boundary=(\S+)/.exec(res.headers["content-type"] as string)![1];
    const text = res.rawPayload.toString("latin1");
    const tilesSent = [...text.matchAll(/X-Tile: 1\/(\d+)/g)].map((m) => Number(m[1]));
    // hop 551 samples at 44.1 kHz: frame of 2 s = 160.07 → tile 0 (256 frames per tile at z=1); 9 s → frame 721 → tile 2.
    expect(tilesSent).toEqual([0, 1, 2]);
    expect(text.trimEnd().endsWith(`--${boundary}--`)).toBe(true);
    expect(res.headers["x-tile-range"]).toBe("1/0-2");
  });

  it("streams more tiles than the pool's queue holds: a few are computed ahead, not the whole range at once", async () => {
    // 1 ms windows (44 samples, hop 22): frames centred in [0, 12.5 s) fill 196 tiles of 128 —
    // more than the pool queues (64 per thread, 2 threads), so queueing them all would fail.
    expect(tiles.pool.threads * 64).toBeLessThan(196);
    const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=12.5&window_size=0.001&width=128&format=f32&pcen=false` });
    expect(res.statusCode).toBe(200);
    const text = res.rawPayload.toString("latin1");
    expect(text).not.toContain("application/json");
    expect([...text.matchAll(/X-Tile: 0\/(\d+)/g)].map((m) => Number(m[1]))).toEqual(Array.from({ length: 196 }, (_, i) => i));
  });

  it("refuses what it cannot send before the 200: a zoom out of range, an interval with no frame, tiles over the pixel limit", async () => {
    const stream = (query: string, z = 0) => app.inject({ url: `/v1/recordings/${id}/tiles/${z}/stream?${query}` });
    const refusals = await Promise.all([
      stream("start_time=0&end_time=4", 25),
      stream("start_time=30&end_time=40"), // the recording lasts 22.6 s
      stream("start_time=1&end_time=1.001"), // between two frame centres, 12.5 ms apart
      stream("start_time=0&end_time=4&window_size=0.2&width=256"), // 4411 rows × 227 columns (one narrow tile: 227 frames)
      stream("start_time=0&end_time=4&height=600"),
    ]);
    expect(refusals.map((r) => r.statusCode)).toEqual([400, 400, 400, 400, 400]);
    expect(refusals.map((r) => r.json().fields?.[0]?.field)).toEqual(["z", "start_time", "end_time", "height", "height"]);
    expect(refusals[0].json().message).toMatch(/z: must be an integer from 0 to 20/);
    expect(refusals[1].json().message).toMatch(/no frame is centred in \[30, 40\) s/);
    expect(refusals[3].json().message).toMatch(/227 × 4411 = 1001297 pixels \(columns × rows\); the limit is 614400/);
    const tile = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=0.2&width=256` });
    expect(tile.statusCode).toBe(400);
    expect(tile.json().fields).toEqual([{ field: "height", message: expect.stringMatching(/^the tile would be 227 × 4411 = 1001297 pixels \(columns × rows\); the limit is 614400: ask for fewer rows/) }]);
    // Refused before the stats pass: parameters nobody asked for before compute nothing.
    const computed = tiles.computed;
    const fresh = "window_size=0.2&width=256&pcen_gain=0.9";
    const unseen = await Promise.all([
      app.inject({ url: `/v1/recordings/${id}/tiles/0/0.png?${fresh}` }),
      app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=4&${fresh}` }),
      app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=20&window_size=0.2&pcen_gain=0.9` }),
    ]);
    expect(unseen.map((r) => [r.statusCode, r.json().fields?.[0]?.field])).toEqual([[400, "height"], [400, "height"], [400, "end_time"]]);
    expect(tiles.computed).toBe(computed);
  });

  it("holds exactly the tiles of the frames centred in [start_time, end_time): an end on a tile's first frame centre leaves that tile out", async () => {
    // Tile 3 of width 128 starts at frame 384, centred at 384 · 551 / 44100 s (4.7978… s).
    const tile3 = await app.inject({ url: `/v1/recordings/${id}/tiles/0/3.f32?width=128&pcen=false` });
    const start3 = Number(tile3.headers["x-first-frame-seconds"]);
    expect(tile3.headers["x-frame-range"]).toBe("384,512");
    const before = await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=${start3}&width=128&pcen=false&format=f32` });
    expect(before.headers["x-tile-range"]).toBe("0/0-2");
    const from = await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=${start3}&end_time=${start3 + 0.001}&width=128&pcen=false&format=f32` });
    expect(from.headers["x-tile-range"]).toBe("0/3-3");
  });

  it("refuses more tiles than the limit, naming it", async () => {
    const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=22&window_size=0.001&width=128` });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/limit is 300 per stream/);
  });

  it("parameters that cannot change a tile keep its ETag and its stats: one pass over the recording, not one per spelling", async () => {
    const base = "pcen=false&window_size=0.031";
    const first = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${base}` });
    expect(first.statusCode).toBe(200);
    const computed = tiles.computed; // the stats pass and the tile
    // A kaiser_beta with a hann window, a samplerate without resampling or equal to the file's,
    // an edge that removes nothing and a filter_order without a filter, PCEN fields without PCEN.
    for (const extra of ["kaiser_beta=9", "samplerate=22050", "resample=true&samplerate=44100", "low_freq=0", "high_freq=22050&filter_order=3", "filter_order=4", "pcen_gain=0.5&pcen_smooth=0.1"]) {
      const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${base}&${extra}` });
      expect([res.statusCode, res.headers.etag], extra).toEqual([200, first.headers.etag]);
    }
    expect(tiles.computed).toBe(computed); // the cached tile each time
    // dB bounds do not change power values; they do change dB values when clamped.
    const power = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${base}&scale=power` });
    const powerBounds = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${base}&scale=power&min_dB=-40&clamp=true` });
    const clamped = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${base}&min_dB=-40&clamp=true` });
    expect(powerBounds.headers.etag).toBe(power.headers.etag);
    expect(new Set([first.headers.etag, power.headers.etag, clamped.headers.etag]).size).toBe(3);
    // And what does change the values still changes the ETag.
    for (const other of ["kaiser_beta=9&window=kaiser", "low_freq=100", "resample=true&samplerate=22050"]) {
      expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${base}&${other}` })).headers.etag, other).not.toBe(first.headers.etag);
    }
  });

  it("answers HEAD with the stream's headers and computes no tile (it computed the whole range, beyond any cancel)", async () => {
    const query = "start_time=0&end_time=22.6&window_size=0.2&hop_size=0.01&width=128&format=f32&pcen=false&pcen_gain=0.5";
    await tiles.stats(recording(), parseParams({ window_size: 0.2, hop_size: 0.01, pcen: false, pcen_gain: 0.5 }));
    const computed = tiles.computed;
    const head = await app.inject({ method: "HEAD", url: `/v1/recordings/${id}/tiles/0/stream?${query}` });
    expect(head.statusCode).toBe(200);
    expect(head.headers["x-tile-range"]).toBe("0/0-87");
    expect(head.headers["content-type"]).toMatch(/^multipart\/mixed; boundary=sonotile-/);
    expect(head.body).toBe("");
    expect(head.headers["content-length"]).toBeUndefined(); // "0" said the stream was empty
    await new Promise((r) => setTimeout(r, 500));
    expect(tiles.computed).toBe(computed);
  });

  it("a tile that fails after the answer began ends the stream with a JSON part naming the file relative to the audio root, not by the server's path", async () => {
    const query = "start_time=0&end_time=22.6&window_size=0.05&width=128&format=f32&pcen=false";
    await tiles.stats(recording(), parseParams({ window_size: 0.05, pcen: false }));
    const run = tiles.pool.run.bind(tiles.pool);
    let tileTasks = 0;
    // The file cut short while the stream runs (an audit did that): the third tile's read fails.
    tiles.pool.run = (task, signal, timeoutMs) => {
      if (task.kind === "tile" && ++tileTasks === 3) return Promise.reject(new AudioFormatError(`${recording().path}: file ended early: sample data stops at byte 1000000`));
      return run(task, signal, timeoutMs);
    };
    try {
      const res = await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?${query}` });
      expect(res.statusCode).toBe(200);
      const last = res.body.slice(res.body.lastIndexOf("Content-Type: application/json"));
      expect(last).toMatch(new RegExp(`^Content-Type: application/json\\r\\nX-Tile: 0/2\\r\\n\\r\\n\\{"error":"recordings/${FILE}: file ended early: sample data stops at byte 1000000"\\}\\r\\n--sonotile-\\w+--\\r\\n$`));
    } finally {
      tiles.pool.run = run;
    }
  });

  /**
   * A stream of f32 tiles of the whole recording at `windowSize`, over a connection (an injected
   * request's end counts as its client leaving), whose tile tasks before `failAt` are computed, that
   * one fails 200 ms in (the file cut short at byte `byte`), and those after it wait until let go:
   * the answer, its body, and the tasks' signals in order. The pool is put back when the test ends.
   */
  async function streamFailingAt(windowSize: number, failAt: number, byte: number) {
    await tiles.stats(recording(), parseParams({ window_size: windowSize, pcen: false }));
    const run = tiles.pool.run.bind(tiles.pool);
    onTestFinished(() => { tiles.pool.run = run; });
    const signals: (AbortSignal | undefined)[] = [];
    tiles.pool.run = (task, signal, timeoutMs, clients) => {
      if (task.kind !== "tile") return run(task, signal, timeoutMs, clients);
      signals.push(signal);
      if (signals.length <= failAt) return run(task, signal, timeoutMs, clients);
      if (signals.length === failAt + 1) return new Promise((_, reject) => setTimeout(() => reject(new AudioFormatError(`${recording().path}: file ended early: sample data stops at byte ${byte}`)), 200));
      return new Promise((_, reject) => signal!.addEventListener("abort", () => reject(signal!.reason)));
    };
    const address = app.server.listening ? `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` : await app.listen({ port: 0, host: "127.0.0.1" });
    const res = await fetch(`${address}/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=22.6&window_size=${windowSize}&width=128&format=f32&pcen=false`);
    return { res, body: await res.text(), signals };
  }

  it("a first tile that fails is the request's status, as a single tile's — it was a 200 of one error part —, and the tiles started after it are let go, not computed for no one", async () => {
    // The file cut short before the first tile's read; the tiles after it run until let go.
    const { res, body, signals } = await streamFailingAt(0.06, 0, 1000);
    expect([res.status, res.headers.get("content-type")], body.slice(0, 300)).toEqual([422, "application/json; charset=utf-8"]);
    expect(JSON.parse(body).message).toBe(`the recording's audio cannot be decoded: recordings/${FILE}: file ended early: sample data stops at byte 1000`);
    // Two threads: four tiles started at once, the three after the first let go with it.
    expect(signals.map((signal) => signal?.aborted)).toEqual([false, true, true, true]);
  });

  it("a later tile that fails ends the stream with its part and lets go of the tiles started after it — they were computed for no one, holding places in the client's queue", async () => {
    // The first two tiles computed; the third fails; those after it wait until let go.
    const { res, body, signals } = await streamFailingAt(0.07, 2, 1000000);
    expect(res.status).toBe(200);
    expect(body.slice(body.lastIndexOf("X-Tile:"))).toMatch(/^X-Tile: 0\/2\r\n\r\n\{"error":/);
    expect(signals.length).toBeGreaterThan(3);
    await expect.poll(() => signals.slice(3).every((signal) => signal?.aborted), { timeout: 10_000, interval: 20 }).toBe(true);
    expect(signals.slice(0, 3).map((signal) => signal?.aborted)).toEqual([false, false, false]);
  });

  it("a stream whose deadline answers while its first tile computes starts no more tiles and lets go of those started ahead — nobody reads it", async () => {
    // The routes' deadline shortened to 1.5 s (buildApp's tileDeadlineMs); the first tile computes for 3 s.
    await tiles.stats(recording(), parseParams({ window_size: 0.08, pcen: false }));
    const server = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, tileDeadlineMs: 1500 });
    const run = tiles.pool.run.bind(tiles.pool);
    onTestFinished(async () => {
      tiles.pool.run = run;
      await server.close();
    });
    const signals: (AbortSignal | undefined)[] = [];
    tiles.pool.run = (task, signal, timeoutMs, clients) => {
      if (task.kind !== "tile") return run(task, signal, timeoutMs, clients);
      signals.push(signal);
      if (signals.length === 1) return new Promise((resolve) => setTimeout(resolve, 3000)).then(() => run(task, signal, timeoutMs, clients));
      return new Promise((_, reject) => signal!.addEventListener("abort", () => reject(signal!.reason)));
    };
    // Over a connection that stays open (an injected request's end counts as its client leaving).
    const address = await server.listen({ port: 0, host: "127.0.0.1" });
    const res = await fetch(`${address}/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=22.6&window_size=0.08&width=128&format=f32&pcen=false`);
    expect([res.status, res.headers.get("retry-after"), (await res.json()).message]).toEqual([503, "5", "no answer within 1.5 s: the database (or the computation) is not responding; the server recovers by itself — retry shortly"]);
    // Two threads: four tiles started at once; once the first is in, the three ahead are let go, as
    // nobody reads the stream, and no more start.
    await expect.poll(() => signals.slice(1).map((signal) => signal?.aborted), { timeout: 10_000, interval: 20 }).toEqual([true, true, true]);
    await new Promise((r) => setTimeout(r, 300));
    expect(signals.map((signal) => (signal?.reason as Error | undefined)?.message)).toEqual([undefined, ...Array(3).fill("the request was answered while its first tile was computed")]);
  });

  it("keeps no tile it has written: a stream holds the tiles computed ahead, not every tile sent so far", async () => {
    // Each tile sent had stayed referenced until the stream's end: one stream of 256 f32 tiles of
    // 12 MB held 3 GB, and 40 such streams from one client had the server killed for memory.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    // No cache (it holds what it holds, bounded), one thread: 2 tiles computed ahead.
    const service = new TileService({ threads: 1, cacheBytes: 0, statsStore: tileStatsStore(t.db.sql) });
    const server = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: service });
    onTestFinished(async () => {
      await server.close();
      await service.close();
    });
    const sent = new Map<number, WeakRef<object>>();
    const tile = service.tile.bind(service);
    service.tile = async (...args) => {
      const body = await tile(...args);
      sent.set(args[3], new WeakRef(body));
      return body;
    };
    const address = await server.listen({ port: 0, host: "127.0.0.1" });
    // 0.2 s windows every 88 samples, dB without a pass: 88 tiles of 128 × 4411 float32 (2.26 MB).
    const tileBytes = 128 * 4411 * 4;
    const query = "start_time=0&end_time=22.6&window_size=0.2&hop_size=0.01&width=128&format=f32&pcen=false&normalize=false";
    const req = httpRequest(`${address}/v1/recordings/${id}/tiles/0/stream?${query}`);
    req.on("error", () => {}); // the hang-up at the end of this test
    onTestFinished(() => void req.destroy());
    const res = await new Promise<IncomingMessage>((resolve) => req.on("response", resolve).end());
    expect(res.statusCode).toBe(200);
    let received = 0;
    res.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > 12 * tileBytes) res.pause(); // a slow reader: the server waits for it
    });
    await expect.poll(() => received > 12 * tileBytes, { timeout: 30_000, interval: 20 }).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    const kept = [...sent].filter(([x, ref]) => x < 8 && ref.deref() !== undefined).map(([x]) => x);
    expect(kept).toEqual([]); // all of 0–7 were kept before
  });

  it("stops the queued work when the client disconnects", async () => {
    const address = app.server.listening ? `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` : await app.listen({ port: 0, host: "127.0.0.1" });
    // 0.2 s windows every 88 samples: 11,300 frames of 8820-point FFTs → 88 tiles of 128
    // frames, tens of milliseconds each — the client leaves after the first.
    const query = "start_time=0&end_time=22.6&window_size=0.2&hop_size=0.01&width=128&format=f32&pcen=false";
    await tiles.stats(recording(), parseParams({ window_size: 0.2, hop_size: 0.01, pcen: false }));
    const before = tiles.completed;
    const serverSide = new Promise<Socket>((resolve) => app.server.once("connection", resolve));
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${address}/v1/recordings/${id}/tiles/0/stream?${query}`, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", (e) => (e.message.includes("socket hang up") ? resolve() : reject(e)));
      req.end();
    });
    // Once the server has seen the client leave: after a fixed 1 s, a process held for a second (a
    // loaded machine) had not read the hang-up yet, and tiles were still queued.
    const socket = await serverSide;
    if (!socket.closed) await new Promise((closed) => socket.once("close", closed)); // its reset, an error, is the server's to handle
    await expect.poll(() => tiles.pool.queued, { timeout: 10_000, interval: 20 }).toBe(0);
    const done = tiles.completed - before;
    expect(done).toBeLessThan(88);
    await new Promise((r) => setTimeout(r, 1000));
    expect(tiles.completed - before).toBe(done); // nothing more runs after the disconnect
  });

  it("a client that leaves while its stream is planned ends the stream, and nothing else (the server died)", async () => {
    // Gone before the first tile was started (the stats pass or the file's check took a while):
    // no tile was started, and the writer waited for tile 0 all the same — a TypeError in no
    // request's hands, which ended the process: any client that hung up early stopped the server.
    const address = app.server.listening ? `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` : await app.listen({ port: 0, host: "127.0.0.1" });
    const rejections: unknown[] = [];
    const collect = (reason: unknown) => void rejections.push(reason);
    process.on("unhandledRejection", collect);
    const planStream = tiles.planStream;
    let left: AbortSignal | undefined;
    // The plan is answered once the server has seen the client leave.
    tiles.planStream = async (...args) => {
      const plan = await planStream.apply(tiles, args);
      left = args[7]!.left;
      await new Promise((r) => (left!.aborted ? r(null) : left!.addEventListener("abort", r)));
      return plan;
    };
    try {
      const req = httpRequest(`${address}/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=22&width=128&format=f32&pcen=false`);
      req.on("error", () => {}); // the hang-up this test causes
      req.end();
      await expect.poll(() => left !== undefined, { timeout: 30_000, interval: 20 }).toBe(true);
      req.destroy();
      await expect.poll(() => left?.aborted, { timeout: 10_000, interval: 20 }).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(rejections).toEqual([]);
    } finally {
      tiles.planStream = planStream;
      process.off("unhandledRejection", collect);
    }
  });
});

describe("a single tile", () => {
  it("is cancelled when its client disconnects: the pool's task gets an aborted signal", async () => {
    const address = app.server.listening ? `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` : await app.listen({ port: 0, host: "127.0.0.1" });
    // 0.2 s windows every 22 samples: 45,000 frames of 8820-point FFTs; the tile at zoom 9 covers
    // them all (128 · 2^9 frames), seconds of work. dB without normalization: no stats pass, so the
    // tile's task starts at once (the pass, seconds more of the same work, outlasted a request's
    // 55 s wait for it on a loaded machine: the test failed with the 503's StatsPendingError).
    const query = "window_size=0.2&hop_size=0.0005&width=128&pcen=false&normalize=false";
    const run = tiles.pool.run.bind(tiles.pool);
    const signals: (AbortSignal | undefined)[] = [];
    tiles.pool.run = (task, signal, timeoutMs) => {
      if (task.kind === "tile") signals.push(signal);
      return run(task, signal, timeoutMs);
    };
    try {
      const completed = tiles.completed;
      const req = httpRequest(`${address}/v1/recordings/${id}/tiles/9/0.f32?${query}`);
      req.on("error", () => {}); // the hang-up this test causes
      req.end();
      await expect.poll(() => signals.length, { timeout: 30_000, interval: 20 }).toBe(1);
      req.destroy();
      await expect.poll(() => signals[0]?.aborted, { timeout: 10_000, interval: 20 }).toBe(true);
      expect(tiles.completed).toBe(completed);
    } finally {
      tiles.pool.run = run;
    }
  });

  it("logs a client that left as what it is, not as an unhandled error of the server", async () => {
    const lines: { level: number; msg: string }[] = [];
    const logged = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, logger: { level: "info", stream: { write: (line: string) => void lines.push(JSON.parse(line)) } } });
    onTestFinished(() => logged.close());
    let arrived = false;
    logged.addHook("onRequest", async () => void (arrived = true));
    const address = await logged.listen({ port: 0, host: "127.0.0.1" });
    // As above: seconds of work, and no stats pass.
    const req = httpRequest(`${address}/v1/recordings/${id}/tiles/9/0.f32?window_size=0.2&hop_size=0.0005&width=128&pcen=false&normalize=false&revision=left`);
    req.on("error", () => {});
    req.end();
    await expect.poll(() => arrived, { timeout: 10_000, interval: 20 }).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    req.destroy();
    await expect.poll(() => lines.some((l) => l.msg === "the client left before its answer"), { timeout: 10_000, interval: 20 }).toBe(true);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});

describe("fair scheduling across clients", () => {
  it("a tile's computation waits in its client's queue: the token's user, else the remote address; a stream's and an image's too", async () => {
    const run = tiles.pool.run.bind(tiles.pool);
    const clients: string[][] = [];
    tiles.pool.run = (task, signal, timeoutMs, taskClients) => {
      if (task.kind === "tile") clients.push([...taskClients!.all]);
      return run(task, signal, timeoutMs, taskClients);
    };
    onTestFinished(() => {
      tiles.pool.run = run;
    });
    const q = "window_size=0.0123&pcen=false&width=128"; // tiles of their own: none cached, none shared with another test's
    expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?${q}`, headers: auth(adminKey) })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/1.f32?${q}`, remoteAddress: "127.0.0.9" })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/stream?window_size=0.0124&pcen=false&width=128&start_time=0&end_time=0.1&format=f32` })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/recordings/${id}/spectrogram?window_size=0.0123&pcen=false&start_time=0&end_time=0.1&format=f32`, headers: auth(adminKey) })).statusCode).toBe(200);
    expect(clients).toEqual([[`user ${adminId}`], ["address 127.0.0.9"], ["address 127.0.0.1"], [`user ${adminId}`]]);
  });

  it("a stream whose first tile its client's full queue refuses is that 503, with Retry-After: 1, as a tile — it was a 200 of one error part; another client's stream still runs", async () => {
    // One thread, two waiting computations a client: one running and two queued fill a client's share.
    const fair = new TileService({ threads: 1, maxClientQueue: 2, workerFile: FAULT_WORKER_URL });
    const server = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: fair });
    onTestFinished(async () => {
      await server.close();
      await fair.close();
    });
    // dB without a pass: 3 tiles; a window of each stream's own, so that none is cached or computed for another.
    const stream = (remoteAddress: string, window: string, method: "GET" | "HEAD" = "GET") => server.inject({ method, url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=4&width=128&format=f32&pcen=false&normalize=false&window=${window}`, remoteAddress });
    // Planned before (HEAD computes no tile): what the plan reads of the recording is known, as a viewer's streams find it.
    for (const window of ["hamming", "blackman"]) expect((await stream("127.0.0.7", window, "HEAD")).statusCode).toBe(200);
    const holder = new AbortController();
    const holds = Array.from({ length: 3 }, () => fair.pool.run(faultTask({ kind: "hold", ms: 20_000 }), holder.signal, 30_000, new TaskClients("address 127.0.0.5")).catch(() => {}));
    const other = stream("127.0.0.6", "hamming"); // queued behind the holds, in its own client's share
    try {
      const refused = await stream("127.0.0.5", "blackman");
      expect([refused.statusCode, refused.headers["retry-after"], refused.headers["content-type"]], refused.body.slice(0, 300)).toEqual([503, "1", "application/json; charset=utf-8"]);
      expect(refused.json().message).toBe("all workers are busy and 2 computations of this client are waiting for one already; retry shortly");
    } finally {
      holder.abort();
      await Promise.all(holds);
    }
    const res = await other;
    expect([res.statusCode, res.headers["x-tile-range"]]).toEqual([200, "0/0-2"]);
    const text = res.rawPayload.toString("latin1");
    expect(text).not.toContain("application/json");
    expect([...text.matchAll(/X-Tile: 0\/(\d+)/g)].map((m) => Number(m[1]))).toEqual([0, 1, 2]);
  });
});

describe("the request time limit (SPEC §10)", () => {
  /**
   * A server whose tasks have a time limit of 1 s, on one thread of the fault worker; `hold` makes
   * a tile or image task hold the worker that long instead. `loaded` resolves once the thread has
   * loaded (under a generous limit of its own): a thread replaced after a stopped task starts anew,
   * and on a loaded machine that start took over the 1 s a request's task waits for a worker.
   */
  async function limitedServer(hold?: number) {
    const limited = new TileService({ threads: 1, taskTimeoutMs: 1000, workerFile: FAULT_WORKER_URL });
    const server = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: limited });
    onTestFinished(async () => {
      await server.close();
      await limited.close();
    });
    const run = limited.pool.run.bind(limited.pool);
    if (hold !== undefined) limited.pool.run = (task, signal, timeoutMs) => run(task.kind === "tile" ? faultTask({ kind: "hold", ms: hold }) : task, signal, timeoutMs);
    const loaded = () => run(faultTask({ kind: "hold", ms: 0 }), undefined, 20_000);
    return { server, pool: limited.pool, loaded };
  }

  it("is a 400 naming it when the computation itself runs past it — a tile, a one-shot image, a stream's first tile (it was a 200 of one error part)", async () => {
    const { server, loaded } = await limitedServer(10_000);
    const message = "over the request time limit of 1 s: the computation ran that long on a worker and was stopped; ask for less work at once (a lower zoom, a narrower tile, a shorter interval or a longer hop_size)";
    for (const url of [`/v1/recordings/${id}/tiles/0/0.png`, `/v1/recordings/${id}/spectrogram?start_time=0&end_time=0.5`, `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=1&format=f32`]) {
      await loaded(); // the thread the last request's stopped task left replaced: its start is no part of this one's wait
      const res = await server.inject({ url });
      expect([res.statusCode, res.headers["retry-after"], res.json().message]).toEqual([400, undefined, message]);
    }
  });

  it("is a 503 with Retry-After when the request waited that long for a free worker: the server is busy, asked again later it runs", async () => {
    const { server, pool, loaded } = await limitedServer();
    await loaded();
    expect((await server.inject({ url: `/v1/recordings/${id}/tiles/0/0.png` })).statusCode).toBe(200); // the stats computed
    const holder = new AbortController();
    const holding = pool.run(faultTask({ kind: "hold", ms: 10_000 }), holder.signal, 20_000).catch(() => {});
    try {
      const res = await server.inject({ url: `/v1/recordings/${id}/tiles/0/1.png` });
      expect([res.statusCode, res.headers["retry-after"], res.json().message]).toEqual([503, "1", "no worker was free for the computation within 1 s: every one was busy; retry shortly"]);
    } finally {
      holder.abort(); // its thread is replaced
      await holding;
    }
    await loaded();
    expect((await server.inject({ url: `/v1/recordings/${id}/tiles/0/1.png` })).statusCode).toBe(200);
  });
});

describe("a worker's DSP core without room (CoreMemoryError)", () => {
  it("is a 503 with Retry-After saying so, the worker replaced by a fresh one: asked again, a new thread answers — it was a 500", async () => {
    // One thread of the fault worker that keeps its core however large it grows (no retirement
    // for size), so that `grow` can take the core to wasm32's limit: the room left is then what
    // the allocator holds free inside it, as a core full of kept plans and filters has.
    const full = new TileService({ threads: 1, workerFile: FAULT_WORKER_URL, coreMemoryLimit: Infinity });
    const server = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles: full });
    onTestFinished(async () => {
      await server.close();
      await full.close();
    });
    const thread = () => full.pool.run<number>(faultTask({ kind: "grow", bytes: 0 }));
    const coreBytes = () => full.pool.run<number>(faultTask({ kind: "filters", rates: [] }));
    // A window of 2^19 − 1 samples, a prime: its STFT plan (tables of a longer power-of-two FFT) is the
    // largest thing the worker keeps. No normalization: no stats pass, the tile task alone.
    const tile = (window: string) => server.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=${(524287.5 / 44100).toFixed(9)}&window=${window}&normalize=false&width=128&height=64` });
    const kept = await tile("hann");
    expect(kept.statusCode, kept.body.slice(0, 300)).toBe(200);
    const worker = await thread();
    await full.pool.run(faultTask({ kind: "grow", bytes: WASM32_MEMORY_MAX - (await coreBytes()) }));
    expect(await coreBytes()).toBe(WASM32_MEMORY_MAX);
    // Another window of that length: another plan, which the room the kept one leaves cannot hold.
    const refused = await tile("hamming");
    expect([refused.statusCode, refused.headers["retry-after"], refused.json().message]).toEqual([503, "1",
      "the worker's DSP core had no room for this computation: its memory could not grow (it was at WebAssembly's 4 GiB, or the host refused it more); the worker is replaced by a fresh one, without what the old one kept for other requests: retry shortly"]);
    // A plan's allocation that failed part way leaves blocks no one frees: the thread went, and a
    // fresh one, with a fresh core, has the room.
    const again = await tile("hamming");
    expect(again.statusCode, again.body.slice(0, 300)).toBe(200);
    expect(await thread()).not.toBe(worker);
  });
});

describe("tileLimits out of range (buildApp)", () => {
  const build = (tileLimits: Record<string, unknown>) => buildApp({ database: t.db, audioRoots: [], tiles, tileLimits: tileLimits as never });

  it("are refused when the app is built, naming the limit and its bound — with maxTilePixels 2^29, a PNG tile of 1024 × 262145 pixels was a 500", async () => {
    // A PNG's colour indices are computed from its values as one block of the worker's DSP core,
    // 4 bytes a pixel, and the core's largest block is 1 GiB less 4 bytes.
    const why = "a PNG's values go into the worker's DSP core as one block of 4 bytes a pixel, and the core's largest block is 1 GiB less 4 bytes";
    for (const name of ["maxTilePixels", "maxImagePixels"]) {
      await expect(build({ [name]: 2 ** 28 })).rejects.toThrow(new RangeError(`tileLimits.${name}: must be an integer from 1 to 268435455, got 268435456: ${why}`));
      await expect(build({ [name]: 0 })).rejects.toThrow(new RangeError(`tileLimits.${name}: must be an integer from 1 to 268435455, got 0`));
    }
    for (const name of ["maxStreamTiles", "maxImageFrames"]) {
      for (const bad of [0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(build({ [name]: bad })).rejects.toThrow(new RangeError(`tileLimits.${name}: must be an integer ≥ 1, got ${bad}`));
      }
    }
    await expect(build({ maxTilePixels: "1000" })).rejects.toThrow(new TypeError('tileLimits.maxTilePixels: must be an integer from 1 to 268435455, got string "1000"'));
    await expect(build({ maxTilePixel: 1000 })).rejects.toThrow(new TypeError("tileLimits: unknown option maxTilePixel; the known ones are maxStreamTiles, maxImageFrames, maxImagePixels, maxTilePixels"));
  });

  it("take the bound itself, and undefined for the default", async () => {
    const largest = await build({ maxTilePixels: 2 ** 28 - 1, maxImagePixels: 2 ** 28 - 1, maxStreamTiles: undefined });
    await largest.close();
  });
});

describe("the file a worker opens", () => {
  it("is exactly the one whose real path the API checked: a link in the path is refused, where a library caller's link is followed", async () => {
    const dir = await tempDir();
    const service = new TileService({ threads: 1 }); // no stats store: nothing is written for these paths
    try {
      const link = join(dir.path, "link.wav");
      await symlink(recording().path, link);
      const params = parseParams({ window_size: 0.04, pcen: false });
      await expect(service.stats({ ...recording(), path: link, exactPath: true }, params)).rejects.toThrow(`${link} changed while it was opened: a link in its path now leads elsewhere`);
      expect((await service.stats({ ...recording(), path: link }, params)).stats.frames).toBeGreaterThan(0);
    } finally {
      await service.close();
      await dir.remove();
    }
  });
});

describe("closing the tile service", () => {
  it("cancels a stats pass nobody waits for instead of running it to its end", async () => {
    const closing = new TileService({ threads: 1, statsWaitMs: 1 });
    // 1 s windows hopping one sample over the 22 s recording: 4.4·10^10 samples, minutes of work.
    const heavy = parseParams({ window_size: 1, hop_size: 0.00002, pcen: false });
    const pass = closing.stats(recording(), heavy);
    await expect(pass).rejects.toBeInstanceOf(StatsPendingError); // the request gave up; the pass goes on
    await closing.close(); // without the cancellation: minutes
    expect(closing.computed).toBe(1);
  });
});

describe("one-shot image and health", () => {
  it("draws [start_time, end_time) with whole-recording semantics, within the pixel limit", async () => {
    const res = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=1&end_time=2` });
    expect(res.statusCode).toBe(200);
    const image = UPNG.decode(res.rawPayload.buffer.slice(res.rawPayload.byteOffset, res.rawPayload.byteOffset + res.rawPayload.byteLength) as ArrayBuffer);
    // Frames centred in [1, 2): ceil(1·44100/551) = 81 … ceil(2·44100/551) − 1 = 160.
    expect([image.width, image.height]).toEqual([80, 552]);
    expect(res.headers["x-frame-range"]).toBe("81,161");
    const tooBig = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=20` });
    expect(tooBig.statusCode).toBe(400);
    expect(tooBig.json().message).toMatch(/the image would be 1601 × 552 = 883752 pixels \(columns × rows\); the limit is 55200: ask for fewer rows \(height, fmin\/fmax\)/);
    // The limit counts the rows the image has, after its crop: 1601 × 34 = 54434 fits, 1601 × 35 = 56035 does not.
    const merged = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=20&height=34` });
    expect([merged.statusCode, merged.headers["x-shape"]]).toEqual([200, "34,1601"]);
    expect((await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=20&height=35` })).statusCode).toBe(400);
    // 1601 frames × 34 bins of a band: 17 bins at 40.018 Hz apart from 10 kHz to 10.68 kHz.
    const band = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=20&fmin=10000&fmax=10680` });
    expect([band.statusCode, band.headers["x-shape"]]).toEqual([200, "17,1601"]);
  });

  it("refuse an image whose frames would transform more than a tile may (2^32 samples) with 400 naming hop_size, before any work, as a tile over it is refused naming z", async () => {
    // 2 s windows (88,200 samples) hopping one sample, no pass (dB, no PCEN or normalization): the
    // 52,920 frames centred in [0, 1.2) s are within the image's frame and pixel limits (one row),
    // but 4.67·10^9 samples — one such image ran on a worker until the request's 60 s limit.
    const computed = tiles.computed;
    const res = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=1.2&window_size=2&hop_size=0.00001&pcen=false&normalize=false&height=1&format=f32` });
    expect(res.statusCode).toBe(400);
    expect(res.json().fields).toEqual([{ field: "hop_size", message: `the image would transform ${(52_920 * 88_200).toExponential(2)} samples (52920 frames of 88200); the limit is 4.29e+9: ask for a longer hop_size, a shorter window_size or a shorter interval, or use tiles` }]);
    expect(tiles.computed).toBe(computed);
    // Within it (48,000 frames: 4.23·10^9 samples), the image is planned as before (not computed here).
    const params = parseParams({ window_size: 2, hop_size: 0.00001, pcen: false, normalize: false });
    const within = await tiles.planPiece(recording(), params, 0, 48_000 / 44_100, { height: 1 }, "f32", { frames: 65_536, pixels: 65_536 });
    expect(within.layout.columns).toBe(48_000);
  });

  it("crops and merges rows by fmin, fmax and height as a tile does: the rows of the whole image, merged by their maximum", async () => {
    // 441-point FFTs, 221 bins 100 Hz apart: 128 frames of them are within the pixel limit (55200).
    const hop = Number((await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=1&format=f32&window_size=0.01` })).headers["x-hop-seconds"]);
    /** The frames centred in [127.5, 255.5) hops: 128 … 255, as tile 1 of width 128 covers. */
    const interval = `start_time=${127.5 * hop}&end_time=${255.5 * hop}&window_size=0.01`;
    const values = async (query: string) => {
      const res = await app.inject({ url: `/v1/recordings/${id}/spectrogram?${interval}&format=f32${query}` });
      expect(res.statusCode, res.body).toBe(200);
      return { values: bytesToF32(res.rawPayload), headers: res.headers };
    };
    const whole = await values("");
    expect([whole.headers["x-frame-range"], whole.headers["x-shape"]]).toEqual(["128,256", "221,128"]);
    const columns = 128;
    /** Rows [k0, k1) of the whole image, merged into `rows` rows by their maximum (row r: bins k0 + floor(r·n/rows) …). */
    const rowsOfWhole = (k0: number, k1: number, rows: number) => {
      const out = new Float32Array(rows * columns);
      const n = k1 - k0;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < columns; c++) {
          let m = -Infinity;
          for (let k = k0 + Math.floor((r * n) / rows); k < k0 + Math.floor(((r + 1) * n) / rows); k++) m = Math.max(m, whole.values[k * columns + c]);
          out[r * columns + c] = m;
        }
      }
      return out;
    };
    // 1950 Hz … 8050 Hz: bins 20 (2000 Hz) … 80 (8000 Hz).
    const cropped = await values("&fmin=1950&fmax=8050");
    expect([cropped.headers["x-shape"], cropped.headers["x-frequency-range"], cropped.headers["x-bins-per-row"], cropped.headers["x-frame-range"]])
      .toEqual(["61,128", "2000,8000", "1", "128,256"]);
    expect(cropped.values).toEqual(rowsOfWhole(20, 81, 61));
    const merged = await values("&fmin=1950&fmax=8050&height=16");
    expect([merged.headers["x-shape"], merged.headers["x-bins-per-row"]]).toEqual(["16,128", "3.8125"]);
    expect(merged.values).toEqual(rowsOfWhole(20, 81, 16));
    expect((await values("&height=7")).values).toEqual(rowsOfWhole(0, 221, 7));
    // The 0 Hz row alone is a band, as for tiles.
    expect((await values("&fmin=0&fmax=0")).values).toEqual(rowsOfWhole(0, 1, 1));
    // What tile 1 of width 128 gives for the same band, values and geometry.
    for (const query of ["&fmin=1950&fmax=8050&height=16&pcen=false", "&fmax=3000&scale=power"]) {
      const [piece, tile] = [await values(query), await app.inject({ url: `/v1/recordings/${id}/tiles/0/1.f32?width=128&window_size=0.01${query}` })];
      expect(tile.statusCode, tile.body).toBe(200);
      expect(piece.values, query).toEqual(bytesToF32(tile.rawPayload));
      for (const header of ["x-shape", "x-frame-range", "x-frequency-range", "x-bins-per-row", "x-value-range"]) expect(piece.headers[header], `${query} ${header}`).toBe(tile.headers[header]);
    }
    // Spelled-out defaults are the same image (ETag): the bytes cover the same rows.
    const etag = async (query: string) => (await app.inject({ url: `/v1/recordings/${id}/spectrogram?${interval}${query}` })).headers.etag;
    expect(await etag("&fmin=0&fmax=22050&height=221")).toBe(await etag(""));
    expect(await etag("&height=110")).not.toBe(await etag(""));
  });

  it("equals `sonotile spectrogram` of the same file, interval and band (--fmin, --fmax, --height): the same values, shape and frames", async () => {
    const hop = Number((await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=1&format=f32&window_size=0.01` })).headers["x-hop-seconds"]);
    const [start, end] = [String(127.5 * hop), String(255.5 * hop)];
    const dir = await tempDir();
    onTestFinished(() => dir.remove());
    // [query, the same as flags]: PCEN and normalization on (the recording's stats), a crop merged into rows, a band alone, every row.
    const cases: [string, string[]][] = [["&fmin=1950&fmax=8050&height=16", ["--fmin", "1950", "--fmax", "8050", "--height", "16"]],
      ["&fmax=3000&scale=power&pcen=false", ["--fmax", "3000", "--scale", "power", "--no-pcen"]], ["&height=7", ["--height", "7"]], ["", []]];
    for (const [query, flags] of cases) {
      const res = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=${start}&end_time=${end}&window_size=0.01&format=f32${query}` });
      expect(res.statusCode, res.body).toBe(200);
      const out = join(dir.path, "piece.f32");
      expect(await spectrogramCommand.run([join(FIXTURES, "recordings", FILE), "-o", out, "--start", start, "--end", end, "--window-size", "0.01", ...flags])).toBe(0);
      const made = JSON.parse(await readFile(`${out}.json`, "utf8")).sonotile;
      expect([made.geometry.rows, made.frames[1] - made.frames[0]].join(","), query).toBe(res.headers["x-shape"]);
      expect(made.frames.join(","), query).toBe(res.headers["x-frame-range"]);
      expect(made.geometry.frequency_range.join(","), query).toBe(res.headers["x-frequency-range"]);
      expect(firstDifference(bytesToF32(await readFile(out)), bytesToF32(res.rawPayload)), query).toBe(-1);
    }
  });

  it("refuses a bad band as a tile does, naming the field with the tile's words", async () => {
    /** The fields of a 400. */
    const fields = async (url: string) => {
      const res = await app.inject({ url: `/v1/recordings/${id}/${url}` });
      expect(res.statusCode, url).toBe(400);
      return res.json().fields;
    };
    for (const [query, field] of [["fmin=abc", "fmin"], ["fmin=-1", "fmin"], ["fmax=0x10", "fmax"], ["height=0", "height"], ["height=1.5", "height"], ["height=100000", "height"],
      ["fmin=3000&fmax=2000", "fmax"], ["fmin=30000", "fmin"], ["fmin=10010&fmax=10020", "fmin"]] as const) {
      const piece = await fields(`spectrogram?start_time=1&end_time=2&format=f32&${query}`);
      expect(piece.map((f: { field: string }) => f.field), query).toEqual([field]);
      expect(piece, query).toEqual(await fields(`tiles/0/0.f32?${query}`));
    }
    expect(await fields("spectrogram?start_time=1&end_time=2&height=100000")).toEqual([{ field: "height", message: "must be <= 552 (the bins in the band)" }]);
  });

  it("gives the same values as the whole recording's frames (f32)", async () => {
    const reader = await openAudio(join(FIXTURES, "recordings", FILE));
    const whole = await spectrogramOfRecording(reader, { window: "blackman" });
    await reader.close();
    const res = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=3.3&end_time=3.7&format=f32&window=blackman` });
    expect(res.statusCode).toBe(200);
    const [f0, f1] = (res.headers["x-frame-range"] as string).split(",").map(Number);
    expect([f0, f1]).toEqual([Math.ceil((3.3 * 44100) / 551), Math.ceil((3.7 * 44100) / 551)]);
    const piece = bytesToF32(res.rawPayload);
    const n = f1 - f0;
    let worst = 0;
    for (let k = 0; k < whole.bins; k++) for (let c = 0; c < n; c++) worst = Math.max(worst, Math.abs(piece[k * n + c] - whole.data[k * whole.frames + f0 + c]));
    expect(worst).toBeLessThanOrEqual(0.05);
  });

  it("answers /health while every worker is busy", async () => {
    const busy = Array.from({ length: 12 }, (_, i) => app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=${0.004 + i * 0.0001}` }));
    let settled = 0;
    busy.forEach((p) => p.then(() => settled++));
    const health = await app.inject({ url: "/health" });
    expect(health.statusCode).toBe(200);
    expect(settled).toBeLessThan(busy.length);
    await Promise.all(busy);
  });
});

describe("revision", () => {
  /** GET with the admin's token; PATCH the recording's time expansion. */
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ url, headers });
  const setTimeExpansion = async (te: number) => {
    const res = await app.inject({ method: "PATCH", url: `/v1/recordings/${id}`, headers: { authorization: `Bearer ${adminKey}` }, payload: { time_expansion: te } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().revision as string;
  };
  const width = (res: { rawPayload: Buffer }) => UPNG.decode(new Uint8Array(res.rawPayload).buffer).width;

  it("an interval past a time-expanded recording's end is refused saying that times are real seconds (one-shot image and stream)", async () => {
    // At time expansion 10 the file's 22.5 s last 2.25 s: 5–6 s, as a player shows the file, is past the end.
    await setTimeExpansion(10);
    try {
      const refusals = await Promise.all([
        get(`/v1/recordings/${id}/spectrogram?start_time=5&end_time=6`),
        get(`/v1/recordings/${id}/tiles/0/stream?start_time=5&end_time=6`),
      ]);
      const hint = `; times are real seconds: time expansion 10 (the recording's time_expansion) makes the file's ${frames / 44100} s last ${frames / 441000} s`;
      for (const res of refusals) {
        expect(res.statusCode).toBe(400);
        expect(res.json().fields).toEqual([{ field: "start_time", message: expect.stringMatching(/^no frame is centred in \[5, 6\) s \(.*\)/) }]);
        expect(res.json().fields[0].message.endsWith(hint), res.json().fields[0].message).toBe(true);
      }
    } finally {
      await setTimeExpansion(1);
    }
    // At time expansion 1 nothing is added.
    const plain = await get(`/v1/recordings/${id}/spectrogram?start_time=30&end_time=40`);
    expect(plain.json().fields[0].message).toMatch(/^no frame is centred in \[30, 40\) s \([^;]*\)$/);
  });

  it("changes with the time expansion, so a URL cached for good is never answered differently", async () => {
    const before = (await get(`/v1/recordings/${id}`)).json().revision as string;
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    const tile = (revision: string) => `/v1/recordings/${id}/tiles/0/0.png?revision=${revision}`;
    const image = (revision: string) => `/v1/recordings/${id}/spectrogram?start_time=0&end_time=0.5&revision=${revision}`;
    const oldTile = await get(tile(before));
    expect(oldTile.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect((await get(image(before))).headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    try {
      const after = await setTimeExpansion(2);
      expect(after).not.toBe(before);
      // The old URL now answers differently (twice the rate: twice the bins)…
      const stale = await get(tile(before));
      expect(stale.statusCode).toBe(200);
      expect(stale.headers.etag).not.toBe(oldTile.headers.etag);
      expect(UPNG.decode(new Uint8Array(stale.rawPayload).buffer).height).toBe(1103);
      // …so it is not immutable any more, nor is a URL without a revision; the new one is.
      expect(stale.headers["cache-control"]).toBe("public, no-cache");
      expect((await get(`/v1/recordings/${id}/tiles/0/0.png`)).headers["cache-control"]).toBe("public, no-cache");
      expect((await get(image(before))).headers["cache-control"]).toBe("public, no-cache");
      const fresh = await get(tile(after));
      expect(fresh.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect(fresh.headers.etag).toBe(stale.headers.etag);
      expect(width(fresh)).toBe(width(stale));
      // Revalidation: 304 for the copy a cache holds, with the same Cache-Control.
      const revalidated = await get(tile(before), { "if-none-match": stale.headers.etag as string });
      expect([revalidated.statusCode, revalidated.headers["cache-control"]]).toEqual([304, "public, no-cache"]);
      const oneShot = await get(image(after));
      const oneShotAgain = await get(image(after), { "if-none-match": oneShot.headers.etag as string });
      expect([oneShotAgain.statusCode, oneShotAgain.headers["cache-control"]]).toEqual([304, "public, max-age=31536000, immutable"]);
    } finally {
      // Derived from the content, not counted: the change undone, the old URLs are current again.
      expect(await setTimeExpansion(1)).toBe(before);
    }
  });
});

/** The spectrogram parameters a request without any gets. */
const PARAMETER_DEFAULTS: Record<string, unknown> = parseParams({});

describe("OpenAPI document", () => {
  it("declares the media types and statuses the spectrogram, playback and audio routes send", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    /** status → the media types of its content ([] for none). */
    const responses = (path: string) => Object.fromEntries(Object.entries(doc.paths[path].get.responses as Record<string, { content?: object }>).map(([status, r]) => [status, Object.keys(r.content ?? {})]));
    const json = ["application/json"];
    const spectrogram = { 200: ["image/png", "application/octet-stream"], 304: [], 400: json, 401: json, 403: json, 404: json, 409: json, 422: json, 503: json };
    expect(responses("/v1/recordings/{id}/tiles/{z}/{tile}")).toEqual(spectrogram);
    expect(responses("/v1/recordings/{id}/spectrogram")).toEqual(spectrogram);
    expect(responses("/v1/recordings/{id}/tiles/{z}/stream")).toEqual({ 200: ["multipart/mixed"], 400: json, 401: json, 403: json, 404: json, 409: json, 422: json, 503: json });
    expect(responses("/v1/recordings/{id}/playback")).toEqual({ 200: ["audio/wav"], 400: json, 401: json, 403: json, 404: json, 409: json, 422: json, 503: json });
    const audio = ["audio/wav", "audio/aiff", "audio/flac", "audio/mpeg", "audio/ogg", "application/octet-stream"];
    expect(responses("/v1/recordings/{id}/audio")).toEqual({ 200: audio, 206: [...audio, "multipart/byteranges"], 304: [], 400: json, 401: json, 403: json, 404: json, 409: json, 416: json, 422: json, 503: json });
    expect(doc.paths["/v1/recordings/{id}/tiles/{z}/{tile}"].get.responses["200"].content["image/png"].schema).toEqual({ type: "string", format: "binary" });
    // Each status described for the route (a 404, 409 and 422 read "Default Response"; test/api-openapi-clients.test.ts walks the rest).
    for (const path of ["/v1/recordings/{id}/tiles/{z}/{tile}", "/v1/recordings/{id}/spectrogram", "/v1/recordings/{id}/tiles/{z}/stream", "/v1/recordings/{id}/playback"]) {
      const { 404: notFound, 409: conflict, 422: unprocessable } = doc.paths[path].get.responses;
      expect([notFound.description, conflict.description, unprocessable.description], path).toEqual([
        expect.stringMatching(/^Not Found: no recording has the path's id/), expect.stringMatching(/^Conflict: .*a recording whose file changed since it was registered/), expect.stringMatching(/^Unprocessable Content: the recording's file cannot be used/),
      ]);
    }
    // A computation over the request time limit is a 400 as every limit is (SPEC §10); a wait for a free worker, a 503.
    for (const path of ["/v1/recordings/{id}/tiles/{z}/{tile}", "/v1/recordings/{id}/spectrogram"]) {
      const { 400: badRequest, 503: unavailable } = doc.paths[path].get.responses;
      expect(badRequest.description).toContain("or the request time limit — a computation that ran 60 s on a worker without finishing");
      expect(unavailable.description).toContain("every worker is busy (the queue is full, the client's own share of it is, or no worker was free within 60 s)");
    }
  });

  it("declares the headers the byte responses carry — the ones the routes send, each described", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    /** The header names a response declares (lower case, as HTTP/1.1 answers are read here), each with a description. */
    const declared = (path: string, status: number) => {
      const headers = (doc.paths[path].get.responses[status].headers ?? {}) as Record<string, { description?: string; schema: { type: string } }>;
      for (const [name, h] of Object.entries(headers)) expect([name, h.schema.type, (h.description ?? "").length > 10]).toEqual([name, "string", true]);
      return Object.keys(headers).map((name) => name.toLowerCase()).sort();
    };
    /** The headers an answer carries beyond those of every answer. */
    const sent = (res: { headers: Record<string, unknown> }) => Object.keys(res.headers).filter((h) => !["content-type", "content-length", "date", "connection", "keep-alive", "transfer-encoding"].includes(h)).sort();
    const tile = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?pcen=false` });
    expect(declared("/v1/recordings/{id}/tiles/{z}/{tile}", 200)).toEqual(sent(tile));
    expect(sent(tile)).toContain("x-frequency-range");
    const piece = await app.inject({ url: `/v1/recordings/${id}/spectrogram?start_time=0&end_time=0.5&format=f32&pcen=false` });
    expect(declared("/v1/recordings/{id}/spectrogram", 200)).toEqual(sent(piece));
    const playback = await app.inject({ url: `/v1/recordings/${id}/playback?start_time=0&end_time=0.5` });
    expect(declared("/v1/recordings/{id}/playback", 200)).toEqual(sent(playback));
    const audio = await app.inject({ url: `/v1/recordings/${id}/audio` });
    expect(declared("/v1/recordings/{id}/audio", 200)).toEqual(sent(audio));
    const range = await app.inject({ url: `/v1/recordings/${id}/audio`, headers: { range: "bytes=0-99" } });
    expect([range.statusCode, declared("/v1/recordings/{id}/audio", 206)]).toEqual([206, sent(range)]);
    // A 304 repeats the validator and caching a cache updates its copy with (RFC 9110 §15.4.5), and a
    // 416 names the file's size in Content-Range (§15.5.17): neither was declared.
    const unchanged = async (url: string, etag: unknown) => app.inject({ url, headers: { "if-none-match": etag as string } });
    const tileAgain = await unchanged(`/v1/recordings/${id}/tiles/0/0.f32?pcen=false`, tile.headers.etag);
    expect([tileAgain.statusCode, declared("/v1/recordings/{id}/tiles/{z}/{tile}", 304)]).toEqual([304, sent(tileAgain)]);
    expect(sent(tileAgain)).toEqual(["cache-control", "etag"]);
    const pieceAgain = await unchanged(`/v1/recordings/${id}/spectrogram?start_time=0&end_time=0.5&format=f32&pcen=false`, piece.headers.etag);
    expect([pieceAgain.statusCode, declared("/v1/recordings/{id}/spectrogram", 304)]).toEqual([304, sent(pieceAgain)]);
    const audioAgain = await unchanged(`/v1/recordings/${id}/audio`, audio.headers.etag);
    expect([audioAgain.statusCode, declared("/v1/recordings/{id}/audio", 304)]).toEqual([304, sent(audioAgain)]);
    const outside = await app.inject({ url: `/v1/recordings/${id}/audio`, headers: { range: "bytes=999999999-" } });
    expect([outside.statusCode, declared("/v1/recordings/{id}/audio", 416)]).toEqual([416, sent(outside)]);
    expect(outside.headers["content-range"]).toBe(`bytes */${audio.rawPayload.length}`);
  });

  it("lists HEAD for the audio download, playback, the tiles, their stream, the one-shot image and the artifact file, as their GET without bodies, with the headers the answers carry — it listed no HEAD, though Fastify answers it (the stream and the image: none, after the others')", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const downloads = ["/v1/artifacts/{id}/file", "/v1/recordings/{id}/audio", "/v1/recordings/{id}/playback", "/v1/recordings/{id}/spectrogram", "/v1/recordings/{id}/tiles/{z}/stream", "/v1/recordings/{id}/tiles/{z}/{tile}"];
    expect(Object.keys(doc.paths).filter((path) => doc.paths[path].head).sort()).toEqual(downloads);
    type Response = { description: string; content?: object; headers?: Record<string, unknown> };
    for (const path of downloads) {
      const { get, head } = doc.paths[path] as Record<string, { operationId: string; summary: string; parameters: unknown[]; responses: Record<string, Response> }>;
      expect(head.operationId, path).toBe(get.operationId.replace(/^get/, "head"));
      expect(head.summary, path).toBe(`${get.summary} — headers only (HEAD: the GET's answer without its body)`);
      expect(head.parameters, path).toEqual(get.parameters);
      expect(Object.keys(head.responses), path).toEqual(Object.keys(get.responses));
      for (const [status, response] of Object.entries(head.responses)) {
        expect(response.content, `${path} ${status}`).toBeUndefined();
        expect(response.description, `${path} ${status}`).toBe(get.responses[status].description);
        // The stream's length is known to no header: its parts are written as they are made.
        const length = /^2/.test(status) && !path.endsWith("/stream") ? ["Content-Length"] : [];
        expect(Object.keys(response.headers ?? {}), `${path} ${status}`).toEqual([...Object.keys(get.responses[status].headers ?? {}), ...length]);
      }
    }
    // And HEAD answers so: the GET's status and headers, Content-Length that of the GET's body, no body.
    const declared = (path: string, status: number) => Object.keys(doc.paths[path].head.responses[status].headers).map((name) => name.toLowerCase()).sort();
    const sent = (res: { headers: Record<string, unknown> }) => Object.keys(res.headers).filter((h) => !["content-type", "date", "connection", "keep-alive", "transfer-encoding"].includes(h)).sort();
    for (const [url, path, range, status] of [
      [`/v1/recordings/${id}/audio`, "/v1/recordings/{id}/audio", undefined, 200],
      [`/v1/recordings/${id}/audio`, "/v1/recordings/{id}/audio", "bytes=100-199", 206],
      [`/v1/recordings/${id}/tiles/0/0.f32?pcen=false&width=128`, "/v1/recordings/{id}/tiles/{z}/{tile}", undefined, 200],
      [`/v1/recordings/${id}/playback?start_time=0.5&end_time=1`, "/v1/recordings/{id}/playback", undefined, 200],
      [`/v1/recordings/${id}/spectrogram?start_time=0.5&end_time=1&pcen=false&format=f32`, "/v1/recordings/{id}/spectrogram", undefined, 200],
    ] as const) {
      const headers = range ? { range } : {};
      const [get, head] = [await app.inject({ url, headers }), await app.inject({ method: "HEAD", url, headers })];
      expect([head.statusCode, head.body, declared(path, status)], `${url} ${range}`).toEqual([status, "", sent(head)]);
      expect(head.headers["content-length"], `${url} ${range}`).toBe(String(get.rawPayload.length));
      expect(head.headers.etag).toBe(get.headers.etag);
    }
    const stream = await app.inject({ method: "HEAD", url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=1&pcen=false&width=128` });
    expect([stream.statusCode, stream.body, declared("/v1/recordings/{id}/tiles/{z}/stream", 200)]).toEqual([200, "", sent(stream)]);
    expect(stream.headers["content-length"]).toBeUndefined();
  });

  it("declares the tile fields as the routes accept them: the widths as an enum, z up to MAX_ZOOM, pages from 1 to MAX_LIMIT", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const parameter = (path: string, name: string) => doc.paths[path].get.parameters.find((p: { name: string }) => p.name === name);
    for (const path of ["/v1/recordings/{id}/tiles/{z}/{tile}", "/v1/recordings/{id}/tiles/{z}/stream"]) {
      expect(parameter(path, "width").schema, path).toEqual({ type: "number", enum: [...TILE_WIDTHS], default: 512 });
      expect(parameter(path, "z").schema, path).toEqual({ type: "integer", minimum: 0, maximum: MAX_ZOOM });
    }
    // Every route a 503 for slow clients tells to ask for "fewer rows with height, fmin or fmax" takes them, as the tile does.
    for (const path of ["/v1/recordings/{id}/tiles/{z}/{tile}", "/v1/recordings/{id}/tiles/{z}/stream", "/v1/recordings/{id}/spectrogram"]) {
      expect(parameter(path, "height").schema, path).toMatchObject({ type: "integer", minimum: 0, exclusiveMinimum: true });
      for (const name of ["fmin", "fmax"]) expect(parameter(path, name).schema, `${path} ${name}`).toMatchObject({ type: "number", minimum: 0 });
      for (const name of ["fmin", "fmax", "height"]) expect(parameter(path, name).description, `${path} ${name}`).toBe(parameter("/v1/recordings/{id}/tiles/{z}/{tile}", name).description);
    }
    expect(parameter("/v1/recordings", "limit").schema).toEqual({ type: "integer", minimum: 1, maximum: MAX_LIMIT, default: 50 });
    expect(parameter("/v1/recordings", "offset").schema).toEqual({ type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 });
    // What the document says is what the routes do.
    for (const z of [0, MAX_ZOOM]) expect((await app.inject({ url: `/v1/recordings/${id}/tiles/${z}/0.png?width=128&pcen=false` })).statusCode, `z ${z}`).toBe(200);
    expect((await app.inject({ url: `/v1/recordings/${id}/tiles/${MAX_ZOOM + 1}/0.png` })).statusCode).toBe(400);
    for (const width of TILE_WIDTHS) expect((await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.png?width=${width}&pcen=false` })).statusCode, `width ${width}`).toBe(200);
  });

  it("declares every spectrogram parameter's default, the one a request without it gets (SPEC §2)", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const declared = Object.fromEntries(doc.paths["/v1/recordings/{id}/spectrogram"].get.parameters
      .filter((p: { in: string; name: string }) => p.in === "query" && p.name in PARAMETER_DEFAULTS)
      .map((p: { name: string; schema: { default?: unknown } }) => [p.name, p.schema.default]));
    expect(declared).toEqual(PARAMETER_DEFAULTS);
    expect(PARAMETER_DEFAULTS).toMatchObject({ window_size: 0.025, hop_size: 0.5, window: "hann", scale: "dB", pcen: true, pcen_gain: 0.98, cmap: "gray" });
  });

  it("declares every spectrogram parameter's bounds (SPEC §2), as the routes enforce them — a generated form had window_size: {type: number} and nothing else", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const bounds = Object.fromEntries(doc.paths["/v1/recordings/{id}/tiles/{z}/{tile}"].get.parameters
      .filter((p: { in: string; name: string }) => p.in === "query" && p.name in PARAMETER_DEFAULTS)
      .map((p: { name: string; schema: Record<string, unknown> }) => [p.name, Object.fromEntries(Object.entries(p.schema).filter(([k]) => /imum$/.test(k)))]));
    const above0 = { minimum: 0, exclusiveMinimum: true };
    expect(bounds).toMatchObject({
      low_freq: { minimum: 0 }, high_freq: above0, window_size: above0, hop_size: { ...above0, maximum: 1 }, kaiser_beta: above0,
      min_dB: { maximum: 0 }, max_dB: { maximum: 0 }, pcen_smooth: { ...above0, maximum: 1, exclusiveMaximum: true },
      pcen_gain: { minimum: 0 }, pcen_bias: above0, pcen_power: above0, pcen_eps: above0,
    });
    // What the document says is what the routes do, at each bound and past it.
    const status = async (query: string) => (await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&normalize=false&width=128&${query}` })).statusCode;
    for (const query of ["hop_size=1", "min_dB=-10&max_dB=0", "low_freq=0"]) expect(await status(query), query).toBe(200);
    for (const query of ["hop_size=0", "hop_size=1.01", "window_size=0", "max_dB=0.5", "low_freq=-1", "high_freq=0", "kaiser_beta=0"]) expect(await status(query), query).toBe(400);
  });

  it("declares on every operation the statuses every route answers, with their headers — and the routes answer them: 400 for a malformed id, 401 (WWW-Authenticate) for a wrong token, 503 with Retry-After, 403 where a role is missing, 415 for a body that is not JSON", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const role = async (name: string, r: "viewer" | "member") => auth((await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: name, role: r })).id, name, created_by: null })).key);
    const viewer = await role("openapi-viewer", "viewer");
    const member = await role("openapi-member", "member");
    const admin = auth(adminKey);
    const ops = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { required?: string[] } }>; headers?: Record<string, unknown> }> }>>)
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase() as "GET" | "HEAD", op, name: `${method.toUpperCase()} ${path}` })));
    expect(ops).toHaveLength(102);
    const reads = new Set(["GET", "HEAD"]);
    /** The operation's URL, its path parameters filled in: every id `id` (a malformed one by default). */
    const url = (path: string, recordId = "not-a-uuid") => path.replace(/\{(\w+)\}/g, (_, p: string) => (p === "z" ? "0" : p === "tile" ? "0.f32" : p === "name" ? "f" : recordId));
    const problems: string[] = [];
    const notUnauthorized: string[] = [];
    const refused: string[] = [];
    for (const { path, method, op, name } of ops) {
      const declared = (status: number, why: string, errorBody = true) => {
        const response = op.responses[status];
        if (!response) problems.push(`${name}: answers ${status} (${why}) but does not declare it`);
        // A HEAD's answers have no body.
        else if (errorBody && method !== "HEAD" && !response.content?.["application/json"]?.schema.required?.includes("message")) problems.push(`${name}: ${status} is not declared with the error body`);
      };
      declared(400, "every request: a query parameter given twice");
      declared(503, "every request: the deadline", path !== "/health"); // /health's own 503 is its body
      // The deadline's, the drain's and an outage's 503 tell a client when to retry (plugins/deadline.ts, drain.ts, errors.ts).
      if (path !== "/health" && !op.responses[503]?.headers?.["Retry-After"]) problems.push(`${name}: 503 does not declare Retry-After`);
      const withBody = !reads.has(method);
      if (withBody) {
        declared(413, "a body over the limit");
        declared(415, "a body of a type it does not take");
        // A type no route takes (POST /v1/clips/import takes text: its tables).
        const res = await app.inject({ method, url: url(path, "00000000-0000-0000-0000-000000000000"), headers: { ...admin, "content-type": "image/png" }, payload: "x" });
        if (res.statusCode !== 415) problems.push(`${name}: an image/png body gave ${res.statusCode}, not 415`);
      }
      const wrong = await app.inject({ method, url: url(path), headers: auth("st_wrong") });
      if (wrong.statusCode === 401) {
        declared(401, "a wrong token");
        // RFC 6750 §3: every 401 names the scheme (plugins/errors.ts), and what was wrong with the
        // token; a generated client saw it undeclared.
        if (wrong.headers["www-authenticate"] !== 'Bearer realm="sonotile", error="invalid_token", error_description="the token is unknown"') problems.push(`${name}: a 401 whose WWW-Authenticate is ${wrong.headers["www-authenticate"]}`);
        if (!op.responses[401]?.headers?.["WWW-Authenticate"]) problems.push(`${name}: 401 does not declare WWW-Authenticate`);
      }
      else notUnauthorized.push(name);
      if (/\{/.test(path)) {
        declared(404, "an id that names nothing");
        const malformed = await app.inject({ method, url: url(path), headers: admin });
        if (malformed.statusCode === 400) declared(400, "a malformed id");
        else problems.push(`${name}: a malformed id gave ${malformed.statusCode}, not 400`);
      }
      // A viewer may write little (its own tokens), a member not what needs an admin (the
      // malformed ids and the body that is no object stop every other request before its handler).
      for (const [who, headers] of [["viewer", viewer], ["member", member]] as const) {
        const res = await app.inject({ method, url: url(path), headers, ...(withBody ? { payload: [] } : {}) });
        if (res.statusCode === 403) {
          declared(403, `a ${who}'s token`);
          refused.push(`${name} (${who})`);
          // The user's role, or a record not theirs: what it takes, as RFC 6750's insufficient_scope.
          if (!/^Bearer realm="sonotile", error="insufficient_scope", error_description="[^"\\]+"$/.test(String(res.headers["www-authenticate"]))) problems.push(`${name}: a ${who}'s 403 whose WWW-Authenticate is ${res.headers["www-authenticate"]}`);
          if (!op.responses[403]?.headers?.["WWW-Authenticate"]) problems.push(`${name}: 403 does not declare WWW-Authenticate`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(notUnauthorized).toEqual(["GET /health"]);
    // Every write but those of one's own tokens needs a member; users (their deletion too), deletions of datasets and recordings, a dataset's move to another directory, purges and cleanups an admin.
    const writes = ops.filter((o) => !reads.has(o.method) && !o.path.startsWith("/v1/tokens")).map((o) => `${o.name} (viewer)`);
    expect(refused.filter((r) => r.endsWith("(viewer)")).sort()).toEqual(writes.sort());
    expect(refused.filter((r) => r.endsWith("(member)")).sort()).toEqual([
      "DELETE /v1/datasets/{id}", "DELETE /v1/recordings/{id}", "DELETE /v1/users/{id}", "PATCH /v1/users/{id}", "POST /v1/artifacts/cleanup", "POST /v1/trash/purge", "POST /v1/users", "PUT /v1/datasets/{id}/audio_dir",
    ].map((n) => `${n} (member)`));
  });

  it("a tile's refusal says in WWW-Authenticate what was wrong with the token (RFC 6750 §3), its body unchanged; beyond loopback a tile without a token gets the challenge alone", async () => {
    const { token, key } = await createToken(t.db.sql, { user_id: adminId, name: "old", created_by: null, expires_at: "2026-01-01T00:00:00Z" });
    const tile = `/v1/recordings/${id}/tiles/0/0.png`;
    const expired = await app.inject({ url: tile, headers: auth(key) });
    expect([expired.statusCode, expired.headers["www-authenticate"], expired.json().message]).toEqual([
      401, 'Bearer realm="sonotile", error="invalid_token", error_description="the token has expired"', `the token ${token.key_prefix}… (old) expired at 2026-01-01T00:00:00.000Z: create a new one (POST /v1/tokens with another token, or sonotile token create)`,
    ]);
    const locked = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, requireAuthForReads: true });
    try {
      const none = await locked.inject({ url: tile });
      expect([none.statusCode, none.headers["www-authenticate"], none.json().message]).toEqual([401, 'Bearer realm="sonotile"', "this route needs a token: send 'Authorization: Bearer <key>'"]);
      expect((await locked.inject({ url: tile, headers: auth(adminKey) })).statusCode).toBe(200);
    } finally {
      await locked.close();
    }
  });

  it("tells a client what it may leave out: the bodies abort and purge do without, the token /health does without; and what a download is", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    expect(doc.paths["/v1/jobs/{id}/abort"].post.requestBody.required).toBe(false);
    expect(doc.paths["/v1/trash/purge"].post.requestBody.required).toBe(false);
    expect(doc.paths["/v1/clips"].post.requestBody.required).toBe(true);
    expect(doc.paths["/health"].get.security).toEqual([]);
    // On loopback a read takes a token or none (test/api-openapi-clients.test.ts); a write needs the document's bearer.
    expect(doc.paths["/v1/recordings"].get.security).toEqual([{ bearer: [] }, {}]);
    expect(doc.paths["/v1/recordings"].post.security).toBeUndefined();
    expect(Object.keys(doc.paths["/v1/artifacts/{id}/file"].get.responses["200"].content)).toEqual(["text/csv", "application/octet-stream", "application/json"]); // features.csv; a job's .npy matrices; provenance.json
    expect(doc.paths["/v1/artifacts/{id}/file"].get.responses["304"].content).toBeUndefined();
    // On loopback a read needs no token — and one without a token named by a foreign Host is a 403.
    expect(doc.paths["/v1/recordings"].get.responses["403"]).toBeDefined();
    // Every operation is named, uniquely, for client generators.
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths["/v1/recordings/{id}/tiles/{z}/{tile}"].get.operationId).toBe("getRecordingsByIdTilesByZByTile");
    expect(doc.paths["/v1/trash/purge"].post.operationId).toBe("postTrashPurge");
    expect(doc.paths["/v1/recordings/{id}/owners/{user_id}"].delete.operationId).toBe("deleteRecordingsByIdOwnersByUserId");
  });
});

/**
 * An app of its own over a fresh audio root holding one float WAV of `samples` at `rate` Hz,
 * registered as recording `name` (a path relative to the root: "site/a.wav" in a folder of it); `body` runs with both, and everything is removed after.
 */
async function withOwnRecording(name: string, samples: Float32Array, rate: number, body: (own: App, recordingId: string, file: string) => Promise<void>, service = tiles): Promise<void> {
  const dir = await tempDir();
  const [root] = await resolveRoots([dir.path]);
  const own = await buildApp({ database: t.db, audioRoots: [root], tiles: service });
  try {
    const file = join(root, name);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, floatWav(samples, rate));
    const dataset = await createDataset(t.db.sql, { name: `own ${name}`, audio_dir: root, created_by: null });
    const rec = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: name, ...(await probeFile(file)), created_by: null }))!;
    await body(own, rec.id, file);
  } finally {
    await own.close();
    await dir.remove();
  }
}

/** A mono 32-bit float WAV file's bytes. */
function floatWav(samples: Float32Array, rate: number): Buffer {
  return Buffer.concat([floatWavHeader(samples.length, 1, rate), new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength)]);
}

describe("a recording whose samples are not finite", () => {
  it("is a 422 that says so, where, and in which file (relative to the audio root): the file decodes, its spectrogram is not defined", async () => {
    // 1 s of a float WAV at 8 kHz, silent but for a NaN at 0.5 s.
    const samples = new Float32Array(8000);
    samples[4000] = NaN;
    await withOwnRecording("site/nan.wav", samples, 8000, async (own, id) => {
      for (const url of [`/v1/recordings/${id}/tiles/0/0.png?pcen=false`, `/v1/recordings/${id}/spectrogram?start_time=0&end_time=1&pcen=false`, `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=1&pcen=false`]) {
        const res = await own.inject({ url });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(422);
        expect(res.json().message, url).toBe("the recording decodes, but its samples cannot be analysed: site/nan.wav: the samples hold NaN (first at 0.5 s, sample 4000 of the signal analysed): a spectrogram of NaN or ±Infinity is not defined");
      }
    });
  });

  it("one whose samples' power overflows float32 is a 422 naming the file, the value and where, as a NaN's", async () => {
    // It said "sample values reach 1.00e+30: their power overflows float32", naming no position.
    const samples = new Float32Array(8000).fill(0.25);
    samples[6000] = 1e30;
    await withOwnRecording("site/loud.wav", samples, 8000, async (own, id) => {
      for (const url of [`/v1/recordings/${id}/tiles/0/0.png?pcen=false`, `/v1/recordings/${id}/spectrogram?start_time=0&end_time=1&pcen=false`]) {
        const res = await own.inject({ url });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(422);
        expect(res.json().message, url).toBe("the recording decodes, but its samples cannot be analysed: site/loud.wav: the samples hold 1.00e+30 (first at 0.75 s, sample 6000 of the signal analysed): their power overflows float32 (full scale is 1)");
      }
    });
  });

  it("fails only the tiles that read the NaN when no stats pass reads the whole recording (dB without PCEN or normalization)", async () => {
    // 4 s at 8 kHz, a NaN at 3.5 s: frame 280 of 100-sample hops, in tile 2 of 128 frames.
    const samples = new Float32Array(32000).fill(0.25);
    samples[28000] = NaN;
    await withOwnRecording("late-nan.wav", samples, 8000, async (own, id) => {
      const status = async (x: number, query: string) => (await own.inject({ url: `/v1/recordings/${id}/tiles/0/${x}.f32?width=128&pcen=false&${query}` })).statusCode;
      expect([await status(0, "normalize=false"), await status(1, "normalize=false"), await status(2, "normalize=false")]).toEqual([200, 200, 422]);
      // The maximum is the whole recording's: every tile of a normalized spectrogram fails.
      expect(await status(0, "normalize=true")).toBe(422);
      // A stream: the tiles before the NaN, then that tile's JSON part naming the file, and the end.
      const res = await own.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=4&width=128&pcen=false&normalize=false&format=f32` });
      expect(res.statusCode).toBe(200);
      const boundary = /boundary=(\S+)/.exec(String(res.headers["content-type"]))![1];
      const parts = res.rawPayload.toString("latin1").split(`--${boundary}`).slice(1);
      expect(parts.map((p) => /X-Tile: (\S+)/.exec(p)?.[1] ?? p.trim())).toEqual(["0/0", "0/1", "0/2", "--"]);
      expect(parts[2]).toContain("Content-Type: application/json");
      expect(JSON.parse(Buffer.from(parts[2].slice(parts[2].indexOf("\r\n\r\n") + 4), "latin1").toString("utf8"))).toEqual({ error: "late-nan.wav: the samples hold NaN (first at 3.5 s, sample 28000 of the signal analysed): a spectrogram of NaN or ±Infinity is not defined" });
    });
  });
});

describe("a recording whose file was replaced after registration", () => {
  it("is a 409 on every route that reads it, not tiles of the new content under the old revision", async () => {
    const take = (seconds: number) => new Float32Array(8000 * seconds).fill(0.25);
    await withOwnRecording("a.wav", take(2), 8000, async (own, id, file) => {
      const urls = [`/v1/recordings/${id}/tiles/0/0.f32?pcen=false`, `/v1/recordings/${id}/spectrogram?start_time=0&end_time=1&pcen=false`,
        `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=1&pcen=false`, `/v1/recordings/${id}/playback?start_time=0&end_time=1`, `/v1/recordings/${id}/audio`];
      for (const url of urls) expect((await own.inject({ url })).statusCode, url).toBe(200);
      const datasetId = (await own.inject({ url: `/v1/recordings/${id}` })).json().dataset_id;
      const scanned = async () => (await own.inject({ url: `/v1/datasets/${datasetId}/scan` })).json().items;
      expect(await scanned()).toEqual([{ path: "a.wav", status: "registered", recording_id: id, recording_state: "active", changed: null, possibly_moved_to: [], unreadable: null }]);
      await writeFile(file, floatWav(take(1), 8000)); // another take over the registered file
      for (const url of urls) {
        const res = await own.inject({ url });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(409);
        expect(res.json().message, url).toBe(`the file of recording ${id} (a.wav) has changed since it was registered: 64058 bytes then, 32058 now; its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (POST /v1/recordings/${id}/refresh)`);
      }
      // A scan says so, and what to do (it listed the file as registered, like any other); so does an import, which leaves it.
      const changed = {
        path: "a.wav", status: "registered", recording_id: id, recording_state: "active",
        changed: { reason: "size", message: `64058 bytes when registered, 32058 now: the content changed, and reads of the recording answer 409 until the registered file is put back or the new one is made its content (POST /v1/recordings/${id}/refresh)` },
        possibly_moved_to: [], unreadable: null,
      };
      expect(await scanned()).toEqual([changed]);
      const imported = (await own.inject({ method: "POST", url: `/v1/datasets/${datasetId}/import`, headers: auth(adminKey) })).json();
      expect([imported.registered, imported.changed]).toEqual([[], [changed]]);
      await writeFile(file, floatWav(take(2), 8000)); // the registered content back
      for (const url of urls) expect((await own.inject({ url })).statusCode, url).toBe(200);
      expect((await scanned())[0].changed).toBeNull();
    });
  });

  it("written in place while its stats pass reads it is a 409 that keeps no stats — the pass's maximum, of the other content, was stored under the registered hash and normalized its tiles once the file was put back", async () => {
    const take = (level: number) => new Float32Array(8000 * 2).fill(level);
    const store = tileStatsStore(t.db.sql);
    // The file is rewritten once the pass is claimed, before the worker reads it: another take of the same size.
    let writeDuringPass: (() => Promise<void>) | undefined;
    const claimThenWrite: StatsStore = {
      ...store,
      async claim(...args) {
        const won = await store.claim(...args);
        const write = writeDuringPass;
        writeDuringPass = undefined;
        await write?.();
        return won;
      },
    };
    const service = new TileService({ threads: 1, statsStore: claimThenWrite });
    await withOwnRecording("w.wav", take(0.25), 8000, async (own, id, file) => {
      writeDuringPass = () => writeFile(file, floatWav(take(0.5), 8000));
      const tile = `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&scale=power`; // normalized: its pass finds the maximum
      const during = await own.inject({ url: tile });
      expect(during.statusCode, during.body).toBe(409);
      expect(during.json().message).toMatch(new RegExp(`^recording ${id}: the file changed while it was read \\(64058 bytes modified \\S+ when its content was checked; 64058 bytes modified \\S+ after\\): what was read may mix two contents; nothing read from it was kept or sent whole — ask again once the file is no longer written`));
      expect((await own.inject({ url: `/v1/recordings/${id}/stats` })).json().items).toEqual([]);
      await writeFile(file, floatWav(take(0.25), 8000)); // the registered content back
      const res = await own.inject({ url: tile });
      expect(res.statusCode, res.body).toBe(200);
      const reference = new TileService({ threads: 1 }); // a fresh worker reading the registered content
      try {
        const hash = (await own.inject({ url: `/v1/recordings/${id}` })).json().hash;
        const fresh = await reference.tile({ id, path: file, hash, timeExpansion: 1, samplerate: 8000, frames: 16000, channels: 1 }, parseParams({ pcen: false, scale: "power" }), 0, 0, tileOptionsSchema.parse({}), "f32");
        expect(new Uint8Array(res.rawPayload)).toEqual(new Uint8Array(fresh.body));
      } finally {
        await reference.close();
      }
    }, service).finally(() => service.close());
  });

  /** The words of the 409 for recording `id` whose file changed while read, the single tile's: naming the recording and what to do. */
  const changedWhileRead = (id: string) => new RegExp(`^recording ${id}: the file changed while it was read \\(128058 bytes modified \\S+ when its content was checked; 128058 bytes modified \\S+ after\\): what was read may mix two contents; nothing read from it was kept or sent whole — ask again once the file is no longer written \\(its new content, if it is the recording's now: POST /v1/recordings/${id}/refresh\\)$`);
  const take = (level: number) => new Float32Array(8000 * 4).fill(level);

  it("written in place while a stream's first tile reads it is the stream's 409, the single tile's — it was a 200 of one error part", async () => {
    const service = new TileService({ threads: 1 });
    await withOwnRecording("s.wav", take(0.25), 8000, async (own, id, file) => {
      // Another take written over the file as the stream's first tile is given to the pool (after the header's frames were read).
      let rewrite: (() => Promise<void>) | undefined = () => writeFile(file, floatWav(take(0.5), 8000));
      const run = service.pool.run.bind(service.pool);
      service.pool.run = (async (task: { kind: string }, ...rest: unknown[]) => {
        const write = task.kind === "tile" ? rewrite : undefined;
        if (write) rewrite = undefined;
        await write?.();
        return (run as (...a: unknown[]) => Promise<unknown>)(task, ...rest);
      }) as typeof service.pool.run;
      const res = await own.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=4&width=128&pcen=false&normalize=false&format=f32` });
      expect([res.statusCode, res.headers["content-type"]]).toEqual([409, "application/json; charset=utf-8"]);
      expect(res.json().message).toMatch(changedWhileRead(id));
    }, service).finally(() => service.close());
  });

  it("written in place while a later tile of a stream reads it ends the stream with a part in the words of the single tile's 409, naming the recording and what to do — the part had the bare change", async () => {
    const service = new TileService({ threads: 1 });
    await withOwnRecording("later.wav", take(0.25), 8000, async (own, id, file) => {
      // Another take written over the file once the second tile is computed, before the third is given to the pool.
      let tileTasks = 0;
      let second: Promise<unknown> | undefined;
      const run = service.pool.run.bind(service.pool) as (...a: unknown[]) => Promise<unknown>;
      service.pool.run = (async (task: { kind: string }, ...rest: unknown[]) => {
        const n = task.kind === "tile" ? ++tileTasks : 0;
        if (n === 3) {
          await second!.catch(() => {});
          await writeFile(file, floatWav(take(0.5), 8000));
        }
        const running = run(task, ...rest);
        if (n === 2) second = running;
        return running;
      }) as typeof service.pool.run;
      const res = await own.inject({ url: `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=4&width=128&pcen=false&normalize=false&format=f32` });
      expect(res.statusCode).toBe(200);
      const boundary = /boundary=(\S+)/.exec(String(res.headers["content-type"]))![1];
      const parts = res.rawPayload.toString("latin1").split(`--${boundary}`).slice(1);
      expect(parts.map((p) => /X-Tile: (\S+)/.exec(p)?.[1] ?? p.trim())).toEqual(["0/0", "0/1", "0/2", "--"]);
      expect(parts[2]).toContain("Content-Type: application/json");
      expect(JSON.parse(Buffer.from(parts[2].slice(parts[2].indexOf("\r\n\r\n") + 4), "latin1").toString("utf8")).error).toMatch(changedWhileRead(id));
    }, service).finally(() => service.close());
  });

  it("touched while a tile is computed: a request made after the touch, whose check found the registered MD5 again, gets the tile — the computation it joined, started before, failed it with the 409", async () => {
    const service = new TileService({ threads: 1 });
    await withOwnRecording("touched.wav", new Float32Array(8000 * 2).fill(0.25), 8000, async (own, id, file) => {
      // The first tile computation waits, before the pool, until the second request has joined it.
      let entered!: () => void, release!: () => void, joined!: () => void;
      const started = new Promise<void>((resolve) => (entered = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const secondJoined = new Promise<void>((resolve) => (joined = resolve));
      let tileRuns = 0;
      const run = service.pool.run.bind(service.pool);
      service.pool.run = (async (task: { kind: string }, ...rest: unknown[]) => {
        if (task.kind === "tile" && tileRuns++ === 0) {
          entered();
          await released;
        }
        return (run as (...a: unknown[]) => Promise<unknown>)(task, ...rest);
      }) as typeof service.pool.run;
      const render = service.render.bind(service);
      let renders = 0;
      service.render = (plan, signal) => {
        const rendering = render(plan, signal); // joins a computation of the tile at once, if one runs
        if (++renders === 2) joined();
        return rendering;
      };
      const url = `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&normalize=false`;
      const first = own.inject({ url });
      await started;
      const later = new Date((await stat(file)).mtimeMs + 5000);
      await utimes(file, later, later); // touched: the same bytes, a new time
      const second = own.inject({ url });
      await secondJoined;
      release();
      const [before, after] = await Promise.all([first, second]);
      // The first read the file across the touch, which its check cannot tell from a rewrite put back (README).
      expect(before.statusCode).toBe(409);
      expect([after.statusCode, tileRuns], after.body.slice(0, 200)).toEqual([200, 2]);
      expect(after.headers["x-shape"]).toBe("101,161");
    }, service).finally(() => service.close());
  });

  it("touched while a tile is computed: a request checked before the touch, arriving once that computation failed, neither computes nor takes the place of the one a request checked after the touch waits for", async () => {
    const service = new TileService({ threads: 1 });
    await withOwnRecording("touched-late.wav", new Float32Array(8000 * 2).fill(0.25), 8000, async (own, id, file) => {
      // The first tile computation waits before the pool until released, and says when it failed;
      // the second (the fresh request's) says it has taken its place, then waits for that failure.
      // The fresh request takes its place after a check of the file (a stat): released before that
      // check was done (a loaded machine), the first computation failed first, and the stale
      // request, finding none running, started one of its own (3 tile runs).
      let entered!: () => void, release!: () => void, firstFailed!: () => void, freshPlaced!: () => void;
      const started = new Promise<void>((resolve) => (entered = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const failed = new Promise<void>((resolve) => (firstFailed = resolve));
      const placed = new Promise<void>((resolve) => (freshPlaced = resolve));
      let tileRuns = 0;
      const run = service.pool.run.bind(service.pool) as (...a: unknown[]) => Promise<unknown>;
      service.pool.run = (async (task: { kind: string }, ...rest: unknown[]) => {
        if (task.kind !== "tile") return run(task, ...rest);
        const n = ++tileRuns;
        if (n === 2) {
          freshPlaced();
          await failed;
        }
        if (n > 1) return run(task, ...rest);
        entered();
        await released;
        return run(task, ...rest).catch((err: unknown) => {
          firstFailed();
          throw err;
        });
      }) as typeof service.pool.run;
      // The second request (checked before the touch) renders only once the first computation failed.
      const render = service.render.bind(service);
      let renders = 0;
      let staleRendering!: () => void, freshRendering!: () => void;
      const staleHere = new Promise<void>((resolve) => (staleRendering = resolve));
      const freshHere = new Promise<void>((resolve) => (freshRendering = resolve));
      service.render = async (plan, signal) => {
        const n = ++renders;
        if (n === 2) {
          staleRendering();
          await failed;
          await new Promise((resolve) => setImmediate(resolve));
        }
        const rendering = render(plan, signal);
        if (n === 3) freshRendering();
        return rendering;
      };
      const url = `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&normalize=false`;
      const first = own.inject({ url });
      await started;
      const stale = own.inject({ url });
      await staleHere;
      const later = new Date((await stat(file)).mtimeMs + 5000);
      await utimes(file, later, later); // touched: the same bytes, a new time
      const fresh = own.inject({ url });
      await freshHere;
      await placed;
      release();
      const answers = await Promise.all([first, stale, fresh]);
      // The stale request had started a computation that had to fail, and the fresh one, retrying, joined it: 409.
      expect([...answers.map((r) => r.statusCode), tileRuns], answers[2].body.slice(0, 200)).toEqual([409, 409, 200, 2]);
      expect(answers[1].json().message).toMatch(/the file changed while it was read/);
    }, service).finally(() => service.close());
  });

  it("is made the new content by POST /v1/recordings/{id}/refresh, clips kept — a replaced file had left nothing to do but delete the recording", async () => {
    const take = (seconds: number, level: number) => new Float32Array(8000 * seconds).fill(level);
    // One thread: the one whose open reader of the old file must not serve the new content.
    const single = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql) });
    await withOwnRecording("c.wav", take(2, 0.25), 8000, async (own, id, file) => {
      const before = (await own.inject({ url: `/v1/recordings/${id}` })).json();
      await createClip(t.db.sql, { recording_id: id, start_time: 1.2, end_time: 1.8, created_by: null });
      const tile = `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&normalize=false&scale=power`;
      expect((await own.inject({ url: tile })).headers["x-shape"]).toBe("101,161"); // the worker now holds the file open
      await writeFile(file, floatWav(take(1, 0.5), 8000)); // re-exported: 1 s, louder, rewritten in place
      expect((await own.inject({ url: tile })).statusCode).toBe(409);
      expect((await own.inject({ method: "POST", url: `/v1/recordings/${id}/refresh` })).statusCode).toBe(401);
      const refreshed = await own.inject({ method: "POST", url: `/v1/recordings/${id}/refresh`, headers: auth(adminKey) });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      const { recording, clips_past_end } = refreshed.json();
      expect([recording.duration, recording.hash === before.hash, recording.revision === before.revision, clips_past_end]).toEqual([1, false, false, 1]);
      // Refreshed, the file is what a scan compares with: it no longer reports it changed.
      expect((await own.inject({ url: `/v1/datasets/${before.dataset_id}/scan` })).json().items.map((f: { changed: unknown }) => f.changed)).toEqual([null]);
      // The new content's values (a reader of the old file, kept open by the worker, failed with
      // "file ended early" at every request, or gave the old values under the new ETag).
      const res = await own.inject({ url: tile });
      expect([res.statusCode, res.headers["x-shape"]], res.body.slice(0, 200)).toEqual([200, "101,81"]); // 1 s in frames of 200 at a hop of 100 (2 s gave 161)
      const values = new Float32Array(res.rawPayload.buffer.slice(res.rawPayload.byteOffset, res.rawPayload.byteOffset + res.rawPayload.length));
      const reference = new TileService({ threads: 1 }); // a fresh worker reading the new file
      try {
        const fresh = await reference.tile({ id, path: file, hash: recording.hash, timeExpansion: 1, samplerate: 8000, frames: 8000, channels: 1 }, parseParams({ pcen: false, normalize: false, scale: "power" }), 0, 0, tileOptionsSchema.parse({}), "f32");
        expect(values).toEqual(new Float32Array(fresh.body.buffer.slice(fresh.body.byteOffset, fresh.body.byteOffset + fresh.body.byteLength)));
      } finally {
        await reference.close();
      }
      expect((await t.db.sql`SELECT count(*)::int AS n FROM clips WHERE recording_id = ${id}`)[0].n).toBe(1);
      await rm(file);
      const gone = await own.inject({ method: "POST", url: `/v1/recordings/${id}/refresh`, headers: auth(adminKey) });
      expect([gone.statusCode, gone.json().message]).toEqual([404, `the file of recording ${id}: file c.wav does not exist in the dataset's audio_dir`]);
      await writeFile(file, "not audio");
      const refused = await own.inject({ method: "POST", url: `/v1/recordings/${id}/refresh`, headers: auth(adminKey) });
      expect([refused.statusCode, refused.json().message], refused.body).toEqual([422, `the file of recording ${id} cannot be read as audio: c.wav: not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)`]);
      expect((await own.inject({ url: `/v1/recordings/${id}` })).json().hash).toBe(recording.hash);
    }, single).finally(() => single.close());
  });

  it("refused, says why with the status every route reading the file gives: now a directory 422, a link leading out of the dataset's audio_dir 422 (not 403, a token's refusal), gone 404 — all were 404 'missing'", async () => {
    const outside = await tempDir();
    onTestFinished(() => outside.remove());
    await withOwnRecording("gone/d.wav", new Float32Array(8000).fill(0.25), 8000, async (own, id, file) => {
      const answers = async () => {
        const urls = [`/v1/recordings/${id}/refresh`, `/v1/recordings/${id}/audio`, `/v1/recordings/${id}/tiles/0/0.f32?pcen=false`];
        return Promise.all(urls.map(async (url, i) => {
          const res = await own.inject({ method: i ? "GET" : "POST", url, headers: auth(adminKey) });
          return [res.statusCode, res.json().message];
        }));
      };
      const said = (status: number, why: string) => Array(3).fill([status, `the file of recording ${id}: ${why}`]);
      await rm(file);
      await mkdir(file);
      expect(await answers()).toEqual(said(422, "gone/d.wav is not a regular file"));
      await rm(file, { recursive: true });
      // The same bytes behind the link: only where it leads refuses it, and the answer names no path of the server's.
      await writeFile(join(outside.path, "d.wav"), floatWav(new Float32Array(8000).fill(0.25), 8000));
      await symlink(join(outside.path, "d.wav"), file);
      expect(await answers()).toEqual(said(422, "gone/d.wav resolves outside the dataset's audio_dir"));
      await rm(file);
      expect(await answers()).toEqual(said(404, "file gone/d.wav does not exist in the dataset's audio_dir"));
    });
  });

  it("refreshed from a file of a lower rate, counts the clips whose band now reaches above its Nyquist frequency (clips_above_nyquist), kept — a PATCH of theirs is refused until their bounds change", async () => {
    await withOwnRecording("rate.wav", new Float32Array(16000).fill(0.25), 16000, async (own, id, file) => {
      const band = (low_freq: number | null, high_freq: number | null) => createClip(t.db.sql, { recording_id: id, start_time: 0.1, end_time: 0.2, low_freq, high_freq, created_by: null });
      await band(1000, 3000); // within 4 kHz
      await band(null, 4000); // at it: a high bound may be the Nyquist frequency
      const [, , high] = [await band(3000, 5000), await band(4000, null), await band(5000, 7000)];
      await writeFile(file, floatWav(new Float32Array(8000).fill(0.25), 8000)); // re-encoded at 8 kHz: Nyquist 4 kHz
      const refreshed = await own.inject({ method: "POST", url: `/v1/recordings/${id}/refresh`, headers: auth(adminKey) });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      expect(refreshed.json()).toMatchObject({ recording: { samplerate: 8000 }, clips_past_end: 0, clips_above_nyquist: 3 });
      expect((await t.db.sql`SELECT count(*)::int AS n FROM clips WHERE recording_id = ${id}`)[0].n).toBe(5);
      const patch = (body: object) => own.inject({ method: "PATCH", url: `/v1/clips/${high.id}`, headers: auth(adminKey), payload: body });
      expect((await patch({ end_time: 0.3 })).json().message).toMatch(/high_freq/);
      expect((await patch({ low_freq: 1000, high_freq: 3000 })).statusCode).toBe(200);
    });
  });
});

describe("a recording whose file was moved and edited", () => {
  it("is pointed at it by PATCH path: its clips stay, its tiles are the new bytes' — an import registered the file as a new recording and left this one missing, and nothing could point it there", async () => {
    const take = (seconds: number, level: number) => new Float32Array(8000 * seconds).fill(level);
    await withOwnRecording("night/d.wav", take(2, 0.25), 8000, async (own, id, file) => {
      const root = dirname(dirname(file));
      const before = (await own.inject({ url: `/v1/recordings/${id}` })).json();
      const clip = await createClip(t.db.sql, { recording_id: id, start_time: 0.2, end_time: 0.6, created_by: null });
      const tile = `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&normalize=false&scale=power`;
      expect((await own.inject({ url: tile })).headers["x-shape"]).toBe("101,161");
      // Moved to another folder and re-exported shorter: other bytes, which no import follows by MD5.
      await mkdir(join(root, "site B"));
      await writeFile(join(root, "site B", "d edited.wav"), floatWav(take(1, 0.5), 8000));
      await rm(file);
      await writeFile(join(root, "notes.wav"), "not audio");
      await writeFile(join(root, "other.wav"), floatWav(take(1, 0.1), 8000));
      const other = (await insertRecording(t.db.sql, { dataset_id: before.dataset_id, path: "other.wav", ...(await probeFile(join(root, "other.wav"))), created_by: null }))!;
      const patch = (payload: object, query = "") => own.inject({ method: "PATCH", url: `/v1/recordings/${id}${query}`, payload, headers: auth(adminKey) });
      const refusal = async (payload: object, query = "") => {
        const res = await patch(payload, query);
        return [res.statusCode, res.json().message];
      };
      expect(await refusal({ path: "site B/none.wav" })).toEqual([400, "path: file site B/none.wav does not exist in the dataset's audio_dir"]);
      expect(await refusal({ path: "../d.wav" })).toEqual([400, "path: must not contain '..'"]);
      expect(await refusal({ path: "./" })).toEqual([400, `path: "." is the dataset's audio_dir itself, not a file in it`]); // was '. resolves outside the dataset's audio_dir'
      expect(await refusal({ path: "notes.wav" })).toEqual([400, "path: notes.wav: not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)"]);
      expect(await refusal({ path: "other.wav" })).toEqual([409, `path "other.wav" is recording ${other.id}'s: a file is registered once; delete that recording first to give its file to this one`]);
      // With a field refused in the same PATCH (a time expansion under which the clip would end past the new
      // file's 1 s, the clip keeping its times), nothing changes: the path was applied on its own before, and stayed moved.
      expect(await refusal({ path: "site B/d edited.wav", time_expansion: 4 }, "?clips=keep")).toEqual([409, expect.stringMatching(/^path "site B\/d edited\.wav" with time_expansion 4 would make recording \S+ 0\.25 s long, and 1 of its clips would end past that/)]);
      // A file that does not hold the recording's clips (0.2–0.6 s in a 0.5 s take) is refused as that time expansion is: the clip kept silently past the end before.
      await writeFile(join(root, "site B", "short.wav"), floatWav(take(0.5, 0.5), 8000));
      expect(await refusal({ path: "site B/short.wav" })).toEqual([409, `path "site B/short.wav" would make recording ${id} 0.5 s long, and 1 of its clips would end past that (first: clip ${clip.id}, 0.2–0.6 s); move or delete it first`]);
      await rm(join(root, "site B", "short.wav"));
      expect((await own.inject({ url: `/v1/recordings/${id}` })).json()).toMatchObject({ path: "night/d.wav", hash: before.hash, time_expansion: 1 }); // refused, nothing changed
      // It was a 400: "path: is not a known field".
      const moved = await patch({ path: "site B//d edited.wav", rights: "CC BY 4.0" });
      expect(moved.statusCode, moved.body).toBe(200);
      const recording = moved.json();
      expect(recording).toMatchObject({ path: "site B/d edited.wav", duration: 1, frames: 8000, rights: "CC BY 4.0" });
      expect([recording.hash === before.hash, recording.revision === before.revision]).toEqual([false, false]);
      expect(recording.hash).toBe(createHash("md5").update(await readFile(join(root, "site B", "d edited.wav"))).digest("hex"));
      // The new bytes' tile (1 s: 81 frames; the old file's 2 s gave 161), the clip kept.
      const res = await own.inject({ url: tile });
      expect([res.statusCode, res.headers["x-shape"]], res.body.slice(0, 200)).toEqual([200, "101,81"]);
      expect((await t.db.sql`SELECT count(*)::int AS n FROM clips WHERE recording_id = ${id}`)[0].n).toBe(1);
      const scan = (await own.inject({ url: `/v1/datasets/${before.dataset_id}/scan` })).json();
      expect(scan.items.map((f: { path: string; status: string }) => [f.path, f.status])).toEqual([["notes.wav", "unregistered"], ["other.wav", "registered"], ["site B/d edited.wav", "registered"]]);
    });
  });
});

describe("a recording whose file was rewritten in place with the same size", () => {
  it("is a 409 naming both MD5s; the registered bytes back, or only a new mtime, serve again and record the new time", async () => {
    const take = (level: number) => new Float32Array(8000).fill(level);
    await withOwnRecording("b.wav", take(0.25), 8000, async (own, id, file) => {
      const urls = [`/v1/recordings/${id}/tiles/0/0.f32?pcen=false`, `/v1/recordings/${id}/audio`];
      const registered = (await own.inject({ url: `/v1/recordings/${id}` })).json().hash;
      // Later times than the registration's, set explicitly: a file system stamps times at its clock's granularity.
      let mtime = (await stat(file)).mtimeMs;
      const rewrite = async (level: number | null) => {
        if (level !== null) await writeFile(file, floatWav(take(level), 8000));
        await utimes(file, new Date(), new Date(mtime + 1000));
        mtime = (await stat(file)).mtimeMs;
      };
      const registeredMtime = mtime;
      await rewrite(0.5); // another take, the same length
      const other = createHash("md5").update(await readFile(file)).digest("hex");
      // A scan reads no file: the same size at another time may be other content, and it says so.
      const datasetId = (await own.inject({ url: `/v1/recordings/${id}` })).json().dataset_id;
      const scanned = async () => (await own.inject({ url: `/v1/datasets/${datasetId}/scan` })).json().items[0].changed;
      const iso = (ms: number) => new Date(ms).toISOString();
      expect(await scanned()).toEqual({
        reason: "modified",
        message: `the same size, but modified since it was registered (at ${iso(registeredMtime)}, now ${iso(mtime)}): the content may have changed — the next read of the recording hashes the file and answers 409 if it did; POST /v1/recordings/${id}/refresh makes the file as it is the recording's content`,
      });
      for (const url of urls) {
        const res = await own.inject({ url });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(409);
        expect(res.json().message, url).toBe(`the file of recording ${id} (b.wav) has changed since it was registered: the same size, but modified (MD5 ${registered} then, ${other} now); its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (POST /v1/recordings/${id}/refresh)`);
      }
      const storedTime = async () => (await t.db.sql`SELECT file_mtime FROM recordings WHERE id = ${id}`)[0].file_mtime;
      await rewrite(0.25); // the registered content back, at a new time
      expect((await scanned()).reason).toBe("modified");
      for (const url of urls) expect((await own.inject({ url })).statusCode, url).toBe(200);
      expect(await storedTime()).toBe(mtime);
      expect(await scanned()).toBeNull(); // a read found the bytes registered and recorded their time
      await rewrite(null); // touched
      expect((await own.inject({ url: urls[0] })).statusCode).toBe(200);
      expect(await storedTime()).toBe(mtime);
      // A row from before the column (migration 006) takes the file's time at its first read.
      await t.db.sql`UPDATE recordings SET file_mtime = NULL WHERE id = ${id}`;
      expect((await own.inject({ url: urls[0] })).statusCode).toBe(200);
      expect(await storedTime()).toBe(mtime);
    });
  });
});

describe("geometry headers", () => {
  it("give the band's edges as k·rate/n and the bins per row without float noise or padding", async () => {
    // 0.1 s at 500 kHz; window_size 0.0007 s → n = 350, bins 0 … 175, the last at 175·500000/350 = 250000 Hz.
    const samples = Float32Array.from({ length: 50_000 }, (_, i) => Math.sin(i / 7));
    await withOwnRecording("bat.wav", samples, 500_000, async (own, id) => {
      const headers = async (query: string) => (await own.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?window_size=0.0007&pcen=false&width=128${query}` })).headers;
      const all = await headers("");
      expect([all["x-frequency-range"], all["x-bins-per-row"], all["x-shape"]]).toEqual(["0,250000", "1", "176,128"]);
      const merged = await headers("&height=44"); // 176 bins into 44 rows: 4 per row
      expect([merged["x-frequency-range"], merged["x-bins-per-row"], merged["x-shape"]]).toEqual(["0,250000", "4", "44,128"]);
      expect((await headers("&height=64"))["x-bins-per-row"]).toBe("2.75");
    });
  });
});
