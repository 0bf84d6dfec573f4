package probe_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/services/checker/internal/probe"
)

// guard allows the given allowlist (e.g. "127.0.0.0/8,::1").
func guard(t testing.TB, allowlist string) *netguard.Guard {
	t.Helper()
	allow, err := netguard.ParseAllowlist(allowlist)
	require.NoError(t, err)
	return netguard.New(allow)
}

// testConfig is DefaultConfig with waits short enough for tests.
func testConfig() probe.Config {
	cfg := probe.DefaultConfig()
	cfg.BackoffBase = 10 * time.Millisecond
	cfg.BackoffMax = 100 * time.Millisecond
	cfg.AttemptTimeout = 5 * time.Second
	return cfg
}

func newProber(t testing.TB, cfg probe.Config, g *netguard.Guard) (*probe.Prober, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p := probe.New(cfg, g, reg, slog.New(slog.DiscardHandler))
	t.Cleanup(p.CloseIdleConnections)
	return p, reg
}

// server starts a loopback HTTP server counting the requests it gets.
func server(t testing.TB, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// refusedURL returns an http URL on a loopback port nobody listens on.
func refusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/"
}

// probesTotal reads uptime_checker_probes_total{outcome}.
func probesTotal(t testing.TB, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "uptime_checker_probes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestCheckSucceedsOn2xxWithTimingsAndReusesTheKeptAliveConnection(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	p, reg := newProber(t, testConfig(), guard(t, "127.0.0.0/8,::1"))
	// A host name, so the lookup is timed too.
	target := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	first := p.Check(t.Context(), probe.Request{URL: target})
	require.True(t, first.Success, first.Error)
	assert.Equal(t, 200, first.StatusCode)
	assert.Empty(t, first.Error)
	assert.Equal(t, 1, first.Attempts)
	assert.False(t, first.ConnectionReused)
	assert.Positive(t, first.DNS)
	assert.Positive(t, first.Connect)
	assert.Zero(t, first.TLS)
	assert.Positive(t, first.FirstByte)
	assert.GreaterOrEqual(t, first.Total, first.FirstByte)
	assert.Nil(t, first.CertificateExpiresAt)

	second := p.Check(t.Context(), probe.Request{URL: target})
	require.True(t, second.Success, second.Error)
	assert.True(t, second.ConnectionReused)
	assert.Zero(t, second.DNS)
	assert.Zero(t, second.Connect)
	assert.Positive(t, second.FirstByte)

	assert.Equal(t, int64(2), hits.Load())
	assert.InDelta(t, 2, probesTotal(t, reg, "success"), 0)
}

func TestCheckWithoutKeepAliveConnectsEveryTime(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	cfg := testConfig()
	cfg.KeepAlive = false
	p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	for range 2 {
		res := p.Check(t.Context(), probe.Request{URL: srv.URL})
		require.True(t, res.Success, res.Error)
		assert.False(t, res.ConnectionReused)
		assert.Positive(t, res.Connect)
	}
}

func TestCheckJudgesStatusThenSizeThenTextThenJSON(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"status":"down"}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello world")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"a":{"b":[{"c":1}],"s":"1","ok":true,"n":null}}`)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 2000))
	})
	srv, hits := server(t, mux.ServeHTTP)
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))

	tests := []struct {
		name    string
		req     probe.Request
		wantErr string // "" means success
	}{
		{"a 503 fails with its status code", probe.Request{URL: "/status/503"}, "Unexpected status code: 503"},
		{"a 404 fails by default", probe.Request{URL: "/status/404"}, "Unexpected status code: 404"},
		{"a 503 passes when it is an expected status", probe.Request{URL: "/status/503", ExpectedStatusCodes: []int{503}}, ""},
		{"a 200 fails when only 201 is expected", probe.Request{URL: "/text", ExpectedStatusCodes: []int{201}}, "Unexpected status code: 200"},
		{"present text passes", probe.Request{URL: "/text", ExpectedText: "world"}, ""},
		{"absent text fails", probe.Request{URL: "/text", ExpectedText: "planet"}, "Expected text was not found"},
		{"the status is reported before the text", probe.Request{URL: "/status/500", ExpectedText: "planet"}, "Unexpected status code: 500"},
		{"the text is reported before the JSON", probe.Request{URL: "/json", ExpectedText: "planet", ExpectedJSONPath: "a.missing"}, "Expected text was not found"},
		{"an existing JSON path passes", probe.Request{URL: "/json", ExpectedJSONPath: "a.b.0.c"}, ""},
		{"a JSON null still exists", probe.Request{URL: "/json", ExpectedJSONPath: "a.n"}, ""},
		{"a missing JSON path fails", probe.Request{URL: "/json", ExpectedJSONPath: "a.b.1.c"}, "Expected JSON assertion failed"},
		{"1.0 equals the number 1", probe.Request{URL: "/json", ExpectedJSONPath: "a.b.0.c", ExpectedJSONValue: "1.0", HasExpectedJSONValue: true}, ""},
		{"the number 1 differs from the string \"1\"", probe.Request{URL: "/json", ExpectedJSONPath: "a.s", ExpectedJSONValue: "1", HasExpectedJSONValue: true}, "Expected JSON assertion failed"},
		{"the string \"1\" matches", probe.Request{URL: "/json", ExpectedJSONPath: "a.s", ExpectedJSONValue: `"1"`, HasExpectedJSONValue: true}, ""},
		{"an object compares by value", probe.Request{URL: "/json", ExpectedJSONPath: "a.b.0", ExpectedJSONValue: `{"c":1e0}`, HasExpectedJSONValue: true}, ""},
		{"a body that is not JSON fails the JSON assertion", probe.Request{URL: "/text", ExpectedJSONPath: "a"}, "Expected JSON assertion failed"},
		{"a body over the limit fails a text assertion", probe.Request{URL: "/big", ExpectedText: "x", MaxResponseBytes: 1000}, "Response exceeds configured size limit"},
		{"a body at the limit passes", probe.Request{URL: "/big", ExpectedText: "x", MaxResponseBytes: 2000}, ""},
		{"a body over the limit without body assertions passes", probe.Request{URL: "/big", MaxResponseBytes: 1000}, ""},
		{"the status is reported before the size", probe.Request{URL: "/status/502", ExpectedText: "x", MaxResponseBytes: 5}, "Unexpected status code: 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			req := tt.req
			req.URL = srv.URL + req.URL
			res := p.Check(t.Context(), req)
			assert.Equal(t, tt.wantErr == "", res.Success)
			assert.Equal(t, tt.wantErr, res.Error)
			assert.Equal(t, 1, res.Attempts, "HTTP answers are never retried")
			assert.Equal(t, int64(1), hits.Load()-before)
		})
	}
}

func TestCheckSendsMethodHeadersAndBody(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPut:
			http.Error(w, "method "+r.Method, http.StatusBadRequest)
		case r.Header.Get("X-Api-Key") != "s3cret" || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "headers", http.StatusBadRequest)
		case r.Header.Get("User-Agent") != probe.DefaultUserAgent:
			http.Error(w, "user agent "+r.Header.Get("User-Agent"), http.StatusBadRequest)
		case r.Host != "status.example":
			http.Error(w, "host "+r.Host, http.StatusBadRequest)
		case string(body) != `{"ping":1}`:
			http.Error(w, "body "+string(body), http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))

	res := p.Check(t.Context(), probe.Request{
		URL:     srv.URL,
		Method:  "put",
		Headers: map[string]string{"X-Api-Key": "s3cret", "Content-Type": "application/json", "Host": "status.example"},
		Body:    []byte(`{"ping":1}`),
	})
	assert.True(t, res.Success, res.Error)
	assert.Equal(t, http.StatusAccepted, res.StatusCode)
}

func TestCheckRefusesMalformedRequestsWithoutSendingThem(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, func(http.ResponseWriter, *http.Request) {})
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))

	for _, req := range []probe.Request{
		{URL: "ftp://example.com/"},
		{URL: "http://"},
		{URL: srv.URL, Method: "GET /x"},
		{URL: srv.URL, Headers: map[string]string{"X-Bad": "a\r\nInjected: 1"}},
	} {
		res := p.Check(t.Context(), req)
		assert.False(t, res.Success)
		assert.True(t, strings.HasPrefix(res.Error, "invalid "), res.Error)
		assert.Zero(t, res.Attempts)
	}
	assert.Zero(t, hits.Load())
}

func TestCheckFollowsRedirectsUpToTheLimit(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n == 0 {
			_, _ = io.WriteString(w, "landed")
			return
		}
		http.Redirect(w, r, "/r/"+strconv.Itoa(n-1), http.StatusFound)
	})
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))

	tests := []struct {
		name     string
		req      probe.Request
		wantErr  string
		wantCode int
	}{
		{"five hops are followed", probe.Request{URL: "/r/5", FollowRedirects: true, ExpectedText: "landed"}, "", 200},
		{"a sixth hop is refused", probe.Request{URL: "/r/6", FollowRedirects: true}, "too many redirects", 0},
		{"without following, a 302 is judged as a status", probe.Request{URL: "/r/1"}, "Unexpected status code: 302", 302},
		{"without following, an expected 302 passes", probe.Request{URL: "/r/1", ExpectedStatusCodes: []int{302}}, "", 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.URL = srv.URL + req.URL
			res := p.Check(t.Context(), req)
			assert.Equal(t, tt.wantErr, res.Error)
			assert.Equal(t, tt.wantErr == "", res.Success)
			assert.Equal(t, tt.wantCode, res.StatusCode)
			assert.Equal(t, 1, res.Attempts)
		})
	}
}

func TestCheckRetriesARefusedConnectionWithExponentialBackoff(t *testing.T) {
	t.Parallel()
	target := refusedURL(t)
	synctest.Test(t, func(t *testing.T) {
		p, reg := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))

		start := time.Now()
		res := p.Check(t.Context(), probe.Request{URL: target})

		assert.False(t, res.Success)
		assert.Equal(t, "connection refused", res.Error)
		assert.Equal(t, 4, res.Attempts)
		// 10 + 20 + 40 ms of backoff on the bubble's clock; refusals take none.
		assert.Equal(t, 70*time.Millisecond, time.Since(start))
		assert.Equal(t, 70*time.Millisecond, res.Total)
		assert.InDelta(t, 1, probesTotal(t, reg, "failure"), 0)
	})
}

func TestCheckBackoffIsCappedAtBackoffMax(t *testing.T) {
	t.Parallel()
	target := refusedURL(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRetries = 5
		cfg.BackoffMax = 30 * time.Millisecond
		p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

		res := p.Check(t.Context(), probe.Request{URL: target})

		assert.Equal(t, 6, res.Attempts)
		assert.Equal(t, (10+20+30+30+30)*time.Millisecond, res.Total)
	})
}

func TestCheckStopsRetryingWhenTheNextAttemptCannotEndBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	target := refusedURL(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.AttemptTimeout = 20 * time.Millisecond
		p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

		// Attempts at 0 and 10 ms; the one at 30 ms still fits (ends by 50);
		// a fourth would start at 70 ms.
		res := p.Check(t.Context(), probe.Request{URL: target, Deadline: time.Now().Add(50 * time.Millisecond)})

		assert.Equal(t, "connection refused", res.Error)
		assert.Equal(t, 3, res.Attempts)
		assert.Equal(t, 30*time.Millisecond, res.Total)
	})
}

func TestCheckEndsItsBackoffWhenTheContextIsCanceled(t *testing.T) {
	t.Parallel()
	target := refusedURL(t)
	synctest.Test(t, func(t *testing.T) {
		p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(15*time.Millisecond, cancel) // during the second backoff

		res := p.Check(ctx, probe.Request{URL: target})

		assert.Equal(t, "check canceled", res.Error)
		assert.Equal(t, 2, res.Attempts)
		assert.Equal(t, 15*time.Millisecond, res.Total)
	})
}

func TestCheckTimesOutASlowAttempt(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, hits := server(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := testConfig()
	cfg.AttemptTimeout = 100 * time.Millisecond
	cfg.MaxRetries = 0
	p, reg := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	res := p.Check(t.Context(), probe.Request{URL: srv.URL})
	assert.False(t, res.Success)
	assert.Equal(t, "timeout after 100ms", res.Error)
	assert.Equal(t, 1, res.Attempts)
	assert.GreaterOrEqual(t, res.Total, 100*time.Millisecond)

	res = p.Check(t.Context(), probe.Request{URL: srv.URL, Timeout: 50 * time.Millisecond})
	assert.Equal(t, "timeout after 50ms", res.Error)

	assert.Equal(t, int64(2), hits.Load())
	assert.InDelta(t, 2, probesTotal(t, reg, "timeout"), 0)
	assert.Equal(t, int64(2), p.Stats().TimeoutRequests)
}

func TestCheckRetriesATimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, hits := server(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := testConfig()
	cfg.AttemptTimeout = 30 * time.Millisecond
	cfg.MaxRetries = 2
	cfg.BackoffBase = time.Millisecond
	p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	res := p.Check(t.Context(), probe.Request{URL: srv.URL})
	assert.Equal(t, "timeout after 30ms", res.Error)
	assert.Equal(t, 3, res.Attempts)
	assert.Equal(t, int64(3), hits.Load())
}

// flakyServer drops connections without answering until healthy is set.
func flakyServer(t testing.TB) (*httptest.Server, *atomic.Int64, *atomic.Bool) {
	t.Helper()
	var healthy atomic.Bool
	srv, hits := server(t, func(w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	return srv, hits, &healthy
}

func TestBreakerOpensAfterFiveFailedChecksFailsFastAndClosesAfterASuccessfulTrial(t *testing.T) {
	t.Parallel()
	srv, hits, healthy := flakyServer(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.KeepAlive = false // no idle connection may outlive the bubble
		cfg.MaxRetries = 0
		cfg.BreakerDelay = 30 * time.Second
		p, reg := newProber(t, cfg, guard(t, "127.0.0.0/8"))
		req := probe.Request{URL: srv.URL + "/health"}

		for range 5 {
			res := p.Check(t.Context(), req)
			require.Equal(t, "connection closed by server", res.Error)
			require.False(t, res.BreakerOpen)
		}
		require.Equal(t, int64(5), hits.Load())

		res := p.Check(t.Context(), probe.Request{URL: srv.URL + "/other-path"})
		assert.False(t, res.Success)
		assert.True(t, res.BreakerOpen)
		assert.Equal(t, "circuit open: connection closed by server", res.Error)
		assert.Zero(t, res.Attempts)
		assert.Equal(t, int64(5), hits.Load(), "no request while the breaker is open")
		assert.InDelta(t, 1, probesTotal(t, reg, "breaker_open"), 0)
		stats := p.Stats()
		assert.Equal(t, int64(1), stats.CircuitBreakerOpen)
		require.Len(t, stats.Pools, 1)
		assert.Equal(t, probe.PoolInfo{Domain: srv.URL, BreakerState: "open"}, stats.Pools[0])

		healthy.Store(true)
		time.Sleep(cfg.BreakerDelay - time.Millisecond) //nolint:forbidigo // advances the bubble's fake clock
		res = p.Check(t.Context(), req)
		assert.True(t, res.BreakerOpen, "still open just before the delay")

		time.Sleep(time.Millisecond) //nolint:forbidigo // advances the bubble's fake clock
		res = p.Check(t.Context(), req)
		assert.True(t, res.Success, res.Error)
		assert.Equal(t, int64(6), hits.Load())
		assert.Equal(t, "closed", p.Stats().Pools[0].BreakerState)
	})
}

func TestBreakerReopensWhenTheHalfOpenTrialFails(t *testing.T) {
	t.Parallel()
	srv, hits, _ := flakyServer(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.KeepAlive = false
		cfg.MaxRetries = 0
		cfg.BreakerFailures = 2
		cfg.BreakerDelay = time.Second
		p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))
		req := probe.Request{URL: srv.URL}

		p.Check(t.Context(), req)
		p.Check(t.Context(), req)
		require.True(t, p.Check(t.Context(), req).BreakerOpen)

		time.Sleep(cfg.BreakerDelay) //nolint:forbidigo // advances the bubble's fake clock
		trial := p.Check(t.Context(), req)
		assert.False(t, trial.BreakerOpen)
		assert.Equal(t, "connection closed by server", trial.Error)
		assert.True(t, p.Check(t.Context(), req).BreakerOpen, "a failed trial reopens the breaker")
		assert.Equal(t, int64(3), hits.Load())
	})
}

func TestBreakerIgnoresAnsweredFailuresOfOtherPaths(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	})
	cfg := testConfig()
	cfg.BreakerFailures = 2
	p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	for range 5 {
		res := p.Check(t.Context(), probe.Request{URL: srv.URL + "/missing"})
		require.Equal(t, "Unexpected status code: 404", res.Error)
	}
	res := p.Check(t.Context(), probe.Request{URL: srv.URL + "/"})
	assert.True(t, res.Success, res.Error)
}

func TestCheckRefusesForbiddenDestinationsAtDialTime(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, func(http.ResponseWriter, *http.Request) {})
	p, _ := newProber(t, testConfig(), netguard.New(nil))

	res := p.Check(t.Context(), probe.Request{URL: srv.URL})

	assert.False(t, res.Success)
	assert.Equal(t, "forbidden destination: address 127.0.0.1 is not allowed (loopback range)", res.Error)
	assert.Equal(t, 1, res.Attempts, "a refusal is not retried")
	assert.Zero(t, hits.Load())
}

func TestCheckRefusesARedirectToAForbiddenAddress(t *testing.T) {
	t.Parallel()
	internal, internalHits := server(t, func(http.ResponseWriter, *http.Request) {})
	// The "public" server listens on 127.0.0.2, the only allowed address.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	public := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
	}))
	public.Listener = ln
	public.Start()
	t.Cleanup(public.Close)
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.2/32"))

	res := p.Check(t.Context(), probe.Request{URL: public.URL, FollowRedirects: true})

	assert.False(t, res.Success)
	assert.Equal(t, "forbidden destination: address 127.0.0.1 is not allowed (loopback range)", res.Error)
	assert.Zero(t, internalHits.Load())
}

func tlsServer(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case logs handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckOverTLSRecordsTheCertificateExpiry(t *testing.T) {
	t.Parallel()
	srv := tlsServer(t)
	cfg := testConfig()
	cfg.RootCAs = x509.NewCertPool()
	cfg.RootCAs.AddCert(srv.Certificate())
	p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	res := p.Check(t.Context(), probe.Request{URL: srv.URL, ExpectedText: "secure"})

	require.True(t, res.Success, res.Error)
	require.NotNil(t, res.CertificateExpiresAt)
	assert.True(t, srv.Certificate().NotAfter.Equal(*res.CertificateExpiresAt))
	assert.Positive(t, res.TLS)
}

func TestCheckRejectsAnUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv := tlsServer(t)
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))

	res := p.Check(t.Context(), probe.Request{URL: srv.URL})

	assert.False(t, res.Success)
	assert.True(t, strings.HasPrefix(res.Error, "tls: "), res.Error)
	assert.Contains(t, res.Error, "certificate signed by unknown authority")
	assert.Equal(t, 1, res.Attempts, "a rejected certificate is not retried")
}

func TestStatsCountChecksAndReportResponseTimesInCamelCase(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	p, _ := newProber(t, testConfig(), guard(t, "127.0.0.0/8"))
	for _, path := range []string{"/", "/", "/down"} {
		p.Check(t.Context(), probe.Request{URL: srv.URL + path})
	}

	stats := p.Stats()
	assert.Equal(t, int64(3), stats.TotalRequests)
	assert.Equal(t, int64(2), stats.SuccessfulRequests)
	assert.Equal(t, int64(1), stats.FailedRequests)
	assert.Zero(t, stats.ActiveRequests)
	assert.Positive(t, stats.AverageResponseTime)
	assert.GreaterOrEqual(t, stats.P99ResponseTime, stats.P95ResponseTime)
	assert.Equal(t, 1, stats.PoolCount)

	raw, err := json.Marshal(stats)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(raw, &fields))
	for _, key := range []string{"activeRequests", "totalRequests", "successfulRequests", "failedRequests",
		"timeoutRequests", "circuitBreakerOpen", "averageResponseTime", "p95ResponseTime", "p99ResponseTime", "pools"} {
		assert.Contains(t, fields, key)
	}
	assert.Equal(t, []any{map[string]any{"domain": srv.URL, "active": 0.0, "breakerState": "closed"}}, fields["pools"])
}

func BenchmarkCheckLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	p := probe.New(probe.DefaultConfig(), guard(b, "127.0.0.0/8"), nil, slog.New(slog.DiscardHandler))
	b.Cleanup(p.CloseIdleConnections)
	req := probe.Request{URL: srv.URL, ExpectedText: "ok"}

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := p.Check(b.Context(), req); !res.Success {
				b.Errorf("check failed: %s", res.Error)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
