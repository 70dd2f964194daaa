package persiumsim

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/rotorhq/rotor/secret"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

// Keycloak's wording for client authentication failures and for requests
// that match no resource.
//
// NOTE: the client authentication responses follow Keycloak's source. The
// bodies of the 404, 405 and 415 responses and of a malformed form follow
// what users report Keycloak's error handler returns, which varies between
// releases, so rotor must not depend on their wording.
const (
	descInvalidCredentials = "Invalid client or Invalid client credentials"
	descUnexpected         = "Unexpected error when authenticating client"
	descConsultLog         = "For more on this error consult the server log."
)

// oauthError is a JSON error response in Keycloak's shape.
type oauthError struct {
	status      int
	code        string
	description string
}

// ServeHTTP serves POST {TokenPath} as Keycloak's token endpoint does for
// the client_credentials grant. Other paths get Keycloak's JSON 404, and
// other methods a 405. While a fault is set, every request gets the
// fault's response instead.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	fault := s.fault
	s.mu.Unlock()

	if fault != FaultNone && s.serveFault(w, r, fault) {
		return
	}

	if r.URL.Path != s.TokenPath() {
		s.serveNotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.serveToken(w, r)
	case http.MethodOptions:
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		writeError(w, oauthError{http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed", descConsultLog})
	}
}

// serveNotFound responds to a path outside the token endpoint. A token
// path for another realm gets "Realm does not exist". Anything else, such
// as the legacy /auth/realms/... prefix, gets Keycloak's "no matching
// resource".
func (s *Server) serveNotFound(w http.ResponseWriter, r *http.Request) {
	rest, isRealmPath := strings.CutPrefix(r.URL.Path, "/realms/")
	if isRealmPath {
		if _, tail, ok := strings.Cut(rest, "/"); ok && tail == "protocol/openid-connect/token" {
			writeError(w, oauthError{http.StatusNotFound, "Realm does not exist", descConsultLog})
			return
		}
	}
	writeError(w, oauthError{http.StatusNotFound, "Unable to find matching target resource method", descConsultLog})
}

// serveToken runs Keycloak's checks in Keycloak's order: content type,
// grant type, client authentication, duplicated parameters.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		writeError(w, oauthError{http.StatusUnsupportedMediaType, "HTTP 415 Unsupported Media Type", descConsultLog})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, oauthError{http.StatusBadRequest, "invalid_request", "Invalid form body"})
		return
	}
	form := r.PostForm

	// RFC 6749 section 5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	switch grant := form.Get("grant_type"); grant {
	case "":
		writeError(w, oauthError{http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type"})
		return
	case "client_credentials":
	default:
		writeError(w, oauthError{http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type"})
		return
	}

	clientID, used, ok := s.authenticateClient(w, r, form)
	if !ok {
		return
	}

	for key, values := range form {
		if len(values) != 1 {
			s.logger.Info("persiumsim token request", "client_id", clientID, "outcome", "duplicated_parameter", "parameter", key)
			writeError(w, oauthError{http.StatusBadRequest, "invalid_request", "duplicated parameter"})
			return
		}
	}

	s.logger.Info("persiumsim token request", "client_id", clientID, "auth_method", used.method, "outcome", "accepted", "secret", used.matched)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       accessToken(),
		"expires_in":         300,
		"refresh_expires_in": 0,
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"scope":              "profile email",
	})
}

// authUse records how a client authenticated, for the log.
type authUse struct {
	method  string // client_secret_basic or client_secret_post
	matched string // current or rotated
}

// authenticateClient authenticates the client as Keycloak's client-secret
// authenticator does. Credentials come from a Basic header, whose id and
// secret are form-decoded after Base64, and form parameters override them.
// On failure it writes Keycloak's response and returns false.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, form url.Values) (clientID string, use authUse, ok bool) {
	var presented string
	var hasSecret bool
	use = authUse{method: "client_secret_post"}

	if header := r.Header.Get("Authorization"); header != "" {
		user, pass, isBasic := parseBasic(header)
		switch {
		case isBasic:
			decodedUser, errUser := url.QueryUnescape(user)
			decodedPass, errPass := url.QueryUnescape(pass)
			if errUser != nil || errPass != nil {
				// Keycloak's URL decoder throws on a malformed escape, and
				// the token endpoint turns the exception into this response.
				s.logger.Info("persiumsim token request", "auth_method", "client_secret_basic", "outcome", "malformed_percent_escape")
				writeError(w, oauthError{http.StatusBadRequest, "unauthorized_client", descUnexpected})
				return "", use, false
			}
			clientID, presented, hasSecret = decodedUser, decodedPass, true
			use.method = "client_secret_basic"
		case !form.Has("client_id"):
			s.logger.Info("persiumsim token request", "outcome", "basic_challenge")
			w.Header().Set("WWW-Authenticate", `Basic realm="`+s.realm+`"`)
			w.WriteHeader(http.StatusUnauthorized)
			return "", use, false
		}
	}

	if form.Has("client_id") {
		clientID = form.Get("client_id")
	}
	if form.Has("client_secret") {
		presented, hasSecret = form.Get("client_secret"), true
		use.method = "client_secret_post"
	}

	if clientID == "" {
		writeError(w, oauthError{http.StatusBadRequest, "invalid_client", "Missing client_id parameter"})
		return "", use, false
	}

	s.mu.Lock()
	c, known := s.clients[clientID]
	var current, rotated secret.Value
	var rotatedValid bool
	if known {
		current, rotated, rotatedValid = c.current, c.rotated, c.rotatedValid(s.now())
	}
	s.mu.Unlock()

	if !known {
		s.logger.Info("persiumsim token request", "client_id", clientID, "auth_method", use.method, "outcome", "client_not_found")
		writeError(w, oauthError{http.StatusUnauthorized, "invalid_client", descInvalidCredentials})
		return clientID, use, false
	}
	if !hasSecret {
		s.logger.Info("persiumsim token request", "client_id", clientID, "auth_method", use.method, "outcome", "missing_secret")
		writeError(w, oauthError{http.StatusUnauthorized, "unauthorized_client", descInvalidCredentials})
		return clientID, use, false
	}

	candidate := secret.New(presented)
	switch {
	case !current.IsZero() && candidate.Equal(current):
		use.matched = "current"
	case rotatedValid && candidate.Equal(rotated):
		use.matched = "rotated"
	default:
		// Keycloak returns unauthorized_client for a wrong secret and
		// invalid_client for an unknown client, although RFC 6749 section
		// 5.2 names invalid_client for both.
		s.logger.Info("persiumsim token request", "client_id", clientID, "auth_method", use.method, "outcome", "invalid_client_credentials")
		writeError(w, oauthError{http.StatusUnauthorized, "unauthorized_client", descInvalidCredentials})
		return clientID, use, false
	}
	return clientID, use, true
}

// parseBasic splits an "Authorization: Basic" header into its user and
// password, without form decoding. Like Keycloak it matches the scheme
// case-insensitively, expects one space after it and splits at the first
// colon.
func parseBasic(header string) (user, pass string, ok bool) {
	if len(header) < 6 || !strings.EqualFold(header[:5], "basic") {
		return "", "", false
	}
	encoded := header[6:]
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		decoded, err = base64.RawStdEncoding.DecodeString(encoded)
		if err != nil {
			return "", "", false
		}
	}
	return strings.Cut(string(decoded), ":")
}

// writeError writes e as Keycloak's JSON error body.
func writeError(w http.ResponseWriter, e oauthError) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

// writeJSON writes body as JSON with status.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// An error here means that the client has gone, so it is dropped.
	_ = json.NewEncoder(w).Encode(body)
}
