// Bluestein's chirp-z algorithm: a complex DFT of any length n as a circular convolution of
// length M = 2^⌈log2(2n-1)⌉, done with the power-of-two Stockham FFT.
// Reference: L. Bluestein (1970); Rabiner, Schafer & Rader, "The chirp z-transform algorithm"
// (1969). With w_j = exp(-πi·j²/n) and jk = (j² + k² - (k-j)²)/2:
//     X_k = w_k · Σ_j (x_j w_j) · conj(w_{k-j})  =  w_k · (a ⊛ b)_k,
//     a_j = x_j w_j (zero-padded to M), b_j = conj(w_j) for |j| < n (b_{M-j} = b_j), else 0.
// The inverse FFT of the convolution reuses the forward one: IFFT(Y) = swap(FFT(swap(Y)))/M,
// where swap exchanges re and im — free with split arrays (swap the pointers).
import { Stockham } from "./stockham";

export class Bluestein {
  readonly n: i32;
  readonly m: i32;
  private readonly fft: Stockham;
  /** w_j, j < n. */
  private readonly chirpRe: StaticArray<f32>;
  private readonly chirpIm: StaticArray<f32>;
  /** FFT_M(b) / M: the convolution kernel with the inverse FFT's scale folded in. */
  private readonly kernRe: StaticArray<f32>;
  private readonly kernIm: StaticArray<f32>;
  private readonly ar: StaticArray<f32>;
  private readonly ai: StaticArray<f32>;
  private readonly br: StaticArray<f32>;
  private readonly bi: StaticArray<f32>;

  constructor(n: i32) {
    let m = 1;
    while (m < 2 * n - 1) m <<= 1;
    this.n = n;
    this.m = m;
    this.fft = new Stockham(m);
    this.chirpRe = new StaticArray<f32>(n);
    this.chirpIm = new StaticArray<f32>(n);
    this.kernRe = new StaticArray<f32>(m);
    this.kernIm = new StaticArray<f32>(m);
    this.ar = new StaticArray<f32>(m);
    this.ai = new StaticArray<f32>(m);
    this.br = new StaticArray<f32>(m);
    this.bi = new StaticArray<f32>(m);
    const kr = changetype<usize>(this.ar), ki = changetype<usize>(this.ai);
    for (let j = 0; j < n; j++) {
      // j² mod 2n keeps the f64 angle exact for large j (w_j has period 2n in j²).
      const a = Math.PI * <f64>(<i64>j * j % (2 * <i64>n)) / <f64>n;
      const c = <f32>Math.cos(a), s = <f32>Math.sin(a);
      this.chirpRe[j] = c;
      this.chirpIm[j] = -s;
      this.ar[j] = c; // b_j = conj(w_j)
      this.ai[j] = s;
      if (j > 0) {
        this.ar[m - j] = c;
        this.ai[m - j] = s;
      }
    }
    const inB = this.fft.run(0, kr, ki, changetype<usize>(this.br), changetype<usize>(this.bi));
    const fr = inB ? this.br : this.ar, fi = inB ? this.bi : this.ai;
    const scale = <f32>(1.0 / <f64>m);
    for (let j = 0; j < m; j++) {
      this.kernRe[j] = fr[j] * scale;
      this.kernIm[j] = fi[j] * scale;
    }
  }

  /** Transforms the n complex values (xr, xi) in place. */
  run(xr: usize, xi: usize): void {
    const n = this.n, m = this.m;
    const wr = changetype<usize>(this.chirpRe), wi = changetype<usize>(this.chirpIm);
    const ar = changetype<usize>(this.ar), ai = changetype<usize>(this.ai);
    const br = changetype<usize>(this.br), bi = changetype<usize>(this.bi);
    // a = x · w, zero-padded
    multiply(xr, xi, wr, wi, n, ar, ai);
    memory.fill(ar + (<usize>n << 2), 0, <usize>(m - n) << 2);
    memory.fill(ai + (<usize>n << 2), 0, <usize>(m - n) << 2);
    const inB = this.fft.run(0, ar, ai, br, bi);
    const fr = inB ? br : ar, fi = inB ? bi : ai;
    const gr = inB ? ar : br, gi = inB ? ai : bi;
    // Y = F · K, stored swapped (re → fi, im → fr) so the next forward FFT is the inverse one.
    multiply(fr, fi, changetype<usize>(this.kernRe), changetype<usize>(this.kernIm), m, fi, fr);
    const inG = this.fft.run(0, fr, fi, gr, gi);
    // conv = swap(result): re in the im array, im in the re array; x = conv · w.
    multiply(inG ? gi : fi, inG ? gr : fr, wr, wi, n, xr, xi);
  }
}

/**
 * (outR, outI)[j] = (ar, ai)[j] · (br, bi)[j] for j < count, complex. Each element is read before
 * it is written, so (outR, outI) may be (ar, ai), even swapped.
 */
function multiply(ar: usize, ai: usize, br: usize, bi: usize, count: i32, outR: usize, outI: usize): void {
  let j = 0;
  for (; j + 4 <= count; j += 4) {
    const o = <usize>j << 2;
    const vr = v128.load(ar + o), vi = v128.load(ai + o), cr = v128.load(br + o), ci = v128.load(bi + o);
    v128.store(outR + o, f32x4.sub(f32x4.mul(vr, cr), f32x4.mul(vi, ci)));
    v128.store(outI + o, f32x4.add(f32x4.mul(vr, ci), f32x4.mul(vi, cr)));
  }
  for (; j < count; j++) {
    const o = <usize>j << 2;
    const vr = load<f32>(ar + o), vi = load<f32>(ai + o), cr = load<f32>(br + o), ci = load<f32>(bi + o);
    store<f32>(outR + o, vr * cr - vi * ci);
    store<f32>(outI + o, vr * ci + vi * cr);
  }
}
