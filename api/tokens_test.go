package api_test

import (
	"context"
	"encoding/json"
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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
)

// staffHeader authenticates people by a test header, as sign-in would:
// missing is unauthenticated.
type staffHeader struct{}

func (staffHeader) Authenticate(r *http.Request) (api.Principal, error) {
	switch r.Header.Get("X-Test-Role") {
	case "viewer":
		return api.Principal{Name: "vera", Role: api.RoleViewer, Session: "s-vera"}, nil
	case "operator":
		return api.Principal{Name: "otto", Role: api.RoleOperator, Session: "s-otto"}, nil
	case "admin":
		return api.Principal{Name: "ada", Role: api.RoleAdmin, Session: "s-ada"}, nil
	}
	return api.Principal{}, api.ErrUnauthenticated
}

// tokenFixture serves rotor with API tokens in Postgres, and checks at the
// end that each token appeared in exactly one response, the one that
// created it, and never in the log.
type tokenFixture struct {
	t      *testing.T
	server *httptest.Server
	tokens *apitoken.Store
	pool   *pgxpool.Pool
	clock  *storetest.Clock
	logs   *testlog.Buffer

	mu     sync.Mutex
	bodies []string
	known  []secret.Value // tokens created outside HTTP, shown in no response
}

func setupTokens(t *testing.T) *tokenFixture {
	t.Helper()
	f := &tokenFixture{t: t, pool: pgtest.NewPool(t), clock: storetest.NewClock(), logs: testlog.New(t)}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	store := pgstore.New(f.pool, f.clock.Now)
	if err := store.SyncCredentials(context.Background(), []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	svc := rotation.NewService(rotation.Options{
		Store: store, Now: f.clock.Now, Logger: log,
		Secrets: map[string]rotation.SecretStore{"cred-a": memory.New(secret.New("current"), secretstore.Format{JSONKey: "client_secret"})},
	})
	f.tokens = apitoken.New(f.pool, f.clock.Now, log)
	srv, err := api.New(api.Options{Service: svc, Auth: api.Chain{f.tokens, staffHeader{}}, Tokens: f.tokens, Logger: log, Now: f.clock.Now})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	f.server = httptest.NewServer(srv.Handler())
	t.Cleanup(f.server.Close)
	t.Cleanup(f.assertTokensShownOnce)
	return f
}

// tokenPattern matches a token in a response body.
var tokenPattern = regexp.MustCompile(`rotor_[A-Za-z0-9_-]{43}`)

func (f *tokenFixture) assertTokensShownOnce() {
	f.mu.Lock()
	defer f.mu.Unlock()
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"http request"`) {
		f.t.Errorf("the log search saw no request log; it would miss a leak")
	}
	all := strings.Join(f.bodies, "\n")
	seen := map[string]bool{}
	for _, body := range f.bodies {
		for _, tok := range tokenPattern.FindAllString(body, -1) {
			seen[tok] = true
		}
	}
	for _, v := range f.known {
		seen[v.Reveal()] = true
	}
	for tok := range seen {
		if strings.Contains(logs, tok) {
			f.t.Errorf("a token appears in rotor's log")
		}
		if n := strings.Count(all, tok); n > 1 {
			f.t.Errorf("a token appears in %d responses, want only the one that created it", n)
		}
	}
}

// do sends a request with a token ("" for none) or a test role header,
// and records the body.
func (f *tokenFixture) do(auth, method, path, contentType, body string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatalf("NewRequest: %v", err)
	}
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		req.Header.Set("Authorization", auth)
	case auth != "":
		req.Header.Set("X-Test-Role", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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

func (f *tokenFixture) form(auth, path string, values url.Values) response {
	f.t.Helper()
	return f.do(auth, http.MethodPost, path, "application/x-www-form-urlencoded", values.Encode())
}

// create stores a token without HTTP and returns its Authorization header.
func (f *tokenFixture) create(name string, role api.Role, days int) (api.Token, string) {
	f.t.Helper()
	tok, v, err := f.tokens.Create(context.Background(), "ada", name, role, f.clock.Now().Add(time.Duration(days)*24*time.Hour))
	if err != nil {
		f.t.Fatalf("Create(%q): %v", name, err)
	}
	f.mu.Lock()
	f.known = append(f.known, v)
	f.mu.Unlock()
	return tok, "Bearer " + v.Reveal()
}

// dump returns both token tables as text, hashes in hex and base64.
func (f *tokenFixture) dump() string {
	f.t.Helper()
	var dump string
	err := f.pool.QueryRow(context.Background(), `
		SELECT coalesce((SELECT string_agg(t::text || encode(token_hash, 'base64'), E'\n') FROM api_tokens t), '')
		    || coalesce((SELECT string_agg(e::text, E'\n') FROM token_events e), '')`).Scan(&dump)
	if err != nil {
		f.t.Fatalf("dump token tables: %v", err)
	}
	return dump
}

func (f *tokenFixture) count() int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM api_tokens`).Scan(&n); err != nil {
		f.t.Fatalf("count tokens: %v", err)
	}
	return n
}

func TestTokenCreatedOnceThroughUI(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)

	empty := f.do("admin", http.MethodGet, "/admin/tokens", "", "")
	if empty.status != http.StatusOK || !strings.Contains(empty.body, `id="no-tokens"`) {
		t.Fatalf("GET /admin/tokens with no tokens: %d, want 200 with the empty state:\n%s", empty.status, empty.body)
	}
	for _, label := range []string{`<label for="token-name">`, `<label for="token-role">`, `<label for="token-expiry">`} {
		if !strings.Contains(empty.body, label) {
			t.Errorf("the create form lacks %s", label)
		}
	}

	created := f.form("admin", "/admin/tokens", url.Values{"name": {"ci deploy"}, "role": {"operator"}, "expires_in_days": {"90"}})
	if created.status != http.StatusCreated {
		t.Fatalf("POST /admin/tokens: %d, want 201:\n%s", created.status, created.body)
	}
	if loc := created.header.Get("Location"); loc != "" {
		t.Errorf("the creation redirects to %q, want the token in the response itself", loc)
	}
	if got := created.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	token := tokenPattern.FindString(created.body)
	if token == "" {
		t.Fatalf("the response to the creation shows no token:\n%s", created.body)
	}
	if !strings.Contains(created.body, `id="new-token"`) || !strings.Contains(created.body, "cannot show it again") {
		t.Errorf("the token is shown without the warning that it cannot be shown again")
	}

	list := f.do("admin", http.MethodGet, "/admin/tokens", "", "")
	for _, want := range []string{"ci deploy", "operator", "by ada", "2026-05-30", "never", "active"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("the token list does not show %q", want)
		}
	}
	if strings.Contains(f.dump(), token) || strings.Contains(f.dump(), strings.TrimPrefix(token, apitoken.Prefix)) {
		t.Errorf("the database holds the token itself")
	}

	if resp := f.do("Bearer "+token, http.MethodGet, "/api/v1/credentials", "", ""); resp.status != http.StatusOK {
		t.Errorf("GET /api/v1/credentials with the new token: %d %s, want 200", resp.status, resp.body)
	}
}

func TestTokenCreatedOnceThroughJSON(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)

	resp := f.do("admin", http.MethodPost, "/api/v1/tokens", "application/json", `{"name":"nightly","role":"viewer","expires_in_days":30}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/tokens: %d %s, want 201", resp.status, resp.body)
	}
	body := resp.json(t)
	token, _ := body["token"].(string)
	if !tokenPattern.MatchString(token) {
		t.Fatalf("the response has no token: %s", resp.body)
	}
	for field, want := range map[string]any{"name": "nightly", "role": "viewer", "status": "active", "created_by": "ada",
		"expires_at": "2026-03-31T09:30:00Z", "last_used_at": nil, "revoked_at": nil} {
		if got := body[field]; got != want {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	if got := resp.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	list := f.do("admin", http.MethodGet, "/api/v1/tokens", "", "")
	if list.status != http.StatusOK || strings.Contains(list.body, `"token"`) {
		t.Errorf("GET /api/v1/tokens: %d %s, want 200 without a token field", list.status, list.body)
	}
	if strings.Contains(f.dump(), strings.TrimPrefix(token, apitoken.Prefix)) {
		t.Errorf("the database holds the token itself")
	}
}

func TestTokenActsWithItsRole(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	_, viewer := f.create("reader", api.RoleViewer, 30)
	_, operator := f.create("ci-rotate", api.RoleOperator, 30)

	if resp := f.do(viewer, http.MethodGet, "/api/v1/credentials/cred-a", "", ""); resp.status != http.StatusOK {
		t.Errorf("viewer token reads a credential: %d %s, want 200", resp.status, resp.body)
	}
	resp := f.do(viewer, http.MethodPost, "/api/v1/credentials/cred-a/rotations", "application/json", `{"kind":"manual"}`)
	if resp.status != http.StatusForbidden || resp.errorCode(t) != "forbidden" {
		t.Errorf("viewer token requests a rotation: %d %s, want 403", resp.status, resp.body)
	}

	resp = f.do(operator, http.MethodPost, "/api/v1/credentials/cred-a/rotations", "application/json", `{"kind":"manual","reason":"from CI"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("operator token requests a rotation: %d %s, want 201", resp.status, resp.body)
	}
	rot := resp.json(t)
	if rot["requested_by"] != "token:ci-rotate" {
		t.Errorf("requested_by = %v, want token:ci-rotate", rot["requested_by"])
	}
	events := f.do(viewer, http.MethodGet, "/api/v1/rotations/"+rot["id"].(string)+"/events", "", "")
	var list struct {
		Events []struct{ Actor, Action string }
	}
	if err := json.Unmarshal([]byte(events.body), &list); err != nil || len(list.Events) != 1 {
		t.Fatalf("events: %v %s, want one event", err, events.body)
	}
	if got := list.Events[0]; got.Actor != "token:ci-rotate" || got.Action != "request" {
		t.Errorf("audit event = %+v, want a request by token:ci-rotate", got)
	}

	if resp := f.do(operator, http.MethodPost, "/api/v1/tokens", "application/json", `{"name":"more","role":"admin","expires_in_days":30}`); resp.status != http.StatusForbidden {
		t.Errorf("operator token creates a token: %d %s, want 403", resp.status, resp.body)
	}
}

func TestTokenRejected(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	expiredTok, expired := f.create("short-lived", api.RoleOperator, 1)
	revokedTok, revoked := f.create("leaked", api.RoleOperator, 30)
	if _, err := f.tokens.Revoke(context.Background(), "ada", revokedTok.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	f.clock.Advance(24 * time.Hour)

	cases := map[string]struct {
		header, code, mention string
	}{
		"expired":   {expired, "token_expired", expiredTok.Name},
		"revoked":   {revoked, "token_revoked", revokedTok.Name},
		"malformed": {"Bearer rotor_short", "invalid_token", "rotor_"},
		"unknown":   {"Bearer " + apitoken.Prefix + strings.Repeat("A", 43), "invalid_token", "does not recognise"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp := f.do(c.header, http.MethodGet, "/api/v1/credentials", "", "")
			if resp.status != http.StatusUnauthorized {
				t.Fatalf("status = %d %s, want 401", resp.status, resp.body)
			}
			if got := resp.errorCode(t); got != c.code {
				t.Errorf("code = %q, want %q", got, c.code)
			}
			message := resp.json(t)["error"].(map[string]any)["message"].(string)
			if !strings.Contains(message, c.mention) || !strings.Contains(message, "/admin/tokens") {
				t.Errorf("message %q does not mention %q and where to create a new token", message, c.mention)
			}
		})
	}

	// A token that is rejected does not fall back to the next
	// authenticator.
	resp := f.do(revoked, http.MethodGet, "/api/v1/credentials", "", "")
	if resp.status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", resp.status)
	}
}

func TestTokenNotForUI(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	_, admin := f.create("admin-bot", api.RoleAdmin, 30)

	if resp := f.do(admin, http.MethodGet, "/", "", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("GET / with a bearer token: %d, want 401", resp.status)
	}
	before := f.count()
	req, err := http.NewRequest(http.MethodPost, f.server.URL+"/admin/tokens",
		strings.NewReader(url.Values{"name": {"sneaky"}, "role": {"admin"}, "expires_in_days": {"30"}}.Encode()))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /admin/tokens: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /admin/tokens with a bearer token: %d, want 401", resp.StatusCode)
	}
	if after := f.count(); after != before {
		t.Errorf("a bearer token created a token through the UI form: %d tokens, want %d", after, before)
	}
}

func TestTokenLastUsed(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	_, viewer := f.create("reader", api.RoleViewer, 30)
	f.clock.Advance(time.Hour)

	if resp := f.do(viewer, http.MethodGet, "/api/v1/credentials", "", ""); resp.status != http.StatusOK {
		t.Fatalf("GET /api/v1/credentials: %d", resp.status)
	}
	list := f.do("admin", http.MethodGet, "/api/v1/tokens", "", "").json(t)["tokens"].([]any)
	if got := list[0].(map[string]any)["last_used_at"]; got != "2026-03-01T10:30:00Z" {
		t.Errorf("last_used_at = %v, want 2026-03-01T10:30:00Z", got)
	}
	page := f.do("admin", http.MethodGet, "/admin/tokens", "", "")
	if !strings.Contains(page.body, "2026-03-01 10:30 UTC") {
		t.Errorf("the token page does not show the last use at 2026-03-01 10:30 UTC")
	}
}

// tokenMutations lists every state-changing token route, with a valid body
// and a malformed one.
func tokenMutations(tokenID string) []struct {
	path, contentType, body, malformed string
} {
	const formMedia, jsonMedia = "application/x-www-form-urlencoded", "application/json"
	return []struct{ path, contentType, body, malformed string }{
		{"/api/v1/tokens", jsonMedia, `{"name":"new","role":"viewer","expires_in_days":30}`, `{"name":"new",`},
		{"/api/v1/tokens/" + tokenID + "/revoke", jsonMedia, `{}`, `{"reason":"x"}`},
		{"/admin/tokens", formMedia, "name=new&role=viewer&expires_in_days=30", "name=%zz"},
		{"/admin/tokens/" + tokenID + "/revoke", formMedia, "", "x=%zz"},
	}
}

func TestTokenRoutesRefuseBadRequests(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	tok, _ := f.create("target", api.RoleViewer, 30)

	for _, route := range tokenMutations(tok.ID) {
		t.Run(route.path, func(t *testing.T) {
			resp := f.do("", http.MethodPost, route.path, route.contentType, route.body)
			if resp.status != http.StatusUnauthorized {
				t.Errorf("unauthenticated: %d, want 401", resp.status)
			}
			for _, role := range []string{"viewer", "operator"} {
				resp := f.do(role, http.MethodPost, route.path, route.contentType, route.body)
				if resp.status != http.StatusForbidden || !strings.Contains(resp.body, "admin role") {
					t.Errorf("%s: %d %.300s, want 403 naming the admin role", role, resp.status, resp.body)
				}
			}
			resp = f.do("admin", http.MethodPost, route.path, route.contentType, route.malformed)
			if resp.status != http.StatusBadRequest {
				t.Errorf("malformed body: %d %.300s, want 400", resp.status, resp.body)
			}
		})
	}
	for _, path := range []string{"/admin/tokens", "/api/v1/tokens"} {
		if resp := f.do("operator", http.MethodGet, path, "", ""); resp.status != http.StatusForbidden {
			t.Errorf("GET %s as an operator: %d, want 403", path, resp.status)
		}
	}
	page := f.do("operator", http.MethodGet, "/admin/tokens", "", "")
	if !strings.Contains(page.header.Get("Content-Type"), "text/html") || !strings.Contains(page.body, `role="alert"`) {
		t.Errorf("GET /admin/tokens as an operator: not the HTML error page:\n%s", page.body)
	}

	tokens, err := f.tokens.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(tokens) != 1 || !tokens[0].RevokedAt.IsZero() {
		t.Errorf("refused requests changed the tokens: %+v, want the one active token", tokens)
	}
}

func TestTokenCreateRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	f.create("ci-deploy", api.RoleOperator, 30)

	cases := map[string]struct {
		body   string
		status int
		code   string
	}{
		"duplicate name":  {`{"name":"CI-deploy","role":"viewer","expires_in_days":30}`, http.StatusConflict, "token_name_taken"},
		"bad name":        {`{"name":"ci/deploy","role":"viewer","expires_in_days":30}`, http.StatusBadRequest, "invalid_token_name"},
		"no name":         {`{"role":"viewer","expires_in_days":30}`, http.StatusBadRequest, "invalid_token_name"},
		"unknown role":    {`{"name":"x","role":"root","expires_in_days":30}`, http.StatusBadRequest, "invalid_role"},
		"no expiry":       {`{"name":"x","role":"viewer"}`, http.StatusBadRequest, "invalid_token_expiry"},
		"expiry too long": {`{"name":"x","role":"viewer","expires_in_days":366}`, http.StatusBadRequest, "invalid_token_expiry"},
		"unknown field":   {`{"name":"x","role":"viewer","expires_in_days":30,"scopes":["all"]}`, http.StatusBadRequest, "invalid_body"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp := f.do("admin", http.MethodPost, "/api/v1/tokens", "application/json", c.body)
			if resp.status != c.status || resp.errorCode(t) != c.code {
				t.Errorf("%d %s, want %d %s", resp.status, resp.body, c.status, c.code)
			}
		})
	}

	t.Run("duplicate name in the form", func(t *testing.T) {
		resp := f.form("admin", "/admin/tokens", url.Values{"name": {"ci-deploy"}, "role": {"admin"}, "expires_in_days": {"365"}})
		if resp.status != http.StatusConflict {
			t.Fatalf("%d, want 409", resp.status)
		}
		for _, want := range []string{"An active API token named &#34;ci-deploy&#34; already exists", `value="ci-deploy"`,
			`<option value="admin" selected>`, `<option value="365" selected>`} {
			if !strings.Contains(resp.body, want) {
				t.Errorf("the form page does not contain %s", want)
			}
		}
		if tokenPattern.MatchString(resp.body) {
			t.Errorf("a rejected form shows a token")
		}
	})
	if n := f.count(); n != 1 {
		t.Errorf("%d tokens after rejected requests, want 1", n)
	}
}

func TestTokenRevoke(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	uiTok, uiHeader := f.create("ui-revoked", api.RoleViewer, 30)
	jsonTok, jsonHeader := f.create("json-revoked", api.RoleViewer, 30)

	resp := f.form("admin", "/admin/tokens/"+uiTok.ID+"/revoke", nil)
	if resp.status != http.StatusOK || !strings.Contains(resp.body, `id="notice-token-revoked"`) {
		t.Errorf("revoke through the UI: %d, want 200 with a notice:\n%s", resp.status, resp.body)
	}
	resp = f.form("admin", "/admin/tokens/"+uiTok.ID+"/revoke", nil)
	if resp.status != http.StatusOK || !strings.Contains(resp.body, "already revoked") {
		t.Errorf("second revoke through the UI: %d, want 200 saying it was already revoked:\n%s", resp.status, resp.body)
	}

	resp = f.do("admin", http.MethodPost, "/api/v1/tokens/"+jsonTok.ID+"/revoke", "", "")
	if resp.status != http.StatusOK || resp.json(t)["status"] != "revoked" || resp.json(t)["revoked_by"] != "ada" {
		t.Errorf("revoke through JSON: %d %s, want 200, revoked by ada", resp.status, resp.body)
	}
	resp = f.do("admin", http.MethodPost, "/api/v1/tokens/"+jsonTok.ID+"/revoke", "", "")
	if resp.status != http.StatusConflict || resp.errorCode(t) != "token_already_revoked" {
		t.Errorf("second revoke through JSON: %d %s, want 409 token_already_revoked", resp.status, resp.body)
	}

	for _, header := range []string{uiHeader, jsonHeader} {
		if resp := f.do(header, http.MethodGet, "/api/v1/credentials", "", ""); resp.status != http.StatusUnauthorized || resp.errorCode(t) != "token_revoked" {
			t.Errorf("revoked token: %d %s, want 401 token_revoked", resp.status, resp.body)
		}
	}

	unknown := "00000000-0000-4000-8000-000000000000"
	if resp := f.do("admin", http.MethodPost, "/api/v1/tokens/"+unknown+"/revoke", "", ""); resp.status != http.StatusNotFound {
		t.Errorf("revoke an unknown token through JSON: %d, want 404", resp.status)
	}
	if resp := f.form("admin", "/admin/tokens/"+unknown+"/revoke", nil); resp.status != http.StatusNotFound || !strings.Contains(resp.header.Get("Content-Type"), "text/html") {
		t.Errorf("revoke an unknown token through the UI: %d, want the 404 page", resp.status)
	}

	var events []string
	rows, err := f.pool.Query(context.Background(), `SELECT actor || ' ' || action FROM token_events ORDER BY id`)
	if err != nil {
		t.Fatalf("read token_events: %v", err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatalf("scan: %v", err)
		}
		events = append(events, e)
	}
	if got, want := strings.Join(events, ", "), "ada created, ada created, ada revoked, ada revoked"; got != want {
		t.Errorf("token_events = %s, want %s", got, want)
	}
}

func TestTokenNavigation(t *testing.T) {
	t.Parallel()
	f := setupTokens(t)
	if resp := f.do("admin", http.MethodGet, "/", "", ""); !strings.Contains(resp.body, `href="/admin/tokens"`) {
		t.Errorf("the admin's dashboard has no link to the API tokens page")
	}
	if resp := f.do("operator", http.MethodGet, "/", "", ""); strings.Contains(resp.body, `href="/admin/tokens"`) {
		t.Errorf("the operator's dashboard links to the API tokens page, which only admins may open")
	}
}

func TestTokenRoutesNeedManager(t *testing.T) {
	t.Parallel()
	srv, err := api.New(api.Options{Auth: staffHeader{}})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	h := srv.Handler()
	for _, path := range []string{"/admin/tokens", "/api/v1/tokens"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Test-Role", "admin")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s without a TokenManager: %d, want 404", path, rec.Code)
		}
	}
}
