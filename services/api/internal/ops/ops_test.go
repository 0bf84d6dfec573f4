package ops_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/livestats"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/api/internal/ops"
)

func TestStatsSumEveryLiveInstance(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	db := testenv.Postgres(t)
	publish := func(key, instance string, v any) {
		require.NoError(t, livestats.NewPublisher(rdb, ks.Key(key), instance, time.Hour, func() any { return v }, testenv.Discard()).Publish(t.Context()))
	}
	publish(ops.CheckerStatsKey, "checker-1", map[string]any{"activeRequests": 3, "totalRequests": 100, "successfulRequests": 90,
		"failedRequests": 10, "timeoutRequests": 2, "circuitBreakerOpen": 1, "averageResponseTime": 10.0, "p95ResponseTime": 40.0, "p99ResponseTime": 90.0})
	publish(ops.CheckerStatsKey, "checker-2", map[string]any{"activeRequests": 1, "totalRequests": 300, "successfulRequests": 300,
		"averageResponseTime": 20.0, "p95ResponseTime": 30.0, "p99ResponseTime": 120.0})
	last := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	publish(ops.LogWriterStatsKey, "lw-1", map[string]any{"currentSize": 500, "maxSize": 2000, "totalAdded": 1000, "totalFlushed": 500,
		"flushCount": 1, "lastFlushTime": last, "lastFlushDuration": 12.5})

	admin := ops.NewAdmin(rdb, ks, deadletter.NewStore(db.Pool))
	got, err := admin.Stats(t.Context())
	require.NoError(t, err)
	raw, err := json.Marshal(got)
	require.NoError(t, err)
	var st ops.Stats
	require.NoError(t, json.Unmarshal(raw, &st))

	require.NotNil(t, st.HTTPPool)
	assert.EqualValues(t, 4, st.HTTPPool.ActiveRequests)
	assert.EqualValues(t, 400, st.HTTPPool.TotalRequests)
	assert.EqualValues(t, 10, st.HTTPPool.FailedRequests)
	assert.InDelta(t, 17.5, st.HTTPPool.AverageResponseTime, 1e-9, "weighted by requests")
	assert.InDelta(t, 120.0, st.HTTPPool.P99ResponseTime, 1e-9, "the worst instance's percentile")
	require.NotNil(t, st.Buffer)
	assert.EqualValues(t, 500, st.Buffer.CurrentSize)
	require.NotNil(t, st.BufferUtilization)
	assert.InDelta(t, 25.0, *st.BufferUtilization, 1e-9)
	assert.Equal(t, last, st.Buffer.LastFlushTime.UTC())
	assert.Len(t, st.Checkers, 2)
	assert.Len(t, st.Streams, 5)
}

func TestStatsAreNullWhileNoInstanceReports(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	db := testenv.Postgres(t)
	got, err := ops.NewAdmin(rdb, ks, deadletter.NewStore(db.Pool)).Stats(t.Context())
	require.NoError(t, err)
	raw, err := json.Marshal(got)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Nil(t, m["httpPool"], "never invented numbers")
	assert.Nil(t, m["buffer"])
	assert.Nil(t, m["bufferUtilization"])
}
