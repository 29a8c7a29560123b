/**
 * sonotile's library API (SPEC §8b): `import { spectrogram, RealFFT, decode } from "sonotile"`.
 * Everything here runs on the calling thread, except TilePool, the server's worker pool, whose
 * `frameRangeInto` computes a recording on all cores; the server and the batch jobs build on the
 * same functions.
 */
export { spectrogram, type Spectrogram } from "./engine/spectrogram.js";
export { RecordingSpectrogram, spectrogramOfRecording, type RecordingStats, type RecordingOptions, type PackedStats } from "./engine/recording.js";
export { RealFFT, MAX_FFT_LENGTH } from "./engine/fft.js";
export { CoreMemoryError, WASM32_MEMORY_MAX } from "./engine/wasm.js";
export { getWindow } from "./engine/window.js";
export { frameGeometry, frameCount, framesInInterval, type FrameGeometry } from "./engine/geometry.js";
export {
  parseParams, paramsSchema, checkParamsForRecording, ParamsError, PARAM_NAMES, WINDOWS, SCALES, COLORMAPS,
  type Params, type ParamsInput, type WindowName, type Scale, type ColormapName,
} from "./engine/params.js";
export { decode, openAudio, AUDIO_EXTENSIONS, type DecodedAudio, type OpenOptions, type CheckedFile } from "./audio/index.js";
export type { StreamOptions } from "./audio/stream-reader.js";
export {
  featuresOfFile, computeFeatures, featuresOfSignal, FEATURE_NAMES, SCALAR_FEATURES, TargetError,
  type FeatureTarget, type FeatureValues, type FeatureName, type ScalarFeature, type FeatureOptions,
} from "./features/features.js";
export { samplesReader } from "./audio/samples-reader.js";
export { MissingFileError } from "./audio/source.js";
export { AudioFormatError, type AudioInfo, type AudioReader, type AudioFileReader } from "./audio/types.js";
export { SampleValuesError, type PcenState } from "./engine/analysis.js";
export { TilePool, PoolBusyError, TaskTimeoutError, type PoolOptions } from "./tiles/pool.js";
export type { Source, StatsTask, StatsResult } from "./tiles/worker.js";
