package deployments_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/stream"
)

const (
	alertsFile    = "prometheus/alerts.yml"
	dashboardFile = "grafana/uptime-dashboard.json"
)

// scrapeSeries are series Prometheus itself adds to every target, and the
// collectors pkg/httpserver registers on every service's registry
// (collectors.NewGoCollector and NewProcessCollector).
var scrapeSeries = map[string]struct {
	kind      metricKind
	collector string
}{
	"up":                            {gauge, ""},
	"go_goroutines":                 {gauge, "NewGoCollector"},
	"process_resident_memory_bytes": {gauge, "NewProcessCollector"},
	"process_cpu_seconds_total":     {counter, "NewProcessCollector"},
}

// serviceJobs are the job label values the rules and dashboard expect the
// scrape configuration to give each service (docs/operations.md).
var serviceJobs = []string{"api", "scheduler", "checker", "log-writer", "notifier"}

var promqlParser = parser.NewParser(parser.Options{})

func loadAlertRules(t *testing.T) []rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	require.Empty(t, errs, "alerts.yml does not validate as Prometheus rules")
	var rules []rulefmt.Rule
	for _, g := range groups.Groups {
		rules = append(rules, g.Rules...)
	}
	require.NotEmpty(t, rules)
	return rules
}

// dashboardTarget is one query of a dashboard panel.
type dashboardTarget struct {
	Panel string
	Expr  string
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboard struct {
	Title      string           `json:"title"`
	UID        string           `json:"uid"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	return d
}

// panels flattens the dashboard's panels, including those nested in rows.
func (d dashboard) panels() []dashboardPanel {
	var out []dashboardPanel
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVariable matches the dashboard's variables in a query.
var grafanaVariable = regexp.MustCompile(`\$__rate_interval|\$__interval|\$__range`)

// parseQuery parses a PromQL expression, with Grafana's interval variables
// replaced by a duration.
func parseQuery(t *testing.T, expr string) parser.Expr {
	t.Helper()
	e, err := promqlParser.ParseExpr(grafanaVariable.ReplaceAllString(expr, "5m"))
	require.NoError(t, err, "%s", expr)
	return e
}

// selectorsOf returns every vector selector of expr.
func selectorsOf(expr parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// checkSeriesExists fails unless the series name is one a service exposes:
// a metric registered in services/ or pkg/ (histograms and summaries with
// their _bucket, _sum and _count series) or a series of the scrape itself.
func checkSeriesExists(t *testing.T, name, where string) metricKind {
	t.Helper()
	metrics := registeredMetrics(t)
	if kind, ok := metrics[name]; ok {
		assert.NotEqual(t, histogram, kind, "%s: histogram %s is queried without _bucket, _sum or _count", where, name)
		return kind
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if kind := metrics[base]; kind == histogram || kind == summary && suffix != "_bucket" {
			return counter // these series only grow, like counters
		}
	}
	if s, ok := scrapeSeries[name]; ok {
		return s.kind
	}
	assert.Failf(t, "unknown metric", "%s uses %s, which no service registers", where, name)
	return ""
}

// checkQuery checks every metric of a query: it exists, rate-like functions
// get only counters, and the stream, group and job labels name real values.
func checkQuery(t *testing.T, expr, where string) {
	t.Helper()
	e := parseQuery(t, expr)
	selectors := selectorsOf(e)
	require.NotEmpty(t, selectors, "%s: %s selects no metric", where, expr)
	streams := []string{stream.Monitors, stream.Jobs, stream.Results, stream.Events, stream.DLQ}
	groups := consumerGroups(t)
	kinds := map[*parser.VectorSelector]metricKind{}
	for _, vs := range selectors {
		require.NotEmpty(t, vs.Name, "%s: a selector without a metric name in %s", where, expr)
		kinds[vs] = checkSeriesExists(t, vs.Name, where)
		for _, m := range vs.LabelMatchers {
			if m.Type != labels.MatchEqual {
				continue
			}
			switch m.Name {
			case "stream":
				assert.Contains(t, streams, m.Value, "%s: no stream is called %q", where, m.Value)
			case "group":
				assert.Contains(t, groups, m.Value, "%s: no consumer group is called %q", where, m.Value)
			case "job":
				assert.Contains(t, serviceJobs, m.Value, "%s: no service is called %q", where, m.Value)
			}
		}
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		call, ok := n.(*parser.Call)
		if !ok || !slices.Contains([]string{"rate", "irate", "increase"}, call.Func.Name) {
			return nil
		}
		for _, vs := range selectorsOf(call.Args[0]) {
			assert.Equal(t, counter, kinds[vs], "%s: %s() of %s, which is not a counter", where, call.Func.Name, vs.Name)
		}
		return nil
	})
}

func TestAlertRulesAreValidAndDocumented(t *testing.T) {
	t.Parallel()
	rules := loadAlertRules(t)
	ops, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range rules {
		t.Run(r.Alert+" has a severity, a summary and a runbook entry", func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, r.Alert, "only alerting rules belong in alerts.yml")
			assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"])
			assert.NotEmpty(t, r.Annotations["summary"])
			assert.NotEmpty(t, r.Annotations["description"])
			assert.Contains(t, string(ops), "`"+r.Alert+"`", "docs/operations.md does not say what to do about %s", r.Alert)
		})
		assert.False(t, seen[r.Alert], "two alerts are called %s", r.Alert)
		seen[r.Alert] = true
	}
	for _, name := range []string{
		"CheckerLagGrowing", "DeadLetterQueueNotEmpty", "LogWriterBackpressure", "NoChecksCompleted",
		"ServiceDown", "CheckerBreakerOpenLong", "NotifierSendFailures",
	} {
		t.Run("the rules alert on "+name, func(t *testing.T) {
			assert.True(t, seen[name])
		})
	}
}

func TestAlertRulesQueryRealMetrics(t *testing.T) {
	t.Parallel()
	for _, r := range loadAlertRules(t) {
		t.Run(r.Alert+" queries metrics the services expose", func(t *testing.T) {
			t.Parallel()
			checkQuery(t, r.Expr, r.Alert)
		})
	}
}

func TestDashboardQueriesRealMetrics(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	var targets []dashboardTarget
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			targets = append(targets, dashboardTarget{Panel: p.Title, Expr: tg.Expr})
		}
	}
	require.NotEmpty(t, targets)
	for _, tg := range targets {
		t.Run("panel "+tg.Panel+" queries metrics the services expose", func(t *testing.T) {
			t.Parallel()
			checkQuery(t, tg.Expr, "panel "+tg.Panel)
		})
	}
}

func TestDashboardIsWellFormed(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	t.Run("the dashboard has a title and a stable uid", func(t *testing.T) {
		assert.NotEmpty(t, d.Title)
		assert.NotEmpty(t, d.UID)
	})
	t.Run("the datasource is a variable of type prometheus", func(t *testing.T) {
		require.Len(t, d.Templating.List, 1)
		assert.Equal(t, "datasource", d.Templating.List[0].Type)
		assert.Equal(t, "prometheus", d.Templating.List[0].Query)
	})
	variable := "${" + d.Templating.List[0].Name + "}"
	ids := map[int]string{}
	for _, p := range d.panels() {
		assert.NotContains(t, ids, p.ID, "panels %q and %q share id %d", ids[p.ID], p.Title, p.ID)
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		t.Run("panel "+p.Title+" queries the selected Prometheus", func(t *testing.T) {
			require.NotNil(t, p.Datasource)
			assert.Equal(t, variable, p.Datasource.UID)
			require.NotEmpty(t, p.Targets)
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				assert.False(t, refs[tg.RefID], "refId %s twice", tg.RefID)
				refs[tg.RefID] = true
			}
		})
	}
	t.Run("every stage of the pipeline has a panel", func(t *testing.T) {
		var queries strings.Builder
		for _, p := range d.panels() {
			for _, tg := range p.Targets {
				queries.WriteString(tg.Expr)
			}
		}
		for _, prefix := range []string{"uptime_scheduler_", "uptime_checker_", "uptime_logwriter_", "uptime_stream_", "uptime_dlq_", "uptime_notifier_", "uptime_api_"} {
			assert.Contains(t, queries.String(), prefix)
		}
	})
}

func TestMetricScanFindsTheRegisteredMetrics(t *testing.T) {
	t.Parallel()
	metrics := registeredMetrics(t)
	tests := []struct {
		name string
		kind metricKind
	}{
		{"uptime_checker_probes_total", counter},
		{"uptime_scheduler_dispatch_lateness_seconds", histogram},
		{"uptime_stream_lag_entries", gauge},
		{"uptime_logwriter_backpressure_pauses_total", counter},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is found as a "+string(tt.kind), func(t *testing.T) {
			assert.Equal(t, tt.kind, metrics[tt.name])
		})
	}
	t.Run("the names follow uptime_<component>_<what>_<unit>", func(t *testing.T) {
		for name, kind := range metrics {
			assert.True(t, strings.HasPrefix(name, "uptime_"), name)
			if kind == counter {
				assert.True(t, strings.HasSuffix(name, "_total"), "counter %s", name)
			}
		}
	})
	t.Run("the consumer-group scan finds the group of every consuming service", func(t *testing.T) {
		groups := consumerGroups(t)
		for _, g := range []string{"scheduler", "checker", "log-writer", "dlq-mover", "notifier"} {
			assert.True(t, groups[g], g)
		}
	})
	t.Run("every service registers the Go and process collectors", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(repoRoot, "pkg", "httpserver", "health.go"))
		require.NoError(t, err)
		for series, s := range scrapeSeries {
			if s.collector != "" {
				assert.Contains(t, string(src), "collectors."+s.collector+"(", "needed by %s", series)
			}
		}
	})
}
