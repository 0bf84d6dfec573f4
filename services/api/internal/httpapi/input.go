package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// maxBodyBytes bounds request bodies (monitor configs included).
const maxBodyBytes = 256 << 10

// body reads a JSON object field by field and collects every problem, in
// the style of the old service's validation pipe ("property x should not
// exist", "frequency must not be less than 60").
type body struct {
	raw  map[string]json.RawMessage
	errs []string
}

func readBody(c *gin.Context, allowed ...string) (*body, error) {
	data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errStatus(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", maxBodyBytes))
	}
	if err != nil {
		return nil, errValidation([]string{"request body could not be read"})
	}
	// Routes with a body take no query parameters.
	b := &body{raw: map[string]json.RawMessage{}, errs: unknownFields(c.Request.URL.Query(), nil)}
	if len(bytes.TrimSpace(data)) == 0 {
		return b, nil
	}
	if err := json.Unmarshal(data, &b.raw); err != nil || b.raw == nil {
		return nil, errValidation(append(b.errs, "request body must be a JSON object"))
	}
	b.errs = append(b.errs, unknownFields(b.raw, allowed)...)
	return b, nil
}

func unknownFields[V any](got map[string]V, allowed []string) []string {
	var errs []string
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			errs = append(errs, fmt.Sprintf("property %s should not exist", k))
		}
	}
	return errs
}

func (b *body) has(name string) bool {
	v, ok := b.raw[name]
	return ok && string(v) != "null"
}

func (b *body) fail(format string, args ...any) {
	b.errs = append(b.errs, fmt.Sprintf(format, args...))
}

// err returns the collected problems as one 400, or nil.
func (b *body) err() error {
	if len(b.errs) == 0 {
		return nil
	}
	return errValidation(b.errs)
}

// str reads a trimmed string; present means non-blank, and maxLen counts
// characters.
func (b *body) str(name string, required bool, maxLen int) *string {
	s := b.text(name, required, maxLen)
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	if t == "" {
		b.fail("%s should not be empty", name)
		return nil
	}
	return &t
}

// text reads a string as sent (a request body or an expected text may
// need its whitespace).
func (b *body) text(name string, required bool, maxLen int) *string {
	if !b.has(name) {
		if required {
			b.fail("%s should not be empty", name)
		}
		return nil
	}
	var s string
	if json.Unmarshal(b.raw[name], &s) != nil {
		b.fail("%s must be a string", name)
		return nil
	}
	if maxLen > 0 && utf8.RuneCountInString(s) > maxLen {
		b.fail("%s must be shorter than or equal to %d characters", name, maxLen)
		return nil
	}
	return &s
}

func (b *body) integer(name string, required bool, lo, hi int) *int {
	if !b.has(name) {
		if required {
			b.fail("%s must be an integer number", name)
		}
		return nil
	}
	n, ok := jsonInt(b.raw[name])
	if !ok {
		b.fail("%s must be an integer number", name)
		return nil
	}
	if !inRange(n, lo, hi, name, b.fail) {
		return nil
	}
	return &n
}

func inRange(n, lo, hi int, name string, fail func(string, ...any)) bool {
	if n < lo {
		fail("%s must not be less than %d", name, lo)
		return false
	}
	if n > hi {
		fail("%s must not be greater than %d", name, hi)
		return false
	}
	return true
}

func jsonInt(raw json.RawMessage) (int, bool) {
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		return 0, false
	}
	return int(f), true
}

func (b *body) boolean(name string) *bool {
	if !b.has(name) {
		return nil
	}
	var v bool
	if json.Unmarshal(b.raw[name], &v) != nil {
		b.fail("%s must be a boolean value", name)
		return nil
	}
	return &v
}

func (b *body) enum(name string, required bool, values ...string) *string {
	s := b.str(name, required, 0)
	if s == nil {
		return nil
	}
	v := strings.ToUpper(*s)
	if !slices.Contains(values, v) {
		b.fail("%s must be one of the following values: %s", name, strings.Join(values, ", "))
		return nil
	}
	return &v
}

// query validates query parameters the same way.
type query struct {
	c    *gin.Context
	errs []string
}

func readQuery(c *gin.Context, allowed ...string) *query {
	return &query{c: c, errs: unknownFields(c.Request.URL.Query(), allowed)}
}

func (q *query) fail(format string, args ...any) {
	q.errs = append(q.errs, fmt.Sprintf(format, args...))
}

func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	return errValidation(q.errs)
}

func (q *query) str(name string) string { return strings.TrimSpace(q.c.Query(name)) }

func (q *query) integer(name string, def, lo, hi int) int {
	s := q.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		q.fail("%s must be an integer number", name)
		return def
	}
	if !inRange(n, lo, hi, name, q.fail) {
		return def
	}
	return n
}

// boolean parses a real boolean: "false" is false (the old service read
// any non-empty string as true).
func (q *query) boolean(name string) bool {
	switch strings.ToLower(q.str(name)) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	default:
		q.fail("%s must be a boolean value", name)
		return false
	}
}

func (q *query) enum(name, def string, upper bool, values ...string) string {
	s := q.str(name)
	if s == "" {
		return def
	}
	if upper {
		s = strings.ToUpper(s)
	}
	if !slices.Contains(values, s) {
		q.fail("%s must be one of the following values: %s", name, strings.Join(values, ", "))
		return def
	}
	return s
}

func (q *query) uuid(name string) string {
	s := q.str(name)
	if s != "" && !isUUID(s) {
		q.fail("%s must be a UUID", name)
		return ""
	}
	return strings.ToLower(s)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }

// pathID reads a uuid path parameter; anything else is a 400 naming it.
func pathID(c *gin.Context, name string) (string, error) {
	id := c.Param(name)
	if !isUUID(id) {
		return "", errValidation([]string{name + " must be a UUID"})
	}
	return strings.ToLower(id), nil
}

// pagination is the list envelope's meta.
type pagination struct {
	CurrentPage  int   `json:"currentPage"`
	TotalPages   int   `json:"totalPages"`
	NextPage     *int  `json:"nextPage"`
	PrevPage     *int  `json:"prevPage"`
	TotalItems   int64 `json:"totalItems"`
	ItemsPerPage int   `json:"itemsPerPage"`
}

type listResponse[T any] struct {
	Data       []T        `json:"data"`
	Pagination pagination `json:"pagination"`
}

func paginate(page, limit int, total int64) pagination {
	pages := int((total + int64(limit) - 1) / int64(limit))
	p := pagination{CurrentPage: page, TotalPages: pages, TotalItems: total, ItemsPerPage: limit}
	if page < pages {
		next := page + 1
		p.NextPage = &next
	}
	if page > 1 {
		prev := page - 1
		p.PrevPage = &prev
	}
	return p
}

func list[T any](items []T, page, limit int, total int64) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	return listResponse[T]{Data: items, Pagination: paginate(page, limit, total)}
}

// noInput refuses any query parameter or body field on routes that take
// none, so that a typo is an error, not silently ignored.
func (a *API) noInput(c *gin.Context) {
	errs := readQuery(c).errs
	// A GET's body means nothing to HTTP; only writes are checked for one
	// (readBody reports the query too).
	if c.Request.Method != http.MethodGet && c.Request.Body != nil && c.Request.ContentLength != 0 {
		b, err := readBody(c)
		if err != nil {
			a.fail(c, err)
			return
		}
		errs = b.errs
	}
	if len(errs) > 0 {
		a.fail(c, errValidation(errs))
		return
	}
	c.Next()
}
