package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
)

// urgentNotifier plays two channels: "ops-mail" accepts every message, and
// "slack" fails with an error that names its webhook URL, as a transport
// error can.
type urgentNotifier struct {
	mu   sync.Mutex
	sent []rotation.UrgentMessage
}

func (n *urgentNotifier) NotifyUrgent(ctx context.Context, m rotation.UrgentMessage) []rotation.Delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, m)
	return []rotation.Delivery{
		{Channel: "ops-mail"},
		{Channel: "slack", Err: errors.New("post https://hooks.slack.com/services/T0/B0/CANARYhook: connection refused")},
	}
}

// text returns every message sent, for the canary search.
func (n *urgentNotifier) text() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, m := range n.sent {
		b.WriteString(m.Subject + "\n" + m.Text + "\n")
	}
	return b.String()
}

func (n *urgentNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.sent)
}

// persiumMailbox records the e-mails to Persium's support, and fails them
// while fail is set, as an SMTP server that rejects the message would.
type persiumMailbox struct {
	mu   sync.Mutex
	fail bool
	sent []string // subject, blank line, text
	keys []string
}

func (m *persiumMailbox) SendToPersium(ctx context.Context, subject, text, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("smtp ops-mail: data: 554 5.7.1 message rejected by https://filter.example/policy?token=CANARYmail")
	}
	m.sent = append(m.sent, subject+"\n\n"+text)
	m.keys = append(m.keys, key)
	return nil
}

func (m *persiumMailbox) Route() string { return "support@persium.example through channel ops-mail" }

func (m *persiumMailbox) text() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.sent, "\n")
}

func (f *fixture) reportIncident(t *testing.T, body string) map[string]any {
	t.Helper()
	resp := f.post("/api/v1/credentials/cred-a/incidents", body)
	if resp.status != http.StatusCreated {
		t.Fatalf("report incident: %d %s", resp.status, resp.body)
	}
	return resp.json(t)
}

// checklist returns the incident's items as "title:done" strings.
func checklist(t *testing.T, inc map[string]any) []string {
	t.Helper()
	items, ok := inc["checklist"].([]any)
	if !ok {
		t.Fatalf("incident has no checklist: %v", inc)
	}
	var out []string
	for _, it := range items {
		m := it.(map[string]any)
		done := "open"
		if m["done"] == true {
			done = "done by " + m["done_by"].(string)
		}
		out = append(out, m["title"].(string)+": "+done)
	}
	return out
}

// A compromise reported while a rotation is new_issued, through the JSON
// API: the rotation becomes an emergency, the channels hear at once, the
// early revocation lets promote and retire go ahead without waiting, the
// old value is destroyed, and the checklist keeps the incident open until
// each item is ticked.
func TestIncidentThroughJSONAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	newSecret := f.issue(t)
	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(newSecret, "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}

	inc := f.reportIncident(t, `{"what":"public_commit","detected_at":"2026-03-01T09:10:00+01:00","reference":"INC-7","details":"pushed to a public fork","force_revoke":true}`)
	incidentID := inc["id"].(string)
	if inc["rotation_id"] != id || inc["escalated"] != true || inc["escalated_from"] != "manual" || inc["rotation_state"] != "new_issued" {
		t.Errorf("incident = %v, want rotation %s escalated from manual in new_issued", inc, id)
	}
	if inc["status"] != "open" || inc["reported_by"] != "otto" || inc["detected_at"] != "2026-03-01T08:10:00Z" || inc["items_left"] != 3.0 {
		t.Errorf("incident status %v, reporter %v, detected %v, items left %v", inc["status"], inc["reported_by"], inc["detected_at"], inc["items_left"])
	}
	want := []string{"logs: open", "git history: open", "build artefacts: open"}
	if got := checklist(t, inc); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("checklist = %v, want %v", got, want)
	}
	notes, _ := inc["notifications"].([]any)
	if len(notes) != 2 || notes[0].(map[string]any)["status"] != "sent" || notes[1].(map[string]any)["status"] != "failed" {
		t.Errorf("notifications = %v, want ops-mail sent and slack failed", notes)
	}
	if len(notes) == 2 && strings.Contains(notes[1].(map[string]any)["detail"].(string), "CANARYhook") {
		t.Errorf("a failed notification shows the webhook URL's path: %v", notes[1])
	}
	if f.urgent.count() != 1 {
		t.Errorf("urgent messages sent: %d, want 1", f.urgent.count())
	}
	text, _ := inc["request_text"].(string)
	for _, w := range []string{"URGENT", "client-cred-a", "public commit", "Please do not issue another one", "revoke the previous (compromised) secret now", "fails to get tokens until"} {
		if !strings.Contains(text, w) {
			t.Errorf("request_text lacks %q:\n%s", w, text)
		}
	}
	rot := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t)
	if rot["kind"] != "emergency" || rot["state"] != "new_issued" {
		t.Errorf("rotation after the report: kind %v, state %v", rot["kind"], rot["state"])
	}

	// Persium revokes the old secret before promotion.
	if resp := f.post("/api/v1/rotations/"+id+"/force-revoked", ""); resp.status != http.StatusConflict || resp.errorCode(t) != "old_secret_still_accepted" {
		t.Errorf("force-revoked while the old secret works: %d %s, want 409", resp.status, resp.body)
	}
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	resp := f.post("/api/v1/rotations/"+id+"/force-revoked", `{}`)
	if resp.status != http.StatusOK || resp.json(t)["old_revoked_at"] == nil {
		t.Fatalf("force-revoked: %d %s", resp.status, resp.body)
	}
	promoted := f.post("/api/v1/rotations/"+id+"/promote", "")
	if promoted.status != http.StatusOK {
		t.Fatalf("promote: %d %s", promoted.status, promoted.body)
	}
	oldVersion := secretstore.Version(promoted.json(t)["versions"].(map[string]any)["old"].(string))
	if oldVersion == "" {
		t.Fatalf("promote response names no old version: %s", promoted.body)
	}
	// No time passes: the credential's minimum time in dual_active does not apply.
	if resp := f.post("/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`); resp.status != http.StatusOK || resp.json(t)["state"] != "old_retired" {
		t.Fatalf("retire right after promotion: %d %s", resp.status, resp.body)
	}
	for _, v := range f.backend.Versions() {
		if v.Value.Equal(canary) || (v.Version == oldVersion && v.State != memory.Destroyed) {
			t.Errorf("version %s still holds the old secret (%s) after an emergency retirement", v.Version, v.State)
		}
	}

	// The checklist keeps the incident open.
	inc = f.do("viewer", http.MethodGet, "/api/v1/incidents/"+incidentID, "", "").json(t)
	if inc["status"] != "open" || inc["rotation_state"] != "old_retired" {
		t.Fatalf("after retirement: status %v, rotation %v; want open, old_retired", inc["status"], inc["rotation_state"])
	}
	if resp := f.post("/api/v1/incidents/"+incidentID+"/checklist", `{"title":"CI caches"}`); resp.status != http.StatusCreated || resp.json(t)["items_left"] != 4.0 {
		t.Errorf("add item: %d %s", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/incidents/"+incidentID+"/checklist", `{"title":"ci caches"}`); resp.status != http.StatusConflict || resp.errorCode(t) != "duplicate_item" {
		t.Errorf("duplicate item: %d %s, want 409 duplicate_item", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/incidents/"+incidentID+"/checklist/2/done", `{"note":""}`); resp.status != http.StatusBadRequest || resp.errorCode(t) != "note_required" {
		t.Errorf("tick without a note: %d %s, want 400 note_required", resp.status, resp.body)
	}
	for item := 1; item <= 4; item++ {
		resp := f.post("/api/v1/incidents/"+incidentID+"/checklist/"+string(rune('0'+item))+"/done", `{"note":"searched; removed where found"}`)
		if resp.status != http.StatusOK {
			t.Fatalf("tick item %d: %d %s", item, resp.status, resp.body)
		}
		inc = resp.json(t)
		if wantStatus := map[bool]string{true: "closed", false: "open"}[item == 4]; inc["status"] != wantStatus {
			t.Errorf("after ticking item %d: status %v, want %s", item, inc["status"], wantStatus)
		}
	}
	if got := checklist(t, inc); got[1] != "git history: done by otto" {
		t.Errorf("checklist after ticks = %v", got)
	}
	if resp := f.post("/api/v1/incidents/"+incidentID+"/checklist/1/done", `{"note":"again"}`); resp.status != http.StatusConflict || resp.errorCode(t) != "incident_closed" {
		t.Errorf("tick in a closed incident: %d %s, want 409 incident_closed", resp.status, resp.body)
	}

	md := f.do("viewer", http.MethodGet, "/incidents/"+incidentID+".md", "", "")
	if md.status != http.StatusOK || !strings.HasPrefix(md.header.Get("Content-Type"), "text/markdown") {
		t.Fatalf("Markdown export: %d %s", md.status, md.header.Get("Content-Type"))
	}
	for _, w := range []string{"# Incident " + incidentID, "| Status | closed", "- [x] 2. git history: done by otto", "rotation escalated → new_issued",
		"rotation old_revoked", "incident closed", "## Urgent request to Persium", "CI caches"} {
		if !strings.Contains(md.body, w) {
			t.Errorf("Markdown export lacks %q:\n%s", w, md.body)
		}
	}
}

func TestReportIncidentRejectsInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw, _ := json.Marshal(canary.Reveal())
	cases := map[string]struct {
		body, code string
	}{
		"unknown what":        {`{"what":"hacked","detected_at":"2026-03-01T09:00:00Z"}`, "invalid_what"},
		"no detection time":   {`{"what":"other"}`, "invalid_detected_at"},
		"not RFC 3339":        {`{"what":"other","detected_at":"yesterday"}`, "invalid_detected_at"},
		"in the future":       {`{"what":"other","detected_at":"2026-03-02T09:00:00Z"}`, "invalid_detected_at"},
		"control character":   {`{"what":"other","detected_at":"2026-03-01T09:00:00Z","reference":"INC\u0007"}`, "invalid_reference"},
		"details too long":    {`{"what":"other","detected_at":"2026-03-01T09:00:00Z","details":"` + strings.Repeat("x", 2001) + `"}`, "invalid_details"},
		"secret in details":   {`{"what":"other","detected_at":"2026-03-01T09:00:00Z","details":"found ` + strings.Trim(string(raw), `"`) + ` in a log"}`, "secret_in_text"},
		"secret in reference": {`{"what":"other","detected_at":"2026-03-01T09:00:00Z","reference":"` + url.QueryEscape(canary.Reveal()) + `"}`, "secret_in_text"},
		"force_revoke string": {`{"what":"other","detected_at":"2026-03-01T09:00:00Z","force_revoke":"yes"}`, "invalid_body"},
		"offboarding unnamed": {`{"what":"offboarding","detected_at":"2026-03-01T09:00:00Z"}`, "invalid_departing"},
		"offboarding blank":   {`{"what":"offboarding","detected_at":"2026-03-01T09:00:00Z","departing":"  "}`, "invalid_departing"},
		"departing elsewhere": {`{"what":"lost_device","detected_at":"2026-03-01T09:00:00Z","departing":"Alex Doe"}`, "invalid_departing"},
		"departing too long":  {`{"what":"offboarding","detected_at":"2026-03-01T09:00:00Z","departing":"` + strings.Repeat("x", 201) + `"}`, "invalid_departing"},
	}
	for name, c := range cases {
		resp := f.post("/api/v1/credentials/cred-a/incidents", c.body)
		if resp.status != http.StatusBadRequest || resp.errorCode(t) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", name, resp.status, resp.body, c.code)
		}
	}
	if resp := f.post("/api/v1/credentials/nope/incidents", `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`); resp.status != http.StatusNotFound {
		t.Errorf("unknown credential: %d %s, want 404", resp.status, resp.body)
	}
	cred := f.do("viewer", http.MethodGet, "/api/v1/credentials/cred-a", "", "").json(t)
	if cred["open_rotation_id"] != nil {
		t.Errorf("rejected reports opened rotation %v", cred["open_rotation_id"])
	}
	if f.urgent.count() != 0 {
		t.Errorf("rejected reports sent %d urgent messages", f.urgent.count())
	}

	first := f.reportIncident(t, `{"what":"lost_device","detected_at":"2026-03-01T09:00:00Z"}`)
	if first["escalated"] != false || first["rotation_state"] != "requested" {
		t.Errorf("report without an open rotation: %v", first)
	}
	resp := f.post("/api/v1/credentials/cred-a/incidents", `{"what":"other","detected_at":"2026-03-01T09:00:00Z"}`)
	if resp.status != http.StatusConflict || resp.errorCode(t) != "already_reported" {
		t.Errorf("second report: %d %s, want 409 already_reported", resp.status, resp.body)
	}
	for _, path := range []string{"/api/v1/incidents/nope", "/api/v1/incidents/00000000-0000-0000-0000-000000000000"} {
		if resp := f.do("viewer", http.MethodGet, path, "", ""); resp.status != http.StatusNotFound || resp.errorCode(t) != "not_found" {
			t.Errorf("GET %s: %d %s, want 404", path, resp.status, resp.body)
		}
	}
	for _, item := range []string{"abc", "0", "9"} {
		resp := f.post("/api/v1/incidents/"+first["id"].(string)+"/checklist/"+item+"/done", `{"note":"n"}`)
		if resp.status != http.StatusNotFound {
			t.Errorf("tick item %q: %d %s, want 404", item, resp.status, resp.body)
		}
	}
}

var incidentLocation = regexp.MustCompile(`^/incidents/([0-9a-f-]{36})\?done=reported$`)

// The compromise form on the dashboard, the incident page and its
// checklist forms work with plain form posts, without JavaScript.
func TestIncidentThroughUI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	form := func(path string, values url.Values) response {
		t.Helper()
		return f.do("operator", http.MethodPost, path, "application/x-www-form-urlencoded", values.Encode())
	}

	dash := f.do("operator", http.MethodGet, "/", "", "")
	if !strings.Contains(dash.body, `action="/incidents"`) || !strings.Contains(dash.body, "Report a compromise") {
		t.Fatalf("the dashboard has no compromise form")
	}
	if viewer := f.do("viewer", http.MethodGet, "/", "", ""); strings.Contains(viewer.body, `action="/incidents"`) {
		t.Errorf("the dashboard shows the compromise form to a viewer")
	}
	credPage := f.do("operator", http.MethodGet, "/credentials/cred-a", "", "")
	if !strings.Contains(credPage.body, `action="/credentials/cred-a/incidents"`) {
		t.Errorf("the credential page has no compromise form")
	}

	resp := form("/incidents", url.Values{"credential": {"cred-a"}, "what": {"lost_device"}, "detected_at": {"2026-03-01T08:45"},
		"reference": {"INC-9"}, "details": {"<b>laptop</b> left on a train"}})
	m := incidentLocation.FindStringSubmatch(resp.header.Get("Location"))
	if resp.status != http.StatusSeeOther || m == nil {
		t.Fatalf("report form: %d to %q %s", resp.status, resp.header.Get("Location"), resp.body)
	}
	incidentID := m[1]
	page := f.do("viewer", http.MethodGet, resp.header.Get("Location"), "", "")
	for _, w := range []string{`id="notice-reported"`, "lost or stolen", "&lt;b&gt;laptop&lt;/b&gt;", `id="request-text"`, "Please issue a new client secret now",
		"keep the old secret valid", "Since the report", "To the new secret", "waiting, 0s so far", "ops-mail accepted", "Not everyone was notified", "build artefacts"} {
		if !strings.Contains(page.body, w) {
			t.Errorf("incident page lacks %q", w)
		}
	}
	if strings.Contains(page.body, "<b>laptop") {
		t.Errorf("the incident page does not escape the details")
	}
	if strings.Contains(page.body, "/checklist/1/done") {
		t.Errorf("the incident page shows tick forms to a viewer")
	}

	inc := f.do("viewer", http.MethodGet, "/api/v1/incidents/"+incidentID, "", "").json(t)
	if inc["detected_at"] != "2026-03-01T08:45:00Z" || inc["force_revoke"] != false {
		t.Errorf("form report: detected %v, force_revoke %v; want 08:45 UTC, false", inc["detected_at"], inc["force_revoke"])
	}
	rotationID := inc["rotation_id"].(string)
	rotPage := f.do("viewer", http.MethodGet, "/rotations/"+rotationID, "", "")
	if !strings.Contains(rotPage.body, `id="incident-link"`) || !strings.Contains(rotPage.body, "/incidents/"+incidentID) {
		t.Errorf("the rotation page does not link the incident")
	}

	// A tick without a note re-renders the page with the reason.
	resp = form("/incidents/"+incidentID+"/checklist/1/done", url.Values{"note": {" "}})
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "Say what you checked") {
		t.Errorf("tick without a note: %d, want 400 with the reason", resp.status)
	}
	resp = form("/incidents/"+incidentID+"/checklist/1/done", url.Values{"note": {"log archive grepped: clean"}})
	if resp.status != http.StatusSeeOther || !strings.Contains(resp.header.Get("Location"), "done=item-done") {
		t.Errorf("tick form: %d to %q", resp.status, resp.header.Get("Location"))
	}
	resp = form("/incidents/"+incidentID+"/checklist", url.Values{"title": {"laptop backups"}})
	if resp.status != http.StatusSeeOther {
		t.Errorf("add item form: %d %s", resp.status, resp.body)
	}
	page = f.do("viewer", http.MethodGet, "/incidents/"+incidentID, "", "")
	if !strings.Contains(page.body, "done by otto") || !strings.Contains(page.body, "laptop backups") {
		t.Errorf("the incident page does not show the tick and the added item")
	}

	// The early revocation is refused while the old secret still works.
	resp = form("/rotations/"+rotationID+"/force-revoked", url.Values{})
	if resp.status != http.StatusConflict || !strings.Contains(resp.body, "still accepts the old secret") {
		t.Errorf("force-revoked form while the old secret works: %d, want 409 with the reason", resp.status)
	}
	if resp := form("/credentials/cred-a/incidents", url.Values{"what": {"other"}}); resp.status != http.StatusConflict {
		t.Errorf("second report from the credential page: %d, want 409", resp.status)
	}
	if resp := form("/incidents", url.Values{"credential": {"cred-a"}, "what": {"other"}, "detected_at": {"soon"}}); resp.status != http.StatusBadRequest {
		t.Errorf("report form with an unreadable time: %d, want 400", resp.status)
	}
	if resp := f.do("viewer", http.MethodGet, "/incidents/nope", "", ""); resp.status != http.StatusNotFound || !strings.Contains(resp.header.Get("Content-Type"), "text/html") {
		t.Errorf("page of an unknown incident: %d, want a 404 HTML page", resp.status)
	}
}

// The offboarding rotation is cancelled, so the secret stays in use: a
// done checklist does not close the incident, and the page explains what
// to do. A second report opens a new offboarding rotation, and its
// retirement closes the first incident.
func TestCancelledIncidentClosesAfterNextEmergency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.reportIncident(t, `{"what":"offboarding","detected_at":"2026-03-01T07:00:00Z","departing":"Alex Doe"}`)
	firstID, firstRotation := first["id"].(string), first["rotation_id"].(string)
	if first["rotation_kind"] != "offboarding" || first["departing"] != "Alex Doe" {
		t.Errorf("offboarding report: rotation kind %v, departing %v; want offboarding, Alex Doe", first["rotation_kind"], first["departing"])
	}
	if resp := f.post("/api/v1/rotations/"+firstRotation+"/cancel", `{"reason":"opened on the wrong credential by mistake"}`); resp.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", resp.status, resp.body)
	}
	for item := 1; item <= 3; item++ {
		resp := f.post("/api/v1/incidents/"+firstID+"/checklist/"+string(rune('0'+item))+"/done", `{"note":"searched; nothing found"}`)
		if resp.status != http.StatusOK || resp.json(t)["status"] != "open" {
			t.Fatalf("tick item %d: %d %s, want 200 with the incident open", item, resp.status, resp.body)
		}
	}
	page := f.do("viewer", http.MethodGet, "/incidents/"+firstID, "", "")
	if !strings.Contains(page.body, `id="cancelled-note"`) || !strings.Contains(page.body, "still in use") {
		t.Errorf("the page of an incident with a cancelled rotation does not say the leaked secret is still in use")
	}

	f.clock.Advance(time.Hour)
	second := f.reportIncident(t, `{"what":"offboarding","detected_at":"2026-03-01T07:00:00Z","departing":"Alex Doe"}`)
	id := second["rotation_id"].(string)
	if id == firstRotation || second["escalated"] == true || second["rotation_kind"] != "offboarding" {
		t.Fatalf("second report: rotation %v, escalated %v, kind %v; want a new offboarding rotation", id, second["escalated"], second["rotation_kind"])
	}
	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(f.issue(t), "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/force-revoked", `{}`); resp.status != http.StatusOK {
		t.Fatalf("force-revoked: %d %s", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/promote", ""); resp.status != http.StatusOK {
		t.Fatalf("promote: %d %s", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`); resp.status != http.StatusOK {
		t.Fatalf("retire: %d %s", resp.status, resp.body)
	}

	got := f.do("viewer", http.MethodGet, "/api/v1/incidents/"+firstID, "", "").json(t)
	if got["status"] != "closed" {
		t.Errorf("first incident after the next emergency rotation retired: status %v, want closed", got["status"])
	}
	if got := f.do("viewer", http.MethodGet, "/api/v1/incidents/"+second["id"].(string), "", "").json(t); got["status"] != "open" {
		t.Errorf("second incident with its checklist not done: status %v, want open", got["status"])
	}
}

// Staff offboarding opens a rotation of its own kind that records who
// left, turns an open manual rotation into one, leaves an open emergency
// an emergency, and destroys the old version at retirement.
func TestOffboardingReport(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)

	inc := f.reportIncident(t, `{"what":"offboarding","detected_at":"2026-03-01T08:00:00Z","departing":"Alex Doe","reference":"HR-12"}`)
	if inc["rotation_id"] != id || inc["escalated_from"] != "manual" || inc["rotation_kind"] != "offboarding" || inc["departing"] != "Alex Doe" {
		t.Fatalf("offboarding report on a manual rotation: %v", inc)
	}
	rot := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id, "", "").json(t)
	if rot["kind"] != "offboarding" {
		t.Errorf("rotation kind after the report: %v, want offboarding", rot["kind"])
	}
	events := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id+"/events", "", "").body
	if !strings.Contains(events, "kind manual → offboarding") {
		t.Errorf("events do not record the change of kind: %s", events)
	}
	page := f.do("viewer", http.MethodGet, "/incidents/"+inc["id"].(string), "", "").body
	if !strings.Contains(page, "Alex Doe left") || !strings.Contains(page, "Offboarding rotation") {
		t.Errorf("the incident page does not name the departing person and the rotation's kind")
	}
	md := f.do("viewer", http.MethodGet, "/incidents/"+inc["id"].(string)+".md", "", "").body
	if !strings.Contains(md, "| Departing person | Alex Doe |") {
		t.Errorf("the Markdown export does not name the departing person:\n%s", md)
	}

	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(f.issue(t), "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/force-revoked", `{}`); resp.status != http.StatusOK {
		t.Fatalf("force-revoked: %d %s", resp.status, resp.body)
	}
	promoted := f.post("/api/v1/rotations/"+id+"/promote", "")
	if promoted.status != http.StatusOK {
		t.Fatalf("promote: %d %s", promoted.status, promoted.body)
	}
	oldVersion := secretstore.Version(promoted.json(t)["versions"].(map[string]any)["old"].(string))
	if oldVersion == "" {
		t.Fatalf("promote response names no old version: %s", promoted.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`); resp.status != http.StatusOK {
		t.Fatalf("retire: %d %s", resp.status, resp.body)
	}
	for _, v := range f.backend.Versions() {
		if v.Version == oldVersion && v.State != memory.Destroyed {
			t.Errorf("old version %s is %s after an offboarding retirement, want destroyed", v.Version, v.State)
		}
	}

	// An emergency rotation requested without an incident stays an
	// emergency when a departure is reported on it.
	resp := f.post("/api/v1/credentials/cred-a/rotations", `{"kind":"emergency","reason":"suspected leak"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("request emergency rotation: %d %s", resp.status, resp.body)
	}
	second := f.reportIncident(t, `{"what":"offboarding","detected_at":"2026-03-01T08:00:00Z","departing":"Sam Roe"}`)
	if second["rotation_kind"] != "emergency" || second["escalated_from"] != "emergency" {
		t.Errorf("offboarding report on an emergency rotation: kind %v, escalated from %v; want emergency, emergency", second["rotation_kind"], second["escalated_from"])
	}
}

// The urgent request is e-mailed to Persium on request, each attempt is
// recorded with who asked, and a failure says what to do instead.
func TestPersiumRequestByMail(t *testing.T) {
	t.Parallel()
	f := setup(t)
	inc := f.reportIncident(t, `{"what":"lost_device","detected_at":"2026-03-01T08:00:00Z","force_revoke":true}`)
	id := inc["id"].(string)
	if inc["persium_mail_route"] != "support@persium.example through channel ops-mail" {
		t.Errorf("persium_mail_route = %v", inc["persium_mail_route"])
	}

	f.persium.mu.Lock()
	f.persium.fail = true
	f.persium.mu.Unlock()
	resp := f.post("/api/v1/incidents/"+id+"/persium-request", "")
	if resp.status != http.StatusServiceUnavailable || resp.errorCode(t) != "persium_mail_failed" {
		t.Errorf("send with a failing mail server: %d %s, want 503 persium_mail_failed", resp.status, resp.body)
	}
	if strings.Contains(resp.body, "CANARYmail") {
		t.Errorf("the error shows the query of a URL in the mail server's reply: %s", resp.body)
	}

	f.persium.mu.Lock()
	f.persium.fail = false
	f.persium.mu.Unlock()
	resp = f.post("/api/v1/incidents/"+id+"/persium-request", `{}`)
	if resp.status != http.StatusOK {
		t.Fatalf("send: %d %s", resp.status, resp.body)
	}
	got := resp.json(t)
	requests, _ := got["persium_requests"].([]any)
	if len(requests) != 2 {
		t.Fatalf("persium_requests = %v, want a failed and a sent attempt", got["persium_requests"])
	}
	failed, sent := requests[0].(map[string]any), requests[1].(map[string]any)
	if failed["status"] != "failed" || sent["status"] != "sent" || sent["by"] != "otto" {
		t.Errorf("persium_requests = %v, want failed then sent by otto", requests)
	}
	if !strings.Contains(sent["detail"].(string), "support@persium.example") {
		t.Errorf("sent detail %q does not name the address", sent["detail"])
	}
	mail := f.persium.text()
	if !strings.HasPrefix(mail, "URGENT: suspected compromise") || strings.Contains(mail, "Subject:") || !strings.Contains(mail, "revoke the current (compromised) secret now") {
		t.Errorf("e-mail to Persium:\n%s", mail)
	}

	// A second send in the same state repeats the Message-ID key.
	if resp := f.post("/api/v1/incidents/"+id+"/persium-request", ""); resp.status != http.StatusOK {
		t.Fatalf("second send: %d %s", resp.status, resp.body)
	}
	if k := f.persium.keys; len(k) != 2 || k[0] != k[1] {
		t.Errorf("idempotency keys = %v, want the same key twice", k)
	}

	page := f.do("viewer", http.MethodGet, "/incidents/"+id, "", "").body
	if strings.Contains(page, `id="persium-request"`) {
		t.Errorf("a viewer sees the form that e-mails Persium")
	}
	if !strings.Contains(page, `id="persium-requests"`) {
		t.Errorf("the incident page does not list the e-mails to Persium")
	}
	form := f.do("operator", http.MethodPost, "/incidents/"+id+"/persium-request", "application/x-www-form-urlencoded", "")
	if form.status != http.StatusSeeOther || !strings.Contains(form.header.Get("Location"), "done=persium-sent") {
		t.Errorf("form post: %d to %q, want a redirect with done=persium-sent", form.status, form.header.Get("Location"))
	}

	for name, c := range map[string]struct {
		who, path, body string
		status          int
	}{
		"viewer":           {"viewer", "/api/v1/incidents/" + id + "/persium-request", "", http.StatusForbidden},
		"unknown incident": {"operator", "/api/v1/incidents/00000000-0000-0000-0000-000000000000/persium-request", "", http.StatusNotFound},
		"unknown field":    {"operator", "/api/v1/incidents/" + id + "/persium-request", `{"to":"someone@example.com"}`, http.StatusBadRequest},
	} {
		resp := f.do(c.who, http.MethodPost, c.path, "application/json", c.body)
		if resp.status != c.status {
			t.Errorf("%s: %d %s, want %d", name, resp.status, resp.body, c.status)
		}
	}
}

// A credential's incidents are listed newest first, so that a script that
// lost a report's response can find its incident again.
func TestListCredentialIncidents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	empty := f.do("viewer", http.MethodGet, "/api/v1/credentials/cred-a/incidents", "", "")
	if empty.status != http.StatusOK || !strings.Contains(empty.body, `"incidents":[]`) {
		t.Errorf("incidents of a credential without any: %d %s, want 200 with an empty list", empty.status, empty.body)
	}
	inc := f.reportIncident(t, `{"what":"lost_device","detected_at":"2026-03-01T08:00:00Z"}`)

	resp := f.do("viewer", http.MethodGet, "/api/v1/credentials/cred-a/incidents", "", "")
	list, _ := resp.json(t)["incidents"].([]any)
	if resp.status != http.StatusOK || len(list) != 1 {
		t.Fatalf("incidents: %d %s, want one", resp.status, resp.body)
	}
	got := list[0].(map[string]any)
	if got["id"] != inc["id"] || got["rotation_id"] != inc["rotation_id"] || got["status"] != "open" || got["items_left"] != 3.0 {
		t.Errorf("listed incident = %v, want %v open with 3 items left", got, inc["id"])
	}
	if resp := f.do("viewer", http.MethodGet, "/api/v1/credentials/nope/incidents", "", ""); resp.status != http.StatusNotFound {
		t.Errorf("incidents of an unknown credential: %d, want 404", resp.status)
	}
	if resp := f.do("", http.MethodGet, "/api/v1/credentials/cred-a/incidents", "", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("incidents without a principal: %d, want 401", resp.status)
	}
}

// A report form that is rejected comes back with the message and what was
// typed, except text that holds a secret.
func TestReportFormKeepsInputOnError(t *testing.T) {
	t.Parallel()
	f := setup(t)
	form := func(path string, v url.Values) response {
		return f.do("operator", http.MethodPost, path, "application/x-www-form-urlencoded", v.Encode())
	}

	resp := form("/incidents", url.Values{"credential": {"cred-a"}, "what": {"offboarding"}, "reference": {"HR-77"}, "details": {"left on Friday"}, "force_revoke": {"true"}})
	if resp.status != http.StatusBadRequest {
		t.Fatalf("offboarding without a name from the dashboard: %d, want 400", resp.status)
	}
	for _, want := range []string{"Name the person who left", `value="HR-77"`, ">left on Friday</textarea>", `value="offboarding" selected`, "checked", `<details id="report" open>`} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("the dashboard after a rejected report lacks %q", want)
		}
	}

	resp = form("/credentials/cred-a/incidents", url.Values{"what": {"other"}, "detected_at": {"soon"}, "reference": {"INC-9"}})
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, `value="INC-9"`) || !strings.Contains(resp.body, "not a date and time") {
		t.Errorf("credential page after an unreadable time: %d, want 400 with the message and the reference kept", resp.status)
	}

	raw, _ := json.Marshal(canary.Reveal())
	resp = form("/credentials/cred-a/incidents", url.Values{"what": {"other"}, "details": {"zq7marker " + strings.Trim(string(raw), `"`)}})
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "contain a client secret") {
		t.Errorf("report with the secret in its details: %d, want 400 saying so", resp.status)
	}
	if strings.Contains(resp.body, "zq7marker") {
		t.Errorf("the page after a report with a secret shows the details again")
	}

	// Another check fails before the secret screen runs: the details still
	// do not come back.
	resp = form("/credentials/cred-a/incidents", url.Values{"what": {"offboarding"}, "details": {"zq8marker " + canary.Reveal()}})
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "Name the person who left") {
		t.Errorf("offboarding without a name and with the secret in its details: %d, want 400 asking for the name", resp.status)
	}
	if strings.Contains(resp.body, "zq8marker") {
		t.Errorf("the page after a rejected report shows details that contain the secret")
	}

	if resp := form("/incidents", url.Values{"credential": {"nope"}, "what": {"other"}}); resp.status != http.StatusNotFound || !strings.Contains(resp.body, "There is no credential") || !strings.Contains(resp.body, `value="nope"`) {
		t.Errorf("report for an unknown credential from the dashboard: %d, want 404 on the dashboard with the id kept", resp.status)
	}
}
