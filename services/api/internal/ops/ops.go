// Package ops connects the api to the pipeline: it publishes monitor
// changes for the scheduler and reads the live figures the ADMIN routes
// show.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/livestats"
	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// Keys (under the keyspace) where instances publish their live figures
// with pkg/livestats.
const (
	CheckerStatsKey   = "stats:checker"
	LogWriterStatsKey = "stats:log-writer"
)

// FlushChannel is the Redis pub/sub channel (under the keyspace) on which
// log-writers listen for flush requests.
const FlushChannel = "control:flush"

// Changes publishes MonitorChanged events.
type Changes struct {
	pub      *stream.Publisher
	producer string
}

// NewChanges returns a publisher of monitor changes.
func NewChanges(pub *stream.Publisher, producer string) *Changes {
	return &Changes{pub: pub, producer: producer}
}

// MonitorChanged publishes kind for m to the monitors stream.
func (c *Changes) MonitorChanged(ctx context.Context, kind eventsv1.ChangeKind, m store.Monitor) error {
	ev := &eventsv1.MonitorChanged{MonitorId: m.ID, Kind: kind, UserId: m.UserID}
	if kind != eventsv1.ChangeKind_CHANGE_KIND_DELETED {
		spec, err := Spec(m)
		if err != nil {
			return err
		}
		ev.Monitor = spec
	}
	env, err := events.New(c.producer, ev)
	if err != nil {
		return fmt.Errorf("wrap change of monitor %s: %w", m.ID, err)
	}
	b, err := events.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode change of monitor %s: %w", m.ID, err)
	}
	if _, err := c.pub.Publish(ctx, stream.Monitors, b); err != nil {
		return fmt.Errorf("publish change of monitor %s: %w", m.ID, err)
	}
	return nil
}

// Spec is the scheduler's view of a monitor (everything a job needs),
// mapped by the same code the scheduler's reconciler uses.
func Spec(m store.Monitor) (*eventsv1.MonitorSpec, error) {
	row := schedule.MonitorRow{
		ID: m.ID, UserID: m.UserID, Name: m.Name, URL: m.URL,
		Frequency:        int32(m.Frequency), //nolint:gosec // 60..86400 by a CHECK constraint
		IsActive:         m.IsActive,
		MonitorType:      m.MonitorType,
		Config:           m.Config,
		SealedSecrets:    m.SealedSecrets,
		FailureThreshold: int32(m.FailureThreshold), //nolint:gosec // 1..10 by a CHECK constraint
		SuccessThreshold: int32(m.SuccessThreshold), //nolint:gosec // 1..10 by a CHECK constraint
		CreatedAt:        m.CreatedAt,
		UpdatedAt:        m.UpdatedAt,
	}
	row.MaintenanceUntil = m.MaintenanceUntil
	row.HeartbeatLastReceivedAt = m.HeartbeatLastReceivedAt
	for _, w := range m.MaintenanceWindows {
		if w.Enabled {
			row.MaintenanceWindows = append(row.MaintenanceWindows, w.Window)
		}
	}
	if v := m.HeartbeatIntervalSeconds; v != nil {
		n := int32(*v) //nolint:gosec // bounded by validation
		row.HeartbeatIntervalSeconds = &n
	}
	if v := m.HeartbeatGraceSeconds; v != nil {
		n := int32(*v) //nolint:gosec // bounded by validation
		row.HeartbeatGraceSeconds = &n
	}
	return row.Spec()
}

// unavailable marks a Redis or PostgreSQL failure so that the api answers
// 503, and leaves domain errors (not found, not parked) as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, deadletter.ErrNotFound) || errors.Is(err, deadletter.ErrNotParked) {
		return err
	}
	c := store.Classify(err)
	for _, known := range []error{store.ErrNotFound, store.ErrConflict, store.ErrInvalidReference, store.ErrInvalidData, store.ErrUnavailable} {
		if errors.Is(c, known) {
			return c
		}
	}
	return errors.Join(store.ErrUnavailable, err)
}

// Admin reads pipeline figures for GET /uptime/stats and requests flushes.
type Admin struct {
	rdb         redis.UniversalClient
	ks          stream.Keyspace
	deadLetters *deadletter.Store
}

// NewAdmin returns the admin operations.
func NewAdmin(rdb redis.UniversalClient, ks stream.Keyspace, deadLetters *deadletter.Store) *Admin {
	return &Admin{rdb: rdb, ks: ks, deadLetters: deadLetters}
}

// Stats is the body of GET /uptime/stats: the sum of what every live
// checker and log-writer instance reports (null while none reports),
// each instance's own figures, stream lengths, pending and DLQ counts.
type Stats struct {
	HTTPPool          *PoolStats                 `json:"httpPool"`
	Buffer            *BufferStats               `json:"buffer"`
	Pools             []json.RawMessage          `json:"pools"`
	BufferUtilization *float64                   `json:"bufferUtilization"`
	Checkers          map[string]json.RawMessage `json:"checkers"`
	LogWriters        map[string]json.RawMessage `json:"logWriters"`
	Streams           []stream.StreamInfo        `json:"streams"`
	DLQ               DLQStats                   `json:"dlq"`
}

// PoolStats are a checker's probe figures (summed over instances; the
// response-time percentiles are the worst instance's, since percentiles
// cannot be added).
type PoolStats struct {
	ActiveRequests      int64             `json:"activeRequests"`
	TotalRequests       int64             `json:"totalRequests"`
	SuccessfulRequests  int64             `json:"successfulRequests"`
	FailedRequests      int64             `json:"failedRequests"`
	TimeoutRequests     int64             `json:"timeoutRequests"`
	CircuitBreakerOpen  int64             `json:"circuitBreakerOpen"`
	AverageResponseTime float64           `json:"averageResponseTime"`
	P95ResponseTime     float64           `json:"p95ResponseTime"`
	P99ResponseTime     float64           `json:"p99ResponseTime"`
	Pools               []json.RawMessage `json:"pools,omitempty"`
}

// BufferStats are a log-writer's buffer figures (summed over instances).
type BufferStats struct {
	CurrentSize       int64      `json:"currentSize"`
	MaxSize           int64      `json:"maxSize"`
	TotalAdded        int64      `json:"totalAdded"`
	TotalFlushed      int64      `json:"totalFlushed"`
	TotalFailed       int64      `json:"totalFailed"`
	FlushCount        int64      `json:"flushCount"`
	LastFlushTime     *time.Time `json:"lastFlushTime"`
	LastFlushDuration float64    `json:"lastFlushDuration"`
	IsFlushingNow     bool       `json:"isFlushingNow"`
	Utilization       float64    `json:"utilization"`
}

func sumPools(snaps map[string]json.RawMessage) (*PoolStats, []json.RawMessage) {
	if len(snaps) == 0 {
		return nil, []json.RawMessage{}
	}
	out := &PoolStats{}
	pools := []json.RawMessage{}
	var weighted float64
	for _, raw := range snaps {
		var p PoolStats
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		out.ActiveRequests += p.ActiveRequests
		out.TotalRequests += p.TotalRequests
		out.SuccessfulRequests += p.SuccessfulRequests
		out.FailedRequests += p.FailedRequests
		out.TimeoutRequests += p.TimeoutRequests
		out.CircuitBreakerOpen += p.CircuitBreakerOpen
		weighted += p.AverageResponseTime * float64(p.TotalRequests)
		out.P95ResponseTime = max(out.P95ResponseTime, p.P95ResponseTime)
		out.P99ResponseTime = max(out.P99ResponseTime, p.P99ResponseTime)
		pools = append(pools, p.Pools...)
	}
	if out.TotalRequests > 0 {
		out.AverageResponseTime = weighted / float64(out.TotalRequests)
	}
	return out, pools
}

func sumBuffers(snaps map[string]json.RawMessage) *BufferStats {
	if len(snaps) == 0 {
		return nil
	}
	out := &BufferStats{}
	for _, raw := range snaps {
		var b BufferStats
		if json.Unmarshal(raw, &b) != nil {
			continue
		}
		out.CurrentSize += b.CurrentSize
		out.MaxSize += b.MaxSize
		out.TotalAdded += b.TotalAdded
		out.TotalFlushed += b.TotalFlushed
		out.TotalFailed += b.TotalFailed
		out.FlushCount += b.FlushCount
		out.IsFlushingNow = out.IsFlushingNow || b.IsFlushingNow
		if b.LastFlushTime != nil && (out.LastFlushTime == nil || b.LastFlushTime.After(*out.LastFlushTime)) {
			out.LastFlushTime, out.LastFlushDuration = b.LastFlushTime, b.LastFlushDuration
		}
	}
	if out.MaxSize > 0 {
		out.Utilization = float64(out.CurrentSize) / float64(out.MaxSize) * 100
	}
	return out
}

// DLQStats counts dead letters by where they are.
type DLQStats struct {
	// Stream is the length of the dlq stream (entries not yet handled by the mover).
	Stream int64 `json:"stream"`
	// Delayed are waiting for a re-drive.
	Delayed int64 `json:"delayed"`
	// Parked are in PostgreSQL awaiting an ADMIN.
	Parked int `json:"parked"`
}

// Stats implements httpapi.AdminOps.
func (a *Admin) Stats(ctx context.Context) (any, error) {
	infos, err := stream.Inspect(ctx, a.rdb, a.ks, stream.Monitors, stream.Jobs, stream.Results, stream.Events, stream.DLQ)
	if err != nil {
		return nil, unavailable(fmt.Errorf("inspect streams: %w", err))
	}
	st := Stats{Streams: infos}
	if st.Checkers, err = livestats.Read(ctx, a.rdb, a.ks.Key(CheckerStatsKey)); err != nil {
		return nil, unavailable(err)
	}
	if st.LogWriters, err = livestats.Read(ctx, a.rdb, a.ks.Key(LogWriterStatsKey)); err != nil {
		return nil, unavailable(err)
	}
	st.HTTPPool, st.Pools = sumPools(st.Checkers)
	if st.Buffer = sumBuffers(st.LogWriters); st.Buffer != nil {
		u := st.Buffer.Utilization
		st.BufferUtilization = &u
	}
	for _, s := range infos {
		if s.Stream == stream.DLQ {
			st.DLQ.Stream = s.Length
		}
	}
	if st.DLQ.Delayed, err = a.rdb.ZCard(ctx, a.ks.Key("dlq:delay")).Result(); err != nil {
		return nil, unavailable(fmt.Errorf("count delayed dead letters: %w", err))
	}
	if _, st.DLQ.Parked, err = a.deadLetters.List(ctx, deadletter.StatusParked, 1, 0); err != nil {
		return nil, unavailable(err)
	}
	return st, nil
}

// RequestFlush implements httpapi.AdminOps.
func (a *Admin) RequestFlush(ctx context.Context) (int64, error) {
	n, err := a.rdb.Publish(ctx, a.ks.Key(FlushChannel), "flush").Result()
	if err != nil {
		return 0, unavailable(fmt.Errorf("publish flush request: %w", err))
	}
	return n, nil
}

// DeadLetters lets an ADMIN list, replay and discard parked dead letters.
type DeadLetters struct {
	store *deadletter.Store
	pub   *stream.Publisher
}

// NewDeadLetters returns the dead-letter operations.
func NewDeadLetters(store *deadletter.Store, pub *stream.Publisher) *DeadLetters {
	return &DeadLetters{store: store, pub: pub}
}

// List returns one page of dead letters with status (all when empty).
func (d *DeadLetters) List(ctx context.Context, status string, page, limit int) ([]deadletter.Parked, int, error) {
	rows, total, err := d.store.List(ctx, status, limit, (page-1)*limit)
	return rows, total, unavailable(err)
}

// Get returns one dead letter.
func (d *DeadLetters) Get(ctx context.Context, id string) (deadletter.Parked, error) {
	p, err := d.store.Get(ctx, id)
	return p, unavailable(err)
}

// Replay re-publishes a parked dead letter to its source stream.
func (d *DeadLetters) Replay(ctx context.Context, id string) (deadletter.Parked, error) {
	p, err := d.store.Replay(ctx, id, d.pub)
	return p, unavailable(err)
}

// Discard marks a parked dead letter as discarded.
func (d *DeadLetters) Discard(ctx context.Context, id string) (deadletter.Parked, error) {
	p, err := d.store.Discard(ctx, id)
	return p, unavailable(err)
}

// Queue runs the ADMIN queue routes against the shared schedule.
type Queue struct {
	sched      *schedule.Schedule
	reconciler *schedule.Reconciler
}

// NewQueue returns the queue operations.
func NewQueue(sched *schedule.Schedule, reconciler *schedule.Reconciler) *Queue {
	return &Queue{sched: sched, reconciler: reconciler}
}

// Sync reconciles the schedule with PostgreSQL now (under the same lease
// the schedulers use, so it never overlaps theirs).
func (q *Queue) Sync(ctx context.Context) (schedule.Result, error) {
	res, err := q.reconciler.Reconcile(ctx)
	if err != nil && !errors.Is(err, schedule.ErrBusy) {
		return res, unavailable(err)
	}
	return res, err
}

// Clear drops pending jobs; the schedule stays.
func (q *Queue) Clear(ctx context.Context) (schedule.ClearResult, error) {
	res, err := q.sched.Clear(ctx)
	return res, unavailable(err)
}
