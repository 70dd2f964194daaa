package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
)

// The schema refuses what the incident store refuses, so a manual UPDATE
// cannot close an incident early, untick an item or rewrite its history.
func TestIncidentSchemaGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	clock := storetest.NewClock()
	store := pgstore.New(pool, clock.Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a"), storetest.Credential("cred-b")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	inc, emergency, err := store.ReportIncident(ctx, rotation.IncidentReport{
		Incident: rotation.Incident{ID: uuid.NewString(), CredentialID: "cred-a", What: rotation.WhatLostDevice,
			DetectedAt: clock.Now().Add(-time.Hour), ReportedBy: "carol",
			Checklist: []rotation.ChecklistItem{{Title: "logs"}, {Title: "git history"}}},
		Rotation: rotation.Rotation{ID: uuid.NewString(), Kind: rotation.KindEmergency, RequestedBy: "carol"},
	})
	if err != nil {
		t.Fatalf("ReportIncident: %v", err)
	}
	if _, err := store.CompleteChecklistItem(ctx, inc.ID, 1, "dave", "clean"); err != nil {
		t.Fatalf("CompleteChecklistItem: %v", err)
	}
	other, err := store.CreateRotation(ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-b", Kind: rotation.KindManual, RequestedBy: "bob"},
		rotation.Event{Actor: "bob", Action: rotation.ActionRequest})
	if err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}

	statements := map[string]string{
		"untick an item":               `UPDATE incident_checklist SET done_at = NULL, done_by = NULL, note = NULL WHERE incident_id = $1 AND item = 1`,
		"rename a ticked item":         `UPDATE incident_checklist SET title = 'nothing' WHERE incident_id = $1 AND item = 1`,
		"tick without a name":          `UPDATE incident_checklist SET done_at = now(), note = 'x' WHERE incident_id = $1 AND item = 2`,
		"tick with an empty note":      `UPDATE incident_checklist SET done_at = now(), done_by = 'dave', note = ' ' WHERE incident_id = $1 AND item = 2`,
		"remove an item":               `DELETE FROM incident_checklist WHERE incident_id = $1 AND item = 2`,
		"duplicate title":              `INSERT INTO incident_checklist (incident_id, item, title, added_by, added_at) VALUES ($1, 9, 'LOGS', 'erin', now())`,
		"close with an item left":      `UPDATE incidents SET closed_at = now() WHERE id = $1`,
		"edit what happened":           `UPDATE incidents SET what = 'other' WHERE id = $1`,
		"delete the incident":          `DELETE FROM incidents WHERE id = $1`,
		"edit an incident event":       `UPDATE incident_events SET actor = 'mallory' WHERE incident_id = $1`,
		"delete an incident event":     `DELETE FROM incident_events WHERE incident_id = $1`,
		"event for an item not listed": `INSERT INTO incident_events (incident_id, at, actor, action, item) VALUES ($1, now(), 'x', 'item_done', 42)`,
		"item event without an item":   `INSERT INTO incident_events (incident_id, at, actor, action) VALUES ($1, now(), 'x', 'item_done')`,
		"incident for another credential's rotation": `INSERT INTO incidents (id, credential_id, rotation_id, what, detected_at, reported_at, reported_by, force_revoke)
			SELECT gen_random_uuid(), credential_id, '` + other.ID + `', 'other', now(), now(), 'x', false FROM incidents WHERE id = $1`,
		"detected after the report": `INSERT INTO incidents (id, credential_id, rotation_id, what, detected_at, reported_at, reported_by, force_revoke)
			VALUES (gen_random_uuid(), 'cred-b', '` + other.ID + `', 'other', now() + interval '1 day', now(), 'x', false) RETURNING $1::text`,
	}
	for name, sql := range statements {
		t.Run(name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, sql, inc.ID); err == nil {
				t.Errorf("%s: statement succeeded, want the schema to reject it", name)
			}
		})
	}

	// With every item done, the incident still waits for its rotation.
	if _, err := store.CompleteChecklistItem(ctx, inc.ID, 2, "dave", "clean"); err != nil {
		t.Fatalf("CompleteChecklistItem: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE incidents SET closed_at = now() WHERE id = $1`, inc.ID); err == nil {
		t.Errorf("closing before the rotation is retired succeeded, want the schema to reject it")
	}

	// A cancelled rotation leaves the leaked secret in use: the incident
	// waits for a later emergency rotation to retire it.
	if _, err := store.Apply(ctx, rotation.Change{RotationID: emergency.ID, From: emergency.State, Version: emergency.Version,
		To: rotation.StateCancelled, Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel}}); err != nil {
		t.Fatalf("cancel the emergency rotation: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE incidents SET closed_at = now() WHERE id = $1`, inc.ID); err == nil {
		t.Errorf("closing after a cancellation without a later emergency rotation succeeded, want the schema to reject it")
	}
	if _, err := pool.Exec(ctx, `TRUNCATE incident_events`); err == nil {
		t.Errorf("TRUNCATE incident_events succeeded, want the schema to reject it")
	}
}
