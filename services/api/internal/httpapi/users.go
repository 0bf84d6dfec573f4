package httpapi

import (
	"net/http"
	"net/mail"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/services/api/internal/store"
)

var roles = []string{store.RoleAdmin, store.RoleUser, store.RoleGuest}

func (b *body) email(name string, required bool) *string {
	s := b.str(name, required, 254)
	if s == nil {
		return nil
	}
	addr, err := mail.ParseAddress(*s)
	if err != nil || addr.Address != *s || !strings.Contains(*s, "@") {
		b.fail("%s must be an email", name)
		return nil
	}
	v := strings.ToLower(*s)
	return &v
}

func (a *API) createUser(c *gin.Context) {
	b, err := readBody(c, "email", "role")
	if err != nil {
		a.fail(c, err)
		return
	}
	email := b.email("email", true)
	role := b.enum("role", false, roles...)
	if err := b.err(); err != nil {
		a.fail(c, err)
		return
	}
	r := store.RoleUser
	if role != nil {
		r = *role
	}
	u, err := a.d.Users.Create(c.Request.Context(), *email, r)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, u)
}

func (a *API) listUsers(c *gin.Context) {
	q := readQuery(c, "page", "limit")
	page, limit := q.integer("page", 1, 1, 1_000_000), q.integer("limit", 10, 1, 100)
	if err := q.err(); err != nil {
		a.fail(c, err)
		return
	}
	users, total, err := a.d.Users.List(c.Request.Context(), page, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(users, page, limit, total))
}

// userTarget reads :id and checks that the caller may act on that user:
// ADMIN on anyone, others only on themselves.
func (a *API) userTarget(c *gin.Context) (string, bool) {
	id, err := pathID(c, "id")
	if err != nil {
		a.fail(c, err)
		return "", false
	}
	if u := caller(c); u.Role != store.RoleAdmin && u.ID != id {
		a.fail(c, errStatus(http.StatusForbidden, "You can only access your own user information"))
		return "", false
	}
	return id, true
}

func (a *API) userNotFound(err error) error {
	if store.IsNotFound(err) {
		return errStatus(http.StatusNotFound, "User not found")
	}
	return err
}

func (a *API) getUser(c *gin.Context) {
	id, ok := a.userTarget(c)
	if !ok {
		return
	}
	u, err := a.d.Users.Get(c.Request.Context(), id)
	if err != nil {
		a.fail(c, a.userNotFound(err))
		return
	}
	c.JSON(http.StatusOK, u)
}

func (a *API) updateUser(c *gin.Context) {
	id, ok := a.userTarget(c)
	if !ok {
		return
	}
	// id and cognitoSub are not fields: they can never be rewritten.
	b, err := readBody(c, "email", "role")
	if err != nil {
		a.fail(c, err)
		return
	}
	upd := store.UserUpdate{Email: b.email("email", false), Role: b.enum("role", false, roles...)}
	if err := b.err(); err != nil {
		a.fail(c, err)
		return
	}
	if upd.Role != nil && caller(c).Role != store.RoleAdmin {
		a.fail(c, errStatus(http.StatusForbidden, "Only an ADMIN can change roles"))
		return
	}
	u, err := a.d.Users.Update(c.Request.Context(), id, upd)
	if err != nil {
		a.fail(c, a.userNotFound(err))
		return
	}
	c.JSON(http.StatusOK, u)
}

func (a *API) deleteUser(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	u, err := a.d.Users.Delete(c.Request.Context(), id)
	if err != nil {
		a.fail(c, a.userNotFound(err))
		return
	}
	c.JSON(http.StatusOK, u)
}
