-- A recording's time keeps the UTC offset its recorder stated: GUANO's
-- "Timestamp: 2024-09-03T20:26:15+01:00" is the time "20:26:15+01:00", as `sonotile info` shows
-- it; a timestamp without one (bext, most GUANO) stays the recorder's local clock, "22:39:11".
-- PostgreSQL's timetz cannot hold both (a time without an offset would take the session's zone),
-- so the column holds the ISO 8601 text, checked as the API checks it (src/store/probe.ts,
-- RECORDED_TIME): HH:MM[:SS[.ffffff]][±HH:MM]. Times stored before keep their text form, except
-- PostgreSQL's "24:00:00", which the ISO form here has no place for: it is that day's end, the
-- next day's "00:00:00". Written to be harmless when run again by hand.
ALTER TABLE recordings ALTER COLUMN time TYPE text
  USING CASE WHEN time::text = '24:00:00' THEN '00:00:00' ELSE time::text END;
ALTER TABLE recordings DROP CONSTRAINT IF EXISTS recordings_time_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_time_check
  CHECK (time ~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?([+-](0[0-9]|1[0-4]):[0-5][0-9])?$');
