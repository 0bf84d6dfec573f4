package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestPingLogLists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	aliceID, aliceTok := h.user("alice@example.com", store.RoleUser)
	bobID, bobTok := h.user("bob@example.com", store.RoleUser)
	_, adminTok := h.user(adminEmail, store.RoleAdmin)
	a1 := h.monitor(aliceID, "Alice 1", "https://example.com/1")
	a2 := h.monitor(aliceID, "Alice 2", "https://example.com/2")
	b1 := h.monitor(bobID, "Bob 1", "https://example.com/3")

	now := time.Now().UTC().Truncate(time.Minute)
	at := func(minutesAgo int) time.Time { return now.Add(-time.Duration(minutesAgo) * time.Minute) }
	// Interleaved so that newest-first mixes monitors and users.
	l1 := h.pingLog(a1, at(1), true)
	b1l := h.pingLog(b1, at(2), true)
	l2 := h.pingLog(a2, at(3), false)
	l3 := h.pingLog(a1, at(4), true)
	b2l := h.pingLog(b1, at(5), false)
	l4 := h.pingLog(a1, at(6), false)

	cases := []struct {
		name  string
		token string
		path  string
		want  []string
		meta  pageMeta
	}{
		{"an ADMIN lists every log newest first", adminTok, "/api/v1/ping-log?limit=100",
			[]string{l1, b1l, l2, l3, b2l, l4}, pageMeta{CurrentPage: 1, TotalPages: 1, TotalItems: 6, ItemsPerPage: 100}},
		{"an ADMIN filters by monitorId", adminTok, "/api/v1/ping-log?monitorId=" + a1,
			[]string{l1, l3, l4}, pageMeta{CurrentPage: 1, TotalPages: 1, TotalItems: 3, ItemsPerPage: 10}},
		{"an ADMIN's pages are counted", adminTok, "/api/v1/ping-log?limit=4&page=2",
			[]string{b2l, l4}, pageMeta{CurrentPage: 2, TotalPages: 2, PrevPage: intPtr(1), TotalItems: 6, ItemsPerPage: 4}},
		{"my-logs has only the caller's logs, newest first", aliceTok, "/api/v1/ping-log/user/my-logs",
			[]string{l1, l2, l3, l4}, pageMeta{CurrentPage: 1, TotalPages: 1, TotalItems: 4, ItemsPerPage: 10}},
		{"my-logs of another user has only theirs", bobTok, "/api/v1/ping-log/user/my-logs",
			[]string{b1l, b2l}, pageMeta{CurrentPage: 1, TotalPages: 1, TotalItems: 2, ItemsPerPage: 10}},
		{"my-logs paginates", aliceTok, "/api/v1/ping-log/user/my-logs?limit=3",
			[]string{l1, l2, l3}, pageMeta{CurrentPage: 1, TotalPages: 2, NextPage: intPtr(2), TotalItems: 4, ItemsPerPage: 3}},
		{"my-logs' last page", aliceTok, "/api/v1/ping-log/user/my-logs?limit=3&page=2",
			[]string{l4}, pageMeta{CurrentPage: 2, TotalPages: 2, PrevPage: intPtr(1), TotalItems: 4, ItemsPerPage: 3}},
		{"my-logs filters by one of the caller's monitors", aliceTok, "/api/v1/ping-log/user/my-logs?monitorId=" + a2,
			[]string{l2}, pageMeta{CurrentPage: 1, TotalPages: 1, TotalItems: 1, ItemsPerPage: 10}},
		{"my-logs filtered by another user's monitor is empty", aliceTok, "/api/v1/ping-log/user/my-logs?monitorId=" + b1,
			[]string{}, pageMeta{CurrentPage: 1, TotalItems: 0, ItemsPerPage: 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodGet, tc.path, tc.token, nil)
			require.Equal(t, http.StatusOK, r.code, string(r.body))
			p := decode[listPage[map[string]any]](t, r.body)
			got := []string{}
			for _, l := range p.Data {
				got = append(got, l["id"].(string))
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.meta, p.Pagination)
		})
	}
	for _, tc := range []struct{ name, path, want string }{
		{"a monitorId that is not a uuid is refused", "/api/v1/ping-log/user/my-logs?monitorId=abc", "monitorId must be a UUID"},
		{"a limit above 100 is refused", "/api/v1/ping-log/user/my-logs?limit=500", "limit must not be greater than 100"},
		{"an unknown parameter is named", "/api/v1/ping-log/user/my-logs?sortBy=recent", "property sortBy should not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertMentions(t, requireValidation(t, h.request(http.MethodGet, tc.path, aliceTok, nil)), tc.want)
		})
	}
}

func TestOnePingLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("logs@example.com", store.RoleUser)
	_, strangerTok := h.user("stranger@example.com", store.RoleUser)
	mon := h.monitor(userID, "Logged", "https://example.com")
	slot := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	failed := h.pingLog(mon, slot, false)

	t.Run("a ping log has the old contract's shape", func(t *testing.T) {
		t.Parallel()
		r := h.request(http.MethodGet, "/api/v1/ping-log/id/"+failed, tok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		l := decode[map[string]any](t, r.body)
		for _, key := range []string{"id", "monitorId", "statusCode", "durationMs", "error", "timestamp", "success", "createdAt", "updatedAt"} {
			assert.Contains(t, l, key)
		}
		assert.Equal(t, failed, l["id"])
		assert.Equal(t, mon, l["monitorId"])
		assert.InDelta(t, 503, l["statusCode"], 0)
		assert.InDelta(t, 42, l["durationMs"], 0)
		assert.Nil(t, l["error"])
		assert.Equal(t, false, l["success"])
		assert.Equal(t, slot.Format(time.RFC3339), l["timestamp"])
		assert.Regexp(t, rfc3339Z, l["createdAt"])
		assert.Equal(t, l["createdAt"], l["updatedAt"], "ping logs never change")
	})

	t.Run("a missing ping log is a 404 naming it", func(t *testing.T) {
		t.Parallel()
		missing := "00000000-0000-4000-8000-000000000003"
		msgs := requireError(t, h.request(http.MethodGet, "/api/v1/ping-log/id/"+missing, tok, nil), http.StatusNotFound)
		assert.Equal(t, []string{"PingLog with id " + missing + " not found"}, msgs)
	})

	t.Run("an id that is not a uuid is a 400", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"/api/v1/ping-log/id/7", "/api/v1/ping-log/7"} {
			method := http.MethodGet
			if !strings.Contains(p, "/id/") {
				method = http.MethodDelete
			}
			assert.Equal(t, []string{"id must be a UUID"}, requireValidation(t, h.request(method, p, tok, nil)), p)
		}
	})

	t.Run("another user's ping log is a 404 and cannot be deleted", func(t *testing.T) {
		t.Parallel()
		theirs := h.pingLog(mon, slot.Add(-time.Hour), true)
		requireError(t, h.request(http.MethodGet, "/api/v1/ping-log/id/"+theirs, strangerTok, nil), http.StatusNotFound)
		requireError(t, h.request(http.MethodDelete, "/api/v1/ping-log/"+theirs, strangerTok, nil), http.StatusNotFound)
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM ping_logs WHERE id = $1`, theirs))
	})

	t.Run("deleting answers text and removes the log", func(t *testing.T) {
		t.Parallel()
		doomed := h.pingLog(mon, slot.Add(-2*time.Hour), true)
		r := h.request(http.MethodDelete, "/api/v1/ping-log/"+doomed, tok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.Equal(t, "PingLog deleted successfully", string(r.body))
		assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), r.header.Get("Content-Type"))
		assert.Zero(t, h.count(`SELECT count(*) FROM ping_logs WHERE id = $1`, doomed))
		requireError(t, h.request(http.MethodGet, "/api/v1/ping-log/id/"+doomed, tok, nil), http.StatusNotFound)
		requireError(t, h.request(http.MethodDelete, "/api/v1/ping-log/"+doomed, tok, nil), http.StatusNotFound)
	})
}
