/**
 * The embedded PostgreSQL used when no DATABASE_URL is given: PGlite (PostgreSQL compiled to
 * WebAssembly, in this process) served on a loopback port by pglite-socket, so the
 * application reaches it with the same postgres.js code as a real server (SPEC §6).
 *
 * PGlite runs one session for all socket connections: an open transaction holds every other
 * connection until it ends, so transactions must stay short and must never wait on a query
 * sent through another connection (see src/store/db.ts).
 */
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { acquireLock, type DirLock } from "./lock.js";

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
  /** postgres:// URL of the loopback server. */
  url: string;
  /** The database files as an uncompressed tarball (PGlite dumpDataDir); no transaction may be open. */
  dump(): Promise<Blob>;
  stop(): Promise<void>;
}

/** Starts PGlite and its loopback server; locks `dataDir` first so no second process opens it. */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  let lock: DirLock | undefined;
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    if (options.dataDir) {
      await mkdir(options.dataDir, { recursive: true });
      lock = await acquireLock(options.dataDir);
      const pgdata = join(options.dataDir, "pgdata");
      const fresh = !(await access(pgdata).then(() => true, () => false));
      db = await PGlite.create(pgdata, fresh && options.initialData ? { loadDataDir: options.initialData } : {});
    } else {
      db = await PGlite.create(options.initialData ? { loadDataDir: options.initialData } : {});
    }
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: options.maxConnections });
    await server.start();
    const url = `postgres://postgres@${server.getServerConn()}/postgres`;
    await lock?.setUrl(url);
    const [s, d, l] = [server, db, lock];
    return {
      url,
      dump: async () => (await d.dumpDataDir("none")) as Blob,
      async stop() {
        await s.stop();
        await d.close();
        await l?.release();
      },
    };
  } catch (err) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    await lock?.release();
    throw err;
  }
}
