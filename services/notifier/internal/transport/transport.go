// Package transport delivers rendered emails: Amazon SES and SMTP senders,
// each behind its own retry policy and circuit breaker (failsafe-go), and a
// Mailer that falls back from the primary provider to the next one.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/servercheck/uptime/services/notifier/internal/email"
)

// ErrRejected marks a failure that concerns this one message (a recipient
// or content the provider refuses), not the provider: it is not retried on
// the same provider and does not count against its circuit breaker.
var ErrRejected = errors.New("message rejected")

// ErrNoProvider is returned by NewMailer without any provider.
var ErrNoProvider = errors.New("no email provider configured")

// Sender delivers one message through one provider.
type Sender interface {
	Send(ctx context.Context, msg email.Message) error
}

// Policy is how one provider is retried and protected.
type Policy struct {
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Retries are extra attempts after a failed one ("a short retry").
	Retries int
	// RetryDelay is the wait before the first retry; it doubles.
	RetryDelay time.Duration
	// BreakerFailures consecutive provider failures open the breaker.
	BreakerFailures uint
	// BreakerDelay is how long it stays open before a trial send.
	BreakerDelay time.Duration
}

// DefaultPolicy is one retry after 500 ms, 10 s per attempt, and a breaker
// that opens after 5 failures in a row for 30 s.
func DefaultPolicy() Policy {
	return Policy{Timeout: 10 * time.Second, Retries: 1, RetryDelay: 500 * time.Millisecond, BreakerFailures: 5, BreakerDelay: 30 * time.Second}
}

// Provider is a named sender with its policy.
type Provider struct {
	Name   string
	Sender Sender
	Policy Policy
}

// Metrics of the notifier's sends, per provider.
type Metrics struct {
	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	fallback prometheus.Counter
	duration *prometheus.HistogramVec
	breaker  *prometheus.GaugeVec
}

// NewMetrics registers the send metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		sent: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_notifier_emails_sent_total", Help: "Emails delivered, by provider.",
		}, []string{"provider"}),
		failed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_notifier_emails_failed_total", Help: "Sends a provider failed after its retries (or refused with an open breaker), by provider.",
		}, []string{"provider"}),
		fallback: f.NewCounter(prometheus.CounterOpts{
			Name: "uptime_notifier_fallback_total", Help: "Emails handed to a fallback provider after the primary failed.",
		}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "uptime_notifier_send_duration_seconds", Help: "Time to deliver one email through a provider, retries included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"provider"}),
		breaker: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "uptime_notifier_breaker_state", Help: "Circuit breaker of each provider: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider"}),
	}
}

type guarded struct {
	name     string
	sender   Sender
	timeout  time.Duration
	executor failsafe.Executor[any]
	// lastErr is the provider's last real failure, told alongside "circuit
	// breaker open" so that a dead letter says why the breaker opened.
	lastErr atomic.Pointer[error]
}

// Mailer sends through the first provider and falls back to the next ones
// when it fails.
type Mailer struct {
	providers []*guarded
	metrics   *Metrics
	logger    *slog.Logger
}

// NewMailer returns a mailer trying providers in order.
func NewMailer(providers []Provider, metrics *Metrics, logger *slog.Logger) (*Mailer, error) {
	if len(providers) == 0 {
		return nil, ErrNoProvider
	}
	logger = logger.With("component", "mailer")
	m := &Mailer{metrics: metrics, logger: logger}
	for _, p := range providers {
		if p.Sender == nil || p.Name == "" {
			return nil, fmt.Errorf("provider %q: a name and a sender are required", p.Name)
		}
		name := p.Name
		metrics.breaker.WithLabelValues(name).Set(0)
		// Only provider failures count: a rejected message says nothing
		// about the provider's health and must not open its breaker.
		providerFailure := func(_ any, err error) bool { return err != nil && !errors.Is(err, ErrRejected) }
		breaker := circuitbreaker.NewBuilder[any]().
			HandleIf(providerFailure).
			WithFailureThreshold(max(p.Policy.BreakerFailures, 1)).
			WithSuccessThreshold(1).
			WithDelay(p.Policy.BreakerDelay).
			OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
				metrics.breaker.WithLabelValues(name).Set(breakerValue(e.NewState))
				logger.Warn("email_breaker_state_changed", "provider", name, "from", e.OldState.String(), "to", e.NewState.String())
			}).
			Build()
		policies := []failsafe.Policy[any]{}
		if p.Policy.Retries > 0 {
			policies = append(policies, retrypolicy.NewBuilder[any]().
				HandleIf(providerFailure).
				AbortOnErrors(circuitbreaker.ErrOpen).
				WithMaxRetries(p.Policy.Retries).
				WithBackoff(max(p.Policy.RetryDelay, time.Millisecond), max(p.Policy.RetryDelay, time.Millisecond)*8).
				ReturnLastFailure().
				Build())
		}
		policies = append(policies, breaker)
		m.providers = append(m.providers, &guarded{
			name: name, sender: p.Sender, timeout: p.Policy.Timeout, executor: failsafe.With(policies...),
		})
	}
	return m, nil
}

func breakerValue(s circuitbreaker.State) float64 {
	switch s {
	case circuitbreaker.HalfOpenState:
		return 1
	case circuitbreaker.OpenState:
		return 2
	default:
		return 0
	}
}

// Providers names the providers in the order they are tried.
func (m *Mailer) Providers() []string {
	names := make([]string, len(m.providers))
	for i, p := range m.providers {
		names[i] = p.name
	}
	return names
}

// Send delivers msg through the first provider that succeeds and returns
// its name. When every provider fails the error names each failure.
func (m *Mailer) Send(ctx context.Context, msg email.Message) (string, error) {
	var errs []error
	for i, p := range m.providers {
		if i > 0 {
			m.metrics.fallback.Inc()
			m.logger.Warn("email_fallback", "from_provider", m.providers[i-1].name, "to_provider", p.name, "err", errs[len(errs)-1])
		}
		start := time.Now()
		err := p.executor.WithContext(ctx).Run(func() error {
			attemptCtx := ctx
			if p.timeout > 0 {
				var cancel context.CancelFunc
				attemptCtx, cancel = context.WithTimeout(ctx, p.timeout)
				defer cancel()
			}
			err := p.sender.Send(attemptCtx, msg)
			if err != nil && !errors.Is(err, ErrRejected) {
				p.lastErr.Store(&err)
			}
			return err
		})
		if errors.Is(err, circuitbreaker.ErrOpen) {
			if last := p.lastErr.Load(); last != nil {
				err = fmt.Errorf("%w; last failure: %w", err, *last)
			}
		}
		m.metrics.duration.WithLabelValues(p.name).Observe(time.Since(start).Seconds())
		if err == nil {
			m.metrics.sent.WithLabelValues(p.name).Inc()
			return p.name, nil
		}
		m.metrics.failed.WithLabelValues(p.name).Inc()
		errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		if ctx.Err() != nil {
			break
		}
	}
	return "", errors.Join(errs...)
}
