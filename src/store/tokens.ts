/**
 * API tokens. The key (`st_` + 32 random bytes, base64url) is returned once by createToken
 * and stored only as its SHA-256, so a database leak does not leak usable keys; lookups hash
 * the presented key and compare hashes through the unique index.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Queryable } from "./db.js";
import { toPage, type Page, type PageRequest } from "./common.js";
import { NotFoundError, translating } from "./errors.js";
import type { User } from "./users.js";

export interface Token {
  id: string;
  user_id: string;
  name: string;
  /** The first characters of the key, to tell tokens apart. */
  key_prefix: string;
  enabled: boolean;
  created_at: string;
  created_by: string | null;
  /** When the key stops authenticating (authenticate throws TokenExpiredError from then on); null: never. */
  expires_at: string | null;
}

/** Why the key of a token does not authenticate: the token is disabled, its user is, or its `expires_at` has passed. */
export type Refusal = "disabled" | "user disabled" | "expired";

/**
 * The key names a token that does not authenticate, for `reason`: its 401 says which in its
 * WWW-Authenticate challenge (RFC 6750 error_description, plugins/auth.ts). A disabled token says
 * so before an expired one, and so does one of a disabled user.
 */
export class TokenRefusedError extends Error {
  override name = "TokenRefusedError";
  constructor(readonly token: Token, readonly reason: Refusal, message = `the token ${token.key_prefix}… (${token.name}) does not authenticate: ${{ disabled: "it is disabled", "user disabled": "its user is disabled", expired: "it has expired" }[reason]}`) {
    super(message);
  }
}

/**
 * The key names an enabled token of an enabled user whose `expires_at` has passed: a 401 that
 * says so, so that its holder asks for a new token instead of looking for a typo in this one.
 */
export class TokenExpiredError extends TokenRefusedError {
  override name = "TokenExpiredError";
  constructor(token: Token) {
    super(token, "expired", `the token ${token.key_prefix}… (${token.name}) expired at ${token.expires_at}: create a new one (POST /v1/tokens with another token, or sonotile token create)`);
  }
}

const KEY_PREFIX = "st_";
/** Characters of the key kept in clear (prefix + 6 characters of the random part: 36 bits, not a secret). */
const SHOWN_CHARS = KEY_PREFIX.length + 6;

/** SHA-256 of a key, as stored. */
export function hashKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

const COLUMNS = (db: Queryable) => db`id, user_id, name, key_prefix, enabled, created_at, created_by, expires_at`;

/**
 * Creates a token for `user_id`, valid until `expires_at` (ISO 8601; absent or null: no expiry);
 * the returned `key` is not stored anywhere.
 */
export async function createToken(db: Queryable, t: { user_id: string; name: string; created_by: string | null; expires_at?: string | null }): Promise<{ token: Token; key: string }> {
  const key = KEY_PREFIX + randomBytes(32).toString("base64url");
  const [token] = await translating(() => db<Token[]>`
    INSERT INTO api_tokens (user_id, name, key_hash, key_prefix, created_by, expires_at)
    VALUES (${t.user_id}, ${t.name}, ${hashKey(key)}, ${key.slice(0, SHOWN_CHARS)}, ${t.created_by}, ${t.expires_at ?? null})
    RETURNING ${COLUMNS(db)}`);
  return { token, key };
}

export async function getToken(db: Queryable, id: string): Promise<Token> {
  const [row] = await translating(() => db<Token[]>`SELECT ${COLUMNS(db)} FROM api_tokens WHERE id = ${id}`);
  if (!row) throw new NotFoundError("token", id);
  return row;
}

/** Tokens, all or of one user, newest first. */
export async function listTokens(db: Queryable, req: PageRequest & { user_id?: string }): Promise<Page<Token>> {
  const where = req.user_id ? db`user_id = ${req.user_id}` : db`TRUE`;
  const rows = await translating(() => db<(Token & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM api_tokens WHERE ${where}
    ORDER BY created_at DESC, id LIMIT ${req.limit} OFFSET ${req.offset}`);
  return toPage(rows, req, () => db`SELECT count(*) AS n FROM api_tokens WHERE ${where}`);
}

export async function setTokenEnabled(db: Queryable, id: string, enabled: boolean): Promise<Token> {
  const [row] = await translating(() => db<Token[]>`
    UPDATE api_tokens SET enabled = ${enabled} WHERE id = ${id} RETURNING ${COLUMNS(db)}`);
  if (!row) throw new NotFoundError("token", id);
  return row;
}

/**
 * The user and token a key belongs to, or null if the key is unknown.
 * @throws TokenRefusedError when the token is disabled or its user is; TokenExpiredError (one)
 *   when its `expires_at` has passed (by the database's clock, which every instance shares)
 */
export async function authenticate(db: Queryable, key: string): Promise<{ user: User; token: Token } | null> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const lookup = () => db`
    SELECT t.id, t.user_id, t.name, t.key_prefix, t.enabled, t.created_at, t.created_by, t.expires_at, t.expires_at <= now() AS expired,
           u.username, u.name AS user_name, u.email, u.role, u.enabled AS user_enabled, u.created_at AS user_created_at, u.created_by AS user_created_by
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.key_hash = ${hashKey(key)}`;
  // "No such token" is confirmed by a second read: while its connections were being reset,
  // postgres.js 3.4.9 answered a few lookups of a valid key with no rows and no error (4 of 13,760
  // requests to a server whose PostgreSQL sat behind a TCP proxy resetting them) — a 401 that
  // tells a client to throw away a good token. A genuinely unknown key costs one query more.
  let [row] = await lookup();
  if (!row) [row] = await lookup();
  if (!row) return null;
  const token: Token = { id: row.id, user_id: row.user_id, name: row.name, key_prefix: row.key_prefix, enabled: row.enabled, created_at: row.created_at, created_by: row.created_by, expires_at: row.expires_at };
  if (!row.enabled) throw new TokenRefusedError(token, "disabled");
  if (!row.user_enabled) throw new TokenRefusedError(token, "user disabled");
  if (row.expired) throw new TokenExpiredError(token);
  return {
    token,
    user: { id: row.user_id, username: row.username, name: row.user_name, email: row.email, role: row.role, enabled: row.user_enabled, created_at: row.user_created_at, created_by: row.user_created_by },
  };
}
