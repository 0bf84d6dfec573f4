package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/httpserver"
)

func up(context.Context) error { return nil }

func down(msg string) httpserver.CheckFunc {
	return func(context.Context) error { return errors.New(msg) }
}

// takes is a context-aware check that answers after d, or gives up with the
// context's error when that ends first.
func takes(d time.Duration) httpserver.CheckFunc {
	return func(ctx context.Context) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// serve sends one request through a mux with every endpoint registered.
func serve(t *testing.T, h *httpserver.Health, gatherer prometheus.Gatherer, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	httpserver.Register(mux, h, gatherer)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, path, nil))
	return rec
}

func decodeReport(t *testing.T, rec *httptest.ResponseRecorder) httpserver.Report {
	t.Helper()
	var rep httpserver.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep), "body: %s", rec.Body.String())
	return rep
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	type check struct {
		name string
		fn   httpserver.CheckFunc
	}
	tests := []struct {
		name         string
		checks       []check
		shuttingDown bool
		wantCode     int
		want         httpserver.Report
	}{
		{
			name:     "with no checks the service is ready",
			wantCode: http.StatusOK,
			want:     httpserver.Report{Status: "ok", Checks: map[string]httpserver.CheckResult{}},
		},
		{
			name:     "with every dependency up the service is ready",
			checks:   []check{{"postgres", up}, {"redis", up}},
			wantCode: http.StatusOK,
			want: httpserver.Report{Status: "ok", Checks: map[string]httpserver.CheckResult{
				"postgres": {Status: "up"}, "redis": {Status: "up"},
			}},
		},
		{
			name:     "a failing check makes the service unready and names its error",
			checks:   []check{{"postgres", up}, {"redis", down("dial tcp 127.0.0.1:6379: connection refused")}},
			wantCode: http.StatusServiceUnavailable,
			want: httpserver.Report{Status: "error", Checks: map[string]httpserver.CheckResult{
				"postgres": {Status: "up"},
				"redis":    {Status: "down", Error: "dial tcp 127.0.0.1:6379: connection refused"},
			}},
		},
		{
			name:     "every failing check is reported",
			checks:   []check{{"postgres", down("pg gone")}, {"redis", down("redis gone")}},
			wantCode: http.StatusServiceUnavailable,
			want: httpserver.Report{Status: "error", Checks: map[string]httpserver.CheckResult{
				"postgres": {Status: "down", Error: "pg gone"},
				"redis":    {Status: "down", Error: "redis gone"},
			}},
		},
		{
			name:         "shutting down makes the service unready even with every check up",
			checks:       []check{{"postgres", up}},
			shuttingDown: true,
			wantCode:     http.StatusServiceUnavailable,
			want: httpserver.Report{Status: "shutting_down", Checks: map[string]httpserver.CheckResult{
				"postgres": {Status: "up"},
			}},
		},
		{
			name:         "shutting down takes precedence over a failing check",
			checks:       []check{{"postgres", down("pg gone")}},
			shuttingDown: true,
			wantCode:     http.StatusServiceUnavailable,
			want: httpserver.Report{Status: "shutting_down", Checks: map[string]httpserver.CheckResult{
				"postgres": {Status: "down", Error: "pg gone"},
			}},
		},
		{
			name:     "adding a check twice replaces the first one",
			checks:   []check{{"postgres", down("first")}, {"postgres", up}},
			wantCode: http.StatusOK,
			want: httpserver.Report{Status: "ok", Checks: map[string]httpserver.CheckResult{
				"postgres": {Status: "up"},
			}},
		},
	}
	for _, tt := range tests {
		for _, path := range []string{"/health/readiness", "/health"} {
			t.Run(tt.name+" on "+path, func(t *testing.T) {
				t.Parallel()
				h := httpserver.NewHealth(time.Second)
				for _, c := range tt.checks {
					h.Add(c.name, c.fn)
				}
				if tt.shuttingDown {
					h.SetShuttingDown()
				}

				rec := serve(t, h, prometheus.NewRegistry(), http.MethodGet, path)

				require.Equal(t, tt.wantCode, rec.Code)
				assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
				assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
				assert.Equal(t, tt.want, decodeReport(t, rec))

				rep, ready := h.Check(t.Context())
				assert.Equal(t, tt.wantCode == http.StatusOK, ready)
				assert.Equal(t, tt.want, rep)
			})
		}
	}
}

func TestReadinessOmitsTheErrorOfAnUpCheck(t *testing.T) {
	t.Parallel()
	h := httpserver.NewHealth(time.Second)
	h.Add("postgres", up)
	h.Add("redis", down("refused"))

	rec := serve(t, h, prometheus.NewRegistry(), http.MethodGet, "/health/readiness")

	var raw struct {
		Checks map[string]map[string]any `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	assert.Equal(t, map[string]any{"status": "up"}, raw.Checks["postgres"])
	assert.Equal(t, map[string]any{"status": "down", "error": "refused"}, raw.Checks["redis"])
}

func TestLiveness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		check        httpserver.CheckFunc
		shuttingDown bool
	}{
		{name: "liveness is ok when every dependency is up", check: up},
		{name: "liveness is ok when a dependency is down", check: down("pg gone")},
		{name: "liveness is ok while shutting down", check: up, shuttingDown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := httpserver.NewHealth(time.Second)
			called := false
			h.Add("postgres", func(ctx context.Context) error {
				called = true
				return tt.check(ctx)
			})
			if tt.shuttingDown {
				h.SetShuttingDown()
			}

			rec := serve(t, h, prometheus.NewRegistry(), http.MethodGet, "/health/liveness")

			require.Equal(t, http.StatusOK, rec.Code)
			assert.JSONEq(t, `{"status":"ok"}`, rec.Body.String())
			assert.False(t, called, "liveness must not depend on dependencies")
		})
	}
}

func TestHealthRunsChecksConcurrentlyWithinTheTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		checks      map[string]time.Duration
		wantElapsed time.Duration
		wantReady   bool
		wantDown    []string
	}{
		{
			name:        "three checks of 1.5s each finish together within a 2s timeout",
			checks:      map[string]time.Duration{"postgres": 1500 * time.Millisecond, "redis": 1500 * time.Millisecond, "smtp": 1500 * time.Millisecond},
			wantElapsed: 1500 * time.Millisecond,
			wantReady:   true,
		},
		{
			name:        "a check slower than the timeout is down and the others are up",
			checks:      map[string]time.Duration{"postgres": 100 * time.Millisecond, "redis": time.Minute},
			wantElapsed: 2 * time.Second,
			wantReady:   false,
			wantDown:    []string{"redis"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := httpserver.NewHealth(2 * time.Second)
				for name, d := range tt.checks {
					h.Add(name, takes(d))
				}
				start := time.Now()

				rep, ready := h.Check(t.Context())

				assert.Equal(t, tt.wantElapsed, time.Since(start))
				assert.Equal(t, tt.wantReady, ready)
				for name := range tt.checks {
					res := rep.Checks[name]
					if contains(tt.wantDown, name) {
						assert.Equal(t, "down", res.Status, name)
						assert.Equal(t, context.DeadlineExceeded.Error(), res.Error, name)
					} else {
						assert.Equal(t, httpserver.CheckResult{Status: "up"}, res, name)
					}
				}
			})
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestHealthDefaultsToATwoSecondTimeout(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, -time.Second} {
		t.Run(fmt.Sprintf("a timeout of %s becomes 2s", timeout), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := httpserver.NewHealth(timeout)
				h.Add("slow", takes(time.Hour))
				start := time.Now()

				_, ready := h.Check(t.Context())

				assert.False(t, ready)
				assert.Equal(t, 2*time.Second, time.Since(start))
			})
		})
	}
}

func TestHealthPassesTheRequestContextToChecks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := httpserver.NewHealth(time.Minute)
		h.Add("postgres", takes(time.Hour))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()

		rep, ready := h.Check(ctx)

		assert.False(t, ready)
		assert.Equal(t, time.Second, time.Since(start), "the caller's deadline applies when it is shorter")
		assert.Equal(t, "down", rep.Checks["postgres"].Status)
	})
}

func TestHealthAllowsAddingChecksWhileChecking(t *testing.T) {
	t.Parallel()
	h := httpserver.NewHealth(time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { h.Add(fmt.Sprintf("dep%d", i), up) })
		wg.Go(func() { _, _ = h.Check(t.Context()) })
	}
	wg.Wait()

	rep, ready := h.Check(t.Context())

	assert.True(t, ready)
	assert.Len(t, rep.Checks, 20)
}

func TestHealthEndpointsRefuseOtherMethods(t *testing.T) {
	t.Parallel()
	h := httpserver.NewHealth(time.Second)
	for _, path := range []string{"/health", "/health/readiness", "/health/liveness", "/metrics"} {
		t.Run("POST "+path+" is not allowed", func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, prometheus.NewRegistry(), http.MethodPost, path)
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		})
	}
}

func TestMetricsServesTheGivenRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "uptime_test_requests_total", Help: "Requests seen by the test.",
	}).Add(3)

	rec := serve(t, httpserver.NewHealth(time.Second), reg, http.MethodGet, "/metrics")

	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, "uptime_test_requests_total 3")
	assert.NotContains(t, body, "go_goroutines", "only the injected registry is served, not the global one")
}

func TestNewRegistryHasRuntimeAndProcessMetrics(t *testing.T) {
	t.Parallel()
	reg := httpserver.NewRegistry()

	rec := serve(t, httpserver.NewHealth(time.Second), reg, http.MethodGet, "/metrics")

	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, "go_goroutines ")
	assert.Contains(t, body, "go_memstats_alloc_bytes ")
	assert.Contains(t, body, "process_start_time_seconds ")

	// Each call returns a fresh registry, so services never share state.
	other := httpserver.NewRegistry()
	promauto.With(other).NewCounter(prometheus.CounterOpts{Name: "uptime_only_here_total", Help: "x"})
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		assert.False(t, strings.HasPrefix(f.GetName(), "uptime_only_here"), "registries must be independent")
	}
}
