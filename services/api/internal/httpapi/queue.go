package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/pkg/schedule"
)

// QueueOps are the ADMIN's queue operations on the schedule.
type QueueOps interface {
	// Sync reconciles the schedule with PostgreSQL now.
	Sync(ctx context.Context) (schedule.Result, error)
	// Clear drops pending jobs; the schedule itself stays.
	Clear(ctx context.Context) (schedule.ClearResult, error)
}

func (a *API) queueSync(c *gin.Context) {
	res, err := a.d.Queue.Sync(c.Request.Context())
	if errors.Is(err, schedule.ErrBusy) {
		a.fail(c, errStatus(http.StatusConflict, "A reconcile is already running, try again shortly"))
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{
		"added": res.Added, "removed": res.Removed, "updated": res.Updated,
		// The old service's names.
		"jobsCreated": res.Added, "orphanedRemoved": res.Removed,
	})
}

func (a *API) queueClear(c *gin.Context) {
	res, err := a.d.Queue.Clear(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{
		"message": "Queue cleared successfully", "removedCount": res.Dropped,
		"dropped": res.Dropped, "acked": res.Acked, "released": res.Released,
	})
}
