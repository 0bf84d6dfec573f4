// Package maintenance keeps the ping_logs partition window moving and
// enforces retention: partitions are created a week ahead, raw partitions
// older than the raw retention are detached and dropped, and hourly rollups
// older than their retention are deleted. One replica at a time does it,
// under a Redis lease.
package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/servercheck/uptime/services/log-writer/internal/store"
)

// LeaseKey is the lease's key under the keyspace.
const LeaseKey = "lease:log-writer:maintenance"

// Config tunes the job.
type Config struct {
	// Interval between runs (hourly). The lease lasts 90% of it, so the
	// holder runs once per interval and another replica takes over when
	// the holder is gone.
	Interval time.Duration
	// RetryDelay is the wait after a failed run before the next try.
	RetryDelay time.Duration
	// RawRetentionDays: partitions whose day ended more than this many
	// days ago are dropped (RAW_LOG_RETENTION_DAYS).
	RawRetentionDays int
	// RollupRetentionDays: rollups older than this are deleted (400).
	RollupRetentionDays int
	// LockTimeout bounds each partition statement's wait for its lock.
	LockTimeout time.Duration
	// LockRetries is how many more times a statement that timed out on
	// its lock is tried, after 1 s, 2 s, 4 s ..., before the run fails.
	LockRetries int
}

// Job is the maintenance component.
type Job struct {
	cfg      Config
	db       store.Beginner
	rdb      redis.Cmdable
	lease    string
	holder   string
	logger   *slog.Logger
	now      func() time.Time
	runs     *prometheus.CounterVec
	created  prometheus.Counter
	dropped  prometheus.Counter
	deleted  prometheus.Counter
	lockWait time.Duration
}

// New returns the job. lease is the full lease key (Keyspace.Key(LeaseKey))
// and holder this instance's name; now is the clock (time.Now).
func New(cfg Config, db store.Beginner, rdb redis.Cmdable, lease, holder string, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time) (*Job, error) {
	var errs []error
	if cfg.Interval <= 0 {
		errs = append(errs, errors.New("maintenance interval must be positive"))
	}
	if cfg.RetryDelay <= 0 {
		errs = append(errs, errors.New("maintenance retry delay must be positive"))
	}
	if cfg.RawRetentionDays < 1 {
		errs = append(errs, fmt.Errorf("raw retention must be at least 1 day, got %d", cfg.RawRetentionDays))
	}
	if cfg.RollupRetentionDays < 1 {
		errs = append(errs, fmt.Errorf("rollup retention must be at least 1 day, got %d", cfg.RollupRetentionDays))
	}
	if cfg.LockTimeout <= 0 {
		errs = append(errs, errors.New("lock timeout must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("maintenance config: %w", err)
	}
	f := promauto.With(reg)
	return &Job{
		cfg: cfg, db: db, rdb: rdb, lease: lease, holder: holder, now: now,
		logger:   logger.With("component", "partition_maintenance"),
		lockWait: time.Second,
		runs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_logwriter_maintenance_runs_total", Help: "Partition and retention maintenance runs by outcome: done, failed, skipped (another replica holds the lease).",
		}, []string{"outcome"}),
		created: f.NewCounter(prometheus.CounterOpts{Name: "uptime_logwriter_partitions_created_total", Help: "ping_logs partitions created by maintenance."}),
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "uptime_logwriter_partitions_dropped_total", Help: "ping_logs partitions dropped by retention."}),
		deleted: f.NewCounter(prometheus.CounterOpts{Name: "uptime_logwriter_rollups_deleted_total", Help: "Hourly rollups deleted by retention."}),
	}, nil
}

// Run runs at start and every Interval (RetryDelay after a failure) until
// ctx ends.
func (j *Job) Run(ctx context.Context) error {
	for {
		wait := j.cfg.Interval
		ran, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			wait = j.cfg.RetryDelay
			j.runs.WithLabelValues("failed").Inc()
			j.logger.Warn("maintenance_failed", "retry_in", wait.String(), "err", err)
		case err != nil:
		case ran:
			j.runs.WithLabelValues("done").Inc()
		default:
			j.runs.WithLabelValues("skipped").Inc()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// releaseScript deletes the lease only if this holder still has it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// RunOnce takes the lease and, if it got it, does one round. It returns
// whether it ran. After a failure it releases the lease so that the next
// try (here or on another replica) need not wait for it to expire.
func (j *Job) RunOnce(ctx context.Context) (bool, error) {
	ok, err := j.rdb.SetNX(ctx, j.lease, j.holder, j.cfg.Interval*9/10).Result()
	if err != nil {
		return false, fmt.Errorf("take maintenance lease: %w", err)
	}
	if !ok {
		return false, nil
	}
	if err := j.round(ctx); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = releaseScript.Run(rctx, j.rdb, []string{j.lease}, j.holder).Err()
		return true, err
	}
	return true, nil
}

// round ensures partitions for yesterday .. a week ahead, drops expired
// ones and deletes expired rollups. Days are UTC.
func (j *Job) round(ctx context.Context) error {
	today := j.now().UTC().Truncate(24 * time.Hour)
	var created, dropped int
	err := j.retryLock(ctx, func() error {
		var err error
		created, err = store.EnsurePartitions(ctx, j.db, today.AddDate(0, 0, -1), today.AddDate(0, 0, 7), j.cfg.LockTimeout)
		return err
	})
	if err != nil {
		return err
	}
	j.created.Add(float64(created))
	err = j.retryLock(ctx, func() error {
		var err error
		dropped, err = store.DropPartitionsBefore(ctx, j.db, today.AddDate(0, 0, -j.cfg.RawRetentionDays), j.cfg.LockTimeout)
		return err
	})
	if err != nil {
		return err
	}
	j.dropped.Add(float64(dropped))
	deleted, err := store.DeleteRollupsBefore(ctx, j.db, today.AddDate(0, 0, -j.cfg.RollupRetentionDays), 10000)
	j.deleted.Add(float64(deleted))
	if err != nil {
		return err
	}
	j.logger.Info("maintenance_done", "partitions_created", created, "partitions_dropped", dropped, "rollups_deleted", deleted)
	return nil
}

// retryLock runs f again after a lock timeout, LockRetries times with
// doubling waits, so that a long read holding ping_logs is waited out
// without queueing inserts behind a lock request.
func (j *Job) retryLock(ctx context.Context, f func() error) error {
	wait := j.lockWait
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !errors.Is(err, store.ErrLockTimeout) || attempt >= j.cfg.LockRetries {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}
