/** Clips: a [start_time, end_time) piece of a recording (seconds, real units), with tags and features. */
import type { Queryable } from "./db.js";
import { assertWritable, effectiveState, stateCondition, toPage, type Page, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
import { InvalidError, NotFoundError, invalid, translating } from "./errors.js";
import { getOrCreateFeatureName } from "./features.js";
import { getOrCreateTag } from "./tags.js";

export interface Clip {
  id: string;
  recording_id: string;
  start_time: number;
  end_time: number;
  tags: { key: string; value: string }[];
  features: { name: string; value: number | null }[];
  state: State;
  state_changed_at: string | null;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
}

export const CLIP_SORTS = ["start_time", "end_time", "created_at"] as const;

const SELECT = (db: Queryable) => db`
  SELECT c.id, c.recording_id, c.start_time, c.end_time, c.state, c.state_changed_at, c.created_at, c.created_by, c.run_id,
         COALESCE((SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key, t.value)
                   FROM clip_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.clip_id = c.id), '[]') AS tags,
         COALESCE((SELECT json_agg(json_build_object('name', f.name, 'value', cf.value) ORDER BY f.name)
                   FROM clip_features cf JOIN feature_names f ON f.id = cf.feature_name_id WHERE cf.clip_id = c.id), '[]') AS features
  FROM clips c`;

/**
 * Refuses bounds that are not a piece of the recording: start < end, and both within
 * [0, duration] (real seconds) — a clip past the end would have no audio to compute
 * features from. Each offending field is named.
 */
async function checkBounds(db: Queryable, recordingId: string, start: number, end: number): Promise<void> {
  if (!(start < end)) throw invalid("end_time", `must be > start_time (${start})`);
  const [{ duration }] = await db`SELECT duration FROM recordings WHERE id = ${recordingId}`;
  const issues: { field: string; message: string }[] = [];
  if (start >= duration) issues.push({ field: "start_time", message: `must be < the recording's duration (${duration} s)` });
  if (end > duration) issues.push({ field: "end_time", message: `must be <= the recording's duration (${duration} s)` });
  if (issues.length) throw new InvalidError(issues);
}

/** Creates a clip: a piece [start_time, end_time) within the recording. */
export async function createClip(db: Queryable, c: { recording_id: string; start_time: number; end_time: number } & Provenance): Promise<Clip> {
  await assertWritable(db, "recordings", c.recording_id);
  await checkBounds(db, c.recording_id, c.start_time, c.end_time);
  const [{ id }] = await translating(() => db`
    INSERT INTO clips (recording_id, start_time, end_time, created_by, run_id)
    VALUES (${c.recording_id}, ${c.start_time}, ${c.end_time}, ${c.created_by}, ${c.run_id ?? null}) RETURNING id`);
  return getClip(db, id);
}

export async function getClip(db: Queryable, id: string): Promise<Clip> {
  const [row] = await translating(() => db<Clip[]>`${SELECT(db)} WHERE c.id = ${id}`);
  if (!row) throw new NotFoundError("clip", id);
  return row;
}

export interface ClipQuery extends PageRequest {
  state: StateFilter;
  recording_id?: string;
  sort: (typeof CLIP_SORTS)[number];
  order: "asc" | "desc";
}

export async function listClips(db: Queryable, q: ClipQuery): Promise<Page<Clip>> {
  const where = db`${stateCondition(db, q.state, effectiveState(db, "clips", "c"))} AND (${q.recording_id ?? null}::uuid IS NULL OR recording_id = ${q.recording_id ?? null})`;
  const rows = await translating(() => db<(Clip & { total_count: number })[]>`
    SELECT *, count(*) OVER () AS total_count FROM (${SELECT(db)}) c WHERE ${where}
    ORDER BY ${db(q.sort)} ${q.order === "desc" ? db`DESC` : db`ASC`}, id LIMIT ${q.limit} OFFSET ${q.offset}`);
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM clips c WHERE ${where}`);
}

export async function updateClip(db: Queryable, id: string, patch: { start_time?: number; end_time?: number }): Promise<Clip> {
  await assertWritable(db, "clips", id);
  const current = await getClip(db, id);
  const start = patch.start_time ?? current.start_time;
  const end = patch.end_time ?? current.end_time;
  await checkBounds(db, current.recording_id, start, end);
  await translating(() => db`UPDATE clips SET start_time = ${start}, end_time = ${end} WHERE id = ${id}`);
  return getClip(db, id);
}

/** Deletes a clip for good — only an active one: archived means read-only, deletion included (409). */
export async function deleteClip(db: Queryable, id: string): Promise<void> {
  await assertWritable(db, "clips", id);
  const rows = await translating(() => db`DELETE FROM clips WHERE id = ${id} RETURNING id`);
  if (!rows.length) throw new NotFoundError("clip", id);
}

export async function addClipTag(db: Queryable, id: string, tag: { key: string; value: string } & Provenance): Promise<Clip> {
  await assertWritable(db, "clips", id);
  const t = await getOrCreateTag(db, tag);
  await db`INSERT INTO clip_tags (clip_id, tag_id, created_by, run_id) VALUES (${id}, ${t.id}, ${tag.created_by}, ${tag.run_id ?? null}) ON CONFLICT DO NOTHING`;
  return getClip(db, id);
}

export async function removeClipTag(db: Queryable, id: string, tag: { key: string; value: string }): Promise<Clip> {
  await assertWritable(db, "clips", id);
  await db`DELETE FROM clip_tags ct USING tags t WHERE ct.clip_id = ${id} AND ct.tag_id = t.id AND t.key = ${tag.key} AND t.value = ${tag.value}`;
  return getClip(db, id);
}

/** Sets (inserts or replaces) a clip's feature value; idempotent, so a retried job writes the same row. */
export async function setClipFeature(db: Queryable, id: string, f: { name: string; value?: number | null; data?: Uint8Array | null } & Provenance): Promise<Clip> {
  await assertWritable(db, "clips", id);
  const name = await getOrCreateFeatureName(db, f.name);
  await translating(() => db`
    INSERT INTO clip_features (clip_id, feature_name_id, value, data, created_by, run_id)
    VALUES (${id}, ${name.id}, ${f.value ?? null}, ${f.data ? Buffer.from(f.data) : null}, ${f.created_by}, ${f.run_id ?? null})
    ON CONFLICT (clip_id, feature_name_id)
    DO UPDATE SET value = EXCLUDED.value, data = EXCLUDED.data, created_by = EXCLUDED.created_by, run_id = EXCLUDED.run_id, created_at = now()`);
  return getClip(db, id);
}
