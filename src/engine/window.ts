/**
 * Analysis windows: `scipy.signal.get_window(name, n)` with fftbins=True, i.e. the periodic
 * form (SPEC §3.5). Computed in f64 by the core (assembly/window.ts), returned as float32.
 */
import { describeValue } from "../audio/signal.js";
import { WINDOWS, type WindowName } from "./params.js";
import { core } from "./wasm.js";

/** Default kaiser shape parameter (SPEC §2 `kaiser_beta`). */
const DEFAULT_KAISER_BETA = 14;

/** Largest window computed here (the FFT length limit of checkParamsForRecording). */
const MAX_WINDOW_LENGTH = 1 << 20;

/**
 * The periodic window `name` of `n` samples, as `scipy.signal.get_window(name, n)`
 * (`("kaiser", beta)` for kaiser).
 * @param name one of WINDOWS
 * @param n length, an integer in [1, MAX_WINDOW_LENGTH]
 * @param beta kaiser shape parameter, finite and ≥ 0; ignored by the other windows
 */
export function getWindow(name: WindowName, n: number, beta: number = DEFAULT_KAISER_BETA): Float32Array {
  const kind = checkWindow(name, n, beta, MAX_WINDOW_LENGTH);
  const ptr = core.alloc(n * 4);
  try {
    core.windowFill(kind, n, beta, ptr);
    return new Float32Array(core.memory.buffer, ptr, n).slice();
  } finally {
    core.free(ptr);
  }
}

/**
 * Window `name` of `n` samples in float64, periodic (as getWindow) or symmetric
 * (`scipy.signal.get_window(name, n, fftbins=False)`, the form FIR design uses).
 * @param maxLength the caller's bound on n (FIR filters can be longer than FFT frames)
 */
export function getWindowF64(name: WindowName, n: number, beta: number, symmetric: boolean, maxLength: number = MAX_WINDOW_LENGTH): Float64Array {
  const kind = checkWindow(name, n, beta, maxLength);
  const ptr = core.alloc(n * 8);
  try {
    core.windowFillF64(kind, n, beta, symmetric ? 1 : 0, ptr);
    return new Float64Array(core.memory.buffer, ptr, n).slice();
  } finally {
    core.free(ptr);
  }
}

/** Validates the arguments; returns the core's window kind (the index into WINDOWS). */
function checkWindow(name: WindowName, n: number, beta: number, maxLength: number): number {
  // A value of the wrong type is a TypeError naming the argument: text was refused as a RangeError
  // whose "got 16" hid that the 16 was a string.
  if (typeof name !== "string") throw new TypeError(`name: must be a string (one of ${WINDOWS.join(", ")}), got ${describeValue(name)}`);
  if (typeof n !== "number") throw new TypeError(`n: must be a number (the window's length), got ${describeValue(n)}`);
  if (typeof beta !== "number") throw new TypeError(`beta: must be a number (the kaiser window's shape), got ${describeValue(beta)}`);
  const kind = WINDOWS.indexOf(name);
  if (kind < 0) throw new RangeError(`unknown window "${String(name)}"; expected one of ${WINDOWS.join(", ")}`);
  if (!Number.isInteger(n) || n < 1 || n > maxLength) {
    throw new RangeError(`window length must be an integer in [1, ${maxLength}], got ${n}`);
  }
  if (!Number.isFinite(beta) || beta < 0) throw new RangeError(`kaiser beta must be a finite number >= 0, got ${beta}`);
  return kind;
}
