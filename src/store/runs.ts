/** Runs: one per import or batch job execution; every record a run creates points to it (`run_id`). */
import type { Queryable } from "./db.js";
import { toPage, type Page, type PageRequest } from "./common.js";
import { NotFoundError, translating } from "./errors.js";

export const RUN_KINDS = ["import", "job", "other"] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export type RunStatus = "running" | "completed" | "failed";

export interface Run {
  id: string;
  kind: RunKind;
  description: string;
  status: RunStatus;
  created_at: string;
  created_by: string | null;
  finished_at: string | null;
}

const COLUMNS = (db: Queryable) => db`id, kind, description, status, created_at, created_by, finished_at`;

export async function createRun(db: Queryable, run: { kind: RunKind; description?: string; created_by: string | null }): Promise<Run> {
  const [row] = await translating(() => db<Run[]>`
    INSERT INTO runs (kind, description, created_by) VALUES (${run.kind}, ${run.description ?? ""}, ${run.created_by})
    RETURNING ${COLUMNS(db)}`);
  return row;
}

/** Marks a running run finished; a run already finished keeps its first outcome. */
export async function finishRun(db: Queryable, id: string, status: Exclude<RunStatus, "running">): Promise<Run> {
  await db`UPDATE runs SET status = ${status}, finished_at = now() WHERE id = ${id} AND status = 'running'`;
  return getRun(db, id);
}

export async function getRun(db: Queryable, id: string): Promise<Run> {
  const [row] = await translating(() => db<Run[]>`SELECT ${COLUMNS(db)} FROM runs WHERE id = ${id}`);
  if (!row) throw new NotFoundError("run", id);
  return row;
}

export async function listRuns(db: Queryable, req: PageRequest & { kind?: RunKind; status?: RunStatus }): Promise<Page<Run>> {
  const where = db`(${req.kind ?? null}::text IS NULL OR kind = ${req.kind ?? null})
    AND (${req.status ?? null}::text IS NULL OR status = ${req.status ?? null})`;
  const rows = await db<(Run & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM runs WHERE ${where}
    ORDER BY created_at DESC, id LIMIT ${req.limit} OFFSET ${req.offset}`;
  return toPage(rows, req, () => db`SELECT count(*) AS n FROM runs WHERE ${where}`);
}
