-- An item can end in an error as well as fail (SPEC §5's job results): 'failed' is an input the
-- item could not use (a file missing, replaced or undecodable, a target gone or read-only) — the
-- job's result is then 'failure'; 'errored' is a computation that kept breaking (a worker thread
-- that crashed on every attempt, deliveries whose workers all died) — the job's result is then
-- 'error'. Written to be harmless when run again by hand.
ALTER TABLE job_items DROP CONSTRAINT IF EXISTS job_items_status_check;
ALTER TABLE job_items ADD CONSTRAINT job_items_status_check CHECK (status IN ('pending', 'done', 'failed', 'errored', 'skipped'));
