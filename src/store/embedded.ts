/**
 * The embedded PostgreSQL used when no DATABASE_URL is given: PGlite (PostgreSQL compiled to
 * WebAssembly, in this process) served by pglite-socket on a Unix socket, so the application
 * reaches it with the same postgres.js code as a real server (SPEC §6).
 *
 * Who may connect: PGlite asks for no password, so the socket is the only gate. It lies in
 * the data directory, which is made private to its owner (0700) — another user of the machine
 * can neither open the socket nor read the lock file that names it, nor the database files —
 * and nothing listens on a TCP port, which every local user could reach. The database files
 * are their owner's alone too (ownerOnly), should the directory be opened up.
 *
 * PGlite runs one session for all socket connections: an open transaction (and an
 * extended-protocol batch, see session-queue.ts) holds every other connection until it ends, so
 * transactions must stay short and must never wait on a query sent through another connection
 * (see src/store/db.ts).
 */
import { constants } from "node:fs";
import { access, chmod, mkdir, mkdtemp, readdir, rm, stat, statfs } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { acquireLock, type DirLock } from "./lock.js";
import { orderSessions } from "./session-queue.js";

export interface EmbeddedOptions {
  /** Directory for the database files (`<dataDir>/pgdata`) and the lock; omitted: in memory. */
  dataDir?: string;
  /** Socket connections to accept; must be ≥ the postgres.js pool size plus admin clients. */
  maxConnections: number;
  /**
   * Contents for a new database (in memory, or a data directory not created yet): a `dump()`
   * of another one. Loading a dump is several times faster than PGlite's initdb.
   */
  initialData?: Blob;
}

export interface EmbeddedDatabase {
  /** Path of the Unix socket the database is served on. */
  socket: string;
  /** The database files as an uncompressed tarball (PGlite dumpDataDir); no transaction may be open. */
  dump(): Promise<Blob>;
  stop(): Promise<void>;
}

/** libpq's name for a server's socket in its directory: `psql -h <data dir> -U postgres` finds it. */
const SOCKET_NAME = ".s.PGSQL.5432";
/** A socket path must fit sockaddr_un.sun_path: 108 bytes on Linux, 104 on macOS, with its NUL. */
const MAX_SOCKET_PATH_BYTES = 103;

/**
 * Where the socket goes: the (private) data directory, or — in memory, or when that path is
 * too long for a socket — a fresh private directory under the system's temp dir (mkdtemp
 * makes it 0700), removed at stop.
 */
async function socketDirectory(dataDir: string | undefined): Promise<{ dir: string; temporary: boolean }> {
  if (dataDir && Buffer.byteLength(join(dataDir, SOCKET_NAME)) <= MAX_SOCKET_PATH_BYTES) return { dir: dataDir, temporary: false };
  return { dir: await mkdtemp(join(tmpdir(), "sonotile-db-")), temporary: true };
}

/**
 * Makes `dir` and what lies below it its owner's alone: files 0600, directories 0700. PGlite's file
 * system writes the files of a new database 0666 and its directories 0755 whatever the umask,
 * and its relation-cache files (pg_internal.init, rewritten at every start) 0644; the files
 * PostgreSQL creates later (tables, WAL) are 0600 already. Done after start and after close.
 */
async function ownerOnly(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory() || entry.isFile()) await chmod(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o700 : 0o600);
  }
}

/** Starts PGlite and its socket server; locks `dataDir` first so no second process opens it. */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = options.dataDir && resolve(options.dataDir);
  let lock: DirLock | undefined;
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  let socketDir: { dir: string; temporary: boolean } | undefined;
  try {
    if (dataDir) {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      // Also when it exists already (made by an earlier version, or by hand): it holds the database.
      await chmod(dataDir, 0o700).catch((err) => ownedElsewhere(err, dataDir));
      lock = await acquireLock(dataDir);
      const pgdata = join(dataDir, "pgdata");
      const fresh = !(await access(pgdata).then(() => true, () => false));
      // PGlite creates files in it.
      if (!fresh) await access(pgdata, constants.R_OK | constants.W_OK | constants.X_OK).catch((err) => ownedElsewhere(err, pgdata));
      db = await PGlite.create(pgdata, fresh && options.initialData ? { loadDataDir: options.initialData } : {});
      await ownerOnly(pgdata);
    } else {
      db = await PGlite.create(options.initialData ? { loadDataDir: options.initialData } : {});
    }
    socketDir = await socketDirectory(dataDir);
    const socket = join(socketDir.dir, SOCKET_NAME);
    // Left behind by a server that died: we hold the lock, so nobody listens on it.
    await rm(socket, { force: true });
    server = new PGLiteSocketServer({ db, path: socket, maxConnections: options.maxConnections });
    orderSessions(server, db); // one connection's protocol batch at a time (session-queue.ts)
    await server.start();
    await chmod(socket, 0o600);
    await lock?.setSocket(socket);
    const [s, d, l, sd] = [server, db, lock, socketDir];
    const pgdata = dataDir && join(dataDir, "pgdata");
    return {
      socket,
      dump: async () => (await d.dumpDataDir("none")) as Blob,
      async stop() {
        await s.stop();
        await d.close();
        if (pgdata) await ownerOnly(pgdata);
        if (sd.temporary) await rm(sd.dir, { recursive: true, force: true });
        await l?.release();
      },
    };
  } catch (err) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    if (socketDir?.temporary) await rm(socketDir.dir, { recursive: true, force: true });
    await lock?.release();
    throw await asError(err, dataDir);
  }
}

/**
 * Throws `err` (from chmod or access on `path`), as a message naming who owns `path` when this
 * user may not change it: a data directory once served by another user (e.g. `sudo sonotile
 * serve`) said only "EPERM: operation not permitted, chmod …", and one whose database files
 * belonged to another user "PGlite failed to initialize properly".
 */
async function ownedElsewhere(err: unknown, path: string): Promise<never> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== "EPERM" && code !== "EACCES") throw err;
  const owner = await stat(path).then((s) => s.uid, () => undefined);
  const me = userInfo();
  throw new Error(`${path} belongs to ${owner === undefined ? "another user" : `uid ${owner}`}, and this process (user ${me.username}, uid ${me.uid}) may not ${code === "EPERM" ? "change" : "write"} it (${code}): run sonotile as its owner, or give the data directory to this user (chown -R ${me.username} <data directory>)`);
}

/**
 * What PGlite threw, as an Error saying what happened: its file-system errors are Emscripten
 * ErrnoErrors — no Error, no message, a WASI errno — and a full disk read "sonotile serve:
 * undefined" when the database was created. An existing database on a full disk makes PGlite
 * abort instead (a WebAssembly.RuntimeError, "Aborted(). Build with -sASSERTIONS for more info."
 * on a full tmpfs, 12-05: all `serve` said), so an abort is said with the space its file system
 * has left (abortedOpening).
 */
async function asError(err: unknown, dataDir: string | undefined): Promise<unknown> {
  if (err instanceof WebAssembly.RuntimeError && dataDir) {
    const free = await statfs(dataDir).then((s) => s.bavail * s.bsize, () => null);
    return new Error(`the embedded database in ${dataDir} cannot be opened: ${abortedOpening(err.message, free)}`);
  }
  if (err instanceof Error) return err;
  const errno = (err as { errno?: unknown } | null)?.errno;
  const what = errno === WASI_ENOSPC ? "no space left on device" : typeof errno === "number" ? `file-system error (WASI errno ${errno})` : String(err);
  return new Error(`the embedded database ${dataDir ? `in ${dataDir} ` : ""}cannot be opened: ${what}`);
}

/**
 * Free space under which an abort of PGlite opening a database is put down to a full disk: it
 * opened one with 4.7 MB free and aborted with none (a tmpfs, 12-05).
 */
const FULL_DISK_BYTES = 1024 * 1024;

/**
 * Why PGlite aborted (`message`) while opening a database whose file system has `freeBytes`
 * available (null: unknown), as a person can act on it.
 */
export function abortedOpening(message: string, freeBytes: number | null): string {
  const aborted = `PGlite aborted (${message})`;
  if (freeBytes === null) return aborted;
  if (freeBytes < FULL_DISK_BYTES) return `no space left on device — ${aborted} with ${freeBytes} bytes free on its file system: make room, then start again`;
  return `${aborted}, with ${freeBytes} bytes free on its file system`;
}

/** WASI's errno for "no space left on device" (what PGlite's file system reports). */
const WASI_ENOSPC = 51;
