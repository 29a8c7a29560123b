-- A recording's samplerate and duration as the engine computes them (SPEC §3.2,
-- src/audio/expansion.ts expandedSamplerate): the rate file_samplerate × time_expansion, whole
-- where it is within 1e-9 (relative) of a whole number of Hz (16000 × 3.0318750000000003 is
-- 48510, not 48510.00000000001), and the duration frames / that rate. The columns held the
-- unrounded product and divided by it: 1600 frames lasted 0.03298289012574726 s where the
-- engine, and frames / samplerate, say 0.03298289012574727 s, and a clip ending there was refused.
-- round() on float8 rounds halves to even where Math.round rounds them up; a rate is never
-- within 1e-9 of a half below LIMITS.maxSamplerate (100 MHz), so both give the same rate.
CREATE OR REPLACE FUNCTION real_samplerate(file_samplerate integer, time_expansion double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN abs(p - round(p)) <= 1e-9 * p THEN round(p) ELSE p END
  FROM (SELECT file_samplerate * time_expansion AS p) AS product
$$;
ALTER TABLE recordings DROP COLUMN IF EXISTS duration, DROP COLUMN IF EXISTS samplerate;
ALTER TABLE recordings
  ADD COLUMN samplerate double precision GENERATED ALWAYS AS (real_samplerate(file_samplerate, time_expansion)) STORED,
  -- NULLIF: an invalid time_expansion of 0 must fail its CHECK, not divide by zero first.
  ADD COLUMN duration double precision GENERATED ALWAYS AS (frames / NULLIF(real_samplerate(file_samplerate, time_expansion), 0)) STORED;
