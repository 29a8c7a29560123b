/**
 * Clips: a [start_time, end_time) piece of a recording (seconds, real units), optionally bounded in
 * frequency to [low_freq, high_freq] (Hz, real units: after time expansion) — a box drawn around a
 * sound event — with tags and features.
 */
import { realSecondsHint, RECORDING_TIME_EXPANSION } from "../audio/expansion.js";
import type { Queryable, Sql } from "./db.js";
import { assertWritable, creatorUsername, deleting, inTransaction, writing, given, pageFirst, type Fragment, type KeysetPage, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
import { InvalidError, NotFoundError, conflict, invalid, translating } from "./errors.js";
import { dropComputedClipFeatureValues, dropFeatureValue, putFeatureValue, type FeatureInput } from "./features.js";
import { carriedNotes, type CarriedNote } from "./notes.js";
import { attachTag, carriesTag, detachTag, type TagFilter } from "./tags.js";

export interface Clip {
  id: string;
  recording_id: string;
  start_time: number;
  end_time: number;
  /** Hz (real); null: no lower bound (0 Hz). */
  low_freq: number | null;
  /** Hz (real); null: no upper bound (the Nyquist frequency). */
  high_freq: number | null;
  tags: { key: string; value: string }[];
  features: { name: string; value: number | null }[];
  /** Its active notes, oldest first (listNotes has the archived ones too). */
  notes: CarriedNote[];
  state: State;
  state_changed_at: string | null;
  created_at: string;
  created_by: string | null;
  /** Its creator's username (null without one): the viewer says whose a clip is, which only they or an admin may move, trash or delete. */
  created_by_username: string | null;
  run_id: string | null;
}

export const CLIP_SORTS = ["start_time", "end_time", "created_at"] as const;

/** What orders clips of one value of a sort (pageFirst's `then`): by their other time — the clips of one import, by start and end. */
const CLIP_TIE_BREAKS: Record<(typeof CLIP_SORTS)[number], readonly string[]> = {
  start_time: ["end_time"], end_time: ["start_time"], created_at: ["start_time", "end_time"],
};

const SELECT = (db: Queryable) => db`
  SELECT c.id, c.recording_id, c.start_time, c.end_time, c.low_freq, c.high_freq, c.state, c.state_changed_at, c.created_at, c.created_by, ${creatorUsername(db, "c")} AS created_by_username, c.run_id,
         COALESCE((SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key, t.value)
                   FROM clip_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.clip_id = c.id), '[]') AS tags,
         COALESCE((SELECT json_agg(json_build_object('name', f.name, 'value', cf.value) ORDER BY f.name)
                   FROM clip_features cf JOIN feature_names f ON f.id = cf.feature_name_id WHERE cf.clip_id = c.id), '[]') AS features,
         ${carriedNotes(db, "clip_id", "c")} AS notes
  FROM clips c`;

/**
 * Refuses bounds that are not a piece of the recording: start < end, and both within
 * [0, duration] (boundsIssues). Each offending field is named; when start < end fails, the one the
 * caller sent (`moved`): a PATCH of start_time alone is told about start_time.
 */
function checkBounds(start: number, end: number, recording: LockedRecording, moved: "start_time" | "end_time"): void {
  if (!(start < end)) {
    throw moved === "start_time" ? invalid("start_time", `must be < end_time (${end})`) : invalid("end_time", `must be > start_time (${start})`);
  }
  const issues = boundsIssues(start, end, recording);
  if (issues.length) throw new InvalidError(issues);
}

/**
 * What is wrong with bounds [start, end) (start < end) of a clip of `recording`: a start at or past
 * the recording's duration (real seconds), an end past it — a clip past the end would have no
 * audio to compute features from. For a time-expanded recording each message says that times are
 * real seconds (realSecondsHint). Empty when the bounds fit.
 */
export function boundsIssues(start: number, end: number, recording: LockedRecording): { field: "start_time" | "end_time"; message: string }[] {
  const { duration } = recording;
  const issues: { field: "start_time" | "end_time"; message: string }[] = [];
  if (start >= duration) issues.push({ field: "start_time", message: `must be < the recording's duration (${duration} s)` });
  if (end > duration) issues.push({ field: "end_time", message: `must be <= the recording's duration (${duration} s)` });
  if (!issues.length) return issues;
  const hint = realSecondsHint({ samplerate: recording.file_samplerate, frames: recording.frames }, recording.time_expansion, RECORDING_TIME_EXPANSION);
  return issues.map((i) => ({ ...i, message: i.message + hint }));
}

/** A clip's frequency bounds (Hz, real); null: unbounded on that side. */
export interface Band {
  low_freq: number | null;
  high_freq: number | null;
}

/**
 * Refuses frequency bounds that are not a band of the recording (bandIssues), each offending field
 * named; when low < high fails, the one the caller sent (`moved`), as checkBounds does for times.
 */
function checkBand(band: Band, recording: LockedRecording, moved: "low_freq" | "high_freq"): void {
  const { low_freq: low, high_freq: high } = band;
  if (low !== null && high !== null && !(low < high)) {
    throw moved === "low_freq" ? invalid("low_freq", `must be < high_freq (${high} Hz)`) : invalid("high_freq", `must be > low_freq (${low} Hz)`);
  }
  const issues = bandIssues(band, recording);
  if (issues.length) throw new InvalidError(issues);
}

/**
 * What is wrong with frequency bounds of a clip of `recording` (low < high when both are given):
 * a low bound at or above the recording's Nyquist frequency (half its real samplerate), a high
 * bound above it — the audio params' rules (SPEC §2). For a time-expanded recording each message
 * says that frequencies are real Hz. Empty when the bounds fit.
 */
export function bandIssues(band: Band, recording: LockedRecording): { field: "low_freq" | "high_freq"; message: string }[] {
  const nyquist = recording.samplerate / 2;
  const issues: { field: "low_freq" | "high_freq"; message: string }[] = [];
  if (band.low_freq !== null && !(band.low_freq < nyquist)) issues.push({ field: "low_freq", message: `must be < the recording's Nyquist frequency (${nyquist} Hz)` });
  if (band.high_freq !== null && !(band.high_freq <= nyquist)) issues.push({ field: "high_freq", message: `must be <= the recording's Nyquist frequency (${nyquist} Hz)` });
  if (!issues.length || recording.time_expansion === 1) return issues;
  const hint = `; frequencies are real Hz: ${RECORDING_TIME_EXPANSION} ${recording.time_expansion} makes the file's ${recording.file_samplerate / 2} Hz Nyquist frequency ${nyquist} Hz`;
  return issues.map((i) => ({ ...i, message: i.message + hint }));
}

/** What checkBounds and checkBand need of a clip's recording: its real duration and samplerate, and the facts that make them (time expansion applied to the file). */
export interface LockedRecording {
  duration: number;
  /** Hz, real (file_samplerate × time_expansion). */
  samplerate: number;
  file_samplerate: number;
  frames: number;
  time_expansion: number;
}

/** lockRecording's columns: `frames` as a number (a bigint reads as a string). */
export const LOCKED_COLUMNS = (db: Queryable) => db`duration, samplerate, file_samplerate, frames::float8 AS frames, time_expansion`;

/**
 * A clip's recording (given by the recording's id, or by the clip's) as checkBounds needs it, with
 * the recording's row locked FOR SHARE until the transaction ends; undefined when there is no
 * such row. Every change of clip bounds takes this lock before checking them, and a change of
 * time expansion takes the row FOR UPDATE before checking the clips (updateRecording): the two
 * cannot interleave, so no clip is left past the recording's end. The recording is always
 * locked before its clips, as a recording's deletion (cascading to them) does.
 */
async function lockRecording(tx: Queryable, by: { recording_id: string } | { clip_id: string }): Promise<LockedRecording | undefined> {
  const [row] = await translating(() =>
    "recording_id" in by
      ? tx<LockedRecording[]>`SELECT ${LOCKED_COLUMNS(tx)} FROM recordings WHERE id = ${by.recording_id} FOR SHARE`
      : tx<LockedRecording[]>`SELECT ${LOCKED_COLUMNS(tx)} FROM recordings WHERE id = (SELECT recording_id FROM clips WHERE id = ${by.clip_id}) FOR SHARE`,
  );
  return row;
}

/**
 * Creates a clip: a piece [start_time, end_time) within the recording, with frequency bounds
 * within its Nyquist frequency if given. One transaction with the recording locked
 * (lockRecording), so the duration and rate checked are the ones the clip is inserted under.
 */
export async function createClip(sql: Sql, c: { recording_id: string; start_time: number; end_time: number; low_freq?: number | null; high_freq?: number | null } & Provenance): Promise<Clip> {
  return inTransaction(sql, async (tx) => {
    await assertWritable(tx, "recordings", c.recording_id); // 404 when there is no recording
    const recording = await lockRecording(tx, { recording_id: c.recording_id });
    checkBounds(c.start_time, c.end_time, recording!, "end_time");
    const band = { low_freq: c.low_freq ?? null, high_freq: c.high_freq ?? null };
    checkBand(band, recording!, "high_freq");
    const [{ id }] = await translating(() => tx`
      INSERT INTO clips (recording_id, start_time, end_time, low_freq, high_freq, created_by, run_id)
      VALUES (${c.recording_id}, ${c.start_time}, ${c.end_time}, ${band.low_freq}, ${band.high_freq}, ${c.created_by}, ${c.run_id ?? null}) RETURNING id`);
    return getClip(tx, id);
  }, `recording ${c.recording_id}`);
}

export async function getClip(db: Queryable, id: string): Promise<Clip> {
  const [row] = await translating(() => db<Clip[]>`${SELECT(db)} WHERE c.id = ${id}`);
  if (!row) throw new NotFoundError("clip", id);
  return row;
}

/** The clips' filters, besides their state (ClipQuery; the export takes them too). */
export interface ClipFilter {
  recording_id?: string;
  /** Only the clips of this dataset's recordings. */
  dataset_id?: string;
  /**
   * Only clips that start before this time: start_time < start_before (real seconds). With
   * end_after, the clips overlapping the half-open window [end_after, start_before).
   */
  start_before?: number;
  /** Only clips that end after this time: end_time > end_after (real seconds). */
  end_after?: number;
  /**
   * Only clips whose band reaches above this frequency (real Hz, >= 0): high_freq > min_freq, a
   * clip without high_freq reaching to its recording's Nyquist frequency. With max_freq, the clips
   * whose band overlaps [min_freq, max_freq] by more than a point.
   */
  min_freq?: number;
  /** Only clips whose band starts below this frequency (real Hz, > 0; > min_freq when both are given): low_freq < max_freq, a clip without low_freq starting at 0 Hz. */
  max_freq?: number;
  tag?: TagFilter;
  /**
   * Only clips whose own state is this, whatever their recording's and dataset's (which the
   * listing's `state`, their effective state, takes in): a read-only recording's clips as it was
   * left (`state: "archived", own_state: "active"`), without those archived or trashed on their own
   * before — which no effective state tells apart, and its total counted.
   */
  own_state?: State;
}

export interface ClipQuery extends PageRequest, ClipFilter {
  state: StateFilter;
  sort: (typeof CLIP_SORTS)[number];
  order: "asc" | "desc";
  /**
   * Where the page begins: after the last clip of the page whose `next_cursor` this is (of the same
   * filters, sort and order), instead of at `offset` (then 0) — clips created or deleted meanwhile
   * (others annotating the dataset being paged) shift no page: one listed before and after is listed once.
   */
  cursor?: string;
}

/**
 * SQL condition on clip `c`: its band overlaps the open band (min_freq, max_freq) (real Hz) —
 * `low_freq < max_freq AND high_freq > min_freq`, a side not given no condition. Exclusive, as the
 * comparisons are strict: a band that only touches the other does not overlap it. A clip without
 * low_freq starts below any max_freq (at 0 Hz); one without high_freq reaches to its recording's
 * Nyquist frequency (half its real samplerate), read through the recordings of that rate above
 * min_freq, as the dataset filter reads a dataset's. TRUE when neither side is given; a band
 * without width (max_freq <= min_freq) is refused, as the API refuses it.
 *
 * Written for the index clips_band (migration 028) when `indexed`: an overlap (`&&`) of the clip's
 * band as a range of float8 (the index's expression: a missing bound unbounded) with the band
 * asked, which the index answers for both sides at once, where a btree on a bound serves one. One
 * overlap, not one per side: where the index does not serve (an unselective band) each clip's
 * range is built once — two per clip took +95 ms over 200,000 clips on the embedded database.
 * Otherwise column by column, for a scope whose clips are read through another index (one
 * recording's, clips_recording): offered clips_band too, PostgreSQL intersected the two
 * (BitmapAnd), reading the band's clips across the database — a 60 s window of a recording of
 * 4,000 among 200,000 clips took 12 ms for 4.5 on PostgreSQL 15.
 */
function bandOverlap(db: Queryable, q: Pick<ClipFilter, "min_freq" | "max_freq">, indexed: boolean): Fragment {
  const { min_freq: min, max_freq: max } = q;
  if (min === undefined && max === undefined) return db`TRUE`;
  if (min !== undefined && max !== undefined && !(min < max)) throw invalid("max_freq", `must be > min_freq (${min} Hz): a band has a width`);
  const reachesNyquist = (f: number) => db`c.recording_id IN (SELECT id FROM recordings WHERE samplerate / 2 > ${f})`;
  if (indexed) {
    return db`float8range(c.low_freq, c.high_freq, '()') && float8range(${min ?? null}::float8, ${max ?? null}::float8, '()')
      AND ${given(db, min, (f) => db`(c.high_freq IS NOT NULL OR ${reachesNyquist(f)})`)}`;
  }
  return db`${given(db, min, (f) => db`(c.high_freq > ${f} OR c.high_freq IS NULL AND ${reachesNyquist(f)})`)}
    AND ${given(db, max, (f) => db`(c.low_freq < ${f} OR c.low_freq IS NULL)`)}`;
}

/**
 * SQL condition on clip `c`: it matches every filter given. The window filters compare strictly,
 * as clips are half-open [start_time, end_time): a clip ending exactly where the window starts, or
 * starting exactly where it ends, does not overlap it. The band filters compare strictly too — a
 * clip whose band only touches [min_freq, max_freq] is not in it (bandOverlap).
 */
export function clipFilter(db: Queryable, q: ClipFilter): Fragment {
  return db`${given(db, q.recording_id, (id) => db`c.recording_id = ${id}`)}
    AND ${given(db, q.dataset_id, (id) => db`c.recording_id IN (SELECT id FROM recordings WHERE dataset_id = ${id})`)}
    AND ${given(db, q.start_before, (t) => db`c.start_time < ${t}`)}
    AND ${given(db, q.end_after, (t) => db`c.end_time > ${t}`)}
    AND ${bandOverlap(db, q, q.recording_id === undefined)}
    AND ${carriesTag(db, "clip", "c", q.tag)}
    AND ${given(db, q.own_state, (s) => db`c.state = ${s}`)}`;
}

/** The values clipFilter selects by, in a fixed order (a cursor's Keyset.filters): one changed is another listing. */
function clipFilterValues(q: ClipFilter): unknown[] {
  return [q.recording_id, q.dataset_id, q.start_before, q.end_after, q.min_freq, q.max_freq, q.tag?.key, q.tag?.value, q.own_state];
}

/**
 * A page of clips matching every filter given (clipFilter), by offset or after a cursor. Every
 * column of CLIP_SORTS and their tie breaks is NOT NULL (migration 001): none is listed NULLS LAST.
 */
export async function listClips(db: Queryable, q: ClipQuery): Promise<KeysetPage<Clip>> {
  return pageFirst<Clip>(db, {
    ...q, table: "clips", alias: "c", where: clipFilter(db, q), select: SELECT(db), then: CLIP_TIE_BREAKS[q.sort], nullsLast: [],
    keyset: { after: q.cursor, filters: clipFilterValues(q) },
  });
}

/** A clip's four bounds, as PATCH /v1/clips/{id} changes them. */
export interface ClipBounds { start_time: number; end_time: number; low_freq: number | null; high_freq: number | null }
const CLIP_BOUNDS = ["start_time", "end_time", "low_freq", "high_freq"] as const;

/** A clip moved (updateClip): as getClip gives it, with the count of its job-computed feature values removed because its bounds changed. */
export type MovedClip = Clip & { stale_feature_values_removed: number };

/**
 * Moves a clip's bounds; a bound not given keeps its value, a frequency bound given as null is
 * removed. One transaction with the recording and then the clip locked (assertWritable, the clip
 * FOR UPDATE): two PATCHes of one clip are checked one after the other, each against the bounds
 * the other left, so neither change is lost unseen. `expected`: the bounds as the caller read
 * them — one that is no longer the clip's (moved meanwhile by another) is a 409 naming it, nothing
 * changed: an editor sent the bounds it had read for fields its user never touched, and reverted
 * another's move unseen. Bounds that change remove the values jobs computed of the clip
 * (dropComputedClipFeatureValues), counted in the answer.
 */
export async function updateClip(sql: Sql, id: string, patch: Partial<ClipBounds> & { expected?: Partial<ClipBounds> }): Promise<MovedClip> {
  return inTransaction(sql, async (tx) => {
    await assertWritable(tx, "clips", id, "FOR UPDATE"); // 404 when there is no clip
    const recording = (await lockRecording(tx, { clip_id: id }))!;
    const [current] = await translating(() => tx<ClipBounds[]>`SELECT start_time, end_time, low_freq, high_freq FROM clips WHERE id = ${id}`);
    for (const name of CLIP_BOUNDS) {
      const expected = patch.expected?.[name];
      if (expected !== undefined && expected !== current[name]) {
        throw conflict(`expected.${name}`, `the clip's ${name} is ${current[name] ?? "none"} now, not ${expected ?? "none"} as read: it was moved meanwhile — read it again (GET /v1/clips/${id}) before moving it`);
      }
    }
    const start = patch.start_time ?? current.start_time;
    const end = patch.end_time ?? current.end_time;
    checkBounds(start, end, recording, patch.end_time === undefined && patch.start_time !== undefined ? "start_time" : "end_time");
    const band: Band = { low_freq: patch.low_freq === undefined ? current.low_freq : patch.low_freq, high_freq: patch.high_freq === undefined ? current.high_freq : patch.high_freq };
    checkBand(band, recording, patch.high_freq === undefined && patch.low_freq !== undefined ? "low_freq" : "high_freq");
    const moved = start !== current.start_time || end !== current.end_time || band.low_freq !== current.low_freq || band.high_freq !== current.high_freq;
    let stale = 0;
    if (moved) {
      await translating(() => tx`UPDATE clips SET start_time = ${start}, end_time = ${end}, low_freq = ${band.low_freq}, high_freq = ${band.high_freq} WHERE id = ${id}`);
      stale = await dropComputedClipFeatureValues(tx, id);
    }
    return { ...(await getClip(tx, id)), stale_feature_values_removed: stale };
  }, `clip ${id}`);
}

/** Deletes a clip for good — only an active one: archived means read-only, deletion included (409). */
export async function deleteClip(db: Queryable, id: string): Promise<void> {
  return deleting(db, "clips", id, async (tx) => {
    const rows = await translating(() => tx`DELETE FROM clips WHERE id = ${id} RETURNING id`);
    if (!rows.length) throw new NotFoundError("clip", id);
  });
}

export async function addClipTag(db: Queryable, id: string, tag: { key: string; value: string } & Provenance): Promise<Clip> {
  return writing(db, "clips", id, async (tx) => {
    await attachTag(tx, "clip", id, tag);
    return getClip(tx, id);
  });
}

export async function removeClipTag(db: Queryable, id: string, tag: { key: string; value: string }): Promise<Clip> {
  return writing(db, "clips", id, async (tx) => {
    await detachTag(tx, "clip", id, tag);
    return getClip(tx, id);
  });
}

/** Sets (inserts or replaces) a clip's feature value (putFeatureValue). */
export async function setClipFeature(db: Queryable, id: string, f: FeatureInput & Provenance): Promise<Clip> {
  return writing(db, "clips", id, async (tx) => {
    await putFeatureValue(tx, "clip", id, f);
    return getClip(tx, id);
  });
}

/** Removes a clip's feature value (dropFeatureValue). */
export async function removeClipFeature(db: Queryable, id: string, name: string): Promise<Clip> {
  return writing(db, "clips", id, async (tx) => {
    await dropFeatureValue(tx, "clip", id, name);
    return getClip(tx, id);
  });
}
