package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Role is the set of actions a principal may take. Roles are ordered, and
// each includes the ones below it.
type Role int

const (
	RoleViewer   Role = iota + 1 // reads credentials, rotations and the audit log
	RoleOperator                 // runs rotations and reports compromises
	RoleAdmin                    // manages API tokens and settings, and does what an operator does
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole returns the role named name: viewer, operator or admin.
func ParseRole(name string) (Role, bool) {
	for _, r := range []Role{RoleViewer, RoleOperator, RoleAdmin} {
		if r.String() == name {
			return r, true
		}
	}
	return 0, false
}

// Principal is the person or token a request acts as. Its Name is what
// audit events record: a person's name from the identity provider, or
// "token:" and the token's name for an API token.
type Principal struct {
	Name string
	Role Role

	// Session is the id of the signed-in session that authenticated the
	// request, and "" for an API token or a fixed principal. Sign-out
	// ends it.
	Session string
}

// Chain tries each Authenticator in order and returns the first principal
// found. An error other than ErrUnauthenticated stops the chain, so that a
// revoked or expired credential is not silently replaced by a weaker one.
type Chain []Authenticator

// Authenticate returns the principal of the first authenticator that
// recognises the request.
func (c Chain) Authenticate(r *http.Request) (Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(r)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrUnauthenticated) {
			return Principal{}, err
		}
	}
	return Principal{}, ErrUnauthenticated
}

// ErrUnauthenticated is returned by an Authenticator for a request that
// carries no valid identity.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticator finds who a request acts as.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// Fixed authenticates every request as one principal. `rotor dev` uses it
// for the built-in operator "dev", and `rotor serve` without the auth
// section for the local operator, on loopback only. Sign-in (package sso)
// and API tokens (package apitoken) are the Authenticators beyond that.
type Fixed Principal

// Authenticate returns the fixed principal.
func (f Fixed) Authenticate(*http.Request) (Principal, error) { return Principal(f), nil }

type principalKey struct{}

// AuthError is an Authenticator's error for a credential that was sent
// but cannot be accepted, such as an expired API token. Its Message is
// shown to the client, so it names the problem and the fix and never
// contains the credential.
type AuthError struct {
	Code    string // such as "token_expired"
	Message string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

// authenticate resolves the principal once per request. A browser that
// requests a page without a session is sent to sign in, when sign-in is
// configured, and comes back to the page afterwards.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authenticate(r)
		if err != nil {
			var authErr *AuthError
			if errors.As(err, &authErr) {
				// RFC 6750 section 3: a rejected bearer token names the error.
				w.Header().Set("WWW-Authenticate", `Bearer realm="rotor", error="invalid_token"`)
				s.fail(w, r, &httpError{status: http.StatusUnauthorized, code: authErr.Code, message: authErr.Message})
				return
			}
			if !errors.Is(err, ErrUnauthenticated) {
				s.log.ErrorContext(r.Context(), "authenticate request", "error", err)
				s.fail(w, r, &httpError{status: http.StatusServiceUnavailable, code: "auth_unavailable",
					message: "rotor could not check who you are, because its database is unavailable. Try again in a moment."})
				return
			}
			if s.loginURL != "" && r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
				http.Redirect(w, r, s.loginURL+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			if strings.HasPrefix(r.URL.Path, "/api/") {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rotor"`)
			}
			s.fail(w, r, &httpError{status: http.StatusUnauthorized, code: "unauthenticated", message: "Sign in, or send a valid API token in the Authorization header."})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func principal(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// require returns an error unless the request's principal has at least
// role.
func require(r *http.Request, role Role) (Principal, error) {
	p := principal(r.Context())
	if p.Role < role {
		return p, &httpError{status: http.StatusForbidden, code: "forbidden",
			message: "This action needs the " + role.String() + " role; you have " + p.Role.String() + ". Ask an administrator for access."}
	}
	return p, nil
}
