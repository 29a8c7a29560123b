// Acoustic features of a target (a recording or a clip, SPEC §7): the per-frame reductions
// of the STFT power and the per-sample reductions of the waveform. The definitions, their
// librosa references and how frames are aggregated are documented next to the TypeScript
// façade (src/features/features.ts); this file holds the loops.
//
// Everything accumulates in f64: a recording has millions of frames and each frame sums up
// to thousands of bins, so f32 running sums would lose digits the golden tests can see.
import { Registry } from "./registry";

/** librosa.feature.spectral_flatness(amin=1e-10): power values are floored here before the log. */
const FLATNESS_AMIN: f64 = 1e-10;
/**
 * Flatness takes ln of a product of up to LOG_GROUP floored powers instead of one ln per bin:
 * each factor is ≥ 1e-10 and, for audio within full scale, ≤ ~1e12 (|rfft|² of a frame of at
 * most 2^20 samples), so a product of 8 stays within [1e-80, 1e96] and costs 1/8 of the
 * logarithms. Float recordings may exceed full scale: a product past LOG_FLUSH is taken at
 * once, and one more f32 factor (≤ 3.4e38) cannot overflow f64 from there.
 */
const LOG_GROUP = 8;
const LOG_FLUSH: f64 = 1e200;
/** log = 10·log10(max(x, 1e-10)) for the mel bands (librosa.power_to_db(ref=1, amin=1e-10, top_db=None)). */
const MEL_AMIN: f64 = 1e-10;
/** librosa.zero_crossings(threshold=1e-10): |x| ≤ threshold counts as 0, and 0 as positive. */
const ZCR_THRESHOLD: f32 = 1e-10;

// Layout of a plan's f64 accumulators.
export const SUM_FRAMES = 0;
export const SUM_CENTROID = 1;
export const SUM_BANDWIDTH = 2;
export const SUM_FLATNESS = 3;
export const SUM_ROLLOFF = 4;
/** Index of Σ over frames of power in bin k0 (then k0+1, …, k1−1), then Σ log-mel per band. */
export const SUM_SPECTRUM = 5;

class FeaturePlan {
  readonly sums: usize; // f64: the SUM_* scalars, band spectrum sums, mel log sums

  constructor(
    readonly bins: i32, // one-sided spectrum length of a power row
    readonly k0: i32, // band: bins [k0, k1) take part
    readonly k1: i32,
    readonly binHz: f64, // frequency of bin k is k · binHz
    readonly rollPercent: f64,
    readonly melBands: i32,
    readonly melStart: usize, // i32 per band: first bin of its filter
    readonly melLength: usize, // i32 per band: bins in its filter
    readonly melWeights: usize, // f32, the filters' weights one after another
  ) {
    const count = SUM_SPECTRUM + (k1 - k0) + melBands;
    this.sums = heap.alloc(<usize>count << 3);
    memory.fill(this.sums, 0, <usize>count << 3);
  }

  @inline sum(i: i32): usize {
    return this.sums + (<usize>i << 3);
  }

  /** Adds one power row (bins f32) to the accumulators; returns the frame's band energy. */
  frame(row: usize): f64 {
    const k0 = this.k0;
    const k1 = this.k1;
    const hz = this.binHz;
    // Pass 1: magnitude mass and first moment, flatness sums, band energy, mean spectrum.
    let mass: f64 = 0; // Σ m_k, m = √S (librosa's magnitude spectrogram, power = 1)
    let moment: f64 = 0; // Σ f_k · m_k
    let logSum: f64 = 0; // Σ ln(max(S_k, amin)), one log per LOG_GROUP bins (see below)
    let product: f64 = 1;
    let grouped = 0;
    let floored: f64 = 0; // Σ max(S_k, amin)
    let energy: f64 = 0; // Σ S_k
    const spectrum = this.sum(SUM_SPECTRUM) - (<usize>k0 << 3);
    for (let k = k0; k < k1; k++) {
      const s = <f64>load<f32>(row + (<usize>k << 2));
      const m = Math.sqrt(s);
      mass += m;
      moment += <f64>k * hz * m;
      const p = max(s, FLATNESS_AMIN);
      product *= p;
      if (++grouped == LOG_GROUP || product > LOG_FLUSH) {
        logSum += Math.log(product);
        product = 1;
        grouped = 0;
      }
      floored += p;
      energy += s;
      store<f64>(spectrum + (<usize>k << 3), load<f64>(spectrum + (<usize>k << 3)) + s);
    }
    logSum += Math.log(product);
    const n = <f64>(k1 - k0);
    // librosa.util.normalize leaves an all-zero frame at zero: centroid and bandwidth 0.
    const centroid = mass > 0 ? moment / mass : 0;
    // Pass 2: second central moment and the rolloff bin (first k with Σ_{≤k} m ≥ roll · Σ m).
    let spread: f64 = 0;
    let cumulative: f64 = 0;
    const threshold = this.rollPercent * mass;
    let rolloff = -1;
    for (let k = k0; k < k1; k++) {
      const m = Math.sqrt(<f64>load<f32>(row + (<usize>k << 2)));
      const d = <f64>k * hz - centroid;
      spread += m * d * d;
      cumulative += m;
      if (rolloff < 0 && cumulative >= threshold) rolloff = k;
    }
    const bandwidth = mass > 0 ? Math.sqrt(spread / mass) : 0;
    const flatness = Math.exp(logSum / n) / (floored / n);

    store<f64>(this.sum(SUM_FRAMES), load<f64>(this.sum(SUM_FRAMES)) + 1);
    store<f64>(this.sum(SUM_CENTROID), load<f64>(this.sum(SUM_CENTROID)) + centroid);
    store<f64>(this.sum(SUM_BANDWIDTH), load<f64>(this.sum(SUM_BANDWIDTH)) + bandwidth);
    store<f64>(this.sum(SUM_FLATNESS), load<f64>(this.sum(SUM_FLATNESS)) + flatness);
    store<f64>(this.sum(SUM_ROLLOFF), load<f64>(this.sum(SUM_ROLLOFF)) + <f64>rolloff * hz);
    this.melFrame(row);
    return energy;
  }

  /** Σ over bands of 10·log10(max(Σ_k w_bk · S_k, amin)), bins limited to the band [k0, k1). */
  melFrame(row: usize): void {
    const out = this.sum(SUM_SPECTRUM + this.k1 - this.k0);
    let w = this.melWeights;
    for (let b = 0; b < this.melBands; b++) {
      const start = load<i32>(this.melStart + (<usize>b << 2));
      const length = load<i32>(this.melLength + (<usize>b << 2));
      const from = max(start, this.k0);
      const to = min(start + length, this.k1);
      let v: f64 = 0;
      for (let k = from; k < to; k++) {
        v += <f64>load<f32>(w + (<usize>(k - start) << 2)) * <f64>load<f32>(row + (<usize>k << 2));
      }
      const slot = out + (<usize>b << 3);
      store<f64>(slot, load<f64>(slot) + 10 * Math.log10(max(v, MEL_AMIN)));
      w += <usize>length << 2;
    }
  }

  dispose(): void {
    heap.free(this.sums);
    heap.free(this.melStart);
    heap.free(this.melLength);
    heap.free(this.melWeights);
  }
}

const plans = new Registry<FeaturePlan>();

/**
 * A plan accumulating the spectral features of power rows of `bins` values over the bins
 * [k0, k1), bin k at k·binHz Hz. The mel filterbank is sparse: band b weighs bins
 * [start_b, start_b + length_b) with the next length_b values of `melWeights`; the three
 * arrays are copied (i32, i32, f32).
 */
export function featurePlanCreate(bins: i32, k0: i32, k1: i32, binHz: f64, rollPercent: f64, melBands: i32, melStart: usize, melLength: usize, melWeights: usize): i32 {
  assert(0 <= k0 && k0 < k1 && k1 <= bins, "band out of range");
  let total = 0;
  for (let b = 0; b < melBands; b++) {
    const start = load<i32>(melStart + (<usize>b << 2));
    const length = load<i32>(melLength + (<usize>b << 2));
    assert(start >= 0 && length >= 0 && start + length <= bins, "mel filter out of range");
    total += length;
  }
  const starts = heap.alloc(<usize>melBands << 2);
  const lengths = heap.alloc(<usize>melBands << 2);
  const weights = heap.alloc(<usize>max(total, 1) << 2);
  memory.copy(starts, melStart, <usize>melBands << 2);
  memory.copy(lengths, melLength, <usize>melBands << 2);
  memory.copy(weights, melWeights, <usize>total << 2);
  return plans.add(new FeaturePlan(bins, k0, k1, binHz, rollPercent, melBands, starts, lengths, weights));
}

/**
 * Accumulates `frames` frame-major power rows at `power`; writes each frame's band energy
 * Σ_k S_k (f32) to `energies` (for the SNR's percentile, which needs them all).
 */
export function featureFrames(handle: i32, power: usize, frames: i32, energies: usize): void {
  const plan = plans.get(handle);
  const rowBytes = <usize>plan.bins << 2;
  for (let t = 0; t < frames; t++) {
    store<f32>(energies + (<usize>t << 2), <f32>plan.frame(power + <usize>t * rowBytes));
  }
}

/** Address of the plan's f64 accumulators (layout: SUM_* above). */
export function featureSums(handle: i32): usize {
  return plans.get(handle).sums;
}

/**
 * The peak of the band's mean spectrum and the contiguous bins around it within `dropDb` of
 * it: writes [peak, low, high] bin indices (i32) to `out`. Reads the plan's spectrum sums —
 * sums and means share argmax and ratios. The first maximum wins, as numpy.argmax.
 */
export function featureSpectrumEdges(handle: i32, dropDb: f64, out: usize): void {
  const plan = plans.get(handle);
  const k0 = plan.k0;
  const k1 = plan.k1;
  const spectrum = plan.sum(SUM_SPECTRUM) - (<usize>k0 << 3);
  let peak = k0;
  for (let k = k0 + 1; k < k1; k++) if (f64At(spectrum, k) > f64At(spectrum, peak)) peak = k;
  const floor = f64At(spectrum, peak) * Math.pow(10, -dropDb / 10);
  let low = peak;
  while (low > k0 && f64At(spectrum, low - 1) >= floor) low--;
  let high = peak;
  while (high < k1 - 1 && f64At(spectrum, high + 1) >= floor) high++;
  store<i32>(out, peak);
  store<i32>(out + 4, low);
  store<i32>(out + 8, high);
}

@inline function f64At(base: usize, k: i32): f64 {
  return load<f64>(base + (<usize>k << 3));
}

export function featurePlanDestroy(handle: i32): void {
  plans.get(handle).dispose();
  plans.remove(handle);
}

/**
 * Waveform sums of a block of a target's samples, added to `acc` (f64): [Σ x², max |x|,
 * Σ_crossings weight]. `first` is the index of samples[0] within the target and `prev` the
 * sample before it (ignored when first = 0).
 *
 * The crossing weight implements librosa.feature.zero_crossing_rate(y, frame_length,
 * hop_length, center=True) without materialising frames: y is edge-padded by half =
 * frameLength//2, frame j covers padded positions [j·hop, j·hop + frameLength) and counts the
 * crossings at positions j·hop+1 … j·hop+frameLength−1 (zero_crossings(pad=False) per frame).
 * The crossing between y[i−1] and y[i] sits at padded position p = i + half, so it counts once
 * in every frame j with ⌈(p − frameLength + 1)/hop⌉ ≤ j ≤ ⌊(p − 1)/hop⌋, 0 ≤ j < frames;
 * the edge padding repeats y[0] and y[n−1] and adds no crossing. The rate is then
 * Σ weight / (frames · frameLength), the mean over frames of each frame's rate.
 */
export function sampleSums(samples: usize, n: i32, first: f64, prev: f32, half: i32, frameLength: i32, hop: i32, frames: f64, acc: usize): void {
  let squares: f64 = 0;
  let peak: f64 = load<f64>(acc + 8);
  let crossings: f64 = 0;
  const start = <i64>first;
  const lastFrame = <i64>frames - 1;
  const h = <i64>hop;
  let negative = prev < -ZCR_THRESHOLD;
  for (let i = 0; i < n; i++) {
    const x = load<f32>(samples + (<usize>i << 2));
    squares += <f64>x * <f64>x;
    peak = max(peak, <f64>Mathf.abs(x));
    const isNegative = x < -ZCR_THRESHOLD;
    if (isNegative != negative && start + i > 0) {
      const p = start + <i64>i + <i64>half;
      const hi = min(lastFrame, (p - 1) / h);
      const lowNum = p - <i64>frameLength + 1;
      const lo = lowNum <= 0 ? <i64>0 : (lowNum + h - 1) / h;
      if (hi >= lo) crossings += <f64>(hi - lo + 1);
    }
    negative = isNegative;
  }
  store<f64>(acc, load<f64>(acc) + squares);
  store<f64>(acc + 8, peak);
  store<f64>(acc + 16, load<f64>(acc + 16) + crossings);
}
