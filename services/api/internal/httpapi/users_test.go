package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/services/api/internal/auth"
	"github.com/servercheck/uptime/services/api/internal/store"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, adminTok := h.user(adminEmail, store.RoleAdmin)

	t.Run("a new email is pre-registered as USER, lower-cased and without a sub", func(t *testing.T) {
		t.Parallel()
		r := h.request(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": " New.Person@Example.COM "})
		require.Equal(t, http.StatusCreated, r.code, string(r.body))
		u := decode[map[string]any](t, r.body)
		assert.Regexp(t, `^[0-9a-f-]{36}$`, u["id"])
		assert.Equal(t, "new.person@example.com", u["email"])
		assert.Equal(t, store.RoleUser, u["role"])
		assert.Contains(t, u, "cognitoSub")
		assert.Nil(t, u["cognitoSub"])
		assert.Regexp(t, rfc3339Z, u["createdAt"])
		assert.Regexp(t, rfc3339Z, u["updatedAt"])
	})

	t.Run("a role in lower case is accepted", func(t *testing.T) {
		t.Parallel()
		r := h.request(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": "lower-role@example.com", "role": "guest"})
		require.Equal(t, http.StatusCreated, r.code, string(r.body))
		assert.Equal(t, store.RoleGuest, decode[map[string]any](t, r.body)["role"])
	})

	t.Run("a duplicate email is a 409 with a message, whatever its case", func(t *testing.T) {
		t.Parallel()
		code, body := h.do(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": "dup@example.com"})
		require.Equal(t, http.StatusCreated, code, string(body))
		msgs := requireError(t, h.request(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": "DUP@example.com"}), http.StatusConflict)
		assert.Equal(t, []string{"A user with this email already exists"}, msgs)
		assert.Equal(t, "Conflict", decode[errorEnvelope](t, h.request(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": "dup@example.com"}).body).Error)
	})

	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"a missing email is refused", map[string]any{"role": "USER"}, "email should not be empty"},
		{"an email without @ is refused", map[string]any{"email": "not-an-email"}, "email must be an email"},
		{"an email with a display name is refused", map[string]any{"email": "Bob <bob@example.com>"}, "email must be an email"},
		{"an email that is not a string is refused", map[string]any{"email": 7}, "email must be a string"},
		{"an unknown role is refused", map[string]any{"email": "role@example.com", "role": "ROOT"}, "role must be one of the following values: ADMIN, USER, GUEST"},
		{"an id in the body is refused", map[string]any{"email": "id@example.com", "id": "00000000-0000-4000-8000-000000000000"}, "property id should not exist"},
		{"a cognitoSub in the body is refused", map[string]any{"email": "sub@example.com", "cognitoSub": "x"}, "property cognitoSub should not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertMentions(t, requireValidation(t, h.request(http.MethodPost, "/api/v1/user", adminTok, tc.body)), tc.want)
		})
	}
}

func TestListUsersPaginates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	adminID, adminTok := h.user(adminEmail, store.RoleAdmin)
	ids := []string{adminID} // oldest first
	for i := range 6 {
		r := h.request(http.MethodPost, "/api/v1/user", adminTok, map[string]any{"email": fmt.Sprintf("u%d@example.com", i)})
		require.Equal(t, http.StatusCreated, r.code, string(r.body))
		ids = append(ids, decode[map[string]any](t, r.body)["id"].(string))
	}
	newestFirst := make([]string, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		newestFirst = append(newestFirst, ids[i])
	}

	for _, tc := range []struct {
		name       string
		page       int
		want       []string
		next, prev *int
	}{
		{"the first page has the newest users", 1, newestFirst[0:3], intPtr(2), nil},
		{"the middle page links both ways", 2, newestFirst[3:6], intPtr(3), intPtr(1)},
		{"the last page has the oldest user", 3, newestFirst[6:7], nil, intPtr(2)},
		{"a page beyond the end is empty", 9, []string{}, nil, intPtr(8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodGet, fmt.Sprintf("/api/v1/user?page=%d&limit=3", tc.page), adminTok, nil)
			require.Equal(t, http.StatusOK, r.code, string(r.body))
			p := decode[listPage[map[string]any]](t, r.body)
			got := []string{}
			for _, u := range p.Data {
				got = append(got, u["id"].(string))
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, pageMeta{CurrentPage: tc.page, TotalPages: 3, NextPage: tc.next, PrevPage: tc.prev, TotalItems: 7, ItemsPerPage: 3}, p.Pagination)
		})
	}
	for _, tc := range []struct{ name, query, want string }{
		{"a limit of 0 is refused", "limit=0", "limit must not be less than 1"},
		{"a limit above 100 is refused", "limit=101", "limit must not be greater than 100"},
		{"an unknown parameter is named", "search=x", "property search should not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertMentions(t, requireValidation(t, h.request(http.MethodGet, "/api/v1/user?"+tc.query, adminTok, nil)), tc.want)
		})
	}
}

func TestUpdateAndReadUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, adminTok := h.user(adminEmail, store.RoleAdmin)
	otherID, _ := h.user("bystander@example.com", store.RoleUser)
	missing := "00000000-0000-4000-8000-000000000002"

	t.Run("id and cognitoSub in the body are refused naming them", func(t *testing.T) {
		t.Parallel()
		id, tok := h.user("rewrite@example.com", store.RoleUser)
		for _, token := range []string{tok, adminTok} {
			msgs := requireValidation(t, h.request(http.MethodPatch, "/api/v1/user/"+id, token,
				map[string]any{"id": missing, "cognitoSub": "stolen"}))
			assertMentions(t, msgs, "property id should not exist")
			assertMentions(t, msgs, "property cognitoSub should not exist")
		}
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM users WHERE id = $1 AND cognito_sub <> 'stolen'`, id))
	})

	t.Run("a USER cannot change its own role", func(t *testing.T) {
		t.Parallel()
		id, tok := h.user("climber@example.com", store.RoleUser)
		msgs := requireError(t, h.request(http.MethodPatch, "/api/v1/user/"+id, tok, map[string]any{"role": "ADMIN"}), http.StatusForbidden)
		assertMentions(t, msgs, "ADMIN")
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM users WHERE id = $1 AND role = 'USER'`, id))
	})

	t.Run("a USER changes its own email", func(t *testing.T) {
		t.Parallel()
		id, tok := h.user("mover@example.com", store.RoleUser)
		r := h.request(http.MethodPatch, "/api/v1/user/"+id, tok, map[string]any{"email": "Moved@Example.com"})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		u := decode[map[string]any](t, r.body)
		assert.Equal(t, "moved@example.com", u["email"])
		assert.Equal(t, store.RoleUser, u["role"])
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM users WHERE id = $1 AND email = 'moved@example.com'`, id))
	})

	t.Run("a USER reads its own profile", func(t *testing.T) {
		t.Parallel()
		id, tok := h.user("reader@example.com", store.RoleUser)
		r := h.request(http.MethodGet, "/api/v1/user/"+id, tok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		u := decode[map[string]any](t, r.body)
		assert.Equal(t, id, u["id"])
		assert.Equal(t, "reader@example.com", u["email"])
		assert.NotEmpty(t, u["cognitoSub"])
	})

	t.Run("an ADMIN changes a role", func(t *testing.T) {
		t.Parallel()
		id, _ := h.user("promoted@example.com", store.RoleUser)
		r := h.request(http.MethodPatch, "/api/v1/user/"+id, adminTok, map[string]any{"role": "guest"})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.Equal(t, store.RoleGuest, decode[map[string]any](t, r.body)["role"])
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM users WHERE id = $1 AND role = 'GUEST'`, id))
	})

	t.Run("an email taken by another user is a 409", func(t *testing.T) {
		t.Parallel()
		id, tok := h.user("squatter@example.com", store.RoleUser)
		for _, token := range []string{tok, adminTok} {
			msgs := requireError(t, h.request(http.MethodPatch, "/api/v1/user/"+id, token, map[string]any{"email": "Bystander@example.com"}), http.StatusConflict)
			assert.Equal(t, []string{"A user with this email already exists"}, msgs)
		}
	})

	t.Run("an invalid email or role is a 400", func(t *testing.T) {
		t.Parallel()
		id, _ := h.user("invalid@example.com", store.RoleUser)
		msgs := requireValidation(t, h.request(http.MethodPatch, "/api/v1/user/"+id, adminTok, map[string]any{"email": "nope", "role": "OWNER"}))
		assertMentions(t, msgs, "email must be an email")
		assertMentions(t, msgs, "role must be one of the following values")
	})

	t.Run("a USER cannot read or change another user", func(t *testing.T) {
		t.Parallel()
		_, tok := h.user("nosy@example.com", store.RoleUser)
		for _, method := range []string{http.MethodGet, http.MethodPatch} {
			msgs := requireError(t, h.request(method, "/api/v1/user/"+otherID, tok, map[string]any{"email": "hijacked@example.com"}), http.StatusForbidden)
			assert.Equal(t, []string{"You can only access your own user information"}, msgs)
		}
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM users WHERE id = $1 AND email = 'bystander@example.com'`, otherID))
	})

	t.Run("an id that is not a uuid is a 400", func(t *testing.T) {
		t.Parallel()
		for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			msgs := requireValidation(t, h.request(method, "/api/v1/user/42", adminTok, nil))
			assert.Equal(t, []string{"id must be a UUID"}, msgs, method)
		}
	})

	t.Run("an unknown user is a 404 for an ADMIN", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			method string
			body   any
		}{
			{http.MethodGet, nil},
			{http.MethodPatch, map[string]any{"role": "GUEST"}},
			{http.MethodPatch, map[string]any{}},
			{http.MethodDelete, nil},
		} {
			msgs := requireError(t, h.request(tc.method, "/api/v1/user/"+missing, adminTok, tc.body), http.StatusNotFound)
			assert.Equal(t, []string{"User not found"}, msgs, tc.method)
		}
	})

	t.Run("an ADMIN deletes a user with its monitors", func(t *testing.T) {
		t.Parallel()
		id, _ := h.user("leaver@example.com", store.RoleUser)
		mon := h.monitor(id, "Leaver's", "https://example.com")
		r := h.request(http.MethodDelete, "/api/v1/user/"+id, adminTok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		u := decode[map[string]any](t, r.body)
		assert.Equal(t, id, u["id"])
		assert.Equal(t, "leaver@example.com", u["email"])
		assert.Zero(t, h.count(`SELECT count(*) FROM monitors WHERE id = $1`, mon))
	})
}

// The email in the database is the one ADMIN_EMAILS is checked against, so
// a USER who may edit it must not reach ADMIN by writing an admin address
// that has not signed in yet.
func TestAUSERCannotBecomeADMINByTakingAnAdminEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, tok := h.user("mallory@example.com", store.RoleUser)
	access := h.mint(auth.MintOptions{TokenUse: auth.TokenUseAccess, Subject: h.cognitoSub("mallory@example.com")})
	code, body := h.do(http.MethodPatch, "/api/v1/user/"+id, tok, map[string]any{"email": adminEmail})
	t.Logf("PATCH own email to the admin address: %d %s", code, body)

	for name, token := range map[string]string{"ID token": tok, "access token": access} {
		code, body := h.do(http.MethodGet, "/api/v1/uptime/stats", token, nil)
		assert.NotEqual(t, http.StatusOK, code, "%s reached an ADMIN route: %s", name, body)
	}
	assert.Zero(t, h.count(`SELECT count(*) FROM users WHERE id = $1 AND role = 'ADMIN'`, id), "mallory is still not ADMIN")
}

// Cognito keeps the address it knows; a user that changed its email in the
// api still signs in with the same token (same sub).
func TestAUserWhoChangedItsEmailKeepsSigningIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, tok := h.user("renamer@example.com", store.RoleUser)
	code, body := h.do(http.MethodPatch, "/api/v1/user/"+id, tok, map[string]any{"email": "renamed@example.com"})
	require.Equal(t, http.StatusOK, code, string(body))

	r := h.request(http.MethodGet, "/api/v1/user/"+id, tok, nil)
	require.Equal(t, http.StatusOK, r.code, "the ID token with the old email still works: %s", r.body)
	assert.Equal(t, "renamed@example.com", decode[map[string]any](t, r.body)["email"])
	assert.Zero(t, h.count(`SELECT count(*) FROM users WHERE email = 'renamer@example.com'`), "no second user was provisioned")
}
