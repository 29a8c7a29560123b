-- Items of batch jobs (src/jobs/queue.ts): one row per target, the unit a `sonotile worker`
-- takes from the pg-boss queue. The row is what makes at-least-once delivery have an
-- exactly-once effect: an item leaves 'pending' once, in the transaction that writes its
-- feature values, and only that transition advances the job's progress.
CREATE TABLE job_items (
  job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  item integer NOT NULL CHECK (item >= 0),
  -- What to compute: {kind: 'recording'|'clip', id, path (absolute), time_expansion, start?, end?}.
  target jsonb NOT NULL,
  -- pending → done | failed (after the retry limit, or an input problem) | skipped (job aborted).
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
  -- Audio seconds the target covered (duration_s), for the throughput metric.
  seconds double precision,
  -- The computed row of the job's feature table: scalar values and log_mel as a number array.
  result jsonb,
  error text CHECK (char_length(error) <= 10000),
  -- Deliveries so far (1 + retries): a worker increments it as it takes the item.
  attempts integer NOT NULL DEFAULT 0,
  finished_at timestamptz,
  PRIMARY KEY (job_id, item)
);
CREATE INDEX job_items_pending ON job_items (job_id) WHERE status = 'pending';
