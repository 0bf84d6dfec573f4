package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/servercheck/uptime/pkg/maintenance"
	"github.com/servercheck/uptime/pkg/postgres"
)

// Monitors is the monitors table.
type Monitors struct {
	db *gorm.DB
}

// NewMonitors returns the monitors repository.
func NewMonitors(db *postgres.DB) *Monitors { return &Monitors{db: db.Gorm} }

// Sort orders of monitor lists.
const (
	SortRecent     = "recent"
	SortOldest     = "oldest"
	SortNameAsc    = "name_asc"
	SortNameDesc   = "name_desc"
	SortStatusDown = "status_down"
	SortStatusUp   = "status_up"
)

// MonitorSorts lists the accepted sortBy values.
var MonitorSorts = []string{SortRecent, SortOldest, SortNameAsc, SortNameDesc, SortStatusDown, SortStatusUp}

// MonitorQuery filters a monitor list. Empty fields do not filter.
type MonitorQuery struct {
	UserID          string
	OwnerEmail      string
	Status          string
	Search          string
	SortBy          string
	IncludeInactive bool
	Page            int
	Limit           int
}

// EscapeLike escapes LIKE wildcards in user input (used with ESCAPE '\').
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// inMaintenance is a SQL condition on a monitors row: in maintenance at at
// (an SQL expression), by its one-off end or one of its enabled windows
// (maintenance_window_monitors, migration 00008, the SQL twin of
// Monitor.InMaintenance; evaluated once per query).
func inMaintenance(at string) string {
	return "(coalesce(monitors.maintenance_until > " + at + ", false) OR monitors.id IN (SELECT maintenance_window_monitors(" + at + ")))"
}

// effectiveStatus is a monitor's status as the api shows it: MAINTENANCE
// while a maintenance is on, else the stored status.
var effectiveStatus = "CASE WHEN " + inMaintenance("now()") + " THEN 'MAINTENANCE' ELSE monitors.status END"

// orderBy sorts the whole result, so status sorts are not page-local.
func orderBy(sortBy string) string {
	switch sortBy {
	case SortOldest:
		return "monitors.created_at ASC, monitors.id"
	case SortNameAsc:
		return "lower(monitors.name) ASC, monitors.created_at DESC, monitors.id"
	case SortNameDesc:
		return "lower(monitors.name) DESC, monitors.created_at DESC, monitors.id"
	case SortStatusDown:
		return "CASE " + effectiveStatus + " WHEN 'DOWN' THEN 0 WHEN 'UP' THEN 1 ELSE 2 END, monitors.created_at DESC, monitors.id"
	case SortStatusUp:
		return "CASE " + effectiveStatus + " WHEN 'UP' THEN 0 WHEN 'DOWN' THEN 1 ELSE 2 END, monitors.created_at DESC, monitors.id"
	default:
		return "monitors.created_at DESC, monitors.id"
	}
}

// List returns one page of monitors and the total matching the query.
func (m *Monitors) List(ctx context.Context, q MonitorQuery) ([]Monitor, int64, error) {
	tx := m.db.WithContext(ctx).Model(&Monitor{})
	if q.UserID != "" {
		tx = tx.Where("monitors.user_id = ?", q.UserID)
	}
	if q.OwnerEmail != "" {
		tx = tx.Where("monitors.user_id IN (SELECT id FROM users WHERE email = ?)", strings.ToLower(q.OwnerEmail))
	}
	if q.Status != "" {
		tx = tx.Where(effectiveStatus+" = ?", q.Status)
	}
	if !q.IncludeInactive {
		tx = tx.Where("monitors.is_active")
	}
	if q.Search != "" {
		like := "%" + EscapeLike(strings.ToLower(q.Search)) + "%"
		tx = tx.Where(`(lower(monitors.name) LIKE ? ESCAPE '\' OR lower(monitors.url) LIKE ? ESCAPE '\')`, like, like)
	}
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count monitors: %w", Classify(err))
	}
	out := []Monitor{}
	err := tx.Order(orderBy(q.SortBy)).Limit(q.Limit).Offset((q.Page - 1) * q.Limit).Find(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list monitors: %w", Classify(err))
	}
	if err := loadWindows(ctx, m.db, out); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// WindowsField is the key of Update's fields that replaces a monitor's
// maintenance windows ([]MaintenanceWindow; nil or empty removes them).
const WindowsField = "maintenance_windows"

// Create inserts a monitor and its maintenance windows; ID, status and
// timestamps come from the database.
func (m *Monitors) Create(ctx context.Context, mon *Monitor) error {
	err := m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Omit("id", "status", "created_at", "updated_at", "last_check").Create(mon).Error; err != nil {
			return err
		}
		return saveWindows(tx, mon.ID, mon.MaintenanceWindows)
	})
	if err != nil {
		return fmt.Errorf("create monitor %q: %w", mon.Name, Classify(err))
	}
	return m.reload(ctx, mon)
}

func (m *Monitors) reload(ctx context.Context, mon *Monitor) error {
	got, err := m.Get(ctx, mon.ID)
	if err != nil {
		return err
	}
	*mon = got
	return nil
}

// Get returns one monitor, whoever owns it: callers check ownership.
func (m *Monitors) Get(ctx context.Context, id string) (Monitor, error) {
	var mon Monitor
	if err := m.db.WithContext(ctx).Where("id = ?", id).Take(&mon).Error; err != nil {
		return Monitor{}, fmt.Errorf("get monitor %s: %w", id, Classify(err))
	}
	ms := []Monitor{mon}
	if err := loadWindows(ctx, m.db, ms); err != nil {
		return Monitor{}, err
	}
	return ms[0], nil
}

// windowRow is a row of maintenance_windows.
type windowRow struct {
	MonitorID       string   `gorm:"column:monitor_id"`
	DaysOfWeek      intArray `gorm:"column:days_of_week"`
	StartMinute     int      `gorm:"column:start_minute"`
	DurationMinutes int      `gorm:"column:duration_minutes"`
	Timezone        string   `gorm:"column:timezone"`
	Enabled         bool     `gorm:"column:enabled"`
}

// loadWindows fills the maintenance windows of ms with one query.
func loadWindows(ctx context.Context, db *gorm.DB, ms []Monitor) error {
	if len(ms) == 0 {
		return nil
	}
	ids := make([]string, len(ms))
	for i, mon := range ms {
		ids[i] = mon.ID
	}
	var rows []windowRow
	err := db.WithContext(ctx).Table("maintenance_windows").
		Select("monitor_id::text AS monitor_id, days_of_week, start_minute, duration_minutes, timezone, enabled").
		Where("monitor_id IN ?", ids).Order("created_at, id").Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("load maintenance windows of %d monitors: %w", len(ms), Classify(err))
	}
	byMonitor := map[string][]MaintenanceWindow{}
	for _, r := range rows {
		byMonitor[r.MonitorID] = append(byMonitor[r.MonitorID], MaintenanceWindow{
			Window: maintenance.Window{Days: r.DaysOfWeek, StartMinute: r.StartMinute,
				DurationMinutes: r.DurationMinutes, TimeZone: r.Timezone},
			Enabled: r.Enabled,
		})
	}
	for i := range ms {
		ms[i].MaintenanceWindows = byMonitor[ms[i].ID]
		if ms[i].MaintenanceWindows == nil {
			ms[i].MaintenanceWindows = []MaintenanceWindow{}
		}
	}
	return nil
}

// intArray is a PostgreSQL integer[] through database/sql, which hands
// arrays over as their text form ("{0,6}").
type intArray []int

// Scan implements sql.Scanner.
func (a *intArray) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("scan integer[] from %T", src)
	}
	text = strings.Trim(text, "{}")
	*a = (*a)[:0]
	if text == "" {
		return nil
	}
	for _, part := range strings.Split(text, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("scan integer[] element %q: %w", part, err)
		}
		*a = append(*a, n)
	}
	return nil
}

// Value implements driver.Valuer.
func (a intArray) Value() (driver.Value, error) {
	parts := make([]string, len(a))
	for i, n := range a {
		parts[i] = strconv.Itoa(n)
	}
	return "{" + strings.Join(parts, ",") + "}", nil
}

// saveWindows replaces the maintenance windows of a monitor.
func saveWindows(tx *gorm.DB, monitorID string, ws []MaintenanceWindow) error {
	if err := tx.Exec("DELETE FROM maintenance_windows WHERE monitor_id = ?", monitorID).Error; err != nil {
		return err
	}
	for _, w := range ws {
		days := make(intArray, len(w.Days))
		copy(days, w.Days)
		// clock_timestamp, not now(): created_at keeps the order the windows
		// were given in, which now() (one value per transaction) would not.
		if err := tx.Exec(`INSERT INTO maintenance_windows (monitor_id, days_of_week, start_minute, duration_minutes, timezone, enabled, created_at)
			VALUES (?, ?, ?, ?, ?, ?, clock_timestamp())`, monitorID, days, w.StartMinute, w.DurationMinutes, w.TimeZone, w.Enabled).Error; err != nil {
			return err
		}
	}
	return nil
}

// Update applies fields (column -> value) to a monitor. Deactivating it
// resolves its ongoing incidents in the same transaction: a paused monitor
// is not down.
func (m *Monitors) Update(ctx context.Context, id string, fields map[string]any, now time.Time) (Monitor, error) {
	windows, replaceWindows := fields[WindowsField].([]MaintenanceWindow)
	if _, ok := fields[WindowsField]; ok {
		fields = maps.Clone(fields)
		delete(fields, WindowsField)
		// The row itself may not change: bump updated_at so that the
		// scheduler takes the new spec as newer than the one it holds.
		fields["updated_at"] = now
		replaceWindows = true
	}
	err := m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(fields) > 0 {
			res := tx.Model(&Monitor{}).Where("id = ?", id).Updates(fields)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return ErrNotFound
			}
		}
		if replaceWindows {
			if err := saveWindows(tx, id, windows); err != nil {
				return err
			}
		}
		if active, ok := fields["is_active"].(bool); ok && !active {
			return tx.Model(&Incident{}).Where("monitor_id = ? AND status = ?", id, IncidentOngoing).
				Updates(map[string]any{"status": IncidentResolved, "ended_at": now}).Error
		}
		return nil
	})
	if err != nil {
		return Monitor{}, fmt.Errorf("update monitor %s: %w", id, Classify(err))
	}
	return m.Get(ctx, id)
}

// Delete removes a monitor (its ping logs, incidents and rollups cascade)
// and returns the deleted row.
func (m *Monitors) Delete(ctx context.Context, id string) (Monitor, error) {
	var mon Monitor
	res := m.db.WithContext(ctx).Clauses(clause.Returning{}).Where("id = ?", id).Delete(&mon)
	if res.Error != nil {
		return Monitor{}, fmt.Errorf("delete monitor %s: %w", id, Classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return Monitor{}, fmt.Errorf("delete monitor %s: %w", id, ErrNotFound)
	}
	return mon, nil
}
