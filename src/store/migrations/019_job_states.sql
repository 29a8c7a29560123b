-- Jobs can be archived (hidden, read-only) and trashed (hidden, purged later) and restored, as
-- datasets, recordings, clips, notes and artifacts can (SPEC §5; src/store/common.ts): a batch
-- pipeline that has run hundreds of jobs hides the old ones. Only a job that has ended (completed
-- or aborted) moves (setState refuses a pending or running one). A purge deletes a trashed job with
-- its items and metrics (ON DELETE CASCADE); its artifacts stay (job_id SET NULL, run_id kept) until
-- their own expiry, the feature values it wrote and its run stay, and its retries forget it
-- (retry_of SET NULL). Written to be harmless when run again by hand.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived', 'trashed'));
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS state_changed_at timestamptz;
