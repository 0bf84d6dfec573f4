package writer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
	"github.com/servercheck/uptime/services/log-writer/internal/writer"
)

// BenchmarkBacklog measures the log-writer's flush path on a backlog: 20,000
// results (one per monitor, the monitors UP with rollup rows already, as in
// steady state) are published first, then the results consumer and the
// writer start with the service's defaults, and the clock runs until every
// entry is acked. rows/s is the figure of DESIGN.md section 10.
func BenchmarkBacklog(b *testing.B) {
	const monitors = 20_000
	pg := testenv.Postgres(b)
	rdb, ks := testenv.Redis(b)
	reader := testenv.NewRedisClient(b)
	d := database{pool: pg.Pool}
	ids := d.monitorsB(b, monitors)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)

	drain := func(round int) time.Duration {
		publish(b, rdb, pub, ids, hour.Add(time.Duration(round)*time.Minute))
		cfg := writer.DefaultConfig()
		// The interval only decides when the last partial batch goes; the
		// default 5 s would add up to 5 s of idle tail to a 20,000-row run.
		cfg.FlushInterval = 100 * time.Millisecond
		w, err := writer.New(cfg, store.New(pg.Pool, 5*time.Second), prometheus.NewRegistry(), testenv.Discard())
		require.NoError(b, err)
		c, err := stream.NewConsumer(stream.ConsumerConfig{
			Stream: stream.Results, Group: "log-writer", Concurrency: writer.DefaultConfig().BufferMax,
		}, reader, rdb, pub, func(stream.DeadLetter) ([]byte, error) { return nil, nil },
			stream.NewMetrics(prometheus.NewRegistry()), testenv.Discard())
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(b.Context())
		served := make(chan error, 1)
		start := time.Now()
		go func() { served <- w.Serve(ctx, c) }()
		for {
			infos, err := stream.Inspect(b.Context(), rdb, ks, stream.Results)
			require.NoError(b, err)
			if g := infos[0].Groups; len(g) == 1 && g[0].Lag == 0 && g[0].Pending == 0 {
				break
			}
			<-time.After(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		cancel()
		require.NoError(b, <-served)
		return elapsed
	}

	drain(0) // warm-up: monitors leave PENDING, hourly rollup rows exist
	var total time.Duration
	round := 0
	for b.Loop() {
		round++
		total += drain(round)
	}
	var rows int
	require.NoError(b, pg.Pool.QueryRow(b.Context(), `SELECT count(*) FROM ping_logs`).Scan(&rows))
	require.Equal(b, monitors*(round+1), rows)
	b.ReportMetric(float64(monitors*round)/total.Seconds(), "rows/s")
}

func (d database) monitorsB(b *testing.B, n int) []uuid.UUID {
	b.Helper()
	var user uuid.UUID
	require.NoError(b, d.pool.QueryRow(b.Context(), `INSERT INTO users (email) VALUES ('bench@example.com') RETURNING id`).Scan(&user))
	rows, err := d.pool.Query(b.Context(), `
		INSERT INTO monitors (user_id, name, url, frequency)
		SELECT $1, 'm' || g, 'https://example.com', 60 FROM generate_series(1, $2) g RETURNING id`, user, n)
	require.NoError(b, err)
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		require.NoError(b, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(b, rows.Err())
	return ids
}

// publish appends one UP result per monitor at slot, in pipelines of 1000.
func publish(b *testing.B, rdb *redis.Client, pub *stream.Publisher, ids []uuid.UUID, slot time.Time) {
	b.Helper()
	const chunk = 1000
	for start := 0; start < len(ids); start += chunk {
		pipe := rdb.Pipeline()
		for _, id := range ids[start:min(start+chunk, len(ids))] {
			env, err := events.New("checker/bench", &eventsv1.CheckCompleted{
				JobId: events.JobID(id.String(), slot), MonitorId: id.String(), Slot: timestamppb.New(slot),
				StartedAt: timestamppb.New(slot), FinishedAt: timestamppb.New(slot.Add(85 * time.Millisecond)),
				Success: true, StatusCode: 200, Attempts: 1,
				Timings:        &eventsv1.Timings{DnsUs: 900, ConnectUs: 1100, TlsUs: 12000, FirstByteUs: 70000, TotalUs: 85000},
				PreviousStatus: eventsv1.MonitorStatus_MONITOR_STATUS_UP, NewStatus: eventsv1.MonitorStatus_MONITOR_STATUS_UP,
				Checker: "checker-bench",
			})
			require.NoError(b, err)
			body, err := events.Marshal(env)
			require.NoError(b, err)
			pipe.XAdd(b.Context(), pub.AddArgs(stream.Results, body))
		}
		_, err := pipe.Exec(b.Context())
		require.NoError(b, err, fmt.Sprintf("publish chunk at %d", start))
	}
}
