package main

import (
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/services/notifier/internal/transport"
)

// Config is the notifier's configuration, read from the environment.
type Config struct {
	HTTPPort int `env:"NOTIFIER_HTTP_PORT" default:"9105"`

	// Primary is the first transport tried when both are configured:
	// "ses" or "nodemailer" (SMTP), the seed's names.
	Primary string `env:"SEND_EMAIL_NODEMAILER_SES" default:"ses"`
	// FromEmail is the sender address.
	FromEmail string `env:"AWS_SES_FROM_EMAIL"`

	// SES is on when AWSRegion is set.
	AWSRegion          string `env:"AWS_REGION"`
	AWSAccessKeyID     string `env:"AWS_ACCESS_KEY_ID"`
	AWSSecretAccessKey string `env:"AWS_SECRET_ACCESS_KEY"`
	SESEndpoint        string `env:"AWS_SES_ENDPOINT"`

	// SMTP is on when SMTPHost or GmailUser is set.
	GmailUser     string `env:"GMAIL_APP_USER"`
	GmailPassword string `env:"GMAIL_APP_PASSWORD"`
	SMTPHost      string `env:"SMTP_HOST"`
	SMTPPort      int    `env:"SMTP_PORT" default:"587"`
	SMTPTLS       string `env:"SMTP_TLS" default:"starttls"`
	SMTPFromEmail string `env:"SMTP_FROM_EMAIL"`

	SendTimeout     time.Duration `env:"EMAIL_SEND_TIMEOUT_MS" default:"10000" unit:"ms"`
	Retries         int           `env:"EMAIL_RETRIES" default:"1"`
	RetryDelay      time.Duration `env:"EMAIL_RETRY_DELAY_MS" default:"500" unit:"ms"`
	BreakerFailures int           `env:"EMAIL_BREAKER_FAILURES" default:"5"`
	BreakerDelay    time.Duration `env:"EMAIL_BREAKER_DELAY_MS" default:"30000" unit:"ms"`

	Concurrency  int           `env:"NOTIFIER_CONCURRENCY" default:"16"`
	MinIdle      time.Duration `env:"NOTIFIER_EVENTS_MIN_IDLE_MS" default:"60000" unit:"ms"`
	ClaimTTL     time.Duration `env:"NOTIFIER_CLAIM_TTL_MS" default:"120000" unit:"ms"`
	DrainTimeout time.Duration `env:"NOTIFIER_DRAIN_TIMEOUT_MS" default:"15000" unit:"ms"`

	Log       logging.Config
	Postgres  postgres.Config
	Redis     redisconn.Config
	Lifecycle lifecycle.Config
}

// sesEnabled tells whether SES is configured.
func (c Config) sesEnabled() bool { return c.AWSRegion != "" }

// smtpHost is the SMTP server: SMTP_HOST, or Gmail when only Gmail
// credentials are given; empty when SMTP is off.
func (c Config) smtpHost() string {
	if c.SMTPHost != "" {
		return c.SMTPHost
	}
	if c.GmailUser != "" {
		return "smtp.gmail.com"
	}
	return ""
}

// smtpFrom is the From address of SMTP mail.
func (c Config) smtpFrom() string {
	for _, from := range []string{c.SMTPFromEmail, c.FromEmail, c.GmailUser} {
		if from != "" {
			return from
		}
	}
	return ""
}

// policy is the retry and breaker policy of every provider.
func (c Config) policy() transport.Policy {
	return transport.Policy{
		Timeout: c.SendTimeout, Retries: c.Retries, RetryDelay: c.RetryDelay,
		BreakerFailures: uint(c.BreakerFailures),
		BreakerDelay:    c.BreakerDelay,
	}
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	errs := []error{
		config.Port("NOTIFIER_HTTP_PORT", c.HTTPPort),
		c.Log.Validate(),
		c.Postgres.Validate(),
		c.Redis.Validate(),
		c.Lifecycle.Validate(),
		config.Positive("EMAIL_SEND_TIMEOUT_MS", c.SendTimeout),
		config.Between("EMAIL_RETRIES", c.Retries, 0, 5),
		config.Positive("EMAIL_RETRY_DELAY_MS", c.RetryDelay),
		config.Between("EMAIL_BREAKER_FAILURES", c.BreakerFailures, 1, 1000),
		config.Positive("EMAIL_BREAKER_DELAY_MS", c.BreakerDelay),
		config.Between("NOTIFIER_CONCURRENCY", c.Concurrency, 1, 1000),
		config.Positive("NOTIFIER_EVENTS_MIN_IDLE_MS", c.MinIdle),
		config.Positive("NOTIFIER_CLAIM_TTL_MS", c.ClaimTTL),
		config.Positive("NOTIFIER_DRAIN_TIMEOUT_MS", c.DrainTimeout),
	}
	switch c.Primary {
	case "ses", "nodemailer":
	default:
		errs = append(errs, fmt.Errorf("SEND_EMAIL_NODEMAILER_SES: must be ses or nodemailer, got %q", c.Primary))
	}
	if !c.sesEnabled() && c.smtpHost() == "" {
		errs = append(errs, errors.New("no email transport: set AWS_REGION (and AWS_SES_FROM_EMAIL) for SES, or SMTP_HOST or GMAIL_APP_USER/GMAIL_APP_PASSWORD for SMTP"))
	}
	if c.sesEnabled() {
		errs = append(errs, address("AWS_SES_FROM_EMAIL", c.FromEmail, true))
		if (c.AWSAccessKeyID == "") != (c.AWSSecretAccessKey == "") {
			errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both or neither"))
		}
	}
	if c.smtpHost() != "" {
		errs = append(errs, config.Port("SMTP_PORT", c.SMTPPort))
		switch c.SMTPTLS {
		case transport.TLSStartTLS, transport.TLSImplicit, transport.TLSNone:
		default:
			errs = append(errs, fmt.Errorf("SMTP_TLS: must be starttls, tls or none, got %q", c.SMTPTLS))
		}
		if c.smtpFrom() == "" {
			errs = append(errs, errors.New("SMTP_FROM_EMAIL: is required for SMTP (or AWS_SES_FROM_EMAIL or GMAIL_APP_USER)"))
		} else {
			errs = append(errs, address("SMTP_FROM_EMAIL", c.smtpFrom(), true))
		}
		if c.GmailUser != "" && c.GmailPassword == "" {
			errs = append(errs, errors.New("GMAIL_APP_PASSWORD: is required with GMAIL_APP_USER"))
		}
	}
	if c.DrainTimeout >= c.Lifecycle.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("NOTIFIER_DRAIN_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS (%s), got %s",
			c.Lifecycle.ShutdownTimeout, c.DrainTimeout))
	}
	// A claim must outlive the longest send, or a second replica could
	// take over an email that is still being sent.
	longest := time.Duration(2*(c.Retries+1))*c.SendTimeout + time.Duration(2*c.Retries)*8*c.RetryDelay
	if c.ClaimTTL <= longest {
		errs = append(errs, fmt.Errorf("NOTIFIER_CLAIM_TTL_MS: must exceed the longest send (%s with these EMAIL_* settings), got %s", longest, c.ClaimTTL))
	}
	return errors.Join(errs...)
}

func address(name, value string, required bool) error {
	if value == "" {
		if required {
			return fmt.Errorf("%s: is required", name)
		}
		return nil
	}
	if _, err := mail.ParseAddress(value); err != nil {
		return fmt.Errorf("%s: not an email address: %q", name, value)
	}
	return nil
}
