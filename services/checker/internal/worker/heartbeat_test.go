package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/worker"
)

// TestAHeartbeatMonitorGoesThroughTheNormalResultPath: a heartbeat check
// sends nothing, and its result, status transition and status change are
// published like an HTTP check's, so incidents and emails follow.
func TestAHeartbeatMonitorGoesThroughTheNormalResultPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hb := heartbeat.New(f.rdb, f.ks)
	slot := time.Now().Truncate(time.Minute)
	job := func(intervalSeconds int32) *eventsv1.CheckRequested {
		return &eventsv1.CheckRequested{
			MonitorId: "m-hb", Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT,
			FailureThreshold: 1, SuccessThreshold: 1, HeartbeatIntervalSeconds: intervalSeconds,
		}
	}

	// Pinged 10 s ago: on time for an interval of 60 s (UP), overdue for
	// one of 5 s (DOWN); pinged now: UP again.
	require.NoError(t, hb.Record(t.Context(), "m-hb", time.Now().Add(-10*time.Second)))
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job(60), slot)))
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job(5), slot.Add(time.Minute))))
	require.NoError(t, hb.Record(t.Context(), "m-hb", time.Now()))
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job(5), slot.Add(2*time.Minute))))

	results := f.entries(t, stream.Results)
	require.Len(t, results, 3)
	for i, want := range []struct {
		success bool
		code    int32
		err     string
		status  eventsv1.MonitorStatus
	}{
		{true, 200, "", eventsv1.MonitorStatus_MONITOR_STATUS_UP},
		{false, 504, worker.HeartbeatOverdue, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN},
		{true, 200, "", eventsv1.MonitorStatus_MONITOR_STATUS_UP},
	} {
		r := results[i].GetCheckCompleted()
		assert.Equal(t, want.success, r.GetSuccess(), "result %d", i)
		assert.Equal(t, want.code, r.GetStatusCode(), "result %d", i)
		assert.Equal(t, want.err, r.GetError(), "result %d", i)
		assert.Equal(t, want.status, r.GetNewStatus(), "result %d", i)
		assert.Zero(t, r.GetAttempts(), "result %d: nothing is sent", i)
	}
	changes := f.entries(t, stream.Events)
	require.Len(t, changes, 3, "PENDING->UP, UP->DOWN, DOWN->UP")
	assert.Equal(t, worker.HeartbeatOverdue, changes[1].GetMonitorStatusChanged().GetCause())
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, changes[1].GetMonitorStatusChanged().GetTo())
	assert.Zero(t, f.pendingJobs(t), "heartbeat jobs are acked with their result")
}

func TestAHeartbeatMonitorNeverPingedIsDownFromPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, &eventsv1.CheckRequested{
		MonitorId: "m-silent", Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT, HeartbeatIntervalSeconds: 60,
	}, time.Now().Truncate(time.Minute))))
	results := f.entries(t, stream.Results)
	require.Len(t, results, 1)
	r := results[0].GetCheckCompleted()
	assert.False(t, r.GetSuccess())
	assert.Zero(t, r.GetStatusCode())
	assert.Equal(t, worker.HeartbeatNeverPinged, r.GetError())
	changes := f.entries(t, stream.Events)
	require.Len(t, changes, 1)
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_PENDING, changes[0].GetMonitorStatusChanged().GetFrom(),
		"from PENDING: the notifier sends no email for it")
}

// TestANewHeartbeatMonitorWaitsForItsFirstPing: created a moment ago and
// not pinged yet, it records no result, so it stays PENDING instead of
// going DOWN before its owner could ping it.
func TestANewHeartbeatMonitorWaitsForItsFirstPing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, &eventsv1.CheckRequested{
		MonitorId: "m-new", Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT, HeartbeatIntervalSeconds: 60,
		HeartbeatExpectedSince: timestamppb.New(time.Now().Add(-10 * time.Second)),
	}, time.Now().Truncate(time.Minute))))
	assert.Empty(t, f.entries(t, stream.Results), "no result while the first ping is awaited")
	assert.Empty(t, f.entries(t, stream.Events))
	assert.Zero(t, f.pendingJobs(t), "the job is acked")
	assert.Zero(t, f.leases(t), "its lease is released")
}
