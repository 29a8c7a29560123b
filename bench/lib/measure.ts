/**
 * Timing helpers: medians over interleaved rounds, benchmark.js for short operations, and the
 * machine's state (load average) recorded next to every figure.
 */
import os from "node:os";
import Benchmark from "benchmark";

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The p-th percentile (nearest rank, 0 < p ≤ 100) of `values`: p = 99 of 30 values is the largest. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Seconds taken by `fn()`, with the high-resolution monotonic clock. */
export function timeOnce(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The 1-minute load average, formatted; a 2-core machine is quiet below ~0.3. */
export function loadAverage(): number[] {
  return os.loadavg().map((v) => Math.round(v * 100) / 100);
}

/** The order of `items` for round `r`: rotated by r, so no peer always runs first or last. */
export function rotate<T>(items: readonly T[], r: number): T[] {
  const k = r % Math.max(1, items.length);
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * Operations per second of each function, measured by benchmark.js, interleaved: each round
 * runs every function once (for about `maxTime` s, order rotated per round), and the result is
 * the median over rounds of benchmark.js's mean rate. Interleaving spreads the noise of a
 * shared machine over all peers instead of penalising whichever ran during a busy moment.
 * `external` measures peers that time themselves (a child process): called once per round,
 * before the functions in even rounds and after them in odd ones, it returns their rates by name.
 */
export function interleavedRates(
  fns: Record<string, () => void>, rounds: number, maxTime: number,
  external?: () => Record<string, number>,
): Record<string, { hz: number; rounds: number[] }> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(fns).map((n) => [n, []]));
  const measureExternal = () => {
    for (const [name, hz] of Object.entries(external!())) (samples[name] ??= []).push(hz);
  };
  for (let r = 0; r < rounds; r++) {
    if (external && r % 2 === 0) measureExternal();
    const suite = new Benchmark.Suite();
    for (const name of rotate(Object.keys(fns), r)) suite.add(name, fns[name], { maxTime, minSamples: 5 });
    suite.on("cycle", (event: Benchmark.Event) => {
      const b = event.target as Benchmark.Target & { error?: Error };
      if (b.error) throw b.error;
      samples[b.name!].push(b.hz!);
    });
    suite.run({ async: false });
    if (external && r % 2 === 1) measureExternal();
  }
  return Object.fromEntries(Object.entries(samples).map(([n, s]) => [n, { hz: median(s), rounds: s }]));
}
