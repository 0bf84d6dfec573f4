// Package httpserver serves a service's operational endpoints (/health,
// /health/liveness, /health/readiness, /metrics) and, for the api, its
// routes, as a lifecycle component with graceful shutdown.
package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CheckFunc reports whether a dependency is usable; a nil error means up.
type CheckFunc func(ctx context.Context) error

// Health aggregates readiness checks and the shutting-down flag.
type Health struct {
	mu           sync.RWMutex
	names        []string
	checks       map[string]CheckFunc
	shuttingDown atomic.Bool
	timeout      time.Duration
}

// NewHealth returns an empty Health whose checks each get timeout to answer.
func NewHealth(timeout time.Duration) *Health {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Health{checks: map[string]CheckFunc{}, timeout: timeout}
}

// Add registers a readiness check under name (e.g. "postgres", "redis").
func (h *Health) Add(name string, fn CheckFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.checks[name]; !ok {
		h.names = append(h.names, name)
	}
	h.checks[name] = fn
}

// SetShuttingDown makes readiness answer 503 from now on.
func (h *Health) SetShuttingDown() { h.shuttingDown.Store(true) }

// CheckResult is one dependency's state in a readiness answer.
type CheckResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Report is the body of /health/readiness.
type Report struct {
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// Check runs every registered check concurrently and reports the result.
// Ready is false while shutting down or when any dependency is down.
func (h *Health) Check(ctx context.Context) (Report, bool) {
	h.mu.RLock()
	names := append([]string(nil), h.names...)
	checks := make([]CheckFunc, len(names))
	for i, n := range names {
		checks[i] = h.checks[n]
	}
	h.mu.RUnlock()

	// Checks get the timeout; the collection waits a little longer so that
	// a context-aware check reports its own error, and no longer.
	hardCtx, cancelHard := context.WithTimeout(ctx, h.timeout+100*time.Millisecond)
	defer cancelHard()
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	// Each check reports on a buffered channel, so one that ignores its
	// context cannot hold readiness past the timeout.
	type answer struct {
		i   int
		res CheckResult
	}
	answers := make(chan answer, len(names))
	for i, fn := range checks {
		go func() {
			if err := fn(ctx); err != nil {
				answers <- answer{i, CheckResult{Status: "down", Error: err.Error()}}
				return
			}
			answers <- answer{i, CheckResult{Status: "up"}}
		}()
	}
	results := make([]CheckResult, len(names))
	for i := range results {
		results[i] = CheckResult{Status: "down", Error: "no answer within " + h.timeout.String()}
	}
collect:
	for range names {
		select {
		case a := <-answers:
			results[a.i] = a.res
		case <-hardCtx.Done():
			break collect
		}
	}

	rep := Report{Status: "ok", Checks: make(map[string]CheckResult, len(names))}
	ready := true
	for i, n := range names {
		rep.Checks[n] = results[i]
		if results[i].Status != "up" {
			ready = false
			rep.Status = "error"
		}
	}
	if h.shuttingDown.Load() {
		ready = false
		rep.Status = "shutting_down"
	}
	return rep, ready
}

func (h *Health) liveness(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Health) readiness(w http.ResponseWriter, r *http.Request) {
	rep, ready := h.Check(r.Context())
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Register mounts /health, /health/liveness, /health/readiness and /metrics
// on mux. /health answers like readiness.
func Register(mux *http.ServeMux, h *Health, gatherer prometheus.Gatherer) {
	mux.HandleFunc("GET /health/liveness", h.liveness)
	mux.HandleFunc("GET /health/readiness", h.readiness)
	mux.HandleFunc("GET /health", h.readiness)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, to be passed to every component that registers metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
