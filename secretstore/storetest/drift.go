package storetest

import (
	"errors"
	"testing"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// verifier returns the store's DriftChecker, or skips the test for a store
// that does not implement one.
func (f *fixture) verifier(t *testing.T) rotation.DriftChecker {
	t.Helper()
	dc, ok := f.store.(rotation.DriftChecker)
	if !ok {
		t.Skip("the store does not implement rotation.DriftChecker")
	}
	return dc
}

func wantDrift(t *testing.T, err error, call string) {
	t.Helper()
	if !errors.Is(err, secretstore.ErrDrift) {
		t.Fatalf("%s: err = %v, want secretstore.ErrDrift", call, err)
	}
	noSecretIn(t, err, call)
}

// Verify accepts what rotor left at each step, and writes nothing.
func testVerifyUnchanged(t *testing.T, f *fixture) {
	dc := f.verifier(t)
	id := rotationA

	v := f.stage(t, id, newSecret)
	before := f.snapshot(t)
	if err := dc.Verify(f.ctx, id, false, v); err != nil {
		t.Fatalf("Verify after stage: %v", err)
	}
	f.unchanged(t, before, "Verify after stage")

	v = f.promote(t, id, v)
	before = f.snapshot(t)
	if err := dc.Verify(f.ctx, id, true, v); err != nil {
		t.Fatalf("Verify after promote: %v", err)
	}
	f.unchanged(t, before, "Verify after promote")

	v = f.rollback(t, id, v)
	if err := dc.Verify(f.ctx, id, false, v); err != nil {
		t.Fatalf("Verify after rollback: %v", err)
	}
}

// A version written by another tool while the new secret waits is drift.
func testVerifyWriteWhileStaged(t *testing.T, f *fixture) {
	dc := f.verifier(t)
	v := f.stage(t, rotationA, newSecret)
	must(t, f.h.Write(f.ctx, thirdSecret), "Write")

	wantDrift(t, dc.Verify(f.ctx, rotationA, false, v), "Verify after a foreign write in new_issued")
}

// A version written by another tool while both secrets are live is drift:
// consumers no longer read the version rotor promoted.
func testVerifyWriteWhilePromoted(t *testing.T, f *fixture) {
	dc := f.verifier(t)
	v := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	must(t, f.h.Write(f.ctx, thirdSecret), "Write")

	wantDrift(t, dc.Verify(f.ctx, rotationA, true, v), "Verify after a foreign write in dual_active")
}

// A recorded version that the backend no longer holds is drift, and the
// message says which one.
func testVerifyOldPruned(t *testing.T, f *fixture) {
	dc := f.verifier(t)
	v := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	if err := f.h.Prune(f.ctx, v.Old); err != nil {
		t.Skipf("the harness cannot prune version %s: %v", v.Old, err)
	}

	wantDrift(t, dc.Verify(f.ctx, rotationA, true, v), "Verify after the old version was pruned")
}
