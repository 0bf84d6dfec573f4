package main

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/secretbox"
)

// Config is the api's configuration, read from the environment.
type Config struct {
	Port int `env:"PORT" default:"4000"`
	// Env is the seed's NODE_ENV: production turns on HSTS, forbids the
	// development issuer and requires MONITOR_SECRETS_KEY.
	Env string `env:"NODE_ENV" default:"development"`
	// CognitoIssuer must equal the iss claim exactly; its JWKS is fetched
	// from <issuer>/.well-known/jwks.json.
	CognitoIssuer   string `env:"COGNITO_ISSUER" required:"true"`
	CognitoClientID string `env:"COGNITO_CLIENT_ID" required:"true"`
	// DevIssuer makes the api trust tokens signed with DevIssuerKeyFile
	// (minted by `make token`) instead of the issuer's JWKS. Never in
	// production.
	DevIssuer        bool   `env:"DEV_ISSUER_ENABLED" default:"false"`
	DevIssuerKeyFile string `env:"DEV_ISSUER_KEY_FILE" default:".local/dev/dev-issuer.pem"`
	// AdminEmails are made ADMIN when they sign in.
	AdminEmails []string `env:"ADMIN_EMAILS"`
	// FrontendURL is the CORS origin of the web front end.
	FrontendURL  string   `env:"MY_URL_FRONTEND" default:"http://localhost:3000"`
	ExtraOrigins []string `env:"CORS_EXTRA_ORIGINS"`
	// RateLimit is per client IP.
	RateLimitPerSecond float64 `env:"RATE_LIMIT_PER_SECOND" default:"20"`
	RateLimitBurst     int     `env:"RATE_LIMIT_BURST" default:"120"`
	// SSRFAllowlist lists CIDRs monitors may target although private.
	SSRFAllowlist string `env:"SSRF_ALLOWLIST"`
	// TrustedProxies are the CIDRs (or IPs) of the proxies whose
	// X-Forwarded-For gives the client address (the Ingress controller);
	// empty trusts none, so a client cannot pick its own rate-limit key.
	TrustedProxies []string `env:"TRUSTED_PROXIES"`
	// RawLogRetentionDays is how long raw ping logs are kept; longer
	// health windows come from hourly rollups.
	RawLogRetentionDays int `env:"RAW_LOG_RETENTION_DAYS" default:"30"`
	// PublicURL is the api's base URL as monitored systems reach it; the
	// heartbeat URL shown when a HEARTBEAT monitor is created starts with
	// it. Empty: the scheme and host of that create request.
	PublicURL string `env:"PUBLIC_API_URL"`

	// Secrets seals monitors' header values and body (MONITOR_SECRETS_KEY,
	// required in production; the checker holds the same keys).
	Secrets secretbox.Config

	Log       logging.Config
	Postgres  postgres.Config
	Redis     redisconn.Config
	Lifecycle lifecycle.Config
}

// Production reports whether NODE_ENV is production.
func (c Config) Production() bool { return strings.EqualFold(c.Env, "production") }

// Validate reports every invalid setting.
func (c Config) Validate() error {
	errs := []error{
		config.Port("PORT", c.Port),
		c.Log.Validate(), c.Postgres.Validate(), c.Redis.Validate(), c.Lifecycle.Validate(),
		c.Secrets.Validate(c.Production()),
	}
	if c.CognitoIssuer != "" {
		if u, err := url.Parse(c.CognitoIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("COGNITO_ISSUER: must be an http(s) URL"))
		} else if c.Production() && u.Scheme != "https" {
			errs = append(errs, errors.New("COGNITO_ISSUER: must use https when NODE_ENV=production"))
		}
	}
	if c.DevIssuer && c.Production() {
		errs = append(errs, errors.New("DEV_ISSUER_ENABLED: must be false when NODE_ENV=production"))
	}
	if c.DevIssuer && c.DevIssuerKeyFile == "" {
		errs = append(errs, errors.New("DEV_ISSUER_KEY_FILE: is required when DEV_ISSUER_ENABLED=true"))
	}
	for _, o := range append([]string{c.FrontendURL}, c.ExtraOrigins...) {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("MY_URL_FRONTEND/CORS_EXTRA_ORIGINS: %q must be an origin such as https://app.example.com", o))
		}
	}
	for _, e := range c.AdminEmails {
		if !strings.Contains(e, "@") {
			errs = append(errs, fmt.Errorf("ADMIN_EMAILS: %q is not an email", e))
		}
	}
	if c.RateLimitPerSecond <= 0 {
		errs = append(errs, errors.New("RATE_LIMIT_PER_SECOND: must be positive"))
	}
	if c.RateLimitBurst < 1 {
		errs = append(errs, errors.New("RATE_LIMIT_BURST: must be at least 1"))
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is neither an IP nor a CIDR", p))
			}
		}
	}
	if _, err := netguard.ParseAllowlist(c.SSRFAllowlist); err != nil {
		errs = append(errs, fmt.Errorf("SSRF_ALLOWLIST: %w", err))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("PUBLIC_API_URL: %q must be an http(s) URL such as https://api.example.com", c.PublicURL))
		}
	}
	if c.RawLogRetentionDays < 1 || c.RawLogRetentionDays > 3650 {
		errs = append(errs, fmt.Errorf("RAW_LOG_RETENTION_DAYS: must be 1..3650, got %d", c.RawLogRetentionDays))
	}
	return errors.Join(errs...)
}

// corsOrigins is the front end's origin plus extra ones; outside
// production the usual local development ports are allowed too.
func (c Config) corsOrigins() []string {
	origins := append([]string{strings.TrimRight(c.FrontendURL, "/")}, c.ExtraOrigins...)
	if !c.Production() {
		for _, p := range []string{"3000", "3001", "3002", "4000", "4200", "5173"} {
			origins = append(origins, "http://localhost:"+p)
		}
	}
	return origins
}
