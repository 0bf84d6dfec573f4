package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Handler handles one message. Returning nil acknowledges it (unless the
// consumer is in ManualAck mode); returning an error leaves it pending, so
// the janitor redelivers it after MinIdle and dead-letters it after
// MaxDeliveries. Handlers must be idempotent: redelivery is normal.
type Handler interface {
	Handle(ctx context.Context, msg Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg Message) error { return f(ctx, msg) }

// ConsumerConfig configures a group consumer.
type ConsumerConfig struct {
	// Stream is the logical stream name (e.g. Results).
	Stream string
	// Group is the consumer group, one per consuming service.
	Group string
	// Name identifies this process in the group; empty means a unique
	// name from hostname, pid and a random suffix.
	Name string
	// Concurrency is the number of messages handled at once; the consumer
	// reads only as many entries as it has free slots (backpressure).
	Concurrency int
	// BatchSize caps COUNT of one read. Default min(Concurrency, 100).
	BatchSize int
	// Block is the XREADGROUP BLOCK time. Default 2s. Never zero (zero
	// would mean forever in Redis).
	Block time.Duration
	// MinIdle is the group's maximum processing time: pending entries idle
	// longer are reclaimed by a janitor. Entries being handled have their
	// idle time refreshed, so a slow live consumer keeps its entries.
	// Default 60s.
	MinIdle time.Duration
	// ClaimInterval is how often the janitor looks for idle entries.
	// Default MinIdle/2, at most 10s.
	ClaimInterval time.Duration
	// MaxDeliveries moves an entry delivered this many times to the dlq
	// stream instead of reclaiming it again. Default 3.
	MaxDeliveries int64
	// ManualAck leaves acknowledgement to the handler (for example inside
	// the checker's MULTI); the consumer only frees the slot.
	ManualAck bool
	// DrainTimeout bounds how long in-flight handlers may run after
	// shutdown starts; what is left stays pending for another replica.
	// Default 10s.
	DrainTimeout time.Duration
	// StartID is where a newly created group starts: "0" (default, the
	// whole stream) or "$" (only new entries).
	StartID string
}

func (c *ConsumerConfig) setDefaults() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("stream is required"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is required"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency must be at least 1, got %d", c.Concurrency))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.Name == "" {
		c.Name = UniqueName()
	}
	if c.BatchSize <= 0 {
		c.BatchSize = min(c.Concurrency, 100)
	}
	if c.Block <= 0 {
		c.Block = 2 * time.Second
	}
	if c.MinIdle <= 0 {
		c.MinIdle = 60 * time.Second
	}
	if c.ClaimInterval <= 0 {
		c.ClaimInterval = min(c.MinIdle/2, 10*time.Second)
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 3
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.StartID == "" {
		c.StartID = "0"
	}
	return nil
}

// UniqueName returns a consumer name unique to this process.
func UniqueName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}

// DeadLetter describes an entry moved to the dlq stream.
type DeadLetter struct {
	SourceStream string
	OriginalID   string
	Payload      []byte
	Error        string
	Deliveries   int64
	Group        string
	Retries      int
	FailedAt     time.Time
}

// DeadLetterEncoder turns a DeadLetter into the dlq entry body; services
// pass the proto-events encoder so that pkg/stream knows no event type.
type DeadLetterEncoder func(DeadLetter) ([]byte, error)

// Consumer reads one stream as one member of a consumer group.
type Consumer struct {
	cfg     ConsumerConfig
	reader  redis.UniversalClient
	rdb     redis.UniversalClient
	ks      Keyspace
	pub     *Publisher
	encode  DeadLetterEncoder
	metrics *Metrics
	logger  *slog.Logger
	now     func() time.Time

	key    string
	errKey string
	slots  chan struct{}

	mu       sync.Mutex
	inflight map[string]time.Time // id -> last idle refresh
}

// NewConsumer returns a consumer. reader is used only for blocking reads and
// must not be shared with short commands; rdb serves everything else.
func NewConsumer(cfg ConsumerConfig, reader, rdb redis.UniversalClient, pub *Publisher, encode DeadLetterEncoder, metrics *Metrics, logger *slog.Logger) (*Consumer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("consumer config: %w", err)
	}
	if encode == nil {
		return nil, errors.New("consumer config: a dead-letter encoder is required")
	}
	ks := pub.Keyspace()
	return &Consumer{
		cfg:      cfg,
		reader:   reader,
		rdb:      rdb,
		ks:       ks,
		pub:      pub,
		encode:   encode,
		metrics:  metrics,
		logger:   logger.With("component", "stream_consumer", "stream", cfg.Stream, "group", cfg.Group, "consumer", cfg.Name),
		now:      time.Now,
		key:      ks.Key(cfg.Stream),
		errKey:   ks.Key("errors:" + cfg.Stream + ":" + cfg.Group),
		slots:    make(chan struct{}, cfg.Concurrency),
		inflight: map[string]time.Time{},
	}, nil
}

// Name is the consumer's name in its group.
func (c *Consumer) Name() string { return c.cfg.Name }

// EnsureGroup creates the stream and group when missing; it is idempotent.
func EnsureGroup(ctx context.Context, rdb redis.Cmdable, key, group, startID string) error {
	err := rdb.XGroupCreateMkStream(ctx, key, group, startID).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create group %s on %s: %w", group, key, err)
	}
	return nil
}

// Run consumes until ctx ends, then stops reading, lets in-flight handlers
// finish within DrainTimeout, flushes acks and returns.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if err := EnsureGroup(ctx, c.rdb, c.key, c.cfg.Group, c.cfg.StartID); err != nil {
		return err
	}
	// Handlers get a context that outlives ctx by DrainTimeout, so work
	// already read can finish and be acked during shutdown.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.NewTimer(c.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelHandlers()
		case <-handlerCtx.Done():
		}
	})
	defer stopDrain()

	work := make(chan Message, c.cfg.Concurrency)
	acks := make(chan Message, c.cfg.Concurrency)

	var workers sync.WaitGroup
	for range c.cfg.Concurrency {
		workers.Go(func() { c.work(handlerCtx, h, work, acks) })
	}
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		// Acks must still go out after the drain deadline cancelled the
		// handlers: the work they confirm is done.
		c.ackLoop(context.WithoutCancel(ctx), acks)
	}()

	var producers sync.WaitGroup
	var readErr error
	producers.Go(func() { readErr = c.readLoop(ctx, work) })
	producers.Go(func() { c.refreshLoop(ctx) })
	producers.Wait()
	close(work)
	workers.Wait()
	close(acks)
	<-ackerDone
	cancelHandlers()
	return readErr
}

// acquire takes at least one free slot (blocking) and up to n without
// blocking. It returns 0 when ctx ended.
func (c *Consumer) acquire(ctx context.Context, n int) int {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	got := 1
	for got < n {
		select {
		case c.slots <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

func (c *Consumer) release(n int) {
	for range n {
		<-c.slots
	}
}

// readLoop reads new entries and, every ClaimInterval, runs the janitor
// pass first with the same free slots, so reclaimed and new entries share
// one capacity and neither starves the other.
func (c *Consumer) readLoop(ctx context.Context, work chan<- Message) error {
	backoff := 100 * time.Millisecond
	claimTick := time.NewTicker(c.cfg.ClaimInterval)
	defer claimTick.Stop()
	// backlog: the last janitor pass left idle entries behind for want of
	// slots. Then every freed slot goes to the janitor first, so that a dead
	// replica's entries (the oldest work) come back as fast as this one
	// frees capacity, not one per tick while it is saturated.
	backlog := false
	for {
		n := c.acquire(ctx, c.cfg.BatchSize)
		if n == 0 {
			return nil
		}
		due := backlog
		if !due {
			select {
			case <-claimTick.C:
				due = true
			default:
			}
		}
		if due {
			claimed, more, err := c.reclaim(ctx, work, n)
			if err != nil && ctx.Err() == nil {
				c.logger.Warn("reclaim_failed", "err", err)
			}
			backlog = more && err == nil
			n -= claimed
			if n == 0 {
				continue
			}
		}
		res, err := c.reader.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    c.cfg.Group,
			Consumer: c.cfg.Name,
			Streams:  []string{c.key, ">"},
			Count:    int64(n),
			Block:    c.cfg.Block,
		}).Result()
		if ctx.Err() != nil {
			c.release(n)
			return nil
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			c.release(n)
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream or group was deleted under us (e.g. a wiped
				// Redis): recreate and go on.
				if gerr := EnsureGroup(ctx, c.rdb, c.key, c.cfg.Group, c.cfg.StartID); gerr != nil {
					c.logger.Warn("recreate_group_failed", "err", gerr)
				}
			} else {
				c.logger.Warn("stream_read_failed", "err", err, "retry_in", backoff.String())
			}
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		var got int
		for _, s := range res {
			for _, x := range s.Messages {
				got++
				c.dispatch(ctx, work, x, 1)
			}
		}
		c.release(n - got)
	}
}

// dispatch hands an entry (for which a slot is held) to the workers.
func (c *Consumer) dispatch(ctx context.Context, work chan<- Message, x redisEntry, deliveries int64) {
	msg, err := decodeEntry(c.cfg.Stream, x, deliveries)
	if err != nil {
		// A malformed entry can never be handled: leave it pending so that
		// it is dead-lettered with the reason after MaxDeliveries.
		c.recordError(ctx, msg.ID, err)
		c.release(1)
		return
	}
	c.mu.Lock()
	c.inflight[msg.ID] = c.now()
	c.mu.Unlock()
	c.metrics.consumed.WithLabelValues(c.cfg.Stream, c.cfg.Group).Inc()
	c.metrics.inflight.WithLabelValues(c.cfg.Stream, c.cfg.Group).Inc()
	work <- msg // never blocks: work has Concurrency capacity and a slot is held
}

func (c *Consumer) work(ctx context.Context, h Handler, work <-chan Message, acks chan<- Message) {
	for msg := range work {
		start := time.Now()
		err := h.Handle(ctx, msg)
		c.metrics.handleSeconds.WithLabelValues(c.cfg.Stream, c.cfg.Group).Observe(time.Since(start).Seconds())
		c.mu.Lock()
		delete(c.inflight, msg.ID)
		c.mu.Unlock()
		c.metrics.inflight.WithLabelValues(c.cfg.Stream, c.cfg.Group).Dec()
		if err != nil {
			c.metrics.failed.WithLabelValues(c.cfg.Stream, c.cfg.Group).Inc()
			c.logger.Warn("handler_failed", "id", msg.ID, "deliveries", msg.Deliveries, "err", err)
			c.recordError(ctx, msg.ID, err)
		} else if !c.cfg.ManualAck || msg.Deliveries > 1 {
			// In ManualAck mode the handler acked already; a reclaimed
			// entry still goes through the acker to clear its error text.
			acks <- msg
		}
		c.release(1)
	}
}

// recordError keeps the last error of an entry for its dead letter.
func (c *Consumer) recordError(ctx context.Context, id string, err error) {
	if id == "" {
		return
	}
	if herr := c.rdb.HSet(context.WithoutCancel(ctx), c.errKey, id, err.Error()).Err(); herr != nil {
		c.logger.Warn("record_error_failed", "id", id, "err", herr)
	}
}

// ackLoop batches acknowledgements: one XACK per burst of handled entries.
func (c *Consumer) ackLoop(ctx context.Context, acks <-chan Message) {
	const maxBatch = 256
	ids := make([]string, 0, maxBatch)
	var retried []string
	flush := func() {
		if len(ids) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		pipe := c.rdb.Pipeline()
		if !c.cfg.ManualAck {
			pipe.XAck(fctx, c.key, c.cfg.Group, ids...)
		}
		if len(retried) > 0 {
			pipe.HDel(fctx, c.errKey, retried...)
		}
		if _, err := pipe.Exec(fctx); err != nil {
			// Unacked entries stay pending and are redelivered: handlers
			// are idempotent, so this costs work, not correctness.
			c.logger.Warn("ack_failed", "count", len(ids), "err", err)
		} else {
			c.metrics.acked.WithLabelValues(c.cfg.Stream, c.cfg.Group).Add(float64(len(ids)))
		}
		ids = ids[:0]
		retried = retried[:0]
	}
	for msg := range acks {
		ids = append(ids, msg.ID)
		if msg.Deliveries > 1 {
			retried = append(retried, msg.ID)
		}
		// Drain what is already queued, then flush.
	drain:
		for len(ids) < maxBatch {
			select {
			case m, ok := <-acks:
				if !ok {
					break drain
				}
				ids = append(ids, m.ID)
				if m.Deliveries > 1 {
					retried = append(retried, m.ID)
				}
			default:
				break drain
			}
		}
		flush()
	}
	flush()
}

// refreshLoop resets the idle time of entries this process is still
// handling, so that a slow but live consumer is not robbed by a janitor.
// XCLAIM ... JUSTID does not count as a delivery.
func (c *Consumer) refreshLoop(ctx context.Context) {
	every := c.cfg.MinIdle / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.now()
		var ids []string
		c.mu.Lock()
		for id, last := range c.inflight {
			if now.Sub(last) >= every {
				ids = append(ids, id)
				c.inflight[id] = now
			}
		}
		c.mu.Unlock()
		for len(ids) > 0 {
			batch := ids[:min(len(ids), 500)]
			ids = ids[len(batch):]
			// MinIdle/8 keeps us from stealing back an entry another
			// consumer claimed moments ago.
			err := c.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
				Stream:   c.key,
				Group:    c.cfg.Group,
				Consumer: c.cfg.Name,
				MinIdle:  c.cfg.MinIdle / 8,
				Messages: batch,
			}).Err()
			if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
				c.logger.Warn("refresh_idle_failed", "count", len(batch), "err", err)
			}
		}
	}
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
