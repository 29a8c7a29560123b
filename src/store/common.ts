/** Shapes shared by the repositories: pages, visibility states, sorting, record ids. */
import { createHash } from "node:crypto";
import type postgres from "postgres";
import { z } from "zod";
import type { Queryable, Sql } from "./db.js";
import { BusyError, ConflictError, invalid, NotFoundError, translating } from "./errors.js";

/**
 * Bytes per row where the database keeps large values in pieces (file_chunks, migration 003;
 * recording_stats_chunks, 010, and recording_stats_overview_chunks, 023 — their CHECKs allow up to
 * 1 MiB): a row, and what a server holds of it at once, stays small, and the embedded database
 * answers other queries between the pieces.
 */
export const CHUNK_BYTES = 1 << 20;

/** `bytes` as consecutive pieces of at most CHUNK_BYTES, numbered from 0 (views, not copies). */
export function* chunksOf(bytes: Uint8Array): Generator<[number, Buffer]> {
  for (let chunk = 0; chunk * CHUNK_BYTES < bytes.length; chunk++) {
    yield [chunk, Buffer.from(bytes.buffer, bytes.byteOffset + chunk * CHUNK_BYTES, Math.min(CHUNK_BYTES, bytes.length - chunk * CHUNK_BYTES))];
  }
}

/**
 * What a record id must be, as zod's z.uuid() checks it: "must be a UUID" refused
 * `00000000-0000-0000-0000-000000000001` (version 0) and `…-4000-0000-…` (variant 0) unexplained.
 */
export const UUID_RULE = "must be an RFC 9562 UUID: 8-4-4-4-12 hex digits, the 13th (the version) 1 to 8 and the 17th (the variant) 8, 9, a or b — or the nil or max UUID (all 0, all f)";

/**
 * A record id as the edges take it (the API's ids, a job's targets), lower-cased: a UUID is
 * case-insensitive (RFC 9562), and PostgreSQL finds a record by either case, but ids compared as
 * text did not — a clip table imported into a recording named in capitals answered 404 for the
 * recording it had just read, and a job's target named in capitals was "no recording".
 */
export const recordId = z.uuid({ error: UUID_RULE }).toLowerCase();

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
  const items = rows.map(({ total_count: _, ...rest }) => rest);
  return { items, limit: req.limit, offset: req.offset, total: await pageTotal(rows, req, count) };
}

/** The total of a page's rows selected with `count(*) OVER () AS total_count`; `count` runs for a page past the end alone. */
async function pageTotal(rows: readonly { total_count?: unknown }[], req: PageRequest, count: () => Promise<readonly { n: unknown }[]>): Promise<number> {
  return rows.length ? Number(rows[0].total_count) : req.offset > 0 ? Number((await count())[0].n) : 0;
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
  /** The column sorted by, one of the listing's fixed sorts (checked by the route). */
  sort: string;
  /**
   * The columns that break its ties, in turn and in the same order (a recording's date by its time,
   * then its path); the id breaks the last ties. By the id alone, a night's recordings of one date
   * came in the order of their random ids: paged the same every time, but in no order a person sees.
   */
  then: readonly string[];
  order: "asc" | "desc";
  /**
   * The columns of `sort` and `then` whose rows without a value come last whichever the order (a
   * recording's date): `NULLS LAST` is written for these alone — on a NOT NULL column it changes
   * no order but keeps an index from serving a descending one (`path DESC NULLS LAST`: a Seq Scan
   * and a Sort). Others' NULLs go where PostgreSQL puts them. A keyset listing names every column
   * that may be NULL here: afterCursor writes the others' comparisons without their NULL case,
   * so that an index on the column can start the page at the cursor.
   */
  nullsLast: readonly string[];
  /**
   * Keyset paging: pages carry the cursor of their last row (KeysetPage), and `after`, one such
   * cursor, makes the page the rows after that row instead of those at `offset`. Undefined for a
   * listing paged by offset alone.
   */
  keyset?: Keyset;
}

export interface Keyset {
  after?: string;
  /**
   * Everything `where` selects by, as JSON (its values in a fixed order): a cursor carries their
   * digest with the state's, and one of other filters is refused — followed, it began the page
   * after a row of another listing, whose rows before it were skipped unseen.
   */
  filters: unknown;
}

/**
 * A page of a listing that pages by keyset too (Listing.keyset). A page after a cursor counts
 * nothing — counting every row of the listing for each page made the pages of a whole listing
 * quadratic, as the offset did — so its `total` and `offset` are null; a page without one has them.
 */
export interface KeysetPage<T> extends Omit<Page<T>, "total" | "offset"> {
  total: number | null;
  offset: number | null;
  /** Opaque: given back as the cursor (Listing.keyset.after), the page after this one; null when no row follows it. */
  next_cursor: string | null;
}

/**
 * Where a keyset page begins: after the row of these sort keys (the listing's sort, then its tie
 * breaks) and this id. The keys are PostgreSQL's text of the values, which reads back as the same
 * value — a timestamp's microseconds, a float8's every digit — where their JavaScript form did not
 * (a created_at parsed to milliseconds would seek past the rows of its millisecond). Carries its
 * sort, order and filters' digest, so that a cursor of another listing is refused, not followed.
 */
interface Cursor {
  sort: string;
  order: "asc" | "desc";
  filters: string;
  keys: (string | null)[];
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.sort, c.order, c.filters, c.keys, c.id])).toString("base64url");
}

/**
 * A cursor's digest of its listing's state and filters (Keyset.filters): 12 characters of base64url
 * (72 bits of SHA-256), enough that filters changed by mistake never match; it guards no secret.
 */
export function cursorFiltersDigest(state: StateFilter, filters: unknown): string {
  return createHash("sha256").update(JSON.stringify([state, filters])).digest("base64url").slice(0, 12);
}

const NOT_A_CURSOR = "is not a cursor: give a next_cursor of this listing, or page by offset";

/**
 * `text` as a cursor of listing `l` (its sort, order, filters and keys), else a 400 naming
 * `cursor`. Its keys are read as their columns' types in a statement of their own (the table's row
 * type, json_populate_record): a key PostgreSQL cannot read is the cursor's fault, where a value
 * the listing's query cannot read (a filter's) is named as it is without a cursor.
 */
async function decodeCursor(db: Queryable, text: string, l: Listing & { keyset: Keyset }): Promise<Cursor> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw invalid("cursor", NOT_A_CURSOR);
  }
  const [sort, order, filters, keys, id] = Array.isArray(parsed) && parsed.length === 5 ? parsed : [];
  if (typeof sort !== "string" || typeof order !== "string" || typeof filters !== "string" || !Array.isArray(keys) || !recordId.safeParse(id).success) throw invalid("cursor", NOT_A_CURSOR);
  // The listing it was made by, before its keys: they are that sort's, as many as it has (a
  // cursor of sort=path, one key, given to sort=date, three, was "not a cursor").
  if (sort !== l.sort || order !== l.order) throw invalid("cursor", `was given by a listing of sort=${sort} order=${order}, not sort=${l.sort} order=${l.order}`);
  const columns = [l.sort, ...l.then];
  if (keys.length !== columns.length || !keys.every((k) => k === null || typeof k === "string")) throw invalid("cursor", NOT_A_CURSOR);
  if (filters !== cursorFiltersDigest(l.state, l.keyset.filters)) throw invalid("cursor", "was made for other filters: give it with the filters and state of the page that gave it");
  const row = JSON.stringify(Object.fromEntries(columns.map((column, i) => [column, keys[i]])));
  try {
    await db`SELECT FROM json_populate_record(NULL::${db(l.table)}, ${row}::text::json)`;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("22")) throw invalid("cursor", NOT_A_CURSOR);
    throw err;
  }
  return { sort: l.sort, order: l.order, filters, keys, id: recordId.parse(id) };
}

/**
 * SQL: the row `alias` comes after the cursor's row in pageFirst's ORDER BY (each key in the order
 * asked, its NULLs last — a keyset listing names every nullable column in Listing.nullsLast; then
 * the id, ascending). Written out key by key, not as a row comparison `(a, b) > (x, y)`, which
 * knows neither a descending key beside the ascending id nor NULLs; the first key's bound stated
 * alone too (`path >= x`), which an index starts the page at. A key's text is an untyped
 * parameter, which PostgreSQL reads as the column's type.
 */
function afterCursor(db: Queryable, l: Listing, c: Cursor): Fragment {
  const [greater, atLeast] = l.order === "desc" ? [db`<`, db`<=`] : [db`>`, db`>=`];
  const col = (column: string) => db`${db(l.alias)}.${db(column)}`;
  /** The row's `column` beyond the cursor's `value` (after it in the order: a NULL is after every value, and nothing after it). */
  const beyond = (column: string, value: string | null) => {
    if (value === null) return db`FALSE`;
    return l.nullsLast.includes(column) ? db`(${col(column)} ${greater} ${value} OR ${col(column)} IS NULL)` : db`${col(column)} ${greater} ${value}`;
  };
  const at = (column: string, value: string | null) => (value === null ? db`${col(column)} IS NULL` : db`${col(column)} = ${value}`);
  const columns = [l.sort, ...l.then];
  const after = columns.reduceRight((rest, column, i) => db`(${beyond(column, c.keys[i])} OR (${at(column, c.keys[i])} AND ${rest}))`, db`${db(l.alias)}.id > ${c.id}::uuid`);
  const first = c.keys[0];
  const bounded = first !== null && !l.nullsLast.includes(l.sort);
  return bounded ? db`${col(l.sort)} ${atLeast} ${first} AND ${after}` : after;
}

/**
 * One page of a listing, with its total. The page's ids are chosen first, with the total,
 * from the table alone; then only those rows are built. Built in the rows sorted, every row before
 * the offset had its aggregates computed too: a page at offset 29,000 of a 30,000-recording
 * dataset built 29,100 recordings' (~1 s), and the viewer's window of 1,000 clips (five pages)
 * built ~3,000 clips'.
 *
 * The state filter reads the listed rows' parents through joins (joinedLineage), not by lookups
 * for each row: the total counts every row that matches, and the lookups cost ~8 µs a row — 170
 * of the 200 ms of a clips page at 20,000 clips.
 *
 * A keyset listing (Listing.keyset) gives each page the cursor of its last row (one row more is
 * read, to know whether any follows); given one, the page is the rows after that row, which rows
 * added or removed before it do not shift — an offset counts them, and the page repeated or skipped
 * as many rows — and nothing is counted (KeysetPage).
 */
export async function pageFirst<T>(db: Queryable, l: Listing & { keyset: Keyset }): Promise<KeysetPage<T>>;
export async function pageFirst<T>(db: Queryable, l: Listing): Promise<Page<T>>;
export async function pageFirst<T>(db: Queryable, l: Listing): Promise<Page<T> | KeysetPage<T>> {
  const keyset = l.keyset;
  const cursor = keyset?.after === undefined ? undefined : await decodeCursor(db, keyset.after, { ...l, keyset });
  if (cursor && l.offset !== 0) throw invalid("offset", "must be 0 with a cursor: the cursor says where the page begins");
  const direction = (column: string) => db`${l.order === "desc" ? db`DESC` : db`ASC`} ${l.nullsLast.includes(column) ? db`NULLS LAST` : db``}`;
  const columns = [l.sort, ...l.then];
  const order = (alias: string) => columns.reduceRight((rest, column) => db`${db(alias)}.${db(column)} ${direction(column)}, ${rest}`, db`${db(alias)}.id`);
  const lineage = joinedLineage(db, l.table, l.alias);
  const from = db`${db(l.table)} ${db(l.alias)} ${lineage.joins} WHERE ${lineage.inState(l.state)} AND ${l.where}`;
  const keys = keyset ? db`, json_build_array(${columns.map((c) => db`${db(l.alias)}.${db(c)}::text`).reduce((a, b) => db`${a}, ${b}`)}) AS cursor_keys` : db``;
  type Row = T & { id: string; total_count?: number; page_rows?: number; cursor_keys?: (string | null)[] };
  const listedColumns = columns.map((c) => db`${db(l.alias)}.${db(c)}`).reduce((a, b) => db`${a}, ${b}`);
  // After a cursor, nothing counted: the page's rows and the one after them (whether any row
  // follows) chosen, sorted by their keys alone, only the page's rows built.
  const page = cursor && keyset
    ? db`following AS (
        SELECT ${db(l.alias)}.id, ${listedColumns} ${keys} FROM ${from} AND ${afterCursor(db, l, cursor)}
        ORDER BY ${order(l.alias)} LIMIT ${l.limit + 1}),
      page AS (SELECT following.id, following.cursor_keys, (SELECT count(*) FROM following) AS page_rows FROM following ORDER BY ${order("following")} LIMIT ${l.limit})`
    : db`page AS (
        SELECT ${db(l.alias)}.id, count(*) OVER () AS total_count ${keys} FROM ${from}
        ORDER BY ${order(l.alias)} LIMIT ${l.limit} OFFSET ${l.offset})`;
  const rows = await translating(() => db<Row[]>`
    WITH ${page}
    SELECT s.*, ${cursor ? db`page.page_rows` : db`page.total_count`} ${keyset ? db`, page.cursor_keys` : db``}
    FROM page JOIN (${l.select}) s ON s.id = page.id
    ORDER BY ${order("s")}`);
  const items = rows.map(({ total_count: _t, page_rows: _p, cursor_keys: _k, ...item }) => item as unknown as T);
  const total = cursor ? null : await pageTotal(rows, l, () => db`SELECT count(*) AS n FROM ${from}`);
  if (!keyset) return { items, limit: l.limit, offset: l.offset, total: total as number };
  const last = rows.at(-1);
  const more = last !== undefined && (total === null ? Number(last.page_rows) > l.limit : l.offset + rows.length < total);
  const next = more ? encodeCursor({ sort: l.sort, order: l.order, filters: cursorFiltersDigest(l.state, keyset.filters), keys: last.cursor_keys ?? [], id: last.id }) : null;
  return { items, limit: l.limit, offset: cursor ? null : l.offset, total, next_cursor: next };
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

/** A locking clause for a record's own row: FOR SHARE to write what belongs to it, stronger to update or delete the row. */
type RowLock = "FOR SHARE" | "FOR NO KEY UPDATE" | "FOR UPDATE";

/**
 * A record and what it belongs to, nearest first; empty when the record does not exist. In a
 * transaction (see `writing`) each keeps its state until it ends: their rows are locked from the
 * top down — dataset, recording, clip, note — FOR SHARE, the record's own by `lock`. That is the
 * order in which a delete takes them: its record's row, then, by cascade, what belongs to it. Locked
 * from the record up, a PATCH of a note held the note and waited for its clip, which a delete of
 * the clip held while its cascade waited for the note, and a tag of a clip held the clip while a
 * delete of its recording waited for it: PostgreSQL's "deadlock detected". What a record belongs to
 * never changes, so the rows to lock are read first without locks.
 */
async function lineage(db: Queryable, table: StatefulTable, id: string, lock: RowLock = "FOR SHARE"): Promise<{ table: StatefulTable; id: string; state: State }[]> {
  const path: { table: StatefulTable; id: string }[] = [];
  let at: { table: StatefulTable; id: string } | undefined = { table, id };
  while (at) {
    path.push(at);
    const parents: readonly Parent[] = PARENTS[at.table];
    if (!parents.length) break;
    const [row]: postgres.Row[] = await db`SELECT ${db(parents.map((p) => p.column))} FROM ${db(at.table)} WHERE id = ${at.id}`;
    if (!row) return [];
    const parent: Parent | undefined = parents.find((p) => row[p.column] !== null);
    at = parent && { table: parent.table, id: row[parent.column] };
  }
  const chain: { table: StatefulTable; id: string; state: State }[] = [];
  for (const [i, { table: t, id: rowId }] of [...path.entries()].reverse()) {
    const [row] = await db<{ state: State }[]>`SELECT state FROM ${db(t)} WHERE id = ${rowId} ${db.unsafe(i === 0 ? lock : "FOR SHARE")}`;
    if (!row) return []; // deleted meanwhile, with what belongs to it
    chain.unshift({ table: t, id: rowId, state: row.state });
  }
  return chain;
}

const singular = (table: StatefulTable) => table.replace(/s$/, "");

/**
 * Refuses (409) to change a record under a hidden parent, naming each hidden one: its
 * contents are read-only until the parent is restored. Returns the record's own state. The
 * record and its parents stay locked (lineage), the record's own row by `lock`.
 */
async function ownStateUnderVisibleParents(db: Queryable, table: StatefulTable, id: string, doing: string, lock: RowLock = "FOR SHARE"): Promise<State> {
  const [self, ...above] = await lineage(db, table, id, lock);
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
 * One transaction that locks the record FOR UPDATE and its parents FOR SHARE (lineage): a
 * parent's archive waits for it and the other way round, and changes of one record queue. As
 * separate statements, a trash that had passed the check landed under a dataset archived
 * meanwhile, and a refusal could read "is active; restore it first".
 */
export async function setState(db: Queryable, table: StatefulTable, id: string, to: State): Promise<void> {
  await inTransaction(db, async (tx) => {
    const state = await ownStateUnderVisibleParents(tx, table, id, `cannot be ${to === "active" ? "restored" : to} now`, "FOR UPDATE");
    if (to !== "active" && state !== "active") throw new ConflictError(`${singular(table)} ${id} is ${state}; restore it first`);
    if (to !== "active") await refuseHidingWorkUnderWay(tx, table, id, to);
    if (state !== to) await tx`UPDATE ${tx(table)} SET state = ${to}, state_changed_at = now() WHERE id = ${id}`;
  }, `${singular(table)} ${id}`);
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

/**
 * SQLSTATEs with which PostgreSQL aborts a transaction for its conflict with another, not for
 * anything wrong in it: deadlock_detected and serialization_failure. The same transaction run
 * again once the other has ended sees what that one did — the record gone (404), hidden (409),
 * or changed.
 */
const TRANSACTION_CONFLICTS = new Set(["40P01", "40001"]);

/**
 * How often inTransaction runs a transaction that lost such a conflict, in all. Records are locked
 * from the top down (lineage), as a delete's cascade takes them, so sonotile's own writes of a
 * record and of what it belongs to no longer meet in a circle; transactions that lock otherwise
 * still can (a clip table's import locks its recordings before their dataset; a lab's own SQL beside
 * sonotile). Locked from the record up, 8 deletes of one clip at once beside tags, feature values
 * and notes written to it left 70 of 400 requests answering 500; run again, all answered
 * 204/404/200/201, a transaction losing at most 8 times in a row (each loss costs PostgreSQL's
 * deadlock_timeout, 1 s).
 */
const CONFLICT_ATTEMPTS = 10;

/** Longest pause, in ms, before a transaction that lost a conflict runs again; each pause is a random part of it. */
const CONFLICT_PAUSE_MS = 50;

/**
 * Runs `run` in `db`'s transaction when it is one (postgres.js gives it a savepoint()), else in a
 * new one — run again, up to CONFLICT_ATTEMPTS times after a short random pause (so that those
 * which lost together do not meet again), when PostgreSQL aborts it for a conflict with another
 * transaction (TRANSACTION_CONFLICTS). `run` must therefore do nothing but its queries on `tx`:
 * what else it did would be done again. In a caller's transaction there is no running again: the
 * conflict aborted all of it, and reaches the caller's own inTransaction. The embedded database
 * runs one transaction at a time and never aborts one so. A transaction that lost every time ends
 * as a BusyError naming `what` (503 with Retry-After, not a 500: nothing was changed).
 * @param what the record(s) `run` writes, as a person names them ("clip <id>", "dataset <name>"),
 *   for that error — or how to read that name, when only the database knows it (asked then only)
 */
export async function inTransaction<T>(db: Queryable, run: (tx: Queryable) => Promise<T>, what: string | (() => Promise<string>)): Promise<T> {
  if ("savepoint" in db) return run(db);
  for (let attempt = 1; ; attempt++) {
    try {
      return (await (db as Sql).begin(run)) as T;
    } catch (err) {
      if (!TRANSACTION_CONFLICTS.has((err as { code?: unknown }).code as string)) throw err;
      if (attempt >= CONFLICT_ATTEMPTS) throw new BusyError(typeof what === "string" ? what : await what(), attempt, err as Error);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_PAUSE_MS));
    }
  }
}

/**
 * Throws 404 if the record is missing, 409 if it is archived or trashed (read-only) — itself
 * or anything it belongs to (its dataset, recording or clip): see joinedLineage. In a transaction
 * the record's row stays locked by `lock`, and what it belongs to FOR SHARE (lineage).
 */
export async function assertWritable(db: Queryable, table: StatefulTable, id: string, lock: RowLock = "FOR SHARE"): Promise<void> {
  const state = await ownStateUnderVisibleParents(db, table, id, "is read-only", lock);
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
  return writingLocked(db, table, id, "FOR SHARE", write);
}

/**
 * `writing` for a write that updates the record's own row: the row is locked FOR NO KEY UPDATE
 * by writing's check, so such writes of one record queue. Under FOR SHARE alone two of them both
 * held the row and then each waited for the other's to update it — PostgreSQL's "deadlock
 * detected", a 500 (24 PATCHes at once of one dataset or note on PostgreSQL: 22 answered 500; 16
 * refreshes of one recording: 15). Writes of records under it (FOR KEY SHARE of their foreign key)
 * are not held up.
 */
export async function updating<T>(db: Queryable, table: StatefulTable, id: string, write: (tx: Queryable) => Promise<T>): Promise<T> {
  return writingLocked(db, table, id, "FOR NO KEY UPDATE", write);
}

/**
 * `writing` for a delete of the record: the row is locked FOR UPDATE by writing's check, so deletes
 * of one record queue, and the first takes it (the others then find it gone: 404). Under FOR SHARE
 * they deadlocked as `updating`'s writes did (8 DELETEs at once of one clip: 7 answered 500).
 */
export async function deleting<T>(db: Queryable, table: StatefulTable, id: string, remove: (tx: Queryable) => Promise<T>): Promise<T> {
  return writingLocked(db, table, id, "FOR UPDATE", remove);
}

/** `writing` with the record's own row locked by `lock` (assertWritable). */
async function writingLocked<T>(db: Queryable, table: StatefulTable, id: string, lock: RowLock, write: (tx: Queryable) => Promise<T>): Promise<T> {
  return inTransaction(db, async (tx) => {
    await assertWritable(tx, table, id, lock);
    return write(tx);
  }, `${singular(table)} ${id}`);
}

/** Who and what creates a record: the user, and the run (import or job) if any. */
export interface Provenance {
  created_by: string | null;
  run_id?: string | null;
}

/**
 * SQL: the username of the user who created row `alias` of a SELECT (its created_by), null without
 * one: usernames are shown to every reader (a note's author, a clip's creator), a user record only
 * to a token.
 */
export const creatorUsername = (db: Queryable, alias: string): Fragment => db`(SELECT u.username FROM users u WHERE u.id = ${db(alias)}.created_by)`;

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
