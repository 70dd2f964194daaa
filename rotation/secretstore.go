package rotation

import (
	"context"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// SecretStore is the secrets-manager location of one credential's secret,
// as the rotation service drives it. Each method is one step of DESIGN's
// backend mapping and must be idempotent for the same rotationID, because
// after a crash the service repeats a step whose completion it did not
// record. Errors wrap one of the secretstore.Err* kinds.
type SecretStore interface {
	// Stage writes value as a pending version beside the current one,
	// without changing what consumers read. Repeating it with the same
	// rotationID and value returns the same Versions and writes nothing
	// new; a different value for the same rotationID is ErrConflict. A
	// pending version left by another rotation or tool is ErrConflict that
	// names it, and nothing is written.
	Stage(ctx context.Context, rotationID string, value secret.Value) (secretstore.Versions, error)

	// Adopt claims a version that is already staged in the backend (put
	// there by another tool) as rotationID's staged version.
	Adopt(ctx context.Context, rotationID string, staged secretstore.Version) (secretstore.Versions, error)

	// Staged returns the versions of the value staged for rotationID, or
	// ErrNotFound when nothing is staged for it. The service calls it after
	// a crash to learn whether a stage happened.
	Staged(ctx context.Context, rotationID string) (secretstore.Versions, error)

	// Promote makes the staged value the one consumers read. The old
	// version stays readable. It returns v with New set.
	Promote(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error)

	// Rollback makes the old value the one consumers read again and puts
	// the new value back into the staged position. It returns the versions
	// as they are afterwards.
	Rollback(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error)

	// Retire disables or destroys every version that holds the old value.
	// A version that is already retired is not an error; one that was
	// pruned before rotor retired it is ErrNotFound.
	Retire(ctx context.Context, rotationID string, v secretstore.Versions, mode secretstore.RetireMode) error

	// Discard removes the staged value of a cancelled rotation. Nothing
	// staged is not an error.
	Discard(ctx context.Context, rotationID string, v secretstore.Versions) error

	// Read returns the secret held in one version.
	Read(ctx context.Context, version secretstore.Version) (secret.Value, error)

	// Current returns the secret consumers read now and its version.
	Current(ctx context.Context) (secret.Value, secretstore.Version, error)
}

// DriftChecker is implemented by secret stores that can tell whether the
// secret still looks as rotor left it. While a rotation is open, the
// service's watch calls Verify, and a change that rotor did not make
// pauses the rotation, because promote, roll back and retire would
// otherwise act on versions that no longer mean what rotor recorded.
type DriftChecker interface {
	// Verify compares the backend with what rotor left for rotationID. v
	// are the versions rotor recorded. promoted is false in new_issued,
	// where consumers read the old version and the staged one waits. It
	// is true in dual_active, where consumers read the new version and the
	// old one stays readable.
	//
	// It returns nil when nothing changed, an error of kind
	// secretstore.ErrDrift whose message describes the change (a version
	// written by another tool, a label or alias moved, a recorded version
	// gone) when something did, and another kind when the backend cannot
	// be read. It writes nothing.
	Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error
}
