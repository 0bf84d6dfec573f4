package heartbeat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/pkg/testenv"
)

func TestStore(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a monitor never pinged has no time", func(t *testing.T) {
		t.Parallel()
		rdb, ks := testenv.Redis(t)
		s := heartbeat.New(rdb, ks)
		_, ok, err := s.Last(t.Context(), "m1")
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("a ping is read back to the millisecond under the keyspace, with a TTL", func(t *testing.T) {
		t.Parallel()
		rdb, ks := testenv.Redis(t)
		s := heartbeat.New(rdb, ks)
		at := base.Add(123 * time.Millisecond)
		require.NoError(t, s.Record(t.Context(), "m1", at))
		got, ok, err := s.Last(t.Context(), "m1")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, at, got)
		assert.Equal(t, ks.Key("hb:m1"), s.Key("m1"))
		ttl, err := rdb.PTTL(t.Context(), s.Key("m1")).Result()
		require.NoError(t, err)
		assert.InDelta(t, heartbeat.TTL.Seconds(), ttl.Seconds(), 60)
	})

	t.Run("a later ping moves the time forward and an earlier one does not move it back", func(t *testing.T) {
		t.Parallel()
		rdb, ks := testenv.Redis(t)
		s := heartbeat.New(rdb, ks)
		require.NoError(t, s.Record(t.Context(), "m1", base))
		require.NoError(t, s.Record(t.Context(), "m1", base.Add(time.Minute)))
		require.NoError(t, s.Record(t.Context(), "m1", base.Add(30*time.Second)))
		got, _, err := s.Last(t.Context(), "m1")
		require.NoError(t, err)
		assert.Equal(t, base.Add(time.Minute), got)
	})

	t.Run("monitors do not share a time", func(t *testing.T) {
		t.Parallel()
		rdb, ks := testenv.Redis(t)
		s := heartbeat.New(rdb, ks)
		require.NoError(t, s.Record(t.Context(), "m1", base))
		_, ok, err := s.Last(t.Context(), "m2")
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("a value that is not a time is an error, not a ping", func(t *testing.T) {
		t.Parallel()
		rdb, ks := testenv.Redis(t)
		s := heartbeat.New(rdb, ks)
		require.NoError(t, rdb.Set(t.Context(), s.Key("m1"), "garbage", 0).Err())
		_, ok, err := s.Last(t.Context(), "m1")
		require.Error(t, err)
		assert.False(t, ok)
	})
}
