// Package email renders the messages the notifier sends. The templates keep
// the wording and look of the service Server Check replaces (Spanish, a dark
// card with the status in colour); every interpolated value is HTML-escaped
// by html/template.
package email

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"time"
)

// StatusSubject is the subject of every status-change email.
const StatusSubject = "Actualización de estado de uno de tus servidores"

// Message is a rendered email: one recipient, a subject, and both a
// plain-text and an HTML part.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// StatusChange is what a status-change email tells.
type StatusChange struct {
	Recipient   string
	MonitorName string
	MonitorURL  string
	// Status is the new status: UP, DOWN, PENDING, MAINTENANCE.
	Status string
	// At is when the status changed.
	At time.Time
	// Cause is the error of the check that took the monitor DOWN.
	Cause string
}

// look is how a status is shown: label, colour and icon of the card.
type look struct {
	Label string
	Color string
	Icon  string
}

func lookOf(status string) look {
	switch status {
	case "UP":
		return look{"OPERATIVO", "#10b981", "✓"}
	case "DOWN":
		return look{"CAÍDO", "#ef4444", "!"}
	case "PENDING":
		return look{"PENDIENTE", "#f59e0b", "⋯"}
	case "MAINTENANCE":
		return look{"EN MANTENIMIENTO", "#3b82f6", "⚙"}
	default:
		return look{"DESCONOCIDO", "#6b7280", "?"}
	}
}

// formatTime renders an instant for a reader who may be anywhere: UTC,
// spelled out.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// RenderStatusChange builds the status-change email.
func RenderStatusChange(c StatusChange) (Message, error) {
	var text strings.Builder
	fmt.Fprintf(&text, "El estado de tu servidor \"%s\" ha cambiado a: %s\n", c.MonitorName, c.Status)
	if c.MonitorURL != "" {
		fmt.Fprintf(&text, "\nURL: %s\n", c.MonitorURL)
	}
	fmt.Fprintf(&text, "Fecha del cambio: %s\n", formatTime(c.At))
	if c.Cause != "" {
		fmt.Fprintf(&text, "Error: %s\n", c.Cause)
	}

	var html bytes.Buffer
	look := lookOf(c.Status)
	err := statusTemplate.Execute(&html, map[string]any{
		"Color":     look.Color,
		"Icon":      look.Icon,
		"Caption":   "Estado actual",
		"Label":     look.Label,
		"Name":      c.MonitorName,
		"URL":       c.MonitorURL,
		"Recipient": c.Recipient,
		"At":        formatTime(c.At),
		"Cause":     c.Cause,
		"Year":      c.At.UTC().Year(),
	})
	if err != nil {
		return Message{}, fmt.Errorf("render status email: %w", err)
	}
	return Message{To: c.Recipient, Subject: StatusSubject, Text: text.String(), HTML: html.String()}, nil
}

// card is the HTML layout of every email: the Server Check App header, a
// badge in the card's colour with a caption and a label, the rows SERVIDOR
// and URL, the rows of the email's kind (its "details" template, defined by
// withDetails) and NOTIFICADO A. It is parsed once; html/template escapes
// every value (a monitor name is user input and lands in the owner's
// mailbox).
var card = htmltemplate.Must(htmltemplate.New("card").Parse(`<!DOCTYPE html>
<html lang="es">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Server Check App</title></head>
<body style="margin:0;padding:24px;background:#0f172a;font-family:Arial,Helvetica,sans-serif;color:#e2e8f0">
<table role="presentation" width="100%" cellspacing="0" cellpadding="0"><tr><td align="center">
<table role="presentation" width="560" cellspacing="0" cellpadding="0" style="background:#1e293b;border-radius:12px;overflow:hidden">
<tr><td style="padding:20px 28px;background:#111827;font-size:20px;font-weight:bold;color:#f8fafc">Server Check App</td></tr>
<tr><td align="center" style="padding:32px 28px 16px">
<div style="width:64px;height:64px;line-height:64px;border-radius:50%;background:{{.Color}};color:#ffffff;font-size:32px;font-weight:bold;text-align:center">{{.Icon}}</div>
<p style="margin:16px 0 4px;font-size:14px;color:#94a3b8">{{.Caption}}</p>
<p style="margin:0;font-size:32px;font-weight:bold;color:{{.Color}}">{{.Label}}</p>
</td></tr>
<tr><td style="padding:8px 28px 28px">
<table role="presentation" width="100%" cellspacing="0" cellpadding="8" style="border-collapse:collapse;font-size:14px">
<tr><td style="color:#94a3b8;width:40%">SERVIDOR</td><td style="color:#f8fafc;font-weight:bold">{{.Name}}</td></tr>
{{- if .URL}}
<tr><td style="color:#94a3b8">URL</td><td style="color:#f8fafc;word-break:break-all">{{.URL}}</td></tr>
{{- end}}
{{- block "details" .}}{{end}}
<tr><td style="color:#94a3b8">NOTIFICADO A</td><td style="color:#f8fafc">{{.Recipient}}</td></tr>
</table>
</td></tr>
<tr><td align="center" style="padding:16px;background:#111827;font-size:12px;color:#64748b">© {{.Year}} Server Check App</td></tr>
</table>
</td></tr></table>
</body>
</html>
`))

// withDetails is the card with details as the rows of its kind.
func withDetails(details string) *htmltemplate.Template {
	return htmltemplate.Must(htmltemplate.Must(card.Clone()).Parse(`{{define "details"}}` + details + `{{end}}`))
}

// statusTemplate adds when the status changed and the error behind a DOWN.
var statusTemplate = withDetails(`
<tr><td style="color:#94a3b8">FECHA DEL CAMBIO</td><td style="color:#f8fafc">{{.At}}</td></tr>
{{- if .Cause}}
<tr><td style="color:#94a3b8">ERROR</td><td style="color:#fca5a5">{{.Cause}}</td></tr>
{{- end}}`)
