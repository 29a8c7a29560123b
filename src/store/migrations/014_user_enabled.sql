-- A user can be disabled (PATCH /v1/users/{id} {"enabled": false}, admin): none of their tokens
-- authenticates while they are, and none can be made for them. Before it, locking someone out
-- meant disabling their tokens one by one while they could make new ones. Written to be harmless
-- when run again by hand.
ALTER TABLE users ADD COLUMN IF NOT EXISTS enabled boolean NOT NULL DEFAULT true;
