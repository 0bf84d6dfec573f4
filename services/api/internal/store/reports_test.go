package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// Local shorthands; package-level names would risk colliding with other
// tests of the package.
const (
	rptHour = time.Hour
	rptDay  = 24 * time.Hour
)

// reportsFixture seeds a fresh schema with plain SQL. now is today 12:00
// UTC, fixed for the whole test, so that every window and bucket boundary
// falls on a whole hour and the rows of "today" have a partition.
type reportsFixture struct {
	t   *testing.T
	db  *postgres.DB
	now time.Time
}

func newReportsFixture(t *testing.T) (*reportsFixture, *store.Reports) {
	t.Helper()
	f := &reportsFixture{
		t:   t,
		db:  testenv.Postgres(t),
		now: time.Now().UTC().Truncate(rptDay).Add(12 * rptHour),
	}
	return f, f.reports(0)
}

// reports returns Reports on the fixture's clock with a raw retention
// (the 30-day default when 0).
func (f *reportsFixture) reports(retention time.Duration) *store.Reports {
	return store.NewReports(f.db, retention, func() time.Time { return f.now })
}

func (f *reportsFixture) exec(sql string, args ...any) {
	f.t.Helper()
	_, err := f.db.Pool.Exec(f.t.Context(), sql, args...)
	require.NoError(f.t, err, sql)
}

func (f *reportsFixture) returning(sql string, args ...any) string {
	f.t.Helper()
	var id string
	require.NoError(f.t, f.db.Pool.QueryRow(f.t.Context(), sql, args...).Scan(&id), sql)
	return id
}

func (f *reportsFixture) user(email string) string {
	f.t.Helper()
	return f.returning(`INSERT INTO users (email) VALUES ($1) RETURNING id::text`, email)
}

type rptMonitor struct {
	name, url, status string
	inactive          bool
	createdAt         time.Time
	lastCheck         *time.Time
}

func (f *reportsFixture) monitor(userID string, m rptMonitor) store.Monitor {
	f.t.Helper()
	if m.url == "" {
		m.url = "https://example.com"
	}
	if m.status == "" {
		m.status = store.StatusUp
	}
	if m.createdAt.IsZero() {
		m.createdAt = f.now.Add(-400 * rptDay)
	}
	id := f.returning(`
INSERT INTO monitors (user_id, name, url, frequency, is_active, status, created_at, last_check)
VALUES ($1, $2, $3, 60, $4, $5, $6, $7) RETURNING id::text`,
		userID, m.name, m.url, !m.inactive, m.status, m.createdAt, m.lastCheck)
	return store.Monitor{ID: id, UserID: userID, Name: m.name, URL: m.url, Status: m.status, CreatedAt: m.createdAt}
}

type rptIncident struct {
	start             time.Time
	end               *time.Time // nil: ongoing
	firstErr, lastErr *string
	affected          int
}

func (f *reportsFixture) incident(monitorID string, in rptIncident) string {
	f.t.Helper()
	status := store.IncidentResolved
	if in.end == nil {
		status = store.IncidentOngoing
	}
	if in.affected == 0 {
		in.affected = 1
	}
	return f.returning(`
INSERT INTO incidents (monitor_id, user_id, status, started_at, ended_at, first_error, last_error, affected_checks)
SELECT id, user_id, $2, $3, $4, $5, $6, $7 FROM monitors WHERE id = $1
RETURNING id::text`, monitorID, status, in.start, in.end, in.firstErr, in.lastErr, in.affected)
}

// resolved is an incident from start lasting d.
func rptResolved(start time.Time, d time.Duration) rptIncident {
	return rptIncident{start: start, end: new(start.Add(d))}
}

// ensurePartitions creates the ping_logs partitions of the UTC days of
// [from, to].
func (f *reportsFixture) ensurePartitions(from, to time.Time) {
	f.t.Helper()
	f.exec(`SELECT ping_logs_ensure_partitions($1::date, $2::date)`,
		from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly))
}

func (f *reportsFixture) ping(monitorID string, slot time.Time, success, maintenance bool) {
	f.t.Helper()
	f.exec(`
INSERT INTO ping_logs (monitor_id, slot, "timestamp", status_code, duration_ms, success, maintenance)
VALUES ($1, $2, $2, $3, 120, $4, $5)`, monitorID, slot, map[bool]int{true: 200, false: 503}[success], success, maintenance)
}

type rptRollup struct {
	successes, failures, maintenance int
	totalMs, maxMs, downtimeMs       int64
	// histogram counters by 0-based index; their sum must equal the checks.
	histogram map[int]int32
}

func (f *reportsFixture) rollup(monitorID string, bucket time.Time, r rptRollup) {
	f.t.Helper()
	hist := make([]int32, 14)
	for i, c := range r.histogram {
		hist[i] = c
	}
	f.exec(`
INSERT INTO monitor_rollups_hourly (monitor_id, bucket_start, checks, successes, failures, maintenance_checks,
    total_duration_ms, max_duration_ms, downtime_ms, latency_histogram)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		monitorID, bucket, r.successes+r.failures+r.maintenance, r.successes, r.failures, r.maintenance,
		r.totalMs, r.maxMs, r.downtimeMs, hist)
}

func TestReportsUserSummary(t *testing.T) {
	t.Parallel()
	f, reports := newReportsFixture(t)
	now := f.now
	u := f.user("owner@example.com")
	other := f.user("other@example.com")
	lastCheck := new(now.Add(-time.Minute))

	f.monitor(u, rptMonitor{name: "Alpha", status: store.StatusUp, lastCheck: lastCheck})
	bravo := f.monitor(u, rptMonitor{name: "bravo", url: "https://bravo.example.com", status: store.StatusDown, lastCheck: lastCheck})
	f.incident(bravo.ID, rptIncident{start: now.Add(-2 * rptHour)})
	charlie := f.monitor(u, rptMonitor{name: "Charlie", url: "https://charlie.example.com", status: store.StatusUp})
	f.incident(charlie.ID, rptResolved(now.Add(-5*rptHour), rptHour))
	f.monitor(u, rptMonitor{name: "Delta", status: store.StatusPending})
	echo := f.monitor(u, rptMonitor{name: "Echo", status: store.StatusUp})
	f.incident(echo.ID, rptResolved(now.Add(-30*rptHour), 5*rptHour)) // ended 25 h ago
	foxtrot := f.monitor(u, rptMonitor{name: "Foxtrot", status: store.StatusDown, inactive: true})
	f.incident(foxtrot.ID, rptIncident{start: now.Add(-rptHour)})
	f.monitor(u, rptMonitor{name: "Golf", status: store.StatusMaintenance})
	hotel := f.monitor(u, rptMonitor{name: "Hotel", url: "https://hotel.example.com", status: store.StatusDown})
	india := f.monitor(u, rptMonitor{name: "India", url: "https://india.example.com", status: store.StatusUp, lastCheck: lastCheck})
	f.incident(india.ID, rptResolved(now.Add(-25*rptHour), 2*rptHour)) // ended 23 h ago
	zulu := f.monitor(other, rptMonitor{name: "Zulu", status: store.StatusDown})
	f.incident(zulu.ID, rptIncident{start: now.Add(-rptHour)})
	// In maintenance now (shown MAINTENANCE, so in no bucket): Kilo until
	// an hour from now, Lima in a weekly window open 11:00-13:00 UTC today.
	// Not in maintenance: Mike's ended an hour ago, November's window is on
	// another day and its window open now is disabled.
	kilo := f.monitor(u, rptMonitor{name: "Kilo", status: store.StatusUp})
	f.exec(`UPDATE monitors SET maintenance_until = $2 WHERE id = $1`, kilo.ID, now.Add(rptHour))
	lima := f.monitor(u, rptMonitor{name: "Lima", status: store.StatusPending})
	window := func(id string, day time.Weekday, enabled bool) {
		f.exec(`INSERT INTO maintenance_windows (monitor_id, days_of_week, start_minute, duration_minutes, timezone, enabled)
			VALUES ($1, $2, 660, 120, 'UTC', $3)`, id, []int32{int32(day)}, enabled)
	}
	window(lima.ID, now.Weekday(), true)
	mike := f.monitor(u, rptMonitor{name: "Mike", status: store.StatusUp})
	f.exec(`UPDATE monitors SET maintenance_until = $2 WHERE id = $1`, mike.ID, now.Add(-rptHour))
	november := f.monitor(u, rptMonitor{name: "November", status: store.StatusUp})
	window(november.ID, (now.Weekday()+3)%7, true)
	window(november.ID, now.Weekday(), false)

	t.Run("counts active monitors by status and lists those down now or within 24 h", func(t *testing.T) {
		got, err := reports.UserSummary(t.Context(), u)
		require.NoError(t, err)
		assert.Equal(t, store.UserSummary{
			TotalMonitors: 12, // MAINTENANCE (Golf, Kilo, Lima) counts in the total only; Foxtrot is inactive
			Up:            6,
			Down:          2,
			Pending:       1,
			DownLast24h: []store.DownMonitor{
				{ID: bravo.ID, Name: "bravo", URL: "https://bravo.example.com", LastCheck: lastCheck},
				{ID: hotel.ID, Name: "Hotel", URL: "https://hotel.example.com"},
				{ID: charlie.ID, Name: "Charlie", URL: "https://charlie.example.com"},
				{ID: india.ID, Name: "India", URL: "https://india.example.com", LastCheck: lastCheck},
			},
			DownLast24hCount:   4,
			HasDowntimeLast24h: true,
		}, got)
	})

	t.Run("a user without monitors gets zeros and an empty list", func(t *testing.T) {
		nobody := f.user("nobody@example.com")
		got, err := reports.UserSummary(t.Context(), nobody)
		require.NoError(t, err)
		assert.Equal(t, store.UserSummary{DownLast24h: []store.DownMonitor{}}, got)
		raw, err := json.Marshal(got)
		require.NoError(t, err)
		assert.JSONEq(t, `{"totalMonitors":0,"up":0,"down":0,"pending":0,"downLast24hCount":0,
			"downLast24h":[],"hasDowntimeLast24h":false}`, string(raw))
	})
}

func TestReportsHealth(t *testing.T) {
	t.Parallel()
	f, reports := newReportsFixture(t)
	now := f.now
	u := f.user("owner@example.com")
	f.ensurePartitions(now.Add(-41*rptDay), now.Add(rptDay))

	// a exists for 400 days: every window is full.
	a := f.monitor(u, rptMonitor{name: "a", createdAt: now.Add(-400 * rptDay)})
	f.incident(a.ID, rptResolved(now.Add(-10*rptDay), rptHour))      // 30 d, 365 d
	f.incident(a.ID, rptResolved(now.Add(-25*rptHour), 2*rptHour))   // straddles the 24 h start: 1 h of it in 24 h
	f.incident(a.ID, rptIncident{start: now.Add(-30 * time.Minute)}) // ongoing: 30 min everywhere
	f.incident(a.ID, rptResolved(now.Add(-200*rptDay), 2*rptHour))   // 365 d
	f.incident(a.ID, rptResolved(now.Add(-380*rptDay), rptHour))     // before every window
	// Raw checks (24 h, 7 d, 30 d).
	f.ping(a.ID, now.Add(-rptHour), true, false)
	f.ping(a.ID, now.Add(-2*rptHour), false, false)
	f.ping(a.ID, now.Add(-3*rptHour), false, true) // maintenance: counted, not judged
	f.ping(a.ID, now.Add(-4*rptHour), true, false)
	f.ping(a.ID, now.Add(-24*rptHour), true, false) // the window start is inclusive
	f.ping(a.ID, now.Add(-3*rptDay), true, false)
	f.ping(a.ID, now.Add(-3*rptDay+time.Minute), false, false)
	f.ping(a.ID, now.Add(-20*rptDay), true, false)
	f.ping(a.ID, now.Add(-20*rptDay+time.Minute), true, false)
	f.ping(a.ID, now.Add(-20*rptDay+2*time.Minute), true, false)
	f.ping(a.ID, now.Add(-40*rptDay), false, false) // beyond 30 d
	f.ping(a.ID, now.Add(rptHour), true, false)     // after now
	// Rollups (365 d only: it exceeds the 30-day raw retention).
	f.rollup(a.ID, now.Add(-100*rptDay), rptRollup{successes: 9, failures: 1, histogram: map[int]int32{2: 10}})
	f.rollup(a.ID, now.Add(-2*rptDay), rptRollup{successes: 3, failures: 1, maintenance: 1, histogram: map[int]int32{2: 5}})
	f.rollup(a.ID, now.Add(-365*rptDay), rptRollup{successes: 1, failures: 1, histogram: map[int]int32{2: 2}})  // hour overlaps the start
	f.rollup(a.ID, now.Add(-365*rptDay-rptHour), rptRollup{successes: 7, histogram: map[int]int32{2: 7}})       // ends at the start
	f.rollup(a.ID, now.Add(-366*rptDay), rptRollup{successes: 7, failures: 7, histogram: map[int]int32{2: 14}}) // older
	f.rollup(a.ID, now.Add(rptHour), rptRollup{successes: 0, failures: 50, histogram: map[int]int32{2: 50}})    // after now

	// b was created 2 days ago; one incident predates it, one straddles it.
	b := f.monitor(u, rptMonitor{name: "b", createdAt: now.Add(-2 * rptDay)})
	f.incident(b.ID, rptResolved(now.Add(-3*rptDay), rptHour))
	f.incident(b.ID, rptResolved(now.Add(-2*rptDay-rptHour), 2*rptHour))

	// c was created an hour ago and has nothing yet.
	c := f.monitor(u, rptMonitor{name: "c", createdAt: now.Add(-rptHour)})
	// d was created "after now" (clock skew between api and database).
	d := f.monitor(u, rptMonitor{name: "d", createdAt: now.Add(rptHour)})
	// e only ran inside a maintenance window.
	e := f.monitor(u, rptMonitor{name: "e", createdAt: now.Add(-rptDay)})
	f.ping(e.ID, now.Add(-rptHour), false, true)

	h := func(pct float64, incidents, checks, downtime, uptime int64) store.WindowHealth {
		return store.WindowHealth{
			HealthPercentage: pct, IncidentCount: incidents, TotalChecks: checks,
			DowntimeMs: downtime, DowntimeFormatted: store.FormatDuration(downtime),
			UptimeMs: uptime, UptimeFormatted: store.FormatDuration(uptime),
		}
	}
	for _, tc := range []struct {
		name    string
		monitor store.Monitor
		want    store.HealthStats
	}{
		{
			name:    "an old monitor's windows clip incidents, count raw checks and use rollups for 365 days",
			monitor: a,
			want: store.HealthStats{
				// 3 of 4 judged checks; 1 h of the straddling incident + 30 min ongoing.
				Last24Hours: h(75, 2, 5, 5_400_000, 86_400_000-5_400_000),
				// + 1 success, 1 failure; the whole 2 h incident.
				Last7Days: h(66.67, 2, 7, 9_000_000, 604_800_000-9_000_000),
				// + 3 successes (7 of 9); + the 1 h incident 10 days ago.
				Last30Days: h(77.78, 3, 10, 12_600_000, 2_592_000_000-12_600_000),
				// rollups: 13 of 16 judged, 17 checks; + the 2 h incident 200 days ago.
				Last365Days: h(81.25, 4, 17, 19_800_000, 31_536_000_000-19_800_000),
			},
		},
		{
			name:    "a young monitor's windows start at its creation",
			monitor: b,
			want: store.HealthStats{
				Last24Hours: h(0, 0, 0, 0, 86_400_000),
				// only the hour after creation counts; the window is 2 days long
				Last7Days:   h(0, 1, 0, 3_600_000, 2*86_400_000-3_600_000),
				Last30Days:  h(0, 1, 0, 3_600_000, 2*86_400_000-3_600_000),
				Last365Days: h(0, 1, 0, 3_600_000, 2*86_400_000-3_600_000),
			},
		},
		{
			name:    "a monitor without checks reports 0 percent and its age as uptime",
			monitor: c,
			want: store.HealthStats{
				Last24Hours: h(0, 0, 0, 0, 3_600_000),
				Last7Days:   h(0, 0, 0, 0, 3_600_000),
				Last30Days:  h(0, 0, 0, 0, 3_600_000),
				Last365Days: h(0, 0, 0, 0, 3_600_000),
			},
		},
		{
			name:    "a monitor created after now has no uptime rather than a negative one",
			monitor: d,
			want:    store.HealthStats{Last24Hours: h(0, 0, 0, 0, 0), Last7Days: h(0, 0, 0, 0, 0), Last30Days: h(0, 0, 0, 0, 0), Last365Days: h(0, 0, 0, 0, 0)},
		},
		{
			name:    "maintenance checks are counted but judge nothing",
			monitor: e,
			want: store.HealthStats{
				Last24Hours: h(0, 0, 1, 0, 86_400_000),
				Last7Days:   h(0, 0, 1, 0, 86_400_000),
				Last30Days:  h(0, 0, 1, 0, 86_400_000),
				Last365Days: h(0, 0, 0, 0, 86_400_000), // no rollups seeded for e
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reports.Health(t.Context(), tc.monitor)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("a window longer than the raw retention comes from rollups", func(t *testing.T) {
		got, err := f.reports(7*rptDay).Health(t.Context(), a)
		require.NoError(t, err)
		assert.Equal(t, h(66.67, 2, 7, 9_000_000, 604_800_000-9_000_000), got.Last7Days, "7 days still fit")
		// Only the rollup of 2 days ago is inside 30 days: 3 of 4 judged, 5 checks.
		assert.Equal(t, h(75, 3, 5, 12_600_000, 2_592_000_000-12_600_000), got.Last30Days)
	})

	t.Run("the JSON keys are the front end's", func(t *testing.T) {
		got, err := reports.Health(t.Context(), c)
		require.NoError(t, err)
		raw, err := json.Marshal(got)
		require.NoError(t, err)
		window := `{"healthPercentage":0,"incidentCount":0,"totalChecks":0,"downtimeMs":0,"downtimeFormatted":"0s",
			"uptimeMs":3600000,"uptimeFormatted":"1h"}`
		assert.JSONEq(t, `{"last24Hours":`+window+`,"last7Days":`+window+`,"last30Days":`+window+
			`,"last365Days":`+window+`}`, string(raw))
	})
}
