// Package awsfake is an in-process HTTP server that speaks enough of the AWS
// Secrets Manager JSON 1.1 protocol for the official Go SDK client
// (github.com/aws/aws-sdk-go-v2/service/secretsmanager) to drive it
// unmodified, with BaseEndpoint set to URL and static credentials. Each
// request is a POST to / with X-Amz-Target "secretsmanager.<Operation>" and
// Content-Type application/x-amz-json-1.1.
//
// Operations: CreateSecret, GetSecretValue, PutSecretValue,
// UpdateSecretVersionStage, DescribeSecret and ListSecretVersionIds, with
// the semantics of the Secrets Manager API reference
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/):
//
//   - PutSecretValue, ClientRequestToken: the token becomes the VersionId. A
//     repeat with the same token and the same SecretString changes nothing
//     and returns that version; the same token with another value is
//     ResourceExistsException (API_PutSecretValue, and the SDK's
//     PutSecretValueInput documentation).
//   - PutSecretValue, VersionStages: the labels are moved onto the new
//     version. Without VersionStages the new version gets AWSCURRENT, and
//     the first version of a secret always gets it (API_PutSecretValue).
//   - UpdateSecretVersionStage: a label is on at most one version. Moving
//     it off another version needs RemoveFromVersionId naming that version,
//     or the request fails with InvalidParameterException. Moving
//     AWSCURRENT puts AWSPREVIOUS on the version it left
//     (API_UpdateSecretVersionStage). AWSCURRENT can only be moved, never
//     removed (the Terraform AWS provider documents the same for
//     aws_secretsmanager_secret_version).
//   - A version without labels is deprecated: DescribeSecret's
//     VersionIdsToStages omits it, and ListSecretVersionIds lists it only
//     with IncludeDeprecated (API_ListSecretVersionIds). Once a secret has
//     more than VersionLimit versions (100, as API_PutSecretValue states),
//     each new version prunes the oldest deprecated versions that are at
//     least MinPruneAge old (24 hours in AWS). Labelled versions are never
//     pruned.
//   - A secret scheduled for deletion (ScheduleDeletion) has DeletedDate
//     in DescribeSecret, and its value cannot be read or changed until it
//     is restored (API_DescribeSecret). GetSecretValue, PutSecretValue and
//     UpdateSecretVersionStage fail with InvalidRequestException, whose
//     documented causes include a secret scheduled for deletion.
//   - Errors have the body {"__type": "...", "message": "..."} and the
//     status codes of the API reference's Common Errors page: 400 for
//     AccessDeniedException, ThrottlingException and the client errors,
//     500 for InternalServiceError.
//
// NOTE: GetSecretValue with the VersionId of a deprecated version returns
// its value until the version is pruned. The API reference does not state
// this either way; it follows from deprecated versions being listed and
// deleted only later.
//
// The fake checks that the access key in the Authorization header is the
// server's and returns UnrecognizedClientException otherwise, but it does
// not verify signatures. It keeps everything in memory and has no IAM
// policies, KMS, SecretBinary, replication or rotation functions, and it
// never deletes a secret. Tests can inject faults (AccessDeniedException,
// ThrottlingException, 5xx, and a response lost after the request took
// effect), change the stored state as another tool would, and inspect every
// version with its labels and value.
package awsfake

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Defaults of the fake. AccessKeyID and SecretAccessKey are the static
// credentials Client signs with; they are fake values, not real keys.
const (
	Region          = "us-east-1"
	AccountID       = "123456789012"
	AccessKeyID     = "AKIAFAKEROTORTEST001"
	SecretAccessKey = "fake/secret/access/key/for/tests/only0001"

	// DefaultVersionLimit is the number of versions above which a new
	// version prunes deprecated ones, as in AWS.
	DefaultVersionLimit = 100

	// DefaultMinPruneAge is how old a deprecated version must be before it
	// is pruned, as in AWS.
	DefaultMinPruneAge = 24 * time.Hour
)

// The staging labels that Secrets Manager itself gives a meaning.
const (
	LabelCurrent  = "AWSCURRENT"
	LabelPrevious = "AWSPREVIOUS"
	LabelPending  = "AWSPENDING"
)

// Server is a fake Secrets Manager endpoint. It is safe for concurrent use.
type Server struct {
	http *httptest.Server

	mu           sync.Mutex
	secrets      map[string]*secret // by name
	faults       []*Fault
	requests     []string
	now          func() time.Time
	versionLimit int
	minPruneAge  time.Duration
}

// New starts a Server for a test and closes it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server on 127.0.0.1 with no secrets. The caller must call
// Close.
func Start() *Server {
	s := &Server{
		secrets:      map[string]*secret{},
		now:          func() time.Time { return time.Now().UTC() },
		versionLimit: DefaultVersionLimit,
		minPruneAge:  DefaultMinPruneAge,
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Close shuts the server down and waits for requests in flight.
func (s *Server) Close() { s.http.Close() }

// URL is the endpoint to give the client as BaseEndpoint, such as
// http://127.0.0.1:41234.
func (s *Server) URL() string { return s.http.URL }

// SetPruning changes when new versions prune deprecated ones: above limit
// versions, the oldest deprecated versions at least minAge old go.
func (s *Server) SetPruning(limit int, minAge time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versionLimit, s.minPruneAge = limit, minAge
}

// SetClock replaces the clock that stamps versions and decides their age.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Client returns an SDK client for the server, signed with AccessKeyID.
// Its retryer makes up to 3 attempts, as the SDK's standard retryer does,
// but waits only a millisecond between them and has no retry quota, so
// tests that inject faults stay fast and independent. optFns change the
// options further, for example to use other credentials.
func (s *Server) Client(optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   s.http.Client(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = retry.DefaultMaxAttempts
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
				return time.Millisecond, nil
			})
		}),
	}, optFns...)
}

// Requests returns the operation names of every request received so far,
// oldest first, including requests that a fault failed.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// CountRequests returns how many requests for operation were received.
func (s *Server) CountRequests(operation string) int {
	n := 0
	for _, op := range s.Requests() {
		if op == operation {
			n++
		}
	}
	return n
}
