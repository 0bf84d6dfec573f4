package schedule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

var (
	// ErrBusy is returned by Reconcile while another reconcile (in this
	// or another process) holds the lease.
	ErrBusy = errors.New("another reconcile is running")
	// ErrLeaseLost ends a reconcile whose lease could not be renewed;
	// another reconciler may have taken over.
	ErrLeaseLost = errors.New("reconciler lease lost")
)

// pruneScript removes a monitor the source no longer lists, but only if its
// version is still the one seen before the source was read: a monitor
// created (or resumed) while the reconcile ran got a new version from its
// event and is kept.
//
// KEYS: 1 due, 2 inflight, 3 tpl, 4 freq, 5 ver.
// ARGV: 1 id, 2 version seen ("" for none).
// Returns 0 when the version changed, 1 when a scheduled monitor was
// removed, 2 when only leftovers (a tombstone) were.
var pruneScript = redis.NewScript(`
local id = ARGV[1]
local held = redis.call('HGET', KEYS[5], id)
if not held then held = '' end
if held ~= ARGV[2] then return 0 end
local live = redis.call('HDEL', KEYS[3], id) + redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[4], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[5], id)
if live > 0 then return 1 end
return 2
`)

// Result counts what a reconcile changed.
type Result struct {
	// Added monitors were active in PostgreSQL and missing from the
	// schedule.
	Added int `json:"added"`
	// Removed monitors were on the schedule but are deleted or inactive.
	Removed int `json:"removed"`
	// Updated monitors had a stale template, frequency or due entry.
	Updated int `json:"updated"`
}

// ReconcilerConfig tunes a Reconciler.
type ReconcilerConfig struct {
	// PageSize is the number of monitors read per query. Default 5000.
	PageSize int
	// LeaseTTL is the lifetime of the reconciler lease, renewed every
	// third of it while a reconcile runs. Default 30s.
	LeaseTTL time.Duration
}

// Reconciler repairs drift between PostgreSQL and the schedule: missing
// monitors are added, changed ones updated, and entries of deleted or
// inactive monitors removed. Only one reconcile runs at a time across
// every process sharing the keyspace.
type Reconciler struct {
	sched *Schedule
	src   Source
	cfg   ReconcilerConfig
}

// NewReconciler returns a reconciler of sched from src.
func NewReconciler(sched *Schedule, src Source, cfg ReconcilerConfig) *Reconciler {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5000
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	return &Reconciler{sched: sched, src: src, cfg: cfg}
}

// Reconcile runs one reconcile under the lease, or returns ErrBusy at once
// when another holds it.
func (r *Reconciler) Reconcile(ctx context.Context) (Result, error) {
	l, ok, err := acquireLease(ctx, r.sched.rdb, r.sched.keys.ReconcilerLease, r.cfg.LeaseTTL)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, ErrBusy
	}
	// Released even when ctx ended, so the next reconcile need not wait
	// for the lease to expire; a failed release only costs that wait.
	defer func() { _ = l.release(context.WithoutCancel(ctx)) }()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var keeper sync.WaitGroup
	keeper.Go(func() { l.keep(runCtx, cancel) })
	defer keeper.Wait()
	defer cancel(nil)

	res, err := r.reconcile(runCtx)
	if err != nil {
		if cause := context.Cause(runCtx); errors.Is(cause, ErrLeaseLost) {
			return res, cause
		}
		return res, err
	}
	return res, nil
}

func (r *Reconciler) reconcile(ctx context.Context) (Result, error) {
	var res Result
	// The schedule is read before the source: whatever an event adds
	// after this point has a version the snapshot lacks, so the prune
	// below cannot remove a monitor created while the source was read.
	before, err := r.snapshot(ctx)
	if err != nil {
		return res, err
	}
	if err := r.loadScripts(ctx); err != nil {
		return res, err
	}
	active := make(map[string]struct{}, len(before))
	after := ""
	for {
		page, err := r.src.ActiveMonitors(ctx, after, r.cfg.PageSize)
		if err != nil {
			return res, err
		}
		for _, spec := range page {
			active[spec.GetId()] = struct{}{}
		}
		if err := r.repair(ctx, page, &res); err != nil {
			return res, err
		}
		if len(page) < r.cfg.PageSize {
			break
		}
		after = page[len(page)-1].GetId()
	}
	var orphans []string
	for id := range before {
		if _, ok := active[id]; !ok {
			orphans = append(orphans, id)
		}
	}
	for len(orphans) > 0 {
		batch := orphans[:min(len(orphans), 1000)]
		orphans = orphans[len(batch):]
		n, err := r.prune(ctx, batch, before)
		res.Removed += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *Reconciler) loadScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{upsertScript, pruneScript} {
		if err := s.Load(ctx, r.sched.rdb).Err(); err != nil {
			return fmt.Errorf("load schedule scripts: %w", err)
		}
	}
	return nil
}

// snapshot returns every monitor id the schedule knows (due entries,
// frequencies, versions and tombstones) with its version ("" for none).
func (r *Reconciler) snapshot(ctx context.Context) (map[string]string, error) {
	k := r.sched.keys
	out := map[string]string{}
	scans := []struct {
		key    string
		scan   func(cursor uint64) *redis.ScanCmd
		values bool
	}{
		{k.Versions, func(c uint64) *redis.ScanCmd { return r.sched.rdb.HScan(ctx, k.Versions, c, "", 1000) }, true},
		{k.Frequencies, func(c uint64) *redis.ScanCmd { return r.sched.rdb.HScan(ctx, k.Frequencies, c, "", 1000) }, false},
		{k.Due, func(c uint64) *redis.ScanCmd { return r.sched.rdb.ZScan(ctx, k.Due, c, "", 1000) }, false},
	}
	for _, s := range scans {
		var cursor uint64
		for {
			kv, next, err := s.scan(cursor).Result()
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", s.key, err)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if s.values {
					out[kv[i]] = kv[i+1]
				} else if _, ok := out[kv[i]]; !ok {
					out[kv[i]] = ""
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return out, nil
}

// repair upserts the monitors of page whose schedule entry is missing or
// differs from their spec.
func (r *Reconciler) repair(ctx context.Context, page []*eventsv1.MonitorSpec, res *Result) error {
	if len(page) == 0 {
		return nil
	}
	k := r.sched.keys
	ids := make([]string, len(page))
	for i, spec := range page {
		ids[i] = spec.GetId()
	}
	pipe := r.sched.rdb.Pipeline()
	tpls := pipe.HMGet(ctx, k.Templates, ids...)
	freqs := pipe.HMGet(ctx, k.Frequencies, ids...)
	dues := pipe.ZMScore(ctx, k.Due, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read schedule of %d monitors: %w", len(ids), err)
	}
	tplVals, freqVals, dueVals := tpls.Val(), freqs.Val(), dues.Val()

	type fix struct {
		added bool
		cmd   *redis.Cmd
	}
	var fixes []fix
	pipe = r.sched.rdb.Pipeline()
	for i, spec := range page {
		tpl, _ := tplVals[i].(string)
		freq, _ := freqVals[i].(string)
		added := tplVals[i] == nil
		if !added && dueVals[i] != 0 && freq == strconv.Itoa(int(spec.GetFrequencySeconds())) && r.sameJob(tpl, spec) {
			continue
		}
		args, err := r.sched.upsertArgs(spec)
		if err != nil {
			return err
		}
		fixes = append(fixes, fix{added: added, cmd: pipe.EvalSha(ctx, upsertScript.Hash(), k.entryKeys(), args...)})
	}
	if len(fixes) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("repair schedule of %d monitors: %w", len(fixes), err)
	}
	for _, f := range fixes {
		switch n, _ := f.cmd.Int(); {
		case n == 0: // a newer event got there first
		case f.added:
			res.Added++
		default:
			res.Updated++
		}
	}
	return nil
}

// sameJob reports whether the stored template holds the job spec needs.
func (r *Reconciler) sameJob(tpl string, spec *eventsv1.MonitorSpec) bool {
	stored, err := decodeTemplate([]byte(tpl))
	if err != nil {
		return false
	}
	want, err := Job(spec)
	if err != nil {
		return false
	}
	return proto.Equal(normalized(stored), normalized(want))
}

// normalized leaves out what a job may differ in without being stale: the
// order of its headers (they come from a JSON object) and the last
// heartbeat time, which changes with every ping and is only the checkers'
// fallback for a Redis that lost its own (a template is rewritten, with the
// current time, when it is missing or the monitor changes).
func normalized(job *eventsv1.CheckRequested) *eventsv1.CheckRequested {
	if len(job.GetRequest().GetHeaders()) < 2 && job.GetHeartbeatLastReceivedAt() == nil {
		return job
	}
	c, _ := proto.Clone(job).(*eventsv1.CheckRequested)
	sortHeaders(c.GetRequest().GetHeaders())
	c.HeartbeatLastReceivedAt = nil
	return c
}

// prune removes orphans whose version is still the one in before.
func (r *Reconciler) prune(ctx context.Context, ids []string, before map[string]string) (int, error) {
	k := r.sched.keys
	pipe := r.sched.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.EvalSha(ctx, pruneScript.Hash(), k.entryKeys(), id, before[id])
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("remove %d orphans from the schedule: %w", len(ids), err)
	}
	removed := 0
	for _, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			removed++
		}
	}
	return removed, nil
}
