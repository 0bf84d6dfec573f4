// Package redisconn opens Redis clients from the seed's REDIS_* variables.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is the Redis part of a service's configuration.
type Config struct {
	Host     string `env:"REDIS_HOST" required:"true"`
	Port     int    `env:"REDIS_PORT" default:"6379"`
	Password string `env:"REDIS_PASSWORD"`
	DB       int    `env:"REDIS_DB" default:"0"`
	// KeyPrefix is the hash tag every key shares: keys look like "{uptime}:jobs".
	KeyPrefix string `env:"REDIS_KEY_PREFIX" default:"uptime"`
	PoolSize  int    `env:"REDIS_POOL_SIZE" default:"50"`
}

// Validate reports malformed values.
func (c Config) Validate() error {
	var errs []error
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("REDIS_PORT: must be 1..65535, got %d", c.Port))
	}
	if c.DB < 0 {
		errs = append(errs, fmt.Errorf("REDIS_DB: must not be negative, got %d", c.DB))
	}
	if c.KeyPrefix == "" || strings.ContainsAny(c.KeyPrefix, "{}: ") {
		errs = append(errs, fmt.Errorf("REDIS_KEY_PREFIX: must be non-empty without braces, colons or spaces, got %q", c.KeyPrefix))
	}
	if c.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("REDIS_POOL_SIZE: must be at least 1, got %d", c.PoolSize))
	}
	return errors.Join(errs...)
}

// Addr is host:port.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Open returns a client and pings it. Blocking stream reads should use a
// client of their own (see stream.Consumer), so that a BLOCK never holds a
// connection that short commands wait for.
func Open(ctx context.Context, cfg Config) (*redis.Client, error) {
	rdb := redis.NewClient(&redis.Options{
		Addr:         cfg.Addr(),
		Password:     cfg.Password,
		DB:           cfg.DB,
		PoolSize:     cfg.PoolSize,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
		// Stream reads use BLOCK; go-redis adds the block time to the read
		// deadline itself when the command carries it.
		ContextTimeoutEnabled: true,
	})
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", cfg.Addr(), err)
	}
	return rdb, nil
}

// Check is the readiness check for Redis.
func Check(rdb redis.UniversalClient) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("ping redis: %w", err)
		}
		return nil
	}
}
