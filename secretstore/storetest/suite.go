package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// The secrets of the suite are the shared canaries, whose characters break
// naive form, URL, Base64 or JSON handling, so that the searches of logs
// and errors find them in any form.
var (
	oldSecret   = canary.Value
	newSecret   = canary.Second
	thirdSecret = canary.Third
)

// Rotation ids are UUIDs, as the rotation service issues them, so that a
// backend can use them where its API limits the form of an idempotency key
// (AWS's ClientRequestToken takes 32 to 64 characters).
const (
	rotationA = "3f0c6a52-8c1e-4c47-9d55-0c1f6f1a2b01"
	rotationB = "9b2d7e14-5a3f-4e88-b1c2-7d6e5f4a3b02"
)

// Run runs the conformance suite. newHarness is called once per subtest and
// returns a harness for a fresh secret whose current value is initial.
func Run(t *testing.T, newHarness func(t *testing.T, initial secret.Value) Harness) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, f *fixture)
	}{
		{"current returns initial value", testCurrentInitial},
		{"current at each step", testCurrentAtEachStep},
		{"read of unknown version is not found", testReadUnknown},

		{"stage keeps current value", testStageKeepsCurrent},
		{"stage repeated writes nothing", testStageRepeated},
		{"stage of different value for same rotation conflicts", testStageDifferentValue},
		{"stage over another rotation conflicts", testStageOverOtherRotation},
		{"stage over external pending conflicts", testStageOverExternal},
		{"staged without stage is not found", testStagedNothing},

		{"adopt claims external pending version", testAdopt},
		{"adopt repeated writes nothing", testAdoptRepeated},
		{"adopt with nothing staged is not found", testAdoptNothing},
		{"adopt of another rotation's version conflicts", testAdoptOtherRotation},

		{"promote serves new value and keeps old readable", testPromote},
		{"promote repeated writes nothing", testPromoteRepeated},
		{"promote after external change conflicts", testPromoteAfterExternalWrite},
		{"promote of discarded stage is not found", testPromoteDiscarded},

		{"rollback serves old value and restages new", testRollback},
		{"rollback repeated writes nothing", testRollbackRepeated},
		{"rollback of pruned old version is not found", testRollbackPruned},
		{"promote after rollback serves new value", testPromoteAfterRollback},

		{"retire destroy leaves no old value", testRetireDestroy},
		{"retire destroy after rollback leaves no old value", testRetireDestroyAfterRollback},
		{"retire disable keeps old value recoverable", testRetireDisable},
		{"retire disable repeated writes nothing", testRetireRepeated(secretstore.RetireDisable)},
		{"retire destroy repeated writes nothing", testRetireRepeated(secretstore.RetireDestroy)},
		{"retire of pruned old version is not found", testRetirePruned},
		{"retire before promote conflicts", testRetireBeforePromote},

		{"discard removes staged value", testDiscard},
		{"discard repeated is not an error", testDiscardRepeated},
		{"discard leaves another rotation's stage", testDiscardOtherRotation},

		{"second rotation after retire", testSecondRotation},

		{"denied read is an access error", testDeniedRead},
		{"denied write is an access error and writes nothing", testDeniedWrite},
		{"throttled write is retried", testThrottledWriteRetried},
		{"throttled write gives up after bounded retries", testThrottledWriteGivesUp},
		{"throttled read gives up after bounded retries", testThrottledReadGivesUp},

		{"document that is not JSON is invalid", testInvalidDocument(func(string) string { return "client_secret=OLD-1" })},
		{"document that is a JSON array is invalid", testInvalidDocument(func(string) string { return `["OLD-1"]` })},
		{"document without the key is invalid", testInvalidDocument(func(string) string { return `{"client_id":"client-a"}` })},
		{"document whose key is not a string is invalid", testInvalidDocument(func(key string) string { return fmt.Sprintf("{%q: 42}", key) })},

		{"missing secret is not found", testMissingSecret},

		{"verify accepts what rotor left", testVerifyUnchanged},
		{"verify reports a write while staged", testVerifyWriteWhileStaged},
		{"verify reports a write while promoted", testVerifyWriteWhilePromoted},
		{"verify reports a pruned old version", testVerifyOldPruned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, setup(t, newHarness))
		})
	}
}

// fixture is one harness plus the helpers the tests share.
type fixture struct {
	ctx   context.Context
	h     Harness
	store rotation.SecretStore
}

func setup(t *testing.T, newHarness func(t *testing.T, initial secret.Value) Harness) *fixture {
	t.Helper()
	h := newHarness(t, oldSecret)
	return &fixture{ctx: t.Context(), h: h, store: h.Store()}
}

// entry is a StoredVersion with the value replaced by the suite's name for
// it, so that lists can be compared and printed without showing a secret.
type entry struct {
	Version secretstore.Version
	State   State
	Secret  string // "old", "new", "third", "unknown value", or "" for none
}

func label(v secret.Value) string {
	switch {
	case v.IsZero():
		return ""
	case v.Equal(oldSecret):
		return "old"
	case v.Equal(newSecret):
		return "new"
	case v.Equal(thirdSecret):
		return "third"
	default:
		return "unknown value"
	}
}

// snapshot returns the stored versions in a stable order.
func (f *fixture) snapshot(t *testing.T) []entry {
	t.Helper()
	versions, err := f.h.Versions(f.ctx)
	if err != nil {
		t.Fatalf("list stored versions: %v", err)
	}
	entries := make([]entry, 0, len(versions))
	for _, v := range versions {
		entries = append(entries, entry{Version: v.Version, State: v.State, Secret: label(v.Value)})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(string(a.Version), string(b.Version)) })
	return entries
}

// unchanged fails the test when the stored versions differ from before.
func (f *fixture) unchanged(t *testing.T, before []entry, after string) {
	t.Helper()
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("stored versions changed after %s (-before +after):\n%s", after, diff)
	}
}

// wantError fails the test unless err wraps kind, and checks that the
// message shows no secret of the suite.
func wantError(t *testing.T, err, kind error, call string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want one of kind %q", call, err, kind)
	}
	noSecretIn(t, err, call)
}

func noSecretIn(t *testing.T, err error, call string) {
	t.Helper()
	if err == nil {
		return
	}
	canary.Check(t, call+": the error message", err.Error())
}

// must fails the test on err, after checking that it shows no secret.
func must(t *testing.T, err error, call string) {
	t.Helper()
	noSecretIn(t, err, call)
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
}

func (f *fixture) stage(t *testing.T, id string, value secret.Value) secretstore.Versions {
	t.Helper()
	v, err := f.store.Stage(f.ctx, id, value)
	must(t, err, "Stage")
	return v
}

func (f *fixture) promote(t *testing.T, id string, v secretstore.Versions) secretstore.Versions {
	t.Helper()
	v, err := f.store.Promote(f.ctx, id, v)
	must(t, err, "Promote")
	return v
}

func (f *fixture) rollback(t *testing.T, id string, v secretstore.Versions) secretstore.Versions {
	t.Helper()
	v, err := f.store.Rollback(f.ctx, id, v)
	must(t, err, "Rollback")
	return v
}

func (f *fixture) retire(t *testing.T, id string, v secretstore.Versions, mode secretstore.RetireMode) {
	t.Helper()
	must(t, f.store.Retire(f.ctx, id, v, mode), "Retire")
}

// wantCurrent checks the value consumers read now and returns its version.
func (f *fixture) wantCurrent(t *testing.T, want secret.Value) secretstore.Version {
	t.Helper()
	got, version, err := f.store.Current(f.ctx)
	must(t, err, "Current")
	if !got.Equal(want) {
		t.Fatalf("Current() = %s value (version %s), want %s", label(got), version, label(want))
	}
	if version == "" {
		t.Fatalf("Current() version is empty")
	}
	return version
}

// wantRead checks the value held in version.
func (f *fixture) wantRead(t *testing.T, version secretstore.Version, want secret.Value) {
	t.Helper()
	got, err := f.store.Read(f.ctx, version)
	must(t, err, "Read("+string(version)+")")
	if !got.Equal(want) {
		t.Errorf("Read(%s) = %s value, want %s", version, label(got), label(want))
	}
}

// wantNoLive fails the test when an enabled version holds value.
func (f *fixture) wantNoLive(t *testing.T, value secret.Value) {
	t.Helper()
	for _, e := range f.snapshot(t) {
		if e.Secret == label(value) && e.State == Enabled {
			t.Errorf("version %s is enabled and contains the %s value", e.Version, e.Secret)
		}
	}
}

// wantDestroyed fails the test when a version still holds value after
// RetireDestroy. For a backend that implements RetireDestroyLimit with
// Disabled, versions may keep value but none may be enabled.
func (f *fixture) wantDestroyed(t *testing.T, value secret.Value) {
	t.Helper()
	leaves := f.retireDestroyLeaves()
	for _, e := range f.snapshot(t) {
		if e.Secret != label(value) {
			continue
		}
		if leaves == Destroyed || e.State == Enabled {
			t.Errorf("version %s still contains the %s value (%s); RetireDestroy may leave it %s at most", e.Version, e.Secret, e.State, leaves)
		}
	}
}

// wantNamed fails the test unless err is a *secretstore.Error of step whose
// message names the secret and has text beyond its kind.
func wantNamed(t *testing.T, err error, step, name string) {
	t.Helper()
	var e *secretstore.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is not a *secretstore.Error", err)
	}
	if e.Op != step {
		t.Errorf("error step = %q, want %q (error %q)", e.Op, step, err)
	}
	if name != "" && !strings.Contains(err.Error(), name) {
		t.Errorf("error %q does not name the secret %q", err, name)
	}
	if strings.TrimSpace(e.Msg) == "" {
		t.Errorf("error %q has no message beyond its kind", err)
	}
}
