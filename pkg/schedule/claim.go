package schedule

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript turns due monitors into jobs. Redis TIME is the clock, so
// every replica agrees on it, and the script is atomic, so two replicas
// never claim the same slot. For each monitor due at or before now (at
// most ARGV[1] per run) it takes the latest slot cur <= now on the
// monitor's grid (older missed slots are skipped, not replayed), moves the
// monitor to cur + period and, unless its in-flight lease is still in the
// future, sets the lease to cur + period and appends the job. A monitor
// without template or frequency is dropped from due.
//
// KEYS: 1 due, 2 inflight, 3 tpl, 4 freq, 5 jobs stream.
// ARGV: 1 batch, 2 jobs MAXLEN (approximate).
// Returns {emitted, skipped_inflight, dropped, ZCARD due, lateness ms of
// each emitted job...}.
var claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]), 'WITHSCORES')
local n = #due / 2
local emitted, skipped, dropped = 0, 0, 0
local lateness = {}
-- Reads and sorted-set writes go in chunks of at most 1000 members: one
-- call per chunk instead of one per monitor (each redis.call costs more
-- than the work it does), and few enough arguments for unpack.
local CHUNK = 1000
local moves, leases, gone = {}, {}, {}
local function flush(cmd, key, args)
  for c = 1, #args, CHUNK do
    redis.call(cmd, key, unpack(args, c, math.min(c + CHUNK - 1, #args)))
  end
end
for c = 1, n, CHUNK do
  local ids = {}
  for i = c, math.min(c + CHUNK - 1, n) do ids[#ids + 1] = due[2 * i - 1] end
  local tpls = redis.call('HMGET', KEYS[3], unpack(ids))
  local freqs = redis.call('HMGET', KEYS[4], unpack(ids))
  local held = redis.call('ZMSCORE', KEYS[2], unpack(ids))
  for j = 1, #ids do
    local id, tpl, freq = ids[j], tpls[j], tonumber(freqs[j])
    if not tpl or not freq or freq <= 0 then
      gone[#gone + 1] = id
      dropped = dropped + 1
    else
      local period = freq * 1000
      local score = tonumber(due[2 * (c + j - 1)])
      local cur = score + math.floor((now - score) / period) * period
      local nxt = cur + period
      moves[#moves + 1] = nxt
      moves[#moves + 1] = id
      local lease = tonumber(held[j])
      if lease and lease > now then
        skipped = skipped + 1
      else
        leases[#leases + 1] = nxt
        leases[#leases + 1] = id
        redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*',
          'd', tpl, 's', string.format('%d', cur), 'l', string.format('%d', nxt))
        emitted = emitted + 1
        lateness[emitted] = now - cur
      end
    end
  end
end
flush('ZADD', KEYS[1], moves)
flush('ZADD', KEYS[2], leases)
flush('ZREM', KEYS[1], gone)
local out = {emitted, skipped, dropped, redis.call('ZCARD', KEYS[1])}
for i = 1, emitted do out[4 + i] = lateness[i] end
return out
`)

// ClaimResult is what one run of the claim script did.
type ClaimResult struct {
	// Emitted jobs were appended to the jobs stream.
	Emitted int
	// SkippedInflight monitors were due but their previous job's lease
	// had not expired; they moved to their next slot without a job.
	SkippedInflight int
	// Dropped due entries had no template or frequency (a removal raced
	// the claim) and left the schedule.
	Dropped int
	// Size is the number of monitors on the schedule after the run.
	Size int64
	// Lateness holds, per emitted job, how long after its slot it was
	// emitted.
	Lateness []time.Duration
}

// Claimed is the number of due monitors the run handled; a run that
// handled its whole batch should be followed at once by another.
func (r ClaimResult) Claimed() int { return r.Emitted + r.SkippedInflight + r.Dropped }

// Claim runs the claim script once, handling at most batch due monitors.
func (s *Schedule) Claim(ctx context.Context, batch int) (ClaimResult, error) {
	if batch < 1 {
		return ClaimResult{}, fmt.Errorf("claim batch must be at least 1, got %d", batch)
	}
	out, err := claimScript.Run(ctx, s.rdb,
		[]string{s.keys.Due, s.keys.Inflight, s.keys.Templates, s.keys.Frequencies, s.keys.Jobs},
		batch, s.jobsMaxLen,
	).Int64Slice()
	if err != nil {
		return ClaimResult{}, fmt.Errorf("claim due monitors: %w", err)
	}
	if len(out) < 4 {
		return ClaimResult{}, fmt.Errorf("claim due monitors: script returned %d values", len(out))
	}
	r := ClaimResult{Emitted: int(out[0]), SkippedInflight: int(out[1]), Dropped: int(out[2]), Size: out[3]}
	if len(out) > 4 {
		r.Lateness = make([]time.Duration, 0, len(out)-4)
		for _, ms := range out[4:] {
			r.Lateness = append(r.Lateness, time.Duration(ms)*time.Millisecond)
		}
	}
	return r, nil
}
