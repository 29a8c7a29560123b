-- Deleting a user (DELETE /v1/users/{id}, `sonotile user delete`; store/users.ts deleteUser) sets
-- the created_by of every record they made to NULL (ON DELETE SET NULL) and deletes their
-- ownership of recordings (ON DELETE CASCADE): without an index on those columns each of the 16
-- tables was read whole to find their rows — 0.4 s on the embedded database, all other requests
-- waiting, for a user with 20 records among 200,000 clips, notes, tags and tokens of another's.
-- The indexes leave out NULL, which the deletion writes and nothing looks up by.
-- Written to be harmless when run again by hand.
CREATE INDEX IF NOT EXISTS users_created_by ON users (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_tokens_created_by ON api_tokens (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_created_by ON runs (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS datasets_created_by ON datasets (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS recordings_created_by ON recordings (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS recording_owners_user ON recording_owners (user_id);
CREATE INDEX IF NOT EXISTS clips_created_by ON clips (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS tags_created_by ON tags (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS recording_tags_created_by ON recording_tags (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS clip_tags_created_by ON clip_tags (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS feature_names_created_by ON feature_names (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS recording_features_created_by ON recording_features (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS clip_features_created_by ON clip_features (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS notes_created_by ON notes (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_created_by ON jobs (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS artifacts_created_by ON artifacts (created_by) WHERE created_by IS NOT NULL;
