package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/log-writer/internal/store"
)

// BenchmarkWrite measures Store.Write in the steady state: monitors UP with
// an hourly rollup row each, batches of 500 results of distinct monitors,
// written by 1 or 2 concurrent flushes on disjoint monitors (the writer's
// lanes).
func BenchmarkWrite(b *testing.B) {
	for _, lanes := range []int{1, 2} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) { benchmarkWrite(b, lanes) })
	}
}

func benchmarkWrite(b *testing.B, lanes int) {
	f := newFixtureB(b)
	const monitors, batchSize = 20000, 500
	ids := make([]uuid.UUID, 0, monitors)
	rows, err := f.pool.Query(b.Context(), `
		INSERT INTO monitors (user_id, name, url, frequency)
		SELECT $1, 'm' || g, 'https://example.com', 60 FROM generate_series(1, $2) g RETURNING id`, f.user, monitors)
	require.NoError(b, err)
	for rows.Next() {
		var id uuid.UUID
		require.NoError(b, rows.Scan(&id))
		ids = append(ids, id)
	}
	rows.Close()
	h := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	for k := 0; k < monitors; k += batchSize {
		batch := make([]store.Result, batchSize)
		for j := range batch {
			batch[j] = up(ids[k+j], h, true)
		}
		_, err := f.st.Write(b.Context(), batch)
		require.NoError(b, err)
	}
	per := monitors / lanes
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for lane := range lanes {
		wg.Go(func() {
			mine := ids[lane*per : (lane+1)*per]
			for i := range b.N / lanes {
				batch := make([]store.Result, batchSize)
				for j := range batch {
					k := i*batchSize + j
					batch[j] = up(mine[k%per], h.Add(time.Duration(1+k/per)*time.Minute), false)
				}
				if _, err := f.st.Write(b.Context(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N/lanes*lanes*batchSize)/time.Since(start).Seconds(), "rows/s")
}
