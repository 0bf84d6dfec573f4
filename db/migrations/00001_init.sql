-- Users, monitors and maintenance windows.
--
-- Conventions for every migration in this directory:
--   * no schema qualification: objects land in the first schema of the connection's
--     search_path (tests migrate one schema each; production uses public);
--   * ids are uuid DEFAULT gen_random_uuid() (core since PostgreSQL 13, no extension);
--   * every timestamp is timestamptz;
--   * enumerations are text + a named CHECK, so that a new value is a cheap
--     ALTER TABLE ... DROP/ADD CONSTRAINT instead of an enum type rewrite;
--   * constraints and indexes carry explicit names: the API maps them to HTTP errors.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION set_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to the transaction time when the row changed.';

CREATE TABLE users (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    cognito_sub text,
    email       text        NOT NULL,
    role        text        NOT NULL DEFAULT 'USER',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_cognito_sub_key UNIQUE (cognito_sub),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_lower CHECK (email = lower(email)),
    CONSTRAINT users_email_not_blank CHECK (btrim(email) <> ''),
    CONSTRAINT users_role_valid CHECK (role IN ('ADMIN', 'USER', 'GUEST'))
);

COMMENT ON COLUMN users.email IS 'Stored lower-cased (CHECK users_email_lower); compare with lower($1).';
COMMENT ON COLUMN users.role IS 'ADMIN | USER | GUEST.';

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- fillfactor leaves room on each page so that the log-writer's frequent
-- UPDATE of status/last_check can be a HOT update (no index writes) while the
-- status does not change.
CREATE TABLE monitors (
    id                         uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id                    uuid        NOT NULL,
    name                       text        NOT NULL,
    url                        text        NOT NULL,
    frequency                  integer     NOT NULL,
    is_active                  boolean     NOT NULL DEFAULT true,
    status                     text        NOT NULL DEFAULT 'PENDING',
    monitor_type               text        NOT NULL DEFAULT 'HTTP',
    config                     jsonb       NOT NULL DEFAULT '{}',
    sealed_secrets             bytea,
    failure_threshold          integer     NOT NULL DEFAULT 1,
    success_threshold          integer     NOT NULL DEFAULT 1,
    heartbeat_secret_hash      text,
    heartbeat_interval_seconds integer,
    heartbeat_grace_seconds    integer,
    heartbeat_last_received_at timestamptz,
    maintenance_until          timestamptz,
    ssl_certificate_expires_at timestamptz,
    last_error                 text,
    next_check                 timestamptz,
    last_check                 timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT monitors_pkey PRIMARY KEY (id),
    CONSTRAINT monitors_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT monitors_heartbeat_secret_hash_key UNIQUE (heartbeat_secret_hash),
    CONSTRAINT monitors_frequency_range CHECK (frequency BETWEEN 60 AND 86400),
    CONSTRAINT monitors_status_valid
        CHECK (status IN ('PENDING', 'UP', 'DOWN', 'MAINTENANCE', 'DEGRADED', 'PAUSED')),
    CONSTRAINT monitors_monitor_type_valid CHECK (monitor_type IN ('HTTP', 'SSL', 'HEARTBEAT')),
    CONSTRAINT monitors_config_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT monitors_failure_threshold_range CHECK (failure_threshold BETWEEN 1 AND 10),
    CONSTRAINT monitors_success_threshold_range CHECK (success_threshold BETWEEN 1 AND 10),
    CONSTRAINT monitors_heartbeat_interval_positive
        CHECK (heartbeat_interval_seconds IS NULL OR heartbeat_interval_seconds > 0),
    CONSTRAINT monitors_heartbeat_grace_nonnegative
        CHECK (heartbeat_grace_seconds IS NULL OR heartbeat_grace_seconds >= 0)
) WITH (fillfactor = 80);

COMMENT ON COLUMN monitors.frequency IS 'Check period in seconds, 60..86400.';
COMMENT ON COLUMN monitors.status IS 'PENDING | UP | DOWN | MAINTENANCE | DEGRADED | PAUSED; PENDING until the first result.';
COMMENT ON COLUMN monitors.monitor_type IS 'HTTP | SSL | HEARTBEAT.';
COMMENT ON COLUMN monitors.config IS 'Type-specific settings as the front end sends them (HTTP assertions, SSL expiry threshold); always a JSON object.';
COMMENT ON COLUMN monitors.sealed_secrets IS 'Encrypted request headers/body (AEAD, sealed by the api); never exposed in JSON.';
COMMENT ON COLUMN monitors.heartbeat_secret_hash IS 'Hash of the heartbeat URL secret; the secret itself is never stored.';

CREATE INDEX monitors_user_id_created_at_idx ON monitors (user_id, created_at DESC);
CREATE INDEX monitors_user_id_is_active_status_idx ON monitors (user_id, is_active, status);
CREATE INDEX monitors_status_idx ON monitors (status);
CREATE INDEX monitors_is_active_monitor_type_idx ON monitors (is_active, monitor_type);
-- Prefix search (lower(name) LIKE 'abc%'). Substring search within one user's
-- monitors goes through the user_id indexes; pg_trgm is not used because an
-- extension is per database, not per schema (see db/README.md).
CREATE INDEX monitors_lower_name_idx ON monitors (lower(name) text_pattern_ops);
CREATE INDEX monitors_lower_url_idx ON monitors (lower(url) text_pattern_ops);

CREATE TRIGGER monitors_set_updated_at
    BEFORE UPDATE ON monitors
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

CREATE TABLE maintenance_windows (
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    monitor_id       uuid        NOT NULL,
    days_of_week     integer[]   NOT NULL,
    start_minute     integer     NOT NULL,
    duration_minutes integer     NOT NULL,
    timezone         text        NOT NULL DEFAULT 'UTC',
    enabled          boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT maintenance_windows_pkey PRIMARY KEY (id),
    CONSTRAINT maintenance_windows_monitor_id_fkey
        FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE,
    CONSTRAINT maintenance_windows_days_of_week_valid
        CHECK (array_ndims(days_of_week) IS NULL OR
               (array_ndims(days_of_week) = 1 AND days_of_week <@ ARRAY[0, 1, 2, 3, 4, 5, 6])),
    CONSTRAINT maintenance_windows_start_minute_range CHECK (start_minute BETWEEN 0 AND 1439),
    CONSTRAINT maintenance_windows_duration_minutes_range CHECK (duration_minutes BETWEEN 1 AND 10080)
);

COMMENT ON COLUMN maintenance_windows.days_of_week IS 'Days the window opens, 0 = Sunday .. 6 = Saturday (Go time.Weekday, JS getDay), in timezone.';
COMMENT ON COLUMN maintenance_windows.start_minute IS 'Minute of the day the window opens, 0..1439, in timezone.';
COMMENT ON COLUMN maintenance_windows.duration_minutes IS 'Length of the window, 1..10080 (one week).';
COMMENT ON COLUMN maintenance_windows.timezone IS 'IANA time zone name, e.g. Europe/Madrid.';

CREATE INDEX maintenance_windows_monitor_id_idx ON maintenance_windows (monitor_id);

CREATE TRIGGER maintenance_windows_set_updated_at
    BEFORE UPDATE ON maintenance_windows
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- +goose Down
DROP TABLE maintenance_windows;
DROP TABLE monitors;
DROP TABLE users;
DROP FUNCTION set_updated_at();
