// Tile pooling (SPEC §4): a zoomed-out column is the maximum of 2^z frames, so brief calls
// stay visible; a shortened tile row is the maximum of the bins it merges.
import { maxLane } from "./vmath";

/**
 * dst[r][c] = max of src[k][f] over bins k in [edges[r], edges[r+1]) and frames f in
 * [c·factor, min((c+1)·factor, frames)). `src` is [bins][stride] f32 (stride ≥ frames), `edges` holds rows + 1
 * ascending i32 bin indices, `dst` is [rows][ceil(frames / factor)] f32.
 * Four frames per step: at factor 1 four columns at once, otherwise four frames of one column
 * (the lanes folded at its end).
 */
export function poolMax(src: usize, frames: i32, stride: i32, edges: usize, rows: i32, factor: i32, dst: usize): void {
  const columns = (frames + factor - 1) / factor;
  const rowBytes = <usize>stride << 2;
  for (let r = 0; r < rows; r++) {
    const k0 = load<i32>(edges + (<usize>r << 2));
    const k1 = load<i32>(edges + (<usize>(r + 1) << 2));
    const first = src + <usize>k0 * rowBytes, end = src + <usize>k1 * rowBytes;
    const out = dst + ((<usize>r * <usize>columns) << 2);
    if (factor == 1) {
      let f = 0;
      for (; f + 4 <= frames; f += 4) {
        const o = <usize>f << 2;
        let m = f32x4.splat(-Infinity);
        for (let row = first; row < end; row += rowBytes) m = f32x4.max(m, v128.load(row + o));
        v128.store(out + o, m);
      }
      for (; f < frames; f++) {
        const o = <usize>f << 2;
        let m: f32 = -Infinity;
        for (let row = first; row < end; row += rowBytes) m = max(m, load<f32>(row + o));
        store<f32>(out + o, m);
      }
      continue;
    }
    for (let c = 0; c < columns; c++) {
      const f0 = c * factor;
      const f1 = min(f0 + factor, frames);
      let m4 = f32x4.splat(-Infinity);
      let m: f32 = -Infinity;
      for (let row = first; row < end; row += rowBytes) {
        let f = f0;
        for (; f + 4 <= f1; f += 4) m4 = f32x4.max(m4, v128.load(row + (<usize>f << 2)));
        for (; f < f1; f++) m = max(m, load<f32>(row + (<usize>f << 2)));
      }
      m = max(m, maxLane(m4));
      store<f32>(out + (<usize>c << 2), m);
    }
  }
}
