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
	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
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

	reg := httpserver.NewRegistry()
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

	logger.Info("scheduler_started", "http_addr", srv.Addr().String())
	return lifecycle.Run(ctx, logger, cfg.Lifecycle.ShutdownTimeout,
		lifecycle.Named{Name: "http", Component: srv},
	)
}
