package gcp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/gcp"
	"github.com/rotorhq/rotor/secretstore/gcp/gcpfake"
)

var _ rotation.DriftChecker = (*gcp.Store)(nil)

// openRotation is a rotation as the service records it: the versions and
// whether they were promoted.
type openRotation struct {
	promoted bool
	v        secretstore.Versions
}

// newIssued stages the new secret (version 2) over version 1.
func newIssued(t *testing.T, h *harness) openRotation {
	t.Helper()
	return openRotation{promoted: false, v: h.stage(t)}
}

// dualActive promotes the new secret (version 2) over version 1.
func dualActive(t *testing.T, h *harness) openRotation {
	t.Helper()
	return openRotation{promoted: true, v: h.stageAndPromote(t)}
}

func (h *harness) verify(t *testing.T, r openRotation) error {
	t.Helper()
	return h.store.Verify(t.Context(), rotationA, r.promoted, r.v)
}

// mustChange fails the test on an error of a change made by hand.
func mustChange(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("change the secret by hand: %v", err)
	}
}

func TestVerifyReportsDrift(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		open   func(t *testing.T, h *harness) openRotation
		change func(t *testing.T, h *harness)
		want   []string // parts of the message
	}{
		{
			name: "current moved by hand while new_issued",
			open: func(t *testing.T, h *harness) openRotation {
				h.addVersion(oldSecret) // version 2, so the stage is version 3
				return newIssued(t, h)
			},
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasCurrent, 2)) },
			want:   []string{"the current alias names version 2 instead of the old version 1", "consumers that read versions/current get a value rotor did not put there"},
		},
		{
			name:   "current moved to the staged version while new_issued",
			open:   newIssued,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasCurrent, 2)) },
			want:   []string{"names the staged version 2 instead of the old version 1", "get the new value before promotion", "if a promote of this rotation was cut short, repeat it"},
		},
		{
			name:   "current moved back by hand while dual_active",
			open:   dualActive,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasCurrent, 1)) },
			want:   []string{"the current alias names the old version 1 again instead of the new version 2", "consumers that read versions/current get the old value"},
		},
		{
			name:   "current removed while dual_active",
			open:   dualActive,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasCurrent, 0)) },
			want:   []string{"the current alias was removed from the new version 2", "versions/current get NOT_FOUND"},
		},
		{
			name: "old version disabled by hand during dual_active",
			open: dualActive,
			change: func(t *testing.T, h *harness) {
				mustChange(t, h.fake.SetVersionState(secretName, 1, secretmanagerpb.SecretVersion_DISABLED))
			},
			want: []string{"the old version 1 was disabled while both secrets should stay readable", "(through versions/previous or by number) get an error", "roll back is no longer possible"},
		},
		{
			name: "old version destroyed by hand during dual_active",
			open: dualActive,
			change: func(t *testing.T, h *harness) {
				mustChange(t, h.fake.SetVersionState(secretName, 1, secretmanagerpb.SecretVersion_DESTROYED))
			},
			want: []string{"the old version 1 was destroyed"},
		},
		{
			name: "old version disabled by hand while new_issued",
			open: newIssued,
			change: func(t *testing.T, h *harness) {
				mustChange(t, h.fake.SetVersionState(secretName, 1, secretmanagerpb.SecretVersion_DISABLED))
			},
			want: []string{"the old version 1 was disabled", "(through versions/current or by number) get an error"},
		},
		{
			name:   "previous removed during dual_active",
			open:   dualActive,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasPrevious, 0)) },
			want:   []string{"the previous alias was removed from the old version 1", "versions/previous get NOT_FOUND"},
		},
		{
			name:   "version added by hand while new_issued",
			open:   newIssued,
			change: func(t *testing.T, h *harness) { h.addVersion(oldSecret) },
			want:   []string{"enabled version 3 was added outside rotor after version 2", "readers of versions/latest now read version 3"},
		},
		{
			name:   "version added by hand during dual_active",
			open:   dualActive,
			change: func(t *testing.T, h *harness) { h.addVersion(oldSecret) },
			want:   []string{"enabled version 3 was added outside rotor after version 2", "readers of versions/latest now read version 3"},
		},
		{
			name: "versions added by hand with the newest disabled",
			open: newIssued,
			change: func(t *testing.T, h *harness) {
				h.addVersion(oldSecret)
				n := h.addVersion(oldSecret)
				mustChange(t, h.fake.SetVersionState(secretName, n, secretmanagerpb.SecretVersion_DISABLED))
			},
			want: []string{"enabled version 3 was added", "readers of versions/latest get an error, because the newest version, 4, was disabled"},
		},
		{
			name: "write by another tool while new_issued",
			open: newIssued,
			change: func(t *testing.T, h *harness) {
				if err := h.Write(t.Context(), oldSecret); err != nil {
					t.Fatalf("Write: %v", err)
				}
			},
			want: []string{"the current alias names version 3 instead of the old version 1", "enabled version 3 was added outside rotor"},
		},
		{
			name:   "pending moved by hand while new_issued",
			open:   newIssued,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasPending, 1)) },
			want:   []string{"the pending alias names version 1 instead of the staged version 2", "leaves promote without the staged value"},
		},
		{
			name:   "pending removed by hand while new_issued",
			open:   newIssued,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasPending, 0)) },
			want:   []string{"the pending alias was removed from the staged version 2"},
		},
		{
			name: "rotor annotation changed while new_issued",
			open: newIssued,
			change: func(t *testing.T, h *harness) {
				mustChange(t, h.fake.SetAnnotation(secretName, "rotor-pending-rotation", "rotation-b"))
			},
			want: []string{"rotor's annotations no longer record rotation rotation-a staging version 2 over version 1", `rotor-pending-rotation="rotation-b"`},
		},
		{
			name: "staged version disabled while new_issued",
			open: newIssued,
			change: func(t *testing.T, h *harness) {
				mustChange(t, h.fake.SetVersionState(secretName, 2, secretmanagerpb.SecretVersion_DISABLED))
			},
			want: []string{"the staged version 2 was disabled, so it can no longer be promoted"},
		},
		{
			name: "pending added by another tool during dual_active",
			open: dualActive,
			change: func(t *testing.T, h *harness) {
				if _, err := h.StageExternal(t.Context(), oldSecret); err != nil {
					t.Fatalf("StageExternal: %v", err)
				}
			},
			want: []string{"the pending alias names version 3 as if another tool were staging a value", "makes roll back fail with a conflict", "enabled version 3 was added"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, jsonFormat)
			r := tt.open(t, h)
			tt.change(t, h)
			before := h.secretState()

			err := h.verify(t, r)

			wantKind(t, err, secretstore.ErrDrift, "Verify")
			for _, want := range append(tt.want, "verify", secretName) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Verify error = %q, want it to contain %q", err, want)
				}
			}
			if diff := cmp.Diff(before, h.secretState()); diff != "" {
				t.Errorf("Verify changed the secret (-before +after):\n%s", diff)
			}
			again := h.verify(t, r)
			if again == nil || again.Error() != err.Error() {
				t.Errorf("second Verify error = %v, want the same message as the first, %q", again, err)
			}
		})
	}
}

func TestVerifyIgnoresOtherChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		open   func(t *testing.T, h *harness) openRotation
		change func(t *testing.T, h *harness)
	}{
		{
			name:   "canary alias set while new_issued",
			open:   newIssued,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, "canary", 2)) },
		},
		{
			name: "canary alias moved during dual_active",
			open: func(t *testing.T, h *harness) openRotation {
				mustChange(t, h.fake.SetAlias(secretName, "canary", 1))
				return dualActive(t, h)
			},
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, "canary", 2)) },
		},
		{
			name: "canary alias removed during dual_active",
			open: func(t *testing.T, h *harness) openRotation {
				mustChange(t, h.fake.SetAlias(secretName, "canary", 1))
				return dualActive(t, h)
			},
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, "canary", 0)) },
		},
		{
			name: "labels changed while new_issued",
			open: newIssued,
			change: func(t *testing.T, h *harness) {
				mustChange(t, h.fake.SetLabel(secretName, "team", "identity"))
				mustChange(t, h.fake.SetLabel(secretName, "canary", "true"))
			},
		},
		{
			name:   "label changed during dual_active",
			open:   dualActive,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetLabel(secretName, "canary", "true")) },
		},
		{
			name:   "other annotation added during dual_active",
			open:   dualActive,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAnnotation(secretName, "owner", "platform")) },
		},
		{
			name:   "previous alias set while new_issued",
			open:   newIssued,
			change: func(t *testing.T, h *harness) { mustChange(t, h.fake.SetAlias(secretName, gcp.AliasPrevious, 1)) },
		},
		{
			name: "newer version added and disabled during dual_active",
			open: dualActive,
			change: func(t *testing.T, h *harness) {
				n := h.addVersion(oldSecret)
				mustChange(t, h.fake.SetVersionState(secretName, n, secretmanagerpb.SecretVersion_DISABLED))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, jsonFormat)
			r := tt.open(t, h)
			tt.change(t, h)

			if err := h.verify(t, r); err != nil {
				t.Errorf("Verify: %v, want nil", err)
			}
		})
	}
}

// TestVerifyReadsMetadataOnly checks that Verify neither writes nor reads
// a payload.
func TestVerifyReadsMetadataOnly(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(*testing.T, *harness) openRotation{"new_issued": newIssued, "dual_active": dualActive} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, oldSecret, jsonFormat)
			r := open(t, h)
			before := len(h.fake.Calls())

			if err := h.verify(t, r); err != nil {
				t.Fatalf("Verify: %v", err)
			}

			got := h.fake.Calls()[before:]
			if diff := cmp.Diff([]string{"GetSecret", "ListSecretVersions"}, got); diff != "" {
				t.Errorf("Secret Manager calls of Verify (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	t.Parallel()

	notDrift := func(t *testing.T, err error) {
		t.Helper()
		if errors.Is(err, secretstore.ErrDrift) {
			t.Errorf("Verify error = %q is drift, want a backend error only", err)
		}
	}

	t.Run("denied GetSecret is an access error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		r := dualActive(t, h)
		h.fake.FailNext("GetSecret", 1, codes.PermissionDenied, false)

		err := h.verify(t, r)

		wantKind(t, err, secretstore.ErrAccess, "Verify without permission")
		notDrift(t, err)
	})

	t.Run("denied ListSecretVersions is an access error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		r := newIssued(t, h)
		h.fake.FailNext("ListSecretVersions", 1, codes.PermissionDenied, false)

		err := h.verify(t, r)

		wantKind(t, err, secretstore.ErrAccess, "Verify without permission to list versions")
		notDrift(t, err)
	})

	t.Run("unavailable Secret Manager is unavailable", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		r := newIssued(t, h)
		h.fake.Inject(gcpfake.Fault{Methods: []string{"GetSecret"}, Count: 10, Code: codes.Unavailable})

		err := h.verify(t, r)

		wantKind(t, err, secretstore.ErrUnavailable, "Verify while Secret Manager is unavailable")
		notDrift(t, err)
	})

	t.Run("recorded versions that are not numbers are invalid", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		h.stage(t)

		err := h.store.Verify(t.Context(), rotationA, true, secretstore.Versions{Old: "1", Staged: "2"})

		wantKind(t, err, secretstore.ErrInvalid, "Verify of a promotion without a new version")
	})

	t.Run("expired secret is drift", func(t *testing.T) {
		t.Parallel()
		h := setup(t, oldSecret, secretstore.Format{})
		r := dualActive(t, h)
		_, err := h.client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
			Secret:     &secretmanagerpb.Secret{Name: secretName, Expiration: &secretmanagerpb.Secret_Ttl{Ttl: durationpbHours(1)}},
			UpdateMask: fieldMask("ttl"),
		})
		if err != nil {
			t.Fatalf("set ttl: %v", err)
		}
		h.fake.SetClock(func() time.Time { return time.Now().UTC().Add(2 * time.Hour) })

		err = h.verify(t, r)

		wantKind(t, err, secretstore.ErrDrift, "Verify of an expired secret")
		if !strings.Contains(err.Error(), "the secret no longer exists") {
			t.Errorf("Verify error = %q, want it to say that the secret no longer exists", err)
		}
	})
}
