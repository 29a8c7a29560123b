/** Shapes shared by the repositories: pages, visibility states, sorting. */
import type { Queryable } from "./db.js";
import { ConflictError, NotFoundError } from "./errors.js";

/** A page of a listing (SPEC §5). */
export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  total: number;
}

export interface PageRequest {
  limit: number;
  offset: number;
}

/** active: normal; archived: hidden and read-only; trashed: hidden, purged later. */
export const STATES = ["active", "archived", "trashed"] as const;
export type State = (typeof STATES)[number];
/** Which records a listing shows: one state, or "all". Default listings show "active". */
export type StateFilter = State | "all";

/** Tables whose records can be archived, trashed and restored. */
export const STATEFUL_TABLES = ["datasets", "recordings", "clips", "notes", "artifacts"] as const;
export type StatefulTable = (typeof STATEFUL_TABLES)[number];

/**
 * Builds a Page from rows selected with `count(*) OVER () AS total_count` (the total in the
 * same query). Only a page past the end has no row to carry the total: then `count` runs.
 */
export async function toPage<T extends { total_count: unknown }>(
  rows: readonly T[],
  req: PageRequest,
  count: () => Promise<readonly { n: unknown }[]>,
): Promise<Page<Omit<T, "total_count">>> {
  const total = rows.length ? Number(rows[0].total_count) : req.offset > 0 ? Number((await count())[0].n) : 0;
  const items = rows.map(({ total_count: _, ...rest }) => rest);
  return { items, limit: req.limit, offset: req.offset, total };
}

/** `state = $filter` fragment (or nothing for "all") on `db`. */
export function stateCondition(db: Queryable, filter: StateFilter) {
  return filter === "all" ? db`TRUE` : db`state = ${filter}`;
}

/**
 * Moves a record between states. Archive and trash are allowed from active; restore returns
 * any record to active. The table name comes from the fixed list above, never from input.
 */
export async function setState(db: Queryable, table: StatefulTable, id: string, to: State): Promise<void> {
  const rows = await db`
    UPDATE ${db(table)} SET state = ${to}, state_changed_at = now()
    WHERE id = ${id} AND (${to} = 'active' OR state = 'active')
    RETURNING id`;
  if (rows.length) return;
  const [row] = await db`SELECT state FROM ${db(table)} WHERE id = ${id}`;
  if (!row) throw new NotFoundError(table.replace(/s$/, ""), id);
  throw new ConflictError(`${table.replace(/s$/, "")} ${id} is ${row.state}; restore it first`);
}

/** Throws 404 if the record is missing, 409 if it is archived or trashed (read-only). */
export async function assertWritable(db: Queryable, table: StatefulTable, id: string): Promise<void> {
  const [row] = await db`SELECT state FROM ${db(table)} WHERE id = ${id}`;
  if (!row) throw new NotFoundError(table.replace(/s$/, ""), id);
  if (row.state !== "active") throw new ConflictError(`${table.replace(/s$/, "")} ${id} is ${row.state} and read-only; restore it first`);
}

/** Who and what creates a record: the user, and the run (import or job) if any. */
export interface Provenance {
  created_by: string | null;
  run_id?: string | null;
}

/** `%text%` for ILIKE with the wildcards of `text` taken literally; undefined gives null (no filter). */
export function likePattern(text: string | undefined): string | null {
  return text === undefined ? null : `%${text.replace(/[\\%_]/g, "\\$&")}%`;
}

/**
 * Deletes for good the records trashed at least `olderThanSeconds` ago, in every table that
 * has a trash; returns how many went per table. Children go first (notes, clips) so a
 * trashed recording takes its clips' and notes' rows with it by cascade either way.
 */
export async function purgeTrashed(db: Queryable, olderThanSeconds: number): Promise<Record<StatefulTable, number>> {
  const purged = {} as Record<StatefulTable, number>;
  for (const table of ["notes", "clips", "artifacts", "recordings", "datasets"] as const) {
    const rows = await db`
      DELETE FROM ${db(table)}
      WHERE state = 'trashed' AND state_changed_at <= now() - make_interval(secs => ${olderThanSeconds}::float8)
      RETURNING id`;
    purged[table] = rows.length;
  }
  return purged;
}
