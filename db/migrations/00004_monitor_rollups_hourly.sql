-- monitor_rollups_hourly: per monitor and UTC hour, the counters and the fixed
-- latency histogram from which 24 h / 7 d / 30 d / 365 d health and
-- percentiles are computed after raw ping_logs are gone.
--
-- The histogram buckets are fixed: upper bounds in milliseconds (inclusive)
--   25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, +Inf
-- giving 14 counters; counter i (1-based) counts checks whose duration_ms is
-- in (bound[i-1], bound[i]]. The Go mirror is db.LatencyBucketsMs and
-- db.LatencyBucket; a test keeps them equal to rollup_histogram_bucket.
-- Changing the bounds is a new migration that also rewrites or drops old rows.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION rollup_histogram_bucket(duration_ms integer) RETURNS integer
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN duration_ms <= 25 THEN 1
        WHEN duration_ms <= 50 THEN 2
        WHEN duration_ms <= 100 THEN 3
        WHEN duration_ms <= 200 THEN 4
        WHEN duration_ms <= 300 THEN 5
        WHEN duration_ms <= 500 THEN 6
        WHEN duration_ms <= 750 THEN 7
        WHEN duration_ms <= 1000 THEN 8
        WHEN duration_ms <= 1500 THEN 9
        WHEN duration_ms <= 2000 THEN 10
        WHEN duration_ms <= 3000 THEN 11
        WHEN duration_ms <= 5000 THEN 12
        WHEN duration_ms <= 10000 THEN 13
        ELSE 14
    END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rollup_histogram_bucket(integer) IS
    '1-based index into monitor_rollups_hourly.latency_histogram for a duration in ms; '
    'upper bounds (inclusive) 25,50,100,200,300,500,750,1000,1500,2000,3000,5000,10000,+Inf.';

-- rollup_histogram_add is the state function of rollup_histogram_agg: it
-- counts one duration into a histogram. A NULL duration is not counted.
-- +goose StatementBegin
CREATE FUNCTION rollup_histogram_add(histogram integer[], duration_ms integer) RETURNS integer[]
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    b integer;
BEGIN
    IF histogram IS NULL THEN
        histogram := array_fill(0, ARRAY[14]);
    END IF;
    IF duration_ms IS NOT NULL THEN
        b := rollup_histogram_bucket(duration_ms);
        histogram[b] := histogram[b] + 1;
    END IF;
    RETURN histogram;
END;
$$;
-- +goose StatementEnd

-- rollup_histogram_merge adds two histograms element by element; NULL counts
-- as empty. It is the combine function of rollup_histogram_agg and what the
-- log-writer's upsert uses: latency_histogram = rollup_histogram_merge(
-- monitor_rollups_hourly.latency_histogram, EXCLUDED.latency_histogram).
-- +goose StatementBegin
CREATE FUNCTION rollup_histogram_merge(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN a IS NULL THEN b
        WHEN b IS NULL THEN a
        ELSE (SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i))
    END
$$;
-- +goose StatementEnd

CREATE AGGREGATE rollup_histogram_agg(integer) (
    SFUNC = rollup_histogram_add,
    STYPE = integer[],
    COMBINEFUNC = rollup_histogram_merge,
    INITCOND = '{0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE rollup_histogram_agg(integer) IS
    'Latency histogram (14 counters, see rollup_histogram_bucket) of a set of durations in ms; NULLs are skipped.';

-- One row per monitor and UTC hour, upserted by the log-writer from the rows it
-- really inserted (so a redelivered result is not counted twice). Rows live
-- 400 days; the log-writer deletes older ones by bucket_start. fillfactor
-- leaves room for the many in-hour updates of a row to be HOT updates.
CREATE TABLE monitor_rollups_hourly (
    monitor_id         uuid        NOT NULL,
    bucket_start       timestamptz NOT NULL,
    checks             integer     NOT NULL DEFAULT 0,
    successes          integer     NOT NULL DEFAULT 0,
    failures           integer     NOT NULL DEFAULT 0,
    maintenance_checks integer     NOT NULL DEFAULT 0,
    total_duration_ms  bigint      NOT NULL DEFAULT 0,
    max_duration_ms    integer     NOT NULL DEFAULT 0,
    downtime_ms        bigint      NOT NULL DEFAULT 0,
    latency_histogram  integer[]   NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    CONSTRAINT monitor_rollups_hourly_pkey PRIMARY KEY (monitor_id, bucket_start),
    CONSTRAINT monitor_rollups_hourly_monitor_id_fkey
        FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE,
    CONSTRAINT monitor_rollups_hourly_bucket_start_hour
        CHECK (date_trunc('hour', bucket_start AT TIME ZONE 'UTC') = bucket_start AT TIME ZONE 'UTC'),
    CONSTRAINT monitor_rollups_hourly_counts_nonnegative
        CHECK (successes >= 0 AND failures >= 0 AND maintenance_checks >= 0
               AND total_duration_ms >= 0 AND max_duration_ms >= 0),
    CONSTRAINT monitor_rollups_hourly_checks_sum
        CHECK (checks = successes + failures + maintenance_checks),
    CONSTRAINT monitor_rollups_hourly_downtime_range CHECK (downtime_ms BETWEEN 0 AND 3600000),
    CONSTRAINT monitor_rollups_hourly_histogram_shape
        CHECK (array_ndims(latency_histogram) = 1 AND array_lower(latency_histogram, 1) = 1
               AND cardinality(latency_histogram) = 14)
) WITH (fillfactor = 70);

COMMENT ON TABLE monitor_rollups_hourly IS
    'Hourly per-monitor rollups of ping_logs, kept 400 days (deleted by the log-writer by bucket_start).';
COMMENT ON COLUMN monitor_rollups_hourly.bucket_start IS 'Start of the UTC hour (by slot) the row covers.';
COMMENT ON COLUMN monitor_rollups_hourly.checks IS 'Every check in the hour: successes + failures + maintenance_checks.';
COMMENT ON COLUMN monitor_rollups_hourly.successes IS 'Successful checks outside maintenance; availability = successes / (successes + failures).';
COMMENT ON COLUMN monitor_rollups_hourly.failures IS 'Failed checks outside maintenance.';
COMMENT ON COLUMN monitor_rollups_hourly.maintenance_checks IS 'Checks run inside a maintenance window, whatever their outcome; not counted in successes or failures.';
COMMENT ON COLUMN monitor_rollups_hourly.total_duration_ms IS 'Sum of duration_ms over all checks; average = total_duration_ms / checks.';
COMMENT ON COLUMN monitor_rollups_hourly.max_duration_ms IS 'Largest duration_ms of the hour.';
COMMENT ON COLUMN monitor_rollups_hourly.downtime_ms IS 'Milliseconds of the hour spent DOWN, 0..3600000.';
COMMENT ON COLUMN monitor_rollups_hourly.latency_histogram IS
    'Counts of all checks by duration_ms; 14 counters with inclusive upper bounds (ms) '
    '25,50,100,200,300,500,750,1000,1500,2000,3000,5000,10000,+Inf; index from rollup_histogram_bucket. '
    'Sum of the counters = checks. Percentiles come from summed histograms, never from averaged percentiles.';

-- Retention deletes by bucket_start across all monitors.
CREATE INDEX monitor_rollups_hourly_bucket_start_idx ON monitor_rollups_hourly (bucket_start);

-- +goose Down
DROP TABLE monitor_rollups_hourly;
DROP AGGREGATE rollup_histogram_agg(integer);
DROP FUNCTION rollup_histogram_merge(integer[], integer[]);
DROP FUNCTION rollup_histogram_add(integer[], integer);
DROP FUNCTION rollup_histogram_bucket(integer);
