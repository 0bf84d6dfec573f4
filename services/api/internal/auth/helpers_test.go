package auth_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/auth"
)

const (
	testClientID = "test-client-id"
	testEmail    = "alice@example.com"
	testPool     = "eu-west-1_TestPool"
)

// testKeys are generated once: RSA generation dominates the test time.
var testKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
})

func testKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	keys, err := testKeys()
	require.NoError(t, err)
	return keys[i]
}

func keyA(t *testing.T) *rsa.PrivateKey { return testKey(t, 0) }
func keyB(t *testing.T) *rsa.PrivateKey { return testKey(t, 1) }
func keyC(t *testing.T) *rsa.PrivateKey { return testKey(t, 2) }

// clock is a settable time source for VerifierConfig.Now.
type clock struct{ now atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.now.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// fakeIdP serves a JWKS on loopback, counting fetches; the served document
// and the status can change while a verifier runs.
type fakeIdP struct {
	srv     *httptest.Server
	jwks    atomic.Pointer[[]byte]
	status  atomic.Int32
	fetches atomic.Int32
}

func newFakeIdP(t *testing.T, key *rsa.PrivateKey) *fakeIdP {
	t.Helper()
	idp := &fakeIdP{}
	idp.status.Store(http.StatusOK)
	idp.serve(t, key)
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+testPool+"/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		idp.fetches.Add(1)
		if code := int(idp.status.Load()); code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*idp.jwks.Load())
	}))
	t.Cleanup(idp.srv.Close)
	return idp
}

// serve replaces the served key set by key's.
func (p *fakeIdP) serve(t *testing.T, key *rsa.PrivateKey) {
	t.Helper()
	doc, err := auth.JWKS(key, "")
	require.NoError(t, err)
	p.jwks.Store(&doc)
}

// Issuer is the fake user pool's issuer; its JWKS is at the default path.
func (p *fakeIdP) Issuer() string { return p.srv.URL + "/" + testPool }

func (p *fakeIdP) config(c *clock) auth.VerifierConfig {
	return auth.VerifierConfig{
		Issuer:           p.Issuer(),
		ClientID:         testClientID,
		RefreshRateLimit: 10 * time.Second,
		Now:              c.Now,
	}
}

func newVerifier(t *testing.T, cfg auth.VerifierConfig) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(t.Context(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return v
}

// mint signs a dev-issuer token for opts with defaults filled in.
func mint(t *testing.T, key *rsa.PrivateKey, opts auth.MintOptions) string {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID = testClientID
	}
	if opts.TokenUse != auth.TokenUseAccess && opts.Email == "" {
		opts.Email = testEmail
	}
	tok, err := auth.Mint(key, opts)
	require.NoError(t, err)
	return tok
}

// sign builds a token with arbitrary header and claims, for the attacks
// Mint refuses to produce.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// idClaims are valid Cognito ID token claims at now.
func idClaims(issuer string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":              "0b8c1f5e-1111-4222-8333-944445555666",
		"email":            testEmail,
		"email_verified":   true,
		"aud":              testClientID,
		"iss":              issuer,
		"token_use":        "id",
		"auth_time":        now.Unix(),
		"iat":              now.Unix(),
		"exp":              now.Add(time.Hour).Unix(),
		"cognito:username": "0b8c1f5e-1111-4222-8333-944445555666",
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
