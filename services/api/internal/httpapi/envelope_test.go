package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errorEnvelope is the error body of every failure: {statusCode, message, error}.
type errorEnvelope struct {
	StatusCode int             `json:"statusCode"`
	Message    json.RawMessage `json:"message"`
	Error      string          `json:"error"`
}

// requireError checks that r answered status with the error envelope and
// returns its messages (a string message is one element; a validation
// error's list is returned as is).
func requireError(t *testing.T, r response, status int) []string {
	t.Helper()
	require.Equal(t, status, r.code, string(r.body))
	env := decode[errorEnvelope](t, r.body)
	require.Equal(t, status, env.StatusCode, string(r.body))
	require.NotEmpty(t, env.Error, string(r.body))
	var one string
	if json.Unmarshal(env.Message, &one) == nil {
		require.NotEmpty(t, one, string(r.body))
		return []string{one}
	}
	var many []string
	require.NoError(t, json.Unmarshal(env.Message, &many), string(r.body))
	require.NotEmpty(t, many, string(r.body))
	return many
}

// requireValidation checks a 400 whose message is a list, as every
// validation error's is, and returns the list.
func requireValidation(t *testing.T, r response) []string {
	t.Helper()
	require.Equal(t, 400, r.code, string(r.body))
	env := decode[errorEnvelope](t, r.body)
	var many []string
	require.NoError(t, json.Unmarshal(env.Message, &many), "a validation message is a list: %s", r.body)
	require.NotEmpty(t, many)
	assert.Equal(t, "Bad Request", env.Error)
	return many
}

// assertMentions checks that one of msgs contains want.
func assertMentions(t *testing.T, msgs []string, want string) bool {
	t.Helper()
	for _, m := range msgs {
		if strings.Contains(m, want) {
			return true
		}
	}
	return assert.Fail(t, "no message mentions "+want, "messages: %q", msgs)
}

// pageMeta is the pagination meta of every list.
type pageMeta struct {
	CurrentPage  int  `json:"currentPage"`
	TotalPages   int  `json:"totalPages"`
	NextPage     *int `json:"nextPage"`
	PrevPage     *int `json:"prevPage"`
	TotalItems   int  `json:"totalItems"`
	ItemsPerPage int  `json:"itemsPerPage"`
}

// listPage is the list envelope {data, pagination}.
type listPage[T any] struct {
	Data       []T      `json:"data"`
	Pagination pageMeta `json:"pagination"`
}

// intPtr returns a pointer to n, for comparing nullable page numbers.
func intPtr(n int) *int { return &n }
