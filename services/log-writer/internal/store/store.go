// Package store writes batches of check results to PostgreSQL in one
// transaction each: ping logs (idempotent on monitor and slot), the status of
// each monitor, incidents and hourly rollups, all from the rows really
// inserted. It also runs the partition and retention maintenance.
package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/servercheck/uptime/db"
)

// Monitor statuses as stored in monitors.status.
const (
	StatusPending     = "PENDING"
	StatusUp          = "UP"
	StatusDown        = "DOWN"
	StatusMaintenance = "MAINTENANCE"
)

// Result is one check result, ready to be written.
type Result struct {
	// MonitorID is the monitor's UUID.
	MonitorID [16]byte
	// Slot is the scheduled time of the check, at microsecond precision;
	// with MonitorID the idempotency key.
	Slot time.Time
	// Finished is when the last attempt ended (ping_logs."timestamp").
	Finished time.Time
	// DurationMs is the whole check in milliseconds, retries included.
	DurationMs int32
	// StatusCode is the last HTTP status, 0 without a response.
	StatusCode int32
	// Attempts is the number of requests sent, at least 1.
	Attempts int32
	// DNSMs, ConnectMs, TLSMs and FirstByteMs are the phase timings of the
	// last attempt; nil when the phase did not happen.
	DNSMs, ConnectMs, TLSMs, FirstByteMs *float32
	Success                              bool
	ConnectionReused                     bool
	// Maintenance marks a check run inside a maintenance window.
	Maintenance bool
	// Error and Warning are nil when empty.
	Error, Warning *string
	// CertificateExpiresAt is the leaf certificate's NotAfter when TLS was used.
	CertificateExpiresAt *time.Time
	// NewStatus is the monitor's status after this result (StatusUp, ...),
	// empty when the checker did not say.
	NewStatus string
	// StatusChanged tells whether this result flipped the status.
	StatusChanged bool
	// Checker names the checker instance.
	Checker string
}

func (r *Result) key() resultKey { return resultKey{id: r.MonitorID, slot: r.Slot.UnixMicro()} }

type resultKey struct {
	id   [16]byte
	slot int64
}

// Written counts what a batch did.
type Written struct {
	// Inserted rows are new ping logs; only they changed monitors,
	// incidents and rollups.
	Inserted int
	// Duplicates were already stored (a redelivered result).
	Duplicates int
	// UnknownMonitor results belong to monitors that no longer exist and
	// were dropped.
	UnknownMonitor int
}

// ErrPartitionMissing marks an insert that found no ping_logs partition for
// a slot although one was ensured (it was dropped in between). The next
// attempt creates it again, so the error is transient.
var ErrPartitionMissing = errors.New("ping_logs partition missing")

// IsDataError reports whether err is a data error that will fail again for
// the same rows (SQLSTATE class 22, data exception, or 23, integrity
// constraint violation): a poison row, not an unavailable database.
func IsDataError(err error) bool {
	if errors.Is(err, ErrPartitionMissing) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
}

// Beginner starts transactions; *pgxpool.Pool is one.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store writes result batches.
type Store struct {
	db          Beginner
	lockTimeout time.Duration

	mu sync.Mutex
	// days holds the UTC days (unix days) whose ping_logs partition is
	// known to exist, so partitions are ensured once per day, not per batch.
	days map[int64]struct{}
}

// New returns a store writing through db. lockTimeout bounds the wait for
// the lock taken when a partition has to be created on demand.
func New(db Beginner, lockTimeout time.Duration) *Store {
	return &Store{db: db, lockTimeout: lockTimeout, days: map[int64]struct{}{}}
}

// Write stores batch in one transaction and returns what it did. A batch
// either commits whole or not at all; on error nothing was written.
//
// Results of monitors that no longer exist are dropped; a result already
// stored is not stored again and changes nothing else. From the rows really
// inserted, per monitor in slot order:
//   - the latest result sets monitors.status, last_check (= its slot),
//     last_error, last_warning and, when known, ssl_certificate_expires_at,
//     unless the monitor already shows a newer slot;
//   - incidents open, grow and resolve (see applyIncidents);
//   - hourly rollups add the checks and the downtime (see rollups).
func (s *Store) Write(ctx context.Context, batch []Result) (Written, error) {
	if len(batch) == 0 {
		return Written{}, nil
	}
	if err := s.ensureDays(ctx, batch); err != nil {
		return Written{}, err
	}
	var w Written
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		w, err = write(ctx, tx, batch)
		return err
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23514" && strings.HasPrefix(pgErr.Message, "no partition of relation") {
			s.mu.Lock()
			clear(s.days)
			s.mu.Unlock()
			return Written{}, fmt.Errorf("write %d results: %w: %w", len(batch), ErrPartitionMissing, err)
		}
		return Written{}, fmt.Errorf("write %d results: %w", len(batch), err)
	}
	return w, nil
}

// ensureDays creates, each in its own short transaction, the partitions of
// the batch's days not yet known to exist, so that the insert never fails
// (and no result is lost) for want of a partition: a result for a day the
// maintenance job has not prepared (a late re-drive, a clock far ahead) gets
// its partition on demand.
func (s *Store) ensureDays(ctx context.Context, batch []Result) error {
	var missing []int64
	s.mu.Lock()
	for i := range batch {
		d := unixDay(batch[i].Slot)
		if _, ok := s.days[d]; !ok && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	s.mu.Unlock()
	for _, d := range missing {
		day := time.Unix(d*86400, 0).UTC()
		if _, err := EnsurePartitions(ctx, s.db, day, day, s.lockTimeout); err != nil {
			return err
		}
		s.mu.Lock()
		s.days[d] = struct{}{}
		s.mu.Unlock()
	}
	return nil
}

func unixDay(t time.Time) int64 {
	sec := t.Unix()
	if sec < 0 {
		return (sec - 86399) / 86400
	}
	return sec / 86400
}

// monitorState is a monitor's row as the batch found it (locked).
type monitorState struct {
	userID    [16]byte
	frequency int32
	// lastSlot is the slot of the newest result applied to the monitor.
	lastSlot *time.Time
	// ongoing is the monitor's ONGOING incident, if any.
	ongoing *incident
}

// incident is an ONGOING incident loaded from the database (id set) or one
// opened by this batch (id zero).
type incident struct {
	id              [16]byte
	stored          bool
	startedAt       time.Time
	endedAt         *time.Time
	firstStatusCode int32
	firstError      *string
	lastError       *string
	// affected counts failed checks: the whole incident when new, the ones
	// added by this batch when stored.
	affected int32
	changed  bool
}

// lockSQL locks the batch's monitors in id order, so concurrent flushes
// (other replicas) that share monitors queue instead of deadlocking, and
// everything below (status, incidents, rollups of these monitors) is
// serialised per monitor. FOR NO KEY UPDATE does not block the foreign-key
// checks (FOR KEY SHARE) of inserts into ping_logs and incidents.
const lockSQL = `
SELECT m.id, m.user_id, m.frequency, m.last_check, i.id, i.started_at
FROM monitors m
LEFT JOIN incidents i ON i.monitor_id = m.id AND i.status = 'ONGOING'
WHERE m.id = ANY($1::uuid[])
ORDER BY m.id
FOR NO KEY UPDATE OF m`

// insertSQL stores the batch's ping logs. Rows are inserted in key order so
// that two transactions inserting the same keys (a result redelivered to
// another replica) wait for each other in the same order.
const insertSQL = `
INSERT INTO ping_logs (monitor_id, slot, "timestamp", duration_ms, status_code, attempts,
    dns_ms, connect_ms, tls_ms, first_byte_ms, success, connection_reused, maintenance,
    error, warning, certificate_expires_at, checker)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::int[], $5::int[], $6::int[],
    $7::real[], $8::real[], $9::real[], $10::real[], $11::boolean[], $12::boolean[], $13::boolean[],
    $14::text[], $15::text[], $16::timestamptz[], $17::text[])
ORDER BY 1, 2
ON CONFLICT (monitor_id, slot) DO NOTHING
RETURNING monitor_id, slot`

// updateMonitorsSQL applies each monitor's latest result unless the
// monitor already shows a newer slot (last_check holds the slot of the
// result applied last, so it only moves forward).
const updateMonitorsSQL = `
UPDATE monitors m
SET status = coalesce(u.status, m.status),
    last_check = u.slot,
    last_error = u.error,
    last_warning = u.warning,
    ssl_certificate_expires_at = coalesce(u.certificate_expires_at, m.ssl_certificate_expires_at)
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::text[])
    AS u(id, status, slot, error, certificate_expires_at, warning)
WHERE m.id = u.id AND (m.last_check IS NULL OR m.last_check < u.slot)`

// updateIncidentsSQL grows and resolves stored ONGOING incidents.
const updateIncidentsSQL = `
UPDATE incidents i
SET affected_checks = i.affected_checks + u.added,
    last_error = coalesce(u.last_error, i.last_error),
    status = CASE WHEN u.ended_at IS NULL THEN i.status ELSE 'RESOLVED' END,
    ended_at = coalesce(u.ended_at, i.ended_at)
FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[]) AS u(id, added, last_error, ended_at)
WHERE i.id = u.id AND i.status = 'ONGOING'`

// insertIncidentsSQL stores incidents opened by the batch (resolved ones
// too, when the batch also holds their end). An ONGOING one yields to an
// ONGOING incident that appeared meanwhile (the partial unique index).
const insertIncidentsSQL = `
INSERT INTO incidents (monitor_id, user_id, status, started_at, ended_at, first_status_code,
    first_error, last_error, affected_checks)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[],
    $6::int[], $7::text[], $8::text[], $9::int[])
ON CONFLICT (monitor_id) WHERE status = 'ONGOING' DO NOTHING`

// rollupSQL adds one batch's rollup rows (aggregated by rollups) to
// monitor_rollups_hourly. Most rows exist already (a monitor's hour gets
// one check per period), so they are updated first, which costs half an
// INSERT ... ON CONFLICT DO UPDATE; only the rest go through the upsert,
// which also covers a row another transaction inserted meanwhile.
//
// The histogram of input row i is the i-th run of db.LatencyBuckets
// counters of one flat array, and the merge is written out counter by
// counter: the SQL helpers rollup_histogram_agg and rollup_histogram_merge
// cost a PL/pgSQL call or a subquery per row, most of a core at tens of
// thousands of rows per second.
var rollupSQL = func() string {
	merge := func(old, add string) string {
		parts := make([]string, db.LatencyBuckets)
		for i := range parts {
			parts[i] = fmt.Sprintf("%[1]s.latency_histogram[%[3]d] + %[2]s.latency_histogram[%[3]d]", old, add, i+1)
		}
		return "ARRAY[" + strings.Join(parts, ", ") + "]"
	}
	add := func(old, add string) string {
		return fmt.Sprintf(`checks = %[1]s.checks + %[2]s.checks,
    successes = %[1]s.successes + %[2]s.successes,
    failures = %[1]s.failures + %[2]s.failures,
    maintenance_checks = %[1]s.maintenance_checks + %[2]s.maintenance_checks,
    total_duration_ms = %[1]s.total_duration_ms + %[2]s.total_duration_ms,
    max_duration_ms = greatest(%[1]s.max_duration_ms, %[2]s.max_duration_ms),
    downtime_ms = least(%[1]s.downtime_ms + %[2]s.downtime_ms, %[3]d),
    latency_histogram = %[4]s`, old, add, hourMs, merge(old, add))
	}
	return fmt.Sprintf(`
WITH u AS (
    SELECT u.monitor_id, u.bucket_start, u.checks, u.successes, u.failures, u.maintenance_checks,
           u.total_duration_ms, u.max_duration_ms, u.downtime_ms,
           ($10::int[])[(u.o - 1) * %[1]d + 1 : u.o * %[1]d] AS latency_histogram
    FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::int[], $6::int[], $7::bigint[],
        $8::int[], $9::bigint[]) WITH ORDINALITY
        AS u(monitor_id, bucket_start, checks, successes, failures, maintenance_checks, total_duration_ms,
             max_duration_ms, downtime_ms, o)
), updated AS (
    UPDATE monitor_rollups_hourly m SET %[2]s
    FROM u WHERE m.monitor_id = u.monitor_id AND m.bucket_start = u.bucket_start
    RETURNING m.monitor_id, m.bucket_start
)
INSERT INTO monitor_rollups_hourly AS m (monitor_id, bucket_start, checks, successes, failures,
    maintenance_checks, total_duration_ms, max_duration_ms, downtime_ms, latency_histogram)
SELECT * FROM u
WHERE NOT EXISTS (SELECT FROM updated d WHERE d.monitor_id = u.monitor_id AND d.bucket_start = u.bucket_start)
ORDER BY 1, 2
ON CONFLICT (monitor_id, bucket_start) DO UPDATE SET %[3]s`, db.LatencyBuckets, add("m", "u"), add("m", "EXCLUDED"))
}()

func write(ctx context.Context, tx pgx.Tx, batch []Result) (Written, error) {
	// Sorted by monitor and slot, without duplicate keys: the order every
	// step below needs.
	rows := make([]*Result, 0, len(batch))
	for i := range batch {
		rows = append(rows, &batch[i])
	}
	slices.SortFunc(rows, func(a, b *Result) int {
		if c := bytes.Compare(a.MonitorID[:], b.MonitorID[:]); c != 0 {
			return c
		}
		return a.Slot.Compare(b.Slot)
	})
	var w Written
	rows = slices.CompactFunc(rows, func(a, b *Result) bool {
		if a.key() == b.key() {
			w.Duplicates++
			return true
		}
		return false
	})

	monitors, err := lockMonitors(ctx, tx, rows)
	if err != nil {
		return Written{}, err
	}
	known := rows[:0:0]
	for _, r := range rows {
		if _, ok := monitors[r.MonitorID]; ok {
			known = append(known, r)
		} else {
			w.UnknownMonitor++
		}
	}
	inserted, err := insertPingLogs(ctx, tx, known)
	if err != nil {
		return Written{}, err
	}
	w.Inserted = len(inserted)
	w.Duplicates += len(known) - len(inserted)
	if len(inserted) == 0 {
		return w, nil
	}

	b := &pgx.Batch{}
	queueMonitorUpdates(b, monitors, inserted)
	queueIncidents(b, monitors, inserted)
	queueRollups(b, monitors, inserted)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Written{}, fmt.Errorf("update monitors, incidents and rollups: %w", err)
	}
	return w, nil
}

func lockMonitors(ctx context.Context, tx pgx.Tx, rows []*Result) (map[[16]byte]*monitorState, error) {
	ids := make([]pgtype.UUID, 0, len(rows))
	for _, r := range rows {
		if len(ids) == 0 || ids[len(ids)-1].Bytes != r.MonitorID {
			ids = append(ids, pgUUID(r.MonitorID))
		}
	}
	q, err := tx.Query(ctx, lockSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("lock %d monitors: %w", len(ids), err)
	}
	monitors := make(map[[16]byte]*monitorState, len(ids))
	for q.Next() {
		var (
			id, userID       [16]byte
			st               monitorState
			incidentID       *[16]byte
			incidentStart    *time.Time
			frequencySeconds int32
		)
		if err := q.Scan(&id, &userID, &frequencySeconds, &st.lastSlot, &incidentID, &incidentStart); err != nil {
			q.Close()
			return nil, fmt.Errorf("lock %d monitors: %w", len(ids), err)
		}
		st.userID = userID
		st.frequency = frequencySeconds
		if incidentID != nil && incidentStart != nil {
			st.ongoing = &incident{id: *incidentID, stored: true, startedAt: *incidentStart}
		}
		monitors[id] = &st
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("lock %d monitors: %w", len(ids), err)
	}
	return monitors, nil
}

// insertPingLogs inserts rows (sorted, unique keys) and returns those
// really inserted, in the same order.
func insertPingLogs(ctx context.Context, tx pgx.Tx, rows []*Result) ([]*Result, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	n := len(rows)
	var (
		ids                        = make([]pgtype.UUID, n)
		slots, finished            = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		durations, codes, attempts = make([]int32, n), make([]int32, n), make([]int32, n)
		dns, connect, tls, first   = make([]pgtype.Float4, n), make([]pgtype.Float4, n), make([]pgtype.Float4, n), make([]pgtype.Float4, n)
		success, reused, maint     = make([]bool, n), make([]bool, n), make([]bool, n)
		errs, warnings             = make([]pgtype.Text, n), make([]pgtype.Text, n)
		certs                      = make([]pgtype.Timestamptz, n)
		checkers                   = make([]string, n)
	)
	for i, r := range rows {
		ids[i], slots[i], finished[i] = pgUUID(r.MonitorID), pgTime(r.Slot), pgTime(r.Finished)
		durations[i], codes[i], attempts[i] = r.DurationMs, r.StatusCode, r.Attempts
		dns[i], connect[i], tls[i], first[i] = pgFloat(r.DNSMs), pgFloat(r.ConnectMs), pgFloat(r.TLSMs), pgFloat(r.FirstByteMs)
		success[i], reused[i], maint[i] = r.Success, r.ConnectionReused, r.Maintenance
		errs[i], warnings[i], certs[i], checkers[i] = pgText(r.Error), pgText(r.Warning), pgTimePtr(r.CertificateExpiresAt), r.Checker
	}
	q, err := tx.Query(ctx, insertSQL, ids, slots, finished, durations, codes, attempts,
		dns, connect, tls, first, success, reused, maint, errs, warnings, certs, checkers)
	if err != nil {
		return nil, fmt.Errorf("insert %d ping logs: %w", n, err)
	}
	inserted := make(map[resultKey]struct{}, n)
	for q.Next() {
		var id [16]byte
		var slot time.Time
		if err := q.Scan(&id, &slot); err != nil {
			q.Close()
			return nil, fmt.Errorf("insert %d ping logs: %w", n, err)
		}
		inserted[resultKey{id: id, slot: slot.UnixMicro()}] = struct{}{}
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("insert %d ping logs: %w", n, err)
	}
	out := make([]*Result, 0, len(inserted))
	for _, r := range rows {
		if _, ok := inserted[r.key()]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// byMonitor calls f with each monitor's rows (rows are sorted by monitor).
func byMonitor(rows []*Result, f func(id [16]byte, rows []*Result)) {
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].MonitorID == rows[start].MonitorID {
			end++
		}
		f(rows[start].MonitorID, rows[start:end])
		start = end
	}
}

// newer returns the monitor's rows whose slot is after the newest slot
// already applied to it. Older rows (a result arriving after a later one,
// e.g. redelivered by another replica) are stored and counted in the
// rollups but change neither the status nor incidents: their place in the
// monitor's history has passed.
func newer(st *monitorState, rows []*Result) []*Result {
	if st.lastSlot == nil {
		return rows
	}
	i, _ := slices.BinarySearchFunc(rows, *st.lastSlot, func(r *Result, t time.Time) int {
		return cmp.Compare(r.Slot.UnixMicro(), t.UnixMicro()+1)
	})
	return rows[i:]
}

func queueMonitorUpdates(b *pgx.Batch, monitors map[[16]byte]*monitorState, rows []*Result) {
	var (
		ids    []pgtype.UUID
		status []pgtype.Text
		slots  []pgtype.Timestamptz
		errs   []pgtype.Text
		warns  []pgtype.Text
		certs  []pgtype.Timestamptz
	)
	byMonitor(rows, func(id [16]byte, rows []*Result) {
		fresh := newer(monitors[id], rows)
		if len(fresh) == 0 {
			return
		}
		latest := fresh[len(fresh)-1]
		ids = append(ids, pgUUID(id))
		status = append(status, pgtype.Text{String: latest.NewStatus, Valid: latest.NewStatus != ""})
		slots = append(slots, pgTime(latest.Slot))
		errs = append(errs, pgText(latest.Error))
		warns = append(warns, pgText(latest.Warning))
		var cert *time.Time
		for _, r := range fresh {
			if r.CertificateExpiresAt != nil {
				cert = r.CertificateExpiresAt
			}
		}
		certs = append(certs, pgTimePtr(cert))
	})
	if len(ids) > 0 {
		b.Queue(updateMonitorsSQL, ids, status, slots, errs, certs, warns)
	}
}

// applyIncidents runs a monitor's new rows (slot order) through its
// incidents and returns the incidents it touched. Maintenance checks do not
// count. A DOWN result opens an incident when none is ongoing (started at
// its slot: normally the result that flipped the status; a DOWN result
// that did not flip it opens one too, so that a monitor shown DOWN always has
// an ongoing incident) and otherwise adds one affected check and its error
// (also when the checker reported a flip, e.g. after its state was lost: the
// outage goes on). An UP result resolves the ongoing incident at its slot.
func applyIncidents(st *monitorState, rows []*Result) []*incident {
	var touched []*incident
	cur := st.ongoing
	for _, r := range rows {
		if r.Maintenance {
			continue
		}
		switch r.NewStatus {
		case StatusDown:
			if cur == nil {
				cur = &incident{
					startedAt: r.Slot, firstStatusCode: r.StatusCode, firstError: r.Error,
					lastError: r.Error, affected: 1, changed: true,
				}
				touched = append(touched, cur)
				continue
			}
			cur.affected++
			if r.Error != nil {
				cur.lastError = r.Error
			}
			if !cur.changed {
				cur.changed = true
				touched = append(touched, cur)
			}
		case StatusUp:
			if cur == nil || r.Slot.Before(cur.startedAt) {
				continue
			}
			end := r.Slot
			cur.endedAt = &end
			if !cur.changed {
				cur.changed = true
				touched = append(touched, cur)
			}
			cur = nil
		}
	}
	return touched
}

func queueIncidents(b *pgx.Batch, monitors map[[16]byte]*monitorState, rows []*Result) {
	var (
		updIDs    [][16]byte
		updAdded  []int32
		updErrors []*string
		updEnded  []*time.Time

		insMonitors, insUsers       [][16]byte
		insStatus                   []string
		insStarted                  []time.Time
		insEnded                    []*time.Time
		insCodes                    []int32
		insFirstErrors, insLastErrs []*string
		insAffected                 []int32
	)
	byMonitor(rows, func(id [16]byte, rows []*Result) {
		st := monitors[id]
		for _, inc := range applyIncidents(st, newer(st, rows)) {
			if inc.stored {
				updIDs = append(updIDs, inc.id)
				updAdded = append(updAdded, inc.affected)
				updErrors = append(updErrors, inc.lastError)
				updEnded = append(updEnded, inc.endedAt)
				continue
			}
			status := "ONGOING"
			if inc.endedAt != nil {
				status = "RESOLVED"
			}
			insMonitors = append(insMonitors, id)
			insUsers = append(insUsers, st.userID)
			insStatus = append(insStatus, status)
			insStarted = append(insStarted, inc.startedAt)
			insEnded = append(insEnded, inc.endedAt)
			insCodes = append(insCodes, inc.firstStatusCode)
			insFirstErrors = append(insFirstErrors, inc.firstError)
			insLastErrs = append(insLastErrs, inc.lastError)
			insAffected = append(insAffected, inc.affected)
		}
	})
	if len(updIDs) > 0 {
		b.Queue(updateIncidentsSQL, updIDs, updAdded, updErrors, updEnded)
	}
	if len(insMonitors) > 0 {
		b.Queue(insertIncidentsSQL, insMonitors, insUsers, insStatus, insStarted, insEnded,
			insCodes, insFirstErrors, insLastErrs, insAffected)
	}
}

// hourMs is the length of a rollup bucket, the most downtime it can hold.
const hourMs = int64(time.Hour / time.Millisecond)

type bucketKey struct {
	id   [16]byte
	hour int64 // unix ms of the hour's start
}

type bucket struct {
	checks, successes, failures, maintenance int32
	totalMs                                  int64
	maxMs                                    int32
	downtimeMs                               int64
	histogram                                [db.LatencyBuckets]int32
}

// rollups aggregates rows into hourly buckets, in key order.
//
// Checks count in their slot's UTC hour: successes and failures outside
// maintenance, maintenance checks apart, durations and the histogram
// (db.LatencyBucket, kept equal to rollup_histogram_bucket by db's tests)
// over all.
//
// downtime_ms is the time the monitor was DOWN: a result whose new status
// is DOWN stands for [slot, slot + frequency) — until the next check nobody
// knows better — split over the UTC hours it covers, so an hour can get
// downtime without a check of its own (frequencies above an hour). For
// results arriving in order this is exactly the overlap of the hour with the
// monitor's incidents, which start at the slot of the first DOWN result and
// end at the slot of the first UP one: the api's health windows (from
// incidents) and the rollups' downtime agree. A bucket's downtime is capped
// at one hour (a frequency lengthened mid-hour could overlap two intervals).
func rollups(monitors map[[16]byte]*monitorState, rows []*Result) ([]bucketKey, map[bucketKey]*bucket) {
	var keys []bucketKey
	buckets := map[bucketKey]*bucket{}
	get := func(id [16]byte, hour int64) *bucket {
		k := bucketKey{id: id, hour: hour}
		b, ok := buckets[k]
		if !ok {
			b = &bucket{}
			buckets[k] = b
			keys = append(keys, k)
		}
		return b
	}
	for _, r := range rows {
		slot := r.Slot.UnixMilli()
		b := get(r.MonitorID, floorHour(slot))
		b.checks++
		switch {
		case r.Maintenance:
			b.maintenance++
		case r.Success:
			b.successes++
		default:
			b.failures++
		}
		b.totalMs += int64(r.DurationMs)
		b.maxMs = max(b.maxMs, r.DurationMs)
		b.histogram[db.LatencyBucket(int(r.DurationMs))-1]++
		if r.NewStatus != StatusDown {
			continue
		}
		end := slot + int64(monitors[r.MonitorID].frequency)*1000
		for h := floorHour(slot); h < end; h += hourMs {
			b := get(r.MonitorID, h)
			b.downtimeMs = min(b.downtimeMs+min(end, h+hourMs)-max(slot, h), hourMs)
		}
	}
	slices.SortFunc(keys, func(a, b bucketKey) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.hour, b.hour)
	})
	return keys, buckets
}

func floorHour(ms int64) int64 {
	h := ms - ms%hourMs
	if ms < 0 && ms%hourMs != 0 {
		h -= hourMs
	}
	return h
}

func queueRollups(b *pgx.Batch, monitors map[[16]byte]*monitorState, rows []*Result) {
	keys, buckets := rollups(monitors, rows)
	n := len(keys)
	var (
		ids                                      = make([]pgtype.UUID, n)
		starts                                   = make([]pgtype.Timestamptz, n)
		checks, successes, failures, maintenance = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
		totals, downtimes                        = make([]int64, n), make([]int64, n)
		maxes                                    = make([]int32, n)
		histograms                               = make([]int32, 0, n*db.LatencyBuckets)
	)
	for i, k := range keys {
		x := buckets[k]
		ids[i], starts[i] = pgUUID(k.id), pgTime(time.UnixMilli(k.hour))
		checks[i], successes[i], failures[i], maintenance[i] = x.checks, x.successes, x.failures, x.maintenance
		totals[i], maxes[i], downtimes[i] = x.totalMs, x.maxMs, x.downtimeMs
		histograms = append(histograms, x.histogram[:]...)
	}
	b.Queue(rollupSQL, ids, starts, checks, successes, failures, maintenance, totals, maxes, downtimes, histograms)
}

// The pgtype values below encode without reflection or a wrapper allocation
// per array element, which matters at tens of thousands of rows a second.

func pgUUID(id [16]byte) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

func pgTime(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: true} }

func pgTimePtr(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgTime(*t)
}

func pgText(s *string) pgtype.Text {
	if s == nil {
		return pgtype.Text{}
	}
	return pgtype.Text{String: *s, Valid: true}
}

func pgFloat(f *float32) pgtype.Float4 {
	if f == nil {
		return pgtype.Float4{}
	}
	return pgtype.Float4{Float32: *f, Valid: true}
}
