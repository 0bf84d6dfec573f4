package db_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/db"
)

func TestLatencyBucketsMs(t *testing.T) {
	t.Parallel()
	bounds := db.LatencyBucketsMs()
	require.Len(t, bounds, db.LatencyBuckets-1)
	require.IsIncreasing(t, bounds)
	bounds[0] = -1
	require.Equal(t, 25, db.LatencyBucketsMs()[0], "callers get a copy")
}

func TestLatencyBucket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ms   int
		want int
	}{
		{math.MinInt32, 1}, {-1, 1}, {0, 1}, {25, 1}, {26, 2}, {50, 2}, {51, 3},
		{1000, 8}, {1001, 9}, {10000, 13}, {10001, 14}, {math.MaxInt32, 14},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, db.LatencyBucket(tt.ms), "LatencyBucket(%d)", tt.ms)
	}
}

// latencyEdgeValues are every bound, its neighbours and the extremes of int4.
func latencyEdgeValues() []int {
	values := []int{math.MinInt32, -1, 0, 1, math.MaxInt32 - 1, math.MaxInt32}
	for _, b := range db.LatencyBucketsMs() {
		values = append(values, b-1, b, b+1)
	}
	return values
}

func TestLatencyBucketAgreesWithSQL(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	for _, ms := range latencyEdgeValues() {
		var got int
		err := sqlDB.QueryRowContext(t.Context(), `SELECT rollup_histogram_bucket($1::int)`, ms).Scan(&got)
		require.NoError(t, err)
		require.Equal(t, db.LatencyBucket(ms), got, "bucket of %d ms", ms)
	}
}

func TestRollupHistogramAggregateCountsLikeGo(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	values := latencyEdgeValues()
	want := make([]int64, db.LatencyBuckets)
	for _, ms := range values {
		want[db.LatencyBucket(ms)-1]++
	}
	int4s := make([]int32, len(values))
	for i, v := range values {
		int4s[i] = int32(v)
	}

	var got []int64
	err := sqlDB.QueryRowContext(t.Context(),
		`SELECT array_to_json(rollup_histogram_agg(d))::text FROM unnest($1::int[]) AS d`,
		int4Array(int4s)).Scan(jsonInts(&got))
	require.NoError(t, err)
	require.Equal(t, want, got)

	t.Run("NULL durations are not counted and an empty set is all zeros", func(t *testing.T) {
		var got []int64
		err := sqlDB.QueryRowContext(t.Context(),
			`SELECT array_to_json(rollup_histogram_agg(NULL::int))::text`).Scan(jsonInts(&got))
		require.NoError(t, err)
		require.Equal(t, make([]int64, db.LatencyBuckets), got)
	})

	t.Run("merging adds counters", func(t *testing.T) {
		var got []int64
		err := sqlDB.QueryRowContext(t.Context(),
			`SELECT array_to_json(rollup_histogram_merge(
			     rollup_histogram_add(NULL, 10), rollup_histogram_add(rollup_histogram_add(NULL, 10), 20000)))::text`,
		).Scan(jsonInts(&got))
		require.NoError(t, err)
		want := make([]int64, db.LatencyBuckets)
		want[0], want[db.LatencyBuckets-1] = 2, 1
		require.Equal(t, want, got)
	})
}

// int4Array renders values as a PostgreSQL array literal.
func int4Array(values []int32) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = strconv.Itoa(int(v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// jsonInts scans a JSON array of integers into dst.
func jsonInts(dst *[]int64) sql.Scanner { return jsonIntsScanner{dst} }

type jsonIntsScanner struct{ dst *[]int64 }

func (s jsonIntsScanner) Scan(src any) error {
	var text []byte
	switch v := src.(type) {
	case string:
		text = []byte(v)
	case []byte:
		text = v
	default:
		return fmt.Errorf("scan %T as JSON integers", src)
	}
	return json.Unmarshal(text, s.dst)
}

func TestRollupUpsertFromInsertedPingLogs(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	monitorID := insertMonitor(t, sqlDB, insertUser(t, sqlDB, "owner@example.com"))

	// The statement the README shows for the log-writer: insert a batch of
	// results and fold exactly the rows really inserted into the rollups.
	const flush = `
		WITH batch (slot, duration_ms, success, maintenance) AS (
		    SELECT * FROM unnest($2::timestamptz[], $3::int[], $4::bool[], $5::bool[])
		), inserted AS (
		    INSERT INTO ping_logs (monitor_id, slot, "timestamp", duration_ms, success, maintenance)
		    SELECT $1, slot, slot, duration_ms, success, maintenance FROM batch
		    ON CONFLICT (monitor_id, slot) DO NOTHING
		    RETURNING monitor_id, slot, duration_ms, success, maintenance
		)
		INSERT INTO monitor_rollups_hourly AS r (monitor_id, bucket_start, checks, successes, failures,
		    maintenance_checks, total_duration_ms, max_duration_ms, latency_histogram)
		SELECT monitor_id, date_trunc('hour', slot, 'UTC'), count(*),
		       count(*) FILTER (WHERE success AND NOT maintenance),
		       count(*) FILTER (WHERE NOT success AND NOT maintenance),
		       count(*) FILTER (WHERE maintenance),
		       sum(duration_ms), max(duration_ms), rollup_histogram_agg(duration_ms)
		FROM inserted GROUP BY 1, 2
		ON CONFLICT (monitor_id, bucket_start) DO UPDATE SET
		    checks = r.checks + EXCLUDED.checks,
		    successes = r.successes + EXCLUDED.successes,
		    failures = r.failures + EXCLUDED.failures,
		    maintenance_checks = r.maintenance_checks + EXCLUDED.maintenance_checks,
		    total_duration_ms = r.total_duration_ms + EXCLUDED.total_duration_ms,
		    max_duration_ms = greatest(r.max_duration_ms, EXCLUDED.max_duration_ms),
		    latency_histogram = rollup_histogram_merge(r.latency_histogram, EXCLUDED.latency_histogram)`

	hour := utcDay(time.Now()).Add(time.Hour)
	slot := func(minute int) string { return hour.Add(time.Duration(minute) * time.Minute).Format(time.RFC3339) }
	exec := func(slots []string, durations []int32, success, maintenance []bool) {
		t.Helper()
		_, err := sqlDB.ExecContext(t.Context(), flush, monitorID,
			"{"+strings.Join(slots, ",")+"}", int4Array(durations),
			boolArray(success), boolArray(maintenance))
		require.NoError(t, err)
	}
	exec([]string{slot(0), slot(1), slot(2)}, []int32{10, 60, 20000},
		[]bool{true, true, false}, []bool{false, false, false})
	// A redelivered slot 2 and two new ones, one in maintenance.
	exec([]string{slot(2), slot(3), slot(4)}, []int32{20000, 30, 40},
		[]bool{false, true, false}, []bool{false, false, true})

	var checks, successes, failures, maintenance, maxDuration int
	var total int64
	var histogram []int64
	err := sqlDB.QueryRowContext(t.Context(), `
		SELECT checks, successes, failures, maintenance_checks, total_duration_ms, max_duration_ms,
		       array_to_json(latency_histogram)::text
		FROM monitor_rollups_hourly WHERE monitor_id = $1 AND bucket_start = $2`, monitorID, hour).
		Scan(&checks, &successes, &failures, &maintenance, &total, &maxDuration, jsonInts(&histogram))
	require.NoError(t, err)
	require.Equal(t, []int{5, 3, 1, 1, 20000}, []int{checks, successes, failures, maintenance, maxDuration})
	require.EqualValues(t, 10+60+20000+30+40, total)
	want := make([]int64, db.LatencyBuckets)
	want[db.LatencyBucket(10)-1]++
	want[db.LatencyBucket(60)-1]++
	want[db.LatencyBucket(20000)-1]++
	want[db.LatencyBucket(30)-1]++
	want[db.LatencyBucket(40)-1]++
	require.Equal(t, want, histogram)
}

// boolArray renders values as a PostgreSQL array literal.
func boolArray(values []bool) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = strconv.FormatBool(v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
