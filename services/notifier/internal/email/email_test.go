package email

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRenderStatusChange(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 18, 4, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name      string
		change    StatusChange
		wantText  []string
		wantHTML  []string
		forbidden []string
	}{
		{
			name: "a monitor going down shows CAÍDO in red with its url, time and error",
			change: StatusChange{Recipient: "ana@example.com", MonitorName: "Tienda", MonitorURL: "https://shop.example.com/health",
				Status: "DOWN", At: at, Cause: "Unexpected status code: 503"},
			wantText: []string{`El estado de tu servidor "Tienda" ha cambiado a: DOWN`, "https://shop.example.com/health",
				"2026-12-03 17:04:05 UTC", "Error: Unexpected status code: 503"},
			wantHTML: []string{"Server Check App", "Estado actual", "CAÍDO", "#ef4444", "SERVIDOR", "Tienda",
				"NOTIFICADO A", "ana@example.com", "https://shop.example.com/health", "2026-12-03 17:04:05 UTC",
				"Unexpected status code: 503", "© 2026 Server Check App"},
		},
		{
			name:      "a monitor coming back shows OPERATIVO in green and no error row",
			change:    StatusChange{Recipient: "ana@example.com", MonitorName: "Tienda", MonitorURL: "https://shop.example.com", Status: "UP", At: at},
			wantText:  []string{`El estado de tu servidor "Tienda" ha cambiado a: UP`},
			wantHTML:  []string{"OPERATIVO", "#10b981"},
			forbidden: []string{"ERROR", "CAÍDO"},
		},
		{
			name:     "pending is shown as PENDIENTE in amber",
			change:   StatusChange{Recipient: "a@b.c", MonitorName: "x", Status: "PENDING", At: at},
			wantHTML: []string{"PENDIENTE", "#f59e0b"},
		},
		{
			name:     "an unknown status is shown as DESCONOCIDO",
			change:   StatusChange{Recipient: "a@b.c", MonitorName: "x", Status: "DEGRADED", At: at},
			wantHTML: []string{"DESCONOCIDO", "#6b7280"},
		},
		{
			name: "every user-controlled value is HTML-escaped",
			change: StatusChange{Recipient: "a@b.c", MonitorName: `<script>alert("x")</script>`,
				MonitorURL: `https://e.com/?q=<b>&r="1"`, Status: "DOWN", At: at, Cause: `<img src=x onerror=alert(1)>`},
			wantText: []string{`El estado de tu servidor "<script>alert("x")</script>" ha cambiado a: DOWN`},
			wantHTML: []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
				"https://e.com/?q=&lt;b&gt;&amp;r=&#34;1&#34;"},
			forbidden: []string{"<script>", "<img", "<b>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := RenderStatusChange(tt.change)
			require.NoError(t, err)
			assert.Equal(t, tt.change.Recipient, msg.To)
			assert.Equal(t, "Actualización de estado de uno de tus servidores", msg.Subject)
			require.NotEmpty(t, msg.Text)
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
