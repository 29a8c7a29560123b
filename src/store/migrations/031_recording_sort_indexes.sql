-- GET /v1/recordings?sort=created_at|duration|samplerate and `sonotile recordings list --sort …` page
-- by keyset (store/common.ts pageFirst): each page is the recordings after the last one's key, its
-- path and id, in the listing's ORDER BY (created_at, path, id). Over every dataset no index held
-- those orders, so that every page read and sorted the whole table, as the path sort did before
-- migration 030. With these a page starts in the index at the cursor: in ascending order each is
-- the listing's order; descending (`created_at DESC, path DESC, id` — the id ascends in either
-- order), read backwards, it is sorted already by the sort key and path, and PostgreSQL sorts
-- each run of one key and path by id (Incremental Sort), not the table.
-- Written to be harmless when run again by hand.
CREATE INDEX IF NOT EXISTS recordings_created_at ON recordings (created_at, path, id);
CREATE INDEX IF NOT EXISTS recordings_duration ON recordings (duration, path, id);
CREATE INDEX IF NOT EXISTS recordings_samplerate ON recordings (samplerate, path, id);
