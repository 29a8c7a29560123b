/**
 * Real-input FFT of any length, the library API of SPEC §8b (`new RealFFT(n)`).
 *
 * The transform runs in the WebAssembly core (assembly/fft.ts: SIMD mixed-radix Stockham,
 * Bluestein for lengths with a prime factor above 37). Instances of one length share one core
 * plan and two WASM buffers, allocated once; a call copies the input in and the spectrum out
 * with `TypedArray.set` and does no other work in JavaScript.
 */
import { describeValue } from "../audio/signal.js";
import { core, CoreMemoryError } from "./wasm.js";

/** Largest supported transform length (the core's MAX_FFT_LENGTH). */
export const MAX_FFT_LENGTH = 1 << 24;

/**
 * One core plan with its input and output buffers, shared by every RealFFT of its length on this
 * thread (as FFTW and pffft users expect plans to be cached). Sharing the buffers is safe because
 * `forward` copies in, transforms and copies out synchronously, calling no user code in between.
 */
interface SharedPlan {
  readonly n: number;
  readonly handle: number;
  readonly input: number;
  readonly output: number;
  /** Live instances using it: RealFFTs neither disposed nor collected. */
  users: number;
  inputView: Float32Array;
  outputView: Float32Array;
}

/** This thread's plans by length; a plan leaves when its last user does. */
const sharedPlans = new Map<number, SharedPlan>();

/** The shared plan for `n`, created on first use; the caller becomes one of its users. */
function acquirePlan(n: number): SharedPlan {
  let plan = sharedPlans.get(n);
  if (plan === undefined) {
    plan = createPlan(n);
    sharedPlans.set(n, plan);
  }
  plan.users++;
  return plan;
}

/** A new core plan and buffers for `n`; on running out of memory, whatever was made is freed. */
function createPlan(n: number): SharedPlan {
  const bins = Math.floor(n / 2) + 1;
  let handle = 0;
  let input = 0;
  try {
    handle = core.fftCreate(n);
    input = core.alloc(n * 4);
    const output = core.alloc(bins * 8);
    const views = { inputView: new Float32Array(core.memory.buffer, input, n), outputView: new Float32Array(core.memory.buffer, output, 2 * bins) };
    return { n, handle, input, output, users: 0, ...views };
  } catch (err) {
    if (input !== 0) core.free(input);
    if (handle !== 0) core.fftDestroy(handle);
    if (err instanceof CoreMemoryError) {
      throw new CoreMemoryError(`RealFFT(${n}), a plan of tables and ${n * 4 + bins * 8} bytes of buffers: ${err.message}`, err.memoryFull);
    }
    throw err;
  }
}

/** Drops one user of `plan`; the last one frees its core plan and buffers. */
function releasePlan(plan: SharedPlan): void {
  if (--plan.users > 0) return;
  sharedPlans.delete(plan.n);
  core.fftDestroy(plan.handle);
  core.free(plan.input);
  core.free(plan.output);
}

/** Releases the share of instances garbage-collected without `dispose()`. */
const finalizer = new FinalizationRegistry<SharedPlan>(releasePlan);

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
 * Instances of one length on a thread share one plan (tables and buffers), counted: it is freed
 * when the last of them is disposed or garbage-collected, so creating instances in a loop costs
 * no memory per instance. Reusing one instance (and its `output` array) per frame is still
 * the fastest. A plan is bound to the calling thread's core instance; do not share it across threads.
 */
export class RealFFT {
  /** Transform length (number of real input samples). */
  readonly n: number;
  /** Number of complex output bins, `⌊n/2⌋ + 1`; the output holds twice as many floats. */
  readonly bins: number;
  private plan: SharedPlan | null;

  /**
   * @param n transform length, an integer in [2, MAX_FFT_LENGTH]; any factorisation.
   * @throws TypeError if `n` is not a number, RangeError if it is not such an integer, or
   *   (CoreMemoryError) if the core's WebAssembly memory, at most 4 GiB, cannot hold the plan.
   */
  constructor(n: number) {
    if (typeof n !== "number") throw new TypeError(`RealFFT length must be a number, got ${describeValue(n)}`);
    if (!Number.isInteger(n) || n < 2 || n > MAX_FFT_LENGTH) {
      throw new RangeError(`RealFFT length must be an integer in [2, ${MAX_FFT_LENGTH}], got n=${n}`);
    }
    this.n = n;
    this.bins = Math.floor(n / 2) + 1;
    // Read-only at run time too: `fft.n = 4` on an instance of 8 transformed the first 4 of the
    // plan's 8 input floats, the rest left from the call before (TypeScript's readonly binds no JS caller).
    Object.defineProperties(this, { n: { writable: false }, bins: { writable: false } });
    this.plan = acquirePlan(n);
    finalizer.register(this, this.plan, this);
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
    const plan = this.plan;
    if (plan === null) throw new Error("RealFFT.forward called after dispose()");
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
    if (plan.inputView.length === 0) {
      plan.inputView = new Float32Array(core.memory.buffer, plan.input, this.n);
      plan.outputView = new Float32Array(core.memory.buffer, plan.output, 2 * this.bins);
    }
    plan.inputView.set(input);
    core.fftForward(plan.handle, plan.input, plan.output);
    out.set(plan.outputView);
    return out;
  }

  /**
   * Gives up this instance's share of the plan now; the last instance of its length frees the
   * plan's WebAssembly memory. Without it the share is given up when the instance is
   * garbage-collected, which only happens once the event loop turns. Idempotent.
   */
  dispose(): void {
    const plan = this.plan;
    if (plan === null) return;
    this.plan = null;
    finalizer.unregister(this);
    releasePlan(plan);
  }
}

