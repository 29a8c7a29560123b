/**
 * The band filter of SPEC §3.4:
 *   scipy.signal.sosfiltfilt(scipy.signal.butter(order, f, btype, output="sos", fs=fs), x)
 * over the whole recording, and the same result for any piece of it (SPEC §4 "Seamless").
 *
 * Design (float64, here): scipy.signal.buttap → lp2lp_zpk / lp2hp_zpk / lp2bp_zpk on the
 * pre-warped edges → bilinear_zpk → zpk2sos(pairing="nearest"), following scipy 1.10's
 * scipy/signal/_filter_design.py step by step so that the sections — their count, order and
 * which coefficients are exactly 0 — are scipy's. That matters beyond the transfer function:
 * sosfiltfilt's pad length is 3·(2·sections + 1 − min(#b2 == 0, #a2 == 0)) and its edge
 * states come from sosfilt_zi, both computed from the sections.
 * Filtering (float64 recursion): assembly/filter.ts.
 */
import { ParamsError, type Params } from "./params.js";
import { core } from "./wasm.js";

// ---------------------------------------------------------------------------------------
// Complex arithmetic for the pole/zero design (a handful of values; clarity over speed).

interface Complex { re: number; im: number }
const cx = (re: number, im = 0): Complex => ({ re, im });
const add = (a: Complex, b: Complex) => cx(a.re + b.re, a.im + b.im);
const sub = (a: Complex, b: Complex) => cx(a.re - b.re, a.im - b.im);
const mul = (a: Complex, b: Complex) => cx(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
const scale = (a: Complex, s: number) => cx(a.re * s, a.im * s);
const abs = (a: Complex) => Math.hypot(a.re, a.im);
const conj = (a: Complex) => cx(a.re, -a.im);
/**
 * a / b by Smith's method, as numpy divides (its loops' complex division): scaling by the larger
 * part of b, where |b|² would overflow. Near Nyquist the bilinear gain divides two products of
 * 32 factors of ~5e6 (~1e214): |b|² was Infinity, the gain 0, and an order-16 band below 96 kHz
 * at 192 kHz gave an all-zero spectrogram.
 */
function div(a: Complex, b: Complex): Complex {
  if (Math.abs(b.re) >= Math.abs(b.im)) {
    const ratio = b.im / b.re;
    const scl = 1 / (b.re + b.im * ratio);
    return cx((a.re + a.im * ratio) * scl, (a.im - a.re * ratio) * scl);
  }
  const ratio = b.re / b.im;
  const scl = 1 / (b.im + b.re * ratio);
  return cx((a.re * ratio + a.im) * scl, (a.im * ratio - a.re) * scl);
}
/**
 * Principal square root, the sign of a zero imaginary part included, computed as numpy's csqrt
 * (C99 csqrt): the larger part from √((|a| + |re|)/2), the smaller as im/(2t). Both parts from
 * (|a| ± re)/2 lost the small one to cancellation: lp2bp takes √(r² − wo²) of a nearly negative
 * real number, whose tiny real part sets the poles' distance from the unit circle, and a 10 Hz band
 * at 50 kHz (192 kHz) had sections 1.5e-8 off scipy's and a response 2.6e-4 off.
 */
function sqrt(a: Complex): Complex {
  const negIm = a.im < 0 || Object.is(a.im, -0);
  if (a.re === 0 && a.im === 0) return cx(0, a.im);
  const t = Math.sqrt((abs(a) + Math.abs(a.re)) / 2);
  if (a.re >= 0) return cx(t, a.im / (2 * t));
  return cx(Math.abs(a.im) / (2 * t), negIm ? -t : t);
}
const isReal = (a: Complex) => a.im === 0; // numpy.isreal
const product = (xs: Complex[]) => xs.reduce(mul, cx(1));

/** A filter in zeros, poles and gain (scipy's zpk form). */
interface Zpk { z: Complex[]; p: Complex[]; k: number }

/** Second-order sections, rows [b0 b1 b2 a0 a1 a2] as scipy returns them. */
export type Sos = number[][];

export type BandType = "lowpass" | "highpass" | "bandpass";

// ---------------------------------------------------------------------------------------
// Design: scipy.signal.butter(order, freqs, btype, output="sos", fs=fs).

/**
 * Butterworth second-order sections, as `scipy.signal.butter(order, freqs, btype,
 * output="sos", fs=fs)`.
 * @param order filter order, an integer in [1, 16] (bandpass: 2·order poles)
 * @param freqs the edge (lowpass/highpass) or [low, high] edges (bandpass), Hz, in (0, fs/2)
 * @param btype lowpass, highpass or bandpass
 * @param fs sampling rate, Hz
 */
export function butterSos(order: number, freqs: number[], btype: BandType, fs: number): Sos {
  if (!Number.isInteger(order) || order < 1 || order > 16) throw new RangeError(`filter order must be an integer in [1, 16], got ${order}`);
  if (!(fs > 0) || !Number.isFinite(fs)) throw new RangeError(`sampling rate must be a positive number, got ${fs}`);
  if (freqs.length !== (btype === "bandpass" ? 2 : 1)) throw new RangeError(`${btype} needs ${btype === "bandpass" ? "two edges" : "one edge"}, got ${freqs.length}`);
  for (const f of freqs) {
    if (!(f > 0 && f < fs / 2)) throw new RangeError(`filter edge ${f} Hz must be in (0, ${fs / 2}) Hz (0 < f < Nyquist)`);
  }
  if (freqs.length === 2 && !(freqs[0] < freqs[1])) throw new RangeError(`band edges must increase, got [${freqs.join(", ")}] Hz`);
  // iirfilter: Wn = 2f/fs; pre-warp for the bilinear transform at fs = 2: 4·tan(π·Wn/2)
  const warped = freqs.map((f) => 4 * Math.tan((Math.PI * (2 * f / fs)) / 2));
  let zpk = buttap(order);
  if (btype === "lowpass") zpk = lp2lp(zpk, warped[0]);
  else if (btype === "highpass") zpk = lp2hp(zpk, warped[0]);
  else zpk = lp2bp(zpk, Math.sqrt(warped[0] * warped[1]), warped[1] - warped[0]);
  return zpk2sos(bilinear(zpk, 2));
}

/** scipy buttap: poles −exp(iπm/(2N)), m = −N+1, −N+3, …, N−1 (m = 0 gives the exactly real pole). */
function buttap(n: number): Zpk {
  const p: Complex[] = [];
  for (let m = -n + 1; m < n; m += 2) {
    const t = (Math.PI * m) / (2 * n);
    p.push(cx(-Math.cos(t), -Math.sin(t)));
  }
  return { z: [], p, k: 1 };
}

/** scipy lp2lp_zpk: scale the roots by wo, gain by wo^(#p − #z). */
function lp2lp({ z, p, k }: Zpk, wo: number): Zpk {
  return { z: z.map((r) => scale(r, wo)), p: p.map((r) => scale(r, wo)), k: k * wo ** (p.length - z.length) };
}

/** scipy lp2hp_zpk: roots → wo/root, zeros at infinity → origin, gain · Re(Π(−z)/Π(−p)). */
function lp2hp({ z, p, k }: Zpk, wo: number): Zpk {
  const degree = p.length - z.length;
  const neg = (r: Complex) => scale(r, -1);
  return {
    z: [...z.map((r) => div(cx(wo), r)), ...Array.from({ length: degree }, () => cx(0))],
    p: p.map((r) => div(cx(wo), r)),
    k: k * div(product(z.map(neg)), product(p.map(neg))).re,
  };
}

/** scipy lp2bp_zpk: each root r·bw/2 splits into r' ± sqrt(r'² − wo²); zeros to the origin. */
function lp2bp({ z, p, k }: Zpk, wo: number, bw: number): Zpk {
  const degree = p.length - z.length;
  const split = (roots: Complex[]) => {
    const lp = roots.map((r) => scale(r, bw / 2));
    const s = lp.map((r) => sqrt(sub(mul(r, r), cx(wo * wo))));
    return [...lp.map((r, i) => add(r, s[i])), ...lp.map((r, i) => sub(r, s[i]))];
  };
  return { z: [...split(z), ...Array.from({ length: degree }, () => cx(0))], p: split(p), k: k * bw ** degree };
}

/** scipy bilinear_zpk: r → (2fs + r)/(2fs − r), zeros at infinity → −1 (Nyquist). */
function bilinear({ z, p, k }: Zpk, fs: number): Zpk {
  const fs2 = cx(2 * fs);
  const degree = p.length - z.length;
  const map = (r: Complex) => div(add(fs2, r), sub(fs2, r));
  return {
    z: [...z.map(map), ...Array.from({ length: degree }, () => cx(-1))],
    p: p.map(map),
    k: k * div(product(z.map((r) => sub(fs2, r))), product(p.map((r) => sub(fs2, r)))).re,
  };
}

/**
 * scipy _cplxreal: the complex roots (one of each conjugate pair, imag > 0, averaged with its
 * partner) followed by the real ones, each group sorted as scipy sorts it.
 */
function cplxreal(roots: Complex[]): Complex[] {
  const tol = 100 * Number.EPSILON;
  const sorted = [...roots].sort((a, b) => a.re - b.re || Math.abs(a.im) - Math.abs(b.im));
  const real = sorted.filter((r) => Math.abs(r.im) <= tol * abs(r)).map((r) => cx(r.re));
  const cplx = sorted.filter((r) => Math.abs(r.im) > tol * abs(r));
  const pos = cplx.filter((r) => r.im > 0);
  const neg = cplx.filter((r) => r.im < 0);
  if (pos.length !== neg.length) throw new Error("complex root without its conjugate");
  // Within runs of (nearly) equal real part — runs found on the positive half — scipy orders
  // each half by |imag|.
  let start = 0;
  for (let i = 1; i <= pos.length; i++) {
    if (i === pos.length || !(pos[i].re - pos[i - 1].re <= tol * abs(pos[i - 1]))) {
      for (const half of [pos, neg]) {
        const run = half.slice(start, i).sort((a, b) => Math.abs(a.im) - Math.abs(b.im));
        half.splice(start, run.length, ...run);
      }
      start = i;
    }
  }
  return [...pos.map((r, i) => scale(add(r, conj(neg[i])), 0.5)), ...real];
}

/** Index of the root in `from` nearest to `to`, restricted to real or complex roots (scipy _nearest_real_complex_idx). */
function nearestIndex(from: Complex[], to: Complex, which: "real" | "complex" | "any"): number {
  const order = from.map((_, i) => i).sort((i, j) => abs(sub(from[i], to)) - abs(sub(from[j], to)));
  const found = order.find((i) => which === "any" || isReal(from[i]) === (which === "real"));
  if (found === undefined) throw new Error(`no ${which} root left to pair`);
  return found;
}

/** numpy.poly then the real part: coefficients of Π(x − r), highest power first. */
function poly(roots: Complex[]): number[] {
  let c: Complex[] = [cx(1)];
  for (const r of roots) {
    const next = [...c, cx(0)];
    for (let i = 0; i < c.length; i++) next[i + 1] = sub(next[i + 1], mul(c[i], r));
    c = next;
  }
  return c.map((v) => v.re);
}

/** scipy _single_zpksos: one section, b and a right-aligned in [b0 b1 b2 a0 a1 a2]. */
function section(z: Complex[], p: Complex[]): number[] {
  const b = poly(z);
  const a = poly(p);
  const row = [0, 0, 0, 0, 0, 0];
  b.forEach((v, i) => (row[3 - b.length + i] = v));
  a.forEach((v, i) => (row[6 - a.length + i] = v));
  return row;
}

/** scipy zpk2sos(z, p, k, pairing="nearest") for a digital filter. */
function zpk2sos({ z: z0, p: p0, k }: Zpk): Sos {
  let p = [...p0, ...Array.from({ length: Math.max(z0.length - p0.length, 0) }, () => cx(0))];
  let z = [...z0, ...Array.from({ length: Math.max(p0.length - z0.length, 0) }, () => cx(0))];
  const sections = Math.floor((Math.max(p.length, z.length) + 1) / 2);
  if (p.length % 2 === 1) {
    p.push(cx(0));
    z.push(cx(0));
  }
  p = cplxreal(p);
  z = cplxreal(z);
  // The "worst" pole is the one closest to the unit circle; it goes into the last section.
  const worst = (roots: Complex[]) => {
    let best = 0;
    for (let i = 1; i < roots.length; i++) if (Math.abs(1 - abs(roots[i])) < Math.abs(1 - abs(roots[best]))) best = i;
    return best;
  };
  const take = (roots: Complex[], i: number) => roots.splice(i, 1)[0];
  const sos: Sos = new Array(sections);
  for (let si = sections - 1; si >= 0; si--) {
    const p1 = take(p, worst(p));
    const realPoles = p.filter(isReal).length;
    if (isReal(p1) && realPoles === 0) {
      // scipy special case (1): the last real pole, paired with the nearest real zero and 0.
      const z1 = take(z, nearestIndex(z, p1, "real"));
      sos[si] = section([z1, cx(0)], [p1, cx(0)]);
    } else if (p.length + 1 === z.length && !isReal(p1) && realPoles === 1 && z.filter(isReal).length === 1) {
      // scipy special case (2): one real pole and one real zero left — pair with a complex zero.
      const z1 = take(z, nearestIndex(z, p1, "complex"));
      sos[si] = section([z1, conj(z1)], [p1, conj(p1)]);
    } else {
      let p2: Complex;
      if (isReal(p1)) {
        const realIdx = p.map((r, i) => (isReal(r) ? i : -1)).filter((i) => i >= 0);
        p2 = take(p, realIdx[worst(realIdx.map((i) => p[i]))]);
      } else {
        p2 = conj(p1);
      }
      if (z.length === 0) {
        sos[si] = section([], [p1, p2]);
      } else {
        const z1 = take(z, nearestIndex(z, p1, "any"));
        if (!isReal(z1)) sos[si] = section([z1, conj(z1)], [p1, p2]);
        else if (z.length > 0) sos[si] = section([z1, take(z, nearestIndex(z, p1, "real"))], [p1, p2]);
        else sos[si] = section([z1], [p1, p2]);
      }
    }
  }
  for (let j = 0; j < 3; j++) sos[0][j] *= k;
  return sos;
}

// ---------------------------------------------------------------------------------------
// sosfiltfilt's constants: pad length and edge states.

/** sosfiltfilt's default pad length: 3·(2·sections + 1 − min(#b2 == 0, #a2 == 0)). */
export function padLength(sos: Sos): number {
  const b2zero = sos.filter((s) => s[2] === 0).length;
  const a2zero = sos.filter((s) => s[5] === 0).length;
  return 3 * (2 * sos.length + 1 - Math.min(b2zero, a2zero));
}

/**
 * scipy sosfilt_zi: each section's lfilter_zi (the DF-II-T state after a unit step, i.e. the
 * solution of (I − Aᵀ)·zi = b[1:] − a[1:]·b0 for a = [1 a1 a2]), scaled by the DC gain
 * Σb/Σa of the sections before it. Returns [zi0, zi1] per section.
 */
export function sosfiltZi(sos: Sos): number[][] {
  let gain = 1;
  return sos.map(([b0, b1, b2, a0, a1, a2]) => {
    if (a0 !== 1) throw new Error("sections must be normalized (a0 = 1)");
    const r0 = b1 - a1 * b0;
    const r1 = b2 - a2 * b0;
    const det = 1 + a1 + a2; // det [[1 + a1, −1], [a2, 1]]
    const zi = [(gain * (r0 + r1)) / det, (gain * ((1 + a1) * r1 - a2 * r0)) / det];
    gain *= (b0 + b1 + b2) / (a0 + a1 + a2);
    return zi;
  });
}

// ---------------------------------------------------------------------------------------
// The plan: whole signals and seamless pieces.

/**
 * A designed band filter. `apply` is scipy's sosfiltfilt of a whole signal; `applyPiece`
 * gives samples [from, to) of that same result from a buffer that holds only the piece and
 * the context around the filter blocks it touches (`cover`).
 */
export interface BandFilter {
  readonly btype: BandType;
  /** The sections, as scipy.signal.butter(..., output="sos") returns them. */
  readonly sos: Sos;
  /** sosfiltfilt's odd-extension length at each end of the recording. */
  readonly padLength: number;
  /** Samples of context each filter block's passes start before and after it (see `contextLength`). */
  readonly context: number;
  /** Length of the filter blocks, samples: the grid every piece and the whole signal are filtered on (see `blockLength`). */
  readonly blockLength: number;
  /** sosfiltfilt(sos, x) of a whole signal (longer than padLength samples). */
  apply(x: Float32Array): Float32Array;
  /** Refuses (lengthProblem) a recording of `totalLength` samples this filter cannot filter exactly in pieces. */
  checkPieces(totalLength: number): void;
  /**
   * The recording samples [start, end) a buffer must hold for `applyPiece` of [from, to): the
   * filter blocks that [from, to) touches and `context` samples on each side of them, clamped
   * to [0, totalLength).
   */
  cover(from: number, to: number, totalLength: number): [number, number];
  /**
   * Filtered samples [from, to) of a recording of `totalLength` samples, given `buffer` =
   * recording samples [bufferStart, bufferStart + buffer.length), which must hold
   * `cover(from, to, totalLength)`.
   */
  applyPiece(buffer: Float32Array, bufferStart: number, totalLength: number, from: number, to: number): Float32Array;
}

/**
 * Largest context: 2^22 samples (16 MB of float32) per side, which bounds a tile's reads (with
 * the blocks of twice the context it touches: at most 3·2^22 samples beyond each end). It binds
 * only for extreme designs — an edge of a few Hz at 384 kHz, where the slowest pole decays only by
 * a factor exp(−sin(π/2N)·2π·f/fs) per sample. Pieces read with less context than the transient
 * needs would differ from the whole-signal result (by up to 53 dB near 0 Hz, measured), so such a
 * filter is refused for a recording longer than the context (`applyPiece`), where a piece could
 * not read it all.
 */
export const MAX_CONTEXT = 1 << 22;

/**
 * Context before and after a filter block that makes it equal the one-pass (scipy) result.
 *
 * Away from the recording's ends a block's passes start at the context edges from the steady
 * state of the edge sample instead of the true filter state. The difference is a homogeneous
 * response of the filter, a sum of terms c_i·p_i^n that decays at the rate of the slowest
 * pole, |p|max: after n samples it is below |p|max^n times the (bounded, Butterworth: ≲ the signal
 * peak times the section gains) initial mismatch.
 * - Float32 precision needs |p|max^n ≤ 1e-12 (~5 decades of headroom for those gains under the
 *   1e-7 of float32): PRECISION_FALL, what a filter must reach within MAX_CONTEXT (lengthProblem).
 * - The context asks for more where it can: |p|max^n ≤ 1e-17, under float64's rounding of the
 *   state (EXACT_FALL), so that the blocks stay as close to one pass over the recording as float64
 *   allows. That alone does not make two starting points give the same bits: near 0 Hz or
 *   Nyquist the two float64 trajectories keep differing in their last bits however long the
 *   context (their rounding errors are amplified by poles near the unit circle), and now and then
 *   round to different float32 values. Hence the fixed blocks (`blockLength`).
 * The context also covers the odd extension (> padLength) so that a block touching an end has
 * the samples scipy reflects.
 */
function contextLength(sos: Sos): number {
  return Math.min(MAX_CONTEXT, Math.max(decayLength(sos, EXACT_FALL), padLength(sos) + 1));
}

/**
 * Length of the filter blocks. Every filtered sample is computed within its block, whose passes
 * start `context` samples before and after it (`cover`): the same arithmetic whichever piece
 * asks for it and whether the whole signal is filtered at once, so pieces equal the whole bit
 * for bit (SPEC §4 "Seamless"). Filtering from a piece's own edges did not: with an edge within
 * about 1 % of 0 Hz or of Nyquist (a 1 kHz high-pass at 384 kHz among them) a few samples in
 * 10^5 came out one float32 ulp apart (up to 0.021 dB at −95 dB in a spectrogram).
 * Each block costs its length plus two contexts, so blocks of twice the context filter the whole
 * at 2× the work of one pass, and a piece shorter than a block (a tile at 48 kHz: ~3·10^5 samples)
 * touches at most two; BLOCK_MIN keeps the usual filters, whose context is a few thousand samples,
 * near 1× (measured: README, "What a spectrogram is — and how exact sonotile is").
 */
function blockLength(context: number): number {
  return Math.max(BLOCK_MIN, 2 * context);
}

/** The shortest filter block, samples (see blockLength). */
const BLOCK_MIN = 1 << 16;

/** The fall of a piece's start-up transient that float32 precision needs (see contextLength). */
const PRECISION_FALL = 1e-12;
/** The fall a block's context asks for where MAX_CONTEXT allows: under float64's rounding of the state (see contextLength). */
const EXACT_FALL = 1e-17;

/** Samples for the slowest pole's transient to fall by `fall`: n = ln(fall) / ln|p|max (see contextLength). */
function decayLength(sos: Sos, fall: number): number {
  const rMax = Math.max(...sos.map(([, , , , a1, a2]) => poleRadius(a1, a2)));
  return rMax > 0 ? Math.ceil(Math.log(fall) / Math.log(rMax)) : 0;
}

/** Largest pole magnitude of 1 + a1·z⁻¹ + a2·z⁻². */
function poleRadius(a1: number, a2: number): number {
  const disc = a1 * a1 - 4 * a2;
  if (disc < 0) return Math.sqrt(a2); // complex pair: |p|² = a2
  const s = Math.sqrt(disc);
  return Math.max(Math.abs((-a1 + s) / 2), Math.abs((-a1 - s) / 2));
}

/**
 * The band filter the parameters ask for at rate `fs`, or null when they ask for none.
 * `low_freq` makes a high-pass, `high_freq` a low-pass, both a band-pass (SPEC §3.4). An edge
 * that removes nothing — low_freq = 0 or high_freq = Nyquist, both allowed by SPEC §2 — is
 * treated as absent (scipy itself would reject Wn = 0 and Wn = 1). An edge so close to 0 Hz
 * that the filter cannot be computed in float64 is refused naming its field (ParamsError).
 */
export function designBandFilter(p: Pick<Params, "low_freq" | "high_freq" | "filter_order">, fs: number): BandFilter | null {
  const nyquist = fs / 2;
  if (p.low_freq !== null && !(p.low_freq >= 0 && p.low_freq < nyquist)) throw new RangeError(`low_freq ${p.low_freq} Hz must be in [0, ${nyquist}) Hz (below Nyquist)`);
  if (p.high_freq !== null && !(p.high_freq > 0 && p.high_freq <= nyquist)) throw new RangeError(`high_freq ${p.high_freq} Hz must be in (0, ${nyquist}] Hz (up to Nyquist)`);
  const low = p.low_freq !== null && p.low_freq > 0 ? p.low_freq : null;
  const high = p.high_freq !== null && p.high_freq < nyquist ? p.high_freq : null;
  if (low === null && high === null) return null;
  const btype: BandType = low === null ? "lowpass" : high === null ? "highpass" : "bandpass";
  const freqs = btype === "bandpass" ? [low!, high!] : [low ?? high!];
  const sos = butterSos(p.filter_order, freqs, btype, fs);
  // A pole at 0 Hz rounds onto z = 1 when the edge is a tiny enough fraction of fs (1e-5 Hz at
  // 16 kHz, order 5): sosfilt_zi's steady state divides by 1 + a1 + a2 = 0 there, and every sample
  // would come out NaN — refused as the samples' fault before. The edge nearest 0 Hz is to blame.
  const zi = sosfiltZi(sos);
  const edge: BandEdge = { field: btype === "lowpass" ? "high_freq" : "low_freq", hz: freqs[0], order: p.filter_order, fs };
  if (!zi.flat().every(Number.isFinite)) {
    throw new ParamsError([{ field: edge.field, message: `must be further from 0 Hz: ${describeEdge(edge)} cannot be computed at ${fs} Hz (a pole rounds onto 0 Hz in float64)` }]);
  }
  return createBandFilter(sos, btype, zi, edge);
}

/**
 * The parameter a designed filter's limits are blamed on: the edge nearest 0 Hz, whose poles are
 * the slowest — `high_freq` of a low-pass, else `low_freq` — and the design around it.
 */
export interface BandEdge {
  field: "low_freq" | "high_freq";
  hz: number;
  order: number;
  /** The rate the filter runs at, Hz. */
  fs: number;
}

function describeEdge(e: BandEdge): string {
  return `an order-${e.order} Butterworth edge at ${e.hz} Hz`;
}

/**
 * Why `totalLength` samples cannot be filtered exactly in pieces, or null: too short for
 * sosfiltfilt's odd extension, or longer than the context while the transient outlasts it.
 * Named after `edge` (ParamsError) when the filter came from parameters, else a RangeError.
 */
function lengthProblem(totalLength: number, pad: number, decay: number, edge: BandEdge | undefined): Error | null {
  const fail = (rule: string, fix: string) => (edge ? new ParamsError([{ field: edge.field, message: `${rule}: ${fix}` }]) : new RangeError(rule));
  if (totalLength <= pad) {
    return fail(`recording of ${totalLength} samples is too short for this filter: it needs more than ${pad} (sosfiltfilt's pad length)`, `use a lower filter_order, or no ${edge?.field}`);
  }
  if (decay > MAX_CONTEXT && totalLength > MAX_CONTEXT) {
    const rings = edge ? `${describeEdge(edge)} rings for ${decay} samples at ${edge.fs} Hz (${(decay / edge.fs).toFixed(1)} s)` : `this filter rings for ${decay} samples`;
    return fail(`${rings}, longer than the ${MAX_CONTEXT} samples of context a piece of this ${totalLength}-sample recording reads on each side, so its pieces would not equal the whole`,
      `use a ${edge?.field === "high_freq" ? "higher high_freq" : "higher low_freq"} or a lower filter_order`);
  }
  return null;
}

/** Wraps designed sections (and their sosfilt_zi, when already known) into a plan (exposed for tests and other designs). */
function createBandFilter(sos: Sos, btype: BandType, zi = sosfiltZi(sos), edge?: BandEdge): BandFilter {
  const pad = padLength(sos);
  const context = contextLength(sos);
  const block = blockLength(context);
  const decay = decayLength(sos, PRECISION_FALL);
  const checkPieces = (totalLength: number) => {
    const problem = lengthProblem(totalLength, pad, decay, edge);
    if (problem) throw problem;
  };
  const cover = (from: number, to: number, totalLength: number): [number, number] => {
    if (from >= to) return [from, from];
    return [Math.max(0, Math.floor(from / block) * block - context), Math.min(totalLength, Math.ceil(to / block) * block + context)];
  };
  /** Samples [from, to) of a recording of `totalLength` from a buffer holding cover(from, to): block by block. */
  const blocks = (buffer: Float32Array, bufferStart: number, totalLength: number, from: number, to: number) => {
    const out = new Float32Array(to - from);
    for (let start = Math.floor(from / block) * block; start < to; start += block) {
      const [a, b] = cover(start, Math.min(start + block, totalLength), totalLength);
      const first = Math.max(from, start);
      const last = Math.min(to, start + block);
      // At a recording end do what scipy does there (odd extension); elsewhere start from the buffer edge.
      run(sos, zi, buffer.subarray(a - bufferStart, b - bufferStart), a === 0 ? pad : 0, b === totalLength ? pad : 0, first - a, out.subarray(first - from, last - from));
    }
    return out;
  };
  return {
    btype, sos, padLength: pad, context, blockLength: block, checkPieces, cover,
    apply(x) {
      const problem = lengthProblem(x.length, pad, 0, edge);
      if (problem) throw problem;
      // A transient longer than the context: its pieces are refused (checkPieces), and the whole
      // signal is exact only as one pass.
      if (decay > context) {
        const out = new Float32Array(x.length);
        run(sos, zi, x, pad, pad, 0, out);
        return out;
      }
      return blocks(x, 0, x.length, 0, x.length);
    },
    applyPiece(buffer, bufferStart, totalLength, from, to) {
      checkPieces(totalLength);
      if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= totalLength)) {
        throw new RangeError(`piece [${from}, ${to}) must lie within [0, ${totalLength})`);
      }
      if (from === to) return new Float32Array(0);
      const bufferEnd = bufferStart + buffer.length;
      const [a, b] = cover(from, to, totalLength);
      if (bufferStart > a || bufferEnd < b) {
        throw new RangeError(`buffer [${bufferStart}, ${bufferEnd}) must cover [${a}, ${b}): the filter blocks of ${block} samples the piece touches plus ${context} samples of context`);
      }
      return blocks(buffer, bufferStart, totalLength, from, to);
    },
  };
}

/**
 * Runs the core's sosFiltFilt on x with the given odd extensions; writes its x-relative samples
 * [offset, offset + out.length) to `out` — straight from the core's memory: a copy in between
 * (a new array per block) cost more than the page faults of writing `out` itself.
 */
function run(sos: Sos, zi: number[][], x: Float32Array, padStart: number, padEnd: number, offset: number, out: Float32Array): void {
  const sections = sos.length;
  const length = padStart + x.length + padEnd;
  const sosPtr = core.alloc(sections * 48);
  const ziPtr = core.alloc(sections * 16);
  const statePtr = core.alloc(sections * 16);
  const dataPtr = core.alloc(length * 4);
  try {
    new Float64Array(core.memory.buffer, sosPtr, sections * 6).set(sos.flat());
    new Float64Array(core.memory.buffer, ziPtr, sections * 2).set(zi.flat());
    new Float32Array(core.memory.buffer, dataPtr + padStart * 4, x.length).set(x);
    core.sosFiltFilt(sosPtr, sections, ziPtr, dataPtr, padStart, x.length, padEnd, statePtr);
    out.set(new Float32Array(core.memory.buffer, dataPtr + (padStart + offset) * 4, out.length));
  } finally {
    core.free(dataPtr);
    core.free(statePtr);
    core.free(ziPtr);
    core.free(sosPtr);
  }
}
