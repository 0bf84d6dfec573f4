package db

// LatencyBuckets is the number of counters in a latency histogram
// (monitor_rollups_hourly.latency_histogram): one per finite bound of
// LatencyBucketsMs plus a last one for everything slower (+Inf).
const LatencyBuckets = 14

// latencyBoundsMs must stay equal to the CASE in rollup_histogram_bucket
// (migrations/00004_monitor_rollups_hourly.sql); a test compares them.
var latencyBoundsMs = [LatencyBuckets - 1]int{25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000}

// LatencyBucketsMs returns the inclusive upper bounds, in milliseconds, of the
// finite latency histogram buckets, in increasing order. Counter i (1-based) of
// a histogram counts durations in (bound[i-1], bound[i]]; counter LatencyBuckets
// counts durations above the last bound. The slice is a copy.
func LatencyBucketsMs() []int {
	bounds := latencyBoundsMs // arrays copy on assignment
	return bounds[:]
}

// LatencyBucket returns the 1-based index of the histogram counter a duration
// in milliseconds falls into, the same number as the SQL function
// rollup_histogram_bucket. Negative durations count into the first bucket.
func LatencyBucket(ms int) int {
	for i, bound := range latencyBoundsMs {
		if ms <= bound {
			return i + 1
		}
	}
	return LatencyBuckets
}
