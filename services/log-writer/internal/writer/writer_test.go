package writer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
	"github.com/servercheck/uptime/services/log-writer/internal/writer"
)

// fakeStore records the batches it commits. fail, when set, decides per
// call whether the write fails. block, when set, holds every write until a
// value arrives.
type fakeStore struct {
	mu      sync.Mutex
	batches [][]store.Result
	started [][]store.Result
	calls   []time.Time
	fail    func(call int, batch []store.Result) error
	block   chan struct{}
}

func (s *fakeStore) Write(ctx context.Context, batch []store.Result) (store.Written, error) {
	s.mu.Lock()
	s.started = append(s.started, append([]store.Result(nil), batch...))
	s.mu.Unlock()
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return store.Written{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if s.fail != nil {
		if err := s.fail(len(s.calls), batch); err != nil {
			return store.Written{}, err
		}
	}
	s.batches = append(s.batches, append([]store.Result(nil), batch...))
	return store.Written{Inserted: len(batch)}, nil
}

func (s *fakeStore) committed() [][]store.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]store.Result(nil), s.batches...)
}

func (s *fakeStore) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

func rows(batches [][]store.Result) int {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	return n
}

var slot0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// result builds a CheckCompleted entry of monitor at slot minute i.
func result(t testing.TB, monitor uuid.UUID, i int, mutate ...func(*eventsv1.CheckCompleted)) stream.Message {
	t.Helper()
	slot := slot0.Add(time.Duration(i) * time.Minute)
	c := &eventsv1.CheckCompleted{
		JobId: events.JobID(monitor.String(), slot), MonitorId: monitor.String(),
		Slot: timestamppb.New(slot), StartedAt: timestamppb.New(slot), FinishedAt: timestamppb.New(slot.Add(80 * time.Millisecond)),
		Success: true, StatusCode: 200, Attempts: 1,
		PreviousStatus: eventsv1.MonitorStatus_MONITOR_STATUS_UP, NewStatus: eventsv1.MonitorStatus_MONITOR_STATUS_UP,
		Checker: "checker-test",
	}
	for _, m := range mutate {
		m(c)
	}
	env, err := events.New("checker/test", c)
	require.NoError(t, err)
	b, err := events.Marshal(env)
	require.NoError(t, err)
	return stream.Message{ID: fmt.Sprintf("%d-%s", slot.UnixMilli(), monitor), Stream: stream.Results, Payload: b, Deliveries: 1}
}

func newWriter(t *testing.T, cfg writer.Config, st writer.Store) (*writer.Writer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	w, err := writer.New(cfg, st, reg, testenv.Discard())
	require.NoError(t, err)
	return w, reg
}

// handled tracks handlers started in the background.
type handled struct {
	mu   sync.Mutex
	errs map[string]error
	wg   sync.WaitGroup
}

func (h *handled) start(ctx context.Context, w *writer.Writer, msgs ...stream.Message) {
	for _, m := range msgs {
		h.wg.Go(func() {
			err := w.Handle(ctx, m)
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.errs == nil {
				h.errs = map[string]error{}
			}
			h.errs[m.ID] = err
		})
	}
}

// done returns how many handlers returned and the errors they returned.
func (h *handled) done() (int, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, err := range h.errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return len(h.errs), errs
}

// advance moves the bubble's clock by d and lets everything settle.
func advance(d time.Duration) {
	<-time.After(d)
	synctest.Wait()
}

func TestFlushStartsWhenTheBatchIsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		w, _ := newWriter(t, writer.Config{FlushSize: 3, FlushInterval: 5 * time.Second, BufferMax: 10}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()

		var h handled
		m := uuid.New()
		h.start(t.Context(), w, result(t, m, 0), result(t, m, 1))
		synctest.Wait()
		assert.Empty(t, st.committed(), "two rows wait")
		n, _ := h.done()
		assert.Zero(t, n, "handlers wait for their batch")

		h.start(t.Context(), w, result(t, m, 2))
		synctest.Wait()
		require.Len(t, st.committed(), 1)
		assert.Len(t, st.committed()[0], 3)
		n, errs := h.done()
		assert.Equal(t, 3, n)
		assert.Empty(t, errs)
	})
}

func TestFlushStartsWhenTheOldestRowHasWaitedTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		w, _ := newWriter(t, writer.Config{FlushSize: 500, FlushInterval: 5 * time.Second, BufferMax: 2000}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()

		var h handled
		h.start(t.Context(), w, result(t, uuid.New(), 0))
		advance(3 * time.Second)
		h.start(t.Context(), w, result(t, uuid.New(), 0))
		advance(2*time.Second - time.Millisecond)
		assert.Empty(t, st.committed(), "the oldest row has waited 4.999 s")
		advance(time.Millisecond)
		require.Len(t, st.committed(), 1, "5 s after the oldest row, everything waiting is flushed")
		assert.Len(t, st.committed()[0], 2)
		n, errs := h.done()
		assert.Equal(t, 2, n)
		assert.Empty(t, errs)
	})
}

func TestFlushOnRequestWritesEverythingWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		w, _ := newWriter(t, writer.Config{FlushSize: 2, FlushInterval: time.Hour, BufferMax: 10}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()

		var h handled
		a, b, c := uuid.New(), uuid.New(), uuid.New()
		h.start(t.Context(), w, result(t, a, 0))
		synctest.Wait()
		w.Flush()
		synctest.Wait()
		require.Len(t, st.committed(), 1)

		// A request covers what waits when it comes, in batches of FlushSize.
		st.block = make(chan struct{})
		h.start(t.Context(), w, result(t, a, 1), result(t, b, 1))
		synctest.Wait()
		h.start(t.Context(), w, result(t, c, 1))
		synctest.Wait()
		w.Flush()
		close(st.block)
		synctest.Wait()
		assert.Equal(t, 4, rows(st.committed()))
		n, errs := h.done()
		assert.Equal(t, 4, n)
		assert.Empty(t, errs)
	})
}

func TestRunFlushesWhatWaitsWhenItStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		w, _ := newWriter(t, writer.Config{FlushSize: 500, FlushInterval: time.Hour, BufferMax: 2000}, st)
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan error)
		go func() { stopped <- w.Run(ctx) }()

		var h handled
		h.start(t.Context(), w, result(t, uuid.New(), 0), result(t, uuid.New(), 0), result(t, uuid.New(), 0))
		synctest.Wait()
		cancel()
		require.NoError(t, <-stopped)
		assert.Equal(t, 3, rows(st.committed()), "the final flush wrote the waiting rows")
		synctest.Wait()
		n, errs := h.done()
		assert.Equal(t, 3, n)
		assert.Empty(t, errs)

		err := w.Handle(t.Context(), result(t, uuid.New(), 1))
		assert.ErrorIs(t, err, writer.ErrClosed, "a stopped writer refuses results")
	})
}

// fakeSource delivers messages like stream.Consumer: handlers run with a
// context that outlives ctx by drain, and Run returns when they are done.
type fakeSource struct {
	msgs  []stream.Message
	drain time.Duration
	errs  chan error
}

func (s *fakeSource) Run(ctx context.Context, h stream.Handler) error {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(s.drain, cancel) })
	defer stop()
	var wg sync.WaitGroup
	for _, m := range s.msgs {
		wg.Go(func() { s.errs <- h.Handle(hctx, m) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

func TestServeFlushesBeforeTheHandlersDrainEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		w, _ := newWriter(t, writer.Config{FlushSize: 500, FlushInterval: time.Hour, BufferMax: 2000}, st)
		src := &fakeSource{
			msgs:  []stream.Message{result(t, uuid.New(), 0), result(t, uuid.New(), 0)},
			drain: 10 * time.Second,
			errs:  make(chan error, 2),
		}
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error)
		go func() { served <- w.Serve(ctx, src) }()
		synctest.Wait()
		assert.Empty(t, st.committed())

		start := time.Now()
		cancel()
		require.NoError(t, <-served)
		assert.Less(t, time.Since(start), 10*time.Second, "the final flush did not wait for the drain deadline")
		assert.NoError(t, <-src.errs)
		assert.NoError(t, <-src.errs)
		assert.Equal(t, 2, rows(st.committed()))
	})
}

var errConnRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func TestUnavailableDatabaseIsRetriedWithBackoffUntilItIsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{fail: func(call int, _ []store.Result) error {
			if call <= 7 {
				return errConnRefused
			}
			return nil
		}}
		w, reg := newWriter(t, writer.Config{FlushSize: 2, BufferMax: 2, RetryBase: time.Second, RetryMax: 10 * time.Second}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()

		var h handled
		h.start(t.Context(), w, result(t, uuid.New(), 0), result(t, uuid.New(), 0))
		start := time.Now()
		advance(10 * time.Second)
		n, _ := h.done()
		assert.Zero(t, n, "handlers wait while the database is down")
		assert.Equal(t, 2, w.Stats().CurrentSize, "the rows stay buffered")
		assert.InDelta(t, 1, metric(t, reg, "uptime_logwriter_backpressure_pauses_total"), 0)

		advance(time.Minute)
		var offsets []time.Duration
		for _, c := range st.callTimes() {
			offsets = append(offsets, c.Sub(start))
		}
		// 1 s, 2 s, 4 s, then doubling up to the 10 s cap.
		assert.Equal(t, []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second,
			25 * time.Second, 35 * time.Second, 45 * time.Second}, offsets)
		n, errs := h.done()
		assert.Equal(t, 2, n)
		assert.Empty(t, errs, "the rows were written once the database was back")
	})
}

func TestStoppingDuringAnOutageLeavesTheRowsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{fail: func(int, []store.Result) error { return errConnRefused }}
		w, _ := newWriter(t, writer.Config{FlushSize: 1, BufferMax: 10, FinalFlushTimeout: 5 * time.Second}, st)
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan error)
		go func() { stopped <- w.Run(ctx) }()

		var h handled
		h.start(t.Context(), w, result(t, uuid.New(), 0))
		advance(time.Hour)
		n, _ := h.done()
		assert.Zero(t, n, "an outage of an hour drops nothing")

		start := time.Now()
		cancel()
		require.NoError(t, <-stopped)
		assert.Equal(t, 5*time.Second, time.Since(start), "the final flush gets FinalFlushTimeout")
		synctest.Wait()
		n, errs := h.done()
		assert.Equal(t, 1, n)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], writer.ErrClosed, "the entry stays pending for another replica")
		assert.Equal(t, int64(1), w.Stats().TotalFailed)
	})
}

// poisonStore refuses, like PostgreSQL, every batch holding a status code
// out of range.
func poisonStore() *fakeStore {
	return &fakeStore{fail: func(_ int, batch []store.Result) error {
		for _, r := range batch {
			if r.StatusCode > 999 {
				return &pgconn.PgError{Code: "23514", Message: `new row violates check constraint "ping_logs_status_code_range"`}
			}
		}
		return nil
	}}
}

func TestAPoisonRowIsIsolatedAndTheOthersCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := poisonStore()
		w, reg := newWriter(t, writer.Config{FlushSize: 100, BufferMax: 100}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()

		var h handled
		var msgs []stream.Message
		for i := range 100 {
			msgs = append(msgs, result(t, uuid.New(), i, func(c *eventsv1.CheckCompleted) {
				if i == 37 {
					c.StatusCode = 1000
				}
			}))
		}
		h.start(t.Context(), w, msgs...)
		synctest.Wait()

		assert.Equal(t, 99, rows(st.committed()))
		n, errs := h.done()
		assert.Equal(t, 100, n)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], writer.ErrPoison)
		assert.Contains(t, errs[0].Error(), "ping_logs_status_code_range")
		s := w.Stats()
		assert.Equal(t, int64(99), s.TotalFlushed)
		assert.Equal(t, int64(1), s.TotalFailed)
		assert.Positive(t, metric(t, reg, "uptime_logwriter_flush_failures_total", "data"))
	})
}

// metric returns the value of the counter or gauge name whose labels have
// the values given (any metric of the family when none are given).
func metric(t *testing.T, reg *prometheus.Registry, name string, labelValues ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i, v := range labelValues {
				if i >= len(m.GetLabel()) || m.GetLabel()[i].GetValue() != v {
					continue next
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (s *fakeStore) begun() [][]store.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]store.Result(nil), s.started...)
}

func monitors(batch []store.Result) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range batch {
		ids = append(ids, r.MonitorID)
	}
	return ids
}

func TestConcurrentFlushesNeverShareAMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{block: make(chan struct{})}
		w, _ := newWriter(t, writer.Config{FlushSize: 2, FlushInterval: time.Second, BufferMax: 10, Workers: 2}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()

		var h handled
		a, b, c := uuid.New(), uuid.New(), uuid.New()
		h.start(t.Context(), w, result(t, a, 0))
		synctest.Wait()
		h.start(t.Context(), w, result(t, b, 0))
		synctest.Wait() // the first flush [a0 b0] runs (held)
		h.start(t.Context(), w, result(t, a, 1))
		synctest.Wait()
		h.start(t.Context(), w, result(t, c, 0))
		synctest.Wait() // the second takes c0 only: a belongs to the first
		require.Len(t, st.begun(), 2)
		assert.ElementsMatch(t, []uuid.UUID{a, b}, monitors(st.begun()[0]))
		assert.Equal(t, []uuid.UUID{c}, monitors(st.begun()[1]))
		assert.Equal(t, 4, w.Stats().CurrentSize)

		st.block <- struct{}{}
		st.block <- struct{}{}
		synctest.Wait()
		require.Len(t, st.committed(), 2)
		advance(time.Second) // a1, alone, waits for the interval
		st.block <- struct{}{}
		synctest.Wait()
		got := st.committed()
		require.Len(t, got, 3)
		assert.Equal(t, []uuid.UUID{a}, monitors(got[2]), "a's second result is written after its first")
		assert.Equal(t, slot0.Add(time.Minute), got[2][0].Slot)
		n, errs := h.done()
		assert.Equal(t, 4, n)
		assert.Empty(t, errs)
	})
}

func TestStatsDescribeTheBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{block: make(chan struct{})}
		w, reg := newWriter(t, writer.Config{FlushSize: 2, FlushInterval: time.Hour, BufferMax: 4, Workers: 1}, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()
		assert.Equal(t, writer.Stats{MaxSize: 4}, w.Stats())

		var h handled
		h.start(t.Context(), w, result(t, uuid.New(), 0), result(t, uuid.New(), 0), result(t, uuid.New(), 0))
		synctest.Wait()
		assert.Equal(t, writer.Stats{
			CurrentSize: 3, MaxSize: 4, TotalAdded: 3, IsFlushingNow: true, Utilization: 75,
		}, w.Stats())
		assert.InDelta(t, 3, metric(t, reg, "uptime_logwriter_buffer_rows"), 0)

		advance(250 * time.Millisecond)
		st.block <- struct{}{}
		synctest.Wait()
		flushedAt := time.Now().UTC()
		assert.Equal(t, writer.Stats{
			CurrentSize: 1, MaxSize: 4, TotalAdded: 3, TotalFlushed: 2, FlushCount: 1,
			LastFlushTime: &flushedAt, LastFlushDuration: 250, Utilization: 25,
		}, w.Stats())
		close(st.block)
		w.Flush()
		synctest.Wait()
	})
}

func TestMalformedEntriesFailAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, _ := newWriter(t, writer.Config{}, &fakeStore{})
		err := w.Handle(t.Context(), stream.Message{ID: "1-0", Payload: []byte("not protobuf")})
		require.ErrorIs(t, err, writer.ErrMalformed)
		assert.Zero(t, w.Stats().TotalAdded)
	})
}
