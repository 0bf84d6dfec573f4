// Package logging builds the structured slog logger every service uses.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Config selects the level and format of a service's logs.
type Config struct {
	Level  string `env:"LOG_LEVEL" default:"info"`
	Format string `env:"LOG_FORMAT" default:"json"`
}

// Validate reports a level or format that New would refuse.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseLevel(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if f := strings.ToLower(c.Format); f != "json" && f != "text" && f != "" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: must be json or text, got %q", c.Format))
	}
	return errors.Join(errs...)
}

// New returns a logger writing to w in the configured format, tagged with the
// service name.
func New(w io.Writer, cfg Config, service string) (*slog.Logger, error) {
	level, err := parseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(cfg.Format) {
	case "json", "":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("LOG_FORMAT: must be json or text, got %q", cfg.Format)
	}
	return slog.New(h).With("service", service), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}
