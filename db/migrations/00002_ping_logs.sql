-- ping_logs: one row per check result, range-partitioned by UTC day on the
-- scheduled slot, with the functions the maintenance job uses to create
-- partitions ahead of time and to drop expired ones.

-- +goose Up

-- The primary key (monitor_id, slot) is the idempotency key of the log-writer:
-- INSERT ... ON CONFLICT (monitor_id, slot) DO NOTHING makes a redelivered
-- result a no-op. There is deliberately no DEFAULT partition: a row whose day
-- has no partition fails loudly instead of filling a catch-all that would make
-- every later CREATE ... PARTITION OF scan it.
CREATE TABLE ping_logs (
    id                     uuid        NOT NULL DEFAULT gen_random_uuid(),
    monitor_id             uuid        NOT NULL,
    slot                   timestamptz NOT NULL,
    "timestamp"            timestamptz NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    certificate_expires_at timestamptz,
    status_code            integer     NOT NULL DEFAULT 0,
    duration_ms            integer     NOT NULL DEFAULT 0,
    attempts               integer     NOT NULL DEFAULT 1,
    dns_ms                 real,
    connect_ms             real,
    tls_ms                 real,
    first_byte_ms          real,
    success                boolean     NOT NULL DEFAULT false,
    connection_reused      boolean     NOT NULL DEFAULT false,
    maintenance            boolean     NOT NULL DEFAULT false,
    error                  text,
    warning                text,
    checker                text,
    CONSTRAINT ping_logs_pkey PRIMARY KEY (monitor_id, slot),
    CONSTRAINT ping_logs_monitor_id_fkey
        FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE,
    CONSTRAINT ping_logs_status_code_range CHECK (status_code BETWEEN 0 AND 999),
    CONSTRAINT ping_logs_duration_ms_nonnegative CHECK (duration_ms >= 0),
    CONSTRAINT ping_logs_attempts_positive CHECK (attempts >= 1)
) PARTITION BY RANGE (slot);

COMMENT ON TABLE ping_logs IS
    'Raw check results. Partitioned by RANGE (slot), one partition per UTC day named ping_logs_pYYYYMMDD, '
    'created by ping_logs_ensure_partitions and dropped whole by ping_logs_drop_partitions_before '
    '(raw retention RAW_LOG_RETENTION_DAYS, default 30). Queries should bound slot so that partitions are pruned.';
COMMENT ON COLUMN ping_logs.id IS 'Public id of the result (GET /ping-log/id/:id); unique by construction, not by constraint.';
COMMENT ON COLUMN ping_logs.slot IS 'Scheduled slot of the check; with monitor_id the idempotency key; the partition key.';
COMMENT ON COLUMN ping_logs."timestamp" IS 'When the check finished (>= slot).';
COMMENT ON COLUMN ping_logs.status_code IS 'HTTP status code, 0 when no response was received.';
COMMENT ON COLUMN ping_logs.duration_ms IS 'Total duration of the check in whole milliseconds, retries included.';
COMMENT ON COLUMN ping_logs.attempts IS 'Number of attempts made, 1 + retries.';
COMMENT ON COLUMN ping_logs.dns_ms IS 'DNS lookup time of the last attempt in milliseconds (fractional); NULL when no lookup happened (reused connection, IP literal).';
COMMENT ON COLUMN ping_logs.connect_ms IS 'TCP connect time of the last attempt in milliseconds (fractional); NULL when the connection was reused.';
COMMENT ON COLUMN ping_logs.tls_ms IS 'TLS handshake time of the last attempt in milliseconds (fractional); NULL without TLS or when the connection was reused.';
COMMENT ON COLUMN ping_logs.first_byte_ms IS 'Time from sending the request to the first response byte, milliseconds (fractional); NULL when no response.';
COMMENT ON COLUMN ping_logs.certificate_expires_at IS 'NotAfter of the leaf certificate when TLS was used.';
COMMENT ON COLUMN ping_logs.maintenance IS 'The check ran inside a maintenance window; excluded from availability.';
COMMENT ON COLUMN ping_logs.checker IS 'Identity of the checker process that produced the result.';

-- Indexes on the parent are created on every partition, existing and future.
CREATE INDEX ping_logs_id_idx ON ping_logs (id);
CREATE INDEX ping_logs_monitor_id_timestamp_idx ON ping_logs (monitor_id, "timestamp" DESC);
CREATE INDEX ping_logs_timestamp_idx ON ping_logs ("timestamp" DESC);

-- ping_logs_ensure_partitions creates the missing daily partitions for every
-- UTC day from from_day to to_day inclusive and returns how many it created.
--
-- search_path is pinned to the one current at CREATE FUNCTION time, so the
-- function always works on the ping_logs of the schema it was migrated into,
-- whatever the caller's search_path (and cannot be hijacked through it).
--
-- A partition is created as a plain table and then ATTACHed, because CREATE
-- TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on ping_logs (it would
-- queue behind any long read and stall every insert behind it), while ATTACH
-- PARTITION needs only SHARE UPDATE EXCLUSIVE, which conflicts with neither
-- reads nor inserts. ATTACH adds the primary key, indexes and foreign key of
-- the parent. (The foreign key briefly takes SHARE ROW EXCLUSIVE on monitors;
-- run the maintenance job with SET LOCAL lock_timeout and retry.)
--
-- Concurrent callers are serialised by that same self-conflicting lock, taken
-- before the first creation, and the existence check is repeated under it, so
-- two racing callers never both try to create a day (no duplicate_table to
-- catch). A table of the expected name that is not a partition is an error.
-- Call it in its own transaction: the lock is held until commit.
-- +goose StatementBegin
CREATE FUNCTION ping_logs_ensure_partitions(from_day date, to_day date)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    parent_schema text;
    d             date;
    part_name     text;
    part          regclass;
    locked        boolean := false;
    created       integer := 0;
BEGIN
    IF from_day IS NULL OR to_day IS NULL THEN
        RAISE EXCEPTION 'ping_logs_ensure_partitions: from_day and to_day must not be NULL';
    END IF;
    IF to_day < from_day THEN
        RETURN 0;
    END IF;
    IF to_day - from_day > 3660 THEN
        RAISE EXCEPTION 'ping_logs_ensure_partitions: refusing to create % partitions (% .. %)',
            to_day - from_day + 1, from_day, to_day;
    END IF;

    SELECT n.nspname INTO STRICT parent_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'ping_logs'::regclass;

    FOR i IN 0 .. to_day - from_day LOOP
        d := from_day + i;
        part_name := 'ping_logs_p' || to_char(d::timestamp, 'YYYYMMDD');
        part := to_regclass(format('%I.%I', parent_schema, part_name));
        IF part IS NULL AND NOT locked THEN
            LOCK TABLE ping_logs IN SHARE UPDATE EXCLUSIVE MODE;
            locked := true;
            -- Another caller may have created it while we waited.
            part := to_regclass(format('%I.%I', parent_schema, part_name));
        END IF;
        IF part IS NOT NULL THEN
            IF NOT EXISTS (SELECT 1 FROM pg_inherits
                           WHERE inhrelid = part AND inhparent = 'ping_logs'::regclass) THEN
                RAISE EXCEPTION 'ping_logs_ensure_partitions: % exists but is not a partition of ping_logs',
                    part_name;
            END IF;
            CONTINUE;
        END IF;

        EXECUTE format(
            'CREATE TABLE %I.%I (LIKE %I.ping_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
            parent_schema, part_name, parent_schema);
        EXECUTE format(
            'ALTER TABLE %I.ping_logs ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
            parent_schema, parent_schema, part_name,
            to_char(d::timestamp, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char((d + 1)::timestamp, 'YYYY-MM-DD') || ' 00:00:00+00');
        created := created + 1;
    END LOOP;
    RETURN created;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION ping_logs_ensure_partitions(date, date) IS
    'Creates the missing daily partitions ping_logs_pYYYYMMDD for UTC days from_day..to_day inclusive; '
    'returns how many were created. Idempotent and safe to run concurrently.';

-- ping_logs_drop_partitions_before detaches and drops every partition whose
-- whole range lies before the start of UTC day "day", and returns how many it
-- dropped. The range is read from the partition bound, not from the name, so
-- a partition created by hand with another name or span is handled correctly.
-- TimeZone and DateStyle are pinned so that the bound text produced by
-- pg_get_expr parses back to the same instant.
--
-- DETACH (outside DETACH ... CONCURRENTLY, which cannot run in a function)
-- and DROP take ACCESS EXCLUSIVE on ping_logs, so the lock waits for running
-- reads and holds up inserts while it waits: run it with SET LOCAL
-- lock_timeout (a few seconds) and retry later on lock_not_available.
-- +goose StatementBegin
CREATE FUNCTION ping_logs_drop_partitions_before(day date)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET "TimeZone" TO 'UTC'
SET "DateStyle" TO 'ISO, YMD'
AS $$
DECLARE
    parent_schema text;
    cutoff        timestamptz;
    part          record;
    upper_bound   text[];
    dropped       integer := 0;
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'ping_logs_drop_partitions_before: day must not be NULL';
    END IF;
    cutoff := day::timestamp AT TIME ZONE 'UTC';

    SELECT n.nspname INTO STRICT parent_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'ping_logs'::regclass;

    LOCK TABLE ping_logs IN SHARE UPDATE EXCLUSIVE MODE;

    FOR part IN
        SELECT n.nspname AS schema_name, c.relname AS table_name,
               pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = 'ping_logs'::regclass
        ORDER BY c.relname
    LOOP
        -- "FOR VALUES FROM ('...') TO ('...')"; MAXVALUE bounds do not match.
        upper_bound := regexp_match(part.bound, 'TO \(''([^'']+)''\)');
        CONTINUE WHEN upper_bound IS NULL;
        CONTINUE WHEN upper_bound[1]::timestamptz > cutoff;

        EXECUTE format('ALTER TABLE %I.ping_logs DETACH PARTITION %I.%I',
                       parent_schema, part.schema_name, part.table_name);
        EXECUTE format('DROP TABLE %I.%I', part.schema_name, part.table_name);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION ping_logs_drop_partitions_before(date) IS
    'Detaches and drops every ping_logs partition that ends at or before the start of UTC day "day"; '
    'returns how many were dropped.';

-- A fresh database takes inserts right away; the maintenance job keeps the
-- window moving afterwards.
SELECT ping_logs_ensure_partitions(
    (now() AT TIME ZONE 'UTC')::date - 2,
    (now() AT TIME ZONE 'UTC')::date + 7);

-- +goose Down
DROP FUNCTION ping_logs_drop_partitions_before(date);
DROP FUNCTION ping_logs_ensure_partitions(date, date);
-- Dropping the partitioned table drops every partition with it.
DROP TABLE ping_logs;
