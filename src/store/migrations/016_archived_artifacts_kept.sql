-- Archived artifacts are kept: while archived, an artifact does not expire (src/store/artifacts.ts,
-- expiredBy) — cleanup leaves it and its file downloads. So the last moment a download of a deleted
-- artifact could have begun, which its file's released_at records (migration 015), is no longer
-- its expiry alone:
--   archived, or without an expiry: now;
--   otherwise the later of its expiry and its last change of state (an artifact restored, or
--   trashed, after it expired may have been downloaded while archived until then), if passed.
-- Written to be harmless when run again by hand.
CREATE OR REPLACE FUNCTION release_artifact_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE files SET released_at = GREATEST(released_at, CASE
      WHEN OLD.state = 'archived' OR OLD.expire_at IS NULL THEN now()
      ELSE LEAST(GREATEST(OLD.expire_at, OLD.state_changed_at), now())
    END)
  WHERE sha256 = OLD.file_sha256;
  RETURN NULL;
END
$$;
