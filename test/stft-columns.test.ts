/**
 * The four-frame STFT kernel (`stftPowerColumns`, assembly/fft/four-frames.ts), which writes
 * power straight into columns of a [bins][frames] matrix, one frame per SIMD lane: against a
 * float64 DFT of every frame, at every length it serves, with frames in the padding, partial
 * groups of frames, a wider destination and the maximum-only mode. The golden spectrogram tests
 * check it end to end against scipy; these check each radix path and the edges of a call.
 */
import { afterAll, describe, expect, it } from "vitest";
import { core } from "../src/engine/wasm.js";
import { random } from "./random.js";

/** Core memory freed after the file's tests. */
const allocations: number[] = [];
function inCore(values: Float32Array): number {
  const ptr = core.alloc(values.length * 4);
  new Float32Array(core.memory.buffer, ptr, values.length).set(values);
  allocations.push(ptr);
  return ptr;
}
afterAll(() => allocations.forEach((p) => core.free(p)));

interface Case {
  n: number;
  hop: number;
  /** Buffer index of frame 0's first sample (negative: it starts in the padding). */
  first: number;
  frames: number;
  samples: Float32Array;
  window: Float32Array;
  scale: number;
}

function makeCase(n: number, frames: number, seed: number): Case {
  const next = random(seed);
  const hop = n / 2;
  // Frame 0 starts half a frame before the buffer and the last one ends past it: both edges pad.
  const first = -hop;
  const length = (frames - 1) * hop + n - n / 4 - hop;
  const samples = Float32Array.from({ length }, (_, i) => next() - 0.5 + 0.8 * Math.sin(0.37 * i));
  const window = Float32Array.from({ length: n }, (_, j) => 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n));
  return { n, hop, first, frames, samples, window, scale: 1 / (48000 * n) };
}

/**
 * scale·|Σ_j x[start + j]·w[j]·e^{−2πi·jk/n}|² for k ≤ n/2, in float64 (x = 0 outside the buffer);
 * only every `every`-th bin is computed, the others left 0.
 */
function referencePower(c: Case, frame: number, every = 1): Float64Array {
  const { n, samples, window } = c;
  const start = c.first + frame * c.hop;
  const cos = Float64Array.from({ length: n }, (_, i) => Math.cos((2 * Math.PI * i) / n));
  const sin = Float64Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * i) / n));
  const out = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k += every) {
    let re = 0, im = 0;
    for (let j = 0; j < n; j++) {
      const s = start + j;
      if (s < 0 || s >= samples.length) continue;
      const v = samples[s] * window[j], t = (j * k) % n;
      re += v * cos[t];
      im -= v * sin[t];
    }
    out[k] = c.scale * (re * re + im * im);
  }
  return out;
}

/**
 * Runs the kernel on frames [f0, f0 + count) of `c` into columns [column, column + count) of a
 * [bins][stride] matrix filled with NaN beforehand (or with no output); returns the matrix and
 * the maximum the kernel reported.
 */
function runColumns(c: Case, f0: number, count: number, stride: number, column: number, withOutput = true): { matrix: Float32Array; peak: number } {
  const bins = c.n / 2 + 1;
  const windowPtr = inCore(c.window);
  const handle = core.stftCreate(c.n, windowPtr);
  try {
    expect(core.stftHasColumns(handle)).toBe(true);
    const samplesPtr = inCore(c.samples);
    const matrixPtr = inCore(new Float32Array(bins * stride).fill(NaN));
    const out = withOutput ? matrixPtr + 4 * column : 0;
    const peak = core.stftPowerColumns(handle, samplesPtr, c.samples.length, c.first + f0 * c.hop, c.hop, count, c.scale, out, stride);
    return { matrix: new Float32Array(core.memory.buffer, matrixPtr, bins * stride).slice(), peak };
  } finally {
    core.stftDestroy(handle);
  }
}

describe("stftPowerColumns: four frames per transform, into [bins][frames] columns", () => {
  // The complex FFT has m = n/2 points, its stages' radices (stageRadices) first to last:
  // 16: 8; 32: 4·4; 64: 4·8; 128: 4·4·4; 256 … 4096, 8192 likewise with 4s and a last 8 or 4;
  // 20: 5·2; 24: 3·4; 48: 3·8; 60: 3·5·2; 1200: 3·5·5·8; 9600: 4·4·3·5·5·4; m odd, no power-of-two
  // stage: 18: 3·3, 6250: 5·5·5·5·5; with the generic odd stage: 22: 11; 26: 13; 44: 11·2; 70: 5·7;
  // 286: 11·13; 882: 3·3·7·7; 1430: 5·11·13.
  const lengths = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 20, 24, 48, 60, 1200, 9600, 18, 6250, 22, 26, 44, 70, 286, 882, 1430];

  it.each(lengths)("n = %i: every frame's power matches a float64 DFT, frames in the padding and a partial last group included", (n) => {
    const frames = 7; // one group of four, one of three
    const c = makeCase(n, frames, n);
    const bins = n / 2 + 1;
    const every = n > 4096 ? 7 : 1; // the float64 DFT of every bin would take seconds
    const { matrix, peak } = runColumns(c, 0, frames, frames, 0);
    let largest = 0;
    for (let f = 0; f < frames; f++) {
      const ref = referencePower(c, f, every);
      const framePeak = Math.max(...ref);
      for (let k = 0; k < bins; k++) {
        largest = Math.max(largest, matrix[k * frames + f]);
        // float32 butterflies: errors relative to the frame's largest bin, growing with log n.
        if (k % every === 0) expect(Math.abs(matrix[k * frames + f] - ref[k])).toBeLessThanOrEqual(2e-6 * framePeak);
      }
    }
    expect(peak).toBe(largest);
  });

  it("writes only its columns of a wider matrix, for every count of frames 1 … 9", () => {
    const c = makeCase(256, 12, 3);
    const bins = 129, stride = 15, column = 3;
    for (let count = 1; count <= 9; count++) {
      const { matrix } = runColumns(c, 2, count, stride, column);
      for (let k = 0; k < bins; k++) {
        for (let col = 0; col < stride; col++) {
          const v = matrix[k * stride + col];
          if (col >= column && col < column + count) expect(Number.isFinite(v)).toBe(true);
          else expect(v).toBeNaN();
        }
      }
    }
  });

  it("gives a frame the same bits whichever lane and group it goes through", () => {
    // Frames 1 … 8 in one call (lanes 1, 2, 3, 0, …) and in another starting at frame 1 (lanes 0, 1, …).
    const c = makeCase(1024, 9, 5);
    const bins = 513;
    const all = runColumns(c, 0, 9, 9, 0).matrix;
    const shifted = runColumns(c, 1, 8, 8, 0).matrix;
    for (let k = 0; k < bins; k++) {
      expect(Array.from(shifted.subarray(k * 8, k * 8 + 8))).toEqual(Array.from(all.subarray(k * 9 + 1, k * 9 + 9)));
    }
  });

  it("with no output, returns the same maximum and writes nothing", () => {
    for (const count of [3, 4, 7]) {
      const c = makeCase(512, count, 11);
      const written = runColumns(c, 0, count, count, 0);
      const scanned = runColumns(c, 0, count, count, 0, false);
      expect(scanned.peak).toBe(written.peak);
      expect(scanned.matrix.every(Number.isNaN)).toBe(true);
    }
  });

  it("serves even n from 16 to 9600 whose half has no prime factor above 13; other lengths go through stftPower", () => {
    const served = [8, 12, 15, 16, 18, 24, 26, 34, 1000, 1001, 1024, 1102, 1400, 4096, 6250, 7812, 8192, 9600, 12000, 16384].filter((n) => {
      const windowPtr = inCore(new Float32Array(n).fill(1));
      const handle = core.stftCreate(n, windowPtr);
      const has = core.stftHasColumns(handle);
      core.stftDestroy(handle);
      return has;
    });
    // 34 = 2·17, 1102 = 2·19·29, 7812 = 2²·3²·7·31: a prime above 13; 15, 1001: odd.
    expect(served).toEqual([16, 18, 24, 26, 1000, 1024, 1400, 4096, 6250, 8192, 9600]);
  });
});
