/**
 * `sonotile serve` as a process: it prints its URL and (on an empty database) where the admin
 * token is — the token itself only on a terminal —, answers on 127.0.0.1, and on SIGTERM finishes, closes the database and releases the
 * data directory's lock, exiting 0. A restart on the same data prints no new token. With no
 * other process, a job submitted to it runs on its own job worker.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, readFile, realpath, stat } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { addDataset } from "../src/store/datasets.js";
import { openDatabase, redact } from "../src/store/db.js";
import { readLock } from "../src/store/lock.js";
import { authenticate } from "../src/store/tokens.js";
import { freshDatabase, migratedTemplate, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let dir: { path: string; remove(): Promise<void> };
let real: TestDatabase | undefined;
const env: NodeJS.ProcessEnv = { ...process.env };
/** The admin token of the data directory, printed on the first start. */
let key: string;

/**
 * A database for a server on `dataDir`: a fresh one on the real PostgreSQL when DATABASE_URL is
 * set (its URL in the returned environment), else `dataDir` seeded from the migrated template
 * (faster than initdb in the child).
 */
async function serverDatabase(dataDir: string): Promise<{ env: NodeJS.ProcessEnv; real?: TestDatabase }> {
  if (process.env.DATABASE_URL) {
    const fresh = await freshDatabase();
    return { env: { ...process.env, DATABASE_URL: fresh.url }, real: fresh };
  }
  const seeded = await openDatabase({ dataDir, initialData: await migratedTemplate() });
  await seeded.close();
  return { env: { ...process.env } };
}

beforeAll(async () => {
  dir = await tempDir();
  const database = await serverDatabase(dir.path);
  real = database.real;
  Object.assign(env, database.env);
});

afterAll(async () => {
  await real?.cleanup();
  await dir?.remove();
});

/** Starts the server and resolves once it printed its local URL (or rejects with its output if it exits). */
function startServer(...flags: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  return startServerOn(dir.path, env, flags);
}

/** startServer with a data directory (also its audio root) and environment of its own. */
async function startServerOn(dataDir: string, childEnv: NodeJS.ProcessEnv, flags: string[]): Promise<{ child: ChildProcess; url: string; output: () => string; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--port", "0", "--data", dataDir, "--audio-root", dataDir, ...flags], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => ((out += d), (stdout += d)));
  child.stderr!.on("data", (d) => ((out += d), (stderr += d)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", () => {
      const m = /(?:serving on|from this machine:) (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes("\n", out.indexOf(m[0]))) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  return { child, url, output: () => out, stdout: () => stdout, stderr: () => stderr };
}

/**
 * The admin token of the server's first start, from the file it printed the path of (its stdout
 * is a pipe, no terminal): the key is in no line printed, and only its owner may read the file.
 */
async function printedToken(server: { output: () => string }): Promise<string> {
  const path = await new Promise<string>((resolve) => {
    const look = () => { const m = /admin token \(shown once\) written to (\S+) \(mode 0600\), not printed/.exec(server.output()); if (m) resolve(m[1]); else setTimeout(look, 20); };
    look();
  });
  expect(path).toBe(join(dir.path, "admin-token"));
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  const token = (await readFile(path, "utf8")).trim();
  expect(token).toMatch(/^st_\S+$/);
  expect(server.output()).not.toContain(token);
  return token;
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = await exited;
  return code as number | null;
}

it("serves, writes the admin token to a file of mode 0600 and prints its path (stdout is no terminal: a service manager's journal kept the key), and stops cleanly on SIGTERM; prints its cache sizes, and a hint while MALLOC_ARENA_MAX is unset", async () => {
  const { MALLOC_ARENA_MAX: _, GLIBC_TUNABLES: __, ...withoutArenaMax } = env;
  const first = await startServerOn(dir.path, withoutArenaMax, []);
  try {
    const health = await fetch(`${first.url}/health`);
    expect(health.status).toBe(200);
    // Let the rest of the banner arrive, then read the token from it.
    key = await printedToken(first);
    const me = await fetch(`${first.url}/v1/users/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(await me.json()).toMatchObject({ username: "admin", role: "admin" });
    if (!real) expect((await readLock(dir.path))?.pid).toBe(first.child.pid);
  } finally {
    expect(await stop(first.child)).toBe(0);
  }
  expect(first.output()).toContain("SIGTERM, shutting down");
  expect(first.output()).toContain("\ncaches: tiles 256 MiB, recording stats 512 MiB, resampling filters 64 MiB per thread\nrecording stats stored in the database: at most 4 GiB (the least recently used removed first)\n");
  expect(first.output()).toContain("\nmalloc: MALLOC_ARENA_MAX is unset — start the server with MALLOC_ARENA_MAX=2 to keep 250–350 MB less resident (README: How much memory a server needs)\n");
  expect(await readLock(dir.path)).toBeNull();

  // Cache sizes from a flag and from the environment (the flag wins over its variable).
  const second = await startServerOn(dir.path, { ...env, SONOTILE_STATS_CACHE: "64m", SONOTILE_TILE_CACHE: "1GiB", SONOTILE_STATS_STORE_LIMIT: "1GiB", MALLOC_ARENA_MAX: "2" }, ["--tile-cache", "1.5MiB", "--stats-store-limit", "20GiB"]);
  try {
    expect((await fetch(`${second.url}/health`)).status).toBe(200);
  } finally {
    expect(await stop(second.child)).toBe(0);
  }
  expect(second.output()).not.toContain("admin token");
  expect(second.output()).toContain("\ncaches: tiles 1536 KiB, recording stats 64 MiB, resampling filters 64 MiB per thread\nrecording stats stored in the database: at most 20 GiB (the least recently used removed first)\n");
  expect(second.output()).not.toContain("MALLOC_ARENA_MAX");
});

it("says on stderr what it is doing as it starts — the database it opens, each migration it applies, its tile threads, the API, the job worker — before its banner on stdout, unchanged (a start of a minute printed nothing)", async () => {
  // A database with a migration to apply: 021 taken for not applied yet (written to be harmless
  // when run again). All of them, on a new database, take most of a minute here.
  const pending = await tempDir();
  const fresh = real && (await freshDatabase());
  const seeded = fresh?.db ?? (await openDatabase({ dataDir: pending.path, initialData: await migratedTemplate() }));
  await seeded.sql`DELETE FROM schema_migrations WHERE version = 21`;
  if (!fresh) await seeded.close();
  try {
    const server = await startServerOn(pending.path, fresh ? { ...env, DATABASE_URL: fresh.url } : env, ["--threads", "2", "--worker-threads", "1"]);
    expect(await stop(server.child)).toBe(0);
    const opening = fresh ? `connecting to ${redact(fresh.url!)}` : `starting the embedded PostgreSQL in ${pending.path}`;
    const steps = [opening, "applying migration 021_provenance.sql", "starting 2 tile threads", "setting up the HTTP API", "starting the job worker on 1 thread"];
    expect(server.stderr()).toBe(steps.map((step) => `sonotile serve: ${step}\n`).join(""));
    expect(server.output().indexOf("sonotile serving on")).toBeGreaterThan(server.output().indexOf("starting the job worker"));
    expect(server.stdout()).toMatch(/^sonotile serving on http:\/\/127\.0\.0\.1:\d+  \(viewer: .*\)\ndatabase: .*\naudio roots: .*\nbatch jobs: executed here on 1 thread\(s\)\ncaches: .*\n/);
  } finally {
    await fresh?.cleanup();
    await pending.remove();
  }
}, 120_000); // one start, as the other tests' — each took 20–45 s on the shared 2-vCPU machine

it("--verbose logs every request as one line with its method, URL, client, status and time, never its token (it logged none: main took the flag away from serve; then two lines, the status apart from the URL)", async () => {
  const server = await startServer("--verbose");
  try {
    const me = await fetch(`${server.url}/v1/users/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    await expect.poll(() => server.output(), { timeout: 10_000, interval: 20 }).toMatch(/"method":"GET","url":"\/v1\/users\/me","remoteAddress":"127\.0\.0\.1","statusCode":200,"responseTime":[\d.]+,"msg":"request completed"/);
    expect(server.output()).not.toContain("incoming request");
    expect(server.output()).not.toMatch(/Deprecation|FSTDEP/); // Fastify's disableRequestLogging option would say so at every start
  } finally {
    expect(await stop(server.child)).toBe(0);
  }
  expect(server.output()).not.toContain(key);
});

it("--demo where a dataset already holds the demo's directory starts the server and says the demo is not registered, and why (it stopped at the 409)", async () => {
  const fresh = await tempDir();
  const { env: childEnv, real: freshReal } = await serverDatabase(fresh.path);
  try {
    // A researcher's dataset of the whole audio root, which holds the data directory and so the demo's files.
    const db = await openDatabase({ url: childEnv.DATABASE_URL, dataDir: fresh.path });
    try {
      await addDataset(db.sql, { name: "everything", audio_dir: await realpath(fresh.path), created_by: null });
    } finally {
      await db.close();
    }
    const server = await startServerOn(fresh.path, childEnv, ["--demo"]);
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect(server.output()).toMatch(/sonotile serve: the demo recordings are not registered as dataset "demo": audio_dir "[^"]*demo-audio" lies inside [^,]+, the directory of dataset \S+ \("everything"\)/);
    } finally {
      expect(await stop(server.child)).toBe(0);
    }
  } finally {
    await freshReal?.cleanup();
    await fresh.remove();
  }
});

it("on a terminal, prints the admin token itself and writes no file (a person reads it there, nothing keeps it)", async () => {
  const fresh = await tempDir();
  const { env: childEnv, real: freshReal } = await serverDatabase(fresh.path);
  try {
    // util-linux's script(1) gives serve a terminal for its stdout.
    const command = `exec ${process.execPath} --import tsx src/cli/main.ts serve --port 0 --data ${fresh.path} --audio-root ${fresh.path}`;
    const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const exited = once(child, "exit");
    try {
      await expect.poll(() => out, { timeout: 60_000, interval: 50 }).toMatch(/\/v1\/users\/me\r?\n/);
      const [, token, url] = /admin token \(shown once — store it now\): (st_\S+)\r?\n  e\.g\. curl -H "Authorization: Bearer \1" (http:\/\/127\.0\.0\.1:\d+)\/v1\/users\/me/.exec(out) ?? [];
      expect(token, out).toBeDefined();
      expect((await (await fetch(`${url}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } })).json()).username).toBe("admin");
      expect(existsSync(join(fresh.path, "admin-token"))).toBe(false);
    } finally {
      child.kill("SIGTERM"); // script ends serve with it
      await exited;
    }
  } finally {
    await freshReal?.cleanup();
    await fresh.remove();
  }
});

it("where the admin token's file cannot be written (a directory of that name in the way), prints the key after all, saying why and to disable it once another admin token exists — a lost key had left no admin", async () => {
  const fresh = await tempDir();
  const { env: childEnv, real: freshReal } = await serverDatabase(fresh.path);
  try {
    await mkdir(join(fresh.path, "admin-token"));
    const server = await startServerOn(fresh.path, childEnv, []);
    try {
      await expect.poll(() => server.output(), { timeout: 20_000, interval: 50 }).toContain("/v1/users/me\n");
      const [, token] = /admin token \(shown once — store it now\): (st_\S+)\n  \(it could not be written to (\S+) \([^\n]*\), so it is printed here and whatever keeps this output has it: once you have another admin token, disable this one \(sonotile token list, sonotile token disable ID\)\)\n/.exec(server.output()) ?? [];
      expect(token, server.output()).toBeDefined();
      expect((await (await fetch(`${server.url}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } })).json()).username).toBe("admin");
    } finally {
      expect(await stop(server.child)).toBe(0);
    }
  } finally {
    await freshReal?.cleanup();
    await fresh.remove();
  }
});

it("a first start that fails after it made the database's admin (its port taken) still says where that admin's token is — it was lost, no later start showing one", async () => {
  const fresh = await tempDir();
  const taken = createServer().listen(0, "127.0.0.1");
  await once(taken, "listening");
  const { env: childEnv, real: freshReal } = await serverDatabase(fresh.path);
  try {
    const port = String((taken.address() as AddressInfo).port);
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--port", port, "--data", fresh.path, "--audio-root", fresh.path], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(stderr).toContain(`sonotile serve: the new database's admin token, created before the start failed, is in ${join(fresh.path, "admin-token")}\n`);
    const token = (await readFile(join(fresh.path, "admin-token"), "utf8")).trim();
    expect(stderr).not.toContain(token);
    expect(stderr).toMatch(/EADDRINUSE/);
    // The token is the admin's: the next start (another port) shows none, and takes this one.
    const check = await openDatabase({ url: childEnv.DATABASE_URL, dataDir: fresh.path });
    try {
      expect((await authenticate(check.sql, token!))?.user).toMatchObject({ username: "admin", role: "admin" });
    } finally {
      await check.close();
    }
  } finally {
    taken.close();
    await freshReal?.cleanup();
    await fresh.remove();
  }
});

it("on every interface, says so and that every route needs a token, with a URL for this machine", async () => {
  // '*' (every origin) only here, where every route needs a token.
  const server = await startServer("--host", "0.0.0.0", "--cors-origin", "*");
  try {
    const port = new URL(server.url).port;
    const preflight = await fetch(`${server.url}/v1/recordings`, { method: "OPTIONS", headers: { origin: "https://anywhere.example", "access-control-request-method": "GET" } });
    expect([preflight.status, preflight.headers.get("access-control-allow-origin")]).toEqual([204, "*"]);
    expect(server.output()).toMatch(new RegExp(`^sonotile serving on every interface \\(--host 0\\.0\\.0\\.0\\), port ${port}: every route needs a token\n  from this machine: http://127\\.0\\.0\\.1:${port}  \\(viewer: `, "m"));
    expect((await fetch(`${server.url}/v1/recordings`)).status).toBe(401);
  } finally {
    expect(await stop(server.child)).toBe(0);
  }
});

it("lets pages of the origins given to --cors-origin (repeated, comma-separated) call the API, and says so; no other origin", async () => {
  const server = await startServer("--cors-origin", "http://localhost:5173, https://lab.example", "--cors-origin", "HTTPS://Annotate.Example:443");
  try {
    await expect.poll(server.output).toContain("\nweb pages that may call the API (CORS): http://localhost:5173, https://lab.example, https://annotate.example\n");
    for (const origin of ["http://localhost:5173", "https://lab.example", "https://annotate.example"]) {
      const res = await fetch(`${server.url}/v1/datasets`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
      expect([res.status, res.headers.get("access-control-allow-origin"), res.headers.get("access-control-allow-methods")], origin).toEqual([204, origin, "GET, HEAD, POST"]);
    }
    const other = await fetch(`${server.url}/v1/datasets`, { headers: { origin: "http://localhost:8080" } });
    expect([other.status, other.headers.get("access-control-allow-origin")]).toEqual([200, null]);
  } finally {
    expect(await stop(server.child)).toBe(0);
  }
});

it("takes connection timeouts to the ms (--header-timeout 1.005 was 1004.9999999999999 ms, which Node refused once the database was open: exit 1)", async () => {
  const server = await startServer("--header-timeout", "1.005", "--request-timeout", "2.005", "--keep-alive-timeout", "0.285");
  try {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  } finally {
    expect(await stop(server.child)).toBe(0);
  }
});

it("executes a job submitted to it on its own job worker, with no other process", async () => {
  const audioDir = join(dir.path, "tones");
  await mkdir(audioDir);
  await writeSineWav(join(audioDir, "tone.wav"), 8000, 1, 1000);
  const server = await startServer();
  try {
    const call = async (method: string, path: string, body?: object) => {
      const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body && JSON.stringify(body) });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      return res.json();
    };
    expect(server.output()).toMatch(/batch jobs: executed here on \d+ thread/);
    const dataset = await call("POST", "/v1/datasets", { name: "tones", audio_dir: audioDir });
    const recording = await call("POST", "/v1/recordings", { dataset_id: dataset.id, path: "tone.wav" });
    const job = await call("POST", "/v1/jobs", { task: "extract_features", data: { targets: { recording_ids: [recording.id] }, features: ["peak_frequency_hz"] } });
    await expect.poll(async () => (await call("GET", `/v1/jobs/${job.id}`)).status, { timeout: 30_000, interval: 200 }).toBe("completed");
    expect((await call("GET", `/v1/recordings/${recording.id}`)).features).toEqual([{ name: "peak_frequency_hz", value: 1000 }]);
  } finally {
    expect(await stop(server.child)).toBe(0);
  }
}, 60_000);
