-- Users carry who created them (POST /v1/users: the admin; NULL for the first admin, for users
-- the CLI made, and for those created before this migration), as other records do (SPEC §5).
-- Written to be harmless when run again by hand.
ALTER TABLE users ADD COLUMN IF NOT EXISTS created_by uuid REFERENCES users (id) ON DELETE SET NULL;
