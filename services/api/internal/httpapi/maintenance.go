package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/servercheck/uptime/pkg/maintenance"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// maxMaintenanceWindows bounds the recurring windows of one monitor.
const maxMaintenanceWindows = 20

// maintenanceFields reads maintenanceUntil (an RFC 3339 instant, or null to
// end a one-off maintenance) and maintenanceWindows (the whole list, which
// replaces the stored one; null or [] removes them) into fields.
func maintenanceFields(b *body, fields map[string]any) {
	if raw, ok := b.raw["maintenanceUntil"]; ok {
		if string(raw) == "null" {
			fields["maintenance_until"] = nil
		} else {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				b.fail("maintenanceUntil must be an ISO 8601 date-time string or null")
			} else if t, err := time.Parse(time.RFC3339Nano, s); err != nil {
				b.fail("maintenanceUntil must be an ISO 8601 date-time with a time zone, e.g. 2026-12-24T18:00:00Z")
			} else {
				fields["maintenance_until"] = t.UTC()
			}
		}
	}
	raw, ok := b.raw["maintenanceWindows"]
	if !ok {
		return
	}
	windows := []store.MaintenanceWindow{}
	if string(raw) != "null" {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			b.fail("maintenanceWindows must be an array")
			return
		}
		if len(items) > maxMaintenanceWindows {
			b.fail("maintenanceWindows must hold at most %d windows", maxMaintenanceWindows)
			return
		}
		for i, item := range items {
			w, ok := parseWindow(b, fmt.Sprintf("maintenanceWindows.%d", i), item)
			if ok {
				windows = append(windows, w)
			}
		}
	}
	fields[store.WindowsField] = windows
}

// windowInput is a window as the front end's wizard sends it; enabled
// defaults to true.
type windowInput struct {
	DaysOfWeek      *[]int  `json:"daysOfWeek"`
	StartMinute     *int    `json:"startMinute"`
	DurationMinutes *int    `json:"durationMinutes"`
	Timezone        *string `json:"timezone"`
	Enabled         *bool   `json:"enabled"`
}

func parseWindow(b *body, prefix string, raw json.RawMessage) (store.MaintenanceWindow, bool) {
	var in windowInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		b.fail("%s must be an object with daysOfWeek, startMinute, durationMinutes, timezone and enabled (%s)", prefix, err.Error())
		return store.MaintenanceWindow{}, false
	}
	missing := false
	for name, present := range map[string]bool{"daysOfWeek": in.DaysOfWeek != nil, "startMinute": in.StartMinute != nil, "durationMinutes": in.DurationMinutes != nil} {
		if !present {
			b.fail("%s.%s is required", prefix, name)
			missing = true
		}
	}
	if missing {
		return store.MaintenanceWindow{}, false
	}
	w := store.MaintenanceWindow{
		Window:  maintenance.Window{Days: *in.DaysOfWeek, StartMinute: *in.StartMinute, DurationMinutes: *in.DurationMinutes, TimeZone: "UTC"},
		Enabled: true,
	}
	if in.Timezone != nil {
		w.TimeZone = *in.Timezone
	}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
	errs := w.Validate(prefix)
	for _, err := range errs {
		b.fail("%s", err.Error())
	}
	return w, len(errs) == 0
}
