/** Feature names: the vocabulary of feature values (name → float per recording or clip). */
import type { Queryable } from "./db.js";
import { likePattern, toPage, type Page, type PageRequest } from "./common.js";
import { translating } from "./errors.js";

export interface FeatureName {
  id: string;
  name: string;
  created_at: string;
}

/** The feature name, created if new; concurrent callers get one row (see getOrCreateTag). */
export async function getOrCreateFeatureName(db: Queryable, name: string): Promise<FeatureName> {
  const [row] = await translating(() => db<FeatureName[]>`
    INSERT INTO feature_names (name) VALUES (${name})
    ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
    RETURNING id, name, created_at`);
  return row;
}

export async function listFeatureNames(db: Queryable, q: PageRequest & { search?: string }): Promise<Page<FeatureName>> {
  const pattern = likePattern(q.search);
  const where = db`(${pattern}::text IS NULL OR name ILIKE ${pattern})`;
  const rows = await db<(FeatureName & { total_count: number })[]>`
    SELECT id, name, created_at, count(*) OVER () AS total_count FROM feature_names WHERE ${where}
    ORDER BY name LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM feature_names WHERE ${where}`);
}
