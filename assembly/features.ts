// Acoustic features of a target (a recording or a clip, SPEC §7): the per-frame reductions
// of the STFT power and the per-sample reductions of the waveform. The definitions, their
// librosa references and how frames are aggregated are documented next to the TypeScript
// façade (src/features/features.ts); this file holds the loops.
//
// Everything accumulates in f64: a recording has millions of frames and each frame sums up
// to thousands of bins, so f32 running sums would lose digits the golden tests can see.
import { Registry } from "./registry";
import { maxLane } from "./vmath";

/** librosa.feature.spectral_flatness(amin=1e-10): power values are floored here before the log. */
const FLATNESS_AMIN: f64 = 1e-10;
/**
 * Flatness takes ln of a product of up to LOG_GROUP floored powers (per f64x2 lane) instead of one ln per bin:
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
  readonly magnitudes: usize; // f32 scratch: one frame's M_k over the band

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
    this.magnitudes = heap.alloc(<usize>(k1 - k0) << 2);
  }

  @inline sum(i: i32): usize {
    return this.sums + (<usize>i << 3);
  }

  /**
   * Adds one power row (bins f32) to the accumulators; returns the frame's band energy.
   * Pass 1 (f32x4 loads, sums in f64x2) gathers every sum a frame needs; pass 2 finds the
   * rolloff bin in the magnitudes pass 1 kept.
   */
  frame(row: usize): f64 {
    const k0 = this.k0;
    const n = this.k1 - k0;
    const s0 = row + (<usize>k0 << 2); // S_k0 …
    const mags = this.magnitudes; // M_k0 … (f32)
    const spectrum = this.sum(SUM_SPECTRUM); // Σ_t S_k0 … (f64)
    const amin = f64x2.splat(FLATNESS_AMIN);
    let mass = f64x2.splat(0); // Σ M_k, M = √S (librosa's magnitude spectrogram, power = 1)
    let moment1 = f64x2.splat(0); // Σ k·M_k
    let moment2 = f64x2.splat(0); // Σ k²·M_k
    let energy = f64x2.splat(0); // Σ S_k
    let floored = f64x2.splat(0); // Σ P_k, P = max(S, amin)
    let product = f64x2.splat(1); // Π P_k, taken to the log every LOG_GROUP factors per lane
    let logSum: f64 = 0; // Σ ln P_k
    let factors = 0; // in each lane of product
    let klo = f64x2(<f64>k0, <f64>(k0 + 1));
    let khi = f64x2(<f64>(k0 + 2), <f64>(k0 + 3));
    const four = f64x2.splat(4);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const s = v128.load(s0 + (<usize>i << 2));
      const m = f32x4.sqrt(s);
      v128.store(mags + (<usize>i << 2), m);
      const sLo = f64x2.promote_low_f32x4(s);
      const sHi = f64x2.promote_low_f32x4(v128.shuffle<f32>(s, s, 2, 3, 0, 1));
      const mLo = f64x2.promote_low_f32x4(m);
      const mHi = f64x2.promote_low_f32x4(v128.shuffle<f32>(m, m, 2, 3, 0, 1));
      mass = f64x2.add(mass, f64x2.add(mLo, mHi));
      const mkLo = f64x2.mul(mLo, klo);
      const mkHi = f64x2.mul(mHi, khi);
      moment1 = f64x2.add(moment1, f64x2.add(mkLo, mkHi));
      moment2 = f64x2.add(moment2, f64x2.add(f64x2.mul(mkLo, klo), f64x2.mul(mkHi, khi)));
      energy = f64x2.add(energy, f64x2.add(sLo, sHi));
      const pLo = f64x2.max(sLo, amin);
      const pHi = f64x2.max(sHi, amin);
      floored = f64x2.add(floored, f64x2.add(pLo, pHi));
      product = f64x2.mul(product, f64x2.mul(pLo, pHi)); // two factors per lane
      factors += 2;
      if (factors == LOG_GROUP || v128.any_true(f64x2.gt(product, f64x2.splat(LOG_FLUSH)))) {
        logSum += Math.log(f64x2.extract_lane(product, 0)) + Math.log(f64x2.extract_lane(product, 1));
        product = f64x2.splat(1);
        factors = 0;
      }
      const sp = spectrum + (<usize>i << 3);
      v128.store(sp, f64x2.add(v128.load(sp), sLo));
      v128.store(sp + 16, f64x2.add(v128.load(sp + 16), sHi));
      klo = f64x2.add(klo, four);
      khi = f64x2.add(khi, four);
    }
    let massS = hsum(mass);
    let moment1S = hsum(moment1);
    let moment2S = hsum(moment2);
    let energyS = hsum(energy);
    let flooredS = hsum(floored);
    logSum += Math.log(f64x2.extract_lane(product, 0)) + Math.log(f64x2.extract_lane(product, 1));
    for (; i < n; i++) {
      const sf = load<f32>(s0 + (<usize>i << 2));
      const m = Mathf.sqrt(sf);
      store<f32>(mags + (<usize>i << 2), m);
      const s = <f64>sf;
      const k = <f64>(k0 + i);
      massS += m;
      moment1S += k * m;
      moment2S += k * k * m;
      energyS += s;
      const p = max(s, FLATNESS_AMIN);
      flooredS += p;
      logSum += Math.log(p);
      const sp = spectrum + (<usize>i << 3);
      store<f64>(sp, load<f64>(sp) + s);
    }
    const hz = this.binHz;
    // librosa.util.normalize leaves an all-zero frame at zero: centroid and bandwidth 0.
    // Bandwidth (p = 2): Σ (M_k/ΣM)(f_k − c)² = Σ (M_k/ΣM) f_k² − c², in bins, then Hz.
    const centroidBins = massS > 0 ? moment1S / massS : 0;
    const bandwidthBins = massS > 0 ? Math.sqrt(max(0, moment2S / massS - centroidBins * centroidBins)) : 0;
    const flatness = Math.exp(logSum / <f64>n) / (flooredS / <f64>n);
    // Pass 2: the first k with Σ_{j≤k} M_j ≥ roll · Σ M (the last bin if rounding says never).
    const threshold = this.rollPercent * massS;
    let cumulative: f64 = 0;
    let rolloff = n - 1;
    for (let j = 0; j < n; j++) {
      cumulative += <f64>load<f32>(mags + (<usize>j << 2));
      if (cumulative >= threshold) {
        rolloff = j;
        break;
      }
    }

    store<f64>(this.sum(SUM_FRAMES), load<f64>(this.sum(SUM_FRAMES)) + 1);
    store<f64>(this.sum(SUM_CENTROID), load<f64>(this.sum(SUM_CENTROID)) + centroidBins * hz);
    store<f64>(this.sum(SUM_BANDWIDTH), load<f64>(this.sum(SUM_BANDWIDTH)) + bandwidthBins * hz);
    store<f64>(this.sum(SUM_FLATNESS), load<f64>(this.sum(SUM_FLATNESS)) + flatness);
    store<f64>(this.sum(SUM_ROLLOFF), load<f64>(this.sum(SUM_ROLLOFF)) + <f64>(k0 + rolloff) * hz);
    this.melFrame(row);
    return energyS;
  }

  /**
   * Σ over bands of 10·log10(max(Σ_k w_bk · S_k, amin)), bins limited to the band [k0, k1).
   * Products in f32x4, band sums in f32 then f64: a band sums a few dozen products, ≲ 1e-5 dB.
   */
  melFrame(row: usize): void {
    const out = this.sum(SUM_SPECTRUM + this.k1 - this.k0);
    let w = this.melWeights;
    for (let b = 0; b < this.melBands; b++) {
      const start = load<i32>(this.melStart + (<usize>b << 2));
      const length = load<i32>(this.melLength + (<usize>b << 2));
      const from = max(start, this.k0);
      const to = min(start + length, this.k1);
      let acc = f32x4.splat(0);
      let k = from;
      for (; k + 4 <= to; k += 4) {
        acc = f32x4.add(acc, f32x4.mul(v128.load(w + (<usize>(k - start) << 2)), v128.load(row + (<usize>k << 2))));
      }
      let v: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
      for (; k < to; k++) v += <f64>(load<f32>(w + (<usize>(k - start) << 2)) * load<f32>(row + (<usize>k << 2)));
      const slot = out + (<usize>b << 3);
      store<f64>(slot, load<f64>(slot) + 10 * Math.log10(max(v, MEL_AMIN)));
      w += <usize>length << 2;
    }
  }

  dispose(): void {
    heap.free(this.sums);
    heap.free(this.magnitudes);
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
 * it: writes [peak, low, high] bin indices (i32) to `out` (all the peak's for a silent band). Reads the plan's spectrum sums —
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
  let high = peak;
  if (floor > 0) { // silence has no band: every bin is ≥ a floor of 0
    while (low > k0 && f64At(spectrum, low - 1) >= floor) low--;
    while (high < k1 - 1 && f64At(spectrum, high + 1) >= floor) high++;
  }
  store<i32>(out, peak);
  store<i32>(out + 4, low);
  store<i32>(out + 8, high);
}

@inline function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
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
  // Σ x² (squares in f64) and max |x|, four samples at a time.
  let squares = f64x2.splat(0);
  let peak = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = v128.load(samples + (<usize>i << 2));
    peak = f32x4.max(peak, f32x4.abs(x));
    const lo = f64x2.promote_low_f32x4(x);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 0, 1));
    squares = f64x2.add(squares, f64x2.add(f64x2.mul(lo, lo), f64x2.mul(hi, hi)));
  }
  let sq = f64x2.extract_lane(squares, 0) + f64x2.extract_lane(squares, 1);
  let pk = maxLane(peak);
  for (; i < n; i++) {
    const x = load<f32>(samples + (<usize>i << 2));
    sq += <f64>x * <f64>x;
    pk = max(pk, Mathf.abs(x));
  }

  // Crossings. Away from both ends of the target (p ≥ frameLength and p ≤ (frames−1)·hop) no
  // frame range is clipped and the weight depends on p mod hop only: a table, no division.
  const start = <i64>first;
  const lastFrame = <i64>frames - 1;
  const h = <i64>hop;
  const p0 = start + <i64>half; // padded position of samples[0]
  const interiorFrom = <i32>min(<i64>n, max(<i64>0, <i64>frameLength - p0));
  const interiorTo = <i32>min(<i64>n, max(<i64>interiorFrom, lastFrame * h - p0 + 1));
  const table = crossingTable(frameLength, hop);
  let crossings: f64 = 0;
  let negative = start == 0 ? load<f32>(samples) < -ZCR_THRESHOLD : prev < -ZCR_THRESHOLD;
  for (i = 0; i < interiorFrom; i++) {
    const isNegative = load<f32>(samples + (<usize>i << 2)) < -ZCR_THRESHOLD;
    if (isNegative != negative) crossings += crossingWeight(p0 + <i64>i, frameLength, h, lastFrame);
    negative = isNegative;
  }
  let r = <i32>((p0 + <i64>interiorFrom) % h);
  let interior: i64 = 0;
  for (; i < interiorTo; i++) {
    const isNegative = load<f32>(samples + (<usize>i << 2)) < -ZCR_THRESHOLD;
    interior += <i64>(<i32>(isNegative != negative) * load<i32>(table + (<usize>r << 2)));
    negative = isNegative;
    if (++r == hop) r = 0;
  }
  crossings += <f64>interior;
  for (; i < n; i++) {
    const isNegative = load<f32>(samples + (<usize>i << 2)) < -ZCR_THRESHOLD;
    if (isNegative != negative) crossings += crossingWeight(p0 + <i64>i, frameLength, h, lastFrame);
    negative = isNegative;
  }
  store<f64>(acc, load<f64>(acc) + sq);
  store<f64>(acc + 8, max(load<f64>(acc + 8), <f64>pk));
  store<f64>(acc + 16, load<f64>(acc + 16) + crossings);
}

/** Frames counting the crossing at padded position p ≥ 1 (see sampleSums). */
function crossingWeight(p: i64, frameLength: i32, hop: i64, lastFrame: i64): f64 {
  const hi = min(lastFrame, (p - 1) / hop);
  const lowNum = p - <i64>frameLength + 1;
  const lo = lowNum <= 0 ? <i64>0 : (lowNum + hop - 1) / hop;
  return hi >= lo ? <f64>(hi - lo + 1) : 0;
}

/** Frame length and hop the crossing table was built for, and the table (i32 per p mod hop). */
let tableLength = 0;
let tableHop = 0;
let tablePtr: usize = 0;

/**
 * Weights of interior crossings by r = p mod hop: with p = q·hop + r, ⌊(p−1)/hop⌋ = q − [r = 0]
 * and ⌈(p − frameLength + 1)/hop⌉ = q − ⌊(frameLength − 1 − r)/hop⌋, so the count is
 * 1 − [r = 0] + ⌊(frameLength − 1 − r)/hop⌋ (frameLength > r: the numerator is ≥ 0).
 */
function crossingTable(frameLength: i32, hop: i32): usize {
  if (tablePtr != 0 && tableLength == frameLength && tableHop == hop) return tablePtr;
  // Forgotten before the allocation: one that traps (the core cannot grow) must not leave the
  // freed block as the table of the old hop, for whatever takes that memory next to write over.
  if (tablePtr != 0) heap.free(tablePtr);
  tablePtr = 0;
  tablePtr = heap.alloc(<usize>hop << 2);
  tableLength = frameLength;
  tableHop = hop;
  for (let r = 0; r < hop; r++) store<i32>(tablePtr + (<usize>r << 2), (r == 0 ? 0 : 1) + (frameLength - 1 - r) / hop);
  return tablePtr;
}
