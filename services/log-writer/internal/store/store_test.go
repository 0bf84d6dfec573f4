package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/db"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
)

// fixture is a migrated schema with one user.
type fixture struct {
	pool *pgxpool.Pool
	st   *store.Store
	user uuid.UUID
}

func newFixture(t *testing.T) fixture { return newFixtureB(t) }

func newFixtureB(t testing.TB) fixture {
	t.Helper()
	pg := testenv.Postgres(t)
	f := fixture{pool: pg.Pool, st: store.New(pg.Pool, 5*time.Second)}
	require.NoError(t, f.pool.QueryRow(t.Context(),
		`INSERT INTO users (email) VALUES ($1) RETURNING id`, testenv.Name("u")+"@example.com").Scan(&f.user))
	return f
}

// monitor creates a monitor checked every frequency seconds.
func (f fixture) monitor(t *testing.T, frequency int) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	require.NoError(t, f.pool.QueryRow(t.Context(),
		`INSERT INTO monitors (user_id, name, url, frequency) VALUES ($1, 'm', 'https://example.com', $2) RETURNING id`,
		f.user, frequency).Scan(&id))
	return id
}

func (f fixture) write(t *testing.T, batch ...store.Result) store.Written {
	t.Helper()
	w, err := f.st.Write(t.Context(), batch)
	require.NoError(t, err)
	return w
}

func (f fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}

type monitorRow struct {
	Status    string
	LastCheck *time.Time
	LastError *string
	CertUntil *time.Time
}

func (f fixture) monitorRow(t *testing.T, id uuid.UUID) monitorRow {
	t.Helper()
	var m monitorRow
	require.NoError(t, f.pool.QueryRow(t.Context(),
		`SELECT status, last_check, last_error, ssl_certificate_expires_at FROM monitors WHERE id = $1`, id).
		Scan(&m.Status, &m.LastCheck, &m.LastError, &m.CertUntil))
	return m
}

type incidentRow struct {
	Status          string
	StartedAt       time.Time
	EndedAt         *time.Time
	FirstStatusCode *int32
	FirstError      *string
	LastError       *string
	AffectedChecks  int
}

func (f fixture) incidents(t *testing.T, monitor uuid.UUID) []incidentRow {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `
		SELECT status, started_at, ended_at, first_status_code, first_error, last_error, affected_checks
		FROM incidents WHERE monitor_id = $1 ORDER BY started_at`, monitor)
	require.NoError(t, err)
	defer rows.Close()
	var out []incidentRow
	for rows.Next() {
		var r incidentRow
		require.NoError(t, rows.Scan(&r.Status, &r.StartedAt, &r.EndedAt, &r.FirstStatusCode, &r.FirstError, &r.LastError, &r.AffectedChecks))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

type rollupRow struct {
	BucketStart                                        time.Time
	Checks, Successes, Failures, Maintenance, MaxDurMs int
	TotalDurMs, DowntimeMs                             int64
	Histogram                                          []int32
}

func (f fixture) rollups(t *testing.T, monitor uuid.UUID) []rollupRow {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `
		SELECT bucket_start, checks, successes, failures, maintenance_checks, max_duration_ms,
		       total_duration_ms, downtime_ms, latency_histogram
		FROM monitor_rollups_hourly WHERE monitor_id = $1 ORDER BY bucket_start`, monitor)
	require.NoError(t, err)
	defer rows.Close()
	var out []rollupRow
	for rows.Next() {
		var r rollupRow
		require.NoError(t, rows.Scan(&r.BucketStart, &r.Checks, &r.Successes, &r.Failures, &r.Maintenance,
			&r.MaxDurMs, &r.TotalDurMs, &r.DowntimeMs, &r.Histogram))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// hour is a whole UTC hour inside the partitions the migration creates.
func hour() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour) }

func strp(s string) *string { return &s }

// up, down and maint build results of monitor m at slot.
func up(m uuid.UUID, slot time.Time, changed bool) store.Result {
	return store.Result{
		MonitorID: m, Slot: slot, Finished: slot.Add(120 * time.Millisecond), DurationMs: 120,
		StatusCode: 200, Attempts: 1, Success: true, NewStatus: store.StatusUp, StatusChanged: changed, Checker: "c1",
	}
}

func down(m uuid.UUID, slot time.Time, changed bool, msg string) store.Result {
	return store.Result{
		MonitorID: m, Slot: slot, Finished: slot.Add(3 * time.Second), DurationMs: 3000,
		StatusCode: 503, Attempts: 3, Error: strp(msg), NewStatus: store.StatusDown, StatusChanged: changed, Checker: "c1",
	}
}

func TestWriteStoresEachResultOnceAndCountsItOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.monitor(t, 60), f.monitor(t, 60)
	h := hour()
	var batch []store.Result
	for i := range 5 {
		batch = append(batch, up(a, h.Add(time.Duration(i)*time.Minute), i == 0), up(b, h.Add(time.Duration(i)*time.Minute), i == 0))
	}

	assert.Equal(t, store.Written{Inserted: 10}, f.write(t, batch...))
	assert.Equal(t, store.Written{Duplicates: 10}, f.write(t, batch...), "a redelivered batch inserts nothing")
	// A batch mixing new and redelivered results, with a result twice.
	again := []store.Result{batch[0], up(a, h.Add(10*time.Minute), false), up(a, h.Add(10*time.Minute), false)}
	assert.Equal(t, store.Written{Inserted: 1, Duplicates: 2}, f.write(t, again...))

	assert.Equal(t, 6, f.count(t, `SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, a))
	assert.Equal(t, 5, f.count(t, `SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, b))
	r := f.rollups(t, a)
	require.Len(t, r, 1)
	assert.Equal(t, 6, r[0].Checks, "redelivered results are not counted twice")
}

func TestWriteDropsResultsOfDeletedMonitors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kept := f.monitor(t, 60)
	h := hour()
	gone := uuid.New()
	w := f.write(t, up(kept, h, true), up(gone, h, true), up(gone, h.Add(time.Minute), false))
	assert.Equal(t, store.Written{Inserted: 1, UnknownMonitor: 2}, w)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM ping_logs`))
}

func TestWriteStoresEveryColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	slot := hour().Add(90 * time.Second)
	dns, conn, tls, first := float32(1.5), float32(2.25), float32(30.125), float32(80.5)
	cert := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	r := store.Result{
		MonitorID: m, Slot: slot, Finished: slot.Add(250 * time.Millisecond), DurationMs: 250, StatusCode: 404,
		Attempts: 2, DNSMs: &dns, ConnectMs: &conn, TLSMs: &tls, FirstByteMs: &first, Success: false,
		ConnectionReused: true, Maintenance: true, Error: strp("HTTP 404"), Warning: strp("certificate expires soon"),
		CertificateExpiresAt: &cert, NewStatus: store.StatusDown, StatusChanged: true, Checker: "checker-7",
	}
	f.write(t, r)

	var got store.Result
	var id uuid.UUID
	require.NoError(t, f.pool.QueryRow(t.Context(), `
		SELECT monitor_id, slot, "timestamp", duration_ms, status_code, attempts, dns_ms, connect_ms, tls_ms,
		       first_byte_ms, success, connection_reused, maintenance, error, warning, certificate_expires_at, checker
		FROM ping_logs`).Scan(&id, &got.Slot, &got.Finished, &got.DurationMs, &got.StatusCode, &got.Attempts,
		&got.DNSMs, &got.ConnectMs, &got.TLSMs, &got.FirstByteMs, &got.Success, &got.ConnectionReused,
		&got.Maintenance, &got.Error, &got.Warning, &got.CertificateExpiresAt, &got.Checker))
	got.MonitorID = id
	got.NewStatus, got.StatusChanged = r.NewStatus, r.StatusChanged
	assert.Equal(t, r, got)
	assert.Equal(t, monitorRow{Status: "DOWN", LastCheck: &slot, LastError: strp("HTTP 404"), CertUntil: &cert}, f.monitorRow(t, m))
}

func TestMonitorStatusFollowsTheLatestSlotAndNeverGoesBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	h := hour()
	s := func(i int) time.Time { return h.Add(time.Duration(i) * time.Minute) }
	cert := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

	first := down(m, s(0), true, "connection refused")
	second := up(m, s(1), true)
	second.CertificateExpiresAt = &cert
	f.write(t, second, first) // order within a batch does not matter
	assert.Equal(t, monitorRow{Status: "UP", LastCheck: ptr(s(1)), CertUntil: &cert}, f.monitorRow(t, m))

	// A result older than the one applied (redelivered late) is stored
	// but changes nothing.
	late := down(m, s(0).Add(30*time.Second), true, "late")
	assert.Equal(t, store.Written{Inserted: 1}, f.write(t, late))
	assert.Equal(t, monitorRow{Status: "UP", LastCheck: ptr(s(1)), CertUntil: &cert}, f.monitorRow(t, m))

	// A newer one applies; a result without certificate keeps the known expiry.
	f.write(t, down(m, s(2), true, "HTTP 500"))
	assert.Equal(t, monitorRow{Status: "DOWN", LastCheck: ptr(s(2)), LastError: strp("HTTP 500"), CertUntil: &cert}, f.monitorRow(t, m))
}

func ptr[T any](v T) *T { return &v }

func TestIncidentsOpenGrowAndResolveAcrossBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	h := hour()
	s := func(i int) time.Time { return h.Add(time.Duration(i) * time.Minute) }

	f.write(t, up(m, s(0), true))
	assert.Empty(t, f.incidents(t, m), "PENDING -> UP opens nothing")

	f.write(t, down(m, s(1), true, "connection refused"))
	assert.Equal(t, []incidentRow{{
		Status: "ONGOING", StartedAt: s(1), FirstStatusCode: ptr[int32](503),
		FirstError: strp("connection refused"), LastError: strp("connection refused"), AffectedChecks: 1,
	}}, f.incidents(t, m))

	f.write(t, down(m, s(2), false, "timeout after 10s"))
	f.write(t, down(m, s(2), false, "timeout after 10s")) // redelivered: no second count
	f.write(t, down(m, s(3), false, "HTTP 502"))
	assert.Equal(t, []incidentRow{{
		Status: "ONGOING", StartedAt: s(1), FirstStatusCode: ptr[int32](503),
		FirstError: strp("connection refused"), LastError: strp("HTTP 502"), AffectedChecks: 3,
	}}, f.incidents(t, m))

	f.write(t, up(m, s(4), true))
	f.write(t, up(m, s(5), false))
	assert.Equal(t, []incidentRow{{
		Status: "RESOLVED", StartedAt: s(1), EndedAt: ptr(s(4)), FirstStatusCode: ptr[int32](503),
		FirstError: strp("connection refused"), LastError: strp("HTTP 502"), AffectedChecks: 3,
	}}, f.incidents(t, m))

	// The next outage is a new incident.
	f.write(t, down(m, s(6), true, "HTTP 503"))
	inc := f.incidents(t, m)
	require.Len(t, inc, 2)
	assert.Equal(t, "ONGOING", inc[1].Status)
	assert.Equal(t, s(6), inc[1].StartedAt)
}

func TestIncidentsWithinOneBatchFollowSlotOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	h := hour()
	s := func(i int) time.Time { return h.Add(time.Duration(i) * time.Minute) }

	// Shuffled on purpose: up, down x3, up, up, down x2.
	f.write(t,
		down(m, s(7), false, "e7"), up(m, s(0), true), down(m, s(2), false, "e2"), up(m, s(4), true),
		down(m, s(1), true, "e1"), up(m, s(5), false), down(m, s(3), false, "e3"), down(m, s(6), true, "e6"),
	)
	assert.Equal(t, []incidentRow{
		{Status: "RESOLVED", StartedAt: s(1), EndedAt: ptr(s(4)), FirstStatusCode: ptr[int32](503),
			FirstError: strp("e1"), LastError: strp("e3"), AffectedChecks: 3},
		{Status: "ONGOING", StartedAt: s(6), FirstStatusCode: ptr[int32](503),
			FirstError: strp("e6"), LastError: strp("e7"), AffectedChecks: 2},
	}, f.incidents(t, m))
	assert.Equal(t, "DOWN", f.monitorRow(t, m).Status)
}

func TestAtMostOneIncidentIsOngoing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	h := hour()
	s := func(i int) time.Time { return h.Add(time.Duration(i) * time.Minute) }

	f.write(t, down(m, s(0), true, "first"))
	// The checker lost its state and reports a flip to DOWN again: the
	// outage goes on in the same incident.
	f.write(t, down(m, s(1), true, "again"))
	// A DOWN result that did not flip but finds no incident (its opener
	// came late) opens one, so a DOWN monitor always has one.
	other := f.monitor(t, 60)
	f.write(t, down(other, s(1), false, "no opener"))

	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, m))
	inc := f.incidents(t, m)
	require.Len(t, inc, 1)
	assert.Equal(t, 2, inc[0].AffectedChecks)
	assert.Equal(t, strp("again"), inc[0].LastError)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, other))
}

func TestMaintenanceChecksDoNotTouchIncidents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	h := hour()
	r := down(m, h, true, "in maintenance")
	r.Maintenance = true
	f.write(t, r)
	assert.Empty(t, f.incidents(t, m))
}

func TestRollupsAddUpAHandBuiltBatchExactly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 300) // every 5 minutes
	h := hour()
	at := func(minute int) time.Time { return h.Add(time.Duration(minute) * time.Minute) }
	res := func(r store.Result, ms int32) store.Result { r.DurationMs = ms; return r }
	maint := up(m, at(10), false)
	maint.Maintenance = true
	maint.DurationMs = 40
	batch := []store.Result{
		res(up(m, at(0), true), 20),                // bucket 1 (<= 25)
		res(up(m, at(5), false), 60),               // bucket 3
		maint,                                      // bucket 2, maintenance
		res(down(m, at(50), true, "x"), 3000),      // bucket 11, down 50:00-55:00
		res(down(m, at(55), false, "y"), 10001),    // bucket 14, down 55:00-60:00
		res(down(m, at(60+0), false, "z"), 500),    // next hour, bucket 6, down 0:00-5:00
		res(up(m, at(60+5), true), 25),             // next hour, bucket 1
		res(down(m, at(60+58), true, "spill"), 26), // next hour, bucket 2, down 58:00-63:00
	}
	f.write(t, batch...)
	f.write(t, batch...) // redelivered: counted once

	hist := func(buckets ...int) []int32 {
		h := make([]int32, db.LatencyBuckets)
		for _, b := range buckets {
			h[b-1]++
		}
		return h
	}
	assert.Equal(t, []rollupRow{
		{BucketStart: h, Checks: 5, Successes: 2, Failures: 2, Maintenance: 1, MaxDurMs: 10001,
			TotalDurMs: 20 + 60 + 40 + 3000 + 10001, DowntimeMs: 10 * 60 * 1000, Histogram: hist(1, 3, 2, 11, 14)},
		{BucketStart: h.Add(time.Hour), Checks: 3, Successes: 1, Failures: 2, MaxDurMs: 500,
			TotalDurMs: 500 + 25 + 26, DowntimeMs: 5*60*1000 + 2*60*1000, Histogram: hist(6, 1, 2)},
		{BucketStart: h.Add(2 * time.Hour), Histogram: hist(), DowntimeMs: 3 * 60 * 1000},
	}, f.rollups(t, m))

	// The histograms agree with the SQL helper over the stored rows.
	for _, r := range f.rollups(t, m)[:2] {
		var want []int32
		require.NoError(t, f.pool.QueryRow(t.Context(), `
			SELECT rollup_histogram_agg(duration_ms) FROM ping_logs
			WHERE monitor_id = $1 AND slot >= $2 AND slot < $2 + interval '1 hour'`, m, r.BucketStart).Scan(&want))
		assert.Equal(t, want, r.Histogram)
	}

	// The downtime of the first hour equals the incident's overlap with it.
	inc := f.incidents(t, m)
	require.Len(t, inc, 2)
	assert.Equal(t, at(65).Sub(at(50)), inc[0].EndedAt.Sub(inc[0].StartedAt))
}

func TestResultsForADayWithoutPartitionAreStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	old := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -20).Add(3 * time.Hour)
	future := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 12)
	assert.Equal(t, store.Written{Inserted: 2}, f.write(t, up(m, old, true), up(m, future, false)))
	assert.Equal(t, 2, f.count(t, `SELECT count(*) FROM ping_logs`))

	// The partition is dropped behind the store's back: the next write
	// fails as transient and the one after recreates it.
	_, err := store.DropPartitionsBefore(t.Context(), f.pool, old.AddDate(0, 0, 1), time.Second)
	require.NoError(t, err)
	_, err = f.st.Write(t.Context(), []store.Result{up(m, old.Add(time.Minute), false)})
	require.ErrorIs(t, err, store.ErrPartitionMissing)
	assert.False(t, store.IsDataError(err))
	assert.Equal(t, store.Written{Inserted: 1}, f.write(t, up(m, old.Add(time.Minute), false)))
}

func TestARowOutOfRangeIsADataError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	bad := up(m, hour(), true)
	bad.StatusCode = 1000
	_, err := f.st.Write(t.Context(), []store.Result{up(m, hour().Add(time.Minute), false), bad})
	require.Error(t, err)
	assert.True(t, store.IsDataError(err), "%v", err)
	assert.Equal(t, 0, f.count(t, `SELECT count(*) FROM ping_logs`), "nothing of a failed batch is stored")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = f.st.Write(ctx, []store.Result{up(m, hour(), true)})
	require.Error(t, err)
	assert.False(t, store.IsDataError(err), "a cancelled write is not a data error")
}

func TestMaintenanceFunctions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	old := today.AddDate(0, 0, -40)
	n, err := store.EnsurePartitions(t.Context(), f.pool, old, old, time.Second)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = store.EnsurePartitions(t.Context(), f.pool, old, old, time.Second)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "idempotent")

	n, err = store.DropPartitionsBefore(t.Context(), f.pool, today.AddDate(0, 0, -30), time.Second)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, f.count(t, `SELECT count(*) FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace`,
		"ping_logs_p"+old.Format("20060102")))

	_, err = f.pool.Exec(t.Context(), `
		INSERT INTO monitor_rollups_hourly (monitor_id, bucket_start)
		SELECT $1, $2::timestamptz - g * interval '1 hour' FROM generate_series(0, 24) g`, m, old)
	require.NoError(t, err)
	deleted, err := store.DeleteRollupsBefore(t.Context(), f.pool, old.Add(-12*time.Hour+time.Minute), 5)
	require.NoError(t, err)
	assert.EqualValues(t, 13, deleted)
	assert.Equal(t, 12, f.count(t, `SELECT count(*) FROM monitor_rollups_hourly`))
}
