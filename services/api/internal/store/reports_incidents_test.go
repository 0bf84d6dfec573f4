package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func rptIDs[T any](items []T, id func(T) string) []string {
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, id(it))
	}
	return ids
}

func TestReportsMonitorIncidents(t *testing.T) {
	t.Parallel()
	f, reports := newReportsFixture(t)
	now := f.now
	u := f.user("owner@example.com")
	m := f.monitor(u, rptMonitor{name: "api"})
	i1Start := now.Add(-5 * rptDay)
	i1 := f.incident(m.ID, rptIncident{
		start: i1Start, end: new(i1Start.Add(10 * time.Minute)),
		firstErr: new("timeout"), lastErr: new("HTTP 503"), affected: 3,
	})
	i2 := f.incident(m.ID, rptResolved(now.Add(-3*rptDay), rptHour))
	i3 := f.incident(m.ID, rptResolved(now.Add(-rptDay), 30*time.Second))
	i4Start := now.Add(-2 * rptHour)
	i4 := f.incident(m.ID, rptIncident{start: i4Start, firstErr: new("connection refused"), affected: 5})
	other := f.monitor(u, rptMonitor{name: "other"})
	f.incident(other.ID, rptIncident{start: now.Add(-rptHour)})
	empty := f.monitor(u, rptMonitor{name: "empty"})

	t.Run("the first page lists the newest incidents with totals over all of them", func(t *testing.T) {
		got, err := reports.MonitorIncidents(t.Context(), m.ID, 1, 2)
		require.NoError(t, err)
		assert.Equal(t, store.MonitorIncidents{
			MonitorID: m.ID,
			Incidents: []store.IncidentDTO{
				{
					ID: i4, MonitorID: m.ID, StartTime: i4Start, DurationMs: 7_200_000, Duration: "2h",
					Status: store.IncidentOngoing, AffectedChecks: 5, FirstError: new("connection refused"),
				},
				{
					ID: i3, MonitorID: m.ID, StartTime: now.Add(-rptDay), EndTime: new(now.Add(-rptDay + 30*time.Second)),
					DurationMs: 30_000, Duration: "30s", Status: store.IncidentResolved, AffectedChecks: 1,
				},
			},
			TotalIncidents:   4,
			TotalDowntimeMs:  600_000 + 3_600_000 + 30_000 + 7_200_000,
			TotalDowntime:    "3h 10m 30s",
			OngoingIncidents: 1,
			Pagination:       store.IncidentsPagination{CurrentPage: 1, TotalPages: 2, TotalItems: 4, ItemsPerPage: 2},
		}, got)
	})

	t.Run("the JSON has null endTime while ongoing and omits null errors", func(t *testing.T) {
		got, err := reports.MonitorIncidents(t.Context(), m.ID, 1, 20)
		require.NoError(t, err)
		require.Len(t, got.Incidents, 4)
		raw, err := json.Marshal(got.Incidents[0])
		require.NoError(t, err)
		assert.JSONEq(t, `{"id":"`+i4+`","monitorId":"`+m.ID+`","startTime":"`+i4Start.Format(time.RFC3339)+`",
			"endTime":null,"durationMs":7200000,"duration":"2h","status":"ONGOING","affectedChecks":5,
			"firstError":"connection refused"}`, string(raw))
		raw, err = json.Marshal(got.Incidents[3])
		require.NoError(t, err)
		assert.JSONEq(t, `{"id":"`+i1+`","monitorId":"`+m.ID+`","startTime":"`+i1Start.Format(time.RFC3339)+`",
			"endTime":"`+i1Start.Add(10*time.Minute).Format(time.RFC3339)+`","durationMs":600000,"duration":"10m",
			"status":"RESOLVED","affectedChecks":3,"firstError":"timeout","lastError":"HTTP 503"}`, string(raw))
	})

	for _, tc := range []struct {
		name        string
		page, limit int
		wantIDs     []string
		want        store.IncidentsPagination
	}{
		{"the last page holds the remainder", 2, 3, []string{i1}, store.IncidentsPagination{CurrentPage: 2, TotalPages: 2, TotalItems: 4, ItemsPerPage: 3}},
		{"a page past the end is empty", 3, 3, []string{}, store.IncidentsPagination{CurrentPage: 3, TotalPages: 2, TotalItems: 4, ItemsPerPage: 3}},
		{"an absurd page is empty, not an overflow", int(^uint(0) >> 1), 100, []string{}, store.IncidentsPagination{CurrentPage: int(^uint(0) >> 1), TotalPages: 1, TotalItems: 4, ItemsPerPage: 100}},
		{"an exact multiple has no extra page", 2, 2, []string{i2, i1}, store.IncidentsPagination{CurrentPage: 2, TotalPages: 2, TotalItems: 4, ItemsPerPage: 2}},
		{"page 0 means the first page", 0, 3, []string{i4, i3, i2}, store.IncidentsPagination{CurrentPage: 1, TotalPages: 2, TotalItems: 4, ItemsPerPage: 3}},
		{"limit 0 means 20", 1, 0, []string{i4, i3, i2, i1}, store.IncidentsPagination{CurrentPage: 1, TotalPages: 1, TotalItems: 4, ItemsPerPage: 20}},
		{"a limit over 100 is capped", 1, 500, []string{i4, i3, i2, i1}, store.IncidentsPagination{CurrentPage: 1, TotalPages: 1, TotalItems: 4, ItemsPerPage: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reports.MonitorIncidents(t.Context(), m.ID, tc.page, tc.limit)
			require.NoError(t, err)
			assert.Equal(t, tc.wantIDs, rptIDs(got.Incidents, func(d store.IncidentDTO) string { return d.ID }))
			assert.Equal(t, tc.want, got.Pagination)
			assert.Equal(t, int64(4), got.TotalIncidents, "totals do not depend on the page")
		})
	}

	t.Run("a monitor without incidents has zero totals and no pages", func(t *testing.T) {
		got, err := reports.MonitorIncidents(t.Context(), empty.ID, 1, 20)
		require.NoError(t, err)
		assert.Equal(t, store.MonitorIncidents{
			MonitorID: empty.ID, Incidents: []store.IncidentDTO{}, TotalDowntime: "0s",
			Pagination: store.IncidentsPagination{CurrentPage: 1, ItemsPerPage: 20},
		}, got)
	})
}

func TestReportsUserIncidents(t *testing.T) {
	t.Parallel()
	f, reports := newReportsFixture(t)
	now := f.now
	u := f.user("owner@example.com")
	alpha := f.monitor(u, rptMonitor{name: "Alpha API", url: "https://alpha.example.com", status: store.StatusUp})
	a1 := f.incident(alpha.ID, rptResolved(now.Add(-10*rptHour), rptHour))
	a2 := f.incident(alpha.ID, rptResolved(now.Add(-2*rptHour), 30*time.Minute))
	beta := f.monitor(u, rptMonitor{name: "beta 100% site", url: "https://beta.example.com", status: store.StatusDown})
	b1 := f.incident(beta.ID, rptIncident{start: now.Add(-3 * rptHour), firstErr: new("HTTP 500"), affected: 4})
	gamma := f.monitor(u, rptMonitor{name: "Gamma", url: "https://gamma.example.com/a_b", inactive: true})
	g1 := f.incident(gamma.ID, rptResolved(now.Add(-20*rptHour), 2*rptHour))
	delta := f.monitor(u, rptMonitor{name: "Delta 1000", url: "https://delta.example.com/axb", status: store.StatusUp})
	intruder := f.user("other@example.com")
	theirs := f.monitor(intruder, rptMonitor{name: "Alpha API", url: "https://alpha.example.com", status: store.StatusDown})
	f.incident(theirs.ID, rptIncident{start: now.Add(-rptHour)})

	ids := func(got store.UserIncidents) []string {
		return rptIDs(got.Incidents, func(i store.IncidentWithMonitor) string { return i.ID })
	}
	monitorIDs := func(got store.UserIncidents) []string {
		return rptIDs(got.ByMonitor, func(s store.MonitorIncidentSummary) string { return s.MonitorID })
	}

	t.Run("without a search it covers every incident and every active monitor", func(t *testing.T) {
		got, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{})
		require.NoError(t, err)
		assert.Equal(t, u, got.UserID)
		assert.Equal(t, []string{a2, b1, a1, g1}, ids(got))
		assert.Equal(t, store.IncidentWithMonitor{
			IncidentDTO: store.IncidentDTO{
				ID: b1, MonitorID: beta.ID, StartTime: now.Add(-3 * rptHour), DurationMs: 10_800_000, Duration: "3h",
				Status: store.IncidentOngoing, AffectedChecks: 4, FirstError: new("HTTP 500"),
			},
			MonitorName: "beta 100% site", MonitorURL: "https://beta.example.com", MonitorStatus: store.StatusDown,
		}, got.Incidents[1])
		assert.Equal(t, "Gamma", got.Incidents[3].MonitorName, "incidents of inactive monitors stay listed")
		assert.Equal(t, []store.MonitorIncidentSummary{
			{MonitorID: alpha.ID, MonitorName: "Alpha API", MonitorURL: "https://alpha.example.com", MonitorStatus: store.StatusUp,
				IncidentCount: 2, TotalDowntimeMs: 5_400_000, TotalDowntime: "1h 30m"},
			{MonitorID: beta.ID, MonitorName: "beta 100% site", MonitorURL: "https://beta.example.com", MonitorStatus: store.StatusDown,
				IncidentCount: 1, HasOngoingIncident: true, TotalDowntimeMs: 10_800_000, TotalDowntime: "3h"},
			{MonitorID: delta.ID, MonitorName: "Delta 1000", MonitorURL: "https://delta.example.com/axb", MonitorStatus: store.StatusUp,
				TotalDowntime: "0s"},
		}, got.ByMonitor)
		assert.Equal(t, int64(4), got.TotalIncidents)
		assert.Equal(t, int64(1), got.OngoingIncidents)
		assert.Equal(t, int64(3_600_000+1_800_000+10_800_000+7_200_000), got.TotalDowntimeMs, "the inactive monitor's incident counts, as it is listed")
		assert.Equal(t, "6h 30m", got.TotalDowntime)
		assert.Equal(t, 3, got.TotalMonitors)
		assert.Equal(t, 1, got.MonitorsDown)
		assert.Equal(t, store.IncidentsPagination{CurrentPage: 1, TotalPages: 1, TotalItems: 4, ItemsPerPage: 20}, got.Pagination)
	})

	t.Run("the JSON flattens the incident next to its monitor", func(t *testing.T) {
		got, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{Search: "100%"})
		require.NoError(t, err)
		raw, err := json.Marshal(got)
		require.NoError(t, err)
		start := now.Add(-3 * rptHour).Format(time.RFC3339)
		assert.JSONEq(t, `{"userId":"`+u+`",
			"incidents":[{"id":"`+b1+`","monitorId":"`+beta.ID+`","startTime":"`+start+`","endTime":null,
				"durationMs":10800000,"duration":"3h","status":"ONGOING","affectedChecks":4,"firstError":"HTTP 500",
				"monitorName":"beta 100% site","monitorUrl":"https://beta.example.com","monitorStatus":"DOWN"}],
			"byMonitor":[{"monitorId":"`+beta.ID+`","monitorName":"beta 100% site","monitorUrl":"https://beta.example.com",
				"monitorStatus":"DOWN","incidentCount":1,"hasOngoingIncident":true,"totalDowntime":"3h","totalDowntimeMs":10800000}],
			"totalIncidents":1,"totalDowntime":"3h","totalDowntimeMs":10800000,"ongoingIncidents":1,
			"totalMonitors":1,"monitorsDown":1,
			"pagination":{"currentPage":1,"totalPages":1,"totalItems":1,"itemsPerPage":20}}`, string(raw))
	})

	for _, tc := range []struct {
		sortBy string
		want   []string
	}{
		{"", []string{a2, b1, a1, g1}},
		{store.IncidentSortRecent, []string{a2, b1, a1, g1}},
		{store.IncidentSortOldest, []string{g1, a1, b1, a2}},
		{store.IncidentSortNameAsc, []string{a2, a1, b1, g1}},
		{store.IncidentSortNameDesc, []string{g1, b1, a2, a1}},
		{store.IncidentSortDurationLongest, []string{b1, g1, a1, a2}},
		{store.IncidentSortDurationShortest, []string{a2, a1, g1, b1}},
	} {
		t.Run("sorting by "+tc.sortBy+" orders the whole result before paging", func(t *testing.T) {
			first, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{SortBy: tc.sortBy, Page: 1, Limit: 3})
			require.NoError(t, err)
			second, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{SortBy: tc.sortBy, Page: 2, Limit: 3})
			require.NoError(t, err)
			assert.Equal(t, tc.want, append(ids(first), ids(second)...))
			assert.Equal(t, store.IncidentsPagination{CurrentPage: 2, TotalPages: 2, TotalItems: 4, ItemsPerPage: 3}, second.Pagination)
		})
	}

	t.Run("an unknown sort is refused", func(t *testing.T) {
		_, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{SortBy: "status_down"})
		require.ErrorIs(t, err, store.ErrUnknownIncidentSort)
	})

	t.Run("a page past the end is empty but keeps the totals", func(t *testing.T) {
		got, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{Page: 5, Limit: 3})
		require.NoError(t, err)
		assert.Equal(t, []store.IncidentWithMonitor{}, got.Incidents)
		assert.Equal(t, int64(4), got.TotalIncidents)
		assert.Equal(t, store.IncidentsPagination{CurrentPage: 5, TotalPages: 2, TotalItems: 4, ItemsPerPage: 3}, got.Pagination)
		assert.Len(t, got.ByMonitor, 3)
	})

	for _, tc := range []struct {
		name         string
		search       string
		wantIDs      []string
		wantMonitors []string
		ongoing      int64
		downtimeMs   int64
		monitorsDown int
	}{
		{"a literal percent sign matches only itself", "100%", []string{b1}, []string{beta.ID}, 1, 10_800_000, 1},
		{"an underscore is not a wildcard, and inactive monitors' incidents are found", "a_b", []string{g1}, []string{}, 0, 7_200_000, 0},
		{"a backslash is literal", `\`, []string{}, []string{}, 0, 0, 0},
		{"case does not matter", "ALPHA", []string{a2, a1}, []string{alpha.ID}, 0, 5_400_000, 0},
		{"the url is searched and spaces around the input are ignored", "  example.com ", []string{a2, b1, a1, g1}, []string{alpha.ID, beta.ID, delta.ID}, 1, 23_400_000, 1},
		{"nothing matching gives empty lists", "nope", []string{}, []string{}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reports.UserIncidents(t.Context(), u, store.UserIncidentsQuery{Search: tc.search})
			require.NoError(t, err)
			assert.Equal(t, tc.wantIDs, ids(got))
			assert.Equal(t, tc.wantMonitors, monitorIDs(got))
			assert.Equal(t, int64(len(tc.wantIDs)), got.TotalIncidents)
			assert.Equal(t, int64(len(tc.wantIDs)), got.Pagination.TotalItems)
			assert.Equal(t, tc.ongoing, got.OngoingIncidents, "ongoing incidents follow the search")
			assert.Equal(t, tc.downtimeMs, got.TotalDowntimeMs)
			assert.Equal(t, len(tc.wantMonitors), got.TotalMonitors)
			assert.Equal(t, tc.monitorsDown, got.MonitorsDown)
		})
	}

	t.Run("a user without monitors gets empty lists", func(t *testing.T) {
		got, err := reports.UserIncidents(t.Context(), f.user("nobody@example.com"), store.UserIncidentsQuery{})
		require.NoError(t, err)
		assert.Equal(t, []store.IncidentWithMonitor{}, got.Incidents)
		assert.Equal(t, []store.MonitorIncidentSummary{}, got.ByMonitor)
		assert.Equal(t, "0s", got.TotalDowntime)
		assert.Equal(t, int64(0), got.Pagination.TotalPages)
	})
}
