// Mixed-radix complex FFT, Stockham autosort formulation (decimation in frequency), forward,
// unscaled, on split re/im f32 arrays. Reference: Van Loan, "Computational Frameworks for the
// FFT" §1.7; OTFFT's Stockham DIF (http://wwwa.pikara.ne.jp/okojisan/otfft-en/stockham2.html),
// generalised from radix 2 to radix P.
//
// Stage with radix P, stride s (product of the radices already applied) and span m' = len/P
// (len = n/s, the length of the sub-transforms still to do) maps x → y:
//     for p < m', q < s:   a_r = x[q + s·(p + m'·r)]                         (r < P)
//                          y[q + s·(P·p + k)] = W_len^{p·k} · Σ_r a_r W_P^{r·k}   (k < P)
// Each stage is out of place and the result comes out in natural order: no bit reversal.
// The index q is contiguous in memory, so stages with s ≥ 4 run four q at a time (VEC); the
// first stage (s = 1) runs four p at a time (PVEC, or PACKED straight from the real input);
// tiny stages one butterfly at a time.
import { ONE, PACKED, PVEC, VEC, VEC_NOTW, radix2, radix3, radix4, radix5, radix7, radix8, radixOdd } from "./butterfly";
import { hasSpecialisedPackedStage, runSpecialisedPackedStage, runSpecialisedStage } from "./stages.generated";

/** Largest prime handled by a direct butterfly; lengths with a larger prime factor use Bluestein. */
export const MAX_RADIX = 37;

/** Radices of n in stage order, or null if n has a prime factor above MAX_RADIX. */
export function radices(n: i32): Array<i32> | null {
  const out = new Array<i32>();
  let m = n;
  // Powers of two as radix 4, and an odd exponent's 4·2 as one radix 8 (one memory pass fewer),
  // second, where the stride is ≥ 4. Not more 8s: a radix-8 butterfly keeps 16 input vectors
  // live, as many as x86-64 has SIMD registers, and 8·8·8 measured slower than 4·8·4·4.
  while (m % 4 == 0) { out.push(4); m /= 4; }
  if (m % 2 == 0) {
    m /= 2;
    if (out.length == 0) out.push(2);
    else if (out.length == 1) out[0] = 8;
    else out[1] = 8;
  }
  for (let p = 3; p <= m; p += 2) {
    while (m % p == 0) {
      if (p > MAX_RADIX) return null;
      out.push(p);
      m /= p;
    }
  }
  // The first stage (s = 1) is the only one vectorised across p with scattered stores (radix 4
  // and 8 transpose them into whole-vector stores); starting with a radix ≥ 4 makes every later
  // stride ≥ 4, i.e. contiguous four-lane stages.
  if (out.length > 1 && out[0] < 4) {
    let big = 0;
    for (let i = 1; i < out.length; i++) if (out[i] > out[big]) big = i;
    const p = out[big];
    out[big] = out[0];
    out[0] = p;
  }
  return out;
}

/** A Stockham plan for complex length n whose prime factors are all ≤ MAX_RADIX. */
export class Stockham {
  readonly n: i32;
  /** Per stage: radix P, stride s, span m', twiddle offset, trig offset (in f32 elements). */
  private readonly stages: StaticArray<i32>;
  private readonly count: i32;
  /** Stage twiddles W_len^{p·k}, laid out [k-1][p] per stage, re and im apart. */
  private readonly twRe: StaticArray<f32>;
  private readonly twIm: StaticArray<f32>;
  /** cos(2π rk/P), then sin(2π rk/P), as h×h tables [r-1][k-1] (h = (P-1)/2) for the generic odd butterflies. */
  private readonly trig: StaticArray<f32>;
  /** Work vectors of the generic odd butterfly (see radixOdd). */
  private readonly scratch: StaticArray<f32>;

  constructor(n: i32) {
    const rs = radices(n);
    assert(rs !== null, "Stockham: n has a prime factor above MAX_RADIX");
    const list = rs!;
    this.n = n;
    this.count = list.length;
    const stages = new StaticArray<i32>(5 * list.length);
    let twCount = 0, trigCount = 0, maxOdd = 0;
    let s = 1;
    for (let i = 0; i < list.length; i++) {
      const P = list[i];
      const span = n / (s * P);
      stages[5 * i] = P;
      stages[5 * i + 1] = s;
      stages[5 * i + 2] = span;
      stages[5 * i + 3] = twCount;
      stages[5 * i + 4] = trigCount;
      twCount += (P - 1) * span;
      // radices without a kernel of their own (the primes 11 … MAX_RADIX) run radixOdd
      if (P > 8) { trigCount += 2 * (P >> 1) * (P >> 1); maxOdd = max(maxOdd, P); }
      s *= P;
    }
    this.stages = stages;
    this.twRe = new StaticArray<f32>(max(twCount, 1));
    this.twIm = new StaticArray<f32>(max(twCount, 1));
    this.trig = new StaticArray<f32>(max(trigCount, 1));
    this.scratch = new StaticArray<f32>(32 * (maxOdd >> 1) + 8 * maxOdd);
    for (let i = 0; i < list.length; i++) {
      const P = stages[5 * i], span = stages[5 * i + 2], tw = stages[5 * i + 3], tg = stages[5 * i + 4];
      const len = span * P;
      for (let k = 1; k < P; k++) {
        for (let p = 0; p < span; p++) {
          // exp(-2πi·pk/len), the product reduced mod len first so the f64 angle stays exact
          const a = -2 * Math.PI * <f64>(<i64>p * k % len) / <f64>len;
          this.twRe[tw + (k - 1) * span + p] = <f32>Math.cos(a);
          this.twIm[tw + (k - 1) * span + p] = <f32>Math.sin(a);
        }
      }
      if (P > 8) {
        const h = P >> 1;
        for (let r = 1; r <= h; r++) {
          for (let k = 1; k <= h; k++) {
            const a = 2 * Math.PI * <f64>(r * k % P) / <f64>P;
            this.trig[tg + (r - 1) * h + k - 1] = <f32>Math.cos(a);
            this.trig[tg + h * h + (r - 1) * h + k - 1] = <f32>Math.sin(a);
          }
        }
      }
    }
  }

  /**
   * True if the first stage can read the packed real input of `run` directly (it runs four
   * butterflies at a time across p, which needs span ≥ 4).
   */
  get packable(): bool {
    return this.count > 0 && this.stages[2] >= 4;
  }

  /** True if `run` can also multiply the packed input by a window as it reads it (a generated first stage). */
  get windowable(): bool {
    return this.packable && hasSpecialisedPackedStage(this.stages[0], this.stages[2]);
  }

  /**
   * True if the last stage is radix 4 with a stride s = n/4 that is a multiple of 8: then the real
   * FFT (assembly/fft.ts) runs that stage itself, fused with its split, and calls `run` with
   * `skipLast`. Butterflies q and s − q of that stage give the mirrored pairs Z_k, Z_{n−k} the split
   * combines, and s/2 a multiple of 4 lets both ends be walked four lanes at a time.
   */
  get lastRadix4(): bool {
    const last = 5 * (this.count - 1);
    return this.count > 1 && this.stages[last] == 4 && this.stages[last + 1] % 8 == 0;
  }

  /**
   * Transforms n complex values with (ar, ai) and (br, bi) as the ping-pong pair; both are
   * clobbered. The input is (ar, ai) — or, if `packed` ≠ 0 (only when `packable`), the 2n reals at
   * `packed` read as x[2j] + i·x[2j+1] without modifying them, which saves the de-interleaving pass
   * of the even-n real FFT; if `window` ≠ 0 too (only when `windowable`), those reals times the 2n
   * at `window`. With `skipLast` (only when `lastRadix4`) the last stage is left to the caller.
   * Returns true if the result is in (br, bi), false if in (ar, ai).
   */
  run(packed: usize, ar: usize, ai: usize, br: usize, bi: usize, skipLast: bool = false, window: usize = 0): bool {
    let xr = ar, xi = ai, yr = br, yi = bi;
    const stages = changetype<usize>(this.stages);
    const twRe = changetype<usize>(this.twRe), twIm = changetype<usize>(this.twIm);
    const trig = changetype<usize>(this.trig), scratch = changetype<usize>(this.scratch);
    const count = skipLast ? this.count - 1 : this.count;
    for (let i = 0; i < count; i++) {
      const e = stages + <usize>(20 * i);
      const P = load<i32>(e), s = load<i32>(e, 4), span = load<i32>(e, 8);
      const tw = <usize>load<i32>(e, 12) << 2, tg = <usize>load<i32>(e, 16) << 2;
      if (i == 0 && packed != 0) firstStagePacked(P, span, packed, window, yr, yi, twRe + tw, twIm + tw, trig + tg, scratch);
      else stage(P, s, span, xr, xi, yr, yi, twRe + tw, twIm + tw, trig + tg, scratch);
      const tr = xr, ti = xi;
      xr = yr; xi = yi; yr = tr; yi = ti;
    }
    return (count & 1) == 1;
  }
}

/**
 * One stage: the version generated for its geometry if there is one (the radix-4 and radix-8
 * stages of common lengths, scripts/gen-fft-stages.mjs), else the generic loops of its radix.
 * The geometry is matched at every call, a chain of comparisons per stage: looking the generated
 * stage up once per plan and dispatching by id through a switch measured 2–6 % slower per
 * transform (binaryen then inlined the generated stages into one large function).
 */
function stage(P: i32, s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize, trig: usize, scratch: usize): void {
  if (runSpecialisedStage(P, s, span, xr, xi, yr, yi, twr, twi)) return;
  switch (P) {
    case 4: stage4(s, span, xr, xi, yr, yi, twr, twi); break;
    case 8: stage8(s, span, xr, xi, yr, yi, twr, twi); break;
    case 2: stage2(s, span, xr, xi, yr, yi, twr, twi); break;
    case 3: stage3(s, span, xr, xi, yr, yi, twr, twi); break;
    case 5: stage5(s, span, xr, xi, yr, yi, twr, twi); break;
    case 7: stage7(s, span, xr, xi, yr, yi, twr, twi); break;
    default: stageOdd(P, s, span, xr, xi, yr, yi, twr, twi, trig, scratch);
  }
}

// One function per radix, each with its own copy of the loops and only its own kernel, so the
// radix and mode tests inside the inlined kernels fold to straight-line code.
function stage2(s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {
  stageLoops(2, 2, s, span, xr, xi, yr, yi, twr, twi, 0, 0);
}
function stage3(s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {
  stageLoops(3, 3, s, span, xr, xi, yr, yi, twr, twi, 0, 0);
}
function stage4(s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {
  stageLoops(4, 4, s, span, xr, xi, yr, yi, twr, twi, 0, 0);
}
function stage5(s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {
  stageLoops(5, 5, s, span, xr, xi, yr, yi, twr, twi, 0, 0);
}
function stage7(s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {
  stageLoops(7, 7, s, span, xr, xi, yr, yi, twr, twi, 0, 0);
}
function stage8(s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {
  stageLoops(8, 8, s, span, xr, xi, yr, yi, twr, twi, 0, 0);
}
function stageOdd(P: i32, s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize, trig: usize, scratch: usize): void {
  stageLoops(0, P, s, span, xr, xi, yr, yi, twr, twi, trig, scratch);
}

/** The first stage on packed input (times `window` if ≠ 0: generated stages only, see `windowable`). */
function firstStagePacked(P: i32, span: i32, x: usize, window: usize, yr: usize, yi: usize, twr: usize, twi: usize, trig: usize, scratch: usize): void {
  if (runSpecialisedPackedStage(P, span, x, window, yr, yi, twr, twi)) return;
  switch (P) {
    case 4: packedLoops(4, 4, span, x, yr, yi, twr, twi, 0, 0); break;
    case 8: packedLoops(8, 8, span, x, yr, yi, twr, twi, 0, 0); break;
    case 2: packedLoops(2, 2, span, x, yr, yi, twr, twi, 0, 0); break;
    case 3: packedLoops(3, 3, span, x, yr, yi, twr, twi, 0, 0); break;
    case 5: packedLoops(5, 5, span, x, yr, yi, twr, twi, 0, 0); break;
    case 7: packedLoops(7, 7, span, x, yr, yi, twr, twi, 0, 0); break;
    default: packedLoops(0, P, span, x, yr, yi, twr, twi, trig, scratch);
  }
}

/** The first stage (s = 1) on packed real input: as the PVEC loop of stageLoops, strides doubled. */
@inline function packedLoops(kernel: i32, P: i32, span: i32, x: usize, yr: usize, yi: usize, twr: usize, twi: usize, trig: usize, scratch: usize): void {
  const is = <usize>span << 3; // a_r are span complex values = 2·span floats apart
  const ts = <usize>span << 2;
  const ls = <usize>P << 2;
  let p = 0;
  while (true) {
    if (p + 4 > span) p = span - 4;
    const o = <usize>p << 2;
    butterfly(kernel, P, x + 2 * o, x + 2 * o, is, yr + o * P, yi + o * P, 4, ls, twr + o, twi + o, ts, trig, scratch, PACKED);
    p += 4;
    if (p >= span) break;
  }
}

/**
 * The loops of one stage. Where a loop's length is not a multiple of 4 its last step overlaps
 * the previous one (start = length - 4): stages are out of place, so the overlapping outputs
 * are recomputed from unchanged inputs and written again with the same values — no scalar tail.
 */
@inline function stageLoops(kernel: i32, P: i32, s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize, trig: usize, scratch: usize): void {
  const is = <usize>(s * span) << 2; // between a_r
  const os = <usize>s << 2; // between Y_k
  const ts = <usize>span << 2; // between twiddles of k
  if (s >= 4) {
    if (span == 1) {
      let q = 0;
      while (true) {
        if (q + 4 > s) q = s - 4;
        const o = <usize>q << 2;
        butterfly(kernel, P, xr + o, xi + o, is, yr + o, yi + o, os, 0, twr, twi, ts, trig, scratch, VEC_NOTW);
        q += 4;
        if (q >= s) break;
      }
      return;
    }
    for (let p = 0; p < span; p++) {
      const i0 = <usize>(s * p) << 2, o0 = <usize>(s * P * p) << 2, t0 = <usize>p << 2;
      let q = 0;
      while (true) {
        if (q + 4 > s) q = s - 4;
        const o = <usize>q << 2;
        butterfly(kernel, P, xr + i0 + o, xi + i0 + o, is, yr + o0 + o, yi + o0 + o, os, 0, twr + t0, twi + t0, ts, trig, scratch, VEC);
        q += 4;
        if (q >= s) break;
      }
    }
  } else if (s == 1 && span >= 4) {
    const ls = <usize>P << 2; // between the outputs of neighbouring p
    let p = 0;
    while (true) {
      if (p + 4 > span) p = span - 4;
      const o = <usize>p << 2;
      butterfly(kernel, P, xr + o, xi + o, is, yr + o * P, yi + o * P, os, ls, twr + o, twi + o, ts, trig, scratch, PVEC);
      p += 4;
      if (p >= span) break;
    }
  } else {
    for (let q = 0; q < s; q++) {
      for (let p = 0; p < span; p++) {
        const i0 = <usize>(q + s * p) << 2, o0 = <usize>(q + s * P * p) << 2, t0 = <usize>p << 2;
        butterfly(kernel, P, xr + i0, xi + i0, is, yr + o0, yi + o0, os, 0, twr + t0, twi + t0, ts, trig, scratch, ONE);
      }
    }
  }
}

/** `kernel` (a constant at every call) is the radix P of a specialised kernel, or 0 for the generic odd one. */
@inline function butterfly(kernel: i32, P: i32, xr: usize, xi: usize, is: usize, yr: usize, yi: usize, os: usize, ls: usize, twr: usize, twi: usize, ts: usize, trig: usize, scratch: usize, mode: i32): void {
  if (kernel == 4) radix4(xr, xi, is, yr, yi, os, ls, twr, twi, ts, mode);
  else if (kernel == 8) radix8(xr, xi, is, yr, yi, os, ls, twr, twi, ts, mode);
  else if (kernel == 2) radix2(xr, xi, is, yr, yi, os, ls, twr, twi, mode);
  else if (kernel == 3) radix3(xr, xi, is, yr, yi, os, ls, twr, twi, ts, mode);
  else if (kernel == 5) radix5(xr, xi, is, yr, yi, os, ls, twr, twi, ts, mode);
  else if (kernel == 7) radix7(xr, xi, is, yr, yi, os, ls, twr, twi, ts, mode);
  else radixOdd(P, xr, xi, is, yr, yi, os, ls, twr, twi, ts, trig, scratch, mode);
}
