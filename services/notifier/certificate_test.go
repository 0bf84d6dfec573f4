package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/proto-events/events"
	eventsv1 "github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// certificateExpiring encodes a CertificateExpiring event of monitorID.
func certificateExpiring(t *testing.T, monitorID string, daysLeft int32) []byte {
	t.Helper()
	at := time.Date(2027, 2, 20, 9, 0, 0, 0, time.UTC)
	env, err := events.New("checker/test", &eventsv1.CertificateExpiring{
		MonitorId: monitorID, ExpiresAt: timestamppb.New(at.Add(time.Duration(daysLeft)*24*time.Hour + time.Hour)),
		DaysLeft: daysLeft, AlertBeforeDays: 30, At: timestamppb.New(at), Slot: timestamppb.New(at),
		MonitorUrl: "https://shop.example.com/health",
	})
	require.NoError(t, err)
	b, err := events.Marshal(env)
	require.NoError(t, err)
	return b
}

func TestNotifierEmailsAnExpiringCertificateOncePerEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env["SEND_EMAIL_NODEMAILER_SES"] = "nodemailer"
	h.start(t)
	monitorID, _ := h.monitor(t, "Tienda", "ana@example.com", true)
	payload := certificateExpiring(t, monitorID, 9)
	for range 3 {
		h.publish(t, payload) // one event redelivered or re-driven
	}
	mails := h.smtp.WaitMails(t, 1, 20*time.Second)
	h.settled(t)

	assert.Len(t, h.smtp.Mails(), 1, "one email for one event")
	assert.Equal(t, []string{"ana@example.com"}, mails[0].To)
	assert.Equal(t, "El certificado de uno de tus servidores está por caducar", mails[0].Subject)
	assert.Contains(t, mails[0].Text, `El certificado de tu servidor "Tienda" caduca en 9 días (2027-03-01 10:00:00 UTC)`)
	assert.Contains(t, mails[0].HTML, "CADUCA EN 9 DÍAS")
	assert.Contains(t, mails[0].HTML, "https://shop.example.com/health")
	var kind string
	var toStatus *string
	require.NoError(t, h.db.QueryRow(t.Context(),
		`SELECT kind, to_status FROM notifications WHERE monitor_id = $1`, monitorID).Scan(&kind, &toStatus))
	assert.Equal(t, "CERTIFICATE_EXPIRING", kind)
	assert.Nil(t, toStatus)
	state, provider, _ := h.notification(t, monitorID)
	assert.Equal(t, "SENT", state)
	assert.Equal(t, "smtp", provider)
}

func TestNotifierEmailsNoCertificateAlertForAPausedOrDeletedMonitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env["SEND_EMAIL_NODEMAILER_SES"] = "nodemailer"
	h.start(t)
	paused, _ := h.monitor(t, "paused", "ana@example.com", false)
	deleted, _ := h.monitor(t, "deleted", "ana@example.com", true)
	_, err := h.db.Exec(t.Context(), `DELETE FROM monitors WHERE id = $1`, deleted)
	require.NoError(t, err)
	h.publish(t, certificateExpiring(t, paused, 5))
	h.publish(t, certificateExpiring(t, deleted, 5))
	// An alert of an active monitor last: once it is delivered, the others were handled.
	marker, _ := h.monitor(t, "marker", "marker@example.com", true)
	h.publish(t, certificateExpiring(t, marker, 5))
	mails := h.smtp.WaitMails(t, 1, 20*time.Second)
	h.settled(t)

	require.Len(t, h.smtp.Mails(), 1)
	assert.Equal(t, []string{"marker@example.com"}, mails[0].To)
	var rows int
	require.NoError(t, h.db.QueryRow(t.Context(), `SELECT count(*) FROM notifications`).Scan(&rows))
	assert.Equal(t, 1, rows)
}
