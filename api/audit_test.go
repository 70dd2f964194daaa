package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
)

// auditZone is the display time zone of the audit tests: five hours
// behind UTC, so a date filter read in UTC would select other events.
var auditZone = time.FixedZone("UTC-5", -5*60*60)

// setupAudit is setup with a second credential, cred-b, and the display
// time zone auditZone. It also returns the store, to write events
// directly.
func setupAudit(t *testing.T) (*fixture, *pgstore.Store) {
	t.Helper()
	f, store, _ := setupAuditWithTokens(t)
	return f, store
}

// setupAuditWithTokens is setupAudit with API tokens in the same schema,
// managed on /admin/tokens and /api/v1/tokens as rotor serve does. People
// still authenticate by roleHeader. It also returns the token store, to
// create and revoke tokens directly.
func setupAuditWithTokens(t *testing.T) (*fixture, *pgstore.Store, *apitoken.Store) {
	t.Helper()
	clock := storetest.NewClock()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sim, checker := startPersium(t, clock, log)

	creds := []rotation.Credential{storetest.Credential("cred-a"), storetest.Credential("cred-b")}
	backends := map[string]rotation.SecretStore{}
	var backendA *memory.Store
	for _, c := range creds {
		sim.AddClient(c.ClientID, canary)
		b := memory.New(canary, secretstore.Format{JSONKey: "client_secret"})
		backends[c.ID] = b
		if c.ID == "cred-a" {
			backendA = b
		}
	}
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, clock.Now)
	tokens := apitoken.New(pool, clock.Now, log)
	if err := store.SyncCredentials(context.Background(), creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	urgent, persium := &urgentNotifier{}, &persiumMailbox{}
	svc := rotation.NewService(rotation.Options{
		Store: store, Secrets: backends, Checker: checker, Now: clock.Now, Logger: log,
		Notifier: urgent, PersiumMailer: persium,
	})
	srv, err := api.New(api.Options{Service: svc, Auth: roleHeader{}, Tokens: tokens, Logger: log, Now: clock.Now, Dev: sim, Location: auditZone})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	f := &fixture{t: t, server: hs, sim: sim, backend: backendA, clock: clock, logs: logs, urgent: urgent, persium: persium}
	t.Cleanup(f.assertNoCanary)
	return f, store, tokens
}

// auditEntry is the part of an entry of GET /api/v1/audit that the tests
// compare.
type auditEntry struct {
	Source       string  `json:"source"`
	ID           int64   `json:"id"`
	At           string  `json:"at"`
	Actor        string  `json:"actor"`
	Action       string  `json:"action"`
	CredentialID string  `json:"credential_id"`
	RotationID   string  `json:"rotation_id"`
	IncidentID   *string `json:"incident_id"`
	TokenID      *string `json:"token_id"`
	TokenName    *string `json:"token_name"`
	From         *string `json:"from"`
	To           *string `json:"to"`
	Reason       string  `json:"reason"`
	Detail       string  `json:"detail"`
}

// String returns "source action actor credential", and the token's name
// in place of the credential for a token event.
func (e auditEntry) String() string {
	s := e.Source + " " + e.Action + " " + e.Actor + " " + e.CredentialID
	if e.TokenName != nil {
		s += *e.TokenName
	}
	return s
}

type auditResponse struct {
	Entries    []auditEntry `json:"entries"`
	NextCursor string       `json:"next_cursor"`
}

// audit gets one page of GET /api/v1/audit?query as a viewer.
func (f *fixture) audit(t *testing.T, query string) auditResponse {
	t.Helper()
	resp := f.do("viewer", http.MethodGet, "/api/v1/audit?"+query, "", "")
	if resp.status != http.StatusOK {
		t.Fatalf("GET /api/v1/audit?%s: %d %s", query, resp.status, resp.body)
	}
	var out auditResponse
	if err := json.Unmarshal([]byte(resp.body), &out); err != nil {
		t.Fatalf("GET /api/v1/audit?%s: %v", query, err)
	}
	return out
}

// auditAll pages through GET /api/v1/audit?query with pages of limit and
// calls between after every page but the last.
func (f *fixture) auditAll(t *testing.T, query string, limit int, between func()) []auditEntry {
	t.Helper()
	var all []auditEntry
	cursor := ""
	for range 100 {
		q := query + "&limit=" + fmt.Sprint(limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		page := f.audit(t, q)
		all = append(all, page.Entries...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
		if between != nil {
			between()
		}
	}
	t.Fatalf("paging %s did not end after 100 pages", query)
	return nil
}

func describeEntries(entries []auditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.String()
	}
	return out
}

// auditScenario runs a whole rotation of cred-a, requested by an API token
// and finished by otto, then a compromise of cred-b that ada reports. It
// returns the ids of the rotation of cred-a, the incident and its rotation.
func (f *fixture) auditScenario(t *testing.T) (rotationA, incidentID, rotationB string) {
	t.Helper()
	resp := f.do("token", http.MethodPost, "/api/v1/credentials/cred-a/rotations", "application/json", `{"kind":"manual","reason":"quarterly"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("request rotation as a token: %d %s", resp.status, resp.body)
	}
	rotationA = resp.json(t)["id"].(string)

	f.clock.Advance(time.Minute)
	if resp := f.post("/api/v1/rotations/"+rotationA+"/issued", secretBody(f.issue(t), "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	f.clock.Advance(time.Minute)
	if resp := f.post("/api/v1/rotations/"+rotationA+"/promote", ""); resp.status != http.StatusOK {
		t.Fatalf("promote: %d %s", resp.status, resp.body)
	}
	f.clock.Advance(2 * time.Hour)
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	if resp := f.post("/api/v1/rotations/"+rotationA+"/retire", `{"persium_confirmed":true}`); resp.status != http.StatusOK {
		t.Fatalf("retire: %d %s", resp.status, resp.body)
	}

	f.clock.Advance(time.Minute)
	resp = f.do("admin", http.MethodPost, "/api/v1/credentials/cred-b/incidents", "application/json",
		`{"what":"lost_device","detected_at":"2026-03-01T09:00:00Z","details":"laptop left on a train"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("report incident: %d %s", resp.status, resp.body)
	}
	inc := resp.json(t)
	return rotationA, inc["id"].(string), inc["rotation_id"].(string)
}

// The audit log lists a whole rotation and an incident newest first, each
// event under the person or token that acted.
func TestAuditLogListsEventsInOrder(t *testing.T) {
	t.Parallel()
	f, _ := setupAudit(t)
	rotationA, incidentID, rotationB := f.auditScenario(t)

	page := f.audit(t, "")
	want := []string{
		"incident notify_failed rotor cred-b",
		"incident notified rotor cred-b",
		"incident reported ada cred-b",
		"rotation request ada cred-b",
		"rotation retire otto cred-a",
		"rotation promote otto cred-a",
		"rotation issue otto cred-a",
		"rotation request token:deploy-bot cred-a",
	}
	if diff := cmp.Diff(want, describeEntries(page.Entries)); diff != "" {
		t.Fatalf("audit log, newest first (-want +got):\n%s", diff)
	}
	if page.NextCursor != "" {
		t.Errorf("the only page has next_cursor %q, want empty", page.NextCursor)
	}

	request, retire, reported := page.Entries[7], page.Entries[4], page.Entries[2]
	if request.RotationID != rotationA || request.From != nil || request.To == nil || *request.To != "requested" || request.Reason != "quarterly" {
		t.Errorf("request entry = %+v, want rotation %s null → requested with its reason", request, rotationA)
	}
	if retire.From == nil || *retire.From != "dual_active" || retire.To == nil || *retire.To != "old_retired" || retire.IncidentID != nil {
		t.Errorf("retire entry = %+v, want dual_active → old_retired without an incident", retire)
	}
	if reported.RotationID != rotationB || reported.IncidentID == nil || *reported.IncidentID != incidentID || reported.To != nil {
		t.Errorf("reported entry = %+v, want incident %s of rotation %s without states", reported, incidentID, rotationB)
	}
	if !strings.Contains(page.Entries[0].Detail, "slack") {
		t.Errorf("notify_failed detail = %q, want the failed channel", page.Entries[0].Detail)
	}
}

// Each filter narrows the log to what it names, through the JSON API.
func TestAuditFilters(t *testing.T) {
	t.Parallel()
	f, _ := setupAudit(t)
	f.auditScenario(t)
	// The scenario runs from 09:30 to 11:33 UTC on 1 March. One more event
	// at 03:00 UTC on 2 March, which is 22:00 on 1 March in auditZone.
	f.clock.Advance(15*time.Hour + 27*time.Minute)
	resp := f.do("token", http.MethodPost, "/api/v1/credentials/cred-a/rotations", "application/json", `{"kind":"manual","reason":"late"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("late request: %d %s", resp.status, resp.body)
	}

	late := "rotation request token:deploy-bot cred-a"
	cases := []struct {
		query string
		want  []string
	}{
		{"credential=cred-b", []string{
			"incident notify_failed rotor cred-b", "incident notified rotor cred-b",
			"incident reported ada cred-b", "rotation request ada cred-b"}},
		{"actor=OTTO", []string{
			"rotation retire otto cred-a", "rotation promote otto cred-a", "rotation issue otto cred-a"}},
		{"actor=+token:Deploy-Bot+", []string{late, "rotation request token:deploy-bot cred-a"}},
		{"action=request", []string{late, "rotation request ada cred-b", "rotation request token:deploy-bot cred-a"}},
		{"action=reported", []string{"incident reported ada cred-b"}},
		{"action=request&credential=cred-a&actor=ada", []string{}},
		{"since=2026-03-01T11:33:00Z", []string{late, "incident notify_failed rotor cred-b", "incident notified rotor cred-b",
			"incident reported ada cred-b", "rotation request ada cred-b"}},
		{"until=2026-03-01T09:32:00Z", []string{"rotation issue otto cred-a", "rotation request token:deploy-bot cred-a"}},
		{"until=2026-03-01T09:31:00Z", []string{"rotation request token:deploy-bot cred-a"}}, // the issue at 09:31 is excluded
		{"until=2026-03-01T09:30:00Z", []string{}},
		// Dates are days in auditZone: the late event falls on 1 March there.
		{"since=2026-03-02", []string{}},
		{"since=2026-03-01&until=2026-03-01&action=request", []string{late, "rotation request ada cred-b", "rotation request token:deploy-bot cred-a"}},
		{"until=2026-02-28", []string{}},
		{"since=2026-03-01T22:00:00-05:00", []string{late}},
		{"credential=&actor=&action=&since=&until=", nil}, // empty parameters are no filter
	}
	all := describeEntries(f.audit(t, "").Entries)
	for _, c := range cases {
		want := c.want
		if want == nil {
			want = all
		}
		got := describeEntries(f.auditAll(t, c.query, 2, nil))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET /api/v1/audit?%s (-want +got):\n%s", c.query, diff)
		}
	}
}

// Paging visits each entry once, even while new events arrive between
// pages, and the page links of the UI keep the filters.
func TestAuditPagination(t *testing.T) {
	t.Parallel()
	f, store := setupAudit(t)
	f.auditScenario(t)
	want := f.audit(t, "limit=200").Entries

	// Between pages, work goes on: a new rotation, then incident events.
	incidentID := f.incidentOf(t, want)
	requested := false
	between := func() {
		f.clock.Advance(time.Second)
		if !requested {
			_, err := store.CreateRotation(context.Background(), rotation.Rotation{
				ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "mallory",
			}, rotation.Event{Actor: "mallory", Action: rotation.ActionRequest})
			if err != nil {
				t.Fatalf("CreateRotation: %v", err)
			}
			requested = true
			return
		}
		err := store.AppendIncidentEvent(context.Background(), rotation.IncidentEvent{
			IncidentID: incidentID, Actor: "rotor", Action: rotation.IncidentNotified, Detail: "again"})
		if err != nil {
			t.Fatalf("AppendIncidentEvent: %v", err)
		}
	}
	for _, limit := range []int{1, 3} {
		want := f.audit(t, "limit=200").Entries
		got := f.auditAll(t, "", limit, between)
		seen := map[string]bool{}
		for _, e := range got {
			key := fmt.Sprintf("%s/%d", e.Source, e.ID)
			if seen[key] {
				t.Errorf("pages of %d list %s twice", limit, key)
			}
			seen[key] = true
		}
		if diff := cmp.Diff(describeEntries(want), describeEntries(got)); diff != "" {
			t.Errorf("pages of %d under inserts (-want +got):\n%s", limit, diff)
		}
	}

	// The UI's next-page link keeps the filters and leads to the rest.
	page := f.do("viewer", http.MethodGet, "/audit?credential=cred-b&limit=2", "", "")
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next page</a>`).FindStringSubmatch(page.body)
	if next == nil {
		t.Fatalf("the first of several pages has no Next page link")
	}
	link := html.UnescapeString(next[1])
	u, err := url.Parse(link)
	if err != nil || u.Path != "/audit" || u.Query().Get("credential") != "cred-b" || u.Query().Get("limit") != "2" || u.Query().Get("cursor") == "" {
		t.Fatalf("Next page link %q does not keep the filters and add a cursor", link)
	}
	second := f.do("viewer", http.MethodGet, link, "", "")
	if second.status != http.StatusOK || !strings.Contains(second.body, `href="/audit?credential=cred-b&amp;limit=2">First page</a>`) {
		t.Errorf("the second page: %d, want 200 with a link to the first page that keeps the filters", second.status)
	}
}

// incidentOf returns the incident id of the first incident entry.
func (f *fixture) incidentOf(t *testing.T, entries []auditEntry) string {
	t.Helper()
	for _, e := range entries {
		if e.IncidentID != nil {
			return *e.IncidentID
		}
	}
	t.Fatalf("no incident entry among %d", len(entries))
	return ""
}

// Each filter that cannot be used is a 400 that names the parameter and
// the fix, in JSON and on the page.
func TestAuditRejectsBadFilters(t *testing.T) {
	t.Parallel()
	f, _ := setupAudit(t)
	f.auditScenario(t)

	cases := []struct {
		query, code string
		mentions    []string
	}{
		{"limit=0", "invalid_limit", []string{"limit", "1 to 200"}},
		{"limit=201", "invalid_limit", []string{"limit", "1 to 200"}},
		{"limit=ten", "invalid_limit", []string{"limit", "ten"}},
		{"action=deleted", "invalid_action", []string{"deleted", "request", "retire", "closed", "item_done", "token_created"}},
		{"since=yesterday", "invalid_since", []string{"since", "yesterday", "2026-03-01", "RFC 3339", "UTC-5"}},
		{"until=2026-13-01", "invalid_until", []string{"until", "2026-13-01"}},
		{"since=2026-03-02&until=2026-03-01T00:00:00Z", "invalid_until", []string{"until", "since"}},
		{"cursor=bm90LWlzc3VlZA", "invalid_cursor", []string{"cursor", "first page"}},
		{"cursor=%25%25", "invalid_cursor", []string{"cursor", "first page"}},
		{"credential=cred-z", "invalid_credential", []string{"cred-z", "credential"}},
		{"actor=%FF", "invalid_actor", []string{"actor", "UTF-8"}},
		{"credential=" + strings.Repeat("c", 300), "invalid_credential", []string{"credential"}},
	}
	for _, c := range cases {
		resp := f.do("viewer", http.MethodGet, "/api/v1/audit?"+c.query, "", "")
		if resp.status != http.StatusBadRequest || resp.errorCode(t) != c.code {
			t.Errorf("GET /api/v1/audit?%s: %d %s, want 400 %s", c.query, resp.status, resp.body, c.code)
			continue
		}
		msg := errorMessage(t, resp)
		for _, m := range c.mentions {
			if !strings.Contains(msg, m) {
				t.Errorf("GET /api/v1/audit?%s: message %q does not mention %q", c.query, msg, m)
			}
		}

		page := f.do("viewer", http.MethodGet, "/audit?"+c.query, "", "")
		if page.status != http.StatusBadRequest || !strings.Contains(page.body, `id="filter-error"`) || !strings.Contains(page.body, `<form`) {
			t.Errorf("GET /audit?%s: %d, want 400 with the error above the form", c.query, page.status)
		}
		if strings.Contains(page.body, `<table id="audit"`) {
			t.Errorf("GET /audit?%s lists entries despite the error", c.query)
		}
	}

	// The page marks the field at fault and keeps what was typed.
	page := f.do("viewer", http.MethodGet, "/audit?since=yesterday&actor=otto", "", "")
	if !regexp.MustCompile(`id="audit-since" name="since" value="yesterday"[^>]*aria-invalid="true" aria-describedby="filter-error"`).MatchString(page.body) {
		t.Errorf("the since field is not marked invalid with the typed value kept")
	}
	if !strings.Contains(page.body, `id="audit-actor" name="actor" value="otto"`) {
		t.Errorf("the actor field does not keep its value after an error in another field")
	}
}

// A viewer may read the audit log; a request without a principal may not.
func TestAuditRoles(t *testing.T) {
	t.Parallel()
	f, _ := setupAudit(t)
	for _, path := range []string{"/api/v1/audit", "/audit"} {
		if resp := f.do("viewer", http.MethodGet, path, "", ""); resp.status != http.StatusOK {
			t.Errorf("GET %s as a viewer: %d, want 200", path, resp.status)
		}
		if resp := f.do("", http.MethodGet, path, "", ""); resp.status != http.StatusUnauthorized {
			t.Errorf("GET %s without a principal: %d, want 401", path, resp.status)
		}
	}
	if resp := f.do("", http.MethodGet, "/api/v1/audit", "", ""); resp.errorCode(t) != "unauthenticated" {
		t.Errorf("GET /api/v1/audit without a principal: code %q, want unauthenticated", resp.errorCode(t))
	}
}

// The page is a form and a table that work without JavaScript, with a
// label for each field and different messages for an empty log and for
// filters that match nothing.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	f, _ := setupAudit(t)

	empty := f.do("viewer", http.MethodGet, "/audit", "", "")
	if empty.status != http.StatusOK || !strings.Contains(empty.body, "No audit events yet") || strings.Contains(empty.body, "match these filters") {
		t.Errorf("the page of an empty log: %d, want 200 saying there are no events yet", empty.status)
	}

	rotationA, incidentID, _ := f.auditScenario(t)
	page := f.do("viewer", http.MethodGet, "/audit", "", "")
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /audit: %d %s", page.status, page.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<form class="stack" method="get" action="/audit"`,
		`<a href="/audit">Audit log</a>`, // the link in the header of every page
		`<a href="/rotations/` + rotationA + `">rotation ` + rotationA[:8] + `</a>`,
		`<a href="/incidents/` + incidentID + `">incident ` + incidentID[:8] + `</a>`,
		`<a href="/credentials/cred-b">cred-b</a>`,
		`token:deploy-bot`,
		`dual_active → old_retired`,
		`<option value="cred-b">cred-b</option>`,
		`<optgroup label="Incident">`,
		`Times are shown in UTC-5`,
		// 09:30 UTC on 1 March, in auditZone.
		`<time datetime="2026-03-01T09:30:00Z" title="2026-03-01T09:30:00Z">2026-03-01 04:30 UTC-5</time>`,
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("GET /audit lacks %s", want)
		}
	}
	if strings.Contains(page.body, "<script") {
		t.Errorf("GET /audit contains a script element; the page must work without JavaScript")
	}

	// Every form field has a label, so screen readers name it.
	ids := regexp.MustCompile(`<(?:input|select) (?:type="text" )?id="([^"]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(ids) != 5 {
		t.Errorf("the form has %d fields, want 5 (credential, actor, action, since, until)", len(ids))
	}
	for _, m := range ids {
		if !strings.Contains(page.body, `<label for="`+m[1]+`"`) {
			t.Errorf("form field %s has no label", m[1])
		}
	}

	filtered := f.do("viewer", http.MethodGet, "/audit?credential=cred-a&actor=nobody", "", "")
	if filtered.status != http.StatusOK || !strings.Contains(filtered.body, "No audit events match these filters") ||
		!strings.Contains(filtered.body, `<a href="/audit">Clear the filters</a>`) || strings.Contains(filtered.body, "No audit events yet") {
		t.Errorf("filters that match nothing: %d, want 200 saying so with a link that clears them", filtered.status)
	}
	if !strings.Contains(filtered.body, `<option value="cred-a" selected>cred-a</option>`) || !strings.Contains(filtered.body, `value="nobody"`) {
		t.Errorf("the form does not show the filters of the URL")
	}
}

// Free text in the audit log is escaped on the page and in JSON.
func TestAuditEscapesScriptPayloads(t *testing.T) {
	t.Parallel()
	f, _ := setupAudit(t)
	for i, payload := range scriptPayloads {
		reason := fmt.Sprintf(payload, "reason")
		body, _ := json.Marshal(map[string]string{"kind": "manual", "reason": reason})
		resp := f.post("/api/v1/credentials/cred-a/rotations", string(body))
		if resp.status != http.StatusCreated {
			t.Fatalf("request rotation: %d %s", resp.status, resp.body)
		}
		id := resp.json(t)["id"].(string)
		cancel, _ := json.Marshal(map[string]string{"reason": fmt.Sprintf(payload, "cancel")})
		if resp := f.post("/api/v1/rotations/"+id+"/cancel", string(cancel)); resp.status != http.StatusOK {
			t.Fatalf("cancel %d: %d %s", i, resp.status, resp.body)
		}
	}

	page := f.do("viewer", http.MethodGet, "/audit?actor="+url.QueryEscape(`"><b>otto`), "", "")
	if page.status != http.StatusOK || strings.Contains(page.body, `"><b>`) {
		t.Errorf("the actor filter is echoed unescaped into the form")
	}
	page = f.do("viewer", http.MethodGet, "/audit", "", "")
	for _, payload := range scriptPayloads {
		for _, field := range []string{"reason", "cancel"} {
			text := fmt.Sprintf(payload, field)
			if strings.Contains(page.body, text) {
				t.Errorf("GET /audit shows the %s %q unescaped", field, text)
			}
			if !strings.Contains(page.body, template.HTMLEscapeString(text)) {
				t.Errorf("GET /audit does not show the %s escaped", field)
			}
		}
	}
	if strings.Contains(page.body, "<script") || strings.Contains(page.body, "<img") {
		t.Errorf("GET /audit contains markup from a payload")
	}
	if body := f.do("viewer", http.MethodGet, "/api/v1/audit", "", "").body; strings.ContainsAny(body, "<>") {
		t.Errorf("GET /api/v1/audit: JSON with a raw < or >")
	}
}

// Requests and responses of GET /api/v1/audit match the OpenAPI document.
func TestAuditOpenAPIConformance(t *testing.T) {
	t.Parallel()
	f, _, tokens := setupAuditWithTokens(t)
	f.auditScenario(t)
	f.clock.Advance(time.Minute)
	tok, _, err := tokens.Create(context.Background(), "ada", "ci-deploy", api.RoleOperator, f.clock.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	if _, err := tokens.Revoke(context.Background(), "ada", tok.ID); err != nil {
		t.Fatalf("revoke token: %v", err)
	}
	raw := f.do("viewer", http.MethodGet, apiPrefix+"/openapi.json", "", "")
	doc, err := openapi3.NewLoader().LoadFromData([]byte(raw.body))
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("legacy.NewRouter: %v", err)
	}
	c := &contract{t: t, f: f, router: router}
	const v = "viewer"
	get := http.MethodGet

	first := c.call(v, get, apiPrefix+"/audit?limit=3", "", http.StatusOK)
	var page auditResponse
	if err := json.Unmarshal([]byte(first.body), &page); err != nil || page.NextCursor == "" {
		t.Fatalf("the first page of 3 has no next_cursor (%v): %s", err, first.body)
	}
	c.call(v, get, apiPrefix+"/audit?limit=3&cursor="+page.NextCursor, "", http.StatusOK)
	c.call(v, get, apiPrefix+"/audit?credential=cred-b&actor=ada&action=reported&since=2026-03-01&until=2026-03-02T00:00:00Z", "", http.StatusOK)
	c.call(v, get, apiPrefix+"/audit?action=item_done", "", http.StatusOK)
	tokenPage := c.call(v, get, apiPrefix+"/audit?actor=ADA&action=token_revoked", "", http.StatusOK)
	if !strings.Contains(tokenPage.body, `"source":"token"`) {
		t.Errorf("the conformance check saw no token entry: %s", tokenPage.body)
	}
	c.call(v, get, apiPrefix+"/audit?since=2026-03-02&until=2026-03-01", "", http.StatusBadRequest)
	c.call(v, get, apiPrefix+"/audit?cursor=not-issued-by-rotor", "", http.StatusBadRequest)
	c.call(v, get, apiPrefix+"/audit?credential=cred-z", "", http.StatusBadRequest)

	c.reject("", get, apiPrefix+"/audit", "", "", http.StatusUnauthorized)
	c.reject(v, get, apiPrefix+"/audit?limit=201", "", "", http.StatusBadRequest)
	c.reject(v, get, apiPrefix+"/audit?action=deleted", "", "", http.StatusBadRequest)
}

// Creating and revoking API tokens are audit entries that a viewer can
// search by actor and action, which name the token and the admin but never
// hold the token or its hash. The page links them to the tokens page for
// admins only.
func TestAuditListsTokenEvents(t *testing.T) {
	t.Parallel()
	f, _, tokens := setupAuditWithTokens(t)
	f.auditScenario(t)

	// 11:34: ada creates ci-deploy through the API. 11:35: she revokes it
	// and creates nightly directly in the store.
	f.clock.Advance(time.Minute)
	resp := f.do("admin", http.MethodPost, "/api/v1/tokens", "application/json", `{"name":"ci-deploy","role":"admin","expires_in_days":90}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("create token: %d %s", resp.status, resp.body)
	}
	created := resp.json(t)
	ciID, _ := created["id"].(string)
	values := []string{created["token"].(string)}
	f.clock.Advance(time.Minute)
	if resp := f.do("admin", http.MethodPost, "/api/v1/tokens/"+ciID+"/revoke", "application/json", `{}`); resp.status != http.StatusOK {
		t.Fatalf("revoke token: %d %s", resp.status, resp.body)
	}
	_, nightly, err := tokens.Create(context.Background(), "ada", "nightly", api.RoleViewer, f.clock.Now().Add(30*24*time.Hour))
	if err != nil {
		t.Fatalf("create token nightly: %v", err)
	}
	values = append(values, nightly.Reveal())

	var bodies []string // every audit response, searched for the tokens at the end
	audit := func(query string) []auditEntry {
		t.Helper()
		entries := f.auditAll(t, query, 2, nil)
		bodies = append(bodies, f.do("viewer", http.MethodGet, "/api/v1/audit?limit=200&"+query, "", "").body)
		return entries
	}

	all := audit("")
	want := []string{
		"token token_created ada nightly",
		"token token_revoked ada ci-deploy",
		"token token_created ada ci-deploy",
		"incident notify_failed rotor cred-b",
		"incident notified rotor cred-b",
		"incident reported ada cred-b",
		"rotation request ada cred-b",
		"rotation retire otto cred-a",
		"rotation promote otto cred-a",
		"rotation issue otto cred-a",
		"rotation request token:deploy-bot cred-a",
	}
	if diff := cmp.Diff(want, describeEntries(all)); diff != "" {
		t.Fatalf("audit log, newest first (-want +got):\n%s", diff)
	}

	revoked := all[1]
	wantDetail := "name ci-deploy, role admin, expires " + created["expires_at"].(string)
	if revoked.Source != "token" || revoked.TokenID == nil || *revoked.TokenID != ciID || revoked.CredentialID != "" ||
		revoked.RotationID != "" || revoked.IncidentID != nil || revoked.From != nil || revoked.To != nil || revoked.Detail != wantDetail {
		t.Errorf("the revocation's entry = %+v, want token %s without credential, rotation or states, and the detail %q",
			revoked, ciID, wantDetail)
	}

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"actor=ADA", []string{
			"token token_created ada nightly", "token token_revoked ada ci-deploy", "token token_created ada ci-deploy",
			"incident reported ada cred-b", "rotation request ada cred-b"}},
		{"action=token_created", []string{"token token_created ada nightly", "token token_created ada ci-deploy"}},
		{"action=token_revoked&actor=ada", []string{"token token_revoked ada ci-deploy"}},
		{"action=token_revoked&actor=otto", []string{}},
		{"credential=cred-b", []string{
			"incident notify_failed rotor cred-b", "incident notified rotor cred-b",
			"incident reported ada cred-b", "rotation request ada cred-b"}},
		{"credential=cred-a&action=token_created", []string{}},
		{"since=2026-03-01T11:35:00Z", []string{"token token_created ada nightly", "token token_revoked ada ci-deploy"}},
	} {
		if diff := cmp.Diff(c.want, describeEntries(audit(c.query))); diff != "" {
			t.Errorf("GET /api/v1/audit?%s (-want +got):\n%s", c.query, diff)
		}
	}

	// Pages of one put a boundary between each two entries, those of one
	// instant in the token log included.
	paged := f.auditAll(t, "", 1, nil)
	seen := map[string]bool{}
	for _, e := range paged {
		key := fmt.Sprintf("%s/%d", e.Source, e.ID)
		if seen[key] {
			t.Errorf("pages of 1 list %s twice", key)
		}
		seen[key] = true
	}
	if diff := cmp.Diff(describeEntries(all), describeEntries(paged)); diff != "" {
		t.Errorf("pages of 1 (-want +got):\n%s", diff)
	}

	// A viewer sees the token's name; an admin also gets a link to it on
	// the tokens page.
	link := `<a href="/admin/tokens#token-` + ciID + `">token ci-deploy</a>`
	viewerPage := f.do("viewer", http.MethodGet, "/audit", "", "")
	bodies = append(bodies, viewerPage.body)
	if viewerPage.status != http.StatusOK || !strings.Contains(viewerPage.body, "<td>token ci-deploy</td>") {
		t.Errorf("GET /audit as a viewer: %d, want 200 with the token's name", viewerPage.status)
	}
	if strings.Contains(viewerPage.body, `href="/admin/tokens`) {
		t.Errorf("GET /audit as a viewer links to the tokens page, which only admins may open")
	}
	for _, want := range []string{`<optgroup label="API token">`, `<option value="token_revoked">token_revoked</option>`, wantDetail} {
		if !strings.Contains(viewerPage.body, want) {
			t.Errorf("GET /audit as a viewer lacks %s", want)
		}
	}
	adminPage := f.do("admin", http.MethodGet, "/audit?action=token_revoked", "", "")
	bodies = append(bodies, adminPage.body)
	if adminPage.status != http.StatusOK || !strings.Contains(adminPage.body, link) ||
		!strings.Contains(adminPage.body, `<option value="token_revoked" selected>`) {
		t.Errorf("GET /audit?action=token_revoked as an admin: %d, want 200 with %s and the action selected", adminPage.status, link)
	}
	if page := f.do("admin", http.MethodGet, "/admin/tokens", "", ""); !strings.Contains(page.body, `id="token-`+ciID+`"`) {
		t.Errorf("the tokens page has no row with the id the audit link points to")
	}

	// Neither token nor its hash appears in any audit response.
	haystack := strings.Join(bodies, "\n")
	if len(bodies) < 10 {
		t.Fatalf("only %d audit responses were searched", len(bodies))
	}
	if tokenPattern.MatchString(haystack) {
		t.Errorf("an audit response contains an API token")
	}
	for _, v := range values {
		hash := sha256.Sum256([]byte(v))
		for _, form := range []string{v, strings.TrimPrefix(v, apitoken.Prefix), hex.EncodeToString(hash[:]),
			base64.StdEncoding.EncodeToString(hash[:]), base64.RawURLEncoding.EncodeToString(hash[:])} {
			if strings.Contains(haystack, form) {
				t.Errorf("an audit response contains an API token or its hash")
			}
		}
	}
}
