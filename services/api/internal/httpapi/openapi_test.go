package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/servercheck/uptime/pkg/deadletter"
	"github.com/servercheck/uptime/pkg/httpserver"
	"github.com/servercheck/uptime/services/api/internal/httpapi"
	"github.com/servercheck/uptime/services/api/internal/ops"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// The OpenAPI document is hand-written; these tests keep it honest against
// the router (every route documented, every documented route served) and
// against itself (references resolve, operations are complete).

// swaggerUIRoutes serve the Swagger UI, not the API: they are the only
// routes the document leaves out.
var swaggerUIRoutes = []string{"GET /api", "GET /api/docs", "GET /api/docs/*any"}

// heartbeatPingPath is the one public /api/v1 path: the secret in it, not a
// bearer token, is the credential, and it is not a UUID.
const heartbeatPingPath = "/api/v1/heartbeats/{secret}"

type oaDocument struct {
	OpenAPI  string                 `yaml:"openapi"`
	Servers  []struct{ URL string } `yaml:"servers"`
	Security []map[string][]string  `yaml:"security"`
	Tags     []struct {
		Name string `yaml:"name"`
	} `yaml:"tags"`
	Paths      map[string]oaPathItem `yaml:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type         string `yaml:"type"`
			Scheme       string `yaml:"scheme"`
			BearerFormat string `yaml:"bearerFormat"`
		} `yaml:"securitySchemes"`
		Parameters map[string]oaParameter `yaml:"parameters"`
		Responses  map[string]oaResponse  `yaml:"responses"`
		Schemas    map[string]oaSchema    `yaml:"schemas"`
	} `yaml:"components"`
}

type oaPathItem struct {
	Parameters []oaParameter `yaml:"parameters"`
	Get        *oaOperation  `yaml:"get"`
	Put        *oaOperation  `yaml:"put"`
	Post       *oaOperation  `yaml:"post"`
	Delete     *oaOperation  `yaml:"delete"`
	Options    *oaOperation  `yaml:"options"`
	Head       *oaOperation  `yaml:"head"`
	Patch      *oaOperation  `yaml:"patch"`
	Trace      *oaOperation  `yaml:"trace"`
}

// operations returns the path item's operations by upper-case method.
func (p oaPathItem) operations() map[string]*oaOperation {
	out := map[string]*oaOperation{}
	for method, op := range map[string]*oaOperation{
		http.MethodGet: p.Get, http.MethodPut: p.Put, http.MethodPost: p.Post, http.MethodDelete: p.Delete,
		http.MethodOptions: p.Options, http.MethodHead: p.Head, http.MethodPatch: p.Patch, http.MethodTrace: p.Trace,
	} {
		if op != nil {
			out[method] = op
		}
	}
	return out
}

type oaOperation struct {
	OperationID string                 `yaml:"operationId"`
	Summary     string                 `yaml:"summary"`
	Tags        []string               `yaml:"tags"`
	Security    *[]map[string][]string `yaml:"security"`
	Parameters  []oaParameter          `yaml:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema oaSchema `yaml:"schema"`
		} `yaml:"content"`
	} `yaml:"requestBody"`
	Responses map[string]oaResponse `yaml:"responses"`
}

type oaParameter struct {
	Ref      string   `yaml:"$ref"`
	Name     string   `yaml:"name"`
	In       string   `yaml:"in"`
	Required bool     `yaml:"required"`
	Schema   oaSchema `yaml:"schema"`
}

type oaResponse struct {
	Ref     string         `yaml:"$ref"`
	Headers map[string]any `yaml:"headers"`
}

type oaSchema struct {
	Ref                  string              `yaml:"$ref"`
	Type                 string              `yaml:"type"`
	Format               string              `yaml:"format"`
	Enum                 []string            `yaml:"enum"`
	Properties           map[string]oaSchema `yaml:"properties"`
	AdditionalProperties any                 `yaml:"additionalProperties"`
}

// loadOpenAPI parses the embedded document twice: typed, and as a generic
// tree for walking references.
func loadOpenAPI(t *testing.T) (oaDocument, map[string]any) {
	t.Helper()
	raw := httpapi.OpenAPI()
	var doc oaDocument
	require.NoError(t, yaml.Unmarshal(raw, &doc), "openapi.yaml must parse")
	var tree map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &tree))
	return doc, tree
}

// newDocumentedAPI builds the API without any store: enough to list routes
// and to serve the document and the Swagger UI, which touch no store.
func newDocumentedAPI() *httpapi.API {
	return httpapi.New(httpapi.Config{RateLimit: httpapi.RateLimitConfig{PerSecond: 100, Burst: 100}}, httpapi.Deps{
		Registry: prometheus.NewRegistry(),
		Logger:   slog.New(slog.DiscardHandler),
		Health:   httpserver.NewHealth(time.Second),
		Now:      time.Now,
		DevJWKS:  []byte("{}"),
		// The router takes the dead-letter methods as values when it is
		// built, so this dependency cannot be nil even though no request
		// reaches it.
		DeadLetters: ops.NewDeadLetters(nil, nil),
	})
}

var ginParamRE = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// openAPIPath turns gin's /uptime/:id into OpenAPI's /uptime/{id}.
func openAPIPath(ginPath string) string { return ginParamRE.ReplaceAllString(ginPath, "{$1}") }

// resolveParameter follows a #/components/parameters/ reference.
func (d oaDocument) resolveParameter(p oaParameter) (oaParameter, bool) {
	if p.Ref == "" {
		return p, true
	}
	name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
	if !ok {
		return oaParameter{}, false
	}
	r, ok := d.Components.Parameters[name]
	return r, ok && r.Ref == ""
}

// resolveResponse follows a #/components/responses/ reference.
func (d oaDocument) resolveResponse(r oaResponse) oaResponse {
	if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
		return d.Components.Responses[name]
	}
	return r
}

// resolveSchema follows a #/components/schemas/ reference.
func (d oaDocument) resolveSchema(s oaSchema) oaSchema {
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return d.Components.Schemas[name]
	}
	return s
}

// parameters are the operation's parameters with those of its path item,
// references resolved.
func (d oaDocument) parameters(t *testing.T, item oaPathItem, op *oaOperation) []oaParameter {
	t.Helper()
	var out []oaParameter
	for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
		r, ok := d.resolveParameter(p)
		if !assert.True(t, ok, "parameter reference %q does not resolve", p.Ref) {
			continue
		}
		out = append(out, r)
	}
	return out
}

type oaEndpoint struct {
	key  string // "GET /api/v1/uptime/{id}"
	path string
	item oaPathItem
	op   *oaOperation
}

// endpoints lists every documented operation, sorted.
func (d oaDocument) endpoints() []oaEndpoint {
	var out []oaEndpoint
	for path, item := range d.Paths {
		for method, op := range item.operations() {
			out = append(out, oaEndpoint{key: method + " " + path, path: path, item: item, op: op})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func TestOpenAPIDocumentsEveryRouteAndNothingElse(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)

	served := map[string]bool{}
	gets := map[string]bool{}
	routes := newDocumentedAPI().Routes()
	for _, r := range routes {
		if r.Method == http.MethodGet {
			gets[r.Path] = true
		}
	}
	var excluded []string
	for _, r := range routes {
		key := r.Method + " " + r.Path
		switch {
		case slices.Contains(swaggerUIRoutes, key):
			excluded = append(excluded, key)
		case r.Method == http.MethodHead && gets[r.Path]:
			// A HEAD twin of a GET is the same operation.
		default:
			served[r.Method+" "+openAPIPath(r.Path)] = true
		}
	}
	sort.Strings(excluded)
	require.Equal(t, slices.Sorted(slices.Values(swaggerUIRoutes)), excluded,
		"the Swagger UI routes left out of the document must exist, or the exclusion hides nothing")

	documented := map[string]bool{}
	for _, e := range doc.endpoints() {
		documented[e.key] = true
	}

	var undocumented, unserved []string
	for k := range served {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !served[k] {
			unserved = append(unserved, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unserved)
	assert.Empty(t, undocumented, "routes served but missing from openapi.yaml")
	assert.Empty(t, unserved, "operations in openapi.yaml that no route serves")
	assert.NotEmpty(t, documented)
}

func TestOpenAPIParametersMatchThePathParameters(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	templateRE := regexp.MustCompile(`\{([^}]+)\}`)
	for _, e := range doc.endpoints() {
		t.Run(e.key, func(t *testing.T) {
			var inPath []string
			for _, m := range templateRE.FindAllStringSubmatch(e.path, -1) {
				inPath = append(inPath, m[1])
			}
			var declared []string
			seen := map[string]bool{}
			for _, p := range doc.parameters(t, e.item, e.op) {
				key := p.In + ":" + p.Name
				assert.False(t, seen[key], "parameter %s is declared twice", key)
				seen[key] = true
				assert.Contains(t, []string{"path", "query", "header", "cookie"}, p.In, "parameter %s", p.Name)
				if p.In != "path" {
					continue
				}
				declared = append(declared, p.Name)
				assert.True(t, p.Required, "path parameter %s must be required", p.Name)
				assert.Equal(t, "string", p.Schema.Type, "path parameter %s", p.Name)
				if e.path != heartbeatPingPath {
					assert.Equal(t, "uuid", p.Schema.Format, "path parameter %s is a UUID", p.Name)
				}
			}
			sort.Strings(inPath)
			sort.Strings(declared)
			assert.Equal(t, inPath, declared, "the path's {params} and the declared path parameters differ")
		})
	}
}

func TestOpenAPIIsServedAndSwaggerUIRedirects(t *testing.T) {
	t.Parallel()
	handler := newDocumentedAPI().Handler()
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		return rec
	}

	t.Run("the document is served as YAML", func(t *testing.T) {
		t.Parallel()
		rec := get("/api/openapi.yaml")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Header().Get("Content-Type"), "yaml")
		assert.Equal(t, httpapi.OpenAPI(), rec.Body.Bytes())
		var doc struct {
			OpenAPI string `yaml:"openapi"`
			Info    struct {
				Title string `yaml:"title"`
			} `yaml:"info"`
		}
		require.NoError(t, yaml.Unmarshal(rec.Body.Bytes(), &doc))
		assert.Equal(t, "3.0.3", doc.OpenAPI)
		assert.Equal(t, "Server Check API", doc.Info.Title)
	})

	for _, path := range []string{"/api", "/api/docs"} {
		t.Run(path+" redirects to the Swagger UI", func(t *testing.T) {
			t.Parallel()
			rec := get(path)
			assert.Equal(t, http.StatusMovedPermanently, rec.Code)
			assert.Equal(t, "/api/docs/index.html", rec.Header().Get("Location"))
		})
	}

	t.Run("the Swagger UI page loads the document", func(t *testing.T) {
		t.Parallel()
		rec := get("/api/docs/index.html")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Header().Get("Content-Type"), "text/html")
		assert.Contains(t, rec.Body.String(), `id="swagger-ui"`)
		assert.Contains(t, rec.Body.String(), "swagger-initializer.js")

		rec = get("/api/docs/swagger-initializer.js")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), `"/api/openapi.yaml"`, "the UI reads the served document")
	})
}

func TestOpenAPIIsStructurallyValid(t *testing.T) {
	t.Parallel()
	doc, tree := loadOpenAPI(t)

	t.Run("the header is OpenAPI 3.0.3 served from the root", func(t *testing.T) {
		t.Parallel()
		assert.Equal(t, "3.0.3", doc.OpenAPI)
		require.Len(t, doc.Servers, 1)
		assert.Equal(t, "/", doc.Servers[0].URL)
		scheme := doc.Components.SecuritySchemes["bearerAuth"]
		assert.Equal(t, "http", scheme.Type)
		assert.Equal(t, "bearer", scheme.Scheme)
		assert.Equal(t, "JWT", scheme.BearerFormat)
	})

	t.Run("every reference resolves to a component and every component is used", func(t *testing.T) {
		t.Parallel()
		var problems []string
		used := map[string]bool{}
		walkYAML(tree, "#", func(at string, key string, value any) {
			switch {
			case value == nil:
				// A flow mapping with an unquoted comma makes a key with no
				// value instead of failing: catch the typo here.
				problems = append(problems, at+"/"+key+" has no value")
			case key == "$ref":
				ref, _ := value.(string)
				if !strings.HasPrefix(ref, "#/components/") || lookupPointer(tree, ref) == nil {
					problems = append(problems, at+": $ref "+fmt.Sprint(value)+" does not resolve to a component")
				}
				used[ref] = true
			}
		}, func(at string, k any) {
			problems = append(problems, fmt.Sprintf("%s: key %v is not a string", at, k))
		})
		components, _ := tree["components"].(map[string]any)
		for kind, entries := range components {
			if kind == "securitySchemes" {
				continue
			}
			m, _ := entries.(map[string]any)
			for name := range m {
				if ref := "#/components/" + kind + "/" + name; !used[ref] {
					problems = append(problems, ref+" is never referenced")
				}
			}
		}
		sort.Strings(problems)
		assert.Empty(t, problems)
	})

	t.Run("every operation has a unique operationId, a summary, a known tag and a 2xx answer", func(t *testing.T) {
		t.Parallel()
		var tags []string
		for _, tag := range doc.Tags {
			tags = append(tags, tag.Name)
		}
		ids := map[string]string{}
		for _, e := range doc.endpoints() {
			op := e.op
			if assert.NotEmpty(t, op.OperationID, "%s has no operationId", e.key) {
				if other, dup := ids[op.OperationID]; dup {
					t.Errorf("operationId %s is used by %s and %s", op.OperationID, other, e.key)
				}
				ids[op.OperationID] = e.key
			}
			assert.NotEmpty(t, op.Summary, "%s has no summary", e.key)
			assert.NotContains(t, op.Summary, "\n", "%s: the summary is one line", e.key)
			if assert.Len(t, op.Tags, 1, "%s has one tag", e.key) {
				assert.Contains(t, tags, op.Tags[0], "%s: tag not declared", e.key)
			}
			var success []string
			for code := range op.Responses {
				assert.Regexp(t, `^[1-5][0-9][0-9]$`, code, "%s: response code", e.key)
				if strings.HasPrefix(code, "2") {
					success = append(success, code)
				}
			}
			assert.NotEmpty(t, success, "%s has no 2xx response", e.key)
		}
	})

	t.Run("every /api/v1 operation needs a bearer token and documents the failures every route can give", func(t *testing.T) {
		t.Parallel()
		for _, e := range doc.endpoints() {
			security := doc.Security
			if e.op.Security != nil {
				security = *e.op.Security
			}
			if !strings.HasPrefix(e.path, "/api/v1/") {
				assert.Empty(t, security, "%s is served without authentication", e.key)
				continue
			}
			if e.path == heartbeatPingPath {
				assert.Empty(t, security, "%s is public", e.key)
				for _, code := range []string{"404", "429", "500", "503"} {
					assert.Contains(t, e.op.Responses, code, "%s must document %s", e.key, code)
				}
				continue
			}
			assert.Equal(t, []map[string][]string{{"bearerAuth": {}}}, security, "%s needs bearerAuth", e.key)
			for _, code := range []string{"401", "429", "500", "503"} {
				assert.Contains(t, e.op.Responses, code, "%s must document %s", e.key, code)
			}
			if r, ok := e.op.Responses["429"]; ok {
				assert.Contains(t, doc.resolveResponse(r).Headers, "Retry-After", "%s: 429 carries Retry-After", e.key)
			}
			if strings.Contains(e.path, "{") {
				assert.Contains(t, e.op.Responses, "400", "%s: a malformed id is a 400", e.key)
				assert.Contains(t, e.op.Responses, "404", "%s: a missing or foreign resource is a 404", e.key)
			}
			if m, _, _ := strings.Cut(e.key, " "); m == http.MethodPost || m == http.MethodPatch || m == http.MethodDelete {
				assert.Contains(t, e.op.Responses, "403", "%s: GUEST writes are a 403", e.key)
			}
			if e.op.RequestBody != nil {
				for _, code := range []string{"400", "413"} {
					assert.Contains(t, e.op.Responses, code, "%s has a body, so documents %s", e.key, code)
				}
				body, ok := e.op.RequestBody.Content["application/json"]
				if assert.True(t, ok, "%s: the body is JSON", e.key) {
					assert.Equal(t, false, doc.resolveSchema(body.Schema).AdditionalProperties,
						"%s: unknown body properties are refused", e.key)
				}
			}
		}
	})
}

// TestOpenAPIEnumsMatchTheCode catches an enum added to the code but not to
// the document, or the reverse.
func TestOpenAPIEnumsMatchTheCode(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	queryEnum := func(key, name string) []string {
		for _, e := range doc.endpoints() {
			if e.key != key {
				continue
			}
			for _, p := range doc.parameters(t, e.item, e.op) {
				if p.In == "query" && p.Name == name {
					return p.Schema.Enum
				}
			}
		}
		t.Errorf("%s has no query parameter %s", key, name)
		return nil
	}
	schemas := doc.Components.Schemas
	monitorTypes := []string{store.TypeHTTP, store.TypeSSL, store.TypeHeartbeat}
	roles := []string{store.RoleAdmin, store.RoleUser, store.RoleGuest}
	tests := []struct {
		name     string
		got      []string
		expected []string
	}{
		{"monitor sorts", queryEnum("GET /api/v1/uptime", "sortBy"), store.MonitorSorts},
		{"incident sorts", queryEnum("GET /api/v1/uptime/incidents/user", "sortBy"), store.IncidentSorts},
		{"granularities", queryEnum("GET /api/v1/uptime/stats/aggregates/{id}", "granularity"),
			[]string{store.GranularityHourly, store.GranularityDaily}},
		{"monitor types", schemas["MonitorType"].Enum, monitorTypes},
		{"monitor types on create", schemas["MonitorCreate"].Properties["monitorType"].Enum, monitorTypes},
		{"monitor types on update", schemas["MonitorUpdate"].Properties["monitorType"].Enum, monitorTypes},
		{"roles", schemas["Role"].Enum, roles},
		{"roles on create", schemas["UserCreate"].Properties["role"].Enum, roles},
		{"roles on update", schemas["UserUpdate"].Properties["role"].Enum, roles},
		{"dead-letter states", queryEnum("GET /api/v1/dead-letters", "status"),
			[]string{deadletter.StatusParked, deadletter.StatusReplayed, deadletter.StatusDiscarded}},
		{"dead-letter states in answers", schemas["DeadLetter"].Properties["status"].Enum,
			[]string{deadletter.StatusParked, deadletter.StatusReplayed, deadletter.StatusDiscarded}},
		{"monitor status filter", queryEnum("GET /api/v1/uptime", "status"), schemas["MonitorStatus"].Enum},
	}
	for _, tt := range tests {
		t.Run(tt.name+" are documented exactly", func(t *testing.T) {
			t.Parallel()
			assert.ElementsMatch(t, tt.expected, tt.got)
		})
	}
}

// walkYAML calls visit for every mapping entry of a decoded YAML tree and
// badKey for every mapping key that is not a string.
func walkYAML(node any, at string, visit func(at, key string, value any), badKey func(at string, key any)) {
	switch n := node.(type) {
	case map[string]any:
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			visit(at, k, n[k])
			walkYAML(n[k], at+"/"+escapePointer(k), visit, badKey)
		}
	case map[any]any:
		for k, v := range n {
			if _, ok := k.(string); !ok {
				badKey(at, k)
			}
			walkYAML(v, fmt.Sprintf("%s/%v", at, k), visit, badKey)
		}
	case []any:
		for i, v := range n {
			walkYAML(v, fmt.Sprintf("%s/%d", at, i), visit, badKey)
		}
	}
}

func escapePointer(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// lookupPointer resolves a local JSON pointer (#/a/b) in tree, or nil.
func lookupPointer(tree map[string]any, ref string) any {
	var node any = tree
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		if node, ok = m[part]; !ok {
			return nil
		}
	}
	return node
}
