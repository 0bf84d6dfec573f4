package schedule_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

type dbFixture struct {
	fixture
	db     *postgres.DB
	userID string
}

func newDBFixture(t *testing.T) dbFixture {
	t.Helper()
	f := dbFixture{fixture: newFixture(t), db: testenv.Postgres(t)}
	require.NoError(t, f.db.Pool.QueryRow(t.Context(),
		`INSERT INTO users (email) VALUES ($1) RETURNING id::text`, uuid.NewString()+"@example.com").Scan(&f.userID))
	return f
}

// monitor inserts a monitors row and returns its id.
func (f dbFixture) monitor(t *testing.T, frequency int, active bool, config string) string {
	t.Helper()
	if config == "" {
		config = "{}"
	}
	id := uuid.NewString()
	_, err := f.db.Pool.Exec(t.Context(),
		`INSERT INTO monitors (id, user_id, name, url, frequency, is_active, config) VALUES ($1, $2, 'm', $3, $4, $5, $6)`,
		id, f.userID, "https://"+id+".example", frequency, active, config)
	require.NoError(t, err)
	return id
}

func (f dbFixture) reconciler(cfg schedule.ReconcilerConfig) *schedule.Reconciler {
	return schedule.NewReconciler(f.sched, schedule.NewPostgres(f.db.Pool), cfg)
}

// wipe deletes every key of the fixture's keyspace, as a lost Redis would.
func (f dbFixture) wipe(t *testing.T) {
	t.Helper()
	var keys []string
	iter := f.rdb.Scan(t.Context(), 0, f.ks.Key("*"), 1000).Iterator()
	for iter.Next(t.Context()) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	if len(keys) > 0 {
		require.NoError(t, f.rdb.Del(t.Context(), keys...).Err())
	}
}

func scheduledIDs(t *testing.T, f fixture) []string {
	t.Helper()
	ids, err := f.rdb.ZRange(t.Context(), f.keys.Due, 0, -1).Result()
	require.NoError(t, err)
	return ids
}

func TestReconcileRestoresAWipedScheduleFromPostgres(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	var active []string
	for i := range 10 {
		active = append(active, f.monitor(t, 60+i*60, true, `{"http":{"headers":{"B":"2","A":"1","C":"3"}}}`))
	}
	f.monitor(t, 60, false, "")
	f.monitor(t, 60, false, "")
	// Pages of 3 exercise keyset pagination.
	rec := f.reconciler(schedule.ReconcilerConfig{PageSize: 3})

	res, err := rec.Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{Added: 10}, res)
	assert.ElementsMatch(t, active, scheduledIDs(t, f.fixture))

	f.wipe(t)
	res, err = rec.Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{Added: 10}, res, "a wiped Redis gets the whole schedule back")
	assert.ElementsMatch(t, active, scheduledIDs(t, f.fixture))
	for i, id := range active {
		e, err := f.sched.Get(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, time.Duration(60+i*60)*time.Second, e.Frequency)
		due := e.Due.UnixMilli()
		assert.Equal(t, schedule.Phase(id, e.Frequency), due%e.Frequency.Milliseconds(), "restored on its phase")
	}

	res, err = rec.Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{}, res, "a schedule in step needs nothing")
}

func TestReconcileRemovesOrphansAndFixesChangedMonitors(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	rec := f.reconciler(schedule.ReconcilerConfig{})
	kept := f.monitor(t, 60, true, "")
	changed := f.monitor(t, 60, true, "")
	refrequenced := f.monitor(t, 60, true, "")
	paused := f.monitor(t, 60, true, "")
	deleted := f.monitor(t, 60, true, "")
	_, err := rec.Reconcile(t.Context())
	require.NoError(t, err)

	// Changes whose events were lost.
	exec := func(sql string, args ...any) {
		_, err := f.db.Pool.Exec(t.Context(), sql, args...)
		require.NoError(t, err)
	}
	exec(`UPDATE monitors SET url = 'https://moved.example' WHERE id = $1`, changed)
	exec(`UPDATE monitors SET frequency = 300 WHERE id = $1`, refrequenced)
	exec(`UPDATE monitors SET is_active = false WHERE id = $1`, paused)
	exec(`DELETE FROM monitors WHERE id = $1`, deleted)
	f.upsert(t, spec("never-in-postgres", minute, time.Now()))
	// A status update by the log-writer bumps updated_at but changes no job.
	exec(`UPDATE monitors SET status = 'UP', last_check = now() WHERE id = $1`, kept)

	res, err := rec.Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{Updated: 2, Removed: 3}, res)
	assert.ElementsMatch(t, []string{kept, changed, refrequenced}, scheduledIDs(t, f.fixture))
	e, err := f.sched.Get(t.Context(), changed)
	require.NoError(t, err)
	assert.Equal(t, "https://moved.example", e.Job.GetUrl())
	e, err = f.sched.Get(t.Context(), refrequenced)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, e.Frequency)
	for _, gone := range []string{paused, deleted, "never-in-postgres"} {
		_, err := f.sched.Get(t.Context(), gone)
		require.ErrorIs(t, err, schedule.ErrNotScheduled, gone)
	}
	n, err := f.rdb.HLen(t.Context(), f.keys.Versions).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 3, n, "no version or tombstone outlives its monitor")
}

// racingSource is PostgreSQL plus events applied while the reconcile
// reads: apply before its first page is read, after once it was read.
type racingSource struct {
	schedule.Source
	before, after func(context.Context)
	once          sync.Once
}

func (s *racingSource) ActiveMonitors(ctx context.Context, after string, limit int) ([]*eventsv1.MonitorSpec, error) {
	first := false
	s.once.Do(func() { first = true })
	if first && s.before != nil {
		s.before(ctx)
	}
	page, err := s.Source.ActiveMonitors(ctx, after, limit)
	if first && s.after != nil {
		s.after(ctx)
	}
	return page, err
}

func TestReconcileKeepsAMonitorCreatedWhileItRan(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	existing := f.monitor(t, 60, true, "")
	fresh := uuid.NewString()
	src := &racingSource{Source: schedule.NewPostgres(f.db.Pool), before: func(context.Context) {
		f.upsert(t, spec(fresh, minute, time.Now()))
	}}
	rec := schedule.NewReconciler(f.sched, src, schedule.ReconcilerConfig{})

	res, err := rec.Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{Added: 1}, res)
	assert.ElementsMatch(t, []string{existing, fresh}, scheduledIDs(t, f.fixture),
		"the monitor created during the reconcile is not taken for an orphan")
}

func TestReconcileDoesNotOverwriteANewerEvent(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	id := f.monitor(t, 60, true, "")
	newer := spec(id, minute, time.Now().Add(time.Hour))
	newer.Url = "https://from-a-newer-event.example"
	f.upsert(t, newer)

	res, err := f.reconciler(schedule.ReconcilerConfig{}).Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{}, res, "the row read is older than the spec held")
	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "https://from-a-newer-event.example", e.Job.GetUrl())
}

func TestReconcileMapsARowAsTheAPIDoes(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	id := f.monitor(t, 120, true, `{
		"http": {"method": "POST", "headers": {"X-B": "2", "X-A": "1"}, "body": "{}",
		         "expectedStatusCodes": [200, 204], "expectedText": "ok",
		         "expectedJsonPath": "$.status", "expectedJsonValue": "up",
		         "timeoutMs": 5000, "maxResponseBytes": 4096, "followRedirects": false},
		"ssl": {"alertBeforeDays": 14}}`)
	_, err := f.db.Pool.Exec(t.Context(),
		`UPDATE monitors SET monitor_type = 'HTTP', failure_threshold = 3, success_threshold = 2,
		 heartbeat_interval_seconds = 300, heartbeat_grace_seconds = 30, sealed_secrets = '\x0102',
		 maintenance_until = '2026-12-24T18:00:00Z' WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = f.db.Pool.Exec(t.Context(), `
		INSERT INTO maintenance_windows (monitor_id, days_of_week, start_minute, duration_minutes, timezone, enabled)
		VALUES ($1, '{0,6}', 120, 90, 'Europe/Madrid', true), ($1, '{1}', 0, 30, 'UTC', false)`, id)
	require.NoError(t, err)

	_, err = f.reconciler(schedule.ReconcilerConfig{}).Reconcile(t.Context())
	require.NoError(t, err)

	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	j := e.Job
	assert.Equal(t, 2*time.Minute, e.Frequency)
	assert.Equal(t, eventsv1.MonitorType_MONITOR_TYPE_HTTP, j.GetType())
	assert.Equal(t, "https://"+id+".example", j.GetUrl())
	assert.EqualValues(t, 5000, j.GetTimeoutMs())
	assert.EqualValues(t, 3, j.GetFailureThreshold())
	assert.EqualValues(t, 2, j.GetSuccessThreshold())
	assert.EqualValues(t, 14, j.GetSslAlertBeforeDays())
	assert.EqualValues(t, 300, j.GetHeartbeatIntervalSeconds())
	assert.EqualValues(t, 30, j.GetHeartbeatGraceSeconds())
	r := j.GetRequest()
	assert.Equal(t, "POST", r.GetMethod())
	assert.Equal(t, []*eventsv1.Header{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "2"}}, r.GetHeaders())
	assert.Equal(t, []byte("{}"), r.GetBody())
	assert.Equal(t, []int32{200, 204}, r.GetExpectedStatusCodes())
	assert.Equal(t, "ok", r.GetExpectedText())
	assert.Equal(t, "$.status", r.GetExpectedJsonPath())
	assert.Equal(t, `"up"`, r.GetExpectedJsonValue(), "the JSON value as the api passes it")
	assert.EqualValues(t, 4096, r.GetMaxResponseBytes())
	assert.False(t, r.GetFollowRedirects())
	assert.Equal(t, []byte{1, 2}, r.GetSealedSecrets())
	assert.Equal(t, time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC), j.GetMaintenanceUntil().AsTime())
	require.Len(t, j.GetMaintenanceWindows(), 1, "only enabled windows travel")
	w := j.GetMaintenanceWindows()[0]
	assert.Equal(t, []int32{0, 6}, w.GetDaysOfWeek())
	assert.EqualValues(t, 120, w.GetStartMinute())
	assert.EqualValues(t, 90, w.GetDurationMinutes())
	assert.Equal(t, "Europe/Madrid", w.GetTimeZone())
}

// TestAWipedScheduleGetsTheLastHeartbeatFromPostgres: a HEARTBEAT
// monitor's template carries its last ping as stored in PostgreSQL, the
// checkers' fallback when Redis lost its own record, so a Redis restored
// by the reconciler does not take a pinged monitor DOWN. A ping alone
// (no other change) does not make every reconcile rewrite the template.
func TestAWipedScheduleGetsTheLastHeartbeatFromPostgres(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	id := f.monitor(t, 300, true, "")
	pinged := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	_, err := f.db.Pool.Exec(t.Context(), `UPDATE monitors SET monitor_type = 'HEARTBEAT', heartbeat_interval_seconds = 300,
		heartbeat_last_received_at = $2 WHERE id = $1`, id, pinged)
	require.NoError(t, err)
	rec := f.reconciler(schedule.ReconcilerConfig{})
	_, err = rec.Reconcile(t.Context())
	require.NoError(t, err)
	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	require.NotNil(t, e.Job.GetHeartbeatLastReceivedAt())
	assert.Equal(t, pinged, e.Job.GetHeartbeatLastReceivedAt().AsTime())
	var created time.Time
	require.NoError(t, f.db.Pool.QueryRow(t.Context(), `SELECT created_at FROM monitors WHERE id = $1`, id).Scan(&created))
	require.NotNil(t, e.Job.GetHeartbeatExpectedSince(), "a HEARTBEAT job expects pings from its creation")
	assert.True(t, created.Equal(e.Job.GetHeartbeatExpectedSince().AsTime()))

	_, err = f.db.Pool.Exec(t.Context(), `UPDATE monitors SET heartbeat_last_received_at = $2 WHERE id = $1`, id, pinged.Add(5*time.Minute))
	require.NoError(t, err)
	res, err := rec.Reconcile(t.Context())
	require.NoError(t, err)
	assert.Equal(t, schedule.Result{}, res, "a newer ping alone is no drift")

	f.wipe(t)
	_, err = rec.Reconcile(t.Context())
	require.NoError(t, err)
	e, err = f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, pinged.Add(5*time.Minute), e.Job.GetHeartbeatLastReceivedAt().AsTime(), "the restored template has the latest ping")
}

// blockingSource holds a reconcile inside its first read until released.
type blockingSource struct {
	entered chan struct{}
	release chan struct{}
}

func (s *blockingSource) ActiveMonitors(ctx context.Context, _ string, _ int) ([]*eventsv1.MonitorSpec, error) {
	close(s.entered)
	select {
	case <-s.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestOnlyOneReconcilerRunsAtATime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := &blockingSource{entered: make(chan struct{}), release: make(chan struct{})}
	// A short lease shows that renewal, not the ttl, keeps it held.
	cfg := schedule.ReconcilerConfig{LeaseTTL: 300 * time.Millisecond}
	first := schedule.NewReconciler(f.sched, src, cfg)
	second := schedule.NewReconciler(f.sched, emptySource{}, cfg)

	done := make(chan error, 1)
	go func() {
		_, err := first.Reconcile(t.Context())
		done <- err
	}()
	<-src.entered

	assert.Never(t, func() bool {
		_, err := second.Reconcile(t.Context())
		return !errors.Is(err, schedule.ErrBusy)
	}, time.Second, 50*time.Millisecond, "the second reconciler is refused for three lease lifetimes")

	close(src.release)
	require.NoError(t, <-done)
	_, err := second.Reconcile(t.Context())
	require.NoError(t, err, "the lease is released when the reconcile ends")
}

func TestAReconcileThatLosesItsLeaseStops(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := &blockingSource{entered: make(chan struct{}), release: make(chan struct{})}
	rec := schedule.NewReconciler(f.sched, src, schedule.ReconcilerConfig{LeaseTTL: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := rec.Reconcile(t.Context())
		done <- err
	}()
	<-src.entered
	// Someone else took over (e.g. the lease expired during a long pause).
	require.NoError(t, f.rdb.Set(t.Context(), f.keys.ReconcilerLease, "another", 0).Err())

	select {
	case err := <-done:
		require.ErrorIs(t, err, schedule.ErrLeaseLost)
	case <-time.After(5 * time.Second):
		t.Fatal("the reconcile went on without its lease")
	}
	holder, err := f.rdb.Get(t.Context(), f.keys.ReconcilerLease).Result()
	require.NoError(t, err)
	assert.Equal(t, "another", holder, "the loser does not release its successor's lease")
}

type emptySource struct{}

func (emptySource) ActiveMonitors(context.Context, string, int) ([]*eventsv1.MonitorSpec, error) {
	return nil, nil
}

func TestReconcileDoesNotBringBackAMonitorDeletedWhileItRan(t *testing.T) {
	t.Parallel()
	f := newDBFixture(t)
	id := f.monitor(t, 60, true, "")
	rec := f.reconciler(schedule.ReconcilerConfig{})
	_, err := rec.Reconcile(t.Context())
	require.NoError(t, err)
	// The log-writer's status updates make the row newer than the spec held.
	_, err = f.db.Pool.Exec(t.Context(), `UPDATE monitors SET status = 'UP' WHERE id = $1`, id)
	require.NoError(t, err)
	// The row is read, then the monitor is deleted and its event applied
	// before the reconcile writes: the tombstone wins.
	src := &racingSource{Source: schedule.NewPostgres(f.db.Pool), after: func(ctx context.Context) {
		require.NoError(t, f.sched.Remove(ctx, id))
	}}
	_, err = schedule.NewReconciler(f.sched, src, schedule.ReconcilerConfig{}).Reconcile(t.Context())
	require.NoError(t, err)
	_, err = f.sched.Get(t.Context(), id)
	require.ErrorIs(t, err, schedule.ErrNotScheduled)
}
