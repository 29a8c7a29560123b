/**
 * Tiles (SPEC §4): side by side they equal the whole recording's spectrogram computed in one
 * pass (1e-3 dB; 0.05 dB with PCEN) for every kind of parameter set; zoomed-out tiles are the
 * max-pooling of zoom 0; the band and height options merge bins by maximum; identical
 * requests are computed once; a crashed worker fails only its own task.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { once } from "node:events";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import UPNG from "upng-js";
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { AudioFormatError, FileChangedError, fileMd5, openAudio } from "../src/audio/index.js";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import type { AudioReader } from "../src/audio/types.js";
import { CHECKPOINT_SPACING, needsRecordingStats, OVERVIEW_FACTOR, overviewPooledRange, packStats, RecordingSpectrogram, spectrogramOfRecording, statsForPiece, statsForRange, unpackStats, type PackedStats } from "../src/engine/recording.js";
import { tileValues, ValuesScratch } from "../src/tiles/compute.js";
import { colorIndices, colormapPalette } from "../src/render/colormap.js";
import { parseParams, ParamsError, type Params, type ParamsInput } from "../src/engine/params.js";
import { blockFrames, spectrogram, type Spectrogram } from "../src/engine/spectrogram.js";
import { tileCount, tileLayout, tileOptionsSchema } from "../src/tiles/grid.js";
import { fromTaskFailure, toTaskFailure } from "../src/tiles/failure.js";
import { SampleValuesError } from "../src/engine/analysis.js";
import { checkpointBlocks, POOL_CLIENT, PoolBusyError, rangeBlocks, TaskTimeoutError, TilePool, WORKER_EXEC_ARGV, WORKER_URL, type PoolOptions } from "../src/tiles/pool.js";
import { frameCount, frameGeometry, framesInInterval } from "../src/engine/geometry.js";
import { FIXTURES, bytesToF32, firstDifference } from "./golden.js";
import { samplesReader } from "../src/audio/samples-reader.js";
import { TaskClients } from "../src/tiles/fair-queue.js";
import { ByteCache } from "../src/audio/byte-cache.js";
import { StatsPendingError, TileService, type StatsStore, type TileBody, type TileRecording } from "../src/tiles/service.js";
import { FAULT_WORKER_URL, faultTask } from "./fault-tasks.js";
import { flacFrameOffsets, flacOfFrames } from "./audio-helpers.js";

const RATE = 22050;
/** The hop_size (a fraction of a 1 s window at RATE) whose hop is `samples` samples: the middle of the fractions that give it. */
const hopOf = (samples: number) => (samples - 0.5) / RATE;
const SECONDS = 24;
const dir = mkdtempSync(join(tmpdir(), "sonotile-tiles-"));

/** Calls sweeping down every 0.5 s over a tone and low noise (deterministic). */
function recordingSamples(): Float32Array {
  const x = new Float32Array(RATE * SECONDS);
  let seed = 12345;
  for (let i = 0; i < x.length; i++) {
    const t = i / RATE;
    const phase = t % 0.5;
    const call = phase < 0.02 ? Math.sin(2 * Math.PI * (9000 - 150000 * phase) * phase) * Math.sin((Math.PI * phase) / 0.02) : 0;
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    x[i] = 0.6 * call + 0.05 * Math.sin(2 * Math.PI * 1200 * t) + 0.002 * (seed / 2 ** 31 - 0.5);
  }
  return x;
}

const samples = recordingSamples();
const path = join(dir, "calls.wav");
let service: TileService;
let recording: TileRecording;

beforeAll(() => {
  const header = floatWavHeader(samples.length, 1, RATE);
  writeFileSync(path, Buffer.concat([header, new Uint8Array(samples.buffer)]));
  recording = { id: "00000000-0000-0000-0000-000000000001", path, hash: "0123456789abcdef0123456789abcdef", timeExpansion: 1, samplerate: RATE, frames: samples.length, channels: 1 };
  service = new TileService({ threads: 2 });
});

afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

/** All zoom-z tiles of `width` frames (from `from`, by default the default service), joined into one [rows][columns] matrix. */
async function joinedTiles(params: ParamsInput, z: number, width: number, extra: object = {}, from = service) {
  const p = parseParams(params);
  const options = tileOptionsSchema.parse({ width, ...extra });
  const { stats } = await from.stats(recording, p);
  const count = tileCount(stats.frames, z, width);
  const tiles = await Promise.all(Array.from({ length: count }, (_, x) => from.tile(recording, p, z, x, options, "f32")));
  const [rows] = tiles[0].headers["x-shape"].split(",").map(Number);
  const columns = tiles.reduce((n, t) => n + Number(t.headers["x-shape"].split(",")[1]), 0);
  const out = new Float32Array(rows * columns);
  let column = 0;
  for (const t of tiles) {
    const w = Number(t.headers["x-shape"].split(",")[1]);
    const v = bytesToF32(t.body);
    for (let r = 0; r < rows; r++) out.set(v.subarray(r * w, (r + 1) * w), r * columns + column);
    column += w;
  }
  return { rows, columns, data: out, tiles: count };
}

/** Counts the stats passes `service` runs from now on (its pool's stats tasks): read with the function returned. */
function countPasses(service: TileService): () => number {
  let passes = 0;
  const run = service.pool.stats.bind(service.pool);
  service.pool.stats = (task, signal, clients) => {
    passes++;
    return run(task, signal, clients);
  };
  return () => passes;
}

/**
 * Pixels of a PNG tile whose colour is not its f32 twin's value's in `palette` (row 0 of the values
 * is the lowest frequency, the image's bottom row); the image must have the f32's shape.
 */
function pngPixelsWrong(f32: TileBody, png: TileBody, palette: Uint8Array): number {
  const [rows, columns] = f32.headers["x-shape"].split(",").map(Number);
  const [lo, hi] = f32.headers["x-value-range"].split(",").map(Number);
  const indices = colorIndices(bytesToF32(f32.body), lo, hi);
  const image = UPNG.decode(png.body.buffer.slice(png.body.byteOffset, png.body.byteOffset + png.body.byteLength) as ArrayBuffer);
  expect([image.width, image.height]).toEqual([columns, rows]);
  const rgba = new Uint8Array(UPNG.toRGBA8(image)[0]);
  let wrong = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const k = indices[(rows - 1 - r) * columns + c], at = 4 * (r * columns + c);
      if (rgba[at] !== palette[3 * k] || rgba[at + 1] !== palette[3 * k + 1] || rgba[at + 2] !== palette[3 * k + 2]) wrong++;
    }
  }
  return wrong;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Max-pooling of a whole spectrogram, as SPEC §4 defines zoomed-out tiles. */
function pooled(s: Spectrogram, factor: number, binEdges: number[]): Float32Array {
  const columns = Math.ceil(s.frames / factor);
  const rows = binEdges.length - 1;
  const out = new Float32Array(rows * columns).fill(-Infinity);
  for (let r = 0; r < rows; r++)
    for (let k = binEdges[r]; k < binEdges[r + 1]; k++)
      for (let f = 0; f < s.frames; f++) {
        const i = r * columns + Math.floor(f / factor);
        out[i] = Math.max(out[i], s.data[k * s.frames + f]);
      }
  return out;
}

describe("seamless: tiles side by side equal one pass over the whole recording", () => {
  const sets: [string, ParamsInput, number][] = [
    ["defaults (PCEN, dB, normalized)", { window_size: 0.005 }, 0.05],
    ["no PCEN", { window_size: 0.005, pcen: false }, 1e-3],
    ["power, not normalized", { window_size: 0.005, pcen: false, scale: "power", normalize: false }, 1e-3],
    ["amplitude with PCEN", { window_size: 0.008, hop_size: 0.25, scale: "amplitude" }, 0.05],
    ["clamped dB, kaiser", { window_size: 0.004, pcen: false, clamp: true, min_dB: -70, window: "kaiser", kaiser_beta: 6 }, 1e-3],
    ["band filter", { window_size: 0.005, pcen: false, low_freq: 2000, high_freq: 8000, filter_order: 4 }, 1e-3],
    ["band filter with PCEN", { window_size: 0.005, low_freq: 500 }, 0.05],
    ["resampled", { window_size: 0.005, pcen: false, resample: true, samplerate: 16000 }, 1e-3],
    ["dB, neither PCEN nor normalized (no stats pass)", { window_size: 0.005, pcen: false, normalize: false }, 1e-3],
    ["dB, neither PCEN nor normalized, resampled and band-filtered (no stats pass)", { window_size: 0.005, pcen: false, normalize: false, resample: true, samplerate: 16000, low_freq: 1500, high_freq: 7000 }, 1e-3],
  ];
  for (const [name, params, tolerance] of sets) {
    it(name, async () => {
      const whole = spectrogram(samples, RATE, params);
      const joined = await joinedTiles(params, 0, 256);
      expect(joined.tiles).toBeGreaterThan(8);
      expect([joined.rows, joined.columns]).toEqual([whole.bins, whole.frames]);
      const scale = whole.params.scale;
      if (scale === "dB") {
        expect(maxAbsDiff(joined.data, whole.data)).toBeLessThanOrEqual(tolerance);
      } else {
        // Compare in dB where the values are within 60 dB of the peak.
        const db = (v: number) => (scale === "power" ? 10 : 20) * Math.log10(Math.max(v, 1e-30));
        const peak = db(whole.data.reduce((m, v) => Math.max(m, v), 0));
        let worst = 0;
        for (let i = 0; i < whole.data.length; i++) if (db(whole.data[i]) > peak - 60) worst = Math.max(worst, Math.abs(db(joined.data[i]) - db(whole.data[i])));
        expect(worst).toBeLessThanOrEqual(tolerance);
      }
    });
  }
});

describe("parameters that need no whole-recording statistic", () => {
  /** A service of its own (no stats known) whose stats passes are counted. */
  function countingService(): { fresh: TileService; passes: () => number } {
    const fresh = new TileService({ threads: 2 });
    onTestFinished(() => fresh.close());
    return { fresh, passes: countPasses(fresh) };
  }

  it("are dB without PCEN or normalization: anything else reads the maximum or the PCEN state", () => {
    const needs = (input: ParamsInput) => needsRecordingStats(parseParams(input));
    expect(needs({ pcen: false, normalize: false })).toBe(false);
    expect(needs({ pcen: false, normalize: false, clamp: true, resample: true, samplerate: 16000, low_freq: 100, window: "kaiser" })).toBe(false);
    expect([needs({}), needs({ normalize: false }), needs({ pcen: false }), needs({ pcen: false, normalize: false, scale: "power" }), needs({ pcen: false, normalize: false, scale: "amplitude" })]).toEqual([true, true, true, true, true]);
  });

  it("a tile of them is computed at once, without a stats pass, and has the bytes it has with the recording's stats", async () => {
    const { fresh, passes } = countingService();
    const p = parseParams({ window_size: 0.0045, pcen: false, normalize: false, resample: true, samplerate: 16000, low_freq: 1500 });
    const options = tileOptionsSchema.parse({ width: 256 });
    const real = await service.pool.stats({ kind: "stats", path, timeExpansion: 1, params: p }); // another service's pass
    for (const format of ["png", "f32"] as const) {
      const plan = await fresh.planTile(recording, p, 0, 3, options, format);
      const tile = await fresh.render(plan);
      const withStats = await fresh.pool.run<Uint8Array>({ ...plan.task, stats: statsForPiece(real.stats, plan.layout.f0) } as typeof plan.task);
      expect(Buffer.from(tile.body).equals(Buffer.from(withStats)), format).toBe(true);
      expect([tile.headers["x-frame-range"], tile.headers["x-value-range"]]).toEqual(["768,1024", "-100,0"]);
    }
    expect([passes(), fresh.computed]).toEqual([0, 2]);
    expect((await fresh.stats(recording, p)).stats.frames).toBe(real.stats.frames);
    expect(passes()).toBe(0);
  });

  it("parameters that need the stats still wait for their pass: PCEN, normalization, power and amplitude", async () => {
    const options = tileOptionsSchema.parse({ width: 256 });
    for (const input of [{ normalize: false }, { pcen: false }, { pcen: false, normalize: false, scale: "power" }, { pcen: false, normalize: false, scale: "amplitude" }] as ParamsInput[]) {
      const { fresh, passes } = countingService();
      const tile = await fresh.tile(recording, parseParams({ window_size: 0.0045, ...input }), 0, 3, options, "png");
      expect([JSON.stringify(input), passes(), tile.headers["x-frame-range"]]).toEqual([JSON.stringify(input), 1, "768,1024"]);
    }
  });

  it("their tiles are placed on the engine's frame count: 1 s at 44.1 kHz resampled to 48 kHz is 48000 samples, 401 frames (rate / fs in float64 gave 48001 and 402)", async () => {
    const second = join(dir, "one-second.wav");
    const x = samples.subarray(0, 44100);
    writeFileSync(second, Buffer.concat([floatWavHeader(x.length, 1, 44100), new Uint8Array(x.buffer, x.byteOffset, x.byteLength)]));
    const short: TileRecording = { ...recording, id: "00000000-0000-0000-0000-000000000004", path: second, hash: "4".repeat(32), samplerate: 44100, frames: 44100 };
    const params = { window_size: 0.005, pcen: false, normalize: false, resample: true, samplerate: 48000 };
    const reader = await openAudio(second);
    const whole = await spectrogramOfRecording(reader, params);
    await reader.close();
    expect(whole.frames).toBe(401);
    const { fresh, passes } = countingService();
    const options = tileOptionsSchema.parse({ width: 128 });
    const last = await fresh.tile(short, parseParams(params), 0, 3, options, "f32");
    expect([last.headers["x-frame-range"], passes()]).toEqual(["384,401", 0]);
    const v = bytesToF32(last.body);
    for (let k = 0; k < whole.bins; k++) for (let c = 0; c < 17; c++) expect(Math.abs(v[k * 17 + c] - whole.data[k * 401 + 384 + c])).toBeLessThanOrEqual(1e-3);
    await expect(fresh.tile(short, parseParams(params), 0, 4, options, "f32")).rejects.toThrow(/^tile: x must be an integer from 0 to 3 /);
  });
});

describe("parameters that need no whole-recording statistic, on a database's stale frame count", () => {
  it("are placed on the frames the workers' reader counts, not the count an older reader stored (it was a 500, and a retired worker, on every tile)", async () => {
    const stale: TileRecording = { ...recording, id: "00000000-0000-0000-0000-000000000005", frames: Math.floor(recording.frames / 2) };
    const params = parseParams({ window_size: 0.0045, pcen: false, normalize: false });
    const fresh = new TileService({ threads: 1 });
    onTestFinished(() => fresh.close());
    const { stats } = await service.pool.stats({ kind: "stats", path, timeExpansion: 1, params });
    const options = tileOptionsSchema.parse({ width: 256 });
    const last = Math.ceil(stats.frames / 256) - 1;
    const tile = await fresh.tile(stale, params, 0, last, options, "f32");
    expect(tile.headers["x-frame-range"]).toBe(`${last * 256},${stats.frames}`);
  });
});

describe("zoom levels and bands", () => {
  const params = { window_size: 0.005, pcen: false };

  it("a tile at zoom z is the maximum of 2^z frames of zoom 0", async () => {
    const whole = spectrogram(samples, RATE, params);
    const edges = Array.from({ length: whole.bins + 1 }, (_, k) => k);
    for (const z of [1, 3]) {
      const joined = await joinedTiles(params, z, 128);
      expect(joined.columns).toBe(Math.ceil(whole.frames / 2 ** z));
      expect(maxAbsDiff(joined.data, pooled(whole, 2 ** z, edges))).toBeLessThanOrEqual(1e-3);
    }
  });

  it("pooling each block in the core equals pooling the whole matrix, across block boundaries", async () => {
    const p = { window_size: 0.1, hop_size: 0.05, pcen: false }; // 1103 bins: blocks of 1901 frames
    const whole = spectrogram(samples, RATE, p);
    const f0 = 100, f1 = whole.frames - 3; // 3 blocks
    const piece = { ...whole, frames: f1 - f0, data: new Float32Array(whole.bins * (f1 - f0)) };
    for (let k = 0; k < whole.bins; k++) piece.data.set(whole.data.subarray(k * whole.frames + f0, k * whole.frames + f1), k * piece.frames);
    const edges = [0, 1, 50, 400, 1103];
    const reader = samplesReader([samples], RATE);
    const read = reader.read.bind(reader);
    let largestRead = 0;
    reader.read = (channel, start, count, into) => {
      largestRead = Math.max(largestRead, count);
      return read(channel, start, count, into);
    };
    const recording = new RecordingSpectrogram(reader, p);
    try {
      // 2048 and 4096 frames per column, more than a block holds: pooled a power-of-two block at a
      // time (1024 frames) and folded by maximum; pooled whole, a column read all of its samples.
      for (const factor of [1, 8, 600, 2048, 4096]) {
        largestRead = 0;
        const target = new Float32Array((edges.length - 1) * Math.ceil(piece.frames / factor));
        await recording.writePooledRange(f0, f1, Int32Array.from(edges), factor, target);
        // the same operations on the same values in both: equal bit for bit
        expect(maxAbsDiff(target, pooled(piece, factor, edges)), `factor ${factor}`).toBe(0);
        const g = recording.geometry;
        expect(largestRead, `factor ${factor}`).toBeLessThanOrEqual((blockFrames(g) - 1) * g.hop + g.nperseg);
      }
      await expect(recording.writePooledRange(0, 10, Int32Array.from(edges), 1, new Float32Array(3))).rejects.toThrow("target: needs 40 values, got 3");
      // Wider than a block and no power of two: its blocks would straddle columns.
      await expect(recording.writePooledRange(f0, f1, Int32Array.from(edges), 3000, new Float32Array(4 * Math.ceil((f1 - f0) / 3000)))).rejects.toThrow(/^factor: 3000 frames per column, more than a block holds \(1901\), must be a power of two$/);
    } finally {
      recording.dispose();
    }
  });

  it("fmin/fmax crop and height merges bins by maximum", async () => {
    const whole = spectrogram(samples, RATE, params);
    const binHz = whole.samplerate / whole.nperseg; // 200 Hz
    const joined = await joinedTiles(params, 2, 512, { fmin: 1000, fmax: 9000, height: 10 });
    const k0 = Math.ceil(1000 / binHz);
    const k1 = Math.floor(9000 / binHz) + 1;
    const edges = Array.from({ length: 11 }, (_, r) => k0 + Math.floor((r * (k1 - k0)) / 10));
    expect(joined.rows).toBe(10);
    expect(maxAbsDiff(joined.data, pooled(whole, 4, edges))).toBeLessThanOrEqual(1e-3);
  });

  it("headers place the tile in time and frequency", async () => {
    const p = parseParams(params);
    const t = await service.tile(recording, p, 1, 2, tileOptionsSchema.parse({ width: 128 }), "npy");
    expect(t.headers["x-frame-range"]).toBe(`${2 * 256},${3 * 256}`);
    expect(t.headers["x-frames-per-column"]).toBe("2");
    expect(Number(t.headers["x-hop-seconds"])).toBeCloseTo(55 / RATE, 12);
    expect(t.headers["x-shape"]).toBe(`${Math.floor(110 / 2) + 1},128`);
    expect(t.headers["x-value-scale"]).toBe("dB");
    // NumPy header, then 56 × 128 float32 values.
    expect(String.fromCharCode(...t.body.subarray(1, 6))).toBe("NUMPY");
    expect(t.body.byteLength % 64).toBe((56 * 128 * 4) % 64);
  });

  it("PNG tiles decode to the tile's shape, highest frequency on top", async () => {
    const p = parseParams({ ...params, cmap: "viridis" });
    const t = await service.tile(recording, p, 0, 0, tileOptionsSchema.parse({ width: 256 }), "png");
    const image = UPNG.decode(t.body.buffer.slice(t.body.byteOffset, t.body.byteOffset + t.body.byteLength) as ArrayBuffer);
    expect([image.width, image.height]).toEqual([256, 56]);
  });

  it("ValuesScratch hands out one array again up to its limit, and fresh ones beyond it", () => {
    const scratch = new ValuesScratch(1000);
    const a = scratch.take(600), b = scratch.take(400);
    expect([a.length, b.length, b.buffer === a.buffer]).toEqual([600, 400, true]);
    const c = scratch.take(1000);
    expect([c.length, c.buffer === a.buffer]).toEqual([1000, false]); // grown to the larger size
    expect(scratch.take(10).buffer).toBe(c.buffer);
    const big = scratch.take(1001);
    expect([big.length, big.buffer === c.buffer, scratch.take(1000).buffer === c.buffer]).toEqual([1001, false, true]);
  });

  it("PNG tiles of different sizes from one worker (its values array reused) show the colours of their f32 values", async () => {
    const one = new TileService({ threads: 1 });
    try {
      const p = parseParams({ ...params, cmap: "magma" });
      const palette = colormapPalette("magma");
      for (const [width, x, height] of [[512, 1, undefined], [128, 5, 20], [512, 0, undefined], [128, 0, undefined]] as const) {
        const options = tileOptionsSchema.parse({ width, height });
        const f32 = await one.tile(recording, p, 0, x, options, "f32");
        const png = await one.tile(recording, p, 0, x, options, "png");
        expect(pngPixelsWrong(f32, png, palette), `tile ${x} of width ${width}`).toBe(0);
      }
    } finally {
      await one.close();
    }
  });

  it("tiles outside the recording or empty bands are refused, naming the field", async () => {
    const p = parseParams(params);
    const options = tileOptionsSchema.parse({});
    await expect(service.tile(recording, p, 0, 10_000, options, "f32")).rejects.toThrow(/^tile: x must be an integer from 0 to/);
    await expect(service.tile(recording, p, 0, 0, tileOptionsSchema.parse({ fmin: 10990, fmax: 10995 }), "f32")).rejects.toThrow(/^fmin:/);
    await expect(service.tile(recording, p, 0, 0, tileOptionsSchema.parse({ height: 100000 }), "f32")).rejects.toThrow(/^height: must be <= 56/);
    expect(() => tileOptionsSchema.parse({ width: 300 })).toThrow(/must be one of 128, 256, 512, 1024/);
    // A recording without frames has no tile to name a range of (it said "from 0 to -1").
    expect(() => tileLayout(0, 0, 0, frameGeometry(p.window_size, p.hop_size, 22050), options)).toThrow(/^tile: the recording has no frames at these parameters, so no tiles$/);
  });
});

describe("caching and the pool", () => {
  it("counts a key set twice once, so the cache keeps what fits in its limit", () => {
    const cache = new ByteCache<TileBody>(100, (t) => t.body.byteLength);
    const body = (bytes: number, etag: string) => ({ body: new Uint8Array(bytes), etag, contentType: "application/octet-stream", headers: {} });
    cache.set("a", body(60, "a"));
    cache.set("a", body(60, "a"));
    cache.set("b", body(30, "b"));
    expect(cache.get("a")?.body.byteLength).toBe(60); // 90 bytes held: nothing to evict
    expect(cache.get("b")?.body.byteLength).toBe(30);
    cache.set("c", body(20, "c")); // 110 > 100: the least recently used ("a") goes
    expect([cache.get("a"), cache.get("b"), cache.get("c")].map((v) => v?.body.byteLength)).toEqual([undefined, 30, 20]);
  });

  it("keeps recording stats in memory up to a number of bytes, not of entries: a PCEN pass's checkpoints can take hundreds of MB", async () => {
    const a = parseParams({ window_size: 0.004, hop_size: 0.3 }), b = parseParams({ window_size: 0.004, hop_size: 0.35 });
    const one = await service.stats(recording, a);
    const entry = one.stats.checkpoints.byteLength + 1024;
    expect(one.stats.checkpoints.byteLength).toBeGreaterThan(0); // PCEN: checkpoints held
    const small = new TileService({ threads: 1, statsCacheBytes: entry });
    onTestFinished(() => small.close());
    await small.stats(recording, a);
    await small.stats(recording, a);
    expect(small.computed).toBe(1); // kept
    await small.stats(recording, b); // a second entry does not fit beside the first: a goes
    await small.stats(recording, a);
    expect(small.computed).toBe(3);
  });

  it("keeps the value last set of those over the limit beside the others, which keep the limit among themselves (keepsOneOver)", () => {
    const cache = new ByteCache<Uint8Array>(100, (v) => v.byteLength, true);
    cache.set("big", new Uint8Array(150));
    cache.set("a", new Uint8Array(60));
    cache.set("b", new Uint8Array(30));
    expect(["big", "a", "b"].map((k) => cache.get(k)?.byteLength)).toEqual([150, 60, 30]); // it was [undefined, 60, 30]: any other value set evicted it
    cache.set("c", new Uint8Array(20)); // 110 > 100 within the limit: the least recently used ("a") goes, not "big"
    expect(["big", "a", "b", "c"].map((k) => cache.has(k))).toEqual([true, false, true, true]);
    cache.set("bigger", new Uint8Array(200)); // one value over the limit at most: "big" goes
    expect(["big", "bigger", "b", "c"].map((k) => cache.get(k)?.byteLength)).toEqual([undefined, 200, 30, 20]);
    cache.set("bigger", new Uint8Array(10)); // set again within the limit: counted there, nothing over it kept
    expect(["bigger", "b", "c"].map((k) => cache.get(k)?.byteLength)).toEqual([10, 30, 20]);
    const plain = new ByteCache<Uint8Array>(100, (v) => v.byteLength); // the tile cache's kind: nothing over the limit
    plain.set("big", new Uint8Array(150));
    expect(plain.has("big")).toBe(false);
  });

  it("keeps the stats over the limit last used while stats within it come and go: a viewer switching between the two read the large ones again at every switch", async () => {
    const large = parseParams({ window_size: 0.004, hop_size: 0.3 }), within = parseParams({ window_size: 0.004, hop_size: 0.3, pcen: false });
    const [a, b] = [await service.stats(recording, large), await service.stats(recording, within)];
    const [sizeA, sizeB] = [a, b].map(({ stats }) => stats.checkpoints.byteLength + (stats.overview?.byteLength ?? 0) + 1024);
    expect(sizeA).toBeGreaterThan(sizeB); // PCEN checkpoints: over a limit of the other's size
    const small = new TileService({ threads: 1, statsCacheBytes: sizeB });
    onTestFinished(() => small.close());
    for (const p of [large, within, large, within, large]) await small.stats(recording, p);
    expect(small.computed).toBe(2); // it was 5
  });

  it("keeps encoded tiles up to cacheBytes (serve's --tile-cache): with room for one, a second tile evicts the first, which is computed again", async () => {
    const p = parseParams({ window_size: 0.004, pcen: false });
    const options = tileOptionsSchema.parse({ width: 128 });
    const tileBytes = (await service.tile(recording, p, 0, 0, options, "f32")).body.byteLength;
    const small = new TileService({ threads: 1, cacheBytes: tileBytes });
    onTestFinished(() => small.close());
    const tiles = async (...xs: number[]) => {
      for (const x of xs) await small.tile(recording, p, 0, x, options, "f32");
    };
    await small.stats(recording, p);
    const before = small.computed;
    await tiles(0, 0);
    expect(small.computed - before).toBe(1); // kept
    await tiles(1, 0); // tile 1 (as large) leaves no room for tile 0
    expect(small.computed - before).toBe(3);
  });

  it("a piece's ETag is known without computing it (a one-shot 304 costs no image), and is the one the piece is sent with", async () => {
    const p = parseParams({ window_size: 0.002, pcen: false, cmap: "inferno" }); // parameters no other test uses
    const limits = { frames: 1 << 16, pixels: 1 << 25 };
    await service.stats(recording, p); // which the ETag needs (a pass of its own, counted in computed)
    const computed = service.computed;
    const plan = await service.planPiece(recording, p, 0.1, 0.3, {}, "png", limits);
    expect(service.computed).toBe(computed);
    const piece = await service.render(plan);
    expect([piece.etag, service.computed]).toEqual([plan.etag, computed + 1]);
    expect(piece.headers["x-frame-range"]).toBe(`${plan.layout.f0},${plan.layout.f1}`);
  });

  it("a tile, piece or stream over a pixel or tile limit is refused before the stats pass (each new parameter set ran one only to be refused)", async () => {
    const p = parseParams({ window_size: 0.0021, pcen: false, cmap: "gray" }); // parameters no other test uses: no stats yet
    const options = tileOptionsSchema.parse({ width: 512 });
    const computed = service.computed;
    await expect(service.planTile(recording, p, 0, 1, options, "png", 512 * 10)).rejects.toThrow(/^height: the tile would be 512 × 24 = 12288 pixels \(columns × rows\); the limit is 5120: /);
    await expect(service.planPiece(recording, p, 0, 10, {}, "png", { frames: 1000, pixels: 1 << 30 })).rejects.toThrow(/^end_time: the interval holds \d+ frames; the limit is 1000 per image/);
    await expect(service.planPiece(recording, p, 0, 1, {}, "png", { frames: 1 << 20, pixels: 100 })).rejects.toThrow(/^end_time: the image would be \d+ × 24 = \d+ pixels/);
    // Its band is a tile's, checked as early.
    await expect(service.planPiece(recording, p, 0, 1, { height: 25 }, "png", { frames: 1 << 20, pixels: 1 << 30 })).rejects.toThrow(/^height: must be <= 24 \(the bins in the band\)$/);
    await expect(service.planStream(recording, p, 0, 0, 20, options, { tiles: 3, pixels: 1 << 30 })).rejects.toThrow(/end_time: the interval spans \d+ tiles at zoom 0; the limit is 3 per stream/);
    await expect(service.planStream(recording, p, 0, 0, 1, options, { tiles: 100, pixels: 100 })).rejects.toThrow(/^height: the tile would be/);
    expect(service.computed).toBe(computed);
    // Within the limits the same requests are planned, after the pass.
    const plan = await service.planTile(recording, p, 0, 1, options, "png", 512 * 24);
    expect([plan.layout.columns, plan.layout.rows, service.computed]).toEqual([512, 24, computed + 1]);
  });

  it("identical concurrent requests are computed once, then served from the cache with one ETag", async () => {
    const p = parseParams({ window_size: 0.003, pcen: false, cmap: "magma" });
    const options = tileOptionsSchema.parse({ width: 1024 });
    await service.stats(recording, p);
    const before = service.computed;
    const results = await Promise.all(Array.from({ length: 8 }, () => service.tile(recording, p, 0, 1, options, "png")));
    expect(service.computed - before).toBe(1);
    expect(new Set(results.map((r) => r.etag)).size).toBe(1);
    const again = await service.tile(recording, p, 0, 1, options, "png");
    expect(service.computed - before).toBe(1);
    expect(again.etag).toBe(results[0].etag);
    // Another tile, colormap or format has another ETag.
    const other = await service.tile(recording, parseParams({ window_size: 0.003, pcen: false, cmap: "gray" }), 0, 1, options, "png");
    expect(other.etag).not.toBe(again.etag);
    expect((await service.planTile(recording, p, 0, 1, options, "png")).etag).toBe(again.etag);
  });

  it("a caller that gives up does not fail the others waiting for the same tile; the work is cancelled only when all have given up", async () => {
    const p = parseParams({ window_size: 0.0005, pcen: false, cmap: "viridis" });
    const options = tileOptionsSchema.parse({ width: 1024 });
    await service.stats(recording, p);
    // The pool's tasks wait at a gate the test opens: a tile of this size could finish within a
    // turn of the event loop, before its callers give up (the test failed so under load).
    const run = service.pool.run.bind(service.pool);
    onTestFinished(() => {
      service.pool.run = run;
    });
    /** Two callers of tile (6, x) with their own signals, once both have joined its computation (started, held at the gate). */
    const joinTwo = async (x: number) => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      service.pool.run = (task, signal, timeoutMs) => gate.then(() => run(task, signal, timeoutMs));
      const a = new AbortController(), b = new AbortController();
      const computed = service.computed, completed = service.completed;
      const tiles = [service.tile(recording, p, 6, x, options, "png", { client: "a", left: a.signal }), service.tile(recording, p, 6, x, options, "png", { client: "b", left: b.signal })];
      await new Promise(setImmediate);
      expect(service.computed - computed).toBe(1);
      expect(service.completed).toBe(completed);
      return { a, b, tiles, completed, open };
    };
    const one = await joinTwo(0);
    one.a.abort();
    await expect(one.tiles[0]).rejects.toThrow(/abort/i);
    one.open();
    expect((await one.tiles[1]).body.byteLength).toBeGreaterThan(0);
    expect(service.completed).toBe(one.completed + 1);

    const both = await joinTwo(1);
    both.a.abort();
    both.b.abort();
    await Promise.all(both.tiles.map((t) => expect(t).rejects.toThrow(/abort/i)));
    both.open();
    await new Promise((done) => setTimeout(done, 200));
    expect(service.completed).toBe(both.completed); // cancelled, not finished for nobody
    service.pool.run = run;
    const computed = service.computed;
    expect((await service.tile(recording, p, 6, 1, options, "png")).body.byteLength).toBeGreaterThan(0);
    expect(service.computed).toBe(computed + 1); // the next caller starts afresh
  });

  it("runs stats passes on every thread but one, so a tile whose stats are known is served while long passes run", async () => {
    const shared = new TileService({ threads: 2 });
    let passes: Promise<unknown>[] = [];
    try {
      const light = parseParams({ window_size: 0.01, pcen: false });
      await shared.stats(recording, light);
      let running = 0, most = 0;
      const stats = shared.pool.stats.bind(shared.pool);
      shared.pool.stats = async (task, signal) => {
        most = Math.max(most, ++running);
        try {
          return await stats(task, signal);
        } finally {
          running--;
        }
      };
      // Two passes of tens of seconds (heavy, below).
      passes = [1, 2].map((samples) => shared.stats(recording, heavy(samples)).catch((err: unknown) => err));
      const tile = await shared.tile(recording, light, 0, 0, tileOptionsSchema.parse({ width: 128 }), "f32");
      expect(tile.body.byteLength).toBe(4 * 128 * Number(tile.headers["x-shape"].split(",")[0]));
      expect(most).toBe(1);
    } finally {
      await shared.close();
    }
    // Closing cancelled both: the one running and the one waiting for its slot.
    for (const outcome of await Promise.all(passes)) expect(outcome).toBeInstanceOf(Error);
  }, 30_000);

  /** The hop of every stats pass `shared` starts, in order: which of them ran. */
  function passesStarted(shared: TileService): string[] {
    const started: string[] = [];
    const stats = shared.pool.stats.bind(shared.pool);
    shared.pool.stats = (task, signal) => {
      started.push(String(task.params.hop_size));
      return stats(task, signal);
    };
    return started;
  }

  /**
   * 1 s windows hopping `samples` samples over the 24 s recording: a stats pass of tens of seconds,
   * each hop its own parameter set (hop_size spellings of one hop are one: they share a pass).
   */
  const heavy = (samples: number) => parseParams({ window_size: 1, hop_size: hopOf(samples), pcen: false });

  it("drops a stats pass queued for a thread when every request for it has left, and refuses passes beyond maxStatsQueue", async () => {
    const shared = new TileService({ threads: 2, maxStatsQueue: 1, statsWaitMs: 2000 });
    let running: Promise<unknown> | undefined;
    try {
      const started = passesStarted(shared);
      running = shared.stats(recording, heavy(1)).catch((err: unknown) => err); // holds the one stats thread
      const options = tileOptionsSchema.parse({});
      const client = new AbortController();
      const queued = shared.planTile(recording, heavy(2), 0, 0, options, "f32", Infinity, { client: "a", left: client.signal });
      await new Promise((done) => setTimeout(done, 50));
      // The queue holds one: a third parameter set is refused at once.
      await expect(shared.planTile(recording, heavy(3), 0, 0, options, "f32")).rejects.toThrow(PoolBusyError);
      client.abort(new Error("the client disconnected"));
      await expect(queued).rejects.toThrow("the client disconnected");
      await new Promise((done) => setTimeout(done, 50));
      expect(started).toEqual([String(hopOf(1))]); // the queued pass never ran, and its place is free again
      const next = shared.planTile(recording, heavy(4), 0, 0, options, "f32", Infinity, { client: "a", left: new AbortController().signal }).catch((err: unknown) => err);
      await new Promise((done) => setTimeout(done, 50));
      await expect(shared.planTile(recording, heavy(5), 0, 0, options, "f32")).rejects.toThrow(PoolBusyError);
      // A request that got its 503 (StatsPendingError) will ask again: its pass stays queued.
      expect(await next).toBeInstanceOf(StatsPendingError);
      await expect(shared.planTile(recording, heavy(6), 0, 0, options, "f32")).rejects.toThrow(PoolBusyError);
    } finally {
      await shared.close();
    }
    expect(await running).toBeInstanceOf(Error); // cancelled by close
  }, 30_000);

  it("refuses a tile or interval past the end (400 naming it) before the stats pass, even when passes fill the queue — it got the queue's 503 \"retry shortly\" first", async () => {
    await pastEndWhileQueueFull(2);
  }, 30_000);

  it("with one thread, held by a pass, a tile or interval past the end is refused as the full queue's (503 \"retry shortly\") within seconds — it waited for its header read until its deadline", async () => {
    await pastEndWhileQueueFull(1);
  }, 30_000);

  /**
   * Fills the stats queue of a service of `threads` threads and asks for a tile, an interval and a
   * stream past the end: with a thread free to read the file's header, each is refused (400 naming
   * the field); with none, each is refused at once as the full queue's (PoolBusyError).
   */
  async function pastEndWhileQueueFull(threads: number): Promise<void> {
    const shared = new TileService({ threads, maxStatsQueue: 1, statsWaitMs: 60_000 });
    const passes: Promise<unknown>[] = [];
    try {
      const started = passesStarted(shared);
      // Passes of tens of seconds, one running on the stats thread, one queued for it — the queue is full.
      for (const samples of [1, 2]) passes.push(shared.stats(recording, heavy(samples)).catch((err: unknown) => err));
      await new Promise((done) => setTimeout(done, 50));
      // The thread the running pass leaves free has loaded — a header read of parameters that need no
      // pass runs there — before the reads below: one still starting (over 3 s on a loaded machine)
      // took longer than a request waits for such a read, and the full queue refused the request.
      if (threads > 1) await shared.stats(recording, parseParams({ pcen: false, normalize: false }));
      const options = tileOptionsSchema.parse({ width: 1024 });
      const p = heavy(3);
      const count = tileCount(frameCount(samples.length, frameGeometry(p.window_size, p.hop_size, RATE)), 0, 1024);
      const pastEnd = [
        () => shared.planTile(recording, p, 0, count, options, "f32"),
        () => shared.planPiece(recording, p, SECONDS + 1, SECONDS + 2, {}, "f32", { frames: 1 << 20, pixels: 1 << 30 }),
        () => shared.planStream(recording, p, 0, SECONDS + 1, SECONDS + 2, options, { tiles: 100, pixels: 1 << 30 }),
      ];
      if (threads > 1) {
        await expect(pastEnd[0]()).rejects.toThrow(new RegExp(`^tile: x must be an integer from 0 to ${count - 1} \\(the recording has ${count} tiles at zoom 0\\)$`));
        await expect(pastEnd[1]()).rejects.toThrow(/^start_time: /);
        await expect(pastEnd[2]()).rejects.toThrow(/^start_time: /);
      } else {
        // No thread to read the header: a 400 on the registered count might be wrong, so the pass decides — its queue is full.
        for (const plan of pastEnd) {
          const asked = performance.now();
          await expect(plan()).rejects.toThrow(PoolBusyError);
          expect(performance.now() - asked).toBeLessThan(5000);
        }
      }
      // A tile within the recording still waits for its pass, refused as the queue's.
      await expect(shared.planTile(recording, p, 0, count - 1, options, "f32")).rejects.toThrow(PoolBusyError);
      expect(started).toEqual([String(hopOf(1))]);
    } finally {
      await shared.close();
    }
    for (const outcome of await Promise.all(passes)) expect(outcome).toBeInstanceOf(Error); // cancelled by close
  }

  it("places a tile past the registered frame count on the count the file's header gives now (an older reader's count may fall short)", async () => {
    const p = parseParams({ window_size: 0.0022, pcen: false, normalize: false });
    const options = tileOptionsSchema.parse({ width: 128 });
    const count = tileCount(frameCount(samples.length, frameGeometry(p.window_size, p.hop_size, RATE)), 0, 128);
    const short = { ...recording, frames: samples.length / 4 };
    const plan = await service.planTile(short, p, 0, count - 1, options, "f32");
    expect(plan.layout.x).toBe(count - 1);
    await expect(service.planTile(short, p, 0, count, options, "f32")).rejects.toThrow(`tile: x must be an integer from 0 to ${count - 1}`);
  });

  it("sheds load when the queue is full instead of queueing without bound", async () => {
    const small = new TileService({ threads: 1, maxQueue: 2 });
    const p = parseParams({ window_size: 0.002, pcen: false });
    await small.stats(recording, p);
    const options = tileOptionsSchema.parse({ width: 128 });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, x) => small.tile(recording, p, 0, x, options, "f32")));
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(PoolBusyError);
    expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThanOrEqual(3);
    await small.close();
  });

  it("close fails with the pool's error only once the stats store's work has ended too (it returned at the pool's, and the database was closed under the purge)", async () => {
    let storeClosed = false;
    const store: StatsStore = {
      load: async () => null,
      claim: async () => true,
      renew: async () => true,
      release: async () => {},
      save: async () => {},
      touch: () => {},
      close: () => new Promise((done) => setTimeout(() => { storeClosed = true; done(); }, 200)),
    };
    const closing = new TileService({ threads: 1, statsStore: store });
    const closePool = closing.pool.close.bind(closing.pool);
    closing.pool.close = async () => {
      await closePool();
      throw new Error("a worker thread would not stop");
    };
    const outcome = await closing.close().then(() => "closed", (err: unknown) => err);
    expect([outcome, storeClosed]).toEqual([new Error("a worker thread would not stop"), true]);
  });

  describe("fair scheduling: tasks wait per client and are taken round-robin across clients", () => {
    /** A pool of one fault-worker thread, closed after the test. */
    function onePool(options: PoolOptions = {}): TilePool {
      const pool = new TilePool({ threads: 1, workerFile: FAULT_WORKER_URL, ...options });
      onTestFinished(() => pool.close());
      return pool;
    }
    /** Runs a task that takes no time for `clients`, as `name`; the names in the order their tasks ended (one thread: the order they ran) go to `order`. */
    const runAs = (pool: TilePool, order: string[], name: string, clients: TaskClients, signal?: AbortSignal) =>
      pool.run(faultTask({ kind: "hold", ms: 0 }), signal, undefined, clients).then(() => order.push(name));

    it("one client's backlog does not hold another's task: it runs after one task of each client ahead of it (it waited behind all 10)", async () => {
      const pool = onePool();
      const order: string[] = [];
      // All asked in one turn of the event loop: a0 takes the thread, the others wait.
      const tasks = Array.from({ length: 10 }, (_, i) => runAs(pool, order, `a${i}`, new TaskClients("a")));
      tasks.push(runAs(pool, order, "b0", new TaskClients("b")), runAs(pool, order, "c0", new TaskClients("c")), runAs(pool, order, "b1", new TaskClients("b")));
      await Promise.all(tasks);
      expect(order).toEqual(["a0", "a1", "b0", "c0", "a2", "b1", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]);
    });

    it("close waits for the tasks still in the fair queue and runs them (Piscina, given them as it closed, aborted them)", async () => {
      const pool = new TilePool({ threads: 1, workerFile: FAULT_WORKER_URL });
      const order: string[] = [];
      const tasks = Array.from({ length: 4 }, (_, i) => runAs(pool, order, `t${i}`, new TaskClients("a")));
      await pool.close();
      expect(await Promise.allSettled(tasks)).toEqual(Array.from({ length: 4 }, (_, i) => ({ status: "fulfilled", value: i + 1 })));
      expect(order).toEqual(["t0", "t1", "t2", "t3"]);
    });

    it("a task shared by two clients (identical requests computed once) runs at the first of their turns, not behind its starter's backlog", async () => {
      const pool = onePool();
      const order: string[] = [];
      const shared = new TaskClients("a");
      const tasks = [runAs(pool, order, "a0", new TaskClients("a")), runAs(pool, order, "a1", new TaskClients("a")), runAs(pool, order, "a2", new TaskClients("a")), runAs(pool, order, "shared", shared), runAs(pool, order, "a4", new TaskClients("a"))];
      shared.join("b"); // b asks for the tile a queued
      await Promise.all(tasks);
      expect(order).toEqual(["a0", "a1", "shared", "a2", "a4"]);
    });

    it("refuses a client's task when its own backlog is full (PoolBusyError), while another client's still waits; and past the overall cap, anyone's", async () => {
      const pool = onePool({ maxClientQueue: 2, maxQueue: 3 });
      const order: string[] = [];
      const accepted = [runAs(pool, order, "a0", new TaskClients("a")), runAs(pool, order, "a1", new TaskClients("a")), runAs(pool, order, "a2", new TaskClients("a"))];
      const refusedA = await runAs(pool, order, "a3", new TaskClients("a")).catch((err: unknown) => err);
      expect(refusedA).toEqual(new PoolBusyError("all workers are busy and 2 computations of this client are waiting for one already"));
      accepted.push(runAs(pool, order, "b0", new TaskClients("b")));
      const refusedC = await runAs(pool, order, "c0", new TaskClients("c")).catch((err: unknown) => err);
      expect(refusedC).toEqual(new PoolBusyError("all workers are busy and the queue is full (3 computations waiting)"));
      await Promise.all(accepted);
      expect(order).toEqual(["a0", "a1", "b0", "a2"]);
    });

    it("a queued task whose request left is taken out of its client's queue: it never runs, and its place is free", async () => {
      const pool = onePool({ maxClientQueue: 2 });
      const order: string[] = [];
      const left = new AbortController();
      const tasks = [runAs(pool, order, "a0", new TaskClients("a")), runAs(pool, order, "a1", new TaskClients("a"))];
      const leaving = runAs(pool, order, "a2", new TaskClients("a"), left.signal);
      left.abort(new Error("the client disconnected"));
      await expect(leaving).rejects.toThrow("the client disconnected");
      tasks.push(runAs(pool, order, "a3", new TaskClients("a")));
      await Promise.all(tasks);
      expect(order).toEqual(["a0", "a1", "a3"]);
      expect(pool.queued).toBe(0);
    });

    it("a tile service passes each request's client down to the pool; identical requests of two clients share one task of both", async () => {
      const fair = new TileService({ threads: 1, workerFile: FAULT_WORKER_URL });
      onTestFinished(() => fair.close());
      const p = parseParams({ window_size: 0.01, pcen: false });
      const run = fair.pool.run.bind(fair.pool);
      const seen: TaskClients[] = [];
      fair.pool.run = (task, signal, timeoutMs, clients) => {
        if (task.kind === "tile") seen.push(clients!);
        return run(task, signal, timeoutMs, clients);
      };
      const options = tileOptionsSchema.parse({ width: 128 });
      await fair.tile(recording, p, 0, 0, options, "f32", { client: "a" }); // its frames counted
      await Promise.all([fair.tile(recording, p, 0, 1, options, "f32", { client: "a" }), fair.tile(recording, p, 0, 1, options, "f32", { client: "b" })]);
      await fair.tile(recording, p, 0, 2, options, "f32");
      expect(seen.map((clients) => clients.all)).toEqual([["a"], ["a", "b"], [POOL_CLIENT]]);
    });
  });

  it("a recording that cannot be decoded fails as an AudioFormatError, its class kept across the thread boundary", async () => {
    const broken = join(dir, "broken.wav");
    writeFileSync(broken, Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 255));
    const err = await service.stats({ ...recording, id: "00000000-0000-0000-0000-000000000009", path: broken, hash: "f".repeat(32) }, parseParams({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioFormatError);
    expect((err as Error).message).toMatch(/broken\.wav: not a recognised audio format/);
  });

  /**
   * frameRangeInto of frames [f0, f1) (PCEN on: every block replays from its checkpoint) on
   * `pool` in blocks of `blockFrames`, checked against one pass over the range.
   */
  async function expectFrameRangeIntoOnePass(pool: TilePool, f0: number, tail: number, blockFrames: number) {
    const params = parseParams({ window_size: 0.004 });
    const source = { path, timeExpansion: 1, params };
    const stats = await pool.stats({ kind: "stats", ...source });
    const f1 = stats.stats.frames - tail;
    const output = new Float32Array(new SharedArrayBuffer(4 * stats.geometry.bins * (f1 - f0))).fill(NaN);
    await pool.frameRangeInto(source, stats, f0, f1, output, blockFrames);
    const reader = await openAudio(path);
    const whole = new RecordingSpectrogram(reader, params);
    try {
      const expected = await whole.frameRange(f0, f1);
      expect(Buffer.from(output.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    } finally {
      whole.dispose();
      await reader.close();
    }
  }

  it("frameRangeInto: the threads write one shared output, equal to one pass over the range", async () => {
    await expectFrameRangeIntoOnePass(service.pool, 100, 7, 1000); // 12 blocks, claimed by the leases of both threads
  });

  it("frameRangeInto with blocks that shrink at the end of the range (a multiple of the checkpoint spacing on two threads): equal to one pass", async () => {
    const params = parseParams({ window_size: 0.004 });
    const { stats } = await service.pool.stats({ kind: "stats", path, timeExpansion: 1, params });
    const bounds = rangeBlocks(100, stats.frames - 7, 3 * stats.checkpointEvery, stats.checkpointEvery, 2);
    expect(new Set(bounds.slice(1).map((b, k) => b - bounds[k])).size).toBeGreaterThanOrEqual(3); // blocks of three lengths, the last ones one interval (replays from other checkpoints)
    await expectFrameRangeIntoOnePass(service.pool, 100, 7, 3 * stats.checkpointEvery);
  });

  it("frameRangeInto with leases of one block each: the leases that follow the first take over until the range is done", async () => {
    const pool = new TilePool({ threads: 2, leaseMs: 0 });
    try {
      await expectFrameRangeIntoOnePass(pool, 0, 0, 500); // 25 blocks, 25 leases
    } finally {
      await pool.close();
    }
  });

  it("frameRangeInto into a larger output (one buffer reused across calls): f1 past the end is clamped, the first bins × frames values are the matrix, the rest untouched", async () => {
    const params = parseParams({ window_size: 0.004 });
    const source = { path, timeExpansion: 1, params };
    const stats = await service.pool.stats({ kind: "stats", ...source });
    const { bins } = stats.geometry;
    const frames = stats.stats.frames;
    const output = new Float32Array(new SharedArrayBuffer(4 * bins * 100_000)).fill(NaN); // more frames than the recording has
    expect(await service.pool.frameRangeInto(source, stats, 0, 100_000, output)).toBe(frames);
    expect(await service.pool.frameRangeInto(source, stats, frames - 300, 100_000, output)).toBe(300); // the same buffer again, a shorter range
    const reader = await openAudio(path);
    const whole = new RecordingSpectrogram(reader, params);
    try {
      const expected = await whole.frameRange(frames - 300, frames);
      expect(Buffer.from(output.buffer, 0, expected.byteLength).equals(Buffer.from(expected.buffer))).toBe(true);
      const first = await whole.frameRange(0, frames); // what the first call left beyond the second's values
      expect(Buffer.from(output.buffer, expected.byteLength, first.byteLength - expected.byteLength).equals(Buffer.from(first.buffer, expected.byteLength))).toBe(true);
      expect(output.subarray(bins * frames).every(Number.isNaN)).toBe(true);
    } finally {
      whole.dispose();
      await reader.close();
    }
  });

  it("frameRangeInto's default blocks: the most whole checkpoint intervals that fit in an engine block", () => {
    const blocksOf = (windowSize: number, rate: number, checkpointEvery: number) => {
      const geometry = frameGeometry(windowSize, 0.5, rate);
      return checkpointBlocks({ stats: { frames: 1e6, peak: 1, checkpointEvery, bins: 0, checkpoints: new Float32Array(0), firstCheckpoint: 1 }, geometry });
    };
    // 513 bins: engine blocks of 4088 frames
    expect(blocksOf(1024 / 48000, 48000, CHECKPOINT_SPACING)).toBe(3584);
    expect(blocksOf(1024 / 48000, 48000, 1024)).toBe(3072); // stats stored with the spacing of before
    // Whombat at 384 kHz: 4801 bins, engine blocks of 436 frames; a block is one interval at least
    expect(blocksOf(0.025, 384000, CHECKPOINT_SPACING)).toBe(512);
    expect(blocksOf(0.025, 384000, 436)).toBe(436); // stored before
  });

  it("frameRangeInto's blocks: a grid of blockFrames, then shorter ones, each a 2·threads-th of what remains, down to one checkpoint interval", () => {
    const lengths = (bounds: number[]) => bounds.slice(1).map((b, k) => b - bounds[k]);
    // The bench's pass (600 s at 48 kHz, N = 1024, hop 512) on two threads: once fewer than about
    // four blocks of 3584 remain, 9658 frames → 2560, 7098 → 2048, 5050 → 1536, 3514 → 1024, …
    expect(lengths(rangeBlocks(0, 56_250, 3584, 512, 2))).toEqual([...Array(13).fill(3584), 2560, 2048, 1536, 1024, 1024, 512, 512, 442]);
    // Four threads shrink earlier; a range starting off the grid has a short first block.
    expect(lengths(rangeBlocks(100, 20_000, 2048, 512, 4))).toEqual([1948, 2048, 2048, 2048, 1536, 1536, 1536, 1024, 1024, 1024, 1024, 512, 512, 512, 512, 512, 512, 32]);
    // One thread gains nothing from shorter blocks; blocks that are not whole checkpoint intervals
    // cannot shrink by one: the plain grid from frame 0, as before.
    expect(rangeBlocks(100, 3500, 1000, 512, 1)).toEqual([100, 1000, 2000, 3000, 3500]);
    expect(rangeBlocks(0, 3500, 1000, 512, 2)).toEqual([0, 1000, 2000, 3000, 3500]);
    expect(rangeBlocks(0, 3072, 1536, 512, 1)).toEqual([0, 1536, 3072]);
    expect(rangeBlocks(700, 700, 1536, 512, 2)).toEqual([700]); // an empty range: no block
  });

  it("frameRangeInto refuses an output it cannot fill, naming it, and reports a failing task after the running ones", async () => {
    const params = parseParams({ window_size: 0.004, pcen: false });
    const source = { path, timeExpansion: 1, params };
    const stats = await service.pool.stats({ kind: "stats", ...source });
    const values = stats.geometry.bins * stats.stats.frames;
    await expect(service.pool.frameRangeInto(source, stats, 0, Infinity, new Float32Array(values))).rejects.toThrow(/^output: must be a Float32Array over a SharedArrayBuffer/);
    await expect(service.pool.frameRangeInto(source, stats, 0, Infinity, new Float32Array(new SharedArrayBuffer(4 * (values - 1))))).rejects.toThrow(`output: needs at least ${values} values`);
    await expect(service.pool.frameRangeInto(source, stats, 0, Infinity, new Float32Array(new SharedArrayBuffer(4 * values)), 0)).rejects.toThrow(/^blockFrames: must be an integer ≥ 1/);
    // A bound that is no frame index: NaN resolved to NaN frames written, without a word.
    await expect(service.pool.frameRangeInto(source, stats, NaN, 10, new Float32Array(new SharedArrayBuffer(4 * values)))).rejects.toThrow(new RangeError("f0: must be a frame index (an integer, or Infinity for the end), got NaN"));
    await expect(service.pool.frameRangeInto(source, stats, 0, 2.5, new Float32Array(new SharedArrayBuffer(4 * values)))).rejects.toThrow(/^f1: must be a frame index .*, got 2\.5$/);
    // A copy of the recording cut short after its stats were taken: the tasks past the cut fail.
    const cut = join(dir, "cut.wav");
    writeFileSync(cut, Buffer.concat([floatWavHeader(samples.length, 1, RATE), new Uint8Array(samples.buffer)]));
    const cutSource = { ...source, path: cut };
    const cutStats = await service.pool.stats({ kind: "stats", ...cutSource });
    truncateSync(cut, 44 + samples.byteLength / 2);
    const err = await service.pool.frameRangeInto(cutSource, cutStats, 0, Infinity, new Float32Array(new SharedArrayBuffer(4 * values)), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioFormatError);
  });

  it("workers refuse require() of their module before instantiating it, so Piscina loads it with import()", async () => {
    // Piscina tries require() first. On Node 20.19+ that instantiates the module graph before
    // refusing it for its top-level await, and a worker terminated in that step (a pool closing
    // while it loads) took the whole process down with a V8 fatal error in CI.
    const probe = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       try { require(workerData); parentPort.postMessage("loaded"); } catch (e) { parentPort.postMessage(e.code); }`,
      { eval: true, execArgv: WORKER_EXEC_ARGV, workerData: fileURLToPath(WORKER_URL) },
    );
    const [code] = await once(probe, "message");
    await probe.terminate();
    expect(code).toBe("ERR_REQUIRE_ESM");
  });

  it("a worker whose core traps fails its task with the trap's error, and is replaced: no later task runs on its heap", async () => {
    const faulty = new TileService({ threads: 2, workerFile: FAULT_WORKER_URL });
    onTestFinished(() => faulty.close());
    const threadIds = () => (faulty.pool as unknown as { piscina: { threads: { threadId: number }[] } }).piscina.threads.map((t) => t.threadId).sort();
    const before = threadIds();
    await expect(faulty.pool.run(faultTask({ kind: "trap" }))).rejects.toThrow(/memory access out of bounds/);
    // Every thread takes a task (one each, at once): the trapped one exits as its task reaches it,
    // and that task runs again on a fresh thread — none fails.
    const params = parseParams({ window_size: 0.004, pcen: false });
    const tiles = await Promise.all(before.map((_, x) => faulty.tile(recording, params, 0, x, tileOptionsSchema.parse({}), "f32")));
    for (const t of tiles) expect(t.body.byteLength).toBeGreaterThan(0);
    expect(threadIds().filter((id) => !before.includes(id))).toHaveLength(1);
  });

  it("ends a thread whose core grew past coreMemoryLimit as its task's answer is taken: its memory goes back with no task after it, the next task runs on a new thread, and none fails", async () => {
    const limit = 64 * 2 ** 20;
    const pool = new TilePool({ threads: 1, coreMemoryLimit: limit, workerFile: FAULT_WORKER_URL });
    onTestFinished(() => pool.close());
    const threads = () => (pool as unknown as { piscina: { threads: Worker[] } }).piscina.threads;
    const grow = (bytes: number) => pool.run<number>(faultTask({ kind: "grow", bytes }));
    const first = await grow(0);
    // Under the limit the thread stays; the task that grows its core past it still gets its answer.
    expect(await grow(limit / 2)).toBe(first);
    const exited = once(threads().find((t) => t.threadId === first)!, "exit");
    expect(await grow(limit)).toBe(first);
    // The core's memory cannot shrink: the thread that held it ends now, not when a task next
    // reaches it (an idle server kept it until then), and a fresh one takes its place at once.
    await exited;
    expect(threads().map((t) => t.threadId)).not.toContain(first);
    expect(threads()).toHaveLength(1);
    const next = await grow(0);
    expect(next).not.toBe(first);
    expect(await grow(0)).toBe(next);
    // Tasks that each retire their thread, queued at once on one thread: a task met more retired
    // threads than the pool has (it failed with "worker exited with code: 71" after one retry).
    const burst = await Promise.all([grow(limit), grow(limit), grow(limit), grow(0), grow(0)]);
    expect(burst[0]).toBe(next);
    expect(new Set(burst).size).toBe(4);
  });

  it("a thread that retires after each task still hands over its answers — a tile's moved bytes, a stats pass's values — as a thread that stays does", async () => {
    // The fault worker's `grow` of 0 bytes answers with its thread's id: each is another thread's.
    const retiring = new TileService({ threads: 1, coreMemoryLimit: 0, workerFile: FAULT_WORKER_URL });
    onTestFinished(() => retiring.close());
    const threadNow = () => retiring.pool.run(faultTask({ kind: "grow", bytes: 0 }), undefined, 20_000) as Promise<unknown> as Promise<number>;
    const threads = [await threadNow()];
    const params = parseParams({ window_size: 0.004, pcen_smooth: 0.03 });
    const options = tileOptionsSchema.parse({});
    for (const format of ["f32", "png"] as const) {
      const [ours, theirs] = await Promise.all([retiring.tile(recording, params, 0, 1, options, format), service.tile(recording, params, 0, 1, options, format)]);
      expect(ours.body.byteLength).toBeGreaterThan(0);
      expect(Buffer.from(ours.body).equals(Buffer.from(theirs.body))).toBe(true);
      threads.push(await threadNow());
    }
    expect(new Set(threads).size).toBe(3);
  });

  it("hands filterCacheBytes to its threads: with none, a thread's core keeps no filter past its use", async () => {
    // 44100 → 44101…44104 Hz: four filters of 7 MB of taps each, kept by the default's 64 MiB.
    const coreAfterFilters = async (filterCacheBytes?: number) => {
      const pool = new TilePool({ threads: 1, workerFile: FAULT_WORKER_URL, filterCacheBytes });
      onTestFinished(() => pool.close());
      return (await pool.run(faultTask({ kind: "filters", rates: [44101, 44102, 44103, 44104] }), undefined, 60_000)) as unknown as number;
    };
    const [keeping, dropping] = await Promise.all([coreAfterFilters(), coreAfterFilters(0)]);
    expect(keeping).toBeGreaterThanOrEqual(4 * 7e6);
    expect(dropping).toBeLessThan(3 * 7e6); // the filter in use and the one before it, at most
  });

  it("counts a task's time limit for its wait for a worker and for its run apart: a run over it is a TaskTimeoutError naming it, a wait over it a PoolBusyError", async () => {
    const pool = new TilePool({ threads: 1, taskTimeoutMs: 1000, workerFile: FAULT_WORKER_URL });
    onTestFinished(() => pool.close());
    // The worker has loaded: its start is no part of the waits below (a generous limit of its own:
    // on a busy machine a worker's start took over the 1 s).
    await pool.run(faultTask({ kind: "hold", ms: 0 }), undefined, 20_000);
    // Behind a task that holds the only worker for 0.6 s (under a limit of its own), a task waits
    // 0.6 s and runs 0.6 s: each within the limit, together over it — it failed so before.
    const ahead = pool.run(faultTask({ kind: "hold", ms: 600 }), undefined, 10_000);
    await expect(pool.run(faultTask({ kind: "hold", ms: 600 }))).resolves.toBeNull();
    await ahead;
    // Behind one that holds it for 10 s, a task waits its whole limit: busy, not too much work.
    const holder = new AbortController();
    const holding = pool.run(faultTask({ kind: "hold", ms: 10_000 }), holder.signal, 20_000).catch((err: unknown) => err);
    const waited = await pool.run(faultTask({ kind: "hold", ms: 0 })).catch((err: unknown) => err);
    expect([(waited as Error).constructor, (waited as Error).message]).toEqual([PoolBusyError, "no worker was free for the computation within 1 s: every one was busy"]);
    holder.abort(); // its worker is replaced
    expect(((await holding) as Error).name).toBe("AbortError");
    // The new worker has loaded (a generous wait: on a busy machine its start took over the 1 s,
    // and the task below was refused as waiting, not stopped as running).
    await pool.run(faultTask({ kind: "hold", ms: 0 }), undefined, 20_000);
    // A computation of 5 s is stopped after its 1 s on the worker.
    const started = performance.now();
    const over = await pool.run(faultTask({ kind: "hold", ms: 5000 })).catch((err: unknown) => err);
    expect([(over as Error).constructor, (over as TaskTimeoutError).limitMs, (over as Error).message]).toEqual([TaskTimeoutError, 1000, "the computation ran past its time limit of 1 s on a worker and was stopped"]);
    expect(performance.now() - started).toBeLessThan(4000);
  });

  it("a task a retired worker took runs again on a fresh thread, keeping its place: the tasks queued after it wait for a thread in the pool's queue, not ahead of it in Piscina's", async () => {
    const pool = new TilePool({ threads: 1, taskTimeoutMs: 1000, workerFile: FAULT_WORKER_URL });
    onTestFinished(() => pool.close());
    // Its worker retires (a generous limit of its own: the worker's start and the trap took over the
    // 1 s in a CI run at load 10).
    await expect(pool.run(faultTask({ kind: "trap" }), undefined, 20_000)).rejects.toThrow(/memory access out of bounds/);
    const order: string[] = [];
    const retried = pool.run(faultTask({ kind: "hold", ms: 10 }), undefined, 20_000).then(() => order.push("retried")); // taken by the retired worker, run again
    const after = pool.run(faultTask({ kind: "hold", ms: 10 }), undefined, 20_000).then(() => order.push("after"));
    await Promise.all([retried, after]);
    // It was queued behind the task asked after it, and failed as busy when that one held the fresh worker past its wait.
    expect(order).toEqual(["retried", "after"]);
  });

  it("a stats pass tells how far it has come: its worker writes the frames scanned into the task's shared memory, up to the frame count", async () => {
    const progress = new Float64Array(new SharedArrayBuffer(8));
    const { stats } = await service.pool.stats({ kind: "stats", path, timeExpansion: 1, params: parseParams({ pcen_smooth: 0.03 }), progress });
    expect(progress[0]).toBe(stats.frames);
  });

  it("a stats pass whose file changed since its check fails before it reads a frame (it read the whole recording to fail at its end)", async () => {
    const progress = new Float64Array(new SharedArrayBuffer(8));
    const { size, mtimeMs } = statSync(path);
    const task = { kind: "stats" as const, path, timeExpansion: 1, params: parseParams({ pcen_smooth: 0.03 }), progress };
    const err = await service.pool.stats({ ...task, checked: { size, mtime: mtimeMs - 1000 } }).catch((e: unknown) => e);
    expect([(err as Error).constructor, progress[0]]).toEqual([FileChangedError, 0]);
    // The file as checked: the pass reads every frame.
    const { stats } = await service.pool.stats({ ...task, checked: { size, mtime: mtimeMs } });
    expect(progress[0]).toBe(stats.frames);
  });

  /**
   * A service of `threads` threads whose requests wait 50 ms for a pass, and whose passes have
   * scanned `scanned` frames in 50 ms and go on (they end with the test); with the default
   * parameters' frame count of `recording`. The clock is stopped, moved on only by those 50 ms as
   * a pass starts: the time a message says a pass took, and its time to go, are the test's, not
   * what a loaded machine took between the pass's start and the request's 503 (a timer 300 ms late
   * said "about 1 s to go" where the test read "about 0 s").
   */
  function stalledPasses(threads: number, scanned: (frames: number) => number): { fresh: TileService; params: Params; frames: number } {
    let now = performance.now();
    const clock = vi.spyOn(performance, "now").mockImplementation(() => now);
    const fresh = new TileService({ threads, statsWaitMs: 50 });
    const stops: ((err: Error) => void)[] = [];
    onTestFinished(() => {
      clock.mockRestore();
      for (const stop of stops) stop(new Error("test over"));
      return fresh.close();
    });
    const params = parseParams({});
    const frames = frameCount(recording.frames, frameGeometry(params.window_size, params.hop_size, RATE));
    fresh.pool.stats = (task) => {
      task.progress![0] = scanned(frames);
      now += 50;
      return new Promise((_, reject) => stops.push(reject));
    };
    return { fresh, params, frames };
  }

  it("a request that gives up waiting for a pass is told how far it has come and about how long the rest takes (it said 'retry in a few seconds' alone, for a pass of minutes)", async () => {
    const { fresh, params, frames } = stalledPasses(1, () => 500); // the worker has scanned 500 frames, and goes on
    const err = (await fresh.stats(recording, params).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(StatsPendingError);
    expect(err.message).toMatch(new RegExp(`^the recording's statistics for these parameters \\(normalization maximum, PCEN state\\) are being computed in one pass over the whole recording: ${Math.floor((100 * 500) / frames)} % of its ${frames} frames done after 0 s, about 0 s to go; retry in a few seconds$`));
  });

  it("a pass gone past the frame count it was given (a compressed stream's header estimate) is not said to be done: no 100 % and no '0 s to go' while it runs", async () => {
    const { fresh, params, frames } = stalledPasses(1, (frames) => frames + 100); // the stream holds more than its header said, and the pass goes on
    const err = (await fresh.stats(recording, params).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(StatsPendingError);
    expect(err.message).not.toMatch(/100 %|0 s to go/);
    expect(err.message).toMatch(new RegExp(`: more than the ${frames} frames estimated done after 0 s, the rest of the recording still being read; retry in a few seconds$`));
  });

  it("a pass that has scanned exactly its frame count (a PCM WAV's exact count) is said to have done them all, the statistics being finished — not 'more than the frames estimated … the rest still being read'", async () => {
    const { fresh, params, frames } = stalledPasses(1, (frames) => frames); // every frame scanned; the worker is finishing the statistics
    const err = (await fresh.stats(recording, params).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(StatsPendingError);
    expect(err.message).toMatch(new RegExp(`are being computed in one pass over the whole recording: all ${frames} frames done after 0 s, the statistics being finished; retry in a few seconds$`));
  });

  it("a request whose pass waits for a pass slot is told so: its place behind the running pass, that pass's progress, and a Retry-After from its time to go (it was 'being computed … retry in a few seconds', for a pass queued behind one of minutes)", async () => {
    // Two threads: one pass slot. The running pass has scanned 1 frame of thousands, so at its pace
    // the rest takes minutes; the second parameter set's pass waits for its slot.
    const { fresh, params, frames } = stalledPasses(2, () => 1);
    expect(frames).toBeGreaterThan(1300); // 1 frame in 50 ms or more: over 60 s to go
    const running = (await fresh.stats(recording, params).catch((e: unknown) => e)) as StatsPendingError;
    expect(running).toBeInstanceOf(StatsPendingError);
    expect(running.message).toMatch(new RegExp(`are being computed in one pass over the whole recording: 0 % of its ${frames} frames done after 0 s, about \\d+ min \\d+ s to go; retry in about 1 min 0 s$`));
    expect(running.retryAfterS).toBe(60);
    const queued = (await fresh.stats(recording, parseParams({ pcen_smooth: 0.03 })).catch((e: unknown) => e)) as StatsPendingError;
    expect(queued).toBeInstanceOf(StatsPendingError);
    expect(queued.message).toMatch(new RegExp(`^the recording's statistics for these parameters \\(normalization maximum, PCEN state\\) are to be computed in one pass over the whole recording, which waits for a free pass slot: queued behind 1 pass \\(0 % of its ${frames} frames done after 0 s, about \\d+ min \\d+ s to go\\); retry in about 1 min 0 s$`));
    expect(queued.retryAfterS).toBe(60);
    expect(fresh.computed).toBe(1); // the second pass has not started
  });

  it("passes waiting for a pass slot are taken round-robin across clients, one client's share of the waiting room refused (its Retry-After when its first waiting pass starts), another client's pass still admitted and started before the first's later ones, and told a Retry-After from the passes ahead of it", async () => {
    // Two threads: one pass slot, 8 passes waiting at most, 2 of one client. Client a asked for four
    // parameter sets at once: one runs, two wait, its fourth is refused — before, all waited and a
    // fifth client's pass found the room full (503, Retry-After: 1) behind a's, first come first served.
    const fresh = new TileService({ threads: 2, statsWaitMs: 50 });
    const started: number[] = [];
    const ends: ((err: Error) => void)[] = [];
    let firstScanned!: Float64Array;
    let firstAt = 0;
    fresh.pool.stats = (task) => {
      if (started.length === 0) [firstScanned, firstAt] = [task.progress!, performance.now()];
      started.push(task.params.pcen_smooth);
      return new Promise((_, reject) => ends.push(reject));
    };
    onTestFinished(() => {
      for (const end of ends) end(new Error("test over"));
      return fresh.close();
    });
    const options = tileOptionsSchema.parse({});
    const ask = (smooth: number, client: string) => fresh.planTile(recording, parseParams({ pcen_smooth: smooth }), 0, 0, options, "f32", Infinity, { client }).catch((err: unknown) => err as Error);
    const defaults = parseParams({});
    const frames = frameCount(recording.frames, frameGeometry(defaults.window_size, defaults.hop_size, RATE));
    expect(await ask(0.01, "a")).toBeInstanceOf(StatsPendingError); // runs
    // At its pace so far the running pass has about 12 s to go (a pass of the same frames after it,
    // about 12 s more) — on a clock stopped here, so that its time to go does not grow as the test runs.
    await new Promise((done) => setTimeout(done, 500));
    const stopped = performance.now();
    const clock = vi.spyOn(performance, "now").mockReturnValue(stopped);
    onTestFinished(() => clock.mockRestore());
    const elapsed = (stopped - firstAt) / 1000;
    firstScanned[0] = Math.ceil((frames * elapsed) / (elapsed + 12));
    const running = (await ask(0.01, "a")) as StatsPendingError;
    const toGo = Number(/about (\d+) s to go/.exec(running.message)![1]);
    expect(toGo).toBeGreaterThanOrEqual(12);
    expect(toGo).toBeLessThan(20);
    const second = (await ask(0.02, "a")) as StatsPendingError;
    expect(second.message).toMatch(/which waits for a free pass slot: queued behind 1 pass \(/);
    expect(second.retryAfterS).toBeGreaterThanOrEqual(toGo); // its turn comes when the running pass ends
    expect(await ask(0.03, "a")).toBeInstanceOf(StatsPendingError);
    const refused = (await ask(0.04, "a")) as PoolBusyError;
    expect(refused).toBeInstanceOf(PoolBusyError);
    expect(refused.message).toBe("you have 2 statistics passes waiting for a thread already, the most one client may have (other clients' passes still get a place)");
    // Its share has room again once its first waiting pass starts, when the running one ends.
    expect(refused.retryAfterS).toBe(second.retryAfterS);
    // Another client's pass gets a place, behind the running pass and a's next (round-robin), not behind all of a's.
    const other = (await ask(0.05, "b")) as StatsPendingError;
    expect(other).toBeInstanceOf(StatsPendingError);
    expect(other.message).toMatch(/which waits for a free pass slot: queued behind 2 passes \(/);
    // Its turn comes after the running pass's time to go and a's next pass, of as many frames at that pace.
    expect(other.retryAfterS).toBeGreaterThanOrEqual(second.retryAfterS + 10);
    expect(other.retryAfterS).toBeLessThanOrEqual(60);
    // The slot freed, a's next starts, then b's, then a's last.
    for (let turn = 0; turn < 3; turn++) {
      ends[turn](new Error("pass over"));
      await new Promise((done) => setTimeout(done, 20));
    }
    expect(started).toEqual([0.01, 0.02, 0.05, 0.03]);
  });

  it("a pass whose stats are being stored holds no pass slot in a queued pass's Retry-After: the pass running after it does (the stored one counted as a slot free at once: Retry-After 10 behind a pass of minutes)", async () => {
    // Two threads: one pass slot. Pass a has read the whole recording, its slot given back, its
    // stats held in the store's save; pass b runs, 1 frame scanned in 10 s; pass c waits behind b.
    let failSave!: (err: Error) => void;
    const saving = new Promise<void>((_, reject) => (failSave = reject));
    const store: StatsStore = { load: async () => null, claim: async () => true, renew: async () => true, release: async () => {}, save: () => saving, touch: () => {}, close: async () => {} };
    const fresh = new TileService({ threads: 2, statsWaitMs: 50, statsStore: store });
    const ends: ((err: Error) => void)[] = [];
    fresh.pool.stats = (task) => {
      if (task.params.pcen_smooth === 0.01) return Promise.resolve({} as never);
      task.progress![0] = 1;
      return new Promise((_, reject) => ends.push(reject));
    };
    onTestFinished(() => {
      failSave(new Error("test over"));
      for (const end of ends) end(new Error("test over"));
      return fresh.close();
    });
    const storing = fresh.stats(recording, parseParams({ pcen_smooth: 0.01 })).catch(() => {});
    await new Promise((done) => setTimeout(done, 100));
    expect(await fresh.stats(recording, parseParams({ pcen_smooth: 0.02 })).catch((e: unknown) => e)).toBeInstanceOf(StatsPendingError);
    const clock = vi.spyOn(performance, "now").mockReturnValue(performance.now() + 10_000);
    onTestFinished(() => clock.mockRestore());
    const queued = (await fresh.stats(recording, parseParams({ pcen_smooth: 0.03 })).catch((e: unknown) => e)) as StatsPendingError;
    expect(queued).toBeInstanceOf(StatsPendingError);
    expect(queued.message).toMatch(/which waits for a free pass slot: queued behind 1 pass \(0 % of its \d+ frames done after 10 s, about \d+ h \d+ min to go\); retry in about 1 min 0 s$/);
    expect(queued.retryAfterS).toBe(60);
    void storing;
  });

  it("gives one client a quarter of the stats passes' waiting room however the room is set, and refuses a share that is no integer of at least 1 (0 refused every client's first waiting pass)", async () => {
    const fresh = new TileService({ threads: 4, maxStatsQueue: 4, statsWaitMs: 10 });
    const ends: ((err: Error) => void)[] = [];
    fresh.pool.stats = () => new Promise((_, reject) => ends.push(reject));
    onTestFinished(() => {
      for (const end of ends) end(new Error("test over"));
      return fresh.close();
    });
    const options = tileOptionsSchema.parse({});
    const ask = (smooth: number) => fresh.planTile(recording, parseParams({ pcen_smooth: smooth }), 0, 0, options, "f32", Infinity, { client: "a" }).catch((err: unknown) => err as Error);
    for (const smooth of [0.01, 0.02, 0.03]) expect(await ask(smooth)).toBeInstanceOf(StatsPendingError); // three slots
    expect(await ask(0.04)).toBeInstanceOf(StatsPendingError); // waits: one of four places
    const refused = (await ask(0.05)) as Error;
    expect([refused.constructor, refused.message]).toEqual([PoolBusyError, "you have 1 statistics passes waiting for a thread already, the most one client may have (other clients' passes still get a place)"]);
    for (const bad of [0, 1.5, NaN]) expect(() => new TileService({ maxClientStatsQueue: bad })).toThrow(new RangeError(`maxClientStatsQueue: must be an integer >= 1, got number ${bad}`));
  });

  it("a stats pass over its own time limit is a busy server, not the request's time limit (a 400 asking for less work)", async () => {
    const fresh = new TileService({ threads: 1 });
    onTestFinished(() => fresh.close());
    fresh.pool.stats = () => Promise.reject(new TaskTimeoutError(3_600_000));
    const err = (await fresh.stats(recording, parseParams({})).catch((e: unknown) => e)) as Error;
    expect([err.constructor, err.message]).toEqual([PoolBusyError, "the statistics pass ran past its time limit of 3600 s and was stopped: the server is overloaded"]);
  });

  it("refuses pool options that are no number of threads or milliseconds, naming them, before it starts a thread", () => {
    // NaN threads went to Piscina as they were, 0 became 1; a NaN or overlong time limit (past
    // setTimeout's 2^31 − 1 ms) fired at once, refusing every task as busy.
    expect(() => new TilePool({ threads: NaN })).toThrow(new RangeError("threads: must be an integer in [1, 1024], got NaN"));
    expect(() => new TilePool({ threads: 0 })).toThrow(new RangeError("threads: must be an integer in [1, 1024], got 0"));
    expect(() => new TilePool({ threads: "2" as unknown as number })).toThrow(new TypeError('threads: must be an integer in [1, 1024], got string "2"'));
    expect(() => new TilePool({ threads: 1, taskTimeoutMs: 2 ** 31 })).toThrow(new RangeError(`taskTimeoutMs: must be a number of ms in (0, ${2 ** 31 - 1}], got ${2 ** 31}`));
    expect(() => new TilePool({ threads: 1, statsTimeoutMs: NaN })).toThrow(/^statsTimeoutMs: must be a number of ms in \(0, 2147483647\], got NaN$/);
    expect(() => new TilePool({ threads: 1, leaseMs: -1 })).toThrow(new RangeError("leaseMs: must be a number of ms ≥ 0, got -1"));
    expect(() => new TilePool({ threads: 1, coreMemoryLimit: NaN })).toThrow(new RangeError("coreMemoryLimit: must be a number of bytes ≥ 0 (Infinity: no limit), got NaN"));
    expect(() => new TilePool({ threads: 1, filterCacheBytes: -1 })).toThrow(new RangeError("filterCacheBytes: must be a number of bytes ≥ 0 (Infinity: no limit), got -1"));
    // Full, a larger cache grows a core past coreMemoryLimit: its thread would retire after every task, filters and all.
    // The CLI's --filter-cache says the same words (test/cli-main.test.ts).
    const tooLarge = "filterCacheBytes: must be at most 128 MiB (each thread's DSP core holds its filters and 64 MiB beside them, and past 192 MiB retires its thread after every task, filters and all)";
    expect(() => new TilePool({ threads: 1, filterCacheBytes: 129 * 2 ** 20 })).toThrow(new RangeError(`${tooLarge}, got 129 MiB`));
    expect(() => new TilePool({ threads: 1, filterCacheBytes: Infinity })).toThrow(new RangeError(`${tooLarge}, got Infinity`));
    // Under another coreMemoryLimit, that limit less the 64 MiB.
    expect(() => new TilePool({ threads: 1, coreMemoryLimit: 96 * 2 ** 20, filterCacheBytes: 33 * 2 ** 20 })).toThrow(new RangeError("filterCacheBytes: must be at most 32 MiB (each thread's DSP core holds its filters and 64 MiB beside them, and past 96 MiB retires its thread after every task, filters and all), got 33 MiB"));
    expect(() => new TilePool({ threads: 1, maxQueue: 1.5 })).toThrow(new RangeError("maxQueue: must be an integer ≥ 0, got 1.5"));
    expect(() => new TilePool(null as unknown as PoolOptions)).toThrow(new TypeError("options: must be an object (PoolOptions), got null"));
  });

  it("refuses a task whose parameters are no object, naming params, before it reaches a worker", async () => {
    // They went to the worker, which failed with "Cannot destructure property 'cmap' of … null".
    const pool = new TilePool({ threads: 1 });
    onTestFinished(() => pool.close());
    for (const params of [null, "pcen=false", [1]]) {
      const task = { kind: "stats", path, timeExpansion: 1, params } as unknown as Parameters<TilePool["stats"]>[0];
      await expect(pool.stats(task)).rejects.toThrow(new TypeError(`params: must be an object ({ name: value }, as parseParams returns them), got ${params === null ? "null" : Array.isArray(params) ? "Array of length 1" : 'string "pcen=false"'}`));
    }
    await expect(pool.run(null as unknown as Parameters<TilePool["run"]>[0])).rejects.toThrow(new TypeError("task: must be an object (a WorkerTask), got null"));
    expect((await pool.stats({ kind: "stats", path, timeExpansion: 1, params: parseParams({}) })).stats.frames).toBeGreaterThan(0);
  });

  it("refuses a worker file that is not a file: URL of an existing module, naming workerFile, before it starts a thread", () => {
    expect(() => new TilePool({ workerFile: "test/fault-worker.mjs" as unknown as URL })).toThrow(new TypeError('workerFile: must be a file: URL of a worker module, got string "test/fault-worker.mjs"'));
    expect(() => new TilePool({ workerFile: new URL("https://example.com/worker.js") })).toThrow(new TypeError("workerFile: must be a file: URL of a worker module, got https://example.com/worker.js"));
    const missing = new URL("./no-such-worker.mjs", FAULT_WORKER_URL);
    expect(() => new TileService({ workerFile: missing })).toThrow(new RangeError(`workerFile: no file at ${fileURLToPath(missing)}`));
  });

  it("a crashed worker fails only its own task; the pool goes on", async () => {
    const faulty = new TileService({ threads: 1, workerFile: FAULT_WORKER_URL });
    onTestFinished(() => faulty.close());
    await expect(faulty.pool.run(faultTask({ kind: "crash" }))).rejects.toThrow("worker exited with code: 70");
    const p = parseParams({ window_size: 0.004, pcen: false });
    const t = await faulty.tile(recording, p, 0, 0, tileOptionsSchema.parse({}), "f32");
    expect(t.body.byteLength).toBeGreaterThan(0);
  });
});

describe("position independence", () => {
  it("with PCEN, every tile of zoom 0 at the default width starts on a checkpoint: it reads only the samples of its own frames", async () => {
    const reader = await openAudio(path);
    onTestFinished(() => reader.close());
    // PCEN is the default; the second FFT (8820 points, 4411 bins) holds fewer than 512 frames per engine block.
    for (const params of [{ window_size: 0.004 }, { window_size: 0.4, hop_size: 0.005 }]) {
      const whole = new RecordingSpectrogram(reader, params);
      try {
        await whole.stats();
        const g = whole.geometry;
        const options = tileOptionsSchema.parse({});
        for (const x of [1, 2, 3, 7]) {
          const layout = tileLayout(0, x, whole.frames, g, options);
          // The samples of the tile's frames, read an engine block at a time; a replay from a
          // checkpoint before the tile would read the replayed frames' samples too.
          const step = blockFrames(g);
          let needed = 0;
          for (let a = layout.f0; a < layout.f1; a += step) needed += ((Math.min(layout.f1, a + step) - a - 1) * g.hop + g.nperseg) * 4;
          const before = reader.bytesRead!;
          await tileValues(whole, layout);
          expect(reader.bytesRead! - before, `${g.nperseg}-point FFT, tile ${x}`).toBe(needed);
        }
      } finally {
        whole.dispose();
      }
    }
  });

  it("a piece under parameters that need no stats (dB, no PCEN, no normalization) reads only its frames' samples: no pass over the recording", async () => {
    const reader = await openAudio(path);
    onTestFinished(() => reader.close());
    const free = new RecordingSpectrogram(reader, { pcen: false, normalize: false });
    const normalized = new RecordingSpectrogram(reader, { pcen: false });
    try {
      const g = free.geometry;
      const [f0, f1] = framesInInterval(1, 1.5, free.frames, g);
      let before = reader.bytesRead!;
      const piece = await free.piece(1, 1.5);
      expect(piece.valueRange).toEqual([-100, 0]);
      expect(reader.bytesRead! - before).toBe(((f1 - f0 - 1) * g.hop + g.nperseg) * 4);
      // The same values as with the pass's stats, which these parameters do not read.
      const withStats = new RecordingSpectrogram(reader, { pcen: false, normalize: false });
      onTestFinished(() => withStats.dispose());
      await withStats.stats();
      expect((await withStats.piece(1, 1.5)).data).toEqual(piece.data);
      // Normalization needs the maximum: its pass reads every sample.
      before = reader.bytesRead!;
      await normalized.piece(1, 1.5);
      expect(reader.bytesRead! - before).toBeGreaterThanOrEqual(reader.info.frames * 4);
    } finally {
      free.dispose();
      normalized.dispose();
    }
  });

  it("the stats pass of a long FFT reads at most an engine block's samples at once, though its checkpoints are 512 frames apart", async () => {
    const reader = await openAudio(path);
    let largest = 0;
    const watched: AudioReader = { info: reader.info, read: (channel, start, count, into) => ((largest = Math.max(largest, count)), reader.read(channel, start, count, into)), close: () => reader.close() };
    const whole = new RecordingSpectrogram(watched, { window_size: 0.4, hop_size: 0.005 }); // 8820 points: blocks of 475 frames
    try {
      const stats = await whole.stats();
      const g = whole.geometry;
      expect(blockFrames(g)).toBeLessThan(stats.checkpointEvery);
      expect(largest).toBeLessThanOrEqual((blockFrames(g) - 1) * g.hop + g.nperseg);
    } finally {
      whole.dispose();
      await reader.close();
    }
  });

  it("a tile 9 h into a 10 h recording reads only the bytes of its frames, like a tile at 10 s", async () => {
    // 10 hours of 48 kHz float32 audio: a 6.9 GB RF64 file, sparse (only the header is written).
    const rate = 48000;
    const frames = rate * 36000;
    const long = join(dir, "ten-hours.wav");
    const header = floatWavHeader(frames, 1, rate);
    const file = await open(long, "w");
    await file.write(header);
    await file.close();
    truncateSync(long, header.length + frames * 4);

    const bytesForTileAt = async (seconds: number) => {
      const reader = await openAudio(long);
      const recording = new RecordingSpectrogram(reader, { pcen: false });
      // Stats as the server would have them from the store: no pass over the 10 hours here.
      recording.setStats({ frames: recording.frames, peak: 1, checkpointEvery: 1024, checkpoints: [], checkpointBase: 0 });
      const g = recording.geometry;
      const x = Math.floor((seconds * rate) / g.hop / 512);
      const layout = tileLayout(0, x, recording.frames, g, tileOptionsSchema.parse({ width: 512 }));
      const before = reader.bytesRead!;
      await tileValues(recording, layout);
      const read = reader.bytesRead! - before;
      recording.dispose();
      await reader.close();
      return { read, needed: ((layout.f1 - layout.f0 - 1) * g.hop + g.nperseg) * 4 };
    };
    const late = await bytesForTileAt(9 * 3600);
    const early = await bytesForTileAt(10);
    expect(late.read).toBe(late.needed);
    expect(early.read).toBe(early.needed);
  });
});

describe("the stats a task carries", () => {
  const params = { window_size: 0.005 };
  let reader: AudioReader;
  let whole: RecordingSpectrogram;
  let packed: PackedStats;
  beforeAll(async () => {
    reader = await openAudio(path);
    whole = new RecordingSpectrogram(reader, params);
    packed = packStats(await whole.stats());
    expect(packed.checkpoints.length / packed.bins).toBeGreaterThan(5);
  });
  afterAll(async () => {
    whole.dispose();
    await reader.close();
  });

  /** Frames [a, b) of a piece given only `sliced` equal those of the complete stats. */
  async function expectValuesOfCompleteStats(sliced: PackedStats, a: number, b: number) {
    const piece = new RecordingSpectrogram(reader, params);
    try {
      piece.setStats(unpackStats(sliced, true));
      const [got, expected] = [await piece.frameRange(a, b), await whole.frameRange(a, b)];
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer)), `frames ${a}…${b}`).toBe(true);
    } finally {
      piece.dispose();
    }
  }

  it("a tile's: one PCEN checkpoint, the one its first frame replays from", async () => {
    const every = packed.checkpointEvery;
    for (const f0 of [0, 17, every - 1, every, every + 300, 3 * every, whole.frames - 40]) {
      const sliced = statsForPiece(packed, f0);
      expect(sliced.checkpoints.length, `f0 ${f0}`).toBe(f0 < every ? 0 : packed.bins);
      await expectValuesOfCompleteStats(sliced, f0, Math.min(whole.frames, f0 + 300));
    }
  });

  it("a frameRangeInto lease's: the checkpoints from the one its range's first frame replays from to the one its last frame replays from", async () => {
    const every = packed.checkpointEvery;
    for (const [f0, f1] of [[0, 40], [17, 3 * every + 5], [every + 300, 2 * every], [2 * every - 1, whole.frames]]) {
      const sliced = statsForRange(packed, f0, f1);
      const [c0, c1] = [Math.floor(f0 / every), Math.floor((f1 - 1) / every)];
      expect(sliced.checkpoints.length / packed.bins, `${f0}…${f1}`).toBe(c1 - Math.max(c0, 1) + 1);
      for (const a of [f0, Math.floor((f0 + f1) / 2), f1 - 30]) await expectValuesOfCompleteStats(sliced, a, a + 30);
    }
  });
});

describe("seamless on every fixture recording", () => {
  const fixtures = ["XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav", "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav", "whombat_tests_bats.wav", "batdetect2_20230322_172000_selec2.wav", "batdetect2_contrib_Audiomoth.wav", "batdetect2_contrib_jeff37_0166_20240531_223911.wav"];
  const sets: [string, ParamsInput, number][] = [
    ["Whombat defaults (PCEN), fine hop", { hop_size: 0.1 }, 0.05],
    ["high-pass, no PCEN", { pcen: false, low_freq: 5000, window_size: 0.005 }, 1e-3],
  ];
  for (const name of fixtures) {
    for (const [label, params, tolerance] of sets) {
      it(`${name}: ${label}`, async () => {
        const path = `${FIXTURES}recordings/${name}`;
        const reader = await openAudio(path);
        const fixture: TileRecording = { id: "00000000-0000-0000-0000-000000000002", path, hash: await fileMd5(path), timeExpansion: 1, samplerate: reader.info.samplerate, frames: reader.info.frames, channels: reader.info.channels };
        const whole = await spectrogramOfRecording(reader, params);
        await reader.close();
        const p = parseParams(params);
        const options = tileOptionsSchema.parse({ width: 128 });
        const count = tileCount(whole.frames, 0, 128);
        const tiles = await Promise.all(Array.from({ length: count }, (_, x) => service.tile(fixture, p, 0, x, options, "f32")));
        let worst = 0;
        tiles.forEach((t, x) => {
          const v = bytesToF32(t.body);
          const cols = v.length / whole.bins;
          for (let k = 0; k < whole.bins; k++)
            for (let c = 0; c < cols; c++) worst = Math.max(worst, Math.abs(v[k * cols + c] - whole.data[k * whole.frames + x * 128 + c]));
        });
        expect(count).toBeGreaterThan(1);
        expect(worst).toBeLessThanOrEqual(tolerance);
      });
    }
  }
});

describe("bit for bit", () => {
  /** The zoom-0 f32 tiles of width 128 of the file at `path`, joined, beside the whole recording's spectrogram. */
  async function tilesAndWhole(path: string, id: string, params: Record<string, unknown>) {
    const reader = await openAudio(path);
    const fixture: TileRecording = { id, path, hash: await fileMd5(path), timeExpansion: 1, samplerate: reader.info.samplerate, frames: reader.info.frames, channels: reader.info.channels };
    const whole = await spectrogramOfRecording(reader, params);
    await reader.close();
    const options = tileOptionsSchema.parse({ width: 128 });
    const tiles = await Promise.all(Array.from({ length: tileCount(whole.frames, 0, 128) }, (_, x) => service.tile(fixture, parseParams(params), 0, x, options, "f32")));
    const joined = new Float32Array(whole.bins * whole.frames);
    tiles.forEach((t, x) => {
      const v = bytesToF32(t.body);
      const cols = v.length / whole.bins;
      for (let k = 0; k < whole.bins; k++) joined.set(v.subarray(k * cols, (k + 1) * cols), k * whole.frames + x * 128);
    });
    return { count: tiles.length, joined, whole: whole.data };
  }

  it("a 200 Hz high-pass after resampling 16 → 22.05 kHz: tiles equal the whole recording exactly (one sample one ulp off moved a −82 dB bin by 0.0013 dB)", async () => {
    // The filter's context was long enough for its start-up transient to fall by 1e-12: float64
    // values still ~1e-12 apart, and one of them rounded to another float32 than the whole's.
    const params = { hop_size: 0.05, pcen: false, resample: true, samplerate: 22050, low_freq: 200 };
    const { count, joined, whole } = await tilesAndWhole(`${FIXTURES}formats/aiff_ima_adpcm.aiff`, "00000000-0000-0000-0000-000000000003", params);
    expect(count).toBe(7);
    expect(firstDifference(joined, whole)).toBe(-1);
  });

  it("filter edges near 0 Hz and Nyquist: tiles equal the whole recording exactly (pieces filtered from their own edges rounded a few samples one ulp apart)", async () => {
    // The two float64 filter passes of a piece and of the whole kept differing in their last bits
    // however long the context (poles near the unit circle amplify rounding): a 100 Hz order-10
    // high-pass at 500 kHz, a low-pass 96 Hz below Nyquist. The filter now runs on fixed blocks.
    for (const [file, extra] of [
      ["XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav", { low_freq: 100, filter_order: 10 }],
      ["batdetect2_20230322_172000_selec2.wav", { high_freq: 95904 }],
    ] as const) {
      const params = { pcen: false, clamp: false, normalize: false, ...extra };
      const { count, joined, whole } = await tilesAndWhole(`${FIXTURES}recordings/${file}`, "00000000-0000-0000-0000-000000000009", params);
      expect(count, file).toBeGreaterThan(1);
      expect(firstDifference(joined, whole), file).toBe(-1);
    }
  });
});

describe("tile options", () => {
  it("tell a width far out of range the widths there are (1e308 was told \"must be an integer\")", () => {
    const result = tileOptionsSchema.safeParse({ width: 1e308 });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^must be one of 128, 256/)]);
  });
});

describe("a worker's reader after a tile that failed", () => {
  it("the tiles after it on the same worker equal a fresh worker's (they were served from the samples after the corrupt frame), the ones that read it fail each time", async () => {
    // 60 frames of 4096 samples at 16 kHz (flac_pcm_16.flac's, repeated), a byte of frame 20's
    // audio data changed (samples 81 920–86 015: its CRC-16 fails). A worker keeps its reader from
    // task to task, and reads 65 536-frame blocks: the tiles that need the second block fail, the
    // ones after it do not. The reader kept the cursor whose decoder had dropped the frame, and the
    // next tiles on that worker were read from the frames after it (through the API: 200s 49–55 dB
    // off, under strong ETags).
    const bytes = flacOfFrames(new Uint8Array(readFileSync(join(FIXTURES, "formats/flac_pcm_16.flac"))), 60);
    bytes[flacFrameOffsets(bytes)[20] + 4000] ^= 0x5a;
    const file = join(dir, "spoilt.flac");
    writeFileSync(file, bytes);
    const spoilt: TileRecording = { ...recording, id: "00000000-0000-0000-0000-000000000006", path: file, hash: "6".repeat(32), samplerate: 16000, frames: 59 * 4096 + 3712 };
    const p = parseParams({ window_size: 0.016, pcen: false, normalize: false });
    const options = tileOptionsSchema.parse({ width: 256 });
    const reader = await openAudio(file);
    const frames = new RecordingSpectrogram(reader, p).frames;
    await reader.close();
    const tiles = tileCount(frames, 0, 256);
    /** Tile x's values, or its error's message. */
    const outcome = (service: TileService, x: number) => service.tile(spoilt, p, 0, x, options, "f32").then((t) => bytesToF32(t.body), (err: Error) => err.message);
    const one = new TileService({ threads: 1 });
    onTestFinished(() => one.close());
    const inTurn: (Float32Array | string)[] = [];
    for (let x = 0; x < tiles; x++) inTurn.push(await outcome(one, x));
    expect(inTurn.map((o) => typeof o)).toEqual(["object", "object", "string", "string", "string", "object", "object", "object"]);
    for (let x = 0; x < tiles; x++) {
      const fresh = new TileService({ threads: 1 });
      try {
        expect(inTurn[x], `tile ${x}`).toEqual(await outcome(fresh, x));
      } finally {
        await fresh.close();
      }
    }
  });
});

describe("input failures across the thread boundary", () => {
  it("come back as their own class, message and fields after a structured clone; other errors are not input failures", () => {
    const errors = [new AudioFormatError("truncated"), new SampleValuesError("the samples hold NaN"), new ParamsError([{ field: "hop_size", message: "gives a hop of 0 samples" }])];
    for (const err of errors) {
      const back = fromTaskFailure(structuredClone(toTaskFailure(err)));
      expect(back?.constructor, err.name).toBe(err.constructor);
      expect(back?.message).toBe(err.message);
    }
    expect((fromTaskFailure(structuredClone(toTaskFailure(errors[2]))) as ParamsError).issues).toEqual((errors[2] as ParamsError).issues);
    expect(toTaskFailure(new TypeError("a bug"))).toBeNull();
    expect(fromTaskFailure(new Uint8Array(4))).toBeNull();
  });
});

describe("tiles over the tile work limit, pooled from the overview the stats pass keeps", () => {
  // 35-sample windows 5 samples apart: 105,841 frames of 18 bins. A tile 128 columns wide covers
  // 128 · 2^z frames: at zoom 9 (2 tiles, the last 79 columns) it transforms 2.3·10^6 samples, over
  // a limit of 2^20; at zoom 7 5.7·10^5, within it. The pass (3.7·10^6) is over it: it keeps the overview.
  const base = { window_size: 0.0016, hop_size: 0.135 };
  const LIMIT = 2 ** 20;
  let low: TileService;
  beforeAll(() => {
    low = new TileService({ threads: 2, maxTileSamples: LIMIT });
  });
  afterAll(() => low.close());

  /** The worst difference of `got` from `expected` in dB: as it is for dB values, else where the values are within 60 dB of their peak. */
  function worstDb(got: Float32Array, expected: Float32Array, scale: string): number {
    if (scale === "dB") return maxAbsDiff(got, expected);
    const db = (v: number) => (scale === "power" ? 10 : 20) * Math.log10(Math.max(v, 1e-30));
    const peak = db(expected.reduce((m, v) => Math.max(m, v), 0));
    let worst = 0;
    for (let i = 0; i < expected.length; i++) if (db(expected[i]) > peak - 60) worst = Math.max(worst, Math.abs(db(got[i]) - db(expected[i])));
    return worst;
  }

  it("the pass keeps, per bin, the maximum of every 512 frames before normalization: the one-pass spectrogram's values pooled by 512, with or without PCEN, with engine blocks shorter than 512 frames; the maximum and the checkpoints are those of a pass without it", async () => {
    // 0.4 s windows 441 samples apart: 4411 bins, engine blocks of 475 frames, 1201 frames.
    for (const input of [{ ...base, pcen: false }, base, { window_size: 0.4, hop_size: 0.05 }] as ParamsInput[]) {
      const recordingOf = new RecordingSpectrogram(samplesReader([samples], RATE), input);
      try {
        const [kept, plain] = [await recordingOf.computeStats(undefined, undefined, true), await recordingOf.computeStats()];
        const whole = spectrogram(samples, RATE, { ...input, scale: "power", normalize: false });
        const expected = pooled(whole, OVERVIEW_FACTOR, Array.from({ length: whole.bins + 1 }, (_, k) => k));
        expect(kept.overview!.buffer).toBeInstanceOf(SharedArrayBuffer);
        expect(kept.overview!.length).toBe(whole.bins * Math.ceil(whole.frames / OVERVIEW_FACTOR));
        expect(worstDb(kept.overview!, expected, "power"), JSON.stringify(input)).toBeLessThanOrEqual(1e-4);
        expect([kept.peak, plain.overview]).toEqual([plain.peak, undefined]);
        expect(packStats(kept).checkpoints).toEqual(packStats(plain).checkpoints);
        expect(packStats(kept).overview).toBe(kept.overview);
      } finally {
        recordingOf.dispose();
      }
    }
  });

  const sets: [string, ParamsInput, number][] = [
    ["dB, neither PCEN nor normalized (no pass of its own: it runs one for these tiles)", { ...base, pcen: false, normalize: false }, 1e-3],
    ["PCEN, dB, normalized", base, 0.05],
    ["power, normalized", { ...base, pcen: false, scale: "power" }, 1e-3],
    ["amplitude, not normalized", { ...base, pcen: false, scale: "amplitude", normalize: false }, 1e-3],
    ["clamped dB", { ...base, pcen: false, clamp: true, min_dB: -60, max_dB: -10 }, 1e-3],
  ];
  for (const [name, params, tolerance] of sets) {
    it(`equal the max-pooling of the one-pass spectrogram, the last narrow tile too: ${name}`, async () => {
      const whole = spectrogram(samples, RATE, params);
      const edges = Array.from({ length: whole.bins + 1 }, (_, k) => k);
      for (const z of [9, 10]) {
        const p = parseParams(params);
        const plan = await low.planTile(recording, p, z, 0, tileOptionsSchema.parse({ width: 128 }), "f32");
        expect(plan.task.kind).toBe("overview");
        const joined = await joinedTiles(params, z, 128, {}, low);
        expect([joined.tiles, joined.columns]).toEqual([z === 9 ? 2 : 1, Math.ceil(whole.frames / 2 ** z)]);
        expect(worstDb(joined.data, pooled(whole, 2 ** z, edges), whole.params.scale), `zoom ${z}`).toBeLessThanOrEqual(tolerance);
      }
      // Within the limit, the tiles are the samples' as before.
      expect((await low.planTile(recording, parseParams(params), 7, 0, tileOptionsSchema.parse({ width: 128 }), "f32")).task.kind).toBe("tile");
    });
  }

  it("fmin/fmax crop and height merges bins by maximum, as from the samples", async () => {
    const params = { ...base, pcen: false };
    const whole = spectrogram(samples, RATE, params);
    const binHz = RATE / 35; // 630 Hz
    const band = { fmin: 2000, fmax: 9000, height: 5 };
    expect((await low.planTile(recording, parseParams(params), 9, 0, tileOptionsSchema.parse({ width: 128, ...band }), "f32")).task.kind).toBe("overview");
    const joined = await joinedTiles(params, 9, 128, band, low);
    const k0 = Math.ceil(2000 / binHz), k1 = Math.floor(9000 / binHz) + 1;
    expect([joined.rows, joined.columns]).toEqual([5, Math.ceil(whole.frames / 512)]);
    expect(maxAbsDiff(joined.data, pooled(whole, 512, Array.from({ length: 6 }, (_, r) => k0 + Math.floor((r * (k1 - k0)) / 5))))).toBeLessThanOrEqual(1e-3);
  });

  it("come as png, f32 and npy with the same values, headers and text as a tile from the samples; their ETags are their own", async () => {
    const p = parseParams({ ...base, cmap: "magma" });
    const options = tileOptionsSchema.parse({ width: 128 });
    const [f32, npy, png] = await Promise.all((["f32", "npy", "png"] as const).map((format) => low.tile(recording, p, 9, 1, options, format)));
    const sampled = await service.tile(recording, p, 9, 1, options, "f32"); // the default limit: from the samples
    expect(f32.headers).toEqual({ ...sampled.headers });
    const { frames } = (await low.stats(recording, p)).stats;
    expect([f32.headers["x-frame-range"], f32.headers["x-frames-per-column"], f32.headers["x-shape"]]).toEqual([`65536,${frames}`, "512", `18,${Math.ceil((frames - 65536) / 512)}`]);
    expect(f32.etag).not.toBe(sampled.etag);
    expect(maxAbsDiff(bytesToF32(f32.body), bytesToF32(sampled.body))).toBeLessThanOrEqual(0.05);
    expect(Buffer.from(npy.body.subarray(npy.body.length - f32.body.length)).equals(Buffer.from(f32.body))).toBe(true);
    expect(String.fromCharCode(...npy.body.subarray(1, 6))).toBe("NUMPY");
    expect(f32.headers["x-shape"]).toBe("18,79");
    expect(pngPixelsWrong(f32, png, colormapPalette("magma"))).toBe(0);
  });

  it("a recording that keeps an overview has every tile from zoom 9 up pooled from it, those within the limit too; below zoom 9 they are the samples'", async () => {
    // A limit of 3·10^6: the pass (3.7·10^6) is over it, a tile of zoom 9 128 wide (2.3·10^6) within.
    // Computed from its samples, such a tile at Whombat's defaults at 384 kHz (2.5·10^9 samples at
    // zoom 10, width 256) took 23 s of a loaded core, and the viewer's three side by side failed.
    const between = new TileService({ threads: 1, maxTileSamples: 3e6 });
    onTestFinished(() => between.close());
    const p = parseParams({ ...base, pcen: false });
    const options = tileOptionsSchema.parse({ width: 128 });
    expect((await between.planTile(recording, p, 9, 0, options, "f32")).task.kind).toBe("overview");
    expect((await between.planTile(recording, p, 8, 0, options, "f32")).task.kind).toBe("tile");
    // A recording whose pass is within the limit keeps none: its tiles at zoom 9 are the samples'.
    const high = new TileService({ threads: 1, maxTileSamples: 4e6 });
    onTestFinished(() => high.close());
    expect((await high.planTile(recording, p, 9, 0, options, "f32")).task.kind).toBe("tile");
  });

  it("below zoom 9 a tile over the limit is still refused, naming z, before the stats pass; a stream at zoom 9 is planned", async () => {
    const p = parseParams(base);
    const options = tileOptionsSchema.parse({ width: 128 });
    const computed = low.computed;
    await expect(low.planTile(recording, p, 8, 0, options, "f32")).rejects.toThrow(`z: a tile at zoom 8 would transform ${(32_768 * 35).toExponential(2)} samples (32768 frames of 35); the limit is ${LIMIT.toExponential(2)}: ask for a lower zoom, a narrower width, or a longer hop_size`);
    await expect(low.planStream(recording, p, 8, 0, 5, options, { tiles: 10, pixels: 1 << 20 })).rejects.toThrow(/^z: a tile at zoom 8 would transform/);
    expect(low.computed).toBe(computed);
    expect(await low.planStream(recording, p, 9, 0, 24, options, { tiles: 10, pixels: 1 << 20 })).toMatchObject({ x0: 0, x1: 2 });
  });

  it("parameters that need no pass run one for such a tile, which keeps the overview; a pass within the limit keeps none", async () => {
    const fresh = new TileService({ threads: 2, maxTileSamples: LIMIT });
    onTestFinished(() => fresh.close());
    const passes = countPasses(fresh);
    const p = parseParams({ ...base, pcen: false, normalize: false });
    const options = tileOptionsSchema.parse({ width: 128 });
    await fresh.tile(recording, p, 7, 0, options, "f32");
    expect(passes()).toBe(0);
    const plan = await fresh.planTile(recording, p, 9, 0, options, "f32");
    expect(passes()).toBe(1);
    // The task carries the overview as shared memory, and no checkpoint: a view crosses to the worker, not a copy.
    if (plan.task.kind !== "overview") throw new Error("a tile from the samples");
    expect([plan.task.stats.overview!.buffer instanceof SharedArrayBuffer, plan.task.stats.checkpoints.length]).toEqual([true, 0]);
    expect(statsForRange(plan.task.stats, 0, 100).overview).toBeUndefined();
    expect((await service.stats(recording, parseParams({ ...base, pcen: false }))).stats.overview).toBeUndefined(); // the default limit
    // A pass over the pass limit keeps no overview for them: such a tile is over the tile limit as from the samples, refused naming z.
    const strict = new TileService({ threads: 1, maxTileSamples: LIMIT, maxPassSamples: 2 ** 21 });
    onTestFinished(() => strict.close());
    await expect(strict.planTile(recording, p, 9, 0, options, "f32")).rejects.toThrow(/^z: a tile at zoom 9 would transform 2\.29e\+6 samples \(65536 frames of 35\); the limit is 1\.05e\+6/);
    expect((await strict.planTile(recording, p, 7, 0, options, "f32")).task.kind).toBe("tile");
  });

  it("parameters that need no pass, on a recording over the pass limit, have their tiles within the tile limit from the samples at every zoom, with no pass; PCEN is refused naming hop_size", async () => {
    // The pass (3.7·10^6) over both limits; a zoom-9 tile 128 wide (2.3·10^6) within the tile limit.
    const both = new TileService({ threads: 1, maxTileSamples: 3e6, maxPassSamples: 3.5e6 });
    onTestFinished(() => both.close());
    const passes = countPasses(both);
    const p = parseParams({ ...base, pcen: false, normalize: false });
    const options = tileOptionsSchema.parse({ width: 128 });
    for (const z of [8, 9]) expect((await both.planTile(recording, p, z, 0, options, "f32")).task.kind).toBe("tile");
    const tile = await both.tile(recording, p, 9, 0, options, "f32");
    const sampled = await service.tile(recording, p, 9, 0, options, "f32"); // the default limits: from the samples
    expect([tile.etag, tile.headers["x-shape"], passes()]).toEqual([sampled.etag, sampled.headers["x-shape"], 0]);
    await expect(both.planTile(recording, parseParams(base), 9, 0, options, "f32")).rejects.toThrow(/^hop_size: a pass over this recording would transform 3\.70e\+6 samples/);
  });

  it("one pass for the stats of a recording that keeps an overview, whichever zooms ask for them together (no store)", async () => {
    const fresh = new TileService({ threads: 2, maxTileSamples: LIMIT });
    onTestFinished(() => fresh.close());
    const passes = countPasses(fresh);
    const options = tileOptionsSchema.parse({ width: 128 });
    const p = parseParams(base);
    const [below, from] = await Promise.all([fresh.tile(recording, p, 5, 0, options, "f32"), fresh.tile(recording, p, 9, 0, options, "f32")]);
    expect([below.headers["x-frames-per-column"], from.headers["x-frames-per-column"], passes()]).toEqual(["32", "512", 1]);
  });

  it("the stats kept in memory count their overview", async () => {
    const p = parseParams(base);
    const { stats } = await low.stats(recording, p);
    const entry = stats.checkpoints.byteLength + stats.overview!.byteLength + 1024;
    // Room for it (entry), or none (1 byte): the stats last used stay whatever their size — an entry over the limit was dropped, so every tile read it again.
    for (const bytes of [entry, 1]) {
      const small = new TileService({ threads: 1, maxTileSamples: LIMIT, statsCacheBytes: bytes });
      onTestFinished(() => small.close());
      await small.stats(recording, p);
      await small.stats(recording, p);
      expect([bytes, small.computed]).toEqual([bytes, 1]);
      // Other stats used since take their place: the first are computed again (no store here).
      await small.stats(recording, parseParams({ ...base, pcen: false }));
      await small.stats(recording, p);
      expect([bytes, small.computed]).toEqual([bytes, 3]);
    }
  });

  it("the stats last used, over the limit alone, stay when tiles of parameters that need no pass come between (their frames are kept apart)", async () => {
    const small = new TileService({ threads: 1, maxTileSamples: LIMIT, statsCacheBytes: 1000 });
    onTestFinished(() => small.close());
    const passes = countPasses(small);
    const p = parseParams({ ...base, pcen: false, normalize: false });
    const options = tileOptionsSchema.parse({ width: 128 });
    // Zoom 9 from the overview (its stats some 15 KB, over 1000 bytes), zoom 5 from the samples (its frames alone), zoom 9 again.
    for (const [z, x] of [[9, 0], [5, 0], [9, 1]]) await small.tile(recording, p, z, x, options, "f32");
    expect(passes()).toBe(1);
  });

  it("refuses limits that are no number of samples > 0, naming them, before a thread starts", () => {
    expect(() => new TileService({ maxTileSamples: Number.NaN })).toThrow(/^maxTileSamples: must be a number of samples > 0, got NaN$/);
    expect(() => new TileService({ maxPassSamples: "1e9" as unknown as number })).toThrow(/^maxPassSamples: must be a number of samples > 0, got /);
  });

  it("overviewPooledRange refuses what does not start on an overview column, or stats without an overview, naming them", async () => {
    const { stats } = await low.stats(recording, parseParams(base));
    const edges = Int32Array.from([0, 18]);
    const p = parseParams(base);
    await expect(overviewPooledRange(stats, p, 100, 2000, edges, 512, new Float32Array(4))).rejects.toThrow(/^f0: must be a multiple of 512/);
    await expect(overviewPooledRange(stats, p, 0, 2000, edges, 256, new Float32Array(8))).rejects.toThrow(/^factor: must be a multiple of 512/);
    await expect(overviewPooledRange({ ...stats, overview: undefined }, p, 0, 2000, edges, 512, new Float32Array(4))).rejects.toThrow(/^the stats hold no overview/);
  });
});
