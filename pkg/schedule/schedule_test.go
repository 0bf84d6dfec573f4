package schedule_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

func TestUpsertPutsANewMonitorOnItsFirstPhaseSpreadSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	s := spec(id, minute, time.Now())
	s.Request.TimeoutMs = 0
	s.SslAlertBeforeDays = 14
	s.FailureThreshold = 3

	before := f.nowMs(t)
	f.upsert(t, s)
	after := f.nowMs(t)

	due, ok := f.due(t, id)
	require.True(t, ok)
	assert.Contains(t, []int64{schedule.FirstSlot(id, minute, before), schedule.FirstSlot(id, minute, after)}, due)
	assert.GreaterOrEqual(t, due, before)
	assert.Less(t, due, after+60_000)

	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, minute, e.Frequency)
	require.NotNil(t, e.Job)
	assert.Equal(t, id, e.Job.GetMonitorId())
	assert.Equal(t, s.GetUrl(), e.Job.GetUrl())
	assert.Equal(t, eventsv1.MonitorType_MONITOR_TYPE_HTTP, e.Job.GetType())
	assert.EqualValues(t, schedule.DefaultTimeoutMs, e.Job.GetTimeoutMs(), "no request timeout means 10 s")
	assert.EqualValues(t, 14, e.Job.GetSslAlertBeforeDays())
	assert.EqualValues(t, 3, e.Job.GetFailureThreshold())
	assert.Empty(t, e.Job.GetJobId(), "the template leaves the per-slot fields to the claim script")
	assert.Nil(t, e.Job.GetSlot())
	assert.Nil(t, e.Job.GetLeaseDeadline())
}

func TestUpsertCopiesEveryFieldAJobNeeds(t *testing.T) {
	t.Parallel()
	s := &eventsv1.MonitorSpec{
		Id: "m1", Url: "https://a.example", FrequencySeconds: 300, IsActive: true,
		Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT,
		Request: &eventsv1.HTTPRequest{
			Method: "POST", TimeoutMs: 2500, Headers: []*eventsv1.Header{{Name: "A", Value: "1"}},
			SealedSecrets: []byte{1, 2},
		},
		FailureThreshold: 2, SuccessThreshold: 4, SslAlertBeforeDays: 7,
		HeartbeatIntervalSeconds: 600, HeartbeatGraceSeconds: 30,
	}
	job, err := schedule.Job(s)
	require.NoError(t, err)
	assert.Equal(t, "m1", job.GetMonitorId())
	assert.Equal(t, eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT, job.GetType())
	assert.EqualValues(t, 2500, job.GetTimeoutMs(), "the request's timeout wins")
	assert.Equal(t, "POST", job.GetRequest().GetMethod())
	assert.Equal(t, []byte{1, 2}, job.GetRequest().GetSealedSecrets())
	assert.EqualValues(t, 2, job.GetFailureThreshold())
	assert.EqualValues(t, 4, job.GetSuccessThreshold())
	assert.EqualValues(t, 7, job.GetSslAlertBeforeDays())
	assert.EqualValues(t, 600, job.GetHeartbeatIntervalSeconds())
	assert.EqualValues(t, 30, job.GetHeartbeatGraceSeconds())

	s.Request.Method = "PUT"
	assert.Equal(t, "POST", job.GetRequest().GetMethod(), "the job holds a copy of the request")
}

func TestUpsertKeepsThePhaseWhenTheFrequencyIsUnchanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	v1 := time.Now()
	f.upsert(t, spec(id, minute, v1))
	// Pretend the monitor already advanced a few slots.
	first, _ := f.due(t, id)
	f.setDue(t, id, first+3*60_000)

	updated := spec(id, minute, v1.Add(time.Second))
	updated.Url = "https://other.example"
	f.upsert(t, updated)

	due, _ := f.due(t, id)
	assert.Equal(t, first+3*60_000, due, "an update with the same frequency keeps the next slot")
	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "https://other.example", e.Job.GetUrl(), "the template is replaced")
}

func TestUpsertMovesTheSlotWhenTheFrequencyChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	v1 := time.Now()
	f.upsert(t, spec(id, time.Hour, v1))
	// A job of the hourly schedule is in flight, leased for an hour.
	require.NoError(t, f.rdb.ZAdd(t.Context(), f.keys.Inflight, redis.Z{Score: float64(f.nowMs(t) + 3_600_000), Member: id}).Err())

	before := f.nowMs(t)
	f.upsert(t, spec(id, minute, v1.Add(time.Second)))
	after := f.nowMs(t)

	due, _ := f.due(t, id)
	assert.Contains(t, []int64{schedule.FirstSlot(id, minute, before), schedule.FirstSlot(id, minute, after)}, due,
		"the next slot is on the new period's grid, within one new period")
	lease, err := f.rdb.ZScore(t.Context(), f.keys.Inflight, id).Result()
	require.NoError(t, err)
	assert.Equal(t, float64(due), lease, "the old period's lease is cut to the new first slot, so it runs")
	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, minute, e.Frequency)
}

func TestUpsertIgnoresASpecOlderThanTheOneApplied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	v1 := time.Now()
	newer := spec(id, minute, v1.Add(time.Second))
	newer.Url = "https://new.example"
	f.upsert(t, newer)

	older := spec(id, time.Hour, v1)
	ok, err := f.sched.Upsert(t.Context(), older)
	require.NoError(t, err)
	assert.False(t, ok, "a late copy of an older update is stale")
	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "https://new.example", e.Job.GetUrl())
	assert.Equal(t, minute, e.Frequency)

	ok, err = f.sched.Upsert(t.Context(), newer)
	require.NoError(t, err)
	assert.True(t, ok, "the same spec again is applied (idempotent)")
}

func TestRemovingAMonitor(t *testing.T) {
	t.Parallel()
	v1 := time.Now()
	tests := []struct {
		name   string
		remove func(t *testing.T, f fixture, id string)
	}{
		{"delete drops due, template, frequency and lease", func(t *testing.T, f fixture, id string) {
			require.NoError(t, f.sched.Remove(t.Context(), id))
		}},
		{"an inactive spec drops it too", func(t *testing.T, f fixture, id string) {
			paused := spec(id, minute, v1.Add(time.Second))
			paused.IsActive = false
			ok, err := f.sched.Upsert(t.Context(), paused)
			require.NoError(t, err)
			assert.True(t, ok)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			id := newIDs(1)[0]
			f.upsert(t, spec(id, minute, v1))
			require.NoError(t, f.rdb.ZAdd(t.Context(), f.keys.Inflight, redis.Z{Score: 1, Member: id}).Err())

			tc.remove(t, f, id)

			_, ok := f.due(t, id)
			assert.False(t, ok)
			_, err := f.sched.Get(t.Context(), id)
			require.ErrorIs(t, err, schedule.ErrNotScheduled)
			n, err := f.rdb.ZCard(t.Context(), f.keys.Inflight).Result()
			require.NoError(t, err)
			assert.Zero(t, n, "the lease is released")

			ok, err = f.sched.Upsert(t.Context(), spec(id, minute, v1))
			require.NoError(t, err)
			assert.False(t, ok, "a late copy of the create cannot bring the monitor back")
		})
	}
}

func TestAPausedMonitorComesBackWhenResumed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	v1 := time.Now()
	f.upsert(t, spec(id, minute, v1))
	paused := spec(id, minute, v1.Add(time.Second))
	paused.IsActive = false
	f.upsert(t, paused)

	stalePause := spec(id, minute, v1)
	stalePause.IsActive = false
	f.upsert(t, spec(id, minute, v1.Add(2*time.Second))) // resumed
	ok, err := f.sched.Upsert(t.Context(), stalePause)
	require.NoError(t, err)
	assert.False(t, ok, "an older pause does not undo the resume")
	_, scheduled := f.due(t, id)
	assert.True(t, scheduled)
}

func TestUpsertRefusesAnUnusableSpec(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, s := range map[string]*eventsv1.MonitorSpec{
		"no spec":        nil,
		"no id":          {FrequencySeconds: 60, IsActive: true},
		"zero frequency": {Id: "m1", IsActive: true},
	} {
		_, err := f.sched.Upsert(t.Context(), s)
		assert.ErrorIs(t, err, schedule.ErrInvalidSpec, name)
	}
	assert.ErrorIs(t, f.sched.Remove(t.Context(), ""), schedule.ErrInvalidSpec)
}

func TestUpsertWithoutVersionAlwaysApplies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := newIDs(1)[0]
	f.upsert(t, spec(id, minute, time.Now()))
	unversioned := spec(id, minute, time.Now())
	unversioned.UpdatedAt = nil
	unversioned.Url = "https://unversioned.example"
	f.upsert(t, unversioned)
	e, err := f.sched.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "https://unversioned.example", e.Job.GetUrl())
}
