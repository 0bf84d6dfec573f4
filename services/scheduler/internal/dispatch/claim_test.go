package dispatch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/scheduler/internal/dispatch"
)

// scriptedClaimer answers Claim with its results in turn, then with
// empty runs.
type scriptedClaimer struct {
	mu      sync.Mutex
	results []schedule.ClaimResult
	errs    []error
	calls   int
}

func (c *scriptedClaimer) Claim(_ context.Context, _ int) (schedule.ClaimResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.calls
	c.calls++
	if i < len(c.errs) && c.errs[i] != nil {
		return schedule.ClaimResult{}, c.errs[i]
	}
	if i < len(c.results) {
		return c.results[i], nil
	}
	return schedule.ClaimResult{}, nil
}

func (c *scriptedClaimer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func startLoop(t *testing.T, l interface{ Run(context.Context) error }) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func TestClaimLoopRunsAgainAtOnceWhileRunsFillTheBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		full := schedule.ClaimResult{Emitted: 8, SkippedInflight: 1, Dropped: 1, Size: 100,
			Lateness: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond,
				40 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond, 70 * time.Millisecond, 80 * time.Millisecond}}
		c := &scriptedClaimer{results: []schedule.ClaimResult{full, full, {Emitted: 3, Size: 97, Lateness: make([]time.Duration, 3)}}}
		loop, err := dispatch.NewClaimLoop(c, 200*time.Millisecond, 10, dispatch.NewMetrics(reg), testenv.Discard())
		require.NoError(t, err)
		stop := startLoop(t, loop)

		synctest.Wait()
		assert.Equal(t, 3, c.count(), "two full batches and the rest, without waiting for a tick")
		time.Sleep(199 * time.Millisecond) //nolint:forbidigo // advances the synctest bubble's fake clock
		synctest.Wait()
		assert.Equal(t, 3, c.count(), "then nothing until the next tick")
		time.Sleep(time.Millisecond) //nolint:forbidigo // advances the synctest bubble's fake clock
		synctest.Wait()
		assert.Equal(t, 4, c.count(), "one run per tick once drained")

		require.NoError(t, stop())
		assert.InDelta(t, 19, metric(t, reg, "uptime_scheduler_jobs_emitted_total"), 0)
		assert.InDelta(t, 2, metric(t, reg, "uptime_scheduler_skipped_inflight_total"), 0)
		assert.InDelta(t, 2, metric(t, reg, "uptime_scheduler_dropped_entries_total"), 0)
		assert.InDelta(t, 19, metric(t, reg, "uptime_scheduler_dispatch_lateness_seconds"), 0, "one observation per job")
		assert.InDelta(t, 0, metric(t, reg, "uptime_scheduler_schedule_size"), 0, "the last run saw an empty schedule")
		assert.InDelta(t, 4, metric(t, reg, "uptime_scheduler_claim_duration_seconds"), 0)
	})
}

func TestClaimLoopOutlivesRedisFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		down := errors.New("connection refused")
		c := &scriptedClaimer{
			errs:    []error{down, down, nil},
			results: []schedule.ClaimResult{{}, {}, {Emitted: 1, Size: 1, Lateness: []time.Duration{0}}},
		}
		loop, err := dispatch.NewClaimLoop(c, 100*time.Millisecond, 10, dispatch.NewMetrics(reg), testenv.Discard())
		require.NoError(t, err)
		stop := startLoop(t, loop)

		time.Sleep(250 * time.Millisecond) //nolint:forbidigo // advances the synctest bubble's fake clock
		synctest.Wait()
		assert.Equal(t, 3, c.count(), "a failed run waits for the next tick")
		require.NoError(t, stop(), "a failing Redis does not stop the process")
		assert.InDelta(t, 2, metric(t, reg, "uptime_scheduler_claim_failures_total"), 0)
		assert.InDelta(t, 1, metric(t, reg, "uptime_scheduler_jobs_emitted_total"), 0)
	})
}

func TestNewClaimLoopRefusesANonPositiveIntervalOrBatch(t *testing.T) {
	t.Parallel()
	m := dispatch.NewMetrics(prometheus.NewRegistry())
	_, err := dispatch.NewClaimLoop(&scriptedClaimer{}, 0, 10, m, testenv.Discard())
	require.Error(t, err)
	_, err = dispatch.NewClaimLoop(&scriptedClaimer{}, time.Second, 0, m, testenv.Discard())
	require.Error(t, err)
}
