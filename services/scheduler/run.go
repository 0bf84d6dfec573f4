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
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/services/scheduler/internal/dispatch"
)

func run(ctx context.Context, stdout io.Writer, lookup func(string) (string, bool)) error {
	var cfg Config
	if err := config.Load(&cfg, config.Options{Lookup: lookup}); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger, err := logging.New(stdout, cfg.Log, "scheduler")
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
	readerCfg.PoolSize = 2
	reader, err := redisconn.Open(ctx, readerCfg)
	if err != nil {
		return err
	}
	defer func() { _ = reader.Close() }()

	reg := httpserver.NewRegistry()
	instance := stream.UniqueName()
	ks := stream.NewKeyspace(cfg.Redis.KeyPrefix)
	maxLen := stream.DefaultMaxLen()
	pub := stream.NewPublisher(rdb, ks, maxLen)
	streamMetrics := stream.NewMetrics(reg)
	metrics := dispatch.NewMetrics(reg)
	codec := deadletter.Codec{Producer: "scheduler/" + instance}

	sched := schedule.New(rdb, ks, schedule.Options{Producer: "scheduler/" + instance, JobsMaxLen: maxLen.For(stream.Jobs)})
	reconciler := schedule.NewReconciler(sched, schedule.NewPostgres(db.Pool), schedule.ReconcilerConfig{})
	claimLoop, err := dispatch.NewClaimLoop(sched, cfg.ClaimInterval, cfg.ClaimBatch, metrics, logger)
	if err != nil {
		return err
	}
	reconcileLoop, err := dispatch.NewReconcileLoop(reconciler, cfg.ReconcileInterval, metrics, logger)
	if err != nil {
		return err
	}
	// One change at a time keeps the monitors stream's order, so a
	// create followed by a delete is applied in that order; the specs'
	// versions guard against the reorderings that redelivery still causes.
	changes, err := stream.NewConsumer(stream.ConsumerConfig{
		Stream: stream.Monitors, Group: "scheduler", Name: instance, Concurrency: 1,
	}, reader, rdb, pub, codec.Encode, streamMetrics, logger)
	if err != nil {
		return err
	}
	changeHandler := dispatch.NewChangeHandler(sched, metrics, logger)
	observer := stream.NewObserver(rdb, ks, streamMetrics, 15*time.Second, logger, stream.Monitors, stream.Jobs)

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

	logger.Info("scheduler_started", "http_addr", srv.Addr().String(),
		"claim_interval_ms", cfg.ClaimInterval.Milliseconds(), "claim_batch", cfg.ClaimBatch,
		"reconcile_interval_ms", cfg.ReconcileInterval.Milliseconds())
	return lifecycle.Run(ctx, logger, cfg.Lifecycle.ShutdownTimeout,
		lifecycle.Named{Name: "http", Component: srv},
		lifecycle.Named{Name: "claim_loop", Component: claimLoop},
		lifecycle.Named{Name: "monitor_changes", Component: lifecycle.ComponentFunc(func(ctx context.Context) error {
			return changes.Run(ctx, changeHandler)
		})},
		lifecycle.Named{Name: "reconcile_loop", Component: reconcileLoop},
		lifecycle.Named{Name: "stream_observer", Component: observer},
	)
}
