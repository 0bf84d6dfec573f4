package store

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: the row does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint rejected the write.
	ErrConflict = errors.New("conflict")
	// ErrInvalidReference: a foreign key rejected the write.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInvalidData: a check constraint or type rejected the write.
	ErrInvalidData = errors.New("invalid data")
	// ErrUnavailable: the database could not be reached or timed out.
	ErrUnavailable = errors.New("database unavailable")
)

// Classify maps a driver error to one of the sentinels (wrapping the
// original), or returns err unchanged. It is the one place that knows
// PostgreSQL error codes.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errors.Join(ErrNotFound, err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "23505":
			return errors.Join(ErrConflict, err)
		case pg.Code == "23503":
			return errors.Join(ErrInvalidReference, err)
		case pg.Code == "23514", pg.Code == "22P02", pg.Code == "23502", pg.Code == "22001", pg.Code == "22003":
			return errors.Join(ErrInvalidData, err)
		case pg.Code == "57P01", pg.Code == "57P03", pg.Code == "53300", strings.HasPrefix(pg.Code, "08"):
			return errors.Join(ErrUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return errors.Join(ErrUnavailable, err)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return errors.Join(ErrUnavailable, err)
	}
	return err
}

// ConstraintName returns the violated constraint of a PostgreSQL error.
func ConstraintName(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.ConstraintName
	}
	return ""
}
