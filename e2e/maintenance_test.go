package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMaintenanceSuppressesIncidentsAndEmail: a monitor that fails during
// its maintenance keeps being checked and its results stored, but it shows
// MAINTENANCE, opens no incident, sends no email and loses no health; once
// the maintenance ends the same failure takes it DOWN with an incident and
// an email.
func TestMaintenanceSuppressesIncidentsAndEmail(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, 0)
	s := newSystem(t, nil)
	s.startPipeline(nil)
	tok := s.token("maintenance@example.com", "USER")

	m := s.createMonitor(tok, "planned", tg.URL+"/flappy")
	waitFor(t, 80*time.Second, "the monitor UP", func() bool { return s.status(tok, m.ID) == "UP" })

	until := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	require.Equal(t, http.StatusOK, s.call(http.MethodPatch, "/uptime/"+m.ID, tok, map[string]any{"maintenanceUntil": until}, nil))
	assert.Equal(t, "MAINTENANCE", s.status(tok, m.ID))
	tg.failing.Store(true)
	waitFor(t, 80*time.Second, "a failed check stored as maintenance", func() bool {
		return s.count(`SELECT count(*) FROM ping_logs WHERE monitor_id = $1 AND maintenance AND NOT success`, m.ID) >= 1
	})
	assert.Equal(t, "MAINTENANCE", s.status(tok, m.ID))
	assert.Equal(t, 0, s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1`, m.ID), "no incident in maintenance")
	assert.Equal(t, 0, s.count(`SELECT count(*) FROM monitors WHERE id = $1 AND status = 'DOWN'`, m.ID), "the stored status stays UP")
	var logs struct {
		Stats struct {
			Last24Hours struct {
				HealthPercentage float64 `json:"healthPercentage"`
				TotalChecks      int64   `json:"totalChecks"`
			} `json:"last24Hours"`
		} `json:"stats"`
	}
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime/logs/"+m.ID, tok, nil, &logs))
	assert.InDelta(t, 100, logs.Stats.Last24Hours.HealthPercentage, 0, "maintenance checks are not downtime")
	assert.Greater(t, logs.Stats.Last24Hours.TotalChecks, int64(1), "the maintenance checks are still listed")

	// The maintenance ends: the next failure counts.
	require.Equal(t, http.StatusOK, s.call(http.MethodPatch, "/uptime/"+m.ID, tok, map[string]any{"maintenanceUntil": nil}, nil))
	waitFor(t, 80*time.Second, "the monitor DOWN", func() bool { return s.status(tok, m.ID) == "DOWN" })
	waitFor(t, 10*time.Second, "an ongoing incident", func() bool {
		return s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, m.ID) == 1
	})
	mails := s.mail.WaitMails(t, 1, 20*time.Second)
	assert.Contains(t, mails[0].Text, `El estado de tu servidor "planned" ha cambiado a: DOWN`)
	assert.Len(t, s.mail.Mails(), 1, "only the flip after the maintenance was emailed")
}
