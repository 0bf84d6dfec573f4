package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestAdminReplaysAndDiscardsDeadLetters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, admin := h.user(adminEmail, store.RoleAdmin)
	park := func(original string) string {
		var id string
		require.NoError(t, h.db.Pool.QueryRow(t.Context(), `INSERT INTO dead_letters (source_stream, original_id, payload, error, deliveries, failed_at)
			VALUES ('results', $1, 'payload', 'constraint violated', 3, now()) RETURNING id::text`, original).Scan(&id))
		return id
	}
	first, second := park("1-0"), park("2-0")

	code, raw := h.do(http.MethodGet, "/api/v1/dead-letters?status=parked", admin, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	listed := decode[map[string]any](t, raw)
	assert.EqualValues(t, 2, listed["pagination"].(map[string]any)["totalItems"])

	code, raw = h.do(http.MethodPost, "/api/v1/dead-letters/"+first+"/replay", admin, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	assert.Equal(t, "REPLAYED", decode[map[string]any](t, raw)["status"])
	entries, err := h.rdb.XRange(t.Context(), h.ks.Key("results"), "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 1, "the payload is back on its source stream")
	assert.Equal(t, "payload", entries[0].Values["d"])

	code, _ = h.do(http.MethodPost, "/api/v1/dead-letters/"+first+"/replay", admin, nil)
	assert.Equal(t, http.StatusConflict, code, "a replayed dead letter cannot be replayed twice")

	code, raw = h.do(http.MethodPost, "/api/v1/dead-letters/"+second+"/discard", admin, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	assert.Equal(t, "DISCARDED", decode[map[string]any](t, raw)["status"])

	code, _ = h.do(http.MethodGet, "/api/v1/dead-letters/00000000-0000-4000-8000-000000000000", admin, nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = h.do(http.MethodGet, "/api/v1/dead-letters?status=lost", admin, nil)
	assert.Equal(t, http.StatusBadRequest, code)
}
