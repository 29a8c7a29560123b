/**
 * What an `extract_features` job leaves when it ends — completed by the worker that settles its
 * last item (worker.ts), or aborted (queue.ts abortExtractJob) — so that the work done is kept
 * either way: the feature table of the items done as its `features.csv` artifact (its bytes in
 * the database, where every server can serve them), and its metrics.
 */
import type { FeatureName, FeatureValues } from "../features/features.js";
import { featureTableCsv, type FeatureTableRow } from "../features/table.js";
import { createArtifact, storeFile } from "../store/artifacts.js";
import type { Queryable } from "../store/db.js";
import { putMetric, RESULT_METRICS, type Job } from "../store/jobs.js";
import type { ItemTarget } from "./queue.js";

/** Default artifact lifetime (seconds) when the job does not give `expiration_delay`: 30 days. */
export const DEFAULT_EXPIRATION_DELAY_S = 30 * 24 * 3600;

/** An item's values as `job_items.result` keeps them (JSON: the mel vector as numbers). */
export type StoredValues = Omit<FeatureValues, "log_mel"> & { log_mel: number[] };

/** An item's row as an ended job reads it. */
export interface EndedItem {
  item: number;
  target: ItemTarget;
  status: string;
  seconds: number | null;
  result: StoredValues | null;
  error: string | null;
}

/** The items of job `jobId`, in order. */
export function endedItems(db: Queryable, jobId: string): Promise<EndedItem[]> {
  return db<EndedItem[]>`SELECT item, target, status, seconds, result, error FROM job_items WHERE job_id = ${jobId} ORDER BY item`;
}

/**
 * Stores, in `db` (the transaction that ends the job), the `features.csv` artifact of the items
 * done among `items` (its columns alone when none is), kept `expirationDelay` seconds (default
 * DEFAULT_EXPIRATION_DELAY_S), and the metrics `items_done`, `items_failed`, `items_errored` and
 * `audio_seconds_per_second` (since the job started). `features`: the table's, in order; `clips`:
 * whether the job's targets are clips (the table's leading columns).
 */
export async function storeJobResults(db: Queryable, job: Job, r: { items: EndedItem[]; features: FeatureName[]; clips: boolean; expirationDelay?: number }): Promise<void> {
  const done = r.items.filter((i) => i.status === "done");
  const rows: FeatureTableRow[] = done.map((i) => ({
    path: i.target.recording_path,
    recordingId: i.target.recording_id,
    clip: i.target.kind === "clip" ? { id: i.target.id, start: i.target.start!, end: i.target.end! } : undefined,
    values: { ...i.result!, log_mel: Float32Array.from(i.result!.log_mel) },
  }));
  const file = await storeFile(db, new TextEncoder().encode(featureTableCsv(rows, r.features, { stored: true, clips: r.clips })), "text/csv");
  await createArtifact(db, {
    job_id: job.id, name: "features.csv", file_sha256: file.sha256,
    expiration_delay: r.expirationDelay ?? DEFAULT_EXPIRATION_DELAY_S, created_by: job.created_by, run_id: job.run_id,
  });
  const audioSeconds = done.reduce((s, i) => s + (i.seconds ?? 0), 0);
  // A job aborted before it started has done nothing: 0 whatever the time.
  const elapsed = Math.max(1e-3, (Date.now() - Date.parse(job.started_at ?? job.created_at)) / 1000);
  const metrics: Record<(typeof RESULT_METRICS)[number], number> = {
    audio_seconds_per_second: audioSeconds / elapsed,
    items_done: done.length,
    items_failed: r.items.filter((i) => i.status === "failed").length,
    items_errored: r.items.filter((i) => i.status === "errored").length,
  };
  for (const key of RESULT_METRICS) await putMetric(db, job.id, { key, value: metrics[key] });
}
