package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// devKeyBits is the size of a development issuer key.
const devKeyBits = 2048

// DevAccessScope is the scope Cognito puts in access tokens of the hosted
// sign-in.
const DevAccessScope = "aws.cognito.signin.user.admin"

// LoadOrCreateKey returns the development issuer's RSA key stored at path
// (PEM, PKCS#8), creating a 2048-bit key there first when the file does
// not exist (parent directories 0700, file 0600). Concurrent callers end up
// with the same key: the file appears atomically and the loser loads it.
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	path = filepath.Clean(path)
	key, err := loadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err = rsa.GenerateKey(rand.Reader, devKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate development issuer key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode development issuer key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".dev-issuer-*.pem") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	// Link, unlike rename, fails when path exists: a concurrent creator
	// wins and everybody uses its key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadKey(path)
		}
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

func loadKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(filepath.Clean(path)) // path is operator configuration (DEV_ISSUER_KEY_FILE)
	if err != nil {
		return nil, fmt.Errorf("read development issuer key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read development issuer key %s: not a PEM PKCS#8 private key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read development issuer key %s: %w", path, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read development issuer key %s: %T is not an RSA key", path, parsed)
	}
	if key.N.BitLen() < devKeyBits {
		return nil, fmt.Errorf("read development issuer key %s: %d-bit RSA key, need at least %d", path, key.N.BitLen(), devKeyBits)
	}
	return key, nil
}

// KeyID returns a stable key id for pub: the hex of the first 16 bytes of
// its RFC 7638 JWK thumbprint (SHA-256). Hex keeps it free of '-' and '_'.
func KeyID(pub *rsa.PublicKey) string {
	thumb := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, b64(big.NewInt(int64(pub.E)).Bytes()), b64(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(thumb))
	return hex.EncodeToString(sum[:16])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS returns the public JWK Set document of key (what Cognito serves at
// /.well-known/jwks.json). An empty kid means KeyID(&key.PublicKey).
func JWKS(key *rsa.PrivateKey, kid string) ([]byte, error) {
	if key == nil {
		return nil, errors.New("jwks: no key")
	}
	if kid == "" {
		kid = KeyID(&key.PublicKey)
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{{
		Kty: "RSA",
		Kid: kid,
		Use: "sig",
		Alg: jwt.SigningMethodRS256.Alg(),
		N:   b64(key.N.Bytes()),
		E:   b64(big.NewInt(int64(key.E)).Bytes()),
	}}}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return out, nil
}

// MintOptions describes a development token.
type MintOptions struct {
	// Issuer is the iss claim; it must equal the api's COGNITO_ISSUER.
	Issuer string
	// ClientID is aud (ID tokens) or client_id (access tokens).
	ClientID string
	// Email is required for ID tokens and not part of access tokens.
	Email string
	// Subject is sub (and the username); empty means a new UUID v4.
	Subject string
	// TokenUse is TokenUseID (default) or TokenUseAccess.
	TokenUse string
	// TTL is the lifetime; zero means one hour.
	TTL time.Duration
	// Now is iat and auth_time; zero means time.Now.
	Now time.Time
	// KeyID is the kid header; empty means KeyID(&key.PublicKey).
	KeyID string
}

// Mint signs a Cognito-shaped RS256 token with key. It refuses an AWS
// issuer: development tokens never pretend to come from a real user pool.
//
// The existing front end decodes the payload with the browser's atob,
// which knows standard base64 only, so the base64url payload must not
// contain '-' or '_'. For ASCII JSON only the bytes '>', '?', '~' and DEL
// encode to those (their low six bits are 62 or 63, at every third byte);
// json.Marshal writes '>' as \u003e, so Mint refuses '?', '~', control
// characters and non-ASCII (whose UTF-8 bytes could produce them anywhere)
// in every claim value, and checks the encoded payload as a last resort.
func Mint(key *rsa.PrivateKey, opts MintOptions) (string, error) {
	if key == nil {
		return "", errors.New("mint: no key")
	}
	if opts.TokenUse == "" {
		opts.TokenUse = TokenUseID
	}
	if opts.Subject == "" {
		opts.Subject = uuid.NewString()
	}
	if opts.TTL == 0 {
		opts.TTL = time.Hour
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.KeyID == "" {
		opts.KeyID = KeyID(&key.PublicKey)
	}
	if err := opts.validate(); err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}

	now := opts.Now.Unix()
	claims := jwt.MapClaims{
		"sub":       opts.Subject,
		"iss":       opts.Issuer,
		"token_use": opts.TokenUse,
		"auth_time": now,
		"iat":       now,
		"exp":       opts.Now.Add(opts.TTL).Unix(),
	}
	if opts.TokenUse == TokenUseID {
		claims["email"] = opts.Email
		claims["email_verified"] = true
		claims["aud"] = opts.ClientID
		claims["cognito:username"] = opts.Subject
	} else {
		claims["client_id"] = opts.ClientID
		claims["scope"] = DevAccessScope
		claims["username"] = opts.Subject
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = opts.KeyID
	signed, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("mint: sign: %w", err)
	}
	if parts := strings.Split(signed, "."); len(parts) != 3 || strings.ContainsAny(parts[1], "-_") {
		return "", errors.New("mint: the payload would not decode with atob")
	}
	return signed, nil
}

func (o MintOptions) validate() error {
	var errs []error
	check := func(name, v string, required bool) {
		if v == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s is required", name))
			}
			return
		}
		if err := atobSafe(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %w", name, err))
		}
	}
	check("issuer", o.Issuer, true)
	if isAmazonIssuer(o.Issuer) {
		errs = append(errs, fmt.Errorf("issuer %s is an AWS issuer; development tokens must not claim to come from Cognito", o.Issuer))
	}
	check("client id", o.ClientID, true)
	check("subject", o.Subject, true)
	check("key id", o.KeyID, true)
	switch o.TokenUse {
	case TokenUseID:
		check("email", o.Email, true)
		if o.Email != "" && !strings.Contains(o.Email, "@") {
			errs = append(errs, errors.New("email must contain @"))
		}
	case TokenUseAccess:
	default:
		errs = append(errs, fmt.Errorf("token use must be %s or %s, got %q", TokenUseID, TokenUseAccess, o.TokenUse))
	}
	if o.TTL < 0 {
		errs = append(errs, errors.New("ttl must be positive"))
	}
	return errors.Join(errs...)
}

// atobSafe accepts printable ASCII without '?' and '~' (see Mint).
func atobSafe(v string) error {
	const maxLen = 512
	if len(v) > maxLen {
		return fmt.Errorf("is longer than %d bytes", maxLen)
	}
	for i := range len(v) {
		switch b := v[i]; {
		case b == '?' || b == '~':
			return fmt.Errorf("contains %q, which the front end cannot decode", b)
		case b < 0x20 || b == 0x7f:
			return errors.New("contains a control character")
		case b > 0x7f:
			return errors.New("contains a non-ASCII character, which the front end cannot decode")
		}
	}
	return nil
}
