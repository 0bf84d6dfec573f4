package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnlyOneOngoingIncidentPerMonitor(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	ctx := t.Context()
	userID := insertUser(t, sqlDB, "owner@example.com")
	monitorID := insertMonitor(t, sqlDB, userID)
	otherMonitorID := insertMonitor(t, sqlDB, userID)

	insert := func(monitorID, status string, endedAt *time.Time) error {
		_, err := sqlDB.ExecContext(ctx,
			`INSERT INTO incidents (monitor_id, user_id, status, started_at, ended_at)
			 VALUES ($1, $2, $3, now() - interval '1 hour', $4)`, monitorID, userID, status, endedAt)
		return err
	}
	ended := time.Now()

	require.NoError(t, insert(monitorID, "ONGOING", nil))

	t.Run("a second ongoing incident of the same monitor is rejected", func(t *testing.T) {
		code, constraint := pgCode(insert(monitorID, "ONGOING", nil))
		require.Equal(t, codeUniqueViolation, code)
		require.Equal(t, "incidents_one_ongoing_per_monitor", constraint)
	})
	t.Run("a resolved incident of the same monitor is accepted", func(t *testing.T) {
		require.NoError(t, insert(monitorID, "RESOLVED", &ended))
		require.NoError(t, insert(monitorID, "RESOLVED", &ended))
	})
	t.Run("another monitor may have its own ongoing incident", func(t *testing.T) {
		require.NoError(t, insert(otherMonitorID, "ONGOING", nil))
	})
	t.Run("a resolved incident without ended_at is rejected", func(t *testing.T) {
		code, constraint := pgCode(insert(otherMonitorID, "RESOLVED", nil))
		require.Equal(t, codeCheckViolation, code)
		require.Equal(t, "incidents_status_ended_at", constraint)
	})
	t.Run("an ongoing incident with ended_at is rejected", func(t *testing.T) {
		code, constraint := pgCode(insert(insertMonitor(t, sqlDB, userID), "ONGOING", &ended))
		require.Equal(t, codeCheckViolation, code)
		require.Equal(t, "incidents_status_ended_at", constraint)
	})
	t.Run("the upsert the log-writer uses extends the ongoing incident", func(t *testing.T) {
		_, err := sqlDB.ExecContext(ctx,
			`INSERT INTO incidents (monitor_id, user_id, started_at, last_error)
			 VALUES ($1, $2, now(), 'timeout')
			 ON CONFLICT (monitor_id) WHERE status = 'ONGOING'
			 DO UPDATE SET affected_checks = incidents.affected_checks + 1, last_error = EXCLUDED.last_error`,
			monitorID, userID)
		require.NoError(t, err)
		var affected int
		err = sqlDB.QueryRowContext(ctx,
			`SELECT affected_checks FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`,
			monitorID).Scan(&affected)
		require.NoError(t, err)
		require.Equal(t, 2, affected)
	})
}

func TestDeletingAUserCascadesToEverythingItOwns(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	ctx := t.Context()
	userID := insertUser(t, sqlDB, "leaving@example.com")
	keptUserID := insertUser(t, sqlDB, "staying@example.com")
	monitorID := insertMonitor(t, sqlDB, userID)
	keptMonitorID := insertMonitor(t, sqlDB, keptUserID)
	now := time.Now().UTC().Truncate(time.Minute)
	for _, id := range []string{monitorID, keptMonitorID} {
		_, err := insertPingLog(t, sqlDB, id, now)
		require.NoError(t, err)
		_, err = sqlDB.ExecContext(ctx,
			`INSERT INTO incidents (monitor_id, user_id, started_at)
			 SELECT id, user_id, now() FROM monitors WHERE id = $1`, id)
		require.NoError(t, err)
		_, err = sqlDB.ExecContext(ctx,
			`INSERT INTO monitor_rollups_hourly (monitor_id, bucket_start, checks, successes)
			 VALUES ($1, date_trunc('hour', now(), 'UTC'), 1, 1)`, id)
		require.NoError(t, err)
		_, err = sqlDB.ExecContext(ctx,
			`INSERT INTO maintenance_windows (monitor_id, days_of_week, start_minute, duration_minutes)
			 VALUES ($1, '{0,6}', 120, 60)`, id)
		require.NoError(t, err)
	}

	_, err := sqlDB.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, userID)
	require.NoError(t, err)

	for _, table := range []string{"monitors", "ping_logs", "incidents", "monitor_rollups_hourly", "maintenance_windows"} {
		column := "monitor_id"
		if table == "monitors" {
			column = "id"
		}
		var gone, kept int
		err := sqlDB.QueryRowContext(ctx,
			`SELECT count(*) FILTER (WHERE `+column+` = $1), count(*) FILTER (WHERE `+column+` = $2) FROM `+table,
			monitorID, keptMonitorID).Scan(&gone, &kept)
		require.NoError(t, err, table)
		assert.Zero(t, gone, "%s of the deleted user are gone", table)
		assert.Equal(t, 1, kept, "%s of the other user are kept", table)
	}
}

func TestMonitorConstraints(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	userID := insertUser(t, sqlDB, "owner@example.com")

	tests := []struct {
		name       string
		column     string
		value      any
		constraint string // "" when the value is accepted
	}{
		{"frequency 59 is rejected", "frequency", 59, "monitors_frequency_range"},
		{"frequency 60 is accepted", "frequency", 60, ""},
		{"frequency 86400 is accepted", "frequency", 86400, ""},
		{"frequency 86401 is rejected", "frequency", 86401, "monitors_frequency_range"},
		{"an unknown status is rejected", "status", "BROKEN", "monitors_status_valid"},
		{"DEGRADED is a status", "status", "DEGRADED", ""},
		{"an unknown monitor type is rejected", "monitor_type", "TCP", "monitors_monitor_type_valid"},
		{"HEARTBEAT is a monitor type", "monitor_type", "HEARTBEAT", ""},
		{"a failure threshold of 0 is rejected", "failure_threshold", 0, "monitors_failure_threshold_range"},
		{"a success threshold of 11 is rejected", "success_threshold", 11, "monitors_success_threshold_range"},
		{"a config that is not an object is rejected", "config", `[1]`, "monitors_config_object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A valid monitor with one column changed.
			columns := "user_id, name, url, frequency"
			values := "$1, 'n', 'https://example.com', 60"
			if tt.column == "frequency" {
				values = "$1, 'n', 'https://example.com', $2"
			} else {
				columns += ", " + tt.column
				values += ", $2"
			}
			_, err := sqlDB.ExecContext(t.Context(),
				`INSERT INTO monitors (`+columns+`) VALUES (`+values+`)`, userID, tt.value)
			if tt.constraint == "" {
				require.NoError(t, err)
				return
			}
			code, constraint := pgCode(err)
			require.Equal(t, codeCheckViolation, code, "%v", err)
			require.Equal(t, tt.constraint, constraint)
		})
	}
}

func TestUserEmailMustBeLowerCaseAndUnique(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	ctx := t.Context()
	insertUser(t, sqlDB, "someone@example.com")

	_, err := sqlDB.ExecContext(ctx, `INSERT INTO users (email) VALUES ('Someone@Example.com')`)
	code, constraint := pgCode(err)
	require.Equal(t, codeCheckViolation, code)
	require.Equal(t, "users_email_lower", constraint)

	_, err = sqlDB.ExecContext(ctx, `INSERT INTO users (email) VALUES (lower('Someone@Example.com'))`)
	code, constraint = pgCode(err)
	require.Equal(t, codeUniqueViolation, code)
	require.Equal(t, "users_email_key", constraint)

	_, err = sqlDB.ExecContext(ctx, `INSERT INTO users (email, role) VALUES ('x@example.com', 'ROOT')`)
	code, constraint = pgCode(err)
	require.Equal(t, codeCheckViolation, code)
	require.Equal(t, "users_role_valid", constraint)
}

func TestUpdatedAtFollowsChanges(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	ctx := t.Context()
	monitorID := insertMonitor(t, sqlDB, insertUser(t, sqlDB, "owner@example.com"))
	_, err := sqlDB.ExecContext(ctx,
		`UPDATE monitors SET updated_at = '2000-01-01', created_at = '2000-01-01' WHERE id = $1`, monitorID)
	require.NoError(t, err)

	var updatedAt time.Time
	err = sqlDB.QueryRowContext(ctx, `SELECT updated_at FROM monitors WHERE id = $1`, monitorID).Scan(&updatedAt)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), updatedAt, time.Minute, "the trigger overrides a hand-set updated_at")

	_, err = sqlDB.ExecContext(ctx,
		`UPDATE monitors SET status = 'UP', last_check = now() WHERE id = $1`, monitorID)
	require.NoError(t, err)
	var changed bool
	err = sqlDB.QueryRowContext(ctx,
		`SELECT updated_at > $2 FROM monitors WHERE id = $1`, monitorID, updatedAt).Scan(&changed)
	require.NoError(t, err)
	require.True(t, changed)
}

func TestRollupBucketStartMustBeAnHour(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	monitorID := insertMonitor(t, sqlDB, insertUser(t, sqlDB, "owner@example.com"))

	tests := []struct {
		name       string
		bucket     string
		checks     [4]int // checks, successes, failures, maintenance
		constraint string
	}{
		{"an hour in UTC is accepted", "2024-05-01 10:00:00+00", [4]int{3, 1, 1, 1}, ""},
		{"an hour in a whole-hour offset is the same instant", "2024-05-01 13:00:00+02", [4]int{0, 0, 0, 0}, ""},
		{"half past is rejected", "2024-05-01 10:30:00+00", [4]int{0, 0, 0, 0}, "monitor_rollups_hourly_bucket_start_hour"},
		{"a half-hour offset is not a UTC hour", "2024-05-01 10:00:00+05:30", [4]int{0, 0, 0, 0}, "monitor_rollups_hourly_bucket_start_hour"},
		{"checks must add up", "2024-05-01 12:00:00+00", [4]int{3, 1, 1, 0}, "monitor_rollups_hourly_checks_sum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sqlDB.ExecContext(t.Context(),
				`INSERT INTO monitor_rollups_hourly (monitor_id, bucket_start, checks, successes, failures, maintenance_checks)
				 VALUES ($1, $2, $3, $4, $5, $6)
				 ON CONFLICT (monitor_id, bucket_start) DO NOTHING`,
				monitorID, tt.bucket, tt.checks[0], tt.checks[1], tt.checks[2], tt.checks[3])
			if tt.constraint == "" {
				require.NoError(t, err)
				return
			}
			code, constraint := pgCode(err)
			require.Equal(t, codeCheckViolation, code, "%v", err)
			require.Equal(t, tt.constraint, constraint)
		})
	}
}

func TestDeadLetterParkingIsIdempotent(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	park := func(retries int) int64 {
		res, err := sqlDB.ExecContext(t.Context(),
			`INSERT INTO dead_letters (source_stream, original_id, consumer_group, payload, error, deliveries, retries, failed_at)
			 VALUES ('results', '1700000000000-0', 'log-writers', '\x0a01', 'boom', 3, $1, now())
			 ON CONFLICT ON CONSTRAINT dead_letters_source_original_retries_key DO NOTHING`, retries)
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, 1, park(5))
	require.EqualValues(t, 0, park(5), "a redelivered entry is parked once")
	require.EqualValues(t, 1, park(6), "another try is another row")

	_, err := sqlDB.ExecContext(t.Context(), `UPDATE dead_letters SET status = 'REPLAYED'`)
	code, constraint := pgCode(err)
	require.Equal(t, codeCheckViolation, code)
	require.Equal(t, "dead_letters_resolved_at", constraint)
}

// TestEveryForeignKeyIsIndexed guards against a cascade delete or a join that
// has to scan the referencing table: each foreign key's columns must lead
// some index of that table.
func TestEveryForeignKeyIsIndexed(t *testing.T) {
	t.Parallel()
	schema, sqlDB := migratedSchema(t)
	rows, err := sqlDB.QueryContext(t.Context(), `
		SELECT c.conrelid::regclass::text, c.conname
		FROM pg_constraint c
		JOIN pg_class r ON r.oid = c.conrelid
		JOIN pg_namespace n ON n.oid = r.relnamespace
		WHERE c.contype = 'f' AND n.nspname = $1 AND NOT r.relispartition
		  AND NOT EXISTS (
		      SELECT 1 FROM pg_index i
		      WHERE i.indrelid = c.conrelid
		        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)
		ORDER BY 1, 2`, schema)
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	var missing []string
	for rows.Next() {
		var table, constraint string
		require.NoError(t, rows.Scan(&table, &constraint))
		missing = append(missing, table+"."+constraint)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, missing, "foreign keys without an index that starts with their columns")

	var fks int
	err = sqlDB.QueryRowContext(t.Context(), `
		SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE c.contype = 'f' AND n.nspname = $1`, schema).Scan(&fks)
	require.NoError(t, err)
	require.GreaterOrEqual(t, fks, 6, "the query above does see the foreign keys")
}
