package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
)

// jsonDeadLetters is the test's dead-letter encoding; services use protobuf.
func jsonDeadLetters(dl stream.DeadLetter) ([]byte, error) { return json.Marshal(dl) }

type fixture struct {
	rdb *redis.Client
	ks  stream.Keyspace
	pub *stream.Publisher
	met *stream.Metrics
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb, ks := testenv.Redis(t)
	return fixture{
		rdb: rdb,
		ks:  ks,
		pub: stream.NewPublisher(rdb, ks, stream.DefaultMaxLen()),
		met: stream.NewMetrics(prometheus.NewRegistry()),
	}
}

func (f fixture) consumer(t *testing.T, cfg stream.ConsumerConfig) *stream.Consumer {
	t.Helper()
	c, err := stream.NewConsumer(cfg, testenv.NewRedisClient(t), f.rdb, f.pub, jsonDeadLetters, f.met, testenv.Logger(t))
	require.NoError(t, err)
	return c
}

// run starts c with h and returns a stop function that cancels it and
// returns Run's error.
func run(t *testing.T, c *stream.Consumer, h stream.Handler) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("consumer did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func (f fixture) publishN(t *testing.T, s string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := f.pub.Publish(t.Context(), s, []byte(strconv.Itoa(i)))
		require.NoError(t, err)
		ids[i] = id
	}
	return ids
}

func (f fixture) pendingCount(t *testing.T, s, group string) int64 {
	t.Helper()
	p, err := f.rdb.XPending(t.Context(), f.ks.Key(s), group).Result()
	require.NoError(t, err)
	return p.Count
}

func TestConsumerHandlesEveryEntryOnceAndAcksIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 2000
	f.publishN(t, stream.Results, n)

	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	c := f.consumer(t, stream.ConsumerConfig{Stream: stream.Results, Group: "log-writer", Concurrency: 32})
	stop := run(t, c, stream.HandlerFunc(func(_ context.Context, m stream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[string(m.Payload)]++
		if len(seen) == n {
			close(all)
		}
		return nil
	}))
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("handled %d of %d entries", len(seen), n)
	}
	require.NoError(t, stop())

	for i := range n {
		assert.Equal(t, 1, seen[strconv.Itoa(i)], "entry %d handled once", i)
	}
	assert.Zero(t, f.pendingCount(t, stream.Results, "log-writer"), "every entry acked")
}

func TestConsumerReadsOnlyWhatItHasCapacityFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publishN(t, stream.Jobs, 10)

	release := make(chan struct{})
	started := make(chan string, 10)
	c := f.consumer(t, stream.ConsumerConfig{Stream: stream.Jobs, Group: "checker", Concurrency: 2, MinIdle: time.Minute})
	stop := run(t, c, stream.HandlerFunc(func(ctx context.Context, m stream.Message) error {
		started <- m.ID
		<-release
		return nil
	}))
	<-started
	<-started
	// Both slots are busy: a third entry must not be read from Redis.
	infos, err := stream.Inspect(t.Context(), f.rdb, f.ks, stream.Jobs)
	require.NoError(t, err)
	require.Len(t, infos[0].Groups, 1)
	assert.EqualValues(t, 2, infos[0].Groups[0].Pending, "only two entries delivered")
	assert.EqualValues(t, 8, infos[0].Groups[0].Lag, "the rest wait in Redis")

	close(release)
	for range 8 {
		<-started
	}
	require.NoError(t, stop())
	assert.Zero(t, f.pendingCount(t, stream.Jobs, "checker"))
}

func TestEntryOfDeadConsumerIsRedeliveredWithinClaimInterval(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publishN(t, stream.Results, 1)
	require.NoError(t, stream.EnsureGroup(t.Context(), f.rdb, f.ks.Key(stream.Results), "log-writer", "0"))

	// A consumer reads the entry and dies without acking it.
	res, err := f.rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{
		Group: "log-writer", Consumer: "killed", Streams: []string{f.ks.Key(stream.Results), ">"}, Count: 1, Block: time.Second,
	}).Result()
	require.NoError(t, err)
	require.Len(t, res[0].Messages, 1)
	killedAt := time.Now()

	got := make(chan stream.Message, 1)
	c := f.consumer(t, stream.ConsumerConfig{
		Stream: stream.Results, Group: "log-writer", Concurrency: 4,
		MinIdle: 300 * time.Millisecond, ClaimInterval: 100 * time.Millisecond,
	})
	stop := run(t, c, stream.HandlerFunc(func(_ context.Context, m stream.Message) error {
		got <- m
		return nil
	}))
	var m stream.Message
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("entry of the dead consumer was never redelivered")
	}
	assert.Equal(t, ids[0], m.ID)
	assert.EqualValues(t, 2, m.Deliveries)
	assert.Less(t, time.Since(killedAt), 300*time.Millisecond+100*time.Millisecond+2*time.Second, "redelivered within min idle plus claim interval (with slack)")
	require.NoError(t, stop())
	assert.Zero(t, f.pendingCount(t, stream.Results, "log-writer"))
}

func TestEntryFailingThreeDeliveriesLandsInDLQ(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publishN(t, stream.Events, 1)

	var mu sync.Mutex
	var deliveries []int64
	c := f.consumer(t, stream.ConsumerConfig{
		Stream: stream.Events, Group: "notifier", Concurrency: 2,
		MinIdle: 100 * time.Millisecond, ClaimInterval: 50 * time.Millisecond,
	})
	stop := run(t, c, stream.HandlerFunc(func(_ context.Context, m stream.Message) error {
		mu.Lock()
		deliveries = append(deliveries, m.Deliveries)
		mu.Unlock()
		return fmt.Errorf("smtp down (delivery %d)", m.Deliveries)
	}))

	var dlq []redis.XMessage
	require.Eventually(t, func() bool {
		var err error
		dlq, err = f.rdb.XRange(t.Context(), f.ks.Key(stream.DLQ), "-", "+").Result()
		return err == nil && len(dlq) == 1
	}, 15*time.Second, 20*time.Millisecond, "entry never reached the dlq")
	require.NoError(t, stop())

	var dl stream.DeadLetter
	require.NoError(t, json.Unmarshal([]byte(dlq[0].Values["d"].(string)), &dl))
	assert.Equal(t, stream.Events, dl.SourceStream)
	assert.Equal(t, ids[0], dl.OriginalID)
	assert.Equal(t, "notifier", dl.Group)
	assert.EqualValues(t, 3, dl.Deliveries)
	assert.Equal(t, "smtp down (delivery 3)", dl.Error)
	assert.Equal(t, []byte("0"), dl.Payload)
	assert.Equal(t, []int64{1, 2, 3}, deliveries, "handled exactly three times")
	assert.Zero(t, f.pendingCount(t, stream.Events, "notifier"), "no longer pending")
}

func TestSlowLiveConsumerKeepsItsEntry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publishN(t, stream.Jobs, 1)

	cfg := stream.ConsumerConfig{
		Stream: stream.Jobs, Group: "checker", Concurrency: 1,
		MinIdle: 400 * time.Millisecond, ClaimInterval: 50 * time.Millisecond,
	}
	var mu sync.Mutex
	var calls []string
	record := func(who string, block <-chan struct{}) stream.Handler {
		return stream.HandlerFunc(func(ctx context.Context, m stream.Message) error {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("%s:%d", who, m.Deliveries))
			mu.Unlock()
			if block != nil {
				select {
				case <-block:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	slowDone := make(chan struct{})
	stopA := run(t, f.consumer(t, cfg), record("a", slowDone))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) == 1 }, 5*time.Second, 10*time.Millisecond)
	stopB := run(t, f.consumer(t, cfg), record("b", nil))

	// The handler runs for three times MinIdle while B's janitor polls.
	time.Sleep(3 * cfg.MinIdle) //nolint:forbidigo // the slow work being simulated, not synchronisation
	close(slowDone)
	require.NoError(t, stopA())
	require.NoError(t, stopB())
	assert.Equal(t, []string{"a:1"}, calls, "B never took the entry A was still handling")
	assert.Zero(t, f.pendingCount(t, stream.Jobs, "checker"))
}

func TestShutdownFinishesInFlightWorkAndLeavesTheRestPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publishN(t, stream.Events, 2)

	started := make(chan string, 2)
	finish := make(chan struct{})
	c := f.consumer(t, stream.ConsumerConfig{
		Stream: stream.Events, Group: "notifier", Concurrency: 2, MinIdle: time.Minute,
		DrainTimeout: 500 * time.Millisecond,
	})
	var mu sync.Mutex
	handled := 0
	stop := run(t, c, stream.HandlerFunc(func(ctx context.Context, m stream.Message) error {
		started <- string(m.Payload)
		if string(m.Payload) == "1" {
			// Never finishes on its own: the drain deadline cancels it.
			<-ctx.Done()
			return ctx.Err()
		}
		<-finish
		mu.Lock()
		handled++
		mu.Unlock()
		return nil
	}))
	<-started
	<-started
	stopErr := make(chan error, 1)
	go func() { stopErr <- stop() }()
	// Shutdown has begun; the in-flight entry may still complete.
	close(finish)
	require.NoError(t, <-stopErr)
	assert.Equal(t, 1, handled)
	assert.EqualValues(t, 1, f.pendingCount(t, stream.Events, "notifier"), "the unfinished entry stays pending for another replica")
}

func TestPublisherCapsStreams(t *testing.T) {
	t.Parallel()
	rdb, ks := testenv.Redis(t)
	pub := stream.NewPublisher(rdb, ks, stream.MaxLen{Default: 100})
	for i := range 1000 {
		_, err := pub.Publish(t.Context(), stream.Monitors, []byte(strconv.Itoa(i)))
		require.NoError(t, err)
	}
	n, err := rdb.XLen(t.Context(), ks.Key(stream.Monitors)).Result()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, int64(100))
	assert.Less(t, n, int64(1000), "MAXLEN ~ trimmed the stream")
}

func TestNewConsumerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  stream.ConsumerConfig
		want string
	}{
		{"a missing stream is reported", stream.ConsumerConfig{Group: "g", Concurrency: 1}, "stream is required"},
		{"a missing group is reported", stream.ConsumerConfig{Stream: "s", Concurrency: 1}, "group is required"},
		{"zero concurrency is reported", stream.ConsumerConfig{Stream: "s", Group: "g"}, "concurrency must be at least 1"},
	}
	pub := stream.NewPublisher(nil, stream.NewKeyspace("x"), stream.DefaultMaxLen())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stream.NewConsumer(tt.cfg, nil, nil, pub, jsonDeadLetters, stream.NewMetrics(prometheus.NewRegistry()), testenv.Discard())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestExtraEntryFieldsReachTheHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: f.ks.Key(stream.Jobs), Values: []any{"d", "tpl", "s", "1700000000000", "r", "2"}}).Result()
	require.NoError(t, err)
	got := make(chan stream.Message, 1)
	stop := run(t, f.consumer(t, stream.ConsumerConfig{Stream: stream.Jobs, Group: "checker", Concurrency: 1}),
		stream.HandlerFunc(func(_ context.Context, m stream.Message) error { got <- m; return nil }))
	m := <-got
	require.NoError(t, stop())
	assert.Equal(t, []byte("tpl"), m.Payload)
	assert.Equal(t, 2, m.Retries)
	assert.Equal(t, map[string]string{"s": "1700000000000"}, m.Fields)
}

func TestASaturatedConsumerTakesADeadConsumersEntriesBeforeNewOnes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := f.ks.Key(stream.Results)
	dead := f.publishN(t, stream.Results, 20)
	require.NoError(t, stream.EnsureGroup(t.Context(), f.rdb, key, "log-writer", "0"))
	_, err := f.rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{
		Group: "log-writer", Consumer: "killed", Streams: []string{key, ">"}, Count: 20, Block: time.Second,
	}).Result()
	require.NoError(t, err)
	fresh := f.publishN(t, stream.Results, 60)

	// One slot, always busy: before the first janitor tick it reads new
	// entries; from the tick on, every freed slot must go to the dead
	// consumer's entries until none is left, not one per tick.
	var mu sync.Mutex
	var order []string
	done := make(chan struct{})
	c := f.consumer(t, stream.ConsumerConfig{
		Stream: stream.Results, Group: "log-writer", Concurrency: 1,
		MinIdle: 50 * time.Millisecond, ClaimInterval: 100 * time.Millisecond,
	})
	stop := run(t, c, stream.HandlerFunc(func(ctx context.Context, m stream.Message) error {
		select {
		case <-time.After(3 * time.Millisecond):
		case <-ctx.Done():
		}
		mu.Lock()
		defer mu.Unlock()
		order = append(order, m.ID)
		if len(order) == len(dead)+len(fresh) {
			close(done)
		}
		return nil
	}))
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("not every entry was handled")
	}
	require.NoError(t, stop())

	isDead := map[string]bool{}
	for _, id := range dead {
		isDead[id] = true
	}
	first, last := -1, -1
	for i, id := range order {
		if isDead[id] {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	require.GreaterOrEqual(t, first, 0)
	assert.Equal(t, len(dead)-1, last-first, "the dead consumer's entries are handled in one run (from %d to %d)", first, last)
	assert.Zero(t, f.pendingCount(t, stream.Results, "log-writer"))
}
