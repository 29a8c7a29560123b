/**
 * Executes extraction items taken from the pg-boss queue (src/jobs/queue.ts) — the body of
 * `sonotile worker`, and of in-process workers in tests.
 *
 * Exactly-once effect over at-least-once delivery: an item's feature values are upserted per
 * (target, feature name) and its row leaves 'pending' in the same transaction, which first
 * locks the job row (abort takes the same lock), then the item row; a second delivery of a
 * finished item (its first worker died after committing) finds it no longer pending and
 * writes nothing, and progress advances only on that one transition. A worker settles the
 * outcomes its items reach together in one such transaction (Settler: each item's checks and
 * writes as if alone, the jobs' and items' rows locked in one order), so that short items do
 * not each pay a transaction (nor a statement each: a batch's targets are read, and a group's
 * rows written, together), and looks whether a job is done once its progress says so. The
 * worker that finishes the last item completes the job — a conditional status change, so only one
 * does — and writes the feature-table artifact. An item whose deliveries all died without
 * recording an outcome reaches the dead-letter queue, and is recorded from there as ended in an
 * error (a job with such an item, or one whose thread crashed on every attempt, has the result
 * `error`; one whose inputs could not be used, `failure`).
 *
 * An item computes its target as it is when the item runs, not as it was at submission: the
 * recording's time expansion and a clip's bounds are read again (a PATCH while the item waited
 * counts), and checked once more, locked, in the transaction that writes the values — values of
 * a target changed meanwhile are computed again. A target archived, trashed or deleted since
 * the submission can never take its values: the item fails at once, saying so, and is not
 * retried; so does one whose file resolves outside its dataset's audio_dir, or was
 * replaced since registration (another size, or another MD5 once its mtime moved), as the API
 * refuses to serve it. A file whose size or mtime moved while it was computed is checked so again
 * and computed again (the same bytes, touched) or failed (other bytes): values are stored only with
 * the MD5 of the bytes they were computed from, as is the engine version that computed them
 * (migration 021). An abort skips the job's pending items, and the ones being computed are
 * cancelled within seconds (unlessSkipped).
 *
 * Workers on several machines (SPEC §6, §7): a file this machine cannot find or read — or its
 * dataset's audio_dir missing here — is a fact about the machine (a share not mounted), not
 * about the file, so the item is left for a worker on another host (leaveForAnotherHost), and
 * fails only once no worker runs on a host that has not tried it (one machine: at once); such a
 * take counts no delivery. Every worker registers in `job_workers` while it runs (a stopping one
 * until its items in hand are done), and every item settled records the host and pid of its worker.
 */
import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { JobResult, JobWithMetadata, PgBoss } from "pg-boss";
import type { CheckedFile } from "../audio/source.js";
import { plural } from "../audio/types.js";
import { RECORDING_TIME_EXPANSION } from "../audio/expansion.js";
import { parseParams } from "../engine/params.js";
import { VERSION } from "../engine/version.js";
import { MEL_FEATURE, type FeatureValues } from "../features/features.js";
import { inTransaction } from "../store/common.js";
import { connectionErrorText, isConnectionError, type DatabaseOutageLog, type Queryable, type Sql } from "../store/db.js";
import { ConflictError, InvalidError } from "../store/errors.js";
import { putFeatureValues, type TargetFeatureInput } from "../store/features.js";
import { completeJob, countItemsDone, getJob, startJob, type ItemTarget, type Job } from "../store/jobs.js";
import { getRecordingLocations, recordingFileNow, type RecordingLocation } from "../store/recordings.js";
import { finishRun } from "../store/runs.js";
import { TilePool } from "../tiles/pool.js";
import { CLIP_BAND, DEAD_ITEM_QUEUE, ITEM_QUEUE, ITEM_RETRY_LIMIT, bossDatabase, extractFeaturesData, jobFeatures, openQueue, targetBand, type ExtractFeaturesData, type ItemMessage } from "./queue.js";
import type { FeaturesTaskResult } from "../features/task.js";
import { featuresOnFreshCore } from "./extract.js";
import { endedItems, jobMessage, storeJobResults, targetName, type EndedItem, type StoredValues } from "./results.js";
import { announceItemsQueued, onItemsQueued } from "./wakeup.js";

export interface WorkerOptions {
  sql: Sql;
  /** Feature threads (default one per core). */
  threads?: number;
  /** A pool to compute on instead of one of its own (the caller closes it); `threads` and `filterCacheBytes` are then ignored. */
  pool?: TilePool;
  /** Bytes of resampling filters each thread of its own pool keeps (PoolOptions.filterCacheBytes). */
  filterCacheBytes?: number;
  /**
   * Seconds between polls of an empty queue (default 1). Items queued meanwhile wake the worker
   * at once when it can hear of them (src/jobs/wakeup.ts); the poll takes the others.
   */
  pollingIntervalSeconds?: number;
  /**
   * The host name this worker goes by (default `os.hostname()`): recorded with the items it
   * settles, and what tells machines apart when an item's file is missing on one. Tests give
   * in-process workers distinct names to play several machines.
   */
  host?: string;
  /** Where the worker tells its operator what they must fix (default: standard error). */
  log?: (message: string) => void;
  /** Where it says a database outage, if not in `log`: the outage log it shares with the process's API (QueueOptions.outage). */
  outage?: DatabaseOutageLog;
}

export interface ExtractWorker {
  /**
   * Stops taking items, finishes the ones being computed (the items in hand not yet begun go back
   * to the queue at once, their deliveries uncounted: handBack), releases the pool and the queue —
   * giving up on the queue's statements a database that does not answer holds (STOP_WITHOUT_DATABASE_MS), and
   * on the items in hand once the database is found gone (databaseGone): their computations are
   * cancelled and the log names them. Resolves to the number of items in hand whose outcome it
   * could not record (0: every one was recorded); they come back through the queue.
   */
  stop(): Promise<number>;
}

/**
 * What an item's computation gave: its values; or why its input could not be used (`failed`,
 * the job's result `failure`), or the computation kept breaking whatever the input (`errored`:
 * a worker thread that crashed on every attempt, deliveries whose workers all died — the job's
 * result `error`). Values carry the MD5 of the recording's bytes they were computed from (the
 * registered hash, the file checked to hold it before the computation and found unchanged after).
 */
type Outcome = { values: FeatureValues; recording_hash: string } | { error: string; errored?: true };

/**
 * Computations of one delivery of an item whose target keeps changing while it is computed
 * (each change made between the read of the target and the write of its values).
 */
const MAX_COMPUTATIONS = 3;

/**
 * Milliseconds between checks, while an item is computed, that it is still pending: an abort
 * skips the job's pending items (abortExtractJob), and the items in hand then stop within this
 * time instead of running to their end — an item is a whole recording, which may take minutes.
 * (Polled: LISTEN/NOTIFY does not reach the embedded database's clients.) Also between a stopping
 * worker's checks that its database still answers (databaseGone).
 */
const SKIP_CHECK_MS = 2000;

/** Batches of items a worker holds at once (one pg-boss worker each): each fetched while the other computes. */
const BATCHES_IN_HAND = 2;

/** Seconds between a worker's refreshes of its `job_workers` row. */
const WORKER_BEAT_S = 5;
/** A `job_workers` row not refreshed for this many seconds is a worker that died. */
const WORKER_LAPSE_S = 30;
/**
 * Milliseconds a worker that has just left an item for another host waits before taking more.
 * A badly mounted machine finds files missing in an instant: without the pause it would take
 * nearly every item of a job — and use up their deliveries — while the others compute theirs.
 */
const RELEASE_PAUSE_MS = 5000;
/**
 * Milliseconds a stopping worker, its items in hand done, gives the rest of its stop — its queue's
 * fetch in flight, pg-boss's own stop, removing its `job_workers` row — when the database does not
 * answer (a partition, a stopped server: no error, only silence). Each waited for its statement:
 * `serve` and `sonotile worker` given SIGTERM 5 s into a 60 s stop of their PostgreSQL (SIGSTOP)
 * exited only once it answered again, 55 s later, and never through a stop that did not end. What
 * such a statement does when it lands — items fetched for a worker gone — comes back to the queue
 * once their heartbeat lapses, as a killed worker's items do.
 *
 * Also how long a stopping worker waits for its database to answer before it gives up on the items
 * in hand (databaseGone): a worker given SIGTERM while its database was stopped or held waited for
 * it with them — its outcomes unwritable — for as long as the outage lasted (for ever through a
 * partition that did not heal), said nothing of them, and exited 0.
 */
const STOP_WITHOUT_DATABASE_MS = 10_000;

/** The worker that settles an item, as `job_items` records it. */
interface WorkerIdentity {
  host: string;
  pid: number;
}

/** Starts taking items from the queue until `stop()`. */
export async function startWorker(options: WorkerOptions): Promise<ExtractWorker> {
  const { sql } = options;
  const by: WorkerIdentity = { host: options.host ?? hostname(), pid: process.pid };
  const log = options.log ?? ((message: string) => process.stderr.write(`sonotile worker: ${message}\n`));
  // An item is a whole recording, which may last hours: no time limit (a stuck worker is
  // found by its heartbeat instead).
  const pool = options.pool ?? new TilePool({ threads: options.threads, taskTimeoutMs: 2 ** 31 - 1, filterCacheBytes: options.filterCacheBytes });
  const boss = await openQueue(sql, { supervise: true, listen: true, log, outage: options.outage });
  const leave = await announceWorker(sql, by);
  // Until when this worker takes no items (RELEASE_PAUSE_MS after it left one for another host),
  // and the wait for it, after which a fetcher fetches again.
  let pausedUntil = 0;
  const stopping = new AbortController();
  // Fired by a stop that finds the database gone: the items in hand are given up.
  const abandon = new AbortController();
  const ctx: ItemContext = {
    sql, pool, boss, by, log, missingDirs: new Set(), settle: settler({ sql, by }), pauseTaking: () => (pausedUntil = Date.now() + RELEASE_PAUSE_MS), abandoned: abandon.signal,
    computingPlace: computingPlaces(pool.threads, stopping.signal),
  };
  // The items of a stop whose outcome did not reach the database — given up, or its write refused
  // (`refused`: the first such error) — by "job_id item": their names (itemName).
  const notRecorded = new Map<string, string>();
  let refused: string | undefined;
  const noteIfNotRecorded = (msg: ItemMessage, target: ItemTarget | undefined, err: unknown) => {
    if (!stopping.signal.aborted || !(abandon.signal.aborted || isConnectionError(err))) return;
    notRecorded.set(`${msg.job_id} ${msg.item}`, itemName(msg, target));
    if (!abandon.signal.aborted) refused ??= connectionErrorText(err);
  };
  // Two items in hand per thread keep every thread busy between completions; and two batches in
  // hand (BATCHES_IN_HAND) keep them busy while one batch is answered and the next fetched.
  const batchSize = pool.threads * 2;
  const pollingIntervalSeconds = options.pollingIntervalSeconds ?? 1;
  const pause = () => sleep(pausedUntil - Date.now(), undefined, { signal: stopping.signal }).catch(() => {});
  // The batches in hand (their handlers running), which a stop waits for.
  const inHand = new Set<Promise<unknown>>();
  const holding = <T>(batch: Promise<T>): Promise<T> => {
    inHand.add(batch);
    batch.then(() => inHand.delete(batch), () => inHand.delete(batch));
    return batch;
  };
  const jobOf = runningJobs(sql);
  const takeBatch = async (jobs: JobWithMetadata<ItemMessage>[]): Promise<JobResult[]> => {
    if (Date.now() < pausedUntil || stopping.signal.aborted) {
      // Fetched by this worker's other fetcher — woken, as every worker is, by the item left for
      // another host going back to the queue — or by a fetch that landed once the worker was
      // stopping: given back, as new messages that count no delivery, for the other workers.
      await unlessAbandoned(boss.insert(ITEM_QUEUE, jobs.map((j) => ({ data: j.data, priority: j.priority }))), ctx.abandoned);
      await pause();
      return jobs.map((j) => ({ id: j.id, status: "completed" }));
    }
    // The batch's items claimed in one statement (their jobs read, and started, once: runningJobs).
    const claimed = claimItems(sql, jobs.map((j) => j.data));
    // The claimed targets as they are now, with their files' locations, read together.
    const looked = claimed.then((targets) => lookUpTargets(sql, [...targets.values()]));
    looked.catch(() => {}); // each item's own await reports it
    const results = await Promise.all(jobs.map(async (job): Promise<JobResult> => {
      let target: ItemTarget | undefined;
      try {
        target = (await unlessAbandoned(claimed, ctx.abandoned)).get(`${job.data.job_id} ${job.data.item}`);
        const now = target && (await unlessAbandoned(looked, ctx.abandoned)).get(targetKey(target));
        await unlessAbandoned(processItem(ctx, job.data, target && { claimed: target, now: now! }, { retryCount: job.retryCount, retryLimit: job.retryLimit }, jobOf), ctx.abandoned);
        return { id: job.id, status: "completed" };
      } catch (err) {
        noteIfNotRecorded(job.data, target, err);
        // pg-boss keeps this message with the delivery only, and the item's final error (giveUpItem)
        // cannot name it: the operator learns here why (a full disk's 53100 read as a dead worker).
        if (!stopping.signal.aborted) log(`${itemName(job.data, target)}: delivery ${job.retryCount + 1} of ${job.retryLimit + 1} failed: ${(err as Error).message}`);
        return { id: job.id, status: "failed", output: { message: (err as Error).message } };
      }
    }));
    // The next batch is fetched once this one is answered.
    if (Date.now() < pausedUntil) await pause();
    return results;
  };
  // One pg-boss worker per batch in hand, each by its id: items queued in this process wake them
  // all (boss.notifyWorker), as a NOTIFY from another process does. Notifications keep the
  // polling interval: they are a hint, and the poll takes what they do not announce.
  const fetchers: string[] = [];
  for (let i = 0; i < BATCHES_IN_HAND; i++) {
    fetchers.push(await boss.work(ITEM_QUEUE, {
      batchSize, includeMetadata: true, perJobResults: true, burstWhenBatchFull: true, pollingIntervalSeconds, notifyPollingIntervalSeconds: pollingIntervalSeconds,
    }, (jobs: JobWithMetadata<ItemMessage>[]) => holding(takeBatch(jobs))));
  }
  const deaf = onItemsQueued(() => fetchers.forEach((id) => boss.notifyWorker(id)));
  await boss.work(DEAD_ITEM_QUEUE, { includeMetadata: true, pollingIntervalSeconds },
    async ([job]: JobWithMetadata<ItemMessage>[]) => holding(unlessAbandoned(giveUpItem(ctx, job.data), ctx.abandoned).catch((err) => {
      noteIfNotRecorded(job.data, undefined, err);
      throw err;
    })));
  return {
    async stop() {
      stopping.abort();
      deaf();
      const queueStopped = (async () => {
        await boss.offWork(DEAD_ITEM_QUEUE, { wait: true });
        await boss.offWork(ITEM_QUEUE, { wait: true });
        await boss.stop({ graceful: true, close: false });
        // Out of `job_workers` only now, its items done: while it drains, an item another host
        // cannot read waits for this host — a restart (a deploy) is back before its row lapses
        // (WORKER_LAPSE_S), where leaving at the stop's start failed such items for the whole drain.
        await leave();
        return true;
      })();
      queueStopped.catch(() => {}); // a failure after the stop gave up on it: the stop is over
      // While items are in hand, whether the database still answers: once it does not, they are
      // given up — their outcomes could not be written — and the queue's stop is not waited for.
      const itemsDone = new AbortController();
      const gone = databaseGone(sql, itemsDone.signal);
      void gone.then((why) => why && abandon.abort(new Error(`the database is gone (${why})`)));
      while (inHand.size) await Promise.allSettled(inHand);
      itemsDone.abort();
      const why = await gone;
      if (notRecorded.size) {
        const n = notRecorded.size;
        const names = [...notRecorded.values()].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
        log(`stopping without the database (${why ?? refused}): ${plural(n, "item")} in hand not recorded — ${names.join(", ")}; ${n > 1 ? "they go" : "it goes"} back to the queue once ${n > 1 ? "their" : "its"} heartbeat lapses, for another worker (or this one restarted) to compute`);
      }
      if (!why && !(await Promise.race([queueStopped, sleep(STOP_WITHOUT_DATABASE_MS, false, { ref: false })]))) {
        log(`stopping without the database: no answer within ${STOP_WITHOUT_DATABASE_MS / 1000} s of the items in hand being done (items it fetches meanwhile return to the queue once their heartbeat lapses)`);
      }
      if (!options.pool) await pool.close();
      return notRecorded.size;
    },
  };
}

/**
 * Registers a worker in `job_workers` and refreshes its row every WORKER_BEAT_S (writing it
 * again if it was removed), clearing on the way the rows of workers dead for an hour. Returns
 * the function that removes it, as the worker stops: after the beat in flight, if any, which
 * would write it again.
 */
async function announceWorker(sql: Sql, by: WorkerIdentity): Promise<() => Promise<void>> {
  const id = randomUUID();
  const beat = () => sql`INSERT INTO job_workers (id, host, pid) VALUES (${id}, ${by.host}, ${by.pid}) ON CONFLICT (id) DO UPDATE SET seen_at = now()`;
  await sql`DELETE FROM job_workers WHERE seen_at < now() - interval '1 hour'`;
  await beat();
  // The database out of reach: the next beat tries again (the row lapses meanwhile).
  let beating: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => (beating = beat().catch(() => {})), WORKER_BEAT_S * 1000);
  return async () => {
    clearInterval(timer);
    await beating;
    await sql`DELETE FROM job_workers WHERE id = ${id}`.catch(() => {}); // else it lapses
  };
}

/**
 * Why `sql`'s database is gone — `SELECT 1` refused (a connection error) or unanswered within
 * STOP_WITHOUT_DATABASE_MS (a partition, a stopped server) — asked again SKIP_CHECK_MS after each
 * answer; null once `until` fires first.
 */
async function databaseGone(sql: Sql, until: AbortSignal): Promise<string | null> {
  while (!until.aborted) {
    const answered = new AbortController();
    const why = await Promise.race([
      sql`SELECT 1`.then(() => null, (err: unknown) => (isConnectionError(err) ? connectionErrorText(err) : null)),
      sleep(STOP_WITHOUT_DATABASE_MS, `no answer within ${STOP_WITHOUT_DATABASE_MS / 1000} s`, { signal: AbortSignal.any([until, answered.signal]) }).catch(() => null),
    ]);
    answered.abort();
    if (why) return why;
    await sleep(SKIP_CHECK_MS, undefined, { signal: until }).catch(() => {});
  }
  return null;
}

/**
 * `work`, or its rejection with the reason of `abandoned` as soon as that fires: a stop that found
 * the database gone waits no longer for an item's statements (nothing can cancel them).
 */
function unlessAbandoned<T>(work: Promise<T>, abandoned: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const giveUp = () => reject(abandoned.reason);
    if (abandoned.aborted) giveUp();
    abandoned.addEventListener("abort", giveUp, { once: true });
    void work.then(resolve, reject).finally(() => abandoned.removeEventListener("abort", giveUp));
  });
}

/** An item as a stopping worker's log names it: its job and number, and its target once claimed. */
function itemName(msg: ItemMessage, target: ItemTarget | undefined): string {
  return `job ${msg.job_id} item ${msg.item}${target ? ` (${targetName(target)})` : ""}`;
}

interface ItemContext {
  sql: Sql;
  pool: TilePool;
  boss: PgBoss;
  /** This worker, as the items it settles record it. */
  by: WorkerIdentity;
  log: (message: string) => void;
  /** The audio_dirs this worker has said it lacks: each is said once. */
  missingDirs: Set<string>;
  /** Writes an item's outcome (settler, settleGroup), together with the others' ready at the same time. */
  settle: (request: SettleRequest) => Promise<"settled" | "changed">;
  /**
   * Stops this worker taking items for RELEASE_PAUSE_MS: called before an item goes back to the
   * queue for another host (leaveForAnotherHost), so that its other fetcher, which that wakes, does
   * not take the item back — paused only once the item was back, it did under load, counting a
   * delivery on the host that had just found the file missing.
   */
  pauseTaking: () => void;
  /** Fires when a stopping worker finds its database gone: the items in hand are given up, their computations cancelled. */
  abandoned: AbortSignal;
  /**
   * A place on one of the pool's threads for an item's computation (computingPlaces), resolving
   * to its release; null once the worker is stopping: the item is given back (handBack).
   */
  computingPlace: () => Promise<(() => void) | null>;
}

/**
 * Counts a delivery (`attempts`) of each of the items `messages` name that is still pending, in one
 * statement; their targets, by "job_id item".
 */
async function claimItems(sql: Sql, messages: readonly ItemMessage[]): Promise<Map<string, ItemTarget>> {
  const rows = await sql<{ job_id: string; item: number; target: ItemTarget }[]>`
    UPDATE job_items SET attempts = attempts + 1
    WHERE (job_id, item) IN (SELECT * FROM unnest(${messages.map((m) => m.job_id)}::uuid[], ${messages.map((m) => m.item)}::int[])) AND status = 'pending'
    RETURNING job_id, item, target`;
  return new Map(rows.map((r) => [`${r.job_id} ${r.item}`, r.target]));
}

/**
 * One delivery of an item: `item` its target as claimed (claimItems) and as it was then
 * (lookUpTargets), or undefined when it was no longer pending. Resolves when the item is settled
 * (done, failed for good, or nothing to do), or left for a worker on another host; throws when a
 * retry may succeed and retries remain.
 */
async function processItem(ctx: ItemContext, msg: ItemMessage, item: { claimed: ItemTarget; now: TargetNow } | undefined, delivery: { retryCount: number; retryLimit: number }, jobOf: (id: string) => Promise<Job>): Promise<void> {
  const { sql } = ctx;
  // Settled by an earlier delivery — whose worker may have died before completing the job — or
  // skipped by an abort: nothing to compute, but the job may still need completing.
  if (!item) return finishJobIfDone(ctx, msg.job_id);
  const target = item.claimed;
  const job = await jobOf(msg.job_id);
  if (job.status !== "running") return;

  const data = extractFeaturesData.parse(job.data);
  const features = jobFeatures(data);
  for (let computations = 1; ; computations++) {
    // Read again for each computation after the first: the target changed meanwhile.
    const current = computations === 1 ? item.now : (await lookUpTargets(sql, [target])).get(targetKey(target))!;
    const readable = "problem" in current ? current : await readableTarget(ctx, current.target, current.loc);
    if ("problem" in readable) {
      const error = "here" in readable ? await leaveForAnotherHost(ctx, job, msg, readable.problem) : readable.problem;
      if (error === null) return;
      await ctx.settle({ job, item: msg.item, target, features, outcome: { error } });
      return;
    }
    // Computed once it has a thread (computingPlaces): a worker stopping before then gives it back.
    const release = await ctx.computingPlace();
    if (!release) return handBack(ctx, job, msg);
    // An abort while it waited for its place skipped it: not begun at all, rather than dropped at
    // the first of computeItem's checks (SKIP_CHECK_MS), a place's time per item in hand. The place
    // is given back however that check or the computation ends: a check that met a database outage
    // kept it for good, and `worker -j 1` computed nothing more once the database was back.
    let outcome: Awaited<ReturnType<typeof computeItem>>;
    try {
      outcome = (await isPending(ctx.sql, msg)) ? await computeItem(ctx, msg, readable, data, delivery) : null;
    } finally {
      release();
    }
    if (outcome === null) return; // skipped by an abort, before or while computed
    if ("changed" in outcome) {
      // Written while it was read (in place: another take copied over it, a sync tool): values of
      // no one content, or a decoding failure that is not the file's. Checked again from the top
      // (readableTarget): other content fails the item, naming the recording and the refresh that
      // makes it its content; the same bytes (touched) are computed again.
      if (computations < MAX_COMPUTATIONS) continue;
      outcome = { error: `the file of recording ${target.recording_id} (${target.recording_path}) changed while its features were computed, ${MAX_COMPUTATIONS} times; run the job again once it no longer changes` };
    }
    // The last computation: a target changed again meanwhile fails, saying so.
    const ifChanged = computations < MAX_COMPUTATIONS || {
      error: `its ${target.kind === "clip" ? "bounds or its recording's " : ""}time expansion changed while it was computed, ${MAX_COMPUTATIONS} times; run the job again once it no longer changes`,
    };
    if ((await ctx.settle({ job, item: msg.item, target: readable.target, features, outcome, computedFrom: ifChanged })) === "settled") return;
  }
}

/**
 * The worker's places on its pool's `count` threads: an item computes once it holds one, and
 * waits its turn for one otherwise — so that a stop tells the items being computed, which it
 * finishes, from those only in hand, which it gives back (handBack). Without them every item in
 * hand (2 per thread per batch, BATCHES_IN_HAND batches) waited in the pool's own queue, and a
 * stop computed them all: `worker -j 1` given SIGTERM 4 s into an item of 13 s exited 58 s later,
 * having computed 4 items, 3 of them not begun when it was told to stop. Resolves to the place's
 * release, or null once `stopping` fires (then or while waiting).
 */
function computingPlaces(count: number, stopping: AbortSignal): () => Promise<(() => void) | null> {
  let free = count;
  const waiting: ((release: (() => void) | null) => void)[] = [];
  const place = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      if (next) next(place());
      else free++;
    };
  };
  stopping.addEventListener("abort", () => waiting.splice(0).forEach((wait) => wait(null)), { once: true });
  return () => {
    if (stopping.aborted) return Promise.resolve(null);
    if (free === 0) return new Promise((resolve) => waiting.push(resolve));
    free--;
    return Promise.resolve(place());
  };
}

/**
 * An item a stopping worker holds but has not begun computing (computingPlaces): back in the
 * queue at once, no delivery counted (putBack), for another worker to take now rather than once
 * this one's running items end.
 */
async function handBack(ctx: ItemContext, job: Job, msg: ItemMessage): Promise<void> {
  if (await ctx.sql.begin((tx) => putBack(tx, ctx.boss, job, msg))) announceItemsQueued(); // this process's other workers (a NOTIFY reaches the others')
}

/**
 * The features of `target`; `changed` when its file was written while it was read (the pool's
 * thread checks it once its read has ended: FeaturesTask.checked — there, so that the items that
 * finish together are settled together); or null when an abort skipped the item meanwhile (its
 * computation is then cancelled). Throws when a retry may succeed and retries remain.
 */
async function computeItem(ctx: ItemContext, msg: ItemMessage, readable: ReadableTarget, data: ExtractFeaturesData, delivery: { retryCount: number; retryLimit: number }): Promise<Outcome | { changed: string } | null> {
  const { target } = readable;
  try {
    // A thread whose core had no room is replaced, and the item computed again here on another
    // (featuresOnFreshCore) before a delivery is spent on it.
    const result = await unlessSkipped(ctx.sql, msg, (signal) => featuresOnFreshCore(ctx.pool, {
      kind: "features", path: target.path, exactPath: true, checked: readable.checked, timeExpansion: target.time_expansion, timeExpansionName: RECORDING_TIME_EXPANSION, params: parseParams(data.params ?? {}),
      target: { ...(target.kind === "clip" ? { start: target.start, end: target.end } : {}), ...targetBand(data.band, target) },
    }, AbortSignal.any([signal, ctx.abandoned])));
    if (result === null) return null;
    if ("changed" in result) return result;
    return "values" in result ? { values: result.values, recording_hash: readable.hash } : { error: result.failure };
  } catch (err) {
    // Given up by a stop: not the computation's failure, and nothing to record.
    if (ctx.abandoned.aborted || delivery.retryCount < delivery.retryLimit) throw err;
    return { error: `failed after ${delivery.retryCount + 1} attempts: ${(err as Error).message}`, errored: true };
  }
}

/** Whether item `msg` is still pending (not skipped by an abort, not settled by another delivery). */
async function isPending(sql: Sql, msg: ItemMessage): Promise<boolean> {
  const [row] = await sql<{ status: string }[]>`SELECT status FROM job_items WHERE job_id = ${msg.job_id} AND item = ${msg.item}`;
  return row?.status === "pending";
}

/**
 * `compute(signal)`, the signal fired once the item is no longer pending (checked every
 * SKIP_CHECK_MS); null if that happened, whatever the computation gave.
 */
async function unlessSkipped<T>(sql: Sql, msg: ItemMessage, compute: (signal: AbortSignal) => Promise<T>): Promise<T | null> {
  const skipped = new AbortController();
  const check = setInterval(() => {
    isPending(sql, msg)
      .then((pending) => { if (!pending) skipped.abort(); })
      .catch(() => {}); // the database out of reach: the item goes on, and the next check looks again
  }, SKIP_CHECK_MS);
  try {
    const result = await compute(skipped.signal);
    return skipped.signal.aborted ? null : result;
  } catch (err) {
    if (skipped.signal.aborted) return null;
    throw err;
  } finally {
    clearInterval(check);
  }
}

/**
 * The items' targets as they are now — the recording's time expansion and a clip's bounds, which
 * may have changed since the job was submitted — or, for each whose values can never be written
 * (it, its recording or its dataset archived or trashed, or it deleted), why, as a person can act
 * on it; by targetKey, one statement per kind of target (a batch's targets together). With `lock`
 * (inside a transaction), their rows and those of what they belong to are locked first
 * (lockTargets): neither their time expansions, bounds nor states change before that commits.
 * (Outside one a lock would end with the statement, and cost a transaction id and a WAL flush.)
 */
async function targetsNow(db: Queryable, targets: readonly ItemTarget[], lock: boolean): Promise<Map<string, { target: ItemTarget } | { problem: string }>> {
  type Row = TargetRow & { id: string };
  const ids = (kind: ItemTarget["kind"]) => [...new Set(targets.filter((t) => t.kind === kind).map((t) => t.id))];
  const [clips, recordings] = [ids("clip"), ids("recording")];
  if (lock) await lockTargets(db, clips, recordings);
  const rows = new Map<string, Row>();
  if (clips.length) {
    for (const row of await db<Row[]>`
        SELECT c.id, r.time_expansion, c.start_time, c.end_time, c.low_freq, c.high_freq, d.name AS dataset_name, d.state AS dataset_state, r.state AS recording_state, c.state AS clip_state
        FROM clips c JOIN recordings r ON r.id = c.recording_id JOIN datasets d ON d.id = r.dataset_id
        WHERE c.id = ANY(${clips}::uuid[]) ORDER BY c.id`) rows.set(`clip ${row.id}`, row);
  }
  if (recordings.length) {
    for (const row of await db<Row[]>`
        SELECT r.id, r.time_expansion, NULL::float8 AS start_time, NULL::float8 AS end_time, NULL::float8 AS low_freq, NULL::float8 AS high_freq, d.name AS dataset_name, d.state AS dataset_state, r.state AS recording_state, NULL::text AS clip_state
        FROM recordings r JOIN datasets d ON d.id = r.dataset_id
        WHERE r.id = ANY(${recordings}::uuid[]) ORDER BY r.id`) rows.set(`recording ${row.id}`, row);
  }
  return new Map(targets.map((target) => [targetKey(target), targetAsItIs(target, rows.get(targetKey(target)))]));
}

/**
 * Locks FOR SHARE the rows of `clips` and `recordings` (ids) and of the recordings and datasets
 * they belong to, from the top down — datasets, then recordings, then clips, each in id order —
 * as a delete takes them: its record's row, then, by cascade, what belongs to it (store/common.ts
 * lineage). Locked in one statement (FOR SHARE OF c, r, d) a settlement took each clip before its
 * recording, and a delete of the recording, holding it, waited in its cascade for the clip:
 * PostgreSQL's "deadlock detected", the whole group of settlements undone and delivered again.
 * What a target belongs to never changes, so the rows to lock are read first without locks.
 */
async function lockTargets(db: Queryable, clips: readonly string[], recordings: readonly string[]): Promise<void> {
  const above = await db<{ id: string; dataset_id: string }[]>`
    SELECT id, dataset_id FROM recordings
    WHERE id = ANY(${recordings}::uuid[]) OR id IN (SELECT recording_id FROM clips WHERE id = ANY(${clips}::uuid[]))`;
  const ids = (values: readonly string[]) => [...new Set(values)];
  await db`SELECT 1 FROM datasets WHERE id = ANY(${ids(above.map((r) => r.dataset_id))}::uuid[]) ORDER BY id FOR SHARE`;
  await db`SELECT 1 FROM recordings WHERE id = ANY(${above.map((r) => r.id)}::uuid[]) ORDER BY id FOR SHARE`;
  if (clips.length) await db`SELECT 1 FROM clips WHERE id = ANY(${clips}::uuid[]) ORDER BY id FOR SHARE`;
}

/** What targetsNow reads of a target: what its values depend on, and the states that let it take them. */
interface TargetRow {
  time_expansion: number;
  start_time: number | null;
  end_time: number | null;
  low_freq: number | null;
  high_freq: number | null;
  dataset_name: string;
  dataset_state: string;
  recording_state: string;
  clip_state: string | null;
}

/** A target's key among a batch's (targetsNow): its kind and id. */
function targetKey(target: ItemTarget): string {
  return `${target.kind} ${target.id}`;
}

/** Why `target`, deleted since the job was submitted, can take no values. */
function gone(target: ItemTarget): { problem: string } {
  return { problem: `${targetName(target)} no longer exists (deleted after the job was submitted)` };
}

/** `target` with what `row` (targetsNow) says of it now, or why it can take no values: gone (no row), or read-only. */
function targetAsItIs(target: ItemTarget, row: TargetRow | undefined): { target: ItemTarget } | { problem: string } {
  if (!row) return gone(target);
  const hidden = [
    row.dataset_state !== "active" ? `dataset ${row.dataset_name} is ${row.dataset_state}` : "",
    row.recording_state !== "active" ? `recording ${target.recording_path} is ${row.recording_state}` : "",
    row.clip_state !== null && row.clip_state !== "active" ? `clip ${target.id} is ${row.clip_state}` : "",
  ].filter(Boolean);
  if (hidden.length) return { problem: `${hidden.join(" and ")} (read-only): restore ${hidden.length > 1 ? "them" : "it"} and run the job again` };
  return { target: { ...target, time_expansion: row.time_expansion, ...(target.kind === "clip" ? { start: row.start_time!, end: row.end_time!, low_freq: row.low_freq, high_freq: row.high_freq } : {}) } };
}

/**
 * A target as an item starts from it: as it is now (targetsNow) and its recording's file as
 * registered (RecordingLocation); or why it can take no values.
 */
type TargetNow = { target: ItemTarget; loc: RecordingLocation } | { problem: string };

/**
 * targetsNow of `targets`, each with its recording's location, by targetKey: three statements at
 * most for a whole batch (two each per item before: 25 ms of a worker for 4 ms of audio work on
 * one-second files). The two read separate snapshots: a recording deleted between them is that
 * target's problem (no longer exists), as targetsNow says it — it had failed the whole batch
 * (NotFoundError), each item using a retry.
 */
async function lookUpTargets(db: Queryable, targets: readonly ItemTarget[]): Promise<Map<string, TargetNow>> {
  if (!targets.length) return new Map(); // a batch none of whose items was pending still
  const [now, locations] = await Promise.all([targetsNow(db, targets, false), getRecordingLocations(db, targets.map((t) => t.recording_id))]);
  return new Map<string, TargetNow>([...now].map(([key, found]) => {
    if ("problem" in found) return [key, found];
    const loc = locations.get(found.target.recording_id);
    if (!loc) return [key, gone(found.target)];
    return [key, { target: found.target, loc }];
  }));
}

/**
 * `target` reading its recording's file (`loc`) as it is now, checked as the API checks a file before
 * serving it (recordingFileNow): inside its dataset's audio_dir after symlinks (SPEC §10), and
 * with the registered content (size, and MD5 once its mtime moved) — values of a replaced file
 * would not be the recording's —, with the size and time it was checked at (`checked`: a file
 * written while it is read is read again, processItem). Or, when the file is outside or replaced, why: for good, a
 * retry would find the same; when this machine cannot find or read it (unreadableHere), why,
 * with `here` — another machine may.
 */
async function readableTarget(ctx: ItemContext, target: ItemTarget, loc: RecordingLocation): Promise<ReadableTarget | { problem: string; here?: true }> {
  const here = await unreadableHere(ctx, loc);
  if (here) return { problem: `recording ${target.recording_path}: ${here}`, here: true };
  try {
    const now = await recordingFileNow(ctx.sql, loc, target.recording_id);
    return { target: { ...target, path: now.file }, hash: loc.hash, checked: { size: now.size, mtime: now.mtime } };
  } catch (err) {
    if (err instanceof InvalidError) return { problem: `recording ${target.recording_path}: ${err.fields[0].message}` };
    if (err instanceof ConflictError) return { problem: err.message };
    throw err;
  }
}

/**
 * A target whose file was checked to hold its recording's registered content (readableTarget):
 * `target.path` the file's real path, `hash` that content's MD5, `checked` its size and time then.
 */
interface ReadableTarget {
  target: ItemTarget;
  hash: string;
  checked: CheckedFile;
}

/**
 * Why this machine cannot read a recording's file — its dataset's audio_dir, or the file, missing
 * or unreadable here — or null when it can. An audio_dir missing here is said in the worker's
 * log, once per directory, for the operator to mount it.
 */
async function unreadableHere(ctx: ItemContext, loc: RecordingLocation): Promise<string | null> {
  const code = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);
  try {
    await access(loc.audio_dir, constants.R_OK | constants.X_OK);
  } catch (err) {
    if (!ctx.missingDirs.has(loc.audio_dir)) {
      ctx.missingDirs.add(loc.audio_dir);
      ctx.log(`audio directory ${loc.audio_dir} is missing or unreadable on this machine (host ${ctx.by.host}: ${code(err)}): its datasets' job items are left for workers on other hosts — mount it here, or stop this worker`);
    }
    return `the dataset's audio_dir is missing or unreadable (${code(err)})`;
  }
  try {
    await access(resolve(loc.audio_dir, loc.path), constants.R_OK);
  } catch (err) {
    // As recordingFileNow words a missing file.
    return code(err) === "ENOENT" ? `file ${loc.path} does not exist in the dataset's audio_dir` : `file ${loc.path} cannot be read (${code(err)})`;
  }
  return null;
}

/**
 * An item whose file this worker's machine cannot read (`problem`, from unreadableHere): the
 * host is added to the item's `missing_on`, and while a worker runs on a host not in it (liveHosts)
 * the item goes back to the queue for it (as putBack: no delivery counted); null then. Otherwise the
 * failure to record, naming the hosts: every host with a worker running found the file missing
 * (a fixed two failed an item a third host, running and able to read it, never got to try). A
 * host's takes of an item it cannot read count no delivery: this host takes it again every few
 * seconds while the others are busy (every RELEASE_PAUSE_MS, its batch at a time, through the whole
 * queue), and a bound of 10 deliveries had items of a long queue fail while a host that could read
 * them was running — 9 deliveries used up before it got to one. The item waits for that host as long
 * as one is running. One statement writes the row — its `missing_on` and, when left, its
 * `attempts` — against the row as it is once locked (a take by another host at the same moment
 * counts), and the hosts left to try are worked out once in it, for the row and the answer.
 */
async function leaveForAnotherHost(ctx: ItemContext, job: Job, msg: ItemMessage, problem: string): Promise<string | null> {
  const { host } = ctx.by;
  return ctx.sql.begin(async (tx) => {
    // `item` locks the row and reads it as it is then (a take by another host that committed
    // meanwhile counts); `left_to_try` works out the hosts left to try once, for the SET and the answer
    // (MATERIALIZED: referred to once, PostgreSQL would inline it, its subquery planned twice).
    const [row] = await tx<{ missing_on: string[]; left_for: string[] }[]>`
      WITH live AS (${liveHosts(tx)}),
      item AS (
        SELECT CASE WHEN ${host} = ANY(missing_on) THEN missing_on ELSE array_append(missing_on, ${host}::text) END AS missing_on
        FROM job_items WHERE job_id = ${msg.job_id} AND item = ${msg.item} AND status = 'pending'
        FOR NO KEY UPDATE),
      left_to_try AS MATERIALIZED (SELECT i.missing_on, ARRAY(SELECT l.host FROM live l WHERE l.host <> ALL(i.missing_on) ORDER BY l.host) AS hosts FROM item i)
      UPDATE job_items j SET missing_on = t.missing_on, attempts = j.attempts - (cardinality(t.hosts) > 0)::int
      FROM left_to_try t
      WHERE j.job_id = ${msg.job_id} AND j.item = ${msg.item}
      RETURNING j.missing_on, t.hosts AS left_for`;
    if (!row) return problem; // settled meanwhile: settleGroup writes nothing for it
    if (row.left_for.length === 0) {
      return row.missing_on.length > 1 ? `${problem} on hosts ${row.missing_on.join(", ")}` : `${problem} on host ${host}, and no worker on another host is running to try it`;
    }
    ctx.pauseTaking();
    await requeue(tx, ctx.boss, job, msg);
    return null;
  });
}

/**
 * SQL: the hosts of the workers running now (`job_workers` rows refreshed within WORKER_LAPSE_S),
 * each once. A stopping worker has removed its row already (announceWorker): it takes no more items.
 */
function liveHosts(db: Queryable) {
  return db`SELECT DISTINCT host FROM job_workers WHERE seen_at > now() - make_interval(secs => ${WORKER_LAPSE_S})`;
}

/**
 * Puts an item this worker claimed back in the queue, if it is still pending — as a new message, so
 * that pg-boss's retries stay for crashes — with the delivery its claim counted (claimItems) taken
 * back. Whether it was (not: settled meanwhile).
 */
async function putBack(tx: Queryable, boss: PgBoss, job: Job, msg: ItemMessage): Promise<boolean> {
  const [row] = await tx`UPDATE job_items SET attempts = attempts - 1 WHERE job_id = ${msg.job_id} AND item = ${msg.item} AND status = 'pending' RETURNING item`;
  if (row) await requeue(tx, boss, job, msg);
  return Boolean(row);
}

/** Sends item `msg` to the queue again, in `tx`, as a new message (pg-boss's retries stay for crashes). */
function requeue(tx: Queryable, boss: PgBoss, job: Job, msg: ItemMessage): Promise<unknown> {
  return boss.insert(ITEM_QUEUE, [{ data: msg, priority: job.priority }], { db: bossDatabase(tx) });
}

/** Whether two reads of a target differ in what its values depend on. */
function changed(a: ItemTarget, b: ItemTarget): boolean {
  return a.time_expansion !== b.time_expansion || a.start !== b.start || a.end !== b.end || a.low_freq !== b.low_freq || a.high_freq !== b.high_freq;
}

/** Running jobs a worker keeps (runningJobs): the jobs of the items it takes at one time, and more. */
const RUNNING_JOBS_KEPT = 16;

/**
 * The job of an item, by id: moved from pending to running if it was pending (startedJob), and
 * read once while it runs, not once per batch — what an item needs of it (task data, priority,
 * creator, run) does not change, and whether it still runs is known otherwise: an item claimed
 * was pending, so its job was not aborted then, and settleGroup checks the job's row, locked,
 * before it writes. The last RUNNING_JOBS_KEPT running jobs are kept; a job not running is not.
 */
function runningJobs(sql: Sql): (id: string) => Promise<Job> {
  const kept = new Map<string, Promise<Job>>();
  const forget = (id: string, job: Promise<Job>) => void (kept.get(id) === job && kept.delete(id));
  return (id) => {
    const known = kept.get(id);
    if (known) return known;
    const job = startedJob(sql, id);
    kept.set(id, job);
    if (kept.size > RUNNING_JOBS_KEPT) kept.delete(kept.keys().next().value!);
    job.then((j) => j.status !== "running" && forget(id, job), () => forget(id, job));
    return job;
  };
}

/** The job, moved from pending to running if it was pending (by this call or a concurrent one). */
async function startedJob(sql: Sql, id: string): Promise<Job> {
  const job = await getJob(sql, id);
  if (job.status !== "pending") return job;
  return startJob(sql, id).catch((err) => (err instanceof ConflictError ? getJob(sql, id) : Promise.reject(err)));
}

/**
 * An item pg-boss gave up on (dead-letter queue): recorded as ended in an error, unless a
 * delivery got to record its outcome after all.
 */
async function giveUpItem(ctx: ItemContext, msg: ItemMessage): Promise<void> {
  const { sql } = ctx;
  const [row] = await sql<{ target: ItemTarget }[]>`SELECT target FROM job_items WHERE job_id = ${msg.job_id} AND item = ${msg.item} AND status = 'pending'`;
  if (!row) return finishJobIfDone(ctx, msg.job_id); // as in processItem
  const job = await startedJob(sql, msg.job_id);
  // pg-boss does not carry the last delivery's error over to the dead-letter message.
  const error = `gave up after ${ITEM_RETRY_LIMIT + 1} deliveries: the workers holding it died or lost the database`;
  await ctx.settle({ job, item: msg.item, target: row.target, features: [], outcome: { error, errored: true } });
}

/**
 * An item's outcome to write (values and row state) unless an earlier delivery or an abort
 * settled it. `computedFrom` set (true, or the failure to record instead): the outcome was
 * computed from `target` as read before; the target is read again, locked, and when it changed
 * meanwhile nothing is written ("changed": compute again) — or that failure is — and when it
 * can no longer take values (read-only, deleted) the item fails, saying why. Such a failure is
 * for good: it is recorded, not thrown (a retry would fail the same way); other errors (the
 * database lost) are thrown, for pg-boss to retry the item.
 */
interface SettleRequest {
  job: Job;
  item: number;
  target: ItemTarget;
  /** The features to write, of the job's (none for a failure). */
  features: readonly string[];
  outcome: Outcome;
  computedFrom?: boolean | { error: string };
}

/**
 * Group commit of settlements: a request waits for the transaction in progress, if any, and is
 * written with every other request made meanwhile — or in the same turn of the event loop (the
 * items of a batch that finish together) — in the next (settleGroup), after which the jobs it
 * left with no item pending are completed (finishJobIfDone, once per job). Each request resolves to its
 * own item's verdict; all of a group reject together when its transaction fails (pg-boss then
 * retries their items, whose redeliveries find them pending still). Long items, which finish far
 * apart, are each written as soon as they finish; short ones share the cost of a transaction.
 */
function settler(ctx: Pick<ItemContext, "sql" | "by">): (request: SettleRequest) => Promise<"settled" | "changed"> {
  type Waiting = { request: SettleRequest; resolve: (verdict: "settled" | "changed") => void; reject: (err: unknown) => void };
  let waiting: Waiting[] = [];
  let writing = false;
  const drain = async () => {
    while (waiting.length) {
      const group = waiting;
      waiting = [];
      try {
        const { verdicts, finished } = await settleGroup(ctx, group.map((w) => w.request));
        for (const jobId of finished) await finishJobIfDone(ctx, jobId);
        group.forEach((w, i) => w.resolve(verdicts[i]));
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    writing = false;
  };
  return (request) => new Promise((resolve, reject) => {
    waiting.push({ request, resolve, reject });
    if (writing) return;
    writing = true;
    setImmediate(drain);
  });
}

/**
 * Writes the outcomes of `requests` (SettleRequest) in one transaction: the jobs' rows locked FOR
 * UPDATE, then the items' rows, each in key order (as an abort takes them: job, then items), then
 * the targets computed (`computedFrom`) and what they belong to FOR SHARE, from the top down
 * (targetsNow, lockTargets); then each item checked (still pending, its job running, its target
 * unchanged where `computedFrom` asks) and recorded — the items' rows in one statement, their values in one more (putFeatureValues),
 * each job's progress advanced once for all of them. Each item's row records the worker that
 * settled it (`ctx.by`). The verdict of each request, in order, and the jobs of which no item is
 * pending any more (to complete: finishJobIfDone). A fixed number of statements for the group,
 * whatever its size: they were five more per item (the target's lock and the item's row each
 * item's own). Run again when PostgreSQL aborts it for a conflict with another transaction
 * (inTransaction) — it does nothing but its queries — rather than all of the group's items
 * delivered again and computed once more.
 */
async function settleGroup(ctx: Pick<ItemContext, "sql" | "by">, requests: readonly SettleRequest[]): Promise<{ verdicts: ("settled" | "changed")[]; finished: string[] }> {
  const { sql, by } = ctx;
  const jobIds = [...new Set(requests.map((r) => r.job.id))].sort();
  return inTransaction(sql, async (tx) => {
    const running = new Set((await tx<{ id: string; status: string }[]>`SELECT id, status FROM jobs WHERE id = ANY(${jobIds}::uuid[]) ORDER BY id FOR UPDATE`)
      .filter((j) => j.status === "running").map((j) => j.id));
    const pending = new Set((await tx<{ job_id: string; item: number; status: string }[]>`
      SELECT job_id, item, status FROM job_items
      WHERE (job_id, item) IN (SELECT * FROM unnest(${requests.map((r) => r.job.id)}::uuid[], ${requests.map((r) => r.item)}::int[]))
      ORDER BY job_id, item FOR UPDATE`).filter((i) => i.status === "pending").map((i) => `${i.job_id} ${i.item}`));
    const open = (r: SettleRequest) => running.has(r.job.id) && pending.has(`${r.job.id} ${r.item}`);
    const computed = requests.filter((r) => r.computedFrom && open(r)).map((r) => r.target);
    const now = computed.length ? await targetsNow(tx, computed, true) : new Map<string, { target: ItemTarget } | { problem: string }>();
    const values: Record<ItemTarget["kind"], TargetFeatureInput[]> = { recording: [], clip: [] };
    const rows: SettledItemRow[] = [];
    const done = new Map<string, number>();
    const verdicts: ("settled" | "changed")[] = [];
    for (const request of requests) {
      const { job, item, target, features, computedFrom } = request;
      let { outcome } = request;
      // Settled by an earlier delivery (or an earlier request of this group: a duplicate delivery), or skipped by an abort.
      if (!open(request)) {
        verdicts.push("settled");
        continue;
      }
      if (computedFrom) {
        const current = now.get(targetKey(target))!;
        if ("problem" in current) outcome = { error: current.problem };
        else if (changed(current.target, target)) {
          if (computedFrom === true) {
            verdicts.push("changed");
            continue;
          }
          outcome = computedFrom;
        }
      }
      if ("values" in outcome) {
        const provenance = { created_by: job.created_by, run_id: job.run_id, engine_version: VERSION, recording_hash: outcome.recording_hash };
        const { log_mel: mel, ...scalars } = outcome.values;
        for (const name of features) {
          values[target.kind].push(name === MEL_FEATURE
            ? { id: target.id, name, data: new Uint8Array(mel.buffer, mel.byteOffset, mel.byteLength), ...provenance }
            : { id: target.id, name, value: scalars[name as keyof typeof scalars], ...provenance });
        }
        const stored: StoredValues = { ...scalars, log_mel: Array.from(mel) };
        // The target as computed: the feature table gives the bounds its values are of.
        rows.push({ job_id: job.id, item, status: "done", seconds: outcome.values.duration_s, result: stored, target, error: null, engine_version: VERSION, recording_hash: outcome.recording_hash });
      } else {
        // The file named as the API names it, not by the server's own path (as imports report theirs).
        const error = outcome.error.replaceAll(target.path, target.recording_path);
        rows.push({ job_id: job.id, item, status: outcome.errored ? "errored" : "failed", seconds: null, result: null, target: null, error: error.slice(0, 10000), engine_version: null, recording_hash: null });
      }
      pending.delete(`${job.id} ${item}`);
      done.set(job.id, (done.get(job.id) ?? 0) + 1);
      verdicts.push("settled");
    }
    await settleItemRows(tx, rows, by);
    await putFeatureValues(tx, "recording", values.recording);
    await putFeatureValues(tx, "clip", values.clip);
    const finished: string[] = [];
    for (const [jobId, items] of done) if (await countItemsDone(tx, jobId, items)) finished.push(jobId);
    return { verdicts, finished };
  }, `job ${jobIds.join(", job ")}`);
}

/** An item's row as settleGroup leaves it: done (its values, and its target as computed), or failed or errored (why). */
interface SettledItemRow {
  job_id: string;
  item: number;
  status: "done" | "failed" | "errored";
  seconds: number | null;
  result: StoredValues | null;
  /** Null: the row keeps the target it had. */
  target: ItemTarget | null;
  error: string | null;
  /** Of a done item: the engine version that computed it and the MD5 of the bytes it was computed from (migration 021). */
  engine_version: string | null;
  recording_hash: string | null;
}

/** Writes `rows` (SettledItemRow) in one statement, each recording the worker `by` that settled it. */
async function settleItemRows(tx: Queryable, rows: readonly SettledItemRow[], by: WorkerIdentity): Promise<void> {
  if (!rows.length) return;
  await tx`
    UPDATE job_items i SET status = u.status, seconds = u.seconds, result = u.result, target = COALESCE(u.target, i.target), error = u.error,
           engine_version = u.engine_version, recording_hash = u.recording_hash, host = ${by.host}, pid = ${by.pid}, finished_at = now()
    FROM jsonb_to_recordset(${tx.json(rows as never)}) AS u(job_id uuid, item int, status text, seconds float8, result jsonb, target jsonb, error text, engine_version text, recording_hash text)
    WHERE i.job_id = u.job_id AND i.item = u.item`;
}

/**
 * When no item is pending: completes the job (success, failure or error, naming the first item
 * that failed or ended in an error), stores its feature table and metrics (storeJobResults) and
 * finishes its run — in one transaction. Several workers may get here for the same job; the
 * conditional completion lets one through.
 */
async function finishJobIfDone(ctx: Pick<ItemContext, "sql">, jobId: string): Promise<void> {
  const { sql } = ctx;
  const [{ pending }] = await sql`SELECT count(*)::int AS pending FROM job_items WHERE job_id = ${jobId} AND status = 'pending'`;
  if (pending > 0) return;
  const job = await getJob(sql, jobId);
  if (job.status !== "running") return;
  const data = extractFeaturesData.parse(job.data);
  const items = await endedItems(sql, jobId);
  const failed = items.filter((i) => i.status === "failed");
  const errored = items.filter((i) => i.status === "errored");
  const message = jobMessage(items);
  await sql.begin(async (tx) => {
    try {
      await completeJob(tx, jobId, errored.length ? "error" : failed.length ? "failure" : "success", message);
    } catch (err) {
      if (err instanceof ConflictError) return; // another worker completed it, or it was aborted
      throw err;
    }
    await storeJobResults(tx, job, { items, features: jobFeatures(data), clips: "clip_ids" in data.targets, clipBands: data.band === CLIP_BAND, expirationDelay: data.expiration_delay, params: parseParams(data.params ?? {}), band: data.band ?? null });
    if (job.run_id) await finishRun(tx, job.run_id, failed.length + errored.length ? "failed" : "completed");
  });
}
