/**
 * What an `extract_features` job leaves when it ends — completed by the worker that settles its
 * last item (worker.ts), or aborted (queue.ts abortExtractJob) — so that the work done is kept
 * either way: the feature table of the items done as its artifacts (their bytes in the database,
 * where every server can serve them; jobOutputs), and its metrics.
 */
import type { Params } from "../engine/params.js";
import { VERSION } from "../engine/version.js";
import { MEL_FEATURE, featureColumns, type FeatureName, type FeatureValues } from "../features/features.js";
import { featureMatrixNpy, featureTableCsv, featureTableCsvSidecar, keyColumnNames, type FeatureTableRow, type TableProvenance } from "../features/table.js";
import { createArtifact, listArtifacts, storeFile, type Artifact } from "../store/artifacts.js";
import type { Queryable } from "../store/db.js";
import { putMetric, RESULT_METRICS, type ItemTarget, type Job } from "../store/jobs.js";

/** Default artifact lifetime (seconds) when the job does not give `expiration_delay`: 30 days. */
const DEFAULT_EXPIRATION_DELAY_S = 30 * 24 * 3600;

/** Where the API serves an artifact's file (GET /v1/artifacts/{id}/file), relative to the server's address. */
const artifactFileUrl = (artifactId: string) => `/v1/artifacts/${artifactId}/file`;

/**
 * What job `jobId` stored when it ended (none while it runs), by name, each with the URL of its
 * file: the active and the archived ones (archiving is how a person keeps one: `state` says so),
 * expired ones too (`expired`) — everything it made that is still stored and not in the trash —
 * as `sonotile jobs show` and GET /v1/jobs/{id} name them.
 */
export async function jobArtifacts(db: Queryable, jobId: string): Promise<(Artifact & { url: string })[]> {
  const { items } = await listArtifacts(db, { limit: 1000, offset: 0, state: "all", expiry: "all", job_id: jobId });
  return items.filter((a) => a.state !== "trashed").map((a) => ({ ...a, url: artifactFileUrl(a.id) }));
}

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
  /** Of an item done: the MD5 of the recording's bytes its values were computed from (migration 021; null: done before it). */
  recording_hash: string | null;
}

/** The items of job `jobId`, in order. */
export function endedItems(db: Queryable, jobId: string): Promise<EndedItem[]> {
  return db<EndedItem[]>`SELECT item, target, status, seconds, result, error, recording_hash FROM job_items WHERE job_id = ${jobId} ORDER BY item`;
}

/** A target as messages name it: by its recording's path as the API gives it (and a clip's id). */
export function targetName(target: ItemTarget): string {
  return target.kind === "clip" ? `clip ${target.id} of recording ${target.recording_path}` : `recording ${target.recording_path}`;
}

/**
 * An ended job's message (GET /v1/jobs/{id}, `sonotile jobs show`), from its items (endedItems): how
 * many failed or ended in an error, and the first (of the errors first) with why — named by its
 * target's id, unless why names it already, by id ("the file of recording <id> (…) has changed",
 * "clip <id> of recording … no longer exists") or as messages name it (targetName: "recording b.wav:
 * file b.wav does not exist …"), which read `first: recording <id>: the file of recording <id> (…)`,
 * `first: recording <id>: recording b.wav: …`. None for a completed job whose every item was done.
 * An aborted job's (`aborted`, with the reason its abort gave, if any) says what the abort left
 * first — `aborted: 99 of 305 items done, 206 skipped` —, then those counts, the reason and the
 * first failure: `aborted: 97 of 305 items done, 1 failed, 207 skipped; why: …; first: …`. It had
 * none but the reason: an aborted job said nothing of its items.
 */
export function jobMessage(items: readonly EndedItem[], aborted?: { why?: string }): string | undefined {
  const total = items.length;
  const failed = items.filter((i) => i.status === "failed");
  const errored = items.filter((i) => i.status === "errored");
  const first = errored[0] ?? failed[0];
  const parts = aborted
    ? [`aborted: ${[`${items.filter((i) => i.status === "done").length} of ${total} items done`, errored.length && `${errored.length} ended in an error`, failed.length && `${failed.length} failed`,
      `${items.filter((i) => i.status === "skipped").length} skipped`].filter(Boolean).join(", ")}`, aborted.why && `why: ${aborted.why}`]
    : [[errored.length && `${errored.length} of ${total} items ended in an error`, failed.length && `${failed.length} of ${total} items failed`].filter(Boolean).join(", ")];
  if (!first && !aborted) return undefined;
  return [...parts, first && `first: ${firstFailure(first)}`].filter(Boolean).join("; ").slice(0, 10000);
}

/** The first item that failed or ended in an error, with why, as jobMessage names it. */
function firstFailure(item: EndedItem): string {
  const { kind, id } = item.target;
  const name = targetName(item.target);
  const namesIt = item.error !== null && (item.error.includes(`${kind} ${id}`) || item.error.startsWith(`${name}:`) || item.error.startsWith(`${name} `));
  return namesIt ? item.error! : `${kind} ${id}: ${item.error}`;
}

/** A file an ended job stores as an artifact. */
export interface JobOutput {
  name: string;
  mediaType: string;
  /** What it holds, in words: the artifact's `description`. */
  description: string;
  bytes: Uint8Array;
}

/**
 * The names of the files an ended job computing `features` stores (jobOutputs), in the order it
 * stores them: what each job of a chain of retries holds, whichever of them a trash or a cleanup
 * took since (`jobs download --chain` refuses a chain lacking one).
 */
export function jobOutputNames(features: readonly FeatureName[]): string[] {
  const scalars = features.some((f) => f !== MEL_FEATURE);
  const mel = features.includes(MEL_FEATURE);
  return ["features.csv", ...(scalars ? ["features.npy"] : []), ...(mel ? ["log_mel.npy"] : []), "provenance.json"];
}

/**
 * The files of an ended job's feature table, one row per item done (`rows`, in item order):
 * - `features.csv`: every feature of the job, the rows named by their key columns (table.ts);
 * - `features.npy`: the scalar features among `features`, float32 [rows, scalars], when any;
 * - `log_mel.npy`: the mel vectors, float32 [rows, 64], when the job computes `log_mel`;
 * - `provenance.json`: what made them (`provenance`), as `sonotile extract`'s sidecar of a CSV holds
 *   it — kept with the tables when the job itself is purged (their job_id then null).
 * The matrices carry no names: row i is the target of the CSV's row i, their columns the CSV's
 * (in its order), as their descriptions say. Items that failed or were skipped have no row in
 * any of them — a row of NaN would be a target whose values read as computed — so the three stay
 * aligned, and the job's items (GET /v1/jobs/{id}/items of job `jobId`) name the ones left out.
 */
function jobOutputs(jobId: string, rows: readonly FeatureTableRow[], features: readonly FeatureName[], clips: boolean, clipBands: boolean, provenance: TableProvenance): JobOutput[] {
  // Each row with the MD5 of the bytes it was computed from (`md5`, after `path`), as extract --md5's rows.
  const targets = { stored: true, clips, md5: true, clipBands };
  const keys = keyColumnNames(targets);
  const rowsAre = `one row per item done, in item order (items that failed or were skipped have none: GET /v1/jobs/${jobId}/items lists them)`;
  const sameRows = `row i is the target of features.csv's row i (its ${keys[0]})`;
  const scalars = features.filter((f) => f !== MEL_FEATURE);
  const mel = features.includes(MEL_FEATURE);
  // Which files are made is jobOutputNames' to say: the chain download checks a job against it.
  const made = new Set(jobOutputNames(features));
  return [
    {
      name: "features.csv", mediaType: "text/csv", bytes: new TextEncoder().encode(featureTableCsv(rows, features, targets)),
      description: `Feature table, ${rowsAre}: ${keys.join(", ")}, then the features (float64${mel ? "; mel_00 … mel_63 float32" : ""})`,
    },
    ...(made.has("features.npy") ? [{
      name: "features.npy", mediaType: "application/octet-stream", bytes: featureMatrixNpy(rows, scalars),
      description: `float32 [${rows.length}, ${scalars.length}] (NumPy .npy): ${sameRows}; columns ${scalars.join(", ")}`,
    }] : []),
    ...(made.has("log_mel.npy") ? [{
      name: "log_mel.npy", mediaType: "application/octet-stream", bytes: featureMatrixNpy(rows, [MEL_FEATURE]),
      description: `float32 [${rows.length}, ${featureColumns([MEL_FEATURE]).length}] (NumPy .npy): the mean log-mel vectors, dB (features.csv's mel_00 … mel_63); ${sameRows}`,
    }] : []),
    {
      name: "provenance.json", mediaType: "application/json", bytes: new TextEncoder().encode(featureTableCsvSidecar(provenance)),
      description: "What made this job's tables, under \"sonotile\": the version of sonotile that wrote them, the job and its run, who submitted it and when, all 22 SPEC §2 parameters (defaults included), the features and the band",
    },
  ];
}

/**
 * Stores, in `db` (the transaction that ends the job), the artifacts of the items done among
 * `items` (jobOutputs; their columns alone when none is), kept `expirationDelay` seconds (default
 * DEFAULT_EXPIRATION_DELAY_S), and the metrics `items_done`, `items_failed`, `items_errored` and
 * `audio_seconds_per_second` (since the job started). `features`: the table's, in order; `clips`:
 * whether the job's targets are clips (the table's leading columns); `params` (all of them) and
 * `band` (null: none), what the values were computed with, for provenance.json; `clipBands`: each clip's
 * own (band "clip"), which features.csv then gives (TableTargets.clipBands).
 */
export async function storeJobResults(db: Queryable, job: Job, r: { items: EndedItem[]; features: FeatureName[]; clips: boolean; clipBands: boolean; expirationDelay?: number; params: Params; band: object | string | null }): Promise<void> {
  const done = r.items.filter((i) => i.status === "done");
  const rows: FeatureTableRow[] = done.map((i) => ({
    path: i.target.recording_path,
    recordingId: i.target.recording_id,
    md5: i.recording_hash ?? undefined,
    clip: i.target.kind === "clip" ? { id: i.target.id, start: i.target.start!, end: i.target.end!, lowFreq: i.target.low_freq, highFreq: i.target.high_freq } : undefined,
    values: { ...i.result!, log_mel: Float32Array.from(i.result!.log_mel) },
  }));
  const provenance = {
    version: VERSION, job_id: job.id, run_id: job.run_id, task: job.task, created_by: job.created_by, created_at: job.created_at,
    params: r.params, features: r.features, band: r.band,
  };
  for (const output of jobOutputs(job.id, rows, r.features, r.clips, r.clipBands, provenance)) {
    const file = await storeFile(db, output.bytes, output.mediaType);
    await createArtifact(db, {
      job_id: job.id, name: output.name, description: output.description, file_sha256: file.sha256,
      expiration_delay: r.expirationDelay ?? DEFAULT_EXPIRATION_DELAY_S, created_by: job.created_by, run_id: job.run_id,
    });
  }
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
