/**
 * The features' names, in a module of their own (no import): the store checks names against them
 * (clip exports) without loading the engine that computes them (features.ts).
 */

/** Scalar features, in table order. */
export const SCALAR_FEATURES = [
  "duration_s", "rms_dbfs", "peak_dbfs", "zero_crossing_rate",
  "spectral_centroid_hz", "spectral_bandwidth_hz", "spectral_flatness", "spectral_rolloff_hz",
  "peak_frequency_hz", "low_freq_hz", "high_freq_hz", "bandwidth_hz", "snr_db",
] as const;
export type ScalarFeature = (typeof SCALAR_FEATURES)[number];

/** The mel vector's feature name; tables spell its values mel_00 … mel_63. */
export const MEL_FEATURE = "log_mel";
