-- A clip's optional frequency bounds (Hz, real frequencies as the API's others: after time
-- expansion): a box [start_time, end_time) × [low_freq, high_freq] over the spectrogram, as a
-- Raven selection's Low/High Freq (Hz) or a Whombat bounding box. Either may be NULL: no bound on
-- that side (low 0, high the Nyquist frequency). The bound below Nyquist is checked by the store
-- (store/clips.ts), which knows the recording's rate; the comparisons below also refuse NaN and
-- Infinity ('NaN' sorts above every number in PostgreSQL).
ALTER TABLE clips
  ADD COLUMN IF NOT EXISTS low_freq double precision CONSTRAINT clips_low_freq_check CHECK (low_freq >= 0 AND low_freq < 'Infinity'::float8),
  ADD COLUMN IF NOT EXISTS high_freq double precision CONSTRAINT clips_high_freq_check CHECK (high_freq > 0 AND high_freq < 'Infinity'::float8);
ALTER TABLE clips DROP CONSTRAINT IF EXISTS clips_freq_order_check;
ALTER TABLE clips ADD CONSTRAINT clips_freq_order_check CHECK (low_freq < high_freq);

-- Imports kept a selection's bounds as the feature values selection_low_freq_hz /
-- selection_high_freq_hz (real Hz): they become the clip's bounds, and the feature values go (an
-- export writes Low/High Freq from the bounds now). A pair the bounds cannot hold (low = high,
-- which the import let through) stays as feature values.
WITH pair AS (
  SELECT lo.clip_id, lo.value AS low, hi.value AS high
  FROM clip_features lo
    JOIN feature_names flo ON flo.id = lo.feature_name_id AND flo.name = 'selection_low_freq_hz'
    JOIN clip_features hi ON hi.clip_id = lo.clip_id
    JOIN feature_names fhi ON fhi.id = hi.feature_name_id AND fhi.name = 'selection_high_freq_hz'
  WHERE lo.value >= 0 AND hi.value > lo.value AND hi.value < 'Infinity'::float8
), moved AS (
  UPDATE clips c SET low_freq = pair.low, high_freq = pair.high FROM pair
  WHERE c.id = pair.clip_id AND c.low_freq IS NULL AND c.high_freq IS NULL
  RETURNING c.id
)
DELETE FROM clip_features cf USING feature_names f
WHERE f.id = cf.feature_name_id AND f.name IN ('selection_low_freq_hz', 'selection_high_freq_hz')
  AND cf.clip_id IN (SELECT id FROM moved);
