-- When a ready row of recording_stats was last read for tiles (store/stats.ts getStats, at most
-- once a minute per row; the tile service keeps stats in memory, so a read is a miss there), or
-- stored: the order in which purgeStats removes stored stats, least recently used first, to keep
-- their checkpoints and overviews (010, 023: 108–256 MiB per parameter set for 10 h at 384 kHz)
-- within `serve --stats-store-limit`. Rows stored before count as used now. The index finds the
-- least recently used ready row without reading the table. Written to be harmless when run again
-- by hand.
ALTER TABLE recording_stats ADD COLUMN IF NOT EXISTS used_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS recording_stats_ready_used_at ON recording_stats (used_at) WHERE status = 'ready';
