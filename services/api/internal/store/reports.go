package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servercheck/uptime/pkg/postgres"
)

// DefaultRawRetention is how long raw ping logs are kept when the operator
// does not say otherwise (RAW_LOG_RETENTION_DAYS = 30).
const DefaultRawRetention = 30 * 24 * time.Hour

// Reports computes the read-only views the dashboard draws: the user's
// summary, per-monitor health windows, incident lists and rollup series.
// Callers pass ids they have already authorised; Reports never checks
// ownership itself.
type Reports struct {
	db *postgres.DB
	// retention is how far back raw ping logs are kept: health windows that
	// fit inside it are counted from ping_logs, longer ones from
	// monitor_rollups_hourly.
	retention time.Duration
	now       func() time.Time
}

// NewReports returns Reports reading db. retention is the raw ping-log
// retention (RAW_LOG_RETENTION_DAYS; DefaultRawRetention when not positive)
// and now the clock every window ends at (time.Now when nil).
func NewReports(db *postgres.DB, retention time.Duration, now func() time.Time) *Reports {
	if retention <= 0 {
		retention = DefaultRawRetention
	}
	if now == nil {
		now = time.Now
	}
	return &Reports{db: db, retention: retention, now: now}
}

// clock returns now in UTC at PostgreSQL's precision, so that a duration
// computed in Go and one computed in SQL from the same instants agree.
func (r *Reports) clock() time.Time {
	return r.now().UTC().Truncate(time.Microsecond)
}

// UserSummary is the dashboard header of GET /uptime/stats/user, over the
// user's active monitors.
type UserSummary struct {
	// TotalMonitors counts every active monitor, including those whose
	// status (MAINTENANCE, DEGRADED, PAUSED) falls in none of Up, Down and
	// Pending.
	TotalMonitors int64 `json:"totalMonitors"`
	// Up, Down and Pending count active monitors by current status; a
	// monitor in maintenance now shows MAINTENANCE and is in none of them.
	Up      int64 `json:"up"`
	Down    int64 `json:"down"`
	Pending int64 `json:"pending"`
	// DownLast24hCount is len(DownLast24h).
	DownLast24hCount int `json:"downLast24hCount"`
	// DownLast24h lists the active monitors that are DOWN now or had an
	// incident overlapping the last 24 hours; currently DOWN ones first,
	// then by name. Never null.
	DownLast24h []DownMonitor `json:"downLast24h"`
	// HasDowntimeLast24h is DownLast24hCount > 0.
	HasDowntimeLast24h bool `json:"hasDowntimeLast24h"`
}

// DownMonitor is one entry of UserSummary.DownLast24h.
type DownMonitor struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	LastCheck *time.Time `json:"lastCheck"`
}

// UserSummary counts the user's active monitors by status and lists those
// that had downtime in the last 24 hours.
//
// The old service listed only monitors DOWN right now (and checked within
// the last day), so a monitor that was down for an hour this morning and
// recovered did not appear in "down in the last 24 h". Here a monitor is
// listed when it is DOWN now or one of its incidents overlaps
// [now-24h, now], which is what the label promises.
func (r *Reports) UserSummary(ctx context.Context, userID string) (UserSummary, error) {
	now := r.clock()
	args := pgx.NamedArgs{"user": userID, "now": now, "since": now.Add(-24 * time.Hour)}
	s := UserSummary{DownLast24h: []DownMonitor{}}

	b := &pgx.Batch{}
	b.Queue(`
SELECT count(*),
       count(*) FILTER (WHERE status = 'UP' AND NOT in_maintenance),
       count(*) FILTER (WHERE status = 'DOWN' AND NOT in_maintenance),
       count(*) FILTER (WHERE status = 'PENDING' AND NOT in_maintenance)
FROM (SELECT status, `+inMaintenance("@now")+` AS in_maintenance
      FROM monitors WHERE user_id = @user AND is_active) m`, args).QueryRow(func(row pgx.Row) error {
		return row.Scan(&s.TotalMonitors, &s.Up, &s.Down, &s.Pending)
	})
	b.Queue(`
SELECT m.id::text, m.name, m.url, m.last_check
FROM monitors m
WHERE m.user_id = @user AND m.is_active
  AND (m.status = 'DOWN' OR EXISTS (
        SELECT 1 FROM incidents i
        WHERE i.monitor_id = m.id AND i.started_at <= @now
          AND (i.ended_at IS NULL OR i.ended_at > @since)))
ORDER BY m.status = 'DOWN' DESC, lower(m.name), m.id`, args).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var d DownMonitor
			if err := rows.Scan(&d.ID, &d.Name, &d.URL, &d.LastCheck); err != nil {
				return err
			}
			s.DownLast24h = append(s.DownLast24h, d)
		}
		return rows.Err()
	})
	if err := r.db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return UserSummary{}, fmt.Errorf("user summary for %s: %w", userID, err)
	}
	s.DownLast24hCount = len(s.DownLast24h)
	s.HasDowntimeLast24h = s.DownLast24hCount > 0
	return s, nil
}

// HealthStats is the stats object of GET /uptime/logs/:uptimeId: one
// WindowHealth per window ending now.
type HealthStats struct {
	Last24Hours WindowHealth `json:"last24Hours"`
	Last7Days   WindowHealth `json:"last7Days"`
	Last30Days  WindowHealth `json:"last30Days"`
	Last365Days WindowHealth `json:"last365Days"`
}

// WindowHealth is a monitor's availability over one window
// [max(now - length, monitor creation), now].
type WindowHealth struct {
	// HealthPercentage is successes / (successes + failures) × 100, rounded
	// to 2 decimals; checks inside a maintenance window count in neither.
	// It is 0 when no check counts (none yet, or only maintenance checks):
	// the front end renders a number, and TotalChecks tells "no data" apart
	// from "everything failed".
	HealthPercentage float64 `json:"healthPercentage"`
	// IncidentCount counts incidents overlapping the window (not failed
	// checks, as the old service did).
	IncidentCount int64 `json:"incidentCount"`
	// TotalChecks counts every check of the window, maintenance included.
	TotalChecks int64 `json:"totalChecks"`
	// DowntimeMs sums the incidents' overlaps with the window, an ongoing
	// incident running until now.
	DowntimeMs        int64  `json:"downtimeMs"`
	DowntimeFormatted string `json:"downtimeFormatted"`
	// UptimeMs is the window's length since the monitor exists minus
	// DowntimeMs, never negative.
	UptimeMs        int64  `json:"uptimeMs"`
	UptimeFormatted string `json:"uptimeFormatted"`
}

// healthWindows are the lengths of the HealthStats windows, in field order.
var healthWindows = [4]time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour}

// healthSQL computes every window in one statement. For each window
// (start_at already clipped at the monitor's creation, raw telling whether
// it fits in raw retention):
//   - incidents overlapping [start_at, now] and the sum of their clipped
//     overlaps;
//   - checks from ping_logs by slot when raw, else from the hourly rollups
//     whose hour overlaps the window. The "w.raw AND" / "NOT w.raw AND"
//     conditions are one-time filters: the other source is not read.
const healthSQL = `
WITH w AS (
    SELECT idx, start_at, raw
    FROM unnest(@starts::timestamptz[], @raw::boolean[]) WITH ORDINALITY AS u(start_at, raw, idx)
)
SELECT w.idx, inc.incidents, inc.downtime_ms,
       CASE WHEN w.raw THEN p.checks ELSE r.checks END,
       CASE WHEN w.raw THEN p.successes ELSE r.successes END,
       CASE WHEN w.raw THEN p.failures ELSE r.failures END
FROM w
CROSS JOIN LATERAL (
    SELECT count(*) AS incidents,
           coalesce(sum(greatest(floor(extract(epoch FROM
               least(coalesce(i.ended_at, @now), @now) - greatest(i.started_at, w.start_at)) * 1000), 0)), 0)::bigint
               AS downtime_ms
    FROM incidents i
    WHERE i.monitor_id = @monitor AND i.started_at <= @now
      AND (i.ended_at IS NULL OR i.ended_at > w.start_at)
) inc
CROSS JOIN LATERAL (
    SELECT count(*) AS checks,
           count(*) FILTER (WHERE pl.success AND NOT pl.maintenance) AS successes,
           count(*) FILTER (WHERE NOT pl.success AND NOT pl.maintenance) AS failures
    FROM ping_logs pl
    WHERE w.raw AND pl.monitor_id = @monitor AND pl.slot >= w.start_at AND pl.slot <= @now
) p
CROSS JOIN LATERAL (
    SELECT coalesce(sum(h.checks), 0)::bigint AS checks,
           coalesce(sum(h.successes), 0)::bigint AS successes,
           coalesce(sum(h.failures), 0)::bigint AS failures
    FROM monitor_rollups_hourly h
    WHERE NOT w.raw AND h.monitor_id = @monitor
      AND h.bucket_start > w.start_at - interval '1 hour' AND h.bucket_start <= @now
) r
ORDER BY w.idx`

// Health returns the monitor's availability over the last 24 hours, 7, 30
// and 365 days, in one round trip.
//
// Unlike the old service, time before the monitor existed is neither uptime
// nor downtime: each window starts at the later of now - length and
// monitor.CreatedAt. Windows longer than the raw ping-log retention take
// their checks from the hourly rollups (whole hours overlapping the window),
// the others from the raw ping logs by slot; downtime and incident counts
// always come from incidents.
func (r *Reports) Health(ctx context.Context, monitor Monitor) (HealthStats, error) {
	now := r.clock()
	starts := make([]time.Time, len(healthWindows))
	raw := make([]bool, len(healthWindows))
	for i, length := range healthWindows {
		starts[i] = now.Add(-length)
		if monitor.CreatedAt.After(starts[i]) {
			starts[i] = monitor.CreatedAt.UTC()
		}
		raw[i] = length <= r.retention
	}
	rows, err := r.db.Pool.Query(ctx, healthSQL, pgx.NamedArgs{
		"monitor": monitor.ID, "now": now, "starts": starts, "raw": raw,
	})
	if err != nil {
		return HealthStats{}, fmt.Errorf("health of monitor %s: %w", monitor.ID, err)
	}
	windows := make([]WindowHealth, len(healthWindows))
	for rows.Next() {
		var (
			idx                                         int
			incidents, downtime, checks, succ, failures int64
		)
		if err := rows.Scan(&idx, &incidents, &downtime, &checks, &succ, &failures); err != nil {
			rows.Close()
			return HealthStats{}, fmt.Errorf("health of monitor %s: %w", monitor.ID, err)
		}
		if idx < 1 || idx > len(windows) {
			rows.Close()
			return HealthStats{}, fmt.Errorf("health of monitor %s: unexpected window %d", monitor.ID, idx)
		}
		span := max(now.Sub(starts[idx-1]).Milliseconds(), 0)
		uptime := max(span-downtime, 0)
		windows[idx-1] = WindowHealth{
			HealthPercentage:  healthPercentage(succ, failures),
			IncidentCount:     incidents,
			TotalChecks:       checks,
			DowntimeMs:        downtime,
			DowntimeFormatted: FormatDuration(downtime),
			UptimeMs:          uptime,
			UptimeFormatted:   FormatDuration(uptime),
		}
	}
	if err := rows.Err(); err != nil {
		return HealthStats{}, fmt.Errorf("health of monitor %s: %w", monitor.ID, err)
	}
	return HealthStats{
		Last24Hours: windows[0],
		Last7Days:   windows[1],
		Last30Days:  windows[2],
		Last365Days: windows[3],
	}, nil
}

// healthPercentage is successes / (successes + failures) × 100 rounded to
// 2 decimals, 0 without any counted check.
func healthPercentage(successes, failures int64) float64 {
	if successes+failures <= 0 {
		return 0
	}
	return math.Round(float64(successes)*10000/float64(successes+failures)) / 100
}
