package main

import (
	"errors"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/redisconn"
)

// Config is the checker's configuration, read from the environment.
type Config struct {
	HTTPPort  int `env:"CHECKER_HTTP_PORT" default:"9103"`
	Log       logging.Config
	Redis     redisconn.Config
	Lifecycle lifecycle.Config
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	return errors.Join(
		config.Port("CHECKER_HTTP_PORT", c.HTTPPort),
		c.Log.Validate(),
		c.Redis.Validate(),
		c.Lifecycle.Validate(),
	)
}
