package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// pipeline is a log-writer's surroundings: its database with monitors and
// the results stream.
type pipeline struct {
	env      map[string]string
	port     int
	pool     *pgxpool.Pool
	rdb      *redis.Client
	ks       stream.Keyspace
	pub      *stream.Publisher
	monitors []uuid.UUID
}

func newPipeline(t *testing.T, monitors int, extra map[string]string) pipeline {
	t.Helper()
	p := pipeline{env: testenv.ServiceEnv(t), port: testenv.FreePort(t)}
	p.env["LOG_WRITER_HTTP_PORT"] = strconv.Itoa(p.port)
	for k, v := range extra {
		p.env[k] = v
	}
	var err error
	p.pool, err = pgxpool.New(t.Context(), p.env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(p.pool.Close)
	rows, err := p.pool.Query(t.Context(), `
		WITH u AS (INSERT INTO users (email) VALUES ('owner@example.com') RETURNING id)
		INSERT INTO monitors (user_id, name, url, frequency)
		SELECT u.id, 'm' || g, 'https://example.com', 60 FROM u, generate_series(1, $1) g RETURNING id`, monitors)
	require.NoError(t, err)
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		p.monitors = append(p.monitors, id)
	}
	require.NoError(t, rows.Err())
	p.rdb = redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = p.rdb.Close() })
	p.ks = stream.NewKeyspace(p.env["REDIS_KEY_PREFIX"])
	p.pub = stream.NewPublisher(p.rdb, p.ks, stream.DefaultMaxLen())
	return p
}

// publish appends a DOWN-then-UP history of every monitor: slot 0 flips to
// DOWN, slot 1 stays DOWN, slot 2 flips back UP.
func (p pipeline) publish(t *testing.T, slot0 time.Time) int {
	t.Helper()
	n := 0
	for _, id := range p.monitors {
		for i, st := range []eventsv1.MonitorStatus{
			eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, eventsv1.MonitorStatus_MONITOR_STATUS_UP,
		} {
			slot := slot0.Add(time.Duration(i) * time.Minute)
			c := &eventsv1.CheckCompleted{
				JobId: events.JobID(id.String(), slot), MonitorId: id.String(), Slot: timestamppb.New(slot),
				StartedAt: timestamppb.New(slot), FinishedAt: timestamppb.New(slot.Add(time.Second)),
				Success: st == eventsv1.MonitorStatus_MONITOR_STATUS_UP, StatusCode: 503, Attempts: 1,
				NewStatus: st, StatusChanged: i != 1, Checker: "checker-test",
			}
			if c.Success {
				c.StatusCode = 200
			} else {
				c.Error = "HTTP 503"
			}
			env, err := events.New("checker/test", c)
			require.NoError(t, err)
			body, err := events.Marshal(env)
			require.NoError(t, err)
			_, err = p.pub.Publish(t.Context(), stream.Results, body)
			require.NoError(t, err)
			n++
		}
	}
	return n
}

func (p pipeline) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	require.NoError(t, p.pool.QueryRow(t.Context(), query).Scan(&n))
	return n
}

// group returns the pending entries and the lag of the log-writer group.
func (p pipeline) group(t *testing.T) (pending, lag int64) {
	t.Helper()
	infos, err := stream.Inspect(t.Context(), p.rdb, p.ks, stream.Results)
	require.NoError(t, err)
	for _, g := range infos[0].Groups {
		if g.Group == "log-writer" {
			return g.Pending, g.Lag
		}
	}
	return -1, -1
}

func TestServiceWritesPublishedResultsAndAcksThem(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, 20, map[string]string{"FLUSH_INTERVAL_MS": "200"})
	stop := testenv.StartService(t, run, p.env, p.port)

	slot0 := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	n := p.publish(t, slot0)
	require.Eventually(t, func() bool {
		pending, lag := p.group(t)
		return pending == 0 && lag == 0
	}, 20*time.Second, 20*time.Millisecond, "every entry is acked")
	assert.Equal(t, n, p.count(t, `SELECT count(*) FROM ping_logs`))
	assert.Equal(t, 20, p.count(t, `SELECT count(*) FROM incidents WHERE status = 'RESOLVED' AND affected_checks = 2`))
	assert.Equal(t, 20, p.count(t, `SELECT count(*) FROM monitors WHERE status = 'UP' AND last_check IS NOT NULL`))
	assert.Equal(t, n, p.count(t, `SELECT sum(checks)::int FROM monitor_rollups_hourly`))
	assert.EqualValues(t, 1, p.rdb.HLen(t.Context(), p.ks.Key("stats:log-writer")).Val(), "the buffer stats are published")

	// The same results again (a replay): nothing changes.
	p.publish(t, slot0)
	require.Eventually(t, func() bool {
		pending, lag := p.group(t)
		return pending == 0 && lag == 0
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, n, p.count(t, `SELECT count(*) FROM ping_logs`))
	assert.Equal(t, n, p.count(t, `SELECT sum(checks)::int FROM monitor_rollups_hourly`))
	require.NoError(t, stop())
}

func TestServiceFlushesBufferedResultsWhenItStops(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, 5, map[string]string{"FLUSH_INTERVAL_MS": "3600000"})
	stop := testenv.StartService(t, run, p.env, p.port)

	n := p.publish(t, time.Now().UTC().Truncate(time.Minute).Add(-time.Hour))
	require.Eventually(t, func() bool {
		pending, lag := p.group(t)
		return pending == int64(n) && lag == 0
	}, 20*time.Second, 20*time.Millisecond, "every result is read and waits in the buffer")
	assert.Zero(t, p.count(t, `SELECT count(*) FROM ping_logs`))

	require.NoError(t, stop())
	assert.Equal(t, n, p.count(t, `SELECT count(*) FROM ping_logs`), "the final flush wrote them")
	pending, _ := p.group(t)
	assert.Zero(t, pending, "and they were acked")
}

func TestServiceFlushesOnRequest(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, 2, map[string]string{"FLUSH_INTERVAL_MS": "3600000"})
	testenv.StartService(t, run, p.env, p.port)

	n := p.publish(t, time.Now().UTC().Truncate(time.Minute).Add(-time.Hour))
	require.Eventually(t, func() bool {
		pending, _ := p.group(t)
		return pending == int64(n)
	}, 20*time.Second, 20*time.Millisecond)

	channel := p.ks.Key("control:flush")
	require.Eventually(t, func() bool {
		subs, err := p.rdb.PubSubNumSub(t.Context(), channel).Result()
		return err == nil && subs[channel] == 1
	}, 20*time.Second, 20*time.Millisecond, "the log-writer listens for flush requests")
	// What the api's POST /uptime/flush does.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	receivers, err := p.rdb.Publish(ctx, channel, "flush").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, receivers)
	require.Eventually(t, func() bool {
		pending, _ := p.group(t)
		return pending == 0
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, n, p.count(t, `SELECT count(*) FROM ping_logs`))
}
