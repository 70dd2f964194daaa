package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/internal/testlog"

	"github.com/rotorhq/rotor/api"
	testcanary "github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// canary is the current secret of the test credential, the shared canary
// that must never appear in anything rotor writes. The package is imported
// as testcanary because the tests of this package call this value canary.
var canary = testcanary.Value

// roleHeader authenticates by a test header: missing is unauthenticated.
type roleHeader struct{}

func (roleHeader) Authenticate(r *http.Request) (api.Principal, error) {
	switch r.Header.Get("X-Test-Role") {
	case "viewer":
		return api.Principal{Name: "vera", Role: api.RoleViewer}, nil
	case "operator":
		return api.Principal{Name: "otto", Role: api.RoleOperator}, nil
	case "admin":
		return api.Principal{Name: "ada", Role: api.RoleAdmin}, nil
	case "token":
		return api.Principal{Name: "token:deploy-bot", Role: api.RoleOperator}, nil
	}
	return api.Principal{}, api.ErrUnauthenticated
}

type fixture struct {
	t       *testing.T
	server  *httptest.Server
	sim     *persiumsim.Server
	backend *memory.Store
	clock   *storetest.Clock
	logs    *testlog.Buffer
	urgent  *urgentNotifier
	persium *persiumMailbox

	mu     sync.Mutex
	bodies []string // every response body, for the canary search
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return setupWith(t, func(*rotation.Credential) {})
}

// fingerprintKey keys the fingerprints of the api tests' service.
var fingerprintKey = []byte("api-test-fingerprint-key-0123456789abcdef")

// startPersium starts the simulated Persium behind TLS and returns it with
// a token endpoint checker that trusts it.
func startPersium(tb testing.TB, clock *storetest.Clock, log *slog.Logger) (*persiumsim.Server, *tokencheck.Checker) {
	tb.Helper()
	sim := persiumsim.New(persiumsim.Options{Now: clock.Now, Logger: log})
	tlsSim, err := persiumsim.NewTLS(sim, log)
	if err != nil {
		tb.Fatalf("NewTLS: %v", err)
	}
	tb.Cleanup(func() { tlsSim.Close() })
	checker, err := tokencheck.New(tokencheck.Config{TokenURL: tlsSim.URL + sim.TokenPath(), RootCAs: tlsSim.CertPool})
	if err != nil {
		tb.Fatalf("tokencheck.New: %v", err)
	}
	return sim, checker
}

// setupWith is setup with credential cred-a changed by edit first.
func setupWith(t *testing.T, edit func(*rotation.Credential)) *fixture {
	t.Helper()
	clock := storetest.NewClock()
	logs := testlog.New(t)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sim, checker := startPersium(t, clock, log)

	cred := storetest.Credential("cred-a")
	edit(&cred)
	sim.AddClient(cred.ClientID, canary)
	backend := memory.New(canary, secretstore.Format{JSONKey: "client_secret"})

	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, clock.Now)
	if err := store.SyncCredentials(context.Background(), []rotation.Credential{cred}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	urgent := &urgentNotifier{}
	persium := &persiumMailbox{}
	svc := rotation.NewService(rotation.Options{
		Store: store, Secrets: map[string]rotation.SecretStore{"cred-a": backend}, Checker: checker, Now: clock.Now, Logger: log,
		Notifier: urgent, PersiumMailer: persium, FingerprintKey: fingerprintKey,
	})
	srv, err := api.New(api.Options{Service: svc, Auth: roleHeader{}, Logger: log, Now: clock.Now, Dev: sim,
		Tokens: apitoken.New(pool, clock.Now, log)})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	f := &fixture{t: t, server: hs, sim: sim, backend: backend, clock: clock, logs: logs, urgent: urgent, persium: persium}
	t.Cleanup(f.assertNoCanary)
	return f
}

// assertNoCanary searches every response body and log line for the
// canary secret in each encoding it could leak in.
func (f *fixture) assertNoCanary() {
	f.mu.Lock()
	defer f.mu.Unlock()
	haystack := f.logs.String() + strings.Join(f.bodies, "\n") + f.urgent.text() + f.persium.text()
	if !strings.Contains(haystack, `"msg":"http request"`) {
		f.t.Errorf("the canary search saw no request log; it would miss a leak")
	}
	testcanary.Check(f.t, "rotor's output (log, response bodies, messages)", haystack)
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, r.body)
	}
	return m
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("response has no error object: %s", r.body)
	}
	return e["code"].(string)
}

// do sends a request as role ("" for none) and records the body.
func (f *fixture) do(role, method, path, contentType, body string, header ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatalf("NewRequest: %v", err)
	}
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (f *fixture) post(path, body string) response {
	f.t.Helper()
	return f.do("operator", http.MethodPost, path, "application/json", body)
}

func (f *fixture) requestRotation(t *testing.T) string {
	t.Helper()
	resp := f.post("/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"quarterly","ticket":"PER-7"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("request rotation: %d %s", resp.status, resp.body)
	}
	return resp.json(t)["id"].(string)
}

// issue has the simulated Persium issue a new secret, outside the
// recorded bodies since it is the one response allowed to carry one.
func (f *fixture) issue(t *testing.T) secret.Value {
	t.Helper()
	v, err := f.sim.Issue("client-cred-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return v
}

func secretBody(v secret.Value, reason string) string {
	b, _ := json.Marshal(map[string]string{"secret": v.Reveal(), "reason": reason})
	return string(b)
}

func TestRotationThroughJSONAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)

	id := f.requestRotation(t)
	if resp := f.post("/api/v1/credentials/cred-a/rotations", `{}`); resp.status != http.StatusConflict || resp.errorCode(t) != "open_rotation" {
		t.Errorf("second open rotation: %d %s, want 409 open_rotation", resp.status, resp.body)
	}

	newSecret := f.issue(t)
	if resp := f.post("/api/v1/rotations/"+id+"/issued", `{"secret":"not-what-persium-issued"}`); resp.status != http.StatusUnprocessableEntity {
		t.Errorf("wrong secret: %d %s, want 422", resp.status, resp.body)
	}
	resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(newSecret, ""))
	if resp.status != http.StatusOK || resp.json(t)["state"] != "new_issued" {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	if strings.Contains(resp.body, newSecret.Reveal()) {
		t.Errorf("issued response contains the new secret")
	}

	resp = f.post("/api/v1/rotations/"+id+"/promote", "")
	if resp.status != http.StatusOK || resp.json(t)["state"] != "dual_active" {
		t.Fatalf("promote: %d %s", resp.status, resp.body)
	}

	f.clock.Advance(2 * time.Hour)
	resp = f.post("/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`)
	if resp.status != http.StatusConflict || resp.errorCode(t) != "old_secret_still_accepted" {
		t.Errorf("retire before Persium retired the old secret: %d %s, want 409 old_secret_still_accepted", resp.status, resp.body)
	}
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	resp = f.post("/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`)
	if resp.status != http.StatusOK || resp.json(t)["state"] != "old_retired" {
		t.Fatalf("retire: %d %s", resp.status, resp.body)
	}

	resp = f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id+"/events", "", "")
	var events struct {
		Events []struct {
			Action, Actor string
			From          *string
			To            string
		}
	}
	if err := json.Unmarshal([]byte(resp.body), &events); err != nil {
		t.Fatalf("events: %v", err)
	}
	var got []string
	for _, e := range events.Events {
		got = append(got, e.Action+"/"+e.To+"/"+e.Actor)
	}
	want := "request/requested/otto issue/new_issued/otto promote/dual_active/otto retire/old_retired/otto"
	if strings.Join(got, " ") != want {
		t.Errorf("events = %v, want %s", got, want)
	}

	cred := f.do("viewer", http.MethodGet, "/api/v1/credentials/cred-a", "", "").json(t)
	if cred["open_rotation_id"] != nil || cred["last_retired_at"] == nil {
		t.Errorf("credential after retirement: open %v, last retired %v", cred["open_rotation_id"], cred["last_retired_at"])
	}
	current, _, err := f.backend.Current(context.Background())
	if err != nil || !current.Equal(newSecret) {
		t.Errorf("backend's current value is not the new secret (err %v)", err)
	}
}

func TestConcurrentPromoteRequests(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(f.issue(t), "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}

	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = f.post("/api/v1/rotations/"+id+"/promote", "").status })
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
		}
	}
	if ok != 1 || conflict != 1 {
		t.Errorf("concurrent promotes: statuses %v, want one 200 and one 409", statuses)
	}
}

// mutatingRoutes lists every state-changing route with a valid body.
func mutatingRoutes(rotationID, incidentID string) []struct{ path, body string } {
	return []struct{ path, body string }{
		{"/api/v1/credentials/cred-a/incidents", `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`},
		{"/api/v1/rotations/" + rotationID + "/force-revoked", `{}`},
		{"/api/v1/incidents/" + incidentID + "/checklist", `{"title":"CI caches"}`},
		{"/api/v1/incidents/" + incidentID + "/checklist/1/done", `{"note":"clean"}`},
		{"/api/v1/incidents/" + incidentID + "/persium-request", `{}`},
		{"/api/v1/credentials/cred-a/rotations", `{"kind":"manual"}`},
		{"/api/v1/rotations/" + rotationID + "/issued", `{"secret":"x"}`},
		{"/api/v1/rotations/" + rotationID + "/promote", `{}`},
		{"/api/v1/rotations/" + rotationID + "/rollback", `{"reason":"r"}`},
		{"/api/v1/rotations/" + rotationID + "/retire", `{"persium_confirmed":true}`},
		{"/api/v1/rotations/" + rotationID + "/cancel", `{"reason":"r"}`},
		{"/api/v1/rotations/" + rotationID + "/resume", `{"reason":"r"}`},
		{"/dev/persium/clients/client-cred-a/issue", ``},
		{"/dev/persium/clients/client-cred-a/retire-old", ``},
	}
}

func TestMutatingRoutesRefuseBadRequests(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	incidentID := f.reportIncident(t, `{"what":"public_commit","detected_at":"2026-03-01T09:00:00Z"}`)["id"].(string)
	before := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t)["revision"]
	if before == nil {
		t.Fatalf("the rotation has no revision")
	}
	incidentBefore := f.do("viewer", http.MethodGet, "/api/v1/incidents/"+incidentID, "", "").json(t)

	for _, route := range mutatingRoutes(id, incidentID) {
		t.Run(route.path, func(t *testing.T) {
			if resp := f.do("", http.MethodPost, route.path, "application/json", route.body); resp.status != http.StatusUnauthorized || resp.errorCode(t) != "unauthenticated" {
				t.Errorf("unauthenticated: %d %s, want 401", resp.status, resp.body)
			}
			if resp := f.do("viewer", http.MethodPost, route.path, "application/json", route.body); resp.status != http.StatusForbidden || resp.errorCode(t) != "forbidden" {
				t.Errorf("viewer: %d %s, want 403", resp.status, resp.body)
			}
			cross := f.do("operator", http.MethodPost, route.path, "application/json", route.body,
				"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
			if cross.status != http.StatusForbidden || cross.errorCode(t) != "cross_origin" {
				t.Errorf("cross-origin request: %d %s, want 403 cross_origin", cross.status, cross.body)
			}
			if strings.HasPrefix(route.path, "/dev/") {
				return
			}
			malformed := map[string]struct {
				contentType, body string
				status            int
			}{
				"invalid JSON":    {"application/json", `{"reason":`, http.StatusBadRequest},
				"unknown field":   {"application/json", `{"reason":"r","extra":1}`, http.StatusBadRequest},
				"wrong type":      {"application/json", `{"reason":42}`, http.StatusBadRequest},
				"two values":      {"application/json", `{} {}`, http.StatusBadRequest},
				"not an object":   {"application/json", `[1,2]`, http.StatusBadRequest},
				"invalid UTF-8":   {"application/json", "{\"reason\":\"\xff\"}", http.StatusBadRequest},
				"not JSON":        {"text/plain", `reason=r`, http.StatusUnsupportedMediaType},
				"body over limit": {"application/json", `{"reason":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
			}
			for name, m := range malformed {
				resp := f.do("operator", http.MethodPost, route.path, m.contentType, m.body)
				if resp.status != m.status {
					t.Errorf("%s: %d %s, want %d", name, resp.status, resp.body, m.status)
				}
			}
		})
	}

	after := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t)["revision"]
	if before != after {
		t.Errorf("refused requests changed the rotation: revision %v → %v", before, after)
	}
	incidentAfter := f.do("viewer", http.MethodGet, "/api/v1/incidents/"+incidentID, "", "").json(t)
	for _, field := range []string{"checklist", "items_left", "status", "old_revoked_at"} {
		if fmt.Sprint(incidentBefore[field]) != fmt.Sprint(incidentAfter[field]) {
			t.Errorf("refused requests changed the incident's %s: %v → %v", field, incidentBefore[field], incidentAfter[field])
		}
	}
}

func TestMalformedSecretNotEchoed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)

	cases := map[string]struct {
		body   string
		status int
	}{
		"number":        {`{"secret":12345678}`, http.StatusBadRequest},
		"syntax":        {`{"secret":"` + canary.Reveal() + `}`, http.StatusBadRequest},
		"leading space": {secretBody(secret.New(" "+canary.Reveal()+"-x"), ""), http.StatusBadRequest},
		"current":       {secretBody(canary, ""), http.StatusBadRequest},
		"empty":         {`{"secret":""}`, http.StatusBadRequest},
	}
	for name, c := range cases {
		resp := f.post("/api/v1/rotations/"+id+"/issued", c.body)
		if resp.status != c.status {
			t.Errorf("%s: %d %s, want %d", name, resp.status, resp.body, c.status)
		}
	}
}

func TestUnknownIDs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, path := range []string{
		"/api/v1/credentials/nope",
		"/api/v1/rotations/00000000-0000-0000-0000-000000000000",
		"/api/v1/rotations/not-a-uuid/events",
	} {
		if resp := f.do("viewer", http.MethodGet, path, "", ""); resp.status != http.StatusNotFound || resp.errorCode(t) != "not_found" {
			t.Errorf("GET %s: %d %s, want 404", path, resp.status, resp.body)
		}
	}
	if resp := f.post("/api/v1/rotations/00000000-0000-0000-0000-000000000000/promote", ""); resp.status != http.StatusNotFound {
		t.Errorf("promote unknown rotation: %d, want 404", resp.status)
	}
	if resp := f.do("viewer", http.MethodGet, "/rotations/nope", "", ""); resp.status != http.StatusNotFound || !strings.Contains(resp.header.Get("Content-Type"), "text/html") {
		t.Errorf("UI page of unknown rotation: %d %s, want a 404 HTML page", resp.status, resp.header.Get("Content-Type"))
	}
}

var nextTitle = regexp.MustCompile(`<h2 id="next-title"[^>]*>Next: ([^<]*)</h2>`)

// The UI walks a rotation with plain form posts, no JavaScript.
func TestRotationThroughUI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	form := func(path string, values url.Values) response {
		t.Helper()
		return f.do("operator", http.MethodPost, path, "application/x-www-form-urlencoded", values.Encode())
	}
	next := func(id string) string {
		t.Helper()
		page := f.do("viewer", http.MethodGet, "/rotations/"+id, "", "")
		m := nextTitle.FindStringSubmatch(page.body)
		if page.status != http.StatusOK || m == nil {
			t.Fatalf("rotation page: %d, no next action in %s", page.status, page.body)
		}
		return m[1]
	}

	resp := form("/credentials/cred-a/rotations", url.Values{"kind": {"manual"}, "reason": {`<script>alert("x")</script>`}})
	if resp.status != http.StatusSeeOther {
		t.Fatalf("request form: %d %s", resp.status, resp.body)
	}
	id := strings.TrimPrefix(strings.Split(resp.header.Get("Location"), "?")[0], "/rotations/")
	page := f.do("viewer", http.MethodGet, "/rotations/"+id, "", "")
	if strings.Contains(page.body, `<script>alert`) || !strings.Contains(page.body, `&lt;script&gt;alert`) {
		t.Errorf("the reason is not escaped on the rotation page")
	}
	if got := next(id); got != "Paste the new secret from Persium" {
		t.Errorf("next action = %q", got)
	}
	if !strings.Contains(page.body, "client-cred-a") || !strings.Contains(page.body, "please issue a new client secret") {
		t.Errorf("the rotation page does not show the request text for Persium")
	}

	// A rejected secret re-renders the page with the reason, without the secret.
	resp = form("/rotations/"+id+"/issued", url.Values{"secret": {"wrong-secret-value"}})
	if resp.status != http.StatusUnprocessableEntity || !strings.Contains(resp.body, "rejects the new secret") || strings.Contains(resp.body, "wrong-secret-value") {
		t.Errorf("rejected secret: %d, want 422 with the reason and without the secret", resp.status)
	}
	resp = form("/rotations/"+id+"/issued", url.Values{"secret": {" padded"}})
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "whitespace") {
		t.Errorf("padded secret: %d, want 400 naming the whitespace", resp.status)
	}

	newSecret := f.issue(t)
	if resp := form("/rotations/"+id+"/issued", url.Values{"secret": {newSecret.Reveal()}}); resp.status != http.StatusSeeOther {
		t.Fatalf("issued form: %d %s", resp.status, resp.body)
	}
	if got := next(id); got != "Promote the new secret" {
		t.Errorf("next action = %q", got)
	}
	if resp := form("/rotations/"+id+"/promote", url.Values{}); resp.status != http.StatusSeeOther {
		t.Fatalf("promote form: %d %s", resp.status, resp.body)
	}
	if got := next(id); got != "Retire the old secret" {
		t.Errorf("next action = %q", got)
	}

	// Unconfirmed, then too early without a reason.
	if resp := form("/rotations/"+id+"/retire", url.Values{}); resp.status != http.StatusBadRequest {
		t.Errorf("retire without confirmation: %d, want 400", resp.status)
	}
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	if resp := form("/rotations/"+id+"/retire", url.Values{"persium_confirmed": {"true"}}); resp.status != http.StatusConflict || !strings.Contains(resp.body, "Retire is offered from") {
		t.Errorf("early retire: %d, want 409 naming when retire is offered", resp.status)
	}
	if resp := form("/rotations/"+id+"/retire", url.Values{"persium_confirmed": {"true"}, "reason": {"all consumers restarted"}}); resp.status != http.StatusSeeOther {
		t.Fatalf("retire form: %d %s", resp.status, resp.body)
	}
	if got := next(id); got != "Nothing to do" {
		t.Errorf("next action after retirement = %q", got)
	}

	dash := f.do("viewer", http.MethodGet, "/", "", "")
	if dash.status != http.StatusOK || !strings.Contains(dash.body, "cred-a") {
		t.Errorf("dashboard: %d", dash.status)
	}
	if csp := dash.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want scripts refused", csp)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp := f.do("", http.MethodGet, path, "", ""); resp.status != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", path, resp.status)
		}
	}
}

// A double click on a transition button lands on the rotation page as a
// success, not as an error. A second paste still shows its conflict.
func TestUIRepeatedSubmit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	newSecret := f.issue(t)
	form := func(path string, values url.Values) response {
		t.Helper()
		return f.do("operator", http.MethodPost, path, "application/x-www-form-urlencoded", values.Encode())
	}

	if resp := form("/rotations/"+id+"/issued", url.Values{"secret": {newSecret.Reveal()}}); resp.status != http.StatusSeeOther {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	if resp := form("/rotations/"+id+"/issued", url.Values{"secret": {newSecret.Reveal()}}); resp.status != http.StatusConflict {
		t.Errorf("second paste: %d, want 409", resp.status)
	}

	if resp := form("/rotations/"+id+"/promote", url.Values{}); resp.status != http.StatusSeeOther || !strings.Contains(resp.header.Get("Location"), "done=promoted") {
		t.Fatalf("promote: %d %s", resp.status, resp.header.Get("Location"))
	}
	resp := form("/rotations/"+id+"/promote", url.Values{})
	if resp.status != http.StatusSeeOther || !strings.Contains(resp.header.Get("Location"), "done=repeated") {
		t.Errorf("second promote: %d to %q, want a redirect with done=repeated", resp.status, resp.header.Get("Location"))
	}
	page := f.do("viewer", http.MethodGet, resp.header.Get("Location"), "", "")
	if !strings.Contains(page.body, "already happened") {
		t.Errorf("the page after a repeated promote does not say it already happened")
	}

	// The JSON API keeps the 409: scripts must see that they raced.
	if resp := f.post("/api/v1/rotations/"+id+"/promote", ""); resp.status != http.StatusConflict || resp.errorCode(t) != "wrong_state" {
		t.Errorf("repeated promote through the API: %d %s, want 409 wrong_state", resp.status, resp.body)
	}
}

// Persium dropped the current secret before the new one was recorded:
// the API response and the page warn that consumers fail until promotion.
func TestIssuedWarnsWhenCurrentRejected(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	newSecret := f.issue(t)
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}

	resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(newSecret, ""))
	if resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	warnings, _ := resp.json(t)["warnings"].([]any)
	if len(warnings) != 1 || !strings.Contains(warnings[0].(string), "already rejects the secret consumers use now") {
		t.Errorf("warnings = %v, want one about the current secret", warnings)
	}
}

func TestSimulatedPersiumErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if resp := f.post("/dev/persium/clients/client-cred-a/retire-old", ""); resp.status != http.StatusConflict || resp.errorCode(t) != "no_old_secret" {
		t.Errorf("retire-old without an old secret: %d %s, want 409 no_old_secret", resp.status, resp.body)
	}
	if resp := f.post("/dev/persium/clients/nobody/issue", ""); resp.status != http.StatusNotFound {
		t.Errorf("issue for an unknown client: %d %s, want 404", resp.status, resp.body)
	}
}

// A change to the secret that rotor did not make pauses the rotation. The
// API reports the pause, and an operator resumes it.
func TestPausedRotationThroughAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(f.issue(t), "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	if _, err := f.backend.Write(secret.New("written-by-another-tool")); err != nil {
		t.Fatalf("foreign Write: %v", err)
	}

	resp := f.post("/api/v1/rotations/"+id+"/promote", "")
	if resp.status != http.StatusConflict || resp.errorCode(t) != "paused" {
		t.Fatalf("promote after a foreign write: %d %s, want 409 paused", resp.status, resp.body)
	}
	rot := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t)
	if rot["paused_at"] == nil || rot["pause_reason"] == "" || rot["next_action"] != "resume" {
		t.Errorf("paused rotation: paused_at %v, reason %v, next %v", rot["paused_at"], rot["pause_reason"], rot["next_action"])
	}
	page := f.do("viewer", http.MethodGet, "/rotations/"+id, "", "")
	if !strings.Contains(page.body, "state-paused") || !strings.Contains(page.body, "Check the outside change, then resume") {
		t.Errorf("the rotation page does not show the pause")
	}

	if resp := f.post("/api/v1/rotations/"+id+"/resume", `{}`); resp.status != http.StatusConflict || resp.errorCode(t) != "still_changed" {
		t.Errorf("resume without a reason: %d %s, want 409 still_changed", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/resume", `{"reason":"our pipeline wrote it"}`); resp.status != http.StatusOK {
		t.Errorf("resume with a reason: %d %s", resp.status, resp.body)
	}
}
