package dispatch_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/scheduler/internal/dispatch"
)

// recordingSchedule records what the handler asked of the schedule.
type recordingSchedule struct {
	upserts []*eventsv1.MonitorSpec
	removes []string
	stale   bool
}

func (s *recordingSchedule) Upsert(_ context.Context, spec *eventsv1.MonitorSpec) (bool, error) {
	s.upserts = append(s.upserts, spec)
	return !s.stale, nil
}

func (s *recordingSchedule) Remove(_ context.Context, id string) error {
	s.removes = append(s.removes, id)
	return nil
}

func changeMsg(t *testing.T, kind eventsv1.ChangeKind, spec *eventsv1.MonitorSpec) stream.Message {
	t.Helper()
	env, err := events.New("api/test", &eventsv1.MonitorChanged{MonitorId: "m1", Kind: kind, UserId: "u1", Monitor: spec})
	require.NoError(t, err)
	b, err := events.Marshal(env)
	require.NoError(t, err)
	return stream.Message{ID: "1-0", Stream: stream.Monitors, Payload: b, Deliveries: 1}
}

func activeSpec() *eventsv1.MonitorSpec {
	return &eventsv1.MonitorSpec{Id: "m1", FrequencySeconds: 60, IsActive: true, Url: "https://a.example"}
}

func TestChangeHandlerAppliesEachKindOfChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		kind        eventsv1.ChangeKind
		spec        *eventsv1.MonitorSpec
		wantUpsert  bool
		wantActive  bool
		wantRemoved bool
	}{
		{"a created monitor is scheduled", eventsv1.ChangeKind_CHANGE_KIND_CREATED, activeSpec(), true, true, false},
		{"an updated monitor is rescheduled", eventsv1.ChangeKind_CHANGE_KIND_UPDATED, activeSpec(), true, true, false},
		{"a resumed monitor is scheduled again", eventsv1.ChangeKind_CHANGE_KIND_RESUMED, activeSpec(), true, true, false},
		{"a paused monitor is removed with its version", eventsv1.ChangeKind_CHANGE_KIND_PAUSED, activeSpec(), true, false, false},
		{"a paused monitor without spec is removed", eventsv1.ChangeKind_CHANGE_KIND_PAUSED, nil, false, false, true},
		{"a deleted monitor is removed", eventsv1.ChangeKind_CHANGE_KIND_DELETED, nil, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sched := &recordingSchedule{}
			h := dispatch.NewChangeHandler(sched, dispatch.NewMetrics(prometheus.NewRegistry()), testenv.Discard())

			require.NoError(t, h.Handle(t.Context(), changeMsg(t, tc.kind, tc.spec)))

			if tc.wantUpsert {
				require.Len(t, sched.upserts, 1)
				assert.Equal(t, "m1", sched.upserts[0].GetId())
				assert.Equal(t, tc.wantActive, sched.upserts[0].GetIsActive())
			} else {
				assert.Empty(t, sched.upserts)
			}
			if tc.wantRemoved {
				assert.Equal(t, []string{"m1"}, sched.removes)
			} else {
				assert.Empty(t, sched.removes)
			}
		})
	}
}

func TestChangeHandlerCountsStaleChanges(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := dispatch.NewChangeHandler(&recordingSchedule{stale: true}, dispatch.NewMetrics(reg), testenv.Discard())
	require.NoError(t, h.Handle(t.Context(), changeMsg(t, eventsv1.ChangeKind_CHANGE_KIND_UPDATED, activeSpec())),
		"a stale change is handled (and acked), not retried")
	assert.InDelta(t, 1, metric(t, reg, "uptime_scheduler_monitor_changes_total", "outcome", "stale"), 0)
}

func TestChangeHandlerRefusesWhatItCannotApply(t *testing.T) {
	t.Parallel()
	other := activeSpec()
	other.Id = "m2"
	tests := []struct {
		name string
		msg  stream.Message
	}{
		{"bytes that are no envelope", stream.Message{ID: "1-0", Payload: []byte("not protobuf")}},
		{"an envelope of another event", func() stream.Message {
			env, err := events.New("x/y", &eventsv1.CheckRequested{MonitorId: "m1"})
			require.NoError(t, err)
			b, err := events.Marshal(env)
			require.NoError(t, err)
			return stream.Message{ID: "1-0", Payload: b}
		}()},
		{"a create without spec", changeMsg(t, eventsv1.ChangeKind_CHANGE_KIND_CREATED, nil)},
		{"a spec of another monitor", changeMsg(t, eventsv1.ChangeKind_CHANGE_KIND_UPDATED, other)},
		{"an unknown kind", changeMsg(t, eventsv1.ChangeKind_CHANGE_KIND_UNSPECIFIED, activeSpec())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sched := &recordingSchedule{}
			h := dispatch.NewChangeHandler(sched, dispatch.NewMetrics(prometheus.NewRegistry()), testenv.Discard())
			err := h.Handle(t.Context(), tc.msg)
			require.ErrorIs(t, err, dispatch.ErrBadChange, "left pending, then dead-lettered by the stream library")
			assert.Empty(t, sched.upserts)
			assert.Empty(t, sched.removes)
		})
	}
}
