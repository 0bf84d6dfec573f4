package writer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// FlushChannel is the pub/sub channel (under the keyspace) on which the api
// asks every log-writer to flush (POST /api/v1/uptime/flush).
const FlushChannel = "control:flush"

// StatsKey is the hash (under the keyspace) holding each log-writer's
// buffer stats, one field per instance, for the api's GET /uptime/stats.
const StatsKey = "stats:log-writer"

// Flusher is what a flush request triggers.
type Flusher interface {
	Flush()
}

// FlushListener forces a flush on every message of a pub/sub channel.
type FlushListener struct {
	rdb     redis.UniversalClient
	channel string
	f       Flusher
	logger  *slog.Logger
}

// NewFlushListener returns a listener of channel (a full key, e.g.
// Keyspace.Key(FlushChannel)) that calls f.Flush.
func NewFlushListener(rdb redis.UniversalClient, channel string, f Flusher, logger *slog.Logger) *FlushListener {
	return &FlushListener{rdb: rdb, channel: channel, f: f, logger: logger.With("component", "flush_listener")}
}

// Run listens until ctx ends. go-redis resubscribes by itself after a lost
// connection; a request published while disconnected is lost, which costs at
// most one flush interval.
func (l *FlushListener) Run(ctx context.Context) error {
	ps := l.rdb.Subscribe(ctx, l.channel)
	defer func() { _ = ps.Close() }()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-ch:
			if !ok {
				return fmt.Errorf("subscription to %s closed", l.channel)
			}
			l.logger.Info("flush_requested")
			l.f.Flush()
		}
	}
}
