package rotation

import (
	"errors"
	"fmt"
)

// Error kinds. Every error the Service returns wraps one of them; the HTTP
// layer maps them to status codes with one table.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")           // wrong state, a concurrent change, a second open rotation
	ErrInvalid      = errors.New("invalid input")      // the request itself is wrong
	ErrRejected     = errors.New("rejected")           // the token endpoint rejects a secret that must work
	ErrInconclusive = errors.New("inconclusive check") // the token endpoint gave no clear result
	ErrUnavailable  = errors.New("unavailable")        // a secrets manager or the database cannot be reached
)

// Error is a failure with a message written for the operator: what went
// wrong and what to do next. Cause, if any, is for logs only and is never
// shown to clients.
type Error struct {
	Kind    error  // one of the Err* kinds
	Code    string // a stable machine-readable code, such as "wrong_state"
	Message string // a full sentence for people
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the kind and the cause, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

func newError(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// wrapError returns an *Error that keeps cause for the logs.
func wrapError(cause, kind error, code, format string, args ...any) *Error {
	e := newError(kind, code, format, args...)
	e.Cause = cause
	return e
}

// AsError returns the *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
