-- When a recording's file was last modified as registered (stat's mtime, milliseconds since the
-- epoch, with its fraction): a rewrite that keeps the file's size changes it, and the file is then
-- hashed again before it is read (src/store/recordings.ts, recordingFileNow). Rows registered
-- before have none; the first read records the file's time then. Written to be harmless when run
-- again by hand.
ALTER TABLE recordings ADD COLUMN IF NOT EXISTS file_mtime double precision;
