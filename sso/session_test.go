package sso_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/sso"
	"github.com/rotorhq/rotor/sso/ssotest"
)

func TestRoleFromGroups(t *testing.T) {
	t.Parallel()
	both := ssotest.User{Subject: "u-both", Email: "both@example.com", Groups: []string{"platform-admins", "platform-oncall"}}
	tests := []struct {
		user ssotest.User
		want string
	}{
		{vera, "viewer"},
		{otto, "operator"},
		{ada, "admin"},  // viewer and admin groups, and one that grants nothing
		{both, "admin"}, // the highest role wins, whatever the order
	}
	h := setup(t, options{idp: ssotest.Options{Users: append(users, both)}})
	for _, tt := range tests {
		t.Run(tt.user.Subject, func(t *testing.T) {
			res, body := h.signInAs(h.browser(), tt.user, "/")
			m := sessionLine.FindStringSubmatch(body)
			if res.StatusCode != http.StatusOK || m == nil {
				t.Fatalf("sign-in as %s = %d %s, want 200", tt.user.Subject, res.StatusCode, body)
			}
			if m[3] != tt.want {
				t.Errorf("%s with groups %v got role %s, want %s", tt.user.Subject, tt.user.Groups, m[3], tt.want)
			}
		})
	}
}

func TestNoRoleRejected(t *testing.T) {
	t.Parallel()
	noClaim := ssotest.User{Subject: "u-none", Email: "none@example.com"}
	h := setup(t, options{idp: ssotest.Options{Users: []ssotest.User{nora, noClaim}}})

	res, body := h.signInAs(h.browser(), nora, "/")
	h.assertRejected(res, body, http.StatusForbidden, "none of your groups grants a role in rotor")
	for _, want := range []string{"nora@example.com", "<code>groups</code>", "<td>admin</td><td><code>platform-admins</code></td>",
		"<td>operator</td><td><code>platform-oncall</code></td>", "<td>viewer</td><td><code>platform-team</code></td>",
		"carried these values in the <code>groups</code> claim: <code>finance</code>", "Ask your rotor administrator", `href="/auth/login"`} {
		if !strings.Contains(body, want) {
			t.Errorf("refusal page does not contain %q:\n%s", want, body)
		}
	}
	if !strings.Contains(body, h.idp.URL+"/logout?client_id=rotor") {
		t.Errorf("refusal page does not link to the provider's sign-out, to switch accounts:\n%s", body)
	}

	res, body = h.signInAs(h.browser(), noClaim, "/")
	h.assertRejected(res, body, http.StatusForbidden, "carried no <code>groups</code> claim")
}

func TestGroupsFromUserInfo(t *testing.T) {
	t.Parallel()
	h := setup(t, options{idp: ssotest.Options{GroupsInUserInfoOnly: true}})
	_, body := h.signInAs(h.browser(), otto, "/")
	if m := sessionLine.FindStringSubmatch(body); m == nil || m[3] != "operator" {
		t.Errorf("page = %q, want otto as operator from the userinfo groups", body)
	}
}

func TestConfiguredClaims(t *testing.T) {
	t.Parallel()
	h := setup(t, options{
		idp: ssotest.Options{GroupsClaim: "roles"},
		cfg: func(c *sso.Config) {
			c.GroupsClaim = "roles"
			c.NameClaim = "name"
			c.Scopes = []string{"groups", "email"}
		},
	})
	b := h.stepper()
	authURL := h.startLogin(b, "")
	if got := authURL.Query().Get("scope"); got != "openid profile email groups" {
		t.Errorf("scope = %q, want openid profile email groups", got)
	}
	_, body := h.signInAs(h.browser(), otto, "/")
	if m := sessionLine.FindStringSubmatch(body); m == nil || m[2] != "Otto Operator" || m[3] != "operator" {
		t.Errorf("page = %q, want Otto Operator as operator", body)
	}
}

func TestNameFallsBack(t *testing.T) {
	t.Parallel()
	noEmail := ssotest.User{Subject: "u-noemail", Username: "noemail", Groups: []string{"platform-team"}}
	bare := ssotest.User{Subject: "u-bare", Groups: []string{"platform-team"}}
	h := setup(t, options{idp: ssotest.Options{Users: []ssotest.User{noEmail, bare}}})
	for _, tt := range []struct {
		user ssotest.User
		want string
	}{{noEmail, "noemail"}, {bare, "u-bare"}} {
		_, body := h.signInAs(h.browser(), tt.user, "/")
		if m := sessionLine.FindStringSubmatch(body); m == nil || m[2] != tt.want {
			t.Errorf("page = %q, want the name %s", body, tt.want)
		}
	}
}

// status requests path with only the session cookie value, without
// following redirects, and returns the status and where it redirects.
func (h *harness) status(cookie, path string) (int, string) {
	h.t.Helper()
	res, err := h.stepper().Do(h.withCookie(path, cookie))
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

func (h *harness) lastSeen(cookie string) time.Time {
	h.t.Helper()
	var seen time.Time
	err := h.pool.QueryRow(context.Background(), `SELECT last_seen_at FROM sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, cookie).Scan(&seen)
	if err != nil {
		h.t.Fatalf("read last_seen_at: %v", err)
	}
	return seen
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	h := setup(t, options{cfg: func(c *sso.Config) { c.SessionTTL = 2 * time.Hour; c.IdleTimeout = time.Hour }})
	b := h.browser()
	h.signInAs(b, otto, "/")
	cookie := h.sessionCookie(b)

	for i := range 2 {
		h.clock.Advance(50 * time.Minute)
		if code, _ := h.status(cookie, "/"); code != http.StatusOK {
			t.Fatalf("request %d, %d minutes after sign-in = %d, want 200", i+1, (i+1)*50, code)
		}
	}
	h.clock.Advance(20 * time.Minute) // two hours after sign-in
	code, loc := h.status(cookie, "/credentials")
	if code != http.StatusSeeOther || loc != "/auth/login?next=%2Fcredentials" {
		t.Errorf("request after the session TTL = %d to %q, want 303 to sign in", code, loc)
	}
	if n := h.count("sessions"); n != 0 {
		t.Errorf("sessions has %d rows after expiry, want 0", n)
	}
	if !strings.Contains(h.logs.String(), `"reason":"expired"`) {
		t.Errorf("the log does not record the expiry")
	}
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.browser()
	h.signInAs(b, otto, "/")
	cookie := h.sessionCookie(b)
	signedIn := h.lastSeen(cookie)

	// Requests within a minute of the last update do not write.
	h.clock.Advance(30 * time.Second)
	h.status(cookie, "/")
	if got := h.lastSeen(cookie); !got.Equal(signedIn) {
		t.Errorf("last_seen_at moved to %s 30s after sign-in, want it left at %s", got, signedIn)
	}
	h.clock.Advance(31 * time.Second)
	h.status(cookie, "/")
	if got, want := h.lastSeen(cookie), signedIn.Add(61*time.Second); !got.Equal(want) {
		t.Errorf("last_seen_at = %s 61s after sign-in, want %s", got, want)
	}

	// Activity keeps the session; an hour without any ends it.
	h.clock.Advance(59 * time.Minute)
	if code, _ := h.status(cookie, "/"); code != http.StatusOK {
		t.Fatalf("request 59m after the last one = %d, want 200", code)
	}
	h.clock.Advance(time.Hour)
	if code, loc := h.status(cookie, "/"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/auth/login") {
		t.Errorf("request after an idle hour = %d to %q, want 303 to sign in", code, loc)
	}
	if !strings.Contains(h.logs.String(), `"reason":"idle"`) {
		t.Errorf("the log does not record the idle timeout")
	}
}

func TestLogoutEndsSession(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.browser()
	h.signInAs(b, otto, "/")
	cookie := h.sessionCookie(b)

	stepper := h.stepper()
	stepper.Jar = b.Jar
	res, _ := h.post(stepper, "/auth/logout")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/auth/signed-out" {
		t.Errorf("POST /auth/logout = %d to %q, want 303 to /auth/signed-out", res.StatusCode, res.Header.Get("Location"))
	}
	if c := cookieNamed(res, sso.SessionCookie); c == nil || c.MaxAge >= 0 || !c.HttpOnly {
		t.Errorf("logout did not delete the session cookie: %+v", c)
	}
	if h.sessionCookie(b) != "" {
		t.Errorf("the browser still holds a session cookie after logout")
	}
	if n := h.count("sessions"); n != 0 {
		t.Errorf("sessions has %d rows after logout, want 0", n)
	}

	// The old cookie, sent again, is no longer a session.
	if code, loc := h.status(cookie, "/"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/auth/login") {
		t.Errorf("request with the signed-out cookie = %d to %q, want 303 to sign in", code, loc)
	}

	res, body := h.get(b, "/auth/signed-out")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out of rotor") {
		t.Errorf("GET /auth/signed-out = %d %s", res.StatusCode, body)
	}
	if !strings.Contains(body, `href="`+h.idp.URL+`/logout?client_id=rotor"`) {
		t.Errorf("signed-out page does not link to the provider's sign-out:\n%s", body)
	}

	res, _ = h.get(h.stepper(), "/auth/logout")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /auth/logout = %d, want 405", res.StatusCode)
	}
}

func TestSignInReplacesSession(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.browser()
	h.signInAs(b, vera, "/")
	first := h.sessionCookie(b)

	// A sign-in that started before, in the same browser, finishes as
	// someone else.
	stepper := h.stepper()
	cb := h.authorize(stepper, h.startLogin(stepper, ""), ada)
	u, _ := url.Parse(h.app.URL)
	stepper.Jar.SetCookies(u, []*http.Cookie{{Name: sso.SessionCookie, Value: first, Path: "/"}})
	if res, body := h.get(stepper, cb.String()); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second callback = %d %s, want 303", res.StatusCode, body)
	}
	if n := h.count("sessions"); n != 1 {
		t.Errorf("sessions has %d rows, want 1", n)
	}
	if code, _ := h.status(first, "/"); code != http.StatusSeeOther {
		t.Errorf("the first session's cookie still works (%d)", code)
	}
}

func TestLoginWhenSignedIn(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.browser()
	h.signInAs(b, otto, "/")
	stepper := h.stepper()
	stepper.Jar = b.Jar
	res, _ := h.get(stepper, "/auth/login?next=%2Frotations%2Fr1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/rotations/r1" {
		t.Errorf("login with a session = %d to %q, want 303 straight to /rotations/r1", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestNextStaysLocal(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	for _, next := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`, `\\evil.example`,
		"javascript:alert(1)", "/\t/evil.example", "evil.example", "/auth/logout", "/%2F%2Fevil.example"} {
		b := h.stepper()
		cb := h.authorize(b, h.startLogin(b, next), otto)
		res, _ := h.get(b, cb.String())
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Errorf("sign-in with next=%q ends at %d %q, want 303 to /", next, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

func TestSecureCookiesOverTLS(t *testing.T) {
	t.Parallel()
	h := setup(t, options{tls: true})
	b := h.stepper()
	authURL := h.startLogin(b, "")
	if !strings.HasPrefix(authURL.String(), "https://") {
		t.Fatalf("provider URL %s, want https", authURL)
	}
	cb := h.authorize(b, authURL, otto)
	res, _ := h.get(b, cb.String())
	sc := cookieNamed(res, sso.SessionCookie)
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie over https = %+v, want Secure, HttpOnly, SameSite=Lax", sc)
	}
	_, body := h.get(b, "/")
	if m := sessionLine.FindStringSubmatch(body); m == nil || m[3] != "operator" {
		t.Errorf("page = %q, want otto as operator", body)
	}
}

// The provider's own form works without JavaScript: its buttons post back
// and redirect, so browser tests can pick a user.
func TestProviderForm(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	hidden := regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

	submit := func(choice url.Values) (*http.Response, string) {
		t.Helper()
		b := h.browser()
		stepper := h.stepper()
		stepper.Jar = b.Jar
		authURL := h.startLogin(stepper, "/x")
		h.idp.SelectUser("")
		res, form := h.get(b, authURL.String())
		if res.StatusCode != http.StatusOK || !strings.Contains(form, `id="user-u-otto"`) {
			t.Fatalf("provider /authorize = %d, want the user form:\n%s", res.StatusCode, form)
		}
		v := url.Values{}
		for _, m := range hidden.FindAllStringSubmatch(form, -1) {
			v.Set(m[1], htmlUnescape(m[2]))
		}
		for k, vs := range choice {
			v[k] = vs
		}
		res, err := b.PostForm(h.idp.URL+"/authorize", v)
		if err != nil {
			t.Fatalf("POST /authorize: %v", err)
		}
		return res, readBody(t, res)
	}

	res, body := submit(url.Values{"user": {otto.Subject}})
	if m := sessionLine.FindStringSubmatch(body); res.StatusCode != http.StatusOK || m == nil || m[1] != "/x" || m[3] != "operator" {
		t.Errorf("choosing otto in the form ends at %d %q, want /x as operator", res.StatusCode, body)
	}
	res, body = submit(url.Values{"deny": {"1"}})
	h.assertRejectedPage(res, body, http.StatusForbidden, "access_denied")
}

// assertRejectedPage checks the page and cookie like assertRejected, for a
// test that signed someone in before.
func (h *harness) assertRejectedPage(res *http.Response, body string, status int, text string) {
	h.t.Helper()
	if res.StatusCode != status || !strings.Contains(body, text) {
		h.t.Errorf("status = %d, want %d with %q:\n%s", res.StatusCode, status, text, body)
	}
	if c := cookieNamed(res, sso.SessionCookie); c != nil && c.Value != "" {
		h.t.Errorf("a rejected sign-in set a session cookie")
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&#43;", "+").Replace(s)
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	h.signInAs(h.browser(), otto, "/")
	h.signInAs(h.browser(), vera, "/")
	h.startLogin(h.stepper(), "")

	sessions, logins, err := h.signIn.Cleanup(context.Background())
	if err != nil || sessions != 0 || logins != 0 {
		t.Errorf("Cleanup right after sign-in = %d, %d, %v; want nothing deleted", sessions, logins, err)
	}
	h.clock.Advance(time.Hour)
	sessions, logins, err = h.signIn.Cleanup(context.Background())
	if err != nil || sessions != 2 || logins != 1 {
		t.Errorf("Cleanup after an idle hour = %d sessions, %d logins, %v; want 2 and 1", sessions, logins, err)
	}
	if n := h.count("sessions") + h.count("sso_logins"); n != 0 {
		t.Errorf("%d rows left after Cleanup, want 0", n)
	}
}

func TestAuthenticateDatabaseDown(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.browser()
	h.signInAs(b, otto, "/")
	cookie := h.sessionCookie(b)

	pool, err := pgtest.Open(context.Background(), pgtest.URL(), "public")
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	s, err := sso.New(context.Background(), h.cfg, pool)
	if err != nil {
		t.Fatalf("sso.New: %v", err)
	}
	pool.Close()
	_, err = s.Authenticate(h.withCookie("/", cookie))
	if err == nil || errors.Is(err, api.ErrUnauthenticated) {
		t.Errorf("Authenticate with the database closed = %v, want an error other than ErrUnauthenticated", err)
	}

	for name, value := range map[string]string{"empty": "", "not base64": "%%%", "short": "YWJj", "unknown": strings.Repeat("A", 43)} {
		if _, err := h.signIn.Authenticate(h.withCookie("/", value)); !errors.Is(err, api.ErrUnauthenticated) {
			t.Errorf("Authenticate with a cookie %s = %v, want ErrUnauthenticated", name, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	good := func() sso.Config {
		return sso.Config{
			Issuer: "https://id.example.com/realms/platform", ClientID: "rotor", ClientSecret: secret.New("s"),
			RedirectURL: "https://rotor.example.com/auth/callback", RoleGroups: roleGroups,
			HTTPClient: &http.Client{Transport: refuse{}},
		}
	}
	tests := map[string]struct {
		edit func(*sso.Config)
		want string
	}{
		"http issuer":          {func(c *sso.Config) { c.Issuer = "http://id.example.com" }, `issuer "http://id.example.com" uses plain http`},
		"relative issuer":      {func(c *sso.Config) { c.Issuer = "id.example.com" }, "is not an absolute http(s) URL"},
		"no client id":         {func(c *sso.Config) { c.ClientID = "" }, "client id is missing"},
		"no client secret":     {func(c *sso.Config) { c.ClientSecret = secret.Value{} }, "client secret is missing"},
		"wrong callback path":  {func(c *sso.Config) { c.RedirectURL = "https://rotor.example.com/callback" }, "must have the path /auth/callback"},
		"http redirect":        {func(c *sso.Config) { c.RedirectURL = "http://rotor.example.com/auth/callback" }, "plain http on a host other than loopback"},
		"no groups":            {func(c *sso.Config) { c.RoleGroups = nil }, "no group grants a role"},
		"empty group":          {func(c *sso.Config) { c.RoleGroups = map[api.Role][]string{api.RoleAdmin: {" "}} }, "group 0 of role admin is empty"},
		"unknown role":         {func(c *sso.Config) { c.RoleGroups = map[api.Role][]string{7: {"x"}} }, "role 7"},
		"idle longer than TTL": {func(c *sso.Config) { c.SessionTTL = time.Hour; c.IdleTimeout = 2 * time.Hour }, "idle timeout 2h0m0s must be at least 1m and at most the session TTL (1h0m0s)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := good()
			tt.edit(&cfg)
			_, err := sso.New(context.Background(), cfg, pool)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := sso.New(context.Background(), good(), pool); err != nil {
		t.Errorf("New with a good configuration and an unreachable provider = %v, want a SignIn that retries", err)
	}
}

// refuse is a transport that reaches no network, for configurations
// whose provider must not be contacted.
type refuse struct{}

func (refuse) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("test transport: no network")
}

// flaky is a transport that fails while down is set.
type flaky struct {
	down atomic.Bool
	next http.RoundTripper
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		return nil, errors.New("test transport: provider down")
	}
	return f.next.RoundTrip(r)
}

func TestProviderDownAtStart(t *testing.T) {
	t.Parallel()
	transport := &flaky{next: http.DefaultTransport}
	transport.down.Store(true)
	h := setup(t, options{cfg: func(c *sso.Config) { c.HTTPClient = &http.Client{Transport: transport} }})
	if !strings.Contains(h.logs.String(), "identity provider unavailable at start") {
		t.Errorf("New did not log that the provider is unavailable")
	}

	res, body := h.get(h.stepper(), "/auth/login?next=%2Fx")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "rotor cannot reach your identity provider at "+h.idp.URL) {
		t.Errorf("login with the provider down = %d, want 503 naming the issuer:\n%s", res.StatusCode, body)
	}
	if err := h.signIn.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), h.idp.URL) {
		t.Errorf("Discover with the provider down = %v, want an error naming the issuer", err)
	}

	transport.down.Store(false)
	if err := h.signIn.Discover(context.Background()); err != nil {
		t.Fatalf("Discover with the provider up = %v", err)
	}
	res, body = h.signInAs(h.browser(), otto, "/x")
	if m := sessionLine.FindStringSubmatch(body); res.StatusCode != http.StatusOK || m == nil || m[3] != "operator" {
		t.Errorf("sign-in after the provider came back = %d %q", res.StatusCode, body)
	}
}
