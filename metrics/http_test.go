package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/metrics"
)

func TestHTTPMiddleware(t *testing.T) {
	t.Parallel()
	f := setup(t, metrics.Options{})
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {}) // writes nothing: 200
	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/rotations/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) })
		r.Post("/rotations/{id}/promote", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusConflict) })
	})
	h := f.m.HTTPMiddleware(r, metrics.ChiRoute(r))

	for _, req := range []struct{ method, path string }{
		{"GET", "/healthz"},
		{"GET", "/api/v1/rotations/0b9d3a52-1c1e-4c41-a1c3-6f0f3c0b8f11"},
		{"GET", "/api/v1/rotations/7c2e6a10-5f3d-4d0e-9f7a-2b8c1d4e5f60"},
		{"POST", "/api/v1/rotations/7c2e6a10-5f3d-4d0e-9f7a-2b8c1d4e5f60/promote"},
		{"GET", "/api/v1/rotations/7c2e6a10-5f3d-4d0e-9f7a-2b8c1d4e5f60/promote"}, // 405
		{"GET", "/credentials/cred-a/../../etc/passwd"},                           // 404
		{"BREW", "/api/v1/rotations/0b9d3a52-1c1e-4c41-a1c3-6f0f3c0b8f11"},        // 405
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}

	got := f.scrape(t)
	want := map[string]string{
		`rotor_http_requests_total{method="GET",route="/healthz",status="200"}`:                        "1",
		`rotor_http_requests_total{method="GET",route="/api/v1/rotations/{id}",status="200"}`:          "2",
		`rotor_http_requests_total{method="POST",route="/api/v1/rotations/{id}/promote",status="409"}`: "1",
		`rotor_http_requests_total{method="GET",route="unmatched",status="405"}`:                       "1",
		`rotor_http_requests_total{method="GET",route="unmatched",status="404"}`:                       "1",
		`rotor_http_requests_total{method="other",route="unmatched",status="405"}`:                     "1",
	}
	if diff := cmp.Diff(want, got.withPrefix("rotor_http_requests_total{")); diff != "" {
		t.Errorf("rotor_http_requests_total (-want +got):\n%s", diff)
	}
	series := `rotor_http_request_duration_seconds_count{method="GET",route="/api/v1/rotations/{id}"}`
	if v := got.value(series); v != "2" {
		t.Errorf("%s = %s, want 2", series, v)
	}
}

func TestHTTPMiddlewareKeepsFlusher(t *testing.T) {
	t.Parallel()
	f := setup(t, metrics.Options{})
	var flushErr error
	h := f.m.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("event: tick\n\n"))
		flushErr = http.NewResponseController(w).Flush()
	}), func(*http.Request) string { return "/events" })

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events", nil))
	if flushErr != nil {
		t.Errorf("Flush through the middleware: %v, want nil", flushErr)
	}
	if !rec.Flushed {
		t.Error("the recorder was not flushed")
	}
}
