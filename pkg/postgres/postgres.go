// Package postgres opens the PostgreSQL pool every service shares: one pgx
// pool, with gorm on top for CRUD and queries and the pool itself reachable
// for bulk writes (COPY, unnest inserts).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// Config is the database part of a service's configuration.
type Config struct {
	DatabaseURL    string        `env:"DATABASE_URL" required:"true"`
	MaxConns       int32         `env:"DB_POOL_MAX" default:"10"`
	MinConns       int32         `env:"DB_POOL_MIN" default:"2"`
	IdleTimeout    time.Duration `env:"DB_POOL_IDLE_TIMEOUT_MS" default:"30000" unit:"ms"`
	ConnectTimeout time.Duration `env:"DB_CONNECTION_TIMEOUT_MS" default:"5000" unit:"ms"`
}

// Validate reports a malformed URL or pool size.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL != "" {
		if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
			errs = append(errs, errors.New("DATABASE_URL: not a valid PostgreSQL URL or DSN"))
		}
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("DB_POOL_MAX: must be at least 1, got %d", c.MaxConns))
	}
	if c.MinConns < 0 || c.MinConns > c.MaxConns {
		errs = append(errs, fmt.Errorf("DB_POOL_MIN: must be between 0 and DB_POOL_MAX (%d), got %d", c.MaxConns, c.MinConns))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("DB_POOL_IDLE_TIMEOUT_MS: must be positive"))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, errors.New("DB_CONNECTION_TIMEOUT_MS: must be positive"))
	}
	return errors.Join(errs...)
}

// DB holds the pool and the gorm handle built on it.
type DB struct {
	// Pool is for hot paths that bypass gorm (bulk inserts).
	Pool *pgxpool.Pool
	// Gorm shares Pool's connections.
	Gorm  *gorm.DB
	sqlDB *sql.DB
}

// Open connects and pings. It does not migrate: migrations are a separate step.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*DB, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errors.New("parse DATABASE_URL: not a valid PostgreSQL URL or DSN")
	}
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = cfg.MinConns
	pc.MaxConnIdleTime = cfg.IdleTimeout
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	// Times leave the database in UTC whatever the server's or process's
	// time zone, so every API timestamp is ISO-8601 UTC.
	pc.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	// Probe with one connection that honours ctx before creating the pool:
	// the pool opens its minimum connections in the background without
	// ctx, and closing it after a failure would wait for them.
	probeCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	probe, err := pgx.ConnectConfig(probeCtx, pc.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to postgres at %s: %w", pc.ConnConfig.Host, err)
	}
	_ = probe.Close(probeCtx)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("create postgres pool: %w", err)
	}
	if err := pool.Ping(probeCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", pc.ConnConfig.Host, err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	g, err := gorm.Open(gormpg.New(gormpg.Config{Conn: sqlDB}), &gorm.Config{
		Logger: gormlogger.NewSlogLogger(logger.With("component", "gorm"), gormlogger.Config{
			SlowThreshold:             time.Second,
			LogLevel:                  gormlogger.Warn,
			IgnoreRecordNotFoundError: true,
		}),
		SkipDefaultTransaction: true,
		TranslateError:         true,
	})
	if err != nil {
		_ = sqlDB.Close()
		pool.Close()
		return nil, fmt.Errorf("open gorm: %w", err)
	}
	return &DB{Pool: pool, Gorm: g, sqlDB: sqlDB}, nil
}

// Check pings the database; it is the readiness check for PostgreSQL.
func (db *DB) Check(ctx context.Context) error {
	if err := db.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close releases every connection.
func (db *DB) Close() {
	_ = db.sqlDB.Close()
	db.Pool.Close()
}
