/**
 * Clips in and out as annotation tables (store/selection-table.ts reads and writes the text):
 * importClipTable creates the clips of a Raven selection table or Audacity label track in one
 * transaction; exportClipTable writes a recording's or dataset's clips as a Raven table or CSV.
 *
 * What a table's row becomes:
 * - a clip of its recording — the import's, or in a dataset's import the recording its Begin Path
 *   (else Begin File) names — [begin, end) in real seconds;
 * - its channel, the tag `Channel` — when not the first, or when the recording has several (clips
 *   have no channel of their own; a clip without the tag is of channel 1, and goes with a job on
 *   any channel, jobs/queue.ts checkClipChannels);
 * - its annotation cells, tags (column name → each value of the cell, cellValues; empty cells none);
 * - its Low/High Freq, the clip's frequency bounds low_freq / high_freq (real Hz; an empty cell
 *   none on that side). Imports before migration 026 kept them as the feature values
 *   `selection_low_freq_hz` / `selection_high_freq_hz`, which that migration moved into the bounds.
 *
 * A clip's identity in a table is (recording, begin, end, channel, low, high) (clip-identity.ts),
 * times to the microsecond, frequencies to the millihertz — a row is the clip whose begin and end
 * are each within half a microsecond of its own (TIME_TOLERANCE) and whose bounds are each absent
 * from both or within a millihertz (FREQUENCY_TOLERANCE, × the time expansion with times=file):
 * a row whose active clip exists already (created by an earlier import of the table, or otherwise)
 * creates none. A row with bounds is not the time-only clip of its times, nor one of another band:
 * two boxes over the same time are two events. The existing clip gains the row's tags it lacks (its
 * Channel tag included, but for the row that is its own export, its Clip ID: an untagged clip stays so) and is otherwise left as it is (tags the table no longer has). So importing a table again, or a table
 * exported and re-imported, creates nothing — a clip past its recording's end too (its file
 * refreshed shorter), which its own row (its Clip ID) finds as it stands. Archived and trashed clips are not matched: they are
 * read-only, and a trashed one is on its way out (purged, it would take the row's annotation with
 * it) — a row whose only clip of that identity is hidden creates a new active clip beside it.
 */
import { randomUUID } from "node:crypto";
import { basename, extname } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { MEL_FEATURE, SCALAR_FEATURES } from "../features/names.js";
import { FREQUENCY_TOLERANCE, sameClipBand, TIME_TOLERANCE } from "./clip-identity.js";
import { runsAlone, type Database, type Queryable } from "./db.js";
import { assertWritable, inTransaction, joinedLineage, type StateFilter } from "./common.js";
import { bandIssues, boundsIssues, clipFilter, LOCKED_COLUMNS, type Band, type Clip, type LockedRecording } from "./clips.js";
import { ConflictError, NotFoundError, invalid, translating } from "./errors.js";
import { normalForm } from "./paths.js";
import { createRun, finishRun, type Run } from "./runs.js";
import { COLUMN, FEATURE_COLUMN_PREFIX, MAX_TABLE_COLUMNS, readTable, TableFaults, tableLine, unescapedValuesCell, valuesCell, type TableFormat, type TableSelection } from "./selection-table.js";
import type { TagFilter } from "./tags.js";

/** The tag a clip's channel is kept in, when not the first or of a recording with several (a clip without it is of channel 1). */
export const CHANNEL_TAG = COLUMN.channel;

/** How a table's times and frequencies relate to the recording's: `real` (the API's units, SPEC §3.2) or `file` (the file as stored, which Raven and Audacity show for a time-expanded recording). */
export const TABLE_TIMES = ["real", "file"] as const;
export type TableTimes = (typeof TABLE_TIMES)[number];

/** The most clips one export writes; more is refused, naming the filters that narrow it. */
export const MAX_EXPORT_ROWS = 100_000;

/**
 * The most feature columns one export writes (400 naming `features` above): each is a column of
 * every row, and features=all would otherwise write as many as the clips have features.
 */
export const MAX_FEATURE_COLUMNS = 100;

/** An export's `features` as the API and the CLI take it: none, all, or names comma-separated (trimmed, empty ones dropped). */
export function featureColumns(text: string): ClipTableExport["features"] {
  if (text === "none" || text === "all") return text;
  return [...new Set(text.split(",").map((f) => f.trim()).filter(Boolean))];
}

/** Which recording (or dataset, whose recordings the rows name) a table is of. */
export type TableTarget = { recording_id: string } | { dataset_id: string };

export interface ClipTableImport {
  target: TableTarget;
  /** The table's text. */
  text: string;
  /** Its format; undefined: recognised (readTable). */
  format?: TableFormat;
  times: TableTimes;
  /** Raven/CSV: the columns that become tags; undefined: every annotation column (readTable). */
  tag_columns?: readonly string[];
  /** Audacity: the tag key of a label (default "label"). */
  label_key?: string;
  /** What the table is called (its file name), for the run's description. */
  source?: string;
  created_by: string | null;
}

/** What became of one selection of the table. */
export interface ImportedRow {
  /** The line its row starts on (the header is line 1). */
  line: number;
  selection: string | null;
  clip_id: string;
  recording_id: string;
  /** created by this import, or existing already (same recording, times, frequency bounds and channel). */
  status: "created" | "existing";
}

export interface ClipTableImportResult {
  /** The run that records the import; the clips, tags and feature values it created point to it. */
  run: Run;
  format: TableFormat;
  created: number;
  existing: number;
  /** Tags the existing clips gained. */
  tags_added: number;
  tag_columns: string[];
  ignored_columns: string[];
  rows: ImportedRow[];
  /** Rows of the table that became no clip, each with why (an Audacity point label). */
  skipped: { line: number; reason: string }[];
  /** What a row did that its table may not have meant, each with its line and column: a row that is not the clip its Clip ID names (clipIdWarning). */
  warnings: ImportWarning[];
}

/** Something an import did as the table says, but not as its row may have meant (ClipTableImportResult.warnings). */
export interface ImportWarning {
  line: number;
  column: string;
  message: string;
}

/** A recording as the import checks a row against it (RECORDING_COLUMNS). */
interface TableRecording extends LockedRecording {
  id: string;
  path: string;
  channels: number;
  state: string;
}

/** A selection placed in a recording: real seconds and Hz (its bounds, low_freq / high_freq). */
interface Placed extends Band {
  row: TableSelection;
  recording: TableRecording;
  start: number;
  end: number;
  /** How far a bound may be from a clip's for the row to be that clip (Hz, real): FREQUENCY_TOLERANCE × the table's time expansion. */
  bandTolerance: number;
  /**
   * The row is its Clip ID's clip as it stands, outside its recording now (its file replaced by a
   * shorter one, or one of a lower rate): its times and band went unchecked (placeSelections), and
   * it must be that clip, existing, or it is refused.
   */
  outside: boolean;
}

/** An active clip a row's Clip ID names (namedClips): its recording, times and band. */
interface NamedClip extends Band {
  recording_id: string;
  start_time: number;
  end_time: number;
}

/**
 * Things with times and bands placed by recording, channel and start, found again by their times'
 * nearness and their bands (sameClipBand): the table's rows (two rows one clip could be are
 * duplicates) and the existing clips (the one a row is). Kept by their start's whole microseconds,
 * rounded down (startBuckets).
 */
class NearTimes<T extends { start: number; end: number } & Band> {
  private readonly byBucket = new Map<string, T[]>();
  add(recordingId: string, channel: number, item: T): void {
    const key = `${recordingId} ${channel} ${Math.floor(item.start * 1e6)}`;
    this.byBucket.set(key, [...(this.byBucket.get(key) ?? []), item]);
  }
  /**
   * The item whose start and end are each within `tolerance` (at most 1 µs) of `near`'s and whose
   * band is its band within `bandTolerance` Hz: the `preferred` one if it is such an item (a row's
   * Clip ID telling apart two clips of the same bounds: the row's tags went to the other), else the
   * nearest in time (the first added of equals).
   */
  nearest(recordingId: string, channel: number, near: { start: number; end: number } & Band, tolerance: number, bandTolerance: number, preferred?: (item: T) => boolean): T | undefined {
    const { start, end } = near;
    let best: { item: T; distance: number } | undefined;
    for (const bucket of startBuckets(start)) {
      for (const item of this.byBucket.get(`${recordingId} ${channel} ${bucket}`) ?? []) {
        const ds = Math.abs(item.start - start), de = Math.abs(item.end - end);
        if (ds > tolerance || de > tolerance || !sameClipBand(item, near, bandTolerance)) continue;
        if (preferred?.(item)) return item;
        if (!best || ds + de < best.distance) best = { item, distance: ds + de };
      }
    }
    return best?.item;
  }
}

/**
 * How far (whole microseconds) from a start's own, rounded down, those of the starts within a
 * microsecond of it are (and a microsecond more, for the rounding of × 1e6): its startBuckets.
 */
const BUCKET_REACH = 2;

/**
 * The whole microseconds, rounded down, of every start within a microsecond of `start`: SQL picks
 * existing clips by these (floor(start_time × 1e6), the same double multiplication, ±
 * BUCKET_REACH), NearTimes its buckets.
 */
const startBuckets = (start: number) => {
  const us = Math.floor(start * 1e6);
  return Array.from({ length: 2 * BUCKET_REACH + 1 }, (_, i) => us - BUCKET_REACH + i);
};

/** The file a row names: its Begin Path, else its Begin File; null when neither. */
const namedFile = (s: TableSelection) => s.beginPath ?? s.beginFile;

/** The columns of TableRecording. */
const RECORDING_COLUMNS = (db: Queryable) => db`id, path, channels, state, ${LOCKED_COLUMNS(db)}`;

/**
 * Imports an annotation table's selections as clips, all or nothing. Refuses (InvalidError, 400 /
 * exit 2) a table with faults, each named by line and column: unreadable cells, a row whose Begin
 * Time and File Offset disagree with its file's other rows (readTable), a row of a file the
 * dataset does not hold, times outside the recording, a channel it does not have, a frequency
 * above its Nyquist, two rows of one clip. Says in `warnings` which rows are not the clip their
 * Clip ID names (clipIdWarning): a row's clip is found by its times, never by that id.
 *
 * The rows are resolved to recordings and checked against them before the transaction (on the
 * embedded database a transaction holds its only connection: every other request waits for it);
 * the transaction locks the recordings (FOR NO KEY UPDATE, in id order: two imports of one table
 * run one after the other, the second finding the first's clips), checks the rows again against
 * the locked rows (a recording deleted, hidden or re-timed meanwhile; placed again only then),
 * looks up the existing clips of the placed rows only, and writes — a statement per table, its
 * columns as arrays (the clips with their bounds, the tags, their attachments), on the
 * embedded database without the per-row foreign-key checks (below). What is left of the
 * transaction's time is the rows' writes themselves.
 */
export async function importClipTable(database: Pick<Database, "sql" | "kind">, im: ClipTableImport): Promise<ClipTableImportResult> {
  const { sql } = database;
  // Every faulty row in one refusal: those whose cells cannot be read (readTable), whose file the
  // dataset lacks (resolveRecordings) and which do not fit their recording (placeSelections).
  const faults = new TableFaults();
  const table = readTable(im.text, { format: im.format, tagColumns: im.tag_columns, labelKey: im.label_key }, faults);
  const files = new Set(table.selections.map(namedFile).filter((f) => f !== null));
  if ("dataset_id" in im.target) {
    if (table.format === "audacity") throw invalid("format", "an Audacity label track names no file: import it into its recording (recording_id)");
    // Raven's Begin Time counts from the first file of a multi-file table; only File Offset places a row in its own.
    if (files.size > 1 && table.beginColumn !== COLUMN.fileOffset) throw invalid(COLUMN.fileOffset, `column missing: the table's rows name ${files.size} files, and without '${COLUMN.fileOffset}' their '${COLUMN.begin}' counts from the start of the first file, not of each row's own — export the table from Raven with the File Offset (s) measurement`);
  } else if (files.size > 1) {
    throw invalid("recording_id", `the table's rows name ${files.size} files (${COLUMN.beginPath} / ${COLUMN.beginFile}: ${[...files].slice(0, 3).join(", ")}${files.size > 3 ? ", …" : ""}): import it into their dataset (dataset_id), which finds each row's recording`);
  }
  const recordingOf = await resolveRecordings(sql, im.target, table.selections, faults);
  // A recording's import reads its recording even for a table of no selections (Raven's export of
  // one without any): placeSelections finds it there, or answers 404 for one that does not exist.
  const target = "recording_id" in im.target ? [im.target.recording_id] : [];
  const ids = [...new Set([...target, ...table.selections.map(recordingOf).filter((id) => id !== undefined)])].sort();
  // Unlocked: a faulty table is refused without taking the database.
  const unlocked = new Map((await translating(() => sql<TableRecording[]>`SELECT ${RECORDING_COLUMNS(sql)} FROM recordings WHERE id = ANY(${ids}::uuid[])`)).map((r) => [r.id, r]));
  const named = await namedClips(sql, table.selections);
  const placedUnlocked = placeSelections(im.target, table.selections, recordingOf, unlocked, named, im.times, table, faults);
  const where = "dataset_id" in im.target ? `dataset ${im.target.dataset_id}` : `recording ${im.target.recording_id}`;

  return inTransaction(sql, async (tx) => {
    // Locked from the top down, as a delete's cascade takes rows (common.ts lineage): the target
    // first — a recording FOR NO KEY UPDATE (FOR SHARE would let two imports both hold it and then
    // wait for each other's stronger lock), a dataset FOR SHARE — then the rows' recordings in id
    // order, so that two imports of one table run one after the other. Recordings locked before
    // their dataset met a delete of the dataset in a circle: PostgreSQL's deadlock, run again
    // (inTransaction) after its 1 s deadlock_timeout, in 4–19 of 20 rounds of an import started
    // 2 ms before the delete.
    if ("recording_id" in im.target) await assertWritable(tx, "recordings", im.target.recording_id, "FOR NO KEY UPDATE"); // 404, or 409 for a read-only one
    else await assertWritable(tx, "datasets", im.target.dataset_id);
    const locked = new Map((await translating(() => tx<TableRecording[]>`
      SELECT ${RECORDING_COLUMNS(tx)} FROM recordings WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR NO KEY UPDATE`)).map((r) => [r.id, r]));
    // Placed again only when a recording changed (or went) since: the placing is pure, and of
    // 10,000 rows takes 0.1–0.4 s of the transaction on a loaded machine.
    const placed = isDeepStrictEqual(locked, unlocked) ? placedUnlocked : placeSelections(im.target, table.selections, recordingOf, locked, named, im.times, table);
    const existing = await existingClips(tx, placed);
    const run = await createRun(tx, { kind: "import", description: `clips from ${table.format} table${im.source ? ` ${im.source}` : ""} into ${where}`.slice(0, 1000), created_by: im.created_by });
    // Every foreign key the writes below set holds by construction: a clip's recording is locked
    // above, its creator checked by the run's insert (runs.created_by), its run is this one; an
    // attachment's clip and a bound's clip were created or read in this transaction, its tag or
    // feature name joined from its table. PostgreSQL checks each key of each row all the same, a
    // query apiece — 4 to 7 per row, two thirds of the writes' time on the embedded database
    // (EXPLAIN ANALYZE: 10,000 rows' checks 2.9 s of 4.2 s). There the transaction runs alone, so
    // nothing can delete a row it read meanwhile: the checks are left out, the replica role firing
    // no trigger until the transaction ends (LOCAL; these tables have none but the checks). On
    // PostgreSQL another session may delete an existing clip meanwhile, and they stay.
    if (runsAlone(database)) await tx`SET LOCAL session_replication_role = replica`;
    const rows: ImportedRow[] = [];
    const created: { id: string; p: Placed }[] = [];
    const tagging: Record<"created" | "existing", ClipTag[]> = { created: [], existing: [] };
    const gone = new TableFaults();
    const notNamed: ({ line: number } & NotNamed)[] = [];
    for (const p of placed) {
      const found = existing.nearest(p.recording.id, p.row.channel, p, TIME_TOLERANCE, p.bandTolerance, (clip) => clip.id === p.row.clipId);
      if (p.outside && !found) {
        gone.add(`line ${p.row.line}, ${COLUMN.clipId}`, `clip ${p.row.clipId} lies outside ${p.recording.path} (${p.recording.duration} s, ${p.recording.samplerate / 2} Hz Nyquist) and is no longer that clip as it stands (deleted, archived or moved during the import, or its Channel tag changed): a new clip there cannot be made`);
        continue;
      }
      const clipId = found?.id ?? randomUUID();
      rows.push({ line: p.row.line, selection: p.row.selection, clip_id: clipId, recording_id: p.recording.id, status: found ? "existing" : "created" });
      if (!found) created.push({ id: clipId, p });
      const warning = clipIdWarning(p, named, clipId, found !== undefined);
      if (warning) notNamed.push({ line: p.row.line, ...warning });
      // Of a recording with several channels every row is tagged, channel 1 too: a clip without the
      // tag goes with a job on any channel (jobs/queue.ts checkClipChannels), and a channel-1
      // selection would be read on the job's. An existing clip of the row's channel lacks it only
      // when untagged (channel 1) — and then the row that is its own export (its Clip ID the
      // clip's) leaves it so: the export writes such a clip's Channel as 1, Raven reading a
      // channel number in every row, and the round trip tagged it Channel = 1 (a job on channel 2
      // then refused it).
      const ownExport = found !== undefined && p.row.clipId === found.id;
      const channelTag = (p.row.channel !== 1 || p.recording.channels > 1) && !found?.tags.has(CHANNEL_TAG) && !ownExport ? [{ key: CHANNEL_TAG, value: String(p.row.channel) }] : [];
      // A cell whose values are the clip's values of its key (an export's cell, read back) adds none;
      // nor does the cell of those values as an export before the escapes wrote them, read back
      // otherwise ("faint; partial" as two values: unescapedValuesCell). The clip's values are in
      // the export's order (key, value), as existingClips reads them.
      // Grouped once: filtering the row's tags by each tag's key grew with the square of its columns.
      const byKey = new Map<string, Set<string>>();
      for (const t of p.row.tags) byKey.set(t.key, (byKey.get(t.key) ?? new Set()).add(t.value));
      const values = (key: string) => byKey.get(key) ?? new Set<string>();
      const sameValues = (a: ReadonlySet<string>, b: ReadonlySet<string>) => a.size === b.size && [...a].every((v) => b.has(v));
      const unchanged = (key: string, had: ReadonlySet<string> | undefined) => had !== undefined && (sameValues(values(key), had) || p.row.cells.get(key) === unescapedValuesCell([...had]));
      const tags = found ? p.row.tags.filter((t) => !unchanged(t.key, found.tags.get(t.key))) : p.row.tags;
      for (const t of [...channelTag, ...tags]) tagging[found ? "existing" : "created"].push({ clip_id: clipId, ...t });
    }
    gone.check();
    await insertClips(tx, created, { created_by: im.created_by, run_id: run.id });
    const tagsAdded = await attachTags(tx, tagging, { created_by: im.created_by, run_id: run.id });
    // The named clips' tags, said in the warnings: the annotator's new species beside the old.
    const tagsOf = await tagsText(tx, [...new Set(notNamed.map((w) => w.named))]);
    return {
      run: await finishRun(tx, run.id, "completed"),
      format: table.format,
      created: created.length,
      existing: rows.length - created.length,
      tags_added: tagsAdded,
      tag_columns: table.tagColumns,
      ignored_columns: table.ignoredColumns,
      rows,
      skipped: table.skipped,
      warnings: notNamed.map((w) => ({ line: w.line, column: COLUMN.clipId, message: w.message(tagsOf.get(w.named) ?? "none") })),
    };
  }, where);
}

/**
 * The recording each selection is of: the import's, or in a dataset's import the one its Begin
 * Path or Begin File names (fileResolver) — none for a row whose file the dataset does not hold,
 * added to `issues`. A 404 / 409 for a dataset that is missing or read-only.
 */
async function resolveRecordings(db: Queryable, target: TableTarget, selections: readonly TableSelection[], issues: TableFaults): Promise<(s: TableSelection) => string | undefined> {
  if ("recording_id" in target) return () => target.recording_id;
  await assertWritable(db, "datasets", target.dataset_id);
  const resolve = fileResolver(await db<{ id: string; path: string }[]>`SELECT id, path FROM recordings WHERE dataset_id = ${target.dataset_id}`);
  const resolved = new Map<TableSelection, string>();
  for (const s of selections) {
    const found = resolve(s);
    if (typeof found === "string") resolved.set(s, found);
    else issues.add(`line ${s.line}, ${found.column}`, found.message);
  }
  return (s) => resolved.get(s);
}

/** A row that is not the clip its Clip ID names (clipIdWarning): that clip, and what to say, given that clip's tags as text. */
interface NotNamed {
  named: string;
  message: (namedTags: string) => string;
}

/** Bounds as a warning shows them: `[0.274, 0.2795) s`, `1000–3000 Hz` (a side without a bound: none). */
const shownTimes = (start: number, end: number) => `[${Number(start.toFixed(9))}, ${Number(end.toFixed(9))}) s`;
const shownBand = (b: Band) => `${b.low_freq === null ? "none" : Number(b.low_freq.toFixed(3))}–${b.high_freq === null ? "none" : Number(b.high_freq.toFixed(3))} Hz`;

/**
 * What to say of row `p`, whose clip is `clipId` (`existing`, or created), when its Clip ID names
 * another active clip of its recording (`named`): an annotator who edits an exported row's times
 * expects the clip of its Clip ID to move, and the import — which finds a row's clip by its
 * recording, times, band and channel (clip-identity.ts), never by that id — made a second clip
 * beside it, the old one keeping its tags. It does not move the clip by its id: a row copied in a
 * spreadsheet to make a new selection carries its original's Clip ID (the original would move
 * away), the table exported before the edit would move it back on its next import (two tables of
 * one recording undoing each other, where an import is idempotent), and the clip's feature values
 * were computed on its old bounds. Null when the row is that clip, or its Clip ID names none of
 * the recording's active clips (another database's, another recording's, archived or trashed).
 */
function clipIdWarning(p: Placed, named: ReadonlyMap<string, NamedClip>, clipId: string, existing: boolean): NotNamed | null {
  const id = p.row.clipId;
  if (id === null || id === clipId) return null;
  const own = named.get(id);
  if (!own || own.recording_id !== p.recording.id) return null;
  const differs = [
    ...(Math.abs(own.start_time - p.start) > TIME_TOLERANCE || Math.abs(own.end_time - p.end) > TIME_TOLERANCE ? [`times ${shownTimes(p.start, p.end)} are not that clip's ${shownTimes(own.start_time, own.end_time)}`] : []),
    ...(!sameClipBand(own, p, p.bandTolerance) ? [`band ${shownBand(p)} is not that clip's ${shownBand(own)}`] : []),
  ];
  const why = `the row's ${differs.length ? differs.join(", and its ") : `${COLUMN.channel} (${p.row.channel}) is not that clip's`}`;
  if (existing) return { named: id, message: () => `is clip ${clipId} (its recording, times, band and channel), not clip ${id}, which its ${COLUMN.clipId} names and which is left as it is: ${why}` };
  return {
    named: id,
    message: (tags) => `made clip ${clipId} beside clip ${id}, which its ${COLUMN.clipId} names, rather than moving it: ${why}. An import finds a row's clip by its recording, times, band and channel, never by its ${COLUMN.clipId}, so clip ${id} keeps its place and its tags (${tags}): delete it if the row replaces it`,
  };
}

/** The tags of clips `ids` as a warning names them (`Species = Myotis, Call type = FM`), by clip. */
async function tagsText(db: Queryable, ids: readonly string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const rows = await translating(() => db<{ clip_id: string; text: string }[]>`
    SELECT ct.clip_id, string_agg(t.key || ' = ' || t.value, ', ' ORDER BY t.key, t.value) AS text
    FROM clip_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.clip_id = ANY(${ids}::uuid[]) GROUP BY ct.clip_id`);
  return new Map(rows.map((r) => [r.clip_id, r.text]));
}

/** The active clips the rows' Clip IDs name, by id (a cell that is no uuid names none). */
async function namedClips(db: Queryable, selections: readonly TableSelection[]): Promise<Map<string, NamedClip>> {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const ids = [...new Set(selections.map((s) => s.clipId).filter((id) => id !== null && uuid.test(id)))];
  if (!ids.length) return new Map();
  const rows = await translating(() => db<({ id: string } & NamedClip)[]>`
    SELECT id, recording_id, start_time, end_time, low_freq, high_freq FROM clips WHERE id = ANY(${ids}::uuid[]) AND state = 'active'`);
  return new Map(rows.map(({ id, ...clip }) => [id, clip]));
}

/**
 * The selections placed in their `recordings`, in real units: an InvalidError naming each row that
 * does not fit (line and column), with the faults `issues` holds already (of cells that cannot be
 * read — such a row, `faulty`, is checked here as far as its readable cells go, and never placed —
 * and of rows of no recording of the dataset, left out) — its recording gone (deleted since the
 * rows were resolved), its times outside it, its channel or frequency beyond it, a row of a clip
 * another row is already, a file other than the import's recording — but a row that is its Clip
 * ID's clip (`named`) as it stands is not held to the recording's duration or Nyquist frequency
 * (Placed.outside); a ConflictError for rows of a
 * recording that is read-only, a NotFoundError for the import's recording. Pure: run before the
 * transaction, and again on the locked rows.
 */
function placeSelections(target: TableTarget, selections: readonly TableSelection[], recordingOf: (s: TableSelection) => string | undefined,
  recordings: ReadonlyMap<string, TableRecording>, named: ReadonlyMap<string, NamedClip>, times: TableTimes, columns: { beginColumn: string; endColumn: string }, issues = new TableFaults()): Placed[] {
  const { beginColumn, endColumn } = columns;
  if ("recording_id" in target && !recordings.has(target.recording_id)) throw new NotFoundError("recording", target.recording_id);
  const hidden = [...recordings.values()].filter((r) => r.state !== "active");
  if (hidden.length) throw new ConflictError(`the table's rows name recordings that are read-only: ${hidden.map((r) => `${r.path} (${r.id}, ${r.state})`).join(", ")}; restore them first`);
  const placed: Placed[] = [];
  const rows = new NearTimes<{ start: number; end: number; line: number } & Band>();
  for (const s of selections) {
    const at = (column: string) => `line ${s.line}, ${column}`;
    const recordingId = recordingOf(s);
    if (recordingId === undefined) continue; // of no recording of the dataset: a fault already (resolveRecordings)
    const recording = recordings.get(recordingId);
    if (!recording) {
      issues.add(at(s.beginPath !== null ? COLUMN.beginPath : COLUMN.beginFile), `'${namedFile(s)}' names recording ${recordingId}, which was deleted during the import`);
      continue;
    }
    // A recording's table names its file, if any: a table of another file is no table of this one.
    const file = namedFile(s);
    if ("recording_id" in target && file !== null && basename(file.replace(/\\/g, "/")).normalize("NFC") !== basename(recording.path).normalize("NFC")) {
      issues.add(at(s.beginPath !== null ? COLUMN.beginPath : COLUMN.beginFile), `'${file}' is not the recording's file (${basename(recording.path)}): import the table into the recording it names`);
      continue;
    }
    // In file units a table's seconds are the file's, expanded TE times; its Hz are TE times lower.
    const te = times === "file" ? recording.time_expansion : 1;
    // Raven writes the High Freq of a selection up to the top of its spectrogram as the Nyquist
    // frequency to the millihertz, and × TE moves it by rounding: within 1e-9 (relative) of
    // Nyquist it is Nyquist. (A waveform view's row's frequencies are not read: readTable.)
    const nyquist = recording.samplerate / 2;
    const hz = (v: number | null) => (v === null ? null : v * te > nyquist && v * te <= nyquist * (1 + 1e-9) ? nyquist : v * te);
    const band = { low_freq: hz(s.low), high_freq: hz(s.high) };
    const bandTolerance = FREQUENCY_TOLERANCE * te;
    const bounds = boundsIssues(s.begin / te, s.end / te, recording);
    const bandFaults = bandIssues(band, recording);
    // A row that is its Clip ID's clip as it stands writes nothing but tags: outside the recording
    // now (its file refreshed shorter), it is still that clip, and its table re-imports — which
    // refused the whole table, every other row with it.
    const own = s.clipId !== null ? named.get(s.clipId) : undefined;
    const outside = (bounds.length > 0 || bandFaults.length > 0) && own !== undefined && own.recording_id === recording.id
      && Math.abs(own.start_time - s.begin / te) <= TIME_TOLERANCE && Math.abs(own.end_time - s.end / te) <= TIME_TOLERANCE && sameClipBand(own, band, bandTolerance);
    const p: Placed = { row: s, recording, start: s.begin / te, end: s.end / te, ...band, bandTolerance, outside };
    const fileHint = times === "real" && recording.time_expansion !== 1 ? ` (a table of the file as stored, in its own seconds: import with times=file)` : "";
    const before = issues.count;
    if (!outside) {
      for (const b of bounds) issues.add(at(b.field === "start_time" ? beginColumn : endColumn), `${b.field === "start_time" ? p.start : p.end} s (real) ${b.message}${fileHint}`);
      for (const b of bandFaults) issues.add(`line ${s.frequencyLine}, ${b.field === "low_freq" ? COLUMN.low : COLUMN.high}`, `${p[b.field]} Hz (real) ${b.message}${fileHint}`);
    }
    if (s.channel > recording.channels) issues.add(at(COLUMN.channel), `${s.channel} is no channel of ${recording.path}, which has ${recording.channels}`);
    // A row whose cells hold faults (readTable) was checked as far as they could be read: no clip.
    if (issues.count > before || s.faulty) continue;
    // Two rows whose times are each within twice the tolerance, and bands within twice theirs, could both be one clip.
    const first = rows.nearest(recording.id, s.channel, p, 2 * TIME_TOLERANCE, 2 * p.bandTolerance);
    if (first !== undefined) {
      issues.add(`line ${s.line}`, `duplicates line ${first.line}: the same recording and ${COLUMN.channel}, ${beginColumn} and ${endColumn} each within ${2 * TIME_TOLERANCE * 1e6} µs of its own, ${COLUMN.low} and ${COLUMN.high} alike — one clip; remove one of the rows`);
      continue;
    }
    rows.add(recording.id, s.channel, { start: p.start, end: p.end, low_freq: p.low_freq, high_freq: p.high_freq, line: s.line });
    placed.push(p);
  }
  issues.check();
  return placed;
}

/**
 * Finds the recording a row of a dataset's table names among the dataset's `recordings` (paths
 * relative to its directory): by Begin Path, the recording whose path ends it at a directory
 * boundary (the longest such: a table written on another machine names the file by its whole path
 * there, `C:\field\site A\rec1.wav`); else by Begin File, the recording of that file name — refused
 * when several directories hold one of that name. Paths and names are compared in Unicode NFC: a
 * file copied back from macOS is named in NFD there, and the table written before names it in NFC
 * (the import follows such a file by its MD5, its recording's path then NFD) — two recordings
 * whose paths differ in their normal form only are refused as ambiguous, but for the one whose path
 * the row names byte for byte. Returns the recording's id, or the column and what is wrong.
 */
function fileResolver(recordings: readonly { id: string; path: string }[]): (s: TableSelection) => string | { column: string; message: string } {
  const byName = new Map<string, { id: string; path: string }[]>();
  for (const r of recordings) {
    const name = basename(r.path).normalize("NFC");
    byName.set(name, [...(byName.get(name) ?? []), r]);
  }
  return (s) => {
    if (s.beginPath !== null) {
      const path = s.beginPath.replace(/\\/g, "/").normalize("NFC");
      const candidates = byName.get(basename(path)) ?? [];
      const matches = candidates.map((r) => ({ ...r, nfc: r.path.normalize("NFC") })).filter((r) => path === r.nfc || path.endsWith(`/${r.nfc}`));
      const longest = Math.max(...matches.map((r) => r.nfc.length));
      const longestMatches = matches.filter((r) => r.nfc.length === longest);
      const raw = s.beginPath.replace(/\\/g, "/");
      const exact = longestMatches.filter((r) => raw === r.path || raw.endsWith(`/${r.path}`));
      const match = exact.length === 1 ? exact : longestMatches;
      if (match.length === 1) return match[0].id;
      if (match.length > 1) return { column: COLUMN.beginPath, message: `'${s.beginPath}' names ${match.length} recordings of the dataset whose paths differ only in their Unicode normal form (${match.map((r) => `${r.path} in ${normalForm(r.path)}, ${r.id}`).join("; ")}): rename one of the files` };
      return { column: COLUMN.beginPath, message: `'${s.beginPath}' is no recording of the dataset (none of its recordings' paths ends it${candidates.length ? `; of that name it has ${candidates.map((c) => c.path).join(", ")}` : ""})` };
    }
    if (s.beginFile !== null) {
      const candidates = byName.get(s.beginFile.normalize("NFC")) ?? [];
      if (candidates.length === 1) return candidates[0].id;
      if (!candidates.length) return { column: COLUMN.beginFile, message: `'${s.beginFile}' is no recording of the dataset (no file of that name)` };
      return { column: COLUMN.beginFile, message: `'${s.beginFile}' names ${candidates.length} recordings of the dataset (${candidates.map((c) => c.path).join(", ")}): give a ${COLUMN.beginPath} column to tell them apart` };
    }
    return { column: `${COLUMN.beginPath} / ${COLUMN.beginFile}`, message: "is empty: a dataset's table names each row's file" };
  };
}

/** An active clip a row may be (existingClips): its times and bounds, and its tags, key → values. */
interface ExistingClip extends Band {
  id: string;
  start: number;
  end: number;
  tags: Map<string, Set<string>>;
}

/**
 * The active clips near the `placed` rows (archived and trashed ones are not matched: module doc),
 * by recording, channel (read from the Channel tag; none: 1) and times. Looks up the rows'
 * recordings and start times only, not every clip of the recordings: SQL picks the candidates by
 * their start's whole microseconds rounded down (startBuckets), NearTimes.nearest decides.
 */
async function existingClips(tx: Queryable, placed: readonly Placed[]): Promise<NearTimes<ExistingClip>> {
  const existing = new NearTimes<ExistingClip>();
  if (!placed.length) return existing;
  const starts = new Map<string, [string, number]>();
  for (const p of placed) starts.set(`${p.recording.id} ${Math.floor(p.start * 1e6)}`, [p.recording.id, Math.floor(p.start * 1e6)]);
  const keys = [...starts.values()];
  // A row per tag of each clip (one without a tag for a clip that has none), the buckets made from
  // each row's start in SQL: a subquery aggregating each clip's tags as JSON took twice as long on
  // the embedded database (10,000 clips with three tags each: 1.3 s against 0.65 s, a
  // transaction's time every other request waits out), and the buckets sent as parameters (50,000
  // uuids and numbers for 10,000 rows) ~0.3 s more.
  const rows = await tx<({ id: string; recording_id: string; start_time: number; end_time: number; key: string | null; value: string } & Band)[]>`
    SELECT c.id, c.recording_id, c.start_time, c.end_time, c.low_freq, c.high_freq, t.key, t.value
    FROM clips c LEFT JOIN clip_tags ct ON ct.clip_id = c.id LEFT JOIN tags t ON t.id = ct.tag_id
    WHERE c.state = 'active' AND c.recording_id = ANY(${[...new Set(placed.map((p) => p.recording.id))]}::uuid[])
      AND (c.recording_id, floor(c.start_time * 1e6::float8)::int8) IN (
        SELECT k.recording_id, k.start_us + d FROM unnest(${keys.map((k) => k[0])}::uuid[], ${keys.map((k) => k[1])}::int8[]) AS k (recording_id, start_us),
          generate_series(${-BUCKET_REACH}::int8, ${BUCKET_REACH}::int8) AS d)
    ORDER BY c.id, t.key, t.value`;
  const clips: ({ id: string; recording_id: string; start_time: number; end_time: number; tags: { key: string; value: string }[] } & Band)[] = [];
  for (const { key, value, ...clip } of rows) {
    if (clips.at(-1)?.id !== clip.id) clips.push({ ...clip, tags: [] });
    if (key !== null) clips.at(-1)!.tags.push({ key, value });
  }
  for (const c of clips) {
    const tags = new Map<string, Set<string>>();
    for (const t of c.tags) tags.set(t.key, (tags.get(t.key) ?? new Set()).add(t.value));
    const channel = c.tags.find((t) => t.key === CHANNEL_TAG)?.value;
    existing.add(c.recording_id, channel === undefined ? 1 : Number(channel), { id: c.id, start: c.start_time, end: c.end_time, low_freq: c.low_freq, high_freq: c.high_freq, tags });
  }
  return existing;
}

/** Inserts the new clips with the ids chosen for them (the result's rows name them), with their bounds: one statement, its columns as arrays. */
async function insertClips(tx: Queryable, clips: readonly { id: string; p: Placed }[], by: { created_by: string | null; run_id: string }): Promise<void> {
  if (!clips.length) return;
  await translating(() => tx`
    INSERT INTO clips (id, recording_id, start_time, end_time, low_freq, high_freq, created_by, run_id)
    SELECT id, recording_id, start_time, end_time, low_freq, high_freq, ${by.created_by}::uuid, ${by.run_id}::uuid
    FROM unnest(${clips.map((c) => c.id)}::uuid[], ${clips.map((c) => c.p.recording.id)}::uuid[], ${clips.map((c) => c.p.start)}::float8[], ${clips.map((c) => c.p.end)}::float8[],
                ${clips.map((c) => c.p.low_freq)}::float8[], ${clips.map((c) => c.p.high_freq)}::float8[])
      AS n (id, recording_id, start_time, end_time, low_freq, high_freq)`);
}

/** A tag to attach to a clip. */
interface ClipTag {
  clip_id: string;
  key: string;
  value: string;
}

/**
 * Attaches tags (created if new, as getOrCreateTag does, in key order: concurrent imports lock
 * them alike) to clips — `created`'s to the clips the import created, `existing`'s to clips it
 * found — skipping those a clip has. Returns how many it attached to the existing clips.
 */
async function attachTags(tx: Queryable, tagging: Record<"created" | "existing", readonly ClipTag[]>, by: { created_by: string | null; run_id: string }): Promise<number> {
  const all = [...tagging.created, ...tagging.existing];
  if (!all.length) return 0;
  const pairs = [...new Map(all.map((t) => [`${t.key}\u0000${t.value}`, t])).values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const keys = pairs.map((t) => t.key);
  const values = pairs.map((t) => t.value);
  await translating(() => tx`
    INSERT INTO tags (key, value, created_by, run_id)
    SELECT key, value, ${by.created_by}::uuid, ${by.run_id}::uuid FROM unnest(${keys}::text[], ${values}::text[]) AS n (key, value)
    ON CONFLICT (key, value) DO NOTHING`);
  // Counted where they are made: returning the clip of each (30,000 for 10,000 rows) to count
  // those of existing clips took 0.3–0.5 s more of the transaction (embedded, on a loaded machine).
  const attach = async (clipTags: readonly ClipTag[]) => {
    if (!clipTags.length) return 0;
    const [{ made }] = await translating(() => tx<{ made: number }[]>`
      WITH made AS (
        INSERT INTO clip_tags (clip_id, tag_id, created_by, run_id)
        SELECT n.clip_id, t.id, ${by.created_by}::uuid, ${by.run_id}::uuid
        FROM unnest(${clipTags.map((t) => t.clip_id)}::uuid[], ${clipTags.map((t) => t.key)}::text[], ${clipTags.map((t) => t.value)}::text[]) AS n (clip_id, key, value)
        JOIN tags t ON t.key = n.key AND t.value = n.value
        ON CONFLICT DO NOTHING
        RETURNING 1)
      SELECT count(*)::int AS made FROM made`);
    return made;
  };
  await attach(tagging.created);
  return attach(tagging.existing);
}

export interface ClipTableExport {
  target: TableTarget;
  format: "raven" | "csv";
  times: TableTimes;
  /** Feature values as columns: none, every feature the clips have a number of, or these. */
  features: "none" | "all" | readonly string[];
  /** The clips list's filters (store/clips.ts ClipQuery). */
  state: StateFilter;
  start_before?: number;
  end_after?: number;
  min_freq?: number;
  max_freq?: number;
  tag?: TagFilter;
}

export interface ExportedTable {
  /** The table's text: the header, then a page of rows at a time, read from the database as it is sent. Read it once. */
  text: AsyncIterable<string>;
  /**
   * The rows written so far — every row of the table once `text` is read to its end: the clips
   * matching when the export began but those deleted or no longer matching (trashed, archived,
   * re-tagged) when their page was read.
   */
  readonly rows: number;
  /** The file name Raven gives a sound's table: `<sound>.Table.1.selections.txt` (CSV: `.csv`). */
  filename: string;
  /**
   * How many of the clips end past their recording's end (its file refreshed shorter): their rows
   * say so nowhere — Raven's format has no comment line — and a re-import keeps them as they are
   * (existing, by their Clip ID), but neither a new clip nor a move may go there.
   */
  clipsPastEnd: number;
}

/**
 * The clips an export reads per query: it holds one page's clips and text at a time, and the ids of
 * the rest. Built whole, 100,000 clips with two tags and four features each held ~220 MB of heap
 * more, and the first byte went out with the last (~23 s on PostgreSQL 15, on a loaded machine);
 * paged, ~50–90 MB and 4–5 s.
 */
const EXPORT_PAGE = 1000;

/** A clip as an export's row needs it: its tags as the clips list gives them, the feature values of its columns by name. */
interface ExportedClip extends Band {
  id: string;
  recording_id: string;
  start_time: number;
  end_time: number;
  tags: { key: string; value: string }[];
  features: Record<string, number | null>;
}

/**
 * The clips of a recording or dataset (the clips list's filters applied) as a Raven selection
 * table or CSV: Raven's columns (header as Raven writes it), Begin Path (the recording's path in
 * its dataset), File Offset (s) and Begin File — so a dataset's table re-imports into its
 * recordings — then Clip ID, a column per tag key (a clip with several values of one key: joined by
 * "; ", a ";" or backslash inside a value escaped: valuesCell), and feature values as `feature:NAME` columns. Rows by recording path, then time, then band. Low/High
 * Freq are the clip's frequency bounds, each empty where it has none (0 and the Nyquist frequency would come back from a re-import as bounds).
 *
 * Written as it is read: what the header needs (the tag keys, the feature names) and every refusal
 * — more than MAX_EXPORT_ROWS clips, naming the filters; a tag key that is a column of the table's;
 * a Channel tag that is no channel — come from aggregate queries before the text starts; then the
 * clips' ids in the table's order, and their rows a page (EXPORT_PAGE) at a time, looked up by id.
 * Not one snapshot (a transaction would hold the embedded database's only session while a client
 * reads): each page is read with the filters again, so a clip deleted or leaving them meanwhile
 * (trashed, archived, re-tagged) is left out, and a tag changed meanwhile is written as it is when
 * its page is read.
 */
export async function exportClipTable(db: Queryable, ex: ClipTableExport): Promise<ExportedTable> {
  const name = await targetName(db, ex.target);
  const lineage = joinedLineage(db, "clips", "c");
  const matching = db`${lineage.inState(ex.state)} AND ${clipFilter(db, { ...ex.target, start_before: ex.start_before, end_after: ex.end_after, min_freq: ex.min_freq, max_freq: ex.max_freq, tag: ex.tag })}`;
  const [summary] = await translating(() => db<{ total: number; past_end: number; tag_keys: string[]; feature_names: string[]; channel_fault: { id: string; values: string[] } | null }[]>`
    WITH m AS MATERIALIZED (SELECT c.id FROM clips c ${lineage.joins} WHERE ${matching})
    SELECT (SELECT count(*)::int FROM m) AS total,
      (SELECT count(*)::int FROM m JOIN clips c ON c.id = m.id JOIN recordings r ON r.id = c.recording_id WHERE c.end_time > r.duration) AS past_end,
      -- The tags used, then their keys: a hash of the tag ids, not a sort of every clip's tag text.
      COALESCE((SELECT json_agg(DISTINCT t.key) FROM tags t WHERE t.id IN (SELECT ct.tag_id FROM clip_tags ct JOIN m ON m.id = ct.clip_id)), '[]') AS tag_keys,
      ${ex.features === "all"
        ? db`COALESCE((SELECT json_agg(f.name) FROM feature_names f WHERE f.id IN (SELECT cf.feature_name_id FROM clip_features cf JOIN m ON m.id = cf.clip_id WHERE cf.value IS NOT NULL)), '[]')`
        : db`'[]'::json`} AS feature_names,
      -- channelCell's rule, for every clip at once: the clip whose Channel tag it refuses, if any.
      (SELECT json_build_object('id', ct.clip_id, 'values', json_agg(t.value ORDER BY t.value))
        FROM clip_tags ct JOIN m ON m.id = ct.clip_id JOIN tags t ON t.id = ct.tag_id AND t.key = ${CHANNEL_TAG}
        GROUP BY ct.clip_id HAVING count(*) > 1 OR bool_or(t.value !~ '^[1-9][0-9]*$') ORDER BY ct.clip_id LIMIT 1) AS channel_fault`);
  if (summary.total > MAX_EXPORT_ROWS) {
    throw invalid("recording_id" in ex.target ? "recording_id" : "dataset_id", `has ${summary.total} clips matching, more than the limit of ${MAX_EXPORT_ROWS} per export: narrow it with start_before / end_after, min_freq / max_freq, tag_key / tag_value or state, or export recording by recording`);
  }
  const tagKeys = summary.tag_keys.filter((k) => k !== CHANNEL_TAG).sort(compare);
  const placing = new Set<string>(Object.values(COLUMN));
  const clash = tagKeys.find((k) => placing.has(k) || k.startsWith(FEATURE_COLUMN_PREFIX));
  if (clash) throw new ConflictError(`the clips carry tags of key '${clash}', which is a column of the table's own: rename those tags to export them`);
  const featureNames = ex.features === "none" ? []
    : ex.features === "all" ? summary.feature_names.sort(compare)
    : [...ex.features];
  if (featureNames.length > MAX_FEATURE_COLUMNS) throw invalid("features", `names ${featureNames.length} features${ex.features === "all" ? " (all the clips have)" : ""}, more than the limit of ${MAX_FEATURE_COLUMNS} columns per export: name the features to export`);
  if (Array.isArray(ex.features)) await checkFeatureNames(db, ex.features);
  if (summary.channel_fault) channelCell(summary.channel_fault.id, summary.channel_fault.values);
  // A table the import refuses is not written either: with a column per tag key, clips carrying
  // 100,000 keys (a member's requests each adding one) made an anonymous export of 100,000 rows
  // 10^10 cells.
  const placingColumns = [COLUMN.selection, COLUMN.view, COLUMN.channel, COLUMN.begin, COLUMN.end, COLUMN.low, COLUMN.high, COLUMN.beginPath, COLUMN.fileOffset, COLUMN.beginFile, COLUMN.clipId];
  const columns = placingColumns.length + tagKeys.length + featureNames.length;
  if (columns > MAX_TABLE_COLUMNS) throw new ConflictError(`the clips carry ${tagKeys.length} tag keys: with the table's ${placingColumns.length} columns${featureNames.length ? ` and ${featureNames.length} feature columns` : ""} that is ${columns} columns, more than the ${MAX_TABLE_COLUMNS} a table may have: export fewer clips (tag_key, tag_value, start_before, end_after, min_freq, max_freq) or fewer features`);

  // The rows' order: by recording path (code-point order, the same in every locale, which a
  // collation is not), then start, end, band (time-only first, then by low and high) and id (a
  // uuid's order is its text's).
  const recordings = (await translating(() => db<{ id: string; path: string; time_expansion: number }[]>`
    SELECT id, path, time_expansion FROM recordings
    WHERE ${"recording_id" in ex.target ? db`id = ${ex.target.recording_id}` : db`dataset_id = ${ex.target.dataset_id}`}`)).sort((a, b) => compare(a.path, b.path));
  const recordingOf = new Map(recordings.map((r) => [r.id, r]));
  // As arrays of values, not objects: 100,000 of them held while the text is written.
  const ids = (await translating(async () => (await db`
    SELECT c.id FROM clips c JOIN unnest(${recordings.map((r) => r.id)}::uuid[], ${recordings.map((_, i) => i)}::int[]) AS o (recording_id, ord) ON o.recording_id = c.recording_id
      ${lineage.joins} WHERE ${matching}
    ORDER BY o.ord, c.start_time, c.end_time, c.low_freq NULLS FIRST, c.high_freq NULLS FIRST, c.id`.values()) as unknown as [string][])).map(([id]) => id);

  const header = [...placingColumns, ...tagKeys, ...featureNames.map((f) => FEATURE_COLUMN_PREFIX + f)];
  const row = (c: ExportedClip, selection: number) => {
    const r = recordingOf.get(c.recording_id)!;
    const te = ex.times === "file" ? r.time_expansion : 1;
    const feature = (n: string) => c.features[n] ?? null;
    // Left empty where the clip has no bound: 0 and the Nyquist frequency would come back from a
    // re-import as bounds the clip never had, and a box is another clip than its time band.
    const [begin, end] = boundsText(c.start_time * te, c.end_time * te, RAVEN_DECIMALS.seconds);
    const [low, high] = boundsText(c.low_freq === null ? null : c.low_freq / te, c.high_freq === null ? null : c.high_freq / te, RAVEN_DECIMALS.hz);
    return [
      String(selection), "Spectrogram 1", channelCell(c.id, c.tags.filter((t) => t.key === CHANNEL_TAG).map((t) => t.value)), begin, end, low, high,
      r.path, begin, basename(r.path), c.id,
      ...tagKeys.map((k) => tagValues(c, k)),
      ...featureNames.map((n) => { const v = feature(n); return v === null ? "" : String(v); }),
    ];
  };
  const columnFeatures = featureNames;
  let written = 0;
  async function* text(): AsyncGenerator<string> {
    yield tableLine(ex.format, header);
    for (let i = 0; i < ids.length; i += EXPORT_PAGE) {
      const page = ids.slice(i, i + EXPORT_PAGE);
      const clips = new Map((await translating(() => db<ExportedClip[]>`
        SELECT c.id, c.recording_id, c.start_time, c.end_time, c.low_freq, c.high_freq,
               COALESCE((SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key, t.value)
                         FROM clip_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.clip_id = c.id), '[]') AS tags,
               COALESCE((SELECT json_object_agg(f.name, cf.value)
                         FROM clip_features cf JOIN feature_names f ON f.id = cf.feature_name_id WHERE cf.clip_id = c.id AND f.name = ANY(${columnFeatures}::text[])), '{}') AS features
        FROM clips c ${lineage.joins} WHERE c.id = ANY(${page}::uuid[]) AND ${matching}`)).map((c) => [c.id, c]));
      let lines = "";
      for (const id of page) {
        const c = clips.get(id);
        if (c) lines += tableLine(ex.format, row(c, ++written));
      }
      yield lines;
    }
  }
  const stem = name.replace(/[/\\]/g, "_");
  return { text: text(), get rows() { return written; }, filename: ex.format === "raven" ? `${stem}.Table.1.selections.txt` : `${stem}.selections.csv`, clipsPastEnd: summary.past_end };
}

/**
 * The decimals Raven Pro writes a selection table's numbers with (test/fixtures/raven-selections.txt):
 * seconds to the nanosecond, Hz to the millihertz — fixed, never an exponent (1e-7) or a binary
 * fraction's tail (0.30000000000000004). Nanoseconds keep a clip's identity (TIME_TOLERANCE, half a
 * microsecond), millihertz its band's (FREQ_TOLERANCE) — except where they write a clip's two
 * times, or two bounds, as one number (boundsText).
 */
const RAVEN_DECIMALS = { seconds: 9, hz: 3 } as const;

/**
 * A clip's two times (or bounds, either of them absent: an empty cell) as an export writes them:
 * to Raven's `decimals` places, unless those write the two as one number — then each losslessly
 * (losslessFixed). Rounded to Raven's places, a clip of [0, 5e-324] s or [1.0000000001,
 * 1.0000000004] s, or a band of [1000.0001, 1000.0003] Hz, was written as one instant or frequency
 * twice, and the import refused the whole table (End Time must be after Begin Time). Elsewhere the
 * rounding moves a time by half a nanosecond at most, which the import's tolerance takes back.
 */
function boundsText(from: number | null, to: number | null, decimals: number): [string, string] {
  const fixed = (v: number | null) => (v === null ? "" : v.toFixed(decimals));
  const [a, b] = [fixed(from), fixed(to)];
  if (from === null || to === null || Number(a) < Number(b)) return [a, b];
  return [losslessFixed(from, decimals), losslessFixed(to, decimals)];
}

/**
 * `value` in fixed notation, read back as the same double: to `decimals` places where those do
 * (Raven's form), else with the digits of its shortest round-trip form (String: more places),
 * written out without its exponent (boundsText: a clip's times or bounds that Raven's places
 * would write as one).
 */
export function losslessFixed(value: number, decimals: number): string {
  const fixed = value.toFixed(decimals);
  // From 1e21 on toFixed writes an exponent too.
  if (Number(fixed) === value && !fixed.includes("e")) return fixed;
  const shortest = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(String(value));
  if (!shortest) return String(value);
  const [, sign, first, rest = "", exponent] = shortest;
  const digits = first + rest, point = Number(exponent) + 1;
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  return sign + (digits.length <= point ? digits.padEnd(point, "0") : `${digits.slice(0, point)}.${digits.slice(point)}`);
}

/** The most feature names a refusal of unknown ones lists (checkFeatureNames). */
const SHOWN_FEATURE_NAMES = 30;

/**
 * Refuses (400 naming `features`) log_mel, and the `names` that are neither a scalar feature a job computes
 * (SCALAR_FEATURES: a pipeline names them before its first job has run) nor a name some value has
 * had — a row of feature_names, which every value of a recording or clip names, computed or set
 * through the API: their column could only be empty, and a misspelt name (`features=nope`) wrote
 * one unsaid. Lists the names there are (the first SHOWN_FEATURE_NAMES).
 */
async function checkFeatureNames(db: Queryable, names: readonly string[]): Promise<void> {
  // Stored as 64 numbers (data), not one value: its column would be empty on every row.
  if (names.includes(MEL_FEATURE)) throw invalid("features", `names ${MEL_FEATURE}, 64 numbers a clip, not one: a table cell holds one number; a job's ${MEL_FEATURE}.npy artifact has the vectors (sonotile jobs download)`);
  const asked = names.filter((n) => !(SCALAR_FEATURES as readonly string[]).includes(n));
  if (!asked.length) return;
  const found = new Set((await translating(() => db<{ name: string }[]>`SELECT name FROM feature_names WHERE name = ANY(${asked}::text[])`)).map((r) => r.name));
  const unknown = asked.filter((n) => !found.has(n));
  if (!unknown.length) return;
  const named = (await translating(() => db<{ name: string }[]>`SELECT name FROM feature_names ORDER BY name LIMIT ${SHOWN_FEATURE_NAMES + 1}`)).map((r) => r.name);
  const list = named.length > SHOWN_FEATURE_NAMES ? `${named.slice(0, SHOWN_FEATURE_NAMES).join(", ")}, …` : named.join(", ") || "none yet";
  throw invalid("features", `names ${unknown.map((n) => `'${n}'`).join(", ")}, which no feature value has and no job computes (the features named: ${list}; jobs compute ${SCALAR_FEATURES.join(", ")})`);
}

/** The Channel cell of clip `id` whose Channel tag has `values`: the one whole number from 1, else 1 when none; a ConflictError naming the clip for a tag that is no channel or several. */
function channelCell(id: string, values: readonly string[]): string {
  if (!values.length) return "1";
  if (values.length > 1 || !/^[1-9]\d*$/.test(values[0])) {
    throw new ConflictError(`clip ${id} carries the tag ${CHANNEL_TAG} = ${values.join(", ")}, which is not one channel (a whole number from 1): the table's ${CHANNEL_TAG} column places it — correct the tag to export`);
  }
  return values[0];
}

/** The cell of a clip's values of tag `key` (valuesCell; sorted, as the clip lists them). */
const tagValues = (c: Pick<Clip, "tags">, key: string) => valuesCell(c.tags.filter((t) => t.key === key).map((t) => t.value));

/** Code-point order: the same in every locale. */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The name an export's file takes after: the recording's file name without extension, or the dataset's name; NotFoundError when there is none. */
async function targetName(db: Queryable, target: TableTarget): Promise<string> {
  if ("recording_id" in target) {
    const [r] = await translating(() => db<{ path: string }[]>`SELECT path FROM recordings WHERE id = ${target.recording_id}`);
    if (!r) throw new NotFoundError("recording", target.recording_id);
    return basename(r.path, extname(r.path));
  }
  const [d] = await translating(() => db<{ name: string }[]>`SELECT name FROM datasets WHERE id = ${target.dataset_id}`);
  if (!d) throw new NotFoundError("dataset", target.dataset_id);
  return d.name;
}
