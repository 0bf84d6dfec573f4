package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/pkg/netguard"
	"github.com/servercheck/uptime/pkg/secretbox"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// ChangePublisher tells the scheduler that a monitor changed.
type ChangePublisher interface {
	MonitorChanged(ctx context.Context, kind eventsv1.ChangeKind, m store.Monitor) error
}

// URLGuard refuses monitor URLs that point at private or special addresses.
type URLGuard interface {
	CheckURL(ctx context.Context, raw string, r netguard.Resolver) (*url.URL, error)
}

// AdminOps serves the ADMIN operational routes.
type AdminOps interface {
	// Stats returns live pipeline figures (only what exists; never invented).
	Stats(ctx context.Context) (any, error)
	// RequestFlush asks every log-writer to flush and returns how many
	// received the request.
	RequestFlush(ctx context.Context) (int64, error)
}

// Config is what the HTTP layer needs besides its dependencies.
type Config struct {
	Production  bool
	CORSOrigins []string
	AdminEmails []string
	RateLimit   RateLimitConfig
	// TrustedProxies may set X-Forwarded-For (the client address used for
	// rate limits and logs); none by default.
	TrustedProxies []string
	// PublicURL is the api's base URL as monitored systems reach it
	// (PUBLIC_API_URL); heartbeat URLs start with it. Empty: the scheme
	// and host of the request that creates the monitor.
	PublicURL string
}

// Deps are the api's collaborators, wired in run.go.
type Deps struct {
	Users    *store.Users
	Monitors *store.Monitors
	PingLogs *store.PingLogs
	Reports  *store.Reports
	Verifier TokenVerifier
	Changes  ChangePublisher
	Guard    URLGuard
	Resolver netguard.Resolver
	Admin    AdminOps
	// DeadLetters serves the ADMIN dead-letter routes.
	DeadLetters DeadLetterOps
	Health      *httpserver.Health
	Registry    *prometheus.Registry
	Logger      *slog.Logger
	Now         func() time.Time
	// DevJWKS, when set, is served at /dev-issuer/.well-known/jwks.json.
	DevJWKS []byte
	// Live feeds GET /events; nil answers 503.
	Live LiveEvents
	// Queue serves the ADMIN queue routes.
	Queue QueueOps
	// Secrets seals monitors' header values and body before they are
	// stored, and opens them when an update keeps a masked value.
	Secrets *secretbox.Box
	// Heartbeats records HEARTBEAT monitors' pings for the checker.
	Heartbeats HeartbeatRecorder
}

// API holds the handlers.
type API struct {
	cfg     Config
	d       Deps
	log     *slog.Logger
	limiter *limiter
	// pings limits heartbeat pings per secret.
	pings   *limiter
	metrics httpMetrics
	// stopping closes when Run ends, ending every event stream so that
	// HTTP shutdown does not wait for them.
	stopping chan struct{}
}

// New returns the API; Handler builds its router and Limiter must run as a
// component (it sweeps idle rate-limit buckets).
func New(cfg Config, d Deps) *API {
	return &API{
		cfg: cfg, d: d, log: d.Logger.With("component", "http_api"),
		limiter:  newLimiter(cfg.RateLimit, d.Now),
		pings:    newLimiter(heartbeatRateLimit, d.Now),
		metrics:  newHTTPMetrics(d.Registry),
		stopping: make(chan struct{}),
	}
}

// Run sweeps idle rate-limit buckets until ctx ends, then ends every live
// event stream. It is a lifecycle component.
func (a *API) Run(ctx context.Context) error {
	var sweeps sync.WaitGroup
	sweeps.Go(func() { _ = a.pings.Run(ctx) })
	err := a.limiter.Run(ctx)
	sweeps.Wait()
	close(a.stopping)
	return err
}

// Route is one registered method and path (gin syntax, e.g. /uptime/:id).
type Route struct {
	Method string
	Path   string
}

// Routes lists every route Handler serves; the OpenAPI test compares them
// with the document.
func (a *API) Routes() []Route {
	var out []Route
	for _, r := range a.engine().Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}

// Handler returns the whole HTTP handler: operational endpoints, Swagger UI
// and the /api/v1 routes.
func (a *API) Handler() http.Handler { return a.engine() }

func (a *API) engine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// gin trusts every peer's X-Forwarded-For unless told otherwise; the
	// addresses were validated with the configuration.
	if err := r.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		a.log.Error("trusted_proxies_rejected", "err", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.HandleMethodNotAllowed = false
	r.ContextWithFallback = true
	r.Use(requestID(), observe(a.log, a.metrics), recovery(a.log), securityHeaders(a.cfg.Production), cors(a.cfg.CORSOrigins))

	ops := http.NewServeMux()
	httpserver.Register(ops, a.d.Health, a.d.Registry)
	for _, p := range []string{"/health", "/health/liveness", "/health/readiness", "/metrics"} {
		r.GET(p, gin.WrapH(ops))
	}
	a.docs(r)
	if a.d.DevJWKS != nil {
		r.GET("/dev-issuer/.well-known/jwks.json", func(c *gin.Context) {
			c.Data(http.StatusOK, "application/json", a.d.DevJWKS)
		})
	}
	r.NoRoute(func(c *gin.Context) {
		respondError(c, a.log, errStatus(http.StatusNotFound, "Cannot "+c.Request.Method+" "+c.Request.URL.Path))
	})

	// Public: the secret in the path is the credential.
	pings := r.Group("/api/v1"+heartbeatPath, a.limiter.middleware(a.log))
	pings.POST(":secret", a.receiveHeartbeat)
	pings.GET(":secret", a.receiveHeartbeat)

	v1 := r.Group("/api/v1", a.limiter.middleware(a.log), authenticate(a.d.Verifier, a.d.Users, a.cfg.AdminEmails, a.log))
	admin := requireRole(a.log, store.RoleAdmin)
	write := writable(a.log)
	// none refuses query parameters and body fields on routes that take none.
	none := a.noInput

	v1.POST("/uptime", write, a.createMonitor)
	v1.GET("/uptime", a.listMonitors)
	v1.GET("/uptime/stats", admin, none, a.adminStats)
	v1.POST("/uptime/flush", admin, none, a.flush)
	v1.GET("/uptime/flush", admin, none, a.flush)
	v1.POST("/uptime/queue/sync", admin, none, a.queueSync)
	v1.POST("/uptime/queue/clear", admin, none, a.queueClear)
	v1.GET("/uptime/stats/user", a.userSummary)
	v1.GET("/uptime/stats/aggregates/:id", a.aggregates)
	v1.GET("/uptime/logs/:uptimeId", a.monitorLogs)
	v1.GET("/uptime/incidents/user", a.userIncidents)
	v1.GET("/uptime/incidents/:id", a.monitorIncidents)
	v1.GET("/uptime/:id", none, a.getMonitor)
	v1.PATCH("/uptime/:id", write, a.updateMonitor)
	v1.DELETE("/uptime/:id", write, none, a.deleteMonitor)
	v1.POST("/uptime/:id/heartbeat-secret", write, none, a.rotateHeartbeatSecret)

	v1.GET("/events", none, a.events)

	v1.GET("/ping-log", admin, a.listPingLogs)
	v1.GET("/ping-log/user/my-logs", a.myPingLogs)
	v1.GET("/ping-log/id/:id", none, a.getPingLog)
	v1.DELETE("/ping-log/:id", write, none, a.deletePingLog)

	v1.GET("/dead-letters", admin, a.listDeadLetters)
	v1.GET("/dead-letters/:id", admin, none, a.deadLetterAction(func(d DeadLetterOps) dlOp { return d.Get }))
	v1.POST("/dead-letters/:id/replay", admin, none, a.deadLetterAction(func(d DeadLetterOps) dlOp { return d.Replay }))
	v1.POST("/dead-letters/:id/discard", admin, none, a.deadLetterAction(func(d DeadLetterOps) dlOp { return d.Discard }))

	v1.POST("/user", admin, a.createUser)
	v1.GET("/user", admin, a.listUsers)
	v1.GET("/user/:id", none, a.getUser)
	v1.PATCH("/user/:id", write, a.updateUser)
	v1.DELETE("/user/:id", admin, none, a.deleteUser)
	return r
}

// fail answers err through the one error mapping.
func (a *API) fail(c *gin.Context, err error) { respondError(c, a.log, err) }
