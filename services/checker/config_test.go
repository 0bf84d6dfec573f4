package main

import (
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
)

func TestExtraCAFileMustHoldPEMCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junk, []byte("not a certificate"), 0o600))
	tests := []struct {
		name, path, want string
	}{
		{"a missing file is refused", filepath.Join(dir, "missing.pem"), "CHECK_EXTRA_CA_FILE: open "},
		{"a file without certificates is refused", junk, "CHECK_EXTRA_CA_FILE: " + junk + " holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
				"REDIS_HOST": "127.0.0.1", "CHECK_EXTRA_CA_FILE": tt.path,
			}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestExtraCAFileIsTrusted(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, ca.PEM, 0o600))

	pool, err := rootCAs(path)
	require.NoError(t, err)
	_, err = ca.Issue(t, time.Now().Add(time.Hour), "shop.example.com").Leaf.Verify(x509.VerifyOptions{
		Roots: pool, DNSName: "shop.example.com",
	})
	require.NoError(t, err, "a certificate of the extra CA verifies")

	none, err := rootCAs("")
	require.NoError(t, err)
	assert.Nil(t, none, "no file: the system roots")
}
