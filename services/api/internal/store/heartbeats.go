package store

import (
	"context"
	"fmt"
	"time"
)

// RecordHeartbeat notes a ping at at of the active HEARTBEAT monitor whose
// secret hashes to hash (the unique index finds it), keeping the latest
// time, and returns the monitor's id and stored hash; ErrNotFound when no
// active HEARTBEAT monitor has that hash.
func (m *Monitors) RecordHeartbeat(ctx context.Context, hash string, at time.Time) (id, storedHash string, err error) {
	var row struct {
		ID   string `gorm:"column:id"`
		Hash string `gorm:"column:hash"`
	}
	res := m.db.WithContext(ctx).Raw(`
		UPDATE monitors SET heartbeat_last_received_at = GREATEST(heartbeat_last_received_at, ?)
		WHERE heartbeat_secret_hash = ? AND monitor_type = ? AND is_active
		RETURNING id::text AS id, heartbeat_secret_hash AS hash`, at, hash, TypeHeartbeat).Scan(&row)
	if res.Error != nil {
		return "", "", fmt.Errorf("record heartbeat: %w", Classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return "", "", fmt.Errorf("record heartbeat: %w", ErrNotFound)
	}
	return row.ID, row.Hash, nil
}
