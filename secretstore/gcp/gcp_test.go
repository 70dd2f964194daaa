package gcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/gcp"
	"github.com/rotorhq/rotor/secretstore/gcp/gcpfake"
	"github.com/rotorhq/rotor/secretstore/storetest"
)

var _ rotation.SecretStore = (*gcp.Store)(nil)

const (
	projectID  = "rotor-test"
	secretID   = "persium-cred-a"
	secretName = "projects/" + projectID + "/secrets/" + secretID
	rotationA  = "rotation-a"
)

var (
	// The secrets are the shared canaries, so that the searches of errors
	// and logs find them in any form.
	oldSecret = canary.Value
	newSecret = canary.Second

	jsonFormat = secretstore.Format{JSONKey: "client_secret"}

	// baseDocument is a stored JSON document whose spacing, key order and
	// number format must survive every write.
	baseDocument = []byte(`{"client_id": "client-a",  "client_secret":"placeholder", "token_url":"https://id.persium.example/realms/a/protocol/openid-connect/token","timeout":1.50}`)
)

// harness is a gcp.Store on a fresh fake Secret Manager, and the storetest
// hooks.
type harness struct {
	t      *testing.T
	fake   *gcpfake.Server
	client *secretmanager.Client
	store  *gcp.Store
	format secretstore.Format
	logs   *testlog.Buffer
}

// setup starts a fake whose secret has one version holding initial, under
// the current alias, and the label team=payments.
func setup(t *testing.T, initial secret.Value, format secretstore.Format) *harness {
	t.Helper()
	fake := gcpfake.New(t)
	if err := fake.Create(secretName, gcpfake.Meta{Labels: map[string]string{"team": "payments"}}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	h := &harness{t: t, fake: fake, client: fake.Client(t), format: format, logs: testlog.New(t)}
	n := h.addVersion(initial)
	if err := fake.SetAlias(secretName, gcp.AliasCurrent, n); err != nil {
		t.Fatalf("set current alias: %v", err)
	}
	h.store = h.newStore()
	return h
}

func (h *harness) newStore() *gcp.Store {
	h.t.Helper()
	store, err := gcp.New(h.client, gcp.Config{
		Project:   projectID,
		Secret:    secretID,
		Format:    h.format,
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetryWait: time.Millisecond,
	})
	if err != nil {
		h.t.Fatalf("gcp.New: %v", err)
	}
	return store
}

// document returns the payload that holds value, built on the current
// version's payload, or on baseDocument when there is none.
func (h *harness) document(value secret.Value) []byte {
	h.t.Helper()
	base := baseDocument
	if sec, ok := h.fake.Secret(secretName); ok {
		if n, ok := sec.Aliases[gcp.AliasCurrent]; ok {
			base = sec.Versions[n].Data
		}
	}
	if h.format.JSONKey == "" {
		base = nil
	}
	doc, err := h.format.Encode(base, value)
	if err != nil {
		h.t.Fatalf("encode: %v", err)
	}
	return doc
}

// addVersion adds a version holding value, as another tool would, and
// returns its number.
func (h *harness) addVersion(value secret.Value) int64 {
	h.t.Helper()
	n, err := h.fake.AddVersion(secretName, h.document(value))
	if err != nil {
		h.t.Fatalf("add version: %v", err)
	}
	return n
}

func (h *harness) Store() rotation.SecretStore { return h.store }

func (h *harness) Versions(context.Context) ([]storetest.StoredVersion, error) {
	sec, ok := h.fake.Secret(secretName)
	if !ok {
		return nil, fmt.Errorf("secret %s is missing", secretName)
	}
	var out []storetest.StoredVersion
	for n, v := range sec.Versions {
		sv := storetest.StoredVersion{Version: secretstore.Version(strconv.FormatInt(n, 10))}
		switch v.State {
		case secretmanagerpb.SecretVersion_ENABLED:
			sv.State = storetest.Enabled
		case secretmanagerpb.SecretVersion_DISABLED:
			sv.State = storetest.Disabled
		default:
			sv.State = storetest.Destroyed
		}
		if v.Data != nil {
			if value, err := h.format.Decode(v.Data); err == nil {
				sv.Value = value
			}
		}
		out = append(out, sv)
	}
	return out, nil
}

func (h *harness) Write(_ context.Context, value secret.Value) error {
	n, err := h.fake.AddVersion(secretName, h.document(value))
	if err != nil {
		return err
	}
	return h.fake.SetAlias(secretName, gcp.AliasCurrent, n)
}

func (h *harness) StageExternal(_ context.Context, value secret.Value) (secretstore.Version, error) {
	n, err := h.fake.AddVersion(secretName, h.document(value))
	if err != nil {
		return "", err
	}
	return secretstore.Version(strconv.FormatInt(n, 10)), h.fake.SetAlias(secretName, gcp.AliasPending, n)
}

func (h *harness) Prune(_ context.Context, version secretstore.Version) error {
	n, err := strconv.ParseInt(string(version), 10, 64)
	if err != nil {
		return fmt.Errorf("version %q is not a number", version)
	}
	return h.fake.RemoveVersion(secretName, n)
}

// The optional storetest interfaces.
var (
	_ storetest.FaultInjector  = (*harness)(nil)
	_ storetest.DocumentWriter = (*harness)(nil)
	_ storetest.MissingSecret  = (*harness)(nil)
)

func (h *harness) SecretName() string { return secretName }

// Deny makes every following call of kind op fail with PERMISSION_DENIED.
func (h *harness) Deny(op storetest.Op) {
	h.fake.Inject(gcpfake.Fault{Methods: methodsOf(op), Count: 1 << 30, Code: codes.PermissionDenied})
}

// Throttle makes the next n calls of kind op fail with RESOURCE_EXHAUSTED,
// the status Secret Manager returns when a quota is used up.
func (h *harness) Throttle(op storetest.Op, n int) {
	h.fake.Inject(gcpfake.Fault{Methods: methodsOf(op), Count: n, Code: codes.ResourceExhausted})
}

func (h *harness) PendingFaults() int { return h.fake.PendingFaults() }

func methodsOf(op storetest.Op) []string {
	if op == storetest.Read {
		return gcpfake.ReadMethods
	}
	return gcpfake.WriteMethods
}

func (h *harness) Format() secretstore.Format { return h.format }

func (h *harness) WriteDocument(_ context.Context, doc []byte) error {
	n, err := h.fake.AddVersion(secretName, doc)
	if err != nil {
		return err
	}
	return h.fake.SetAlias(secretName, gcp.AliasCurrent, n)
}

func (h *harness) MissingStore(t *testing.T) (rotation.SecretStore, string) {
	t.Helper()
	store, err := gcp.New(h.client, gcp.Config{Project: projectID, Secret: "missing", Format: h.format, RetryWait: time.Millisecond})
	if err != nil {
		t.Fatalf("gcp.New: %v", err)
	}
	return store, "projects/" + projectID + "/secrets/missing"
}

func TestConformance(t *testing.T) {
	t.Parallel()
	formats := map[string]secretstore.Format{"plain": {}, "json": jsonFormat}
	for name, format := range formats {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, initial secret.Value) storetest.Harness {
				return setup(t, initial, format)
			})
		})
	}
}

// secretState returns the stored secret.
func (h *harness) secretState() gcpfake.Secret {
	h.t.Helper()
	sec, ok := h.fake.Secret(secretName)
	if !ok {
		h.t.Fatalf("secret %s is missing", secretName)
	}
	return sec
}

// valueOf returns the secret held in version n, zero when it has none.
func (h *harness) valueOf(sec gcpfake.Secret, n int64) secret.Value {
	v, ok := sec.Versions[n]
	if !ok || v.Data == nil {
		return secret.Value{}
	}
	value, err := h.format.Decode(v.Data)
	if err != nil {
		return secret.Value{}
	}
	return value
}

// countHolding returns how many versions hold value.
func (h *harness) countHolding(value secret.Value) int {
	sec := h.secretState()
	count := 0
	for n := range sec.Versions {
		if h.valueOf(sec, n).Equal(value) {
			count++
		}
	}
	return count
}

func (h *harness) stage(t *testing.T) secretstore.Versions {
	t.Helper()
	v, err := h.store.Stage(t.Context(), rotationA, newSecret)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	return v
}

func (h *harness) stageAndPromote(t *testing.T) secretstore.Versions {
	t.Helper()
	v, err := h.store.Promote(t.Context(), rotationA, h.stage(t))
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	return v
}

// wantKind fails the test unless err is of kind, and checks that its
// message holds neither secret nor text from the server.
func wantKind(t *testing.T, err, kind error, call string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want kind %q", call, err, kind)
	}
	noSecretIn(t, err, call)
}

func noSecretIn(t *testing.T, err error, call string) {
	t.Helper()
	msg := err.Error()
	canary.Check(t, call+": the error message", msg)
	if strings.Contains(msg, "injected") || strings.Contains(msg, "payload") && strings.Contains(msg, "data:") {
		t.Errorf("%s: error message %q contains text from the server's response", call, msg)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	client := gcpfake.New(t).Client(t)
	tests := []struct {
		name   string
		client *secretmanager.Client
		cfg    gcp.Config
	}{
		{"no client", nil, gcp.Config{Project: projectID, Secret: secretID}},
		{"no project", client, gcp.Config{Secret: secretID}},
		{"secret ID with a slash", client, gcp.Config{Project: projectID, Secret: "a/b"}},
		{"regional secret", client, gcp.Config{Secret: "projects/p/locations/europe-west1/secrets/s"}},
		{"full name in another project", client, gcp.Config{Project: "other", Secret: secretName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := gcp.New(tt.client, tt.cfg)
			wantKind(t, err, secretstore.ErrInvalid, "New")
		})
	}

	t.Run("full name without project", func(t *testing.T) {
		t.Parallel()
		store, err := gcp.New(client, gcp.Config{Secret: secretName})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if got := store.Name(); got != secretName {
			t.Errorf("Name() = %q, want %q", got, secretName)
		}
	})
}

func TestPreflight(t *testing.T) {
	t.Parallel()

	t.Run("secret with current alias passes", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		if err := h.store.Preflight(t.Context()); err != nil {
			t.Errorf("Preflight: %v", err)
		}
	})

	t.Run("expiring secret is rejected", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		_, err := h.client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
			Secret:     &secretmanagerpb.Secret{Name: secretName, Expiration: &secretmanagerpb.Secret_Ttl{Ttl: durationpbHours(24 * 30)}},
			UpdateMask: fieldMask("ttl"),
		})
		if err != nil {
			t.Fatalf("set ttl: %v", err)
		}

		err = h.store.Preflight(t.Context())

		wantKind(t, err, secretstore.ErrInvalid, "Preflight of an expiring secret")
		if !strings.Contains(err.Error(), "expires at") || !strings.Contains(err.Error(), "--remove-expiration") {
			t.Errorf("Preflight error = %q, want it to say when the secret expires and how to remove that", err)
		}
	})

	t.Run("missing current alias says how to set it", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		if err := h.fake.SetAlias(secretName, gcp.AliasCurrent, 0); err != nil {
			t.Fatalf("remove alias: %v", err)
		}

		err := h.store.Preflight(t.Context())

		wantKind(t, err, secretstore.ErrInvalid, "Preflight without the current alias")
		if !strings.Contains(err.Error(), "--update-version-aliases=current=") {
			t.Errorf("Preflight error = %q, want the gcloud command that sets the alias", err)
		}
	})

	t.Run("missing secret is not found", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		store, err := gcp.New(h.client, gcp.Config{Project: projectID, Secret: "missing"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		wantKind(t, store.Preflight(t.Context()), secretstore.ErrNotFound, "Preflight of a missing secret")
	})

	t.Run("missing JSON key is invalid", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		store, err := gcp.New(h.client, gcp.Config{Project: projectID, Secret: secretID, Format: secretstore.Format{JSONKey: "secret"}})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		wantKind(t, store.Preflight(t.Context()), secretstore.ErrInvalid, "Preflight with a missing JSON key")
	})

	t.Run("disabled current version conflicts", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		if err := h.fake.SetVersionState(secretName, 1, secretmanagerpb.SecretVersion_DISABLED); err != nil {
			t.Fatalf("disable: %v", err)
		}
		wantKind(t, h.store.Preflight(t.Context()), secretstore.ErrConflict, "Preflight with a disabled current version")
	})

	t.Run("permission denied is an access error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		h.fake.FailNext("GetSecret", 1, codes.PermissionDenied, false)
		wantKind(t, h.store.Preflight(t.Context()), secretstore.ErrAccess, "Preflight without permission")
	})

	t.Run("latest other than current is logged", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		h.addVersion(newSecret)
		if err := h.store.Preflight(t.Context()); err != nil {
			t.Fatalf("Preflight: %v", err)
		}
		if !strings.Contains(h.logs.String(), "latest differs from the current alias") {
			t.Errorf("logs = %q, want a record that latest differs from current", h.logs)
		}
	})
}

// TestPromoteKeepsConcurrentChanges checks that a label and an alias that
// another writer changes during promote survive it.
func TestPromoteKeepsConcurrentChanges(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, secretstore.Format{})
	for range 3 {
		h.addVersion(oldSecret)
	}
	for alias, n := range map[string]int64{gcp.AliasCurrent: 4, gcp.AliasPrevious: 3, "canary": 2} {
		if err := h.fake.SetAlias(secretName, alias, n); err != nil {
			t.Fatalf("SetAlias(%s): %v", alias, err)
		}
	}
	v := h.stage(t)
	h.fake.Inject(gcpfake.Fault{Methods: []string{"UpdateSecret"}, Count: 1, Before: func() {
		if err := h.fake.SetLabel(secretName, "owner", "platform"); err != nil {
			t.Errorf("concurrent SetLabel: %v", err)
		}
	}})
	updatesBefore := h.fake.CountCalls("UpdateSecret")

	v, err := h.store.Promote(t.Context(), rotationA, v)

	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if v.New != "5" {
		t.Errorf("Promote().New = %q, want \"5\"", v.New)
	}
	sec := h.secretState()
	if diff := cmp.Diff(map[string]int64{"current": 5, "previous": 4, "canary": 2}, sec.Aliases); diff != "" {
		t.Errorf("aliases after promote (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"team": "payments", "owner": "platform"}, sec.Labels); diff != "" {
		t.Errorf("labels after promote (-want +got):\n%s", diff)
	}
	if got := h.fake.CountCalls("UpdateSecret") - updatesBefore; got != 2 {
		t.Errorf("UpdateSecret calls = %d, want 2: one rejected for its stale etag, one after a re-read", got)
	}
}

// TestCrashAtEveryCall stops the server's effects after each call of a
// step, as if rotor died there, and checks what consumers read, then that
// the repeated step finishes the job.
func TestCrashAtEveryCall(t *testing.T) {
	t.Parallel()
	steps := []struct {
		name    string
		prepare func(t *testing.T, h *harness) secretstore.Versions
		run     func(ctx context.Context, s *gcp.Store, v secretstore.Versions) error
		// consumers lists the values a reader of current may see at any
		// crash point; both work at the token endpoint in that phase.
		consumers []secret.Value
		check     func(t *testing.T, h *harness, v secretstore.Versions)
	}{
		{
			name:    "stage",
			prepare: func(*testing.T, *harness) secretstore.Versions { return secretstore.Versions{} },
			run: func(ctx context.Context, s *gcp.Store, _ secretstore.Versions) error {
				_, err := s.Stage(ctx, rotationA, newSecret)
				return err
			},
			consumers: []secret.Value{oldSecret},
			check: func(t *testing.T, h *harness, _ secretstore.Versions) {
				if got := h.countHolding(newSecret); got != 1 {
					t.Errorf("versions holding the new value = %d, want 1", got)
				}
				if _, err := h.store.Staged(t.Context(), rotationA); err != nil {
					t.Errorf("Staged: %v", err)
				}
			},
		},
		{
			name:    "promote",
			prepare: func(t *testing.T, h *harness) secretstore.Versions { return h.stage(t) },
			run: func(ctx context.Context, s *gcp.Store, v secretstore.Versions) error {
				_, err := s.Promote(ctx, rotationA, v)
				return err
			},
			consumers: []secret.Value{oldSecret, newSecret},
			check: func(t *testing.T, h *harness, v secretstore.Versions) {
				sec := h.secretState()
				want := map[string]int64{gcp.AliasCurrent: 2, gcp.AliasPrevious: 1}
				if diff := cmp.Diff(want, sec.Aliases); diff != "" {
					t.Errorf("aliases after the repeated promote (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "retire",
			// A copy of the old value in a later version must be retired
			// too, also when a crash interrupts the first attempt.
			prepare: func(t *testing.T, h *harness) secretstore.Versions {
				v := h.stageAndPromote(t)
				h.addVersion(oldSecret)
				return v
			},
			run: func(ctx context.Context, s *gcp.Store, v secretstore.Versions) error {
				return s.Retire(ctx, rotationA, v, secretstore.RetireDestroy)
			},
			consumers: []secret.Value{newSecret},
			check: func(t *testing.T, h *harness, _ secretstore.Versions) {
				if got := h.countHolding(oldSecret); got != 0 {
					t.Errorf("versions holding the old value = %d, want 0", got)
				}
			},
		},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			t.Parallel()
			// A clean run counts the calls the step makes.
			clean := setup(t, oldSecret, jsonFormat)
			v := step.prepare(t, clean)
			before := len(clean.fake.Calls())
			if err := step.run(t.Context(), clean.store, v); err != nil {
				t.Fatalf("clean run: %v", err)
			}
			calls := len(clean.fake.Calls()) - before

			for k := range calls {
				t.Run(fmt.Sprintf("after %d calls", k), func(t *testing.T) {
					t.Parallel()
					h := setup(t, oldSecret, jsonFormat)
					v := step.prepare(t, h)
					h.fake.CrashAfter(k)

					err := step.run(t.Context(), h.store, v)

					if err == nil {
						t.Fatalf("step succeeded although the server stopped after %d of %d calls", k, calls)
					}
					h.fake.ClearFaults()
					h.wantWorkingCurrent(t, step.consumers)
					if err := step.run(t.Context(), h.newStore(), v); err != nil {
						t.Fatalf("repeated step: %v", err)
					}
					h.wantWorkingCurrent(t, step.consumers[len(step.consumers)-1:])
					step.check(t, h, v)
				})
			}
		})
	}
}

// wantWorkingCurrent checks that the current alias names an enabled version
// holding one of want.
func (h *harness) wantWorkingCurrent(t *testing.T, want []secret.Value) {
	t.Helper()
	sec := h.secretState()
	n, ok := sec.Aliases[gcp.AliasCurrent]
	if !ok {
		t.Fatalf("no current alias; aliases %v", sec.Aliases)
	}
	if state := sec.Versions[n].State; state != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("current alias names version %d in state %s", n, state)
	}
	got := h.valueOf(sec, n)
	if !slices.ContainsFunc(want, got.Equal) {
		t.Errorf("current alias names version %d, whose value is not one consumers may read now", n)
	}
}

func TestStageOutcomeUnknown(t *testing.T) {
	t.Parallel()

	t.Run("lost response adds one version", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		h.fake.FailNext("AddSecretVersion", 1, codes.Unavailable, true)

		v, err := h.store.Stage(t.Context(), rotationA, newSecret)

		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		if v.Staged != "2" {
			t.Errorf("Stage().Staged = %q, want \"2\"", v.Staged)
		}
		if got := len(h.secretState().Versions); got != 2 {
			t.Errorf("versions = %d, want 2: the old one and one staged", got)
		}
		if got := h.fake.CountCalls("AddSecretVersion"); got != 1 {
			t.Errorf("AddSecretVersion calls = %d, want 1", got)
		}
		if !strings.Contains(h.logs.String(), "resolved by a re-read") {
			t.Errorf("no log record says the outcome was resolved by a re-read; logs:\n%s", h.logs)
		}
	})

	t.Run("failure before the write adds one version", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		h.fake.FailNext("AddSecretVersion", 1, codes.Unavailable, false)

		if _, err := h.store.Stage(t.Context(), rotationA, newSecret); err != nil {
			t.Fatalf("Stage: %v", err)
		}
		if got := h.countHolding(newSecret); got != 1 {
			t.Errorf("versions holding the new value = %d, want 1", got)
		}
		if got := h.fake.CountCalls("AddSecretVersion"); got != 2 {
			t.Errorf("AddSecretVersion calls = %d, want 2", got)
		}
	})

	t.Run("time-out then repeat after restart adds one version", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		h.fake.Inject(gcpfake.Fault{Methods: []string{"AddSecretVersion"}, Count: 1, Applied: true, Delay: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()

		_, err := h.store.Stage(ctx, rotationA, newSecret)

		wantKind(t, err, secretstore.ErrUnavailable, "Stage that timed out")
		_, err = h.store.Staged(t.Context(), rotationA)
		wantKind(t, err, secretstore.ErrNotFound, "Staged after the time-out")

		v, err := h.newStore().Stage(t.Context(), rotationA, newSecret)
		if err != nil {
			t.Fatalf("repeated Stage: %v", err)
		}
		if v.Staged != "2" {
			t.Errorf("repeated Stage().Staged = %q, want \"2\", the version the first attempt added", v.Staged)
		}
		if got := h.countHolding(newSecret); got != 1 {
			t.Errorf("versions holding the new value = %d, want 1", got)
		}
	})
}

func TestChecksum(t *testing.T) {
	t.Parallel()

	t.Run("stage sends the checksum", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		v := h.stage(t)
		n, _ := strconv.ParseInt(string(v.Staged), 10, 64)
		got := h.secretState().Versions[n]
		if !got.ClientChecksum {
			t.Errorf("version %d was added without data_crc32c", n)
		}
		if got.CRC32C != gcpfake.CRC32C(got.Data) {
			t.Errorf("stored checksum of version %d does not match its data", n)
		}
	})

	t.Run("corrupted payload is not read", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		if err := h.fake.CorruptVersion(secretName, 1); err != nil {
			t.Fatalf("CorruptVersion: %v", err)
		}

		_, err := h.store.Read(t.Context(), "1")

		wantKind(t, err, secretstore.ErrUnavailable, "Read of a corrupted version")
		if !strings.Contains(err.Error(), "CRC32C") {
			t.Errorf("Read error = %q, want it to name the checksum", err)
		}
	})
}

func TestJSONDocumentKept(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, jsonFormat)

	v := h.stageAndPromote(t)

	n, _ := strconv.ParseInt(string(v.New), 10, 64)
	got := h.secretState().Versions[n].Data
	var quoted bytes.Buffer
	enc := json.NewEncoder(&quoted)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(newSecret.Reveal()); err != nil {
		t.Fatalf("encode the new secret: %v", err)
	}
	want := bytes.Replace(baseDocument, []byte(`"placeholder"`), bytes.TrimSuffix(quoted.Bytes(), []byte("\n")), 1)
	if !bytes.Equal(got, want) {
		t.Errorf("promoted document differs from the old one in more than the secret")
	}
}

func TestErrorsHideSecretsAndServerText(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, jsonFormat)
	h.fake.Inject(gcpfake.Fault{Methods: []string{"AddSecretVersion"}, Count: 100, Code: codes.InvalidArgument, EchoRequest: true})

	_, err := h.store.Stage(t.Context(), rotationA, newSecret)

	wantKind(t, err, secretstore.ErrInvalid, "Stage rejected with an echo of the request")
	for _, want := range []string{"stage", secretName, "INVALID_ARGUMENT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Stage error = %q, want it to name %q", err, want)
		}
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		code     codes.Code
		wantErr  error
	}{
		{"unavailable three times then success", 3, codes.Unavailable, nil},
		{"quota exhausted three times then success", 3, codes.ResourceExhausted, nil},
		{"unavailable four times gives up", 4, codes.Unavailable, secretstore.ErrUnavailable},
		{"permission denied is not retried", 1, codes.PermissionDenied, secretstore.ErrAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, secretstore.Format{})
			h.stage(t)
			h.fake.FailNext("GetSecret", tt.failures, tt.code, false)
			before := h.fake.CountCalls("GetSecret")

			_, err := h.store.Staged(t.Context(), rotationA)

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Staged: %v", err)
				}
			} else {
				wantKind(t, err, tt.wantErr, "Staged")
			}
			wantCalls := min(tt.failures+1, 4)
			if tt.code == codes.PermissionDenied {
				wantCalls = 1
			}
			if got := h.fake.CountCalls("GetSecret") - before; got != wantCalls {
				t.Errorf("GetSecret calls = %d, want %d", got, wantCalls)
			}
		})
	}
}

// TestRetireEveryCopy checks that retire reaches every enabled version that
// holds the old value, also one another alias names, and nothing else.
func TestRetireEveryCopy(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, jsonFormat)
	v := h.stageAndPromote(t)
	copyOfOld := h.addVersion(oldSecret)
	if err := h.fake.SetAlias(secretName, "canary", copyOfOld); err != nil {
		t.Fatalf("SetAlias: %v", err)
	}

	if err := h.store.Retire(t.Context(), rotationA, v, secretstore.RetireDestroy); err != nil {
		t.Fatalf("Retire: %v", err)
	}

	sec := h.secretState()
	got := map[int64]secretmanagerpb.SecretVersion_State{}
	for _, n := range slices.Sorted(maps.Keys(sec.Versions)) {
		got[n] = sec.Versions[n].State
	}
	want := map[int64]secretmanagerpb.SecretVersion_State{
		1: secretmanagerpb.SecretVersion_DESTROYED,
		2: secretmanagerpb.SecretVersion_ENABLED,
		3: secretmanagerpb.SecretVersion_DESTROYED,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version states after retire (-want +got):\n%s", diff)
	}
	if !strings.Contains(h.logs.String(), "alias=canary") {
		t.Errorf("no log record names the canary alias of a retired copy; logs:\n%s", h.logs)
	}
}

func TestRetireWithDelayedDestroy(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, secretstore.Format{})
	_, err := h.client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: secretName, VersionDestroyTtl: durationpbHours(24)},
		UpdateMask: fieldMask("version_destroy_ttl"),
	})
	if err != nil {
		t.Fatalf("set version_destroy_ttl: %v", err)
	}
	v := h.stageAndPromote(t)

	if err := h.store.Retire(t.Context(), rotationA, v, secretstore.RetireDestroy); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	before := h.secretState()
	if err := h.store.Retire(t.Context(), rotationA, v, secretstore.RetireDestroy); err != nil {
		t.Fatalf("repeated Retire: %v", err)
	}

	old := h.secretState().Versions[1]
	if old.State != secretmanagerpb.SecretVersion_DISABLED || old.ScheduledDestroyTime.IsZero() {
		t.Errorf("old version: state %s, scheduled destroy %v; want disabled with a scheduled destruction", old.State, old.ScheduledDestroyTime)
	}
	if diff := cmp.Diff(before, h.secretState()); diff != "" {
		t.Errorf("repeated retire changed the secret (-before +after):\n%s", diff)
	}
}

// TestConsumerReads checks the package documentation's table: what a
// reader of versions/latest and one of versions/current get in each state.
func TestConsumerReads(t *testing.T) {
	t.Parallel()
	const failed = "failed"
	type reads struct{ Current, Latest string }
	h := setup(t, oldSecret, secretstore.Format{})
	read := func(alias string) string {
		resp, err := h.client.AccessSecretVersion(t.Context(), &secretmanagerpb.AccessSecretVersionRequest{Name: secretName + "/versions/" + alias})
		if err != nil {
			return failed
		}
		switch got := secret.FromBytes(resp.GetPayload().GetData()); {
		case got.Equal(oldSecret):
			return "old"
		case got.Equal(newSecret):
			return "new"
		}
		return "other"
	}
	state := func() reads { return reads{read(gcp.AliasCurrent), read("latest")} }
	ctx := t.Context()

	got := map[string]reads{"requested": state()}
	v := h.stage(t)
	got["new_issued"] = state()
	v, err := h.store.Promote(ctx, rotationA, v)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	got["dual_active"] = state()
	back, err := h.store.Rollback(ctx, rotationA, v)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	got["rolled back"] = state()
	if v, err = h.store.Promote(ctx, rotationA, back); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if err := h.store.Retire(ctx, rotationA, v, secretstore.RetireDisable); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	got["old_retired"] = state()

	cancelled := setup(t, oldSecret, secretstore.Format{})
	h = cancelled
	staged := h.stage(t)
	if err := h.store.Discard(ctx, rotationA, staged); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	got["cancelled"] = state()

	want := map[string]reads{
		"requested":   {"old", "old"},
		"new_issued":  {"old", "new"},
		"dual_active": {"new", "new"},
		"rolled back": {"old", "new"},
		"old_retired": {"new", "new"},
		"cancelled":   {"old", failed},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values read by rotation state (-want +got):\n%s", diff)
	}
}

func durationpbHours(h int) *durationpb.Duration {
	return durationpb.New(time.Duration(h) * time.Hour)
}

func fieldMask(paths ...string) *fieldmaskpb.FieldMask {
	return &fieldmaskpb.FieldMask{Paths: paths}
}
