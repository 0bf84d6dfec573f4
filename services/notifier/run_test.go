package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	eventsv1 "github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

func TestRunNamesEveryMissingOrMalformedVariable(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
		"NOTIFIER_HTTP_PORT":        "http",
		"LOG_LEVEL":                 "loud",
		"REDIS_PORT":                "99999",
		"SEND_EMAIL_NODEMAILER_SES": "pigeon",
	}))
	require.Error(t, err)
	for _, want := range []string{
		"DATABASE_URL: is required", "REDIS_HOST: is required",
		"NOTIFIER_HTTP_PORT: must be an integer",
		"LOG_LEVEL: must be debug, info, warn or error",
		"REDIS_PORT: must be 1..65535",
		"SEND_EMAIL_NODEMAILER_SES: must be ses or nodemailer",
		"no email transport",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://u@h/db", "REDIS_HOST": "127.0.0.1"}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"SES without a sender is refused", map[string]string{"AWS_REGION": "eu-west-1"}, []string{"AWS_SES_FROM_EMAIL: is required"}},
		{"a malformed sender is refused", map[string]string{"AWS_REGION": "eu-west-1", "AWS_SES_FROM_EMAIL": "not-an-address"}, []string{"AWS_SES_FROM_EMAIL: not an email address"}},
		{"half a key pair is refused", map[string]string{"AWS_REGION": "eu-west-1", "AWS_SES_FROM_EMAIL": "a@b.test", "AWS_ACCESS_KEY_ID": "AKID"}, []string{"set both or neither"}},
		{"a Gmail user needs its app password", map[string]string{"GMAIL_APP_USER": "me@gmail.com"}, []string{"GMAIL_APP_PASSWORD: is required"}},
		{"an unknown SMTP security mode is refused", map[string]string{"SMTP_HOST": "mail", "SMTP_TLS": "ssl", "SMTP_FROM_EMAIL": "a@b.test"}, []string{"SMTP_TLS: must be starttls, tls or none"}},
		{"SMTP needs a From address", map[string]string{"SMTP_HOST": "mail"}, []string{"SMTP_FROM_EMAIL: is required"}},
		{"a claim shorter than a send is refused", map[string]string{"SMTP_HOST": "mail", "SMTP_FROM_EMAIL": "a@b.test", "NOTIFIER_CLAIM_TTL_MS": "1000"}, []string{"NOTIFIER_CLAIM_TTL_MS: must exceed the longest send"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			err := run(t.Context(), io.Discard, testenv.Lookup(env))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// notifierEnv is a running-service environment with a fake SES and a real
// SMTP server on loopback, SES primary.
type harness struct {
	env  map[string]string
	ses  *testenv.FakeSES
	smtp *testenv.MailServer
	db   *pgxpool.Pool
	rdb  *redis.Client
	ks   stream.Keyspace
	pub  *stream.Publisher
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	env := testenv.ServiceEnv(t)
	h := &harness{env: env, ses: testenv.SES(t), smtp: testenv.SMTP(t)}
	env["AWS_REGION"] = "eu-west-1"
	env["AWS_SES_ENDPOINT"] = h.ses.URL
	env["AWS_ACCESS_KEY_ID"] = "AKIDTEST"
	env["AWS_SECRET_ACCESS_KEY"] = "test-secret"
	env["AWS_SES_FROM_EMAIL"] = "alerts@servercheck.test"
	env["SMTP_HOST"] = h.smtp.Host
	env["SMTP_PORT"] = strconv.Itoa(h.smtp.Port)
	env["SMTP_TLS"] = "none"
	env["EMAIL_RETRY_DELAY_MS"] = "20"
	env["EMAIL_SEND_TIMEOUT_MS"] = "3000"
	env["NOTIFIER_CLAIM_TTL_MS"] = "20000"
	env["NOTIFIER_EVENTS_MIN_IDLE_MS"] = "300"
	env["SHUTDOWN_TIMEOUT_MS"] = "10000"
	env["NOTIFIER_DRAIN_TIMEOUT_MS"] = "5000"
	pool, err := pgxpool.New(t.Context(), env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	h.db = pool
	h.rdb = testenv.NewRedisClient(t)
	h.ks = stream.NewKeyspace(env["REDIS_KEY_PREFIX"])
	h.pub = stream.NewPublisher(h.rdb, h.ks, stream.DefaultMaxLen())
	return h
}

func (h *harness) start(t *testing.T) (stop func() error) {
	t.Helper()
	port := testenv.FreePort(t)
	env := map[string]string{}
	for k, v := range h.env {
		env[k] = v
	}
	env["NOTIFIER_HTTP_PORT"] = strconv.Itoa(port)
	return testenv.StartService(t, run, env, port)
}

// monitor inserts an owner and a monitor and returns the monitor id.
func (h *harness) monitor(t *testing.T, name, ownerEmail string, active bool) (monitorID, userID string) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, h.db.QueryRow(ctx,
		`INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id::text`,
		ownerEmail).Scan(&userID))
	require.NoError(t, h.db.QueryRow(ctx, `
		INSERT INTO monitors (user_id, name, url, frequency, is_active, status)
		VALUES ($1, $2, 'https://shop.example.com/health', 60, $3, 'DOWN') RETURNING id::text`,
		userID, name, active).Scan(&monitorID))
	return monitorID, userID
}

// statusChanged encodes an event of monitorID flipping from -> to.
func statusChanged(t *testing.T, monitorID, userID string, from, to eventsv1.MonitorStatus, cause string) []byte {
	t.Helper()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	env, err := events.New("checker/test", &eventsv1.MonitorStatusChanged{
		MonitorId: monitorID, UserId: userID, From: from, To: to,
		At: timestamppb.New(at), Cause: cause, Slot: timestamppb.New(at),
		JobId: events.JobID(monitorID, at), MonitorName: "ignored", MonitorUrl: "https://shop.example.com/health",
	})
	require.NoError(t, err)
	b, err := events.Marshal(env)
	require.NoError(t, err)
	return b
}

func (h *harness) publish(t *testing.T, payload []byte) {
	t.Helper()
	_, err := h.pub.Publish(t.Context(), stream.Events, payload)
	require.NoError(t, err)
}

// settled waits until the notifier group has read and acknowledged every
// entry of the events stream.
func (h *harness) settled(t *testing.T) {
	t.Helper()
	key := h.ks.Key(stream.Events)
	require.Eventually(t, func() bool {
		groups, err := h.rdb.XInfoGroups(context.Background(), key).Result()
		if err != nil || len(groups) != 1 {
			return false
		}
		length, err := h.rdb.XLen(context.Background(), key).Result()
		return err == nil && groups[0].Pending == 0 && groups[0].EntriesRead == length
	}, 20*time.Second, 20*time.Millisecond)
}

func (h *harness) notification(t *testing.T, monitorID string) (state, provider string, attempts int) {
	t.Helper()
	var p *string
	require.NoError(t, h.db.QueryRow(t.Context(),
		`SELECT state, provider, attempts FROM notifications WHERE monitor_id = $1`, monitorID).Scan(&state, &p, &attempts))
	if p != nil {
		provider = *p
	}
	return state, provider, attempts
}

const (
	up      = eventsv1.MonitorStatus_MONITOR_STATUS_UP
	down    = eventsv1.MonitorStatus_MONITOR_STATUS_DOWN
	pending = eventsv1.MonitorStatus_MONITOR_STATUS_PENDING
)

func TestNotifierSendsThroughSES(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	monitorID, userID := h.monitor(t, "Tienda", "ana@example.com", true)
	h.publish(t, statusChanged(t, monitorID, userID, up, down, "Unexpected status code: 503"))
	h.settled(t)

	reqs := h.ses.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, []string{"ana@example.com"}, reqs[0].To)
	assert.Equal(t, "alerts@servercheck.test", reqs[0].Source)
	assert.Equal(t, "Actualización de estado de uno de tus servidores", reqs[0].Subject)
	assert.Contains(t, reqs[0].Text, `El estado de tu servidor "Tienda" ha cambiado a: DOWN`)
	assert.Contains(t, reqs[0].Text, "Unexpected status code: 503")
	assert.Contains(t, reqs[0].HTML, "CAÍDO")
	assert.Empty(t, h.smtp.Mails())
	state, provider, _ := h.notification(t, monitorID)
	assert.Equal(t, "SENT", state)
	assert.Equal(t, "ses", provider)
}

func TestNotifierFallsBackToSMTPWhenSESFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ses.Fail(http.StatusInternalServerError, "InternalFailure")
	h.start(t)
	monitorID, userID := h.monitor(t, "Tienda", "ana@example.com", true)
	h.publish(t, statusChanged(t, monitorID, userID, down, up, ""))
	mails := h.smtp.WaitMails(t, 1, 20*time.Second)
	h.settled(t)

	require.Len(t, mails, 1)
	assert.Equal(t, []string{"ana@example.com"}, mails[0].To)
	assert.Equal(t, "Actualización de estado de uno de tus servidores", mails[0].Subject)
	assert.Contains(t, mails[0].Text, `El estado de tu servidor "Tienda" ha cambiado a: UP`)
	assert.Contains(t, mails[0].HTML, "OPERATIVO")
	assert.Equal(t, 2, h.ses.Calls(), "SES was tried and retried once")
	state, provider, _ := h.notification(t, monitorID)
	assert.Equal(t, "SENT", state)
	assert.Equal(t, "smtp", provider)
}

func TestNotifierRetriesThenDeadLettersWhenEveryProviderFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ses.Fail(http.StatusServiceUnavailable, "ServiceUnavailable")
	h.smtp.Fail(451, "mailbox busy")
	// Breakers stay closed here so that every delivery reaches both
	// providers (the transport tests cover the breaker).
	h.env["EMAIL_BREAKER_FAILURES"] = "100"
	h.start(t)
	monitorID, userID := h.monitor(t, "Tienda", "ana@example.com", true)
	h.publish(t, statusChanged(t, monitorID, userID, up, down, "timeout"))

	// Three deliveries fail, then the entry moves to the dlq with its error.
	var dl stream.DeadLetter
	require.Eventually(t, func() bool {
		entries, err := h.rdb.XRange(context.Background(), h.ks.Key(stream.DLQ), "-", "+").Result()
		if err != nil || len(entries) == 0 {
			return false
		}
		d, _ := entries[0].Values["d"].(string)
		dl, err = deadletter.Decode([]byte(d))
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, stream.Events, dl.SourceStream)
	assert.Equal(t, "notifier", dl.Group)
	assert.EqualValues(t, 3, dl.Deliveries)
	assert.Contains(t, dl.Error, "ServiceUnavailable")
	assert.Contains(t, dl.Error, "451")
	assert.Empty(t, h.smtp.Mails())
	assert.Empty(t, h.ses.Requests())
	assert.Equal(t, 6, h.ses.Calls(), "two SES attempts per delivery")
	state, _, attempts := h.notification(t, monitorID)
	assert.Equal(t, "SENDING", state)
	assert.Equal(t, 3, attempts)

	// A re-drive of the dead letter after the providers recover sends it.
	h.ses.Fail(0, "")
	h.publish(t, dl.Payload)
	require.Eventually(t, func() bool { return len(h.ses.Requests()) == 1 }, 20*time.Second, 20*time.Millisecond)
	h.settled(t)
	state, provider, _ := h.notification(t, monitorID)
	assert.Equal(t, "SENT", state)
	assert.Equal(t, "ses", provider)
}

func TestNotifierSendsEachEventOnceAcrossRedeliveriesAndReplicas(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env["SEND_EMAIL_NODEMAILER_SES"] = "nodemailer"
	h.start(t)
	h.start(t)
	monitorID, userID := h.monitor(t, "Tienda", "ana@example.com", true)
	payload := statusChanged(t, monitorID, userID, up, down, "refused")
	for range 4 {
		h.publish(t, payload) // the same event id, as a redelivery or re-drive carries it
	}
	h.smtp.WaitMails(t, 1, 20*time.Second)
	h.settled(t)
	assert.Len(t, h.smtp.Mails(), 1, "one email for one event")
	assert.Empty(t, h.ses.Requests(), "nodemailer is primary")

	// A second, distinct flip is its own event and is sent.
	h.publish(t, statusChanged(t, monitorID, userID, down, up, ""))
	h.smtp.WaitMails(t, 2, 20*time.Second)
	h.settled(t)
	assert.Len(t, h.smtp.Mails(), 2)
}

func TestNotifierEscapesTheMonitorName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env["SEND_EMAIL_NODEMAILER_SES"] = "nodemailer"
	h.start(t)
	monitorID, userID := h.monitor(t, `<script>alert("owned")</script>`, "ana@example.com", true)
	h.publish(t, statusChanged(t, monitorID, userID, up, down, `<img src=x onerror=alert(1)>`))
	mails := h.smtp.WaitMails(t, 1, 20*time.Second)

	html := mails[0].HTML
	assert.Contains(t, html, "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;")
	assert.Contains(t, html, "&lt;img src=x onerror=alert(1)&gt;")
	assert.NotContains(t, html, "<script>")
	assert.NotContains(t, html, "<img")
}

func TestNotifierSendsNothingWhenNoEmailIsDue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	active, user := h.monitor(t, "active", "ana@example.com", true)
	paused, _ := h.monitor(t, "paused", "ana@example.com", false)
	deleted, _ := h.monitor(t, "deleted", "ana@example.com", true)
	_, err := h.db.Exec(t.Context(), `DELETE FROM monitors WHERE id = $1`, deleted)
	require.NoError(t, err)

	h.publish(t, statusChanged(t, active, user, pending, down, "first check failed"))
	h.publish(t, statusChanged(t, active, user, pending, up, ""))
	h.publish(t, statusChanged(t, paused, user, up, down, "x"))
	h.publish(t, statusChanged(t, deleted, user, up, down, "x"))
	h.publish(t, []byte("not a protobuf envelope at all")) // malformed: dead-lettered, nothing sent
	// A real flip last: once it is delivered, the others were handled.
	marker, _ := h.monitor(t, "marker", "marker@example.com", true)
	h.publish(t, statusChanged(t, marker, user, up, down, "x"))
	require.Eventually(t, func() bool { return len(h.ses.Requests()) == 1 }, 20*time.Second, 20*time.Millisecond)

	reqs := h.ses.Requests()
	assert.Equal(t, []string{"marker@example.com"}, reqs[0].To)
	assert.Empty(t, h.smtp.Mails())
	var rows int
	require.NoError(t, h.db.QueryRow(t.Context(), `SELECT count(*) FROM notifications`).Scan(&rows))
	assert.Equal(t, 1, rows)
	require.Eventually(t, func() bool {
		n, err := h.rdb.XLen(context.Background(), h.ks.Key(stream.DLQ)).Result()
		return err == nil && n == 1
	}, 20*time.Second, 50*time.Millisecond, "the malformed entry is dead-lettered")
}

func TestRunServesHealthAndMetricsAndStopsOnSignal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	port := testenv.FreePort(t)
	h.env["NOTIFIER_HTTP_PORT"] = strconv.Itoa(port)
	stop := testenv.StartService(t, run, h.env, port)

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for _, path := range []string{"/health/liveness", "/health/readiness", "/health", "/metrics"} {
		code, err := testenv.GetStatus(base + path)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code, path)
	}
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = resp.Body.Close()
	for _, name := range []string{`uptime_notifier_breaker_state{provider="ses"} 0`, `uptime_notifier_breaker_state{provider="smtp"} 0`} {
		assert.True(t, strings.Contains(string(body), name), "metrics expose %s", name)
	}
	require.NoError(t, stop(), "a clean shutdown returns no error")
	_, err = testenv.GetStatus(base + "/health/liveness")
	assert.Error(t, err, "the port is closed after shutdown")
}
