// Package lifecycle runs a service's long-lived components together: the
// first one to fail stops the others, and shutdown is bounded in time.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Component is anything long-lived. Run blocks until ctx ends or the
// component fails, and returns only after every goroutine it started ended.
// Returning nil before ctx ends is treated as a failure: components are not
// expected to finish on their own.
type Component interface {
	Run(ctx context.Context) error
}

// ComponentFunc adapts a function to Component.
type ComponentFunc func(ctx context.Context) error

// Run calls f.
func (f ComponentFunc) Run(ctx context.Context) error { return f(ctx) }

// Named pairs a component with the name used in logs and errors.
type Named struct {
	Name      string
	Component Component
}

// ErrShutdownTimeout is returned when components did not stop within the
// shutdown timeout.
var ErrShutdownTimeout = errors.New("components did not stop in time")

// errStoppedEarly marks a component that returned nil while ctx was live.
var errStoppedEarly = errors.New("stopped unexpectedly")

// Run starts every component and waits. When ctx ends (SIGTERM) or any
// component returns, the shared context is cancelled and the others get
// shutdownTimeout to return. The result joins every component's failure;
// it is nil when ctx ended and all components stopped cleanly in time.
func Run(ctx context.Context, logger *slog.Logger, shutdownTimeout time.Duration, components ...Named) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		name string
		err  error
	}
	done := make(chan result, len(components))
	for _, c := range components {
		go func() {
			err := c.Component.Run(runCtx)
			switch {
			case runCtx.Err() == nil && err == nil:
				err = errStoppedEarly
			case runCtx.Err() == nil && errors.Is(err, context.Canceled):
				// Cancelled by something other than shutdown: a failure.
				err = fmt.Errorf("%w: %w", errStoppedEarly, err)
			case runCtx.Err() != nil && errors.Is(err, context.Canceled):
				err = nil
			}
			done <- result{name: c.Name, err: err}
		}()
	}

	var errs []error
	remaining := len(components)
	record := func(r result) {
		remaining--
		if r.err != nil {
			// Returned, not logged: main reports it once.
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
			logger.Info("component_stopped", "component", r.name, "failed", true)
			return
		}
		logger.Info("component_stopped", "component", r.name)
	}

	select {
	case <-ctx.Done():
		logger.Info("shutdown_requested")
	case r := <-done:
		record(r)
	}
	cancel()

	timer := time.NewTimer(shutdownTimeout)
	defer timer.Stop()
	for remaining > 0 {
		select {
		case r := <-done:
			record(r)
		case <-timer.C:
			errs = append(errs, fmt.Errorf("%d component(s): %w after %s", remaining, ErrShutdownTimeout, shutdownTimeout))
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// Config holds the shutdown settings every service shares.
type Config struct {
	// ShutdownTimeout bounds the whole graceful shutdown; keep it below the
	// pod's termination grace period.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT_MS" default:"25000" unit:"ms"`
	// DrainDelay keeps serving with readiness 503 before closing listeners.
	DrainDelay time.Duration `env:"SHUTDOWN_DRAIN_DELAY_MS" default:"0" unit:"ms"`
}

// Validate reports negative or inconsistent durations.
func (c Config) Validate() error {
	var errs []error
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT_MS: must be positive"))
	}
	if c.DrainDelay < 0 || c.DrainDelay >= c.ShutdownTimeout {
		errs = append(errs, errors.New("SHUTDOWN_DRAIN_DELAY_MS: must be at least 0 and below SHUTDOWN_TIMEOUT_MS"))
	}
	return errors.Join(errs...)
}
