// Package gcpfake is an in-process gRPC server that implements enough of
// Google Cloud Secret Manager (google.cloud.secretmanager.v1) for the
// official Go client (cloud.google.com/go/secretmanager/apiv1) to work
// against it unmodified, over plain-text gRPC on 127.0.0.1.
//
// It follows Google's documented semantics in the parts rotor relies on,
// and each handler names the page it follows:
//
//   - "latest" is the most recently created version, whatever its state,
//     so accessing it fails once that version is disabled or destroyed;
//   - version aliases, labels and annotations replaced by UpdateSecret
//     under an update mask, with the etag checked when one is sent;
//   - AddSecretVersion verifies data_crc32c and has no idempotency key, so
//     every call adds a version;
//   - disable, enable and destroy with the version's etag, and
//     FAILED_PRECONDITION for a destroyed version;
//   - expire_time and ttl, after which the secret and every version are
//     deleted, and version_destroy_ttl, which delays destruction.
//
// Tests can inject faults per method: any status code, applied or not
// before the error, delays, and a concurrent change before the request.
// They can stop the server's effects after a number of calls, as a crash
// of the caller would, and inspect or change the stored state directly.
// Everything lives in memory.
//
// Unsupported: IAM methods, ListSecrets filters, regional secrets under
// projects/*/locations/*, customer-managed encryption, Pub/Sub topics and
// managed rotation. Authentication is not checked; PERMISSION_DENIED comes
// only from an injected fault.
package gcpfake

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Server is a fake Secret Manager. It is safe for concurrent use.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	grpc *grpc.Server
	lis  net.Listener
	done chan struct{}

	mu      sync.Mutex
	secrets map[string]*secretState // by full name, projects/P/secrets/S
	etagSeq int
	faults  []*Fault
	crash   *crash
	calls   []string // method names, oldest first
	now     func() time.Time
}

// New starts a Server for a test and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("gcpfake: start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server on 127.0.0.1 with a port the system chooses. The
// caller must call Close.
func Start() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s := &Server{
		lis:     lis,
		done:    make(chan struct{}),
		secrets: map[string]*secretState{},
		now:     func() time.Time { return time.Now().UTC() },
	}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	secretmanagerpb.RegisterSecretManagerServiceServer(s.grpc, s)
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis)
	}()
	return s, nil
}

// Close stops the server at once, failing calls in flight, and waits for
// it to exit.
func (s *Server) Close() {
	s.grpc.Stop()
	<-s.done
}

// Addr is the address to give the client, such as 127.0.0.1:41234.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// SetClock makes now the server's clock, which decides when a secret with
// an expiration is deleted and stamps create and destroy times.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Client returns a client for the server that is closed when the test ends.
// See NewClient.
func (s *Server) Client(t testing.TB) *secretmanager.Client {
	t.Helper()
	client, err := s.NewClient(t.Context())
	if err != nil {
		t.Fatalf("gcpfake: create client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// NewClient returns a client for the server, built with the options a
// production caller uses for an emulator: the endpoint, no authentication
// and plain-text gRPC. It keeps the client's own retry of
// AccessSecretVersion on UNAVAILABLE and RESOURCE_EXHAUSTED, but at most 3
// times with millisecond waits, where the default retries with waits from
// 2 s up for as long as the call's 60 s time-out allows. Tests that inject
// faults stay fast that way. The caller must close the client.
func (s *Server) NewClient(ctx context.Context) (*secretmanager.Client, error) {
	client, err := secretmanager.NewClient(ctx,
		option.WithEndpoint(s.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		return nil, err
	}
	client.CallOptions.AccessSecretVersion = []gax.CallOption{
		gax.WithTimeout(10 * time.Second),
		gax.WithRetry(func() gax.Retryer { return &fastRetryer{left: 3} }),
	}
	return client, nil
}

// fastRetryer retries a call that failed with UNAVAILABLE or
// RESOURCE_EXHAUSTED a bounded number of times, a millisecond apart.
type fastRetryer struct{ left int }

func (r *fastRetryer) Retry(err error) (time.Duration, bool) {
	c := status.Code(err)
	if r.left == 0 || (c != codes.Unavailable && c != codes.ResourceExhausted) {
		return 0, false
	}
	r.left--
	return time.Millisecond, true
}

// Calls returns the names of the methods called so far, oldest first, such
// as "AddSecretVersion". Calls that a fault rejected are included.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// CountCalls returns how many times method was called.
func (s *Server) CountCalls(method string) int {
	n := 0
	for _, c := range s.Calls() {
		if c == method {
			n++
		}
	}
	return n
}

// newEtag returns a fresh etag, quoted as Secret Manager quotes its etags.
// The caller holds mu.
func (s *Server) newEtag() string {
	s.etagSeq++
	return fmt.Sprintf("%q", fmt.Sprintf("e%06d", s.etagSeq))
}
