// Natural logarithm and exponentials on four f32 lanes, for the element-wise kernels (PCEN, dB).
//
// Source: Julien Pommier's sse_mathfun.h (zlib licence; the same author as pffft), log_ps and
// exp_ps, which evaluate the Cephes library's logf/expf polynomials (S. L. Moshier, Cephes Math
// Library 2.2, logf.c and expf.c) four lanes at a time. Both reduce the argument by a power of two
// with ln 2 split in two parts (C1 + C2, C1 exact in 9 bits) so the reduction loses nothing:
//   log x = e·ln 2 + log(1 + f),  f ∈ [√½ − 1, √2 − 1]:  log(1 + f) = f − f²/2 + f³·P(f)
//   exp x = 2^n · exp(r),         r = x − n·ln 2 ∈ [−ln2/2, ln2/2]:  exp r = 1 + r + r²·Q(r)
// Cephes gives a relative error of about 1e-7 (a few float32 ulp) for both over the normal range.
// expm1 and log1p are built from the same pieces so that they keep full relative precision near 0,
// where exp(x) − 1 and log(1 + x) would cancel.
//
// Constants are read from tables with load32_splat (one vbroadcastss) instead of being written as
// f32x4.splat(constant): binaryen turns those into v128.const, which V8 rebuilds from two 64-bit
// immediates at every use inside a loop — that alone made these functions three times slower.

/** Cephes logf P(f), highest degree first. */
const LOG_P = memory.data<f32>([
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
]);
/** Cephes expf Q(r), highest degree first. */
const EXP_Q = memory.data<f32>([1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);

// Indices into F (f32) and I (i32).
const ONE = 0, HALF = 1, MIN_NORMAL = 2, SQRT_HALF = 3, LN2_C1 = 4, LN2_C2 = 5, LOG2E = 6, EXP_MIN = 7, EXP_MAX = 8, TINY = 9, EXP_BIAS = 10;
const F = memory.data<f32>([
  1, 0.5,
  1.17549435e-38, // smallest normal float32: log treats smaller inputs (subnormal, 0) as this one
  0.707106781186547524,
  0.693359375, -2.12194440e-4, // ln 2 = C1 + C2; n·C1 is exact for |n| < 2^15
  1.44269504088896341, // 1 / ln 2
  -87, 88, // exp and expm1 clamp x to [EXP_MIN, EXP_MAX], where 2^round(x / ln 2) is a normal float32
  2.44140625e-4, // 2^-12, see polyArgument
  8388735, // 2^23 + 127, see pow2
]);
const MANTISSA = 0, EXP_HALF = 1, BIAS_M1 = 2;
const I = memory.data<i32>([0x007fffff, 0x3f000000, 126]);

@inline function f(i: i32): v128 {
  return v128.load32_splat(F + (<usize>i << 2));
}
@inline function n32(i: i32): v128 {
  return v128.load32_splat(I + (<usize>i << 2));
}
/**
 * x with |x| < 2^-12 replaced by 0, as the argument of the correction polynomials: there P(x) − P(0)
 * is far below float32 precision of the result, and x⁸ stays clear of subnormal numbers, which x86
 * processes about a hundred times slower.
 */
@inline function polyArgument(x: v128): v128 {
  return v128.and(x, f32x4.ge(f32x4.abs(x), f(TINY)));
}

/** table[i + 1] + table[i]·x (coefficients stored highest degree first). */
@inline function pair(table: usize, i: i32, x: v128): v128 {
  return f32x4.add(f32x4.mul(v128.load32_splat(table + (<usize>i << 2)), x), v128.load32_splat(table + (<usize>(i + 1) << 2)));
}

/** Natural logarithm of x > 0 (sse_mathfun log_ps). Inputs below the smallest normal float count as it. */
@inline export function logf4(x: v128): v128 {
  const one = f(ONE);
  x = f32x4.pmax(x, f(MIN_NORMAL));
  // x = m · 2^e with m ∈ [0.5, 1): exponent from the bits, mantissa with the exponent of 0.5.
  let e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(x, 23), n32(BIAS_M1)));
  const m = v128.or(v128.and(x, n32(MANTISSA)), n32(EXP_HALF));
  // m < √½: use 2m and e − 1, so that t = m − 1 lies in [√½ − 1, √2 − 1].
  const small = f32x4.lt(m, f(SQRT_HALF));
  e = f32x4.sub(e, v128.and(one, small));
  const t = f32x4.add(f32x4.sub(m, one), v128.and(m, small));
  const z = f32x4.mul(t, t);
  // P(t) by Estrin's scheme — pairs of coefficients combined by powers of t² — rather than
  // Horner's rule: a chain of 4 multiply-adds instead of 8 lets the processor overlap more.
  const a = polyArgument(t), a2 = f32x4.mul(a, a), a4 = f32x4.mul(a2, a2);
  const lo = f32x4.add(pair(LOG_P, 7, a), f32x4.mul(a2, pair(LOG_P, 5, a)));
  const hi = f32x4.add(pair(LOG_P, 3, a), f32x4.mul(a2, pair(LOG_P, 1, a)));
  const p = f32x4.add(f32x4.add(lo, f32x4.mul(a4, hi)), f32x4.mul(f32x4.mul(a4, a4), v128.load32_splat(LOG_P)));
  let y = f32x4.mul(f32x4.mul(p, t), z);
  // log(1 + t) = t − t²/2 + t³·P(t); add e·ln 2 in two parts, the small one first.
  y = f32x4.add(y, f32x4.mul(e, f(LN2_C2)));
  y = f32x4.sub(y, f32x4.mul(z, f(HALF)));
  return f32x4.add(f32x4.add(t, y), f32x4.mul(e, f(LN2_C1)));
}

/** log(1 + x) for x ≥ 0, accurate near 0: log(u) + (x − (u − 1))/u with u = 1 + x rounded (Goldberg's correction). */
@inline export function log1pf4(x: v128): v128 {
  const one = f(ONE);
  const u = f32x4.add(one, x);
  // u − 1 is exact; x − (u − 1) is what rounding 1 + x lost, and log(1 + x) ≈ log u + that/u.
  return f32x4.add(logf4(u), f32x4.div(f32x4.sub(x, f32x4.sub(u, one)), u));
}

/** r = x − n·ln 2, exact to float32 thanks to the split ln 2. */
@inline function reduce(x: v128, n: v128): v128 {
  return f32x4.sub(f32x4.sub(x, f32x4.mul(n, f(LN2_C1))), f32x4.mul(n, f(LN2_C2)));
}

/** exp(r) − 1 for |r| ≤ ln2/2: r + r²·Q(r) (Cephes expf polynomial), as r·(1 + r·Q(r)) so that no subnormal r² forms. */
@inline function expm1Reduced(r: v128): v128 {
  const a = polyArgument(r), a2 = f32x4.mul(a, a);
  const q = f32x4.add(f32x4.add(pair(EXP_Q, 4, a), f32x4.mul(a2, pair(EXP_Q, 2, a))), f32x4.mul(f32x4.mul(a2, a2), pair(EXP_Q, 0, a)));
  return f32x4.mul(r, f32x4.add(f32x4.mul(q, r), f(ONE)));
}

/**
 * 2^n for integral n in [−126, 127], built from the exponent bits: n + 127 + 2^23 is a float
 * whose low mantissa bits are the integer n + 127, and shifting left by 23 moves them into the
 * exponent field while the rest falls off (cheaper than a float → int conversion in V8).
 */
@inline function pow2(n: v128): v128 {
  return i32x4.shl(f32x4.add(n, f(EXP_BIAS)), 23);
}

/** n = round(x / ln 2) of x clamped to [EXP_MIN, EXP_MAX], as floats. */
@inline function exponentOf(x: v128): v128 {
  return f32x4.nearest(f32x4.mul(x, f(LOG2E)));
}

@inline function clampExp(x: v128): v128 {
  return f32x4.pmin(f32x4.pmax(x, f(EXP_MIN)), f(EXP_MAX));
}

/** e^x (sse_mathfun exp_ps), x clamped to [−87, 88] (e^−87 ≈ 1.6e-38, e^88 ≈ 1.7e38). */
@inline export function expf4(x: v128): v128 {
  x = clampExp(x);
  const n = exponentOf(x);
  return f32x4.mul(f32x4.add(expm1Reduced(reduce(x, n)), f(ONE)), pow2(n));
}

/** e^x − 1, accurate near 0: 2^n·expm1(r) + (2^n − 1), which is expm1(r) itself when n = 0. */
@inline export function expm1f4(x: v128): v128 {
  x = clampExp(x);
  const n = exponentOf(x);
  const p = pow2(n);
  return f32x4.add(f32x4.mul(p, expm1Reduced(reduce(x, n))), f32x4.sub(p, f(ONE)));
}
