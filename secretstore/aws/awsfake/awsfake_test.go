package awsfake_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
)

const (
	name   = "persium/cred-a"
	token1 = "11111111-1111-4111-8111-111111111111"
	token2 = "22222222-2222-4222-8222-222222222222"
)

// setup starts a fake with one secret whose current value is "v1" and
// returns the fake, a client and the id of that version.
func setup(t *testing.T) (*awsfake.Server, *secretsmanager.Client, string) {
	t.Helper()
	fake := awsfake.New(t)
	id, err := fake.Seed(name, "v1")
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return fake, fake.Client(), id
}

// wantCode fails the test unless err is an API error with code.
func wantCode(t *testing.T, err error, code, call string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("%s: error = %v, want an API error %s", call, err, code)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("%s: error code = %s, want %s", call, apiErr.ErrorCode(), code)
	}
}

func labels(t *testing.T, fake *awsfake.Server) map[string][]string {
	t.Helper()
	got, err := fake.Labels(name)
	if err != nil {
		t.Fatalf("Labels: %v", err)
	}
	return got
}

func put(t *testing.T, c *secretsmanager.Client, token, value string, stages ...string) *secretsmanager.PutSecretValueOutput {
	t.Helper()
	out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: stages,
	})
	if err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	return out
}

func move(c *secretsmanager.Client, t *testing.T, label, to, from string) error {
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(label)}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	_, err := c.UpdateSecretVersionStage(t.Context(), in)
	return err
}

func TestGetSecretValue(t *testing.T) {
	t.Parallel()

	t.Run("default is AWSCURRENT", func(t *testing.T) {
		t.Parallel()
		_, c, first := setup(t)
		out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatalf("GetSecretValue: %v", err)
		}
		if aws.ToString(out.VersionId) != first || aws.ToString(out.SecretString) != "v1" {
			t.Errorf("GetSecretValue() = version %s, want %s with v1", aws.ToString(out.VersionId), first)
		}
		if diff := cmp.Diff([]string{"AWSCURRENT"}, out.VersionStages); diff != "" {
			t.Errorf("VersionStages (-want +got):\n%s", diff)
		}
	})

	t.Run("by ARN and by partial ARN", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		arn, _ := fake.ARN(name)
		for _, id := range []string{arn, arn[:len(arn)-7]} {
			if _, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}); err != nil {
				t.Errorf("GetSecretValue(%s): %v", id, err)
			}
		}
	})

	t.Run("unknown secret, label and version are not found", func(t *testing.T) {
		t.Parallel()
		_, c, _ := setup(t)
		inputs := map[string]*secretsmanager.GetSecretValueInput{
			"secret":  {SecretId: aws.String("missing")},
			"label":   {SecretId: aws.String(name), VersionStage: aws.String("AWSPENDING")},
			"version": {SecretId: aws.String(name), VersionId: aws.String(token1)},
		}
		for what, in := range inputs {
			_, err := c.GetSecretValue(t.Context(), in)
			wantCode(t, err, "ResourceNotFoundException", "GetSecretValue of an unknown "+what)
		}
	})

	t.Run("short version id fails validation", func(t *testing.T) {
		t.Parallel()
		_, c, _ := setup(t)
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String("3")})
		wantCode(t, err, "ValidationException", "GetSecretValue(VersionId 3)")
	})

	t.Run("deprecated version stays readable by id", func(t *testing.T) {
		t.Parallel()
		fake, c, first := setup(t)
		put(t, c, token1, "v2")
		put(t, c, token2, "v3")

		if got := labels(t, fake)[first]; got != nil {
			t.Fatalf("labels of the first version = %v, want none", got)
		}
		out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(first)})
		if err != nil {
			t.Fatalf("GetSecretValue(deprecated): %v", err)
		}
		if aws.ToString(out.SecretString) != "v1" || len(out.VersionStages) != 0 {
			t.Errorf("GetSecretValue(deprecated) = %q with stages %v, want v1 with none", aws.ToString(out.SecretString), out.VersionStages)
		}
	})
}

func TestPutSecretValue(t *testing.T) {
	t.Parallel()

	t.Run("without stages moves AWSCURRENT and AWSPREVIOUS", func(t *testing.T) {
		t.Parallel()
		fake, c, first := setup(t)
		put(t, c, token1, "v2")

		want := map[string][]string{first: {"AWSPREVIOUS"}, token1: {"AWSCURRENT"}}
		if diff := cmp.Diff(want, labels(t, fake)); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})

	t.Run("with stages keeps AWSCURRENT", func(t *testing.T) {
		t.Parallel()
		fake, c, first := setup(t)
		out := put(t, c, token1, "v2", "ROTOR_PENDING")

		if diff := cmp.Diff([]string{"ROTOR_PENDING"}, out.VersionStages); diff != "" {
			t.Errorf("PutSecretValue().VersionStages (-want +got):\n%s", diff)
		}
		want := map[string][]string{first: {"AWSCURRENT"}, token1: {"ROTOR_PENDING"}}
		if diff := cmp.Diff(want, labels(t, fake)); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})

	t.Run("same token and value writes nothing", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		first := put(t, c, token1, "v2", "ROTOR_PENDING")
		before, _ := fake.Versions(name)

		second := put(t, c, token1, "v2", "OTHER")

		if aws.ToString(second.VersionId) != aws.ToString(first.VersionId) {
			t.Errorf("repeated PutSecretValue() VersionId = %s, want %s", aws.ToString(second.VersionId), aws.ToString(first.VersionId))
		}
		after, _ := fake.Versions(name)
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("versions changed by a repeated put (-before +after):\n%s", diff)
		}
	})

	t.Run("same token with another value is ResourceExistsException", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		put(t, c, token1, "v2", "ROTOR_PENDING")

		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(name), ClientRequestToken: aws.String(token1), SecretString: aws.String("v3"),
		})

		wantCode(t, err, "ResourceExistsException", "PutSecretValue with a used token")
		if versions, _ := fake.Versions(name); len(versions) != 2 {
			t.Errorf("secret has %d versions, want 2", len(versions))
		}
	})

	t.Run("short token fails validation", func(t *testing.T) {
		t.Parallel()
		_, c, _ := setup(t)
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(name), ClientRequestToken: aws.String("rotation-a"), SecretString: aws.String("v2"),
		})
		wantCode(t, err, "ValidationException", "PutSecretValue with a 10-character token")
	})
}

func TestUpdateSecretVersionStage(t *testing.T) {
	t.Parallel()

	t.Run("moving AWSCURRENT puts AWSPREVIOUS on the old version", func(t *testing.T) {
		t.Parallel()
		fake, c, first := setup(t)
		put(t, c, token1, "v2", "ROTOR_PENDING")

		if err := move(c, t, "AWSCURRENT", token1, first); err != nil {
			t.Fatalf("move AWSCURRENT: %v", err)
		}

		want := map[string][]string{first: {"AWSPREVIOUS"}, token1: {"AWSCURRENT", "ROTOR_PENDING"}}
		if diff := cmp.Diff(want, labels(t, fake)); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})

	t.Run("moving back swaps AWSCURRENT and AWSPREVIOUS", func(t *testing.T) {
		t.Parallel()
		fake, c, first := setup(t)
		put(t, c, token1, "v2")

		if err := move(c, t, "AWSCURRENT", first, token1); err != nil {
			t.Fatalf("move AWSCURRENT back: %v", err)
		}

		want := map[string][]string{first: {"AWSCURRENT"}, token1: {"AWSPREVIOUS"}}
		if diff := cmp.Diff(want, labels(t, fake)); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})

	t.Run("wrong or missing RemoveFromVersionId is rejected", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		put(t, c, token1, "v2", "ROTOR_PENDING")
		put(t, c, token2, "v3", "OTHER")
		before := labels(t, fake)

		wantCode(t, move(c, t, "AWSCURRENT", token1, token2), "InvalidParameterException", "move with the wrong RemoveFromVersionId")
		wantCode(t, move(c, t, "AWSCURRENT", token1, ""), "InvalidParameterException", "move without RemoveFromVersionId")
		wantCode(t, move(c, t, "ROTOR_PENDING", "", token2), "InvalidParameterException", "remove from a version without the label")

		if diff := cmp.Diff(before, labels(t, fake)); diff != "" {
			t.Errorf("labels changed by rejected requests (-before +after):\n%s", diff)
		}
	})

	t.Run("AWSCURRENT cannot be removed", func(t *testing.T) {
		t.Parallel()
		_, c, first := setup(t)
		wantCode(t, move(c, t, "AWSCURRENT", "", first), "InvalidParameterException", "remove AWSCURRENT")
	})

	t.Run("last label removed deprecates the version", func(t *testing.T) {
		t.Parallel()
		_, c, first := setup(t)
		put(t, c, token1, "v2", "ROTOR_PENDING")

		if err := move(c, t, "ROTOR_PENDING", "", token1); err != nil {
			t.Fatalf("remove ROTOR_PENDING: %v", err)
		}

		desc, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeSecret: %v", err)
		}
		if diff := cmp.Diff(map[string][]string{first: {"AWSCURRENT"}}, desc.VersionIdsToStages); diff != "" {
			t.Errorf("VersionIdsToStages (-want +got):\n%s", diff)
		}
		for _, deprecated := range []bool{false, true} {
			list, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(deprecated)})
			if err != nil {
				t.Fatalf("ListSecretVersionIds: %v", err)
			}
			var ids []string
			for _, v := range list.Versions {
				ids = append(ids, aws.ToString(v.VersionId))
			}
			want := []string{first}
			if deprecated {
				want = append(want, token1)
			}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("ListSecretVersionIds(IncludeDeprecated %t) (-want +got):\n%s", deprecated, diff)
			}
		}
	})

	t.Run("unknown version is not found", func(t *testing.T) {
		t.Parallel()
		_, c, first := setup(t)
		wantCode(t, move(c, t, "AWSCURRENT", token1, first), "ResourceNotFoundException", "move to an unknown version")
	})
}

func TestListSecretVersionIdsPages(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	for range 4 {
		if _, err := fake.Put(name, "v"); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}

	var got int
	pages := secretsmanager.NewListSecretVersionIdsPaginator(c, &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		got += len(page.Versions)
	}
	if got != 5 {
		t.Errorf("versions over all pages = %d, want 5", got)
	}
}

func TestPruning(t *testing.T) {
	t.Parallel()
	fake, c, first := setup(t)
	fake.SetPruning(3, 0)
	put(t, c, token1, "v2", "KEEP")

	// Each write without labels moves AWSCURRENT and AWSPREVIOUS, so the
	// version they leave is deprecated.
	var last string
	for range 4 {
		id, err := fake.Put(name, "v")
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		last = id
	}

	versions, _ := fake.Versions(name)
	var ids []string
	for _, v := range versions {
		ids = append(ids, v.ID)
		if v.Deprecated() {
			t.Errorf("version %s is deprecated but was not pruned", v.ID)
		}
	}
	if !slices.Contains(ids, token1) {
		t.Errorf("labelled version %s was pruned", token1)
	}
	if slices.Contains(ids, first) {
		t.Errorf("deprecated version %s was kept", first)
	}
	if len(ids) != 3 || ids[len(ids)-1] != last {
		t.Errorf("versions after pruning = %d ending %s, want 3 ending %s", len(ids), ids[len(ids)-1], last)
	}
}

func TestPruningKeepsYoungVersions(t *testing.T) {
	t.Parallel()
	fake, _, first := setup(t)
	fake.SetPruning(1, awsfake.DefaultMinPruneAge)
	for range 3 {
		if _, err := fake.Put(name, "v"); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	versions, _ := fake.Versions(name)
	if len(versions) != 4 || versions[0].ID != first {
		t.Errorf("versions = %d starting %s, want all 4 kept because none is 24 hours old", len(versions), versions[0].ID)
	}
}

func TestDescribeSecretRotationEnabled(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	if err := fake.SetRotationEnabled(name, true, lambda); err != nil {
		t.Fatalf("SetRotationEnabled: %v", err)
	}

	desc, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	if !aws.ToBool(desc.RotationEnabled) || aws.ToString(desc.RotationLambdaARN) != lambda {
		t.Errorf("RotationEnabled = %t with %q, want true with %q", aws.ToBool(desc.RotationEnabled), aws.ToString(desc.RotationLambdaARN), lambda)
	}
}

func TestScheduledDeletion(t *testing.T) {
	t.Parallel()
	fake, c, id := setup(t)
	at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := fake.ScheduleDeletion(name, at); err != nil {
		t.Fatalf("ScheduleDeletion: %v", err)
	}

	desc, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	if got := aws.ToTime(desc.DeletedDate); !got.Equal(at) {
		t.Errorf("DeletedDate = %v, want %v", got, at)
	}
	if got := desc.VersionIdsToStages[id]; !slices.Equal(got, []string{awsfake.LabelCurrent}) {
		t.Errorf("labels of the first version = %v, want [AWSCURRENT]", got)
	}

	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	wantCode(t, err, "InvalidRequestException", "GetSecretValue")
	_, err = c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), ClientRequestToken: aws.String(token1), SecretString: aws.String("v2"),
	})
	wantCode(t, err, "InvalidRequestException", "PutSecretValue")
	wantCode(t, move(c, t, awsfake.LabelPrevious, id, ""), "InvalidRequestException", "UpdateSecretVersionStage")

	if err := fake.ScheduleDeletion(name, time.Time{}); err != nil {
		t.Fatalf("ScheduleDeletion to restore: %v", err)
	}
	if _, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}); err != nil {
		t.Errorf("GetSecretValue after restore: %v", err)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("deny is AccessDeniedException", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		fake.Deny(awsfake.WriteOps)

		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("v2")})
		wantCode(t, err, "AccessDeniedException", "PutSecretValue while denied")

		if _, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}); err != nil {
			t.Errorf("GetSecretValue while writes are denied: %v", err)
		}
	})

	t.Run("throttling is retried by the SDK up to its limit", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		fake.Throttle("GetSecretValue", 2)

		if _, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}); err != nil {
			t.Fatalf("GetSecretValue after 2 throttled attempts: %v", err)
		}

		fake.Throttle("GetSecretValue", 10)
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		wantCode(t, err, "ThrottlingException", "GetSecretValue while throttled")
		if got, want := fake.PendingFaults(), 7; got != want {
			t.Errorf("PendingFaults() = %d, want %d after 3 attempts", got, want)
		}
	})

	t.Run("lost response with the same token leaves one version", func(t *testing.T) {
		t.Parallel()
		for _, f := range []awsfake.Fault{
			{Op: "PutSecretValue", Count: 1, Applied: true},
			{Op: "PutSecretValue", Count: 1, Applied: true, CloseConnection: true},
		} {
			fake, c, _ := setup(t)
			fake.Inject(f)

			out := put(t, c, token1, "v2", "ROTOR_PENDING")

			if aws.ToString(out.VersionId) != token1 {
				t.Errorf("PutSecretValue().VersionId = %s, want %s", aws.ToString(out.VersionId), token1)
			}
			if got := fake.CountRequests("PutSecretValue"); got != 2 {
				t.Errorf("PutSecretValue requests = %d, want 2 (the lost one and the SDK's retry)", got)
			}
			if versions, _ := fake.Versions(name); len(versions) != 2 {
				t.Errorf("secret has %d versions, want 2", len(versions))
			}
		}
	})

	t.Run("skip lets the first requests through", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		fake.Inject(awsfake.Fault{Op: awsfake.WriteOps, Skip: 1, Count: 10})

		put(t, c, token1, "v2", "ROTOR_PENDING")
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), ClientRequestToken: aws.String(token2), SecretString: aws.String("v3")})
		wantCode(t, err, "InternalServiceError", "second PutSecretValue")
	})

	t.Run("delay holds a request that the client gives up on", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		arrived := make(chan struct{}, 1)
		fake.Inject(awsfake.Fault{Op: "PutSecretValue", Count: 1, Delay: time.Minute, Before: func() { arrived <- struct{}{} }})

		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-arrived
			cancel()
		}()
		_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), ClientRequestToken: aws.String(token1), SecretString: aws.String("v2")})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("PutSecretValue held back and cancelled: %v, want context.Canceled", err)
		}
		if versions, _ := fake.Versions(name); len(versions) != 1 {
			t.Errorf("secret has %d versions after a held request was given up, want 1", len(versions))
		}
	})

	t.Run("delay without an error sends the real response", func(t *testing.T) {
		t.Parallel()
		fake, c, _ := setup(t)
		fake.Inject(awsfake.Fault{Op: "PutSecretValue", Count: 1, Delay: 50 * time.Millisecond})

		start := time.Now()
		put(t, c, token1, "v2", "ROTOR_PENDING")
		if took := time.Since(start); took < 50*time.Millisecond {
			t.Errorf("PutSecretValue took %s, want at least the 50ms delay", took)
		}
		if versions, _ := fake.Versions(name); len(versions) != 2 {
			t.Errorf("secret has %d versions, want 2", len(versions))
		}
	})

	t.Run("wrong access key is UnrecognizedClientException", func(t *testing.T) {
		t.Parallel()
		fake, _, _ := setup(t)
		c := fake.Client(func(o *secretsmanager.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider("AKIAOTHERKEY00000000", "other", "")
		})
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		wantCode(t, err, "UnrecognizedClientException", "GetSecretValue with another key")
	})
}
