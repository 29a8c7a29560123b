-- sonotile metadata schema (SPEC §5). PostgreSQL 14+ (and PGlite, PostgreSQL 18).
--
-- Conventions: uuid primary keys; every record a person or a run creates carries
-- created_at, created_by (user) and run_id (the import or job that made it, null when made
-- by hand); `state` is active | archived (hidden, read-only) | trashed (hidden, purged later).
-- Constraints live here as well as in the API schemas, so no client can bypass them.

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
  name text NOT NULL DEFAULT '' CHECK (char_length(name) <= 255),
  email text CHECK (char_length(email) <= 255),
  -- admin: everything; member: create and edit data; viewer: read only.
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
  -- SHA-256 of the key; the key itself is shown once and never stored.
  key_hash bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  -- First characters of the key, so a person can tell their tokens apart.
  key_prefix text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('import', 'job', 'other')),
  description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  finished_at timestamptz
);

CREATE TABLE datasets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE CHECK (char_length(btrim(name)) BETWEEN 1 AND 255),
  description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
  -- Absolute real path (symlinks resolved) inside one of the configured audio roots.
  audio_dir text NOT NULL UNIQUE,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived', 'trashed')),
  state_changed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL
);

CREATE TABLE recordings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  dataset_id uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  -- Relative to the dataset's audio_dir, '/'-separated, never escaping it.
  path text NOT NULL CHECK (path <> '' AND path !~ '^/' AND path !~ '(^|/)\.\.(/|$)'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{32}$'),
  file_size bigint NOT NULL CHECK (file_size >= 0),
  -- As stored in the file; samplerate and duration below are in real units (SPEC §3.2).
  file_samplerate integer NOT NULL CHECK (file_samplerate > 0),
  frames bigint NOT NULL CHECK (frames >= 0),
  channels integer NOT NULL CHECK (channels > 0),
  time_expansion double precision NOT NULL DEFAULT 1 CHECK (time_expansion > 0),
  samplerate double precision GENERATED ALWAYS AS (file_samplerate * time_expansion) STORED,
  -- NULLIF: an invalid time_expansion of 0 must fail its CHECK, not divide by zero first.
  duration double precision GENERATED ALWAYS AS (frames / NULLIF(file_samplerate * time_expansion, 0)) STORED,
  date date,
  time time,
  latitude double precision CHECK (latitude BETWEEN -90 AND 90),
  longitude double precision CHECK (longitude BETWEEN -180 AND 180),
  rights text CHECK (char_length(rights) <= 1000),
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived', 'trashed')),
  state_changed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
  UNIQUE (dataset_id, path)
);
CREATE INDEX recordings_hash ON recordings (hash);

CREATE TABLE recording_owners (
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (recording_id, user_id)
);

CREATE TABLE clips (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  start_time double precision NOT NULL CHECK (start_time >= 0),
  end_time double precision NOT NULL,
  CONSTRAINT clips_end_time_check CHECK (start_time < end_time),
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived', 'trashed')),
  state_changed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL
);
CREATE INDEX clips_recording ON clips (recording_id);

CREATE TABLE tags (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  key text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
  value text NOT NULL CHECK (char_length(value) BETWEEN 1 AND 255),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
  UNIQUE (key, value)
);

CREATE TABLE recording_tags (
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  tag_id uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
  PRIMARY KEY (recording_id, tag_id)
);

CREATE TABLE clip_tags (
  clip_id uuid NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
  tag_id uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
  PRIMARY KEY (clip_id, tag_id)
);

CREATE TABLE feature_names (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 255),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A feature value is a float or, for vectors (e.g. the 64-band log-mel), binary data.
CREATE TABLE recording_features (
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  feature_name_id uuid NOT NULL REFERENCES feature_names (id) ON DELETE CASCADE,
  value double precision,
  data bytea,
  CONSTRAINT recording_features_value_check CHECK (num_nonnulls(value, data) = 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
  PRIMARY KEY (recording_id, feature_name_id)
);

CREATE TABLE clip_features (
  clip_id uuid NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
  feature_name_id uuid NOT NULL REFERENCES feature_names (id) ON DELETE CASCADE,
  value double precision,
  data bytea,
  CONSTRAINT clip_features_value_check CHECK (num_nonnulls(value, data) = 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
  PRIMARY KEY (clip_id, feature_name_id)
);

CREATE TABLE notes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  message text NOT NULL CHECK (char_length(message) BETWEEN 1 AND 1000),
  is_issue boolean NOT NULL DEFAULT false,
  recording_id uuid REFERENCES recordings (id) ON DELETE CASCADE,
  clip_id uuid REFERENCES clips (id) ON DELETE CASCADE,
  CONSTRAINT notes_recording_id_check CHECK (num_nonnulls(recording_id, clip_id) <= 1),
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived', 'trashed')),
  state_changed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL
);
CREATE INDEX notes_recording ON notes (recording_id);
CREATE INDEX notes_clip ON notes (clip_id);

CREATE TABLE jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  task text NOT NULL CHECK (char_length(task) BETWEEN 1 AND 255),
  data jsonb NOT NULL DEFAULT '{}',
  -- pending → running → completed | aborted, and pending → aborted (enforced in src/store/jobs.ts).
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'aborted')),
  result text CHECK (result IN ('success', 'failure', 'error')),
  CONSTRAINT jobs_result_required_check CHECK (status <> 'completed' OR result IS NOT NULL),
  message text CHECK (char_length(message) <= 10000),
  priority integer NOT NULL DEFAULT 0,
  progress_done integer NOT NULL DEFAULT 0 CHECK (progress_done >= 0),
  progress_total integer CHECK (progress_total >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  completed_at timestamptz,
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL
);
CREATE INDEX jobs_status ON jobs (status, priority DESC, created_at);

CREATE TABLE job_metrics (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  key text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
  step integer NOT NULL DEFAULT 0 CHECK (step >= 0),
  value double precision,
  data bytea,
  CONSTRAINT job_metrics_value_check CHECK (num_nonnulls(value, data) = 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (job_id, key, step)
);

-- Content-addressed files (artifact payloads live on disk under their SHA-256).
CREATE TABLE files (
  sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size bigint NOT NULL CHECK (size >= 0),
  media_type text NOT NULL DEFAULT 'application/octet-stream',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE artifacts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id uuid REFERENCES jobs (id) ON DELETE SET NULL,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
  file_sha256 text NOT NULL REFERENCES files (sha256),
  -- Seconds after creation the artifact expires; null keeps it forever.
  expiration_delay double precision CHECK (expiration_delay > 0),
  expire_at timestamptz,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived', 'trashed')),
  state_changed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  run_id uuid REFERENCES runs (id) ON DELETE SET NULL
);
CREATE INDEX artifacts_expire_at ON artifacts (expire_at) WHERE expire_at IS NOT NULL;
CREATE INDEX artifacts_file ON artifacts (file_sha256);

-- What seamless tiles need per recording and canonical parameter hash (SPEC §3.7, §4):
-- the whole-recording normalization maximum and PCEN checkpoints. `status` + `lease_until`
-- let one instance claim the computation so concurrent instances do not repeat it.
CREATE TABLE recording_stats (
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  params_hash text NOT NULL CHECK (char_length(params_hash) BETWEEN 1 AND 128),
  -- MD5 of the recording content the stats were computed from.
  recording_hash text NOT NULL CHECK (recording_hash ~ '^[0-9a-f]{32}$'),
  status text NOT NULL CHECK (status IN ('computing', 'ready')),
  claimed_by text,
  lease_until timestamptz,
  maximum double precision,
  pcen_checkpoints bytea,
  info jsonb NOT NULL DEFAULT '{}',
  CONSTRAINT recording_stats_maximum_check CHECK (status <> 'ready' OR maximum IS NOT NULL),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (recording_id, params_hash)
);
