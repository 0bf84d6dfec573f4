package store_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/maintenance"
	"github.com/servercheck/uptime/pkg/testenv"
)

// TestSQLMaintenanceWindowsMatchGo: maintenance_window_contains (migration
// 00008, used by the list filter and the dashboard counts) and
// maintenance.Window.Contains (used by the checker and the monitor view)
// agree on windows in zones with and without daylight saving (a 30-minute
// shift in Lord Howe, a southern-hemisphere one in Santiago), at instants
// around 2026's transitions and at random, for openings inside a DST gap or
// overlap, windows past midnight and week-long ones.
func TestSQLMaintenanceWindowsMatchGo(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	rng := rand.New(rand.NewPCG(4, 12))
	zones := []string{"", "UTC", "Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "Pacific/Chatham"}
	// Around the transitions: Europe 29 Mar / 25 Oct, US 8 Mar / 1 Nov,
	// Lord Howe 5 Apr / 4 Oct, Santiago 5 Apr / 6 Sep 2026.
	var instants []time.Time
	for _, d := range []string{"2026-03-08", "2026-03-29", "2026-04-05", "2026-09-06", "2026-10-04", "2026-10-25", "2026-11-01"} {
		day, err := time.Parse(time.DateOnly, d)
		require.NoError(t, err)
		for m := -36 * 60; m <= 36*60; m += 17 {
			instants = append(instants, day.Add(time.Duration(m)*time.Minute))
		}
	}
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		instants = append(instants, year.Add(time.Duration(rng.Int64N(int64(365*24*time.Hour)))).Truncate(time.Second))
	}

	type window struct {
		maintenance.Window
		days []int32
	}
	var windows []window
	for i := range 120 {
		var days []int32
		for d := range 7 {
			if rng.IntN(3) == 0 || (d == i%7) {
				days = append(days, int32(d))
			}
		}
		start := rng.IntN(1440)
		if i%4 == 0 {
			start = 120 + rng.IntN(60) // 02:00-03:00, inside most spring-forward gaps
		}
		duration := []int{1, 30, 60, 90, 180, 1439, 1500, 3000, 10080}[rng.IntN(9)]
		w := maintenance.Window{StartMinute: start, DurationMinutes: duration, TimeZone: zones[i%len(zones)]}
		for _, d := range days {
			w.Days = append(w.Days, int(d))
		}
		windows = append(windows, window{Window: w, days: days})
	}

	// One query per window: every instant at once.
	inside, mismatches := 0, 0
	for _, w := range windows {
		rows, err := db.Pool.Query(t.Context(), `
SELECT at, maintenance_window_contains($1, $2, $3, $4, at) FROM unnest($5::timestamptz[]) AS u(at)`,
			w.days, w.StartMinute, w.DurationMinutes, w.TimeZone, instants)
		require.NoError(t, err)
		for rows.Next() {
			var at time.Time
			var got bool
			require.NoError(t, rows.Scan(&at, &got))
			want, err := w.Contains(at)
			require.NoError(t, err)
			if got != want && mismatches < 10 {
				assert.Failf(t, "SQL and Go disagree", "window %+v at %s: SQL %t, Go %t", w.Window, at.UTC(), got, want)
			}
			if got != want {
				mismatches++
			}
			if want {
				inside++
			}
		}
		require.NoError(t, rows.Err())
	}
	assert.Zero(t, mismatches)
	total := len(windows) * len(instants)
	assert.Greater(t, inside, total/20, "enough instants fall inside a window for the comparison to mean something")
	assert.Less(t, inside, total-total/20, "and enough outside")

	t.Run("a zone PostgreSQL does not know never opens", func(t *testing.T) {
		var got bool
		require.NoError(t, db.Pool.QueryRow(t.Context(),
			`SELECT maintenance_window_contains('{0,1,2,3,4,5,6}', 0, 10080, 'Nowhere/Atlantis', now())`).Scan(&got))
		assert.False(t, got)
	})
}
