package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// monitorView is a monitor as the api shows it: secrets masked, status
// never null, and MAINTENANCE while a maintenance is on (checks still run;
// the stored status is the one from before the maintenance).
func monitorView(m store.Monitor) store.Monitor {
	m.Config = maskConfig(m.Config)
	if m.Status == "" {
		m.Status = store.StatusPending
	}
	if m.InMaintenance(time.Now()) {
		m.Status = store.StatusMaintenance
	}
	if m.MaintenanceWindows == nil {
		m.MaintenanceWindows = []store.MaintenanceWindow{}
	}
	return m
}

var monitorTypes = []string{store.TypeHTTP, store.TypeSSL, store.TypeHeartbeat}

// monitorFields reads the fields shared by create and update into column
// values; create additionally requires name, url and frequency (a
// HEARTBEAT monitor: see heartbeatCreateFields).
func (a *API) monitorFields(c *gin.Context, b *body, creating bool) map[string]any {
	fields := map[string]any{}
	heartbeat := creating && isHeartbeat(b)
	if s := b.str("name", creating, 200); s != nil {
		fields["name"] = *s
	}
	if n := b.integer("frequency", creating && !heartbeat, 60, 86400); n != nil {
		fields["frequency"] = *n
	}
	if v := b.boolean("isActive"); v != nil {
		fields["is_active"] = *v
	}
	if t := b.enum("monitorType", false, monitorTypes...); t != nil {
		fields["monitor_type"] = *t
	}
	if b.has("config") {
		// Still parsed: sealConfig splits the secrets out into columns.
		if cfg := parseMonitorConfig(b.raw["config"], b); cfg != nil {
			fields["config"] = cfg
		}
	}
	if n := b.integer("heartbeatIntervalSeconds", false, 10, 86400); n != nil {
		fields["heartbeat_interval_seconds"] = *n
	}
	if n := b.integer("heartbeatGraceSeconds", false, 0, 86400); n != nil {
		fields["heartbeat_grace_seconds"] = *n
	}
	if n := b.integer("failureThreshold", false, 1, 10); n != nil {
		fields["failure_threshold"] = *n
	}
	if n := b.integer("successThreshold", false, 1, 10); n != nil {
		fields["success_threshold"] = *n
	}
	maintenanceFields(b, fields)
	if heartbeat {
		heartbeatCreateFields(b, fields)
	} else if creating {
		if s := b.str("url", true, 2048); s != nil {
			if _, err := a.d.Guard.CheckURL(c.Request.Context(), *s, a.d.Resolver); err != nil {
				b.fail("url: %s", err.Error())
			} else {
				fields["url"] = *s
				requireHTTPSForSSL(b, fields, *s)
			}
		}
	}
	return fields
}

// requireHTTPSForSSL refuses to make a monitor with a plain-http url an SSL
// monitor: its check is a verified TLS handshake, which http has none of.
func requireHTTPSForSSL(b *body, fields map[string]any, rawURL string) {
	if t, _ := fields["monitor_type"].(string); t != store.TypeSSL {
		return
	}
	if u, err := url.Parse(rawURL); err == nil && strings.EqualFold(u.Scheme, "https") {
		return
	}
	b.fail("url must be an https URL for an SSL monitor")
}

// monitorBodyFields lists create's fields; update takes all but url.
var monitorBodyFields = []string{"url", "name", "frequency", "isActive", "monitorType", "config",
	"heartbeatIntervalSeconds", "heartbeatGraceSeconds", "failureThreshold", "successThreshold",
	"maintenanceUntil", "maintenanceWindows"}

func (a *API) createMonitor(c *gin.Context) {
	b, err := readBody(c, monitorBodyFields...)
	if err != nil {
		a.fail(c, err)
		return
	}
	fields := a.monitorFields(c, b, true)
	if err := b.err(); err != nil {
		a.fail(c, err)
		return
	}
	if err := a.sealConfig(c.Request.Context(), fields, fields["url"].(string), nil); err != nil {
		a.fail(c, err)
		return
	}
	m := store.Monitor{
		UserID:    caller(c).ID,
		Name:      fields["name"].(string),
		URL:       fields["url"].(string),
		Frequency: fields["frequency"].(int),
		IsActive:  true,
		Config:    json.RawMessage(`{}`),
	}
	applyFields(&m, fields)
	var secret string
	if m.MonitorType == store.TypeHeartbeat {
		var hash string
		if secret, hash, err = newHeartbeatSecret(); err != nil {
			a.fail(c, err)
			return
		}
		m.HeartbeatSecretHash = &hash
	}
	// The scheduler keeps next_check current from its first slot on.
	next := a.d.Now().Add(time.Duration(m.Frequency) * time.Second)
	m.NextCheck = &next
	if err := a.d.Monitors.Create(c.Request.Context(), &m); err != nil {
		a.fail(c, err)
		return
	}
	a.publish(c, eventsv1.ChangeKind_CHANGE_KIND_CREATED, m)
	if secret == "" {
		c.JSON(http.StatusCreated, monitorView(m))
		return
	}
	out, err := a.withHeartbeatSecret(c, monitorView(m), secret)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// applyFields copies optional create fields onto m.
func applyFields(m *store.Monitor, fields map[string]any) {
	if v, ok := fields["is_active"].(bool); ok {
		m.IsActive = v
	}
	if v, ok := fields["monitor_type"].(string); ok {
		m.MonitorType = v
	}
	if v, ok := fields["config"].(json.RawMessage); ok {
		m.Config = v
	}
	if v, ok := fields["sealed_secrets"].([]byte); ok {
		m.SealedSecrets = v
	}
	if v, ok := fields["heartbeat_interval_seconds"].(int); ok {
		m.HeartbeatIntervalSeconds = &v
	}
	if v, ok := fields["heartbeat_grace_seconds"].(int); ok {
		m.HeartbeatGraceSeconds = &v
	}
	if v, ok := fields["failure_threshold"].(int); ok {
		m.FailureThreshold = v
	}
	if v, ok := fields["success_threshold"].(int); ok {
		m.SuccessThreshold = v
	}
	if v, ok := fields["maintenance_until"].(time.Time); ok {
		m.MaintenanceUntil = &v
	}
	if v, ok := fields[store.WindowsField].([]store.MaintenanceWindow); ok {
		m.MaintenanceWindows = v
	}
	if m.MonitorType == "" {
		m.MonitorType = store.TypeHTTP
	}
	if m.FailureThreshold == 0 {
		m.FailureThreshold = 1
	}
	if m.SuccessThreshold == 0 {
		m.SuccessThreshold = 1
	}
}

// publish tells the scheduler. PostgreSQL is the source of truth and the
// scheduler's reconciler repairs a lost event, so a failed publish is
// logged, not returned to the user whose change is already saved.
func (a *API) publish(c *gin.Context, kind eventsv1.ChangeKind, m store.Monitor) {
	if err := a.d.Changes.MonitorChanged(c.Request.Context(), kind, m); err != nil {
		a.log.Warn("monitor_change_not_published", "monitor_id", m.ID, "kind", kind.String(), "err", err,
			"request_id", c.GetString(ctxRequestID))
	}
}

func (a *API) listMonitors(c *gin.Context) {
	q := readQuery(c, "page", "limit", "status", "search", "sortBy", "includeInactive", "userId", "email")
	mq := store.MonitorQuery{
		Page:            q.integer("page", 1, 1, 1_000_000),
		Limit:           q.integer("limit", 10, 1, 100),
		Status:          q.enum("status", "", true, store.StatusPending, store.StatusUp, store.StatusDown, store.StatusMaintenance, "DEGRADED", "PAUSED"),
		Search:          q.str("search"),
		SortBy:          q.enum("sortBy", store.SortRecent, false, store.MonitorSorts...),
		IncludeInactive: q.boolean("includeInactive"),
	}
	// userId and email filter for ADMIN only; the front end always sends
	// the caller's own email, so for anyone else they are ignored, never
	// validated into an error.
	if u := caller(c); u.Role == store.RoleAdmin {
		mq.UserID, mq.OwnerEmail = q.uuid("userId"), q.str("email")
	} else {
		mq.UserID = u.ID
	}
	if err := q.err(); err != nil {
		a.fail(c, err)
		return
	}
	items, total, err := a.d.Monitors.List(c.Request.Context(), mq)
	if err != nil {
		a.fail(c, err)
		return
	}
	for i := range items {
		items[i] = monitorView(items[i])
	}
	c.JSON(http.StatusOK, list(items, mq.Page, mq.Limit, total))
}

// ownedMonitor loads the monitor named by path parameter param if the
// caller may see it; another user's monitor is a 404, exactly like a
// missing one, so existence never leaks.
func (a *API) ownedMonitor(c *gin.Context, param string) (store.Monitor, bool) {
	id, err := pathID(c, param)
	if err != nil {
		a.fail(c, err)
		return store.Monitor{}, false
	}
	m, err := a.d.Monitors.Get(c.Request.Context(), id)
	u := caller(c)
	if err == nil && u.Role != store.RoleAdmin && m.UserID != u.ID {
		err = store.ErrNotFound
	}
	if store.IsNotFound(err) {
		err = errStatus(http.StatusNotFound, fmt.Sprintf("Monitor with id '%s' not found", id))
	}
	if err != nil {
		a.fail(c, err)
		return store.Monitor{}, false
	}
	return m, true
}

func (a *API) getMonitor(c *gin.Context) {
	if m, ok := a.ownedMonitor(c, "id"); ok {
		c.JSON(http.StatusOK, monitorView(m))
	}
}

func (a *API) updateMonitor(c *gin.Context) {
	m, ok := a.ownedMonitor(c, "id")
	if !ok {
		return
	}
	// url is not among the fields: it cannot change ("property url should
	// not exist"), a different target is a different monitor.
	b, err := readBody(c, monitorBodyFields[1:]...)
	if err != nil {
		a.fail(c, err)
		return
	}
	fields := a.monitorFields(c, b, false)
	heartbeatUpdateFields(b, fields, m)
	requireHTTPSForSSL(b, fields, m.URL)
	if err := b.err(); err != nil {
		a.fail(c, err)
		return
	}
	if err := a.sealConfig(c.Request.Context(), fields, m.URL, &m); err != nil {
		a.fail(c, err)
		return
	}
	wasActive := m.IsActive
	updated, err := a.d.Monitors.Update(c.Request.Context(), m.ID, fields, a.d.Now())
	if err != nil {
		a.fail(c, err)
		return
	}
	kind := eventsv1.ChangeKind_CHANGE_KIND_UPDATED
	switch {
	case wasActive && !updated.IsActive:
		kind = eventsv1.ChangeKind_CHANGE_KIND_PAUSED
	case !wasActive && updated.IsActive:
		kind = eventsv1.ChangeKind_CHANGE_KIND_RESUMED
	}
	a.publish(c, kind, updated)
	c.JSON(http.StatusOK, gin.H{"message": fmt.Sprintf("Monitor %s updated successfully", updated.ID), "monitor": monitorView(updated)})
}

func (a *API) deleteMonitor(c *gin.Context) {
	m, ok := a.ownedMonitor(c, "id")
	if !ok {
		return
	}
	deleted, err := a.d.Monitors.Delete(c.Request.Context(), m.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.publish(c, eventsv1.ChangeKind_CHANGE_KIND_DELETED, deleted)
	c.String(http.StatusOK, "Monitor deleted successfully")
}
