package auth_test

import (
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/auth"
)

const devIssuer = "http://localhost:4000/dev-issuer"

func TestLoadOrCreateKey(t *testing.T) {
	t.Run("a missing key is created with mode 0600 in a new directory and then reloaded", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "dev", "dev-issuer.pem")
		created, err := auth.LoadOrCreateKey(path)
		require.NoError(t, err)
		assert.Equal(t, 2048, created.N.BitLen())

		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		dirInfo, err := os.Stat(filepath.Dir(path))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm())

		data, err := os.ReadFile(path)
		require.NoError(t, err)
		block, _ := pem.Decode(data)
		require.NotNil(t, block)
		assert.Equal(t, "PRIVATE KEY", block.Type, "PKCS#8 PEM")

		reloaded, err := auth.LoadOrCreateKey(path)
		require.NoError(t, err)
		assert.True(t, created.Equal(reloaded))

		entries, err := os.ReadDir(filepath.Dir(path))
		require.NoError(t, err)
		assert.Len(t, entries, 1, "no temporary file is left behind")
	})

	t.Run("concurrent first calls agree on one key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dev-issuer.pem")
		keys := make([]*rsa.PrivateKey, 4)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := auth.LoadOrCreateKey(path)
				assert.NoError(t, err)
				keys[i] = k
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			assert.True(t, keys[0].Equal(k))
		}
	})

	t.Run("a file that is not a PEM private key is an error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dev-issuer.pem")
		require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
		_, err := auth.LoadOrCreateKey(path)
		require.ErrorContains(t, err, "not a PEM PKCS#8 private key")
	})

	t.Run("a key shorter than 2048 bits is refused", func(t *testing.T) {
		small, err := rsa.GenerateKey(crand.Reader, 1024)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(small)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "dev-issuer.pem")
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
		_, err = auth.LoadOrCreateKey(path)
		require.ErrorContains(t, err, "1024-bit RSA key")
	})
}

func TestKeyIDIsStableHex(t *testing.T) {
	kid := auth.KeyID(&keyA(t).PublicKey)
	assert.Equal(t, kid, auth.KeyID(&keyA(t).PublicKey))
	assert.NotEqual(t, kid, auth.KeyID(&keyB(t).PublicKey))
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), kid)
}

func TestJWKSPublishesOnlyThePublicKey(t *testing.T) {
	doc, err := auth.JWKS(keyA(t), "")
	require.NoError(t, err)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(doc, &set))
	require.Len(t, set.Keys, 1)
	k := set.Keys[0]
	assert.Equal(t, auth.KeyID(&keyA(t).PublicKey), k["kid"])
	assert.Equal(t, "RSA", k["kty"])
	assert.Equal(t, "RS256", k["alg"])
	assert.Equal(t, "sig", k["use"])
	assert.Equal(t, "AQAB", k["e"])
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		assert.NotContains(t, k, private)
	}
}

// payload decodes a token's claims segment.
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestMintProducesCognitoShapedTokens(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	base := auth.MintOptions{
		Issuer: devIssuer, ClientID: testClientID, Email: testEmail, Subject: "sub-1", TTL: 12 * time.Hour, Now: now,
	}

	t.Run("the header names RS256, the key id and JWT", func(t *testing.T) {
		tok, err := auth.Mint(keyA(t), base)
		require.NoError(t, err)
		raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		require.NoError(t, err)
		var header map[string]any
		require.NoError(t, json.Unmarshal(raw, &header))
		assert.Equal(t, map[string]any{"alg": "RS256", "kid": auth.KeyID(&keyA(t).PublicKey), "typ": "JWT"}, header)
	})

	t.Run("an ID token carries the claims of a Cognito ID token", func(t *testing.T) {
		opts := base
		opts.TokenUse = auth.TokenUseID
		tok, err := auth.Mint(keyA(t), opts)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{
			"sub":              "sub-1",
			"email":            testEmail,
			"email_verified":   true,
			"aud":              testClientID,
			"iss":              devIssuer,
			"token_use":        "id",
			"auth_time":        float64(now.Unix()),
			"iat":              float64(now.Unix()),
			"exp":              float64(now.Add(12 * time.Hour).Unix()),
			"cognito:username": "sub-1",
		}, payload(t, tok))
	})

	t.Run("an access token carries the claims of a Cognito access token", func(t *testing.T) {
		opts := base
		opts.TokenUse = auth.TokenUseAccess
		tok, err := auth.Mint(keyA(t), opts)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{
			"sub":       "sub-1",
			"client_id": testClientID,
			"iss":       devIssuer,
			"token_use": "access",
			"scope":     "aws.cognito.signin.user.admin",
			"auth_time": float64(now.Unix()),
			"iat":       float64(now.Unix()),
			"exp":       float64(now.Add(12 * time.Hour).Unix()),
			"username":  "sub-1",
		}, payload(t, tok))
	})

	t.Run("without a subject a UUID v4 is generated", func(t *testing.T) {
		opts := base
		opts.Subject = ""
		tok, err := auth.Mint(keyA(t), opts)
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, payload(t, tok)["sub"])
	})
}

func TestMintRefusesValuesTheFrontEndCannotDecode(t *testing.T) {
	base := auth.MintOptions{Issuer: devIssuer, ClientID: testClientID, Email: testEmail, Subject: "sub-1"}
	cases := []struct {
		name string
		edit func(*auth.MintOptions)
		want string
	}{
		{name: "an email with a question mark is refused", edit: func(o *auth.MintOptions) { o.Email = "a?b@example.com" }, want: "email contains '?'"},
		{name: "an email with a tilde is refused", edit: func(o *auth.MintOptions) { o.Email = "a~b@example.com" }, want: "email contains '~'"},
		{name: "a subject with DEL is refused", edit: func(o *auth.MintOptions) { o.Subject = "sub\x7f" }, want: "subject contains a control character"},
		{name: "a subject with a newline is refused", edit: func(o *auth.MintOptions) { o.Subject = "sub\n" }, want: "subject contains a control character"},
		{name: "a non-ASCII email is refused", edit: func(o *auth.MintOptions) { o.Email = "josé@example.com" }, want: "email contains a non-ASCII character"},
		{name: "an issuer with a query is refused", edit: func(o *auth.MintOptions) { o.Issuer = devIssuer + "?x=1" }, want: "issuer contains '?'"},
		{name: "an AWS issuer is refused", edit: func(o *auth.MintOptions) { o.Issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool" }, want: "is an AWS issuer"},
		{name: "an ID token without email is refused", edit: func(o *auth.MintOptions) { o.Email = "" }, want: "email is required"},
		{name: "an email without @ is refused", edit: func(o *auth.MintOptions) { o.Email = "alice" }, want: "email must contain @"},
		{name: "a missing client id is refused", edit: func(o *auth.MintOptions) { o.ClientID = "" }, want: "client id is required"},
		{name: "an unknown token use is refused", edit: func(o *auth.MintOptions) { o.TokenUse = "refresh" }, want: "token use must be id or access"},
		{name: "a negative ttl is refused", edit: func(o *auth.MintOptions) { o.TTL = -time.Hour }, want: "ttl must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := base
			tc.edit(&opts)
			_, err := auth.Mint(keyA(t), opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// atobDecode decodes like the browser's atob: the standard alphabet,
// padding optional.
func atobDecode(s string) ([]byte, error) {
	if r := len(s) % 4; r != 0 {
		s += strings.Repeat("=", 4-r)
	}
	return base64.StdEncoding.DecodeString(s)
}

func TestMintedPayloadsDecodeWithAtob(t *testing.T) {
	// Every character Mint accepts: printable ASCII except '?' and '~',
	// including the JSON-escaped ones ('"', '\\', '<', '>', '&').
	var alphabet []byte
	for b := byte(0x20); b < 0x7f; b++ {
		if b != '?' && b != '~' {
			alphabet = append(alphabet, b)
		}
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	randomText := func(minLen, maxLen int) string {
		b := make([]byte, minLen+rng.IntN(maxLen-minLen+1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	// The payload does not depend on the key size; a 1024-bit key makes the
	// 2000 signatures four times cheaper.
	key, err := rsa.GenerateKey(crand.Reader, 1024)
	require.NoError(t, err)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	for i := range 2000 {
		opts := auth.MintOptions{
			Issuer:   devIssuer,
			ClientID: testClientID,
			Email:    randomText(1, 30) + "@" + randomText(1, 30),
			Subject:  randomText(1, 40),
			TokenUse: []string{auth.TokenUseID, auth.TokenUseAccess}[i%2],
			TTL:      time.Duration(1+rng.IntN(86400)) * time.Second,
			Now:      now.Add(time.Duration(rng.IntN(1_000_000)) * time.Second),
		}
		tok, err := auth.Mint(key, opts)
		require.NoError(t, err, "seed %d, input %d: %+v", seed, i, opts)
		segment := strings.Split(tok, ".")[1]
		require.NotContains(t, segment, "-", "seed %d, input %d: %+v", seed, i, opts)
		require.NotContains(t, segment, "_", "seed %d, input %d: %+v", seed, i, opts)

		want, err := base64.RawURLEncoding.DecodeString(segment)
		require.NoError(t, err)
		got, err := atobDecode(segment)
		require.NoError(t, err, "seed %d, input %d", seed, i)
		require.Equal(t, string(want), string(got), "seed %d, input %d", seed, i)

		var claims map[string]any
		require.NoError(t, json.Unmarshal(got, &claims))
		require.Equal(t, opts.Subject, claims["sub"])
		if opts.TokenUse == auth.TokenUseID {
			require.Equal(t, opts.Email, claims["email"])
		}
	}
}

func TestStaticVerifierWithTheDevIssuer(t *testing.T) {
	devKey, err := auth.LoadOrCreateKey(filepath.Join(t.TempDir(), "dev-issuer.pem"))
	require.NoError(t, err)
	doc, err := auth.JWKS(devKey, "")
	require.NoError(t, err)
	cfg := auth.VerifierConfig{Issuer: devIssuer, ClientID: testClientID}
	v, err := auth.NewStaticVerifier(cfg, doc)
	require.NoError(t, err)

	t.Run("a token minted with the dev key is accepted", func(t *testing.T) {
		tok, err := auth.Mint(devKey, auth.MintOptions{Issuer: devIssuer, ClientID: testClientID, Email: testEmail, Subject: "dev-sub"})
		require.NoError(t, err)
		claims, err := v.Verify(t.Context(), tok)
		require.NoError(t, err)
		assert.Equal(t, "dev-sub", claims.Subject)
		assert.Equal(t, testEmail, claims.Email)
	})

	t.Run("a token minted with another key is refused", func(t *testing.T) {
		tok, err := auth.Mint(keyB(t), auth.MintOptions{Issuer: devIssuer, ClientID: testClientID, Email: testEmail})
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, auth.ErrUnauthorized)
		assert.Equal(t, "unknown signing key", err.Error())
	})

	t.Run("a token minted with another key under the dev kid is refused", func(t *testing.T) {
		tok, err := auth.Mint(keyB(t), auth.MintOptions{
			Issuer: devIssuer, ClientID: testClientID, Email: testEmail, KeyID: auth.KeyID(&devKey.PublicKey),
		})
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, auth.ErrUnauthorized)
		assert.Equal(t, "token signature is invalid", err.Error())
	})

	t.Run("static keys are refused for an Amazon issuer", func(t *testing.T) {
		_, err := auth.NewStaticVerifier(auth.VerifierConfig{
			Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool", ClientID: testClientID,
		}, doc)
		require.ErrorContains(t, err, "static keys are for the development issuer")
	})

	t.Run("an empty key set is refused", func(t *testing.T) {
		_, err := auth.NewStaticVerifier(cfg, []byte(`{"keys":[]}`))
		require.ErrorContains(t, err, "no usable key")
	})

	t.Run("a document that is not a key set is refused", func(t *testing.T) {
		_, err := auth.NewStaticVerifier(cfg, []byte(`not json`))
		require.Error(t, err)
	})
}
