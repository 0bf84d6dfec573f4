package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
	"github.com/servercheck/uptime/proto-events/events"
)

// target is a loopback server whose /flappy path fails on demand and whose
// /slow path answers after a delay.
type target struct {
	*httptest.Server
	failing atomic.Bool
}

func newTarget(t *testing.T, slow time.Duration) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/flappy") && tg.failing.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasPrefix(r.URL.Path, "/slow"):
			select {
			case <-time.After(slow):
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(tg.Close)
	return tg
}

// jobsByMonitor reads the jobs stream and returns the slots emitted per
// monitor, failing on a duplicate (monitor, slot).
func (s *system) jobsByMonitor() map[string][]int64 {
	s.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.redisAddr})
	defer func() { _ = rdb.Close() }()
	xs, err := rdb.XRange(context.Background(), "{"+s.env["REDIS_KEY_PREFIX"]+"}:jobs", "-", "+").Result()
	require.NoError(s.t, err)
	out := map[string][]int64{}
	seen := map[string]bool{}
	for _, x := range xs {
		d, _ := x.Values["d"].(string)
		env, err := events.Unmarshal([]byte(d))
		require.NoError(s.t, err)
		id := env.GetCheckRequested().GetMonitorId()
		slot, err := strconv.ParseInt(x.Values["s"].(string), 10, 64)
		require.NoError(s.t, err)
		key := id + "@" + strconv.FormatInt(slot, 10)
		assert.False(s.t, seen[key], "slot %s emitted twice", key)
		seen[key] = true
		out[id] = append(out[id], slot)
	}
	return out
}

type monitor struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (s *system) createMonitor(token, name, url string) monitor {
	s.t.Helper()
	var m monitor
	code := s.call(http.MethodPost, "/uptime", token, map[string]any{"name": name, "url": url, "frequency": 60}, &m)
	require.Equal(s.t, http.StatusCreated, code)
	return m
}

func (s *system) status(token, id string) string {
	s.t.Helper()
	var m monitor
	require.Equal(s.t, http.StatusOK, s.call(http.MethodGet, "/uptime/"+id, token, nil, &m))
	return m.Status
}

// startPipeline starts the api, two schedulers, a checker, a log-writer
// and a notifier delivering to the system's SMTP server.
func (s *system) startPipeline(logWriterEnv map[string]string) {
	s.t.Helper()
	apiPort, _ := strconv.Atoi(s.env["PORT"])
	s.start("api", "api", apiPort, nil)
	for _, name := range []string{"scheduler-1", "scheduler-2"} {
		p := testenv.FreePort(s.t)
		s.start(name, "scheduler", p, map[string]string{"SCHEDULER_HTTP_PORT": strconv.Itoa(p)})
	}
	p := testenv.FreePort(s.t)
	s.start("checker-1", "checker", p, map[string]string{"CHECKER_HTTP_PORT": strconv.Itoa(p)})
	p = testenv.FreePort(s.t)
	lw := map[string]string{"LOG_WRITER_HTTP_PORT": strconv.Itoa(p), "FLUSH_INTERVAL_MS": "1000"}
	for k, v := range logWriterEnv {
		lw[k] = v
	}
	s.start("log-writer-1", "log-writer", p, lw)
	p = testenv.FreePort(s.t)
	s.start("notifier-1", "notifier", p, map[string]string{
		"NOTIFIER_HTTP_PORT": strconv.Itoa(p),
		"SMTP_HOST":          s.mail.Host, "SMTP_PORT": strconv.Itoa(s.mail.Port), "SMTP_TLS": "none",
		"SMTP_FROM_EMAIL": "alerts@servercheck.e2e",
	})
}

// TestMonitorsFollowTheirTargets is the end-to-end scenario with
// the real binaries: first check within one period, DOWN and an incident
// when the target fails, UP and a resolved incident when it recovers, no
// more checks after a delete, the new frequency from the next slot, two
// schedulers emitting each slot once and every emitted slot persisted
// exactly once.
func TestMonitorsFollowTheirTargets(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, 0)
	s := newSystem(t, nil)
	s.startPipeline(nil)
	tok := s.token("e2e@example.com", "USER")

	created := time.Now()
	steady := s.createMonitor(tok, "steady", tg.URL+"/ok")
	flappy := s.createMonitor(tok, "flappy", tg.URL+"/flappy")
	doomed := s.createMonitor(tok, "doomed", tg.URL+"/ok")
	retimed := s.createMonitor(tok, "retimed", tg.URL+"/ok")
	all := []monitor{steady, flappy, doomed, retimed}

	waitFor(t, 80*time.Second, "the first check of every monitor", func() bool {
		for _, m := range all {
			if s.count(`SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, m.ID) == 0 {
				return false
			}
		}
		return true
	})
	for _, m := range all {
		var slot time.Time
		require.NoError(t, s.db.QueryRow(context.Background(), `SELECT min(slot) FROM ping_logs WHERE monitor_id = $1`, m.ID).Scan(&slot))
		assert.WithinDuration(t, created, slot, 61*time.Second, "first slot of %s within one period", m.ID)
		assert.Equal(t, "UP", s.status(tok, m.ID))
	}

	// Delete one monitor and slow another down.
	require.Equal(t, http.StatusOK, s.call(http.MethodDelete, "/uptime/"+doomed.ID, tok, nil, nil))
	deletedAt := time.Now()
	require.Equal(t, http.StatusOK, s.call(http.MethodPatch, "/uptime/"+retimed.ID, tok, map[string]any{"frequency": 120}, nil))
	retimedAt := time.Now()

	// The target fails: DOWN and one ongoing incident.
	tg.failing.Store(true)
	waitFor(t, 80*time.Second, "flappy DOWN", func() bool { return s.status(tok, flappy.ID) == "DOWN" })
	waitFor(t, 10*time.Second, "an ongoing incident", func() bool {
		return s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, flappy.ID) == 1
	})
	// The owner gets one email saying so.
	down := s.mail.WaitMails(t, 1, 20*time.Second)
	assert.Equal(t, []string{"e2e@example.com"}, down[0].To)
	assert.Equal(t, "Actualización de estado de uno de tus servidores", down[0].Subject)
	assert.Contains(t, down[0].Text, `El estado de tu servidor "flappy" ha cambiado a: DOWN`)
	assert.Contains(t, down[0].Text, "Unexpected status code: 503")
	assert.Contains(t, down[0].HTML, "CAÍDO")
	var incidents struct {
		TotalIncidents   int `json:"totalIncidents"`
		OngoingIncidents int `json:"ongoingIncidents"`
	}
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/uptime/incidents/"+flappy.ID, tok, nil, &incidents))
	assert.Equal(t, 1, incidents.OngoingIncidents)

	// It recovers: UP and the incident resolved.
	tg.failing.Store(false)
	waitFor(t, 80*time.Second, "flappy UP", func() bool { return s.status(tok, flappy.ID) == "UP" })
	waitFor(t, 10*time.Second, "the incident resolved", func() bool {
		return s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'RESOLVED' AND ended_at IS NOT NULL`, flappy.ID) == 1
	})
	assert.Equal(t, 0, s.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1 AND status = 'ONGOING'`, flappy.ID))
	mails := s.mail.WaitMails(t, 2, 20*time.Second)
	assert.Contains(t, mails[1].Text, `El estado de tu servidor "flappy" ha cambiado a: UP`)
	assert.Contains(t, mails[1].HTML, "OPERATIVO")

	// The retimed monitor's slots after the change are 120 s apart.
	waitFor(t, 250*time.Second, "two slots of the retimed monitor after its change", func() bool {
		n := 0
		for _, slot := range s.jobsByMonitor()[retimed.ID] {
			if time.UnixMilli(slot).After(retimedAt) {
				n++
			}
		}
		return n >= 2
	})
	jobs := s.jobsByMonitor()
	var after []int64
	for _, slot := range jobs[retimed.ID] {
		if time.UnixMilli(slot).After(retimedAt) {
			after = append(after, slot)
		}
	}
	assert.Equal(t, int64(120_000), after[1]-after[0], "the new frequency holds from the next slot")
	for _, slot := range jobs[doomed.ID] {
		assert.False(t, time.UnixMilli(slot).After(deletedAt.Add(time.Second)), "no check after the delete")
	}

	// Exactly the two flips were emailed: no email for the first results
	// from PENDING, none for the steady monitors.
	assert.Len(t, s.mail.Mails(), 2)

	// Stop everything (final flushes) and compare every emitted slot of
	// the remaining monitors with the rows persisted.
	s.stopAll()
	for _, m := range []monitor{steady, flappy, retimed} {
		emitted := jobs[m.ID]
		final := s.jobsByMonitor()[m.ID]
		rows := s.count(`SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, m.ID)
		assert.Equal(t, len(final), rows, "monitor %s: every emitted slot persisted exactly once", m.ID)
		assert.GreaterOrEqual(t, len(final), len(emitted))
	}
}

// TestKilledCheckerAndLogWriterLoseNothing kills a checker with checks in
// flight and a log-writer holding a full buffer: every emitted slot still
// ends up persisted exactly once.
func TestKilledCheckerAndLogWriterLoseNothing(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, 2*time.Second)
	s := newSystem(t, map[string]string{"CHECKER_JOB_MIN_IDLE_MS": "6000", "RESULTS_MIN_IDLE_MS": "6000"})
	// The first log-writer flushes only at 100k rows or every 10 minutes,
	// so it dies holding everything it read.
	s.startPipeline(map[string]string{"FLUSH_INTERVAL_MS": "600000", "FLUSH_SIZE": "100000", "BUFFER_MAX": "100000"})
	p := testenv.FreePort(t)
	s.start("checker-2", "checker", p, map[string]string{"CHECKER_HTTP_PORT": strconv.Itoa(p)})
	tok := s.token("kill@example.com", "USER")
	const n = 120
	for i := range n {
		s.createMonitor(tok, "m"+strconv.Itoa(i), tg.URL+"/slow/"+strconv.Itoa(i))
	}

	// Half-way through the first minute some checks are in flight.
	time.Sleep(25 * time.Second) //nolint:forbidigo // letting the real system run
	s.signal("checker-1", syscall.SIGKILL)
	waitFor(t, 90*time.Second, "a result for every monitor's first slot", func() bool {
		return len(s.jobsByMonitor()) == n && s.resultsLength() >= n
	})
	s.signal("log-writer-1", syscall.SIGKILL)
	assert.Equal(t, 0, s.count(`SELECT count(*) FROM ping_logs`), "the killed log-writer had flushed nothing")

	p = testenv.FreePort(t)
	s.start("log-writer-2", "log-writer", p, map[string]string{"LOG_WRITER_HTTP_PORT": strconv.Itoa(p), "FLUSH_INTERVAL_MS": "500"})
	s.signal("scheduler-1", syscall.SIGTERM)
	s.signal("scheduler-2", syscall.SIGTERM)
	emitted := 0
	for _, slots := range s.jobsByMonitor() {
		emitted += len(slots)
	}
	waitFor(t, 60*time.Second, "every emitted slot persisted", func() bool {
		return s.count(`SELECT count(*) FROM ping_logs`) == emitted
	})
	s.stopAll()
	assert.Equal(t, emitted, s.count(`SELECT count(*) FROM ping_logs`), "exactly once: no loss, no duplicate")
}

func (s *system) resultsLength() int64 {
	s.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.redisAddr})
	defer func() { _ = rdb.Close() }()
	n, err := rdb.XLen(context.Background(), "{"+s.env["REDIS_KEY_PREFIX"]+"}:results").Result()
	require.NoError(s.t, err)
	return n
}
