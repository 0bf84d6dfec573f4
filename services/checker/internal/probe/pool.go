package probe

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// domain is the per-origin state: its connection pool and circuit breaker.
type domain struct {
	key       string
	transport *http.Transport
	breaker   circuitbreaker.CircuitBreaker[any]
	active    atomic.Int64 // checks of this domain in progress
	lastUsed  atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	lastErr string
}

func (d *domain) setLastError(msg string) {
	d.mu.Lock()
	d.lastErr = msg
	d.mu.Unlock()
}

func (d *domain) lastError() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

// pools holds the domains, created on first use and evicted once unused for
// Config.PoolEvictAfter.
type pools struct {
	p          *Prober
	sweepEvery time.Duration

	mu        sync.RWMutex
	domains   map[string]*domain
	lastSweep atomic.Int64 // unix nanoseconds
}

func newPools(p *Prober) *pools {
	ps := &pools{
		p:          p,
		sweepEvery: min(p.cfg.PoolEvictAfter/10, time.Minute),
		domains:    map[string]*domain{},
	}
	ps.lastSweep.Store(time.Now().UnixNano())
	return ps
}

// acquire returns the domain of key, marked in use until release. Marking
// happens under the lock the sweep takes, so a domain in use is never
// evicted.
func (ps *pools) acquire(key string, now time.Time) *domain {
	ps.maybeSweep(now)
	ps.mu.RLock()
	d := ps.domains[key]
	if d != nil {
		d.active.Add(1)
		d.lastUsed.Store(now.UnixNano())
		ps.mu.RUnlock()
		return d
	}
	ps.mu.RUnlock()

	ps.mu.Lock()
	defer ps.mu.Unlock()
	d = ps.get(key)
	d.active.Add(1)
	d.lastUsed.Store(now.UnixNano())
	return d
}

// release ends a use of d. lastUsed is stored before active drops so that
// a sweep seeing no activity also sees the recent use.
func (ps *pools) release(d *domain) {
	d.lastUsed.Store(time.Now().UnixNano())
	d.active.Add(-1)
}

// transport returns the pool of key for one request (redirect hops land on
// their own origin's pool).
func (ps *pools) transport(key string) *http.Transport {
	now := time.Now().UnixNano()
	ps.mu.RLock()
	d := ps.domains[key]
	if d != nil {
		d.lastUsed.Store(now)
		ps.mu.RUnlock()
		return d.transport
	}
	ps.mu.RUnlock()

	ps.mu.Lock()
	defer ps.mu.Unlock()
	d = ps.get(key)
	d.lastUsed.Store(now)
	return d.transport
}

// get returns the domain of key, creating it. Requires ps.mu held for writing.
func (ps *pools) get(key string) *domain {
	if d := ps.domains[key]; d != nil {
		return d
	}
	d := &domain{key: key, transport: ps.newTransport(), breaker: ps.newBreaker(key)}
	ps.domains[key] = d
	return d
}

func (ps *pools) newTransport() *http.Transport {
	cfg := ps.p.cfg
	return &http.Transport{
		Proxy:                 nil, // a proxy would dial for us and bypass the guard
		DialContext:           ps.p.dial,
		TLSClientConfig:       ps.p.tlsConfig.Clone(),
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		MaxConnsPerHost:       cfg.MaxConnsPerDomain,
		MaxIdleConnsPerHost:   cfg.MaxConnsPerDomain,
		IdleConnTimeout:       cfg.IdleTimeout,
		DisableKeepAlives:     !cfg.KeepAlive,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}
}

func (ps *pools) newBreaker(key string) circuitbreaker.CircuitBreaker[any] {
	logger := ps.p.logger
	return circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(uint(ps.p.cfg.BreakerFailures)).
		WithSuccessThreshold(1). // one half-open trial decides
		WithDelay(ps.p.cfg.BreakerDelay).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			logger.Info("circuit_breaker_state_changed", "domain", key,
				"from", e.OldState.String(), "to", e.NewState.String())
		}).
		Build()
}

// maybeSweep evicts idle domains at most once per sweepEvery; the caller
// that wins the race does it inline, so no goroutine is needed.
func (ps *pools) maybeSweep(now time.Time) {
	last := ps.lastSweep.Load()
	if now.UnixNano()-last < int64(ps.sweepEvery) || !ps.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	cutoff := now.Add(-ps.p.cfg.PoolEvictAfter).UnixNano()
	var evicted []*domain
	ps.mu.Lock()
	for key, d := range ps.domains {
		if d.active.Load() == 0 && d.lastUsed.Load() < cutoff {
			delete(ps.domains, key)
			evicted = append(evicted, d)
		}
	}
	ps.mu.Unlock()
	// A redirect hop still holding an evicted transport finishes normally;
	// the connection it returns to that pool closes after IdleTimeout.
	for _, d := range evicted {
		d.transport.CloseIdleConnections()
	}
}

func (ps *pools) closeIdle() {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for _, d := range ps.domains {
		d.transport.CloseIdleConnections()
	}
}

// each calls fn for every domain under the read lock.
func (ps *pools) each(fn func(*domain)) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for _, d := range ps.domains {
		fn(d)
	}
}

func (ps *pools) len() int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.domains)
}

// router sends each request, redirect hops included, through the pool of
// the request's own origin.
type router struct{ p *Prober }

func (r router) RoundTrip(req *http.Request) (*http.Response, error) {
	return r.p.pools.transport(originOf(req.URL)).RoundTrip(req)
}
