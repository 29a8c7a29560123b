// RealFFT (src/engine/fft.ts → assembly/fft.ts) against float64 references: a direct O(n²)
// DFT computed here for small n, numpy.fft.rfft golden spectra (scripts/golden_fft.py) for the
// lengths of real recordings, and spectra known in closed form (impulses, tones).
import { describe, expect, it } from "vitest";
import { MAX_FFT_LENGTH, RealFFT } from "../src/engine/fft.js";
import { spectrogram } from "../src/engine/spectrogram.js";
import { core, CoreMemoryError } from "../src/engine/wasm.js";
import { ROOT, maxAbsDiff, readF32 } from "./golden.js";

/** The input of scripts/golden_fft.py: Numerical Recipes' LCG, seed n, exact in float32. */
function lcgInput(n: number, seed: number = n): Float32Array {
  const x = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(1664525, state) + 1013904223) >>> 0;
    x[i] = (state >>> 8) / 2 ** 23 - 1;
  }
  return x;
}

/** numpy.fft.rfft(x) by the definition, in float64: X_k = Σ_j x_j e^{-2πi jk/n}. */
function dft(x: Float32Array): Float64Array {
  const n = x.length;
  const bins = Math.floor(n / 2) + 1;
  const out = new Float64Array(2 * bins);
  for (let k = 0; k < bins; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n; // jk reduced mod n: the angle stays exact
      re += x[j] * Math.cos(a);
      im += x[j] * Math.sin(a);
    }
    out[2 * k] = re;
    out[2 * k + 1] = im;
  }
  return out;
}

/**
 * Error bound for a float32 FFT: the roundoff of an FFT grows like eps·log2(n) relative to the
 * rms bin magnitude, which is ‖x‖₂ by Parseval (Σ_k |X_k|² = n·Σ_j x_j² over all n bins).
 * 1e-6 ≈ 8·eps32 leaves room for Bluestein's three transforms and chirp products, and is still
 * ~1e5 times below the error of any wrong bin (O(‖x‖₂)).
 */
function tolerance(x: Float32Array): number {
  let sq = 0;
  for (const v of x) sq += v * v;
  return 1e-6 * Math.max(1, Math.log2(x.length)) * Math.sqrt(sq);
}

describe("RealFFT matches a float64 DFT", () => {
  it("every n from 2 to 64, random input", () => {
    for (let n = 2; n <= 64; n++) {
      const x = lcgInput(n, 7 * n + 1);
      const fft = new RealFFT(n);
      const y = fft.forward(x);
      expect(y.length, `n=${n}`).toBe(2 * (Math.floor(n / 2) + 1));
      expect(maxAbsDiff(y, dft(x)), `n=${n}`).toBeLessThanOrEqual(tolerance(x));
      fft.dispose();
    }
  });

  it("mixed radices, generic odd radices and Bluestein at moderate n", () => {
    // 2·3·5·7, 11·13, 2·17·19, 23·29, 2·31·37, primes 41, 97, 2·97, 4·43, 3·256, 2^10·3,
    // 2^11, and 16·5, 16·31, 2^4·3^4 (first stage radix 8 on the packed input); radix 7 first
    // on the packed input (2·2·3·7) and with stage twiddles (8·7·11), the generic odd kernel
    // with stage twiddles (8·11·13); n ≤ 64 above has radix 7 alone (7, 14), first with four
    // butterflies per step on complex input (35) and last (56)
    for (const n of [210, 143, 646, 667, 2294, 41, 97, 194, 172, 768, 3072, 2048, 80, 496, 1296, 84, 616, 1144]) {
      const x = lcgInput(n);
      const fft = new RealFFT(n);
      expect(maxAbsDiff(fft.forward(x), dft(x)), `n=${n}`).toBeLessThanOrEqual(tolerance(x));
      fft.dispose();
    }
  });

  // numpy.fft.rfft of the same LCG input, from scripts/golden_fft.py.
  for (const n of [1024, 1102, 1369, 4096, 4801, 7812, 8191, 9600, 9602, 65537]) {
    it(`n=${n} against numpy.fft.rfft`, () => {
      const x = lcgInput(n);
      const golden = readF32(`${ROOT}test/golden/fft/rfft_${n}.f32`);
      const fft = new RealFFT(n);
      expect(maxAbsDiff(fft.forward(x), golden)).toBeLessThanOrEqual(tolerance(x));
      fft.dispose();
    });
  }

  it("powers of two 256 … 8192 and n = 1200, 2400, 4800, whose radix-4/8 stages run code generated for their length (scripts/gen-fft-stages.mjs)", () => {
    // every generated stage runs in one of these or in n = 9600 (numpy golden above): the packed
    // first stage (radix 8 at 1200: span 75, the last step overlapping), radix 8 at 256, 1024,
    // 4096 (complex 128, 512, 2048) and 4800 (after 4, before the radix-3 and radix-5 stages),
    // and the radix-4 middle strides
    for (const n of [256, 512, 1024, 2048, 4096, 8192, 1200, 2400, 4800]) {
      const x = lcgInput(n, 5 * n + 3);
      const fft = new RealFFT(n);
      expect(maxAbsDiff(fft.forward(x), dft(x)), `n=${n}`).toBeLessThanOrEqual(tolerance(x));
      fft.dispose();
    }
  });

  it("powers of two whose last radix-4 stage runs fused with the real split (n = 128, 256, 512)", () => {
    // the smallest fused stride (s = 16: two steps from each end) and the next two; 1024, 2048
    // and 4096 are checked above
    for (const n of [128, 256, 512]) {
      const x = lcgInput(n, 3 * n + 5);
      const fft = new RealFFT(n);
      expect(maxAbsDiff(fft.forward(x), dft(x)), `n=${n}`).toBeLessThanOrEqual(tolerance(x));
      fft.dispose();
    }
  });
});

describe("RealFFT on spectra known in closed form", () => {
  const sizes = [2, 3, 8, 15, 64, 1102, 4801, 7812];

  it("an impulse at j0 has X_k = e^{-2πi·j0·k/n}", () => {
    for (const n of sizes) {
      const fft = new RealFFT(n);
      for (const j0 of [0, 1, n - 1, n >> 1]) {
        const x = new Float32Array(n);
        x[j0] = 1;
        const expected = new Float64Array(2 * fft.bins);
        for (let k = 0; k < fft.bins; k++) {
          const a = (-2 * Math.PI * ((j0 * k) % n)) / n;
          expected[2 * k] = Math.cos(a);
          expected[2 * k + 1] = Math.sin(a);
        }
        expect(maxAbsDiff(fft.forward(x), expected), `n=${n} j0=${j0}`).toBeLessThanOrEqual(1e-6 * Math.log2(n + 1));
      }
      fft.dispose();
    }
  });

  it("a cosine of bin f is n/2 at f (n at 0 and n/2), a sine -n/2·i, zero elsewhere", () => {
    for (const n of sizes) {
      const fft = new RealFFT(n);
      for (const f of [0, 1, Math.floor(n / 3), Math.floor(n / 2)]) {
        const c = new Float32Array(n);
        const s = new Float32Array(n);
        for (let j = 0; j < n; j++) {
          const a = (2 * Math.PI * ((f * j) % n)) / n;
          c[j] = Math.cos(a);
          s[j] = Math.sin(a);
        }
        // Bins 0 and n/2 (even n) are their own mirror images, so they carry the full n.
        const edge = f === 0 || 2 * f === n;
        const ec = new Float64Array(2 * fft.bins);
        const es = new Float64Array(2 * fft.bins);
        ec[2 * f] = edge ? n : n / 2;
        if (!edge) es[2 * f + 1] = -n / 2;
        const tol = 1e-6 * Math.log2(n + 1) * Math.sqrt(n);
        expect(maxAbsDiff(fft.forward(c), ec), `cos n=${n} f=${f}`).toBeLessThanOrEqual(tol);
        expect(maxAbsDiff(fft.forward(s), es), `sin n=${n} f=${f}`).toBeLessThanOrEqual(tol);
      }
      fft.dispose();
    }
  });

  it("real input has a real X_0 (and X_{n/2} for even n): their imaginary parts are exactly 0, as numpy.fft.rfft's — Bluestein's chirp products left -1.2e-5 at n = 10007", () => {
    // Odd n through Bluestein (prime factors above 37: 41, 97, 101, 1009, 10007, 65521) and
    // through Stockham (37, 3^4·5); even n whose half goes through Bluestein (82, 202, 20014,
    // 131042) or Stockham (1102), the split writing X_0 and X_{n/2} as real values.
    for (const n of [41, 97, 101, 1009, 10007, 65521, 37, 405, 82, 202, 20014, 131042, 1102]) {
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) + 0.3); // a mean: X_0 is far from 0
      const fft = new RealFFT(n);
      const y = fft.forward(x);
      const imaginary = n % 2 === 0 ? [y[1], y[y.length - 1]] : [y[1]];
      expect(imaginary, `n=${n}`).toEqual(imaginary.map(() => 0));
      fft.dispose();
    }
  });
});

describe("RealFFT buffers and plans", () => {
  it("leaves the input unchanged and overwrites a given output, returning it", () => {
    for (const n of [16, 1102, 4801]) {
      const fft = new RealFFT(n);
      const x = lcgInput(n);
      const copy = x.slice();
      const out = new Float32Array(2 * fft.bins).fill(Number.NaN);
      expect(fft.forward(x, out)).toBe(out);
      expect(x).toEqual(copy);
      expect(maxAbsDiff(out, dft(x))).toBeLessThanOrEqual(tolerance(x));
      // Reusing the output (and the plan's buffers) for another input gives that input's spectrum.
      const x2 = lcgInput(n, 12345);
      expect(fft.forward(x2, out)).toBe(out);
      expect(maxAbsDiff(out, dft(x2))).toBeLessThanOrEqual(tolerance(x2));
      fft.dispose();
    }
  });

  it("many plans alive at once, used interleaved, survive WASM memory growth", () => {
    const sizes = [2, 5, 12, 31, 64, 100, 127, 256, 500, 1102, 2048, 4801];
    const plans = sizes.map((n) => new RealFFT(n));
    const inputs = sizes.map((n) => lcgInput(n, n + 99));
    const expected = inputs.map(dft);
    for (let round = 0; round < 2; round++) {
      for (let i = sizes.length - 1; i >= 0; i--) {
        expect(maxAbsDiff(plans[i].forward(inputs[i]), expected[i]), `n=${sizes[i]}`).toBeLessThanOrEqual(tolerance(inputs[i]));
      }
      // A large plan grows the core's memory, detaching the older plans' cached views.
      const big = new RealFFT(1 << 20);
      big.dispose();
    }
    for (const p of plans) p.dispose();
  });

  it("creating and releasing plans over and over does not grow the core's memory", () => {
    // The core's collector runs only when a plan is created or released (assembly/registry.ts);
    // without those collections the memory grew from 2 MB to 134 MB over these cycles.
    const signal = lcgInput(4800, 7);
    const cycle = () => {
      new RealFFT(1102).dispose();
      spectrogram(signal, 48000, { window_size: 0.01, hop_size: 0.5, pcen: false, normalize: false });
    };
    for (let i = 0; i < 50; i++) cycle();
    const before = core.memory.buffer.byteLength;
    for (let i = 0; i < 3000; i++) cycle();
    expect(core.memory.buffer.byteLength).toBe(before);
  });

  it("instances of one length share one plan: a loop that never disposes keeps the core's memory flat", () => {
    // Before plans were shared each instance held its own tables and buffers until the garbage
    // collector ran its finalizers, which a synchronous loop never lets happen: 1.6 MB per
    // instance here, and at n = 262144 the core trapped at 4 GB after 682 instances.
    const n = 1 << 16;
    const x = lcgInput(n, 5);
    const first = new RealFFT(n);
    const expected = first.forward(x);
    const before = core.memory.buffer.byteLength;
    for (let i = 0; i < 200; i++) {
      const fft = new RealFFT(n);
      const out = fft.forward(x);
      if (i % 50 === 0) expect(out).toEqual(expected);
    }
    expect(core.memory.buffer.byteLength).toBe(before);
    first.dispose();
  });

  it("disposing one instance leaves the others of its length working; the last one frees the plan", () => {
    const x = lcgInput(1102, 8);
    const a = new RealFFT(1102);
    const b = new RealFFT(1102);
    const expected = a.forward(x);
    a.dispose();
    expect(b.forward(x)).toEqual(expected);
    b.dispose();
    expect(() => b.forward(x)).toThrow(/after dispose/);
    const c = new RealFFT(1102); // a fresh plan after the last user released the old one
    expect(maxAbsDiff(c.forward(x), dft(x))).toBeLessThanOrEqual(tolerance(x));
    c.dispose();
  });

  it("out of WebAssembly memory: a RangeError naming n and the bytes, and the engine works after", () => {
    expect(() => core.alloc(2 ** 30 + 16)).toThrow(new CoreMemoryError("1073741840 bytes is over the DSP core's largest block, 1024 MB: ask for less at once"));
    // Fill the core's memory (wasm32: 4 GiB at most) with blocks nobody touches, so no RAM is used.
    const held: number[] = [];
    for (const block of [1 << 29, 1 << 26, 1 << 22, 1 << 18]) {
      for (;;) {
        try {
          held.push(core.alloc(block));
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
          expect((err as Error).message).toContain(`${block} bytes`);
          break;
        }
      }
    }
    const n = 1 << 20;
    expect(() => new RealFFT(n)).toThrow(CoreMemoryError); // a RangeError
    // The core could not grow (memoryFull: freeing what it holds makes room); a block over the
    // allocator's largest is no such case (no core gives it).
    expect(() => new RealFFT(n)).toThrow(expect.objectContaining({ memoryFull: true }));
    expect(() => core.alloc(2 ** 30 + 16)).toThrow(expect.objectContaining({ memoryFull: false }));
    expect(() => new RealFFT(n)).toThrow(/^RealFFT\(1048576\), a plan of tables and 8388616 bytes of buffers: out of WebAssembly memory: .* at most 4096 MB\) — dispose\(\)/);
    const signal = lcgInput(48000, 3);
    expect(() => spectrogram(signal, 48000, { window_size: 0.5, pcen: false })).toThrow(/^out of WebAssembly memory: .*STFT plan for n=24000/);
    for (const ptr of held) core.free(ptr);
    const x = lcgInput(n, 4);
    const fft = new RealFFT(n);
    expect(fft.forward(x)[0]).toBeCloseTo(x.reduce((s, v) => s + v, 0), 0);
    fft.dispose();
    expect(spectrogram(signal, 48000, { window_size: 0.01, pcen: false }).frames).toBeGreaterThan(0);
  });

  it("a block of 2^32 bytes or more is refused, not wrapped modulo 2^32 by the core's i32: 4.4e9 bytes became a block of 105 MB, written 4.4 GB into, and the core trapped until the process ended", () => {
    expect(() => core.alloc(2 ** 32 + 105_000_000)).toThrow(new CoreMemoryError("4399967296 bytes is over the DSP core's largest block, 1024 MB: ask for less at once"));
    expect(() => core.alloc(2.5)).toThrow(new RangeError("a block of the DSP core must be a whole number of bytes >= 0, got 2.5"));
    // A resampling into 1.1e9 samples at once (1 kHz → 1 MHz) asked for such a block.
    const samples = new Float32Array(1_100_000).fill(0.1);
    expect(() => spectrogram(samples, 1000, { resample: true, samplerate: 1_000_000, pcen: false })).toThrow(CoreMemoryError);
    expect(() => spectrogram(samples, 1000, { resample: true, samplerate: 1_000_000, pcen: false })).toThrow(/^resample: 1100000 samples resampled at once into 1100000000 take a block of 4400000000 bytes, over the DSP core's largest, 1073741820 bytes — resample a shorter signal, or read the recording with spectrogramOfRecording or RecordingSpectrogram/);
    // The engine works after.
    const x = lcgInput(1000, 5);
    expect(maxAbsDiff(new RealFFT(1000).forward(x), dft(x))).toBeLessThanOrEqual(tolerance(x));
    expect(spectrogram(lcgInput(48000, 3), 48000, { window_size: 0.01, pcen: false }).frames).toBeGreaterThan(0);
  });

  it("n and bins are read-only at run time too: a plain-JS `fft.n = 4` on an instance of 8 transformed stale samples", () => {
    const fft = new RealFFT(8);
    expect(() => { (fft as { n: number }).n = 4; }).toThrow(TypeError);
    expect(() => { (fft as { bins: number }).bins = 3; }).toThrow(TypeError);
    expect([fft.n, fft.bins]).toEqual([8, 5]);
    fft.dispose();
  });

  it("rejects bad lengths with a RangeError naming n", () => {
    for (const n of [0, 1, -4, 2.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_FFT_LENGTH + 1, 2 ** 31]) {
      expect(() => new RealFFT(n)).toThrow(RangeError);
      expect(() => new RealFFT(n)).toThrow(`got n=${n}`);
    }
    expect(() => new RealFFT("16" as unknown as number)).toThrow(TypeError);
  });

  it("rejects wrong input and output arrays, and use after dispose", () => {
    const fft = new RealFFT(10);
    expect(() => fft.forward(new Float32Array(9))).toThrow(/input must be a Float32Array of length 10, got Float32Array of length 9/);
    expect(() => fft.forward(new Float64Array(10) as unknown as Float32Array)).toThrow(new TypeError("RealFFT(10).forward: input must be a Float32Array of length 10, got Float64Array of length 10"));
    expect(() => fft.forward(new Float32Array(10), new Float32Array(11))).toThrow(/output must be a Float32Array of length 12/);
    fft.dispose();
    fft.dispose(); // idempotent
    expect(() => fft.forward(new Float32Array(10))).toThrow(/after dispose/);
  });
});
