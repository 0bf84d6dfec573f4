package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/services/api/internal/auth"
	"github.com/servercheck/uptime/services/api/internal/httpapi"
	"github.com/servercheck/uptime/services/api/internal/live"
	"github.com/servercheck/uptime/services/api/internal/ops"
	"github.com/servercheck/uptime/services/api/internal/store"
)

func run(ctx context.Context, stdout io.Writer, lookup func(string) (string, bool)) error {
	var cfg Config
	if err := config.Load(&cfg, config.Options{Lookup: lookup}); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger, err := logging.New(stdout, cfg.Log, "api")
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

	verifierCfg := auth.VerifierConfig{Issuer: cfg.CognitoIssuer, ClientID: cfg.CognitoClientID}
	var verifier *auth.Verifier
	var devJWKS []byte
	if cfg.DevIssuer {
		key, err := auth.LoadOrCreateKey(cfg.DevIssuerKeyFile)
		if err != nil {
			return err
		}
		if devJWKS, err = auth.JWKS(key, auth.KeyID(&key.PublicKey)); err != nil {
			return err
		}
		if verifier, err = auth.NewStaticVerifier(verifierCfg, devJWKS); err != nil {
			return err
		}
		logger.Warn("development_issuer_enabled", "issuer", cfg.CognitoIssuer, "key_file", cfg.DevIssuerKeyFile)
	} else if verifier, err = auth.NewVerifier(ctx, verifierCfg, logger); err != nil {
		return err
	}

	secrets, devSecrets, err := cfg.Secrets.Box()
	if err != nil {
		return err
	}
	if devSecrets {
		logger.Warn("monitor_secrets_development_key",
			"reason", "MONITOR_SECRETS_KEY is unset: monitor secrets are sealed with a public development key",
			"key_id", secrets.KeyID())
	}

	allow, err := netguard.ParseAllowlist(cfg.SSRFAllowlist)
	if err != nil {
		return fmt.Errorf("SSRF_ALLOWLIST: %w", err)
	}
	ks := stream.NewKeyspace(cfg.Redis.KeyPrefix)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	sched := schedule.New(rdb, ks, schedule.Options{Producer: "api/" + stream.UniqueName()})
	// The live-events reader blocks in XREAD: it gets a client of its own.
	liveCfg := cfg.Redis
	liveCfg.PoolSize = 2
	liveRDB, err := redisconn.Open(ctx, liveCfg)
	if err != nil {
		return err
	}
	defer func() { _ = liveRDB.Close() }()
	monitors := store.NewMonitors(db)
	hub := live.New(liveRDB, ks, func(ctx context.Context, id string) (string, error) {
		m, err := monitors.Get(ctx, id)
		if store.IsNotFound(err) {
			return "", nil
		}
		return m.UserID, err
	}, logger)

	reg := httpserver.NewRegistry()
	health := httpserver.NewHealth(2 * time.Second)
	health.Add("postgres", db.Check)
	health.Add("redis", redisconn.Check(rdb))

	api := httpapi.New(httpapi.Config{
		Production:  cfg.Production(),
		CORSOrigins: cfg.corsOrigins(),
		AdminEmails: lower(cfg.AdminEmails),
		RateLimit:   httpapi.RateLimitConfig{PerSecond: cfg.RateLimitPerSecond, Burst: cfg.RateLimitBurst},
		PublicURL:   cfg.PublicURL,
		// nil (not empty) when unset: gin trusts no proxy then.
		TrustedProxies: cfg.TrustedProxies,
	}, httpapi.Deps{
		Users:       store.NewUsers(db),
		Monitors:    store.NewMonitors(db),
		PingLogs:    store.NewPingLogs(db),
		Reports:     store.NewReports(db, time.Duration(cfg.RawLogRetentionDays)*24*time.Hour, time.Now),
		Verifier:    verifier,
		Changes:     ops.NewChanges(pub, "api/"+stream.UniqueName()),
		Guard:       netguard.New(allow),
		Resolver:    net.DefaultResolver,
		Admin:       ops.NewAdmin(rdb, ks, deadletter.NewStore(db.Pool)),
		DeadLetters: ops.NewDeadLetters(deadletter.NewStore(db.Pool), pub),
		Health:      health,
		Registry:    reg,
		Logger:      logger,
		Now:         time.Now,
		DevJWKS:     devJWKS,
		Live:        hub,
		Secrets:     secrets,
		Heartbeats:  heartbeat.New(rdb, ks),
		Queue:       ops.NewQueue(sched, schedule.NewReconciler(sched, schedule.NewPostgres(db.Pool), schedule.ReconcilerConfig{})),
	})
	srv, err := httpserver.New(net.JoinHostPort("", strconv.Itoa(cfg.Port)), api.Handler(), health, logger, httpserver.Options{
		ShutdownTimeout: cfg.Lifecycle.ShutdownTimeout,
		DrainDelay:      cfg.Lifecycle.DrainDelay,
	})
	if err != nil {
		return err
	}

	logger.Info("api_started", "http_addr", srv.Addr().String(), "secrets_key_id", secrets.KeyID())
	return lifecycle.Run(ctx, logger, cfg.Lifecycle.ShutdownTimeout,
		lifecycle.Named{Name: "http", Component: srv},
		lifecycle.Named{Name: "api", Component: api},
		lifecycle.Named{Name: "live_events", Component: hub},
	)
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}
