package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/secretbox"
)

// Config is the checker's configuration, read from the environment.
type Config struct {
	HTTPPort int `env:"CHECKER_HTTP_PORT" default:"9103"`
	// Env is NODE_ENV, as for the api: production requires
	// MONITOR_SECRETS_KEY.
	Env string `env:"NODE_ENV" default:"development"`
	// Concurrency is how many checks run at once; the checker reads only
	// as many jobs as it has free check slots.
	Concurrency int `env:"CHECKER_CONCURRENCY" default:"500"`
	// JobMinIdle is the longest a check may take (retries included) before
	// another replica may take its job over.
	JobMinIdle time.Duration `env:"CHECKER_JOB_MIN_IDLE_MS" default:"120000" unit:"ms"`

	MaxConnsPerDomain int           `env:"CHECK_MAX_CONNS_PER_DOMAIN" default:"100"`
	KeepAlive         bool          `env:"CHECK_KEEPALIVE" default:"true"`
	IdleTimeout       time.Duration `env:"CHECK_KEEPALIVE_TIMEOUT_MS" default:"60000" unit:"ms"`
	ConnectTimeout    time.Duration `env:"CHECK_CONNECT_TIMEOUT_MS" default:"5000" unit:"ms"`
	AttemptTimeout    time.Duration `env:"CHECK_TIMEOUT_MS" default:"10000" unit:"ms"`
	MaxRetries        int           `env:"CHECK_MAX_RETRIES" default:"3"`
	BackoffBase       time.Duration `env:"CHECK_BACKOFF_BASE_MS" default:"1000" unit:"ms"`
	BackoffMax        time.Duration `env:"CHECK_BACKOFF_MAX_MS" default:"10000" unit:"ms"`
	BreakerFailures   int           `env:"CHECK_BREAKER_FAILURES" default:"5"`
	BreakerDelay      time.Duration `env:"CHECK_BREAKER_DELAY_MS" default:"30000" unit:"ms"`
	MaxRedirects      int           `env:"CHECK_MAX_REDIRECTS" default:"5"`
	SSRFAllowlist     string        `env:"SSRF_ALLOWLIST"`
	// ExtraCAFile is a PEM file of root certificates trusted besides the
	// system's (a private CA); empty: the system roots only.
	ExtraCAFile string `env:"CHECK_EXTRA_CA_FILE"`
	// Secrets opens the jobs' sealed headers and body: the api's keys.
	Secrets secretbox.Config

	Log       logging.Config
	Redis     redisconn.Config
	Lifecycle lifecycle.Config
}

// Production reports whether NODE_ENV is production.
func (c Config) Production() bool { return strings.EqualFold(c.Env, "production") }

// Validate reports every invalid setting.
func (c Config) Validate() error {
	errs := []error{
		config.Port("CHECKER_HTTP_PORT", c.HTTPPort),
		c.Log.Validate(), c.Redis.Validate(), c.Lifecycle.Validate(),
		c.Secrets.Validate(c.Production()),
		config.AtLeast("CHECKER_CONCURRENCY", c.Concurrency, 1),
		config.AtLeast("CHECK_MAX_CONNS_PER_DOMAIN", c.MaxConnsPerDomain, 1),
		config.AtLeast("CHECK_MAX_RETRIES", c.MaxRetries, 0),
		config.AtLeast("CHECK_BREAKER_FAILURES", c.BreakerFailures, 1),
		config.AtLeast("CHECK_MAX_REDIRECTS", c.MaxRedirects, 0),
	}
	for name, d := range map[string]time.Duration{
		"CHECKER_JOB_MIN_IDLE_MS": c.JobMinIdle, "CHECK_KEEPALIVE_TIMEOUT_MS": c.IdleTimeout,
		"CHECK_CONNECT_TIMEOUT_MS": c.ConnectTimeout, "CHECK_TIMEOUT_MS": c.AttemptTimeout,
		"CHECK_BACKOFF_BASE_MS": c.BackoffBase, "CHECK_BACKOFF_MAX_MS": c.BackoffMax, "CHECK_BREAKER_DELAY_MS": c.BreakerDelay,
	} {
		errs = append(errs, config.Positive(name, d))
	}
	if _, err := netguard.ParseAllowlist(c.SSRFAllowlist); err != nil {
		errs = append(errs, fmt.Errorf("SSRF_ALLOWLIST: %w", err))
	}
	if _, err := rootCAs(c.ExtraCAFile); err != nil {
		errs = append(errs, fmt.Errorf("CHECK_EXTRA_CA_FILE: %w", err))
	}
	if c.AttemptTimeout > 30*time.Second {
		errs = append(errs, errors.New("CHECK_TIMEOUT_MS: must be at most 30000"))
	}
	return errors.Join(errs...)
}

// rootCAs returns the system roots plus the certificates of the PEM file
// at path, or nil (the system roots) when path is empty.
func rootCAs(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pemCerts, err := os.ReadFile(path) //nolint:gosec // the operator's own file
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, fmt.Errorf("system roots: %w", err)
	}
	if !pool.AppendCertsFromPEM(pemCerts) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
