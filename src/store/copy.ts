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

  let copying = undefined as Promise<CopiedTable[]> | undefined; // set inside both transactions
  let copyingInto = undefined as Promise<CopiedTable[]> | undefined; // the target's transaction: set inside the source's
  try {
    return await source.begin("isolation level repeatable read read only", (src) => (copyingInto = target.begin((dst) => (copying = copyTables(src, dst, tables)))));
  } catch (err) {
    // The source lost once every table was copied (its read-only transaction ending while the
    // target commits): every row was read in its snapshot and the target has them — the copy is
    // done (it failed with a bare connection error, exit 1, and a retry was refused as "not empty").
    const committed = await copyingInto?.catch(() => undefined);
    if (committed) return committed;
    // A connection lost ends its transaction's `begin` at once, with the bare connection error
    // (its ROLLBACK cannot be sent), and maybe before the table's copy has failed too: the
    // copy's own error, which names the table, is waited for and given.
    throw (await copying?.then(() => err, (failure: unknown) => failure)) ?? err;
  }
}

/** Each of `tables` copied from `src` into `dst`, in this order; fails with the first table's TableCopyError. */
async function copyTables(src: Queryable, dst: Queryable, tables: string[]): Promise<CopiedTable[]> {
  const copied: CopiedTable[] = [];
  for (const table of tables) copied.push({ table, rows: await copyTable(src, dst, table) });
  return copied;
}

/** The database a table's copy failed on. */
type Side = "source" | "target";

/** A table's copy failed — a statement, a stream or a connection of one side: the target's transaction is rolled back. */
class TableCopyError extends Error {
  override name = "TableCopyError";
  constructor(table: string, side: Side, cause: unknown) {
    super(`table ${table} was not copied: the ${side} failed: ${(cause as Error).message}; nothing was copied (the target's transaction was rolled back), and a copy can start again`, { cause });
  }
}

/**
 * `table`'s rows streamed from `src` into `dst` as COPY text; answers how many `dst` holds. Every
 * failure is a TableCopyError naming the side it came from, and leaves neither connection inside
 * its COPY: a stream destroyed before its end has its connection read the rest and drop it, and a
 * COPY FROM STDIN refused after its last row fails (both mended in postgres.js at install,
 * scripts/patch-postgres.mjs) — the source's connection stayed paused in its COPY for good, and
 * the copy waited for ever.
 */
async function copyTable(src: Queryable, dst: Queryable, table: string): Promise<number> {
  const on = (side: Side) => (err: unknown): never => {
    throw new TableCopyError(table, side, err);
  };
  const columns = (await storedColumns(dst, table).catch(on("target"))).map(quoted).join(", ");
  // One statement per table: its foreign keys are checked at the statement's end, so rows that
  // refer to rows of their own table (users.created_by, jobs.retry_of) go in any order.
  // The stream that fails first names the side that failed (the pipeline destroys the other with
  // its error); the source's may fail while the target's COPY starts.
  let failed: Side | undefined;
  const rows = await src.unsafe(`COPY ${quoted(table)} (${columns}) TO STDOUT`).readable().catch(on("source"));
  rows.once("error", () => (failed ??= "source"));
  const into = await dst.unsafe(`COPY ${quoted(table)} (${columns}) FROM STDIN`).writable().catch((err: unknown) => {
    rows.destroy();
    return on("target")(err);
  });
  into.once("error", () => (failed ??= "target"));
  await pipeline(rows, into).catch((err: unknown) => on(failed ?? "source")(err));
  await advanceIdentities(dst, table).catch(on("target"));
  const [{ n }] = await dst<{ n: number }[]>`SELECT count(*)::int AS n FROM ${dst(table)}`.catch(on("target"));
  return n;
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
