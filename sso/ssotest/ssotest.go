// Package ssotest runs an OpenID provider in the test process, on
// 127.0.0.1, for tests of sign-in with real OpenID Connect and OAuth 2.0
// clients.
//
// It serves discovery, a JWKS with one RSA key, an authorization endpoint
// that shows a plain HTML form to pick a test user (usable by a browser
// without JavaScript) or picks one itself for Go tests, a token endpoint,
// userinfo and a logout page. It follows the specifications' semantics and
// error codes: OpenID Connect Core 1.0, OAuth 2.0 (RFC 6749) and PKCE
// (RFC 7636). It keeps no sign-in session of its own, so every
// authorization request picks a user again.
package ssotest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Defaults of Options.
const (
	DefaultClientID     = "rotor"
	DefaultClientSecret = "ssotest client secret +/=:%é"
	DefaultGroupsClaim  = "groups"
	DefaultCodeTTL      = time.Minute
	DefaultTokenTTL     = 5 * time.Minute
)

// keyID names the provider's one signing key in the JWKS and in each ID
// token's header.
const keyID = "ssotest-rs256"

// Options configure a Provider.
type Options struct {
	ClientID     string // the one registered client; default DefaultClientID
	ClientSecret string // default DefaultClientSecret, which needs form encoding in HTTP Basic

	// RedirectURIs are the registered redirect URIs, compared exactly. An
	// authorization request with another one gets an error page, never a
	// redirect. AddRedirectURI adds one after the test server started.
	RedirectURIs []string

	Users []User

	// GroupsClaim is the claim that carries User.Groups. Default "groups".
	GroupsClaim string

	// GroupsInUserInfoOnly leaves the groups out of the ID token, so they
	// are only at the userinfo endpoint, as some providers do.
	GroupsInUserInfoOnly bool

	// AuthMethods are the client authentication methods the token endpoint
	// accepts and discovery lists: client_secret_basic and
	// client_secret_post. Default both.
	AuthMethods []string

	// RequirePKCE rejects an authorization request without a
	// code_challenge, as RFC 7636, section 4.4.1, describes.
	RequirePKCE bool

	// TLS serves HTTPS with a certificate of its own; Client trusts it.
	TLS bool

	CodeTTL  time.Duration // lifetime of an authorization code; default DefaultCodeTTL
	TokenTTL time.Duration // lifetime of ID and access tokens; default DefaultTokenTTL
	Now      func() time.Time
}

// User is a test user.
type User struct {
	Subject  string // the sub claim; required and unique
	Email    string
	Name     string
	Username string // preferred_username
	Groups   []string
}

// Provider is a running OpenID provider. Its methods are safe for
// concurrent use.
type Provider struct {
	// URL is the issuer, such as http://127.0.0.1:41234. The endpoints are
	// paths below it.
	URL string

	ClientID     string
	ClientSecret string

	opts Options
	srv  *httptest.Server
	key  *rsa.PrivateKey

	mu           sync.Mutex
	users        []User
	redirectURIs []string
	autoUser     string
	modify       func(claims map[string]any)
	codes        map[string]*grant
	accessTokens map[string]*grant
	issued       Issued
}

// grant is one authorization: what the authorization request asked for,
// and the user who approved it.
type grant struct {
	clientID    string
	redirectURI string
	scopes      []string
	nonce       string
	challenge   string
	method      string
	user        User
	authTime    time.Time
	expires     time.Time
	used        bool
	accessToken string // issued for this code; revoked when the code is replayed
}

// Issued lists every credential the provider handed out, for tests that
// search logs, pages and databases for them.
type Issued struct {
	Codes        []string
	AccessTokens []string
	IDTokens     []string
}

// New starts a provider and stops it when the test ends.
func New(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = DefaultGroupsClaim
	}
	if len(o.AuthMethods) == 0 {
		o.AuthMethods = []string{"client_secret_basic", "client_secret_post"}
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = DefaultCodeTTL
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, u := range o.Users {
		if u.Subject == "" {
			t.Fatalf("ssotest: a user has no Subject")
		}
	}

	p := &Provider{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		opts: o, key: signingKey(t),
		users:        slices.Clone(o.Users),
		redirectURIs: slices.Clone(o.RedirectURIs),
		codes:        map[string]*grant{},
		accessTokens: map[string]*grant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	mux.HandleFunc("/userinfo", p.userinfo)
	mux.HandleFunc("GET /logout", p.logout)

	if o.TLS {
		p.srv = httptest.NewTLSServer(mux)
	} else {
		p.srv = httptest.NewServer(mux)
	}
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close stops the provider. New arranges it for the end of the test.
func (p *Provider) Close() { p.srv.Close() }

// Client returns an HTTP client that trusts the provider's certificate
// when it serves TLS.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// AddUser adds a test user, or replaces the one with the same subject.
func (p *Provider) AddUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.users {
		if p.users[i].Subject == u.Subject {
			p.users[i] = u
			return
		}
	}
	p.users = append(p.users, u)
}

// AddRedirectURI registers a redirect URI, such as that of a test server
// started after the provider.
func (p *Provider) AddRedirectURI(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append(p.redirectURIs, uri)
}

// SelectUser makes every later authorization request approve as the user
// with subject, without showing the form, so that Go tests sign in
// non-interactively. "" shows the form again. A request's login_hint
// parameter picks a user the same way.
func (p *Provider) SelectUser(subject string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.autoUser = subject
}

// ModifyIDToken sets a function that changes the claims of every later
// ID token before it is signed, for tests of tokens a client must reject:
// another audience, an old expiry, a wrong nonce. nil stops modifying.
func (p *Provider) ModifyIDToken(fn func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.modify = fn
}

// Issued returns the codes and tokens issued so far.
func (p *Provider) Issued() Issued {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Issued{
		Codes:        slices.Clone(p.issued.Codes),
		AccessTokens: slices.Clone(p.issued.AccessTokens),
		IDTokens:     slices.Clone(p.issued.IDTokens),
	}
}

func (p *Provider) user(subject string) (User, bool) {
	for _, u := range p.users {
		if u.Subject == subject {
			return u, true
		}
	}
	return User{}, false
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"userinfo_endpoint":                     p.URL + "/userinfo",
		"jwks_uri":                              p.URL + "/jwks",
		"end_session_endpoint":                  p.URL + "/logout",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
		"token_endpoint_auth_methods_supported": p.opts.AuthMethods,
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
			"email", "email_verified", "name", "preferred_username", p.opts.GroupsClaim},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!doctype html><title>Signed out</title><p id=\"ssotest-signed-out\">Signed out of the test identity provider.</p>\n"))
}

// signingKey returns the RSA key every Provider of the test binary signs
// with. Generating a 2048-bit key takes long enough under the race
// detector to be worth sharing.
var signingKey = func() func(testing.TB) *rsa.PrivateKey {
	var once sync.Once
	var key *rsa.PrivateKey
	var err error
	return func(t testing.TB) *rsa.PrivateKey {
		t.Helper()
		once.Do(func() { key, err = rsa.GenerateKey(rand.Reader, 2048) })
		if err != nil {
			t.Fatalf("ssotest: generate RSA key: %v", err)
		}
		return key
	}
}()

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomToken returns 32 random bytes as base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}
