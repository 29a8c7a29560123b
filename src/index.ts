/**
 * sonotile's library API (SPEC §8b): `import { spectrogram, RealFFT, decode } from "sonotile"`.
 * Everything here runs on the calling thread, except TilePool, the server's worker pool, whose
 * `frameRangeInto` computes a recording on all cores; the server and the batch jobs build on the
 * same functions.
 */
export { spectrogram, type Spectrogram } from "./engine/spectrogram.js";
export { RecordingSpectrogram, spectrogramOfRecording, type RecordingStats, type RecordingOptions } from "./engine/recording.js";
export { RealFFT } from "./engine/fft.js";
export { getWindow } from "./engine/window.js";
export { frameGeometry, frameCount, framesInInterval, type FrameGeometry } from "./engine/geometry.js";
export {
  parseParams, paramsSchema, checkParamsForRecording, ParamsError, PARAM_NAMES, WINDOWS, SCALES, COLORMAPS,
  type Params, type ParamsInput, type WindowName, type Scale, type ColormapName,
} from "./engine/params.js";
export { decode, openAudio, AUDIO_EXTENSIONS } from "./audio/index.js";
export {
  featuresOfFile, computeFeatures, FEATURE_NAMES, TargetError,
  type FeatureTarget, type FeatureValues, type FeatureName,
} from "./features/features.js";
export { AudioFormatError, type AudioInfo, type AudioReader } from "./audio/types.js";
export { SampleValuesError } from "./engine/analysis.js";
export { TilePool, PoolBusyError, TaskTimeoutError, type PoolOptions } from "./tiles/pool.js";
export type { Source, StatsResult } from "./tiles/worker.js";

import type { AudioReader } from "./audio/types.js";
import { samplesReader as readerOfSamples } from "./audio/samples-reader.js";
import { featuresOfSignal as featuresOfSamples, type FeatureTarget, type FeatureValues } from "./features/features.js";
import type { ParamsInput } from "./engine/params.js";
import { describeValue, signalSamples } from "./engine/samples.js";

/**
 * An AudioReader over channels in memory (one Float32Array per channel, all the same length; a
 * Float64Array is converted to float32). Anything else is a TypeError naming `channels[i]`.
 */
export function samplesReader(channels: (Float32Array | Float64Array)[], samplerate: number): AudioReader {
  if (!Array.isArray(channels)) throw new TypeError(`channels: must be an array of Float32Array (one per channel), got ${describeValue(channels)}`);
  return readerOfSamples(channels.map((c, i) => signalSamples(c, `channels[${i}]`)), samplerate);
}

/**
 * The SPEC §7 features of one signal in memory (a Float32Array, or a Float64Array converted to
 * float32); a plain array or anything else is refused naming `samples`.
 */
export function featuresOfSignal(samples: Float32Array | Float64Array, samplerate: number, params: ParamsInput = {}, target: FeatureTarget = {}): Promise<FeatureValues> {
  let signal: Float32Array;
  try {
    signal = signalSamples(samples);
  } catch (e) {
    return Promise.reject(e);
  }
  return featuresOfSamples(signal, samplerate, params, target);
}
