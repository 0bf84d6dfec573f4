-- dead_letters: stream entries that failed every delivery and retry, parked
-- for an ADMIN to list, replay or discard through the API.

-- +goose Up
CREATE TABLE dead_letters (
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    source_stream  text        NOT NULL,
    original_id    text        NOT NULL,
    consumer_group text,
    payload        bytea       NOT NULL,
    error          text        NOT NULL,
    deliveries     integer     NOT NULL,
    retries        integer     NOT NULL DEFAULT 0,
    status         text        NOT NULL DEFAULT 'PARKED',
    failed_at      timestamptz NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    CONSTRAINT dead_letters_pkey PRIMARY KEY (id),
    -- Parking is idempotent: a redelivered DLQ entry for the same try is a no-op
    -- (INSERT ... ON CONFLICT ON CONSTRAINT dead_letters_source_original_retries_key DO NOTHING).
    CONSTRAINT dead_letters_source_original_retries_key UNIQUE (source_stream, original_id, retries),
    CONSTRAINT dead_letters_status_valid CHECK (status IN ('PARKED', 'REPLAYED', 'DISCARDED')),
    CONSTRAINT dead_letters_resolved_at CHECK ((status = 'PARKED') = (resolved_at IS NULL)),
    CONSTRAINT dead_letters_deliveries_nonnegative CHECK (deliveries >= 0),
    CONSTRAINT dead_letters_retries_nonnegative CHECK (retries >= 0)
);

COMMENT ON COLUMN dead_letters.source_stream IS 'Stream the entry came from (results, events, jobs, ...), without the key prefix.';
COMMENT ON COLUMN dead_letters.original_id IS 'Redis stream entry id in the source stream.';
COMMENT ON COLUMN dead_letters.payload IS 'Original protobuf Envelope bytes, unchanged.';
COMMENT ON COLUMN dead_letters.deliveries IS 'Deliveries of the original entry before it was dead-lettered.';
COMMENT ON COLUMN dead_letters.retries IS 'DLQ re-drives already attempted (0..5).';
COMMENT ON COLUMN dead_letters.status IS 'PARKED | REPLAYED | DISCARDED; resolved_at is set exactly when not PARKED.';

CREATE INDEX dead_letters_status_parked_at_idx ON dead_letters (status, parked_at DESC);

-- +goose Down
DROP TABLE dead_letters;
