/**
 * What the two scale scripts of `sonotile extract` (bench/resume-file.ts, bench/extract-table.ts)
 * share: the run's settings, rows of synthetic values, how often they are checkpointed, and the
 * figures they print (peak resident memory, seconds since a start).
 */
import type { ExtractSettings } from "../src/cli/extract-resume.js";
import { parseParams } from "../src/engine/params.js";
import { VERSION } from "../src/engine/version.js";
import { FEATURE_NAMES, type FeatureValues } from "../src/features/features.js";

/** Rows between checkpoints: a run of 1-second clips on 2 cores computes about as many in the default 30 s. */
export const CHECKPOINT_ROWS = 10_000;

/** The settings of a run of every feature with the default parameters, on whole recordings. */
export const settings: ExtractSettings = { version: VERSION, params: parseParams({}), features: [...FEATURE_NAMES], "clip-start": null, "clip-end": null, "clip-low-freq": null, "clip-high-freq": null, "time-expansion": null, md5: false };

/** The process's peak resident memory so far, in MiB. */
export const peakMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024);

/** Seconds since `since` (performance.now()), to a tenth. */
export const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1);

/** Values as a computation gives them: every scalar a double with all its digits, 64 log-mel floats. */
export function syntheticValues(i: number): FeatureValues {
  const values: Record<string, number | Float32Array> = {};
  for (const name of FEATURE_NAMES) values[name] = Math.sin(i + name.length) * 1234.5678;
  values.log_mel = Float32Array.from({ length: 64 }, (_, k) => -80 * Math.abs(Math.sin(i * 64 + k)));
  return values as FeatureValues;
}
