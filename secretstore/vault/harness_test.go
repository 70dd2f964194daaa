package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/storetest"
	"github.com/rotorhq/rotor/secretstore/vault"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

// The optional storetest hooks of the Vault harness.
var (
	_ storetest.FaultInjector  = (*harness)(nil)
	_ storetest.DocumentWriter = (*harness)(nil)
	_ storetest.MissingSecret  = (*harness)(nil)
)

func (h *harness) SecretName() string { return mount + "/" + secretPath }

// faultMethod is the vaultfake method filter for a kind of request.
func faultMethod(op storetest.Op) string {
	if op == storetest.Write {
		return "write"
	}
	return http.MethodGet
}

// Deny responds to every following request of kind op with 403, as Vault
// does when the token's policy lacks the capability.
func (h *harness) Deny(op storetest.Op) {
	h.fake.Inject(vaultfake.Fault{Count: math.MaxInt, Method: faultMethod(op), Status: http.StatusForbidden})
}

// Throttle responds to the next n requests of kind op with 429, before
// they take effect, as Vault's rate-limit quotas do.
func (h *harness) Throttle(op storetest.Op, n int) {
	h.throttled.Add(int64(n))
	h.fake.Inject(vaultfake.Fault{Count: n, Method: faultMethod(op), Status: http.StatusTooManyRequests,
		Before: func() { h.throttled.Add(-1) }})
}

func (h *harness) PendingFaults() int { return int(h.throttled.Load()) }

// Format returns the format the Vault store reads: the secret under the
// client_secret field of the KV data object.
func (h *harness) Format() secretstore.Format { return secretstore.Format{JSONKey: "client_secret"} }

// WriteDocument writes doc as a new version of the secret. KV v2 stores only
// JSON objects, so any other document is storetest.ErrUnsupported.
func (h *harness) WriteDocument(_ context.Context, doc []byte) error {
	var data map[string]any
	if err := json.Unmarshal(doc, &data); err != nil || data == nil {
		return fmt.Errorf("vault KV v2 stores JSON objects only: %w", storetest.ErrUnsupported)
	}
	_, err := h.fake.Put(mount, secretPath, data)
	return err
}

func (h *harness) MissingStore(t *testing.T) (rotation.SecretStore, string) {
	t.Helper()
	store, err := vault.New(vault.Config{Client: h.fake.Client(t), Path: "persium/missing"})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	return store, mount + "/persium/missing"
}
