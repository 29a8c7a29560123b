// Real-input FFT of any length n ≥ 2, numpy.fft.rfft convention: X_k = Σ_j x_j e^{-2πi jk/n},
// k = 0 … ⌊n/2⌋, unscaled, written as interleaved (re, im) f32 pairs.
//
// Even n = 2m: the m-point complex FFT Z of z_j = x_{2j} + i·x_{2j+1}, then the split
//     X_k = (Z_k + conj Z_{m-k})/2  -  i/2 · W_n^k · (Z_k - conj Z_{m-k}),   Z_m ≡ Z_0
// (Numerical Recipes §12.3; the same pass as KissFFT's kiss_fftr / pffft's real finalisation),
// computed as X_k = B + C_k·(Z_k − B) with B = conj Z_{m-k} and C_k = (1 − i·W_n^k)/2: one
// complex multiply-add, 10 operations per bin instead of 14.
// Odd n: the n-point complex FFT of (x, 0).
// The complex FFT is the mixed-radix Stockham of assembly/fft/stockham.ts, or Bluestein when the
// length has a prime factor above MAX_RADIX (direct odd butterflies cost O(P) per point).
import { Bluestein } from "./fft/bluestein";
import { Stockham, radices } from "./fft/stockham";
import { Registry } from "./registry";

/** Largest supported length (the JS façade checks first and throws a RangeError). */
export const MAX_FFT_LENGTH: i32 = 1 << 24;

/** A real FFT plan: twiddles, factorisation and work buffers, all allocated here, once. */
export class RealFft {
  readonly n: i32;
  /** Length of the complex transform: n/2 for even n, n for odd n. */
  private readonly m: i32;
  private readonly direct: Stockham | null;
  private readonly chirp: Bluestein | null;
  private readonly ar: StaticArray<f32>;
  private readonly ai: StaticArray<f32>;
  private readonly br: StaticArray<f32>;
  private readonly bi: StaticArray<f32>;
  /** C_k = (1 − i·W_n^k)/2 for the even-n split, k < m. */
  private readonly splitRe: StaticArray<f32>;
  private readonly splitIm: StaticArray<f32>;
  /** Even n whose complex FFT ends in a radix-4 stage run here, fused with the split. */
  private readonly fused: bool;
  /** Even n whose first Stockham stage reads the packed input directly (`Stockham.packable`). */
  private readonly packed: bool;
  /** True if `power` takes a window, multiplied in as the first stage reads the input (`Stockham.windowable`). */
  readonly windowable: bool;

  constructor(n: i32) {
    assert(n >= 2 && n <= MAX_FFT_LENGTH, "RealFft: n out of range");
    const m = n & 1 ? n : n >> 1;
    this.n = n;
    this.m = m;
    const stockham = radices(m) !== null ? new Stockham(m) : null;
    this.direct = stockham;
    this.chirp = stockham === null ? new Bluestein(m) : null;
    this.fused = stockham !== null && (n & 1) == 0 && stockham.lastRadix4;
    const packed = stockham !== null && (n & 1) == 0 && stockham.packable;
    this.packed = packed;
    this.windowable = packed && stockham!.windowable;
    this.ar = new StaticArray<f32>(m);
    this.ai = new StaticArray<f32>(m);
    this.br = new StaticArray<f32>(m);
    this.bi = new StaticArray<f32>(m);
    this.splitRe = new StaticArray<f32>(m);
    this.splitIm = new StaticArray<f32>(m);
    if ((n & 1) == 0) {
      for (let k = 0; k < m; k++) {
        // W = cos a + i·sin a, so 1 − i·W = (1 + sin a) − i·cos a
        const a = -2 * Math.PI * <f64>k / <f64>n;
        this.splitRe[k] = <f32>(0.5 * (1 + Math.sin(a)));
        this.splitIm[k] = <f32>(-0.5 * Math.cos(a));
      }
    }
  }

  /** Writes the n/2+1 (floor) complex bins of the n f32 at `input` to `output` (input is read only). */
  forward(input: usize, output: usize): void {
    const inB = this.transform(input, 0);
    const zr = changetype<usize>(inB ? this.br : this.ar), zi = changetype<usize>(inB ? this.bi : this.ai);
    if (this.n & 1) interleave(zr, zi, (this.m >> 1) + 1, output);
    else if (this.fused) this.lastStageSplit(false, zr, zi, output, 0, f32x4.splat(0));
    else this.split(false, zr, zi, output, 0, f32x4.splat(0));
  }

  /**
   * output[k] = scale · |X_k|² for the n/2+1 (floor) bins of the n f32 at `input` — times the n f32
   * at `window` if that is not 0 (only when `windowable`) — computed from the split spectrum
   * without interleaving it; returns max(peak, output) lane-wise.
   */
  power(input: usize, window: usize, output: usize, scale: f32, peak: v128): v128 {
    const inB = this.transform(input, window);
    const zr = changetype<usize>(inB ? this.br : this.ar), zi = changetype<usize>(inB ? this.bi : this.ai);
    if (this.n & 1) return powerOf(zr, zi, (this.m >> 1) + 1, output, scale, peak);
    if (this.fused) return this.lastStageSplit(true, zr, zi, output, scale, peak);
    return this.split(true, zr, zi, output, scale, peak);
  }

  /**
   * The complex transform of the packed input (even n) or of (x, 0) (odd n), left in (ar, ai) or,
   * if this returns true, in (br, bi) — without its last stage if `fused`. The input is multiplied
   * by `window` unless that is 0 (only when `windowable`).
   */
  private transform(input: usize, window: usize): bool {
    const m = this.m;
    const zr = changetype<usize>(this.ar), zi = changetype<usize>(this.ai);
    const br = changetype<usize>(this.br), bi = changetype<usize>(this.bi);
    const direct = this.direct;
    const fused = this.fused;
    // The first Stockham stage reads x[2j] + i·x[2j+1] straight from the input.
    if (this.packed) return direct!.run(input, zr, zi, br, bi, fused, window);
    if (this.n & 1) {
      memory.copy(zr, input, <usize>m << 2);
      memory.fill(zi, 0, <usize>m << 2);
    } else {
      deinterleave(input, m, zr, zi);
    }
    if (direct !== null) return direct.run(0, zr, zi, br, bi, fused);
    this.chirp!.run(zr, zi);
    // Odd n transformed (x, 0): X_0 = Σ x_j is real, but the chirp's products leave float32
    // rounding in its imaginary part (-1.2e-5 at n = 10007). numpy's is exactly 0, as Stockham's
    // (its DC output only adds the zeros). Even n: the split writes X_0 and X_{n/2} as real.
    if (this.n & 1) store<f32>(zi, 0);
    return false;
  }

  /**
   * The even-n split of the packed spectrum Z into the n/2+1 bins X (header formula), written
   * as interleaved complex values, or — if `power` (a constant at each call) — as scale·|X_k|²,
   * the peak carried as in `power()`.
   */
  @inline private split(power: bool, zr: usize, zi: usize, output: usize, scale: f32, peak: v128): v128 {
    const m = this.m;
    const wr = changetype<usize>(this.splitRe), wi = changetype<usize>(this.splitIm);
    const s = f32x4.splat(scale);
    // X_0 = Re Z_0 + Im Z_0 and X_m = Re Z_0 − Im Z_0, both real.
    const z0r = load<f32>(zr), z0i = load<f32>(zi);
    peak = emitOne(power, output, 0, z0r + z0i, 0, scale, peak);
    peak = emitOne(power, output, m, z0r - z0i, 0, scale, peak);
    let k = 1;
    // Four k per step: Z_k … Z_{k+3} forwards, Z_{m-k} … Z_{m-k-3} loaded as one vector, reversed.
    for (; k + 4 <= m; k += 4) {
      const o = <usize>k << 2, rev = <usize>(m - k - 3) << 2;
      peak = emitSplit4(power, output, k, false,
        v128.load(zr + o), v128.load(zi + o), loadReversed(zr + rev), loadReversed(zi + rev),
        v128.load(wr + o), v128.load(wi + o), s, peak);
    }
    for (; k < m; k++) {
      const o = <usize>k << 2, rev = <usize>(m - k) << 2;
      peak = splitOne(power, output, k, load<f32>(zr + o), load<f32>(zi + o), load<f32>(zr + rev), load<f32>(zi + rev),
        load<f32>(wr + o), load<f32>(wi + o), scale, peak);
    }
    return peak;
  }

  /**
   * The last Stockham stage (radix 4, stride s = m/4, no twiddles: `Stockham.lastRadix4`) fused
   * with `split`, so Z is never stored. Butterfly q of that stage reads a_r = x[q + s·r] and gives
   * Z_{q+s·k} = DFT4(a)_k; the split's partner Z_{m−q−s·k} is output 3 − k of butterfly s − q.
   * Each step runs butterflies q … q+3 and, loaded reversed into the same lanes, s−q … s−q−3, and
   * writes both bins of all sixteen pairs. The partners' coefficients are conjugates:
   * W_n^{m−j} = −conj W_n^j, so C_{m−j} = conj C_j. Butterfly 0 pairs with itself (Z_0 gives X_0
   * and X_m, Z_s pairs with Z_3s, Z_2s with Z_2s); q = 1 … s/2 cover the rest, s/2 twice.
   */
  @inline private lastStageSplit(power: bool, xr: usize, xi: usize, output: usize, scale: f32, peak: v128): v128 {
    const m = this.m, s = m >> 2;
    const wr = changetype<usize>(this.splitRe), wi = changetype<usize>(this.splitIm);
    const is = <usize>s << 2;
    const sc = f32x4.splat(scale);
    {
      const a0r = load<f32>(xr), a1r = load<f32>(xr + is), a2r = load<f32>(xr + 2 * is), a3r = load<f32>(xr + 3 * is);
      const a0i = load<f32>(xi), a1i = load<f32>(xi + is), a2i = load<f32>(xi + 2 * is), a3i = load<f32>(xi + 3 * is);
      const t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
      const t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
      const z0r = t0r + t2r, z0i = t0i + t2i, z2r = t0r - t2r, z2i = t0i - t2i;
      const z1r = t1r + t3i, z1i = t1i - t3r, z3r = t1r - t3i, z3i = t1i + t3r;
      peak = emitOne(power, output, 0, z0r + z0i, 0, scale, peak);
      peak = emitOne(power, output, m, z0r - z0i, 0, scale, peak);
      const c1 = <usize>s << 2, c2 = <usize>(2 * s) << 2, c3 = <usize>(3 * s) << 2;
      peak = splitOne(power, output, s, z1r, z1i, z3r, z3i, load<f32>(wr + c1), load<f32>(wi + c1), scale, peak);
      peak = splitOne(power, output, 3 * s, z3r, z3i, z1r, z1i, load<f32>(wr + c3), load<f32>(wi + c3), scale, peak);
      peak = splitOne(power, output, 2 * s, z2r, z2i, z2r, z2i, load<f32>(wr + c2), load<f32>(wi + c2), scale, peak);
    }
    for (let q = 1; q < s >> 1; q += 4) {
      const o = <usize>q << 2, mo = <usize>(s - q - 3) << 2;
      // Butterflies q … q+3: DFT4(a)_k = t0 + t2, t1 − i·t3, t0 − t2, t1 + i·t3
      let ar = v128.load(xr + o), ai = v128.load(xi + o), br = v128.load(xr + o + 2 * is), bi = v128.load(xi + o + 2 * is);
      const t0r = f32x4.add(ar, br), t0i = f32x4.add(ai, bi), t1r = f32x4.sub(ar, br), t1i = f32x4.sub(ai, bi);
      ar = v128.load(xr + o + is); ai = v128.load(xi + o + is); br = v128.load(xr + o + 3 * is); bi = v128.load(xi + o + 3 * is);
      const t2r = f32x4.add(ar, br), t2i = f32x4.add(ai, bi), t3r = f32x4.sub(ar, br), t3i = f32x4.sub(ai, bi);
      // Butterflies s−q … s−q−3, their lanes reversed
      ar = loadReversed(xr + mo); ai = loadReversed(xi + mo); br = loadReversed(xr + mo + 2 * is); bi = loadReversed(xi + mo + 2 * is);
      const u0r = f32x4.add(ar, br), u0i = f32x4.add(ai, bi), u1r = f32x4.sub(ar, br), u1i = f32x4.sub(ai, bi);
      ar = loadReversed(xr + mo + is); ai = loadReversed(xi + mo + is); br = loadReversed(xr + mo + 3 * is); bi = loadReversed(xi + mo + 3 * is);
      const u2r = f32x4.add(ar, br), u2i = f32x4.add(ai, bi), u3r = f32x4.sub(ar, br), u3i = f32x4.sub(ai, bi);
      // Pairs (k, 3 − k): Z_{q+s·k} from t, its partner from u.
      peak = this.splitPair(power, output, q, sc, f32x4.add(t0r, t2r), f32x4.add(t0i, t2i), f32x4.sub(u1r, u3i), f32x4.add(u1i, u3r), peak);
      peak = this.splitPair(power, output, q + 2 * s, sc, f32x4.sub(t0r, t2r), f32x4.sub(t0i, t2i), f32x4.add(u1r, u3i), f32x4.sub(u1i, u3r), peak);
      peak = this.splitPair(power, output, q + s, sc, f32x4.add(t1r, t3i), f32x4.sub(t1i, t3r), f32x4.sub(u0r, u2r), f32x4.sub(u0i, u2i), peak);
      peak = this.splitPair(power, output, q + 3 * s, sc, f32x4.sub(t1r, t3i), f32x4.add(t1i, t3r), f32x4.add(u0r, u2r), f32x4.add(u0i, u2i), peak);
    }
    return peak;
  }

  /** Bins j … j+3 from Z = Z_j… and P = Z_{m−j}… (lanes matched), and bins m−j, m−j−1, … from the same pairs. */
  @inline private splitPair(power: bool, output: usize, j: i32, scale: v128, zr: v128, zi: v128, pr: v128, pi: v128, peak: v128): v128 {
    const o = <usize>j << 2;
    const cr = v128.load(changetype<usize>(this.splitRe) + o), ci = v128.load(changetype<usize>(this.splitIm) + o);
    peak = emitSplit4(power, output, j, false, zr, zi, pr, pi, cr, ci, scale, peak);
    return emitSplit4(power, output, this.m - j, true, pr, pi, zr, zi, cr, ci, scale, peak);
  }
}

/**
 * The split for four bins: X = B + C·(Z − B) with B = conj P (header formula; Z = Z_k, P = Z_{m−k},
 * C = C_k), written at bins k … k+3 — or, if `reversed`, for the partners m − j of `splitPair`:
 * lane 0 at bin k, lane 3 at k − 3, with the coefficient conj C (C_{m−j} = conj C_j), whose sign is
 * flipped in the arithmetic rather than by a negation (x64 has no instruction for one).
 */
@inline function emitSplit4(power: bool, output: usize, k: i32, reversed: bool, zr: v128, zi: v128, pr: v128, pi: v128, cr: v128, ci: v128, scale: v128, peak: v128): v128 {
  const dr = f32x4.sub(zr, pr), di = f32x4.add(zi, pi);
  const xr = f32x4.add(pr, reversed ? f32x4.add(f32x4.mul(cr, dr), f32x4.mul(ci, di)) : f32x4.sub(f32x4.mul(cr, dr), f32x4.mul(ci, di)));
  const xi = f32x4.sub(reversed ? f32x4.sub(f32x4.mul(cr, di), f32x4.mul(ci, dr)) : f32x4.add(f32x4.mul(cr, di), f32x4.mul(ci, dr)), pi);
  const first = reversed ? k - 3 : k;
  if (power) {
    const p = f32x4.mul(f32x4.add(f32x4.mul(xr, xr), f32x4.mul(xi, xi)), scale);
    v128.store(output + (<usize>first << 2), reversed ? v128.shuffle<f32>(p, p, 3, 2, 1, 0) : p);
    return f32x4.pmax(peak, p);
  }
  const out = output + (<usize>first << 3);
  if (reversed) {
    v128.store(out, v128.shuffle<f32>(xr, xi, 3, 7, 2, 6));
    v128.store(out, v128.shuffle<f32>(xr, xi, 1, 5, 0, 4), 16);
  } else {
    v128.store(out, v128.shuffle<f32>(xr, xi, 0, 4, 1, 5));
    v128.store(out, v128.shuffle<f32>(xr, xi, 2, 6, 3, 7), 16);
  }
  return peak;
}

/** One bin of the split (as emitSplit4). */
@inline function splitOne(power: bool, output: usize, k: i32, zr: f32, zi: f32, pr: f32, pi: f32, cr: f32, ci: f32, scale: f32, peak: v128): v128 {
  const dr = zr - pr, di = zi + pi;
  return emitOne(power, output, k, pr + (cr * dr - ci * di), (cr * di + ci * dr) - pi, scale, peak);
}

/** The four f32 at `ptr`, last first. */
@inline function loadReversed(ptr: usize): v128 {
  const v = v128.load(ptr);
  return v128.shuffle<f32>(v, v, 3, 2, 1, 0);
}

/** Bin k = (re, im) as a complex value, or as scale·(re² + im²) if `power`; returns the peak. */
@inline function emitOne(power: bool, output: usize, k: i32, re: f32, im: f32, scale: f32, peak: v128): v128 {
  if (power) {
    const p = (re * re + im * im) * scale;
    store<f32>(output + (<usize>k << 2), p);
    return f32x4.pmax(peak, f32x4.splat(p));
  }
  store<f32>(output + (<usize>k << 3), re);
  store<f32>(output + (<usize>k << 3), im, 4);
  return peak;
}

/** out[k] = scale·(zr[k]² + zi[k]²), `count` values; returns max(peak, out) lane-wise. */
function powerOf(zr: usize, zi: usize, count: i32, out: usize, scale: f32, peak: v128): v128 {
  const s = f32x4.splat(scale);
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    const r = v128.load(zr + (<usize>k << 2)), i = v128.load(zi + (<usize>k << 2));
    const p = f32x4.mul(f32x4.add(f32x4.mul(r, r), f32x4.mul(i, i)), s);
    v128.store(out + (<usize>k << 2), p);
    peak = f32x4.pmax(peak, p);
  }
  for (; k < count; k++) peak = emitOne(true, out, k, load<f32>(zr + (<usize>k << 2)), load<f32>(zi + (<usize>k << 2)), scale, peak);
  return peak;
}

/** zr[j] = x[2j], zi[j] = x[2j+1], j < m. */
function deinterleave(x: usize, m: i32, zr: usize, zi: usize): void {
  let j = 0;
  for (; j + 4 <= m; j += 4) {
    const a = v128.load(x + (<usize>j << 3)), b = v128.load(x + (<usize>j << 3), 16);
    v128.store(zr + (<usize>j << 2), v128.shuffle<f32>(a, b, 0, 2, 4, 6));
    v128.store(zi + (<usize>j << 2), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
  }
  for (; j < m; j++) {
    store<f32>(zr + (<usize>j << 2), load<f32>(x + (<usize>j << 3)));
    store<f32>(zi + (<usize>j << 2), load<f32>(x + (<usize>j << 3), 4));
  }
}

/** out = (zr[0], zi[0], zr[1], zi[1], …), `count` pairs. */
function interleave(zr: usize, zi: usize, count: i32, out: usize): void {
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    const r = v128.load(zr + (<usize>k << 2)), i = v128.load(zi + (<usize>k << 2));
    v128.store(out + (<usize>k << 3), v128.shuffle<f32>(r, i, 0, 4, 1, 5));
    v128.store(out + (<usize>k << 3), v128.shuffle<f32>(r, i, 2, 6, 3, 7), 16);
  }
  for (; k < count; k++) {
    store<f32>(out + (<usize>k << 3), load<f32>(zr + (<usize>k << 2)));
    store<f32>(out + (<usize>k << 3), load<f32>(zi + (<usize>k << 2)), 4);
  }
}

// Plans live here, held by integer handle; the registry is what keeps the GC from freeing them.
const plans = new Registry<RealFft>();

/** Creates a plan for length n (2 ≤ n ≤ MAX_FFT_LENGTH) and returns its handle. */
export function fftCreate(n: i32): i32 {
  return plans.add(new RealFft(n));
}

/** rfft of the n f32 at `input` into n/2+1 interleaved complex f32 at `output`. */
export function fftForward(handle: i32, input: usize, output: usize): void {
  plans.get(handle).forward(input, output);
}

/** Releases a plan; its buffers are garbage-collected with it. */
export function fftDestroy(handle: i32): void {
  plans.remove(handle);
}
