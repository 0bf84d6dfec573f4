package maintenance_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/log-writer/internal/maintenance"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
)

func config() maintenance.Config {
	return maintenance.Config{
		Interval: time.Hour, RetryDelay: time.Minute, RawRetentionDays: 30, RollupRetentionDays: 400,
		LockTimeout: time.Second, LockRetries: 1,
	}
}

func TestMaintenanceKeepsThePartitionWindowAndRetention(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	rdb, ks := testenv.Redis(t)
	ctx := t.Context()
	today := time.Now().UTC().Truncate(24 * time.Hour)

	// An expired partition, and a user with a monitor with rollups on both
	// sides of the 400-day line.
	expired := today.AddDate(0, 0, -31)
	_, err := store.EnsurePartitions(ctx, pg.Pool, expired, expired, time.Second)
	require.NoError(t, err)
	var monitor string
	require.NoError(t, pg.Pool.QueryRow(ctx, `
		WITH u AS (INSERT INTO users (email) VALUES ('owner@example.com') RETURNING id)
		INSERT INTO monitors (user_id, name, url, frequency) SELECT id, 'm', 'https://example.com', 60 FROM u
		RETURNING id::text`).Scan(&monitor))
	_, err = pg.Pool.Exec(ctx, `
		INSERT INTO monitor_rollups_hourly (monitor_id, bucket_start)
		VALUES ($1, $2), ($1, $3)`, monitor, today.AddDate(0, 0, -401), today.AddDate(0, 0, -399))
	require.NoError(t, err)

	job, err := maintenance.New(config(), pg.Pool, rdb, ks.Key(maintenance.LeaseKey), "lw-1",
		prometheus.NewRegistry(), testenv.Discard(), time.Now)
	require.NoError(t, err)
	ran, err := job.RunOnce(ctx)
	require.NoError(t, err)
	assert.True(t, ran)

	partitions := func() []string {
		rows, err := pg.Pool.Query(ctx, `
			SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'ping_logs'::regclass ORDER BY 1`)
		require.NoError(t, err)
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			names = append(names, n)
		}
		return names
	}
	names := partitions()
	assert.NotContains(t, names, "ping_logs_p"+expired.Format("20060102"), "the expired partition is dropped")
	for d := -1; d <= 7; d++ {
		assert.Contains(t, names, "ping_logs_p"+today.AddDate(0, 0, d).Format("20060102"))
	}
	var rollups int
	require.NoError(t, pg.Pool.QueryRow(ctx, `SELECT count(*) FROM monitor_rollups_hourly`).Scan(&rollups))
	assert.Equal(t, 1, rollups, "rollups older than 400 days are deleted")

	// Another replica finds the lease taken and does nothing.
	other, err := maintenance.New(config(), pg.Pool, rdb, ks.Key(maintenance.LeaseKey), "lw-2",
		prometheus.NewRegistry(), testenv.Discard(), time.Now)
	require.NoError(t, err)
	ran, err = other.RunOnce(ctx)
	require.NoError(t, err)
	assert.False(t, ran)
	ttl := rdb.PTTL(ctx, ks.Key(maintenance.LeaseKey)).Val()
	assert.Greater(t, ttl, 50*time.Minute, "the lease lasts most of an interval")
}

func TestAFailedRoundReleasesTheLease(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	rdb, ks := testenv.Redis(t)
	job, err := maintenance.New(config(), pg.Pool, rdb, ks.Key(maintenance.LeaseKey), "lw-1",
		prometheus.NewRegistry(), testenv.Discard(), time.Now)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran, err := job.RunOnce(ctx)
	require.Error(t, err)
	assert.False(t, ran, "a cancelled run takes no lease")

	// A round that fails in PostgreSQL gives the lease back.
	pg.Pool.Close()
	ran, err = job.RunOnce(t.Context())
	require.Error(t, err)
	assert.True(t, ran)
	assert.Zero(t, rdb.Exists(t.Context(), ks.Key(maintenance.LeaseKey)).Val())
}

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	_, err := maintenance.New(maintenance.Config{}, nil, nil, "k", "h", prometheus.NewRegistry(), testenv.Discard(), time.Now)
	require.Error(t, err)
	for _, want := range []string{"interval", "retry delay", "raw retention", "rollup retention", "lock timeout"} {
		assert.Contains(t, err.Error(), want)
	}
}
