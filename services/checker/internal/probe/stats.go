package probe

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes, the label values of the probe metrics.
const (
	outcomeSuccess     = "success"
	outcomeFailure     = "failure"
	outcomeTimeout     = "timeout"
	outcomeBreakerOpen = "breaker_open"
)

// windowSize is how many recent checks the response-time figures cover.
const windowSize = 1000

// maxPoolsListed bounds Stats.Pools: the figures are published every few
// seconds and summed by the api, and a checker may know 100k domains.
const maxPoolsListed = 100

type metrics struct {
	duration *prometheus.HistogramVec
	probes   *prometheus.CounterVec
	inflight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, p *Prober) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "uptime_checker_probe_duration_seconds",
			Help:    "Wall time of a check, retries included, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"outcome"}),
		probes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_checker_probes_total",
			Help: "Checks run, by outcome: success, failure, timeout or breaker_open.",
		}, []string{"outcome"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "uptime_checker_inflight_probes",
			Help: "Checks sending requests right now.",
		}),
	}
	for _, o := range []string{outcomeSuccess, outcomeFailure, outcomeTimeout, outcomeBreakerOpen} {
		m.probes.WithLabelValues(o)
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "uptime_checker_breaker_open_domains",
		Help: "Domains whose circuit breaker is open.",
	}, func() float64 {
		n := 0
		p.pools.each(func(d *domain) {
			if d.breaker.IsOpen() {
				n++
			}
		})
		return float64(n)
	})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "uptime_checker_pools",
		Help: "Per-domain connection pools held.",
	}, func() float64 { return float64(p.pools.len()) })
	return m
}

// Stats are the pool figures the api shows (GET /uptime/stats), in the old
// service's JSON names. Response times are milliseconds over the last 1000
// completed checks.
type Stats struct {
	ActiveRequests      int64      `json:"activeRequests"`
	TotalRequests       int64      `json:"totalRequests"`
	SuccessfulRequests  int64      `json:"successfulRequests"`
	FailedRequests      int64      `json:"failedRequests"`
	TimeoutRequests     int64      `json:"timeoutRequests"`
	CircuitBreakerOpen  int64      `json:"circuitBreakerOpen"`
	AverageResponseTime float64    `json:"averageResponseTime"`
	P95ResponseTime     float64    `json:"p95ResponseTime"`
	P99ResponseTime     float64    `json:"p99ResponseTime"`
	PoolCount           int        `json:"poolCount"`
	Pools               []PoolInfo `json:"pools"`
}

// PoolInfo describes one domain's pool: the checks in progress and its
// breaker state ("closed", "open" or "half-open").
type PoolInfo struct {
	Domain       string `json:"domain"`
	Active       int64  `json:"active"`
	BreakerState string `json:"breakerState"`
}

// Stats returns the current figures. Pools lists at most 100 domains, busiest
// and broken ones first; PoolCount counts them all.
func (p *Prober) Stats() Stats {
	s := p.stats.snapshot()
	s.ActiveRequests = p.active.Load()
	p.pools.each(func(d *domain) {
		s.Pools = append(s.Pools, PoolInfo{Domain: d.key, Active: d.active.Load(), BreakerState: d.breaker.State().String()})
	})
	s.PoolCount = len(s.Pools)
	slices.SortFunc(s.Pools, func(a, b PoolInfo) int {
		return cmp.Or(
			cmp.Compare(b.Active, a.Active),
			cmp.Compare(brokenRank(a), brokenRank(b)),
			cmp.Compare(a.Domain, b.Domain),
		)
	})
	if len(s.Pools) > maxPoolsListed {
		s.Pools = s.Pools[:maxPoolsListed]
	}
	if s.Pools == nil {
		s.Pools = []PoolInfo{}
	}
	return s
}

func brokenRank(pi PoolInfo) int {
	if pi.BreakerState == "closed" {
		return 1
	}
	return 0
}

// record accounts one finished check in the stats and metrics.
func (p *Prober) record(res Result, outcome string) {
	p.metrics.probes.WithLabelValues(outcome).Inc()
	p.metrics.duration.WithLabelValues(outcome).Observe(res.Total.Seconds())
	if outcome == outcomeBreakerOpen {
		// No request was sent: counted apart, as the old service did.
		p.stats.breakerOpen.Add(1)
		return
	}
	p.stats.add(outcome, float64(res.Total.Microseconds())/1000)
}

// stats are the counters and the response-time window behind Stats.
type stats struct {
	total, success, failed, timeouts, breakerOpen atomic.Int64

	mu     sync.Mutex
	ring   []float64 // milliseconds, oldest overwritten first
	next   int
	filled bool
	dirty  bool // samples arrived since cached was computed
	cached [3]float64
}

func newStats(size int) *stats { return &stats{ring: make([]float64, size)} }

func (s *stats) add(outcome string, ms float64) {
	s.total.Add(1)
	switch outcome {
	case outcomeSuccess:
		s.success.Add(1)
	case outcomeTimeout:
		s.timeouts.Add(1)
		s.failed.Add(1)
	default:
		s.failed.Add(1)
	}
	s.mu.Lock()
	s.ring[s.next] = ms
	s.next++
	if s.next == len(s.ring) {
		s.next, s.filled = 0, true
	}
	s.dirty = true
	s.mu.Unlock()
}

func (s *stats) snapshot() Stats {
	avg, p95, p99 := s.responseTimes()
	return Stats{
		TotalRequests:       s.total.Load(),
		SuccessfulRequests:  s.success.Load(),
		FailedRequests:      s.failed.Load(),
		TimeoutRequests:     s.timeouts.Load(),
		CircuitBreakerOpen:  s.breakerOpen.Load(),
		AverageResponseTime: avg,
		P95ResponseTime:     p95,
		P99ResponseTime:     p99,
	}
}

// responseTimes returns the mean, p95 and p99 of the window, sorting only
// when samples arrived since the last call.
func (s *stats) responseTimes() (avg, p95, p99 float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return s.cached[0], s.cached[1], s.cached[2]
	}
	n := s.next
	if s.filled {
		n = len(s.ring)
	}
	sorted := slices.Clone(s.ring[:n])
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	if n > 0 {
		avg = sum / float64(n)
	}
	s.cached = [3]float64{avg, percentile(sorted, 95), percentile(sorted, 99)}
	s.dirty = false
	return s.cached[0], s.cached[1], s.cached[2]
}

// percentile is the nearest-rank percentile of sorted: the element at
// ceil(p/100·n)−1, 0 when empty (the old service's definition).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
