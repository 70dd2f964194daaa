package vault_test

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/vault"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

var _ rotation.DriftChecker = (*vault.Store)(nil)

// wantDrift fails the test unless err is ErrDrift, keeps the secrets out of
// its message and mentions each of mentions.
func wantDrift(t *testing.T, err error, call string, mentions ...string) {
	t.Helper()
	wantKind(t, err, secretstore.ErrDrift, call)
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %q", call, err, m)
		}
	}
}

// wantNoDrift fails the test unless err is of kind and not ErrDrift.
func wantNoDrift(t *testing.T, err, kind error, call string) {
	t.Helper()
	wantKind(t, err, kind, call)
	if errors.Is(err, secretstore.ErrDrift) {
		t.Errorf("%s: error = %v, want no ErrDrift", call, err)
	}
}

func (h *harness) stage(t *testing.T) secretstore.Versions {
	t.Helper()
	v, err := h.store.Stage(t.Context(), "rotation-a", newSecret)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	return v
}

// admin sends a request with the fake's token as an operator would with the
// vault command, bypassing the store.
func (h *harness) admin(t *testing.T, method, path string, body map[string]any) {
	t.Helper()
	client := h.fake.Client(t)
	var err error
	switch method {
	case http.MethodDelete:
		_, err = client.Logical().DeleteWithContext(t.Context(), path)
	default:
		_, err = client.Logical().WriteWithContext(t.Context(), path, body)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

func TestVerifyNewIssued(t *testing.T) {
	t.Parallel()

	t.Run("staging path deleted by hand is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stage(t)
		h.admin(t, http.MethodDelete, mount+"/metadata/"+stagingPath, nil)

		err := h.store.Verify(t.Context(), "rotation-a", false, v)

		wantDrift(t, err, "Verify after the staging path was deleted", "staging path secret/"+stagingPath, "deleted outside rotor")
	})

	t.Run("staged version deleted by hand is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stage(t)
		h.admin(t, http.MethodPost, mount+"/delete/"+stagingPath, map[string]any{"versions": []int{1}})

		err := h.store.Verify(t.Context(), "rotation-a", false, v)

		wantDrift(t, err, "Verify after the staged version was deleted", "staged:1", "deleted or destroyed")
	})

	t.Run("write at staging path by another tool is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stage(t)
		if _, err := h.fake.Put(mount, stagingPath, map[string]any{"client_secret": "NEW-3"}); err != nil {
			t.Fatalf("put: %v", err)
		}

		err := h.store.Verify(t.Context(), "rotation-a", false, v)

		wantDrift(t, err, "Verify after a write at the staging path", "staged:2", "another tool")
	})

	t.Run("staging path claimed by another rotation is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stage(t)
		h.admin(t, http.MethodPost, mount+"/metadata/"+stagingPath, map[string]any{
			"custom_metadata": map[string]string{"rotor-rotation-id": "rotation-b", "rotor-old-version": "1"},
		})

		err := h.store.Verify(t.Context(), "rotation-a", false, v)

		wantDrift(t, err, "Verify after the owner changed", "rotation rotation-b", "not rotation rotation-a")
	})

	t.Run("edit of another field is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stage(t)
		data := h.latestData()
		data["token_url"] = "https://id.persium.example/realms/b/protocol/openid-connect/token"
		if _, err := h.fake.Put(mount, secretPath, data); err != nil {
			t.Fatalf("put: %v", err)
		}

		err := h.store.Verify(t.Context(), "rotation-a", false, v)

		wantDrift(t, err, "Verify after another field changed",
			"version 2 of secret/persium/cred-a was written by another tool", "consumers read it now", `not only "client_secret"`)
	})

	t.Run("after rollback accepts the restaged value", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		v, err := h.store.Rollback(t.Context(), "rotation-a", v)
		if err != nil {
			t.Fatalf("Rollback: %v", err)
		}

		if err := h.store.Verify(t.Context(), "rotation-a", false, v); err != nil {
			t.Errorf("Verify after rollback: %v", err)
		}
	})
}

func TestVerifyDualActive(t *testing.T) {
	t.Parallel()

	t.Run("unchanged is accepted", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)

		if err := h.store.Verify(t.Context(), "rotation-a", true, v); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})

	t.Run("edit of another field is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		data := h.latestData()
		data["client_id"] = "client-b"
		if _, err := h.fake.Put(mount, secretPath, data); err != nil {
			t.Fatalf("put: %v", err)
		}

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantDrift(t, err, "Verify after another field changed",
			"version 3 of secret/persium/cred-a was written by another tool", "consumers read it now, not version 2", `not only "client_secret"`)
	})

	t.Run("several foreign writes are drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		for _, s := range []string{"NEW-3", "NEW-4"} {
			if err := h.Write(t.Context(), secret.New(s)); err != nil {
				t.Fatalf("write: %v", err)
			}
		}

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantDrift(t, err, "Verify after two foreign writes", "versions 3 to 4", "consumers read version 4 now")
	})

	oldVersionGone := []struct {
		name     string
		endpoint string
		want     string
	}{
		{"old version deleted is drift", "delete", "version 1 of secret/persium/cred-a, the old value of rotation rotation-a, was deleted"},
		{"old version destroyed is drift", "destroy", "version 1 of secret/persium/cred-a, the old value of rotation rotation-a, was destroyed"},
	}
	for _, tt := range oldVersionGone {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret)
			v := h.stageAndPromote(t)
			h.admin(t, http.MethodPost, mount+"/"+tt.endpoint+"/"+secretPath, map[string]any{"versions": []int{1}})

			err := h.store.Verify(t.Context(), "rotation-a", true, v)

			wantDrift(t, err, "Verify after "+tt.endpoint+" of the old version", tt.want)
		})
	}

	t.Run("old version pruned is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		if err := h.fake.Prune(mount, secretPath, 1); err != nil {
			t.Fatalf("Prune: %v", err)
		}

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantDrift(t, err, "Verify after the old version was pruned", "version 1 of secret/persium/cred-a", "pruned by max_versions")
	})

	t.Run("new version deleted is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		h.admin(t, http.MethodPost, mount+"/delete/"+secretPath, map[string]any{"versions": []int{2}})

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantDrift(t, err, "Verify after the new version was deleted", "version 2 of secret/persium/cred-a, which consumers read")
	})

	t.Run("secret deleted and written again is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		h.admin(t, http.MethodDelete, mount+"/metadata/"+secretPath, nil)
		if _, err := h.fake.Put(mount, secretPath, map[string]any{"client_secret": newSecret.Reveal()}); err != nil {
			t.Fatalf("put: %v", err)
		}

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantDrift(t, err, "Verify after the secret was written again", "latest version of secret/persium/cred-a is 1, lower than version 2")
	})

	t.Run("stage by another tool is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		if _, err := h.StageExternal(t.Context(), secret.New("NEW-3")); err != nil {
			t.Fatalf("StageExternal: %v", err)
		}

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantDrift(t, err, "Verify after a foreign stage", "staged:1", "another tool")
	})
}

func TestVerifyBackendFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		kind   error
	}{
		{"denied read is an access error", http.StatusForbidden, secretstore.ErrAccess},
		{"sealed Vault is unavailable", http.StatusServiceUnavailable, secretstore.ErrUnavailable},
		{"internal error is unavailable", http.StatusInternalServerError, secretstore.ErrUnavailable},
	}
	for _, tt := range tests {
		for _, promoted := range []bool{false, true} {
			name := tt.name + " in new_issued"
			if promoted {
				name = tt.name + " in dual_active"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				h := setup(t, oldSecret)
				v := h.stage(t)
				if promoted {
					var err error
					if v, err = h.store.Promote(t.Context(), "rotation-a", v); err != nil {
						t.Fatalf("Promote: %v", err)
					}
				}
				h.fake.Inject(vaultfake.Fault{Count: math.MaxInt, Method: http.MethodGet, Status: tt.status})

				err := h.store.Verify(t.Context(), "rotation-a", promoted, v)

				wantNoDrift(t, err, tt.kind, "Verify while Vault responds "+http.StatusText(tt.status))
			})
		}
	}

	t.Run("expired token is an access error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		h.fake.ExpireToken(h.fake.Token())

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantNoDrift(t, err, secretstore.ErrAccess, "Verify with an expired token")
	})

	t.Run("sends no write request", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stage(t)
		var writes atomic.Int64
		h.fake.Inject(vaultfake.Fault{Count: math.MaxInt, Method: "write", Status: http.StatusInternalServerError,
			Before: func() { writes.Add(1) }})

		if err := h.store.Verify(t.Context(), "rotation-a", false, v); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if got := writes.Load(); got != 0 {
			t.Errorf("Verify sent %d write requests, want 0", got)
		}
	})

	t.Run("unknown recorded version is not drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v := h.stageAndPromote(t)
		v.New = "staged:1"

		err := h.store.Verify(t.Context(), "rotation-a", true, v)

		wantNoDrift(t, err, secretstore.ErrNotFound, "Verify with a staging version as the new version")
	})
}
