package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// ErrBadChange reports a monitors entry that can never be applied; the
// stream library dead-letters it after its last delivery.
var ErrBadChange = errors.New("unusable monitor change")

// Schedule is what the change handler does to the schedule.
type Schedule interface {
	Upsert(ctx context.Context, spec *eventsv1.MonitorSpec) (bool, error)
	Remove(ctx context.Context, id string) error
}

// ChangeHandler applies MonitorChanged events from the monitors stream to
// the schedule. It is idempotent, and a spec older than the one applied is
// ignored, so redelivered entries are harmless.
type ChangeHandler struct {
	sched   Schedule
	metrics *Metrics
	logger  *slog.Logger
}

// NewChangeHandler returns the monitors stream handler.
func NewChangeHandler(sched Schedule, metrics *Metrics, logger *slog.Logger) *ChangeHandler {
	return &ChangeHandler{sched: sched, metrics: metrics, logger: logger.With("component", "monitor_changes")}
}

// Handle implements stream.Handler.
func (h *ChangeHandler) Handle(ctx context.Context, msg stream.Message) error {
	env, err := events.Unmarshal(msg.Payload)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrBadChange, msg.ID, err)
	}
	ch := env.GetMonitorChanged()
	if ch == nil {
		return fmt.Errorf("%w %s: envelope holds %s", ErrBadChange, msg.ID, env.GetType())
	}
	id := ch.GetMonitorId()
	spec := ch.GetMonitor()
	if id == "" {
		id = spec.GetId()
	}
	if id == "" || (spec != nil && spec.GetId() != "" && spec.GetId() != id) {
		return fmt.Errorf("%w %s: monitor id %q, spec id %q", ErrBadChange, msg.ID, ch.GetMonitorId(), spec.GetId())
	}

	applied := true
	switch ch.GetKind() {
	case eventsv1.ChangeKind_CHANGE_KIND_CREATED, eventsv1.ChangeKind_CHANGE_KIND_UPDATED, eventsv1.ChangeKind_CHANGE_KIND_RESUMED:
		if spec == nil {
			return fmt.Errorf("%w %s: %s of monitor %s without spec", ErrBadChange, msg.ID, ch.GetKind(), id)
		}
		applied, err = h.sched.Upsert(ctx, withID(spec, id))
	case eventsv1.ChangeKind_CHANGE_KIND_PAUSED:
		if spec == nil {
			err = h.sched.Remove(ctx, id)
			break
		}
		// An inactive spec removes with its version, so an older
		// update delivered late cannot bring the monitor back.
		paused := withID(spec, id)
		paused.IsActive = false
		applied, err = h.sched.Upsert(ctx, paused)
	case eventsv1.ChangeKind_CHANGE_KIND_DELETED:
		err = h.sched.Remove(ctx, id)
	default:
		return fmt.Errorf("%w %s: kind %s", ErrBadChange, msg.ID, ch.GetKind())
	}
	if err != nil {
		return fmt.Errorf("apply %s of monitor %s: %w", ch.GetKind(), id, err)
	}
	outcome := "applied"
	if !applied {
		outcome = "stale"
	}
	h.metrics.changes.WithLabelValues(outcome).Inc()
	h.logger.Debug("monitor_change_handled", "monitor_id", id, "kind", ch.GetKind().String(), "outcome", outcome, "entry", msg.ID)
	return nil
}

// withID returns a copy of spec carrying id (the handler never mutates
// the decoded event).
func withID(spec *eventsv1.MonitorSpec, id string) *eventsv1.MonitorSpec {
	c, _ := proto.Clone(spec).(*eventsv1.MonitorSpec)
	c.Id = id
	return c
}
