-- Batch jobs across machines (src/jobs/worker.ts). Every instance is meant to see the same audio
-- roots (SPEC §6), but one badly mounted machine does not: a file it cannot find there is a fact
-- about that machine, not about the file. Written to be harmless when run again by hand.
--
-- Which worker settled an item (done, failed or errored): its host name and process id, so that a
-- failure can be traced to the machine that reported it.
ALTER TABLE job_items ADD COLUMN IF NOT EXISTS host text;
ALTER TABLE job_items ADD COLUMN IF NOT EXISTS pid integer;
-- The hosts whose workers could not find or read the item's file (or its dataset's audio_dir): the
-- item is left for a worker on another host, and fails once two hosts could not, or no other host
-- has a worker running.
ALTER TABLE job_items ADD COLUMN IF NOT EXISTS missing_on text[] NOT NULL DEFAULT '{}';
-- The running workers, each refreshing `seen_at` every few seconds: whether a worker on another
-- host is there to take an item this host cannot read. A row not refreshed for a while is a
-- worker that died.
CREATE TABLE IF NOT EXISTS job_workers (
  id uuid PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now()
);
