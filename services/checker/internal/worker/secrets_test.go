package worker_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/servercheck/uptime/pkg/secretbox"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/worker"
)

// recorder is a loopback target that keeps what it was sent.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	method string
	header http.Header
	body   string
}

func (r *recorder) serve(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, recorded{method: req.Method, header: req.Header.Clone(), body: string(body)})
		r.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

var secrets = &eventsv1.MonitorSecrets{
	Headers: []*eventsv1.Header{{Name: "Authorization", Value: "Bearer s3cret"}, {Name: "X-Api-Key", Value: "k3y-0f-the-api"}},
	Body:    []byte(`{"token":"b0dy-s3cret"}`),
}

var clearSecrets = []string{"s3cret", "k3y-0f-the-api"}

// seal seals the test secrets as the api does: bound to the monitor's URL.
func seal(t *testing.T, box *secretbox.Box, url string) []byte {
	t.Helper()
	plain, err := proto.Marshal(secrets)
	require.NoError(t, err)
	sealed, err := box.Seal(plain, []byte(url))
	require.NoError(t, err)
	return sealed
}

// rawStream is every byte of every entry of stream s.
func (f fixture) rawStream(t *testing.T, s string) string {
	t.Helper()
	xs, err := f.rdb.XRange(t.Context(), f.ks.Key(s), "-", "+").Result()
	require.NoError(t, err)
	var all []byte
	for _, x := range xs {
		for k, v := range x.Values {
			str, _ := v.(string)
			all = append(append(all, k...), str...)
		}
	}
	return string(all)
}

func TestAJobSendsItsSealedHeadersAndBodyInClear(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var rec recorder
	target := rec.serve(t)
	msg := f.jobWith(t, "m-secrets", target.URL, time.Now().Truncate(time.Minute), &eventsv1.HTTPRequest{
		Method: "POST", FollowRedirects: true, MaxResponseBytes: 1 << 20,
		Headers:       []*eventsv1.Header{{Name: "Accept", Value: "application/json"}},
		SealedSecrets: seal(t, f.box, target.URL),
	})
	require.NotContains(t, string(msg.Payload), "s3cret", "the job carries the secrets sealed")

	require.NoError(t, f.w.Handle(t.Context(), msg))

	reqs := rec.all()
	require.Len(t, reqs, 1)
	assert.Equal(t, "POST", reqs[0].method)
	assert.Equal(t, "Bearer s3cret", reqs[0].header.Get("Authorization"))
	assert.Equal(t, "k3y-0f-the-api", reqs[0].header.Get("X-Api-Key"))
	assert.Equal(t, "application/json", reqs[0].header.Get("Accept"), "plain headers are sent too")
	assert.Equal(t, `{"token":"b0dy-s3cret"}`, reqs[0].body)

	results := f.entries(t, stream.Results)
	require.Len(t, results, 1)
	assert.True(t, results[0].GetCheckCompleted().GetSuccess())
	for _, s := range clearSecrets {
		assert.NotContains(t, f.rawStream(t, stream.Results), s, "results")
		assert.NotContains(t, f.rawStream(t, stream.Events), s, "events")
		assert.NotContains(t, f.logs.String(), s, "logs")
	}
}

func TestAJobWhoseSecretsDoNotOpenIsAFailedCheckThatSendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var rec recorder
	target := rec.serve(t)
	cases := []struct {
		name   string
		sealed func(t *testing.T) []byte
	}{
		{"secrets sealed with a key the checker does not hold", func(t *testing.T) []byte {
			return seal(t, secretbox.New(randomKey(t)), target.URL)
		}},
		{"secrets sealed for another URL", func(t *testing.T) []byte {
			return seal(t, f.box, "https://example.com/")
		}},
		{"altered secrets", func(t *testing.T) []byte {
			b := seal(t, f.box, target.URL)
			b[len(b)-1] ^= 1
			return b
		}},
		{"secrets that are not a sealed value", func(t *testing.T) []byte { return []byte("Bearer s3cret") }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			monitorID := "m-undecryptable-" + string(rune('a'+i))
			msg := f.jobWith(t, monitorID, target.URL, time.Now().Truncate(time.Minute), &eventsv1.HTTPRequest{
				Method: "GET", FollowRedirects: true, SealedSecrets: tc.sealed(t),
			})
			require.NoError(t, f.w.Handle(t.Context(), msg), "not an error: the job is not retried")

			var got *eventsv1.CheckCompleted
			for _, e := range f.entries(t, stream.Results) {
				if c := e.GetCheckCompleted(); c.GetMonitorId() == monitorID {
					got = c
				}
			}
			require.NotNil(t, got, "a result is published")
			assert.False(t, got.GetSuccess())
			assert.Equal(t, worker.SecretsError, got.GetError())
			assert.Equal(t, "Monitor secrets cannot be decrypted", got.GetError())
			assert.Equal(t, eventsv1.MonitorStatus_MONITOR_STATUS_DOWN, got.GetNewStatus())
		})
	}
	assert.Empty(t, rec.all(), "no request is sent without its secrets")
	assert.Zero(t, f.pendingJobs(t), "every job is acked with its failed result")
	logs := f.logs.String()
	assert.Contains(t, logs, "level=WARN msg=monitor_secrets_not_opened")
	for _, s := range clearSecrets {
		assert.NotContains(t, logs, s)
	}
}
