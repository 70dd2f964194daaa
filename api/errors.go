package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/rotorhq/rotor/rotation"
)

// httpError is a failure of the HTTP layer itself: a malformed body, a
// missing login, a role too small.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func badRequest(code, message string) error {
	return &httpError{status: http.StatusBadRequest, code: code, message: message}
}

// statusOf is the one table from rotor's error kinds to HTTP status.
var statusOf = []struct {
	kind   error
	status int
}{
	{rotation.ErrInvalid, http.StatusBadRequest},
	{rotation.ErrNotFound, http.StatusNotFound},
	{rotation.ErrConflict, http.StatusConflict},
	{rotation.ErrRejected, http.StatusUnprocessableEntity},
	{rotation.ErrInconclusive, http.StatusBadGateway},
	{rotation.ErrUnavailable, http.StatusServiceUnavailable},
}

// describe returns the status, code and message a client sees for err.
// Errors without a message written for people are internal: the client
// gets the request id, and the log gets the error.
func describe(err error, requestID string) (status int, code, message string, internal bool) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.code, he.message, false
	}
	if e, ok := rotation.AsError(err); ok {
		for _, row := range statusOf {
			if errors.Is(e.Kind, row.kind) {
				return row.status, e.Code, e.Message, false
			}
		}
	}
	if errors.Is(err, rotation.ErrUnavailable) {
		return http.StatusServiceUnavailable, "database_unavailable", "rotor's database is unavailable, so nothing was changed. Try again in a moment.", true
	}
	return http.StatusInternalServerError, "internal",
		"rotor hit an internal error and changed nothing it could not undo. Look for request " + requestID + " in rotor's log.", true
}

// fail renders err for the surface the request came from: JSON under
// /api/ and /dev/, an HTML page elsewhere.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	reqID := middleware.GetReqID(r.Context())
	status, code, message, internal := describe(err, reqID)
	attrs := []any{"code", code, "request_id", reqID, "method", r.Method, "route", routePattern(r)}
	if id := chi.URLParam(r, "id"); id != "" {
		attrs = append(attrs, "id", loggableID(id))
	}
	switch {
	case internal:
		s.log.ErrorContext(r.Context(), "request failed", append(attrs, "error", err)...)
	case status >= 500:
		s.log.WarnContext(r.Context(), "request failed", append(attrs, "error", err)...)
	default:
		// Rejections are normal, but an operator tracing a rotation needs to
		// see them. The code names the reason; the error text stays out,
		// since it carries nothing the code does not.
		s.log.InfoContext(r.Context(), "request rejected", attrs...)
	}

	if wantsJSON(r) {
		writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
		return
	}
	s.renderError(w, r, status, message)
}

// idShape matches the ids rotor puts in paths: credential ids from the
// configuration (lowercase letters, digits and hyphens) and UUIDs.
var idShape = regexp.MustCompile(`^([a-z0-9][a-z0-9-]{0,62}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$`)

// loggableID returns the id of a path for the log when it has the shape of
// an id, and only its length otherwise: an operator can paste a secret
// where an id belongs, and the log must not keep it.
//
// NOTE: a secret of lowercase letters and digits only has the shape of a
// credential id and is logged.
func loggableID(id string) string {
	if idShape.MatchString(id) {
		return id
	}
	return fmt.Sprintf("(not an id, %d bytes)", len(id))
}

func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/dev/")
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
