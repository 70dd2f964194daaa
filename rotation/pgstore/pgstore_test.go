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

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) rotation.Store {
		return pgstore.New(pgtest.NewPool(t), now)
	})
}

// The schema itself refuses what the code refuses, so a bug or a manual
// UPDATE cannot drive a rotation into an illegal state or rewrite history.
func TestSchemaGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	clock := storetest.NewClock()
	store := pgstore.New(pool, clock.Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	r, err := store.CreateRotation(ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest})
	if err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}

	statements := map[string]string{
		"skip to retired":       `UPDATE rotations SET state = 'old_retired', retired_at = now(), promoted_at = now(), version = version + 1 WHERE id = $1`,
		"version not bumped":    `UPDATE rotations SET reason = 'x' WHERE id = $1`,
		"issued without stage":  `UPDATE rotations SET state = 'new_issued', issued_at = now(), version = version + 1 WHERE id = $1`,
		"second open rotation":  `INSERT INTO rotations (id, credential_id, kind, state, version, requested_by, created_at, updated_at) SELECT gen_random_uuid(), credential_id, 'manual', 'requested', 1, 'mallory', now(), now() FROM rotations WHERE id = $1`,
		"edit an audit event":   `UPDATE events SET actor = 'mallory' WHERE rotation_id = $1`,
		"delete an audit event": `DELETE FROM events WHERE rotation_id = $1`,
	}
	for name, sql := range statements {
		t.Run(name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, sql, r.ID); err == nil {
				t.Errorf("%s: statement succeeded, want the schema to reject it", name)
			}
		})
	}
	if _, err := pool.Exec(ctx, `TRUNCATE events`); err == nil {
		t.Errorf("TRUNCATE events succeeded, want the schema to reject it")
	}
}
