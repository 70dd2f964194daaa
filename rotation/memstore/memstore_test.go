package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/storetest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) rotation.Store {
		return memstore.New(now)
	})
}

func TestRotationWithCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New(storetest.NewClock().Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	r, err := store.CreateRotation(ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest})
	if err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}

	gotRot, gotCred, err := store.RotationWithCredential(ctx, r.ID)
	if err != nil {
		t.Fatalf("RotationWithCredential: %v", err)
	}
	wantCred, err := store.GetCredential(ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if diff := cmp.Diff(r, gotRot); diff != "" {
		t.Errorf("rotation differs from CreateRotation's (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCred, gotCred); diff != "" {
		t.Errorf("credential differs from GetCredential (-want +got):\n%s", diff)
	}
	if gotCred.OpenRotationID != r.ID {
		t.Errorf("OpenRotationID = %q, want %q", gotCred.OpenRotationID, r.ID)
	}
	if _, _, err := store.RotationWithCredential(ctx, uuid.NewString()); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("RotationWithCredential of an unknown id: err = %v, want ErrNotFound", err)
	}
}
