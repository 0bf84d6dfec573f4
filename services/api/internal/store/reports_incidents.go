package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Paging defaults of the incident lists; callers validate the query, these
// only keep a bad value from reaching SQL.
const (
	defaultIncidentLimit = 20
	maxIncidentLimit     = 100
)

// Sort orders of GET /uptime/incidents/user. Each one orders the whole
// result before it is paginated.
const (
	// IncidentSortRecent: newest start first (the default).
	IncidentSortRecent = "recent"
	// IncidentSortOldest: oldest start first.
	IncidentSortOldest = "oldest"
	// IncidentSortNameAsc: by monitor name, case-insensitively; a monitor's
	// incidents newest first.
	IncidentSortNameAsc = "name_asc"
	// IncidentSortNameDesc: by monitor name descending; a monitor's incidents
	// newest first.
	IncidentSortNameDesc = "name_desc"
	// IncidentSortDurationLongest: longest first, an ongoing incident
	// lasting until now.
	IncidentSortDurationLongest = "duration_longest"
	// IncidentSortDurationShortest: shortest first.
	IncidentSortDurationShortest = "duration_shortest"
)

// IncidentSorts lists the accepted UserIncidentsQuery.SortBy values.
var IncidentSorts = []string{
	IncidentSortRecent, IncidentSortOldest, IncidentSortNameAsc, IncidentSortNameDesc,
	IncidentSortDurationLongest, IncidentSortDurationShortest,
}

// ErrUnknownIncidentSort is returned for a SortBy not in IncidentSorts.
var ErrUnknownIncidentSort = errors.New("unknown incident sort")

// sqlIncidentMs is the length of incident i in whole milliseconds: an
// ongoing incident runs until @now, and a writer's clock ahead of ours
// cannot make it negative.
const sqlIncidentMs = `greatest(floor(extract(epoch FROM coalesce(i.ended_at, @now) - i.started_at) * 1000), 0)::bigint`

// incidentOrderBy maps a sort to its ORDER BY; ties fall back to newest
// first and then the id, so that pages never overlap.
func incidentOrderBy(sortBy string) (string, error) {
	switch sortBy {
	case "", IncidentSortRecent:
		return "i.started_at DESC, i.id", nil
	case IncidentSortOldest:
		return "i.started_at ASC, i.id", nil
	case IncidentSortNameAsc:
		return "lower(m.name) ASC, m.id, i.started_at DESC, i.id", nil
	case IncidentSortNameDesc:
		return "lower(m.name) DESC, m.id, i.started_at DESC, i.id", nil
	case IncidentSortDurationLongest:
		return sqlIncidentMs + " DESC, i.started_at DESC, i.id", nil
	case IncidentSortDurationShortest:
		return sqlIncidentMs + " ASC, i.started_at DESC, i.id", nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownIncidentSort, sortBy)
}

// IncidentsPagination describes the page of an incident list.
type IncidentsPagination struct {
	CurrentPage int `json:"currentPage"`
	// TotalPages is ceil(TotalItems / ItemsPerPage), 0 without items.
	TotalPages   int64 `json:"totalPages"`
	TotalItems   int64 `json:"totalItems"`
	ItemsPerPage int   `json:"itemsPerPage"`
}

// incidentPage normalises page and limit and returns the OFFSET, saturated
// so that an absurd page number yields an empty page instead of overflowing.
func incidentPage(page, limit int) (int, int, int64) {
	if page < 1 {
		page = 1
	}
	if limit < 1 {
		limit = defaultIncidentLimit
	}
	limit = min(limit, maxIncidentLimit)
	offset := int64(math.MaxInt64)
	if int64(page-1) <= math.MaxInt64/int64(limit) {
		offset = int64(page-1) * int64(limit)
	}
	return page, limit, offset
}

func newIncidentsPagination(page, limit int, total int64) IncidentsPagination {
	return IncidentsPagination{
		CurrentPage:  page,
		TotalPages:   (total + int64(limit) - 1) / int64(limit),
		TotalItems:   total,
		ItemsPerPage: limit,
	}
}

// IncidentDTO is one incident as the front end lists it.
type IncidentDTO struct {
	ID        string    `json:"id"`
	MonitorID string    `json:"monitorId"`
	StartTime time.Time `json:"startTime"`
	// EndTime is null while the incident is ongoing.
	EndTime *time.Time `json:"endTime"`
	// DurationMs runs to now while the incident is ongoing.
	DurationMs int64  `json:"durationMs"`
	Duration   string `json:"duration"`
	// Status is ONGOING or RESOLVED.
	Status         string  `json:"status"`
	AffectedChecks int     `json:"affectedChecks"`
	FirstError     *string `json:"firstError,omitempty"`
	LastError      *string `json:"lastError,omitempty"`
}

// MonitorIncidents is the response of GET /uptime/incidents/:id.
type MonitorIncidents struct {
	MonitorID string `json:"monitorId"`
	// Incidents is one page, newest first; never null.
	Incidents []IncidentDTO `json:"incidents"`
	// TotalIncidents, TotalDowntimeMs and OngoingIncidents cover every
	// incident of the monitor, not just the page.
	TotalIncidents   int64               `json:"totalIncidents"`
	TotalDowntime    string              `json:"totalDowntime"`
	TotalDowntimeMs  int64               `json:"totalDowntimeMs"`
	OngoingIncidents int64               `json:"ongoingIncidents"`
	Pagination       IncidentsPagination `json:"pagination"`
}

const incidentColumns = `i.id::text, i.monitor_id::text, i.started_at, i.ended_at, ` + sqlIncidentMs +
	`, i.status, i.affected_checks, i.first_error, i.last_error`

func scanIncident(row pgx.Row, extra ...any) (IncidentDTO, error) {
	var d IncidentDTO
	dest := append([]any{
		&d.ID, &d.MonitorID, &d.StartTime, &d.EndTime, &d.DurationMs,
		&d.Status, &d.AffectedChecks, &d.FirstError, &d.LastError,
	}, extra...)
	if err := row.Scan(dest...); err != nil {
		return IncidentDTO{}, err
	}
	d.Duration = FormatDuration(d.DurationMs)
	return d, nil
}

// MonitorIncidents returns one page of the monitor's incidents, newest
// first, with totals over all of them. page starts at 1; limit defaults to
// 20 and is capped at 100. A page past the end is empty.
func (r *Reports) MonitorIncidents(ctx context.Context, monitorID string, page, limit int) (MonitorIncidents, error) {
	page, limit, offset := incidentPage(page, limit)
	args := pgx.NamedArgs{"monitor": monitorID, "now": r.clock(), "limit": limit, "offset": offset}
	res := MonitorIncidents{MonitorID: monitorID, Incidents: []IncidentDTO{}}

	b := &pgx.Batch{}
	b.Queue(`
SELECT count(*), count(*) FILTER (WHERE i.status = 'ONGOING'), coalesce(sum(`+sqlIncidentMs+`), 0)::bigint
FROM incidents i
WHERE i.monitor_id = @monitor`, args).QueryRow(func(row pgx.Row) error {
		return row.Scan(&res.TotalIncidents, &res.OngoingIncidents, &res.TotalDowntimeMs)
	})
	b.Queue(`
SELECT `+incidentColumns+`
FROM incidents i
WHERE i.monitor_id = @monitor
ORDER BY i.started_at DESC, i.id
LIMIT @limit OFFSET @offset`, args).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			d, err := scanIncident(rows)
			if err != nil {
				return err
			}
			res.Incidents = append(res.Incidents, d)
		}
		return rows.Err()
	})
	if err := r.db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return MonitorIncidents{}, fmt.Errorf("incidents of monitor %s: %w", monitorID, err)
	}
	res.TotalDowntime = FormatDuration(res.TotalDowntimeMs)
	res.Pagination = newIncidentsPagination(page, limit, res.TotalIncidents)
	return res, nil
}

// UserIncidentsQuery selects and orders GET /uptime/incidents/user.
type UserIncidentsQuery struct {
	// Page starts at 1; Limit defaults to 20 and is capped at 100.
	Page  int
	Limit int
	// Search keeps incidents (and byMonitor rows) whose monitor name or URL
	// contains it, case-insensitively and literally (% and _ are not
	// wildcards). Surrounding spaces are ignored; empty does not filter.
	Search string
	// SortBy is one of IncidentSorts; empty means recent.
	SortBy string
}

// IncidentWithMonitor is an incident of the user's dashboard list.
type IncidentWithMonitor struct {
	IncidentDTO
	MonitorName   string `json:"monitorName"`
	MonitorURL    string `json:"monitorUrl"`
	MonitorStatus string `json:"monitorStatus"`
}

// MonitorIncidentSummary is one active monitor's line of byMonitor.
type MonitorIncidentSummary struct {
	MonitorID          string `json:"monitorId"`
	MonitorName        string `json:"monitorName"`
	MonitorURL         string `json:"monitorUrl"`
	MonitorStatus      string `json:"monitorStatus"`
	IncidentCount      int64  `json:"incidentCount"`
	HasOngoingIncident bool   `json:"hasOngoingIncident"`
	// TotalDowntime and TotalDowntimeMs sum the durations of all the
	// monitor's incidents, an ongoing one running until now.
	TotalDowntime   string `json:"totalDowntime"`
	TotalDowntimeMs int64  `json:"totalDowntimeMs"`
}

// UserIncidents is the response of GET /uptime/incidents/user.
type UserIncidents struct {
	UserID string `json:"userId"`
	// Incidents is one page of the user's incidents matching the search,
	// including those of inactive monitors; never null.
	Incidents []IncidentWithMonitor `json:"incidents"`
	// ByMonitor has one row per active monitor matching the search, those
	// without incidents included, most incidents first; not paginated.
	ByMonitor []MonitorIncidentSummary `json:"byMonitor"`
	// TotalIncidents, TotalDowntimeMs and OngoingIncidents cover every
	// incident matching the search (the set the list pages through).
	TotalIncidents   int64  `json:"totalIncidents"`
	TotalDowntime    string `json:"totalDowntime"`
	TotalDowntimeMs  int64  `json:"totalDowntimeMs"`
	OngoingIncidents int64  `json:"ongoingIncidents"`
	// TotalMonitors is len(ByMonitor); MonitorsDown counts its DOWN rows.
	TotalMonitors int                 `json:"totalMonitors"`
	MonitorsDown  int                 `json:"monitorsDown"`
	Pagination    IncidentsPagination `json:"pagination"`
}

// UserIncidents returns one page of the user's incidents with the
// dashboard's totals and per-monitor summary.
//
// Kept from the old service, because a user reads them as intended: the
// list includes incidents of inactive monitors (their history does not
// vanish when a monitor is paused), while byMonitor, totalMonitors and
// monitorsDown describe the active monitors, including those without
// incidents.
//
// Changed, because a user would call them bugs: totalDowntimeMs was summed
// over active monitors only and ongoingIncidents ignored the search, so the
// totals shown above the list disagreed with it. Here totalIncidents,
// totalDowntimeMs and ongoingIncidents are all computed over exactly the
// incidents the list pages through. Sorting covers the whole result, not
// one page, and name sorts ignore case.
func (r *Reports) UserIncidents(ctx context.Context, userID string, q UserIncidentsQuery) (UserIncidents, error) {
	order, err := incidentOrderBy(q.SortBy)
	if err != nil {
		return UserIncidents{}, fmt.Errorf("user incidents for %s: %w", userID, err)
	}
	page, limit, offset := incidentPage(q.Page, q.Limit)
	args := pgx.NamedArgs{"user": userID, "now": r.clock(), "limit": limit, "offset": offset}
	search := ""
	if s := strings.TrimSpace(q.Search); s != "" {
		args["pattern"] = "%" + EscapeLike(s) + "%"
		search = ` AND (m.name ILIKE @pattern ESCAPE '\' OR m.url ILIKE @pattern ESCAPE '\')`
	}
	res := UserIncidents{UserID: userID, Incidents: []IncidentWithMonitor{}, ByMonitor: []MonitorIncidentSummary{}}

	b := &pgx.Batch{}
	b.Queue(`
SELECT count(*), count(*) FILTER (WHERE i.status = 'ONGOING'), coalesce(sum(`+sqlIncidentMs+`), 0)::bigint
FROM incidents i JOIN monitors m ON m.id = i.monitor_id
WHERE i.user_id = @user`+search, args).QueryRow(func(row pgx.Row) error {
		return row.Scan(&res.TotalIncidents, &res.OngoingIncidents, &res.TotalDowntimeMs)
	})
	b.Queue(`
SELECT `+incidentColumns+`, m.name, m.url, m.status
FROM incidents i JOIN monitors m ON m.id = i.monitor_id
WHERE i.user_id = @user`+search+`
ORDER BY `+order+`
LIMIT @limit OFFSET @offset`, args).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var inc IncidentWithMonitor
			d, err := scanIncident(rows, &inc.MonitorName, &inc.MonitorURL, &inc.MonitorStatus)
			if err != nil {
				return err
			}
			inc.IncidentDTO = d
			res.Incidents = append(res.Incidents, inc)
		}
		return rows.Err()
	})
	// A LEFT JOIN row without incident has a NULL i.started_at, which
	// sqlIncidentMs turns into 0 (greatest ignores NULL).
	b.Queue(`
SELECT m.id::text, m.name, m.url, m.status, count(i.id),
       coalesce(bool_or(i.status = 'ONGOING'), false), coalesce(sum(`+sqlIncidentMs+`), 0)::bigint
FROM monitors m LEFT JOIN incidents i ON i.monitor_id = m.id
WHERE m.user_id = @user AND m.is_active`+search+`
GROUP BY m.id
ORDER BY count(i.id) DESC, lower(m.name), m.id`, args).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var s MonitorIncidentSummary
			if err := rows.Scan(&s.MonitorID, &s.MonitorName, &s.MonitorURL, &s.MonitorStatus,
				&s.IncidentCount, &s.HasOngoingIncident, &s.TotalDowntimeMs); err != nil {
				return err
			}
			s.TotalDowntime = FormatDuration(s.TotalDowntimeMs)
			res.ByMonitor = append(res.ByMonitor, s)
			if s.MonitorStatus == StatusDown {
				res.MonitorsDown++
			}
		}
		return rows.Err()
	})
	if err := r.db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return UserIncidents{}, fmt.Errorf("user incidents for %s: %w", userID, err)
	}
	res.TotalDowntime = FormatDuration(res.TotalDowntimeMs)
	res.TotalMonitors = len(res.ByMonitor)
	res.Pagination = newIncidentsPagination(page, limit, res.TotalIncidents)
	return res, nil
}
