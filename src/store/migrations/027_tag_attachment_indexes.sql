-- The tags in use within a dataset or recording holding most of the database's clips (GET
-- /v1/tags?dataset_id|recording_id, the viewer's tag completion; store/tags.ts carriedInScope)
-- are found tag by tag, by each tag's attachments: the primary keys (record id, tag id) serve
-- only the other way. A dataset of 200,000 tagged clips was read whole for its few tags, 0.5 s
-- on the embedded database.
-- The indexes also serve a tag's deletion, whose cascade read both tables whole.
-- Written to be harmless when run again by hand.
CREATE INDEX IF NOT EXISTS recording_tags_tag ON recording_tags (tag_id, recording_id);
CREATE INDEX IF NOT EXISTS clip_tags_tag ON clip_tags (tag_id, clip_id);
