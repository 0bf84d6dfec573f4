package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func (a *API) userSummary(c *gin.Context) {
	if err := readQuery(c).err(); err != nil {
		a.fail(c, err)
		return
	}
	s, err := a.d.Reports.UserSummary(c.Request.Context(), caller(c).ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (a *API) monitorLogs(c *gin.Context) {
	if err := readQuery(c).err(); err != nil {
		a.fail(c, err)
		return
	}
	m, ok := a.ownedMonitor(c, "uptimeId")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	logs, err := a.d.PingLogs.Latest(ctx, m.ID, 100)
	if err != nil {
		a.fail(c, err)
		return
	}
	health, err := a.d.Reports.Health(ctx, m)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"monitor": struct {
			store.Monitor
			Logs []store.PingLog `json:"logs"`
		}{monitorView(m), logs},
		"stats": health,
	})
}

func (a *API) monitorIncidents(c *gin.Context) {
	// sortBy and search were accepted (and ignored) by the old service;
	// the front end does not send them here, so they are refused.
	q := readQuery(c, "page", "limit")
	page, limit := q.integer("page", 1, 1, 1_000_000), q.integer("limit", 20, 1, 100)
	if err := q.err(); err != nil {
		a.fail(c, err)
		return
	}
	m, ok := a.ownedMonitor(c, "id")
	if !ok {
		return
	}
	res, err := a.d.Reports.MonitorIncidents(c.Request.Context(), m.ID, page, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

var incidentSorts = []string{"recent", "oldest", "name_asc", "name_desc", "duration_longest", "duration_shortest"}

func (a *API) userIncidents(c *gin.Context) {
	q := readQuery(c, "page", "limit", "search", "sortBy")
	uq := store.UserIncidentsQuery{
		Page:   q.integer("page", 1, 1, 1_000_000),
		Limit:  q.integer("limit", 20, 1, 100),
		Search: q.str("search"),
		SortBy: q.enum("sortBy", "recent", false, incidentSorts...),
	}
	if err := q.err(); err != nil {
		a.fail(c, err)
		return
	}
	res, err := a.d.Reports.UserIncidents(c.Request.Context(), caller(c).ID, uq)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *API) aggregates(c *gin.Context) {
	q := readQuery(c, "granularity")
	granularity := q.enum("granularity", "HOURLY", true, "HOURLY", "DAILY")
	if err := q.err(); err != nil {
		a.fail(c, err)
		return
	}
	m, ok := a.ownedMonitor(c, "id")
	if !ok {
		return
	}
	rows, err := a.d.Reports.Aggregates(c.Request.Context(), m.ID, granularity)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rows)
}

func (a *API) adminStats(c *gin.Context) {
	s, err := a.d.Admin.Stats(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (a *API) flush(c *gin.Context) {
	n, err := a.d.Admin.RequestFlush(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	status := http.StatusOK
	if c.Request.Method == http.MethodPost {
		status = http.StatusCreated
	}
	c.JSON(status, gin.H{"message": "Flush requested", "receivers": n})
}
