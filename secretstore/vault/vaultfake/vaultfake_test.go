package vaultfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

func setup(t *testing.T) (*vaultfake.Server, *api.Client) {
	t.Helper()
	s := vaultfake.New(t)
	client := s.Client(t)
	client.SetMaxRetries(0)
	return s, client
}

// put writes data to secret/data/app with the given options.
func put(ctx context.Context, client *api.Client, data map[string]any, options map[string]any) (*api.Secret, error) {
	body := map[string]any{"data": data}
	if options != nil {
		body["options"] = options
	}
	return client.Logical().WriteWithContext(ctx, "secret/data/app", body)
}

// wantResponseError fails the test unless err is Vault's error response with
// status and, when message is not empty, exactly that message.
func wantResponseError(t *testing.T, err error, status int, message string) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want an *api.ResponseError", err)
	}
	if re.StatusCode != status {
		t.Errorf("status = %d, want %d", re.StatusCode, status)
	}
	if message != "" && !slices.Equal(re.Errors, []string{message}) {
		t.Errorf("errors = %q, want [%q]", re.Errors, message)
	}
}

func version(t *testing.T, sec *api.Secret) json.Number {
	t.Helper()
	if sec == nil {
		t.Fatalf("no response")
	}
	n, _ := sec.Data["version"].(json.Number)
	return n
}

func TestCheckAndSet(t *testing.T) {
	t.Parallel()

	t.Run("cas 0 creates only", func(t *testing.T) {
		t.Parallel()
		_, client := setup(t)
		sec, err := put(t.Context(), client, map[string]any{"k": "v1"}, map[string]any{"cas": 0})
		if err != nil {
			t.Fatalf("first write: %v", err)
		}
		if got := version(t, sec); got != "1" {
			t.Errorf("version = %s, want 1", got)
		}

		_, err = put(t.Context(), client, map[string]any{"k": "v2"}, map[string]any{"cas": 0})

		wantResponseError(t, err, http.StatusBadRequest, "check-and-set parameter did not match the current version")
	})

	t.Run("stale cas is rejected and writes nothing", func(t *testing.T) {
		t.Parallel()
		s, client := setup(t)
		for range 2 {
			if _, err := put(t.Context(), client, map[string]any{"k": "v"}, nil); err != nil {
				t.Fatalf("write: %v", err)
			}
		}

		_, err := put(t.Context(), client, map[string]any{"k": "stale"}, map[string]any{"cas": 1})

		wantResponseError(t, err, http.StatusBadRequest, "check-and-set parameter did not match the current version")
		if sec, _ := s.Secret("secret", "app"); sec.CurrentVersion != 2 {
			t.Errorf("current version = %d, want 2", sec.CurrentVersion)
		}
	})

	t.Run("cas_required on the key", func(t *testing.T) {
		t.Parallel()
		s, client := setup(t)
		if err := s.SetKeyMetadata("secret", "app", 0, true); err != nil {
			t.Fatalf("SetKeyMetadata: %v", err)
		}

		_, err := put(t.Context(), client, map[string]any{"k": "v"}, nil)

		wantResponseError(t, err, http.StatusBadRequest, "check-and-set parameter required for this call")
	})

	t.Run("KV v1 ignores cas", func(t *testing.T) {
		t.Parallel()
		s, client := setup(t)
		s.EnableKV("kv", 1)

		_, err := client.Logical().WriteWithContext(t.Context(), "kv/app", map[string]any{
			"data":    map[string]any{"k": "v"},
			"options": map[string]any{"cas": 99},
		})

		if err != nil {
			t.Fatalf("write with a wrong cas to KV v1: %v", err)
		}
		sec, err := client.Logical().ReadWithContext(t.Context(), "kv/app")
		if err != nil || sec == nil {
			t.Fatalf("read: %v, %v", sec, err)
		}
		if _, ok := sec.Data["options"]; !ok {
			t.Errorf("KV v1 did not store the body as it came: %v", sec.Data)
		}
	})
}

func TestPruning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		key, mountWide  int
		writes          int
		wantOldest      int
		wantVersionsLen int
	}{
		{"default keeps 10", 0, 0, 12, 3, 10},
		{"key max_versions 2", 2, 0, 5, 4, 2},
		{"larger of key and mount", 2, 4, 6, 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, client := setup(t)
			s.ConfigureKV("secret", vaultfake.MountConfig{MaxVersions: tt.mountWide})
			if err := s.SetKeyMetadata("secret", "app", tt.key, false); err != nil {
				t.Fatalf("SetKeyMetadata: %v", err)
			}
			for range tt.writes {
				if _, err := put(t.Context(), client, map[string]any{"k": "v"}, nil); err != nil {
					t.Fatalf("write: %v", err)
				}
			}

			meta, err := client.Logical().ReadWithContext(t.Context(), "secret/metadata/app")
			if err != nil {
				t.Fatalf("read metadata: %v", err)
			}

			if got := meta.Data["oldest_version"]; got != json.Number(strconv.Itoa(tt.wantOldest)) {
				t.Errorf("oldest_version = %v, want %d", got, tt.wantOldest)
			}
			if got := len(meta.Data["versions"].(map[string]any)); got != tt.wantVersionsLen {
				t.Errorf("len(versions) = %d, want %d", got, tt.wantVersionsLen)
			}
			old, err := client.Logical().ReadWithDataWithContext(t.Context(), "secret/data/app", map[string][]string{"version": {"1"}})
			if err != nil || old != nil {
				t.Errorf("read of pruned version 1 = %v, %v; want nil, nil (404)", old, err)
			}
		})
	}
}

func TestDeleteAndDestroy(t *testing.T) {
	t.Parallel()
	s, client := setup(t)
	ctx := t.Context()
	for range 3 {
		if _, err := put(ctx, client, map[string]any{"k": "v"}, nil); err != nil {
			t.Fatalf("write: %v", err)
		}
	}

	if _, err := client.Logical().WriteWithContext(ctx, "secret/delete/app", map[string]any{"versions": []int{1}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := client.Logical().WriteWithContext(ctx, "secret/destroy/app", map[string]any{"versions": []int{2}}); err != nil {
		t.Fatalf("destroy: %v", err)
	}

	t.Run("deleted version returns 404 with metadata", func(t *testing.T) {
		sec, err := client.Logical().ReadWithDataWithContext(ctx, "secret/data/app", map[string][]string{"version": {"1"}})
		if err != nil || sec == nil {
			t.Fatalf("read deleted version: %v, %v", sec, err)
		}
		if sec.Data["data"] != nil {
			t.Errorf("data of a deleted version = %v, want null", sec.Data["data"])
		}
		meta, _ := sec.Data["metadata"].(map[string]any)
		if meta["deletion_time"] == "" {
			t.Errorf("deletion_time of a deleted version is empty")
		}
	})

	t.Run("destroyed version has no data", func(t *testing.T) {
		sec, _ := s.Secret("secret", "app")
		if !sec.Versions[2].Destroyed || sec.Versions[2].Data != nil {
			t.Errorf("version 2 = %+v, want destroyed without data", sec.Versions[2])
		}
	})

	t.Run("undelete restores a deleted version", func(t *testing.T) {
		if _, err := client.Logical().WriteWithContext(ctx, "secret/undelete/app", map[string]any{"versions": []int{1, 2}}); err != nil {
			t.Fatalf("undelete: %v", err)
		}
		sec, err := client.Logical().ReadWithDataWithContext(ctx, "secret/data/app", map[string][]string{"version": {"1"}})
		if err != nil || sec == nil || sec.Data["data"] == nil {
			t.Errorf("read undeleted version 1: %v, %v", sec, err)
		}
		if got, _ := s.Secret("secret", "app"); !got.Versions[2].Destroyed {
			t.Errorf("undelete revived destroyed version 2")
		}
	})

	t.Run("missing versions field is rejected", func(t *testing.T) {
		_, err := client.Logical().WriteWithContext(ctx, "secret/destroy/app", map[string]any{})
		wantResponseError(t, err, http.StatusBadRequest, "no version number provided")
	})
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	s, client := setup(t)
	ctx := t.Context()
	if _, err := put(ctx, client, map[string]any{"k": "v"}, nil); err != nil {
		t.Fatalf("write: %v", err)
	}

	t.Run("custom metadata replaced by POST and merged by PATCH", func(t *testing.T) {
		if _, err := client.Logical().WriteWithContext(ctx, "secret/metadata/app", map[string]any{
			"custom_metadata": map[string]any{"a": "1", "b": "2"},
		}); err != nil {
			t.Fatalf("write metadata: %v", err)
		}
		if _, err := client.Logical().JSONMergePatch(ctx, "secret/metadata/app", map[string]any{
			"custom_metadata": map[string]any{"a": nil, "c": "3"},
		}); err != nil {
			t.Fatalf("patch metadata: %v", err)
		}
		sec, _ := s.Secret("secret", "app")
		if diff := cmp.Diff(map[string]string{"b": "2", "c": "3"}, sec.CustomMetadata); diff != "" {
			t.Errorf("custom metadata (-want +got):\n%s", diff)
		}
		if sec.CurrentVersion != 1 {
			t.Errorf("metadata write changed current version to %d", sec.CurrentVersion)
		}
	})

	t.Run("list in both forms", func(t *testing.T) {
		if _, err := s.Put("secret", "dir/inner", map[string]any{"k": "v"}); err != nil {
			t.Fatalf("put: %v", err)
		}
		sec, err := client.Logical().ListWithContext(ctx, "secret/metadata/")
		if err != nil || sec == nil {
			t.Fatalf("list: %v, %v", sec, err)
		}
		if diff := cmp.Diff([]any{"app", "dir/"}, sec.Data["keys"]); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		if got := s.Requests(); got[len(got)-1].Method != "LIST" {
			t.Errorf("last request method = %q, want LIST", got[len(got)-1].Method)
		}
	})

	t.Run("delete metadata removes every version", func(t *testing.T) {
		if _, err := client.Logical().DeleteWithContext(ctx, "secret/metadata/app"); err != nil {
			t.Fatalf("delete metadata: %v", err)
		}
		if _, ok := s.Secret("secret", "app"); ok {
			t.Errorf("secret still exists after deleting its metadata")
		}
	})
}

func TestMounts(t *testing.T) {
	t.Parallel()
	s, client := setup(t)
	s.EnableKV("kv", 1)
	tests := []struct {
		path, wantMount, wantVersion string
	}{
		{"secret", "secret/", "2"},
		{"secret/app/x", "secret/", "2"},
		{"kv", "kv/", "1"},
	}
	for _, tt := range tests {
		sec, err := client.Logical().ReadWithContext(t.Context(), "sys/internal/ui/mounts/"+tt.path)
		if err != nil || sec == nil {
			t.Fatalf("look up %s: %v, %v", tt.path, sec, err)
		}
		options, _ := sec.Data["options"].(map[string]any)
		if sec.Data["path"] != tt.wantMount || options["version"] != tt.wantVersion {
			t.Errorf("mount of %s = %v version %v, want %s version %s", tt.path, sec.Data["path"], options["version"], tt.wantMount, tt.wantVersion)
		}
	}

	_, err := client.Logical().ReadWithContext(t.Context(), "sys/internal/ui/mounts/nothing")
	wantResponseError(t, err, http.StatusForbidden, "")
}

func TestToken(t *testing.T) {
	t.Parallel()
	s, client := setup(t)

	s.ExpireToken(s.Token())
	_, err := client.Logical().ReadWithContext(t.Context(), "secret/data/app")
	wantResponseError(t, err, http.StatusForbidden, "permission denied")

	s.AddToken(s.Token())
	if _, err := client.Logical().ReadWithContext(t.Context(), "secret/data/app"); err != nil {
		t.Errorf("read with the token valid again: %v", err)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("500 after applying", func(t *testing.T) {
		t.Parallel()
		s, client := setup(t)
		s.FailNextWrite(1, "secret/data/app", true)

		_, err := put(t.Context(), client, map[string]any{"k": "v"}, nil)

		wantResponseError(t, err, http.StatusInternalServerError, "")
		if sec, _ := s.Secret("secret", "app"); sec.CurrentVersion != 1 {
			t.Errorf("current version = %d, want 1: the write took effect", sec.CurrentVersion)
		}
	})

	t.Run("500 before applying", func(t *testing.T) {
		t.Parallel()
		s, client := setup(t)
		s.FailNext(1, false)

		_, err := put(t.Context(), client, map[string]any{"k": "v"}, nil)

		wantResponseError(t, err, http.StatusInternalServerError, "")
		if _, ok := s.Secret("secret", "app"); ok {
			t.Errorf("the failed write took effect")
		}
	})

	t.Run("client retries a 500 and gets a cas mismatch", func(t *testing.T) {
		t.Parallel()
		s := vaultfake.New(t)
		client := s.Client(t)
		s.FailNextWrite(1, "secret/data/app", true)

		_, err := put(t.Context(), client, map[string]any{"k": "v"}, map[string]any{"cas": 0})

		wantResponseError(t, err, http.StatusBadRequest, "check-and-set parameter did not match the current version")
	})

	t.Run("delay until the client gives up", func(t *testing.T) {
		t.Parallel()
		s, client := setup(t)
		client.SetClientTimeout(50 * time.Millisecond)
		s.Inject(vaultfake.Fault{Count: 1, Path: "secret/data/app", Applied: true, Delay: time.Minute})

		_, err := put(t.Context(), client, map[string]any{"k": "v"}, nil)

		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want a deadline exceeded", err)
		}
		if sec, _ := s.Secret("secret", "app"); sec.CurrentVersion != 1 {
			t.Errorf("current version = %d, want 1: the write took effect", sec.CurrentVersion)
		}
	})
}
