// Package worker turns a check job into a probe, a status transition and
// the published result, acknowledging the job in the same transaction.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/maintenance"
	"github.com/servercheck/uptime/pkg/secretbox"
	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/probe"
	"github.com/servercheck/uptime/services/checker/internal/status"
)

// Group is the checkers' consumer group on the jobs stream.
const Group = "checker"

// ErrBadJob marks a job that can never be checked (it is dead-lettered).
var ErrBadJob = errors.New("malformed check job")

// SecretsError is the error of the failed result recorded for a job whose
// sealed secrets do not open (wrong or missing key, altered value): the
// check is not sent without its credentials, and the job is not retried.
const SecretsError = "Monitor secrets cannot be decrypted"

// Prober runs one check.
type Prober interface {
	Check(ctx context.Context, req probe.Request) probe.Result
	CheckSSL(ctx context.Context, req probe.SSLRequest) probe.Result
}

// Worker handles jobs.
type Worker struct {
	prober   Prober
	secrets  *secretbox.Box
	tracker  *status.Tracker
	rdb      redis.UniversalClient
	pub      *stream.Publisher
	ks       stream.Keyspace
	instance string
	logger   *slog.Logger
	now      func() time.Time
	expired  prometheus.Counter
}

// New returns a worker; secrets opens the jobs' sealed headers and body,
// instance names this process in results. Its metrics go to reg (none when
// nil).
func New(prober Prober, tracker *status.Tracker, rdb redis.UniversalClient, pub *stream.Publisher, secrets *secretbox.Box, instance string, reg prometheus.Registerer, logger *slog.Logger) *Worker {
	return &Worker{
		prober: prober, secrets: secrets, tracker: tracker, rdb: rdb, pub: pub, ks: pub.Keyspace(),
		instance: instance, logger: logger.With("component", "check_worker"), now: time.Now,
		expired: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Name: "uptime_checker_jobs_expired_total",
			Help: "Check jobs dropped unchecked because their monitor's next slot had come before a checker started them.",
		}),
	}
}

// Job is a decoded check job.
type Job struct {
	Req      *eventsv1.CheckRequested
	Slot     time.Time
	Deadline time.Time
}

// Decode reads a jobs entry: the template in the payload, the slot and
// lease deadline in the fields the scheduler's script adds.
func Decode(msg stream.Message) (Job, error) {
	env, err := events.Unmarshal(msg.Payload)
	if err != nil {
		return Job{}, fmt.Errorf("%w %s: %w", ErrBadJob, msg.ID, err)
	}
	req := env.GetCheckRequested()
	if req == nil || req.GetMonitorId() == "" {
		return Job{}, fmt.Errorf("%w %s: no CheckRequested with a monitor id", ErrBadJob, msg.ID)
	}
	slotMs, err := strconv.ParseInt(msg.Fields["s"], 10, 64)
	if err != nil {
		// A job published whole (not from a template) carries its slot.
		if req.GetSlot() == nil {
			return Job{}, fmt.Errorf("%w %s: no slot", ErrBadJob, msg.ID)
		}
		slotMs = req.GetSlot().AsTime().UnixMilli()
	}
	slot := time.UnixMilli(slotMs).UTC()
	deadline := slot.Add(time.Minute)
	if l, err := strconv.ParseInt(msg.Fields["l"], 10, 64); err == nil {
		deadline = time.UnixMilli(l).UTC()
	} else if req.GetLeaseDeadline() != nil {
		deadline = req.GetLeaseDeadline().AsTime()
	}
	req.Slot = timestamppb.New(slot)
	req.LeaseDeadline = timestamppb.New(deadline)
	req.JobId = events.JobID(req.GetMonitorId(), slot)
	return Job{Req: req, Slot: slot, Deadline: deadline}, nil
}

// probeRequest is the request of j, with its sealed secrets opened: the
// only place where they are in clear, for the time of the check.
func (w *Worker) probeRequest(j Job) (probe.Request, error) {
	r := j.Req.GetRequest()
	pr := probe.Request{
		MonitorID:       j.Req.GetMonitorId(),
		URL:             j.Req.GetUrl(),
		Method:          "GET",
		Timeout:         time.Duration(j.Req.GetTimeoutMs()) * time.Millisecond,
		Deadline:        j.Deadline,
		FollowRedirects: true,
		AlertBeforeDays: int(j.Req.GetSslAlertBeforeDays()),
	}
	if r == nil {
		return pr, nil
	}
	if r.GetMethod() != "" {
		pr.Method = r.GetMethod()
	}
	if len(r.GetHeaders()) > 0 {
		pr.Headers = map[string]string{}
		for _, h := range r.GetHeaders() {
			pr.Headers[h.GetName()] = h.GetValue()
		}
	}
	pr.Body = r.GetBody()
	for _, c := range r.GetExpectedStatusCodes() {
		pr.ExpectedStatusCodes = append(pr.ExpectedStatusCodes, int(c))
	}
	pr.ExpectedText = r.GetExpectedText()
	pr.ExpectedJSONPath = r.GetExpectedJsonPath()
	pr.ExpectedJSONValue = r.GetExpectedJsonValue()
	pr.HasExpectedJSONValue = r.GetExpectedJsonValue() != ""
	pr.MaxResponseBytes = r.GetMaxResponseBytes()
	pr.FollowRedirects = r.GetFollowRedirects()
	if r.GetTimeoutMs() > 0 {
		pr.Timeout = time.Duration(r.GetTimeoutMs()) * time.Millisecond
	}
	if sealed := r.GetSealedSecrets(); len(sealed) > 0 {
		// The api binds the seal to the monitor's URL.
		plain, err := w.secrets.Open(sealed, []byte(j.Req.GetUrl()))
		if err != nil {
			return probe.Request{}, fmt.Errorf("open secrets of %s: %w", j.Req.GetJobId(), err)
		}
		var secrets eventsv1.MonitorSecrets
		if err := proto.Unmarshal(plain, &secrets); err != nil {
			return probe.Request{}, fmt.Errorf("decode secrets of %s: %w", j.Req.GetJobId(), err)
		}
		if len(secrets.GetHeaders()) > 0 && pr.Headers == nil {
			pr.Headers = make(map[string]string, len(secrets.GetHeaders()))
		}
		for _, h := range secrets.GetHeaders() {
			pr.Headers[h.GetName()] = h.GetValue()
		}
		if len(secrets.GetBody()) > 0 {
			pr.Body = secrets.GetBody()
		}
	}
	return pr, nil
}

var statuses = map[string]eventsv1.MonitorStatus{
	status.Pending: eventsv1.MonitorStatus_MONITOR_STATUS_PENDING,
	status.Up:      eventsv1.MonitorStatus_MONITOR_STATUS_UP,
	status.Down:    eventsv1.MonitorStatus_MONITOR_STATUS_DOWN,
}

// publishScript is the one atomic step after a check: append the result,
// append the status change unless this slot's change was already
// published (a job handled twice emits it once), ack the job and release
// the monitor's in-flight lease if it is still this job's.
//
// It also keeps the certificate alert (ssl.go): field certalert of the
// state hash marks that the current crossing into the alert period was
// published. "set" appends the CertificateExpiring event only when the mark
// is absent, "clear" removes it (renewed out of the period); a result older
// than the slot last applied does neither.
//
// KEYS: 1 results, 2 events, 3 jobs, 4 in-flight set, 5 monitor state.
// ARGV: 1 result body, 2 event body or "", 3 group, 4 job entry id,
// 5 monitor id, 6 slot ms, 7 results MAXLEN, 8 events MAXLEN, 9 lease ms,
// 10 certificate event body or "", 11 certificate action set|clear|"",
// 12 certificate mark.
var publishScript = redis.NewScript(`
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*', 'd', ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[5], 'emitted') ~= ARGV[6] then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'd', ARGV[2])
  redis.call('HSET', KEYS[5], 'emitted', ARGV[6])
end
if ARGV[11] ~= '' and tonumber(ARGV[6]) >= tonumber(redis.call('HGET', KEYS[5], 'slot') or '-1') then
  if ARGV[11] == 'clear' then
    redis.call('HDEL', KEYS[5], 'certalert')
  elseif not redis.call('HGET', KEYS[5], 'certalert') then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'd', ARGV[10])
    redis.call('HSET', KEYS[5], 'certalert', ARGV[12])
  end
end
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
local lease = redis.call('ZSCORE', KEYS[4], ARGV[5])
if lease and tonumber(lease) <= tonumber(ARGV[9]) then
  redis.call('ZREM', KEYS[4], ARGV[5])
end
return 1
`)

// Handle probes the job's target and publishes its result. It is the
// jobs consumer's handler (ManualAck: the ack is part of the publish).
func (w *Worker) Handle(ctx context.Context, msg stream.Message) error {
	job, err := Decode(msg)
	if err != nil {
		return err
	}
	started := w.now()
	if !started.Before(job.Deadline) {
		return w.expire(ctx, msg.ID, job)
	}
	// One check function per monitor type; each returns a result (a
	// failed check is a result, not an error), so that every type goes
	// through the same status, publish and incident path. Only a failure
	// of our own infrastructure (Redis) is an error: the job stays pending.
	var res probe.Result
	switch job.Req.GetType() {
	case eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT:
		// Only a Redis failure is an error: the job stays pending.
		var due bool
		var err error
		if res, due, err = w.checkHeartbeat(ctx, job); err != nil {
			return err
		}
		if !due {
			w.logger.DebugContext(ctx, "heartbeat_not_due", "job_id", job.Req.GetJobId())
			return w.drop(ctx, msg.ID, job)
		}
	case eventsv1.MonitorType_MONITOR_TYPE_SSL:
		res = w.checkSSL(ctx, job)
	default:
		res = w.checkHTTP(ctx, job)
	}
	finished := w.now()
	if ctx.Err() != nil {
		// Shutdown cut the check short: leave the job pending for another
		// replica rather than record a false failure.
		return fmt.Errorf("check %s interrupted: %w", job.Req.GetJobId(), ctx.Err())
	}
	out, err := w.tracker.Apply(ctx, job.Req.GetMonitorId(), job.Slot.UnixMilli(), status.Result{
		Success: res.Success, Maintenance: inMaintenance(job),
		FailureThreshold: int(job.Req.GetFailureThreshold()), SuccessThreshold: int(job.Req.GetSuccessThreshold()),
	})
	if err != nil {
		return err
	}
	return w.publish(ctx, msg.ID, job, res, out, started, finished)
}

// inMaintenance tells whether the job's slot falls in its monitor's
// maintenance: the check runs and is stored, but changes no status (so no
// incident and no email).
func inMaintenance(job Job) bool {
	var until *time.Time
	if u := job.Req.GetMaintenanceUntil(); u != nil {
		t := u.AsTime()
		until = &t
	}
	return maintenance.Active(job.Slot, until, maintenance.FromProto(job.Req.GetMaintenanceWindows()))
}

// checkHTTP sends the monitor's request and checks its response.
func (w *Worker) checkHTTP(ctx context.Context, job Job) probe.Result {
	req, err := w.probeRequest(job)
	if err != nil {
		// A failed result, not an error: redelivery would fail the same
		// way. The error names key ids, never a secret.
		w.logger.WarnContext(ctx, "monitor_secrets_not_opened", "monitor_id", job.Req.GetMonitorId(),
			"job_id", job.Req.GetJobId(), "err", err)
		return probe.Result{Error: SecretsError}
	}
	return w.prober.Check(ctx, req)
}

func (w *Worker) publish(ctx context.Context, entryID string, job Job, res probe.Result, out status.Outcome, started, finished time.Time) error {
	completed := &eventsv1.CheckCompleted{
		JobId:            job.Req.GetJobId(),
		MonitorId:        job.Req.GetMonitorId(),
		Slot:             timestamppb.New(job.Slot),
		StartedAt:        timestamppb.New(started),
		FinishedAt:       timestamppb.New(finished),
		Success:          res.Success,
		StatusCode:       int32(res.StatusCode), //nolint:gosec // HTTP status codes fit
		Error:            res.Error,
		Warning:          res.Warning,
		Attempts:         int32(res.Attempts), //nolint:gosec // a handful of attempts
		ConnectionReused: res.ConnectionReused,
		PreviousStatus:   statuses[out.Previous],
		NewStatus:        statuses[out.New],
		StatusChanged:    out.Changed,
		Maintenance:      inMaintenance(job),
		Checker:          w.instance,
		Timings: &eventsv1.Timings{
			DnsUs: res.DNS.Microseconds(), ConnectUs: res.Connect.Microseconds(), TlsUs: res.TLS.Microseconds(),
			FirstByteUs: res.FirstByte.Microseconds(), TotalUs: res.Total.Microseconds(),
		},
	}
	if res.CertificateExpiresAt != nil {
		completed.CertificateExpiresAt = timestamppb.New(*res.CertificateExpiresAt)
	}
	resultBody, err := encode(w.instance, completed)
	if err != nil {
		return err
	}
	var eventBody []byte
	if out.Changed {
		eventBody, err = encode(w.instance, &eventsv1.MonitorStatusChanged{
			MonitorId: job.Req.GetMonitorId(), From: statuses[out.Previous], To: statuses[out.New],
			At: timestamppb.New(finished), Cause: res.Error, Slot: timestamppb.New(job.Slot),
			JobId: job.Req.GetJobId(), MonitorUrl: job.Req.GetUrl(),
		})
		if err != nil {
			return err
		}
	}
	certBody, certAction, certMark, err := w.certAlert(job, res, finished)
	if err != nil {
		return err
	}
	resultArgs, eventArgs := w.pub.AddArgs(stream.Results, nil), w.pub.AddArgs(stream.Events, nil)
	err = publishScript.Run(ctx, w.rdb,
		[]string{resultArgs.Stream, eventArgs.Stream, w.ks.Key(stream.Jobs), w.ks.Key("sched:inflight"), w.tracker.Key(job.Req.GetMonitorId())},
		resultBody, eventBody, Group, entryID, job.Req.GetMonitorId(), job.Slot.UnixMilli(),
		resultArgs.MaxLen, eventArgs.MaxLen, job.Deadline.UnixMilli(),
		certBody, certAction, certMark,
	).Err()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("publish result of %s: %w", job.Req.GetJobId(), err)
	}
	return nil
}

// dropScript acks a job and releases the monitor's in-flight lease if it
// is still this job's: the tail of publishScript, without a result.
//
// KEYS: 1 jobs, 2 in-flight set. ARGV: 1 group, 2 job entry id, 3 monitor
// id, 4 lease ms.
var dropScript = redis.NewScript(`
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local lease = redis.call('ZSCORE', KEYS[2], ARGV[3])
if lease and tonumber(lease) <= tonumber(ARGV[4]) then
  redis.call('ZREM', KEYS[2], ARGV[3])
end
return 1
`)

// drop acks a job that records no result.
func (w *Worker) drop(ctx context.Context, entryID string, job Job) error {
	err := dropScript.Run(ctx, w.rdb, []string{w.ks.Key(stream.Jobs), w.ks.Key("sched:inflight")},
		Group, entryID, job.Req.GetMonitorId(), job.Deadline.UnixMilli()).Err()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("drop job %s: %w", job.Req.GetJobId(), err)
	}
	return nil
}

// expire drops a job whose deadline, its monitor's next slot, has passed
// before any check started: the checkers were saturated, or the job was
// reclaimed from a dead checker after its lease. Its slot is stale, as a
// slot missed in an outage is (DESIGN section 5: skipped, not replayed), so
// it records no result; a check that could not even start says nothing of
// the target, and recording it as a failure would take healthy monitors
// DOWN exactly when the checkers are short of capacity.
func (w *Worker) expire(ctx context.Context, entryID string, job Job) error {
	if err := w.drop(ctx, entryID, job); err != nil {
		return err
	}
	w.expired.Inc()
	w.logger.DebugContext(ctx, "job_expired", "job_id", job.Req.GetJobId(), "deadline", job.Deadline)
	return nil
}

func encode(producer string, payload proto.Message) ([]byte, error) {
	env, err := events.New(producer, payload)
	if err != nil {
		return nil, err
	}
	return events.Marshal(env)
}
