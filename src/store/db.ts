/**
 * The database connection: postgres.js to a real PostgreSQL when a URL is given
 * (`DATABASE_URL`), else to the embedded PGlite (src/store/embedded.ts) on its Unix socket —
 * one code path.
 *
 * Rules that keep the same code correct on both (PGlite serves all connections as one
 * session): transactions are short; inside `sql.begin(tx => …)` only `tx` is queried, never
 * the outer `sql` (that query would wait for the transaction that waits for it); no
 * LISTEN/NOTIFY; prepared statements stay on.
 */
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import postgres from "postgres";
import { startEmbedded, type EmbeddedDatabase } from "./embedded.js";
import { DatabaseUnreachableError, NoDatabaseError } from "./errors.js";
import { LockedError } from "./lock.js";
import { migrate, migrationFile } from "./migrate.js";
import { checkPostgresMended } from "./postgres-mend.js";
import { unansweredBoundSocket } from "./unanswered.js";

export type Sql = postgres.Sql;
/** Anything queries can run on: the pool or a transaction. */
export type Queryable = postgres.ISql;

export interface DatabaseOptions {
  /** postgres:// URL of a real PostgreSQL (≥ 14); omitted: the embedded database. */
  url?: string;
  /** Data directory of the embedded database; omitted: a throw-away in-memory database. */
  dataDir?: string;
  /** postgres.js pool size for a real PostgreSQL (default 10); an embedded database gets one connection. */
  poolSize?: number;
  /**
   * When the embedded data directory is held by a running server, use that server's
   * database instead of failing (for admin CLI commands run beside `sonotile serve`).
   */
  attach?: boolean;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /**
   * Create the database if there is none (default true): false refuses, with NoDatabaseError, a
   * data directory that holds no embedded database and a PostgreSQL without sonotile's tables
   * (no `schema_migrations`) — for commands that only use existing records.
   */
  create?: boolean;
  /** Initial contents of a new embedded database (see EmbeddedOptions.initialData). */
  initialData?: Blob;
  /**
   * Seconds a TCP connection to PostgreSQL (`url`) may leave what it sent unanswered before it is
   * closed as lost (default REPLY_LIMIT_S; > 0): the commands take it from SONOTILE_DB_REPLY_LIMIT.
   */
  replyLimitS?: number;
  /**
   * Hears each statement the pool sends, with its parameters, as it is sent (postgres.js's `debug`):
   * for counting round trips and reading plans — the tests of work done per file, or per row of a
   * page, hold them to what a batch or a page needs.
   */
  onStatement?: (statement: string, parameters: unknown[]) => void;
  /**
   * Hears each long step of the open as it begins — starting the embedded database, applying a
   * migration — in words for a person: a server's start-up says what it is doing (a minute on a
   * loaded machine, silent, read as hung).
   */
  onProgress?: (step: string) => void;
}

export interface Database {
  sql: Sql;
  /** "postgres": DATABASE_URL; "embedded": PGlite owned by this process; "attached": another process's PGlite. */
  kind: "postgres" | "embedded" | "attached";
  /** Where the data lives, for humans: the URL without password, or the data directory. */
  description: string;
  /** The embedded database this process owns, if any. */
  embedded?: EmbeddedDatabase;
  /** Closes the pool (and stops the embedded database this process owns). */
  close(): Promise<void>;
}

/** Seconds postgres.js waits for a connection before the query fails (and the route answers 503). */
const CONNECT_TIMEOUT_S = 5;

/**
 * Longest pause, in seconds, between a failed connection attempt and the next one. postgres.js's
 * default pause grows as 3^failures / 100 s up to 20 s, counting failures across the whole pool
 * until one connection succeeds: after a dozen failures (a ten-second outage) every query waited
 * up to 20 s for a connection sitting out its pause — metadata requests hung until their 30 s
 * deadline instead of answering 503 "database is unavailable" at once (1.7–21 s per failed query
 * after 15 failures, against ~2 ms). One second keeps the attempts few (one per connection per
 * second, against a server that refuses at once) while a request still gets its 503 promptly and
 * the pool reconnects within a second of the database's return.
 */
const RECONNECT_BACKOFF_MAX_S = 1;

/**
 * Seconds a connection to a PostgreSQL reached over TCP may leave a statement without a byte of
 * reply before it is closed as lost (src/store/unanswered.ts): the bound on a connection half-open
 * for good, which otherwise held its statement until the kernel gave up (~15 min) or for ever (a
 * proxy keeping it open). Sonotile sets no statement_timeout, so the limit must exceed the longest
 * statement `serve`, `worker` and the commands send — PostgreSQL replies to a statement only once it
 * ends: twice the 30 s a request waits for its answer (the routes' deadline), and twice the 30 s
 * lock_timeout of pg-boss's maintenance; migrations, which may rewrite large tables or wait for
 * another process's, run on a connection without the bound. Unix sockets (the embedded database,
 * a local server) are never half-open: the kernel closes them with their peer.
 */
const REPLY_LIMIT_S = 60;

/**
 * How soon PostgreSQL gives up on a client gone silent — partitioned off, its machine vanished —
 * and ends its session, rolling back its transaction: startup settings of every connection
 * (PostgreSQL's tcp_keepalives_* and tcp_user_timeout; ignored on Unix sockets and by the embedded
 * database). A client that answers nothing to a keepalive probe sent after `idleS` seconds of
 * silence, nor to the `count` more sent `intervalS` apart, or leaves bytes sent to it unacknowledged
 * for `userTimeoutMs`, is gone: about 25 s. With the kernel's defaults (idle 7200 s, 9 probes 75 s
 * apart) a worker cut off by a partition between two statements of the transaction that settles its
 * items kept its session idle in that transaction for 2 h 11 min, holding the job's row FOR UPDATE:
 * every other worker's settlement of that job waited on it (its items failed delivery after delivery
 * at their connections' reply limit), and so did an abort (503 after 30 s) — measured with a worker in
 * a network namespace whose link went down. A client that lives answers the probes from its kernel,
 * however long its transaction or statement lasts; a partition shorter than this costs nothing.
 */
const SERVER_GIVES_UP = { idleS: 10, intervalS: 5, count: 3, userTimeoutMs: 25_000 };

/** postgres.js's pause before connection attempt number `failures` + 1: its own (jittered, growing), capped. */
function reconnectBackoff(failures: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** failures / 100, RECONNECT_BACKOFF_MAX_S);
}

/** postgres.js options shared by every connection sonotile opens. */
function clientOptions(poolSize: number): postgres.Options<{}> {
  return {
    max: poolSize,
    prepare: true,
    connect_timeout: CONNECT_TIMEOUT_S,
    backoff: reconnectBackoff,
    idle_timeout: 60,
    onnotice: () => {},
    // PostgreSQL's JIT (on by default where built with LLVM, as Debian's server is) compiles a
    // statement whose estimated cost passes jit_above_cost before running it. A clips or
    // recordings page over a recording of 100,000 clips is estimated that high and ran in ~40 ms,
    // after ~100 ms of compiling (auto_explain: "Emission 99 ms"), at every request — prepared
    // statements are compiled again at each execution. sonotile sends short statements only.
    // The server's keepalives: SERVER_GIVES_UP.
    connection: {
      application_name: "sonotile", jit: "off",
      tcp_keepalives_idle: SERVER_GIVES_UP.idleS, tcp_keepalives_interval: SERVER_GIVES_UP.intervalS, tcp_keepalives_count: SERVER_GIVES_UP.count, tcp_user_timeout: SERVER_GIVES_UP.userTimeoutMs,
    },
    // Dates and times leave the store as ISO 8601 text, as the API sends them: `date` stays
    // YYYY-MM-DD (a JS Date would add a time and a zone), timestamptz becomes UTC ISO text.
    types: {
      isoDate: { to: 1082, from: [1082], serialize: (x: string) => x, parse: (x: string) => x },
      isoTimestamp: { to: 1184, from: [1184], serialize: (x: string | Date) => (x instanceof Date ? x.toISOString() : x), parse: (x: string) => new Date(x).toISOString() },
    },
  };
}

/**
 * postgres.js on a postgres:// URL, or on the Unix socket of an embedded database.
 *
 * @param replyLimitS seconds a TCP connection may leave a statement unanswered (REPLY_LIMIT_S);
 *   null: no bound (migrations)
 * @param onStatement hears each statement sent (DatabaseOptions.onStatement)
 */
function connect(target: string | { socket: string }, poolSize: number, replyLimitS: number | null, onStatement?: DatabaseOptions["onStatement"]): Sql {
  const options = { ...clientOptions(poolSize), ...(onStatement ? { debug: (_connection: number, statement: string, parameters: unknown[]) => onStatement(statement, parameters) } : {}) };
  if (typeof target !== "string") return postgres({ ...options, path: target.socket, user: "postgres", database: "postgres" });
  // postgres.js's types leave out its `socket` option.
  return postgres(target, replyLimitS === null ? options : ({ ...options, socket: unansweredBoundSocket(replyLimitS * 1000) } as typeof options));
}

/**
 * Whether a transaction on `database` runs alone: the embedded database (owned or attached), whose
 * one session a transaction holds from BEGIN to COMMIT (session-queue.ts) — no other statement, of
 * any connection or process, runs until it ends.
 */
export function runsAlone(database: Pick<Database, "kind">): boolean {
  return database.kind !== "postgres";
}

/** Opens the database described by `options`, applying migrations unless told not to. */
export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  checkPostgresMended();
  const poolSize = options.poolSize ?? 10;
  const replyLimitS = options.replyLimitS ?? REPLY_LIMIT_S;
  if (!(replyLimitS > 0)) throw new RangeError(`replyLimitS must be a number of seconds > 0 (got ${replyLimitS})`);
  let embedded: EmbeddedDatabase | undefined;
  let target: string | { socket: string } | undefined = options.url;
  let kind: Database["kind"] = "postgres";
  let description = options.url ? redact(options.url) : "";
  if (!target) {
    if (options.create === false && options.dataDir && !(await holdsDatabase(options.dataDir))) {
      throw new NoDatabaseError(`no database in ${resolve(options.dataDir)} (--data DIR or SONOTILE_DATA, default ./data): check the path; \`sonotile serve --data DIR\` creates one`);
    }
    try {
      options.onProgress?.(`starting the embedded PostgreSQL in ${options.dataDir ?? "memory"}`);
      // Headroom beyond the pool for admin CLI commands attaching to this server.
      embedded = await startEmbedded({ dataDir: options.dataDir, maxConnections: poolSize + 8, initialData: options.initialData });
      target = { socket: embedded.socket };
      kind = "embedded";
      description = options.dataDir ? `embedded PostgreSQL in ${options.dataDir}` : "embedded PostgreSQL in memory";
    } catch (err) {
      if (!(options.attach && err instanceof LockedError && err.owner.socket)) throw err;
      target = { socket: err.owner.socket };
      kind = "attached";
      description = `embedded PostgreSQL of process ${err.owner.pid} (${options.dataDir})`;
    }
  }
  // PGlite serves every socket connection as one session and interleaves their protocol
  // messages: a transaction on one connection beside queries on another broke both ("portal ""
  // does not exist", rows of another query: 180 of 300 requests with clips created beside reads).
  // So this process talks to an embedded database over one connection — postgres.js queues the
  // rest, and a transaction holds them until it ends, as one session would. PGlite runs one
  // statement at a time anyway.
  const sql = connect(target, kind === "postgres" ? poolSize : 1, replyLimitS, options.onStatement);
  const database: Database = {
    sql,
    kind,
    description,
    embedded,
    async close() {
      await sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
  try {
    if (options.create === false && kind === "postgres") {
      const [{ table }] = await sql<{ table: string | null }[]>`SELECT to_regclass('schema_migrations')::text AS table`.catch((err: { code?: string; message: string }) => {
        // invalid_catalog_name: the URL names a database the server does not have.
        throw err.code === "3D000" ? new NoDatabaseError(`${description}: ${err.message}: check DATABASE_URL; \`sonotile serve\` creates sonotile's tables in an existing database (createdb NAME first)`, { cause: err }) : err;
      });
      if (table === null) throw new NoDatabaseError(`${description} holds no sonotile database (no schema_migrations table): check DATABASE_URL; \`sonotile serve\` creates the tables`);
    }
    if (options.migrate ?? true) await migrateUnbounded(target, sql, options.onProgress);
  } catch (err) {
    await database.close();
    throw kind === "postgres" && isConnectionError(err) ? new DatabaseUnreachableError(description, err as Error & { code: string }) : err;
  }
  return database;
}

/**
 * Applies pending migrations to `target` (whose pool is `sql`) on a connection without the reply
 * bound (REPLY_LIMIT_S): a migration may rewrite a large table, or wait for another process's to end.
 */
async function migrateUnbounded(target: string | { socket: string }, sql: Sql, onProgress?: (step: string) => void): Promise<void> {
  const unbounded = typeof target === "string" ? connect(target, 1, null) : sql; // a Unix socket has no bound
  try {
    await migrate(unbounded, undefined, onProgress && ((migration) => onProgress(`applying migration ${migrationFile(migration)}`)));
  } finally {
    if (unbounded !== sql) await unbounded.end({ timeout: 5 });
  }
}

/**
 * Whether `dataDir` holds an embedded database (PGlite's files, made by startEmbedded). One this
 * user may not look into counts as there: startEmbedded then says whose it is (a data directory
 * of another user read "no database in …").
 */
async function holdsDatabase(dataDir: string): Promise<boolean> {
  const absent = new Set(["ENOENT", "ENOTDIR"]);
  return access(join(dataDir, "pgdata", "PG_VERSION")).then(() => true, (err: NodeJS.ErrnoException) => !absent.has(err.code ?? ""));
}

/** unreadableDatabaseUrl's answer for a URL of another scheme than postgres:// or postgresql://. */
export const NOT_POSTGRES_URL = "not a postgres:// URL";

/**
 * Why `url` names no PostgreSQL that postgres.js can connect to, or null: a URL of another scheme
 * (postgres.js would take its host all the same), or one it cannot parse — a client made on it
 * threw a bare `Invalid URL` when a command opened the database.
 */
export function unreadableDatabaseUrl(url: string): string | null {
  if (!/^postgres(ql)?:\/\//.test(url)) return NOT_POSTGRES_URL;
  try {
    // A client connects at its first query: made and ended, it only parsed the URL.
    void postgres(url, { max: 1 }).end();
    return null;
  } catch (err) {
    return `postgres.js reads no server in it (${(err as Error).message})`;
  }
}

/** The URL with its password replaced, safe to print. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable database URL)";
  }
}

// Node socket errors, postgres.js connection errors and SQLSTATEs (class 08 connection
// exception, 57P01-03 shutdown / not accepting, 53300 too many connections) that mean "the
// database cannot be reached right now" rather than "this query is wrong".
const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EPIPE", "EAI_AGAIN",
  "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED",
  "57P01", "57P02", "57P03", "53300",
]);

/**
 * Keeps a long-running process (serve, worker) alive through connection errors that reach no
 * handler — pg-boss's workers reject their fetch loop's promise unhandled ("terminating
 * connection due to administrator command (Queue: sonotile-extract-items, Worker: …)"), and
 * postgres.js 3.4.9 discards the promise of the array-type query each new connection runs first
 * (porsager/postgres#1192). Either ended `sonotile serve` within seconds of repeated backend
 * terminations, though every request path handles the same error (503) and both libraries
 * reconnect. `warn` hears of each; any other unhandled rejection still ends the process, as
 * Node's default does.
 */
export function tolerateLostConnections(warn: (message: string) => void): void {
  process.on("unhandledRejection", (reason) => {
    if (!isConnectionError(reason)) throw reason;
    warn(`database connection lost (${connectionErrorText(reason)}); reconnecting`);
  });
}

/** What a process says of a database outage (databaseOutageLog). */
export interface DatabaseOutageLog {
  /** Says `message` when the database was reachable until now — once an outage —; true then. */
  unreachable(message: string): boolean;
  /** Says "database reachable again" when it was not. */
  reachable(): void;
}

/**
 * One line through `log` when the database becomes unreachable and one when it is back, however
 * many failures and successes are told in between: what `sonotile worker` (jobs/queue.ts) and
 * `serve`'s API (api/plugins/errors.ts) say of an outage, rather than a line per failed statement
 * or request. One per process: `serve`'s in-process job worker says its outages in its API's
 * (app.databaseOutage), which, apart, said each outage twice.
 */
export function databaseOutageLog(log: (message: string) => void): DatabaseOutageLog {
  let down = false;
  return {
    unreachable(message) {
      if (down) return false;
      down = true;
      log(message);
      return true;
    },
    reachable() {
      if (!down) return;
      down = false;
      log("database reachable again");
    },
  };
}

/** A connection error (isConnectionError) as logs give it: its code and message. */
export function connectionErrorText(err: unknown): string {
  return `${(err as { code: string }).code}: ${(err as Error).message}`;
}

/** True when `err` says the database is unreachable (answer 503, retry later). */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (CONNECTION_CODES.has(code) || code.startsWith("08"));
}
