package storetest

import (
	"errors"
	"testing"

	"github.com/rotorhq/rotor/secretstore"
)

// The tests in this file need an optional harness interface and skip
// without it.

func testDeniedRead(t *testing.T, f *fixture) {
	fi := faultInjector(t, f)
	fi.Deny(Read)

	_, _, err := f.store.Current(f.ctx)

	wantError(t, err, secretstore.ErrAccess, "Current while reads are denied")
	wantNamed(t, err, "current", fi.SecretName())
}

func testDeniedWrite(t *testing.T, f *fixture) {
	fi := faultInjector(t, f)
	before := f.snapshot(t)
	fi.Deny(Write)

	_, err := f.store.Stage(f.ctx, rotationA, newSecret)

	wantError(t, err, secretstore.ErrAccess, "Stage while writes are denied")
	wantNamed(t, err, "stage", fi.SecretName())
	f.unchanged(t, before, "a denied stage")
}

func testThrottledWriteRetried(t *testing.T, f *fixture) {
	fi := faultInjector(t, f)
	fi.Throttle(Write, 1)

	v := f.stage(t, rotationA, newSecret)

	if n := fi.PendingFaults(); n != 0 {
		t.Errorf("PendingFaults() = %d after Stage, want the throttled request retried", n)
	}
	f.wantRead(t, v.Staged, newSecret)
	f.wantCurrent(t, oldSecret)
}

// throttledRequests is how many failures a giving-up test injects: far
// more than any store may retry.
const throttledRequests = 1000

func testThrottledWriteGivesUp(t *testing.T, f *fixture) {
	fi := faultInjector(t, f)
	before := f.snapshot(t)
	fi.Throttle(Write, throttledRequests)

	_, err := f.store.Stage(f.ctx, rotationA, newSecret)

	wantError(t, err, secretstore.ErrUnavailable, "Stage while writes are throttled")
	wantNamed(t, err, "stage", fi.SecretName())
	wantBoundedRetries(t, fi)
	f.unchanged(t, before, "a throttled stage")
}

func testThrottledReadGivesUp(t *testing.T, f *fixture) {
	fi := faultInjector(t, f)
	fi.Throttle(Read, throttledRequests)

	_, _, err := f.store.Current(f.ctx)

	wantError(t, err, secretstore.ErrUnavailable, "Current while reads are throttled")
	wantNamed(t, err, "current", fi.SecretName())
	wantBoundedRetries(t, fi)
}

// wantBoundedRetries checks that the store retried the failing requests,
// but no more than MaxRequestsPerFault times.
func wantBoundedRetries(t *testing.T, fi FaultInjector) {
	t.Helper()
	used := throttledRequests - fi.PendingFaults()
	if used < 2 {
		t.Errorf("the store sent %d request while throttled, want it retried", used)
	}
	if used > MaxRequestsPerFault {
		t.Errorf("the store sent %d requests while throttled, want at most %d", used, MaxRequestsPerFault)
	}
}

// testInvalidDocument makes the current document the one doc returns for
// the configured JSON key, then checks that reading and staging reject it
// as invalid and write nothing.
func testInvalidDocument(doc func(key string) string) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) {
		dw := documentWriter(t, f)
		err := dw.WriteDocument(f.ctx, []byte(doc(dw.Format().JSONKey)))
		if errors.Is(err, ErrUnsupported) {
			t.Skipf("the backend cannot store this document: %v", err)
		}
		must(t, err, "WriteDocument")
		var name string
		if named, ok := f.h.(Named); ok {
			name = named.SecretName()
		}
		before := f.snapshot(t)

		_, _, err = f.store.Current(f.ctx)
		wantError(t, err, secretstore.ErrInvalid, "Current of an invalid document")
		wantNamed(t, err, "current", name)

		_, err = f.store.Stage(f.ctx, rotationA, newSecret)
		wantError(t, err, secretstore.ErrInvalid, "Stage over an invalid document")
		wantNamed(t, err, "stage", name)
		f.unchanged(t, before, "a stage over an invalid document")
	}
}

func testMissingSecret(t *testing.T, f *fixture) {
	store, name := missingSecret(t, f).MissingStore(t)

	_, _, err := store.Current(f.ctx)
	wantError(t, err, secretstore.ErrNotFound, "Current of a missing secret")
	wantNamed(t, err, "current", name)

	_, err = store.Stage(f.ctx, rotationA, newSecret)
	wantError(t, err, secretstore.ErrNotFound, "Stage into a missing secret")
	wantNamed(t, err, "stage", name)

	_, err = store.Staged(f.ctx, rotationA)
	wantError(t, err, secretstore.ErrNotFound, "Staged of a missing secret")
}
