package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
)

func TestServiceParksDeadLetteredJobs(t *testing.T) {
	t.Parallel()
	env := testenv.ServiceEnv(t)
	port := testenv.FreePort(t)
	env["LOG_WRITER_HTTP_PORT"] = strconv.Itoa(port)
	testenv.StartService(t, run, env, port)

	body, err := deadletter.Codec{Producer: "test"}.Encode(stream.DeadLetter{
		SourceStream: stream.Jobs, OriginalID: "42-0", Payload: []byte("job"), Error: "checker crashed",
		Deliveries: 3, Group: "checker", FailedAt: time.Now(),
	})
	require.NoError(t, err)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	defer func() { _ = rdb.Close() }()
	pub := stream.NewPublisher(rdb, stream.NewKeyspace(env["REDIS_KEY_PREFIX"]), stream.DefaultMaxLen())
	_, err = pub.Publish(t.Context(), stream.DLQ, body)
	require.NoError(t, err)

	pool, err := pgxpool.New(t.Context(), env["DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	store := deadletter.NewStore(pool)
	require.Eventually(t, func() bool {
		rows, _, err := store.List(t.Context(), deadletter.StatusParked, 10, 0)
		return err == nil && len(rows) == 1 && rows[0].OriginalID == "42-0" && rows[0].Error == "checker crashed"
	}, 15*time.Second, 50*time.Millisecond, "the dead-lettered job was never parked")
}
