/**
 * Answers waiting for slow clients hold a bounded share of the server's memory (SPEC §9,
 * src/api/unsent-bytes.ts): clients that ask for large tiles and never read keep them only up to
 * the server-wide limit (and lose their connection once they have taken nothing for a while); past it, a new answer is a 503 with Retry-After saying why, one tile read
 * by several clients counts once, and the bytes are let go when the clients leave. A tile or image
 * the limit refuses is refused before it is computed; playback and the streamed tile range count
 * what each answer holds.
 */
import { EventEmitter } from "node:events";
import { writeFile } from "node:fs/promises";
import { connect, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { createDataset, importDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording, listRecordings } from "../src/store/recordings.js";
import { ensureAdmin } from "../src/store/users.js";
import { TileService } from "../src/tiles/service.js";
import { UnsentBytes } from "../src/api/unsent-bytes.js";
import { palettePngBound } from "../src/render/png.js";
import { FIXTURES, freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

const FILE = "whombat_tests_bats.wav"; // 44.1 kHz stereo, 22.5 s
/** 16384-point FFTs 1024 columns wide: 8193 rows × 1024 columns of float32, far more than loopback's socket buffers take. */
const TILE_BYTES = 8193 * 1024 * 4;
/** Room for two such tiles, not three. */
const LIMIT = 2.5 * TILE_BYTES;
let t: TestDatabase;
let app: App;
let tiles: TileService;
let id: string;
let port: number;

beforeAll(async () => {
  t = await freshDatabase();
  const admin = await ensureAdmin(t.db.sql);
  const [recordingsDir] = await resolveRoots([join(FIXTURES, "recordings")]);
  const dataset = await createDataset(t.db.sql, { name: "fixtures", audio_dir: recordingsDir, created_by: admin!.user.id });
  await importDataset(t.db.sql, dataset.id, admin!.user.id);
  const page = await listRecordings(t.db.sql, { dataset_id: dataset.id, limit: 100, offset: 0, sort: "path", order: "asc", state: "active" } as never);
  id = page.items.find((r) => r.path === FILE)!.id;
  tiles = new TileService({ threads: 2, statsStore: tileStatsStore(t.db.sql) });
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, maxUnsentBytes: LIMIT });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app?.close();
  await tiles?.close();
  await t?.cleanup();
});

/** Tile 0 of the recording as f32, one of distinct bytes for each `maxDb`. */
const tileUrl = (maxDb: number) => `/v1/recordings/${id}/tiles/0/0.f32?window_size=${16384 / 44100}&hop_size=${880 / 16384}&width=1024&pcen=false&max_dB=${maxDb}`;

/** A client of the server on `at` that asks for `url` and stops reading after the first bytes: its answer's head, and the socket. */
async function pausedReader(url: string, at = port): Promise<{ head: string; socket: Socket }> {
  const socket = connect(at, "127.0.0.1");
  socket.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  const head = await new Promise<string>((resolve) => socket.once("data", (chunk: Buffer) => {
    socket.pause();
    resolve(chunk.toString("latin1").split("\r\n\r\n")[0]);
  }));
  return { head, socket };
}

it("paused clients of large tiles hold at most the server's limit: the next distinct tile is a 503 with Retry-After naming it, refused before it is computed, a tile shared by two readers counts once, and the bytes are let go when the clients leave", async () => {
  const first = await pausedReader(tileUrl(-1));
  expect(first.head).toMatch(/^HTTP\/1\.1 200 /);
  expect(first.head).toMatch(new RegExp(`\\r\\ncontent-length: ${TILE_BYTES}\\r\\n`, "i"));
  expect(app.unsentBytes.bytes).toBe(TILE_BYTES);
  // The same tile again: the cache's bytes, which the first answer holds already.
  const again = await pausedReader(tileUrl(-1));
  expect(again.head).toMatch(/^HTTP\/1\.1 200 /);
  expect(app.unsentBytes.bytes).toBe(TILE_BYTES);
  const second = await pausedReader(tileUrl(-2));
  expect(second.head).toMatch(/^HTTP\/1\.1 200 /);
  expect(app.unsentBytes.bytes).toBe(2 * TILE_BYTES);

  // Refused before it is computed: its size is known from its geometry (it was computed in full, then refused).
  const computed = tiles.computed;
  const refused = await app.inject({ url: tileUrl(-3) });
  expect(refused.statusCode).toBe(503);
  expect(refused.headers["retry-after"]).toBe("5");
  expect(refused.json().message).toBe("answers still being sent to slower clients hold 64.0 MiB, and this one's 32.0 MiB would take them past the server's limit of 80.0 MiB; retry in a few seconds, or ask for a smaller answer (png, fewer rows with height, fmin or fmax, a narrower tile or interval)");
  // The one-shot image sends the same way.
  const imageUrl = `/v1/recordings/${id}/spectrogram?start_time=0&end_time=20&format=f32&window_size=${16384 / 44100}&hop_size=${880 / 16384}&pcen=false&max_dB=-3`;
  const image = await app.inject({ url: imageUrl });
  expect(image.statusCode).toBe(503);
  expect(tiles.computed).toBe(computed);
  expect(app.unsentBytes.bytes).toBe(2 * TILE_BYTES);
  // What the refusal says to do, the route takes: fewer rows (1003 frames × 256 rows, 1 MiB) fit.
  expect(image.json().message).toMatch(/ask for a smaller answer \(png, fewer rows with height, fmin or fmax, /);
  const fewerRows = await app.inject({ url: `${imageUrl}&height=256` });
  expect([fewerRows.statusCode, fewerRows.headers["x-shape"]]).toEqual([200, "256,1003"]);
  const band = await app.inject({ url: `${imageUrl}&fmin=20000&fmax=22050` });
  expect([band.statusCode, band.headers["x-frequency-range"]]).toEqual([200, "20001.654052734375,22050"]);
  expect(app.unsentBytes.bytes).toBe(2 * TILE_BYTES);

  const gone = [first, again, second].map(({ socket }) => new Promise((resolve) => socket.once("close", resolve)));
  for (const { socket } of [first, again, second]) socket.destroy();
  await Promise.all(gone);
  while (app.unsentBytes.bytes > 0) await new Promise((r) => setTimeout(r, 10));
  const served = await app.inject({ url: tileUrl(-3) });
  expect(served.statusCode).toBe(200);
  expect(served.rawPayload.byteLength).toBe(TILE_BYTES);
  expect(app.unsentBytes.bytes).toBe(0);
}, 60_000);

it("a PNG is refused by its real size, not its bound: one whose bound passes the room left but whose bytes fit is served (a spectrogram compresses 1.4–4×, and PNG is what a refused client is told to ask for)", async () => {
  const held = [await pausedReader(tileUrl(-11)), await pausedReader(tileUrl(-12))];
  try {
    expect(app.unsentBytes.bytes).toBe(2 * TILE_BYTES); // 16 MiB left
    // 16385 rows × 1024 columns: its palette PNG's bound is past 16 MiB, its deflated bytes far below.
    const png = await app.inject({ url: `/v1/recordings/${id}/tiles/0/0.png?window_size=${32768 / 44100}&hop_size=${880 / 32768}&width=1024&pcen=false` });
    expect(palettePngBound(1024, 16385)).toBeGreaterThan(LIMIT - 2 * TILE_BYTES);
    expect(png.statusCode).toBe(200);
    expect(png.rawPayload.byteLength).toBeLessThan(LIMIT - 2 * TILE_BYTES);
  } finally {
    const gone = held.map(({ socket }) => new Promise((resolve) => socket.once("close", resolve)));
    for (const { socket } of held) socket.destroy();
    await Promise.all(gone);
    while (app.unsentBytes.bytes > 0) await new Promise((r) => setTimeout(r, 10));
  }
}, 60_000);

it("a client that takes nothing of its answer for the stall limit loses its connection, and the bytes it held are let go: clients that never read do not hold the limit for as long as they stay", async () => {
  const stalling = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, maxUnsentBytes: LIMIT, stalledSendMs: 1000 });
  try {
    await stalling.listen({ host: "127.0.0.1", port: 0 });
    const at = (stalling.server.address() as AddressInfo).port;
    const readers = [await pausedReader(tileUrl(-4), at), await pausedReader(tileUrl(-5), at)];
    expect(readers.map((r) => r.head.split("\r\n")[0])).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(stalling.unsentBytes.bytes).toBeGreaterThan(0);
    // Waits for the server to close the stalled connections (it never did: the bytes stayed held).
    for (let waited = 0; waited < 10_000 && stalling.unsentBytes.bytes > 0; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(stalling.unsentBytes.bytes).toBe(0);
    expect((await stalling.inject({ url: tileUrl(-6) })).statusCode).toBe(200);
    for (const { socket } of readers) socket.destroy();
  } finally {
    await stalling.close();
  }
}, 60_000);

it("playback answers count what they hold against the same limit — paused clients of 16-channel audio held some 35 MiB each, uncounted — and the next past it is a 503 with Retry-After; the bytes go with the clients", async () => {
  const RATE = 48_000, CHANNELS = 16, FRAMES = 2 ** 19; // a 32 MiB answer of float32, more than loopback's socket buffers take
  const dir = await tempDir();
  const playing = { app: undefined as App | undefined, readers: [] as { socket: Socket }[] };
  try {
    const [root] = await resolveRoots([dir.path]);
    const file = join(root, "sixteen.wav");
    await writeFile(file, encodeWav16(Float32Array.from({ length: FRAMES * CHANNELS }, (_, i) => 0.25 * Math.sin(i / 100)), RATE, CHANNELS));
    const dataset = await createDataset(t.db.sql, { name: "sixteen", audio_dir: root, created_by: null });
    const recording = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: "sixteen.wav", ...(await probeFile(file)), created_by: null }))!;
    /** What one answer of over 3 · 2^18 samples holds at most: three pieces of 2^18 float32 samples, and the file's bytes read for one, 2 a sample (16-bit). */
    const HELD = 3 * 4 * 2 ** 18 + 2 * 2 ** 18;
    const app = (playing.app = await buildApp({ database: t.db, audioRoots: [root], maxUnsentBytes: 2.5 * HELD }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    const at = (app.server.address() as AddressInfo).port;
    const url = `/v1/recordings/${recording.id}/playback?start_time=0&end_time=${FRAMES / RATE}`;
    const readers = (playing.readers = [await pausedReader(url, at), await pausedReader(url, at)]);
    expect(readers.map((r) => r.head.split("\r\n")[0])).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(app.unsentBytes.bytes).toBe(2 * HELD);
    const refused = await app.inject({ url });
    expect([refused.statusCode, refused.headers["retry-after"]]).toEqual([503, "5"]);
    expect(refused.json().message).toBe("answers still being sent to slower clients hold 7.0 MiB, and this one's 3.5 MiB would take them past the server's limit of 8.8 MiB; retry in a few seconds");

    const gone = readers.map(({ socket }) => new Promise((resolve) => socket.once("close", resolve)));
    for (const { socket } of readers) socket.destroy();
    await Promise.all(gone);
    while (app.unsentBytes.bytes > 0) await new Promise((r) => setTimeout(r, 10));
    const served = await app.inject({ url });
    expect(served.statusCode).toBe(200);
    expect(served.headers["x-frame-range"]).toBe(`0,${FRAMES}`);
    expect(app.unsentBytes.bytes).toBe(0);
  } finally {
    for (const { socket } of playing.readers) socket.destroy();
    await playing.app?.close();
    await dir.remove();
  }
}, 60_000);

/** A stream of the recording's three f32 tiles 512 columns wide (8193 rows; the last 103 columns), of distinct bytes for each `maxDb`. */
const streamUrl = (maxDb: number) => `/v1/recordings/${id}/tiles/0/stream?start_time=0&end_time=22.6&format=f32&window_size=${16384 / 44100}&hop_size=${880 / 16384}&width=512&pcen=false&max_dB=${maxDb}`;
/** What such a stream holds at most: its three tiles (fewer than the five it could: three computed ahead, as many as the limit leaves room for, the one in the body and the one in the socket), each counted at the widest's size. */
const STREAM_BYTES = 3 * 8193 * 512 * 4;

it("a paused client of a stream of large tiles counts what the stream holds, and a stream past the limit is a 503 with Retry-After before any tile is computed; the bytes go with the client", async () => {
  // Uncounted, 40 paused clients of streams of 9 MB f32 tiles added 2.1 GB to the server, six tiles each.
  const paused = await pausedReader(streamUrl(-1));
  expect(paused.head).toMatch(/^HTTP\/1\.1 200 /);
  expect(app.unsentBytes.bytes).toBe(STREAM_BYTES);
  const computed = tiles.computed;
  const refused = await app.inject({ url: streamUrl(-2) });
  expect([refused.statusCode, refused.headers["retry-after"], refused.headers["x-tile-range"]]).toEqual([503, "5", undefined]); // it named the tiles it refused
  expect(refused.json().message).toBe("answers still being sent to slower clients hold 48.0 MiB, and this one's 48.0 MiB would take them past the server's limit of 80.0 MiB; retry in a few seconds, or ask for a smaller answer (png, fewer rows with height, fmin or fmax, a narrower tile or interval)");
  expect(tiles.computed).toBe(computed);

  const gone = new Promise((resolve) => paused.socket.once("close", resolve));
  paused.socket.destroy();
  await gone;
  while (app.unsentBytes.bytes > 0) await new Promise((r) => setTimeout(r, 10));
  const served = await app.inject({ url: streamUrl(-2) });
  expect([served.statusCode, served.headers["x-tile-range"]]).toEqual([200, "0/0-2"]);
  expect([...served.body.matchAll(/X-Tile: 0\/(\d+)/g)].map((m) => Number(m[1]))).toEqual([0, 1, 2]);
  expect(app.unsentBytes.bytes).toBe(0);
}, 60_000);

it("a stream whose client takes nothing for the stall limit loses its connection, and lets its bytes go; one whose tiles take longer than that to compute keeps it", async () => {
  const stalling = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), tiles, maxUnsentBytes: LIMIT, stalledSendMs: 1000 });
  const run = tiles.pool.run.bind(tiles.pool);
  try {
    await stalling.listen({ host: "127.0.0.1", port: 0 });
    const at = (stalling.server.address() as AddressInfo).port;
    const paused = await pausedReader(streamUrl(-7), at);
    expect(paused.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(stalling.unsentBytes.bytes).toBe(STREAM_BYTES);
    // Waits for the server to close the stalled connection (it never did: the stream held its tiles for as long as the client stayed).
    for (let waited = 0; waited < 10_000 && stalling.unsentBytes.bytes > 0; waited += 20) await new Promise((r) => setTimeout(r, 20));
    paused.socket.destroy();
    expect(stalling.unsentBytes.bytes).toBe(0);

    // Tiles that each take longer than the stall limit to come: the client has taken everything
    // there was, and waits for the server — its connection stays, and it gets every tile.
    tiles.pool.run = async (task, signal, timeoutMs) => {
      if (task.kind === "tile") await new Promise((r) => setTimeout(r, 1500));
      return run(task, signal, timeoutMs);
    };
    const slow = await fetch(`http://127.0.0.1:${at}${streamUrl(-8)}`);
    expect(slow.status).toBe(200);
    const body = Buffer.from(await slow.arrayBuffer()).toString("latin1");
    expect([...body.matchAll(/X-Tile: 0\/(\d+)/g)].map((m) => Number(m[1]))).toEqual([0, 1, 2]);
  } finally {
    tiles.pool.run = run;
    await stalling.close();
  }
}, 60_000);

/** A response as UnsentBytes sees it, and its close; `alreadyClosed`: one whose client left before it was counted. */
function answer(alreadyClosed = false) {
  const events = new EventEmitter();
  let closed = alreadyClosed;
  return {
    response: { once: events.once.bind(events), setTimeout: () => {}, destroy: () => {}, get closed() { return closed; } } as never,
    close: () => { closed = true; events.emit("close"); },
  };
}

it("counts bodies that are views of one ArrayBuffer as the bytes each is — Node cuts small Buffers out of shared slabs — and lets each go as its answer closes", () => {
  const unsent = new UnsentBytes(1 << 20, 60_000);
  const slab = new ArrayBuffer(8192);
  const [a, b] = [answer(), answer()];
  unsent.hold(a.response, new Uint8Array(slab, 0, 1000));
  unsent.hold(b.response, new Uint8Array(slab, 1000, 3000));
  expect(unsent.bytes).toBe(4000);
  a.close();
  expect(unsent.bytes).toBe(3000);
  b.close();
  expect(unsent.bytes).toBe(0);
});

it("lets go at once what an answer whose response has already closed would hold — its client left while the answer was planned or decoded, or the deadline answered it: no close comes any more, and the count kept it for good", () => {
  const unsent = new UnsentBytes(1 << 20, 60_000);
  unsent.reserve(answer(true).response, 5 << 10);
  unsent.hold(answer(true).response, new Uint8Array(4000));
  expect(unsent.bytes).toBe(0);
  const open = answer();
  unsent.reserve(open.response, 5 << 10);
  expect(unsent.bytes).toBe(5 << 10);
  open.close();
  expect(unsent.bytes).toBe(0);
});
