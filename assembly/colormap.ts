// Colour indices of SPEC §3.10: value → entry of a 256-colour table.
//
//   v = (x − lo) / (hi − lo), clipped to [0, 1];  index = min(floor(v · 256), 255);  NaN → 0.
//
// The arithmetic is float64 so the index is exactly that of the formula evaluated on the float32
// value (the golden data computes it with numpy in float64): a float32 quotient would move values
// that sit next to a boundary k/256 into the neighbouring colour. ·256 is exact in binary floating
// point, so floor(v·256) has a single rounding, the division's.
//
// Clipping needs no compare: the float→int conversion truncates towards zero and saturates
// (NaN → 0), which for negative v gives ≤ 0, and the saturating narrowings i32 → i16 → u8 clip
// to [0, 255]; v ≥ 1 gives ≥ 256 → 255. So min/max/floor all come from the conversions.

/**
 * Writes the colour index (u8) of each of the `n` float32 values at `values` to `output`.
 * `lo` and `hi` are the values of the first and last colour (hi ≠ lo; hi < lo reverses the map).
 */
export function colorIndex(values: usize, n: i32, lo: f64, hi: f64, output: usize): void {
  const span = hi - lo;
  const vlo = f64x2.splat(lo);
  const vspan = f64x2.splat(span);
  const v256 = f64x2.splat(256.0);
  let i = 0;
  // 16 values per step: four f32x4 loads → eight f64x2 indices → one u8x16 store.
  for (; i + 16 <= n; i += 16) {
    const p = values + (<usize>i << 2);
    const a = quad(v128.load(p), vlo, vspan, v256);
    const b = quad(v128.load(p, 16), vlo, vspan, v256);
    const c = quad(v128.load(p, 32), vlo, vspan, v256);
    const d = quad(v128.load(p, 48), vlo, vspan, v256);
    v128.store(output + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
  }
  for (; i < n; i++) {
    const v = (<f64>load<f32>(values + (<usize>i << 2)) - lo) / span * 256.0;
    // Same rule in scalar form; NaN fails both compares and keeps index 0.
    let k = 0;
    if (v >= 255.0) k = 255;
    else if (v > 0.0) k = <i32>v;
    store<u8>(output + <usize>i, <u8>k);
  }
}

/** Four float32 values → their indices (unclipped, saturated to i32) in the four i32 lanes. */
// @ts-ignore: decorator
@inline function quad(x: v128, lo: v128, span: v128, k256: v128): v128 {
  const low = f64x2.mul(f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(x), lo), span), k256);
  const high = f64x2.mul(f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3)), lo), span), k256);
  // trunc_sat_f64x2_s_zero fills lanes 0,1 and zeroes 2,3; join the two halves.
  return v128.shuffle<i64>(i32x4.trunc_sat_f64x2_s_zero(low), i32x4.trunc_sat_f64x2_s_zero(high), 0, 2);
}
