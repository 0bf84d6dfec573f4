package schedule

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// trimScript empties the jobs stream and returns how many entries it
// dropped and the id of the newest one ("" when it was empty), in one step
// so that no job appended meanwhile is dropped unseen.
var trimScript = redis.NewScript(`
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local n = redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
if #last == 0 then return {n, ''} end
return {n, last[1][1]}
`)

// ClearResult counts what Clear dropped.
type ClearResult struct {
	// Dropped jobs were removed from the jobs stream (delivered or not).
	Dropped int64 `json:"dropped"`
	// Acked entries were pending in a consumer group and acknowledged, so
	// that no janitor redelivers a job that no longer exists.
	Acked int64 `json:"acked"`
	// Released in-flight leases; each monitor's next slot is emitted even
	// if its dropped job never ran.
	Released int64 `json:"released"`
}

// Clear drops every pending job: it empties the jobs stream, acknowledges
// what the consumer groups still hold of it and releases the in-flight
// leases. The schedule itself (due, templates, frequencies) stays, so each
// monitor's next slot runs as usual.
func (s *Schedule) Clear(ctx context.Context) (ClearResult, error) {
	var res ClearResult
	out, err := trimScript.Run(ctx, s.rdb, []string{s.keys.Jobs}).Slice()
	if err != nil {
		return res, fmt.Errorf("trim jobs stream: %w", err)
	}
	if len(out) != 2 {
		return res, fmt.Errorf("trim jobs stream: script returned %d values", len(out))
	}
	res.Dropped, _ = out[0].(int64)
	last, _ := out[1].(string)
	if last != "" {
		groups, err := s.rdb.XInfoGroups(ctx, s.keys.Jobs).Result()
		if err != nil && !isNoSuchKey(err) {
			return res, fmt.Errorf("list groups of jobs stream: %w", err)
		}
		for _, g := range groups {
			n, err := s.ackUpTo(ctx, g.Name, last)
			res.Acked += n
			if err != nil {
				return res, err
			}
		}
	}
	pipe := s.rdb.TxPipeline()
	released := pipe.ZCard(ctx, s.keys.Inflight)
	pipe.Del(ctx, s.keys.Inflight)
	if _, err := pipe.Exec(ctx); err != nil {
		return res, fmt.Errorf("release in-flight leases: %w", err)
	}
	res.Released = released.Val()
	return res, nil
}

// ackUpTo acknowledges the entries of group pending at or before last.
// Entries appended after the trim are left to their consumers.
func (s *Schedule) ackUpTo(ctx context.Context, group, last string) (int64, error) {
	var acked int64
	for {
		pending, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: s.keys.Jobs, Group: group, Start: "-", End: last, Count: 1000,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return acked, fmt.Errorf("list pending jobs of group %s: %w", group, err)
		}
		if len(pending) == 0 {
			return acked, nil
		}
		ids := make([]string, len(pending))
		for i, p := range pending {
			ids[i] = p.ID
		}
		n, err := s.rdb.XAck(ctx, s.keys.Jobs, group, ids...).Result()
		if err != nil {
			return acked, fmt.Errorf("ack %d dropped jobs of group %s: %w", len(ids), group, err)
		}
		acked += n
		if n == 0 {
			// Nothing left that we may ack (another Clear raced us).
			return acked, nil
		}
	}
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}
