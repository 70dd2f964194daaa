package api

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/go-chi/chi/v5/middleware"
)

// errPanicked is the internal error a client sees for a handler that
// panicked: the message names only the request id.
var errPanicked = errors.New("handler panicked")

// recoverPanics turns a panic in a handler into an internal error, logged
// through the server's logger with the request id that the client receives.
//
// It replaces chi's middleware.Recoverer, which prints the panic value to
// standard error. A panic value can contain anything the handler held,
// such as a secret from the request body. So the log gets the value's type
// and the stack trace (whose frames show arguments as machine words, not
// the bytes they point to), and the value's text only for a runtime.Error,
// whose text the runtime writes without program data. http.ErrAbortHandler
// is passed on, so net/http aborts the response as the handler asked.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}

			attrs := []any{
				"request_id", middleware.GetReqID(r.Context()), "method", r.Method, "route", routePattern(r),
				"panic_type", fmt.Sprintf("%T", p),
			}
			if re, ok := p.(runtime.Error); ok {
				attrs = append(attrs, "panic", re.Error())
			}
			attrs = append(attrs, "stack", string(debug.Stack()))
			s.log.ErrorContext(r.Context(), "request panicked", attrs...)

			if r.Header.Get("Connection") == "Upgrade" {
				return // the connection is no longer HTTP
			}
			s.fail(w, r, errPanicked)
		}()
		next.ServeHTTP(w, r)
	})
}
