package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/servercheck/uptime/pkg/netguard"
)

func TestJSONAssert(t *testing.T) {
	t.Parallel()
	const doc = `{"a":{"b":[{"c":1},{"c":2.5}],"s":"1","t":true,"n":null,"big":12345678901234567890,"0":"key"},"arr":[[1,2],[3]]}`
	tests := []struct {
		name    string
		body    string
		path    string
		want    string
		hasWant bool
		ok      bool
	}{
		{"a nested key exists", doc, "a.b.1.c", "", false, true},
		{"a missing key does not exist", doc, "a.x", "", false, false},
		{"an index past the end does not exist", doc, "a.b.2", "", false, false},
		{"a negative index does not exist", doc, "a.b.-1", "", false, false},
		{"an index into an object is a key", doc, "a.0", `"key"`, true, true},
		{"a key into an array does not exist", doc, "a.b.c", "", false, false},
		{"a path through a scalar does not exist", doc, "a.s.x", "", false, false},
		{"nested arrays are indexed", doc, "arr.0.1", "2", true, true},
		{"a leading $. is accepted", doc, "$.a.t", "true", true, true},
		{"1 equals 1.0", doc, "a.b.0.c", "1.0", true, true},
		{"1 equals 1e0", doc, "a.b.0.c", "1e0", true, true},
		{"2.5 differs from 2", doc, "a.b.1.c", "2", true, false},
		{"the string \"1\" differs from 1", doc, "a.s", "1", true, false},
		{"null equals null", doc, "a.n", "null", true, true},
		{"null differs from a missing value", doc, "a.n", `""`, true, false},
		{"big integers compare exactly", doc, "a.big", "12345678901234567890", true, true},
		{"big integers off by one differ", doc, "a.big", "12345678901234567891", true, false},
		{"arrays compare element by element", doc, "arr", "[[1,2.0],[3]]", true, true},
		{"objects compare regardless of key order", doc, "a.b.0", ` { "c" : 1 } `, true, true},
		{"an invalid expected value fails", doc, "a.s", "not json", true, false},
		{"a body with trailing data fails", `{"a":1} {"b":2}`, "a", "", false, false},
		{"a body that is not JSON fails", `<html>`, "a", "", false, false},
		{"a huge exponent does not blow up", `{"a":1e999999999}`, "a", "1", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.ok, jsonAssert([]byte(tt.body), tt.path, tt.want, tt.hasWant))
		})
	}
}

func TestPercentilesFollowTheOldServicesNearestRank(t *testing.T) {
	t.Parallel()
	s := newStats(windowSize)
	for i := 100; i >= 1; i-- {
		s.add(outcomeSuccess, float64(i))
	}
	avg, p95, p99 := s.responseTimes()
	assert.InDelta(t, 50.5, avg, 1e-9)
	assert.InDelta(t, 95, p95, 0)
	assert.InDelta(t, 99, p99, 0)

	empty := newStats(windowSize)
	avg, p95, p99 = empty.responseTimes()
	assert.Zero(t, avg+p95+p99)
}

func TestResponseTimeWindowKeepsOnlyTheLastSamples(t *testing.T) {
	t.Parallel()
	s := newStats(10)
	for range 10 {
		s.add(outcomeFailure, 1000)
	}
	avg, _, _ := s.responseTimes()
	assert.InDelta(t, 1000, avg, 0)
	for range 10 {
		s.add(outcomeSuccess, 10)
	}
	avg, p95, p99 := s.responseTimes()
	assert.InDelta(t, 10, avg, 0)
	assert.InDelta(t, 10, p95+p99-10, 0)
	snap := s.snapshot()
	assert.Equal(t, int64(20), snap.TotalRequests)
	assert.Equal(t, int64(10), snap.FailedRequests)
}

func TestIdlePoolsAreEvicted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.PoolEvictAfter = 10 * time.Minute
		p := New(cfg, netguard.New(nil), nil, slog.New(slog.DiscardHandler))

		busy := p.pools.acquire("http://busy.example", time.Now())
		idle := p.pools.acquire("http://idle.example", time.Now())
		p.pools.release(idle)
		assert.Equal(t, 2, p.pools.len())

		time.Sleep(11 * time.Minute) //nolint:forbidigo // advances the bubble's fake clock
		p.pools.release(p.pools.acquire("http://other.example", time.Now()))

		assert.Equal(t, 2, p.pools.len(), "the idle domain is gone, the busy one stays")
		p.pools.each(func(d *domain) { assert.NotEqual(t, "http://idle.example", d.key) })
		p.pools.release(busy)
	})
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	p := &Prober{cfg: Config{BackoffBase: time.Second, BackoffMax: 10 * time.Second}}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, p.backoff(n))
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}, got)
}

func TestDescribeGivesShortTextsWithoutTheURL(t *testing.T) {
	t.Parallel()
	p := &Prober{cfg: DefaultConfig()}
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "http://x.example/?token=secret", Err: err} }
	tests := []struct {
		name  string
		at    attempt
		want  string
		kind  errKind
		retry bool
	}{
		{"a timed out attempt", attempt{err: wrap(context.DeadlineExceeded), ctxErr: context.DeadlineExceeded}, "timeout after 10s", kindTimeout, true},
		{"a canceled check", attempt{err: wrap(context.Canceled), ctxErr: context.Canceled}, "check canceled", kindNeutral, false},
		{"a DNS failure", attempt{err: wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Name: "x.example", Err: "no such host", IsNotFound: true}})}, "dns lookup failed: x.example: no such host", kindTransport, true},
		{"a refused connection", attempt{err: wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})}, "connection refused", kindTransport, true},
		{"a reset connection", attempt{err: wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)})}, "connection reset by peer", kindTransport, true},
		{"a connect timeout", attempt{err: wrap(&net.OpError{Op: "dial", Err: timeoutErr{}})}, "connect timeout after 5s", kindTimeout, true},
		{"a TLS handshake timeout", attempt{err: wrap(errors.New("net/http: TLS handshake timeout"))}, "tls: handshake timeout after 5s", kindTimeout, true},
		{"a closed connection", attempt{err: wrap(io.EOF)}, "connection closed by server", kindTransport, true},
		{"a redirect loop", attempt{err: wrap(errTooManyRedirects)}, "too many redirects", kindAnswered, false},
		{"an SSRF refusal", attempt{err: wrap(&net.OpError{Op: "dial", Err: fmt.Errorf("wrapped: %w", netguard.New(nil).CheckAddr(netip.MustParseAddr("10.0.0.1")))})}, "forbidden destination: address 10.0.0.1 is not allowed (private range)", kindPermanent, false},
		{"anything else", attempt{err: wrap(errors.New("something odd"))}, "something odd", kindTransport, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, kind := p.describe(tt.at, 10*time.Second)
			assert.Equal(t, tt.want, msg)
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.retry, kind.retryable())
			assert.NotContains(t, msg, "secret")
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
