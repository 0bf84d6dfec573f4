package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/testenv"
)

func validConfig() postgres.Config {
	return postgres.Config{
		DatabaseURL:    "postgres://servercheck:s3cret@127.0.0.1:5432/servercheck?sslmode=disable",
		MaxConns:       10,
		MinConns:       2,
		IdleTimeout:    30 * time.Second,
		ConnectTimeout: 5 * time.Second,
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(*postgres.Config)
		wantErrs []string
	}{
		{name: "the defaults are valid", change: func(*postgres.Config) {}},
		{name: "a keyword/value DSN is valid", change: func(c *postgres.Config) { c.DatabaseURL = "host=127.0.0.1 port=5432 dbname=servercheck" }},
		{name: "an empty URL is left to required", change: func(c *postgres.Config) { c.DatabaseURL = "" }},
		{name: "a min pool of zero is valid", change: func(c *postgres.Config) { c.MinConns = 0 }},
		{name: "a min pool equal to the max is valid", change: func(c *postgres.Config) { c.MinConns = 10 }},
		{name: "a URL with a bad port is reported", change: func(c *postgres.Config) { c.DatabaseURL = "postgres://u:s3cret@db:notaport/x" }, wantErrs: []string{"DATABASE_URL: not a valid PostgreSQL URL or DSN"}},
		{name: "a URL with a bad escape is reported", change: func(c *postgres.Config) { c.DatabaseURL = "postgres://%zz" }, wantErrs: []string{"DATABASE_URL"}},
		{name: "another scheme is reported", change: func(c *postgres.Config) { c.DatabaseURL = "mysql://db/x" }, wantErrs: []string{"DATABASE_URL"}},
		{name: "an invalid sslmode is reported", change: func(c *postgres.Config) { c.DatabaseURL = "postgres://db/x?sslmode=bogus" }, wantErrs: []string{"DATABASE_URL"}},
		{name: "a max pool of zero is reported", change: func(c *postgres.Config) { c.MaxConns = 0; c.MinConns = 0 }, wantErrs: []string{"DB_POOL_MAX: must be at least 1, got 0"}},
		{name: "a negative min pool is reported", change: func(c *postgres.Config) { c.MinConns = -1 }, wantErrs: []string{"DB_POOL_MIN: must be between 0 and DB_POOL_MAX (10), got -1"}},
		{name: "a min pool above the max is reported", change: func(c *postgres.Config) { c.MinConns = 11 }, wantErrs: []string{"DB_POOL_MIN: must be between 0 and DB_POOL_MAX (10), got 11"}},
		{name: "a zero connect timeout is reported", change: func(c *postgres.Config) { c.ConnectTimeout = 0 }, wantErrs: []string{"DB_CONNECTION_TIMEOUT_MS: must be positive"}},
		{name: "a negative connect timeout is reported", change: func(c *postgres.Config) { c.ConnectTimeout = -time.Second }, wantErrs: []string{"DB_CONNECTION_TIMEOUT_MS"}},
		{
			name: "every problem is reported together",
			change: func(c *postgres.Config) {
				c.DatabaseURL = "postgres://%zz"
				c.MaxConns = -1
				c.MinConns = 5
				c.ConnectTimeout = 0
			},
			wantErrs: []string{"DATABASE_URL", "DB_POOL_MAX", "DB_POOL_MIN", "DB_CONNECTION_TIMEOUT_MS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if len(tt.wantErrs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, part := range tt.wantErrs {
				assert.Contains(t, err.Error(), part)
			}
			assert.NotContains(t, err.Error(), "s3cret", "the password must never reach an error")
		})
	}
}

func TestOpenRefusesAMalformedURLWithoutLeakingThePassword(t *testing.T) {
	t.Parallel()
	cfg := validConfig()
	cfg.DatabaseURL = "postgres://u:s3cret@db:notaport/x"

	db, err := postgres.Open(t.Context(), cfg, testenv.Discard())

	require.Error(t, err)
	assert.Nil(t, db)
	assert.Contains(t, err.Error(), "DATABASE_URL")
	assert.NotContains(t, err.Error(), "s3cret")
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	return testenv.FreePort(t)
}

// silentServer accepts connections and never answers, like a server behind a
// black-holing firewall. It returns its port.
func silentServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

func TestOpenFailsWithinTheConnectTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		port func(*testing.T) int
		// wantAtLeast is the least Open may take: the full timeout when the
		// server never answers.
		wantAtLeast bool
	}{
		{name: "a closed port fails fast", port: closedPort},
		{name: "a server that never answers fails after the connect timeout", port: silentServer, wantAtLeast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const timeout = 500 * time.Millisecond
			port := tt.port(t)
			cfg := postgres.Config{
				// sslmode is left at its default (prefer), which may try twice;
				// the timeout must still bound the whole attempt.
				DatabaseURL:    fmt.Sprintf("postgres://u:s3cret@127.0.0.1:%d/x", port),
				MaxConns:       2,
				MinConns:       1,
				IdleTimeout:    time.Minute,
				ConnectTimeout: timeout,
			}
			start := time.Now()

			db, err := postgres.Open(t.Context(), cfg, testenv.Discard())

			elapsed := time.Since(start)
			require.Error(t, err)
			assert.Nil(t, db)
			assert.Contains(t, err.Error(), "postgres")
			assert.Contains(t, err.Error(), "127.0.0.1")
			assert.NotContains(t, err.Error(), "s3cret")
			assert.Less(t, elapsed, timeout+2*time.Second, "Open must give up within the connect timeout")
			if tt.wantAtLeast {
				assert.GreaterOrEqual(t, elapsed, timeout)
			}
		})
	}
}

func TestOpenHonoursTheCallersContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		minConns int32
	}{
		{name: "the caller's deadline wins over a longer connect timeout"},
		{
			name:     "the caller's deadline wins over a longer connect timeout with a minimum pool",
			minConns: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := silentServer(t)
			cfg := validConfig()
			cfg.DatabaseURL = "postgres://u:p@127.0.0.1:" + strconv.Itoa(port) + "/x?sslmode=disable"
			cfg.ConnectTimeout = time.Minute
			cfg.MinConns = tt.minConns
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()

			_, err := postgres.Open(ctx, cfg, testenv.Discard())

			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

func openTestDB(t *testing.T, maxConns int32) *postgres.DB {
	t.Helper()
	cfg := postgres.Config{
		DatabaseURL:    testenv.PostgresURL(t),
		MaxConns:       maxConns,
		MinConns:       0,
		IdleTimeout:    time.Minute,
		ConnectTimeout: 5 * time.Second,
	}
	db, err := postgres.Open(t.Context(), cfg, testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

func TestOpenConnectsToARealServer(t *testing.T) {
	t.Parallel()
	db := openTestDB(t, 4)

	require.NoError(t, db.Check(t.Context()))
	assert.Equal(t, int32(4), db.Pool.Stat().MaxConns(), "DB_POOL_MAX is applied")
}

func TestGormAndPoolShareTheServerAndSchema(t *testing.T) {
	t.Parallel()
	db := openTestDB(t, 4)
	ctx := t.Context()

	_, err := db.Pool.Exec(ctx, "CREATE TABLE shared_probe (id int PRIMARY KEY, name text NOT NULL)")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "INSERT INTO shared_probe (id, name) VALUES (1, 'from-pool')")
	require.NoError(t, err)

	var fromGorm string
	require.NoError(t, db.Gorm.WithContext(ctx).Raw("SELECT name FROM shared_probe WHERE id = ?", 1).Scan(&fromGorm).Error)
	assert.Equal(t, "from-pool", fromGorm, "a row written through Pool is visible through Gorm")

	require.NoError(t, db.Gorm.WithContext(ctx).Exec("INSERT INTO shared_probe (id, name) VALUES (?, ?)", 2, "from-gorm").Error)
	var fromPool string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT name FROM shared_probe WHERE id = 2").Scan(&fromPool))
	assert.Equal(t, "from-gorm", fromPool, "a row written through Gorm is visible through Pool")
}

func TestGormDrawsItsConnectionsFromThePool(t *testing.T) {
	t.Parallel()
	db := openTestDB(t, 1)
	ctx := t.Context()

	before := db.Pool.Stat().AcquireCount()
	var one int
	require.NoError(t, db.Gorm.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error)
	assert.Equal(t, 1, one)
	assert.Greater(t, db.Pool.Stat().AcquireCount(), before, "gorm's query went through the pool")

	// With the pool's only connection held, gorm has nothing to run on.
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = db.Gorm.WithContext(short).Raw("SELECT 1").Scan(&one).Error
	require.Error(t, err, "gorm must not open connections of its own beyond DB_POOL_MAX")
}

func TestCheckFailsAfterClose(t *testing.T) {
	t.Parallel()
	cfg := postgres.Config{
		DatabaseURL:    testenv.PostgresURL(t),
		MaxConns:       2,
		MinConns:       1,
		IdleTimeout:    time.Minute,
		ConnectTimeout: 5 * time.Second,
	}
	db, err := postgres.Open(t.Context(), cfg, testenv.Discard())
	require.NoError(t, err)
	require.NoError(t, db.Check(t.Context()))

	db.Close()

	err = db.Check(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ping postgres")
}

func TestTimestampsAreScannedInUTC(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	var got time.Time
	require.NoError(t, db.Pool.QueryRow(t.Context(), `SELECT '2026-01-02 03:04:05+07'::timestamptz`).Scan(&got))
	assert.Equal(t, time.UTC, got.Location())
	assert.Equal(t, time.Date(2026, 1, 1, 20, 4, 5, 0, time.UTC), got)
}
