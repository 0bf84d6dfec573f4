package httpapi_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withRateLimit(1, 3))

	var limited *response
	passed := 0
	for range 10 {
		r := h.request(http.MethodGet, "/api/v1/uptime", "", nil)
		if r.code == http.StatusTooManyRequests {
			limited = &r
			break
		}
		assert.Equal(t, http.StatusUnauthorized, r.code, "within the burst the request goes on to authentication")
		passed++
	}
	require.NotNil(t, limited, "a burst over the limit is refused")
	assert.GreaterOrEqual(t, passed, 3, "the burst is allowed")
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is whole seconds: %q", limited.header.Get("Retry-After"))
	assert.GreaterOrEqual(t, retry, 1)
	msgs := requireError(t, *limited, http.StatusTooManyRequests)
	assertMentions(t, msgs, "Too many requests")
	assert.Equal(t, "Too Many Requests", decode[errorEnvelope](t, limited.body).Error)

	for range 20 {
		code, body := h.do(http.MethodGet, "/health/liveness", "", nil)
		require.Equal(t, http.StatusOK, code, "liveness is never limited: %s", body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	preflight := func(origin string) response {
		return h.request(http.MethodOptions, "/api/v1/uptime", "", nil,
			"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	}

	t.Run("a preflight from the front end is answered 204 with credentials", func(t *testing.T) {
		t.Parallel()
		r := preflight("https://app.example.com")
		assert.Equal(t, http.StatusNoContent, r.code, string(r.body))
		assert.Equal(t, "https://app.example.com", r.header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", r.header.Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "PATCH")
		assert.Contains(t, strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "authorization")
		assert.Contains(t, r.header.Values("Vary"), "Origin")
	})

	t.Run("a preflight from another origin gets no CORS headers", func(t *testing.T) {
		t.Parallel()
		r := preflight("https://evil.example")
		assert.NotEqual(t, http.StatusNoContent, r.code)
		for _, hd := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"} {
			assert.Empty(t, r.header.Get(hd), hd)
		}
	})

	t.Run("a simple request from the front end carries the CORS headers, errors included", func(t *testing.T) {
		t.Parallel()
		r := h.request(http.MethodGet, "/api/v1/uptime", "", nil, "Origin", "https://app.example.com")
		assert.Equal(t, http.StatusUnauthorized, r.code)
		assert.Equal(t, "https://app.example.com", r.header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", r.header.Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "Retry-After")
	})
}

func TestSecurityHeadersAreOnEveryResponse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("headers@example.com", store.RoleUser)
	for _, tc := range []struct {
		name, path, token string
	}{
		{"an API answer", "/api/v1/uptime", tok},
		{"an authentication failure", "/api/v1/uptime", ""},
		{"an unknown route", "/nowhere", ""},
		{"a health check", "/health/liveness", ""},
	} {
		t.Run(tc.name+" has the security headers", func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodGet, tc.path, tc.token, nil)
			assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
			assert.Equal(t, "DENY", r.header.Get("X-Frame-Options"))
			csp := r.header.Get("Content-Security-Policy")
			assert.Contains(t, csp, "default-src 'none'")
			assert.Contains(t, csp, "frame-ancestors 'none'")
			assert.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
			assert.Empty(t, r.header.Get("Strict-Transport-Security"), "HSTS is for production only")
		})
	}
}

var generatedRequestID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		sent string
		want func(t *testing.T, got string)
	}{
		{"a well-formed X-Request-Id is echoed", "req-123.abc:9", func(t *testing.T, got string) { assert.Equal(t, "req-123.abc:9", got) }},
		{"a missing X-Request-Id is generated", "", func(t *testing.T, got string) { assert.Regexp(t, generatedRequestID, got) }},
		{"an X-Request-Id with spaces is replaced", "bad id", func(t *testing.T, got string) { assert.Regexp(t, generatedRequestID, got) }},
		{"an overlong X-Request-Id is replaced", strings.Repeat("a", 129), func(t *testing.T, got string) { assert.Regexp(t, generatedRequestID, got) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var headers []string
			if tc.sent != "" {
				headers = []string{"X-Request-Id", tc.sent}
			}
			r := h.request(http.MethodGet, "/api/v1/uptime", "", nil, headers...)
			tc.want(t, r.header.Get("X-Request-Id"))
		})
	}
	t.Run("each generated id is new", func(t *testing.T) {
		t.Parallel()
		first := h.request(http.MethodGet, "/health/liveness", "", nil).header.Get("X-Request-Id")
		second := h.request(http.MethodGet, "/health/liveness", "", nil).header.Get("X-Request-Id")
		assert.NotEmpty(t, first)
		assert.NotEqual(t, first, second)
	})
}

func TestUnknownRoutesAndBadBodies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("bodies@example.com", store.RoleUser)

	t.Run("an unknown route is a 404 envelope naming it", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/nowhere"},
			{http.MethodGet, "/api/v1/nothing"},
			{http.MethodPut, "/api/v1/uptime"},
		} {
			msgs := requireError(t, h.request(tc.method, tc.path, tok, nil), http.StatusNotFound)
			assert.Equal(t, []string{"Cannot " + tc.method + " " + tc.path}, msgs)
		}
	})

	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"a body that is not JSON is a 400", http.MethodPost, "/api/v1/uptime", "name=x&url=y"},
		{"a truncated JSON body is a 400", http.MethodPost, "/api/v1/uptime", `{"name": "x"`},
		{"a JSON array body is a 400", http.MethodPost, "/api/v1/uptime", `[{"name": "x"}]`},
		{"a JSON null body is a 400", http.MethodPost, "/api/v1/uptime", `null`},
		{"a JSON string body is a 400", http.MethodPost, "/api/v1/uptime", `"x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertMentions(t, requireValidation(t, h.request(tc.method, tc.path, tok, tc.body)), "request body must be a JSON object")
		})
	}

	t.Run("a body over 256 KiB is a 413", func(t *testing.T) {
		t.Parallel()
		big := `{"name": "` + strings.Repeat("x", 300<<10) + `"}`
		requireError(t, h.request(http.MethodPost, "/api/v1/uptime", tok, big), http.StatusRequestEntityTooLarge)
	})
}

func TestMetricsLabelRequestsByRouteTemplate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("metrics@example.com", store.RoleUser)
	id := "00000000-0000-4000-8000-000000000004"
	code, _ := h.do(http.MethodGet, "/api/v1/uptime/"+id, tok, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = h.do(http.MethodGet, "/nowhere/"+id, "", nil)
	require.Equal(t, http.StatusNotFound, code)

	r := h.request(http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, r.code)
	text := string(r.body)
	assert.Regexp(t, `uptime_api_requests_total\{method="GET",route="/api/v1/uptime/:id",status="404"\} 1`, text)
	assert.Regexp(t, `uptime_api_requests_total\{method="GET",route="unmatched",status="404"\} 1`, text)
	assert.Contains(t, text, `uptime_api_request_duration_seconds_bucket{method="GET",route="/api/v1/uptime/:id"`)
	assert.NotContains(t, text, id, "raw ids never become labels")
}

// Issue 3: unknown body or query fields are rejected with 400 naming them,
// on every route.
func TestUnknownQueryParametersAreNamedOnEveryRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("params@example.com", store.RoleUser)
	_, adminTok := h.user(adminEmail, store.RoleAdmin)
	bystanderID, _ := h.user("bystander@example.com", store.RoleUser)
	mon := h.monitor(userID, "Params", "https://example.com")
	logID := h.pingLog(mon, time.Now().UTC().Truncate(time.Minute), true)

	cases := []struct {
		method, route, path, token string
		body                       any
	}{
		{http.MethodPost, "/uptime", "/api/v1/uptime", tok, validMonitor(nil)},
		{http.MethodGet, "/uptime", "/api/v1/uptime", tok, nil},
		{http.MethodGet, "/uptime/:id", "/api/v1/uptime/" + mon, tok, nil},
		{http.MethodPatch, "/uptime/:id", "/api/v1/uptime/" + mon, tok, map[string]any{"name": "x"}},
		{http.MethodDelete, "/uptime/:id", "/api/v1/uptime/" + mon, tok, nil},
		{http.MethodGet, "/ping-log", "/api/v1/ping-log", adminTok, nil},
		{http.MethodGet, "/ping-log/user/my-logs", "/api/v1/ping-log/user/my-logs", tok, nil},
		{http.MethodGet, "/ping-log/id/:id", "/api/v1/ping-log/id/" + logID, tok, nil},
		{http.MethodDelete, "/ping-log/:id", "/api/v1/ping-log/" + logID, tok, nil},
		{http.MethodPost, "/user", "/api/v1/user", adminTok, map[string]any{"email": "fresh@example.com"}},
		{http.MethodGet, "/user", "/api/v1/user", adminTok, nil},
		{http.MethodGet, "/user/:id", "/api/v1/user/" + userID, tok, nil},
		{http.MethodPatch, "/user/:id", "/api/v1/user/" + bystanderID, adminTok, map[string]any{"role": "GUEST"}},
	}
	// The group returns when every parallel case has finished.
	t.Run("each route", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.method+" "+tc.route+" names an unknown query parameter", func(t *testing.T) {
				t.Parallel()
				msgs := requireValidation(t, h.request(tc.method, tc.path+"?bogus=1", tc.token, tc.body))
				assertMentions(t, msgs, "property bogus should not exist")
			})
		}
	})
	assert.Equal(t, 1, h.count(`SELECT count(*) FROM monitors WHERE name = 'Params'`), "no refused request changed or deleted the monitor")
	assert.Equal(t, 1, h.count(`SELECT count(*) FROM ping_logs`), "no refused request deleted the ping log")
	assert.Zero(t, h.count(`SELECT count(*) FROM users WHERE email = 'fresh@example.com'`), "no refused request created a user")
	assert.Equal(t, 1, h.count(`SELECT count(*) FROM users WHERE id = $1 AND role = 'USER'`, bystanderID), "no refused request changed a user")
}

func TestAForgedForwardedForDoesNotDodgeTheRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withRateLimit(1, 3))
	limited := false
	for i := range 10 {
		// Each request claims another client; no proxy is trusted, so the
		// limit keys on the peer address and still bites.
		r := h.request(http.MethodGet, "/api/v1/uptime", "", nil, "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
		if r.code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	assert.True(t, limited, "X-Forwarded-For from an untrusted peer is ignored")
}
