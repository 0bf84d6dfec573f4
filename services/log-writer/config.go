package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
)

// Config is the log-writer's configuration, read from the environment.
type Config struct {
	HTTPPort int `env:"LOG_WRITER_HTTP_PORT" default:"9104"`
	// DLQRetryBaseDelay is the wait before the first re-drive of a dead
	// letter; each next one doubles it.
	DLQRetryBaseDelay time.Duration `env:"DLQ_RETRY_BASE_DELAY_MS" default:"30000" unit:"ms"`
	// DLQMaxRetries re-drives happen before a dead letter is parked.
	DLQMaxRetries int `env:"DLQ_MAX_RETRIES" default:"5"`
	Log           logging.Config
	Postgres      postgres.Config
	Redis         redisconn.Config
	Lifecycle     lifecycle.Config
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	return errors.Join(
		config.Port("LOG_WRITER_HTTP_PORT", c.HTTPPort),
		c.Log.Validate(),
		c.Postgres.Validate(),
		c.Redis.Validate(),
		c.Lifecycle.Validate(),
		positive("DLQ_RETRY_BASE_DELAY_MS", c.DLQRetryBaseDelay),
		between("DLQ_MAX_RETRIES", c.DLQMaxRetries, 0, 20),
	)
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be positive", name)
	}
	return nil
}

func between(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: must be %d..%d, got %d", name, lo, hi, v)
	}
	return nil
}
