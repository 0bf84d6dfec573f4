package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/services/api/internal/store"
)

// HeartbeatRecorder notes a monitor's ping where the checker reads it when
// it evaluates the monitor (pkg/heartbeat, in Redis).
type HeartbeatRecorder interface {
	Record(ctx context.Context, monitorID string, at time.Time) error
}

const (
	// heartbeatSecretBytes of randomness make a secret (43 base64url
	// characters); longer presented secrets are not even hashed.
	heartbeatSecretBytes  = 32
	maxHeartbeatSecretLen = 256
	// heartbeatPath is the public ping route under /api/v1.
	heartbeatPath = "/heartbeats/"
)

// heartbeatRateLimit bounds pings per secret, on top of the per-IP limit:
// a job pinging every second is served, a loop hammering one secret is not.
var heartbeatRateLimit = RateLimitConfig{PerSecond: 2, Burst: 10}

var errHeartbeatNotFound = errStatus(http.StatusNotFound, "Heartbeat endpoint not found")

// newHeartbeatSecret returns a random secret and the SHA-256 hex that is
// stored in its place: the secret itself is shown once and never kept.
func newHeartbeatSecret() (secret, hash string, err error) {
	b := make([]byte, heartbeatSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate heartbeat secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, hashHeartbeatSecret(secret), nil
}

func hashHeartbeatSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// isHeartbeat tells whether a create body asks for a HEARTBEAT monitor (its
// monitorType is validated with the other fields).
func isHeartbeat(b *body) bool {
	var t string
	return b.has("monitorType") && json.Unmarshal(b.raw["monitorType"], &t) == nil &&
		strings.EqualFold(strings.TrimSpace(t), store.TypeHeartbeat)
}

// heartbeatCreateFields completes a HEARTBEAT monitor's fields on create. It
// is pushed to, never requested: its url is optional, a label only, neither
// resolved nor SSRF-checked (stored "" when absent). Its interval defaults
// to its frequency and its frequency to its interval (clamped to
// 60..86400), so one of the two is required; the grace defaults to the
// interval, as in the replaced service.
func heartbeatCreateFields(b *body, fields map[string]any) {
	fields["url"] = ""
	if s := b.text("url", false, 2048); s != nil {
		raw := strings.TrimSpace(*s)
		if u, err := url.Parse(raw); raw != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			b.fail("url must be an http(s) URL or empty for a HEARTBEAT monitor")
		}
		fields["url"] = raw
	}
	interval, hasInterval := fields["heartbeat_interval_seconds"].(int)
	freq, hasFreq := fields["frequency"].(int)
	switch {
	case !hasInterval && !hasFreq:
		if !b.has("heartbeatIntervalSeconds") && !b.has("frequency") {
			b.fail("heartbeatIntervalSeconds should not be empty")
		}
		return
	case !hasInterval:
		interval = freq
		fields["heartbeat_interval_seconds"] = interval
	case !hasFreq:
		fields["frequency"] = heartbeatFrequency(interval)
	}
	if _, ok := fields["heartbeat_grace_seconds"]; !ok && !b.has("heartbeatGraceSeconds") {
		fields["heartbeat_grace_seconds"] = interval
	}
}

// heartbeatUpdateFields checks an update of monitor m: a monitor cannot
// become or stop being a HEARTBEAT monitor (one has a secret and no target,
// the others a target and no secret), and a new interval moves the
// frequency along unless one is sent.
func heartbeatUpdateFields(b *body, fields map[string]any, m store.Monitor) {
	if t, ok := fields["monitor_type"].(string); ok && (t == store.TypeHeartbeat) != (m.MonitorType == store.TypeHeartbeat) {
		b.fail("monitorType cannot change to or from HEARTBEAT; create a new monitor instead")
	}
	if iv, ok := fields["heartbeat_interval_seconds"].(int); ok && m.MonitorType == store.TypeHeartbeat && !b.has("frequency") {
		fields["frequency"] = heartbeatFrequency(iv)
	}
}

// heartbeatFrequency is how often a monitor with interval (seconds) is
// checked: every interval, within the schedule's 60..86400 s.
func heartbeatFrequency(interval int) int { return min(max(interval, 60), 86400) }

// heartbeatURL is where monitored jobs send their pings: PUBLIC_API_URL,
// or else the scheme and host the caller reached the api on.
func (a *API) heartbeatURL(c *gin.Context, secret string) string {
	base := strings.TrimRight(a.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if c.Request.TLS != nil || strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		base = scheme + "://" + c.Request.Host
	}
	return base + "/api/v1" + heartbeatPath + secret
}

// withHeartbeatSecret adds the secret and its URL to a monitor's JSON, the
// one time they are shown (create and rotation).
func (a *API) withHeartbeatSecret(c *gin.Context, view any, secret string) (any, error) {
	raw, err := json.Marshal(view)
	if err != nil {
		return nil, fmt.Errorf("encode monitor: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode monitor: %w", err)
	}
	out["heartbeatSecret"] = secret
	out["heartbeatUrl"] = a.heartbeatURL(c, secret)
	return out, nil
}

// rotateHeartbeatSecret replaces a HEARTBEAT monitor's secret: the old URL
// stops working at once and the new secret is shown this once.
func (a *API) rotateHeartbeatSecret(c *gin.Context) {
	m, ok := a.ownedMonitor(c, "id")
	if !ok {
		return
	}
	if m.MonitorType != store.TypeHeartbeat {
		a.fail(c, errStatus(http.StatusBadRequest, "Only HEARTBEAT monitors have a heartbeat secret"))
		return
	}
	secret, hash, err := newHeartbeatSecret()
	if err != nil {
		a.fail(c, err)
		return
	}
	updated, err := a.d.Monitors.Update(c.Request.Context(), m.ID, map[string]any{"heartbeat_secret_hash": hash}, a.d.Now())
	if err != nil {
		a.fail(c, err)
		return
	}
	out, err := a.withHeartbeatSecret(c, monitorView(updated), secret)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// receiveHeartbeat records a ping (public: the secret is the credential).
// The presented secret is hashed and looked up by its hash through the
// unique index, then compared in constant time, so response times do not
// depend on how much of a stored secret was guessed. The ping is stored in
// PostgreSQL (heartbeatLastReceivedAt) and in Redis, where the checker
// reads it: the status, incidents and emails follow from the next check,
// never from here. The secret is never logged: access logs and metrics
// name the route template, not the path.
func (a *API) receiveHeartbeat(c *gin.Context) {
	secret := c.Param("secret")
	if secret == "" || len(secret) > maxHeartbeatSecretLen {
		a.fail(c, errHeartbeatNotFound)
		return
	}
	hash := hashHeartbeatSecret(secret)
	if ok, wait := a.pings.reserve(hash); !ok {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		a.fail(c, errStatus(http.StatusTooManyRequests, "Too many requests, retry later"))
		return
	}
	ctx := c.Request.Context()
	// Milliseconds: what Redis keeps, so the answer matches what the
	// checker will see.
	now := a.d.Now().UTC().Truncate(time.Millisecond)
	id, stored, err := a.d.Monitors.RecordHeartbeat(ctx, hash, now)
	if store.IsNotFound(err) || (err == nil && subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1) {
		a.fail(c, errHeartbeatNotFound)
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.d.Heartbeats.Record(ctx, id, now); err != nil {
		// Unrecorded for the checker: 503, so that the job pings again.
		a.fail(c, errors.Join(store.ErrUnavailable, err))
		return
	}
	code := http.StatusCreated
	if c.Request.Method == http.MethodGet {
		code = http.StatusOK
	}
	c.JSON(code, gin.H{"accepted": true, "receivedAt": now})
}
