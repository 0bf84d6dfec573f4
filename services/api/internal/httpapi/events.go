package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/services/api/internal/live"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// keepAlive is how often an idle event stream gets a comment line, so
// that proxies keep it open.
const keepAlive = 15 * time.Second

// LiveEvents hands out subscriptions to status changes.
type LiveEvents interface {
	Subscribe(userID string, all bool) (<-chan live.Event, func())
}

// events streams the caller's status changes (ADMIN: all) as
// Server-Sent Events until the client leaves or the api shuts down.
func (a *API) events(c *gin.Context) {
	if a.d.Live == nil {
		a.fail(c, errStatus(http.StatusServiceUnavailable, "Live events are not available"))
		return
	}
	u := caller(c)
	ch, cancel := a.d.Live.Subscribe(u.ID, u.Role == store.RoleAdmin)
	defer cancel()

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	_, _ = fmt.Fprint(c.Writer, ": connected\n\n")
	c.Writer.Flush()

	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-a.stopping:
			return
		case <-tick.C:
			_, _ = fmt.Fprint(c.Writer, ": keep-alive\n\n")
		case ev := <-ch:
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			_, _ = fmt.Fprintf(c.Writer, "event: status\ndata: %s\n\n", b)
		}
		c.Writer.Flush()
	}
}
