package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// testIncidents is the rotation.IncidentStore part of the contract.
func testIncidents(t *testing.T, newStore NewStore) {
	t.Run("report opens an emergency rotation", func(t *testing.T) { t.Parallel(); testReportOpens(t, newStore) })
	t.Run("report escalates an open rotation in each state", func(t *testing.T) { t.Parallel(); testReportEscalates(t, newStore) })
	t.Run("report refuses a step in progress", func(t *testing.T) { t.Parallel(); testReportStepInProgress(t, newStore) })
	t.Run("report refuses a second incident per rotation", func(t *testing.T) { t.Parallel(); testReportTwice(t, newStore) })
	t.Run("report rejects invalid input", func(t *testing.T) { t.Parallel(); testReportInvalid(t, newStore) })
	t.Run("checklist add and tick", func(t *testing.T) { t.Parallel(); testChecklist(t, newStore) })
	t.Run("checklist keeps incident open until retirement", func(t *testing.T) { t.Parallel(); testCloseAfterRetire(t, newStore) })
	t.Run("retirement keeps incident open until checklist done", func(t *testing.T) { t.Parallel(); testCloseAfterChecklist(t, newStore) })
	t.Run("cancelled rotation closes after later emergency", func(t *testing.T) { t.Parallel(); testCloseAfterCancel(t, newStore) })
	t.Run("cancelled rotation stays open after manual retirement", func(t *testing.T) { t.Parallel(); testCancelManualKeepsOpen(t, newStore) })
	t.Run("reminder rounds claimed once", func(t *testing.T) { t.Parallel(); testClaimIncidentReminder(t, newStore) })
	t.Run("concurrent last ticks close once", func(t *testing.T) { t.Parallel(); testConcurrentTicks(t, newStore) })
	t.Run("incident events and listings", func(t *testing.T) { t.Parallel(); testIncidentEvents(t, newStore) })
	t.Run("old secret revoked early", func(t *testing.T) { t.Parallel(); testOldRevoked(t, newStore) })
	t.Run("offboarding opens and escalates", func(t *testing.T) { t.Parallel(); testOffboarding(t, newStore) })
}

type incidentFixture struct {
	fixture
	is rotation.IncidentStore
}

func setupIncidents(t *testing.T, newStore NewStore, credIDs ...string) incidentFixture {
	t.Helper()
	f := setup(t, newStore, credIDs...)
	is, ok := f.store.(rotation.IncidentStore)
	if !ok {
		t.Fatalf("%T does not implement rotation.IncidentStore", f.store)
	}
	return incidentFixture{fixture: f, is: is}
}

// report returns a valid report of a compromise of credID.
func (f incidentFixture) report(credID string) rotation.IncidentReport {
	items := make([]rotation.ChecklistItem, len(rotation.DefaultChecklist))
	for i, title := range rotation.DefaultChecklist {
		items[i] = rotation.ChecklistItem{Title: title}
	}
	return rotation.IncidentReport{
		Incident: rotation.Incident{
			ID: uuid.NewString(), CredentialID: credID, What: rotation.WhatPublicCommit,
			DetectedAt: f.clock.Now().Add(-time.Hour), ReportedBy: "carol", Reference: "INC-7",
			Details: "pushed to a public fork", ForceRevoke: true, Checklist: items,
		},
		Rotation: rotation.Rotation{ID: uuid.NewString(), Kind: rotation.KindEmergency, Reason: "suspected compromise", RequestedBy: "carol"},
	}
}

func (f incidentFixture) mustReport(t *testing.T, credID string) (rotation.Incident, rotation.Rotation) {
	t.Helper()
	inc, r, err := f.is.ReportIncident(f.ctx, f.report(credID))
	if err != nil {
		t.Fatalf("ReportIncident(%s): %v", credID, err)
	}
	return inc, r
}

func (f incidentFixture) tick(t *testing.T, inc rotation.Incident, item int) rotation.Incident {
	t.Helper()
	got, err := f.is.CompleteChecklistItem(f.ctx, inc.ID, item, "dave", "searched, nothing found")
	if err != nil {
		t.Fatalf("CompleteChecklistItem(%d): %v", item, err)
	}
	return got
}

// retire drives r from any open state to old_retired.
func (f incidentFixture) retire(t *testing.T, r rotation.Rotation) rotation.Rotation {
	t.Helper()
	if r.State == rotation.StateRequested {
		r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	}
	if r.State == rotation.StateNewIssued {
		r = f.step(t, r, rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s1", New: "2"})
	}
	return f.step(t, r, rotation.StepRetire, rotation.StateOldRetired, r.Versions)
}

func (f incidentFixture) incidentActions(t *testing.T, id string) []rotation.IncidentAction {
	t.Helper()
	events, err := f.is.ListIncidentEvents(f.ctx, id)
	if err != nil {
		t.Fatalf("ListIncidentEvents: %v", err)
	}
	var out []rotation.IncidentAction
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

func testReportOpens(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	rep := f.report("cred-a")
	inc, r, err := f.is.ReportIncident(f.ctx, rep)
	if err != nil {
		t.Fatalf("ReportIncident: %v", err)
	}
	now := f.clock.Now()

	if r.ID != rep.Rotation.ID || r.Kind != rotation.KindEmergency || r.State != rotation.StateRequested || r.Version != 1 || r.RequestedBy != "carol" {
		t.Errorf("opened rotation = %+v, want %s in requested, emergency, version 1, by carol", r, rep.Rotation.ID)
	}
	want := rep.Incident
	want.RotationID, want.ReportedAt = r.ID, now
	want.Checklist = []rotation.ChecklistItem{
		{Item: 1, Title: "logs", AddedBy: "carol", AddedAt: now},
		{Item: 2, Title: "git history", AddedBy: "carol", AddedAt: now},
		{Item: 3, Title: "build artefacts", AddedBy: "carol", AddedAt: now},
	}
	if diff := cmp.Diff(want, inc); diff != "" {
		t.Errorf("reported incident (-want +got):\n%s", diff)
	}
	if inc.Escalated() || !inc.Open() {
		t.Errorf("incident escalated %v, open %v; want false, true", inc.Escalated(), inc.Open())
	}
	got, err := f.is.GetIncident(f.ctx, inc.ID)
	if err != nil {
		t.Fatalf("GetIncident: %v", err)
	}
	if diff := cmp.Diff(inc, got); diff != "" {
		t.Errorf("GetIncident differs from the report (-report +get):\n%s", diff)
	}
	byRotation, err := f.is.GetIncidentByRotation(f.ctx, r.ID)
	if err != nil || byRotation.ID != inc.ID {
		t.Errorf("GetIncidentByRotation = %s, %v; want %s", byRotation.ID, err, inc.ID)
	}

	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 1 || events[0].Action != rotation.ActionRequest || events[0].Actor != "carol" || !strings.Contains(events[0].Detail, inc.ID) {
		t.Errorf("rotation events = %+v, want one request by carol naming the incident", events)
	}
	if diff := cmp.Diff([]rotation.IncidentAction{rotation.IncidentReported}, f.incidentActions(t, inc.ID)); diff != "" {
		t.Errorf("incident events (-want +got):\n%s", diff)
	}
	cred, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil || cred.OpenRotationID != r.ID {
		t.Errorf("credential's open rotation = %q (%v), want %s", cred.OpenRotationID, err, r.ID)
	}
}

func testReportEscalates(t *testing.T, newStore NewStore) {
	for _, state := range []rotation.State{rotation.StateRequested, rotation.StateNewIssued, rotation.StateDualActive} {
		t.Run(string(state), func(t *testing.T) {
			t.Parallel()
			f := setupIncidents(t, newStore, "cred-a")
			r := f.create(t, "cred-a")
			if state != rotation.StateRequested {
				r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
			}
			if state == rotation.StateDualActive {
				r = f.step(t, r, rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s1", New: "2"})
			}
			f.clock.Advance(time.Minute)

			rep := f.report("cred-a")
			inc, got, err := f.is.ReportIncident(f.ctx, rep)
			if err != nil {
				t.Fatalf("ReportIncident: %v", err)
			}
			want := r
			want.Kind, want.Version, want.UpdatedAt = rotation.KindEmergency, r.Version+1, f.clock.Now()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("escalated rotation (-want +got):\n%s", diff)
			}
			stored, err := f.store.GetRotation(f.ctx, r.ID)
			if err != nil {
				t.Fatalf("GetRotation: %v", err)
			}
			if diff := cmp.Diff(got, stored); diff != "" {
				t.Errorf("stored rotation differs from the report's (-report +stored):\n%s", diff)
			}
			if inc.RotationID != r.ID || inc.EscalatedFrom != rotation.KindManual {
				t.Errorf("incident rotation %s escalated from %q; want %s from manual", inc.RotationID, inc.EscalatedFrom, r.ID)
			}

			events, err := f.store.ListEvents(f.ctx, r.ID)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			last := events[len(events)-1]
			if last.Action != rotation.ActionEscalated || last.From != state || last.To != state || last.Actor != "carol" || !strings.Contains(last.Detail, "manual") {
				t.Errorf("last event = %+v, want escalated %s → %s by carol from manual", last, state, state)
			}

			// The escalation bumped the version: a change computed before it loses.
			stale := rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, NewStep: rotation.StepRetire, StepBy: "bob"}
			if _, err := f.store.Apply(f.ctx, stale); !errors.Is(err, rotation.ErrConflict) {
				t.Errorf("change from before the escalation: err = %v, want ErrConflict", err)
			}
		})
	}
}

func testReportStepInProgress(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	r := f.create(t, "cred-a")
	started, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, NewStep: rotation.StepStage, StepBy: "bob"})
	if err != nil {
		t.Fatalf("start stage: %v", err)
	}
	if _, _, err := f.is.ReportIncident(f.ctx, f.report("cred-a")); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("report during a step: err = %v, want ErrConflict", err)
	}
	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(started, got); diff != "" {
		t.Errorf("a refused report changed the rotation (-before +after):\n%s", diff)
	}
	if incs, err := f.is.ListIncidents(f.ctx, "cred-a"); err != nil || len(incs) != 0 {
		t.Errorf("a refused report left incidents %v (%v)", incs, err)
	}
}

func testReportTwice(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	first, r := f.mustReport(t, "cred-a")
	if _, _, err := f.is.ReportIncident(f.ctx, f.report("cred-a")); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("second report for open rotation %s: err = %v, want ErrConflict", r.ID, err)
	}
	incs, err := f.is.ListIncidents(f.ctx, "cred-a")
	if err != nil || len(incs) != 1 || incs[0].ID != first.ID {
		t.Errorf("incidents after a refused second report = %v (%v), want only %s", incs, err, first.ID)
	}

	// Once the rotation is retired, a new report opens a new rotation even
	// while the first incident stays open for its checklist.
	f.retire(t, r)
	second, r2 := f.mustReport(t, "cred-a")
	if r2.ID == r.ID || second.Escalated() {
		t.Errorf("report after retirement: rotation %s (first %s), escalated %v; want a new rotation", r2.ID, r.ID, second.Escalated())
	}
}

func testReportInvalid(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	cases := map[string]func(*rotation.IncidentReport){
		"unknown what":       func(r *rotation.IncidentReport) { r.Incident.What = "hacked" },
		"no detection time":  func(r *rotation.IncidentReport) { r.Incident.DetectedAt = time.Time{} },
		"detected in future": func(r *rotation.IncidentReport) { r.Incident.DetectedAt = f.clock.Now().Add(time.Hour) },
		"no reporter":        func(r *rotation.IncidentReport) { r.Incident.ReportedBy = "" },
		"empty checklist":    func(r *rotation.IncidentReport) { r.Incident.Checklist = nil },
		"duplicate item": func(r *rotation.IncidentReport) {
			r.Incident.Checklist = []rotation.ChecklistItem{{Title: "logs"}, {Title: "Logs"}}
		},
		"blank item":          func(r *rotation.IncidentReport) { r.Incident.Checklist = []rotation.ChecklistItem{{Title: " "}} },
		"details too long":    func(r *rotation.IncidentReport) { r.Incident.Details = strings.Repeat("x", rotation.MaxDetailsBytes+1) },
		"rotation not urgent": func(r *rotation.IncidentReport) { r.Rotation.Kind = rotation.KindManual },
		"offboarding unnamed": func(r *rotation.IncidentReport) { r.Incident.What = rotation.WhatOffboarding },
		"departing elsewhere": func(r *rotation.IncidentReport) { r.Incident.Departing = "Alex Doe" },
		"departing too long": func(r *rotation.IncidentReport) {
			r.Incident.What, r.Incident.Departing = rotation.WhatOffboarding, strings.Repeat("x", rotation.MaxDepartingBytes+1)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			rep := f.report("cred-a")
			mutate(&rep)
			if _, _, err := f.is.ReportIncident(f.ctx, rep); err == nil {
				t.Errorf("ReportIncident(%s) succeeded, want an error", name)
			}
		})
	}
	if _, _, err := f.is.ReportIncident(f.ctx, f.report("nope")); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("report for an unknown credential: err = %v, want ErrNotFound", err)
	}
	cred, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil || cred.OpenRotationID != "" {
		t.Errorf("rejected reports left open rotation %q (%v)", cred.OpenRotationID, err)
	}
}

func testChecklist(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	inc, _ := f.mustReport(t, "cred-a")
	f.clock.Advance(time.Minute)

	added, err := f.is.AddChecklistItem(f.ctx, inc.ID, "CI caches", "erin")
	if err != nil {
		t.Fatalf("AddChecklistItem: %v", err)
	}
	wantItem := rotation.ChecklistItem{Item: 4, Title: "CI caches", AddedBy: "erin", AddedAt: f.clock.Now()}
	if len(added.Checklist) != 4 || added.Checklist[3] != wantItem {
		t.Errorf("checklist after add = %+v, want item 4 %+v", added.Checklist, wantItem)
	}
	if _, err := f.is.AddChecklistItem(f.ctx, inc.ID, "ci CACHES", "erin"); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("add a title already on the checklist: err = %v, want ErrConflict", err)
	}
	if _, err := f.is.AddChecklistItem(f.ctx, uuid.NewString(), "x", "erin"); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("add to an unknown incident: err = %v, want ErrNotFound", err)
	}

	f.clock.Advance(time.Minute)
	ticked, err := f.is.CompleteChecklistItem(f.ctx, inc.ID, 2, "dave", "git log -S found nothing")
	if err != nil {
		t.Fatalf("CompleteChecklistItem: %v", err)
	}
	got := ticked.Checklist[1]
	if !got.Done() || got.DoneBy != "dave" || !got.DoneAt.Equal(f.clock.Now()) || got.Note != "git log -S found nothing" {
		t.Errorf("ticked item = %+v, want done by dave now with the note", got)
	}
	if ticked.ItemsLeft() != 3 || !ticked.Open() {
		t.Errorf("after one tick: %d items left, open %v; want 3, true", ticked.ItemsLeft(), ticked.Open())
	}

	if _, err := f.is.CompleteChecklistItem(f.ctx, inc.ID, 2, "mallory", "again"); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("tick a done item: err = %v, want ErrConflict", err)
	}
	if _, err := f.is.CompleteChecklistItem(f.ctx, inc.ID, 9, "dave", "n"); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("tick an unknown item: err = %v, want ErrNotFound", err)
	}
	for name, args := range map[string][2]string{"no actor": {"", "note"}, "no note": {"dave", ""}} {
		if _, err := f.is.CompleteChecklistItem(f.ctx, inc.ID, 1, args[0], args[1]); err == nil {
			t.Errorf("tick with %s succeeded, want an error", name)
		}
	}
	after, err := f.is.GetIncident(f.ctx, inc.ID)
	if err != nil {
		t.Fatalf("GetIncident: %v", err)
	}
	if diff := cmp.Diff(ticked, after); diff != "" {
		t.Errorf("refused changes modified the incident (-before +after):\n%s", diff)
	}

	events, err := f.is.ListIncidentEvents(f.ctx, inc.ID)
	if err != nil {
		t.Fatalf("ListIncidentEvents: %v", err)
	}
	type summary struct {
		Action rotation.IncidentAction
		Actor  string
		Item   int
	}
	var sums []summary
	for _, e := range events {
		sums = append(sums, summary{e.Action, e.Actor, e.Item})
	}
	want := []summary{{rotation.IncidentReported, "carol", 0}, {rotation.IncidentItemAdded, "erin", 4}, {rotation.IncidentItemDone, "dave", 2}}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("incident events (-want +got):\n%s", diff)
	}
	if last := events[len(events)-1]; !strings.Contains(last.Detail, "git history") || !strings.Contains(last.Detail, "git log -S found nothing") {
		t.Errorf("item_done detail = %q, want the item's title and the note", last.Detail)
	}
}

// Every item is ticked first; the incident closes with the retirement.
func testCloseAfterRetire(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	inc, r := f.mustReport(t, "cred-a")
	for item := 1; item <= 3; item++ {
		inc = f.tick(t, inc, item)
	}
	if !inc.Open() {
		t.Fatalf("incident closed before its rotation was retired")
	}

	f.clock.Advance(time.Hour)
	f.retire(t, r)
	got, err := f.is.GetIncident(f.ctx, inc.ID)
	if err != nil {
		t.Fatalf("GetIncident: %v", err)
	}
	if got.Open() || !got.ClosedAt.Equal(f.clock.Now()) {
		t.Errorf("after retirement: closed at %v, want %v", got.ClosedAt, f.clock.Now())
	}
	actions := f.incidentActions(t, inc.ID)
	if actions[len(actions)-1] != rotation.IncidentClosed {
		t.Errorf("incident events %v, want closed last", actions)
	}
	if _, err := f.is.AddChecklistItem(f.ctx, inc.ID, "late", "erin"); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("add to a closed incident: err = %v, want ErrConflict", err)
	}
	if open, err := f.is.ListOpenIncidents(f.ctx); err != nil || len(open) != 0 {
		t.Errorf("ListOpenIncidents after closing = %v (%v), want none", open, err)
	}
}

// The rotation is retired first; the checklist keeps the incident open
// until its last item is ticked.
func testCloseAfterChecklist(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	inc, r := f.mustReport(t, "cred-a")
	f.retire(t, r)
	got, err := f.is.GetIncident(f.ctx, inc.ID)
	if err != nil {
		t.Fatalf("GetIncident: %v", err)
	}
	if !got.Open() {
		t.Fatalf("incident closed at retirement with %d items left", got.ItemsLeft())
	}

	f.tick(t, inc, 1)
	inc = f.tick(t, inc, 3)
	if !inc.Open() {
		t.Fatalf("incident closed with item 2 left")
	}
	f.clock.Advance(time.Minute)
	inc = f.tick(t, inc, 2)
	if inc.Open() || !inc.ClosedAt.Equal(f.clock.Now()) {
		t.Errorf("after the last tick: closed at %v, want %v", inc.ClosedAt, f.clock.Now())
	}
	if _, err := f.is.CompleteChecklistItem(f.ctx, inc.ID, 1, "dave", "again"); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("tick in a closed incident: err = %v, want ErrConflict", err)
	}
	closedEvents := 0
	for _, a := range f.incidentActions(t, inc.ID) {
		if a == rotation.IncidentClosed {
			closedEvents++
		}
	}
	if closedEvents != 1 {
		t.Errorf("closed events: %d, want 1", closedEvents)
	}
}

// cancel moves the open rotation r to cancelled, as an operator does.
func (f incidentFixture) cancel(t *testing.T, r rotation.Rotation) rotation.Rotation {
	t.Helper()
	done, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel}})
	if err != nil {
		t.Fatalf("cancel %s: %v", r.ID, err)
	}
	return done
}

func (f incidentFixture) mustGetIncident(t *testing.T, id string) rotation.Incident {
	t.Helper()
	inc, err := f.is.GetIncident(f.ctx, id)
	if err != nil {
		t.Fatalf("GetIncident(%s): %v", id, err)
	}
	return inc
}

// The incident's rotation is cancelled, which leaves the leaked secret in
// use. The incident closes when a later emergency rotation of the same
// credential retires that secret and the checklist is done, not before.
func testCloseAfterCancel(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a", "cred-b")
	first, r := f.mustReport(t, "cred-a")
	f.cancel(t, r)
	for item := 1; item <= 3; item++ {
		first = f.tick(t, first, item)
	}
	if !first.Open() {
		t.Fatalf("incident closed with its rotation cancelled and no later emergency rotation")
	}

	// An emergency rotation of another credential changes nothing.
	_, otherRotation := f.mustReport(t, "cred-b")
	f.retire(t, otherRotation)
	if got := f.mustGetIncident(t, first.ID); !got.Open() {
		t.Fatalf("incident closed by the retirement of another credential's rotation")
	}

	f.clock.Advance(time.Hour)
	second, next := f.mustReport(t, "cred-a")
	if second.EscalatedFrom != "" {
		t.Fatalf("second report escalated a %s rotation, want a new emergency rotation", second.EscalatedFrom)
	}
	f.retire(t, next)
	got := f.mustGetIncident(t, first.ID)
	if got.Open() || !got.ClosedAt.Equal(f.clock.Now()) {
		t.Errorf("after the later emergency rotation retired: closed at %v, want %v", got.ClosedAt, f.clock.Now())
	}
	events, err := f.is.ListIncidentEvents(f.ctx, first.ID)
	if err != nil {
		t.Fatalf("ListIncidentEvents: %v", err)
	}
	last := events[len(events)-1]
	if last.Action != rotation.IncidentClosed || !strings.Contains(last.Detail, "cancelled") {
		t.Errorf("last event = %s %q, want closed with a detail that names the cancelled rotation", last.Action, last.Detail)
	}
	if got := f.mustGetIncident(t, second.ID); !got.Open() {
		t.Errorf("second incident closed with %d checklist items left", got.ItemsLeft())
	}
}

// A manual rotation after the cancellation does not destroy the leaked
// version, so it does not close the incident. A later emergency one that
// retires after the last tick does.
func testCancelManualKeepsOpen(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	inc, r := f.mustReport(t, "cred-a")
	f.cancel(t, r)
	f.clock.Advance(time.Minute)
	f.retire(t, f.create(t, "cred-a"))
	for item := 1; item <= 3; item++ {
		inc = f.tick(t, inc, item)
	}
	if !inc.Open() {
		t.Fatalf("incident closed after a manual rotation retired")
	}

	_, next := f.mustReport(t, "cred-a")
	f.retire(t, next)
	if got := f.mustGetIncident(t, inc.ID); got.Open() {
		t.Errorf("incident still open after a later emergency rotation retired and its checklist is done")
	}
}

// Each reminder round of an open incident is claimed once, even by
// concurrent callers; a closed incident has no more rounds.
func testClaimIncidentReminder(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	inc, r := f.mustReport(t, "cred-a")

	const callers = 8
	results := make(chan bool, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			claimed, err := f.is.ClaimIncidentReminder(f.ctx, inc.ID, 1)
			if err != nil {
				errs <- err
				return
			}
			results <- claimed
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("ClaimIncidentReminder(round 1): %v", err)
	}
	wins := 0
	for claimed := range results {
		if claimed {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("concurrent claims of round 1 won: %d, want 1", wins)
	}

	if claimed, err := f.is.ClaimIncidentReminder(f.ctx, inc.ID, 2); err != nil || !claimed {
		t.Errorf("ClaimIncidentReminder(round 2) = %v, %v; want true, nil", claimed, err)
	}
	if _, err := f.is.ClaimIncidentReminder(f.ctx, inc.ID, 0); !errors.Is(err, rotation.ErrInvalid) {
		t.Errorf("ClaimIncidentReminder(round 0): err = %v, want ErrInvalid", err)
	}
	if _, err := f.is.ClaimIncidentReminder(f.ctx, uuid.NewString(), 1); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("ClaimIncidentReminder(unknown incident): err = %v, want ErrNotFound", err)
	}

	f.retire(t, r)
	for item := 1; item <= 3; item++ {
		inc = f.tick(t, inc, item)
	}
	if inc.Open() {
		t.Fatalf("incident still open after retirement and every tick")
	}
	if _, err := f.is.ClaimIncidentReminder(f.ctx, inc.ID, 3); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("ClaimIncidentReminder(closed incident): err = %v, want ErrConflict", err)
	}
}

// Several people tick the last items at once after retirement: one of
// them closes the incident, never none, whatever order they commit in.
func testConcurrentTicks(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	const extra = 5
	for round := range 10 {
		inc, r := f.mustReport(t, "cred-a")
		for i := range extra {
			if _, err := f.is.AddChecklistItem(f.ctx, inc.ID, fmt.Sprint("place ", i), "erin"); err != nil {
				t.Fatalf("AddChecklistItem: %v", err)
			}
		}
		f.retire(t, r)

		items := len(rotation.DefaultChecklist) + extra
		var wg sync.WaitGroup
		errs := make([]error, items)
		for i := range items {
			wg.Go(func() { _, errs[i] = f.is.CompleteChecklistItem(f.ctx, inc.ID, i+1, "dave", "checked") })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: concurrent tick: %v", round, err)
			}
		}
		got, err := f.is.GetIncident(f.ctx, inc.ID)
		if err != nil {
			t.Fatalf("GetIncident: %v", err)
		}
		if got.Open() {
			t.Fatalf("round %d: every item is done and the rotation retired, yet the incident is open", round)
		}
	}
}

func testIncidentEvents(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a", "cred-b")
	a, _ := f.mustReport(t, "cred-a")
	f.clock.Advance(time.Minute)
	b, rb := f.mustReport(t, "cred-b")

	if err := f.is.AppendIncidentEvent(f.ctx, rotation.IncidentEvent{IncidentID: a.ID, Actor: "rotor", Action: rotation.IncidentNotifyFailed,
		Detail: "channel slack: HTTP 404"}); err != nil {
		t.Fatalf("AppendIncidentEvent: %v", err)
	}
	events, err := f.is.ListIncidentEvents(f.ctx, a.ID)
	if err != nil {
		t.Fatalf("ListIncidentEvents: %v", err)
	}
	if len(events) != 2 || events[1].Action != rotation.IncidentNotifyFailed || !events[1].At.Equal(f.clock.Now()) || events[1].Detail != "channel slack: HTTP 404" {
		t.Errorf("events = %+v, want reported then notify_failed now", events)
	}
	missing := uuid.NewString()
	if err := f.is.AppendIncidentEvent(f.ctx, rotation.IncidentEvent{IncidentID: missing, Actor: "rotor", Action: rotation.IncidentNotified}); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("append to an unknown incident: err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{missing, "not-a-uuid"} {
		if _, err := f.is.GetIncident(f.ctx, id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("GetIncident(%q): err = %v, want ErrNotFound", id, err)
		}
		if _, err := f.is.GetIncidentByRotation(f.ctx, id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("GetIncidentByRotation(%q): err = %v, want ErrNotFound", id, err)
		}
		if _, err := f.is.ListIncidentEvents(f.ctx, id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("ListIncidentEvents(%q): err = %v, want ErrNotFound", id, err)
		}
	}

	open, err := f.is.ListOpenIncidents(f.ctx)
	if err != nil {
		t.Fatalf("ListOpenIncidents: %v", err)
	}
	var ids []string
	for _, inc := range open {
		ids = append(ids, inc.ID)
		if len(inc.Checklist) != 3 {
			t.Errorf("listed incident %s has %d checklist items, want 3", inc.ID, len(inc.Checklist))
		}
	}
	if diff := cmp.Diff([]string{a.ID, b.ID}, ids); diff != "" {
		t.Errorf("open incidents, oldest first (-want +got):\n%s", diff)
	}
	listB, err := f.is.ListIncidents(f.ctx, "cred-b")
	if err != nil || len(listB) != 1 || listB[0].RotationID != rb.ID {
		t.Errorf("ListIncidents(cred-b) = %v (%v), want only %s", listB, err, b.ID)
	}
}

func testOldRevoked(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a")
	r := f.create(t, "cred-a")
	r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	f.clock.Advance(time.Minute)
	revokedAt := f.clock.Now()

	revoked, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, OldRevoked: true,
		Event: &rotation.Event{Actor: "bob", Action: rotation.ActionOldRevoked, Detail: "old secret rejected"}})
	if err != nil {
		t.Fatalf("record the early revocation: %v", err)
	}
	if !revoked.OldRevokedAt.Equal(revokedAt) || revoked.State != rotation.StateNewIssued {
		t.Errorf("after revocation: revoked at %v in %s, want %v in new_issued", revoked.OldRevokedAt, revoked.State, revokedAt)
	}

	f.clock.Advance(time.Minute)
	promoted := f.step(t, revoked, rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s1", New: "2"})
	if !promoted.OldRevokedAt.Equal(revokedAt) {
		t.Errorf("promotion changed the revocation time to %v, want %v kept", promoted.OldRevokedAt, revokedAt)
	}
	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(promoted, got); diff != "" {
		t.Errorf("GetRotation differs from Apply's result (-apply +get):\n%s", diff)
	}
	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if e := events[2]; e.Action != rotation.ActionOldRevoked || e.From != rotation.StateNewIssued || e.To != rotation.StateNewIssued {
		t.Errorf("third event = %+v, want old_revoked new_issued → new_issued", e)
	}
}

// offboardingReport is f.report for a departure: an offboarding rotation
// that names who left.
func (f incidentFixture) offboardingReport(credID, departing string) rotation.IncidentReport {
	rep := f.report(credID)
	rep.Incident.What, rep.Incident.Departing = rotation.WhatOffboarding, departing
	rep.Rotation.Kind = rotation.KindOffboarding
	return rep
}

func testOffboarding(t *testing.T, newStore NewStore) {
	f := setupIncidents(t, newStore, "cred-a", "cred-b")

	inc, r, err := f.is.ReportIncident(f.ctx, f.offboardingReport("cred-a", "Alex Doe"))
	if err != nil {
		t.Fatalf("ReportIncident(offboarding): %v", err)
	}
	if r.Kind != rotation.KindOffboarding || r.State != rotation.StateRequested {
		t.Errorf("opened rotation: kind %s, state %s; want offboarding, requested", r.Kind, r.State)
	}
	if got := f.mustGetIncident(t, inc.ID); got.Departing != "Alex Doe" || got.What != rotation.WhatOffboarding {
		t.Errorf("stored incident: what %s, departing %q; want offboarding, Alex Doe", got.What, got.Departing)
	}
	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil || len(events) != 1 || !strings.Contains(events[0].Detail, "kind offboarding") {
		t.Errorf("request event of the offboarding rotation = %+v (%v), want one that names the kind", events, err)
	}

	// A departure reported on an open manual rotation turns it into an
	// offboarding rotation and keeps its state.
	manual := f.create(t, "cred-b")
	manual = f.step(t, manual, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	inc, r, err = f.is.ReportIncident(f.ctx, f.offboardingReport("cred-b", "Sam Roe"))
	if err != nil {
		t.Fatalf("ReportIncident(offboarding on a manual rotation): %v", err)
	}
	if r.ID != manual.ID || r.Kind != rotation.KindOffboarding || r.State != rotation.StateNewIssued || inc.EscalatedFrom != rotation.KindManual {
		t.Errorf("escalated rotation: %s %s %s from %s; want %s offboarding new_issued from manual", r.ID, r.Kind, r.State, inc.EscalatedFrom, manual.ID)
	}
	events, err = f.store.ListEvents(f.ctx, r.ID)
	if err != nil || !strings.Contains(events[len(events)-1].Detail, "kind manual → offboarding") {
		t.Errorf("last event of the escalated rotation = %+v (%v), want the change of kind", events[len(events)-1], err)
	}
}
