/**
 * A whole sonotile database copied into another, empty one — the step from the embedded
 * database to a real PostgreSQL when a lab outgrows one machine. Every row of sonotile's tables
 * goes over as PostgreSQL's own COPY text (exact: timestamps to the microsecond, bytea, jsonb),
 * ids included, so tokens, links and clients' bookmarks keep working. pg_dump cannot do it here:
 * the embedded database is PostgreSQL 18 (PGlite) and a pg_dump older than its server refuses it
 * (Debian 12 has 15), and a dump would not load into an older server anyway.
 *
 * The batch-job queue (pg-boss's own schema) is not copied: a job still pending or running has
 * messages only there, so the copy is refused until none is (the target's first `serve` makes
 * a queue of its own).
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Queryable, Sql } from "./db.js";
import { ConflictError } from "./errors.js";

/** A copied table and how many rows it holds in the target. */
export interface CopiedTable {
  table: string;
  rows: number;
}

/**
 * Copies every row of `source`'s sonotile tables into `target`, in one transaction on each side
 * (the target's rows are left as they were when anything fails). Both must be at the same schema
 * version — the command migrates the target to this sonotile's and leaves the source as it is —
 * and the target must hold no rows yet.
 */
export async function copyDatabase(source: Sql, target: Sql): Promise<CopiedTable[]> {
  const [from, to] = await Promise.all([schemaVersion(source), schemaVersion(target)]);
  if (from !== to) {
    throw new ConflictError(
      `the source's schema is at version ${from} and this sonotile's at ${to}: ` +
        (from < to ? "start this sonotile's serve on the source once (it upgrades it), stop it, then copy" : "copy with the sonotile that made the source"),
    );
  }
  const tables = await tablesInDependencyOrder(target);
  const filled = [];
  for (const table of tables) if ((await target<{ any: boolean }[]>`SELECT EXISTS (SELECT 1 FROM ${target(table)}) AS any`)[0].any) filled.push(table);
  if (filled.length) throw new ConflictError(`the target database holds sonotile records already (${filled.join(", ")}): copy into an empty database (createdb)`);
  const [{ n: active }] = await source<{ n: number }[]>`SELECT count(*)::int AS n FROM jobs WHERE status IN ('pending', 'running')`;
  if (active) throw new ConflictError(`${active} job${active > 1 ? "s are" : " is"} pending or running, and the batch-job queue is not copied: let ${active > 1 ? "them" : "it"} finish, or abort ${active > 1 ? "them" : "it"} (sonotile jobs abort <id>), then copy`);

  return source.begin("isolation level repeatable read read only", (src) => target.begin(async (dst) => {
    const copied: CopiedTable[] = [];
    for (const table of tables) {
      const columns = await storedColumns(dst, table);
      // One statement per table: its foreign keys are checked at the statement's end, so rows
      // that refer to rows of their own table (users.created_by, jobs.retry_of) go in any order.
      const rows = await src.unsafe(`COPY ${quoted(table)} (${columns.map(quoted).join(", ")}) TO STDOUT`).readable();
      await pipeline(rows, await dst.unsafe(`COPY ${quoted(table)} (${columns.map(quoted).join(", ")}) FROM STDIN`).writable());
      resumeAfterCopy(rows);
      await advanceIdentities(dst, table);
      const [{ n }] = await dst<{ n: number }[]>`SELECT count(*)::int AS n FROM ${dst(table)}`;
      copied.push({ table, rows: n });
    }
    return copied;
  }));
}

/**
 * Lets the connection of a finished `COPY … TO STDOUT` read again. postgres.js (3.4.9) pauses the
 * socket when the COPY's stream holds more than its high-water mark and resumes it only from the
 * stream's read(), which Node no longer calls once the stream has ended: a COPY whose last rows came
 * with its end (a table over 16 KiB — a file's 1 MiB chunks) left the socket paused, and the
 * connection's next statement waited for ever (porsager/postgres#499; the fix proposed upstream,
 * #1016, resumes it at CopyDone). One more read() does that here.
 */
function resumeAfterCopy(rows: Readable): void {
  (rows as Readable & { _read(size: number): void })._read(0);
}

/** The newest migration applied (schema_migrations, src/store/migrate.ts). */
async function schemaVersion(db: Queryable): Promise<number> {
  const [{ v }] = await db<{ v: number }[]>`SELECT max(version)::int AS v FROM schema_migrations`;
  return v;
}

/**
 * sonotile's tables (schema public, but for schema_migrations, which each database keeps for
 * itself), each after the tables its foreign keys point to.
 */
async function tablesInDependencyOrder(db: Queryable): Promise<string[]> {
  const tables = (await db<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations' ORDER BY c.relname`).map((r) => r.name);
  const edges = await db<{ child: string; parent: string }[]>`
    SELECT ch.relname AS child, pa.relname AS parent FROM pg_constraint k
    JOIN pg_class ch ON ch.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = ch.relnamespace
    WHERE k.contype = 'f' AND n.nspname = 'public' AND k.conrelid <> k.confrelid`;
  const ordered: string[] = [];
  const visit = (table: string, path: string[]) => {
    if (ordered.includes(table)) return;
    if (path.includes(table)) throw new Error(`foreign keys form a cycle: ${[...path, table].join(" → ")}`);
    for (const e of edges) if (e.child === table) visit(e.parent, [...path, table]);
    ordered.push(table);
  };
  for (const t of tables) visit(t, []);
  return ordered;
}

/** The columns of `table` that hold values (generated ones are computed again by the target). */
async function storedColumns(db: Queryable, table: string): Promise<string[]> {
  return (await db<{ name: string }[]>`
    SELECT a.attname AS name FROM pg_attribute a
    WHERE a.attrelid = ${`public.${quoted(table)}`}::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY a.attnum`).map((r) => r.name);
}

/**
 * COPY writes identity columns (job_metrics.id) as given and leaves their sequences where they
 * were: each is moved past the copied ids, or the target's next row would take id 1 again — a
 * duplicate key at the first metric a job records after the move.
 */
async function advanceIdentities(db: Queryable, table: string): Promise<void> {
  const identities = await db<{ name: string }[]>`
    SELECT a.attname AS name FROM pg_attribute a
    WHERE a.attrelid = ${`public.${quoted(table)}`}::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> ''`;
  for (const { name } of identities) {
    // setval(…, false): the next value is max + 1 (1 in an empty table).
    await db.unsafe(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(max(${quoted(name)}), 0) + 1, false) FROM ${quoted(table)}`, [`public.${quoted(table)}`, name]);
  }
}

/** `name` as an SQL identifier. */
function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
