/**
 * `spectrogram()` of the library API (SPEC §8b): a whole signal in memory, on the calling
 * thread, with the semantics of SPEC §3.
 */
import { checkOptions, describeValue, signalSamples } from "../audio/signal.js";
import { finishValues, normalizationDivisor, SpectrogramPlan, valueRange, type PcenState } from "./analysis.js";
import { conditionSignal } from "./condition.js";
import { frameCount, samplesOfFrames, type FrameGeometry } from "./geometry.js";
import { checkParamsForRecording, parseParamValues, type Params, type ParamsInput } from "./params.js";

/** A spectrogram, or a piece of one, with what is needed to place it in time and frequency. */
export interface Spectrogram {
  /** [bins][frames] row-major float32 after SPEC §3 step 9; row 0 is 0 Hz. */
  data: Float32Array;
  /** Rows of `data`: the one-sided spectrum's nperseg // 2 + 1 bins, bin k at k · samplerate / nperseg Hz. */
  bins: number;
  /** Columns of `data`: the frames. */
  frames: number;
  /** Samples between frames. */
  hop: number;
  /** Samples per frame (= FFT length). */
  nperseg: number;
  /** Rate the STFT ran at, Hz, in real units (time expansion applied, after resampling). */
  samplerate: number;
  /** Index of column 0 in the whole recording's frames; frame i is centred at i·hop/samplerate s. */
  firstFrame: number;
  /** Values mapped to the first and last colour (SPEC §3.10). */
  valueRange: [number, number];
  /** The parameters the values were computed with: those given, completed with the defaults. */
  params: Params;
}

/** Frames per block: about 8 MB of float32 values, so memory stays bounded on long signals. */
export function blockFrames(g: FrameGeometry): number {
  return Math.max(1, Math.floor((1 << 21) / g.bins));
}

/**
 * The spectrogram of `samples` (one channel, rate `samplerate` Hz in real units; a Float64Array
 * is converted to float32) as SPEC §3 defines it: resample, band filter, STFT power, PCEN,
 * normalize, scale, clamp. Returns [bins][frames]; throws ParamsError naming the field for a bad
 * parameter (`channel` other than 0 included: the signal is one channel), TypeError naming
 * `samples` for anything but a Float32Array or Float64Array (`samplerate`, `options.output`
 * likewise for anything but a number, a Float32Array; `params` and `options` for anything but an
 * object, null included — and a parameter of the wrong JS type: parseParamValues).
 * `options.output`, if given, receives the values (a Float32Array of exactly bins × frames floats).
 */
export function spectrogram(samples: Float32Array | Float64Array, samplerate: number, params: ParamsInput = {}, options: { output?: Float32Array } = {}): Spectrogram {
  const input = signalSamples(samples);
  const p = parseParamValues(params);
  checkOptions(options, ["output"]);
  if (typeof samplerate !== "number") throw new TypeError(`samplerate: must be a number (Hz), got ${describeValue(samplerate)}`);
  if (!(samplerate > 0 && Number.isFinite(samplerate))) throw new RangeError(`samplerate: must be a finite number > 0 (Hz), got ${samplerate}`);
  if (input.length === 0) throw new RangeError("samples: the signal is empty");
  // One signal is one channel: `channel` picks a recording's channel (the CLI, the API,
  // spectrogramOfRecording), and for a signal only 0 exists, as a mono file refuses channel 1.
  checkParamsForRecording(p, { samplerate, channels: 1 });
  const signal = conditionSignal(input, samplerate, p);
  const plan = new SpectrogramPlan(p, signal.samplerate);
  try {
    const g = plan.geometry;
    const frames = frameCount(signal.samples.length, g);
    const data = outputArray(options.output, g.bins * frames);
    const step = blockFrames(g);
    // Normalizing needs the maximum over all frames before any can be finished: write power
    // values first and finish them in place once the maximum is known.
    let pcen: PcenState = null;
    let peak = -Infinity;
    for (let f0 = 0; f0 < frames; f0 += step) {
      const f1 = Math.min(frames, f0 + step);
      const [from, to] = samplesOfFrames(f0, f1, signal.samples.length, g);
      const analysed = plan.analyze(signal.samples.subarray(from, to), from, f0, f1, pcen, p.normalize ? null : { params: p, divisor: 1 });
      pcen = analysed.pcen;
      peak = Math.max(peak, analysed.block.max());
      analysed.block.writeColumns(data, f0);
    }
    if (p.normalize) finishValues(data, p, normalizationDivisor(p, peak));
    return { data, bins: g.bins, frames, hop: g.hop, nperseg: g.nperseg, samplerate: g.samplerate, firstFrame: 0, valueRange: valueRange(p, peak), params: p };
  } finally {
    plan.dispose();
  }
}

/**
 * The caller's output buffer (refused unless it holds exactly `length` floats), or a new one when
 * none is given. Reusing a buffer matters for
 * long signals: first-touching fresh memory costs about as much as the whole STFT here.
 */
function outputArray(output: Float32Array | undefined, length: number): Float32Array {
  if (output === undefined) return new Float32Array(length);
  if (!(output instanceof Float32Array)) throw new TypeError(`output: must be a Float32Array of ${length} values ([bins][frames]), got ${describeValue(output)}`);
  if (output.length !== length) throw new RangeError(`output: needs ${length} values ([bins][frames]), got ${output.length}`);
  return output;
}
