/**
 * Jobs (work requests), their items and their metrics. Status machine (SPEC §5):
 *   pending → running → completed | aborted,   pending → aborted.
 * Each transition is one conditional UPDATE (`WHERE status IN (allowed sources)`), so two
 * workers racing for the same transition cannot both win, and an illegal one is refused
 * with a ConflictError naming the current status.
 */
import type { Queryable } from "./db.js";
import { given, pageFirst, toPage, writing, type Page, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
import { ConflictError, NotFoundError, invalid, translating } from "./errors.js";

export const JOB_STATUSES = ["pending", "running", "completed", "aborted"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const JOB_RESULTS = ["success", "failure", "error"] as const;
export type JobResult = (typeof JOB_RESULTS)[number];

export interface Job {
  id: string;
  task: string;
  data: unknown;
  status: JobStatus;
  result: JobResult | null;
  message: string | null;
  priority: number;
  progress_done: number;
  progress_total: number | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** Seconds from start to completion (or abort), null until then. */
  duration: number | null;
  created_by: string | null;
  run_id: string | null;
  /** The job whose items that failed, ended in an error or were skipped this one runs again (migration 012); null for a job submitted anew. */
  retry_of: string | null;
  /** active, archived (hidden, read-only) or trashed (hidden, purged later): migration 019. */
  state: State;
  state_changed_at: string | null;
}

export const JOB_SORTS = ["created_at", "priority", "status"] as const;

/** What orders jobs of one priority or status (pageFirst's `then`): when they were made. */
const JOB_TIE_BREAKS: Record<(typeof JOB_SORTS)[number], readonly string[]> = { created_at: [], priority: ["created_at"], status: ["created_at"] };

/** A job's columns as the API names them; `data`: the column, or what stands for it (LISTED_DATA). */
const COLUMNS = (db: Queryable, data = db`data`) => db`
  id, task, ${data} AS data, status, result, message, priority, progress_done, progress_total, created_at, started_at, completed_at,
  EXTRACT(EPOCH FROM (completed_at - started_at))::float8 AS duration, created_by, run_id, retry_of, state, state_changed_at`;

/** A new pending job; `items`: how many items it has (its progress_total), when known; `retry_of`: the job it runs again the unfinished items of. */
export async function createJob(db: Queryable, j: { task: string; data: unknown; priority?: number; items?: number; retry_of?: string } & Provenance): Promise<Job> {
  const [row] = await translating(() => db<Job[]>`
    INSERT INTO jobs (task, data, priority, progress_total, created_by, run_id, retry_of)
    VALUES (${j.task}, ${db.json(j.data as never)}, ${j.priority ?? 0}, ${j.items ?? null}, ${j.created_by}, ${j.run_id ?? null}, ${j.retry_of ?? null})
    RETURNING ${COLUMNS(db)}`);
  return row;
}

export async function getJob(db: Queryable, id: string): Promise<Job> {
  const [row] = await translating(() => db<Job[]>`SELECT ${COLUMNS(db)} FROM jobs WHERE id = ${id}`);
  if (!row) throw new NotFoundError("job", id);
  return row;
}

/**
 * A job as listings show it (listJobs): its task data with the ids of its targets counted, not listed.
 * A page of 20 jobs of 3,000 clips each was 2.35 MB, of 20,000 clips 15.6 MB and ~1 s, for a list
 * read for status and progress.
 */
export interface ListedJob extends Omit<Job, "data"> {
  /** The task data with `targets: {clip_count: N}` or `{recording_count: N}` for the ids (getJob gives them); a dataset's `{dataset_id}` as it is. */
  data: { targets: { dataset_id: string } | { recording_count: number } | { clip_count: number }; [field: string]: unknown };
}

/**
 * The task data of a listed job (ListedJob), from its row's `data`: the targets dropped (`-`) and
 * their ids counted through a JSON path (`.size()` reads the array's length, as `->` and `jsonb_set`
 * would not: they copied and rebuilt it). The stored value is read once, into `stored.d` (`|| '{}'`
 * gives back the value read; OFFSET 0 keeps the planner from putting `data` back in each step):
 * naming `data` in two steps took ~10 ms a job of 20,000 ids on PostgreSQL 15, against ~0.3 ms
 * once (2026-12-06) — 300–500 ms for a page of 20.
 */
const LISTED_DATA = (db: Queryable) => db`(SELECT CASE
  WHEN jsonb_path_exists(d, '$.targets.clip_ids')
  THEN (d - 'targets') || jsonb_build_object('targets', jsonb_build_object('clip_count', jsonb_path_query_first(d, '$.targets.clip_ids.size()')))
  WHEN jsonb_path_exists(d, '$.targets.recording_ids')
  THEN (d - 'targets') || jsonb_build_object('targets', jsonb_build_object('recording_count', jsonb_path_query_first(d, '$.targets.recording_ids.size()')))
  ELSE d END
  FROM (SELECT data || '{}'::jsonb AS d OFFSET 0) stored)`;

/**
 * Jobs of a state (default listings: "active"), status, task and run (`run_id`: the job whose run
 * a record names — a feature value's, an artifact's —, found through the index jobs_run, migration 021).
 * The page's jobs are chosen by id
 * first (pageFirst): sorted whole, with their task data, the 100,000 jobs of a long-running
 * pipeline took ~0.25–0.45 s a page. Each is a ListedJob: its targets counted.
 */
export async function listJobs(db: Queryable, q: PageRequest & { state: StateFilter; status?: JobStatus; task?: string; run_id?: string; sort: (typeof JOB_SORTS)[number]; order: "asc" | "desc" }): Promise<Page<ListedJob>> {
  const where = db`${given(db, q.status, (status) => db`j.status = ${status}`)} AND ${given(db, q.task, (task) => db`j.task = ${task}`)} AND ${given(db, q.run_id, (run) => db`j.run_id = ${run}`)}`;
  return pageFirst<ListedJob>(db, { ...q, table: "jobs", alias: "j", where, select: db`SELECT ${COLUMNS(db, LISTED_DATA(db))} FROM jobs j`, then: JOB_TIE_BREAKS[q.sort], nullsLast: [] });
}

/** Applies `set` if the job's status is one of `from`; else 404 or 409 naming the status. */
async function transition(db: Queryable, id: string, from: JobStatus[], action: string, set: ReturnType<Queryable>): Promise<Job> {
  const rows = await translating(() => db<Job[]>`
    UPDATE jobs SET ${set} WHERE id = ${id} AND status IN ${db(from)} RETURNING ${COLUMNS(db)}`);
  if (rows.length) return rows[0];
  const job = await getJob(db, id);
  throw new ConflictError(`cannot ${action} job ${id}: it is ${job.status} (only a ${from.join(" or ")} job can be)`);
}

export function startJob(db: Queryable, id: string): Promise<Job> {
  return transition(db, id, ["pending"], "start", db`status = 'running', started_at = now()`);
}

export function completeJob(db: Queryable, id: string, result: JobResult, message?: string): Promise<Job> {
  return transition(db, id, ["running"], "complete", db`status = 'completed', result = ${result}, message = ${message ?? null}, completed_at = now()`);
}

/**
 * Aborts a pending or running job (a worker stops the rest of its work when it sees this). Its
 * message is written once its items are counted (setJobMessage: queue.ts abortExtractJob).
 */
export function abortJob(db: Queryable, id: string): Promise<Job> {
  return transition(db, id, ["pending", "running"], "abort", db`status = 'aborted', completed_at = now()`);
}

/** Sets job `id`'s message (an aborted job's, said of its items once they are skipped); the job as it is then. */
export async function setJobMessage(db: Queryable, id: string, message: string | undefined): Promise<Job> {
  const [job] = await db<Job[]>`UPDATE jobs SET message = ${message ?? null} WHERE id = ${id} RETURNING ${COLUMNS(db)}`;
  return job;
}

/**
 * Counts `items` more items of the job finished (progress_done), in the transaction that settles
 * them; whether every item of the job is now counted (an item is counted once, as it leaves
 * 'pending': then none is pending, and the job can be completed).
 */
export async function countItemsDone(db: Queryable, id: string, items: number): Promise<boolean> {
  const [row] = await db<{ all: boolean }[]>`UPDATE jobs SET progress_done = progress_done + ${items} WHERE id = ${id} RETURNING progress_done >= progress_total AS "all"`;
  return row?.all ?? false;
}

/**
 * An item's outcome (migrations 002, 007): pending, then done; failed — an input the item could not
 * use (a file missing, replaced or undecodable, a target gone or read-only); errored — a computation
 * that kept breaking; skipped — the job was aborted first.
 */
export const JOB_ITEM_STATUSES = ["pending", "done", "failed", "errored", "skipped"] as const;
export type JobItemStatus = (typeof JOB_ITEM_STATUSES)[number];

/** One item's target, as `job_items.target` holds it. */
export interface ItemTarget {
  kind: "recording" | "clip";
  id: string;
  /** The recording's id: the target's own, or its clip's recording. */
  recording_id: string;
  /** Absolute path of the recording's file, which the worker opens. */
  path: string;
  /** The recording's `path` as the API gives it (relative to its dataset's audio_dir): what tables and messages show. */
  recording_path: string;
  time_expansion: number;
  /** Clip bounds, seconds. */
  start?: number;
  end?: number;
  /** A clip's frequency bounds, Hz (null: that side open); what a job of band "clip" computes in. */
  low_freq?: number | null;
  high_freq?: number | null;
}

/** One target of a job and what became of it, named as the API names records (never by the server's file path). */
export interface JobItem {
  item: number;
  kind: "recording" | "clip";
  /** The recording's or the clip's id. */
  target_id: string;
  /** Null only for an item queued before migration 005 whose target was deleted by then. */
  recording_id: string | null;
  /** The recording's path relative to its dataset's audio_dir (null as recording_id). */
  recording_path: string | null;
  /** A clip's bounds, s; null for a recording. */
  start_time: number | null;
  end_time: number | null;
  status: JobItemStatus;
  /** Deliveries so far (1 + retries). */
  attempts: number;
  /** Audio seconds the target covered, once done. */
  seconds: number | null;
  error: string | null;
  /** The host name and process id of the worker that settled it (migration 011); null while pending, skipped, or settled before. */
  host: string | null;
  pid: number | null;
  /** Of a done item (migration 021): the engine version that computed it and the MD5 of the recording's bytes it was computed from; null otherwise, or done before. */
  engine_version: string | null;
  recording_hash: string | null;
  finished_at: string | null;
  /**
   * The hosts whose workers could not read its file (migration 011), in order: a pending item waits
   * for a worker on another host, and fails once every host running one is here.
   */
  missing_on: string[];
}

/** A job's items in order, or those of one status; NotFoundError for a job that does not exist. */
export async function listJobItems(db: Queryable, jobId: string, q: PageRequest & { status?: JobItemStatus }): Promise<Page<JobItem>> {
  await getJob(db, jobId);
  const where = db`job_id = ${jobId} AND (${q.status ?? null}::text IS NULL OR status = ${q.status ?? null})`;
  const rows = await db<(JobItem & { total_count: number })[]>`
    SELECT item, target->>'kind' AS kind, target->>'id' AS target_id, target->>'recording_id' AS recording_id,
           target->>'recording_path' AS recording_path, (target->>'start')::float8 AS start_time, (target->>'end')::float8 AS end_time,
           status, attempts, seconds, error, host, pid, engine_version, recording_hash, finished_at, missing_on, count(*) OVER () AS total_count
    FROM job_items WHERE ${where} ORDER BY item LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM job_items WHERE ${where}`);
}

export interface Metric {
  job_id: string;
  key: string;
  step: number;
  value: number | null;
  /** Binary value, base64 in the API. */
  data: Buffer | null;
  created_at: string;
}

/**
 * The metrics a job's workers record when it ends (jobs/results.ts storeJobResults), which the API
 * does not let a client write: the job's creator had set `items_done` to 999, and the listing showed it.
 */
export const RESULT_METRICS = ["audio_seconds_per_second", "items_done", "items_failed", "items_errored"] as const;

/**
 * Records a metric (key, step) of a job; recording the same key and step again replaces it
 * (idempotent retries). An archived or trashed job is read-only: 409.
 */
export async function putMetric(db: Queryable, jobId: string, m: { key: string; step?: number; value?: number | null; data?: Uint8Array | null }): Promise<Metric> {
  if ((m.value ?? null) === null === ((m.data ?? null) === null)) throw invalid("value", "give exactly one of value (float) and data (binary)");
  return writing(db, "jobs", jobId, async (tx) => {
    const [row] = await translating(() => tx<Metric[]>`
      INSERT INTO job_metrics (job_id, key, step, value, data)
      VALUES (${jobId}, ${m.key}, ${m.step ?? 0}, ${m.value ?? null}, ${m.data ? Buffer.from(m.data) : null})
      ON CONFLICT (job_id, key, step) DO UPDATE SET value = EXCLUDED.value, data = EXCLUDED.data, created_at = now()
      RETURNING job_id, key, step, value, data, created_at`);
    return row;
  });
}

/**
 * Binary metric data one page of metrics may hold, bytes: two metrics of the largest size the API
 * takes (7.5 MB). A page is read whole into memory, and several times over (PostgreSQL's hex text,
 * the bytes, base64, JSON): a page of 1000 metrics of 7.5 MB — any member can record them for a
 * job of theirs — was 7.5 GB, which any token holder could ask for.
 */
export const MAX_METRIC_PAGE_BYTES = 16 * 1024 * 1024;

/**
 * A job's metrics by key and step. `withData: false` leaves binary values out (data null). A page
 * whose binary data would exceed MAX_METRIC_PAGE_BYTES is refused (InvalidError naming `limit`)
 * before any of it is read: the sizes and the data come from one statement, so one snapshot.
 */
export async function listMetrics(db: Queryable, jobId: string, q: PageRequest & { key?: string; withData?: boolean }): Promise<Page<Metric>> {
  await getJob(db, jobId);
  const where = db`job_id = ${jobId} AND (${q.key ?? null}::text IS NULL OR key = ${q.key ?? null})`;
  // octet_length of a TOASTed value reads its size from the pointer, not the value.
  const rows = await db<(Metric & { total_count: number; page_bytes: string })[]>`
    WITH page AS (
      SELECT id, job_id, key, step, value, created_at, octet_length(data) AS bytes, count(*) OVER () AS total_count
      FROM job_metrics WHERE ${where} ORDER BY key, step LIMIT ${q.limit} OFFSET ${q.offset}
    ), size AS (SELECT coalesce(sum(bytes), 0) AS page_bytes FROM page)
    SELECT p.job_id, p.key, p.step, p.value, p.created_at, p.total_count, size.page_bytes,
           CASE WHEN ${q.withData ?? true} AND size.page_bytes <= ${MAX_METRIC_PAGE_BYTES} THEN m.data END AS data
    FROM page p CROSS JOIN size JOIN job_metrics m ON m.id = p.id
    ORDER BY p.key, p.step`;
  const pageBytes = rows.length ? Number(rows[0].page_bytes) : 0;
  if ((q.withData ?? true) && pageBytes > MAX_METRIC_PAGE_BYTES) {
    throw invalid("limit", `the ${rows.length} metrics from offset ${q.offset} hold ${pageBytes} bytes of binary data, over the limit of ${MAX_METRIC_PAGE_BYTES} per page: ask for fewer (a smaller limit; one metric always fits) or for one key`);
  }
  return toPage(rows.map(({ page_bytes: _, ...m }) => m), q, () => db`SELECT count(*) AS n FROM job_metrics WHERE ${where}`);
}
