package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/servercheck/uptime/services/api/internal/store"
)

// TestEveryRouteAnswersEveryRole walks every /api/v1 route with an
// anonymous caller, a GUEST, a USER (the owner of the resources used) and
// an ADMIN, and checks the status each gets. Another user's resources
// answer 404 to a USER or GUEST, never revealing that they exist.
func TestEveryRouteAnswersEveryRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ownerID, ownerTok := h.user("owner@example.com", store.RoleUser)
	_, guestTok := h.user("guest@example.com", store.RoleGuest)
	_, adminTok := h.user(adminEmail, store.RoleAdmin)
	tokens := map[string]string{"anonymous": "", "guest": guestTok, "user": ownerTok, "admin": adminTok}

	// Each call gets fresh resources where the route destroys them.
	newMonitor := func() string { return h.monitor(ownerID, "Owned", "https://example.com") }
	newLog := func() string { return h.pingLog(newMonitor(), time.Now().Truncate(time.Minute), true) }
	newUser := func() string {
		var id string
		if err := h.db.Pool.QueryRow(t.Context(), `INSERT INTO users (email) VALUES ('x-'||gen_random_uuid()||'@example.com') RETURNING id::text`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	newDeadLetter := func() string {
		var id string
		if err := h.db.Pool.QueryRow(t.Context(), `INSERT INTO dead_letters (source_stream, original_id, payload, error, deliveries, failed_at)
			VALUES ('events', gen_random_uuid()::text, '\x00', 'boom', 3, now()) RETURNING id::text`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	sharedDeadLetter := newDeadLetter()
	shared := newMonitor()
	sharedLog := h.pingLog(shared, time.Now().Truncate(time.Minute), true)
	validMonitor := map[string]any{"name": "New", "url": "https://example.com/health", "frequency": 60}

	routes := []struct {
		method string
		path   func() string
		body   any
		want   map[string]int // anonymous, guest, user, admin
	}{
		{"POST", fixed("/api/v1/uptime"), validMonitor, codes(401, 403, 201, 201)},
		{"GET", fixed("/api/v1/uptime"), nil, codes(401, 200, 200, 200)},
		{"GET", fixed("/api/v1/uptime/stats"), nil, codes(401, 403, 403, 200)},
		{"POST", fixed("/api/v1/uptime/flush"), nil, codes(401, 403, 403, 201)},
		{"GET", fixed("/api/v1/uptime/flush"), nil, codes(401, 403, 403, 200)},
		{"POST", fixed("/api/v1/uptime/queue/sync"), nil, codes(401, 403, 403, 201)},
		{"POST", fixed("/api/v1/uptime/queue/clear"), nil, codes(401, 403, 403, 201)},
		{"GET", fixed("/api/v1/uptime/stats/user"), nil, codes(401, 200, 200, 200)},
		{"GET", fixed("/api/v1/uptime/stats/aggregates/" + shared), nil, codes(401, 404, 200, 200)},
		{"GET", fixed("/api/v1/uptime/logs/" + shared), nil, codes(401, 404, 200, 200)},
		{"GET", fixed("/api/v1/uptime/incidents/user"), nil, codes(401, 200, 200, 200)},
		{"GET", fixed("/api/v1/uptime/incidents/" + shared), nil, codes(401, 404, 200, 200)},
		{"GET", fixed("/api/v1/uptime/" + shared), nil, codes(401, 404, 200, 200)},
		{"PATCH", fixed("/api/v1/uptime/" + shared), map[string]any{"name": "Renamed"}, codes(401, 403, 200, 200)},
		{"DELETE", func() string { return "/api/v1/uptime/" + newMonitor() }, nil, codes(401, 403, 200, 200)},
		{"GET", fixed("/api/v1/ping-log"), nil, codes(401, 403, 403, 200)},
		{"GET", fixed("/api/v1/ping-log/user/my-logs"), nil, codes(401, 200, 200, 200)},
		{"GET", fixed("/api/v1/ping-log/id/" + sharedLog), nil, codes(401, 404, 200, 200)},
		{"DELETE", func() string { return "/api/v1/ping-log/" + newLog() }, nil, codes(401, 403, 200, 200)},
		{"GET", fixed("/api/v1/dead-letters"), nil, codes(401, 403, 403, 200)},
		{"GET", fixed("/api/v1/dead-letters/" + sharedDeadLetter), nil, codes(401, 403, 403, 200)},
		{"POST", func() string { return "/api/v1/dead-letters/" + newDeadLetter() + "/replay" }, nil, codes(401, 403, 403, 200)},
		{"POST", func() string { return "/api/v1/dead-letters/" + newDeadLetter() + "/discard" }, nil, codes(401, 403, 403, 200)},
		{"POST", fixed("/api/v1/user"), nil, codes(401, 403, 403, 201)},
		{"GET", fixed("/api/v1/user"), nil, codes(401, 403, 403, 200)},
		{"GET", fixed("/api/v1/user/" + ownerID), nil, codes(401, 403, 200, 200)},
		{"PATCH", fixed("/api/v1/user/" + ownerID), map[string]any{"email": "owner@example.com"}, codes(401, 403, 200, 200)},
		{"DELETE", func() string { return "/api/v1/user/" + newUser() }, nil, codes(401, 403, 403, 200)},
	}
	for _, rt := range routes {
		for _, role := range []string{"anonymous", "guest", "user", "admin"} {
			body := rt.body
			if rt.method == "POST" && rt.path() == "/api/v1/user" {
				body = map[string]any{"email": role + "-new-" + time.Now().Format("150405.000000") + "@example.com"}
			}
			path := rt.path()
			code, raw := h.do(rt.method, path, tokens[role], body)
			assert.Equal(t, rt.want[role], code, "%s %s as %s: %s", rt.method, path, role, raw)
		}
	}
}

func fixed(p string) func() string { return func() string { return p } }

func codes(anonymous, guest, user, admin int) map[string]int {
	return map[string]int{"anonymous": anonymous, "guest": guest, "user": user, "admin": admin}
}

func TestAnotherUsersMonitorIsNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	aliceID, _ := h.user("alice@example.com", store.RoleUser)
	_, bobTok := h.user("bob@example.com", store.RoleUser)
	alices := h.monitor(aliceID, "Alice's", "https://example.com")
	missing := "00000000-0000-4000-8000-000000000000"

	for _, path := range []string{"/api/v1/uptime/", "/api/v1/uptime/logs/", "/api/v1/uptime/incidents/", "/api/v1/uptime/stats/aggregates/"} {
		theirs, _ := h.do(http.MethodGet, path+alices, bobTok, nil)
		none, _ := h.do(http.MethodGet, path+missing, bobTok, nil)
		assert.Equal(t, http.StatusNotFound, theirs, path)
		assert.Equal(t, none, theirs, "%s: another user's monitor answers like a missing one", path)
	}
	code, _ := h.do(http.MethodPatch, "/api/v1/uptime/"+alices, bobTok, map[string]any{"name": "hijack"})
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = h.do(http.MethodDelete, "/api/v1/uptime/"+alices, bobTok, nil)
	assert.Equal(t, http.StatusNotFound, code)
	var name string
	if err := h.db.Pool.QueryRow(t.Context(), `SELECT name FROM monitors WHERE id = $1`, alices).Scan(&name); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, "Alice's", name, "untouched")
}
