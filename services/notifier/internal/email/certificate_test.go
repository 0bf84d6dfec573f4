package email

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRenderCertificateExpiring(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	at := time.Date(2027, 2, 20, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		cert      CertificateExpiring
		wantText  []string
		wantHTML  []string
		forbidden []string
	}{
		{
			name: "the card tells the server, url, expiry and recipient in amber",
			cert: CertificateExpiring{Recipient: "ana@example.com", MonitorName: "Tienda", MonitorURL: "https://shop.example.com",
				ExpiresAt: expires, DaysLeft: 9, At: at},
			wantText: []string{`El certificado de tu servidor "Tienda" caduca en 9 días (2027-03-01 12:00:00 UTC)`,
				"URL: https://shop.example.com"},
			wantHTML: []string{"Server Check App", "Certificado SSL", "CADUCA EN 9 DÍAS", "#f59e0b", "SERVIDOR", "Tienda", "URL",
				"https://shop.example.com", "CADUCA", "2027-03-01 12:00:00 UTC", "NOTIFICADO A", "ana@example.com",
				"© 2027 Server Check App"},
		},
		{
			name:     "one day left is singular",
			cert:     CertificateExpiring{Recipient: "a@b.c", MonitorName: "x", ExpiresAt: expires, DaysLeft: 1, At: at},
			wantText: []string{"caduca en 1 día ("},
			wantHTML: []string{"CADUCA EN 1 DÍA<"},
		},
		{
			name:     "the last day says today",
			cert:     CertificateExpiring{Recipient: "a@b.c", MonitorName: "x", ExpiresAt: expires, DaysLeft: 0, At: at},
			wantText: []string{"caduca hoy ("},
			wantHTML: []string{"CADUCA HOY"},
		},
		{
			name: "every user-controlled value is HTML-escaped",
			cert: CertificateExpiring{Recipient: "a@b.c", MonitorName: `<script>alert("x")</script>`,
				MonitorURL: `https://e.com/?q=<b>`, ExpiresAt: expires, DaysLeft: 3, At: at},
			wantHTML:  []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "https://e.com/?q=&lt;b&gt;"},
			forbidden: []string{"<script>", "<b>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := RenderCertificateExpiring(tt.cert)
			require.NoError(t, err)
			assert.Equal(t, tt.cert.Recipient, msg.To)
			assert.Equal(t, "El certificado de uno de tus servidores está por caducar", msg.Subject)
			require.True(t, strings.HasPrefix(msg.HTML, "<!DOCTYPE html>"))
			for _, w := range tt.wantText {
				assert.Contains(t, msg.Text, w)
			}
			for _, w := range tt.wantHTML {
				assert.Contains(t, msg.HTML, w)
			}
			for _, f := range tt.forbidden {
				assert.NotContains(t, msg.HTML, f)
			}
		})
	}
}
