package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestMaintenanceWindowsAreStoredShownAndPublished(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("maint@example.com", store.RoleUser)
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(map[string]any{
		"maintenanceUntil": until.Format(time.RFC3339),
		"maintenanceWindows": []map[string]any{
			{"daysOfWeek": []int{0, 6}, "startMinute": 120, "durationMinutes": 90, "timezone": "Europe/Madrid"},
			{"daysOfWeek": []int{3}, "startMinute": 0, "durationMinutes": 30, "timezone": "UTC", "enabled": false},
		},
	}))
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	m := decode[map[string]any](t, r.body)
	id, _ := m["id"].(string)
	assert.Equal(t, "MAINTENANCE", m["status"], "a one-off maintenance is on")
	assert.Equal(t, until.Format(time.RFC3339), m["maintenanceUntil"])
	windows, _ := m["maintenanceWindows"].([]any)
	require.Len(t, windows, 2)
	assert.Equal(t, map[string]any{"daysOfWeek": []any{0.0, 6.0}, "startMinute": 120.0, "durationMinutes": 90.0,
		"timezone": "Europe/Madrid", "enabled": true}, windows[0], "enabled defaults to true")
	assert.Equal(t, 2, h.count(`SELECT count(*) FROM maintenance_windows WHERE monitor_id = $1`, id))

	spec := h.changes()[0].GetMonitor()
	assert.Equal(t, until, spec.GetMaintenanceUntil().AsTime())
	require.Len(t, spec.GetMaintenanceWindows(), 1, "the scheduler gets the enabled windows only")
	assert.Equal(t, "Europe/Madrid", spec.GetMaintenanceWindows()[0].GetTimeZone())

	// Ending the maintenance and replacing the windows: the stored status
	// shows again, the spec is newer and carries the new windows.
	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{
		"maintenanceUntil":   nil,
		"maintenanceWindows": []map[string]any{{"daysOfWeek": []int{1}, "startMinute": 60, "durationMinutes": 60}},
	})
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	updated, _ := decode[map[string]any](t, r.body)["monitor"].(map[string]any)
	assert.Equal(t, "PENDING", updated["status"])
	assert.Nil(t, updated["maintenanceUntil"])
	windows, _ = updated["maintenanceWindows"].([]any)
	require.Len(t, windows, 1)
	assert.Equal(t, "UTC", windows[0].(map[string]any)["timezone"], "the zone defaults to UTC")
	changes := h.changes()
	require.Len(t, changes, 2)
	assert.True(t, changes[1].GetMonitor().GetUpdatedAt().AsTime().After(changes[0].GetMonitor().GetUpdatedAt().AsTime()),
		"a change of windows alone makes a newer spec")
	assert.Nil(t, changes[1].GetMonitor().GetMaintenanceUntil())
	require.Len(t, changes[1].GetMonitor().GetMaintenanceWindows(), 1)

	// An empty list removes them.
	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"maintenanceWindows": []any{}})
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assert.Equal(t, 0, h.count(`SELECT count(*) FROM maintenance_windows WHERE monitor_id = $1`, id))
}

func TestAMonitorInsideARecurringWindowShowsMaintenance(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("window@example.com", store.RoleUser)
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(map[string]any{
		"maintenanceWindows": []map[string]any{
			{"daysOfWeek": []int{0, 1, 2, 3, 4, 5, 6}, "startMinute": 0, "durationMinutes": 1440, "timezone": "Pacific/Auckland"},
		},
	}))
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	id := decode[map[string]any](t, r.body)["id"].(string)
	r = h.request(http.MethodGet, "/api/v1/uptime/"+id, tok, nil)
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "MAINTENANCE", decode[map[string]any](t, r.body)["status"])
	r = h.request(http.MethodGet, "/api/v1/uptime", tok, nil)
	require.Equal(t, http.StatusOK, r.code)
	list, _ := decode[map[string]any](t, r.body)["data"].([]any)
	require.Len(t, list, 1)
	assert.Equal(t, "MAINTENANCE", list[0].(map[string]any)["status"])
}

func TestInvalidMaintenanceIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("badmaint@example.com", store.RoleUser)
	tests := []struct {
		name  string
		field map[string]any
		want  []string
	}{
		{"an until without a zone", map[string]any{"maintenanceUntil": "2026-12-24 18:00"}, []string{"maintenanceUntil must be an ISO 8601 date-time with a time zone"}},
		{"an until that is not a string", map[string]any{"maintenanceUntil": 5}, []string{"maintenanceUntil must be an ISO 8601 date-time string or null"}},
		{"windows that are not a list", map[string]any{"maintenanceWindows": "sundays"}, []string{"maintenanceWindows must be an array"}},
		{"a window with every value wrong", map[string]any{"maintenanceWindows": []map[string]any{
			{"daysOfWeek": []int{7}, "startMinute": 1440, "durationMinutes": 0, "timezone": "Mars/Base"},
		}}, []string{
			"maintenanceWindows.0.daysOfWeek must hold days 0 (Sunday) to 6 (Saturday), got 7",
			"maintenanceWindows.0.startMinute must be 0..1439, got 1440",
			"maintenanceWindows.0.durationMinutes must be 1..10080, got 0",
			`maintenanceWindows.0.timezone must be an IANA time zone such as Europe/Madrid`,
		}},
		{"a window missing its fields", map[string]any{"maintenanceWindows": []map[string]any{{"timezone": "UTC"}}}, []string{
			"maintenanceWindows.0.daysOfWeek is required", "maintenanceWindows.0.startMinute is required",
			"maintenanceWindows.0.durationMinutes is required",
		}},
		{"a window with an unknown field", map[string]any{"maintenanceWindows": []map[string]any{
			{"daysOfWeek": []int{1}, "startMinute": 0, "durationMinutes": 5, "everyOtherWeek": true},
		}}, []string{"maintenanceWindows.0 must be an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(tt.field))
			require.Equal(t, http.StatusBadRequest, r.code, string(r.body))
			for _, w := range tt.want {
				assert.Contains(t, string(r.body), w)
			}
		})
	}
	assert.Equal(t, 0, h.count(`SELECT count(*) FROM monitors`), "nothing was stored")
}
