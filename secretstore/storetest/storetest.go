// Package storetest is the conformance suite for rotation.SecretStore
// backends. A backend's test provides a Harness (the store under test plus a
// few hooks that act on the backend directly) and calls Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, initial secret.Value) storetest.Harness {
//			return newHarness(t, initial)
//		})
//	}
//
// The suite drives every step of a rotation, repeats each step, and checks
// after each one what a consumer of the current value reads and which
// stored versions contain which value. The secrets it uses contain + / = : % space
// and é, so encoding mistakes show.
package storetest

import (
	"context"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// State is the state of one stored version as the harness reports it.
type State string

const (
	// Enabled versions are readable by consumers.
	Enabled State = "enabled"
	// Disabled versions keep their value but consumers cannot read them
	// (AWS: no label; GCP: disabled; Vault: soft-deleted).
	Disabled State = "disabled"
	// Destroyed versions have lost their value for good.
	Destroyed State = "destroyed"
)

// StoredVersion is one version the backend holds, as seen by an
// administrator of the backend.
type StoredVersion struct {
	Version secretstore.Version
	State   State
	// Value is the secret the version holds. It is zero for a destroyed
	// version and for a version whose document holds no secret.
	Value secret.Value
}

// Harness binds the suite to one backend and one secret in it.
type Harness interface {
	// Store returns the store under test.
	Store() rotation.SecretStore

	// Versions lists every version the backend holds for the secret,
	// staging places included, in any order. Pruned or removed versions
	// are absent. Two calls with no write between them return the same
	// list, so the suite can compare lists to prove nothing was written.
	Versions(ctx context.Context) ([]StoredVersion, error)

	// Write makes value the current secret, as a tool other than rotor
	// would, by adding a version.
	Write(ctx context.Context, value secret.Value) error

	// StageExternal leaves value staged (pending) the way another rotation
	// tool would, with no rotor rotation as its owner, and returns the
	// version that Adopt accepts for it.
	StageExternal(ctx context.Context, value secret.Value) (secretstore.Version, error)

	// Prune removes version as the backend does when it keeps a limited
	// number of versions.
	Prune(ctx context.Context, version secretstore.Version) error
}
