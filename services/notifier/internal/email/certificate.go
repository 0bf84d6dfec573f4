package email

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"time"
)

// CertificateSubject is the subject of every certificate-expiry email.
const CertificateSubject = "El certificado de uno de tus servidores está por caducar"

// certificateColor is the card's amber, the colour of a warning.
const certificateColor = "#f59e0b"

// CertificateExpiring is what a certificate-expiry email tells.
type CertificateExpiring struct {
	Recipient   string
	MonitorName string
	MonitorURL  string
	// ExpiresAt is the certificate's expiry.
	ExpiresAt time.Time
	// DaysLeft is the whole days left when the check noticed it.
	DaysLeft int
	// At is when the check noticed it.
	At time.Time
}

// inDays says when, in Spanish: "hoy", "en 1 día", "en 9 días".
func inDays(n int) string {
	switch {
	case n <= 0:
		return "hoy"
	case n == 1:
		return "en 1 día"
	default:
		return fmt.Sprintf("en %d días", n)
	}
}

// RenderCertificateExpiring builds the certificate-expiry email.
func RenderCertificateExpiring(c CertificateExpiring) (Message, error) {
	when, date := inDays(c.DaysLeft), formatTime(c.ExpiresAt)
	var text strings.Builder
	fmt.Fprintf(&text, "El certificado de tu servidor \"%s\" caduca %s (%s)\n", c.MonitorName, when, date)
	if c.MonitorURL != "" {
		fmt.Fprintf(&text, "\nURL: %s\n", c.MonitorURL)
	}
	text.WriteString("Renueva el certificado antes de esa fecha para que tus visitantes no vean un error de seguridad.\n")

	var html bytes.Buffer
	err := certificateTemplate.Execute(&html, map[string]any{
		"Color":     certificateColor,
		"Name":      c.MonitorName,
		"URL":       c.MonitorURL,
		"Recipient": c.Recipient,
		"Expires":   date,
		"Label":     "CADUCA " + strings.ToUpper(when),
		"Year":      c.At.UTC().Year(),
	})
	if err != nil {
		return Message{}, fmt.Errorf("render certificate email: %w", err)
	}
	return Message{To: c.Recipient, Subject: CertificateSubject, Text: text.String(), HTML: html.String()}, nil
}

// certificateTemplate is the status card's layout in amber; html/template
// escapes every value.
var certificateTemplate = htmltemplate.Must(htmltemplate.New("certificate").Parse(`<!DOCTYPE html>
<html lang="es">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Server Check App</title></head>
<body style="margin:0;padding:24px;background:#0f172a;font-family:Arial,Helvetica,sans-serif;color:#e2e8f0">
<table role="presentation" width="100%" cellspacing="0" cellpadding="0"><tr><td align="center">
<table role="presentation" width="560" cellspacing="0" cellpadding="0" style="background:#1e293b;border-radius:12px;overflow:hidden">
<tr><td style="padding:20px 28px;background:#111827;font-size:20px;font-weight:bold;color:#f8fafc">Server Check App</td></tr>
<tr><td align="center" style="padding:32px 28px 16px">
<div style="width:64px;height:64px;line-height:64px;border-radius:50%;background:{{.Color}};color:#ffffff;font-size:32px;font-weight:bold;text-align:center">!</div>
<p style="margin:16px 0 4px;font-size:14px;color:#94a3b8">Certificado SSL</p>
<p style="margin:0;font-size:32px;font-weight:bold;color:{{.Color}}">{{.Label}}</p>
</td></tr>
<tr><td style="padding:8px 28px 28px">
<table role="presentation" width="100%" cellspacing="0" cellpadding="8" style="border-collapse:collapse;font-size:14px">
<tr><td style="color:#94a3b8;width:40%">SERVIDOR</td><td style="color:#f8fafc;font-weight:bold">{{.Name}}</td></tr>
{{- if .URL}}
<tr><td style="color:#94a3b8">URL</td><td style="color:#f8fafc;word-break:break-all">{{.URL}}</td></tr>
{{- end}}
<tr><td style="color:#94a3b8">CADUCA</td><td style="color:{{.Color}}">{{.Expires}}</td></tr>
<tr><td style="color:#94a3b8">NOTIFICADO A</td><td style="color:#f8fafc">{{.Recipient}}</td></tr>
</table>
</td></tr>
<tr><td align="center" style="padding:16px;background:#111827;font-size:12px;color:#64748b">© {{.Year}} Server Check App</td></tr>
</table>
</td></tr></table>
</body>
</html>
`))
