// Package api serves rotor over HTTP: the JSON API under /api/v1, the
// operators' web UI, health and readiness, and in `rotor dev` the simulated
// Persium's endpoints. Handlers return errors; one adapter per surface
// renders them, with one table from error kinds to HTTP status.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
)

// DevPersium is the simulated Persium of `rotor dev`. It is nil in
// production, and its routes do not exist there.
type DevPersium interface {
	Issue(clientID string) (secret.Value, error)
	RetireOld(clientID string) error
}

// Options configure a Server.
type Options struct {
	Service *rotation.Service
	Auth    Authenticator
	Logger  *slog.Logger
	Now     func() time.Time // default time.Now

	// Location is the time zone dates are shown in. Default UTC.
	Location *time.Location

	// Ready reports whether rotor can serve: the database is reachable and
	// its schema is current. nil means always ready.
	Ready func(ctx context.Context) error

	// Dev, when set, adds the simulated Persium's routes and UI panel.
	Dev DevPersium

	// Reminders, when set, shows each credential's reminders and the
	// failed ones on the dashboard.
	Reminders ReminderLister

	// PublicURL is the URL at which operators reach rotor, for links in the
	// calendar feed. Empty means links relative to the request's host.
	PublicURL string

	// SignIn, when set, serves the sign-in routes under /auth without
	// authentication, and unauthenticated browsers are sent to its login
	// page. Without it, Auth alone decides.
	SignIn SignIn

	// Tokens, when set, serves the admin pages and routes for API tokens.
	Tokens TokenManager

	// HSTS sets Strict-Transport-Security on every response, for a rotor
	// that serves TLS itself or only behind an HTTPS proxy.
	HSTS bool

	// Dependencies, when set, lists the last known state of the
	// dependencies other than the database, which /readyz reports below
	// its verdict.
	Dependencies func() []Dependency
}

// Dependency is the last known state of something rotor calls, such as a
// secrets manager. /readyz lists it without letting it decide readiness:
// with a secrets manager down, rotor still serves its pages, reports
// compromises and shows operators what failed.
type Dependency struct {
	Name    string // such as "secrets manager vault-prod"
	Failing bool
	Detail  string // such as "unavailable, on promote 12s ago"; never an error's text
}

// SignIn is an interactive sign-in, such as OpenID Connect.
type SignIn interface {
	// Routes registers the sign-in routes, such as /login, /callback and
	// /logout, relative to /auth.
	Routes(r chi.Router)
}

// ReminderLister reads the reminders the scheduler planned and sent.
type ReminderLister interface {
	ListReminders(ctx context.Context, credentialID string) ([]rotation.Reminder, error)
	CountFailedReminders(ctx context.Context) (map[string]int, error)
}

// Server is rotor's HTTP surface.
type Server struct {
	svc       *rotation.Service
	auth      Authenticator
	log       *slog.Logger
	now       func() time.Time
	loc       *time.Location
	ready     func(ctx context.Context) error
	dev       DevPersium
	reminders ReminderLister
	publicURL string
	signIn    SignIn
	loginURL  string // "" without SignIn
	hsts      bool
	tokens    TokenManager
	deps      func() []Dependency
	pages     *pages
}

// New returns a Server. It parses every page template, so a missing or
// broken template fails here rather than on the first request.
func New(o Options) (*Server, error) {
	s := &Server{svc: o.Service, auth: o.Auth, log: o.Logger, now: o.Now, loc: o.Location, ready: o.Ready, dev: o.Dev,
		reminders: o.Reminders, publicURL: strings.TrimRight(o.PublicURL, "/"), signIn: o.SignIn, hsts: o.HSTS, deps: o.Dependencies,
		tokens: o.Tokens}
	if s.signIn != nil {
		s.loginURL = "/auth/login"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.auth == nil {
		return nil, errors.New("api: an Authenticator is required")
	}
	p, err := parsePages(s.templateFuncs())
	if err != nil {
		return nil, err
	}
	s.pages = p
	return s, nil
}

// Handler returns the router with every route and middleware.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(s.logRequests)
	r.Use(s.recoverPanics)
	r.Use(securityHeaders)
	r.Use(s.rejectUnreadablePath)
	if s.hsts {
		r.Use(strictTransportSecurity)
	}

	r.Get("/healthz", s.healthz)
	r.Get("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r.Get("/readyz", s.readyz)
	r.Handle("/static/*", staticFiles())

	// State-changing requests from another origin are refused, so a page
	// on another site cannot drive rotations through an operator's browser.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &httpError{status: http.StatusForbidden, code: "cross_origin",
			message: "rotor rejected a state-changing request from another site. Submit the form from rotor's own pages."})
	}))
	if s.signIn != nil {
		r.Route("/auth", func(r chi.Router) {
			r.Use(csrf.Handler)
			s.signIn.Routes(r)
		})
	}
	r.Group(func(r chi.Router) {
		r.Use(csrf.Handler)
		r.Use(s.authenticate)
		r.Route("/api/v1", func(r chi.Router) {
			r.Get("/openapi.json", s.jsonHandler(s.openAPI))
			s.jsonRoutes(r)
		})
		r.Get("/calendar.ics", s.uiHandler(s.calendar))
		s.uiRoutes(r)
		if s.dev != nil {
			s.devRoutes(r)
		}
	})
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)
	return r
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "error", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + readinessMessage(err) + "\n"))
			s.writeDependencies(w)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
	s.writeDependencies(w)
}

// writeDependencies adds one line per known dependency to a /readyz body.
func (s *Server) writeDependencies(w http.ResponseWriter) {
	if s.deps == nil {
		return
	}
	for _, d := range s.deps() {
		state := "ok"
		if d.Failing {
			state = "failing"
		}
		_, _ = fmt.Fprintf(w, "%s: %s (%s)\n", d.Name, state, d.Detail)
	}
}

// readinessMessage names the dependency that is down, without internal detail.
func readinessMessage(err error) string {
	var re *ReadinessError
	if errors.As(err, &re) {
		return re.Component + " " + re.Problem
	}
	return "a dependency is unavailable (see rotor's log)"
}

// ReadinessError names the dependency that is not ready, for /readyz.
type ReadinessError struct {
	Component string // "database", "migrations"
	Problem   string // "unreachable", "2 migrations pending"
	Err       error
}

func (e *ReadinessError) Error() string { return e.Component + " " + e.Problem + ": " + e.Err.Error() }
func (e *ReadinessError) Unwrap() error { return e.Err }

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// strictTransportSecurity sets the header that makes browsers reach rotor
// over HTTPS only, for a year.
func strictTransportSecurity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

// logRequests logs one line per request with the route pattern, never the
// query string or body.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := routePattern(r)
		level := slog.LevelInfo
		if ww.Status() >= 500 {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", ww.Status()),
			slog.Int64("duration_us", time.Since(start).Microseconds()), slog.String("request_id", middleware.GetReqID(r.Context())))
	})
}

// routePattern returns the matched route, such as /api/v1/rotations/{id},
// so logs never carry ids or query strings from the raw path.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return "(unmatched)"
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, &httpError{status: http.StatusNotFound, code: "not_found", message: "There is no page or endpoint at this address."})
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, &httpError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "This address does not accept " + r.Method + " requests."})
}
