/**
 * The reduced ratio up/down of a rate conversion (SPEC §3.3, as scipy's resample_poly takes
 * it) and the bound on it. Apart from resample.ts, which needs the WebAssembly core, so that
 * the parameter checks (src/engine/params.ts, also bundled into the viewer) can use it.
 */

/**
 * Largest max(up, down). resample_poly's filter has 20·max(up, down) + 1 taps, designed in
 * float64 and kept (as float32) by every worker thread for as long as it lives. scipy accepts
 * any ratio; a server cannot, since `samplerate` comes from a query string: 312500 → 44101 Hz
 * (up/down 44101/312500) would make one request allocate 75 MB per thread. This bound keeps a
 * filter within ~5 M taps (21 MB of float32) while every rate in common use reduces far below
 * it (384000 → 44100 is 147/1280, 312500 → 44100 is 441/3125).
 */
export const MAX_RATE_FACTOR = 1 << 18;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** up/down in lowest terms, for positive integer rates. */
export function rateRatio(fsIn: number, fsOut: number): { up: number; down: number } {
  const g = gcd(fsOut, fsIn);
  return { up: fsOut / g, down: fsIn / g };
}

/**
 * Samples resample_poly gives for `nIn` input samples at the ratio up/down: ceil(nIn · up / down),
 * in integers — what the engine's conditioned signal holds, and so its frame count.
 */
export function resampledLength(nIn: number, { up, down }: { up: number; down: number }): number {
  return Math.floor((nIn * up + down - 1) / down);
}

/** True when resampling fsIn → fsOut stays within MAX_RATE_FACTOR. */
function ratioWithinLimit(fsIn: number, fsOut: number): boolean {
  const { up, down } = rateRatio(fsIn, fsOut);
  return Math.max(up, down) <= MAX_RATE_FACTOR;
}

/** The rate nearest to `fsOut` (within 1000 Hz) that fsIn converts to within the limit, if any. */
export function nearestWorkableRate(fsIn: number, fsOut: number): number | null {
  for (let step = 1; step <= 1000; step++) {
    for (const rate of [fsOut - step, fsOut + step]) if (rate > 0 && ratioWithinLimit(fsIn, rate)) return rate;
  }
  return null;
}
