package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// Optional harness interfaces. A harness implements those its backend (or
// the backend's fake) supports. The suite runs the tests that need one only
// when the harness implements it and skips them otherwise, naming the
// interface, so adding one to a harness never breaks another backend.

// Op is the kind of backend request a fault applies to.
type Op string

const (
	// Read requests only read: a value, metadata, labels or versions.
	Read Op = "read"
	// Write requests change something in the backend.
	Write Op = "write"
)

// MaxRequestsPerFault bounds how many requests a store may spend on one
// step while every request fails with a transient error. A store that
// retries more has no working bound.
const MaxRequestsPerFault = 20

// ErrUnsupported is returned by an optional hook for an input the backend
// cannot hold, such as a document that is not a JSON object in Vault KV.
// The suite skips the case.
var ErrUnsupported = errors.New("storetest: not supported by this backend")

// Named is implemented by harnesses that know how the store names the
// secret in its errors, such as a Vault path or an AWS secret name. The
// error tests then check that each error names it.
type Named interface {
	SecretName() string
}

// FaultInjector is implemented by harnesses whose backend can be made to
// fail requests.
type FaultInjector interface {
	Named

	// Deny makes every following request of kind op fail as the backend
	// does when rotor's credentials lack a permission.
	Deny(op Op)

	// Throttle makes the next n requests of kind op fail, before they take
	// effect, with the backend's throttling response or a 5xx.
	Throttle(op Op, n int)

	// PendingFaults returns how many requests the faults injected by
	// Throttle would still fail. The suite uses it to check that a store
	// retries, and retries a bounded number of times.
	PendingFaults() int
}

// DocumentWriter is implemented by harnesses whose store reads the secret
// out of a document with a secretstore.Format.
type DocumentWriter interface {
	// Format returns the format the store under test was configured with.
	// The document tests run only for a JSON format.
	Format() secretstore.Format

	// WriteDocument makes doc the current document, as another tool would,
	// without checking it. It returns an error wrapping ErrUnsupported when
	// the backend cannot store doc at all.
	WriteDocument(ctx context.Context, doc []byte) error
}

// MissingSecret is implemented by harnesses that can configure a store for
// a secret the backend does not hold.
type MissingSecret interface {
	// MissingStore returns a store configured like Store, but for a secret
	// that does not exist, and the name its errors use for that secret.
	MissingStore(t *testing.T) (store rotation.SecretStore, name string)
}

// RetireDestroyLimit is implemented by harnesses whose backend cannot
// destroy a single version, so that RetireDestroy can at best leave every
// version with the old value in RetireDestroyLeaves. AWS Secrets Manager is
// such a backend: its strongest retirement removes every staging label, and
// Secrets Manager deletes the unlabelled version later on its own schedule.
// Without this interface the suite requires that no version holds the old
// value after RetireDestroy.
type RetireDestroyLimit interface {
	// RetireDestroyLeaves returns the state that versions holding the old
	// value may have after RetireDestroy: Disabled or Destroyed.
	RetireDestroyLeaves() State
}

func faultInjector(t *testing.T, f *fixture) FaultInjector {
	t.Helper()
	fi, ok := f.h.(FaultInjector)
	if !ok {
		t.Skip("the harness does not implement storetest.FaultInjector")
	}
	return fi
}

func documentWriter(t *testing.T, f *fixture) DocumentWriter {
	t.Helper()
	dw, ok := f.h.(DocumentWriter)
	if !ok {
		t.Skip("the harness does not implement storetest.DocumentWriter")
	}
	if dw.Format().JSONKey == "" {
		t.Skip("the store under test uses the plain format")
	}
	return dw
}

func missingSecret(t *testing.T, f *fixture) MissingSecret {
	t.Helper()
	ms, ok := f.h.(MissingSecret)
	if !ok {
		t.Skip("the harness does not implement storetest.MissingSecret")
	}
	return ms
}

// retireDestroyLeaves returns the strongest state RetireDestroy can give
// versions that hold the old value.
func (f *fixture) retireDestroyLeaves() State {
	if limit, ok := f.h.(RetireDestroyLimit); ok {
		return limit.RetireDestroyLeaves()
	}
	return Destroyed
}
