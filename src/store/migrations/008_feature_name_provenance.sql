-- Feature names carry who made them and the run that did, as every created record does (SPEC §5):
-- a name first seen in a job's results points to that job's run. Names made before this
-- migration keep NULLs (not known). Written to be harmless when run again by hand.
ALTER TABLE feature_names ADD COLUMN IF NOT EXISTS created_by uuid REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE feature_names ADD COLUMN IF NOT EXISTS run_id uuid REFERENCES runs (id) ON DELETE SET NULL;
