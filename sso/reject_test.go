package sso_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotorhq/rotor/sso"
)

// assertRejected checks that res is a sign-in failure page with status and
// text, and that no session was started.
func (h *harness) assertRejected(res *http.Response, body string, status int, text string) {
	h.t.Helper()
	if res.StatusCode != status {
		h.t.Errorf("status = %d, want %d; body:\n%s", res.StatusCode, status, body)
	}
	if !strings.Contains(body, text) {
		h.t.Errorf("page does not say %q:\n%s", text, body)
	}
	if c := cookieNamed(res, sso.SessionCookie); c != nil && c.Value != "" {
		h.t.Errorf("a rejected sign-in set a session cookie")
	}
	if n := h.count("sessions"); n != 0 {
		h.t.Errorf("sessions has %d rows after a rejected sign-in, want 0", n)
	}
}

func TestCallbackRejectsWrongState(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})

	t.Run("altered state", func(t *testing.T) {
		b := h.stepper()
		cb := h.authorize(b, h.startLogin(b, ""), otto)
		q := cb.Query()
		q.Set("state", strings.Repeat("A", 43))
		cb.RawQuery = q.Encode()
		res, body := h.get(b, cb.String())
		h.assertRejected(res, body, http.StatusBadRequest, "did not start in this browser")
	})
	t.Run("no login cookie", func(t *testing.T) {
		b := h.stepper()
		cb := h.authorize(b, h.startLogin(b, ""), otto)
		res, body := h.get(h.stepper(), cb.String())
		h.assertRejected(res, body, http.StatusBadRequest, "did not start in this browser")
	})
	t.Run("no state", func(t *testing.T) {
		b := h.stepper()
		cb := h.authorize(b, h.startLogin(b, ""), otto)
		q := cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		res, body := h.get(b, cb.String())
		h.assertRejected(res, body, http.StatusBadRequest, "did not start in this browser")
	})
	if n := h.count("sso_logins"); n != 3 {
		t.Errorf("sso_logins has %d rows, want the 3 sign-ins still pending", n)
	}
}

func TestCallbackRejectsReplayedState(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.stepper()
	authURL := h.startLogin(b, "")
	cb := h.authorize(b, authURL, otto)
	if res, body := h.get(b, cb.String()); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback = %d %s, want 303", res.StatusCode, body)
	}
	sessionCookie := h.sessionCookie(b)

	// The same callback again, with the login cookie the browser had.
	replay := h.stepper()
	u, _ := url.Parse(h.app.URL + sso.CallbackPath)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: sso.LoginCookie, Value: authURL.Query().Get("state"), Path: sso.CallbackPath}})
	res, body := h.get(replay, cb.String())
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
		t.Errorf("replayed callback = %d, want 400 saying the sign-in was already used:\n%s", res.StatusCode, body)
	}
	if c := cookieNamed(res, sso.SessionCookie); c != nil {
		t.Errorf("the replayed callback set a session cookie")
	}
	if n := h.count("sessions"); n != 1 {
		t.Errorf("sessions has %d rows, want only the first sign-in's", n)
	}
	if sessionCookie == "" {
		t.Errorf("the first callback set no session cookie")
	}
}

func TestCallbackRejectsExpiredLogin(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.stepper()
	authURL := h.startLogin(b, "")
	h.clock.Advance(10*time.Minute + time.Second)
	cb := h.authorize(b, authURL, otto)
	res, body := h.get(b, cb.String())
	h.assertRejected(res, body, http.StatusBadRequest, "took longer than 10 minutes")
}

// A code seen by someone else, replayed with a sign-in of their own, is
// refused by the provider, because the code was used.
func TestProviderRejectsReplayedCode(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	victim := h.stepper()
	cb := h.authorize(victim, h.startLogin(victim, ""), otto)
	if res, body := h.get(victim, cb.String()); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("victim's callback = %d %s, want 303", res.StatusCode, body)
	}
	if _, err := h.pool.Exec(context.Background(), `DELETE FROM sessions`); err != nil {
		t.Fatalf("delete the victim's session: %v", err)
	}

	attacker := h.stepper()
	own := h.authorize(attacker, h.startLogin(attacker, ""), nora)
	q := own.Query()
	q.Set("code", cb.Query().Get("code"))
	own.RawQuery = q.Encode()
	res, body := h.get(attacker, own.String())
	h.assertRejected(res, body, http.StatusBadGateway, "invalid_grant")
	if !strings.Contains(h.logs.String(), `"oauth_error":"invalid_grant"`) {
		t.Errorf("the log does not record the provider's invalid_grant")
	}
}

// rotor sends the verifier it stored for the sign-in; a different one is
// refused by the provider.
func TestProviderRejectsWrongVerifier(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.stepper()
	authURL := h.startLogin(b, "")
	if _, err := h.pool.Exec(context.Background(), `UPDATE sso_logins SET verifier = $1`, oauth2.GenerateVerifier()); err != nil {
		t.Fatalf("replace the verifier: %v", err)
	}
	cb := h.authorize(b, authURL, otto)
	res, body := h.get(b, cb.String())
	h.assertRejected(res, body, http.StatusBadGateway, "invalid_grant")
}

func TestIDTokenChecks(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		modify func(c map[string]any)
		status int
		text   string
	}{
		"wrong nonce": {func(c map[string]any) { c["nonce"] = "another-sign-in" }, http.StatusBadRequest, "belongs to a different sign-in"},
		"no nonce":    {func(c map[string]any) { delete(c, "nonce") }, http.StatusBadRequest, "belongs to a different sign-in"},
		"expired": {func(c map[string]any) {
			c["iat"] = time.Now().Add(-20 * time.Minute).Unix()
			c["exp"] = time.Now().Add(-10 * time.Minute).Unix()
		}, http.StatusBadGateway, "had already expired"},
		"another audience":        {func(c map[string]any) { c["aud"] = "someone-else"; c["azp"] = "someone-else" }, http.StatusBadGateway, "issuer, audience or signature"},
		"audiences without rotor": {func(c map[string]any) { c["aud"] = []string{"a", "b"} }, http.StatusBadGateway, "issuer, audience or signature"},
		"issued to another party": {func(c map[string]any) { c["aud"] = []string{"rotor", "other"}; c["azp"] = "other" }, http.StatusBadGateway, "issued to another client"},
		"another issuer":          {func(c map[string]any) { c["iss"] = "https://id.example.com" }, http.StatusBadGateway, "issuer, audience or signature"},
		"access token mismatch":   {func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }, http.StatusBadGateway, "does not match its ID token"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, options{})
			h.idp.ModifyIDToken(tt.modify)
			b := h.stepper()
			cb := h.authorize(b, h.startLogin(b, ""), otto)
			res, body := h.get(b, cb.String())
			h.assertRejected(res, body, tt.status, tt.text)
		})
	}
}

func TestProviderErrorPage(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	b := h.stepper()
	authURL := h.startLogin(b, "/x")
	cb, _ := url.Parse(h.app.URL + sso.CallbackPath)
	cb.RawQuery = url.Values{"state": {authURL.Query().Get("state")}, "error": {"access_denied"},
		"error_description": {"User <b>refused</b>"}}.Encode()
	res, body := h.get(b, cb.String())
	h.assertRejected(res, body, http.StatusForbidden, "you cancelled, or it denied rotor access")
	if !strings.Contains(body, "User &lt;b&gt;refused&lt;/b&gt;") {
		t.Errorf("page does not show the provider's description, escaped:\n%s", body)
	}
	if !strings.Contains(body, `href="/auth/login?next=%2Fx"`) {
		t.Errorf("page does not offer to sign in again to /x:\n%s", body)
	}

	// Without the browser's state, a crafted link shows no text of its
	// author's.
	res, body = h.get(h.stepper(), cb.String())
	h.assertRejected(res, body, http.StatusBadRequest, "did not start in this browser")
	if strings.Contains(body, "refused") {
		t.Errorf("a callback with a foreign state shows its error description:\n%s", body)
	}
}

func TestLoginFromSubresource(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	req, _ := http.NewRequest(http.MethodGet, h.app.URL+"/auth/login?next=/static/rotor.css", nil)
	req.Header.Set("Sec-Fetch-Dest", "style")
	res, err := h.stepper().Do(req)
	if err != nil {
		t.Fatalf("GET /auth/login: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("login for a stylesheet = %d, want 401", res.StatusCode)
	}
	if c := cookieNamed(res, sso.LoginCookie); c != nil {
		t.Errorf("login for a stylesheet set the login cookie")
	}
	if n := h.count("sso_logins"); n != 0 {
		t.Errorf("login for a stylesheet stored %d sign-ins, want 0", n)
	}
}
