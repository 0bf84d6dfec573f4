package schedule

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// DefaultTimeoutMs is the per-attempt timeout of a job whose monitor sets
// none (DESIGN.md section 5).
const DefaultTimeoutMs = 10_000

// ErrInvalidSpec reports a monitor spec the schedule cannot hold.
var ErrInvalidSpec = errors.New("invalid monitor spec")

// Job returns the check job of spec without its per-slot fields (job_id,
// slot, lease_deadline), which the claim script adds beside it.
func Job(spec *eventsv1.MonitorSpec) (*eventsv1.CheckRequested, error) {
	if err := validate(spec); err != nil {
		return nil, err
	}
	var req *eventsv1.HTTPRequest
	if spec.GetRequest() != nil {
		req, _ = proto.Clone(spec.GetRequest()).(*eventsv1.HTTPRequest)
	}
	timeout := req.GetTimeoutMs()
	if timeout <= 0 {
		timeout = DefaultTimeoutMs
	}
	job := &eventsv1.CheckRequested{
		MonitorId:                spec.GetId(),
		Type:                     spec.GetType(),
		Url:                      spec.GetUrl(),
		Request:                  req,
		TimeoutMs:                timeout,
		FailureThreshold:         spec.GetFailureThreshold(),
		SuccessThreshold:         spec.GetSuccessThreshold(),
		SslAlertBeforeDays:       spec.GetSslAlertBeforeDays(),
		HeartbeatIntervalSeconds: spec.GetHeartbeatIntervalSeconds(),
		HeartbeatGraceSeconds:    spec.GetHeartbeatGraceSeconds(),
		MaintenanceUntil:         spec.GetMaintenanceUntil(),
		MaintenanceWindows:       spec.GetMaintenanceWindows(),
		HeartbeatLastReceivedAt:  spec.GetHeartbeatLastReceivedAt(),
	}
	if spec.GetType() == eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT {
		job.HeartbeatExpectedSince = spec.GetCreatedAt()
	}
	return job, nil
}

// Template returns the encoded job template of spec: an Envelope holding
// Job(spec). Every job of the monitor is this template plus the slot and
// lease fields of its stream entry, so all of them share the envelope's
// event id; job_id (monitor + slot) is their key.
func Template(producer string, spec *eventsv1.MonitorSpec) ([]byte, error) {
	job, err := Job(spec)
	if err != nil {
		return nil, err
	}
	env, err := events.New(producer, job)
	if err != nil {
		return nil, fmt.Errorf("wrap job template of monitor %s: %w", spec.GetId(), err)
	}
	b, err := events.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode job template of monitor %s: %w", spec.GetId(), err)
	}
	return b, nil
}

// decodeTemplate returns the job inside a stored template.
func decodeTemplate(b []byte) (*eventsv1.CheckRequested, error) {
	env, err := events.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	job := env.GetCheckRequested()
	if job == nil {
		return nil, fmt.Errorf("job template holds %s, not a CheckRequested", env.GetType())
	}
	return job, nil
}

func validate(spec *eventsv1.MonitorSpec) error {
	switch {
	case spec == nil:
		return fmt.Errorf("%w: no spec", ErrInvalidSpec)
	case spec.GetId() == "":
		return fmt.Errorf("%w: no monitor id", ErrInvalidSpec)
	case spec.GetFrequencySeconds() <= 0:
		return fmt.Errorf("%w: monitor %s has frequency %d s", ErrInvalidSpec, spec.GetId(), spec.GetFrequencySeconds())
	}
	return nil
}
