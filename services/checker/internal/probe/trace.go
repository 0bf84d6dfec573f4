package probe

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"
)

// timings are the phases of one hop.
type timings struct {
	dns, connect, tls, firstByte time.Duration
	reused                       bool
}

// tracer collects the phases of an attempt's last hop. Hooks may run on the
// transport's dial goroutines, even after the attempt gave up on a dial, so
// every field is behind mu.
type tracer struct {
	mu                                 sync.Mutex
	getConn, dnsStart, connStart, tlsS time.Time
	t                                  timings
}

func (tr *tracer) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			// A new hop (redirect) starts: report only the last one.
			tr.getConn = time.Now()
			tr.dnsStart, tr.connStart, tr.tlsS = time.Time{}, time.Time{}, time.Time{}
			tr.t = timings{}
		},
		GotConn: func(info httptrace.GotConnInfo) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.t.reused = info.Reused
		},
		DNSStart: func(httptrace.DNSStartInfo) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.dnsStart = time.Now()
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if !tr.dnsStart.IsZero() {
				tr.t.dns = time.Since(tr.dnsStart)
			}
		},
		ConnectStart: func(string, string) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			// Dual-stack fallback may start several connects; time from the
			// first.
			if tr.connStart.IsZero() {
				tr.connStart = time.Now()
			}
		},
		ConnectDone: func(_, _ string, err error) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if err == nil && !tr.connStart.IsZero() && tr.t.connect == 0 {
				tr.t.connect = time.Since(tr.connStart)
			}
		},
		TLSHandshakeStart: func() {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.tlsS = time.Now()
		},
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if !tr.tlsS.IsZero() {
				tr.t.tls = time.Since(tr.tlsS)
			}
		},
		GotFirstResponseByte: func() {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if !tr.getConn.IsZero() {
				tr.t.firstByte = time.Since(tr.getConn)
			}
		},
	}
}

func (tr *tracer) result() timings {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.t
}
