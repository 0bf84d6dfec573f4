package worker

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/probe"
	"github.com/servercheck/uptime/services/checker/internal/status"
)

// TestCheckHeartbeat runs checkHeartbeat on real Redis with the worker's
// clock fixed, so every boundary is exact.
func TestCheckHeartbeat(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	ok := probe.Result{Success: true, StatusCode: 200}
	overdue := probe.Result{StatusCode: 504, Error: HeartbeatOverdue}
	notDue := probe.Result{}
	tests := []struct {
		name     string
		redis    *time.Time // ping recorded in Redis
		job      *time.Time // heartbeat_last_received_at of the job
		interval int32
		grace    int32
		want     probe.Result // notDue: no result at all
		since    *time.Time   // heartbeat_expected_since of the job
	}{
		{"a ping within the interval is a success", ago(30 * time.Second), nil, 60, 0, ok, nil},
		{"a ping exactly interval + grace old is still a success", ago(70 * time.Second), nil, 60, 10, ok, nil},
		{"a ping one millisecond past interval + grace is overdue", ago(70*time.Second + time.Millisecond), nil, 60, 10, overdue, nil},
		{"the grace extends the interval", ago(90 * time.Second), nil, 60, 30, ok, nil},
		{"a ping long ago is overdue", ago(24 * time.Hour), nil, 3600, 60, overdue, nil},
		{"a ping stamped after now (clock skew) is on time", ago(-2 * time.Second), nil, 60, 0, ok, nil},
		{"a monitor never pinged fails without a status code", nil, nil, 60, 0, probe.Result{Error: HeartbeatNeverPinged}, nil},
		{"the job's last ping is used when Redis has none", nil, ago(30 * time.Second), 60, 0, ok, nil},
		{"the job's stale last ping can be overdue too", nil, ago(2 * time.Minute), 60, 0, overdue, nil},
		{"Redis wins over the job's older time", ago(10 * time.Second), ago(time.Hour), 60, 0, ok, nil},
		{"a monitor without an interval fails", ago(time.Second), nil, 0, 0, probe.Result{Error: heartbeatNoInterval}, nil},
		{"a new monitor not pinged yet is not due within interval + grace", nil, nil, 60, 10, notDue, ago(70 * time.Second)},
		{"a new monitor not pinged within interval + grace fails", nil, nil, 60, 10, probe.Result{Error: HeartbeatNeverPinged}, ago(70*time.Second + time.Millisecond)},
		{"a ping from before since does not count while the monitor waits", ago(2 * time.Hour), nil, 60, 0, notDue, ago(10 * time.Second)},
		{"once the wait is over the old ping is overdue", ago(2 * time.Hour), nil, 60, 0, overdue, ago(2 * time.Minute)},
		{"a ping after since is judged at once", ago(5 * time.Second), nil, 60, 0, ok, ago(10 * time.Second)},
	}
	rdb, ks := testenv.Redis(t)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	w := New(nil, status.NewTracker(rdb, ks), rdb, pub, nil, "checker-test", nil, testenv.Discard())
	w.now = func() time.Time { return now }
	hb := heartbeat.New(rdb, ks)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "hb-" + strconv.Itoa(i)
			if tt.redis != nil {
				require.NoError(t, hb.Record(t.Context(), id, *tt.redis))
			}
			req := &eventsv1.CheckRequested{
				MonitorId: id, JobId: id + ":1", Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT,
				HeartbeatIntervalSeconds: tt.interval, HeartbeatGraceSeconds: tt.grace,
			}
			if tt.job != nil {
				req.HeartbeatLastReceivedAt = timestamppb.New(*tt.job)
			}
			if tt.since != nil {
				req.HeartbeatExpectedSince = timestamppb.New(*tt.since)
			}
			got, due, err := w.checkHeartbeat(t.Context(), Job{Req: req, Slot: now})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want != notDue, due)
		})
	}
}

func TestCheckHeartbeatReturnsARedisErrorInsteadOfAFailure(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	w := New(nil, status.NewTracker(rdb, ks), rdb, pub, nil, "checker-test", nil, testenv.Discard())
	require.NoError(t, rdb.Set(t.Context(), heartbeat.New(rdb, ks).Key("m1"), "not-a-time", 0).Err())
	_, _, err := w.checkHeartbeat(t.Context(), Job{Req: &eventsv1.CheckRequested{
		MonitorId: "m1", Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT, HeartbeatIntervalSeconds: 60,
	}})
	require.Error(t, err)
}
