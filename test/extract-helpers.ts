import { indexResumeFile, readKeptRows, type ComputedTarget, type ExtractSettings, type ResumedTargets } from "../src/cli/extract-resume.js";

/**
 * A resume file read back whole: indexResumeFile (what `--resume` keeps, where each row is) with
 * every row read back and held, what a test checks the file against.
 */
export async function readResumeFile(output: string, settings: ExtractSettings): Promise<(Omit<ResumedTargets, "rows"> & { rows: Map<string, ComputedTarget> }) | null> {
  const resumed = await indexResumeFile(output, settings);
  if (!resumed) return null;
  const rows = new Map<string, ComputedTarget>();
  for await (const row of readKeptRows(output, resumed.rows.values())) rows.set(row.path, row);
  return { ...resumed, rows };
}
