// Package status applies a check result to a monitor's UP/DOWN state in
// Redis, exactly once per slot.
package status

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/servercheck/uptime/pkg/stream"
)

// Statuses a transition can report.
const (
	Pending = "PENDING"
	Up      = "UP"
	Down    = "DOWN"
)

// transitionScript is keyed by slot: a slot older than the last applied
// one changes nothing, the same slot again returns the stored outcome (a
// redelivered job cannot flip the status twice), a newer slot applies the
// rules. The first result decides PENDING; afterwards DOWN needs
// failureThreshold failures in a row and UP successThreshold successes.
//
// A result in maintenance records its slot (for idempotency) and changes
// nothing else: no transition, and the runs of failures and successes are
// neither extended nor reset.
//
// KEYS: 1 the monitor's state hash. ARGV: 1 slot (ms), 2 success 1|0,
// 3 failure threshold, 4 success threshold, 5 maintenance 1|0.
var transitionScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'status', 'fails', 'oks', 'slot', 'prev', 'new', 'changed')
local status = cur[1] or 'PENDING'
local slot = tonumber(ARGV[1])
local last = tonumber(cur[4] or '-1')
if slot == last then return {cur[5], cur[6], cur[7]} end
if slot < last then return {status, status, '0'} end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'slot', slot, 'prev', status, 'new', status, 'changed', '0')
  return {status, status, '0'}
end
local ok = ARGV[2] == '1'
local fails = tonumber(cur[2] or '0')
local oks = tonumber(cur[3] or '0')
if ok then oks = oks + 1; fails = 0 else fails = fails + 1; oks = 0 end
local new = status
if status == 'PENDING' then
  if ok then new = 'UP' else new = 'DOWN' end
elseif ok and oks >= tonumber(ARGV[4]) then
  new = 'UP'
elseif (not ok) and fails >= tonumber(ARGV[3]) then
  new = 'DOWN'
end
local changed = '0'
if new ~= status then changed = '1' end
redis.call('HSET', KEYS[1], 'status', new, 'fails', fails, 'oks', oks, 'slot', slot, 'prev', status, 'new', new, 'changed', changed)
return {status, new, changed}
`)

// Outcome is what a result did to the status.
type Outcome struct {
	Previous string
	New      string
	Changed  bool
}

// Tracker applies results to monitor states.
type Tracker struct {
	rdb redis.Scripter
	ks  stream.Keyspace
}

// NewTracker returns a tracker over keyspace ks.
func NewTracker(rdb redis.Scripter, ks stream.Keyspace) *Tracker { return &Tracker{rdb: rdb, ks: ks} }

// Key is the state hash of a monitor.
func (t *Tracker) Key(monitorID string) string { return t.ks.Key("mon:" + monitorID) }

// Result is what a check says about its monitor.
type Result struct {
	Success bool
	// Maintenance results change no status.
	Maintenance      bool
	FailureThreshold int
	SuccessThreshold int
}

// Apply records the result of monitorID's check for slotMs.
func (t *Tracker) Apply(ctx context.Context, monitorID string, slotMs int64, r Result) (Outcome, error) {
	res, err := transitionScript.Run(ctx, t.rdb, []string{t.Key(monitorID)},
		slotMs, flag(r.Success), max(r.FailureThreshold, 1), max(r.SuccessThreshold, 1), flag(r.Maintenance)).StringSlice()
	if err != nil {
		return Outcome{}, fmt.Errorf("apply result of monitor %s slot %d: %w", monitorID, slotMs, err)
	}
	if len(res) != 3 {
		return Outcome{}, fmt.Errorf("apply result of monitor %s: unexpected script answer %v", monitorID, res)
	}
	changed, _ := strconv.ParseBool(res[2])
	return Outcome{Previous: res[0], New: res[1], Changed: changed}, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
