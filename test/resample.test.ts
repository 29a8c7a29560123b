// Resampling against scipy.signal.resample_poly (golden data from scripts/golden_resample.py),
// and pieces against the whole-signal result (an FIR resampler is exactly piecewise).
import { describe, expect, it, vi } from "vitest";
import { createResampler, FILTER_CACHE_BYTES, firwinLowpass, limitFilterCache } from "../src/engine/resample.js";
import { core } from "../src/engine/wasm.js";
import { getWindowF64 } from "../src/engine/window.js";
import { ROOT, readF32, readJson } from "./golden.js";
import { random } from "./random.js";

// getWindowF64 counted: each filter design makes its window once (firwinLowpass).
vi.mock("../src/engine/window.js", async (importOriginal) => {
  const window = await importOriginal<typeof import("../src/engine/window.js")>();
  return { ...window, getWindowF64: vi.fn(window.getWindowF64) };
});
/** Windows made so far: filter designs, and any other window the tests compute. */
const windowsMade = () => vi.mocked(getWindowF64).mock.calls.length;

interface Case { name: string; fs_in: number; fs_out: number; up: number; down: number; n_in: number; n_out: number; input: string; output: string }
const golden: { cases: Case[] } = readJson(`${ROOT}test/golden/resample.json`);
const f32 = (file: string) => readF32(`${ROOT}test/golden/${file}`);

describe("Resampler.apply matches scipy.signal.resample_poly", () => {
  for (const c of golden.cases) {
    it(`${c.name} (${c.up}/${c.down})`, () => {
      const r = createResampler(c.fs_in, c.fs_out);
      expect([r.up, r.down]).toEqual([c.up, c.down]);
      expect(r.outputLength(c.n_in)).toBe(c.n_out);
      const expected = f32(c.output);
      const y = r.apply(f32(c.input));
      // float64 taps and sums, rounded once: scipy's float64 result rounded to float32, to within
      // one unit in the last place where the sums' order differs (float32 taps and sums were up to
      // 4014 units off, 2.3e-7 of the peak).
      let ulps = 0;
      for (let i = 0; i < y.length; i++) ulps = Math.max(ulps, Math.abs(y[i] - expected[i]) / (Math.max(Math.abs(expected[i]), 2 ** -126) * 2 ** -23));
      expect(ulps, c.name).toBeLessThanOrEqual(1);
    });
  }
});

describe("Resampler.applyPiece equals apply on the same output samples", () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const r = createResampler(c.fs_in, c.fs_out);
      const x = f32(c.input);
      const whole = r.apply(x);
      const n = whole.length;
      const pieces: [number, number][] = [[0, 37], [Math.floor(n / 3), Math.floor(n / 2)], [n - 50, n], [0, n], [n >> 1, (n >> 1) + 1], [5, 5]];
      for (const [from, to] of pieces) {
        const [a, b] = r.inputRange(from, to, x.length);
        expect(a).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThanOrEqual(x.length);
        const piece = r.applyPiece(x.subarray(a, b), a, x.length, from, to);
        expect(Array.from(piece), `[${from}, ${to})`).toEqual(Array.from(whole.subarray(from, to)));
      }
    });
  }

  it("a buffer that misses an input sample is refused", () => {
    const r = createResampler(48000, 44100);
    const x = new Float32Array(6000);
    const [a, b] = r.inputRange(2000, 2100, x.length);
    expect(() => r.applyPiece(x.subarray(a + 1, b), a + 1, x.length, 2000, 2100)).toThrow(/must cover/);
    expect(() => r.applyPiece(x.subarray(a, b - 1), a, x.length, 2000, 2100)).toThrow(/must cover/);
  });
});

describe("resampler details", () => {
  it("firwinLowpass has unit DC gain and is symmetric", () => {
    const h = firwinLowpass(101, 0.2, 5);
    expect(h.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    for (let i = 0; i < 50; i++) expect(h[i]).toBe(h[100 - i]);
  });

  it("equal rates are the identity, and indices beyond 2^31 work", () => {
    const r = createResampler(44100, 44100);
    const x = Float32Array.from([1, 2, 3]);
    expect(Array.from(r.apply(x))).toEqual([1, 2, 3]);
    const big = createResampler(48000, 44100);
    const nIn = 2 ** 33;
    const nOut = big.outputLength(nIn);
    expect(nOut).toBe(Math.ceil((nIn * 147) / 160));
    const [a, b] = big.inputRange(nOut - 10, nOut, nIn);
    const tail = big.applyPiece(new Float32Array(b - a).fill(1), a, nIn, nOut - 10, nOut);
    // The last outputs see the constant 1 on the left and zero padding on the right.
    expect(tail.every((v) => Number.isFinite(v) && v > -0.2 && v < 1.2)).toBe(true);
  });

  it("filters of many ratios keep the core's memory bounded; a resampler whose filter was dropped computes the same values", () => {
    // Each filter is 20·max(up, down) float64 taps: 7 MB for 44100 → 44101 Hz. Every one was kept
    // in the core's memory: 41 ratios of 0.64 MB took it from 1.4 MB to 22 MB, as a tile worker
    // grew with every samplerate its clients tried. Now up to 64 MiB of filters are kept: ten of
    // 7 MB drop the first filter (designed again at its next use), and ten more reuse the memory
    // of those they drop. (The core's allocator grows its memory by at least its size: the first
    // ten take it from a few MB to over 128 MB.)
    const next = random(7);
    const x = Float32Array.from({ length: 4000 }, () => next() - 0.5);
    const first = createResampler(4000, 4001);
    const expected = first.apply(x);
    // Rates prime to 44100 = 2²·3²·5²·7²: each ratio 44100/rate, a filter of 7 MB.
    const rates = Array.from({ length: 200 }, (_, i) => 44101 + i).filter((rate) => [2, 3, 5, 7].every((p) => rate % p !== 0));
    for (const rate of rates.slice(0, 10)) createResampler(44100, rate);
    const filled = core.memory.buffer.byteLength;
    for (const rate of rates.slice(10, 20)) createResampler(44100, rate);
    expect(core.memory.buffer.byteLength - filled).toBeLessThan(8 * 2 ** 20);
    const designs = windowsMade();
    expect(first.apply(x)).toEqual(expected);
    expect(windowsMade() - designs).toBe(1);
  });

  it("filters of six ratios used in turn stay cached — kept by count (the last four), each was designed again at every use (44100 → 44101 Hz: 594 ms)", () => {
    const x = Float32Array.from({ length: 4000 }, (_, i) => Math.sin(i * 0.01));
    const resamplers = [44101, 48000, 22050, 32000, 44099, 16000].map((rate) => createResampler(44100, rate));
    const designs = windowsMade();
    for (let round = 0; round < 3; round++) for (const r of resamplers) r.apply(x);
    expect(windowsMade() - designs).toBe(0);
  });

  it("a smaller filter cache (limitFilterCache: serve's --filter-cache) drops filters at once and keeps fewer: two ratios in turn are each designed again; the default keeps them", () => {
    const x = Float32Array.from({ length: 4000 }, (_, i) => Math.sin(i * 0.01));
    // 44100 → 44101 Hz: 7 MB of taps; 44100 → 48000 Hz (147/160): 25 KB.
    const [big, small] = [44101, 48000].map((rate) => createResampler(44100, rate));
    const designsOf = (uses: () => void) => {
      const before = windowsMade();
      uses();
      return windowsMade() - before;
    };
    try {
      limitFilterCache(8 * 2 ** 20); // room for both
      expect(designsOf(() => [big, small, big, small].forEach((r) => r.apply(x)))).toBe(0);
      limitFilterCache(2 ** 20); // room for the small one only: the big one goes now
      expect(designsOf(() => small.apply(x))).toBe(0);
      expect(designsOf(() => big.apply(x))).toBe(1); // kept while in use, over the budget…
      expect(designsOf(() => small.apply(x))).toBe(1); // …so the small one was dropped for it
      expect(designsOf(() => [big, small, big].forEach((r) => r.apply(x)))).toBe(3);
    } finally {
      limitFilterCache(FILTER_CACHE_BYTES);
    }
    // The default's room: the small one, dropped last, is designed once more, and both stay.
    expect(designsOf(() => [big, small, big, small].forEach((r) => r.apply(x)))).toBe(1);
    expect(designsOf(() => [big, small].forEach((r) => r.apply(x)))).toBe(0);
    expect(() => limitFilterCache(-1)).toThrow(new RangeError("filter cache: must be a number of bytes ≥ 0, got -1"));
    expect(() => limitFilterCache(NaN)).toThrow(/got NaN$/);
  });

  it("rejects bad rates and pieces", () => {
    expect(() => createResampler(0, 44100)).toThrow(/integer rates > 0/);
    expect(() => createResampler(44100.5, 48000)).toThrow(/integer rates > 0/);
    expect(() => createResampler(44100, -1)).toThrow(/integer rates > 0/);
    expect(() => createResampler(999983, 1000003)).toThrow(/factors above/);
    const r = createResampler(48000, 44100);
    expect(() => r.outputLength(-1)).toThrow(/input length/);
    expect(() => r.inputRange(0, 10_000, 100)).toThrow(/output piece/);
    expect(() => r.inputRange(5, 4, 100)).toThrow(/output piece/);
  });
});
