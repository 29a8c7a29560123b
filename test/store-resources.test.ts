/**
 * Store resources beyond datasets and recordings: clips, notes, jobs (status machine and
 * metrics), artifacts (expiry and cleanup), recording stats (one claimer among concurrent
 * instances). Embedded PGlite, or real PostgreSQL when DATABASE_URL is set.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLEANUP_GRACE_SECONDS, cleanupExpired, createArtifact, fileContentsStored, getArtifact, listArtifacts, readFileContents, storeFile } from "../src/store/artifacts.js";
import { createClip, listClips, setClipFeature, updateClip } from "../src/store/clips.js";
import { createDataset } from "../src/store/datasets.js";
import { ConflictError, InvalidError } from "../src/store/errors.js";
import { abortJob, completeJob, countItemsDone, createJob, getJob, JOB_SORTS, JOB_STATUSES, listJobs, listMetrics, MAX_METRIC_PAGE_BYTES, putMetric, startJob, type Job, type JobStatus } from "../src/store/jobs.js";
import { createNote, listNotes } from "../src/store/notes.js";
import { loadMigrations, migrationFile } from "../src/store/migrate.js";
import { insertRecording } from "../src/store/recordings.js";
import { claimStats, getStats, markStatsUsed, purgeStats, saveStats, STATS_PURGE_SPARE_SECONDS } from "../src/store/stats.js";
import { CHUNK_BYTES, purgeTrashed, setState, STATES, type State } from "../src/store/common.js";
import { createUser } from "../src/store/users.js";
import type { Sql } from "../src/store/db.js";
import { freshDatabase, REAL_PG_URL, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let sql: Sql;
let userId: string;
let recordingId: string;
const HASH = "0123456789abcdef0123456789abcdef";

beforeAll(async () => {
  t = await freshDatabase();
  sql = t.db.sql;
  userId = (await createUser(sql, { username: "worker" })).id;
  const dataset = await createDataset(sql, { name: "d", audio_dir: "/nonexistent/d", created_by: userId });
  // 10 s at 1 kHz; the file facts are given directly (no file needed for these tests).
  const rec = await insertRecording(sql, { dataset_id: dataset.id, path: "a.wav", hash: HASH, file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1, created_by: userId });
  recordingId = rec!.id;
});

afterAll(async () => {
  await t?.cleanup();
});

async function fieldsOf(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidError);
  return (err as InvalidError).fields.map((f) => f.field);
}

describe("clips", () => {
  it("need start_time < end_time within the recording", async () => {
    expect(await fieldsOf(createClip(sql, { recording_id: recordingId, start_time: 2, end_time: 2, created_by: userId }))).toEqual(["end_time"]);
    expect(await fieldsOf(createClip(sql, { recording_id: recordingId, start_time: 10, end_time: 11, created_by: userId }))).toEqual(["start_time", "end_time"]);
    expect(await fieldsOf(createClip(sql, { recording_id: recordingId, start_time: -1, end_time: 1, created_by: userId }))).toEqual(["start_time"]);
    // The recording lasts 10 s: a clip may end at its end, not beyond.
    expect(await fieldsOf(createClip(sql, { recording_id: recordingId, start_time: 9, end_time: 999, created_by: userId }))).toEqual(["end_time"]);
    expect((await createClip(sql, { recording_id: recordingId, start_time: 9, end_time: 10, created_by: userId })).end_time).toBe(10);
    const clip = await createClip(sql, { recording_id: recordingId, start_time: 1, end_time: 2.5, created_by: userId });
    expect(clip).toMatchObject({ start_time: 1, end_time: 2.5, state: "active", tags: [], features: [] });
    // start_time >= end_time names the bound the caller moved.
    const late = await updateClip(sql, clip.id, { start_time: 3 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(InvalidError);
    expect((late as InvalidError).fields).toEqual([{ field: "start_time", message: "must be < end_time (2.5)" }]);
    expect(await fieldsOf(updateClip(sql, clip.id, { end_time: 0.5 }))).toEqual(["end_time"]);
    expect(await fieldsOf(updateClip(sql, clip.id, { start_time: 3, end_time: 2.8 }))).toEqual(["end_time"]);
    expect(await fieldsOf(updateClip(sql, clip.id, { end_time: 10.5 }))).toEqual(["end_time"]);
    const withFeature = await setClipFeature(sql, clip.id, { name: "peak_frequency_hz", value: 440, created_by: userId });
    expect(withFeature.features).toEqual([{ name: "peak_frequency_hz", value: 440 }]);
    expect((await listClips(sql, { recording_id: recordingId, state: "active", sort: "start_time", order: "asc", limit: 10, offset: 0 })).total).toBe(2);
  });
});

describe("notes", () => {
  it("hold 1..1000 characters", async () => {
    expect(await fieldsOf(createNote(sql, { message: "", recording_id: recordingId, created_by: userId }))).toEqual(["message"]);
    expect(await fieldsOf(createNote(sql, { message: "x".repeat(1001), recording_id: recordingId, created_by: userId }))).toEqual(["message"]);
    // On nothing: a note no view shows.
    expect(await fieldsOf(createNote(sql, { message: "loose", created_by: userId }))).toEqual(["recording_id"]);
    const note = await createNote(sql, { message: "clipping at 3 s", is_issue: true, recording_id: recordingId, created_by: userId });
    expect(note).toMatchObject({ is_issue: true, recording_id: recordingId, clip_id: null });
    expect((await listNotes(sql, { state: "active", is_issue: true, limit: 10, offset: 0 })).items.map((n) => n.id)).toEqual([note.id]);
  });
});

describe("jobs", () => {
  it("follow pending → running → completed, and refuse anything else", async () => {
    const job = await createJob(sql, { task: "extract_features", data: { dataset: "d" }, items: 10, created_by: userId });
    expect(job).toMatchObject({ status: "pending", result: null, started_at: null, duration: null, data: { dataset: "d" } });
    await expect(completeJob(sql, job.id, "success")).rejects.toBeInstanceOf(ConflictError);
    const running = await startJob(sql, job.id);
    expect(running.status).toBe("running");
    expect(running.started_at).not.toBeNull();
    await expect(startJob(sql, job.id)).rejects.toThrow(/it is running/);
    await countItemsDone(sql, job.id, 1);
    await countItemsDone(sql, job.id, 2);
    expect(await getJob(sql, job.id)).toMatchObject({ progress_done: 3, progress_total: 10 });
    const done = await completeJob(sql, job.id, "success");
    expect(done).toMatchObject({ status: "completed", result: "success" });
    expect(done.duration).toBeGreaterThanOrEqual(0);
    for (const illegal of [() => startJob(sql, job.id), () => abortJob(sql, job.id), () => completeJob(sql, job.id, "failure")]) {
      await expect(illegal()).rejects.toBeInstanceOf(ConflictError);
    }
  });

  it("abort from pending or running only", async () => {
    const pending = await createJob(sql, { task: "t", data: {}, created_by: userId });
    expect((await abortJob(sql, pending.id)).status).toBe("aborted");
    await expect(startJob(sql, pending.id)).rejects.toBeInstanceOf(ConflictError);
    const running = await startJob(sql, (await createJob(sql, { task: "t", data: {}, created_by: userId })).id);
    expect((await abortJob(sql, running.id)).status).toBe("aborted");
  });

  it("let exactly one of several concurrent workers start a job", async () => {
    const job = await createJob(sql, { task: "t", data: {}, priority: 5, created_by: userId });
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => startJob(sql, job.id)));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === "rejected").every((o) => (o as PromiseRejectedResult).reason instanceof ConflictError)).toBe(true);
    const page = await listJobs(sql, { state: "active", status: "running", sort: "priority", order: "desc", limit: 10, offset: 0 });
    expect(page.items[0].id).toBe(job.id);
  });

  it("list jobs by state, status and task with exact totals, in pages that make up the whole sorted list", async () => {
    // Two tasks of their own × every status × every state, priorities with ties; statuses and states set directly.
    type Made = { id: string; task: string; status: JobStatus; state: State; priority: number; created_at: string };
    const made: Made[] = [];
    for (const task of ["listing-a", "listing-b"]) {
      for (const [i, status] of JOB_STATUSES.entries()) {
        for (const state of STATES) {
          const job = await createJob(sql, { task, data: {}, priority: (i + made.length) % 3, created_by: userId });
          await sql`UPDATE jobs SET status = ${status}, result = ${status === "completed" ? "success" : null}, state = ${state} WHERE id = ${job.id}`;
          made.push({ id: job.id, task, status, state, priority: job.priority, created_at: job.created_at });
        }
      }
    }
    const ids = (jobs: { id: string }[]) => jobs.map((j) => j.id).sort();
    for (const state of [...STATES, "all"] as const) {
      for (const task of ["listing-a", "listing-b"]) {
        for (const status of [undefined, ...JOB_STATUSES]) {
          const want = made.filter((j) => j.task === task && (status === undefined || j.status === status) && (state === "all" || j.state === state));
          const page = await listJobs(sql, { state, task, status, sort: "created_at", order: "asc", limit: 100, offset: 0 });
          expect([ids(page.items), page.total], `${state} ${task} ${status}`).toEqual([ids(want), want.length]);
          expect((await listJobs(sql, { state, task, status, sort: "created_at", order: "asc", limit: 5, offset: 100 })).total).toBe(want.length);
        }
      }
    }
    // Pages of 5 in each sort, both orders: the whole list, sorted, a priority's or status's ties by created_at in the order asked.
    for (const sort of JOB_SORTS) {
      for (const order of ["asc", "desc"] as const) {
        const pages = [];
        for (let offset = 0; offset < 24; offset += 5) pages.push(...(await listJobs(sql, { state: "all", task: "listing-a", sort, order, limit: 5, offset })).items);
        const whole = (await listJobs(sql, { state: "all", task: "listing-a", sort, order, limit: 100, offset: 0 })).items;
        expect(pages.map((j) => j.id)).toEqual(whole.map((j) => j.id));
        expect(whole).toHaveLength(12);
        const key = (j: Job) => j[sort];
        for (let i = 1; i < whole.length; i++) {
          const [a, b] = [key(whole[i - 1]), key(whole[i])];
          // created_at is read to the millisecond and sorted to the microsecond: jobs made within
          // one millisecond (a quiet machine makes several) are in their microseconds' order, not their ids'.
          const [made0, made1] = [whole[i - 1].created_at, whole[i].created_at];
          const inOrder = a === b ? made0 === made1 || (made0 < made1) === (order === "asc") : (a < b) === (order === "asc");
          expect(inOrder, `${sort} ${order} at ${i}`).toBe(true);
        }
      }
    }
  });

  it("keep metrics per key and step, float or binary, idempotently", async () => {
    const job = await createJob(sql, { task: "t", data: {}, created_by: userId });
    await putMetric(sql, job.id, { key: "loss", step: 0, value: 1.5 });
    await putMetric(sql, job.id, { key: "loss", step: 0, value: 1.25 });
    await putMetric(sql, job.id, { key: "loss", step: 1, value: 0.5 });
    await putMetric(sql, job.id, { key: "mel", data: new Uint8Array([1, 2, 3]) });
    expect(await fieldsOf(putMetric(sql, job.id, { key: "x", value: 1, data: new Uint8Array([1]) }))).toEqual(["value"]);
    expect(await fieldsOf(putMetric(sql, job.id, { key: "x" }))).toEqual(["value"]);
    const metrics = await listMetrics(sql, job.id, { limit: 10, offset: 0 });
    expect(metrics.items.map((m) => [m.key, m.step, m.value])).toEqual([["loss", 0, 1.25], ["loss", 1, 0.5], ["mel", 0, null]]);
    expect([...metrics.items[2].data!]).toEqual([1, 2, 3]);
  });

  it("list binary metrics a bounded amount at a time — a page of 1000 metrics of 7.5 MB, which any token holder could ask for, was read whole into memory", async () => {
    const job = await createJob(sql, { task: "t", data: {}, created_by: userId });
    const bytes = 6 * 1024 * 1024; // three are over MAX_METRIC_PAGE_BYTES, two are not
    for (const step of [0, 1, 2]) await putMetric(sql, job.id, { key: "spectrum", step, data: new Uint8Array(bytes).fill(step + 1) });
    await putMetric(sql, job.id, { key: "loss", value: 0.5 });
    const over = await listMetrics(sql, job.id, { limit: 10, offset: 0 }).catch((err: unknown) => err);
    expect(over).toBeInstanceOf(InvalidError);
    expect((over as InvalidError).fields).toEqual([{ field: "limit", message: `the 4 metrics from offset 0 hold ${3 * bytes} bytes of binary data, over the limit of ${MAX_METRIC_PAGE_BYTES} per page: ask for fewer (a smaller limit; one metric always fits) or for one key` }]);
    const first = await listMetrics(sql, job.id, { limit: 3, offset: 0 });
    expect(first.items.map((m) => [m.key, m.step, m.value, m.data?.length ?? null])).toEqual([["loss", 0, 0.5, null], ["spectrum", 0, null, bytes], ["spectrum", 1, null, bytes]]);
    expect(first.items[2].data!.every((b) => b === 2)).toBe(true);
    expect((await listMetrics(sql, job.id, { limit: 3, offset: 3 })).items.map((m) => [m.step, m.data?.length])).toEqual([[2, bytes]]);
    // Without the binary values (sonotile jobs show), a page of any size.
    const values = await listMetrics(sql, job.id, { limit: 10, offset: 0, withData: false });
    expect(values.items.map((m) => [m.key, m.step, m.value, m.data])).toEqual([["loss", 0, 0.5, null], ["spectrum", 0, null, null], ["spectrum", 1, null, null], ["spectrum", 2, null, null]]);
    expect(values.total).toBe(4);
  });
});

describe("artifacts", () => {
  it("expire and are cleaned up with the files (and their bytes) nothing else references", async () => {
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    expect(await storeFile(sql, Buffer.from("a"))).toMatchObject({ sha256: sha("a"), size: 1 });
    await storeFile(sql, Buffer.from("bb"), "application/x-npy");
    expect((await storeFile(sql, Buffer.from("a"))).sha256).toBe(sha("a"));
    const shortLived = await createArtifact(sql, { name: "features.csv", file_sha256: sha("a"), expiration_delay: 60, created_by: userId });
    const keeper = await createArtifact(sql, { name: "mel.npy", file_sha256: sha("bb"), created_by: userId });
    expect(shortLived.expire_at).not.toBeNull();
    expect(Date.parse(shortLived.expire_at!) - Date.parse(shortLived.created_at)).toBe(60_000);
    expect(keeper).toMatchObject({ expire_at: null, size: 2, media_type: "application/x-npy" });
    expect(await cleanupExpired(sql)).toEqual({ artifacts: [], files: [] });
    // An hour after its expiry (by the clock given to cleanup) it is still there: downloads under way finish.
    const afterExpiry = (seconds: number) => new Date(Date.parse(shortLived.expire_at!) + seconds * 1000);
    expect(await cleanupExpired(sql, afterExpiry(3600))).toEqual({ artifacts: [], files: [] });
    // The grace period after its expiry, the short-lived artifact and its file go.
    expect(await cleanupExpired(sql, afterExpiry(CLEANUP_GRACE_SECONDS + 1))).toEqual({ artifacts: [shortLived.id], files: [sha("a")] });
    expect(await sql`SELECT chunk FROM file_chunks WHERE sha256 = ${sha("a")}`).toEqual([]);
    expect((await getArtifact(sql, keeper.id)).name).toBe("mel.npy");
    expect((await listArtifacts(sql, { state: "active", limit: 10, offset: 0 })).total).toBe(1);
  });

  it("a download that began before the expiry is read whole through a cleanup after it", async () => {
    const bytes = randomBytes(3 * CHUNK_BYTES);
    const file = await storeFile(sql, bytes);
    const artifact = await createArtifact(sql, { name: "big.bin", file_sha256: file.sha256, expiration_delay: 60, created_by: userId });
    const download = readFileContents(sql, file.sha256, file.size);
    const chunks: Buffer[] = [(await download.next()).value as Buffer];
    // A second after the expiry: nothing goes (the chunks were deleted here, and the next read threw "chunk 1 of file … not found").
    expect(await cleanupExpired(sql, new Date(Date.parse(artifact.expire_at!) + 1000))).toEqual({ artifacts: [], files: [] });
    for await (const chunk of download) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    expect(await cleanupExpired(sql, new Date(Date.parse(artifact.expire_at!) + (CLEANUP_GRACE_SECONDS + 1) * 1000))).toEqual({ artifacts: [artifact.id], files: [file.sha256] });
  });

  it("purged from the trash, leave their file to cleanup only after the grace period", async () => {
    const file = await storeFile(sql, Buffer.from("purged"));
    const shared = await storeFile(sql, Buffer.from("shared"));
    const artifact = await createArtifact(sql, { name: "gone.csv", file_sha256: file.sha256, created_by: userId });
    const [first, second] = [await createArtifact(sql, { name: "a.csv", file_sha256: shared.sha256, created_by: userId }), await createArtifact(sql, { name: "b.csv", file_sha256: shared.sha256, created_by: userId })];
    for (const a of [artifact, first]) await setState(sql, "artifacts", a.id, "trashed");
    const purgedAt = Date.now();
    expect((await purgeTrashed(sql, 0)).artifacts).toBe(2);
    // Right after the purge, a download of the purged artifact may still be reading the file (cleanup deleted it here).
    expect(await cleanupExpired(sql)).toEqual({ artifacts: [], files: [] });
    expect(await fileContentsStored(sql, file.sha256, file.size)).toBe(true);
    // The grace period later it goes; the file another artifact still references stays.
    const later = new Date(purgedAt + (CLEANUP_GRACE_SECONDS + 60) * 1000);
    expect(await cleanupExpired(sql, later)).toEqual({ artifacts: [], files: [file.sha256] });
    expect((await getArtifact(sql, second.id)).file_sha256).toBe(shared.sha256);
    expect(await fileContentsStored(sql, shared.sha256, shared.size)).toBe(true);
  });

  it("archived, are kept past their expiry — cleanup deleted them; restored, their file stays the grace period after the restore", async () => {
    const file = await storeFile(sql, Buffer.from("kept"));
    const artifact = await createArtifact(sql, { name: "kept.csv", file_sha256: file.sha256, expiration_delay: 60, created_by: userId });
    // An old job's table: it expired two grace periods ago.
    await sql`UPDATE artifacts SET expire_at = now() - make_interval(secs => ${2 * CLEANUP_GRACE_SECONDS}::float8) WHERE id = ${artifact.id}`;
    expect((await getArtifact(sql, artifact.id)).expired).toBe(true);
    await setState(sql, "artifacts", artifact.id, "archived");
    expect((await getArtifact(sql, artifact.id)).expired).toBe(false);
    expect(await cleanupExpired(sql)).toEqual({ artifacts: [], files: [] }); // it was { artifacts: [its id], files: [its file] }
    expect(await fileContentsStored(sql, file.sha256, file.size)).toBe(true);
    // Restored, its expiry counts again and cleanup deletes it; its file, downloadable until the
    // restore, stays the grace period after it (released at the expiry, it went in the same cleanup).
    await setState(sql, "artifacts", artifact.id, "active");
    const restoredAt = Date.now();
    expect(await cleanupExpired(sql)).toEqual({ artifacts: [artifact.id], files: [] });
    expect(await fileContentsStored(sql, file.sha256, file.size)).toBe(true);
    expect((await cleanupExpired(sql, new Date(restoredAt + (CLEANUP_GRACE_SECONDS + 60) * 1000))).files).toContain(file.sha256);
  });

  it("are listed without the expired ones unless asked (expiry), and say which expired", async () => {
    const file = await storeFile(sql, Buffer.from("listed"));
    const make = async (name: string, expiredAgo: number | null) => {
      const a = await createArtifact(sql, { name, file_sha256: file.sha256, expiration_delay: 3600, created_by: userId });
      if (expiredAgo !== null) await sql`UPDATE artifacts SET expire_at = now() - make_interval(secs => ${expiredAgo}::float8) WHERE id = ${a.id}`;
      return a.id;
    };
    const [current, expired, archived] = [await make("current.csv", null), await make("expired.csv", 60), await make("archived.csv", 60)];
    await setState(sql, "artifacts", archived, "archived");
    const listed = async (expiry: "unexpired" | "expired" | "all" | undefined, state: "active" | "archived" | "all" = "all") =>
      (await listArtifacts(sql, { state, expiry, limit: 1000, offset: 0 })).items.filter((a) => [current, expired, archived].includes(a.id)).map((a) => [a.name, a.expired]).sort();
    // The default listing had shown the expired one, whose file answers 410.
    expect(await listed(undefined)).toEqual([["archived.csv", false], ["current.csv", false]]);
    expect(await listed("expired")).toEqual([["expired.csv", true]]);
    expect(await listed("all")).toEqual([["archived.csv", false], ["current.csv", false], ["expired.csv", true]]);
    expect(await listed(undefined, "archived")).toEqual([["archived.csv", false]]);
    for (const id of [current, expired, archived]) await sql`DELETE FROM artifacts WHERE id = ${id}`;
  });

  it.skipIf(!REAL_PG_URL)("cleanup waiting on a file a job is referencing skips it, and does not fail on the foreign key", async () => {
    // The file is old and unreferenced: as of a time past the grace period, cleanup deletes it.
    const file = await storeFile(sql, Buffer.from("raced"));
    const future = new Date(Date.now() + 2 * CLEANUP_GRACE_SECONDS * 1000);
    let artifactId = "";
    let cleanup: Promise<{ artifacts: string[]; files: string[] }> | undefined;
    await sql.begin(async (tx) => {
      // A job completing: it stores the file again (locking its row), then cleanup starts and waits for that row.
      await storeFile(tx, Buffer.from("raced"));
      cleanup = cleanupExpired(sql, future);
      await expect.poll(async () => (await sql`
        SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM files%'`).length, { timeout: 10_000, interval: 20 }).toBe(1);
      artifactId = (await createArtifact(tx, { name: "features.csv", file_sha256: file.sha256, created_by: userId })).id;
    });
    // It failed here with 23503 (update or delete on table "files" violates foreign key constraint "artifacts_file_sha256_fkey").
    expect((await cleanup!).files).not.toContain(file.sha256);
    expect((await getArtifact(sql, artifactId)).file_sha256).toBe(file.sha256);
    expect(await fileContentsStored(sql, file.sha256, file.size)).toBe(true);
    await sql`DELETE FROM artifacts WHERE id = ${artifactId}`;
  });

  it("keep their bytes in the database in chunks, read back identical", async () => {
    const bytes = randomBytes(2 * CHUNK_BYTES + 12345);
    const file = await storeFile(sql, bytes);
    expect(file).toMatchObject({ sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length });
    expect((await sql`SELECT chunk FROM file_chunks WHERE sha256 = ${file.sha256} ORDER BY chunk`).map((r) => r.chunk)).toEqual([0, 1, 2]);
    expect(await fileContentsStored(sql, file.sha256, file.size)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const chunk of readFileContents(sql, file.sha256, file.size)) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    // A file registered before its bytes were kept in the database (migration 003) is known not to be there.
    await sql`INSERT INTO files (sha256, size) VALUES (${"f".repeat(64)}, 10)`;
    expect(await fileContentsStored(sql, "f".repeat(64), 10)).toBe(false);
  });
});

describe("recording stats", () => {
  const base = { recording_id: "", params_hash: "p1", recording_hash: HASH, leaseSeconds: 300 };

  it("are computed by exactly one of several concurrent instances", async () => {
    const s = { ...base, recording_id: recordingId };
    const claims = await Promise.all(["a", "b", "c", "d"].map((owner) => claimStats(sql, { ...s, owner })));
    expect(claims.filter((c) => c.status === "claimed")).toHaveLength(1);
    expect(claims.filter((c) => c.status === "busy")).toHaveLength(3);
    const winner = ["a", "b", "c", "d"][claims.findIndex((c) => c.status === "claimed")];
    expect(await saveStats(sql, { ...s, owner: "someone-else", maximum: 1 })).toBe(false);
    expect(await saveStats(sql, { ...s, owner: winner, maximum: 123.5, pcen_checkpoints: new Uint8Array([9, 8]), info: { frames: 42 } })).toBe(true);
    const ready = await claimStats(sql, { ...s, owner: "e" });
    expect(ready.status).toBe("ready");
    const stats = (await getStats(sql, recordingId, "p1", HASH))!;
    expect(stats).toMatchObject({ maximum: 123.5, info: { frames: 42 } });
    expect([...stats.pcen_checkpoints!]).toEqual([9, 8]);
    // Different content (the file changed): the old stats do not count and can be recomputed.
    expect(await getStats(sql, recordingId, "p1", "f".repeat(32))).toBeNull();
    expect((await claimStats(sql, { ...s, recording_hash: "f".repeat(32), owner: "f" })).status).toBe("claimed");
  });

  it("keep PCEN checkpoints over 1 MiB in chunks of at most 1 MiB, read back whole; a change of content drops the old ones", async () => {
    // One bytea of 243 MB held the embedded database (and the server's main thread) for minutes.
    const s = { ...base, recording_id: recordingId, params_hash: "p3" };
    const bytes = Uint8Array.from({ length: 2.5 * CHUNK_BYTES + 3 }, (_, i) => (i * 7919) % 251);
    expect((await claimStats(sql, { ...s, owner: "a" })).status).toBe("claimed");
    expect(await saveStats(sql, { ...s, owner: "a", maximum: 2, pcen_checkpoints: bytes })).toBe(true);
    const chunks = await sql`SELECT chunk, octet_length(data) AS size FROM recording_stats_chunks WHERE params_hash = 'p3' ORDER BY chunk`;
    expect(chunks.map((c) => [c.chunk, c.size])).toEqual([[0, CHUNK_BYTES], [1, CHUNK_BYTES], [2, CHUNK_BYTES / 2 + 3]]);
    expect(Buffer.from((await getStats(sql, recordingId, "p3", HASH))!.pcen_checkpoints!).equals(Buffer.from(bytes))).toBe(true);
    // The file changed: the new content's claim removes the old content's chunks.
    expect((await claimStats(sql, { ...s, recording_hash: "e".repeat(32), owner: "b" })).status).toBe("claimed");
    expect((await sql`SELECT count(*)::int AS n FROM recording_stats_chunks WHERE params_hash = 'p3'`)[0].n).toBe(0);
    // A ready row whose chunks are gone is dropped, to be computed again, rather than handing out
    // short checkpoints (or failing every request).
    expect(await saveStats(sql, { ...s, owner: "b", maximum: 2, pcen_checkpoints: bytes })).toBe(true);
    await sql`DELETE FROM recording_stats_chunks WHERE params_hash = 'p3' AND chunk = 1`;
    expect(await getStats(sql, recordingId, "p3", "e".repeat(32))).toBeNull();
    expect((await claimStats(sql, { ...s, recording_hash: "e".repeat(32), owner: "c" })).status).toBe("claimed");
    // The row gone while its claimer writes chunks (its recording deleted, another instance's
    // release): the claim is lost, as when the last UPDATE matches nothing — not a 400 for the
    // chunk's foreign key.
    let queries = 0;
    // (An identifier, db(name), is no query: made at once.)
    const racing = ((strings: TemplateStringsArray | string, ...values: never[]) => typeof strings === "string" ? sql(strings) :
      (++queries === 2 ? sql`DELETE FROM recording_stats WHERE params_hash = 'p3'` : Promise.resolve()).then(() => sql(strings, ...values))) as unknown as typeof sql;
    expect(await saveStats(racing, { ...s, owner: "c", maximum: 2, pcen_checkpoints: bytes })).toBe(false);
  });

  it("keep an overview over 1 MiB in chunks of its own, read back whole into the array asked for; stats without one are claimed again only by who needs one", async () => {
    const s = { ...base, recording_id: recordingId, params_hash: "p4" };
    const overview = Uint8Array.from({ length: 1.5 * CHUNK_BYTES + 8 }, (_, i) => (i * 31) % 253);
    expect((await claimStats(sql, { ...s, owner: "a" })).status).toBe("claimed");
    expect(await saveStats(sql, { ...s, owner: "a", maximum: 3, pcen_checkpoints: new Uint8Array([1, 2]), overview })).toBe(true);
    const chunks = await sql`SELECT chunk, octet_length(data) AS size FROM recording_stats_overview_chunks WHERE params_hash = 'p4' ORDER BY chunk`;
    expect(chunks.map((c) => [c.chunk, c.size])).toEqual([[0, CHUNK_BYTES], [1, CHUNK_BYTES / 2 + 8]]);
    const read = (await getStats(sql, recordingId, "p4", HASH, (bytes) => new Uint8Array(new SharedArrayBuffer(bytes))))!;
    expect([read.overview!.buffer instanceof SharedArrayBuffer, Buffer.from(read.overview!).equals(Buffer.from(overview)), [...read.pcen_checkpoints!]]).toEqual([true, true, [1, 2]]);
    // Stats with an overview are ready for everyone.
    expect((await claimStats(sql, { ...s, owner: "b", withoutOverview: true })).status).toBe("ready");
    // A lost chunk drops the row, to be computed again.
    await sql`DELETE FROM recording_stats_overview_chunks WHERE params_hash = 'p4' AND chunk = 1`;
    expect(await getStats(sql, recordingId, "p4", HASH)).toBeNull();
    // Stats without one (as every row stored before migration 023): ready as they are, unless the claimer needs one.
    expect((await claimStats(sql, { ...s, owner: "c" })).status).toBe("claimed");
    expect(await saveStats(sql, { ...s, owner: "c", maximum: 3 })).toBe(true);
    expect((await getStats(sql, recordingId, "p4", HASH))!.overview).toBeNull();
    expect((await claimStats(sql, { ...s, owner: "d" })).status).toBe("ready");
    expect((await claimStats(sql, { ...s, owner: "e", withoutOverview: true })).status).toBe("claimed");
    expect(await getStats(sql, recordingId, "p4", HASH)).toBeNull(); // being computed again
    expect((await claimStats(sql, { ...s, owner: "f", withoutOverview: true })).status).toBe("busy");
    // The file changed: the new content's claim removes the old content's overview chunks.
    expect(await saveStats(sql, { ...s, owner: "e", maximum: 3, overview })).toBe(true);
    expect((await claimStats(sql, { ...s, recording_hash: "e".repeat(32), owner: "g" })).status).toBe("claimed");
    expect((await sql`SELECT count(*)::int AS n FROM recording_stats_overview_chunks WHERE params_hash = 'p4'`)[0].n).toBe(0);
  });

  describe("purged", () => {
    const MiB = CHUNK_BYTES;
    const bytesOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13) % 251);
    /** Stores ready stats under `params_hash` (claimed and saved as a tile's pass would), last used `hoursAgo`. */
    async function stored(params_hash: string, sizes: { checkpoints?: number; overview?: number }, hoursAgo: number): Promise<void> {
      const s = { ...base, recording_id: recordingId, params_hash };
      expect((await claimStats(sql, { ...s, owner: "a" })).status).toBe("claimed");
      expect(await saveStats(sql, { ...s, owner: "a", maximum: 1, pcen_checkpoints: sizes.checkpoints ? bytesOf(sizes.checkpoints) : null, overview: sizes.overview ? bytesOf(sizes.overview) : null })).toBe(true);
      await sql`UPDATE recording_stats SET used_at = now() - make_interval(hours => ${hoursAgo}) WHERE params_hash = ${params_hash}`;
    }
    const rows = async () => (await sql<{ params_hash: string; status: string }[]>`SELECT params_hash, status FROM recording_stats ORDER BY params_hash`).map((r) => `${r.params_hash} ${r.status}`);
    const chunks = async () => (await sql<{ params_hash: string; n: number }[]>`
      SELECT params_hash, count(*)::int AS n FROM (SELECT params_hash FROM recording_stats_chunks UNION ALL SELECT params_hash FROM recording_stats_overview_chunks) c
      GROUP BY params_hash ORDER BY params_hash`).map((r) => `${r.params_hash} ${r.n}`);
    const usedAt = async (params_hash: string) => (await sql<{ t: number }[]>`SELECT extract(epoch FROM used_at)::float8 AS t FROM recording_stats WHERE params_hash = ${params_hash}`)[0].t;
    const keep = (params_hash: string) => ({ recording_id: recordingId, params_hash });

    it("least recently used first, down to the limit; never the stats just stored, those used lately, nor a computation; abandoned computations whatever the limit", async () => {
      await sql`DELETE FROM recording_stats`; // the other tests' stats: this one counts every byte
      await stored("q1", { checkpoints: 3 * MiB }, 3);
      await stored("q2", { checkpoints: MiB, overview: 2 * MiB }, 1);
      await stored("q3", { checkpoints: 2 * MiB }, 2);
      await stored("q6", { checkpoints: MiB }, 4); // the one just stored, as old as any
      await stored("q7", { overview: MiB }, 0); // used now
      expect((await claimStats(sql, { ...base, recording_id: recordingId, params_hash: "q4", owner: "live" })).status).toBe("claimed");
      // A claimer that died writing its chunks 10 minutes ago: its row and chunks are no computation.
      expect((await claimStats(sql, { ...base, recording_id: recordingId, params_hash: "q5", owner: "dead", leaseSeconds: -600 })).status).toBe("claimed");
      await sql`INSERT INTO recording_stats_chunks (recording_id, params_hash, recording_hash, chunk, data) VALUES (${recordingId}, 'q5', ${HASH}, 0, ${Buffer.from([1, 2, 3])})`;
      expect(await chunks()).toEqual(["q1 3", "q2 3", "q3 2", "q5 1", "q6 1", "q7 1"]);
      // 10 MiB ready: q1 (3 MiB) and q3 (2 MiB), the least recently used, bring it to 5 MiB.
      expect(await purgeStats(sql, { limitBytes: 5 * MiB, keep: keep("q6") })).toEqual({ rows: 2, bytes: 5 * MiB });
      expect(await rows()).toEqual(["q2 ready", "q4 computing", "q6 ready", "q7 ready"]);
      expect(await chunks()).toEqual(["q2 3", "q6 1", "q7 1"]);
      expect(await getStats(sql, recordingId, "q1", HASH)).toBeNull();
      // Within the limit: nothing goes.
      expect(await purgeStats(sql, { limitBytes: 5 * MiB, keep: keep("q6") })).toEqual({ rows: 0, bytes: 0 });
      // Limit 0: all but the stats just stored, those used within STATS_PURGE_SPARE_SECONDS and the live computation.
      expect(await purgeStats(sql, { limitBytes: 0, keep: keep("q6") })).toEqual({ rows: 1, bytes: 3 * MiB });
      expect(await rows()).toEqual(["q4 computing", "q6 ready", "q7 ready"]);
      await sql`UPDATE recording_stats SET used_at = now() - make_interval(secs => ${STATS_PURGE_SPARE_SECONDS + 5})`;
      expect(await purgeStats(sql, { limitBytes: 0, keep: keep("q6") })).toEqual({ rows: 1, bytes: MiB });
      expect([await rows(), await chunks()]).toEqual([["q4 computing", "q6 ready"], ["q6 1"]]);
      // Purged stats are claimed, computed and stored again as any missing.
      await stored("q1", { checkpoints: 3 * MiB }, 0);
      expect(Buffer.from((await getStats(sql, recordingId, "q1", HASH))!.pcen_checkpoints!).equals(Buffer.from(bytesOf(3 * MiB)))).toBe(true);
    });

    it("are marked used when read, at most once a minute, before their chunks are read: a purge then spares them", async () => {
      await sql`DELETE FROM recording_stats`;
      await stored("r1", { checkpoints: 2 * MiB }, 2);
      await stored("r2", { checkpoints: MiB }, 0);
      const before = await usedAt("r1");
      expect(await getStats(sql, recordingId, "r1", HASH)).not.toBeNull();
      const marked = await usedAt("r1");
      expect(marked - before).toBeGreaterThan(3600);
      // Read again within the minute: no write.
      await sql`UPDATE recording_stats SET used_at = used_at - interval '30 seconds' WHERE params_hash = 'r1'`;
      const halfMinute = await usedAt("r1");
      expect(await getStats(sql, recordingId, "r1", HASH)).not.toBeNull();
      expect(await usedAt("r1")).toBe(halfMinute);
      // Marked by the server that serves them from memory (its touch, spaced by the server): at once.
      expect(await markStatsUsed(sql, recordingId, "r1", HASH)).toBe(true);
      expect(await usedAt("r1")).toBeGreaterThan(halfMinute + 29);
      // A purge that comes while r1's chunks are read (after its mark, between two chunk reads) spares it: the read gets them all.
      await sql`UPDATE recording_stats SET used_at = now() - interval '2 hours' WHERE params_hash = 'r1'`;
      let queries = 0;
      let purged: unknown;
      const purgingAt = (at: number) => ((strings: TemplateStringsArray | string, ...values: never[]) => typeof strings === "string" ? sql(strings) :
        (++queries === at ? purgeStats(sql, { limitBytes: 0, keep: keep("r2") }).then((p) => void (purged = p)) : Promise.resolve()).then(() => sql(strings, ...values))) as unknown as typeof sql;
      const read = await getStats(purgingAt(4), recordingId, "r1", HASH); // the row, its mark, chunk 0, chunk 1
      expect([Buffer.from(read!.pcen_checkpoints!).equals(Buffer.from(bytesOf(2 * MiB))), purged]).toEqual([true, { rows: 0, bytes: 0 }]);
      // A purge between the read of the row and its mark takes it: the read finds none (the tile computes them again), not part of them.
      await sql`UPDATE recording_stats SET used_at = now() - interval '2 hours' WHERE params_hash = 'r1'`;
      queries = 0;
      expect(await getStats(purgingAt(2), recordingId, "r1", HASH)).toBeNull();
      expect(purged).toEqual({ rows: 1, bytes: 2 * MiB });
      expect(await rows()).toEqual(["r2 ready"]);
      expect(await markStatsUsed(sql, recordingId, "r1", HASH)).toBe(false); // none to mark
    });

    it("are ordered by used_at, which migration 025 adds; run again by hand, it changes nothing", async () => {
      await stored("m1", { checkpoints: 10 }, 2);
      const before = await usedAt("m1");
      const migration = (await loadMigrations()).find((m) => m.version === 25)!;
      expect(migrationFile(migration)).toBe("025_stats_used_at.sql");
      await sql.unsafe(migration.sql).simple();
      expect(await usedAt("m1")).toBe(before);
      expect((await sql`SELECT indexdef FROM pg_indexes WHERE indexname = 'recording_stats_ready_used_at'`)[0].indexdef).toMatch(/\(used_at\) WHERE \(status = 'ready'::text\)$/);
    });

    it("by two purges at once: neither fails, each row is removed once, the rest within the limit", async () => {
      await sql`DELETE FROM recording_stats`;
      for (let i = 0; i < 6; i++) await stored(`s${i}`, { checkpoints: MiB + i }, 6 - i);
      const [a, b] = await Promise.all([purgeStats(sql, { limitBytes: 3 * MiB + 100, keep: keep("s5") }), purgeStats(sql, { limitBytes: 3 * MiB + 100, keep: keep("s5") })]);
      // s0..s2 must go (6 MiB + 15 to 3 MiB + 12); a purge that counted before the other's removal may take s3 as well.
      expect(a.rows + b.rows).toBeGreaterThanOrEqual(3);
      expect(a.rows + b.rows).toBeLessThanOrEqual(4);
      const left = await rows();
      expect(left.slice(-2)).toEqual(["s4 ready", "s5 ready"]);
      expect(left.length).toBe(6 - a.rows - b.rows);
      expect(await chunks()).toEqual(left.map((r) => `${r.split(" ")[0]} 2`)); // 1 MiB and 3..5 bytes each
    });
  });

  it("can be taken over when the claimer's lease has expired", async () => {
    const s = { ...base, recording_id: recordingId, params_hash: "p2" };
    expect((await claimStats(sql, { ...s, owner: "crashed", leaseSeconds: -1 })).status).toBe("claimed");
    expect((await claimStats(sql, { ...s, owner: "next" })).status).toBe("claimed");
    expect((await claimStats(sql, { ...s, owner: "third" })).status).toBe("busy");
    expect(await saveStats(sql, { ...s, owner: "crashed", maximum: 1 })).toBe(false);
  });
});
