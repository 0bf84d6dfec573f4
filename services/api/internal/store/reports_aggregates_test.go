package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestReportsAggregates(t *testing.T) {
	t.Parallel()
	f, reports := newReportsFixture(t)
	now := f.now // today 12:00 UTC
	today := now.Truncate(rptDay)
	u := f.user("owner@example.com")
	m := f.monitor(u, rptMonitor{name: "api"})
	empty := f.monitor(u, rptMonitor{name: "empty"})

	// Histogram counters (0-based) have the upper bounds
	// 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, +Inf ms.
	f.rollup(m.ID, now.Add(-rptHour), rptRollup{ // today 11:00
		successes: 95, failures: 4, maintenance: 1, totalMs: 10_000, maxMs: 12_000, downtimeMs: 60_000,
		histogram: map[int]int32{0: 50, 1: 30, 2: 15, 3: 4, 13: 1},
	})
	f.rollup(m.ID, now.Add(-2*rptHour), rptRollup{ // today 10:00, everything slower than 10 s
		successes: 10, totalMs: 120_000, maxMs: 15_000, histogram: map[int]int32{13: 10},
	})
	f.rollup(m.ID, now.Add(-25*rptHour), rptRollup{ // yesterday 11:00
		successes: 4, totalMs: 110, maxMs: 30, histogram: map[int]int32{1: 4},
	})
	f.rollup(m.ID, now.Add(-7*rptDay), rptRollup{ // the first hour of the hourly window
		successes: 1, totalMs: 20, maxMs: 20, histogram: map[int]int32{0: 1},
	})
	f.rollup(m.ID, now.Add(-7*rptDay-rptHour), rptRollup{ // ends where the hourly window starts
		successes: 2, failures: 1, totalMs: 750, maxMs: 250, downtimeMs: 1_800_000, histogram: map[int]int32{4: 3},
	})
	f.rollup(m.ID, now.Add(-8*rptDay), rptRollup{
		successes: 5, totalMs: 4_000, maxMs: 1_000, histogram: map[int]int32{7: 5},
	})
	f.rollup(m.ID, today.Add(-90*rptDay), rptRollup{ // midnight of the first daily bucket
		successes: 1, totalMs: 10, maxMs: 10, histogram: map[int]int32{0: 1},
	})
	f.rollup(m.ID, today.Add(-90*rptDay-rptHour), rptRollup{successes: 9, histogram: map[int]int32{0: 9}}) // the day before
	f.rollup(m.ID, now.Add(-100*rptDay), rptRollup{successes: 9, histogram: map[int]int32{0: 9}})
	f.rollup(m.ID, now.Add(rptHour), rptRollup{successes: 9, histogram: map[int]int32{0: 9}}) // after now

	agg := func(start time.Time, g string, succ, fail, maint, totalMs, maxMs, downMs, p95, p99 int64) store.Aggregate {
		return store.Aggregate{
			BucketStart: start, Granularity: g, Checks: succ + fail + maint, Successes: succ, Failures: fail,
			MaintenanceChecks: maint, TotalDurationMs: totalMs, MaxDurationMs: maxMs, DowntimeMs: downMs,
			P95Ms: new(p95), P99Ms: new(p99),
		}
	}
	const hourly, daily = store.GranularityHourly, store.GranularityDaily

	for _, tc := range []struct {
		name        string
		granularity string
		want        []store.Aggregate
	}{
		{
			name:        "hourly gives the hours of the last 7 days, oldest first",
			granularity: hourly,
			want: []store.Aggregate{
				agg(now.Add(-7*rptDay), hourly, 1, 0, 0, 20, 20, 0, 20, 20),
				// p95 = p99 = the slowest check, 30 ms, inside the (25, 50] bucket
				agg(now.Add(-25*rptHour), hourly, 4, 0, 0, 110, 30, 0, 30, 30),
				// the open bucket answers the slowest check
				agg(now.Add(-2*rptHour), hourly, 10, 0, 0, 120_000, 15_000, 0, 15_000, 15_000),
				// rank 95 of 100 is reached in (50, 100], rank 99 in (100, 200]
				agg(now.Add(-rptHour), hourly, 95, 4, 1, 10_000, 12_000, 60_000, 100, 200),
			},
		},
		{
			name:        "an empty granularity means hourly",
			granularity: "",
			want: []store.Aggregate{
				agg(now.Add(-7*rptDay), hourly, 1, 0, 0, 20, 20, 0, 20, 20),
				agg(now.Add(-25*rptHour), hourly, 4, 0, 0, 110, 30, 0, 30, 30),
				agg(now.Add(-2*rptHour), hourly, 10, 0, 0, 120_000, 15_000, 0, 15_000, 15_000),
				agg(now.Add(-rptHour), hourly, 95, 4, 1, 10_000, 12_000, 60_000, 100, 200),
			},
		},
		{
			name:        "daily sums the hours of each UTC day of the last 90 days, histograms included",
			granularity: daily,
			want: []store.Aggregate{
				agg(today.Add(-90*rptDay), daily, 1, 0, 0, 10, 10, 0, 10, 10),
				agg(today.Add(-8*rptDay), daily, 5, 0, 0, 4_000, 1_000, 0, 1_000, 1_000),
				// 4 checks: 1 in (0, 25], 3 in (200, 300]; rank 4 lands on the slowest, 250 ms
				agg(today.Add(-7*rptDay), daily, 3, 1, 0, 770, 250, 1_800_000, 250, 250),
				agg(today.Add(-rptDay), daily, 4, 0, 0, 110, 30, 0, 30, 30),
				// 110 checks: ranks 105 and 109 are both in the open bucket
				agg(today, daily, 105, 4, 1, 130_000, 15_000, 60_000, 15_000, 15_000),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reports.Aggregates(t.Context(), m.ID, tc.granularity)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("a monitor without rollups has an empty series", func(t *testing.T) {
		got, err := reports.Aggregates(t.Context(), empty.ID, daily)
		require.NoError(t, err)
		raw, err := json.Marshal(got)
		require.NoError(t, err)
		assert.JSONEq(t, `[]`, string(raw))
	})

	t.Run("an unknown granularity is refused", func(t *testing.T) {
		_, err := reports.Aggregates(t.Context(), m.ID, "WEEKLY")
		require.ErrorIs(t, err, store.ErrUnknownGranularity)
	})

	t.Run("numbers are JSON numbers and times ISO-8601 UTC", func(t *testing.T) {
		got, err := reports.Aggregates(t.Context(), m.ID, hourly)
		require.NoError(t, err)
		raw, err := json.Marshal(got[len(got)-1])
		require.NoError(t, err)
		assert.JSONEq(t, `{"bucketStart":"`+now.Add(-rptHour).Format(time.RFC3339)+`","granularity":"HOURLY",
			"checks":100,"successes":95,"failures":4,"maintenanceChecks":1,"totalDurationMs":10000,
			"maxDurationMs":12000,"downtimeMs":60000,"p95Ms":100,"p99Ms":200}`, string(raw))
	})
}
