/**
 * When two clips of a recording are the same clip: what an import of a selection table
 * (clip-tables.ts) and the viewer's "Clip selection" (web/main.ts) go by before creating one. No
 * imports, so that the page's bundle takes it without the store.
 *
 * A clip is its times and its frequency bounds: two boxes over the same time in different bands
 * are two sound events (a bat's call over a cricket's), and a box is not the time band of the same
 * times without bounds.
 */

/**
 * How far (s) a row's time may be from a clip's for the row to be that clip: half a microsecond,
 * the clip's identity taking times to the microsecond. A tolerance, not a grid: each time rounded
 * to its nearest microsecond split two times a nanosecond apart across a half microsecond into two
 * clips — and an export's 9 decimals (of the time × TE with times=file) move a time by up to half a
 * nanosecond (÷ TE): a viewer-drawn start of 149.9051624996723 s (149905162 µs) written
 * `149.905162500` read back as 149905163 µs, a new clip, for ~1 viewer clip in 950.
 */
export const TIME_TOLERANCE = 0.5e-6;

/**
 * How far (Hz, in the table's units) a row's frequency bound may be from a clip's for the row to
 * be that clip: a millihertz. An export writes Hz to the millihertz, which moves a bound by up to
 * half of one (and with times=file the import multiplies that by the time expansion: the caller
 * scales the tolerance alike).
 */
export const FREQUENCY_TOLERANCE = 1e-3;

/** Whether ranges `a` and `b` (s) are one clip's: each end within TIME_TOLERANCE of the other's. */
export function sameClipRange(a: { start_time: number; end_time: number }, b: { start_time: number; end_time: number }): boolean {
  return Math.abs(a.start_time - b.start_time) <= TIME_TOLERANCE && Math.abs(a.end_time - b.end_time) <= TIME_TOLERANCE;
}

/** Whether frequency bounds (Hz) are one clip's: each bound absent from both, or within `tolerance` (default FREQUENCY_TOLERANCE) of the other's. */
export function sameClipBand(a: { low_freq: number | null; high_freq: number | null }, b: { low_freq: number | null; high_freq: number | null }, tolerance = FREQUENCY_TOLERANCE): boolean {
  const same = (x: number | null, y: number | null) => (x === null || y === null ? x === y : Math.abs(x - y) <= tolerance);
  return same(a.low_freq, b.low_freq) && same(a.high_freq, b.high_freq);
}
