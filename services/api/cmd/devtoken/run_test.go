package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/api/internal/auth"
)

const (
	devIssuer   = "http://localhost:4000/dev-issuer"
	devClientID = "local-dev-client"
)

func devEnv(t *testing.T, databaseURL string) map[string]string {
	t.Helper()
	return map[string]string{
		"COGNITO_ISSUER":      devIssuer,
		"COGNITO_CLIENT_ID":   devClientID,
		"DEV_ISSUER_KEY_FILE": filepath.Join(t.TempDir(), "dev", "dev-issuer.pem"),
		"DATABASE_URL":        databaseURL,
	}
}

// mintToken runs devtoken and returns what it printed, which must be one
// line holding only the token.
func mintToken(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), args, &out, testenv.Lookup(env)))
	token := strings.TrimSuffix(out.String(), "\n")
	require.NotContains(t, token, "\n")
	require.Len(t, strings.Split(token, "."), 3)
	return token
}

// verifierFor builds the verifier the api uses for the development issuer,
// from the same key file.
func verifierFor(t *testing.T, env map[string]string) *auth.Verifier {
	t.Helper()
	key, err := auth.LoadOrCreateKey(env["DEV_ISSUER_KEY_FILE"])
	require.NoError(t, err)
	doc, err := auth.JWKS(key, "")
	require.NoError(t, err)
	v, err := auth.NewStaticVerifier(auth.VerifierConfig{Issuer: devIssuer, ClientID: devClientID}, doc)
	require.NoError(t, err)
	return v
}

type userRow struct {
	role string
	sub  string
}

func loadUser(t *testing.T, databaseURL, email string) userRow {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var u userRow
	require.NoError(t, conn.QueryRow(t.Context(),
		`SELECT role, cognito_sub FROM users WHERE email = lower($1)`, email).Scan(&u.role, &u.sub))
	return u
}

func TestRunMintsATokenTheDevVerifierAccepts(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	env := devEnv(t, dbURL)

	token := mintToken(t, env, "--email", "New.Dev@Example.com", "--role", "admin")
	claims, err := verifierFor(t, env).Verify(t.Context(), token)
	require.NoError(t, err)
	assert.Equal(t, "new.dev@example.com", claims.Email)
	assert.Equal(t, auth.TokenUseID, claims.TokenUse)
	assert.InDelta(t, 12, claims.ExpiresAt.Sub(claims.IssuedAt).Hours(), 0.01, "default ttl is 12h")

	user := loadUser(t, dbURL, "new.dev@example.com")
	assert.Equal(t, "ADMIN", user.role)
	assert.Equal(t, user.sub, claims.Subject, "the token's sub is stored as cognito_sub")

	t.Run("minting again changes the role and keeps the sub", func(t *testing.T) {
		token := mintToken(t, env, "--email", "new.dev@example.com", "--role", "GUEST", "--ttl", "1h")
		again, err := verifierFor(t, env).Verify(t.Context(), token)
		require.NoError(t, err)
		assert.Equal(t, claims.Subject, again.Subject)
		assert.Equal(t, "GUEST", loadUser(t, dbURL, "new.dev@example.com").role)
		assert.InDelta(t, 1, again.ExpiresAt.Sub(again.IssuedAt).Hours(), 0.01)
	})

	t.Run("an access token carries the stored sub so the api can resolve it", func(t *testing.T) {
		token := mintToken(t, env, "--email", "new.dev@example.com", "--token-use", "access")
		access, err := verifierFor(t, env).Verify(t.Context(), token)
		require.NoError(t, err)
		assert.Equal(t, auth.TokenUseAccess, access.TokenUse)
		assert.Empty(t, access.Email)
		assert.Equal(t, claims.Subject, access.Subject)
		assert.Equal(t, "USER", loadUser(t, dbURL, "new.dev@example.com").role, "the default role is USER")
	})
}

func TestRunUsesAnExistingCognitoSub(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	env := devEnv(t, dbURL)
	conn, err := pgx.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `INSERT INTO users (email, role, cognito_sub) VALUES ('old@example.com', 'USER', 'existing-sub')`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))

	claims, err := verifierFor(t, env).Verify(t.Context(), mintToken(t, env, "--email", "old@example.com"))
	require.NoError(t, err)
	assert.Equal(t, "existing-sub", claims.Subject)
	assert.Equal(t, userRow{role: "USER", sub: "existing-sub"}, loadUser(t, dbURL, "old@example.com"))
}

func TestRunRefusesBadInputBeforeTouchingTheDatabase(t *testing.T) {
	// The URL points nowhere: every case must fail before connecting.
	env := devEnv(t, "postgres://devtoken@127.0.0.1:1/none")
	cases := []struct {
		name string
		args []string
		env  func(map[string]string)
		want string
	}{
		{name: "a missing email is refused", args: nil, want: "--email is required"},
		{name: "an unknown role is refused", args: []string{"--email", "a@example.com", "--role", "OWNER"}, want: "--role must be ADMIN, USER or GUEST"},
		{name: "an unknown token use is refused", args: []string{"--email", "a@example.com", "--token-use", "refresh"}, want: "--token-use must be id or access"},
		{name: "a non-positive ttl is refused", args: []string{"--email", "a@example.com", "--ttl", "0s"}, want: "--ttl must be positive"},
		{name: "an unknown flag is refused", args: []string{"--mail", "a@example.com"}, want: "flag provided but not defined"},
		{name: "an email the front end cannot decode is refused", args: []string{"--email", "a?b@example.com"}, want: "email contains '?'"},
		{
			name: "a missing issuer is refused",
			args: []string{"--email", "a@example.com"},
			env:  func(m map[string]string) { delete(m, "COGNITO_ISSUER") },
			want: "COGNITO_ISSUER: is required",
		},
		{
			name: "an AWS issuer is refused",
			args: []string{"--email", "a@example.com"},
			env: func(m map[string]string) {
				m["COGNITO_ISSUER"] = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool"
			},
			want: "is an AWS issuer",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			if tc.env != nil {
				tc.env(e)
			}
			var out bytes.Buffer
			err := run(t.Context(), tc.args, &out, testenv.Lookup(e))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, out.String(), "nothing but a token is ever printed")
		})
	}
}

func TestRunPrintsUsageForHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"--help"}, &out, testenv.Lookup(nil)))
	assert.Contains(t, out.String(), "-email")
	assert.Contains(t, out.String(), "-token-use")
}
