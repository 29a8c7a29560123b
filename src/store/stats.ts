/**
 * Recording stats (SPEC §3.7, §4, §6): per recording and canonical parameter hash, what
 * seamless tiles need — the whole-recording normalization maximum and PCEN state
 * checkpoints. Computing them reads the whole recording, so instances sharing a database
 * coordinate through a lease: `claimStats` lets exactly one caller compute while the others
 * see "busy" (and poll or wait). The claimer renews its lease while it works
 * (`renewStatsLease`) and gives the claim up if it fails (`releaseStats`); a crashed claimer
 * stops renewing, and its lease lapses. The PCEN checkpoints are kept in chunks of at most 1 MiB
 * (migration 010), written and read one per query, outside any transaction: the embedded database
 * serves every other request between them (one bytea of 243 MB held it for minutes). So is the
 * overview of a long recording (migration 023: per bin, the maximum of every 512 frames, from
 * which the tiles zoomed out past the tile work limit are pooled), as large as its checkpoints.
 */
import { randomUUID } from "node:crypto";
import { CHUNK_BYTES, chunksOf, toPage, type Page, type PageRequest } from "./common.js";
import type { Queryable } from "./db.js";
import { translating } from "./errors.js";

export interface RecordingStats {
  recording_id: string;
  params_hash: string;
  /** MD5 of the recording content the stats describe. */
  recording_hash: string;
  maximum: number;
  /** The PCEN checkpoints' bytes (null: none kept), in a Buffer of their own (offset 0: Buffer.alloc is never pooled), which the tile layer views as float32 without a copy. */
  pcen_checkpoints: Buffer | null;
  /** The overview's bytes (null: none kept), in the array getStats' `allocate` gave. */
  overview: Uint8Array | null;
  info: Record<string, unknown>;
  updated_at: string;
}

/** The tables of a row's chunked bytes: its PCEN checkpoints (010) and its overview (023). */
type ChunkTable = "recording_stats_chunks" | "recording_stats_overview_chunks";

/** The row a chunk belongs to. */
interface StatsRowKey { recordingId: string; paramsHash: string; recordingHash: string }

/**
 * Reads the `size` bytes stored in `table`'s chunks of the row into `into`, a chunk per query;
 * false when a chunk is missing or of the wrong length (lost, or the content's claim changing under
 * this read).
 */
async function readChunks(db: Queryable, table: ChunkTable, row: StatsRowKey, size: number, into: Uint8Array): Promise<boolean> {
  for (let chunk = 0; chunk * CHUNK_BYTES < size; chunk++) {
    const [part] = await db<{ data: Buffer }[]>`
      SELECT data FROM ${db(table)}
      WHERE recording_id = ${row.recordingId} AND params_hash = ${row.paramsHash} AND recording_hash = ${row.recordingHash} AND chunk = ${chunk}`;
    if (part?.data.length !== Math.min(CHUNK_BYTES, size - chunk * CHUNK_BYTES)) return false;
    into.set(part.data, chunk * CHUNK_BYTES);
  }
  return true;
}

/**
 * Writes `bytes` into `table`'s chunks of the row, a chunk per query (over any a crashed claimer
 * left); false when the row went meanwhile (its recording deleted, or its claim released by another
 * instance): the claim is lost.
 */
async function writeChunks(db: Queryable, table: ChunkTable, row: StatsRowKey, bytes: Uint8Array): Promise<boolean> {
  for (const [chunk, data] of chunksOf(bytes)) {
    try {
      await db`
        INSERT INTO ${db(table)} (recording_id, params_hash, recording_hash, chunk, data)
        VALUES (${row.recordingId}, ${row.paramsHash}, ${row.recordingHash}, ${chunk}, ${data})
        ON CONFLICT (recording_id, params_hash, recording_hash, chunk) DO UPDATE SET data = EXCLUDED.data`;
    } catch (err) {
      if ((err as { code?: string }).code === "23503") return false;
      throw err;
    }
  }
  return true;
}

export type Claim =
  | { status: "ready" }
  | { status: "claimed" }
  | { status: "busy"; claimed_by: string | null; lease_until: string | null };

/**
 * Ready stats for this recording content and parameter hash, or null.
 * @param allocate the array the overview's bytes are read into, given their length (default a
 *   Buffer): the tile layer reads them into the shared memory its workers read them from, with no
 *   second copy of up to 256 MiB.
 */
export async function getStats(db: Queryable, recordingId: string, paramsHash: string, recordingHash: string, allocate: (bytes: number) => Uint8Array = Buffer.alloc): Promise<RecordingStats | null> {
  const [row] = await translating(() => db<(Omit<RecordingStats, "pcen_checkpoints" | "overview"> & { pcen_checkpoint_bytes: number | null; overview_bytes: number | null; stale: boolean })[]>`
    SELECT recording_id, params_hash, recording_hash, maximum, pcen_checkpoint_bytes::float8 AS pcen_checkpoint_bytes, overview_bytes::float8 AS overview_bytes, info, updated_at,
      used_at < now() - make_interval(secs => ${USE_MARK_SECONDS}) AS stale
    FROM recording_stats
    WHERE recording_id = ${recordingId} AND params_hash = ${paramsHash} AND recording_hash = ${recordingHash} AND status = 'ready'`);
  if (!row) return null;
  const { pcen_checkpoint_bytes: checkpointBytes, overview_bytes: overviewBytes, stale, ...stats } = row;
  // Marked used before its chunks are read, so that no purge (which spares rows used within
  // STATS_PURGE_SPARE_SECONDS) removes them under this read; gone meanwhile (purged): none.
  if (stale && !(await markStatsUsed(db, recordingId, paramsHash, recordingHash))) return null;
  const key = { recordingId, paramsHash, recordingHash };
  const checkpoints = checkpointBytes === null ? null : Buffer.alloc(checkpointBytes);
  const overview = overviewBytes === null ? null : allocate(overviewBytes);
  if ((checkpoints && !(await readChunks(db, "recording_stats_chunks", key, checkpoints.length, checkpoints))) || (overview && !(await readChunks(db, "recording_stats_overview_chunks", key, overview.length, overview)))) {
    // A chunk lost (or the content's claim changing under this read): the stats are a cache, so
    // the row goes, and the caller computes them again rather than failing every request.
    await db`DELETE FROM recording_stats WHERE recording_id = ${recordingId} AND params_hash = ${paramsHash} AND recording_hash = ${recordingHash} AND status = 'ready'`;
    return null;
  }
  return { ...stats, pcen_checkpoints: checkpoints, overview };
}

/**
 * Marks ready stats used now (recording_stats.used_at), for purgeStats' order: when getStats reads
 * them, and when a server uses them from its memory (tileStatsStore's touch) — else the stats a
 * server uses most, read once, would keep the time they were read and be the first removed. False
 * when there are none (purged meanwhile).
 */
export async function markStatsUsed(db: Queryable, recordingId: string, paramsHash: string, recordingHash: string): Promise<boolean> {
  const rows = await db`
    UPDATE recording_stats SET used_at = now()
    WHERE recording_id = ${recordingId} AND params_hash = ${paramsHash} AND recording_hash = ${recordingHash} AND status = 'ready'
    RETURNING 1`;
  return rows.length > 0;
}

/**
 * Tries to become the one computer of these stats for `leaseSeconds`. Wins when there is no
 * row, the previous claim's lease expired, or the row describes other content (the file
 * changed). One statement, so concurrent callers cannot both win. `info`: what the row says
 * while they are computed (what they are for), until saveStats replaces it. `withoutOverview`:
 * ready stats of this content that kept no overview (stored before migration 023, or by an instance
 * that keeps none for them) are claimed too, to be computed again with one.
 */
export async function claimStats(db: Queryable, s: { recording_id: string; params_hash: string; recording_hash: string; owner: string; leaseSeconds: number; info?: Record<string, unknown>; withoutOverview?: boolean }): Promise<Claim> {
  const info = db.json((s.info ?? {}) as never);
  const won = await translating(() => db`
    INSERT INTO recording_stats (recording_id, params_hash, recording_hash, status, claimed_by, lease_until, info)
    VALUES (${s.recording_id}, ${s.params_hash}, ${s.recording_hash}, 'computing', ${s.owner}, now() + make_interval(secs => ${s.leaseSeconds}::float8), ${info})
    ON CONFLICT (recording_id, params_hash) DO UPDATE
      SET status = 'computing', recording_hash = EXCLUDED.recording_hash, claimed_by = EXCLUDED.claimed_by,
          lease_until = EXCLUDED.lease_until, maximum = NULL, pcen_checkpoint_bytes = NULL, overview_bytes = NULL, info = EXCLUDED.info, updated_at = now()
      WHERE recording_stats.recording_hash <> EXCLUDED.recording_hash
         OR (recording_stats.status = 'computing' AND recording_stats.lease_until < now())
         OR (${s.withoutOverview ?? false}::boolean AND recording_stats.status = 'ready' AND recording_stats.overview_bytes IS NULL)
    RETURNING claimed_by`);
  if (won.length) {
    // The checkpoints and overview of content this row described before (the file changed since).
    for (const table of ["recording_stats_chunks", "recording_stats_overview_chunks"] as const) {
      await db`DELETE FROM ${db(table)} WHERE recording_id = ${s.recording_id} AND params_hash = ${s.params_hash} AND recording_hash <> ${s.recording_hash}`;
    }
    return { status: "claimed" };
  }
  // Ready for this content: the caller reads the stats (getStats) — not here as well, chunk by chunk.
  const [row] = await db`SELECT status, recording_hash, claimed_by, lease_until FROM recording_stats WHERE recording_id = ${s.recording_id} AND params_hash = ${s.params_hash}`;
  if (row?.status === "ready" && row.recording_hash === s.recording_hash) return { status: "ready" };
  return { status: "busy", claimed_by: row?.claimed_by ?? null, lease_until: row?.lease_until ?? null };
}

/**
 * Stores computed stats; only the current claimer's write counts (returns false otherwise). The
 * checkpoints and the overview go first, a chunk per query under the content's hash (over any a
 * crashed claimer left), and the row turns ready last, so no reader sees part of them. A claimer
 * that lost its claim while writing wrote the same bytes, for the same content, or chunks under
 * another hash, which no reader of this content looks at and the next claim removes.
 */
export async function saveStats(db: Queryable, s: { recording_id: string; params_hash: string; owner: string; maximum: number; pcen_checkpoints?: Uint8Array | null; overview?: Uint8Array | null; info?: Record<string, unknown> }): Promise<boolean> {
  const [claim] = await translating(() => db<{ recording_hash: string }[]>`
    SELECT recording_hash FROM recording_stats
    WHERE recording_id = ${s.recording_id} AND params_hash = ${s.params_hash} AND claimed_by = ${s.owner} AND status = 'computing'`);
  if (!claim) return false;
  const key = { recordingId: s.recording_id, paramsHash: s.params_hash, recordingHash: claim.recording_hash };
  const bytes = s.pcen_checkpoints ?? null;
  const overview = s.overview ?? null;
  // The row went while this claimer wrote (its recording deleted, or its claim released by
  // another instance): the claim is lost, as when the final UPDATE matches nothing.
  if (bytes && !(await writeChunks(db, "recording_stats_chunks", key, bytes))) return false;
  if (overview && !(await writeChunks(db, "recording_stats_overview_chunks", key, overview))) return false;
  const rows = await translating(() => db`
    UPDATE recording_stats
    SET status = 'ready', maximum = ${s.maximum}, pcen_checkpoint_bytes = ${bytes ? bytes.length : null}, overview_bytes = ${overview ? overview.length : null},
        info = ${db.json((s.info ?? {}) as never)}, lease_until = NULL, updated_at = now(), used_at = now()
    WHERE recording_id = ${s.recording_id} AND params_hash = ${s.params_hash} AND claimed_by = ${s.owner} AND status = 'computing'
    RETURNING 1`);
  return rows.length > 0;
}

/** Extends a claim's lease by `leaseSeconds` from now; false when `owner` no longer holds the claim. */
export async function renewStatsLease(db: Queryable, s: { recording_id: string; params_hash: string; owner: string; leaseSeconds: number }): Promise<boolean> {
  const rows = await translating(() => db`
    UPDATE recording_stats SET lease_until = now() + make_interval(secs => ${s.leaseSeconds}::float8)
    WHERE recording_id = ${s.recording_id} AND params_hash = ${s.params_hash} AND claimed_by = ${s.owner} AND status = 'computing'
    RETURNING 1`);
  return rows.length > 0;
}

/** Gives up `owner`'s claim (its computation failed), so that the next caller can claim at once. */
export async function releaseStats(db: Queryable, s: { recording_id: string; params_hash: string; owner: string }): Promise<void> {
  await translating(() => db`
    DELETE FROM recording_stats
    WHERE recording_id = ${s.recording_id} AND params_hash = ${s.params_hash} AND claimed_by = ${s.owner} AND status = 'computing'`);
}

/**
 * How often getStats marks a row used (recording_stats.used_at, migration 025): at most once a
 * minute per row, not a write per read.
 */
const USE_MARK_SECONDS = 60;

/**
 * Rows used (read or stored) within this many seconds are never purged, whatever the limit: a read
 * marks its row before reading its chunks (getStats), and takes seconds (256 MiB of overview: 256
 * queries), so a purge never removes the chunks of a read under way — a read that started with its
 * mark under USE_MARK_SECONDS old is still within this. A `computing` row whose lease lapsed this
 * long ago is abandoned (its claimer, or a purge, died): its chunks go too.
 */
export const STATS_PURGE_SPARE_SECONDS = 300;

/** purgeStats' limit unless told (`serve --stats-store-limit`): 4 GiB, 16 parameter sets at the pass limit. */
export const STATS_STORE_LIMIT_BYTES = 4 * 2 ** 30;

/**
 * Chunks (of at most 1 MiB) deleted a statement by purgeStats, each its own transaction: the
 * embedded database answers other requests between them, as deleteUser detaches in batches.
 */
export const PURGE_BATCH_CHUNKS = 16;

/** The stats purgeStats removed: rows, and the checkpoint and overview bytes counted in them. */
export interface StatsPurged { rows: number; bytes: number }

/**
 * Removes stored stats, least recently used first (`used_at`), until the checkpoint and overview
 * bytes of the ready rows are within `limitBytes` — after saveStats stored `keep`, which stays,
 * as do stats used within STATS_PURGE_SPARE_SECONDS (so the bound can be passed by them for that
 * long) and every live computation; abandoned computations (lease lapsed that long ago) go first,
 * whatever the limit. Each row is first taken from readers in one statement — turned `computing`
 * under a lease already lapsed, its byte counts cleared, so that a concurrent purge neither counts
 * nor takes it (FOR UPDATE SKIP LOCKED), and a tile that wants it claims and computes it again at
 * once —, then its chunks are deleted PURGE_BATCH_CHUNKS a statement, and the row last. A claim
 * that takes the row meanwhile stops the deletion (its chunks are the claimer's to overwrite).
 * Two purges at once may each remove one row more than needed, never fail.
 * @param s.signal once aborted (the server shutting down), the purge stops before its next
 *   statement and returns what it removed: a row it had begun is left marked, its lease lapsed — a
 *   tile that wants it computes it again, and a later purge removes it as abandoned.
 */
export async function purgeStats(db: Queryable, s: { limitBytes: number; keep: { recording_id: string; params_hash: string }; signal?: AbortSignal }): Promise<StatsPurged> {
  // The mark of this purge's rows, as a claimer's owner id would be; none is a live claim.
  const purger = `purge:${randomUUID()}`;
  const purged: StatsPurged = { rows: 0, bytes: 0 };
  const spare = db`make_interval(secs => ${STATS_PURGE_SPARE_SECONDS})`;
  const stopped = () => s.signal?.aborted === true;
  while (!stopped()) {
    const [abandoned] = await translating(() => db<StatsRowKey[]>`
      UPDATE recording_stats s SET claimed_by = ${purger}
      FROM (SELECT recording_id, params_hash FROM recording_stats
            WHERE status = 'computing' AND lease_until < now() - ${spare} LIMIT 1 FOR UPDATE SKIP LOCKED) a
      WHERE s.recording_id = a.recording_id AND s.params_hash = a.params_hash
      RETURNING s.recording_id AS "recordingId", s.params_hash AS "paramsHash", s.recording_hash AS "recordingHash"`);
    if (!abandoned) break;
    await deleteMarked(db, abandoned, purger, stopped);
  }
  while (!stopped()) {
    const [victim] = await translating(() => db<(StatsRowKey & { bytes: number })[]>`
      WITH stored AS (
        SELECT coalesce(sum(coalesce(pcen_checkpoint_bytes, 0) + coalesce(overview_bytes, 0)), 0)::float8 AS bytes
        FROM recording_stats WHERE status = 'ready'
      ), lru AS (
        SELECT recording_id, params_hash, (coalesce(pcen_checkpoint_bytes, 0) + coalesce(overview_bytes, 0))::float8 AS bytes
        FROM recording_stats
        WHERE status = 'ready' AND used_at < now() - ${spare}
          AND NOT (recording_id = ${s.keep.recording_id} AND params_hash = ${s.keep.params_hash})
        ORDER BY used_at, recording_id, params_hash LIMIT 1 FOR UPDATE SKIP LOCKED
      )
      UPDATE recording_stats r
      SET status = 'computing', claimed_by = ${purger}, lease_until = now() - interval '1 second',
          maximum = NULL, pcen_checkpoint_bytes = NULL, overview_bytes = NULL, updated_at = now()
      FROM lru, stored
      WHERE r.recording_id = lru.recording_id AND r.params_hash = lru.params_hash AND stored.bytes > ${s.limitBytes}
      RETURNING r.recording_id AS "recordingId", r.params_hash AS "paramsHash", r.recording_hash AS "recordingHash", lru.bytes`);
    if (!victim) break;
    if (!(await deleteMarked(db, victim, purger, stopped))) break;
    purged.rows++;
    purged.bytes += victim.bytes;
  }
  return purged;
}

/**
 * Deletes the chunks of a row `purger` marked (purgeStats), a batch a statement while it holds the
 * mark, then the row — unless `stopped` before a statement.
 * @returns whether the row was deleted (or its mark lost) rather than stopped
 */
async function deleteMarked(db: Queryable, row: StatsRowKey, purger: string, stopped: () => boolean): Promise<boolean> {
  const marked = db`EXISTS (SELECT 1 FROM recording_stats WHERE recording_id = ${row.recordingId} AND params_hash = ${row.paramsHash} AND claimed_by = ${purger} AND status = 'computing')`;
  for (const table of ["recording_stats_chunks", "recording_stats_overview_chunks"] as const) {
    // A batch that deleted fewer chunks than it could found the last of them (or lost the mark).
    for (let deleted = PURGE_BATCH_CHUNKS; deleted === PURGE_BATCH_CHUNKS; ) {
      if (stopped()) return false;
      ({ count: deleted } = await db`
        DELETE FROM ${db(table)}
        WHERE ctid = ANY (ARRAY (SELECT ctid FROM ${db(table)} WHERE recording_id = ${row.recordingId} AND params_hash = ${row.paramsHash} AND ${marked} LIMIT ${PURGE_BATCH_CHUNKS}))`);
    }
  }
  if (stopped()) return false;
  await db`DELETE FROM recording_stats WHERE recording_id = ${row.recordingId} AND params_hash = ${row.paramsHash} AND claimed_by = ${purger} AND status = 'computing'`;
  return true;
}

/** A row of recording_stats as listings show it: no checkpoint or overview bytes, their lengths. */
export interface StatsEntry {
  params_hash: string;
  status: "ready" | "computing";
  maximum: number | null;
  pcen_checkpoint_bytes: number | null;
  /** The overview's length (023); null when none is kept. */
  overview_bytes: number | null;
  info: Record<string, unknown>;
  created_at: string;
  /** When the row last changed: for ready stats, when they were stored. */
  updated_at: string;
}

/**
 * The stats stored for this recording content (`recording_hash`), newest first, or those of one
 * parameter hash: ready ones, and those being computed under a live claim (one whose lease lapsed
 * is no computation any more; the next request claims it again). Stats of content the recording
 * no longer has are left out: nothing uses them.
 */
export async function listStats(db: Queryable, q: PageRequest & { recording_id: string; recording_hash: string; params_hash?: string }): Promise<Page<StatsEntry>> {
  const where = db`recording_id = ${q.recording_id} AND recording_hash = ${q.recording_hash}
    AND (${q.params_hash ?? null}::text IS NULL OR params_hash = ${q.params_hash ?? null})
    AND (status = 'ready' OR lease_until >= now())`;
  const rows = await translating(() => db<(StatsEntry & { total_count: number })[]>`
    SELECT params_hash, status, maximum, pcen_checkpoint_bytes::float8 AS pcen_checkpoint_bytes, overview_bytes::float8 AS overview_bytes, info, created_at, updated_at, count(*) OVER () AS total_count
    FROM recording_stats WHERE ${where} ORDER BY updated_at DESC, params_hash LIMIT ${q.limit} OFFSET ${q.offset}`);
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM recording_stats WHERE ${where}`);
}
