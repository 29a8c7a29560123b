/**
 * The core's element-wise kernels — dB scaling and PCEN, which evaluate log/exp with f32x4
 * polynomials (assembly/vmath.ts) — against float64 references computed here with Math.*.
 * The golden spectrogram tests check them end to end against scipy; these check the whole input
 * range, including values far outside what a golden recording produces (tiny, huge, subnormal).
 */
import { describe, expect, it } from "vitest";
import { core } from "../src/engine/wasm.js";
import { random } from "./random.js";

/** `n` values spread log-uniformly over [e^lo, e^hi], plus exact powers of two and 0. */
function spread(n: number, lo: number, hi: number, seed: number): Float32Array {
  const next = random(seed);
  const v = Float32Array.from({ length: n }, () => Math.exp(lo + (hi - lo) * next()));
  for (let i = 0; i < 40; i++) v[i] = 2 ** (i - 20);
  v[40] = 0;
  return v;
}

/** Runs `kernel` on a copy of `values` in core memory and returns the result. */
function inCore(values: Float32Array, kernel: (ptr: number) => void): Float32Array {
  const ptr = core.alloc(values.length * 4);
  new Float32Array(core.memory.buffer, ptr, values.length).set(values);
  kernel(ptr);
  const out = new Float32Array(core.memory.buffer, ptr, values.length).slice();
  core.free(ptr);
  return out;
}

const DB = 2;

describe("dB scaling (scaleValues)", () => {
  it("is 10·log10(max(S/divisor, 1e-10)) within 1e-4 dB from 1e-45 to 1e38", () => {
    // 4099 values: the vector loop and a scalar tail of 3
    const s = spread(4099, -103, 87, 1);
    s[41] = 1e-45; // subnormal
    for (const divisor of [1, 3.7]) {
      const out = inCore(s, (p) => core.scaleValues(p, s.length, divisor, DB, false, 0, 0));
      let worst = 0;
      for (let i = 0; i < s.length; i++) worst = Math.max(worst, Math.abs(out[i] - 10 * Math.log10(Math.max(s[i] / divisor, 1e-10))));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it("clamps to [min_dB, max_dB] when asked", () => {
    const s = Float32Array.from([1e-12, 1e-6, 0.5, 1, 100]);
    const out = inCore(s, (p) => core.scaleValues(p, s.length, 1, DB, true, -50, 0));
    expect(Array.from(out)).toEqual([-50, -50, expect.closeTo(-3.0103, 4), 0, 0]);
  });
});

describe("PCEN (pcenApply)", () => {
  // 1 frame of 1027 bins (vector loops and a tail) with a given smoother state, per parameter set
  const bins = 1027;
  const S = spread(bins, -60, 10, 2);
  const M = spread(bins, -60, 10, 3).reverse();
  for (const [power, gain, eps] of [[0.5, 0.98, 1e-6], [0.25, 0.98, 1e-6], [2, 0.5, 1e-3], [0.5, 0.5, 1e-9]]) {
    it(`matches the float64 formula within 1e-5 relative (power ${power}, gain ${gain}, eps ${eps})`, () => {
      const [smooth, bias] = [0.025, 2];
      const state = core.alloc(bins * 4);
      new Float32Array(core.memory.buffer, state, bins).set(M);
      let peak = 0;
      const out = inCore(S, (p) => { peak = core.pcenApply(p, 1, bins, state, smooth, gain, bias, power, eps); });
      const newState = new Float32Array(core.memory.buffer, state, bins).slice();
      core.free(state);
      let worst = 0, worstState = 0;
      for (let k = 0; k < bins; k++) {
        const m = (1 - smooth) * M[k] + smooth * S[k];
        if (m > 0) worstState = Math.max(worstState, Math.abs(newState[k] - m) / m);
        // SPEC §3.6: P = bias^power · expm1(power · log1p(S · (eps + M)^(−gain) / bias))
        const ref = bias ** power * Math.expm1(power * Math.log1p((S[k] * (eps + m) ** -gain) / bias));
        if (ref > 0) worst = Math.max(worst, Math.abs(out[k] - ref) / ref);
        else expect(out[k]).toBe(0);
      }
      expect(worst).toBeLessThan(1e-5);
      expect(worstState).toBeLessThan(1e-6);
      expect(peak).toBe(Math.max(...out));
    });
  }
});

describe("PCEN on [bins][frames] columns (pcenColumns)", () => {
  const [smooth, gain, bias, eps] = [0.025, 0.98, 2, 1e-6];

  /** `frames` × `bins` power values, frame-major, spread over 70 dB with the bins' own levels. */
  function spectrum(frames: number, bins: number, seed: number): Float32Array {
    const next = random(seed);
    return Float32Array.from({ length: frames * bins }, (_, i) => Math.exp(-50 + 40 * next()) * (1 + (i % bins)));
  }

  /** frame-major rows → columns [column, column + frames) of a [bins][stride] matrix filled with `fill`. */
  function toColumns(rows: Float32Array, frames: number, bins: number, stride: number, column: number, fill: number): Float32Array {
    const out = new Float32Array(bins * stride).fill(fill);
    for (let t = 0; t < frames; t++) for (let k = 0; k < bins; k++) out[k * stride + column + t] = rows[t * bins + k];
    return out;
  }

  function withState<T>(values: Float32Array, run: (state: number) => T): { result: T; state: Float32Array } {
    const state = core.alloc(values.length * 4);
    new Float32Array(core.memory.buffer, state, values.length).set(values);
    const result = run(state);
    const after = new Float32Array(core.memory.buffer, state, values.length).slice();
    core.free(state);
    return { result, state: after };
  }

  // Whole 4×4 blocks, the last frames (frames mod 4), groups of eight bins (two smoother chains), a
  // group of four alone, the last bins (bins mod 4), one frame.
  for (const [frames, bins, power] of [[1, 5, 0.5], [3, 4, 0.5], [7, 11, 0.5], [5, 15, 0.5], [13, 513, 0.5], [64, 17, 0.25], [9, 6, 2]]) {
    it(`gives pcenApply's bits, state and maximum on ${frames} frames × ${bins} bins (power ${power}), touching nothing else`, () => {
      const S = spectrum(frames, bins, frames * 100 + bins);
      const M = spectrum(1, bins, 7);
      let rows: Float32Array = new Float32Array(0);
      const a = withState(M, (state) => {
        let peak = 0;
        rows = inCore(S, (p) => { peak = core.pcenApply(p, frames, bins, state, smooth, gain, bias, power, eps); });
        return peak;
      });
      const stride = frames + 3, column = 2, sentinel = -7;
      const matrix = toColumns(S, frames, bins, stride, column, sentinel);
      let columns: Float32Array = new Float32Array(0);
      const b = withState(M, (state) => {
        let peak = 0;
        columns = inCore(matrix, (p) => { peak = core.pcenColumns(p + 4 * column, frames, bins, stride, state, smooth, gain, bias, power, eps); });
        return peak;
      });
      expect(columns).toEqual(toColumns(rows, frames, bins, stride, column, sentinel));
      expect(b.state).toEqual(a.state);
      expect(b.result).toBe(a.result);
    });
  }

  it("follows the float64 recurrence over 40 frames, and two calls carrying the state equal one", () => {
    const [frames, bins] = [40, 9];
    const S = spectrum(frames, bins, 11);
    const stride = frames;
    const matrix = toColumns(S, frames, bins, stride, 0, 0);
    // M[−1] = S[0] (pcenInitState reads frame 0 down the column, bins `stride` apart).
    const init = withState(new Float32Array(bins), (state) => inCore(matrix, (p) => core.pcenInitState(p, bins, stride, state))).state;
    expect(init).toEqual(S.subarray(0, bins));
    const whole = withState(init, (state) => inCore(matrix, (p) => { core.pcenColumns(p, frames, bins, stride, state, smooth, gain, bias, 0.5, eps); }));
    const split = withState(init, (state) => inCore(matrix, (p) => {
      core.pcenColumns(p, 17, bins, stride, state, smooth, gain, bias, 0.5, eps);
      core.pcenColumns(p + 4 * 17, frames - 17, bins, stride, state, smooth, gain, bias, 0.5, eps);
    }));
    expect(split.result).toEqual(whole.result);
    expect(split.state).toEqual(whole.state);
    let worst = 0;
    for (let k = 0; k < bins; k++) {
      let m = S[k];
      for (let t = 0; t < frames; t++) {
        const x = S[t * bins + k];
        m = (1 - smooth) * m + smooth * x;
        const ref = Math.sqrt(bias) * Math.expm1(0.5 * Math.log1p((x * (eps + m) ** -gain) / bias));
        worst = Math.max(worst, Math.abs(whole.result[k * stride + t] - ref) / ref);
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });
});

describe("layout change (scaleTranspose)", () => {
  // Shapes that exercise every path: whole 4×4 blocks, a partial pass of bins (cols not a
  // multiple of the 8 bins per pass), the gathered last columns, and the last rows (rows mod 4)
  // four bins at a time and then bin by bin.
  for (const [rows, cols] of [[1, 3], [4, 8], [7, 21], [13, 513], [255, 37]]) {
    it(`writes ${rows} frame-major rows of ${cols} bins into columns of a wider [bins][frames] matrix, and nothing else`, () => {
      const next = random(rows * 1000 + cols);
      const src = Float32Array.from({ length: rows * cols }, () => next());
      const stride = rows + 5, column = 3, sentinel = -7;
      const dst = new Float32Array(cols * stride).fill(sentinel);
      const srcPtr = core.alloc(src.length * 4), dstPtr = core.alloc(dst.length * 4);
      new Float32Array(core.memory.buffer, srcPtr, src.length).set(src);
      new Float32Array(core.memory.buffer, dstPtr, dst.length).set(dst);
      core.scaleTranspose(srcPtr, rows, cols, dstPtr + 4 * column, stride, 2, 0, false, 0, 0); // power, divisor 2: exact
      const out = new Float32Array(core.memory.buffer, dstPtr, dst.length).slice();
      core.free(srcPtr);
      core.free(dstPtr);
      const expected = dst.slice();
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expected[c * stride + column + r] = src[r * cols + c] / 2;
      expect(out).toEqual(expected);
    });
  }
});
