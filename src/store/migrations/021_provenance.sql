-- What a methods section needs to say of stored work, and a reviewer to check it. Written to be
-- harmless when run again by hand.
--
-- The engine version (src/engine/version.ts: the package version) of the sonotile that made a run
-- (createRun in src/store/runs.ts: imports, jobs, `sonotile dataset add`). NULL: a run made before
-- this migration (sonotile 0.11 or older); its version was not recorded and is not guessed.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS engine_version text;
-- Per computed value (src/jobs/worker.ts settleGroup): the engine version of the worker that
-- computed it — a fleet being upgraded may mix two within one job — and the MD5 of the recording's
-- bytes it was computed from (the registered `recordings.hash`, checked against the file before and
-- after the computation). A refresh since changes `recordings.hash`, not these: a value whose
-- recording_hash differs from its recording's hash was computed from earlier content. The
-- parameters are the job's (its run_id → jobs.run_id → jobs.data). NULL: a value written by a
-- client through the API, or computed before this migration.
ALTER TABLE recording_features ADD COLUMN IF NOT EXISTS engine_version text;
ALTER TABLE recording_features ADD COLUMN IF NOT EXISTS recording_hash text CHECK (recording_hash ~ '^[0-9a-f]{32}$');
ALTER TABLE clip_features ADD COLUMN IF NOT EXISTS engine_version text;
ALTER TABLE clip_features ADD COLUMN IF NOT EXISTS recording_hash text CHECK (recording_hash ~ '^[0-9a-f]{32}$');
-- The same for each job item done (GET /v1/jobs/{id}/items): kept with the item, which its job's
-- feature table is written from. NULL: not done, or done before this migration.
ALTER TABLE job_items ADD COLUMN IF NOT EXISTS engine_version text;
ALTER TABLE job_items ADD COLUMN IF NOT EXISTS recording_hash text CHECK (recording_hash ~ '^[0-9a-f]{32}$');
-- GET /v1/jobs?run_id= (the job behind a feature value's or an artifact's run) filtered a scan of
-- every job: 100,000 jobs, a sequential scan (EXPLAIN on PostgreSQL 15).
CREATE INDEX IF NOT EXISTS jobs_run ON jobs (run_id);
