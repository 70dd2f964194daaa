package ssotest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// tokenError is an error response of the token endpoint (RFC 6749,
// section 5.2).
type tokenError struct {
	status      int
	code        string
	description string
	basic       bool // the client tried HTTP Basic, so a 401 names that scheme
}

func (e *tokenError) write(w http.ResponseWriter) {
	if e.status == http.StatusUnauthorized && e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="ssotest"`)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

func badRequest(code, description string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: code, description: description}
}

// token is the token endpoint for the authorization code grant (RFC 6749,
// section 4.1.3, and OpenID Connect Core 1.0, section 3.1.3).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		badRequest("invalid_request", "the token endpoint accepts POST only").write(w)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		badRequest("invalid_request", "the body must be application/x-www-form-urlencoded").write(w)
		return
	}
	if err := r.ParseForm(); err != nil {
		badRequest("invalid_request", "the body is not a valid form").write(w)
		return
	}
	f := r.PostForm
	if terr := p.authenticateClient(r); terr != nil {
		terr.write(w)
		return
	}

	if f.Get("grant_type") != "authorization_code" {
		badRequest("unsupported_grant_type", "only grant_type=authorization_code is supported").write(w)
		return
	}
	code := f.Get("code")
	if code == "" {
		badRequest("invalid_request", "the code parameter is missing").write(w)
		return
	}

	g, terr := p.redeem(code, f)
	if terr != nil {
		terr.write(w)
		return
	}

	accessToken := randomToken()
	idToken, err := p.idToken(g, accessToken)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "sign the ID token: " + err.Error()})
		return
	}
	p.mu.Lock()
	g.accessToken = accessToken
	p.accessTokens[accessToken] = g
	p.issued.AccessTokens = append(p.issued.AccessTokens, accessToken)
	p.issued.IDTokens = append(p.issued.IDTokens, idToken)
	p.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": accessToken,
		"token_type":   "Bearer",
		"expires_in":   int(p.opts.TokenTTL / time.Second),
		"id_token":     idToken,
		"scope":        strings.Join(g.scopes, " "),
	})
}

// authenticateClient checks the client's credentials, sent either with
// HTTP Basic (client_secret_basic, with id and secret form-encoded first,
// as RFC 6749, section 2.3.1, requires) or in the body (client_secret_post).
// A client must use one method only.
func (p *Provider) authenticateClient(r *http.Request) *tokenError {
	f := r.PostForm
	user, pass, hasBasic := r.BasicAuth()
	bodySecret := f.Has("client_secret")
	invalid := &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "client authentication failed", basic: hasBasic}

	var id, secret, method string
	switch {
	case hasBasic && bodySecret:
		return badRequest("invalid_request", "the client used more than one authentication method")
	case hasBasic:
		var err1, err2 error
		id, err1 = url.QueryUnescape(user)
		secret, err2 = url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return invalid
		}
		if bodyID := f.Get("client_id"); bodyID != "" && bodyID != id {
			return badRequest("invalid_request", "client_id in the body differs from the one in the Authorization header")
		}
		method = "client_secret_basic"
	case bodySecret:
		id, secret, method = f.Get("client_id"), f.Get("client_secret"), "client_secret_post"
	default:
		return invalid
	}
	if !slices.Contains(p.opts.AuthMethods, method) {
		invalid.description = method + " is not allowed for this client"
		return invalid
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(p.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
	if !idOK || !secretOK {
		return invalid
	}
	return nil
}

// redeem marks code as used and returns its grant if the request may have
// it. A code is used by the first request that names it, even a failing
// one, so a wrong PKCE verifier cannot be retried. A second use also
// revokes the access token issued for the first (RFC 6749, section 4.1.2).
func (p *Provider) redeem(code string, f url.Values) (*grant, *tokenError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[code]
	if !ok {
		return nil, badRequest("invalid_grant", "the authorization code is unknown")
	}
	if g.used {
		if g.accessToken != "" {
			delete(p.accessTokens, g.accessToken)
		}
		return nil, badRequest("invalid_grant", "the authorization code was already used")
	}
	g.used = true

	if !p.opts.Now().Before(g.expires) {
		return nil, badRequest("invalid_grant", "the authorization code has expired")
	}
	if g.clientID != p.ClientID {
		return nil, badRequest("invalid_grant", "the authorization code was issued to another client")
	}
	if f.Get("redirect_uri") != g.redirectURI {
		return nil, badRequest("invalid_grant", "redirect_uri differs from the one in the authorization request")
	}
	if terr := checkVerifier(g, f); terr != nil {
		return nil, terr
	}
	return g, nil
}

// checkVerifier applies RFC 7636, section 4.6. A verifier sent for a code
// that had no challenge is rejected too, so that an attacker cannot strip
// the challenge from the authorization request (RFC 9700, section 2.1.1).
func checkVerifier(g *grant, f url.Values) *tokenError {
	verifier := f.Get("code_verifier")
	switch {
	case g.challenge == "" && verifier == "":
		return nil
	case g.challenge == "":
		return badRequest("invalid_grant", "code_verifier sent, but the authorization request had no code_challenge")
	case verifier == "":
		return badRequest("invalid_grant", "code_verifier is missing")
	case !pkceValue.MatchString(verifier):
		return badRequest("invalid_grant", "code_verifier must be 43 to 128 unreserved characters")
	}
	want := verifier
	if g.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(g.challenge)) != 1 {
		return badRequest("invalid_grant", "code_verifier does not match the code_challenge")
	}
	return nil
}

// idToken signs the ID token of g with RS256. Profile and email claims
// follow the granted scopes; the groups claim is always there unless
// GroupsInUserInfoOnly is set.
func (p *Provider) idToken(g *grant, accessToken string) (string, error) {
	now := p.opts.Now()
	sum := sha256.Sum256([]byte(accessToken))
	claims := map[string]any{
		"iss":       p.URL,
		"sub":       g.user.Subject,
		"aud":       g.clientID,
		"azp":       g.clientID,
		"iat":       now.Unix(),
		"exp":       now.Add(p.opts.TokenTTL).Unix(),
		"auth_time": g.authTime.Unix(),
		"at_hash":   base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	for k, v := range userClaims(g.user, g.scopes) {
		claims[k] = v
	}
	if g.user.Groups != nil && !p.opts.GroupsInUserInfoOnly {
		claims[p.opts.GroupsClaim] = g.user.Groups
	}

	p.mu.Lock()
	modify := p.modify
	p.mu.Unlock()
	if modify != nil {
		modify(claims)
	}

	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.key, KeyID: keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// userClaims returns the standard claims of u that scopes grant (OpenID
// Connect Core 1.0, section 5.4).
func userClaims(u User, scopes []string) map[string]any {
	out := map[string]any{}
	if slices.Contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = true
	}
	if slices.Contains(scopes, "profile") {
		if u.Name != "" {
			out["name"] = u.Name
		}
		if u.Username != "" {
			out["preferred_username"] = u.Username
		}
	}
	return out
}

// userinfo is the userinfo endpoint (OpenID Connect Core 1.0, section
// 5.3), for a Bearer access token in the Authorization header.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "The userinfo endpoint accepts GET and POST.", http.StatusMethodNotAllowed)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	g, known := p.accessTokens[token]
	p.mu.Unlock()
	if !ok || !known {
		// RFC 6750, section 3.
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	claims := userClaims(g.user, g.scopes)
	claims["sub"] = g.user.Subject
	if g.user.Groups != nil {
		claims[p.opts.GroupsClaim] = g.user.Groups
	}
	writeJSON(w, http.StatusOK, claims)
}
