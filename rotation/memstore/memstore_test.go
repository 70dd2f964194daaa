package memstore_test

import (
	"testing"
	"time"

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
