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

// Config is the scheduler's configuration, read from the environment.
type Config struct {
	HTTPPort int `env:"SCHEDULER_HTTP_PORT" default:"9102"`
	// ClaimInterval is how often the claim script runs (DESIGN.md: every
	// 100-250 ms); it bounds how late a job is emitted after its slot.
	ClaimInterval time.Duration `env:"CLAIM_INTERVAL_MS" default:"200" unit:"ms"`
	// ClaimBatch caps the due monitors one run of the script handles, so
	// that one run never blocks Redis for long; a full run is followed
	// at once by another.
	ClaimBatch int `env:"CLAIM_BATCH" default:"2000"`
	// ReconcileInterval is the time between two reconciles with
	// PostgreSQL (one also runs at start).
	ReconcileInterval time.Duration `env:"RECONCILE_INTERVAL_MS" default:"60000" unit:"ms"`
	Log               logging.Config
	Postgres          postgres.Config
	Redis             redisconn.Config
	Lifecycle         lifecycle.Config
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.ClaimInterval < 100*time.Millisecond || c.ClaimInterval > 250*time.Millisecond {
		errs = append(errs, fmt.Errorf("CLAIM_INTERVAL_MS: must be 100..250, got %d", c.ClaimInterval.Milliseconds()))
	}
	if c.ClaimBatch < 1 || c.ClaimBatch > 50_000 {
		errs = append(errs, fmt.Errorf("CLAIM_BATCH: must be 1..50000, got %d", c.ClaimBatch))
	}
	if c.ReconcileInterval < time.Second || c.ReconcileInterval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("RECONCILE_INTERVAL_MS: must be 1000..86400000, got %d", c.ReconcileInterval.Milliseconds()))
	}
	return errors.Join(
		config.Port("SCHEDULER_HTTP_PORT", c.HTTPPort),
		errors.Join(errs...),
		c.Log.Validate(),
		c.Postgres.Validate(),
		c.Redis.Validate(),
		c.Lifecycle.Validate(),
	)
}
