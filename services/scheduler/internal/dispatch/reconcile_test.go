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

type scriptedReconciler struct {
	mu    sync.Mutex
	calls int
	steps []func() (schedule.Result, error)
}

func (r *scriptedReconciler) Reconcile(context.Context) (schedule.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.calls
	r.calls++
	if i < len(r.steps) {
		return r.steps[i]()
	}
	return schedule.Result{}, nil
}

func (r *scriptedReconciler) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func TestReconcileLoopReconcilesAtStartAndEveryInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		r := &scriptedReconciler{steps: []func() (schedule.Result, error){
			func() (schedule.Result, error) { return schedule.Result{Added: 5, Removed: 1}, nil },
			func() (schedule.Result, error) { return schedule.Result{}, schedule.ErrBusy },
			func() (schedule.Result, error) { return schedule.Result{}, errors.New("postgres down") },
			func() (schedule.Result, error) { return schedule.Result{Updated: 2}, nil },
		}}
		loop, err := dispatch.NewReconcileLoop(r, time.Minute, dispatch.NewMetrics(reg), testenv.Discard())
		require.NoError(t, err)
		stop := startLoop(t, loop)

		synctest.Wait()
		assert.Equal(t, 1, r.count(), "one reconcile at start")
		time.Sleep(3 * time.Minute) //nolint:forbidigo // advances the synctest bubble's fake clock
		synctest.Wait()
		assert.Equal(t, 4, r.count(), "then one per interval")
		require.NoError(t, stop(), "a failed reconcile does not stop the process")

		assert.InDelta(t, 2, metric(t, reg, "uptime_scheduler_reconcile_total", "result", "ok"), 0)
		assert.InDelta(t, 1, metric(t, reg, "uptime_scheduler_reconcile_total", "result", "busy"), 0)
		assert.InDelta(t, 1, metric(t, reg, "uptime_scheduler_reconcile_total", "result", "error"), 0)
		assert.InDelta(t, 3, metric(t, reg, "uptime_scheduler_reconcile_duration_seconds"), 0, "busy runs are not timed")
		assert.InDelta(t, 5, metric(t, reg, "uptime_scheduler_reconciled_monitors_total", "change", "added"), 0)
		assert.InDelta(t, 2, metric(t, reg, "uptime_scheduler_reconciled_monitors_total", "change", "updated"), 0)
		assert.InDelta(t, 1, metric(t, reg, "uptime_scheduler_reconciled_monitors_total", "change", "removed"), 0)
	})
}
