package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options tune a Server.
type Options struct {
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// DrainDelay keeps serving after readiness turned 503, so that load
	// balancers stop sending traffic before the listener closes.
	DrainDelay time.Duration
}

// Server is an HTTP server component. Its listener is bound by New, so a
// port conflict is reported at start-up rather than later.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	health *Health
	logger *slog.Logger
	opts   Options
}

// New binds addr (e.g. ":4000", "127.0.0.1:0") and returns a server for handler.
func New(addr string, handler http.Handler, health *Health, logger *slog.Logger, opts Options) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	return &Server{
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
		ln:     ln,
		health: health,
		logger: logger.With("component", "http_server"),
		opts:   opts,
	}, nil
}

// Addr is the bound address (useful when New was given port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then turns readiness to 503, waits the drain
// delay and shuts down, giving in-flight requests ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	errCh := make(chan error, 1)
	go func() {
		s.logger.Info("http_listening", "addr", s.ln.Addr().String())
		errCh <- s.srv.Serve(s.ln)
	}()
	select {
	case err := <-errCh:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	s.health.SetShuttingDown()
	if s.opts.DrainDelay > 0 {
		t := time.NewTimer(s.opts.DrainDelay)
		select {
		case <-t.C:
		case err := <-errCh:
			t.Stop()
			return fmt.Errorf("serve http: %w", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown http: %w", err)
	}
	if err := <-errCh; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}
