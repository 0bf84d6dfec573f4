// Package auth verifies the bearer tokens of AWS Cognito (ID and access
// tokens, RS256, keys from the user pool's JWKS) and provides a local
// development issuer that mints Cognito-shaped tokens without AWS.
//
// Roles are never read from a token: the api resolves them from the
// database after Verify has established who the caller is.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Token uses accepted by Verify (Cognito's token_use claim).
const (
	TokenUseID     = "id"
	TokenUseAccess = "access"
)

// Defaults applied by NewVerifier and NewStaticVerifier to zero fields.
const (
	DefaultRefreshInterval  = 5 * time.Minute
	DefaultRefreshRateLimit = 10 * time.Second
	DefaultLeeway           = 5 * time.Second
	DefaultFetchTimeout     = 5 * time.Second
)

// maxTokenBytes bounds the work an anonymous caller can cause; Cognito
// tokens are 1-2 KiB.
const maxTokenBytes = 16 << 10

// Claims is what the api needs from a verified token.
type Claims struct {
	// Subject is the user pool's stable user id (sub).
	Subject string
	// Email is set for ID tokens only; access tokens carry no email.
	Email string
	// EmailVerified is the email_verified claim of ID tokens.
	EmailVerified bool
	// Username is cognito:username (ID tokens) or username (access tokens).
	Username string
	// TokenUse is TokenUseID or TokenUseAccess.
	TokenUse string
	// Issuer is the token's iss, equal to the configured issuer.
	Issuer string
	// ClientID is the app client the token was issued to (aud of ID
	// tokens, client_id of access tokens), equal to the configured one.
	ClientID string
	// IssuedAt is the iat claim (zero when absent).
	IssuedAt time.Time
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

// VerifierConfig configures a Verifier. Zero durations take the Default*
// values.
type VerifierConfig struct {
	// Issuer is COGNITO_ISSUER, e.g.
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf; the iss
	// claim must equal it exactly.
	Issuer string
	// ClientID is COGNITO_CLIENT_ID: the aud of ID tokens and the
	// client_id of access tokens must equal it.
	ClientID string
	// JWKSURL defaults to Issuer + "/.well-known/jwks.json". It is never
	// derived from a token (the old service's V0 did, an SSRF and forgery
	// hole).
	JWKSURL string
	// RefreshInterval is how often the JWKS is fetched again.
	RefreshInterval time.Duration
	// RefreshRateLimit is the least time between two fetches triggered by
	// tokens with an unknown kid, so forged kids cannot hammer the IdP.
	RefreshRateLimit time.Duration
	// FetchTimeout bounds one JWKS request.
	FetchTimeout time.Duration
	// HTTPClient fetches the JWKS; nil means a client with FetchTimeout.
	HTTPClient *http.Client
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now. It drives the
	// claim checks and the unknown-kid rate limit.
	Now func() time.Time
}

func (c VerifierConfig) withDefaults() VerifierConfig {
	if c.JWKSURL == "" && c.Issuer != "" {
		c.JWKSURL = strings.TrimSuffix(c.Issuer, "/") + "/.well-known/jwks.json"
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.RefreshRateLimit == 0 {
		c.RefreshRateLimit = DefaultRefreshRateLimit
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.FetchTimeout}
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate reports every problem of a defaulted config.
func (c VerifierConfig) validate(remote bool) error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	} else if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuer %q must be an absolute http(s) URL", c.Issuer))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	if remote {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("JWKS URL %q must be an absolute http(s) URL", c.JWKSURL))
		}
	}
	if c.RefreshInterval < 0 || c.RefreshRateLimit < 0 || c.FetchTimeout < 0 || c.Leeway < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	return errors.Join(errs...)
}

// Verifier checks bearer tokens against the issuer's keys. It is safe for
// concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

// NewVerifier returns a Verifier whose keys come from cfg.JWKSURL: fetched
// once now, again every RefreshInterval, and on a token with an unknown kid
// at most once per RefreshRateLimit. The refresh goroutine (owned by jwkset)
// ends when ctx ends, so ctx must live as long as the Verifier is used.
//
// An unreachable JWKS does not fail start-up, since the IdP may be briefly
// unreachable: a warning is logged and every token is refused (401,
// "unknown signing key") until a later fetch succeeds. Start-up waits at
// most FetchTimeout for the first fetch.
func NewVerifier(ctx context.Context, cfg VerifierConfig, logger *slog.Logger) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(true); err != nil {
		return nil, fmt.Errorf("auth verifier config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "auth", "jwks_url", cfg.JWKSURL)
	if u, _ := url.Parse(cfg.JWKSURL); u.Scheme != "https" && !isLoopback(u.Hostname()) {
		logger.Warn("JWKS is fetched over plain http; use https outside development")
	}

	var started atomic.Bool
	onError := func(_ context.Context, err error) {
		if started.Load() {
			logger.Warn("JWKS refresh failed; keeping the cached keys", "err", err)
			return
		}
		logger.Warn("JWKS not reachable at start; tokens are refused until the keys are fetched", "err", err)
	}
	cached, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client: cfg.HTTPClient,
		Ctx:    ctx,
		// The first fetch happens inside this call; a failure is reported
		// to onError instead of failing start-up.
		NoErrorReturnFirstHTTPReq: true,
		HTTPTimeout:               cfg.FetchTimeout,
		RefreshErrorHandler:       onError,
		RefreshInterval:           cfg.RefreshInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("create JWKS storage for %s: %w", cfg.JWKSURL, err)
	}
	started.Store(true)

	// jwkset's own unknown-kid refresh waits on its rate limiter (blocking
	// the request for up to RateLimitWaitMax) and runs the fetch under that
	// same deadline. We gate it with a non-blocking limiter instead, so the
	// refresher below is allowed to fetch whenever it is reached at all.
	refresher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{cfg.JWKSURL: cached},
		RateLimitWaitMax:  cfg.FetchTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("create JWKS client for %s: %w", cfg.JWKSURL, err)
	}
	store := &unknownKIDStorage{
		Storage:   cached,
		refresher: refresher,
		limiter:   rate.NewLimiter(rate.Every(cfg.RefreshRateLimit), 1),
		now:       cfg.Now,
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store, UseWhitelist: usableKeys})
	if err != nil {
		return nil, fmt.Errorf("create keyfunc: %w", err)
	}
	return newVerifier(cfg, kf), nil
}

// NewStaticVerifier returns a Verifier whose keys are the given JWK Set
// document and never change; there is no HTTP and no goroutine. It serves
// the development issuer, and therefore refuses an Amazon issuer so that a
// production configuration can never accept development tokens by accident.
func NewStaticVerifier(cfg VerifierConfig, jwksJSON []byte) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(false); err != nil {
		return nil, fmt.Errorf("auth verifier config: %w", err)
	}
	if isAmazonIssuer(cfg.Issuer) {
		return nil, fmt.Errorf("auth verifier config: static keys are for the development issuer, not %s", cfg.Issuer)
	}
	kf, err := keyfunc.NewJWKSetJSON(jwksJSON)
	if err != nil {
		return nil, fmt.Errorf("load static JWKS: %w", err)
	}
	keys, err := kf.Storage().KeyReadAll(context.Background())
	if err != nil {
		return nil, fmt.Errorf("load static JWKS: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("load static JWKS: the key set has no usable key")
	}
	kf, err = keyfunc.New(keyfunc.Options{Storage: kf.Storage(), UseWhitelist: usableKeys})
	if err != nil {
		return nil, fmt.Errorf("create keyfunc: %w", err)
	}
	return newVerifier(cfg, kf), nil
}

// usableKeys admits signature keys and keys that do not say (Cognito sets
// "use":"sig"; an encryption key never verifies a token).
var usableKeys = []jwkset.USE{jwkset.UseSig, ""}

func newVerifier(cfg VerifierConfig, kf keyfunc.Keyfunc) *Verifier {
	return &Verifier{
		cfg:  cfg,
		keys: kf,
		parser: jwt.NewParser(
			// Checked before already; kept so that the library refuses
			// anything else (none, HS256 with the public key as secret,
			// RS384, PS256) even if the check above changes.
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
	}
}

// cognitoClaims is the JSON shape of Cognito ID and access tokens.
type cognitoClaims struct {
	jwt.RegisteredClaims
	TokenUse        string `json:"token_use"`
	ClientID        string `json:"client_id"`
	Email           string `json:"email"`
	EmailVerified   any    `json:"email_verified"`
	CognitoUsername string `json:"cognito:username"`
	Username        string `json:"username"`
}

type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// Verify checks raw (the token without "Bearer ") and returns its claims:
// RS256 only, a kid naming a key of the issuer, exact iss, exp required,
// exp/nbf/iat with the leeway, token_use access or id, and the client id
// in aud (ID tokens) or client_id (access tokens). Every failure wraps
// ErrUnauthorized; its message names the problem and never the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	if raw == "" {
		return Claims{}, unauthorized("missing bearer token", nil)
	}
	if len(raw) > maxTokenBytes {
		return Claims{}, unauthorized("malformed token", nil)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return Claims{}, unauthorized("malformed token", nil)
	}
	headerJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return Claims{}, unauthorized("malformed token", err)
	}
	var header tokenHeader
	if err := json.Unmarshal(headerJSON, &header); err != nil {
		return Claims{}, unauthorized("malformed token", err)
	}
	if header.Alg != jwt.SigningMethodRS256.Alg() {
		return Claims{}, unauthorized("signing algorithm RS256 required", nil)
	}
	if header.Kid == "" {
		return Claims{}, unauthorized("token has no key id (kid)", nil)
	}

	var c cognitoClaims
	if _, err := v.parser.ParseWithClaims(raw, &c, v.keys.KeyfuncCtx(ctx)); err != nil {
		return Claims{}, mapParseError(err, &c)
	}

	if c.Subject == "" {
		return Claims{}, unauthorized("token has no subject (sub)", nil)
	}
	out := Claims{
		Subject:   c.Subject,
		TokenUse:  c.TokenUse,
		Issuer:    c.Issuer,
		ExpiresAt: c.ExpiresAt.Time,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	switch c.TokenUse {
	case TokenUseID:
		if !slices.Contains(c.Audience, v.cfg.ClientID) {
			return Claims{}, unauthorized("token audience is not accepted", nil)
		}
		out.ClientID = v.cfg.ClientID
		out.Email = c.Email
		out.EmailVerified = c.EmailVerified == true || c.EmailVerified == "true"
		out.Username = c.CognitoUsername
	case TokenUseAccess:
		if c.ClientID != v.cfg.ClientID {
			return Claims{}, unauthorized("token client_id is not accepted", nil)
		}
		out.ClientID = c.ClientID
		out.Username = c.Username
	default:
		return Claims{}, unauthorized("token_use must be access or id", nil)
	}
	return out, nil
}

// mapParseError turns a jwt/keyfunc error into a message naming the
// problem. Claims problems are only reported after the signature was
// verified (jwt checks the signature first).
func mapParseError(err error, c *cognitoClaims) error {
	switch {
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return unauthorized("unknown signing key", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized("malformed token", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("token signature is invalid", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthorized("token signing key is not usable", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return unauthorized("token issuer is not accepted", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer == "":
		return unauthorized("token issuer is not accepted", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized("token has no expiry (exp)", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized("token expired", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized("token is not valid yet", err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return unauthorized("token is issued in the future", err)
	default:
		return unauthorized("token claims are invalid", err)
	}
}

// unknownKIDStorage is the cached JWKS plus a refresh on an unknown kid that
// never blocks: the first such token of a RefreshRateLimit period fetches
// the JWKS again (under the request's context), every other one is refused
// at once. A storm of forged kids thus costs the IdP one request per period
// and the api no waiting goroutines.
type unknownKIDStorage struct {
	jwkset.Storage
	refresher jwkset.Storage
	limiter   *rate.Limiter
	now       func() time.Time
}

func (s *unknownKIDStorage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := s.Storage.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwk, err
	}
	if !s.limiter.AllowN(s.now(), 1) {
		return jwkset.JWK{}, err
	}
	return s.refresher.KeyRead(ctx, kid)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isAmazonIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	return host == "amazonaws.com" || strings.HasSuffix(host, ".amazonaws.com") ||
		strings.HasSuffix(host, ".amazoncognito.com")
}
