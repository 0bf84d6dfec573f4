package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/servercheck/uptime/pkg/schedule"
)

// Reconciler repairs the schedule from the source of truth.
type Reconciler interface {
	Reconcile(ctx context.Context) (schedule.Result, error)
}

// ReconcileLoop reconciles at start and then every interval. It is a
// lifecycle component; replicas take turns through the reconciler's lease.
type ReconcileLoop struct {
	rec      Reconciler
	interval time.Duration
	metrics  *Metrics
	logger   *slog.Logger
}

// NewReconcileLoop returns the reconcile loop.
func NewReconcileLoop(rec Reconciler, interval time.Duration, metrics *Metrics, logger *slog.Logger) (*ReconcileLoop, error) {
	if interval <= 0 {
		return nil, errors.New("reconcile loop: interval must be positive")
	}
	return &ReconcileLoop{rec: rec, interval: interval, metrics: metrics, logger: logger.With("component", "reconcile_loop")}, nil
}

// Run reconciles until ctx ends. A failed reconcile (PostgreSQL or Redis
// unreachable) is logged and retried on the next tick.
func (l *ReconcileLoop) Run(ctx context.Context) error {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		l.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (l *ReconcileLoop) once(ctx context.Context) {
	start := time.Now()
	res, err := l.rec.Reconcile(ctx)
	switch {
	case errors.Is(err, schedule.ErrBusy):
		l.metrics.reconciles.WithLabelValues("busy").Inc()
		l.logger.Debug("reconcile_skipped", "reason", "lease held by another reconciler")
		return
	case err != nil && ctx.Err() != nil:
		return
	case err != nil:
		l.metrics.reconciles.WithLabelValues("error").Inc()
		l.logger.Warn("reconcile_failed", "err", err)
	default:
		l.metrics.reconciles.WithLabelValues("ok").Inc()
	}
	elapsed := time.Since(start)
	l.metrics.reconcileSeconds.Observe(elapsed.Seconds())
	l.metrics.reconciled.WithLabelValues("added").Add(float64(res.Added))
	l.metrics.reconciled.WithLabelValues("updated").Add(float64(res.Updated))
	l.metrics.reconciled.WithLabelValues("removed").Add(float64(res.Removed))
	if err == nil {
		level := slog.LevelDebug
		if res != (schedule.Result{}) {
			// Drift is worth seeing: events were lost or Redis was wiped.
			level = slog.LevelInfo
		}
		l.logger.Log(ctx, level, "reconciled", "added", res.Added, "updated", res.Updated, "removed", res.Removed, "duration_ms", elapsed.Milliseconds())
	}
}
