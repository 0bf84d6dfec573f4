package events_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/proto-events/events"
	eventsv1 "github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

const producer = "checker/checker-0"

var slot = time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func TestRoundTrip(t *testing.T) {
	request := &eventsv1.HTTPRequest{
		Method:              "POST",
		Headers:             []*eventsv1.Header{{Name: "Accept", Value: "application/json"}, {Name: "X-Trace", Value: "1"}},
		Body:                []byte(`{"ping":true}`),
		ExpectedStatusCodes: []int32{200, 204},
		ExpectedText:        "ok",
		ExpectedJsonPath:    "$.status",
		ExpectedJsonValue:   "up",
		TimeoutMs:           10_000,
		MaxResponseBytes:    1 << 20,
		FollowRedirects:     true,
		SealedSecrets:       []byte{0x01, 0x02, 0x03},
	}
	tests := []struct {
		name    string
		payload proto.Message
		// get returns the payload from the decoded envelope's oneof.
		get func(*eventsv1.Envelope) proto.Message
	}{
		{
			name: "a created monitor survives the trip",
			payload: &eventsv1.MonitorChanged{
				MonitorId: "m1",
				Kind:      eventsv1.ChangeKind_CHANGE_KIND_CREATED,
				UserId:    "u1",
				Monitor: &eventsv1.MonitorSpec{
					Id: "m1", UserId: "u1", Name: "shop", Url: "https://shop.example",
					FrequencySeconds: 60, IsActive: true, Type: eventsv1.MonitorType_MONITOR_TYPE_HTTP,
					Request: request, SslAlertBeforeDays: 14, FailureThreshold: 3, SuccessThreshold: 2,
					UpdatedAt: ts(slot),
				},
			},
			get: func(e *eventsv1.Envelope) proto.Message { return e.GetMonitorChanged() },
		},
		{
			name:    "a deleted monitor without spec survives the trip",
			payload: &eventsv1.MonitorChanged{MonitorId: "m1", Kind: eventsv1.ChangeKind_CHANGE_KIND_DELETED, UserId: "u1"},
			get:     func(e *eventsv1.Envelope) proto.Message { return e.GetMonitorChanged() },
		},
		{
			name: "a check job survives the trip",
			payload: &eventsv1.CheckRequested{
				JobId: events.JobID("m1", slot), MonitorId: "m1", Slot: ts(slot),
				LeaseDeadline: ts(slot.Add(50 * time.Second)), Type: eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT,
				TimeoutMs: 10_000, FailureThreshold: 1, SuccessThreshold: 1,
				HeartbeatLastReceivedAt: ts(slot.Add(-time.Minute)), HeartbeatIntervalSeconds: 300, HeartbeatGraceSeconds: 30,
			},
			get: func(e *eventsv1.Envelope) proto.Message { return e.GetCheckRequested() },
		},
		{
			name: "a check result survives the trip",
			payload: &eventsv1.CheckCompleted{
				JobId: events.JobID("m1", slot), MonitorId: "m1", Slot: ts(slot),
				StartedAt: ts(slot.Add(time.Millisecond)), FinishedAt: ts(slot.Add(120 * time.Millisecond)),
				Success: false, StatusCode: 503, Error: "unexpected status 503", Attempts: 4,
				Timings:              &eventsv1.Timings{DnsUs: 1200, ConnectUs: 800, TlsUs: 15000, FirstByteUs: 90000, TotalUs: 119000},
				CertificateExpiresAt: ts(slot.Add(30 * 24 * time.Hour)), Warning: "certificate expires in 30 days",
				PreviousStatus: eventsv1.MonitorStatus_MONITOR_STATUS_UP, NewStatus: eventsv1.MonitorStatus_MONITOR_STATUS_DOWN,
				StatusChanged: true, Checker: "checker-0",
			},
			get: func(e *eventsv1.Envelope) proto.Message { return e.GetCheckCompleted() },
		},
		{
			name: "a status change survives the trip",
			payload: &eventsv1.MonitorStatusChanged{
				MonitorId: "m1", UserId: "u1",
				From: eventsv1.MonitorStatus_MONITOR_STATUS_UP, To: eventsv1.MonitorStatus_MONITOR_STATUS_DOWN,
				At: ts(slot.Add(120 * time.Millisecond)), Cause: "unexpected status 503", Slot: ts(slot),
				JobId: events.JobID("m1", slot), MonitorName: "shop", MonitorUrl: "https://shop.example",
			},
			get: func(e *eventsv1.Envelope) proto.Message { return e.GetMonitorStatusChanged() },
		},
		{
			name: "a dead letter with an undecodable body survives the trip",
			payload: &eventsv1.DeadLetter{
				SourceStream: "uptime:{sc}:results", OriginalId: "1733245200000-0",
				Payload: []byte{0xff, 0x00, 0xfe}, Error: "insert ping log: deadlock", Deliveries: 3,
				Group: "log-writers", Retries: 2, FailedAt: ts(slot),
			},
			get: func(e *eventsv1.Envelope) proto.Message { return e.GetDeadLetter() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			env, err := events.New(producer, tt.payload)
			require.NoError(t, err)
			after := time.Now()

			b, err := events.Marshal(env)
			require.NoError(t, err)
			got, err := events.Unmarshal(b)
			require.NoError(t, err)

			assertProtoEqual(t, env, got)
			assertProtoEqual(t, tt.payload, tt.get(got))
			assert.Equal(t, string(tt.payload.ProtoReflect().Descriptor().FullName()), got.GetType())
			assert.Equal(t, producer, got.GetProducer())
			id, err := uuid.Parse(got.GetEventId())
			require.NoError(t, err, "event id is a uuid")
			assert.Equal(t, uuid.Version(4), id.Version())
			occurred := got.GetOccurredAt().AsTime()
			assert.False(t, occurred.Before(before.Truncate(time.Microsecond)) || occurred.After(after), "occurred_at %v not in [%v, %v]", occurred, before, after)
		})
	}
}

// TestNewSupportsEveryPayloadVariant guards New's type switch: a variant added
// to Envelope.payload without a case there fails here.
func TestNewSupportsEveryPayloadVariant(t *testing.T) {
	env := (&eventsv1.Envelope{}).ProtoReflect()
	fields := env.Descriptor().Oneofs().ByName("payload").Fields()
	require.Positive(t, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		t.Run(string(fd.Name())+" can be wrapped", func(t *testing.T) {
			payload := env.NewField(fd).Message().Interface()
			got, err := events.New(producer, payload)
			require.NoError(t, err)
			assert.Equal(t, fd, got.ProtoReflect().WhichOneof(fd.ContainingOneof()))
			assert.Equal(t, string(fd.Message().FullName()), got.GetType())
		})
	}
}

func TestNewGivesEveryEventItsOwnID(t *testing.T) {
	a, err := events.New(producer, &eventsv1.CheckCompleted{})
	require.NoError(t, err)
	b, err := events.New(producer, &eventsv1.CheckCompleted{})
	require.NoError(t, err)
	assert.NotEqual(t, a.GetEventId(), b.GetEventId())
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name     string
		producer string
		payload  proto.Message
		want     error
	}{
		{name: "a nil payload is empty", producer: producer, payload: nil, want: events.ErrEmptyPayload},
		{name: "a typed nil payload is empty", producer: producer, payload: (*eventsv1.CheckCompleted)(nil), want: events.ErrEmptyPayload},
		{name: "a message that is no payload variant is unknown", producer: producer, payload: &eventsv1.Timings{}, want: events.ErrUnknownPayload},
		{name: "an envelope cannot wrap an envelope", producer: producer, payload: &eventsv1.Envelope{}, want: events.ErrUnknownPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := events.New(tt.producer, tt.payload)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, env)
		})
	}

	t.Run("an empty producer is refused", func(t *testing.T) {
		env, err := events.New("", &eventsv1.CheckCompleted{})
		require.Error(t, err)
		assert.Nil(t, env)
	})
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		env  *eventsv1.Envelope
		want error
	}{
		{name: "a nil envelope has no payload", env: nil, want: events.ErrEmptyPayload},
		{name: "an envelope without payload is refused", env: &eventsv1.Envelope{EventId: "e1", Type: "servercheck.events.v1.CheckCompleted"}, want: events.ErrEmptyPayload},
		{name: "an envelope without event id is malformed", env: &eventsv1.Envelope{
			Type:    "servercheck.events.v1.CheckCompleted",
			Payload: &eventsv1.Envelope_CheckCompleted{CheckCompleted: &eventsv1.CheckCompleted{}},
		}, want: events.ErrMalformed},
		{name: "a type that does not name the payload is malformed", env: &eventsv1.Envelope{
			EventId: "e1", Type: "servercheck.events.v1.CheckRequested",
			Payload: &eventsv1.Envelope_CheckCompleted{CheckCompleted: &eventsv1.CheckCompleted{}},
		}, want: events.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := events.Marshal(tt.env)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, b)
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	valid, err := events.New(producer, &eventsv1.CheckCompleted{JobId: "monitor:m1:1", MonitorId: "m1"})
	require.NoError(t, err)
	validBytes, err := events.Marshal(valid)
	require.NoError(t, err)

	// raw encodes an envelope without the checks of events.Marshal.
	raw := func(env *eventsv1.Envelope) []byte {
		b, err := proto.Marshal(env)
		require.NoError(t, err)
		return b
	}
	// A variant a newer producer might add: field 99, a non-empty message.
	fromNewerProducer := protowire.AppendTag(raw(&eventsv1.Envelope{EventId: "e1", Type: "servercheck.events.v1.Future"}), 99, protowire.BytesType)
	fromNewerProducer = protowire.AppendBytes(fromNewerProducer, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7))

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{name: "garbage bytes are malformed", in: []byte{0xff, 0xff, 0xff, 0xff}, want: events.ErrMalformed},
		{name: "a JSON body is malformed", in: []byte(`{"type":"servercheck.events.v1.CheckCompleted"}`), want: events.ErrMalformed},
		{name: "a truncated envelope is malformed", in: validBytes[:len(validBytes)-3], want: events.ErrMalformed},
		{name: "no bytes at all have no payload", in: nil, want: events.ErrEmptyPayload},
		{name: "an envelope without payload is empty", in: raw(&eventsv1.Envelope{EventId: "e1", Type: "servercheck.events.v1.CheckCompleted", Producer: producer}), want: events.ErrEmptyPayload},
		{name: "a payload variant unknown to this build reads as empty", in: fromNewerProducer, want: events.ErrEmptyPayload},
		{name: "an envelope without event id is malformed", in: raw(&eventsv1.Envelope{
			Type:    "servercheck.events.v1.DeadLetter",
			Payload: &eventsv1.Envelope_DeadLetter{DeadLetter: &eventsv1.DeadLetter{}},
		}), want: events.ErrMalformed},
		{name: "a type that does not name the payload is malformed", in: raw(&eventsv1.Envelope{
			EventId: "e1", Type: "servercheck.events.v1.CheckCompleted",
			Payload: &eventsv1.Envelope_DeadLetter{DeadLetter: &eventsv1.DeadLetter{}},
		}), want: events.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := events.Unmarshal(tt.in)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, env)
		})
	}
}

func TestJobID(t *testing.T) {
	tests := []struct {
		name      string
		monitorID string
		slot      time.Time
		want      string
	}{
		{name: "it joins monitor id and slot in unix milliseconds", monitorID: "6f1c2a9e-0d1b-4f3e-9a51-2b7c3d4e5f60", slot: slot,
			want: "monitor:6f1c2a9e-0d1b-4f3e-9a51-2b7c3d4e5f60:1796317200000"},
		{name: "it drops sub-millisecond precision", monitorID: "m1", slot: slot.Add(1_999_999 * time.Nanosecond),
			want: "monitor:m1:1796317200001"},
		{name: "it ignores the slot's location", monitorID: "m1", slot: slot.In(time.FixedZone("UTC-5", -5*3600)),
			want: "monitor:m1:1796317200000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, events.JobID(tt.monitorID, tt.slot))
		})
	}
}

// assertProtoEqual compares messages by content; assert.Equal would compare
// their internal state too.
func assertProtoEqual(t *testing.T, want, got proto.Message) {
	t.Helper()
	assert.True(t, proto.Equal(want, got), "messages differ:\nwant: %v\ngot:  %v", want, got)
}
