package schedule_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// BenchmarkClaim100kDue measures the claim script's throughput: 100,000
// scheduled monitors, all due, claimed and emitted in batches of the
// default size. Each iteration makes every monitor due again and empties
// the jobs stream and the leases (untimed).
func BenchmarkClaim100kDue(b *testing.B) {
	for _, batch := range []int{500, 2000, 10000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) { benchmarkClaim(b, 100_000, batch) })
	}
}

func benchmarkClaim(b *testing.B, monitors, batch int) {
	f := newFixture(b)
	ctx := b.Context()
	ids := make([]string, monitors)
	pipe := f.rdb.Pipeline()
	for i := range ids {
		ids[i] = uuid.NewString()
		s := spec(ids[i], time.Minute, time.Now())
		s.Request.Headers = []*eventsv1.Header{{Name: "Accept", Value: "application/json"}}
		tpl, err := schedule.Template("scheduler/bench", s)
		require.NoError(b, err)
		pipe.HSet(ctx, f.keys.Templates, ids[i], tpl)
		pipe.HSet(ctx, f.keys.Frequencies, ids[i], 60)
		if pipe.Len() >= 10_000 {
			_, err := pipe.Exec(ctx)
			require.NoError(b, err)
		}
	}
	_, err := pipe.Exec(ctx)
	require.NoError(b, err)

	makeAllDue := func() {
		now := f.nowMs(b)
		pipe := f.rdb.Pipeline()
		pipe.Del(ctx, f.keys.Jobs, f.keys.Inflight)
		zs := make([]redis.Z, 0, 10_000)
		for i, id := range ids {
			zs = append(zs, redis.Z{Score: float64(now - 30_000 + int64(i%30_000)), Member: id})
			if len(zs) == cap(zs) {
				pipe.ZAdd(ctx, f.keys.Due, zs...)
				zs = zs[:0]
			}
		}
		if len(zs) > 0 {
			pipe.ZAdd(ctx, f.keys.Due, zs...)
		}
		_, err := pipe.Exec(ctx)
		require.NoError(b, err)
	}

	var claimed int
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		makeAllDue()
		b.StartTimer()
		start := time.Now()
		for {
			r, err := f.sched.Claim(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			claimed += r.Claimed()
			if r.Emitted != r.Claimed() {
				b.Fatalf("emitted %d of %d claimed", r.Emitted, r.Claimed())
			}
			if r.Claimed() < batch {
				break
			}
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(claimed)/elapsed.Seconds(), "monitors/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(claimed)*float64(batch)/1000, "ms/batch")
}
