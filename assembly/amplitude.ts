// Normalization, value scales and clamping (SPEC §3.7–3.9), and the layout change from the
// frame-major rows the STFT produces to the [bins][frames] matrices sonotile returns.

export const SCALE_POWER = 0;
export const SCALE_AMPLITUDE = 1;
export const SCALE_DB = 2;

/** Values below this power are shown at its level: 10·log10(1e-10) = −100 dB (SPEC §3.8). */
const DB_FLOOR: f32 = 1e-10;

/** The largest of `n` f32 values at `values` (−Infinity for n = 0). */
export function maxValue(values: usize, n: i32): f32 {
  let best = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) best = f32x4.max(best, v128.load(values + (<usize>i << 2)));
  let m = max(max(f32x4.extract_lane(best, 0), f32x4.extract_lane(best, 1)), max(f32x4.extract_lane(best, 2), f32x4.extract_lane(best, 3)));
  for (; i < n; i++) m = max(m, load<f32>(values + (<usize>i << 2)));
  return m;
}

/**
 * In place: S ← S / divisor (normalization; pass 1 for none), then the value scale
 * (power: S, amplitude: √S, dB: 10·log10(max(S, 1e-10))), then for dB optionally clip to
 * [minDb, maxDb].
 */
export function scaleValues(values: usize, n: i32, divisor: f32, scale: i32, clamp: bool, minDb: f32, maxDb: f32): void {
  const d = f32x4.splat(divisor);
  let i = 0;
  if (scale == SCALE_POWER) {
    for (; i + 4 <= n; i += 4) {
      const p = values + (<usize>i << 2);
      v128.store(p, f32x4.div(v128.load(p), d));
    }
    for (; i < n; i++) store<f32>(values + (<usize>i << 2), load<f32>(values + (<usize>i << 2)) / divisor);
  } else if (scale == SCALE_AMPLITUDE) {
    for (; i + 4 <= n; i += 4) {
      const p = values + (<usize>i << 2);
      v128.store(p, f32x4.sqrt(f32x4.div(v128.load(p), d)));
    }
    for (; i < n; i++) store<f32>(values + (<usize>i << 2), Mathf.sqrt(load<f32>(values + (<usize>i << 2)) / divisor));
  } else {
    for (; i < n; i++) {
      const p = values + (<usize>i << 2);
      let db: f32 = 10 * Mathf.log10(max(load<f32>(p) / divisor, DB_FLOOR));
      if (clamp) db = min(max(db, minDb), maxDb);
      store<f32>(p, db);
    }
  }
}

/** dst[c][r] = src[r][c] for a rows×cols f32 matrix; tiles of 16×16 keep both sides in cache. */
export function transpose(src: usize, rows: i32, cols: i32, dst: usize): void {
  const B = 16;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = min(r0 + B, rows);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = min(c0 + B, cols);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          store<f32>(dst + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(src + ((<usize>r * <usize>cols + <usize>c) << 2)));
        }
      }
    }
  }
}
