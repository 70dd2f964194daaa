package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/rotorhq/rotor/api"
	testcanary "github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
)

// bodyLimit is the request body limit that api documents in its 413
// messages.
const bodyLimit = 64 << 10

// logSink collects log lines and can be emptied between fuzz inputs, so
// each input's search covers only the lines that input caused.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

// twoCredentials serves rotor with the credentials cred-a and cred-b, each
// with an incident and the emergency rotation it opened. It takes a
// testing.TB, so that a fuzz target builds it once for all its inputs.
type twoCredentials struct {
	url       string
	client    *http.Client
	logs      *logSink
	rotations map[string]string // credential id → id of its open rotation
	incidents map[string]string // credential id → id of its incident
}

func setupTwoCredentials(tb testing.TB) *twoCredentials {
	tb.Helper()
	clock := storetest.NewClock()
	logs := &logSink{}
	// A fuzz target empties the sink between inputs, so this search at the
	// end covers what the last input and the plain tests logged.
	tb.Cleanup(func() { testcanary.Check(tb, "the log", logs.String()) })
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sim, checker := startPersium(tb, clock, log)

	store := pgstore.New(pgtest.NewPool(tb), clock.Now)
	var creds []rotation.Credential
	backends := map[string]rotation.SecretStore{}
	for _, id := range []string{"cred-a", "cred-b"} {
		c := storetest.Credential(id)
		creds = append(creds, c)
		sim.AddClient(c.ClientID, canary)
		backends[id] = memory.New(canary, secretstore.Format{JSONKey: "client_secret"})
	}
	if err := store.SyncCredentials(context.Background(), creds); err != nil {
		tb.Fatalf("SyncCredentials: %v", err)
	}
	svc := rotation.NewService(rotation.Options{
		Store: store, Secrets: backends, Checker: checker, Now: clock.Now, Logger: log, Notifier: &urgentNotifier{},
	})
	srv, err := api.New(api.Options{Service: svc, Auth: roleHeader{}, Logger: log, Now: clock.Now})
	if err != nil {
		tb.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(hs.Close)

	f := &twoCredentials{
		url: hs.URL, logs: logs, client: hs.Client(),
		rotations: map[string]string{}, incidents: map[string]string{},
	}
	for _, c := range creds {
		status, _, body := f.send(tb, "operator", http.MethodPost, "/api/v1/credentials/"+c.ID+"/incidents", "application/json",
			[]byte(`{"what":"public_commit","detected_at":"2026-03-01T09:00:00Z"}`))
		var inc struct {
			ID         string `json:"id"`
			RotationID string `json:"rotation_id"`
		}
		if err := json.Unmarshal(body, &inc); status != http.StatusCreated || err != nil || inc.RotationID == "" {
			tb.Fatalf("report incident on %s: %d %s", c.ID, status, body)
		}
		f.incidents[c.ID], f.rotations[c.ID] = inc.ID, inc.RotationID
	}
	return f
}

// send sends one request as role ("" for none) and returns the response.
// It fails t when no response arrives.
func (f *twoCredentials) send(t testing.TB, role, method, path, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest %s %q: %v", method, path, err)
	}
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %q: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response to %s %q: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// errorMessage returns the message of a JSON error body, or fails.
func errorMessage(t *testing.T, resp response) string {
	t.Helper()
	e, ok := resp.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("response has no error object: %s", resp.body)
	}
	msg, _ := e["message"].(string)
	return msg
}

// jsonRoutes lists every POST route of the JSON API with a body that
// decodes, for requests that change only one thing in it.
func jsonRoutes(rotationID, incidentID string) []struct{ path, body string } {
	var out []struct{ path, body string }
	for _, r := range mutatingRoutes(rotationID, incidentID) {
		if strings.HasPrefix(r.path, "/api/") {
			out = append(out, r)
		}
	}
	return out
}

func TestBodyOverLimitNamesLimit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	incidentID := f.reportIncident(t, `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`)["id"].(string)
	limit := strconv.Itoa(bodyLimit)

	over := `{"reason":"` + strings.Repeat("a", bodyLimit) + `"}`
	for _, route := range jsonRoutes(id, incidentID) {
		resp := f.post(route.path, over)
		if resp.status != http.StatusRequestEntityTooLarge || resp.errorCode(t) != "body_too_large" {
			t.Errorf("POST %s with %d bytes: %d %s, want 413 body_too_large", route.path, len(over), resp.status, resp.body)
			continue
		}
		if msg := errorMessage(t, resp); !strings.Contains(msg, limit) {
			t.Errorf("POST %s: 413 message %q does not name the limit of %s bytes", route.path, msg, limit)
		}
	}

	// A body of exactly the limit is read, and the service rejects the
	// reason for its own length.
	atLimit := `{"reason":"` + strings.Repeat("a", bodyLimit-len(`{"reason":""}`)) + `"}`
	if len(atLimit) != bodyLimit {
		t.Fatalf("test body is %d bytes, want %d", len(atLimit), bodyLimit)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/cancel", atLimit); resp.status != http.StatusBadRequest || resp.errorCode(t) != "invalid_reason" {
		t.Errorf("body of exactly %d bytes: %d %s, want 400 invalid_reason", bodyLimit, resp.status, resp.body)
	}

	// Without a Content-Length, the body is sent chunked and cut off at the
	// limit just the same.
	req, err := http.NewRequest(http.MethodPost, f.server.URL+"/api/v1/rotations/"+id+"/cancel", io.MultiReader(strings.NewReader(over)))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("X-Test-Role", "operator")
	req.Header.Set("Content-Type", "application/json")
	chunked, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("chunked POST: %v", err)
	}
	chunked.Body.Close()
	if chunked.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: %d, want 413", chunked.StatusCode)
	}

	// The UI's forms have the same limit.
	form := url.Values{"reason": {strings.Repeat("a", bodyLimit)}}.Encode()
	resp := f.do("operator", http.MethodPost, "/rotations/"+id+"/cancel", "application/x-www-form-urlencoded", form)
	if resp.status != http.StatusRequestEntityTooLarge || !strings.Contains(resp.body, limit) {
		t.Errorf("form over the limit: %d, want 413 naming %s bytes", resp.status, limit)
	}

	if rot := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t); rot["state"] != string(rotation.StateRequested) {
		t.Errorf("rotation state after rejected bodies = %v, want requested", rot["state"])
	}
}

func TestInvalidUTF8NamesField(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	incidentID := f.reportIncident(t, `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`)["id"].(string)

	// Each body has one field with bytes that are not UTF-8, written as
	// \xNN in the raw strings below.
	escapes := regexp.MustCompile(`\\x[0-9a-f]{2}`)
	invalid := func(body string) string {
		return escapes.ReplaceAllStringFunc(body, func(e string) string {
			b, _ := strconv.ParseUint(e[2:], 16, 8)
			return string([]byte{byte(b)})
		})
	}
	cases := []struct{ path, field, body string }{
		{"/api/v1/credentials/cred-a/rotations", "reason", `{"kind":"manual","reason":"quarterly \xff"}`},
		{"/api/v1/credentials/cred-a/rotations", "ticket", `{"kind":"manual","ticket":"PER-\xff"}`},
		{"/api/v1/credentials/cred-a/rotations", "kind", `{"kind":"man\xffual"}`},
		{"/api/v1/rotations/" + id + "/issued", "secret", `{"secret":"new-\xff-secret"}`},
		{"/api/v1/rotations/" + id + "/issued", "staged_version", `{"staged_version":"7\xff"}`},
		{"/api/v1/rotations/" + id + "/issued", "reason", `{"secret":"new-secret","reason":"\xfe\xff"}`},
		{"/api/v1/rotations/" + id + "/promote", "reason", `{"reason":"\xff"}`},
		{"/api/v1/rotations/" + id + "/rollback", "reason", `{"reason":"\xc3"}`},
		{"/api/v1/rotations/" + id + "/retire", "reason", `{"persium_confirmed":true,"reason":"x\xffy"}`},
		{"/api/v1/rotations/" + id + "/cancel", "reason", `{"reason":"\xed\xa0\x80"}`}, // an encoded surrogate
		{"/api/v1/rotations/" + id + "/resume", "reason", `{"reason":"\xff"}`},
		{"/api/v1/rotations/" + id + "/force-revoked", "reason", `{"reason":"\xff"}`},
		{"/api/v1/credentials/cred-a/incidents", "what", `{"what":"oth\xffer","detected_at":"2026-03-01T09:00:00Z"}`},
		{"/api/v1/credentials/cred-a/incidents", "detected_at", `{"what":"other","detected_at":"2026-03-01T09:00:00Z\xff"}`},
		{"/api/v1/credentials/cred-a/incidents", "reference", `{"what":"other","detected_at":"2026-03-01T09:00:00Z","reference":"INC-\xff"}`},
		{"/api/v1/credentials/cred-a/incidents", "details", `{"what":"other","detected_at":"2026-03-01T09:00:00Z","details":"line\n\xff"}`}, // \n is JSON's
		{"/api/v1/incidents/" + incidentID + "/checklist", "title", `{"title":"CI \xff caches"}`},
		{"/api/v1/incidents/" + incidentID + "/checklist/1/done", "note", `{"note":"clean \xff"}`},
	}
	for _, c := range cases {
		t.Run(c.field+" "+c.path, func(t *testing.T) {
			body := invalid(c.body)
			if utf8.ValidString(body) {
				t.Fatalf("test body %q is valid UTF-8", body)
			}
			resp := f.post(c.path, body)
			if resp.status != http.StatusBadRequest || resp.errorCode(t) != "invalid_body" {
				t.Fatalf("%d %s, want 400 invalid_body", resp.status, resp.body)
			}
			msg := errorMessage(t, resp)
			if !strings.Contains(msg, `"`+c.field+`"`) || !strings.Contains(msg, "UTF-8") {
				t.Errorf("message %q does not name the field %q and UTF-8", msg, c.field)
			}
			if strings.Contains(msg, "\ufffd") {
				t.Errorf("message %q quotes the invalid text", msg)
			}
		})
	}

	resp := f.post("/api/v1/rotations/"+id+"/cancel", "{\"rea\xffson\":\"r\"}")
	if resp.status != http.StatusBadRequest || !strings.Contains(errorMessage(t, resp), "field name") {
		t.Errorf("invalid UTF-8 in a field name: %d %s, want 400 naming a field name", resp.status, resp.body)
	}
	// Escaped text is decoded by JSON's rules, so it is valid UTF-8.
	if resp := f.post("/api/v1/rotations/"+id+"/promote", `{"reason":"caf\u00e9"}`); resp.status != http.StatusConflict {
		t.Errorf("an escaped é in the reason: %d %s, want 409 (decoded, wrong state)", resp.status, resp.body)
	}
	if rot := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t); rot["state"] != string(rotation.StateRequested) {
		t.Errorf("rotation state after rejected bodies = %v, want requested", rot["state"])
	}
}

func TestUnknownFieldsNamed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	incidentID := f.reportIncident(t, `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`)["id"].(string)

	for _, route := range jsonRoutes(id, incidentID) {
		body := strings.TrimSuffix(route.body, "}")
		if body != "{" {
			body += ","
		}
		body += `"actor":"mallory"}`
		resp := f.post(route.path, body)
		if resp.status != http.StatusBadRequest || resp.errorCode(t) != "invalid_body" {
			t.Errorf("POST %s with an unknown field: %d %s, want 400 invalid_body", route.path, resp.status, resp.body)
			continue
		}
		if msg := errorMessage(t, resp); !strings.Contains(msg, `"actor"`) || !strings.Contains(msg, "remove it") {
			t.Errorf("POST %s: message %q does not name the field \"actor\"", route.path, msg)
		}
	}

	// A long field name is cut in the message, which stays short.
	long := strings.Repeat("x", 5000)
	resp := f.post("/api/v1/rotations/"+id+"/cancel", `{"`+long+`":1}`)
	if resp.status != http.StatusBadRequest {
		t.Fatalf("long unknown field: %d, want 400", resp.status)
	}
	if msg := errorMessage(t, resp); len(msg) > 300 || !strings.Contains(msg, "xxxx") {
		t.Errorf("message for a %d-byte field name is %d bytes long: %q", len(long), len(msg), msg)
	}
}

func TestTrailingDataRejected(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	path := "/api/v1/rotations/" + id + "/promote"

	for _, body := range []string{
		`{"reason":"r"}}`,
		`{"reason":"r"}]`,
		`{"reason":"r"} x`,
		`{"reason":"r"}{"reason":"s"}`,
		`{"reason":"r"},`,
		`{"reason":"r"} null`,
		"{\"reason\":\"r\"}\x00",
	} {
		resp := f.post(path, body)
		if resp.status != http.StatusBadRequest || resp.errorCode(t) != "invalid_body" {
			t.Errorf("body %q: %d %s, want 400 invalid_body", body, resp.status, resp.body)
		}
	}

	// White space after the object is not trailing data. The rotation is
	// requested, so a body that decodes gets 409 wrong_state.
	if resp := f.post(path, "{\"reason\":\"r\"}\r\n\t "); resp.status != http.StatusConflict || resp.errorCode(t) != "wrong_state" {
		t.Errorf("body with trailing white space: %d %s, want 409 wrong_state", resp.status, resp.body)
	}
}

func TestContentTypeOfJSONBody(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	path := "/api/v1/rotations/" + id + "/promote"

	// The rotation is requested, so a body that decodes gets 409.
	cases := []struct {
		contentType, body string
		status            int
	}{
		{"application/json", `{"reason":"r"}`, http.StatusConflict},
		{"application/json; charset=utf-8", `{"reason":"r"}`, http.StatusConflict},
		{"Application/JSON; Charset=UTF-8", `{"reason":"r"}`, http.StatusConflict},
		{"", ``, http.StatusConflict}, // no body: promote's body is optional
		{"text/plain", ``, http.StatusConflict},
		{"", `{"reason":"r"}`, http.StatusUnsupportedMediaType},
		{"text/plain", `{"reason":"r"}`, http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", `reason=r`, http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", "--x\r\n\r\nr\r\n--x--", http.StatusUnsupportedMediaType},
		{"application/jsonp", `{"reason":"r"}`, http.StatusUnsupportedMediaType},
		{"application/json; charset=iso-8859-1", `{"reason":"r"}`, http.StatusUnsupportedMediaType},
		{"application/json; charset=utf-16", `{"reason":"r"}`, http.StatusUnsupportedMediaType},
		{"application/json;;", `{"reason":"r"}`, http.StatusUnsupportedMediaType},
	}
	for _, c := range cases {
		resp := f.do("operator", http.MethodPost, path, c.contentType, c.body)
		if resp.status != c.status {
			t.Errorf("Content-Type %q, body %q: %d %s, want %d", c.contentType, c.body, resp.status, resp.body, c.status)
			continue
		}
		if resp.status == http.StatusUnsupportedMediaType && !strings.Contains(errorMessage(t, resp), "Content-Type: application/json") {
			t.Errorf("Content-Type %q: message %q does not say which type to send", c.contentType, errorMessage(t, resp))
		}
	}
	resp := f.do("operator", http.MethodPost, path, "application/json; charset=latin1", `{}`)
	if msg := errorMessage(t, resp); !strings.Contains(msg, "latin1") || !strings.Contains(msg, "UTF-8") {
		t.Errorf("message for charset latin1 %q does not name the charset and UTF-8", msg)
	}
}

// scriptPayloads are markup that runs script if a page copied it
// unescaped. %s is the name of the field that carries it, so each page can
// be checked for each field it shows.
var scriptPayloads = []string{
	`<script>alert('%s')</script>`,
	`"><img src=x onerror=alert('%s')>`,
}

// Every free-text field is stored as typed, returned as typed by the JSON
// API, rendered escaped in every HTML page and escaped in the Markdown
// export.
func TestScriptPayloadsRenderEscaped(t *testing.T) {
	t.Parallel()
	for _, payload := range scriptPayloads {
		t.Run(payload, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			text := func(field string) string { return fmt.Sprintf(payload, field) }
			jsonText := func(fields ...string) string {
				m := map[string]any{}
				for i := 0; i+1 < len(fields); i += 2 {
					m[fields[i]] = fields[i+1]
				}
				b, err := json.Marshal(m)
				if err != nil {
					t.Fatalf("marshal: %v", err)
				}
				return string(b)
			}

			resp := f.post("/api/v1/credentials/cred-a/rotations", jsonText("kind", "manual", "reason", text("reason"), "ticket", text("ticket")))
			if resp.status != http.StatusCreated {
				t.Fatalf("request rotation: %d %s", resp.status, resp.body)
			}
			rot := resp.json(t)
			id := rot["id"].(string)
			if rot["reason"] != text("reason") || rot["ticket"] != text("ticket") {
				t.Errorf("rotation reason %q, ticket %q: not stored as sent", rot["reason"], rot["ticket"])
			}
			inc := f.reportIncident(t, jsonText("what", "other", "detected_at", "2026-03-01T09:00:00Z",
				"reference", text("reference"), "details", text("details")))
			incidentID := inc["id"].(string)
			if resp := f.post("/api/v1/incidents/"+incidentID+"/checklist", jsonText("title", text("title"))); resp.status != http.StatusCreated {
				t.Fatalf("add checklist item: %d %s", resp.status, resp.body)
			}
			resp = f.post("/api/v1/incidents/"+incidentID+"/checklist/4/done", jsonText("note", text("note")))
			if resp.status != http.StatusOK {
				t.Fatalf("tick checklist item: %d %s", resp.status, resp.body)
			}
			// The cancellation's reason goes into the audit log, which the
			// rotation page shows.
			if resp := f.post("/api/v1/rotations/"+id+"/cancel", jsonText("reason", text("cancel"))); resp.status != http.StatusOK {
				t.Fatalf("cancel: %d %s", resp.status, resp.body)
			}

			got := f.do("viewer", http.MethodGet, "/api/v1/incidents/"+incidentID, "", "").json(t)
			items := got["checklist"].([]any)
			last := items[len(items)-1].(map[string]any)
			for field, value := range map[string]any{"reference": got["reference"], "details": got["details"], "title": last["title"], "note": last["note"]} {
				if value != text(field) {
					t.Errorf("incident %s = %q, want it stored as sent, %q", field, value, text(field))
				}
			}

			pages := []struct {
				path   string
				fields []string // fields the page shows
			}{
				{"/rotations/" + id, []string{"reason", "ticket", "cancel"}},
				{"/incidents/" + incidentID, []string{"reference", "details", "title", "note"}},
				{"/credentials/cred-a", nil},
				{"/", nil},
			}
			for _, p := range pages {
				page := f.do("viewer", http.MethodGet, p.path, "", "")
				if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
					t.Errorf("GET %s: %d %s, want an HTML page", p.path, page.status, page.header.Get("Content-Type"))
					continue
				}
				for _, field := range []string{"reason", "ticket", "cancel", "reference", "details", "title", "note"} {
					if strings.Contains(page.body, text(field)) {
						t.Errorf("GET %s shows the %s unescaped", p.path, field)
					}
				}
				for _, field := range p.fields {
					if !strings.Contains(page.body, template.HTMLEscapeString(text(field))) {
						t.Errorf("GET %s does not show the %s escaped, as %s", p.path, field, template.HTMLEscapeString(text(field)))
					}
				}
				if strings.Contains(page.body, "<script") || strings.Contains(page.body, "<img") {
					t.Errorf("GET %s contains markup from a payload", p.path)
				}
			}

			md := f.do("viewer", http.MethodGet, "/incidents/"+incidentID+".md", "", "")
			if md.status != http.StatusOK || !strings.HasPrefix(md.header.Get("Content-Type"), "text/markdown") {
				t.Fatalf("Markdown export: %d %s", md.status, md.header.Get("Content-Type"))
			}
			if md.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(md.header.Get("Content-Disposition"), "attachment") {
				t.Errorf("Markdown export can be shown as a page: nosniff %q, disposition %q",
					md.header.Get("X-Content-Type-Options"), md.header.Get("Content-Disposition"))
			}
			// The request to Persium, which quotes the reference, is an
			// indented code block, whose text Markdown shows as it is.
			var prose []string
			for line := range strings.Lines(md.body) {
				if !strings.HasPrefix(line, "    ") {
					prose = append(prose, line)
				}
			}
			for _, field := range []string{"reference", "details", "title", "note", "cancel"} {
				if strings.Contains(strings.Join(prose, ""), text(field)) {
					t.Errorf("Markdown export has the %s unescaped outside a code block", field)
				}
			}
			for _, field := range []string{"reference", "details", "title", "note"} {
				if escaped := markdownEscaped(text(field)); !strings.Contains(md.body, escaped) {
					t.Errorf("Markdown export lacks the %s as escaped text %q", field, escaped)
				}
			}

			// JSON responses escape < and > too, so a browser that sniffs
			// one as HTML finds no markup.
			for _, path := range []string{"/api/v1/rotations/" + id, "/api/v1/rotations/" + id + "/events", "/api/v1/incidents/" + incidentID} {
				if body := f.do("viewer", http.MethodGet, path, "", "").body; strings.ContainsAny(body, "<>") {
					t.Errorf("GET %s: JSON with a raw < or >", path)
				}
			}
		})
	}
}

// markdownEscaped is s with a backslash before each character that the
// Markdown export escapes.
func markdownEscaped(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>#|!~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Ids that name nothing get 404, in JSON under /api/ and as an escaped
// HTML page elsewhere, never a 500. The message names an id of the right
// shape, and only the length of any other text, which may be a secret
// pasted into the wrong place.
func TestUnknownAndHostileIDs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	incidentID := f.reportIncident(t, `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`)["id"].(string)

	ids := map[string]string{
		"unknown UUID":  "00000000-0000-0000-0000-000000000000",
		"word":          "nope",
		"NUL":           "a\x00b",
		"invalid UTF-8": "a\xffb",
		"markup":        "<script>alert(1)</script>",
		"dot segments":  "..%2F..%2Fetc",
		"long":          strings.Repeat("9", 2000),
		"non-ASCII":     "ключ",
	}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			escaped := url.PathEscape(id)
			for _, path := range []string{
				"/api/v1/credentials/" + escaped,
				"/api/v1/rotations/" + escaped,
				"/api/v1/rotations/" + escaped + "/events",
				"/api/v1/incidents/" + escaped,
			} {
				resp := f.do("viewer", http.MethodGet, path, "", "")
				checkNotFound(t, "GET "+path, resp, id)
			}
			for _, route := range mutatingRoutes(escaped, escaped) {
				if strings.HasPrefix(route.path, "/dev/") || strings.Contains(route.path, "cred-a") {
					continue
				}
				checkNotFound(t, "POST "+route.path, f.post(route.path, route.body), id)
			}
			for path, body := range map[string]string{
				"/api/v1/credentials/" + escaped + "/rotations": `{"kind":"manual"}`,
				"/api/v1/credentials/" + escaped + "/incidents": `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`,
			} {
				checkNotFound(t, "POST "+path, f.post(path, body), id)
			}

			for _, path := range []string{"/rotations/" + escaped, "/credentials/" + escaped, "/incidents/" + escaped, "/incidents/" + escaped + ".md"} {
				page := f.do("viewer", http.MethodGet, path, "", "")
				if page.status != http.StatusNotFound || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
					t.Errorf("GET %s: %d %s, want a 404 HTML page", path, page.status, page.header.Get("Content-Type"))
				}
				if strings.Contains(page.body, "<script>alert") {
					t.Errorf("GET %s shows the id unescaped", path)
				}
			}
		})
	}

	// An item number that the incident does not have.
	for _, item := range []string{"4", "99999999999999999999", "-1", "1e3"} {
		path := "/api/v1/incidents/" + incidentID + "/checklist/" + item + "/done"
		resp := f.post(path, `{"note":"n"}`)
		if resp.status != http.StatusNotFound || resp.errorCode(t) != "not_found" || !strings.Contains(errorMessage(t, resp), "item") {
			t.Errorf("POST %s: %d %s, want 404 naming the item", path, resp.status, resp.body)
		}
	}
}

// checkNotFound checks a 404 JSON error that names id, cut to a length
// that keeps the message short.
func checkNotFound(t *testing.T, request string, resp response, id string) {
	t.Helper()
	if resp.status != http.StatusNotFound || resp.errorCode(t) != "not_found" {
		t.Errorf("%s: %d %s, want 404 not_found", request, resp.status, resp.body)
		return
	}
	msg := errorMessage(t, resp)
	if len(msg) > 300 {
		t.Errorf("%s: the message is %d bytes long", request, len(msg))
	}
	if strings.Contains(msg, "-byte id given, which is not a") {
		if len(id) >= 4 && strings.Contains(msg, id) {
			t.Errorf("%s: message %q repeats text that is not an id", request, msg)
		}
		return
	}
	if !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return // the message may show it escaped or replaced
	}
	// The router matches the escaped path when decoding it would be
	// ambiguous, as with an escaped /, and the message then names the id
	// as escaped.
	for _, form := range []string{id, url.PathEscape(id)} {
		if len(form) > 64 {
			form = form[:64]
		}
		if strings.Contains(msg, form) {
			return
		}
	}
	t.Errorf("%s: message %q does not name the id", request, msg)
}

// Checklist items are numbered per incident: an item number that exists
// only in another incident is unknown, and ticking it changes neither.
func TestChecklistItemOfAnotherIncident(t *testing.T) {
	t.Parallel()
	f := setupTwoCredentials(t)
	a, b := f.incidents["cred-a"], f.incidents["cred-b"]

	status, _, body := f.send(t, "operator", http.MethodPost, "/api/v1/incidents/"+a+"/checklist", "application/json", []byte(`{"title":"only on A"}`))
	if status != http.StatusCreated {
		t.Fatalf("add item to incident A: %d %s", status, body)
	}

	status, _, body = f.send(t, "operator", http.MethodPost, "/api/v1/incidents/"+b+"/checklist/4/done", "application/json", []byte(`{"note":"checked"}`))
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); status != http.StatusNotFound || err != nil || e.Error.Code != "not_found" {
		t.Fatalf("tick A's item 4 through incident B: %d %s, want 404 not_found", status, body)
	}
	if !strings.Contains(e.Error.Message, b) || !strings.Contains(e.Error.Message, "4") {
		t.Errorf("message %q does not name incident B and item 4", e.Error.Message)
	}

	for id, wantItems := range map[string]int{a: 4, b: 3} {
		_, _, body := f.send(t, "viewer", http.MethodGet, "/api/v1/incidents/"+id, "", nil)
		var inc struct {
			ItemsLeft int `json:"items_left"`
			Checklist []struct{ Done bool }
		}
		if err := json.Unmarshal(body, &inc); err != nil {
			t.Fatalf("incident %s: %v", id, err)
		}
		if len(inc.Checklist) != wantItems || inc.ItemsLeft != wantItems {
			t.Errorf("incident %s: %d items, %d left; want %d open items", id, len(inc.Checklist), inc.ItemsLeft, wantItems)
		}
	}

	// The UI form is rejected the same way, on incident B's page.
	status, _, body = f.send(t, "operator", http.MethodPost, "/incidents/"+b+"/checklist/4/done", "application/x-www-form-urlencoded", []byte("note=checked"))
	if status != http.StatusNotFound || !bytes.Contains(body, []byte("no checklist item 4")) {
		t.Errorf("UI tick of A's item through incident B: %d, want 404 naming item 4", status)
	}
}

// A rotation is addressed by its id alone, so rotor has no route where a
// rotation id could be paired with another credential's id. Cancelling one
// credential's rotation leaves the other's open.
func TestRotationOfAnotherCredential(t *testing.T) {
	t.Parallel()
	f := setupTwoCredentials(t)
	status, _, body := f.send(t, "viewer", http.MethodGet, "/api/v1/credentials/cred-b/rotations/"+f.rotations["cred-a"], "", nil)
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("a rotation of cred-a under cred-b's URL: %d %s, want 404 or 405", status, body)
	}

	status, _, body = f.send(t, "operator", http.MethodPost, "/api/v1/rotations/"+f.rotations["cred-a"]+"/cancel", "application/json", []byte(`{"reason":"test"}`))
	if status != http.StatusOK {
		t.Fatalf("cancel cred-a's rotation: %d %s", status, body)
	}
	_, _, body = f.send(t, "viewer", http.MethodGet, "/api/v1/credentials/cred-b", "", nil)
	var cred struct {
		OpenRotationID *string `json:"open_rotation_id"`
	}
	if err := json.Unmarshal(body, &cred); err != nil || cred.OpenRotationID == nil || *cred.OpenRotationID != f.rotations["cred-b"] {
		t.Errorf("cred-b's open rotation after cancelling cred-a's: %s", body)
	}
}

// A form field with invalid UTF-8 gets 400 naming the field, never the
// text, on the pages too.
func TestInvalidUTF8InFormNamesField(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	resp := f.do("operator", http.MethodPost, "/rotations/"+id+"/cancel", "application/x-www-form-urlencoded", "reason=zq9x%FFtext")
	if resp.status != http.StatusBadRequest {
		t.Fatalf("cancel form with invalid UTF-8: %d, want 400", resp.status)
	}
	if !strings.Contains(resp.body, "reason") || !strings.Contains(resp.body, "not valid UTF-8") {
		t.Errorf("the error page does not name the field: %s", resp.body)
	}
	if strings.Contains(resp.body, "zq9x") {
		t.Errorf("the error page repeats the text: %s", resp.body)
	}
}
