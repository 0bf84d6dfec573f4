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
	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/services/checker/internal/probe"
	"github.com/servercheck/uptime/services/checker/internal/status"
	"github.com/servercheck/uptime/services/checker/internal/worker"
)

func run(ctx context.Context, stdout io.Writer, lookup func(string) (string, bool)) error {
	var cfg Config
	if err := config.Load(&cfg, config.Options{Lookup: lookup}); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger, err := logging.New(stdout, cfg.Log, "checker")
	if err != nil {
		return err
	}
	rdb, err := redisconn.Open(ctx, cfg.Redis)
	if err != nil {
		return err
	}
	defer func() { _ = rdb.Close() }()
	readerCfg := cfg.Redis
	readerCfg.PoolSize = 4
	reader, err := redisconn.Open(ctx, readerCfg)
	if err != nil {
		return err
	}
	defer func() { _ = reader.Close() }()

	secrets, devSecrets, err := cfg.Secrets.Box()
	if err != nil {
		return err
	}
	if devSecrets {
		logger.Warn("monitor_secrets_development_key",
			"reason", "MONITOR_SECRETS_KEY is unset: monitor secrets are opened with a public development key",
			"key_id", secrets.KeyID())
	}

	allow, err := netguard.ParseAllowlist(cfg.SSRFAllowlist)
	if err != nil {
		return fmt.Errorf("SSRF_ALLOWLIST: %w", err)
	}
	roots, err := rootCAs(cfg.ExtraCAFile)
	if err != nil {
		return fmt.Errorf("CHECK_EXTRA_CA_FILE: %w", err)
	}
	instance := "checker/" + stream.UniqueName()
	reg := httpserver.NewRegistry()
	ks := stream.NewKeyspace(cfg.Redis.KeyPrefix)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	prober := probe.New(probe.Config{
		MaxConnsPerDomain: cfg.MaxConnsPerDomain, KeepAlive: cfg.KeepAlive, IdleTimeout: cfg.IdleTimeout,
		ConnectTimeout: cfg.ConnectTimeout, AttemptTimeout: cfg.AttemptTimeout, MaxRetries: cfg.MaxRetries,
		BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax, BreakerFailures: cfg.BreakerFailures,
		BreakerDelay: cfg.BreakerDelay, MaxRedirects: cfg.MaxRedirects, UserAgent: "ServerCheck/1.0",
		RootCAs: roots,
	}, netguard.New(allow), reg, logger)
	defer prober.CloseIdleConnections()
	w := worker.New(prober, status.NewTracker(rdb, ks), rdb, pub, secrets, instance, reg, logger)
	codec := deadletter.Codec{Producer: instance}
	streamMetrics := stream.NewMetrics(reg)
	jobs, err := stream.NewConsumer(stream.ConsumerConfig{
		Stream: stream.Jobs, Group: worker.Group, Concurrency: cfg.Concurrency,
		MinIdle: cfg.JobMinIdle, ManualAck: true,
		DrainTimeout: cfg.Lifecycle.ShutdownTimeout * 4 / 5,
	}, reader, rdb, pub, codec.Encode, streamMetrics, logger)
	if err != nil {
		return err
	}
	// Lag and pending of the jobs stream from the checkers themselves: what
	// an autoscaler or an alert on checker lag reads.
	observer := stream.NewObserver(rdb, ks, streamMetrics, 15*time.Second, logger, stream.Jobs, stream.Results, stream.Events)
	stats := livestats.NewPublisher(rdb, ks.Key("stats:checker"), instance, 5*time.Second,
		func() any { return prober.Stats() }, logger)

	health := httpserver.NewHealth(2 * time.Second)
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

	logger.Info("checker_started", "http_addr", srv.Addr().String(), "concurrency", cfg.Concurrency, "instance", instance,
		"secrets_key_id", secrets.KeyID())
	return lifecycle.Run(ctx, logger, cfg.Lifecycle.ShutdownTimeout,
		lifecycle.Named{Name: "http", Component: srv},
		lifecycle.Named{Name: "jobs_consumer", Component: lifecycle.ComponentFunc(func(ctx context.Context) error {
			return jobs.Run(ctx, w)
		})},
		lifecycle.Named{Name: "stats", Component: stats},
		lifecycle.Named{Name: "stream_observer", Component: observer},
	)
}
