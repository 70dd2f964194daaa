package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/secretstore/storetest"
)

var _ rotation.SecretStore = (*memory.Store)(nil)

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
