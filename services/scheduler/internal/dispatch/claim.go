package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/servercheck/uptime/pkg/schedule"
)

// Claimer runs the claim script.
type Claimer interface {
	Claim(ctx context.Context, batch int) (schedule.ClaimResult, error)
}

// ClaimLoop runs the claim script every interval, and again at once while
// a run handled a whole batch, so a backlog (many monitors due at the same
// moment, or a restart after an outage) drains at Redis speed rather than
// one batch per tick. It is a lifecycle component; any number of replicas
// may run it on the same keyspace.
type ClaimLoop struct {
	claimer  Claimer
	interval time.Duration
	batch    int
	metrics  *Metrics
	logger   *slog.Logger
	failing  bool
}

// NewClaimLoop returns the claim loop.
func NewClaimLoop(claimer Claimer, interval time.Duration, batch int, metrics *Metrics, logger *slog.Logger) (*ClaimLoop, error) {
	if interval <= 0 || batch < 1 {
		return nil, errors.New("claim loop: interval and batch must be positive")
	}
	return &ClaimLoop{
		claimer: claimer, interval: interval, batch: batch, metrics: metrics,
		logger: logger.With("component", "claim_loop"),
	}, nil
}

// Run claims until ctx ends. A failed run (Redis unreachable) is counted
// and retried on the next tick; it does not stop the process.
func (l *ClaimLoop) Run(ctx context.Context) error {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		l.drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// drain runs the script until a run handles less than a whole batch.
func (l *ClaimLoop) drain(ctx context.Context) {
	for ctx.Err() == nil {
		start := time.Now()
		res, err := l.claimer.Claim(ctx, l.batch)
		l.metrics.claimSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.metrics.claimFailures.Inc()
			// Logged once per outage, not every tick; the counter
			// shows how long it lasted.
			if !l.failing {
				l.logger.Warn("claim_failed", "err", err)
				l.failing = true
			}
			return
		}
		if l.failing {
			l.logger.Info("claim_recovered")
			l.failing = false
		}
		l.record(res)
		if res.Claimed() < l.batch {
			return
		}
	}
}

func (l *ClaimLoop) record(res schedule.ClaimResult) {
	l.metrics.emitted.Add(float64(res.Emitted))
	l.metrics.skippedInflight.Add(float64(res.SkippedInflight))
	l.metrics.dropped.Add(float64(res.Dropped))
	l.metrics.scheduleSize.Set(float64(res.Size))
	for _, d := range res.Lateness {
		l.metrics.lateness.Observe(d.Seconds())
	}
	if res.Claimed() > 0 {
		l.logger.Debug("claimed", "emitted", res.Emitted, "skipped_inflight", res.SkippedInflight, "dropped", res.Dropped)
	}
}
