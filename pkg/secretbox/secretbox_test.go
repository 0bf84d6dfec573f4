package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/secretbox"
)

// newKey returns a random key and its base64url text.
func newKey(t *testing.T) (secretbox.Key, string) {
	t.Helper()
	raw := make([]byte, secretbox.KeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	text := base64.RawURLEncoding.EncodeToString(raw)
	k, err := secretbox.ParseKey(text)
	require.NoError(t, err)
	return k, text
}

var target = []byte("https://api.example.com/health")

func TestSealedValuesOpenToTheirPlaintext(t *testing.T) {
	t.Parallel()
	k, _ := newKey(t)
	box := secretbox.New(k)
	for _, plain := range [][]byte{{}, []byte("Bearer s3cret"), bytes.Repeat([]byte{0xff}, 70_000)} {
		sealed, err := box.Seal(plain, target)
		require.NoError(t, err)
		if len(plain) > 0 {
			assert.False(t, bytes.Contains(sealed, plain), "no plaintext in the sealed value")
		}
		got, err := box.Open(sealed, target)
		require.NoError(t, err)
		assert.Equal(t, len(plain), len(got))
		assert.True(t, bytes.Equal(plain, got))
	}
}

func TestASealedValueCarriesItsVersionAndKeyIDAndAFreshNonce(t *testing.T) {
	t.Parallel()
	k, _ := newKey(t)
	box := secretbox.New(k)
	a, err := box.Seal([]byte("Bearer s3cret"), target)
	require.NoError(t, err)
	b, err := box.Seal([]byte("Bearer s3cret"), target)
	require.NoError(t, err)
	assert.Equal(t, byte(1), a[0], "version byte")
	assert.Equal(t, k.ID(), box.KeyID())
	assert.Equal(t, k.ID(), base16(a[1:5]), "key id after the version")
	assert.Len(t, a, 1+4+12+len("Bearer s3cret")+16)
	assert.NotContains(t, string(a), "s3cret")
	assert.NotEqual(t, a[5:17], b[5:17], "every seal draws a new nonce")
	assert.NotEqual(t, a, b)
}

func base16(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&0xf])
	}
	return sb.String()
}

func TestAnAlteredSealedValueDoesNotOpen(t *testing.T) {
	t.Parallel()
	k, _ := newKey(t)
	box := secretbox.New(k)
	sealed, err := box.Seal([]byte(`{"Authorization":"Bearer s3cret"}`), target)
	require.NoError(t, err)

	t.Run("flipping any single bit of any byte is detected", func(t *testing.T) {
		t.Parallel()
		for i := range sealed {
			for bit := range 8 {
				altered := bytes.Clone(sealed)
				altered[i] ^= 1 << bit
				plain, err := box.Open(altered, target)
				require.Error(t, err, "byte %d bit %d", i, bit)
				assert.Nil(t, plain)
				switch {
				case i == 0:
					require.ErrorIs(t, err, secretbox.ErrMalformed)
				case i < 5:
					require.ErrorIs(t, err, secretbox.ErrUnknownKey)
				default:
					require.ErrorIs(t, err, secretbox.ErrAuthentication)
				}
			}
		}
	})
	t.Run("a truncated value is malformed", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, 1, 5, 17, 32} {
			_, err := box.Open(sealed[:n], target)
			require.ErrorIs(t, err, secretbox.ErrMalformed, "%d bytes", n)
		}
		_, err := box.Open(sealed[:len(sealed)-1], target)
		require.ErrorIs(t, err, secretbox.ErrAuthentication, "one byte short of its tag")
	})
	t.Run("other additional data than sealed with does not authenticate", func(t *testing.T) {
		t.Parallel()
		_, err := box.Open(sealed, []byte("https://attacker.example/"))
		require.ErrorIs(t, err, secretbox.ErrAuthentication)
		_, err = box.Open(sealed, nil)
		require.ErrorIs(t, err, secretbox.ErrAuthentication)
	})
	t.Run("errors never contain the plaintext", func(t *testing.T) {
		t.Parallel()
		altered := bytes.Clone(sealed)
		altered[len(altered)-1] ^= 1
		_, err := box.Open(altered, target)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cret")
	})
}

func TestAValueSealedWithAnotherKeyFailsNamingTheKeyIDs(t *testing.T) {
	t.Parallel()
	k1, _ := newKey(t)
	k2, _ := newKey(t)
	sealed, err := secretbox.New(k1).Seal([]byte("s3cret"), target)
	require.NoError(t, err)
	_, err = secretbox.New(k2).Open(sealed, target)
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	assert.Contains(t, err.Error(), k1.ID(), "the id the value was sealed with")
	assert.Contains(t, err.Error(), k2.ID(), "the id of the current key")
}

func TestRotationOpensOldValuesAndSealsWithTheNewKey(t *testing.T) {
	t.Parallel()
	oldKey, _ := newKey(t)
	newK, _ := newKey(t)
	before, err := secretbox.New(oldKey).Seal([]byte("old s3cret"), target)
	require.NoError(t, err)

	rotated := secretbox.New(newK, oldKey)
	got, err := rotated.Open(before, target)
	require.NoError(t, err, "a value sealed before the rotation still opens")
	assert.Equal(t, "old s3cret", string(got))

	after, err := rotated.Seal([]byte("new s3cret"), target)
	require.NoError(t, err)
	assert.Equal(t, newK.ID(), base16(after[1:5]), "new values are sealed with the new key")
	_, err = secretbox.New(oldKey).Open(after, target)
	require.ErrorIs(t, err, secretbox.ErrUnknownKey, "the old key alone cannot open them")

	_, err = secretbox.New(newK).Open(before, target)
	require.ErrorIs(t, err, secretbox.ErrUnknownKey, "once the old key is dropped its values no longer open")
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb, 0xef, 0xbe}, 11)[:32] // encodes with + and / (or - and _)
	tests := []struct {
		name string
		text string
		err  string
	}{
		{"unpadded base64url is accepted", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"padded base64url is accepted", base64.URLEncoding.EncodeToString(raw), ""},
		{"padded standard base64 is accepted", base64.StdEncoding.EncodeToString(raw), ""},
		{"unpadded standard base64 is accepted", base64.RawStdEncoding.EncodeToString(raw), ""},
		{"surrounding spaces are ignored", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", ""},
		{"16 bytes are refused", base64.StdEncoding.EncodeToString(raw[:16]), "got 16 bytes"},
		{"33 bytes are refused", base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 1)), "got 33 bytes"},
		{"text that is not base64 is refused", "not a key at all!", "not base64"},
		{"an empty text is refused", "", "got 0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := secretbox.ParseKey(tc.text)
			if tc.err == "" {
				require.NoError(t, err)
				assert.Len(t, k.ID(), 8)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			assert.Contains(t, err.Error(), "32 random bytes")
			if tc.text != "" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tc.text), "the key text is never echoed")
			}
		})
	}
	a, err := secretbox.ParseKey(base64.RawURLEncoding.EncodeToString(raw))
	require.NoError(t, err)
	b, err := secretbox.ParseKey(base64.StdEncoding.EncodeToString(raw))
	require.NoError(t, err)
	assert.Equal(t, a.ID(), b.ID(), "the encoding does not change the key")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, key := newKey(t)
	_, old := newKey(t)
	tests := []struct {
		name       string
		cfg        secretbox.Config
		production bool
		errs       []string
	}{
		{"no key outside production is allowed", secretbox.Config{}, false, nil},
		{"no key in production is refused", secretbox.Config{}, true, []string{"MONITOR_SECRETS_KEY: is required when NODE_ENV=production"}},
		{"a key in production is accepted", secretbox.Config{Key: key, OldKeys: []string{old}}, true, nil},
		{"a short key is refused naming the variable", secretbox.Config{Key: "c2hvcnQ"}, false,
			[]string{"MONITOR_SECRETS_KEY: must be 32 random bytes", "got 5 bytes"}},
		{"a malformed old key is refused naming the variable and its place", secretbox.Config{Key: key, OldKeys: []string{old, "x"}}, true,
			[]string{"MONITOR_SECRETS_OLD_KEYS: key 2 of 2: must be 32 random bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate(tc.production)
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tc.errs {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestConfigBox(t *testing.T) {
	t.Parallel()
	t.Run("without a key the development key is used and reported", func(t *testing.T) {
		t.Parallel()
		box, dev, err := secretbox.Config{}.Box()
		require.NoError(t, err)
		assert.True(t, dev)
		assert.Equal(t, secretbox.DevelopmentKey().ID(), box.KeyID())
		sealed, err := secretbox.New(secretbox.DevelopmentKey()).Seal([]byte("s3cret"), target)
		require.NoError(t, err)
		got, err := box.Open(sealed, target)
		require.NoError(t, err, "every service derives the same development key")
		assert.Equal(t, "s3cret", string(got))
	})
	t.Run("the configured key seals and the old keys open", func(t *testing.T) {
		t.Parallel()
		k, key := newKey(t)
		o, old := newKey(t)
		box, dev, err := secretbox.Config{Key: key, OldKeys: []string{old}}.Box()
		require.NoError(t, err)
		assert.False(t, dev)
		assert.Equal(t, k.ID(), box.KeyID())
		sealed, err := secretbox.New(o).Seal([]byte("s3cret"), target)
		require.NoError(t, err)
		_, err = box.Open(sealed, target)
		require.NoError(t, err)
	})
	t.Run("a malformed key is an error naming the variable", func(t *testing.T) {
		t.Parallel()
		_, _, err := secretbox.Config{Key: "short"}.Box()
		require.ErrorContains(t, err, "MONITOR_SECRETS_KEY:")
		_, _, err = secretbox.Config{OldKeys: []string{"short"}}.Box()
		require.ErrorContains(t, err, "MONITOR_SECRETS_OLD_KEYS: key 1 of 1")
	})
}
