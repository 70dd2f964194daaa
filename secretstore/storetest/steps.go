package storetest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/secretstore"
)

func testCurrentInitial(t *testing.T, f *fixture) {
	version := f.wantCurrent(t, oldSecret)
	f.wantRead(t, version, oldSecret)
}

func testCurrentAtEachStep(t *testing.T, f *fixture) {
	initial := f.wantCurrent(t, oldSecret)

	staged := f.stage(t, rotationA, newSecret)
	if staged.Old != initial {
		t.Errorf("Stage() Old = %q, want the current version %q", staged.Old, initial)
	}
	f.wantCurrent(t, oldSecret)

	promoted := f.promote(t, rotationA, staged)
	if got := f.wantCurrent(t, newSecret); got != promoted.New {
		t.Errorf("Current() version after promote = %q, want Promote().New %q", got, promoted.New)
	}
	f.wantRead(t, promoted.Old, oldSecret)
	f.wantRead(t, promoted.New, newSecret)

	rolledBack := f.rollback(t, rotationA, promoted)
	f.wantCurrent(t, oldSecret)
	f.wantRead(t, rolledBack.Staged, newSecret)

	promoted = f.promote(t, rotationA, rolledBack)
	f.wantCurrent(t, newSecret)

	f.retire(t, rotationA, promoted, secretstore.RetireDisable)
	f.wantCurrent(t, newSecret)
}

func testReadUnknown(t *testing.T, f *fixture) {
	_, err := f.store.Read(f.ctx, "999999")
	wantError(t, err, secretstore.ErrNotFound, "Read(999999)")
}

func testStageKeepsCurrent(t *testing.T, f *fixture) {
	initial := f.wantCurrent(t, oldSecret)

	v := f.stage(t, rotationA, newSecret)

	if v.Old != initial || v.Staged == "" || v.New != "" {
		t.Errorf("Stage() = %+v, want Old %q, Staged set, New empty", v, initial)
	}
	if got := f.wantCurrent(t, oldSecret); got != initial {
		t.Errorf("Current() version after stage = %q, want %q", got, initial)
	}
	f.wantRead(t, v.Staged, newSecret)

	got, err := f.store.Staged(f.ctx, rotationA)
	must(t, err, "Staged")
	if diff := cmp.Diff(v, got); diff != "" {
		t.Errorf("Staged() differs from Stage() (-stage +staged):\n%s", diff)
	}
}

func testStageRepeated(t *testing.T, f *fixture) {
	first := f.stage(t, rotationA, newSecret)
	before := f.snapshot(t)

	second := f.stage(t, rotationA, newSecret)

	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("repeated Stage() returned other versions (-first +second):\n%s", diff)
	}
	f.unchanged(t, before, "a repeated stage")
}

func testStageDifferentValue(t *testing.T, f *fixture) {
	v := f.stage(t, rotationA, newSecret)
	before := f.snapshot(t)

	_, err := f.store.Stage(f.ctx, rotationA, thirdSecret)

	wantError(t, err, secretstore.ErrConflict, "Stage with a different value")
	f.unchanged(t, before, "a conflicting stage")
	f.wantRead(t, v.Staged, newSecret)
}

func testStageOverOtherRotation(t *testing.T, f *fixture) {
	v := f.stage(t, rotationA, newSecret)
	before := f.snapshot(t)

	_, err := f.store.Stage(f.ctx, rotationB, thirdSecret)

	wantError(t, err, secretstore.ErrConflict, "Stage for another rotation")
	if !strings.Contains(err.Error(), string(v.Staged)) {
		t.Errorf("Stage() error = %q, want it to name the pending version %q", err, v.Staged)
	}
	f.unchanged(t, before, "a conflicting stage")
	f.wantCurrent(t, oldSecret)

	_, err = f.store.Stage(f.ctx, rotationB, newSecret)

	wantError(t, err, secretstore.ErrConflict, "Stage of the same value for another rotation")
	f.unchanged(t, before, "a conflicting stage")
}

func testStageOverExternal(t *testing.T, f *fixture) {
	external, err := f.h.StageExternal(f.ctx, thirdSecret)
	must(t, err, "StageExternal")
	before := f.snapshot(t)

	_, err = f.store.Stage(f.ctx, rotationA, newSecret)

	wantError(t, err, secretstore.ErrConflict, "Stage over an external pending version")
	if !strings.Contains(err.Error(), string(external)) {
		t.Errorf("Stage() error = %q, want it to name the pending version %q", err, external)
	}
	f.unchanged(t, before, "a conflicting stage")
	f.wantCurrent(t, oldSecret)
}

func testStagedNothing(t *testing.T, f *fixture) {
	_, err := f.store.Staged(f.ctx, rotationA)
	wantError(t, err, secretstore.ErrNotFound, "Staged")

	f.stage(t, rotationA, newSecret)
	_, err = f.store.Staged(f.ctx, rotationB)
	wantError(t, err, secretstore.ErrNotFound, "Staged for another rotation")
}

func testAdopt(t *testing.T, f *fixture) {
	initial := f.wantCurrent(t, oldSecret)
	external, err := f.h.StageExternal(f.ctx, thirdSecret)
	must(t, err, "StageExternal")

	v, err := f.store.Adopt(f.ctx, rotationA, external)
	must(t, err, "Adopt")

	if v.Old != initial || v.Staged == "" {
		t.Errorf("Adopt() = %+v, want Old %q and Staged set", v, initial)
	}
	f.wantRead(t, v.Staged, thirdSecret)
	f.wantCurrent(t, oldSecret)
	staged, err := f.store.Staged(f.ctx, rotationA)
	must(t, err, "Staged")
	if diff := cmp.Diff(v, staged); diff != "" {
		t.Errorf("Staged() differs from Adopt() (-adopt +staged):\n%s", diff)
	}

	promoted := f.promote(t, rotationA, v)
	f.wantCurrent(t, thirdSecret)
	f.wantRead(t, promoted.Old, oldSecret)
}

func testAdoptRepeated(t *testing.T, f *fixture) {
	external, err := f.h.StageExternal(f.ctx, thirdSecret)
	must(t, err, "StageExternal")
	first, err := f.store.Adopt(f.ctx, rotationA, external)
	must(t, err, "Adopt")
	before := f.snapshot(t)

	// After a crash the service repeats the step with what it submitted.
	second, err := f.store.Adopt(f.ctx, rotationA, external)
	must(t, err, "repeated Adopt")

	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("repeated Adopt() returned other versions (-first +second):\n%s", diff)
	}
	f.unchanged(t, before, "a repeated adopt")
}

func testAdoptNothing(t *testing.T, f *fixture) {
	initial := f.wantCurrent(t, oldSecret)
	before := f.snapshot(t)

	_, err := f.store.Adopt(f.ctx, rotationA, initial)

	wantError(t, err, secretstore.ErrNotFound, "Adopt of the current version")
	f.unchanged(t, before, "a failed adopt")
}

func testAdoptOtherRotation(t *testing.T, f *fixture) {
	v := f.stage(t, rotationA, newSecret)
	before := f.snapshot(t)

	_, err := f.store.Adopt(f.ctx, rotationB, v.Staged)

	wantError(t, err, secretstore.ErrConflict, "Adopt of another rotation's version")
	f.unchanged(t, before, "a conflicting adopt")
	if _, err := f.store.Staged(f.ctx, rotationA); err != nil {
		t.Errorf("Staged(%s) after a conflicting adopt: %v", rotationA, err)
	}
}

func testPromote(t *testing.T, f *fixture) {
	staged := f.stage(t, rotationA, newSecret)

	v := f.promote(t, rotationA, staged)

	if v.Old != staged.Old || v.Staged != staged.Staged || v.New == "" || v.New == v.Old {
		t.Errorf("Promote(%+v) = %+v, want Old and Staged kept and a new New", staged, v)
	}
	if got := f.wantCurrent(t, newSecret); got != v.New {
		t.Errorf("Current() version = %q, want %q", got, v.New)
	}
	f.wantRead(t, v.Old, oldSecret)
	f.wantRead(t, v.New, newSecret)
}

func testPromoteRepeated(t *testing.T, f *fixture) {
	staged := f.stage(t, rotationA, newSecret)
	first := f.promote(t, rotationA, staged)
	before := f.snapshot(t)

	second := f.promote(t, rotationA, staged)

	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("repeated Promote() returned other versions (-first +second):\n%s", diff)
	}
	f.unchanged(t, before, "a repeated promote")
	f.wantCurrent(t, newSecret)
}

func testPromoteAfterExternalWrite(t *testing.T, f *fixture) {
	staged := f.stage(t, rotationA, newSecret)
	must(t, f.h.Write(f.ctx, thirdSecret), "Write")
	before := f.snapshot(t)

	_, err := f.store.Promote(f.ctx, rotationA, staged)

	wantError(t, err, secretstore.ErrConflict, "Promote after an external write")
	f.unchanged(t, before, "a conflicting promote")
	f.wantCurrent(t, thirdSecret)
}

func testPromoteDiscarded(t *testing.T, f *fixture) {
	staged := f.stage(t, rotationA, newSecret)
	must(t, f.store.Discard(f.ctx, rotationA, staged), "Discard")
	before := f.snapshot(t)

	_, err := f.store.Promote(f.ctx, rotationA, staged)

	wantError(t, err, secretstore.ErrNotFound, "Promote of a discarded stage")
	f.unchanged(t, before, "a failed promote")
	f.wantCurrent(t, oldSecret)
}

func testRollback(t *testing.T, f *fixture) {
	promoted := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))

	v := f.rollback(t, rotationA, promoted)

	if v.New != "" || v.Staged == "" || v.Old == "" {
		t.Errorf("Rollback() = %+v, want Old and Staged set and New empty", v)
	}
	if got := f.wantCurrent(t, oldSecret); got == promoted.New {
		t.Errorf("Current() version after rollback = %q, the promoted version", got)
	}
	f.wantRead(t, v.Old, oldSecret)
	f.wantRead(t, v.Staged, newSecret)
	staged, err := f.store.Staged(f.ctx, rotationA)
	must(t, err, "Staged")
	if diff := cmp.Diff(v, staged); diff != "" {
		t.Errorf("Staged() differs from Rollback() (-rollback +staged):\n%s", diff)
	}
}

func testRollbackRepeated(t *testing.T, f *fixture) {
	promoted := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	first := f.rollback(t, rotationA, promoted)
	before := f.snapshot(t)

	second := f.rollback(t, rotationA, promoted)

	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("repeated Rollback() returned other versions (-first +second):\n%s", diff)
	}
	f.unchanged(t, before, "a repeated rollback")
	f.wantCurrent(t, oldSecret)
}

func testRollbackPruned(t *testing.T, f *fixture) {
	promoted := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	must(t, f.h.Prune(f.ctx, promoted.Old), "Prune")
	before := f.snapshot(t)

	_, err := f.store.Rollback(f.ctx, rotationA, promoted)

	wantError(t, err, secretstore.ErrNotFound, "Rollback to a pruned version")
	if !strings.Contains(err.Error(), string(promoted.Old)) {
		t.Errorf("Rollback() error = %q, want it to name the pruned version %q", err, promoted.Old)
	}
	f.unchanged(t, before, "a failed rollback")
	f.wantCurrent(t, newSecret)
}

func testPromoteAfterRollback(t *testing.T, f *fixture) {
	promoted := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	rolledBack := f.rollback(t, rotationA, promoted)

	v := f.promote(t, rotationA, rolledBack)

	if got := f.wantCurrent(t, newSecret); got != v.New {
		t.Errorf("Current() version = %q, want Promote().New %q", got, v.New)
	}
	f.wantRead(t, v.Old, oldSecret)
	if _, err := f.store.Staged(f.ctx, rotationA); err == nil {
		t.Errorf("Staged() after promote returned no error, want nothing staged")
	}
}

func testRetireDestroy(t *testing.T, f *fixture) {
	v := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))

	f.retire(t, rotationA, v, secretstore.RetireDestroy)

	f.wantDestroyed(t, oldSecret)
	f.wantCurrent(t, newSecret)
	_, err := f.store.Read(f.ctx, v.Old)
	wantError(t, err, secretstore.ErrNotFound, "Read of the destroyed version")
}

func testRetireDestroyAfterRollback(t *testing.T, f *fixture) {
	promoted := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	v := f.promote(t, rotationA, f.rollback(t, rotationA, promoted))

	f.retire(t, rotationA, v, secretstore.RetireDestroy)

	f.wantDestroyed(t, oldSecret)
	f.wantCurrent(t, newSecret)
	f.wantRead(t, v.New, newSecret)
}

func testRetireDisable(t *testing.T, f *fixture) {
	v := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))

	f.retire(t, rotationA, v, secretstore.RetireDisable)

	f.wantNoLive(t, oldSecret)
	var disabled int
	for _, e := range f.snapshot(t) {
		if e.Secret == "old" && e.State == Disabled {
			disabled++
		}
	}
	if disabled == 0 {
		t.Errorf("no disabled version contains the old value; want it kept recoverable")
	}
	f.wantCurrent(t, newSecret)
	_, err := f.store.Read(f.ctx, v.Old)
	wantError(t, err, secretstore.ErrNotFound, "Read of the disabled version")
}

func testRetireRepeated(mode secretstore.RetireMode) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) {
		v := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
		f.retire(t, rotationA, v, mode)
		before := f.snapshot(t)

		f.retire(t, rotationA, v, mode)

		f.unchanged(t, before, "a repeated retire")
		f.wantCurrent(t, newSecret)
	}
}

func testRetirePruned(t *testing.T, f *fixture) {
	v := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	must(t, f.h.Prune(f.ctx, v.Old), "Prune")
	before := f.snapshot(t)

	err := f.store.Retire(f.ctx, rotationA, v, secretstore.RetireDestroy)

	wantError(t, err, secretstore.ErrNotFound, "Retire of a pruned version")
	if !strings.Contains(err.Error(), string(v.Old)) {
		t.Errorf("Retire() error = %q, want it to name the pruned version %q", err, v.Old)
	}
	f.unchanged(t, before, "a failed retire")
	f.wantCurrent(t, newSecret)
}

func testRetireBeforePromote(t *testing.T, f *fixture) {
	staged := f.stage(t, rotationA, newSecret)
	before := f.snapshot(t)

	err := f.store.Retire(f.ctx, rotationA, staged, secretstore.RetireDestroy)

	wantError(t, err, secretstore.ErrConflict, "Retire before promote")
	f.unchanged(t, before, "a refused retire")
	f.wantCurrent(t, oldSecret)
}

func testDiscard(t *testing.T, f *fixture) {
	v := f.stage(t, rotationA, newSecret)

	must(t, f.store.Discard(f.ctx, rotationA, v), "Discard")

	_, err := f.store.Staged(f.ctx, rotationA)
	wantError(t, err, secretstore.ErrNotFound, "Staged after discard")
	f.wantNoLive(t, newSecret)
	f.wantCurrent(t, oldSecret)

	// The staging place is free for the next rotation.
	next := f.stage(t, rotationB, thirdSecret)
	f.wantRead(t, next.Staged, thirdSecret)
}

func testDiscardRepeated(t *testing.T, f *fixture) {
	must(t, f.store.Discard(f.ctx, rotationA, secretstore.Versions{}), "Discard with nothing staged")

	v := f.stage(t, rotationA, newSecret)
	must(t, f.store.Discard(f.ctx, rotationA, v), "Discard")
	before := f.snapshot(t)

	must(t, f.store.Discard(f.ctx, rotationA, v), "repeated Discard")

	f.unchanged(t, before, "a repeated discard")
	f.wantCurrent(t, oldSecret)
}

func testDiscardOtherRotation(t *testing.T, f *fixture) {
	v := f.stage(t, rotationA, newSecret)
	before := f.snapshot(t)

	must(t, f.store.Discard(f.ctx, rotationB, v), "Discard for another rotation")

	f.unchanged(t, before, "a discard for another rotation")
	f.wantRead(t, v.Staged, newSecret)
}

func testSecondRotation(t *testing.T, f *fixture) {
	first := f.promote(t, rotationA, f.stage(t, rotationA, newSecret))
	f.retire(t, rotationA, first, secretstore.RetireDestroy)

	second := f.promote(t, rotationB, f.stage(t, rotationB, thirdSecret))

	if second.Old != first.New {
		t.Errorf("second rotation Old = %q, want the first rotation's New %q", second.Old, first.New)
	}
	f.wantCurrent(t, thirdSecret)
	f.wantRead(t, second.Old, newSecret)
	f.retire(t, rotationB, second, secretstore.RetireDisable)
	f.wantNoLive(t, newSecret)
	f.wantCurrent(t, thirdSecret)
}
