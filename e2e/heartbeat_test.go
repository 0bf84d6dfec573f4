package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pingHeartbeat calls a heartbeat URL as a cron job would: no token.
func pingHeartbeat(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestHeartbeatMonitorGoesDownWhenSilentAndUpWhenPinged is the issue's
// scenario with the real binaries: a HEARTBEAT monitor pinged is UP; left
// silent past interval + grace it is DOWN ("Heartbeat overdue") with an
// ongoing incident and one email; pinged again it is UP, the incident
// resolved and a second email sent. Checks run every 60 s, so this takes
// three to four minutes.
func TestHeartbeatMonitorGoesDownWhenSilentAndUpWhenPinged(t *testing.T) {
	t.Parallel()
	s := newSystem(t, nil)
	s.startPipeline(nil)
	tok := s.token("cron@example.com", "USER")

	var created struct {
		ID              string `json:"id"`
		Frequency       int    `json:"frequency"`
		HeartbeatSecret string `json:"heartbeatSecret"`
		HeartbeatURL    string `json:"heartbeatUrl"`
	}
	require.Equal(t, http.StatusCreated, s.call(http.MethodPost, "/uptime", tok, map[string]any{
		"name": "nightly-backup", "monitorType": "HEARTBEAT",
		"heartbeatIntervalSeconds": 60, "heartbeatGraceSeconds": 2,
	}, &created))
	require.NotEmpty(t, created.HeartbeatSecret)
	assert.Equal(t, 60, created.Frequency)
	assert.Equal(t, s.api+"/api/v1/heartbeats/"+created.HeartbeatSecret, created.HeartbeatURL)
	require.Equal(t, http.StatusCreated, pingHeartbeat(t, http.MethodPost, created.HeartbeatURL))

	// The secret is shown once: never by a later read.
	var raw json.RawMessage
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime/"+created.ID, tok, nil, &raw))
	assert.NotContains(t, string(raw), created.HeartbeatSecret)
	assert.NotContains(t, string(raw), "heartbeatSecret")
	assert.Contains(t, string(raw), `"heartbeatLastReceivedAt":"`)
	assert.Equal(t, http.StatusNotFound, pingHeartbeat(t, http.MethodPost, s.api+"/api/v1/heartbeats/"+strings.Repeat("A", 43)))

	// The first check (within a minute) finds the ping: UP, no email.
	waitFor(t, 80*time.Second, "UP after the first ping", func() bool { return s.status(tok, created.ID) == "UP" })

	// Silent past interval + grace: the next check or the one after fails.
	waitFor(t, 150*time.Second, "DOWN once the heartbeat is overdue", func() bool { return s.status(tok, created.ID) == "DOWN" })
	waitFor(t, 10*time.Second, "an ongoing incident", func() bool {
		return s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, created.ID) == 1
	})
	var code int
	var cause string
	require.NoError(t, s.db.QueryRow(context.Background(),
		`SELECT status_code, error FROM ping_logs WHERE monitor_id = $1 AND NOT success ORDER BY slot DESC LIMIT 1`, created.ID).Scan(&code, &cause))
	assert.Equal(t, http.StatusGatewayTimeout, code)
	assert.Equal(t, "Heartbeat overdue", cause)
	down := s.mail.WaitMails(t, 1, 20*time.Second)
	assert.Equal(t, []string{"cron@example.com"}, down[0].To)
	assert.Equal(t, "Actualización de estado de uno de tus servidores", down[0].Subject)
	assert.Contains(t, down[0].Text, `El estado de tu servidor "nightly-backup" ha cambiado a: DOWN`)
	assert.Contains(t, down[0].Text, "Heartbeat overdue")
	assert.Contains(t, down[0].HTML, "CAÍDO")

	// A ping (a GET this time): the next check is UP and the incident resolved.
	require.Equal(t, http.StatusOK, pingHeartbeat(t, http.MethodGet, created.HeartbeatURL))
	waitFor(t, 80*time.Second, "UP after the ping", func() bool { return s.status(tok, created.ID) == "UP" })
	waitFor(t, 10*time.Second, "the incident resolved", func() bool {
		return s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'RESOLVED' AND ended_at IS NOT NULL`, created.ID) == 1
	})
	assert.Zero(t, s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, created.ID))
	mails := s.mail.WaitMails(t, 2, 20*time.Second)
	assert.Contains(t, mails[1].Text, `El estado de tu servidor "nightly-backup" ha cambiado a: UP`)
	assert.Contains(t, mails[1].HTML, "OPERATIVO")
	assert.Len(t, s.mail.Mails(), 2, "exactly the two flips were emailed")
}
