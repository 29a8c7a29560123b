/**
 * Where frames and bins are: the framing of scipy.signal.stft with boundary="zeros",
 * padded=True (SPEC §3.5), in one place so that the engine, tiles and features agree.
 */
import { describeValue } from "../audio/signal.js";
import { plural } from "../audio/types.js";
import { ParamsError } from "./params.js";

export interface FrameGeometry {
  /** Samples per frame and FFT length: int(window_size · fs). */
  nperseg: number;
  /** Samples shared by neighbouring frames: int((window_size − hop_size·window_size) · fs). */
  noverlap: number;
  /** Samples between frame starts: nperseg − noverlap. */
  hop: number;
  /** One-sided spectrum length: nperseg // 2 + 1; bin k is at k · fs / nperseg Hz. */
  bins: number;
  /** Rate the STFT runs at, Hz (real units). */
  samplerate: number;
}

/**
 * The frame geometry of SPEC §3.5. Float64 arithmetic in the order the spec writes it, then
 * truncation as Python's int(), so sizes match Whombat's to the sample.
 */
export function frameGeometry(windowSize: number, hopSize: number, samplerate: number): FrameGeometry {
  checkGeometryArguments(windowSize, hopSize, samplerate);
  const nperseg = Math.trunc(windowSize * samplerate);
  const noverlap = Math.trunc((windowSize - hopSize * windowSize) * samplerate);
  if (nperseg < 2) {
    throw new ParamsError([{ field: "window_size", message: `gives ${plural(nperseg, "sample")} at ${samplerate} Hz; needs at least 2` }]);
  }
  const hop = nperseg - noverlap;
  if (hop < 1) throw new ParamsError([{ field: "hop_size", message: `gives a hop of ${plural(hop, "sample")}; needs at least 1` }]);
  return { nperseg, noverlap, hop, bins: Math.floor(nperseg / 2) + 1, samplerate };
}

/**
 * What parseParams would refuse, refused here too: frameGeometry is in the library API (SPEC §8b),
 * and a NaN or a hop_size of 2 came out as a geometry of NaNs or a negative overlap.
 */
function checkGeometryArguments(windowSize: number, hopSize: number, samplerate: number): void {
  const args = { window_size: windowSize, hop_size: hopSize, samplerate };
  for (const [name, value] of Object.entries(args)) if (typeof value !== "number") throw new TypeError(`${name}: must be a number, got ${describeValue(value)}`);
  if (!(samplerate > 0 && Number.isFinite(samplerate))) throw new RangeError(`samplerate: must be a finite number > 0 (Hz), got ${samplerate}`);
  if (!(windowSize > 0 && Number.isFinite(windowSize))) throw new ParamsError([{ field: "window_size", message: `must be a finite number > 0 (seconds), got ${windowSize}` }]);
  if (!(hopSize > 0 && hopSize <= 1)) throw new ParamsError([{ field: "hop_size", message: `must be > 0 and <= 1, got ${hopSize}` }]);
}

/**
 * Number of frames scipy produces for `samples` samples: the signal is padded with nperseg//2
 * zeros on both sides, then at the end up to a whole number of hops.
 */
export function frameCount(samples: number, g: FrameGeometry): number {
  // In the library API (SPEC §8b): NaN samples gave NaN frames, a fraction a fraction of a frame.
  if (!(Number.isInteger(samples) && samples >= 0)) throw new RangeError(`samples: must be a count of samples (an integer ≥ 0), got ${typeof samples === "number" ? samples : describeValue(samples)}`);
  if (samples < 1) return 0;
  const half = Math.floor(g.nperseg / 2);
  let padded = samples + 2 * half;
  // Python: nadd = (-(padded - nperseg) % hop) % nperseg, with a non-negative modulo.
  const mod = (a: number, b: number) => ((a % b) + b) % b;
  padded += mod(mod(-(padded - g.nperseg), g.hop), g.nperseg);
  return Math.floor((padded - g.nperseg) / g.hop) + 1;
}

/** Index (in the unpadded signal) of frame i's first sample; negative within the leading padding. */
export function frameStart(i: number, g: FrameGeometry): number {
  return i * g.hop - Math.floor(g.nperseg / 2);
}

/** Centre of frame i in seconds: t_i = i · hop / fs. */
export function frameTime(i: number, g: FrameGeometry): number {
  return (i * g.hop) / g.samplerate;
}

/** The sample range [from, to) that frames [f0, f1) read, clipped to the signal [0, samples). */
export function samplesOfFrames(f0: number, f1: number, samples: number, g: FrameGeometry): [number, number] {
  if (f1 <= f0) return [0, 0];
  const from = Math.max(0, frameStart(f0, g));
  const to = Math.min(samples, frameStart(f1 - 1, g) + g.nperseg);
  return [Math.min(from, to), to];
}

/**
 * Frames [f0, f1) clamped to a recording of `frames` frames: empty where the range lies outside
 * it; an f1 past the end (Infinity) runs to the last frame.
 * @throws TypeError or RangeError naming `f0` or `f1` when it is no frame index (a whole number,
 *   or ±Infinity): a NaN clamped to NaN, so a range computed nothing and said nothing (TilePool's
 *   frameRangeInto resolved to NaN frames), and 0.5 failed in the engine, naming neither.
 */
export function clampFrameRange(f0: number, f1: number, frames: number): [number, number] {
  for (const [name, value] of [["f0", f0], ["f1", f1]] as const) {
    if (typeof value !== "number") throw new TypeError(`${name}: must be a frame index (a number), got ${describeValue(value)}`);
    if (!(Number.isInteger(value) || Math.abs(value) === Infinity)) throw new RangeError(`${name}: must be a frame index (an integer, or Infinity for the end), got ${value}`);
  }
  const a = Math.max(0, Math.min(f0, frames));
  return [a, Math.max(a, Math.min(f1, frames))];
}

/**
 * A number of frames that work is cut into (frames per block, between PCEN checkpoints): an
 * integer ≥ 1, else a RangeError naming `name`. A step of 0 cut nothing off and looped for ever.
 */
export function checkFramesPerStep(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`${name}: must be an integer ≥ 1, got ${typeof value === "number" ? value : describeValue(value)}`);
}

/**
 * Frames whose centres lie in [start, end) seconds (SPEC §3: a piece of a recording),
 * clipped to [0, frames).
 */
export function framesInInterval(start: number, end: number, frames: number, g: FrameGeometry): [number, number] {
  // In the library API (SPEC §8b): a NaN start gave no frame, as if the interval lay past the end.
  for (const [name, value] of [["start", start], ["end", end]] as const) {
    if (typeof value !== "number") throw new TypeError(`${name}: must be a number (seconds), got ${describeValue(value)}`);
    if (Number.isNaN(value)) throw new RangeError(`${name}: must be a number (seconds), got NaN`);
  }
  if (!(Number.isInteger(frames) && frames >= 0)) throw new RangeError(`frames: must be a count of frames (an integer ≥ 0), got ${typeof frames === "number" ? frames : describeValue(frames)}`);
  const firstAtOrAfter = (t: number) => {
    const estimate = Math.ceil((t * g.samplerate) / g.hop);
    if (!(estimate <= frames)) return frames; // past the end, or not a number
    let i = Math.max(0, estimate);
    // Correct the float rounding of the division against the defining comparison.
    while (i > 0 && frameTime(i - 1, g) >= t) i--;
    while (i < frames && frameTime(i, g) < t) i++;
    return i;
  };
  const f0 = firstAtOrAfter(Math.max(0, start));
  return [f0, Math.max(f0, firstAtOrAfter(end))];
}

/**
 * Why no frame of `frames` is centred in [start, end) seconds (framesInInterval gave none): the
 * bound at fault — `start` when the interval begins after the last frame, else `end` — and one
 * sentence on where the frames are, which the CLI, the library and the HTTP API all give.
 */
export function noFrameInInterval(start: number, end: number, frames: number, g: FrameGeometry): { bound: "start" | "end"; message: string } {
  const last = frames > 0 ? `, the last centred at ${frameTime(frames - 1, g)} s` : "";
  return {
    bound: start > frameTime(frames - 1, g) ? "start" : "end",
    message: `no frame is centred in [${start}, ${Number.isFinite(end) ? end : "end"}) s (the recording has ${frames} frames, ${frameTime(1, g)} s apart${last})`,
  };
}

/**
 * Bins [k0, k1) whose frequencies k·fs/nperseg lie in [fmin, fmax] — a bound on a bin's own
 * frequency counts as in it, though the division rounds ((fs/2)/(fs/7812) = 3905.9999999999995).
 */
export function binRange(g: FrameGeometry, fmin?: number, fmax?: number): [number, number] {
  const binHz = g.samplerate / g.nperseg;
  const k0 = fmin === undefined ? 0 : Math.ceil(fmin / binHz - 1e-9);
  const k1 = fmax === undefined ? g.bins : Math.min(g.bins, Math.floor(fmax / binHz + 1e-9) + 1);
  return [Math.max(0, k0), k1];
}
