package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rotorhq/rotor/api"
)

// maxNextBytes bounds the path a sign-in returns to.
const maxNextBytes = 2048

// login starts a sign-in: it stores the state, nonce and PKCE verifier
// under the hash of the state, gives the browser the state in a cookie and
// sends it to the provider.
//
// The state travels both in the cookie and in the URL, and the callback
// requires the two to match: the cookie binds the sign-in to the browser
// that started it, so nobody can make another browser finish a sign-in of
// theirs. The verifier and nonce stay in the database, where the browser
// and anything that reads its URLs cannot see them.
func (s *SignIn) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()

	// A stylesheet or image request that was redirected here must not
	// start a sign-in, because it would replace the login cookie of the
	// page's own sign-in.
	if dest := r.Header.Get("Sec-Fetch-Dest"); dest != "" && dest != "document" {
		http.Error(w, "Sign in first.", http.StatusUnauthorized)
		return
	}

	next := localPath(r.URL.Query().Get("next"))
	if _, err := s.Authenticate(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}

	d, err := s.provider(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "sign-in unavailable", "reason", "discovery", "issuer", s.cfg.Issuer, "error", err)
		s.render(w, r, http.StatusServiceUnavailable, pageData{
			Title: "Sign-in unavailable", Problem: true,
			Paragraphs: []string{
				"rotor cannot reach your identity provider at " + s.cfg.Issuer + ", so it cannot sign you in right now.",
				"Try again in a minute. If this persists, ask your rotor administrator to check the issuer URL and the network path to the provider; rotor's log has the details.",
			},
			Action: &link{Href: loginHref(next), Text: "Try again"},
		})
		return
	}

	state := randomString()
	l := pendingLogin{Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Next: next, ExpiresAt: s.stamp().Add(loginTTL)}
	if err := s.startLogin(ctx, state, l); err != nil {
		status, msg := http.StatusServiceUnavailable, "rotor cannot start a sign-in because its database is unavailable. Try again in a moment."
		if errors.Is(err, errTooManyLogins) {
			msg = "rotor has too many sign-ins in progress. Try again in a few minutes."
		}
		s.log.ErrorContext(ctx, "start sign-in", "error", err)
		s.render(w, r, status, pageData{Title: "Sign-in unavailable", Problem: true, Paragraphs: []string{msg},
			Action: &link{Href: loginHref(next), Text: "Try again"}})
		return
	}

	http.SetCookie(w, &http.Cookie{
		Name: LoginCookie, Value: state, Path: CallbackPath, MaxAge: int(loginTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	authURL := d.oauth.AuthCodeURL(state, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier))
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// callback finishes a sign-in: it checks the state, exchanges the code,
// verifies the ID token, maps the groups to a role and starts a session.
func (s *SignIn) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()

	// The login cookie is for this one callback, whatever its outcome.
	cookieState := ""
	if c, err := r.Cookie(LoginCookie); err == nil {
		cookieState = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Value: "", Path: CallbackPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})

	state := q.Get("state")
	if state == "" || cookieState == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookieState)) != 1 {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "state_mismatch",
			"has_state", state != "", "has_cookie", cookieState != "")
		s.render(w, r, http.StatusBadRequest, pageData{
			Title: "Sign-in not finished", Problem: true,
			Paragraphs: []string{
				"This sign-in did not start in this browser, or a later sign-in in another tab replaced it, so rotor did not accept it.",
				"Sign in again from this browser. Open rotor at its public address, " + s.publicOrigin() + ": a sign-in that starts at another host name, such as localhost in place of 127.0.0.1, loses its cookie on the way back.",
			},
			Action: &link{Href: "/auth/login", Text: "Sign in"},
		})
		return
	}

	l, err := s.takeLogin(ctx, state)
	if errors.Is(err, errNotFound) {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "state_used_or_expired")
		s.render(w, r, http.StatusBadRequest, pageData{
			Title: "Sign-in not finished", Problem: true,
			Paragraphs: []string{"This sign-in was already used, or it took longer than 10 minutes. Sign in again."},
			Action:     &link{Href: "/auth/login", Text: "Sign in"},
		})
		return
	}
	if err != nil {
		s.dbUnavailable(w, r, "finish sign-in", err, "/auth/login")
		return
	}

	if code := q.Get("error"); code != "" {
		s.providerError(w, r, code, q.Get("error_description"), l.Next)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "no_code")
		s.render(w, r, http.StatusBadRequest, pageData{Title: "Sign-in not finished", Problem: true,
			Paragraphs: []string{"The identity provider sent you back without an authorization code. Sign in again."},
			Action:     &link{Href: loginHref(l.Next), Text: "Sign in"}})
		return
	}

	d, err := s.provider(ctx)
	if err != nil {
		// Login discovers before it redirects, so only a process that
		// did not serve the login (another replica) can get here.
		s.log.WarnContext(ctx, "sign-in unavailable", "reason", "discovery", "issuer", s.cfg.Issuer, "error", err)
		s.render(w, r, http.StatusServiceUnavailable, pageData{Title: "Sign-in unavailable", Problem: true,
			Paragraphs: []string{"rotor cannot reach your identity provider at " + s.cfg.Issuer + ". Try again in a minute."},
			Action:     &link{Href: loginHref(l.Next), Text: "Sign in"}})
		return
	}

	id, claims, problem := s.verify(ctx, d, code, l)
	if problem != nil {
		problem.Action = &link{Href: loginHref(l.Next), Text: "Sign in again"}
		s.render(w, r, problem.status, problem.pageData)
		return
	}
	s.startSession(w, r, d, id, claims, l.Next)
}

// failure is a page that explains why a sign-in failed.
type failure struct {
	status int
	pageData
}

func newFailure(status int, paragraphs ...string) *failure {
	return &failure{status: status, pageData: pageData{Title: "Sign-in failed", Problem: true, Paragraphs: paragraphs}}
}

// verify exchanges code for tokens and verifies the ID token: signature,
// issuer, audience, expiry, nonce and, when present, the access token hash.
// It logs every failure with a reason and never the code or a token.
func (s *SignIn) verify(ctx context.Context, d *discovered, code string, l pendingLogin) (*oidc.IDToken, map[string]any, *failure) {
	ctx = oidc.ClientContext(ctx, s.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return nil, nil, s.exchangeFailure(ctx, err)
	}

	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "no_id_token")
		return nil, nil, newFailure(http.StatusBadGateway,
			"The identity provider's token response has no ID token, so rotor cannot tell who you are.",
			"Ask your rotor administrator to check that the client at the provider is an OpenID Connect client and that the scope openid is allowed.")
	}
	id, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			s.log.WarnContext(ctx, "sign-in rejected", "reason", "id_token_expired", "expiry", expired.Expiry, "now", s.now())
			return nil, nil, newFailure(http.StatusBadGateway,
				"The identity provider's ID token had already expired when rotor received it.",
				"If this repeats, the clocks of rotor and the identity provider disagree; ask your rotor administrator to check them.")
		}
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "id_token_invalid", "error", err)
		return nil, nil, newFailure(http.StatusBadGateway,
			"rotor could not verify the identity provider's ID token: its issuer, audience or signature is not what rotor expects.",
			"Ask your rotor administrator to check the issuer URL and client id in rotor's configuration; rotor's log names the mismatch.")
	}
	if subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(l.Nonce)) != 1 {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "nonce_mismatch", "subject", id.Subject)
		return nil, nil, newFailure(http.StatusBadRequest,
			"The identity provider's ID token belongs to a different sign-in than this one, so rotor did not accept it.")
	}
	if id.AccessTokenHash != "" {
		if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
			s.log.WarnContext(ctx, "sign-in rejected", "reason", "at_hash_mismatch", "subject", id.Subject)
			return nil, nil, newFailure(http.StatusBadGateway,
				"The identity provider's access token does not match its ID token, so rotor did not accept the sign-in.")
		}
	}
	if id.Subject == "" || len(id.Subject) > 255 {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "bad_subject", "subject_bytes", len(id.Subject))
		return nil, nil, newFailure(http.StatusBadGateway,
			"The identity provider's ID token has no valid subject (sub claim), so rotor cannot tell who you are.")
	}

	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "claims_unreadable", "error", err)
		return nil, nil, newFailure(http.StatusBadGateway, "rotor could not read the claims of the identity provider's ID token.")
	}
	if aud, _ := claims["aud"].([]any); len(aud) > 1 {
		// OpenID Connect Core 1.0, section 3.1.3.7: a token for several
		// audiences must name rotor as the party it was issued to.
		if azp, _ := claims["azp"].(string); azp != s.cfg.ClientID {
			s.log.WarnContext(ctx, "sign-in rejected", "reason", "azp_mismatch", "subject", id.Subject)
			return nil, nil, newFailure(http.StatusBadGateway,
				"The identity provider's ID token was issued to another client, so rotor did not accept it.")
		}
	}
	if _, ok := groupsClaim(claims, s.cfg.GroupsClaim); !ok {
		s.addUserInfoGroups(ctx, d, tok, id.Subject, claims)
	}
	return id, claims, nil
}

// addUserInfoGroups copies the groups claim from the userinfo endpoint
// into claims, for providers that leave it out of the ID token. OpenID
// Connect Core 1.0, section 5.3.2, requires its sub to match the ID
// token's; a failure only logs, and the sign-in goes on without groups.
func (s *SignIn) addUserInfoGroups(ctx context.Context, d *discovered, tok *oauth2.Token, subject string, claims map[string]any) {
	if d.provider.UserInfoEndpoint() == "" {
		return
	}
	info, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		s.log.WarnContext(ctx, "read groups from userinfo", "subject", subject, "error", err)
		return
	}
	if info.Subject != subject {
		s.log.WarnContext(ctx, "read groups from userinfo", "subject", subject, "error", "userinfo names another subject")
		return
	}
	var extra map[string]any
	if err := info.Claims(&extra); err != nil {
		s.log.WarnContext(ctx, "read groups from userinfo", "subject", subject, "error", err)
		return
	}
	if v, ok := lookupClaim(extra, s.cfg.GroupsClaim); ok {
		claims[s.cfg.GroupsClaim] = v
	}
}

// exchangeFailure explains an error of the token request. It logs the
// OAuth error code and description, which name no secret, and never the
// response body.
func (s *SignIn) exchangeFailure(ctx context.Context, err error) *failure {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "token_request_failed", "error", err)
		return newFailure(http.StatusBadGateway,
			"rotor could not reach the identity provider's token endpoint to finish your sign-in. Try again in a minute.")
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	s.log.WarnContext(ctx, "sign-in rejected", "reason", "token_request_rejected", "oauth_error", re.ErrorCode,
		"oauth_error_description", re.ErrorDescription, "http_status", status)
	switch re.ErrorCode {
	case "invalid_grant":
		return newFailure(http.StatusBadGateway,
			"The identity provider did not accept the sign-in code: it was already used, has expired, or does not match this sign-in (invalid_grant). Sign in again.")
	case "invalid_client", "unauthorized_client":
		return newFailure(http.StatusBadGateway,
			"The identity provider rejected rotor's own client credentials ("+re.ErrorCode+").",
			"Ask your rotor administrator to check the client id and client secret in rotor's configuration against the client at the identity provider.")
	}
	return newFailure(http.StatusBadGateway,
		"The identity provider did not finish your sign-in (HTTP status "+strconv.Itoa(status)+", error "+strings.TrimSpace(re.ErrorCode+" "+re.ErrorDescription)+").",
		"Try again; if it repeats, ask your rotor administrator to check rotor's log.")
}

// providerError shows an error the provider redirected back with, as
// OAuth 2.0 (RFC 6749, section 4.1.2.1) and OpenID Connect define them.
// The state matched, so the description comes from the provider rather
// than from a link someone else crafted.
func (s *SignIn) providerError(w http.ResponseWriter, r *http.Request, code, description, next string) {
	s.log.InfoContext(r.Context(), "sign-in rejected by identity provider", "oauth_error", code, "oauth_error_description", description)
	if len(description) > 300 {
		description = description[:300] + "…"
	}
	page := pageData{Title: "Not signed in", Problem: true, Action: &link{Href: loginHref(next), Text: "Sign in again"}}
	status := http.StatusBadRequest
	switch code {
	case "access_denied":
		status = http.StatusForbidden
		page.Paragraphs = []string{"The identity provider did not sign you in: you cancelled, or it denied rotor access to your account (access_denied)."}
	case "login_required", "interaction_required", "consent_required", "account_selection_required":
		status = http.StatusUnauthorized
		page.Paragraphs = []string{"The identity provider needs you to sign in or to confirm access first (" + code + ")."}
	case "temporarily_unavailable", "server_error":
		status = http.StatusBadGateway
		page.Paragraphs = []string{"The identity provider had a problem and could not sign you in (" + code + "). Try again in a minute."}
	default:
		page.Paragraphs = []string{
			"The identity provider rejected rotor's sign-in request (" + code + ").",
			"Ask your rotor administrator to check rotor's client at the identity provider: its redirect URL must be rotor's " + CallbackPath + ", and the scopes rotor requests must be allowed.",
		}
	}
	if description != "" {
		page.Paragraphs = append(page.Paragraphs, "The identity provider said: "+description)
	}
	s.render(w, r, status, page)
}

// startSession maps the claims to a role and, when the person has one,
// stores a session, sets its cookie and sends the browser on to next.
func (s *SignIn) startSession(w http.ResponseWriter, r *http.Request, d *discovered, id *oidc.IDToken, claims map[string]any, next string) {
	ctx := r.Context()
	groups, _ := groupsClaim(claims, s.cfg.GroupsClaim)
	role := roleFor(s.cfg.RoleGroups, groups)
	name := personName(claims, s.cfg.NameClaim, id.Subject)
	if role == 0 {
		s.log.WarnContext(ctx, "sign-in rejected", "reason", "no_role", "subject", id.Subject, "name", name, "groups", len(groups))
		s.render(w, r, http.StatusForbidden, s.noRolePage(name, groups, d))
		return
	}

	if len(groups) > maxGroups {
		groups = groups[:maxGroups]
	}
	now := s.stamp()
	sess := &session{Subject: id.Subject, Name: name, Role: role, Groups: groups,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	token, err := s.createSession(ctx, sess)
	if err != nil {
		s.dbUnavailable(w, r, "start session", err, loginHref(next))
		return
	}

	// A session the browser had before is replaced, not left valid
	// beside the new one.
	if old, ok := sessionToken(r); ok {
		if prev, err := s.endSession(ctx, old); err == nil {
			s.log.InfoContext(ctx, "session replaced", "session_id", prev.ID, "subject", prev.Subject)
		}
	}

	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", MaxAge: int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	s.log.InfoContext(ctx, "signed in", "subject", id.Subject, "name", name, "role", role.String(), "session_id", sess.ID)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *SignIn) noRolePage(name string, groups []string, d *discovered) pageData {
	page := pageData{
		Title: "No access to rotor", Problem: true,
		Paragraphs: []string{
			"You signed in as " + name + ", but none of your groups grants a role in rotor, so rotor did not start a session.",
			"Ask your rotor administrator to add you to one of the groups below at the identity provider, or to map one of your groups to a role in rotor's configuration (auth.roles). Then sign in again.",
		},
		Claim:       s.cfg.GroupsClaim,
		TokenGroups: groups,
		NoGroups:    len(groups) == 0,
		Action:      &link{Href: "/auth/login", Text: "Sign in again"},
	}
	for i := len(roles) - 1; i >= 0; i-- {
		if g := s.cfg.RoleGroups[roles[i]]; len(g) > 0 {
			page.Roles = append(page.Roles, roleGroups{Role: roles[i].String(), Groups: g})
		}
	}
	if d.endSession != "" {
		page.Secondary = &link{Href: endSessionHref(d.endSession, s.cfg.ClientID), Text: "Sign out of the identity provider to use another account"}
	}
	return page
}

// logout ends the session of the request's cookie, removes the cookie and
// shows the signed-out page. It does not redirect to the provider's
// end_session_endpoint, because the UI's Content-Security-Policy
// (form-action 'self') blocks a form POST that redirects to another origin.
func (s *SignIn) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})

	if token, ok := sessionToken(r); ok {
		sess, err := s.endSession(ctx, token)
		switch {
		case err == nil:
			s.log.InfoContext(ctx, "signed out", "session_id", sess.ID, "subject", sess.Subject)
		case errors.Is(err, errNotFound):
		default:
			s.dbUnavailable(w, r, "sign out", err, "/")
			return
		}
	}
	http.Redirect(w, r, "/auth/signed-out", http.StatusSeeOther)
}

// signedOut confirms a sign-out. It does not send the browser back to /,
// because / would sign it straight in again through the provider's own
// session.
func (s *SignIn) signedOut(w http.ResponseWriter, r *http.Request) {
	page := pageData{
		Title:      "Signed out",
		Paragraphs: []string{"You are signed out of rotor, and your session has ended."},
		Action:     &link{Href: "/auth/login", Text: "Sign in again"},
	}
	if d, err := s.provider(r.Context()); err == nil && d.endSession != "" {
		page.Paragraphs = append(page.Paragraphs, "Your identity provider may still have you signed in, so signing in to rotor again may not ask for your password.")
		page.Secondary = &link{Href: endSessionHref(d.endSession, s.cfg.ClientID), Text: "Sign out of the identity provider too"}
	}
	s.render(w, r, http.StatusOK, page)
}

func (s *SignIn) dbUnavailable(w http.ResponseWriter, r *http.Request, action string, err error, retry string) {
	s.log.ErrorContext(r.Context(), action, "error", err)
	s.render(w, r, http.StatusServiceUnavailable, pageData{Title: "Sign-in unavailable", Problem: true,
		Paragraphs: []string{"rotor could not " + action + ", because its database is unavailable. Try again in a moment."},
		Action:     &link{Href: retry, Text: "Try again"}})
}

// localPath returns next if it is a path on this site, and "/" otherwise,
// so that a sign-in link cannot send the browser elsewhere afterwards. It
// rejects absolute and scheme-relative URLs (//host), backslashes (which
// browsers read as slashes), control characters and the sign-in routes.
func localPath(next string) string {
	if next == "" || len(next) > maxNextBytes || next[0] != '/' {
		return "/"
	}
	if strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if next[i] < 0x20 || next[i] == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if strings.HasPrefix(u.Path, "//") || u.Path == "/auth" || strings.HasPrefix(u.Path, "/auth/") {
		return "/"
	}
	return next
}

func loginHref(next string) string {
	if next == "/" || next == "" {
		return "/auth/login"
	}
	return "/auth/login?next=" + url.QueryEscape(next)
}

// endSessionHref is the provider's logout page for rotor's client, as
// OpenID Connect RP-Initiated Logout 1.0 defines it.
func endSessionHref(endpoint, clientID string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	q := u.Query()
	q.Set("client_id", clientID)
	u.RawQuery = q.Encode()
	return u.String()
}

// randomString returns 32 random bytes as base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}

var _ api.SignIn = (*SignIn)(nil)
var _ api.Authenticator = (*SignIn)(nil)

// publicOrigin returns the scheme and host of the redirect URL: the
// address at which rotor must be opened for sign-in to work.
func (s *SignIn) publicOrigin() string {
	u, err := url.Parse(s.cfg.RedirectURL)
	if err != nil || u.Host == "" {
		return "server.public_url"
	}
	return u.Scheme + "://" + u.Host
}
