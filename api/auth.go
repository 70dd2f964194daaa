package api

import (
	"context"
	"errors"
	"net/http"
)

// Role is the set of actions a principal may take. Roles are ordered, and
// each includes the ones below it.
type Role int

const (
	RoleViewer   Role = iota + 1 // reads credentials, rotations and the audit log
	RoleOperator                 // runs rotations
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

// Principal is the person or token a request acts as. Its Name is what
// audit events record.
type Principal struct {
	Name string
	Role Role
}

// ErrUnauthenticated is returned by an Authenticator for a request that
// carries no valid identity.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticator finds who a request acts as.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// TODO: sign-in with OpenID Connect and API tokens, so that rotor can serve
// beyond loopback; until then Fixed is the only production Authenticator.

// Fixed authenticates every request as one principal. `rotor dev` uses it
// for the built-in operator "dev", and `rotor serve` for the local operator
// while it listens on loopback only.
type Fixed Principal

// Authenticate returns the fixed principal.
func (f Fixed) Authenticate(*http.Request) (Principal, error) { return Principal(f), nil }

type principalKey struct{}

// authenticate resolves the principal once per request.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authenticate(r)
		if err != nil {
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
