package main

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

func TestRunNamesEveryMissingOrMalformedVariable(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
		"SCHEDULER_HTTP_PORT":   "http",
		"LOG_LEVEL":             "loud",
		"REDIS_PORT":            "99999",
		"CLAIM_INTERVAL_MS":     "50",
		"CLAIM_BATCH":           "0",
		"RECONCILE_INTERVAL_MS": "10",
	}))
	require.Error(t, err)
	for _, want := range []string{
		"DATABASE_URL: is required", "REDIS_HOST: is required",
		"SCHEDULER_HTTP_PORT: must be an integer",
		"LOG_LEVEL: must be debug, info, warn or error",
		"REDIS_PORT: must be 1..65535",
		"CLAIM_INTERVAL_MS: must be 100..250, got 50",
		"CLAIM_BATCH: must be 1..50000, got 0",
		"RECONCILE_INTERVAL_MS: must be 1000..86400000, got 10",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestRunServesHealthAndMetricsAndStopsOnSignal(t *testing.T) {
	t.Parallel()
	env := testenv.ServiceEnv(t)
	port := testenv.FreePort(t)
	env["SCHEDULER_HTTP_PORT"] = strconv.Itoa(port)
	stop := testenv.StartService(t, run, env, port)

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for _, path := range []string{"/health/liveness", "/health/readiness", "/health", "/metrics"} {
		code, err := testenv.GetStatus(base + path)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code, path)
	}
	require.NoError(t, stop(), "a clean shutdown returns no error")
	_, err := testenv.GetStatus(base + "/health/liveness")
	assert.Error(t, err, "the port is closed after shutdown")
}

// nearIDs returns n monitor ids whose first 60 s slot after fromMs falls
// before toMs: the phase is a hash of the id, so picking ids picks slots.
func nearIDs(n int, fromMs, toMs int64) map[string]int64 {
	out := map[string]int64{}
	for len(out) < n {
		id := uuid.NewString()
		if slot := schedule.FirstSlot(id, time.Minute, fromMs); slot < toMs {
			out[id] = slot
		}
	}
	return out
}

func TestSchedulerReplicasEmitJobsForPostgresMonitorsAndFollowChanges(t *testing.T) {
	t.Parallel()
	env := testenv.ServiceEnv(t)
	env["CLAIM_INTERVAL_MS"] = "100"
	// Only the reconcile at start runs in this test; later changes come
	// as events.
	env["RECONCILE_INTERVAL_MS"] = "600000"
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rdb := testenv.NewRedisClient(t)
	ks := stream.NewKeyspace(env["REDIS_KEY_PREFIX"])
	keys := schedule.KeysOf(ks)

	now, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	from, to := now.UnixMilli()+3000, now.UnixMilli()+4000
	expected := nearIDs(6, from, to)
	inactive := nearIDs(1, from, to)
	var userID string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO users (email) VALUES ('owner@example.com') RETURNING id::text`).Scan(&userID))
	insert := func(id string, active bool) {
		_, err := pool.Exec(ctx, `INSERT INTO monitors (id, user_id, name, url, frequency, is_active) VALUES ($1, $2, 'm', 'https://a.example', 60, $3)`,
			id, userID, active)
		require.NoError(t, err)
	}
	var viaEvent string
	for id := range expected {
		if viaEvent == "" {
			viaEvent = id // created after the scheduler started
			continue
		}
		insert(id, true)
	}
	for id := range inactive {
		insert(id, false)
	}

	for range 2 {
		port := testenv.FreePort(t)
		replica := maps.Clone(env)
		replica["SCHEDULER_HTTP_PORT"] = strconv.Itoa(port)
		testenv.StartService(t, run, replica, port)
		t.Cleanup(func() {
			body := get(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/metrics")
			assert.Contains(t, body, "uptime_scheduler_jobs_emitted_total")
			assert.Contains(t, body, `uptime_scheduler_reconcile_total{result="ok"}`)
		})
	}

	insert(viaEvent, true)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	publishChange(t, pub, &eventsv1.MonitorChanged{MonitorId: viaEvent, Kind: eventsv1.ChangeKind_CHANGE_KIND_CREATED, UserId: userID,
		Monitor: &eventsv1.MonitorSpec{Id: viaEvent, UserId: userID, Url: "https://a.example", FrequencySeconds: 60, IsActive: true,
			Type: eventsv1.MonitorType_MONITOR_TYPE_HTTP, UpdatedAt: timestamppb.Now()}})

	var xs []redis.XMessage
	require.Eventually(t, func() bool {
		xs, err = rdb.XRange(ctx, keys.Jobs, "-", "+").Result()
		require.NoError(t, err)
		return len(xs) >= len(expected)
	}, 8*time.Second, 20*time.Millisecond, "a job for every monitor at its first slot")

	got := map[string]int64{}
	for _, x := range xs {
		e, err := events.Unmarshal([]byte(x.Values["d"].(string)))
		require.NoError(t, err)
		id := e.GetCheckRequested().GetMonitorId()
		slot, err := strconv.ParseInt(x.Values["s"].(string), 10, 64)
		require.NoError(t, err)
		_, dup := got[id]
		assert.False(t, dup, "monitor %s emitted twice", id)
		got[id] = slot
		emittedMs, err := strconv.ParseInt(strings.SplitN(x.ID, "-", 2)[0], 10, 64)
		require.NoError(t, err)
		assert.Less(t, emittedMs-slot, int64(1000), "emitted within a second of its slot")
		assert.GreaterOrEqual(t, emittedMs, slot, "never before its slot")
	}
	assert.Equal(t, expected, got, "each active monitor once, at its phase-spread slot; the paused one never")

	// A deletion takes effect within a second.
	publishChange(t, pub, &eventsv1.MonitorChanged{MonitorId: viaEvent, Kind: eventsv1.ChangeKind_CHANGE_KIND_DELETED, UserId: userID})
	require.Eventually(t, func() bool {
		_, err := rdb.ZScore(ctx, keys.Due, viaEvent).Result()
		return errors.Is(err, redis.Nil)
	}, 2*time.Second, 20*time.Millisecond, "the deleted monitor leaves the schedule")
	size, err := rdb.ZCard(ctx, keys.Due).Result()
	require.NoError(t, err)
	assert.EqualValues(t, len(expected)-1, size)
}

func publishChange(t *testing.T, pub *stream.Publisher, ch *eventsv1.MonitorChanged) {
	t.Helper()
	env, err := events.New("api/test", ch)
	require.NoError(t, err)
	b, err := events.Marshal(env)
	require.NoError(t, err)
	_, err = pub.Publish(t.Context(), stream.Monitors, b)
	require.NoError(t, err)
}

func get(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
