package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/auth"
)

func TestVerifyAcceptsValidCognitoTokens(t *testing.T) {
	idp := newFakeIdP(t, keyA(t))
	c := newClock()
	v := newVerifier(t, idp.config(c))

	t.Run("an ID token yields its subject, email and client", func(t *testing.T) {
		tok := mint(t, keyA(t), auth.MintOptions{
			Issuer: idp.Issuer(), TokenUse: auth.TokenUseID, Subject: "sub-1", Email: "Alice@Example.com", Now: c.Now(),
		})
		claims, err := v.Verify(t.Context(), tok)
		require.NoError(t, err)
		assert.Equal(t, auth.Claims{
			Subject:       "sub-1",
			Email:         "Alice@Example.com",
			EmailVerified: true,
			Username:      "sub-1",
			TokenUse:      auth.TokenUseID,
			Issuer:        idp.Issuer(),
			ClientID:      testClientID,
			IssuedAt:      c.Now(),
			ExpiresAt:     c.Now().Add(time.Hour),
		}, normalise(claims))
	})

	t.Run("an access token yields its subject and client but no email", func(t *testing.T) {
		tok := mint(t, keyA(t), auth.MintOptions{
			Issuer: idp.Issuer(), TokenUse: auth.TokenUseAccess, Subject: "sub-2", Now: c.Now(), TTL: 2 * time.Hour,
		})
		claims, err := v.Verify(t.Context(), tok)
		require.NoError(t, err)
		assert.Equal(t, auth.Claims{
			Subject:   "sub-2",
			Username:  "sub-2",
			TokenUse:  auth.TokenUseAccess,
			Issuer:    idp.Issuer(),
			ClientID:  testClientID,
			IssuedAt:  c.Now(),
			ExpiresAt: c.Now().Add(2 * time.Hour),
		}, normalise(claims))
	})

	t.Run("a token expired for less than the leeway is still accepted", func(t *testing.T) {
		tok := mint(t, keyA(t), auth.MintOptions{
			Issuer: idp.Issuer(), Now: c.Now().Add(-time.Hour - 3*time.Second), TTL: time.Hour,
		})
		_, err := v.Verify(t.Context(), tok)
		require.NoError(t, err)
	})

	t.Run("a token valid from within the leeway is already accepted", func(t *testing.T) {
		claims := idClaims(idp.Issuer(), c.Now())
		claims["nbf"] = c.Now().Add(3 * time.Second).Unix()
		claims["iat"] = c.Now().Add(3 * time.Second).Unix()
		_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, keyA(t), auth.KeyID(&keyA(t).PublicKey), claims))
		require.NoError(t, err)
	})

	t.Run("an ID token whose aud lists several clients including ours is accepted", func(t *testing.T) {
		claims := idClaims(idp.Issuer(), c.Now())
		claims["aud"] = []string{"other-client", testClientID}
		_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, keyA(t), auth.KeyID(&keyA(t).PublicKey), claims))
		require.NoError(t, err)
	})
}

// normalise drops the monotonic clock reading and location so that
// time.Time compares by instant.
func normalise(c auth.Claims) auth.Claims {
	c.IssuedAt = c.IssuedAt.UTC()
	c.ExpiresAt = c.ExpiresAt.UTC()
	return c
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	idp := newFakeIdP(t, keyA(t))
	c := newClock()
	v := newVerifier(t, idp.config(c))
	kidA := auth.KeyID(&keyA(t).PublicKey)
	now := c.Now()

	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		claims := idClaims(idp.Issuer(), now)
		edit(claims)
		return claims
	}
	publicPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&keyA(t).PublicKey)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}

	cases := []struct {
		name  string
		token func(t *testing.T) string
		want  string
	}{
		{
			name: "a token signed by another key under the issuer's kid has an invalid signature",
			token: func(t *testing.T) string {
				return mint(t, keyB(t), auth.MintOptions{Issuer: idp.Issuer(), Now: now, KeyID: kidA})
			},
			want: "token signature is invalid",
		},
		{
			name: "a token whose payload was altered after signing has an invalid signature",
			token: func(t *testing.T) string {
				parts := strings.Split(mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: now}), ".")
				forged := with(func(m jwt.MapClaims) { m["email"] = "mallory@example.com" })
				body := sign(t, jwt.SigningMethodRS256, keyA(t), kidA, forged)
				parts[1] = strings.Split(body, ".")[1]
				return strings.Join(parts, ".")
			},
			want: "token signature is invalid",
		},
		{
			name: "a token of another issuer is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) {
					m["iss"] = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"
				}))
			},
			want: "token issuer is not accepted",
		},
		{
			name: "an issuer differing only by a trailing slash is refused",
			token: func(t *testing.T) string {
				return mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer() + "/", Now: now})
			},
			want: "token issuer is not accepted",
		},
		{
			name: "a token without an issuer is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { delete(m, "iss") }))
			},
			want: "token issuer is not accepted",
		},
		{
			name: "a token expired for more than the leeway is refused",
			token: func(t *testing.T) string {
				return mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: now.Add(-time.Hour - 6*time.Second), TTL: time.Hour})
			},
			want: "token expired",
		},
		{
			name: "a token without an expiry is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { delete(m, "exp") }))
			},
			want: "token has no expiry (exp)",
		},
		{
			name: "a token not valid before a time beyond the leeway is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { m["nbf"] = now.Add(10 * time.Second).Unix() }))
			},
			want: "token is not valid yet",
		},
		{
			name: "a token issued beyond the leeway in the future is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { m["iat"] = now.Add(time.Minute).Unix() }))
			},
			want: "token is issued in the future",
		},
		{
			name: "a refresh token use is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { m["token_use"] = "refresh" }))
			},
			want: "token_use must be access or id",
		},
		{
			name: "a token without token_use is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { delete(m, "token_use") }))
			},
			want: "token_use must be access or id",
		},
		{
			name: "an ID token for another client is refused",
			token: func(t *testing.T) string {
				return mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), ClientID: "other-client", Now: now})
			},
			want: "token audience is not accepted",
		},
		{
			name: "an ID token that carries the client only in client_id is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) {
					delete(m, "aud")
					m["client_id"] = testClientID
				}))
			},
			want: "token audience is not accepted",
		},
		{
			name: "an access token for another client is refused",
			token: func(t *testing.T) string {
				return mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), TokenUse: auth.TokenUseAccess, ClientID: "other-client", Now: now})
			},
			want: "token client_id is not accepted",
		},
		{
			name: "an access token that carries the client only in aud is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) {
					m["token_use"] = "access"
				}))
			},
			want: "token client_id is not accepted",
		},
		{
			name: "a token without a subject is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), kidA, with(func(m jwt.MapClaims) { delete(m, "sub") }))
			},
			want: "token has no subject (sub)",
		},
		{
			name: "an unsigned token (alg none) is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kidA, idClaims(idp.Issuer(), now))
			},
			want: "signing algorithm RS256 required",
		},
		{
			name: "an HS256 token keyed with the issuer's public key is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodHS256, publicPEM(), kidA, idClaims(idp.Issuer(), now))
			},
			want: "signing algorithm RS256 required",
		},
		{
			name: "an RS384 token signed by the issuer's key is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS384, keyA(t), kidA, idClaims(idp.Issuer(), now))
			},
			want: "signing algorithm RS256 required",
		},
		{
			name: "a PS256 token signed by the issuer's key is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodPS256, keyA(t), kidA, idClaims(idp.Issuer(), now))
			},
			want: "signing algorithm RS256 required",
		},
		{
			name: "a token without a kid is refused",
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, keyA(t), "", idClaims(idp.Issuer(), now))
			},
			want: "token has no key id (kid)",
		},
		{
			name: "a token whose kid the issuer does not publish is refused",
			token: func(t *testing.T) string {
				return mint(t, keyC(t), auth.MintOptions{Issuer: idp.Issuer(), Now: now})
			},
			want: "unknown signing key",
		},
		{
			name:  "an empty token is refused",
			token: func(*testing.T) string { return "" },
			want:  "missing bearer token",
		},
		{
			name:  "a string that is not a JWT is refused",
			token: func(*testing.T) string { return "not-a-token" },
			want:  "malformed token",
		},
		{
			name:  "a JWT whose header is not base64 is refused",
			token: func(*testing.T) string { return "%%%.e30.sig" },
			want:  "malformed token",
		},
		{
			name: "a JWT whose payload is not JSON is refused",
			token: func(t *testing.T) string {
				parts := strings.Split(mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: now}), ".")
				parts[1] = base64.RawURLEncoding.EncodeToString([]byte("not json"))
				return strings.Join(parts, ".")
			},
			want: "malformed token",
		},
		{
			name:  "an oversized token is refused",
			token: func(*testing.T) string { return strings.Repeat("a", 20000) + ".b.c" },
			want:  "malformed token",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token(t)
			_, err := v.Verify(t.Context(), tok)
			require.Error(t, err)
			assert.ErrorIs(t, err, auth.ErrUnauthorized)
			assert.Equal(t, tc.want, err.Error())
			if tok != "" {
				assert.NotContains(t, err.Error(), tok)
			}
		})
	}
}

func TestVerifyFetchesARotatedKeyForAnUnknownKID(t *testing.T) {
	idp := newFakeIdP(t, keyA(t))
	c := newClock()
	v := newVerifier(t, idp.config(c))
	require.EqualValues(t, 1, idp.fetches.Load(), "the JWKS is fetched at start")

	idp.serve(t, keyB(t)) // the IdP rotates its key
	tok := mint(t, keyB(t), auth.MintOptions{Issuer: idp.Issuer(), Now: c.Now()})
	_, err := v.Verify(t.Context(), tok)
	require.NoError(t, err)
	assert.EqualValues(t, 2, idp.fetches.Load())

	t.Run("the retired key is no longer accepted", func(t *testing.T) {
		c.Advance(time.Minute) // past the rate limit, so a refresh is allowed
		_, err := v.Verify(t.Context(), mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: c.Now()}))
		require.ErrorIs(t, err, auth.ErrUnauthorized)
		assert.Equal(t, "unknown signing key", err.Error())
	})
}

func TestUnknownKIDsRefreshTheJWKSAtMostOncePerPeriod(t *testing.T) {
	idp := newFakeIdP(t, keyA(t))
	c := newClock()
	cfg := idp.config(c)
	cfg.RefreshRateLimit = 10 * time.Second
	v := newVerifier(t, cfg)
	require.EqualValues(t, 1, idp.fetches.Load())

	forged := func(i int) string {
		kid := "forged" + strings.Repeat("x", i%7)
		return mint(t, keyC(t), auth.MintOptions{Issuer: idp.Issuer(), Now: c.Now(), KeyID: kid})
	}
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = forged(i)
	}
	storm := func() {
		var wg sync.WaitGroup
		var accepted atomic.Int32
		for _, tok := range tokens {
			wg.Go(func() {
				if _, err := v.Verify(t.Context(), tok); err == nil {
					accepted.Add(1)
				}
			})
		}
		wg.Wait()
		require.Zero(t, accepted.Load())
	}

	storm()
	assert.EqualValues(t, 2, idp.fetches.Load(), "a storm of unknown kids fetches once")

	c.Advance(9 * time.Second)
	storm()
	assert.EqualValues(t, 2, idp.fetches.Load(), "no second fetch within the period")

	c.Advance(time.Second)
	storm()
	assert.EqualValues(t, 3, idp.fetches.Load(), "one more fetch once the period has passed")

	t.Run("known kids never fetch", func(t *testing.T) {
		c.Advance(time.Minute)
		for range 20 {
			_, err := v.Verify(t.Context(), mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: c.Now()}))
			require.NoError(t, err)
		}
		assert.EqualValues(t, 3, idp.fetches.Load())
	})
}

func TestNewVerifierStartsWhenTheJWKSIsUnreachable(t *testing.T) {
	t.Run("an IdP answering 503 at start delays acceptance until it recovers", func(t *testing.T) {
		idp := newFakeIdP(t, keyA(t))
		idp.status.Store(http.StatusServiceUnavailable)
		c := newClock()
		var logs logBuffer
		v, err := auth.NewVerifier(t.Context(), idp.config(c), slog.New(slog.NewTextHandler(&logs, nil)))
		require.NoError(t, err)
		assert.Contains(t, logs.String(), "JWKS not reachable at start")

		tok := mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: c.Now()})
		_, err = v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, auth.ErrUnauthorized)
		assert.Equal(t, "unknown signing key", err.Error())
		assert.NotContains(t, logs.String(), tok)

		idp.status.Store(http.StatusOK)
		c.Advance(10 * time.Second)
		_, err = v.Verify(t.Context(), tok)
		require.NoError(t, err)
	})

	t.Run("a closed port at start refuses tokens without failing start-up", func(t *testing.T) {
		idp := newFakeIdP(t, keyA(t))
		cfg := idp.config(newClock())
		idp.srv.Close()
		v, err := auth.NewVerifier(t.Context(), cfg, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), mint(t, keyA(t), auth.MintOptions{Issuer: cfg.Issuer, Now: cfg.Now()}))
		require.ErrorIs(t, err, auth.ErrUnauthorized)
	})
}

// roundTripFunc serves HTTP in memory, so that the refresh goroutine can
// run inside a synctest bubble.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTheJWKSIsRefreshedPeriodicallyUntilTheContextEnds(t *testing.T) {
	doc, err := auth.JWKS(keyA(t), "")
	require.NoError(t, err)
	synctest.Test(t, func(t *testing.T) {
		var fetches atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			fetches.Add(1)
			return &http.Response{
				StatusCode: http.StatusOK,
				Header:     http.Header{"Content-Type": {"application/json"}},
				Body:       io.NopCloser(strings.NewReader(string(doc))),
				Request:    r,
			}, nil
		})}
		ctx, cancel := context.WithCancel(t.Context())
		_, err := auth.NewVerifier(ctx, auth.VerifierConfig{
			Issuer:          "https://idp.example/pool",
			ClientID:        testClientID,
			RefreshInterval: 5 * time.Minute,
			HTTPClient:      client,
		}, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		require.EqualValues(t, 1, fetches.Load())

		<-time.After(5*time.Minute + time.Second) // fake time inside the bubble
		synctest.Wait()
		assert.EqualValues(t, 2, fetches.Load(), "refreshed after RefreshInterval")

		<-time.After(5 * time.Minute)
		synctest.Wait()
		assert.EqualValues(t, 3, fetches.Load())

		// synctest.Test fails if the refresh goroutine outlives ctx.
		cancel()
		synctest.Wait()
		<-time.After(time.Hour)
		assert.EqualValues(t, 3, fetches.Load(), "no refresh after the context ended")
	})
}

func TestVerifierConfigIsValidated(t *testing.T) {
	cases := []struct {
		name string
		cfg  auth.VerifierConfig
		want string
	}{
		{name: "an empty issuer is refused", cfg: auth.VerifierConfig{ClientID: "c"}, want: "issuer is required"},
		{name: "a relative issuer is refused", cfg: auth.VerifierConfig{Issuer: "pool", ClientID: "c"}, want: "must be an absolute http(s) URL"},
		{name: "an empty client id is refused", cfg: auth.VerifierConfig{Issuer: "https://idp.example/pool"}, want: "client id is required"},
		{name: "a negative leeway is refused", cfg: auth.VerifierConfig{Issuer: "https://idp.example/pool", ClientID: "c", Leeway: -time.Second}, want: "durations must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewVerifier(t.Context(), tc.cfg, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   string
		err    string
	}{
		{name: "a Bearer header yields its token", header: "Bearer abc.def.ghi", want: "abc.def.ghi"},
		{name: "the scheme is case-insensitive", header: "bearer abc.def.ghi", want: "abc.def.ghi"},
		{name: "extra spaces around the token are ignored", header: "  BEARER   abc.def.ghi  ", want: "abc.def.ghi"},
		{name: "a missing header is refused", header: "", err: "missing bearer token"},
		{name: "a scheme without a token is refused", header: "Bearer", err: "missing bearer token"},
		{name: "a scheme followed by spaces only is refused", header: "Bearer    ", err: "missing bearer token"},
		{name: "a Basic header is refused", header: "Basic dXNlcjpwYXNz", err: "authorization header must use the Bearer scheme"},
		{name: "a bare token without scheme is refused", header: "abc.def.ghi", err: "authorization header must use the Bearer scheme"},
		{name: "a token with inner whitespace is refused", header: "Bearer abc def", err: "malformed bearer token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.BearerToken(tc.header)
			if tc.err != "" {
				require.ErrorIs(t, err, auth.ErrUnauthorized)
				assert.Equal(t, tc.err, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestVerifyErrorsKeepTheCauseForLogs(t *testing.T) {
	idp := newFakeIdP(t, keyA(t))
	c := newClock()
	v := newVerifier(t, idp.config(c))
	_, err := v.Verify(t.Context(), mint(t, keyA(t), auth.MintOptions{Issuer: idp.Issuer(), Now: c.Now().Add(-2 * time.Hour)}))
	require.Error(t, err)
	assert.True(t, errors.Is(err, jwt.ErrTokenExpired))
	assert.True(t, errors.Is(err, auth.ErrUnauthorized))
}
