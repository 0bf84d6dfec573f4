package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/auth"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// signClaims signs arbitrary claims with method and key under kid, for
// tokens auth.Mint refuses to make.
func signClaims(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// idClaims are the claims of a valid Cognito ID token of the harness.
func (h *harness) idClaims(email string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "sub-" + email, "iss": h.issuer, "aud": testClientID, "token_use": "id",
		"email": email, "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// mint signs a token with the harness key from opts, filling the issuer
// and client id when they are empty.
func (h *harness) mint(opts auth.MintOptions) string {
	h.t.Helper()
	if opts.Issuer == "" {
		opts.Issuer = h.issuer
	}
	if opts.ClientID == "" {
		opts.ClientID = testClientID
	}
	tok, err := auth.Mint(h.key, opts)
	require.NoError(h.t, err)
	return tok
}

func (h *harness) cognitoSub(email string) string {
	h.t.Helper()
	var sub *string
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(), `SELECT cognito_sub FROM users WHERE email = $1`, email).Scan(&sub))
	require.NotNil(h.t, sub, "%s has a cognito_sub", email)
	return *sub
}

func TestTokenFailuresAnswer401NamingTheProblem(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	kid := auth.KeyID(&h.key.PublicKey)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	cases := []struct {
		name          string
		authorization func() string
		want          string
	}{
		{"a request without an Authorization header is refused", func() string { return "" }, "missing bearer token"},
		{"a Basic credential is refused", func() string { return "Basic x" }, "Bearer scheme"},
		{"a Bearer scheme without a token is refused", func() string { return "Bearer " }, "missing bearer token"},
		{"a garbage token is refused", func() string { return "Bearer garbage" }, "malformed token"},
		{"a token of three garbage parts is refused", func() string { return "Bearer a.b.c" }, "malformed token"},
		{"a token signed by another key under the issuer's kid is refused", func() string {
			tok, err := auth.Mint(otherKey, auth.MintOptions{Issuer: h.issuer, ClientID: testClientID, Email: "x@example.com", KeyID: kid})
			require.NoError(t, err)
			return "Bearer " + tok
		}, "token signature is invalid"},
		{"a token of another issuer is refused", func() string {
			return "Bearer " + h.mint(auth.MintOptions{Issuer: "https://issuer.example/pool", Email: "x@example.com"})
		}, "token issuer is not accepted"},
		{"an expired token is refused", func() string {
			return "Bearer " + h.mint(auth.MintOptions{Email: "x@example.com", Now: time.Now().Add(-2 * time.Hour), TTL: time.Hour})
		}, "token expired"},
		{"an ID token for another app client is refused", func() string {
			return "Bearer " + h.mint(auth.MintOptions{Email: "x@example.com", ClientID: "another-client"})
		}, "token audience is not accepted"},
		{"an access token for another app client is refused", func() string {
			return "Bearer " + h.mint(auth.MintOptions{TokenUse: auth.TokenUseAccess, ClientID: "another-client"})
		}, "token client_id is not accepted"},
		{"a token with an unknown kid is refused", func() string {
			return "Bearer " + h.mint(auth.MintOptions{Email: "x@example.com", KeyID: "0123456789abcdef"})
		}, "unknown signing key"},
		{"an HS256 token is refused", func() string {
			return "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte("a shared secret of 32 bytes!!!!!"), kid, h.idClaims("x@example.com"))
		}, "RS256 required"},
		{"an unsigned token (alg none) is refused", func() string {
			return "Bearer " + signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, h.idClaims("x@example.com"))
		}, "RS256 required"},
		{"a token without a kid is refused", func() string {
			return "Bearer " + signClaims(t, jwt.SigningMethodRS256, h.key, "", h.idClaims("x@example.com"))
		}, "kid"},
		{"a token whose token_use is neither id nor access is refused", func() string {
			c := h.idClaims("x@example.com")
			c["token_use"] = "refresh"
			return "Bearer " + signClaims(t, jwt.SigningMethodRS256, h.key, kid, c)
		}, "token_use must be access or id"},
		{"an access token whose subject never signed in is refused", func() string {
			return "Bearer " + h.mint(auth.MintOptions{TokenUse: auth.TokenUseAccess, Subject: "never-seen"})
		}, "Unknown user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			headers := []string{}
			if a := tc.authorization(); a != "" {
				headers = append(headers, "Authorization", a)
			}
			r := h.request(http.MethodGet, "/api/v1/uptime", "", nil, headers...)
			msgs := requireError(t, r, http.StatusUnauthorized)
			assert.Equal(t, "Unauthorized", decode[errorEnvelope](t, r.body).Error)
			assertMentions(t, msgs, tc.want)
		})
	}

	t.Run("no refused token provisions a user", func(t *testing.T) {
		t.Parallel()
		var n int
		require.NoError(t, h.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE email = 'x@example.com'`).Scan(&n))
		assert.Zero(t, n)
	})
}

func TestAnAccessTokenOfARegisteredUserIsAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, _ := h.user("access@example.com", store.RoleUser)
	monitorID := h.monitor(id, "Mine", "https://example.com")
	tok := h.mint(auth.MintOptions{TokenUse: auth.TokenUseAccess, Subject: h.cognitoSub("access@example.com")})

	r := h.request(http.MethodGet, "/api/v1/uptime", tok, nil)
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	got := decode[listPage[map[string]any]](t, r.body)
	require.Len(t, got.Data, 1)
	assert.Equal(t, monitorID, got.Data[0]["id"], "the access token acts as the user who owns the sub")

	r = h.request(http.MethodGet, "/api/v1/user/"+id, tok, nil)
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assert.Equal(t, "access@example.com", decode[map[string]any](t, r.body)["email"])
}

func TestUsersAreProvisionedOnFirstSight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	type row struct {
		id, role string
		sub      *string
	}
	lookup := func(t *testing.T, email string) (row, bool) {
		t.Helper()
		var r row
		err := h.db.Pool.QueryRow(t.Context(), `SELECT id::text, role, cognito_sub FROM users WHERE email = $1`, email).Scan(&r.id, &r.role, &r.sub)
		if err != nil {
			return row{}, false
		}
		return r, true
	}

	t.Run("the first request of an ID token creates a USER with its sub", func(t *testing.T) {
		t.Parallel()
		tok := h.mint(auth.MintOptions{Email: "first@example.com", Subject: "sub-first"})
		code, body := h.do(http.MethodGet, "/api/v1/uptime", tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		got, ok := lookup(t, "first@example.com")
		require.True(t, ok, "the user row exists")
		assert.Equal(t, store.RoleUser, got.role)
		require.NotNil(t, got.sub)
		assert.Equal(t, "sub-first", *got.sub)

		// A second request, even with the email in another case, is the same user.
		tok = h.mint(auth.MintOptions{Email: "First@Example.com", Subject: "sub-first"})
		code, body = h.do(http.MethodGet, "/api/v1/user/"+got.id, tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var n int
		require.NoError(t, h.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE email = 'first@example.com'`).Scan(&n))
		assert.Equal(t, 1, n)
	})

	t.Run("an address of ADMIN_EMAILS becomes ADMIN", func(t *testing.T) {
		t.Parallel()
		tok := h.mint(auth.MintOptions{Email: adminEmail})
		code, body := h.do(http.MethodGet, "/api/v1/uptime/stats", tok, nil)
		require.Equal(t, http.StatusOK, code, "an ADMIN route answers: %s", body)
		got, ok := lookup(t, adminEmail)
		require.True(t, ok)
		assert.Equal(t, store.RoleAdmin, got.role)
	})

	t.Run("a user pre-registered as GUEST keeps GUEST and gets its sub recorded", func(t *testing.T) {
		t.Parallel()
		_, adminTok := h.user("boss@example.com", store.RoleAdmin)
		r := h.request(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": "Invited@Example.com", "role": "GUEST"})
		require.Equal(t, http.StatusCreated, r.code, string(r.body))
		created := decode[map[string]any](t, r.body)
		assert.Equal(t, "invited@example.com", created["email"])
		assert.Equal(t, store.RoleGuest, created["role"])
		assert.Nil(t, created["cognitoSub"], "no sub before the first sign-in")

		tok := h.mint(auth.MintOptions{Email: "invited@example.com", Subject: "sub-invited"})
		code, body := h.do(http.MethodGet, "/api/v1/uptime", tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		got, ok := lookup(t, "invited@example.com")
		require.True(t, ok)
		assert.Equal(t, created["id"], got.id, "the pre-registered row is used")
		assert.Equal(t, store.RoleGuest, got.role, "the role given by the ADMIN is kept")
		require.NotNil(t, got.sub)
		assert.Equal(t, "sub-invited", *got.sub)

		code, _ = h.do(http.MethodPost, "/api/v1/uptime", tok, map[string]any{"name": "x", "url": "https://example.com", "frequency": 60})
		assert.Equal(t, http.StatusForbidden, code, "the GUEST is read-only")

		// Its access token now resolves through the recorded sub.
		acc := h.mint(auth.MintOptions{TokenUse: auth.TokenUseAccess, Subject: "sub-invited"})
		code, body = h.do(http.MethodGet, "/api/v1/user/"+got.id, acc, nil)
		assert.Equal(t, http.StatusOK, code, string(body))
	})
}

// An ID token's email is only as good as its email_verified claim: Cognito
// lets a user change the email attribute of its own account, which makes
// the new address unverified until confirmed.
func TestAnUnverifiedEmailDoesNotClaimAnADMINAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.idClaims(adminEmail)
	c["email_verified"] = false
	tok := signClaims(t, jwt.SigningMethodRS256, h.key, auth.KeyID(&h.key.PublicKey), c)

	code, body := h.do(http.MethodGet, "/api/v1/uptime/stats", tok, nil)
	assert.NotEqual(t, http.StatusOK, code, string(body))
	var admins int
	require.NoError(t, h.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE role = 'ADMIN'`).Scan(&admins))
	assert.Zero(t, admins)
}
