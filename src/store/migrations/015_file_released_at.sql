-- When a file last stopped being safe to delete for a download in progress (CLEANUP_GRACE_SECONDS,
-- src/store/artifacts.ts): cleanup deletes a file only when no artifact references it and
-- released_at lies a grace period back, so a download that had started (one query per chunk, no
-- transaction held) is not cut when its artifact expires or is purged from the trash.
--   NULL: an artifact was made of it since it was last released (createArtifact sets NULL in the
--   transaction that inserts the artifact, so a cleanup waiting on that row re-checks it and
--   skips the file instead of failing on the foreign key). Cleanup also checks that no artifact
--   references the file, as one may while another artifact of the same file went. A new file
--   starts released (the default): one stored without an artifact goes after the grace period.
--   Deleting an artifact (cleanup, trash purge, by hand) moves it to the last moment a download
--   of that artifact could begin: its expiry if that has passed, else now; never back in time.
-- Files present now count as released now when nothing references them. Written to be harmless
-- when run again by hand.
ALTER TABLE files ADD COLUMN IF NOT EXISTS released_at timestamptz DEFAULT now();
UPDATE files f SET released_at = NULL WHERE EXISTS (SELECT 1 FROM artifacts a WHERE a.file_sha256 = f.sha256);

CREATE OR REPLACE FUNCTION release_artifact_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE files SET released_at = GREATEST(released_at, LEAST(OLD.expire_at, now())) WHERE sha256 = OLD.file_sha256;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER artifacts_release_file AFTER DELETE ON artifacts
  FOR EACH ROW EXECUTE FUNCTION release_artifact_file();
