package db_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/db"
)

// testDSN returns the server the tests use. Without one the tests skip
// locally but fail in CI, where a missing server is a broken pipeline.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set; CI must provide a PostgreSQL server (scripts/stack.sh up test)")
		}
		t.Skip("TEST_DATABASE_URL is not set; start one with scripts/stack.sh up test")
	}
	return dsn
}

// openDB opens a pool whose connections use the given search_path ("" keeps
// the server default) and closes it when the test ends.
func openDB(t *testing.T, searchPath string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(testDSN(t))
	require.NoError(t, err, "parse TEST_DATABASE_URL")
	if searchPath != "" {
		cfg.RuntimeParams["search_path"] = searchPath
	}
	sqlDB := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = sqlDB.Close() })
	require.NoError(t, sqlDB.PingContext(t.Context()), "connect to TEST_DATABASE_URL")
	return sqlDB
}

// newSchema creates an empty schema with a random name, dropped with
// everything in it when the test ends, and returns its name and a pool whose
// search_path is that schema alone.
func newSchema(t *testing.T) (string, *sql.DB) {
	t.Helper()
	admin := openDB(t, "")
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	schema := "test_" + hex.EncodeToString(b[:])
	_, err = admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err, "create schema %s", schema)
	t.Cleanup(func() {
		// t.Context is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema, openDB(t, schema)
}

// migratedSchema is newSchema with every migration applied.
func migratedSchema(t *testing.T) (string, *sql.DB) {
	t.Helper()
	schema, sqlDB := newSchema(t)
	require.NoError(t, db.Up(t.Context(), sqlDB))
	return schema, sqlDB
}

// pgCode returns the SQLSTATE and constraint of a PostgreSQL error, or
// empty strings when err is something else.
func pgCode(err error) (code, constraint string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code, pgErr.ConstraintName
	}
	return "", ""
}

// SQLSTATE codes the tests expect.
const (
	codeUniqueViolation = "23505"
	codeCheckViolation  = "23514"
)

// insertUser adds a user and returns its id.
func insertUser(t *testing.T, sqlDB *sql.DB, email string) string {
	t.Helper()
	var id string
	err := sqlDB.QueryRowContext(t.Context(),
		`INSERT INTO users (email) VALUES ($1) RETURNING id`, email).Scan(&id)
	require.NoError(t, err, "insert user %s", email)
	return id
}

// insertMonitor adds a 60 s HTTP monitor owned by userID and returns its id.
func insertMonitor(t *testing.T, sqlDB *sql.DB, userID string) string {
	t.Helper()
	var id string
	err := sqlDB.QueryRowContext(t.Context(),
		`INSERT INTO monitors (user_id, name, url, frequency) VALUES ($1, 'Example', 'https://example.com', 60)
		 RETURNING id`, userID).Scan(&id)
	require.NoError(t, err, "insert monitor")
	return id
}

// insertPingLog adds one result of monitorID for slot and reports whether a
// row was inserted (false when the slot was already recorded).
func insertPingLog(t *testing.T, sqlDB *sql.DB, monitorID string, slot time.Time) (bool, error) {
	t.Helper()
	res, err := sqlDB.ExecContext(t.Context(),
		`INSERT INTO ping_logs (monitor_id, slot, "timestamp", status_code, duration_ms, success)
		 VALUES ($1, $2, $2::timestamptz + interval '120 milliseconds', 200, 120, true)
		 ON CONFLICT (monitor_id, slot) DO NOTHING`, monitorID, slot)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	require.NoError(t, err)
	return n == 1, nil
}

// partitions lists the partitions of ping_logs in schema, by name.
func partitions(t *testing.T, sqlDB *sql.DB, schema string) []string {
	t.Helper()
	rows, err := sqlDB.QueryContext(t.Context(), `
		SELECT c.relname
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE n.nspname = $1 AND p.relname = 'ping_logs'
		ORDER BY c.relname`, schema)
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		names = append(names, name)
	}
	require.NoError(t, rows.Err())
	return names
}

// utcDay returns the UTC day of t as a time at midnight UTC.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// partitionName is the name ping_logs_ensure_partitions gives day's partition.
func partitionName(day time.Time) string {
	return "ping_logs_p" + day.UTC().Format("20060102")
}
