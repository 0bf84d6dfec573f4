// Package notify turns MonitorStatusChanged and CertificateExpiring events
// into emails to the monitor's owner, at most once per event across
// notifier replicas, redeliveries and dead-letter re-drives.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	eventsv1 "github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/notifier/internal/email"
)

// ErrHeldElsewhere is returned while another notifier holds the event's
// claim; the entry stays pending and is looked at again later, when the
// other notifier has either sent it or let its claim expire.
var ErrHeldElsewhere = errors.New("notification is being sent by another notifier")

// Mailer delivers a rendered email and names the provider that did.
type Mailer interface {
	Send(ctx context.Context, msg email.Message) (string, error)
}

// Config tunes the handler.
type Config struct {
	// Owner names this notifier in claims (the stream consumer name).
	Owner string
	// ClaimTTL is how long a claim keeps other notifiers away; it must
	// exceed the longest send (every provider with its retries).
	ClaimTTL time.Duration
}

// Handler handles entries of the events stream.
type Handler struct {
	cfg     Config
	store   *Store
	mailer  Mailer
	logger  *slog.Logger
	skipped *prometheus.CounterVec
	dedupe  prometheus.Counter
	notify  *prometheus.CounterVec
}

// New returns a handler.
func New(cfg Config, store *Store, mailer Mailer, reg prometheus.Registerer, logger *slog.Logger) *Handler {
	f := promauto.With(reg)
	return &Handler{
		cfg: cfg, store: store, mailer: mailer,
		logger: logger.With("component", "notify"),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_notifier_events_skipped_total",
			Help: "Events that need no email, by reason (transition, monitor_inactive, monitor_deleted, other_event).",
		}, []string{"reason"}),
		dedupe: f.NewCounter(prometheus.CounterOpts{
			Name: "uptime_notifier_dedupe_hits_total",
			Help: "Events whose email was already sent (redelivery, re-drive or a second replica).",
		}),
		notify: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_notifier_notifications_total",
			Help: "Notifications handled, by outcome (sent, failed).",
		}, []string{"outcome"}),
	}
}

// notifiable tells whether a flip deserves an email: UP <-> DOWN only; the
// first result after PENDING and maintenance changes do not.
func notifiable(from, to eventsv1.MonitorStatus) bool {
	up, down := eventsv1.MonitorStatus_MONITOR_STATUS_UP, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN
	return (from == up && to == down) || (from == down && to == up)
}

// statusName is the status as the api and the email spell it.
func statusName(s eventsv1.MonitorStatus) string {
	switch s {
	case eventsv1.MonitorStatus_MONITOR_STATUS_UP:
		return "UP"
	case eventsv1.MonitorStatus_MONITOR_STATUS_DOWN:
		return "DOWN"
	case eventsv1.MonitorStatus_MONITOR_STATUS_PENDING:
		return "PENDING"
	case eventsv1.MonitorStatus_MONITOR_STATUS_MAINTENANCE:
		return "MAINTENANCE"
	default:
		return "UNKNOWN"
	}
}

// Handle emails the owner for one events entry. It returns nil when the
// email was sent now or before, or when none is due; an error leaves the
// entry pending, to be retried and, after its deliveries, dead-lettered
// with that error.
func (h *Handler) Handle(ctx context.Context, msg stream.Message) error {
	env, err := events.Unmarshal(msg.Payload)
	if err != nil {
		return fmt.Errorf("decode events entry %s: %w", msg.ID, err)
	}
	if c := env.GetCertificateExpiring(); c != nil {
		return h.notifyOwner(ctx, env, notice{
			monitorID: c.GetMonitorId(), kind: "CERTIFICATE_EXPIRING", at: c.GetAt().AsTime(),
			render: func(t Target) (email.Message, error) {
				return email.RenderCertificateExpiring(email.CertificateExpiring{
					Recipient: t.Recipient, MonitorName: t.MonitorName, MonitorURL: t.MonitorURL,
					ExpiresAt: c.GetExpiresAt().AsTime(), DaysLeft: int(c.GetDaysLeft()), At: c.GetAt().AsTime(),
				})
			},
		})
	}
	change := env.GetMonitorStatusChanged()
	if change == nil {
		h.skipped.WithLabelValues("other_event").Inc()
		return nil
	}
	if !notifiable(change.GetFrom(), change.GetTo()) {
		h.skipped.WithLabelValues("transition").Inc()
		return nil
	}
	status := statusName(change.GetTo())
	cause := ""
	if change.GetTo() == eventsv1.MonitorStatus_MONITOR_STATUS_DOWN {
		cause = change.GetCause()
	}
	return h.notifyOwner(ctx, env, notice{
		monitorID: change.GetMonitorId(), kind: "STATUS_CHANGED", toStatus: status, at: change.GetAt().AsTime(),
		render: func(t Target) (email.Message, error) {
			return email.RenderStatusChange(email.StatusChange{
				Recipient: t.Recipient, MonitorName: t.MonitorName, MonitorURL: t.MonitorURL,
				Status: status, At: change.GetAt().AsTime(), Cause: cause,
			})
		},
	})
}

// notice is one email due for an event.
type notice struct {
	monitorID string
	// kind is the notifications.kind: STATUS_CHANGED or CERTIFICATE_EXPIRING.
	kind     string
	toStatus string
	at       time.Time
	// render builds the email for the monitor and owner as they are now.
	render func(Target) (email.Message, error)
}

// notifyOwner emails the owner of n's monitor, if it still exists and is
// active, at most once for env's event id.
func (h *Handler) notifyOwner(ctx context.Context, env *eventsv1.Envelope, n notice) error {
	log := h.logger.With("event_id", env.GetEventId(), "monitor_id", n.monitorID, "kind", n.kind)

	target, err := h.store.Target(ctx, n.monitorID)
	if errors.Is(err, ErrMonitorGone) {
		h.skipped.WithLabelValues("monitor_deleted").Inc()
		log.Debug("notification_skipped", "reason", "monitor_deleted")
		return nil
	}
	if err != nil {
		return err
	}
	if !target.Active {
		h.skipped.WithLabelValues("monitor_inactive").Inc()
		log.Debug("notification_skipped", "reason", "monitor_inactive")
		return nil
	}

	state, err := h.store.Claim(ctx, Claim{
		EventID: env.GetEventId(), MonitorID: n.monitorID, UserID: target.UserID,
		Recipient: target.Recipient, Kind: n.kind, ToStatus: n.toStatus,
		OccurredAt: n.at, Owner: h.cfg.Owner, TTL: h.cfg.ClaimTTL,
	})
	if err != nil {
		return err
	}
	switch state {
	case AlreadySent:
		h.dedupe.Inc()
		log.Debug("notification_duplicate")
		return nil
	case HeldElsewhere:
		return fmt.Errorf("event %s: %w", env.GetEventId(), ErrHeldElsewhere)
	case Vanished:
		h.skipped.WithLabelValues("monitor_deleted").Inc()
		return nil
	case Claimed:
	}

	rendered, err := n.render(target)
	if err != nil {
		return err
	}
	provider, sendErr := h.mailer.Send(ctx, rendered)
	// Recording the outcome must survive a shutdown that cancels ctx: an
	// email sent but not marked would be sent again by the next delivery.
	bg := context.WithoutCancel(ctx)
	if sendErr != nil {
		h.notify.WithLabelValues("failed").Inc()
		if err := h.store.Release(bg, env.GetEventId(), h.cfg.Owner, sendErr.Error()); err != nil {
			log.Warn("notification_release_failed", "err", err)
		}
		return fmt.Errorf("email event %s to the owner of monitor %s: %w", env.GetEventId(), n.monitorID, sendErr)
	}
	h.notify.WithLabelValues("sent").Inc()
	if err := h.markSent(bg, env.GetEventId(), provider); err != nil {
		// Returning the error leaves the entry pending; once the claim
		// expires a redelivery would send again. That duplicate is the
		// price of never losing an email; it needs PostgreSQL down for
		// the whole retry window.
		return err
	}
	log.Info("notification_sent", "provider", provider, "to_status", n.toStatus)
	return nil
}

// markSent retries a failed write a few times before giving up.
func (h *Handler) markSent(ctx context.Context, eventID, provider string) error {
	var err error
	delay := 200 * time.Millisecond
	for attempt := range 5 {
		if err = h.store.MarkSent(ctx, eventID, provider); err == nil {
			return nil
		}
		if attempt < 4 {
			t := time.NewTimer(delay)
			<-t.C
			delay *= 2
		}
	}
	return err
}
