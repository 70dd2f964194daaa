// Package secretstore holds what every secrets-manager backend shares: the
// version bookkeeping of one rotation, the portable error kinds that each
// backend maps its vendor's errors onto, and the plain or JSON format of a
// stored secret. The backends live in sub-packages; the interface they
// implement is defined by their user, rotation.SecretStore.
package secretstore

import (
	"errors"
	"fmt"
)

// Version identifies one version of a secret in a backend: an AWS VersionId,
// a GCP version number, a Vault KV v2 version number. rotor stores it and
// shows it but never interprets it; only the backend that issued it does.
type Version string

// Versions are the backend versions that one rotation touches. A backend
// returns them from each step and receives them back on the next, so it can
// address exactly the versions the rotation recorded rather than whatever
// is current at the time.
type Versions struct {
	// Old is the version consumers read when the rotation started. It stays
	// readable until retirement.
	Old Version `json:"old,omitempty"`

	// Staged is the version in which the new secret waits before promotion. For backends
	// that promote by moving a label it equals New after promotion.
	Staged Version `json:"staged,omitempty"`

	// New is the version consumers read after promotion. Empty before.
	New Version `json:"new,omitempty"`
}

// RetireMode is the action that retiring applies to the old version.
type RetireMode string

const (
	// RetireDisable keeps the old value recoverable by an administrator of
	// the backend (AWS: label removed; GCP: version disabled; Vault:
	// soft-deleted).
	RetireDisable RetireMode = "disable"

	// RetireDestroy removes the old value for good. Emergency rotations
	// always destroy.
	RetireDestroy RetireMode = "destroy"
)

// Valid reports whether m is a known mode.
func (m RetireMode) Valid() bool { return m == RetireDisable || m == RetireDestroy }

// Portable error kinds. A backend wraps one of them, with a message that
// names the secret and version but never a value or a credential, so that
// callers can decide with errors.Is.
var (
	// ErrNotFound: the secret, the version or the staged version does not
	// exist (anymore), for example because the backend pruned it.
	ErrNotFound = errors.New("not found in the secrets manager")

	// ErrConflict: the backend's state is not what the step expects: a
	// check-and-set mismatch, a pending version left by someone else, or a
	// different value staged for the same rotation.
	ErrConflict = errors.New("conflicting state in the secrets manager")

	// ErrAccess: rotor's credentials for the backend were rejected or lack
	// a permission.
	ErrAccess = errors.New("access to the secrets manager denied")

	// ErrUnavailable: the backend could not be reached, timed out or failed
	// on its side. The outcome of a write is unknown.
	ErrUnavailable = errors.New("secrets manager unavailable")

	// ErrDrift: while a rotation is open, the secret changed in a way rotor
	// did not make: another tool wrote a version, or moved a label or an
	// alias that rotor relies on. Only DriftChecker.Verify returns it.
	ErrDrift = errors.New("secret changed outside rotor")

	// ErrInvalid: the secret or the backend is configured in a way rotor
	// cannot rotate safely (a KV v1 mount, a missing JSON key, a non-object
	// document).
	ErrInvalid = errors.New("secrets manager configuration invalid")
)

// Error is a backend failure with a kind and a message that is safe to show
// an operator.
type Error struct {
	Kind error  // one of the Err* kinds above
	Op   string // the step, such as "stage" or "retire"
	Msg  string // what happened, with names and versions, never a value
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Op, e.Kind, e.Msg)
}

// Unwrap returns the kind so errors.Is works.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind.
func Errorf(kind error, op, format string, args ...any) error {
	return &Error{Kind: kind, Op: op, Msg: fmt.Sprintf(format, args...)}
}
