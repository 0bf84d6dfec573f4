package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/httpserver"
)

// These tests use real loopback sockets, so synctest does not apply; they
// synchronise on what the server answers, never on sleeps.

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// client opens a new connection per request, so that a closed listener shows
// up as a refused connection rather than a reused idle one.
func client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
}

func get(t *testing.T, url string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := client().Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

type running struct {
	srv    *httpserver.Server
	health *httpserver.Health
	base   string
	cancel context.CancelFunc
	done   chan error
}

// startServer builds a server on a free loopback port with handler mounted
// next to the health endpoints, runs it, and makes sure it stopped when the
// test ends.
func startServer(t *testing.T, opts httpserver.Options, extra func(*http.ServeMux)) *running {
	t.Helper()
	health := httpserver.NewHealth(time.Second)
	mux := http.NewServeMux()
	httpserver.Register(mux, health, prometheus.NewRegistry())
	if extra != nil {
		extra(mux)
	}
	srv, err := httpserver.New("127.0.0.1:0", mux, health, discard(), opts)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	r := &running{srv: srv, health: health, base: "http://" + srv.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			// Some tests make Run fail on purpose and checked it already.
			t.Logf("Run returned: %v", err)
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	return r
}

// wait returns Run's error, failing the test when Run takes longer than 10s.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // let the cleanup see it too
		return err
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Run did not return within 10s")
		return nil
	}
}

func requireRefused(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = conn.Close()
	}
	require.Error(t, err, "the port must be closed after Run returned")
}

func TestNewBindsALoopbackPort(t *testing.T) {
	t.Parallel()
	r := startServer(t, httpserver.Options{}, nil)

	addr, ok := r.srv.Addr().(*net.TCPAddr)
	require.True(t, ok)
	assert.True(t, addr.IP.IsLoopback())
	assert.NotZero(t, addr.Port, "port 0 is replaced by the bound port")

	code, err := get(t, r.base+"/health/readiness")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
}

func TestNewRefusesAnAddressItCannotBind(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })

	tests := []struct {
		name string
		addr string
	}{
		{name: "a port already in use is refused with the address named", addr: taken.Addr().String()},
		{name: "a malformed port is refused with the address named", addr: "127.0.0.1:http-please"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := httpserver.New(tt.addr, http.NewServeMux(), httpserver.NewHealth(time.Second), discard(), httpserver.Options{})
			require.Error(t, err)
			assert.Nil(t, srv)
			assert.Contains(t, err.Error(), tt.addr)
		})
	}
}

func TestRunServesUntilCancelledAndClosesThePort(t *testing.T) {
	t.Parallel()
	r := startServer(t, httpserver.Options{ShutdownTimeout: 5 * time.Second}, nil)

	for _, path := range []string{"/health/liveness", "/health/readiness", "/metrics"} {
		code, err := get(t, r.base+path)
		require.NoError(t, err, path)
		require.Equal(t, http.StatusOK, code, path)
	}

	r.cancel()
	require.NoError(t, r.wait(t))

	requireRefused(t, r.srv.Addr().String())
	rep, ready := r.health.Check(t.Context())
	assert.False(t, ready)
	assert.Equal(t, "shutting_down", rep.Status)
}

func TestRunTurnsReadinessTo503DuringTheDrainDelay(t *testing.T) {
	t.Parallel()
	const drain = 500 * time.Millisecond
	r := startServer(t, httpserver.Options{ShutdownTimeout: 5 * time.Second, DrainDelay: drain}, nil)

	code, err := get(t, r.base+"/health/readiness")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "ready before shutdown")

	r.cancel()
	cancelledAt := time.Now()

	// Poll until readiness turns 503. The listener must still answer during
	// the drain delay: a refused connection here means it closed too early.
	for {
		code, err := get(t, r.base+"/health/readiness")
		require.NoError(t, err, "the server stopped serving before readiness turned 503")
		if code == http.StatusServiceUnavailable {
			break
		}
		require.Equal(t, http.StatusOK, code)
		require.Less(t, time.Since(cancelledAt), drain, "readiness did not turn 503 within the drain delay")
	}
	code, err = get(t, r.base+"/health/liveness")
	require.NoError(t, err, "liveness still answers during the drain")
	assert.Equal(t, http.StatusOK, code)

	require.NoError(t, r.wait(t))
	assert.GreaterOrEqual(t, time.Since(cancelledAt), drain, "Run waited for the drain delay")
	requireRefused(t, r.srv.Addr().String())
}

func TestRunLetsAnInFlightRequestFinish(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	r := startServer(t, httpserver.Options{ShutdownTimeout: 10 * time.Second}, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "finished")
		})
	})

	type answer struct {
		code int
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, r.base+"/slow", nil)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		resp, err := client().Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{code: resp.StatusCode, body: string(b), err: err}
	}()
	<-entered

	r.cancel()
	require.Eventually(t, func() bool {
		_, ready := r.health.Check(t.Context())
		return !ready
	}, 5*time.Second, time.Millisecond, "shutdown began")
	require.Empty(t, r.done, "Run must wait for the in-flight request")
	close(release)

	a := <-answered
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "finished", a.body)
	require.NoError(t, r.wait(t))
}

func TestRunReportsAShutdownThatTakesTooLong(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	const timeout = 200 * time.Millisecond
	r := startServer(t, httpserver.Options{ShutdownTimeout: timeout}, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /stuck", func(http.ResponseWriter, *http.Request) {
			close(entered)
			<-release
		})
	})
	t.Cleanup(func() { close(release) })

	go func() {
		// The answer does not matter: the connection is cut at shutdown.
		resp, err := client().Get(r.base + "/stuck")
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-entered

	r.cancel()
	cancelledAt := time.Now()
	err := r.wait(t)

	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "shutdown http")
	assert.GreaterOrEqual(t, time.Since(cancelledAt), timeout)
}

func TestRunWithAnAlreadyCancelledContextClosesThePort(t *testing.T) {
	t.Parallel()
	srv, err := httpserver.New("127.0.0.1:0", http.NewServeMux(), httpserver.NewHealth(time.Second), discard(), httpserver.Options{DrainDelay: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Run did not return within 10s")
	}
	requireRefused(t, srv.Addr().String())
}
