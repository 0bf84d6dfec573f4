package schedule

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// renewScript extends the lease only for its holder.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes the lease only for its holder, so a holder whose
// lease expired cannot release its successor's.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// lease is a Redis mutual-exclusion lease (SET NX PX) held by one token.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	ttl   time.Duration
	token string
}

// acquireLease takes the lease at key; false means another holder has it.
func acquireLease(ctx context.Context, rdb redis.UniversalClient, key string, ttl time.Duration) (*lease, bool, error) {
	token, err := uuid.NewRandom()
	if err != nil {
		return nil, false, fmt.Errorf("lease token: %w", err)
	}
	l := &lease{rdb: rdb, key: key, ttl: ttl, token: token.String()}
	ok, err := rdb.SetNX(ctx, key, l.token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	return l, ok, nil
}

// renew extends the lease by its ttl; false means it was lost.
func (l *lease) renew(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

// release gives the lease up if still held.
func (l *lease) release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// keep renews the lease every ttl/3 until ctx ends, and calls lost when a
// renewal finds the lease gone or keeps failing until it must have expired.
func (l *lease) keep(ctx context.Context, lost func(error)) {
	every := l.ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := l.renew(ctx)
		switch {
		case err == nil && !ok:
			lost(ErrLeaseLost)
			return
		case err == nil:
			lastOK = time.Now()
		case ctx.Err() != nil:
			return
		case time.Since(lastOK) >= l.ttl:
			lost(fmt.Errorf("%w: %w", ErrLeaseLost, err))
			return
		}
	}
}
