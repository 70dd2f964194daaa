package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// notifier records urgent messages and fails the channels named in fail.
type notifier struct {
	mu       sync.Mutex
	channels []string
	fail     map[string]error
	sent     []rotation.UrgentMessage
}

func (n *notifier) NotifyUrgent(ctx context.Context, m rotation.UrgentMessage) []rotation.Delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, m)
	var out []rotation.Delivery
	for _, ch := range n.channels {
		out = append(out, rotation.Delivery{Channel: ch, Err: n.fail[ch]})
	}
	return out
}

func (n *notifier) messages() []rotation.UrgentMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]rotation.UrgentMessage(nil), n.sent...)
}

// withNotifier replaces the fixture's service with one that sends urgent
// messages to n, which may be nil.
func (f *fixture) withNotifier(t *testing.T, n rotation.Notifier) {
	t.Helper()
	f.svc = rotation.NewService(rotation.Options{
		Store: f.store, Secrets: map[string]rotation.SecretStore{"cred-a": f.flaky}, Checker: f.token, Now: f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, testlog.New(t)), &slog.HandlerOptions{Level: slog.LevelDebug})), Notifier: n,
	})
}

func (f *fixture) report(t *testing.T, in rotation.ReportInput) rotation.Report {
	t.Helper()
	rep, err := f.svc.ReportCompromise(f.ctx, "carol", "cred-a", in)
	if err != nil {
		t.Fatalf("ReportCompromise: %v", err)
	}
	return rep
}

func (f *fixture) leak() rotation.ReportInput {
	return rotation.ReportInput{What: rotation.WhatPublicCommit, DetectedAt: f.clock.Now().Add(-20 * time.Minute),
		Reference: "INC-2026-7", Details: "client secret pushed to a public fork", ForceRevoke: true}
}

func (f *fixture) incidentActions(t *testing.T, id string) []string {
	t.Helper()
	events, err := f.store.(rotation.IncidentStore).ListIncidentEvents(f.ctx, id)
	if err != nil {
		t.Fatalf("ListIncidentEvents: %v", err)
	}
	var out []string
	for _, e := range events {
		out = append(out, string(e.Action))
	}
	return out
}

// oldValueDestroyed reports whether no version of the memory backend still
// holds the old secret, and every version that held it is destroyed.
func (f *fixture) oldValueDestroyed(t *testing.T, oldVersion secretstore.Version) bool {
	t.Helper()
	for _, v := range f.backend.Versions() {
		if v.Value.Equal(oldSecret) {
			return false
		}
		if v.Version == oldVersion && v.State != memory.Destroyed {
			return false
		}
	}
	return true
}

// A compromise reported while a scheduled rotation is new_issued. The
// rotation becomes an emergency without losing its progress, and every
// channel hears at once. Persium revokes the old secret early, so promote
// and retire go ahead at once, and retirement destroys the old value. The
// checklist keeps the incident open until each item is ticked by a named
// person.
func TestReportCompromiseWhileNewIssued(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		n := &notifier{channels: []string{"mail", "slack"}}
		f.withNotifier(t, n)
		r, err := f.svc.Request(f.ctx, "alice", "cred-a", rotation.RequestInput{Kind: rotation.KindScheduled, Ticket: "PER-42"})
		if err != nil {
			t.Fatalf("Request: %v", err)
		}
		f.persiumIssues()
		issued, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret})
		if err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}

		f.clock.Advance(time.Hour)
		rep := f.report(t, f.leak())
		if rep.Rotation.ID != r.ID || rep.Rotation.Kind != rotation.KindEmergency || rep.Rotation.State != rotation.StateNewIssued {
			t.Fatalf("report: rotation %s %s %s, want %s emergency new_issued", rep.Rotation.ID, rep.Rotation.Kind, rep.Rotation.State, r.ID)
		}
		if diff := cmp.Diff(issued.Versions, rep.Rotation.Versions); diff != "" {
			t.Errorf("escalation changed the versions (-before +after):\n%s", diff)
		}
		if !rep.Rotation.IssuedAt.Equal(issued.IssuedAt) {
			t.Errorf("escalation changed the issue time: %v, want %v", rep.Rotation.IssuedAt, issued.IssuedAt)
		}
		if rep.Incident.EscalatedFrom != rotation.KindScheduled || rep.Incident.RotationID != r.ID || rep.Incident.ReportedBy != "carol" {
			t.Errorf("incident = %+v, want escalated from scheduled on %s by carol", rep.Incident, r.ID)
		}
		if diff := cmp.Diff([]string{"request:requested", "issue:new_issued", "escalated:new_issued"}, f.actions(t, r.ID)); diff != "" {
			t.Errorf("rotation events (-want +got):\n%s", diff)
		}

		msgs := n.messages()
		if len(msgs) != 1 {
			t.Fatalf("urgent messages sent: %d, want 1", len(msgs))
		}
		m := msgs[0]
		if m.IncidentID != rep.Incident.ID || m.Path != "/incidents/"+rep.Incident.ID || !strings.Contains(m.Subject, "URGENT") ||
			!strings.Contains(m.Text, "client-cred-a") || !strings.Contains(m.Text, "revoke the old secret at once") {
			t.Errorf("urgent message = %+v", m)
		}
		if diff := cmp.Diff([]string{"reported", "notified", "notified"}, f.incidentActions(t, rep.Incident.ID)); diff != "" {
			t.Errorf("incident events (-want +got):\n%s", diff)
		}

		// Persium revokes the old secret; rotor confirms it and skips the waits.
		f.clock.Advance(5 * time.Minute)
		f.persiumRetires()
		revoked, err := f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, "")
		if err != nil {
			t.Fatalf("RecordForceRevoked: %v", err)
		}
		if !revoked.OldRevokedAt.Equal(f.clock.Now()) {
			t.Errorf("OldRevokedAt = %v, want %v", revoked.OldRevokedAt, f.clock.Now())
		}
		if got := rotation.Next(revoked, credentialA(t, f), f.clock.Now()); got.Title != "Promote the new secret now" {
			t.Errorf("next action after the revocation = %q", got.Title)
		}
		promoted, err := f.svc.Promote(f.ctx, "bob", r.ID, "")
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}
		if _, err := f.svc.Rollback(f.ctx, "bob", r.ID, "try the old one"); err == nil {
			t.Errorf("Rollback after the old secret was revoked succeeded, want an error")
		} else {
			wantCode(t, err, rotation.ErrConflict, "old_secret_revoked")
		}
		// No time passes: the minimum time in dual_active (1h) does not apply.
		retired, err := f.svc.Retire(f.ctx, "bob", r.ID, rotation.RetireInput{PersiumConfirmed: true})
		if err != nil {
			t.Fatalf("Retire right after promotion: %v", err)
		}
		events, err := f.store.ListEvents(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		last := events[len(events)-1]
		if last.Action != rotation.ActionRetire || !strings.Contains(last.Detail, "without waiting for the minimum time") || !strings.Contains(last.Detail, "(destroy)") {
			t.Errorf("retire event detail = %q, want the skipped wait and destroy", last.Detail)
		}
		if !f.oldValueDestroyed(t, promoted.Versions.Old) {
			t.Errorf("the old secret is still held by a version of the backend after an emergency retirement")
		}

		// The incident stays open until the last item is ticked.
		inc, err := f.svc.Incident(f.ctx, rep.Incident.ID)
		if err != nil {
			t.Fatalf("Incident: %v", err)
		}
		if !inc.Open() || inc.ItemsLeft() != 3 {
			t.Fatalf("after retirement: open %v with %d items left, want open with 3", inc.Open(), inc.ItemsLeft())
		}
		for item := 1; item <= 3; item++ {
			inc, err = f.svc.CompleteChecklistItem(f.ctx, fmt.Sprint("person-", item), inc.ID, item, "searched; the old secret was removed")
			if err != nil {
				t.Fatalf("CompleteChecklistItem(%d): %v", item, err)
			}
			if open := item < 3; inc.Open() != open {
				t.Errorf("after ticking item %d: open %v, want %v", item, inc.Open(), open)
			}
		}
		for i, it := range inc.Checklist {
			if it.DoneBy != fmt.Sprint("person-", i+1) {
				t.Errorf("item %d ticked by %q, want person-%d", it.Item, it.DoneBy, i+1)
			}
		}
		clock := inc.Clock(retired, f.clock.Now())
		if !clock.NewSecretBeforeReport || clock.RetirementPending || clock.ToRetirement != 5*time.Minute {
			t.Errorf("clock = %+v, want the new secret before the report and retirement 5m after it", clock)
		}

		timeline, err := f.svc.IncidentTimeline(f.ctx, inc)
		if err != nil {
			t.Fatalf("IncidentTimeline: %v", err)
		}
		var got []string
		for _, e := range timeline {
			got = append(got, e.Source+":"+e.Action)
		}
		want := []string{"rotation:request", "rotation:issue", "rotation:escalated", "incident:reported", "incident:notified", "incident:notified",
			"rotation:old_revoked", "rotation:promote", "rotation:retire", "incident:item_done", "incident:item_done", "incident:item_done", "incident:closed"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("timeline (-want +got):\n%s", diff)
		}
	})
}

func urlQuery(s string) string { return url.QueryEscape(s) }

func credentialA(t *testing.T, f *fixture) rotation.Credential {
	t.Helper()
	c, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	return c
}

func TestReportCompromiseOpensRotation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		f.withNotifier(t, nil)
		in := f.leak()
		in.ForceRevoke = false
		rep := f.report(t, in)
		if rep.Rotation.State != rotation.StateRequested || rep.Rotation.Kind != rotation.KindEmergency || rep.Incident.Escalated() {
			t.Fatalf("report without an open rotation: %+v", rep.Rotation)
		}
		if !strings.Contains(rep.Rotation.Reason, "public commit") || !strings.Contains(rep.Rotation.Reason, "INC-2026-7") {
			t.Errorf("rotation reason = %q, want what happened and the reference", rep.Rotation.Reason)
		}
		events := f.incidentActions(t, rep.Incident.ID)
		if diff := cmp.Diff([]string{"reported", "notify_failed"}, events); diff != "" {
			t.Errorf("incident events without a notifier (-want +got):\n%s", diff)
		}

		text := rotation.RequestText(credentialA(t, f), rep.Rotation, &rep.Incident)
		for _, want := range []string{"URGENT", "client-cred-a", "public commit", "Please issue a new client secret now", "keep the old secret valid",
			"consumers still using it would fail until we have deployed the new one", rep.Incident.ID, "INC-2026-7"} {
			if !strings.Contains(text, want) {
				t.Errorf("urgent request text lacks %q:\n%s", want, text)
			}
		}
	})
}

// The urgent request contains what the rotation still needs: a new secret
// only while requested, and the revocation with its consequence spelled out.
func TestUrgentRequestText(t *testing.T) {
	t.Parallel()
	c := rotation.Credential{ID: "cred-a", Organisation: "Acme", OrganisationID: "6b0f7a52-3c1e-4d8e-9f2a-7e5b1c3d9a40", ClientID: "acme-m2m"}
	at := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	inc := rotation.Incident{ID: "inc-1", What: rotation.WhatLostDevice, DetectedAt: at, ReportedAt: at.Add(10 * time.Minute), ReportedBy: "carol", ForceRevoke: true}
	cases := []struct {
		state       rotation.State
		forceRevoke bool
		want, not   []string
	}{
		{rotation.StateRequested, true, []string{"Please issue a new client secret now", "revoke the current (compromised) secret now",
			"every consumer still using the old secret fails to get tokens until we have deployed the new one"}, []string{"do not issue another"}},
		{rotation.StateNewIssued, true, []string{"Please do not issue another one", "revoke the previous (compromised) secret now"},
			[]string{"Please issue a new client secret now"}},
		{rotation.StateNewIssued, false, []string{"Please do not issue another one", "keep the old secret valid for now",
			"consumers still using it would fail until we have deployed the new one"}, []string{"revoke the previous"}},
		{rotation.StateCancelled, true, []string{"Please issue a new client secret now"}, []string{"do not issue another"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s force %v", tc.state, tc.forceRevoke), func(t *testing.T) {
			inc := inc
			inc.ForceRevoke = tc.forceRevoke
			text := rotation.RequestText(c, rotation.Rotation{ID: "rot-1", Kind: rotation.KindEmergency, State: tc.state}, &inc)
			for _, w := range append(tc.want, "acme-m2m", "Acme", "2026-03-01 03:00 UTC", "lost or stolen") {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(text, n) {
					t.Errorf("text contains %q:\n%s", n, text)
				}
			}
		})
	}
}

func TestReportCompromiseRejectsInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		f.withNotifier(t, nil)
		cases := map[string]struct {
			mutate func(*rotation.ReportInput)
			code   string
		}{
			"unknown what":          {func(in *rotation.ReportInput) { in.What = "hacked" }, "invalid_what"},
			"no detection time":     {func(in *rotation.ReportInput) { in.DetectedAt = time.Time{} }, "invalid_detected_at"},
			"detected in future":    {func(in *rotation.ReportInput) { in.DetectedAt = f.clock.Now().Add(time.Hour) }, "invalid_detected_at"},
			"control character":     {func(in *rotation.ReportInput) { in.Reference = "INC\x1b[31m" }, "invalid_reference"},
			"multi-line reference":  {func(in *rotation.ReportInput) { in.Reference = "INC\n7" }, "invalid_reference"},
			"details too long":      {func(in *rotation.ReportInput) { in.Details = strings.Repeat("x", rotation.MaxDetailsBytes+1) }, "invalid_details"},
			"current secret pasted": {func(in *rotation.ReportInput) { in.Details = "the leaked value is " + oldSecret.Reveal() }, "secret_in_text"},
			"form-encoded secret":   {func(in *rotation.ReportInput) { in.Reference = "x=" + urlQuery(oldSecret.Reveal()) }, "secret_in_text"},
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				in := f.leak()
				c.mutate(&in)
				_, err := f.svc.ReportCompromise(f.ctx, "carol", "cred-a", in)
				wantCode(t, err, rotation.ErrInvalid, c.code)
				if strings.Contains(err.Error(), oldSecret.Reveal()) {
					t.Errorf("the error quotes the secret")
				}
			})
		}
		_, err := f.svc.ReportCompromise(f.ctx, "carol", "nope", f.leak())
		wantCode(t, err, rotation.ErrNotFound, "not_found")

		cred := credentialA(t, f)
		if cred.OpenRotationID != "" {
			t.Errorf("rejected reports opened rotation %s", cred.OpenRotationID)
		}
		// A detection a few seconds ahead of rotor's clock is accepted.
		in := f.leak()
		in.DetectedAt = f.clock.Now().Add(30 * time.Second)
		f.report(t, in)
	})
}

func TestReportCompromiseConflicts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		f.withNotifier(t, nil)
		first := f.report(t, f.leak())
		_, err := f.svc.ReportCompromise(f.ctx, "dave", "cred-a", f.leak())
		wantCode(t, err, rotation.ErrConflict, "already_reported")
		if !strings.Contains(err.Error(), first.Incident.ID) {
			t.Errorf("error %q does not name incident %s", err, first.Incident.ID)
		}
	})
}

// A report cannot escalate a rotation while a secrets-manager step is in
// progress. Nothing is recorded, and the error message gives the next step:
// report again.
func TestReportCompromiseDuringStep(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		f.withNotifier(t, nil)
		r := f.request(t)
		if _, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State,
			NewStep: rotation.StepStage, StepBy: "bob"}); err != nil {
			t.Fatalf("start a step: %v", err)
		}
		_, err := f.svc.ReportCompromise(f.ctx, "dave", "cred-a", f.leak())
		wantCode(t, err, rotation.ErrConflict, "step_in_progress")
		if !strings.Contains(err.Error(), "report the compromise again") {
			t.Errorf("error %q does not tell the operator to report again", err)
		}
		if _, ok, err := f.svc.IncidentOfRotation(f.ctx, r.ID); ok || err != nil {
			t.Errorf("a refused report recorded an incident (err %v)", err)
		}
		got, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if got.Kind != rotation.KindManual {
			t.Errorf("a refused report changed the kind to %s", got.Kind)
		}
	})
}

func TestReportCompromiseNotifications(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		n := &notifier{channels: []string{"mail", "slack", "hook"}, fail: map[string]error{
			"slack": errors.New(`post https://hooks.slack.com/services/T000/B000/CANARYxyz: 404 no_service`),
			"hook":  errors.New("webhook 127.0.0.1: post: timed out"),
		}}
		f.withNotifier(t, n)
		rep := f.report(t, f.leak())
		if len(rep.Deliveries) != 3 {
			t.Fatalf("deliveries = %v, want 3", rep.Deliveries)
		}
		events, err := f.store.(rotation.IncidentStore).ListIncidentEvents(f.ctx, rep.Incident.ID)
		if err != nil {
			t.Fatalf("ListIncidentEvents: %v", err)
		}
		var got []string
		for _, e := range events[1:] {
			got = append(got, string(e.Action)+" "+e.Detail)
		}
		want := []string{
			"notified channel mail accepted the urgent message",
			"notify_failed channel slack: post https://hooks.slack.com/… 404 no_service",
			"notify_failed channel hook: webhook 127.0.0.1: post: timed out",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("notification events (-want +got):\n%s", diff)
		}
		if rep.Incident.ID == "" || rep.Rotation.Kind != rotation.KindEmergency {
			t.Errorf("failed channels affected the report: %+v", rep)
		}
	})
}

func TestRecordForceRevokedGates(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)

		_, err := f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, "")
		wantCode(t, err, rotation.ErrConflict, "old_secret_still_accepted")

		f.token.force(tokencheck.Inconclusive)
		_, err = f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, "")
		wantCode(t, err, rotation.ErrInconclusive, "check_inconclusive")
		revoked, err := f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, "Persium's support confirmed by phone")
		if err != nil {
			t.Fatalf("RecordForceRevoked with a reason past an inconclusive check: %v", err)
		}
		if revoked.State != rotation.StateRequested || revoked.OldRevokedAt.IsZero() {
			t.Errorf("after revocation: %s, revoked at %v", revoked.State, revoked.OldRevokedAt)
		}
		_, err = f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, "again")
		wantCode(t, err, rotation.ErrConflict, "already_recorded")
		if diff := cmp.Diff([]string{"request:requested", "old_revoked:requested"}, f.actions(t, r.ID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestRecordForceRevokedAfterPromotion(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.toDualActive(t)
		f.persiumRetires()
		_, err := f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, "")
		wantCode(t, err, rotation.ErrConflict, "wrong_state")
		// Without an early revocation the minimum time in dual_active holds.
		_, err = f.svc.Retire(f.ctx, "bob", r.ID, rotation.RetireInput{PersiumConfirmed: true})
		wantCode(t, err, rotation.ErrConflict, "too_early")
	})
}

func TestChecklistErrors(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		f.withNotifier(t, nil)
		rep := f.report(t, f.leak())
		id := rep.Incident.ID

		_, err := f.svc.CompleteChecklistItem(f.ctx, "dave", id, 1, "  ")
		wantCode(t, err, rotation.ErrInvalid, "note_required")
		_, err = f.svc.CompleteChecklistItem(f.ctx, "dave", id, 1, "bad\x00note")
		wantCode(t, err, rotation.ErrInvalid, "invalid_note")
		_, err = f.svc.CompleteChecklistItem(f.ctx, "dave", id, 7, "n")
		wantCode(t, err, rotation.ErrNotFound, "not_found")
		_, err = f.svc.CompleteChecklistItem(f.ctx, "dave", "00000000-0000-0000-0000-000000000000", 1, "n")
		wantCode(t, err, rotation.ErrNotFound, "not_found")

		if _, err := f.svc.CompleteChecklistItem(f.ctx, "dave", id, 1, "grep of the log archive: clean"); err != nil {
			t.Fatalf("CompleteChecklistItem: %v", err)
		}
		_, err = f.svc.CompleteChecklistItem(f.ctx, "erin", id, 1, "again")
		wantCode(t, err, rotation.ErrConflict, "already_done")
		if !strings.Contains(err.Error(), "dave") {
			t.Errorf("error %q does not name who ticked the item", err)
		}

		_, err = f.svc.AddChecklistItem(f.ctx, "erin", id, " ")
		wantCode(t, err, rotation.ErrInvalid, "invalid_item")
		_, err = f.svc.AddChecklistItem(f.ctx, "erin", id, "line\nbreak")
		wantCode(t, err, rotation.ErrInvalid, "invalid_item")
		_, err = f.svc.AddChecklistItem(f.ctx, "erin", id, "GIT HISTORY")
		wantCode(t, err, rotation.ErrConflict, "duplicate_item")
		inc, err := f.svc.AddChecklistItem(f.ctx, "erin", id, "container images")
		if err != nil {
			t.Fatalf("AddChecklistItem: %v", err)
		}
		if last := inc.Checklist[len(inc.Checklist)-1]; last.Item != 4 || last.AddedBy != "erin" {
			t.Errorf("added item = %+v, want item 4 by erin", last)
		}
	})
}

func TestIncidentClock(t *testing.T) {
	t.Parallel()
	reported := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	inc := rotation.Incident{ReportedAt: reported}
	now := reported.Add(90 * time.Minute)

	c := inc.Clock(rotation.Rotation{}, now)
	want := rotation.IncidentClock{SinceReport: 90 * time.Minute, ToNewSecret: 90 * time.Minute, NewSecretPending: true,
		ToRetirement: 90 * time.Minute, RetirementPending: true}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("clock while waiting (-want +got):\n%s", diff)
	}

	r := rotation.Rotation{IssuedAt: reported.Add(20 * time.Minute), RetiredAt: reported.Add(time.Hour)}
	inc.ClosedAt = reported.Add(80 * time.Minute)
	c = inc.Clock(r, now.Add(time.Hour))
	want = rotation.IncidentClock{SinceReport: 80 * time.Minute, ToNewSecret: 20 * time.Minute, ToRetirement: time.Hour}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("clock of a closed incident (-want +got):\n%s", diff)
	}

	for d, want := range map[time.Duration]string{9 * time.Second: "9s", 12*time.Minute + 40*time.Second: "12m 40s",
		3*time.Hour + 5*time.Minute: "3h 5m", 52 * time.Hour: "2d 4h"} {
		if got := rotation.FormatElapsed(d); got != want {
			t.Errorf("FormatElapsed(%v) = %q, want %q", d, got, want)
		}
	}
}

// After an early revocation, consumers of the old secret fail whatever the
// hour, so promote and retire no longer wait for the low-traffic window.
func TestForceRevokedSkipsWindow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		cred := credentialA(t, f)
		cred.Window = "Tue 02:00-04:00 UTC" // the test clock starts on a Sunday
		if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{cred}); err != nil {
			t.Fatalf("SyncCredentials: %v", err)
		}
		r := f.request(t)
		f.persiumIssues()
		if _, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}
		f.persiumRetires()
		if _, err := f.svc.RecordForceRevoked(f.ctx, "bob", r.ID, ""); err != nil {
			t.Fatalf("RecordForceRevoked: %v", err)
		}

		if _, err := f.svc.Promote(f.ctx, "bob", r.ID, ""); err != nil {
			t.Fatalf("Promote outside the window after the revocation: %v", err)
		}
		if _, err := f.svc.Retire(f.ctx, "bob", r.ID, rotation.RetireInput{PersiumConfirmed: true}); err != nil {
			t.Fatalf("Retire outside the window after the revocation: %v", err)
		}
		events, err := f.store.ListEvents(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		for _, e := range events[len(events)-2:] {
			if !strings.Contains(e.Detail, "outside the low-traffic window") {
				t.Errorf("%s event detail %q does not record the window", e.Action, e.Detail)
			}
			if e.Reason != "" {
				t.Errorf("%s event reason = %q, want the operator's (none)", e.Action, e.Reason)
			}
		}
	})
}
