// Package storetest is the contract every rotation.Store must pass. The
// memory and Postgres stores run the same suite, so `rotor dev` behaves as
// production does.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// Clock is a settable time source for the suite.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewStore returns an empty store under test that stamps times with now.
type NewStore func(t *testing.T, now func() time.Time) rotation.Store

// Run runs the contract suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore) {
	t.Run("credentials", func(t *testing.T) { t.Parallel(); testCredentials(t, newStore) })
	t.Run("credential list", func(t *testing.T) { t.Parallel(); testListing(t, newStore) })
	t.Run("create rotation", func(t *testing.T) { t.Parallel(); testCreateRotation(t, newStore) })
	t.Run("one open rotation per credential", func(t *testing.T) { t.Parallel(); testOneOpen(t, newStore) })
	t.Run("full rotation", func(t *testing.T) { t.Parallel(); testFullRotation(t, newStore) })
	t.Run("optimistic concurrency", func(t *testing.T) { t.Parallel(); testOptimistic(t, newStore) })
	t.Run("concurrent changes", func(t *testing.T) { t.Parallel(); testConcurrentChanges(t, newStore) })
	t.Run("illegal changes", func(t *testing.T) { t.Parallel(); testIllegal(t, newStore) })
	t.Run("rollback and cancel", func(t *testing.T) { t.Parallel(); testRollbackCancel(t, newStore) })
	t.Run("unfinished steps", func(t *testing.T) { t.Parallel(); testUnfinished(t, newStore) })
	t.Run("not found", func(t *testing.T) { t.Parallel(); testNotFound(t, newStore) })
	t.Run("pause and resume", func(t *testing.T) { t.Parallel(); testPause(t, newStore) })
	t.Run("reminders", func(t *testing.T) { t.Parallel(); testReminders(t, newStore) })
	t.Run("incidents", func(t *testing.T) { t.Parallel(); testIncidents(t, newStore) })
	t.Run("audit log", func(t *testing.T) { t.Parallel(); testAudit(t, newStore) })
}

// Credential returns a valid credential with the given id.
func Credential(id string) rotation.Credential {
	return rotation.Credential{
		ID:             id,
		Organisation:   "Org " + id,
		OrganisationID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(id)).String(),
		ClientID:       "client-" + id,
		AuthMethod:     "basic",
		RotationPeriod: 90 * 24 * time.Hour,
		MinDualActive:  time.Hour,
		Backend:        "memory",
		SecretPath:     "persium/" + id,
		RetireMode:     secretstore.RetireDisable,
	}
}

type fixture struct {
	store rotation.Store
	clock *Clock
	ctx   context.Context
}

func setup(t *testing.T, newStore NewStore, credIDs ...string) fixture {
	t.Helper()
	clock := NewClock()
	f := fixture{store: newStore(t, clock.Now), clock: clock, ctx: context.Background()}
	var creds []rotation.Credential
	for _, id := range credIDs {
		creds = append(creds, Credential(id))
	}
	if err := f.store.SyncCredentials(f.ctx, creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	return f
}

func (f fixture) create(t *testing.T, credID string) rotation.Rotation {
	t.Helper()
	r, err := f.store.CreateRotation(f.ctx, rotation.Rotation{
		ID: uuid.NewString(), CredentialID: credID, Kind: rotation.KindManual,
		Reason: "quarterly", Ticket: "PER-1", RequestedBy: "alice",
	}, rotation.Event{Actor: "alice", Action: rotation.ActionRequest, Reason: "quarterly"})
	if err != nil {
		t.Fatalf("CreateRotation(%s): %v", credID, err)
	}
	return r
}

// step moves r to state to in two changes, intent then completion, as the
// service does, and returns the result.
func (f fixture) step(t *testing.T, r rotation.Rotation, s rotation.Step, to rotation.State, v secretstore.Versions) rotation.Rotation {
	t.Helper()
	r, err := f.store.Apply(f.ctx, rotation.Change{
		RotationID: r.ID, From: r.State, Version: r.Version,
		To: r.State, NewStep: s, StepBy: "bob", StepReason: "step reason",
	})
	if err != nil {
		t.Fatalf("start %s on %s: %v", s, r.ID, err)
	}
	if r.Step != s || r.StepBy != "bob" || r.StepReason != "step reason" || r.StepStartedAt.IsZero() {
		t.Fatalf("after starting %s: step = %q by %q (%q) at %v", s, r.Step, r.StepBy, r.StepReason, r.StepStartedAt)
	}
	f.clock.Advance(time.Minute)
	r, err = f.store.Apply(f.ctx, rotation.Change{
		RotationID: r.ID, From: r.State, Version: r.Version, Step: s,
		To: to, Versions: &v,
		Event: &rotation.Event{Actor: "bob", Action: actionFor(s), Reason: "step reason", Detail: "detail"},
	})
	if err != nil {
		t.Fatalf("complete %s on %s: %v", s, r.ID, err)
	}
	return r
}

func actionFor(s rotation.Step) rotation.Action {
	switch s {
	case rotation.StepStage:
		return rotation.ActionIssue
	case rotation.StepPromote:
		return rotation.ActionPromote
	case rotation.StepRollback:
		return rotation.ActionRollback
	case rotation.StepRetire:
		return rotation.ActionRetire
	default:
		return rotation.ActionCancel
	}
}

func testCredentials(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-b", "cred-a")
	created := f.clock.Now()

	got, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	want := Credential("cred-a")
	want.CreatedAt = created
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetCredential mismatch (-want +got):\n%s", diff)
	}
	if got, want := got.NextDueAt(), created.Add(90*24*time.Hour); !got.Equal(want) {
		t.Errorf("NextDueAt = %v, want %v", got, want)
	}

	// The configured issue date of the secret in use moves the first due
	// date, and the window is kept.
	issued := Credential("cred-b")
	issued.IssuedAt = created.Add(-80 * 24 * time.Hour)
	issued.Window = "Tue 02:00-04:00 Europe/London"
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{issued}); err != nil {
		t.Fatalf("sync with an issue date: %v", err)
	}
	gotB, err := f.store.GetCredential(f.ctx, "cred-b")
	if err != nil {
		t.Fatalf("GetCredential(cred-b): %v", err)
	}
	if want := issued.IssuedAt.Add(90 * 24 * time.Hour); !gotB.NextDueAt().Equal(want) || gotB.Window != issued.Window {
		t.Errorf("cred-b: next due %v, window %q; want %v, %q", gotB.NextDueAt(), gotB.Window, want, issued.Window)
	}

	// A second sync updates configured fields and keeps CreatedAt.
	f.clock.Advance(time.Hour)
	changed := Credential("cred-a")
	changed.Organisation = "Renamed"
	changed.MinDualActive = 3 * time.Hour
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{changed}); err != nil {
		t.Fatalf("second SyncCredentials: %v", err)
	}
	got, err = f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential after sync: %v", err)
	}
	if got.Organisation != "Renamed" || got.MinDualActive != 3*time.Hour {
		t.Errorf("after sync: organisation %q, min dual active %v; want Renamed, 3h", got.Organisation, got.MinDualActive)
	}
	if !got.CreatedAt.Equal(created) {
		t.Errorf("after sync: CreatedAt = %v, want %v kept", got.CreatedAt, created)
	}

	list, err := f.store.ListCredentials(f.ctx)
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if diff := cmp.Diff([]string{"cred-b", "cred-a"}, ids); diff != "" {
		t.Errorf("ListCredentials ids (-want +got):\n%s", diff)
	}

	// A client id belongs to one credential.
	dup := Credential("cred-c")
	dup.ClientID = "client-cred-a"
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{dup}); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("sync with a duplicate client id: err = %v, want ErrConflict", err)
	}
}

func testCreateRotation(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")

	if r.State != rotation.StateRequested || r.Version != 1 || r.Step != rotation.StepNone {
		t.Errorf("new rotation: state %s, version %d, step %q; want requested, 1, none", r.State, r.Version, r.Step)
	}
	if !r.CreatedAt.Equal(f.clock.Now()) || !r.UpdatedAt.Equal(f.clock.Now()) {
		t.Errorf("new rotation: created %v, updated %v; want both %v", r.CreatedAt, r.UpdatedAt, f.clock.Now())
	}
	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("GetRotation differs from CreateRotation's result (-create +get):\n%s", diff)
	}

	cred, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if cred.OpenRotationID != r.ID {
		t.Errorf("OpenRotationID = %q, want %q", cred.OpenRotationID, r.ID)
	}

	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 1 {
		t.Fatalf("events after create: %d, want 1", len(events))
	}
	e := events[0]
	if e.Action != rotation.ActionRequest || e.From != "" || e.To != rotation.StateRequested || e.Actor != "alice" || e.CredentialID != "cred-a" {
		t.Errorf("request event = %+v", e)
	}
}

func testOneOpen(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a", "cred-b")

	// Many concurrent requests for one credential: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.store.CreateRotation(f.ctx, rotation.Rotation{
				ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: fmt.Sprint("op", i),
			}, rotation.Event{Actor: fmt.Sprint("op", i), Action: rotation.ActionRequest})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, rotation.ErrConflict):
			t.Errorf("concurrent CreateRotation: err = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("concurrent CreateRotation: %d succeeded, want 1", wins)
	}

	// Another credential is not affected, and a terminal rotation frees the slot.
	b := f.create(t, "cred-b")
	if _, err := f.store.Apply(f.ctx, rotation.Change{
		RotationID: b.ID, From: b.State, Version: b.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel, Reason: "mistake"},
	}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	f.create(t, "cred-b")
}

func testFullRotation(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")

	r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	issuedAt := f.clock.Now()
	if r.State != rotation.StateNewIssued || !r.IssuedAt.Equal(issuedAt) || r.Step != rotation.StepNone || r.StepBy != "" {
		t.Errorf("after stage: state %s, issued %v, step %q by %q; want new_issued, %v, none", r.State, r.IssuedAt, r.Step, r.StepBy, issuedAt)
	}

	r = f.step(t, r, rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s1", New: "2"})
	if r.State != rotation.StateDualActive || !r.PromotedAt.Equal(f.clock.Now()) || r.Versions.New != "2" {
		t.Errorf("after promote: state %s, promoted %v, versions %+v", r.State, r.PromotedAt, r.Versions)
	}

	f.clock.Advance(2 * time.Hour)
	r = f.step(t, r, rotation.StepRetire, rotation.StateOldRetired, r.Versions)
	retiredAt := f.clock.Now()
	if r.State != rotation.StateOldRetired || !r.RetiredAt.Equal(retiredAt) || !r.IssuedAt.Equal(issuedAt) {
		t.Errorf("after retire: state %s, retired %v, issued %v", r.State, r.RetiredAt, r.IssuedAt)
	}
	if r.Version != 7 {
		t.Errorf("after six changes: version %d, want 7", r.Version)
	}

	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("GetRotation differs from Apply's result (-apply +get):\n%s", diff)
	}

	cred, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if !cred.LastRetiredAt.Equal(retiredAt) || cred.OpenRotationID != "" {
		t.Errorf("credential after retire: last retired %v, open %q; want %v, none", cred.LastRetiredAt, cred.OpenRotationID, retiredAt)
	}
	if want := retiredAt.Add(90 * 24 * time.Hour); !cred.NextDueAt().Equal(want) {
		t.Errorf("NextDueAt = %v, want %v", cred.NextDueAt(), want)
	}

	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	type summary struct {
		Action   rotation.Action
		From, To rotation.State
	}
	var got2 []summary
	for _, e := range events {
		got2 = append(got2, summary{e.Action, e.From, e.To})
	}
	want := []summary{
		{rotation.ActionRequest, "", rotation.StateRequested},
		{rotation.ActionIssue, rotation.StateRequested, rotation.StateNewIssued},
		{rotation.ActionPromote, rotation.StateNewIssued, rotation.StateDualActive},
		{rotation.ActionRetire, rotation.StateDualActive, rotation.StateOldRetired},
	}
	if diff := cmp.Diff(want, got2); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if last := events[len(events)-1]; !last.At.Equal(retiredAt) || last.Detail != "detail" || last.Reason != "step reason" {
		t.Errorf("retire event: at %v, detail %q, reason %q", last.At, last.Detail, last.Reason)
	}
}

func testOptimistic(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")

	stale := rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, NewStep: rotation.StepStage, StepBy: "bob"}
	if _, err := f.store.Apply(f.ctx, stale); err != nil {
		t.Fatalf("first change: %v", err)
	}
	if _, err := f.store.Apply(f.ctx, stale); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("change from a stale version: err = %v, want ErrConflict", err)
	}

	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	// The step is in progress: a change that expects no step loses.
	noStep := rotation.Change{RotationID: r.ID, From: got.State, Version: got.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "carol", Action: rotation.ActionCancel}}
	if _, err := f.store.Apply(f.ctx, noStep); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("change that ignores the step in progress: err = %v, want ErrConflict", err)
	}
	after, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(got, after); diff != "" {
		t.Errorf("a losing change modified the rotation (-before +after):\n%s", diff)
	}
	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 1 {
		t.Errorf("a losing change appended an event: %d events, want 1", len(events))
	}
}

func testConcurrentChanges(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")
	r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.store.Apply(f.ctx, rotation.Change{
				RotationID: r.ID, From: r.State, Version: r.Version,
				To: r.State, NewStep: rotation.StepPromote, StepBy: fmt.Sprint("op", i),
			})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, rotation.ErrConflict):
			t.Errorf("concurrent Apply: err = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("concurrent Apply: %d succeeded, want 1", wins)
	}
	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if got.Version != r.Version+1 {
		t.Errorf("version after one winning change: %d, want %d", got.Version, r.Version+1)
	}
}

func testIllegal(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")

	cases := []struct {
		name string
		c    rotation.Change
	}{
		{"requested to dual_active", rotation.Change{To: rotation.StateDualActive, Versions: &secretstore.Versions{Old: "1", New: "2"}}},
		{"requested to old_retired", rotation.Change{To: rotation.StateOldRetired}},
		{"new_issued without a staged version", rotation.Change{To: rotation.StateNewIssued}},
		{"promote step in requested", rotation.Change{To: rotation.StateRequested, NewStep: rotation.StepPromote, StepBy: "bob"}},
		{"step without an actor", rotation.Change{To: rotation.StateRequested, NewStep: rotation.StepStage}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.RotationID, c.From, c.Version = r.ID, r.State, r.Version
			if _, err := f.store.Apply(f.ctx, c); err == nil {
				t.Errorf("Apply(%s) succeeded, want an error", tc.name)
			}
			got, err := f.store.GetRotation(f.ctx, r.ID)
			if err != nil {
				t.Fatalf("GetRotation: %v", err)
			}
			if diff := cmp.Diff(r, got); diff != "" {
				t.Errorf("rejected change modified the rotation (-before +after):\n%s", diff)
			}
		})
	}

	// Nothing leaves a terminal state.
	done, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel}})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: done.State, Version: done.Version, To: rotation.StateRequested}); err == nil {
		t.Errorf("change out of cancelled succeeded, want an error")
	}
}

func testRollbackCancel(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")
	r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	issuedAt := r.IssuedAt
	r = f.step(t, r, rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s1", New: "2"})

	r = f.step(t, r, rotation.StepRollback, rotation.StateNewIssued, secretstore.Versions{Old: "3", Staged: "s2"})
	if r.State != rotation.StateNewIssued || !r.PromotedAt.IsZero() || !r.IssuedAt.Equal(issuedAt) {
		t.Errorf("after rollback: state %s, promoted %v, issued %v; want new_issued, zero, %v", r.State, r.PromotedAt, r.IssuedAt, issuedAt)
	}
	if diff := cmp.Diff(secretstore.Versions{Old: "3", Staged: "s2"}, r.Versions); diff != "" {
		t.Errorf("versions after rollback (-want +got):\n%s", diff)
	}

	r = f.step(t, r, rotation.StepDiscard, rotation.StateCancelled, r.Versions)
	if r.State != rotation.StateCancelled || !r.CancelledAt.Equal(f.clock.Now()) {
		t.Errorf("after discard: state %s, cancelled %v", r.State, r.CancelledAt)
	}
	cred, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if !cred.LastRetiredAt.IsZero() {
		t.Errorf("a cancelled rotation set LastRetiredAt to %v", cred.LastRetiredAt)
	}
}

func testUnfinished(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a", "cred-b")
	a := f.create(t, "cred-a")
	f.create(t, "cred-b")

	a, err := f.store.Apply(f.ctx, rotation.Change{RotationID: a.ID, From: a.State, Version: a.Version, To: a.State, NewStep: rotation.StepStage, StepBy: "bob"})
	if err != nil {
		t.Fatalf("start stage: %v", err)
	}
	got, err := f.store.ListUnfinished(f.ctx)
	if err != nil {
		t.Fatalf("ListUnfinished: %v", err)
	}
	if len(got) != 1 || got[0].ID != a.ID || got[0].Step != rotation.StepStage {
		t.Errorf("ListUnfinished = %+v, want only %s in stage", got, a.ID)
	}
}

func testNotFound(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	missing := uuid.NewString()

	if _, err := f.store.GetCredential(f.ctx, "nope"); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("GetCredential(unknown): err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{missing, "not-a-uuid"} {
		if _, err := f.store.GetRotation(f.ctx, id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("GetRotation(%q): err = %v, want ErrNotFound", id, err)
		}
		if _, err := f.store.ListEvents(f.ctx, id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("ListEvents(%q): err = %v, want ErrNotFound", id, err)
		}
		if _, err := f.store.Apply(f.ctx, rotation.Change{RotationID: id, From: rotation.StateRequested, Version: 1, To: rotation.StateCancelled}); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("Apply(%q): err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := f.store.CreateRotation(f.ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "nope", Kind: rotation.KindManual, RequestedBy: "a"},
		rotation.Event{Actor: "a", Action: rotation.ActionRequest}); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("CreateRotation(unknown credential): err = %v, want ErrNotFound", err)
	}
}

func testPause(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	r := f.create(t, "cred-a")

	pause := func(r rotation.Rotation) (rotation.Rotation, error) {
		return f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State,
			Pause: "version 7 was written by another tool",
			Event: &rotation.Event{Actor: "rotor", Action: rotation.ActionPaused, Detail: "version 7 was written by another tool"}})
	}
	if _, err := pause(r); err == nil {
		t.Errorf("pausing a requested rotation succeeded, want an error")
	}

	r = f.step(t, r, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	f.clock.Advance(time.Minute)
	paused, err := pause(r)
	if err != nil {
		t.Fatalf("pause: %v", err)
	}
	if !paused.PausedAt.Equal(f.clock.Now()) || paused.PauseReason != "version 7 was written by another tool" {
		t.Errorf("after pause: paused at %v, reason %q", paused.PausedAt, paused.PauseReason)
	}
	got, err := f.store.GetRotation(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(paused, got); diff != "" {
		t.Errorf("GetRotation differs from the paused rotation (-apply +get):\n%s", diff)
	}

	resumed, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: paused.State, Version: paused.Version, To: paused.State,
		Resume: true, AcceptDrift: "version 7 was written by another tool",
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionResumed, Reason: "the write was ours"}})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !resumed.PausedAt.IsZero() || resumed.PauseReason != "" || resumed.DriftAccepted != "version 7 was written by another tool" {
		t.Errorf("after resume: paused at %v, reason %q, accepted %q", resumed.PausedAt, resumed.PauseReason, resumed.DriftAccepted)
	}

	// A change of state ends a pause.
	paused, err = pause(resumed)
	if err != nil {
		t.Fatalf("second pause: %v", err)
	}
	cancelled, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: paused.State, Version: paused.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel, Reason: "start over"}})
	if err != nil {
		t.Fatalf("cancel a paused rotation: %v", err)
	}
	if !cancelled.PausedAt.IsZero() || cancelled.PauseReason != "" {
		t.Errorf("a cancelled rotation is still paused: %v %q", cancelled.PausedAt, cancelled.PauseReason)
	}

	events, err := f.store.ListEvents(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	var actions []rotation.Action
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	want := []rotation.Action{rotation.ActionRequest, rotation.ActionIssue, rotation.ActionPaused, rotation.ActionResumed, rotation.ActionPaused, rotation.ActionCancel}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
