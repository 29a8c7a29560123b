/**
 * Runs: one per import or batch job execution; every record a run creates points to it (`run_id`).
 *
 * An import runs inside one process from start to end, so its run records that process
 * (`owner`, as the data directory's lock names its owner): a run left `running` by a process
 * killed mid-import is told from a live one and ended as failed (failInterruptedRuns). A job's
 * run outlives any one worker process; the queue ends it. Every run records the engine version
 * that made it (`engine_version`), whichever creates it (an import, a job, `sonotile dataset add`).
 */
import { VERSION } from "../engine/version.js";
import type { Queryable } from "./db.js";
import { isAlive, thisProcess, type LockOwner } from "./lock.js";
import { toPage, type Page, type PageRequest } from "./common.js";
import { ConflictError, NotFoundError, translating } from "./errors.js";

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
  /** The engine version (package version) of the sonotile that made the run (migration 021); null: made by 0.11 or older, which did not record it. */
  engine_version: string | null;
}

const COLUMNS = (db: Queryable) => db`id, kind, description, status, created_at, created_by, finished_at, engine_version`;

/**
 * Starts a run in the name of `created_by`; refused (ConflictError) when that user is disabled —
 * deleteUser disables a user, then checks that no run of theirs is running, then detaches their
 * records: a request that passed authentication before the disabling must not start one after
 * the check. Their row is read FOR SHARE in the INSERT itself: a disabling in progress (its FOR
 * UPDATE) is waited for and its outcome read, and a disabling that comes later waits for this
 * run to be committed, and sees it.
 */
export async function createRun(db: Queryable, run: { kind: RunKind; description?: string; created_by: string | null }): Promise<Run> {
  const [row] = await translating(() => db<Run[]>`
    WITH creator AS (SELECT enabled FROM users WHERE id = ${run.created_by}::uuid FOR SHARE)
    INSERT INTO runs (kind, description, created_by, owner, engine_version)
    SELECT ${run.kind}::text, ${run.description ?? ""}::text, ${run.created_by}::uuid, ${run.kind === "import" ? db.json(thisProcess() as never) : null}::jsonb, ${VERSION}::text
    WHERE NOT EXISTS (SELECT 1 FROM creator WHERE NOT enabled)
    RETURNING ${COLUMNS(db)}`);
  if (!row) {
    const [user] = await db<{ username: string }[]>`SELECT username FROM users WHERE id = ${run.created_by}`;
    throw new ConflictError(`user ${user?.username ?? run.created_by} is disabled: no run is started in their name`);
  }
  return row;
}

/** Marks a running run finished; a run already finished keeps its first outcome. */
export async function finishRun(db: Queryable, id: string, status: Exclude<RunStatus, "running">): Promise<Run> {
  await db`UPDATE runs SET status = ${status}, finished_at = now() WHERE id = ${id} AND status = 'running'`;
  return getRun(db, id);
}

/**
 * Ends as failed every run still `running` whose owning process no longer exists — an import
 * whose process was killed, which nothing else would ever end. Only the processes this one can
 * see can be checked — this host's, in its PID namespace: another host's or container's are taken
 * to be alive (lock.ts isAlive); INTERRUPTED_ELSEWHERE says how theirs end. Returns the runs ended.
 * @param createdBy only the runs of this user (all when not given)
 */
export async function failInterruptedRuns(db: Queryable, createdBy?: string): Promise<Run[]> {
  const owned = await db<{ id: string; owner: LockOwner }[]>`
    SELECT id, owner FROM runs WHERE status = 'running' AND owner IS NOT NULL AND (${createdBy ?? null}::uuid IS NULL OR created_by = ${createdBy ?? null})`;
  const ended: Run[] = [];
  for (const { id } of owned.filter((run) => !isAlive(run.owner))) ended.push(await finishRun(db, id, "failed"));
  return ended;
}

/** How a run left `running` by a process killed out of this one's sight ends (failInterruptedRuns there). */
export const INTERRUPTED_ELSEWHERE = "an import whose process was killed on another host or container ends as failed when `sonotile serve` or `sonotile dataset add` starts there";

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
