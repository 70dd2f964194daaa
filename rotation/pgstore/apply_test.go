package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secretstore"
)

// cost is what one transition sends to Postgres, as roundTrips counts it.
type cost struct{ RoundTrips, Transactions, Reads int64 }

// transitionCosts runs a rotation to prepare the statements on the
// connections, then a second one, and returns the cost of each of its
// transitions.
func transitionCosts(t *testing.T, rig *transitionRig) map[string]cost {
	t.Helper()
	ctx := context.Background()
	if err := rig.rotate(ctx, nil); err != nil {
		t.Fatalf("first rotation: %v", err)
	}

	got := map[string]cost{}
	rig.trips.reset()
	err := rig.rotate(ctx, func(transition string) {
		got[transition] = cost{rig.trips.total.Load(), rig.trips.tx.Load(), rig.trips.reads.Load()}
		rig.trips.reset()
	})
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	return got
}

// Each transition costs what BENCHMARKS.md reports: one read of the
// rotation with its credential, and one statement or batch for each
// transaction. The steps that write to the secrets manager keep two
// transactions, the intent and the completion.
func TestTransitionRoundTrips(t *testing.T) {
	t.Parallel()
	got := transitionCosts(t, newTransitionRig(t, nil))
	want := map[string]cost{
		"request": {RoundTrips: 1, Transactions: 1, Reads: 0},
		"issued":  {RoundTrips: 3, Transactions: 2, Reads: 1},
		"promote": {RoundTrips: 3, Transactions: 2, Reads: 1},
		"retire":  {RoundTrips: 3, Transactions: 2, Reads: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cost per transition (-want +got):\n%s", diff)
	}
}

// plainStore hides every method beyond rotation.Store, such as
// RotationWithCredential, as a store that does not offer them would.
type plainStore struct{ rotation.Store }

// On a store without the combined read, the service reads the rotation and
// then its credential: one more round trip for each transition but the
// request.
func TestTransitionRoundTripsWithoutCombinedRead(t *testing.T) {
	t.Parallel()
	rig := newTransitionRig(t, func(s rotation.Store) rotation.Store { return plainStore{s} })
	got := transitionCosts(t, rig)
	want := map[string]cost{
		"request": {RoundTrips: 1, Transactions: 1, Reads: 0},
		"issued":  {RoundTrips: 4, Transactions: 2, Reads: 2},
		"promote": {RoundTrips: 4, Transactions: 2, Reads: 2},
		"retire":  {RoundTrips: 4, Transactions: 2, Reads: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cost per transition (-want +got):\n%s", diff)
	}
}

// storeWithCredential returns a Postgres store with the credential cred-a
// and an open rotation of it.
func storeWithCredential(t *testing.T) (*pgstore.Store, *storetest.Clock, rotation.Rotation) {
	t.Helper()
	ctx := context.Background()
	clock := storetest.NewClock()
	store := pgstore.New(pgtest.NewPool(t), clock.Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	r, err := store.CreateRotation(ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest, Reason: "quarterly"})
	if err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}
	return store, clock, r
}

func TestRotationWithCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, r := storeWithCredential(t)

	gotRot, gotCred, err := store.RotationWithCredential(ctx, r.ID)
	if err != nil {
		t.Fatalf("RotationWithCredential: %v", err)
	}
	wantRot, err := store.GetRotation(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	wantCred, err := store.GetCredential(ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if diff := cmp.Diff(wantRot, gotRot); diff != "" {
		t.Errorf("rotation differs from GetRotation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCred, gotCred); diff != "" {
		t.Errorf("credential differs from GetCredential (-want +got):\n%s", diff)
	}
	if gotCred.OpenRotationID != r.ID {
		t.Errorf("OpenRotationID = %q, want %q", gotCred.OpenRotationID, r.ID)
	}

	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if _, _, err := store.RotationWithCredential(ctx, id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("RotationWithCredential(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}

// The change and its event are one statement: an event the schema rejects
// leaves the rotation as it was.
func TestApplyEventRejectedKeepsRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, r := storeWithCredential(t)

	_, err := store.Apply(ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: "no-such-action"}})
	if err == nil {
		t.Fatalf("Apply with an event the schema rejects succeeded")
	}
	got, err := store.GetRotation(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("rotation changed although its event was rejected (-before +after):\n%s", diff)
	}
	events, err := store.ListEvents(ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 1 {
		t.Errorf("events = %+v, want the request event only", events)
	}
}

// CreateRotation inserts the rotation and its event together: an event the
// schema rejects leaves no rotation.
func TestCreateRotationEventRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := storetest.NewClock()
	store := pgstore.New(pgtest.NewPool(t), clock.Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}

	id := uuid.NewString()
	_, err := store.CreateRotation(ctx, rotation.Rotation{ID: id, CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "", Action: rotation.ActionRequest})
	if err == nil {
		t.Fatalf("CreateRotation with an event without actor succeeded")
	}
	if _, err := store.GetRotation(ctx, id); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("GetRotation after the rejected create: err = %v, want ErrNotFound", err)
	}

	_, err = store.CreateRotation(ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "no-such-credential", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest})
	if !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("CreateRotation for an unknown credential: err = %v, want ErrNotFound", err)
	}
}

// A retirement and the closing of its incidents are one batch that
// Postgres runs as one implicit transaction: when closing fails, the
// rotation, the credential and the incident stay as they were, and the
// same change succeeds once closing works again.
func TestRetireBatchIsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	clock := storetest.NewClock()
	store := pgstore.New(pool, clock.Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}

	rep := rotation.IncidentReport{
		Incident: rotation.Incident{ID: uuid.NewString(), CredentialID: "cred-a", What: rotation.WhatPublicCommit,
			DetectedAt: clock.Now().Add(-time.Hour), ReportedBy: "carol", Details: "pushed to a public fork",
			Checklist: []rotation.ChecklistItem{{Title: "search the logs"}}},
		Rotation: rotation.Rotation{ID: uuid.NewString(), Kind: rotation.KindEmergency, Reason: "suspected compromise", RequestedBy: "carol"},
	}
	inc, r, err := store.ReportIncident(ctx, rep)
	if err != nil {
		t.Fatalf("ReportIncident: %v", err)
	}
	if _, err := store.CompleteChecklistItem(ctx, inc.ID, 1, "dave", "nothing found"); err != nil {
		t.Fatalf("CompleteChecklistItem: %v", err)
	}
	r = moveToRetireStep(t, store, r)

	// The schema is this test's own, so a trigger can make closing fail.
	_, err = pool.Exec(ctx, `
		CREATE FUNCTION test_refuse_close() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			RAISE EXCEPTION 'closing refused by the test';
		END;
		$$;
		CREATE TRIGGER test_refuse_close BEFORE INSERT ON incident_events
			FOR EACH ROW WHEN (NEW.action = 'closed') EXECUTE FUNCTION test_refuse_close();`)
	if err != nil {
		t.Fatalf("install the trigger: %v", err)
	}

	clock.Advance(time.Hour)
	retire := rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, Step: rotation.StepRetire, To: rotation.StateOldRetired,
		Event: &rotation.Event{Actor: "bob", Action: rotation.ActionRetire}}
	if _, err := store.Apply(ctx, retire); err == nil {
		t.Fatalf("retire succeeded although closing the incident failed")
	}
	got, err := store.GetRotation(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("rotation changed although the batch failed (-before +after):\n%s", diff)
	}
	cred, err := store.GetCredential(ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if !cred.LastRetiredAt.IsZero() {
		t.Errorf("credential retired at %v although the batch failed", cred.LastRetiredAt)
	}
	events, err := store.ListEvents(ctx, r.ID)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if last := events[len(events)-1]; last.Action == rotation.ActionRetire {
		t.Errorf("retire event recorded although the batch failed: %+v", last)
	}
	if open, err := store.GetIncident(ctx, inc.ID); err != nil || !open.Open() {
		t.Errorf("incident after the failed batch: open = %v (%v), want open", open.Open(), err)
	}

	if _, err := pool.Exec(ctx, `DROP TRIGGER test_refuse_close ON incident_events`); err != nil {
		t.Fatalf("drop the trigger: %v", err)
	}
	done, err := store.Apply(ctx, retire)
	if err != nil {
		t.Fatalf("retire once closing works: %v", err)
	}
	if done.State != rotation.StateOldRetired {
		t.Errorf("state = %s, want old_retired", done.State)
	}
	closed, err := store.GetIncident(ctx, inc.ID)
	if err != nil {
		t.Fatalf("GetIncident: %v", err)
	}
	if closed.Open() || !closed.ClosedAt.Equal(clock.Now()) {
		t.Errorf("incident closed at %v, want %v", closed.ClosedAt, clock.Now())
	}
	cred, err = store.GetCredential(ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if !cred.LastRetiredAt.Equal(clock.Now()) {
		t.Errorf("credential retired at %v, want %v", cred.LastRetiredAt, clock.Now())
	}
}

// The retirement's batch and the last tick of the checklist race. Whichever
// commits second sees the other's change and closes the incident, because
// each locks the incident first and then reads with a new snapshot.
func TestRetireRacesLastTick(t *testing.T) {
	t.Parallel()
	const pairs = 12
	ctx := context.Background()
	clock := storetest.NewClock()
	store := pgstore.New(pgtest.NewPool(t), clock.Now)

	var creds []rotation.Credential
	for i := range pairs {
		creds = append(creds, storetest.Credential(fmt.Sprintf("cred-%d", i)))
	}
	if err := store.SyncCredentials(ctx, creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}

	type pair struct {
		incident string
		retire   rotation.Change
	}
	var races []pair
	for _, c := range creds {
		inc, r, err := store.ReportIncident(ctx, rotation.IncidentReport{
			Incident: rotation.Incident{ID: uuid.NewString(), CredentialID: c.ID, What: rotation.WhatPublicCommit,
				DetectedAt: clock.Now().Add(-time.Hour), ReportedBy: "carol", Details: "pushed to a public fork",
				Checklist: []rotation.ChecklistItem{{Title: "search the logs"}}},
			Rotation: rotation.Rotation{ID: uuid.NewString(), Kind: rotation.KindEmergency, Reason: "suspected compromise", RequestedBy: "carol"},
		})
		if err != nil {
			t.Fatalf("ReportIncident(%s): %v", c.ID, err)
		}
		r = moveToRetireStep(t, store, r)
		races = append(races, pair{incident: inc.ID, retire: rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version,
			Step: rotation.StepRetire, To: rotation.StateOldRetired, Event: &rotation.Event{Actor: "bob", Action: rotation.ActionRetire}}})
	}

	var wg sync.WaitGroup
	for _, p := range races {
		wg.Go(func() {
			if _, err := store.Apply(ctx, p.retire); err != nil {
				t.Errorf("retire rotation %s: %v", p.retire.RotationID, err)
			}
		})
		wg.Go(func() {
			if _, err := store.CompleteChecklistItem(ctx, p.incident, 1, "dave", "nothing found"); err != nil {
				t.Errorf("tick incident %s: %v", p.incident, err)
			}
		})
	}
	wg.Wait()

	for _, p := range races {
		got, err := store.GetIncident(ctx, p.incident)
		if err != nil {
			t.Fatalf("GetIncident: %v", err)
		}
		if got.Open() {
			t.Errorf("incident %s still open after its rotation retired and its checklist was done", p.incident)
		}
	}
}

// moveToRetireStep moves a requested rotation to dual_active and starts
// its retire step.
func moveToRetireStep(t *testing.T, store *pgstore.Store, r rotation.Rotation) rotation.Rotation {
	t.Helper()
	ctx := context.Background()
	for _, s := range []struct {
		step   rotation.Step
		to     rotation.State
		action rotation.Action
		v      secretstore.Versions
	}{
		{rotation.StepStage, rotation.StateNewIssued, rotation.ActionIssue, secretstore.Versions{Old: "1", Staged: "2"}},
		{rotation.StepPromote, rotation.StateDualActive, rotation.ActionPromote, secretstore.Versions{Old: "1", Staged: "2", New: "2"}},
	} {
		started, err := store.Apply(ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State,
			NewStep: s.step, StepBy: "bob"})
		if err != nil {
			t.Fatalf("start %s: %v", s.step, err)
		}
		r, err = store.Apply(ctx, rotation.Change{RotationID: r.ID, From: started.State, Version: started.Version, Step: s.step, To: s.to,
			Versions: &s.v, Event: &rotation.Event{Actor: "bob", Action: s.action}})
		if err != nil {
			t.Fatalf("complete %s: %v", s.step, err)
		}
	}
	r, err := store.Apply(ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State,
		NewStep: rotation.StepRetire, StepBy: "bob"})
	if err != nil {
		t.Fatalf("start retire: %v", err)
	}
	return r
}
