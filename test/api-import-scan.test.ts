/**
 * Datasets of a season of recorder files through the API: an import sent again while one runs
 * (each file read and hashed once; those sent while one waits share it), and scans answered as
 * pages. The audio layer is wrapped to count the files hashed (probeAudio), the headers a scan
 * reads (headerError) and the directories it lists (readDirectory: one per scan of a flat
 * dataset); the server's DatasetImports tells the test when an import waits. Nothing else is
 * changed, and nothing is timed: an import is held only until the event the test waits for.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdir, rename } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { command as datasetCommand } from "../src/cli/commands/dataset.js";
import { VERSION } from "../src/engine/version.js";
import { DatasetImports, RECENT_SCAN_MS, relocateDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

/**
 * Files hashed, headers read and directories listed, by the path opened; `hashing` holds each hash
 * until it is resolved; `onHeader` is told of each header read; `onWait` of each import that
 * waits for another (the app's DatasetImports).
 */
const audio = vi.hoisted(() => ({
  hashed: [] as string[], headers: [] as string[], listed: [] as string[],
  hashing: Promise.resolve(), onHeader: () => {}, onWait: () => {},
}));

vi.mock("../src/audio/index.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/audio/index.js")>();
  return {
    ...real,
    probeAudio: async (path: string, options?: { exactPath?: boolean }) => {
      audio.hashed.push(path);
      await audio.hashing;
      return real.probeAudio(path, options);
    },
    headerError: (path: string, options?: Parameters<typeof real.headerError>[1]) => {
      audio.headers.push(path);
      audio.onHeader();
      return real.headerError(path, options);
    },
    readDirectory: (dir: string) => {
      audio.listed.push(dir);
      return real.readDirectory(dir);
    },
  };
});

let t: TestDatabase;
let app: App;
let scratch: { path: string; remove(): Promise<void> };
let admin: string;

const auth = () => ({ authorization: `Bearer ${admin}` });

beforeAll(async () => {
  t = await freshDatabase();
  scratch = await tempDir();
  admin = (await ensureAdmin(t.db.sql))!.key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([scratch.path]), datasetImports: new DatasetImports(() => audio.onWait(), t.db) });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await scratch?.remove();
});

/** Holds every hash until `release` is called (or the test ends). */
function holdHashing(): () => void {
  let release!: () => void;
  audio.hashing = new Promise<void>((resolve) => (release = resolve));
  onTestFinished(() => {
    release();
    audio.onWait = () => {};
    audio.onHeader = () => {};
  });
  return release;
}

/**
 * Holds every hash until one import waits for the other (`audio.onWait`) or until two imports have
 * read the headers of the `files` new files, as both did when they ran at once: either way the
 * second import is sent while the first runs, and nothing is timed.
 */
function holdUntilSecondImport(files: number): void {
  const release = holdHashing();
  audio.onWait = release;
  audio.onHeader = () => {
    if (audio.headers.length >= 2 * files) release();
  };
}

/** Import runs recorded for dataset `name`. */
async function importRuns(name: string): Promise<number> {
  const [{ n }] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM runs WHERE kind = 'import' AND description = ${`import into dataset ${name}`}`;
  return n;
}

/** Scans of dataset folder `name` made since `listed` was emptied: its directory listed (it has no subfolders). */
const scansOf = (name: string) => audio.listed.filter((dir) => dir.endsWith(`/${name}`)).length;

const importOf = (id: string) => app.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() });

/** A dataset of `names` (tones of their own, so no two hold the same bytes) in a folder of `name`. */
async function dataset(name: string, names: string[]): Promise<string> {
  await mkdir(join(scratch.path, name));
  for (const [i, file] of names.entries()) await writeSineWav(join(scratch.path, name, file), 8000, 0.1, 500 + 100 * i);
  const created = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name, audio_dir: name }, headers: auth() });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id;
}

describe("an import sent again while one runs", () => {
  it("waits for the running one and registers only what is still new: each file is hashed once (it hashed every file twice)", async () => {
    const files = Array.from({ length: 12 }, (_, i) => `r${String(i).padStart(2, "0")}.wav`);
    const id = await dataset("season", files);
    audio.hashed.length = 0;
    audio.headers.length = 0;
    // The first import's hashing is held until the second import waits for it — or, as both ran at
    // once before imports were queued, until the second has read the files' headers: either way
    // the second is sent while the first runs, and nothing here is timed.
    holdUntilSecondImport(files.length);
    const [first, second] = await Promise.all([1, 2].map(() => importOf(id)));
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect(audio.hashed).toHaveLength(files.length);
    expect(new Set(audio.hashed).size).toBe(files.length);
    // One of them registered every file, the other (the second to start) none.
    const registered = [first, second].map((r) => r.json().registered.map((f: { path: string }) => f.path));
    expect(registered.sort((a, b) => b.length - a.length)).toEqual([files, []]);
    // The one that registered none recorded no run.
    expect([first, second].map((r) => r.json()).sort((a, b) => b.registered.length - a.registered.length).map((r) => r.run?.status ?? null)).toEqual(["completed", null]);
    // What the second was sent for is done: a third import finds nothing new to hash.
    const third = await importOf(id);
    expect([third.json().registered, third.json().run]).toEqual([[], null]);
    expect(audio.hashed).toHaveLength(files.length);
  });

  it("sent again and again while one waits, shares the waiting one: one more scan, not one per request (4 runs and scans for 4 requests) — and, finding nothing new, no run", async () => {
    const files = ["a.wav", "b.wav", "c.wav"];
    const id = await dataset("retried", files);
    audio.hashed.length = 0;
    audio.listed.length = 0;
    // The first import to run is held until the three others wait for it.
    const release = holdHashing();
    let waiting = 0;
    audio.onWait = () => {
      if (++waiting === 3) release();
    };
    const answers = await Promise.all([1, 2, 3, 4].map(() => importOf(id)));
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    const runs = answers.map((r) => (r.json().run?.id ?? null) as string | null);
    const byRun = [...new Set(runs)].map((run) => [run === null ? null : "run", runs.filter((r) => r === run).length]).sort((a, b) => Number(a[1]) - Number(b[1]));
    expect(byRun).toEqual([["run", 1], [null, 3]]); // the first import's request, and the three sharing the one that waited
    expect(await importRuns("retried")).toBe(1);
    expect(scansOf("retried")).toBe(2);
    expect(audio.hashed).toHaveLength(files.length);
    expect(answers.map((r) => r.json().registered.length).sort()).toEqual([0, 0, 0, 3]);
  });

  it("is not run when its request was closed while it waited (it ran: a scan and a run for nobody)", async () => {
    const files = ["a.wav", "b.wav"];
    const id = await dataset("given-up", files);
    audio.listed.length = 0;
    const release = holdHashing();
    const address = await app.listen({ port: 0, host: "127.0.0.1" });
    let waited!: () => void;
    const secondWaits = new Promise<void>((resolve) => (waited = resolve));
    audio.onWait = () => waited();
    audio.hashed.length = 0;
    const first = importOf(id); // runs, its hashing held
    // Running before the second is sent: on PostgreSQL each request's token lookup takes its own
    // connection, and the second had reached the queue first (the first then waited, and ran).
    await expect.poll(() => audio.hashed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);
    // The second, over a socket of its own, waits for the first; its client then goes away.
    const serverSide = once(app.server, "connection") as Promise<[Socket]>;
    const client = httpRequest(`${address}/v1/datasets/${id}/import`, { method: "POST", headers: auth(), agent: false });
    client.on("error", () => {}); // the socket destroyed below
    client.end();
    const [socket] = await serverSide;
    await secondWaits;
    client.destroy();
    await once(socket, "close");
    release();
    expect((await first).statusCode).toBe(200);
    // The second's import would run after the first, as a third asked for now does: by then it has not.
    const third = await importOf(id);
    expect(third.json().registered).toEqual([]);
    expect(await importRuns("given-up")).toBe(1); // the first's: the third's found nothing new
    expect(scansOf("given-up")).toBe(2);
  });

  it.skipIf(!process.env.DATABASE_URL)("sent to another server sharing the PostgreSQL, waits there for the running one: each file hashed once, each moved file found once and none answered missing (each server hashed every file; `missing` named those the other moved)", async () => {
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([scratch.path]), datasetImports: new DatasetImports(() => audio.onWait(), t.db) });
    onTestFinished(() => other.close());
    const files = Array.from({ length: 8 }, (_, i) => `s${i}.wav`);
    const id = await dataset("two-servers", files);
    expect((await importOf(id)).json().registered).toHaveLength(8);
    for (const file of files.slice(0, 4)) await rename(join(scratch.path, "two-servers", file), join(scratch.path, "two-servers", `moved-${file}`));
    for (const [i, file] of ["n0.wav", "n1.wav", "n2.wav", "n3.wav"].entries()) await writeSineWav(join(scratch.path, "two-servers", file), 8000, 0.1, 2500 + 100 * i);
    audio.hashed.length = 0;
    audio.headers.length = 0;
    // As in the first test: hashing held until one import waits for the other, or both have scanned the 8 new files.
    holdUntilSecondImport(8);
    const answers = await Promise.all([app, other].map((server) => server.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() })));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200]);
    const [a, b] = answers.map((answer) => answer.json());
    expect(audio.hashed).toHaveLength(8);
    expect([...a.moved, ...b.moved].map((m: { path: string }) => m.path).sort()).toEqual(["moved-s0.wav", "moved-s1.wav", "moved-s2.wav", "moved-s3.wav"]);
    expect([...a.registered, ...b.registered].map((r: { path: string }) => r.path).sort()).toEqual(["n0.wav", "n1.wav", "n2.wav", "n3.wav"]);
    expect([a.missing, b.missing]).toEqual([[], []]);
  });

  it.skipIf(!process.env.DATABASE_URL)("imports of more datasets at once than the pool has connections all end, and the server's other queries are answered meanwhile (each held a connection for its lock: with 10, every query waited for ever)", async () => {
    const imports = new DatasetImports(() => {}, t.db);
    type Result = Awaited<ReturnType<DatasetImports["run"]>>;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ids = Array.from({ length: t.db.sql.options.max + 2 }, () => randomUUID());
    const outcomes = ids.map((id) => imports.run(id, async () => {
      await held;
      const [{ n }] = await t.db.sql<{ n: number }[]>`SELECT 1 AS n`;
      return { n } as unknown as Result;
    }));
    expect((await t.db.sql<{ n: number }[]>`SELECT 2 AS n`)[0].n).toBe(2);
    release();
    expect(await Promise.all(outcomes)).toEqual(ids.map(() => ({ n: 1 })));
  });

  it.skipIf(!process.env.DATABASE_URL)("an import whose lock's release fails (a cancel) does not leave its pooled connection holding the lock: other servers' imports of the dataset would wait until that connection closed", async () => {
    // The release refused as a cancel refuses it: the statement ends, the session and its lock stay.
    const sql = t.db.sql;
    const reserve = async () => {
      const session = await sql.reserve();
      const refusing = (strings: TemplateStringsArray, ...args: never[]) => strings.join("").includes("pg_advisory_unlock(")
        ? Promise.reject(Object.assign(new Error("canceling statement due to user request"), { code: "57014" }))
        : session(strings, ...args);
      return Object.assign(refusing, { release: () => session.release() });
    };
    const imports = new DatasetImports(() => {}, { kind: t.db.kind, sql: Object.assign(Object.create(sql), { reserve, options: sql.options }) });
    const id = randomUUID();
    const locks = async () => (await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks
      WHERE locktype = 'advisory' AND objsubid = 2 AND objid::bigint = hashtext(${id})::bigint & 4294967295`)[0].n;
    type Result = Awaited<ReturnType<DatasetImports["run"]>>;
    const held = await imports.run(id, async () => ({ n: await locks() }) as unknown as Result);
    expect(held).toEqual({ n: 1 });
    expect(await locks()).toBe(0);
  });

  /**
   * `sonotile dataset add` of `dir` run here (as from a shell, on this test's PostgreSQL): its exit
   * code, its JSON answer, and what it said on stderr, each call passed to `onStderr` as it comes.
   */
  async function datasetAdd(dir: string, onStderr: (text: string) => void = () => {}): Promise<{ code: number; out: { registered: { path: string }[]; dataset: { id: string } }; stderr: string[] }> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = t.url;
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => stdout.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      onStderr(String(chunk));
      return true;
    });
    try {
      const code = await datasetCommand.run(["add", join(scratch.path, dir), "--audio-root", scratch.path, "--json"]);
      return { code, out: JSON.parse(stdout.join("")), stderr };
    } finally {
      vi.restoreAllMocks();
      process.env.DATABASE_URL = saved;
    }
  }

  /** The line `sonotile dataset add` prints while it waits for another process's import of dataset `id` in `dir`. */
  const waitLine = (id: string, dir: string) => `sonotile dataset: dataset ${id} of ${join(scratch.path, dir)} is being imported by another process (a server or another 'sonotile dataset add'); waiting for that import to end — its files are then registered, not read again (Ctrl-C stops waiting)\n`;

  it.skipIf(!process.env.DATABASE_URL)("`sonotile dataset add` of a dataset a server is importing waits for that import, saying so, then registers what is still new: each file hashed once (the command ran beside it, both hashing every file)", async () => {
    const files = Array.from({ length: 6 }, (_, i) => `c${i}.wav`);
    const id = await dataset("beside-cli", files);
    audio.hashed.length = 0;
    audio.headers.length = 0;
    // The server's import hashing, held until the command waits for it — or, as the command ran
    // beside it before, until the command has read the files' headers too.
    const release = holdHashing();
    audio.onHeader = () => {
      if (audio.headers.length >= 2 * files.length) release();
    };
    const server = importOf(id);
    await expect.poll(() => audio.hashed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);
    const cli = await datasetAdd("beside-cli", (text) => text.startsWith("sonotile dataset: dataset") && release());
    expect((await server).json().registered).toHaveLength(files.length);
    expect([cli.code, cli.out.registered, cli.stderr]).toEqual([0, [], [waitLine(id, "beside-cli")]]);
    expect(audio.hashed).toHaveLength(files.length);
  });

  it.skipIf(!process.env.DATABASE_URL)("an import asked of a server while `sonotile dataset add` imports the dataset it made waits for the command's: each file hashed once", async () => {
    const files = Array.from({ length: 6 }, (_, i) => `d${i}.wav`);
    await mkdir(join(scratch.path, "made-by-cli"));
    for (const [i, file] of files.entries()) await writeSineWav(join(scratch.path, "made-by-cli", file), 8000, 0.1, 700 + 100 * i);
    audio.hashed.length = 0;
    audio.headers.length = 0;
    holdUntilSecondImport(files.length);
    const cli = datasetAdd("made-by-cli");
    await expect.poll(() => audio.hashed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);
    const [{ id }] = await t.db.sql<{ id: string }[]>`SELECT id FROM datasets WHERE name = 'made-by-cli'`;
    const server = await importOf(id);
    const added = await cli;
    expect([added.code, added.out.registered.map((r) => r.path)]).toEqual([0, files]);
    expect([server.statusCode, server.json().registered]).toEqual([200, []]);
    expect(audio.hashed).toHaveLength(files.length);
  });

  it("runs as the first of its callers still waiting: the run is not made by a request that was closed while others waited (it ran as the first caller's)", async () => {
    const imports = new DatasetImports();
    type Result = Awaited<ReturnType<DatasetImports["run"]>>;
    const ran: string[] = [];
    const work = (caller: string) => async () => {
      ran.push(caller);
      return { caller } as unknown as Result;
    };
    let endRunning!: () => void;
    const running = imports.run("dataset", () => new Promise<Result>((resolve) => (endRunning = () => resolve({} as Result))));
    const left = new AbortController();
    const first = imports.run("dataset", work("first"), left.signal);
    const second = imports.run("dataset", work("second"), new AbortController().signal);
    left.abort(new Error("client left"));
    endRunning();
    await running;
    expect([await first, await second]).toEqual([{ caller: "second" }, { caller: "second" }]); // the outcome is shared
    expect(ran).toEqual(["second"]);
  });

  it("checks the dataset's directory when it runs, not when it was asked for: one moved outside the audio roots while it waited is refused (it was imported from there)", async () => {
    const id = await dataset("moved-away", ["a.wav"]);
    const outside = await tempDir();
    onTestFinished(() => outside.remove());
    const release = holdHashing();
    let waited!: () => void;
    const secondWaits = new Promise<void>((resolve) => (waited = resolve));
    audio.onWait = () => waited();
    audio.hashed.length = 0; // the poll below waits for this test's first hash, not an earlier test's
    const first = importOf(id);
    const second = importOf(id);
    await secondWaits;
    // The running import past its check of the directory (it hashes what it found there).
    await expect.poll(() => audio.hashed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);
    // Pointed elsewhere as `sonotile dataset` run with other roots could: the running import goes on with the directory it read.
    await relocateDataset(t.db.sql, id, outside.path);
    release();
    // Which request runs and which waits is the order they reach the queue, not the order sent: on
    // PostgreSQL each request's token lookup takes its own connection, and the second sent was
    // the one running in 3 of 4 runs (the test, expecting the first, failed there).
    const answers = await Promise.all([first, second]);
    expect(answers.map((a) => a.statusCode).sort(), answers.map((a) => a.body).join("\n")).toEqual([200, 403]);
    expect(await importRuns("moved-away")).toBe(1);
  });
});

describe("an import with nothing new to register", () => {
  it("records no run, as `dataset add` does, and answers 0 registered with run null — each such import had recorded a completed run", async () => {
    const id = await dataset("idle", ["a.wav"]);
    const first = (await importOf(id)).json();
    expect([first.registered.map((f: { path: string }) => f.path), first.run.status, first.run.engine_version]).toEqual([["a.wav"], "completed", VERSION]);
    for (let again = 0; again < 2; again++) {
      const nothing = await importOf(id);
      expect([nothing.statusCode, nothing.json().registered, nothing.json().run, nothing.json().failed]).toEqual([200, [], null, []]);
    }
    expect(await importRuns("idle")).toBe(1);
  });
});

describe("a scan", () => {
  it("answers a page of its files, of one status if asked, with the counts of the whole scan (it listed every file: 5 MB at 30,000)", async () => {
    const files = ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"];
    const id = await dataset("paged", files);
    const first = await app.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() });
    expect(first.json().registered).toHaveLength(5);
    await writeSineWav(join(scratch.path, "paged", "f new.wav"), 8000, 0.1, 2000);
    await writeSineWav(join(scratch.path, "paged", "g new.wav"), 8000, 0.1, 2100);
    const scan = async (query: string) => {
      const res = await app.inject({ url: `/v1/datasets/${id}/scan?${query}`, headers: auth() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const counts = { registered: 5, missing: 0, unregistered: 2 };
    const page = await scan("limit=2&offset=1");
    expect(page).toMatchObject({ dataset_id: id, counts, skipped: [], limit: 2, offset: 1, total: 7 });
    expect(page.items.map((f: { path: string }) => f.path)).toEqual(["b.wav", "c.wav"]);
    expect(page.files).toBeUndefined();
    const fresh = await scan("status=unregistered");
    expect(fresh).toMatchObject({ counts, limit: 50, offset: 0, total: 2 });
    expect(fresh.items.map((f: { path: string; status: string }) => [f.path, f.status])).toEqual([["f new.wav", "unregistered"], ["g new.wav", "unregistered"]]);
    expect(await scan("status=registered&offset=4")).toMatchObject({ total: 5, items: [{ path: "e.wav", status: "registered" }] });
    expect(await scan("status=missing")).toMatchObject({ counts, total: 0, items: [] });
    // Bad paging is refused naming the parameter.
    for (const [query, field] of [["status=gone", "status"], ["limit=0", "limit"], ["limit=1001", "limit"], ["offset=-1", "offset"]]) {
      const res = await app.inject({ url: `/v1/datasets/${id}/scan?${query}`, headers: auth() });
      expect([res.statusCode, res.json().fields?.map((f: { field: string }) => f.field)], query).toEqual([400, [field]]);
    }
  });
});

describe("paging through a scan", () => {
  /** The page of dataset `id`'s scan `query` asks for. */
  const scanPage = async (id: string, query: string) => {
    const res = await app.inject({ url: `/v1/datasets/${id}/scan?${query}`, headers: auth() });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { total: number; counts: Record<string, number>; items: { path: string; status: string }[] };
  };

  it("reads the pages after the first from the first's scan: each file once, one scan (a scan per page, and a file added meanwhile listed)", async () => {
    const files = Array.from({ length: 7 }, (_, i) => `f${i}.wav`);
    const id = await dataset("walked", files);
    audio.listed.length = 0;
    const first = await scanPage(id, "limit=3");
    expect(first.total).toBe(7);
    // Files copied in during the walk do not shift its pages: they show from the next first page.
    await writeSineWav(join(scratch.path, "walked", "a new.wav"), 8000, 0.1, 3000);
    const seen = [...first.items];
    for (let offset = 3; offset < first.total; offset += 3) {
      const page = await scanPage(id, `limit=3&offset=${offset}`);
      expect(page.total).toBe(7);
      seen.push(...page.items);
    }
    expect(seen.map((f) => f.path)).toEqual(files);
    expect(scansOf("walked")).toBe(1);
    expect(audio.headers.filter((path) => path.includes("/walked/"))).toHaveLength(7);
    // A first page scans again.
    expect((await scanPage(id, "limit=3")).items.map((f) => f.path)).toEqual(["a new.wav", "f0.wav", "f1.wav"]);
    expect(scansOf("walked")).toBe(2);
  });

  it("scans again for a page after a recording was archived or deleted (routes that did not forget the scan): the pages after still listed them as they were", async () => {
    const id = await dataset("revised", ["a.wav", "b.wav", "c.wav"]);
    expect((await importOf(id)).statusCode).toBe(200);
    const first = await scanPage(id, "limit=1");
    expect(first.counts).toMatchObject({ registered: 3 });
    const [a, b] = (await scanPage(id, "limit=2&offset=0")).items as unknown as { recording_id: string }[];
    const archived = await app.inject({ method: "POST", url: `/v1/recordings/${b.recording_id}/archive`, headers: auth() });
    expect(archived.statusCode, archived.body).toBe(200);
    expect((await scanPage(id, "limit=1&offset=1")).items).toMatchObject([{ path: "b.wav", recording_state: "archived" }]);
    const deleted = await app.inject({ method: "DELETE", url: `/v1/recordings/${a.recording_id}`, headers: auth() });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect((await scanPage(id, "limit=1&offset=1")).counts).toMatchObject({ registered: 2, unregistered: 1 });
  });

  it("scans again for a page after an import, a refresh or a relocation through the server, or once the scan is too old", async () => {
    const id = await dataset("changing", ["a.wav", "b.wav"]);
    expect((await scanPage(id, "limit=1")).counts).toMatchObject({ registered: 0, unregistered: 2 });
    expect((await importOf(id)).statusCode).toBe(200);
    const afterImport = await scanPage(id, "limit=1&offset=1");
    expect(afterImport.counts).toMatchObject({ registered: 2, unregistered: 0 });
    expect(afterImport.items).toMatchObject([{ path: "b.wav", status: "registered" }]);

    // b.wav rewritten with other bytes: registered, changed; its refresh makes it unchanged.
    await writeSineWav(join(scratch.path, "changing", "b.wav"), 8000, 0.2, 900);
    const changed = (await scanPage(id, "limit=1")).counts;
    expect(changed).toMatchObject({ registered: 2 });
    const b = afterImport.items[0] as unknown as { recording_id: string };
    expect((await scanPage(id, "limit=1&offset=1")).items).toMatchObject([{ path: "b.wav", changed: { reason: "size" } }]);
    const refreshed = await app.inject({ method: "POST", url: `/v1/recordings/${b.recording_id}/refresh`, headers: auth() });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect((await scanPage(id, "limit=1&offset=1")).items).toMatchObject([{ path: "b.wav", changed: null }]);

    // Relocated: the next page reads the new directory, where a.wav alone was copied.
    await mkdir(join(scratch.path, "changing-moved"));
    await writeSineWav(join(scratch.path, "changing-moved", "a.wav"), 8000, 0.1, 500);
    expect((await scanPage(id, "limit=1")).counts).toMatchObject({ registered: 2, missing: 0 });
    const moved = await app.inject({ method: "PUT", url: `/v1/datasets/${id}/audio_dir`, payload: { audio_dir: "changing-moved" }, headers: auth() });
    expect(moved.statusCode, moved.body).toBe(200);
    expect((await scanPage(id, "limit=1&offset=1")).items).toMatchObject([{ path: "b.wav", status: "missing" }]);

    // Too old: scanned again (the clock moved past RECENT_SCAN_MS; timers stay real).
    await writeSineWav(join(scratch.path, "changing-moved", "c.wav"), 8000, 0.1, 1900);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + RECENT_SCAN_MS + 1 });
    onTestFinished(() => void vi.useRealTimers());
    expect((await scanPage(id, "limit=1&offset=1")).counts).toMatchObject({ registered: 1, missing: 1, unregistered: 1 });
  });
});
