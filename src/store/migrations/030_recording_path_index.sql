-- `sonotile recordings list` and GET /v1/recordings?cursor= page by keyset (store/common.ts
-- pageFirst): each page is the recordings after the last one's sort key and id. Ordered by path
-- (the default sort) over every dataset, no index held that order — (dataset_id, path) serves one
-- dataset's — so that every page read and sorted the whole table: a listing of 50,000 recordings
-- stayed quadratic. With it a page is read from the index where the last one ended.
-- Written to be harmless when run again by hand.
CREATE INDEX IF NOT EXISTS recordings_path ON recordings (path, id);
