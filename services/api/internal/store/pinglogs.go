package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/servercheck/uptime/pkg/postgres"
)

// PingLogs reads and deletes check results.
type PingLogs struct {
	db *gorm.DB
}

// NewPingLogs returns the ping-log repository.
func NewPingLogs(db *postgres.DB) *PingLogs { return &PingLogs{db: db.Gorm} }

// PingLogQuery filters a ping-log list. Empty fields do not filter.
type PingLogQuery struct {
	MonitorID string
	// OwnerID keeps only logs of this user's monitors.
	OwnerID string
	Page    int
	Limit   int
}

// List returns one page of ping logs, newest first, and the total.
func (p *PingLogs) List(ctx context.Context, q PingLogQuery) ([]PingLog, int64, error) {
	tx := p.db.WithContext(ctx).Model(&PingLog{})
	if q.MonitorID != "" {
		tx = tx.Where("ping_logs.monitor_id = ?", q.MonitorID)
	}
	if q.OwnerID != "" {
		tx = tx.Where("ping_logs.monitor_id IN (SELECT id FROM monitors WHERE user_id = ?)", q.OwnerID)
	}
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count ping logs: %w", Classify(err))
	}
	out := []PingLog{}
	err := tx.Order(`ping_logs."timestamp" DESC, ping_logs.id`).Limit(q.Limit).Offset((q.Page - 1) * q.Limit).Find(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list ping logs: %w", Classify(err))
	}
	return out, total, nil
}

// Latest returns the monitor's n most recent ping logs, newest first.
func (p *PingLogs) Latest(ctx context.Context, monitorID string, n int) ([]PingLog, error) {
	out := []PingLog{}
	err := p.db.WithContext(ctx).Where("monitor_id = ?", monitorID).
		Order(`"timestamp" DESC`).Limit(n).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("latest ping logs of %s: %w", monitorID, Classify(err))
	}
	return out, nil
}

// Get returns one ping log and the id of its monitor's owner.
func (p *PingLogs) Get(ctx context.Context, id string) (PingLog, string, error) {
	var row struct {
		PingLog
		OwnerID string `gorm:"column:owner_id"`
	}
	err := p.db.WithContext(ctx).Table("ping_logs").
		Select("ping_logs.*, monitors.user_id AS owner_id").
		Joins("JOIN monitors ON monitors.id = ping_logs.monitor_id").
		Where("ping_logs.id = ?", id).Take(&row).Error
	if err != nil {
		return PingLog{}, "", fmt.Errorf("get ping log %s: %w", id, Classify(err))
	}
	row.UpdatedAt = row.CreatedAt
	return row.PingLog, row.OwnerID, nil
}

// Delete removes one ping log.
func (p *PingLogs) Delete(ctx context.Context, id string) error {
	res := p.db.WithContext(ctx).Where("id = ?", id).Delete(&PingLog{})
	if res.Error != nil {
		return fmt.Errorf("delete ping log %s: %w", id, Classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete ping log %s: %w", id, ErrNotFound)
	}
	return nil
}
