package writer

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
)

// ErrMalformed reports a results entry that can never be written: not a
// CheckCompleted envelope, or one without a usable monitor id or slot.
var ErrMalformed = errors.New("malformed result")

var statuses = map[eventsv1.MonitorStatus]string{
	eventsv1.MonitorStatus_MONITOR_STATUS_PENDING:     store.StatusPending,
	eventsv1.MonitorStatus_MONITOR_STATUS_UP:          store.StatusUp,
	eventsv1.MonitorStatus_MONITOR_STATUS_DOWN:        store.StatusDown,
	eventsv1.MonitorStatus_MONITOR_STATUS_MAINTENANCE: store.StatusMaintenance,
}

// Decode turns a results entry (an Envelope with a CheckCompleted) into the
// row to write.
//
// Conversions: times are truncated to microseconds (PostgreSQL's
// precision, so that the slot read back equals the key); the duration is
// finished - started (the whole check, retries included) or, without both
// times, the last attempt's total; phase timings of 0 (the phase did not
// happen) become NULL; attempts of 0 (no request sent: the circuit breaker
// was open) are stored as 1 because ping_logs requires attempts >= 1. Values
// out of the table's range (a status code of 1000) are left for the
// database to refuse: such a row is isolated as poison.
func Decode(payload []byte) (store.Result, error) {
	env, err := events.Unmarshal(payload)
	if err != nil {
		return store.Result{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	c := env.GetCheckCompleted()
	if c == nil {
		return store.Result{}, fmt.Errorf("%w: envelope %s carries %s, not a CheckCompleted", ErrMalformed, env.GetEventId(), env.GetType())
	}
	id, err := uuid.Parse(c.GetMonitorId())
	if err != nil {
		return store.Result{}, fmt.Errorf("%w: job %s: monitor id %q: %w", ErrMalformed, c.GetJobId(), c.GetMonitorId(), err)
	}
	if !validTime(c.GetSlot()) {
		return store.Result{}, fmt.Errorf("%w: job %s: no valid slot", ErrMalformed, c.GetJobId())
	}
	r := store.Result{
		MonitorID:        id,
		Slot:             c.GetSlot().AsTime().Truncate(time.Microsecond),
		StatusCode:       c.GetStatusCode(),
		Attempts:         max(c.GetAttempts(), 1),
		Success:          c.GetSuccess(),
		ConnectionReused: c.GetConnectionReused(),
		Maintenance:      c.GetMaintenance(),
		Error:            optional(c.GetError()),
		Warning:          optional(c.GetWarning()),
		NewStatus:        statuses[c.GetNewStatus()],
		StatusChanged:    c.GetStatusChanged(),
		Checker:          c.GetChecker(),
	}
	r.Finished = r.Slot
	if validTime(c.GetFinishedAt()) {
		r.Finished = c.GetFinishedAt().AsTime().Truncate(time.Microsecond)
	}
	t := c.GetTimings()
	switch {
	case validTime(c.GetStartedAt()) && validTime(c.GetFinishedAt()):
		r.DurationMs = clampMs(c.GetFinishedAt().AsTime().Sub(c.GetStartedAt().AsTime()).Milliseconds())
	default:
		r.DurationMs = clampMs(t.GetTotalUs() / 1000)
	}
	r.DNSMs = phaseMs(t.GetDnsUs())
	r.ConnectMs = phaseMs(t.GetConnectUs())
	r.TLSMs = phaseMs(t.GetTlsUs())
	r.FirstByteMs = phaseMs(t.GetFirstByteUs())
	if validTime(c.GetCertificateExpiresAt()) {
		e := c.GetCertificateExpiresAt().AsTime().Truncate(time.Microsecond)
		r.CertificateExpiresAt = &e
	}
	return r, nil
}

func validTime(ts *timestamppb.Timestamp) bool {
	return ts != nil && ts.IsValid() && (ts.GetSeconds() != 0 || ts.GetNanos() != 0)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func phaseMs(us int64) *float32 {
	if us <= 0 {
		return nil
	}
	ms := float32(us) / 1000
	return &ms
}

func clampMs(ms int64) int32 {
	return int32(min(max(ms, 0), 1<<31-1))
}
