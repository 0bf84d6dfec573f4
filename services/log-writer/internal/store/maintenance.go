package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLockTimeout reports that a partition statement gave up waiting for its
// lock (SQLSTATE 55P03, lock_not_available): try again later.
var ErrLockTimeout = errors.New("lock not available")

// EnsurePartitions creates the missing ping_logs partitions for the UTC days
// from..to (inclusive) and returns how many it created. It runs in its own
// transaction, because the lock taken to create a partition is held until
// commit, with lock_timeout so that it never queues for long in front of
// inserts.
func EnsurePartitions(ctx context.Context, db Beginner, from, to time.Time, lockTimeout time.Duration) (int, error) {
	var n int
	err := withLockTimeout(ctx, db, lockTimeout, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT ping_logs_ensure_partitions($1::date, $2::date)`,
			utcDate(from), utcDate(to)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("ensure ping_logs partitions %s..%s: %w", utcDate(from), utcDate(to), err)
	}
	return n, nil
}

// DropPartitionsBefore detaches and drops every ping_logs partition that
// ends at or before the start of UTC day and returns how many it dropped.
// DETACH and DROP need ACCESS EXCLUSIVE on ping_logs: lock_timeout keeps a
// long read from stalling every insert queued behind the lock, at the price
// of ErrLockTimeout.
func DropPartitionsBefore(ctx context.Context, db Beginner, day time.Time, lockTimeout time.Duration) (int, error) {
	var n int
	err := withLockTimeout(ctx, db, lockTimeout, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT ping_logs_drop_partitions_before($1::date)`, utcDate(day)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("drop ping_logs partitions before %s: %w", utcDate(day), err)
	}
	return n, nil
}

// DeleteRollupsBefore deletes hourly rollups whose hour starts before t, in
// chunks of chunk rows (each its own statement, so no transaction holds
// many locks or a long snapshot), and returns how many it deleted.
func DeleteRollupsBefore(ctx context.Context, db Beginner, t time.Time, chunk int) (int64, error) {
	var total int64
	for {
		var n int64
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `
DELETE FROM monitor_rollups_hourly
WHERE ctid = ANY(ARRAY(SELECT ctid FROM monitor_rollups_hourly WHERE bucket_start < $1 LIMIT $2))`, t, chunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("delete rollups before %s: %w", t.UTC().Format(time.RFC3339), err)
		}
		total += n
		if n < int64(chunk) {
			return total, nil
		}
	}
}

func withLockTimeout(ctx context.Context, db Beginner, lockTimeout time.Duration, f func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// SET LOCAL takes no parameters; the value is a formatted integer.
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(lockTimeout.Milliseconds(), 1))); err != nil {
			return err
		}
		return f(tx)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" {
		return fmt.Errorf("%w: %w", ErrLockTimeout, err)
	}
	return err
}

// utcDate is t's UTC calendar day as a date value.
func utcDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }
