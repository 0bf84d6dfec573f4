package main

import (
	"errors"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
)

// Config is the notifier's configuration, read from the environment.
type Config struct {
	HTTPPort  int `env:"NOTIFIER_HTTP_PORT" default:"9105"`
	Log       logging.Config
	Postgres  postgres.Config
	Redis     redisconn.Config
	Lifecycle lifecycle.Config
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	return errors.Join(
		config.Port("NOTIFIER_HTTP_PORT", c.HTTPPort),
		c.Log.Validate(),
		c.Postgres.Validate(),
		c.Redis.Validate(),
		c.Lifecycle.Validate(),
	)
}
