package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := vars[key]
		return v, ok
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	withURL := env(map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"})
	tests := []struct {
		name      string
		args      []string
		lookupEnv func(string) (string, bool)
		wantErr   []string
	}{
		{"a missing DATABASE_URL is named", []string{"up"}, env(nil), []string{"DATABASE_URL is not set"}},
		{"an empty DATABASE_URL is named", []string{"up"}, env(map[string]string{"DATABASE_URL": ""}), []string{"DATABASE_URL is not set"}},
		{"a missing command is reported", nil, withURL, []string{"missing command"}},
		{"an unknown command is reported", []string{"sideways"}, withURL, []string{`unknown command "sideways"`}},
		{"a non-positive timeout is reported", []string{"-timeout", "0s", "up"}, withURL, []string{"-timeout must be positive"}},
		{"every problem is reported at once", []string{"a", "b"}, env(nil), []string{"exactly one command", "DATABASE_URL is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, tt.lookupEnv, &stdout, &stderr)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout.String())
			for _, want := range tt.wantErr {
				assert.Contains(t, stderr.String(), want)
			}
		})
	}
}

func TestRunHelpExitsZero(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"-h"}, env(nil), &stdout, &stderr))
	require.Contains(t, stderr.String(), "down-all")
}

func TestRunAgainstADatabase(t *testing.T) {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set; CI must provide a PostgreSQL server")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		t.Skip("TEST_DATABASE_URL is not a URL; this test appends a query parameter")
	}
	// A search_path naming no existing schema: the command must refuse rather
	// than migrate somewhere unexpected, and must not print the DSN.
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	badPath := dsn + sep + "search_path=migrate_cmd_no_such_schema"
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"up"}, env(map[string]string{"DATABASE_URL": badPath}), &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "no schema of the search_path exists")
	require.NotContains(t, stderr.String(), badPath)
}
