package stream

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// MaxLen caps each stream with MAXLEN ~ (approximate trimming). Streams not
// listed use Default.
type MaxLen struct {
	Default   int64
	PerStream map[string]int64
}

// DefaultMaxLen sizes streams for hours of backlog at the design's rates
// (2,000-5,000 results/s) while bounding Redis memory; jobs older than a
// minute are stale anyway, so the jobs stream needs less.
func DefaultMaxLen() MaxLen {
	return MaxLen{
		Default: 1_000_000,
		PerStream: map[string]int64{
			Jobs:    1_000_000,
			Results: 10_000_000,
			Events:  1_000_000,
			DLQ:     1_000_000,
		},
	}
}

// For returns the cap of stream.
func (m MaxLen) For(stream string) int64 {
	if n, ok := m.PerStream[stream]; ok {
		return n
	}
	return m.Default
}

// Publisher appends entries to streams.
type Publisher struct {
	rdb    redis.Cmdable
	ks     Keyspace
	maxLen MaxLen
}

// NewPublisher returns a publisher writing through rdb.
func NewPublisher(rdb redis.Cmdable, ks Keyspace, maxLen MaxLen) *Publisher {
	return &Publisher{rdb: rdb, ks: ks, maxLen: maxLen}
}

// Publish appends payload to stream and returns the entry id.
func (p *Publisher) Publish(ctx context.Context, stream string, payload []byte) (string, error) {
	id, err := p.rdb.XAdd(ctx, p.AddArgs(stream, payload)).Result()
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", stream, err)
	}
	return id, nil
}

// AddArgs returns the XADD arguments for payload, for callers that append
// inside their own MULTI/pipeline (the checker's result transaction).
func (p *Publisher) AddArgs(stream string, payload []byte) *redis.XAddArgs {
	return p.addArgs(stream, payload, 0)
}

// RetryAddArgs is AddArgs for a payload re-driven from the dead-letter queue
// for the retries-th time.
func (p *Publisher) RetryAddArgs(stream string, payload []byte, retries int) *redis.XAddArgs {
	return p.addArgs(stream, payload, retries)
}

func (p *Publisher) addArgs(stream string, payload []byte, retries int) *redis.XAddArgs {
	values := []any{fieldData, payload}
	if retries > 0 {
		values = append(values, fieldRetries, strconv.Itoa(retries))
	}
	return &redis.XAddArgs{
		Stream: p.ks.Key(stream),
		MaxLen: p.maxLen.For(stream),
		Approx: true,
		Values: values,
	}
}

// Keyspace returns the publisher's keyspace.
func (p *Publisher) Keyspace() Keyspace { return p.ks }
