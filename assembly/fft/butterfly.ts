// Radix-P butterflies of the Stockham complex FFT (assembly/fft/stockham.ts), forward direction
// (e^{-2πi jk/P}), on split re/im arrays, four butterflies per call in the lanes of an f32x4.
//
// One butterfly reads a_r = x[r·is] (r < P), computes the P-point DFT
//     Y_k = Σ_r a_r · e^{-2πi rk/P}
// and writes Y_0 and Y_k · w_k (k ≥ 1, w_k the stage twiddle at tw[(k-1)·ts]) to y[k·os].
// Every argument is a byte offset or pointer; `mode` (a constant at every call site, so the
// optimiser folds each variant into straight-line code) says what the four lanes are:
//   VEC       4 neighbouring butterflies whose data are contiguous (Stockham stride s ≥ 4): plain
//             v128 loads/stores, one twiddle shared by all lanes (splat).
//   VEC_NOTW  the same in a stage whose twiddles are all 1 (the last stage): no multiply.
//   PVEC      4 neighbouring butterflies of the first stage (s = 1): inputs and twiddles
//             contiguous, but outputs P floats apart: radix 4 and 8 transpose them into whole
//             vectors, the other radices store each result lane alone.
//   PACKED    PVEC reading the packed real input of assembly/fft.ts: complex a_j = x[2j] + i·x[2j+1],
//             xr = xi = &x[2j] and strides doubled; re/im lanes are split out of two loads.
//   ONE       a single butterfly in lane 0 (tiny stages).
// Kernels are Van Loan's radix-P DFT matrices factored by the symmetry e^{-2πi(P-r)k/P} =
// conj(e^{-2πi rk/P}): sums t_r = a_r + a_{P-r} meet cosines, differences d_r = a_r - a_{P-r} sines.

import { transposeStore } from "../transpose";

export const VEC: i32 = 0;
export const VEC_NOTW: i32 = 1;
export const PVEC: i32 = 2;
export const ONE: i32 = 3;
export const PACKED: i32 = 4;

// The butterflies' constants, read with load32_splat: an inline f32x4.splat(constant) becomes a
// v128.const, which V8 (x64) rebuilds from two 64-bit immediates at every use inside a loop.
// 1/√2, sin(2π/3), 1/2, cos/sin(2π/5), cos/sin(4π/5), cos/sin(2πj/7) for j = 1, 2, 3
const SQRT_HALF = 0, S3 = 1, HALF = 2, C51 = 3, S51 = 4, C52 = 5, S52 = 6;
const C71 = 7, S71 = 8, C72 = 9, S72 = 10, C73 = 11, S73 = 12;
const CONSTANTS = memory.data<f32>([
  0.7071067811865476, 0.8660254037844386, 0.5,
  0.30901699437494745, 0.9510565162951535, -0.8090169943749475, 0.5877852522924731,
  0.6234898018587336, 0.7818314824680298, -0.22252093395631434, 0.9749279121818236, -0.900968867902419, 0.43388373911755823,
]);

@inline function k(i: i32): v128 {
  return v128.load32_splat(CONSTANTS + (<usize>i << 2));
}

/** Outputs of neighbouring lanes are scattered (first stage). */
@inline function scattered(mode: i32): bool {
  return mode == PVEC || mode == PACKED;
}

/** Real parts of a_r (or, for PACKED, x[2j], x[2j+2], x[2j+4], x[2j+6]). */
@inline function ldr(ptr: usize, mode: i32): v128 {
  if (mode == PACKED) return v128.shuffle<f32>(v128.load(ptr), v128.load(ptr, 16), 0, 2, 4, 6);
  return mode == ONE ? v128.load32_zero(ptr) : v128.load(ptr);
}

/** Imaginary parts of a_r (or, for PACKED, the odd samples x[2j+1] …). */
@inline function ldi(ptr: usize, mode: i32): v128 {
  if (mode == PACKED) return v128.shuffle<f32>(v128.load(ptr), v128.load(ptr, 16), 1, 3, 5, 7);
  return mode == ONE ? v128.load32_zero(ptr) : v128.load(ptr);
}

@inline function ldTw(ptr: usize, mode: i32): v128 {
  return scattered(mode) ? v128.load(ptr) : v128.load32_splat(ptr);
}

@inline function st(ptr: usize, v: v128, ls: usize, mode: i32): void {
  if (scattered(mode)) {
    v128.store32_lane(ptr, v, 0);
    v128.store32_lane(ptr + ls, v, 1);
    v128.store32_lane(ptr + 2 * ls, v, 2);
    v128.store32_lane(ptr + 3 * ls, v, 3);
  } else if (mode == ONE) {
    v128.store32_lane(ptr, v, 0);
  } else {
    v128.store(ptr, v);
  }
}

/** Stores Y_0 (never twiddled) at offset 0. */
@inline function put0(yr: usize, yi: usize, re: v128, im: v128, ls: usize, mode: i32): void {
  st(yr, re, ls, mode);
  st(yi, im, ls, mode);
}

/** Stores (re + i·im) · w at offset `off`, w read at byte offset `toff` of the twiddle tables. */
@inline function put(yr: usize, yi: usize, off: usize, re: v128, im: v128, twr: usize, twi: usize, toff: usize, ls: usize, mode: i32): void {
  if (mode == VEC_NOTW) {
    st(yr + off, re, ls, mode);
    st(yi + off, im, ls, mode);
  } else {
    const wr = ldTw(twr + toff, mode);
    const wi = ldTw(twi + toff, mode);
    st(yr + off, cmulRe(re, im, wr, wi), ls, mode);
    st(yi + off, cmulIm(re, im, wr, wi), ls, mode);
  }
}

@inline export function radix2(xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, mode: i32): void {
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode);
  const a1r = ldr(xr + is, mode), a1i = ldi(xi + is, mode);
  put0(yr, yi, f32x4.add(a0r, a1r), f32x4.add(a0i, a1i), ls, mode);
  put(yr, yi, os, f32x4.sub(a0r, a1r), f32x4.sub(a0i, a1i), twr, twi, 0, ls, mode);
}

@inline export function radix3(xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, mode: i32): void {
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode);
  const a1r = ldr(xr + is, mode), a1i = ldi(xi + is, mode);
  const a2r = ldr(xr + 2 * is, mode), a2i = ldi(xi + 2 * is, mode);
  const tr = f32x4.add(a1r, a2r), ti = f32x4.add(a1i, a2i);
  const dr = f32x4.mul(f32x4.sub(a1r, a2r), k(S3));
  const di = f32x4.mul(f32x4.sub(a1i, a2i), k(S3));
  // Y_1,2 = a0 - t/2 ∓ i·sin(2π/3)·d
  const mr = f32x4.sub(a0r, f32x4.mul(tr, k(HALF)));
  const mi = f32x4.sub(a0i, f32x4.mul(ti, k(HALF)));
  put0(yr, yi, f32x4.add(a0r, tr), f32x4.add(a0i, ti), ls, mode);
  put(yr, yi, os, f32x4.add(mr, di), f32x4.sub(mi, dr), twr, twi, 0, ls, mode);
  put(yr, yi, 2 * os, f32x4.sub(mr, di), f32x4.add(mi, dr), twr, twi, ts, ls, mode);
}

@inline export function radix4(xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, mode: i32): void {
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode);
  const a1r = ldr(xr + is, mode), a1i = ldi(xi + is, mode);
  const a2r = ldr(xr + 2 * is, mode), a2i = ldi(xi + 2 * is, mode);
  const a3r = ldr(xr + 3 * is, mode), a3i = ldi(xi + 3 * is, mode);
  const t0r = f32x4.add(a0r, a2r), t0i = f32x4.add(a0i, a2i);
  const t1r = f32x4.sub(a0r, a2r), t1i = f32x4.sub(a0i, a2i);
  const t2r = f32x4.add(a1r, a3r), t2i = f32x4.add(a1i, a3i);
  const t3r = f32x4.sub(a1r, a3r), t3i = f32x4.sub(a1i, a3i);
  // Y_0 = t0 + t2, Y_1 = t1 - i·t3, Y_2 = t0 - t2, Y_3 = t1 + i·t3
  if (scattered(mode)) {
    // The four outputs of butterfly p are the 4 consecutive floats y[4p … 4p+3]: a 4×4 transpose
    // turns the k-major results into p-major rows, stored whole instead of lane by lane.
    const w1r = v128.load(twr), w1i = v128.load(twi);
    const w2r = v128.load(twr + ts), w2i = v128.load(twi + ts);
    const w3r = v128.load(twr + 2 * ts), w3i = v128.load(twi + 2 * ts);
    const y1r = f32x4.add(t1r, t3i), y1i = f32x4.sub(t1i, t3r);
    const y2r = f32x4.sub(t0r, t2r), y2i = f32x4.sub(t0i, t2i);
    const y3r = f32x4.sub(t1r, t3i), y3i = f32x4.add(t1i, t3r);
    transposeStore(yr, 16, f32x4.add(t0r, t2r), cmulRe(y1r, y1i, w1r, w1i), cmulRe(y2r, y2i, w2r, w2i), cmulRe(y3r, y3i, w3r, w3i));
    transposeStore(yi, 16, f32x4.add(t0i, t2i), cmulIm(y1r, y1i, w1r, w1i), cmulIm(y2r, y2i, w2r, w2i), cmulIm(y3r, y3i, w3r, w3i));
    return;
  }
  put0(yr, yi, f32x4.add(t0r, t2r), f32x4.add(t0i, t2i), ls, mode);
  put(yr, yi, os, f32x4.add(t1r, t3i), f32x4.sub(t1i, t3r), twr, twi, 0, ls, mode);
  put(yr, yi, 2 * os, f32x4.sub(t0r, t2r), f32x4.sub(t0i, t2i), twr, twi, ts, ls, mode);
  put(yr, yi, 3 * os, f32x4.sub(t1r, t3i), f32x4.add(t1i, t3r), twr, twi, 2 * ts, ls, mode);
}

@inline function cmulRe(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return f32x4.sub(f32x4.mul(ar, br), f32x4.mul(ai, bi));
}

@inline function cmulIm(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return f32x4.add(f32x4.mul(ar, bi), f32x4.mul(ai, br));
}

/**
 * Radix 8 as a radix-2 step on pairs (a_r, a_{r+4}), the differences turned by W_8^r, then two
 * radix-4 DFTs: Y_{2k} = DFT4(a_r + a_{r+4})_k, Y_{2k+1} = DFT4((a_r - a_{r+4})·W_8^r)_k.
 */
@inline export function radix8(xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, mode: i32): void {
  const h = k(SQRT_HALF);
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode), a4r = ldr(xr + 4 * is, mode), a4i = ldi(xi + 4 * is, mode);
  const a1r = ldr(xr + is, mode), a1i = ldi(xi + is, mode), a5r = ldr(xr + 5 * is, mode), a5i = ldi(xi + 5 * is, mode);
  const a2r = ldr(xr + 2 * is, mode), a2i = ldi(xi + 2 * is, mode), a6r = ldr(xr + 6 * is, mode), a6i = ldi(xi + 6 * is, mode);
  const a3r = ldr(xr + 3 * is, mode), a3i = ldi(xi + 3 * is, mode), a7r = ldr(xr + 7 * is, mode), a7i = ldi(xi + 7 * is, mode);
  const b0r = f32x4.add(a0r, a4r), b0i = f32x4.add(a0i, a4i), c0r = f32x4.sub(a0r, a4r), c0i = f32x4.sub(a0i, a4i);
  const b1r = f32x4.add(a1r, a5r), b1i = f32x4.add(a1i, a5i), d1r = f32x4.sub(a1r, a5r), d1i = f32x4.sub(a1i, a5i);
  const b2r = f32x4.add(a2r, a6r), b2i = f32x4.add(a2i, a6i), d2r = f32x4.sub(a2r, a6r), d2i = f32x4.sub(a2i, a6i);
  const b3r = f32x4.add(a3r, a7r), b3i = f32x4.add(a3i, a7i), d3r = f32x4.sub(a3r, a7r), d3i = f32x4.sub(a3i, a7i);
  // W_8 = (1 - i)/√2, W_8² = -i, W_8³ = (-1 - i)/√2. c_r = d_r·W_8^r, except that the imaginary
  // parts of c_2 = d2i − i·d2r and c_3 are kept negated (n2i, n3i) and subtracted where they are
  // added: x64 has no vector negation, and V8 builds the sign mask anew for every f32x4.neg.
  const c1r = f32x4.mul(f32x4.add(d1r, d1i), h), c1i = f32x4.mul(f32x4.sub(d1i, d1r), h);
  const c2r = d2i, n2i = d2r;
  const c3r = f32x4.mul(f32x4.sub(d3i, d3r), h), n3i = f32x4.mul(f32x4.add(d3r, d3i), h);
  // DFT4 of b → Y_0, Y_2, Y_4, Y_6; DFT4 of c → Y_1, Y_3, Y_5, Y_7
  const t0r = f32x4.add(b0r, b2r), t0i = f32x4.add(b0i, b2i), t1r = f32x4.sub(b0r, b2r), t1i = f32x4.sub(b0i, b2i);
  const t2r = f32x4.add(b1r, b3r), t2i = f32x4.add(b1i, b3i), t3r = f32x4.sub(b1r, b3r), t3i = f32x4.sub(b1i, b3i);
  const u0r = f32x4.add(c0r, c2r), u0i = f32x4.sub(c0i, n2i), u1r = f32x4.sub(c0r, c2r), u1i = f32x4.add(c0i, n2i);
  const u2r = f32x4.add(c1r, c3r), u2i = f32x4.sub(c1i, n3i), u3r = f32x4.sub(c1r, c3r), u3i = f32x4.add(c1i, n3i);
  const y0r = f32x4.add(t0r, t2r), y0i = f32x4.add(t0i, t2i);
  const y1r = f32x4.add(u0r, u2r), y1i = f32x4.add(u0i, u2i);
  const y2r = f32x4.add(t1r, t3i), y2i = f32x4.sub(t1i, t3r);
  const y3r = f32x4.add(u1r, u3i), y3i = f32x4.sub(u1i, u3r);
  const y4r = f32x4.sub(t0r, t2r), y4i = f32x4.sub(t0i, t2i);
  const y5r = f32x4.sub(u0r, u2r), y5i = f32x4.sub(u0i, u2i);
  const y6r = f32x4.sub(t1r, t3i), y6i = f32x4.add(t1i, t3r);
  const y7r = f32x4.sub(u1r, u3i), y7i = f32x4.add(u1i, u3r);
  if (scattered(mode)) {
    // Butterfly p's eight outputs are y[8p … 8p+7]: two 4×4 transposes, rows 32 bytes apart.
    const w1r = v128.load(twr), w1i = v128.load(twi), w2r = v128.load(twr + ts), w2i = v128.load(twi + ts);
    const w3r = v128.load(twr + 2 * ts), w3i = v128.load(twi + 2 * ts), w4r = v128.load(twr + 3 * ts), w4i = v128.load(twi + 3 * ts);
    const w5r = v128.load(twr + 4 * ts), w5i = v128.load(twi + 4 * ts), w6r = v128.load(twr + 5 * ts), w6i = v128.load(twi + 5 * ts);
    const w7r = v128.load(twr + 6 * ts), w7i = v128.load(twi + 6 * ts);
    transposeStore(yr, 32, y0r, cmulRe(y1r, y1i, w1r, w1i), cmulRe(y2r, y2i, w2r, w2i), cmulRe(y3r, y3i, w3r, w3i));
    transposeStore(yr + 16, 32, cmulRe(y4r, y4i, w4r, w4i), cmulRe(y5r, y5i, w5r, w5i), cmulRe(y6r, y6i, w6r, w6i), cmulRe(y7r, y7i, w7r, w7i));
    transposeStore(yi, 32, y0i, cmulIm(y1r, y1i, w1r, w1i), cmulIm(y2r, y2i, w2r, w2i), cmulIm(y3r, y3i, w3r, w3i));
    transposeStore(yi + 16, 32, cmulIm(y4r, y4i, w4r, w4i), cmulIm(y5r, y5i, w5r, w5i), cmulIm(y6r, y6i, w6r, w6i), cmulIm(y7r, y7i, w7r, w7i));
    return;
  }
  put0(yr, yi, y0r, y0i, ls, mode);
  put(yr, yi, os, y1r, y1i, twr, twi, 0, ls, mode);
  put(yr, yi, 2 * os, y2r, y2i, twr, twi, ts, ls, mode);
  put(yr, yi, 3 * os, y3r, y3i, twr, twi, 2 * ts, ls, mode);
  put(yr, yi, 4 * os, y4r, y4i, twr, twi, 3 * ts, ls, mode);
  put(yr, yi, 5 * os, y5r, y5i, twr, twi, 4 * ts, ls, mode);
  put(yr, yi, 6 * os, y6r, y6i, twr, twi, 5 * ts, ls, mode);
  put(yr, yi, 7 * os, y7r, y7i, twr, twi, 6 * ts, ls, mode);
}

@inline export function radix5(xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, mode: i32): void {
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode);
  const a1r = ldr(xr + is, mode), a1i = ldi(xi + is, mode);
  const a2r = ldr(xr + 2 * is, mode), a2i = ldi(xi + 2 * is, mode);
  const a3r = ldr(xr + 3 * is, mode), a3i = ldi(xi + 3 * is, mode);
  const a4r = ldr(xr + 4 * is, mode), a4i = ldi(xi + 4 * is, mode);
  const t1r = f32x4.add(a1r, a4r), t1i = f32x4.add(a1i, a4i);
  const d1r = f32x4.sub(a1r, a4r), d1i = f32x4.sub(a1i, a4i);
  const t2r = f32x4.add(a2r, a3r), t2i = f32x4.add(a2i, a3i);
  const d2r = f32x4.sub(a2r, a3r), d2i = f32x4.sub(a2i, a3i);
  const c1 = k(C51), c2 = k(C52), s1 = k(S51), s2 = k(S52);
  // A_k = a0 + Σ t_r cos(2π rk/5), B_k = Σ d_r sin(2π rk/5); Y_k = A_k - i·B_k, Y_{5-k} = A_k + i·B_k
  const A1r = f32x4.add(a0r, f32x4.add(f32x4.mul(t1r, c1), f32x4.mul(t2r, c2)));
  const A1i = f32x4.add(a0i, f32x4.add(f32x4.mul(t1i, c1), f32x4.mul(t2i, c2)));
  const B1r = f32x4.add(f32x4.mul(d1r, s1), f32x4.mul(d2r, s2));
  const B1i = f32x4.add(f32x4.mul(d1i, s1), f32x4.mul(d2i, s2));
  const A2r = f32x4.add(a0r, f32x4.add(f32x4.mul(t1r, c2), f32x4.mul(t2r, c1)));
  const A2i = f32x4.add(a0i, f32x4.add(f32x4.mul(t1i, c2), f32x4.mul(t2i, c1)));
  const B2r = f32x4.sub(f32x4.mul(d1r, s2), f32x4.mul(d2r, s1));
  const B2i = f32x4.sub(f32x4.mul(d1i, s2), f32x4.mul(d2i, s1));
  put0(yr, yi, f32x4.add(a0r, f32x4.add(t1r, t2r)), f32x4.add(a0i, f32x4.add(t1i, t2i)), ls, mode);
  put(yr, yi, os, f32x4.add(A1r, B1i), f32x4.sub(A1i, B1r), twr, twi, 0, ls, mode);
  put(yr, yi, 4 * os, f32x4.sub(A1r, B1i), f32x4.add(A1i, B1r), twr, twi, 3 * ts, ls, mode);
  put(yr, yi, 2 * os, f32x4.add(A2r, B2i), f32x4.sub(A2i, B2r), twr, twi, ts, ls, mode);
  put(yr, yi, 3 * os, f32x4.sub(A2r, B2i), f32x4.add(A2i, B2r), twr, twi, 2 * ts, ls, mode);
}

/** Radix 7 as radix5: Y_k = A_k − i·B_k, Y_{7−k} = A_k + i·B_k, rk reduced mod 7 in the constants. */
@inline export function radix7(xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, mode: i32): void {
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode);
  const a1r = ldr(xr + is, mode), a1i = ldi(xi + is, mode);
  const a6r = ldr(xr + 6 * is, mode), a6i = ldi(xi + 6 * is, mode);
  const t1r = f32x4.add(a1r, a6r), t1i = f32x4.add(a1i, a6i);
  const d1r = f32x4.sub(a1r, a6r), d1i = f32x4.sub(a1i, a6i);
  const a2r = ldr(xr + 2 * is, mode), a2i = ldi(xi + 2 * is, mode);
  const a5r = ldr(xr + 5 * is, mode), a5i = ldi(xi + 5 * is, mode);
  const t2r = f32x4.add(a2r, a5r), t2i = f32x4.add(a2i, a5i);
  const d2r = f32x4.sub(a2r, a5r), d2i = f32x4.sub(a2i, a5i);
  const a3r = ldr(xr + 3 * is, mode), a3i = ldi(xi + 3 * is, mode);
  const a4r = ldr(xr + 4 * is, mode), a4i = ldi(xi + 4 * is, mode);
  const t3r = f32x4.add(a3r, a4r), t3i = f32x4.add(a3i, a4i);
  const d3r = f32x4.sub(a3r, a4r), d3i = f32x4.sub(a3i, a4i);
  put0(yr, yi, f32x4.add(a0r, f32x4.add(t1r, f32x4.add(t2r, t3r))), f32x4.add(a0i, f32x4.add(t1i, f32x4.add(t2i, t3i))), ls, mode);
  // A_k = a0 + Σ t_r cos(2π rk/7), B_k = Σ d_r sin(2π rk/7); cos(2πj/7) = cos(2π(7−j)/7),
  // sin(2πj/7) = −sin(2π(7−j)/7) fold rk mod 7 ∈ {4, 5, 6} onto c_3, c_2, c_1 and −s_3, −s_2, −s_1.
  const c1 = k(C71), c2 = k(C72), c3 = k(C73);
  const A1r = f32x4.add(a0r, f32x4.add(f32x4.add(f32x4.mul(t1r, c1), f32x4.mul(t2r, c2)), f32x4.mul(t3r, c3)));
  const A1i = f32x4.add(a0i, f32x4.add(f32x4.add(f32x4.mul(t1i, c1), f32x4.mul(t2i, c2)), f32x4.mul(t3i, c3)));
  const A2r = f32x4.add(a0r, f32x4.add(f32x4.add(f32x4.mul(t1r, c2), f32x4.mul(t2r, c3)), f32x4.mul(t3r, c1)));
  const A2i = f32x4.add(a0i, f32x4.add(f32x4.add(f32x4.mul(t1i, c2), f32x4.mul(t2i, c3)), f32x4.mul(t3i, c1)));
  const A3r = f32x4.add(a0r, f32x4.add(f32x4.add(f32x4.mul(t1r, c3), f32x4.mul(t2r, c1)), f32x4.mul(t3r, c2)));
  const A3i = f32x4.add(a0i, f32x4.add(f32x4.add(f32x4.mul(t1i, c3), f32x4.mul(t2i, c1)), f32x4.mul(t3i, c2)));
  const s1 = k(S71), s2 = k(S72), s3 = k(S73);
  const B1r = f32x4.add(f32x4.add(f32x4.mul(d1r, s1), f32x4.mul(d2r, s2)), f32x4.mul(d3r, s3));
  const B1i = f32x4.add(f32x4.add(f32x4.mul(d1i, s1), f32x4.mul(d2i, s2)), f32x4.mul(d3i, s3));
  const B2r = f32x4.sub(f32x4.sub(f32x4.mul(d1r, s2), f32x4.mul(d2r, s3)), f32x4.mul(d3r, s1));
  const B2i = f32x4.sub(f32x4.sub(f32x4.mul(d1i, s2), f32x4.mul(d2i, s3)), f32x4.mul(d3i, s1));
  const B3r = f32x4.add(f32x4.sub(f32x4.mul(d1r, s3), f32x4.mul(d2r, s1)), f32x4.mul(d3r, s2));
  const B3i = f32x4.add(f32x4.sub(f32x4.mul(d1i, s3), f32x4.mul(d2i, s1)), f32x4.mul(d3i, s2));
  put(yr, yi, os, f32x4.add(A1r, B1i), f32x4.sub(A1i, B1r), twr, twi, 0, ls, mode);
  put(yr, yi, 6 * os, f32x4.sub(A1r, B1i), f32x4.add(A1i, B1r), twr, twi, 5 * ts, ls, mode);
  put(yr, yi, 2 * os, f32x4.add(A2r, B2i), f32x4.sub(A2i, B2r), twr, twi, ts, ls, mode);
  put(yr, yi, 5 * os, f32x4.sub(A2r, B2i), f32x4.add(A2i, B2r), twr, twi, 4 * ts, ls, mode);
  put(yr, yi, 3 * os, f32x4.add(A3r, B3i), f32x4.sub(A3i, B3r), twr, twi, 2 * ts, ls, mode);
  put(yr, yi, 4 * os, f32x4.sub(A3r, B3i), f32x4.add(A3i, B3r), twr, twi, 3 * ts, ls, mode);
}

/**
 * Any odd radix P (11 … MAX_RADIX), O(P²/2) per butterfly:
 *     Y_0 = a_0 + Σ t_r,   Y_k = A_k − i·B_k,   Y_{P−k} = A_k + i·B_k   (1 ≤ k ≤ h = (P−1)/2)
 *     A_k = a_0 + Σ_r t_r cos(2π rk/P),   B_k = Σ_r d_r sin(2π rk/P)
 * with t_r = a_r + a_{P−r}, d_r = a_r − a_{P−r} (r = 1 … h). Scratch layout (vectors of 4 lanes):
 * t_r, d_r (re, im each) per r; then A_k, B_k per k (oddSums); then, in scattered modes, the P
 * twiddled outputs Y_k, re then im, before they are transposed into y.
 */
@inline export function radixOdd(P: i32, xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, trig: usize, scratch: usize, mode: i32): void {
  const h = P >> 1;
  const a0r = ldr(xr, mode), a0i = ldi(xi, mode);
  let sr = a0r, si = a0i;
  for (let r = 1; r <= h; r++) {
    let ar: v128, ai: v128, br: v128, bi: v128;
    if (mode == PACKED) {
      // ldr and ldi would each load the same two vectors (V8 does not merge the loads)
      const u = xr + <usize>r * is, w = xr + <usize>(P - r) * is;
      const u0 = v128.load(u), u1 = v128.load(u, 16), w0 = v128.load(w), w1 = v128.load(w, 16);
      ar = v128.shuffle<f32>(u0, u1, 0, 2, 4, 6);
      ai = v128.shuffle<f32>(u0, u1, 1, 3, 5, 7);
      br = v128.shuffle<f32>(w0, w1, 0, 2, 4, 6);
      bi = v128.shuffle<f32>(w0, w1, 1, 3, 5, 7);
    } else {
      ar = ldr(xr + <usize>r * is, mode);
      ai = ldi(xi + <usize>r * is, mode);
      br = ldr(xr + <usize>(P - r) * is, mode);
      bi = ldi(xi + <usize>(P - r) * is, mode);
    }
    const tr = f32x4.add(ar, br), ti = f32x4.add(ai, bi);
    sr = f32x4.add(sr, tr);
    si = f32x4.add(si, ti);
    const v = scratch + (<usize>(r - 1) << 6);
    v128.store(v, tr);
    v128.store(v, ti, 16);
    v128.store(v, f32x4.sub(ar, br), 32);
    v128.store(v, f32x4.sub(ai, bi), 48);
  }
  oddSums(h, a0r, a0i, trig, scratch);
  let k = 1;
  const sums = scratch + (<usize>h << 6);
  if (!scattered(mode)) {
    put0(yr, yi, sr, si, ls, mode);
    for (k = 1; k <= h; k++) {
      const v = sums + (<usize>(k - 1) << 6);
      const Ar = v128.load(v), Ai = v128.load(v, 16), Br = v128.load(v, 32), Bi = v128.load(v, 48);
      put(yr, yi, <usize>k * os, f32x4.add(Ar, Bi), f32x4.sub(Ai, Br), twr, twi, <usize>(k - 1) * ts, ls, mode);
      put(yr, yi, <usize>(P - k) * os, f32x4.sub(Ar, Bi), f32x4.add(Ai, Br), twr, twi, <usize>(P - k - 1) * ts, ls, mode);
    }
    return;
  }
  // Butterfly p's outputs are the P consecutive floats y[P·p …]: the twiddled Y_k go to scratch
  // (k-major), then 4×4 transposes store four k of one p as one vector (the last group overlaps
  // the one before when 4 ∤ P) instead of 2P·4 single-lane stores.
  const out = sums + (<usize>h << 6), im = <usize>P << 4;
  v128.store(out, sr);
  v128.store(out + im, si);
  for (k = 1; k <= h; k++) {
    const v = sums + (<usize>(k - 1) << 6);
    const Ar = v128.load(v), Ai = v128.load(v, 16), Br = v128.load(v, 32), Bi = v128.load(v, 48);
    keepTwiddled(out + (<usize>k << 4), im, f32x4.add(Ar, Bi), f32x4.sub(Ai, Br), twr + <usize>(k - 1) * ts, twi + <usize>(k - 1) * ts);
    keepTwiddled(out + (<usize>(P - k) << 4), im, f32x4.sub(Ar, Bi), f32x4.add(Ai, Br), twr + <usize>(P - k - 1) * ts, twi + <usize>(P - k - 1) * ts);
  }
  let kq = 0;
  while (true) {
    if (kq + 4 > P) kq = P - 4;
    const o = out + (<usize>kq << 4);
    transposeStore(yr + (<usize>kq << 2), ls, v128.load(o), v128.load(o, 16), v128.load(o, 32), v128.load(o, 48));
    transposeStore(yi + (<usize>kq << 2), ls, v128.load(o + im), v128.load(o + im, 16), v128.load(o + im, 32), v128.load(o + im, 48));
    kq += 4;
    if (kq >= P) break;
  }
}

/** Stores (re + i·im)·w at `o` (re) and o + im (im), w the four lanes' twiddles at twr, twi. */
@inline function keepTwiddled(o: usize, im: usize, re: v128, imv: v128, twr: usize, twi: usize): void {
  const wr = v128.load(twr), wi = v128.load(twi);
  v128.store(o, cmulRe(re, imv, wr, wi));
  v128.store(o + im, cmulIm(re, imv, wr, wi));
}

/**
 * All A_k, B_k of radixOdd (k = 1 … h), four k at a time, then the last 1 … 3. They do not depend
 * on the mode: out of line, they are compiled once, not once per mode (inlined in all five, the
 * optimiser took 10 minutes over them), and called once per butterfly (once per group of four k
 * measured 5–13 % slower).
 */
function oddSums(h: i32, a0r: v128, a0i: v128, trig: usize, scratch: usize): void {
  let k = 1;
  for (; k + 3 <= h; k += 4) oddSumsOf(4, h, k, a0r, a0i, trig, scratch);
  const n = h + 1 - k;
  if (n == 3) oddSumsOf(3, h, k, a0r, a0i, trig, scratch);
  else if (n == 2) oddSumsOf(2, h, k, a0r, a0i, trig, scratch);
  else if (n == 1) oddSumsOf(1, h, k, a0r, a0i, trig, scratch);
}

/**
 * A_k and B_k of radixOdd for the G (≤ 4, a constant at every call) values k = k0 … k0+G−1,
 * from the t_r, d_r in `scratch`, stored after them. A and B apart, four k at a time: each
 * t_r (or d_r) loaded once feeds 8 multiply-adds and 8 accumulators stay in registers (A and B
 * of four k together would be 16: spills, as two k per pass over A and B together did). `trig`
 * holds cos(2π rk/P) as an h×h table [r-1][k-1], then the sines likewise: the inner loop walks
 * one pointer, no rk mod P.
 */
@inline function oddSumsOf(G: i32, h: i32, k0: i32, a0r: v128, a0i: v128, trig: usize, scratch: usize): void {
  const row = <usize>h << 2; // between r and r + 1 in the tables
  const end = scratch + (<usize>h << 6); // the t_r, d_r end here; the A_k, B_k follow
  const tab = trig + (<usize>(k0 - 1) << 2);
  const o = end + (<usize>(k0 - 1) << 6);
  oddSumPass(G, 0, a0r, a0i, tab, row, scratch, end, o); // A_k = a_0 + Σ t_r cos
  const zero = f32x4.splat(0);
  oddSumPass(G, 32, zero, zero, tab + <usize>h * row, row, scratch, end, o); // B_k = Σ d_r sin
}

/**
 * One pass of oddSumsOf: p_j = init + Σ_r x_r · table[r][j] for j < G, x_r the (re, im) vector
 * pair at byte `at` of scratch entry r (t_r at 0, d_r at 32), table rows `row` bytes apart; p_j
 * stored at o + 64·j + at.
 */
@inline function oddSumPass(G: i32, at: usize, initR: v128, initI: v128, table: usize, row: usize, scratch: usize, end: usize, o: usize): void {
  let p0r = initR, p0i = initI, p1r = initR, p1i = initI, p2r = initR, p2i = initI, p3r = initR, p3i = initI;
  let c = table;
  for (let v = scratch + at; v < end; v += 64) {
    const xr = v128.load(v), xi = v128.load(v, 16);
    const c0 = v128.load32_splat(c);
    p0r = f32x4.add(p0r, f32x4.mul(xr, c0));
    p0i = f32x4.add(p0i, f32x4.mul(xi, c0));
    if (G > 1) {
      const c1 = v128.load32_splat(c, 4);
      p1r = f32x4.add(p1r, f32x4.mul(xr, c1));
      p1i = f32x4.add(p1i, f32x4.mul(xi, c1));
    }
    if (G > 2) {
      const c2 = v128.load32_splat(c, 8);
      p2r = f32x4.add(p2r, f32x4.mul(xr, c2));
      p2i = f32x4.add(p2i, f32x4.mul(xi, c2));
    }
    if (G > 3) {
      const c3 = v128.load32_splat(c, 12);
      p3r = f32x4.add(p3r, f32x4.mul(xr, c3));
      p3i = f32x4.add(p3i, f32x4.mul(xi, c3));
    }
    c += row;
  }
  const out = o + at;
  v128.store(out, p0r);
  v128.store(out, p0i, 16);
  if (G > 1) { v128.store(out, p1r, 64); v128.store(out, p1i, 80); }
  if (G > 2) { v128.store(out, p2r, 128); v128.store(out, p2i, 144); }
  if (G > 3) { v128.store(out, p3r, 192); v128.store(out, p3i, 208); }
}
