package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/metrics"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secretstore"
)

// reportIncident reports a compromise of credID with the default checklist.
func reportIncident(t *testing.T, store rotation.IncidentStore, now time.Time, credID string) rotation.Incident {
	t.Helper()
	items := make([]rotation.ChecklistItem, len(rotation.DefaultChecklist))
	for i, title := range rotation.DefaultChecklist {
		items[i] = rotation.ChecklistItem{Title: title}
	}
	inc, _, err := store.ReportIncident(context.Background(), rotation.IncidentReport{
		Incident: rotation.Incident{ID: uuid.NewString(), CredentialID: credID, What: rotation.WhatLostDevice,
			DetectedAt: now.Add(-time.Hour), ReportedBy: "carol", Checklist: items},
		Rotation: rotation.Rotation{ID: uuid.NewString(), Kind: rotation.KindEmergency, Reason: "lost laptop", RequestedBy: "carol"},
	})
	if err != nil {
		t.Fatalf("ReportIncident(%s): %v", credID, err)
	}
	return inc
}

// move applies each state change in order to the rotation with id.
func move(t *testing.T, store rotation.Store, id string, to ...rotation.State) {
	t.Helper()
	ctx := context.Background()
	versions := &secretstore.Versions{Old: "1", Staged: "2", New: "2"}
	for _, state := range to {
		r, err := store.GetRotation(ctx, id)
		if err != nil {
			t.Fatalf("GetRotation(%s): %v", id, err)
		}
		c := rotation.Change{RotationID: id, From: r.State, Version: r.Version, To: state}
		if state != rotation.StateCancelled {
			c.Versions = versions
		}
		if state == rotation.StateNewIssued {
			c.Versions = &secretstore.Versions{Old: "1", Staged: "2"}
		}
		if _, err := store.Apply(ctx, c); err != nil {
			t.Fatalf("Apply %s → %s: %v", r.State, state, err)
		}
	}
}

func TestIncidentMetrics(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := storetest.NewClock()
			start := clock.Now()
			store := newStore(t, clock.Now)
			err := store.SyncCredentials(context.Background(), []rotation.Credential{
				credential("cred-a", start, 0), credential("cred-b", start, 0), credential("cred-c", start, 0),
			})
			if err != nil {
				t.Fatalf("SyncCredentials: %v", err)
			}
			// cred-c's new secret is stored before the report escalates its rotation.
			openRotation(t, store, "cred-c", rotation.KindManual, rotation.StateNewIssued)
			clock.Advance(5 * time.Minute)
			a := reportIncident(t, store, clock.Now(), "cred-a")
			b := reportIncident(t, store, clock.Now(), "cred-b")
			c := reportIncident(t, store, clock.Now(), "cred-c")

			clock.Advance(10 * time.Minute)
			move(t, store, a.RotationID, rotation.StateNewIssued)
			move(t, store, b.RotationID, rotation.StateNewIssued, rotation.StateCancelled)
			clock.Advance(20 * time.Minute)
			move(t, store, a.RotationID, rotation.StateDualActive, rotation.StateOldRetired)
			clock.Advance(25 * time.Minute)

			f := setup(t, metrics.Options{Store: store, Now: clock.Now})
			got := f.scrape(t)
			series := func(name string, inc rotation.Incident) string {
				return name + `{credential_id="` + inc.CredentialID + `",incident_id="` + inc.ID + `"}`
			}
			checks := []struct {
				name string
				want map[string]string
			}{
				{"rotor_incident_open", map[string]string{
					series("rotor_incident_open", a): "1", series("rotor_incident_open", b): "1", series("rotor_incident_open", c): "1"}},
				{"rotor_incident_seconds_since_report", map[string]string{
					series("rotor_incident_seconds_since_report", a): "3300",
					series("rotor_incident_seconds_since_report", b): "3300",
					series("rotor_incident_seconds_since_report", c): "3300"}},
				// b's rotation was cancelled, so its discarded secret does not count.
				{"rotor_incident_seconds_to_new_secret", map[string]string{
					series("rotor_incident_seconds_to_new_secret", a): "600",
					series("rotor_incident_seconds_to_new_secret", c): "0"}},
				{"rotor_incident_seconds_to_retirement", map[string]string{
					series("rotor_incident_seconds_to_retirement", a): "1800"}},
			}
			for _, check := range checks {
				if diff := cmp.Diff(check.want, got.withPrefix(check.name+"{")); diff != "" {
					t.Errorf("%s (-want +got):\n%s", check.name, diff)
				}
			}

			// Once its checklist is done, a's incident closes and leaves the metrics.
			for item := 1; item <= 3; item++ {
				if _, err := store.CompleteChecklistItem(context.Background(), a.ID, item, "dave", "searched, nothing found"); err != nil {
					t.Fatalf("CompleteChecklistItem(%d): %v", item, err)
				}
			}
			after := f.scrape(t)
			for _, name := range []string{"rotor_incident_open", "rotor_incident_seconds_since_report", "rotor_incident_seconds_to_new_secret", "rotor_incident_seconds_to_retirement"} {
				if v := after.value(series(name, a)); v != "absent" {
					t.Errorf("after closing: %s = %s, want absent", series(name, a), v)
				}
			}
			if v := after.value(series("rotor_incident_open", b)); v != "1" {
				t.Errorf("after closing a: %s = %s, want 1", series("rotor_incident_open", b), v)
			}
		})
	}
}
