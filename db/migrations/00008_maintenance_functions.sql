-- Maintenance evaluated in SQL, for the api's list filter and sort by status
-- and its dashboard counts: a monitor in maintenance shows MAINTENANCE, so it
-- must be filtered and counted as such, and a weekly window in its own time
-- zone cannot be judged from stored columns alone. The rule is the one of
-- pkg/maintenance (Window.Contains, Active), which checkers and the api's
-- monitor view apply in Go; a test in the api's store compares both over
-- DST transitions.

-- +goose Up

-- maintenance_window_contains tells whether at falls inside an occurrence of
-- a weekly window: it opens on the days (0 = Sunday .. 6) at start_minute
-- local time in tz ('' = UTC) and lasts duration_minutes of real time. An
-- occurrence covering at opened at most duration_minutes ago, so it looks at
-- the openings of the local day of at and as many days back as the window
-- spans. A zone PostgreSQL does not know makes the window never open, as Go
-- ignores a zone it does not know (rather than fail the whole list). The
-- EXCEPTION block is a subtransaction, which a parallel query cannot start:
-- hence PARALLEL UNSAFE (and so for maintenance_window_monitors, which calls
-- it).
-- +goose StatementBegin
CREATE FUNCTION maintenance_window_contains(days integer[], start_minute integer, duration_minutes integer,
                                            tz text, at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
STABLE PARALLEL UNSAFE
AS $$
DECLARE
    zone  text := coalesce(nullif(tz, ''), 'UTC');
    today date;
    day   date;
    opens timestamptz;
BEGIN
    today := (at AT TIME ZONE zone)::date;
    FOR i IN 0 .. duration_minutes / 1440 + 1 LOOP
        day := today - i;
        CONTINUE WHEN NOT (extract(dow FROM day)::integer = ANY (days));
        opens := (day + make_interval(mins => start_minute)) AT TIME ZONE zone;
        IF at >= opens AND at < opens + make_interval(mins => duration_minutes) THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION maintenance_window_contains(integer[], integer, integer, text, timestamptz) IS
    'Whether at falls in an occurrence of the weekly window (days 0=Sunday..6, start minute local to tz, '
    'duration in real minutes); the rule of pkg/maintenance Window.Contains.';

-- maintenance_window_monitors returns the monitors inside one of their
-- enabled windows at at. A monitor is in maintenance when
-- maintenance_until > at or its id is in this set; the api writes
-- "monitors.id IN (SELECT maintenance_window_monitors(now()))", which
-- PostgreSQL evaluates once per query into a hash (the windows are few), not
-- once per monitor.
-- +goose StatementBegin
CREATE FUNCTION maintenance_window_monitors(at timestamptz)
RETURNS SETOF uuid
LANGUAGE sql
STABLE PARALLEL UNSAFE
AS $$
    SELECT DISTINCT w.monitor_id FROM maintenance_windows w
    WHERE w.enabled
      AND maintenance_window_contains(w.days_of_week, w.start_minute, w.duration_minutes, w.timezone, at)
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION maintenance_window_monitors(timestamptz) IS
    'Monitors inside one of their enabled maintenance windows at at (with maintenance_until > at, '
    'the rule of pkg/maintenance Active).';

-- +goose Down
DROP FUNCTION maintenance_window_monitors(timestamptz);
DROP FUNCTION maintenance_window_contains(integer[], integer, integer, text, timestamptz);
