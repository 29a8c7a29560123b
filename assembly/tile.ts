// Tile pooling (SPEC §4): a zoomed-out column is the maximum of 2^z frames, so brief calls
// stay visible; a shortened tile row is the maximum of the bins it merges.

/**
 * dst[r][c] = max of src[k][f] over bins k in [edges[r], edges[r+1]) and frames f in
 * [c·factor, min((c+1)·factor, frames)). `src` is [bins][frames] f32, `edges` holds rows + 1
 * ascending i32 bin indices, `dst` is [rows][ceil(frames / factor)] f32.
 */
export function poolMax(src: usize, frames: i32, edges: usize, rows: i32, factor: i32, dst: usize): void {
  const columns = (frames + factor - 1) / factor;
  for (let r = 0; r < rows; r++) {
    const k0 = load<i32>(edges + (<usize>r << 2));
    const k1 = load<i32>(edges + (<usize>(r + 1) << 2));
    const out = dst + ((<usize>r * <usize>columns) << 2);
    for (let c = 0; c < columns; c++) {
      const f0 = c * factor;
      const f1 = min(f0 + factor, frames);
      let m: f32 = -Infinity;
      for (let k = k0; k < k1; k++) {
        const row = src + ((<usize>k * <usize>frames) << 2);
        for (let f = f0; f < f1; f++) m = max(m, load<f32>(row + (<usize>f << 2)));
      }
      store<f32>(out + (<usize>c << 2), m);
    }
  }
}
