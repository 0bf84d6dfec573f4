package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMonitorsAndPingLogsShowTheCertificateExpiryAndWarning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	owner, tok := h.user("cert-owner@example.com", "USER")
	expires := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	warned := h.monitor(owner, "Tienda", "https://shop.example.com",
		"monitor_type = 'SSL'", "last_warning = 'Certificate expires in 9 days'",
		"ssl_certificate_expires_at = '2027-03-01T12:00:00Z'")
	plain := h.monitor(owner, "Blog", "http://blog.example.com")
	logID := h.pingLog(warned, time.Now().UTC().Truncate(time.Minute), true)
	_, err := h.db.Pool.Exec(t.Context(),
		`UPDATE ping_logs SET warning = 'Certificate expires in 9 days', certificate_expires_at = $2 WHERE id = $1`,
		logID, expires)
	require.NoError(t, err)

	t.Run("a monitor shows the certificate expiry and its latest warning", func(t *testing.T) {
		code, body := h.do(http.MethodGet, "/api/v1/uptime/"+warned, tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		m := decode[map[string]any](t, body)
		assert.Equal(t, "2027-03-01T12:00:00Z", m["sslCertificateExpiresAt"])
		assert.Equal(t, "Certificate expires in 9 days", m["warning"])
	})
	t.Run("a monitor without them shows nulls", func(t *testing.T) {
		code, body := h.do(http.MethodGet, "/api/v1/uptime/"+plain, tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		m := decode[map[string]any](t, body)
		require.Contains(t, m, "warning")
		require.Contains(t, m, "sslCertificateExpiresAt")
		assert.Nil(t, m["warning"])
		assert.Nil(t, m["sslCertificateExpiresAt"])
	})
	t.Run("the monitor list carries them too", func(t *testing.T) {
		code, body := h.do(http.MethodGet, "/api/v1/uptime?search=Tienda", tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		list := decode[struct {
			Data []map[string]any `json:"data"`
		}](t, body)
		require.Len(t, list.Data, 1)
		assert.Equal(t, "Certificate expires in 9 days", list.Data[0]["warning"])
	})
	t.Run("a ping log shows the warning and the certificate expiry of its check", func(t *testing.T) {
		code, body := h.do(http.MethodGet, "/api/v1/ping-log/id/"+logID, tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		p := decode[map[string]any](t, body)
		assert.Equal(t, "Certificate expires in 9 days", p["warning"])
		assert.Equal(t, "2027-03-01T12:00:00Z", p["certificateExpiresAt"])
	})
}
