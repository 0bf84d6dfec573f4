package writer_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/log-writer/internal/store"
	"github.com/servercheck/uptime/services/log-writer/internal/writer"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	m := uuid.New()
	slot := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	cert := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	f32 := func(v float32) *float32 { return &v }
	s := func(v string) *string { return &v }

	tests := []struct {
		name   string
		mutate func(*eventsv1.CheckCompleted)
		want   func(*store.Result)
	}{
		{
			name: "a full result keeps every field, times at microseconds",
			mutate: func(c *eventsv1.CheckCompleted) {
				c.Timings = &eventsv1.Timings{DnsUs: 1500, ConnectUs: 2250, TlsUs: 30125, FirstByteUs: 80500, TotalUs: 120000}
				c.CertificateExpiresAt = timestamppb.New(cert)
				c.Warning = "certificate expires in 20 days"
			},
			want: func(r *store.Result) {
				r.DNSMs, r.ConnectMs, r.TLSMs, r.FirstByteMs = f32(1.5), f32(2.25), f32(30.125), f32(80.5)
				r.CertificateExpiresAt = &cert
				r.Warning = s("certificate expires in 20 days")
			},
		},
		{
			name: "phases that did not happen are NULL",
			mutate: func(c *eventsv1.CheckCompleted) {
				c.ConnectionReused = true
				c.Timings = &eventsv1.Timings{FirstByteUs: 1000, TotalUs: 2000}
			},
			want: func(r *store.Result) {
				r.ConnectionReused = true
				r.FirstByteMs = f32(1)
			},
		},
		{
			name: "a failure with the breaker open counts one attempt",
			mutate: func(c *eventsv1.CheckCompleted) {
				c.Success, c.StatusCode, c.Attempts, c.Error = false, 0, 0, "circuit breaker open: connection refused"
				c.NewStatus, c.StatusChanged = eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, true
			},
			want: func(r *store.Result) {
				r.Success, r.StatusCode, r.Attempts = false, 0, 1
				r.Error = s("circuit breaker open: connection refused")
				r.NewStatus, r.StatusChanged = store.StatusDown, true
			},
		},
		{
			name: "without start and finish the last attempt's total is the duration",
			mutate: func(c *eventsv1.CheckCompleted) {
				c.StartedAt, c.FinishedAt = nil, nil
				c.Timings = &eventsv1.Timings{TotalUs: 42_900}
			},
			want: func(r *store.Result) {
				r.Finished = r.Slot
				r.DurationMs = 42
			},
		},
		{
			name:   "a maintenance result keeps its flag",
			mutate: func(c *eventsv1.CheckCompleted) { c.Maintenance = true },
			want:   func(r *store.Result) { r.Maintenance = true },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &eventsv1.CheckCompleted{
				JobId: events.JobID(m.String(), slot), MonitorId: m.String(), Slot: timestamppb.New(slot),
				StartedAt: timestamppb.New(slot.Add(time.Millisecond)), FinishedAt: timestamppb.New(slot.Add(1250 * time.Millisecond)),
				Success: true, StatusCode: 200, Attempts: 2, NewStatus: eventsv1.MonitorStatus_MONITOR_STATUS_UP, Checker: "c1",
			}
			tt.mutate(c)
			want := store.Result{
				MonitorID: m, Slot: slot.Truncate(time.Microsecond), Finished: slot.Add(1250 * time.Millisecond).Truncate(time.Microsecond),
				DurationMs: 1249, StatusCode: 200, Attempts: 2, Success: true, NewStatus: store.StatusUp, Checker: "c1",
			}
			tt.want(&want)
			got, err := writer.Decode(encode(t, c))
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func encode(t *testing.T, c *eventsv1.CheckCompleted) []byte {
	t.Helper()
	env, err := events.New("checker/test", c)
	require.NoError(t, err)
	b, err := events.Marshal(env)
	require.NoError(t, err)
	return b
}

func TestDecodeRefusesWhatCanNeverBeWritten(t *testing.T) {
	t.Parallel()
	changed, err := events.New("api/test", &eventsv1.MonitorChanged{MonitorId: uuid.NewString()})
	require.NoError(t, err)
	notAResult, err := events.Marshal(changed)
	require.NoError(t, err)
	slot := timestamppb.New(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))

	tests := []struct {
		name    string
		payload []byte
	}{
		{"bytes that are not an envelope", []byte("\xff\xff garbage")},
		{"an envelope of another event", notAResult},
		{"a monitor id that is not a UUID", encode(t, &eventsv1.CheckCompleted{MonitorId: "monitor-1", Slot: slot})},
		{"a result without slot", encode(t, &eventsv1.CheckCompleted{MonitorId: uuid.NewString()})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := writer.Decode(tt.payload)
			assert.ErrorIs(t, err, writer.ErrMalformed)
		})
	}
}
