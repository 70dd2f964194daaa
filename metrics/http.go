package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
)

// RouteUnmatched is the route label of a request that route reported no
// pattern for, such as a request for an unknown path.
const RouteUnmatched = "unmatched"

// methodOther is the method label of a request with a method outside
// knownMethods. A client chooses the method, so it is not a label value
// as sent.
const methodOther = "other"

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// HTTPMiddleware returns next with each request counted and timed by
// method, route and status.
//
// route is called after next has served the request, with the request
// that HTTPMiddleware received. It must return a pattern from a fixed set,
// such as "/api/v1/rotations/{id}", and never the raw path, because a path
// carries ids and whatever a client sends. An empty route counts as
// RouteUnmatched. Methods other than the standard ones count as "other".
// A request whose handler panics is not counted.
func (m *Metrics) HTTPMiddleware(next http.Handler, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)

		method := r.Method
		if !knownMethods[method] {
			method = methodOther
		}
		pattern := route(r)
		if pattern == "" {
			pattern = RouteUnmatched
		}
		m.httpRequests.WithLabelValues(method, pattern, strconv.Itoa(rec.statusCode())).Inc()
		m.httpDuration.WithLabelValues(method, pattern).Observe(elapsed.Seconds())
	})
}

// statusRecorder remembers the status code a handler sent. Unwrap lets
// http.ResponseController reach the writer's other features, such as
// flushing.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	// Informational responses (1xx) precede the final status.
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusCode returns the status sent, or 200 when the handler wrote
// nothing, as net/http then sends.
func (w *statusRecorder) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// ChiRoute returns a route function for HTTPMiddleware. The function looks
// up the request's method and path in routes and returns the pattern that
// matches, such as "/api/v1/rotations/{id}". It returns "" for an unknown
// path or a method that the path does not accept.
func ChiRoute(routes chi.Routes) func(*http.Request) string {
	return func(r *http.Request) string {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		return routes.Find(chi.NewRouteContext(), r.Method, path)
	}
}
