// Package httpapi is the api's HTTP layer: gin routes of the REST contract,
// input validation, authentication and roles, error mapping, CORS, security
// headers, rate limiting, request ids, metrics and the OpenAPI document.
package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/servercheck/uptime/services/api/internal/store"
)

// apiError is an error with the HTTP answer it deserves. Message is a
// string, or a list of strings for validation errors.
type apiError struct {
	status  int
	message any
}

func (e *apiError) Error() string { return fmt.Sprint(e.message) }

func errStatus(status int, msg string) *apiError { return &apiError{status: status, message: msg} }

func errValidation(msgs []string) *apiError {
	return &apiError{status: http.StatusBadRequest, message: msgs}
}

// errorBody is the error envelope of the old service: {statusCode, message, error}.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    any    `json:"message"`
	Error      string `json:"error"`
}

// respondError maps err to its HTTP answer. It is the one place where
// errors become status codes; unexpected errors are logged here, once, and
// answered without internals.
func respondError(c *gin.Context, logger *slog.Logger, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = errStatus(http.StatusNotFound, "Resource not found")
	case errors.Is(err, store.ErrConflict):
		ae = errStatus(http.StatusConflict, conflictMessage(err))
	case errors.Is(err, store.ErrInvalidReference):
		ae = errStatus(http.StatusBadRequest, "Invalid reference provided")
	case errors.Is(err, store.ErrInvalidData):
		ae = errStatus(http.StatusBadRequest, "Invalid data provided")
	case errors.Is(err, store.ErrUnavailable):
		logger.Warn("database_unavailable", "err", err, "request_id", c.GetString(ctxRequestID))
		ae = errStatus(http.StatusServiceUnavailable, "Database unavailable, please try again later")
	default:
		logger.Error("request_failed", "err", err, "request_id", c.GetString(ctxRequestID), "path", c.FullPath())
		ae = errStatus(http.StatusInternalServerError, "Internal server error")
	}
	c.AbortWithStatusJSON(ae.status, errorBody{StatusCode: ae.status, Message: ae.message, Error: http.StatusText(ae.status)})
}

func conflictMessage(err error) string {
	switch store.ConstraintName(err) {
	case "users_email_key":
		return "A user with this email already exists"
	case "users_cognito_sub_key":
		return "A user with this cognitoSub already exists"
	default:
		return "A resource with these values already exists"
	}
}
