-- Job items queued before the feature tables named recordings as the API does lack two fields
-- of their target: recording_id (a clip's recording, or the recording itself) and
-- recording_path (the recording's path relative to its dataset's audio_dir). Filled from the
-- records they name, so that a job running across the upgrade writes whole tables.
UPDATE job_items i
SET target = i.target || jsonb_build_object('recording_id', r.id::text, 'recording_path', r.path)
FROM recordings r
WHERE NOT (i.target ? 'recording_path')
  AND r.id = CASE WHEN i.target->>'kind' = 'clip'
                  THEN (SELECT c.recording_id FROM clips c WHERE c.id = (i.target->>'id')::uuid)
                  ELSE (i.target->>'id')::uuid END;
