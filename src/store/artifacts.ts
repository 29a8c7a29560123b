/**
 * Artifacts: outputs of jobs (feature tables, .npy matrices). Their bytes are content
 * addressed files (SHA-256 + size, stored once however many artifacts share them), kept in
 * the database in chunks so every instance can serve them; an artifact may expire
 * (`expiration_delay` seconds after creation → `expire_at`), and `cleanupExpired` deletes
 * expired artifacts and the files (with their bytes) nothing references any more — both only
 * once CLEANUP_GRACE_SECONDS have passed, so downloads in progress finish. Archiving an artifact
 * keeps it: while archived it does not expire (expiredBy).
 */
import { createHash } from "node:crypto";
import type { Queryable } from "./db.js";
import { CHUNK_BYTES, chunksOf, stateCondition, toPage, type Fragment, type Page, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
import { NotFoundError, translating } from "./errors.js";

/**
 * How long cleanup leaves an expired artifact, and a file nothing references any more (migration
 * 015: `files.released_at`), before deleting them. A download reads the file one chunk per query
 * with no transaction open (readFileContents), so nothing in the database holds its bytes while
 * it runs: the grace period is what lets one that began before the expiry (or before a trash
 * purge) finish. New downloads are refused from the expiry on (410), so a day covers a download
 * of a few GB over a slow link — a 1.3 GB feature table at 100 kB/s takes under 4 h — at the
 * cost of keeping the bytes a day longer. Server instances agree on it through the database
 * clock, with no bookkeeping of their own.
 */
export const CLEANUP_GRACE_SECONDS = 24 * 3600;

export interface StoredFile {
  sha256: string;
  size: number;
  media_type: string;
  created_at: string;
}

export interface Artifact {
  id: string;
  job_id: string | null;
  name: string;
  /** What the file holds, in words (a matrix's rows and columns); null when its name says enough, and for artifacts stored before migration 018. */
  description: string | null;
  file_sha256: string;
  size: number;
  media_type: string;
  expiration_delay: number | null;
  expire_at: string | null;
  /** Past its expire_at and not archived (expiredBy, by the database clock): its file answers 410, and cleanup deletes it. */
  expired: boolean;
  state: State;
  state_changed_at: string | null;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
}

/**
 * Stores `bytes` under their SHA-256 (once: storing them again returns the existing file and
 * completes its chunks if a crash cut them short). Call it inside the transaction that
 * references the file (createArtifact), so that nobody sees it partial and a cleanup that had
 * chosen the file waits for the row locked here, then skips it as referenced.
 */
export async function storeFile(db: Queryable, bytes: Uint8Array, mediaType = "application/octet-stream"): Promise<StoredFile> {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const [row] = await translating(() => db<StoredFile[]>`
    INSERT INTO files (sha256, size, media_type) VALUES (${sha256}, ${bytes.length}, ${mediaType})
    ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256
    RETURNING sha256, size::float8 AS size, media_type, created_at`);
  for (const [chunk, data] of chunksOf(bytes)) {
    await db`INSERT INTO file_chunks (sha256, chunk, data) VALUES (${sha256}, ${chunk}, ${data}) ON CONFLICT DO NOTHING`;
  }
  return row;
}

/**
 * Why an artifact's file is not handed out, as GET /v1/artifacts/{id}/file (410) and `sonotile
 * jobs download` say it: it expired, and cleanup deletes it CLEANUP_GRACE_SECONDS later unless
 * it is archived first.
 */
export const expiredArtifactMessage = (a: Pick<Artifact, "id" | "expire_at">) =>
  `artifact ${a.id} expired at ${a.expire_at}; a cleanup deletes it ${CLEANUP_GRACE_SECONDS} s after that (downloads in progress finish meanwhile) unless it is archived first (POST /v1/artifacts/${a.id}/archive keeps it)`;

/** Why an artifact's file cannot be handed out when its bytes are not in the database (fileContentsStored), as the route (404) and `jobs download` say it. */
export const unstoredFileMessage = (a: Pick<Artifact, "id">) =>
  `the file of artifact ${a.id} is not in the database (it was written before files were stored there, on the disk of the worker that made it)`;

/** True when all `size` bytes of the file are in the database (not so for files stored before migration 003). */
export async function fileContentsStored(db: Queryable, sha256: string, size: number): Promise<boolean> {
  const [{ bytes }] = await db`SELECT COALESCE(sum(octet_length(data)), 0)::float8 AS bytes FROM file_chunks WHERE sha256 = ${sha256}`;
  return bytes === size;
}

/**
 * The file's bytes from `start` to `end` (inclusive; default the whole file), one chunk (≤ 1 MiB)
 * per query: a download holds one chunk in memory and no transaction open, and a range (a resumed
 * download) reads only the chunks it covers, the first and last sliced to it.
 */
export async function* readFileContents(db: Queryable, sha256: string, size: number, start = 0, end = size - 1): AsyncGenerator<Buffer> {
  for (let chunk = Math.floor(start / CHUNK_BYTES); chunk * CHUNK_BYTES <= end; chunk++) {
    const [row] = await db<{ data: Buffer }[]>`SELECT data FROM file_chunks WHERE sha256 = ${sha256} AND chunk = ${chunk}`;
    if (!row) throw new NotFoundError(`chunk ${chunk} of file`, sha256);
    const offset = chunk * CHUNK_BYTES;
    yield row.data.subarray(Math.max(0, start - offset), end + 1 - offset);
  }
}

/**
 * SQL: whether the artifact row (its `expire_at` and `state` columns) has expired as of `at` — its
 * expiry has passed and it is not archived. Archiving is how a person keeps an artifact: an
 * archived one does not expire, so cleanup leaves it and its file downloads; restored, its
 * expire_at counts again. False, never NULL, for one without an expiry.
 */
function expiredBy(db: Queryable, at: Fragment) {
  return db`(expire_at IS NOT NULL AND expire_at <= ${at} AND state <> 'archived')`;
}

const SELECT = (db: Queryable) => db`
  SELECT a.id, a.job_id, a.name, a.description, a.file_sha256, f.size::float8 AS size, f.media_type, a.expiration_delay, a.expire_at,
         ${expiredBy(db, db`now()`)} AS expired, a.state, a.state_changed_at, a.created_at, a.created_by, a.run_id
  FROM artifacts a JOIN files f ON f.sha256 = a.file_sha256`;

/**
 * Inserts an artifact of a stored file. The file's row is written first (released_at NULL: it is
 * referenced, migration 015): a cleanup whose DELETE of files waits for this transaction then
 * re-checks that row as committed and skips it. A row only locked by the foreign key check would
 * be deleted under the new artifact, and cleanup fail on the foreign key (23503).
 */
export async function createArtifact(db: Queryable, a: { job_id?: string | null; name: string; description?: string | null; file_sha256: string; expiration_delay?: number | null } & Provenance): Promise<Artifact> {
  await db`UPDATE files SET released_at = NULL WHERE sha256 = ${a.file_sha256}`;
  const [{ id }] = await translating(() => db`
    INSERT INTO artifacts (job_id, name, description, file_sha256, expiration_delay, expire_at, created_by, run_id)
    VALUES (${a.job_id ?? null}, ${a.name}, ${a.description ?? null}, ${a.file_sha256}, ${a.expiration_delay ?? null},
            now() + make_interval(secs => ${a.expiration_delay ?? null}::float8), ${a.created_by}, ${a.run_id ?? null})
    RETURNING id`);
  return getArtifact(db, id);
}

export async function getArtifact(db: Queryable, id: string): Promise<Artifact> {
  const [row] = await translating(() => db<Artifact[]>`${SELECT(db)} WHERE a.id = ${id}`);
  if (!row) throw new NotFoundError("artifact", id);
  return row;
}

/**
 * Which artifacts a listing shows by their expiry (expiredBy): unexpired — those whose file
 * downloads, the default, as a default listing shows active records —, expired (what cleanup
 * deletes), or all.
 */
export const EXPIRY_FILTERS = ["unexpired", "expired", "all"] as const;
export type ExpiryFilter = (typeof EXPIRY_FILTERS)[number];

export async function listArtifacts(db: Queryable, q: PageRequest & { state: StateFilter; expiry?: ExpiryFilter; job_id?: string }): Promise<Page<Artifact>> {
  const expired = expiredBy(db, db`now()`);
  const expiry = q.expiry === "all" ? db`TRUE` : q.expiry === "expired" ? expired : db`NOT ${expired}`;
  const where = db`${stateCondition(db, q.state)} AND ${expiry} AND (${q.job_id ?? null}::uuid IS NULL OR job_id = ${q.job_id ?? null})`;
  const rows = await translating(() => db<(Artifact & { total_count: number })[]>`
    SELECT *, count(*) OVER () AS total_count FROM (${SELECT(db)}) a WHERE ${where}
    ORDER BY created_at DESC, name, id LIMIT ${q.limit} OFFSET ${q.offset}`);
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM artifacts WHERE ${where}`);
}

/**
 * Deletes artifacts that expired at least CLEANUP_GRACE_SECONDS before `now` (default the
 * database clock) — archived ones do not expire (expiredBy) — then every file no artifact
 * references and none has for as long (`released_at`, set when an artifact goes: migrations 015,
 * 016), with its bytes; returns what went. A file an artifact references meanwhile is skipped
 * (see createArtifact); an artifact archived meanwhile too (the DELETE waits for its row and
 * checks it again).
 */
export async function cleanupExpired(db: Queryable, now?: Date): Promise<{ artifacts: string[]; files: string[] }> {
  const at = now ? now.toISOString() : null;
  const cutoff = db`COALESCE(${at}::timestamptz, now()) - make_interval(secs => ${CLEANUP_GRACE_SECONDS}::float8)`;
  const artifacts = await db`DELETE FROM artifacts WHERE ${expiredBy(db, cutoff)} RETURNING id`;
  const files = await db`
    DELETE FROM files f WHERE f.released_at <= ${cutoff}
      AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.file_sha256 = f.sha256) RETURNING sha256`;
  return { artifacts: artifacts.map((r) => r.id as string), files: files.map((r) => r.sha256 as string) };
}
