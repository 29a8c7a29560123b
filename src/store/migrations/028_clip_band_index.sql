-- The clips list's and export's band filter (min_freq / max_freq) over a dataset or the whole
-- database read every clip and compared its bounds: 85–112 ms on PostgreSQL 15 for 490 clips of
-- 200,000. A band overlap is two conditions, low_freq < max_freq and high_freq > min_freq, and a
-- btree on either bound serves only its side — a band in the middle of the spectrum holding few
-- clips holds most of them on each side alone. A clip's band as a range of float8 indexed with
-- GiST answers the overlap (`&&`) for both sides at once (store/clips.ts bandOverlap writes the
-- filter as this expression): exclusive bounds, as the filter compares strictly; a missing bound
-- unbounded (low_freq below every band, high_freq above: the filter then checks the recording's
-- Nyquist frequency beside it).
-- float8range is PostgreSQL's own example of a range type (CREATE TYPE … AS RANGE in its
-- documentation): PostgreSQL has none over float8, and numrange would round the bounds to 15
-- significant digits.
-- Written to be harmless when run again by hand.
DO $$
BEGIN
  IF to_regtype('float8range') IS NULL THEN
    CREATE TYPE float8range AS RANGE (subtype = float8, subtype_diff = float8mi);
  END IF;
END
$$;
CREATE INDEX IF NOT EXISTS clips_band ON clips USING gist (float8range(low_freq, high_freq, '()'));
