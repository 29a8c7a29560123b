/**
 * `sonotile jobs submit|list|show|abort` and `sonotile worker` as processes (the built CLI in
 * dist/): usage errors exit 2 before any database is opened; with DATABASE_URL, a job
 * submitted from the command line is executed by a worker and shown with its metrics and
 * artifact; a worker stops on SIGTERM with exit 0.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/api/app.js";
import { VERSION } from "../src/engine/version.js";
import { createClip } from "../src/store/clips.js";
import { createDataset } from "../src/store/datasets.js";
import { setState } from "../src/store/common.js";
import { openDatabase } from "../src/store/db.js";
import { ensureAdmin } from "../src/store/users.js";
import { REAL_PG_URL, freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";
import { runSonotile } from "./cli-helpers.js";
import { ROOT } from "./golden.js";
import { jobFixture, missingRecording, waitForJob, type JobFixture } from "./jobs-helpers.js";


const sonotile = (args: string[], env: NodeJS.ProcessEnv = {}) => runSonotile(args, { env });

describe("sonotile jobs: usage", () => {
  it("exits 2 with a message naming the problem", async () => {
    const env = { DATABASE_URL: "" };
    const cases: [string[], RegExp][] = [
      [["jobs", "frob"], /expected submit, list, show, abort, retry or download/],
      [["jobs", "submit"], /exactly one of --dataset, --recordings, --clips/],
      [["jobs", "submit", "--recordings", "not-a-uuid,00000000-0000-4000-8000-000000000000"], /targets\.recording_ids\.0 \(--recordings\): must be an RFC 9562 UUID: .* \(all 0, all f\)$/m],
      [["jobs", "submit", "--dataset", "00000000-0000-4000-8000-000000000000", "--features", "rms_dbfs,loudness"], /--features: unknown feature 'loudness' \(known: duration_s, /],
      [["jobs", "submit", "--dataset", "00000000-0000-4000-8000-000000000000", "--window", "nope"], /--window/],
      [["worker", "--threads", "0"], /--threads: must be an integer in \[1, 1024\]/],
      [["jobs", "retry"], /retry: wrong number of arguments/],
      [["jobs", "retry", "00000000-0000-4000-8000-000000000000", "--status", "done"], /--status: must be one of failed, errored, skipped$/m],
      // A retry runs its job's features, targets and expiry: flags for them are refused, not ignored.
      [["jobs", "retry", "00000000-0000-4000-8000-000000000000", "--features", "rms_dbfs", "--expiration-delay", "5"], /^sonotile jobs: retry takes no --features, --expiration-delay \(a retry runs its job's features, targets and expiry\)$/m],
      [["jobs", "list", "--message", "hi"], /^sonotile jobs: list takes no --message$/m],
      [["jobs", "list", "--state", "hidden"], /^sonotile jobs: --state: must be one of active, archived, trashed, all$/m],
      [["jobs", "show", "00000000-0000-4000-8000-000000000000", "--state", "all"], /^sonotile jobs: show takes no --state$/m],
      [["jobs", "abort", "00000000-0000-4000-8000-000000000000", "--priority", "3"], /^sonotile jobs: abort takes no --priority$/m],
    ];
    const results = await Promise.all(cases.map(([args]) => sonotile(args, env)));
    results.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: expect.stringMatching(cases[i][1]) }));
  }, 30_000);

  it("submit --band: clip, or LOW:HIGH Hz checked by the job data's own rules; anything else exits 2 naming --band", async () => {
    const cases: [string[], RegExp][] = [
      [["jobs", "submit", "--clips", "00000000-0000-4000-8000-000000000000", "--band", "clips"], /^sonotile jobs: --band: must be clip \(each clip target in its own bounds\) or LOW:HIGH in Hz \(either side may be empty\), got 'clips'$/m],
      [["jobs", "submit", "--clips", "00000000-0000-4000-8000-000000000000", "--band", ":"], /^sonotile jobs: --band: must be clip .*, got ':'$/m],
      [["jobs", "submit", "--clips", "00000000-0000-4000-8000-000000000000", "--band", "1000:2000:3000"], /^sonotile jobs: --band: must be clip .*, got '1000:2000:3000'$/m],
      [["jobs", "submit", "--dataset", "00000000-0000-4000-8000-000000000000", "--band", "3000:1000"], /^sonotile jobs: band\.high_freq \(--band\): must be > low_freq$/m],
      [["jobs", "submit", "--dataset", "00000000-0000-4000-8000-000000000000", "--band", "low:"], /^sonotile jobs: --band: must be clip .*, got 'low:'$/m],
      [["jobs", "submit", "--dataset", "00000000-0000-4000-8000-000000000000", "--band", "-5:"], /^sonotile jobs: band\.low_freq \(--band\): must be >= 0$/m],
      [["jobs", "retry", "00000000-0000-4000-8000-000000000000", "--band", "clip"], /^sonotile jobs: retry takes no --band/m],
    ];
    const results = await Promise.all(cases.map(([args]) => sonotile(args, { DATABASE_URL: "" })));
    results.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: expect.stringMatching(cases[i][1]) }));
  }, 60_000);
});

describe("sonotile jobs on a data directory (the embedded database)", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let dataset: string;
  const env = { DATABASE_URL: "" };
  const onData = (args: string[]) => sonotile([...args, "--data", join(dir.path, "data")], env);

  beforeAll(async () => {
    dir = await tempDir();
    await mkdir(join(dir.path, "audio"));
    await writeSineWav(join(dir.path, "audio", "tone.wav"), 8000, 1, 1000);
    const added = await onData(["dataset", "add", join(dir.path, "audio"), "--audio-root", dir.path, "--json"]);
    expect(added.code, added.stderr).toBe(0);
    dataset = JSON.parse(added.stdout).dataset.id;
  }, 60_000);
  afterAll(() => dir?.remove());

  it("submit: parameters a target cannot take exit 2 naming the flag, the recording and how many targets, and submit nothing", async () => {
    const refused = await onData(["jobs", "submit", "--dataset", dataset, "--channel", "3", "--window-size", "200"]);
    expect(refused).toMatchObject({ code: 2, stdout: "" });
    expect(refused.stderr).toBe("sonotile jobs: channel (--channel): must be < channels (1) (recording tone.wav: 8000 Hz × time expansion 1, 1 channel; 1 of 1 target); "
      + "window_size (--window-size): gives 1600000 samples at 8000 Hz; the limit is 1048576 (recording tone.wav: 8000 Hz × time expansion 1, 1 channel; 1 of 1 target)\n");
    expect(JSON.parse((await onData(["jobs", "list", "--json"])).stdout).total).toBe(0);
  }, 60_000);

  it("submit: clips in none of which a frame is centred exit 2 naming the flags typed in the text too, not only the fields", async () => {
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    let clip: string;
    try {
      const [{ id: recording }] = await database.sql`SELECT id FROM recordings WHERE path = 'tone.wav'`;
      clip = (await createClip(database.sql, { recording_id: recording, start_time: 0.001, end_time: 0.002, created_by: null })).id;
    } finally {
      await database.close();
    }
    // Frames 0.1 s apart (centred at 0, 0.1 s, …): none in [0.001, 0.002). The text said `hop_size` and `window_size` to a user who typed --hop-size and --window-size.
    const refused = await onData(["jobs", "submit", "--clips", clip, "--window-size", "0.1", "--hop-size", "1"]);
    expect(refused).toMatchObject({ code: 2, stdout: "" });
    expect(refused.stderr).toBe(`sonotile jobs: hop_size (--hop-size): no frame is centred in [0.001, 0.002) s of clip ${clip} (recording tone.wav): the clip lasts 0.001 s, `
      + "less than the 0.1 s between frames (window_size (--window-size) 0.1 s × hop_size (--hop-size) 1 at 8000 Hz) — give a window_size (--window-size) ≤ 0.001 s or a hop_size (--hop-size) ≤ 0.01 to put a frame in it (1 of 1 target)\n");
  }, 60_000);

  it("submit: items over the work limit exit 2 naming --hop-size, in the text too, how many targets and the worst, and submit nothing", async () => {
    // A row only (the limit reads the stored rate and frames), in a dataset of its own: 10 h at 384 kHz, a half-second window hopping one sample.
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    let recording: string;
    try {
      const { id: nights } = await createDataset(database.sql, { name: "nights", audio_dir: "/nonexistent/nights", created_by: null });
      [{ id: recording }] = await database.sql`
        INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, time_expansion, frames, channels)
        VALUES (${nights}, 'night.wav', md5('night.wav'), 1000, 384000, 1, 13824000000, 1) RETURNING id`;
    } finally {
      await database.close();
    }
    const jobs = JSON.parse((await onData(["jobs", "list", "--json"])).stdout).total;
    const refused = await onData(["jobs", "submit", "--recordings", recording, "--window-size", "0.5", "--hop-size", "0.000002"]);
    expect(refused).toMatchObject({ code: 2, stdout: "" });
    expect(refused.stderr).toBe(`sonotile jobs: hop_size (--hop-size): 1 of 1 target would each transform more samples than a job's item may; the most, recording night.wav, would transform ${(13_824_000_001 * 192_000).toExponential(2)} samples `
      + "(1-sample hops of 192000); the limit is 6.87e+10: use a longer hop_size (--hop-size) or a shorter window_size (--window-size)\n");
    expect(JSON.parse((await onData(["jobs", "list", "--json"])).stdout).total).toBe(jobs);
  }, 60_000);

  it("submit --band: clip makes a job of data.band \"clip\", LOW:HIGH a fixed band (a side left empty open); one no target can take exits 2 naming --band", async () => {
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    let clip: string;
    try {
      const [{ id: recording }] = await database.sql`SELECT id FROM recordings WHERE path = 'tone.wav'`;
      clip = (await createClip(database.sql, { recording_id: recording, start_time: 0.2, end_time: 0.8, low_freq: 500, high_freq: 1500, created_by: null })).id;
    } finally {
      await database.close();
    }
    /** The submitted job's data (the job stays pending: no worker runs here). */
    const submitted = async (...args: string[]) => {
      const res = await onData(["jobs", "submit", ...args, "--json"]);
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout).data;
    };
    expect(await submitted("--clips", clip, "--band", "clip")).toMatchObject({ targets: { clip_ids: [clip] }, band: "clip" });
    expect((await submitted("--dataset", dataset, "--band", "500:1500")).band).toEqual({ low_freq: 500, high_freq: 1500 });
    expect((await submitted("--clips", clip, "--band", "1e3:")).band).toEqual({ low_freq: 1000 });
    expect((await submitted("--clips", clip, "--band", ":2500")).band).toEqual({ high_freq: 2500 });
    // As the API: band "clip" takes a recording target over its whole spectrum.
    expect((await submitted("--dataset", dataset, "--band", "clip")).band).toBe("clip");
    expect(await onData(["jobs", "submit", "--dataset", dataset, "--band", "4000:"])).toMatchObject({ code: 2, stdout: "", stderr: expect.stringMatching(/^sonotile jobs: band \(--band\): .*4000/) });
  }, 240_000);

  it("list: active jobs by default, an archived one with --state archived or all, said so", async () => {
    const job = JSON.parse((await onData(["jobs", "submit", "--dataset", dataset, "--json"])).stdout);
    expect((await onData(["jobs", "abort", job.id])).code).toBe(0);
    // What the abort left, said as a finished job's failures are (it showed no message).
    expect((await onData(["jobs", "show", job.id])).stdout).toContain("\nmessage: aborted: 0 of 1 items done, 1 skipped\n");
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    try {
      await setState(database.sql, "jobs", job.id, "archived");
    } finally {
      await database.close();
    }
    expect((await onData(["jobs", "list"])).stdout).not.toContain(job.id);
    for (const state of ["archived", "all"]) {
      expect((await onData(["jobs", "list", "--state", state])).stdout, state).toMatch(new RegExp(`^${job.id}\\s+aborted .*\\(archived\\)$`, "m"));
    }
    expect(JSON.parse((await onData(["jobs", "list", "--state", "trashed", "--json"])).stdout).items).toEqual([]);
  }, 60_000);

  it("retry: a pending job is refused (exit 2), and one of a chain whose latest retry is pending; an aborted one's skipped items become a new job, whose id is printed", async () => {
    const job = JSON.parse((await onData(["jobs", "submit", "--dataset", dataset, "--features", "rms_dbfs", "--priority", "3", "--json"])).stdout);
    expect(await onData(["jobs", "retry", job.id])).toMatchObject({ code: 2, stderr: `sonotile jobs: cannot retry job ${job.id}: it is pending (only a completed or aborted job can be)\n` });
    expect((await onData(["jobs", "abort", job.id])).code).toBe(0);
    expect(await onData(["jobs", "retry", job.id, "--status", "failed"])).toMatchObject({ code: 2, stderr: `sonotile jobs: cannot retry job ${job.id}: none of its items is failed\n` });
    const retried = await onData(["jobs", "retry", job.id]);
    expect(retried.code, retried.stderr).toBe(0);
    const [, id] = /^job (\S+) submitted: 1 item \(a retry of job (\S+)\)\n$/.exec(retried.stdout)!;
    const shown = JSON.parse((await onData(["jobs", "show", id, "--json"])).stdout).job;
    expect(shown).toMatchObject({ status: "pending", retry_of: job.id, priority: 3, data: { features: ["rms_dbfs"], targets: { recording_ids: [expect.any(String)] } } });
    expect((await onData(["jobs", "abort", id])).code).toBe(0);
    const urgent = JSON.parse((await onData(["jobs", "retry", id, "--priority", "-5", "--json"])).stdout);
    expect(urgent).toMatchObject({ retry_of: id, priority: -5 });
    // The first job while that retry of its retry is pending: what is still not done is not known yet.
    expect(await onData(["jobs", "retry", job.id])).toMatchObject({ code: 2, stderr: `sonotile jobs: cannot retry job ${job.id}: job ${urgent.id}, a retry of job ${id}, is pending; retry once it ends\n` });
  }, 120_000);

  it("retry: items no target of which the job's parameters can compute (1-sample clips) are refused saying so, and that a new jobs submit with the parameters the reason gives is the way on, its rows outside --chain", async () => {
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    let [tiny, wide] = ["", ""];
    try {
      const [{ id: recording }] = await database.sql`SELECT id FROM recordings WHERE path = 'tone.wav'`;
      // One sample at 8 kHz, between the frames 12.5 ms apart (0.5, 0.5125 s).
      tiny = (await createClip(database.sql, { recording_id: recording, start_time: 0.501, end_time: 0.501125, created_by: null })).id;
      wide = (await createClip(database.sql, { recording_id: recording, start_time: 0.2, end_time: 0.8, created_by: null })).id;
    } finally {
      await database.close();
    }
    const job = JSON.parse((await onData(["jobs", "submit", "--clips", `${tiny},${wide}`, "--json"])).stdout);
    expect((await onData(["jobs", "abort", job.id])).code).toBe(0);
    const attached = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    try {
      await setState(attached.sql, "clips", wide, "trashed"); // the retry leaves it out: only the 1-sample clip is left
    } finally {
      await attached.close();
    }
    const refused = await onData(["jobs", "retry", job.id]);
    expect(refused).toMatchObject({ code: 2, stdout: "" });
    // It said `data.params.hop_size: …`, an API field, of a change a retry cannot take ("retry takes no spectrogram parameters").
    expect(refused.stderr).toBe(`sonotile jobs: cannot retry job ${job.id}: its 1 failed, errored or skipped item cannot be computed with the job's parameters, which a retry keeps — `
      + `hop_size (--hop-size): no frame is centred in [0.501, 0.501125) s of clip ${tiny} (recording tone.wav): the clip lasts 0.000125 s, less than the 0.0125 s between frames `
      + "(window_size (--window-size) 0.025 s × hop_size (--hop-size) 0.5 at 8000 Hz) — give a window_size (--window-size) ≤ 0.00025 s or a hop_size (--hop-size) ≤ 0.005 to put a frame in it (1 of 1 target). "
      + `Submit its clip as a new job with the parameters that reason gives: sonotile jobs submit --clips ID,… with them (POST /v1/jobs; GET /v1/jobs/${job.id}/items lists the clip). `
      + `That job is no retry of job ${job.id}: its rows are in its own features.csv (sonotile jobs download <its id>), computed with other parameters (its provenance.json names them), not in the table jobs download --chain merges of job ${job.id} and its retries\n`);
    // The way it says: a new job, with the hop_size the reason gives.
    const anew = JSON.parse((await onData(["jobs", "submit", "--clips", tiny, "--hop-size", "0.005", "--json"])).stdout);
    expect(anew).toMatchObject({ status: "pending", retry_of: null, progress_total: 1 });
  }, 120_000);

  it("list: more jobs than it prints says so on stderr (the oldest were left out unsaid)", async () => {
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    try {
      await database.sql`INSERT INTO jobs (task, data) SELECT 'extract_features', '{}'::jsonb FROM generate_series(1, 1001)`;
    } finally {
      await database.close();
    }
    const listed = await onData(["jobs", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split("\n")).toHaveLength(1000);
    const total = JSON.parse((await onData(["jobs", "list", "--json"])).stdout).total;
    expect(total).toBeGreaterThan(1000);
    expect(listed.stderr).toBe(`sonotile jobs: the 1000 newest of ${total} jobs listed; narrow the list with --status or --state (GET /v1/jobs pages through them all)\n`);
    expect((await onData(["jobs", "list", "--status", "completed"])).stderr).toBe("");
  }, 120_000);

  it("token list and dataset list: more records than they print say so on stderr, as jobs list does", async () => {
    const database = await openDatabase({ dataDir: join(dir.path, "data"), attach: true, poolSize: 1, create: false });
    try {
      const [user] = await database.sql`INSERT INTO users (username) VALUES ('many-tokens') RETURNING id`;
      await database.sql`INSERT INTO api_tokens (user_id, name, key_hash, key_prefix) SELECT ${user.id}, 'bulk', sha256(i::text::bytea), 'st_' FROM generate_series(1, 1001) AS i`;
      await database.sql`INSERT INTO datasets (name, audio_dir) SELECT 'bulk ' || i, '/nowhere/' || i FROM generate_series(1, 1001) AS i`;
    } finally {
      await database.close();
    }
    const tokens = await onData(["token", "list"]);
    expect(tokens.stdout.trim().split("\n")).toHaveLength(1000);
    expect(tokens.stderr).toMatch(/^sonotile token: the 1000 newest of 10\d\d tokens listed; narrow the list with --user NAME \(GET \/v1\/tokens pages through them all\)\n$/);
    expect((await onData(["token", "list", "--user", "admin"])).stderr).toBe("");
    const datasets = await onData(["dataset", "list"]);
    expect(datasets.stdout.trim().split("\n")).toHaveLength(1000);
    expect(datasets.stderr).toMatch(/^sonotile dataset: the 1000 first by name of 10\d\d datasets listed; GET \/v1\/datasets pages through them all\n$/);
  }, 120_000);
});

describe("sonotile jobs with a worker (DATABASE_URL)", () => {
  let t: TestDatabase;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let fx: JobFixture;

  beforeAll(async () => {
    if (!REAL_PG_URL) return;
    t = await freshDatabase();
    dir = await tempDir();
    fx = await jobFixture(t.db.sql, dir.path, 3);
    await ensureAdmin(t.db.sql); // there is an admin: the command line still acts as no user
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
    await dir?.remove();
  });

  it.skipIf(!REAL_PG_URL)("submit, run on a worker, list, show; abort of a finished job is refused (exit 2)", async () => {
    const env = { DATABASE_URL: t.url };
    const submitted = await sonotile(["jobs", "submit", "--dataset", fx.datasetId, "--features", "rms_dbfs,peak_frequency_hz", "--window-size", "0.01", "--json"], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = JSON.parse(submitted.stdout);
    expect(job).toMatchObject({ status: "pending", progress_total: 2, data: { targets: { dataset_id: fx.datasetId }, params: expect.objectContaining({ window_size: 0.01 }) } });
    expect(job.created_by).toBeNull(); // the command line is no user: what it makes has created_by null (README)

    // And a job whose one recording has no file: `show` lists the item, named as the API names it, and why.
    const missing = await missingRecording(t.db.sql, fx, "missing.wav");
    const failing = JSON.parse((await sonotile(["jobs", "submit", "--recordings", missing, "--features", "rms_dbfs", "--json"], env)).stdout);

    const worker = spawn(process.execPath, ["bin/sonotile.js", "worker", "--threads", "1", "--poll", "0.5", "--data", join(dir.path, "data")], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let workerErr = "";
    worker.stderr!.on("data", (d) => (workerErr += d));
    await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 30_000);
    await waitForJob(t.db.sql, failing.id, (j) => j.status === "completed", 30_000);
    worker.kill("SIGTERM");
    expect(await new Promise((r) => worker.once("exit", r)), workerErr).toBe(0);
    const shown = JSON.parse((await sonotile(["jobs", "show", job.id, "--json"], env)).stdout);
    expect(shown.job).toMatchObject({ status: "completed", result: "success", progress_done: 2 });
    expect(shown.run).toMatchObject({ id: job.run_id, kind: "job", engine_version: VERSION });
    expect((await sonotile(["jobs", "show", job.id], env)).stdout.split("\n")[1]).toBe(`run ${job.run_id}: made by sonotile ${VERSION}`);
    expect(shown.metrics.map((m: { key: string }) => m.key).sort()).toEqual(["audio_seconds_per_second", "items_done", "items_errored", "items_failed"]);
    // The table, and the matrix of its scalar features (no log_mel asked: no log_mel.npy).
    expect(shown.artifacts).toMatchObject([
      { name: "features.csv", media_type: "text/csv", url: `/v1/artifacts/${shown.artifacts[0].id}/file` },
      { name: "features.npy", media_type: "application/octet-stream", url: `/v1/artifacts/${shown.artifacts[1].id}/file`, description: "float32 [2, 2] (NumPy .npy): row i is the target of features.csv's row i (its recording_id); columns rms_dbfs, peak_frequency_hz" },
      { name: "provenance.json", media_type: "application/json", url: `/v1/artifacts/${shown.artifacts[2].id}/file` },
    ]);
    expect(shown.failed_items).toEqual([]);
    const failed = await sonotile(["jobs", "show", failing.id], env);
    // Naming the worker that found it missing.
    expect(failed.stdout.trim().split("\n").at(-1)).toMatch(new RegExp(`^item 0 failed: missing\\.wav \\(recording ${missing}\\): .*missing\\.wav.* \\(worker on host ${hostname()}, pid \\d+\\)$`));
    expect(JSON.parse((await sonotile(["jobs", "show", failing.id, "--json"], env)).stdout).failed_items).toMatchObject([{ item: 0, status: "failed", recording_path: "missing.wav" }]);
    // The worker process wrote the table; this process's server hands it out from the database.
    const server = await buildApp({ database: t.db, audioRoots: [] });
    try {
      const download = await server.inject({ url: shown.artifacts[0].url });
      expect(download.statusCode).toBe(200);
      expect(createHash("sha256").update(download.rawPayload).digest("hex")).toBe(shown.artifacts[0].file_sha256);
    } finally {
      await server.close();
    }

    const list = await sonotile(["jobs", "list", "--status", "completed"], env);
    expect(list.stdout).toMatch(new RegExp(`^${job.id}\\s+completed\\s+success\\s+2/2\\s+extract_features`, "m"));
    const abort = await sonotile(["jobs", "abort", job.id], env);
    expect(abort).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot abort job .*: it is completed/) });
    // Expired, the job's artifacts are still shown — as expired, each with what it holds — though listings now leave them out by default.
    await t.db.sql`UPDATE artifacts SET expire_at = '2026-01-01T00:00:00Z' WHERE job_id = ${job.id}`;
    const lines = (await sonotile(["jobs", "show", job.id], env)).stdout.split("\n");
    const expired = lines.slice(lines.findIndex((line) => line.startsWith("artifact ")), -1);
    expect(expired).toEqual(shown.artifacts.flatMap((a: { id: string; name: string; file_sha256: string; size: number; url: string; description: string }) => [
      `artifact ${a.id}  ${a.name}  sha256 ${a.file_sha256}  ${a.size} bytes  expired 2026-01-01T00:00:00.000Z  GET ${a.url}`, `  ${a.description}`,
    ]));
    // Archived, one is kept whatever its expire_at (it read "expires <a past time>").
    await t.db.sql`UPDATE artifacts SET state = 'archived' WHERE id = ${shown.artifacts[0].id}`;
    const kept = (await sonotile(["jobs", "show", job.id], env)).stdout.split("\n").find((line) => line.startsWith(`artifact ${shown.artifacts[0].id}`));
    expect(kept).toContain("bytes  archived, so kept (its expire_at 2026-01-01T00:00:00.000Z does not apply)  GET");
  }, 60_000);

  it.skipIf(!REAL_PG_URL)("retry names on stderr the targets it left out, archived or deleted since", async () => {
    const env = { DATABASE_URL: t.url };
    const [kept, archived, deleted] = [await missingRecording(t.db.sql, fx, "cli-kept.wav"), await missingRecording(t.db.sql, fx, "cli-archived.wav"), await missingRecording(t.db.sql, fx, "cli-deleted.wav")];
    const job = JSON.parse((await sonotile(["jobs", "submit", "--recordings", [kept, archived, deleted].join(","), "--json"], env)).stdout);
    expect((await sonotile(["jobs", "abort", job.id], env)).code).toBe(0);
    await t.db.sql`UPDATE recordings SET state = 'archived' WHERE id = ${archived}`;
    await t.db.sql`DELETE FROM recordings WHERE id = ${deleted}`;
    const retried = await sonotile(["jobs", "retry", job.id], env);
    expect(retried).toMatchObject({ code: 0, stderr: "sonotile jobs: left out 2 targets archived, trashed or deleted since: cli-archived.wav, cli-deleted.wav\n" });
    expect(retried.stdout).toMatch(new RegExp(`^job \\S+ submitted: 1 item \\(a retry of job ${job.id}\\)\n$`));
  }, 60_000);
});
