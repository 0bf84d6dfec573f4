// Package maintenance decides whether a monitor is in maintenance at an
// instant: before a one-off end time, or inside one of its weekly recurring
// windows evaluated in the window's own time zone. The checker uses it to
// mark results, the api to show a monitor as MAINTENANCE.
package maintenance

import (
	"errors"
	"fmt"
	"time"

	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// Limits of a window.
const (
	MinutesPerDay      = 24 * 60
	MaxDurationMinutes = 7 * MinutesPerDay
)

// Window is a weekly recurring maintenance period.
type Window struct {
	// Days the window opens, 0 = Sunday .. 6 = Saturday, in TimeZone.
	Days []int `json:"daysOfWeek"`
	// StartMinute of the day it opens, 0..1439, in TimeZone.
	StartMinute int `json:"startMinute"`
	// DurationMinutes it lasts, 1..10080; it may run past midnight.
	DurationMinutes int `json:"durationMinutes"`
	// TimeZone is an IANA name; empty means UTC.
	TimeZone string `json:"timezone"`
}

// Validate reports every problem of w, each naming its field under prefix
// (e.g. "maintenanceWindows.0").
func (w Window) Validate(prefix string) []error {
	var errs []error
	if len(w.Days) == 0 {
		errs = append(errs, fmt.Errorf("%s.daysOfWeek must list at least one day", prefix))
	}
	seen := map[int]bool{}
	for _, d := range w.Days {
		if d < 0 || d > 6 {
			errs = append(errs, fmt.Errorf("%s.daysOfWeek must hold days 0 (Sunday) to 6 (Saturday), got %d", prefix, d))
		} else if seen[d] {
			errs = append(errs, fmt.Errorf("%s.daysOfWeek must not repeat day %d", prefix, d))
		}
		seen[d] = true
	}
	if w.StartMinute < 0 || w.StartMinute >= MinutesPerDay {
		errs = append(errs, fmt.Errorf("%s.startMinute must be 0..1439, got %d", prefix, w.StartMinute))
	}
	if w.DurationMinutes < 1 || w.DurationMinutes > MaxDurationMinutes {
		errs = append(errs, fmt.Errorf("%s.durationMinutes must be 1..10080, got %d", prefix, w.DurationMinutes))
	}
	if _, err := time.LoadLocation(w.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("%s.timezone must be an IANA time zone such as Europe/Madrid, got %q", prefix, w.TimeZone))
	}
	return errs
}

// ErrUnknownTimeZone is returned for a window whose zone does not load.
var ErrUnknownTimeZone = errors.New("unknown time zone")

// Contains tells whether at falls inside an occurrence of w.
func (w Window) Contains(at time.Time) (bool, error) {
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return false, fmt.Errorf("window time zone %q: %w", w.TimeZone, ErrUnknownTimeZone)
	}
	y, m, d := at.In(loc).Date()
	// An occurrence that covers at opened at most DurationMinutes ago:
	// look at the openings of today and of as many days back as it spans.
	// Days are counted on the calendar, not by moving a wall time back
	// (which a DST change at midnight could shift into another day).
	back := w.DurationMinutes/MinutesPerDay + 1
	for i := 0; i <= back; i++ {
		if !w.opensOn(time.Date(y, m, d-i, 12, 0, 0, 0, time.UTC).Weekday()) {
			continue
		}
		// time.Date normalises the day and minute counts and resolves a
		// start falling into a DST gap to a real instant.
		open := laterIfRepeated(time.Date(y, m, d-i, 0, w.StartMinute, 0, 0, loc))
		end := open.Add(time.Duration(w.DurationMinutes) * time.Minute)
		if !at.Before(open) && at.Before(end) {
			return true, nil
		}
	}
	return false, nil
}

// laterIfRepeated returns the later of the two instants that show t's wall
// time when clocks go back just after t (the wall time happens twice), and
// t otherwise. It is how PostgreSQL resolves such a local time, so the SQL
// rule of migration 00008 (maintenance_window_contains) and this one agree;
// time.Date leaves the choice unspecified. Clocks go back by at most two
// hours anywhere.
func laterIfRepeated(t time.Time) time.Time {
	_, before := t.Zone()
	_, after := t.Add(2 * time.Hour).Zone()
	if after >= before {
		return t
	}
	later := t.Add(time.Duration(before-after) * time.Second)
	if later.Format(time.DateTime) == t.Format(time.DateTime) {
		return later
	}
	return t
}

func (w Window) opensOn(d time.Weekday) bool {
	for _, x := range w.Days {
		if x == int(d) {
			return true
		}
	}
	return false
}

// Active tells whether a monitor with the one-off end until (nil: none)
// and windows is in maintenance at at. A window with an unknown zone is
// ignored (the api validates zones; a zone removed from the host's
// database must not stop checks).
func Active(at time.Time, until *time.Time, windows []Window) bool {
	if until != nil && at.Before(*until) {
		return true
	}
	for _, w := range windows {
		if ok, err := w.Contains(at); err == nil && ok {
			return true
		}
	}
	return false
}

// FromProto converts the windows a job carries.
func FromProto(ws []*eventsv1.MaintenanceWindow) []Window {
	out := make([]Window, 0, len(ws))
	for _, w := range ws {
		days := make([]int, len(w.GetDaysOfWeek()))
		for i, d := range w.GetDaysOfWeek() {
			days[i] = int(d)
		}
		out = append(out, Window{Days: days, StartMinute: int(w.GetStartMinute()),
			DurationMinutes: int(w.GetDurationMinutes()), TimeZone: w.GetTimeZone()})
	}
	return out
}

// ToProto converts windows for a MonitorSpec.
func ToProto(ws []Window) []*eventsv1.MaintenanceWindow {
	out := make([]*eventsv1.MaintenanceWindow, 0, len(ws))
	for _, w := range ws {
		days := make([]int32, len(w.Days))
		for i, d := range w.Days {
			days[i] = int32(d) //nolint:gosec // 0..6
		}
		out = append(out, &eventsv1.MaintenanceWindow{DaysOfWeek: days,
			StartMinute:     int32(w.StartMinute),     //nolint:gosec // 0..1439
			DurationMinutes: int32(w.DurationMinutes), //nolint:gosec // 1..10080
			TimeZone:        w.TimeZone})
	}
	return out
}
