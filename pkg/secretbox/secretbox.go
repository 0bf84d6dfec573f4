// Package secretbox seals small secrets (a monitor's request headers and
// body) with AES-256-GCM so that they are stored and carried encrypted, and
// opens them where they are used.
//
// A sealed value is
//
//	version (1 byte, 1) | key id (4 bytes) | nonce (12 bytes) | ciphertext and GCM tag
//
// The key id is the first 4 bytes of SHA-256 of the key: Open picks the key
// by it, so that a value sealed with a retired key still opens during a
// rotation and a value sealed with an unknown key fails with a clear error
// rather than an authentication failure. The version and key id are
// authenticated with the caller's additional data, so no byte of a sealed
// value can change unnoticed.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const (
	version    = 1
	keyIDSize  = 4
	nonceSize  = 12
	headerSize = 1 + keyIDSize
	overhead   = headerSize + nonceSize + 16
)

// Errors Open returns; each is wrapped with details that never include
// the plaintext.
var (
	// ErrMalformed reports a value too short or of an unknown version.
	ErrMalformed = errors.New("secretbox: malformed sealed value")
	// ErrUnknownKey reports a value sealed with a key that is neither the
	// current key nor an old one.
	ErrUnknownKey = errors.New("secretbox: sealed with an unknown key")
	// ErrAuthentication reports a value that does not authenticate: it was
	// altered, or opened with other additional data than it was sealed with.
	ErrAuthentication = errors.New("secretbox: message authentication failed")
)

// Key is one AES-256 key and its id.
type Key struct {
	aead cipher.AEAD
	id   [keyIDSize]byte
}

// ParseKey decodes a key written as base64url or standard base64, padded
// or not, of exactly KeySize bytes. The error never contains the text.
func ParseKey(text string) (Key, error) {
	text = strings.TrimSpace(text)
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return Key{}, fmt.Errorf("must be %d random bytes in base64url or base64 (e.g. `openssl rand -base64 32`), got text that is not base64", KeySize)
	}
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("must be %d random bytes in base64url or base64 (e.g. `openssl rand -base64 32`), got %d bytes", KeySize, len(raw))
	}
	return NewKey(raw)
}

// NewKey returns the key made of raw, which must be KeySize bytes.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("secretbox: a key is %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("secretbox: %w", err)
	}
	k := Key{aead: aead}
	sum := sha256.Sum256(raw)
	copy(k.id[:], sum[:keyIDSize])
	return k, nil
}

// DevelopmentKey is a fixed, publicly known key for machines without
// MONITOR_SECRETS_KEY outside production: every service derives the same
// one, so a local stack works without configuration. It protects nothing.
func DevelopmentKey() Key {
	sum := sha256.Sum256([]byte("servercheck development monitor secrets key; public, never for production"))
	k, _ := NewKey(sum[:]) // cannot fail: a SHA-256 sum is KeySize bytes
	return k
}

// ID is the key's id as it appears in sealed values, in hex (safe to log).
func (k Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Box seals with its current key and opens with the current or an old one.
// It is safe for concurrent use.
type Box struct {
	current Key
	keys    []Key
}

// New returns a Box sealing with current and opening values sealed with
// current or any of old (keys retired by a rotation).
func New(current Key, old ...Key) *Box {
	return &Box{current: current, keys: append([]Key{current}, old...)}
}

// KeyID is the id of the key Seal uses, in hex.
func (b *Box) KeyID() string { return b.current.ID() }

// Seal encrypts plaintext with the current key and a random nonce. The
// additional data is authenticated, not stored: Open must be given the
// same, which binds the value to its context (e.g. the URL it is for).
func (b *Box) Seal(plaintext, additionalData []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, overhead+len(plaintext))
	out[0] = version
	copy(out[1:headerSize], b.current.id[:])
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("secretbox: read nonce: %w", err)
	}
	return b.current.aead.Seal(out, out[headerSize:], plaintext, aad(out[:headerSize], additionalData)), nil
}

// Open authenticates and decrypts a value made by Seal with any of the
// Box's keys and the same additional data.
func (b *Box) Open(sealed, additionalData []byte) ([]byte, error) {
	if len(sealed) < overhead {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(sealed))
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, sealed[0])
	}
	id := sealed[1:headerSize]
	nonce := sealed[headerSize : headerSize+nonceSize]
	ad := aad(sealed[:headerSize], additionalData)
	known := false
	for _, k := range b.keys {
		if !bytes.Equal(k.id[:], id) {
			continue
		}
		// Ids are 4 bytes: two keys may share one, so every match is tried.
		known = true
		if plain, err := k.aead.Open(nil, nonce, sealed[headerSize+nonceSize:], ad); err == nil {
			return plain, nil
		}
	}
	if !known {
		return nil, fmt.Errorf("%w: key id %x (current key %s)", ErrUnknownKey, id, b.current.ID())
	}
	return nil, fmt.Errorf("%w: key id %x", ErrAuthentication, id)
}

func aad(header, additionalData []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(additionalData)), header...), additionalData...)
}
