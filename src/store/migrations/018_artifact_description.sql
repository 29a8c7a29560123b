-- What an artifact holds, in words (src/store/artifacts.ts): a job's `.npy` matrices carry no
-- names of their own, so each says which rows and columns it has (src/jobs/results.ts). Null
-- for artifacts made before.
ALTER TABLE artifacts ADD COLUMN IF NOT EXISTS description text CHECK (char_length(description) <= 10000);
