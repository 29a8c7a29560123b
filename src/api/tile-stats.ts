/**
 * The tile layer's StatsStore over the store's recording_stats queries: packed stats go in
 * as the maximum, the PCEN checkpoints and the overview as bytes, and the geometry and what they
 * are for as JSON; and stored stats as the API shows them (statsView).
 */
import type { FrameGeometry } from "../engine/geometry.js";
import { OVERVIEW_FACTOR } from "../engine/recording.js";
import type { Queryable } from "../store/db.js";
import { claimStats, getStats, markStatsUsed, purgeStats, releaseStats, renewStatsLease, saveStats, STATS_STORE_LIMIT_BYTES, type StatsEntry } from "../store/stats.js";
import type { StatsFor, StatsStore } from "../tiles/service.js";

interface StatsInfo {
  frames: number;
  checkpointEvery: number;
  bins: number;
  geometry: FrameGeometry;
  /** What the stats are for, as their key hashes it; absent from stats stored before sonotile kept it. */
  for?: StatsFor;
}

/** The tile layer's StatsStore (tileStatsStore), and when the work it does after answering is done. */
export interface TileStatsStore extends StatsStore {
  /**
   * Settles once the purges due and the use marks sent have ended (their failures were logged):
   * for tests, which look at what a purge left.
   */
  settled(): Promise<void>;
  /**
   * Stops the work done after answering, for a server shutting down before it closes its
   * database: a purge under way stops between two of its statements (purgeStats' signal) rather
   * than failing, logged, on the database closed under it; none starts after. Settles once it has.
   */
  close(): Promise<void>;
}

/**
 * @param options.limitBytes bytes of checkpoints and overviews the stored stats may take: after
 *   stats are stored, the least recently used others are removed down to it (purgeStats); default
 *   STATS_STORE_LIMIT_BYTES
 * @param options.log where the failures of the work done after answering (a purge, a use mark)
 *   are told, a line each; default stderr
 */
export function tileStatsStore(db: Queryable, options: { limitBytes?: number; log?: (message: string) => void } = {}): TileStatsStore {
  const limitBytes = options.limitBytes ?? STATS_STORE_LIMIT_BYTES;
  const log = options.log ?? ((message: string) => process.stderr.write(`sonotile: ${message}\n`));
  /** Logs the failure of `what`, done after answering (none fails a tile). */
  const failed = (what: string) => (err: unknown) => log(`${what} failed: ${(err as Error).message}`);
  const background = new Set<Promise<void>>();
  /** `work` (which never rejects) counted by `settled` until it ends. */
  const inBackground = (work: Promise<void>) => {
    background.add(work);
    void work.then(() => background.delete(work));
  };
  // One purge at a time per store, after the answer: the sets stored while one runs share one more
  // after it, which keeps the set stored last (the others are spared as used within
  // STATS_PURGE_SPARE_SECONDS, unless unused since their storing).
  let purging = false;
  let due: { recording_id: string; params_hash: string } | null = null;
  const closing = new AbortController();
  const purgeDue = async () => {
    for (let keep = due; keep && !closing.signal.aborted; keep = due) {
      due = null;
      // Logged, and the next purge due still runs: a connection lost may be back.
      await purgeStats(db, { limitBytes, keep, signal: closing.signal }).then(() => {}, failed("removing the least recently used stored stats"));
    }
    purging = false;
  };
  const purgeAfter = (keep: { recording_id: string; params_hash: string }) => {
    due = keep;
    if (purging || closing.signal.aborted) return;
    purging = true;
    inBackground(purgeDue());
  };
  return {
    async load(recordingId, recordingHash, key) {
      // The overview straight into shared memory (PackedStats.overview), which tile tasks carry as a view.
      const row = await getStats(db, recordingId, key, recordingHash, (bytes) => new Uint8Array(new SharedArrayBuffer(bytes)));
      if (!row) return null;
      const info = row.info as unknown as StatsInfo;
      // A view, not a copy: getStats reads them into a Buffer of their own (offset 0), and a copy of
      // the 181 MB of 20 min at 384 kHz (hop 96) held the main thread, /health too, 0.6–0.9 s.
      const bytes = row.pcen_checkpoints;
      const checkpoints = bytes ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Float32Array(0);
      const overview = row.overview ? { overview: new Float32Array(row.overview.buffer) } : {};
      return { stats: { frames: info.frames, peak: row.maximum, checkpointEvery: info.checkpointEvery, bins: info.bins, checkpoints, firstCheckpoint: 1, ...overview }, geometry: info.geometry };
    },
    async claim(recordingId, recordingHash, identity, owner, leaseMs, overview) {
      const info: Partial<StatsInfo> = { for: identity.for };
      const claim = await claimStats(db, { recording_id: recordingId, params_hash: identity.key, recording_hash: recordingHash, owner, leaseSeconds: leaseMs / 1000, info, withoutOverview: overview });
      return claim.status === "claimed";
    },
    async renew(recordingId, key, owner, leaseMs) {
      return renewStatsLease(db, { recording_id: recordingId, params_hash: key, owner, leaseSeconds: leaseMs / 1000 });
    },
    async release(recordingId, key, owner) {
      await releaseStats(db, { recording_id: recordingId, params_hash: key, owner });
    },
    async save(recordingId, _recordingHash, identity, owner, { stats, geometry }) {
      const info: StatsInfo = { frames: stats.frames, checkpointEvery: stats.checkpointEvery, bins: stats.bins, geometry, for: identity.for };
      const bytes = stats.checkpoints.length ? new Uint8Array(stats.checkpoints.buffer, stats.checkpoints.byteOffset, stats.checkpoints.byteLength) : null;
      const overview = stats.overview ? new Uint8Array(stats.overview.buffer, stats.overview.byteOffset, stats.overview.byteLength) : null;
      // Purged after the answer: the tile of stats stored waits for no purge (1 GiB: 9 s embedded), nor fails with one.
      if (await saveStats(db, { recording_id: recordingId, params_hash: identity.key, owner, maximum: stats.peak, pcen_checkpoints: bytes, overview, info: info as unknown as Record<string, unknown> })) {
        purgeAfter({ recording_id: recordingId, params_hash: identity.key });
      }
    },
    touch(recordingId, recordingHash, key) {
      inBackground(markStatsUsed(db, recordingId, key, recordingHash).then(() => {}, failed("marking stored stats used")));
    },
    async settled() {
      while (background.size) await Promise.all(background);
    },
    async close() {
      closing.abort();
      await this.settled();
    },
  };
}

/** Stored stats as the API shows them (routes/stats.ts): what they are for, the maximum, the PCEN checkpoints' count and spacing and the overview's size, never their bytes. */
export interface StatsView {
  key: string;
  status: "ready" | "computing";
  params: Omit<StatsFor, "time_expansion" | "engine"> | null;
  time_expansion: number | null;
  engine: string | null;
  maximum: number | null;
  frames: number | null;
  geometry: FrameGeometry | null;
  pcen_checkpoints: { count: number; every_frames: number; bytes: number } | null;
  overview: { columns: number; every_frames: number; bytes: number } | null;
  created_at: string;
  computed_at: string | null;
}

/**
 * `entry` as the API shows it. `known`: what the stats are for when the caller knows it (it asked
 * by these parameters), for rows stored before sonotile kept it in them. While they are computed,
 * only what they are for is known.
 */
export function statsView(entry: StatsEntry, known?: StatsFor): StatsView {
  const info = entry.info as Partial<StatsInfo>;
  const { time_expansion = null, engine = null, ...params } = info.for ?? known ?? {};
  const ready = entry.status === "ready";
  const bytes = entry.pcen_checkpoint_bytes;
  return {
    key: entry.params_hash,
    status: entry.status,
    params: info.for ?? known ? params : null,
    time_expansion, engine,
    maximum: entry.maximum,
    frames: info.frames ?? null,
    geometry: info.geometry ?? null,
    // The start state before frame 0 is implied, not stored: `count` checkpoints follow it, one every `every_frames` frames.
    pcen_checkpoints: ready && bytes !== null && info.bins ? { count: bytes / (4 * info.bins), every_frames: info.checkpointEvery!, bytes } : null,
    // [bins][columns] float32 (computeStats), one column per OVERVIEW_FACTOR frames; info.bins counts the checkpoints' (0 without PCEN), the geometry every bin.
    overview: ready && entry.overview_bytes !== null && info.geometry ? { columns: entry.overview_bytes / (4 * info.geometry.bins), every_frames: OVERVIEW_FACTOR, bytes: entry.overview_bytes } : null,
    created_at: entry.created_at,
    computed_at: ready ? entry.updated_at : null,
  };
}
