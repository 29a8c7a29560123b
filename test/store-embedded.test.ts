/**
 * The embedded database in a data directory: data survives a restart, migrations are not
 * applied twice, a second server cannot open the same directory (lock) while admin
 * commands can attach to the running one, a stale lock of a dead process is taken over, and
 * the database is private to its owner (no TCP port; socket, lock and files in a 0700
 * directory). Always runs on PGlite (it is about the embedded database), whatever
 * DATABASE_URL says.
 */
import { execFile } from "node:child_process";
import { chmod, chown, mkdir, readFile, readdir, readlink, stat, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { connect as connectSocket, createServer } from "node:net";
import { promisify } from "node:util";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { openDatabase } from "../src/store/db.js";
import { abortedOpening } from "../src/store/embedded.js";
import { loadMigrations } from "../src/store/migrate.js";
import { LOCK_FILE, LockedError, acquireLock, processStart, readLock } from "../src/store/lock.js";
import { createUser, findUserByUsername } from "../src/store/users.js";
import { migratedTemplate, tempDir } from "./store-helpers.js";

let dir: { path: string; remove(): Promise<void> };
let template: Blob;

beforeAll(async () => {
  dir = await tempDir();
  template = await migratedTemplate();
});

afterAll(async () => {
  await dir?.remove();
});

it("keeps data across restarts, locks the directory, lets admin commands attach", async () => {
  const dataDir = join(dir.path, "data");
  const first = await openDatabase({ dataDir, initialData: template });
  try {
    expect(first.kind).toBe("embedded");
    await createUser(first.sql, { username: "persisted" });
    expect((await readLock(dataDir))?.pid).toBe(process.pid);
    expect((await readLock(dataDir))?.socket).toBe(join(dataDir, ".s.PGSQL.5432"));

    // A second server is refused; an admin command attaches to the running database.
    await expect(openDatabase({ dataDir })).rejects.toBeInstanceOf(LockedError);
    const attached = await openDatabase({ dataDir, attach: true });
    try {
      expect(attached.kind).toBe("attached");
      expect(await findUserByUsername(attached.sql, "persisted")).not.toBeNull();
    } finally {
      await attached.close();
    }
  } finally {
    await first.close();
  }
  expect(await readLock(dataDir)).toBeNull();

  const second = await openDatabase({ dataDir });
  try {
    expect(await findUserByUsername(second.sql, "persisted")).not.toBeNull();
    const rows = await second.sql`SELECT version FROM schema_migrations ORDER BY version`;
    expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
  } finally {
    await second.close();
  }
});

it("an admin command attached beside a busy server gets its own answers, and the server its own — their extended-protocol messages interleaved ('portal \"\" does not exist', 500s)", async () => {
  const dataDir = join(dir.path, "busy");
  const server = await openDatabase({ dataDir, initialData: template });
  const attached = await openDatabase({ dataDir, attach: true });
  try {
    // Transactions on the server's connection (a request creating a clip) and queries on the
    // attached one (`sonotile token list`) at once: each must get its own rows.
    await server.sql`CREATE TABLE interleaved (i int)`;
    const runs = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => [
      server.sql.begin(async (tx) => {
        await tx`INSERT INTO interleaved VALUES (${i})`;
        return (await tx`SELECT count(*)::int AS c FROM interleaved WHERE i = ${i}`)[0].c;
      }),
      attached.sql`SELECT ${i}::int AS n, 'x' AS tag`.then((rows) => rows[0].n),
    ]).flat());
    const failed = runs.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason));
    expect(failed.slice(0, 3)).toEqual([]);
    expect(runs.map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(Array.from({ length: 300 }, (_, i) => [1, i]).flat());
  } finally {
    await attached.close();
    await server.close();
  }
});

/** A bare PostgreSQL-protocol client on `socket`: sends its startup, then `messages` ([type, body]), waits `ms`, and leaves. */
async function leaveMidBatch(socket: string, messages: [string, Buffer][], ms = 300): Promise<void> {
  const message = (type: string, body: Buffer) => { const b = Buffer.alloc(5 + body.length); b.write(type, 0); b.writeInt32BE(4 + body.length, 1); body.copy(b, 5); return b; };
  const text = (s: string) => Buffer.from(`${s}\0`);
  const params = Buffer.concat([Buffer.from([0, 3, 0, 0]), text("user"), text("postgres"), text("database"), text("postgres"), Buffer.from([0])]);
  const startup = Buffer.alloc(4 + params.length);
  startup.writeInt32BE(startup.length);
  params.copy(startup, 4);
  const client = connectSocket(socket);
  await once(client, "connect");
  client.on("data", () => {});
  client.write(startup);
  await new Promise((r) => setTimeout(r, ms));
  client.write(Buffer.concat(messages.map(([type, body]) => message(type, body))));
  await new Promise((r) => setTimeout(r, ms));
  client.destroy();
}

it("a connection that leaves in the middle of a failed batch or of a transaction leaves the session clean: the server's next queries are answered — the database stalled for good", async () => {
  const dataDir = join(dir.path, "left");
  const server = await openDatabase({ dataDir, initialData: template });
  try {
    const socket = join(dataDir, ".s.PGSQL.5432");
    const text = (s: string) => Buffer.from(`${s}\0`);
    // Parse of bad SQL and Flush, no Sync (PostgreSQL then skips every message until one); then
    // a transaction begun and left in a failed batch.
    await leaveMidBatch(socket, [["P", Buffer.concat([text(""), text("SELEC broken"), Buffer.from([0, 0])])], ["H", Buffer.alloc(0)]]);
    const answered = async () => (await Promise.race([server.sql`SELECT ${2}::int AS y`, new Promise((r) => setTimeout(() => r("no answer in 5 s"), 5000))]));
    expect(await answered()).toEqual([{ y: 2 }]);
    await leaveMidBatch(socket, [["Q", text("BEGIN")], ["P", Buffer.concat([text(""), text("SELEC broken"), Buffer.from([0, 0])])], ["H", Buffer.alloc(0)]]);
    expect(await answered()).toEqual([{ y: 2 }]); // in the left (failed) transaction it would be an error: it was rolled back
  } finally {
    await server.close();
  }
}, 30_000);

it("takes over the lock of a process that no longer exists", async () => {
  const lockDir = join(dir.path, "stale");
  await mkdir(lockDir);
  // Pid 2^22 + 1 is above Linux's pid_max limit (2^22), so no process can have it.
  await writeFile(join(lockDir, LOCK_FILE), JSON.stringify({ pid: 4194305, host: hostname() }));
  const lock = await acquireLock(lockDir);
  expect((await readLock(lockDir))?.pid).toBe(process.pid);
  await expect(acquireLock(lockDir)).rejects.toBeInstanceOf(LockedError);
  await lock.release();
  expect(await readLock(lockDir)).toBeNull();
});

it("takes over a lock whose pid now belongs to another process — a container's server is pid 1 at every start, and could never start again after a crash", async () => {
  const lockDir = join(dir.path, "reused");
  await mkdir(lockDir);
  // This process's pid and pid 1 (alive), each as a process that started at another time.
  for (const pid of [process.pid, 1]) {
    await writeFile(join(lockDir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), start: `${processStart(pid)}0` }));
    const lock = await acquireLock(lockDir);
    expect((await readLock(lockDir))?.start).toBe(processStart(process.pid));
    await lock.release();
  }
  // The same process, started then: alive. A lock without a start (an older sonotile's): as before.
  for (const owner of [{ pid: 1, start: processStart(1) }, { pid: 1 }]) {
    await writeFile(join(lockDir, LOCK_FILE), JSON.stringify({ ...owner, host: hostname() }));
    await expect(acquireLock(lockDir)).rejects.toBeInstanceOf(LockedError);
  }
});

/** Inodes of the TCP sockets this process listens on (Linux /proc). */
async function listeningTcpSockets(): Promise<string[]> {
  const mine = new Set<string>();
  for (const fd of await readdir("/proc/self/fd")) {
    const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/self/fd/${fd}`).catch(() => ""));
    if (m) mine.add(m[1]);
  }
  const listening: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of (await readFile(table, "utf8").catch(() => "")).trim().split("\n").slice(1)) {
      const f = line.trim().split(/\s+/); // sl local remote st … inode (field 9)
      if (f[3] === "0A" && mine.has(f[9])) listening.push(f[9]);
    }
  }
  return listening.sort();
}

/** What user nobody gets trying to read `lock` and connect to `socket`: an error code, or "read" / "connected". */
async function asNobody(lock: string, socket: string): Promise<{ lock: string; socket: string }> {
  const script = `
    const lock = (() => { try { require("node:fs").readFileSync(process.argv[1]); return "read"; } catch (e) { return e.code; } })();
    const done = (socket) => { console.log(JSON.stringify({ lock, socket })); process.exit(0); };
    require("node:net").connect(process.argv[2]).on("connect", () => done("connected")).on("error", (e) => done(e.code));`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", script, lock, socket], { uid: 65534, gid: 65534 });
  return JSON.parse(stdout);
}

it("keeps the database private to its owner: no TCP port, a socket, lock file and files in a 0700 directory", async () => {
  // The test's temp dir is 0700 itself; opened up here so that only the data dir's own mode protects it.
  await chmod(dir.path, 0o755);
  const dataDir = join(dir.path, "private");
  await mkdir(dataDir, { mode: 0o755 }); // made by hand, or by an earlier version: readable by everyone
  const before = await listeningTcpSockets();
  const db = await openDatabase({ dataDir, initialData: template });
  try {
    expect(await listeningTcpSockets()).toEqual(before);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, LOCK_FILE))).mode & 0o777).toBe(0o600);
    const owner = await readLock(dataDir);
    expect(Object.keys(owner!).sort()).toEqual(["host", "pid", "pidNamespace", "socket", "start"]);
    expect((await stat(owner!.socket!)).isSocket()).toBe(true);
    expect((await stat(owner!.socket!)).mode & 0o777).toBe(0o600);
    // Only root can act as another user; elsewhere the modes above are what keeps others out.
    if (process.getuid?.() === 0) expect(await asNobody(join(dataDir, LOCK_FILE), owner!.socket!)).toEqual({ lock: "EACCES", socket: "EACCES" });
  } finally {
    await db.close();
  }
});

/** The modes found in `dir` and below (itself left out), each with how many entries have it: "600 file" → 969. */
async function modesBelow(dir: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const key = `${((await stat(join(entry.parentPath, entry.name))).mode & 0o777).toString(8)} ${entry.isDirectory() ? "dir" : "file"}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

it("makes the embedded database's files its owner's alone, after start and after close — PGlite writes them 0666 and its directories 0755", async () => {
  const dataDir = join(dir.path, "modes");
  const db = await openDatabase({ dataDir, initialData: template });
  try {
    expect(Object.keys(await modesBelow(join(dataDir, "pgdata"))).sort()).toEqual(["600 file", "700 dir"]);
    await db.sql`CREATE TABLE made_later (a int)`;
    await db.sql`CHECKPOINT`;
  } finally {
    await db.close();
  }
  expect(Object.keys(await modesBelow(join(dataDir, "pgdata"))).sort()).toEqual(["600 file", "700 dir"]);
});

it("serves on a socket in a private temp directory when the data dir's path is too long for a socket", async () => {
  const dataDir = join(dir.path, "x".repeat(120));
  const db = await openDatabase({ dataDir, initialData: template });
  let socket: string;
  try {
    socket = (await readLock(dataDir))!.socket!;
    expect(dirname(socket).startsWith(join(tmpdir(), "sonotile-db-"))).toBe(true);
    expect((await stat(dirname(socket))).mode & 0o777).toBe(0o700);
    const attached = await openDatabase({ dataDir, attach: true });
    try {
      expect(attached.kind).toBe("attached");
      await attached.sql`SELECT 1`;
    } finally {
      await attached.close();
    }
  } finally {
    await db.close();
  }
  await expect(stat(dirname(socket))).rejects.toMatchObject({ code: "ENOENT" });
});

it("sees a TCP listener of this process (so the check above is not vacuous)", async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    expect((await listeningTcpSockets()).length).toBeGreaterThan(0);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

it("a full disk when the database is created is said so, not 'undefined' — PGlite throws Emscripten's ErrnoError, no Error", async () => {
  const dataDir = join(dir.path, "full");
  // What PGlite threw on a 3 MB tmpfs: an object with the WASI errno of ENOSPC and no message.
  const create = vi.spyOn(PGlite, "create").mockRejectedValueOnce(Object.assign(Object.create({ name: "ErrnoError" }), { errno: 51 }));
  try {
    await expect(openDatabase({ dataDir })).rejects.toThrow(new Error(`the embedded database in ${dataDir} cannot be opened: no space left on device`));
  } finally {
    create.mockRestore();
  }
  expect(await readLock(dataDir)).toBeNull(); // released
});

it("an existing database on a full disk is said so, with the space left — PGlite aborts opening it, and serve said only 'Aborted(). Build with -sASSERTIONS for more info.'", async () => {
  const dataDir = join(dir.path, "full-existing");
  // What PGlite threw opening a database on a full tmpfs.
  const create = vi.spyOn(PGlite, "create").mockRejectedValueOnce(new WebAssembly.RuntimeError("Aborted(). Build with -sASSERTIONS for more info."));
  try {
    // This test's file system has room: the abort is said with it.
    await expect(openDatabase({ dataDir })).rejects.toThrow(new RegExp(`^the embedded database in ${dataDir} cannot be opened: PGlite aborted \\(Aborted\\(\\)\\. Build with -sASSERTIONS for more info\\.\\), with \\d+ bytes free on its file system$`));
  } finally {
    create.mockRestore();
  }
  expect(await readLock(dataDir)).toBeNull(); // released
  expect(abortedOpening("Aborted()", 0)).toBe("no space left on device — PGlite aborted (Aborted()) with 0 bytes free on its file system: make room, then start again");
});

/** What `sonotile dataset list --data dataDir` says on stderr, run as user nobody. */
async function datasetListAsNobody(dataDir: string): Promise<string> {
  const cli = join(import.meta.dirname, "..", "bin", "sonotile.js");
  // The embedded database's: without DATABASE_URL, which the suite's real-PostgreSQL pass sets.
  const { DATABASE_URL: _real, ...env } = process.env;
  return promisify(execFile)(process.execPath, [cli, "dataset", "list", "--data", dataDir], { uid: 65534, gid: 65534, env })
    .then(({ stdout }) => `succeeded: ${stdout}`, (err: { stderr: string }) => err.stderr.trim());
}

it.skipIf(process.getuid?.() !== 0)("a data directory, or its database, belonging to another user is refused naming the owner and the remedy — 'PGlite failed to initialize properly' named neither (the built CLI)", async () => {
  // As after a `sudo sonotile serve`: the database made by root, then run as another user.
  await chmod(dir.path, 0o755);
  const dataDir = join(dir.path, "sudo-made");
  const db = await openDatabase({ dataDir, initialData: template });
  await db.close();
  expect(await datasetListAsNobody(dataDir)).toBe(`sonotile dataset: ${dataDir} belongs to uid 0, and this process (user nobody, uid 65534) may not change it (EPERM): run sonotile as its owner, or give the data directory to this user (chown -R nobody <data directory>)`);
  await chown(dataDir, 65534, 65534); // the directory given away, its database files not
  try {
    expect(await datasetListAsNobody(dataDir)).toBe(`sonotile dataset: ${join(dataDir, "pgdata")} belongs to uid 0, and this process (user nobody, uid 65534) may not write it (EACCES): run sonotile as its owner, or give the data directory to this user (chown -R nobody <data directory>)`);
  } finally {
    await chown(dataDir, 0, 0); // root's again, whatever the check found: the temporary directory is removed as root
  }
  // Nothing was changed: the owner opens it as before.
  const again = await openDatabase({ dataDir });
  await again.close();
});
