package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servercheck/uptime/db"
)

// Granularities of Aggregates.
const (
	// GranularityHourly: one bucket per UTC hour over the last 7 days.
	GranularityHourly = "HOURLY"
	// GranularityDaily: one bucket per UTC day over the last 90 days.
	GranularityDaily = "DAILY"
)

// ErrUnknownGranularity is returned for a granularity other than HOURLY or
// DAILY.
var ErrUnknownGranularity = errors.New("unknown granularity")

// Aggregate is one bucket of a monitor's rollup series
// (GET /uptime/stats/aggregates/:id). Every count covers all checks of the
// bucket; Successes and Failures exclude maintenance checks, so
// Checks = Successes + Failures + MaintenanceChecks.
type Aggregate struct {
	// BucketStart is the start of the UTC hour or day.
	BucketStart       time.Time `json:"bucketStart"`
	Granularity       string    `json:"granularity"`
	Checks            int64     `json:"checks"`
	Successes         int64     `json:"successes"`
	Failures          int64     `json:"failures"`
	MaintenanceChecks int64     `json:"maintenanceChecks"`
	// TotalDurationMs sums every check's duration (average =
	// TotalDurationMs / Checks); MaxDurationMs is the slowest check.
	TotalDurationMs int64 `json:"totalDurationMs"`
	MaxDurationMs   int64 `json:"maxDurationMs"`
	// DowntimeMs is the time spent DOWN within the bucket.
	DowntimeMs int64 `json:"downtimeMs"`
	// P95Ms and P99Ms are latency percentiles read from the bucket's
	// histogram (see histogramPercentile); null when the bucket has no
	// checks.
	P95Ms *int64 `json:"p95Ms"`
	P99Ms *int64 `json:"p99Ms"`
}

// aggregateSQL sums hourly rollups into buckets of %[1]s. The histogram is
// summed counter by counter: there is no SQL aggregate over arrays, and
// percentiles must come from summed histograms, never from averaged
// percentiles.
var aggregateSQL = func() string {
	counters := make([]string, db.LatencyBuckets)
	for i := range counters {
		counters[i] = fmt.Sprintf("sum(latency_histogram[%d])", i+1)
	}
	return `
SELECT %[1]s AS bucket, sum(checks)::bigint, sum(successes)::bigint, sum(failures)::bigint,
       sum(maintenance_checks)::bigint, sum(total_duration_ms)::bigint, max(max_duration_ms)::bigint,
       sum(downtime_ms)::bigint, ARRAY[` + strings.Join(counters, ", ") + `]::bigint[]
FROM monitor_rollups_hourly
WHERE monitor_id = @monitor AND bucket_start >= @from AND bucket_start <= @now
GROUP BY 1
ORDER BY 1`
}()

// Aggregates returns the monitor's rollup series, oldest bucket first:
// HOURLY (the default when empty) gives the hours of the last 7 days,
// DAILY the UTC days of the last 90 days. The first bucket is the hour or
// day containing now minus the period, the last one the current (partial)
// hour or day; hours or days without checks have no bucket.
func (r *Reports) Aggregates(ctx context.Context, monitorID, granularity string) ([]Aggregate, error) {
	now := r.clock()
	var bucket string
	var from time.Time
	switch granularity {
	case "", GranularityHourly:
		granularity = GranularityHourly
		bucket = "bucket_start"
		from = now.Add(-7 * 24 * time.Hour).Truncate(time.Hour)
	case GranularityDaily:
		bucket = "date_trunc('day', bucket_start, 'UTC')"
		// Truncate counts from the zero time, a UTC midnight.
		from = now.Add(-90 * 24 * time.Hour).Truncate(24 * time.Hour)
	default:
		return nil, fmt.Errorf("aggregates of monitor %s: %w %q", monitorID, ErrUnknownGranularity, granularity)
	}
	rows, err := r.db.Pool.Query(ctx, fmt.Sprintf(aggregateSQL, bucket),
		pgx.NamedArgs{"monitor": monitorID, "from": from, "now": now})
	if err != nil {
		return nil, fmt.Errorf("aggregates of monitor %s: %w", monitorID, err)
	}
	out := []Aggregate{}
	for rows.Next() {
		a := Aggregate{Granularity: granularity}
		var histogram []int64
		if err := rows.Scan(&a.BucketStart, &a.Checks, &a.Successes, &a.Failures, &a.MaintenanceChecks,
			&a.TotalDurationMs, &a.MaxDurationMs, &a.DowntimeMs, &histogram); err != nil {
			rows.Close()
			return nil, fmt.Errorf("aggregates of monitor %s: %w", monitorID, err)
		}
		a.BucketStart = a.BucketStart.UTC()
		a.P95Ms = histogramPercentile(histogram, a.MaxDurationMs, 950)
		a.P99Ms = histogramPercentile(histogram, a.MaxDurationMs, 990)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregates of monitor %s: %w", monitorID, err)
	}
	return out, nil
}

// histogramPercentile estimates the permille-th percentile (950 = p95) of
// the durations counted in histogram (db.LatencyBuckets counters, bounds
// db.LatencyBucketsMs). The rank is ceil(total × permille / 1000), and the
// answer is the inclusive upper bound of the first bucket whose cumulative
// count reaches the rank: an upper estimate, never below the true value.
// The slowest check (maxMs) tightens it when it lies inside that bucket;
// for the open last bucket it is the answer (or, should maxMs be
// inconsistent, the last finite bound). nil when nothing was counted.
func histogramPercentile(histogram []int64, maxMs, permille int64) *int64 {
	var total int64
	for _, c := range histogram {
		total += c
	}
	if total <= 0 {
		return nil
	}
	bounds := db.LatencyBucketsMs()
	rank := (total*permille + 999) / 1000
	var cumulative int64
	for i, c := range histogram {
		cumulative += c
		if cumulative < rank {
			continue
		}
		lower := int64(-1 << 62)
		if i > 0 && i-1 < len(bounds) {
			lower = int64(bounds[i-1])
		}
		var v int64
		switch {
		case i < len(bounds):
			v = int64(bounds[i])
			if maxMs > lower && maxMs < v {
				v = maxMs
			}
		case maxMs > lower:
			v = maxMs
		default:
			v = lower
		}
		return &v
	}
	return nil
}
