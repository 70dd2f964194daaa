package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/storetest"
	"github.com/rotorhq/rotor/secretstore/vault"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

var _ rotation.SecretStore = (*vault.Store)(nil)

const (
	mount       = "secret"
	secretPath  = "persium/cred-a"
	stagingPath = secretPath + vault.DefaultStagingSuffix
	dataPath    = mount + "/data/" + secretPath
)

// harness is a vault.Store on a fresh fake Vault, and the storetest hooks.
type harness struct {
	t     *testing.T
	fake  *vaultfake.Server
	store *vault.Store
	logs  *testlog.Buffer

	throttled atomic.Int64 // 429 responses injected by Throttle and not used yet
}

// setup starts a fake Vault whose secret holds initial under client_secret
// beside other fields, one of them a number that must keep its digits.
func setup(t *testing.T, initial secret.Value) *harness {
	t.Helper()
	fake := vaultfake.New(t)
	_, err := fake.Put(mount, secretPath, map[string]any{
		"client_id":     "client-a",
		"client_secret": initial.Reveal(),
		"token_url":     "https://id.persium.example/realms/a/protocol/openid-connect/token",
		"timeout":       json.Number("1.50"),
	})
	if err != nil {
		t.Fatalf("put initial secret: %v", err)
	}
	h := &harness{t: t, fake: fake, logs: testlog.New(t)}
	h.store = h.newStore(fake.Client(t))
	return h
}

func (h *harness) newStore(client *api.Client) *vault.Store {
	h.t.Helper()
	store, err := vault.New(vault.Config{
		Client: client,
		Path:   secretPath,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
	})
	if err != nil {
		h.t.Fatalf("vault.New: %v", err)
	}
	return store
}

func (h *harness) Store() rotation.SecretStore { return h.store }

func (h *harness) Versions(context.Context) ([]storetest.StoredVersion, error) {
	var out []storetest.StoredVersion
	for _, p := range []struct {
		path   string
		prefix string
	}{{secretPath, ""}, {stagingPath, "staged:"}} {
		sec, ok := h.fake.Secret(mount, p.path)
		if !ok {
			continue
		}
		for n, v := range sec.Versions {
			sv := storetest.StoredVersion{Version: secretstore.Version(fmt.Sprintf("%s%d", p.prefix, n)), State: storetest.Enabled}
			switch {
			case v.Destroyed:
				sv.State = storetest.Destroyed
			case !v.Deleted.IsZero():
				sv.State = storetest.Disabled
			}
			if v.Data != nil {
				var fields map[string]any
				if err := json.Unmarshal(v.Data, &fields); err != nil {
					return nil, fmt.Errorf("decode version %s: %w", sv.Version, err)
				}
				if s, ok := fields["client_secret"].(string); ok {
					sv.Value = secret.New(s)
				}
			}
			out = append(out, sv)
		}
	}
	return out, nil
}

func (h *harness) latestData() map[string]any {
	h.t.Helper()
	sec, ok := h.fake.Secret(mount, secretPath)
	if !ok {
		h.t.Fatalf("secret %s/%s is missing", mount, secretPath)
	}
	return decode(h.t, sec.Versions[sec.CurrentVersion].Data)
}

func (h *harness) Write(_ context.Context, value secret.Value) error {
	data := h.latestData()
	data["client_secret"] = value.Reveal()
	_, err := h.fake.Put(mount, secretPath, data)
	return err
}

func (h *harness) StageExternal(_ context.Context, value secret.Value) (secretstore.Version, error) {
	n, err := h.fake.Put(mount, stagingPath, map[string]any{"client_secret": value.Reveal()})
	return secretstore.Version(fmt.Sprintf("staged:%d", n)), err
}

func (h *harness) Prune(_ context.Context, version secretstore.Version) error {
	var n int
	if _, err := fmt.Sscanf(string(version), "staged:%d", &n); err == nil {
		return h.fake.Prune(mount, stagingPath, n)
	}
	if _, err := fmt.Sscanf(string(version), "%d", &n); err != nil {
		return fmt.Errorf("version %q is not one the vault backend issues", version)
	}
	return h.fake.Prune(mount, secretPath, n)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, initial secret.Value) storetest.Harness {
		return setup(t, initial)
	})
}

// The secrets are the shared canaries, so that the searches of errors and
// logs find them in any form.
var (
	oldSecret = canary.Value
	newSecret = canary.Second
)

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		t.Fatalf("decode stored version: %v", err)
	}
	return fields
}

// wantKind fails the test unless err is of kind and keeps the secrets out
// of its message.
func wantKind(t *testing.T, err, kind error, call string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want kind %q", call, err, kind)
	}
	canary.Check(t, call+": the error message", err.Error())
}

func (h *harness) stageAndPromote(t *testing.T) secretstore.Versions {
	t.Helper()
	ctx := t.Context()
	v, err := h.store.Stage(ctx, "rotation-a", newSecret)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	v, err = h.store.Promote(ctx, "rotation-a", v)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	return v
}

func (h *harness) currentVersion(t *testing.T) int {
	t.Helper()
	sec, ok := h.fake.Secret(mount, secretPath)
	if !ok {
		t.Fatalf("secret %s/%s is missing", mount, secretPath)
	}
	return sec.CurrentVersion
}

func TestNew(t *testing.T) {
	t.Parallel()
	client := vaultfake.New(t).Client(t)
	tests := []struct {
		name string
		cfg  vault.Config
	}{
		{"no client", vault.Config{Path: secretPath}},
		{"no path", vault.Config{Client: client}},
		{"path with data prefix", vault.Config{Client: client, Path: "data/persium/cred-a"}},
		{"staging path equal to path", vault.Config{Client: client, Path: secretPath, StagingPath: secretPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := vault.New(tt.cfg)
			wantKind(t, err, secretstore.ErrInvalid, "New")
		})
	}

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		store, err := vault.New(vault.Config{Client: client, Path: "/persium/cred-a/"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		got := []string{store.Mount(), store.Path(), store.StagingPath()}
		want := []string{"secret", "persium/cred-a", "persium/cred-a.rotor-staged"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mount, path, staging path (-want +got):\n%s", diff)
		}
	})
}

func TestPreflight(t *testing.T) {
	t.Parallel()

	t.Run("KV v2 with default max_versions passes", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		if err := h.store.Preflight(t.Context()); err != nil {
			t.Errorf("Preflight: %v", err)
		}
	})

	t.Run("KV v1 mount is rejected by name", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		h.fake.EnableKV("kv", 1)
		if _, err := h.fake.Put("kv", secretPath, map[string]any{"client_secret": oldSecret.Reveal()}); err != nil {
			t.Fatalf("put: %v", err)
		}
		store, err := vault.New(vault.Config{Client: h.fake.Client(t), Mount: "kv", Path: secretPath})
		if err != nil {
			t.Fatalf("New: %v", err)
		}

		err = store.Preflight(t.Context())

		wantKind(t, err, secretstore.ErrInvalid, "Preflight on KV v1")
		if !strings.Contains(err.Error(), `mount "kv" is KV version 1`) {
			t.Errorf("Preflight error = %q, want it to name mount kv as KV version 1", err)
		}
	})

	maxVersions := []struct {
		name           string
		key, mountWide int
		wantErr        bool
	}{
		{"key max_versions 1 is rejected", 1, 0, true},
		{"key max_versions 2 is rejected", 2, 0, true},
		{"mount max_versions 2 is rejected", 0, 2, true},
		{"key max_versions 3 passes", 3, 0, false},
		{"larger mount setting wins over key", 1, 5, false},
		{"larger key setting wins over mount", 5, 1, false},
	}
	for _, tt := range maxVersions {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret)
			if err := h.fake.SetKeyMetadata(mount, secretPath, tt.key, false); err != nil {
				t.Fatalf("SetKeyMetadata: %v", err)
			}
			h.fake.ConfigureKV(mount, vaultfake.MountConfig{MaxVersions: tt.mountWide})

			err := h.store.Preflight(t.Context())

			if !tt.wantErr {
				if err != nil {
					t.Errorf("Preflight: %v", err)
				}
				return
			}
			wantKind(t, err, secretstore.ErrInvalid, "Preflight")
			if !strings.Contains(err.Error(), "max_versions") {
				t.Errorf("Preflight error = %q, want it to mention max_versions", err)
			}
		})
	}

	t.Run("sub-path given as mount is rejected", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		store, err := vault.New(vault.Config{Client: h.fake.Client(t), Mount: "secret/persium", Path: "cred-a"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		wantKind(t, store.Preflight(t.Context()), secretstore.ErrInvalid, "Preflight with a sub-path as mount")
	})

	t.Run("missing secret is not found", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		store, err := vault.New(vault.Config{Client: h.fake.Client(t), Path: "persium/missing"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		wantKind(t, store.Preflight(t.Context()), secretstore.ErrNotFound, "Preflight of a missing secret")
	})

	t.Run("missing key field is invalid", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		store, err := vault.New(vault.Config{Client: h.fake.Client(t), Path: secretPath, Key: "secret"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		wantKind(t, store.Preflight(t.Context()), secretstore.ErrInvalid, "Preflight with a missing key")
	})

	t.Run("expired token is an access error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		h.fake.ExpireToken(h.fake.Token())
		wantKind(t, h.store.Preflight(t.Context()), secretstore.ErrAccess, "Preflight with an expired token")
	})
}

func TestPromoteKeepsOtherFields(t *testing.T) {
	t.Parallel()

	t.Run("every other field unchanged", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		before := h.latestData()

		h.stageAndPromote(t)

		after := h.latestData()
		if after["client_secret"] != newSecret.Reveal() {
			t.Errorf("client_secret after promote is not the new secret")
		}
		delete(before, "client_secret")
		delete(after, "client_secret")
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("other fields changed by promote (-before +after):\n%s", diff)
		}
	})

	t.Run("concurrent edit of another field is kept", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v, err := h.store.Stage(t.Context(), "rotation-a", newSecret)
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		const moved = "https://id.persium.example/realms/b/protocol/openid-connect/token"
		h.fake.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: dataPath, Before: func() {
			data := h.latestData()
			data["token_url"] = moved
			if _, err := h.fake.Put(mount, secretPath, data); err != nil {
				t.Errorf("concurrent put: %v", err)
			}
		}})

		v, err = h.store.Promote(t.Context(), "rotation-a", v)
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}

		after := h.latestData()
		if after["token_url"] != moved {
			t.Errorf("token_url after promote = %v, want the concurrent edit %q", after["token_url"], moved)
		}
		if after["client_secret"] != newSecret.Reveal() {
			t.Errorf("client_secret after promote is not the new secret")
		}
		if got, want := v.New, secretstore.Version("3"); got != want {
			t.Errorf("Promote().New = %q, want %q (1 old, 2 the concurrent edit)", got, want)
		}
	})

	t.Run("concurrent change of the secret conflicts", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		v, err := h.store.Stage(t.Context(), "rotation-a", newSecret)
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		h.fake.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: dataPath, Before: func() {
			data := h.latestData()
			data["client_secret"] = "changed by another tool"
			if _, err := h.fake.Put(mount, secretPath, data); err != nil {
				t.Errorf("concurrent put: %v", err)
			}
		}})

		_, err = h.store.Promote(t.Context(), "rotation-a", v)

		wantKind(t, err, secretstore.ErrConflict, "Promote after the secret changed")
		if got := h.currentVersion(t); got != 2 {
			t.Errorf("current version = %d, want 2 (nothing written by rotor)", got)
		}
	})
}

func TestWriteOutcomeUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		retries int           // Vault client retries on a 5xx
		timeout time.Duration // Vault client time-out per request; 0 keeps the fake's
		fault   vaultfake.Fault
	}{
		{"500 after the write, client retries", 2, 0, vaultfake.Fault{Status: 500, Applied: true}},
		{"500 after the write, no client retries", 0, 0, vaultfake.Fault{Status: 500, Applied: true}},
		{"500 before the write, no client retries", 0, 0, vaultfake.Fault{Status: 500}},
		{"time-out after the write", 0, time.Second, vaultfake.Fault{Applied: true, Delay: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret)
			client := h.fake.Client(t)
			client.SetMaxRetries(tt.retries)
			if tt.timeout > 0 {
				client.SetClientTimeout(tt.timeout)
			}
			h.store = h.newStore(client)
			v, err := h.store.Stage(t.Context(), "rotation-a", newSecret)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			fault := tt.fault
			fault.Count, fault.Method, fault.Path = 1, "write", dataPath
			h.fake.Inject(fault)

			v, err = h.store.Promote(t.Context(), "rotation-a", v)

			if err != nil {
				t.Fatalf("Promote: %v", err)
			}
			if got, want := h.currentVersion(t), 2; got != want {
				t.Errorf("current version = %d, want %d: exactly one new version", got, want)
			}
			if v.New != "2" {
				t.Errorf("Promote().New = %q, want \"2\"", v.New)
			}
			if fault.Applied && !strings.Contains(h.logs.String(), "resolved by a re-read") {
				t.Errorf("no log record says the outcome was resolved by a re-read; logs:\n%s", h.logs)
			}
		})
	}

	t.Run("stage write lost after it was stored", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		h.fake.FailNextWrite(1, mount+"/data/"+stagingPath, true)

		v, err := h.store.Stage(t.Context(), "rotation-a", newSecret)

		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		sec, _ := h.fake.Secret(mount, stagingPath)
		if got := len(sec.Versions); got != 1 {
			t.Errorf("staging path has %d versions, want 1", got)
		}
		if v.Staged != "staged:1" {
			t.Errorf("Stage().Staged = %q, want staged:1", v.Staged)
		}
	})

	t.Run("promote repeated after failing between steps", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		client := h.fake.Client(t)
		client.SetMaxRetries(0)
		h.store = h.newStore(client)
		v, err := h.store.Stage(t.Context(), "rotation-a", newSecret)
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		// The value is written, then recording the promotion fails.
		h.fake.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: mount + "/metadata/" + secretPath, Status: 500})

		_, err = h.store.Promote(t.Context(), "rotation-a", v)
		wantKind(t, err, secretstore.ErrUnavailable, "Promote")

		got, err := h.store.Promote(t.Context(), "rotation-a", v)
		if err != nil {
			t.Fatalf("repeated Promote: %v", err)
		}
		if got.New != "2" || h.currentVersion(t) != 2 {
			t.Errorf("after repeat: New = %q, current version %d; want 2 and 2", got.New, h.currentVersion(t))
		}
		if _, ok := h.fake.Secret(mount, stagingPath); ok {
			t.Errorf("staging path still exists after the repeated promote")
		}
	})

	t.Run("vault down is unavailable and echoes nothing", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret)
		h.fake.Inject(vaultfake.Fault{Count: 100, Method: "write", Status: 500, EchoBody: true})

		_, err := h.store.Stage(t.Context(), "rotation-a", newSecret)

		wantKind(t, err, secretstore.ErrUnavailable, "Stage while Vault fails")
		if strings.Contains(err.Error(), "internal error while handling") {
			t.Errorf("Stage error = %q, want no text from Vault's response", err)
		}
	})
}

func TestTokenExpired(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret)
	v := h.stageAndPromote(t)
	h.fake.ExpireToken(h.fake.Token())

	err := h.store.Retire(t.Context(), "rotation-a", v, secretstore.RetireDestroy)

	wantKind(t, err, secretstore.ErrAccess, "Retire with an expired token")
	_, _, err = h.store.Current(t.Context())
	wantKind(t, err, secretstore.ErrAccess, "Current with an expired token")

	h.fake.AddToken(h.fake.Token())
	if err := h.store.Retire(t.Context(), "rotation-a", v, secretstore.RetireDestroy); err != nil {
		t.Fatalf("Retire once access is back: %v", err)
	}
	sec, _ := h.fake.Secret(mount, secretPath)
	if !sec.Versions[1].Destroyed {
		t.Errorf("version 1 is not destroyed after retire")
	}
}

func TestMaxVersionsPruning(t *testing.T) {
	t.Parallel()

	setupPruned := func(t *testing.T) (*harness, secretstore.Versions) {
		t.Helper()
		h := setup(t, oldSecret)
		if err := h.fake.SetKeyMetadata(mount, secretPath, 3, false); err != nil {
			t.Fatalf("SetKeyMetadata: %v", err)
		}
		v := h.stageAndPromote(t)
		// Another job rewrites the secret's other fields during dual_active.
		for i := range 3 {
			data := h.latestData()
			data["generation"] = json.Number(fmt.Sprint(i))
			if _, err := h.fake.Put(mount, secretPath, data); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
		return h, v
	}

	t.Run("retire of pruned old version is not found", func(t *testing.T) {
		t.Parallel()
		h, v := setupPruned(t)
		before, _ := h.fake.Secret(mount, secretPath)

		err := h.store.Retire(t.Context(), "rotation-a", v, secretstore.RetireDestroy)

		wantKind(t, err, secretstore.ErrNotFound, "Retire of a pruned version")
		if !strings.Contains(err.Error(), "version 1 of secret/persium/cred-a") || !strings.Contains(err.Error(), "pruned") {
			t.Errorf("Retire error = %q, want it to say version 1 was pruned", err)
		}
		after, _ := h.fake.Secret(mount, secretPath)
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("Retire changed the secret (-before +after):\n%s", diff)
		}
	})

	t.Run("rollback to pruned old version is not found", func(t *testing.T) {
		t.Parallel()
		h, v := setupPruned(t)

		_, err := h.store.Rollback(t.Context(), "rotation-a", v)

		wantKind(t, err, secretstore.ErrNotFound, "Rollback to a pruned version")
		if got := h.currentVersion(t); got != 5 {
			t.Errorf("current version = %d, want 5 (nothing written)", got)
		}
	})
}

func TestRetireFindsCopies(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret)
	v := h.stageAndPromote(t)
	// An operator copied the old value back by hand and then forward again.
	for _, s := range []secret.Value{oldSecret, newSecret} {
		if err := h.Write(t.Context(), s); err != nil {
			t.Fatalf("write: %v", err)
		}
	}

	if err := h.store.Retire(t.Context(), "rotation-a", v, secretstore.RetireDestroy); err != nil {
		t.Fatalf("Retire: %v", err)
	}

	sec, _ := h.fake.Secret(mount, secretPath)
	var destroyed []int
	for _, n := range slices.Sorted(maps.Keys(sec.Versions)) {
		if sec.Versions[n].Destroyed {
			destroyed = append(destroyed, n)
		}
	}
	if diff := cmp.Diff([]int{1, 3}, destroyed); diff != "" {
		t.Errorf("destroyed versions (-want +got):\n%s", diff)
	}
}
