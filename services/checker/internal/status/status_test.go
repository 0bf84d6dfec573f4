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
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}},
			{2, true, status.Outcome{Previous: "UP", New: "UP"}},
		}},
		{"the first failure makes a pending monitor DOWN whatever the threshold", 3, 1, []step{
			{1, false, status.Outcome{Previous: "PENDING", New: "DOWN", Changed: true}},
		}},
		{"a failure turns UP into DOWN and a success back with thresholds of one", 1, 1, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}},
			{2, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}},
			{3, false, status.Outcome{Previous: "DOWN", New: "DOWN"}},
			{4, true, status.Outcome{Previous: "DOWN", New: "UP", Changed: true}},
		}},
		{"three failures in a row are needed with a failure threshold of three", 3, 2, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}},
			{2, false, status.Outcome{Previous: "UP", New: "UP"}},
			{3, false, status.Outcome{Previous: "UP", New: "UP"}},
			{4, true, status.Outcome{Previous: "UP", New: "UP"}},
			{5, false, status.Outcome{Previous: "UP", New: "UP"}},
			{6, false, status.Outcome{Previous: "UP", New: "UP"}},
			{7, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}},
			{8, true, status.Outcome{Previous: "DOWN", New: "DOWN"}},
			{9, true, status.Outcome{Previous: "DOWN", New: "UP", Changed: true}},
		}},
		{"a redelivered slot returns its first outcome and flips nothing", 1, 1, []step{
			{1, true, status.Outcome{Previous: "PENDING", New: "UP", Changed: true}},
			{2, false, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}},
			{2, true, status.Outcome{Previous: "UP", New: "DOWN", Changed: true}},
			{3, false, status.Outcome{Previous: "DOWN", New: "DOWN"}},
		}},
		{"a late older slot changes nothing", 1, 1, []step{
			{5, false, status.Outcome{Previous: "PENDING", New: "DOWN", Changed: true}},
			{4, true, status.Outcome{Previous: "DOWN", New: "DOWN"}},
			{6, false, status.Outcome{Previous: "DOWN", New: "DOWN"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := status.NewTracker(rdb, ks)
			id := testenv.Name("m")
			for i, s := range tt.steps {
				got, err := tr.Apply(t.Context(), id, s.slot, s.success, tt.fail, tt.succ)
				require.NoError(t, err)
				assert.Equal(t, s.want, got, "step %d (slot %d)", i, s.slot)
			}
		})
	}
}
