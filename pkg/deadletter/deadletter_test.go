package deadletter_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type fixture struct {
	rdb   *redis.Client
	ks    stream.Keyspace
	pub   *stream.Publisher
	store *deadletter.Store
	mover *deadletter.Mover
	clock *clock
	codec deadletter.Codec
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb, ks := testenv.Redis(t)
	db := testenv.Postgres(t)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	store := deadletter.NewStore(db.Pool)
	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	codec := deadletter.Codec{Producer: "test"}
	mover := deadletter.NewMover(rdb, pub, codec, store, deadletter.DefaultMoverConfig(), prometheus.NewRegistry(), testenv.Logger(t), clk.Now)
	return fixture{rdb: rdb, ks: ks, pub: pub, store: store, mover: mover, clock: clk, codec: codec}
}

func (f fixture) message(t *testing.T, dl stream.DeadLetter) stream.Message {
	t.Helper()
	b, err := f.codec.Encode(dl)
	require.NoError(t, err)
	return stream.Message{ID: "1-1", Stream: stream.DLQ, Payload: b, Deliveries: 1}
}

func (f fixture) delayed(t *testing.T) []redis.Z {
	t.Helper()
	z, err := f.rdb.ZRangeWithScores(t.Context(), f.ks.Key("dlq:delay"), 0, -1).Result()
	require.NoError(t, err)
	return z
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	dl := stream.DeadLetter{
		SourceStream: stream.Results, OriginalID: "17-0", Payload: []byte{0, 1, 2}, Error: "boom",
		Deliveries: 3, Group: "log-writer", Retries: 2, FailedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	b, err := deadletter.Codec{Producer: "p"}.Encode(dl)
	require.NoError(t, err)
	got, err := deadletter.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, dl, got)

	_, err = deadletter.Decode([]byte("not protobuf \xff\xff"))
	assert.Error(t, err)
}

func TestMoverSchedulesRetriesWithExponentialBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retries   int
		wantDelay time.Duration
	}{
		{"a first failure waits 30s", 0, 30 * time.Second},
		{"a second failure waits 1m", 1, time.Minute},
		{"a third failure waits 2m", 2, 2 * time.Minute},
		{"a fourth failure waits 4m", 3, 4 * time.Minute},
		{"a fifth failure waits 8m", 4, 8 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			err := f.mover.Handle(t.Context(), f.message(t, stream.DeadLetter{
				SourceStream: stream.Results, OriginalID: "5-0", Payload: []byte("p"), Retries: tt.retries, FailedAt: f.clock.Now(),
			}))
			require.NoError(t, err)
			z := f.delayed(t)
			require.Len(t, z, 1)
			assert.Equal(t, float64(f.clock.Now().Add(tt.wantDelay).UnixMilli()), z[0].Score)
			dl, err := deadletter.Decode([]byte(z[0].Member.(string)))
			require.NoError(t, err)
			assert.Equal(t, tt.retries+1, dl.Retries)
		})
	}
}

func TestMoverParksExhaustedEntriesAndJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dl   stream.DeadLetter
	}{
		{"an entry retried five times is parked", stream.DeadLetter{SourceStream: stream.Results, OriginalID: "9-0", Retries: 5}},
		{"a check job is parked at once", stream.DeadLetter{SourceStream: stream.Jobs, OriginalID: "9-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.dl.Payload, tt.dl.Error, tt.dl.Deliveries, tt.dl.FailedAt = []byte("x"), "boom", 3, f.clock.Now()
			msg := f.message(t, tt.dl)
			require.NoError(t, f.mover.Handle(t.Context(), msg))
			require.NoError(t, f.mover.Handle(t.Context(), msg), "parking twice is a no-op")
			assert.Empty(t, f.delayed(t))
			rows, total, err := f.store.List(t.Context(), deadletter.StatusParked, 10, 0)
			require.NoError(t, err)
			require.Equal(t, 1, total)
			assert.Equal(t, tt.dl.SourceStream, rows[0].SourceStream)
			assert.Equal(t, tt.dl.OriginalID, rows[0].OriginalID)
			assert.Equal(t, "boom", rows[0].Error)
			assert.Equal(t, []byte("x"), rows[0].Payload)
		})
	}
}

func TestMoverRedrivesOnlyDueRetriesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	start := f.clock.Now()
	require.NoError(t, f.mover.Handle(t.Context(), f.message(t, stream.DeadLetter{
		SourceStream: stream.Events, OriginalID: "3-0", Payload: []byte("event"), FailedAt: start,
	})))

	f.clock.Set(start.Add(29 * time.Second))
	n, err := f.mover.RedriveDue(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "not due before 30s")

	f.clock.Set(start.Add(30 * time.Second))
	n, err = f.mover.RedriveDue(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = f.mover.RedriveDue(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "re-driven once")

	xs, err := f.rdb.XRange(t.Context(), f.ks.Key(stream.Events), "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, xs, 1)
	assert.Equal(t, "event", xs[0].Values["d"])
	assert.Equal(t, "1", xs[0].Values["r"])
	assert.Empty(t, f.delayed(t))
}

// TestPoisonEntryIsRetriedFiveTimesThenParked drives the whole path with
// real consumers: a handler that always fails, the janitor's 3 strikes, the
// mover's five re-drives on the backoff schedule, and the final parking.
func TestPoisonEntryIsRetriedFiveTimesThenParked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	met := stream.NewMetrics(prometheus.NewRegistry())
	newConsumer := func(s, group string) *stream.Consumer {
		c, err := stream.NewConsumer(stream.ConsumerConfig{
			Stream: s, Group: group, Concurrency: 2,
			MinIdle: 100 * time.Millisecond, ClaimInterval: 50 * time.Millisecond, Block: 200 * time.Millisecond,
		}, testenv.NewRedisClient(t), f.rdb, f.pub, f.codec.Encode, met, testenv.Logger(t))
		require.NoError(t, err)
		return c
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	var deliveries atomic.Int64
	results := newConsumer(stream.Results, "log-writer")
	wg.Go(func() {
		_ = results.Run(ctx, stream.HandlerFunc(func(context.Context, stream.Message) error {
			deliveries.Add(1)
			return errors.New("row violates a constraint")
		}))
	})
	dlq := newConsumer(stream.DLQ, "dlq-mover")
	wg.Go(func() { _ = dlq.Run(ctx, f.mover) })

	_, err := f.pub.Publish(t.Context(), stream.Results, []byte("poison"))
	require.NoError(t, err)

	// Each round: wait for the retry to be scheduled, check its delay, move
	// the clock to it and re-drive.
	for retry := 1; retry <= 5; retry++ {
		var z []redis.Z
		require.Eventually(t, func() bool { z = f.delayed(t); return len(z) == 1 }, 20*time.Second, 20*time.Millisecond, "retry %d never scheduled", retry)
		due := time.UnixMilli(int64(z[0].Score))
		assert.Equal(t, f.mover.RetryDelay(retry), due.Sub(f.clock.Now()), "retry %d delay", retry)
		f.clock.Set(due)
		n, err := f.mover.RedriveDue(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}

	var rows []deadletter.Parked
	require.Eventually(t, func() bool {
		var err error
		rows, _, err = f.store.List(t.Context(), "", 10, 0)
		return err == nil && len(rows) == 1
	}, 20*time.Second, 20*time.Millisecond, "never parked")
	assert.Equal(t, stream.Results, rows[0].SourceStream)
	assert.Equal(t, 5, rows[0].Retries)
	assert.Equal(t, "row violates a constraint", rows[0].Error)
	assert.Equal(t, []byte("poison"), rows[0].Payload)
	assert.EqualValues(t, 3*6, deliveries.Load(), "3 deliveries of the original and of each of 5 re-drives")
	assert.Empty(t, f.delayed(t))
}

func TestStoreReplayAndDiscard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, id := range []string{"1-0", "2-0"} {
		require.NoError(t, f.store.Park(t.Context(), stream.DeadLetter{
			SourceStream: stream.Events, OriginalID: id, Payload: []byte("ev-" + id), Error: "e", Deliveries: 3, FailedAt: f.clock.Now(),
		}))
	}
	rows, total, err := f.store.List(t.Context(), deadletter.StatusParked, 10, 0)
	require.NoError(t, err)
	require.Equal(t, 2, total)

	replayed, err := f.store.Replay(t.Context(), rows[0].ID, f.pub)
	require.NoError(t, err)
	assert.Equal(t, deadletter.StatusReplayed, replayed.Status)
	assert.NotNil(t, replayed.ResolvedAt)
	xs, err := f.rdb.XRange(t.Context(), f.ks.Key(stream.Events), "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, xs, 1)
	assert.Equal(t, string(rows[0].Payload), xs[0].Values["d"])

	_, err = f.store.Replay(t.Context(), rows[0].ID, f.pub)
	assert.ErrorIs(t, err, deadletter.ErrNotParked, "a replayed entry cannot be replayed again")

	discarded, err := f.store.Discard(t.Context(), rows[1].ID)
	require.NoError(t, err)
	assert.Equal(t, deadletter.StatusDiscarded, discarded.Status)
	_, err = f.store.Discard(t.Context(), rows[1].ID)
	assert.ErrorIs(t, err, deadletter.ErrNotParked)
	_, err = f.store.Discard(t.Context(), "00000000-0000-0000-0000-000000000000")
	assert.ErrorIs(t, err, deadletter.ErrNotFound)
}
