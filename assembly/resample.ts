// Polyphase rational resampling: the upfirdn at the heart of scipy.signal.resample_poly
// (SPEC §3.3). With h the FIR filter of length L = 2·halfLen + 1 (already scaled by `up`),
// resample_poly's output sample m is, once its pre-padding and removal cancel out,
//
//   y[m] = Σ_i x[i] · h[m·down + halfLen − i·up],   x = 0 outside the recording,
//
// i.e. the filter centred on input position m·down/up. Splitting h by phase
// φ = (m·down + halfLen) mod up leaves a dot product of K = ceil(L/up) contiguous inputs with
// K taps. Output samples depend only on their own inputs, so any range of them can be
// computed from the matching input range: pieces are exact, not approximations.

/**
 * Output samples [outFrom, outFrom + outCount) of the resampled recording.
 * @param taps up·K f64: for phase φ, taps[φ·K + j] = h[φ + up·(K − 1 − j)] (0 beyond L) —
 *   each phase reversed so that it lines up with ascending input samples
 * @param tapsPerPhase K
 * @param x f32 input samples [xStart, xStart + xLength) of the recording; samples outside it
 *   are zero (the recording's constant padding; the caller supplies every sample it has)
 * @param xStart, outFrom sample indices, passed as f64 (exact integers up to 2^53) so that
 *   JavaScript needs no BigInt; recordings can outgrow i32 indices
 */
export function resamplePoly(taps: usize, up: i32, down: i32, tapsPerPhase: i32, halfLen: i32, x: usize, xStart: f64, xLength: i32, outFrom: f64, outCount: i32, out: usize): void {
  const k = tapsPerPhase;
  const start = <i64>xStart;
  for (let m = 0; m < outCount; m++) {
    const t = (<i64>outFrom + <i64>m) * <i64>down + <i64>halfLen;
    const phase = <i32>(t % <i64>up);
    // Inputs i = t/up − K + 1 … t/up, relative to the buffer.
    const first = t / <i64>up - <i64>(k - 1) - start;
    const h = taps + ((<usize>phase * <usize>k) << 3);
    let acc: f64; // float64 products and sum, rounded once to the float32 output
    if (first >= 0 && first + <i64>k <= <i64>xLength) {
      acc = dot(h, x + (<usize>first << 2), k);
    } else {
      acc = 0; // near the buffer's edges: skip the samples it does not hold
      for (let j = 0; j < k; j++) {
        const i = first + <i64>j;
        if (i >= 0 && i < <i64>xLength) acc += load<f64>(h + (<usize>j << 3)) * <f64>load<f32>(x + (<usize>i << 2));
      }
    }
    store<f32>(out + (<usize>m << 2), <f32>acc);
  }
}

/** Σ a[j]·b[j] in f64 over n f64 taps `a` and f32 samples `b`, four at a time (two f64x2 lanes). */
function dot(a: usize, b: usize, n: i32): f64 {
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const x = v128.load(b + (<usize>j << 2));
    const h = a + (<usize>j << 3);
    lo = f64x2.add(lo, f64x2.mul(v128.load(h), f64x2.promote_low_f32x4(x)));
    hi = f64x2.add(hi, f64x2.mul(v128.load(h, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3))));
  }
  const both = f64x2.add(lo, hi);
  let sum = f64x2.extract_lane(both, 0) + f64x2.extract_lane(both, 1);
  for (; j < n; j++) sum += load<f64>(a + (<usize>j << 3)) * <f64>load<f32>(b + (<usize>j << 2));
  return sum;
}
