import type { FrameGeometry } from "../engine/geometry.js";

/**
 * The most worker threads a pool takes (TilePool's `threads`, the CLI's `--threads` and
 * `--worker-threads`): a pool starts them all at once, so a typo of 100000 would try to start that
 * many. A module of its own so that the CLI's flag parsing checks it without loading the pool —
 * and the jobs' submission the pass limit below.
 */
export const MAX_THREADS = 1024;

/**
 * Most samples one pass may transform, frames × FFT length (SPEC §10 limits): 2^36, a few minutes
 * of one core. A 10-hour 384 kHz recording at Whombat's defaults needs 2.8·10^10 (4× overlap
 * 5.5·10^10); a hop of one sample over an hour at 48 kHz needed 1.8·10^11 and held a worker for up
 * to the pass's hour-long limit whether or not anyone still waited for it. The tiles' stats pass
 * over a recording (TileServiceOptions.maxPassSamples' default) and a job's item, one target's
 * features (jobs/queue.ts, at submission), are bounded by it; `sonotile extract`, on its user's own
 * machine, is not.
 */
export const MAX_PASS_SAMPLES = 2 ** 36;

/**
 * A pass of `frames` frames of `g` over `limit` samples transformed (frames × FFT length; the
 * limit MAX_PASS_SAMPLES): what it would transform and how the refusals say it — `would transform
 * 3.15e+11 samples (1-sample hops of 250000); the limit is 6.87e+10` —, or undefined within it.
 * One check for a recording's stats pass (the tiles) and a job's targets alike.
 */
export function passOverLimit(frames: number, g: Pick<FrameGeometry, "hop" | "nperseg">, limit: number): { transformed: number; said: string } | undefined {
  const transformed = frames * g.nperseg;
  if (transformed <= limit) return undefined;
  return { transformed, said: `would transform ${transformed.toExponential(2)} samples (${g.hop}-sample hops of ${g.nperseg}); the limit is ${limit.toExponential(2)}` };
}
