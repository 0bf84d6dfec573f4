package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/servercheck/uptime/pkg/stream"
)

// Statuses of a parked dead letter.
const (
	StatusParked    = "PARKED"
	StatusReplayed  = "REPLAYED"
	StatusDiscarded = "DISCARDED"
)

// ErrNotFound is returned for an unknown id.
var ErrNotFound = errors.New("dead letter not found")

// ErrNotParked is returned when replaying or discarding a dead letter that
// was already replayed or discarded.
var ErrNotParked = errors.New("dead letter is not parked")

// Parked is a row of dead_letters.
type Parked struct {
	ID            string     `json:"id"`
	SourceStream  string     `json:"sourceStream"`
	OriginalID    string     `json:"originalId"`
	ConsumerGroup string     `json:"consumerGroup"`
	Payload       []byte     `json:"payload"`
	Error         string     `json:"error"`
	Deliveries    int64      `json:"deliveries"`
	Retries       int        `json:"retries"`
	Status        string     `json:"status"`
	FailedAt      time.Time  `json:"failedAt"`
	ParkedAt      time.Time  `json:"parkedAt"`
	ResolvedAt    *time.Time `json:"resolvedAt"`
}

// Store is the dead_letters table.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Park stores dl; parking the same entry and try twice is a no-op.
func (s *Store) Park(ctx context.Context, dl stream.DeadLetter) error {
	payload := dl.Payload
	if payload == nil {
		payload = []byte{}
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO dead_letters (source_stream, original_id, consumer_group, payload, error, deliveries, retries, failed_at)
VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8)
ON CONFLICT ON CONSTRAINT dead_letters_source_original_retries_key DO NOTHING`,
		dl.SourceStream, dl.OriginalID, dl.Group, payload, dl.Error, dl.Deliveries, dl.Retries, dl.FailedAt)
	if err != nil {
		return fmt.Errorf("park dead letter %s/%s: %w", dl.SourceStream, dl.OriginalID, err)
	}
	return nil
}

const parkedColumns = `id::text, source_stream, original_id, coalesce(consumer_group, ''), payload, error,
deliveries, retries, status, failed_at, parked_at, resolved_at`

func scanParked(row pgx.Row) (Parked, error) {
	var p Parked
	err := row.Scan(&p.ID, &p.SourceStream, &p.OriginalID, &p.ConsumerGroup, &p.Payload, &p.Error,
		&p.Deliveries, &p.Retries, &p.Status, &p.FailedAt, &p.ParkedAt, &p.ResolvedAt)
	return p, err
}

// List returns dead letters with status (all when empty), newest first,
// and the total count.
func (s *Store) List(ctx context.Context, status string, limit, offset int) ([]Parked, int, error) {
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE $1 = '' OR status = $1`, status).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count dead letters: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+parkedColumns+` FROM dead_letters
WHERE $1 = '' OR status = $1 ORDER BY parked_at DESC, id LIMIT $2 OFFSET $3`, status, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Parked, error) { return scanParked(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("list dead letters: %w", err)
	}
	return out, total, nil
}

// Get returns one dead letter.
func (s *Store) Get(ctx context.Context, id string) (Parked, error) {
	p, err := scanParked(s.pool.QueryRow(ctx, `SELECT `+parkedColumns+` FROM dead_letters WHERE id::text = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Parked{}, fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Parked{}, fmt.Errorf("get dead letter %s: %w", id, err)
	}
	return p, nil
}

// Replay publishes a parked dead letter's payload to its source stream as a
// new entry and marks it REPLAYED. The row is locked for the publish, so two
// ADMINs replaying at once publish it once; if the commit fails after the
// publish the entry may run twice, which idempotent handlers absorb.
func (s *Store) Replay(ctx context.Context, id string, pub *stream.Publisher) (Parked, error) {
	var out Parked
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := scanParked(tx.QueryRow(ctx, `SELECT `+parkedColumns+` FROM dead_letters WHERE id::text = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if p.Status != StatusParked {
			return ErrNotParked
		}
		if _, err := pub.Publish(ctx, p.SourceStream, p.Payload); err != nil {
			return err
		}
		out, err = scanParked(tx.QueryRow(ctx, `UPDATE dead_letters SET status = $2, resolved_at = now()
WHERE id = $1::uuid RETURNING `+parkedColumns, p.ID, StatusReplayed))
		return err
	})
	if err != nil {
		return Parked{}, fmt.Errorf("replay dead letter %s: %w", id, err)
	}
	return out, nil
}

// Discard marks a parked dead letter DISCARDED.
func (s *Store) Discard(ctx context.Context, id string) (Parked, error) {
	p, err := scanParked(s.pool.QueryRow(ctx, `UPDATE dead_letters SET status = $2, resolved_at = now()
WHERE id::text = $1 AND status = 'PARKED' RETURNING `+parkedColumns, id, StatusDiscarded))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.Get(ctx, id); gerr != nil {
			return Parked{}, gerr
		}
		return Parked{}, fmt.Errorf("discard dead letter %s: %w", id, ErrNotParked)
	}
	if err != nil {
		return Parked{}, fmt.Errorf("discard dead letter %s: %w", id, err)
	}
	return p, nil
}
