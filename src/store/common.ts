/** Shapes shared by the repositories: pages, visibility states, sorting. */
import type postgres from "postgres";
import type { Queryable, Sql } from "./db.js";
import { ConflictError, NotFoundError, translating } from "./errors.js";

/**
 * Bytes per row where the database keeps large values in pieces (file_chunks, migration 003;
 * recording_stats_chunks, 010 — their CHECKs allow up to 1 MiB): a row, and what a server holds of
 * it at once, stays small, and the embedded database answers other queries between the pieces.
 */
export const CHUNK_BYTES = 1 << 20;

/** `bytes` as consecutive pieces of at most CHUNK_BYTES, numbered from 0 (views, not copies). */
export function* chunksOf(bytes: Uint8Array): Generator<[number, Buffer]> {
  for (let chunk = 0; chunk * CHUNK_BYTES < bytes.length; chunk++) {
    yield [chunk, Buffer.from(bytes.buffer, bytes.byteOffset + chunk * CHUNK_BYTES, Math.min(CHUNK_BYTES, bytes.length - chunk * CHUNK_BYTES))];
  }
}

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

/**
 * active: normal; archived: hidden and read-only; trashed: hidden, purged later. Ordered from
 * least to most hidden: a record's effective state is the most hidden of its own and its
 * parents' (see joinedLineage).
 */
export const STATES = ["active", "archived", "trashed"] as const;
export type State = (typeof STATES)[number];
/** Which records a listing shows: one state, or "all". Default listings show "active". */
export type StateFilter = State | "all";

/** Tables whose records can be archived, trashed and restored (jobs since migration 019). */
const STATEFUL_TABLES = ["datasets", "recordings", "clips", "notes", "artifacts", "jobs"] as const;
export type StatefulTable = (typeof STATEFUL_TABLES)[number];

/** A piece of SQL to embed in a query. */
export type Fragment = postgres.PendingQuery<postgres.Row[]>;

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

/** A listing to page through (pageFirst): which rows, built how, in what order. */
export interface Listing extends PageRequest {
  /** The table listed, and the alias that `where` and `select` give its rows. */
  table: StatefulTable;
  alias: string;
  /** The rows listed by effective state (joinedLineage): what people see, their parents' states included. */
  state: StateFilter;
  /** The rows listed, of that state: a condition on the table's row `alias`. */
  where: Fragment;
  /** A listed row built whole (tags, features and such aggregated): `SELECT … FROM <table> <alias>`, nothing after. */
  select: Fragment;
  /** The column sorted by, one of the listing's fixed sorts (checked by the route); the id breaks ties. */
  sort: string;
  order: "asc" | "desc";
  /** Rows without a value come last whichever the order (a recording's date); else PostgreSQL's default. */
  nullsLast: boolean;
}

/**
 * One page of a listing, with its total (toPage). The page's ids are chosen first, with the total,
 * from the table alone; then only those rows are built. Built in the rows sorted, every row before
 * the offset had its aggregates computed too: a page at offset 29,000 of a 30,000-recording
 * dataset built 29,100 recordings' (~1 s), and the viewer's window of 1,000 clips (five pages)
 * built ~3,000 clips'.
 *
 * The state filter reads the listed rows' parents through joins (joinedLineage), not by lookups
 * for each row: the total counts every row that matches, and the lookups cost ~8 µs a row — 170
 * of the 200 ms of a clips page at 20,000 clips.
 */
export async function pageFirst<T>(db: Queryable, l: Listing): Promise<Page<T>> {
  const order = (alias: string) =>
    db`${db(alias)}.${db(l.sort)} ${l.order === "desc" ? db`DESC` : db`ASC`} ${l.nullsLast ? db`NULLS LAST` : db``}, ${db(alias)}.id`;
  const lineage = joinedLineage(db, l.table, l.alias);
  const from = db`${db(l.table)} ${db(l.alias)} ${lineage.joins} WHERE ${lineage.inState(l.state)} AND ${l.where}`;
  const rows = await translating(() => db<(T & { total_count: number })[]>`
    WITH page AS (
      SELECT ${db(l.alias)}.id, count(*) OVER () AS total_count FROM ${from}
      ORDER BY ${order(l.alias)} LIMIT ${l.limit} OFFSET ${l.offset})
    SELECT s.*, page.total_count FROM page JOIN (${l.select}) s ON s.id = page.id
    ORDER BY ${order("s")}`);
  // toPage drops total_count, which TypeScript cannot see gives back T for a T not yet known.
  return toPage(rows, l, () => db`SELECT count(*) AS n FROM ${from}`) as Promise<Page<T>>;
}

/**
 * `condition(value)` for a filter given, TRUE for one not. Each filter is a condition of its own
 * in the query's AND, not `($1 IS NULL OR …)`: the planner then sees it whole — a dataset's
 * `IN (SELECT …)` becomes a join through the indexes, where under an OR it was a test of every
 * row (clips of one dataset among 50,000: 0.3 ms, 9 ms under the OR).
 */
export function given<T>(db: Queryable, value: T | undefined, condition: (v: T) => Fragment): Fragment {
  return value === undefined ? db`TRUE` : condition(value);
}

/** A record's parent: the column holding the parent's id and the parent's table. */
interface Parent {
  column: string;
  table: StatefulTable;
}

/**
 * What each record belongs to: the column holding the parent's id and the parent's table
 * (a note hangs off a recording, a clip or nothing). Archiving or trashing a record reaches
 * everything below it through this map — see joinedLineage.
 */
const PARENTS: Record<StatefulTable, readonly Parent[]> = {
  datasets: [],
  recordings: [{ column: "dataset_id", table: "datasets" }],
  clips: [{ column: "recording_id", table: "recordings" }],
  notes: [{ column: "recording_id", table: "recordings" }, { column: "clip_id", table: "clips" }],
  artifacts: [],
  jobs: [],
};

/** A row's lineage joined (joinedLineage): what it belongs to, and its effective state as plain comparisons. */
export interface JoinedLineage {
  /** The LEFT JOINs of the row's parents, to follow `FROM <table> <alias>`. */
  joins: Fragment;
  /** SQL condition: the row's effective state is `filter` (TRUE for "all"); see lineageInState. */
  inState(filter: StateFilter): Fragment;
  /**
   * The alias of a parent joined, reached from the row through `columns` in turn: ("recording_id",
   * "dataset_id") is the dataset of a clip's recording — for queries that read more of it than its state.
   */
  parent(...columns: string[]): string;
}

/**
 * What the `table` row aliased `alias` belongs to, joined (LEFT JOIN: a note on nothing stays), and
 * the row's effective state (SPEC §5) from the states of the row and of each thing joined: its own
 * state, unless something it belongs to (dataset → recording → clip; a note's recording or clip) is
 * more hidden. Archiving a dataset thus hides and freezes its recordings, their clips and notes
 * without writing their own `state` — so a restore brings back exactly what was there, and what was
 * archived or trashed on its own stays so. For queries of many rows (listings, a job's targets and
 * its retry's), the planner joins each parent table once (a clips page of one recording reads that
 * recording once): looked up for every row, as correlated subqueries, the parents cost ~8 µs a row.
 * A parent's alias is its child's followed by the column naming it (`c_recording_id_dataset_id`:
 * the dataset of clip c's recording); the state of a parent there is none of (a note's clip_id
 * null) is null.
 */
export function joinedLineage(db: Queryable, table: StatefulTable, alias: string): JoinedLineage {
  const { joins, states } = lineageJoins(db, table, alias);
  return { joins, inState: (filter) => lineageInState(db, states, filter), parent: (...columns) => columns.reduce(parentAlias, alias) };
}

/** The alias lineageJoins gives the parent that column `column` of the row aliased `alias` names. */
const parentAlias = (alias: string, column: string) => `${alias}_${column}`;

/** joinedLineage's joins, and the states of the row and of each parent joined. */
function lineageJoins(db: Queryable, table: StatefulTable, alias: string): { joins: Fragment; states: Fragment[] } {
  const parents = PARENTS[table].map((p) => {
    const parent = parentAlias(alias, p.column);
    const above = lineageJoins(db, p.table, parent);
    return { joins: db`LEFT JOIN ${db(p.table)} ${db(parent)} ON ${db(parent)}.id = ${db(alias)}.${db(p.column)} ${above.joins}`, states: above.states };
  });
  return { joins: parents.reduce((all, p) => db`${all} ${p.joins}`, db``), states: [db`${db(alias)}.state`, ...parents.flatMap((p) => p.states)] };
}

/**
 * SQL condition: a record whose lineage (joinedLineage) has these `states` has the effective state
 * `filter` (TRUE for "all") — the most hidden of them (by their order in STATES) is `filter` when
 * none is more hidden and one is `filter`. Plain comparisons of each state, as a filter of the
 * joined rows: picking the most hidden by array arithmetic, row by row, took 40 of 70 ms of a clips
 * page at 20,000 clips.
 */
function lineageInState(db: Queryable, states: Fragment[], filter: StateFilter): Fragment {
  if (filter === "all") return db`TRUE`;
  const notMoreHidden = STATES.slice(0, STATES.indexOf(filter) + 1);
  const conditions = [
    // The row's own state (states[0], NOT NULL) as it is; a parent there is none of hides nothing.
    // `IS NULL OR`, not COALESCE: the planner estimates a function's result at 0.5% of the rows, and
    // joined the rest of 100,000 notes by nested loops. On the row's own column it would test
    // nothing and only blur the planner's estimate of the rows.
    ...(notMoreHidden.length < STATES.length
      ? states.map((s, i) => (i === 0 ? db`${s} IN ${db(notMoreHidden)}` : db`(${s} IN ${db(notMoreHidden)} OR ${s} IS NULL)`))
      : []),
    ...(filter !== STATES[0] ? [db`${filter} IN (${states.reduce((all, s) => db`${all}, ${s}`)})`] : []),
  ];
  return conditions.reduce((all, c) => db`${all} AND ${c}`);
}

/**
 * `state = $filter` fragment (or nothing for "all") on `db`, for records that belong to nothing
 * (datasets, jobs, artifacts). Listings of records that belong to others (pageFirst) filter by
 * effective state: a clip of an archived recording is listed with the archived records, whatever
 * its own column says.
 */
export function stateCondition(db: Queryable, filter: StateFilter) {
  return filter === "all" ? db`TRUE` : db`state = ${filter}`;
}

/** A record and what it belongs to, nearest first; empty when the record does not exist. */
async function lineage(db: Queryable, table: StatefulTable, id: string): Promise<{ table: StatefulTable; id: string; state: State }[]> {
  const chain: { table: StatefulTable; id: string; state: State }[] = [];
  let at: { table: StatefulTable; id: string } | undefined = { table, id };
  while (at) {
    const parents: readonly Parent[] = PARENTS[at.table];
    // FOR SHARE: in a transaction (see `writing`) the record and its parents keep their states until it ends.
    const rows: postgres.Row[] = await db`SELECT ${db(["state", ...parents.map((p) => p.column)])} FROM ${db(at.table)} WHERE id = ${at.id} FOR SHARE`;
    const row = rows[0];
    if (!row) break;
    chain.push({ ...at, state: row.state });
    const parent: Parent | undefined = parents.find((p) => row[p.column] !== null);
    at = parent && { table: parent.table, id: row[parent.column] };
  }
  return chain;
}

const singular = (table: StatefulTable) => table.replace(/s$/, "");

/**
 * Refuses (409) to change a record under a hidden parent, naming each hidden one: its
 * contents are read-only until the parent is restored. Returns the record's own state.
 */
async function ownStateUnderVisibleParents(db: Queryable, table: StatefulTable, id: string, doing: string): Promise<State> {
  const [self, ...above] = await lineage(db, table, id);
  if (!self) throw new NotFoundError(singular(table), id);
  const hidden = above.filter((a) => a.state !== "active");
  if (hidden.length) {
    const which = hidden.map((a) => `its ${singular(a.table)} ${a.id} is ${a.state}`).join(" and ");
    throw new ConflictError(`${singular(table)} ${id} ${doing}: ${which}; restore ${hidden.length > 1 ? "them" : "it"} first`);
  }
  return self.state;
}

/**
 * Moves a record between states. Archive and trash are allowed from active; restore returns
 * any record to active (an active one stays as it was, its state_changed_at too: a restore
 * repeated, or one of a record that was never hidden, changes nothing). Under an archived or
 * trashed parent nothing moves (409): the parent froze its contents, and a restore there would
 * not make the record visible anyway. The table name comes from the fixed list above, never
 * from input.
 *
 * One transaction that locks the record FOR UPDATE, then its parents FOR SHARE (lineage): a
 * parent's archive waits for it and the other way round, and changes of one record queue. As
 * separate statements, a trash that had passed the check landed under a dataset archived
 * meanwhile, and a refusal could read "is active; restore it first".
 */
export async function setState(db: Queryable, table: StatefulTable, id: string, to: State): Promise<void> {
  await inTransaction(db, async (tx) => {
    const [self] = await tx`SELECT state FROM ${tx(table)} WHERE id = ${id} FOR UPDATE`;
    if (!self) throw new NotFoundError(singular(table), id);
    await ownStateUnderVisibleParents(tx, table, id, `cannot be ${to === "active" ? "restored" : to} now`);
    if (to !== "active" && self.state !== "active") throw new ConflictError(`${singular(table)} ${id} is ${self.state}; restore it first`);
    if (to !== "active") await refuseHidingWorkUnderWay(tx, table, id, to);
    if (self.state !== to) await tx`UPDATE ${tx(table)} SET state = ${to}, state_changed_at = now() WHERE id = ${id}`;
  });
}

/**
 * Refuses (409) to archive or trash a job that is pending or running: its workers still write its
 * items, progress, status and metrics, which an archive would freeze, and a hidden job would do
 * work nobody sees. Its status only moves on from there (store/jobs.ts), so once ended it stays so.
 * Nor is a job trashed while a retry of it (or of its retries) is pending or running: its purge
 * would cut that retry from the chain a later retry reads (retry_of set null), which then ran
 * again, at the same time, the items the unfinished retry holds.
 */
async function refuseHidingWorkUnderWay(db: Queryable, table: StatefulTable, id: string, to: State): Promise<void> {
  if (table !== "jobs") return;
  const [job] = await db<{ status: string }[]>`SELECT status FROM jobs WHERE id = ${id}`;
  if (job.status === "pending" || job.status === "running") {
    throw new ConflictError(`job ${id} is ${job.status} and cannot be ${to}: abort it first (POST /v1/jobs/${id}/abort, sonotile jobs abort), or wait for it to end`);
  }
  if (to !== "trashed") return;
  const [retry] = await db<{ id: string; status: string }[]>`
    WITH RECURSIVE retries AS (
      SELECT id, status FROM jobs WHERE retry_of = ${id}
      UNION ALL SELECT j.id, j.status FROM jobs j JOIN retries r ON j.retry_of = r.id
    )
    SELECT id, status FROM retries WHERE status IN ('pending', 'running') LIMIT 1`;
  if (retry) {
    throw new ConflictError(`job ${id} cannot be trashed while its retry ${retry.id} is ${retry.status}: a purge would cut that retry from its chain; wait for it to end or abort it (POST /v1/jobs/${retry.id}/abort)`);
  }
}

/** Runs `run` in `db`'s transaction when it is one (postgres.js gives it a savepoint()), else in a new one. */
export function inTransaction<T>(db: Queryable, run: (tx: Queryable) => Promise<T>): Promise<T> {
  return "savepoint" in db ? run(db) : ((db as Sql).begin(run) as Promise<T>);
}

/**
 * Throws 404 if the record is missing, 409 if it is archived or trashed (read-only) — itself
 * or anything it belongs to (its dataset, recording or clip): see joinedLineage.
 */
export async function assertWritable(db: Queryable, table: StatefulTable, id: string): Promise<void> {
  const state = await ownStateUnderVisibleParents(db, table, id, "is read-only");
  if (state !== "active") throw new ConflictError(`${singular(table)} ${id} is ${state} and read-only; restore it first`);
}

/**
 * Runs `write` on a record that is writable (assertWritable) and stays so until `write` is done:
 * in one transaction — the caller's when `db` is one (a job item's, clip creation's), else one of
 * its own — that first locks the record and everything it belongs to FOR SHARE. An archive or
 * trash of any of them (setState's UPDATE) then waits for the write to commit, and a write that
 * comes after one sees it (409). A check and a write as separate statements let writes land up
 * to 18 ms after an archive had made the record read-only.
 */
export async function writing<T>(db: Queryable, table: StatefulTable, id: string, write: (tx: Queryable) => Promise<T>): Promise<T> {
  return inTransaction(db, async (tx) => {
    await assertWritable(tx, table, id);
    return write(tx);
  });
}

/**
 * `writing` for a write that updates the record's own row: the row is locked FOR NO KEY UPDATE
 * first, so such writes of one record queue. Under FOR SHARE alone two of them both held the row
 * and then each waited for the other's to update it — PostgreSQL's "deadlock detected", a 500
 * (24 PATCHes at once of one dataset or note on PostgreSQL: 22 answered 500; 16 refreshes of one
 * recording: 15). Writes of records under it (FOR KEY SHARE of their foreign key) are not held up.
 */
export async function updating<T>(db: Queryable, table: StatefulTable, id: string, write: (tx: Queryable) => Promise<T>): Promise<T> {
  return inTransaction(db, async (tx) => {
    await tx`SELECT 1 FROM ${tx(table)} WHERE id = ${id} FOR NO KEY UPDATE`;
    return writing(tx, table, id, write);
  });
}

/** Who and what creates a record: the user, and the run (import or job) if any. */
export interface Provenance {
  created_by: string | null;
  run_id?: string | null;
}

/**
 * `%text%` for ILIKE with the wildcards of `text` taken literally; undefined gives null (no filter).
 * In Unicode NFC, as names, tags and feature names are stored: "Café" typed with a combining
 * accent finds the "Café" typed without. Recording paths, stored as the files are named, are
 * matched in both forms (listRecordings).
 */
export function likePattern(text: string | undefined, form: "NFC" | "NFD" = "NFC"): string | null {
  return text === undefined ? null : `%${text.normalize(form).replace(/[\\%_]/g, "\\$&")}%`;
}

/**
 * Deletes for good the records trashed at least `olderThanSeconds` ago, in every table that
 * has a trash; returns how many went per table. Children go first (notes, clips) so a
 * trashed recording takes its clips' and notes' rows with it by cascade either way. A purged
 * artifact's file stays for artifact cleanup to delete a grace period later (migration 015), so a
 * download of it under way finishes. A purged job takes its items and metrics (cascade); its
 * artifacts, the feature values it wrote and its run stay (migration 019).
 */
export async function purgeTrashed(db: Queryable, olderThanSeconds: number): Promise<Record<StatefulTable, number>> {
  const purged = {} as Record<StatefulTable, number>;
  for (const table of ["notes", "clips", "artifacts", "recordings", "datasets", "jobs"] as const) {
    const rows = await db`
      DELETE FROM ${db(table)}
      WHERE state = 'trashed' AND state_changed_at <= now() - make_interval(secs => ${olderThanSeconds}::float8)
      RETURNING id`;
    purged[table] = rows.length;
  }
  return purged;
}
