// Package probe runs one check of a monitor. HTTP (Check): per-domain
// connection pools, per-attempt timeouts, retries with exponential backoff
// on transport errors, a per-domain circuit breaker, status/text/JSON
// assertions and timings. SSL (CheckSSL, ssl.go): a verified TLS handshake
// and the certificate's expiry. It knows nothing of Redis or streams; the
// worker feeds it requests and publishes its results.
//
// Every connection is dialed through a netguard.Guard, so the SSRF check
// runs at dial time for the first request, every redirect hop and every
// DNS answer (rebinding), and the transports never use a proxy.
package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servercheck/uptime/pkg/netguard"
)

// DefaultMaxResponseBytes is the body limit of a request that sets none.
const DefaultMaxResponseBytes int64 = 1 << 20

// DefaultUserAgent is sent unless Config.UserAgent or a request header
// overrides it; it is the old service's, so targets' allowlists keep working.
const DefaultUserAgent = "Server-Check-App/2.0"

// Config tunes the prober. Start from DefaultConfig: New fills zero
// durations and counts with the defaults, but KeepAlive and MaxRetries are
// taken as given because false and 0 are meaningful (off, no retries).
type Config struct {
	// MaxConnsPerDomain bounds the connections (and idle ones kept) per
	// scheme+host+port; checks beyond it wait for a connection within their
	// attempt timeout.
	MaxConnsPerDomain int
	// KeepAlive reuses connections; off gives honest connect/TLS timings on
	// every check at the cost of a handshake each time.
	KeepAlive bool
	// IdleTimeout closes pooled connections idle this long.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the TCP connect and, separately, the TLS handshake.
	ConnectTimeout time.Duration
	// AttemptTimeout bounds one attempt (connect to end of body) when the
	// request sets no Timeout.
	AttemptTimeout time.Duration
	// MaxRetries is how many attempts may follow a failed first one.
	MaxRetries int
	// BackoffBase is the wait before the first retry; it doubles per retry.
	BackoffBase time.Duration
	// BackoffMax caps one backoff wait.
	BackoffMax time.Duration
	// BreakerFailures consecutive failed checks of a domain open its breaker.
	BreakerFailures int
	// BreakerDelay is how long a breaker stays open before a half-open trial.
	BreakerDelay time.Duration
	// MaxRedirects is the most redirect hops a check follows.
	MaxRedirects int
	// UserAgent is sent unless the request sets its own User-Agent header.
	UserAgent string
	// PoolEvictAfter drops a domain's pool (closing its idle connections)
	// and breaker once no check used it for this long, so a checker that
	// has seen 100k domains does not keep 100k transports.
	PoolEvictAfter time.Duration
	// RootCAs replaces the system roots when set (tests, private CAs).
	RootCAs *x509.CertPool
}

// DefaultConfig returns the defaults of DESIGN.md section 5.
func DefaultConfig() Config {
	return Config{
		MaxConnsPerDomain: 100,
		KeepAlive:         true,
		IdleTimeout:       60 * time.Second,
		ConnectTimeout:    5 * time.Second,
		AttemptTimeout:    10 * time.Second,
		MaxRetries:        3,
		BackoffBase:       time.Second,
		BackoffMax:        10 * time.Second,
		BreakerFailures:   5,
		BreakerDelay:      30 * time.Second,
		MaxRedirects:      5,
		UserAgent:         DefaultUserAgent,
		PoolEvictAfter:    10 * time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.MaxConnsPerDomain, d.MaxConnsPerDomain)
	setInt(&c.BreakerFailures, d.BreakerFailures)
	setInt(&c.MaxRedirects, d.MaxRedirects)
	setDur(&c.IdleTimeout, d.IdleTimeout)
	setDur(&c.ConnectTimeout, d.ConnectTimeout)
	setDur(&c.AttemptTimeout, d.AttemptTimeout)
	setDur(&c.BackoffBase, d.BackoffBase)
	setDur(&c.BackoffMax, d.BackoffMax)
	setDur(&c.BreakerDelay, d.BreakerDelay)
	setDur(&c.PoolEvictAfter, d.PoolEvictAfter)
	c.MaxRetries = max(c.MaxRetries, 0)
	if c.UserAgent == "" {
		c.UserAgent = d.UserAgent
	}
	return c
}

// Request is one check of one monitor.
type Request struct {
	MonitorID string
	URL       string
	// Method defaults to GET.
	Method string
	// Headers are sent as given; a Host entry sets the Host header. They may
	// hold secrets and are never logged.
	Headers map[string]string
	Body    []byte
	// ExpectedStatusCodes lists the accepted statuses; empty means any 2xx.
	ExpectedStatusCodes []int
	// ExpectedText must occur in the body when set.
	ExpectedText string
	// ExpectedJSONPath ("a.b.0.c": object keys and array indexes) must
	// exist in the JSON body when set, and equal ExpectedJSONValue when
	// HasExpectedJSONValue.
	ExpectedJSONPath string
	// ExpectedJSONValue is raw JSON ("1", "\"1\"", "{...}"), compared
	// JSON-equal: "1" and 1 differ, 1 and 1.0 are equal.
	ExpectedJSONValue    string
	HasExpectedJSONValue bool
	// Timeout bounds each attempt; zero means Config.AttemptTimeout.
	Timeout time.Duration
	// MaxResponseBytes limits the body read; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// FollowRedirects follows up to Config.MaxRedirects hops; off, a 3xx is
	// judged by the status rules.
	FollowRedirects bool
	// Deadline, when set, ends the whole check, retries included: no retry
	// starts unless its backoff and a full attempt fit before it, and the
	// last attempt is cut at it.
	Deadline time.Time
	// AlertBeforeDays is the certificate alert period of a check over
	// TLS: a passing check whose certificate expires within it carries a
	// warning. Zero means DefaultAlertBeforeDays.
	AlertBeforeDays int
}

// Result is the outcome of one check.
type Result struct {
	Success bool
	// StatusCode of the final response; 0 when none arrived.
	StatusCode int
	// Error says why the check failed; empty on success.
	Error string
	// Attempts sent (0 when the breaker refused or the URL was invalid).
	Attempts int
	// DNS, Connect, TLS and FirstByte are the phases of the last attempt's
	// last hop; zero when the phase did not happen (reused connection, IP
	// literal). FirstByte runs from asking for a connection to the first
	// response byte (time to first byte, connection set-up included).
	DNS, Connect, TLS, FirstByte time.Duration
	// Total is the wall time of the whole check, retries and backoff included.
	Total time.Duration
	// ConnectionReused tells whether the last hop ran on a pooled connection.
	ConnectionReused bool
	// CertificateExpiresAt is the leaf certificate's NotAfter when the final
	// response came over TLS.
	CertificateExpiresAt *time.Time
	// BreakerOpen marks a check refused by the domain's open circuit breaker.
	BreakerOpen bool
	// Warning is a concern that does not fail the check, e.g. "Certificate
	// expires in 9 days"; empty when none.
	Warning string
	// CertificateExpiring tells that Warning is about the certificate: the
	// check passed and CertificateExpiresAt is within the alert period.
	CertificateExpiring bool
}

// Prober runs checks. It is safe for concurrent use.
type Prober struct {
	cfg       Config
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig *tls.Config
	pools     *pools
	follow    *http.Client
	noFollow  *http.Client
	stats     *stats
	metrics   *metrics
	logger    *slog.Logger
	active    atomic.Int64
}

// errTooManyRedirects is returned by CheckRedirect past Config.MaxRedirects.
var errTooManyRedirects = errors.New("too many redirects")

// New returns a Prober dialing through guard. reg receives the
// uptime_checker_* metrics; a nil reg registers nothing.
func New(cfg Config, guard *netguard.Guard, reg prometheus.Registerer, logger *slog.Logger) *Prober {
	cfg = cfg.withDefaults()
	p := &Prober{
		cfg:  cfg,
		dial: guard.Dialer(cfg.ConnectTimeout).DialContext,
		tlsConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    cfg.RootCAs,
		},
		stats:  newStats(windowSize),
		logger: logger.With("component", "probe"),
	}
	p.pools = newPools(p)
	p.metrics = newMetrics(reg, p)
	rt := router{p: p}
	p.follow = &http.Client{
		Transport: rt,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return errTooManyRedirects
			}
			return nil
		},
	}
	p.noFollow = &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return p
}

// CloseIdleConnections closes the idle connections of every pool; call it
// on shutdown.
func (p *Prober) CloseIdleConnections() {
	p.pools.closeIdle()
}

// Check runs one check: it returns when the check is judged, the request's
// Deadline passes or ctx ends, whichever is first. A check cut short by ctx
// fails with "check canceled" and does not count towards the breaker.
func (p *Prober) Check(ctx context.Context, req Request) Result {
	start := time.Now()
	target, err := parseTarget(req.URL)
	if err == nil {
		err = validate(req)
	}
	if err != nil {
		res := Result{Error: err.Error(), Total: time.Since(start)}
		p.record(res, outcomeFailure)
		return res
	}
	d := p.pools.acquire(originOf(target), start)
	defer p.pools.release(d)

	if !d.breaker.TryAcquirePermit() {
		res := Result{BreakerOpen: true, Error: "circuit open: " + d.lastError(), Total: time.Since(start)}
		p.record(res, outcomeBreakerOpen)
		p.logger.DebugContext(ctx, "probe_breaker_open", "monitor_id", req.MonitorID, "domain", d.key)
		return res
	}

	p.active.Add(1)
	p.metrics.inflight.Inc()
	res, kind := p.run(ctx, target, req, start)
	p.metrics.inflight.Dec()
	p.active.Add(-1)

	switch kind {
	case kindNone, kindAnswered:
		// The domain answered: whatever the assertions say, it is reachable,
		// so another monitor of the same domain must not be failed fast.
		d.breaker.RecordSuccess()
	case kindNeutral:
		// Not the target's fault. Only a half-open trial must report back,
		// or its permit would never be released and the breaker would stay
		// half-open, refusing every check.
		if d.breaker.IsHalfOpen() {
			d.breaker.RecordFailure()
		}
	default:
		d.setLastError(res.Error)
		d.breaker.RecordFailure()
	}

	outcome := outcomeOf(res, kind)
	p.record(res, outcome)
	p.logger.DebugContext(ctx, "probe_finished", "monitor_id", req.MonitorID, "domain", d.key,
		"outcome", outcome, "status_code", res.StatusCode, "attempts", res.Attempts, "reason", res.Error)
	return res
}

// run sends the attempts and judges the last response.
func (p *Prober) run(ctx context.Context, target *url.URL, req Request, start time.Time) (Result, errKind) {
	var (
		res  Result
		at   attempt
		kind errKind
	)
	attempts, stopped := p.attempts(ctx, req.Timeout, req.Deadline, func(timeout time.Duration) errKind {
		at = p.attempt(ctx, target, req, timeout)
		kind = kindNone
		res.Error = ""
		if at.err != nil {
			res.Error, kind = p.describe(at, timeout)
		}
		return kind
	})
	res.Attempts = attempts
	if stopped != "" {
		res.Error, kind = stopped, kindNeutral
	}

	res.StatusCode = at.status
	res.DNS, res.Connect, res.TLS, res.FirstByte = at.timings.dns, at.timings.connect, at.timings.tls, at.timings.firstByte
	res.ConnectionReused = at.timings.reused
	res.CertificateExpiresAt = at.certExpiry
	if at.err == nil && kind == kindNone && res.Attempts > 0 {
		if msg := judge(req, at); msg != "" {
			res.Error = msg
			kind = kindAnswered
		} else {
			res.Success = true
		}
	}
	if res.Success && res.CertificateExpiresAt != nil {
		res.Warning, res.CertificateExpiring = certificateWarning(*res.CertificateExpiresAt, time.Now(), req.AlertBeforeDays)
	}
	res.Total = time.Since(start)
	return res, kind
}

// attempts calls try until its kind is not retryable or the retries are
// used up, waiting backoff(n) before retry n and giving each try the
// request's timeout (the prober's by default) cut to the deadline, the
// earlier of deadline and ctx's. A retry that could not finish before the
// deadline (the monitor's next slot) is not started. It returns the tries
// made and, when it stopped without a try to judge, why: the check was
// canceled while waiting, or the deadline had passed before the first try.
func (p *Prober) attempts(ctx context.Context, timeout time.Duration, deadline time.Time, try func(timeout time.Duration) errKind) (int, string) {
	if timeout <= 0 {
		timeout = p.cfg.AttemptTimeout
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	for n := 0; ; n++ {
		if n > 0 {
			wait := p.backoff(n)
			if !deadline.IsZero() && time.Now().Add(wait+timeout).After(deadline) {
				return n, ""
			}
			if !sleep(ctx, wait) {
				return n, "check canceled"
			}
		}
		attemptTimeout := timeout
		if !deadline.IsZero() {
			attemptTimeout = min(attemptTimeout, time.Until(deadline))
			if attemptTimeout <= 0 {
				if n == 0 {
					return 0, "check deadline passed before the first attempt"
				}
				return n, ""
			}
		}
		if kind := try(attemptTimeout); !kind.retryable() || n >= p.cfg.MaxRetries {
			return n + 1, ""
		}
	}
}

// outcomeOf is the metrics outcome of a finished check.
func outcomeOf(res Result, kind errKind) string {
	switch {
	case res.Success:
		return outcomeSuccess
	case kind == kindTimeout:
		return outcomeTimeout
	default:
		return outcomeFailure
	}
}

// backoff is the wait before retry n (1-based): base·2^(n-1), capped.
func (p *Prober) backoff(n int) time.Duration {
	wait := p.cfg.BackoffBase
	for i := 1; i < n && wait < p.cfg.BackoffMax; i++ {
		wait *= 2
	}
	return min(wait, p.cfg.BackoffMax)
}

// sleep waits d unless ctx ends first; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt is what one attempt observed.
type attempt struct {
	status     int
	body       []byte // read only when an assertion needs it
	truncated  bool   // the body went past the limit
	timings    timings
	certExpiry *time.Time
	err        error
	ctxErr     error // the attempt context's error when err is set
}

func (p *Prober) attempt(ctx context.Context, target *url.URL, req Request, timeout time.Duration) attempt {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &tracer{}
	ctx = httptrace.WithClientTrace(ctx, tr.clientTrace())

	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body) // NewRequest sets GetBody, so 307/308 hops resend it
	}
	hr, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return attempt{err: &requestError{err}}
	}
	hr.Header.Set("User-Agent", p.cfg.UserAgent)
	hr.Header.Set("Accept", "*/*")
	for k, v := range req.Headers {
		if strings.EqualFold(k, "Host") {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}

	client := p.noFollow
	if req.FollowRedirects {
		client = p.follow
	}
	resp, err := client.Do(hr)
	if err != nil {
		return attempt{err: err, ctxErr: ctx.Err(), timings: tr.result()}
	}
	defer func() { _ = resp.Body.Close() }()

	limit := req.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	at := attempt{status: resp.StatusCode}
	lr := io.LimitReader(resp.Body, limit+1)
	if needsBody(req) {
		at.body, err = io.ReadAll(lr)
		if int64(len(at.body)) > limit {
			at.body, at.truncated = at.body[:limit], true
		}
	} else {
		// Read (not keep) up to the limit so a small body leaves the
		// connection reusable; past the limit the rest is dropped with it.
		var n int64
		n, err = io.Copy(io.Discard, lr)
		at.truncated = n > limit
	}
	if err != nil {
		at.err, at.ctxErr = err, ctx.Err()
	}
	at.timings = tr.result()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		exp := resp.TLS.PeerCertificates[0].NotAfter
		at.certExpiry = &exp
	}
	return at
}

// parseTarget accepts absolute http and https URLs with a host.
func parseTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the URL, which may carry a token
		}
		return nil, fmt.Errorf("invalid url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("invalid url: scheme must be http or https")
	}
	if u.Host == "" {
		return nil, errors.New("invalid url: missing host")
	}
	return u, nil
}

// originOf is the pool and breaker key: scheme://host[:port], lower case.
func originOf(u *url.URL) string {
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// validate refuses a method or header that net/http would refuse only after
// the breaker had handed out its permit.
func validate(req Request) error {
	if req.Method != "" && !isToken(req.Method) {
		return fmt.Errorf("invalid request: method %q", req.Method)
	}
	for k, v := range req.Headers {
		if !isToken(k) {
			return fmt.Errorf("invalid request: header name %q", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("invalid request: header %s has a control character", k)
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}
