package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/secretstore/storetest"
)

var (
	_ rotation.SecretStore  = (*memory.Store)(nil)
	_ rotation.DriftChecker = (*memory.Store)(nil)
)

// harness adapts a memory.Store to storetest.Harness.
type harness struct{ s *memory.Store }

func (h harness) Store() rotation.SecretStore { return h.s }

func (h harness) Versions(context.Context) ([]storetest.StoredVersion, error) {
	var out []storetest.StoredVersion
	for _, v := range h.s.Versions() {
		out = append(out, storetest.StoredVersion{Version: v.Version, State: storetest.State(v.State), Value: v.Value})
	}
	return out, nil
}

func (h harness) Write(_ context.Context, value secret.Value) error {
	_, err := h.s.Write(value)
	return err
}

func (h harness) StageExternal(_ context.Context, value secret.Value) (secretstore.Version, error) {
	return h.s.StageExternal(value)
}

func (h harness) Prune(_ context.Context, version secretstore.Version) error {
	return h.s.Prune(version)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	formats := map[string]secretstore.Format{
		"plain": {},
		"json":  {JSONKey: "client_secret"},
	}
	for name, format := range formats {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, initial secret.Value) storetest.Harness {
				return harness{memory.New(initial, format)}
			})
		})
	}
}

func TestJSONDocument(t *testing.T) {
	t.Parallel()
	format := secretstore.Format{JSONKey: "client_secret"}
	const doc = `{"client_id": "client-a",  "client_secret":"OLD-1", "token_url":"https://id.example/t","n":1.50}`

	setup := func(t *testing.T) *memory.Store {
		t.Helper()
		s, err := memory.NewDocument([]byte(doc), format)
		if err != nil {
			t.Fatalf("NewDocument: %v", err)
		}
		return s
	}

	t.Run("promote keeps other keys byte for byte", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()

		v, err := s.Stage(ctx, "rotation-a", secret.New("NEW-2 +/é"))
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		if v, err = s.Promote(ctx, "rotation-a", v); err != nil {
			t.Fatalf("Promote: %v", err)
		}

		got, err := s.Document(v.New)
		if err != nil {
			t.Fatalf("Document(%s): %v", v.New, err)
		}
		want := `{"client_id": "client-a",  "client_secret":"NEW-2 +/é", "token_url":"https://id.example/t","n":1.50}`
		if string(got) != want {
			t.Errorf("document after promote differs from the old one in more than the secret")
		}
	})

	t.Run("promote after edit of another key conflicts", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		v, err := s.Stage(ctx, "rotation-a", secret.New("NEW-2"))
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		edited, err := s.WriteDocument([]byte(`{"client_id":"client-b","client_secret":"OLD-1"}`))
		if err != nil {
			t.Fatalf("WriteDocument: %v", err)
		}

		_, err = s.Promote(ctx, "rotation-a", v)

		if !errors.Is(err, secretstore.ErrConflict) {
			t.Fatalf("Promote after another key changed: error = %v, want ErrConflict", err)
		}
		if _, current, _ := s.Current(ctx); current != edited {
			t.Errorf("Current() version = %q, want the edited version %q", current, edited)
		}
	})

	t.Run("document without the key is invalid", func(t *testing.T) {
		t.Parallel()
		_, err := memory.NewDocument([]byte(`{"secret":"x"}`), format)
		if !errors.Is(err, secretstore.ErrInvalid) {
			t.Errorf("NewDocument without the key: error = %v, want ErrInvalid", err)
		}
	})
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s := memory.New(secret.New("OLD-1"), secretstore.Format{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := s.Stage(ctx, "rotation-a", secret.New("NEW-2"))

	if !errors.Is(err, secretstore.ErrUnavailable) {
		t.Errorf("Stage with a cancelled context: error = %v, want ErrUnavailable", err)
	}
	if got := len(s.Versions()); got != 1 {
		t.Errorf("versions after a cancelled stage = %d, want 1", got)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const (
		rotationID = "rotation-a"
		doc        = `{"client_id":"client-a","client_secret":"OLD-1","token_url":"https://id.example/t"}`
	)
	newSecret := secret.New("NEW-2 +/é")

	// setup returns a JSON store whose version 1 holds doc, with newSecret
	// staged for rotationID as version 2.
	setup := func(t *testing.T) (*memory.Store, secretstore.Versions) {
		t.Helper()
		s, err := memory.NewDocument([]byte(doc), secretstore.Format{JSONKey: "client_secret"})
		if err != nil {
			t.Fatalf("NewDocument: %v", err)
		}
		v, err := s.Stage(t.Context(), rotationID, newSecret)
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		return s, v
	}
	promote := func(t *testing.T, s *memory.Store, v secretstore.Versions) secretstore.Versions {
		t.Helper()
		v, err := s.Promote(t.Context(), rotationID, v)
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}
		return v
	}
	wantDrift := func(t *testing.T, err error, call string, mentions ...string) {
		t.Helper()
		if !errors.Is(err, secretstore.ErrDrift) {
			t.Fatalf("%s: error = %v, want ErrDrift", call, err)
		}
		for _, m := range mentions {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", call, err, m)
			}
		}
		for _, value := range []string{"OLD-1", "NEW-2"} {
			if strings.Contains(err.Error(), value) {
				t.Errorf("%s: error message contains a secret", call)
			}
		}
	}

	t.Run("edit of another key while promoted is drift", func(t *testing.T) {
		t.Parallel()
		s, v := setup(t)
		v = promote(t, s, v)
		if _, err := s.WriteDocument([]byte(`{"client_id":"client-b","client_secret":"NEW-2 +/é"}`)); err != nil {
			t.Fatalf("WriteDocument: %v", err)
		}

		err := s.Verify(t.Context(), rotationID, true, v)

		wantDrift(t, err, "Verify after another key changed", "version 3 was written by another tool", `not only "client_secret"`)
	})

	t.Run("edit of another key while staged is drift", func(t *testing.T) {
		t.Parallel()
		s, v := setup(t)
		if _, err := s.WriteDocument([]byte(`{"client_id":"client-b","client_secret":"OLD-1"}`)); err != nil {
			t.Fatalf("WriteDocument: %v", err)
		}

		err := s.Verify(t.Context(), rotationID, false, v)

		wantDrift(t, err, "Verify after another key changed", "version 3", "consumers read version 3")
	})

	t.Run("stage by another tool while promoted is drift", func(t *testing.T) {
		t.Parallel()
		s, v := setup(t)
		v = promote(t, s, v)
		if _, err := s.StageExternal(secret.New("NEW-3")); err != nil {
			t.Fatalf("StageExternal: %v", err)
		}

		err := s.Verify(t.Context(), rotationID, true, v)

		wantDrift(t, err, "Verify after a foreign stage", "version 3 was staged by another tool")
	})

	t.Run("staged version pruned is drift", func(t *testing.T) {
		t.Parallel()
		s, v := setup(t)
		if err := s.Prune(v.Staged); err != nil {
			t.Fatalf("Prune: %v", err)
		}

		err := s.Verify(t.Context(), rotationID, false, v)

		wantDrift(t, err, "Verify after the staged version was pruned", "version 2", "no longer pending")
	})

	t.Run("other rotation's versions are drift", func(t *testing.T) {
		t.Parallel()
		s, v := setup(t)

		err := s.Verify(t.Context(), "rotation-b", false, v)

		wantDrift(t, err, "Verify for another rotation", "rotation-a")
	})

	t.Run("cancelled context is unavailable, not drift", func(t *testing.T) {
		t.Parallel()
		s, v := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		err := s.Verify(ctx, rotationID, false, v)

		if !errors.Is(err, secretstore.ErrUnavailable) {
			t.Errorf("Verify with a cancelled context: error = %v, want ErrUnavailable", err)
		}
		if errors.Is(err, secretstore.ErrDrift) {
			t.Errorf("Verify with a cancelled context: error = %v, want no ErrDrift", err)
		}
	})

	t.Run("unknown recorded version is not drift", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)

		err := s.Verify(t.Context(), rotationID, true, secretstore.Versions{Old: "1", New: "v2"})

		if !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("Verify of version %q: error = %v, want ErrNotFound", "v2", err)
		}
	})
}
