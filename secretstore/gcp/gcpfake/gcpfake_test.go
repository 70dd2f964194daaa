package gcpfake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/rotorhq/rotor/secretstore/gcp/gcpfake"
)

const (
	project = "projects/rotor-test"
	name    = project + "/secrets/persium-cred-a"
)

// setup starts a fake with a secret whose versions hold the given data,
// through the real client.
func setup(t *testing.T, data ...string) (*gcpfake.Server, *secretmanager.Client) {
	t.Helper()
	fake := gcpfake.New(t)
	client := fake.Client(t)
	_, err := client.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{
		Parent:   project,
		SecretId: "persium-cred-a",
		Secret: &secretmanagerpb.Secret{
			Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}},
			Labels:      map[string]string{"team": "payments"},
		},
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	for _, d := range data {
		if _, err := client.AddSecretVersion(t.Context(), addRequest(d)); err != nil {
			t.Fatalf("AddSecretVersion: %v", err)
		}
	}
	return fake, client
}

func addRequest(data string) *secretmanagerpb.AddSecretVersionRequest {
	sum := gcpfake.CRC32C([]byte(data))
	return &secretmanagerpb.AddSecretVersionRequest{
		Parent:  name,
		Payload: &secretmanagerpb.SecretPayload{Data: []byte(data), DataCrc32C: &sum},
	}
}

func access(ctx context.Context, client *secretmanager.Client, version string) (string, string, error) {
	resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/" + version})
	if err != nil {
		return "", "", err
	}
	return resp.GetName(), string(resp.GetPayload().GetData()), nil
}

func wantCode(t *testing.T, err error, want codes.Code, call string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: code = %s (%v), want %s", call, got, err, want)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()

	t.Run("latest is newest version", func(t *testing.T) {
		t.Parallel()
		_, client := setup(t, "one", "two")
		gotName, gotData, err := access(t.Context(), client, "latest")
		if err != nil {
			t.Fatalf("access latest: %v", err)
		}
		if gotName != name+"/versions/2" || gotData != "two" {
			t.Errorf("access latest = %s, %q; want version 2, \"two\"", gotName, gotData)
		}
	})

	t.Run("latest fails when newest is disabled", func(t *testing.T) {
		t.Parallel()
		_, client := setup(t, "one", "two")
		if _, err := client.DisableSecretVersion(t.Context(), &secretmanagerpb.DisableSecretVersionRequest{Name: name + "/versions/2"}); err != nil {
			t.Fatalf("DisableSecretVersion: %v", err)
		}
		_, _, err := access(t.Context(), client, "latest")
		wantCode(t, err, codes.FailedPrecondition, "access latest")
		if _, data, err := access(t.Context(), client, "1"); err != nil || data != "one" {
			t.Errorf("access 1 = %q, %v; want \"one\"", data, err)
		}
	})

	t.Run("alias resolves to its version", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t, "one", "two")
		if err := fake.SetAlias(name, "current", 1); err != nil {
			t.Fatalf("SetAlias: %v", err)
		}
		gotName, gotData, err := access(t.Context(), client, "current")
		if err != nil || gotName != name+"/versions/1" || gotData != "one" {
			t.Errorf("access current = %s, %q, %v; want version 1, \"one\"", gotName, gotData, err)
		}
	})

	t.Run("unknown version and alias are not found", func(t *testing.T) {
		t.Parallel()
		_, client := setup(t, "one")
		for _, v := range []string{"9", "canary"} {
			_, _, err := access(t.Context(), client, v)
			wantCode(t, err, codes.NotFound, "access "+v)
		}
	})

	t.Run("destroyed version is a failed precondition", func(t *testing.T) {
		t.Parallel()
		_, client := setup(t, "one", "two")
		if _, err := client.DestroySecretVersion(t.Context(), &secretmanagerpb.DestroySecretVersionRequest{Name: name + "/versions/1"}); err != nil {
			t.Fatalf("DestroySecretVersion: %v", err)
		}
		_, _, err := access(t.Context(), client, "1")
		wantCode(t, err, codes.FailedPrecondition, "access destroyed")
		_, err = client.DisableSecretVersion(t.Context(), &secretmanagerpb.DisableSecretVersionRequest{Name: name + "/versions/1"})
		wantCode(t, err, codes.FailedPrecondition, "disable destroyed")
		_, err = client.DestroySecretVersion(t.Context(), &secretmanagerpb.DestroySecretVersionRequest{Name: name + "/versions/1"})
		wantCode(t, err, codes.FailedPrecondition, "destroy destroyed")
	})
}

func TestAddSecretVersion(t *testing.T) {
	t.Parallel()

	t.Run("checksum mismatch is rejected", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t)
		req := addRequest("value")
		*req.Payload.DataCrc32C++
		_, err := client.AddSecretVersion(t.Context(), req)
		wantCode(t, err, codes.InvalidArgument, "AddSecretVersion with a wrong checksum")
		if sec, _ := fake.Secret(name); len(sec.Versions) != 0 {
			t.Errorf("versions after a rejected add = %d, want 0", len(sec.Versions))
		}
	})

	t.Run("every call adds a version", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t)
		for range 2 {
			if _, err := client.AddSecretVersion(t.Context(), addRequest("same")); err != nil {
				t.Fatalf("AddSecretVersion: %v", err)
			}
		}
		if sec, _ := fake.Secret(name); len(sec.Versions) != 2 {
			t.Errorf("versions after two identical adds = %d, want 2", len(sec.Versions))
		}
	})

	t.Run("applied fault adds version yet fails", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t)
		fake.FailNext("AddSecretVersion", 1, codes.Unavailable, true)
		_, err := client.AddSecretVersion(t.Context(), addRequest("value"))
		wantCode(t, err, codes.Unavailable, "AddSecretVersion")
		if sec, _ := fake.Secret(name); len(sec.Versions) != 1 {
			t.Errorf("versions = %d, want 1: the call took effect", len(sec.Versions))
		}
	})
}

func TestUpdateSecret(t *testing.T) {
	t.Parallel()

	t.Run("stale etag is a failed precondition", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t, "one")
		sec, err := client.GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: name})
		if err != nil {
			t.Fatalf("GetSecret: %v", err)
		}
		if err := fake.SetLabel(name, "team", "identity"); err != nil {
			t.Fatalf("SetLabel: %v", err)
		}
		sec.VersionAliases = map[string]int64{"current": 1}
		_, err = client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
			Secret:     sec,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version_aliases"}},
		})
		wantCode(t, err, codes.FailedPrecondition, "UpdateSecret with a stale etag")
		if got, _ := fake.Secret(name); len(got.Aliases) != 0 {
			t.Errorf("aliases after a rejected update = %v, want none", got.Aliases)
		}
	})

	t.Run("mask limits the change", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t, "one")
		_, err := client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
			Secret:     &secretmanagerpb.Secret{Name: name, VersionAliases: map[string]int64{"current": 1}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version_aliases"}},
		})
		if err != nil {
			t.Fatalf("UpdateSecret: %v", err)
		}
		got, _ := fake.Secret(name)
		if diff := cmp.Diff(map[string]string{"team": "payments"}, got.Labels); diff != "" {
			t.Errorf("labels changed by an alias update (-want +got):\n%s", diff)
		}
		if got.Aliases["current"] != 1 {
			t.Errorf("aliases = %v, want current:1", got.Aliases)
		}
	})

	t.Run("invalid aliases are rejected", func(t *testing.T) {
		t.Parallel()
		_, client := setup(t, "one")
		for _, aliases := range []map[string]int64{{"latest": 1}, {"NEW": 1}, {"1st": 1}, {"current": 7}} {
			_, err := client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
				Secret:     &secretmanagerpb.Secret{Name: name, VersionAliases: aliases},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version_aliases"}},
			})
			wantCode(t, err, codes.InvalidArgument, "UpdateSecret with aliases")
		}
	})
}

func TestExpiration(t *testing.T) {
	t.Parallel()
	fake, client := setup(t, "one")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake.SetClock(func() time.Time { return now })
	_, err := client.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: name, Expiration: &secretmanagerpb.Secret_Ttl{Ttl: durationpb.New(time.Hour)}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"ttl"}},
	})
	if err != nil {
		t.Fatalf("UpdateSecret ttl: %v", err)
	}
	sec, err := client.GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: name})
	if err != nil {
		t.Fatalf("GetSecret: %v", err)
	}
	if got, want := sec.GetExpireTime().AsTime(), now.Add(time.Hour); !got.Equal(want) {
		t.Errorf("expire_time = %v, want %v", got, want)
	}

	now = now.Add(time.Hour)

	_, err = client.GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: name})
	wantCode(t, err, codes.NotFound, "GetSecret after expiry")
}

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("echoed request reaches the message", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t)
		fake.Inject(gcpfake.Fault{Methods: []string{"AddSecretVersion"}, Count: 1, Code: codes.Internal, EchoRequest: true})
		_, err := client.AddSecretVersion(t.Context(), addRequest("canary-value"))
		if !strings.Contains(err.Error(), "canary-value") {
			t.Errorf("error = %v, want the echoed request in it", err)
		}
	})

	t.Run("crash applies one call then fails all", func(t *testing.T) {
		t.Parallel()
		fake, client := setup(t)
		fake.CrashAfter(1)
		if _, err := client.AddSecretVersion(t.Context(), addRequest("a")); err != nil {
			t.Fatalf("first AddSecretVersion: %v", err)
		}
		_, err := client.AddSecretVersion(t.Context(), addRequest("b"))
		wantCode(t, err, codes.Unavailable, "second AddSecretVersion")
		_, err = client.AddSecretVersion(t.Context(), addRequest("c"))
		wantCode(t, err, codes.Unavailable, "third AddSecretVersion")
		if sec, _ := fake.Secret(name); len(sec.Versions) != 2 {
			t.Errorf("versions = %d, want 2: the first call and the one whose response was lost", len(sec.Versions))
		}
	})
}
