// Normalization, value scales and clamping (SPEC §3.7–3.9), and the layout change from the
// frame-major rows the STFT produces to the [bins][frames] matrices sonotile returns.
import { transposeStore } from "./transpose";
import { log2f4 } from "./vmath";

// `scale` codes, the values of SCALE_CODES in src/engine/analysis.ts (keep both the same); any
// other code is dB.
const SCALE_POWER = 0;
const SCALE_AMPLITUDE = 1;

/** Values below this power are shown at its level: 10·log10(1e-10) = −100 dB (SPEC §3.8). */
const DB_FLOOR: f32 = 1e-10;

/** DB_FLOOR and 10·log10 2 (10·log10 x = log2 x · 10·log10 2), loaded rather than inlined (see assembly/vmath.ts). */
const DB_CONSTANTS = memory.data<f32>([DB_FLOOR, 3.010299956639812]);

/**
 * In place: S ← S / divisor (normalization; pass 1 for none), then the value scale
 * (power: S, amplitude: √S, dB: 10·log10(max(S, 1e-10))), then for dB optionally clip to
 * [minDb, maxDb].
 */
export function scaleValues(values: usize, n: i32, divisor: f32, scale: i32, clamp: bool, minDb: f32, maxDb: f32): void {
  if (divisor == 1) scaleRow(false, values, n, divisor, scale, clamp, minDb, maxDb);
  else scaleRow(true, values, n, divisor, scale, clamp, minDb, maxDb);
}

/** `scaleValues`, with the division by the divisor (`divide`, a constant at each call: see `finish`). */
@inline function scaleRow(divide: bool, values: usize, n: i32, divisor: f32, scale: i32, clamp: bool, minDb: f32, maxDb: f32): void {
  const d = f32x4.splat(divisor), lo = f32x4.splat(minDb), hi = f32x4.splat(maxDb);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = values + (<usize>i << 2);
    v128.store(p, finish(divide, scale, v128.load(p), d, clamp, lo, hi));
  }
  for (; i < n; i++) {
    const p = values + (<usize>i << 2);
    store<f32>(p, f32x4.extract_lane(finish(divide, scale, f32x4.splat(load<f32>(p)), d, clamp, lo, hi), 0));
  }
}

/** `scaleValues` on columns [0, cols) of each of `rows` rows of `stride` f32 at `values`: a chunk of frames of a [bins][frames] block. */
export function scaleColumns(values: usize, rows: i32, cols: i32, stride: i32, divisor: f32, scale: i32, clamp: bool, minDb: f32, maxDb: f32): void {
  for (let r = 0; r < rows; r++) scaleValues(values + ((<usize>r * <usize>stride) << 2), cols, divisor, scale, clamp, minDb, maxDb);
}

/**
 * SPEC §3.7–3.9 on four values: divide by `d` if `divide`, scale, clamp dB to [lo, hi] if `clamp`.
 * `scale` is tested per vector (a well-predicted branch): binaryen folds copies of a loop
 * specialised per scale back into one. `divide` is a constant in each copy of the calling loop:
 * without normalization the divisor is 1, and dividing by it changes no bit but costs a division
 * per vector on the divider the logarithm needs too — a test per vector instead made the
 * undivided paths slower (bench/PERFORMANCE.md).
 */
@inline function finish(divide: bool, scale: i32, v: v128, d: v128, clamp: bool, lo: v128, hi: v128): v128 {
  if (divide) v = f32x4.div(v, d);
  if (scale == SCALE_POWER) return v;
  if (scale == SCALE_AMPLITUDE) return f32x4.sqrt(v);
  const db = f32x4.mul(log2f4(f32x4.pmax(v, v128.load32_splat(DB_CONSTANTS))), v128.load32_splat(DB_CONSTANTS, 4));
  return clamp ? f32x4.pmin(f32x4.pmax(db, lo), hi) : db;
}

/**
 * Destination rows (bins) one pass of scaleTranspose writes: each gets 16 bytes per four source
 * rows, so a cache line of it is filled over four visits and must stay in L1 meanwhile. Eight
 * lines fit in one L1 set whatever the destination stride. Walking all the bins per four source
 * rows instead kept 513 lines live, and when the stride was a multiple of 2 KB — blocks of
 * 512·k frames, i.e. every zoom-0 tile and every checkpoint-aligned block — those fell into a few
 * sets of L1 and L2 and were evicted between visits: the layout change took 3–4× as long
 * (bench/PERFORMANCE.md).
 */
const TRANSPOSE_BINS = 8;

/**
 * dst[c·dstStride + r] = finish(src[r][c]) for a rows×cols f32 matrix (dstStride ≥ rows): the
 * layout change from frame-major STFT rows to [bins][frames], here into columns of a wider
 * matrix, with scaleValues' divide / scale / clamp applied on the way (power and divisor 1 leave
 * the values unchanged). 4×4 blocks are transposed in registers, TRANSPOSE_BINS columns of the
 * source (destination rows) at a time down all its rows.
 */
export function scaleTranspose(src: usize, rows: i32, cols: i32, dst: usize, dstStride: i32, divisor: f32, scale: i32, clamp: bool, minDb: f32, maxDb: f32): void {
  if (divisor == 1) transpose(false, src, rows, cols, dst, dstStride, divisor, scale, clamp, minDb, maxDb);
  else transpose(true, src, rows, cols, dst, dstStride, divisor, scale, clamp, minDb, maxDb);
}

/** `scaleTranspose`, with the division by the divisor (`divide`, a constant at each call: see `finish`). */
@inline function transpose(divide: bool, src: usize, rows: i32, cols: i32, dst: usize, dstStride: i32, divisor: f32, scale: i32, clamp: bool, minDb: f32, maxDb: f32): void {
  const d = f32x4.splat(divisor), lo = f32x4.splat(minDb), hi = f32x4.splat(maxDb);
  const rowBytes = <usize>cols << 2, colBytes = <usize>dstStride << 2;
  const wholeRows = rows & ~3, wholeCols = cols & ~3;
  for (let c0 = 0; c0 < wholeCols; c0 += TRANSPOSE_BINS) {
    const c1 = min(wholeCols, c0 + TRANSPOSE_BINS);
    for (let r = 0; r < wholeRows; r += 4) {
      const s = src + <usize>r * rowBytes, t = dst + (<usize>r << 2);
      for (let c = c0; c < c1; c += 4) {
        const a = finish(divide, scale, v128.load(s + (<usize>c << 2)), d, clamp, lo, hi);
        const b = finish(divide, scale, v128.load(s + rowBytes + (<usize>c << 2)), d, clamp, lo, hi);
        const e = finish(divide, scale, v128.load(s + 2 * rowBytes + (<usize>c << 2)), d, clamp, lo, hi);
        const f = finish(divide, scale, v128.load(s + 3 * rowBytes + (<usize>c << 2)), d, clamp, lo, hi);
        transposeStore(t + <usize>c * colBytes, colBytes, a, b, e, f);
      }
    }
  }
  // The last columns (cols mod 4): one gathered column of four rows each.
  for (let r = 0; r < wholeRows; r += 4) {
    const s = src + <usize>r * rowBytes, t = dst + (<usize>r << 2);
    for (let c = wholeCols; c < cols; c++) {
      const p = s + (<usize>c << 2);
      const v = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(p)), 1, load<f32>(p + rowBytes)), 2, load<f32>(p + 2 * rowBytes)), 3, load<f32>(p + 3 * rowBytes));
      v128.store(t + <usize>c * colBytes, finish(divide, scale, v, d, clamp, lo, hi));
    }
  }
  // The last rows (rows mod 4): four bins of a row finished together, a lane to each destination
  // row, then the last bins one at a time. A chunk of 27 frames, as at 4801 bins, has 3 such rows;
  // finishing them one value at a time made its layout change 13–26 % slower (bench/PERFORMANCE.md).
  for (let r = wholeRows; r < rows; r++) {
    const s = src + <usize>r * rowBytes, t = dst + (<usize>r << 2);
    let c = 0;
    for (; c < wholeCols; c += 4) {
      const v = finish(divide, scale, v128.load(s + (<usize>c << 2)), d, clamp, lo, hi);
      const o = t + <usize>c * colBytes;
      v128.store32_lane(o, v, 0);
      v128.store32_lane(o + colBytes, v, 1);
      v128.store32_lane(o + 2 * colBytes, v, 2);
      v128.store32_lane(o + 3 * colBytes, v, 3);
    }
    for (; c < cols; c++) {
      const v = finish(divide, scale, f32x4.splat(load<f32>(s + (<usize>c << 2))), d, clamp, lo, hi);
      store<f32>(t + <usize>c * colBytes, f32x4.extract_lane(v, 0));
    }
  }
}
