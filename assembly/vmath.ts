// Logarithms and exponentials on four f32 lanes, for the element-wise kernels (PCEN, dB).
//
// Source: Julien Pommier's sse_mathfun.h (zlib licence; the same author as pffft), log_ps and
// exp_ps, which evaluate the Cephes library's logf/expf polynomials (S. L. Moshier, Cephes Math
// Library 2.2, logf.c and expf.c) four lanes at a time. Both reduce the argument by a power of two
// with ln 2 split in two parts (C1 + C2, C1 exact in 9 bits) so the reduction loses nothing:
//   log x = e·ln 2 + log(1 + f),  f ∈ [√½ − 1, √2 − 1]:  log(1 + f) = f − f²/2 + f³·P(f)
//   exp x = 2^n · exp(r),         r = x − n·ln 2 ∈ [−ln2/2, ln2/2]:  exp r = 1 + r + r²·Q(r)
// The base-2 forms reuse both polynomials and need no split constant:
//   log2 x = e + log(1 + f)/ln 2,   2^y = 2^n · exp((y − n)·ln 2) with y − n exact.
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
const ONE = 0, HALF = 1, MIN_NORMAL = 2, SQRT_HALF = 3, LN2_C1 = 4, LN2_C2 = 5, LOG2E = 6, EXP_MIN = 7, EXP_MAX = 8, LN2 = 9, EXP2_MIN = 10, EXP2_MAX = 11, TINY = 12, EXP_BIAS = 13;
const F = memory.data<f32>([
  1, 0.5,
  1.17549435e-38, // smallest normal float32: log treats smaller inputs (subnormal, 0) as this one
  0.707106781186547524,
  0.693359375, -2.12194440e-4, // ln 2 = C1 + C2; n·C1 is exact for |n| < 2^15
  1.44269504088896341, // 1 / ln 2
  -87, 88, // exp and expm1 clamp x to [EXP_MIN, EXP_MAX], where 2^round(x / ln 2) is a normal float32
  0.693147180559945309, // ln 2
  -126, 127, // exp2 clamps y to [EXP2_MIN, EXP2_MAX]: 2^round(y) is a normal float32
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

/** table[i + 1] + table[i]·x (coefficients stored highest degree first). */
@inline function pair(table: usize, i: i32, x: v128): v128 {
  return f32x4.add(f32x4.mul(v128.load32_splat(table + (<usize>i << 2)), x), v128.load32_splat(table + (<usize>(i + 1) << 2)));
}

// The polynomials below are evaluated by Estrin's scheme — pairs of coefficients combined by
// powers of the argument — rather than Horner's rule: shorter chains of dependent multiply-adds,
// which the processor overlaps. They nest so that no power above the fourth (log) or the second
// (exp) forms: x86 processes subnormal numbers about a hundred times slower, and those powers stay
// normal floats for every argument log2f4, logf4 and exp2f4 reduce to (|t| ≥ 2^-24 or 0 in log;
// in exp2, |r| ≥ 2^-24·ln 2 or 0 unless |y| itself is below that). expm1f4's argument can be any
// tiny number, so there the polynomial gets polyArgument(r).

/** x = 2^e·(1 + t) with t ∈ [√½ − 1, √2 − 1], for x a normal float > 0: the exponent e, as a float. */
@inline function logExponent(x: v128): v128 {
  // x = m·2^e' with m ∈ [0.5, 1) from the bits; m < √½ is taken as 2m with e' − 1.
  const e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(x, 23), n32(BIAS_M1)));
  return f32x4.sub(e, v128.and(f(ONE), f32x4.lt(logMantissa(x), f(SQRT_HALF))));
}

/** The t of logExponent. */
@inline function logFraction(x: v128): v128 {
  const m = logMantissa(x);
  return f32x4.add(f32x4.sub(m, f(ONE)), v128.and(m, f32x4.lt(m, f(SQRT_HALF))));
}

/** m ∈ [0.5, 1): the mantissa of x with the exponent of 0.5. */
@inline function logMantissa(x: v128): v128 {
  return v128.or(v128.and(x, n32(MANTISSA)), n32(EXP_HALF));
}

/** t³·P(t) − t²/2 for t ∈ [√½ − 1, √2 − 1]: log(1 + t) − t (Cephes logf). */
@inline function log1pMinusT(t: v128): v128 {
  const z = f32x4.mul(t, t), z2 = f32x4.mul(z, z);
  const lo = f32x4.add(pair(LOG_P, 7, t), f32x4.mul(z, pair(LOG_P, 5, t)));
  const hi = f32x4.add(pair(LOG_P, 3, t), f32x4.mul(z, pair(LOG_P, 1, t)));
  const p = f32x4.add(lo, f32x4.mul(z2, f32x4.add(hi, f32x4.mul(z2, v128.load32_splat(LOG_P)))));
  return f32x4.sub(f32x4.mul(f32x4.mul(p, t), z), f32x4.mul(z, f(HALF)));
}

/** Natural logarithm of x > 0 (sse_mathfun log_ps). Inputs below the smallest normal float count as it. */
@inline function logf4(x: v128): v128 {
  x = f32x4.pmax(x, f(MIN_NORMAL));
  const e = logExponent(x), t = logFraction(x);
  // log x = t + (log(1 + t) − t) + e·ln 2, the small part of ln 2 first.
  return f32x4.add(f32x4.add(t, f32x4.add(log1pMinusT(t), f32x4.mul(e, f(LN2_C2)))), f32x4.mul(e, f(LN2_C1)));
}

/**
 * Base-2 logarithm of x > 0: e + log(1 + t)/ln 2, fewer operations than logf4 where the caller
 * wants log2 anyway (dB, and powers through exp2f4). Inputs below the smallest normal float count as it.
 */
@inline export function log2f4(x: v128): v128 {
  x = f32x4.pmax(x, f(MIN_NORMAL));
  const t = logFraction(x);
  return f32x4.add(logExponent(x), f32x4.mul(f32x4.add(t, log1pMinusT(t)), f(LOG2E)));
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

/**
 * x with |x| < 2^-12 replaced by 0, as the argument of a correction polynomial: there P(x) − P(0)
 * is far below float32 precision of the result, and x² stays clear of subnormal numbers.
 */
@inline function polyArgument(x: v128): v128 {
  return v128.and(x, f32x4.ge(f32x4.abs(x), f(TINY)));
}

/**
 * exp(r) − 1 for |r| ≤ ln2/2: r + r²·Q(r) (Cephes expf polynomial), as r·(1 + r·Q(a)) with a = r
 * or polyArgument(r) (see above) as the argument of Q.
 */
@inline function expm1Reduced(r: v128, a: v128): v128 {
  const a2 = f32x4.mul(a, a);
  const q = f32x4.add(pair(EXP_Q, 4, a), f32x4.mul(a2, f32x4.add(pair(EXP_Q, 2, a), f32x4.mul(a2, pair(EXP_Q, 0, a)))));
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

/**
 * 2^y, y clamped to [−126, 127]: 2^n·exp(r·ln 2) with n = round(y). The reduction r = y − n is
 * exact, so unlike e^x no split constant is needed.
 */
@inline export function exp2f4(y: v128): v128 {
  y = f32x4.pmin(f32x4.pmax(y, f(EXP2_MIN)), f(EXP2_MAX));
  const n = f32x4.nearest(y);
  const r = f32x4.mul(f32x4.sub(y, n), f(LN2));
  return f32x4.mul(f32x4.add(expm1Reduced(r, r), f(ONE)), pow2(n));
}

/** e^x − 1 for x clamped to [−87, 88], accurate near 0: 2^n·expm1(r) + (2^n − 1), which is expm1(r) itself when n = 0. */
@inline export function expm1f4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f(EXP_MIN)), f(EXP_MAX));
  const n = f32x4.nearest(f32x4.mul(x, f(LOG2E)));
  const p = pow2(n);
  const r = reduce(x, n);
  return f32x4.add(f32x4.mul(p, expm1Reduced(r, polyArgument(r))), f32x4.sub(p, f(ONE)));
}
