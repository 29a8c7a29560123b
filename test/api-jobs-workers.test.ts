/**
 * `sonotile worker` processes sharing one real PostgreSQL (DATABASE_URL): three workers take
 * a 300-item job; one is killed with SIGKILL mid-job; the job still completes, and every
 * target has exactly one value per feature — none lost, none duplicated. The survivors stop
 * cleanly on SIGTERM. And a worker on another host (a UTS namespace: its own host name) that
 * lacks the dataset's directory (a mount namespace hiding it) fails no item. Spawns the built
 * CLI (dist/, built by `npm test`). An idle worker takes a job submitted by another process at once
 * (a NOTIFY wakes it), not at its next poll, also once its listening connection was lost.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openQueue, submitExtractJob } from "../src/jobs/queue.js";
import { REAL_PG_URL, freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";
import { jobFixture, waitForJob } from "./jobs-helpers.js";

const REPO = resolve(fileURLToPath(new URL("..", import.meta.url)));
const FEATURES = ["duration_s", "rms_dbfs", "spectral_centroid_hz", "log_mel"] as const;
const ITEMS = 300;

let t: TestDatabase;
let dir: Awaited<ReturnType<typeof tempDir>>;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  if (!REAL_PG_URL) return;
  t = await freshDatabase();
  dir = await tempDir();
}, 60_000);

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
  await t?.cleanup();
  await dir?.remove();
});

/** Whether this process may make namespaces of its own (root, with unshare): to play another machine. */
const CAN_UNSHARE = spawnSync("unshare", ["-m", "-u", "true"]).status === 0;

/**
 * A `sonotile worker` process polling every `poll` s; `hidden` given, it plays another machine: host
 * name `other-host`, and an empty directory mounted over `hidden` (unshare(1), mount(8)).
 */
function startWorkerProcess(options: { poll?: number; hidden?: string } = {}): ChildProcess & { stderrText: () => string } {
  const args = ["bin/sonotile.js", "worker", "--threads", "1", "--poll", String(options.poll ?? 0.5), "--data", join(dir.path, "data")];
  const [command, ...commandArgs] = options.hidden
    ? ["unshare", "-m", "-u", "sh", "-c", `hostname other-host && mount -t tmpfs none "$0" && exec "$@"`, options.hidden, process.execPath, ...args]
    : [process.execPath, ...args];
  const child = spawn(command, commandArgs, {
    cwd: REPO, env: { ...process.env, DATABASE_URL: t.url }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGKILL") console.error(`worker ${child.pid} exited ${code ?? signal}: ${stderr}`);
  });
  workers.push(child);
  return Object.assign(child, { stderrText: () => stderr });
}

/** Resolves once the worker has said it is ready. */
const ready = (child: ChildProcess) => new Promise<void>((r) => {
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
    if (out.includes(" ready ")) r();
  });
});

const exited = (child: ChildProcess) => new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once("exit", (code) => r(code))));

describe("sonotile worker processes on one PostgreSQL", () => {
  it.skipIf(!REAL_PG_URL)("finish a 300-item job exactly once although one is killed mid-job", async () => {
    // A folder of its own: the tests below make datasets of other folders of dir, and none may lie inside another's.
    await mkdir(join(dir.path, "killed"));
    const fx = await jobFixture(t.db.sql, join(dir.path, "killed"), ITEMS);
    const boss = await openQueue(t.db.sql);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: fx.clipIds }, features: [...FEATURES] }, created_by: null });
    await boss.stop({ graceful: false, close: false });

    const [victim, ...survivors] = [startWorkerProcess(), startWorkerProcess(), startWorkerProcess()];
    await waitForJob(t.db.sql, job.id, (j) => j.progress_done >= ITEMS / 10, 60_000);
    victim.kill("SIGKILL");
    const done = await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 90_000);
    expect(done).toMatchObject({ result: "success", progress_done: ITEMS, progress_total: ITEMS });

    // Exactly one value per (clip, feature), all from this job's run; every item done once.
    const counts = await t.db.sql`
      SELECT c.id, count(cf.clip_id)::int AS n, count(DISTINCT cf.feature_name_id)::int AS names
      FROM clips c LEFT JOIN clip_features cf ON cf.clip_id = c.id AND cf.run_id = ${job.run_id}
      WHERE c.id = ANY(${fx.clipIds}::uuid[]) GROUP BY c.id`;
    expect(counts.length).toBe(ITEMS);
    expect(counts.filter((c) => c.n !== FEATURES.length || c.names !== FEATURES.length)).toEqual([]);
    const items = await t.db.sql`SELECT status, count(*)::int AS n FROM job_items WHERE job_id = ${job.id} GROUP BY status`;
    expect(items.map((i) => [i.status, i.n])).toEqual([["done", ITEMS]]);
    // Delivered again: at most the victim's two batches in hand (2 items per thread each); the
    // kill almost always catches them all.
    const [{ redelivered }] = await t.db.sql`SELECT count(*)::int AS redelivered FROM job_items WHERE job_id = ${job.id} AND attempts > 1`;
    expect(redelivered).toBeLessThanOrEqual(4);

    for (const w of survivors) w.kill("SIGTERM");
    expect(await Promise.all(survivors.map(exited))).toEqual([0, 0]);
  }, 150_000);

  it.skipIf(!REAL_PG_URL)("take a job another process submits at once, not at their next poll, also after their listening connection was lost", async () => {
    await mkdir(join(dir.path, "woken"));
    const fx = await jobFixture(t.db.sql, join(dir.path, "woken"), 0);
    // Polling once an hour: a job taken within the test's 30 s was not taken by a poll (its first
    // polls, as it starts, are over after the pause).
    const worker = startWorkerProcess({ poll: 3600 });
    await ready(worker);
    await new Promise((r) => setTimeout(r, 1000));
    const boss = await openQueue(t.db.sql);
    try {
      const submitted = async () => (await submitExtractJob(t.db.sql, boss, { data: { targets: { recording_ids: [fx.recordings["tone3k.wav"]] }, features: ["rms_dbfs"] }, created_by: null })).id;
      const done = async (id: string) => waitForJob(t.db.sql, id, (j) => j.status === "completed", 30_000);
      expect(await done(await submitted())).toMatchObject({ result: "success", progress_done: 1 });
      // Its listening backend terminated (as by a server restart): it listens again on a new one.
      const listeners = async () => (await t.db.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).map((r) => r.pid);
      const [lost] = await listeners();
      await t.db.sql`SELECT pg_terminate_backend(${lost})`;
      await expect.poll(async () => (await listeners()).filter((pid) => pid !== lost).length, { timeout: 20_000, interval: 200 }).toBe(1);
      expect(await done(await submitted())).toMatchObject({ result: "success", progress_done: 1 });
    } finally {
      await boss.stop({ graceful: false, close: false });
      worker.kill("SIGTERM");
    }
    expect(await exited(worker)).toBe(0);
  }, 90_000);

  it.skipIf(!REAL_PG_URL || !CAN_UNSHARE)("leave the items a worker on another host cannot read to the others: the job succeeds, and that worker names the directory it lacks", async () => {
    // The dataset's directory, under one the other host's worker has an empty directory over.
    const far = join(dir.path, "far");
    await mkdir(join(far, "audio"), { recursive: true });
    const fx = await jobFixture(t.db.sql, join(far, "audio"), 40);
    // The worker that cannot read the files polls more often than the others, to take items first
    // (40 items keep the others busy past its first poll).
    const healthy = [startWorkerProcess({ poll: 2 }), startWorkerProcess({ poll: 2 })];
    const other = startWorkerProcess({ hidden: far });
    await Promise.all([...healthy, other].map(ready));
    const boss = await openQueue(t.db.sql);
    const job = await submitExtractJob(t.db.sql, boss, { data: { targets: { clip_ids: fx.clipIds }, features: [...FEATURES] }, created_by: null });
    await boss.stop({ graceful: false, close: false });

    const done = await waitForJob(t.db.sql, job.id, (j) => j.status === "completed", 60_000);
    expect(done).toMatchObject({ result: "success", progress_done: 40 });
    const items = await t.db.sql`SELECT status, missing_on, host FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
    expect(items.filter((i) => i.status !== "done" || i.host === "other-host")).toEqual([]);
    // It took some, and left them.
    expect(items.filter((i) => i.missing_on.length).map((i) => i.missing_on)).toContainEqual(["other-host"]);
    for (const w of [...healthy, other]) w.kill("SIGTERM");
    expect(await Promise.all([...healthy, other].map(exited))).toEqual([0, 0, 0]);
    expect(other.stderrText().split("\n").filter((l) => l.includes(join(far, "audio")))).toEqual([
      `sonotile worker: audio directory ${join(far, "audio")} is missing or unreadable on this machine (host other-host: ENOENT): its datasets' job items are left for workers on other hosts — mount it here, or stop this worker`,
    ]);
  }, 120_000);
});
