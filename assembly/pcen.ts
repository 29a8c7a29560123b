// Per-channel energy normalization (SPEC §3.6; Wang et al., "Trainable frontend for robust
// and far-field keyword spotting", ICASSP 2017, eq. 1–2):
//   M[t] = (1 − s)·M[t−1] + s·S[t]
//   P[t] = bias^power · expm1(power · log1p(S[t] · (eps + M[t])^(−gain) / bias))
// The expm1/log1p form equals (S/(eps+M)^gain + bias)^power − bias^power without the
// cancellation that form suffers for small S.
//
// The smoother state M (one value per bin) lives with the caller, so a recording can be
// processed in blocks — or resumed from a checkpoint — with the result of one pass.
//
// Two layouts, the same arithmetic on every value (so the same bits): frame-major rows
// (`pcenApply`, after the one-frame-at-a-time STFT), where four neighbouring bins — four
// independent smoothers — share an f32x4, and [bins][frames] columns (`pcenColumns`, after the
// four-frame STFT kernel). Either way three passes run over a row of values: the smoother, the
// gain, the compression. Short loops of independent vectors let the processor overlap them
// (these loops are latency-bound: two passes instead of one measured 24 → 9 ns per value,
// together with keeping subnormals out of the polynomials; one fused pass over the columns took
// 1.3× as long as these three).
import { transposeStore } from "./transpose";
import { exp2f4, expm1f4, log1pf4, log2f4, maxLane } from "./vmath";

/**
 * M[k] = S[0][k]: the steady state on the first frame (SPEC: M[−1] = S[0], no bright onset), bin k
 * of that frame at spectrum + 4·k·binStride — 1 for a frame-major row, the row stride for columns.
 */
export function pcenInitState(spectrum: usize, bins: i32, binStride: i32, state: usize): void {
  for (let k = 0; k < bins; k++) store<f32>(state + (<usize>k << 2), load<f32>(spectrum + ((<usize>k * <usize>binStride) << 2)));
}

/**
 * Applies PCEN in place to `frames` frame-major rows of `bins` values at `spectrum`, carrying
 * the smoother `state` (bins f32) from the previous block and leaving it at the last frame.
 * Returns the largest PCEN value written (−Infinity if none), the block's normalization peak.
 */
export function pcenApply(spectrum: usize, frames: i32, bins: i32, state: usize, smooth: f64, gain: f32, bias: f32, power: f32, eps: f32): f32 {
  const c = constants.set(smooth, gain, bias, power, eps);
  let peak = f32x4.splat(-Infinity);
  for (let t = 0; t < frames; t++) {
    const row = spectrum + ((<usize>t * <usize>bins) << 2);
    smoothRow(row, bins, state, c);
    peak = finishRow(row, state, bins, c, peak);
  }
  return maxLane(peak);
}

/**
 * `pcenApply` on columns [0, frames) of the [bins][stride] matrix at `block` (bin k's row at
 * block + 4·k·stride), the layout the four-frame STFT kernel writes: no frame-major rows and no
 * layout change. Eight bins' rows at a time (then four, then the last ones singly): the smoother
 * runs along them on 4 × 4 blocks transposed in registers, so that a vector holds four bins of one
 * frame as in `pcenApply`, and writes M into rows of scratch; the gain and the compression then
 * run along each row.
 */
export function pcenColumns(block: usize, frames: i32, bins: i32, stride: i32, state: usize, smooth: f64, gain: f32, bias: f32, power: f32, eps: f32): f32 {
  const c = constants.set(smooth, gain, bias, power, eps);
  const rowBytes = <usize>stride << 2, smootherBytes = <usize>frames << 2;
  const smoother = heap.alloc(smootherBytes << 3);
  let peak = f32x4.splat(-Infinity);
  for (let k = 0; k < bins;) {
    const row = block + <usize>k * rowBytes, q = state + (<usize>k << 2);
    const rows = bins - k >= 8 ? 8 : bins - k >= 4 ? 4 : bins - k;
    if (rows == 8) smoothColumns(true, row, rowBytes, frames, q, smoother, c);
    else if (rows == 4) smoothColumns(false, row, rowBytes, frames, q, smoother, c);
    else for (let r = 0; r < rows; r++) smoothColumn(row + <usize>r * rowBytes, frames, q + (<usize>r << 2), smoother + <usize>r * smootherBytes, c);
    for (let r = 0; r < rows; r++) peak = finishRow(row + <usize>r * rowBytes, smoother + <usize>r * smootherBytes, frames, c, peak);
    k += rows;
  }
  heap.free(smoother);
  return maxLane(peak);
}

/** PCEN's parameters as the kernels use them, splat once per call. */
@final class PcenConstants {
  smooth: v128 = v128.splat<f32>(0);
  keep: v128 = v128.splat<f32>(0);
  eps: v128 = v128.splat<f32>(0);
  negGain: v128 = v128.splat<f32>(0);
  invBias: v128 = v128.splat<f32>(0);
  power: v128 = v128.splat<f32>(0);
  /** bias^power */
  offset: v128 = v128.splat<f32>(0);
  /** power is 0.5, the default (see compress). */
  sqrt: bool = false;
  /**
   * `smooth` comes as f64 so that 1 − s is formed before rounding: from an f32 s near 1 it was
   * off by up to half an f32 ulp of 1 relative to itself (0.999999 → 1.0133e-6, 1.3 %), and P of
   * a quiet frame after a loud one with it.
   */
  set(smooth: f64, gain: f32, bias: f32, power: f32, eps: f32): PcenConstants {
    this.smooth = f32x4.splat(<f32>smooth);
    this.keep = f32x4.splat(<f32>(1 - smooth));
    this.eps = f32x4.splat(eps);
    this.negGain = f32x4.splat(-gain);
    this.invBias = f32x4.splat(1 / bias);
    this.power = f32x4.splat(power);
    this.offset = f32x4.splat(Mathf.pow(bias, power));
    this.sqrt = power == 0.5;
    return this;
  }
}

/** One instance, set at each call: the core allocates nothing per call (its runtime never collects). */
const constants = new PcenConstants();

/** One step of the smoother: (1 − s)·M[t−1] + s·S[t], `keep` = 1 − s. */
@inline function smoothed(m: v128, x: v128, c: PcenConstants): v128 {
  return f32x4.add(f32x4.mul(c.keep, m), f32x4.mul(c.smooth, x));
}

/** Frame-major: the smoother `state` (one per bin) steps to the frame at `row`. */
@inline function smoothRow(row: usize, bins: i32, state: usize, c: PcenConstants): void {
  let k = 0;
  for (; k + 4 <= bins; k += 4) {
    const q = state + (<usize>k << 2);
    v128.store(q, smoothed(v128.load(q), v128.load(row + (<usize>k << 2)), c));
  }
  for (; k < bins; k++) {
    const q = state + (<usize>k << 2);
    store<f32>(q, f32x4.extract_lane(smoothed(f32x4.splat(load<f32>(q)), f32x4.splat(load<f32>(row + (<usize>k << 2))), c), 0));
  }
}

/**
 * Columns: the smoothers of four bins (state at `q`), or with `pair` of eight, along `frames`
 * columns of their rows, `rowBytes` apart from `row`; M written to as many rows of `frames` f32
 * at `smoother`. Each step of a smoother waits for the previous one's multiply and add, so one
 * group of four alone runs at the latency of that chain; a pair's two chains overlap.
 */
@inline function smoothColumns(pair: bool, row: usize, rowBytes: usize, frames: i32, q: usize, smoother: usize, c: PcenConstants): void {
  const mBytes = <usize>frames << 2;
  let m = v128.load(q), m2 = pair ? v128.load(q, 16) : m;
  let t = 0;
  for (; t + 4 <= frames; t += 4) {
    const p = row + (<usize>t << 2), o = smoother + (<usize>t << 2);
    m = smoothBlock(p, rowBytes, m, o, mBytes, c);
    if (pair) m2 = smoothBlock(p + 4 * rowBytes, rowBytes, m2, o + 4 * mBytes, mBytes, c);
  }
  for (; t < frames; t++) {
    const p = row + (<usize>t << 2), o = smoother + (<usize>t << 2);
    m = smoothFrame(p, rowBytes, m, o, mBytes, c);
    if (pair) m2 = smoothFrame(p + 4 * rowBytes, rowBytes, m2, o + 4 * mBytes, mBytes, c);
  }
  v128.store(q, m);
  if (pair) v128.store(q, m2, 16);
}

/**
 * Four smoother steps of four bins from state `m` on the 4 × 4 block at `p` (rows `rowBytes`
 * apart: bins; columns: frames), transposed in registers so that a vector holds four bins of one
 * frame; M written back transposed to four rows `mBytes` apart at `o`. Returns the last M.
 */
@inline function smoothBlock(p: usize, rowBytes: usize, m: v128, o: usize, mBytes: usize, c: PcenConstants): v128 {
  // Rows (bins k … k+3, frames t … t+3) → frames (bins in lanes).
  const a = v128.load(p), b = v128.load(p + rowBytes), cc = v128.load(p + 2 * rowBytes), d = v128.load(p + 3 * rowBytes);
  const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const cd0 = v128.shuffle<f32>(cc, d, 0, 4, 1, 5), cd1 = v128.shuffle<f32>(cc, d, 2, 6, 3, 7);
  const m0 = smoothed(m, v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5), c);
  const m1 = smoothed(m0, v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7), c);
  const m2 = smoothed(m1, v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5), c);
  const m3 = smoothed(m2, v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7), c);
  transposeStore(o, mBytes, m0, m1, m2, m3); // frames → rows
  return m3;
}

/** One smoother step of four bins from `m` on the column at `p` (a lane gathered per row), M stored a lane per row at `o`. */
@inline function smoothFrame(p: usize, rowBytes: usize, m: v128, o: usize, mBytes: usize, c: PcenConstants): v128 {
  m = smoothed(m, f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(p)), 1, load<f32>(p + rowBytes)), 2, load<f32>(p + 2 * rowBytes)), 3, load<f32>(p + 3 * rowBytes)), c);
  v128.store32_lane(o, m, 0);
  v128.store32_lane(o + mBytes, m, 1);
  v128.store32_lane(o + 2 * mBytes, m, 2);
  v128.store32_lane(o + 3 * mBytes, m, 3);
  return m;
}

/** Columns, one of the last bins (bins mod 4): its smoother (state at `q`) along its row, M to `smoother`. */
@inline function smoothColumn(row: usize, frames: i32, q: usize, smoother: usize, c: PcenConstants): void {
  let m = f32x4.splat(load<f32>(q));
  for (let t = 0; t < frames; t++) {
    m = smoothed(m, f32x4.splat(load<f32>(row + (<usize>t << 2))), c);
    store<f32>(smoother + (<usize>t << 2), f32x4.extract_lane(m, 0));
  }
  store<f32>(q, f32x4.extract_lane(m, 0));
}

/**
 * The gain and the compression along `n` values at `row`, M for each at the same index of `m`;
 * returns max(peak, values written) lane-wise. `c.sqrt` is tested once, here, so that each
 * compression loop is specialised.
 */
@inline function finishRow(row: usize, m: usize, n: i32, c: PcenConstants, peak: v128): v128 {
  gainRow(row, m, n, c);
  return c.sqrt ? compressRow(true, row, n, c, peak) : compressRow(false, row, n, c, peak);
}

/**
 * S ← S · (eps + M)^(−gain) / bias along `n` values, the power as 2^(−gain · log2(eps + M)).
 * The last values (n mod 4) go one at a time through the same arithmetic in every lane.
 */
@inline function gainRow(row: usize, m: usize, n: i32, c: PcenConstants): void {
  const e = c.eps, negGain = c.negGain, invBias = c.invBias;
  let k = 0;
  // Sixteen values per step, four independent vectors interleaved stage by stage (four logs, then
  // four exps): V8 emits instructions in source order, and this gives the processor four chains
  // to overlap. Two vectors per step measured 12 % faster than one, four 7–9 % faster than two,
  // eight no faster than four (bench/PERFORMANCE.md).
  for (; k + 16 <= n; k += 16) {
    const p = row + (<usize>k << 2), q = m + (<usize>k << 2);
    const l = log2f4(f32x4.add(e, v128.load(q))), l2 = log2f4(f32x4.add(e, v128.load(q, 16)));
    const l3 = log2f4(f32x4.add(e, v128.load(q, 32))), l4 = log2f4(f32x4.add(e, v128.load(q, 48)));
    const g = exp2f4(f32x4.mul(negGain, l)), g2 = exp2f4(f32x4.mul(negGain, l2));
    const g3 = exp2f4(f32x4.mul(negGain, l3)), g4 = exp2f4(f32x4.mul(negGain, l4));
    v128.store(p, gained(v128.load(p), g, invBias));
    v128.store(p, gained(v128.load(p, 16), g2, invBias), 16);
    v128.store(p, gained(v128.load(p, 32), g3, invBias), 32);
    v128.store(p, gained(v128.load(p, 48), g4, invBias), 48);
  }
  for (; k + 4 <= n; k += 4) {
    const p = row + (<usize>k << 2);
    v128.store(p, gained(v128.load(p), exp2f4(f32x4.mul(negGain, log2f4(f32x4.add(e, v128.load(m + (<usize>k << 2)))))), invBias));
  }
  for (; k < n; k++) {
    const p = row + (<usize>k << 2);
    const g = exp2f4(f32x4.mul(negGain, log2f4(f32x4.add(e, f32x4.splat(load<f32>(m + (<usize>k << 2)))))));
    store<f32>(p, f32x4.extract_lane(gained(f32x4.splat(load<f32>(p)), g, invBias), 0));
  }
}

/** S · g / bias, g = (eps + M)^(−gain). */
@inline function gained(x: v128, g: v128, invBias: v128): v128 {
  return f32x4.mul(f32x4.mul(x, g), invBias);
}

/**
 * S ← bias^power · expm1(power · log1p(S)) along `n` values (after gainRow); returns max(peak, values) lane-wise.
 * `sqrt` (a constant at each call): power is 0.5, the default, where expm1(log1p(a)/2) = √(1+a) − 1
 * = a / (√(1+a) + 1) exactly — a square root and a division instead of a logarithm and an
 * exponential, and no cancellation for small a.
 */
@inline function compressRow(sqrt: bool, row: usize, n: i32, c: PcenConstants, peak: v128): v128 {
  const power = c.power, offset = c.offset;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = row + (<usize>k << 2);
    const y = f32x4.mul(offset, compress(sqrt, v128.load(p), power));
    v128.store(p, y);
    peak = f32x4.pmax(peak, y);
  }
  for (; k < n; k++) {
    const p = row + (<usize>k << 2);
    const y = f32x4.mul(offset, compress(sqrt, f32x4.splat(load<f32>(p)), power));
    store<f32>(p, f32x4.extract_lane(y, 0));
    peak = f32x4.pmax(peak, y);
  }
  return peak;
}

@inline function compress(sqrt: bool, a: v128, power: v128): v128 {
  if (sqrt) return f32x4.div(a, f32x4.add(f32x4.sqrt(f32x4.add(a, f32x4.splat(1))), f32x4.splat(1)));
  return expm1f4(f32x4.mul(power, log1pf4(a)));
}
