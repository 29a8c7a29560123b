-- An import run records the process that carries it out (pid, host and the process's start, as
-- the data directory's lock does), so that a run left `running` by a process killed mid-import
-- can be ended as failed (failInterruptedRuns in runs.ts). NULL: a job's run, or a run made
-- before this migration. Written to be harmless when run again by hand.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner jsonb;
