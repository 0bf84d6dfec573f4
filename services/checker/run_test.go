package main

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
)

func TestRunNamesEveryMissingOrMalformedVariable(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
		"CHECKER_HTTP_PORT": "http",
		"LOG_LEVEL":         "loud",
		"REDIS_PORT":        "99999",
	}))
	require.Error(t, err)
	for _, want := range []string{
		"REDIS_HOST: is required",
		"CHECKER_HTTP_PORT: must be an integer",
		"LOG_LEVEL: must be debug, info, warn or error",
		"REDIS_PORT: must be 1..65535",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestMonitorSecretsKeyIsRequiredInProduction(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
		"NODE_ENV": "production", "REDIS_HOST": "127.0.0.1",
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MONITOR_SECRETS_KEY: is required when NODE_ENV=production")

	err = run(t.Context(), io.Discard, testenv.Lookup(map[string]string{
		"REDIS_HOST": "127.0.0.1", "MONITOR_SECRETS_KEY": "too short",
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MONITOR_SECRETS_KEY: must be 32 random bytes")
}

func TestRunServesHealthAndMetricsAndStopsOnSignal(t *testing.T) {
	t.Parallel()
	env := testenv.ServiceEnv(t)
	port := testenv.FreePort(t)
	env["CHECKER_HTTP_PORT"] = strconv.Itoa(port)
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
