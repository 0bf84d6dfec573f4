package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/servercheck/uptime/pkg/stream"
)

// Parker stores a dead letter for good.
type Parker interface {
	Park(ctx context.Context, dl stream.DeadLetter) error
}

// MoverConfig tunes the retry schedule.
type MoverConfig struct {
	// BaseDelay is the wait before the first re-drive; each next one
	// doubles it. Default 30s.
	BaseDelay time.Duration
	// MaxRetries re-drives happen before an entry is parked. Default 5.
	MaxRetries int
	// NoRetry lists streams whose entries are parked at once: a check job's
	// slot is stale by the time it could be retried. Default [jobs].
	NoRetry []string
	// Interval is how often due retries are re-driven. Default 1s.
	Interval time.Duration
	// BatchSize caps re-drives per pass. Default 100.
	BatchSize int
}

// DefaultMoverConfig is the schedule of DESIGN.md section 4: 5 re-drives
// after 30 s, 1 min, 2 min, 4 min and 8 min, then parking.
func DefaultMoverConfig() MoverConfig {
	return MoverConfig{BaseDelay: 30 * time.Second, MaxRetries: 5, NoRetry: []string{stream.Jobs}, Interval: time.Second, BatchSize: 100}
}

// redriveScript removes one member from the delay set and, only if this
// caller removed it, appends its payload to the source stream: any number
// of movers can run without re-driving an entry twice.
//
// KEYS: 1 delay set, 2 source stream. ARGV: 1 member, 2 MAXLEN, 3 payload, 4 retries.
var redriveScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'd', ARGV[3], 'r', ARGV[4])
`)

// Mover consumes the dlq stream: it schedules a re-drive with exponential
// backoff through a delay sorted set, or parks the entry in PostgreSQL when
// its retries are used up or its stream is never retried.
type Mover struct {
	rdb     redis.Cmdable
	pub     *stream.Publisher
	codec   Codec
	parker  Parker
	cfg     MoverConfig
	logger  *slog.Logger
	now     func() time.Time
	delay   string
	metrics moverMetrics
}

type moverMetrics struct {
	scheduled *prometheus.CounterVec
	redriven  *prometheus.CounterVec
	parked    *prometheus.CounterVec
	delayed   prometheus.Gauge
}

// NewMover returns a mover. now is the clock (time.Now in production).
func NewMover(rdb redis.Cmdable, pub *stream.Publisher, codec Codec, parker Parker, cfg MoverConfig, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time) *Mover {
	def := DefaultMoverConfig()
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = def.BaseDelay
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = def.MaxRetries
	}
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.NoRetry == nil {
		cfg.NoRetry = def.NoRetry
	}
	f := promauto.With(reg)
	return &Mover{
		rdb: rdb, pub: pub, codec: codec, parker: parker, cfg: cfg, now: now,
		logger: logger.With("component", "dlq_mover"),
		delay:  pub.Keyspace().Key("dlq:delay"),
		metrics: moverMetrics{
			scheduled: f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_dlq_retries_scheduled_total", Help: "Dead letters scheduled for a re-drive."}, []string{"stream"}),
			redriven:  f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_dlq_redriven_total", Help: "Dead letters appended back to their source stream."}, []string{"stream"}),
			parked:    f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_dlq_parked_total", Help: "Dead letters parked in PostgreSQL."}, []string{"stream"}),
			delayed:   f.NewGauge(prometheus.GaugeOpts{Name: "uptime_dlq_delayed_entries", Help: "Dead letters waiting in the delay set."}),
		},
	}
}

// RetryDelay is the wait before re-drive number n (1-based).
func (m *Mover) RetryDelay(n int) time.Duration {
	return m.cfg.BaseDelay << (n - 1)
}

// Handle is the dlq consumer's handler.
func (m *Mover) Handle(ctx context.Context, msg stream.Message) error {
	dl, err := Decode(msg.Payload)
	if err != nil {
		// An undecodable dlq entry is parked as it is, so that it is kept
		// and never loops through the dlq again.
		return m.park(ctx, stream.DeadLetter{
			SourceStream: stream.DLQ, OriginalID: msg.ID, Payload: msg.Payload,
			Error: err.Error(), Deliveries: msg.Deliveries, FailedAt: m.now().UTC(),
		})
	}
	if dl.Retries >= m.cfg.MaxRetries || slices.Contains(m.cfg.NoRetry, dl.SourceStream) {
		return m.park(ctx, dl)
	}
	next := dl
	next.Retries++
	member, err := m.codec.Encode(next)
	if err != nil {
		return err
	}
	due := m.now().Add(m.RetryDelay(next.Retries))
	if err := m.rdb.ZAdd(ctx, m.delay, redis.Z{Score: float64(due.UnixMilli()), Member: member}).Err(); err != nil {
		return fmt.Errorf("schedule retry %d of %s/%s: %w", next.Retries, dl.SourceStream, dl.OriginalID, err)
	}
	m.metrics.scheduled.WithLabelValues(dl.SourceStream).Inc()
	m.logger.Info("dead_letter_retry_scheduled", "stream", dl.SourceStream, "id", dl.OriginalID, "retry", next.Retries, "due", due)
	return nil
}

func (m *Mover) park(ctx context.Context, dl stream.DeadLetter) error {
	if err := m.parker.Park(ctx, dl); err != nil {
		return err
	}
	m.metrics.parked.WithLabelValues(dl.SourceStream).Inc()
	m.logger.Warn("dead_letter_parked", "stream", dl.SourceStream, "id", dl.OriginalID, "retries", dl.Retries, "error", dl.Error)
	return nil
}

// RedriveDue appends every retry whose time has come back to its source
// stream and returns how many it re-drove.
func (m *Mover) RedriveDue(ctx context.Context) (int, error) {
	now := strconv.FormatInt(m.now().UnixMilli(), 10)
	members, err := m.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: m.delay, Start: "-inf", Stop: now, ByScore: true, Count: int64(m.cfg.BatchSize),
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("read due retries: %w", err)
	}
	n := 0
	for _, member := range members {
		dl, err := Decode([]byte(member))
		if err != nil {
			// Only this package writes the set; drop what it cannot read.
			m.logger.Error("undecodable_delay_member_dropped", "err", err)
			m.rdb.ZRem(ctx, m.delay, member)
			continue
		}
		args := m.pub.RetryAddArgs(dl.SourceStream, dl.Payload, dl.Retries)
		err = redriveScript.Run(ctx, m.rdb, []string{m.delay, args.Stream},
			member, args.MaxLen, dl.Payload, dl.Retries).Err()
		if errors.Is(err, redis.Nil) {
			continue // another mover took it
		}
		if err != nil {
			return n, fmt.Errorf("re-drive %s/%s: %w", dl.SourceStream, dl.OriginalID, err)
		}
		n++
		m.metrics.redriven.WithLabelValues(dl.SourceStream).Inc()
		m.logger.Info("dead_letter_redriven", "stream", dl.SourceStream, "id", dl.OriginalID, "retry", dl.Retries)
	}
	if size, err := m.rdb.ZCard(ctx, m.delay).Result(); err == nil {
		m.metrics.delayed.Set(float64(size))
	}
	return n, nil
}

// Run re-drives due retries every Interval until ctx ends.
func (m *Mover) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := m.RedriveDue(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("redrive_failed", "err", err)
		}
	}
}
