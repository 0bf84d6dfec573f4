package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/heartbeat"
	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/secretbox"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/api/internal/auth"
	"github.com/servercheck/uptime/services/api/internal/httpapi"
	"github.com/servercheck/uptime/services/api/internal/live"
	"github.com/servercheck/uptime/services/api/internal/ops"
	"github.com/servercheck/uptime/services/api/internal/store"
)

const (
	testClientID = "test-client"
	adminEmail   = "admin@example.com"
)

// fakeResolver maps host names to addresses without DNS.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &netErr{host}
}

type netErr struct{ host string }

func (e *netErr) Error() string { return "no such host " + e.host }

// harness runs the api's handler over a real PostgreSQL schema, a real
// Redis prefix and a JWKS served on loopback.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	issuer string
	db     *postgres.DB
	rdb    *redis.Client
	ks     stream.Keyspace
	// secrets holds the api's MONITOR_SECRETS_KEY, random per harness.
	secrets *secretbox.Box
}

type harnessOption func(*httpapi.Config)

func withRateLimit(perSecond float64, burst int) harnessOption {
	return func(c *httpapi.Config) { c.RateLimit = httpapi.RateLimitConfig{PerSecond: perSecond, Burst: burst} }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	jwks, err := auth.JWKS(key, auth.KeyID(&key.PublicKey))
	require.NoError(t, err)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pool/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.Close)
	issuer := idp.URL + "/pool"

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	verifier, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: issuer, ClientID: testClientID}, testenv.Discard())
	require.NoError(t, err)

	db := testenv.Postgres(t)
	rdb, ks := testenv.Redis(t)
	pub := stream.NewPublisher(rdb, ks, stream.DefaultMaxLen())
	sched := schedule.New(rdb, ks, schedule.Options{Producer: "test"})
	reg := prometheus.NewRegistry()
	health := httpserver.NewHealth(time.Second)
	health.Add("postgres", db.Check)
	rawKey := make([]byte, secretbox.KeySize)
	_, err = rand.Read(rawKey)
	require.NoError(t, err)
	secretKey, err := secretbox.NewKey(rawKey)
	require.NoError(t, err)
	h := &harness{t: t, key: key, issuer: issuer, db: db, rdb: rdb, ks: ks, secrets: secretbox.New(secretKey)}

	cfg := httpapi.Config{
		CORSOrigins: []string{"https://app.example.com"},
		AdminEmails: []string{adminEmail},
		RateLimit:   httpapi.RateLimitConfig{PerSecond: 1000, Burst: 1000},
	}
	for _, o := range opts {
		o(&cfg)
	}
	resolver := fakeResolver{
		"example.com":      {netip.MustParseAddr("93.184.216.34")},
		"www.example.org":  {netip.MustParseAddr("93.184.216.35")},
		"internal.example": {netip.MustParseAddr("10.1.2.3")},
	}
	monitors := store.NewMonitors(db)
	hub := live.New(testenv.NewRedisClient(t), ks, func(ctx context.Context, id string) (string, error) {
		m, err := monitors.Get(ctx, id)
		if store.IsNotFound(err) {
			return "", nil
		}
		return m.UserID, err
	}, testenv.Discard())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-hubDone })
	api := httpapi.New(cfg, httpapi.Deps{
		Live:        hub,
		Queue:       ops.NewQueue(sched, schedule.NewReconciler(sched, schedule.NewPostgres(db.Pool), schedule.ReconcilerConfig{})),
		Users:       store.NewUsers(db),
		Monitors:    store.NewMonitors(db),
		PingLogs:    store.NewPingLogs(db),
		Reports:     store.NewReports(db, 30*24*time.Hour, time.Now),
		Verifier:    verifier,
		Changes:     ops.NewChanges(pub, "test"),
		Guard:       netguard.New(nil),
		Resolver:    resolver,
		Admin:       ops.NewAdmin(rdb, ks, deadletter.NewStore(db.Pool)),
		DeadLetters: ops.NewDeadLetters(deadletter.NewStore(db.Pool), pub),
		Health:      health,
		Registry:    reg,
		Logger:      testenv.Logger(t),
		Now:         time.Now,
		Secrets:     h.secrets,
		Heartbeats:  heartbeat.New(rdb, ks),
	})
	h.srv = httptest.NewServer(api.Handler())
	t.Cleanup(h.srv.Close)
	return h
}

// token mints an ID token for email, signed by the test IdP's key.
func (h *harness) token(email string) string {
	h.t.Helper()
	tok, err := auth.Mint(h.key, auth.MintOptions{Issuer: h.issuer, ClientID: testClientID, Email: email, TTL: time.Hour})
	require.NoError(h.t, err)
	return tok
}

// user provisions a user with role through the API's own path (first
// request), then sets the role directly, and returns its id and token.
func (h *harness) user(email, role string) (string, string) {
	h.t.Helper()
	tok := h.token(email)
	code, body := h.do(http.MethodGet, "/api/v1/uptime/stats/user", tok, nil)
	require.Equal(h.t, http.StatusOK, code, string(body))
	var id string
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(),
		`UPDATE users SET role = $2 WHERE email = $1 RETURNING id::text`, email, role).Scan(&id))
	return id, tok
}

type response struct {
	code   int
	body   []byte
	header http.Header
}

func (h *harness) request(method, path, token string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path, rd)
	require.NoError(h.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return response{code: resp.StatusCode, body: raw, header: resp.Header}
}

func (h *harness) do(method, path, token string, body any) (int, []byte) {
	h.t.Helper()
	r := h.request(method, path, token, body)
	return r.code, r.body
}

// decode unmarshals a JSON body into a map or slice.
func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v
}

// monitor inserts a monitor for userID directly and returns its id.
func (h *harness) monitor(userID, name, url string, mods ...string) string {
	h.t.Helper()
	set := ""
	if len(mods) > 0 {
		set = ", " + strings.Join(mods, ", ")
	}
	var id string
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(),
		`INSERT INTO monitors (user_id, name, url, frequency) VALUES ($1, $2, $3, 60) RETURNING id::text`,
		userID, name, url).Scan(&id))
	if set != "" {
		_, err := h.db.Pool.Exec(h.t.Context(), `UPDATE monitors SET `+set[2:]+` WHERE id = $1`, id)
		require.NoError(h.t, err)
	}
	return id
}

// pingLog inserts a ping log for monitorID at slot and returns its id.
func (h *harness) pingLog(monitorID string, slot time.Time, success bool) string {
	h.t.Helper()
	var id string
	code := 200
	if !success {
		code = 503
	}
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(),
		`INSERT INTO ping_logs (monitor_id, slot, "timestamp", status_code, duration_ms, success)
		 VALUES ($1, $2, $2, $3, 42, $4) RETURNING id::text`, monitorID, slot, code, success).Scan(&id))
	return id
}
