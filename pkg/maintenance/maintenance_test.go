package maintenance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowContains(t *testing.T) {
	t.Parallel()
	madrid, err := time.LoadLocation("Europe/Madrid")
	require.NoError(t, err)
	// 2026-12-06 is a Sunday.
	sunday := func(h, m int, loc *time.Location) time.Time { return time.Date(2026, 12, 6, h, m, 0, 0, loc) }
	tests := []struct {
		name   string
		window Window
		at     time.Time
		want   bool
	}{
		{"inside a Sunday 02:00-04:00 window in its own zone", Window{Days: []int{0}, StartMinute: 120, DurationMinutes: 120, TimeZone: "Europe/Madrid"}, sunday(3, 0, madrid), true},
		{"the opening minute is inside", Window{Days: []int{0}, StartMinute: 120, DurationMinutes: 120, TimeZone: "Europe/Madrid"}, sunday(2, 0, madrid), true},
		{"the end minute is outside", Window{Days: []int{0}, StartMinute: 120, DurationMinutes: 120, TimeZone: "Europe/Madrid"}, sunday(4, 0, madrid), false},
		{"the same wall time in UTC is an hour later in Madrid and outside", Window{Days: []int{0}, StartMinute: 120, DurationMinutes: 60, TimeZone: "Europe/Madrid"}, sunday(2, 30, time.UTC), false},
		{"another day is outside", Window{Days: []int{1}, StartMinute: 120, DurationMinutes: 120, TimeZone: "UTC"}, sunday(3, 0, time.UTC), false},
		{"a Saturday 23:00 window of 3 hours covers Sunday 01:00", Window{Days: []int{6}, StartMinute: 23 * 60, DurationMinutes: 180, TimeZone: "UTC"}, sunday(1, 0, time.UTC), true},
		{"a week-long window covers every instant", Window{Days: []int{1}, StartMinute: 0, DurationMinutes: MaxDurationMinutes, TimeZone: "UTC"}, sunday(23, 59, time.UTC), true},
		{"an empty zone means UTC", Window{Days: []int{0}, StartMinute: 0, DurationMinutes: 60}, sunday(0, 30, time.UTC), true},
		// Santiago's clocks skip 6 Sep 2026 00:00-01:00: a day back from
		// 7 Sep 00:11 is still Sunday 6 Sep, not a Saturday.
		{"a day back across a midnight DST gap is the calendar's day before", Window{Days: []int{0}, StartMinute: 883, DurationMinutes: 3000, TimeZone: "America/Santiago"},
			time.Date(2026, 9, 7, 3, 11, 0, 0, time.UTC), true},
		// Santiago's clocks go back on 5 Apr 2026 00:00 to 4 Apr 23:00: 23:55
		// happens at 02:55 and at 03:55 UTC; the window opens at the later.
		{"a repeated opening time opens at its later instant", Window{Days: []int{6}, StartMinute: 1435, DurationMinutes: 60, TimeZone: "America/Santiago"},
			time.Date(2026, 4, 5, 3, 6, 0, 0, time.UTC), false},
		{"and lasts its duration from there", Window{Days: []int{6}, StartMinute: 1435, DurationMinutes: 60, TimeZone: "America/Santiago"},
			time.Date(2026, 4, 5, 4, 30, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.window.Contains(tt.at)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestActive(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	thursdayNoon := Window{Days: []int{4}, StartMinute: 11 * 60, DurationMinutes: 120, TimeZone: "UTC"}
	assert.True(t, Active(now, &later, nil), "before the one-off end")
	assert.False(t, Active(now, &earlier, nil), "after the one-off end")
	assert.False(t, Active(now, nil, nil), "no maintenance at all")
	assert.True(t, Active(now, &earlier, []Window{thursdayNoon}), "inside a window")
	assert.False(t, Active(now, nil, []Window{{Days: []int{4}, StartMinute: 0, DurationMinutes: 60, TimeZone: "Mars/Olympus"}}),
		"a window with an unknown zone is ignored")
	assert.Equal(t, []Window{thursdayNoon}, FromProto(ToProto([]Window{thursdayNoon})), "proto round trip")
}

func TestWindowValidate(t *testing.T) {
	t.Parallel()
	assert.Empty(t, Window{Days: []int{0, 6}, StartMinute: 1439, DurationMinutes: 10080, TimeZone: "America/New_York"}.Validate("w"))
	errs := Window{Days: []int{7, 1, 1}, StartMinute: 1440, DurationMinutes: 0, TimeZone: "Nowhere/City"}.Validate("maintenanceWindows.0")
	var texts []string
	for _, e := range errs {
		texts = append(texts, e.Error())
	}
	assert.ElementsMatch(t, []string{
		"maintenanceWindows.0.daysOfWeek must hold days 0 (Sunday) to 6 (Saturday), got 7",
		"maintenanceWindows.0.daysOfWeek must not repeat day 1",
		"maintenanceWindows.0.startMinute must be 0..1439, got 1440",
		"maintenanceWindows.0.durationMinutes must be 1..10080, got 0",
		`maintenanceWindows.0.timezone must be an IANA time zone such as Europe/Madrid, got "Nowhere/City"`,
	}, texts)
	assert.Len(t, Window{}.Validate("w"), 2, "no days and no duration")
}
