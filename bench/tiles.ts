/**
 * Tiles and the worker pool (SPEC §9, issue 5/7): cold and cached tile latency, tiles/s with
 * every core busy, pool scaling from 1 to 2 threads, the cost of a tile 9 h into a 10 h
 * recording against one at 10 s, and the process's memory while streaming every tile of a
 * long recording. Drives the TileService directly (the HTTP layer adds routing only).
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAudio } from "../src/audio/index.js";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import { parseParams } from "../src/engine/params.js";
import { RecordingSpectrogram } from "../src/engine/recording.js";
import { tileValues } from "../src/tiles/compute.js";
import { tileCount, tileLayout, tileOptionsSchema } from "../src/tiles/grid.js";
import { TileService, type TileRecording } from "../src/tiles/service.js";
import { median } from "./lib/measure.js";

const RATE = 48000;

/** A recording of `seconds` of calls over noise, written as a float WAV in `dir`. */
function writeRecording(dir: string, seconds: number): TileRecording {
  const x = new Float32Array(RATE * seconds);
  let seed = 1;
  for (let i = 0; i < x.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const t = (i / RATE) % 0.25;
    x[i] = 0.001 * (seed / 2 ** 31 - 0.5) + (t < 0.01 ? 0.5 * Math.sin(2 * Math.PI * (20000 - 1e6 * t) * t) : 0);
  }
  const path = join(dir, `calls-${seconds}s.wav`);
  writeFileSync(path, Buffer.concat([floatWavHeader(x.length, 1, RATE), new Uint8Array(x.buffer)]));
  return { id: "00000000-0000-0000-0000-00000000000" + (seconds % 10), path, hash: String(seconds).padStart(32, "0"), timeExpansion: 1, samplerate: RATE, channels: 1 };
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];
const ms = (v: number) => `${v.toFixed(1)} ms`;

export interface TilesResult {
  coldMs: { p50: number; p99: number };
  cachedMs: { p50: number; p99: number };
  tilesPerSecond: Record<number, number>;
  scaling: number;
  positionMs: { early: number; late: number; ratio: number };
  rssMb: { before: number; peak: number; after: number; tiles: number };
}

/** Tiles per second over `count` distinct tiles with `concurrency` requests in flight. */
async function throughput(service: TileService, recording: TileRecording, count: number, concurrency: number, salt: number): Promise<number> {
  const params = parseParams({ window_size: 0.005 + salt * 1e-6 });
  const { stats } = await service.stats(recording, params);
  const options = tileOptionsSchema.parse({ width: 256 });
  count = Math.min(count, tileCount(stats.frames, 0, 256));
  // Warm-up, not timed: every worker opens the recording and builds its plans once.
  await Promise.all(Array.from({ length: 2 * service.pool.threads }, (_, i) => service.tile(recording, params, 0, count - 1 - i, options, "png")));
  count -= 2 * service.pool.threads;
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await service.tile(recording, params, 0, next++, options, "png");
  }));
  return (count / (performance.now() - start)) * 1000;
}

export async function runTiles(quick: boolean, log: (line: string) => void): Promise<{ lines: string[]; result: TilesResult }> {
  const dir = mkdtempSync(join(tmpdir(), "sonotile-bench-tiles-"));
  try {
    const short = writeRecording(dir, quick ? 60 : 180);
    const params = parseParams({});
    const options = tileOptionsSchema.parse({ width: 512 });

    log("tiles: latency…");
    const service = new TileService({ threads: 2 });
    const { stats } = await service.stats(short, params);
    const count = Math.min(tileCount(stats.frames, 0, 512), 40);
    const cold: number[] = [];
    const cached: number[] = [];
    for (let x = 0; x < count; x++) {
      let t = performance.now();
      await service.tile(short, params, 0, x, options, "png");
      cold.push(performance.now() - t);
      t = performance.now();
      await service.tile(short, params, 0, x, options, "png");
      cached.push(performance.now() - t);
    }

    log("tiles: throughput and pool scaling…");
    const tiles = quick ? 60 : 150;
    const one = new TileService({ threads: 1 });
    const rates: Record<number, number> = {};
    rates[1] = await throughput(one, short, tiles, 4, 1);
    await one.close();
    rates[2] = await throughput(service, short, tiles, 8, 2);

    log("tiles: position independence on a sparse 10 h recording…");
    const long = join(dir, "ten-hours.wav");
    const frames = RATE * 36000;
    const header = floatWavHeader(frames, 1, RATE);
    const file = await open(long, "w");
    await file.write(header);
    await file.close();
    truncateSync(long, header.length + frames * 4);
    // Both recordings' readers and plans are opened once; tiles are timed alternately.
    const tileAt = async (seconds: number) => {
      const reader = await openAudio(long);
      const recording = new RecordingSpectrogram(reader, params);
      // Stats as the store would give them: a checkpoint every 1024 frames (the values do not
      // matter for timing; the replay length does).
      const every = 1024;
      const checkpoints = Array.from({ length: Math.ceil(recording.frames / every) }, (_, i) => (i === 0 ? null : new Float32Array(recording.geometry.bins).fill(1e-6)));
      recording.setStats({ frames: recording.frames, peak: 1, checkpointEvery: every, checkpoints });
      // Not the first tile of its checkpoint block, so both replay PCEN like an ordinary tile.
      const x = Math.floor((seconds * RATE) / recording.geometry.hop / 512) | 1;
      const layout = tileLayout(0, x, recording.frames, recording.geometry, options);
      return {
        async time() {
          const t = performance.now();
          await tileValues(recording, layout);
          return performance.now() - t;
        },
        async close() {
          recording.dispose();
          await reader.close();
        },
      };
    };
    const [earlyTile, lateTile] = [await tileAt(10), await tileAt(9 * 3600)];
    await earlyTile.time();
    await lateTile.time();
    const earlyTimes: number[] = [];
    const lateTimes: number[] = [];
    for (let i = 0; i < 9; i++) {
      earlyTimes.push(await earlyTile.time());
      lateTimes.push(await lateTile.time());
    }
    await earlyTile.close();
    await lateTile.close();
    const early = median(earlyTimes);
    const late = median(lateTimes);

    log("tiles: memory while streaming every tile of a long recording…");
    const hour = writeRecording(dir, quick ? 600 : 1800);
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    global.gc?.();
    const before = rss();
    let peak = before;
    const streamService = new TileService({ threads: 2, cacheBytes: 32 * 2 ** 20 });
    const { stats: longStats } = await streamService.stats(hour, params);
    const total = tileCount(longStats.frames, 0, 512);
    for (let x = 0; x < total; x += 8) {
      await Promise.all(Array.from({ length: Math.min(8, total - x) }, (_, i) => streamService.tile(hour, params, 0, x + i, options, "png")));
      peak = Math.max(peak, rss());
    }
    await streamService.close();
    await service.close();
    const after = rss();

    const result: TilesResult = {
      coldMs: { p50: percentile(cold, 50), p99: percentile(cold, 99) },
      cachedMs: { p50: percentile(cached, 50), p99: percentile(cached, 99) },
      tilesPerSecond: rates,
      scaling: rates[2] / rates[1],
      positionMs: { early, late, ratio: late / early },
      rssMb: { before, peak, after, tiles: total },
    };
    const lines = [
      `Tiles: 48 kHz recording, Whombat defaults (25 ms hann, PCEN, dB), 512-frame PNG tiles (601 × 512 px)`,
      `  cold tile (stats known)   p50 ${ms(result.coldMs.p50)}   p99 ${ms(result.coldMs.p99)}   (${count} tiles)`,
      `  cached tile               p50 ${ms(result.cachedMs.p50)}   p99 ${ms(result.cachedMs.p99)}`,
      `  throughput, 256-frame tiles: 1 thread ${rates[1].toFixed(0)}/s, 2 threads ${rates[2].toFixed(0)}/s → scaling ${result.scaling.toFixed(2)}× (target ≥ 1.8×)`,
      `  tile 9 h into a 10 h recording ${ms(late)} vs a tile at 10 s ${ms(early)} → ${result.positionMs.ratio.toFixed(2)}× (target ≤ 1.2×)`,
      `  RSS streaming all ${total} tiles of a ${quick ? 10 : 30} min recording: ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB peak, ${after.toFixed(0)} MB after`,
    ];
    return { lines, result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
