package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/rotation"
)

// With the four-eyes rule, retirement and a recorded force-revoke wait for
// an operator other than the requester, and the approval lapses when the
// rotation changes state.
func TestFourEyesRule(t *testing.T) {
	t.Parallel()
	f := setupWith(t, func(c *rotation.Credential) { c.FourEyes = true })
	id := f.requestRotation(t) // requested by otto

	// Force-revoke before promotion needs an approval too.
	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(f.issue(t), "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}
	if err := f.sim.RetireOld("client-cred-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/force-revoked", `{}`); resp.status != http.StatusConflict || resp.errorCode(t) != "approval_required" {
		t.Errorf("force-revoked without approval: %d %s, want 409 approval_required", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/approve", `{"action":"force_revoke"}`); resp.status != http.StatusConflict || resp.errorCode(t) != "approval_by_requester" {
		t.Errorf("approval by the requester: %d %s, want 409 approval_by_requester", resp.status, resp.body)
	}
	if resp := f.do("admin", http.MethodPost, "/api/v1/rotations/"+id+"/approve", "application/json", `{"action":"force_revoke","reason":"confirmed with Persium by phone"}`); resp.status != http.StatusOK {
		t.Fatalf("approval by a second operator: %d %s", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/force-revoked", `{}`); resp.status != http.StatusOK {
		t.Fatalf("force-revoked after approval: %d %s", resp.status, resp.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/promote", ""); resp.status != http.StatusOK {
		t.Fatalf("promote: %d %s", resp.status, resp.body)
	}

	// The force-revoke approval does not carry over to retirement.
	retire := `{"persium_confirmed":true}`
	if resp := f.post("/api/v1/rotations/"+id+"/retire", retire); resp.status != http.StatusConflict || resp.errorCode(t) != "approval_required" {
		t.Fatalf("retire without approval: %d %s, want 409 approval_required", resp.status, resp.body)
	}
	page := f.do("admin", http.MethodGet, "/rotations/"+id, "", "").body
	if !strings.Contains(page, `id="four-eyes-retire"`) || !strings.Contains(page, "Approve the retirement") {
		t.Errorf("the rotation page does not offer the second operator the approval")
	}
	if page := f.do("operator", http.MethodGet, "/rotations/"+id, "", "").body; strings.Contains(page, "Approve the retirement") {
		t.Errorf("the rotation page offers the requester the approval")
	}
	form := f.do("admin", http.MethodPost, "/rotations/"+id+"/approve", "application/x-www-form-urlencoded", url.Values{"action": {"retire"}}.Encode())
	if form.status != http.StatusSeeOther || !strings.Contains(form.header.Get("Location"), "done=approved") {
		t.Fatalf("approve by form: %d %q %s", form.status, form.header.Get("Location"), form.body)
	}
	if resp := f.post("/api/v1/rotations/"+id+"/retire", retire); resp.status != http.StatusOK {
		t.Fatalf("retire after approval: %d %s", resp.status, resp.body)
	}

	events := f.do("viewer", http.MethodGet, "/api/v1/rotations/"+id+"/events", "", "").body
	for _, want := range []string{"approved force_revoke as the second operator", "approved retire as the second operator", "approved by ada under the four-eyes rule"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q: %s", want, events)
		}
	}
}

func TestApproveRejects(t *testing.T) {
	t.Parallel()
	f := setupWith(t, func(c *rotation.Credential) { c.FourEyes = true })
	id := f.requestRotation(t)

	cases := map[string]struct {
		who, body, code string
		status          int
	}{
		"unauthenticated":   {"", `{"action":"retire"}`, "unauthenticated", http.StatusUnauthorized},
		"viewer":            {"viewer", `{"action":"retire"}`, "forbidden", http.StatusForbidden},
		"api token":         {"token", `{"action":"force_revoke"}`, "person_required", http.StatusForbidden},
		"unknown action":    {"admin", `{"action":"delete"}`, "invalid_action", http.StatusBadRequest},
		"unknown field":     {"admin", `{"action":"retire","by":"ada"}`, "invalid_body", http.StatusBadRequest},
		"no body":           {"admin", ``, "invalid_body", http.StatusBadRequest},
		"wrong state":       {"admin", `{"action":"retire"}`, "wrong_state", http.StatusConflict},
		"invalid JSON":      {"admin", `{"action":`, "invalid_body", http.StatusBadRequest},
		"reason not string": {"admin", `{"action":"force_revoke","reason":7}`, "invalid_body", http.StatusBadRequest},
	}
	for name, c := range cases {
		resp := f.do(c.who, http.MethodPost, "/api/v1/rotations/"+id+"/approve", "application/json", c.body)
		if resp.status != c.status || resp.errorCode(t) != c.code {
			t.Errorf("%s: %d %s, want %d %s", name, resp.status, resp.body, c.status, c.code)
		}
	}

	plain := setup(t)
	other := plain.requestRotation(t)
	resp := plain.do("admin", http.MethodPost, "/api/v1/rotations/"+other+"/approve", "application/json", `{"action":"force_revoke"}`)
	if resp.status != http.StatusConflict || resp.errorCode(t) != "approval_not_required" {
		t.Errorf("approval without the four-eyes rule: %d %s, want 409 approval_not_required", resp.status, resp.body)
	}
}
