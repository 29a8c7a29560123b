/** Users: who creates records and owns tokens. Roles: admin, member (edits data), viewer (reads). */
import type { Queryable, Sql } from "./db.js";
import { toPage, type Page, type PageRequest } from "./common.js";
import { ConflictError, NotFoundError, translating } from "./errors.js";
import { createToken } from "./tokens.js";

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
  /** The admin who created the user through the API; null for the first admin and for users the CLI made. */
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
  return sql.begin(async (tx) => {
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
  });
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
