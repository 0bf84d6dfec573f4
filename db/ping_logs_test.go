package db_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPingLogInsertForTodayIsIdempotentOnMonitorAndSlot(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	monitorID := insertMonitor(t, sqlDB, insertUser(t, sqlDB, "owner@example.com"))
	slot := time.Now().UTC().Truncate(time.Minute)

	inserted, err := insertPingLog(t, sqlDB, monitorID, slot)
	require.NoError(t, err)
	require.True(t, inserted, "first delivery inserts")

	inserted, err = insertPingLog(t, sqlDB, monitorID, slot)
	require.NoError(t, err)
	require.False(t, inserted, "redelivery of the same slot is a no-op")

	var id string
	var count int
	err = sqlDB.QueryRowContext(t.Context(),
		`SELECT count(*), min(id::text) FROM ping_logs WHERE monitor_id = $1`, monitorID).Scan(&count, &id)
	require.NoError(t, err)
	require.Equal(t, 1, count)

	var foundSlot time.Time
	err = sqlDB.QueryRowContext(t.Context(), `SELECT slot FROM ping_logs WHERE id = $1`, id).Scan(&foundSlot)
	require.NoError(t, err, "a ping log is found by its public id")
	require.True(t, slot.Equal(foundSlot))
}

func TestPingLogInsertOutsideEveryPartitionFails(t *testing.T) {
	t.Parallel()
	_, sqlDB := migratedSchema(t)
	monitorID := insertMonitor(t, sqlDB, insertUser(t, sqlDB, "owner@example.com"))

	for name, slot := range map[string]time.Time{
		"a month ahead": time.Now().AddDate(0, 1, 0),
		"a month ago":   time.Now().AddDate(0, -1, 0),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := insertPingLog(t, sqlDB, monitorID, slot)
			require.Error(t, err)
			code, _ := pgCode(err)
			require.Equal(t, codeCheckViolation, code, "no partition of relation found for row: %v", err)
		})
	}
}

func TestMigrationCreatesPartitionsFromTwoDaysAgoToAWeekAhead(t *testing.T) {
	t.Parallel()
	schema, sqlDB := migratedSchema(t)
	var want []string
	today := utcDay(time.Now())
	for d := -2; d <= 7; d++ {
		want = append(want, partitionName(today.AddDate(0, 0, d)))
	}
	require.Equal(t, want, partitions(t, sqlDB, schema))
}

func TestEnsurePartitions(t *testing.T) {
	t.Parallel()
	schema, sqlDB := migratedSchema(t)
	ctx := t.Context()
	before := partitions(t, sqlDB, schema)

	var created int
	err := sqlDB.QueryRowContext(ctx,
		`SELECT ping_logs_ensure_partitions('2020-02-28', '2020-03-01')`).Scan(&created)
	require.NoError(t, err)
	require.Equal(t, 3, created, "2020 is a leap year: 28, 29 Feb and 1 Mar")
	require.ElementsMatch(t,
		append(before, "ping_logs_p20200228", "ping_logs_p20200229", "ping_logs_p20200301"),
		partitions(t, sqlDB, schema))

	t.Run("a second call creates nothing", func(t *testing.T) {
		err := sqlDB.QueryRowContext(ctx,
			`SELECT ping_logs_ensure_partitions('2020-02-28', '2020-03-01')`).Scan(&created)
		require.NoError(t, err)
		require.Zero(t, created)
	})

	t.Run("an overlapping range creates only the missing days", func(t *testing.T) {
		err := sqlDB.QueryRowContext(ctx,
			`SELECT ping_logs_ensure_partitions('2020-02-27', '2020-03-02')`).Scan(&created)
		require.NoError(t, err)
		require.Equal(t, 2, created)
	})

	t.Run("an empty range creates nothing", func(t *testing.T) {
		err := sqlDB.QueryRowContext(ctx,
			`SELECT ping_logs_ensure_partitions('2020-03-02', '2020-03-01')`).Scan(&created)
		require.NoError(t, err)
		require.Zero(t, created)
	})

	t.Run("partition bounds are UTC days whatever the session time zone", func(t *testing.T) {
		conn, err := sqlDB.Conn(ctx)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		_, err = conn.ExecContext(ctx, `SET TIME ZONE 'America/Los_Angeles'`)
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, `SELECT ping_logs_ensure_partitions('2021-03-14', '2021-03-14')`)
		require.NoError(t, err)
		var bound string
		err = conn.QueryRowContext(ctx, `
			SELECT pg_get_expr(c.relpartbound, c.oid)
			FROM pg_class c WHERE c.oid = 'ping_logs_p20210314'::regclass`).Scan(&bound)
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, `RESET TIME ZONE`)
		require.NoError(t, err)
		require.Equal(t,
			"FOR VALUES FROM ('2021-03-13 16:00:00-08') TO ('2021-03-14 17:00:00-07')", bound,
			"the DST day in Los Angeles is still exactly one UTC day")
	})

	t.Run("a table of a partition's name that is not a partition is an error", func(t *testing.T) {
		_, err := sqlDB.ExecContext(ctx, `CREATE TABLE ping_logs_p20170101 (x int)`)
		require.NoError(t, err)
		_, err = sqlDB.ExecContext(ctx, `SELECT ping_logs_ensure_partitions('2017-01-01', '2017-01-01')`)
		require.ErrorContains(t, err, "ping_logs_p20170101 exists but is not a partition of ping_logs")
	})

	t.Run("it does not take a lock that blocks inserts", func(t *testing.T) {
		tx, err := sqlDB.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, `SELECT ping_logs_ensure_partitions('2016-01-01', '2016-01-01')`)
		require.NoError(t, err)
		var modes []string
		rows, err := tx.QueryContext(ctx, `
			SELECT mode FROM pg_locks
			WHERE locktype = 'relation' AND pid = pg_backend_pid() AND relation = 'ping_logs'::regclass`)
		require.NoError(t, err)
		for rows.Next() {
			var mode string
			require.NoError(t, rows.Scan(&mode))
			modes = append(modes, mode)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.Contains(t, modes, "ShareUpdateExclusiveLock")
		require.NotContains(t, modes, "AccessExclusiveLock")
		require.NotContains(t, modes, "ExclusiveLock")
	})

	t.Run("it works on its own schema whatever the caller's search_path", func(t *testing.T) {
		other := openDB(t, "pg_catalog")
		err := other.QueryRowContext(ctx,
			`SELECT `+schema+`.ping_logs_ensure_partitions('2019-01-01', '2019-01-01')`).Scan(&created)
		require.NoError(t, err)
		require.Equal(t, 1, created)
		require.Contains(t, partitions(t, sqlDB, schema), "ping_logs_p20190101")
	})
}

func TestEnsurePartitionsRacesSafely(t *testing.T) {
	t.Parallel()
	schema, sqlDB := migratedSchema(t)
	const callers = 6

	var wg sync.WaitGroup
	created := make([]int, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			errs[i] = sqlDB.QueryRowContext(t.Context(),
				`SELECT ping_logs_ensure_partitions('2018-01-01', '2018-01-10')`).Scan(&created[i])
		})
	}
	wg.Wait()
	total := 0
	for i := range callers {
		require.NoError(t, errs[i])
		total += created[i]
	}
	require.Equal(t, 10, total, "every day is created exactly once")
	require.Len(t, partitions(t, sqlDB, schema), 20)
}

func TestDropPartitionsBefore(t *testing.T) {
	t.Parallel()
	schema, sqlDB := migratedSchema(t)
	ctx := t.Context()
	monitorID := insertMonitor(t, sqlDB, insertUser(t, sqlDB, "owner@example.com"))
	_, err := sqlDB.ExecContext(ctx, `SELECT ping_logs_ensure_partitions('2020-01-01', '2020-01-05')`)
	require.NoError(t, err)
	for day := 1; day <= 5; day++ {
		// The last minute of each day, to check that the boundary is respected.
		slot := time.Date(2020, 1, day, 23, 59, 0, 0, time.UTC)
		inserted, err := insertPingLog(t, sqlDB, monitorID, slot)
		require.NoError(t, err)
		require.True(t, inserted)
	}
	before := partitions(t, sqlDB, schema)

	var dropped int
	err = sqlDB.QueryRowContext(ctx, `SELECT ping_logs_drop_partitions_before('2020-01-03')`).Scan(&dropped)
	require.NoError(t, err)
	require.Equal(t, 2, dropped)

	after := partitions(t, sqlDB, schema)
	assert.NotContains(t, after, "ping_logs_p20200101")
	assert.NotContains(t, after, "ping_logs_p20200102")
	assert.Contains(t, after, "ping_logs_p20200103", "the cutoff day itself is kept")
	assert.Len(t, after, len(before)-2)

	var slots []time.Time
	rows, err := sqlDB.QueryContext(ctx,
		`SELECT slot FROM ping_logs WHERE monitor_id = $1 AND slot < '2020-02-01' ORDER BY slot`, monitorID)
	require.NoError(t, err)
	for rows.Next() {
		var s time.Time
		require.NoError(t, rows.Scan(&s))
		slots = append(slots, s.UTC())
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, []time.Time{
		time.Date(2020, 1, 3, 23, 59, 0, 0, time.UTC),
		time.Date(2020, 1, 4, 23, 59, 0, 0, time.UTC),
		time.Date(2020, 1, 5, 23, 59, 0, 0, time.UTC),
	}, slots)

	t.Run("a second call drops nothing", func(t *testing.T) {
		err := sqlDB.QueryRowContext(ctx, `SELECT ping_logs_drop_partitions_before('2020-01-03')`).Scan(&dropped)
		require.NoError(t, err)
		require.Zero(t, dropped)
	})

	t.Run("today's partitions are kept by a retention cutoff in the past", func(t *testing.T) {
		cutoff := utcDay(time.Now()).AddDate(0, 0, -1)
		err := sqlDB.QueryRowContext(ctx, `SELECT ping_logs_drop_partitions_before($1::date)`,
			cutoff.Format(time.DateOnly)).Scan(&dropped)
		require.NoError(t, err)
		require.Equal(t, 4, dropped, "2020-01-03..05 and the day two days ago")
		remaining := partitions(t, sqlDB, schema)
		require.Len(t, remaining, 9)
		require.Equal(t, partitionName(cutoff), remaining[0])
	})
}
