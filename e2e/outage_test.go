package e2e

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/db"
	"github.com/servercheck/uptime/pkg/testenv"
)

// privateStack starts a PostgreSQL and Redis of this test's own with
// scripts/stack.sh (the shared test servers cannot be stopped) and returns
// a function running stack.sh commands on it.
func privateStack(t *testing.T) (dbURL, redisPort string, stack func(cmd string)) {
	t.Helper()
	testenv.RedisAddr(t) // skips locally without the test stack, fails under CI=true
	name := "test-" + testenv.Name("outage")
	pgPort, rPort := strconv.Itoa(testenv.FreePort(t)), strconv.Itoa(testenv.FreePort(t))
	script, err := filepath.Abs("../scripts/stack.sh")
	require.NoError(t, err)
	stack = func(cmd string) {
		t.Helper()
		c := exec.Command("bash", script, cmd, name)
		c.Env = append(os.Environ(), "PG_PORT="+pgPort, "REDIS_PORT="+rPort)
		out, err := c.CombinedOutput()
		require.NoError(t, err, "stack.sh %s %s: %s", cmd, name, out)
	}
	stack("up")
	t.Cleanup(func() { stack("wipe") })
	dbURL = "postgres://servercheck:servercheck@127.0.0.1:" + pgPort + "/servercheck?sslmode=disable"
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer func(d *sql.DB) { _ = d.Close() }(sqlDB)
	require.NoError(t, db.Up(context.Background(), sqlDB))
	return dbURL, rPort, stack
}

// TestPostgresOutageLosesNothing stops PostgreSQL for 30 s while checks
// run: the log-writer keeps the results (pending in Redis), and everything
// lands once PostgreSQL is back.
func TestPostgresOutageLosesNothing(t *testing.T) {
	t.Parallel()
	dbURL, redisPort, stack := privateStack(t)
	tg := newTarget(t, 0)
	s := newSystem(t, map[string]string{
		"DATABASE_URL": dbURL, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": redisPort, "REDIS_KEY_PREFIX": "outage",
	})
	s.startPipeline(nil)
	tok := s.token("outage@example.com", "USER")
	const n = 30
	for i := range n {
		s.createMonitor(tok, "m"+strconv.Itoa(i), tg.URL+"/ok/"+strconv.Itoa(i))
	}
	waitFor(t, 80*time.Second, "a first result for every monitor", func() bool {
		return s.count(`SELECT count(DISTINCT monitor_id) FROM ping_logs`) == n
	})

	s.db.Close()
	stack("pg-stop")
	down := time.Now()
	time.Sleep(30 * time.Second) //nolint:forbidigo // the outage being simulated
	emittedDuringOutage := 0
	for _, slots := range s.jobsByMonitor() {
		for _, slot := range slots {
			if time.UnixMilli(slot).After(down) {
				emittedDuringOutage++
			}
		}
	}
	assert.Positive(t, emittedDuringOutage, "checks went on while PostgreSQL was down")
	stack("pg-start")
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s.db = pool

	// Stop new slots, then every emitted slot must be persisted exactly once.
	s.signal("scheduler-1", syscall.SIGTERM)
	s.signal("scheduler-2", syscall.SIGTERM)
	emitted := 0
	for _, slots := range s.jobsByMonitor() {
		emitted += len(slots)
	}
	waitFor(t, 90*time.Second, "every emitted slot persisted after the outage", func() bool {
		return s.count(`SELECT count(*) FROM ping_logs`) == emitted
	})
	s.stopAll()
	assert.Equal(t, emitted, s.count(`SELECT count(*) FROM ping_logs`), "nothing dropped, nothing duplicated")
}
