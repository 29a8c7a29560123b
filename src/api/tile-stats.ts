/**
 * The tile layer's StatsStore over the store's recording_stats queries: packed stats go in
 * as the maximum, the PCEN checkpoints as bytes and the geometry as JSON.
 */
import type { FrameGeometry } from "../engine/geometry.js";
import type { Queryable } from "../store/db.js";
import { claimStats, getStats, releaseStats, renewStatsLease, saveStats } from "../store/stats.js";
import type { StatsStore } from "../tiles/service.js";

interface StatsInfo {
  frames: number;
  checkpointEvery: number;
  bins: number;
  geometry: FrameGeometry;
}

export function tileStatsStore(db: Queryable): StatsStore {
  return {
    async load(recordingId, recordingHash, key) {
      const row = await getStats(db, recordingId, key, recordingHash);
      if (!row) return null;
      const info = row.info as unknown as StatsInfo;
      // Copy into an aligned buffer: a Buffer's offset into its pool need not be a multiple of 4.
      const checkpoints = row.pcen_checkpoints ? new Float32Array(new Uint8Array(row.pcen_checkpoints).buffer) : new Float32Array(0);
      return { stats: { frames: info.frames, peak: row.maximum, checkpointEvery: info.checkpointEvery, bins: info.bins, checkpoints, firstCheckpoint: 1 }, geometry: info.geometry };
    },
    async claim(recordingId, recordingHash, key, owner, leaseMs) {
      const claim = await claimStats(db, { recording_id: recordingId, params_hash: key, recording_hash: recordingHash, owner, leaseSeconds: leaseMs / 1000 });
      return claim.status === "claimed";
    },
    async renew(recordingId, key, owner, leaseMs) {
      return renewStatsLease(db, { recording_id: recordingId, params_hash: key, owner, leaseSeconds: leaseMs / 1000 });
    },
    async release(recordingId, key, owner) {
      await releaseStats(db, { recording_id: recordingId, params_hash: key, owner });
    },
    async save(recordingId, _recordingHash, key, owner, { stats, geometry }) {
      const info: StatsInfo = { frames: stats.frames, checkpointEvery: stats.checkpointEvery, bins: stats.bins, geometry };
      const bytes = stats.checkpoints.length ? new Uint8Array(stats.checkpoints.buffer, stats.checkpoints.byteOffset, stats.checkpoints.byteLength) : null;
      await saveStats(db, { recording_id: recordingId, params_hash: key, owner, maximum: stats.peak, pcen_checkpoints: bytes, info: info as unknown as Record<string, unknown> });
    },
  };
}
