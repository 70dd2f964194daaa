package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/metrics"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// failStore is a backend on which every call fails with err, as a backend
// does when it maps its vendor's failure onto a portable kind. Its
// Preflight and Verify are those of a store that has both.
type failStore struct{ err error }

func (s failStore) Stage(context.Context, string, secret.Value) (secretstore.Versions, error) {
	return secretstore.Versions{}, s.err
}

func (s failStore) Adopt(context.Context, string, secretstore.Version) (secretstore.Versions, error) {
	return secretstore.Versions{}, s.err
}

func (s failStore) Staged(context.Context, string) (secretstore.Versions, error) {
	return secretstore.Versions{}, s.err
}

func (s failStore) Promote(context.Context, string, secretstore.Versions) (secretstore.Versions, error) {
	return secretstore.Versions{}, s.err
}

func (s failStore) Rollback(context.Context, string, secretstore.Versions) (secretstore.Versions, error) {
	return secretstore.Versions{}, s.err
}

func (s failStore) Retire(context.Context, string, secretstore.Versions, secretstore.RetireMode) error {
	return s.err
}

func (s failStore) Discard(context.Context, string, secretstore.Versions) error { return s.err }

func (s failStore) Read(context.Context, secretstore.Version) (secret.Value, error) {
	return secret.Value{}, s.err
}

func (s failStore) Current(context.Context) (secret.Value, secretstore.Version, error) {
	return secret.Value{}, "", s.err
}

func (s failStore) Verify(context.Context, string, bool, secretstore.Versions) error { return s.err }

func (s failStore) Preflight(context.Context) error { return s.err }

// callAll calls every method of s once, Verify and Preflight included
// when s has them, and returns the ops it called.
func callAll(ctx context.Context, s rotation.SecretStore) []string {
	v := secretstore.Versions{Old: "1", Staged: "2", New: "2"}
	_, _ = s.Stage(ctx, "r1", canary.Second)
	_, _ = s.Adopt(ctx, "r1", "2")
	_, _ = s.Staged(ctx, "r1")
	_, _ = s.Promote(ctx, "r1", v)
	_, _ = s.Rollback(ctx, "r1", v)
	_ = s.Retire(ctx, "r1", v, secretstore.RetireDisable)
	_ = s.Discard(ctx, "r1", v)
	_, _ = s.Read(ctx, "1")
	_, _, _ = s.Current(ctx)
	ops := []string{"stage", "adopt", "staged", "promote", "rollback", "retire", "discard", "read", "current"}
	if dc, ok := s.(rotation.DriftChecker); ok {
		_ = dc.Verify(ctx, "r1", true, v)
		ops = append(ops, "verify")
	}
	if p, ok := s.(interface{ Preflight(context.Context) error }); ok {
		_ = p.Preflight(ctx)
		ops = append(ops, "preflight")
	}
	return ops
}

func TestInstrumentSecretStoreResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"success", nil, "ok"},
		{"conflict", secretstore.Errorf(secretstore.ErrConflict, "stage", "version 3 is pending for another rotation"), "conflict"},
		{"not found", secretstore.Errorf(secretstore.ErrNotFound, "retire", "version 1 was pruned"), "not_found"},
		{"access", secretstore.Errorf(secretstore.ErrAccess, "promote", "permission denied on secret/persium"), "access"},
		{"unavailable", secretstore.Errorf(secretstore.ErrUnavailable, "stage", "request timed out"), "unavailable"},
		{"invalid", secretstore.Errorf(secretstore.ErrInvalid, "preflight", "mount kv is KV version 1"), "invalid"},
		{"drift", secretstore.Errorf(secretstore.ErrDrift, "verify", "version 4 written by another tool"), "drift"},
		{"wrapped kind", fmt.Errorf("credential cred-a: %w", secretstore.Errorf(secretstore.ErrAccess, "read", "token expired")), "access"},
		{"no kind", errors.New("unexpected response from the backend"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := metrics.ResultLabel(tt.err); got != tt.want {
				t.Errorf("ResultLabel(%v) = %q, want %q", tt.err, got, tt.want)
			}

			f := setup(t, metrics.Options{})
			s := f.m.InstrumentSecretStore("vault-prod", failStore{err: tt.err})
			ops := callAll(context.Background(), s)
			if len(ops) != 11 {
				t.Fatalf("called %d ops %v, want 11: Verify or Preflight not passed through", len(ops), ops)
			}

			got := f.scrape(t)
			want := map[string]string{}
			for _, op := range ops {
				want[fmt.Sprintf(`rotor_backend_calls_total{backend="vault-prod",op="%s",result="%s"}`, op, tt.want)] = "1"
			}
			if diff := cmp.Diff(want, got.withPrefix("rotor_backend_calls_total{")); diff != "" {
				t.Errorf("rotor_backend_calls_total (-want +got):\n%s", diff)
			}
			for _, op := range ops {
				series := fmt.Sprintf(`rotor_backend_call_duration_seconds_count{backend="vault-prod",op="%s"}`, op)
				if v := got.value(series); v != "1" {
					t.Errorf("%s = %s, want 1", series, v)
				}
			}
		})
	}
}

// preflightOnly is a backend with Preflight and without Verify.
type preflightOnly struct{ rotation.SecretStore }

func (preflightOnly) Preflight(context.Context) error { return nil }

// plainStore hides every method but rotation.SecretStore's.
type plainStore struct{ rotation.SecretStore }

func TestInstrumentSecretStoreOptionalMethods(t *testing.T) {
	t.Parallel()
	backend := memory.New(canary.Value, secretstore.Format{})
	tests := []struct {
		name                string
		inner               rotation.SecretStore
		verify, preflight   bool
		wantOpsWithoutError int
	}{
		{"verify and preflight", failStore{}, true, true, 11},
		{"verify only (memory backend)", backend, true, false, 10},
		{"preflight only", preflightOnly{plainStore{backend}}, false, true, 10},
		{"neither", plainStore{backend}, false, false, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, metrics.Options{})
			s := f.m.InstrumentSecretStore("b", tt.inner)
			if _, ok := s.(rotation.DriftChecker); ok != tt.verify {
				t.Errorf("wrapper is a DriftChecker: %v, want %v", ok, tt.verify)
			}
			if _, ok := s.(interface{ Preflight(context.Context) error }); ok != tt.preflight {
				t.Errorf("wrapper has Preflight: %v, want %v", ok, tt.preflight)
			}
			if ops := callAll(context.Background(), s); len(ops) != tt.wantOpsWithoutError {
				t.Errorf("called %d ops %v, want %d", len(ops), ops, tt.wantOpsWithoutError)
			}
		})
	}
}

// tokenEndpoint accepts the secrets in accepted and rejects the others,
// like Persium's token endpoint with 200 or 401 invalid_client.
type tokenEndpoint struct{ accepted map[string]bool }

func (e tokenEndpoint) Check(_ context.Context, _ string, _ tokencheck.AuthMethod, s secret.Value) tokencheck.Result {
	if e.accepted[s.Reveal()] {
		return tokencheck.Result{Outcome: tokencheck.Accepted, Status: 200}
	}
	return tokencheck.Result{Outcome: tokencheck.Rejected, Status: 401, Detail: "401 invalid_client"}
}

func TestInstrumentSecretStoreInService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := storetest.NewClock()
	store := memstore.New(clock.Now)
	cred := storetest.Credential("cred-a")
	cred.MinDualActive = 0
	if err := store.SyncCredentials(ctx, []rotation.Credential{cred}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	backend := memory.New(canary.Value, secretstore.Format{JSONKey: "client_secret"})
	f := setup(t, metrics.Options{})
	svc := rotation.NewService(rotation.Options{
		Store:   store,
		Secrets: map[string]rotation.SecretStore{"cred-a": f.m.InstrumentSecretStore("memory", backend)},
		Checker: tokenEndpoint{accepted: map[string]bool{canary.Value.Reveal(): true, canary.Second.Reveal(): true}},
		Now:     clock.Now,
		Logger:  slog.New(slog.DiscardHandler),
	})

	r, err := svc.Request(ctx, "alice", "cred-a", rotation.RequestInput{Kind: rotation.KindManual, Reason: "quarterly"})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if _, err := svc.RecordIssued(ctx, "alice", r.ID, rotation.IssuedInput{Secret: canary.Second}); err != nil {
		t.Fatalf("RecordIssued: %v", err)
	}
	if _, err := svc.Promote(ctx, "bob", r.ID, ""); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	// Another tool stages a version during dual_active: the next check
	// finds drift, and the wrapper still passes Verify's error through.
	if _, err := backend.StageExternal(canary.Third); err != nil {
		t.Fatalf("StageExternal: %v", err)
	}
	if err := svc.CheckOpenRotations(ctx); err != nil {
		t.Fatalf("CheckOpenRotations: %v", err)
	}
	got, err := store.GetRotation(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRotation: %v", err)
	}
	if got.PausedAt.IsZero() {
		t.Errorf("rotation not paused after an outside change; the wrapper hid Verify's drift")
	}

	want := map[string]string{
		`rotor_backend_calls_total{backend="memory",op="stage",result="ok"}`:     "1",
		`rotor_backend_calls_total{backend="memory",op="promote",result="ok"}`:   "1",
		`rotor_backend_calls_total{backend="memory",op="verify",result="drift"}`: "1",
	}
	calls := f.scrape(t).withPrefix("rotor_backend_calls_total{")
	for series, v := range want {
		if calls[series] != v {
			t.Errorf("%s = %q, want %q; all calls: %v", series, calls[series], v, calls)
		}
	}
}
