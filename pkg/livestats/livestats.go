// Package livestats shares each service instance's live figures (checker
// pool, log-writer buffer) through Redis, so that any api replica can show
// the sum of every instance: each instance writes a JSON snapshot into a
// hash field named after it, and the hash expires unless refreshed.
package livestats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// TTL is how long a snapshot outlives its instance.
const TTL = 30 * time.Second

// Publisher writes snapshot() every interval until ctx ends, then removes
// its field. It is a lifecycle component.
type Publisher struct {
	rdb      redis.UniversalClient
	key      string
	instance string
	interval time.Duration
	snapshot func() any
	logger   *slog.Logger
}

// NewPublisher returns a publisher of snapshot under key/instance.
func NewPublisher(rdb redis.UniversalClient, key, instance string, interval time.Duration, snapshot func() any, logger *slog.Logger) *Publisher {
	return &Publisher{rdb: rdb, key: key, instance: instance, interval: interval, snapshot: snapshot,
		logger: logger.With("component", "livestats")}
}

// Publish writes one snapshot now.
func (p *Publisher) Publish(ctx context.Context) error {
	b, err := json.Marshal(p.snapshot())
	if err != nil {
		return fmt.Errorf("encode stats of %s: %w", p.instance, err)
	}
	_, err = p.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, p.key, p.instance, b)
		pipe.HSet(ctx, p.key+":seen", p.instance, time.Now().UnixMilli())
		pipe.Expire(ctx, p.key, TTL)
		pipe.Expire(ctx, p.key+":seen", TTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish stats of %s: %w", p.instance, err)
	}
	return nil
}

// Run publishes until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		if err := p.Publish(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn("stats_publish_failed", "err", err)
		}
		select {
		case <-ctx.Done():
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			p.rdb.HDel(cleanup, p.key, p.instance)
			p.rdb.HDel(cleanup, p.key+":seen", p.instance)
			cancel()
			return nil
		case <-t.C:
		}
	}
}

// Read returns the live snapshots under key, by instance, skipping those
// not refreshed within TTL (a killed instance).
func Read(ctx context.Context, rdb redis.UniversalClient, key string) (map[string]json.RawMessage, error) {
	all, err := rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("read stats %s: %w", key, err)
	}
	seen, err := rdb.HGetAll(ctx, key+":seen").Result()
	if err != nil {
		return nil, fmt.Errorf("read stats %s: %w", key, err)
	}
	cutoff := time.Now().Add(-TTL).UnixMilli()
	out := make(map[string]json.RawMessage, len(all))
	for inst, v := range all {
		var ms int64
		if _, err := fmt.Sscan(seen[inst], &ms); err != nil || ms < cutoff {
			continue
		}
		out[inst] = json.RawMessage(v)
	}
	return out, nil
}
