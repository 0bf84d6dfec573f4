package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/livestats"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/services/log-writer/internal/maintenance"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
	"github.com/servercheck/uptime/services/log-writer/internal/writer"
)

func run(ctx context.Context, stdout io.Writer, lookup func(string) (string, bool)) error {
	var cfg Config
	if err := config.Load(&cfg, config.Options{Lookup: lookup}); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger, err := logging.New(stdout, cfg.Log, "log-writer")
	if err != nil {
		return err
	}

	db, err := postgres.Open(ctx, cfg.Postgres, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := redisconn.Open(ctx, cfg.Redis)
	if err != nil {
		return err
	}
	defer func() { _ = rdb.Close() }()
	// Blocking stream reads get a client of their own.
	readerCfg := cfg.Redis
	readerCfg.PoolSize = 4
	reader, err := redisconn.Open(ctx, readerCfg)
	if err != nil {
		return err
	}
	defer func() { _ = reader.Close() }()

	reg := httpserver.NewRegistry()
	ks := stream.NewKeyspace(cfg.Redis.KeyPrefix)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	streamMetrics := stream.NewMetrics(reg)
	instance := stream.UniqueName()
	codec := deadletter.Codec{Producer: "log-writer/" + instance}

	// Results: the consumer reads at most BUFFER_MAX entries, each handled
	// by the writer until the batch holding it is committed, so a full
	// buffer stops reading (backpressure stays in Redis).
	w, err := writer.New(writer.Config{
		FlushSize: cfg.FlushSize, FlushInterval: cfg.FlushInterval, BufferMax: cfg.BufferMax,
		Retries: cfg.FlushRetries, RetryBase: cfg.FlushRetryBase, RetryMax: cfg.FlushRetryMax,
		FlushTimeout: cfg.FlushTimeout, FinalFlushTimeout: cfg.ResultsDrainTimeout, Workers: cfg.FlushWorkers,
	}, store.New(db.Pool, cfg.PartitionLockTimeout), reg, logger)
	if err != nil {
		return err
	}
	resultsConsumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Stream: stream.Results, Group: "log-writer", Name: instance,
		Concurrency: cfg.BufferMax, MinIdle: cfg.ResultsMinIdle, DrainTimeout: cfg.ResultsDrainTimeout,
	}, reader, rdb, pub, codec.Encode, streamMetrics, logger)
	if err != nil {
		return err
	}
	flushListener := writer.NewFlushListener(rdb, ks.Key(writer.FlushChannel), w, logger)
	statsPublisher := livestats.NewPublisher(rdb, ks.Key(writer.StatsKey), instance, cfg.StatsInterval,
		func() any { return w.Stats() }, logger)
	partitions, err := maintenance.New(maintenance.Config{
		Interval: cfg.MaintenanceInterval, RetryDelay: time.Minute,
		RawRetentionDays: cfg.RawLogRetentionDays, RollupRetentionDays: cfg.RollupRetentionDays,
		LockTimeout: cfg.PartitionLockTimeout, LockRetries: 3,
	}, db.Pool, rdb, ks.Key(maintenance.LeaseKey), instance, reg, logger, time.Now)
	if err != nil {
		return err
	}

	// The dlq mover re-drives dead letters with backoff and parks the
	// exhausted ones in PostgreSQL; it runs here because the log-writer
	// already holds the database connection.
	moverCfg := deadletter.DefaultMoverConfig()
	moverCfg.BaseDelay = cfg.DLQRetryBaseDelay
	moverCfg.MaxRetries = cfg.DLQMaxRetries
	mover := deadletter.NewMover(rdb, pub, codec, deadletter.NewStore(db.Pool), moverCfg, reg, logger, time.Now)
	dlqConsumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Stream: stream.DLQ, Group: "dlq-mover", Concurrency: 8,
	}, reader, rdb, pub, codec.Encode, streamMetrics, logger)
	if err != nil {
		return err
	}
	observer := stream.NewObserver(rdb, ks, streamMetrics, 15*time.Second, logger,
		stream.Monitors, stream.Jobs, stream.Results, stream.Events, stream.DLQ)
	health := httpserver.NewHealth(2 * time.Second)
	health.Add("postgres", db.Check)
	health.Add("redis", redisconn.Check(rdb))
	mux := http.NewServeMux()
	httpserver.Register(mux, health, reg)
	srv, err := httpserver.New(net.JoinHostPort("", strconv.Itoa(cfg.HTTPPort)), mux, health, logger, httpserver.Options{
		ShutdownTimeout: cfg.Lifecycle.ShutdownTimeout,
		DrainDelay:      cfg.Lifecycle.DrainDelay,
	})
	if err != nil {
		return err
	}

	logger.Info("log_writer_started", "http_addr", srv.Addr().String())
	return lifecycle.Run(ctx, logger, cfg.Lifecycle.ShutdownTimeout,
		lifecycle.Named{Name: "http", Component: srv},
		lifecycle.Named{Name: "results_writer", Component: lifecycle.ComponentFunc(func(ctx context.Context) error {
			return w.Serve(ctx, resultsConsumer)
		})},
		lifecycle.Named{Name: "flush_listener", Component: flushListener},
		lifecycle.Named{Name: "stats_publisher", Component: statsPublisher},
		lifecycle.Named{Name: "partition_maintenance", Component: partitions},
		lifecycle.Named{Name: "dlq_consumer", Component: lifecycle.ComponentFunc(func(ctx context.Context) error {
			return dlqConsumer.Run(ctx, mover)
		})},
		lifecycle.Named{Name: "dlq_redriver", Component: mover},
		lifecycle.Named{Name: "stream_observer", Component: observer},
	)
}
