package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/stream"
	"github.com/servercheck/uptime/proto-events/events"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// validMonitor returns a valid create body with overrides applied; a nil
// override value removes the field.
func validMonitor(overrides map[string]any) map[string]any {
	b := map[string]any{"name": "Homepage", "url": "https://example.com/health", "frequency": 60}
	for k, v := range overrides {
		if v == nil {
			delete(b, k)
			continue
		}
		b[k] = v
	}
	return b
}

// httpConfig wraps an http config object in a monitor's config.
func httpConfig(fields map[string]any) map[string]any {
	return map[string]any{"config": map[string]any{"http": fields}}
}

// changes decodes the MonitorChanged events published so far.
func (h *harness) changes() []*eventsv1.MonitorChanged {
	h.t.Helper()
	entries, err := h.rdb.XRange(h.t.Context(), h.ks.Key(stream.Monitors), "-", "+").Result()
	require.NoError(h.t, err)
	out := make([]*eventsv1.MonitorChanged, 0, len(entries))
	for _, e := range entries {
		raw, ok := e.Values["d"].(string)
		require.True(h.t, ok, "entry %s has a payload", e.ID)
		env, err := events.Unmarshal([]byte(raw))
		require.NoError(h.t, err)
		mc := env.GetMonitorChanged()
		require.NotNil(h.t, mc, "entry %s is a MonitorChanged", e.ID)
		out = append(out, mc)
	}
	return out
}

// incident opens an ONGOING incident on monitorID.
func (h *harness) incident(monitorID, userID string) string {
	h.t.Helper()
	var id string
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(),
		`INSERT INTO incidents (monitor_id, user_id, started_at) VALUES ($1, $2, now() - interval '5 minutes') RETURNING id::text`,
		monitorID, userID).Scan(&id))
	return id
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.Pool.QueryRow(h.t.Context(), sql, args...).Scan(&n), sql)
	return n
}

func TestCreateMonitorRefusesInvalidInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("creator@example.com", store.RoleUser)

	cases := []struct {
		name string
		body any
		want []string
	}{
		{"an empty object lists every missing field at once", map[string]any{},
			[]string{"name should not be empty", "url should not be empty", "frequency must be an integer number"}},
		{"no body at all lists every missing field at once", nil,
			[]string{"name should not be empty", "url should not be empty", "frequency must be an integer number"}},
		{"an unknown field is named", validMonitor(map[string]any{"foo": 1}), []string{"property foo should not exist"}},
		{"problems of different fields are all listed", validMonitor(map[string]any{"foo": 1, "frequency": 59, "name": ""}),
			[]string{"property foo should not exist", "frequency must not be less than 60", "name should not be empty"}},
		{"a frequency below 60 is refused", validMonitor(map[string]any{"frequency": 59}), []string{"frequency must not be less than 60"}},
		{"a frequency above a day is refused", validMonitor(map[string]any{"frequency": 86401}), []string{"frequency must not be greater than 86400"}},
		{"a fractional frequency is refused", validMonitor(map[string]any{"frequency": 60.5}), []string{"frequency must be an integer number"}},
		{"a frequency given as a string is refused", validMonitor(map[string]any{"frequency": "60"}), []string{"frequency must be an integer number"}},
		{"a blank name is refused", validMonitor(map[string]any{"name": "   "}), []string{"name should not be empty"}},
		{"a name longer than 200 characters is refused", validMonitor(map[string]any{"name": strings.Repeat("n", 201)}),
			[]string{"name must be shorter than or equal to 200 characters"}},
		{"a name that is not a string is refused", validMonitor(map[string]any{"name": 42}), []string{"name must be a string"}},
		{"an ftp url is refused", validMonitor(map[string]any{"url": "ftp://example.com/file"}), []string{"url", "http"}},
		{"a url that is not a url is refused", validMonitor(map[string]any{"url": "not a url"}), []string{"url"}},
		{"a url without a scheme is refused", validMonitor(map[string]any{"url": "example.com"}), []string{"url"}},
		{"a private IP address is refused", validMonitor(map[string]any{"url": "http://10.0.0.1/"}), []string{"url", "10.0.0.1"}},
		{"a name resolving to a private address is refused", validMonitor(map[string]any{"url": "http://internal.example/"}),
			[]string{"url", "internal.example", "10.1.2.3"}},
		{"localhost is refused", validMonitor(map[string]any{"url": "http://localhost/"}), []string{"url", "localhost"}},
		{"the loopback address is refused", validMonitor(map[string]any{"url": "http://127.0.0.1:8080/"}), []string{"url", "127.0.0.1"}},
		{"the IPv6 loopback is refused", validMonitor(map[string]any{"url": "http://[::1]/"}), []string{"url", "::1"}},
		{"the cloud metadata address is refused", validMonitor(map[string]any{"url": "http://169.254.169.254/latest/meta-data/"}),
			[]string{"url", "169.254.169.254"}},
		{"a shortened IPv4 form is refused", validMonitor(map[string]any{"url": "http://127.1/"}), []string{"url", "127.1"}},
		{"credentials in the url are refused", validMonitor(map[string]any{"url": "http://user:pw@example.com"}), []string{"url", "credentials"}},
		{"a host that does not resolve is refused", validMonitor(map[string]any{"url": "https://nowhere.invalid/"}), []string{"url", "nowhere.invalid", "does not resolve"}},
		{"an unknown monitorType is refused", validMonitor(map[string]any{"monitorType": "FTP"}),
			[]string{"monitorType must be one of the following values: HTTP, SSL, HEARTBEAT"}},
		{"an SSL monitor of a plain-http url is refused", validMonitor(map[string]any{"monitorType": "SSL", "url": "http://example.com/"}),
			[]string{"url must be an https URL for an SSL monitor"}},
		{"a config that is not an object is refused", validMonitor(map[string]any{"config": "yes"}), []string{"config must be an object"}},
		{"an unknown key at the top of config is refused", validMonitor(map[string]any{"config": map[string]any{"tcp": map[string]any{}}}),
			[]string{"config: property tcp should not exist"}},
		{"an unknown key in config.http is refused", validMonitor(httpConfig(map[string]any{"proxy": "x"})),
			[]string{"config.http: property proxy should not exist"}},
		{"an unknown key in config.ssl is refused", validMonitor(map[string]any{"config": map[string]any{"ssl": map[string]any{"port": 443}}}),
			[]string{"config.ssl: property port should not exist"}},
		{"config.http that is not an object is refused", validMonitor(map[string]any{"config": map[string]any{"http": "x"}}),
			[]string{"config.http must be an object"}},
		{"an unsupported method is refused", validMonitor(httpConfig(map[string]any{"method": "DELETE"})),
			[]string{"config.http: method must be one of the following values"}},
		{"a timeout below a second is refused", validMonitor(httpConfig(map[string]any{"timeoutMs": 500})),
			[]string{"config.http: timeoutMs must not be less than 1000"}},
		{"a timeout above 30 seconds is refused", validMonitor(httpConfig(map[string]any{"timeoutMs": 40000})),
			[]string{"config.http: timeoutMs must not be greater than 30000"}},
		{"an expected status code below 100 is refused", validMonitor(httpConfig(map[string]any{"expectedStatusCodes": []int{200, 99}})),
			[]string{"config.http: expectedStatusCodes must contain integers between 100 and 599"}},
		{"expectedStatusCodes that is not an array is refused", validMonitor(httpConfig(map[string]any{"expectedStatusCodes": 200})),
			[]string{"config.http: expectedStatusCodes must be an array"}},
		{"expectedJsonValue without expectedJsonPath is refused", validMonitor(httpConfig(map[string]any{"expectedJsonValue": "up"})),
			[]string{"config.http: expectedJsonValue requires expectedJsonPath"}},
		{"an object as expectedJsonValue is refused", validMonitor(httpConfig(map[string]any{"expectedJsonPath": "a", "expectedJsonValue": map[string]any{}})),
			[]string{"config.http: expectedJsonValue must be a string, number, boolean or null"}},
		{"a header value spanning lines is refused", validMonitor(httpConfig(map[string]any{"headers": map[string]any{"X-A": "a\r\nX-B: b"}})),
			[]string{"config.http: headers"}},
		{"an invalid header name is refused", validMonitor(httpConfig(map[string]any{"headers": map[string]any{"Bad Name": "v"}})),
			[]string{"config.http: headers", "is not a valid header name"}},
		{"followRedirects that is not a boolean is refused", validMonitor(httpConfig(map[string]any{"followRedirects": "yes"})),
			[]string{"config.http: followRedirects must be a boolean value"}},
		{"an SSL alert of zero days is refused", validMonitor(map[string]any{"config": map[string]any{"ssl": map[string]any{"alertBeforeDays": 0}}}),
			[]string{"config.ssl: alertBeforeDays must not be less than 1"}},
		{"a heartbeat interval below 10 seconds is refused", validMonitor(map[string]any{"heartbeatIntervalSeconds": 5}),
			[]string{"heartbeatIntervalSeconds must not be less than 10"}},
		{"a negative heartbeat grace is refused", validMonitor(map[string]any{"heartbeatGraceSeconds": -1}),
			[]string{"heartbeatGraceSeconds must not be less than 0"}},
		{"isActive that is not a boolean is refused", validMonitor(map[string]any{"isActive": "yes"}), []string{"isActive must be a boolean value"}},
	}
	// The group returns when every parallel case has finished.
	t.Run("each invalid body", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				msgs := requireValidation(t, h.request(http.MethodPost, "/api/v1/uptime", tok, tc.body))
				for _, w := range tc.want {
					assertMentions(t, msgs, w)
				}
				if strings.HasPrefix(tc.name, "an empty object") || strings.HasPrefix(tc.name, "no body") {
					assert.Len(t, msgs, 3, "one message per missing field: %q", msgs)
				}
			})
		}
	})
	assert.Zero(t, h.count(`SELECT count(*) FROM monitors`), "no refused request created a monitor")
	assert.Empty(t, h.changes(), "no refused request published a change")
}

func TestCreateMonitorAnswers201WithTheMonitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("shape@example.com", store.RoleUser)
	before := time.Now().Add(-time.Second)

	r := h.request(http.MethodPost, "/api/v1/uptime", tok, map[string]any{"name": "  Homepage  ", "url": "https://example.com/health", "frequency": 300})
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	m := decode[map[string]any](t, r.body)

	assert.Regexp(t, `^[0-9a-f-]{36}$`, m["id"])
	assert.Equal(t, userID, m["userId"])
	assert.Equal(t, "Homepage", m["name"], "the name is trimmed")
	assert.Equal(t, "https://example.com/health", m["url"])
	assert.InDelta(t, 300, m["frequency"], 0)
	assert.Equal(t, true, m["isActive"])
	assert.Equal(t, store.StatusPending, m["status"])
	assert.Equal(t, store.TypeHTTP, m["monitorType"], "HTTP is the default type")
	assert.Equal(t, map[string]any{}, m["config"])
	assert.Nil(t, m["lastCheck"])
	for _, field := range []string{"createdAt", "updatedAt", "nextCheck"} {
		s, ok := m[field].(string)
		require.True(t, ok, "%s is a string: %v", field, m[field])
		assert.Regexp(t, rfc3339Z, s, "%s is ISO-8601 UTC", field)
		ts, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err, "%s is ISO-8601", field)
		assert.True(t, ts.After(before), "%s is now-ish: %s", field, s)
	}
	created, _ := time.Parse(time.RFC3339Nano, m["createdAt"].(string))
	next, _ := time.Parse(time.RFC3339Nano, m["nextCheck"].(string))
	assert.WithinDuration(t, created.Add(300*time.Second), next, 5*time.Second, "the first check is one frequency away")
	for _, secret := range []string{"sealedSecrets", "heartbeatSecretHash"} {
		assert.NotContains(t, m, secret)
	}

	// The monitor is there for its owner.
	r = h.request(http.MethodGet, "/api/v1/uptime/"+m["id"].(string), tok, nil)
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assert.Equal(t, m["createdAt"], decode[map[string]any](t, r.body)["createdAt"])
}

func TestCreateMonitorStoresTheFullConfigAndMasksItsSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("config@example.com", store.RoleUser)
	body := validMonitor(map[string]any{
		"monitorType": "http",
		"config": map[string]any{
			"http": map[string]any{
				"method":              "post",
				"headers":             map[string]any{"Authorization": "Bearer s3cret", "X-Api-Key": "k3y"},
				"body":                `{"probe":true}`,
				"expectedStatusCodes": []int{200, 201, 200},
				"expectedText":        "ok",
				"expectedJsonPath":    "data.status",
				"expectedJsonValue":   "up",
				"timeoutMs":           5000,
				"maxResponseBytes":    2048,
				"followRedirects":     false,
			},
			"ssl": map[string]any{"alertBeforeDays": 14},
		},
		"heartbeatIntervalSeconds": 120,
		"heartbeatGraceSeconds":    30,
	})

	r := h.request(http.MethodPost, "/api/v1/uptime", tok, body)
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	m := decode[map[string]any](t, r.body)
	assert.Equal(t, store.TypeHTTP, m["monitorType"])
	assert.InDelta(t, 120, m["heartbeatIntervalSeconds"], 0)
	assert.InDelta(t, 30, m["heartbeatGraceSeconds"], 0)
	cfg := m["config"].(map[string]any)
	httpCfg := cfg["http"].(map[string]any)
	assert.Equal(t, map[string]any{"Authorization": "********", "X-Api-Key": "********"}, httpCfg["headers"], "header values are masked")
	assert.Equal(t, "********", httpCfg["body"], "the request body is masked")
	assert.Equal(t, "POST", httpCfg["method"])
	assert.Equal(t, []any{200.0, 201.0}, httpCfg["expectedStatusCodes"], "duplicates are dropped")
	assert.Equal(t, "ok", httpCfg["expectedText"])
	assert.Equal(t, "data.status", httpCfg["expectedJsonPath"])
	assert.Equal(t, "up", httpCfg["expectedJsonValue"])
	assert.InDelta(t, 5000, httpCfg["timeoutMs"], 0)
	assert.InDelta(t, 2048, httpCfg["maxResponseBytes"], 0)
	assert.Equal(t, false, httpCfg["followRedirects"])
	assert.Equal(t, map[string]any{"alertBeforeDays": 14.0}, cfg["ssl"])
	assert.NotContains(t, string(r.body), "s3cret")
	assert.NotContains(t, string(r.body), "probe")

	// PostgreSQL holds masks in config and the values sealed beside it.
	row := h.storedMonitor(m["id"].(string))
	assert.NotContains(t, row.config, "s3cret", "no clear header value in the config column")
	assert.NotContains(t, row.config, "k3y")
	assert.NotContains(t, row.config, "probe", "no clear body in the config column")
	assert.JSONEq(t, `{"Authorization": "********", "X-Api-Key": "********"}`, row.headersJSON)
	assert.Equal(t, "********", row.body)
	secrets := h.openSecrets(row)
	assert.Equal(t, []string{"Authorization=Bearer s3cret", "X-Api-Key=k3y"}, headerPairs(secrets.GetHeaders()))
	assert.JSONEq(t, `{"probe":true}`, string(secrets.GetBody()))

	// Reads mask too.
	for _, path := range []string{"/api/v1/uptime/" + m["id"].(string), "/api/v1/uptime"} {
		r = h.request(http.MethodGet, path, tok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.NotContains(t, string(r.body), "s3cret", path)
		assert.Contains(t, string(r.body), "********", path)
	}

	// The scheduler gets the sealed values, never the clear ones nor the
	// masks.
	ch := h.changes()
	require.Len(t, ch, 1)
	req := ch[0].GetMonitor().GetRequest()
	require.NotNil(t, req)
	assert.Equal(t, "POST", req.GetMethod())
	assert.Empty(t, req.GetBody())
	assert.Empty(t, req.GetHeaders())
	assert.Equal(t, row.sealed, req.GetSealedSecrets())
}

// The wizard edits a monitor from what GET returned, so an update may carry
// the masks back: they must not replace the stored secrets.
func TestUpdateMonitorWithTheMaskedConfigKeepsTheSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("roundtrip@example.com", store.RoleUser)
	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(httpConfig(map[string]any{
		"headers": map[string]any{"Authorization": "Bearer s3cret"}, "body": "payload",
	})))
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	m := decode[map[string]any](t, r.body)

	r = h.request(http.MethodPatch, "/api/v1/uptime/"+m["id"].(string), tok, map[string]any{"name": "Renamed", "config": m["config"]})
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assert.NotContains(t, string(r.body), "s3cret")

	row := h.storedMonitor(m["id"].(string))
	assert.NotContains(t, row.config, "s3cret")
	assert.NotContains(t, row.config, "payload")
	secrets := h.openSecrets(row)
	assert.Equal(t, []string{"Authorization=Bearer s3cret"}, headerPairs(secrets.GetHeaders()), "a masked header value keeps the stored one")
	assert.Equal(t, "payload", string(secrets.GetBody()), "a masked body keeps the stored one")
}

func TestListMonitorsPaginates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("pages@example.com", store.RoleUser)
	var ids []string // newest first
	for i := range 23 {
		ids = append([]string{h.monitor(userID, fmt.Sprintf("m%02d", i), "https://example.com",
			fmt.Sprintf("created_at = now() - interval '%d minutes'", 100-i))}, ids...)
	}

	cases := []struct {
		name       string
		page       int
		want       []string
		next, prev *int
	}{
		{"the first page has the 10 newest and no previous page", 1, ids[0:10], intPtr(2), nil},
		{"the second page has the next 10", 2, ids[10:20], intPtr(3), intPtr(1)},
		{"the last page has the remaining 3 and no next page", 3, ids[20:23], nil, intPtr(2)},
		{"a page beyond the end is empty with the same meta", 4, []string{}, nil, intPtr(3)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodGet, fmt.Sprintf("/api/v1/uptime?page=%d&limit=10", tc.page), tok, nil)
			require.Equal(t, http.StatusOK, r.code, string(r.body))
			assert.Contains(t, string(r.body), `"data":[`, "data is an array, never null")
			got := decode[listPage[map[string]any]](t, r.body)
			gotIDs := []string{}
			for _, m := range got.Data {
				gotIDs = append(gotIDs, m["id"].(string))
			}
			assert.Equal(t, tc.want, gotIDs)
			assert.Equal(t, pageMeta{CurrentPage: tc.page, TotalPages: 3, NextPage: tc.next, PrevPage: tc.prev, TotalItems: 23, ItemsPerPage: 10}, got.Pagination)
		})
	}
	t.Run("the defaults are page 1 and 10 per page", func(t *testing.T) {
		t.Parallel()
		got := decode[listPage[map[string]any]](t, h.request(http.MethodGet, "/api/v1/uptime", tok, nil).body)
		assert.Len(t, got.Data, 10)
		assert.Equal(t, pageMeta{CurrentPage: 1, TotalPages: 3, NextPage: intPtr(2), TotalItems: 23, ItemsPerPage: 10}, got.Pagination)
	})
	t.Run("a limit of 100 fits everything on one page", func(t *testing.T) {
		t.Parallel()
		got := decode[listPage[map[string]any]](t, h.request(http.MethodGet, "/api/v1/uptime?limit=100", tok, nil).body)
		assert.Len(t, got.Data, 23)
		assert.Equal(t, pageMeta{CurrentPage: 1, TotalPages: 1, TotalItems: 23, ItemsPerPage: 100}, got.Pagination)
	})
}

func TestListMonitorsRefusesInvalidQueries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.user("query@example.com", store.RoleUser)
	cases := []struct {
		name, query, want string
	}{
		{"a limit of 0 is refused", "limit=0", "limit must not be less than 1"},
		{"a limit of 101 is refused", "limit=101", "limit must not be greater than 100"},
		{"a limit that is not a number is refused", "limit=x", "limit must be an integer number"},
		{"a page of 0 is refused", "page=0", "page must not be less than 1"},
		{"a page that is not a number is refused", "page=two", "page must be an integer number"},
		{"an unknown sortBy is refused", "sortBy=random", "sortBy must be one of the following values"},
		{"an unknown status is refused", "status=SIDEWAYS", "status must be one of the following values"},
		{"includeInactive that is not a boolean is refused", "includeInactive=maybe", "includeInactive must be a boolean value"},
		{"an unknown parameter is named", "color=red", "property color should not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertMentions(t, requireValidation(t, h.request(http.MethodGet, "/api/v1/uptime?"+tc.query, tok, nil)), tc.want)
		})
	}
}

func TestListMonitorsSortsTheWholeResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("sorts@example.com", store.RoleUser)
	mk := func(name, status string, minutesAgo int) string {
		return h.monitor(userID, name, "https://example.com/"+strings.ToLower(name),
			fmt.Sprintf("status = '%s'", status), fmt.Sprintf("created_at = now() - interval '%d minutes'", minutesAgo))
	}
	a := mk("alpha", "UP", 70)
	b := mk("Bravo", "DOWN", 60)
	c := mk("charlie", "PENDING", 50)
	d := mk("delta", "DOWN", 40)
	e := mk("Echo", "UP", 30)
	f := mk("foxtrot", "PENDING", 20)
	g := mk("golf", "MAINTENANCE", 10)

	cases := []struct {
		sortBy string
		want   []string
	}{
		{"", []string{g, f, e, d, c, b, a}},
		{"recent", []string{g, f, e, d, c, b, a}},
		{"oldest", []string{a, b, c, d, e, f, g}},
		{"name_asc", []string{a, b, c, d, e, f, g}},
		{"name_desc", []string{g, f, e, d, c, b, a}},
		{"status_down", []string{d, b, e, a, g, f, c}},
		{"status_up", []string{e, a, d, b, g, f, c}},
	}
	for _, tc := range cases {
		name := "sortBy=" + tc.sortBy + " orders every page of the whole result"
		if tc.sortBy == "" {
			name = "without sortBy the newest come first"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for page := 1; page <= 3; page++ {
				r := h.request(http.MethodGet, fmt.Sprintf("/api/v1/uptime?sortBy=%s&page=%d&limit=3", tc.sortBy, page), tok, nil)
				require.Equal(t, http.StatusOK, r.code, string(r.body))
				p := decode[listPage[map[string]any]](t, r.body)
				assert.Equal(t, 7, p.Pagination.TotalItems)
				for _, m := range p.Data {
					got = append(got, m["id"].(string))
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestListMonitorsFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("filters@example.com", store.RoleUser)
	otherID, _ := h.user("other@example.com", store.RoleUser)
	_, adminTok := h.user(adminEmail, store.RoleAdmin)

	percent := h.monitor(userID, "100% uptime", "https://example.com/a", "status = 'UP'")
	plain := h.monitor(userID, "100x uptime", "https://example.com/b", "status = 'DOWN'")
	underscore := h.monitor(userID, "Shop_API", "https://www.example.org/shop")
	lookalike := h.monitor(userID, "ShopXAPI", "https://example.com/c")
	inactive := h.monitor(userID, "Paused one", "https://example.com/paused", "is_active = false", "status = 'DOWN'")
	others := h.monitor(otherID, "Other's", "https://example.com/other")
	othersInactive := h.monitor(otherID, "Other's paused", "https://example.com/other2", "is_active = false")

	cases := []struct {
		name  string
		token string
		query string
		want  []string
	}{
		{"a USER sees only its own active monitors", tok, "", []string{percent, plain, underscore, lookalike}},
		{"status filters by status, in any case", tok, "status=down", []string{plain}},
		{"search matches the name case-insensitively", tok, "search=UPTIME", []string{percent, plain}},
		{"search matches the url case-insensitively", tok, "search=EXAMPLE.ORG", []string{underscore}},
		{"a literal % in search is not a wildcard", tok, "search=" + url.QueryEscape("100%"), []string{percent}},
		{"a literal _ in search is not a wildcard", tok, "search=shop_", []string{underscore}},
		{"includeInactive=false excludes inactive monitors", tok, "includeInactive=false", []string{percent, plain, underscore, lookalike}},
		{"includeInactive=true includes inactive monitors", tok, "includeInactive=true", []string{percent, plain, underscore, lookalike, inactive}},
		{"status and includeInactive combine", tok, "status=DOWN&includeInactive=true", []string{plain, inactive}},
		{"a USER's userId of another user is ignored", tok, "userId=" + otherID, []string{percent, plain, underscore, lookalike}},
		{"a USER's email of another user is ignored", tok, "email=other@example.com", []string{percent, plain, underscore, lookalike}},
		{"a USER's own email, as the front end sends it, is accepted", tok, "email=filters@example.com", []string{percent, plain, underscore, lookalike}},
		{"an ADMIN without filters sees every user's active monitors", adminTok, "", []string{percent, plain, underscore, lookalike, others}},
		{"an ADMIN filtering by userId sees that user's monitors", adminTok, "userId=" + otherID + "&includeInactive=true", []string{others, othersInactive}},
		{"an ADMIN filtering by email sees that user's monitors", adminTok, "email=Other@Example.com", []string{others}},
		{"an ADMIN filtering by an unknown email sees nothing", adminTok, "email=nobody@example.com", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.request(http.MethodGet, "/api/v1/uptime?limit=100&"+tc.query, tc.token, nil)
			require.Equal(t, http.StatusOK, r.code, string(r.body))
			p := decode[listPage[map[string]any]](t, r.body)
			got := []string{}
			for _, m := range p.Data {
				got = append(got, m["id"].(string))
			}
			assert.ElementsMatch(t, tc.want, got)
			assert.Equal(t, len(tc.want), p.Pagination.TotalItems)
		})
	}
}

// The front end always sends the caller's own email; userId and email are
// ignored for anyone but an ADMIN, "never an error" (issue 3).
func TestListMonitorsIgnoresAMalformedUserIDOfAUSER(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("malformed@example.com", store.RoleUser)
	mine := h.monitor(userID, "Mine", "https://example.com")

	r := h.request(http.MethodGet, "/api/v1/uptime?userId=not-a-uuid", tok, nil)
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	p := decode[listPage[map[string]any]](t, r.body)
	require.Len(t, p.Data, 1)
	assert.Equal(t, mine, p.Data[0]["id"])
}

func TestUpdateMonitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("updater@example.com", store.RoleUser)

	t.Run("the url cannot change", func(t *testing.T) {
		t.Parallel()
		id := h.monitor(userID, "Fixed", "https://example.com")
		msgs := requireValidation(t, h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"url": "https://www.example.org"}))
		assert.Equal(t, []string{"property url should not exist"}, msgs)
	})

	t.Run("a partial update keeps the other fields and answers message and monitor", func(t *testing.T) {
		t.Parallel()
		id := h.monitor(userID, "Before", "https://example.com/keep", "frequency = 120", "status = 'UP'")
		r := h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"name": "After"})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		got := decode[struct {
			Message string         `json:"message"`
			Monitor map[string]any `json:"monitor"`
		}](t, r.body)
		assert.Equal(t, "Monitor "+id+" updated successfully", got.Message)
		assert.Equal(t, id, got.Monitor["id"])
		assert.Equal(t, "After", got.Monitor["name"])
		assert.Equal(t, "https://example.com/keep", got.Monitor["url"])
		assert.InDelta(t, 120, got.Monitor["frequency"], 0)
		assert.Equal(t, true, got.Monitor["isActive"])
		assert.Equal(t, store.StatusUp, got.Monitor["status"], "the status is not touched")

		r = h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"frequency": 3600})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		var name string
		var freq int
		require.NoError(t, h.db.Pool.QueryRow(t.Context(), `SELECT name, frequency FROM monitors WHERE id = $1`, id).Scan(&name, &freq))
		assert.Equal(t, "After", name)
		assert.Equal(t, 3600, freq)
	})

	t.Run("deactivating resolves the ongoing incident", func(t *testing.T) {
		t.Parallel()
		id := h.monitor(userID, "Down", "https://example.com/down", "status = 'DOWN'")
		inc := h.incident(id, userID)
		r := h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"isActive": false})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.Equal(t, false, decode[map[string]any](t, r.body)["monitor"].(map[string]any)["isActive"])
		var status string
		var ended *time.Time
		require.NoError(t, h.db.Pool.QueryRow(t.Context(), `SELECT status, ended_at FROM incidents WHERE id = $1`, inc).Scan(&status, &ended))
		assert.Equal(t, store.IncidentResolved, status)
		require.NotNil(t, ended)
		assert.WithinDuration(t, time.Now(), *ended, time.Minute)
	})

	t.Run("an update that keeps the monitor active leaves the incident ongoing", func(t *testing.T) {
		t.Parallel()
		id := h.monitor(userID, "Still down", "https://example.com/still", "status = 'DOWN'")
		inc := h.incident(id, userID)
		r := h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"name": "Renamed", "isActive": true})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM incidents WHERE id = $1 AND status = 'ONGOING' AND ended_at IS NULL`, inc))
	})

	t.Run("a plain-http monitor cannot become an SSL monitor", func(t *testing.T) {
		t.Parallel()
		id := h.monitor(userID, "Plain", "http://example.com/plain")
		msgs := requireValidation(t, h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"monitorType": "SSL"}))
		assert.Equal(t, []string{"url must be an https URL for an SSL monitor"}, msgs)
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM monitors WHERE id = $1 AND monitor_type = 'HTTP'`, id))

		https := h.monitor(userID, "Secure", "https://example.com/secure")
		r := h.request(http.MethodPatch, "/api/v1/uptime/"+https, tok, map[string]any{"monitorType": "SSL"})
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM monitors WHERE id = $1 AND monitor_type = 'SSL'`, https))
	})

	t.Run("a blank name is refused", func(t *testing.T) {
		t.Parallel()
		id := h.monitor(userID, "Named", "https://example.com/named")
		msgs := requireValidation(t, h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, map[string]any{"name": "  "}))
		assertMentions(t, msgs, "name should not be empty")
		assert.Equal(t, 1, h.count(`SELECT count(*) FROM monitors WHERE id = $1 AND name = 'Named'`, id))
	})

	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"a frequency out of range is refused", map[string]any{"frequency": 30}, "frequency must not be less than 60"},
		{"isActive that is not a boolean is refused", map[string]any{"isActive": "false"}, "isActive must be a boolean value"},
		{"an unknown field is named", map[string]any{"userId": "00000000-0000-4000-8000-000000000000"}, "property userId should not exist"},
		{"an invalid config is refused", map[string]any{"config": map[string]any{"http": map[string]any{"timeoutMs": 1}}}, "config.http: timeoutMs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := h.monitor(userID, "Untouched", "https://example.com/untouched")
			assertMentions(t, requireValidation(t, h.request(http.MethodPatch, "/api/v1/uptime/"+id, tok, tc.body)), tc.want)
			assert.Equal(t, 1, h.count(`SELECT count(*) FROM monitors WHERE id = $1 AND name = 'Untouched' AND frequency = 60 AND is_active`, id))
		})
	}

	t.Run("an id that is not a uuid is refused", func(t *testing.T) {
		t.Parallel()
		for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			msgs := requireValidation(t, h.request(method, "/api/v1/uptime/not-a-uuid", tok, patchBody(method)))
			assertMentions(t, msgs, "id must be a UUID")
		}
	})

	t.Run("a missing monitor is 404 naming it", func(t *testing.T) {
		t.Parallel()
		missing := "00000000-0000-4000-8000-000000000001"
		for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			msgs := requireError(t, h.request(method, "/api/v1/uptime/"+missing, tok, patchBody(method)), http.StatusNotFound)
			assertMentions(t, msgs, missing)
		}
	})
}

func TestDeleteMonitorCascadesItsData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("deleter@example.com", store.RoleUser)
	id := h.monitor(userID, "Doomed", "https://example.com")
	kept := h.monitor(userID, "Kept", "https://example.com/kept")
	now := time.Now().Truncate(time.Minute)
	for i := range 3 {
		h.pingLog(id, now.Add(-time.Duration(i)*time.Minute), i != 0)
	}
	h.pingLog(kept, now, true)
	h.incident(id, userID)

	r := h.request(http.MethodDelete, "/api/v1/uptime/"+id, tok, nil)
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	assert.Equal(t, "Monitor deleted successfully", string(r.body))
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), r.header.Get("Content-Type"))

	assert.Zero(t, h.count(`SELECT count(*) FROM monitors WHERE id = $1`, id))
	assert.Zero(t, h.count(`SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, id), "ping logs cascade")
	assert.Zero(t, h.count(`SELECT count(*) FROM incidents WHERE monitor_id = $1`, id), "incidents cascade")
	assert.Equal(t, 1, h.count(`SELECT count(*) FROM ping_logs WHERE monitor_id = $1`, kept), "other monitors keep theirs")

	code, _ := h.do(http.MethodGet, "/api/v1/uptime/"+id, tok, nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = h.do(http.MethodDelete, "/api/v1/uptime/"+id, tok, nil)
	assert.Equal(t, http.StatusNotFound, code, "a second delete finds nothing")
}

func TestMonitorChangesArePublishedForTheScheduler(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("publisher@example.com", store.RoleUser)

	r := h.request(http.MethodPost, "/api/v1/uptime", tok, validMonitor(nil))
	require.Equal(t, http.StatusCreated, r.code, string(r.body))
	id := decode[map[string]any](t, r.body)["id"].(string)
	steps := []struct {
		body map[string]any
		kind eventsv1.ChangeKind
	}{
		{map[string]any{"name": "Renamed", "frequency": 120}, eventsv1.ChangeKind_CHANGE_KIND_UPDATED},
		{map[string]any{"isActive": false}, eventsv1.ChangeKind_CHANGE_KIND_PAUSED},
		{map[string]any{"isActive": false}, eventsv1.ChangeKind_CHANGE_KIND_UPDATED},
		{map[string]any{"isActive": true}, eventsv1.ChangeKind_CHANGE_KIND_RESUMED},
	}
	for _, s := range steps {
		code, body := h.do(http.MethodPatch, "/api/v1/uptime/"+id, tok, s.body)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	code, body := h.do(http.MethodDelete, "/api/v1/uptime/"+id, tok, nil)
	require.Equal(t, http.StatusOK, code, string(body))

	got := h.changes()
	wantKinds := []eventsv1.ChangeKind{eventsv1.ChangeKind_CHANGE_KIND_CREATED}
	for _, s := range steps {
		wantKinds = append(wantKinds, s.kind)
	}
	wantKinds = append(wantKinds, eventsv1.ChangeKind_CHANGE_KIND_DELETED)
	require.Len(t, got, len(wantKinds))
	for i, ch := range got {
		assert.Equal(t, wantKinds[i], ch.GetKind(), "event %d", i)
		assert.Equal(t, id, ch.GetMonitorId(), "event %d", i)
		assert.Equal(t, userID, ch.GetUserId(), "event %d", i)
	}
	assert.Equal(t, "Homepage", got[0].GetMonitor().GetName())
	assert.Equal(t, int32(60), got[0].GetMonitor().GetFrequencySeconds())
	assert.Equal(t, "Renamed", got[1].GetMonitor().GetName(), "the spec carries the update")
	assert.Equal(t, int32(120), got[1].GetMonitor().GetFrequencySeconds())
	assert.False(t, got[2].GetMonitor().GetIsActive())
	assert.True(t, got[4].GetMonitor().GetIsActive())
}

// patchBody is a valid PATCH body for PATCH and no body for the others.
func patchBody(method string) any {
	if method == http.MethodPatch {
		return map[string]any{"name": "x"}
	}
	return nil
}

// rfc3339Z matches an ISO-8601 UTC timestamp as the api writes it.
var rfc3339Z = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// TestListMonitorsFiltersAndSortsMaintenanceAsShown: a monitor in
// maintenance (one-off, or a weekly window open now) is listed with status
// MAINTENANCE, so status=MAINTENANCE finds it, status=UP or DOWN does not,
// and the status sorts place it with the other statuses.
func TestListMonitorsFiltersAndSortsMaintenanceAsShown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	userID, tok := h.user("maint-list@example.com", store.RoleUser)
	up := h.monitor(userID, "Up", "https://example.com/up", "status = 'UP'", "created_at = now() - interval '4 minutes'")
	oneOff := h.monitor(userID, "One-off", "https://example.com/one-off", "status = 'UP'",
		"maintenance_until = now() + interval '1 hour'", "created_at = now() - interval '3 minutes'")
	windowed := h.monitor(userID, "Windowed", "https://example.com/windowed", "status = 'DOWN'", "created_at = now() - interval '2 minutes'")
	// A window opened half an hour ago, in UTC, for two hours.
	opened := time.Now().UTC().Add(-30 * time.Minute)
	_, err := h.db.Pool.Exec(t.Context(), `INSERT INTO maintenance_windows (monitor_id, days_of_week, start_minute, duration_minutes, timezone)
		VALUES ($1, $2, $3, 120, 'UTC')`, windowed, []int32{int32(opened.Weekday())}, opened.Hour()*60+opened.Minute())
	require.NoError(t, err)
	ended := h.monitor(userID, "Ended", "https://example.com/ended", "status = 'DOWN'",
		"maintenance_until = now() - interval '1 hour'", "created_at = now() - interval '1 minute'")

	list := func(query string) ([]string, []string) {
		r := h.request(http.MethodGet, "/api/v1/uptime?limit=100&"+query, tok, nil)
		require.Equal(t, http.StatusOK, r.code, string(r.body))
		var ids, statuses []string
		for _, m := range decode[listPage[map[string]any]](t, r.body).Data {
			ids = append(ids, m["id"].(string))
			statuses = append(statuses, m["status"].(string))
		}
		return ids, statuses
	}
	ids, statuses := list("status=MAINTENANCE")
	assert.ElementsMatch(t, []string{oneOff, windowed}, ids)
	assert.Equal(t, []string{"MAINTENANCE", "MAINTENANCE"}, statuses)
	ids, _ = list("status=UP")
	assert.Equal(t, []string{up}, ids)
	ids, _ = list("status=DOWN")
	assert.Equal(t, []string{ended}, ids)
	ids, statuses = list("sortBy=status_down")
	assert.Equal(t, []string{ended, up, windowed, oneOff}, ids, "DOWN, UP, then the rest, newest first")
	assert.Equal(t, []string{"DOWN", "UP", "MAINTENANCE", "MAINTENANCE"}, statuses)
}
