package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/sso"
	"github.com/rotorhq/rotor/sso/ssotest"
)

// The groups that auth.roles maps to rotor's roles in the sign-in tests.
const (
	ssoViewerGroup   = "/platform"
	ssoOperatorGroup = "/platform/oncall"
	ssoAdminGroup    = "/platform/leads"
)

// ssoUsers are the identity provider's test users. Their subjects differ
// from their e-mail addresses, the configured name claim, so a test can
// tell which of the two an audit event records.
var ssoUsers = []ssotest.User{
	{Subject: "alice", Email: "alice@example.com", Name: "Alice Operator", Username: "alice", Groups: []string{ssoViewerGroup, ssoOperatorGroup}},
	{Subject: "bob", Email: "bob@example.com", Name: "Bob Operator", Username: "bob", Groups: []string{ssoOperatorGroup}},
	{Subject: "vera", Email: "vera@example.com", Name: "Vera Viewer", Username: "vera", Groups: []string{ssoViewerGroup}},
	{Subject: "adam", Email: "adam@example.com", Name: "Adam Admin", Username: "adam", Groups: []string{ssoAdminGroup}},
	{Subject: "nobody", Email: "nobody@example.com", Name: "No Body", Username: "nobody", Groups: []string{"/marketing"}},
}

// ssoServer is `rotor serve` with the auth section: the in-process
// identity provider, the simulated Persium over TLS, the Vault fake and
// Postgres. Browsers and clients reach rotor through a reverse proxy at
// server.public_url, because the provider's redirect URL must be known
// before rotor picks its port. The proxy passes the Host header through,
// as the README requires of a proxy in front of rotor.
type ssoServer struct {
	url    string // server.public_url, the proxy's address
	rotor  *rotorProcess
	idp    *ssotest.Provider
	sim    *persiumsim.Server
	schema string

	mu     sync.Mutex
	bodies []string // every response body a client of the test read
}

// startSSO starts rotor serve with sign-in and one credential, cred-a,
// under the four-eyes rule, whose consumers read canary.
func startSSO(t *testing.T) *ssoServer {
	t.Helper()
	dir := t.TempDir()
	dbURL, schema := pgtest.SchemaURL(t)
	sim, ts, caFile := tokenEndpoint(t, dir)
	sim.AddClient("client-a", canary)
	backendYAML, storeYAML, env, _ := setupVault(t, map[string]any{"client_id": "client-a", "client_secret": canary.Reveal()})

	var target atomic.Pointer[url.URL]
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target.Load())
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(proxy.Close)

	idp := ssotest.New(t, ssotest.Options{Users: ssoUsers, RedirectURIs: []string{proxy.URL + sso.CallbackPath}, RequirePKCE: true})

	path := serveConfig{tokenEndpoint: ts.URL, caFile: caFile, backendYAML: backendYAML, storeYAML: storeYAML,
		credential: "    four_eyes: true\n    min_dual_active: 1h\n"}.write(t, dir)
	auth := fmt.Sprintf(`server:
  public_url: %s
auth:
  oidc:
    issuer: %s
    client_id: %s
    client_secret_env: ROTOR_OIDC_CLIENT_SECRET
    name_claim: email
  roles:
    viewer: [%q]
    operator: [%q]
    admin: [%q]
`, proxy.URL, idp.URL, idp.ClientID, ssoViewerGroup, ssoOperatorGroup, ssoAdminGroup)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open config: %v", err)
	}
	if _, err := f.WriteString(auth); err != nil {
		t.Fatalf("append the auth section: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close config: %v", err)
	}

	env["DATABASE_URL"] = dbURL
	env["ROTOR_OIDC_CLIENT_SECRET"] = idp.ClientSecret
	rotor := start(t, []string{"serve", "-config", path, "-addr", "127.0.0.1:0"}, env)
	u, err := url.Parse(rotor.url)
	if err != nil {
		t.Fatalf("parse rotor's URL %q: %v", rotor.url, err)
	}
	target.Store(u)
	return &ssoServer{url: proxy.URL, rotor: rotor, idp: idp, sim: sim, schema: schema}
}

// ssoClient is one person's HTTP client: a cookie jar, like a browser's,
// and a login_hint added to the provider's authorization request, so that
// the provider signs the person in without its form.
type ssoClient struct {
	s      *ssoServer
	name   string // what audit events record: the e-mail address
	client *http.Client
	follow bool
	bearer string // an API token sent in the Authorization header, or ""
}

// client returns a client for subject that follows redirects and has not
// signed in yet.
func (s *ssoServer) client(t *testing.T, subject string) *ssoClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookie jar: %v", err)
	}
	idp, _ := url.Parse(s.idp.URL)
	c := &ssoClient{s: s, follow: true}
	for _, u := range ssoUsers {
		if u.Subject == subject {
			c.name = u.Email
		}
	}
	c.client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !c.follow {
			return http.ErrUseLastResponse
		}
		if req.URL.Host == idp.Host && req.URL.Path == "/authorize" && subject != "" {
			q := req.URL.Query()
			q.Set("login_hint", subject)
			req.URL.RawQuery = q.Encode()
		}
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		return nil
	}}
	return c
}

// signIn signs subject in from / and checks that the dashboard shows them
// with role.
func (s *ssoServer) signIn(t *testing.T, subject, role string) *ssoClient {
	t.Helper()
	c := s.client(t, subject)
	resp := c.do(t, http.MethodGet, "/", "", "")
	if resp.status != http.StatusOK || resp.url.Path != "/" {
		t.Fatalf("sign in as %s: %d at %s, want the dashboard:\n%s", subject, resp.status, resp.url, resp.body)
	}
	if want := "signed in as " + c.name + " (" + role + ")"; !strings.Contains(resp.body, want) {
		t.Fatalf("dashboard after signing in as %s lacks %q:\n%s", subject, want, resp.body)
	}
	return c
}

// sessionCookie returns the value of c's session cookie, or "".
func (c *ssoClient) sessionCookie() string {
	u, _ := url.Parse(c.s.url)
	for _, k := range c.client.Jar.Cookies(u) {
		if k.Name == sso.SessionCookie {
			return k.Value
		}
	}
	return ""
}

// ssoResponse is a response with its body read.
type ssoResponse struct {
	status int
	header http.Header
	body   string
	url    *url.URL // where the last redirect ended
}

// do sends a request to rotor's public URL, with contentType when it is
// not empty, and records the response body for the leak search.
func (c *ssoClient) do(t *testing.T, method, path, contentType, body string) ssoResponse {
	t.Helper()
	req, err := http.NewRequest(method, c.s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the response to %s %s: %v", method, path, err)
	}
	c.s.mu.Lock()
	c.s.bodies = append(c.s.bodies, string(raw))
	c.s.mu.Unlock()
	return ssoResponse{status: resp.StatusCode, header: resp.Header, body: string(raw), url: resp.Request.URL}
}

// json sends a JSON request and checks its status.
func (c *ssoClient) json(t *testing.T, status int, method, path, body string) map[string]any {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	resp := c.do(t, method, path, contentType, body)
	if resp.status != status {
		t.Fatalf("%s %s as %s: %d %s, want %d", method, path, c.who(), resp.status, resp.body, status)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.body), &m); err != nil {
		t.Fatalf("%s %s: the response is not JSON: %v\n%s", method, path, err, resp.body)
	}
	return m
}

// form posts an HTML form, as a browser would without JavaScript.
func (c *ssoClient) form(t *testing.T, path string, values url.Values) ssoResponse {
	t.Helper()
	return c.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", values.Encode())
}

func (c *ssoClient) who() string {
	if c.bearer != "" {
		return "an API token"
	}
	if c.name == "" {
		return "nobody signed in"
	}
	return c.name
}

// errorCode returns the code of a JSON error response, or "".
func (r ssoResponse) errorCode() string {
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.body), &body)
	return body.Error.Code
}

// wantError checks that a JSON request fails with status and code.
func (c *ssoClient) wantError(t *testing.T, status int, code, method, path, body string) ssoResponse {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	resp := c.do(t, method, path, contentType, body)
	if resp.status != status || resp.errorCode() != code {
		t.Errorf("%s %s as %s: %d %s, want %d %s", method, path, c.who(), resp.status, resp.body, status, code)
	}
	return resp
}

// ssoActors returns "action actor" for each event of a rotation, oldest
// first.
func ssoActors(t *testing.T, c *ssoClient, rotationID string) []string {
	t.Helper()
	var out []string
	for _, e := range c.json(t, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+rotationID+"/events", "")["events"].([]any) {
		e := e.(map[string]any)
		out = append(out, fmt.Sprint(e["action"], " ", e["actor"]))
	}
	return out
}

// apiTokenPattern matches a rotor API token, as the README documents it
// for secret scanners.
var apiTokenPattern = regexp.MustCompile(`rotor_[A-Za-z0-9_-]{43}`)

// Sign-in, roles, the four-eyes rule and API tokens of `rotor serve`, end
// to end over HTTP: the in-process identity provider, Postgres, the Vault
// fake and the simulated Persium. At the end no secret, session cookie or
// API token shows where it must not.
func TestSSOServeRolesFourEyesAndTokens(t *testing.T) {
	t.Parallel()
	s := startSSO(t)
	anonymous := s.client(t, "")

	// Without a session, a page sends the browser to sign in and the JSON
	// API returns 401.
	anonymous.follow = false
	if resp := anonymous.do(t, http.MethodGet, "/credentials/cred-a", "", ""); resp.status != http.StatusSeeOther || resp.header.Get("Location") != "/auth/login?next=%2Fcredentials%2Fcred-a" {
		t.Errorf("GET /credentials/cred-a without a session: %d to %q, want 303 to /auth/login?next=%%2Fcredentials%%2Fcred-a", resp.status, resp.header.Get("Location"))
	}
	if resp := anonymous.do(t, http.MethodGet, "/", "", ""); resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.header.Get("Location"), "/auth/login") {
		t.Errorf("GET / without a session: %d to %q, want 303 to /auth/login", resp.status, resp.header.Get("Location"))
	}
	resp := anonymous.wantError(t, http.StatusUnauthorized, "unauthenticated", http.MethodGet, "/api/v1/credentials", "")
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("401 of the JSON API has Content-Type %q, want application/json", ct)
	}
	anonymous.follow = true

	// Someone in no mapped group gets no session, and a page that lists
	// the groups that grant a role and the groups they have.
	nobody := s.client(t, "nobody")
	resp = nobody.do(t, http.MethodGet, "/", "", "")
	if resp.status != http.StatusForbidden || !strings.Contains(resp.body, "No access to rotor") {
		t.Errorf("nobody's sign-in: %d, want 403 and the no-access page:\n%s", resp.status, resp.body)
	}
	for _, want := range []string{"nobody@example.com", ssoViewerGroup, ssoOperatorGroup, ssoAdminGroup, "/marketing"} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("the no-access page does not name %q", want)
		}
	}
	if v := nobody.sessionCookie(); v != "" {
		t.Errorf("nobody got a session cookie")
	}

	alice := s.signIn(t, "alice", "operator")
	bob := s.signIn(t, "bob", "operator")
	vera := s.signIn(t, "vera", "viewer")
	adam := s.signIn(t, "adam", "admin")

	// A sign-in that starts on a page returns to it.
	bobAgain := s.client(t, "bob")
	if resp := bobAgain.do(t, http.MethodGet, "/credentials/cred-a", "", ""); resp.status != http.StatusOK || resp.url.Path != "/credentials/cred-a" {
		t.Errorf("sign-in from /credentials/cred-a ended at %s with %d, want the credential page", resp.url, resp.status)
	}

	// The viewer reads but cannot act, neither in the JSON API nor with a
	// form.
	if creds := vera.json(t, http.StatusOK, http.MethodGet, "/api/v1/credentials", "")["credentials"].([]any); len(creds) != 1 {
		t.Errorf("vera sees %d credentials, want 1", len(creds))
	}
	vera.wantError(t, http.StatusForbidden, "forbidden", http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual"}`)
	page := vera.do(t, http.MethodGet, "/credentials/cred-a", "", "")
	if strings.Contains(page.body, `action="/credentials/cred-a/rotations"`) || strings.Contains(page.body, `id="report"`) {
		t.Errorf("the credential page offers vera the forms to act")
	}
	if resp := vera.form(t, "/credentials/cred-a/rotations", url.Values{"kind": {"manual"}}); resp.status != http.StatusForbidden || !strings.Contains(resp.body, "needs the operator role") {
		t.Errorf("vera's forged form: %d, want 403 naming the operator role:\n%s", resp.status, resp.body)
	}

	// Alice walks a rotation. Retirement waits for a second operator:
	// alice's own approval does not count, bob's does.
	id := alice.json(t, http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"quarterly","ticket":"PER-7"}`)["id"].(string)
	newSecret, err := s.sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"secret": newSecret.Reveal()})
	alice.json(t, http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))
	alice.json(t, http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if err := s.sim.RetireOld("client-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	const retire = `{"persium_confirmed":true,"reason":"consumers restarted"}`
	alice.wantError(t, http.StatusConflict, "approval_required", http.MethodPost, "/api/v1/rotations/"+id+"/retire", retire)
	alice.wantError(t, http.StatusConflict, "approval_by_requester", http.MethodPost, "/api/v1/rotations/"+id+"/approve", `{"action":"retire"}`)
	alice.wantError(t, http.StatusConflict, "approval_required", http.MethodPost, "/api/v1/rotations/"+id+"/retire", retire)
	vera.wantError(t, http.StatusForbidden, "forbidden", http.MethodPost, "/api/v1/rotations/"+id+"/approve", `{"action":"retire"}`)
	bob.json(t, http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/approve", `{"action":"retire","reason":"checked the consumers"}`)
	if r := alice.json(t, http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/retire", retire); r["state"] != "old_retired" {
		t.Fatalf("after retire: %v, want old_retired", r["state"])
	}

	wantActors := []string{
		"request alice@example.com", "issue alice@example.com", "promote alice@example.com",
		"approved bob@example.com", "retire alice@example.com",
	}
	if got := ssoActors(t, vera, id); !slices.Equal(got, wantActors) {
		t.Errorf("audit events of the rotation:\n got %q\nwant %q", got, wantActors)
	}
	events := vera.json(t, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+id+"/events", "")["events"].([]any)
	if detail := events[len(events)-1].(map[string]any)["detail"].(string); !strings.Contains(detail, "approved by bob@example.com") {
		t.Errorf("the retire event's detail %q does not name the approver bob@example.com", detail)
	}

	// An admin creates an API token on the tokens page. The page shows it
	// once, and no other response ever does.
	if resp := alice.do(t, http.MethodGet, "/admin/tokens", "", ""); resp.status != http.StatusForbidden {
		t.Errorf("alice, an operator, opened /admin/tokens: %d, want 403", resp.status)
	}
	created := adam.form(t, "/admin/tokens", url.Values{"name": {"ci-deploy"}, "role": {"operator"}, "expires_in_days": {"90"}})
	if created.status != http.StatusCreated {
		t.Fatalf("create a token on /admin/tokens: %d\n%s", created.status, created.body)
	}
	token := regexp.MustCompile(`id="token-value">(rotor_[A-Za-z0-9_-]{43})<`).FindStringSubmatch(created.body)
	if token == nil {
		t.Fatalf("the page after creating a token does not show it:\n%s", created.body)
	}
	ci := s.client(t, "")
	ci.bearer = token[1]

	var tokenID string
	for _, tok := range adam.json(t, http.StatusOK, http.MethodGet, "/api/v1/tokens", "")["tokens"].([]any) {
		tok := tok.(map[string]any)
		if tok["name"] == "ci-deploy" {
			tokenID = tok["id"].(string)
			if tok["created_by"] != "adam@example.com" || tok["role"] != "operator" {
				t.Errorf("token record %v, want created by adam@example.com with the operator role", tok)
			}
		}
	}
	if tokenID == "" {
		t.Fatalf("GET /api/v1/tokens does not list ci-deploy")
	}

	// The token acts with its role in the JSON API only, and cannot
	// approve, because the four-eyes rule requires a second person.
	ci.json(t, http.StatusOK, http.MethodGet, "/api/v1/credentials", "")
	second := ci.json(t, http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"from CI"}`)["id"].(string)
	ci.wantError(t, http.StatusForbidden, "person_required", http.MethodPost, "/api/v1/rotations/"+second+"/approve", `{"action":"force_revoke"}`)
	ci.wantError(t, http.StatusForbidden, "forbidden", http.MethodPost, "/api/v1/tokens", `{"name":"mine","role":"admin","expires_in_days":30}`)
	ci.follow = false
	if resp := ci.do(t, http.MethodGet, "/", "", ""); resp.status != http.StatusSeeOther {
		t.Errorf("GET / with only an API token: %d, want 303 to sign in, because tokens do not work on pages", resp.status)
	}
	if resp := ci.form(t, "/credentials/cred-a/incidents", url.Values{"what": {"other"}}); resp.status != http.StatusUnauthorized {
		t.Errorf("a form posted with only an API token: %d, want 401, because tokens do not work on pages", resp.status)
	}
	ci.follow = true
	ci.json(t, http.StatusOK, http.MethodPost, "/api/v1/rotations/"+second+"/cancel", `{"reason":"CI run ended"}`)
	if got, want := ssoActors(t, vera, second), []string{"request token:ci-deploy", "cancel token:ci-deploy"}; !slices.Equal(got, want) {
		t.Errorf("audit events of the token's rotation: %q, want %q", got, want)
	}
	audit := vera.json(t, http.StatusOK, http.MethodGet, "/api/v1/audit?actor=token:ci-deploy", "")["entries"].([]any)
	if len(audit) != 2 {
		t.Errorf("the audit log has %d entries by token:ci-deploy, want 2: %v", len(audit), audit)
	}

	// A revoked token gets 401 token_revoked at once.
	revoked := adam.form(t, "/admin/tokens/"+tokenID+"/revoke", url.Values{})
	if revoked.status != http.StatusOK || !strings.Contains(revoked.body, `id="notice-token-revoked"`) {
		t.Errorf("revoke the token on /admin/tokens: %d\n%s", revoked.status, revoked.body)
	}
	ci.wantError(t, http.StatusUnauthorized, "token_revoked", http.MethodGet, "/api/v1/credentials", "")

	// A compromise reported by alice names her, in the incident and in
	// the emergency rotation it opens.
	inc := alice.json(t, http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/incidents", `{"what":"public_commit","detected_at":"2026-03-01T09:00:00Z","reference":"INC-7"}`)
	incidentID, emergency := inc["id"].(string), inc["rotation_id"].(string)
	if got := vera.json(t, http.StatusOK, http.MethodGet, "/api/v1/incidents/"+incidentID, "")["reported_by"]; got != "alice@example.com" {
		t.Errorf("the incident was reported by %v, want alice@example.com", got)
	}
	if got := ssoActors(t, vera, emergency); len(got) == 0 || got[0] != "request alice@example.com" {
		t.Errorf("audit events of the emergency rotation: %q, want a request by alice@example.com first", got)
	}

	t.Run("mutating routes check the role and the body", func(t *testing.T) {
		testSSOMutatingRoutes(t, s, anonymous, vera, alice, adam, emergency, incidentID, tokenID)
	})

	// Signing out ends the session: the old cookie is worth nothing.
	aliceCookie := alice.sessionCookie()
	if aliceCookie == "" {
		t.Fatalf("alice has no session cookie")
	}
	if resp := alice.form(t, "/auth/logout", url.Values{}); resp.status != http.StatusOK || resp.url.Path != "/auth/signed-out" {
		t.Errorf("sign out: %d at %s, want the signed-out page", resp.status, resp.url)
	}
	if alice.sessionCookie() != "" {
		t.Errorf("the session cookie is still in alice's jar after signing out")
	}
	replay := s.client(t, "")
	replay.follow = false
	for _, path := range []string{"/", "/api/v1/credentials"} {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		req.AddCookie(&http.Cookie{Name: sso.SessionCookie, Value: aliceCookie})
		res, err := replay.client.Do(req)
		if err != nil {
			t.Fatalf("GET %s with the old cookie: %v", path, err)
		}
		res.Body.Close()
		if want := map[string]int{"/": http.StatusSeeOther, "/api/v1/credentials": http.StatusUnauthorized}[path]; res.StatusCode != want {
			t.Errorf("GET %s with the cookie of an ended session: %d, want %d", path, res.StatusCode, want)
		}
		if path == "/" && !strings.HasPrefix(res.Header.Get("Location"), "/auth/login") {
			t.Errorf("GET / with the cookie of an ended session goes to %q, want /auth/login", res.Header.Get("Location"))
		}
	}

	// Nothing secret shows where it must not.
	s.rotor.stop()
	cookies := map[string]string{}
	for _, c := range []*ssoClient{bob, vera, adam, bobAgain} {
		cookies[c.name] = c.sessionCookie()
	}
	cookies["alice@example.com"] = aliceCookie
	checkSSONoLeak(t, s, []secret.Value{canary, newSecret}, cookies, token[1])
}

// testSSOMutatingRoutes sends every state-changing route, of the JSON API
// and of the pages, without a session and as a viewer, and every JSON
// route with malformed bodies as a person who may use it. None of them
// changes anything.
func testSSOMutatingRoutes(t *testing.T, s *ssoServer, anonymous, viewer, operator, admin *ssoClient, rotationID, incidentID, tokenID string) {
	before := viewer.json(t, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+rotationID, "")["revision"]
	entries := len(viewer.json(t, http.StatusOK, http.MethodGet, "/api/v1/audit?limit=200", "")["entries"].([]any))
	tokens := len(admin.json(t, http.StatusOK, http.MethodGet, "/api/v1/tokens", "")["tokens"].([]any))

	// The JSON routes mirror mutatingRoutes of the api package's tests,
	// with the routes of the four-eyes rule, the Persium e-mail and API
	// tokens. An admin route is refused to an operator too.
	jsonRoutes := []struct {
		path, body string
		admin      bool
	}{
		{"/api/v1/credentials/cred-a/incidents", `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`, false},
		{"/api/v1/rotations/" + rotationID + "/force-revoked", `{}`, false},
		{"/api/v1/incidents/" + incidentID + "/checklist", `{"title":"CI caches"}`, false},
		{"/api/v1/incidents/" + incidentID + "/checklist/1/done", `{"note":"clean"}`, false},
		{"/api/v1/incidents/" + incidentID + "/persium-request", `{}`, false},
		{"/api/v1/credentials/cred-a/rotations", `{"kind":"manual"}`, false},
		{"/api/v1/rotations/" + rotationID + "/issued", `{"secret":"x"}`, false},
		{"/api/v1/rotations/" + rotationID + "/promote", `{}`, false},
		{"/api/v1/rotations/" + rotationID + "/rollback", `{"reason":"r"}`, false},
		{"/api/v1/rotations/" + rotationID + "/retire", `{"persium_confirmed":true}`, false},
		{"/api/v1/rotations/" + rotationID + "/cancel", `{"reason":"r"}`, false},
		{"/api/v1/rotations/" + rotationID + "/resume", `{"reason":"r"}`, false},
		{"/api/v1/rotations/" + rotationID + "/approve", `{"action":"force_revoke"}`, false},
		{"/api/v1/tokens", `{"name":"x","role":"viewer","expires_in_days":30}`, true},
		{"/api/v1/tokens/" + tokenID + "/revoke", `{}`, true},
	}
	malformed := map[string]struct {
		contentType, body string
		status            int
	}{
		"invalid JSON":    {"application/json", `{"reason":`, http.StatusBadRequest},
		"unknown field":   {"application/json", `{"reason":"r","extra":1}`, http.StatusBadRequest},
		"wrong type":      {"application/json", `{"reason":42}`, http.StatusBadRequest},
		"not an object":   {"application/json", `[1,2]`, http.StatusBadRequest},
		"not JSON":        {"text/plain", `reason=r`, http.StatusUnsupportedMediaType},
		"body over limit": {"application/json", `{"reason":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, route := range jsonRoutes {
		anonymous.wantError(t, http.StatusUnauthorized, "unauthenticated", http.MethodPost, route.path, route.body)
		viewer.wantError(t, http.StatusForbidden, "forbidden", http.MethodPost, route.path, route.body)
		allowed := operator
		if route.admin {
			operator.wantError(t, http.StatusForbidden, "forbidden", http.MethodPost, route.path, route.body)
			allowed = admin
		}
		for name, m := range malformed {
			if resp := allowed.do(t, http.MethodPost, route.path, m.contentType, m.body); resp.status != m.status {
				t.Errorf("%s with %s as %s: %d %s, want %d", route.path, name, allowed.who(), resp.status, resp.body, m.status)
			}
		}
	}

	// The pages' forms: 401 without a session, 403 for a viewer, and 403
	// for an operator on the admin's forms.
	formRoutes := []struct {
		path  string
		admin bool
	}{
		{"/credentials/cred-a/rotations", false},
		{"/rotations/" + rotationID + "/issued", false},
		{"/rotations/" + rotationID + "/promote", false},
		{"/rotations/" + rotationID + "/rollback", false},
		{"/rotations/" + rotationID + "/retire", false},
		{"/rotations/" + rotationID + "/cancel", false},
		{"/rotations/" + rotationID + "/resume", false},
		{"/rotations/" + rotationID + "/force-revoked", false},
		{"/rotations/" + rotationID + "/approve", false},
		{"/incidents", false},
		{"/credentials/cred-a/incidents", false},
		{"/incidents/" + incidentID + "/checklist", false},
		{"/incidents/" + incidentID + "/persium-request", false},
		{"/incidents/" + incidentID + "/checklist/1/done", false},
		{"/admin/tokens", true},
		{"/admin/tokens/" + tokenID + "/revoke", true},
	}
	form := url.Values{"reason": {"r"}, "credential": {"cred-a"}, "what": {"other"}, "action": {"retire"}, "name": {"x"}, "role": {"viewer"}, "expires_in_days": {"30"}}
	for _, route := range formRoutes {
		if resp := anonymous.form(t, route.path, form); resp.status != http.StatusUnauthorized {
			t.Errorf("form %s without a session: %d, want 401", route.path, resp.status)
		}
		if resp := viewer.form(t, route.path, form); resp.status != http.StatusForbidden {
			t.Errorf("form %s as a viewer: %d, want 403", route.path, resp.status)
		}
		if route.admin {
			if resp := operator.form(t, route.path, form); resp.status != http.StatusForbidden {
				t.Errorf("form %s as an operator: %d, want 403", route.path, resp.status)
			}
		}
	}

	if after := viewer.json(t, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+rotationID, "")["revision"]; after != before {
		t.Errorf("refused requests changed the rotation: revision %v → %v", before, after)
	}
	if after := len(viewer.json(t, http.StatusOK, http.MethodGet, "/api/v1/audit?limit=200", "")["entries"].([]any)); after != entries {
		t.Errorf("refused requests wrote audit events: %d → %d entries", entries, after)
	}
	if after := len(admin.json(t, http.StatusOK, http.MethodGet, "/api/v1/tokens", "")["tokens"].([]any)); after != tokens {
		t.Errorf("refused requests created tokens: %d → %d", tokens, after)
	}
}

// checkSSONoLeak searches rotor's log, every response body the test read
// and the database for the secrets, the session cookies, the API token,
// the OpenID client secret and what the identity provider issued. The API
// token may show in the one page that created it.
func checkSSONoLeak(t *testing.T, s *ssoServer, secrets []secret.Value, cookies map[string]string, token string) {
	t.Helper()
	log := s.rotor.stderr.String()
	dump := dumpSchema(t, s.schema)
	if !strings.Contains(dump, "alice@example.com") {
		t.Fatalf("the database dump does not contain alice's events; the search would miss a leak")
	}
	s.mu.Lock()
	bodies := slices.Clone(s.bodies)
	s.mu.Unlock()
	s.rotor.mu.Lock()
	bodies = append(bodies, s.rotor.bodies...)
	s.rotor.mu.Unlock()
	everything := log + "\n" + dump + "\n" + strings.Join(bodies, "\n")

	for _, v := range secrets {
		for form, leak := range leakForms("client-a", v) {
			if strings.Contains(everything, leak) {
				t.Errorf("a Persium secret (%s form) appears in rotor's log, a response or the database", form)
			}
		}
	}
	for who, cookie := range cookies {
		if cookie == "" {
			t.Errorf("%s has no session cookie to search for", who)
			continue
		}
		if strings.Contains(everything, cookie) {
			t.Errorf("the session cookie of %s appears in rotor's log, a response or the database", who)
		}
	}

	pages := 0
	for _, b := range bodies {
		if strings.Contains(b, token) {
			pages++
		}
	}
	if pages != 1 {
		t.Errorf("the API token appears in %d response bodies, want only the page that created it", pages)
	}
	if strings.Contains(log, token) || strings.Contains(dump, token) {
		t.Errorf("the API token appears in rotor's log or the database")
	}
	if strings.Contains(log, s.idp.ClientSecret) || strings.Contains(log, url.QueryEscape(s.idp.ClientSecret)) {
		t.Errorf("rotor's log contains the OpenID Connect client secret")
	}
	issued := s.idp.Issued()
	if len(issued.Codes) == 0 || len(issued.IDTokens) == 0 {
		t.Fatalf("the provider issued no codes or ID tokens; the search would miss a leak")
	}
	for kind, values := range map[string][]string{"code": issued.Codes, "access token": issued.AccessTokens, "ID token": issued.IDTokens} {
		for _, v := range values {
			if strings.Contains(log, v) || strings.Contains(dump, v) {
				t.Errorf("a %s from the identity provider appears in rotor's log or the database", kind)
			}
		}
	}
	if m := apiTokenPattern.FindAllString(log+dump, -1); len(m) > 0 {
		t.Errorf("rotor's log or the database contains %d strings shaped like an API token", len(m))
	}
}
