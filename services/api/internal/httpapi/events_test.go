package httpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// openEvents connects to GET /api/v1/events and returns a channel of the
// data lines received.
func (h *harness) openEvents(token string) <-chan string {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/api/v1/events", nil)
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // the reader goroutine below closes it
	require.NoError(h.t, err)
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	require.Equal(h.t, "text/event-stream", resp.Header.Get("Content-Type"))
	lines := make(chan string, 16)
	connected := make(chan struct{})
	go func() {
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == ": connected" {
				close(connected)
			}
			if strings.HasPrefix(line, "data: ") {
				lines <- strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	<-connected
	return lines
}

func (h *harness) publishStatusChange(monitorID string) {
	h.t.Helper()
	env, err := events.New("test", &eventsv1.MonitorStatusChanged{
		MonitorId: monitorID, From: eventsv1.MonitorStatus_MONITOR_STATUS_UP, To: eventsv1.MonitorStatus_MONITOR_STATUS_DOWN,
		At: timestamppb.Now(), Cause: "HTTP 503",
	})
	require.NoError(h.t, err)
	b, err := events.Marshal(env)
	require.NoError(h.t, err)
	_, err = stream.NewPublisher(h.rdb, h.ks, stream.DefaultMaxLen()).Publish(h.t.Context(), stream.Events, b)
	require.NoError(h.t, err)
}

func TestEventsStreamTheCallersStatusChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	aliceID, alice := h.user("alice@example.com", store.RoleUser)
	bobID, _ := h.user("bob@example.com", store.RoleUser)
	_, admin := h.user(adminEmail, store.RoleAdmin)
	alices, bobs := h.monitor(aliceID, "A", "https://example.com"), h.monitor(bobID, "B", "https://example.com")

	aliceLines, adminLines := h.openEvents(alice), h.openEvents(admin)
	// The hub follows the stream from its end: wait until both are subscribed.
	require.Eventually(t, func() bool {
		h.publishStatusChange(bobs)
		select {
		case <-adminLines:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, 10*time.Second, 10*time.Millisecond)
	h.publishStatusChange(alices)

	got := <-aliceLines
	assert.Contains(t, got, `"monitorId":"`+alices+`"`)
	assert.Contains(t, got, `"to":"DOWN"`)
	assert.Contains(t, got, `"from":"UP"`)
	for {
		select {
		case more := <-aliceLines:
			assert.NotContains(t, more, bobs, "alice never sees bob's monitors")
			continue
		case <-time.After(300 * time.Millisecond):
		}
		break
	}
	seenAlices := false
	for !seenAlices {
		select {
		case line := <-adminLines:
			seenAlices = strings.Contains(line, alices)
		case <-time.After(5 * time.Second):
			t.Fatal("the ADMIN did not receive alice's event")
		}
	}
}

func TestEventsNeedAToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, _ := h.do(http.MethodGet, "/api/v1/events", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
}
