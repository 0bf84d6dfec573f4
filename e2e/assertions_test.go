package e2e

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertionTarget serves the bodies and status codes the HTTP assertions
// are tried against. /secure answers 200 only to a POST carrying apiKey in
// X-Api-Key and body as its body, so a passing check proves the checker
// sent the decrypted secrets.
func assertionTarget(t *testing.T, apiKey, body string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello world") })
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"items":[{"state":"ok","count":3}]}}`)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, strings.Repeat("x", 4000)) })
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/text", http.StatusFound) })
	mux.HandleFunc("/secure", func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("X-Api-Key") != apiKey || string(got) != body {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "authorised")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHTTPAssertionsPassAndFailWithTheirReason creates one monitor per
// assertion of config.http against a loopback target and checks, after
// the first check of each, the monitor's status and the reason stored with
// the check. One monitor sends an API key header and a request body: its
// check passes only when the checker sent them decrypted, and neither
// value appears in clear in API responses, the database, the streams or
// any service log (at debug level).
func TestHTTPAssertionsPassAndFailWithTheirReason(t *testing.T) {
	t.Parallel()
	const (
		apiKey     = "sk-live-7f3a9c1e5b2d4f60"
		secretBody = `{"token":"body-secret-81c4e2a9"}`
	)
	base := assertionTarget(t, apiKey, secretBody)
	s := newSystem(t, map[string]string{"LOG_LEVEL": "debug"})
	s.startPipeline(nil)
	tok := s.token("assertions@example.com", "USER")

	cases := []struct {
		name, path string
		http       map[string]any
		wantError  string // "" for a passing check
	}{
		{"an expected status other than 2xx passes", "/teapot", map[string]any{"expectedStatusCodes": []int{418}}, ""},
		{"a 503 fails by default", "/unavailable", map[string]any{}, "Unexpected status code: 503"},
		{"present text passes", "/text", map[string]any{"expectedText": "hello"}, ""},
		{"absent text fails", "/text", map[string]any{"expectedText": "planet"}, "Expected text was not found"},
		{"an equal JSON value passes", "/json", map[string]any{"expectedJsonPath": "data.items.0.state", "expectedJsonValue": "ok"}, ""},
		{"an existing JSON path passes without a value", "/json", map[string]any{"expectedJsonPath": "data.items.0.count"}, ""},
		{"a different JSON value fails", "/json", map[string]any{"expectedJsonPath": "data.items.0.state", "expectedJsonValue": "down"}, "Expected JSON assertion failed"},
		{"a missing JSON path fails", "/json", map[string]any{"expectedJsonPath": "data.items.1.state"}, "Expected JSON assertion failed"},
		{"a body over the size limit fails", "/big", map[string]any{"expectedText": "x", "maxResponseBytes": 1000}, "Response exceeds configured size limit"},
		{"a followed redirect is judged at its end", "/hop", map[string]any{"expectedText": "hello"}, ""},
		{"an unfollowed redirect is judged as a status", "/hop", map[string]any{"followRedirects": false}, "Unexpected status code: 302"},
		{"a POST with a secret header and body passes", "/secure", map[string]any{
			"method": "POST", "headers": map[string]string{"X-Api-Key": apiKey}, "body": secretBody, "expectedText": "authorised",
		}, ""},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		var m monitor
		code := s.call(http.MethodPost, "/uptime", tok, map[string]any{
			"name": c.name, "url": base + c.path, "frequency": 60, "monitorType": "HTTP",
			"config": map[string]any{"http": c.http},
		}, &m)
		require.Equal(t, http.StatusCreated, code, c.name)
		ids[i] = m.ID
	}

	type view struct {
		Status    string     `json:"status"`
		LastError *string    `json:"lastError"`
		LastCheck *time.Time `json:"lastCheck"`
	}
	get := func(id string) view {
		var v view
		require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime/"+id, tok, nil, &v))
		return v
	}
	// One list request per poll: twelve GETs every 250 ms would trip the
	// api's per-client rate limit.
	waitFor(t, 80*time.Second, "the first check of every monitor", func() bool {
		var page struct {
			Data []view `json:"data"`
		}
		require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime?limit=100", tok, nil, &page))
		checked := 0
		for _, v := range page.Data {
			if v.LastCheck != nil {
				checked++
			}
		}
		return checked == len(ids)
	})

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var page struct {
				Data []struct {
					Success bool    `json:"success"`
					Error   *string `json:"error"`
				} `json:"data"`
			}
			require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/ping-log/user/my-logs?limit=1&monitorId="+ids[i], tok, nil, &page))
			require.Len(t, page.Data, 1)
			check, v := page.Data[0], get(ids[i])
			if c.wantError == "" {
				assert.True(t, check.Success, "error: %v", check.Error)
				assert.Equal(t, "UP", v.Status)
				return
			}
			assert.False(t, check.Success)
			require.NotNil(t, check.Error)
			assert.Equal(t, c.wantError, *check.Error)
			assert.Equal(t, "DOWN", v.Status)
			require.NotNil(t, v.LastError)
			assert.Equal(t, c.wantError, *v.LastError)
		})
	}

	secure := ids[len(ids)-1]
	secrets := []string{apiKey, "body-secret-81c4e2a9"}
	t.Run("the api shows the secrets masked", func(t *testing.T) {
		var one struct {
			Config struct {
				HTTP struct {
					Headers map[string]string `json:"headers"`
					Body    string            `json:"body"`
				} `json:"http"`
			} `json:"config"`
		}
		require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime/"+secure, tok, nil, &one))
		assert.Equal(t, map[string]string{"X-Api-Key": "********"}, one.Config.HTTP.Headers)
		assert.Equal(t, "********", one.Config.HTTP.Body)
		for _, path := range []string{"/uptime/" + secure, "/uptime?limit=100", "/uptime/logs/" + secure, "/ping-log/user/my-logs?monitorId=" + secure} {
			var raw json.RawMessage
			require.Equal(t, http.StatusOK, s.call(http.MethodGet, path, tok, nil, &raw), path)
			assertNoSecret(t, "GET "+path, string(raw), secrets)
		}
	})
	t.Run("the database holds the secrets sealed", func(t *testing.T) {
		var stored string
		require.NoError(t, s.db.QueryRow(context.Background(), `SELECT config::text FROM monitors WHERE id = $1`, secure).Scan(&stored))
		assert.Contains(t, stored, "X-Api-Key")
		assertNoSecret(t, "monitors.config", stored, secrets)
	})
	t.Run("no stream carries the secrets in clear", func(t *testing.T) {
		rdb := redis.NewClient(&redis.Options{Addr: s.redisAddr})
		defer func() { _ = rdb.Close() }()
		prefix := "{" + s.env["REDIS_KEY_PREFIX"] + "}:"
		jobs := 0
		for _, stream := range []string{"monitors", "jobs", "results", "events"} {
			xs, err := rdb.XRange(context.Background(), prefix+stream, "-", "+").Result()
			require.NoError(t, err)
			for _, x := range xs {
				for _, v := range x.Values {
					str, _ := v.(string)
					assertNoSecret(t, stream+" entry "+x.ID, str, secrets)
				}
			}
			if stream == "jobs" {
				jobs = len(xs)
			}
		}
		assert.GreaterOrEqual(t, jobs, len(ids), "every monitor's job was read")
	})
	t.Run("no log carries the secrets in clear", func(t *testing.T) {
		s.mu.Lock()
		logs := maps.Clone(s.logs)
		s.mu.Unlock()
		require.Len(t, logs, 6)
		for name, path := range logs {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.NotEmpty(t, b, name)
			assertNoSecret(t, name+" log", string(b), secrets)
		}
	})
}

func assertNoSecret(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, secret := range secrets {
		assert.NotContains(t, text, secret, "%s shows a secret in clear", where)
	}
}
