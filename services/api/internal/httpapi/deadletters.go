package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/pkg/deadletter"
)

// DeadLetterOps are the ADMIN's dead-letter operations.
type DeadLetterOps interface {
	List(ctx context.Context, status string, page, limit int) ([]deadletter.Parked, int, error)
	Get(ctx context.Context, id string) (deadletter.Parked, error)
	Replay(ctx context.Context, id string) (deadletter.Parked, error)
	Discard(ctx context.Context, id string) (deadletter.Parked, error)
}

func deadLetterError(err error) error {
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		return errStatus(http.StatusNotFound, "Dead letter not found")
	case errors.Is(err, deadletter.ErrNotParked):
		return errStatus(http.StatusConflict, "Dead letter was already replayed or discarded")
	}
	return err
}

func (a *API) listDeadLetters(c *gin.Context) {
	q := readQuery(c, "page", "limit", "status")
	page, limit := q.integer("page", 1, 1, 1_000_000), q.integer("limit", 10, 1, 100)
	status := q.enum("status", "", true, deadletter.StatusParked, deadletter.StatusReplayed, deadletter.StatusDiscarded)
	if err := q.err(); err != nil {
		a.fail(c, err)
		return
	}
	rows, total, err := a.d.DeadLetters.List(c.Request.Context(), status, page, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(rows, page, limit, int64(total)))
}

type dlOp = func(context.Context, string) (deadletter.Parked, error)

// deadLetterAction runs the operation pick chooses on the :id dead letter
// and answers the row. The operation is picked per request so that the
// router can be built without the dependency (the OpenAPI test does).
func (a *API) deadLetterAction(pick func(DeadLetterOps) dlOp) gin.HandlerFunc {
	return func(c *gin.Context) {
		op := pick(a.d.DeadLetters)
		id, err := pathID(c, "id")
		if err != nil {
			a.fail(c, err)
			return
		}
		row, err := op(c.Request.Context(), id)
		if err != nil {
			a.fail(c, deadLetterError(err))
			return
		}
		c.JSON(http.StatusOK, row)
	}
}
