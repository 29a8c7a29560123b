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

/** Clips a scope may hold for its tags to be read from its attachments whatever the database holds (listTags). */
const SCOPE_READ_CLIPS = 5_000;

/**
 * Clips the database may hold per clip of a larger scope for the scope's tags to be looked up tag
 * by tag (listTags): the scope holds at least 80% of them. A tag's lookup reads its attachments
 * outside the scope until it meets one inside, all of them when it has none there, and each such
 * row cost about four of the scope's own read (PostgreSQL 15: a clip's row by its key, 7.7 µs,
 * where the scope's read follows clips_recording, 2 µs a row); so with a quarter of the scope's
 * clips outside it, tagged alike, the lookups cost at most about what the scope's read does.
 */
const LOOKUP_CLIPS_PER_SCOPE_CLIP = 1.25;

/** SQL: the recording `r` is in `q`'s scope (its dataset and/or recording, not trashed); null without one. */
function recordingsInScope(db: Queryable, q: TagQuery): Fragment | null {
  if (q.dataset_id === undefined && q.recording_id === undefined) return null;
  return db`r.state <> 'trashed'${q.dataset_id === undefined ? db`` : db` AND r.dataset_id = ${q.dataset_id}`}${q.recording_id === undefined ? db`` : db` AND r.id = ${q.recording_id}`}`;
}

/**
 * Whether the scope's tags are looked up tag by tag (carriedInScope) rather than read from its
 * attachments (tagsOfAttachments): the scope holds at least SCOPE_READ_CLIPS clips and the
 * database at most LOOKUP_CLIPS_PER_SCOPE_CLIP times as many. The scope's clips are counted
 * through clips_recording and the database's only up to that many, so the count reads about
 * twice the scope's clips, index entries only, whatever the database holds.
 */
async function holdsMostClips(db: Queryable, scope: Fragment): Promise<boolean> {
  const [{ scoped, all }] = await db<{ scoped: number; all: number }[]>`
    WITH s AS (SELECT count(*)::int AS n FROM recordings r JOIN clips c ON c.recording_id = r.id WHERE ${scope})
    SELECT s.n AS scoped, (SELECT count(*)::int FROM (SELECT 1 FROM clips
      LIMIT (SELECT floor(n * ${LOOKUP_CLIPS_PER_SCOPE_CLIP}::float8)::int + 1 FROM s)) c) AS all FROM s`;
  return scoped >= SCOPE_READ_CLIPS && all <= scoped * LOOKUP_CLIPS_PER_SCOPE_CLIP;
}

/**
 * SQL: the ids of the tags carried by the recordings in `scope` or by their clips (not trashed),
 * read from the scope's attachments: the recordings by their (dataset_id, path) key or id, their
 * clips by clips_recording, the attachments by their primary keys' first column — however many
 * tags there are. Read so, a dataset of 200,000 tagged clips took 0.5 s on the embedded database.
 */
function tagsOfAttachments(db: Queryable, scope: Fragment): Fragment {
  return db`
    SELECT rt.tag_id FROM recordings r JOIN recording_tags rt ON rt.recording_id = r.id WHERE ${scope}
    UNION
    SELECT ct.tag_id FROM recordings r JOIN clips c ON c.recording_id = r.id JOIN clip_tags ct ON ct.clip_id = c.id
    WHERE ${scope} AND c.state <> 'trashed'`;
}

/**
 * SQL: the tag `tags` is carried by a recording in `scope` or one of their clips (not trashed),
 * asked tag by tag: its attachments by tag (recording_tags_tag, clip_tags_tag: migration 027),
 * the first in scope ending the search. A scope holding nearly every clip so costs its tags'
 * lookups (200,000 tagged clips alone: 47–58 ms on PostgreSQL 15, the count included) — but a tag used
 * outside it and not in it is read through all those uses, which is why only such a scope is
 * asked so (holdsMostClips). The ORDER BY keeps each lookup on the index: as an EXISTS,
 * PostgreSQL reckoned a scan of clip_tags would soon meet a row of a tag used often, and scanned
 * it whole for each tag on nothing. Each attachment's clip and recording are a subquery by their
 * keys, which PostgreSQL runs row by row: joined to the attachments, it merged a tag's attachments
 * with clips_pkey, reading the clips in key order up to the last attachment's, most of the table,
 * for each tag; as an IN of the scope's recordings it hash-joined them, reading all the tag's
 * attachments and sorting them before the first; against an array of them, each row was compared
 * with every recording of the scope (2,000 recordings: 3 times slower).
 */
function carriedInScope(db: Queryable, scope: Fragment): Fragment {
  return db`((SELECT rt.recording_id FROM recording_tags rt JOIN recordings r ON r.id = rt.recording_id
      WHERE rt.tag_id = tags.id AND ${scope} ORDER BY rt.tag_id, rt.recording_id LIMIT 1) IS NOT NULL
    OR (SELECT ct.clip_id FROM clip_tags ct
      WHERE ct.tag_id = tags.id AND (SELECT r.id FROM clips c JOIN recordings r ON r.id = c.recording_id WHERE c.id = ct.clip_id AND c.state <> 'trashed' AND ${scope}) IS NOT NULL
      ORDER BY ct.tag_id, ct.clip_id LIMIT 1) IS NOT NULL)`;
}

/** The tags matching `q`, by key then value. Its filters are put in the statement only when given, so a plan serves each as it is. */
export async function listTags(db: Queryable, q: TagQuery): Promise<Page<Tag>> {
  const pattern = likePattern(q.search);
  const scope = recordingsInScope(db, q);
  const inScope = scope === null ? db`TRUE` : (await holdsMostClips(db, scope)) ? carriedInScope(db, scope) : db`id IN (${tagsOfAttachments(db, scope)})`;
  const where = db`${q.key === undefined ? db`TRUE` : db`key = ${q.key}`}
    AND ${pattern === null ? db`TRUE` : db`(key ILIKE ${pattern} OR value ILIKE ${pattern})`}
    AND ${inScope}`;
  const rows = await db<(Tag & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM tags WHERE ${where}
    ORDER BY key, value LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM tags WHERE ${where}`);
}
