// Logarithms and exponentials on four f32 lanes, for the element-wise kernels (PCEN, dB).
//
// Both reduce by powers of two and evaluate a short polynomial on what is left:
//   log2 x = e + log2(1 + t),  x = 2^e·(1 + t), t ∈ [√½ − 1, √2 − 1]; with s = t/(2 + t), |s| ≤ 0.1716,
//            log2(1 + t) = (2/ln 2)·atanh(s) = (2/ln 2)·s + s³·Q(s²)
//            (the reduction of fdlibm's e_log.c, Sun Microsystems 1993: one division buys a
//            quadratic Q where a polynomial in t needs degree 9);
//   2^y    = 2^n · P(r),   n = round(y), r = y − n ∈ [−½, ½] exact, P of degree 6.
// Q and P are minimax fits from scripts/fit_vmath_polys.py, within 1e-9 and 2e-8 relative, below
// float32's 6e-8: the kernels' errors are those of rounding their few operations (≈ 1e-7).
// expm1 is Julien Pommier's sse_mathfun.h exp_ps (zlib licence; the same author as pffft), the
// Cephes expf polynomial (S. L. Moshier, Cephes Math Library 2.2, expf.c) four lanes at a time,
// with ln 2 split in two parts (C1 + C2, C1 exact in 9 bits) so its reduction loses nothing:
//   e^x − 1 = 2^n·expm1(r) + (2^n − 1),  r = x − n·ln 2 ∈ [−ln2/2, ln2/2]:  expm1 r = r + r²·Q(r).
// expm1 and log1p keep full relative precision near 0, where exp(x) − 1 and log(1 + x) would cancel.
//
// Constants are read from tables with load32_splat (one vbroadcastss) instead of being written as
// f32x4.splat(constant): binaryen turns those into v128.const, which V8 rebuilds from two 64-bit
// immediates at every use inside a loop — that alone made these functions three times slower.

// Polynomial coefficients, highest degree first. Q and P: scripts/fit_vmath_polys.py (see the header).
const LOG2_Q = memory.data<f32>([4.3092608452e-1, 5.7675546408e-1, 9.6179825068e-1]);
const EXP2_P = memory.data<f32>([1.5350867761e-4, 1.3399972813e-3, 9.6184704453e-3, 5.5503286421e-2, 2.4022647738e-1, 6.9314718246e-1, 1]);
/** Cephes expf Q(r). */
const EXP_Q = memory.data<f32>([1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);

// Indices into F (f32) and I (i32).
const ONE = 0, TWO = 1, MIN_NORMAL = 2, SQRT_HALF = 3, LN2_C1 = 4, LN2_C2 = 5, LOG2E = 6, EXP_MIN = 7, EXP_MAX = 8, LN2 = 9, EXP2_MIN = 10, EXP2_MAX = 11, TINY = 12, EXP_BIAS = 13, TWO_OVER_LN2 = 14;
const F = memory.data<f32>([
  1, 2,
  1.17549435e-38, // smallest normal float32: log treats smaller inputs (subnormal, 0) as this one
  0.707106781186547524,
  0.693359375, -2.12194440e-4, // ln 2 = C1 + C2; n·C1 is exact for |n| < 2^15
  1.44269504088896341, // 1 / ln 2
  -87, 88, // exp and expm1 clamp x to [EXP_MIN, EXP_MAX], where 2^round(x / ln 2) is a normal float32
  0.693147180559945309, // ln 2
  -126, 127, // exp2 clamps y to [EXP2_MIN, EXP2_MAX]: 2^round(y) is a normal float32
  2.44140625e-4, // 2^-12, see polyArgument
  8388735, // 2^23 + 127, see pow2
  2.88539008177792681, // 2 / ln 2
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

// The exponentials' polynomials are evaluated by Estrin's scheme — pairs of coefficients combined
// by powers of the argument — rather than Horner's rule: shorter chains of dependent multiply-adds,
// which the processor overlaps (the logarithm's Q is only a quadratic). They nest so that no power
// above the second (the third, s³, in the logarithm) forms:
// x86 processes subnormal numbers about a hundred times slower, and those powers stay normal
// floats for every argument the reductions leave (|s| ≥ 2^-25, |r| ≥ 2^-24, or 0) unless y itself
// is that tiny. expm1f4's argument can be any tiny number, so its polynomial gets polyArgument(r).

/**
 * Base-2 logarithm of x > 0: e + (2/ln 2)·s + s³·Q(s²) (see the header). Inputs below the smallest
 * normal float count as it.
 */
@inline export function log2f4(x: v128): v128 {
  x = f32x4.pmax(x, f(MIN_NORMAL));
  // x = m·2^e with m ∈ [0.5, 1): exponent from the bits, mantissa with the exponent of 0.5;
  // m < √½ is taken as 2m with e − 1, so that t = m − 1 lies in [√½ − 1, √2 − 1] (exactly).
  const m = v128.or(v128.and(x, n32(MANTISSA)), n32(EXP_HALF));
  const small = f32x4.lt(m, f(SQRT_HALF));
  const e = f32x4.sub(f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(x, 23), n32(BIAS_M1))), v128.and(f(ONE), small));
  const t = f32x4.add(f32x4.sub(m, f(ONE)), v128.and(m, small));
  const s = f32x4.div(t, f32x4.add(t, f(TWO)));
  const z = f32x4.mul(s, s);
  const q = f32x4.add(f32x4.mul(pair(LOG2_Q, 0, z), z), v128.load32_splat(LOG2_Q, 8));
  return f32x4.add(e, f32x4.add(f32x4.mul(s, f(TWO_OVER_LN2)), f32x4.mul(f32x4.mul(s, z), q)));
}

/** Natural logarithm of x > 0, as log2 x · ln 2 (one rounding more). Inputs below the smallest normal float count as it. */
@inline function logf4(x: v128): v128 {
  return f32x4.mul(log2f4(x), f(LN2));
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

/** exp(r) − 1 for |r| ≤ ln2/2: r + r²·Q(r) (Cephes expf polynomial), as r·(1 + r·Q(a)), a = polyArgument(r). */
@inline function expm1Reduced(r: v128): v128 {
  const a = polyArgument(r), a2 = f32x4.mul(a, a);
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

/** 2^y, y clamped to [−126, 127]: 2^n·P(r) with n = round(y) and r = y − n, exact (see the header). */
@inline export function exp2f4(y: v128): v128 {
  y = f32x4.pmin(f32x4.pmax(y, f(EXP2_MIN)), f(EXP2_MAX));
  const n = f32x4.nearest(y);
  const r = f32x4.sub(y, n), r2 = f32x4.mul(r, r);
  const p = f32x4.add(pair(EXP2_P, 5, r), f32x4.mul(r2, f32x4.add(pair(EXP2_P, 3, r), f32x4.mul(r2, f32x4.add(pair(EXP2_P, 1, r), f32x4.mul(r2, v128.load32_splat(EXP2_P)))))));
  return f32x4.mul(p, pow2(n));
}

/** e^x − 1 for x clamped to [−87, 88], accurate near 0: 2^n·expm1(r) + (2^n − 1), which is expm1(r) itself when n = 0. */
@inline export function expm1f4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f(EXP_MIN)), f(EXP_MAX));
  const n = f32x4.nearest(f32x4.mul(x, f(LOG2E)));
  const p = pow2(n);
  const r = reduce(x, n);
  return f32x4.add(f32x4.mul(p, expm1Reduced(r)), f32x4.sub(p, f(ONE)));
}

/** The largest of the four lanes: a kernel's running lane-wise maximum folded at its end. */
@inline export function maxLane(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}
