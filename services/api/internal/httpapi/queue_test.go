package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestQueueSyncSchedulesEveryActiveMonitorAndClearKeepsTheSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ownerID, _ := h.user("owner@example.com", store.RoleUser)
	_, admin := h.user(adminEmail, store.RoleAdmin)
	h.monitor(ownerID, "a", "https://example.com")
	h.monitor(ownerID, "b", "https://example.com")
	h.monitor(ownerID, "paused", "https://example.com", "is_active = false")

	code, raw := h.do(http.MethodPost, "/api/v1/uptime/queue/sync", admin, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))
	res := decode[map[string]float64](t, raw)
	assert.EqualValues(t, 2, res["added"], "the active monitors were missing")
	assert.EqualValues(t, 2, res["jobsCreated"])
	due, err := h.rdb.ZCard(t.Context(), h.ks.Key("sched:due")).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 2, due)

	code, raw = h.do(http.MethodPost, "/api/v1/uptime/queue/sync", admin, nil)
	require.Equal(t, http.StatusCreated, code)
	assert.EqualValues(t, 0, decode[map[string]float64](t, raw)["added"], "a second sync finds nothing to repair")

	code, raw = h.do(http.MethodPost, "/api/v1/uptime/queue/clear", admin, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))
	assert.Equal(t, "Queue cleared successfully", decode[map[string]any](t, raw)["message"])
	due, err = h.rdb.ZCard(t.Context(), h.ks.Key("sched:due")).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 2, due, "clearing drops pending jobs, not the schedule")
}
