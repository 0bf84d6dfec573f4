// Package dispatch runs the scheduler's long-lived work over the schedule:
// the claim loop that emits due jobs, the reconcile loop, and the handler
// that follows monitor changes from the monitors stream.
package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the scheduler's Prometheus metrics.
type Metrics struct {
	emitted          prometheus.Counter
	skippedInflight  prometheus.Counter
	dropped          prometheus.Counter
	lateness         prometheus.Histogram
	scheduleSize     prometheus.Gauge
	claimFailures    prometheus.Counter
	claimSeconds     prometheus.Histogram
	reconciles       *prometheus.CounterVec
	reconcileSeconds prometheus.Histogram
	reconciled       *prometheus.CounterVec
	changes          *prometheus.CounterVec
}

// NewMetrics registers the scheduler metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		emitted: f.NewCounter(prometheus.CounterOpts{
			Name: "uptime_scheduler_jobs_emitted_total", Help: "Check jobs appended to the jobs stream.",
		}),
		skippedInflight: f.NewCounter(prometheus.CounterOpts{
			Name: "uptime_scheduler_skipped_inflight_total", Help: "Due slots skipped because the monitor's previous job was still in flight.",
		}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Name: "uptime_scheduler_dropped_entries_total", Help: "Due entries without template or frequency dropped by the claim script.",
		}),
		lateness: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "uptime_scheduler_dispatch_lateness_seconds",
			Help:    "Time from a job's slot to its emission (Redis clock).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		scheduleSize: f.NewGauge(prometheus.GaugeOpts{
			Name: "uptime_scheduler_schedule_size", Help: "Monitors on the schedule (ZCARD of the due set).",
		}),
		claimFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "uptime_scheduler_claim_failures_total", Help: "Runs of the claim script that failed.",
		}),
		claimSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "uptime_scheduler_claim_duration_seconds", Help: "Duration of one run of the claim script, round trip included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12),
		}),
		reconciles: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_scheduler_reconcile_total", Help: "Reconcile attempts by result: ok, busy (another replica held the lease) or error.",
		}, []string{"result"}),
		reconcileSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "uptime_scheduler_reconcile_duration_seconds", Help: "Duration of reconciles that ran (ok or error).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		reconciled: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_scheduler_reconciled_monitors_total", Help: "Schedule entries repaired by reconciles, by change: added, updated or removed.",
		}, []string{"change"}),
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "uptime_scheduler_monitor_changes_total", Help: "Monitor change events handled, by outcome: applied or stale (older than the spec held).",
		}, []string{"outcome"}),
	}
	for _, r := range []string{"ok", "busy", "error"} {
		m.reconciles.WithLabelValues(r)
	}
	for _, c := range []string{"added", "updated", "removed"} {
		m.reconciled.WithLabelValues(c)
	}
	for _, o := range []string{"applied", "stale"} {
		m.changes.WithLabelValues(o)
	}
	return m
}
