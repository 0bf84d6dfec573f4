// Package schedule is the check schedule kept in Redis (docs/pipeline.md):
// which monitors are due when, the job template of each, the claim script
// that turns due monitors into jobs on the jobs stream, and the reconciler
// that repairs the schedule from PostgreSQL, the source of truth.
//
// It depends only on pkg/, proto-events, Redis and PostgreSQL so that the
// api can use the same code for its ADMIN queue routes.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// Keys are the Redis keys of the schedule. All share the keyspace's hash
// tag, so the scripts may touch them (and the jobs stream) together.
type Keys struct {
	// Due is a ZSET: monitor id -> its next slot (unix ms).
	Due string
	// Inflight is a ZSET: monitor id -> lease deadline (unix ms) of its
	// job in flight. The checker removes the entry when it has published
	// the result.
	Inflight string
	// Templates is a HASH: monitor id -> job template (Envelope bytes).
	Templates string
	// Frequencies is a HASH: monitor id -> frequency in seconds.
	Frequencies string
	// Versions is a HASH: monitor id -> updated_at (unix µs) of the spec
	// last applied, kept after a removal as a tombstone, so that a
	// redelivered or reordered older spec cannot roll the schedule back.
	Versions string
	// ReconcilerLease is a STRING: holder of the reconciler lease.
	ReconcilerLease string
	// Jobs is the jobs stream.
	Jobs string
}

// KeysOf returns the schedule keys of ks.
func KeysOf(ks stream.Keyspace) Keys {
	return Keys{
		Due:             ks.Key("sched:due"),
		Inflight:        ks.Key("sched:inflight"),
		Templates:       ks.Key("sched:tpl"),
		Frequencies:     ks.Key("sched:freq"),
		Versions:        ks.Key("sched:ver"),
		ReconcilerLease: ks.Key("sched:lease:reconciler"),
		Jobs:            ks.Key(stream.Jobs),
	}
}

// entryKeys are the KEYS of the upsert, remove and prune scripts.
func (k Keys) entryKeys() []string {
	return []string{k.Due, k.Inflight, k.Templates, k.Frequencies, k.Versions}
}

// upsertScript stores a monitor's template and frequency and puts it on
// the grid, atomically. An unchanged frequency keeps the due score, so an
// update does not shift the phase; a new monitor or a new frequency gets
// the first slot phase + k*period >= now (Redis TIME), and a lease longer
// than that slot is cut to it, so a shorter period takes effect on the
// next slot. A spec older than the version held is ignored, and so is the
// version of a removal (tombstone).
//
// KEYS: 1 due, 2 inflight, 3 tpl, 4 freq, 5 ver.
// ARGV: 1 id, 2 template, 3 frequency (s), 4 phase (ms), 5 version (µs) or "".
// Returns 0 when stale, 1 when added, 2 when an existing entry was updated.
var upsertScript = redis.NewScript(`
local id = ARGV[1]
local live = redis.call('HEXISTS', KEYS[3], id) == 1
if ARGV[5] ~= '' then
  local held = tonumber(redis.call('HGET', KEYS[5], id))
  local v = tonumber(ARGV[5])
  if held and (v < held or (v == held and not live)) then return 0 end
  redis.call('HSET', KEYS[5], id, ARGV[5])
end
local freq = tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[4], id))
if old ~= freq or not redis.call('ZSCORE', KEYS[1], id) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local period = freq * 1000
  local phase = tonumber(ARGV[4])
  local slot = phase + math.ceil((now - phase) / period) * period
  redis.call('ZADD', KEYS[1], slot, id)
  redis.call('ZADD', KEYS[2], 'XX', 'LT', slot, id)
end
redis.call('HSET', KEYS[3], id, ARGV[2])
redis.call('HSET', KEYS[4], id, ARGV[3])
if live then return 2 end
return 1
`)

// removeScript drops a monitor from the schedule. With a version (a paused
// monitor's spec, or deletedVersion) it is ignored when a newer spec was
// applied, and the version is kept as a tombstone.
//
// KEYS: 1 due, 2 inflight, 3 tpl, 4 freq, 5 ver.
// ARGV: 1 id, 2 version (µs) or "".
// Returns 0 when stale, 1 otherwise.
var removeScript = redis.NewScript(`
local id = ARGV[1]
if ARGV[2] ~= '' then
  local held = tonumber(redis.call('HGET', KEYS[5], id))
  local v = tonumber(ARGV[2])
  if held and v < held then return 0 end
  redis.call('HSET', KEYS[5], id, ARGV[2])
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
return 1
`)

// Options tune a Schedule.
type Options struct {
	// Producer names this process in the envelopes of job templates
	// ("scheduler/<instance>").
	Producer string
	// JobsMaxLen caps the jobs stream (XADD MAXLEN ~). Default
	// stream.DefaultMaxLen().For(stream.Jobs).
	JobsMaxLen int64
}

// Schedule is the Redis schedule of one keyspace.
type Schedule struct {
	rdb        redis.UniversalClient
	keys       Keys
	producer   string
	jobsMaxLen int64
}

// New returns the schedule of ks.
func New(rdb redis.UniversalClient, ks stream.Keyspace, opts Options) *Schedule {
	if opts.Producer == "" {
		opts.Producer = "scheduler"
	}
	if opts.JobsMaxLen <= 0 {
		opts.JobsMaxLen = stream.DefaultMaxLen().For(stream.Jobs)
	}
	return &Schedule{rdb: rdb, keys: KeysOf(ks), producer: opts.Producer, jobsMaxLen: opts.JobsMaxLen}
}

// Keys returns the schedule's Redis keys.
func (s *Schedule) Keys() Keys { return s.keys }

// Upsert puts an active monitor on the schedule, or updates its template
// and frequency; an inactive one is removed. It reports false when spec is
// older than what the schedule already applied (a redelivered or reordered
// event), which then changes nothing.
func (s *Schedule) Upsert(ctx context.Context, spec *eventsv1.MonitorSpec) (bool, error) {
	if err := validate(spec); err != nil {
		return false, err
	}
	if !spec.GetIsActive() {
		return s.remove(ctx, spec.GetId(), version(spec))
	}
	args, err := s.upsertArgs(spec)
	if err != nil {
		return false, err
	}
	res, err := upsertScript.Run(ctx, s.rdb, s.keys.entryKeys(), args...).Int()
	if err != nil {
		return false, fmt.Errorf("schedule monitor %s: %w", spec.GetId(), err)
	}
	return res != 0, nil
}

func (s *Schedule) upsertArgs(spec *eventsv1.MonitorSpec) ([]any, error) {
	tpl, err := Template(s.producer, spec)
	if err != nil {
		return nil, err
	}
	period := time.Duration(spec.GetFrequencySeconds()) * time.Second
	return []any{spec.GetId(), tpl, spec.GetFrequencySeconds(), Phase(spec.GetId(), period), version(spec)}, nil
}

// deletedVersion is the tombstone of a deleted monitor: newer than any
// spec (2^53-1 µs, in the year 2255, still exact in Lua's doubles), since
// a deleted monitor's id never comes back.
const deletedVersion = "9007199254740991"

// Remove drops a deleted monitor from the schedule: its due entry,
// template, frequency and in-flight lease. A tombstone stays until the
// next reconcile, so that neither a late copy of an older event nor a
// reconcile that read the row just before the delete brings it back.
func (s *Schedule) Remove(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: no monitor id", ErrInvalidSpec)
	}
	_, err := s.remove(ctx, id, deletedVersion)
	return err
}

func (s *Schedule) remove(ctx context.Context, id, ver string) (bool, error) {
	res, err := removeScript.Run(ctx, s.rdb, s.keys.entryKeys(), id, ver).Int()
	if err != nil {
		return false, fmt.Errorf("unschedule monitor %s: %w", id, err)
	}
	return res != 0, nil
}

// Size is the number of monitors on the schedule.
func (s *Schedule) Size(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.Due).Result()
	if err != nil {
		return 0, fmt.Errorf("count scheduled monitors: %w", err)
	}
	return n, nil
}

// Entry is one monitor's schedule as Redis holds it.
type Entry struct {
	// Due is the next slot; zero when the monitor has no due entry.
	Due time.Time
	// Frequency is the period; zero when none is stored.
	Frequency time.Duration
	// Job is the decoded template; nil when none is stored.
	Job *eventsv1.CheckRequested
}

// ErrNotScheduled reports a monitor the schedule does not hold.
var ErrNotScheduled = errors.New("monitor not scheduled")

// Get returns id's schedule entry, or ErrNotScheduled.
func (s *Schedule) Get(ctx context.Context, id string) (Entry, error) {
	pipe := s.rdb.Pipeline()
	due := pipe.ZScore(ctx, s.keys.Due, id)
	freq := pipe.HGet(ctx, s.keys.Frequencies, id)
	tpl := pipe.HGet(ctx, s.keys.Templates, id)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Entry{}, fmt.Errorf("read schedule of monitor %s: %w", id, err)
	}
	var e Entry
	if ms, err := due.Result(); err == nil {
		e.Due = time.UnixMilli(int64(ms)).UTC()
	}
	if f, err := freq.Int64(); err == nil {
		e.Frequency = time.Duration(f) * time.Second
	}
	if b, err := tpl.Bytes(); err == nil {
		job, derr := decodeTemplate(b)
		if derr != nil {
			return Entry{}, fmt.Errorf("read template of monitor %s: %w", id, derr)
		}
		e.Job = job
	}
	if e.Due.IsZero() && e.Job == nil && e.Frequency == 0 {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotScheduled, id)
	}
	return e, nil
}

// version is the spec's version for the upsert and remove scripts: its
// updated_at in microseconds (PostgreSQL's resolution), or "" when unset,
// which applies unconditionally.
func version(spec *eventsv1.MonitorSpec) string {
	if spec.GetUpdatedAt() == nil {
		return ""
	}
	return strconv.FormatInt(spec.GetUpdatedAt().AsTime().UnixMicro(), 10)
}
