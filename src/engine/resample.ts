/**
 * Rate conversion of SPEC §3.3: `scipy.signal.resample_poly(x, up, down)` with up/down the
 * reduced ratio of the target and source rates, default window ("kaiser", 5.0) and
 * padtype "constant" (zeros beyond the recording).
 *
 * Following scipy 1.10's resample_poly: max_rate = max(up, down), an FIR low-pass
 * h = firwin(2·half_len + 1, 1/max_rate, window=("kaiser", 5.0)) with half_len = 10·max_rate,
 * h *= up, and upfirdn with n_pre_pad = down − half_len % down and
 * n_pre_remove = (half_len + n_pre_pad) // down. Those offsets reduce to "output m is the
 * filter centred on input m·down/up" (see assembly/resample.ts), which is what the core
 * computes. The filter is designed here in float64 and kept for the last few ratios used (polyphaseCache).
 */
import { MAX_RATE_FACTOR, rateRatio, resampledLength } from "./rate-ratio.js";
import { getWindowF64 } from "./window.js";
import { core, CORE_MAX_BLOCK, CoreMemoryError } from "./wasm.js";

/** resample_poly's default window: ("kaiser", 5.0). */
const KAISER_BETA = 5;


/** A resampling plan from one rate to another. */
export interface Resampler {
  /** The reduced ratio: output rate / input rate = up / down. */
  readonly up: number;
  readonly down: number;
  /** Output length for `nIn` input samples: ceil(nIn · up / down), as resample_poly. */
  outputLength(nIn: number): number;
  /** resample_poly(x, up, down) of a whole signal. */
  apply(x: Float32Array): Float32Array;
  /** Input samples [inFrom, inTo) that output samples [outFrom, outTo) depend on, clipped to [0, nIn). */
  inputRange(outFrom: number, outTo: number, nIn: number): [number, number];
  /**
   * Output samples [outFrom, outTo) of the whole-signal result, from `buffer` = input samples
   * [bufferStart, bufferStart + buffer.length), which must cover inputRange(outFrom, outTo, nInTotal).
   * Exactly equal to apply(x).subarray(outFrom, outTo).
   */
  applyPiece(buffer: Float32Array, bufferStart: number, nInTotal: number, outFrom: number, outTo: number): Float32Array;
}

/** The filter of one ratio in the core's polyphase layout (see assembly/resample.ts). */
interface Polyphase { ptr: number; up: number; down: number; halfLen: number; tapsPerPhase: number }
/**
 * The filters of the ratios used last, least recently used first, up to polyphaseBudget bytes of
 * taps in all; the ones dropped are freed. A filter is 20·max(up, down) float64 taps in the core's
 * memory, 7 MB for 44100 → 44101 Hz and 42 MB near the largest factor, and the core never gives
 * memory back to the system: kept for every ratio ever asked for, each tile worker grew by the sum
 * of the filters of every `samplerate` its clients tried (a server's RSS +180 MB after tiles at 30
 * rates near 44.1 kHz, on one thread). Budgeted by bytes, not by count: kept by count (the last
 * four), a filter of a few KB was dropped as readily as a 7 MB one, and a client cycling through
 * six ratios (a recording's `samplerate` varies by request) had each designed again at every use
 * (44100 → 44101 Hz: 0.1 ms cached, 594 ms designed). The filter in use is kept whatever its size.
 */
const polyphaseCache = new Map<string, Polyphase>();
/**
 * The filter cache's default budget (FilterCacheBytes), 64 MiB: nine filters of 7 MB, a tile
 * worker's four open recordings (tiles/worker.ts) at two ratios each, and more.
 */
export const FILTER_CACHE_BYTES = 64 * 2 ** 20;
/**
 * Bytes of taps polyphaseCache keeps (limitFilterCache). Per thread, as the cache and the core
 * whose memory holds it are: a pool's threads are each given it as they start (tiles/worker.ts).
 */
let polyphaseBudget = FILTER_CACHE_BYTES;
/** Bytes of taps in polyphaseCache. */
let polyphaseBytes = 0;

/**
 * Keeps at most `bytes` of resampling filters in this thread's cache from now on (default
 * FILTER_CACHE_BYTES), dropping the least recently used ones past it now: a smaller budget
 * designs filters again more often (44100 → 44101 Hz: 594 ms), a larger one lets the core grow by
 * as much. The filter in use is kept whatever its size.
 */
export function limitFilterCache(bytes: number): void {
  if (!(bytes >= 0)) throw new RangeError(`filter cache: must be a number of bytes ≥ 0, got ${bytes}`);
  polyphaseBudget = bytes;
  dropFiltersOverBudget(null);
}

/** Frees the least recently used filters while the cache is over its budget, all but the one of `keep` (the filter in use). */
function dropFiltersOverBudget(keep: string | null): void {
  for (const [oldest, dropped] of polyphaseCache) {
    if (polyphaseBytes <= polyphaseBudget || oldest === keep) break;
    polyphaseCache.delete(oldest);
    polyphaseBytes -= Float64Array.BYTES_PER_ELEMENT * dropped.up * dropped.tapsPerPhase; // its taps' bytes
    core.free(dropped.ptr);
  }
}

/**
 * scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta)) for a low-pass (pass_zero,
 * scale=True): h[i] = cutoff·sinc(cutoff·(i − (numtaps−1)/2)) · w[i], normalized to unit sum
 * (the gain at 0 Hz), with w the symmetric kaiser window. `cutoff` is relative to Nyquist.
 */
export function firwinLowpass(numtaps: number, cutoff: number, beta: number): Float64Array {
  const w = getWindowF64("kaiser", numtaps, beta, true, Number.MAX_SAFE_INTEGER);
  const alpha = (numtaps - 1) / 2;
  const h = new Float64Array(numtaps);
  let sum = 0;
  for (let i = 0; i < numtaps; i++) {
    const x = cutoff * (i - alpha);
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x); // numpy.sinc
    h[i] = cutoff * sinc * w[i];
    sum += h[i];
  }
  for (let i = 0; i < numtaps; i++) h[i] /= sum;
  return h;
}

/** The resample_poly filter of up/down, split by phase and reversed, resident in the core's memory. */
function polyphase(up: number, down: number): Polyphase {
  const key = `${up}/${down}`;
  const cached = polyphaseCache.get(key);
  if (cached) {
    polyphaseCache.delete(key); // re-inserted: the most recently used
    polyphaseCache.set(key, cached);
    return cached;
  }
  const maxRate = Math.max(up, down);
  const halfLen = 10 * maxRate;
  const length = 2 * halfLen + 1;
  const h = firwinLowpass(length, 1 / maxRate, KAISER_BETA);
  const tapsPerPhase = Math.ceil(length / up);
  // float64 taps, summed in float64 (assembly/resample.ts): float32 ones and sums left an error of
  // 2.7e-7 of the peak, 0.055 dB on a bin 59 dB down once the anti-alias filter had removed a bat
  // recording's loud ultrasound (500 kHz → 22050 Hz).
  const taps = new Float64Array(up * tapsPerPhase);
  for (let phase = 0; phase < up; phase++) {
    for (let j = 0; j < tapsPerPhase; j++) {
      const i = phase + up * (tapsPerPhase - 1 - j);
      if (i < length) taps[phase * tapsPerPhase + j] = h[i] * up; // resample_poly: h *= up
    }
  }
  const ptr = core.alloc(taps.byteLength);
  new Float64Array(core.memory.buffer, ptr, taps.length).set(taps);
  const plan = { ptr, up, down, halfLen, tapsPerPhase };
  polyphaseCache.set(key, plan);
  polyphaseBytes += taps.byteLength;
  dropFiltersOverBudget(key);
  return plan;
}

/**
 * A resampler from `fsIn` to `fsOut` Hz (positive integers; resample_poly works on the
 * integer ratio). Equal rates give the identity, as resample_poly returns x unchanged.
 */
export function createResampler(fsIn: number, fsOut: number): Resampler {
  for (const [name, v] of [["input rate", fsIn], ["output rate", fsOut]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`resampling needs integer rates > 0 Hz; the ${name} is ${v}`);
  }
  const { up, down } = rateRatio(fsIn, fsOut);
  // Parameters are checked against this before (checkParamsForRecording): this guards direct callers.
  if (Math.max(up, down) > MAX_RATE_FACTOR) {
    throw new RangeError(`resampling ${fsIn} → ${fsOut} Hz reduces to ${up}/${down}; factors above ${MAX_RATE_FACTOR} need too long a filter`);
  }
  const identity = up === 1 && down === 1;
  // Designed now, so that a ratio's cost is paid at creation; each call looks it up again
  // (polyphase), as it may have been dropped meanwhile by resamplers of other ratios.
  const { halfLen, tapsPerPhase: k } = identity ? { halfLen: 0, tapsPerPhase: 1 } : polyphase(up, down);

  const outputLength = (nIn: number) => {
    checkLength(nIn, up);
    return resampledLength(nIn, { up, down });
  };
  // Output m reads inputs floor((m·down + halfLen)/up) − K + 1 … floor((m·down + halfLen)/up).
  const inputRange = (outFrom: number, outTo: number, nIn: number): [number, number] => {
    checkPiece(outFrom, outTo, outputLength(nIn));
    if (outFrom === outTo) return [0, 0];
    const lo = Math.floor((outFrom * down + halfLen) / up) - k + 1;
    const hi = Math.floor(((outTo - 1) * down + halfLen) / up) + 1;
    return [Math.min(nIn, Math.max(0, lo)), Math.max(0, Math.min(nIn, hi))];
  };
  const compute = (buffer: Float32Array, bufferStart: number, outFrom: number, count: number): Float32Array => {
    if (identity || count === 0) return buffer.slice(outFrom - bufferStart, outFrom - bufferStart + count);
    // A signal resampled at once must fit the core's largest block, input and output each: a
    // recording is resampled a block at a time instead (recording.ts, the tiles), whatever its length.
    const largest = 4 * Math.max(buffer.length, count);
    if (largest > CORE_MAX_BLOCK) {
      throw new CoreMemoryError(`resample: ${buffer.length} samples resampled at once into ${count} take a block of ${largest} bytes, over the DSP core's largest, ${CORE_MAX_BLOCK} bytes — resample a shorter signal, or read the recording with spectrogramOfRecording or RecordingSpectrogram, which resample it a block at a time`);
    }
    const plan = polyphase(up, down); // before the views below: designing it again may grow the memory
    const xPtr = core.alloc(buffer.length * 4);
    let outPtr = 0;
    try {
      outPtr = core.alloc(count * 4);
      new Float32Array(core.memory.buffer, xPtr, buffer.length).set(buffer);
      core.resamplePoly(plan.ptr, up, down, k, halfLen, xPtr, bufferStart, buffer.length, outFrom, count, outPtr);
      return new Float32Array(core.memory.buffer, outPtr, count).slice();
    } finally {
      if (outPtr !== 0) core.free(outPtr); // the output's block refused: the input's is freed alone
      core.free(xPtr);
    }
  };

  return {
    up, down, outputLength, inputRange,
    apply: (x) => compute(x, 0, 0, outputLength(x.length)),
    applyPiece(buffer, bufferStart, nInTotal, outFrom, outTo) {
      const [inFrom, inTo] = inputRange(outFrom, outTo, nInTotal);
      if (!Number.isInteger(bufferStart) || bufferStart > inFrom || bufferStart + buffer.length < inTo) {
        throw new RangeError(`buffer [${bufferStart}, ${bufferStart + buffer.length}) must cover input samples [${inFrom}, ${inTo}) for output [${outFrom}, ${outTo})`);
      }
      if (bufferStart < 0 || bufferStart + buffer.length > nInTotal) {
        throw new RangeError(`buffer [${bufferStart}, ${bufferStart + buffer.length}) lies outside the recording [0, ${nInTotal})`);
      }
      return compute(buffer, bufferStart, outFrom, outTo - outFrom);
    },
  };
}

/** nIn must be a sample count whose upsampled length stays an exact double. */
function checkLength(nIn: number, up: number): void {
  if (!Number.isSafeInteger(nIn) || nIn < 0 || !Number.isSafeInteger(nIn * up)) {
    throw new RangeError(`input length must be an integer >= 0 (and below 2^53 / ${up}), got ${nIn}`);
  }
}

function checkPiece(outFrom: number, outTo: number, nOut: number): void {
  if (!(Number.isInteger(outFrom) && Number.isInteger(outTo) && 0 <= outFrom && outFrom <= outTo && outTo <= nOut)) {
    throw new RangeError(`output piece [${outFrom}, ${outTo}) must lie within [0, ${nOut})`);
  }
}
