-- The bytes of content-addressed files (artifacts of jobs) live in the database, so that any
-- server instance can hand out what any worker wrote (SPEC §6: instances keep no state of
-- their own). Chunks of at most 1 MiB keep each row, and what a server holds in memory while
-- it streams a file, small. Files registered before this migration have no chunks: their
-- bytes stayed on the disk of the worker that wrote them.
CREATE TABLE file_chunks (
  sha256 text NOT NULL REFERENCES files (sha256) ON DELETE CASCADE,
  chunk integer NOT NULL CHECK (chunk >= 0),
  data bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 1048576),
  PRIMARY KEY (sha256, chunk)
);
