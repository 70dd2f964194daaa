package sso_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/sso"
)

var sessionLine = regexp.MustCompile(`^path=(\S*) name=(.*) role=(\S+) session=([0-9a-f-]{36})\n$`)

func TestSignInWithPKCE(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.stepper()

	// The page sends the browser to sign in and remembers where it was.
	res, _ := h.get(b, "/credentials/cred-a?tab=history")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/auth/login?next=%2Fcredentials%2Fcred-a%3Ftab%3Dhistory" {
		t.Fatalf("GET page without session = %d to %q, want 303 to /auth/login?next=…", res.StatusCode, res.Header.Get("Location"))
	}

	// Login sends the browser to the provider with state, nonce and an
	// S256 challenge, and the state in an HttpOnly cookie for the callback.
	res, _ = h.get(b, res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /auth/login = %d, want 303", res.StatusCode)
	}
	authURL, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authURL.String(), h.idp.URL+"/authorize?") {
		t.Fatalf("login redirects to %q, want the provider's /authorize", res.Header.Get("Location"))
	}
	q := authURL.Query()
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(name)) < 43 {
			t.Errorf("authorization request %s = %q, want at least 43 random characters", name, q.Get(name))
		}
	}
	if got := q.Get("code_challenge_method"); got != "S256" {
		t.Errorf("code_challenge_method = %q, want S256", got)
	}
	if got := q.Get("scope"); got != "openid profile email" {
		t.Errorf("scope = %q, want openid profile email", got)
	}
	if got := q.Get("redirect_uri"); got != h.app.URL+sso.CallbackPath {
		t.Errorf("redirect_uri = %q, want %q", got, h.app.URL+sso.CallbackPath)
	}
	login := cookieNamed(res, sso.LoginCookie)
	if login == nil {
		t.Fatalf("login set no %s cookie", sso.LoginCookie)
	}
	if login.Value != q.Get("state") || !login.HttpOnly || login.SameSite != http.SameSiteLaxMode || login.Path != sso.CallbackPath || login.Secure {
		t.Errorf("login cookie = %+v, want the state, HttpOnly, SameSite=Lax, Path=%s, not Secure on loopback http", login, sso.CallbackPath)
	}
	if n := h.count("sso_logins"); n != 1 {
		t.Errorf("sso_logins has %d rows after login, want 1", n)
	}

	// The provider sends the browser back with a code.
	h.idp.SelectUser(otto.Subject)
	res, _ = h.get(b, authURL.String())
	callback := res.Header.Get("Location")
	if !strings.HasPrefix(callback, h.app.URL+sso.CallbackPath+"?") {
		t.Fatalf("provider redirects to %q, want rotor's callback", callback)
	}

	// The callback starts a session and returns to the page.
	res, _ = h.get(b, callback)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/credentials/cred-a?tab=history" {
		t.Fatalf("callback = %d to %q, want 303 to the page that asked for sign-in", res.StatusCode, res.Header.Get("Location"))
	}
	sc := cookieNamed(res, sso.SessionCookie)
	if sc == nil {
		t.Fatalf("callback set no session cookie")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Secure || sc.MaxAge != 12*3600 {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, not Secure on loopback http, Max-Age 12h", sc)
	}
	if c := cookieNamed(res, sso.LoginCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("callback did not delete the login cookie: %+v", c)
	}
	if n := h.count("sso_logins"); n != 0 {
		t.Errorf("sso_logins has %d rows after the callback, want 0", n)
	}

	_, body := h.get(b, "/credentials/cred-a?tab=history")
	m := sessionLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page after sign-in = %q, want the principal", body)
	}
	if m[2] != otto.Email || m[3] != "operator" {
		t.Errorf("principal = %s (%s), want %s (operator)", m[2], m[3], otto.Email)
	}

	// The database holds the session under the cookie's hash, with the
	// person's details, and nowhere the cookie value itself.
	var subject, name, role string
	var groups []string
	var hash []byte
	err = h.pool.QueryRow(context.Background(), `SELECT subject, name, role, groups, token_hash FROM sessions WHERE id = $1`, m[4]).
		Scan(&subject, &name, &role, &groups, &hash)
	if err != nil {
		t.Fatalf("read session %s: %v", m[4], err)
	}
	sum := sha256.Sum256([]byte(sc.Value))
	if subject != otto.Subject || name != otto.Email || role != "operator" || strings.Join(groups, ",") != "platform-oncall" || string(hash) != string(sum[:]) {
		t.Errorf("session row = %s %s %s %v, want %s %s operator [platform-oncall] with the cookie's SHA-256", subject, name, role, groups, otto.Subject, otto.Email)
	}
	dump := h.dump("sessions") + h.dump("sso_logins")
	for form, v := range encodings(sc.Value) {
		if strings.Contains(dump, v) {
			t.Errorf("the sessions table holds the cookie value (%s)", form)
		}
	}
}

func TestSignInFollowingRedirects(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.browser()

	res, body := h.signInAs(b, ada, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d %s, want 200", res.StatusCode, body)
	}
	if m := sessionLine.FindStringSubmatch(body); m == nil || m[2] != ada.Email || m[3] != "admin" {
		t.Errorf("page = %q, want %s as admin", body, ada.Email)
	}
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
