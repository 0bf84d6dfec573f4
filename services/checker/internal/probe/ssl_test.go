package probe_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/checker/internal/probe"
)

// httpsTarget serves cert on loopback and returns its https URL and the
// server names the clients asked for (SNI).
func httpsTarget(t testing.TB, cert tls.Certificate) (string, func() []string) {
	t.Helper()
	var (
		mu    sync.Mutex
		names []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are logged otherwise
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			names = append(names, hello.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), names...)
	}
}

func TestCheckSSL(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	now := time.Now()
	far := now.AddDate(1, 0, 0)
	soon := now.Add(10*24*time.Hour + time.Hour)
	expired := now.Add(-48 * time.Hour)
	otherCA := testenv.NewCA(t)

	tests := []struct {
		name      string
		cert      tls.Certificate
		alertDays int
		success   bool
		status    int
		err       string
		warning   string
	}{
		{name: "a trusted certificate far from expiry passes without a warning",
			cert: ca.Issue(t, far, "127.0.0.1"), success: true, status: 200},
		{name: "a trusted certificate within the default 30 days passes with a warning",
			cert: ca.Issue(t, soon, "127.0.0.1"), success: true, status: 200, warning: "Certificate expires in 10 days"},
		{name: "the monitor's alert period decides when the warning starts",
			cert: ca.Issue(t, soon, "127.0.0.1"), alertDays: 7, success: true, status: 200},
		{name: "an expired certificate fails with its expiry date",
			cert: ca.Issue(t, expired, "127.0.0.1"), status: 495,
			err: "Certificate expired on " + expired.UTC().Format("2006-01-02 15:04 UTC")},
		{name: "a self-signed certificate fails as such",
			cert: testenv.SelfSigned(t, far, "127.0.0.1"), status: 495, err: "Certificate is not valid: self-signed certificate"},
		{name: "a certificate from an unknown authority fails",
			cert: otherCA.Issue(t, far, "127.0.0.1"), status: 495, err: "Certificate is not valid: signed by an unknown authority"},
		{name: "a certificate for another host fails",
			cert: ca.Issue(t, far, "shop.example.com"), status: 495, err: "Certificate is not valid: not valid for 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := httpsTarget(t, tt.cert)
			cfg := testConfig()
			cfg.RootCAs = ca.Pool()
			p, reg := newProber(t, cfg, guard(t, "127.0.0.0/8"))

			res := p.CheckSSL(t.Context(), probe.SSLRequest{URL: url, AlertBeforeDays: tt.alertDays})

			assert.Equal(t, tt.success, res.Success, res.Error)
			assert.Equal(t, tt.status, res.StatusCode)
			assert.Equal(t, tt.err, res.Error)
			assert.Equal(t, tt.warning, res.Warning)
			assert.Equal(t, tt.warning != "", res.CertificateExpiring)
			require.NotNil(t, res.CertificateExpiresAt, "the expiry is recorded on every check that got a certificate")
			assert.True(t, tt.cert.Leaf.NotAfter.Equal(*res.CertificateExpiresAt))
			assert.Equal(t, 1, res.Attempts, "a refused certificate is not retried")
			assert.Positive(t, res.Connect)
			assert.Positive(t, res.TLS)
			assert.GreaterOrEqual(t, res.Total, res.Connect+res.TLS)
			outcome := "failure"
			if tt.success {
				outcome = "success"
			}
			assert.InDelta(t, 1, probesTotal(t, reg, outcome), 0)
		})
	}
}

func TestCheckSSLSendsTheHostNameAsSNI(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	url, names := httpsTarget(t, ca.Issue(t, time.Now().AddDate(1, 0, 0), "localhost"))
	cfg := testConfig()
	cfg.RootCAs = ca.Pool()
	p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8,::1"))

	res := p.CheckSSL(t.Context(), probe.SSLRequest{URL: strings.Replace(url, "127.0.0.1", "localhost", 1)})

	require.True(t, res.Success, res.Error)
	assert.Equal(t, []string{"localhost"}, names())
}

func TestCheckSSLRefusesWhatItCannotCheck(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	url, names := httpsTarget(t, ca.Issue(t, time.Now().AddDate(1, 0, 0), "127.0.0.1"))
	cfg := testConfig()
	cfg.RootCAs = ca.Pool()

	tests := []struct {
		name      string
		allowlist string
		url       string
		err       string
	}{
		{"an http url is refused", "127.0.0.0/8", strings.Replace(url, "https://", "http://", 1), "SSL monitors require HTTPS"},
		{"an unparsable url is refused", "127.0.0.0/8", "https://%zz", `invalid url: invalid URL escape "%zz"`},
		{"the SSRF guard refuses a loopback target outside the allowlist", "", url,
			"forbidden destination: address 127.0.0.1 is not allowed (loopback range)"},
		{"a closed port is a connection failure", "127.0.0.0/8", "https://" + closedAddr(t), "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := newProber(t, cfg, guard(t, tt.allowlist))
			res := p.CheckSSL(t.Context(), probe.SSLRequest{URL: tt.url})
			assert.False(t, res.Success)
			assert.Zero(t, res.StatusCode)
			assert.Equal(t, tt.err, res.Error)
			assert.Nil(t, res.CertificateExpiresAt)
		})
	}
	assert.Empty(t, names(), "no handshake reached the target")
}

func TestCheckSSLTimesOutASilentServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		// Accept and say nothing: the handshake never completes.
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	cfg := testConfig()
	cfg.MaxRetries = 1
	p, reg := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	res := p.CheckSSL(t.Context(), probe.SSLRequest{URL: "https://" + ln.Addr().String(), Timeout: 150 * time.Millisecond})

	assert.False(t, res.Success)
	assert.Equal(t, "TLS handshake timeout", res.Error)
	assert.Zero(t, res.StatusCode)
	assert.Equal(t, 2, res.Attempts, "a timeout is retried")
	assert.InDelta(t, 1, probesTotal(t, reg, "timeout"), 0)
}

func TestCheckWarnsAboutAnExpiringCertificateOverHTTPS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	url, _ := httpsTarget(t, ca.Issue(t, time.Now().Add(5*24*time.Hour+time.Hour), "127.0.0.1"))
	cfg := testConfig()
	cfg.RootCAs = ca.Pool()
	p, _ := newProber(t, cfg, guard(t, "127.0.0.0/8"))

	res := p.Check(t.Context(), probe.Request{URL: url})
	require.True(t, res.Success, res.Error)
	assert.Equal(t, "Certificate expires in 5 days", res.Warning)
	assert.True(t, res.CertificateExpiring)

	res = p.Check(t.Context(), probe.Request{URL: url, AlertBeforeDays: 3})
	require.True(t, res.Success, res.Error)
	assert.Empty(t, res.Warning)
	assert.False(t, res.CertificateExpiring)
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
