package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrMonitorGone is returned when the monitor of an event no longer exists.
var ErrMonitorGone = errors.New("monitor not found")

// Target is whom and what an email is about, read when it is sent.
type Target struct {
	UserID      string
	Recipient   string
	MonitorName string
	MonitorURL  string
	Active      bool
}

// ClaimState is the outcome of a claim.
type ClaimState int

const (
	// Claimed: this notifier sends it now.
	Claimed ClaimState = iota
	// AlreadySent: a notifier delivered it before (a duplicate).
	AlreadySent
	// HeldElsewhere: another notifier is sending it right now.
	HeldElsewhere
	// Vanished: the monitor was deleted while claiming.
	Vanished
)

// Claim asks for the right to send one event's email.
type Claim struct {
	EventID    string
	MonitorID  string
	UserID     string
	Recipient  string
	Kind       string
	ToStatus   string
	OccurredAt time.Time
	Owner      string
	TTL        time.Duration
}

// Store keeps the notifications table, the deduplication record of every
// event the notifier acted on.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Target loads the monitor's owner and the monitor as they are now.
func (s *Store) Target(ctx context.Context, monitorID string) (Target, error) {
	var t Target
	err := s.pool.QueryRow(ctx, `
		SELECT u.id::text, u.email, m.name, m.url, m.is_active
		FROM monitors m JOIN users u ON u.id = m.user_id
		WHERE m.id = $1`, monitorID).Scan(&t.UserID, &t.Recipient, &t.MonitorName, &t.MonitorURL, &t.Active)
	if errors.Is(err, pgx.ErrNoRows) {
		return Target{}, fmt.Errorf("monitor %s: %w", monitorID, ErrMonitorGone)
	}
	if err != nil {
		return Target{}, fmt.Errorf("load monitor %s and owner: %w", monitorID, err)
	}
	return t, nil
}

// Claim records the event as being sent by c.Owner until now+TTL. An event
// already SENT, or claimed by another notifier whose claim has not
// expired, is not claimed again.
func (s *Store) Claim(ctx context.Context, c Claim) (ClaimState, error) {
	var attempts int
	err := s.pool.QueryRow(ctx, `
		INSERT INTO notifications (event_id, monitor_id, user_id, recipient, kind, to_status,
		                           state, claimed_by, claimed_until, occurred_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), 'SENDING', $7,
		        now() + $8 * interval '1 millisecond', $9)
		ON CONFLICT (event_id) DO UPDATE
		SET claimed_by = EXCLUDED.claimed_by,
		    claimed_until = EXCLUDED.claimed_until,
		    recipient = EXCLUDED.recipient,
		    attempts = notifications.attempts + 1
		WHERE notifications.state = 'SENDING'
		  AND (notifications.claimed_until IS NULL OR notifications.claimed_until < now())
		RETURNING attempts`,
		c.EventID, c.MonitorID, c.UserID, c.Recipient, c.Kind, c.ToStatus, c.Owner,
		c.TTL.Milliseconds(), c.OccurredAt).Scan(&attempts)
	if err == nil {
		return Claimed, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		if isForeignKeyViolation(err) {
			return Vanished, nil
		}
		return 0, fmt.Errorf("claim notification %s: %w", c.EventID, err)
	}
	var state string
	err = s.pool.QueryRow(ctx, `SELECT state FROM notifications WHERE event_id = $1`, c.EventID).Scan(&state)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Vanished, nil
	case err != nil:
		return 0, fmt.Errorf("read notification %s: %w", c.EventID, err)
	case state == "SENT":
		return AlreadySent, nil
	default:
		return HeldElsewhere, nil
	}
}

// MarkSent records delivery; the event is never sent again.
func (s *Store) MarkSent(ctx context.Context, eventID, provider string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE notifications
		SET state = 'SENT', provider = $2, sent_at = now(), claimed_until = NULL, last_error = NULL
		WHERE event_id = $1`, eventID, provider)
	if err != nil {
		return fmt.Errorf("mark notification %s sent: %w", eventID, err)
	}
	return nil
}

// Release gives up owner's claim after a failed send, keeping the error,
// so that the next delivery of the event may try at once.
func (s *Store) Release(ctx context.Context, eventID, owner, lastError string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE notifications
		SET claimed_until = NULL, last_error = $3
		WHERE event_id = $1 AND state = 'SENDING' AND claimed_by = $2`, eventID, owner, lastError)
	if err != nil {
		return fmt.Errorf("release notification %s: %w", eventID, err)
	}
	return nil
}

// isForeignKeyViolation tells a monitor or user deleted between reading
// the target and claiming (the row's foreign keys fail).
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
