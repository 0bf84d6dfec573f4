package worker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/secretbox"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/probe"
	"github.com/servercheck/uptime/services/checker/internal/status"
	"github.com/servercheck/uptime/services/checker/internal/worker"
)

type fixture struct {
	rdb *redis.Client
	ks  stream.Keyspace
	pub *stream.Publisher
	w   *worker.Worker
	// box holds the checker's MONITOR_SECRETS_KEY, random per fixture.
	box *secretbox.Box
	// logs is every line the worker and its prober logged, Debug included.
	logs *lockedBuffer
}

// lockedBuffer collects log lines written from any goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func randomKey(t *testing.T) secretbox.Key {
	t.Helper()
	raw := make([]byte, secretbox.KeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	k, err := secretbox.NewKey(raw)
	require.NoError(t, err)
	return k
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb, ks := testenv.Redis(t)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	allow, err := netguard.ParseAllowlist("127.0.0.0/8")
	require.NoError(t, err)
	prober := probe.New(probe.Config{
		MaxConnsPerDomain: 10, KeepAlive: true, IdleTimeout: time.Minute, ConnectTimeout: time.Second,
		AttemptTimeout: 2 * time.Second, MaxRetries: 1, BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		BreakerFailures: 100, BreakerDelay: time.Second, MaxRedirects: 5,
	}, netguard.New(allow), prometheus.NewRegistry(), logger)
	t.Cleanup(prober.CloseIdleConnections)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	box := secretbox.New(randomKey(t))
	w := worker.New(prober, status.NewTracker(rdb, ks), rdb, pub, box, "checker-test", nil, logger)
	require.NoError(t, stream.EnsureGroup(t.Context(), rdb, ks.Key(stream.Jobs), worker.Group, "0"))
	return fixture{rdb: rdb, ks: ks, pub: pub, w: w, box: box, logs: logs}
}

// job publishes a template job for url at slot, the way the scheduler's
// script does, reads it as the checker group and returns the message.
func (f fixture) job(t *testing.T, monitorID, url string, slot time.Time) stream.Message {
	t.Helper()
	return f.jobWith(t, monitorID, url, slot, &eventsv1.HTTPRequest{Method: "GET", FollowRedirects: true, MaxResponseBytes: 1 << 20})
}

// jobWith is job with the given request.
func (f fixture) jobWith(t *testing.T, monitorID, url string, slot time.Time, req *eventsv1.HTTPRequest) stream.Message {
	t.Helper()
	return f.jobOf(t, &eventsv1.CheckRequested{
		MonitorId: monitorID, Url: url, Type: eventsv1.MonitorType_MONITOR_TYPE_HTTP, TimeoutMs: 2000,
		FailureThreshold: 1, SuccessThreshold: 1, Request: req,
	}, slot)
}

// jobOf publishes the job template job for its slot and reads it back as
// the checker group.
func (f fixture) jobOf(t *testing.T, job *eventsv1.CheckRequested, slot time.Time) stream.Message {
	t.Helper()
	monitorID := job.GetMonitorId()
	env, err := events.New("test", job)
	require.NoError(t, err)
	tpl, err := events.Marshal(env)
	require.NoError(t, err)
	require.NoError(t, f.rdb.ZAdd(t.Context(), f.ks.Key("sched:inflight"), redis.Z{Score: float64(slot.Add(time.Minute).UnixMilli()), Member: monitorID}).Err())
	_, err = f.rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: f.ks.Key(stream.Jobs), Values: []any{
		"d", tpl, "s", strconv.FormatInt(slot.UnixMilli(), 10), "l", strconv.FormatInt(slot.Add(time.Minute).UnixMilli(), 10),
	}}).Result()
	require.NoError(t, err)
	res, err := f.rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: worker.Group, Consumer: "c", Streams: []string{f.ks.Key(stream.Jobs), ">"}, Count: 1, Block: time.Second}).Result()
	require.NoError(t, err)
	x := res[0].Messages[0]
	d, _ := x.Values["d"].(string)
	return stream.Message{ID: x.ID, Stream: stream.Jobs, Payload: []byte(d), Deliveries: 1,
		Fields: map[string]string{"s": x.Values["s"].(string), "l": x.Values["l"].(string)}}
}

// pendingJobs is the number of jobs read by the checker group and not acked.
func (f fixture) pendingJobs(t *testing.T) int64 {
	t.Helper()
	pending, err := f.rdb.XPending(t.Context(), f.ks.Key(stream.Jobs), worker.Group).Result()
	require.NoError(t, err)
	return pending.Count
}

// leases is the number of monitors holding an in-flight lease.
func (f fixture) leases(t *testing.T) int64 {
	t.Helper()
	n, err := f.rdb.ZCard(t.Context(), f.ks.Key("sched:inflight")).Result()
	require.NoError(t, err)
	return n
}

func (f fixture) entries(t *testing.T, s string) []*eventsv1.Envelope {
	t.Helper()
	xs, err := f.rdb.XRange(t.Context(), f.ks.Key(s), "-", "+").Result()
	require.NoError(t, err)
	out := make([]*eventsv1.Envelope, 0, len(xs))
	for _, x := range xs {
		env, err := events.Unmarshal([]byte(x.Values["d"].(string)))
		require.NoError(t, err)
		out = append(out, env)
	}
	return out
}

func TestAJobBecomesOneResultAndOneStatusChangeAndIsAcked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var failing atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(target.Close)
	slot := time.Now().Truncate(time.Minute)

	// Slot 1: UP (from PENDING). Slot 2: DOWN. Slot 2 again (redelivery): nothing new flips.
	require.NoError(t, f.w.Handle(t.Context(), f.job(t, "m1", target.URL, slot)))
	failing.Store(true)
	second := f.job(t, "m1", target.URL, slot.Add(time.Minute))
	require.NoError(t, f.w.Handle(t.Context(), second))
	require.NoError(t, f.w.Handle(t.Context(), second), "a redelivered job is handled again")

	results := f.entries(t, stream.Results)
	require.Len(t, results, 3)
	first := results[0].GetCheckCompleted()
	assert.True(t, first.GetSuccess())
	assert.EqualValues(t, 200, first.GetStatusCode())
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_UP, first.GetNewStatus())
	assert.True(t, first.GetStatusChanged())
	assert.Equal(t, events.JobID("m1", slot), first.GetJobId())
	assert.Equal(t, slot.UnixMilli(), first.GetSlot().AsTime().UnixMilli())
	assert.Positive(t, first.GetTimings().GetTotalUs())

	down := results[1].GetCheckCompleted()
	assert.False(t, down.GetSuccess())
	assert.Equal(t, "Unexpected status code: 503", down.GetError())
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, down.GetNewStatus())
	assert.Equal(t, results[2].GetCheckCompleted().GetSlot().AsTime(), down.GetSlot().AsTime(), "the redelivery repeats the same slot")

	changes := f.entries(t, stream.Events)
	require.Len(t, changes, 2, "PENDING->UP and UP->DOWN; the redelivered slot emits nothing twice")
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, changes[1].GetMonitorStatusChanged().GetTo())
	assert.Equal(t, "Unexpected status code: 503", changes[1].GetMonitorStatusChanged().GetCause())

	assert.Zero(t, f.pendingJobs(t), "jobs are acked with their result")
	assert.Zero(t, f.leases(t), "the in-flight lease is released")
}

func TestAMalformedJobIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	err := f.w.Handle(t.Context(), stream.Message{ID: "1-0", Payload: []byte("garbage"), Fields: map[string]string{"s": "1"}})
	require.ErrorIs(t, err, worker.ErrBadJob)
}

func TestAnInterruptedCheckLeavesTheJobPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(func() { close(release); target.Close() })
	msg := f.job(t, "m2", target.URL, time.Now().Truncate(time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	require.Error(t, f.w.Handle(ctx, msg))
	assert.Empty(t, f.entries(t, stream.Results), "no false failure is recorded")
}

// TestAJobPastItsDeadlineIsDroppedUnchecked: a job read after its
// monitor's next slot (checkers saturated, or reclaimed from a dead checker
// after its lease) sends no request and records no result, so it cannot
// take a healthy monitor DOWN; it is acked and its lease released, and the
// drop is counted.
func TestAJobPastItsDeadlineIsDroppedUnchecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	w := worker.New(nil, status.NewTracker(f.rdb, f.ks), f.rdb, f.pub, f.box, "checker-test", reg, testenv.Discard())
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)

	// The lease (slot + 1 min) ended a minute ago.
	stale := f.job(t, "m-stale", target.URL, time.Now().Add(-2*time.Minute))
	require.NoError(t, w.Handle(t.Context(), stale))

	assert.Zero(t, hits.Load(), "no request was sent")
	assert.Empty(t, f.entries(t, stream.Results), "no result is recorded")
	assert.Empty(t, f.entries(t, stream.Events), "no status changes")
	assert.Zero(t, f.pendingJobs(t), "the job is acked")
	assert.Zero(t, f.leases(t), "its lease is released")
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1)
	assert.Equal(t, "uptime_checker_jobs_expired_total", families[0].GetName())
	assert.InDelta(t, 1, families[0].GetMetric()[0].GetCounter().GetValue(), 0)
}
