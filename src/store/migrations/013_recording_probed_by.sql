-- Which reader read a recording's header facts (file_samplerate, frames, channels): the engine
-- version (src/engine/version.ts) of the sonotile that registered the file or last read them
-- again. A release whose readers count frames differently raises that version (0.5.0: chained Ogg
-- links, WAV and RF64 sizes their writer left unset; 0.6.0: Ogg granule offsets, junk after the
-- last page), and a row read by another one is read again (src/store/recordings.ts,
-- reprobeRecording): at its file's next use, and by each server's sweep at start. NULL: read before
-- this column, by an older reader. Written to be harmless when run again by hand.
ALTER TABLE recordings ADD COLUMN IF NOT EXISTS probed_by text;
