package email

import (
	"bytes"
	"fmt"
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
		"Icon":      "!",
		"Caption":   "Certificado SSL",
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

// certificateTemplate adds the expiry date, in the card's colour.
var certificateTemplate = withDetails(`
<tr><td style="color:#94a3b8">CADUCA</td><td style="color:{{.Color}}">{{.Expires}}</td></tr>`)
