/**
 * The Slaney mel filterbank, as `librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels,
 * fmin=0, fmax=sr/2, htk=False, norm="slaney")` (librosa 0.10, librosa/filters.py), computed in
 * float64 and rounded to float32 (librosa's default dtype) where librosa rounds, so that the
 * weights are librosa's own. Built once per (sr, n_fft, n_mels) and kept in a small cache: the
 * batch runs thousands of targets with one of each.
 */

/** Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above. */
const F_SP = 200 / 3; // Hz per mel in the linear part
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP; // 15
const LOG_STEP = Math.log(6.4) / 27;

/** librosa.hz_to_mel(f, htk=False). */
function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOG_STEP : hz / F_SP;
}

/** librosa.mel_to_hz(m, htk=False). */
function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/** librosa.mel_frequencies(n, fmin, fmax, htk=False): n points evenly spaced in mel. */
export function melFrequencies(n: number, fmin: number, fmax: number): Float64Array {
  const lo = hzToMel(fmin);
  const hi = hzToMel(fmax);
  const out = new Float64Array(n);
  // numpy.linspace: lo + i·step, the last point exactly hi.
  const step = (hi - lo) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = melToHz(i === n - 1 ? hi : lo + i * step);
  return out;
}

/** A filterbank stored by rows of non-zero weights (each Slaney filter covers a few bins). */
export interface SparseFilterbank {
  bands: number;
  /** One-sided spectrum length the filters apply to: nFft // 2 + 1. */
  bins: number;
  /** First bin of band b's filter. */
  start: Int32Array;
  /** Bins in band b's filter (0 for an empty filter: too few FFT bins for the band). */
  length: Int32Array;
  /** The filters' weights, band after band. */
  weights: Float32Array;
}

/**
 * librosa.filters.mel weights[b][k] (dense): triangles between consecutive points of n_mels + 2
 * mel-spaced frequencies, each scaled by 2 / (f[b+2] − f[b]) so that every filter has the same
 * area (norm="slaney"). Rounded as librosa rounds them: it stores each triangle in its float32
 * weights, then multiplies by the float64 norm into float32 again — one rounding of the product
 * instead left a quarter of the weights one float32 step off.
 */
export function melFilterbankDense(samplerate: number, nFft: number, bands = 64): Float64Array[] {
  const bins = Math.floor(nFft / 2) + 1;
  // numpy.fft.rfftfreq(n_fft, d=1/sr) rounds as k · (1 / (n_fft · (1/sr))).
  const step = 1 / (nFft * (1 / samplerate));
  const fftFreqs = Float64Array.from({ length: bins }, (_, k) => k * step);
  const melF = melFrequencies(bands + 2, 0, samplerate / 2);
  const rows: Float64Array[] = [];
  for (let b = 0; b < bands; b++) {
    const row = new Float64Array(bins);
    const enorm = 2 / (melF[b + 2] - melF[b]);
    for (let k = 0; k < bins; k++) {
      const lower = -(melF[b] - fftFreqs[k]) / (melF[b + 1] - melF[b]);
      const upper = (melF[b + 2] - fftFreqs[k]) / (melF[b + 2] - melF[b + 1]);
      row[k] = Math.fround(Math.fround(Math.max(0, Math.min(lower, upper))) * enorm);
    }
    rows.push(row);
  }
  return rows;
}

const cache = new Map<string, SparseFilterbank>();
const CACHE_LIMIT = 16;

/** The float32 Slaney filterbank of (samplerate, nFft, bands), sparse, cached. */
export function melFilterbank(samplerate: number, nFft: number, bands = 64): SparseFilterbank {
  const key = `${samplerate}/${nFft}/${bands}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const dense = melFilterbankDense(samplerate, nFft, bands);
  const start = new Int32Array(bands);
  const length = new Int32Array(bands);
  const weights: number[] = [];
  dense.forEach((row, b) => {
    let first = row.findIndex((w) => Math.fround(w) > 0);
    if (first < 0) first = 0; // empty filter (librosa warns): its band stays at the log floor
    let last = row.length - 1;
    while (last >= first && !(Math.fround(row[last]) > 0)) last--;
    start[b] = first;
    length[b] = last - first + 1;
    for (let k = first; k <= last; k++) weights.push(row[k]);
  });
  const bank = { bands, bins: Math.floor(nFft / 2) + 1, start, length, weights: Float32Array.from(weights) };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, bank);
  return bank;
}
