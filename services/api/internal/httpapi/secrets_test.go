package httpapi_test

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/servercheck/uptime/pkg/secretbox"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

const mask = "********"

// storedRow is a monitor's secret-related columns as PostgreSQL holds them.
type storedRow struct {
	url, config, headersJSON, body string
	sealed                         []byte
}

// storedMonitor reads the row straight from PostgreSQL, past the api.
func (h *harness) storedMonitor(id string) storedRow {
	h.t.Helper()
	var r storedRow
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(),
		`SELECT url, config::text, COALESCE((config->'http'->'headers')::text, ''),
		        COALESCE(config->'http'->>'body', ''), sealed_secrets
		 FROM monitors WHERE id = $1`, id).Scan(&r.url, &r.config, &r.headersJSON, &r.body, &r.sealed))
	return r
}

// openSecrets opens a row's sealed secrets with the api's key.
func (h *harness) openSecrets(r storedRow) *eventsv1.MonitorSecrets {
	h.t.Helper()
	require.NotEmpty(h.t, r.sealed, "the row has sealed secrets")
	plain, err := h.secrets.Open(r.sealed, []byte(r.url))
	require.NoError(h.t, err)
	var s eventsv1.MonitorSecrets
	require.NoError(h.t, proto.Unmarshal(plain, &s))
	return &s
}

// rawMonitorsStream is every byte of every entry of the monitors stream.
func (h *harness) rawMonitorsStream() []byte {
	h.t.Helper()
	entries, err := h.rdb.XRange(h.t.Context(), h.ks.Key(stream.Monitors), "-", "+").Result()
	require.NoError(h.t, err)
	require.NotEmpty(h.t, entries)
	var all []byte
	for _, e := range entries {
		for k, v := range e.Values {
			s, _ := v.(string)
			all = append(append(all, k...), s...)
		}
	}
	return all
}

func headerPairs(hs []*eventsv1.Header) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.GetName()+"="+h.GetValue())
	}
	return out
}

// clearValues are the secrets the tests send; none may be stored or
// published in clear.
var clearValues = []string{"Bearer s3cret", "k3y-0f-the-api", "payload-b0dy", "Bearer n3w", "new-b0dy"}

func assertNoClearSecrets(t *testing.T, where string, raw []byte) {
	t.Helper()
	for _, v := range clearValues {
		assert.NotContains(t, string(raw), v, "%s holds %q in clear", where, v)
	}
}

func TestUpdateMonitorSealsTheSecretsItIsSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("seal@example.com", store.RoleUser)
	created := map[string]any{
		"method":  "POST",
		"headers": map[string]any{"Authorization": "Bearer s3cret", "X-Api-Key": "k3y-0f-the-api"},
		"body":    "payload-b0dy",
	}
	cases := []struct {
		name    string
		patch   map[string]any // config.http sent by PATCH
		code    int
		headers []string // opened secrets after the update; nil: no sealed secrets
		body    string
		message string
	}{
		{
			name:    "masks sent back keep every stored value",
			patch:   map[string]any{"headers": map[string]any{"Authorization": mask, "X-Api-Key": mask}, "body": mask},
			code:    http.StatusOK,
			headers: []string{"Authorization=Bearer s3cret", "X-Api-Key=k3y-0f-the-api"}, body: "payload-b0dy",
		},
		{
			name:    "a new value replaces the stored one and a mask keeps the other",
			patch:   map[string]any{"headers": map[string]any{"Authorization": "Bearer n3w", "X-Api-Key": mask}, "body": "new-b0dy"},
			code:    http.StatusOK,
			headers: []string{"Authorization=Bearer n3w", "X-Api-Key=k3y-0f-the-api"}, body: "new-b0dy",
		},
		{
			name:    "a header left out is removed and a body left out is dropped",
			patch:   map[string]any{"headers": map[string]any{"X-Api-Key": mask}},
			code:    http.StatusOK,
			headers: []string{"X-Api-Key=k3y-0f-the-api"},
		},
		{
			name:  "a config without headers or body removes the sealed secrets",
			patch: map[string]any{"method": "GET"},
			code:  http.StatusOK,
		},
		{
			name:    "a mask for a header that has no stored value is refused",
			patch:   map[string]any{"headers": map[string]any{"Authorization": mask, "X-Renamed": mask}, "body": mask},
			code:    http.StatusBadRequest,
			message: `config.http: headers: \"X-Renamed\" is masked but no value is stored for it; send its value`,
			headers: []string{"Authorization=Bearer s3cret", "X-Api-Key=k3y-0f-the-api"}, body: "payload-b0dy",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(httpConfig(created)))
			require.Equal(t, http.StatusCreated, r.code, string(r.body))
			id := decode[map[string]any](t, r.body)["id"].(string)

			r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"config": map[string]any{"http": tc.patch}})
			require.Equal(t, tc.code, r.code, string(r.body))
			assertNoClearSecrets(t, "the response", r.body)
			if tc.message != "" {
				assert.Contains(t, string(r.body), tc.message)
			}
			if tc.code == http.StatusOK {
				cfg := decode[map[string]any](t, r.body)["monitor"].(map[string]any)["config"].(map[string]any)["http"].(map[string]any)
				if len(tc.headers) > 0 {
					hs := cfg["headers"].(map[string]any)
					for _, v := range hs {
						assert.Equal(t, mask, v, "the response shows header values masked")
					}
				}
				if tc.body != "" {
					assert.Equal(t, mask, cfg["body"], "the response shows the body masked")
				}
			}

			row := h.storedMonitor(id)
			assertNoClearSecrets(t, "the config column", []byte(row.config))
			if tc.headers == nil && tc.body == "" {
				assert.Nil(t, row.sealed, "sealed_secrets is NULL")
				assert.Empty(t, row.headersJSON)
				assert.Empty(t, row.body)
				return
			}
			secrets := h.openSecrets(row)
			assert.Equal(t, tc.headers, headerPairs(secrets.GetHeaders()))
			assert.Equal(t, tc.body, string(secrets.GetBody()))
			if tc.body != "" {
				assert.Equal(t, mask, row.body, "the stored body is the mask")
			} else {
				assert.Empty(t, row.body)
			}
		})
	}
}

func TestCreateMonitorRefusesAMaskWithNothingBehindIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("create-mask@example.com", store.RoleUser)
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(httpConfig(map[string]any{
		"headers": map[string]any{"Authorization": mask}, "body": mask,
	})))
	require.Equal(t, http.StatusBadRequest, r.code, string(r.body))
	msg := decode[map[string]any](t, r.body)["message"]
	assert.ElementsMatch(t, []any{
		"config.http: body is masked but no body is stored; send the body",
		`config.http: headers: "Authorization" is masked but no value is stored for it; send its value`,
	}, msg)
}

// The monitors stream is read by the scheduler and kept in Redis: it
// carries the sealed bytes only.
func TestMonitorChangedPayloadsCarryTheSealedSecretsNeverTheClearOnes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("stream@example.com", store.RoleUser)
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(httpConfig(map[string]any{
		"headers": map[string]any{"Authorization": "Bearer s3cret", "X-Api-Key": "k3y-0f-the-api"}, "body": "payload-b0dy",
	})))
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	id := decode[map[string]any](t, r.body)["id"].(string)
	afterCreate := h.storedMonitor(id)
	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"config": map[string]any{"http": map[string]any{
		"headers": map[string]any{"Authorization": "Bearer n3w", "X-Api-Key": mask}, "body": "new-b0dy",
	}}})
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	afterUpdate := h.storedMonitor(id)
	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"isActive": false})
	require.Equal(t, http.StatusOK, r.code, string(r.body))

	raw := h.rawMonitorsStream()
	assertNoClearSecrets(t, "the monitors stream", raw)
	assert.NotContains(t, string(raw), mask, "masks are not sent as header values or body")

	ch := h.changes()
	require.Len(t, ch, 3)
	for i, want := range [][]byte{afterCreate.sealed, afterUpdate.sealed, afterUpdate.sealed} {
		req := ch[i].GetMonitor().GetRequest()
		assert.Equal(t, want, req.GetSealedSecrets(), "change %d carries the row's sealed secrets", i)
		assert.Empty(t, req.GetHeaders(), "change %d", i)
		assert.Empty(t, req.GetBody(), "change %d", i)
	}
	assert.NotEqual(t, afterCreate.sealed, afterUpdate.sealed)
}

// Rows written before secrets were sealed hold them in clear in config:
// they are masked on reads and sealed by their next update.
func TestAMonitorWithClearSecretsIsSealedByItsNextUpdate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("legacy@example.com", store.RoleUser)
	id := h.monitor(userID, "Legacy", "https://example.com/legacy",
		`config = '{"http": {"method": "POST", "headers": {"Authorization": "Bearer s3cret"}, "body": "payload-b0dy"}}'`)

	r := h.request(http.MethodGet, "/api/v1/uptime/"+id, tok, nil)
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assertNoClearSecrets(t, "the response", r.body)
	cfg := decode[map[string]any](t, r.body)["config"]

	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"config": cfg})
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	row := h.storedMonitor(id)
	assertNoClearSecrets(t, "the config column", []byte(row.config))
	secrets := h.openSecrets(row)
	assert.Equal(t, []string{"Authorization=Bearer s3cret"}, headerPairs(secrets.GetHeaders()))
	assert.Equal(t, "payload-b0dy", string(secrets.GetBody()))
}

func TestStoredSecretsThatDoNotOpenMustBeSentAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("rotated@example.com", store.RoleUser)
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(httpConfig(map[string]any{
		"headers": map[string]any{"Authorization": "Bearer s3cret"},
	})))
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	id := decode[map[string]any](t, r.body)["id"].(string)

	// Sealed with a key the api does not hold (a lost rotation).
	raw := make([]byte, secretbox.KeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	other, err := secretbox.NewKey(raw)
	require.NoError(t, err)
	foreign, err := secretbox.New(other).Seal([]byte("x"), []byte("https://example.com/health"))
	require.NoError(t, err)
	_, err = h.db.Pool.Exec(t.Context(), `UPDATE monitors SET sealed_secrets = $2 WHERE id = $1`, id, foreign)
	require.NoError(t, err)

	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"name": "No config, nothing to open"})
	require.Equal(t, http.StatusOK, r.code, string(r.body))

	masked := map[string]any{"config": map[string]any{"http": map[string]any{"headers": map[string]any{"Authorization": mask}}}}
	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, masked)
	require.Equal(t, http.StatusConflict, r.code, string(r.body))
	assert.Contains(t, string(r.body), "cannot be decrypted; send them again")
	assert.Equal(t, foreign, h.storedMonitor(id).sealed, "nothing changed")

	r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"config": map[string]any{"http": map[string]any{
		"headers": map[string]any{"Authorization": "Bearer n3w"},
	}}})
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assert.Equal(t, []string{"Authorization=Bearer n3w"}, headerPairs(h.openSecrets(h.storedMonitor(id)).GetHeaders()))
	assert.False(t, strings.Contains(string(r.body), "Bearer n3w"))
}
