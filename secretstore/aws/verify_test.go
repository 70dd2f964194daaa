package aws_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	awsstore "github.com/rotorhq/rotor/secretstore/aws"
	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
)

const (
	// handToken is the ClientRequestToken of a version written outside
	// rotor.
	handToken = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e41"

	rotationFunction = "arn:aws:lambda:us-east-1:123456789012:function:persium-rotation"
)

// putByHand writes value as version handToken with labels through the
// Secrets Manager API, as an operator or another tool would. Without
// labels the version becomes AWSCURRENT.
func (h *harness) putByHand(t *testing.T, value secret.Value, labels ...string) string {
	t.Helper()
	doc, err := h.format.Encode(h.currentDoc(), value)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	_, err = h.fake.Client().PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretName),
		ClientRequestToken: aws.String(handToken),
		SecretString:       aws.String(string(doc)),
		VersionStages:      labels,
	})
	if err != nil {
		t.Fatalf("PutSecretValue by hand: %v", err)
	}
	return handToken
}

// moveByHand moves label to version to, off version from ("" when no
// version carries it), through the Secrets Manager API, as aws
// secretsmanager update-secret-version-stage does.
func (h *harness) moveByHand(t *testing.T, label, to, from string) {
	t.Helper()
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(secretName),
		VersionStage:    aws.String(label),
		MoveToVersionId: aws.String(to),
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	_, err := h.fake.Client().UpdateSecretVersionStage(t.Context(), in)
	if err != nil {
		t.Fatalf("move %s by hand: %v", label, err)
	}
}

// removeByHand removes label from version from through the Secrets Manager
// API.
func (h *harness) removeByHand(t *testing.T, label, from string) {
	t.Helper()
	_, err := h.fake.Client().UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(secretName),
		VersionStage:        aws.String(label),
		RemoveFromVersionId: aws.String(from),
	})
	if err != nil {
		t.Fatalf("remove %s by hand: %v", label, err)
	}
}

// verifySetup returns a harness whose rotation rotationA is in new_issued
// or, with promoted, in dual_active, and the versions rotor recorded.
func verifySetup(t *testing.T, promoted bool) (*harness, secretstore.Versions) {
	t.Helper()
	h := setup(t, oldSecret, plain)
	v := h.stage(t, rotationA, newSecret)
	if promoted {
		v = h.promote(t, rotationA, v)
	}
	return h, v
}

// wantDrift fails the test unless err is drift that reports the given
// number of changes, one error each, and whose text contains each of want.
func wantDrift(t *testing.T, err error, call string, changes int, want ...string) {
	t.Helper()
	wantKind(t, err, secretstore.ErrDrift, call)
	var e *secretstore.Error
	if !errors.As(err, &e) || e.Op != "verify" {
		t.Errorf("%s: error %q is not a *secretstore.Error of step verify", call, err)
	}
	if got := strings.Count(err.Error(), secretstore.ErrDrift.Error()); got != changes {
		t.Errorf("%s: error reports %d changes, want %d:\n%s", call, got, changes, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error = %q, want it to contain %q", call, err, w)
		}
	}
}

func TestVerifyDrift(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		promoted bool
		// change alters the secret outside rotor and returns what the
		// error message must contain.
		change  func(t *testing.T, h *harness, v secretstore.Versions) []string
		changes int
	}{
		{
			name: "AWSCURRENT moved by hand while new_issued",
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				other := h.putByHand(t, thirdSecret, "BACKUP")
				h.moveByHand(t, awsfake.LabelCurrent, other, string(v.Old))
				return []string{"AWSCURRENT", "from version " + string(v.Old) + " to version " + other, "consumers read version " + other + " now"}
			},
			changes: 1,
		},
		{
			name:     "AWSCURRENT moved by hand while dual_active",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				other := h.putByHand(t, thirdSecret, "BACKUP")
				h.moveByHand(t, awsfake.LabelCurrent, other, string(v.New))
				// Secrets Manager moves AWSPREVIOUS to v.New, so the old
				// version loses its last label too.
				return []string{
					"from version " + string(v.New) + " to version " + other, "consumers read version " + other + " now",
					"AWSPREVIOUS is no longer on version " + string(v.Old), "rollback has no version to return to",
				}
			},
			changes: 2,
		},
		{
			name: "staged version promoted by hand",
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				h.moveByHand(t, awsfake.LabelCurrent, string(v.Staged), string(v.Old))
				return []string{"to version " + string(v.Staged), "rotor has not promoted it", "consumers read the new secret now"}
			},
			changes: 1,
		},
		{
			name:     "old version made current again by hand",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				h.moveByHand(t, awsfake.LabelCurrent, string(v.Old), string(v.New))
				return []string{"moved back", "rollback that rotor did not make", "consumers read the old secret again", "AWSPREVIOUS"}
			},
			changes: 2,
		},
		{
			name:     "AWSPREVIOUS removed by hand while dual_active",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				h.removeByHand(t, awsfake.LabelPrevious, string(v.Old))
				return []string{"AWSPREVIOUS is no longer on version " + string(v.Old), "carries no label", "Secrets Manager may delete it"}
			},
			changes: 1,
		},
		{
			name: "AWSPENDING appears while new_issued",
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				pending := h.putByHand(t, thirdSecret, awsfake.LabelPending)
				return []string{"version " + pending, "AWSPENDING", "Secrets Manager's own rotation", "change what consumers read"}
			},
			changes: 1,
		},
		{
			name:     "AWSPENDING appears while dual_active",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				pending := h.putByHand(t, thirdSecret, awsfake.LabelPending)
				return []string{"version " + pending, "AWSPENDING"}
			},
			changes: 1,
		},
		{
			name: "AWSPENDING moved onto the staged version",
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				h.moveByHand(t, awsfake.LabelPending, string(v.Staged), "")
				return []string{"version " + string(v.Staged) + " of secret " + secretName + " carries AWSPENDING"}
			},
			changes: 1,
		},
		{
			name: "rotation turned on while new_issued",
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				if err := h.fake.SetRotationEnabled(secretName, true, rotationFunction); err != nil {
					t.Fatalf("SetRotationEnabled: %v", err)
				}
				return []string{"rotation turned on", rotationFunction, "cancel-rotate-secret --secret-id " + secretName}
			},
			changes: 1,
		},
		{
			name:     "rotation turned on while dual_active",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				if err := h.fake.SetRotationEnabled(secretName, true, ""); err != nil {
					t.Fatalf("SetRotationEnabled: %v", err)
				}
				return []string{"rotation turned on", "managed rotation", "cancel-rotate-secret"}
			},
			changes: 1,
		},
		{
			name: "pending label removed by hand while new_issued",
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				h.removeByHand(t, awsstore.DefaultPendingLabel, string(v.Staged))
				return []string{"ROTOR_PENDING is no longer on version " + string(v.Staged), "carries no label", "promote would not find it"}
			},
			changes: 1,
		},
		{
			name:     "pending label on another version while dual_active",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				other := h.putByHand(t, thirdSecret, awsstore.DefaultPendingLabel)
				return []string{"ROTOR_PENDING is on version " + other, "has been promoted"}
			},
			changes: 1,
		},
		{
			name:     "secret scheduled for deletion",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
				if err := h.fake.ScheduleDeletion(secretName, at); err != nil {
					t.Fatalf("ScheduleDeletion: %v", err)
				}
				return []string{"scheduled for deletion on 2031-03-04T05:06:07Z", "can no longer read", "restore-secret --secret-id " + secretName}
			},
			changes: 1,
		},
		{
			name:     "foreign write while dual_active",
			promoted: true,
			change: func(t *testing.T, h *harness, v secretstore.Versions) []string {
				other := h.putByHand(t, thirdSecret)
				return []string{"consumers read version " + other + " now", "AWSPREVIOUS is no longer on version " + string(v.Old)}
			},
			changes: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, v := verifySetup(t, tt.promoted)
			want := tt.change(t, h, v)
			before := h.versions(t)

			err := h.store.Verify(t.Context(), rotationA, tt.promoted, v)

			wantDrift(t, err, "Verify", tt.changes, want...)
			if got := h.versions(t); !slices.EqualFunc(before, got, sameVersion) {
				t.Errorf("versions changed by Verify")
			}
		})
	}
}

func sameVersion(a, b awsfake.Version) bool {
	return a.ID == b.ID && slices.Equal(a.Stages, b.Stages) && a.SecretString == b.SecretString
}

func TestVerifyNoDrift(t *testing.T) {
	t.Parallel()

	t.Run("one DescribeSecret and no write per state", func(t *testing.T) {
		t.Parallel()
		h, v := verifySetup(t, false)
		for _, promoted := range []bool{false, true} {
			if promoted {
				v = h.promote(t, rotationA, v)
			}
			before := len(h.fake.Requests())

			if err := h.store.Verify(t.Context(), rotationA, promoted, v); err != nil {
				t.Fatalf("Verify(promoted=%t): %v", promoted, err)
			}

			got := h.fake.Requests()[before:]
			if !slices.Equal(got, []string{"DescribeSecret"}) {
				t.Errorf("Verify(promoted=%t) requests = %v, want [DescribeSecret]", promoted, got)
			}
		}
	})

	t.Run("AWSPENDING left on the old version", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		current, _ := h.fake.Holder(secretName, awsfake.LabelCurrent)
		if err := h.fake.Label(secretName, current, awsfake.LabelPending); err != nil {
			t.Fatalf("label: %v", err)
		}
		v := h.stage(t, rotationA, newSecret)
		if err := h.store.Verify(t.Context(), rotationA, false, v); err != nil {
			t.Errorf("Verify in new_issued: %v", err)
		}
		v = h.promote(t, rotationA, v)
		if err := h.store.Verify(t.Context(), rotationA, true, v); err != nil {
			t.Errorf("Verify in dual_active: %v", err)
		}
	})

	t.Run("labels of other tools on other versions", func(t *testing.T) {
		t.Parallel()
		h, v := verifySetup(t, false)
		h.putByHand(t, thirdSecret, "BACKUP")
		if err := h.store.Verify(t.Context(), rotationA, false, v); err != nil {
			t.Errorf("Verify in new_issued: %v", err)
		}
		v = h.promote(t, rotationA, v)
		if err := h.store.Verify(t.Context(), rotationA, true, v); err != nil {
			t.Errorf("Verify in dual_active: %v", err)
		}
	})

	t.Run("AWSPREVIOUS on another version while new_issued", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, plain)
		// A write before the rotation leaves AWSPREVIOUS on the first version.
		if err := h.Write(t.Context(), thirdSecret); err != nil {
			t.Fatalf("write: %v", err)
		}
		v := h.stage(t, rotationA, newSecret)
		if err := h.store.Verify(t.Context(), rotationA, false, v); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

func TestVerifyErrors(t *testing.T) {
	t.Parallel()

	faults := []struct {
		name   string
		inject func(f *awsfake.Server)
		kind   error
		want   string
	}{
		{"denied DescribeSecret is an access error", func(f *awsfake.Server) { f.Deny("DescribeSecret") }, secretstore.ErrAccess, "secretsmanager:DescribeSecret"},
		{"throttled DescribeSecret is unavailable", func(f *awsfake.Server) { f.Throttle("DescribeSecret", awsstore.MaxAttempts) }, secretstore.ErrUnavailable, "ThrottlingException"},
		{"failing DescribeSecret is unavailable", func(f *awsfake.Server) { f.Fail("DescribeSecret", awsstore.MaxAttempts) }, secretstore.ErrUnavailable, "InternalServiceError"},
	}
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, v := verifySetup(t, true)
			tt.inject(h.fake)

			err := h.store.Verify(t.Context(), rotationA, true, v)

			wantKind(t, err, tt.kind, "Verify")
			if errors.Is(err, secretstore.ErrDrift) {
				t.Errorf("Verify() error = %q, want no drift", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}

	t.Run("missing secret is not found", func(t *testing.T) {
		t.Parallel()
		h, v := verifySetup(t, false)
		store, _ := h.MissingStore(t)

		err := store.(*awsstore.Store).Verify(t.Context(), rotationA, false, v)

		wantKind(t, err, secretstore.ErrNotFound, "Verify of a missing secret")
		if errors.Is(err, secretstore.ErrDrift) {
			t.Errorf("Verify() error = %q, want no drift", err)
		}
	})

	recorded := []struct {
		name     string
		promoted bool
		versions func(v secretstore.Versions) secretstore.Versions
	}{
		{"staged version of another rotation", false, func(v secretstore.Versions) secretstore.Versions {
			v.Staged = rotationB
			return v
		}},
		{"no old version", false, func(v secretstore.Versions) secretstore.Versions {
			v.Old = ""
			return v
		}},
		{"no promoted version", true, func(v secretstore.Versions) secretstore.Versions { return v }},
	}
	for _, tt := range recorded {
		t.Run(tt.name+" is not found", func(t *testing.T) {
			t.Parallel()
			h, v := verifySetup(t, false)
			before := h.fake.CountRequests("DescribeSecret")

			err := h.store.Verify(t.Context(), rotationA, tt.promoted, tt.versions(v))

			wantKind(t, err, secretstore.ErrNotFound, "Verify with versions this store did not return")
			if got := h.fake.CountRequests("DescribeSecret") - before; got != 0 {
				t.Errorf("DescribeSecret requests = %d, want 0", got)
			}
		})
	}
}
