/**
 * The STFT power pipelines compared in bench/stft.ts, each owning its output buffer.
 *
 * Every pipeline computes the same values — SPEC §3.5: scipy.signal.stft(x, fs, "hann",
 * nperseg, noverlap, boundary="zeros", padded=True, scaling="psd"), then |Z|² — into a
 * Float32Array [bins][frames] allocated once by the pipeline. The output is first-touched by
 * an untimed warm-up, since on this VM touching fresh memory costs as much as the STFT itself.
 *
 * The peers' "glue" (framing, window, power, transpose to [bins][frames]) is the plain
 * typed-array JavaScript a user of those FFT libraries would write: one frame at a time, no
 * allocation per frame, the window pre-scaled so the power needs no extra multiply. Every
 * frame buffer is a Float32Array, so `frameInto` stays monomorphic: V8 keeps one set of type
 * feedback per function, and while fft.js's frames were Float64Arrays the shared framing loop
 * ran pffft's pipeline 15–20 % slower (bench/README.md, 2026-12-02 16:30).
 */
import FFT from "fft.js";
import type { PffftModule } from "@echogarden/pffft-wasm/simd";
import { frameCount, frameGeometry, spectrogram, type ParamsInput } from "../../src/index.js";
import type { BenchSignal } from "./signal.js";

export interface Pipeline {
  readonly name: string;
  readonly bins: number;
  readonly frames: number;
  /** [bins][frames], rewritten by every run(). */
  readonly output: Float32Array;
  run(): void;
  dispose(): void;
}

/** sonotile's library API (SPEC §8b), writing into a caller-owned output (`{ output }`). */
export function sonotilePipeline(name: string, signal: BenchSignal, params: ParamsInput): Pipeline {
  const first = spectrogram(signal.samples, signal.samplerate, params); // sizes the output
  const output = first.data;
  return {
    name, bins: first.bins, frames: first.frames, output,
    run: () => void spectrogram(signal.samples, signal.samplerate, params, { output }),
    dispose: () => {},
  };
}

/** The geometry of SPEC §3.5 for an FFT length and hop in samples. */
function geometry(signal: BenchSignal, nperseg: number, hop: number) {
  const g = frameGeometry(nperseg / signal.samplerate, 1 - (nperseg - hop) / nperseg, signal.samplerate);
  if (g.nperseg !== nperseg || g.hop !== hop) throw new Error(`geometry: wanted ${nperseg}/${hop}, got ${g.nperseg}/${g.hop}`);
  return { bins: g.bins, frames: frameCount(signal.samples.length, g), half: Math.floor(nperseg / 2) };
}

/**
 * Periodic Hann window (scipy.signal.get_window("hann", n)) computed in float64, times
 * sqrt(1 / (fs · Σw²)) — scipy's scaling="psd" factor for Z, so |X|² needs no further scaling.
 */
export function scaledHann(n: number, samplerate: number): Float64Array {
  const w = new Float64Array(n);
  let energy = 0;
  for (let j = 0; j < n; j++) {
    w[j] = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n);
    energy += w[j] * w[j];
  }
  const scale = Math.sqrt(1 / (samplerate * energy));
  for (let j = 0; j < n; j++) w[j] *= scale;
  return w;
}

/**
 * Frame `start` of `x` (may begin before 0 or end past the signal: zeros there, scipy's
 * boundary="zeros" / padded=True), windowed, into dst[offset … offset + w.length).
 */
function frameInto(dst: Float32Array, offset: number, x: Float32Array, start: number, w: Float64Array): void {
  const n = w.length;
  if (start >= 0 && start + n <= x.length) {
    for (let j = 0; j < n; j++) dst[offset + j] = x[start + j] * w[j];
  } else {
    for (let j = 0; j < n; j++) {
      const s = start + j;
      dst[offset + j] = s >= 0 && s < x.length ? x[s] * w[j] : 0;
    }
  }
}

/**
 * PFFFT (WASM SIMD build) + JS glue. PFFFT's ordered real output packs the Nyquist value next
 * to DC: [X0, X(n/2), re1, im1, …]. Needs n a multiple of 32 with n/32 = 2^a·3^b·5^c.
 */
export function pffftPipeline(pf: PffftModule, signal: BenchSignal, nperseg: number, hop: number): Pipeline {
  const { bins, frames, half } = geometry(signal, nperseg, hop);
  const setup = pf._pffft_new_setup(nperseg, 0);
  if (setup === 0) throw new Error(`pffft does not support a real transform of n=${nperseg}`);
  const inPtr = pf._pffft_aligned_malloc(nperseg * 4);
  const outPtr = pf._pffft_aligned_malloc(nperseg * 4);
  const workPtr = pf._pffft_aligned_malloc(nperseg * 4);
  const w = scaledHann(nperseg, signal.samplerate);
  const x = signal.samples;
  const output = new Float32Array(bins * frames);
  const run = () => {
    const heap = pf.HEAPF32; // fetched per run: emscripten replaces it when memory grows
    const inOff = inPtr >> 2, outOff = outPtr >> 2;
    for (let i = 0; i < frames; i++) {
      frameInto(heap, inOff, x, i * hop - half, w);
      pf._pffft_transform_ordered(setup, inPtr, outPtr, workPtr, 0);
      const dc = heap[outOff], nyquist = heap[outOff + 1];
      output[i] = dc * dc;
      for (let k = 1; k < bins - 1; k++) {
        const re = heap[outOff + 2 * k], im = heap[outOff + 2 * k + 1];
        output[k * frames + i] = re * re + im * im;
      }
      output[(bins - 1) * frames + i] = nyquist * nyquist;
    }
  };
  return {
    name: "pffft-wasm SIMD + JS glue", bins, frames, output, run,
    dispose: () => {
      pf._pffft_destroy_setup(setup);
      for (const p of [inPtr, outPtr, workPtr]) pf._pffft_aligned_free(p);
    },
  };
}

/**
 * fft.js (radix-4, float64, power-of-two n only) + JS glue. The windowed frame is float32, as
 * the samples are and as the FFT part of the bench feeds fft.js; it computes in float64.
 */
export function fftjsPipeline(signal: BenchSignal, nperseg: number, hop: number): Pipeline {
  if (nperseg & (nperseg - 1)) throw new Error(`fft.js needs a power-of-two n, got ${nperseg}`);
  const { bins, frames, half } = geometry(signal, nperseg, hop);
  const fft = new FFT(nperseg);
  const frame = new Float32Array(nperseg);
  const spectrum = new Float64Array(2 * nperseg);
  const w = scaledHann(nperseg, signal.samplerate);
  const x = signal.samples;
  const output = new Float32Array(bins * frames);
  const run = () => {
    for (let i = 0; i < frames; i++) {
      frameInto(frame, 0, x, i * hop - half, w);
      fft.realTransform(spectrum, frame);
      for (let k = 0; k < bins; k++) {
        const re = spectrum[2 * k], im = spectrum[2 * k + 1];
        output[k * frames + i] = re * re + im * im;
      }
    }
  };
  return { name: "fft.js + JS glue", bins, frames, output, run, dispose: () => {} };
}

/**
 * Σ_k (k + 1) · Σ_i S[k][i] in float64 over an output [bins][frames]: a cheap check that two
 * pipelines computed the same spectrogram in the same layout (weighting by bin catches
 * transposed or shifted bins, which a plain sum would not). bench/native/stft_fftw.c and
 * scripts/stft_scipy_bench.py compute the same quantity.
 */
export function checksum(output: Float32Array, bins: number, frames: number): number {
  let total = 0;
  for (let k = 0; k < bins; k++) {
    let row = 0;
    for (let i = k * frames, end = i + frames; i < end; i++) row += output[i];
    total += (k + 1) * row;
  }
  return total;
}
