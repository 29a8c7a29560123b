-- A job that runs again the items another job did not get done (POST /v1/jobs/{id}/retry,
-- src/jobs/queue.ts retryExtractJob) names that job. NULL: a job submitted anew. Written to be
-- harmless when run again by hand.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS retry_of uuid REFERENCES jobs (id) ON DELETE SET NULL;
