/**
 * Distributed feature extraction with in-process workers (src/jobs/): submission splits a job
 * into items on the pg-boss queue, a worker computes and stores each target's features once,
 * the job completes with progress, metrics and a content-addressed CSV artifact; abort skips
 * pending items; an item that keeps failing is retried up to the limit, then recorded as a
 * failure. Runs on the embedded database, or on DATABASE_URL when set.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { PgBoss } from "pg-boss";
import { fileMd5 } from "../src/audio/index.js";
import { SCALAR_FEATURES, featuresOfFile } from "../src/features/features.js";
import { ITEM_EXPIRE_S, ITEM_QUEUE, ITEM_RETRY_LIMIT, abortExtractJob, openQueue, retryExtractJob, submitExtractJob } from "../src/jobs/queue.js";
import { startWorker, type ExtractWorker } from "../src/jobs/worker.js";
import { CLEANUP_GRACE_SECONDS, listArtifacts, cleanupExpired, readFileContents } from "../src/store/artifacts.js";
import { createClip, deleteClip, updateClip } from "../src/store/clips.js";
import { STATES, setState, type State } from "../src/store/common.js";
import { createDataset } from "../src/store/datasets.js";
import { completeJob, getJob, listJobItems, listMetrics, startJob, type Job } from "../src/store/jobs.js";
import { probeFile } from "../src/store/probe.js";
import { deleteRecording, getRecordingLocation, insertRecording, refreshRecordingFile, updateRecording } from "../src/store/recordings.js";
import { getFeatureValue, putFeatureValues } from "../src/store/features.js";
import { VERSION } from "../src/engine/version.js";
import { getRun } from "../src/store/runs.js";
import { TilePool } from "../src/tiles/pool.js";
import type { WorkerTask } from "../src/tiles/worker.js";
import { freshDatabase, mostHidden, mostReadsOf, type PlanNode, planNodes, REAL_PG_URL, tempDir, type TestDatabase, writeSineWav } from "./store-helpers.js";
import { openDatabase } from "../src/store/db.js";
import { jobFixture, missingRecording, waitForJob, type JobFixture } from "./jobs-helpers.js";
import { FAULT_WORKER_URL } from "./fault-tasks.js";

/**
 * Run once on what the worker's read of a batch's recording locations (getRecordingLocations)
 * found, after it (after the batch's targetsNow, issued first): plays a recording deleted between
 * the worker's two reads of a batch (separate snapshots).
 */
const afterLocations = vi.hoisted(() => ({ once: undefined as ((locations: Map<string, unknown>) => Promise<void>) | undefined }));
vi.mock("../src/store/recordings.js", async (importOriginal) => {
  const store = await importOriginal<typeof import("../src/store/recordings.js")>();
  return {
    ...store,
    getRecordingLocations: async (...args: Parameters<typeof store.getRecordingLocations>) => {
      const locations = await store.getRecordingLocations(...args);
      const hook = afterLocations.once;
      afterLocations.once = undefined;
      await hook?.(locations);
      return locations;
    },
  };
});

let t: TestDatabase;
let dir: Awaited<ReturnType<typeof tempDir>>;
/** Where toneDataset makes its directories: dir is the fixture dataset's, and no dataset may lie inside another's. */
let apart: Awaited<ReturnType<typeof tempDir>>;
let fx: JobFixture;
let boss: PgBoss;
const FEATURES = ["duration_s", "rms_dbfs", "peak_frequency_hz", "log_mel"] as const;

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  apart = await tempDir();
  fx = await jobFixture(t.db.sql, dir.path, 12);
  boss = await openQueue(t.db.sql);
}, 60_000);

afterAll(async () => {
  await boss?.stop({ graceful: false, close: false });
  await t?.cleanup();
  await dir?.remove();
  await apart?.remove();
});

/** What to do before computing a file (by name), once: plays a change made while a worker holds the item; `signal` cancels the computation. */
const beforeRun = new Map<string, (signal?: AbortSignal) => Promise<void>>();
/** What to wait for once a file is computed, before its result is given: holds outcomes back to give them together. */
let afterRun: (() => Promise<void>) | undefined;

/**
 * A pool whose thread "crashes" on every task of `crash.wav` (an error retrying might cure,
 * unlike a bad file), and that runs `beforeRun`'s action for a file before computing it.
 */
class CrashingPool extends TilePool {
  override async run<T>(task: WorkerTask, signal?: AbortSignal): Promise<T> {
    if (task.kind === "features" && task.path.endsWith("crash.wav")) throw new Error("worker thread exited with code 1");
    const file = task.kind === "features" ? basename(task.path) : "";
    const action = beforeRun.get(file);
    if (action) {
      beforeRun.delete(file); // once
      await action(signal);
    }
    const result = await super.run<T>(task, signal);
    await afterRun?.();
    return result;
  }
}

/** A dataset of its own (a directory in `apart`) holding 1 kHz tones at 8 kHz, `seconds` long, named `files`; their recording ids by name. */
async function toneDataset(files: string[], seconds = 2): Promise<{ id: string; name: string; dir: string; recordings: Record<string, string> }> {
  const name = `tones-${files[0].replace(/\.wav$/, "")}`;
  const audioDir = join(apart.path, name);
  await mkdir(audioDir);
  const dataset = await createDataset(t.db.sql, { name, audio_dir: audioDir, created_by: null });
  const recordings: Record<string, string> = {};
  for (const file of files) {
    await writeSineWav(join(audioDir, file), 8000, seconds, 1000);
    recordings[file] = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: file, ...(await probeFile(join(audioDir, file))), created_by: null }))!.id;
  }
  return { id: dataset.id, name, dir: audioDir, recordings };
}

/** A feature value of this run's, by target and name. */
async function featureValue(table: "recording_features" | "clip_features", id: string, name: string, runId: string): Promise<number | undefined> {
  const column = table === "clip_features" ? "clip_id" : "recording_id";
  const [row] = await t.db.sql`
    SELECT v.value FROM ${t.db.sql(table)} v JOIN feature_names f ON f.id = v.feature_name_id
    WHERE v.${t.db.sql(column)} = ${id} AND f.name = ${name} AND v.run_id = ${runId}`;
  return row?.value;
}

/** The pg-boss deliveries of a job's items: queue, state and retries, by item. */
async function deliveries(jobId: string): Promise<[string, string, number][]> {
  const rows = await t.db.sql`SELECT name, state, retry_count FROM pgboss.job WHERE data->>'job_id' = ${jobId} ORDER BY (data->>'item')::int, name`;
  return rows.map((r) => [r.name, r.state, r.retry_count]);
}

/** An in-process worker on a pool of its own (a CrashingPool), playing a worker on `host` (default this machine's); `stop()` closes both. */
async function testWorker(options: { host?: string; log?: (message: string) => void; pollingIntervalSeconds?: number; threads?: number } = {}): Promise<ExtractWorker> {
  const pool = new CrashingPool({ threads: options.threads ?? 1 });
  const worker = await startWorker({ sql: t.db.sql, pool, pollingIntervalSeconds: 0.5, ...options });
  return { stop: () => worker.stop().finally(() => pool.close()) };
}

/** Runs an in-process worker while `body` runs. */
async function withWorker<T>(body: () => Promise<T>, options: Parameters<typeof testWorker>[0] = {}): Promise<T> {
  const worker = await testWorker(options);
  try {
    return await body();
  } finally {
    await worker.stop();
  }
}

/** A running worker on `host` as `job_workers` lists it, busy elsewhere (it takes no item), until the returned function removes it. */
async function workerElsewhere(host: string): Promise<() => Promise<void>> {
  const [{ id }] = await t.db.sql`INSERT INTO job_workers (id, host, pid) VALUES (gen_random_uuid(), ${host}, 1) RETURNING id`;
  return async () => void (await t.db.sql`DELETE FROM job_workers WHERE id = ${id}`);
}

/** Polls the item's row until `done(row)` (every 100 ms, at most 30 s). */
async function waitForItem(jobId: string, item: number, done: (row: { status: string; attempts: number; missing_on: string[] }) => boolean) {
  for (const until = Date.now() + 30_000; ;) {
    const [row] = await t.db.sql<{ status: string; attempts: number; missing_on: string[] }[]>`SELECT status, attempts, missing_on FROM job_items WHERE job_id = ${jobId} AND item = ${item}`;
    if (done(row)) return row;
    if (Date.now() > until) throw new Error(`item ${item} of job ${jobId} still ${JSON.stringify(row)} after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("extract_features jobs", () => {
  it("let a worker hold its items for a day, not pg-boss's 15 minutes, and send a NOTIFY with each insert of items, also on a queue an older release created", async () => {
    expect(ITEM_EXPIRE_S).toBe(86_400);
    expect(await boss.getQueue(ITEM_QUEUE)).toMatchObject({ expireInSeconds: ITEM_EXPIRE_S, notify: true });
    await boss.updateQueue(ITEM_QUEUE, { expireInSeconds: 900, notify: false }); // as the queue was created before
    const reopened = await openQueue(t.db.sql);
    try {
      expect(await reopened.getQueue(ITEM_QUEUE)).toMatchObject({ expireInSeconds: ITEM_EXPIRE_S, notify: true });
    } finally {
      await reopened.stop({ graceful: false, close: false });
    }
  });

  it("reads a batch's targets together and settles a group's items in a fixed number of statements, not a few per item", async () => {
    // A database of its own, whose every statement is heard.
    const statements: string[] = [];
    const own = await freshDatabase({ onStatement: (text) => statements.push(text.replace(/\s+/g, " ").trim()) });
    const audioDir = join(apart.path, "counted");
    await mkdir(audioDir);
    const ownBoss = await openQueue(own.db.sql);
    const pool = new TilePool({ threads: 1 });
    try {
      const dataset = await createDataset(own.db.sql, { name: "counted", audio_dir: audioDir, created_by: null });
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        await writeSineWav(join(audioDir, `t${i}.wav`), 8000, 0.5, 1000 + 100 * i);
        ids.push((await insertRecording(own.db.sql, { dataset_id: dataset.id, path: `t${i}.wav`, ...(await probeFile(join(audioDir, `t${i}.wav`))), created_by: null }))!.id);
      }
      const worker = await startWorker({ sql: own.db.sql, pool, pollingIntervalSeconds: 0.5 });
      try {
        statements.length = 0;
        const job = await submitExtractJob(own.db.sql, ownBoss, { data: { targets: { recording_ids: ids }, features: ["rms_dbfs"] }, created_by: null });
        expect(await waitForJob(own.db.sql, job.id, (j) => j.status === "completed")).toMatchObject({ result: "success", progress_done: 8 });
      } finally {
        await worker.stop();
      }
      const count = (pattern: RegExp) => statements.filter((text) => pattern.test(text)).length;
      const claims = count(/^UPDATE job_items SET attempts = attempts \+ 1/);
      const settlements = count(/^SELECT id, status FROM jobs WHERE id = ANY\(.*FOR UPDATE/);
      const targetReads = /^SELECT (r\.id, )?r\.time_expansion, |^SELECT r\.id, d\.audio_dir, r\.path, r\.hash, /;
      expect(claims).toBeGreaterThanOrEqual(1);
      expect(claims).toBeLessThan(8); // batches of 2 (two per thread)
      // Before an item is computed: its target's state and its file's location, two statements per batch (they were two per item);
      // in each settlement, its targets' state once more, once they are locked.
      expect(count(targetReads)).toBe(2 * claims + settlements);
      // In each settlement: the targets and what they belong to locked in three statements (which rows, the datasets', the
      // recordings'), the items' rows written in one (each was one per item).
      expect(count(/^SELECT id, dataset_id FROM recordings /)).toBe(settlements);
      expect(count(/^SELECT 1 FROM (datasets|recordings) WHERE id = ANY\(.*ORDER BY id FOR SHARE$/)).toBe(2 * settlements);
      expect(count(/^UPDATE job_items .*SET status/)).toBe(settlements);
    } finally {
      await pool.close();
      await ownBoss.stop({ graceful: false, close: false });
      await own.cleanup();
    }
  }, 60_000);

  it("compute every target once, with progress, metrics and a CSV artifact", async () => {
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: fx.clipIds }, features: [...FEATURES], expiration_delay: 60 }, created_by: null });
    expect(job).toMatchObject({ status: "pending", progress_done: 0, progress_total: fx.clipIds.length });
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
    expect(done).toMatchObject({ result: "success", progress_done: fx.clipIds.length, progress_total: fx.clipIds.length });
    expect((await getRun(t.db.sql, job.run_id!)).status).toBe("completed");

    // One value per (clip, feature), written by this job's run, equal to the library's.
    const rows = await t.db.sql`
      SELECT cf.clip_id, f.name, cf.value, cf.data, cf.run_id FROM clip_features cf JOIN feature_names f ON f.id = cf.feature_name_id
      WHERE cf.clip_id = ANY(${fx.clipIds}::uuid[])`;
    expect(rows.length).toBe(fx.clipIds.length * FEATURES.length);
    expect(new Set(rows.map((r) => r.run_id))).toEqual(new Set([job.run_id]));
    const clip0 = rows.filter((r) => r.clip_id === fx.clipIds[0]);
    const expected = await featuresOfFile(join(dir.path, "tone1k.wav"), {}, { start: 0, end: 0.05 });
    expect(clip0.find((r) => r.name === "peak_frequency_hz")!.value).toBe(expected.peak_frequency_hz);
    expect(clip0.find((r) => r.name === "duration_s")!.value).toBeCloseTo(0.05, 12);
    const mel = clip0.find((r) => r.name === "log_mel")!.data as Buffer;
    expect(new Float32Array(mel.buffer.slice(mel.byteOffset, mel.byteOffset + mel.byteLength))).toEqual(expected.log_mel);

    const metrics = (await listMetrics(t.db.sql, job.id, { limit: 10, offset: 0 })).items;
    expect(Object.fromEntries(metrics.map((m) => [m.key, m.value]))).toMatchObject({ items_done: fx.clipIds.length, items_failed: 0 });
    expect(metrics.find((m) => m.key === "audio_seconds_per_second")!.value).toBeGreaterThan(0);

    // The artifact: the CSV table, its bytes in the database under their SHA-256, expiring after 60 s.
    const [artifact] = (await listArtifacts(t.db.sql, { limit: 10, offset: 0, state: "active", job_id: job.id })).items;
    const chunks: Buffer[] = [];
    for await (const chunk of readFileContents(t.db.sql, artifact.file_sha256, artifact.size)) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(artifact.file_sha256);
    expect(artifact).toMatchObject({ size: bytes.length, media_type: "text/csv", expiration_delay: 60 });
    const lines = bytes.toString("utf8").trim().split("\n");
    // Each row joins back to the API's records: the clip's and its recording's ids, and the recording's path as the API gives it.
    // And the MD5 of the bytes the values are of (md5): the recording's hash.
    expect(lines[0]).toBe(["clip_id", "recording_id", "path", "md5", "start_time", "end_time", "duration_s", "rms_dbfs", "peak_frequency_hz", ...Array.from({ length: 64 }, (_, b) => `mel_${String(b).padStart(2, "0")}`)].join(","));
    expect(lines.length).toBe(1 + fx.clipIds.length);
    const { hash } = await getRecordingLocation(t.db.sql, fx.recordings["tone1k.wav"]);
    expect(lines[1].split(",").slice(0, 6)).toEqual([fx.clipIds[0], fx.recordings["tone1k.wav"], "tone1k.wav", hash, "0", "0.05"]);
    expect(Number(lines[1].split(",")[8])).toBe(expected.peak_frequency_hz);
    // Expired a minute ago and the grace period before (as of the clock given): cleanup removes the artifact and its file row.
    const cleaned = await cleanupExpired(t.db.sql, new Date(Date.now() + (120 + CLEANUP_GRACE_SECONDS) * 1000));
    expect(cleaned.artifacts).toContain(artifact.id);
  }, 60_000);

  it("store the scalar features and the log-mel vectors as float32 .npy matrices whose row i is the CSV's row i, equal to the stored values", async () => {
    const missing = await missingRecording(t.db.sql, fx, "npy-missing.wav");
    const [tone1k, tone3k] = [fx.recordings["tone1k.wav"], fx.recordings["tone3k.wav"]];
    // Item order (not path order), the failed item between the two done.
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [tone3k, missing, tone1k] }, expiration_delay: 600 }, created_by: null });
    try {
      expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"))).toMatchObject({ result: "failure", progress_done: 3 });
    } finally {
      await deleteRecording(t.db.sql, missing); // the other tests' jobs of the dataset do not meet it
    }
    const artifacts = (await listArtifacts(t.db.sql, { limit: 10, offset: 0, state: "active", job_id: job.id })).items;
    expect(artifacts.map((a) => [a.name, a.media_type, a.expiration_delay])).toEqual([
      ["features.csv", "text/csv", 600], ["features.npy", "application/octet-stream", 600], ["log_mel.npy", "application/octet-stream", 600], ["provenance.json", "application/json", 600],
    ]);
    // They expire together, as the CSV does.
    expect(new Set(artifacts.map((a) => a.expire_at)).size).toBe(1);
    const [csv, scalars, mel] = await Promise.all(artifacts.slice(0, 3).map(async (a) => {
      const chunks: Buffer[] = [];
      for await (const chunk of readFileContents(t.db.sql, a.file_sha256, a.size)) chunks.push(chunk);
      return Buffer.concat(chunks);
    }));
    const [header, ...lines] = csv.toString("utf8").trimEnd().split("\n").map((l) => l.split(","));
    // The failed item has no row in any of them; the done ones keep item order.
    expect(lines.map((l) => l[header.indexOf("recording_id")])).toEqual([tone3k, tone1k]);
    const scalarNames = [...SCALAR_FEATURES];
    expect(header.slice(3, 3 + scalarNames.length)).toEqual(scalarNames);
    // The header numpy.save (numpy 1.24.2) writes for these shapes, byte for byte: `numpy.load` reads them.
    const numpyHeader = (shape: string) => `\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`.padEnd(127, " ") + "\n";
    expect(scalars.subarray(0, 128).toString("latin1")).toBe(numpyHeader("2, 13"));
    expect(mel.subarray(0, 128).toString("latin1")).toBe(numpyHeader("2, 64"));
    expect([scalars.length, mel.length]).toEqual([128 + 2 * 13 * 4, 128 + 2 * 64 * 4]);
    const matrix = (bytes: Buffer, width: number) => {
      const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 128, bytes.byteOffset + bytes.length));
      return [0, 1].map((row) => Array.from(data.subarray(row * width, (row + 1) * width)));
    };
    // Each row: the database's values of the CSV row's recording, written by this job's run (float64 scalars as float32).
    const stored = async (recordingId: string) => {
      const rows = await t.db.sql<{ name: string; value: number | null; data: Buffer | null }[]>`
        SELECT f.name, v.value, v.data FROM recording_features v JOIN feature_names f ON f.id = v.feature_name_id
        WHERE v.recording_id = ${recordingId} AND v.run_id = ${job.run_id}`;
      const byName = new Map(rows.map((r) => [r.name, r]));
      const melBytes = byName.get("log_mel")!.data!;
      return { scalars: scalarNames.map((n) => Math.fround(byName.get(n)!.value!)), mel: Array.from(new Float32Array(melBytes.buffer.slice(melBytes.byteOffset, melBytes.byteOffset + melBytes.byteLength))) };
    };
    const expected = [await stored(tone3k), await stored(tone1k)];
    expect(matrix(scalars, 13)).toEqual(expected.map((e) => e.scalars));
    expect(matrix(mel, 64)).toEqual(expected.map((e) => e.mel));
    expect(expected[1].scalars[0]).toBeCloseTo(2, 6); // duration_s of the 2 s tone: the rows are not swapped
    // Each artifact says what its rows and columns are.
    expect(artifacts[0].description).toBe(`Feature table, one row per item done, in item order (items that failed or were skipped have none: GET /v1/jobs/${job.id}/items lists them): recording_id, path, md5, then the features (float64; mel_00 … mel_63 float32)`);
    expect(artifacts[1].description).toBe(`float32 [2, 13] (NumPy .npy): row i is the target of features.csv's row i (its recording_id); columns ${scalarNames.join(", ")}`);
    expect(artifacts[2].description).toBe("float32 [2, 64] (NumPy .npy): the mean log-mel vectors, dB (features.csv's mel_00 … mel_63); row i is the target of features.csv's row i (its recording_id)");
    // A job without log_mel has no log_mel.npy; one of log_mel alone no features.npy.
    const melOnly = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [tone1k] }, features: ["log_mel"] }, created_by: null });
    await abortExtractJob(t.db.sql, melOnly.id);
    expect((await listArtifacts(t.db.sql, { limit: 10, offset: 0, state: "active", job_id: melOnly.id })).items.map((a) => [a.name, a.size])).toEqual([
      ["features.csv", "recording_id,path,md5,".length + 64 * "mel_00,".length], ["log_mel.npy", 128], ["provenance.json", expect.any(Number)],
    ]);
  }, 60_000);

  it("submission refuses unknown targets by field", async () => {
    const missing = "00000000-0000-4000-8000-000000000000";
    await expect(submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [fx.recordings["tone1k.wav"], missing] } }, created_by: null }))
      .rejects.toThrow(new RegExp(`data.targets.recording_ids.*${missing}`));
  });

  it("submission refuses read-only targets: an archived dataset, a clip of an archived recording, a trashed recording", async () => {
    const submit = (targets: object) => submitExtractJob(t.db.sql, boss, { data: { targets } as never, created_by: null });
    const tone1k = fx.recordings["tone1k.wav"], tone3k = fx.recordings["tone3k.wav"];
    try {
      await setState(t.db.sql, "datasets", fx.datasetId, "archived");
      await expect(submit({ dataset_id: fx.datasetId })).rejects.toThrow(/^data\.targets\.dataset_id: dataset .* is archived \(read-only\); restore it first/);
      await expect(submit({ clip_ids: [fx.clipIds[0]] })).rejects.toThrow(new RegExp(`^data\\.targets\\.clip_ids: archived or trashed .*: clip ${fx.clipIds[0]}; restore first`));
      await setState(t.db.sql, "datasets", fx.datasetId, "active");
      await setState(t.db.sql, "recordings", tone3k, "trashed");
      await expect(submit({ recording_ids: [tone1k, tone3k] })).rejects.toThrow(new RegExp(`^data\\.targets\\.recording_ids: .*: recording ${tone3k}; restore first`));
    } finally {
      await setState(t.db.sql, "datasets", fx.datasetId, "active").catch(() => {});
      await setState(t.db.sql, "recordings", tone3k, "active");
    }
  });

  // Processes sharing one PostgreSQL race to create pg-boss's schema; the embedded database serves
  // every connection as one session, one transaction at a time, so only a real one can race.
  it.skipIf(!REAL_PG_URL)("queues opened together on a database without pg-boss's schema all start, as processes started together do", async () => {
    const fresh = await freshDatabase();
    const clients = await Promise.all([1, 2, 3, 4].map(() => openDatabase({ url: fresh.url!, migrate: false })));
    try {
      const started = await Promise.allSettled(clients.map((c) => openQueue(c.sql)));
      expect(started.map((r) => (r.status === "rejected" ? String(r.reason) : "started"))).toEqual(["started", "started", "started", "started"]);
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.stop({ graceful: false, close: false }) : undefined)));
    } finally {
      for (const c of clients) await c.close();
      await fresh.cleanup();
    }
  }, 60_000);

  it("an idle worker takes a job submitted in its process at once, not at its next poll; and one submitted while it computes another right after that one", async () => {
    const ds = await toneDataset(["woken.wav", "next.wav"], 1);
    const submitOne = (file: string) => submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings[file]] }, features: ["rms_dbfs"] }, created_by: null });
    const done = (id: string) => waitForJob(t.db.sql, id, (j) => j.status === "completed", 30_000);
    // Polling once an hour: a job taken within the test's 30 s was not taken by a poll (its first
    // polls, as it starts, are over after the pause).
    await withWorker(async () => {
      await new Promise((r) => setTimeout(r, 1000));
      expect(await done((await submitOne("woken.wav")).id)).toMatchObject({ result: "success", progress_done: 1 });
      let computing!: () => void;
      let release!: () => void;
      const started = new Promise<void>((r) => (computing = r));
      beforeRun.set("woken.wav", () => {
        computing();
        return new Promise<void>((r) => (release = r));
      });
      const busy = await submitOne("woken.wav");
      await started;
      const next = await submitOne("next.wav");
      release();
      expect(await done(busy.id)).toMatchObject({ result: "success" });
      expect(await done(next.id)).toMatchObject({ result: "success", progress_done: 1 });
    }, { pollingIntervalSeconds: 3600 });
  }, 90_000);

  it("abort: the job and its run end together, or neither does", async () => {
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { dataset_id: fx.datasetId }, features: ["rms_dbfs"] }, created_by: null });
    // The statement ending the run fails, as when the database goes away right then.
    await t.db.sql.unsafe(`CREATE FUNCTION test_refuse_run_end() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'run end refused'; END $$;
      CREATE TRIGGER test_refuse_run_end BEFORE UPDATE ON runs FOR EACH ROW WHEN (NEW.status <> OLD.status) EXECUTE FUNCTION test_refuse_run_end()`);
    try {
      await expect(abortExtractJob(t.db.sql, job.id, "not needed")).rejects.toThrow("run end refused");
    } finally {
      await t.db.sql.unsafe(`DROP TRIGGER test_refuse_run_end ON runs; DROP FUNCTION test_refuse_run_end()`);
    }
    // The abort had been committed before its run was ended: an aborted job whose run stayed `running` for ever.
    expect(await getJob(t.db.sql, job.id)).toMatchObject({ status: "pending" });
    expect((await getRun(t.db.sql, job.run_id!)).status).toBe("running");
    expect(await abortExtractJob(t.db.sql, job.id)).toMatchObject({ status: "aborted" });
    expect((await getRun(t.db.sql, job.run_id!)).status).toBe("failed");
  });

  it("abort: pending items are not executed", async () => {
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { dataset_id: fx.datasetId }, features: ["rms_dbfs"] }, created_by: null });
    const aborted = await abortExtractJob(t.db.sql, job.id, "not needed");
    expect(aborted).toMatchObject({ status: "aborted", message: "aborted: 0 of 2 items done, 2 skipped; why: not needed" }); // tone1k.wav and tone3k.wav
    await withWorker(async () => {
      // The worker drains the queue: both items are delivered and skipped.
      for (let i = 0; i < 100; i++) {
        const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'job_id' = ${job.id} AND state = 'completed'`;
        if (n === 2) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const items = await t.db.sql`SELECT status, attempts FROM job_items WHERE job_id = ${job.id}`;
    expect(items.map((i) => [i.status, i.attempts])).toEqual([["skipped", 0], ["skipped", 0]]);
    const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM recording_features WHERE run_id = ${job.run_id}`;
    expect(n).toBe(0);
    expect((await getRun(t.db.sql, job.run_id!)).status).toBe("failed");
  }, 30_000);

  it("an item whose computation keeps crashing is retried up to the limit, then ends in an error, and so does the job, naming it", async () => {
    const tone3k = await getRecordingLocation(t.db.sql, fx.recordings["tone3k.wav"]);
    await copyFile(join(tone3k.audio_dir, "tone3k.wav"), join(tone3k.audio_dir, "crash.wav"));
    const [{ id: crashId }] = await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
      SELECT dataset_id, 'crash.wav', hash, file_size, file_samplerate, frames, channels FROM recordings WHERE id = ${fx.recordings["tone3k.wav"]}
      RETURNING id`;
    // And a recording whose file is not there: an input the item cannot use, a failure.
    const missingId = await missingRecording(t.db.sql, fx, "missing.wav");
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [fx.recordings["tone3k.wav"], crashId, missingId] }, features: ["rms_dbfs"] }, created_by: null });
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
    // A crash is no verdict on the input: the result is `error`, not `failure` (which was all a job could end in).
    expect(done.result).toBe("error");
    expect(done.message).toMatch(new RegExp(`^1 of 3 items ended in an error, 1 of 3 items failed; first: recording ${crashId}: failed after ${ITEM_RETRY_LIMIT + 1} attempts: worker thread exited with code 1$`));
    const items = await t.db.sql`SELECT status, attempts FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(items.map((i) => [i.status, i.attempts])).toEqual([["done", 1], ["errored", ITEM_RETRY_LIMIT + 1], ["failed", 1]]);
    const metrics = (await listMetrics(t.db.sql, job.id, { limit: 10, offset: 0 })).items;
    expect(Object.fromEntries(metrics.map((m) => [m.key, m.value]))).toMatchObject({ items_done: 1, items_failed: 1, items_errored: 1 });
    expect((await getRun(t.db.sql, job.run_id!)).status).toBe("failed");
  }, 60_000);

  it("an item whose thread's DSP core is full is computed again at once on another thread, spending no delivery; full every time, it ends in an error, not a failure of its input", async () => {
    // fault-worker.mjs fills the core before a features task of a file with a `.fill-core` count above 0.
    const tones = await toneDataset(["core-full.wav", "core-full-always.wav"]);
    await writeFile(join(tones.dir, "core-full.wav.fill-core"), "1");
    await writeFile(join(tones.dir, "core-full-always.wav.fill-core"), "99");
    const pool = new TilePool({ threads: 1, workerFile: FAULT_WORKER_URL });
    const worker = await startWorker({ sql: t.db.sql, pool, pollingIntervalSeconds: 0.5 });
    let done: Job;
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [tones.recordings["core-full.wav"], tones.recordings["core-full-always.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    try {
      done = await waitForJob(t.db.sql, job.id, (j) => j.status === "completed");
    } finally {
      await worker.stop();
      await pool.close();
    }
    // The retry was a delivery of its own (a second attempt, after pg-boss's retry delay), and the
    // last one's error was the core's words alone, whose advice (dispose() plans) is a library caller's.
    const items = await t.db.sql`SELECT status, attempts FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(items.map((i) => [i.status, i.attempts])).toEqual([["done", 1], ["errored", ITEM_RETRY_LIMIT + 1]]);
    expect(await readFile(join(tones.dir, "core-full.wav.fill-core"), "utf8")).toBe("0");
    expect(await readFile(join(tones.dir, "core-full-always.wav.fill-core"), "utf8")).toBe(String(99 - 2 * (ITEM_RETRY_LIMIT + 1)));
    expect(await featureValue("recording_features", tones.recordings["core-full.wav"], "rms_dbfs", job.run_id!)).toEqual(expect.any(Number));
    expect(done.result).toBe("error");
    expect(done.message).toMatch(new RegExp(`^1 of 2 items ended in an error; first: recording ${tones.recordings["core-full-always.wav"]}: failed after ${ITEM_RETRY_LIMIT + 1} attempts: the DSP core had no room for its features, twice, on two threads — its memory could not grow \\(at WebAssembly's 4 GiB, or the host refused it more\\): out of WebAssembly memory: `));
  }, 60_000);

  it("a job whose last item was settled by a worker that died before completing the job completes on the item's redelivery", async () => {
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [fx.recordings["tone3k.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    let taken: { id: string } | undefined;
    while (!taken) [taken] = await boss.fetch(ITEM_QUEUE);
    // The dying worker: it settled the item (here as failed), then died before completing the job, and its delivery lapsed.
    await startJob(t.db.sql, job.id);
    await t.db.sql`UPDATE job_items SET status = 'failed', error = 'settled before the worker died', finished_at = now() WHERE job_id = ${job.id}`;
    await t.db.sql`UPDATE jobs SET progress_done = 1 WHERE id = ${job.id}`;
    await boss.fail(ITEM_QUEUE, taken.id, { message: "heartbeat lapsed" });
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 20_000));
    expect(done).toMatchObject({ result: "failure", progress_done: 1 });
    expect(done.message).toMatch(/1 of 1 items failed; first: recording .*: settled before the worker died$/);
  }, 30_000);

  it("a delivery that finishes after another settled its item — its worker cut off from the database past the item's heartbeat, then back — writes nothing: the values and progress stay the other's", async () => {
    const ds = await toneDataset(["late.wav"], 1);
    const recording = ds.recordings["late.wav"];
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [recording] }, features: ["rms_dbfs"] }, created_by: null });
    // While this worker computes the item, the worker the item went to once this one's heartbeat lapsed settles it, with values of its own.
    beforeRun.set("late.wav", async () => {
      await t.db.sql.begin(async (tx) => {
        await tx`UPDATE job_items SET status = 'done', seconds = 1, host = 'other-host', pid = 1, finished_at = now() WHERE job_id = ${job.id}`;
        await putFeatureValues(tx, "recording", [{ id: recording, name: "rms_dbfs", value: -99, created_by: null, run_id: job.run_id }]);
        await tx`UPDATE jobs SET progress_done = 1 WHERE id = ${job.id}`;
      });
    });
    try {
      await withWorker(() => expect.poll(() => deliveries(job.id), { timeout: 30_000, interval: 200 }).toEqual([[ITEM_QUEUE, "completed", 0]]));
    } finally {
      beforeRun.delete("late.wav");
    }
    const [item] = await t.db.sql`SELECT status, host, attempts FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toEqual({ status: "done", host: "other-host", attempts: 1 });
    expect(await featureValue("recording_features", recording, "rms_dbfs", job.run_id!)).toBe(-99);
    expect(await getJob(t.db.sql, job.id)).toMatchObject({ status: "running", progress_done: 1, progress_total: 1 });
    await completeJob(t.db.sql, job.id, "success"); // as the other worker would
  }, 60_000);

  it("a delivery whose outcome the database refused is logged with the database's words — a full disk's 'could not extend file' (53100) was said nowhere, the item ending as if its workers had died", async () => {
    // A refusal of the item's write, as a full disk gives one: here a constraint no new row meets.
    await t.db.sql`ALTER TABLE recording_features ADD CONSTRAINT disk_full CHECK (false) NOT VALID`;
    const logged: string[] = [];
    const refusal = () => logged.find((m) => m.includes("delivery 1 of"));
    try {
      const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [fx.recordings["tone3k.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
      const done = await withWorker(async () => {
        for (const until = Date.now() + 15_000; Date.now() < until && !refusal();) await new Promise((r) => setTimeout(r, 100));
        await t.db.sql`ALTER TABLE recording_features DROP CONSTRAINT IF EXISTS disk_full`; // space freed: the next delivery records it
        return waitForJob(t.db.sql, job.id, (j) => j.status === "completed");
      }, { log: (m) => logged.push(m) });
      expect(refusal()).toBe(`job ${job.id} item 0 (recording tone3k.wav): delivery 1 of ${ITEM_RETRY_LIMIT + 1} failed: disk_full: violates the rule disk_full`);
      expect(done).toMatchObject({ result: "success", progress_done: 1 });
    } finally {
      await t.db.sql`ALTER TABLE recording_features DROP CONSTRAINT IF EXISTS disk_full`;
    }
  }, 30_000);

  it("an item whose check before computing meets a database error gives its thread's place back: the worker goes on computing once the database answers (with one thread it computed nothing more, for good)", async () => {
    const ds = await toneDataset(["wedge-a.wav", "wedge-b.wav"], 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: Object.values(ds.recordings) }, features: ["rms_dbfs"] }, created_by: null });
    // The first item's computation done, job_items goes away for a second: the second item, which
    // waited for the one thread's place, takes it and meets the error in its check (isPending), as the
    // first's outcome does; both are delivered again once it is back.
    let back: Promise<void> | undefined;
    afterRun = async () => {
      afterRun = undefined;
      await t.db.sql`ALTER TABLE job_items RENAME TO job_items_away`;
      back = new Promise((resolve) => setTimeout(resolve, 1500)).then(async () => void (await t.db.sql`ALTER TABLE job_items_away RENAME TO job_items`));
    };
    const logged: string[] = [];
    try {
      const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 30_000), { log: (m) => logged.push(m) });
      expect(done).toMatchObject({ result: "success", progress_done: 2, progress_total: 2 });
      // Both items' first deliveries failed on the missing table, the one waiting for the place among them.
      expect(logged.filter((m) => / item [01] .*: delivery 1 of \d+ failed: .*job_items/.test(m))).toHaveLength(2);
    } finally {
      afterRun = undefined;
      await back;
    }
  }, 60_000);

  it("an item whose deliveries all died is recorded as ended in an error from the dead-letter queue", async () => {
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [fx.recordings["tone3k.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // Play the dying workers: take the item and fail it, as pg-boss does when a heartbeat lapses, until no retry is left.
    for (let failures = 0; failures <= ITEM_RETRY_LIMIT;) {
      const [taken] = await boss.fetch(ITEM_QUEUE);
      if (taken) {
        await boss.fail(ITEM_QUEUE, taken.id, { message: "heartbeat lapsed" });
        failures++;
      } else {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
    expect(done).toMatchObject({ result: "error", progress_done: 1 });
    expect(done.message).toMatch(new RegExp(`^1 of 1 items ended in an error; first: recording .*: gave up after ${ITEM_RETRY_LIMIT + 1} deliveries: the workers holding it died or lost the database$`));
    const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM recording_features WHERE run_id = ${job.run_id}`;
    expect(n).toBe(0);
  }, 30_000);

  it("an item computes its target as it is when executed: a time expansion or clip bounds changed after submission count", async () => {
    const ds = await toneDataset(["te.wav", "moved.wav"]);
    const clip = await createClip(t.db.sql, { recording_id: ds.recordings["moved.wav"], start_time: 0.1, end_time: 0.2, created_by: null });
    const features = ["duration_s", "peak_frequency_hz"] as ("duration_s" | "peak_frequency_hz")[];
    const recordingJob = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["te.wav"]] }, features }, created_by: null });
    const clipJob = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: [clip.id] }, features }, created_by: null });
    // While the items wait in the queue: the recording is found to be time-expanded ×10; the
    // clip's recording ×2 (1 s long now), and the clip is moved.
    await updateRecording(t.db.sql, ds.recordings["te.wav"], { time_expansion: 10 });
    await updateRecording(t.db.sql, ds.recordings["moved.wav"], { time_expansion: 2 }, { clips: "keep" });
    await updateClip(t.db.sql, clip.id, { start_time: 0.25, end_time: 0.75 });
    const [doneRecording, doneClip] = await withWorker(() => Promise.all([recordingJob, clipJob].map((j) => waitForJob(t.db.sql, j.id, (x) => x.status === "completed"))));
    expect(doneRecording).toMatchObject({ result: "success" });
    expect(doneClip).toMatchObject({ result: "success" });

    // In real units of the current time expansion: 2 s of file at ×10 last 0.2 s, the 1 kHz tone is at 10 kHz.
    const expectedRecording = await featuresOfFile(join(ds.dir, "te.wav"), {}, {}, { timeExpansion: 10 });
    expect(await featureValue("recording_features", ds.recordings["te.wav"], "duration_s", recordingJob.run_id!)).toBeCloseTo(0.2, 9);
    expect(await featureValue("recording_features", ds.recordings["te.wav"], "peak_frequency_hz", recordingJob.run_id!)).toBe(expectedRecording.peak_frequency_hz);
    expect(expectedRecording.peak_frequency_hz).toBeGreaterThan(9000);
    // The clip's current bounds (0.25–0.75 s) at its recording's current time expansion.
    const expectedClip = await featuresOfFile(join(ds.dir, "moved.wav"), {}, { start: 0.25, end: 0.75 }, { timeExpansion: 2 });
    expect(await featureValue("clip_features", clip.id, "duration_s", clipJob.run_id!)).toBeCloseTo(0.5, 9);
    expect(await featureValue("clip_features", clip.id, "peak_frequency_hz", clipJob.run_id!)).toBe(expectedClip.peak_frequency_hz);
    // The feature table gives the bounds the values are of.
    const [artifact] = (await listArtifacts(t.db.sql, { limit: 10, offset: 0, state: "active", job_id: clipJob.id })).items;
    const chunks: Buffer[] = [];
    for await (const chunk of readFileContents(t.db.sql, artifact.file_sha256, artifact.size)) chunks.push(chunk);
    const lines = Buffer.concat(chunks).toString("utf8").trim().split("\n");
    expect(lines[0]).toBe("clip_id,recording_id,path,md5,start_time,end_time,duration_s,peak_frequency_hz");
    expect(lines[1].split(",").slice(0, 6)).toEqual([clip.id, ds.recordings["moved.wav"], "moved.wav", await fileMd5(join(ds.dir, "moved.wav")), "0.25", "0.75"]);
    expect(Number(lines[1].split(",")[6])).toBeCloseTo(0.5, 9);

    // The time expansion changed again: the values, of the old factor, go; the jobs' tables, records of what they computed, stay.
    await updateRecording(t.db.sql, ds.recordings["te.wav"], { time_expansion: 1 });
    await updateRecording(t.db.sql, ds.recordings["moved.wav"], { time_expansion: 1 }, { clips: "follow" });
    expect(await featureValue("recording_features", ds.recordings["te.wav"], "peak_frequency_hz", recordingJob.run_id!)).toBeUndefined();
    expect(await featureValue("clip_features", clip.id, "peak_frequency_hz", clipJob.run_id!)).toBeUndefined();
    expect(await t.db.sql`SELECT count(*)::int AS n FROM artifacts WHERE job_id = ANY(${[recordingJob.id, clipJob.id]}::uuid[])`).toEqual([{ n: 6 }]);
  }, 60_000);

  it("a recording deleted between the worker's two reads of a batch fails its own item alone, not retried (the whole batch had failed, each item using a retry)", async () => {
    const ds = await toneDataset(["between-kept.wav", "between-deleted.wav"], 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["between-kept.wav"], ds.recordings["between-deleted.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    const deleted = ds.recordings["between-deleted.wav"];
    let batch: string[] = [];
    // At the batch that holds the recording: the worker's two pg-boss fetchers may take the two
    // items in one batch or one each (on PostgreSQL they did, now and then).
    const deleteBetween = async (locations: Map<string, unknown>) => {
      if (!locations.has(deleted)) return void (afterLocations.once = deleteBetween);
      batch = [...locations.keys()];
      await deleteRecording(t.db.sql, deleted);
      locations.delete(deleted); // as a read after the deletion finds them
    };
    afterLocations.once = deleteBetween;
    const [done] = await withWorker(() => Promise.all([waitForJob(t.db.sql, job.id, (x) => x.status === "completed")]));
    expect(batch).toContain(deleted); // read by targetsNow before the deletion, its location after
    const items = await t.db.sql`SELECT status, attempts, error FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(items.map((i) => [i.status, i.attempts, i.error])).toEqual([
      ["done", 1, null],
      ["failed", 1, "recording between-deleted.wav no longer exists (deleted after the job was submitted)"],
    ]);
    expect(done).toMatchObject({ result: "failure", progress_done: 2 });
  }, 60_000);

  it("an item whose target became read-only or was deleted after submission fails at once, saying why, and is not retried", async () => {
    const ds = await toneDataset(["ok.wav", "ro.wav", "gone.wav"], 1);
    const clip = await createClip(t.db.sql, { recording_id: ds.recordings["ok.wav"], start_time: 0.1, end_time: 0.2, created_by: null });
    const recordingJob = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["ok.wav"], ds.recordings["ro.wav"], ds.recordings["gone.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    const clipJob = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: [clip.id] }, features: ["rms_dbfs"] }, created_by: null });
    await setState(t.db.sql, "recordings", ds.recordings["ro.wav"], "archived");
    await deleteRecording(t.db.sql, ds.recordings["gone.wav"]);
    await deleteClip(t.db.sql, clip.id);
    const [done, doneClip] = await withWorker(() => Promise.all([recordingJob, clipJob].map((j) => waitForJob(t.db.sql, j.id, (x) => x.status === "completed"))));
    expect(done).toMatchObject({ result: "failure", progress_done: 3 });
    // Named once, by its path: it read "first: recording <id>: recording ro.wav is archived".
    expect(done.message).toBe(`2 of 3 items failed; first: recording ro.wav is archived (read-only): restore it and run the job again`);
    const items = await t.db.sql`SELECT status, attempts, error FROM job_items WHERE job_id = ${recordingJob.id} ORDER BY item`;
    expect(items.map((i) => [i.status, i.attempts, i.error])).toEqual([
      ["done", 1, null],
      ["failed", 1, "recording ro.wav is archived (read-only): restore it and run the job again"],
      ["failed", 1, "recording gone.wav no longer exists (deleted after the job was submitted)"],
    ]);
    expect(doneClip).toMatchObject({ result: "failure", message: `1 of 1 items failed; first: clip ${clip.id} of recording ok.wav no longer exists (deleted after the job was submitted)` });
    // Every failed item is listed, named as the API names records, with why.
    expect((await listJobItems(t.db.sql, recordingJob.id, { limit: 10, offset: 0, status: "failed" })).items).toEqual([1, 2].map((item) => ({
      item, kind: "recording", target_id: ds.recordings[["", "ro.wav", "gone.wav"][item]], recording_id: ds.recordings[["", "ro.wav", "gone.wav"][item]],
      recording_path: ["", "ro.wav", "gone.wav"][item], start_time: null, end_time: null, status: "failed", attempts: 1, seconds: null,
      error: items[item].error, host: hostname(), pid: process.pid, engine_version: null, recording_hash: null, finished_at: expect.any(String), missing_on: [],
    })));
    expect((await listJobItems(t.db.sql, clipJob.id, { limit: 10, offset: 0 }))).toMatchObject({ total: 1, items: [{ kind: "clip", target_id: clip.id, recording_path: "ok.wav", start_time: 0.1, end_time: 0.2, status: "failed" }] });
    expect((await listJobItems(t.db.sql, recordingJob.id, { limit: 10, offset: 0, status: "done" })).items).toMatchObject([{ item: 0, recording_path: "ok.wav", seconds: 1, error: null }]);
    // One delivery each, completed: pg-boss neither retried them nor dead-lettered them.
    expect(await deliveries(recordingJob.id)).toEqual([0, 1, 2].map(() => [ITEM_QUEUE, "completed", 0]));
    expect(await deliveries(clipJob.id)).toEqual([[ITEM_QUEUE, "completed", 0]]);
    expect(await featureValue("recording_features", ds.recordings["ok.wav"], "rms_dbfs", recordingJob.run_id!)).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 1);
  }, 60_000);

  it("an item whose target is archived while it is computed fails once, saying why, and is not retried", async () => {
    const ds = await toneDataset(["mid.wav"], 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["mid.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // The dataset is archived once the worker has read the target, before its values are written.
    beforeRun.set("mid.wav", () => setState(t.db.sql, "datasets", ds.id, "archived"));
    try {
      const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
      expect(done).toMatchObject({ result: "failure", progress_done: 1 });
      expect(done.message).toBe(`1 of 1 items failed; first: recording ${ds.recordings["mid.wav"]}: dataset ${ds.name} is archived (read-only): restore it and run the job again`);
    } finally {
      beforeRun.delete("mid.wav");
    }
    const items = await t.db.sql`SELECT status, attempts FROM job_items WHERE job_id = ${job.id}`;
    expect(items.map((i) => [i.status, i.attempts])).toEqual([["failed", 1]]);
    expect(await deliveries(job.id)).toEqual([[ITEM_QUEUE, "completed", 0]]);
    expect(await featureValue("recording_features", ds.recordings["mid.wav"], "rms_dbfs", job.run_id!)).toBeUndefined();
  }, 60_000);

  /** Deadlocks PostgreSQL has counted in the test database (pg_stat_database). */
  const deadlocks = async () => (await t.db.sql<{ n: number }[]>`SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()`)[0].n;
  /** Returns once a session of the test database waits for a lock (the settlement, for `what`). */
  const lockWaited = async (what: string) => {
    for (let i = 0; i < 400; i++) {
      const [{ n }] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`;
      if (n) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the settlement never waited for ${what}`);
  };

  // Needs a second connection holding a lock while the worker settles: PostgreSQL only.
  it.skipIf(!REAL_PG_URL)("an item settled while its clip's recording is deleted waits for the delete and fails, the clip gone: no deadlock (the settlement locked the clip before its recording, the delete the recording before its clips)", async () => {
    const ds = await toneDataset(["cut.wav"], 1);
    const recording = ds.recordings["cut.wav"];
    const clip = await createClip(t.db.sql, { recording_id: recording, start_time: 0.1, end_time: 0.2, created_by: null });
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: [clip.id] }, features: ["rms_dbfs"] }, created_by: null });
    const before = await deadlocks();
    // Once the clip is computed: a delete of its recording takes the recording's row, the
    // settlement starts and waits for it, then the delete goes on to its clips (the cascade).
    let deleted: Promise<unknown> | undefined;
    afterRun = async () => {
      afterRun = undefined;
      let locked!: () => void;
      const held = new Promise<void>((resolve) => (locked = resolve));
      deleted = t.db.sql.begin(async (tx) => {
        await tx`SELECT id FROM recordings WHERE id = ${recording} FOR UPDATE`;
        locked();
        await lockWaited("the recording");
        await deleteRecording(tx, recording);
      });
      await held;
    };
    try {
      const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
      await deleted;
      expect(done).toMatchObject({ result: "failure", progress_done: 1 });
      expect(done.message).toMatch(new RegExp(`^1 of 1 items failed; first: clip ${clip.id} of recording .* no longer exists`));
    } finally {
      afterRun = undefined;
    }
    expect(await deadlocks()).toBe(before);
    expect(await deliveries(job.id)).toEqual([[ITEM_QUEUE, "completed", 0]]);
  }, 60_000);

  // As above: PostgreSQL only.
  it.skipIf(!REAL_PG_URL)("a settlement PostgreSQL aborts as the loser of a deadlock runs again: the item is settled by its first delivery, not delivered and computed again", async () => {
    const ds = await toneDataset(["knot.wav"], 1);
    const recording = ds.recordings["knot.wav"];
    const clip = await createClip(t.db.sql, { recording_id: recording, start_time: 0.1, end_time: 0.2, created_by: null });
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: [clip.id] }, features: ["rms_dbfs"] }, created_by: null });
    const before = await deadlocks();
    // Once the clip is computed: a transaction that locks from the bottom up (a lab's own SQL)
    // takes the clip's row, the settlement waits for it holding the recording's, then the
    // transaction asks for the recording's: a deadlock, which PostgreSQL ends by aborting the
    // settlement, the first to have waited. Which waiter PostgreSQL aborts is the one whose
    // deadlock_timeout (1 s) ends first; under load the transaction's could end first, so it
    // waits 60 s before looking for a deadlock and the settlement is always the one aborted.
    let knot: Promise<unknown> | undefined;
    afterRun = async () => {
      afterRun = undefined;
      let locked!: () => void;
      const held = new Promise<void>((resolve) => (locked = resolve));
      knot = t.db.sql.begin(async (tx) => {
        await tx`SET LOCAL deadlock_timeout = '60s'`;
        await tx`SELECT id FROM clips WHERE id = ${clip.id} FOR UPDATE`;
        locked();
        await lockWaited("the clip");
        await tx`SELECT id FROM recordings WHERE id = ${recording} FOR UPDATE`;
      });
      await held;
    };
    try {
      const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
      await knot;
      expect(done).toMatchObject({ result: "success", progress_done: 1 });
    } finally {
      afterRun = undefined;
    }
    expect(await deadlocks()).toBe(before + 1);
    expect(await deliveries(job.id)).toEqual([[ITEM_QUEUE, "completed", 0]]);
  }, 60_000);

  it("abort: an item being computed is cancelled within seconds, and nothing of it is written", async () => {
    const ds = await toneDataset(["held.wav"], 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["held.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // A computation that lasts until it is cancelled (or 30 s), like an hours-long recording's: the job is aborted while it runs.
    let cancelled = false;
    beforeRun.set("held.wav", async (signal) => {
      await abortExtractJob(t.db.sql, job.id, "not needed");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 30_000);
        signal?.addEventListener("abort", () => { cancelled = true; clearTimeout(timer); resolve(); });
      });
    });
    try {
      await withWorker(() => expect.poll(() => deliveries(job.id), { timeout: 45_000, interval: 200 }).toEqual([[ITEM_QUEUE, "completed", 0]]));
    } finally {
      beforeRun.delete("held.wav");
    }
    expect(cancelled).toBe(true);
    const items = await t.db.sql`SELECT status, attempts FROM job_items WHERE job_id = ${job.id}`;
    expect(items.map((i) => [i.status, i.attempts])).toEqual([["skipped", 1]]);
    expect(await featureValue("recording_features", ds.recordings["held.wav"], "rms_dbfs", job.run_id!)).toBeUndefined();
    expect(await getJob(t.db.sql, job.id)).toMatchObject({ status: "aborted", message: "aborted: 0 of 1 items done, 1 skipped; why: not needed" });
  }, 60_000);

  it("abort keeps the work done: the feature table of the items done is the job's artifact, with its metrics", async () => {
    const ds = await toneDataset(["a-done.wav", "b-held.wav"], 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { dataset_id: ds.id }, features: ["rms_dbfs"], expiration_delay: 60 }, created_by: null });
    // The second item is aborted once the first is done, and held until cancelled (on a thread of
    // its own: two threads, the first item computed on the other).
    beforeRun.set("b-held.wav", async (signal) => {
      await waitForItem(job.id, 0, (row) => row.status === "done");
      await abortExtractJob(t.db.sql, job.id);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 30_000);
        signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); });
      });
    });
    try {
      await withWorker(() => expect.poll(() => deliveries(job.id), { timeout: 45_000, interval: 200 }).toEqual([[ITEM_QUEUE, "completed", 0], [ITEM_QUEUE, "completed", 0]]), { threads: 2 });
    } finally {
      beforeRun.delete("b-held.wav");
    }
    expect((await listJobItems(t.db.sql, job.id, { limit: 10, offset: 0 })).items.map((i) => [i.recording_path, i.status])).toEqual([["a-done.wav", "done"], ["b-held.wav", "skipped"]]);
    const [artifact, matrix] = (await listArtifacts(t.db.sql, { limit: 10, offset: 0, state: "active", job_id: job.id })).items;
    expect(artifact).toMatchObject({ name: "features.csv", expiration_delay: 60 });
    expect(matrix).toMatchObject({ name: "features.npy", expiration_delay: 60, size: 128 + 4 }); // [1, 1]: the item done
    const chunks: Buffer[] = [];
    for await (const chunk of readFileContents(t.db.sql, artifact.file_sha256, artifact.size)) chunks.push(chunk);
    const rms = await featureValue("recording_features", ds.recordings["a-done.wav"], "rms_dbfs", job.run_id!);
    expect(rms).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 2); // a sine of amplitude 0.5
    expect(Buffer.concat(chunks).toString("utf8")).toBe(`recording_id,path,md5,rms_dbfs\n${ds.recordings["a-done.wav"]},a-done.wav,${await fileMd5(join(ds.dir, "a-done.wav"))},${rms}\n`);
    const metrics = (await listMetrics(t.db.sql, job.id, { limit: 10, offset: 0 })).items;
    expect(Object.fromEntries(metrics.map((m) => [m.key, m.value]))).toMatchObject({ items_done: 1, items_failed: 0, items_errored: 0 });
    // Its message says what the abort left, as a finished job's says what failed (it was null, as its result).
    expect(await getJob(t.db.sql, job.id)).toMatchObject({ status: "aborted", result: null, message: "aborted: 1 of 2 items done, 1 skipped" });
    // A job aborted before it started keeps a table of its columns alone.
    const early = await submitExtractJob(t.db.sql, boss, { data: { targets: { dataset_id: ds.id }, features: ["rms_dbfs"] }, created_by: null });
    expect(await abortExtractJob(t.db.sql, early.id)).toMatchObject({ status: "aborted", message: "aborted: 0 of 2 items done, 2 skipped" });
    const empty = (await listArtifacts(t.db.sql, { limit: 10, offset: 0, state: "active", job_id: early.id })).items;
    expect(empty).toMatchObject([{ name: "features.csv", size: "recording_id,path,md5,rms_dbfs\n".length }, { name: "features.npy", size: 128, description: expect.stringMatching(/^float32 \[0, 1\]/) }, { name: "provenance.json", media_type: "application/json" }]);
    expect(Object.fromEntries((await listMetrics(t.db.sql, early.id, { limit: 10, offset: 0 })).items.map((m) => [m.key, m.value]))).toEqual({ audio_seconds_per_second: 0, items_done: 0, items_failed: 0, items_errored: 0 });
  }, 60_000);

  it("an item whose target changes while it is computed is computed again, as it is then", async () => {
    const ds = await toneDataset(["during.wav"], 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["during.wav"]] }, features: ["duration_s"] }, created_by: null });
    // Found to be time-expanded ×4 once the worker has read the target, before its values are written.
    beforeRun.set("during.wav", async () => void (await updateRecording(t.db.sql, ds.recordings["during.wav"], { time_expansion: 4 })));
    try {
      const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
      expect(done).toMatchObject({ result: "success", progress_done: 1 });
    } finally {
      beforeRun.delete("during.wav");
    }
    expect(await featureValue("recording_features", ds.recordings["during.wav"], "duration_s", job.run_id!)).toBeCloseTo(0.25, 9);
    const [item] = await t.db.sql`SELECT attempts, seconds, target FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toMatchObject({ attempts: 1, target: { time_expansion: 4 } });
    expect(item.seconds).toBeCloseTo(0.25, 9);
  }, 60_000);

  it("a clip moved while its features are computed gets those of its new bounds: the values of the old ones are not written back over the move's removal of them", async () => {
    const ds = await toneDataset(["moved-during.wav"], 1);
    const clip = await createClip(t.db.sql, { recording_id: ds.recordings["moved-during.wav"], start_time: 0.1, end_time: 0.2, created_by: null });
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: [clip.id] }, features: ["duration_s"] }, created_by: null });
    let removed: number | undefined;
    // Moved once the worker has read its bounds (0.1–0.2 s), before its values are written.
    beforeRun.set("moved-during.wav", async () => void ({ stale_feature_values_removed: removed } = await updateClip(t.db.sql, clip.id, { end_time: 0.35 })));
    try {
      expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"))).toMatchObject({ result: "success", progress_done: 1 });
    } finally {
      beforeRun.delete("moved-during.wav");
    }
    expect(removed).toBe(0); // none written yet
    expect(await featureValue("clip_features", clip.id, "duration_s", job.run_id!)).toBeCloseTo(0.25, 9);
    const [item] = await t.db.sql`SELECT attempts, target FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toMatchObject({ attempts: 1, target: { start: 0.1, end: 0.35 } });
    // Moved once they are written: removed, and counted.
    expect((await updateClip(t.db.sql, clip.id, { start_time: 0.15 })).stale_feature_values_removed).toBe(1);
    expect(await featureValue("clip_features", clip.id, "duration_s", job.run_id!)).toBeUndefined();
  }, 60_000);

  it("a worker writes the outcomes of items that finish together in one transaction, two jobs' values of one recording among them", async () => {
    const ds = await toneDataset(["first.wav", "second.wav"], 1);
    const first = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["first.wav"], ds.recordings["second.wav"]] }, features: ["rms_dbfs", "log_mel"] }, created_by: null });
    const again = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["first.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // The three items' outcomes are held until all three are computed — on three threads: an item
    // computes only on a thread of its own (computingPlaces) — then given at once. (That a worker
    // holds two batches: the stopping worker's test.)
    let computed = 0;
    let releaseAll!: () => void;
    const released = new Promise<void>((resolve) => (releaseAll = resolve));
    afterRun = () => {
      if (++computed === 3) releaseAll();
      return released;
    };
    try {
      await withWorker(() => Promise.all([first, again].map((j) => waitForJob(t.db.sql, j.id, (done) => done.status === "completed", 20_000))), { threads: 3 });
    } finally {
      afterRun = undefined;
    }
    expect(computed).toBe(3);
    for (const job of [first, again]) expect(await getJob(t.db.sql, job.id)).toMatchObject({ result: "success", progress_done: job.progress_total });
    // One transaction: one now() for every row it settled.
    const items = await t.db.sql`SELECT status, attempts, finished_at::text AS finished_at FROM job_items WHERE job_id IN (${first.id}, ${again.id})`;
    expect(items.map((i) => [i.status, i.attempts])).toEqual([["done", 1], ["done", 1], ["done", 1]]);
    expect(new Set(items.map((i) => i.finished_at)).size).toBe(1);
    // Both jobs wrote first.wav's rms_dbfs in that transaction: one row, the value both computed.
    const [rms] = await t.db.sql`
      SELECT count(*)::int AS rows, min(v.value) AS value FROM recording_features v JOIN feature_names f ON f.id = v.feature_name_id
      WHERE v.recording_id = ${ds.recordings["first.wav"]} AND f.name = 'rms_dbfs'`;
    expect(rms.rows).toBe(1);
    expect(rms.value).toBe((await featuresOfFile(join(ds.dir, "first.wav"), {})).rms_dbfs);
    expect(await featureValue("recording_features", ds.recordings["second.wav"], "rms_dbfs", first.run_id!)).toBe((await featuresOfFile(join(ds.dir, "second.wav"), {})).rms_dbfs);
  }, 60_000);

  it("a stopping worker finishes only the item it is computing: the items it holds but has not begun go back to the queue at once, no delivery counted, and another worker computes them", async () => {
    const files = ["held-1.wav", "held-2.wav", "held-3.wav", "held-4.wav"];
    const ds = await toneDataset(files, 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: files.map((f) => ds.recordings[f]) }, features: ["rms_dbfs"] }, created_by: null });
    // Whichever item the one-thread worker begins first is held there until the stop is under way.
    let begun: string | undefined;
    let releaseGate!: () => void;
    const gate = new Promise<void>((resolve) => (releaseGate = resolve));
    for (const file of files) beforeRun.set(file, async () => {
      begun ??= file;
      await gate;
    });
    const attempts = async () => (await t.db.sql<{ attempts: number }[]>`SELECT attempts FROM job_items WHERE job_id = ${job.id} ORDER BY item`).map((i) => i.attempts);
    const until = async (what: string, done: () => Promise<boolean>) => {
      for (const end = Date.now() + 10_000; !(await done());) {
        if (Date.now() > end) throw new Error(`not within 10 s: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const a = await testWorker({ host: "host-a" });
    let stopped: Promise<number> | undefined;
    try {
      // Two batches of two in hand (BATCHES_IN_HAND, 2 items per thread), one item begun.
      await until("four items claimed, one begun", async () => begun !== undefined && (await attempts()).every((n) => n === 1));
      stopped = a.stop();
      // The three not begun are back in the queue — new messages — their claims taken back, while the begun one is still held.
      await until("three items given back", async () => (await attempts()).filter((n) => n === 0).length === 3);
      const [{ queued }] = await t.db.sql`SELECT count(*)::int AS queued FROM pgboss.job WHERE data->>'job_id' = ${job.id} AND state = 'created'`;
      expect(queued).toBe(3);
    } finally {
      releaseGate();
      await (stopped ?? a.stop());
      beforeRun.clear();
    }
    // The stopped worker computed the begun item only.
    const settledBy = async () => t.db.sql<{ path: string; status: string; attempts: number; host: string | null }[]>`
      SELECT target->>'recording_path' AS path, status, attempts, host FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(await settledBy()).toEqual(files.map((path) => (path === begun
      ? { path, status: "done", attempts: 1, host: "host-a" }
      : { path, status: "pending", attempts: 0, host: null })));
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"), { host: "host-b" });
    expect(done).toMatchObject({ result: "success", progress_done: 4 });
    // Each item delivered once to the worker that computed it, its values stored once.
    expect(await settledBy()).toEqual(files.map((path) => ({ path, status: "done", attempts: 1, host: path === begun ? "host-a" : "host-b" })));
    const [{ rows }] = await t.db.sql`
      SELECT count(*)::int AS rows FROM recording_features v JOIN feature_names f ON f.id = v.feature_name_id
      WHERE v.recording_id = ANY(${files.map((f) => ds.recordings[f])}::uuid[]) AND f.name = 'rms_dbfs' AND v.run_id = ${job.run_id}`;
    expect(rows).toBe(4);
    for (const file of files) expect(await featureValue("recording_features", ds.recordings[file], "rms_dbfs", job.run_id!)).toBe((await featuresOfFile(join(ds.dir, file), {})).rms_dbfs);
  }, 60_000);

  it("an item whose file was replaced, rewritten, removed or swapped for a symlink out of its dataset directory since registration fails at once, saying why", async () => {
    const files = ["kept.wav", "longer.wav", "rewritten.wav", "removed.wav", "escaped.wav"];
    const ds = await toneDataset(files, 1);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: files.map((f) => ds.recordings[f]) }, features: ["rms_dbfs"] }, created_by: null });
    const registered = (await stat(join(ds.dir, "longer.wav"))).size;
    await writeSineWav(join(ds.dir, "longer.wav"), 8000, 2, 1000);
    // Another tone of the same length (the same size), at a later time than the registration's.
    const rewritten = join(ds.dir, "rewritten.wav"), { mtimeMs } = await stat(rewritten), registeredMd5 = await fileMd5(rewritten);
    await writeSineWav(rewritten, 8000, 1, 1500);
    await utimes(rewritten, new Date(), new Date(mtimeMs + 1000));
    await rm(join(ds.dir, "removed.wav"));
    // The same tone, the same size, outside the dataset's directory.
    const outside = join(dir.path, "outside.wav");
    await writeSineWav(outside, 8000, 1, 1000);
    await rm(join(ds.dir, "escaped.wav"));
    await symlink(outside, join(ds.dir, "escaped.wav"));
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"));
    expect(done).toMatchObject({ result: "failure", progress_done: 5 });
    // The first failure names its recording once: it read "first: recording <id>: the file of recording <id> (longer.wav) …".
    expect(done.message).toBe(`4 of 5 items failed; first: the file of recording ${ds.recordings["longer.wav"]} (longer.wav) has changed since it was registered: ${registered} bytes then, ${(await stat(join(ds.dir, "longer.wav"))).size} now; its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (POST /v1/recordings/${ds.recordings["longer.wav"]}/refresh)`);
    const items = await t.db.sql`SELECT status, attempts, error FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(items.map((i) => [i.status, i.attempts, i.error])).toEqual([
      ["done", 1, null],
      ["failed", 1, `the file of recording ${ds.recordings["longer.wav"]} (longer.wav) has changed since it was registered: ${registered} bytes then, ${(await stat(join(ds.dir, "longer.wav"))).size} now; its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (POST /v1/recordings/${ds.recordings["longer.wav"]}/refresh)`],
      ["failed", 1, `the file of recording ${ds.recordings["rewritten.wav"]} (rewritten.wav) has changed since it was registered: the same size, but modified (MD5 ${registeredMd5} then, ${await fileMd5(rewritten)} now); its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (POST /v1/recordings/${ds.recordings["rewritten.wav"]}/refresh)`],
      // One machine: no other host could find it, and it is not retried.
      ["failed", 1, `recording removed.wav: file removed.wav does not exist in the dataset's audio_dir on host ${hostname()}, and no worker on another host is running to try it`],
      ["failed", 1, "recording escaped.wav: escaped.wav resolves outside the dataset's audio_dir"],
    ]);
    expect(await deliveries(job.id)).toEqual(files.map(() => [ITEM_QUEUE, "completed", 0]));
    expect(await featureValue("recording_features", ds.recordings["escaped.wav"], "rms_dbfs", job.run_id!)).toBeUndefined();
  }, 60_000);
  it("stores with every value and item done the engine version that computed it and the MD5 of the bytes it was computed from, and with its run the version that made it", async () => {
    const ds = await toneDataset(["traced.wav"], 1);
    const id = ds.recordings["traced.wav"];
    const registered = await fileMd5(join(ds.dir, "traced.wav"));
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [id] }, features: ["rms_dbfs", "log_mel"] }, created_by: null });
    expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"))).toMatchObject({ result: "success" });
    expect((await getRun(t.db.sql, job.run_id!)).engine_version).toBe(VERSION);
    for (const name of ["rms_dbfs", "log_mel"]) {
      expect(await getFeatureValue(t.db.sql, "recording", id, name)).toMatchObject({ run_id: job.run_id, engine_version: VERSION, recording_hash: registered });
    }
    expect((await listJobItems(t.db.sql, job.id, { limit: 10, offset: 0 })).items).toMatchObject([{ status: "done", engine_version: VERSION, recording_hash: registered }]);
    // The file replaced and refreshed: the recording's hash follows it, the values keep the one they were computed from.
    await writeSineWav(join(ds.dir, "traced.wav"), 8000, 2, 1000);
    const { recording } = await refreshRecordingFile(t.db.sql, id);
    expect(recording.hash).not.toBe(registered);
    expect((await getFeatureValue(t.db.sql, "recording", id, "rms_dbfs")).recording_hash).toBe(registered);
  }, 60_000);

  it("an item whose file is rewritten while it is computed fails, naming the recording and the refresh, and stores nothing; one only touched is computed again", async () => {
    const ds = await toneDataset(["rewritten-during.wav", "touched-during.wav"], 1);
    const [rewritten, touched] = ["rewritten-during.wav", "touched-during.wav"].map((f) => join(ds.dir, f));
    const [registeredRewritten, registeredTouched] = [await fileMd5(rewritten), await fileMd5(touched)];
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["rewritten-during.wav"], ds.recordings["touched-during.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // After the worker checked each file, before the computation reads it: another tone of the same
    // size (a later time), and the same bytes with a later time.
    const later = async (file: string) => utimes(file, new Date(), new Date((await stat(file)).mtimeMs + 1000));
    beforeRun.set("rewritten-during.wav", async () => {
      await writeSineWav(rewritten, 8000, 1, 1500);
      await later(rewritten);
    });
    beforeRun.set("touched-during.wav", () => later(touched));
    try {
      expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"))).toMatchObject({ result: "failure", progress_done: 2 });
    } finally {
      beforeRun.clear();
    }
    const items = (await listJobItems(t.db.sql, job.id, { limit: 10, offset: 0 })).items;
    const id = ds.recordings["rewritten-during.wav"];
    expect(items.map((i) => [i.status, i.error, i.recording_hash])).toEqual([
      ["failed", `the file of recording ${id} (rewritten-during.wav) has changed since it was registered: the same size, but modified (MD5 ${registeredRewritten} then, ${await fileMd5(rewritten)} now); its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (POST /v1/recordings/${id}/refresh)`, null],
      ["done", null, registeredTouched],
    ]);
    expect(await featureValue("recording_features", id, "rms_dbfs", job.run_id!)).toBeUndefined();
    expect(await featureValue("recording_features", ds.recordings["touched-during.wav"], "rms_dbfs", job.run_id!)).toBe((await featuresOfFile(touched, {})).rms_dbfs);
  }, 60_000);

  it("an item whose file one host cannot find is left for a worker on another host, which computes it", async () => {
    const ds = await toneDataset(["elsewhere.wav"], 1);
    const file = join(ds.dir, "elsewhere.wav");
    await rename(file, `${file}.away`); // not there for host-a
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["elsewhere.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    const leaveB = await workerElsewhere("host-b");
    const a = await testWorker({ host: "host-a" });
    try {
      // host-a found it missing and put it back, for host-b: pending, not failed, its delivery taken back.
      expect(await waitForItem(job.id, 0, (row) => row.missing_on.length > 0)).toEqual({ status: "pending", attempts: 0, missing_on: ["host-a"] });
    } finally {
      await a.stop();
      await leaveB();
    }
    await rename(`${file}.away`, file); // there for host-b
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"), { host: "host-b" });
    expect(done).toMatchObject({ result: "success", progress_done: 1 });
    const [item] = await t.db.sql`SELECT status, attempts, missing_on, host, pid, error FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toEqual({ status: "done", attempts: 1, missing_on: ["host-a"], host: "host-b", pid: process.pid, error: null });
    // Put back as a new message: pg-boss's retries stay for crashes. (And given back as another
    // when host-a's other fetcher took it during host-a's pause — woken by the first, on PostgreSQL.)
    const messages = await deliveries(job.id);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.filter(([, state, retries]) => state !== "completed" || retries !== 0)).toEqual([]);
    expect(await featureValue("recording_features", ds.recordings["elsewhere.wav"], "rms_dbfs", job.run_id!)).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 1);
  }, 60_000);

  it("a host leaving an item for another writes the item's row once: its claim, then missing_on and the claim taken back together", async () => {
    const ds = await toneDataset(["once.wav"], 1);
    const file = join(ds.dir, "once.wav");
    await rename(file, `${file}.away`);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["once.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // Every write of the item's row, as it left it (a table, not a temporary one: the worker writes on its own connections).
    await t.db.sql`CREATE TABLE item_writes (n serial, attempts int, missing_on text[])`;
    await t.db.sql`CREATE FUNCTION note_item_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO item_writes (attempts, missing_on) VALUES (NEW.attempts, NEW.missing_on); RETURN NEW; END $$`;
    await t.db.sql.unsafe(`CREATE TRIGGER note_item_write AFTER UPDATE ON job_items FOR EACH ROW WHEN (NEW.job_id = '${job.id}') EXECUTE FUNCTION note_item_write()`);
    const leaveB = await workerElsewhere("host-b");
    const a = await testWorker({ host: "host-a" });
    try {
      await waitForItem(job.id, 0, (row) => row.missing_on.length > 0);
    } finally {
      await a.stop();
      await leaveB();
    }
    try {
      // Its claim, then its leave: one write (there were two, missing_on then attempts). A take of
      // host-a's other fetcher during its pause gives the message back without a write.
      expect(await t.db.sql`SELECT attempts, missing_on FROM item_writes ORDER BY n`).toEqual([{ attempts: 1, missing_on: [] }, { attempts: 0, missing_on: ["host-a"] }]);
    } finally {
      await t.db.sql`DROP TRIGGER note_item_write ON job_items`;
      await t.db.sql`DROP FUNCTION note_item_write()`;
      await t.db.sql`DROP TABLE item_writes`;
      await abortExtractJob(t.db.sql, job.id);
    }
  }, 60_000);

  it("an item whose file workers on two hosts cannot find fails, naming both hosts", async () => {
    const ds = await toneDataset(["nowhere.wav"], 1);
    await rm(join(ds.dir, "nowhere.wav"));
    // Both running (registered) before the item is there to take.
    const [a, b] = [await testWorker({ host: "host-a" }), await testWorker({ host: "host-b" })];
    let job, done;
    try {
      job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["nowhere.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
      done = await waitForJob(t.db.sql, job.id, (j) => j.status === "completed");
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const [item] = await t.db.sql`SELECT status, attempts, missing_on, host, error FROM job_items WHERE job_id = ${job.id}`;
    // Whichever took it first, the other found it missing too.
    const [first, second] = item.missing_on;
    expect([first, second].sort()).toEqual(["host-a", "host-b"]);
    // The first host's take counted no delivery.
    expect(item).toEqual({ status: "failed", attempts: 1, missing_on: [first, second], host: second, error: `recording nowhere.wav: file nowhere.wav does not exist in the dataset's audio_dir on hosts ${first}, ${second}` });
    expect(done).toMatchObject({ result: "failure", message: `1 of 1 items failed; first: ${item.error}` });
  }, 60_000);

  it("an item whose file two hosts cannot find waits for a third host's running worker, which computes it: it fails only once every host running found it missing", async () => {
    const ds = await toneDataset(["third.wav"], 1);
    const file = join(ds.dir, "third.wav");
    await rename(file, `${file}.away`); // not there for host-a nor host-b
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["third.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    await t.db.sql`UPDATE job_items SET missing_on = '{host-b}' WHERE job_id = ${job.id}`; // host-b found it missing
    const leaveC = await workerElsewhere("host-c");
    const a = await testWorker({ host: "host-a" });
    try {
      // Before, it failed here ("on hosts host-b, host-a"), host-c never asked.
      expect(await waitForItem(job.id, 0, (row) => row.missing_on.length > 1)).toEqual({ status: "pending", attempts: 0, missing_on: ["host-b", "host-a"] });
    } finally {
      await a.stop();
      await leaveC();
    }
    await rename(`${file}.away`, file); // there for host-c
    expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"), { host: "host-c" })).toMatchObject({ result: "success", progress_done: 1 });
    const [item] = await t.db.sql`SELECT status, attempts, missing_on, host, error FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toEqual({ status: "done", attempts: 1, missing_on: ["host-b", "host-a"], host: "host-c", error: null });
  }, 60_000);

  it("a registered worker whose heartbeat lapsed (30 s) is no host to wait for: the item fails at once", async () => {
    const ds = await toneDataset(["lapsed.wav"], 1);
    await rm(join(ds.dir, "lapsed.wav"));
    const leaveB = await workerElsewhere("host-b");
    await t.db.sql`UPDATE job_workers SET seen_at = now() - interval '31 seconds' WHERE host = 'host-b'`;
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["lapsed.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    try {
      expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"), { host: "host-a" })).toMatchObject({ result: "failure" });
    } finally {
      await leaveB();
    }
    const [item] = await t.db.sql`SELECT status, attempts, missing_on, error FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toEqual({ status: "failed", attempts: 1, missing_on: ["host-a"], error: "recording lapsed.wav: file lapsed.wav does not exist in the dataset's audio_dir on host host-a, and no worker on another host is running to try it" });
  }, 60_000);

  it("a stopping worker, finishing its last item, is still a host to wait for: it leaves job_workers once its items are done, and an item another host cannot read fails only then", async () => {
    const ds = await toneDataset(["last.wav", "gone.wav"], 1);
    await rm(join(ds.dir, "gone.wav"));
    let begun!: () => void;
    const computing = new Promise<void>((resolve) => (begun = resolve));
    let releaseGate!: () => void;
    const gate = new Promise<void>((resolve) => (releaseGate = resolve));
    beforeRun.set("last.wav", async () => {
      begun();
      await gate;
    });
    const last = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["last.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    const b = await testWorker({ host: "host-b" });
    let stopped: Promise<number> | undefined;
    try {
      await computing;
      stopped = b.stop();
      const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["gone.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
      await withWorker(async () => {
        // host-a found it missing and left it for host-b, draining: a restart there (a deploy)
        // would be back before the row lapses. Before, host-b left job_workers as its stop began,
        // and the item failed here for the whole drain.
        expect(await waitForItem(job.id, 0, (row) => row.missing_on.length > 0)).toEqual({ status: "pending", attempts: 0, missing_on: ["host-a"] });
        expect(await t.db.sql`SELECT host FROM job_workers WHERE host = 'host-b'`).toHaveLength(1);
        releaseGate();
        await stopped;
        expect(await t.db.sql`SELECT host FROM job_workers WHERE host = 'host-b'`).toHaveLength(0);
        // host-b gone, host-a's next take fails it.
        expect(await waitForJob(t.db.sql, job.id, (j) => j.status === "completed")).toMatchObject({ result: "failure" });
      }, { host: "host-a" });
      const [item] = await t.db.sql`SELECT status, missing_on, error FROM job_items WHERE job_id = ${job.id}`;
      expect(item).toEqual({ status: "failed", missing_on: ["host-a"], error: "recording gone.wav: file gone.wav does not exist in the dataset's audio_dir on host host-a, and no worker on another host is running to try it" });
    } finally {
      releaseGate();
      await (stopped ?? b.stop());
      beforeRun.clear();
    }
    // The stopping worker finished its item all the same.
    expect(await getJob(t.db.sql, last.id)).toMatchObject({ status: "completed", result: "success" });
  }, 60_000);

  it("a host that cannot read an item's file uses up none of its deliveries, however often it takes it: the item waits for the host that can", async () => {
    const ds = await toneDataset(["later.wav"], 1);
    const file = join(ds.dir, "later.wav");
    await rename(file, `${file}.away`); // not there for host-a
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [ds.recordings["later.wav"]] }, features: ["rms_dbfs"] }, created_by: null });
    // As if it had been delivered 30 times (a bound of 10 deliveries failed it here, host-b running).
    await t.db.sql`UPDATE job_items SET attempts = 30, missing_on = '{host-a}' WHERE job_id = ${job.id}`;
    const leaveB = await workerElsewhere("host-b");
    const a = await testWorker({ host: "host-a" });
    try {
      // host-a took it (a message of its own, completed) and put it back (a new message), its delivery taken back.
      await expect.poll(async () => (await deliveries(job.id)).filter(([, state]) => state === "completed").length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    } finally {
      await a.stop();
      await leaveB();
    }
    // Read once host-a has stopped: a take of its in progress (claimed, 31, not yet left) had been read.
    expect(await waitForItem(job.id, 0, () => true)).toEqual({ status: "pending", attempts: 30, missing_on: ["host-a"] });
    await rename(`${file}.away`, file); // there for host-b
    expect(await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"), { host: "host-b" })).toMatchObject({ result: "success", progress_done: 1 });
    const [item] = await t.db.sql`SELECT status, attempts, host, error FROM job_items WHERE job_id = ${job.id}`;
    expect(item).toEqual({ status: "done", attempts: 31, host: "host-b", error: null });
  }, 60_000);

  it("a worker whose machine lacks a dataset's audio directory says so once in its log, naming it; alone, it fails the items at once", async () => {
    const ds = await toneDataset(["one.wav", "two.wav"], 1);
    await rm(ds.dir, { recursive: true });
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { dataset_id: ds.id }, features: ["rms_dbfs"] }, created_by: null });
    const logged: string[] = [];
    const done = await withWorker(() => waitForJob(t.db.sql, job.id, (j) => j.status === "completed"), { log: (m) => logged.push(m) });
    expect(done).toMatchObject({ result: "failure", progress_done: 2 });
    expect(logged).toEqual([`audio directory ${ds.dir} is missing or unreadable on this machine (host ${hostname()}: ENOENT): its datasets' job items are left for workers on other hosts — mount it here, or stop this worker`]);
    const items = await t.db.sql`SELECT status, attempts, error FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(items.map((i) => [i.status, i.attempts, i.error])).toEqual(["one.wav", "two.wav"].map((f) => [
      "failed", 1, `recording ${f}: the dataset's audio_dir is missing or unreadable (ENOENT) on host ${hostname()}, and no worker on another host is running to try it`,
    ]));
  }, 60_000);
});

describe("a job's targets by effective state", () => {
  /** A database of its own, whose statements are heard, with no worker: the jobs submitted stay pending. */
  let own: TestDatabase;
  let ownBoss: PgBoss;
  let heard: { statement: string; parameters: unknown[] }[] = [];
  beforeAll(async () => {
    own = await freshDatabase({ onStatement: (statement, parameters) => heard.push({ statement, parameters }) });
    ownBoss = await openQueue(own.db.sql);
  }, 60_000);
  afterAll(async () => {
    await ownBoss?.stop({ graceful: false, close: false });
    await own?.cleanup();
  });

  /** A recording of `datasetId` (its file is not read: no worker runs here). */
  const recordingOf = async (datasetId: string, path: string) =>
    (await insertRecording(own.db.sql, { dataset_id: datasetId, path, hash: "0123456789abcdef0123456789abcdef", file_size: 320044, file_samplerate: 16000, frames: 160000, channels: 1, created_by: null }))!.id;
  const submit = (targets: object) => submitExtractJob(own.db.sql, ownBoss, { data: { targets, features: ["rms_dbfs"] } as never, created_by: null });
  const targetsOf = async (jobId: string) => (await own.db.sql<{ id: string }[]>`SELECT target->>'id' AS id FROM job_items WHERE job_id = ${jobId} ORDER BY item`).map((r) => r.id);
  /** The ids of `n` half-second clips, 50 ms apart, of one recording of a new dataset `name`. */
  const clipsOf = async (name: string, n: number) => {
    const dataset = await createDataset(own.db.sql, { name, audio_dir: `/nonexistent/${name}`, created_by: null });
    const recording = await recordingOf(dataset.id, `${name}.wav`);
    const clips: string[] = [];
    for (let i = 0; i < n; i++) clips.push((await createClip(own.db.sql, { recording_id: recording, start_time: i / 20, end_time: i / 20 + 0.5, created_by: null })).id);
    return clips;
  };

  it("a submission takes exactly the targets that are active with every parent, and a retry leaves out exactly the others, whatever the combination of states", async () => {
    const sql = own.db.sql;
    // Every combination: 3 datasets × 3 recordings × 3 clips, built active, then each record's own state set.
    type Made = { id: string; own: State; effective: State };
    const datasets: Made[] = [];
    const recordings: (Made & { dataset: string; path: string })[] = [];
    const clips: Made[] = [];
    for (const d of STATES) {
      const dataset = await createDataset(sql, { name: `states-${d}`, audio_dir: `/nonexistent/states-${d}`, created_by: null });
      datasets.push({ id: dataset.id, own: d, effective: d });
      for (const r of STATES) {
        const path = `${r}.wav`;
        const recording = await recordingOf(dataset.id, path);
        recordings.push({ id: recording, own: r, effective: mostHidden(d, r), dataset: dataset.id, path });
        for (const [i, c] of STATES.entries()) {
          const clip = await createClip(sql, { recording_id: recording, start_time: i, end_time: i + 1, created_by: null });
          clips.push({ id: clip.id, own: c, effective: mostHidden(d, r, c) });
        }
      }
    }
    // And a recording of the active dataset with a clip, both deleted once the jobs below hold them.
    const gone = await recordingOf(datasets[0].id, "gone.wav");
    const goneClip = (await createClip(sql, { recording_id: gone, start_time: 0, end_time: 1, created_by: null })).id;
    // Jobs over every target while all are active, aborted (their items skipped) for the retries below.
    const recordingJob = await submit({ recording_ids: [...recordings.map((r) => r.id), gone] });
    const clipJob = await submit({ clip_ids: [...clips.map((c) => c.id), goneClip] });
    for (const job of [recordingJob, clipJob]) await abortExtractJob(sql, job.id);
    for (const [table, made] of [["clips", clips], ["recordings", recordings], ["datasets", datasets]] as const) {
      for (const m of made) await sql`UPDATE ${sql(table)} SET state = ${m.own} WHERE id = ${m.id}`;
    }
    await sql`DELETE FROM recordings WHERE id = ${gone}`;

    // Each target named alone: taken when it is active with every parent, refused naming it otherwise.
    const outcome = (kind: "recording" | "clip", id: string) => submit({ [`${kind}_ids`]: [id] }).then((job) => targetsOf(job.id), (err: Error) => err.message);
    const refusal = (kind: string, id: string) => `data.targets.${kind}_ids: archived or trashed (read-only, or under an archived or trashed parent): ${kind} ${id}; restore first`;
    const named = [...recordings.map((r) => ["recording", r] as const), ...clips.map((c) => ["clip", c] as const)];
    const outcomes = [];
    for (const [kind, m] of named) outcomes.push(await outcome(kind, m.id));
    expect(outcomes).toEqual(named.map(([kind, m]) => (m.effective === "active" ? [m.id] : refusal(kind, m.id))));
    // A dataset: its active recordings by path when it is active itself, refused otherwise.
    const byDataset = [];
    for (const d of datasets) byDataset.push(await submit({ dataset_id: d.id }).then((job) => targetsOf(job.id), (err: Error) => err.message));
    expect(byDataset).toEqual(datasets.map((d) => (d.own === "active"
      ? recordings.filter((r) => r.dataset === d.id && r.own === "active").sort((a, b) => a.path.localeCompare(b.path)).map((r) => r.id)
      : `data.targets.dataset_id: dataset ${d.id} is ${d.own} (read-only); restore it first`)));
    // A retry: the targets still active with every parent, in the job's order; the others — and the deleted — left out.
    for (const [job, made, deleted] of [[recordingJob, recordings, gone], [clipJob, clips, goneClip]] as const) {
      const { job: retry, leftOut } = await retryExtractJob(sql, ownBoss, job.id, { created_by: null });
      expect(await targetsOf(retry.id)).toEqual(made.filter((m) => m.effective === "active").map((m) => m.id));
      expect(leftOut.map((target) => target.id)).toEqual([...made.filter((m) => m.effective !== "active").map((m) => m.id), deleted]);
    }
  }, 60_000);

  it("looks up the recording and the dataset of a job's clips by joins, not once per clip, at submission and at a retry", async () => {
    const sql = own.db.sql;
    const clips = await clipsOf("once", 40);
    heard = [];
    const job = await submit({ clip_ids: clips });
    expect(await targetsOf(job.id)).toEqual(clips);
    const lookups = heard.filter((h) => /^\s*SELECT c\.id, c\.recording_id, .* FROM clips c /s.test(h.statement));
    expect(lookups).toHaveLength(1);
    // No subquery run per clip (before: the lookups of each clip's recording and of its dataset, 40
    // runs each); the parents are joined. (Whether the planner scans the few datasets once or for
    // each row is its choice of join, which the tables' sizes make.)
    const perRow = async (sent: (typeof heard)[number]) =>
      (await planNodes(sql, sent)).filter((n) => n["Parent Relationship"] === "SubPlan" && n["Actual Loops"] > 1).map((n) => [n["Relation Name"], n["Actual Loops"]]);
    expect(await perRow(lookups[0])).toEqual([]);
    expect(await mostReadsOf(sql, "recordings", lookups[0])).toBe(1);
    // A retry's check of which of its items' targets are still active the same (before: [clips, 40] and the two lookups, 40 runs each).
    await abortExtractJob(sql, job.id);
    heard = [];
    const retry = await retryExtractJob(sql, ownBoss, job.id, { created_by: null });
    expect(retry.leftOut).toEqual([]);
    const checks = heard.filter((h) => /AS available\s+FROM /.test(h.statement));
    expect(checks).toHaveLength(1);
    // Run again as it ran: the retry's own items, skipped, are the targets' latest outcomes then.
    await abortExtractJob(sql, retry.job.id);
    expect(await perRow(checks[0])).toEqual([]);
  }, 60_000);

  it("a retry reads the items of its chain of retries once: each target's latest outcome is not looked up again for each item", async () => {
    const sql = own.db.sql;
    const clips = await clipsOf("chain", 100);
    // A job, its retry and a retry of that retry, each aborted: all their items skipped, the retry's the latest.
    const job = await submit({ clip_ids: clips });
    await abortExtractJob(sql, job.id);
    const first = await retryExtractJob(sql, ownBoss, job.id, { created_by: null });
    await abortExtractJob(sql, first.job.id);
    heard = [];
    const second = await retryExtractJob(sql, ownBoss, first.job.id, { created_by: null });
    expect(await targetsOf(second.job.id)).toEqual(clips);
    const checks = heard.filter((h) => /AS available\s+FROM /.test(h.statement));
    expect(checks).toHaveLength(1);
    // Run again as it ran (the second retry's items skipped, the latest outcomes then). No node that reads job_items,
    // or is built on what was read from it, runs more often than the chain has jobs (an index scan of each job's
    // items is a fair plan), let alone once an item. Before: the targets' latest outcomes (the chain's
    // 200 items, sorted, made distinct) were joined back to the job's items by a nested loop, its inner side run
    // once for each of the 100 items — items × items comparisons, minutes for a job of 100,000 clips.
    const within = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(within)];
    const repeated = (await planNodes(sql, checks[0]))
      .filter((n) => n["Actual Loops"] > 3 && within(n).some((m) => m["Relation Name"] === "job_items"))
      .map((n) => [n["Node Type"], n["Actual Loops"]]);
    expect(repeated).toEqual([]);
  }, 60_000);
});
