/** Feature names: the vocabulary of feature values (name → float per recording or clip). */
import type { Queryable } from "./db.js";
import { likePattern, toPage, type Page, type PageRequest, type Provenance } from "./common.js";
import { NotFoundError, translating } from "./errors.js";

export interface FeatureName {
  id: string;
  name: string;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
}

const COLUMNS = (db: Queryable) => db`id, name, created_at, created_by, run_id`;

/**
 * The feature name, created if new (by `p`: who, and the run, e.g. the job's that first stored a
 * value of it); concurrent callers get one row, the first creator's (see getOrCreateTag).
 */
export async function getOrCreateFeatureName(db: Queryable, name: string, p: Provenance): Promise<FeatureName> {
  const [row] = await translating(() => db<FeatureName[]>`
    INSERT INTO feature_names (name, created_by, run_id) VALUES (${name}, ${p.created_by}, ${p.run_id ?? null})
    ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
    RETURNING ${COLUMNS(db)}`);
  return row;
}

export async function listFeatureNames(db: Queryable, q: PageRequest & { search?: string }): Promise<Page<FeatureName>> {
  const pattern = likePattern(q.search);
  const where = db`(${pattern}::text IS NULL OR name ILIKE ${pattern})`;
  const rows = await db<(FeatureName & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM feature_names WHERE ${where}
    ORDER BY name LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM feature_names WHERE ${where}`);
}

/** One feature value of a recording or clip, with its binary data when it has some (log_mel). */
export interface FeatureValue {
  name: string;
  value: number | null;
  /** The stored bytes (log_mel: 64 float32, little-endian), or null. */
  data: Buffer | null;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
  /**
   * Of a value a job computed (migration 021): the engine version that computed it and the MD5 of
   * the recording's bytes it was computed from — not its recording's `hash` when a refresh has
   * changed the content since. Null for a value a client wrote, or one computed before 0.12.
   */
  engine_version: string | null;
  recording_hash: string | null;
}

/** The value of feature `name` of recording or clip `id`; NotFoundError when the record or the value does not exist. */
export async function getFeatureValue(db: Queryable, of: "recording" | "clip", id: string, name: string): Promise<FeatureValue> {
  const rows = await translating(() => (of === "recording"
    ? db<(FeatureValue & { found: boolean })[]>`
        SELECT f.name, v.value, v.data, v.created_at, v.created_by, v.run_id, v.engine_version, v.recording_hash, v.recording_id IS NOT NULL AS found
        FROM recordings r LEFT JOIN (recording_features v JOIN feature_names f ON f.id = v.feature_name_id AND f.name = ${name}) ON v.recording_id = r.id
        WHERE r.id = ${id}`
    : db<(FeatureValue & { found: boolean })[]>`
        SELECT f.name, v.value, v.data, v.created_at, v.created_by, v.run_id, v.engine_version, v.recording_hash, v.clip_id IS NOT NULL AS found
        FROM clips c LEFT JOIN (clip_features v JOIN feature_names f ON f.id = v.feature_name_id AND f.name = ${name}) ON v.clip_id = c.id
        WHERE c.id = ${id}`));
  if (!rows.length) throw new NotFoundError(of, id);
  const [row] = rows;
  if (!row.found) throw new NotFoundError(`feature ${name} of ${of}`, id);
  const { found: _found, ...value } = row;
  return value;
}

/** A feature value to store: a number, bytes (log_mel: 64 float32, little-endian), or both. */
export interface FeatureInput {
  name: string;
  value?: number | null;
  data?: Uint8Array | null;
}

/**
 * Inserts or replaces the value of feature `f.name` (the name created if new) of recording or clip
 * `id` — idempotent, so a retried job writes the same row. The caller holds the record (`writing`).
 */
export function putFeatureValue(tx: Queryable, of: "recording" | "clip", id: string, f: FeatureInput & Provenance): Promise<void> {
  return putFeatureValues(tx, of, [{ id, ...f }]);
}

/** A feature value of one recording or clip among many (putFeatureValues), with who and what wrote it. */
export interface TargetFeatureInput extends FeatureInput, Provenance {
  /** The recording's or the clip's id. */
  id: string;
  /** A computed value's engine version and the MD5 of the bytes it was computed from (FeatureValue); omitted: null. */
  engine_version?: string | null;
  recording_hash?: string | null;
}

/**
 * Inserts or replaces many feature values of recordings or clips (`of`) at once — a batch job's
 * writes: the names read in one statement (new ones created by a second, as getOrCreateFeatureName
 * does, without rewriting the existing names' rows), the values written in one more. Of two
 * values for the same record and name, the later in `values` is kept. The caller holds the
 * records (locked FOR SHARE and checked writable, as `writing` does).
 */
export async function putFeatureValues(tx: Queryable, of: "recording" | "clip", values: readonly TargetFeatureInput[]): Promise<void> {
  if (!values.length) return;
  const names = [...new Set(values.map((v) => v.name))];
  const readIds = async () => new Map((await tx<{ id: string; name: string }[]>`SELECT id, name FROM feature_names WHERE name = ANY(${names}::text[])`).map((r) => [r.name, r.id]));
  let nameIds = await readIds();
  const missing = values.filter((v, i) => !nameIds.has(v.name) && values.findIndex((w) => w.name === v.name) === i);
  if (missing.length) {
    // A concurrent creator's row is waited for (DO NOTHING), then read by the next statement.
    await translating(() => tx`
      INSERT INTO feature_names ${tx(missing.map((v) => ({ name: v.name, created_by: v.created_by, run_id: v.run_id ?? null })), "name", "created_by", "run_id")}
      ON CONFLICT (name) DO NOTHING`);
    nameIds = await readIds();
  }
  const owner = `${of}_id`;
  const rows = new Map<string, Record<string, unknown>>();
  for (const v of values) {
    const feature_name_id = nameIds.get(v.name)!;
    rows.set(`${v.id} ${feature_name_id}`, {
      [owner]: v.id, feature_name_id, value: v.value ?? null, data: v.data ? Buffer.from(v.data) : null, created_by: v.created_by, run_id: v.run_id ?? null,
      engine_version: v.engine_version ?? null, recording_hash: v.recording_hash ?? null,
    });
  }
  // In key order: two writers of the same records lock their rows in the same order.
  const sorted = [...rows.keys()].sort().map((key) => rows.get(key)!);
  await translating(() => tx`
    INSERT INTO ${tx(`${of}_features`)} ${tx(sorted, owner, "feature_name_id", "value", "data", "created_by", "run_id", "engine_version", "recording_hash")}
    ON CONFLICT (${tx(owner)}, feature_name_id)
    DO UPDATE SET value = EXCLUDED.value, data = EXCLUDED.data, created_by = EXCLUDED.created_by, run_id = EXCLUDED.run_id,
                  engine_version = EXCLUDED.engine_version, recording_hash = EXCLUDED.recording_hash, created_at = now()`);
}

/** Removes the value of feature `name` of recording or clip `id`, if it has one. The caller holds the record (`writing`). */
export async function dropFeatureValue(tx: Queryable, of: "recording" | "clip", id: string, name: string): Promise<void> {
  await tx`
    DELETE FROM ${tx(`${of}_features`)} v USING feature_names f
    WHERE v.${tx(`${of}_id`)} = ${id} AND v.feature_name_id = f.id AND f.name = ${name}`;
}

/**
 * Removes the feature values jobs computed of a recording and of its clips (archived and trashed
 * ones too), when what they were computed from changes meaning — its time expansion: every
 * time, frequency and rate among them is in real units of the old factor (an Audiomoth file's
 * peak at 34360 Hz is at 343440 Hz ten times expanded), and a job computes them again.
 * Computed: carrying the engine version that computed them (migration 021), or written by a
 * job's run (values computed before 0.12 have no engine version). Values a client wrote stay:
 * what they mean is the client's, and no job would compute them again. The caller holds the
 * recording (FOR UPDATE).
 */
export async function dropComputedFeatureValues(tx: Queryable, recordingId: string): Promise<void> {
  await tx`DELETE FROM recording_features v WHERE v.recording_id = ${recordingId} AND ${computedValue(tx)}`;
  await tx`DELETE FROM clip_features v USING clips c WHERE c.id = v.clip_id AND c.recording_id = ${recordingId} AND ${computedValue(tx)}`;
}

/**
 * Removes the feature values jobs computed of clip `clipId` (computedValue), when its time or
 * frequency bounds change: they are of audio the clip no longer covers (a duration_s of 0.0045 s
 * was shown and exported for a clip moved to 0.0055 s). Values a client wrote stay, as in
 * dropComputedFeatureValues. How many were removed. The caller holds the clip (FOR UPDATE).
 */
export async function dropComputedClipFeatureValues(tx: Queryable, clipId: string): Promise<number> {
  const rows = await tx`DELETE FROM clip_features v WHERE v.clip_id = ${clipId} AND ${computedValue(tx)} RETURNING v.clip_id`;
  return rows.length;
}

/** SQL: feature value `v` was computed by a job — it carries the engine version that computed it (migration 021), or was written by a job's run (before 0.12). */
function computedValue(tx: Queryable) {
  return tx`(v.engine_version IS NOT NULL OR v.run_id IN (SELECT id FROM runs WHERE kind = 'job'))`;
}
