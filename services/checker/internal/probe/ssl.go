package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DefaultAlertBeforeDays is the certificate alert period of a monitor that
// sets none.
const DefaultAlertBeforeDays = 30

// StatusCertificateInvalid is the status code of an SSL check whose
// certificate was received but refused (nginx's "SSL Certificate Error",
// as the replaced service recorded it).
const StatusCertificateInvalid = 495

// Texts of SSL check results (docs/architecture.md, "SSL monitors").
const (
	errSSLNeedsHTTPS    = "SSL monitors require HTTPS"
	errHandshakeTimeout = "TLS handshake timeout"
)

// SSLRequest is one certificate check of an SSL monitor.
type SSLRequest struct {
	MonitorID string
	// URL must be https; its host (port 443 unless given) is dialed, sent
	// as SNI and verified against the certificate.
	URL string
	// Timeout bounds one attempt, connect and handshake together; zero
	// means Config.AttemptTimeout.
	Timeout time.Duration
	// Deadline, when set, ends the whole check, retries included.
	Deadline time.Time
	// AlertBeforeDays is the alert period: a valid certificate expiring
	// within it passes with a warning. Zero means DefaultAlertBeforeDays.
	AlertBeforeDays int
}

// CheckSSL runs one certificate check: a TLS handshake with SNI and full
// verification (chain to Config.RootCAs or the system roots, host name,
// validity period). It passes iff the certificate verifies; the leaf's
// expiry is recorded whenever a certificate was received, and a passing
// certificate within the alert period carries a warning. Transport errors
// and timeouts are retried like HTTP checks; a refused certificate is not.
// SSL checks have no circuit breaker: each is one handshake per period.
func (p *Prober) CheckSSL(ctx context.Context, req SSLRequest) Result {
	start := time.Now()
	target, err := parseTarget(req.URL)
	if err == nil && target.Scheme != "https" {
		err = errors.New(errSSLNeedsHTTPS)
	}
	if err != nil {
		res := Result{Error: err.Error(), Total: time.Since(start)}
		p.record(res, outcomeFailure)
		return res
	}
	host, port := target.Hostname(), target.Port()
	if port == "" {
		port = "443"
	}
	addr := net.JoinHostPort(host, port)

	p.active.Add(1)
	p.metrics.inflight.Inc()
	res, kind := p.runSSL(ctx, addr, host, req)
	p.metrics.inflight.Dec()
	p.active.Add(-1)

	res.Total = time.Since(start)
	if res.Success {
		res.Warning, res.CertificateExpiring = certificateWarning(*res.CertificateExpiresAt, time.Now(), req.AlertBeforeDays)
	}
	outcome := outcomeOf(res, kind)
	p.record(res, outcome)
	p.logger.DebugContext(ctx, "probe_ssl_finished", "monitor_id", req.MonitorID, "addr", addr,
		"outcome", outcome, "attempts", res.Attempts, "reason", res.Error)
	return res
}

// runSSL sends the attempts, retrying transport errors and timeouts while
// a full attempt still fits before the deadline.
func (p *Prober) runSSL(ctx context.Context, addr, host string, req SSLRequest) (Result, errKind) {
	var (
		res  Result
		kind errKind
	)
	attempts, stopped := p.attempts(ctx, req.Timeout, req.Deadline, func(timeout time.Duration) errKind {
		res, kind = p.handshake(ctx, addr, host, timeout)
		return kind
	})
	if stopped != "" {
		return Result{Error: stopped, Attempts: attempts}, kindNeutral
	}
	res.Attempts = attempts
	return res, kind
}

// handshake is one attempt: connect through the guard, then the TLS
// handshake, whose verification is crypto/tls's own (the one every HTTPS
// client applies).
func (p *Prober) handshake(ctx context.Context, addr, host string, timeout time.Duration) (Result, errKind) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res Result
	began := time.Now()
	raw, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Result{Error: errHandshakeTimeout}, kindTimeout
		}
		msg, kind := p.describe(attempt{err: err, ctxErr: ctx.Err()}, timeout)
		return Result{Error: msg}, kind
	}
	defer func() { _ = raw.Close() }()
	res.Connect = time.Since(began)

	// ServerName is the host: crypto/tls sends it as SNI (not for an IP
	// literal, as RFC 6066 says) and verifies the certificate against it.
	conn := tls.Client(raw, &tls.Config{
		ServerName: strings.TrimSuffix(host, "."),
		RootCAs:    p.cfg.RootCAs,
		MinVersion: tls.VersionTLS12,
	})
	tlsStart := time.Now()
	err = conn.HandshakeContext(ctx)
	res.TLS = time.Since(tlsStart)
	if err == nil {
		leaf := conn.ConnectionState().PeerCertificates[0]
		exp := leaf.NotAfter
		res.CertificateExpiresAt = &exp
		res.Success = true
		res.StatusCode = 200
		return res, kindNone
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return Result{Error: "check canceled"}, kindNeutral
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Error = errHandshakeTimeout
		return res, kindTimeout
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) && len(certErr.UnverifiedCertificates) > 0 {
		leaf := certErr.UnverifiedCertificates[0]
		exp := leaf.NotAfter
		res.CertificateExpiresAt = &exp
		res.StatusCode = StatusCertificateInvalid
		res.Error = certificateError(leaf, certErr.Err, time.Now())
		return res, kindPermanent
	}
	msg, kind := p.describe(attempt{err: err}, timeout)
	res.Error = msg
	return res, kind
}

// certificateError says why a received certificate was refused, for the
// owner: an expired leaf first, whatever else is wrong with it.
func certificateError(leaf *x509.Certificate, err error, now time.Time) string {
	if now.After(leaf.NotAfter) {
		return "Certificate expired on " + formatDate(leaf.NotAfter)
	}
	var (
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
	)
	reason := strings.TrimPrefix(err.Error(), "x509: ")
	switch {
	case errors.As(err, &authErr):
		reason = "signed by an unknown authority"
		if selfSigned(leaf) {
			reason = "self-signed certificate"
		}
	case errors.As(err, &hostErr):
		reason = "not valid for " + hostErr.Host
	case errors.As(err, &invErr) && invErr.Reason == x509.Expired:
		if now.Before(leaf.NotBefore) {
			reason = "not valid before " + formatDate(leaf.NotBefore)
		} else {
			reason = "a certificate of its chain has expired"
		}
	}
	return "Certificate is not valid: " + reason
}

// selfSigned tells a certificate signed by its own key. CheckSignatureFrom
// would refuse a leaf that is not marked as a CA.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// certificateWarning is the warning of a valid certificate expiring within
// alertDays (0 means DefaultAlertBeforeDays) of now, and whether there is
// one.
func certificateWarning(expires, now time.Time, alertDays int) (string, bool) {
	if !InAlertPeriod(expires, now, alertDays) {
		return "", false
	}
	n := DaysLeft(expires, now)
	unit := "days"
	if n == 1 {
		unit = "day"
	}
	return fmt.Sprintf("Certificate expires in %d %s", n, unit), true
}

// DaysLeft is the whole days from now until expires (0 within the last
// day, negative once expired).
func DaysLeft(expires, now time.Time) int {
	left := expires.Sub(now)
	days := int(left / (24 * time.Hour))
	if left < 0 && left%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// InAlertPeriod reports whether a certificate expiring at expires is within
// alertDays (0 means DefaultAlertBeforeDays) of now.
func InAlertPeriod(expires, now time.Time, alertDays int) bool {
	if alertDays <= 0 {
		alertDays = DefaultAlertBeforeDays
	}
	return expires.Sub(now) <= time.Duration(alertDays)*24*time.Hour
}

func formatDate(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
