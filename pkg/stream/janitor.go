package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// deadLetterScript moves one pending entry to the dlq stream and acks it,
// atomically, and only if it is still pending with the delivery count the
// janitor saw (another janitor may have claimed or moved it meanwhile).
//
// KEYS: 1 source stream, 2 dlq stream, 3 error-text hash.
// ARGV: 1 group, 2 entry id, 3 dlq body, 4 dlq MAXLEN, 5 deliveries seen.
var deadLetterScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if tonumber(p[1][4]) ~= tonumber(ARGV[5]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'd', ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
`)

// reclaim runs one janitor pass with free slots held by the caller:
// entries of the group idle longer than MinIdle are claimed into work when
// delivered fewer than MaxDeliveries times (at most free of them), and moved
// to the dlq otherwise. It returns how many slots it used and whether more
// idle entries were waiting than it had slots for.
func (c *Consumer) reclaim(ctx context.Context, work chan<- Message, free int) (int, bool, error) {
	claimed := 0
	waiting := 0
	pending, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.key,
		Group:  c.cfg.Group,
		Idle:   c.cfg.MinIdle,
		Start:  "-",
		End:    "+",
		Count:  int64(c.cfg.BatchSize),
	}).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("list idle entries of %s: %w", c.cfg.Stream, err)
	}
	deliveries := map[string]int64{}
	var claim []string
	for _, p := range pending {
		if p.RetryCount >= c.cfg.MaxDeliveries {
			if err := c.deadLetter(ctx, p.ID, p.RetryCount); err != nil {
				return 0, false, err
			}
			continue
		}
		waiting++
		if len(claim) < free {
			claim = append(claim, p.ID)
			deliveries[p.ID] = p.RetryCount + 1
		}
	}
	more := waiting > len(claim) || len(pending) == c.cfg.BatchSize
	if len(claim) == 0 {
		return 0, more, nil
	}
	msgs, err := c.rdb.XClaim(ctx, &redis.XClaimArgs{
		Stream:   c.key,
		Group:    c.cfg.Group,
		Consumer: c.cfg.Name,
		MinIdle:  c.cfg.MinIdle,
		Messages: claim,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, false, fmt.Errorf("claim %d idle entries of %s: %w", len(claim), c.cfg.Stream, err)
	}
	for _, x := range msgs {
		c.dispatch(ctx, work, x, deliveries[x.ID])
		claimed++
	}
	if claimed > 0 {
		c.metrics.claimed.WithLabelValues(c.cfg.Stream, c.cfg.Group).Add(float64(claimed))
		c.logger.Info("entries_reclaimed", "count", claimed)
	}
	return claimed, more, nil
}

// deadLetter moves entry id, seen with the given delivery count, to the dlq.
func (c *Consumer) deadLetter(ctx context.Context, id string, deliveries int64) error {
	xs, err := c.rdb.XRangeN(ctx, c.key, id, id, 1).Result()
	if err != nil {
		return fmt.Errorf("read entry %s of %s: %w", id, c.cfg.Stream, err)
	}
	dl := DeadLetter{
		SourceStream: c.cfg.Stream,
		OriginalID:   id,
		Deliveries:   deliveries,
		Group:        c.cfg.Group,
		FailedAt:     c.now().UTC(),
	}
	if len(xs) == 0 {
		dl.Error = "entry trimmed from the stream before it was handled"
	} else {
		msg, derr := decodeEntry(c.cfg.Stream, xs[0], deliveries)
		dl.Payload, dl.Retries = msg.Payload, msg.Retries
		if derr != nil {
			dl.Error = derr.Error()
		}
	}
	if dl.Error == "" {
		text, herr := c.rdb.HGet(ctx, c.errKey, id).Result()
		switch {
		case herr == nil:
			dl.Error = text
		case errors.Is(herr, redis.Nil):
			dl.Error = fmt.Sprintf("not acknowledged after %d deliveries (consumer died or timed out)", deliveries)
		default:
			return fmt.Errorf("read error text of %s: %w", id, herr)
		}
	}
	body, err := c.encode(dl)
	if err != nil {
		return fmt.Errorf("encode dead letter of %s: %w", id, err)
	}
	res, err := deadLetterScript.Run(ctx, c.rdb,
		[]string{c.key, c.ks.Key(DLQ), c.errKey},
		c.cfg.Group, id, body, c.pub.maxLen.For(DLQ), deliveries,
	).Int()
	if err != nil {
		return fmt.Errorf("move %s of %s to dlq: %w", id, c.cfg.Stream, err)
	}
	if res == 1 {
		c.metrics.deadLettered.WithLabelValues(c.cfg.Stream, c.cfg.Group).Inc()
		c.logger.Warn("entry_dead_lettered", "id", id, "deliveries", deliveries, "error", dl.Error)
	}
	return nil
}
