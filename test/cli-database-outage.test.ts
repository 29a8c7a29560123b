/**
 * `sonotile serve` and `sonotile worker` (the built CLI, dist/) when their PostgreSQL is down: a
 * TCP proxy in front of the database is stopped and started again, as in api-outage.test.ts.
 * serve waits for a database that is not up yet, as worker does; both exit after a signal during
 * an outage once the database is back, and serve during a partition (the proxy frozen) without it. The tests that run a database need real PostgreSQL
 * (DATABASE_URL): the embedded database serves one session, not a server's pools and a LISTEN.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openQueue, submitExtractJob } from "../src/jobs/queue.js";
import { ROOT } from "./golden.js";
import { jobFixture, waitForJob } from "./jobs-helpers.js";
import { REAL_PG_URL, freshDatabase, tcpProxy, tempDir, type TcpProxy, type TestDatabase } from "./store-helpers.js";

let target: TestDatabase | undefined;
let proxy: TcpProxy;
let proxiedUrl: string;
let dir: Awaited<ReturnType<typeof tempDir>>;
/** Every process started, killed at the end if still running (a failed test left a worker behind). */
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await tempDir();
  if (REAL_PG_URL) {
    target = await freshDatabase();
    const u = new URL(target.url!);
    proxy = await tcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    u.host = `127.0.0.1:${proxy.port}`;
    proxiedUrl = u.toString();
  } else {
    // Nothing behind it: a port that refuses connections while the proxy is stopped.
    proxy = await tcpProxy({ host: "127.0.0.1", port: 1 });
    proxiedUrl = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
  }
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await proxy?.stop();
  await target?.cleanup();
  await dir?.remove();
});

/** `sonotile args` on `databaseUrl`, its output gathered; `printed(text)` resolves once it printed `text` (rejects if it exits first). */
function start(args: string[], databaseUrl: string) {
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, "bin/sonotile.js"), ...args], { cwd: dir.path, env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d) => { stdout += d; for (const l of listeners) l(); });
  child.stderr!.on("data", (d) => { stderr += d; for (const l of listeners) l(); });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const printed = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const look = () => {
        if (stdout.includes(text) || stderr.includes(text)) resolve();
      };
      listeners.add(look);
      look();
      void exited.then((code) => reject(new Error(`exited with ${code} before printing ${JSON.stringify(text)}:\n${stdout}${stderr}`)));
    });
  return { child, printed, exited, output: () => ({ stdout, stderr }) };
}

it("serve on a DATABASE_URL that refuses connections waits for it, saying so, and a signal ends the wait with exit 0", async () => {
  await proxy.stop();
  try {
    const serve = start(["serve", "--port", "0", "--no-worker", "--audio-root", dir.path], proxiedUrl);
    await serve.printed(`sonotile serve: postgres://postgres@127.0.0.1:${proxy.port}`);
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    // It exited at once with "sonotile serve: connect ECONNREFUSED 127.0.0.1:…", naming no database.
    // Its start-up line first (the database it connects to), then the wait.
    expect(serve.output().stderr).toMatch(new RegExp(`^sonotile serve: connecting to postgres://postgres@127\\.0\\.0\\.1:${proxy.port}/\\w+\\nsonotile serve: postgres://postgres@127\\.0\\.0\\.1:${proxy.port}/\\w+ cannot be reached yet \\(ECONNREFUSED\\): waiting up to 120 s for it\\n$`));
  } finally {
    await proxy.start();
  }
}, 60_000);

it.runIf(REAL_PG_URL)("serve started before its PostgreSQL serves once it comes up", async () => {
  await proxy.stop();
  const serve = start(["serve", "--port", "0", "--no-worker", "--audio-root", dir.path], proxiedUrl);
  try {
    await serve.printed("waiting up to 120 s for it");
  } finally {
    await proxy.start();
  }
  await serve.printed("sonotile serving on");
  serve.child.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
}, 60_000);

it.runIf(REAL_PG_URL)("a worker given SIGTERM during an outage exits 0 once its shutdown is done, also when the database comes back", async () => {
  const worker = start(["worker", "--threads", "1"], proxiedUrl);
  await worker.printed("ready (database:");
  await proxy.stop();
  try {
    // Its queue's passes fail until the outage ends, and say so once.
    await worker.printed("database unreachable");
    worker.child.kill("SIGTERM");
    await worker.printed("finishing the items in hand");
  } finally {
    await proxy.start();
  }
  // It stayed alive for good: postgres.js re-opened its LISTEN connection after end() once the
  // database answered again.
  expect(await worker.exited).toBe(0);
  // Once, not at each failed pass of its queue (several a second).
  expect(worker.output().stderr.match(/^sonotile worker: database unreachable \([A-Z0-9_]+: .*\), retrying$/gm)).toHaveLength(1);
}, 90_000);

it.runIf(REAL_PG_URL)("a worker given SIGTERM with items in hand whose outcomes the database can no longer take gives them up, names them and exits 1; another worker then computes each once", async () => {
  const { sql } = target!.db;
  const fx = await jobFixture(sql, dir.path, 0);
  const boss = await openQueue(sql);
  const job = await submitExtractJob(sql, boss, { data: { targets: { recording_ids: Object.values(fx.recordings) }, features: ["rms_dbfs"] }, created_by: null });
  await boss.stop({ graceful: false, close: false });
  // The job's row locked meanwhile (not through the proxy): the worker's items wait in hand, to start their job.
  let release!: () => void;
  const locked = sql.begin(async (tx) => {
    await tx`SELECT id FROM jobs WHERE id = ${job.id} FOR UPDATE`;
    await new Promise<void>((resolve) => (release = resolve));
  });
  // Both items claimed (each fetcher may take one), and a worker's statement waiting on the lock.
  const inHandWaiting = async () => (await sql`
    SELECT (SELECT count(*)::int FROM job_items WHERE job_id = ${job.id} AND attempts = 1) AS claimed,
           (SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock') AS waiting`)[0];
  try {
    const worker = start(["worker", "--threads", "1"], proxiedUrl);
    await worker.printed("ready (database:");
    await expect.poll(inHandWaiting, { timeout: 20_000, interval: 100 }).toEqual({ claimed: 2, waiting: true });
    worker.child.kill("SIGTERM");
    await worker.printed("finishing the items in hand");
    await proxy.stop();
    try {
      // It exited 0 saying nothing of them.
      expect(await worker.exited).toBe(1);
    } finally {
      await proxy.start();
    }
    const items = `job ${job.id} item 0 \\(recording tone1k\\.wav\\), job ${job.id} item 1 \\(recording tone3k\\.wav\\)`;
    expect(worker.output().stderr).toMatch(new RegExp(`^sonotile worker: stopping without the database \\([A-Z_]+: [^)]*\\): 2 items in hand not recorded — ${items}; they go back to the queue once their heartbeat lapses, for another worker \\(or this one restarted\\) to compute$`, "m"));
  } finally {
    release();
    await locked;
  }
  const other = start(["worker", "--threads", "1"], proxiedUrl);
  try {
    expect(await waitForJob(sql, job.id, (j) => j.status === "completed", 60_000)).toMatchObject({ result: "success", progress_done: 2 });
  } finally {
    other.child.kill("SIGTERM");
  }
  expect(await other.exited).toBe(0);
  const rows = await sql`SELECT item, status, attempts FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
  expect(rows.map((r) => [r.item, r.status, r.attempts])).toEqual([[0, "done", 2], [1, "done", 2]]);
  const [{ values }] = await sql`SELECT count(*)::int AS values FROM recording_features WHERE run_id = ${job.run_id}`;
  expect(values).toBe(2);
}, 90_000);

it.runIf(REAL_PG_URL)("serve given SIGTERM while its database holds its connections without answering (a partition) exits 0 without waiting for it", async () => {
  const serve = start(["serve", "--port", "0", "--audio-root", dir.path], proxiedUrl);
  await serve.printed("sonotile serving on");
  proxy.freeze();
  try {
    serve.child.kill("SIGTERM");
    // Its job worker's stop waited for statements the partition held: serve exited only once the
    // database answered again. Now: 10 s for them, then its connections are closed (5 s).
    expect(await Promise.race([serve.exited, new Promise((resolve) => setTimeout(resolve, 40_000, "still running"))])).toBe(0);
  } finally {
    proxy.thaw();
  }
  expect(serve.output().stderr).toContain("sonotile worker: stopping without the database: no answer within 10 s of the items in hand being done");
}, 60_000);

it.runIf(REAL_PG_URL)("serve with its job worker in process says an outage once, both ways — the worker's queue and the API each said it, in four lines", async () => {
  const serve = start(["serve", "--port", "0", "--audio-root", dir.path], proxiedUrl);
  await serve.printed("sonotile serving on");
  const address = /sonotile serving on (http:\/\/\S+)/.exec(serve.output().stdout + serve.output().stderr)![1];
  const said = (pattern: RegExp) => (serve.output().stdout + serve.output().stderr).match(pattern)?.length ?? 0;
  await proxy.stop();
  try {
    // A request finds the outage (the API's line) while the worker's queue polls through it (the worker's).
    expect((await fetch(`${address}/v1/datasets`)).status).toBe(503);
    await serve.printed("database unreachable");
    await new Promise((done) => setTimeout(done, 5000)); // several of the queue's passes, each failing
    expect((await fetch(`${address}/v1/datasets`)).status).toBe(503);
  } finally {
    await proxy.start();
  }
  await serve.printed("database reachable again");
  await new Promise((done) => setTimeout(done, 5000)); // the API's probe and the queue's passes have both found it back
  serve.child.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
  expect([said(/database unreachable|database not answering/g), said(/database reachable again/g)]).toEqual([1, 1]);
}, 90_000);
