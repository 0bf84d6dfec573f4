-- notifications: one row per event the notifier acted on. The event id is
-- the deduplication key across notifier replicas, redeliveries and dlq
-- re-drives: a row in SENT is never sent again; a row in SENDING is claimed
-- by one notifier until claimed_until and can be taken over after that.

-- +goose Up
CREATE TABLE notifications (
    event_id      uuid        NOT NULL,
    monitor_id    uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    recipient     text        NOT NULL,
    kind          text        NOT NULL,
    to_status     text,
    state         text        NOT NULL DEFAULT 'SENDING',
    provider      text,
    attempts      integer     NOT NULL DEFAULT 1,
    last_error    text,
    claimed_by    text,
    claimed_until timestamptz,
    occurred_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    CONSTRAINT notifications_pkey PRIMARY KEY (event_id),
    CONSTRAINT notifications_monitor_id_fkey
        FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE,
    CONSTRAINT notifications_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT notifications_kind_valid CHECK (kind IN ('STATUS_CHANGED', 'CERTIFICATE_EXPIRING')),
    CONSTRAINT notifications_state_valid CHECK (state IN ('SENDING', 'SENT')),
    CONSTRAINT notifications_sent CHECK ((state = 'SENT') = (sent_at IS NOT NULL AND provider IS NOT NULL)),
    CONSTRAINT notifications_attempts_positive CHECK (attempts >= 1)
);

COMMENT ON TABLE notifications IS 'Emails the notifier sent or is sending, keyed by the event id (deduplication).';
COMMENT ON COLUMN notifications.state IS 'SENDING (claimed until claimed_until) | SENT (never sent again).';
COMMENT ON COLUMN notifications.provider IS 'Transport that delivered it: ses | smtp.';
COMMENT ON COLUMN notifications.attempts IS 'Claims of this event, the first included.';

CREATE INDEX notifications_monitor_id_created_at_idx ON notifications (monitor_id, created_at DESC);
CREATE INDEX notifications_user_id_idx ON notifications (user_id);

-- +goose Down
DROP TABLE notifications;
