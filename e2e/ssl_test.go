package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
)

// httpsTarget serves cert on loopback and returns its URL.
func httpsTarget(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are logged otherwise
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// sslMonitor is what the test reads of a monitor.
type sslMonitor struct {
	ID                      string     `json:"id"`
	Status                  string     `json:"status"`
	LastError               *string    `json:"lastError"`
	Warning                 *string    `json:"warning"`
	SSLCertificateExpiresAt *time.Time `json:"sslCertificateExpiresAt"`
	LastCheck               *time.Time `json:"lastCheck"`
}

type sslPingLog struct {
	Success              bool       `json:"success"`
	StatusCode           int        `json:"statusCode"`
	Error                *string    `json:"error"`
	Warning              *string    `json:"warning"`
	CertificateExpiresAt *time.Time `json:"certificateExpiresAt"`
}

// eventsSettled tells whether the notifier group has read and acked every
// entry of the events stream.
func (s *system) eventsSettled() bool {
	rdb := redis.NewClient(&redis.Options{Addr: s.redisAddr})
	defer func() { _ = rdb.Close() }()
	key := "{" + s.env["REDIS_KEY_PREFIX"] + "}:events"
	groups, err := rdb.XInfoGroups(context.Background(), key).Result()
	if err != nil {
		return false
	}
	n, err := rdb.XLen(context.Background(), key).Result()
	if err != nil {
		return false
	}
	for _, g := range groups {
		if g.Name == "notifier" {
			return g.Pending == 0 && g.EntriesRead == n
		}
	}
	return false
}

// TestSSLMonitorsWarnBeforeExpiryAndFailOnBadCertificates runs SSL
// monitors against loopback HTTPS targets: a certificate of a trusted CA
// expiring in 10 days passes with a warning shown by the api and emailed
// once (not again on the next check), a self-signed and an expired
// certificate take their monitors DOWN with the reason, and every check
// records the expiry.
func TestSSLMonitorsWarnBeforeExpiryAndFailOnBadCertificates(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	now := time.Now()
	expiringCert := ca.Issue(t, now.Add(10*24*time.Hour+time.Hour), "127.0.0.1")
	expiredCert := ca.Issue(t, now.Add(-48*time.Hour), "127.0.0.1")
	selfSignedCert := testenv.SelfSigned(t, now.AddDate(1, 0, 0), "127.0.0.1")

	s := newSystem(t, map[string]string{"CHECK_EXTRA_CA_FILE": caFile})
	s.startPipeline(nil)
	tok := s.token("ssl-owner@example.com", "USER")
	create := func(name, url string) string {
		var m sslMonitor
		code := s.call(http.MethodPost, "/uptime", tok, map[string]any{
			"name": name, "url": url, "frequency": 60, "monitorType": "SSL",
			"config": map[string]any{"ssl": map[string]any{"alertBeforeDays": 30}},
		}, &m)
		require.Equal(t, http.StatusCreated, code)
		return m.ID
	}
	expiring := create("expiring", httpsTarget(t, expiringCert))
	expired := create("expired", httpsTarget(t, expiredCert))
	selfSigned := create("self-signed", httpsTarget(t, selfSignedCert))
	get := func(id string) sslMonitor {
		var m sslMonitor
		require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime/"+id, tok, nil, &m))
		return m
	}
	logs := func(id string) []sslPingLog {
		var page struct {
			Data []sslPingLog `json:"data"`
		}
		require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/ping-log/user/my-logs?limit=10&monitorId="+id, tok, nil, &page))
		return page.Data
	}

	waitFor(t, 80*time.Second, "the first check of every monitor", func() bool {
		for _, id := range []string{expiring, expired, selfSigned} {
			if get(id).LastCheck == nil {
				return false
			}
		}
		return true
	})

	// Expiring in 10 days: UP, with the warning and the expiry.
	m := get(expiring)
	assert.Equal(t, "UP", m.Status)
	require.NotNil(t, m.Warning)
	assert.Equal(t, "Certificate expires in 10 days", *m.Warning)
	require.NotNil(t, m.SSLCertificateExpiresAt)
	assert.True(t, expiringCert.Leaf.NotAfter.Equal(*m.SSLCertificateExpiresAt))
	l := logs(expiring)
	require.NotEmpty(t, l)
	assert.True(t, l[0].Success)
	assert.Equal(t, 200, l[0].StatusCode)
	require.NotNil(t, l[0].Warning)
	assert.Equal(t, "Certificate expires in 10 days", *l[0].Warning)
	require.NotNil(t, l[0].CertificateExpiresAt)

	// Expired: DOWN, saying when, with the expiry recorded.
	m = get(expired)
	assert.Equal(t, "DOWN", m.Status)
	require.NotNil(t, m.LastError)
	assert.Equal(t, "Certificate expired on "+expiredCert.Leaf.NotAfter.UTC().Format("2006-01-02 15:04 UTC"), *m.LastError)
	assert.Nil(t, m.Warning)
	require.NotNil(t, m.SSLCertificateExpiresAt)
	assert.True(t, expiredCert.Leaf.NotAfter.Equal(*m.SSLCertificateExpiresAt))
	l = logs(expired)
	require.NotEmpty(t, l)
	assert.False(t, l[0].Success)
	assert.Equal(t, 495, l[0].StatusCode)

	// Self-signed: DOWN, not trusted.
	m = get(selfSigned)
	assert.Equal(t, "DOWN", m.Status)
	require.NotNil(t, m.LastError)
	assert.Equal(t, "Certificate is not valid: self-signed certificate", *m.LastError)
	require.NotNil(t, m.SSLCertificateExpiresAt)

	// The owner is emailed once about the expiring certificate; the first
	// results from PENDING send nothing else.
	mails := s.mail.WaitMails(t, 1, 20*time.Second)
	assert.Equal(t, []string{"ssl-owner@example.com"}, mails[0].To)
	assert.Equal(t, "El certificado de uno de tus servidores está por caducar", mails[0].Subject)
	assert.Contains(t, mails[0].Text, `El certificado de tu servidor "expiring" caduca en 10 días (`)
	assert.True(t, strings.Contains(mails[0].HTML, "CADUCA EN 10 DÍAS"), mails[0].HTML)

	// The next check still warns but emails no second time.
	waitFor(t, 80*time.Second, "the second check of the expiring monitor", func() bool {
		return s.count(`SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, expiring) >= 2
	})
	waitFor(t, 20*time.Second, "the notifier to handle every event", s.eventsSettled)
	assert.Equal(t, "Certificate expires in 10 days", *get(expiring).Warning)
	assert.Len(t, s.mail.Mails(), 1, "one email per crossing into the alert period")
	assert.Equal(t, 1, s.count(`SELECT count(*) FROM notifications WHERE monitor_id = $1 AND kind = 'CERTIFICATE_EXPIRING'`, expiring))
}
