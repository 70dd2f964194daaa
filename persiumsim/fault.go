package persiumsim

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"net/http"
	"slices"
	"time"
)

// Fault is a way in which the endpoint, or something in front of it,
// misbehaves. A fault set with SetFault replaces the response to every
// request, on any path, until FaultNone is set.
type Fault string

const (
	// FaultNone restores the token endpoint's normal responses.
	FaultNone Fault = ""
	// FaultHTMLLogin responds 200 with an HTML login page, as a single
	// sign-on proxy in front of the endpoint does.
	FaultHTMLLogin Fault = "html_login"
	// FaultBadGateway responds 502 with a load balancer's HTML page.
	FaultBadGateway Fault = "bad_gateway"
	// FaultNotFound responds with Keycloak's JSON 404 for a path that matches no
	// resource, as for a token URL with the legacy /auth prefix.
	FaultNotFound Fault = "not_found"
	// FaultNoAccessToken responds 200 with JSON that has no access_token.
	FaultNoAccessToken Fault = "no_access_token"
	// FaultRedirectHTTP responds 307 with a Location on plain http:// for
	// the same host and path.
	FaultRedirectHTTP Fault = "redirect_http"
	// FaultDelay holds each request until the client gives up, or for
	// Options.FaultDelay, after which it gets the normal response.
	FaultDelay Fault = "delay"
)

// faults lists every Fault, FaultNone first.
var faults = []Fault{FaultNone, FaultHTMLLogin, FaultBadGateway, FaultNotFound, FaultNoAccessToken, FaultRedirectHTTP, FaultDelay}

// Faults returns every Fault that SetFault accepts, FaultNone first.
func Faults() []Fault {
	return slices.Clone(faults)
}

// Valid reports whether f is one of the Faults.
func (f Fault) Valid() bool {
	return slices.Contains(faults, f)
}

// SetFault makes the following responses misbehave as f describes, and
// FaultNone restores normal responses. It panics on a Fault that is not
// Valid, because that is a programming error. Check Valid first for input
// from a person.
func (s *Server) SetFault(f Fault) {
	if !f.Valid() {
		panic(fmt.Sprintf("persiumsim: unknown fault %q", string(f)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.logger.Info("persiumsim fault set", "fault", string(f))
}

// serveFault writes the response that f calls for and reports whether it
// wrote one. FaultDelay reports false once the delay has passed, so that
// the caller writes the normal response.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	s.logger.Info("persiumsim responded with a fault", "fault", string(f), "path", r.URL.Path)

	switch f {
	case FaultHTMLLogin:
		writeHTML(w, http.StatusOK, fmt.Sprintf(loginPage, html.EscapeString(s.realm)))
	case FaultBadGateway:
		writeHTML(w, http.StatusBadGateway, badGatewayPage)
	case FaultNotFound:
		writeError(w, oauthError{http.StatusNotFound, "Unable to find matching target resource method", descConsultLog})
	case FaultNoAccessToken:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 300, "scope": "profile email"})
	case FaultRedirectHTTP:
		w.Header().Set("Location", "http://"+r.Host+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	case FaultDelay:
		// Read the body first: net/http notices a closed connection, and
		// cancels the request's context, only once the body is consumed.
		// The body stays readable for the normal response after the delay.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
		if err != nil {
			writeError(w, oauthError{http.StatusBadRequest, "invalid_request", "Invalid form body"})
			return true
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		timer := time.NewTimer(s.faultDelay)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			// The client has gone, so no response is written.
		case <-timer.C:
			return false
		}
	}
	return true
}

// writeHTML writes page as text/html with status.
func writeHTML(w http.ResponseWriter, status int, page string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// loginPage is a login form like Keycloak's; %s is the realm.
const loginPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to %[1]s</title></head>
<body>
<h1>Sign in to your account</h1>
<form id="kc-form-login" method="post" action="/realms/%[1]s/login-actions/authenticate">
<label for="username">Username or email</label><input id="username" name="username" type="text">
<label for="password">Password</label><input id="password" name="password" type="password">
<input type="submit" value="Sign In">
</form>
</body>
</html>
`

// badGatewayPage is a load balancer's error page.
const badGatewayPage = `<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
`
