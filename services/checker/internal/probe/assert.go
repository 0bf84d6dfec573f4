package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// The failure texts of issue 7, stored with results and shown to users.
const (
	errTextNotFound = "Expected text was not found"
	errJSONFailed   = "Expected JSON assertion failed"
	errTooLarge     = "Response exceeds configured size limit"
)

func unexpectedStatus(code int) string { return "Unexpected status code: " + strconv.Itoa(code) }

// needsBody reports whether an assertion reads the body.
func needsBody(req Request) bool { return req.ExpectedText != "" || req.ExpectedJSONPath != "" }

// judge returns why a complete response fails the request's assertions, or
// "" when it passes. The status is judged first; then, when an assertion
// needs the body, a body over the limit fails the check, since neither
// assertion can be decided on a cut body (text past the limit, JSON that no
// longer parses); then the text; then the JSON path. A body over the limit
// with no body assertion is not a failure: it was read up to the limit and
// dropped.
func judge(req Request, at attempt) string {
	if !statusOK(req.ExpectedStatusCodes, at.status) {
		return unexpectedStatus(at.status)
	}
	if !needsBody(req) {
		return ""
	}
	if at.truncated {
		return errTooLarge
	}
	if req.ExpectedText != "" && !bytes.Contains(at.body, []byte(req.ExpectedText)) {
		return errTextNotFound
	}
	if req.ExpectedJSONPath != "" && !jsonAssert(at.body, req.ExpectedJSONPath, req.ExpectedJSONValue, req.HasExpectedJSONValue) {
		return errJSONFailed
	}
	return ""
}

func statusOK(expected []int, code int) bool {
	if len(expected) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(expected, code)
}

// jsonAssert reports whether body is one JSON document holding path and,
// when hasWant, whether the value there is JSON-equal to want (raw JSON).
func jsonAssert(body []byte, path, want string, hasWant bool) bool {
	doc, ok := decodeJSON(body)
	if !ok {
		return false
	}
	got, ok := lookup(doc, path)
	if !ok {
		return false
	}
	if !hasWant {
		return true
	}
	w, ok := decodeJSON([]byte(want))
	return ok && jsonEqual(got, w)
}

// decodeJSON decodes exactly one JSON value, keeping numbers as text so
// that large integers compare exactly.
func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false // trailing data
	}
	return v, true
}

// lookup walks a dotted path: object members by key, array elements by
// index ("items.0.id"). A leading "$." (JSONPath habit) is accepted.
func lookup(v any, path string) (any, bool) {
	path = strings.TrimPrefix(path, "$.")
	if path == "$" {
		return v, true
	}
	for seg := range strings.SplitSeq(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(node) || strings.Trim(seg, "0123456789") != "" {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// jsonEqual compares decoded JSON values: same type and structure, numbers
// by value (1 equals 1.0, "1" does not equal 1).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numbersEqual(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, jsonEqual)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// numbersEqual compares integers exactly and everything else as float64.
// big.Rat could compare any two numbers exactly, but a hostile target could
// send 1e999999999 and make it allocate without bound.
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	ai, aok := new(big.Int).SetString(string(a), 10)
	bi, bok := new(big.Int).SetString(string(b), 10)
	if aok && bok {
		return ai.Cmp(bi) == 0
	}
	af, aerr := a.Float64()
	bf, berr := b.Float64()
	return aerr == nil && berr == nil && af == bf
}
