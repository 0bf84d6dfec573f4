package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHistogramPercentile(t *testing.T) {
	t.Parallel()
	// Counter i (0-based here) has the upper bound
	// 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, +Inf.
	hist := func(counts map[int]int64) []int64 {
		h := make([]int64, 14)
		for i, c := range counts {
			h[i] = c
		}
		return h
	}
	for _, tc := range []struct {
		name     string
		histo    []int64
		maxMs    int64
		permille int64
		want     *int64
	}{
		{"an empty histogram has no percentile", hist(nil), 0, 950, nil},
		{"a nil histogram has no percentile", nil, 0, 950, nil},
		{"the rank reached inside a bucket gives its upper bound", hist(map[int]int64{0: 50, 1: 30, 2: 15, 3: 4, 13: 1}), 12000, 950, new(int64(100))},
		{"p99 moves to the next bucket", hist(map[int]int64{0: 50, 1: 30, 2: 15, 3: 4, 13: 1}), 12000, 990, new(int64(200))},
		{"a rank exactly at a bucket's end stays in that bucket", hist(map[int]int64{0: 95, 2: 5}), 100, 950, new(int64(25))},
		{"the rank rounds up: 96 of 100 is needed for p95.1", hist(map[int]int64{0: 95, 2: 5}), 100, 951, new(int64(100))},
		{"the slowest check tightens the bound when inside the bucket", hist(map[int]int64{1: 4}), 30, 950, new(int64(30))},
		{"the first bucket has no lower bound", hist(map[int]int64{0: 3}), 0, 990, new(int64(0))},
		{"an inconsistent maximum is ignored", hist(map[int]int64{4: 3}), 0, 950, new(int64(300))},
		{"the open bucket answers the slowest check", hist(map[int]int64{13: 10}), 15000, 950, new(int64(15000))},
		{"the open bucket without a plausible maximum answers the last finite bound", hist(map[int]int64{13: 10}), 0, 950, new(int64(10000))},
		{"a single check is every percentile", hist(map[int]int64{7: 1}), 800, 10, new(int64(800))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, histogramPercentile(tc.histo, tc.maxMs, tc.permille))
		})
	}
}
