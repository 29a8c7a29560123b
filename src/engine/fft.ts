/**
 * Real-input FFT of any length, the library API of SPEC §8b (`new RealFFT(n)`).
 *
 * The transform runs in the WebAssembly core (assembly/fft.ts: SIMD mixed-radix Stockham,
 * Bluestein for lengths with a prime factor above 37). This class owns one core plan and two
 * WASM buffers, allocated once; a call copies the input in and the spectrum out with
 * `TypedArray.set` and does no other work in JavaScript.
 */
import { describeValue } from "../audio/signal.js";
import { core } from "./wasm.js";

/** Largest supported transform length (the core's MAX_FFT_LENGTH). */
export const MAX_FFT_LENGTH = 1 << 24;

/** What the finalizer needs to release a plan nobody disposed. */
interface Resources { handle: number; input: number; output: number }

function release(r: Resources): void {
  core.fftDestroy(r.handle);
  core.free(r.input);
  core.free(r.output);
}

/** Frees the WASM side of plans that were garbage-collected without `dispose()`. */
const finalizer = new FinalizationRegistry<Resources>(release);

/**
 * A forward real FFT plan for length `n`, with numpy's convention:
 * `X[k] = Σ_j x[j]·e^{-2πi·jk/n}` for `k = 0 … ⌊n/2⌋`, unscaled — as `numpy.fft.rfft(x)`.
 *
 * @example
 * const fft = new RealFFT(1102);
 * const spectrum = fft.forward(frame); // Float32Array [re0, im0, re1, im1, …], 2·(551+1) values
 * fft.dispose();
 *
 * Precision: float32 throughout (twiddles computed in float64); the error of each bin is
 * about 1e-7 · log2(n) · Σ|x|.
 * Throughput: create a plan once per length and reuse it (and its `output` array) per frame.
 * A plan is bound to the calling thread's core instance; it is not thread-safe to share.
 */
export class RealFFT {
  /** Transform length (number of real input samples). */
  readonly n: number;
  /** Number of complex output bins, `⌊n/2⌋ + 1`; the output holds twice as many floats. */
  readonly bins: number;
  private resources: Resources | null;
  private inputView: Float32Array;
  private outputView: Float32Array;

  /**
   * @param n transform length, an integer in [2, MAX_FFT_LENGTH]; any factorisation.
   * @throws TypeError if `n` is not a number, RangeError if it is not such an integer.
   */
  constructor(n: number) {
    if (typeof n !== "number") throw new TypeError(`RealFFT length must be a number, got ${describeValue(n)}`);
    if (!Number.isInteger(n) || n < 2 || n > MAX_FFT_LENGTH) {
      throw new RangeError(`RealFFT length must be an integer in [2, ${MAX_FFT_LENGTH}], got n=${n}`);
    }
    this.n = n;
    this.bins = Math.floor(n / 2) + 1;
    const handle = core.fftCreate(n);
    const input = core.alloc(n * 4);
    const output = core.alloc(this.bins * 8);
    this.resources = { handle, input, output };
    finalizer.register(this, this.resources, this);
    this.inputView = new Float32Array(core.memory.buffer, input, n);
    this.outputView = new Float32Array(core.memory.buffer, output, 2 * this.bins);
  }

  /**
   * The spectrum of `input`.
   * @param input `n` real samples (not modified).
   * @param output optional destination of `2·bins` floats, interleaved `re, im` per bin;
   *   allocated when omitted. Reusing one avoids an allocation per call.
   * @returns `output` (or the new array) holding the `bins` complex values.
   * @throws TypeError for arrays other than Float32Array, RangeError on wrong lengths, Error if the plan was disposed.
   */
  forward(input: Float32Array, output?: Float32Array): Float32Array {
    const r = this.resources;
    if (r === null) throw new Error("RealFFT.forward called after dispose()");
    if (!(input instanceof Float32Array) || input.length !== this.n) {
      const Failure = input instanceof Float32Array ? RangeError : TypeError;
      throw new Failure(`RealFFT(${this.n}).forward: input must be a Float32Array of length ${this.n}, got ${describeValue(input)}`);
    }
    const out = output ?? new Float32Array(2 * this.bins);
    if (!(out instanceof Float32Array) || out.length !== 2 * this.bins) {
      const Failure = out instanceof Float32Array ? RangeError : TypeError;
      throw new Failure(`RealFFT(${this.n}).forward: output must be a Float32Array of length ${2 * this.bins} (${this.bins} complex bins), got ${describeValue(out)}`);
    }
    // Views die when the core's memory grows (any allocation, e.g. another plan): growing detaches
    // the old buffer, which leaves them with length 0 — a cheaper test than the memory.buffer getter.
    if (this.inputView.length === 0) {
      this.inputView = new Float32Array(core.memory.buffer, r.input, this.n);
      this.outputView = new Float32Array(core.memory.buffer, r.output, 2 * this.bins);
    }
    this.inputView.set(input);
    core.fftForward(r.handle, r.input, r.output);
    out.set(this.outputView);
    return out;
  }

  /** Releases the WASM plan and buffers now (otherwise the garbage collector does, eventually). Idempotent. */
  dispose(): void {
    const r = this.resources;
    if (r === null) return;
    this.resources = null;
    finalizer.unregister(this);
    release(r);
  }
}

