/**
 * /v1/jobs end to end: a job submitted over HTTP is split into items on the queue, executed
 * by a worker (in process here), and its status, features, metrics and artifact are read
 * back over HTTP. Embedded database, or DATABASE_URL when set.
 */
import { createHash, randomUUID } from "node:crypto";
import { copyFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { MAX_JOB_TARGET_IDS } from "../src/jobs/queue.js";
import { endedItems } from "../src/jobs/results.js";
import { parseParams } from "../src/engine/params.js";
import { VERSION } from "../src/engine/version.js";
import { CLEANUP_GRACE_SECONDS } from "../src/store/artifacts.js";
import { startWorker } from "../src/jobs/worker.js";
import { createClip, updateClip } from "../src/store/clips.js";
import { createJob } from "../src/store/jobs.js";
import { createDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { createToken } from "../src/store/tokens.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";
import { jobFixture, missingRecording, waitForJob, type JobFixture } from "./jobs-helpers.js";
import { UUID_RULE } from "../src/store/common.js";

let t: TestDatabase;
let app: App;
let dir: Awaited<ReturnType<typeof tempDir>>;
let fx: JobFixture;
let admin: { authorization: string };
/** Another server instance on the same database: it shares nothing with the worker but the database. */
let other: App;

beforeAll(async () => {
  // One connection on the embedded database: the server and the worker share this process (see store-jobs.test.ts).
  t = await freshDatabase();
  dir = await tempDir();
  fx = await jobFixture(t.db.sql, dir.path, 4);
  admin = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([dir.path]) });
  other = await buildApp({ database: t.db, audioRoots: [] });
}, 60_000);

afterAll(async () => {
  await other?.close();
  await app?.close();
  await t?.cleanup();
  await dir?.remove();
});

/**
 * The artifact's file from the other instance: its bytes (SHA-256 as listed), headers, 304 on
 * its ETag; 410 once expired, 404 once cleaned up (the grace period after the expiry).
 */
async function expectDownload(artifact: { id: string; file_sha256: string; size: number }): Promise<void> {
  const url = `/v1/artifacts/${artifact.id}/file`;
  const res = await other.inject({ url });
  expect(res.statusCode, res.body).toBe(200);
  expect(createHash("sha256").update(res.rawPayload).digest("hex")).toBe(artifact.file_sha256);
  expect(res.headers).toMatchObject({ "content-type": "text/csv", "content-length": String(artifact.size), etag: `"${artifact.file_sha256}"`, "content-disposition": "attachment; filename=\"features.csv\"; filename*=UTF-8''features.csv" });
  expect(res.rawPayload.toString("utf8")).toMatch(/^clip_id,recording_id,path,md5,start_time,end_time,/);
  expect((await other.inject({ url, headers: { "if-none-match": res.headers.etag as string } })).statusCode).toBe(304);
  await t.db.sql`UPDATE artifacts SET expire_at = now() - interval '1 second' WHERE id = ${artifact.id}`;
  const expired = await other.inject({ url });
  expect(expired.statusCode).toBe(410);
  expect(expired.json().message).toMatch(/expired/);
  // Cleanup leaves it the grace period for downloads under way; expired longer ago, it goes with its file.
  expect((await other.inject({ method: "POST", url: "/v1/artifacts/cleanup", headers: admin })).json()).toEqual({ artifacts: [], files: [] });
  await t.db.sql`UPDATE artifacts SET expire_at = now() - make_interval(secs => ${CLEANUP_GRACE_SECONDS + 1}::float8) WHERE id = ${artifact.id}`;
  expect((await other.inject({ method: "POST", url: "/v1/artifacts/cleanup", headers: admin })).json().files).toEqual([artifact.file_sha256]);
  expect((await other.inject({ url })).statusCode).toBe(404);
}

describe("POST /v1/jobs extract_features", () => {
  it("documents its body in the OpenAPI document: the task's data, field by field", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const [variant, ...others] = doc.paths["/v1/jobs"].post.requestBody.content["application/json"].schema.oneOf;
    expect(others).toEqual([]);
    expect(variant.properties.task.enum).toEqual(["extract_features"]);
    expect(variant.required).toEqual(["task", "data"]);
    const data = variant.properties.data;
    expect(Object.keys(data.properties)).toEqual(["targets", "features", "params", "band", "expiration_delay"]);
    // A job's answer names its artifacts, each with what it holds.
    const shown = doc.paths["/v1/jobs/{id}"].get.responses["200"].content["application/json"].schema;
    expect(shown.properties.artifacts.items.properties).toMatchObject({ name: { type: "string" }, description: { type: "string", nullable: true }, url: { type: "string" } });
    expect(data.required).toEqual(["targets"]);
    expect(data.properties.targets.anyOf.map((t: { required: string[] }) => t.required)).toEqual([["dataset_id"], ["recording_ids"], ["clip_ids"]]);
    expect(data.properties.features.items.enum).toContain("spectral_centroid_hz");
    expect(Object.keys(data.properties.params.properties)).toEqual(expect.arrayContaining(["window_size", "hop_size", "pcen", "min_dB"]));
    // A fixed band, or each clip's own.
    const [fixedBand, clipBand] = data.properties.band.anyOf;
    expect(Object.keys(fixedBand.properties)).toEqual(["low_freq", "high_freq"]);
    expect(clipBand).toEqual({ type: "string", enum: ["clip"] });
    expect(data.properties.band.description).toContain('"clip": each clip target in its own low_freq/high_freq');
  });

  it("documents a job's result so that a validator takes the null of a job not finished (a nullable enum lists null: OpenAPI 3.0.3's nullable does not widen enum)", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: [Object.values(fx.recordings)[0]] }, features: ["rms_dbfs"] } } });
    expect(res.statusCode, res.body).toBe(201);
    const job = res.json();
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const documented = doc.paths["/v1/jobs"].post.responses["201"].content["application/json"].schema.properties.result;
    expect(documented.enum).toContain(job.result);
    // Every nullable enum of the document, wherever it is.
    const refusingNull: string[] = [];
    const stack: [unknown, string][] = [[doc, ""]];
    while (stack.length) {
      const [node, at] = stack.pop()!;
      if (node === null || typeof node !== "object") continue;
      const schema = node as { nullable?: boolean; enum?: unknown[] };
      if (schema.nullable && schema.enum && !schema.enum.includes(null)) refusingNull.push(at);
      for (const [key, value] of Object.entries(node)) stack.push([value, `${at}/${key}`]);
    }
    expect(refusingNull).toEqual([]);
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, headers: admin })).statusCode).toBe(200);
  });

  it("describes a job's run by its count of targets, singular for one (it read 'extract_features over 1 targets')", async () => {
    for (const ids of [Object.values(fx.recordings).slice(0, 1), Object.values(fx.recordings).slice(0, 2)]) {
      const res = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: ids }, features: ["rms_dbfs"] } } });
      expect(res.statusCode, res.body).toBe(201);
      const run = (await app.inject({ url: `/v1/runs/${res.json().run_id}`, headers: admin })).json();
      expect(run.description).toBe(ids.length === 1 ? "extract_features over 1 target" : "extract_features over 2 targets");
      // From a run (a feature value's run_id) to its job and so to the parameters it computed with: the run names no job.
      const ofRun = (await app.inject({ url: `/v1/jobs?run_id=${run.id}&state=all`, headers: admin })).json();
      expect([ofRun.total, ofRun.items.map((j: { id: string }) => j.id)]).toEqual([1, [res.json().id]]);
      expect((await app.inject({ method: "POST", url: `/v1/jobs/${res.json().id}/abort`, headers: admin })).statusCode).toBe(200);
    }
  });

  it("lists jobs by run_id, refusing one that is no UUID by name, as every id is", async () => {
    const res = await app.inject({ url: "/v1/jobs?run_id=nope", headers: admin });
    // Before, run_id alone was no `id` (api/schemas.ts) and said zod's own "Invalid UUID".
    expect([res.statusCode, res.json().fields?.map((f: { field: string; message: string }) => [f.field, f.message])]).toEqual([400, [["run_id", UUID_RULE]]]);
    expect((await app.inject({ url: `/v1/jobs?run_id=${randomUUID()}`, headers: admin })).json()).toMatchObject({ items: [], total: 0 });
  });

  it("refuses unknown targets and features by field", async () => {
    const missing = "00000000-0000-4000-8000-000000000000";
    const res = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: [missing] } } } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(new RegExp(`no recording ${missing}`));
    // The most ids a job takes fit in a submission's body (a 400 for these unknown ones, not a 413).
    const ids = Array.from({ length: MAX_JOB_TARGET_IDS }, (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`);
    const most = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: ids }, params: { window_size: 0.025 } } } });
    expect(most.statusCode).toBe(400);
    expect(most.json().fields).toEqual([{ field: "data.targets.recording_ids", message: `no recording ${ids.slice(0, 5).join(", ")} (and ${MAX_JOB_TARGET_IDS - 5} more)` }]);
    const bad = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { dataset_id: fx.datasetId }, features: ["loudness"] } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().fields.map((f: { field: string }) => f.field)).toEqual(["data.features.0"]);
    // A body with data not an object says what data holds, one without it that it is required: zod said "Invalid input: expected object, received undefined".
    for (const [data, refusal] of [[undefined, "is required"], ["targets", "must be the task's data, an object {targets, features?, params?, band?, expiration_delay?}"]]) {
      const none = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data } });
      expect([none.statusCode, none.json().message], String(data)).toEqual([400, `invalid body: data: ${refusal}`]);
    }
    // The list's filters are checked as the submission is: an unknown task is a 400, not an empty page.
    for (const query of ["task=mine_bitcoin", "status=sleeping"]) {
      const list = await app.inject({ url: `/v1/jobs?${query}`, headers: admin });
      expect(list.statusCode, query).toBe(400);
      expect(list.json().fields.map((f: { field: string }) => f.field)).toEqual([query.split("=")[0]]);
    }
  });

  it("refuses a dataset with no active recording, saying whether it has none or only archived and trashed ones (it said 'no recordings' of both)", async () => {
    const dataset = await createDataset(t.db.sql, { name: "hidden recordings", audio_dir: "/nonexistent/hidden", created_by: null });
    const submit = () => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { dataset_id: dataset.id } } } });
    expect((await submit()).json().fields).toEqual([{ field: "data.targets.dataset_id", message: "the dataset has no recordings" }]);
    await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels, state)
      VALUES (${dataset.id}, 'a.wav', md5('a.wav'), 1000, 8000, 1, 1000, 1, 'trashed'), (${dataset.id}, 'b.wav', md5('b.wav'), 1000, 8000, 1, 1000, 1, 'archived')`;
    const res = await submit();
    expect([res.statusCode, res.json().fields]).toEqual([400, [{ field: "data.targets.dataset_id", message: "the dataset has no active recordings: 2 recordings are archived or trashed (read-only); restore them first" }]]);
  });

  it("takes target ids in capitals as the same records, stored lower-cased — a recording named in capitals was 'no recording'", async () => {
    const ids = Object.values(fx.recordings).slice(0, 2);
    const named = [ids[0].toUpperCase(), ids[1], ids[0]];
    const res = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: named }, features: ["rms_dbfs"] } } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ progress_total: 2, data: { targets: { recording_ids: ids } } });
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${res.json().id}/abort`, headers: admin })).statusCode).toBe(200);
  });

  it("stores each target id once — one recording named 100,000 times made a job of 3.9 MB that every listing of jobs carried", async () => {
    const ids = Object.values(fx.recordings).slice(0, 2);
    const named = Array.from({ length: MAX_JOB_TARGET_IDS }, (_, i) => ids[i % 2]);
    const res = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: named }, features: ["rms_dbfs"] } } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ progress_total: 2, data: { targets: { recording_ids: ids } } });
    const listed = (await app.inject({ url: "/v1/jobs?order=desc&limit=1", headers: admin })).json().items[0];
    expect([listed.id, listed.data.targets]).toEqual([res.json().id, { recording_count: 2 }]);
    expect((await app.inject({ url: `/v1/jobs/${res.json().id}`, headers: admin })).json().data.targets).toEqual({ recording_ids: ids });
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${res.json().id}/abort`, headers: admin })).statusCode).toBe(200);
  });

  it("lists jobs with their targets counted, not their ids — a page of 20 jobs of 3,000 clips each was 2.35 MB; GET /v1/jobs/{id} gives the ids", async () => {
    const clipIds = Array.from({ length: 3000 }, () => randomUUID());
    const data = { targets: { clip_ids: clipIds }, features: ["rms_dbfs"], params: { window_size: 0.01 }, band: { low_freq: 1000 } };
    const jobs = [];
    for (let i = 0; i < 20; i++) jobs.push(await createJob(t.db.sql, { task: "extract_features", data, items: clipIds.length, created_by: null }));
    try {
      const res = await app.inject({ url: "/v1/jobs?order=desc&limit=20", headers: admin });
      expect(res.statusCode, res.body).toBe(200);
      const items = res.json().items as { id: string; data: unknown; progress_total: number }[];
      expect(items.map((j) => j.id).sort()).toEqual(jobs.map((j) => j.id).sort());
      for (const job of items) expect(job).toMatchObject({ data: { targets: { clip_count: 3000 }, features: ["rms_dbfs"], params: { window_size: 0.01 }, band: { low_freq: 1000 } }, progress_total: 3000 });
      expect(res.rawPayload.length).toBeLessThan(20 * 1024); // 20 jobs; with the ids, 2.35 MB
      expect((await app.inject({ url: `/v1/jobs/${jobs[0].id}`, headers: admin })).json().data.targets.clip_ids).toEqual(clipIds);
    } finally {
      await t.db.sql`DELETE FROM jobs WHERE id IN ${t.db.sql(jobs.map((j) => j.id))}`;
    }
  });

  it("refuses parameters or a band no target's recording can take, naming the field, a recording and how many targets; accepts them when some can", async () => {
    // Rows only (the rule reads the stored rate, time expansion and channels, not the file): 500 kHz
    // as stored, 500 kHz as 50 kHz × time expansion 10, and 8 kHz stereo.
    const dataset = await createDataset(t.db.sql, { name: "rates", audio_dir: "/nonexistent/rates", created_by: null });
    const rows = [["a.wav", 500_000, 1, 1], ["b.wav", 50_000, 10, 1], ["c.wav", 8000, 1, 2]] as const;
    const ids = await Promise.all(rows.map(async ([path, rate, te, channels]) => (await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
      VALUES (${dataset.id}, ${path}, md5(${path}), 1000, ${rate}, ${te}, 1000, ${channels}) RETURNING id`)[0].id as string));
    const clip = await createClip(t.db.sql, { recording_id: ids[0], start_time: 0, end_time: 0.001, created_by: null });
    const submit = (targets: object, data: object) => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets, ...data } } });
    const refusals: [object, object, object[]][] = [
      // Both recordings at 500 kHz (as stored, and as 50 kHz × time expansion 10) fail.
      [{ recording_ids: [ids[0], ids[1]] }, { params: { window_size: 100 } }, [{ field: "data.params.window_size", message: "gives 50000000 samples at 500000 Hz; the limit is 1048576 (recording a.wav: 500000 Hz × time expansion 1, 1 channel; 2 of 2 targets)" }]],
      [{ recording_ids: [ids[1]] }, { params: { window_size: 100 } }, [{ field: "data.params.window_size", message: "gives 50000000 samples at 500000 Hz; the limit is 1048576 (recording b.wav: 50000 Hz × time expansion 10, 1 channel; 1 of 1 target)" }]],
      [{ recording_ids: [ids[1], ids[0]] }, { params: { channel: 1 } }, [{ field: "data.params.channel", message: "must be < channels (1) (recording a.wav: 500000 Hz × time expansion 1, 1 channel; 2 of 2 targets)" }]],
      // Every rule the recording fails; the one named is of the most targets failing.
      [{ recording_ids: [ids[2]] }, { params: { channel: 3, low_freq: 5000 } }, [
        { field: "data.params.low_freq", message: "must be < Nyquist (4000 Hz) (recording c.wav: 8000 Hz × time expansion 1, 2 channels; 1 of 1 target)" },
        { field: "data.params.channel", message: "must be < channels (2) (recording c.wav: 8000 Hz × time expansion 1, 2 channels; 1 of 1 target)" },
      ]],
      [{ clip_ids: [clip.id] }, { band: { low_freq: 300_000 } }, [{ field: "data.band", message: "band [300000, Nyquist] Hz lies above this recording's spectrum: its Nyquist frequency is 250000 Hz (recording a.wav: 500000 Hz × time expansion 1, 1 channel; 1 of 1 target)" }]],
    ];
    for (const [targets, data, fields] of refusals) {
      const res = await submit(targets, data);
      expect([res.statusCode, res.json().fields], JSON.stringify(data)).toEqual([400, fields]);
    }
    // What some target can take is accepted: the others' items fail, each naming why, as a mixed
    // dataset's should (a stereo channel 1 over a few mono files; the 8 kHz file's 800,000-sample
    // window). Aborted here: no file is there to compute.
    for (const data of [{ params: { window_size: 1 }, band: { low_freq: 3000 } }, { params: { window_size: 100 } }, { params: { channel: 1 } }]) {
      const accepted = await submit({ dataset_id: dataset.id }, data);
      expect(accepted.statusCode, accepted.body).toBe(201);
      expect((await app.inject({ method: "POST", url: `/v1/jobs/${accepted.json().id}/abort`, headers: admin })).statusCode).toBe(200);
    }
  });

  it("refuses a job whose every recording holds no sample (an empty data chunk: each item failed later), naming its targets; runs one with another recording beside them", async () => {
    const dataset = await createDataset(t.db.sql, { name: "empty files", audio_dir: "/nonexistent/empty", created_by: null });
    const ids = (await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
      VALUES (${dataset.id}, 'empty.wav', md5('empty.wav'), 44, 48000, 1, 0, 1), (${dataset.id}, 'empty 2.wav', md5('empty 2.wav'), 44, 48000, 1, 0, 1)
      RETURNING id`).map((r) => r.id as string);
    const submit = (targets: object) => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets } } });
    const byDataset = await submit({ dataset_id: dataset.id });
    expect([byDataset.statusCode, byDataset.json().fields]).toEqual([400, [{ field: "data.targets.dataset_id", message: "the recording holds no samples (recording empty 2.wav: 48000 Hz × time expansion 1, 1 channel; 2 of 2 targets)" }]]);
    const byIds = await submit({ recording_ids: [ids[0]] });
    expect([byIds.statusCode, byIds.json().fields]).toEqual([400, [{ field: "data.targets.recording_ids", message: "the recording holds no samples (recording empty.wav: 48000 Hz × time expansion 1, 1 channel; 1 of 1 target)" }]]);
    const mixed = await submit({ recording_ids: [ids[0], Object.values(fx.recordings)[0]] });
    expect(mixed.statusCode, mixed.body).toBe(201);
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${mixed.json().id}/abort`, headers: admin })).statusCode).toBe(200);
  });

  it("refuses a job of clips in none of which a frame is centred, naming data.params.hop_size and a clip; accepts it when one has frames (such a job ran and failed every item)", async () => {
    // Rows only, as above: 500 kHz, 1000 samples (2 ms). Frames 0.1 s apart (window_size 0.1 × hop_size 1) are
    // centred at 0 s, 0.1 s, …: none in [0.001, 0.002), frame 0 in [0, 0.001). With the defaults (25 ms × 0.5) 12.5 ms apart.
    const dataset = await createDataset(t.db.sql, { name: "frameless", audio_dir: "/nonexistent/frameless", created_by: null });
    const [{ id: recording }] = await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
      VALUES (${dataset.id}, 'a.wav', md5('a.wav'), 1000, 500000, 1, 1000, 1) RETURNING id`;
    const between = await createClip(t.db.sql, { recording_id: recording, start_time: 0.001, end_time: 0.002, created_by: null });
    const first = await createClip(t.db.sql, { recording_id: recording, start_time: 0, end_time: 0.001, created_by: null });
    const submit = (clipIds: string[], params: object) => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { clip_ids: clipIds }, params } } });
    const refused = await submit([between.id], { window_size: 0.1, hop_size: 1 });
    expect([refused.statusCode, refused.json().fields]).toEqual([400, [{ field: "data.params.hop_size", message:
      `no frame is centred in [0.001, 0.002) s of clip ${between.id} (recording a.wav): the clip lasts 0.001 s, less than the 0.1 s between frames (window_size 0.1 s × hop_size 1 at 500000 Hz) — give a window_size ≤ 0.001 s or a hop_size ≤ 0.01 to put a frame in it (1 of 1 target)` }]]);
    const byDefault = await submit([between.id], {});
    expect([byDefault.statusCode, byDefault.json().fields[0].message]).toEqual([400, expect.stringContaining("the clip lasts 0.001 s, less than the 0.0125 s between frames (window_size 0.025 s × hop_size 0.5 at 500000 Hz) — give a window_size ≤ 0.002 s or a hop_size ≤ 0.04 to put a frame in it")]);
    // A clip with frames beside it: the job runs, the other's item fails naming why. Aborted: no file is there.
    const accepted = await submit([between.id, first.id], { window_size: 0.1, hop_size: 1 });
    expect(accepted.statusCode, accepted.body).toBe(201);
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${accepted.json().id}/abort`, headers: admin })).statusCode).toBe(200);
    // A clip ending on its recording's end (25 ms: frames at 0, 12.5 and 25 ms) has the frame centred on the end, as
    // its item computes it and the whole recording has — it was refused; 1 ms short of the end, none.
    const [{ id: short }] = await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
      VALUES (${dataset.id}, 'b.wav', md5('b.wav'), 12500, 500000, 1, 12500, 1) RETURNING id`;
    const toTheEnd = await createClip(t.db.sql, { recording_id: short, start_time: 0.02, end_time: 0.025, created_by: null });
    const endless = await createClip(t.db.sql, { recording_id: short, start_time: 0.014, end_time: 0.024, created_by: null });
    const atTheEnd = await submit([toTheEnd.id], {});
    expect(atTheEnd.statusCode, atTheEnd.body).toBe(201);
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${atTheEnd.json().id}/abort`, headers: admin })).statusCode).toBe(200);
    const shortOfIt = await submit([endless.id], {});
    expect([shortOfIt.statusCode, shortOfIt.json().fields?.[0].message]).toEqual([400, expect.stringMatching(/^no frame is centred in \[0\.014, 0\.024\) s of clip /)]);
    // A clip past the recording's stored end (its file shortened since): said so — it was said to be shorter than the spacing.
    const [{ id: shortened }] = await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
      VALUES (${dataset.id}, 'c.wav', md5('c.wav'), 25000, 500000, 1, 25000, 1) RETURNING id`;
    const past = await createClip(t.db.sql, { recording_id: shortened, start_time: 0.03, end_time: 0.05, created_by: null });
    await t.db.sql`UPDATE recordings SET frames = 12500 WHERE id = ${shortened}`;
    const pastIt = await submit([past.id], {});
    expect([pastIt.statusCode, pastIt.json().fields?.[0].message]).toEqual([400, `no frame is centred in [0.03, 0.05) s of clip ${past.id} (recording c.wav): it lies past the recording's last frame, centred at 0.025 s (3 frames 0.0125 s apart) (1 of 1 target)`]);
  });

  it("refuses a job any of whose items would transform more than 2^36 samples (frames × FFT length, as the tiles' pass), naming data.params.hop_size, how many targets and the worst; accepts one within it", async () => {
    // Rows only, as above: 2.521 s at 500 kHz (the XC821988 fixture's length) and 10 h at 384 kHz.
    // A half-second window hopping one sample (noverlap = int((0.5 − 1e-6)·fs)) frames every sample:
    // 1,260,501 frames of 250,000 samples, 3.15·10^11, 24 minutes of a core — such a job was accepted.
    const dataset = await createDataset(t.db.sql, { name: "work", audio_dir: "/nonexistent/work", created_by: null });
    const [short, night] = await Promise.all(([["short.wav", 500_000, 1_260_500], ["night.wav", 384_000, 13_824_000_000]] as const).map(async ([path, rate, frames]) => (await t.db.sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
      VALUES (${dataset.id}, ${path}, md5(${path}), 1000, ${rate}, 1, ${frames}, 1) RETURNING id`)[0].id as string));
    const tenth = await createClip(t.db.sql, { recording_id: short, start_time: 0, end_time: 0.1, created_by: null });
    const second = await createClip(t.db.sql, { recording_id: short, start_time: 1, end_time: 2, created_by: null });
    const submit = (targets: object, params: object) => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets, features: ["rms_dbfs"], params } } });
    const hopping = { window_size: 0.5, hop_size: 0.000002 };
    const refusals: [object, string][] = [
      [{ recording_ids: [short] }, "1 of 1 target would each transform more samples than a job's item may; the most, recording short.wav, would transform 3.15e+11 samples (1-sample hops of 250000); the limit is 6.87e+10: use a longer hop_size or a shorter window_size"],
      [{ dataset_id: dataset.id }, `2 of 2 targets would each transform more samples than a job's item may; the most, recording night.wav, would transform ${(13_824_000_001 * 192_000).toExponential(2)} samples (1-sample hops of 192000); the limit is 6.87e+10: use a longer hop_size or a shorter window_size`],
      // A clip's item transforms its own frames: 500,000 of them in [1, 2) s, 1.25·10^11; 50,000 in [0, 0.1) s are within it.
      [{ clip_ids: [tenth.id, second.id] }, `1 of 2 targets would each transform more samples than a job's item may; the most, clip ${second.id} (recording short.wav), would transform 1.25e+11 samples (1-sample hops of 250000); the limit is 6.87e+10: use a longer hop_size or a shorter window_size`],
    ];
    for (const [targets, message] of refusals) {
      const res = await submit(targets, hopping);
      expect([res.statusCode, res.json().fields], JSON.stringify(targets)).toEqual([400, [{ field: "data.params.hop_size", message }]]);
    }
    // Within it: the clip of a tenth of a second, and 10 h at 384 kHz with the defaults (2.8·10^10). Aborted: no file is there.
    const jobs: string[] = [];
    for (const [targets, params] of [[{ clip_ids: [tenth.id] }, hopping], [{ recording_ids: [night] }, {}]] as const) {
      const accepted = await submit(targets, params);
      expect(accepted.statusCode, accepted.body).toBe(201);
      expect((await app.inject({ method: "POST", url: `/v1/jobs/${accepted.json().id}/abort`, headers: admin })).statusCode).toBe(200);
      jobs.push(accepted.json().id);
    }
    // The tenth's clip grown past the limit since: its retry is refused for the work, not said to be of an item no parameters compute.
    await t.db.sql`UPDATE clips SET end_time = 1.5 WHERE id = ${tenth.id}`;
    const retried = await app.inject({ method: "POST", url: `/v1/jobs/${jobs[0]}/retry`, headers: admin });
    expect([retried.statusCode, retried.json().message]).toEqual([409, `cannot retry job ${jobs[0]}: a job of its 1 failed, errored or skipped item with the job's parameters, which a retry keeps, is refused — hop_size: 1 of 1 target would each transform more samples than a job's item may; the most, clip ${tenth.id} (recording short.wav), would transform 1.88e+11 samples (1-sample hops of 250000); the limit is 6.87e+10: use a longer hop_size or a shorter window_size. Submit its clip as a new job with the parameters that reason gives: sonotile jobs submit --clips ID,… with them (POST /v1/jobs; GET /v1/jobs/${jobs[0]}/items lists the clip). That job is no retry of job ${jobs[0]}: its rows are in its own features.csv (sonotile jobs download <its id>), computed with other parameters (its provenance.json names them), not in the table jobs download --chain merges of job ${jobs[0]} and its retries`]);
  });

  it("runs on a worker; status, features, metrics and the artifact read back over HTTP", async () => {
    const created = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { clip_ids: fx.clipIds }, features: ["rms_dbfs", "log_mel"] } } });
    expect(created.statusCode, created.body).toBe(201);
    const job = created.json();
    expect(job).toMatchObject({ status: "pending", progress_done: 0, progress_total: fx.clipIds.length, run_id: expect.any(String) });

    const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    try {
      await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 30_000);
    } finally {
      await worker.stop();
    }
    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).json()).toMatchObject({ status: "completed", result: "success", progress_done: fx.clipIds.length });
    const clip = (await app.inject({ url: `/v1/clips/${fx.clipIds[0]}` })).json();
    expect(clip.features.map((f: { name: string }) => f.name)).toEqual(["log_mel", "rms_dbfs"]);
    // A 0.5-amplitude sine: RMS 0.5/√2, −9.03 dBFS.
    expect(clip.features.find((f: { name: string }) => f.name === "rms_dbfs").value).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 1);
    const metrics = (await app.inject({ url: `/v1/jobs/${job.id}/metrics` })).json();
    expect(metrics.items.map((m: { key: string }) => m.key)).toEqual(["audio_seconds_per_second", "items_done", "items_errored", "items_failed"]);
    // A binary metric up to the schema's 10,000,000 base64 characters, over the server's 1 MiB general body limit.
    const putMetric = (bytes: number) => app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, headers: admin, payload: { key: "blob", data: Buffer.alloc(bytes, 7).toString("base64") } });
    const big = await putMetric(2_000_000);
    expect(big.statusCode, big.body).toBe(200);
    const over = await putMetric(7_500_003); // 10,000,004 characters
    expect(over.statusCode).toBe(400);
    expect(over.json().fields.map((f: { field: string }) => f.field)).toEqual(["data"]);
    const artifacts = (await app.inject({ url: `/v1/artifacts?job_id=${job.id}` })).json();
    expect(artifacts.items).toMatchObject(["features.csv", "features.npy", "log_mel.npy", "provenance.json"].map((name) => ({ name, job_id: job.id, run_id: job.run_id })));
    // What made the tables travels with them, and stays when the job is purged: version, job, run, every parameter, features, band.
    const made = await other.inject({ url: `/v1/artifacts/${artifacts.items[3].id}/file` });
    expect(made.headers["content-type"]).toMatch(/^application\/json/);
    expect(made.json()).toEqual({ sonotile: {
      version: VERSION, job_id: job.id, run_id: job.run_id, task: "extract_features", created_by: job.created_by, created_at: job.created_at,
      params: parseParams({}), features: ["rms_dbfs", "log_mel"], band: null,
    } });
    // The job names them too, each with the URL of its file and what it holds.
    const shown = (await app.inject({ url: `/v1/jobs/${job.id}` })).json();
    expect(shown.artifacts).toEqual(artifacts.items.map((a: { id: string }) => ({ ...a, url: `/v1/artifacts/${a.id}/file` })));
    expect(shown.artifacts[2].description).toBe(`float32 [${fx.clipIds.length}, 64] (NumPy .npy): the mean log-mel vectors, dB (features.csv's mel_00 … mel_63); row i is the target of features.csv's row i (its clip_id)`);
    // The stored mel vector reads back over HTTP, the same 64 float32 as the table's mel columns.
    const [header, ...rows] = (await app.inject({ url: `/v1/artifacts/${artifacts.items[0].id}/file` })).rawPayload.toString("utf8").trimEnd().split("\n").map((l) => l.split(","));
    const row = rows.find((r) => r[header.indexOf("clip_id")] === fx.clipIds[0])!;
    const mel = header.flatMap((h, i) => (h.startsWith("mel_") ? [Number(row[i])] : []));
    const stored = (await app.inject({ url: `/v1/clips/${fx.clipIds[0]}/features/log_mel` })).json();
    expect(stored).toMatchObject({ name: "log_mel", value: null, run_id: job.run_id });
    // The feature names this job's values created point to its run and creator, as every created record does (SPEC §5).
    const names = (await app.inject({ url: "/v1/feature_names?search=log_mel" })).json().items;
    expect(names).toMatchObject([{ name: "log_mel", run_id: job.run_id, created_by: job.created_by }]);
    const bytes = Buffer.from(stored.data, "base64");
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4))).toEqual(mel);
    expect(mel).toHaveLength(64);
    // log_mel.npy downloads from the other instance; its row of that clip (the CSV's row) holds the same 64 float32.
    const npy = await other.inject({ url: shown.artifacts[2].url });
    expect(npy.headers).toMatchObject({ "content-type": "application/octet-stream", "content-disposition": "attachment; filename=\"log_mel.npy\"; filename*=UTF-8''log_mel.npy" });
    const melRow = rows.indexOf(row);
    expect(npy.rawPayload.subarray(128 + melRow * 256, 128 + (melRow + 1) * 256)).toEqual(bytes);
    expect((await app.inject({ url: `/v1/clips/${fx.clipIds[0]}/features/rms_dbfs` })).json()).toMatchObject({ name: "rms_dbfs", value: clip.features.find((f: { name: string }) => f.name === "rms_dbfs").value, data: null });
    expect((await app.inject({ url: `/v1/clips/${fx.clipIds[0]}/features/loudness` })).json().message).toBe(`feature loudness of clip ${fx.clipIds[0]} not found`);
    expect((await app.inject({ url: `/v1/recordings/${fx.recordings["tone1k.wav"]}/features/log_mel` })).statusCode).toBe(404); // the job's targets were clips
    // Archived (kept on purpose), an artifact is still the job's; trashed, it is not (it left the list when archived: a review).
    const move = (id: string, action: string) => app.inject({ method: "POST", url: `/v1/artifacts/${id}/${action}`, headers: admin });
    await move(artifacts.items[1].id, "archive");
    await move(artifacts.items[2].id, "trash");
    const kept = (await app.inject({ url: `/v1/jobs/${job.id}` })).json().artifacts;
    expect(kept.map((a: { name: string; state: string }) => [a.name, a.state])).toEqual([["features.csv", "active"], ["features.npy", "archived"], ["provenance.json", "active"]]);
    await move(artifacts.items[1].id, "restore");
    await move(artifacts.items[2].id, "restore");
    await expectDownload(artifacts.items[0]);
    const again = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, headers: admin });
    expect(again.statusCode).toBe(409);
  }, 60_000);

  it("lists a job's items — which failed, and why — by status, page by page", async () => {
    const missing = await missingRecording(t.db.sql, fx, "missing.wav");
    const created = await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: [fx.recordings["tone1k.wav"], missing] }, features: ["rms_dbfs"] } } });
    expect(created.statusCode, created.body).toBe(201);
    const job = created.json();
    const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    try {
      expect(await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 30_000)).toMatchObject({ result: "failure" });
    } finally {
      await worker.stop();
    }
    const failed = await app.inject({ url: `/v1/jobs/${job.id}/items?status=failed` });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(failed.json()).toMatchObject({ total: 1, items: [{ item: 1, kind: "recording", target_id: missing, recording_id: missing, recording_path: "missing.wav", status: "failed", attempts: 1, error: expect.stringMatching(/missing\.wav/), host: hostname(), pid: process.pid, missing_on: [hostname()] }] });
    expect(failed.body).not.toContain(dir.path); // the server's own paths stay inside
    const all = (await app.inject({ url: `/v1/jobs/${job.id}/items?limit=1&offset=1` })).json();
    expect(all).toMatchObject({ total: 2, items: [{ item: 1 }] });
    expect((await app.inject({ url: `/v1/jobs/${job.id}/items?status=done` })).json().items).toMatchObject([{ item: 0, recording_path: "tone1k.wav", seconds: 2, error: null }]);
    const bad = await app.inject({ url: `/v1/jobs/${job.id}/items?status=broken` });
    expect([bad.statusCode, bad.json().fields]).toEqual([400, [{ field: "status", message: "must be one of pending, done, failed, errored, skipped" }]]);
    expect((await app.inject({ url: "/v1/jobs/00000000-0000-4000-8000-000000000000/items" })).statusCode).toBe(404);
  }, 60_000);

  it("retry: a new job of the same task data whose targets are the items a finished job did not get done; its creator's or an admin's", async () => {
    const member = async (name: string, role: "member" | "viewer" = "member") => {
      const user = await createUser(t.db.sql, { username: name, role });
      return { id: user.id, headers: { authorization: `Bearer ${(await createToken(t.db.sql, { user_id: user.id, name, created_by: null })).key}` } };
    };
    const [owner, stranger, viewer] = [await member("retry-owner"), await member("retry-stranger"), await member("retry-viewer", "viewer")];
    const retry = (id: string, headers: { authorization: string }, query = "", payload?: object) => app.inject({ method: "POST", url: `/v1/jobs/${id}/retry${query}`, headers, ...(payload ? { payload } : {}) });
    const gone = await missingRecording(t.db.sql, fx, "gone.wav");
    const data = { targets: { recording_ids: [fx.recordings["tone1k.wav"], gone, fx.recordings["tone3k.wav"]] }, features: ["rms_dbfs"], params: { window_size: 0.01 }, band: { low_freq: 100 }, expiration_delay: 60 };
    const created = await app.inject({ method: "POST", url: "/v1/jobs", headers: owner.headers, payload: { task: "extract_features", data, priority: 7 } });
    expect(created.statusCode, created.body).toBe(201);
    const job = created.json();
    expect(job.retry_of).toBeNull();
    const early = await retry(job.id, owner.headers);
    expect([early.statusCode, early.json().message]).toEqual([409, `cannot retry job ${job.id}: it is pending (only a completed or aborted job can be)`]);

    const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    try {
      expect(await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 30_000)).toMatchObject({ result: "failure" });
    } finally {
      await worker.stop();
    }
    // Another member's job is not theirs to run again, nor a viewer's; an unknown job is a 404.
    for (const [who, role] of [[stranger, "member"], [viewer, "viewer"]] as const) {
      const refused = await retry(job.id, who.headers);
      expect(refused.statusCode, role).toBe(403);
    }
    expect((await retry(job.id, stranger.headers)).json().message).toBe(`only the job's creator or an admin may retry job ${job.id}; user retry-stranger is member`);
    // Nor to archive, trash or restore: another member's archive made the job read-only to its
    // creator, their trash put it up for purging (a review).
    for (const action of ["archive", "trash", "restore"]) {
      const refused = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/${action}`, headers: stranger.headers });
      expect([refused.statusCode, refused.json().message]).toEqual([403, `only the job's creator or an admin may ${action} job ${job.id}; user retry-stranger is member`]);
    }
    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).json().state).toBe("active");
    // Its artifacts' states too: another member's restore had undone its creator's archive (which keeps one), and cleanup deleted it.
    const [artifact] = (await app.inject({ url: `/v1/artifacts?job_id=${job.id}` })).json().items;
    for (const action of ["archive", "trash", "restore"]) {
      const refused = await app.inject({ method: "POST", url: `/v1/artifacts/${artifact.id}/${action}`, headers: stranger.headers });
      expect([refused.statusCode, refused.json().message]).toEqual([403, `only the artifact's creator or an admin may ${action} artifact ${artifact.id}; user retry-stranger is member`]);
    }
    for (const action of ["archive", "restore"]) expect((await app.inject({ method: "POST", url: `/v1/artifacts/${artifact.id}/${action}`, headers: owner.headers })).statusCode).toBe(200);
    expect((await retry("00000000-0000-4000-8000-000000000000", admin)).statusCode).toBe(404);
    const noErrors = await retry(job.id, owner.headers, "?status=errored");
    expect([noErrors.statusCode, noErrors.json().message]).toEqual([409, `cannot retry job ${job.id}: none of its items is errored`]);
    const badStatus = await retry(job.id, owner.headers, "?status=done");
    expect([badStatus.statusCode, badStatus.json().fields]).toEqual([400, [{ field: "status", message: "must be one of failed, errored, skipped" }]]);

    // The failed item's target alone, with the job's features, params, band, expiry and priority.
    const again = await retry(job.id, owner.headers);
    expect(again.statusCode, again.body).toBe(201);
    const retried = again.json();
    expect(retried).toMatchObject({ status: "pending", retry_of: job.id, priority: 7, progress_total: 1, created_by: owner.id, data: { ...data, targets: { recording_ids: [gone] } } });
    expect((await app.inject({ url: `/v1/jobs/${retried.id}` })).json()).toMatchObject({ retry_of: job.id });
    expect((await app.inject({ url: `/v1/jobs/${retried.id}/items` })).json().items).toMatchObject([{ item: 0, kind: "recording", target_id: gone, recording_path: "gone.wav", status: "pending" }]);
    expect((await retry(retried.id, admin)).json().message).toBe(`cannot retry job ${retried.id}: it is pending (only a completed or aborted job can be)`);
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${retried.id}/abort`, headers: owner.headers })).statusCode).toBe(200);

    // An aborted job of clips: its skipped items, clips still, by an admin; and a retry of that retry.
    const clips = fx.clipIds.slice(0, 3);
    const clipJob = (await app.inject({ method: "POST", url: "/v1/jobs", headers: owner.headers, payload: { task: "extract_features", data: { targets: { clip_ids: clips } } } })).json();
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${clipJob.id}/abort`, headers: owner.headers })).statusCode).toBe(200);
    const clipRetry = await retry(clipJob.id, admin, "?status=skipped");
    expect(clipRetry.statusCode, clipRetry.body).toBe(201);
    expect(clipRetry.json()).toMatchObject({ retry_of: clipJob.id, progress_total: 3, data: { targets: { clip_ids: clips } } });
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${clipRetry.json().id}/abort`, headers: admin })).statusCode).toBe(200);
    // The retry is the admin's: not the first job's creator's to run again.
    expect((await retry(clipRetry.json().id, owner.headers)).statusCode).toBe(403);
    const badPriority = await retry(clipRetry.json().id, admin, "", { priority: 1001 });
    expect([badPriority.statusCode, badPriority.json().fields]).toEqual([400, [{ field: "priority", message: "must be <= 1000" }]]);
    const third = (await retry(clipRetry.json().id, admin, "", { priority: 9 })).json();
    expect(third).toMatchObject({ retry_of: clipRetry.json().id, priority: 9, data: { targets: { clip_ids: clips } } });
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${third.id}/abort`, headers: admin })).statusCode).toBe(200);
  }, 60_000);

  it("retry: leaves out the targets archived, trashed or deleted since; a 409 when none is left", async () => {
    const [kept, archived, trashed, deleted] = [await missingRecording(t.db.sql, fx, "retry-kept.wav"), await missingRecording(t.db.sql, fx, "retry-archived.wav"),
      await missingRecording(t.db.sql, fx, "retry-trashed.wav"), await missingRecording(t.db.sql, fx, "retry-deleted.wav")];
    const job = (await app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { recording_ids: [archived, kept, trashed, deleted] } } } })).json();
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, headers: admin })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: `/v1/recordings/${archived}/archive`, headers: admin })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: `/v1/recordings/${trashed}/trash`, headers: admin })).statusCode).toBe(200);
    await t.db.sql`DELETE FROM recordings WHERE id = ${deleted}`;

    const retried = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/retry`, headers: admin });
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.json()).toMatchObject({ retry_of: job.id, progress_total: 1, data: { targets: { recording_ids: [kept] } } });
    // Sent twice (a double click, a client's own retry): the second would run the same items beside the first.
    const twice = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/retry`, headers: admin });
    expect([twice.statusCode, twice.json().message]).toEqual([409, `cannot retry job ${job.id}: job ${retried.json().id}, a retry of it, is pending; retry once it ends`]);
    // Nor is it trashed meanwhile: its purge would cut the pending retry from the chain a later retry reads (a review).
    const trash = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/trash`, headers: admin });
    expect([trash.statusCode, trash.json().message]).toEqual([409, `job ${job.id} cannot be trashed while its retry ${retried.json().id} is pending: a purge would cut that retry from its chain; wait for it to end or abort it (POST /v1/jobs/${retried.json().id}/abort)`]);
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${retried.json().id}/abort`, headers: admin })).statusCode).toBe(200);

    expect((await app.inject({ method: "POST", url: `/v1/recordings/${kept}/archive`, headers: admin })).statusCode).toBe(200);
    const none = await app.inject({ method: "POST", url: `/v1/jobs/${retried.json().id}/retry`, headers: admin });
    expect([none.statusCode, none.json().message]).toEqual([409, `cannot retry job ${retried.json().id}: the targets of its failed, errored or skipped items are all archived, trashed or deleted since; restore them first`]);
  }, 60_000);

  it("retry after a retry ran: what is still not done, each target's latest outcome in the chain of retries counting; refused while any retry of the chain runs", async () => {
    const [fixed, broken] = [await missingRecording(t.db.sql, fx, "chain-fixed.wav"), await missingRecording(t.db.sql, fx, "chain-broken.wav")];
    const post = async (url: string) => app.inject({ method: "POST", url, headers: admin, payload: url === "/v1/jobs" ? { task: "extract_features", data: { targets: { recording_ids: [fx.recordings["tone1k.wav"], fixed, broken] }, features: ["rms_dbfs"] } } : undefined });
    const run = async (id: string) => {
      const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
      try {
        return await waitForJob(t.db.sql, id, (j) => j.status === "completed", 30_000);
      } finally {
        await worker.stop();
      }
    };
    const targetsOf = async (id: string) => (await app.inject({ url: `/v1/jobs/${id}/items` })).json().items.map((i: { target_id: string; status: string }) => [i.target_id, i.status]);
    const job = (await post("/v1/jobs")).json();
    expect(await run(job.id)).toMatchObject({ result: "failure", progress_done: 3 });
    const first = await post(`/v1/jobs/${job.id}/retry`);
    expect(first.statusCode, first.body).toBe(201);
    expect(await targetsOf(first.json().id)).toEqual([[fixed, "pending"], [broken, "pending"]]);
    // One of the two files put in place (tone3k.wav's twin: the content registered), and the retry run.
    await copyFile(join(dir.path, "tone3k.wav"), join(dir.path, "chain-fixed.wav"));
    expect(await run(first.json().id)).toMatchObject({ result: "failure" });
    expect(await targetsOf(first.json().id)).toEqual([[fixed, "done"], [broken, "failed"]]);

    // The job retried again: only what its retry left failed — not the item that retry did.
    const second = await post(`/v1/jobs/${job.id}/retry`);
    expect(second.statusCode, second.body).toBe(201);
    expect(second.json()).toMatchObject({ retry_of: job.id, progress_total: 1, data: { targets: { recording_ids: [broken] } } });
    // While it is pending, no job of the chain is retried: the first retry's failed item is the one it runs.
    for (const id of [job.id, first.json().id]) {
      const refused = await post(`/v1/jobs/${id}/retry`);
      expect([refused.statusCode, refused.json().message]).toEqual([409, `cannot retry job ${id}: job ${second.json().id}, a retry of ${id === job.id ? "it" : `job ${job.id}`}, is pending; retry once it ends`]);
    }
    expect((await post(`/v1/jobs/${second.json().id}/abort`)).statusCode).toBe(200);
    // Aborted: its skipped item is what is left, from any job of the chain; with a status that none has, a 409 that says why.
    const third = await post(`/v1/jobs/${first.json().id}/retry`);
    expect(third.statusCode, third.body).toBe(201);
    expect(third.json()).toMatchObject({ retry_of: first.json().id, data: { targets: { recording_ids: [broken] } } });
    expect((await post(`/v1/jobs/${third.json().id}/abort`)).statusCode).toBe(200);
    const none = await post(`/v1/jobs/${job.id}/retry?status=failed`);
    expect([none.statusCode, none.json().message]).toEqual([409, `cannot retry job ${job.id}: none of its items is failed since its retries (the latest: job ${third.json().id})`]);
  }, 90_000);

  it("limits the spectral features to a band when the job gives one", async () => {
    const submit = (band: object) => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { clip_ids: [fx.clipIds[1]] }, features: ["peak_frequency_hz", "spectral_centroid_hz"], band } } });
    const refused = await submit({ low_freq: 3000, high_freq: 2000 });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().fields.map((f: { field: string }) => f.field)).toEqual(["data.band.high_freq"]);
    const created = await submit({ low_freq: 2000, high_freq: 3500 });
    expect(created.statusCode, created.body).toBe(201);
    const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    try {
      await waitForJob(t.db.sql, created.json().id, (j) => j.status === "completed", 30_000);
    } finally {
      await worker.stop();
    }
    // The clip is a 1 kHz tone: within 2–3.5 kHz only its leakage is left.
    const features = (await app.inject({ url: `/v1/clips/${fx.clipIds[1]}` })).json().features as { name: string; value: number }[];
    const spectral = features.filter((f) => f.name.endsWith("_hz"));
    expect(spectral.map((f) => f.name)).toEqual(["peak_frequency_hz", "spectral_centroid_hz"]);
    for (const f of spectral) {
      expect(f.value, f.name).toBeGreaterThanOrEqual(2000);
      expect(f.value, f.name).toBeLessThanOrEqual(3500);
    }
  }, 60_000);

  it("computes each clip in its own frequency bounds with band \"clip\", read at execution: the values of a job of that fixed band over the clip", async () => {
    const submit = (targets: string[], band?: unknown) => app.inject({ method: "POST", url: "/v1/jobs", headers: admin, payload: { task: "extract_features", data: { targets: { clip_ids: targets }, band } } });
    const box = (start: number, low_freq: number | null, high_freq: number | null) =>
      createClip(t.db.sql, { recording_id: fx.recordings["tone1k.wav"], start_time: start, end_time: start + 0.2, low_freq, high_freq, created_by: null });
    // tone1k.wav is a 1 kHz tone at 8 kHz: above it only leakage, across it the tone, open above, the whole spectrum.
    const [above, across, whole] = [await box(0.1, 1500, 3000), await box(0.5, 2500, null), await box(0.9, null, null)];
    const misspelt = await submit([above.id], "clips");
    expect([misspelt.statusCode, misspelt.json().fields]).toEqual([400, [{ field: "data.band", message: 'must be {low_freq?, high_freq?} (Hz) or "clip"' }]]);
    const binless = await box(1.3, 1010, 1020);
    const refused = await submit([binless.id], "clip");
    expect([refused.statusCode, refused.json().fields]).toEqual([400, [{ field: "data.band", message: `clip ${binless.id} (recording tone1k.wav): band [1010, 1020] Hz holds no FFT bin (bins are 40 Hz apart) (1 of 1 target)` }]]);
    const byClip = await submit([above.id, across.id, whole.id], "clip");
    expect(byClip.statusCode, byClip.body).toBe(201);
    // Edited after the submission: its worker computes the bounds it reads.
    await updateClip(t.db.sql, across.id, { low_freq: 500 });
    const fixed = [await submit([above.id], { low_freq: 1500, high_freq: 3000 }), await submit([across.id], { low_freq: 500 }), await submit([whole.id])];
    const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    try {
      for (const job of [byClip, ...fixed]) await waitForJob(t.db.sql, job.json().id, (j) => j.status === "completed", 30_000);
    } finally {
      await worker.stop();
    }
    const results = async (id: string) => new Map((await endedItems(t.db.sql, id)).map((i) => [i.target.id, i.result]));
    const computed = await results(byClip.json().id);
    for (const [i, clip] of [above, across, whole].entries()) expect(computed.get(clip.id), `clip ${i}`).toEqual((await results(fixed[i].json().id)).get(clip.id));
    // Not the same values whatever the band: leakage above the tone, the tone across it.
    expect(computed.get(above.id)!.peak_frequency_hz).toBeGreaterThanOrEqual(1500);
    expect(computed.get(across.id)!.peak_frequency_hz).toBeCloseTo(1000, -2);
    const artifacts = (await app.inject({ url: `/v1/artifacts?job_id=${byClip.json().id}` })).json().items as { id: string; name: string }[];
    const file = async (name: string) => (await app.inject({ url: `/v1/artifacts/${artifacts.find((a) => a.name === name)!.id}/file` })).rawPayload.toString("utf8");
    const [header, ...rows] = (await file("features.csv")).trimEnd().split("\n").map((l) => l.split(","));
    expect(header.slice(0, 8)).toEqual(["clip_id", "recording_id", "path", "md5", "start_time", "end_time", "low_freq", "high_freq"]);
    expect(rows.map((r) => [r[0], r[6], r[7]])).toEqual([[above.id, "1500", "3000"], [across.id, "500", ""], [whole.id, "", ""]]);
    expect(JSON.parse(await file("provenance.json")).sonotile.band).toBe("clip");
  }, 90_000);
});

describe("archiving and trashing jobs", () => {
  const post = (url: string, payload?: object) => app.inject({ method: "POST", url, headers: admin, ...(payload ? { payload } : {}) });
  const listed = async (query = "") => ((await app.inject({ url: `/v1/jobs?limit=1000${query}` })).json().items as { id: string; state: string }[]).map((j) => j.id);

  it("only an ended job moves: a pending or running one is a 409 that says to abort it first", async () => {
    const missing = await missingRecording(t.db.sql, fx, "states-pending.wav");
    const job = (await post("/v1/jobs", { task: "extract_features", data: { targets: { recording_ids: [missing] } } })).json();
    for (const action of ["archive", "trash"]) {
      const refused = await post(`/v1/jobs/${job.id}/${action}`);
      expect([refused.statusCode, refused.json().message]).toEqual([409, `job ${job.id} is pending and cannot be ${action === "archive" ? "archived" : "trashed"}: abort it first (POST /v1/jobs/${job.id}/abort, sonotile jobs abort), or wait for it to end`]);
    }
    await t.db.sql`UPDATE jobs SET status = 'running', started_at = now() WHERE id = ${job.id}`;
    expect((await post(`/v1/jobs/${job.id}/archive`)).json().message).toMatch(/is running and cannot be archived: abort it first/);
    expect((await post(`/v1/jobs/${job.id}/abort`)).statusCode).toBe(200);
    const archived = await post(`/v1/jobs/${job.id}/archive`);
    expect(archived.statusCode, archived.body).toBe(200);
    expect(archived.json()).toMatchObject({ id: job.id, status: "aborted", state: "archived", state_changed_at: expect.any(String) });
    expect((await post("/v1/jobs/00000000-0000-4000-8000-000000000000/archive")).statusCode).toBe(404);
  });

  it("an archived job leaves the default listing and is read-only: no metric, retry or abort; restored, it is back as it was", async () => {
    const missing = await missingRecording(t.db.sql, fx, "states-archived.wav");
    const job = (await post("/v1/jobs", { task: "extract_features", data: { targets: { recording_ids: [missing] } } })).json();
    expect((await post(`/v1/jobs/${job.id}/abort`)).statusCode).toBe(200);
    expect(await listed()).toContain(job.id);
    expect((await post(`/v1/jobs/${job.id}/archive`)).statusCode).toBe(200);
    expect(await listed()).not.toContain(job.id);
    expect(await listed("&state=archived")).toContain(job.id);
    expect(await listed("&state=all&status=aborted")).toContain(job.id);
    expect(await listed("&state=trashed")).not.toContain(job.id);
    // Reads still answer by id.
    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).json()).toMatchObject({ state: "archived" });
    expect((await app.inject({ url: `/v1/jobs/${job.id}/items` })).json().total).toBe(1);
    expect((await app.inject({ url: `/v1/jobs/${job.id}/metrics` })).json().total).toBe(4);

    const metric = await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, headers: admin, payload: { key: "loss", value: 1 } });
    expect([metric.statusCode, metric.json().message]).toEqual([409, `job ${job.id} is archived and read-only; restore it first`]);
    const retry = await post(`/v1/jobs/${job.id}/retry`);
    expect([retry.statusCode, retry.json().message]).toEqual([409, `job ${job.id} is archived and read-only; restore it first`]);
    expect((await post(`/v1/jobs/${job.id}/abort`)).statusCode).toBe(409);
    expect((await post(`/v1/jobs/${job.id}/trash`)).json().message).toBe(`job ${job.id} is archived; restore it first`);

    expect((await post(`/v1/jobs/${job.id}/restore`)).json()).toMatchObject({ state: "active", status: "aborted" });
    expect(await listed()).toContain(job.id);
    expect((await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, headers: admin, payload: { key: "loss", value: 1 } })).statusCode).toBe(200);
    const retried = await post(`/v1/jobs/${job.id}/retry`);
    expect(retried.statusCode, retried.body).toBe(201);
    expect((await post(`/v1/jobs/${retried.json().id}/abort`)).statusCode).toBe(200);
  });

  it("a purge deletes a trashed job with its items and metrics; its artifact, run, the feature values it wrote and its retries stay", async () => {
    const created = await post("/v1/jobs", { task: "extract_features", data: { targets: { recording_ids: [fx.recordings["tone3k.wav"]] }, features: ["rms_dbfs"] } });
    const job = created.json();
    const worker = await startWorker({ sql: t.db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
    try {
      await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 30_000);
    } finally {
      await worker.stop();
    }
    // A retry of it (of nothing, here: an item set back to failed) names it until the purge.
    await t.db.sql`UPDATE job_items SET status = 'failed' WHERE job_id = ${job.id}`;
    const retry = (await post(`/v1/jobs/${job.id}/retry`)).json();
    expect((await post(`/v1/jobs/${retry.id}/abort`)).statusCode).toBe(200);
    const [artifact] = (await app.inject({ url: `/v1/artifacts?job_id=${job.id}` })).json().items;
    expect(artifact).toMatchObject({ name: "features.csv", run_id: job.run_id });

    expect((await post(`/v1/jobs/${job.id}/trash`)).json()).toMatchObject({ state: "trashed" });
    expect(await listed()).not.toContain(job.id);
    expect(await listed("&state=trashed")).toContain(job.id);
    expect((await post("/v1/trash/purge")).json().jobs).toBe(0); // trashed less than 30 days ago
    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).statusCode).toBe(200);
    const purged = await post("/v1/trash/purge", { older_than: 0 });
    expect(purged.statusCode, purged.body).toBe(200);
    expect(purged.json().jobs).toBe(1);

    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).statusCode).toBe(404);
    expect(await t.db.sql`SELECT 1 FROM job_items WHERE job_id = ${job.id} UNION ALL SELECT 1 FROM job_metrics WHERE job_id = ${job.id}`).toHaveLength(0);
    expect((await app.inject({ url: `/v1/artifacts/${artifact.id}` })).json()).toMatchObject({ id: artifact.id, job_id: null, run_id: job.run_id, state: "active" });
    // The run and the value keep what made them, the job purged: the engine version, and the MD5 of the bytes computed.
    expect((await app.inject({ url: `/v1/runs/${job.run_id}` })).json()).toMatchObject({ id: job.run_id, engine_version: VERSION });
    const { hash } = (await app.inject({ url: `/v1/recordings/${fx.recordings["tone3k.wav"]}` })).json();
    expect((await app.inject({ url: `/v1/recordings/${fx.recordings["tone3k.wav"]}/features/rms_dbfs` })).json()).toMatchObject({ name: "rms_dbfs", run_id: job.run_id, engine_version: VERSION, recording_hash: hash });
    expect((await app.inject({ url: `/v1/jobs/${retry.id}` })).json()).toMatchObject({ id: retry.id, retry_of: null });
  }, 60_000);
});
