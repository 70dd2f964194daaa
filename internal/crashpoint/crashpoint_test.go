//go:build !crashpoints

package crashpoint

import (
	"testing"
	"time"
)

// A binary built without the tag ignores ROTOR_CRASHPOINT, even when it
// names the point being passed.
func TestHitWithoutTagReturns(t *testing.T) {
	t.Setenv(EnvVar, "promote/after-intent")
	done := make(chan struct{})
	go func() {
		Hit("promote/after-intent")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Hit blocked in a binary built without the crashpoints tag")
	}
	if Enabled {
		t.Error("Enabled is true without the crashpoints tag")
	}
}
