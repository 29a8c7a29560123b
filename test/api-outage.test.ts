/**
 * Database outage: with the database cut off (a TCP proxy in front of it is stopped),
 * metadata routes answer 503 with a clear message and /health reports it; when the proxy
 * comes back the same server answers 200 again — no restart. A job worker stopped meanwhile
 * gives up the items in hand, naming them, and another computes them once the database is back.
 * Runs against the embedded database, or real PostgreSQL when DATABASE_URL is set.
 */
import { join } from "node:path";
import { PassThrough } from "node:stream";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadlinePlugin } from "../src/api/plugins/deadline.js";
import { buildApp, type App } from "../src/api/app.js";
import { ITEM_QUEUE, openQueue, submitExtractJob } from "../src/jobs/queue.js";
import { startWorker } from "../src/jobs/worker.js";
import { createDataset } from "../src/store/datasets.js";
import { isConnectionError, openDatabase, type Database } from "../src/store/db.js";
import { startEmbedded, type EmbeddedDatabase } from "../src/store/embedded.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { TilePool } from "../src/tiles/pool.js";
import { TileService } from "../src/tiles/service.js";
import type { WorkerTask } from "../src/tiles/worker.js";
import { jobFixture, waitForJob } from "./jobs-helpers.js";
import { FIXTURES, freshDatabase, migratedTemplate, tcpProxy, tempDir, type TcpProxy, type TestDatabase } from "./store-helpers.js";

let target: TestDatabase | undefined;
let embedded: EmbeddedDatabase | undefined;
let proxy: TcpProxy;
/** Where the proxy forwards to: the database's host and port, or the embedded database's socket. */
let proxyTarget: import("node:net").NetConnectOpts;
let db: Database;
let app: App;
/** The database's URL through the proxy. */
let proxiedUrl: string;

beforeAll(async () => {
  let u: URL;
  if (process.env.DATABASE_URL) {
    target = await freshDatabase();
    u = new URL(target.url!);
    proxyTarget = { host: u.hostname, port: Number(u.port || 5432) };
  } else {
    // The embedded database listens on a Unix socket only; the proxy gives it a port to cut.
    embedded = await startEmbedded({ maxConnections: 20, initialData: await migratedTemplate() });
    u = new URL("postgres://postgres@127.0.0.1/postgres");
    proxyTarget = { path: embedded.socket };
  }
  proxy = await tcpProxy(proxyTarget);
  u.host = `127.0.0.1:${proxy.port}`;
  proxiedUrl = u.toString();
  // Pool of 2: with 3 connections and 4 failed queries, postgres.js 3.4's end() waits for its
  // full timeout (5 s) after the outage — harmless (close is bounded), but slow for a test.
  db = await openDatabase({ url: u.toString(), poolSize: 2 });
  app = await buildApp({ database: db, audioRoots: [], deadlineMs: 2000 });
});

afterAll(async () => {
  await app?.close();
  await db?.close();
  await proxy?.stop();
  await target?.cleanup();
  await embedded?.stop();
});

/**
 * `url`'s answer (of `server`, default the app) once the database is reachable again: asked again while the server answers 503,
 * for up to 35 s (postgres.js gives up on a connection attempt after 30 s). It reconnects by
 * itself, without a restart; how soon its new connections are up depends on the machine's load
 * (a CI run of the database suites, in parallel on real PostgreSQL, once answered 503 to the
 * first requests after the proxy came back).
 */
async function answerWhenBack(url: string, server: App = app) {
  const until = Date.now() + 35_000;
  for (;;) {
    const res = await server.inject({ url });
    if (res.statusCode !== 503 || Date.now() > until) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
}

it("answers 503 while the database is unreachable and recovers by itself", async () => {
  expect((await app.inject({ url: "/v1/datasets" })).statusCode).toBe(200);

  await proxy.stop();
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: "/v1/datasets" });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ statusCode: 503, error: "Service Unavailable", message: expect.stringContaining("database is unavailable") });
    expect(res.headers["retry-after"]).toBe("5");
  }
  // A write gets no Retry-After: a connection lost after its COMMIT was sent may have made it.
  const write = await app.inject({ method: "POST", url: "/v1/datasets", headers: { authorization: "Bearer st_made_up" }, payload: { name: "during the outage", audio_dir: "/nowhere" } });
  expect([write.statusCode, write.headers["retry-after"]]).toEqual([503, undefined]);
  // On loopback the 503 says why; beyond it (every route needs a token), not: the token lookup
  // fails first, and any made-up key was answered with the database's host and port.
  expect((await app.inject({ url: "/v1/datasets" })).json().message).toContain(`127.0.0.1:${proxy.port}`);
  const exposed = await buildApp({ database: db, audioRoots: [], deadlineMs: 2000, requireAuthForReads: true });
  try {
    const res = await exposed.inject({ url: "/v1/datasets", headers: { authorization: "Bearer st_made_up" } });
    expect(res.statusCode).toBe(503);
    expect([res.json().message, res.headers["retry-after"]]).toEqual(["the database is unavailable; the server reconnects by itself — retry in a few seconds", "5"]);
  } finally {
    await exposed.close();
  }
  const health = await app.inject({ url: "/health" });
  expect(health.statusCode).toBe(503);
  expect(health.json()).toMatchObject({ status: "unavailable", database: { status: "unavailable" } });
  // Non-database routes still answer.
  expect((await app.inject({ url: "/version" })).statusCode).toBe(200);

  await proxy.start();
  const back = await answerWhenBack("/v1/datasets");
  expect(back.statusCode, back.body).toBe(200);
  expect(back.json()).toMatchObject({ items: [], total: 0 });
  expect((await app.inject({ url: "/health" })).statusCode).toBe(200);
});

it("answers 503 'database is unavailable' to every request of a long outage, not only its first ones, and recovers", async () => {
  expect((await answerWhenBack("/v1/datasets")).statusCode).toBe(200);
  await proxy.stop();
  try {
    // Each request is a failed connection attempt more: postgres.js's default pause before the
    // next attempt (3^failures / 100 s, up to 20 s) outgrew the 2 s deadline by the 6th, and
    // requests waited for it — answered with the deadline's "no answer within 2 s" instead.
    const messages = [];
    for (let i = 0; i < 12; i++) {
      const res = await app.inject({ url: "/v1/datasets" });
      messages.push(`${res.statusCode} ${res.json().message.slice(0, 27)}`);
    }
    expect(messages).toEqual(Array(12).fill("503 the database is unavailable"));
  } finally {
    await proxy.start();
  }
  const back = await answerWhenBack("/v1/datasets");
  expect(back.statusCode, back.body).toBe(200);
}, 60_000);

it("logs an outage in two warnings — one when requests find the database unreachable, one when it answers again — however many 503s between; each 503's error, with its stack, at the info level only (serve --verbose)", async () => {
  const lines: { level: number; msg: string; err?: { stack?: string } }[] = [];
  const log = new PassThrough().on("data", (chunk: Buffer) => lines.push(...chunk.toString().trim().split("\n").map((line) => JSON.parse(line))));
  const logged = await buildApp({ database: db, audioRoots: [], deadlineMs: 2000, logger: { level: "info", stream: log } });
  // The outage's warnings: the start-up sweep (plugins/reprobe.ts), still on its first query when
  // the database goes (on PostgreSQL at times), says once that it stopped — not a 503's line.
  const warnings = () => lines.filter((line) => line.level >= 40 && line.msg.startsWith("database ")).map((line) => line.msg);
  try {
    expect((await answerWhenBack("/v1/datasets", logged)).statusCode).toBe(200);
    await proxy.stop();
    try {
      // A viewer's tiles and lists: every 503 logged a warning with its stack before.
      for (let i = 0; i < 6; i++) expect((await logged.inject({ url: "/v1/datasets" })).statusCode).toBe(503);
    } finally {
      await proxy.start();
    }
    expect(warnings()).toEqual([expect.stringMatching(/^database unreachable \([A-Z0-9_]+: .*\): requests that need it are answered 503 until it is back$/)]);
    const errors = lines.filter((line) => line.msg === "database unavailable");
    expect(errors.map((line) => line.level)).toEqual(Array(6).fill(30));
    for (const line of errors) expect(line.err?.stack).toMatch(/^\w+: .*\n +at /);
    // Said once it answers again, with no request: the server asks it.
    for (let i = 0; i < 350 && warnings().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(warnings().slice(1)).toEqual(["database reachable again"]);
    expect((await logged.inject({ url: "/v1/datasets" })).statusCode).toBe(200);
    expect(warnings()).toHaveLength(2);
  } finally {
    await logged.close();
  }
}, 60_000);

it("answers 503 by its deadline while the database holds its connections without answering (a partition), and recovers when it answers again", async () => {
  expect((await answerWhenBack("/v1/datasets")).statusCode).toBe(200);
  proxy.freeze();
  try {
    const started = Date.now();
    const [held, again] = await Promise.all([app.inject({ url: "/v1/datasets" }), app.inject({ url: "/v1/recordings" })]);
    for (const res of [held, again]) {
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBe("5");
      expect(res.json().message).toMatch(/^no answer within 2 s: the database .* is not responding/);
    }
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await app.inject({ url: "/version" })).statusCode).toBe(200); // no database: answers at once
  } finally {
    proxy.thaw();
  }
  // The held queries complete when bytes flow again; new ones are answered.
  const back = await answerWhenBack("/v1/datasets");
  expect(back.statusCode, back.body).toBe(200);
}, 60_000);

it("answers a tile or an image with 503 by the deadline every route has while the database holds the lookup of its recording, not the tile routes' own", async () => {
  const [root] = await resolveRoots([join(FIXTURES, "recordings")]);
  const dataset = await createDataset(db.sql, { name: "partitioned", audio_dir: root, created_by: null });
  const file = "batdetect2_20230322_172000_selec2.wav";
  const { id } = (await insertRecording(db.sql, { ...(await probeFile(join(root, file))), dataset_id: dataset.id, path: file, created_by: null }))!;
  const tiles = new TileService({ threads: 1 });
  const withTiles = await buildApp({ database: db, audioRoots: [root], tiles, deadlineMs: 2000 });
  // dB without PCEN or normalization: no stats pass, the lookup is the only database work.
  const urls = [`/v1/recordings/${id}/tiles/0/0.png?pcen=false&normalize=false`, `/v1/recordings/${id}/spectrogram?start_time=0&end_time=0.5&pcen=false&normalize=false`];
  try {
    for (const url of urls) expect((await withTiles.inject({ url })).statusCode).toBe(200);
    proxy.freeze();
    // The partition ends 4 s in, past the 2 s deadline: the tile routes' own deadline (150 s) had the
    // requests wait for it, and answered 200 once it ended — a viewer's every connection held meanwhile.
    const thawing = setTimeout(() => proxy.thaw(), 4000);
    try {
      for (const res of await Promise.all(urls.map((url) => withTiles.inject({ url })))) {
        expect([res.statusCode, res.headers["content-type"]]).toEqual([503, "application/json; charset=utf-8"]);
        expect([res.headers["retry-after"], res.json().message]).toEqual(["5", expect.stringMatching(/^no answer within 2 s: the database .* is not responding/)]);
      }
    } finally {
      clearTimeout(thawing);
      proxy.thaw();
    }
    for (const url of urls) {
      const res = await answerWhenBack(url, withTiles);
      expect(res.statusCode, res.body).toBe(200);
    }
  } finally {
    await withTiles.close();
    await tiles.close();
  }
}, 60_000);

it("the job queue (of serve's job worker and of `sonotile worker`) says once that the database holds its statements without answering, and once that it answers again", async () => {
  // One connection, open before the partition: its statements wait on it with no error — a
  // worker whose connections were all open said nothing through a 60 s partition (a new
  // connection's attempt gives CONNECT_TIMEOUT after 5 s, which was said).
  const one = await openDatabase({ url: proxiedUrl, poolSize: 1, migrate: false });
  const said: string[] = [];
  const boss = await openQueue(one.sql, { log: (message) => said.push(message) });
  // A worker's fetch loop: its statements are what the partition holds (the queue is empty).
  await boss.work(ITEM_QUEUE, { pollingIntervalSeconds: 0.5 }, async () => {});
  try {
    proxy.freeze();
    try {
      await new Promise((resolve) => setTimeout(resolve, 11_000)); // past the 10 s a statement waits before it is said
    } finally {
      proxy.thaw();
    }
    for (let i = 0; i < 50 && said.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(said).toEqual(["database not answering (no reply for 10 s: a network partition, a stopped server, a long lock wait, or — on the embedded database, which answers one statement at a time — a long statement ahead of it), waiting for it", "database reachable again"]);
  } finally {
    await boss.stop({ graceful: false, close: false });
    await one.close();
  }
}, 60_000);

it("a connection attempt refused on the spot (no route to the host: ENETUNREACH) fails its statement with that error, and the process goes on", async () => {
  // The kernel refuses a TCP connection to the broadcast address within connect(2), sending nothing, as it refuses
  // one with no route — a worker whose network link went down through a partition.
  const unreachable = await openDatabase({ url: "postgres://postgres@255.255.255.255:5432/postgres", poolSize: 1, migrate: false });
  try {
    // Before: the error came before postgres.js listened for the socket's errors — an uncaught 'error' event, which
    // ended `sonotile worker` 52 s into a partition (its link down, measured) — and, postgres.js not hearing of the
    // failure, the statement was never answered (the test's 60 s ran out). Each attempt is refused so: the pool tries
    // again for the next statement.
    for (const statement of [1, 2]) {
      const err = await unreachable.sql`SELECT ${statement}::int`.then(() => null, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe("ENETUNREACH");
      expect(isConnectionError(err)).toBe(true);
    }
  } finally {
    await unreachable.close();
  }
});

it("a host of a multi-host URL whose port is out of range fails its connection attempts as any unreachable host does: the statements go to the other host", async () => {
  // Node's connect throws ERR_SOCKET_BAD_PORT for port 99999 instead of emitting it. Before: thrown where postgres.js
  // listens for the socket's errors, outside its handling — an unhandled rejection (which ends `serve` or `sonotile
  // worker`), and the statement on that connection never answered (of 4 on a pool of 2, one; the test timed out).
  const url = proxiedUrl.replace(`127.0.0.1:${proxy.port}`, `127.0.0.1:${proxy.port},127.0.0.1:99999`);
  const twoHosts = await openDatabase({ url, poolSize: 2, migrate: false });
  try {
    const answers = await Promise.all([1, 2, 3, 4].map(async (i) => (await twoHosts.sql<{ i: number }[]>`SELECT ${i}::int AS i`)[0].i));
    expect(answers).toEqual([1, 2, 3, 4]);
  } finally {
    await twoHosts.close();
  }
}, 20_000);

it.skipIf(!process.env.DATABASE_URL)("every connection has PostgreSQL end its session once the client has gone silent for about 25 s (a partition), rolling back its transaction", async () => {
  // Before: the kernel's defaults (0: keepalives after 7200 s, 9 probes 75 s apart) — a worker partitioned off
  // between two statements of the transaction settling its items held the job's row locked for 2 h 11 min, every
  // other worker's settlement of the job and its abort waiting (measured in network namespaces; README).
  const [settings] = await db.sql`
    SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_keepalives_interval') AS interval,
           current_setting('tcp_keepalives_count') AS count, current_setting('tcp_user_timeout') AS user_timeout`;
  expect(settings).toEqual({ idle: "10", interval: "5", count: "3", user_timeout: "25000" });
});

describe("a connection half-open for good (its peer gone, the database answering through new connections)", () => {
  /**
   * Runs `use` with a pool of one connection to the database through a proxy of its own (whose
   * connections blackhole() holds without touching the other tests'), bounded by `replyLimitS`;
   * closes both after.
   */
  async function withOwnProxy(replyLimitS: number, use: (one: Database, own: TcpProxy) => Promise<void>): Promise<void> {
    const own = await tcpProxy(proxyTarget);
    const u = new URL(proxiedUrl);
    u.port = String(own.port);
    const one = await openDatabase({ url: u.toString(), poolSize: 1, migrate: false, replyLimitS });
    try {
      await use(one, own);
    } finally {
      await one.close();
      await own.stop();
    }
  }
  const errorOf = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as Error & { code?: string });

  it("fails the statement held on it with ETIMEDOUT once it has been unanswered for the reply limit, and answers the next through a new connection", async () => {
    await withOwnProxy(1, async (one, own) => {
      expect(await one.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      own.blackhole();
      // Held for good before: the kernel of a proxy that keeps the connection open acknowledges every byte.
      const err = await errorOf(one.sql`SELECT 2 AS two`);
      expect([err?.code, err?.message]).toEqual(["ETIMEDOUT", expect.stringMatching(/^no reply from the database for 1 s to what was sent on this connection: closed as lost/)]);
      expect(isConnectionError(err)).toBe(true);
      // The pool's one connection: the lost one was discarded, not queried again — this statement,
      // issued as the first was rejected, went to the closing connection and waited for ever when
      // the socket was destroyed with the error (postgres.js rejects nothing more at such a close).
      expect(await one.sql`SELECT 3 AS three`).toEqual([{ three: 3 }]);
      expect(own.accepted).toBe(2);
    });
  });

  it("leaves an idle connection open however long it stays idle", async () => {
    await withOwnProxy(0.5, async (one, own) => {
      expect(await one.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // three limits, nothing sent
      expect(await one.sql`SELECT 2 AS two`).toEqual([{ two: 2 }]);
      expect(own.accepted).toBe(1); // the same connection: never closed
    });
  });

  it("a route whose query is held on it answers 503 'database is unavailable' within the reply limit, and the next request 200 through a new connection", async () => {
    await withOwnProxy(1, async (one, own) => {
      // A deadline past the limit: the 503 is the lost connection's, not the deadline's.
      const server = await buildApp({ database: one, audioRoots: [], deadlineMs: 10_000 });
      try {
        expect((await server.inject({ url: "/v1/datasets" })).statusCode).toBe(200);
        own.blackhole();
        // Before: the connection stayed in the pool, busy for good — this request and every later
        // one that reached it answered the deadline's 503 ("no answer within …"), all of them in a pool of one.
        const held = await server.inject({ url: "/v1/datasets" });
        expect([held.statusCode, held.json().message]).toEqual([503, expect.stringContaining("the database is unavailable (ETIMEDOUT: no reply from the database for 1 s")]);
        const next = await server.inject({ url: "/v1/datasets" });
        expect(next.statusCode, next.body).toBe(200);
      } finally {
        await server.close();
      }
    });
  });

  it("a worker whose queue's fetch is held on it takes the items of a job submitted meanwhile, once the reply limit has closed it", async () => {
    await withOwnProxy(2, async (one, own) => {
      const audio = await tempDir();
      const pool = new TilePool({ threads: 1 });
      const said: string[] = [];
      try {
        const fx = await jobFixture(one.sql, audio.path, 0);
        const worker = await startWorker({ sql: one.sql, pool, pollingIntervalSeconds: 0.5, log: (message) => said.push(message) });
        try {
          // The queue is empty: the worker's statements are its fetches, every 0.5 s, and its beats.
          own.blackhole();
          const boss = await openQueue(db.sql);
          const job = await submitExtractJob(db.sql, boss, { data: { targets: { recording_ids: Object.values(fx.recordings) }, features: ["rms_dbfs"] }, created_by: null });
          await boss.stop({ graceful: false, close: false });
          // Before: no item taken — the fetch waited on the held connection for good (in a real partition until TCP gives up: by tcp_retries2 = 15, about 15 min).
          const done = await waitForJob(db.sql, job.id, (j) => j.status === "completed", 30_000);
          expect(done).toMatchObject({ result: "success", progress_done: 2, progress_total: 2 });
          expect(said).toEqual(expect.arrayContaining([expect.stringMatching(/^database unreachable \(ETIMEDOUT: no reply from the database for 2 s/), "database reachable again"]));
        } finally {
          await worker.stop();
        }
      } finally {
        await pool.close();
        await audio.remove();
      }
    });
  }, 60_000);
});

describe("a job worker stopped while its database is gone", () => {
  /** A pool whose computations are those of recordings hours long: each ends only when cancelled. */
  class EndlessPool extends TilePool {
    /** Computations asked for. */
    asked = 0;
    override async run<T>(_task: WorkerTask, signal?: AbortSignal): Promise<T> {
      this.asked++;
      return new Promise<T>((_resolve, reject) => signal?.addEventListener("abort", () => reject(signal.reason), { once: true }));
    }
  }

  // Refused: the stop waited for the computations in hand, to write outcomes it could not. Held (a
  // partition): it waited for the database as long as the partition lasted. Either way it exited
  // saying nothing of the items.
  for (const outage of ["refused", "held"] as const) {
    it(`gives up the items in hand when the database is ${outage === "refused" ? "refused" : "held without an answer"}, names them, and another worker computes each once when it is back`, async () => {
      // One connection: the embedded database answers every connection as one session.
      const one = await openDatabase({ url: proxiedUrl, poolSize: 1, migrate: false });
      const audio = await tempDir();
      const endless = new EndlessPool({ threads: 2 });
      try {
        const fx = await jobFixture(one.sql, audio.path, 0);
        const boss = await openQueue(one.sql);
        const job = await submitExtractJob(one.sql, boss, { data: { targets: { recording_ids: Object.values(fx.recordings) }, features: ["rms_dbfs", "log_mel"] }, created_by: null });
        await boss.stop({ graceful: false, close: false });
        const said: string[] = [];
        const worker = await startWorker({ sql: one.sql, pool: endless, pollingIntervalSeconds: 0.5, log: (message) => said.push(message) });
        // Both items in hand, computing: one on each thread (an item computes only on a free one).
        await expect.poll(() => endless.asked, { timeout: 20_000, interval: 100 }).toBe(2);
        if (outage === "refused") await proxy.stop();
        else proxy.freeze();
        let notRecorded: number;
        try {
          notRecorded = await worker.stop();
        } finally {
          if (outage === "refused") await proxy.start();
          else proxy.thaw();
        }
        expect(notRecorded).toBe(2);
        const why = outage === "refused" ? "(ECONNREFUSED|ECONNRESET|CONNECTION_CLOSED|EPIPE): [^)]*" : "no answer within 10 s";
        const items = `job ${job.id} item 0 \\(recording tone1k\\.wav\\), job ${job.id} item 1 \\(recording tone3k\\.wav\\)`;
        expect(said.filter((line) => line.startsWith("stopping"))).toEqual([
          expect.stringMatching(new RegExp(`^stopping without the database \\(${why}\\): 2 items in hand not recorded — ${items}; they go back to the queue once their heartbeat lapses, for another worker \\(or this one restarted\\) to compute$`)),
        ]);

        const pool = new TilePool({ threads: 1 });
        const other = await startWorker({ sql: one.sql, pool, pollingIntervalSeconds: 0.5 });
        try {
          const done = await waitForJob(one.sql, job.id, (j) => j.status === "completed", 60_000);
          expect(done).toMatchObject({ result: "success", progress_done: 2, progress_total: 2 });
        } finally {
          await other.stop();
          await pool.close();
        }
        // Each item done once, on its second delivery; one value per recording and feature.
        const rows = await one.sql`SELECT item, status, attempts FROM job_items WHERE job_id = ${job.id} ORDER BY item`;
        expect(rows.map((r) => [r.item, r.status, r.attempts])).toEqual([[0, "done", 2], [1, "done", 2]]);
        const values = await one.sql`
          SELECT recording_id, count(*)::int AS n FROM recording_features WHERE run_id = ${job.run_id} GROUP BY recording_id ORDER BY recording_id`;
        expect(values.map((v) => [v.recording_id, v.n])).toEqual(Object.values(fx.recordings).sort().map((id) => [id, 2]));
      } finally {
        await endless.close();
        await one.close();
        await audio.remove();
      }
    }, 90_000);
  }
});

describe("the request deadline", () => {
  /** A bare server with the deadline plugin (100 ms) and routes that answer late. */
  async function server() {
    const app = Fastify();
    await app.register(deadlinePlugin, { deadlineMs: 100 });
    const late: { stream?: PassThrough } = {};
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    app.get("/stream-starting-late", async (_request, reply) => {
      const body = new PassThrough();
      setTimeout(() => body.end("first bytes after the deadline"), 300);
      return reply.send(body); // the handler answered in time; its bytes come later
    });
    app.get("/held", async (_request, reply) => {
      await wait(300); // a query the database holds
      late.stream = new PassThrough();
      return reply.send(late.stream);
    });
    app.post("/held", async () => {
      await wait(300);
      return { done: true };
    });
    return { app, late, wait };
  }

  it("answers a held read with 503 and Retry-After, releases the stream the handler sends late, and never cuts a stream already sent", async () => {
    const { app, late, wait } = await server();
    try {
      const streamed = await app.inject({ url: "/stream-starting-late" });
      expect([streamed.statusCode, streamed.body]).toEqual([200, "first bytes after the deadline"]);
      const held = await app.inject({ url: "/held" });
      expect(held.statusCode).toBe(503);
      expect(held.headers["retry-after"]).toBe("5");
      await wait(400);
      expect(late.stream?.destroyed).toBe(true); // not left open behind a reply nobody reads
    } finally {
      await app.close();
    }
  });

  it("answers a held write with 503 that says it may still be made, and no Retry-After", async () => {
    const { app } = await server();
    try {
      const res = await app.inject({ method: "POST", url: "/held" });
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBeUndefined();
      expect(res.json().message).toMatch(/this change may still be made when it answers — check before repeating it$/);
    } finally {
      await app.close();
    }
  });
});

it("answers 503 saying so when the database is out of disk space (SQLSTATE 53100), not a 500", async () => {
  const full = await buildApp({ database: db, audioRoots: [] });
  // PostgreSQL's own error of a full disk ("could not extend file …: No space left on device"), raised as such.
  full.get("/full", async () => db.sql`DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$`);
  try {
    const res = await full.inject({ url: "/full" });
    expect(res.json()).toEqual({ statusCode: 503, error: "Service Unavailable", message: "the database is out of disk space (SQLSTATE 53100); nothing was changed — retry once its administrator has made room" });
  } finally {
    await full.close();
  }
});
