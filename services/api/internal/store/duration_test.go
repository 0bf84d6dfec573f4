package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ms   int64
		want string
	}{
		{"zero is 0s", 0, "0s"},
		{"less than a second floors to 0s", 999, "0s"},
		{"negative clock skew is 0s", -5000, "0s"},
		{"one second", 1000, "1s"},
		{"fractions of a second are floored", 1999, "1s"},
		{"59 seconds", 59000, "59s"},
		{"a minute has no seconds part", 60000, "1m"},
		{"minutes and seconds", 125000, "2m 5s"},
		{"an hour has no lower parts", 3600000, "1h"},
		{"an hour and a second skips the zero minutes", 3601000, "1h 1s"},
		{"hours minutes seconds", 3665000, "1h 1m 5s"},
		{"the old service's example", 3661000, "1h 1m 1s"},
		{"a day", 86400000, "1d"},
		{"every part", 90061000, "1d 1h 1m 1s"},
		{"days are not rolled into weeks", 400 * 86400000, "400d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, store.FormatDuration(tc.ms))
		})
	}
}
