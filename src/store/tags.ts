/** Tags: (key, value) pairs, each stored once and attached to recordings and clips. */
import type { Queryable } from "./db.js";
import { likePattern, toPage, type Fragment, type Page, type PageRequest, type Provenance } from "./common.js";
import { translating } from "./errors.js";

export interface Tag {
  id: string;
  key: string;
  value: string;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
}

const COLUMNS = (db: Queryable) => db`id, key, value, created_at, created_by, run_id`;

/** A listing's tag filter: records carrying a tag of `key` — of `value`, or of any value when `value` is undefined. */
export interface TagFilter {
  key: string;
  value?: string;
}

/** What a tag is attached to, and the table holding the attachments (its column naming the record is `<kind>_id`). */
const TAGGED = { recording: "recording_tags", clip: "clip_tags" } as const;

/**
 * SQL: the `kind` row aliased `alias` carries a tag matching `tag` (TRUE without a filter), for a
 * listing's WHERE. Put as a condition of the listing's AND (not under an OR), PostgreSQL answers
 * it from the tag's attachments joined to the records, or record by record through the
 * attachments' primary key (record id, tag id), whichever reads less.
 */
export function carriesTag(db: Queryable, kind: keyof typeof TAGGED, alias: string, tag: TagFilter | undefined): Fragment {
  if (!tag) return db`TRUE`;
  return db`EXISTS (
    SELECT 1 FROM ${db(TAGGED[kind])} a JOIN tags t ON t.id = a.tag_id
    WHERE a.${db(`${kind}_id`)} = ${db(alias)}.id AND t.key = ${tag.key}${tag.value === undefined ? db`` : db` AND t.value = ${tag.value}`})`;
}

/**
 * The tag (key, value), created if new. One statement against the unique index, so
 * concurrent callers get the same row: the no-op update makes RETURNING yield the existing row.
 */
export async function getOrCreateTag(db: Queryable, t: { key: string; value: string } & Provenance): Promise<Tag> {
  const [row] = await translating(() => db<Tag[]>`
    INSERT INTO tags (key, value, created_by, run_id) VALUES (${t.key}, ${t.value}, ${t.created_by}, ${t.run_id ?? null})
    ON CONFLICT (key, value) DO UPDATE SET key = EXCLUDED.key
    RETURNING ${COLUMNS(db)}`);
  return row;
}

/**
 * Attaches the tag (key, value), created if new, to the `kind` record `id`, as `tag` made it; one
 * it carries already keeps its own provenance. The caller checks the record (writing).
 */
export async function attachTag(tx: Queryable, kind: keyof typeof TAGGED, id: string, tag: { key: string; value: string } & Provenance): Promise<void> {
  const t = await getOrCreateTag(tx, tag);
  await tx`
    INSERT INTO ${tx(TAGGED[kind])} (${tx(`${kind}_id`)}, tag_id, created_by, run_id)
    VALUES (${id}, ${t.id}, ${tag.created_by}, ${tag.run_id ?? null}) ON CONFLICT DO NOTHING`;
}

/** Takes the tag (key, value) off the `kind` record `id`, if it carries it; the tag itself stays. The caller checks the record (writing). */
export async function detachTag(tx: Queryable, kind: keyof typeof TAGGED, id: string, tag: { key: string; value: string }): Promise<void> {
  await tx`
    DELETE FROM ${tx(TAGGED[kind])} a USING tags t
    WHERE a.${tx(`${kind}_id`)} = ${id} AND a.tag_id = t.id AND t.key = ${tag.key} AND t.value = ${tag.value}`;
}

/** Which tags a listing holds: of `key`; holding `search` in the key or the value; in use within a dataset or recording. */
export interface TagQuery extends PageRequest {
  key?: string;
  /** Text the key or the value holds (case-insensitive): a key typed finds its tags as a value typed does. */
  search?: string;
  /** Only tags carried by this dataset's recordings or their clips (trashed ones aside). */
  dataset_id?: string;
  /** Only tags carried by this recording or its clips (trashed ones aside); with dataset_id, a recording of that dataset. */
  recording_id?: string;
}

/**
 * SQL: the ids of the tags carried by the recordings in scope (`q`'s dataset and/or recording,
 * not trashed) or by their clips (not trashed). Built from the recordings' side — the
 * recordings by their (dataset_id, path) key or id, their clips by clips_recording, the
 * attachments by their primary keys' first column — so it reads the scope's rows, not the
 * tables' (a tag's attachments have no index by tag). Null without a scope.
 */
function tagsInScope(db: Queryable, q: TagQuery): Fragment | null {
  if (q.dataset_id === undefined && q.recording_id === undefined) return null;
  const scope = db`r.state <> 'trashed'${q.dataset_id === undefined ? db`` : db` AND r.dataset_id = ${q.dataset_id}`}${q.recording_id === undefined ? db`` : db` AND r.id = ${q.recording_id}`}`;
  return db`
    SELECT rt.tag_id FROM recordings r JOIN recording_tags rt ON rt.recording_id = r.id WHERE ${scope}
    UNION
    SELECT ct.tag_id FROM recordings r JOIN clips c ON c.recording_id = r.id JOIN clip_tags ct ON ct.clip_id = c.id
    WHERE ${scope} AND c.state <> 'trashed'`;
}

/** The tags matching `q`, by key then value. Its filters are put in the statement only when given, so a plan serves each as it is. */
export async function listTags(db: Queryable, q: TagQuery): Promise<Page<Tag>> {
  const pattern = likePattern(q.search);
  const scope = tagsInScope(db, q);
  const where = db`${q.key === undefined ? db`TRUE` : db`key = ${q.key}`}
    AND ${pattern === null ? db`TRUE` : db`(key ILIKE ${pattern} OR value ILIKE ${pattern})`}
    AND ${scope === null ? db`TRUE` : db`id IN (${scope})`}`;
  const rows = await db<(Tag & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM tags WHERE ${where}
    ORDER BY key, value LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM tags WHERE ${where}`);
}
