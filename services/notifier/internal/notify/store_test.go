package notify

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
)

func TestStoreClaims(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := t.Context()
	var userID, monitorID string
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO users (email) VALUES ('o@example.com') RETURNING id::text`).Scan(&userID))
	require.NoError(t, db.Pool.QueryRow(ctx, `
		INSERT INTO monitors (user_id, name, url, frequency) VALUES ($1, 'm', 'https://e.com', 60) RETURNING id::text`,
		userID).Scan(&monitorID))
	s := NewStore(db.Pool)
	claim := func(eventID, owner string, ttl time.Duration) ClaimState {
		t.Helper()
		state, err := s.Claim(ctx, Claim{EventID: eventID, MonitorID: monitorID, UserID: userID, Recipient: "o@example.com",
			Kind: "STATUS_CHANGED", ToStatus: "DOWN", OccurredAt: time.Now(), Owner: owner, TTL: ttl})
		require.NoError(t, err)
		return state
	}

	t.Run("a live claim keeps other notifiers away until it is released", func(t *testing.T) {
		t.Parallel()
		id := uuid.NewString()
		require.Equal(t, Claimed, claim(id, "a", time.Minute))
		assert.Equal(t, HeldElsewhere, claim(id, "b", time.Minute))
		require.NoError(t, s.Release(ctx, id, "b", "not b's claim"))
		assert.Equal(t, HeldElsewhere, claim(id, "b", time.Minute), "only the owner releases")
		require.NoError(t, s.Release(ctx, id, "a", "smtp down"))
		assert.Equal(t, Claimed, claim(id, "b", time.Minute))
	})

	t.Run("an expired claim is taken over", func(t *testing.T) {
		t.Parallel()
		id := uuid.NewString()
		require.Equal(t, Claimed, claim(id, "a", time.Millisecond))
		require.Eventually(t, func() bool { return claim(id, "b", time.Minute) == Claimed }, 5*time.Second, 10*time.Millisecond)
		var attempts int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT attempts FROM notifications WHERE event_id = $1`, id).Scan(&attempts))
		assert.Equal(t, 2, attempts)
	})

	t.Run("a sent event is never claimed again", func(t *testing.T) {
		t.Parallel()
		id := uuid.NewString()
		require.Equal(t, Claimed, claim(id, "a", time.Millisecond))
		require.NoError(t, s.MarkSent(ctx, id, "ses"))
		assert.Equal(t, AlreadySent, claim(id, "b", time.Minute))
	})

	t.Run("a missing monitor is reported gone", func(t *testing.T) {
		t.Parallel()
		_, err := s.Target(ctx, uuid.NewString())
		require.ErrorIs(t, err, ErrMonitorGone)
		target, err := s.Target(ctx, monitorID)
		require.NoError(t, err)
		assert.Equal(t, Target{UserID: userID, Recipient: "o@example.com", MonitorName: "m", MonitorURL: "https://e.com", Active: true}, target)
	})
}
