// Package vaultfake is an in-process HTTP server that speaks enough of
// HashiCorp Vault's HTTP API for the official Go client
// (github.com/hashicorp/vault/api) to drive KV secrets engines against it
// unmodified. It follows the behaviour of Vault's KV v2 plugin
// (hashicorp/vault-plugin-secrets-kv) in these parts:
//
//   - check-and-set, with Vault's own error texts;
//   - version pruning by max_versions, the larger of the key's and the
//     mount's setting, and 10 when both are 0;
//   - soft delete, undelete, destroy and custom metadata;
//   - 404 responses that carry the metadata of a deleted or destroyed
//     version.
//
// A KV v1 mount stores the request body as it comes, so check-and-set
// options are silently ignored there, as in Vault.
//
// Tests can inject faults (a 500 before or after a request takes effect, a
// delayed response), expire tokens, write behind rotor's back, prune versions,
// and inspect every stored version.
//
// The fake keeps everything in memory and has no policies. A known token
// may do everything, and an unknown or expired one nothing. Unsupported:
// KV v2 data PATCH, subkeys, delete_version_after, namespaces.
package vaultfake

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// DefaultMount is the KV v2 mount every new Server has, as in `vault server
// -dev`.
const DefaultMount = "secret"

// Server is a fake Vault. It is safe for concurrent use.
type Server struct {
	http  *httptest.Server
	token string

	mu       sync.Mutex
	tokens   map[string]bool // token → valid
	auth     authState       // auth methods and the tokens they issued
	mounts   map[string]*mount
	faults   []*Fault
	requests []Request
	now      func() time.Time
}

// Request is one request the server received, without its body.
type Request struct {
	Method string // LIST for list requests, whatever form they came in
	Path   string // after /v1/, without the query
}

// New starts a Server for a test and closes it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server on 127.0.0.1 with a random root token and a KV v2
// mount at DefaultMount. The caller must call Close.
func Start() *Server {
	s := &Server{
		token:  newToken(),
		tokens: map[string]bool{},
		mounts: map[string]*mount{},
		now:    func() time.Time { return time.Now().UTC() },
	}
	s.tokens[s.token] = true
	s.mounts[DefaultMount] = newMount(DefaultMount, 2)
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Close shuts the server down and waits for requests in flight.
func (s *Server) Close() { s.http.Close() }

// URL is the address to give the client, such as http://127.0.0.1:41234.
func (s *Server) URL() string { return s.http.URL }

// Token returns the root token.
func (s *Server) Token() string { return s.token }

// Client returns a client for the server with the root token. It keeps the
// client's default of two retries on a 5xx response but waits only
// milliseconds between them, so tests that inject faults stay fast.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	client, err := s.NewClient()
	if err != nil {
		t.Fatalf("vaultfake: create client: %v", err)
	}
	return client
}

// NewClient is Client for use outside tests.
func (s *Server) NewClient() (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = s.URL()
	cfg.MaxRetries = 2
	cfg.MinRetryWait = time.Millisecond
	cfg.MaxRetryWait = 5 * time.Millisecond
	cfg.Timeout = 10 * time.Second
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	client.SetToken(s.token)
	// A namespace from the environment would not match the fake.
	client.ClearNamespace()
	return client, nil
}

// AddToken makes token valid.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// ExpireToken makes token invalid, as when its TTL runs out: every request
// with it gets 403 permission denied. AddToken makes it valid again.
func (s *Server) ExpireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = false
}

// EnableKV mounts a new KV secrets engine of version 1 or 2 at path. It
// panics if the path is in use or the version is unknown, because both are
// mistakes in the test.
func (s *Server) EnableKV(path string, version int) {
	if version != 1 && version != 2 {
		panic("vaultfake: KV version must be 1 or 2")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mounts[path]; ok {
		panic("vaultfake: mount " + path + " exists")
	}
	s.mounts[path] = newMount(path, version)
}

// MountConfig is the engine-wide configuration of a KV v2 mount, as
// written to {mount}/config.
type MountConfig struct {
	MaxVersions int // 0 means Vault's default of 10
	CASRequired bool
}

// ConfigureKV sets the configuration of a KV v2 mount. It panics on an
// unknown mount.
func (s *Server) ConfigureKV(path string, cfg MountConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mounts[path]
	if !ok {
		panic("vaultfake: no mount " + path)
	}
	m.maxVersions, m.casRequired = cfg.MaxVersions, cfg.CASRequired
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "hvs.fake" + hex.EncodeToString(b)
}
