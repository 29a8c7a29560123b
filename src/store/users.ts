/** Users: who creates records and owns tokens. Roles: admin, member (edits data), viewer (reads). */
import type { Queryable, Sql } from "./db.js";
import { inTransaction, toPage, type Page, type PageRequest } from "./common.js";
import { ConflictError, NotFoundError, translating } from "./errors.js";
import { createToken } from "./tokens.js";
import { failInterruptedRuns, INTERRUPTED_ELSEWHERE } from "./runs.js";

export const ROLES = ["admin", "member", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: string;
  username: string;
  name: string;
  email: string | null;
  role: Role;
  /** False: none of the user's tokens authenticates (store/tokens.ts authenticate), and none can be made. */
  enabled: boolean;
  created_at: string;
  /** The admin who created the user through the API; null for the first admin, for users the CLI made, and once that admin is deleted. */
  created_by: string | null;
}

export interface NewUser {
  username: string;
  name?: string;
  email?: string | null;
  role?: Role;
  created_by?: string | null;
}

const COLUMNS = (db: Queryable) => db`id, username, name, email, role, enabled, created_at, created_by`;

export async function createUser(db: Queryable, user: NewUser): Promise<User> {
  return translating(async () => {
    const [row] = await db<User[]>`
      INSERT INTO users (username, name, email, role, created_by)
      VALUES (${user.username}, ${user.name ?? ""}, ${user.email ?? null}, ${user.role ?? "member"}, ${user.created_by ?? null})
      RETURNING ${COLUMNS(db)}`;
    return row;
  });
}

export async function getUser(db: Queryable, id: string): Promise<User> {
  const [row] = await translating(() => db<User[]>`SELECT ${COLUMNS(db)} FROM users WHERE id = ${id}`);
  if (!row) throw new NotFoundError("user", id);
  return row;
}

/** The users of `ids` (repeats allowed), by id, in one query whatever their number; an id of no user has no entry. */
export async function getUsers(db: Queryable, ids: readonly string[]): Promise<Map<string, User>> {
  const rows = await translating(() => db<User[]>`SELECT ${COLUMNS(db)} FROM users WHERE id = ANY(${[...ids]}::uuid[])`);
  return new Map(rows.map((user) => [user.id, user]));
}

export async function findUserByUsername(db: Queryable, username: string): Promise<User | null> {
  const [row] = await db<User[]>`SELECT ${COLUMNS(db)} FROM users WHERE username = ${username}`;
  return row ?? null;
}

export async function listUsers(db: Queryable, req: PageRequest): Promise<Page<User>> {
  const rows = await db<(User & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM users
    ORDER BY created_at, username LIMIT ${req.limit} OFFSET ${req.offset}`;
  return toPage(rows, req, () => db`SELECT count(*) AS n FROM users`);
}

export async function updateUser(sql: Sql, id: string, patch: Partial<Omit<NewUser, "username"> & { enabled: boolean }>): Promise<User> {
  const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
  if (!Object.keys(fields).length) return getUser(sql, id);
  // The last enabled admin stays one: without one, nobody could manage users or datasets through
  // the API any more. Changes of role or of enabled are serialized by a table lock (as
  // ensureAdmin's), so two admins demoting or disabling each other at once cannot both see the
  // other one remain.
  const staysAdmin = (fields.role ?? "admin") === "admin" && fields.enabled !== false; // what the patch leaves of an enabled admin
  return inTransaction(sql, async (tx) => {
    if (fields.role !== undefined || fields.enabled !== undefined) await tx`LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`;
    const rows = await translating(
      () => tx`UPDATE users SET ${tx(fields, ...Object.keys(fields))} WHERE id = ${id}
               AND (${staysAdmin} OR NOT (role = 'admin' AND enabled) OR EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND enabled AND id <> ${id}))
               RETURNING id`,
    );
    if (!rows.length) {
      const user = await getUser(tx, id); // NotFoundError if there is no such user
      throw new ConflictError(`user ${user.username} is the last enabled admin and stays one: make another user admin first`);
    }
    return getUser(tx, id);
  }, `user ${id}`);
}

/**
 * Deletes user `id` for good (an admin's through the API, or `sonotile user delete`): their tokens
 * and their ownership of recordings go with them (ON DELETE CASCADE); every record they made stays
 * — datasets, recordings, clips, notes, tags, feature values, jobs, artifacts, runs, the users and
 * tokens they created — its `created_by` cleared to null (ON DELETE SET NULL, migration 001), as for
 * records made by no user the database knows (the CLI's). Their name and e-mail are then nowhere.
 * Refused (409): `actor` deleting themselves (an admin locking themselves out by mistake; another
 * admin deletes them), the last enabled admin (as updateUser keeps one), and a user whose work is
 * under way — an import or a job whose run is `running` would go on writing in the name of a user
 * no longer there (its writes refused), so it is to end or be aborted first; an import whose
 * process is gone (failInterruptedRuns: killed on this host) is ended as failed and does not count.
 * Checked first, and the user disabled in that same transaction — none of their tokens
 * authenticates any more, and createRun refuses a run in their name, so no work of theirs starts
 * after the check; refused there, nothing has changed (the transaction's end undoes the
 * disabling). Then their records are detached a batch at a time (detachRecords), not in the
 * deleting transaction, which held the embedded database — every other request — for the whole
 * delete (75 s for a user of 100,000 clips, notes, tags and tokens each on a loaded machine;
 * batched, 20 s there, no other query waiting over 0.5 s); then checked again as the user is
 * deleted. That check refuses only if an admin enabled them again meanwhile and they started work:
 * the records detached so far then stay detached (the deletion was asked for, and asking again
 * once the work has ended completes it). Stopped between the steps (the process killed), the user
 * stays disabled with part of their records detached; deleting them again completes it. The users table is
 * locked as updateUser locks it, so a delete and a demotion of the two last admins cannot both
 * pass, and the user's row FOR UPDATE: a write naming them in progress (its foreign key check holds
 * the row) commits first and is seen, one after it is refused.
 * @param actor the user deleting (null: the CLI, whoever can open the database)
 * @returns the user as they were, and how many tokens went with them
 */
export async function deleteUser(sql: Sql, id: string, actor: string | null): Promise<{ user: User; tokens: number }> {
  const what = async () => `user ${(await sql<{ username: string }[]>`SELECT username FROM users WHERE id = ${id}`)[0]?.username ?? id}`;
  const user = await inTransaction(sql, async (tx) => {
    const found = await deletable(tx, id, actor);
    await tx`UPDATE users SET enabled = false WHERE id = ${id}`;
    return found;
  }, what);
  await detachRecords(sql, id);
  return inTransaction(sql, async (tx) => {
    await deletable(tx, id, actor);
    const [{ n }] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM api_tokens WHERE user_id = ${id}`;
    await tx`DELETE FROM users WHERE id = ${id}`;
    return { user, tokens: n };
  }, what);
}

/**
 * User `id` as deleteUser may delete them, their row locked in transaction `tx` (and the users
 * table, as updateUser locks it); throws NotFoundError or the ConflictError of deleteUser's refusals.
 */
async function deletable(tx: Queryable, id: string, actor: string | null): Promise<User> {
  await tx`LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`;
  const [user] = await translating(() => tx<User[]>`SELECT ${COLUMNS(tx)} FROM users WHERE id = ${id} FOR UPDATE`);
  if (!user) throw new NotFoundError("user", id);
  if (id === actor) throw new ConflictError(`user ${user.username} is you: an admin does not delete themselves — another admin deletes you`);
  if (user.role === "admin" && user.enabled) {
    const [other] = await tx`SELECT 1 FROM users WHERE role = 'admin' AND enabled AND id <> ${id} LIMIT 1`;
    if (!other) throw new ConflictError(`user ${user.username} is the last enabled admin and cannot be deleted: make another user admin first`);
  }
  await failInterruptedRuns(tx, id); // a killed process's import, which nothing else would end
  const running = await tx<{ id: string; description: string; job_id: string | null; n: number }[]>`
    SELECT r.id, r.description, j.id AS job_id, count(*) OVER ()::int AS n
    FROM runs r LEFT JOIN jobs j ON j.run_id = r.id
    WHERE r.created_by = ${id} AND r.status = 'running' ORDER BY r.created_at LIMIT 1`;
  if (running.length) {
    const [run] = running;
    const more = run.n > 1 ? ` (and ${run.n - 1} more)` : "";
    const end = run.job_id ? `abort job ${run.job_id} (POST /v1/jobs/${run.job_id}/abort, sonotile jobs abort) or wait for it to end` : `wait for it to end (${INTERRUPTED_ELSEWHERE})`;
    throw new ConflictError(`user ${user.username} has work under way: run ${run.id} (${run.description}) is running${more}, and would go on writing in their name: ${end}, then delete them`);
  }
  return user;
}

/**
 * Rows a statement of detachRecords changes at most: a fraction of a second of the embedded
 * database's time, after which the requests waiting for it are answered (400,000 rows in one
 * transaction held every request for 75 s on a loaded machine; 5,000 a statement, none waited over 0.5 s).
 */
export const DETACH_BATCH_ROWS = 5000;

/**
 * Sets to NULL every column that references user `id` with ON DELETE SET NULL (each table's
 * created_by, as the catalog lists them: none is left out when a table is added), at most
 * DETACH_BATCH_ROWS rows a statement, each its own transaction; the index of each column
 * (migration 024) finds the rows. What the user writes meanwhile is left to the DELETE's own SET NULL.
 * Runs and jobs are left to it too: a run of theirs started meanwhile (an admin enabled them
 * again), detached here, would escape deletable()'s final check, and the user be deleted under
 * work going on in their name; their rows are few (one a job or import), and the DELETE clears
 * them after the check.
 */
async function detachRecords(sql: Sql, id: string): Promise<void> {
  const references = await sql<{ table: string; column: string }[]>`
    SELECT c.conrelid::regclass::text AS table, a.attname AS column
    FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass AND c.confdeltype = 'n'
      AND c.conrelid NOT IN ('runs'::regclass, 'jobs'::regclass)
    ORDER BY 1, 2`;
  for (const { table, column } of references) {
    // A batch that changed fewer rows than it could found the last of them.
    for (let changed = DETACH_BATCH_ROWS; changed === DETACH_BATCH_ROWS; ) {
      ({ count: changed } = await sql`
        UPDATE ${sql(table)} SET ${sql(column)} = NULL
        WHERE ctid = ANY (ARRAY (SELECT ctid FROM ${sql(table)} WHERE ${sql(column)} = ${id} LIMIT ${DETACH_BATCH_ROWS}))`);
    }
  }
}

/**
 * On an empty database, creates the user `admin` and a token for it and returns the key (to
 * print once); otherwise returns null. One transaction, so two servers starting together
 * create one admin, and a crash leaves either both or neither.
 */
export async function ensureAdmin(sql: Sql): Promise<{ user: User; key: string } | null> {
  return sql.begin(async (tx) => {
    await tx`LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`;
    const [{ n }] = await tx`SELECT count(*)::int AS n FROM users`;
    if (n > 0) return null;
    const user = await createUser(tx, { username: "admin", name: "Administrator", role: "admin" });
    const { key } = await createToken(tx, { user_id: user.id, name: "initial admin token", created_by: user.id });
    return { user, key };
  });
}
