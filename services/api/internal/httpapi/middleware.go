package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"

	"github.com/servercheck/uptime/services/api/internal/auth"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// Keys of values stored on the gin context.
const (
	ctxRequestID = "request_id"
	ctxUser      = "user"
)

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID echoes a well-formed x-request-id or makes one.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !requestIDRE.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Header("X-Request-Id", id)
		c.Next()
	}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) httpMetrics {
	f := promauto.With(reg)
	return httpMetrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "uptime_api_requests_total", Help: "HTTP requests by route and status."}, []string{"method", "route", "status"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "uptime_api_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: prometheus.DefBuckets}, []string{"method", "route"}),
	}
}

// observe logs one JSON line per request and records metrics by route
// template (never by raw path, which would explode label cardinality).
func observe(logger *slog.Logger, m httpMetrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if strings.HasPrefix(route, "/health") || route == "/metrics" {
			level = slog.LevelDebug
		}
		logger.Log(c.Request.Context(), level, "http_request",
			"request_id", c.GetString(ctxRequestID), "method", c.Request.Method, "route", route,
			"status", status, "duration_ms", elapsed.Milliseconds(), "client_ip", c.ClientIP())
	}
}

// recovery turns a handler panic into a 500 without crashing the service.
func recovery(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("handler_panic", "panic", r, "request_id", c.GetString(ctxRequestID))
				respondError(c, logger, errStatus(http.StatusInternalServerError, "Internal server error"))
			}
		}()
		c.Next()
	}
}

// securityHeaders sets what helmet set for the old service. The Swagger UI
// needs scripts and styles of its own origin.
func securityHeaders(production bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("X-DNS-Prefetch-Control", "off")
		if strings.HasPrefix(c.Request.URL.Path, "/api/docs") {
			h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		} else {
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		if production {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		c.Next()
	}
}

// cors allows the front end's origin(s) with credentials.
func cors(origins []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin != "" && slices.Contains(origins, origin) {
			h := c.Writer.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
			h.Add("Vary", "Origin")
			if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id")
				h.Set("Access-Control-Max-Age", "600")
				c.AbortWithStatus(http.StatusNoContent)
				return
			}
		}
		c.Next()
	}
}

// RateLimitConfig sizes the per-client token bucket.
type RateLimitConfig struct {
	// PerSecond is the sustained rate per client IP.
	PerSecond float64
	// Burst is how many requests a client may send at once.
	Burst int
}

// limiter keeps one token bucket per client IP. Idle buckets are swept
// by Run.
type limiter struct {
	cfg     RateLimitConfig
	mu      sync.Mutex
	clients map[string]*client
	now     func() time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(cfg RateLimitConfig, now func() time.Time) *limiter {
	return &limiter{cfg: cfg, clients: map[string]*client{}, now: now}
}

// reserve takes a token for ip; when none is left it returns how long to wait.
func (l *limiter) reserve(ip string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	cl, ok := l.clients[ip]
	if !ok {
		cl = &client{lim: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)}
		l.clients[ip] = cl
	}
	cl.seen = now
	l.mu.Unlock()
	r := cl.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiter) sweep() {
	cutoff := l.now().Add(-10 * time.Minute)
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, cl := range l.clients {
		if cl.seen.Before(cutoff) {
			delete(l.clients, ip)
		}
	}
}

// Run sweeps idle clients until ctx ends.
func (l *limiter) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.sweep()
		}
	}
}

func (l *limiter) middleware(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		ok, wait := l.reserve(c.ClientIP())
		if !ok {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			respondError(c, logger, errStatus(http.StatusTooManyRequests, "Too many requests, retry later"))
			return
		}
		c.Next()
	}
}

// TokenVerifier checks a bearer token.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Claims, error)
}

// UserResolver maps verified claims to a user row (provisioning it).
type UserResolver interface {
	Resolve(ctx context.Context, id store.Identity, adminEmails []string) (store.User, error)
}

// authenticate requires a valid bearer token and loads the caller.
func authenticate(v TokenVerifier, users UserResolver, adminEmails []string, logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		raw, err := auth.BearerToken(c.GetHeader("Authorization"))
		if err == nil {
			var claims auth.Claims
			claims, err = v.Verify(ctx, raw)
			if err == nil {
				var user store.User
				// An unverified email (users can change theirs in Cognito)
				// proves nothing: such a token is known by its sub only.
				email := claims.Email
				if !claims.EmailVerified {
					email = ""
				}
				user, err = users.Resolve(ctx, store.Identity{Email: email, Subject: claims.Subject}, adminEmails)
				if err == nil {
					c.Set(ctxUser, user)
					c.Next()
					return
				}
				if store.IsNotFound(err) {
					err = errStatus(http.StatusUnauthorized, "Unknown user: sign in once with an ID token")
				}
			}
		}
		if errors.Is(err, auth.ErrUnauthorized) {
			err = errStatus(http.StatusUnauthorized, err.Error())
		}
		respondError(c, logger, err)
	}
}

func caller(c *gin.Context) store.User {
	u, _ := c.Get(ctxUser)
	user, _ := u.(store.User)
	return user
}

// requireRole admits only the listed roles (403 otherwise).
func requireRole(logger *slog.Logger, roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !slices.Contains(roles, caller(c).Role) {
			respondError(c, logger, errStatus(http.StatusForbidden, "Forbidden resource"))
			return
		}
		c.Next()
	}
}

// writable refuses GUEST callers: GUEST is read-only.
func writable(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		if caller(c).Role == store.RoleGuest {
			respondError(c, logger, errStatus(http.StatusForbidden, "GUEST users have read-only access"))
			return
		}
		c.Next()
	}
}
