package schedule_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/stream"
)

func TestClearDropsPendingJobsAndKeepsTheSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	makeDue(t, f, newIDs(3))
	require.NoError(t, stream.EnsureGroup(t.Context(), f.rdb, f.keys.Jobs, "checker", "0"))
	claimAll(t, f, 100)
	// A checker took two of the three jobs and has not finished them.
	_, err := f.rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{
		Group: "checker", Consumer: "c1", Streams: []string{f.keys.Jobs, ">"}, Count: 2, Block: -1,
	}).Result()
	require.NoError(t, err)

	res, err := f.sched.Clear(t.Context())
	require.NoError(t, err)

	assert.EqualValues(t, 3, res.Dropped)
	assert.EqualValues(t, 2, res.Acked)
	assert.EqualValues(t, 3, res.Released)
	n, err := f.rdb.XLen(t.Context(), f.keys.Jobs).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the jobs stream is empty")
	pending, err := f.rdb.XPending(t.Context(), f.keys.Jobs, "checker").Result()
	require.NoError(t, err)
	assert.Zero(t, pending.Count, "no janitor will redeliver a dropped job")
	size, err := f.sched.Size(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 3, size, "the schedule stays")
	tpls, err := f.rdb.HLen(t.Context(), f.keys.Templates).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 3, tpls)

	again, err := f.sched.Clear(t.Context())
	require.NoError(t, err)
	assert.Zero(t, again, "clearing an empty queue is a no-op")
}
