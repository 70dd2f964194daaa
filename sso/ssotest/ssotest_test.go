package ssotest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rotorhq/rotor/sso/ssotest"
)

const redirectURI = "http://127.0.0.1:1/auth/callback"

var alice = ssotest.User{Subject: "u-alice", Email: "alice@example.com", Name: "Alice", Username: "alice", Groups: []string{"ops"}}

func newProvider(t *testing.T, o ssotest.Options) *ssotest.Provider {
	t.Helper()
	o.RedirectURIs = append(o.RedirectURIs, redirectURI)
	o.Users = append(o.Users, alice)
	return ssotest.New(t, o)
}

// noFollow returns a client that returns redirects instead of following
// them.
func noFollow(p *ssotest.Provider) *http.Client {
	c := *p.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// authorize sends an authorization request for alice with params on top
// of valid ones, and returns the query of the redirect back.
func authorize(t *testing.T, p *ssotest.Provider, params url.Values) url.Values {
	t.Helper()
	q := url.Values{"client_id": {p.ClientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"st"}, "nonce": {"n-1"}, "login_hint": {alice.Subject}}
	for k, v := range params {
		q[k] = v
	}
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
		}
	}
	res, err := noFollow(p).Get(p.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatalf("GET /authorize: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("GET /authorize = %d, want 302", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("redirect to %q, want %s", res.Header.Get("Location"), redirectURI)
	}
	if got := loc.Query().Get("state"); got != "st" {
		t.Errorf("state = %q, want it echoed as st", got)
	}
	return loc.Query()
}

// tokenResponse is the token endpoint's JSON, success or error.
type tokenResponse struct {
	status      int
	header      http.Header
	Error       string `json:"error"`
	Description string `json:"error_description"`
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// token posts form to the token endpoint, with the client's credentials
// in HTTP Basic when basic is set.
func token(t *testing.T, p *ssotest.Provider, form url.Values, basic bool) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(p.ClientSecret))
	}
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /token: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := tokenResponse{status: res.StatusCode, header: res.Header}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("token response %q is not JSON: %v", body, err)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control = %q, want no-store", res.Header.Get("Cache-Control"))
	}
	return out
}

func codeForm(code string, extra ...string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func wantError(t *testing.T, what string, got tokenResponse, status int, code string) {
	t.Helper()
	if got.status != status || got.Error != code {
		t.Errorf("%s = %d %s (%s), want %d %s", what, got.status, got.Error, got.Description, status, code)
	}
	if got.AccessToken != "" || got.IDToken != "" {
		t.Errorf("%s returned tokens with an error", what)
	}
}

// The real go-oidc and oauth2 clients sign in against the provider.
func TestClientsAccept(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, ssotest.Options{AuthMethods: []string{method}, TLS: true})
			ctx := oidc.ClientContext(context.Background(), p.Client())
			provider, err := oidc.NewProvider(ctx, p.URL)
			if err != nil {
				t.Fatalf("NewProvider: %v", err)
			}
			style := oauth2.AuthStyleInHeader
			if method == "client_secret_post" {
				style = oauth2.AuthStyleInParams
			}
			endpoint := provider.Endpoint()
			endpoint.AuthStyle = style
			cfg := oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: endpoint,
				RedirectURL: redirectURI, Scopes: []string{"openid", "email"}}
			verifier := oauth2.GenerateVerifier()

			res, err := noFollow(p).Get(cfg.AuthCodeURL("st", oidc.Nonce("n-1"), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", alice.Subject)))
			if err != nil {
				t.Fatalf("GET /authorize: %v", err)
			}
			res.Body.Close()
			loc, _ := url.Parse(res.Header.Get("Location"))
			tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			id, err := provider.Verifier(&oidc.Config{ClientID: p.ClientID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("VerifyAccessToken: %v", err)
			}
			var claims struct {
				Email  string   `json:"email"`
				Name   string   `json:"name"`
				Groups []string `json:"groups"`
			}
			if err := id.Claims(&claims); err != nil {
				t.Fatalf("Claims: %v", err)
			}
			if id.Subject != alice.Subject || id.Nonce != "n-1" || claims.Email != alice.Email || claims.Name != "" || strings.Join(claims.Groups, ",") != "ops" {
				t.Errorf("ID token sub=%s nonce=%s claims=%+v, want alice's, without name (no profile scope)", id.Subject, id.Nonce, claims)
			}

			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != alice.Subject {
				t.Errorf("UserInfo = %+v, %v; want alice", info, err)
			}
		})
	}
}

func TestTokenEndpointPKCE(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	withChallenge := url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}

	code := authorize(t, p, withChallenge).Get("code")
	wantError(t, "token without code_verifier", token(t, p, codeForm(code), true), http.StatusBadRequest, "invalid_grant")

	code = authorize(t, p, withChallenge).Get("code")
	wantError(t, "token with another verifier", token(t, p, codeForm(code, "code_verifier", oauth2.GenerateVerifier()), true), http.StatusBadRequest, "invalid_grant")
	wantError(t, "the same code with the right verifier after a wrong one", token(t, p, codeForm(code, "code_verifier", verifier), true), http.StatusBadRequest, "invalid_grant")

	code = authorize(t, p, withChallenge).Get("code")
	wantError(t, "token with a short verifier", token(t, p, codeForm(code, "code_verifier", "short"), true), http.StatusBadRequest, "invalid_grant")

	code = authorize(t, p, nil).Get("code")
	wantError(t, "a verifier for a code without challenge", token(t, p, codeForm(code, "code_verifier", verifier), true), http.StatusBadRequest, "invalid_grant")

	code = authorize(t, p, withChallenge).Get("code")
	if got := token(t, p, codeForm(code, "code_verifier", verifier), true); got.status != http.StatusOK || got.IDToken == "" || got.TokenType != "Bearer" {
		t.Errorf("token with the right S256 verifier = %d %s %s", got.status, got.Error, got.Description)
	}

	plain := strings.Repeat("p", 43)
	code = authorize(t, p, url.Values{"code_challenge": {plain}}).Get("code")
	if got := token(t, p, codeForm(code, "code_verifier", plain), true); got.status != http.StatusOK {
		t.Errorf("token with a plain challenge (the default method) = %d %s %s", got.status, got.Error, got.Description)
	}

	q := authorize(t, p, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S512"}})
	if q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Errorf("unknown challenge method: redirect %v, want error=invalid_request", q)
	}
}

func TestTokenEndpointCode(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	p := newProvider(t, ssotest.Options{Now: clock})

	code := authorize(t, p, nil).Get("code")
	first := token(t, p, codeForm(code), true)
	if first.status != http.StatusOK {
		t.Fatalf("first exchange = %d %s %s", first.status, first.Error, first.Description)
	}
	wantError(t, "second exchange of the code", token(t, p, codeForm(code), true), http.StatusBadRequest, "invalid_grant")
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+first.AccessToken)
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /userinfo: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("userinfo with the token of a replayed code = %d, want 401 invalid_token", res.StatusCode)
	}

	code = authorize(t, p, nil).Get("code")
	f := codeForm(code)
	f.Set("redirect_uri", "http://127.0.0.1:1/other")
	wantError(t, "exchange with another redirect_uri", token(t, p, f, true), http.StatusBadRequest, "invalid_grant")

	wantError(t, "exchange of an unknown code", token(t, p, codeForm("nope"), true), http.StatusBadRequest, "invalid_grant")

	code = authorize(t, p, nil).Get("code")
	now = now.Add(ssotest.DefaultCodeTTL)
	wantError(t, "exchange of an expired code", token(t, p, codeForm(code), true), http.StatusBadRequest, "invalid_grant")

	f = codeForm("x")
	f.Set("grant_type", "password")
	wantError(t, "password grant", token(t, p, f, true), http.StatusBadRequest, "unsupported_grant_type")
}

func TestTokenEndpointClientAuth(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	code := func() string { return authorize(t, p, nil).Get("code") }

	got := token(t, p, codeForm(code()), false)
	wantError(t, "no client authentication", got, http.StatusUnauthorized, "invalid_client")

	f := codeForm(code(), "client_id", p.ClientID, "client_secret", "wrong")
	got = token(t, p, f, false)
	wantError(t, "client_secret_post with a wrong secret", got, http.StatusUnauthorized, "invalid_client")
	if got.header.Get("WWW-Authenticate") != "" {
		t.Errorf("a 401 without HTTP Basic names a scheme: %q", got.header.Get("WWW-Authenticate"))
	}

	f = codeForm(code(), "client_id", p.ClientID, "client_secret", p.ClientSecret)
	wantError(t, "both client_secret_basic and client_secret_post", token(t, p, f, true), http.StatusBadRequest, "invalid_request")

	// HTTP Basic with the secret not form-encoded first.
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/token", strings.NewReader(codeForm(code()).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.ClientID, "wrong secret")
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /token: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("HTTP Basic with a wrong secret = %d, WWW-Authenticate %q; want 401 naming Basic", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}

	f = codeForm(code(), "client_id", p.ClientID, "client_secret", p.ClientSecret)
	if got := token(t, p, f, false); got.status != http.StatusOK {
		t.Errorf("client_secret_post = %d %s", got.status, got.Error)
	}
	if got := token(t, p, codeForm(code()), true); got.status != http.StatusOK {
		t.Errorf("client_secret_basic = %d %s", got.status, got.Error)
	}

	postOnly := newProvider(t, ssotest.Options{AuthMethods: []string{"client_secret_post"}})
	code = func() string { return authorize(t, postOnly, nil).Get("code") }
	wantError(t, "client_secret_basic where only post is allowed", token(t, postOnly, codeForm(code()), true), http.StatusUnauthorized, "invalid_client")
}

func TestAuthorizationErrors(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{RequirePKCE: true})

	for name, q := range map[string]url.Values{
		"unknown client":           {"client_id": {"other"}, "redirect_uri": {redirectURI}},
		"unregistered redirect":    {"client_id": {p.ClientID}, "redirect_uri": {"https://evil.example/cb"}},
		"redirect with extra path": {"client_id": {p.ClientID}, "redirect_uri": {redirectURI + "/x"}},
	} {
		res, err := noFollow(p).Get(p.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatalf("GET /authorize: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("%s: /authorize = %d to %q, want 400 without a redirect", name, res.StatusCode, res.Header.Get("Location"))
		}
	}

	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	for name, tt := range map[string]struct {
		params url.Values
		want   string
	}{
		"no challenge":         {nil, "invalid_request"},
		"no openid scope":      {url.Values{"scope": {"email"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_scope"},
		"token response type":  {url.Values{"response_type": {"token"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "unsupported_response_type"},
		"prompt none, no user": {url.Values{"prompt": {"none"}, "login_hint": {""}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "login_required"},
	} {
		q := authorize(t, p, tt.params)
		if q.Get("error") != tt.want || q.Get("code") != "" {
			t.Errorf("%s: redirect query %v, want error=%s and no code", name, q, tt.want)
		}
	}
}
