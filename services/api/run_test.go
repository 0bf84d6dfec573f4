package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/services/api/internal/auth"
)

func TestRunNamesEveryMissingOrMalformedVariable(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
		"PORT":       "http",
		"LOG_LEVEL":  "loud",
		"REDIS_PORT": "99999",
	}))
	require.Error(t, err)
	for _, want := range []string{
		"DATABASE_URL: is required", "REDIS_HOST: is required",
		"PORT: must be an integer",
		"LOG_LEVEL: must be debug, info, warn or error",
		"REDIS_PORT: must be 1..65535",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestRunServesHealthAndMetricsAndStopsOnSignal(t *testing.T) {
	t.Parallel()
	env := testenv.ServiceEnv(t)
	port := testenv.FreePort(t)
	env["PORT"] = strconv.Itoa(port)
	devIssuer(t, env, port)
	stop := testenv.StartService(t, run, env, port)

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for _, path := range []string{"/health/liveness", "/health/readiness", "/health", "/metrics"} {
		code, err := testenv.GetStatus(base + path)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code, path)
	}
	require.NoError(t, stop(), "a clean shutdown returns no error")
	_, err := testenv.GetStatus(base + "/health/liveness")
	assert.Error(t, err, "the port is closed after shutdown")
}

// devIssuer configures env for the development issuer with a fresh key.
func devIssuer(t *testing.T, env map[string]string, port int) {
	t.Helper()
	env["DEV_ISSUER_ENABLED"] = "true"
	env["DEV_ISSUER_KEY_FILE"] = filepath.Join(t.TempDir(), "dev-issuer.pem")
	env["COGNITO_ISSUER"] = "http://127.0.0.1:" + strconv.Itoa(port) + "/dev-issuer"
	env["COGNITO_CLIENT_ID"] = "servercheck-dev"
	env["SSRF_ALLOWLIST"] = "127.0.0.0/8"
}

func TestProductionRefusesTheDevelopmentIssuer(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"NODE_ENV": "production", "DEV_ISSUER_ENABLED": "true",
		"COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X", "COGNITO_CLIENT_ID": "c",
		"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "REDIS_HOST": "127.0.0.1",
	}
	err := run(t.Context(), io.Discard, testenv.Lookup(env))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DEV_ISSUER_ENABLED: must be false when NODE_ENV=production")
}

func TestMonitorSecretsKeyIsRequiredInProductionAndMustBe32Bytes(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"NODE_ENV":       "production",
		"COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X", "COGNITO_CLIENT_ID": "c",
		"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "REDIS_HOST": "127.0.0.1",
	}
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"a production api without a key does not start", nil, "MONITOR_SECRETS_KEY: is required when NODE_ENV=production"},
		{"a key of 16 bytes is refused", map[string]string{"MONITOR_SECRETS_KEY": "AAAAAAAAAAAAAAAAAAAAAA"}, "MONITOR_SECRETS_KEY: must be 32 random bytes"},
		{"a malformed old key is refused", map[string]string{
			"MONITOR_SECRETS_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "MONITOR_SECRETS_OLD_KEYS": "nope",
		}, "MONITOR_SECRETS_OLD_KEYS: key 1 of 1: must be 32 random bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			err := run(t.Context(), io.Discard, testenv.Lookup(env))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestANewUserCreatesAMonitorAndSeesItListed follows the README: a
// development token, a monitor created with a POST, then listed.
func TestANewUserCreatesAMonitorAndSeesItListed(t *testing.T) {
	t.Parallel()
	env := testenv.ServiceEnv(t)
	port := testenv.FreePort(t)
	env["PORT"] = strconv.Itoa(port)
	devIssuer(t, env, port)
	testenv.StartService(t, run, env, port)

	key, err := auth.LoadOrCreateKey(env["DEV_ISSUER_KEY_FILE"])
	require.NoError(t, err)
	token, err := auth.Mint(key, auth.MintOptions{Issuer: env["COGNITO_ISSUER"], ClientID: env["COGNITO_CLIENT_ID"], Email: "new@example.com"})
	require.NoError(t, err)

	base := "http://127.0.0.1:" + strconv.Itoa(port) + "/api/v1"
	call := func(method, path, body string) (int, map[string]any) {
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	code, created := call(http.MethodPost, "/uptime", `{"name":"My site","url":"http://127.0.0.1:9/","frequency":60}`)
	require.Equal(t, http.StatusCreated, code, created)
	assert.Equal(t, "PENDING", created["status"])

	code, listed := call(http.MethodGet, "/uptime?includeInactive=true&limit=100", "")
	require.Equal(t, http.StatusOK, code, listed)
	data := listed["data"].([]any)
	require.Len(t, data, 1)
	assert.Equal(t, created["id"], data[0].(map[string]any)["id"])
	assert.EqualValues(t, 1, listed["pagination"].(map[string]any)["totalItems"])

	// The live event stream is wired: it answers with an event stream.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
}
