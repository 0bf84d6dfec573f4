package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/notifier/internal/email"
)

func testMessage(t *testing.T, name string) email.Message {
	t.Helper()
	msg, err := email.RenderStatusChange(email.StatusChange{
		Recipient: "owner@example.com", MonitorName: name, MonitorURL: "https://shop.example.com",
		Status: "DOWN", At: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Cause: "connection refused",
	})
	require.NoError(t, err)
	return msg
}

func newSES(t *testing.T, fake *testenv.FakeSES) *SES {
	t.Helper()
	s, err := NewSES(t.Context(), SESConfig{
		Region: "eu-west-1", From: "alerts@servercheck.test", Endpoint: fake.URL,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret",
	})
	require.NoError(t, err)
	return s
}

func newSMTP(t *testing.T, srv *testenv.MailServer) *SMTP {
	t.Helper()
	s, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, From: "alerts@servercheck.test", FromName: "Server Check App"})
	require.NoError(t, err)
	return s
}

func quickPolicy() Policy {
	return Policy{Timeout: 5 * time.Second, Retries: 1, RetryDelay: 10 * time.Millisecond, BreakerFailures: 5, BreakerDelay: time.Minute}
}

func TestMailer(t *testing.T) {
	t.Parallel()

	t.Run("SES delivers subject, recipient and both parts", func(t *testing.T) {
		t.Parallel()
		fake := testenv.SES(t)
		reg := prometheus.NewRegistry()
		m, err := NewMailer([]Provider{{Name: "ses", Sender: newSES(t, fake), Policy: quickPolicy()}}, NewMetrics(reg), testenv.Logger(t))
		require.NoError(t, err)
		provider, err := m.Send(t.Context(), testMessage(t, "Tienda"))
		require.NoError(t, err)
		assert.Equal(t, "ses", provider)
		reqs := fake.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "alerts@servercheck.test", reqs[0].Source)
		assert.Equal(t, []string{"owner@example.com"}, reqs[0].To)
		assert.Equal(t, email.StatusSubject, reqs[0].Subject)
		assert.Contains(t, reqs[0].Text, `El estado de tu servidor "Tienda" ha cambiado a: DOWN`)
		assert.Contains(t, reqs[0].HTML, "CAÍDO")
		assert.InDelta(t, 1, testutil.ToFloat64(m.metrics.sent.WithLabelValues("ses")), 0)
	})

	t.Run("a failing SES is retried once, then SMTP delivers", func(t *testing.T) {
		t.Parallel()
		fake := testenv.SES(t)
		fake.Fail(http.StatusInternalServerError, "InternalFailure")
		smtpSrv := testenv.SMTP(t)
		reg := prometheus.NewRegistry()
		m, err := NewMailer([]Provider{
			{Name: "ses", Sender: newSES(t, fake), Policy: quickPolicy()},
			{Name: "smtp", Sender: newSMTP(t, smtpSrv), Policy: quickPolicy()},
		}, NewMetrics(reg), testenv.Logger(t))
		require.NoError(t, err)
		provider, err := m.Send(t.Context(), testMessage(t, "Tienda"))
		require.NoError(t, err)
		assert.Equal(t, "smtp", provider)
		assert.Equal(t, 2, fake.Calls(), "one try and one retry on SES")
		mails := smtpSrv.Mails()
		require.Len(t, mails, 1)
		assert.Equal(t, []string{"owner@example.com"}, mails[0].To)
		assert.Equal(t, email.StatusSubject, mails[0].Subject)
		assert.Contains(t, mails[0].Text, `El estado de tu servidor "Tienda" ha cambiado a: DOWN`)
		assert.Contains(t, mails[0].HTML, "CAÍDO")
		assert.Contains(t, mails[0].Header.Get("From"), "alerts@servercheck.test")
		assert.InDelta(t, 1, testutil.ToFloat64(m.metrics.fallback), 0)
		assert.InDelta(t, 1, testutil.ToFloat64(m.metrics.failed.WithLabelValues("ses")), 0)
		assert.InDelta(t, 1, testutil.ToFloat64(m.metrics.sent.WithLabelValues("smtp")), 0)
	})

	t.Run("a message SES rejects is not retried there and goes to SMTP", func(t *testing.T) {
		t.Parallel()
		fake := testenv.SES(t)
		fake.Fail(http.StatusBadRequest, "MessageRejected")
		smtpSrv := testenv.SMTP(t)
		m, err := NewMailer([]Provider{
			{Name: "ses", Sender: newSES(t, fake), Policy: quickPolicy()},
			{Name: "smtp", Sender: newSMTP(t, smtpSrv), Policy: quickPolicy()},
		}, NewMetrics(prometheus.NewRegistry()), testenv.Logger(t))
		require.NoError(t, err)
		provider, err := m.Send(t.Context(), testMessage(t, "x"))
		require.NoError(t, err)
		assert.Equal(t, "smtp", provider)
		assert.Equal(t, 1, fake.Calls())
		assert.Len(t, smtpSrv.Mails(), 1)
	})

	t.Run("when both fail the error names both providers", func(t *testing.T) {
		t.Parallel()
		fake := testenv.SES(t)
		fake.Fail(http.StatusServiceUnavailable, "ServiceUnavailable")
		smtpSrv := testenv.SMTP(t)
		smtpSrv.Fail(451, "try again later")
		m, err := NewMailer([]Provider{
			{Name: "ses", Sender: newSES(t, fake), Policy: quickPolicy()},
			{Name: "smtp", Sender: newSMTP(t, smtpSrv), Policy: quickPolicy()},
		}, NewMetrics(prometheus.NewRegistry()), testenv.Logger(t))
		require.NoError(t, err)
		_, err = m.Send(t.Context(), testMessage(t, "x"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ses:")
		assert.Contains(t, err.Error(), "ServiceUnavailable")
		assert.Contains(t, err.Error(), "smtp:")
		assert.Contains(t, err.Error(), "451")
		assert.Empty(t, smtpSrv.Mails())
	})

	t.Run("an SMTP permanent refusal is a rejection and is not retried", func(t *testing.T) {
		t.Parallel()
		smtpSrv := testenv.SMTP(t)
		smtpSrv.Fail(550, "no such user")
		m, err := NewMailer([]Provider{{Name: "smtp", Sender: newSMTP(t, smtpSrv), Policy: quickPolicy()}},
			NewMetrics(prometheus.NewRegistry()), testenv.Logger(t))
		require.NoError(t, err)
		_, err = m.Send(t.Context(), testMessage(t, "x"))
		require.ErrorIs(t, err, ErrRejected)
	})

	t.Run("the breaker opens after consecutive failures and stops calling the provider", func(t *testing.T) {
		t.Parallel()
		fake := testenv.SES(t)
		fake.Fail(http.StatusInternalServerError, "InternalFailure")
		policy := quickPolicy()
		policy.Retries = 0
		policy.BreakerFailures = 2
		reg := prometheus.NewRegistry()
		m, err := NewMailer([]Provider{{Name: "ses", Sender: newSES(t, fake), Policy: policy}}, NewMetrics(reg), testenv.Logger(t))
		require.NoError(t, err)
		for range 2 {
			_, err = m.Send(t.Context(), testMessage(t, "x"))
			require.Error(t, err)
		}
		require.Equal(t, 2, fake.Calls())
		_, err = m.Send(t.Context(), testMessage(t, "x"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "circuit breaker open")
		assert.Contains(t, err.Error(), "InternalFailure", "the open breaker tells the last failure")
		assert.Equal(t, 2, fake.Calls(), "an open breaker sends nothing")
		assert.InDelta(t, 2, testutil.ToFloat64(m.metrics.breaker.WithLabelValues("ses")), 0)
	})

	t.Run("rejections do not open the breaker", func(t *testing.T) {
		t.Parallel()
		fake := testenv.SES(t)
		fake.Fail(http.StatusBadRequest, "MessageRejected")
		policy := quickPolicy()
		policy.BreakerFailures = 1
		m, err := NewMailer([]Provider{{Name: "ses", Sender: newSES(t, fake), Policy: policy}},
			NewMetrics(prometheus.NewRegistry()), testenv.Logger(t))
		require.NoError(t, err)
		for range 3 {
			_, err = m.Send(t.Context(), testMessage(t, "x"))
			require.ErrorIs(t, err, ErrRejected)
		}
		assert.Equal(t, 3, fake.Calls())
	})
}

func TestSMTPGivesUpWhenTheServerHangs(t *testing.T) {
	t.Parallel()
	// A server that accepts and never greets: the send must end with its
	// attempt timeout instead of holding the handler.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		select {
		case c := <-accepted:
			_ = c.Close()
		default:
		}
	})
	port := l.Addr().(*net.TCPAddr).Port
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "a@b.test"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = s.Send(ctx, testMessage(t, "x"))
	require.Error(t, err)
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout error, got %v", err)
}

func TestNewSMTPRejectsAnUnknownTLSMode(t *testing.T) {
	t.Parallel()
	_, err := NewSMTP(SMTPConfig{Host: "h", Port: 25, TLS: "ssl"})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), `"ssl"`))
}

func TestNewMailerNeedsAProvider(t *testing.T) {
	t.Parallel()
	_, err := NewMailer(nil, NewMetrics(prometheus.NewRegistry()), testenv.Logger(t))
	require.ErrorIs(t, err, ErrNoProvider)
}
