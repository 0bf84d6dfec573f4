// Package heartbeat keeps, in Redis, when each HEARTBEAT (push) monitor was
// last pinged: the api records a ping, the checker reads the time when it
// evaluates the monitor. The job template a checker receives is written when
// the monitor changes, so it cannot carry the time of the latest ping.
package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/servercheck/uptime/pkg/stream"
)

// TTL is how long a monitor's last-ping time is kept after its last ping.
// It is far beyond the longest interval + grace (2 days), so an expired key
// only ever belongs to a monitor silent (and DOWN) for months, or deleted:
// deleting a monitor needs no clean-up of its key.
const TTL = 90 * 24 * time.Hour

// recordScript keeps the newest time: two api replicas recording pings
// at nearly the same moment cannot move the time backwards.
//
// KEYS: 1 the monitor's key. ARGV: 1 unix ms, 2 TTL ms.
var recordScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

// Store reads and writes last-ping times under a keyspace.
type Store struct {
	rdb redis.UniversalClient
	ks  stream.Keyspace
}

// New returns the store of keyspace ks.
func New(rdb redis.UniversalClient, ks stream.Keyspace) *Store {
	return &Store{rdb: rdb, ks: ks}
}

// Key is the Redis key holding monitorID's last-ping time (unix ms).
func (s *Store) Key(monitorID string) string { return s.ks.Key("hb:" + monitorID) }

// Record notes a ping of monitorID at at, unless a later one is already
// recorded.
func (s *Store) Record(ctx context.Context, monitorID string, at time.Time) error {
	err := recordScript.Run(ctx, s.rdb, []string{s.Key(monitorID)}, at.UnixMilli(), TTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("record heartbeat of monitor %s: %w", monitorID, err)
	}
	return nil
}

// Last returns when monitorID was last pinged; ok is false when no ping is
// recorded.
func (s *Store) Last(ctx context.Context, monitorID string) (at time.Time, ok bool, err error) {
	v, err := s.rdb.Get(ctx, s.Key(monitorID)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read heartbeat of monitor %s: %w", monitorID, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read heartbeat of monitor %s: %q is not unix milliseconds", monitorID, v)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}
