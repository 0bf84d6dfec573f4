package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/httpapi"
	"github.com/servercheck/uptime/services/api/internal/ops"
	"github.com/servercheck/uptime/services/api/internal/store"
)

func withPublicURL(u string) harnessOption {
	return func(c *httpapi.Config) { c.PublicURL = u }
}

// heartbeatMonitor is the create answer of a HEARTBEAT monitor.
type heartbeatMonitor struct {
	ID                       string     `json:"id"`
	URL                      string     `json:"url"`
	Frequency                int        `json:"frequency"`
	MonitorType              string     `json:"monitorType"`
	Status                   string     `json:"status"`
	HeartbeatIntervalSeconds *int       `json:"heartbeatIntervalSeconds"`
	HeartbeatGraceSeconds    *int       `json:"heartbeatGraceSeconds"`
	HeartbeatLastReceivedAt  *time.Time `json:"heartbeatLastReceivedAt"`
	HeartbeatSecret          string     `json:"heartbeatSecret"`
	HeartbeatURL             string     `json:"heartbeatUrl"`
}

func (h *harness) createHeartbeat(tok string, body map[string]any) heartbeatMonitor {
	h.t.Helper()
	b := map[string]any{"name": "Nightly backup", "monitorType": "HEARTBEAT"}
	for k, v := range body {
		b[k] = v
	}
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, b)
	require.Equal(h.t, http.StatusCreated, r.code, string(r.body))
	return decode[heartbeatMonitor](h.t, r.body)
}

// ping calls the public heartbeat route without a token.
func (h *harness) ping(method, secret string) response {
	h.t.Helper()
	return h.request(method, "/api/v1/heartbeats/"+secret, "", nil)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestCreatingAHeartbeatMonitorShowsItsSecretOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("cron@example.com", store.RoleUser)

	m := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 120, "heartbeatGraceSeconds": 30})
	assert.Equal(t, store.TypeHeartbeat, m.MonitorType)
	assert.Equal(t, store.StatusPending, m.Status)
	assert.Empty(t, m.URL, "no url is needed")
	assert.Equal(t, 120, m.Frequency, "checked every interval")
	assert.Regexp(t, `^[A-Za-z0-9_-]{43}$`, m.HeartbeatSecret, "32 random bytes, base64url")
	assert.Equal(t, h.srv.URL+"/api/v1/heartbeats/"+m.HeartbeatSecret, m.HeartbeatURL,
		"without PUBLIC_API_URL the URL uses the request's scheme and host")
	var stored string
	require.NoError(t, h.db.Pool.QueryRow(t.Context(), `SELECT heartbeat_secret_hash FROM monitors WHERE id = $1`, m.ID).Scan(&stored))
	assert.Equal(t, sha256Hex(m.HeartbeatSecret), stored, "only the SHA-256 is stored")

	for _, path := range []string{"/api/v1/uptime/" + m.ID, "/api/v1/uptime", "/api/v1/uptime/logs/" + m.ID} {
		r := h.request(http.MethodGet, path, tok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.NotContains(t, string(r.body), m.HeartbeatSecret, "%s never shows the secret", path)
		assert.NotContains(t, string(r.body), stored, "%s never shows its hash", path)
		assert.NotContains(t, string(r.body), "heartbeatSecret", path)
	}
	changes := h.changes()
	require.NotEmpty(t, changes)
	spec := changes[len(changes)-1].GetMonitor()
	assert.Equal(t, eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT, spec.GetType())
	assert.EqualValues(t, 120, spec.GetHeartbeatIntervalSeconds())
	assert.EqualValues(t, 30, spec.GetHeartbeatGraceSeconds())
	assert.EqualValues(t, 120, spec.GetFrequencySeconds())
	raw, err := h.rdb.XRange(t.Context(), h.ks.Key("monitors"), "-", "+").Result()
	require.NoError(t, err)
	for _, x := range raw {
		assert.NotContains(t, x.Values["d"], m.HeartbeatSecret, "the scheduler never gets the secret")
	}
}

func TestTheHeartbeatURLStartsWithPublicAPIURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPublicURL("https://api.example.com/"))
	_, tok := h.user("cron@example.com", store.RoleUser)
	m := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 60})
	assert.Equal(t, "https://api.example.com/api/v1/heartbeats/"+m.HeartbeatSecret, m.HeartbeatURL)
}

func TestHeartbeatMonitorDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("cron@example.com", store.RoleUser)

	defaults := []struct {
		name                       string
		body                       map[string]any
		frequency, interval, grace int
		url                        string
	}{
		{"the interval and grace default to the frequency", map[string]any{"frequency": 300}, 300, 300, 300, ""},
		{"the frequency follows the interval and the grace defaults to it", map[string]any{"heartbeatIntervalSeconds": 900}, 900, 900, 900, ""},
		{"an interval under a minute is checked every minute", map[string]any{"heartbeatIntervalSeconds": 30, "heartbeatGraceSeconds": 0}, 60, 30, 0, ""},
		{"a frequency sent is kept beside the interval", map[string]any{"frequency": 60, "heartbeatIntervalSeconds": 3600, "heartbeatGraceSeconds": 5}, 60, 3600, 5, ""},
		{"the monitor type is case-insensitive", map[string]any{"monitorType": "heartbeat", "heartbeatIntervalSeconds": 60}, 60, 60, 60, ""},
		{"a url is kept as a label, never resolved", map[string]any{"heartbeatIntervalSeconds": 60, "url": "http://10.0.0.5/backup"}, 60, 60, 60, "http://10.0.0.5/backup"},
	}
	for _, tt := range defaults {
		t.Run(tt.name, func(t *testing.T) {
			m := h.createHeartbeat(tok, tt.body)
			assert.Equal(t, tt.frequency, m.Frequency)
			require.NotNil(t, m.HeartbeatIntervalSeconds)
			require.NotNil(t, m.HeartbeatGraceSeconds)
			assert.Equal(t, tt.interval, *m.HeartbeatIntervalSeconds)
			assert.Equal(t, tt.grace, *m.HeartbeatGraceSeconds)
			assert.Equal(t, tt.url, m.URL)
		})
	}

	invalid := []struct {
		name string
		body map[string]any
		want string
	}{
		{"neither an interval nor a frequency is refused", map[string]any{}, "heartbeatIntervalSeconds should not be empty"},
		{"an interval under 10 s is refused", map[string]any{"heartbeatIntervalSeconds": 5}, "heartbeatIntervalSeconds must not be less than 10"},
		{"an interval over a day is refused", map[string]any{"heartbeatIntervalSeconds": 86401}, "heartbeatIntervalSeconds must not be greater than 86400"},
		{"a fractional interval is refused", map[string]any{"heartbeatIntervalSeconds": 60.5}, "heartbeatIntervalSeconds must be an integer number"},
		{"a negative grace is refused", map[string]any{"heartbeatIntervalSeconds": 60, "heartbeatGraceSeconds": -1}, "heartbeatGraceSeconds must not be less than 0"},
		{"a grace over a day is refused", map[string]any{"heartbeatIntervalSeconds": 60, "heartbeatGraceSeconds": 86401}, "heartbeatGraceSeconds must not be greater than 86400"},
		{"a frequency under a minute is refused", map[string]any{"frequency": 30}, "frequency must not be less than 60"},
		{"a url that is not http(s) is refused", map[string]any{"heartbeatIntervalSeconds": 60, "url": "ftp://example.com"}, "url must be an http(s) URL"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"name": "Bad", "monitorType": "HEARTBEAT"}
			for k, v := range tt.body {
				body[k] = v
			}
			msgs := requireValidation(t, h.request(http.MethodPost, "/api/v1/uptime", tok, body))
			assertMentions(t, msgs, tt.want)
		})
	}
	assert.Zero(t, h.count(`SELECT count(*) FROM monitors WHERE name = 'Bad'`))

	t.Run("other monitor types still need a url and a frequency", func(t *testing.T) {
		msgs := requireValidation(t, h.request(http.MethodPost, "/api/v1/uptime", tok, map[string]any{"name": "Web", "monitorType": "HTTP"}))
		assertMentions(t, msgs, "url should not be empty")
		assertMentions(t, msgs, "frequency must be an integer number")
	})
}

func TestAPingIsRecordedForTheChecker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("cron@example.com", store.RoleUser)
	m := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 60})
	hb := heartbeat.New(h.rdb, h.ks)

	_, pinged, err := hb.Last(t.Context(), m.ID)
	require.NoError(t, err)
	require.False(t, pinged)

	before := time.Now().Add(-time.Second)
	r := h.ping(http.MethodPost, m.HeartbeatSecret)
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	body := decode[struct {
		Accepted   bool      `json:"accepted"`
		ReceivedAt time.Time `json:"receivedAt"`
	}](t, r.body)
	assert.True(t, body.Accepted)
	assert.WithinDuration(t, time.Now(), body.ReceivedAt, 5*time.Second)
	assert.True(t, body.ReceivedAt.After(before))

	last, pinged, err := hb.Last(t.Context(), m.ID)
	require.NoError(t, err)
	require.True(t, pinged, "the checker reads the ping from Redis")
	assert.True(t, body.ReceivedAt.Equal(last), "Redis holds the time answered")
	got := decode[heartbeatMonitor](t, h.request(http.MethodGet, "/api/v1/uptime/"+m.ID, tok, nil).body)
	require.NotNil(t, got.HeartbeatLastReceivedAt)
	assert.True(t, body.ReceivedAt.Equal(*got.HeartbeatLastReceivedAt), "PostgreSQL holds it too")
	assert.Equal(t, store.StatusPending, got.Status, "the status follows from the next check, not from the ping")

	r = h.ping(http.MethodGet, m.HeartbeatSecret)
	assert.Equal(t, http.StatusOK, r.code, "GET pings too: %s", r.body)
	r = h.request(http.MethodPost, "/api/v1/heartbeats/"+m.HeartbeatSecret+"?status=ok", "not-a-token", "job log output")
	assert.Equal(t, http.StatusCreated, r.code, "a query, a body or a stray Authorization header are ignored: %s", r.body)
	later, _, err := hb.Last(t.Context(), m.ID)
	require.NoError(t, err)
	assert.False(t, later.Before(last))
}

func TestAPingOfNoActiveHeartbeatMonitorIsNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ownerID, tok := h.user("cron@example.com", store.RoleUser)
	paused := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 60})
	require.Equal(t, http.StatusOK, h.request(http.MethodPatch, "/api/v1/uptime/"+paused.ID, tok, map[string]any{"isActive": false}).code)
	// An HTTP monitor can have no secret through the api; one written
	// directly is still not a heartbeat endpoint.
	h.monitor(ownerID, "Web", "https://example.com", "heartbeat_secret_hash = '"+sha256Hex("web-secret")+"'")

	for name, secret := range map[string]string{
		"an unknown secret":                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"the hash itself":                   sha256Hex(paused.HeartbeatSecret),
		"a paused monitor's secret":         paused.HeartbeatSecret,
		"the secret of a non-HEARTBEAT row": "web-secret",
		"an absurdly long secret":           strings.Repeat("x", 300),
	} {
		t.Run(name+" answers 404", func(t *testing.T) {
			r := h.ping(http.MethodPost, secret)
			assert.Equal(t, http.StatusNotFound, r.code)
			assert.JSONEq(t, `{"statusCode":404,"message":"Heartbeat endpoint not found","error":"Not Found"}`, string(r.body))
		})
	}
	assert.Zero(t, h.count(`SELECT count(*) FROM monitors WHERE heartbeat_last_received_at IS NOT NULL`))
}

func TestPingsAreRateLimitedPerSecret(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("cron@example.com", store.RoleUser)
	busy := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 60})
	quiet := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 60})

	var limited *response
	for range 30 {
		r := h.ping(http.MethodPost, busy.HeartbeatSecret)
		if r.code == http.StatusTooManyRequests {
			limited = &r
			break
		}
		require.Equal(t, http.StatusCreated, r.code, string(r.body))
	}
	require.NotNil(t, limited, "a secret pinged in a tight loop is limited")
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, retry, 1)
	assert.Equal(t, http.StatusCreated, h.ping(http.MethodPost, quiet.HeartbeatSecret).code, "another secret is not")
}

func TestAHeartbeatSecretCanBeRotated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("cron@example.com", store.RoleUser)
	_, guestTok := h.user("guest@example.com", store.RoleGuest)
	_, otherTok := h.user("other@example.com", store.RoleUser)
	m := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 60})
	path := "/api/v1/uptime/" + m.ID + "/heartbeat-secret"

	assert.Equal(t, http.StatusUnauthorized, h.request(http.MethodPost, path, "", nil).code)
	assert.Equal(t, http.StatusForbidden, h.request(http.MethodPost, path, guestTok, nil).code)
	assert.Equal(t, http.StatusNotFound, h.request(http.MethodPost, path, otherTok, nil).code)

	r := h.request(http.MethodPost, path, tok, nil)
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	rotated := decode[heartbeatMonitor](t, r.body)
	assert.Equal(t, m.ID, rotated.ID)
	assert.NotEqual(t, m.HeartbeatSecret, rotated.HeartbeatSecret)
	assert.Equal(t, h.srv.URL+"/api/v1/heartbeats/"+rotated.HeartbeatSecret, rotated.HeartbeatURL)
	assert.Equal(t, http.StatusNotFound, h.ping(http.MethodPost, m.HeartbeatSecret).code, "the old secret stops working")
	assert.Equal(t, http.StatusCreated, h.ping(http.MethodPost, rotated.HeartbeatSecret).code)

	web := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(nil))
	require.Equal(t, http.StatusCreated, web.code)
	webID := decode[heartbeatMonitor](t, web.body).ID
	msgs := requireError(t, h.request(http.MethodPost, "/api/v1/uptime/"+webID+"/heartbeat-secret", tok, nil), http.StatusBadRequest)
	assertMentions(t, msgs, "Only HEARTBEAT monitors")
	assert.NotContains(t, string(web.body), "heartbeatSecret", "other types get no secret")
}

func TestUpdatingAHeartbeatMonitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("cron@example.com", store.RoleUser)
	m := h.createHeartbeat(tok, map[string]any{"heartbeatIntervalSeconds": 300})
	update := func(id string, body map[string]any) response {
		return h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, body)
	}
	updated := func(r response) heartbeatMonitor {
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		return decode[struct {
			Monitor heartbeatMonitor `json:"monitor"`
		}](t, r.body).Monitor
	}

	got := updated(update(m.ID, map[string]any{"heartbeatIntervalSeconds": 120}))
	assert.Equal(t, 120, got.Frequency, "a new interval moves the frequency along")
	assert.Equal(t, 120, *got.HeartbeatIntervalSeconds)
	got = updated(update(m.ID, map[string]any{"heartbeatIntervalSeconds": 600, "frequency": 60}))
	assert.Equal(t, 60, got.Frequency, "unless a frequency is sent")
	got = updated(update(m.ID, map[string]any{"heartbeatGraceSeconds": 15}))
	assert.Equal(t, 15, *got.HeartbeatGraceSeconds)
	assert.Empty(t, got.HeartbeatSecret, "an update shows no secret")

	msgs := requireValidation(t, update(m.ID, map[string]any{"monitorType": "HTTP"}))
	assertMentions(t, msgs, "monitorType cannot change to or from HEARTBEAT")
	web := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(nil))
	require.Equal(t, http.StatusCreated, web.code)
	msgs = requireValidation(t, update(decode[heartbeatMonitor](t, web.body).ID, map[string]any{"monitorType": "HEARTBEAT"}))
	assertMentions(t, msgs, "monitorType cannot change to or from HEARTBEAT")
}

// syncBuffer collects log lines written from any goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTheSecretIsNeitherLoggedNorAMetricLabel builds an api whose logs are
// captured and pings it with a known and an unknown secret.
func TestTheSecretIsNeitherLoggedNorAMetricLabel(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	rdb, ks := testenv.Redis(t)
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	api := httpapi.New(httpapi.Config{RateLimit: httpapi.RateLimitConfig{PerSecond: 100, Burst: 100}}, httpapi.Deps{
		Monitors:    store.NewMonitors(db),
		Heartbeats:  heartbeat.New(rdb, ks),
		Registry:    reg,
		Logger:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Health:      httpserver.NewHealth(time.Second),
		Now:         time.Now,
		DeadLetters: ops.NewDeadLetters(nil, nil),
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)

	var userID string
	require.NoError(t, db.Pool.QueryRow(t.Context(), `INSERT INTO users (email) VALUES ('cron@example.com') RETURNING id::text`).Scan(&userID))
	known, unknown := "KnownSecretKnownSecretKnownSecretKnownSecr", "UnknownSecretUnknownSecretUnknownSecretUnk"
	_, err := db.Pool.Exec(t.Context(), `INSERT INTO monitors (user_id, name, url, frequency, monitor_type, heartbeat_interval_seconds, heartbeat_secret_hash)
		VALUES ($1, 'hb', '', 60, 'HEARTBEAT', 60, $2)`, userID, sha256Hex(known))
	require.NoError(t, err)

	for secret, want := range map[string]int{known: http.StatusCreated, unknown: http.StatusNotFound} {
		resp, err := http.Post(srv.URL+"/api/v1/heartbeats/"+secret, "text/plain", nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)

	assert.Contains(t, logs.String(), `"route":"/api/v1/heartbeats/:secret"`, "requests are logged by route template")
	assert.Contains(t, string(metrics), `route="/api/v1/heartbeats/:secret"`)
	for _, secret := range []string{known, unknown} {
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, string(metrics), secret)
	}
}
