/**
 * Pool scaling (issue 7 "all cores"): the STFT power pipeline of bench/stft.ts — 600 s at
 * 48 kHz, N = 1024, hop 512 — computed through the worker pool (src/tiles/pool.ts) the way the
 * server computes pieces: the recording is a float WAV on disk, every task reads the samples
 * of its frames, computes them in the worker's own core instance and transfers them back.
 *
 * The same work runs on a 1-thread and a 2-thread pool, alternately (order rotated per round),
 * each pass with every task submitted at once; the scaling is the median over rounds of
 * (1-thread time) / (2-thread time). Both pools have opened the recording and built their
 * plans in an untimed pass first, as a running server has.
 *
 * The ceiling, in the same rounds: the engine alone — `spectrogram()` of the whole signal into
 * a preallocated output — on 1 thread, and on 2 threads at once (each the whole signal); its
 * throughput scaling is what this machine gives this work, before anything the pool adds.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import { parseParams } from "../src/engine/params.js";
import { statsForPiece } from "../src/engine/recording.js";
import { TilePool } from "../src/tiles/pool.js";
import { loadAverage, median, rotate } from "./lib/measure.js";
import { benchSignal } from "./lib/signal.js";
import { CASES } from "./stft.js";

/** Frames per task: ≈ 10 ms of work at N = 1024, far above the 0.1–0.2 ms dispatch cost. */
const TASK_FRAMES = 4096;

export interface PoolResult {
  frames: number;
  tasks: number;
  /** Median seconds per pass over the whole signal, by thread count. */
  median_s: Record<number, number>;
  /** Seconds of each timed pass, by thread count, one array per round. */
  rounds_s: Record<number, number[][]>;
  scaling: number;
  /** The engine alone on 1 and on 2 threads (each the whole signal): seconds per pass, and 2·t₁/t₂. */
  ceiling: { median_s: Record<number, number>; scaling: number };
  load: number[][];
}

/** `count` threads running lib/engine-thread.mjs over `samples`; `pass()` times one pass on each at once. */
async function engineThreads(count: number, samples: Float32Array, samplerate: number, params: object) {
  const shared = new Float32Array(new SharedArrayBuffer(samples.byteLength));
  shared.set(samples);
  const threads = Array.from({ length: count }, () => new Worker(new URL("./lib/engine-thread.mjs", import.meta.url), { workerData: { samples: shared.buffer, samplerate, params } }));
  const next = (w: Worker) => new Promise<unknown>((resolve, reject) => { w.once("message", resolve); w.once("error", reject); });
  await Promise.all(threads.map(next));
  return {
    /** Wall seconds until every thread has finished one pass. */
    async pass(): Promise<number> {
      const t0 = performance.now();
      await Promise.all(threads.map((w) => { const done = next(w); w.postMessage("go"); return done; }));
      return (performance.now() - t0) / 1000;
    },
    close: () => Promise.all(threads.map((w) => w.terminate())),
  };
}

export async function runPool(opts: { rounds: number; repeats: number }, log: (line: string) => void): Promise<{ lines: string[]; result: PoolResult }> {
  const load = [loadAverage()];
  const c = CASES.stft;
  const signal = benchSignal(c.seconds, c.samplerate);
  const dir = mkdtempSync(join(tmpdir(), "sonotile-bench-pool-"));
  const path = join(dir, "signal.wav");
  writeFileSync(path, Buffer.concat([floatWavHeader(signal.samples.length, 1, signal.samplerate), new Uint8Array(signal.samples.buffer)]));
  const params = parseParams(c.sonotile[0].params);
  const source = { path, timeExpansion: 1, params };
  const threads = [1, 2];
  const pools = threads.map((n) => new TilePool({ threads: n }));
  let engines: Awaited<ReturnType<typeof engineThreads>>[] = [];
  try {
    engines = await Promise.all(threads.map((n) => engineThreads(n, signal.samples, signal.samplerate, c.sonotile[0].params)));
    const { stats, geometry } = await pools[0].stats({ kind: "stats", ...source });
    const tasks: [number, number][] = [];
    for (let f0 = 0; f0 < stats.frames; f0 += TASK_FRAMES) tasks.push([f0, Math.min(stats.frames, f0 + TASK_FRAMES)]);
    const pass = async (pool: TilePool) => {
      const t0 = performance.now();
      const pieces = await Promise.all(tasks.map(([f0, f1]) =>
        pool.run<Uint8Array>({ kind: "piece", ...source, stats: statsForPiece(stats, f0), f0, f1, format: "f32", cmap: params.cmap })));
      const seconds = (performance.now() - t0) / 1000;
      const bytes = pieces.reduce((sum, p) => sum + p.byteLength, 0);
      if (bytes !== 4 * geometry.bins * stats.frames) throw new Error(`pool pass returned ${bytes} bytes, expected ${4 * geometry.bins * stats.frames}`);
      return seconds;
    };
    for (const pool of pools) await pass(pool); // untimed: workers open the recording, build plans
    const rounds: Record<number, number[][]> = { 1: [], 2: [] };
    const engineRounds: Record<number, number[][]> = { 1: [], 2: [] };
    for (let r = 0; r < opts.rounds; r++) {
      for (const i of rotate([0, 1, 2, 3], r)) {
        const times: number[] = [];
        const run = i < 2 ? () => pass(pools[i]) : () => engines[i - 2].pass();
        for (let k = 0; k < opts.repeats; k++) times.push(await run());
        (i < 2 ? rounds : engineRounds)[threads[i % 2]].push(times);
      }
      log(`  pool round ${r + 1}/${opts.rounds}: 1 thread ${median(rounds[1][r]).toFixed(3)}s, 2 threads ${median(rounds[2][r]).toFixed(3)}s; engine alone 1 thread ${median(engineRounds[1][r]).toFixed(3)}s, 2 threads ${median(engineRounds[2][r]).toFixed(3)}s (load ${loadAverage()[0]})`);
    }
    const scaling = median(rounds[1].map((one, r) => median(one) / median(rounds[2][r])));
    const ceiling = median(engineRounds[1].map((one, r) => (2 * median(one)) / median(engineRounds[2][r])));
    const result: PoolResult = {
      frames: stats.frames, tasks: tasks.length,
      median_s: { 1: median(rounds[1].flat()), 2: median(rounds[2].flat()) },
      rounds_s: rounds, scaling,
      ceiling: { median_s: { 1: median(engineRounds[1].flat()), 2: median(engineRounds[2].flat()) }, scaling: ceiling },
      load: [...load, loadAverage()],
    };
    const lines = [
      `Pool scaling: the STFT power pipeline (600 s at 48 kHz, N=1024, hop 512) through the worker pool — ${tasks.length} tasks of ≤ ${TASK_FRAMES} frames read from a float WAV, results transferred`,
      `  1 thread ${result.median_s[1].toFixed(3)} s, 2 threads ${result.median_s[2].toFixed(3)} s → scaling ${scaling.toFixed(2)}× (target ≥ 1.8×; median over rounds of the per-round ratio)`,
      `  ceiling, the engine alone (spectrogram() into a preallocated output, no pool): 1 thread ${result.ceiling.median_s[1].toFixed(3)} s per signal, 2 threads ${result.ceiling.median_s[2].toFixed(3)} s for one signal each → ${ceiling.toFixed(2)}× throughput`,
      `  load average at start ${load[0].join(" ")}, at end ${result.load[1].join(" ")}`,
    ];
    return { lines, result };
  } finally {
    await Promise.all([...pools.map((p) => p.close()), ...engines.map((e) => e.close())]);
    rmSync(dir, { recursive: true, force: true });
  }
}
