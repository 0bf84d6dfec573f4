package schedule_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

const minute = time.Minute

type fixture struct {
	rdb   *redis.Client
	ks    stream.Keyspace
	sched *schedule.Schedule
	keys  schedule.Keys
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	rdb, ks := testenv.Redis(t)
	s := schedule.New(rdb, ks, schedule.Options{Producer: "scheduler/test"})
	return fixture{rdb: rdb, ks: ks, sched: s, keys: s.Keys()}
}

// spec returns an active HTTP monitor checked every freq.
func spec(id string, freq time.Duration, updatedAt time.Time) *eventsv1.MonitorSpec {
	return &eventsv1.MonitorSpec{
		Id: id, UserId: "u1", Name: "shop", Url: "https://shop.example/" + id,
		FrequencySeconds: int32(freq / time.Second), IsActive: true,
		Type:             eventsv1.MonitorType_MONITOR_TYPE_HTTP,
		Request:          &eventsv1.HTTPRequest{Method: "GET", FollowRedirects: true},
		FailureThreshold: 1, SuccessThreshold: 1,
		UpdatedAt: timestamppb.New(updatedAt),
	}
}

// nowMs reads the Redis clock, the one the scripts use.
func (f fixture) nowMs(t testing.TB) int64 {
	t.Helper()
	now, err := f.rdb.Time(context.Background()).Result()
	require.NoError(t, err)
	return now.UnixMilli()
}

func (f fixture) upsert(t testing.TB, s *eventsv1.MonitorSpec) {
	t.Helper()
	ok, err := f.sched.Upsert(context.Background(), s)
	require.NoError(t, err)
	require.True(t, ok, "spec of %s applied", s.GetId())
}

func (f fixture) setDue(t testing.TB, id string, ms int64) {
	t.Helper()
	require.NoError(t, f.rdb.ZAdd(context.Background(), f.keys.Due, redis.Z{Score: float64(ms), Member: id}).Err())
}

func (f fixture) due(t testing.TB, id string) (int64, bool) {
	t.Helper()
	v, err := f.rdb.ZScore(context.Background(), f.keys.Due, id).Result()
	if err == redis.Nil { //nolint:errorlint // go-redis returns the sentinel itself
		return 0, false
	}
	require.NoError(t, err)
	return int64(v), true
}

// job is one entry of the jobs stream, decoded as the checker does.
type job struct {
	monitorID string
	slot      int64
	lease     int64
	jobID     string
	entryMs   int64
	req       *eventsv1.CheckRequested
}

func (f fixture) jobs(t testing.TB) []job {
	t.Helper()
	xs, err := f.rdb.XRange(context.Background(), f.keys.Jobs, "-", "+").Result()
	require.NoError(t, err)
	out := make([]job, 0, len(xs))
	for _, x := range xs {
		env, err := events.Unmarshal([]byte(x.Values["d"].(string)))
		require.NoError(t, err)
		req := env.GetCheckRequested()
		require.NotNil(t, req)
		var j job
		j.req = req
		j.monitorID = req.GetMonitorId()
		j.slot = parseInt(t, x.Values["s"])
		j.lease = parseInt(t, x.Values["l"])
		j.jobID = events.JobID(j.monitorID, time.UnixMilli(j.slot))
		var seq int64
		_, err = fmt.Sscanf(x.ID, "%d-%d", &j.entryMs, &seq)
		require.NoError(t, err)
		out = append(out, j)
	}
	return out
}

func newIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	return ids
}

func parseInt(t testing.TB, v any) int64 {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "field is %T", v)
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}
