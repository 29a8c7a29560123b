/**
 * One tag put on, or taken off, many recordings at once: a selection by GET /v1/recordings'
 * filters or by explicit ids, in one transaction of set-based statements. Tagging a season's
 * 30,000 recordings one request each (attachTag) took ~28 minutes at 57 ms a request.
 *
 * A selection by filters that narrows nothing takes `all` (checkSelection: else an InvalidError naming all).
 * Read-only recordings are refused as a single tagging refuses one (409): archived or trashed
 * ones, or any under an archived or trashed dataset. A selection by filters of the default state
 * (active) holds none; one of another state, or ids naming one, tags nothing and says which.
 * As a single tagging, no run is recorded: the attachments carry who made them (created_by).
 */
import type { Queryable, Sql } from "./db.js";
import { inTransaction, joinedLineage, type Fragment, type Provenance, type StateFilter } from "./common.js";
import { ConflictError, InvalidError, NotFoundError, invalid, translating } from "./errors.js";
import { recordingFilter, type RecordingFilter } from "./recordings.js";
import { getOrCreateTag } from "./tags.js";

/** The most recordings a selection may name by id: 10,000 ids are ~400 kB of JSON, under the API's 1 MiB body limit. */
export const MAX_RECORDING_IDS = 10_000;

/**
 * The most recordings one bulk tagging writes (SPEC §10: over it, a 400 that says so). Tagging
 * 200,000 took 22 s on the embedded database and 12 s on PostgreSQL 15 (2 shared cores, load 10):
 * near the API's 30 s request deadline, past which the client is answered 503 while the
 * transaction may still commit. 100,000 stay well inside it; a larger selection is tagged in parts
 * (a dataset, a folder at a time).
 */
export const MAX_SELECTED = 100_000;

/**
 * The recordings a bulk tagging writes: those of `recording_ids` (each must exist), or those a
 * listing with these filters and state lists — with `all`, when no filter narrows them (checkSelection).
 */
export type RecordingSelection = { recording_ids: readonly string[] } | (RecordingFilter & { state: StateFilter; all?: boolean });

/**
 * A selection by filters that narrows nothing, without `all` (checkSelection): field `all`. Its
 * own class so that an edge can say it in its own names (the API's filter.all, the CLI's --all).
 */
export class SelectsEveryRecordingError extends InvalidError {
  constructor() {
    super([{ field: "all", message: "no filter narrows the selection (dataset_id, a non-empty search, hash, date_from, date_to or tag; a state alone does not): it selects every recording of its state; give one, or all to mean every recording" }]);
  }
}

/**
 * Refuses (SelectsEveryRecordingError) a selection by filters that narrows nothing unless it says
 * `all`: every recording of its state would be written, and a selection that lost its filter on
 * the way (a body's empty filter, a flag left out) must not tag a whole database. An empty search
 * narrows nothing: every path holds it. tagRecordings and untagRecordings check it first; the CLI
 * too, before it opens the database.
 */
export function checkSelection(s: RecordingSelection): void {
  if ("recording_ids" in s || s.all === true) return;
  const narrowing = [s.dataset_id, s.search === "" ? undefined : s.search, s.hash, s.date_from, s.date_to, s.tag];
  if (narrowing.every((filter) => filter === undefined)) throw new SelectsEveryRecordingError();
}

export interface TagsAdded {
  /** Recordings the selection holds. */
  matched: number;
  /** Those that carry the tag now and did not before. */
  added: number;
  /** Those that carried it already (they keep their attachment's own provenance). */
  already_tagged: number;
}

export interface TagsRemoved {
  matched: number;
  /** Those the tag was taken off. */
  removed: number;
  /** Those that did not carry it. */
  not_tagged: number;
}

/**
 * SQL: the selection's recordings `r` — id, and whether it is writable (its effective state, its
 * dataset's included, is active) — read with its lineage joined, as the listing reads them.
 */
function selected(db: Queryable, s: RecordingSelection): Fragment {
  const lineage = joinedLineage(db, "recordings", "r");
  const where = "recording_ids" in s ? db`r.id = ANY(${s.recording_ids as string[]}::uuid[])` : db`${lineage.inState(s.state)} AND ${recordingFilter(db, s)}`;
  return db`SELECT r.id, (${lineage.inState("active")}) AS writable FROM recordings r ${lineage.joins} WHERE ${where}`;
}

/** Refuses (404) ids of no recording, naming the first and how many more. */
async function requireRecordings(tx: Queryable, ids: readonly string[]): Promise<void> {
  const missing = await tx<{ id: string }[]>`
    SELECT u.id FROM unnest(${ids as string[]}::uuid[]) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM recordings r WHERE r.id = u.id) ORDER BY u.id`;
  if (missing.length) throw new NotFoundError("recording", `${missing[0].id}${missing.length > 1 ? ` (and ${missing.length - 1} more of recording_ids)` : ""}`);
}

/** Refuses (400 naming `filter`) a selection of more than `max` recordings, counted only that far. */
async function refuseOverLimit(tx: Queryable, s: RecordingSelection, max: number): Promise<void> {
  const [{ n }] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM (${selected(tx, s)} LIMIT ${max + 1}) s`;
  if (n > max) throw invalid("filter", `selects more than ${max} recordings, the most one bulk tagging writes (the limit); narrow it (dataset_id, search: a folder) and tag the parts one at a time`);
}

/**
 * Locks the selection's datasets FOR SHARE, in id order, before its recordings (writeSelected):
 * top down, as a single write locks a recording's lineage (common.ts lineage), so that an archive
 * of a dataset waits for the tagging, or the tagging for it and then finds its recordings read-only.
 */
async function lockDatasets(tx: Queryable, s: RecordingSelection): Promise<void> {
  await tx`SELECT d.id FROM datasets d
    WHERE d.id IN (SELECT r.dataset_id FROM recordings r WHERE r.id IN (SELECT id FROM (${selected(tx, s)}) s))
    ORDER BY d.id FOR SHARE OF d`;
}

/**
 * Runs the set-based write `change` (a data-modifying statement over the CTE `sel`, RETURNING one
 * row per recording changed) on the selection's recordings, locked FOR SHARE as a single write
 * locks its recording, in id order as a clip-table import locks its recordings — unless one of them is read-only: then nothing is written and a
 * ConflictError names the first and how many; nor when a selection by filters holds more than
 * `maxSelected` (400). Returns how many the selection holds and changed.
 */
async function writeSelected(tx: Queryable, s: RecordingSelection, change: Fragment, doing: string, maxSelected: number): Promise<{ matched: number; changed: number }> {
  if ("recording_ids" in s) await requireRecordings(tx, s.recording_ids);
  else await refuseOverLimit(tx, s, maxSelected);
  await lockDatasets(tx, s);
  const [row] = await translating(() => tx<{ matched: number; changed: number; read_only: number; first_read_only: string | null }[]>`
    WITH sel AS (${selected(tx, s)} ORDER BY r.id FOR SHARE OF r),
      changed AS (${change})
    SELECT (SELECT count(*)::int FROM sel) AS matched, (SELECT count(*)::int FROM changed) AS changed,
      (SELECT count(*)::int FROM sel WHERE NOT writable) AS read_only, (SELECT min(id::text) FROM sel WHERE NOT writable) AS first_read_only`);
  if (row.read_only) {
    throw new ConflictError(`${doing}: ${row.read_only} of the ${row.matched} recordings selected ${row.read_only > 1 ? "are" : "is"} archived or trashed and read-only ` +
      `(itself or its dataset; first: recording ${row.first_read_only}); nothing was changed — leave ${row.read_only > 1 ? "them" : "it"} out (a filter of state active, the default, does), or restore ${row.read_only > 1 ? "them" : "it"} first`);
  }
  return { matched: row.matched, changed: row.changed };
}

/** SQL: the CTE `sel` holds no read-only recording (writeSelected then refuses the whole selection). */
const allWritable = (db: Queryable) => db`NOT EXISTS (SELECT 1 FROM sel WHERE NOT writable)`;

/** Attaches the tag (key, value), created if new, to every recording of the selection that lacks it, in one transaction. */
export async function tagRecordings(sql: Sql, s: RecordingSelection, tag: { key: string; value: string } & Provenance, maxSelected = MAX_SELECTED): Promise<TagsAdded> {
  checkSelection(s);
  return inTransaction(sql, async (tx) => {
    const t = await getOrCreateTag(tx, tag);
    const { matched, changed } = await writeSelected(tx, s, tx`
      INSERT INTO recording_tags (recording_id, tag_id, created_by, run_id)
      SELECT id, ${t.id}::uuid, ${tag.created_by}::uuid, ${tag.run_id ?? null}::uuid FROM sel WHERE ${allWritable(tx)}
      ON CONFLICT DO NOTHING RETURNING 1`, `tag ${tag.key}=${tag.value} cannot be added`, maxSelected);
    return { matched, added: changed, already_tagged: matched - changed };
  }, "the recordings selected");
}

/** Takes the tag (key, value) off every recording of the selection that carries it, in one transaction; the tag itself stays. */
export async function untagRecordings(sql: Sql, s: RecordingSelection, tag: { key: string; value: string }, maxSelected = MAX_SELECTED): Promise<TagsRemoved> {
  checkSelection(s);
  return inTransaction(sql, async (tx) => {
    const { matched, changed } = await writeSelected(tx, s, tx`
      DELETE FROM recording_tags a
      WHERE a.tag_id = (SELECT id FROM tags WHERE key = ${tag.key} AND value = ${tag.value})
        AND a.recording_id IN (SELECT id FROM sel) AND ${allWritable(tx)}
      RETURNING 1`, `tag ${tag.key}=${tag.value} cannot be removed`, maxSelected);
    return { matched, removed: changed, not_tagged: matched - changed };
  }, "the recordings selected");
}
