package sso_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
)

// The sign-in behind rotor's own api.Server: pages send the browser to
// sign in, the API returns 401, and sign-out is a same-origin POST.
func TestAPIServerSignIn(t *testing.T) {
	t.Parallel()
	h := setup(t, options{handler: func(h *harness) http.Handler {
		svc := rotation.NewService(rotation.Options{Store: pgstore.New(h.pool, h.clock.Now), Now: h.clock.Now})
		srv, err := api.New(api.Options{Service: svc, Auth: h.signIn, SignIn: h.signIn, Now: h.clock.Now})
		if err != nil {
			t.Fatalf("api.New: %v", err)
		}
		return srv.Handler()
	}})

	res, _ := h.get(h.stepper(), "/api/v1/credentials")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without a session = %d, want 401", res.StatusCode)
	}

	b := h.browser()
	res, body := h.signInAs(b, otto, "/")
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" || !strings.Contains(body, "signed in as otto@example.com (operator)") {
		t.Fatalf("dashboard after sign-in = %d at %s, want 200 at / naming otto as operator:\n%s", res.StatusCode, res.Request.URL, body)
	}
	if res, _ := h.get(b, "/api/v1/credentials"); res.StatusCode != http.StatusOK {
		t.Errorf("API with a session = %d, want 200", res.StatusCode)
	}

	logout := func(site string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, h.app.URL+"/auth/logout", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		stepper := h.stepper()
		stepper.Jar = b.Jar
		res, err := stepper.Do(req)
		if err != nil {
			t.Fatalf("POST /auth/logout: %v", err)
		}
		res.Body.Close()
		return res
	}
	if res := logout("cross-site"); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST /auth/logout = %d, want 403", res.StatusCode)
	}
	if n := h.count("sessions"); n != 1 {
		t.Errorf("a cross-site sign-out ended the session")
	}
	if res := logout("same-origin"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST /auth/logout = %d, want 303", res.StatusCode)
	}
	if n := h.count("sessions"); n != 0 {
		t.Errorf("sessions has %d rows after sign-out, want 0", n)
	}
}
