/**
 * /v1/jobs: work requests. Created pending with validated task data; workers move them
 * through the status machine (src/store/jobs.ts) — over HTTP: abort, and metrics; a retry runs
 * what a finished job did not get done as a new job. Task data is validated by the task's own
 * schema, so a typo fails at submission, not in a worker.
 */
import { z } from "zod";
import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { PgBoss } from "pg-boss";
import { MAX_JOB_TARGET_IDS, RETRIED_ITEM_STATUSES, abortExtractJob, extractFeaturesData, openQueue, retryExtractJob, submitExtractJob } from "../../jobs/queue.js";
import { jobArtifacts } from "../../jobs/results.js";
import { JOB_ITEM_STATUSES, JOB_RESULTS, JOB_SORTS, JOB_STATUSES, getJob, listJobItems, listJobs, listMetrics, putMetric, RESULT_METRICS, type Metric } from "../../store/jobs.js";
import { STATES } from "../../store/common.js";
import { requireCreatorOrAdmin } from "../plugins/auth.js";
import { artifactSchema } from "./artifacts.js";
import { stateRoutes } from "../state-routes.js";
import { errorBody, id, idParams, label, nullableTimestamp, oneOf, page, pageQuery, sortQuery, stateQuery, text, timestamp } from "../schemas.js";

/** A binary metric's base64 text (7.5 MB of data), and the body that carries it: above the server's general limit. */
const METRIC_DATA_CHARS = 10_000_000;
const METRIC_BODY_LIMIT = METRIC_DATA_CHARS + 64 * 1024;
/**
 * A binary metric's data as a body gives it: base64 (RFC 4648 §4, padded), at most
 * METRIC_DATA_CHARS characters. The document's pattern has no repeated group: zod's base64 pattern,
 * `(?:[0-9a-zA-Z+/]{4})*…`, made Ajv — whose regular expressions are unicode ones — throw "Maximum
 * call stack size exceeded" on values above about 5 M characters, under a maxLength of 10 M, in the
 * clients validating with the document. It names the alphabet and where padding may go; the
 * exact check — whole groups of 4, padding only at the end — is the server's (isPaddedBase64).
 */
const metricData = z.string({ error: "must be a string" })
  .max(METRIC_DATA_CHARS, { error: `must be at most ${METRIC_DATA_CHARS} characters`, abort: true })
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: "must be base64", abort: true })
  .refine(isPaddedBase64, "must be base64")
  .meta({ format: "base64" });

/** Whether `text`, of base64's alphabet and at most two `=` at its end, is whole groups of 4 characters. */
function isPaddedBase64(text: string): boolean {
  return text.length % 4 === 0;
}

/**
 * A submission: up to MAX_JOB_TARGET_IDS ids of 39 characters each in JSON ("…",), and room for
 * the rest — above the server's general limit, which stopped lists near 27,000 ids with a 413.
 */
const SUBMISSION_BODY_LIMIT = MAX_JOB_TARGET_IDS * 39 + 64 * 1024;

/**
 * A submission: one variant per task a job can run, each with the schema of its data, so that the
 * OpenAPI document shows every field and a typo fails at submission, not in a worker.
 * `extract_features` (SPEC §7): the targets (a dataset, recordings or clips), features,
 * spectrogram parameters (SPEC §2), band and artifact expiry, run by job workers (src/jobs/).
 */
const priority = z.number().min(-1000, { error: "must be >= -1000", abort: true }).max(1000, { error: "must be <= 1000", abort: true }).int("must be an integer").optional().describe("Higher runs first; default 0");
const tasks = [
  z.strictObject({ task: z.literal("extract_features"), data: extractFeaturesData, priority }),
] as const;
const taskNames = tasks.map((t) => t.shape.task.value);
const submission = z.discriminatedUnion("task", tasks, { error: `must be one of ${taskNames.join(", ")}` });

const jobSchema = z.object({
  id: z.uuid(), task: z.string(), data: z.unknown(), status: z.enum(JOB_STATUSES), result: z.enum(JOB_RESULTS).nullable(),
  message: z.string().nullable(), priority: z.number().int(), progress_done: z.number().int(), progress_total: z.number().int().nullable(),
  created_at: timestamp, started_at: nullableTimestamp, completed_at: nullableTimestamp, duration: z.number().nullable(),
  created_by: z.uuid().nullable(), run_id: z.uuid().nullable(),
  retry_of: z.uuid().nullable().describe("The job whose failed, errored or skipped items this one runs again (POST /v1/jobs/{id}/retry); null also when that job was purged from the trash"),
  state: z.enum(STATES).describe("active; archived (hidden, read-only: no retry, abort or metric); trashed (hidden, purged later with its items and metrics). Only a completed or aborted job can be archived or trashed"),
  state_changed_at: nullableTimestamp,
});

/**
 * A job as GET /v1/jobs lists it (store ListedJob): its task data with the targets' ids counted —
 * what a list is read for is status and progress; GET /v1/jobs/{id} gives the ids.
 */
const listedJobSchema = jobSchema.extend({
  data: z.looseObject({
    targets: z.union([
      z.strictObject({ dataset_id: z.uuid() }),
      z.strictObject({ recording_count: z.number().int().describe("How many recordings the job names") }),
      z.strictObject({ clip_count: z.number().int().describe("How many clips the job names") }),
    ]),
  }).describe("The task data as submitted (features, params, band, expiration_delay), but for the ids of its targets: counted here (`recording_count`, `clip_count`), listed by GET /v1/jobs/{id}"),
});

/** One job, as GET /v1/jobs/{id} shows it: with what it stored, so that its outputs are found from it. */
const jobWithArtifactsSchema = jobSchema.extend({
  artifacts: z.array(artifactSchema.extend({ url: z.string().describe("Where the file downloads: GET this path of the server") }))
    .describe("What the job stored when it ended — features.csv, and features.npy and log_mel.npy (float32 matrices whose row i is features.csv's row i) — expired ones too (`expired`); empty until it ends"),
});

const jobItemSchema = z.object({
  item: z.number().int(), kind: z.enum(["recording", "clip"]), target_id: z.uuid().describe("The recording's or the clip's id"),
  recording_id: z.uuid().nullable().describe("Null only for an item of a job queued by an older sonotile (before migration 005) whose target was deleted by then"),
  recording_path: z.string().nullable().describe("The recording's path relative to its dataset's audio_dir"),
  start_time: z.number().nullable().describe("A clip's start, s"), end_time: z.number().nullable().describe("A clip's end, s"),
  status: z.enum(JOB_ITEM_STATUSES).describe("failed: an input the item could not use (a file missing, replaced or undecodable; a target gone); errored: a computation that kept breaking; skipped: the job was aborted first"),
  attempts: z.number().int().describe("Deliveries so far (1 + retries)"), seconds: z.number().nullable().describe("Audio seconds covered, once done"),
  error: z.string().nullable(),
  host: z.string().nullable().describe("Host name of the worker that settled it (null while pending, or skipped): the machine a failure was found on"),
  pid: z.number().int().nullable().describe("Process id of that worker"),
  engine_version: z.string().nullable().describe("Of a done item: the sonotile version of the worker that computed it (a fleet being upgraded may mix two); null otherwise, or for an item done before 0.12"),
  recording_hash: z.string().nullable().describe("Of a done item: MD5 of the recording's bytes its values were computed from (checked against the file before and after); null as engine_version"),
  finished_at: nullableTimestamp,
  missing_on: z.array(z.string()).describe("Hosts whose workers could not find or read its file (a share not mounted there), in order: a pending item waits for a worker on another host, and fails once every host with a worker running is listed"),
});

const metricSchema = z.object({
  job_id: z.uuid(), key: z.string(), step: z.number().int(), value: z.number().nullable(),
  data: z.string().nullable().describe("Binary value, base64"),
  created_at: timestamp,
});

/** A metric as the API shows it: binary data as base64 text. */
const metricOut = (m: Metric) => ({ ...m, data: m.data ? m.data.toString("base64") : null });

export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["jobs"];
  const sql = app.db.sql;
  // The queue is opened on the first submission (a server that never submits never installs
  // pg-boss's schema) and stopped with the server.
  let queue: Promise<PgBoss> | undefined;
  app.addHook("onClose", async () => {
    if (queue) await (await queue.catch(() => null))?.stop({ graceful: false, close: false });
  });

  app.get("/jobs", {
    schema: { summary: "List jobs", tags, querystring: z.strictObject({ ...pageQuery, state: stateQuery, status: oneOf(JOB_STATUSES).optional(), task: oneOf(taskNames).optional(), run_id: id.optional().describe("Only the job of this run: the one whose run a feature value, artifact or other record names (its run_id), and so its task data — the parameters every value was computed with"), ...sortQuery(JOB_SORTS, "created_at") }), response: { 200: page(listedJobSchema), 400: errorBody } },
  }, async (request) => listJobs(sql, request.query));

  /** The queue, opened on first use. */
  async function openedQueue(): Promise<PgBoss> {
    queue ??= openQueue(sql);
    return queue.catch((err) => {
      queue = undefined; // e.g. the database was down: try again on the next submission
      throw err;
    });
  }

  app.post("/jobs", {
    bodyLimit: SUBMISSION_BODY_LIMIT,
    schema: {
      summary: "Submit a job (pending until a worker takes it)", tags,
      body: submission,
      response: { 201: jobSchema, 400: errorBody },
    },
  }, async (request, reply) => {
    const { data, priority } = request.body;
    return reply.code(201).send(await submitExtractJob(sql, await openedQueue(), { data, priority, created_by: request.user?.id ?? null }));
  });

  app.get("/jobs/:id", { schema: { summary: "Get a job, with its artifacts", tags, params: idParams, response: { 200: jobWithArtifactsSchema, 404: errorBody } } }, async (request) => {
    const job = await getJob(sql, request.params.id);
    return { ...job, artifacts: await jobArtifacts(sql, job.id) };
  });

  /**
   * A job's creator or an admin may change it (abort it, record its metrics); another member's
   * job is theirs to stop, as a clip is theirs to delete.
   */
  async function requireJobOwner(request: FastifyRequest<{ Params: { id: string } }>, action: string): Promise<void> {
    requireCreatorOrAdmin(request, "job", await getJob(sql, request.params.id), action);
  }

  app.post("/jobs/:id/abort", {
    schema: { summary: "Abort a pending or running job (its creator or an admin)", tags, params: idParams, body: z.strictObject({ message: text(0, 10000).optional() }).nullish(), response: { 200: jobSchema, 403: errorBody, 404: errorBody, 409: errorBody } },
  }, async (request) => {
    await requireJobOwner(request, "abort");
    return abortExtractJob(sql, request.params.id, request.body?.message);
  });

  app.post("/jobs/:id/retry", {
    schema: {
      summary: "Run again, as a new job, the items a completed or aborted job did not get done: failed, errored and skipped, as they stand after its retries (its creator or an admin)", tags, params: idParams,
      querystring: z.strictObject({ status: oneOf(RETRIED_ITEM_STATUSES).optional().describe("Only the items of this status; default all three") }),
      body: z.strictObject({ priority: priority.describe("Higher runs first; default the retried job's") }).nullish(),
      response: { 201: jobSchema, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => {
    await requireJobOwner(request, "retry");
    const { status } = request.query;
    const { job } = await retryExtractJob(sql, await openedQueue(), request.params.id, { statuses: status && [status], priority: request.body?.priority, created_by: request.user?.id ?? null });
    return reply.code(201).send(job);
  });

  app.get("/jobs/:id/items", {
    schema: {
      summary: "A job's items: each target and what became of it (e.g. status=failed: which files, and why)", tags, params: idParams,
      querystring: z.strictObject({ ...pageQuery, status: oneOf(JOB_ITEM_STATUSES).optional() }),
      response: { 200: page(jobItemSchema), 404: errorBody },
    },
  }, async (request) => listJobItems(sql, request.params.id, request.query));

  app.get("/jobs/:id/metrics", {
    schema: { summary: "A job's metrics", tags, params: idParams, querystring: z.strictObject({ ...pageQuery, key: label(255).optional() }), response: { 200: page(metricSchema), 404: errorBody } },
  }, async (request) => {
    const metrics = await listMetrics(sql, request.params.id, request.query);
    return { ...metrics, items: metrics.items.map(metricOut) };
  });

  app.put("/jobs/:id/metrics", {
    bodyLimit: METRIC_BODY_LIMIT,
    schema: {
      summary: "Record a metric (key, step): a float value or base64 binary data (the job's creator or an admin)", tags, params: idParams,
      // step is a 32-bit integer column: a larger one failed in the database as "value: has an invalid value".
      body: z.strictObject({
        key: label(255).refine((k) => !(RESULT_METRICS as readonly string[]).includes(k), `is recorded by the job's workers when it ends (${RESULT_METRICS.join(", ")}); choose another key`),
        step: z.number({ error: "must be a number" }).int("must be an integer").min(0, "must be >= 0").max(2 ** 31 - 1, `must be <= ${2 ** 31 - 1}`).optional(),
        value: z.number({ error: "must be a finite number" }).optional(),
        data: metricData.optional(),
      }).refine((b) => (b.value === undefined) !== (b.data === undefined), { message: "give exactly one of value and data", path: ["value"] }),
      response: { 200: metricSchema, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody.describe("Conflict: the job is archived or trashed (read-only)") },
    },
  }, async (request) => {
    await requireJobOwner(request, "record metrics of");
    return metricOut(await putMetric(sql, request.params.id, { ...request.body, data: request.body.data === undefined ? null : Buffer.from(request.body.data, "base64") }));
  });

  // A job is its creator's work, as its abort, retry and metrics are: another member's archive made
  // it read-only to its creator, their trash put it up for purging.
  await app.register(stateRoutes("jobs", "jobs", jobSchema, (jid) => getJob(sql, jid), "creator or admin"));
};
