// Package store is the api's PostgreSQL access: users, monitors, ping logs,
// incidents and the reports built from them. JSON tags are the REST
// contract of the service we replace (camelCase, ISO-8601 UTC times).
package store

import (
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"github.com/servercheck/uptime/pkg/maintenance"
)

// Roles of a user.
const (
	RoleAdmin = "ADMIN"
	RoleUser  = "USER"
	RoleGuest = "GUEST"
)

// Monitor statuses.
const (
	StatusPending     = "PENDING"
	StatusUp          = "UP"
	StatusDown        = "DOWN"
	StatusMaintenance = "MAINTENANCE"
)

// Monitor types.
const (
	TypeHTTP      = "HTTP"
	TypeSSL       = "SSL"
	TypeHeartbeat = "HEARTBEAT"
)

// Incident statuses.
const (
	IncidentOngoing  = "ONGOING"
	IncidentResolved = "RESOLVED"
)

// User is a row of users.
type User struct {
	ID         string    `gorm:"column:id;primaryKey;default:gen_random_uuid()" json:"id"`
	CognitoSub *string   `gorm:"column:cognito_sub" json:"cognitoSub"`
	Email      string    `gorm:"column:email" json:"email"`
	Role       string    `gorm:"column:role;default:USER" json:"role"`
	CreatedAt  time.Time `gorm:"column:created_at;autoCreateTime:false;default:now()" json:"createdAt"`
	UpdatedAt  time.Time `gorm:"column:updated_at;autoUpdateTime:false;default:now()" json:"updatedAt"`
}

// TableName implements gorm's Tabler.
func (User) TableName() string { return "users" }

// Monitor is a row of monitors. Secrets (sealed headers and body, the
// heartbeat secret's hash) never leave the api.
type Monitor struct {
	ID                       string          `gorm:"column:id;primaryKey;default:gen_random_uuid()" json:"id"`
	UserID                   string          `gorm:"column:user_id" json:"userId"`
	Name                     string          `gorm:"column:name" json:"name"`
	URL                      string          `gorm:"column:url" json:"url"`
	Frequency                int             `gorm:"column:frequency" json:"frequency"`
	IsActive                 bool            `gorm:"column:is_active" json:"isActive"`
	Status                   string          `gorm:"column:status;default:PENDING" json:"status"`
	MonitorType              string          `gorm:"column:monitor_type;default:HTTP" json:"monitorType"`
	Config                   json.RawMessage `gorm:"column:config;type:jsonb;default:'{}'" json:"config"`
	SealedSecrets            []byte          `gorm:"column:sealed_secrets" json:"-"`
	FailureThreshold         int             `gorm:"column:failure_threshold;default:1" json:"failureThreshold"`
	SuccessThreshold         int             `gorm:"column:success_threshold;default:1" json:"successThreshold"`
	HeartbeatSecretHash      *string         `gorm:"column:heartbeat_secret_hash" json:"-"`
	HeartbeatIntervalSeconds *int            `gorm:"column:heartbeat_interval_seconds" json:"heartbeatIntervalSeconds"`
	HeartbeatGraceSeconds    *int            `gorm:"column:heartbeat_grace_seconds" json:"heartbeatGraceSeconds"`
	HeartbeatLastReceivedAt  *time.Time      `gorm:"column:heartbeat_last_received_at" json:"heartbeatLastReceivedAt"`
	MaintenanceUntil         *time.Time      `gorm:"column:maintenance_until" json:"maintenanceUntil"`
	// MaintenanceWindows live in their own table; the store loads and
	// saves them with the monitor.
	MaintenanceWindows      []MaintenanceWindow `gorm:"-" json:"maintenanceWindows"`
	SSLCertificateExpiresAt *time.Time          `gorm:"column:ssl_certificate_expires_at" json:"sslCertificateExpiresAt"`
	LastError               *string             `gorm:"column:last_error" json:"lastError"`
	LastWarning             *string             `gorm:"column:last_warning" json:"warning"`
	NextCheck               *time.Time          `gorm:"column:next_check" json:"nextCheck"`
	LastCheck               *time.Time          `gorm:"column:last_check" json:"lastCheck"`
	CreatedAt               time.Time           `gorm:"column:created_at;autoCreateTime:false;default:now()" json:"createdAt"`
	UpdatedAt               time.Time           `gorm:"column:updated_at;autoUpdateTime:false;default:now()" json:"updatedAt"`
}

// TableName implements gorm's Tabler.
func (Monitor) TableName() string { return "monitors" }

// MaintenanceWindow is a weekly recurring maintenance window of a monitor.
type MaintenanceWindow struct {
	maintenance.Window
	Enabled bool `json:"enabled"`
}

// InMaintenance tells whether m is in maintenance at now: before its
// one-off end or inside one of its enabled windows.
func (m Monitor) InMaintenance(now time.Time) bool {
	var windows []maintenance.Window
	for _, w := range m.MaintenanceWindows {
		if w.Enabled {
			windows = append(windows, w.Window)
		}
	}
	return maintenance.Active(now, m.MaintenanceUntil, windows)
}

// PingLog is one check result as the API shows it.
type PingLog struct {
	ID         string    `gorm:"column:id" json:"id"`
	MonitorID  string    `gorm:"column:monitor_id" json:"monitorId"`
	Slot       time.Time `gorm:"column:slot" json:"slot"`
	Timestamp  time.Time `gorm:"column:timestamp" json:"timestamp"`
	StatusCode int       `gorm:"column:status_code" json:"statusCode"`
	DurationMs int       `gorm:"column:duration_ms" json:"durationMs"`
	Success    bool      `gorm:"column:success" json:"success"`
	Error      *string   `gorm:"column:error" json:"error"`
	Attempts   int       `gorm:"column:attempts" json:"attempts"`
	Warning    *string   `gorm:"column:warning" json:"warning"`
	CreatedAt  time.Time `gorm:"column:created_at" json:"createdAt"`
	// UpdatedAt is kept for the old contract: ping logs never change, so it
	// equals CreatedAt.
	UpdatedAt time.Time `gorm:"-" json:"updatedAt"`
	// CertificateExpiresAt is the server certificate's expiry seen by the
	// check (SSL monitors and HTTP over TLS); null otherwise.
	CertificateExpiresAt *time.Time `gorm:"column:certificate_expires_at" json:"certificateExpiresAt"`
}

// AfterFind implements gorm's hook: it fills UpdatedAt.
func (p *PingLog) AfterFind(*gorm.DB) error {
	p.UpdatedAt = p.CreatedAt
	return nil
}

// TableName implements gorm's Tabler.
func (PingLog) TableName() string { return "ping_logs" }

// Incident is a row of incidents.
type Incident struct {
	ID              string     `gorm:"column:id;primaryKey;default:gen_random_uuid()" json:"id"`
	MonitorID       string     `gorm:"column:monitor_id" json:"monitorId"`
	UserID          string     `gorm:"column:user_id" json:"userId"`
	Status          string     `gorm:"column:status" json:"status"`
	StartedAt       time.Time  `gorm:"column:started_at" json:"startedAt"`
	EndedAt         *time.Time `gorm:"column:ended_at" json:"endedAt"`
	FirstStatusCode *int       `gorm:"column:first_status_code" json:"-"`
	FirstError      *string    `gorm:"column:first_error" json:"firstError"`
	LastError       *string    `gorm:"column:last_error" json:"lastError"`
	AffectedChecks  int        `gorm:"column:affected_checks" json:"affectedChecks"`
	CreatedAt       time.Time  `gorm:"column:created_at;autoCreateTime:false;default:now()" json:"createdAt"`
	UpdatedAt       time.Time  `gorm:"column:updated_at;autoUpdateTime:false;default:now()" json:"updatedAt"`
}

// TableName implements gorm's Tabler.
func (Incident) TableName() string { return "incidents" }
