// Package live fans the events stream out to the api's Server-Sent Events
// clients: one reader per api replica follows the stream (XREAD, no
// group: every replica needs every event) and hands each event to the
// subscribers allowed to see it. A slow client loses events, never slows
// the reader.
package live

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
)

// Event is a status change as the front end receives it.
type Event struct {
	Type      string    `json:"type"`
	MonitorID string    `json:"monitorId"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	At        time.Time `json:"at"`
	Cause     string    `json:"cause,omitempty"`
	userID    string
}

// OwnerFunc returns the owner of a monitor ("" when it no longer exists).
type OwnerFunc func(ctx context.Context, monitorID string) (string, error)

// Hub follows the events stream and broadcasts.
type Hub struct {
	rdb    redis.UniversalClient
	key    string
	owner  OwnerFunc
	logger *slog.Logger
	buffer int

	mu   sync.Mutex
	subs map[*sub]struct{}
}

type sub struct {
	userID string
	all    bool
	ch     chan Event
}

// New returns a hub; rdb must be a client of its own (it blocks in XREAD).
func New(rdb redis.UniversalClient, ks stream.Keyspace, owner OwnerFunc, logger *slog.Logger) *Hub {
	return &Hub{rdb: rdb, key: ks.Key(stream.Events), owner: owner, logger: logger.With("component", "live_events"),
		buffer: 64, subs: map[*sub]struct{}{}}
}

// Subscribe registers a client: all=true (ADMIN) receives every event,
// otherwise only events of userID's monitors. cancel must be called.
func (h *Hub) Subscribe(userID string, all bool) (<-chan Event, func()) {
	s := &sub{userID: userID, all: all, ch: make(chan Event, h.buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}

// Subscribers counts connected clients.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) broadcast(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.all && s.userID != ev.userID {
			continue
		}
		select {
		case s.ch <- ev:
		default: // a slow client misses this event
		}
	}
}

// Run follows the stream from its end until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	last := "$"
	for {
		res, err := h.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{h.key, last}, Count: 100, Block: 2 * time.Second}).Result()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			h.logger.Warn("events_read_failed", "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		for _, s := range res {
			for _, x := range s.Messages {
				last = x.ID
				h.handle(ctx, x)
			}
		}
	}
}

func (h *Hub) handle(ctx context.Context, x redis.XMessage) {
	if h.Subscribers() == 0 {
		return
	}
	d, _ := x.Values["d"].(string)
	env, err := events.Unmarshal([]byte(d))
	if err != nil {
		h.logger.Debug("event_skipped", "id", x.ID, "err", err)
		return
	}
	c := env.GetMonitorStatusChanged()
	if c == nil {
		return
	}
	owner := c.GetUserId()
	if owner == "" {
		if owner, err = h.owner(ctx, c.GetMonitorId()); err != nil || owner == "" {
			return
		}
	}
	h.broadcast(Event{
		Type: "status_changed", MonitorID: c.GetMonitorId(),
		From: statusName(c.GetFrom().String()), To: statusName(c.GetTo().String()),
		At: asTime(c.GetAt()), Cause: c.GetCause(), userID: owner,
	})
}

func statusName(enum string) string {
	const prefix = "MONITOR_STATUS_"
	if len(enum) > len(prefix) {
		return enum[len(prefix):]
	}
	return enum
}

func asTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
