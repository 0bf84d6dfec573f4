package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
)

type redisEntry = redis.XMessage

// Metrics are the stream counters and gauges of one process; create them
// once per registry and share them between the process's consumers.
type Metrics struct {
	consumed      *prometheus.CounterVec
	acked         *prometheus.CounterVec
	failed        *prometheus.CounterVec
	claimed       *prometheus.CounterVec
	deadLettered  *prometheus.CounterVec
	inflight      *prometheus.GaugeVec
	handleSeconds *prometheus.HistogramVec
	length        *prometheus.GaugeVec
	lag           *prometheus.GaugeVec
	pending       *prometheus.GaugeVec
}

// NewMetrics registers the stream metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	sg := []string{"stream", "group"}
	return &Metrics{
		consumed:      f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_stream_consumed_entries_total", Help: "Entries handed to handlers (first deliveries and reclaims)."}, sg),
		acked:         f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_stream_acked_entries_total", Help: "Entries acknowledged after handling."}, sg),
		failed:        f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_stream_handler_failures_total", Help: "Handler calls that returned an error (entry left pending)."}, sg),
		claimed:       f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_stream_claimed_entries_total", Help: "Idle pending entries reclaimed by the janitor."}, sg),
		deadLettered:  f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_stream_dead_lettered_entries_total", Help: "Entries moved to the dlq stream after too many deliveries."}, sg),
		inflight:      f.NewGaugeVec(prometheus.GaugeOpts{Name: "uptime_stream_inflight_entries", Help: "Entries read and not yet handled by this process."}, sg),
		handleSeconds: f.NewHistogramVec(prometheus.HistogramOpts{Name: "uptime_stream_handle_duration_seconds", Help: "Time from handing an entry to its handler to its return.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, sg),
		length:        f.NewGaugeVec(prometheus.GaugeOpts{Name: "uptime_stream_length_entries", Help: "XLEN of the stream."}, []string{"stream"}),
		lag:           f.NewGaugeVec(prometheus.GaugeOpts{Name: "uptime_stream_lag_entries", Help: "Entries not yet delivered to the group."}, sg),
		pending:       f.NewGaugeVec(prometheus.GaugeOpts{Name: "uptime_stream_pending_entries", Help: "Entries delivered to the group and not acknowledged."}, sg),
	}
}

// GroupInfo is the state of one consumer group of a stream.
type GroupInfo struct {
	Group   string `json:"group"`
	Pending int64  `json:"pending"`
	Lag     int64  `json:"lag"`
}

// StreamInfo is the state of one stream.
type StreamInfo struct {
	Stream string      `json:"stream"`
	Length int64       `json:"length"`
	Groups []GroupInfo `json:"groups"`
}

// Inspect reads the length and group states of streams. A stream that does
// not exist yet reports length 0 and no groups.
func Inspect(ctx context.Context, rdb redis.Cmdable, ks Keyspace, streams ...string) ([]StreamInfo, error) {
	out := make([]StreamInfo, 0, len(streams))
	for _, s := range streams {
		key := ks.Key(s)
		n, err := rdb.XLen(ctx, key).Result()
		if err != nil {
			return nil, fmt.Errorf("xlen %s: %w", s, err)
		}
		info := StreamInfo{Stream: s, Length: n, Groups: []GroupInfo{}}
		groups, err := rdb.XInfoGroups(ctx, key).Result()
		if err != nil && !isNoSuchKey(err) {
			return nil, fmt.Errorf("xinfo groups %s: %w", s, err)
		}
		for _, g := range groups {
			info.Groups = append(info.Groups, GroupInfo{Group: g.Name, Pending: g.Pending, Lag: g.Lag})
		}
		out = append(out, info)
	}
	return out, nil
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// Observer periodically publishes length, lag and pending of streams as
// gauges. It is a lifecycle component.
type Observer struct {
	rdb      redis.Cmdable
	ks       Keyspace
	streams  []string
	metrics  *Metrics
	interval time.Duration
	logger   *slog.Logger
}

// NewObserver returns an observer of streams polling every interval.
func NewObserver(rdb redis.Cmdable, ks Keyspace, metrics *Metrics, interval time.Duration, logger *slog.Logger, streams ...string) *Observer {
	if interval <= 0 {
		interval = 15 * time.Second
	}
	return &Observer{rdb: rdb, ks: ks, streams: streams, metrics: metrics, interval: interval, logger: logger.With("component", "stream_observer")}
}

// Run polls until ctx ends.
func (o *Observer) Run(ctx context.Context) error {
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		o.observe(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (o *Observer) observe(ctx context.Context) {
	infos, err := Inspect(ctx, o.rdb, o.ks, o.streams...)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			o.logger.Warn("stream_inspect_failed", "err", err)
		}
		return
	}
	for _, s := range infos {
		o.metrics.length.WithLabelValues(s.Stream).Set(float64(s.Length))
		for _, g := range s.Groups {
			o.metrics.lag.WithLabelValues(s.Stream, g.Group).Set(float64(g.Lag))
			o.metrics.pending.WithLabelValues(s.Stream, g.Group).Set(float64(g.Pending))
		}
	}
}
