import { statSync } from "node:fs";
import { extractEach, type ExtractOptions, type ExtractOutcome, type PendingItem } from "../src/jobs/extract.js";
import { indexResumeFile, readKeptRows, ResumeCheckpoint, resumeFilePath, type ComputedTarget, type ExtractSettings, type ResumedTargets } from "../src/cli/extract-resume.js";

/** What a run that resumes nothing starts from. */
export const NOTHING_RESUMED: ResumedTargets = { rows: new Map(), changed: [], appendAt: null, file: null };

/**
 * A resume file read back whole: indexResumeFile (what `--resume` keeps, where each row is) with
 * every row read back and held, what a test checks the file against.
 */
export async function readResumeFile(output: string, settings: ExtractSettings): Promise<(Omit<ResumedTargets, "rows" | "file"> & { rows: Map<string, ComputedTarget> }) | null> {
  const resumed = await indexResumeFile(output, settings);
  if (!resumed) return null;
  const { file, ...rest } = resumed;
  const rows = new Map<string, ComputedTarget>();
  try {
    for await (const row of readKeptRows(file, resumed.rows.entries())) rows.set(row.path, row);
  } finally {
    await file?.handle.close();
  }
  return { ...rest, rows };
}

/**
 * The resume file of `output` written whole with `targets` (in that order), as a run's first
 * checkpoint writes it — an interrupted run's file, to resume.
 * @returns its length in bytes.
 */
export async function writeResumeFile(output: string, settings: ExtractSettings, targets: Iterable<ComputedTarget>): Promise<number> {
  // No interval passes: every target is written by keep, at once.
  const checkpoint = new ResumeCheckpoint(output, settings, NOTHING_RESUMED, Infinity, () => Promise.resolve(), (line) => {
    throw new Error(line);
  });
  try {
    for (const target of targets) checkpoint.add(target);
    await checkpoint.keep();
  } finally {
    await checkpoint.close();
  }
  return statSync(resumeFilePath(output)).size;
}

/**
 * extractEach's outcomes kept, one per entry in input order — undefined for an entry that settled
 * to null, and after `options.stop` for every entry that had not finished; `onOutcome` is also
 * called with each as its target finishes.
 */
export async function extractFeatures(items: readonly PendingItem[], options: ExtractOptions & { onOutcome?: (outcome: ExtractOutcome) => void }): Promise<(ExtractOutcome | undefined)[]> {
  const outcomes: (ExtractOutcome | undefined)[] = new Array(items.length);
  await extractEach(items, {
    ...options,
    onOutcome: (outcome, i) => {
      outcomes[i] = outcome;
      options.onOutcome?.(outcome);
    },
  });
  return outcomes;
}
