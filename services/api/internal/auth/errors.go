package auth

import (
	"errors"
	"strings"
)

// ErrUnauthorized is wrapped by every error of Verify and BearerToken: the
// request carries no acceptable credentials and must be answered with 401.
var ErrUnauthorized = errors.New("unauthorized")

// authError is a 401 whose message is safe to show to the client: it names
// the problem but never contains the token or a key. The underlying cause
// (a jwt or jwkset error) stays reachable with errors.Is/As for logs and
// tests without leaking into the message.
type authError struct {
	msg   string
	cause error
}

func (e *authError) Error() string { return e.msg }

func (e *authError) Is(target error) bool { return target == ErrUnauthorized }

func (e *authError) Unwrap() error { return e.cause }

func unauthorized(msg string, cause error) error {
	return &authError{msg: msg, cause: cause}
}

// BearerToken returns the token of an Authorization header value of the form
// "Bearer <token>" (the scheme is case-insensitive, RFC 7235). Any other
// shape is an error wrapping ErrUnauthorized.
func BearerToken(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", unauthorized("missing bearer token", nil)
	}
	scheme, token, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("authorization header must use the Bearer scheme", nil)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", unauthorized("missing bearer token", nil)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", unauthorized("malformed bearer token", nil)
	}
	return token, nil
}
