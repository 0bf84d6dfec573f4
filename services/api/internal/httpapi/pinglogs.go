package httpapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/services/api/internal/store"
)

func (a *API) pingLogQuery(c *gin.Context) (store.PingLogQuery, bool) {
	q := readQuery(c, "page", "limit", "monitorId")
	pq := store.PingLogQuery{
		Page:      q.integer("page", 1, 1, 1_000_000),
		Limit:     q.integer("limit", 10, 1, 100),
		MonitorID: q.uuid("monitorId"),
	}
	if err := q.err(); err != nil {
		a.fail(c, err)
		return pq, false
	}
	return pq, true
}

func (a *API) respondPingLogs(c *gin.Context, pq store.PingLogQuery) {
	logs, total, err := a.d.PingLogs.List(c.Request.Context(), pq)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(logs, pq.Page, pq.Limit, total))
}

func (a *API) listPingLogs(c *gin.Context) {
	if pq, ok := a.pingLogQuery(c); ok {
		a.respondPingLogs(c, pq)
	}
}

func (a *API) myPingLogs(c *gin.Context) {
	if pq, ok := a.pingLogQuery(c); ok {
		pq.OwnerID = caller(c).ID
		a.respondPingLogs(c, pq)
	}
}

// ownedPingLog loads a ping log the caller may see; others' are 404.
func (a *API) ownedPingLog(c *gin.Context) (store.PingLog, bool) {
	id, err := pathID(c, "id")
	if err != nil {
		a.fail(c, err)
		return store.PingLog{}, false
	}
	log, owner, err := a.d.PingLogs.Get(c.Request.Context(), id)
	if u := caller(c); err == nil && u.Role != store.RoleAdmin && owner != u.ID {
		err = store.ErrNotFound
	}
	if store.IsNotFound(err) {
		err = errStatus(http.StatusNotFound, fmt.Sprintf("PingLog with id %s not found", id))
	}
	if err != nil {
		a.fail(c, err)
		return store.PingLog{}, false
	}
	return log, true
}

func (a *API) getPingLog(c *gin.Context) {
	if log, ok := a.ownedPingLog(c); ok {
		c.JSON(http.StatusOK, log)
	}
}

func (a *API) deletePingLog(c *gin.Context) {
	log, ok := a.ownedPingLog(c)
	if !ok {
		return
	}
	if err := a.d.PingLogs.Delete(c.Request.Context(), log.ID); err != nil {
		a.fail(c, err)
		return
	}
	c.String(http.StatusOK, "PingLog deleted successfully")
}
