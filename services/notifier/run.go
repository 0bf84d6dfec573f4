package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/services/notifier/internal/notify"
	"github.com/servercheck/uptime/services/notifier/internal/transport"
)

func run(ctx context.Context, stdout io.Writer, lookup func(string) (string, bool)) error {
	var cfg Config
	if err := config.Load(&cfg, config.Options{Lookup: lookup}); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger, err := logging.New(stdout, cfg.Log, "notifier")
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
	mailer, err := newMailer(ctx, cfg, transport.NewMetrics(reg), logger)
	if err != nil {
		return err
	}

	ks := stream.NewKeyspace(cfg.Redis.KeyPrefix)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	instance := stream.UniqueName()
	codec := deadletter.Codec{Producer: "notifier/" + instance}
	streamMetrics := stream.NewMetrics(reg)
	consumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Stream: stream.Events, Group: "notifier", Name: instance,
		Concurrency: cfg.Concurrency, MinIdle: cfg.MinIdle, DrainTimeout: cfg.DrainTimeout,
	}, reader, rdb, pub, codec.Encode, streamMetrics, logger)
	if err != nil {
		return err
	}
	// Length, lag and pending of the streams this service reads and feeds,
	// so that a dashboard needs no other service to see the notifier's.
	observer := stream.NewObserver(rdb, ks, streamMetrics, 15*time.Second, logger, stream.Events, stream.DLQ)
	handler := notify.New(notify.Config{Owner: instance, ClaimTTL: cfg.ClaimTTL},
		notify.NewStore(db.Pool), mailer, reg, logger)

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

	logger.Info("notifier_started", "http_addr", srv.Addr().String(), "providers", mailer.Providers())
	return lifecycle.Run(ctx, logger, cfg.Lifecycle.ShutdownTimeout,
		lifecycle.Named{Name: "http", Component: srv},
		lifecycle.Named{Name: "events_consumer", Component: lifecycle.ComponentFunc(func(ctx context.Context) error {
			return consumer.Run(ctx, handler)
		})},
		lifecycle.Named{Name: "stream_observer", Component: observer},
	)
}

// newMailer builds the configured providers, the primary first.
func newMailer(ctx context.Context, cfg Config, metrics *transport.Metrics, logger *slog.Logger) (*transport.Mailer, error) {
	var sesProvider, smtpProvider *transport.Provider
	if cfg.sesEnabled() {
		s, err := transport.NewSES(ctx, transport.SESConfig{
			Region: cfg.AWSRegion, From: cfg.FromEmail, Endpoint: cfg.SESEndpoint,
			AccessKeyID: cfg.AWSAccessKeyID, SecretAccessKey: cfg.AWSSecretAccessKey,
		})
		if err != nil {
			return nil, err
		}
		sesProvider = &transport.Provider{Name: "ses", Sender: s, Policy: cfg.policy()}
	}
	if host := cfg.smtpHost(); host != "" {
		s, err := transport.NewSMTP(transport.SMTPConfig{
			Host: host, Port: cfg.SMTPPort, TLS: cfg.SMTPTLS,
			Username: cfg.GmailUser, Password: cfg.GmailPassword,
			From: cfg.smtpFrom(), FromName: "Server Check App",
		})
		if err != nil {
			return nil, err
		}
		smtpProvider = &transport.Provider{Name: "smtp", Sender: s, Policy: cfg.policy()}
	}
	order := []*transport.Provider{sesProvider, smtpProvider}
	if cfg.Primary == "nodemailer" {
		order = []*transport.Provider{smtpProvider, sesProvider}
	}
	var providers []transport.Provider
	for _, p := range order {
		if p != nil {
			providers = append(providers, *p)
		}
	}
	return transport.NewMailer(providers, metrics, logger)
}
