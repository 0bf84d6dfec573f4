// Package events builds, encodes and decodes the Envelope that is the body of
// every stream entry (see proto/servercheck/events/v1). Producers call New and
// Marshal; consumers call Unmarshal and switch on the envelope's payload.
package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

var (
	// ErrMalformed reports bytes that are not a valid Envelope: undecodable
	// protobuf, a missing event id, or a type that does not name the payload.
	// Redelivering such an entry cannot help; dead-letter it.
	ErrMalformed = errors.New("malformed envelope")

	// ErrEmptyPayload reports an envelope that carries no payload. Besides a
	// producer bug, this is what an entry from a newer producer looks like
	// when its payload variant is unknown to this build; the error then names
	// the envelope's type.
	ErrEmptyPayload = errors.New("envelope has no payload")

	// ErrUnknownPayload reports a message given to New that is not one of the
	// Envelope's payload variants.
	ErrUnknownPayload = errors.New("message is not an envelope payload")
)

// payloadOneof describes Envelope.payload; read-only after initialisation.
var payloadOneof = (&eventsv1.Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")

// New wraps payload in an Envelope with a fresh random event id, the
// payload's full message name as type, the current time and the producer
// ("<service>/<instance>"). The envelope references payload; it does not copy
// it.
func New(producer string, payload proto.Message) (*eventsv1.Envelope, error) {
	if producer == "" {
		return nil, errors.New("new envelope: empty producer")
	}
	// A typed nil (e.g. (*eventsv1.CheckCompleted)(nil)) is as empty as nil.
	if payload == nil || !payload.ProtoReflect().IsValid() {
		return nil, fmt.Errorf("new envelope: %w", ErrEmptyPayload)
	}
	env := &eventsv1.Envelope{Producer: producer}
	switch p := payload.(type) {
	case *eventsv1.MonitorChanged:
		env.Payload = &eventsv1.Envelope_MonitorChanged{MonitorChanged: p}
	case *eventsv1.CheckRequested:
		env.Payload = &eventsv1.Envelope_CheckRequested{CheckRequested: p}
	case *eventsv1.CheckCompleted:
		env.Payload = &eventsv1.Envelope_CheckCompleted{CheckCompleted: p}
	case *eventsv1.MonitorStatusChanged:
		env.Payload = &eventsv1.Envelope_MonitorStatusChanged{MonitorStatusChanged: p}
	case *eventsv1.DeadLetter:
		env.Payload = &eventsv1.Envelope_DeadLetter{DeadLetter: p}
	case *eventsv1.CertificateExpiring:
		env.Payload = &eventsv1.Envelope_CertificateExpiring{CertificateExpiring: p}
	default:
		return nil, fmt.Errorf("new envelope with %s: %w", payload.ProtoReflect().Descriptor().FullName(), ErrUnknownPayload)
	}
	// NewRandom rather than New: it returns the entropy source's error
	// instead of panicking.
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, fmt.Errorf("new envelope: event id: %w", err)
	}
	env.EventId = id.String()
	env.Type = string(payload.ProtoReflect().Descriptor().FullName())
	env.OccurredAt = timestamppb.Now()
	return env, nil
}

// Marshal encodes env for a stream entry. It refuses an envelope that
// Unmarshal would reject, so that a producer bug fails at the producer rather
// than in every consumer.
func Marshal(env *eventsv1.Envelope) ([]byte, error) {
	if err := validate(env); err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	b, err := proto.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("marshal envelope %s: %w", env.GetEventId(), err)
	}
	return b, nil
}

// Unmarshal decodes a stream entry body. It returns an error wrapping
// ErrMalformed or ErrEmptyPayload when b is not a usable envelope.
func Unmarshal(b []byte) (*eventsv1.Envelope, error) {
	env := &eventsv1.Envelope{}
	if err := proto.Unmarshal(b, env); err != nil {
		return nil, fmt.Errorf("unmarshal envelope (%d bytes): %w: %w", len(b), ErrMalformed, err)
	}
	if err := validate(env); err != nil {
		return nil, fmt.Errorf("unmarshal envelope: %w", err)
	}
	return env, nil
}

// JobID returns the id of the check job of a monitor's slot,
// "monitor:<monitorID>:<slot in unix milliseconds>". It is the idempotency
// key shared by the scheduler, the checker and the log-writer, so it must not
// depend on the slot's location or sub-millisecond part.
func JobID(monitorID string, slot time.Time) string {
	return fmt.Sprintf("monitor:%s:%d", monitorID, slot.UnixMilli())
}

// validate reports why env cannot travel on a stream, or nil.
func validate(env *eventsv1.Envelope) error {
	if env == nil {
		return fmt.Errorf("nil envelope: %w", ErrEmptyPayload)
	}
	fd := env.ProtoReflect().WhichOneof(payloadOneof)
	if fd == nil {
		return fmt.Errorf("envelope %q of type %q: %w", env.GetEventId(), env.GetType(), ErrEmptyPayload)
	}
	if env.GetEventId() == "" {
		return fmt.Errorf("envelope of type %q without event id: %w", env.GetType(), ErrMalformed)
	}
	if want := string(fd.Message().FullName()); env.GetType() != want {
		return fmt.Errorf("envelope %q: type %q but payload %s: %w", env.GetEventId(), env.GetType(), want, ErrMalformed)
	}
	return nil
}
