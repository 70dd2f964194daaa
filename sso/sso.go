// Package sso signs operators in with OpenID Connect and keeps their
// sessions in Postgres.
//
// A sign-in is the authorization code flow with PKCE (S256): /auth/login
// sends the browser to the identity provider, /auth/callback exchanges the
// code, verifies the ID token and maps the person's groups to an api.Role,
// and a session cookie (rotor_session) authenticates later requests. The
// database stores only SHA-256 hashes of the cookie value and of the state
// parameter, so a copy of it cannot be replayed.
//
// SignIn implements api.SignIn (the routes under /auth) and
// api.Authenticator (the session cookie).
package sso

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/secret"
)

// Defaults of Config.
const (
	DefaultGroupsClaim = "groups"
	DefaultNameClaim   = "email"
	DefaultSessionTTL  = 12 * time.Hour
	DefaultIdleTimeout = time.Hour
)

// CallbackPath is the path of the redirect URL: the routes are mounted
// under /auth, and the callback route is /callback.
const CallbackPath = "/auth/callback"

const (
	// loginTTL is how long a started sign-in may take at the identity
	// provider before its state expires.
	loginTTL = 10 * time.Minute

	// maxPendingLogins bounds the sso_logins rows that unauthenticated
	// requests to /auth/login can create within loginTTL.
	maxPendingLogins = 10000

	// discoveryRetry is the least time between two attempts to fetch the
	// provider's discovery document after one failed.
	discoveryRetry = 10 * time.Second

	// providerTimeout bounds each request to the identity provider.
	providerTimeout = 15 * time.Second
)

// Config is how rotor signs operators in. Every field maps onto one key of
// the auth section of rotor's configuration file.
type Config struct {
	// Issuer is the identity provider's issuer URL, such as
	// https://id.example.com/realms/platform. It must be https, except on
	// a loopback host, where http is accepted for tests and local trials.
	Issuer string

	ClientID     string
	ClientSecret secret.Value

	// RedirectURL is rotor's callback as the provider must redirect to it,
	// such as https://rotor.example.com/auth/callback. Its path must be
	// CallbackPath. It decides whether cookies are Secure: they are,
	// unless it is http on a loopback host.
	RedirectURL string

	// Scopes are requested in addition to openid, profile and email, such
	// as "groups" for providers that send the groups claim only for it.
	Scopes []string

	// GroupsClaim is the claim that lists the person's groups: a JSON array
	// of strings, or one string. A dotted name such as realm_access.roles
	// is looked up as nested objects when no claim has that exact name.
	// When the ID token lacks the claim, the userinfo endpoint is asked.
	// Default "groups".
	GroupsClaim string

	// NameClaim is the claim whose value audit events record as the
	// person's name. When it is missing or empty, preferred_username, then
	// sub, is used. Default "email".
	NameClaim string

	// RoleGroups lists, per role, the groups whose members get it. A
	// person gets the highest role that any of their groups grants, and no
	// session when none of their groups is listed.
	RoleGroups map[api.Role][]string

	// SessionTTL is how long a session lasts after sign-in, however active.
	// Default 12h.
	SessionTTL time.Duration

	// IdleTimeout ends a session that made no request for this long.
	// Default 1h.
	IdleTimeout time.Duration

	// HTTPClient makes the requests to the identity provider, such as one
	// that trusts a private CA. Default: a client with a 15s time-out.
	HTTPClient *http.Client

	Logger *slog.Logger
	Now    func() time.Time // default time.Now
}

// SignIn serves the sign-in routes and authenticates requests by their
// session cookie. It is safe for concurrent use.
type SignIn struct {
	cfg    Config
	pool   *pgxpool.Pool
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	secure bool // cookies carry the Secure attribute
	page   *template.Template

	mu        sync.Mutex
	discovery *discovered // nil until the discovery document was fetched
	lastTry   time.Time
	lastErr   error
}

// discovered is what rotor uses of the provider's discovery document.
type discovered struct {
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string // end_session_endpoint, "" when the provider has none
}

// New checks cfg, fills its defaults and fetches the provider's discovery
// document.
//
// A configuration problem is an error that names the field. A provider
// that cannot be reached is not: New logs the failure and returns a SignIn
// that fetches the document again at the next sign-in, at most once every
// 10 seconds, and shows the failure on the sign-in page meanwhile. This
// lets rotor start, and serve the people who already have a session, while
// the identity provider is briefly down. Call Discover to make the
// provider's reachability a start-up condition instead.
func New(ctx context.Context, cfg Config, pool *pgxpool.Pool) (*SignIn, error) {
	if pool == nil {
		return nil, errors.New("sso: a database pool is required")
	}
	secure, err := cfg.check()
	if err != nil {
		return nil, err
	}
	page, err := parsePage()
	if err != nil {
		return nil, err
	}
	s := &SignIn{cfg: cfg, pool: pool, log: cfg.Logger, now: cfg.Now, client: cfg.HTTPClient, secure: secure, page: page}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: providerTimeout}
	}

	if _, err := s.provider(ctx); err != nil {
		s.log.WarnContext(ctx, "identity provider unavailable at start; sign-in retries at the next login",
			"issuer", cfg.Issuer, "error", err)
	}
	return s, nil
}

// Discover fetches the provider's discovery document now, unless it was
// fetched already, and returns why it could not.
func (s *SignIn) Discover(ctx context.Context) error {
	s.mu.Lock()
	s.lastTry = time.Time{}
	s.mu.Unlock()
	_, err := s.provider(ctx)
	return err
}

// Routes registers GET /login, GET /callback, POST /logout and
// GET /signed-out, relative to where the caller mounts them (/auth).
func (s *SignIn) Routes(r chi.Router) {
	r.Get("/login", s.login)
	r.Get("/callback", s.callback)
	r.Post("/logout", s.logout)
	r.Get("/signed-out", s.signedOut)
}

// check validates c and fills its defaults. It returns whether cookies
// must be Secure.
func (c *Config) check() (secure bool, err error) {
	issuer, err := url.Parse(c.Issuer)
	if err != nil || issuer.Host == "" || (issuer.Scheme != "https" && issuer.Scheme != "http") {
		return false, fmt.Errorf("sso: issuer %q is not an absolute http(s) URL; set the issuer URL of your identity provider, such as https://id.example.com/realms/platform", c.Issuer)
	}
	if issuer.Scheme == "http" && !isLoopback(issuer.Hostname()) {
		return false, fmt.Errorf("sso: issuer %q uses plain http; use the provider's https:// issuer URL (http is accepted on loopback only)", c.Issuer)
	}
	if c.ClientID == "" {
		return false, errors.New("sso: the client id is missing; set rotor's client id at the identity provider")
	}
	if c.ClientSecret.IsZero() {
		return false, errors.New("sso: the client secret is missing; rotor is a confidential client and authenticates to the token endpoint")
	}

	redirect, err := url.Parse(c.RedirectURL)
	if err != nil || redirect.Host == "" || (redirect.Scheme != "https" && redirect.Scheme != "http") {
		return false, fmt.Errorf("sso: redirect URL %q is not an absolute http(s) URL; set it to rotor's public URL with the path %s", c.RedirectURL, CallbackPath)
	}
	if redirect.Path != CallbackPath || redirect.RawQuery != "" || redirect.Fragment != "" {
		return false, fmt.Errorf("sso: redirect URL %q must have the path %s and no query, such as https://rotor.example.com%s", c.RedirectURL, CallbackPath, CallbackPath)
	}
	secure = redirect.Scheme == "https"
	if !secure && !isLoopback(redirect.Hostname()) {
		return false, fmt.Errorf("sso: redirect URL %q uses plain http on a host other than loopback, where the authorization code and the session cookie would cross the network unencrypted; serve rotor over https", c.RedirectURL)
	}

	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if c.NameClaim == "" {
		c.NameClaim = DefaultNameClaim
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SessionTTL < time.Minute {
		return false, fmt.Errorf("sso: session TTL %s is shorter than 1m", c.SessionTTL)
	}
	if c.IdleTimeout < time.Minute || c.IdleTimeout > c.SessionTTL {
		return false, fmt.Errorf("sso: idle timeout %s must be at least 1m and at most the session TTL (%s)", c.IdleTimeout, c.SessionTTL)
	}
	if err := checkRoleGroups(c.RoleGroups); err != nil {
		return false, err
	}
	return secure, nil
}

// scopes returns openid, profile and email, then the configured scopes,
// without repeats.
func (c *Config) scopes() []string {
	out := []string{oidc.ScopeOpenID, "profile", "email"}
	for _, s := range c.Scopes {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// provider returns the discovered provider, fetching the discovery
// document when it was not fetched yet and the last attempt is old enough.
func (s *SignIn) provider(ctx context.Context) (*discovered, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discovery != nil {
		return s.discovery, nil
	}
	if !s.lastTry.IsZero() && time.Since(s.lastTry) < discoveryRetry {
		return nil, s.lastErr
	}
	s.lastTry = time.Now()

	d, err := s.discover(ctx)
	if err != nil {
		s.lastErr = err
		return nil, err
	}
	s.discovery = d
	s.log.InfoContext(ctx, "identity provider discovered", "issuer", s.cfg.Issuer)
	return d, nil
}

func (s *SignIn) discover(ctx context.Context) (*discovered, error) {
	// go-oidc keeps the client of this context for fetching signing keys
	// later, so the client must outlive ctx; the time-out applies to the
	// discovery request alone.
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.client), providerTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, s.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("fetch discovery document of %s: %w", s.cfg.Issuer, err)
	}

	var meta struct {
		EndSession  string   `json:"end_session_endpoint"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		PKCEMethods []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("read discovery document of %s: %w", s.cfg.Issuer, err)
	}
	if len(meta.PKCEMethods) > 0 && !slices.Contains(meta.PKCEMethods, "S256") {
		return nil, fmt.Errorf("identity provider %s does not support PKCE with S256 (code_challenge_methods_supported: %s)", s.cfg.Issuer, strings.Join(meta.PKCEMethods, ", "))
	}

	endpoint := p.Endpoint()
	endpoint.AuthStyle = authStyle(meta.AuthMethods)
	d := &discovered{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: s.cfg.ClientID, Now: s.now}),
		oauth: oauth2.Config{
			ClientID:     s.cfg.ClientID,
			ClientSecret: s.cfg.ClientSecret.Reveal(),
			Endpoint:     endpoint,
			RedirectURL:  s.cfg.RedirectURL,
			Scopes:       s.cfg.scopes(),
		},
	}
	if u, err := url.Parse(meta.EndSession); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		d.endSession = meta.EndSession
	}
	return d, nil
}

// authStyle picks how rotor authenticates at the token endpoint from the
// methods the provider lists. OpenID Connect Discovery 1.0 makes
// client_secret_basic the default when the list is absent.
func authStyle(methods []string) oauth2.AuthStyle {
	if len(methods) == 0 || slices.Contains(methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
