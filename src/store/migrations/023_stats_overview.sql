-- The overview a stats pass keeps for a long recording (src/engine/recording.ts computeStats): per
-- FFT bin, the maximum of every 512 frames after PCEN, before normalization — the columns of tiles
-- at zoom 9, from which the tiles over the tile work limit (2^32 samples) are pooled: 10 h at
-- 384 kHz with Whombat's defaults, 108 MB, up to 256 MiB for a pass at its limit, as large as the
-- PCEN checkpoints and kept as they are (010): rows of at most 1 MiB, written and read one per
-- query outside any transaction, keyed by `recording_hash` too. Written to be harmless when run
-- again by hand.
CREATE TABLE IF NOT EXISTS recording_stats_overview_chunks (
  recording_id uuid NOT NULL,
  params_hash text NOT NULL,
  recording_hash text NOT NULL,
  chunk integer NOT NULL CHECK (chunk >= 0),
  data bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 1048576),
  PRIMARY KEY (recording_id, params_hash, recording_hash, chunk),
  FOREIGN KEY (recording_id, params_hash) REFERENCES recording_stats (recording_id, params_hash) ON DELETE CASCADE
);
-- The overview's length in bytes, which says how many chunks a reader expects. NULL: none kept —
-- a recording whose pass is within the tile limit, and every row stored before this migration
-- (a tile that needs one computes the stats again).
ALTER TABLE recording_stats ADD COLUMN IF NOT EXISTS overview_bytes bigint CHECK (overview_bytes >= 0);
