// The 4 × 4 transposition of f32 vectors in registers that the kernels use wherever values change
// layout between vectors along one axis and vectors along the other (FFT stages, frame-major rows
// and [bins][frames] columns): two rounds of shuffles, no memory round trip.

/** Stores the transposition of the rows a … d: (a[i], b[i], c[i], d[i]) at y + i·row (bytes), i < 4. */
@inline export function transposeStore(y: usize, row: usize, a: v128, b: v128, c: v128, d: v128): void {
  const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const cd0 = v128.shuffle<f32>(c, d, 0, 4, 1, 5), cd1 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  v128.store(y, v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5));
  v128.store(y + row, v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7));
  v128.store(y + 2 * row, v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5));
  v128.store(y + 3 * row, v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7));
}
