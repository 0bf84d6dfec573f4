package schedule_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/servercheck/uptime/pkg/schedule"
)

func TestPhaseSpreadsMonitorsOverThePeriod(t *testing.T) {
	t.Parallel()
	const n = 1000
	perSecond := make([]int, 60)
	atZero := 0
	for i := range n {
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(i))).String()
		p := schedule.Phase(id, time.Minute)
		if !assert.GreaterOrEqual(t, p, int64(0)) || !assert.Less(t, p, int64(60_000)) {
			return
		}
		perSecond[p/1000]++
		if p == 0 {
			atZero++
		}
	}
	// 1000 monitors over 60 seconds is 16.7 a second on average; a
	// uniform spread keeps every second far below a bulk at :00.
	for s, c := range perSecond {
		assert.LessOrEqual(t, c, 40, "second :%02d holds %d of %d monitors", s, c, n)
		assert.Positive(t, c, "second :%02d holds no monitor", s)
	}
	assert.LessOrEqual(t, atZero, 1, "monitors exactly at :00")
	assert.LessOrEqual(t, perSecond[0], 40, "monitors in the first second of the minute")
}

func TestPhaseIsStableAndDependsOnThePeriod(t *testing.T) {
	t.Parallel()
	id := "0b5e2c9e-6a59-4f0e-9d43-6f7e1d0f8a11"
	assert.Equal(t, schedule.Phase(id, time.Minute), schedule.Phase(id, time.Minute))
	assert.Less(t, schedule.Phase(id, time.Minute), int64(60_000))
	assert.Less(t, schedule.Phase(id, time.Hour), int64(3_600_000))
	assert.Zero(t, schedule.Phase(id, 0), "a zero period has no phase")
}

func TestSlotArithmetic(t *testing.T) {
	t.Parallel()
	const period = time.Minute
	id := "0b5e2c9e-6a59-4f0e-9d43-6f7e1d0f8a11"
	phase := schedule.Phase(id, period)
	base := int64(1_764_000_000_000) / 60_000 * 60_000 // a whole minute
	slot := base + phase

	firstSlot := []struct {
		name string
		now  int64
		want int64
	}{
		{"a now on a slot is that slot", slot, slot},
		{"a now just after a slot waits for the next", slot + 1, slot + 60_000},
		{"a now just before a slot takes it", slot - 1, slot},
		{"a now a period before a slot takes the slot before", slot - 60_000, slot - 60_000},
	}
	for _, tc := range firstSlot {
		t.Run("first slot: "+tc.name, func(t *testing.T) {
			t.Parallel()
			got := schedule.FirstSlot(id, period, tc.now)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, phase, got%60_000, "the slot is on the monitor's phase")
		})
	}

	latest := []struct {
		name string
		now  int64
		want int64
	}{
		{"due exactly now is that slot", slot, slot},
		{"half a period late is still that slot", slot + 30_000, slot},
		{"one period late is the next slot", slot + 60_000, slot + 60_000},
		{"a day of missed slots collapses to the latest", slot + 24*60*60_000 + 59_999, slot + 24*60*60_000},
		{"not yet due stays on the anchor", slot - 5, slot},
	}
	for _, tc := range latest {
		t.Run("latest slot: "+tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, schedule.LatestSlot(slot, period, tc.now))
		})
	}
}
