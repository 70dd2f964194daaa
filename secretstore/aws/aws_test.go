package aws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	awsstore "github.com/rotorhq/rotor/secretstore/aws"
	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
	"github.com/rotorhq/rotor/secretstore/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	formats := map[string]secretstore.Format{"plain": plain, "json": jsonFormat}
	for name, format := range formats {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, initial secret.Value) storetest.Harness {
				return setup(t, initial, format)
			})
		})
	}
}

// Rotation ids are UUIDs, as the rotation service issues them.
const (
	rotationA = "0e7d3b1a-6f2c-4d5e-8a9b-1c2d3e4f5a61"
	rotationB = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c12"
)

// The secrets are the shared canaries, so that the searches of errors and
// logs find them in any form.
var (
	oldSecret   = canary.Value
	newSecret   = canary.Second
	thirdSecret = canary.Third
)

// wantKind fails the test unless err is of kind, and checks that its
// message shows no secret of the test and no access key.
func wantKind(t *testing.T, err, kind error, call string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want kind %q", call, err, kind)
	}
	noSecretIn(t, err.Error(), call)
}

// noSecretIn fails the test when text contains a secret of the test in
// any form, or the fake's credentials.
func noSecretIn(t *testing.T, text, what string) {
	t.Helper()
	canary.Check(t, what, text)
	for _, key := range []string{awsfake.AccessKeyID, awsfake.SecretAccessKey} {
		if strings.Contains(text, key) {
			t.Errorf("%s contains an AWS credential", what)
		}
	}
}

func (h *harness) stage(t *testing.T, id string, value secret.Value) secretstore.Versions {
	t.Helper()
	v, err := h.store.Stage(t.Context(), id, value)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	return v
}

func (h *harness) promote(t *testing.T, id string, v secretstore.Versions) secretstore.Versions {
	t.Helper()
	v, err := h.store.Promote(t.Context(), id, v)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	return v
}

func (h *harness) versions(t *testing.T) []awsfake.Version {
	t.Helper()
	versions, err := h.fake.Versions(secretName)
	if err != nil {
		t.Fatalf("versions: %v", err)
	}
	return versions
}

func (h *harness) labels(t *testing.T) map[string][]string {
	t.Helper()
	labels, err := h.fake.Labels(secretName)
	if err != nil {
		t.Fatalf("labels: %v", err)
	}
	return labels
}

// valueOf decodes a stored document with the harness's format.
func (h *harness) valueOf(t *testing.T, doc []byte) secret.Value {
	t.Helper()
	v, err := h.format.Decode(doc)
	if err != nil {
		t.Fatalf("stored document does not decode: %v", err)
	}
	return v
}

// wantWorkingCurrent checks that a version carries AWSCURRENT and holds a
// valid secret that is one of want.
func (h *harness) wantWorkingCurrent(t *testing.T, when string, want ...secret.Value) {
	t.Helper()
	id, ok := h.fake.Holder(secretName, awsfake.LabelCurrent)
	if !ok {
		t.Fatalf("%s: no version carries AWSCURRENT", when)
	}
	value, err := h.format.Decode(h.doc(id))
	if err != nil {
		t.Fatalf("%s: the AWSCURRENT version %s does not hold a valid secret: %v", when, id, err)
	}
	if !slices.ContainsFunc(want, value.Equal) {
		t.Fatalf("%s: the AWSCURRENT version %s holds an unexpected secret", when, id)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	client := awsfake.New(t).Client()
	tests := []struct {
		name   string
		client *secretsmanager.Client
		cfg    awsstore.Config
	}{
		{"no client", nil, awsstore.Config{SecretID: secretName}},
		{"no secret id", client, awsstore.Config{}},
		{"AWSPENDING as pending label", client, awsstore.Config{SecretID: secretName, PendingLabel: "AWSPENDING"}},
		{"AWSCURRENT as pending label", client, awsstore.Config{SecretID: secretName, PendingLabel: "AWSCURRENT"}},
		{"AWSPREVIOUS as pending label", client, awsstore.Config{SecretID: secretName, PendingLabel: "AWSPREVIOUS"}},
		{"pending label over 256 characters", client, awsstore.Config{SecretID: secretName, PendingLabel: strings.Repeat("L", 257)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := awsstore.New(tt.client, tt.cfg)
			wantKind(t, err, secretstore.ErrInvalid, "New")
		})
	}

	t.Run("default pending label", func(t *testing.T) {
		t.Parallel()
		store, err := awsstore.New(client, awsstore.Config{SecretID: secretName})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if got := store.PendingLabel(); got != "ROTOR_PENDING" {
			t.Errorf("PendingLabel() = %q, want ROTOR_PENDING", got)
		}
	})
}

func TestStageLabels(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, plain)
	initial, _ := h.fake.Holder(secretName, awsfake.LabelCurrent)

	v := h.stage(t, rotationA, newSecret)

	want := map[string][]string{initial: {"AWSCURRENT"}, rotationA: {"ROTOR_PENDING"}}
	if diff := cmp.Diff(want, h.labels(t)); diff != "" {
		t.Errorf("labels after stage (-want +got):\n%s", diff)
	}
	if v.Staged != rotationA || v.Old != secretstore.Version(initial) {
		t.Errorf("Stage() = %+v, want Old %s and Staged the rotation id", v, initial)
	}

	h.promote(t, rotationA, v)

	want = map[string][]string{initial: {"AWSPREVIOUS"}, rotationA: {"AWSCURRENT"}}
	if diff := cmp.Diff(want, h.labels(t)); diff != "" {
		t.Errorf("labels after promote (-want +got):\n%s", diff)
	}
}

// TestForeignPending: AWSCURRENT on v1 and AWSPENDING on a stale v0, left
// by Secrets Manager's own rotation, which is still turned on.
func TestForeignPending(t *testing.T) {
	t.Parallel()
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:persium-rotation"

	setupF01 := func(t *testing.T) (*harness, string) {
		t.Helper()
		h := setup(t, secret.New("OLD-0"), plain)
		v0, _ := h.fake.Holder(secretName, awsfake.LabelCurrent)
		if err := h.Write(t.Context(), oldSecret); err != nil {
			t.Fatalf("write v1: %v", err)
		}
		if err := h.fake.Label(secretName, v0, awsfake.LabelPending); err != nil {
			t.Fatalf("label v0: %v", err)
		}
		if err := h.fake.SetRotationEnabled(secretName, true, lambda); err != nil {
			t.Fatalf("SetRotationEnabled: %v", err)
		}
		return h, v0
	}

	t.Run("stage conflicts naming the version and writes nothing", func(t *testing.T) {
		t.Parallel()
		h, v0 := setupF01(t)
		before := h.versions(t)

		_, err := h.store.Stage(t.Context(), rotationA, newSecret)

		wantKind(t, err, secretstore.ErrConflict, "Stage over a foreign AWSPENDING")
		for _, want := range []string{v0, "AWSPENDING", "staged_version"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Stage() error = %q, want it to contain %q", err, want)
			}
		}
		if diff := cmp.Diff(before, h.versions(t)); diff != "" {
			t.Errorf("versions changed by a conflicting stage (-before +after):\n%s", diff)
		}
		if n := h.fake.CountRequests("PutSecretValue") + h.fake.CountRequests("UpdateSecretVersionStage"); n != 0 {
			t.Errorf("write requests = %d, want 0", n)
		}
	})

	t.Run("preflight names the rotation function and the version", func(t *testing.T) {
		t.Parallel()
		h, v0 := setupF01(t)

		err := h.store.Preflight(t.Context())

		wantKind(t, err, secretstore.ErrInvalid, "Preflight with rotation enabled")
		wantKind(t, err, secretstore.ErrConflict, "Preflight with a foreign AWSPENDING")
		for _, want := range []string{lambda, "cancel-rotate-secret", v0} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Preflight() error = %q, want it to contain %q", err, want)
			}
		}
	})

	t.Run("AWSPENDING on the current version is no rotation", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		current, _ := h.fake.Holder(secretName, awsfake.LabelCurrent)
		if err := h.fake.Label(secretName, current, awsfake.LabelPending); err != nil {
			t.Fatalf("label: %v", err)
		}

		if err := h.store.Preflight(t.Context()); err != nil {
			t.Errorf("Preflight: %v", err)
		}
		v := h.stage(t, rotationA, newSecret)
		h.promote(t, rotationA, v)
		h.wantWorkingCurrent(t, "after promote", newSecret)
	})
}

func TestPreflight(t *testing.T) {
	t.Parallel()

	t.Run("rotatable secret passes", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		if err := h.store.Preflight(t.Context()); err != nil {
			t.Errorf("Preflight: %v", err)
		}
	})

	t.Run("rotation enabled alone is invalid", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		if err := h.fake.SetRotationEnabled(secretName, true, ""); err != nil {
			t.Fatalf("SetRotationEnabled: %v", err)
		}
		err := h.store.Preflight(t.Context())
		wantKind(t, err, secretstore.ErrInvalid, "Preflight with rotation enabled")
		if errors.Is(err, secretstore.ErrConflict) {
			t.Errorf("Preflight() error = %q, want no pending-label conflict", err)
		}
	})

	t.Run("missing secret is not found", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		store, err := awsstore.New(h.fake.Client(), awsstore.Config{SecretID: "persium/missing"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		err = store.Preflight(t.Context())
		wantKind(t, err, secretstore.ErrNotFound, "Preflight of a missing secret")
		if !strings.Contains(err.Error(), "persium/missing") {
			t.Errorf("Preflight() error = %q, want it to name the secret", err)
		}
	})

	t.Run("document without the JSON key is invalid", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		if _, err := h.fake.Put(secretName, `{"client_id":"client-a"}`); err != nil {
			t.Fatalf("put: %v", err)
		}
		wantKind(t, h.store.Preflight(t.Context()), secretstore.ErrInvalid, "Preflight of a document without the key")
	})

	t.Run("denied read is an access error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		h.fake.Deny("DescribeSecret")
		err := h.store.Preflight(t.Context())
		wantKind(t, err, secretstore.ErrAccess, "Preflight while DescribeSecret is denied")
		if !strings.Contains(err.Error(), "secretsmanager:DescribeSecret") {
			t.Errorf("Preflight() error = %q, want it to name the missing permission", err)
		}
	})
}

// TestLostStageResponse: PutSecretValue succeeds on the server but its
// response is lost.
func TestLostStageResponse(t *testing.T) {
	t.Parallel()

	faults := map[string]awsfake.Fault{
		"500 after the write":               {Op: "PutSecretValue", Count: 1, Applied: true},
		"connection closed after the write": {Op: "PutSecretValue", Count: 1, Applied: true, CloseConnection: true},
	}
	for name, fault := range faults {
		t.Run(name+", SDK retry", func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, plain)
			h.fake.Inject(fault)

			v := h.stage(t, rotationA, newSecret)

			if v.Staged != rotationA {
				t.Errorf("Stage().Staged = %q, want %q", v.Staged, rotationA)
			}
			if got := len(h.versions(t)); got != 2 {
				t.Errorf("secret has %d versions, want 2: the old one and exactly one staged", got)
			}
		})
	}

	t.Run("every attempt lost, then rotor restarts", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		h.fake.LoseResponse("PutSecretValue", awsstore.MaxAttempts)

		_, err := h.store.Stage(t.Context(), rotationA, newSecret)
		wantKind(t, err, secretstore.ErrUnavailable, "Stage with every response lost")

		// A new process with a new client.
		restarted := h.newStore(h.fake.Client())
		staged, err := restarted.Staged(t.Context(), rotationA)
		if err != nil {
			t.Fatalf("Staged after restart: %v", err)
		}
		again, err := restarted.Stage(t.Context(), rotationA, newSecret)
		if err != nil {
			t.Fatalf("repeated Stage: %v", err)
		}
		if diff := cmp.Diff(staged, again); diff != "" {
			t.Errorf("repeated Stage() differs from Staged() (-staged +stage):\n%s", diff)
		}
		before := h.versions(t)

		_, err = restarted.Stage(t.Context(), rotationA, thirdSecret)

		wantKind(t, err, secretstore.ErrConflict, "Stage of another value for the same rotation")
		if diff := cmp.Diff(before, h.versions(t)); diff != "" {
			t.Errorf("versions changed by a conflicting stage (-before +after):\n%s", diff)
		}
		if got := len(before); got != 2 {
			t.Errorf("secret has %d versions, want 2", got)
		}
	})
}

func TestLabelMoveLostResponse(t *testing.T) {
	t.Parallel()

	t.Run("every attempt of the AWSCURRENT move lost", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		v := h.stage(t, rotationA, newSecret)
		h.fake.LoseResponse("UpdateSecretVersionStage", awsstore.MaxAttempts)

		v = h.promote(t, rotationA, v)

		if v.New != rotationA {
			t.Errorf("Promote().New = %q, want %q", v.New, rotationA)
		}
		h.wantWorkingCurrent(t, "after promote", newSecret)
		if labels := h.labels(t)[rotationA]; slices.Contains(labels, "ROTOR_PENDING") {
			t.Errorf("the promoted version still carries ROTOR_PENDING")
		}
		if !strings.Contains(h.logs.String(), "resolved by a re-read") {
			t.Errorf("no log record says the outcome was resolved by a re-read; logs:\n%s", h.logs)
		}
	})

	t.Run("removal of the pending label lost, SDK retry rejected", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		v := h.stage(t, rotationA, newSecret)
		h.fake.Inject(awsfake.Fault{Op: "UpdateSecretVersionStage", Skip: 1, Count: 1, Applied: true})

		h.promote(t, rotationA, v)

		if labels := h.labels(t)[rotationA]; !slices.Equal(labels, []string{"AWSCURRENT"}) {
			t.Errorf("labels of the promoted version = %v, want [AWSCURRENT]", labels)
		}
	})
}

// TestCrashPoints stops a step after each of its write requests and checks
// that a working version carries AWSCURRENT at that point, and that
// repeating the step finishes it.
func TestCrashPoints(t *testing.T) {
	t.Parallel()

	// crashAfter makes every write request after the first n fail.
	crashAfter := func(h *harness, n int) {
		h.fake.Inject(awsfake.Fault{Op: awsfake.WriteOps, Skip: n, Count: math.MaxInt})
	}

	for n := range 3 {
		t.Run(fmt.Sprintf("promote stopped after %d writes", n), func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, jsonFormat)
			v := h.stage(t, rotationA, newSecret)
			crashAfter(h, n)

			_, err := h.store.Promote(t.Context(), rotationA, v)
			if n < 2 {
				wantKind(t, err, secretstore.ErrUnavailable, "Promote while writes fail")
			}
			h.wantWorkingCurrent(t, "after the crash", oldSecret, newSecret)

			h.fake.ClearFaults()
			h.promote(t, rotationA, v)
			h.wantWorkingCurrent(t, "after the repeat", newSecret)
			want := map[string][]string{string(v.Old): {"AWSPREVIOUS"}, rotationA: {"AWSCURRENT"}}
			if diff := cmp.Diff(want, h.labels(t)); diff != "" {
				t.Errorf("labels after the repeated promote (-want +got):\n%s", diff)
			}
		})
	}

	for n := range 3 {
		t.Run(fmt.Sprintf("rollback stopped after %d writes", n), func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, jsonFormat)
			v := h.promote(t, rotationA, h.stage(t, rotationA, newSecret))
			crashAfter(h, n)

			_, err := h.store.Rollback(t.Context(), rotationA, v)
			if n < 2 {
				wantKind(t, err, secretstore.ErrUnavailable, "Rollback while writes fail")
			}
			h.wantWorkingCurrent(t, "after the crash", oldSecret, newSecret)

			h.fake.ClearFaults()
			if _, err := h.store.Rollback(t.Context(), rotationA, v); err != nil {
				t.Fatalf("repeated Rollback: %v", err)
			}
			h.wantWorkingCurrent(t, "after the repeat", oldSecret)
			want := map[string][]string{string(v.Old): {"AWSCURRENT"}, rotationA: {"AWSPREVIOUS", "ROTOR_PENDING"}}
			if diff := cmp.Diff(want, h.labels(t)); diff != "" {
				t.Errorf("labels after the repeated rollback (-want +got):\n%s", diff)
			}
		})
	}

	// Retire here removes AWSPREVIOUS from the old version and two labels
	// from a labelled copy of the old value: three writes.
	for n := range 4 {
		t.Run(fmt.Sprintf("retire stopped after %d writes", n), func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, jsonFormat)
			v := h.promote(t, rotationA, h.stage(t, rotationA, newSecret))
			if _, err := h.fake.Put(secretName, string(h.doc(string(v.Old))), "COPY", "BACKUP"); err != nil {
				t.Fatalf("put a copy: %v", err)
			}
			crashAfter(h, n)

			err := h.store.Retire(t.Context(), rotationA, v, secretstore.RetireDestroy)
			if n < 3 {
				wantKind(t, err, secretstore.ErrUnavailable, "Retire while writes fail")
			}
			h.wantWorkingCurrent(t, "after the crash", newSecret)

			h.fake.ClearFaults()
			if err := h.store.Retire(t.Context(), rotationA, v, secretstore.RetireDestroy); err != nil {
				t.Fatalf("repeated Retire: %v", err)
			}
			h.wantWorkingCurrent(t, "after the repeat", newSecret)
			if diff := cmp.Diff(map[string][]string{rotationA: {"AWSCURRENT"}}, h.labels(t)); diff != "" {
				t.Errorf("labels after the repeated retire (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONKeepsOtherKeys(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, jsonFormat)
	before := h.currentDoc()

	v := h.stage(t, rotationA, newSecret)
	h.promote(t, rotationA, v)

	want, err := jsonFormat.Encode(before, newSecret)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if got := h.currentDoc(); !bytes.Equal(got, want) {
		t.Errorf("document after promote differs from the old one in more than the secret")
	}
	if !h.valueOf(t, h.currentDoc()).Equal(newSecret) {
		t.Errorf("client_secret after promote is not the new secret")
	}
	if !bytes.Contains(h.currentDoc(), []byte(`"timeout":1.50}`)) || !bytes.HasPrefix(h.currentDoc(), []byte(`{"client_id": "client-a",  "client_secret":`)) {
		t.Errorf("spacing or number digits of the other keys changed")
	}
}

func TestAdopt(t *testing.T) {
	t.Parallel()

	t.Run("copies the version and frees its label", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, jsonFormat)
		external, err := h.StageExternal(t.Context(), thirdSecret)
		if err != nil {
			t.Fatalf("StageExternal: %v", err)
		}

		v, err := h.store.Adopt(t.Context(), rotationA, external)
		if err != nil {
			t.Fatalf("Adopt: %v", err)
		}

		if v.Staged != rotationA {
			t.Errorf("Adopt().Staged = %q, want the rotation id", v.Staged)
		}
		if !bytes.Equal(h.doc(rotationA), h.doc(string(external))) {
			t.Errorf("the adopted copy differs from the original document")
		}
		if labels := h.labels(t)[string(external)]; labels != nil {
			t.Errorf("labels of the adopted original = %v, want none", labels)
		}
	})

	t.Run("stopped before freeing the label, then repeated", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		external, err := h.StageExternal(t.Context(), thirdSecret)
		if err != nil {
			t.Fatalf("StageExternal: %v", err)
		}
		h.fake.Fail("UpdateSecretVersionStage", awsstore.MaxAttempts)

		_, err = h.store.Adopt(t.Context(), rotationA, external)
		wantKind(t, err, secretstore.ErrUnavailable, "Adopt while label changes fail")

		v, err := h.store.Adopt(t.Context(), rotationA, external)
		if err != nil {
			t.Fatalf("repeated Adopt: %v", err)
		}
		if v.Staged != rotationA {
			t.Errorf("Adopt().Staged = %q, want the rotation id", v.Staged)
		}
		if labels := h.labels(t)[string(external)]; labels != nil {
			t.Errorf("labels of the adopted original = %v, want none", labels)
		}
		if got := len(h.versions(t)); got != 3 {
			t.Errorf("secret has %d versions, want 3", got)
		}
	})
}

func TestDiscardAfterRollback(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, plain)
	v := h.promote(t, rotationA, h.stage(t, rotationA, newSecret))
	back, err := h.store.Rollback(t.Context(), rotationA, v)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}

	if err := h.store.Discard(t.Context(), rotationA, back); err != nil {
		t.Fatalf("Discard: %v", err)
	}

	want := map[string][]string{string(v.Old): {"AWSCURRENT"}}
	if diff := cmp.Diff(want, h.labels(t)); diff != "" {
		t.Errorf("labels after discard (-want +got):\n%s", diff)
	}
}

func TestStageAfterDiscard(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, plain)
	v := h.stage(t, rotationA, newSecret)
	if err := h.store.Discard(t.Context(), rotationA, v); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	before := h.versions(t)

	_, err := h.store.Stage(t.Context(), rotationA, newSecret)

	wantKind(t, err, secretstore.ErrConflict, "Stage of a discarded rotation")
	if !strings.Contains(err.Error(), "start a new rotation") {
		t.Errorf("Stage() error = %q, want it to say to start a new rotation", err)
	}
	if diff := cmp.Diff(before, h.versions(t)); diff != "" {
		t.Errorf("versions changed by the refused stage (-before +after):\n%s", diff)
	}
}

func TestRetireDestroy(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, plain)
	v := h.promote(t, rotationA, h.stage(t, rotationA, newSecret))
	// Someone put the old value back and forward again by hand: the copy
	// carries AWSPREVIOUS then.
	for _, s := range []secret.Value{oldSecret, newSecret} {
		if err := h.Write(t.Context(), s); err != nil {
			t.Fatalf("write: %v", err)
		}
	}

	if err := h.store.Retire(t.Context(), rotationA, v, secretstore.RetireDestroy); err != nil {
		t.Fatalf("Retire: %v", err)
	}

	for _, version := range h.versions(t) {
		if h.valueOf(t, []byte(version.SecretString)).Equal(oldSecret) && !version.Deprecated() {
			t.Errorf("version %s holds the old value and carries %v", version.ID, version.Stages)
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "cannot destroy a single version") || !strings.Contains(logs, string(v.Old)) {
		t.Errorf("no warning names the deprecated versions; logs:\n%s", logs)
	}
	noSecretIn(t, logs, "the log")
}

func TestRetriesBounded(t *testing.T) {
	t.Parallel()
	h := setup(t, oldSecret, plain)
	// A client whose own retryer would try ten times.
	client := h.fake.Client(func(o *secretsmanager.Options) {
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 10)
	})
	store := h.newStore(client)
	h.fake.Throttle(awsfake.ReadOps, 100)

	_, _, err := store.Current(t.Context())

	wantKind(t, err, secretstore.ErrUnavailable, "Current while throttled")
	if got := h.fake.CountRequests("GetSecretValue"); got != awsstore.MaxAttempts {
		t.Errorf("GetSecretValue requests = %d, want %d", got, awsstore.MaxAttempts)
	}
	for _, want := range []string{"ThrottlingException", "after 3 attempts", secretName, "repeat the step"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Current() error = %q, want it to contain %q", err, want)
		}
	}
}

func TestErrorsRevealNothing(t *testing.T) {
	t.Parallel()

	t.Run("service message that echoes the request", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		h.fake.Inject(awsfake.Fault{Op: "PutSecretValue", Count: 1, Code: "InvalidParameterException", EchoInput: true})

		_, err := h.store.Stage(t.Context(), rotationA, newSecret)

		wantKind(t, err, secretstore.ErrInvalid, "Stage with an echoing error")
		if strings.Contains(err.Error(), "SecretString") {
			t.Errorf("Stage() error = %q, want no text from the service's message", err)
		}
	})

	t.Run("unrecognised access key", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		const key = "AKIAUNKNOWNKEY000001"
		store := h.newStore(h.fake.Client(func(o *secretsmanager.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(key, awsfake.SecretAccessKey, "")
		}))

		_, _, err := store.Current(t.Context())

		wantKind(t, err, secretstore.ErrAccess, "Current with an unknown access key")
		if strings.Contains(err.Error(), key) {
			t.Errorf("Current() error = %q, want it without the access key", err)
		}
	})

	t.Run("access key with a newline", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		const key = "AKIAFAKEROTOR\nINJECT"
		store := h.newStore(h.fake.Client(func(o *secretsmanager.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(key, awsfake.SecretAccessKey, "")
		}))

		_, err := store.Stage(t.Context(), rotationA, newSecret)

		wantKind(t, err, secretstore.ErrAccess, "Stage with a broken access key")
		for _, part := range strings.Split(key, "\n") {
			if strings.Contains(err.Error(), part) {
				t.Errorf("Stage() error = %q, want it without the access key", err)
			}
		}
	})
}

// Without credentials the SDK sends nothing. The error reports the missing
// credentials instead of blaming the endpoint or quoting the providers the
// SDK tried.
func TestMissingCredentials(t *testing.T) {
	t.Parallel()
	fake := awsfake.New(t)
	if _, err := fake.Seed("persium/cred-a", "OLD-1"); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	client := fake.Client(func(o *secretsmanager.Options) {
		o.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no EC2 IMDS role found, operation error ec2imds: GetMetadata, request to 169.254.169.254")
		}))
	})
	store, err := awsstore.New(client, awsstore.Config{SecretID: "persium/cred-a"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	err = store.Preflight(t.Context())
	if !errors.Is(err, secretstore.ErrAccess) {
		t.Fatalf("Preflight without credentials: err = %v, want ErrAccess", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "no AWS credentials") || strings.Contains(msg, "169.254.169.254") {
		t.Errorf("Preflight error %q: want it to say that no credentials were found, without the metadata address", msg)
	}
	if n := fake.CountRequests(""); n != 0 {
		t.Errorf("requests sent without credentials: %d, want 0", n)
	}
}
