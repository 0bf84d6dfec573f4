package worker_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

func TestChecksInMaintenanceAreStoredButChangeNoStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(target.Close)
	slot := time.Now().Truncate(time.Minute)
	job := func(path string, until *time.Time, windows ...*eventsv1.MaintenanceWindow) *eventsv1.CheckRequested {
		j := &eventsv1.CheckRequested{
			MonitorId: "m-maint", Url: target.URL + path, Type: eventsv1.MonitorType_MONITOR_TYPE_HTTP, TimeoutMs: 2000,
			FailureThreshold: 1, SuccessThreshold: 1, MaintenanceWindows: windows,
			Request: &eventsv1.HTTPRequest{Method: "GET", MaxResponseBytes: 1 << 20},
		}
		if until != nil {
			j.MaintenanceUntil = timestamppb.New(*until)
		}
		return j
	}
	later := slot.Add(3 * time.Minute)
	// A window around every slot of the test, in another zone, every day.
	allDay := &eventsv1.MaintenanceWindow{DaysOfWeek: []int32{0, 1, 2, 3, 4, 5, 6}, StartMinute: 0, DurationMinutes: 1440, TimeZone: "Asia/Tokyo"}

	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job("/up", nil), slot)))
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job("/down", &later), slot.Add(time.Minute))))
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job("/down", nil, allDay), slot.Add(2*time.Minute))))
	require.NoError(t, f.w.Handle(t.Context(), f.jobOf(t, job("/down", &later), slot.Add(3*time.Minute))), "the one-off end is exclusive")

	results := f.entries(t, stream.Results)
	require.Len(t, results, 4, "checks in maintenance still run and are stored")
	for i, want := range []struct {
		maintenance bool
		success     bool
		status      eventsv1.MonitorStatus
	}{
		{false, true, eventsv1.MonitorStatus_MONITOR_STATUS_UP},
		{true, false, eventsv1.MonitorStatus_MONITOR_STATUS_UP},
		{true, false, eventsv1.MonitorStatus_MONITOR_STATUS_UP},
		{false, false, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN},
	} {
		r := results[i].GetCheckCompleted()
		assert.Equal(t, want.maintenance, r.GetMaintenance(), "result %d maintenance", i)
		assert.Equal(t, want.success, r.GetSuccess(), "result %d success", i)
		assert.Equal(t, want.status, r.GetNewStatus(), "result %d status", i)
	}
	changes := f.entries(t, stream.Events)
	require.Len(t, changes, 2, "PENDING->UP, then UP->DOWN only after the maintenance")
	assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, changes[1].GetMonitorStatusChanged().GetTo())
}
