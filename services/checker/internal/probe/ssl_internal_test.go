package probe

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCertificateWarning(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name      string
		left      time.Duration
		alertDays int
		want      string
	}{
		{"a certificate beyond the period gets none", 31 * day, 0, ""},
		{"the last instant of the period counts", 30 * day, 0, "Certificate expires in 30 days"},
		{"days left are whole days, rounded down", 9*day + 23*time.Hour, 0, "Certificate expires in 9 days"},
		{"one day is singular", day + time.Hour, 0, "Certificate expires in 1 day"},
		{"the last day says 0 days", time.Hour, 0, "Certificate expires in 0 days"},
		{"the monitor's period replaces the default", 20 * day, 14, ""},
		{"a longer period warns earlier", 50 * day, 60, "Certificate expires in 50 days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, expiring := certificateWarning(now.Add(tt.left), now, tt.alertDays)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want != "", expiring)
		})
	}
}

func TestDaysLeftRoundsTowardsThePast(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 2, DaysLeft(now.Add(71*time.Hour), now))
	assert.Equal(t, 0, DaysLeft(now, now))
	assert.Equal(t, -1, DaysLeft(now.Add(-time.Hour), now))
	assert.Equal(t, -1, DaysLeft(now.Add(-24*time.Hour), now))
}

func TestCertificateErrorOfANotYetValidCertificate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{NotBefore: now.Add(48 * time.Hour), NotAfter: now.AddDate(1, 0, 0)}
	err := x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}
	assert.Equal(t, "Certificate is not valid: not valid before 2026-03-03 12:00 UTC", certificateError(leaf, err, now))
}
