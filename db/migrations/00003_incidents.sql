-- incidents: a period during which a monitor was DOWN.

-- +goose Up
CREATE TABLE incidents (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    monitor_id        uuid        NOT NULL,
    user_id           uuid        NOT NULL,
    status            text        NOT NULL DEFAULT 'ONGOING',
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    first_status_code integer,
    first_error       text,
    last_error        text,
    affected_checks   integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT incidents_pkey PRIMARY KEY (id),
    CONSTRAINT incidents_monitor_id_fkey
        FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE,
    CONSTRAINT incidents_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT incidents_status_valid CHECK (status IN ('ONGOING', 'RESOLVED')),
    CONSTRAINT incidents_status_ended_at
        CHECK ((status = 'ONGOING' AND ended_at IS NULL) OR (status = 'RESOLVED' AND ended_at IS NOT NULL)),
    CONSTRAINT incidents_ended_after_started CHECK (ended_at IS NULL OR ended_at >= started_at),
    CONSTRAINT incidents_affected_checks_positive CHECK (affected_checks >= 1)
);

COMMENT ON COLUMN incidents.user_id IS 'Owner of the monitor, denormalised so that per-user incident lists need no join.';
COMMENT ON COLUMN incidents.status IS 'ONGOING | RESOLVED; ended_at is set exactly when RESOLVED.';
COMMENT ON COLUMN incidents.affected_checks IS 'Failed checks counted into this incident.';

CREATE INDEX incidents_monitor_id_started_at_idx ON incidents (monitor_id, started_at DESC);
CREATE INDEX incidents_user_id_started_at_idx ON incidents (user_id, started_at DESC);
CREATE INDEX incidents_user_id_status_idx ON incidents (user_id, status);
-- At most one ONGOING incident per monitor: the log-writer opens one with
-- INSERT ... ON CONFLICT (monitor_id) WHERE status = 'ONGOING' DO UPDATE.
CREATE UNIQUE INDEX incidents_one_ongoing_per_monitor ON incidents (monitor_id) WHERE status = 'ONGOING';

CREATE TRIGGER incidents_set_updated_at
    BEFORE UPDATE ON incidents
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- +goose Down
DROP TABLE incidents;
