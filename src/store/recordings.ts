/**
 * Recordings: one audio file of a dataset, with the facts read from it (hash, rate, frames,
 * channels) and what people add (time expansion, date, place, rights, tags, features, notes,
 * owners). `samplerate` and `duration` are in real units: file rate × time expansion and
 * frames ÷ that rate (SPEC §3.2) — generated columns, so they follow time_expansion, computed
 * as the engine computes them (real_samplerate, migration 020: the rate whole within rounding).
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { AudioFormatError, fileMd5 } from "../audio/index.js";
import { timeExpansionProblem } from "../audio/expansion.js";
import { VERSION } from "../engine/version.js";
import type { Queryable, Sql } from "./db.js";
import { assertWritable, deleting, inTransaction, updating, writing, given, likePattern, pageFirst, type Fragment, type KeysetPage, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
import { ConflictError, NotFoundError, invalid, translating } from "./errors.js";
import { canonicalRecordingPath, directoryGone, RefusedFileError, resolveRecordingFile } from "./paths.js";
import { probeFile, probeFileHeader, type FileFacts, type FileStamp, type HeaderFacts, type RecordedFacts } from "./probe.js";
import { carriedNotes, type CarriedNote } from "./notes.js";
import { attachTag, carriesTag, detachTag, type TagFilter } from "./tags.js";
import { dropComputedFeatureValues, dropFeatureValue, putFeatureValue, type FeatureInput } from "./features.js";

export interface Recording extends FileFacts {
  id: string;
  dataset_id: string;
  path: string;
  time_expansion: number;
  /** Changes whenever what the spectrogram routes return for this recording can (recordingRevision). */
  revision: string;
  samplerate: number;
  duration: number;
  date: string | null;
  time: string | null;
  latitude: number | null;
  longitude: number | null;
  rights: string | null;
  tags: { key: string; value: string }[];
  features: { name: string; value: number | null }[];
  owners: string[];
  /** Its active notes, oldest first (listNotes has the archived ones too). */
  notes: CarriedNote[];
  state: State;
  state_changed_at: string | null;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
}

/** What people may set on a recording (at registration or later). */
export interface RecordingMetadata {
  time_expansion?: number;
  date?: string | null;
  time?: string | null;
  latitude?: number | null;
  longitude?: number | null;
  rights?: string | null;
}

export const RECORDING_SORTS = ["path", "created_at", "duration", "samplerate", "date"] as const;

/**
 * What orders recordings of one value of a sort (pageFirst's `then`): a date by its time of day (as
 * the recorder wrote it), then the path — a night's files in the order they were recorded, and
 * recordings of one duration or rate, or registered in one import, by name.
 */
const RECORDING_TIE_BREAKS: Record<(typeof RECORDING_SORTS)[number], readonly string[]> = {
  path: [], created_at: ["path"], duration: ["path"], samplerate: ["path"], date: ["time", "path"],
};

/** The columns of RECORDING_SORTS and their tie breaks that may be NULL, listed last in either order (Listing.nullsLast). */
const RECORDING_NULLABLE_SORTS = ["date", "time"] as const;

// bigint columns are cast to float8 (exact below 2^53) so they arrive as numbers.
const SELECT = (db: Queryable) => db`
  SELECT r.id, r.dataset_id, r.path, r.hash, r.file_size::float8 AS file_size, r.file_samplerate,
         r.frames::float8 AS frames, r.channels, r.time_expansion, r.samplerate, r.duration,
         r.date, r.time, r.latitude, r.longitude, r.rights,
         r.state, r.state_changed_at, r.created_at, r.created_by, r.run_id,
         COALESCE((SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key, t.value)
                   FROM recording_tags rt JOIN tags t ON t.id = rt.tag_id WHERE rt.recording_id = r.id), '[]') AS tags,
         COALESCE((SELECT json_agg(json_build_object('name', f.name, 'value', rf.value) ORDER BY f.name)
                   FROM recording_features rf JOIN feature_names f ON f.id = rf.feature_name_id WHERE rf.recording_id = r.id), '[]') AS features,
         COALESCE((SELECT json_agg(o.user_id ORDER BY o.user_id) FROM recording_owners o WHERE o.recording_id = r.id), '[]') AS owners,
         ${carriedNotes(db, "recording_id", "r")} AS notes
  FROM recordings r`;

/**
 * A token of everything a recording's spectrograms depend on beyond the request: the file's
 * content (its MD5; the rate, frames and channels are read from it), the time expansion (the
 * rate the engine analyses at) and the engine version. Tile URLs that carry it may be cached
 * for good (SPEC §4): a change of any of these changes the token, hence the URL. Derived, not
 * counted, so that every server instance agrees without a write, and a change undone (a time
 * expansion set back) finds the caches of the old URLs still valid.
 */
export function recordingRevision(hash: string, timeExpansion: number): string {
  return createHash("sha256").update(`${hash}:${timeExpansion}:${VERSION}`).digest("hex").slice(0, 16);
}

/** A row as callers get it: with its revision. */
function fromRow<T extends Recording>(row: T): T {
  return { ...row, revision: recordingRevision(row.hash, row.time_expansion) };
}

/**
 * Refuses (400) a time expansion that gives the file no usable rate (timeExpansionProblem): the
 * generated samplerate and duration would leave float64 — 16000 × 5e-324 Hz lasts Infinity s —
 * and the database would refuse the row without naming the field.
 */
export function checkTimeExpansion(fileSamplerate: number, te: number): void {
  const problem = timeExpansionProblem(fileSamplerate, te);
  if (problem) throw invalid("time_expansion", problem);
}

/**
 * Inserts a recording whose path and file facts the caller has checked — read by this engine's
 * readers (`probed_by`, migration 013); returns null when the dataset already has that path (a
 * concurrent import got there first).
 */
export async function insertRecording(db: Queryable, r: NewRecording): Promise<Recording | null> {
  if (r.time_expansion !== undefined) checkTimeExpansion(r.file_samplerate, r.time_expansion);
  const [row] = await insertRecordings(db, [r]);
  return row ? getRecording(db, row.id) : null;
}

/**
 * A file to register (insertRecording, insertRecordings): its path in the dataset, the facts read
 * from it, what people state of it, who registers it.
 */
export type NewRecording = FileFacts & Partial<FileStamp> & RecordingMetadata & Provenance & { dataset_id: string; path: string };

/**
 * Inserts many recordings in one statement, each as insertRecording would, whose time expansion
 * the caller has checked too (checkTimeExpansion: one bad file must not fail the others); returns
 * the ids and paths of those inserted — a path the dataset has already (registered concurrently)
 * is left out. Takes the bytes' content locks (lockContent) first: in the caller's transaction, they
 * are held until it commits. An import registered its files one transaction of four statements each (the
 * dataset's check, the insert, the recording read back whole), 150,000 round trips for a
 * season's 30,000 files.
 */
export async function insertRecordings(db: Queryable, rows: NewRecording[]): Promise<{ id: string; path: string }[]> {
  if (!rows.length) return [];
  const values = rows.map((r) => ({
    dataset_id: r.dataset_id, path: r.path, hash: r.hash, file_size: r.file_size, file_mtime: r.file_mtime ?? null, file_samplerate: r.file_samplerate,
    frames: r.frames, channels: r.channels, probed_by: VERSION, time_expansion: r.time_expansion ?? 1, date: r.date ?? null, time: r.time ?? null,
    latitude: r.latitude ?? null, longitude: r.longitude ?? null, rights: r.rights ?? null, created_by: r.created_by, run_id: r.run_id ?? null,
  }));
  // A refresh or a PATCH path checking that no other recording holds these bytes sees them, or waits.
  await lockContent(db, rows.map((r) => r.hash));
  return translating(() => db<{ id: string; path: string }[]>`
    INSERT INTO recordings ${db(values)}
    ON CONFLICT (dataset_id, path) DO NOTHING
    RETURNING id, path`);
}

export async function getRecording(db: Queryable, id: string): Promise<Recording> {
  const [row] = await translating(() => db<Recording[]>`${SELECT(db)} WHERE r.id = ${id}`);
  if (!row) throw new NotFoundError("recording", id);
  return fromRow(row);
}

export interface RecordingQuery extends PageRequest {
  state: StateFilter;
  dataset_id?: string;
  /**
   * Case-insensitive substring of the path, in either Unicode form: a file named on macOS has its
   * accents decomposed (NFD), and "café" typed on a keyboard did not find "cafe\u0301 nocturne.wav".
   */
  search?: string;
  hash?: string;
  /** Only recordings of this date (YYYY-MM-DD) or later; recordings without a date are left out. */
  date_from?: string;
  /** Only recordings of this date (YYYY-MM-DD) or earlier; recordings without a date are left out. */
  date_to?: string;
  /** Only recordings carrying a tag of this key — of this value, or of any value when `value` is undefined. */
  tag?: TagFilter;
  sort: (typeof RECORDING_SORTS)[number];
  order: "asc" | "desc";
  /**
   * Where the page begins: after the last recording of the page whose `next_cursor` this is (of the
   * same filters, sort and order), instead of at `offset` (then 0) — recordings added or removed
   * meanwhile shift no page: one listed before and after is listed once.
   */
  cursor?: string;
}

/** What a listing of recordings is filtered by besides state — and a bulk tagging's selection (recording-tags.ts). */
export type RecordingFilter = Pick<RecordingQuery, "dataset_id" | "search" | "hash" | "date_from" | "date_to" | "tag">;

/** SQL: the recording `r` passes `f`'s filters (TRUE without any). */
export function recordingFilter(db: Queryable, f: RecordingFilter): Fragment {
  return db`${given(db, f.dataset_id, (id) => db`r.dataset_id = ${id}`)}
    AND ${given(db, f.search, (text) => searchPath(db, text))}
    AND ${given(db, f.hash, (hash) => db`r.hash = ${hash}`)}
    AND ${given(db, f.date_from, (from) => db`r.date >= ${from}::date`)}
    AND ${given(db, f.date_to, (to) => db`r.date <= ${to}::date`)}
    AND ${carriesTag(db, "recording", "r", f.tag)}`;
}

/**
 * The values recordingFilter selects by, in a fixed order (a cursor's Keyset.filters): one changed
 * is another listing. The search as the listing compares it (searchAsCompared): compared as typed,
 * `?search=CAF` refused the cursor of `?search=caf`, which lists the same recordings.
 */
async function recordingFilterValues(db: Queryable, f: RecordingFilter): Promise<unknown[]> {
  const search = f.search === undefined ? undefined : await searchAsCompared(db, f.search);
  return [f.dataset_id, search, f.hash, f.date_from, f.date_to, f.tag?.key, f.tag?.value];
}

export async function listRecordings(db: Queryable, q: RecordingQuery): Promise<KeysetPage<Recording>> {
  const page = await pageFirst<Recording>(db, {
    ...q, table: "recordings", alias: "r", where: recordingFilter(db, q), select: SELECT(db), then: RECORDING_TIE_BREAKS[q.sort], nullsLast: RECORDING_NULLABLE_SORTS,
    keyset: { after: q.cursor, filters: await recordingFilterValues(db, q) },
  });
  return { ...page, items: page.items.map(fromRow) };
}

/**
 * Recordings whose path holds `text`, case-insensitively, in both Unicode forms, the paths as
 * stored: PostgreSQL's normalize() refuses a database whose encoding is not UTF8 (every search a
 * 500 there), and an index on path stays usable.
 */
function searchPath(db: Queryable, text: string): Fragment {
  return db`(r.path ILIKE ${likePattern(text)} OR r.path ILIKE ${likePattern(text, "NFD")})`;
}

/**
 * What searchPath's ILIKE compares a path with, for `text`: its two patterns (NFC, NFD) lower-cased
 * by the database — ILIKE lowers the pattern and the path by the database's collation, which folds
 * `É` in one locale and leaves it in another (C), as JavaScript could not tell. Texts of one
 * answer list the same recordings.
 */
async function searchAsCompared(db: Queryable, text: string): Promise<[string, string]> {
  const [row] = await db<{ nfc: string; nfd: string }[]>`SELECT lower(${likePattern(text)}::text) AS nfc, lower(${likePattern(text, "NFD")}::text) AS nfd`;
  return [row.nfc, row.nfd];
}

/**
 * Refuses (409) a time expansion, or a file chosen by hand (PATCH path), that would make the
 * recording end before some of its clips do: clips are kept in real seconds, so they would lie
 * past the new end — no audio to read, and no PATCH of theirs could pass the bounds check. Every
 * clip counts, archived and trashed ones too, since a restore brings them back. The new duration
 * is computed as the generated column computes it (from the row's frames and file rate, a new
 * file's once written in the same transaction), so a clip ending exactly at the new end still fits.
 * Likewise for clips' frequency bounds (real Hz): a lower time expansion lowers the Nyquist
 * frequency, and a clip whose band would reach above it is refused, as a clip created so would be.
 * @param cause what the message says makes the recording shorter
 */
async function checkClipsFit(db: Queryable, id: string, timeExpansion: number, cause = `time_expansion ${timeExpansion}`): Promise<void> {
  const [outside] = await db`
    SELECT c.id, c.start_time, c.end_time, count(*) OVER () AS n,
           r.frames / real_samplerate(r.file_samplerate, ${timeExpansion}::float8) AS duration
    FROM clips c JOIN recordings r ON r.id = c.recording_id
    WHERE r.id = ${id} AND c.end_time > r.frames / real_samplerate(r.file_samplerate, ${timeExpansion}::float8)
    ORDER BY c.start_time, c.id LIMIT 1`;
  if (outside) {
    const n = Number(outside.n);
    throw new ConflictError(
      `${cause} would make recording ${id} ${outside.duration} s long, and ${n} of its clips ` +
        `would end past that (first: clip ${outside.id}, ${outside.start_time}–${outside.end_time} s); ` +
        `move or delete ${n > 1 ? "them" : "it"} first`,
    );
  }
  const [above] = await db`
    SELECT c.id, c.low_freq, c.high_freq, count(*) OVER () AS n, real_samplerate(r.file_samplerate, ${timeExpansion}::float8) / 2 AS nyquist
    FROM clips c JOIN recordings r ON r.id = c.recording_id
    WHERE r.id = ${id} AND (c.high_freq > real_samplerate(r.file_samplerate, ${timeExpansion}::float8) / 2 OR c.low_freq >= real_samplerate(r.file_samplerate, ${timeExpansion}::float8) / 2)
    ORDER BY c.start_time, c.id LIMIT 1`;
  if (!above) return;
  const m = Number(above.n);
  throw new ConflictError(
    `${cause} would make recording ${id}'s Nyquist frequency ${above.nyquist} Hz, and ${m} of its clips ` +
      `would reach above that (first: clip ${above.id}, ${above.low_freq ?? 0}–${above.high_freq ?? "Nyquist"} Hz); ` +
      `change or remove ${m > 1 ? "their" : "its"} frequency bounds first`,
  );
}

/**
 * What a change of a recording's time expansion does to its clips, whose times and frequency
 * bounds are real seconds and Hz (SPEC §3.2: real time = file time / TE, real frequency = file
 * frequency × TE), so that the same numbers cover other audio of the file at another factor:
 * `follow` — each keeps the file's audio it covers (followClips); `keep` — each keeps its numbers,
 * hence covers other audio, refused where they would not fit (checkClipsFit).
 */
export const CLIPS_ON_TIME_EXPANSION = ["follow", "keep"] as const;
export type ClipsOnTimeExpansion = (typeof CLIPS_ON_TIME_EXPANSION)[number];

/**
 * Refuses (409) a change of time expansion `from` → `to` of a recording with clips when the caller
 * has not said what happens to them (ClipsOnTimeExpansion): either choice is a fair reading of
 * "the time expansion was wrong", and the wrong one silently moves every clip to other audio of
 * the file. Every clip counts, archived and trashed ones too: a restore brings them back, as
 * checkClipsFit counts them.
 */
async function requireClipsChoice(tx: Queryable, id: string, from: number, to: number): Promise<void> {
  const [{ n, inactive }] = await tx<{ n: number; inactive: number }[]>`
    SELECT count(*)::int AS n, count(*) FILTER (WHERE state <> 'active')::int AS inactive FROM clips WHERE recording_id = ${id}`;
  if (n === 0) return;
  const [clips, cover, their] = n > 1 ? [`${n} clips`, "cover", "their"] : ["1 clip", "covers", "its"];
  throw new ConflictError(
    `time_expansion ${to} changes what recording ${id}'s ${clips}${inactive ? ` (${inactive} of them archived or trashed)` : ""} ${cover}: ` +
      `${their} times and frequency bounds are real seconds and Hz, at time_expansion ${from} now. Say which with the query parameter clips: ` +
      `clips=follow keeps each clip on the audio of the file it covers (times × ${from}/${to}, frequencies × ${to}/${from}), ` +
      `clips=keep keeps ${their} times and bounds (covering other audio of the file; refused where ${n > 1 ? "they" : "it"} would not fit)`,
  );
}

/**
 * Moves every clip of a recording (archived and trashed ones too: otherwise their restore brings
 * them back on other audio) so that each covers the same audio of the file at time expansion `to`
 * as at `from`: times to file seconds (× from) and back to real ones (÷ to), frequencies to the
 * file's Hz (÷ from) and back (× to). A clip that ended at the recording's end, or whose band
 * reached its Nyquist frequency, at `from` does so at `to`; one within the recording stays within
 * it — the end or the top bound at most the new duration or Nyquist frequency, as the generated
 * columns compute them (0.1 s of a 0.1 s recording × 1 / 0.7 is 0.14285714285714288 s, past its
 * 0.14285714285714285 s).
 * A clip already outside (left so by a refresh) is moved alike, unclamped: checkClipsFit then
 * counts it. Runs in the caller's transaction, with the recording's content as it is in it.
 */
async function followClips(tx: Queryable, id: string, from: number, to: number): Promise<void> {
  const edges = (te: number) => ({
    duration: tx`r.frames / real_samplerate(r.file_samplerate, ${te}::float8)`,
    nyquist: tx`real_samplerate(r.file_samplerate, ${te}::float8) / 2`,
  });
  const time = (column: string) => tx`c.${tx(column)} * ${from}::float8 / ${to}::float8`;
  const frequency = (column: string) => tx`c.${tx(column)} / ${from}::float8 * ${to}::float8`;
  /** The clip's columns followed to `to`: fresh fragments for each query that uses them. */
  const followed = () => {
    const [before, after] = [edges(from), edges(to)];
    return {
      start_time: time("start_time"),
      end_time: tx`CASE WHEN c.end_time = ${before.duration} THEN ${after.duration}
                        WHEN c.end_time < ${before.duration} THEN LEAST(${time("end_time")}, ${after.duration})
                        ELSE ${time("end_time")} END`,
      low_freq: frequency("low_freq"),
      high_freq: tx`CASE WHEN c.high_freq = ${before.nyquist} THEN ${after.nyquist}
                         WHEN c.high_freq < ${before.nyquist} THEN LEAST(${frequency("high_freq")}, ${after.nyquist})
                         ELSE ${frequency("high_freq")} END`,
    };
  };
  // A clip a few float64 steps wide (the API takes any width) can lose its width to the rounding of
  // a scale and a clamp: its CHECKs would refuse the UPDATE naming a rule, not the clip.
  const f = followed();
  const [narrow] = await tx<{ id: string }[]>`
    SELECT c.id FROM clips c JOIN recordings r ON r.id = c.recording_id
    WHERE r.id = ${id} AND (${f.start_time} >= ${f.end_time} OR ${f.low_freq} >= ${f.high_freq})
    ORDER BY c.start_time, c.id LIMIT 1`;
  if (narrow) throw new ConflictError(`clip ${narrow.id} is too narrow to follow the file's audio to time_expansion ${to}: its times or its band would meet in the rounding; widen it, or change the time expansion with clips=keep`);
  const g = followed();
  await translating(() => tx`
    UPDATE clips c SET start_time = ${g.start_time}, end_time = ${g.end_time}, low_freq = ${g.low_freq}, high_freq = ${g.high_freq}
    FROM recordings r
    WHERE r.id = c.recording_id AND r.id = ${id}`);
}

/**
 * Updates what people may change. A new time expansion changes samplerate and duration, so
 * it must give a usable rate; a recording with clips needs `options.clips` to say what happens to
 * them (requireClipsChoice: followClips, or checkClipsFit keeping every clip inside the
 * recording); and what was computed at the old rate goes: the recording's cached stats, and the
 * feature values jobs computed of it and of its clips (dropComputedFeatureValues). One
 * transaction with the recording's row locked FOR UPDATE first (by assertWritable, after its
 * dataset's FOR SHARE): clip creation and clip moves lock it FOR SHARE before their bounds check
 * (see lockRecording in clips.ts), so none of them runs between the check (or the move) of the
 * clips here and the update, and a job's values computed at the old rate are not written after
 * it (settleGroup locks the targets FOR SHARE and drops values whose time expansion changed).
 * @param options.content (PATCH path: readRecordingFile) the file the recording is pointed at
 *   first, in the same transaction: a refused field leaves the path as it was; refused (409) when
 *   another recording of the dataset holds its bytes (refuseAnothersBytes), unless `options.force`
 * @param options.clips what a change of time expansion does to the recording's clips; needed when
 *   it has any and the factor changes, ignored otherwise
 */
export async function updateRecording(sql: Sql, id: string, patch: RecordingMetadata, options: { content?: RecordingContent; clips?: ClipsOnTimeExpansion; force?: boolean } = {}): Promise<Recording> {
  const { content, clips } = options;
  return inTransaction(sql, async (tx) => {
    await assertWritable(tx, "recordings", id, "FOR UPDATE"); // 404 when there is no recording
    const [locked] = await translating(() => tx<{ file_samplerate: number; time_expansion: number }[]>`SELECT file_samplerate, time_expansion FROM recordings WHERE id = ${id}`);
    const timeExpansion = patch.time_expansion ?? locked.time_expansion;
    const expansionChanges = timeExpansion !== locked.time_expansion;
    // Followed to a new file, a clip would be placed on the old file's audio at the old file's
    // edges: the two steps make it plain which file each clip follows.
    if (content && expansionChanges && clips === "follow") throw invalid("clips", "follow keeps each clip on the audio of the recording's file; with a new path, change the path and the time_expansion in two requests");
    if (content) await writeContent(tx, id, content, timeExpansion, options.force ? null : (other) => pathHoldsAnothersBytes(id, content.path, other));
    else if (patch.time_expansion !== undefined) checkTimeExpansion(locked.file_samplerate, timeExpansion);
    if (expansionChanges) {
      if (!clips) await requireClipsChoice(tx, id, locked.time_expansion, timeExpansion);
      else if (clips === "follow") await followClips(tx, id, locked.time_expansion, timeExpansion);
    }
    if (content) {
      // A file chosen by hand must hold the clips, as a new time expansion must (a refresh keeps
      // them past the end and counts them: the file at the recording's own path has changed).
      await checkClipsFit(tx, id, timeExpansion, `path ${JSON.stringify(content.path)}${patch.time_expansion === undefined ? "" : ` with time_expansion ${timeExpansion}`}`);
    } else if (patch.time_expansion !== undefined) {
      await checkClipsFit(tx, id, timeExpansion);
    }
    const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
    if (Object.keys(fields).length) await translating(() => tx`UPDATE recordings SET ${tx(fields, ...Object.keys(fields))} WHERE id = ${id}`);
    if (expansionChanges) {
      await tx`DELETE FROM recording_stats WHERE recording_id = ${id}`;
      await dropComputedFeatureValues(tx, id);
    }
    return getRecording(tx, id);
  }, `recording ${id}`);
}

/**
 * Deletes a recording's metadata (and by cascade its clips and notes); the file stays. Only an
 * active one under an active dataset: archived means read-only, deletion included (409).
 */
export async function deleteRecording(db: Queryable, id: string): Promise<void> {
  return deleting(db, "recordings", id, async (tx) => {
    const rows = await translating(() => tx`DELETE FROM recordings WHERE id = ${id} RETURNING id`);
    if (!rows.length) throw new NotFoundError("recording", id);
  });
}

/**
 * Points a recording at the file now at `to`, the one it was registered from — moved or renamed:
 * the same MD5 (importDataset finds it so) — with that file's size and time: its id, clips, tags,
 * features and notes stay with it, where a new recording for the file had left them on one whose
 * file was missing. Whatever the recording's own state: a path says where its file is, not what
 * people wrote, and a trashed recording's file moved is no new recording. Only while the row is
 * still at `from` with that hash; false when it is not (another import moved it first). Its bytes
 * stay its own, so it takes no content lock (lockContent): a writer checking whose bytes a file
 * holds finds them this recording's before the move and after.
 * @param move.from the recording's registered path, where its file no longer is
 * @param move.to the new path, relative to the dataset's audio_dir (canonical, as a scan lists it)
 */
export async function moveRecordingPath(db: Queryable, id: string, move: { from: string; to: string; hash: string } & FileStamp & { file_size: number }): Promise<boolean> {
  const rows = await translating(() => db`
    UPDATE recordings SET path = ${move.to}, file_size = ${move.file_size}, file_mtime = ${move.file_mtime}
    WHERE id = ${id} AND path = ${move.from} AND hash = ${move.hash}
    RETURNING id`);
  return rows.length > 0;
}

/** Where a recording's file is, and what reading it needs: the stored rate, channels, time expansion. */
export interface RecordingLocation {
  dataset_id: string;
  audio_dir: string;
  path: string;
  hash: string;
  /** Bytes when registered: the file is taken as changed if its size differs. */
  file_size: number;
  /** The file's mtime when registered or last found unchanged; null until first read for rows older than migration 006. */
  file_mtime: number | null;
  file_samplerate: number;
  /** Sample frames per channel in the file. */
  frames: number;
  channels: number;
  /** The engine version whose readers read file_samplerate, frames and channels; null: one before migration 013. */
  probed_by: string | null;
  time_expansion: number;
}

// bigint columns as float8, as in SELECT.
const LOCATION = (db: Queryable) => db`
  SELECT r.id, d.audio_dir, r.path, r.hash, r.file_size::float8 AS file_size, r.file_mtime, r.file_samplerate,
         r.frames::float8 AS frames, r.channels, r.probed_by, r.time_expansion, r.dataset_id
  FROM recordings r JOIN datasets d ON d.id = r.dataset_id`;

export async function getRecordingLocation(db: Queryable, id: string): Promise<RecordingLocation> {
  const [row] = await translating(() => db<RecordingLocation[]>`${LOCATION(db)} WHERE r.id = ${id}`);
  if (!row) throw new NotFoundError("recording", id);
  return row;
}

/** The locations of the recordings `ids` that exist, by id, in one statement (a batch of job items' files). */
export async function getRecordingLocations(db: Queryable, ids: readonly string[]): Promise<Map<string, RecordingLocation>> {
  const rows = await translating(() => db<(RecordingLocation & { id: string })[]>`${LOCATION(db)} WHERE r.id = ANY(${[...new Set(ids)]}::uuid[])`);
  return new Map(rows.map(({ id, ...loc }) => [id, loc]));
}

/**
 * Up to `limit` recordings whose header facts another engine's readers read (`probed_by` not this
 * VERSION: older, newer, or NULL), with ids after `after` in id order, for a sweep that goes
 * through them once (sweepStaleRecordings).
 */
export async function staleRecordingLocations(db: Queryable, after: string | null, limit: number): Promise<(RecordingLocation & { id: string })[]> {
  return translating(() => db<(RecordingLocation & { id: string })[]>`
    ${LOCATION(db)}
    WHERE r.probed_by IS DISTINCT FROM ${VERSION} AND (${after}::uuid IS NULL OR r.id > ${after}::uuid)
    ORDER BY r.id LIMIT ${limit}`);
}

/**
 * Whether header facts read by the engine `probedBy` are to be read again by this one: read by
 * an older engine, or before migration 013 (null). Facts a newer engine read stay (a newer
 * server beside this one, during an upgrade): its readers count at least as well, and the two
 * would otherwise overwrite each other at every use. Versions compare as numbers, part by part
 * (0.10.0 is after 0.9.0); one that is not dotted numbers counts as older.
 */
export function readByOlderEngine(probedBy: string | null): boolean {
  if (probedBy === VERSION) return false;
  const parts = (v: string | null) => (v !== null && /^\d+(\.\d+)*$/.test(v) ? v.split(".").map(Number) : null);
  const theirs = parts(probedBy);
  const ours = parts(VERSION)!;
  if (!theirs) return true;
  for (let i = 0; i < Math.max(theirs.length, ours.length); i++) {
    const d = (theirs[i] ?? 0) - (ours[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

/**
 * A recording's file as it is now, to be read: its real path — inside the dataset's audio_dir
 * after symlinks (resolveRecordingFile, SPEC §10) — and its size and modification time (what a
 * reader checks again once it has read it: checkFileUnchanged), with the content registered,
 * and its header facts as this engine's readers count them. Facts an older engine read
 * (readByOlderEngine) are read again here, from the header alone, and stored (reprobed): a
 * recording is right from its first use after an upgrade. A header this engine cannot read leaves
 * the stored facts: whoever decodes the file reports why (a download needs no decoding).
 * @throws RefusedFileError (naming `path`) when the file is missing, not a regular file, or resolves
 *   outside the audio_dir; ConflictError naming what changed when the content did (registeredFile)
 */
export async function recordingFileNow(db: Queryable, loc: RecordingLocation, id: string): Promise<{ file: string; size: number; mtime: number } & HeaderFacts> {
  const found = await registeredFile(db, loc, id);
  const now = { file: found.file, size: found.size, mtime: found.mtime };
  if (!readByOlderEngine(loc.probed_by)) return { ...now, ...headerOf(loc) };
  const again = await reprobed(db, loc, id, found).catch((err) => {
    if (err instanceof AudioFormatError) return null;
    throw err;
  });
  return { ...now, ...(again?.facts ?? headerOf(loc)) };
}

function headerOf(facts: HeaderFacts): HeaderFacts {
  return { file_samplerate: facts.file_samplerate, frames: facts.frames, channels: facts.channels };
}

/**
 * The file of a recording, checked to hold the content registered. A file that was replaced has a
 * hash, statistics and tiles describing other content, so it is refused rather than read under
 * them. A file of another size was replaced; a file of the same size modified since (its mtime
 * moved: rewritten in place, copied without keeping times, touched) is hashed again — the file's
 * size and time taken before the hash, so a write during it is seen at the next read — and either
 * recorded as unchanged with its new time, or refused. A row registered before migration 006 takes
 * the time the file has at its first read.
 * @throws RefusedFileError (naming `path`) when the file is missing, not a regular file, or resolves
 *   outside the audio_dir; ConflictError naming what changed when the content did
 */
async function registeredFile(db: Queryable, loc: RecordingLocation, id: string): Promise<{ file: string; size: number; mtime: number }> {
  const found = await locatedFile(loc);
  const changed = (what: string) => new ConflictError(`the file of recording ${id} (${loc.path}) has changed since it was registered: ${what}; its hash, statistics and tiles describe the registered content — put that file back, or make the new one its content (${refreshRoute(id)})`);
  const change = statChange(loc, found);
  if (change === "size") throw changed(`${loc.file_size} bytes then, ${found.size} now`);
  if (change === "modified") {
    const hash = await sharedMd5(found);
    if (hash !== loc.hash) throw changed(`the same size, but modified (MD5 ${loc.hash} then, ${hash} now)`);
  }
  if (found.mtime !== loc.file_mtime) await translating(() => db`UPDATE recordings SET file_mtime = ${found.mtime} WHERE id = ${id} AND hash = ${loc.hash}`);
  return found;
}

/**
 * resolveRecordingFile for a recording's location; a file missing because its dataset's whole
 * directory is gone is refused saying so, and how to point the dataset at its files, as the dataset's
 * scan says it — a tile named only the file, the operator looking for one file, not a moved disk.
 */
async function locatedFile(loc: RecordingLocation): Promise<Awaited<ReturnType<typeof resolveRecordingFile>>> {
  try {
    return await resolveRecordingFile(loc.audio_dir, loc.path);
  } catch (err) {
    if (!(err instanceof RefusedFileError) || err.refusal !== "missing" || (await stat(loc.audio_dir).then(() => true, () => false))) throw err;
    throw new RefusedFileError(err.fields[0].field, "missing", `file ${loc.path} cannot be read: ${directoryGone(loc.audio_dir, loc.dataset_id)}`);
  }
}

/**
 * What a file's size and modification time (stat, no read) tell of its content against the
 * recording's registered ones: `size` — another size, so other content; `modified` — the same
 * size, another time, so maybe other content (a rewrite, or the same bytes copied or touched:
 * only a hash tells); null — neither moved (a rewrite within the time's granularity, or one that
 * set the old time back, is not seen). A row older than migration 006 whose file nobody has
 * read since has no time: only its size counts.
 */
export type FileChange = "size" | "modified";
export function statChange(registered: { file_size: number; file_mtime: number | null }, now: { size: number; mtime: number }): FileChange | null {
  if (now.size !== registered.file_size) return "size";
  if (registered.file_mtime !== null && now.mtime !== registered.file_mtime) return "modified";
  return null;
}

/** Recording `id`'s file refused (RefusedFileError), as the API and the CLI say it: the store's words, naming the file by its path in the dataset. */
export const refusedFileMessage = (id: string, err: RefusedFileError) => `the file of recording ${id}: ${err.reason}`;

/** The route that makes the file now at a recording's path its content (refreshRecordingFile), as messages name it. */
export const refreshRoute = (id: string) => `POST /v1/recordings/${id}/refresh`;

/**
 * Makes the file now at a recording's path its content: hashed and read again (probeFile), and its
 * hash, size, time and header facts stored, so that its revision, tiles and statistics follow the
 * new bytes (re-exported, repaired). A replaced file had been refused everywhere (registeredFile)
 * with nothing to do but delete the recording — its clips, tags, features and notes with it.
 * Clips stay, even where they now end after the recording or reach above its Nyquist frequency
 * (ClipsOutside), as on a reprobe.
 * @throws RefusedFileError as resolveRecordingFile; AudioFormatError when the file is not
 *   readable audio; ConflictError when the recording is archived or trashed (read-only)
 */
export async function refreshRecordingFile(db: Queryable, id: string, options: { force?: boolean } = {}): Promise<{ recording: Recording } & ClipsOutside & Refreshed> {
  const loc = await getRecordingLocation(db, id);
  const found = await locatedFile(loc);
  const facts = await probeFile(found.file, { exactPath: true });
  const before = await getRecording(db, id);
  const stored = await storeContent(db, id, facts, loc.path, options.force ?? false);
  return { ...stored, metadataDiffers: metadataDiffers(before, facts), staleFeatureValues: await staleFeatureValues(db, id, facts.hash) };
}

/** What a refresh says beyond the content it stored (refreshRecordingFile). */
export interface Refreshed {
  /**
   * Where the new file's GUANO/bext metadata (date, time, place, time expansion) states another
   * value than the recording's: the recording keeps its own — a person may have set or corrected
   * it (PATCH /v1/recordings/{id}); the file's is named, to be set with a PATCH if it is right.
   */
  metadataDiffers: MetadataDifference[];
  /**
   * Feature values a job computed from the recording's former bytes (their recording_hash is not
   * the new MD5), of the recording and its clips: kept, and stale until a job computes them again.
   */
  staleFeatureValues: number;
}

export interface MetadataDifference {
  field: "date" | "time" | "latitude" | "longitude" | "time_expansion";
  recording: string | number | null;
  file: string | number;
}

/** The fields the file states (not null) that differ from the recording's (Refreshed.metadataDiffers). */
function metadataDiffers(recording: Recording, file: RecordedFacts): MetadataDifference[] {
  const fields = ["date", "time", "latitude", "longitude", "time_expansion"] as const;
  return fields.flatMap((field) => {
    const stated = file[field];
    return stated === null || stated === undefined || stated === recording[field] ? [] : [{ field, recording: recording[field], file: stated }];
  });
}

/** An arbitrary constant naming, among two-key advisory locks, the writes of given bytes as a recording's (their MD5's hashtext the second key). */
const RECORDING_CONTENT_LOCK = 0x736f6e63; // "sonc"

/**
 * Makes transaction `tx` wait for any other transaction writing the bytes of one of the MD5s
 * `hashes` as a recording's — a refresh, a PATCH path (writeContent), an import's or a POST's new
 * recordings (insertRecordings) — by advisory locks held until commit, so that refuseAnothersBytes
 * sees what they wrote: checked before the transaction, two recordings whose files were both
 * replaced by one new file, refreshed at once, each passed before the other wrote, and both took
 * the bytes a refresh of the second alone refuses; a PATCH path, which took no lock, passed beside
 * a refresh to the same bytes, and an import registered a copy of them unreported. Taken in the
 * order of their keys, so that two writers of several never wait for each other's.
 */
async function lockContent(tx: Queryable, hashes: string[]): Promise<void> {
  await tx`
    SELECT pg_advisory_xact_lock(${RECORDING_CONTENT_LOCK}::int, k)
    FROM (SELECT DISTINCT hashtext(h) AS k FROM unnest(${hashes}::text[]) h ORDER BY k) keys`;
}

/**
 * The refusal of a recording's new content whose bytes another recording of the dataset holds
 * (refuseAnothersBytes), as its writer words it; null when forced: the bytes are taken all the same.
 */
type AnothersBytes = ((other: { id: string; path: string; hash: string }) => ConflictError) | null;

/**
 * Refuses (409, `refusal`'s words) to make `hash` recording `id`'s content when it is another
 * recording's of the dataset: two files swapped, or one copied over another — refreshed, each
 * recording took the other's audio under its own date, time and clips, for good; a copy of
 * another's file given by PATCH path. Bytes that are still the recording's own are no other's,
 * though a duplicate of it holds them too (a file only touched, or moved with its bytes). Runs in
 * the writer's transaction, after lockContent (writeContent).
 */
async function refuseAnothersBytes(tx: Queryable, id: string, hash: string, refusal: NonNullable<AnothersBytes>): Promise<void> {
  const [other] = await tx<{ id: string; path: string }[]>`
    SELECT o.id, o.path FROM recordings o JOIN recordings r ON r.dataset_id = o.dataset_id
    WHERE r.id = ${id} AND o.id <> ${id} AND o.hash = ${hash} AND r.hash <> ${hash} ORDER BY o.path LIMIT 1`;
  if (other) throw refusal({ ...other, hash });
}

/** A refresh's refusal of the file at recording `id`'s `path` holding `other`'s bytes (refuseAnothersBytes). */
function fileHoldsAnothersBytes(id: string, path: string, other: { id: string; path: string; hash: string }): ConflictError {
  return new ConflictError(`the file of recording ${id} (${path}) now holds the bytes of recording ${other.id} (${other.path}, MD5 ${other.hash}): swapped or copied over? Refreshed, this recording's clips, tags and notes would lie over that one's audio — put the files back; if the file is this recording's content all the same, refresh with force (${refreshRoute(id)}?force=true, sonotile dataset refresh --force)`);
}

/** A PATCH path's refusal of the file at `path` holding `other`'s bytes (refuseAnothersBytes), naming the field. */
function pathHoldsAnothersBytes(id: string, path: string, other: { id: string; path: string; hash: string }): ConflictError {
  return new ConflictError(`path ${JSON.stringify(path)} holds the bytes of recording ${other.id} (${other.path}, MD5 ${other.hash}): a copy of that recording's file? Pointed at it, this recording's clips, tags and notes would lie over that one's audio — if the file is this recording's content all the same, give it with force (PATCH /v1/recordings/${id}?force=true)`, "path");
}

/** Feature values of recording `id` and its clips computed from other bytes than `hash` (Refreshed.staleFeatureValues). */
async function staleFeatureValues(db: Queryable, id: string, hash: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    SELECT (SELECT count(*) FROM recording_features WHERE recording_id = ${id} AND recording_hash <> ${hash})
         + (SELECT count(*) FROM clip_features v JOIN clips c ON c.id = v.clip_id WHERE c.recording_id = ${id} AND v.recording_hash <> ${hash}) AS n`;
  return Number(row.n);
}

/** Another file of a recording's dataset, read to be its content (readRecordingFile → updateRecording). */
export interface RecordingContent {
  /** Relative to the dataset's audio_dir, by where the file is (as a scan lists it). */
  path: string;
  facts: FileFacts & FileStamp;
}

/**
 * Reads, for PATCH path, another file of a recording's dataset given by hand — for a file moved
 * *and* edited (re-exported, its metadata rewritten), whose MD5 no import can match: the import
 * registered it as a new, bare recording and left this one, with its work, missing, and nothing
 * could point it there. Hashed and read as a refresh does; updateRecording then makes it the
 * recording's content, its clips, tags, features and notes staying.
 * @param path relative to the dataset's audio_dir; it must be a readable audio file there (after
 *   symlinks, resolveRecordingFile)
 * @throws InvalidError naming `path` (missing, outside the audio_dir, not a regular file, not
 *   readable audio)
 */
export async function readRecordingFile(db: Queryable, id: string, path: string): Promise<RecordingContent> {
  const loc = await getRecordingLocation(db, id);
  const found = await resolveRecordingFile(loc.audio_dir, canonicalRecordingPath(path));
  // The file named as the request names it, not by the server's own path (as registration does).
  const facts = await probeFile(found.file, { exactPath: true }).catch((err: Error) => {
    throw err instanceof AudioFormatError ? invalid("path", err.message.replaceAll(found.file, found.realPath)) : err;
  });
  return { path: found.realPath, facts };
}

/**
 * Stores `facts` of the file at the recording's `path` (as messages name it) as its content
 * (writeContent), in a transaction of its own — refused, unless `force`, when the bytes are
 * another recording's (refuseAnothersBytes).
 */
async function storeContent(db: Queryable, id: string, facts: FileFacts & FileStamp, path: string, force: boolean): Promise<{ recording: Recording } & ClipsOutside> {
  const outside = await updating(db, "recordings", id, async (tx) => {
    const [{ time_expansion }] = await tx<{ time_expansion: number }[]>`SELECT time_expansion FROM recordings WHERE id = ${id}`;
    return writeContent(tx, id, { path: null, facts }, time_expansion, force ? null : (other) => fileHoldsAnothersBytes(id, path, other));
  });
  return { recording: await getRecording(db, id), ...outside };
}

/**
 * The clips a recording's new content left outside it, kept (people's work) and counted for the
 * caller to say: they need moving, or their bounds changing, before any PATCH of theirs passes.
 */
export interface ClipsOutside {
  /** Clips that end after the recording (a shorter file). */
  clipsPastEnd: number;
  /**
   * Clips whose frequency band reaches above the recording's Nyquist frequency (a file of a lower
   * rate): a `low_freq` at or above it, or a `high_freq` above it, as a clip's bounds are checked.
   */
  clipsAboveNyquist: number;
}

/**
 * Stores, in `tx`, `facts` of a file as a recording's content — hash, size, time and header facts —
 * so that its revision, hence its tile URLs, and its statistics (kept by content hash) follow the
 * new bytes; and `path`, where the file is, unless null (the file at its path). Clips stay, even
 * where they now end after the recording or reach above its Nyquist frequency: their numbers are
 * returned. First waits for any other writer of the same bytes (lockContent), so that what the
 * checks read is what they committed: refused (409) where another recording of the dataset has
 * `path` — a file is registered once — or, unless `anothers` is null, holds the bytes
 * (refuseAnothersBytes). Checked before the lock, two PATCH path to one file at once both passed,
 * and the second was refused by the database's unique path, naming no field.
 * @param timeExpansion the recording's, with which the file's rate must give a usable one
 */
async function writeContent(tx: Queryable, id: string, content: { path: string | null; facts: FileFacts & FileStamp }, timeExpansion: number, anothers: AnothersBytes): Promise<ClipsOutside> {
  const { path, facts } = content;
  checkTimeExpansion(facts.file_samplerate, timeExpansion);
  await lockContent(tx, [facts.hash]);
  const [holder] = path === null ? [] : await tx<{ id: string; state: State }[]>`
    SELECT o.id, o.state FROM recordings o JOIN recordings r ON r.dataset_id = o.dataset_id
    WHERE r.id = ${id} AND o.id <> ${id} AND o.path = ${path}`;
  if (holder) throw new ConflictError(`path ${JSON.stringify(path)} is recording ${holder.id}'s${holder.state === "active" ? "" : ` (${holder.state})`}: a file is registered once; delete that recording first to give its file to this one`, "path");
  if (anothers) await refuseAnothersBytes(tx, id, facts.hash, anothers);
  const [row] = await translating(() => tx`
    UPDATE recordings SET path = COALESCE(${path}::text, path), hash = ${facts.hash}, file_size = ${facts.file_size}, file_mtime = ${facts.file_mtime},
           file_samplerate = ${facts.file_samplerate}, frames = ${facts.frames}, channels = ${facts.channels}, probed_by = ${VERSION}
    WHERE id = ${id}
    RETURNING ${tx.unsafe(CLIPS_OUTSIDE)}`);
  return clipsOutside(row);
}

/**
 * The RETURNING columns of an update of a recording's facts that count the clips it leaves outside
 * the recording (ClipsOutside), by the row as updated (its generated duration and samplerate);
 * a frequency bound checked as a clip's are (clips.ts: low < Nyquist, high <= Nyquist).
 */
const CLIPS_OUTSIDE = `
  (SELECT count(*)::int FROM clips c WHERE c.recording_id = recordings.id AND c.end_time > recordings.duration) AS clips_past_end,
  (SELECT count(*)::int FROM clips c WHERE c.recording_id = recordings.id
     AND (c.high_freq > recordings.samplerate / 2 OR c.low_freq >= recordings.samplerate / 2)) AS clips_above_nyquist`;

/** ClipsOutside of a row RETURNING CLIPS_OUTSIDE; none without a row (nothing was updated). */
function clipsOutside(row: Record<string, unknown> | undefined): ClipsOutside {
  return { clipsPastEnd: (row?.clips_past_end as number) ?? 0, clipsAboveNyquist: (row?.clips_above_nyquist as number) ?? 0 };
}

/** A recording's header facts read again (reprobeRecording), and the clips they leave outside it (none unless it got shorter, or its rate lower). */
export interface Reprobed extends ClipsOutside {
  /** As stored before. */
  before: HeaderFacts;
  /** As this engine's readers count them. */
  facts: HeaderFacts;
  /** Whether this read stored them: false when another read (another server's) got there first. */
  stored: boolean;
}

/**
 * Reads the header facts of a recording an older engine read (readByOlderEngine) again and stores
 * them with this VERSION as `probed_by` — only while the file is the one registered (registeredFile)
 * and the row still as `loc` read it: the same hash, size and `probed_by`, so that of servers
 * sharing the database and reading it at once one stores the facts, and a row another server's
 * read or a newer engine updated meanwhile is left as it is. The file is the same bytes, so rate
 * and channels are stored too when the newer reader finds them otherwise; duration and samplerate
 * are generated from them (migration 001). Clips stay, even where they now end after the recording
 * or reach above its Nyquist frequency (ClipsOutside): they are people's work, and the caller says so.
 * Null when the file changed between its check and the header's read (the next read sees it).
 * @throws InvalidError, ConflictError as registeredFile; AudioFormatError when this engine cannot read the header
 */
export async function reprobeRecording(db: Queryable, loc: RecordingLocation, id: string): Promise<Reprobed | null> {
  return reprobed(db, loc, id, await registeredFile(db, loc, id));
}

async function reprobed(db: Queryable, loc: RecordingLocation, id: string, found: { file: string; size: number; mtime: number }): Promise<Reprobed | null> {
  const read = await probeFileHeader(found.file, { exactPath: true });
  // Not the file just checked (rewritten or swapped since): its facts are not the registered content's.
  if (read.file_size !== found.size || read.file_mtime !== found.mtime) return null;
  const facts = headerOf(read);
  const [row] = await translating(() => db`
    UPDATE recordings SET file_samplerate = ${facts.file_samplerate}, frames = ${facts.frames}, channels = ${facts.channels}, probed_by = ${VERSION}
    WHERE id = ${id} AND hash = ${loc.hash} AND file_size = ${loc.file_size} AND probed_by IS NOT DISTINCT FROM ${loc.probed_by}
    RETURNING ${db.unsafe(CLIPS_OUTSIDE)}`);
  return { before: headerOf(loc), facts, stored: row !== undefined, ...clipsOutside(row) };
}

/**
 * Hashes of files being verified, by path, size and time: the requests that find one modified
 * file at once (a viewer asks for a screen of tiles together) share one read of it.
 */
const hashing = new Map<string, Promise<string>>();

function sharedMd5(found: { file: string; size: number; mtime: number }): Promise<string> {
  const key = `${found.size}:${found.mtime}:${found.file}`;
  let hash = hashing.get(key);
  if (!hash) {
    hash = fileMd5(found.file, { exactPath: true }).finally(() => hashing.delete(key));
    hashing.set(key, hash);
  }
  return hash;
}

export async function addRecordingTag(db: Queryable, id: string, tag: { key: string; value: string } & Provenance): Promise<Recording> {
  return writing(db, "recordings", id, async (tx) => {
    await attachTag(tx, "recording", id, tag);
    return getRecording(tx, id);
  });
}

export async function removeRecordingTag(db: Queryable, id: string, tag: { key: string; value: string }): Promise<Recording> {
  return writing(db, "recordings", id, async (tx) => {
    await detachTag(tx, "recording", id, tag);
    return getRecording(tx, id);
  });
}

/** Sets (inserts or replaces) a recording's feature value (putFeatureValue). */
export async function setRecordingFeature(db: Queryable, id: string, f: FeatureInput & Provenance): Promise<Recording> {
  return writing(db, "recordings", id, async (tx) => {
    await putFeatureValue(tx, "recording", id, f);
    return getRecording(tx, id);
  });
}

/** Removes a recording's feature value (dropFeatureValue). */
export async function removeRecordingFeature(db: Queryable, id: string, name: string): Promise<Recording> {
  return writing(db, "recordings", id, async (tx) => {
    await dropFeatureValue(tx, "recording", id, name);
    return getRecording(tx, id);
  });
}

export async function addRecordingOwner(db: Queryable, id: string, userId: string): Promise<Recording> {
  return writing(db, "recordings", id, async (tx) => {
    await translating(() => tx`INSERT INTO recording_owners (recording_id, user_id) VALUES (${id}, ${userId}) ON CONFLICT DO NOTHING`);
    return getRecording(tx, id);
  });
}

export async function removeRecordingOwner(db: Queryable, id: string, userId: string): Promise<Recording> {
  return writing(db, "recordings", id, async (tx) => {
    await translating(() => tx`DELETE FROM recording_owners WHERE recording_id = ${id} AND user_id = ${userId}`);
    return getRecording(tx, id);
  });
}
