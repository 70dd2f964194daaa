package rotation_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// The secrets of a rotation are the shared canaries, so the searches of
// the log (testlog.New) and of the database (pgtest) find them.
var (
	oldSecret = canary.Value
	newSecret = canary.Second
)

// endpoint plays Persium's token endpoint at the level of outcomes: which
// secrets it accepts, and an optional outcome forced for every check.
type endpoint struct {
	mu       sync.Mutex
	accepted map[string]bool
	forced   tokencheck.Outcome
	checks   int
}

func (e *endpoint) Check(ctx context.Context, clientID string, method tokencheck.AuthMethod, s secret.Value) tokencheck.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks++
	if e.forced != "" {
		return tokencheck.Result{Outcome: e.forced, Status: 502, Detail: "502 Bad Gateway (text/html)"}
	}
	if e.accepted[s.Reveal()] {
		return tokencheck.Result{Outcome: tokencheck.Accepted, Status: 200}
	}
	return tokencheck.Result{Outcome: tokencheck.Rejected, Status: 401, Detail: "401 invalid_client"}
}

func (e *endpoint) set(s secret.Value, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accepted[s.Reveal()] = ok
}

func (e *endpoint) force(o tokencheck.Outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forced = o
}

// flaky wraps a real secret store and fails chosen steps on demand.
type flaky struct {
	rotation.SecretStore
	mu   sync.Mutex
	fail map[string]error
}

func (f *flaky) failNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = err
}

func (f *flaky) take(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.fail[op]
	delete(f.fail, op)
	return err
}

func (f *flaky) Stage(ctx context.Context, id string, v secret.Value) (secretstore.Versions, error) {
	if err := f.take("stage"); err != nil {
		return secretstore.Versions{}, err
	}
	return f.SecretStore.Stage(ctx, id, v)
}

// Verify passes through, so the wrapper stays a rotation.DriftChecker.
func (f *flaky) Verify(ctx context.Context, id string, promoted bool, v secretstore.Versions) error {
	return f.SecretStore.(rotation.DriftChecker).Verify(ctx, id, promoted, v)
}

func (f *flaky) Retire(ctx context.Context, id string, v secretstore.Versions, m secretstore.RetireMode) error {
	if err := f.take("retire"); err != nil {
		return err
	}
	return f.SecretStore.Retire(ctx, id, v, m)
}

type fixture struct {
	ctx     context.Context
	svc     *rotation.Service
	store   rotation.Store
	backend *memory.Store
	flaky   *flaky
	token   *endpoint
	clock   *storetest.Clock
}

var stores = map[string]func(t *testing.T, now func() time.Time) rotation.Store{
	"memory":   func(t *testing.T, now func() time.Time) rotation.Store { return memstore.New(now) },
	"postgres": func(t *testing.T, now func() time.Time) rotation.Store { return pgstore.New(pgtest.NewPool(t), now) },
}

// forEachStore runs test once on each rotation store.
func forEachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, newStore))
		})
	}
}

func setup(t *testing.T, newStore func(t *testing.T, now func() time.Time) rotation.Store) *fixture {
	t.Helper()
	clock := storetest.NewClock()
	store := newStore(t, clock.Now)
	ctx := context.Background()
	if err := store.SyncCredentials(ctx, []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	backend := memory.New(oldSecret, secretstore.Format{JSONKey: "client_secret"})
	fl := &flaky{SecretStore: backend, fail: map[string]error{}}
	token := &endpoint{accepted: map[string]bool{oldSecret.Reveal(): true}}
	svc := rotation.NewService(rotation.Options{
		Store:   store,
		Secrets: map[string]rotation.SecretStore{"cred-a": fl},
		Checker: token,
		Now:     clock.Now,
		Logger:  slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, testlog.New(t)), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return &fixture{ctx: ctx, svc: svc, store: store, backend: backend, flaky: fl, token: token, clock: clock}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// persiumIssues simulates Persium issuing the new secret: both work.
func (f *fixture) persiumIssues() { f.token.set(newSecret, true) }

// persiumRetires simulates Persium retiring the old secret.
func (f *fixture) persiumRetires() { f.token.set(oldSecret, false) }

func (f *fixture) request(t *testing.T) rotation.Rotation {
	t.Helper()
	r, err := f.svc.Request(f.ctx, "alice", "cred-a", rotation.RequestInput{Kind: rotation.KindManual, Reason: "quarterly", Ticket: "PER-42"})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	return r
}

func (f *fixture) toDualActive(t *testing.T) rotation.Rotation {
	t.Helper()
	r := f.request(t)
	f.persiumIssues()
	if _, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
		t.Fatalf("RecordIssued: %v", err)
	}
	r, err := f.svc.Promote(f.ctx, "bob", r.ID, "")
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	return r
}

func (f *fixture) current(t *testing.T) secret.Value {
	t.Helper()
	v, _, err := f.backend.Current(f.ctx)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return v
}

func (f *fixture) actions(t *testing.T, id string) []string {
	t.Helper()
	events, err := f.store.ListEvents(f.ctx, id)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	var out []string
	for _, e := range events {
		out = append(out, string(e.Action)+":"+string(e.To))
	}
	return out
}

func wantCode(t *testing.T, err error, kind error, code string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
	e, ok := rotation.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("err = %v, want code %q", err, code)
	}
}

func TestServiceFullRotation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)
		if r.State != rotation.StateRequested || r.RequestedBy != "alice" || r.Ticket != "PER-42" {
			t.Fatalf("after request: %+v", r)
		}

		f.persiumIssues()
		issued, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret})
		if err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}
		r = issued.Rotation
		if r.State != rotation.StateNewIssued || r.Versions.Staged == "" || r.Versions.Old == "" {
			t.Fatalf("after issued: state %s, versions %+v", r.State, r.Versions)
		}
		if issued.CurrentRejected {
			t.Errorf("CurrentRejected while the token endpoint still accepts the current secret")
		}
		if !f.current(t).Equal(oldSecret) {
			t.Errorf("consumers read the new secret before promotion")
		}

		r, err = f.svc.Promote(f.ctx, "bob", r.ID, "")
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}
		if r.State != rotation.StateDualActive || r.Versions.New == "" {
			t.Fatalf("after promote: state %s, versions %+v", r.State, r.Versions)
		}
		if !f.current(t).Equal(newSecret) {
			t.Errorf("consumers do not read the new secret after promotion")
		}
		if old, err := f.backend.Read(f.ctx, r.Versions.Old); err != nil || !old.Equal(oldSecret) {
			t.Errorf("old version unreadable during dual_active: %v", err)
		}

		f.clock.Advance(2 * time.Hour)
		f.persiumRetires()
		r, err = f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true})
		if err != nil {
			t.Fatalf("Retire: %v", err)
		}
		if r.State != rotation.StateOldRetired {
			t.Fatalf("after retire: state %s", r.State)
		}
		if _, err := f.backend.Read(f.ctx, r.Versions.Old); !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("old version readable after retirement: err = %v, want ErrNotFound", err)
		}

		want := []string{"request:requested", "issue:new_issued", "promote:dual_active", "retire:old_retired"}
		if diff := cmp.Diff(want, f.actions(t, r.ID)); diff != "" {
			t.Errorf("audit events (-want +got):\n%s", diff)
		}
		cred, err := f.store.GetCredential(f.ctx, "cred-a")
		if err != nil {
			t.Fatalf("GetCredential: %v", err)
		}
		if want := f.clock.Now().Add(90 * 24 * time.Hour); !cred.NextDueAt().Equal(want) {
			t.Errorf("next due = %v, want %v", cred.NextDueAt(), want)
		}
	})
}

func TestServiceSecondOpenRotation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		first := f.request(t)
		_, err := f.svc.Request(f.ctx, "bob", "cred-a", rotation.RequestInput{})
		wantCode(t, err, rotation.ErrConflict, "open_rotation")
		if !strings.Contains(err.Error(), first.ID) {
			t.Errorf("error %q does not name the open rotation %s", err, first.ID)
		}
	})
}

func TestServiceConcurrentPromote(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)
		f.persiumIssues()
		if _, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}

		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = f.svc.Promote(f.ctx, "op", r.ID, "") })
		}
		wg.Wait()

		var wins, conflicts int
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, rotation.ErrConflict):
				conflicts++
			default:
				t.Errorf("Promote: unexpected error %v", err)
			}
		}
		if wins != 1 || conflicts != 1 {
			t.Errorf("concurrent promotes: %d won, %d conflicts; want 1 and 1", wins, conflicts)
		}
		promotes := 0
		for _, a := range f.actions(t, r.ID) {
			if a == "promote:dual_active" {
				promotes++
			}
		}
		if promotes != 1 {
			t.Errorf("promote events: %d, want 1", promotes)
		}
	})
}

func TestServiceIssuedGates(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)

		t.Run("rejected secret", func(t *testing.T) {
			_, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret})
			wantCode(t, err, rotation.ErrRejected, "secret_rejected")
		})
		t.Run("current secret", func(t *testing.T) {
			_, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: oldSecret})
			wantCode(t, err, rotation.ErrInvalid, "secret_unchanged")
		})
		for name, s := range map[string]string{
			"leading space":  " " + newSecret.Reveal(),
			"trailing break": newSecret.Reveal() + "\n",
			"empty":          "",
			"too long":       strings.Repeat("x", rotation.MaxSecretBytes+1),
			"control":        "abc\x07def",
			"invalid utf8":   "abc\xffdef",
		} {
			t.Run(name, func(t *testing.T) {
				_, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: secret.New(s)})
				wantCode(t, err, rotation.ErrInvalid, "invalid_secret")
				if s != "" && strings.Contains(err.Error(), strings.TrimSpace(s)) {
					t.Errorf("error quotes the secret: %v", err)
				}
			})
		}
		t.Run("inconclusive without reason", func(t *testing.T) {
			f.token.force(tokencheck.Inconclusive)
			defer f.token.force("")
			_, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret})
			wantCode(t, err, rotation.ErrInconclusive, "check_inconclusive")
		})

		got, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if got.State != rotation.StateRequested || got.Version != r.Version {
			t.Errorf("after refused submissions: state %s version %d, want requested %d", got.State, got.Version, r.Version)
		}
		if n := len(f.backend.Versions()); n != 1 {
			t.Errorf("backend holds %d versions after refused submissions, want 1", n)
		}

		t.Run("inconclusive with reason", func(t *testing.T) {
			f.token.force(tokencheck.Inconclusive)
			defer f.token.force("")
			got, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret, Reason: "token endpoint down, secret read back from Persium's portal"})
			if err != nil {
				t.Fatalf("RecordIssued with a reason: %v", err)
			}
			if got.State != rotation.StateNewIssued {
				t.Errorf("state %s, want new_issued", got.State)
			}
			events, _ := f.store.ListEvents(f.ctx, r.ID)
			last := events[len(events)-1]
			if !strings.Contains(last.Reason, "token endpoint down") || !strings.Contains(last.Detail, "inconclusive") {
				t.Errorf("issue event reason %q, detail %q: want the reason and the inconclusive outcome", last.Reason, last.Detail)
			}
		})
	})
}

// A store write that fails right after the operator submits leaves the rotation requested, and the secret can be submitted again.
func TestServiceStageFailure(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)
		f.persiumIssues()
		f.flaky.failNext("stage", secretstore.Errorf(secretstore.ErrAccess, "stage", "permission denied on persium/cred-a"))

		_, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret})
		wantCode(t, err, rotation.ErrUnavailable, "backend_access_denied")
		if !strings.Contains(err.Error(), "not stored") {
			t.Errorf("error %q does not say the secret was not stored", err)
		}
		got, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if got.State != rotation.StateRequested || got.Step != rotation.StepNone {
			t.Errorf("after failed stage: state %s step %q, want requested and none", got.State, got.Step)
		}
		if diff := cmp.Diff([]string{"request:requested", "step_failed:requested"}, f.actions(t, r.ID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}

		if _, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
			t.Fatalf("second submission: %v", err)
		}
	})
}

// A retire whose backend call fails keeps the rotation
// dual_active with the old version recorded, and can be repeated.
func TestServiceRetireFailure(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.toDualActive(t)
		f.clock.Advance(2 * time.Hour)
		f.persiumRetires()
		f.flaky.failNext("retire", secretstore.Errorf(secretstore.ErrUnavailable, "retire", "timed out"))

		_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true})
		wantCode(t, err, rotation.ErrUnavailable, "backend_unavailable")
		got, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if got.State != rotation.StateDualActive || got.Versions.Old != r.Versions.Old {
			t.Errorf("after failed retire: state %s, old version %q; want dual_active, %q", got.State, got.Versions.Old, r.Versions.Old)
		}

		if _, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true}); err != nil {
			t.Fatalf("repeated Retire: %v", err)
		}
	})
}

func TestServiceRetireGates(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.toDualActive(t)

		t.Run("not confirmed", func(t *testing.T) {
			_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{})
			wantCode(t, err, rotation.ErrInvalid, "not_confirmed")
		})
		// Retire is not offered before the minimum time in dual_active.
		t.Run("too early", func(t *testing.T) {
			_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true})
			wantCode(t, err, rotation.ErrConflict, "too_early")
		})
		f.clock.Advance(2 * time.Hour)
		// Persium reports the old secret retired, but the endpoint still
		// accepts it.
		t.Run("old secret still accepted", func(t *testing.T) {
			_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true, Reason: "urgent"})
			wantCode(t, err, rotation.ErrConflict, "old_secret_still_accepted")
			if !strings.Contains(err.Error(), "still accepts the old secret") {
				t.Errorf("error %q does not say the old secret is still accepted", err)
			}
		})
		t.Run("both rejected", func(t *testing.T) {
			f.persiumRetires()
			f.token.set(newSecret, false)
			defer f.token.set(newSecret, true)
			_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true})
			wantCode(t, err, rotation.ErrRejected, "new_secret_rejected")
		})
		t.Run("inconclusive", func(t *testing.T) {
			f.token.force(tokencheck.Inconclusive)
			defer f.token.force("")
			_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true})
			wantCode(t, err, rotation.ErrInconclusive, "check_inconclusive")
		})

		got, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if got.State != rotation.StateDualActive {
			t.Fatalf("after refused retirements: state %s, want dual_active", got.State)
		}
	})
}

// Retiring before the minimum time needs a reason, and the
// reason is in the audit event.
func TestServiceEarlyRetireWithReason(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.toDualActive(t)
		f.clock.Advance(10 * time.Minute)
		f.persiumRetires()

		r, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true, Reason: "all consumers restarted"})
		if err != nil {
			t.Fatalf("Retire with a reason: %v", err)
		}
		events, err := f.store.ListEvents(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		last := events[len(events)-1]
		if last.Reason != "all consumers restarted" || !strings.Contains(last.Detail, "before the minimum time") {
			t.Errorf("retire event: reason %q, detail %q", last.Reason, last.Detail)
		}
	})
}

func TestServiceRollbackAndCancel(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.toDualActive(t)

		r, err := f.svc.Rollback(f.ctx, "bob", r.ID, "consumer errors")
		if err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if r.State != rotation.StateNewIssued || !f.current(t).Equal(oldSecret) {
			t.Errorf("after rollback: state %s, current is old: %v", r.State, f.current(t).Equal(oldSecret))
		}

		_, err = f.svc.Cancel(f.ctx, "bob", r.ID, "")
		wantCode(t, err, rotation.ErrInvalid, "reason_required")

		r, err = f.svc.Cancel(f.ctx, "bob", r.ID, "Persium reissued under a new ticket")
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if r.State != rotation.StateCancelled || !f.current(t).Equal(oldSecret) {
			t.Errorf("after cancel: state %s", r.State)
		}
		for _, v := range f.backend.Versions() {
			if v.Pending {
				t.Errorf("version %s still staged after cancel", v.Version)
			}
		}
		want := []string{"request:requested", "issue:new_issued", "promote:dual_active", "rollback:new_issued", "cancel:cancelled"}
		if diff := cmp.Diff(want, f.actions(t, r.ID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		_, err = f.svc.Promote(f.ctx, "bob", r.ID, "")
		wantCode(t, err, rotation.ErrConflict, "wrong_state")
	})
}

func TestServiceInvalidInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		_, err := f.svc.Request(f.ctx, "alice", "cred-a", rotation.RequestInput{Kind: "weekly"})
		wantCode(t, err, rotation.ErrInvalid, "invalid_kind")
		_, err = f.svc.Request(f.ctx, "alice", "cred-a", rotation.RequestInput{Ticket: "PER\x001"})
		wantCode(t, err, rotation.ErrInvalid, "invalid_ticket")
		_, err = f.svc.Request(f.ctx, "alice", "cred-a", rotation.RequestInput{Reason: strings.Repeat("r", rotation.MaxReasonBytes+1)})
		wantCode(t, err, rotation.ErrInvalid, "invalid_reason")
		_, err = f.svc.Request(f.ctx, "alice", "nope", rotation.RequestInput{})
		wantCode(t, err, rotation.ErrNotFound, "not_found")
		_, err = f.svc.Promote(f.ctx, "alice", "00000000-0000-0000-0000-000000000000", "")
		wantCode(t, err, rotation.ErrNotFound, "not_found")
	})
}

// After a crash between a step's intent and its completion, Recover
// finishes what the secrets manager shows was done and reports the rest.
func TestServiceRecover(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		intend := func(r rotation.Rotation, s rotation.Step) rotation.Rotation {
			t.Helper()
			r, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, NewStep: s, StepBy: "alice", StepReason: "why"})
			if err != nil {
				t.Fatalf("intend %s: %v", s, err)
			}
			return r
		}

		// The stage reached the backend and its response was lost, then
		// rotor died.
		r := f.request(t)
		r = intend(r, rotation.StepStage)
		if _, err := f.backend.Stage(f.ctx, r.ID, newSecret); err != nil {
			t.Fatalf("Stage: %v", err)
		}
		if err := f.svc.Recover(f.ctx); err != nil {
			t.Fatalf("Recover: %v", err)
		}
		r, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if r.State != rotation.StateNewIssued || r.Step != rotation.StepNone {
			t.Fatalf("recovered stage: state %s step %q, want new_issued", r.State, r.Step)
		}
		staged := 0
		for _, v := range f.backend.Versions() {
			if v.Pending {
				staged++
			}
		}
		if staged != 1 {
			t.Errorf("staged versions after recovery: %d, want 1", staged)
		}

		// The promote's write happened, its completion was lost.
		r = intend(r, rotation.StepPromote)
		if _, err := f.backend.Promote(f.ctx, r.ID, r.Versions); err != nil {
			t.Fatalf("Promote: %v", err)
		}
		if err := f.svc.Recover(f.ctx); err != nil {
			t.Fatalf("Recover: %v", err)
		}
		r, err = f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if r.State != rotation.StateDualActive || !f.current(t).Equal(newSecret) {
			t.Fatalf("recovered promote: state %s", r.State)
		}
		events, _ := f.store.ListEvents(f.ctx, r.ID)
		if last := events[len(events)-1]; last.Actor != "alice" || !strings.Contains(last.Detail, "after a restart") {
			t.Errorf("recovered promote event: actor %q detail %q", last.Actor, last.Detail)
		}
	})
}

// A stage that never reached the backend is reported, and the rotation
// waits for the secret again.
func TestServiceRecoverLostStage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)
		r, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, NewStep: rotation.StepStage, StepBy: "alice"})
		if err != nil {
			t.Fatalf("intend stage: %v", err)
		}
		if err := f.svc.Recover(f.ctx); err != nil {
			t.Fatalf("Recover: %v", err)
		}
		r, err = f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if r.State != rotation.StateRequested || r.Step != rotation.StepNone {
			t.Errorf("after recovering a lost stage: state %s step %q, want requested and none", r.State, r.Step)
		}
		events, _ := f.store.ListEvents(f.ctx, r.ID)
		if last := events[len(events)-1]; last.Action != rotation.ActionStepFailed || !strings.Contains(last.Detail, "submit it again") {
			t.Errorf("last event %+v, want a step_failed asking to submit again", last)
		}
	})
}

// Persium dropped the current secret (a second issue, or an early
// retirement) before the new one was recorded. Staging goes on, and the
// result and the audit event warn that consumers fail until promotion.
func TestServiceIssuedWhileCurrentRejected(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)
		f.persiumIssues()
		f.persiumRetires()

		issued, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret})
		if err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}
		if !issued.CurrentRejected || issued.State != rotation.StateNewIssued {
			t.Errorf("RecordIssued: CurrentRejected %v, state %s; want true, new_issued", issued.CurrentRejected, issued.State)
		}
		events, err := f.store.ListEvents(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if last := events[len(events)-1]; !strings.Contains(last.Detail, "already rejects the current secret") {
			t.Errorf("issue event detail %q does not warn that the current secret is rejected", last.Detail)
		}
	})
}

// A version that another tool writes while both secrets are live pauses
// the rotation. Retire is rejected, the audit log records why, and an
// operator resumes with a reason to accept the change.
func TestServiceDriftPausesRotation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.toDualActive(t)
		f.clock.Advance(2 * time.Hour)
		f.persiumRetires()
		if _, err := f.backend.Write(secret.New("written-by-someone-else")); err != nil {
			t.Fatalf("foreign Write: %v", err)
		}

		_, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true})
		wantCode(t, err, rotation.ErrConflict, "paused")
		paused, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if paused.PausedAt.IsZero() || paused.State != rotation.StateDualActive {
			t.Fatalf("after the foreign write: paused %v, state %s; want paused in dual_active", paused.PausedAt, paused.State)
		}
		if got := rotation.Next(paused, storetest.Credential("cred-a"), f.clock.Now()).Action; got != "resume" {
			t.Errorf("next action of a paused rotation = %q, want resume", got)
		}
		_, err = f.svc.Promote(f.ctx, "carol", r.ID, "")
		wantCode(t, err, rotation.ErrConflict, "wrong_state")
		_, err = f.svc.Rollback(f.ctx, "carol", r.ID, "undo")
		wantCode(t, err, rotation.ErrConflict, "paused")

		_, err = f.svc.Resume(f.ctx, "carol", r.ID, "")
		wantCode(t, err, rotation.ErrConflict, "still_changed")
		resumed, err := f.svc.Resume(f.ctx, "carol", r.ID, "the deploy pipeline rewrote the secret; it holds the new value")
		if err != nil {
			t.Fatalf("Resume with a reason: %v", err)
		}
		if !resumed.PausedAt.IsZero() || resumed.DriftAccepted == "" {
			t.Errorf("after resume: paused %v, accepted %q", resumed.PausedAt, resumed.DriftAccepted)
		}

		// The accepted change does not pause the rotation again.
		if err := f.svc.CheckOpenRotations(f.ctx); err != nil {
			t.Fatalf("CheckOpenRotations: %v", err)
		}
		again, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if !again.PausedAt.IsZero() {
			t.Errorf("the accepted change paused the rotation again")
		}

		var actions []string
		for _, a := range f.actions(t, r.ID) {
			if strings.HasPrefix(a, "paused") || strings.HasPrefix(a, "resumed") {
				actions = append(actions, a)
			}
		}
		if diff := cmp.Diff([]string{"paused:dual_active", "resumed:dual_active"}, actions); diff != "" {
			t.Errorf("pause events (-want +got):\n%s", diff)
		}
	})
}

// The watch finds a change while no operator acts on the rotation.
func TestServiceWatchPausesOnForeignWrite(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := f.request(t)
		f.persiumIssues()
		if _, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}
		if err := f.svc.CheckOpenRotations(f.ctx); err != nil {
			t.Fatalf("CheckOpenRotations with nothing changed: %v", err)
		}
		if got, _ := f.store.GetRotation(f.ctx, r.ID); !got.PausedAt.IsZero() {
			t.Fatalf("a rotation was paused although nothing changed")
		}

		if _, err := f.backend.Write(secret.New("written-by-someone-else")); err != nil {
			t.Fatalf("foreign Write: %v", err)
		}
		if err := f.svc.CheckOpenRotations(f.ctx); err != nil {
			t.Fatalf("CheckOpenRotations: %v", err)
		}
		got, err := f.store.GetRotation(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		if got.PausedAt.IsZero() || got.PauseReason == "" {
			t.Errorf("the watch did not pause the rotation after a foreign write")
		}

		// Cancelling stays possible: it removes only rotor's own stage.
		if _, err := f.svc.Cancel(f.ctx, "alice", r.ID, "someone else rotated the secret"); err != nil {
			t.Errorf("Cancel of a paused rotation: %v", err)
		}
	})
}

func TestWatchStopsCleanly(t *testing.T) {
	t.Parallel()
	f := setup(t, stores["memory"])
	w := &rotation.Watch{Service: f.svc, Interval: time.Millisecond}
	w.Stop() // before Start: no effect
	w.Start(context.Background())
	w.Stop()
	w.Stop()
}

// Outside the credential's low-traffic window, promote and retire need a
// reason, and the audit event records that the step went ahead outside it.
func TestServiceLowTrafficWindow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		cred := storetest.Credential("cred-a")
		cred.Window = "Tue 02:00-04:00 UTC" // the test clock starts on a Sunday
		if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{cred}); err != nil {
			t.Fatalf("SyncCredentials: %v", err)
		}
		r := f.request(t)
		f.persiumIssues()
		if _, err := f.svc.RecordIssued(f.ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}

		_, err := f.svc.Promote(f.ctx, "bob", r.ID, "")
		wantCode(t, err, rotation.ErrConflict, "outside_window")
		if !strings.Contains(err.Error(), "2026-03-03 02:00 UTC") {
			t.Errorf("error %q does not name the next window's start", err)
		}
		if _, err := f.svc.Promote(f.ctx, "bob", r.ID, "incident bridge approved an early cutover"); err != nil {
			t.Fatalf("Promote with a reason: %v", err)
		}
		events, err := f.store.ListEvents(f.ctx, r.ID)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if last := events[len(events)-1]; !strings.Contains(last.Detail, "outside the low-traffic window") {
			t.Errorf("promote event detail %q does not record the window", last.Detail)
		}

		// Inside the window no reason is needed.
		f.clock.Advance(2*24*time.Hour - 9*time.Hour) // Tuesday 00:30
		f.clock.Advance(2 * time.Hour)                // Tuesday 02:30
		f.persiumRetires()
		if _, err := f.svc.Retire(f.ctx, "carol", r.ID, rotation.RetireInput{PersiumConfirmed: true}); err != nil {
			t.Fatalf("Retire inside the window: %v", err)
		}
	})
}
