/**
 * Distributed batch jobs (SPEC §5, §7): a job `extract_features` is split into items, one per
 * target (a recording or a clip), stored in `job_items` and sent to a pg-boss queue in the
 * same transaction as the job row — a job is either fully submitted or not at all. Any number
 * of `sonotile worker` processes sharing the PostgreSQL take items from the queue
 * (src/jobs/worker.ts).
 *
 * pg-boss gives at-least-once delivery (an item of a worker that dies is retried once its
 * heartbeat lapses); `job_items` turns that into an exactly-once effect: see worker.ts.
 */
import { PgBoss, type Db } from "pg-boss";
import { z } from "zod";
import { ParamsError, paramsSchema, parseParams, realSamplerate, type Params } from "../engine/params.js";
import { conditionedLength } from "../engine/condition.js";
import { frameCount, frameTime, type FrameGeometry } from "../engine/geometry.js";
import { timeExpansionProblem } from "../audio/expansion.js";
import { plural } from "../audio/types.js";
import { MAX_PASS_SAMPLES, passOverLimit } from "../tiles/limits.js";
import { FEATURE_NAMES, TargetError, checkFeatureParams, clipBetweenFrames, targetFrames, type FeatureName } from "../features/features.js";
import { connectionErrorText, databaseOutageLog, isConnectionError, type DatabaseOutageLog, type Queryable, type Sql } from "../store/db.js";
import { CHANNEL_TAG } from "../store/clip-tables.js";
import { assertWritable, joinedLineage, recordId } from "../store/common.js";
import { ConflictError, InvalidError, invalid } from "../store/errors.js";
import { abortJob, createJob, getJob, setJobMessage, type ItemTarget, type Job } from "../store/jobs.js";
import { createRun, finishRun } from "../store/runs.js";
import { endedItems, jobMessage, storeJobResults } from "./results.js";
import { announceItemsQueued, deliversNotifications, listenForQueue } from "./wakeup.js";

/** The pg-boss queue every extraction item goes through. */
export const ITEM_QUEUE = "sonotile-extract-items";
/**
 * Where pg-boss moves an item whose deliveries are used up without an outcome recorded — its
 * last worker died, or lost the database — so that a worker records it as failed and the job
 * can still complete.
 */
export const DEAD_ITEM_QUEUE = "sonotile-extract-items-dead";
/** pg-boss's tables live in their own schema, apart from sonotile's. */
const BOSS_SCHEMA = "pgboss";
/**
 * Deliveries of an item after the first (pg-boss `retryLimit`): a worker crash, a lost
 * database connection or a timeout. An input problem (not audio, clip outside the recording)
 * is not retried — it fails the same way every time.
 */
export const ITEM_RETRY_LIMIT = 2;
/**
 * A worker holding an item refreshes its heartbeat every half of this; an item whose heartbeat
 * is older goes back to the queue (pg-boss's minimum is 10 s).
 */
const ITEM_HEARTBEAT_S = 10;
/**
 * How long a worker may hold a batch of items (pg-boss `expireInSeconds`): pg-boss's longest, a
 * day. Its default, 15 minutes, failed and redelivered the items of a batch still being computed
 * — long recordings, or items waiting behind others in the worker's pool — and after three
 * expiries gave them up as if their worker had died; a dead worker is found by its heartbeat.
 */
export const ITEM_EXPIRE_S = 24 * 3600;
const hz = z.number({ error: "must be a number of Hz" }).finite();

/** `data.band` that puts each clip target's features in the clip's own frequency bounds (targetBand). */
export const CLIP_BAND = "clip";

/** Most recordings or clips one job may name (the HTTP body limit of a submission follows from it). */
export const MAX_JOB_TARGET_IDS = 100_000;

/**
 * The ids of a job's targets, each once, in the order first named: the job's data is stored as
 * given and every listing of jobs sends it, so an id repeated 100,000 times — one recording named
 * 3.9 MB long — made a job whose every listing carried it (a page of such jobs: gigabytes).
 */
const targetIds = z.array(recordId).min(1, "must not be empty").max(MAX_JOB_TARGET_IDS).transform((ids) => [...new Set(ids)]);

/**
 * Task data of `extract_features`: targets, features, spectrogram parameters (SPEC §2), the band
 * of the spectral features, artifact expiry.
 */
export const extractFeaturesData = z.strictObject({
  targets: z.union([
    z.strictObject({ dataset_id: recordId }),
    z.strictObject({ recording_ids: targetIds }),
    z.strictObject({ clip_ids: targetIds }),
  ], { error: "must be {dataset_id}, {recording_ids: [...]} or {clip_ids: [...]}" }),
  features: z.array(z.enum(FEATURE_NAMES, { error: `must be one of ${FEATURE_NAMES.join(", ")}` })).min(1, "must not be empty").optional()
    .describe("Features to compute; default all"),
  params: paramsSchema.optional(),
  band: z.union([
    z.strictObject({ low_freq: hz.min(0, "must be >= 0").optional(), high_freq: hz.positive("must be > 0").optional() })
      .refine((b) => b.low_freq === undefined || b.high_freq === undefined || b.low_freq < b.high_freq, { message: "must be > low_freq", path: ["high_freq"] }),
    z.literal(CLIP_BAND),
  ], { error: `must be {low_freq?, high_freq?} (Hz) or "${CLIP_BAND}"` })
    .optional()
    .describe(`Spectral features of the band [low_freq, high_freq] Hz only (as \`sonotile extract --clip-low-freq/--clip-high-freq\`), e.g. a box drawn around a call; default the whole spectrum. A low_freq at or above every target's Nyquist frequency is refused at submission; above some targets', their items fail. "${CLIP_BAND}": each clip target in its own low_freq/high_freq as its worker reads them (a missing side open: 0 or Nyquist), a clip without them and a recording over the whole spectrum; a clip whose band holds no FFT bin fails (refused at submission when every target would)`),
  expiration_delay: z.number().positive("must be > 0").max(10 * 365 * 24 * 3600, "must be <= 315360000 (10 years)").optional()
    .describe("Seconds the job's artifacts (features.csv, features.npy, log_mel.npy, provenance.json) are kept; default 30 days"),
  // Not an object (or none, parsed alone), in the words of the other fields' refusals: zod's own said
  // "Invalid input: expected object, received undefined". A request without it is told `data: is
  // required` (api/plugins/errors.ts). Its other issues (an unknown key) keep their words.
}, { error: (issue) => (issue.code === "invalid_type" ? "must be the task's data, an object {targets, features?, params?, band?, expiration_delay?}" : undefined) });
export type ExtractFeaturesData = z.output<typeof extractFeaturesData>;

/**
 * The band of `target`'s spectral features under a job's `band` (checkFeatureParams' and the
 * worker's FeatureTarget): the fixed band for every target; CLIP_BAND: a clip's own bounds (a
 * missing side open), a recording's whole spectrum.
 */
export function targetBand(band: ExtractFeaturesData["band"], target: ItemTarget): { lowFreq?: number | null; highFreq?: number | null } {
  if (band !== CLIP_BAND) return { lowFreq: band?.low_freq, highFreq: band?.high_freq };
  return target.kind === "clip" ? { lowFreq: target.low_freq, highFreq: target.high_freq } : {};
}

/** The features a job computes, in table order. */
export function jobFeatures(data: ExtractFeaturesData): FeatureName[] {
  const wanted = new Set(data.features ?? FEATURE_NAMES);
  return FEATURE_NAMES.filter((f) => wanted.has(f));
}

/** The pg-boss message of an item: where to find its row. */
export interface ItemMessage {
  job_id: string;
  item: number;
}

/**
 * pg-boss on postgres.js (pg-boss's own `pg` pool would be a second client and, on the
 * embedded database, a second path). Parameterized statements are prepared (named): the
 * embedded server multiplexes connections onto one session, where unnamed statements of two
 * connections could interleave. pg-boss's maintenance scripts are parameterless `BEGIN; …;
 * COMMIT;` texts, whose statements must share one connection: they run inside postgres.js's own
 * transaction (`sql.begin`), which keeps them on one connection, rolls back a failed one and
 * rejects when its connection is lost. (On a reserved connection, a script whose backend died
 * left pg-boss waiting for ever: postgres.js did not reject a query sent to the dead connection.)
 * Their rows are flattened as pg-boss's own adapters do.
 */
export function bossDatabase(sql: Queryable): Db {
  return {
    async executeSql(text: string, values?: unknown[]) {
      if (values?.length) return { rows: [...(await sql.unsafe(text, values as never[], { prepare: true }))] };
      const script = TRANSACTION_SCRIPT.exec(text);
      // Inside a transaction already (a submission's inserts), a script runs as it is.
      const result = (script && "begin" in sql
        ? await (sql as Sql).begin((tx) => tx.unsafe(script[1]).simple())
        : await sql.unsafe(text).simple()) as unknown[];
      return { rows: result.some(Array.isArray) ? result.flat() : [...result] };
    },
  };
}

/** A pg-boss script wrapped in a transaction of its own (its plans' `transaction()`): the statements between. */
const TRANSACTION_SCRIPT = /^\s*BEGIN;([\s\S]*;)\s*COMMIT;\s*$/i;

export interface QueueOptions {
  /**
   * Run pg-boss maintenance here (needed by workers: it returns the items of dead workers to
   * the queue); a process that only submits leaves it off.
   */
  supervise?: boolean;
  /**
   * Wake this process's workers when items are queued by another process (pg-boss's LISTEN/NOTIFY,
   * src/jobs/wakeup.ts) — on a PostgreSQL that delivers notifications, not on the embedded one.
   */
  listen?: boolean;
  /**
   * Hears, once each, that pg-boss's passes lost the database and that one succeeded again
   * (outageReporter); default: nothing is said.
   */
  log?: (message: string) => void;
  /**
   * Says them in this outage log instead of one of its own through `log`: the log of the process's
   * other users of the database (`serve`'s API, app.databaseOutage), so that one outage is said once.
   */
  outage?: DatabaseOutageLog;
}

/** Milliseconds between attempts at listening again once the listening connection is lost. */
const LISTEN_RETRY_MS = 2000;

/** A started pg-boss on `sql`, with the item queue created. Stop it with `boss.stop()`. */
export async function openQueue(sql: Sql, options: QueueOptions = {}): Promise<PgBoss> {
  const boss = await startBoss(sql, options.supervise ?? false, (options.listen ?? false) && (await deliversNotifications(sql)), outageReporter(options.outage ?? databaseOutageLog(options.log ?? (() => {}))));
  await ensureQueue(boss, DEAD_ITEM_QUEUE, { retryLimit: ITEM_RETRY_LIMIT, retryDelay: 1 });
  // `notify`: each insert of items sends a NOTIFY, which wakes listening workers (wakeup.ts).
  await ensureQueue(boss, ITEM_QUEUE, { retryLimit: ITEM_RETRY_LIMIT, retryDelay: 1, heartbeatSeconds: ITEM_HEARTBEAT_S, expireInSeconds: ITEM_EXPIRE_S, deadLetter: DEAD_ITEM_QUEUE, notify: true });
  return boss;
}

/**
 * Attempts at starting pg-boss. Processes started together on a database without its schema
 * (`serve --no-worker` and N workers, say) all create it, and all but one fail with a unique
 * violation on a system catalog; the next attempt finds it made.
 */
const BOSS_START_ATTEMPTS = 5;

/** SQLSTATEs of losing that race: unique_violation, duplicate_schema, duplicate_table, duplicate_object. */
const CREATION_RACE = new Set(["23505", "42P06", "42P07", "42710"]);

/**
 * What a worker says of an outage: one line when pg-boss's passes first fail to reach the database
 * — or a statement of theirs has waited ITEM_HEARTBEAT_S for its answer: a partition, or a server
 * that stopped, gives no error, only silence — and one when a statement of theirs succeeds again;
 * not one per failed pass (several a second), and not nothing, as before: a worker printed no word
 * through an outage (through a partition, still none). `failed` takes pg-boss's errors (other
 * errors stay unsaid: the passes retry them), `silent` a statement unanswered that long,
 * `succeeded` each answered statement. The lines are said in `outage` (databaseOutageLog's): in
 * `serve`, its API's, which it then says once for both.
 */
function outageReporter(outage: DatabaseOutageLog): { failed(err: unknown): void; silent(): void; succeeded(): void } {
  return {
    failed(err) {
      if (isConnectionError(err)) outage.unreachable(`database unreachable (${connectionErrorText(err)}), retrying`);
    },
    silent() {
      // As long as an item's heartbeat may go unwritten before the item counts as its worker's loss.
      outage.unreachable(`database not answering (no reply for ${ITEM_HEARTBEAT_S} s: a network partition, a stopped server, a long lock wait, or — on the embedded database, which answers one statement at a time — a long statement ahead of it), waiting for it`);
    },
    succeeded: outage.reachable,
  };
}

async function startBoss(sql: Sql, supervise: boolean, listen: boolean, outage: ReturnType<typeof outageReporter>): Promise<PgBoss> {
  const database = bossDatabase(sql);
  const db: Db = {
    async executeSql(text, values) {
      const silence = setTimeout(() => outage.silent(), ITEM_HEARTBEAT_S * 1000).unref();
      try {
        const result = await database.executeSql(text, values);
        outage.succeeded();
        return result;
      } finally {
        clearTimeout(silence);
      }
    },
  };
  for (let attempt = 1; ; attempt++) {
    const boss = new PgBoss({
      db: listen
        ? { ...db, listen: (channel, onNotification, onReconnect) => listenForQueue(sql, channel, onNotification, onReconnect, LISTEN_RETRY_MS) }
        : db,
      useListenNotify: listen,
      schema: BOSS_SCHEMA,
      schedule: false,
      supervise,
      // Seconds between maintenance passes: how soon after ITEM_HEARTBEAT_S a dead worker's items come back.
      ...(supervise ? { superviseIntervalSeconds: 2, monitorIntervalSeconds: 2 } : {}),
    });
    // Errors of background passes (a lost connection) are retried by pg-boss on its next pass.
    boss.on("error", (err) => outage.failed(err));
    try {
      await boss.start();
      return boss;
    } catch (err) {
      await boss.stop({ graceful: false, close: false }).catch(() => {});
      if (attempt === BOSS_START_ATTEMPTS || !CREATION_RACE.has((err as { code?: string }).code ?? "")) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
    }
  }
}

async function ensureQueue(boss: PgBoss, name: string, options: Parameters<PgBoss["createQueue"]>[1]): Promise<void> {
  const existing = await boss.getQueue(name);
  if (existing) {
    // A queue created by an older release keeps its settings: bring the expiry and notify up to date.
    const stale = (["expireInSeconds", "notify"] as const).filter((key) => options?.[key] !== undefined && existing[key] !== options[key]);
    if (stale.length) await boss.updateQueue(name, Object.fromEntries(stale.map((key) => [key, options![key]])));
    return;
  }
  try {
    await boss.createQueue(name, options);
  } catch (err) {
    // Another process created it between our check and our call.
    if (!(await boss.getQueue(name))) throw err;
  }
}

/**
 * The targets of a job, in a stable order (dataset: by path; ids: as given). Archived and
 * trashed targets — or targets under an archived or trashed dataset or recording — are refused:
 * they are read-only, and their feature values could not be written.
 */
async function resolveTargets(db: Queryable, targets: ExtractFeaturesData["targets"]): Promise<ItemTarget[]> {
  if ("dataset_id" in targets) {
    const [dataset] = await db<{ state: string }[]>`SELECT state FROM datasets WHERE id = ${targets.dataset_id}`;
    if (!dataset) throw invalid("data.targets.dataset_id", `no dataset ${targets.dataset_id}`);
    if (dataset.state !== "active") throw invalid("data.targets.dataset_id", `dataset ${targets.dataset_id} is ${dataset.state} (read-only); restore it first`);
    const rows = await db<{ id: string; audio_dir: string; path: string; time_expansion: number }[]>`
      SELECT r.id, d.audio_dir, r.path, r.time_expansion FROM recordings r JOIN datasets d ON d.id = r.dataset_id
      WHERE r.dataset_id = ${targets.dataset_id} AND r.state = 'active' ORDER BY r.path`;
    if (!rows.length) {
      // A dataset whose recordings are all archived or trashed says so: "no recordings" sent its owner to a scan.
      const [{ hidden }] = await db<{ hidden: number }[]>`SELECT count(*)::int AS hidden FROM recordings WHERE dataset_id = ${targets.dataset_id}`;
      throw invalid("data.targets.dataset_id", hidden
        ? `the dataset has no active recordings: ${plural(hidden, "recording")} ${hidden === 1 ? "is" : "are"} archived or trashed (read-only); restore ${hidden === 1 ? "it" : "them"} first`
        : "the dataset has no recordings");
    }
    return rows.map((r) => ({ kind: "recording", id: r.id, recording_id: r.id, path: `${r.audio_dir}/${r.path}`, recording_path: r.path, time_expansion: r.time_expansion }));
  }
  const kind = "recording_ids" in targets ? "recording" : "clip";
  const ids = "recording_ids" in targets ? targets.recording_ids : targets.clip_ids;
  // Each target's state with its parents' through joins (joinedLineage), each parent table joined
  // once: looked up for every target, they were read once per target (100,000 times for 100,000 clips).
  const recordings = joinedLineage(db, "recordings", "r");
  const clips = joinedLineage(db, "clips", "c");
  const rows = kind === "recording"
    ? await db<{ id: string; audio_dir: string; path: string; time_expansion: number; active: boolean }[]>`
        SELECT r.id, ${db(recordings.parent("dataset_id"))}.audio_dir, r.path, r.time_expansion, ${recordings.inState("active")} AS active
        FROM recordings r ${recordings.joins}
        WHERE r.id = ANY(${ids}::uuid[])`
    : await db<{ id: string; recording_id: string; audio_dir: string; path: string; time_expansion: number; start_time: number; end_time: number; low_freq: number | null; high_freq: number | null; active: boolean }[]>`
        SELECT c.id, c.recording_id, ${db(clips.parent("recording_id", "dataset_id"))}.audio_dir, ${db(clips.parent("recording_id"))}.path,
          ${db(clips.parent("recording_id"))}.time_expansion, c.start_time, c.end_time, c.low_freq, c.high_freq, ${clips.inState("active")} AS active
        FROM clips c ${clips.joins}
        WHERE c.id = ANY(${ids}::uuid[])`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const some = (list: string[]) => `${list.slice(0, 5).join(", ")}${list.length > 5 ? ` (and ${list.length - 5} more)` : ""}`;
  const missing = [...new Set(ids)].filter((id) => !byId.has(id));
  if (missing.length) throw invalid(`data.targets.${kind}_ids`, `no ${kind} ${some(missing)}`);
  const hidden = rows.filter((r) => !r.active).map((r) => r.id);
  if (hidden.length) throw invalid(`data.targets.${kind}_ids`, `archived or trashed (read-only, or under an archived or trashed parent): ${kind} ${some(hidden)}; restore first`);
  return [...new Set(ids)].map((id) => {
    const r = byId.get(id)!;
    const target: ItemTarget = { kind, id, recording_id: "recording_id" in r ? r.recording_id : r.id, path: `${r.audio_dir}/${r.path}`, recording_path: r.path, time_expansion: r.time_expansion };
    if ("start_time" in r) Object.assign(target, { start: r.start_time, end: r.end_time, low_freq: r.low_freq, high_freq: r.high_freq });
    return target;
  });
}

/**
 * Refuses (InvalidError naming the field, e.g. `data.params.window_size`) parameters or a band
 * that no target's recording can take, whatever its file holds: the rules the worker applies
 * before reading a sample (checkFeatureParams), run once per distinct stored rate, time expansion
 * and channel count among the targets — one query, whatever their number. A job none of whose
 * items could succeed is refused, the message naming the rule and one recording; when some
 * targets can take them (a dataset of several rates or channel counts), the job runs and the
 * others' items fail, each naming why. A time expansion that gives no usable rate is the
 * recording's problem, not the job's: its item fails, naming it. A recording that holds no sample
 * (its stored frames 0) fails whatever the parameters, named under the job's targets. Clips in which no frame is
 * centred (clipsWithoutFrames) count as failing too: a job of such clips only is refused, naming
 * `data.params.hop_size` — or `data.band` for clips of band "clip" whose own band holds no bin. A job
 * some of whose targets can take them is then refused when any item would be over the work limit
 * (checkTargetWork). `nameParam`: how the refusals' text names a parameter (see ParamNamer).
 */
async function checkParamsForTargets(db: Queryable, data: ExtractFeaturesData, targets: ItemTarget[], nameParam: ParamNamer): Promise<void> {
  const params = parseParams(data.params ?? {});
  // A job of clip bands takes a recording's whole spectrum; each clip's band is checked apart (clipsWithoutFrames).
  const band = data.band === CLIP_BAND ? {} : { lowFreq: data.band?.low_freq, highFreq: data.band?.high_freq };
  const kinds = await db<{ file_samplerate: number; time_expansion: number; channels: number; empty: boolean; targets: number; path: string }[]>`
    SELECT r.file_samplerate, r.time_expansion, r.channels, r.frames = 0 AS empty, count(*)::int AS targets, min(r.path) AS path
    FROM unnest(${targets.map((t) => t.recording_id)}::uuid[]) AS t(recording_id) JOIN recordings r ON r.id = t.recording_id
    GROUP BY r.file_samplerate, r.time_expansion, r.channels, r.frames = 0 ORDER BY count(*) DESC, min(r.path)`;
  const refused: { kind: (typeof kinds)[number]; issues: { field: string; message: string }[] }[] = [];
  for (const kind of kinds) {
    // A file whose data chunk is empty (stored frames 0): its item fails whatever the parameters.
    if (kind.empty) {
      refused.push({ kind, issues: [{ field: `data.targets.${Object.keys(data.targets)[0]}`, message: "the recording holds no samples" }] });
      continue;
    }
    if (timeExpansionProblem(kind.file_samplerate, kind.time_expansion)) continue;
    const issues = featureParamsIssues(params, { samplerate: realSamplerate(kind.file_samplerate, kind.time_expansion), channels: kind.channels }, band);
    if (issues.length) refused.push({ kind, issues });
  }
  const framed = await framedTargets(db, params, data.band, targets);
  const frameless = clipsWithoutFrames(framed, params, nameParam);
  const failing = refused.reduce((n, r) => n + r.kind.targets, 0) + frameless.length;
  if (failing < targets.length) return checkTargetWork(framed.framed, targets.length, nameParam);
  const share = `${failing} of ${plural(targets.length, "target")}`;
  if (!refused.length) throw new NothingComputableError([{ field: frameless[0].field, message: `${frameless[0].message} (${share})` }]);
  const { kind, issues } = refused[0];
  const which = `recording ${kind.path}: ${kind.file_samplerate} Hz × time expansion ${kind.time_expansion}, ${plural(kind.channels, "channel")}; ${share}`;
  throw new NothingComputableError(issues.map((i) => ({ field: i.field, message: `${i.message} (${which})` })));
}

/**
 * A job none of whose targets its parameters can compute (checkParamsForTargets): a 400 as any
 * InvalidError, told apart for a retry (refusedRetry), whose items then all fail with those
 * parameters — unlike a job refused for the work limit or a target gone meanwhile.
 */
class NothingComputableError extends InvalidError {}

/**
 * A target with the frames [f0, f1) its item computes (targetFrames) of the `total` its recording
 * has, and their geometry, from its bounds and its recording's stored rate and frames — known at
 * submission.
 */
interface FramedTarget { target: ItemTarget; g: FrameGeometry; frames: [number, number]; total: number }

/** The targets of a job framed, and the clips whose own band holds no bin (framedTargets). */
interface Framing { framed: FramedTarget[]; bandless: { field: string; message: string }[] }

/**
 * Every target framed (FramedTarget), one query for their recordings whatever their number, and
 * the clips of `band` CLIP_BAND whose own band holds no FFT bin, each said as one sentence under
 * `data.band`. A target whose recording holds no sample, or whose rate or time expansion these
 * parameters (or a fixed band) cannot take, is left out: checkParamsForTargets counts it already.
 */
async function framedTargets(db: Queryable, params: Params, band: ExtractFeaturesData["band"], targets: ItemTarget[]): Promise<Framing> {
  const recordings = new Map((await db<{ id: string; file_samplerate: number; channels: number; frames: number }[]>`
    SELECT id, file_samplerate, channels, frames::float8 AS frames FROM recordings WHERE id = ANY(${[...new Set(targets.map((t) => t.recording_id))]}::uuid[])`)
    .map((r) => [r.id, r]));
  const framed: FramedTarget[] = [];
  const bandless: { field: string; message: string }[] = [];
  for (const target of targets) {
    const recording = recordings.get(target.recording_id)!;
    if (recording.frames === 0 || timeExpansionProblem(recording.file_samplerate, target.time_expansion)) continue;
    const samplerate = realSamplerate(recording.file_samplerate, target.time_expansion);
    let g: FrameGeometry;
    try {
      ({ g } = checkFeatureParams(params, { samplerate, channels: recording.channels }, targetBand(band, target)));
    } catch (err) {
      // The recording's whole spectrum passed checkParamsForTargets: a refused band is the clip's own.
      if (band === CLIP_BAND && err instanceof TargetError) bandless.push({ field: "data.band", message: `clip ${target.id} (recording ${target.recording_path}): ${err.message}` });
      continue;
    }
    const duration = recording.frames / samplerate;
    const length = conditionedLength(params, samplerate, recording.frames);
    const frames = targetFrames(target.start ?? 0, target.end ?? duration, { duration, length }, g);
    framed.push({ target, g, frames, total: frameCount(length, g) });
  }
  return { framed, bandless };
}

/**
 * The clip targets in which no frame is centred with these parameters (their items would fail
 * with "no frame is centred in …"), each said as one sentence under `data.params.hop_size` — after
 * those of `bandless` (framedTargets). A clip ending on its recording's end has the frame centred
 * there; within its recording, only the frames' spacing counts, and the sentence (clipBetweenFrames:
 * the clip's length, the spacing, the window_size or hop_size that puts a frame in it) names
 * window_size and hop_size by `nameParam`. A clip as long as the spacing lies past the recording's
 * last frame (its file shortened since the clip was drawn): the sentence says so — it said the
 * clip's 0.02 s were less than the 0.0125 s between frames.
 */
function clipsWithoutFrames({ framed, bandless }: Framing, params: Params, nameParam: ParamNamer): { field: string; message: string }[] {
  const frameless = framed.filter(({ target, frames: [f0, f1] }) => target.kind === "clip" && f1 <= f0).map(({ target, g, total }) => {
    const [start, end] = [target.start!, target.end!];
    const why = end - start < frameTime(1, g) ? clipBetweenFrames(start, end, g, params, nameParam) : `it lies past the recording's last frame, centred at ${frameTime(total - 1, g)} s (${plural(total, "frame")} ${frameTime(1, g)} s apart)`;
    return { field: "data.params.hop_size", message: `no frame is centred in [${start}, ${end}) s of clip ${target.id} (recording ${target.recording_path}): ${why}` };
  });
  return [...bandless, ...frameless];
}

/**
 * Refuses (InvalidError naming `data.params.hop_size`) a job any of whose items would transform
 * more than MAX_PASS_SAMPLES (passOverLimit: its frames × FFT length), before it is queued: the
 * limit of the tiles' pass over a recording, and the workers' tasks have no time limit — an item
 * of a 10-hour 384 kHz recording with a 2^20-point FFT hopping one sample would run for years. Says
 * how many targets are over it and the one over it most; names window_size and hop_size by `nameParam`.
 */
function checkTargetWork(framed: readonly FramedTarget[], total: number, nameParam: ParamNamer): void {
  let over = 0;
  let worst: { target: ItemTarget; said: string; transformed: number } | undefined;
  for (const { target, g, frames: [f0, f1] } of framed) {
    const pass = passOverLimit(f1 - f0, g, MAX_PASS_SAMPLES);
    if (!pass) continue;
    over++;
    if (!worst || pass.transformed > worst.transformed) worst = { target, ...pass };
  }
  if (!worst) return;
  const { target } = worst;
  const which = target.kind === "clip" ? `clip ${target.id} (recording ${target.recording_path})` : `recording ${target.recording_path}`;
  throw invalid("data.params.hop_size", `${over} of ${plural(total, "target")} would each transform more samples than a job's item may; the most, ${which}, ${worst.said}: use a longer ${nameParam("hop_size")} or a shorter ${nameParam("window_size")}`);
}

/**
 * Refuses (InvalidError naming `data.params.channel`) a job of clips some of which are of another
 * channel than the one it analyses: a clip with the tag Channel (counted from 1, as Raven counts;
 * store/clip-tables.ts) is of that channel — and a researcher who imported a Raven selection on
 * channel 2 expects the features of channel 2, where the job read its `channel` (counted from 0,
 * default 0) for every clip and gave the first channel's unsaid. A clip without the tag (drawn in
 * the viewer, made through the API, or a table's row of a mono recording; a multi-channel
 * recording's channel-1 rows are tagged 1) names no channel and is read on the job's. One job reads
 * one channel: the message counts the clips of each other channel and says to submit them apart,
 * channel = Channel − 1.
 */
async function checkClipChannels(db: Queryable, channel: number, targets: readonly ItemTarget[], nameParam: ParamNamer): Promise<void> {
  const clips = targets.filter((t) => t.kind === "clip").map((t) => t.id);
  if (!clips.length) return;
  const channels = await db<{ channel: string; clips: number; example: string }[]>`
    SELECT channel, count(*)::int AS clips, min(id::text) AS example FROM (
      SELECT c.id, (SELECT string_agg(t.value, ', ' ORDER BY t.value) FROM clip_tags ct JOIN tags t ON t.id = ct.tag_id
                    WHERE ct.clip_id = c.id AND t.key = ${CHANNEL_TAG}) AS channel
      FROM unnest(${clips}::uuid[]) AS c (id)) AS of_clip
    WHERE channel IS NOT NULL
    GROUP BY channel ORDER BY count(*) DESC, channel`;
  const others = channels.filter((c) => c.channel !== String(channel + 1));
  if (!others.length) return;
  const name = nameParam("channel");
  const counted = others.map((c) => `${plural(c.clips, "clip")} of channel ${c.channel} (clip ${c.example}${c.clips > 1 ? ", …" : ""})`).join("; ");
  throw invalid("data.params.channel", `is ${channel} (channel ${channel + 1} as Raven counts, from 1), but clips of the job are of another channel — their tag ${CHANNEL_TAG}, a Raven selection's channel: ${counted}. A job reads one channel: submit each channel's clips in a job of their own, with ${name} = ${CHANNEL_TAG} − 1`);
}

/** checkFeatureParams' refusals as fields of a job's data (`data.params.window_size`, `data.band`). */
function featureParamsIssues(params: Params, recording: { samplerate: number; channels: number }, band: { lowFreq?: number; highFreq?: number }): { field: string; message: string }[] {
  try {
    checkFeatureParams(params, recording, band);
    return [];
  } catch (err) {
    if (err instanceof ParamsError) return err.issues.map((i) => ({ field: `data.params.${i.field}`, message: i.message }));
    if (err instanceof TargetError) return [{ field: "data.band", message: err.message }];
    throw err;
  }
}

/**
 * How a submission's refusals name a parameter in their text: by its field, as the API takes it
 * (the default); a command line adds the flag the user typed (`hop_size (--hop-size)`), as it
 * names the refused field itself.
 */
export type ParamNamer = (param: keyof Params) => string;

/**
 * Submits an `extract_features` job: the run, the job (pending until a worker takes its first
 * item), its items and their queue messages, in one transaction. `nameParam`: see ParamNamer.
 */
export async function submitExtractJob(sql: Sql, boss: PgBoss, j: { data: ExtractFeaturesData; priority?: number; created_by: string | null; retry_of?: string; nameParam?: ParamNamer }): Promise<Job> {
  const jobId = await sql.begin(async (tx) => {
    if (j.retry_of) {
      await refuseUnfinishedRetry(tx, j.retry_of);
      // Held (FOR SHARE) until the retry is in: an archive of the retried job at the same moment waits
      // for it. After the chain's lock (FOR UPDATE), which orders two retries of one job sent together.
      await assertWritable(tx, "jobs", j.retry_of);
    }
    const targets = await resolveTargets(tx, j.data.targets);
    await checkParamsForTargets(tx, j.data, targets, j.nameParam ?? ((param) => param));
    await checkClipChannels(tx, parseParams(j.data.params ?? {}).channel, targets, j.nameParam ?? ((param) => param));
    const run = await createRun(tx, { kind: "job", description: `extract_features over ${plural(targets.length, "target")}`, created_by: j.created_by });
    const job = await createJob(tx, { task: "extract_features", data: j.data, priority: j.priority, items: targets.length, created_by: j.created_by, run_id: run.id, retry_of: j.retry_of });
    // Batches keep each statement's parameters well under PostgreSQL's 65535.
    for (let first = 0; first < targets.length; first += 5000) {
      const batch = targets.slice(first, first + 5000).map((target, i) => ({ job_id: job.id, item: first + i, target }));
      await tx`INSERT INTO job_items ${tx(batch.map((b) => ({ ...b, target: tx.json(b.target as never) })), "job_id", "item", "target")}`;
      await boss.insert(ITEM_QUEUE, batch.map((b) => ({ data: { job_id: b.job_id, item: b.item } satisfies ItemMessage, priority: j.priority ?? 0 })), { db: bossDatabase(tx) });
    }
    return job.id;
  });
  announceItemsQueued();
  return getJob(sql, jobId);
}

/**
 * The jobs of job `id`'s chain of retries: its first job (the one submitted anew, which `id`
 * retries through `retry_of`, or `id` itself) and every retry of it or of its retries — a tree,
 * every job of which computes the same task data over some of the first job's targets.
 */
const chainOf = (db: Queryable, id: string) => db`
  WITH RECURSIVE up AS (
    SELECT id, retry_of FROM jobs WHERE id = ${id}
    UNION ALL SELECT j.id, j.retry_of FROM jobs j JOIN up ON j.id = up.retry_of
  ), chain AS (
    SELECT id FROM up WHERE retry_of IS NULL
    UNION ALL SELECT j.id FROM jobs j JOIN chain c ON j.retry_of = c.id
  ) SELECT id FROM chain`;

/**
 * The ids of job `id`'s chain of retries (chainOf, whichever of its jobs `id` is): the first job,
 * then its retries and theirs in order of creation — the order their tables are concatenated in.
 */
export async function chainJobIds(db: Queryable, id: string): Promise<string[]> {
  const rows = await db<{ id: string }[]>`SELECT id FROM jobs WHERE id IN (${chainOf(db, id)}) ORDER BY retry_of IS NOT NULL, created_at, id`;
  return rows.map((r) => r.id);
}

/**
 * ConflictError when a job of job `id`'s chain of retries (chainOf) is pending or running: a
 * retry now would run its items again beside it (a request sent twice, a double click), and
 * its outcomes are what the retry must start from (retryExtractJob). The first job's row is
 * locked first, so that of two retries of one chain submitted at once the second sees the first.
 */
async function refuseUnfinishedRetry(tx: Queryable, id: string): Promise<void> {
  await tx`SELECT id FROM jobs WHERE id IN (${chainOf(tx, id)}) AND retry_of IS NULL FOR UPDATE`;
  const [running] = await tx<{ id: string; status: string; retry_of: string }[]>`
    SELECT id, status, retry_of FROM jobs WHERE id IN (${chainOf(tx, id)}) AND status IN ('pending', 'running') ORDER BY created_at LIMIT 1`;
  if (running) {
    throw new ConflictError(`cannot retry job ${id}: job ${running.id}, a retry of ${running.retry_of === id ? "it" : `job ${running.retry_of}`}, is ${running.status}; retry once it ends`);
  }
}

/** The item statuses a retry runs again: what a finished or aborted job did not get done. */
export const RETRIED_ITEM_STATUSES = ["failed", "errored", "skipped"] as const;
export type RetriedItemStatus = (typeof RETRIED_ITEM_STATUSES)[number];

/**
 * Submits a job that runs again the items of job `id` that failed, ended in an error or were
 * skipped by an abort (`statuses`: only those; default all three) — as they stand now: a target's
 * outcome is its latest item's in the job's chain of retries (chainOf), so that retrying a job
 * after a retry of it ran runs what is still not done, not what that retry did: the same task data —
 * features, params, band, expiration — and priority unless `priority` gives another, its targets those items' targets (recordings
 * or clips, as the items name them), `retry_of` naming job `id`. Targets archived, trashed or
 * deleted since are left out (`leftOut`), as a dataset's job leaves out its archived recordings:
 * archiving the file that failed and retrying the rest is the usual way to finish a job.
 * ConflictError while job `id` is archived or trashed (read-only), while it or a job of its chain is pending or running, when none of its items has those statuses
 * or none of their targets is left, when more than MAX_JOB_TARGET_IDS have (a dataset's job
 * may have more items than a job may name targets), or when the job's parameters can compute none
 * of those targets (refusedRetry). `nameParam`: how that refusal names a parameter (ParamNamer).
 */
export async function retryExtractJob(sql: Sql, boss: PgBoss, id: string, r: { statuses?: readonly RetriedItemStatus[]; priority?: number; created_by: string | null; nameParam?: ParamNamer }): Promise<{ job: Job; leftOut: ItemTarget[] }> {
  const job = await getJob(sql, id);
  if (job.status === "pending" || job.status === "running") throw new ConflictError(`cannot retry job ${id}: it is ${job.status} (only a completed or aborted job can be)`);
  // An archived or trashed job is read-only (409), before its outcomes are read; checked again where the retry is written.
  await assertWritable(sql, "jobs", id);
  // Before the outcomes are read: a retry still running has not settled its items.
  await refuseUnfinishedRetry(sql, id);
  const statuses = r.statuses ?? RETRIED_ITEM_STATUSES;
  const named = statuses.join(", ").replace(/, ([^,]*)$/, " or $1");
  // Each target's latest outcome in the chain (by its job's creation: a later retry's replaces the job's own), read
  // beside every item of the chain in one pass (a window over the target's items) and kept on job `id`'s items: not
  // a join of the items back to the latest, which the planner, misjudging the rows of their jsonb keys when statistics
  // are stale (the embedded database never gathers them), ran as a nested loop — items × items, minutes at 100,000.
  // Its state with its parents' through joins (joinedLineage), not looked up item by item; a target deleted joins nothing.
  const [clips, recordings] = [joinedLineage(sql, "clips", "c"), joinedLineage(sql, "recordings", "r")];
  const items = await sql<{ target: ItemTarget; available: boolean }[]>`
    WITH outcomes AS (
      SELECT i.job_id, i.item, i.target, first_value(i.status) OVER (
        PARTITION BY i.target->>'kind', i.target->>'id' ORDER BY j.created_at DESC, j.id DESC) AS latest
      FROM job_items i JOIN jobs j ON j.id = i.job_id WHERE j.id IN (${chainOf(sql, id)})
    )
    SELECT o.target, CASE WHEN o.target->>'kind' = 'clip'
      THEN c.id IS NOT NULL AND ${clips.inState("active")}
      ELSE r.id IS NOT NULL AND ${recordings.inState("active")} END AS available
    FROM outcomes o
    LEFT JOIN (clips c ${clips.joins}) ON o.target->>'kind' = 'clip' AND c.id = (o.target->>'id')::uuid
    LEFT JOIN (recordings r ${recordings.joins}) ON o.target->>'kind' = 'recording' AND r.id = (o.target->>'id')::uuid
    WHERE o.job_id = ${id} AND o.latest = ANY(${statuses as string[]}) ORDER BY o.item`
    .then((rows) => rows.map((row) => ({ ...row.target, available: row.available })));
  if (!items.length) {
    const [later] = await sql<{ id: string }[]>`SELECT id FROM jobs WHERE id IN (${chainOf(sql, id)}) AND created_at > (SELECT created_at FROM jobs WHERE id = ${id}) ORDER BY created_at DESC LIMIT 1`;
    throw new ConflictError(`cannot retry job ${id}: none of its items is ${named}${later ? ` since its retries (the latest: job ${later.id})` : ""}`);
  }
  const kept = items.filter((i) => i.available);
  const leftOut = items.filter((i) => !i.available).map(({ available: _, ...target }) => target);
  if (!kept.length) throw new ConflictError(`cannot retry job ${id}: the targets of its ${named} items are all archived, trashed or deleted since; restore them first`);
  if (kept.length > MAX_JOB_TARGET_IDS) throw new ConflictError(`cannot retry job ${id}: ${kept.length} of its items are ${named}, more than the ${MAX_JOB_TARGET_IDS} targets a job may name: submit them in parts (GET /v1/jobs/${id}/items lists them)`);
  const ids = kept.map((i) => i.id);
  const data = extractFeaturesData.parse(job.data);
  const retry = await submitExtractJob(sql, boss, {
    data: { ...data, targets: items[0].kind === "clip" ? { clip_ids: ids } : { recording_ids: ids } },
    priority: r.priority ?? job.priority, created_by: r.created_by, retry_of: id, nameParam: r.nameParam,
  }).catch((err) => {
    throw err instanceof InvalidError ? refusedRetry(id, kept.length, named, items[0].kind, err, r.nameParam ?? ((param) => param)) : err;
  });
  return { job: retry, leftOut };
}

/**
 * Why job `id` cannot be retried when the submission of its `count` items (`named` their statuses,
 * of targets of `kind`) was refused (`refusal`): NothingComputableError when none of them can be
 * computed — clips in which no frame of the job's window and hop is centred, parameters no target's
 * recording can take, recordings that hold no sample —, else what was refused (the work limit, a
 * target gone meanwhile), not said of them all. A retry keeps the job's parameters and takes none
 * (the API's `data.params.hop_size`, said of a retry, named a change it cannot make). Where the
 * reason is a parameter or the band, the way on is a new job of those targets with others; that
 * job is no retry, so its rows stay out of the chain's merged table (`jobs download --chain`).
 */
function refusedRetry(id: string, count: number, named: string, kind: ItemTarget["kind"], refusal: InvalidError, nameParam: ParamNamer): ConflictError {
  const param = (field: string) => /^data\.params\.(.+)$/.exec(field)?.[1] as keyof Params | undefined;
  const reasons = refusal.fields.map((f) => `${param(f.field) ? nameParam(param(f.field)!) : f.field.replace(/^data\./, "")}: ${f.message}`).join("; ");
  const items = `its ${count} ${named} ${count === 1 ? "item" : "items"}`;
  const lead = refusal instanceof NothingComputableError
    ? `cannot retry job ${id}: ${items} cannot be computed with the job's parameters, which a retry keeps — ${reasons}`
    : `cannot retry job ${id}: a job of ${items} with the job's parameters, which a retry keeps, is refused — ${reasons}`;
  // Recordings that hold no sample: no parameters compute them.
  if (!refusal.fields.some((f) => param(f.field) || f.field === "data.band")) return new ConflictError(lead);
  const targets = count === 1 ? kind : `${kind}s`;
  return new ConflictError(`${lead}. Submit ${count === 1 ? "its" : "their"} ${targets} as a new job with the parameters that reason gives: `
    + `sonotile jobs submit --${kind}s ID,… with them (POST /v1/jobs; GET /v1/jobs/${id}/items lists the ${targets}). `
    + `That job is no retry of job ${id}: its rows are in its own features.csv (sonotile jobs download <its id>), computed with other parameters (its provenance.json names them), `
    + `not in the table jobs download --chain merges of job ${id} and its retries`);
}

/**
 * Aborts a job: pending or running → aborted, its pending items skipped (workers that fetch
 * them do nothing), the feature table of the items done and its metrics stored as a completed
 * job's are (storeJobResults: the work done is kept), its run failed — all in one transaction, as
 * a job's completion is: the run ended after the commit was left `running` for ever when that
 * statement failed (the database gone, the CLI interrupted). Items a worker is computing right
 * now finish but change nothing once the job is aborted: an item is settled under the job row's
 * lock, which the abort takes first. Its message says what the abort left, then `message`, the
 * reason given (jobMessage: `aborted: 99 of 305 items done, 206 skipped; why: …`).
 */
export async function abortExtractJob(sql: Sql, id: string, message?: string): Promise<Job> {
  return sql.begin(async (tx) => {
    await abortJob(tx, id);
    await tx`UPDATE job_items SET status = 'skipped', finished_at = now() WHERE job_id = ${id} AND status = 'pending'`;
    const items = await endedItems(tx, id);
    const aborted = await setJobMessage(tx, id, jobMessage(items, { why: message }));
    const data = extractFeaturesData.parse(aborted.data);
    await storeJobResults(tx, aborted, { items, features: jobFeatures(data), clips: "clip_ids" in data.targets, clipBands: data.band === CLIP_BAND, expirationDelay: data.expiration_delay, params: parseParams(data.params ?? {}), band: data.band ?? null });
    if (aborted.run_id) await finishRun(tx, aborted.run_id, "failed");
    return aborted;
  });
}
