// Band filter against scipy.signal.butter / sosfiltfilt (golden data from scripts/golden_filter.py),
// and pieces of a long signal against the whole-signal result (SPEC §4 "Seamless").
import { describe, expect, it } from "vitest";
import { MAX_CONTEXT, butterSos, designBandFilter, padLength, sosfiltZi, type BandFilter, type BandType } from "../src/engine/filter.js";
import { ParamsError } from "../src/engine/params.js";
import { ROOT, firstDifference, maxAbsDiff, peakAbs, readF32, readJson } from "./golden.js";

interface Case { name: string; fs: number; order: number; btype: BandType; freqs: number[]; sos: number[][]; padlen: number; zi: number[][]; input: string; output: string }
const golden: { cases: Case[] } = readJson(`${ROOT}test/golden/filter.json`);
const f32 = (file: string) => readF32(`${ROOT}test/golden/${file}`);

describe("butterSos matches scipy.signal.butter(..., output='sos')", () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const sos = butterSos(c.order, c.freqs, c.btype, c.fs);
      expect(sos.length).toBe(c.sos.length);
      sos.forEach((row, s) => {
        const ref = c.sos[s];
        row.forEach((v, j) => {
          // Numerator and denominator each at their own scale: the gain in the first section's
          // b can be 1e-61 (bp-192k-o16-nyquist), where a design that lost it had b = 0.
          const size = peakAbs(j < 3 ? ref.slice(0, 3) : ref.slice(3));
          // Exact zeros (b2 = a2 = 0 of first-order sections) must stay exact: they set the pad length.
          if (ref[j] === 0) expect(v, `${c.name} section ${s} coef ${j}`).toBe(0);
          else expect(Math.abs(v - ref[j]), `${c.name} section ${s} coef ${j}`).toBeLessThanOrEqual(1e-9 * size);
        });
      });
      expect(padLength(sos)).toBe(c.padlen);
      const zi = sosfiltZi(c.sos);
      zi.forEach((row, s) => row.forEach((v, j) => expect(Math.abs(v - c.zi[s][j])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(c.zi[s][j])))));
    });
  }
});

describe("BandFilter.apply matches scipy.signal.sosfiltfilt", () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const low = c.btype === "lowpass" ? null : c.freqs[0];
      const high = c.btype === "highpass" ? null : c.freqs[c.freqs.length - 1];
      const filter = designBandFilter({ low_freq: low, high_freq: high, filter_order: c.order }, c.fs)!;
      expect(filter.btype).toBe(c.btype);
      const expected = f32(c.output);
      const y = filter.apply(f32(c.input));
      expect(maxAbsDiff(y, expected), c.name).toBeLessThanOrEqual(1e-5 * peakAbs(expected));
    });
  }
});

/** Deterministic noise + tones + DC (xorshift32), long enough for interior pieces. */
function testSignal(n: number, fs: number): Float32Array {
  const x = new Float32Array(n);
  let s = 2463534242;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const noise = s / 2 ** 32 - 0.5;
    x[i] = 0.5 * noise + 0.4 * Math.sin((2 * Math.PI * 1234.5 * i) / fs) + 0.3 * Math.sin((2 * Math.PI * 0.2 * fs * i) / fs) + 0.1;
  }
  return x;
}

describe("BandFilter.applyPiece equals the whole-signal result", () => {
  const fs = 44100;
  const designs = [
    { name: "lowpass", low_freq: null, high_freq: 4000 },
    { name: "highpass", low_freq: 800, high_freq: null },
    { name: "bandpass", low_freq: 600, high_freq: 9000 },
  ];
  for (const d of designs) {
    for (const order of [1, 2, 5, 16]) {
      it(`${d.name} order ${order}`, () => {
        const filter = designBandFilter({ low_freq: d.low_freq, high_freq: d.high_freq, filter_order: order }, fs)!;
        const c = filter.context;
        const n = 4 * c + 5000;
        const x = testSignal(n, fs);
        const whole = filter.apply(x);
        const pieces: [number, number][] = [
          [0, 700], // at the start: odd extension
          [Math.floor(c / 2), Math.floor(c / 2) + 900], // near the start: buffer clamped at 0
          [2 * c, 2 * c + 1500], // interior: both passes start at context edges
          [n - 1100, n], // at the end
          [n - Math.floor(c / 2) - 300, n - Math.floor(c / 2)], // near the end: buffer clamped at n
          [0, n], // the whole signal as one piece
          [2 * c + 7, 2 * c + 8], // a single sample
        ];
        expectPiecesEqualWhole(filter, x, whole, pieces);
      });
    }
  }

  // Edges within about 1 % of 0 Hz or of Nyquist. Filtered from each piece's own edges, 2 to 520
  // of 128 000 samples of such pieces rounded one float32 ulp away from the whole's, however long
  // the context: the fixed blocks (BandFilter.blockLength) make them equal.
  const nearEdges = [
    { name: "high-pass 100 Hz order 10 at 500 kHz", fs: 500_000, low_freq: 100, high_freq: null, filter_order: 10 },
    { name: "high-pass 1 kHz order 5 at 384 kHz", fs: 384_000, low_freq: 1000, high_freq: null, filter_order: 5 },
    { name: "high-pass 10 Hz order 16 at 48 kHz", fs: 48_000, low_freq: 10, high_freq: null, filter_order: 16 },
    { name: "low-pass 95 904 Hz order 5 at 192 kHz", fs: 192_000, low_freq: null, high_freq: 95_904, filter_order: 5 },
    { name: "band-pass 40–3442 Hz order 16 at 44.1 kHz", fs: 44_100, low_freq: 40, high_freq: 3442, filter_order: 16 },
  ];
  for (const d of nearEdges) {
    it(`${d.name}: bit for bit, on and across block edges`, () => {
      const filter = designBandFilter(d, d.fs)!;
      const block = filter.blockLength;
      const n = 3 * block + 12_345;
      const x = testSignal(n, d.fs);
      const whole = filter.apply(x);
      const pieces: [number, number][] = [
        [block - 8000, block + 8000], // across a block edge
        [2 * block, 2 * block + 16_000], // starting on one
        [block + 777, block + 16_777], // inside one
        [n - 16_000, n], // at the end
        [0, 16_000], // at the start
      ];
      expectPiecesEqualWhole(filter, x, whole, pieces);
    });
  }

  it("an empty piece is empty wherever it lies, with any buffer (inside a block it had run the core on no samples, which aborted)", () => {
    const filter = designBandFilter({ low_freq: 800, high_freq: null, filter_order: 5 }, fs)!;
    const n = 3 * filter.blockLength;
    const x = testSignal(n, fs);
    for (const at of [0, 5, filter.blockLength, filter.blockLength + 7, n]) expect(filter.applyPiece(x.subarray(0, 0), 0, n, at, at)).toEqual(new Float32Array(0));
  });

  it("a piece with too little context is refused, naming what the buffer must cover", () => {
    const filter = designBandFilter({ low_freq: 800, high_freq: null, filter_order: 5 }, fs)!;
    const block = filter.blockLength;
    const n = 4 * block;
    const x = testSignal(n, fs);
    const [a, b] = filter.cover(2 * block + 5, 2 * block + 15, n);
    expect([a, b]).toEqual([2 * block - filter.context, 3 * block + filter.context]);
    expect(() => filter.applyPiece(x.subarray(a + 1, b), a + 1, n, 2 * block + 5, 2 * block + 15))
      .toThrow(`buffer [${a + 1}, ${b}) must cover [${a}, ${b}): the filter blocks of ${block} samples the piece touches plus ${filter.context} samples of context`);
    expect(() => filter.applyPiece(x.subarray(a, b - 1), a, n, 2 * block + 5, 2 * block + 15)).toThrow(/must cover/);
  });
});

/** Each piece [from, to), filtered from a buffer holding only what `cover` asks for, equals the whole's samples bit for bit. */
function expectPiecesEqualWhole(filter: BandFilter, x: Float32Array, whole: Float32Array, pieces: [number, number][]): void {
  for (const [from, to] of pieces) {
    const [a, b] = filter.cover(from, to, x.length);
    const piece = filter.applyPiece(x.subarray(a, b), a, x.length, from, to);
    expect(firstDifference(piece, whole.subarray(from, to)), `[${from}, ${to}) of ${x.length}, context ${filter.context}`).toBe(-1);
  }
}

describe("band filter rejects bad input", () => {
  it("cutoffs outside (0, Nyquist), bad order, inverted band", () => {
    expect(() => butterSos(5, [0], "highpass", 44100)).toThrow(/0 < f < Nyquist/);
    expect(() => butterSos(5, [22050], "lowpass", 44100)).toThrow(/0 < f < Nyquist/);
    expect(() => butterSos(5, [-3], "lowpass", 44100)).toThrow(/0 < f < Nyquist/);
    expect(() => butterSos(5, [Number.NaN], "lowpass", 44100)).toThrow(/0 < f < Nyquist/);
    expect(() => butterSos(5, [3000, 1000], "bandpass", 44100)).toThrow(/increase/);
    expect(() => butterSos(0, [1000], "lowpass", 44100)).toThrow(/order/);
    expect(() => butterSos(17, [1000], "lowpass", 44100)).toThrow(/order/);
    expect(() => butterSos(2.5, [1000], "lowpass", 44100)).toThrow(/order/);
    expect(() => designBandFilter({ low_freq: 30000, high_freq: null, filter_order: 5 }, 44100)).toThrow(/low_freq/);
    expect(() => designBandFilter({ low_freq: null, high_freq: 30000, filter_order: 5 }, 44100)).toThrow(/high_freq/);
  });

  it("no filter for absent edges, or edges that remove nothing (0 Hz, Nyquist)", () => {
    expect(designBandFilter({ low_freq: null, high_freq: null, filter_order: 5 }, 44100)).toBeNull();
    expect(designBandFilter({ low_freq: 0, high_freq: 22050, filter_order: 5 }, 44100)).toBeNull();
    expect(designBandFilter({ low_freq: 0, high_freq: 5000, filter_order: 5 }, 44100)!.btype).toBe("lowpass");
  });

  it("a signal not longer than the pad length is refused, as scipy refuses it, naming the edge's field", () => {
    const filter = designBandFilter({ low_freq: 500, high_freq: 8000, filter_order: 5 }, 44100)!;
    const pad = filter.padLength;
    const refusal = [{ field: "low_freq", message: `recording of ${pad} samples is too short for this filter: it needs more than ${pad} (sosfiltfilt's pad length): use a lower filter_order, or no low_freq` }];
    expect(() => filter.apply(new Float32Array(pad))).toThrow(ParamsError);
    expect(fieldsOf(() => filter.apply(new Float32Array(pad)))).toEqual(refusal);
    expect(fieldsOf(() => filter.applyPiece(new Float32Array(pad), 0, pad, 0, pad))).toEqual(refusal);
    expect(filter.apply(new Float32Array(pad + 1)).length).toBe(pad + 1);
    const lowpass = designBandFilter({ low_freq: null, high_freq: 8000, filter_order: 5 }, 44100)!;
    expect(fieldsOf(() => lowpass.apply(new Float32Array(3)))[0].field).toBe("high_freq");
  });

  it("an edge whose transient outlasts the largest context is refused for recordings longer than it, where pieces could not equal the whole", () => {
    // Order 16 at 1 Hz and 384 kHz: the slowest pole's radius is 1 − sin(π/32)·2π/384000 to first
    // order, so the transient takes ln(1e-12) / ln(that) ≈ 1.7·10^7 samples to fall by 1e-12.
    const filter = designBandFilter({ low_freq: 1, high_freq: null, filter_order: 16 }, 384_000)!;
    const decay = Math.log(1e-12) / Math.log(1 - (Math.sin(Math.PI / 32) * 2 * Math.PI) / 384_000);
    const [{ field, message }] = fieldsOf(() => filter.applyPiece(new Float32Array(10), 1000, MAX_CONTEXT + 1, 1000, 1010));
    expect(field).toBe("low_freq");
    const m = /^an order-16 Butterworth edge at 1 Hz rings for (\d+) samples at 384000 Hz \((\d+\.\d) s\), longer than the 4194304 samples of context a piece of this 4194305-sample recording reads on each side, so its pieces would not equal the whole: use a higher low_freq or a lower filter_order$/.exec(message);
    expect(m, message).not.toBeNull();
    expect(Number(m![1]) / decay).toBeCloseTo(1, 2);
    expect(Number(m![2])).toBeCloseTo(decay / 384_000, 0);
    // Within the context, every piece reads the whole recording: accepted.
    const n = 200_000;
    const x = testSignal(n, 384_000);
    expect(firstDifference(filter.applyPiece(x, 0, n, 50_000, 50_100), filter.apply(x).subarray(50_000, 50_100))).toBe(-1);
  });
});

/** The fields of the ParamsError `f` throws. */
function fieldsOf(f: () => unknown): { field: string; message: string }[] {
  try {
    f();
  } catch (err) {
    if (err instanceof ParamsError) return err.issues;
  }
  throw new Error("expected a ParamsError");
}
