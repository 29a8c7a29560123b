/**
 * Versioned SQL migrations (SPEC §6): `src/store/migrations/NNN_name.sql`, applied in order at
 * start, all those pending in one transaction together with their rows in `schema_migrations`, so
 * an upgrade is either fully applied and recorded or not at all: a migration that fails leaves the
 * database as the previous release had it, and that release still serves it. A transaction-scoped
 * advisory lock serializes servers starting at the same time; starting again is a no-op. An
 * upgrade that loses a deadlock runs again (DEADLOCK_ATTEMPTS); one that fails otherwise is a
 * MigrationError naming the migration.
 */
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Sql } from "./db.js";

/**
 * The SQL files are not compiled: from src/store/ and from dist/store/ alike, two levels up
 * is the package root, whose src/store/migrations ships with the package.
 */
const MIGRATIONS_DIR = fileURLToPath(new URL("../../src/store/migrations/", import.meta.url));

/** An arbitrary constant naming sonotile's migration lock among advisory locks. */
const MIGRATION_LOCK = 0x736f6e6f; // "sono"

/**
 * How often an upgrade that lost a deadlock (SQLSTATE 40P01) is run again. An older sonotile's
 * worker left running through an upgrade holds job_items while it writes a group's feature values;
 * 021, holding clip_features and waiting for job_items, deadlocked with it (PostgreSQL 15, a worker
 * settling items of a 3,000-clip job), and PostgreSQL aborts whichever of the two checks first: the
 * new server then ended at start with `deadlock detected`. The other transaction ends once the
 * deadlock is broken, so the next run finds the locks free.
 */
const DEADLOCK_ATTEMPTS = 5;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Statements that cannot run inside the one transaction all pending migrations run in, or that
 * would end it (applyPending): PostgreSQL refuses the first ("cannot run inside a transaction
 * block"), and a COMMIT would record part of an upgrade as the rest fails. Each is matched against
 * a statement's words with its comments, strings and dollar-quoted bodies (a function's BEGIN …
 * END) left out.
 */
const OUTSIDE_TRANSACTION: readonly [RegExp, string][] = [
  [/^(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX)\b[\s\S]*\bCONCURRENTLY\b/i, "CONCURRENTLY"],
  // PostgreSQL 12+ runs it in a transaction, but its value cannot be used before that commits —
  // and the migrations after it run in the same transaction.
  [/^ALTER\s+TYPE\b[\s\S]*\bADD\s+VALUE\b/i, "ALTER TYPE … ADD VALUE (a value no later migration of the upgrade could use)"],
  [/^VACUUM\b/i, "VACUUM"],
  [/^(?:CREATE|DROP)\s+(?:DATABASE|TABLESPACE)\b|^ALTER\s+SYSTEM\b/i, "a database-wide command (CREATE/DROP DATABASE or TABLESPACE, ALTER SYSTEM)"],
  [/^(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\b/i, "a transaction's own BEGIN, COMMIT or ROLLBACK"],
];

/**
 * What statementWords takes out of a statement's words, the first that starts where it is met: a
 * line comment, a block comment's opening (the comment runs to its own end: blockCommentEnd), an
 * escape string, a string constant, a quoted identifier, a dollar-quoted body.
 */
const NOT_WORDS = /--[^\n]*|\/\*|\b[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*"|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g;

/**
 * Where the block comment opening at `start` (its `/*`) ends, past the `*\/` that closes it:
 * PostgreSQL nests them, so `/* a /* b *\/ still comment *\/` is one comment. Read to its first
 * `*\/`, the rest was taken for words — a COMMIT in it for a statement, and a statement after it
 * for part of the comment's tail, let through. One never closed runs to the end (PostgreSQL
 * refuses it when it runs).
 */
function blockCommentEnd(sql: string, start: number): number {
  const delimiters = /\/\*|\*\//g;
  delimiters.lastIndex = start;
  let depth = 0;
  for (let m = delimiters.exec(sql); m; m = delimiters.exec(sql)) {
    depth += m[0] === "/*" ? 1 : -1;
    if (depth === 0) return delimiters.lastIndex;
  }
  return sql.length;
}

/**
 * `sql`'s statements as PostgreSQL reads their words: comments left out (block comments nested:
 * blockCommentEnd), and string constants (escape strings E'…\'…' too), quoted identifiers and
 * dollar-quoted bodies shortened to their quotes around … (`'…'`, `$…$`). A SQL-standard function
 * body (BEGIN ATOMIC … END) is one statement with the function that holds it, its own `;` and END
 * included.
 */
function statementWords(sql: string): string[] {
  let blanked = "";
  let from = 0;
  NOT_WORDS.lastIndex = 0;
  for (let m = NOT_WORDS.exec(sql); m; m = NOT_WORDS.exec(sql)) {
    const token = m[0];
    const end = token === "/*" ? blockCommentEnd(sql, m.index) : NOT_WORDS.lastIndex;
    blanked += sql.slice(from, m.index) + (token.startsWith("--") || token === "/*" ? " " : /^[Ee]'/.test(token) ? "'…'" : `${token[0]}…${token[0]}`);
    from = NOT_WORDS.lastIndex = end;
  }
  blanked += sql.slice(from);
  const statements: string[] = [];
  let atomic: string[] | null = null;
  for (const part of blanked.split(";").map((s) => s.trim())) {
    if (atomic) {
      atomic.push(part);
      if (/^END$/i.test(part)) { statements.push(atomic.join("; ")); atomic = null; }
    } else if (/\bBEGIN\s+ATOMIC\b/i.test(part)) atomic = [part];
    else if (part) statements.push(part);
  }
  if (atomic) statements.push(atomic.join("; "));
  return statements;
}

/** `text` as a message quotes it: its first 60 characters, and … when there are more. */
const shortened = (text: string) => (text.length > 60 ? `${text.slice(0, 60)}…` : text);

/** Throws naming `file` when one of `sql`'s statements cannot run in the upgrade's transaction (OUTSIDE_TRANSACTION). */
function refuseOutsideTransaction(file: string, sql: string): void {
  statementWords(sql).forEach((statement, i) => {
    const found = OUTSIDE_TRANSACTION.find(([pattern]) => pattern.test(statement));
    if (found) throw new Error(`migration file ${file}: statement ${i + 1} (${shortened(statement.replace(/\s+/g, " "))}) uses ${found[1]}, which cannot run inside the one transaction all pending migrations run in, or would end it: make it a statement that can (CREATE INDEX without CONCURRENTLY, a new type instead of ADD VALUE), or leave it to an operator`);
  });
}

/**
 * The migrations on disk, ordered by version; a malformed name, a duplicate version or a statement
 * that cannot run in the upgrade's transaction (refuseOutsideTransaction) throws naming the file.
 */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file ${file} must be named NNN_name.sql`);
    const version = Number(m[1]);
    if (migrations.some((x) => x.version === version)) throw new Error(`two migrations have version ${m[1]}`);
    const sql = await readFile(`${dir}/${file}`, "utf8");
    refuseOutsideTransaction(file, sql);
    migrations.push({ version, name: m[2], sql });
  }
  return migrations;
}

/** The file a migration is read from, as its name is written there: `017_user_created_by.sql`. */
export function migrationFile(migration: Migration): string {
  return `${String(migration.version).padStart(3, "0")}_${migration.name}.sql`;
}

/**
 * A migration that PostgreSQL refused (an object of the lab's own that depends on a column it
 * drops, a row an older sonotile accepted that a new check refuses, a statement_timeout, a full
 * disk): the upgrade rolled back whole. The database's words alone (`cannot drop column duration of
 * table recordings because other objects depend on it`) named neither the migration nor what was
 * left behind.
 */
export class MigrationError extends Error {
  override name = "MigrationError";
  /** The cause's SQLSTATE or socket error code: a lost connection is still one (serve and worker wait for the database). */
  readonly code?: string;
  /**
   * @param migration the migration that failed
   * @param schemaVersion the version the database's schema stays at, as it was before this start
   * @param cause PostgreSQL's error, whose DETAIL and HINT say what to change
   */
  constructor(migration: Migration, schemaVersion: number, cause: Error & { detail?: string; hint?: string }) {
    const said = [cause.message, cause.detail && `DETAIL: ${cause.detail}`, cause.hint && `HINT: ${cause.hint}`].filter(Boolean).join("; ");
    super(`migration ${migrationFile(migration)} failed and the whole upgrade was rolled back: the database stays as it was, its schema at version ${schemaVersion} (the sonotile that served it still can); remove the cause and start again. PostgreSQL said: ${said}`, { cause });
    this.code = (cause as { code?: string }).code;
  }
}

/**
 * Applies the migrations of `all` that schema_migrations lacks, in one transaction with their rows
 * there; returns the versions applied. `failing.migration` names the one running when it throws.
 */
async function applyPending(sql: Sql, all: Migration[], failing: { migration?: Migration; schemaVersion: number }, onApplying?: (migration: Migration) => void): Promise<number[]> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    // Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
    await tx`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`;
    const applied = new Set((await tx<{ version: number }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
    const newest = Math.max(0, ...applied);
    // A database a newer sonotile migrated (instances upgraded one by one share it): this one
    // would read and write tables it does not know the shape of.
    const known = Math.max(0, ...all.map((m) => m.version));
    if (newest > known) throw new Error(`the database's schema is at version ${newest}, newer than this sonotile knows (${known}): run the sonotile release that migrated it (or a newer one)`);
    failing.schemaVersion = newest;
    const pending = all.filter((m) => !applied.has(m.version));
    for (const migration of pending) {
      failing.migration = migration;
      onApplying?.(migration);
      // Several statements per file: the simple query protocol runs them as one script.
      await tx.unsafe(migration.sql).simple();
      await tx`INSERT INTO schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
    }
    return pending.map((m) => m.version);
  });
}

/**
 * Applies the pending migrations; returns the versions applied by this call.
 * @param onApplying hears each migration as it begins (one may rewrite a large table for minutes)
 */
export async function migrate(sql: Sql, migrations?: Migration[], onApplying?: (migration: Migration) => void): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  for (let attempt = 1; ; attempt++) {
    const failing: { migration?: Migration; schemaVersion: number } = { schemaVersion: 0 };
    try {
      return await applyPending(sql, all, failing, onApplying);
    } catch (err) {
      if (!failing.migration) throw err;
      if ((err as { code?: string }).code === "40P01" && attempt < DEADLOCK_ATTEMPTS) continue; // deadlock_detected
      throw new MigrationError(failing.migration, failing.schemaVersion, err as Error);
    }
  }
}
