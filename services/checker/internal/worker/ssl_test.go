package worker_test

import (
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/probe"
	"github.com/servercheck/uptime/services/checker/internal/status"
	"github.com/servercheck/uptime/services/checker/internal/worker"
)

// newSSLFixture is newFixture with a prober that trusts ca.
func newSSLFixture(t *testing.T, ca *testenv.CA) fixture {
	t.Helper()
	f := newFixture(t)
	allow, err := netguard.ParseAllowlist("127.0.0.0/8")
	require.NoError(t, err)
	cfg := probe.DefaultConfig()
	cfg.MaxRetries, cfg.AttemptTimeout, cfg.RootCAs = 0, 2*time.Second, ca.Pool()
	prober := probe.New(cfg, netguard.New(allow), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	f.w = worker.New(prober, status.NewTracker(f.rdb, f.ks), f.rdb, f.pub, f.box, "checker-test", nil, slog.New(slog.DiscardHandler))
	return f
}

// swappableTLS serves the certificate last stored, so a test can renew it.
func swappableTLS(t *testing.T, cert tls.Certificate) (string, *atomic.Pointer[tls.Certificate]) {
	t.Helper()
	var cur atomic.Pointer[tls.Certificate]
	cur.Store(&cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{Certificates: []tls.Certificate{*cur.Load()}, MinVersion: tls.VersionTLS12}, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, &cur
}

func sslJob(monitorID, url string, alertDays int32) *eventsv1.CheckRequested {
	return &eventsv1.CheckRequested{
		MonitorId: monitorID, Url: url, Type: eventsv1.MonitorType_MONITOR_TYPE_SSL, TimeoutMs: 2000,
		FailureThreshold: 1, SuccessThreshold: 1, SslAlertBeforeDays: alertDays,
	}
}

// certAlerts returns the CertificateExpiring events published so far.
func (f fixture) certAlerts(t *testing.T) []*eventsv1.CertificateExpiring {
	t.Helper()
	var out []*eventsv1.CertificateExpiring
	for _, env := range f.entries(t, stream.Events) {
		if c := env.GetCertificateExpiring(); c != nil {
			out = append(out, c)
		}
	}
	return out
}

func TestAnExpiringCertificateIsAlertedOncePerCrossingOfTheAlertPeriod(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	expiring := ca.Issue(t, time.Now().Add(10*24*time.Hour+time.Hour), "127.0.0.1")
	renewed := ca.Issue(t, time.Now().AddDate(0, 3, 0), "127.0.0.1")
	url, cert := swappableTLS(t, expiring)
	f := newSSLFixture(t, ca)
	slot := time.Now().Truncate(time.Minute)
	at := func(n int) time.Time { return slot.Add(time.Duration(n) * time.Minute) }

	first := f.jobOf(t, sslJob("m-ssl", url, 30), at(0))
	require.NoError(t, f.w.Handle(t.Context(), first))
	require.NoError(t, f.w.Handle(t.Context(), first), "a redelivered job alerts no second time")
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, sslJob("m-ssl", url, 30), at(1))))

	results := f.entries(t, stream.Results)
	require.Len(t, results, 3)
	r := results[0].GetCheckCompleted()
	assert.True(t, r.GetSuccess(), r.GetError())
	assert.EqualValues(t, 200, r.GetStatusCode())
	assert.Equal(t, "Certificate expires in 10 days", r.GetWarning())
	assert.True(t, expiring.Leaf.NotAfter.Equal(r.GetCertificateExpiresAt().AsTime()))
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_UP, r.GetNewStatus())
	assert.Equal(t, "Certificate expires in 10 days", results[2].GetCheckCompleted().GetWarning(), "every check carries the warning")

	alerts := f.certAlerts(t)
	require.Len(t, alerts, 1, "one alert for one crossing")
	a := alerts[0]
	assert.Equal(t, "m-ssl", a.GetMonitorId())
	assert.EqualValues(t, 10, a.GetDaysLeft())
	assert.EqualValues(t, 30, a.GetAlertBeforeDays())
	assert.Equal(t, url, a.GetMonitorUrl())
	assert.Equal(t, at(0).UnixMilli(), a.GetSlot().AsTime().UnixMilli())
	assert.True(t, expiring.Leaf.NotAfter.Equal(a.GetExpiresAt().AsTime()))

	// Renewed out of the period: no warning, and the alert is re-armed.
	cert.Store(&renewed)
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, sslJob("m-ssl", url, 30), at(2))))
	last := f.entries(t, stream.Results)[3].GetCheckCompleted()
	assert.Empty(t, last.GetWarning())
	assert.Len(t, f.certAlerts(t), 1)

	// A later certificate entering the period is a new crossing.
	cert.Store(&expiring)
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, sslJob("m-ssl", url, 30), at(3))))
	assert.Len(t, f.certAlerts(t), 2)

	// A result older than the last one applied changes nothing.
	cert.Store(&renewed)
	require.NoError(t, f.w.Handle(t.Context(), first))
	cert.Store(&expiring)
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, sslJob("m-ssl", url, 30), at(4))))
	assert.Len(t, f.certAlerts(t), 2, "the stale renewed result did not re-arm the alert")
}

func TestAnSSLMonitorGoesDownOnAnExpiredCertificateWithoutAnAlert(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	expired := ca.Issue(t, time.Now().Add(-72*time.Hour), "127.0.0.1")
	url, _ := swappableTLS(t, expired)
	f := newSSLFixture(t, ca)

	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, sslJob("m-exp", url, 0), time.Now().Truncate(time.Minute))))

	results := f.entries(t, stream.Results)
	require.Len(t, results, 1)
	r := results[0].GetCheckCompleted()
	assert.False(t, r.GetSuccess())
	assert.EqualValues(t, 495, r.GetStatusCode())
	assert.True(t, strings.HasPrefix(r.GetError(), "Certificate expired on "), r.GetError())
	assert.Empty(t, r.GetWarning())
	assert.True(t, expired.Leaf.NotAfter.Equal(r.GetCertificateExpiresAt().AsTime()), "the expiry is recorded on a failure too")
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, r.GetNewStatus())
	assert.Empty(t, f.certAlerts(t))
}

func TestAnHTTPMonitorOverTLSCarriesTheCertificateWarningToo(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	url, _ := swappableTLS(t, ca.Issue(t, time.Now().Add(3*24*time.Hour+time.Hour), "127.0.0.1"))
	f := newSSLFixture(t, ca)
	job := &eventsv1.CheckRequested{
		MonitorId: "m-http", Url: url, Type: eventsv1.MonitorType_MONITOR_TYPE_HTTP, TimeoutMs: 2000,
		Request: &eventsv1.HTTPRequest{Method: "GET"}, SslAlertBeforeDays: 30,
	}

	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job, time.Now().Truncate(time.Minute))))

	r := f.entries(t, stream.Results)[0].GetCheckCompleted()
	assert.True(t, r.GetSuccess(), r.GetError())
	assert.Equal(t, "Certificate expires in 3 days", r.GetWarning())
	assert.Empty(t, f.certAlerts(t), "the warning is shown, but only SSL monitors are emailed")
}
