package writer_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
	"github.com/servercheck/uptime/services/log-writer/internal/writer"
)

// database is a migrated schema with monitors to write results for.
type database struct {
	pool *pgxpool.Pool
	st   *store.Store
}

func newDatabase(t *testing.T) database {
	t.Helper()
	pg := testenv.Postgres(t)
	return database{pool: pg.Pool, st: store.New(pg.Pool, 5*time.Second)}
}

func (d database) monitors(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	var user uuid.UUID
	require.NoError(t, d.pool.QueryRow(t.Context(), `INSERT INTO users (email) VALUES ($1) RETURNING id`,
		testenv.Name("u")+"@example.com").Scan(&user))
	rows, err := d.pool.Query(t.Context(), `
		INSERT INTO monitors (user_id, name, url, frequency)
		SELECT $1, 'm' || g, 'https://example.com', 60 FROM generate_series(1, $2) g RETURNING id`, user, n)
	require.NoError(t, err)
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func (d database) count(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT count(*) FROM ping_logs`).Scan(&n))
	return n
}

// run starts w.Run and stops it at the end of the test.
func run(t *testing.T, w *writer.Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// handleAll handles msgs concurrently and returns their errors in order.
func handleAll(ctx context.Context, w *writer.Writer, msgs []stream.Message) []error {
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { errs[i] = w.Handle(ctx, m) })
	}
	wg.Wait()
	return errs
}

func TestRedeliveredResultsAreWrittenOnce(t *testing.T) {
	t.Parallel()
	d := newDatabase(t)
	ids := d.monitors(t, 10)
	w, _ := newWriter(t, writer.Config{FlushSize: 20, FlushInterval: 20 * time.Millisecond, BufferMax: 40}, d.st)
	run(t, w)

	var msgs []stream.Message
	for i, id := range ids {
		msgs = append(msgs, result(t, id, i), result(t, id, i+1))
	}
	for _, err := range handleAll(t.Context(), w, msgs) {
		require.NoError(t, err)
	}
	// The same entries again (a reclaimed batch) and once more in one batch.
	for _, err := range handleAll(t.Context(), w, append(msgs, msgs...)) {
		require.NoError(t, err)
	}
	assert.Equal(t, 20, d.count(t))
	var checks int
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT sum(checks) FROM monitor_rollups_hourly`).Scan(&checks))
	assert.Equal(t, 20, checks)
}

func TestAPoisonRowIsIsolatedAgainstPostgreSQL(t *testing.T) {
	t.Parallel()
	d := newDatabase(t)
	ids := d.monitors(t, 100)
	w, _ := newWriter(t, writer.Config{FlushSize: 100, FlushInterval: time.Hour, BufferMax: 100}, d.st)
	run(t, w)

	msgs := make([]stream.Message, len(ids))
	for i, id := range ids {
		msgs[i] = result(t, id, 0, func(c *eventsv1.CheckCompleted) {
			if i == 61 {
				c.StatusCode = 1000 // violates ping_logs_status_code_range
			}
		})
	}
	errs := handleAll(t.Context(), w, msgs)
	for i, err := range errs {
		if i == 61 {
			require.ErrorIs(t, err, writer.ErrPoison)
			assert.Contains(t, err.Error(), "ping_logs_status_code_range")
			continue
		}
		require.NoError(t, err, "result %d", i)
	}
	assert.Equal(t, 99, d.count(t))
}

// swappable is a store whose implementation the test replaces.
type swappable struct {
	mu sync.Mutex
	st writer.Store
}

func (s *swappable) Write(ctx context.Context, batch []store.Result) (store.Written, error) {
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	return st.Write(ctx, batch)
}

func (s *swappable) set(st writer.Store) {
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
}

func TestResultsWaitOutAPostgreSQLOutage(t *testing.T) {
	t.Parallel()
	d := newDatabase(t)
	ids := d.monitors(t, 5)
	// Nothing listens on port 1: every connection is refused.
	down, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(down.Close)
	st := &swappable{st: store.New(down, time.Second)}
	w, reg := newWriter(t, writer.Config{
		FlushSize: 5, BufferMax: 5, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}, st)
	run(t, w)

	msgs := make([]stream.Message, len(ids))
	for i, id := range ids {
		msgs[i] = result(t, id, 0)
	}
	handled := make(chan []error, 1)
	go func() { handled <- handleAll(t.Context(), w, msgs) }()
	require.Eventually(t, func() bool {
		return metric(t, reg, "uptime_logwriter_flush_failures_total", "unavailable") >= 5
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case <-handled:
		t.Fatal("handlers returned while PostgreSQL was unreachable")
	default:
	}
	assert.Equal(t, 5, w.Stats().CurrentSize, "the rows stay buffered")

	st.set(d.st)
	select {
	case errs := <-handled:
		for _, err := range errs {
			require.NoError(t, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rows were not written once PostgreSQL was back")
	}
	assert.Equal(t, 5, d.count(t))
}

func TestAFlushRequestOnTheChannelFlushes(t *testing.T) {
	t.Parallel()
	d := newDatabase(t)
	ids := d.monitors(t, 3)
	rdb, ks := testenv.Redis(t)
	w, _ := newWriter(t, writer.Config{FlushSize: 1000, FlushInterval: time.Hour, BufferMax: 1000}, d.st)
	run(t, w)
	channel := ks.Key(writer.FlushChannel)
	listener := writer.NewFlushListener(rdb, channel, w, testenv.Discard())
	ctx, cancel := context.WithCancel(t.Context())
	listening := make(chan error, 1)
	go func() { listening <- listener.Run(ctx) }()

	handled := make(chan []error, 1)
	go func() {
		handled <- handleAll(t.Context(), w, []stream.Message{result(t, ids[0], 0), result(t, ids[1], 0), result(t, ids[2], 0)})
	}()
	require.Eventually(t, func() bool {
		subs, err := rdb.PubSubNumSub(t.Context(), channel).Result()
		return err == nil && subs[channel] == 1 && w.Stats().CurrentSize == 3
	}, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, rdb.Publish(t.Context(), channel, "flush").Err())
	select {
	case errs := <-handled:
		for _, err := range errs {
			require.NoError(t, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the flush request did not flush")
	}
	assert.Equal(t, 3, d.count(t))
	cancel()
	require.NoError(t, <-listening)
}

func TestStatsSnapshotHasTheFiguresTheAPIShows(t *testing.T) {
	t.Parallel()
	w, _ := newWriter(t, writer.Config{BufferMax: 2000}, &fakeStore{})
	raw, err := json.Marshal(w.Stats())
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(raw, &s))
	for _, k := range []string{"currentSize", "maxSize", "totalAdded", "totalFlushed", "totalFailed", "flushCount",
		"lastFlushTime", "lastFlushDuration", "isFlushingNow", "utilization"} {
		assert.Contains(t, s, k)
	}
	assert.Nil(t, s["lastFlushTime"], "null before the first flush")
	assert.InDelta(t, 2000, s["maxSize"], 0)
}
