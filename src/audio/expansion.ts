/**
 * Time expansion (SPEC §3.2). Bat detectors that slow ultrasound down store it at `fs_file`; the
 * real-world rate is `fs_file · TE` and the real duration `file_duration / TE`. Everything a user
 * sees is in real units; the DSP runs on the stored samples with fs = the expanded samplerate.
 */
import type { AudioInfo } from "./types.js";

/** AudioInfo in real-world units, with the factor and the stored rate kept for reference. */
export interface ExpandedInfo extends AudioInfo {
  /** The factor applied (1 = none). */
  timeExpansion: number;
  /** The sample rate written in the file, Hz. */
  fileSamplerate: number;
}

/** The factor in effect: the caller's, else the file's own (GUANO `TE`), else 1 (SPEC §3.2). */
export function timeExpansionOf(info: Pick<AudioInfo, "timeExpansion">, te?: number): number {
  return te ?? info.timeExpansion ?? 1;
}

/**
 * Applies time expansion factor `te` (> 0, finite; default timeExpansionOf) to a reader's info: samplerate·te, duration/te.
 * A rate within 1e-9 (relative) of a whole number of Hz is that number: a decimal factor is not
 * exact in binary (44100 · 1.1 = 48510.00000000001), and a rate that is whole in the user's units
 * must stay whole — resampling (SPEC §3.3) needs a rational ratio of whole rates.
 * @throws RangeError for a factor that is not a positive finite number.
 */
export function applyTimeExpansion(info: AudioInfo, te = timeExpansionOf(info)): ExpandedInfo {
  if (!(te > 0) || !Number.isFinite(te)) throw new RangeError(`time expansion must be a positive number, got ${te}`);
  return { ...info, samplerate: expandedSamplerate(info.samplerate, te), duration: info.duration / te, timeExpansion: te, fileSamplerate: info.samplerate };
}

/** The real-world rate `fileSamplerate · te`, whole where it is within rounding of a whole number (see applyTimeExpansion). */
export function expandedSamplerate(fileSamplerate: number, te: number): number {
  const rate = fileSamplerate * te, whole = Math.round(rate);
  return Math.abs(rate - whole) <= 1e-9 * rate ? whole : rate;
}
