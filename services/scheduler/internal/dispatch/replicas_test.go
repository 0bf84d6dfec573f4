package dispatch_test

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/scheduler/internal/dispatch"
)

// TestTwoClaimLoopsEmitEachSlotOnce runs two replicas' claim loops on one
// keyspace for three seconds over monitors checked every second (the
// schedule accepts any period; PostgreSQL limits real ones to 60 s..1 day),
// and counts the jobs by job id.
func TestTwoClaimLoopsEmitEachSlotOnce(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	const monitors = 200
	sched := schedule.New(rdb, ks, schedule.Options{Producer: "scheduler/test"})
	for range monitors {
		ok, err := sched.Upsert(t.Context(), &eventsv1.MonitorSpec{
			Id: uuid.NewString(), FrequencySeconds: 1, IsActive: true, Url: "https://a.example",
		})
		require.NoError(t, err)
		require.True(t, ok)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		// Each replica has its own client and registry, as separate
		// processes would.
		replica := schedule.New(testenv.NewRedisClient(t), ks, schedule.Options{Producer: "scheduler/test"})
		loop, err := dispatch.NewClaimLoop(replica, 100*time.Millisecond, 50, dispatch.NewMetrics(prometheus.NewRegistry()), testenv.Discard())
		require.NoError(t, err)
		wg.Go(func() { assert.NoError(t, loop.Run(ctx)) })
	}
	wg.Wait()

	xs, err := rdb.XRange(t.Context(), sched.Keys().Jobs, "-", "+").Result()
	require.NoError(t, err)
	byJob := map[string]int{}
	slots := map[string][]int64{}
	for _, x := range xs {
		env, err := events.Unmarshal([]byte(x.Values["d"].(string)))
		require.NoError(t, err)
		id := env.GetCheckRequested().GetMonitorId()
		slot, err := strconv.ParseInt(x.Values["s"].(string), 10, 64)
		require.NoError(t, err)
		byJob[events.JobID(id, time.UnixMilli(slot))]++
		slots[id] = append(slots[id], slot)
	}
	for jobID, n := range byJob {
		assert.Equal(t, 1, n, "job %s emitted %d times", jobID, n)
	}
	require.Len(t, slots, monitors, "every monitor was checked")
	for id, ss := range slots {
		sort.Slice(ss, func(i, j int) bool { return ss[i] < ss[j] })
		assert.GreaterOrEqual(t, len(ss), 2, "monitor %s: slots %v", id, ss)
		for i := 1; i < len(ss); i++ {
			assert.Equal(t, int64(1000), ss[i]-ss[i-1], "monitor %s: consecutive slots, none skipped or repeated: %v", id, ss)
		}
	}
	t.Logf("%d jobs for %d monitors in 3 s from two replicas", len(xs), monitors)
}
