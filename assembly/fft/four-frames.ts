// Power spectra of four frames at once, one frame per SIMD lane, for even lengths 16 ≤ n ≤ MAX_LENGTH
// whose half n/2 has no prime factor above MAX_ODD_RADIX: the batched STFT's kernel
// (assembly/stft.ts, `stftPowerColumns`).
//
// Lane f of every vector belongs to frame f, as in FFTW's vectorised loops over many transforms
// ("vector rank": Frigo & Johnson, "The design and implementation of FFTW3", Proc. IEEE 93(2),
// 2005, §IV). A butterfly is then the scalar butterfly on four frames — no shuffles, no
// half-used vectors — and the power of bin k comes out as one vector of four frames: a 16-byte
// store into row k of a [bins][frames] matrix, so the output needs no layout change afterwards.
// The price is a 4 × 4 transposition of the input, and a working buffer four times a frame's.
//
// The transform is RealFft's (assembly/fft.ts) on four lanes: the m = n/2-point complex FFT Z of
// z_j = x_{2j} + i·x_{2j+1}, then the split. Here the complex FFT is decimation in frequency, in
// place (Cooley & Tukey; Van Loan, "Computational Frameworks for the Fast Fourier Transform",
// SIAM 1992, §1.4 and §2.3): radix-4 stages from span m down, then radix 3 and 5, then the other
// odd primes (one generic kernel), then the last power-of-two stage if m is even (`stageRadices`). Its output sits in mixed-radix digit-reversed order, which the split
// reads through a table of positions. With A = Z_k and B = Z_{m−k}, E = (A + conj B)/2 and
// O = (A − conj B)/2, P = i·W_n^k·O:
//     X_k = E − P,   X_{m−k} = conj(E + P)
// so one pass over k ≤ m/2 gives both bins of each pair (Numerical Recipes §12.3, rearranged).
// Each lane computes exactly the operations of every other, so a frame's values do not depend
// on which lane or group it went through.
import { transposeStore } from "../transpose";

/**
 * Longest length served. The transforms were measured faster than RealFft plus a layout change at
 * every length they serve up to here (bench/PERFORMANCE.md); a longer frame's four-lane buffer
 * (n/2 · 32 bytes) no longer fits in L2.
 */
const MAX_LENGTH = 9600;

/**
 * The largest prime radix of the generic odd stage (`oddStage`). Up to 13 the four-frame transforms
 * were faster than RealFft plus a layout change (882 = 2·3²·7²: 1.12×, 1430 = 2·5·11·13: 1.28×);
 * at 19 … 37, whose ≈ P²/4 multiply-adds per point dominate both paths, they were not (1102 =
 * 2·19·29: 0.95–1.05×, 2294 = 2·31·37: 0.78–0.97×; bench/PERFORMANCE.md).
 */
const MAX_ODD_RADIX = 13;

/** Whether `FourFrameFft` handles real length n: n even, 16 ≤ n ≤ MAX_LENGTH, no prime factor of n/2 above MAX_ODD_RADIX. */
export function fourFrameLength(n: i32): bool {
  if (n < 16 || n > MAX_LENGTH || n % 2 != 0) return false;
  let rest = n >> 1;
  for (let p = 2; p <= MAX_ODD_RADIX; p++) while (rest % p == 0) rest /= p;
  return rest == 1;
}

/**
 * The radices of the complex FFT's stages, first (span m) to last, for m = 2^p·3^b·5^c·(odd primes
 * ≤ MAX_ODD_RADIX): radix 4 while it leaves the last power-of-two stage enough, then the 3s and
 * 5s, then the other primes in increasing order, then that last stage — 8 (p odd, p ≥ 3) or 2
 * (p = 1), both run without twiddles, or 4 (p even, p ≥ 2); none when m is odd.
 */
function stageRadices(m: i32): Array<i32> {
  let p = 0, rest = m;
  for (; rest % 2 == 0; rest /= 2) p++;
  const last = p == 0 ? 0 : p & 1 ? (p >= 3 ? 8 : 2) : 4;
  const radices = new Array<i32>();
  for (let i = 0, fours = (p - (last == 8 ? 3 : last == 4 ? 2 : last == 2 ? 1 : 0)) >> 1; i < fours; i++) radices.push(4);
  for (let q = 3; q <= MAX_ODD_RADIX; q += 2) for (; rest % q == 0; rest /= q) radices.push(q);
  if (last != 0) radices.push(last);
  return radices;
}

/** Bytes of one complex element: four frames' real parts, then their imaginary parts. */
const ELEMENT = 32;

export class FourFrameFft {
  readonly n: i32;
  /** Points of the complex FFT, n/2. */
  private readonly m: i32;
  /** m complex elements of four lanes, 16-byte aligned, owned. */
  private readonly work: usize;
  /** The stages' radices, first to last (`stageRadices`). */
  private readonly radices: StaticArray<i32>;
  /** Per stage of radix R in {3, 4, 5} and butterfly j: cos and sin of −2π·j·r/span for r = 1 … R−1. */
  private readonly twiddles: StaticArray<f32>;
  /** Byte offset in `work` of Z_k after the transform, k < m (digit reversal). */
  private readonly positions: StaticArray<i32>;
  /** cos and sin of 2π·k/n, k ≤ m/2: W_n^k = cos − i·sin. */
  private readonly splitCs: StaticArray<f32>;
  /** Per generic odd stage of radix P (`oddStage`), in stage order: cos and sin of 2π·rk/P, k and r = 1 … (P − 1)/2. */
  private readonly oddTables: StaticArray<f32>;
  /** `oddStage`'s t_r and d_r: MAX_ODD_RADIX − 1 complex elements. */
  private readonly scratch: usize;

  constructor(n: i32) {
    assert(fourFrameLength(n), "FourFrameFft: n must be even, in [16, 9600], n/2 without a prime factor above 13");
    const m = n >> 1;
    this.n = n;
    this.m = m;
    this.work = heap.alloc(<usize>m * ELEMENT);
    this.scratch = heap.alloc(<usize>(MAX_ODD_RADIX - 1) * ELEMENT);
    const radices = stageRadices(m);
    const oddTables = new Array<f32>();
    for (let i = 0; i < radices.length; i++) {
      const radix = radices[i];
      if (radix <= 5) continue;
      // cos and sin of 2π·rk/P for k = 1 … h, r = 1 … h, in the order oddStage reads them.
      for (let k = 1; k <= radix >> 1; k++) {
        for (let r = 1; r <= radix >> 1; r++) {
          const a = 2 * Math.PI * <f64>((r * k) % radix) / <f64>radix;
          oddTables.push(<f32>Math.cos(a));
          oddTables.push(<f32>Math.sin(a));
        }
      }
    }
    // (Fields are assigned once each array is filled: AssemblyScript wants them all set before `this` is used.)
    const twiddles = new Array<f32>();
    for (let i = 0, span = m; i < radices.length; span /= radices[i++]) {
      const radix = radices[i];
      if (radix == 8 || radix == 2) continue;
      for (let j = 0; j < span / radix; j++) {
        for (let r = 1; r < radix; r++) {
          const a = -2 * Math.PI * <f64>(j * r) / <f64>span;
          twiddles.push(<f32>Math.cos(a));
          twiddles.push(<f32>Math.sin(a));
        }
      }
    }
    // In-place decimation in frequency leaves Z_k at the mixed-radix reversal of k: with
    // k = k₁ + r₁·k₂ + r₁r₂·k₃ + …, position k₁·m/r₁ + k₂·m/(r₁r₂) + …
    const positions = new StaticArray<i32>(m);
    for (let k = 0; k < m; k++) {
      let rest = k, position = 0, span = m;
      for (let i = 0; i < radices.length; i++) {
        const r = radices[i];
        span /= r;
        position += (rest % r) * span;
        rest /= r;
      }
      positions[k] = position * ELEMENT;
    }
    const splitCs = new StaticArray<f32>(m + 2);
    for (let k = 0; k <= m >> 1; k++) {
      const a = 2 * Math.PI * <f64>k / <f64>n;
      splitCs[2 * k] = <f32>Math.cos(a);
      splitCs[2 * k + 1] = <f32>Math.sin(a);
    }
    this.radices = StaticArray.fromArray(radices);
    this.twiddles = StaticArray.fromArray(twiddles);
    this.positions = positions;
    this.splitCs = splitCs;
    this.oddTables = StaticArray.fromArray(oddTables);
  }

  /**
   * scale·|X_k|² of the four frames of n f32 at x0 … x3, each times the n f32 at `window`, stored
   * as four consecutive f32 (frames 0 … 3) at output + k·rowBytes for k = 0 … n/2 — only the first
   * `lanes` of them when lanes < 4, and nothing when output is 0. Returns max(peak, values of the
   * first `lanes` frames) lane-wise.
   */
  power(x0: usize, x1: usize, x2: usize, x3: usize, window: usize, output: usize, rowBytes: usize, lanes: i32, scale: f32, peak: v128): v128 {
    this.pack(x0, x1, x2, x3, window);
    const work = this.work, m = this.m;
    const radices = this.radices;
    let twiddles = changetype<usize>(this.twiddles), oddTable = changetype<usize>(this.oddTables);
    for (let i = 0, span = m; i < radices.length; span /= radices[i++]) {
      const radix = radices[i];
      // 8 and 2 come last, where their span is their radix and every twiddle is 1.
      if (radix == 8) radix8Stage(work, m);
      else if (radix == 2) radix2Stage(work, m);
      else {
        if (radix == 4) radix4Stage(work, m, span, twiddles);
        else if (radix == 3) radix3Stage(work, m, span, twiddles);
        else if (radix == 5) radix5Stage(work, m, span, twiddles);
        else {
          oddStage(work, m, span, radix, twiddles, oddTable, this.scratch);
          oddTable += <usize>((radix >> 1) * (radix >> 1)) << 3;
        }
        twiddles += <usize>(span / radix * (radix - 1)) << 3;
      }
    }
    return this.split(output, rowBytes, lanes, scale, peak);
  }

  /**
   * work[j] = (x_f[2j]·w[2j], x_f[2j+1]·w[2j+1]) over the frames f: a 4 × 4 transposition per four
   * samples, and when n ≡ 2 (mod 4) the last two samples gathered a lane per frame.
   */
  @inline private pack(x0: usize, x1: usize, x2: usize, x3: usize, window: usize): void {
    const work = this.work, n = this.n;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const w = v128.load(window + o);
      // Samples 2j … 2j+3 of the four frames, transposed, are re_j, im_j, re_{j+1}, im_{j+1}.
      transposeStore(work + (o << 2), 16, f32x4.mul(v128.load(x0 + o), w), f32x4.mul(v128.load(x1 + o), w), f32x4.mul(v128.load(x2 + o), w), f32x4.mul(v128.load(x3 + o), w));
    }
    if (i < n) {
      const o = <usize>i << 2;
      v128.store(work + (o << 2), f32x4.mul(gather(x0, x1, x2, x3, o), v128.load32_splat(window + o)));
      v128.store(work + (o << 2), f32x4.mul(gather(x0, x1, x2, x3, o + 4), v128.load32_splat(window + o + 4)), 16);
    }
  }

  /** The split (header formula), |X|² scaled, stored a row per bin; lanes as in `power`. */
  @inline private split(output: usize, rowBytes: usize, lanes: i32, scale: f32, peak: v128): v128 {
    const work = this.work, m = this.m;
    const positions = changetype<usize>(this.positions), cs = changetype<usize>(this.splitCs);
    // E and O are formed without their halves: a quarter in the scale.
    const sc = f32x4.splat(scale), quarter = f32x4.splat(scale * 0.25);
    // Z_0 gives X_0 = Re Z_0 + Im Z_0 and X_m = Re Z_0 − Im Z_0.
    const z0 = work + <usize>load<i32>(positions);
    const r0 = v128.load(z0), i0 = v128.load(z0, 16);
    const dc = f32x4.add(r0, i0), nyquist = f32x4.sub(r0, i0);
    peak = emit(output, 0, lanes, f32x4.mul(sc, f32x4.mul(dc, dc)), peak);
    peak = emit(output, <usize>m * rowBytes, lanes, f32x4.mul(sc, f32x4.mul(nyquist, nyquist)), peak);
    for (let k = 1; k <= m >> 1; k++) {
      const a = work + <usize>load<i32>(positions + (<usize>k << 2)), b = work + <usize>load<i32>(positions + (<usize>(m - k) << 2));
      const ar = v128.load(a), ai = v128.load(a, 16), br = v128.load(b), bi = v128.load(b, 16);
      const er = f32x4.add(ar, br), ei = f32x4.sub(ai, bi), or = f32x4.sub(ar, br), oi = f32x4.add(ai, bi);
      const c = v128.load32_splat(cs + (<usize>k << 3)), s = v128.load32_splat(cs + (<usize>k << 3), 4);
      // W·O = (c·or + s·oi) + i·(c·oi − s·or), so P = i·W·O = −(c·oi − s·or) + i·(c·or + s·oi).
      const wr = f32x4.add(f32x4.mul(c, or), f32x4.mul(s, oi)), wi = f32x4.sub(f32x4.mul(c, oi), f32x4.mul(s, or));
      const xr = f32x4.add(er, wi), xi = f32x4.sub(ei, wr); // E − P
      const yr = f32x4.sub(er, wi), yi = f32x4.add(ei, wr); // E + P
      peak = emit(output, <usize>k * rowBytes, lanes, f32x4.mul(quarter, f32x4.add(f32x4.mul(xr, xr), f32x4.mul(xi, xi))), peak);
      peak = emit(output, <usize>(m - k) * rowBytes, lanes, f32x4.mul(quarter, f32x4.add(f32x4.mul(yr, yr), f32x4.mul(yi, yi))), peak);
    }
    return peak;
  }

  dispose(): void {
    heap.free(this.work);
    heap.free(this.scratch);
  }
}

/** The f32 at byte `o` of each of the four frames, frame f in lane f. */
@inline function gather(x0: usize, x1: usize, x2: usize, x3: usize, o: usize): v128 {
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(x0 + o)), 1, load<f32>(x1 + o)), 2, load<f32>(x2 + o)), 3, load<f32>(x3 + o));
}

/** Stores the first `lanes` (1 … 4) values of v at output + offset, nothing when output is 0; returns max(peak, those values). */
@inline function emit(output: usize, offset: usize, lanes: i32, v: v128, peak: v128): v128 {
  if (lanes < 4) {
    // The missing frames' lanes repeat the last one given (stftPowerColumns), so their maximum is that frame's.
    if (output != 0) {
      const p = output + offset;
      v128.store32_lane(p, v, 0);
      if (lanes > 1) v128.store32_lane(p, v, 1, 4);
      if (lanes > 2) v128.store32_lane(p, v, 2, 8);
    }
  } else if (output != 0) {
    v128.store(output + offset, v);
  }
  return f32x4.pmax(peak, v);
}

/**
 * One radix-4 decimation-in-frequency stage over spans of `span` elements: butterfly j of a
 * span takes a_r = x[j + r·span/4] and leaves DFT4(a)_r · W_span^{j·r} in their places.
 */
function radix4Stage(work: usize, m: i32, span: i32, twiddles: usize): void {
  const quarter = span >> 2, stride = <usize>quarter * ELEMENT;
  for (let g = 0; g < m; g += span) {
    for (let j = 0; j < quarter; j++) {
      const a = work + <usize>(g + j) * ELEMENT, b = a + stride, c = b + stride, d = c + stride;
      const ar = v128.load(a), ai = v128.load(a, 16), br = v128.load(b), bi = v128.load(b, 16);
      const cr = v128.load(c), ci = v128.load(c, 16), dr = v128.load(d), di = v128.load(d, 16);
      const t0r = f32x4.add(ar, cr), t0i = f32x4.add(ai, ci), t1r = f32x4.sub(ar, cr), t1i = f32x4.sub(ai, ci);
      const t2r = f32x4.add(br, dr), t2i = f32x4.add(bi, di), t3r = f32x4.sub(br, dr), t3i = f32x4.sub(bi, di);
      v128.store(a, f32x4.add(t0r, t2r));
      v128.store(a, f32x4.add(t0i, t2i), 16);
      const t = twiddles + <usize>j * 24;
      // DFT4 outputs 1, 2, 3: t1 − i·t3, t0 − t2, t1 + i·t3
      twiddleStore(b, f32x4.add(t1r, t3i), f32x4.sub(t1i, t3r), t);
      twiddleStore(c, f32x4.sub(t0r, t2r), f32x4.sub(t0i, t2i), t + 8);
      twiddleStore(d, f32x4.sub(t1r, t3i), f32x4.add(t1i, t3r), t + 16);
    }
  }
}

/** Stores (re + i·im)·(c + i·s) at p, with c and s the two f32 at `twiddle`. */
@inline function twiddleStore(p: usize, re: v128, im: v128, twiddle: usize): void {
  const c = v128.load32_splat(twiddle), s = v128.load32_splat(twiddle, 4);
  v128.store(p, f32x4.sub(f32x4.mul(re, c), f32x4.mul(im, s)));
  v128.store(p, f32x4.add(f32x4.mul(re, s), f32x4.mul(im, c)), 16);
}

/** ½, sin(2π/3), cos(2π/5), cos(4π/5), sin(2π/5), sin(4π/5): the 3- and 5-point DFTs' constants, loaded (see HALF_SQRT2). */
const ODD_CONSTANTS = memory.data<f32>([0.5, 0.86602540378443865, 0.30901699437494742, -0.80901699437494742, 0.95105651629515357, 0.58778525229247313]);

/**
 * One radix-3 decimation-in-frequency stage (as radix4Stage): with t = b + c and d = b − c,
 * DFT3 = (a + t, a − t/2 − i·sin(2π/3)·d, a − t/2 + i·sin(2π/3)·d).
 */
function radix3Stage(work: usize, m: i32, span: i32, twiddles: usize): void {
  const third = span / 3, stride = <usize>third * ELEMENT;
  const half = v128.load32_splat(ODD_CONSTANTS), s3 = v128.load32_splat(ODD_CONSTANTS, 4);
  for (let g = 0; g < m; g += span) {
    for (let j = 0; j < third; j++) {
      const a = work + <usize>(g + j) * ELEMENT, b = a + stride, c = b + stride;
      const ar = v128.load(a), ai = v128.load(a, 16), br = v128.load(b), bi = v128.load(b, 16), cr = v128.load(c), ci = v128.load(c, 16);
      const tr = f32x4.add(br, cr), ti = f32x4.add(bi, ci);
      const dr = f32x4.mul(s3, f32x4.sub(br, cr)), di = f32x4.mul(s3, f32x4.sub(bi, ci));
      v128.store(a, f32x4.add(ar, tr));
      v128.store(a, f32x4.add(ai, ti), 16);
      const er = f32x4.sub(ar, f32x4.mul(half, tr)), ei = f32x4.sub(ai, f32x4.mul(half, ti));
      const t = twiddles + <usize>j * 16;
      // −i·d = di − i·dr
      twiddleStore(b, f32x4.add(er, di), f32x4.sub(ei, dr), t);
      twiddleStore(c, f32x4.sub(er, di), f32x4.add(ei, dr), t + 8);
    }
  }
}

/**
 * One radix-5 decimation-in-frequency stage (as radix4Stage). With t₁ = b + e, t₂ = c + d,
 * d₁ = b − e, d₂ = c − d, c_k = cos(2πk/5), s_k = sin(2πk/5):
 *   y₀ = a + t₁ + t₂,
 *   y₁, y₄ = a + c₁t₁ + c₂t₂ ∓ i·(s₁d₁ + s₂d₂),   y₂, y₃ = a + c₂t₁ + c₁t₂ ∓ i·(s₂d₁ − s₁d₂).
 */
function radix5Stage(work: usize, m: i32, span: i32, twiddles: usize): void {
  const fifth = span / 5, stride = <usize>fifth * ELEMENT;
  const c1 = v128.load32_splat(ODD_CONSTANTS, 8), c2 = v128.load32_splat(ODD_CONSTANTS, 12);
  const s1 = v128.load32_splat(ODD_CONSTANTS, 16), s2 = v128.load32_splat(ODD_CONSTANTS, 20);
  for (let g = 0; g < m; g += span) {
    for (let j = 0; j < fifth; j++) {
      const a = work + <usize>(g + j) * ELEMENT, b = a + stride, c = b + stride, d = c + stride, e = d + stride;
      const ar = v128.load(a), ai = v128.load(a, 16);
      let xr = v128.load(b), xi = v128.load(b, 16), yr = v128.load(e), yi = v128.load(e, 16);
      const t1r = f32x4.add(xr, yr), t1i = f32x4.add(xi, yi), d1r = f32x4.sub(xr, yr), d1i = f32x4.sub(xi, yi);
      xr = v128.load(c); xi = v128.load(c, 16); yr = v128.load(d); yi = v128.load(d, 16);
      const t2r = f32x4.add(xr, yr), t2i = f32x4.add(xi, yi), d2r = f32x4.sub(xr, yr), d2i = f32x4.sub(xi, yi);
      v128.store(a, f32x4.add(ar, f32x4.add(t1r, t2r)));
      v128.store(a, f32x4.add(ai, f32x4.add(t1i, t2i)), 16);
      const r1r = f32x4.add(ar, f32x4.add(f32x4.mul(c1, t1r), f32x4.mul(c2, t2r))), r1i = f32x4.add(ai, f32x4.add(f32x4.mul(c1, t1i), f32x4.mul(c2, t2i)));
      const r2r = f32x4.add(ar, f32x4.add(f32x4.mul(c2, t1r), f32x4.mul(c1, t2r))), r2i = f32x4.add(ai, f32x4.add(f32x4.mul(c2, t1i), f32x4.mul(c1, t2i)));
      const u1r = f32x4.add(f32x4.mul(s1, d1r), f32x4.mul(s2, d2r)), u1i = f32x4.add(f32x4.mul(s1, d1i), f32x4.mul(s2, d2i));
      const u2r = f32x4.sub(f32x4.mul(s2, d1r), f32x4.mul(s1, d2r)), u2i = f32x4.sub(f32x4.mul(s2, d1i), f32x4.mul(s1, d2i));
      const t = twiddles + <usize>j * 32;
      // r ∓ i·u = (r_re ± u_im) + i·(r_im ∓ u_re)
      twiddleStore(b, f32x4.add(r1r, u1i), f32x4.sub(r1i, u1r), t);
      twiddleStore(c, f32x4.add(r2r, u2i), f32x4.sub(r2i, u2r), t + 8);
      twiddleStore(d, f32x4.sub(r2r, u2i), f32x4.add(r2i, u2r), t + 16);
      twiddleStore(e, f32x4.sub(r1r, u1i), f32x4.add(r1i, u1r), t + 24);
    }
  }
}

/**
 * One decimation-in-frequency stage of an odd prime radix P (7, 11, 13), as radix4Stage,
 * in the symmetric form of the P-point DFT (as the generic kernel of assembly/fft/butterfly.ts):
 * with t_r = a_r + a_{P−r} and d_r = a_r − a_{P−r} for r = 1 … h, h = (P − 1)/2,
 *   y₀ = a₀ + Σ t_r,   y_k, y_{P−k} = a₀ + Σ_r cos(2πrk/P)·t_r ∓ i·Σ_r sin(2πrk/P)·d_r,
 * about P²/4 complex multiply-adds per butterfly of four frames — no lanes lost, as every lane is a
 * frame. `table`: cos and sin of 2π·rk/P, row k = 1 … h, column r = 1 … h; `scratch` keeps the t_r and d_r.
 */
function oddStage(work: usize, m: i32, span: i32, radix: i32, twiddles: usize, table: usize, scratch: usize): void {
  const part = span / radix, stride = <usize>part * ELEMENT, h = radix >> 1;
  for (let g = 0; g < m; g += span) {
    for (let j = 0; j < part; j++) {
      const a = work + <usize>(g + j) * ELEMENT;
      const a0r = v128.load(a), a0i = v128.load(a, 16);
      let y0r = a0r, y0i = a0i;
      for (let r = 1; r <= h; r++) {
        const x = a + <usize>r * stride, y = a + <usize>(radix - r) * stride, o = scratch + <usize>(r - 1) * (2 * ELEMENT);
        const xr = v128.load(x), xi = v128.load(x, 16), yr = v128.load(y), yi = v128.load(y, 16);
        const tr = f32x4.add(xr, yr), ti = f32x4.add(xi, yi);
        v128.store(o, tr);
        v128.store(o, ti, 16);
        v128.store(o, f32x4.sub(xr, yr), 32);
        v128.store(o, f32x4.sub(xi, yi), 48);
        y0r = f32x4.add(y0r, tr);
        y0i = f32x4.add(y0i, ti);
      }
      v128.store(a, y0r);
      v128.store(a, y0i, 16);
      const t = twiddles + <usize>j * (<usize>(radix - 1) << 3);
      // Two outputs k, k + 1 per pass over the t_r and d_r, each loaded once for both; then an odd h's last k alone.
      const row = <usize>h << 3;
      let k = 1;
      for (; k + 1 <= h; k += 2) {
        const cs = table + <usize>(k - 1) * row;
        let ar = a0r, ai = a0i, br = f32x4.splat(0), bi = br, ar2 = a0r, ai2 = a0i, br2 = br, bi2 = br;
        for (let r = 0; r < h; r++) {
          const o = scratch + <usize>r * (2 * ELEMENT), w = cs + (<usize>r << 3);
          const tr = v128.load(o), ti = v128.load(o, 16), dr = v128.load(o, 32), di = v128.load(o, 48);
          const c = v128.load32_splat(w), sn = v128.load32_splat(w, 4), c2 = v128.load32_splat(w + row), sn2 = v128.load32_splat(w + row, 4);
          ar = f32x4.add(ar, f32x4.mul(c, tr));
          ai = f32x4.add(ai, f32x4.mul(c, ti));
          br = f32x4.add(br, f32x4.mul(sn, dr));
          bi = f32x4.add(bi, f32x4.mul(sn, di));
          ar2 = f32x4.add(ar2, f32x4.mul(c2, tr));
          ai2 = f32x4.add(ai2, f32x4.mul(c2, ti));
          br2 = f32x4.add(br2, f32x4.mul(sn2, dr));
          bi2 = f32x4.add(bi2, f32x4.mul(sn2, di));
        }
        storeOddPair(a, stride, radix, k, t, ar, ai, br, bi);
        storeOddPair(a, stride, radix, k + 1, t, ar2, ai2, br2, bi2);
      }
      if (k <= h) {
        const cs = table + <usize>(k - 1) * row;
        let ar = a0r, ai = a0i, br = f32x4.splat(0), bi = br;
        for (let r = 0; r < h; r++) {
          const o = scratch + <usize>r * (2 * ELEMENT), w = cs + (<usize>r << 3);
          const c = v128.load32_splat(w), sn = v128.load32_splat(w, 4);
          ar = f32x4.add(ar, f32x4.mul(c, v128.load(o)));
          ai = f32x4.add(ai, f32x4.mul(c, v128.load(o, 16)));
          br = f32x4.add(br, f32x4.mul(sn, v128.load(o, 32)));
          bi = f32x4.add(bi, f32x4.mul(sn, v128.load(o, 48)));
        }
        storeOddPair(a, stride, radix, k, t, ar, ai, br, bi);
      }
    }
  }
}

/** oddStage's outputs y_k = A − i·B and y_{P−k} = A + i·B (A = ar + i·ai, B = br + i·bi), twiddled, into their places. */
@inline function storeOddPair(a: usize, stride: usize, radix: i32, k: i32, t: usize, ar: v128, ai: v128, br: v128, bi: v128): void {
  twiddleStore(a + <usize>k * stride, f32x4.add(ar, bi), f32x4.sub(ai, br), t + (<usize>(k - 1) << 3));
  twiddleStore(a + <usize>(radix - k) * stride, f32x4.sub(ar, bi), f32x4.add(ai, br), t + (<usize>(radix - k - 1) << 3));
}

/**
 * The 4-point DFT of (x₀, x₁, x₂, x₃) from t0 = x₀ + x₂, t1 = x₀ − x₂, t2 = x₁ + x₃, t3 = x₁ − x₃ —
 * t0 + t2, t1 − i·t3, t0 − t2, t1 + i·t3 — stored at every other element from p (radix8Stage's
 * even or odd outputs).
 */
@inline function storeDft4(p: usize, t0r: v128, t0i: v128, t1r: v128, t1i: v128, t2r: v128, t2i: v128, t3r: v128, t3i: v128): void {
  v128.store(p, f32x4.add(t0r, t2r));
  v128.store(p, f32x4.add(t0i, t2i), 16);
  v128.store(p, f32x4.add(t1r, t3i), 64);
  v128.store(p, f32x4.sub(t1i, t3r), 80);
  v128.store(p, f32x4.sub(t0r, t2r), 128);
  v128.store(p, f32x4.sub(t0i, t2i), 144);
  v128.store(p, f32x4.sub(t1r, t3i), 192);
  v128.store(p, f32x4.add(t1i, t3r), 208);
}

/** The last stage when it spans 2 elements (m = 2 times an odd number): 2-point DFTs, no twiddles. */
function radix2Stage(work: usize, m: i32): void {
  for (let g = 0; g < m; g += 2) {
    const p = work + <usize>g * ELEMENT;
    const ar = v128.load(p), ai = v128.load(p, 16), br = v128.load(p, 32), bi = v128.load(p, 48);
    v128.store(p, f32x4.add(ar, br));
    v128.store(p, f32x4.add(ai, bi), 16);
    v128.store(p, f32x4.sub(ar, br), 32);
    v128.store(p, f32x4.sub(ai, bi), 48);
  }
}

/** √½, loaded rather than inlined (see assembly/vmath.ts on v128 constants in loops). */
const HALF_SQRT2 = memory.data<f32>([0.70710678118654752]);

/**
 * The last stage when it spans 8 elements: an 8-point DFT of each group, no twiddles, as a
 * radix-2 step (b_t = (x_t − x_{t+4})·W₈^t) and two 4-point DFTs, even outputs from a, odd from b.
 */
function radix8Stage(work: usize, m: i32): void {
  const h = v128.load32_splat(HALF_SQRT2);
  for (let g = 0; g < m; g += 8) {
    const p = work + <usize>g * ELEMENT;
    let xr = v128.load(p), xi = v128.load(p, 16), yr = v128.load(p, 128), yi = v128.load(p, 144);
    const a0r = f32x4.add(xr, yr), a0i = f32x4.add(xi, yi), b0r = f32x4.sub(xr, yr), b0i = f32x4.sub(xi, yi);
    xr = v128.load(p, 32); xi = v128.load(p, 48); yr = v128.load(p, 160); yi = v128.load(p, 176);
    const a1r = f32x4.add(xr, yr), a1i = f32x4.add(xi, yi), d1r = f32x4.sub(xr, yr), d1i = f32x4.sub(xi, yi);
    xr = v128.load(p, 64); xi = v128.load(p, 80); yr = v128.load(p, 192); yi = v128.load(p, 208);
    const a2r = f32x4.add(xr, yr), a2i = f32x4.add(xi, yi), d2r = f32x4.sub(xr, yr), d2i = f32x4.sub(xi, yi);
    xr = v128.load(p, 96); xi = v128.load(p, 112); yr = v128.load(p, 224); yi = v128.load(p, 240);
    const a3r = f32x4.add(xr, yr), a3i = f32x4.add(xi, yi), d3r = f32x4.sub(xr, yr), d3i = f32x4.sub(xi, yi);
    // b1 = d1·(1 − i)/√2, b2 = d2·(−i) = d2i − i·d2r, b3 = d3·(−1 − i)/√2 = (d3i − d3r)/√2 − i·u3 with u3 = (d3r + d3i)/√2.
    // Written without negations: V8 builds each f32x4.neg from three instructions.
    const b1r = f32x4.mul(f32x4.add(d1r, d1i), h), b1i = f32x4.mul(f32x4.sub(d1i, d1r), h);
    const b3r = f32x4.mul(f32x4.sub(d3i, d3r), h), u3 = f32x4.mul(f32x4.add(d3r, d3i), h);
    // Even outputs from a, odd ones from b (b0 ± b2 and b1 ± b3 written out from the above).
    storeDft4(p, f32x4.add(a0r, a2r), f32x4.add(a0i, a2i), f32x4.sub(a0r, a2r), f32x4.sub(a0i, a2i),
      f32x4.add(a1r, a3r), f32x4.add(a1i, a3i), f32x4.sub(a1r, a3r), f32x4.sub(a1i, a3i));
    storeDft4(p + ELEMENT, f32x4.add(b0r, d2i), f32x4.sub(b0i, d2r), f32x4.sub(b0r, d2i), f32x4.add(b0i, d2r),
      f32x4.add(b1r, b3r), f32x4.sub(b1i, u3), f32x4.sub(b1r, b3r), f32x4.add(b1i, u3));
  }
}
