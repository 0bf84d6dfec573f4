package schedule_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/schedule"
)

// makeDue schedules ids every minute with a slot about 30 s ago, so that
// their next slot is about 30 s ahead and the claims below see exactly
// that slot. Redis TIME cannot be faked; the due score can (the claim
// script takes the monitor's grid from it).
func makeDue(t *testing.T, f fixture, ids []string) map[string]int64 {
	t.Helper()
	now := f.nowMs(t)
	slots := map[string]int64{}
	for i, id := range ids {
		f.upsert(t, spec(id, minute, time.Now()))
		slot := now - 30_000 + int64(i%1000)
		f.setDue(t, id, slot)
		slots[id] = slot
	}
	return slots
}

func claimAll(t *testing.T, f fixture, batch int) schedule.ClaimResult {
	t.Helper()
	var total schedule.ClaimResult
	for {
		r, err := f.sched.Claim(t.Context(), batch)
		require.NoError(t, err)
		total.Emitted += r.Emitted
		total.SkippedInflight += r.SkippedInflight
		total.Dropped += r.Dropped
		total.Size = r.Size
		total.Lateness = append(total.Lateness, r.Lateness...)
		if r.Claimed() < batch {
			return total
		}
	}
}

func TestClaimEmitsExactlyOneJobPerDueMonitorPerSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := newIDs(50)
	slots := makeDue(t, f, ids)
	notDue := newIDs(1)[0]
	f.upsert(t, spec(notDue, minute, time.Now()))
	f.setDue(t, notDue, f.nowMs(t)+30_000)

	first := claimAll(t, f, 2000)
	for range 3 {
		again := claimAll(t, f, 2000)
		assert.Zero(t, again.Claimed(), "a claimed slot is not claimed again")
	}

	assert.Equal(t, 50, first.Emitted)
	assert.Zero(t, first.SkippedInflight)
	assert.EqualValues(t, 51, first.Size)
	require.Len(t, first.Lateness, 50)
	for _, l := range first.Lateness {
		assert.GreaterOrEqual(t, l, time.Duration(0))
		assert.Less(t, l, time.Minute)
	}
	jobs := f.jobs(t)
	require.Len(t, jobs, 50)
	seen := map[string]bool{}
	for _, j := range jobs {
		slot, ok := slots[j.monitorID]
		require.True(t, ok, "job of an unexpected monitor %s", j.monitorID)
		assert.False(t, seen[j.jobID], "job %s emitted twice", j.jobID)
		seen[j.jobID] = true
		assert.Equal(t, slot, j.slot, "the job carries its slot")
		assert.Equal(t, slot+60_000, j.lease, "the lease ends at the next slot")
		assert.Equal(t, "https://shop.example/"+j.monitorID, j.req.GetUrl(), "the body is the monitor's template")
		assert.GreaterOrEqual(t, j.entryMs, slot)

		due, _ := f.due(t, j.monitorID)
		assert.Equal(t, slot+60_000, due, "the monitor moved to its next slot")
		lease, err := f.rdb.ZScore(t.Context(), f.keys.Inflight, j.monitorID).Result()
		require.NoError(t, err)
		assert.Equal(t, float64(slot+60_000), lease)
	}
}

func TestClaimSkipsAMonitorWhosePreviousJobIsStillInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := newIDs(2)
	busy, free := ids[0], ids[1]
	slots := makeDue(t, f, ids)
	now := f.nowMs(t)
	require.NoError(t, f.rdb.ZAdd(t.Context(), f.keys.Inflight,
		redis.Z{Score: float64(now + 3_600_000), Member: busy},
		redis.Z{Score: float64(now - 1), Member: free},
	).Err())

	r := claimAll(t, f, 100)

	assert.Equal(t, 1, r.Emitted)
	assert.Equal(t, 1, r.SkippedInflight)
	jobs := f.jobs(t)
	require.Len(t, jobs, 1)
	assert.Equal(t, free, jobs[0].monitorID, "an expired lease does not block")
	due, _ := f.due(t, busy)
	assert.Equal(t, slots[busy]+60_000, due, "the skipped monitor still moves to its next slot")
	lease, err := f.rdb.ZScore(t.Context(), f.keys.Inflight, busy).Result()
	require.NoError(t, err)
	assert.Equal(t, float64(now+3_600_000), lease, "the running job keeps its lease")
}

func TestClaimSkipsMissedSlotsAfterAnOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	latest := makeDue(t, f, []string{id})[id]
	// The scheduler was down for a thousand periods.
	f.setDue(t, id, latest-1000*60_000)

	r := claimAll(t, f, 100)

	assert.Equal(t, 1, r.Emitted, "one job, not a thousand")
	jobs := f.jobs(t)
	require.Len(t, jobs, 1)
	assert.Equal(t, latest, jobs[0].slot, "the job is for the latest missed slot")
	due, _ := f.due(t, id)
	assert.Equal(t, latest+60_000, due)
	assert.Greater(t, due, f.nowMs(t), "the next slot is in the future")
	assert.Zero(t, claimAll(t, f, 100).Claimed())
}

func TestClaimHandlesAtMostABatchPerRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	makeDue(t, f, newIDs(25))
	var got []int
	for range 4 {
		r, err := f.sched.Claim(t.Context(), 10)
		require.NoError(t, err)
		got = append(got, r.Emitted)
		assert.Len(t, r.Lateness, r.Emitted)
	}
	assert.Equal(t, []int{10, 10, 5, 0}, got)
	assert.Len(t, f.jobs(t), 25)
	_, err := f.sched.Claim(t.Context(), 0)
	assert.Error(t, err)
}

func TestClaimDropsADueEntryWithoutTemplate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setDue(t, "ghost", f.nowMs(t)-1000)
	r := claimAll(t, f, 100)
	assert.Equal(t, 1, r.Dropped)
	assert.Zero(t, r.Emitted)
	_, ok := f.due(t, "ghost")
	assert.False(t, ok)
	assert.Empty(t, f.jobs(t))
}
