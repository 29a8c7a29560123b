/**
 * Time expansion (SPEC §3.2). Bat detectors that slow ultrasound down store it at `fs_file`; the
 * real-world rate is `fs_file · TE` and the real duration `file_duration / TE`. Everything a user
 * sees is in real units; the DSP runs on the stored samples with fs = the expanded samplerate.
 */
import { LIMITS } from "./layout.js";
import { describeValue } from "./signal.js";
import type { AudioInfo } from "./types.js";

/** AudioInfo in real-world units, with the factor and the stored rate kept for reference. */
export interface ExpandedInfo extends AudioInfo {
  /** The factor applied (1 = none). */
  timeExpansion: number;
  /** The sample rate written in the file, Hz. */
  fileSamplerate: number;
}

/**
 * The factor in effect: the caller's, else the file's own (GUANO `TE`), else 1 (SPEC §3.2).
 * A caller's factor that is no number is a TypeError naming its type, as every library option of
 * the wrong type is (timeExpansionProblem's "must be a number > 0" was a RangeError of `"2"`).
 */
export function timeExpansionOf(info: Pick<AudioInfo, "timeExpansion">, te?: number): number {
  if (te !== undefined && typeof te !== "number") throw new TypeError(`time_expansion: must be a number > 0, got ${describeValue(te)}`);
  return te ?? info.timeExpansion ?? 1;
}

/**
 * Why `te` cannot be the time expansion of a file stored at `fileSamplerate` Hz, or null when it
 * can: a number > 0 that gives a real rate a file could declare, 1 Hz to LIMITS.maxSamplerate
 * (layout.ts). Beyond those the rate or the duration leaves float64 — 16000 Hz × 5e-324 is
 * 7.9e-320 Hz, lasting Infinity s; × 1e308 is Infinity Hz — and no WAV header holds the rate.
 */
export function timeExpansionProblem(fileSamplerate: number, te: number): string | null {
  if (!(te > 0) || !Number.isFinite(te)) return "must be a number > 0";
  const rate = fileSamplerate * te;
  if (rate >= 1 && rate <= LIMITS.maxSamplerate) return null;
  return `must give a real samplerate (the file's ${fileSamplerate} Hz × time_expansion) from 1 to ${LIMITS.maxSamplerate} Hz; ${te} gives ${rate} Hz`;
}

/**
 * Applies time expansion factor `te` (default timeExpansionOf; see timeExpansionProblem) to a reader's info: samplerate·te, frames / that rate.
 * A rate within 1e-9 (relative) of a whole number of Hz is that number: a decimal factor is not
 * exact in binary (44100 · 1.1 = 48510.00000000001), and a rate that is whole in the user's units
 * must stay whole — resampling (SPEC §3.3) needs a rational ratio of whole rates.
 * @throws RangeError for a factor timeExpansionProblem refuses.
 */
export function applyTimeExpansion(info: AudioInfo, te = timeExpansionOf(info)): ExpandedInfo {
  const problem = timeExpansionProblem(info.samplerate, te);
  if (problem) throw new RangeError(`time_expansion: ${problem}`);
  // frames / the real rate, as the API's duration column (migration 020) and the features' targets
  // compute it: duration / te differs in the last digit (1600 frames at 16000 Hz × 0.7:
  // 0.14285714285714288 s, where 1600 / 11200 Hz is 0.14285714285714285 s).
  const samplerate = expandedSamplerate(info.samplerate, te);
  return { ...info, samplerate, duration: info.frames / samplerate, timeExpansion: te, fileSamplerate: info.samplerate };
}

/** The real-world rate `fileSamplerate · te`, whole where it is within rounding of a whole number (see applyTimeExpansion). */
export function expandedSamplerate(fileSamplerate: number, te: number): number {
  const rate = fileSamplerate * te, whole = Math.round(rate);
  return Math.abs(rate - whole) <= 1e-9 * rate ? whole : rate;
}

/** How realSecondsHint names a registered recording's factor (the API's `time_expansion` field), wherever the API, the store or a job refuses times. */
export const RECORDING_TIME_EXPANSION = "the recording's time_expansion";

/**
 * For a refusal of times past a time-expanded recording's end, that times are real seconds:
 * "; times are real seconds: time expansion 10 (the file's GUANO TE) makes the file's 1 s last
 * 0.1 s" — a bat researcher types the times a player shows for the file as stored, which at
 * time expansion 10 lie past its real end. "" when the factor in effect is 1. Every command and
 * route that refuses such times appends it, so that all say it in the same words.
 * @param file the recording as stored: its own rate (Hz), its frames and its GUANO `TE`, if any
 * @param given the factor the caller gave (a flag, the recording's field); undefined: the file's own (timeExpansionOf)
 * @param givenName how the user knows where `given` came from: "--time-expansion", RECORDING_TIME_EXPANSION
 */
export function realSecondsHint(file: Pick<AudioInfo, "samplerate" | "frames" | "timeExpansion">, given: number | undefined, givenName: string): string {
  const te = timeExpansionOf(file, given);
  if (te === 1) return "";
  const source = given === undefined ? "the file's GUANO TE" : givenName;
  return `; times are real seconds: time expansion ${te} (${source}) makes the file's ${file.frames / file.samplerate} s last ${file.frames / expandedSamplerate(file.samplerate, te)} s`;
}
