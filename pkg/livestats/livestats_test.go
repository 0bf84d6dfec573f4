package livestats_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/livestats"
	"github.com/servercheck/uptime/pkg/testenv"
)

func TestInstancesShareTheirSnapshotsUntilTheyStop(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	key := ks.Key("stats:checker")
	a := livestats.NewPublisher(rdb, key, "a", time.Hour, func() any { return map[string]int{"active": 1} }, testenv.Discard())
	b := livestats.NewPublisher(rdb, key, "b", time.Hour, func() any { return map[string]int{"active": 2} }, testenv.Discard())
	require.NoError(t, a.Publish(t.Context()))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	require.Eventually(t, func() bool {
		got, err := livestats.Read(t.Context(), rdb, key)
		return err == nil && len(got) == 2
	}, 5*time.Second, 10*time.Millisecond)
	got, err := livestats.Read(t.Context(), rdb, key)
	require.NoError(t, err)
	assert.JSONEq(t, `{"active":1}`, string(got["a"]))
	assert.JSONEq(t, `{"active":2}`, string(got["b"]))

	cancel()
	require.NoError(t, <-done)
	got, err = livestats.Read(t.Context(), rdb, key)
	require.NoError(t, err)
	assert.Len(t, got, 1, "a stopped instance removes its snapshot")
	ttl, err := rdb.TTL(t.Context(), key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "the hash expires unless refreshed")
}
