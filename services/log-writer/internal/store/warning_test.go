package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lastWarning reads monitors.last_warning and ssl_certificate_expires_at.
func (f fixture) lastWarning(t *testing.T, id uuid.UUID) (*string, *time.Time) {
	t.Helper()
	var (
		w    *string
		cert *time.Time
	)
	require.NoError(t, f.pool.QueryRow(t.Context(),
		`SELECT last_warning, ssl_certificate_expires_at FROM monitors WHERE id = $1`, id).Scan(&w, &cert))
	return w, cert
}

func TestTheMonitorShowsTheWarningOfItsLatestResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.monitor(t, 60)
	h := hour()
	s := func(i int) time.Time { return h.Add(time.Duration(i) * time.Minute) }
	expiring := time.Now().UTC().Add(9 * 24 * time.Hour).Truncate(time.Microsecond)
	renewed := expiring.AddDate(0, 3, 0)
	// Within a batch the newest result decides.
	first := up(m, s(0), true)
	first.CertificateExpiresAt = &expiring
	second := up(m, s(1), false)
	second.CertificateExpiresAt, second.Warning = &expiring, strp("Certificate expires in 9 days")
	f.write(t, second, first)
	w, cert := f.lastWarning(t, m)
	assert.Equal(t, strp("Certificate expires in 9 days"), w)
	require.NotNil(t, cert)
	assert.True(t, expiring.Equal(*cert))

	// A late result (older slot) with another warning changes nothing.
	late := up(m, s(0).Add(30*time.Second), false)
	late.Warning = strp("Certificate expires in 10 days")
	f.write(t, late)
	w, _ = f.lastWarning(t, m)
	assert.Equal(t, strp("Certificate expires in 9 days"), w)

	// A newer result without a warning (renewed) clears it.
	third := up(m, s(2), false)
	third.CertificateExpiresAt = &renewed
	f.write(t, third)
	w, cert = f.lastWarning(t, m)
	assert.Nil(t, w)
	require.NotNil(t, cert)
	assert.True(t, renewed.Equal(*cert))
}
