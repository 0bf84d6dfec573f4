package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/servercheck/uptime/pkg/netguard"
)

// errKind sorts a check's failure for the retry and breaker decisions.
type errKind int

const (
	// kindNone: the last attempt got a complete response.
	kindNone errKind = iota
	// kindAnswered: the domain answered but the check failed (status,
	// assertion, redirect loop). Not retried; the breaker counts the domain
	// as reachable.
	kindAnswered
	// kindTimeout: an attempt or connect timed out. Retried.
	kindTimeout
	// kindTransport: the domain could not be reached or dropped the
	// connection. Retried.
	kindTransport
	// kindPermanent: retrying cannot help (SSRF refusal, certificate
	// rejected), yet the domain is unusable. Not retried; counts as a
	// breaker failure.
	kindPermanent
	// kindNeutral: not the target's doing (check canceled, deadline already
	// passed, malformed request). Not retried; the breaker is not told.
	kindNeutral
)

func (k errKind) retryable() bool { return k == kindTimeout || k == kindTransport }

// requestError wraps a failure to build the request from the monitor's
// configuration.
type requestError struct{ err error }

func (e *requestError) Error() string { return "invalid request: " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// describe turns an attempt's error into the text stored with the result
// (shown to users and emailed, so short and without the URL, which may carry
// a token) and its kind.
func (p *Prober) describe(at attempt, timeout time.Duration) (string, errKind) {
	if errors.Is(at.ctxErr, context.Canceled) {
		return "check canceled", kindNeutral
	}
	if errors.Is(at.ctxErr, context.DeadlineExceeded) {
		return "timeout after " + timeout.Round(time.Millisecond).String(), kindTimeout
	}
	err := at.err
	var (
		reqErr  *requestError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		opErr   *net.OpError
		netErr  net.Error
		recErr  tls.RecordHeaderError
		hostErr x509.HostnameError
		authErr x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &reqErr):
		return reqErr.Error(), kindNeutral
	case errors.Is(err, errTooManyRedirects):
		return "too many redirects", kindAnswered
	case errors.Is(err, netguard.ErrForbiddenAddress):
		return "forbidden destination: " + innermost(err, netguard.ErrForbiddenAddress), kindPermanent
	case errors.As(err, &dnsErr):
		return "dns lookup failed: " + dnsErr.Name + ": " + dnsErr.Err, kindTransport
	case errors.As(err, &certErr):
		return certErr.Error(), kindPermanent
	case errors.As(err, &hostErr):
		return "tls: " + hostErr.Error(), kindPermanent
	case errors.As(err, &authErr):
		return "tls: " + authErr.Error(), kindPermanent
	case errors.As(err, &invErr):
		return "tls: " + invErr.Error(), kindPermanent
	case errors.As(err, &recErr):
		return recErr.Error(), kindPermanent
	case strings.Contains(err.Error(), "TLS handshake timeout"):
		// net/http's error for Transport.TLSHandshakeTimeout is unexported.
		return "tls: handshake timeout after " + p.cfg.ConnectTimeout.String(), kindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", kindTransport
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer", kindTransport
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable", kindTransport
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", kindTransport
	case errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout():
		return "connect timeout after " + p.cfg.ConnectTimeout.String(), kindTimeout
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server", kindTransport
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + timeout.Round(time.Millisecond).String(), kindTimeout
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "tls: ") || strings.Contains(msg, "remote error: tls: ") {
		return msg, kindPermanent
	}
	return msg, kindTransport
}

// innermost returns the text of the deepest error in err's chain that still
// matches sentinel without being it: netguard's own message, without the
// "dial tcp ..." wrapping around it.
func innermost(err, sentinel error) string {
	msg := err.Error()
	for e := err; e != nil && e != sentinel; e = errors.Unwrap(e) { //nolint:errorlint // walking the chain link by link on purpose
		if errors.Is(e, sentinel) {
			msg = e.Error()
		}
	}
	return msg
}
