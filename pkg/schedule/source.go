package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/pkg/maintenance"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

// Source lists the active monitors, the schedule's source of truth.
type Source interface {
	// ActiveMonitors returns up to limit active monitors with an id
	// greater than after ("" for the first page), ordered by id.
	ActiveMonitors(ctx context.Context, after string, limit int) ([]*eventsv1.MonitorSpec, error)
}

// Postgres reads monitors from PostgreSQL.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns the PostgreSQL source.
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

// enabledWindowsJSON is a SQL expression, over a row of table monitors
// (unaliased), for the monitor's enabled maintenance windows as a JSON
// array that decodes into []maintenance.Window ("[]" without any).
const enabledWindowsJSON = `(SELECT coalesce(json_agg(json_build_object('daysOfWeek', w.days_of_week,
	        'startMinute', w.start_minute, 'durationMinutes', w.duration_minutes, 'timezone', w.timezone)
	        ORDER BY w.created_at, w.id), '[]')
	 FROM maintenance_windows w WHERE w.monitor_id = monitors.id AND w.enabled)`

const monitorColumns = `id::text, user_id::text, name, url, frequency, is_active, monitor_type, config,
	sealed_secrets, failure_threshold, success_threshold, heartbeat_interval_seconds,
	heartbeat_grace_seconds, heartbeat_last_received_at, created_at, updated_at, maintenance_until, ` + enabledWindowsJSON

// Two statements rather than "$1 IS NULL OR id > $1", which keeps a
// generic plan from scanning the primary key from its start on every page.
const (
	firstPageSQL = `SELECT ` + monitorColumns + ` FROM monitors WHERE is_active ORDER BY id LIMIT $1`
	nextPageSQL  = `SELECT ` + monitorColumns + ` FROM monitors WHERE is_active AND id > $1::uuid ORDER BY id LIMIT $2`
)

// ActiveMonitors implements Source with keyset pagination on the primary
// key.
func (p *Postgres) ActiveMonitors(ctx context.Context, after string, limit int) ([]*eventsv1.MonitorSpec, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if after == "" {
		rows, err = p.pool.Query(ctx, firstPageSQL, limit)
	} else {
		rows, err = p.pool.Query(ctx, nextPageSQL, after, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list active monitors after %q: %w", after, err)
	}
	defer rows.Close()
	specs := make([]*eventsv1.MonitorSpec, 0, limit)
	for rows.Next() {
		var (
			m       MonitorRow
			windows []byte
		)
		if err := rows.Scan(&m.ID, &m.UserID, &m.Name, &m.URL, &m.Frequency, &m.IsActive, &m.MonitorType,
			&m.Config, &m.SealedSecrets, &m.FailureThreshold, &m.SuccessThreshold,
			&m.HeartbeatIntervalSeconds, &m.HeartbeatGraceSeconds, &m.HeartbeatLastReceivedAt, &m.CreatedAt, &m.UpdatedAt, &m.MaintenanceUntil,
			&windows); err != nil {
			return nil, fmt.Errorf("read active monitors after %q: %w", after, err)
		}
		if err := json.Unmarshal(windows, &m.MaintenanceWindows); err != nil {
			return nil, fmt.Errorf("read maintenance windows of monitor %s: %w", m.ID, err)
		}
		spec, err := m.Spec()
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list active monitors after %q: %w", after, err)
	}
	return specs, nil
}

// sortHeaders orders headers by name, then value: they come from a JSON
// object, whose order Go maps do not keep, and the reconciler compares
// templates field by field.
func sortHeaders(hs []*eventsv1.Header) {
	slices.SortStableFunc(hs, func(a, b *eventsv1.Header) int {
		if c := strings.Compare(a.GetName(), b.GetName()); c != 0 {
			return c
		}
		return strings.Compare(a.GetValue(), b.GetValue())
	})
}

// MonitorRow is one row of monitors, as the scheduler reads it and the
// api publishes it: both map it to a MonitorSpec with Spec.
type MonitorRow struct {
	ID, UserID, Name, URL    string
	Frequency                int32
	IsActive                 bool
	MonitorType              string
	Config                   []byte
	SealedSecrets            []byte
	FailureThreshold         int32
	SuccessThreshold         int32
	HeartbeatIntervalSeconds *int32
	HeartbeatGraceSeconds    *int32
	// HeartbeatLastReceivedAt is the last ping as stored in PostgreSQL.
	HeartbeatLastReceivedAt *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
	// MaintenanceUntil ends a one-off maintenance; nil means none.
	MaintenanceUntil *time.Time
	// MaintenanceWindows are the monitor's enabled recurring windows.
	MaintenanceWindows []maintenance.Window
}

// SecretMask stands in monitors.config (and in API responses) for a header
// value or body the api sealed into monitors.sealed_secrets: Spec leaves it
// out of the plain request, and the checker adds the sealed value instead.
const SecretMask = "********"

// storedConfig is the part of monitors.config a job needs; the api writes
// it.
type storedConfig struct {
	HTTP *struct {
		Method              string            `json:"method"`
		Headers             map[string]string `json:"headers"`
		Body                string            `json:"body"`
		ExpectedStatusCodes []int32           `json:"expectedStatusCodes"`
		ExpectedText        string            `json:"expectedText"`
		ExpectedJSONPath    string            `json:"expectedJsonPath"`
		ExpectedJSONValue   json.RawMessage   `json:"expectedJsonValue"`
		TimeoutMs           int32             `json:"timeoutMs"`
		MaxResponseBytes    int64             `json:"maxResponseBytes"`
		FollowRedirects     *bool             `json:"followRedirects"`
	} `json:"http"`
	SSL *struct {
		AlertBeforeDays int32 `json:"alertBeforeDays"`
	} `json:"ssl"`
}

var monitorTypes = map[string]eventsv1.MonitorType{
	"HTTP":      eventsv1.MonitorType_MONITOR_TYPE_HTTP,
	"SSL":       eventsv1.MonitorType_MONITOR_TYPE_SSL,
	"HEARTBEAT": eventsv1.MonitorType_MONITOR_TYPE_HEARTBEAT,
}

// Spec maps a row to the MonitorSpec the scheduler builds jobs from.
func (m MonitorRow) Spec() (*eventsv1.MonitorSpec, error) {
	var cfg storedConfig
	if len(m.Config) > 0 {
		if err := json.Unmarshal(m.Config, &cfg); err != nil {
			return nil, fmt.Errorf("read config of monitor %s: %w", m.ID, err)
		}
	}
	spec := &eventsv1.MonitorSpec{
		Id: m.ID, UserId: m.UserID, Name: m.Name, Url: m.URL,
		FrequencySeconds: m.Frequency,
		IsActive:         m.IsActive,
		Type:             monitorTypes[m.MonitorType],
		FailureThreshold: m.FailureThreshold,
		SuccessThreshold: m.SuccessThreshold,
		UpdatedAt:        timestamppb.New(m.UpdatedAt),
		Request: &eventsv1.HTTPRequest{
			Method: "GET", TimeoutMs: DefaultTimeoutMs, MaxResponseBytes: 1 << 20, FollowRedirects: true,
			SealedSecrets: m.SealedSecrets,
		},
		SslAlertBeforeDays: 30,
		MaintenanceWindows: maintenance.ToProto(m.MaintenanceWindows),
	}
	if m.MaintenanceUntil != nil {
		spec.MaintenanceUntil = timestamppb.New(*m.MaintenanceUntil)
	}
	if m.HeartbeatIntervalSeconds != nil {
		spec.HeartbeatIntervalSeconds = *m.HeartbeatIntervalSeconds
	}
	if m.HeartbeatGraceSeconds != nil {
		spec.HeartbeatGraceSeconds = *m.HeartbeatGraceSeconds
	}
	if m.HeartbeatLastReceivedAt != nil {
		spec.HeartbeatLastReceivedAt = timestamppb.New(*m.HeartbeatLastReceivedAt)
	}
	if !m.CreatedAt.IsZero() {
		spec.CreatedAt = timestamppb.New(m.CreatedAt)
	}
	if h := cfg.HTTP; h != nil {
		r := spec.Request
		if h.Method != "" {
			r.Method = h.Method
		}
		for name, value := range h.Headers {
			if value != SecretMask {
				r.Headers = append(r.Headers, &eventsv1.Header{Name: name, Value: value})
			}
		}
		sortHeaders(r.Headers)
		if h.Body != SecretMask {
			r.Body = []byte(h.Body)
		}
		r.ExpectedStatusCodes = h.ExpectedStatusCodes
		r.ExpectedText = h.ExpectedText
		r.ExpectedJsonPath = h.ExpectedJSONPath
		r.ExpectedJsonValue = string(h.ExpectedJSONValue)
		if h.TimeoutMs > 0 {
			r.TimeoutMs = h.TimeoutMs
		}
		if h.MaxResponseBytes > 0 {
			r.MaxResponseBytes = h.MaxResponseBytes
		}
		if h.FollowRedirects != nil {
			r.FollowRedirects = *h.FollowRedirects
		}
	}
	if cfg.SSL != nil && cfg.SSL.AlertBeforeDays > 0 {
		spec.SslAlertBeforeDays = cfg.SSL.AlertBeforeDays
	}
	return spec, nil
}
