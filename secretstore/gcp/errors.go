package gcp

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rotorhq/rotor/secretstore"
)

// codeKinds maps gRPC status codes onto rotor's error kinds, with what to
// tell an operator. A code missing here is ErrUnavailable, because the
// outcome of the request is unknown.
var codeKinds = map[codes.Code]struct {
	kind error
	text string
}{
	codes.NotFound:           {secretstore.ErrNotFound, "Secret Manager has no such secret or version (NOT_FOUND)"},
	codes.AlreadyExists:      {secretstore.ErrConflict, "the resource exists already (ALREADY_EXISTS)"},
	codes.FailedPrecondition: {secretstore.ErrConflict, "the secret changed since it was read, or the version is not in a state that allows this (FAILED_PRECONDITION)"},
	codes.Aborted:            {secretstore.ErrConflict, "a concurrent change aborted the request (ABORTED)"},
	codes.PermissionDenied:   {secretstore.ErrAccess, "Secret Manager denied access (PERMISSION_DENIED); grant rotor's identity roles/secretmanager.admin on the secret"},
	codes.Unauthenticated:    {secretstore.ErrAccess, "Secret Manager rejected rotor's credentials (UNAUTHENTICATED); check the service account or workload identity"},
	codes.InvalidArgument:    {secretstore.ErrInvalid, "Secret Manager rejected the request as invalid (INVALID_ARGUMENT)"},
	codes.OutOfRange:         {secretstore.ErrInvalid, "Secret Manager rejected a value as out of range (OUT_OF_RANGE)"},
	codes.Unimplemented:      {secretstore.ErrInvalid, "the endpoint does not implement this method (UNIMPLEMENTED); check the Secret Manager endpoint"},
	codes.ResourceExhausted:  {secretstore.ErrUnavailable, "Secret Manager's quota is exhausted (RESOURCE_EXHAUSTED); try again later"},
	codes.Unavailable:        {secretstore.ErrUnavailable, "Secret Manager could not be reached (UNAVAILABLE); the outcome is unknown"},
	codes.DeadlineExceeded:   {secretstore.ErrUnavailable, "the request timed out (DEADLINE_EXCEEDED); the outcome is unknown"},
	codes.Canceled:           {secretstore.ErrUnavailable, "the request was cancelled (CANCELLED); the outcome is unknown"},
	codes.Internal:           {secretstore.ErrUnavailable, "Secret Manager failed on its side (INTERNAL); the outcome is unknown"},
	codes.Unknown:            {secretstore.ErrUnavailable, "the request failed for an unknown reason (UNKNOWN); the outcome is unknown"},
	codes.DataLoss:           {secretstore.ErrUnavailable, "Secret Manager reported data loss (DATA_LOSS)"},
}

// gcpError converts an error from the Secret Manager client into a
// secretstore error for op. where names the request (secret and version).
// The message never contains the status message or details, because a
// server or proxy can echo the request, secret included.
func gcpError(op, where string, err error) error {
	if st, ok := status.FromError(err); ok {
		entry, known := codeKinds[st.Code()]
		if !known {
			entry.kind = secretstore.ErrUnavailable
			entry.text = fmt.Sprintf("Secret Manager responded with status %s; the outcome is unknown", st.Code())
		}
		return secretstore.Errorf(entry.kind, op, "%s: %s", where, entry.text)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the request timed out; the outcome is unknown", where)
	case errors.Is(err, context.Canceled):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the request was cancelled; the outcome is unknown", where)
	}
	return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the request to Secret Manager failed (%T)", where, err)
}

// code returns the gRPC status code of err, with context errors as their
// codes.
func code(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// transient reports whether a call that failed with err may succeed when
// repeated. After UNAVAILABLE and DEADLINE_EXCEEDED the first call may
// have taken effect, so only calls that are safe to repeat are repeated.
func transient(err error) bool {
	switch code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		return true
	}
	return false
}

// outcomeUnknown reports whether a write that failed with err may have
// taken effect.
func outcomeUnknown(err error) bool {
	switch code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
