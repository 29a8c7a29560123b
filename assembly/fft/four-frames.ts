// Power spectra of four frames at once, one frame per SIMD lane, for power-of-two lengths
// 16 ≤ n ≤ 4096: the batched STFT's kernel (assembly/stft.ts, `stftPowerColumns`).
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
// SIAM 1992, §1.4 and §2.3): radix-4 stages from span m down, the last stage radix 8 (twiddle
// free) when m is twice a power of four. Its output sits in digit-reversed order, which the
// split reads through a table of positions. With A = Z_k and B = Z_{m−k}, E = (A + conj B)/2 and
// O = (A − conj B)/2, P = i·W_n^k·O:
//     X_k = E − P,   X_{m−k} = conj(E + P)
// so one pass over k ≤ m/2 gives both bins of each pair (Numerical Recipes §12.3, rearranged).
// Each lane computes exactly the operations of every other, so a frame's values do not depend
// on which lane or group it went through.

/** Whether `FourFrameFft` handles real length n: a power of two with 16 ≤ n ≤ 4096 (measured faster than RealFft plus a layout change there, bench/PERFORMANCE.md). */
export function fourFrameLength(n: i32): bool {
  return n >= 16 && n <= 4096 && (n & (n - 1)) == 0;
}

/** Bytes of one complex element: four frames' real parts, then their imaginary parts. */
const ELEMENT = 32;

export class FourFrameFft {
  readonly n: i32;
  /** Points of the complex FFT, n/2. */
  private readonly m: i32;
  /** m complex elements of four lanes, 16-byte aligned, owned. */
  private readonly work: usize;
  /** Per radix-4 stage and butterfly j: cos and sin of −2π·j·r/span for r = 1, 2, 3. */
  private readonly twiddles: StaticArray<f32>;
  /** Byte offset in `work` of Z_k after the transform, k < m (digit reversal). */
  private readonly positions: StaticArray<i32>;
  /** cos and sin of 2π·k/n, k ≤ m/2: W_n^k = cos − i·sin. */
  private readonly splitCs: StaticArray<f32>;

  constructor(n: i32) {
    assert(fourFrameLength(n), "FourFrameFft: n must be a power of two in [16, 4096]");
    const m = n >> 1;
    this.n = n;
    this.m = m;
    this.work = heap.alloc(<usize>m * ELEMENT);
    // Radix 4 from span m down, radix 8 for a last span of 8 (m = 8, 32, 128, …).
    const radices = new Array<i32>();
    let twiddleCount = 0;
    for (let span = m; span > 1; span /= radices[radices.length - 1]) {
      const radix = span == 8 ? 8 : 4;
      if (radix == 4) twiddleCount += 6 * (span >> 2);
      radices.push(radix);
    }
    // (Fields are assigned once each array is filled: AssemblyScript wants them all set before `this` is used.)
    const twiddles = new StaticArray<f32>(twiddleCount);
    let t = 0;
    for (let span = m; span > 8 || span == 4; span >>= 2) {
      for (let j = 0; j < span >> 2; j++) {
        for (let r = 1; r <= 3; r++) {
          const a = -2 * Math.PI * <f64>(j * r) / <f64>span;
          twiddles[t++] = <f32>Math.cos(a);
          twiddles[t++] = <f32>Math.sin(a);
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
    this.twiddles = twiddles;
    this.positions = positions;
    this.splitCs = splitCs;
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
    let twiddles = changetype<usize>(this.twiddles);
    let span = m;
    for (; span > 8 || span == 4; span >>= 2) {
      radix4Stage(work, m, span, twiddles);
      twiddles += <usize>(span >> 2) * 24;
    }
    if (span == 8) radix8Stage(work, m);
    return this.split(output, rowBytes, lanes, scale, peak);
  }

  /** work[j] = (x_f[2j]·w[2j], x_f[2j+1]·w[2j+1]) over the frames f: a 4 × 4 transposition per four samples. */
  @inline private pack(x0: usize, x1: usize, x2: usize, x3: usize, window: usize): void {
    const work = this.work;
    for (let i = 0, n = this.n; i < n; i += 4) {
      const o = <usize>i << 2;
      const w = v128.load(window + o);
      // Samples 2j … 2j+3 of the four frames, transposed, are re_j, im_j, re_{j+1}, im_{j+1}.
      transposeStore(f32x4.mul(v128.load(x0 + o), w), f32x4.mul(v128.load(x1 + o), w), f32x4.mul(v128.load(x2 + o), w), f32x4.mul(v128.load(x3 + o), w), work + (o << 2));
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
  }
}

/** Stores the transposition of the rows r0 … r3 as four consecutive vectors at `out`. */
@inline function transposeStore(r0: v128, r1: v128, r2: v128, r3: v128, out: usize): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(out, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
  v128.store(out, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
  v128.store(out, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
}

/** Stores the first `lanes` values of v at p (all four when `output` is not 0 and lanes is 4); returns max(peak, those values). */
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
    // Even outputs: DFT4(a) → positions 0, 2, 4, 6.
    let t0r = f32x4.add(a0r, a2r), t0i = f32x4.add(a0i, a2i), t1r = f32x4.sub(a0r, a2r), t1i = f32x4.sub(a0i, a2i);
    let t2r = f32x4.add(a1r, a3r), t2i = f32x4.add(a1i, a3i), t3r = f32x4.sub(a1r, a3r), t3i = f32x4.sub(a1i, a3i);
    v128.store(p, f32x4.add(t0r, t2r));
    v128.store(p, f32x4.add(t0i, t2i), 16);
    v128.store(p, f32x4.add(t1r, t3i), 64);
    v128.store(p, f32x4.sub(t1i, t3r), 80);
    v128.store(p, f32x4.sub(t0r, t2r), 128);
    v128.store(p, f32x4.sub(t0i, t2i), 144);
    v128.store(p, f32x4.sub(t1r, t3i), 192);
    v128.store(p, f32x4.add(t1i, t3r), 208);
    // Odd outputs: DFT4(b) → positions 1, 3, 5, 7 (t0 = b0 + b2, t1 = b0 − b2, t2 = b1 + b3, t3 = b1 − b3).
    t0r = f32x4.add(b0r, d2i); t0i = f32x4.sub(b0i, d2r); t1r = f32x4.sub(b0r, d2i); t1i = f32x4.add(b0i, d2r);
    t2r = f32x4.add(b1r, b3r); t2i = f32x4.sub(b1i, u3); t3r = f32x4.sub(b1r, b3r); t3i = f32x4.add(b1i, u3);
    v128.store(p, f32x4.add(t0r, t2r), 32);
    v128.store(p, f32x4.add(t0i, t2i), 48);
    v128.store(p, f32x4.add(t1r, t3i), 96);
    v128.store(p, f32x4.sub(t1i, t3r), 112);
    v128.store(p, f32x4.sub(t0r, t2r), 160);
    v128.store(p, f32x4.sub(t0i, t2i), 176);
    v128.store(p, f32x4.sub(t1r, t3i), 224);
    v128.store(p, f32x4.add(t1i, t3r), 240);
  }
}
