// Package deadletter owns what happens to stream entries after their last
// delivery failed: their protobuf encoding on the dlq stream, the mover that
// re-drives them with exponential backoff through a delay sorted set, and
// the PostgreSQL table where they are parked for an ADMIN.
package deadletter

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// ErrNotDeadLetter is returned when a dlq entry holds another event type.
var ErrNotDeadLetter = errors.New("envelope does not hold a DeadLetter")

// Codec encodes dead letters as protobuf Envelopes.
type Codec struct {
	// Producer names the process in every envelope it writes.
	Producer string
}

// Encode implements stream.DeadLetterEncoder.
func (c Codec) Encode(dl stream.DeadLetter) ([]byte, error) {
	env, err := events.New(c.Producer, &eventsv1.DeadLetter{
		SourceStream: dl.SourceStream,
		OriginalId:   dl.OriginalID,
		Payload:      dl.Payload,
		Error:        dl.Error,
		Deliveries:   dl.Deliveries,
		Group:        dl.Group,
		Retries:      int32(dl.Retries), //nolint:gosec // retries are bounded by MaxRetries
		FailedAt:     timestamppb.New(dl.FailedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("wrap dead letter of %s/%s: %w", dl.SourceStream, dl.OriginalID, err)
	}
	return events.Marshal(env)
}

// Decode reads a dlq entry body.
func Decode(b []byte) (stream.DeadLetter, error) {
	env, err := events.Unmarshal(b)
	if err != nil {
		return stream.DeadLetter{}, fmt.Errorf("decode dead letter: %w", err)
	}
	d := env.GetDeadLetter()
	if d == nil {
		return stream.DeadLetter{}, fmt.Errorf("decode dead letter: %w (type %q)", ErrNotDeadLetter, env.GetType())
	}
	return stream.DeadLetter{
		SourceStream: d.GetSourceStream(),
		OriginalID:   d.GetOriginalId(),
		Payload:      d.GetPayload(),
		Error:        d.GetError(),
		Deliveries:   d.GetDeliveries(),
		Group:        d.GetGroup(),
		Retries:      int(d.GetRetries()),
		FailedAt:     d.GetFailedAt().AsTime(),
	}, nil
}
