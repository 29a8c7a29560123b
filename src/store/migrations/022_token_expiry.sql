-- A token may expire (POST /v1/tokens {"expires_at": …}, `sonotile token create --expires-in 90d`):
-- past `expires_at` its key is refused with a 401 saying it expired (store/tokens.ts authenticate).
-- NULL: it never expires — every token made before this migration, and those made without one.
-- Written to be harmless when run again by hand.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
