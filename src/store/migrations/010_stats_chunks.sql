-- PCEN checkpoints in rows of at most 1 MiB, as file contents are (003). One bytea of a long
-- recording's checkpoints (243 MB for 6 h at 48 kHz with a 19-sample hop) held the embedded
-- database — and with it the server's main thread — for minutes: writing 32 MB in one value took
-- 15 s there, 1 MiB 50 ms. `recording_hash` keys the chunks too, so that a writer still busy with
-- a file's old content never mixes its chunks into the new content's. Stats are a cache: those
-- kept in the old column are dropped here and computed again when asked for.
CREATE TABLE recording_stats_chunks (
  recording_id uuid NOT NULL,
  params_hash text NOT NULL,
  recording_hash text NOT NULL,
  chunk integer NOT NULL CHECK (chunk >= 0),
  data bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 1048576),
  PRIMARY KEY (recording_id, params_hash, recording_hash, chunk),
  FOREIGN KEY (recording_id, params_hash) REFERENCES recording_stats (recording_id, params_hash) ON DELETE CASCADE
);
DELETE FROM recording_stats WHERE pcen_checkpoints IS NOT NULL;
ALTER TABLE recording_stats DROP COLUMN pcen_checkpoints;
-- The checkpoints' length in bytes (NULL: no PCEN), which says how many chunks a reader expects.
ALTER TABLE recording_stats ADD COLUMN pcen_checkpoint_bytes bigint CHECK (pcen_checkpoint_bytes >= 0);
