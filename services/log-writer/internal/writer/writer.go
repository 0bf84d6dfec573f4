// Package writer buffers check results and writes them to PostgreSQL in
// batches: the results consumer's handler adds a result to the buffer and
// waits until the batch holding it is committed, so the entry is acked only
// then. The consumer's concurrency is the buffer's capacity: when it is full
// the consumer stops reading and the backlog stays in Redis.
package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
)

var (
	// ErrPoison marks a result the database refuses (a data error of its
	// own, isolated by splitting its batch). Its entry stays pending and is
	// dead-lettered after its last delivery.
	ErrPoison = errors.New("result refused by the database")
	// ErrClosed is returned for results the writer could not write before
	// it stopped; their entries stay pending for another replica.
	ErrClosed = errors.New("writer stopped")
)

// Config tunes the buffer. Zero values take the defaults of DefaultConfig.
type Config struct {
	// FlushSize rows waiting start a flush; it is also the largest batch.
	FlushSize int
	// FlushInterval is the longest a row waits for a flush.
	FlushInterval time.Duration
	// BufferMax is the buffer's capacity, the results consumer's
	// concurrency; it only sizes utilization and the backpressure metric.
	BufferMax int
	// Retries is how many failed attempts of a batch (database
	// unavailable) are retried quietly, with RetryBase doubling each time,
	// before the writer reports the database as down; it then keeps
	// retrying, the delay capped at RetryMax, until the database is back
	// or the writer stops.
	Retries   int
	RetryBase time.Duration
	RetryMax  time.Duration
	// FlushTimeout bounds one transaction.
	FlushTimeout time.Duration
	// Workers flushes run at once, on disjoint monitors, so that
	// PostgreSQL works on as many cores; a monitor's results are still
	// written one batch after the other, in the order they arrived.
	Workers int
	// FinalFlushTimeout bounds the final flush of Run.
	FinalFlushTimeout time.Duration
}

// DefaultConfig is the design's buffer: 500 rows or 5 s, 2000 at most,
// retries after 1 s, 2 s, 4 s, then every 30 s at most.
func DefaultConfig() Config {
	return Config{
		FlushSize: 500, FlushInterval: 5 * time.Second, BufferMax: 2000,
		Retries: 3, RetryBase: time.Second, RetryMax: 30 * time.Second,
		FlushTimeout: 30 * time.Second, FinalFlushTimeout: 10 * time.Second, Workers: 2,
	}
}

func (c *Config) setDefaults() error {
	def := DefaultConfig()
	if c.FlushSize <= 0 {
		c.FlushSize = def.FlushSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = def.FlushInterval
	}
	if c.BufferMax <= 0 {
		c.BufferMax = def.BufferMax
	}
	if c.Retries <= 0 {
		c.Retries = def.Retries
	}
	if c.RetryBase <= 0 {
		c.RetryBase = def.RetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = def.RetryMax
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = def.FlushTimeout
	}
	if c.Workers <= 0 {
		c.Workers = def.Workers
	}
	if c.FinalFlushTimeout <= 0 {
		c.FinalFlushTimeout = def.FinalFlushTimeout
	}
	var errs []error
	if c.FlushSize > c.BufferMax {
		errs = append(errs, fmt.Errorf("flush size %d exceeds the buffer's capacity %d", c.FlushSize, c.BufferMax))
	}
	if c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("retry max %s is below retry base %s", c.RetryMax, c.RetryBase))
	}
	return errors.Join(errs...)
}

// Store writes one batch in one transaction; *store.Store is the real one.
type Store interface {
	Write(ctx context.Context, batch []store.Result) (store.Written, error)
}

// Source delivers messages to a handler until ctx ends and then lets the
// handlers already running finish (a *stream.Consumer).
type Source interface {
	Run(ctx context.Context, h stream.Handler) error
}

// entry is one buffered result and the handler waiting for it.
type entry struct {
	res   store.Result
	added time.Time
	// done receives the outcome once; buffered so that the flush never
	// blocks on a handler that gave up waiting.
	done chan error
}

// Writer is the buffer. Handle is safe for concurrent use. Up to Workers
// flushes run at once, never two holding results of the same monitor, so a
// monitor's results are written in the order they arrived.
type Writer struct {
	cfg     Config
	store   Store
	logger  *slog.Logger
	metrics metrics
	// wake nudges the flush loop (threshold reached, flush requested).
	wake chan struct{}

	mu      sync.Mutex
	pending []*entry // waiting for a flush, oldest first
	size    int      // pending plus being flushed
	// busy holds the monitors of the running flushes.
	busy   map[[16]byte]struct{}
	forced int // pending rows to flush now whatever the thresholds
	closed bool
	full   bool
	counts counts
}

type counts struct {
	added, flushed, failed, flushes int64
	lastFlush                       time.Time
	lastFlushDuration               time.Duration
	flushing                        int
}

type metrics struct {
	written       prometheus.Counter
	skipped       *prometheus.CounterVec
	failedRows    *prometheus.CounterVec
	flushDuration prometheus.Histogram
	bufferRows    prometheus.Gauge
	pauses        prometheus.Counter
	failures      *prometheus.CounterVec
}

// New returns a writer over st with metrics registered on reg.
func New(cfg Config, st Store, reg prometheus.Registerer, logger *slog.Logger) (*Writer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("writer config: %w", err)
	}
	f := promauto.With(reg)
	return &Writer{
		cfg:    cfg,
		store:  st,
		logger: logger.With("component", "writer"),
		wake:   make(chan struct{}, 1),
		busy:   map[[16]byte]struct{}{},
		metrics: metrics{
			written: f.NewCounter(prometheus.CounterOpts{
				Name: "uptime_logwriter_rows_written_total", Help: "Ping logs inserted (new rows only).",
			}),
			skipped: f.NewCounterVec(prometheus.CounterOpts{
				Name: "uptime_logwriter_rows_skipped_total", Help: "Results committed without a new row: duplicate (already stored) or unknown_monitor (monitor deleted).",
			}, []string{"reason"}),
			failedRows: f.NewCounterVec(prometheus.CounterOpts{
				Name: "uptime_logwriter_rows_failed_total", Help: "Results handed back unwritten: malformed, poison (refused by the database) or stopped (writer shut down first).",
			}, []string{"reason"}),
			flushDuration: f.NewHistogram(prometheus.HistogramOpts{
				Name: "uptime_logwriter_flush_duration_seconds", Help: "Duration of committed flush transactions.",
				Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
			}),
			bufferRows: f.NewGauge(prometheus.GaugeOpts{
				Name: "uptime_logwriter_buffer_rows", Help: "Results buffered: waiting or being flushed.",
			}),
			pauses: f.NewCounter(prometheus.CounterOpts{
				Name: "uptime_logwriter_backpressure_pauses_total", Help: "Times the buffer filled up, so the consumer stopped reading.",
			}),
			failures: f.NewCounterVec(prometheus.CounterOpts{
				Name: "uptime_logwriter_flush_failures_total", Help: "Failed flush transactions by kind: data (a poison row, the batch is split) or unavailable (retried).",
			}, []string{"kind"}),
		},
	}, nil
}

// Handle implements stream.Handler: it decodes the result, buffers it and
// waits until the batch holding it is committed (nil: ack) or abandoned (an
// error: the entry stays pending). A malformed entry fails at once.
func (w *Writer) Handle(ctx context.Context, msg stream.Message) error {
	r, err := Decode(msg.Payload)
	if err != nil {
		w.metrics.failedRows.WithLabelValues("malformed").Inc()
		return fmt.Errorf("results entry %s: %w", msg.ID, err)
	}
	e := &entry{res: r, done: make(chan error, 1)}
	if err := w.add(e); err != nil {
		return fmt.Errorf("results entry %s: %w", msg.ID, err)
	}
	select {
	case err := <-e.done:
		if err != nil {
			return fmt.Errorf("results entry %s: %w", msg.ID, err)
		}
		return nil
	case <-ctx.Done():
		// The row may still be written; the redelivered entry is then a
		// duplicate, which is harmless.
		return fmt.Errorf("results entry %s not written yet: %w", msg.ID, ctx.Err())
	}
}

func (w *Writer) add(e *entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	e.added = time.Now()
	w.pending = append(w.pending, e)
	w.size++
	w.counts.added++
	w.metrics.bufferRows.Set(float64(w.size))
	if w.size >= w.cfg.BufferMax && !w.full {
		w.full = true
		w.metrics.pauses.Inc()
	}
	// The first row arms the interval; the threshold starts a flush.
	if len(w.pending) == 1 || len(w.pending) >= w.cfg.FlushSize {
		w.signal()
	}
	return nil
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Flush asks for every row waiting now to be flushed without waiting for
// the size or interval threshold. It does not wait for the flush.
func (w *Writer) Flush() {
	w.mu.Lock()
	w.forced = len(w.pending)
	w.mu.Unlock()
	w.signal()
}

// Run flushes by size, interval and request until ctx ends; then it
// flushes whatever is buffered (the final flush, bounded by
// FinalFlushTimeout), refuses further results with ErrClosed and returns.
// Serve is the variant for a stream consumer.
func (w *Writer) Run(ctx context.Context) error {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var deadline *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		deadline = time.AfterFunc(w.cfg.FinalFlushTimeout, cancel)
		mu.Unlock()
	})
	defer func() {
		stop()
		mu.Lock()
		if deadline != nil {
			deadline.Stop()
		}
		mu.Unlock()
	}()
	w.loop(hard, ctx.Done(), true)
	return nil
}

// Serve runs src with the writer as its handler and the flush loop beside
// it, ordered for a clean shutdown: when ctx ends src stops reading while
// its running handlers keep waiting (stream.ConsumerConfig.DrainTimeout),
// the writer flushes at once what they wait for, and whatever still arrives,
// and stops only after src returned, so the final flush happens before the
// handlers' contexts end. What could not be written then is refused and
// stays pending for another replica.
func (w *Writer) Serve(ctx context.Context, src Source) error {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(hard, ctx.Done(), false)
	}()
	err := src.Run(ctx, w)
	cancel()
	<-done
	return err
}

// loop flushes until ctx ends. Once drain is closed it flushes every
// waiting row at once, and returns when the buffer is empty if
// exitWhenEmpty. On return no flush runs any more, the writer is closed
// and rows still waiting are refused.
func (w *Writer) loop(ctx context.Context, drain <-chan struct{}, exitWhenEmpty bool) {
	defer w.close()
	var running sync.WaitGroup
	defer running.Wait()
	done := make(chan struct{}, w.cfg.Workers)
	free := w.cfg.Workers
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	draining := false
	for ctx.Err() == nil {
		if !draining {
			select {
			case <-drain:
				draining = true
				w.logger.Info("final_flush_started", "rows", w.Stats().CurrentSize)
			default:
			}
		}
		var wait time.Duration
		for free > 0 {
			var batch []*entry
			batch, wait = w.take(draining)
			if len(batch) == 0 {
				break
			}
			free--
			running.Go(func() {
				w.flush(ctx, batch)
				done <- struct{}{}
			})
		}
		if draining && exitWhenEmpty && free == w.cfg.Workers && w.Stats().CurrentSize == 0 {
			return
		}
		var expired <-chan time.Time
		if wait > 0 && free > 0 {
			timer.Reset(wait)
			expired = timer.C
		}
		drainC := drain
		if draining {
			drainC = nil
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-expired:
		case <-drainC:
		case <-done:
			free++
		}
		timer.Stop()
	}
}

// take returns the next batch when a flush is due: up to FlushSize of the
// oldest waiting rows whose monitors no running flush holds. Otherwise it
// returns how long until the oldest row's interval ends (0: no deadline).
func (w *Writer) take(draining bool) ([]*entry, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.pending)
	if n == 0 {
		return nil, 0
	}
	dueAt := w.pending[0].added.Add(w.cfg.FlushInterval)
	now := time.Now()
	if !draining && w.forced == 0 && n < w.cfg.FlushSize && now.Before(dueAt) {
		return nil, dueAt.Sub(now)
	}
	batch := make([]*entry, 0, min(n, w.cfg.FlushSize))
	rest := w.pending[:0]
	for _, e := range w.pending {
		if _, held := w.busy[e.res.MonitorID]; held || len(batch) == w.cfg.FlushSize {
			rest = append(rest, e)
			continue
		}
		batch = append(batch, e)
	}
	clear(w.pending[len(rest):])
	w.pending = rest
	if len(batch) == 0 {
		return nil, 0
	}
	for _, e := range batch {
		w.busy[e.res.MonitorID] = struct{}{}
	}
	w.forced = max(w.forced-len(batch), 0)
	w.counts.flushing++
	return batch, 0
}

// flush commits batch and resolves every entry of it.
func (w *Writer) flush(ctx context.Context, batch []*entry) {
	start := time.Now()
	w.commit(ctx, batch)
	w.mu.Lock()
	for _, e := range batch {
		delete(w.busy, e.res.MonitorID)
	}
	w.counts.flushing--
	w.counts.flushes++
	w.counts.lastFlush = time.Now()
	w.counts.lastFlushDuration = time.Since(start)
	w.mu.Unlock()
}

// commit writes batch, retrying while the database is unavailable (until
// ctx ends) and, on a data error, splitting the batch in halves until the
// poison rows stand alone: the good rows commit, each poison row fails.
func (w *Writer) commit(ctx context.Context, batch []*entry) {
	rows := make([]store.Result, len(batch))
	for i, e := range batch {
		rows[i] = e.res
	}
	for attempt := 1; ; attempt++ {
		err := w.write(ctx, rows)
		if err == nil {
			w.resolve(batch, nil, "")
			return
		}
		if store.IsDataError(err) {
			w.metrics.failures.WithLabelValues("data").Inc()
			if len(batch) == 1 {
				w.resolve(batch, fmt.Errorf("%w: %w", ErrPoison, err), "poison")
				return
			}
			w.logger.Debug("flush_split", "rows", len(batch), "err", err)
			mid := len(batch) / 2
			w.commit(ctx, batch[:mid])
			w.commit(ctx, batch[mid:])
			return
		}
		w.metrics.failures.WithLabelValues("unavailable").Inc()
		delay := w.backoff(attempt)
		if attempt <= w.cfg.Retries {
			w.logger.Warn("flush_failed", "rows", len(batch), "attempt", attempt, "retry_in", delay.String(), "err", err)
		} else {
			// The rows stay buffered; the full buffer stops the consumer.
			w.logger.Error("database_unavailable", "rows", len(batch), "attempt", attempt, "retry_in", delay.String(), "err", err)
		}
		if !sleep(ctx, delay) {
			w.resolve(batch, fmt.Errorf("%w before the database was back: %w", ErrClosed, err), "stopped")
			return
		}
	}
}

// backoff is RetryBase doubled per attempt (1-based), capped at RetryMax.
func (w *Writer) backoff(attempt int) time.Duration {
	d := w.cfg.RetryBase << min(attempt-1, 30)
	if d <= 0 || d > w.cfg.RetryMax {
		return w.cfg.RetryMax
	}
	return d
}

func (w *Writer) write(ctx context.Context, rows []store.Result) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.FlushTimeout)
	defer cancel()
	start := time.Now()
	written, err := w.store.Write(ctx, rows)
	if err != nil {
		return err
	}
	w.metrics.flushDuration.Observe(time.Since(start).Seconds())
	w.metrics.written.Add(float64(written.Inserted))
	w.metrics.skipped.WithLabelValues("duplicate").Add(float64(written.Duplicates))
	w.metrics.skipped.WithLabelValues("unknown_monitor").Add(float64(written.UnknownMonitor))
	return nil
}

// resolve hands err (nil: committed) to every entry's handler.
func (w *Writer) resolve(batch []*entry, err error, reason string) {
	for _, e := range batch {
		e.done <- err
	}
	if err != nil {
		w.metrics.failedRows.WithLabelValues(reason).Add(float64(len(batch)))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.size -= len(batch)
	if err == nil {
		w.counts.flushed += int64(len(batch))
	} else {
		w.counts.failed += int64(len(batch))
	}
	if w.full && w.size < w.cfg.BufferMax {
		w.full = false
	}
	w.metrics.bufferRows.Set(float64(w.size))
}

// close refuses new results and the rows still waiting.
func (w *Writer) close() {
	w.mu.Lock()
	w.closed = true
	left := w.pending
	w.pending = nil
	w.mu.Unlock()
	if len(left) > 0 {
		w.logger.Warn("rows_left_unwritten", "rows", len(left))
		w.resolve(left, ErrClosed, "stopped")
	}
}

// Stats is a snapshot of the buffer, in the shape of the api's
// GET /uptime/stats (the old service's buffer stats).
type Stats struct {
	// CurrentSize counts results waiting or being flushed.
	CurrentSize int `json:"currentSize"`
	// MaxSize is the capacity (BUFFER_MAX).
	MaxSize int `json:"maxSize"`
	// TotalAdded counts results buffered since start.
	TotalAdded int64 `json:"totalAdded"`
	// TotalFlushed counts results committed (acked), duplicates included.
	TotalFlushed int64 `json:"totalFlushed"`
	// TotalFailed counts results handed back unwritten (poison rows,
	// results left at shutdown); their entries stay pending.
	TotalFailed int64 `json:"totalFailed"`
	// FlushCount counts flushes (batches taken from the buffer).
	FlushCount int64 `json:"flushCount"`
	// LastFlushTime is when the last flush ended; null before the first.
	LastFlushTime *time.Time `json:"lastFlushTime"`
	// LastFlushDuration is the last flush's duration in milliseconds,
	// retries included.
	LastFlushDuration int64 `json:"lastFlushDuration"`
	// IsFlushingNow tells whether a flush is running.
	IsFlushingNow bool `json:"isFlushingNow"`
	// Utilization is CurrentSize as a percentage of MaxSize (2 decimals).
	Utilization float64 `json:"utilization"`
}

// Stats returns the buffer's figures now.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Stats{
		CurrentSize:       w.size,
		MaxSize:           w.cfg.BufferMax,
		TotalAdded:        w.counts.added,
		TotalFlushed:      w.counts.flushed,
		TotalFailed:       w.counts.failed,
		FlushCount:        w.counts.flushes,
		LastFlushDuration: w.counts.lastFlushDuration.Milliseconds(),
		IsFlushingNow:     w.counts.flushing > 0,
		Utilization:       math.Round(float64(w.size)*10000/float64(w.cfg.BufferMax)) / 100,
	}
	if !w.counts.lastFlush.IsZero() {
		t := w.counts.lastFlush.UTC()
		s.LastFlushTime = &t
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
