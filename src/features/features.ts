/**
 * Acoustic features of a target — a whole recording or a clip [start, end) seconds, optionally
 * limited to a frequency band [lowFreq, highFreq] Hz — per SPEC §7. One streaming pass over the
 * target with bounded memory (blocks of frames, as the tile engine reads recordings); the loops
 * run in the DSP core (assembly/features.ts).
 *
 * Which signal and which spectrogram (the "job's parameters"):
 * - The waveform x is the target's samples after SPEC §3.1–3.4 with the job's parameters:
 *   `channel`, time expansion, `resample`/`samplerate`, and the Butterworth band filter of
 *   `low_freq`/`high_freq`/`filter_order`. Samples i with i/fs in [start, end) belong to it.
 * - The spectrogram S[k, t] is the STFT power with the framing and window of SPEC §3.5
 *   (scipy.signal.stft with the job's `window_size`, `hop_size`, `window`, `kaiser_beta`; power
 *   scaled as below) over the frames
 *   whose centres lie in [start, end) — the piece of SPEC §3; to the recording's end, the whole
 *   recording's frames from start on (targetFrames) — BEFORE PCEN, normalization and
 *   the value scale: features describe the sound, not its display, so `pcen*`, `normalize`,
 *   `scale`, `clamp`, `min_dB`, `max_dB` and `cmap` do not change them. Bin k is at
 *   f_k = k·fs/nperseg. A target band keeps bins with f_k in [lowFreq, highFreq] for every
 *   spectral feature (the waveform features use the whole conditioned signal; use the
 *   `low_freq`/`high_freq` filter parameters to band-limit those too).
 * - The power is librosa's: S = |rfft(w · frame)|² (librosa.stft(…, window=w, center=True,
 *   pad_mode="constant") with power=2), which is SPEC §3.5's PSD times fs·Σw². Without scipy's
 *   PSD factor, librosa's absolute floors (flatness amin, power_to_db amin) mean what they mean
 *   in librosa; with it, a quiet 384 kHz recording would sit entirely below amin = 1e-10.
 *   librosa's magnitude spectrogram (power=1) is M = √S.
 * - Per-frame features are averaged over the target's frames (the arithmetic mean, as
 *   `np.mean(librosa.feature.spectral_centroid(...))`).
 *
 * Definitions (librosa 0.10, librosa/feature/spectral.py; https://librosa.org/doc/latest/feature.html):
 * - duration_s: length of [start, end) ∩ [0, duration of the recording], seconds.
 * - rms_dbfs: 20·log10(max(√(mean x²), 1e-10)) — full scale 1.0; the floor (−200 dBFS) only
 *   stands for digital silence (the log of 0 is −∞, which no table, JSON or database column
 *   holds). An amplitude floor of 1e-10: librosa.amplitude_to_db's default amin is 1e-5 (−100 dB),
 *   power_to_db's 1e-10 a power's (−100 dB too); this one is an amplitude's, 20·log10(1e-10) = −200.
 * - peak_dbfs: 20·log10(max(max |x|, 1e-10)), the same floor (−200 dBFS for silence).
 * - zero_crossing_rate: mean over frames of librosa.feature.zero_crossing_rate(x,
 *   frame_length=nperseg, hop_length=hop, center=True) (edge padding, threshold 1e-10,
 *   zero counted as positive), frames laid out over the target's samples.
 * - spectral_centroid_hz: per frame Σ f_k M_k / Σ M_k (librosa.feature.spectral_centroid;
 *   0 for a silent frame, as librosa.util.normalize leaves it).
 * - spectral_bandwidth_hz: per frame (Σ (M_k/ΣM)·(f_k − centroid)²)^(1/2)
 *   (librosa.feature.spectral_bandwidth, p=2, norm=True).
 * - spectral_flatness: per frame exp(mean ln P_k) / mean P_k with P = max(S, 1e-10)
 *   (librosa.feature.spectral_flatness, power=2, amin=1e-10), in [0, 1] (its rounding above 1 for
 *   equal bins clipped). White noise gives about
 *   e^(−γ) ≈ 0.56 per frame (periodogram bins are exponentially distributed), not 1.
 * - spectral_rolloff_hz: per frame the lowest f_k with Σ_{j≤k} M_j ≥ 0.85·Σ M
 *   (librosa.feature.spectral_rolloff, roll_percent=0.85).
 * - peak_frequency_hz: f_k of the maximum of the mean spectrum S̄_k = mean_t S[k, t] (first
 *   maximum, as numpy.argmax).
 * - low_freq_hz / high_freq_hz: lowest / highest f_k of the contiguous run of bins around the
 *   peak with S̄_k ≥ S̄_peak · 10^(−20/10) (the −20 dB points, to one-bin resolution);
 *   bandwidth_hz = high − low. Silence has no band: all three are the peak's (the band's lowest
 *   bin), bandwidth 0 — every bin is ≥ 0 dB below a peak of 0, which read as the whole band.
 * - snr_db: 10·log10(E_max / max(E_p10, E_max·1e-10)) with E_t = Σ_k S[k, t] the band energy of
 *   frame t, E_max its maximum (the loudest frame) and E_p10 its 10th percentile (numpy.percentile,
 *   linear) as the noise floor. The floor relative to E_max caps it at 100 dB (SPEC §3.8's 1e-10):
 *   a noise floor of digital silence reads 100 dB, not a figure set by an absolute floor (it was
 *   331 dB for a tone followed by zeros); silence throughout gives 0 dB.
 * - log_mel: 64 values, mean over frames of 10·log10(max(Σ_k W[b, k]·S[k, t], 1e-10)) with W =
 *   librosa.filters.mel(sr=fs, n_fft=nperseg, n_mels=64, htk=False, norm="slaney") (see mel.ts);
 *   librosa.power_to_db(ref=1.0, amin=1e-10, top_db=None) of the mel power spectrogram.
 */
import { openAudio, realSecondsHint, timeExpansionOf, type OpenOptions } from "../audio/index.js";
import { samplesReader } from "../audio/samples-reader.js";
import { signalSamples } from "../audio/signal.js";
import type { AudioReader } from "../audio/types.js";
import { ConditionedSignal } from "../engine/condition.js";
import { CoreArray } from "../engine/core-array.js";
import { binRange, frameCount, frameGeometry, framesInInterval, frameStart, frameTime, noFrameInInterval, samplesOfFrames, type FrameGeometry } from "../engine/geometry.js";
import { checkParamsForRecording, ParamsError, parseParamValues, realSamplerate, type Params, type ParamsInput } from "../engine/params.js";
import { blockFrames } from "../engine/spectrogram.js";
import { core } from "../engine/wasm.js";
import { getWindow } from "../engine/window.js";
import { melFilterbank } from "./mel.js";
import { MEL_FEATURE, SCALAR_FEATURES, type ScalarFeature } from "./names.js";

export { MEL_FEATURE, SCALAR_FEATURES, type ScalarFeature };

const MEL_BANDS = 64;
/** Every feature name, in table order. */
export const FEATURE_NAMES = [...SCALAR_FEATURES, MEL_FEATURE] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

export type FeatureValues = Record<ScalarFeature, number> & { log_mel: Float32Array };

/** The part of a recording features describe. */
export interface FeatureTarget {
  /** Seconds (real units, after time expansion); default 0. */
  start?: number;
  /** Seconds; default (and at most) the end of the recording. */
  end?: number;
  /** Band of the spectral features, Hz; default 0. */
  lowFreq?: number | null;
  /** Hz; default Nyquist. */
  highFreq?: number | null;
}

export interface FeatureOptions {
  /** Time expansion factor of the recording (SPEC §3.2, > 0); default: the file's own (GUANO `TE`), else 1. */
  timeExpansion?: number;
  /**
   * Where a given `timeExpansion` came from, as the user knows it ("--time-expansion", "the
   * recording's time_expansion"): a target past a time-expanded recording's end is refused
   * naming it (realSecondsHint). Default "the timeExpansion option".
   */
  timeExpansionName?: string;
  /**
   * How the refusal of a clip between two frames names window_size and hop_size (clipBetweenFrames),
   * as the user gave them: a command line adds the flag, `window_size (--window-size)`. Default
   * their names. A map, not a function: it crosses to a pool's thread in a task (FeaturesTask).
   */
  paramNames?: Record<"window_size" | "hop_size", string>;
}

/**
 * A target the recording cannot provide (outside it, too short for one frame, empty band).
 * `part`: the part of the target asked for that this recording cannot give — its band, its
 * clip's times (its start past the recording's end), or a frame: no frame of these window_size
 * and hop_size is centred in its clip —, as a caller names the options that gave it;
 * none when it is the recording's own (no samples, non-finite ones).
 */
export class TargetError extends Error {
  override name = "TargetError";

  constructor(
    message: string,
    readonly part?: "band" | "clip" | "frames",
  ) {
    super(message);
  }
}

const ROLL_PERCENT = 0.85;
const EDGE_DROP_DB = 20;
const NOISE_PERCENTILE = 10;
const SNR_FLOOR = 1e-10; // the noise floor relative to the loudest frame: SNR ≤ 100 dB
const AMPLITUDE_FLOOR = 1e-10;
// Accumulator layout of assembly/features.ts (SUM_*).
const SUM = { frames: 0, centroid: 1, bandwidth: 2, flatness: 3, rolloff: 4, spectrum: 5 } as const;

/**
 * Features of `path` (opened and closed here): the function batch workers call per target.
 * `options.blockingReads` and `options.exactPath` are openAudio's (pool workers only; paths confined to the audio roots).
 */
export async function featuresOfFile(path: string, params: ParamsInput = {}, target: FeatureTarget = {}, options: FeatureOptions & Pick<OpenOptions, "blockingReads" | "exactPath"> = {}): Promise<FeatureValues> {
  const reader = await openAudio(path, { blockingReads: options.blockingReads, exactPath: options.exactPath });
  try {
    return await computeFeatures(reader, params, target, options);
  } finally {
    await reader.close();
  }
}

/**
 * Features of one channel of samples in memory at `samplerate` Hz (library use and tests): a
 * Float32Array, or a Float64Array converted to float32; anything else is refused naming `samples`.
 */
export async function featuresOfSignal(samples: Float32Array | Float64Array, samplerate: number, params: ParamsInput = {}, target: FeatureTarget = {}): Promise<FeatureValues> {
  return computeFeatures(samplesReader([signalSamples(samples)], samplerate), params, target);
}

/**
 * The SPEC §7 features of `target` of the recording behind `reader` with the parameters
 * `params` (see the definitions above). Throws ParamsError for bad parameters and TargetError
 * for a target the recording does not have.
 */
export async function computeFeatures(reader: AudioReader, params: ParamsInput = {}, target: FeatureTarget = {}, options: FeatureOptions = {}): Promise<FeatureValues> {
  const p = parseParamValues(params);
  const te = timeExpansionOf(reader.info, options.timeExpansion);
  const samplerate = realSamplerate(reader.info.samplerate, te);
  const { g, bins } = checkFeatureParams(p, { samplerate, channels: reader.info.channels }, target);
  const signal = new ConditionedSignal(reader, p.channel, te, p);
  const pastEndHint = realSecondsHint(reader.info, options.timeExpansion, options.timeExpansionName ?? "the timeExpansion option");
  const box = resolveTarget(target, reader.info.frames / samplerate, signal, g, p, bins, pastEndHint, options.paramNames);
  const pass = new FeaturePass(p, g, box);
  try {
    return await pass.run(signal);
  } finally {
    pass.dispose();
  }
}

/**
 * What computeFeatures refuses before reading a sample of a recording at `recording.samplerate`
 * Hz (real units, after time expansion) with `recording.channels` channels: the parameters
 * (checkParamsForRecording, the frame geometry; ParamsError) and a band the spectrum does not
 * hold (bandBins; TargetError). It depends on nothing else of the recording, so a job submission
 * runs it once per rate and channel count among its targets (src/jobs/queue.ts). Returns the
 * frame geometry and the band's bins.
 */
export function checkFeatureParams(p: Params, recording: { samplerate: number; channels: number }, band: Pick<FeatureTarget, "lowFreq" | "highFreq"> = {}): { g: FrameGeometry; bins: [number, number] } {
  checkParamsForRecording(p, recording);
  // The STFT's rate: the resampled one when resampling (ConditionedSignal).
  const g = frameGeometry(p.window_size, p.hop_size, p.resample ? p.samplerate : recording.samplerate);
  return { g, bins: bandBins(g, band.lowFreq, band.highFreq) };
}

/**
 * The FFT bins [k0, k1) of the band [lowFreq (default 0), highFreq (default Nyquist)] Hz within
 * the spectrum of geometry `g`. One band serves a dataset of several rates (up to 60 kHz for its
 * bats): it reaches past the Nyquist frequency of the slower ones, and their features are those
 * of the part they have — as a tile's fmax is clipped to Nyquist. TargetError for a band wholly
 * above Nyquist, or holding no bin.
 */
function bandBins(g: FrameGeometry, lowFreq?: number | null, highFreq?: number | null): [number, number] {
  const nyquist = g.samplerate / 2;
  const low = lowFreq ?? 0;
  const high = Math.min(highFreq ?? nyquist, nyquist);
  if (low >= nyquist) throw new TargetError(`band [${low}, ${highFreq ?? "Nyquist"}] Hz lies above this recording's spectrum: its Nyquist frequency is ${nyquist} Hz`, "band");
  if (!(low >= 0 && low < high)) throw new TargetError(`band [${low}, ${high}] Hz must satisfy 0 <= low < high`, "band");
  const [k0, k1] = binRange(g, low, high);
  if (k1 <= k0) throw new TargetError(`band [${low}, ${high}] Hz holds no FFT bin (bins are ${g.samplerate / g.nperseg} Hz apart)`, "band");
  return [k0, k1];
}

/** A target in engine units: frames, samples and bins. */
interface TargetBox {
  duration: number;
  f0: number;
  f1: number;
  s0: number;
  s1: number;
  k0: number;
  k1: number;
}

/**
 * `t` in engine units; `bins`: its band's (bandBins); `pastEndHint` ends the refusal of a target
 * after the recording's last frame (realSecondsHint: for a time-expanded one, that times are real seconds).
 * A clip between two frame centres is refused saying what would put one in it (clipBetweenFrames,
 * naming the parameters by `paramNames`: FeatureOptions.paramNames).
 */
function resolveTarget(t: FeatureTarget, recordingDuration: number, signal: ConditionedSignal, g: FrameGeometry, params: Pick<Params, "window_size" | "hop_size">, [k0, k1]: [number, number], pastEndHint: string, paramNames?: FeatureOptions["paramNames"]): TargetBox {
  // An empty data chunk: said as it is (it read as "start 0 s is past the end", a start nobody gave).
  if (recordingDuration === 0) throw new TargetError("the recording holds no samples");
  const start = t.start ?? 0;
  const end = Math.min(t.end ?? Infinity, recordingDuration);
  if (!(start >= 0 && Number.isFinite(start))) throw new TargetError(`start must be a number of seconds >= 0, got ${t.start}`, "clip");
  if (!(end > start)) {
    throw new TargetError(start >= recordingDuration ? `start ${start} s is past the end of the recording (${recordingDuration} s)${pastEndHint}` : `end must be > start (${start} s), got ${t.end}`, "clip");
  }
  const fs = g.samplerate;
  const [f0, f1] = targetFrames(start, end, { duration: recordingDuration, length: signal.length }, g);
  if (f1 === f0) {
    const between = end - start < frameTime(1, g) ? `: ${clipBetweenFrames(start, end, g, params, (param) => paramNames?.[param] ?? param)}` : "";
    throw new TargetError(noFrameInInterval(start, end, frameCount(signal.length, g), g).message + between + pastEndHint, "frames");
  }
  const s0 = Math.min(signal.length, Math.ceil(start * fs));
  const s1 = Math.min(signal.length, Math.ceil(end * fs));
  if (s1 <= s0) throw new TargetError(`no sample lies in [${start}, ${end}) s`);
  return { duration: end - start, f0, f1, s0, s1, k0, k1 };
}

/**
 * The frames [f0, f1) of target [start, end) s (`end` at most the recording's `duration`, s) of
 * a recording whose conditioned signal holds `length` samples, with geometry `g` — for a
 * computation (resolveTarget) and a job's submission (jobs/queue.ts) alike. Those centred in
 * [start, end), the piece of SPEC §3; but a target that reaches the recording's end (no end given,
 * or one at or past it, clamped) has the whole recording's frames from `start` on: librosa's
 * (center=True), so with an even window the frame centred on the end itself counts, as it does in
 * the whole spectrogram. With an odd one it does not: librosa pads nperseg // 2 samples, one short
 * of that frame. A clip to the end thus has the values of the recording from its start, whether
 * its end was given or not (a given one left that frame out: 28943.48 against 28889.27 Hz of centroid).
 */
export function targetFrames(start: number, end: number, recording: { duration: number; length: number }, g: FrameGeometry): [number, number] {
  const frames = frameCount(recording.length, g);
  const [f0, f1] = framesInInterval(start, end, frames, g);
  if (end < recording.duration) return [f0, f1];
  return [f0, Math.max(f0, Math.min(frames, centeredFrameCount(recording.length, g)))];
}

/**
 * Why clip [start, end) s, shorter than the spacing of the frames of `g` (made of `params`'
 * window_size and hop_size), may hold no frame centre — its length, the spacing, the window and hop
 * — and what puts one in it: a window_size, or a hop_size, each with the other as given, that puts
 * the frames at most the clip's length apart (the largest of two significant digits; for a clip
 * shorter than a sample, shorterThanASample). The features need a frame: the spectral ones are its spectrum's, and
 * a clip's row holds every feature. A computation (resolveTarget) and a job's submission
 * (jobs/queue.ts) say it alike; `name` spells a parameter as the user gave it (a flag beside it).
 */
export function clipBetweenFrames(start: number, end: number, g: FrameGeometry, params: Pick<Params, "window_size" | "hop_size">, name: (param: "window_size" | "hop_size") => string = (p) => p): string {
  const length = end - start;
  const [windowSize, hopSize] = [name("window_size"), name("hop_size")];
  const why = `the clip lasts ${Number(length.toPrecision(6))} s, less than the ${frameTime(1, g)} s between frames (${windowSize} ${params.window_size} s × ${hopSize} ${params.hop_size} at ${g.samplerate} Hz)`;
  if (length * g.samplerate < 1) return `${why} — ${shorterThanASample(start, end, g.samplerate, windowSize, hopSize)}`;
  const framesWithin = (window: number, hop: number) => {
    try {
      return frameGeometry(window, hop, g.samplerate).hop <= length * g.samplerate;
    } catch (err) {
      if (err instanceof ParamsError) return false; // a window of fewer than 2 samples, a hop of none
      throw err;
    }
  };
  const give = [
    largestBelow(length / params.hop_size, (w) => framesWithin(w, params.hop_size), (w) => `a ${windowSize} ≤ ${w} s`),
    largestBelow(length / params.window_size, (h) => framesWithin(params.window_size, h), (h) => `a ${hopSize} ≤ ${h}`),
  ].filter((text) => text !== undefined);
  return `${why} — ${give.length ? `give ${give.join(" or ")} to put a frame in it` : `a smaller ${hopSize} or ${windowSize} puts frames in it`}`;
}

/**
 * What puts a frame in a clip [start, end) s shorter than a sample at `samplerate`: only a frame on
 * every sample — a window of 2 samples, hop_size 0.5 (a hop of 1) — and only when a sample instant
 * lies in it (as resolveTarget counts its samples); else none can.
 */
function shorterThanASample(start: number, end: number, samplerate: number, windowSize: string, hopSize: string): string {
  const said = `shorter than a sample at ${samplerate} Hz`;
  if (Math.ceil(start * samplerate) >= Math.ceil(end * samplerate)) return `${said}, and no sample instant lies in it: no window puts a frame in it`;
  // Between 2 and 3 samples' time, which the window's floor(window_size · fs) makes 2 samples.
  const twoSamples = Number((2.5 / samplerate).toPrecision(2));
  return `${said}: only a frame on every sample puts one in it — a ${windowSize} of ${twoSamples} s (2 samples) with ${hopSize} 0.5`;
}

/**
 * `said` of the largest value of two significant digits at most `bound` (a few steps of 10 % lower
 * when the frame geometry's truncation needs it) for which `fits` holds; undefined when none does.
 */
function largestBelow(bound: number, fits: (value: number) => boolean, said: (value: number) => string): string | undefined {
  let value = bound;
  for (let step = 0; step < 8; step++) {
    const unit = 10 ** (Math.floor(Math.log10(value)) - 1);
    const candidate = Number((Math.floor(value / unit) * unit).toPrecision(2));
    if (fits(candidate)) return said(candidate);
    value = candidate * 0.9;
  }
  return undefined;
}

/**
 * librosa's frame count of n samples framed with center=True (librosa.stft, zero_crossing_rate):
 * the frames of nperseg samples, hop apart, lying wholly within the n + 2·(nperseg // 2) padded
 * samples — 1 + n // hop for an even nperseg, 1 + (n − 1) // hop for an odd one.
 */
function centeredFrameCount(n: number, g: FrameGeometry): number {
  return 1 + Math.floor((n + 2 * Math.floor(g.nperseg / 2) - g.nperseg) / g.hop);
}

/** One target's pass: the STFT plan, the feature accumulators and the waveform sums, in the core. */
class FeaturePass {
  private readonly stft: number;
  private readonly plan: number;
  private readonly waveSums: number; // f64 [Σ x², max |x|, Σ crossing weights]

  constructor(params: Params, private readonly g: FrameGeometry, private readonly box: TargetBox) {
    // The framing and window of SPEC §3.5 (the core's STFT plan), power |rfft|² unscaled (see
    // above), kept frame-major in the core so the feature kernel reads it without a copy.
    const window = getWindow(params.window, g.nperseg, params.kaiser_beta);
    const w = CoreArray.from(window);
    this.stft = core.stftCreate(window.length, w.ptr);
    w.free();

    const mel = melFilterbank(g.samplerate, g.nperseg, MEL_BANDS);
    const start = core.alloc(mel.bands * 4);
    const length = core.alloc(mel.bands * 4);
    const weights = CoreArray.from(mel.weights);
    new Int32Array(core.memory.buffer, start, mel.bands).set(mel.start);
    new Int32Array(core.memory.buffer, length, mel.bands).set(mel.length);
    this.plan = core.featurePlanCreate(g.bins, box.k0, box.k1, g.samplerate / g.nperseg, ROLL_PERCENT, mel.bands, start, length, weights.ptr);
    core.free(start);
    core.free(length);
    weights.free();
    this.waveSums = core.alloc(24);
    new Float64Array(core.memory.buffer, this.waveSums, 3).fill(0);
  }

  async run(signal: ConditionedSignal): Promise<FeatureValues> {
    const { g, box } = this;
    // Frame energies block by block, joined at the end: the frame count comes from the file's
    // header, which may lie (an Ogg granule position of 2^40), and the read of the block past the
    // real end fails before memory for the lie is ever asked for (SPEC §10).
    const energyBlocks: Float32Array[] = [];
    // librosa's zero-crossing framing over the target's samples (see assembly sampleSums).
    const zcrLength = g.nperseg;
    const half = Math.floor(zcrLength / 2);
    const zcrFrames = centeredFrameCount(box.s1 - box.s0, g);
    let cursor = box.s0; // next target sample for the waveform sums
    let prev = 0;
    const step = blockFrames(g);
    for (let a = box.f0; a < box.f1; a += step) {
      const b = Math.min(box.f1, a + step);
      const [r0, r1] = samplesOfFrames(a, b, signal.length, g);
      // The target samples this block adds to the waveform sums: from the cursor to where the
      // frames' samples end (the last block takes the rest).
      const t1 = b === box.f1 ? box.s1 : Math.max(cursor, Math.min(r1, box.s1));
      const from = Math.min(r0, cursor);
      const samples = await signal.read(from, Math.max(r1, t1));
      const input = CoreArray.from(samples);
      const power = new CoreArray((b - a) * g.bins);
      const frameEnergies = new CoreArray(b - a);
      core.stftPower(this.stft, input.ptr, samples.length, frameStart(a, g) - from, g.hop, b - a, 1, power.ptr);
      core.featureFrames(this.plan, power.ptr, b - a, frameEnergies.ptr);
      energyBlocks.push(frameEnergies.view().slice());
      if (t1 > cursor) {
        core.sampleSums(input.ptr + (cursor - from) * 4, t1 - cursor, cursor - box.s0, prev, half, zcrLength, g.hop, zcrFrames, this.waveSums);
        prev = samples[t1 - 1 - from];
        cursor = t1;
      }
      input.free();
      power.free();
      frameEnergies.free();
    }
    const energies = new Float32Array(box.f1 - box.f0);
    energyBlocks.reduce((at, block) => (energies.set(block, at), at + block.length), 0);
    return this.finish(energies, zcrFrames * zcrLength);
  }

  private finish(energies: Float32Array, zcrDivisor: number): FeatureValues {
    const { g, box } = this;
    const hz = (k: number) => (k * g.samplerate) / g.nperseg;
    const nBand = box.k1 - box.k0;
    const sums = new Float64Array(core.memory.buffer, core.featureSums(this.plan), SUM.spectrum + nBand + MEL_BANDS).slice();
    const frames = sums[SUM.frames];
    const edges = core.alloc(12);
    core.featureSpectrumEdges(this.plan, EDGE_DROP_DB, edges);
    const [peak, low, high] = new Int32Array(core.memory.buffer, edges, 3);
    core.free(edges);
    const [squares, maxAbs, crossings] = new Float64Array(core.memory.buffer, this.waveSums, 3);
    if (!Number.isFinite(squares)) throw new TargetError("the target holds non-finite samples (NaN or ±Infinity)");
    const logMel = new Float32Array(MEL_BANDS);
    for (let b = 0; b < MEL_BANDS; b++) logMel[b] = sums[SUM.spectrum + nBand + b] / frames;
    const values: FeatureValues = {
      duration_s: box.duration,
      rms_dbfs: 20 * Math.log10(Math.max(Math.sqrt(squares / (box.s1 - box.s0)), AMPLITUDE_FLOOR)),
      peak_dbfs: 20 * Math.log10(Math.max(maxAbs, AMPLITUDE_FLOOR)),
      zero_crossing_rate: crossings / zcrDivisor,
      spectral_centroid_hz: sums[SUM.centroid] / frames,
      spectral_bandwidth_hz: sums[SUM.bandwidth] / frames,
      // ≤ 1 by the AM–GM inequality (a geometric mean is at most the arithmetic one), per frame and
      // so for their mean: above 1 is the rounding of exp(mean ln P) / mean P where every bin is
      // equal (silence at the 1e-10 floor: up to 1.0000000000000286, at 96 kHz).
      spectral_flatness: Math.min(1, sums[SUM.flatness] / frames),
      spectral_rolloff_hz: sums[SUM.rolloff] / frames,
      peak_frequency_hz: hz(peak),
      low_freq_hz: hz(low),
      high_freq_hz: hz(high),
      bandwidth_hz: hz(high) - hz(low),
      snr_db: snrDb(energies),
      log_mel: logMel,
    };
    // Float recordings may hold samples far beyond full scale: past ~1e15 the float32 power overflows.
    const broken = [...SCALAR_FEATURES.filter((f) => !Number.isFinite(values[f])), ...(logMel.every(Number.isFinite) ? [] : [MEL_FEATURE])];
    if (broken.length) throw new TargetError(`${broken.join(", ")}: not finite — sample values too large for float32 spectra (peak ${values.peak_dbfs.toFixed(1)} dBFS)`);
    return values;
  }

  dispose(): void {
    core.stftDestroy(this.stft);
    core.featurePlanDestroy(this.plan);
    core.free(this.waveSums);
  }
}

/** 10·log10(loudest frame energy / 10th percentile, numpy.percentile's linear one), at most 100 dB. */
function snrDb(energies: Float32Array): number {
  const sorted = energies.slice().sort();
  const position = ((sorted.length - 1) * NOISE_PERCENTILE) / 100;
  const i = Math.floor(position);
  const below = sorted[i];
  const floor = i + 1 < sorted.length ? below + (position - i) * (sorted[i + 1] - below) : below;
  const loudest = sorted[sorted.length - 1];
  return loudest > 0 ? 10 * Math.log10(loudest / Math.max(floor, loudest * SNR_FLOOR)) : 0;
}

/** Table columns of `features`: scalar names as they are, log_mel as mel_00 … mel_63. */
export function featureColumns(features: readonly FeatureName[] = FEATURE_NAMES): string[] {
  return features.flatMap((f) => (f === MEL_FEATURE ? Array.from({ length: MEL_BANDS }, (_, b) => `mel_${String(b).padStart(2, "0")}`) : [f]));
}

/** The values of `features` in the order of `featureColumns(features)`. */
export function featureRow(values: FeatureValues, features: readonly FeatureName[] = FEATURE_NAMES): number[] {
  return features.flatMap((f) => (f === MEL_FEATURE ? Array.from(values.log_mel) : [values[f]]));
}

/**
 * Feature names from a comma-separated list ("rms_dbfs,log_mel"), in table order, without
 * duplicates. Throws RangeError naming an unknown name and listing the known ones.
 */
export function parseFeatureList(text: string): FeatureName[] {
  const wanted = new Set(text.split(",").map((s) => s.trim()).filter(Boolean));
  if (wanted.size === 0) throw new RangeError("no feature named");
  for (const name of wanted) {
    if (!(FEATURE_NAMES as readonly string[]).includes(name)) throw new RangeError(`unknown feature '${name}' (known: ${FEATURE_NAMES.join(", ")})`);
  }
  return FEATURE_NAMES.filter((f) => wanted.has(f));
}
