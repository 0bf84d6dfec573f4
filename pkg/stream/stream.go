// Package stream is the Redis Streams consumer-group library every service
// uses: publishing with MAXLEN ~, group consumers that read only what they
// have capacity for, ack after handling, a janitor that reclaims entries
// idle longer than the group's maximum processing time and dead-letters
// entries delivered too often, and stream metrics.
//
// It moves opaque bytes and knows no event type: services encode and decode
// their payloads with proto-events.
package stream

import (
	"fmt"
	"strconv"
)

// Logical stream names shared by every service (DESIGN.md section 4).
const (
	Monitors = "monitors"
	Jobs     = "jobs"
	Results  = "results"
	Events   = "events"
	DLQ      = "dlq"
)

// Entry field names. An entry is {d: payload} plus {r: retries} when the
// dead-letter mover re-drove it.
const (
	fieldData    = "d"
	fieldRetries = "r"
)

// Keyspace names every key under one hash tag, "{prefix}:name", so that all
// keys live in one Redis Cluster slot today (multi-key scripts work) and the
// keyspace can be split later by giving streams different tags.
type Keyspace struct {
	prefix string
}

// NewKeyspace returns the keyspace for prefix (e.g. "uptime").
func NewKeyspace(prefix string) Keyspace { return Keyspace{prefix: prefix} }

// Key returns the full Redis key of name.
func (k Keyspace) Key(name string) string { return "{" + k.prefix + "}:" + name }

// Prefix returns the keyspace's prefix.
func (k Keyspace) Prefix() string { return k.prefix }

// Message is one stream entry handed to a Handler.
type Message struct {
	// ID is the Redis entry id.
	ID string
	// Stream is the logical stream name (e.g. "results").
	Stream string
	// Payload is the entry body.
	Payload []byte
	// Retries counts how often the dead-letter mover re-drove this payload.
	Retries int
	// Deliveries counts deliveries of this entry including this one.
	Deliveries int64
	// Fields holds the entry's other fields (e.g. the slot a scheduler
	// script adds beside a job template); nil when there are none.
	Fields map[string]string
}

func decodeEntry(stream string, x redisEntry, deliveries int64) (Message, error) {
	m := Message{ID: x.ID, Stream: stream, Deliveries: deliveries}
	d, ok := x.Values[fieldData]
	if !ok {
		return m, fmt.Errorf("entry %s of %s has no %q field", x.ID, stream, fieldData)
	}
	s, ok := d.(string)
	if !ok {
		return m, fmt.Errorf("entry %s of %s: field %q is %T", x.ID, stream, fieldData, d)
	}
	m.Payload = []byte(s)
	for k, v := range x.Values {
		if k == fieldData {
			continue
		}
		s, _ := v.(string)
		if k == fieldRetries {
			n, err := strconv.Atoi(s)
			if err != nil {
				return m, fmt.Errorf("entry %s of %s: field %q: %w", x.ID, stream, fieldRetries, err)
			}
			m.Retries = n
			continue
		}
		if m.Fields == nil {
			m.Fields = map[string]string{}
		}
		m.Fields[k] = s
	}
	return m, nil
}
