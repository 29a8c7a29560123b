/** Tags: (key, value) pairs, each stored once and attached to recordings and clips. */
import type { Queryable } from "./db.js";
import { likePattern, toPage, type Page, type PageRequest, type Provenance } from "./common.js";
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

export async function listTags(db: Queryable, q: PageRequest & { key?: string; search?: string }): Promise<Page<Tag>> {
  const pattern = likePattern(q.search);
  const where = db`(${q.key ?? null}::text IS NULL OR key = ${q.key ?? null}) AND (${pattern}::text IS NULL OR value ILIKE ${pattern})`;
  const rows = await db<(Tag & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM tags WHERE ${where}
    ORDER BY key, value LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM tags WHERE ${where}`);
}
