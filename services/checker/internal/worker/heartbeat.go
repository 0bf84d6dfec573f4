package worker

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/services/checker/internal/probe"
)

// Failures of a HEARTBEAT monitor, as the replaced service worded them
// (the second was "Heartbeat has not been configured" there).
const (
	HeartbeatOverdue     = "Heartbeat overdue"
	HeartbeatNeverPinged = "Heartbeat has not been received yet"
	heartbeatNoInterval  = "Heartbeat interval is not configured"
)

// checkHeartbeat judges a HEARTBEAT (push) monitor: nothing is sent, the
// check is whether a ping arrived within interval + grace before now. The
// last ping comes from Redis, where the api records it, because the job
// template is written when the monitor changes, not when it is pinged; a
// job carrying heartbeat_last_received_at is the fallback when Redis holds
// none. due is false while a new monitor still waits for its first ping
// (heartbeat_expected_since, its creation): such a job records no result. A Redis error is returned (the job stays
// pending) rather than recorded as the monitor's failure.
func (w *Worker) checkHeartbeat(ctx context.Context, job Job) (res probe.Result, due bool, err error) {
	last, ok, err := heartbeat.New(w.rdb, w.ks).Last(ctx, job.Req.GetMonitorId())
	if err != nil {
		return probe.Result{}, false, fmt.Errorf("check heartbeat of %s: %w", job.Req.GetJobId(), err)
	}
	if !ok && job.Req.GetHeartbeatLastReceivedAt() != nil {
		last, ok = job.Req.GetHeartbeatLastReceivedAt().AsTime(), true
	}
	var since time.Time
	if s := job.Req.GetHeartbeatExpectedSince(); s != nil {
		since = s.AsTime()
	}
	interval := time.Duration(job.Req.GetHeartbeatIntervalSeconds()) * time.Second
	grace := time.Duration(job.Req.GetHeartbeatGraceSeconds()) * time.Second
	res, due = evaluateHeartbeat(w.now(), last, ok, since, interval, grace)
	return res, due, nil
}

// evaluateHeartbeat is the rule: success (200) when the last ping is at
// most interval + grace old at now; overdue (504) otherwise; never pinged
// is a failure without a status code. A ping stamped after now (clocks of
// the api and the checker a little apart) counts as on time. Without a
// ping since since, the monitor is not due (no result) until interval +
// grace after since: a new monitor gets one period for its first ping
// instead of failing at once.
func evaluateHeartbeat(now, last time.Time, received bool, since time.Time, interval, grace time.Duration) (probe.Result, bool) {
	switch {
	case interval <= 0:
		return probe.Result{Error: heartbeatNoInterval}, true
	case (!received || last.Before(since)) && now.Sub(since) <= interval+grace:
		return probe.Result{}, false
	case !received:
		return probe.Result{Error: HeartbeatNeverPinged}, true
	case now.Sub(last) <= interval+grace:
		return probe.Result{Success: true, StatusCode: http.StatusOK}, true
	default:
		return probe.Result{StatusCode: http.StatusGatewayTimeout, Error: HeartbeatOverdue}, true
	}
}
