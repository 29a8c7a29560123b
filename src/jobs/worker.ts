/**
 * Executes extraction items taken from the pg-boss queue (src/jobs/queue.ts) — the body of
 * `sonotile worker`, and of in-process workers in tests.
 *
 * Exactly-once effect over at-least-once delivery: an item's feature values are upserted per
 * (target, feature name) and its row leaves 'pending' in the same transaction, which first
 * locks the job row (abort takes the same lock), then the item row; a second delivery of a
 * finished item (its first worker died after committing) finds it no longer pending and
 * writes nothing, and progress advances only on that one transition. The worker that
 * finishes the last item completes the job — a conditional status change, so only one
 * does — and writes the feature-table artifact. An item whose deliveries all died without
 * recording an outcome reaches the dead-letter queue, and is recorded as failed from there.
 */
import type { JobResult, JobWithMetadata } from "pg-boss";
import { parseParams } from "../engine/params.js";
import { MEL_FEATURE, type FeatureValues } from "../features/features.js";
import { featureTableCsv, type FeatureTableRow } from "../features/table.js";
import type { Sql } from "../store/db.js";
import { ConflictError } from "../store/errors.js";
import { completeJob, getJob, putMetric, startJob, type Job } from "../store/jobs.js";
import { createArtifact, storeFile } from "../store/artifacts.js";
import { setClipFeature } from "../store/clips.js";
import { setRecordingFeature } from "../store/recordings.js";
import { finishRun } from "../store/runs.js";
import { TilePool } from "../tiles/pool.js";
import { DEAD_ITEM_QUEUE, DEFAULT_EXPIRATION_DELAY_S, ITEM_QUEUE, ITEM_RETRY_LIMIT, extractFeaturesData, jobFeatures, openQueue, type ItemMessage, type ItemTarget } from "./queue.js";
import type { FeaturesTaskResult } from "../features/task.js";

export interface WorkerOptions {
  sql: Sql;
  /** Feature threads (default one per core). */
  threads?: number;
  /** A pool to compute on instead of one of its own (the caller closes it); `threads` is then ignored. */
  pool?: TilePool;
  /** Seconds between polls of an empty queue (default 1). */
  pollingIntervalSeconds?: number;
}

export interface ExtractWorker {
  /** Stops taking items, finishes the ones in hand, releases the pool and the queue. */
  stop(): Promise<void>;
}

/** An item's values as `job_items.result` keeps them (JSON: the mel vector as numbers). */
type StoredValues = Omit<FeatureValues, "log_mel"> & { log_mel: number[] };

/** Starts taking items from the queue until `stop()`. */
export async function startWorker(options: WorkerOptions): Promise<ExtractWorker> {
  const { sql } = options;
  // An item is a whole recording, which may last hours: no time limit (a stuck worker is
  // found by its heartbeat instead).
  const pool = options.pool ?? new TilePool({ threads: options.threads, taskTimeoutMs: 2 ** 31 - 1 });
  const boss = await openQueue(sql, { supervise: true });
  // Two items in hand per thread keep every thread busy between completions.
  const batchSize = pool.threads * 2;
  await boss.work(ITEM_QUEUE, {
    batchSize, includeMetadata: true, perJobResults: true, burstWhenBatchFull: true,
    pollingIntervalSeconds: options.pollingIntervalSeconds ?? 1,
  }, async (jobs: JobWithMetadata<ItemMessage>[]): Promise<JobResult[]> =>
    Promise.all(jobs.map(async (job): Promise<JobResult> => {
      try {
        await processItem({ sql, pool }, job.data, { retryCount: job.retryCount, retryLimit: job.retryLimit });
        return { id: job.id, status: "completed" };
      } catch (err) {
        return { id: job.id, status: "failed", output: { message: (err as Error).message } };
      }
    })));
  await boss.work(DEAD_ITEM_QUEUE, { includeMetadata: true, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 1 },
    async ([job]: JobWithMetadata<ItemMessage>[]) => giveUpItem({ sql }, job.data));
  return {
    async stop() {
      await boss.offWork(DEAD_ITEM_QUEUE, { wait: true });
      await boss.offWork(ITEM_QUEUE, { wait: true });
      await boss.stop({ graceful: true, close: false });
      if (!options.pool) await pool.close();
    },
  };
}

interface ItemContext {
  sql: Sql;
  pool: TilePool;
}

/**
 * One delivery of an item. Resolves when the item is settled (done, failed for good, or
 * nothing to do); throws when a retry may succeed and retries remain.
 */
export async function processItem(ctx: ItemContext, msg: ItemMessage, delivery: { retryCount: number; retryLimit: number }): Promise<void> {
  const { sql } = ctx;
  const [row] = await sql<{ target: ItemTarget; status: string }[]>`
    UPDATE job_items SET attempts = attempts + 1 WHERE job_id = ${msg.job_id} AND item = ${msg.item} AND status = 'pending'
    RETURNING target, status`;
  // Settled by an earlier delivery — whose worker may have died before completing the job — or
  // skipped by an abort: nothing to compute, but the job may still need completing.
  if (!row) return finishJobIfDone(ctx, msg.job_id);
  const job = await startedJob(sql, msg.job_id);
  if (job.status !== "running") return;

  const data = extractFeaturesData.parse(job.data);
  let outcome: { values: FeatureValues } | { error: string };
  try {
    const result = await ctx.pool.run<FeaturesTaskResult>({
      kind: "features", path: row.target.path, timeExpansion: row.target.time_expansion, params: parseParams(data.params ?? {}),
      target: { ...(row.target.kind === "clip" ? { start: row.target.start, end: row.target.end } : {}), lowFreq: data.band?.low_freq, highFreq: data.band?.high_freq },
    });
    outcome = "values" in result ? { values: result.values } : { error: result.failure };
  } catch (err) {
    if (delivery.retryCount < delivery.retryLimit) throw err;
    outcome = { error: `failed after ${delivery.retryCount + 1} attempts: ${(err as Error).message}` };
  }
  await settleItem(sql, job, msg.item, row.target, jobFeatures(data), outcome);
  await finishJobIfDone(ctx, job.id);
}

/** The job, moved from pending to running if it was pending (by this call or a concurrent one). */
async function startedJob(sql: Sql, id: string): Promise<Job> {
  const job = await getJob(sql, id);
  if (job.status !== "pending") return job;
  return startJob(sql, id).catch((err) => (err instanceof ConflictError ? getJob(sql, id) : Promise.reject(err)));
}

/**
 * An item pg-boss gave up on (dead-letter queue): recorded as failed, unless a delivery got to
 * record its outcome after all.
 */
export async function giveUpItem(ctx: Pick<ItemContext, "sql">, msg: ItemMessage): Promise<void> {
  const { sql } = ctx;
  const [row] = await sql<{ target: ItemTarget }[]>`SELECT target FROM job_items WHERE job_id = ${msg.job_id} AND item = ${msg.item} AND status = 'pending'`;
  if (!row) return finishJobIfDone(ctx, msg.job_id); // as in processItem
  const job = await startedJob(sql, msg.job_id);
  // pg-boss does not carry the last delivery's error over to the dead-letter message.
  const error = `gave up after ${ITEM_RETRY_LIMIT + 1} deliveries: the workers holding it died or lost the database`;
  await settleItem(sql, job, msg.item, row.target, [], { error });
  await finishJobIfDone(ctx, job.id);
}

/** Writes an item's outcome (values and row state) unless an earlier delivery or an abort settled it. */
async function settleItem(sql: Sql, job: Job, item: number, target: ItemTarget, features: readonly string[], outcome: { values: FeatureValues } | { error: string }): Promise<void> {
  await sql.begin(async (tx) => {
    const [locked] = await tx`SELECT status FROM jobs WHERE id = ${job.id} FOR UPDATE`;
    const [current] = await tx`SELECT status FROM job_items WHERE job_id = ${job.id} AND item = ${item} FOR UPDATE`;
    if (locked.status !== "running" || current.status !== "pending") return;
    if ("values" in outcome) {
      const provenance = { created_by: job.created_by, run_id: job.run_id };
      for (const name of features) {
        const f = name === MEL_FEATURE
          ? { name, data: new Uint8Array(outcome.values.log_mel.buffer, outcome.values.log_mel.byteOffset, outcome.values.log_mel.byteLength), ...provenance }
          : { name, value: outcome.values[name as Exclude<keyof FeatureValues, "log_mel">], ...provenance };
        if (target.kind === "clip") await setClipFeature(tx, target.id, f);
        else await setRecordingFeature(tx, target.id, f);
      }
      const stored: StoredValues = { ...outcome.values, log_mel: Array.from(outcome.values.log_mel) };
      await tx`UPDATE job_items SET status = 'done', seconds = ${outcome.values.duration_s}, result = ${tx.json(stored as never)}, finished_at = now()
               WHERE job_id = ${job.id} AND item = ${item}`;
    } else {
      // The file named as the API names it, not by the server's own path (as imports report theirs).
      const error = outcome.error.replaceAll(target.path, target.recording_path);
      await tx`UPDATE job_items SET status = 'failed', error = ${error.slice(0, 10000)}, finished_at = now()
               WHERE job_id = ${job.id} AND item = ${item}`;
    }
    await tx`UPDATE jobs SET progress_done = progress_done + 1 WHERE id = ${job.id}`;
  });
}

/**
 * When no item is pending: completes the job (success, or failure naming the failed items),
 * stores the feature table as an artifact (its bytes in the database, where every server can
 * serve them) and the job's metrics, and finishes its run — in one transaction. Several
 * workers may get here for the same job; the conditional completion lets one through.
 */
export async function finishJobIfDone(ctx: Pick<ItemContext, "sql">, jobId: string): Promise<void> {
  const { sql } = ctx;
  const [{ pending }] = await sql`SELECT count(*)::int AS pending FROM job_items WHERE job_id = ${jobId} AND status = 'pending'`;
  if (pending > 0) return;
  const job = await getJob(sql, jobId);
  if (job.status !== "running") return;
  const data = extractFeaturesData.parse(job.data);
  const features = jobFeatures(data);
  const items = await sql<{ item: number; target: ItemTarget; status: string; seconds: number | null; result: StoredValues | null; error: string | null }[]>`
    SELECT item, target, status, seconds, result, error FROM job_items WHERE job_id = ${jobId} ORDER BY item`;
  const done = items.filter((i) => i.status === "done");
  const failed = items.filter((i) => i.status === "failed");
  const rows: FeatureTableRow[] = done.map((i) => ({
    path: i.target.recording_path,
    recordingId: i.target.recording_id,
    clip: i.target.kind === "clip" ? { id: i.target.id, start: i.target.start!, end: i.target.end! } : undefined,
    values: { ...i.result!, log_mel: Float32Array.from(i.result!.log_mel) },
  }));
  const table = new TextEncoder().encode(featureTableCsv(rows, features));
  const audioSeconds = done.reduce((s, i) => s + (i.seconds ?? 0), 0);
  const elapsed = Math.max(1e-3, (Date.now() - Date.parse(job.started_at!)) / 1000);
  const message = failed.length
    ? `${failed.length} of ${items.length} items failed; first: ${failed[0].target.kind} ${failed[0].target.id}: ${failed[0].error}`.slice(0, 10000)
    : undefined;
  await sql.begin(async (tx) => {
    try {
      await completeJob(tx, jobId, failed.length ? "failure" : "success", message);
    } catch (err) {
      if (err instanceof ConflictError) return; // another worker completed it, or it was aborted
      throw err;
    }
    const file = await storeFile(tx, table, "text/csv");
    await createArtifact(tx, {
      job_id: jobId, name: "features.csv", file_sha256: file.sha256,
      expiration_delay: data.expiration_delay ?? DEFAULT_EXPIRATION_DELAY_S, created_by: job.created_by, run_id: job.run_id,
    });
    await putMetric(tx, jobId, { key: "audio_seconds_per_second", value: audioSeconds / elapsed });
    await putMetric(tx, jobId, { key: "items_done", value: done.length });
    await putMetric(tx, jobId, { key: "items_failed", value: failed.length });
    if (job.run_id) await finishRun(tx, job.run_id, failed.length ? "failed" : "completed");
  });
}
