package rotation

import (
	"context"
	"errors"
	"strings"

	"github.com/rotorhq/rotor/scan"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// redactedError is an error whose text had a secret in it. It keeps the
// kind of the original error for errors.Is, and a *secretstore.Error for
// errors.As, but not the original error itself, whose text contains the
// secret.
type redactedError struct {
	msg   string
	inner error // a redacted *secretstore.Error, a kind, or nil
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.inner }

// kindsToKeep are the errors that callers of a secrets manager test for
// with errors.Is, in the order redactSecret looks for them.
var kindsToKeep = []error{
	secretstore.ErrNotFound, secretstore.ErrConflict, secretstore.ErrAccess, secretstore.ErrUnavailable,
	secretstore.ErrDrift, secretstore.ErrInvalid, context.Canceled, context.DeadlineExceeded,
}

// redactSecret returns err with v removed from its text in each form in
// which an error could quote it (see scan.NewMatcher). A secrets manager
// must never put a value in an error, but a vendor's error can echo the
// request it failed on, and the error reaches the log, the audit events
// and the operator's screen. err comes back unchanged when its text does
// not contain v.
//
// NOTE: only the value rotor passes to a step is known here. An error from
// a read that quotes the value it read is not redacted.
func redactSecret(err error, v secret.Value) error {
	if err == nil || v.IsZero() {
		return err
	}
	redact := func(s string) string { return strings.ReplaceAll(s, v.Reveal(), secret.Redacted) }
	if m, merr := scan.NewMatcher(v); merr == nil {
		redact = m.Redact
	}

	var inner error
	var se *secretstore.Error
	if errors.As(err, &se) {
		inner = &secretstore.Error{Kind: se.Kind, Op: se.Op, Msg: redact(se.Msg)}
	} else {
		for _, kind := range kindsToKeep {
			if errors.Is(err, kind) {
				inner = kind
				break
			}
		}
	}

	msg := redact(err.Error())
	if msg == err.Error() && (se == nil || inner.(*secretstore.Error).Msg == se.Msg) {
		return err
	}
	return &redactedError{msg: msg, inner: inner}
}
