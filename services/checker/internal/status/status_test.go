package status_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/checker/internal/status"
)

type step struct {
	slot    int64
	success bool
	want    status.Outcome
	// maint marks a result inside a maintenance window.
	maint bool
}

// inMaintenance is a step whose result falls inside a maintenance window.
func inMaintenance(slot int64, success bool, want status.Outcome) step {
	return step{slot: slot, success: success, want: want, maint: true}
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	tests := []struct {
		name       string
		fail, succ int
		steps      []step
	}{
		{"the first success makes a pending monitor UP", 1, 1, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}, false},
			{2, true, status.Outcome{Previous: "UP", New: "UP"}, false},
		}},
		{"the first failure makes a pending monitor DOWN whatever the threshold", 3, 1, []step{
			{1, false, status.Outcome{Previous: "PENDING", New: "DOWN", Changed: true}, false},
		}},
		{"a failure turns UP into DOWN and a success back with thresholds of one", 1, 1, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}, false},
			{2, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}, false},
			{3, false, status.Outcome{Previous: "DOWN", New: "DOWN"}, false},
			{4, true, status.Outcome{Previous: "DOWN", New: "UP", Changed: true}, false},
		}},
		{"three failures in a row are needed with a failure threshold of three", 3, 2, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}, false},
			{2, false, status.Outcome{Previous: "UP", New: "UP"}, false},
			{3, false, status.Outcome{Previous: "UP", New: "UP"}, false},
			{4, true, status.Outcome{Previous: "UP", New: "UP"}, false},
			{5, false, status.Outcome{Previous: "UP", New: "UP"}, false},
			{6, false, status.Outcome{Previous: "UP", New: "UP"}, false},
			{7, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}, false},
			{8, true, status.Outcome{Previous: "DOWN", New: "DOWN"}, false},
			{9, true, status.Outcome{Previous: "DOWN", New: "UP", Changed: true}, false},
		}},
		{"a redelivered slot returns its first outcome and flips nothing", 1, 1, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}, false},
			{2, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}, false},
			{2, true, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}, false},
			{3, false, status.Outcome{Previous: "DOWN", New: "DOWN"}, false},
		}},
		{"failures in maintenance never take a monitor DOWN and do not count towards the threshold", 2, 1, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}, false},
			{2, false, status.Outcome{Previous: "UP", New: "UP"}, false},
			inMaintenance(3, false, status.Outcome{Previous: "UP", New: "UP"}),
			inMaintenance(4, false, status.Outcome{Previous: "UP", New: "UP"}),
			inMaintenance(5, true, status.Outcome{Previous: "UP", New: "UP"}),
			{6, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}, false},
		}},
		{"a monitor DOWN before its maintenance stays DOWN through it", 1, 1, []step{
			{1, false, status.Outcome{Previous: "PENDING", New: "DOWN", Changed: true}, false},
			inMaintenance(2, true, status.Outcome{Previous: "DOWN", New: "DOWN"}),
			inMaintenance(2, true, status.Outcome{Previous: "DOWN", New: "DOWN"}),
			{3, true, status.Outcome{Previous: "DOWN", New: "UP", Changed: true}, false},
		}},
		{"a pending monitor stays pending through maintenance", 1, 1, []step{
			inMaintenance(1, false, status.Outcome{Previous: "PENDING", New: "PENDING"}),
			{2, false, status.Outcome{Previous: "PENDING", New: "DOWN", Changed: true}, false},
		}},
		{"a late older slot changes nothing", 1, 1, []step{
			{5, false, status.Outcome{Previous: "PENDING", New: "DOWN", Changed: true}, false},
			{4, true, status.Outcome{Previous: "DOWN", New: "DOWN"}, false},
			{6, false, status.Outcome{Previous: "DOWN", New: "DOWN"}, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := status.NewTracker(rdb, ks)
			id := testenv.Name("m")
			for i, s := range tt.steps {
				got, err := tr.Apply(t.Context(), id, s.slot, status.Result{
					Success: s.success, Maintenance: s.maint, FailureThreshold: tt.fail, SuccessThreshold: tt.succ,
				})
				require.NoError(t, err)
				assert.Equal(t, s.want, got, "step %d (slot %d)", i, s.slot)
			}
		})
	}
}
