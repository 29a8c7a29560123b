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

  constructor(n: i32) {
    assert(n >= 2 && n <= MAX_FFT_LENGTH, "RealFft: n out of range");
    const m = n & 1 ? n : n >> 1;
    this.n = n;
    this.m = m;
    const direct = radices(m) !== null;
    this.direct = direct ? new Stockham(m) : null;
    this.chirp = direct ? null : new Bluestein(m);
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
    const inB = this.transform(input);
    const zr = changetype<usize>(inB ? this.br : this.ar), zi = changetype<usize>(inB ? this.bi : this.ai);
    if (this.n & 1) interleave(zr, zi, (this.m >> 1) + 1, output);
    else this.split(false, zr, zi, output, 0, f32x4.splat(0));
  }

  /**
   * output[k] = scale · |X_k|² for the n/2+1 (floor) bins of the n f32 at `input`, computed from
   * the split spectrum without interleaving it; returns max(peak, output) lane-wise.
   */
  power(input: usize, output: usize, scale: f32, peak: v128): v128 {
    const inB = this.transform(input);
    const zr = changetype<usize>(inB ? this.br : this.ar), zi = changetype<usize>(inB ? this.bi : this.ai);
    if (this.n & 1) return powerOf(zr, zi, (this.m >> 1) + 1, output, scale, peak);
    return this.split(true, zr, zi, output, scale, peak);
  }

  /**
   * The complex transform of the packed input (even n) or of (x, 0) (odd n), left in (ar, ai) or,
   * if this returns true, in (br, bi).
   */
  private transform(input: usize): bool {
    const m = this.m;
    const zr = changetype<usize>(this.ar), zi = changetype<usize>(this.ai);
    const br = changetype<usize>(this.br), bi = changetype<usize>(this.bi);
    const direct = this.direct;
    // The first Stockham stage reads x[2j] + i·x[2j+1] straight from the input.
    if (direct !== null && (this.n & 1) == 0 && direct.packable) return direct.run(input, zr, zi, br, bi);
    if (this.n & 1) {
      memory.copy(zr, input, <usize>m << 2);
      memory.fill(zi, 0, <usize>m << 2);
    } else {
      deinterleave(input, m, zr, zi);
    }
    if (direct !== null) return direct.run(0, zr, zi, br, bi);
    this.chirp!.run(zr, zi);
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
      const ar = v128.load(zr + o), ai = v128.load(zi + o);
      const br = v128.shuffle<f32>(v128.load(zr + rev), v128.load(zr + rev), 3, 2, 1, 0);
      const bi = v128.shuffle<f32>(v128.load(zi + rev), v128.load(zi + rev), 3, 2, 1, 0);
      const cr = v128.load(wr + o), ci = v128.load(wi + o);
      // d = Z_k − conj Z_{m-k}; X = conj Z_{m-k} + C·d
      const dr = f32x4.sub(ar, br), di = f32x4.add(ai, bi);
      const xr = f32x4.add(br, f32x4.sub(f32x4.mul(cr, dr), f32x4.mul(ci, di)));
      const xi = f32x4.sub(f32x4.add(f32x4.mul(cr, di), f32x4.mul(ci, dr)), bi);
      if (power) {
        const p = f32x4.mul(f32x4.add(f32x4.mul(xr, xr), f32x4.mul(xi, xi)), s);
        v128.store(output + (<usize>k << 2), p);
        peak = f32x4.pmax(peak, p);
      } else {
        v128.store(output + (<usize>k << 3), v128.shuffle<f32>(xr, xi, 0, 4, 1, 5));
        v128.store(output + (<usize>k << 3), v128.shuffle<f32>(xr, xi, 2, 6, 3, 7), 16);
      }
    }
    for (; k < m; k++) {
      const o = <usize>k << 2, rev = <usize>(m - k) << 2;
      const ar = load<f32>(zr + o), ai = load<f32>(zi + o), br = load<f32>(zr + rev), bi = load<f32>(zi + rev);
      const cr = load<f32>(wr + o), ci = load<f32>(wi + o);
      const dr = ar - br, di = ai + bi;
      peak = emitOne(power, output, k, br + (cr * dr - ci * di), (cr * di + ci * dr) - bi, scale, peak);
    }
    return peak;
  }
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
