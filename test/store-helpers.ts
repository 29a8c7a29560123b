/**
 * Test databases for the store and API tests: every test file gets its own fresh database.
 * With DATABASE_URL set (e.g. postgres://postgres@127.0.0.1:5432/test) a uniquely named
 * database is created on that server and dropped afterwards; without it, an in-memory
 * embedded PGlite.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { openDatabase, type Database, type DatabaseOptions, type Sql } from "../src/store/db.js";
import { STATES, type State } from "../src/store/common.js";
import { loadMigrations } from "../src/store/migrate.js";
import { encodeWav16 } from "../src/demo/wav.js";

export const REAL_PG_URL = process.env.DATABASE_URL || undefined;

/** The shared fixture recordings (read-only, outside the repository). */
export const FIXTURES = resolve(fileURLToPath(new URL("../../shared/fixtures", import.meta.url)));

export interface TestDatabase {
  db: Database;
  /** URL of the database (real PostgreSQL only; the embedded one is in-process). */
  url: string | undefined;
  cleanup(): Promise<void>;
}

/**
 * A fresh database of its own with no migration applied (on DATABASE_URL's server, or embedded in
 * memory): the migration tests apply those before the one they test, write rows as the release
 * before did, then apply it.
 */
export async function unmigratedDatabase(): Promise<Pick<TestDatabase, "db" | "cleanup">> {
  return REAL_PG_URL ? freshDatabase({ migrate: false }) : openDatabase({ migrate: false }).then((db) => ({ db, cleanup: () => db.close() }));
}

/** A fresh, migrated database of its own. */
export async function freshDatabase(options: Omit<DatabaseOptions, "url" | "dataDir"> = {}): Promise<TestDatabase> {
  if (!REAL_PG_URL) {
    const db = await openDatabase({ ...options, initialData: await migratedTemplate() });
    return { db, url: undefined, cleanup: () => db.close() };
  }
  const name = `sonotile_test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(REAL_PG_URL, { max: 1, onnotice: () => {} });
  await admin`CREATE DATABASE ${admin(name)}`;
  const url = new URL(REAL_PG_URL);
  url.pathname = `/${name}`;
  const db = await openDatabase({ ...options, url: url.toString() });
  return {
    db,
    url: url.toString(),
    async cleanup() {
      await db.close();
      await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
      await admin.end();
    },
  };
}

/**
 * A dump of a freshly migrated embedded database, cached in the temp directory under a
 * hash of the migrations and the PGlite version: loading it is several times faster than
 * PGlite's initdb, and every test file starts from it. Written aside and renamed into place,
 * so parallel test files never read a partial file.
 */
export async function migratedTemplate(): Promise<Blob> {
  const migrations = await loadMigrations();
  const pglite = JSON.parse(await readFile(fileURLToPath(new URL("../node_modules/@electric-sql/pglite/package.json", import.meta.url)), "utf8")).version;
  const hash = createHash("sha256").update(pglite).update(JSON.stringify(migrations)).digest("hex").slice(0, 16);
  const path = join(tmpdir(), `sonotile-pglite-template-${hash}.tar`);
  try {
    return new Blob([await readFile(path)]);
  } catch {
    const db = await openDatabase();
    const blob = await db.embedded!.dump();
    await db.close();
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, new Uint8Array(await blob.arrayBuffer()));
    await rename(tmp, path);
    return blob;
  }
}

/** A node of a plan as EXPLAIN (ANALYZE, FORMAT JSON) gives it: the fields the tests read. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  /** The index an index scan (or bitmap index scan) reads. */
  "Index Name"?: string;
  /** "SubPlan" for a subquery run once per row of the node above it (a correlated lookup). */
  "Parent Relationship"?: string;
  "Actual Loops": number;
  /** Rows the node gave, in each of its loops on average. */
  "Actual Rows": number;
  Plans?: PlanNode[];
}

/**
 * Every node of the plan of `sent` (a statement as DatabaseOptions.onStatement heard it) when run
 * again on `sql` under EXPLAIN ANALYZE, outermost first.
 */
export async function planNodes(sql: Sql, sent: { statement: string; parameters: unknown[] }): Promise<PlanNode[]> {
  const [{ "QUERY PLAN": [plan] }] = await sql.unsafe(`EXPLAIN (ANALYZE, FORMAT JSON) ${sent.statement}`, sent.parameters as never[]);
  const all = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(all)];
  return all(plan.Plan);
}

/**
 * How many times, at most, one node of the plan of `sent` (planNodes) read `relation`: an aggregate
 * subplan reads its table once per row it is built for.
 */
export async function mostReadsOf(sql: Sql, relation: string, sent: { statement: string; parameters: unknown[] }): Promise<number> {
  return Math.max(...(await planNodes(sql, sent)).filter((n) => n["Relation Name"] === relation).map((n) => n["Actual Loops"]));
}

/**
 * Every page of a listing that pages by cursor (store/common.ts KeysetPage), `limit` a page, each
 * after the last one's next_cursor; `between` runs after each page but the last (rows added or
 * removed meanwhile). The items in the order listed.
 */
export async function everyPageByCursor<T>(list: (page: { limit: number; offset: 0; cursor?: string }) => Promise<{ items: T[]; next_cursor: string | null }>, limit: number, between?: (page: number) => Promise<void>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const p = await list({ limit, offset: 0, cursor });
    if (p.items.length > limit) throw new Error(`a page of ${p.items.length} items, more than its limit ${limit}`);
    items.push(...p.items);
    if (p.next_cursor === null) return items;
    cursor = p.next_cursor;
    await between?.(page);
  }
  throw new Error("the cursor never ended");
}

/** A temporary directory, removed by the returned function. */
export async function tempDir(prefix = "sonotile-test-"): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Bytes of no audio format, for "unreadable file" cases: text, so that no byte can pass for an
 * MP3 frame sync — random bytes now and then did, and failed as a corrupt MP3 instead.
 */
export const JUNK_BYTES = Buffer.from("this is not audio\n".repeat(240));

/** Writes a short mono 16-bit WAV of a sine (`seconds` long at `samplerate`) to `path`. */
export async function writeSineWav(path: string, samplerate: number, seconds: number, hz = 1000): Promise<void> {
  const n = Math.round(samplerate * seconds);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * hz * i) / samplerate);
  await writeFile(path, encodeWav16(x, samplerate));
}

/**
 * A TCP proxy to stand between the server and its database (a host and port, or the embedded
 * database's Unix socket), to take the database "down" (stop: close the listener and cut
 * every connection) and bring it back (start: listen on the same port again) without
 * touching the database itself.
 */
export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Closes every connection and stops listening: connections are refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Holds every connection open, new ones too, and passes no byte: a partition, not a refusal. */
  freeze(): void;
  /** Ends a freeze: the bytes held pass, as TCP delivers them when a partition heals. Once frozen, once thawed. */
  thaw(): void;
  /**
   * Holds every connection open now for good, passing no byte either way and never closing it,
   * while connections opened later pass as usual: connections half-open for good (their peer
   * gone, e.g. a NAT that dropped their state), the database answering through new ones.
   */
  blackhole(): void;
}

export async function tcpProxy(target: import("node:net").NetConnectOpts): Promise<TcpProxy> {
  const { createConnection, createServer } = await import("node:net");
  const sockets = new Set<import("node:net").Socket>();
  type Pair = [import("node:net").Socket, import("node:net").Socket];
  const pairs = new Set<Pair>();
  let frozen = false;
  let accepted = 0;
  const connect = ([client, upstream]: Pair) => {
    client.pipe(upstream).pipe(client);
    client.resume();
    upstream.resume();
  };
  const hold = ([client, upstream]: Pair) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  let server: import("node:net").Server | null = null;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolveListen, reject) => {
      const s = createServer((client) => {
        accepted++;
        const upstream = createConnection(target);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on("close", () => sockets.delete(sock));
          sock.on("error", () => { client.destroy(); upstream.destroy(); });
        }
        const pair: Pair = [client, upstream];
        pairs.add(pair);
        client.once("close", () => pairs.delete(pair));
        if (!frozen) connect(pair);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        port = (s.address() as import("node:net").AddressInfo).port;
        server = s;
        resolveListen();
      });
    });
  await listen();
  return {
    get port() { return port; },
    get accepted() { return accepted; },
    async stop() {
      const s = server;
      server = null;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
    start: listen,
    freeze() {
      // A network partition: connections stay open, and no byte gets through either way.
      if (frozen) return;
      frozen = true;
      for (const pair of pairs) hold(pair);
    },
    thaw() {
      if (!frozen) return;
      frozen = false;
      for (const pair of pairs) connect(pair);
    },
    blackhole() {
      // Out of `pairs`, so that no thaw revives them; still in `sockets`, which stop() destroys.
      for (const pair of pairs) hold(pair);
      pairs.clear();
    },
  };
}

/** The effective state of a record under these states (its own and its parents'): the most hidden (SPEC §5) — the oracle the state tests compare the store's SQL with. */
export const mostHidden = (...states: State[]): State => STATES[Math.max(...states.map((s) => STATES.indexOf(s)))];
