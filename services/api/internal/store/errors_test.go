package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/servercheck/uptime/pkg/testenv"
)

var sentinels = []error{ErrNotFound, ErrConflict, ErrInvalidReference, ErrInvalidData, ErrUnavailable}

func TestClassifyMapsDatabaseErrorsToSentinels(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	g := db.Gorm.WithContext(t.Context())
	var userID string
	require.NoError(t, g.Raw(`INSERT INTO users (email) VALUES ('taken@example.com') RETURNING id::text`).Scan(&userID).Error)

	cases := []struct {
		name       string
		err        func(t *testing.T) error
		want       error
		constraint string
	}{
		{"a unique violation is a conflict", func(*testing.T) error {
			return g.Exec(`INSERT INTO users (email) VALUES ('taken@example.com')`).Error
		}, ErrConflict, "users_email_key"},
		{"a foreign key violation is an invalid reference", func(*testing.T) error {
			return g.Exec(`INSERT INTO monitors (user_id, name, url, frequency) VALUES (gen_random_uuid(), 'x', 'https://example.com', 60)`).Error
		}, ErrInvalidReference, "monitors_user_id_fkey"},
		{"a check violation is invalid data", func(*testing.T) error {
			return g.Exec(`INSERT INTO monitors (user_id, name, url, frequency) VALUES (?, 'x', 'https://example.com', 10)`, userID).Error
		}, ErrInvalidData, "monitors_frequency_range"},
		{"a not-null violation is invalid data", func(*testing.T) error {
			return g.Exec(`INSERT INTO monitors (user_id, name, url, frequency) VALUES (?, NULL, 'https://example.com', 60)`, userID).Error
		}, ErrInvalidData, ""},
		{"a malformed uuid is invalid data", func(*testing.T) error {
			var n int
			return g.Raw(`SELECT count(*) FROM users WHERE id = ?`, "not-a-uuid").Scan(&n).Error
		}, ErrInvalidData, ""},
		{"a missing row is not found", func(*testing.T) error {
			var u User
			return g.Where("id = ?", "00000000-0000-4000-8000-000000000000").Take(&u).Error
		}, ErrNotFound, ""},
		{"gorm's record-not-found, wrapped, is not found", func(*testing.T) error {
			return fmt.Errorf("load: %w", gorm.ErrRecordNotFound)
		}, ErrNotFound, ""},
		{"a refused connection is unavailable", func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://nobody:secret@127.0.0.1:%d/none?sslmode=disable&connect_timeout=5", testenv.FreePort(t)))
			if err == nil {
				_ = conn.Close(ctx)
			}
			require.Error(t, err)
			return err
		}, ErrUnavailable, ""},
		{"a deadline is unavailable", func(*testing.T) error {
			return fmt.Errorf("query: %w", context.DeadlineExceeded)
		}, ErrUnavailable, ""},
		{"an admin shutdown is unavailable", func(*testing.T) error {
			return &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
		}, ErrUnavailable, ""},
		{"a connection exception class error is unavailable", func(*testing.T) error {
			return &pgconn.PgError{Code: "08006", Message: "connection failure"}
		}, ErrUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			orig := tc.err(t)
			require.Error(t, orig)
			got := Classify(orig)
			require.ErrorIs(t, got, tc.want)
			for _, s := range sentinels {
				if s != tc.want { //nolint:errorlint // comparing sentinel identities
					assert.NotErrorIs(t, got, s)
				}
			}
			assert.ErrorIs(t, got, orig, "the original error stays reachable")
			assert.Equal(t, tc.constraint, ConstraintName(got))
		})
	}
}

func TestClassifyLeavesOtherErrorsUnchanged(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	g := db.Gorm.WithContext(t.Context())
	boom := errors.New("boom")

	cases := []struct {
		name string
		err  func() error
	}{
		{"a plain error is unchanged", func() error { return boom }},
		{"a wrapped plain error is unchanged", func() error { return fmt.Errorf("wrapped: %w", boom) }},
		{"an unclassified PostgreSQL error is unchanged", func() error { return g.Exec(`SELECT * FROM no_such_table`).Error }},
		{"a syntax error is unchanged", func() error { return g.Exec(`SELEKT 1`).Error }},
		{"a canceled context is unchanged", func() error { return context.Canceled }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			orig := tc.err()
			require.Error(t, orig)
			got := Classify(orig)
			assert.Equal(t, orig, got)
			for _, s := range sentinels {
				assert.NotErrorIs(t, got, s)
			}
		})
	}
	t.Run("nil stays nil", func(t *testing.T) {
		t.Parallel()
		assert.NoError(t, Classify(nil))
	})
}
