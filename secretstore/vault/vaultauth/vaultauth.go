// Package vaultauth keeps a Vault client logged in for as long as rotor
// runs, so that a rotation that stays in dual_active for days still reaches
// Vault when it is retired.
//
// A Client logs in with a token (VAULT_TOKEN), AppRole or Kubernetes auth
// and then:
//
//   - renews its token when two thirds of the token's TTL have passed;
//   - logs in again when the token is not renewable, when a renewal was
//     capped by the token's max TTL, or when Vault rejected the renewal;
//   - when a request gets 403, logs in again once and sends the request
//     again with the new token. A 403 after that login is returned as it
//     came, so the caller sees a real access problem (the vault backend
//     reports it as secretstore.ErrAccess).
//
// With the token method, the Client has nothing to log in with. It renews
// a renewable token and passes every response through.
//
// The secret_id and the service-account JWT come from files or the
// environment, never from rotor's configuration file, and are read again
// at every login, so a rotated file takes effect without a restart.
// Neither they nor any Vault token appear in the Client's logs or errors.
package vaultauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// Login methods, as rotor's configuration names them.
const (
	MethodToken      = "token"
	MethodAppRole    = "approle"
	MethodKubernetes = "kubernetes"
)

// DefaultJWTFile is the path at which Kubernetes mounts a pod's
// service-account token.
const DefaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Environment variables the Client reads through Config.Getenv.
const (
	EnvToken    = "VAULT_TOKEN"     // token method: the token
	EnvSecretID = "VAULT_SECRET_ID" // approle: the secret_id when Config.SecretIDFile is empty
)

// ErrLoginRejected is wrapped by the error of a login that Vault rejected
// (status 400 or 403): a wrong role_id or secret_id, an unknown role, or a
// service-account token that Vault's Kubernetes auth does not accept.
var ErrLoginRejected = errors.New("Vault rejected the login")

// Config selects how a Client logs in to Vault.
type Config struct {
	// Method is MethodToken (the default), MethodAppRole or
	// MethodKubernetes.
	Method string

	// Mount is the auth method's mount path, without "auth/". Default: the
	// method's name. The token method ignores it.
	Mount string

	// RoleID is the AppRole's RoleID. Required for approle.
	RoleID string

	// SecretIDFile is a file that holds the AppRole secret_id, with an
	// optional trailing newline. Empty means the VAULT_SECRET_ID
	// environment variable.
	SecretIDFile string

	// Role is the Vault role of Kubernetes auth. Required for kubernetes.
	Role string

	// JWTFile is the service-account token file for Kubernetes auth.
	// Default: DefaultJWTFile.
	JWTFile string

	// Namespace is the Vault Enterprise namespace of the auth mount and of
	// every request. Empty keeps the VAULT_NAMESPACE that the Vault client
	// reads. Set it here rather than on the client that API returns, or
	// the first login goes to the wrong namespace.
	Namespace string

	// Getenv reads VAULT_TOKEN and VAULT_SECRET_ID. Default: os.Getenv.
	Getenv func(string) string

	// Logger receives logins, renewals and their failures. Default:
	// discard.
	Logger *slog.Logger

	// Now is the clock that times renewals. Default: time.Now.
	Now func() time.Time

	// After waits for the next renewal, as time.After does. Tests pass a
	// fake clock's, together with its Now. Default: time.After.
	After func(time.Duration) <-chan time.Time
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Method == "" {
		c.Method = MethodToken
	}
	c.Mount = strings.Trim(c.Mount, "/")
	switch c.Method {
	case MethodToken:
	case MethodAppRole:
		if c.Mount == "" {
			c.Mount = MethodAppRole
		}
		if c.RoleID == "" {
			return c, errors.New("configure Vault AppRole login: the role_id is missing; set it to the role's RoleID")
		}
	case MethodKubernetes:
		if c.Mount == "" {
			c.Mount = MethodKubernetes
		}
		if c.Role == "" {
			return c, errors.New("configure Vault Kubernetes login: the role is missing; set it to the Vault role rotor logs in as")
		}
		if c.JWTFile == "" {
			c.JWTFile = DefaultJWTFile
		}
	default:
		return c, fmt.Errorf("configure Vault login: %q is not a login method; use %s, %s or %s", c.Method, MethodToken, MethodAppRole, MethodKubernetes)
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	return c, nil
}

// Client is a Vault client that stays logged in. Its methods are safe for
// concurrent use.
type Client struct {
	api    *api.Client
	method loginMethod // nil for the token method
	mount  string
	log    *slog.Logger
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time

	// sem serialises logins and renewals, so that concurrent requests that
	// find the token rejected cause one login between them.
	sem chan struct{}

	mu     sync.Mutex
	lease  lease
	issued []string // the latest tokens of logins, newest last

	changed   chan struct{} // signals the loop that a login replaced the lease
	stop      chan struct{}
	done      chan struct{}
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// NewClient returns a Client for the Vault server that base describes, and
// logs in with cfg before it returns. A nil base means api.DefaultConfig.
//
// NewClient keeps base: it replaces base.HttpClient with a copy whose
// transport logs in again after a 403, so the caller must not use base for
// another client. It returns an error that wraps ErrLoginRejected when
// Vault rejects the login, and another error when Vault cannot be reached
// or the secret_id or JWT cannot be read. Call Close to stop the renewals.
func NewClient(ctx context.Context, base *api.Config, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if base == nil {
		base = api.DefaultConfig()
	}
	if base.Error != nil {
		return nil, fmt.Errorf("read Vault settings from the environment: %w", base.Error)
	}

	c := &Client{
		method:  newLoginMethod(cfg),
		mount:   cfg.Mount,
		log:     cfg.Logger.With("auth_method", cfg.Method),
		now:     cfg.Now,
		after:   cfg.After,
		sem:     make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}

	httpClient, err := wrapHTTPClient(base.HttpClient, c)
	if err != nil {
		return nil, err
	}
	base.HttpClient = httpClient
	c.api, err = api.NewClient(base)
	if err != nil {
		return nil, fmt.Errorf("create Vault client: %w", err)
	}

	if cfg.Namespace != "" {
		c.api.SetNamespace(cfg.Namespace)
	}

	if c.method == nil {
		err = c.useStaticToken(ctx, cfg.Getenv(EnvToken))
	} else {
		// A VAULT_TOKEN that the Vault client read from the environment
		// must not stand in for the login.
		c.api.ClearToken()
		err = c.login(ctx)
	}
	if err != nil {
		// TODO: a Vault that is down when rotor starts fails NewClient, and
		// with it the start. Logging in on the first request instead would
		// let /readyz report the backend as unavailable.
		return nil, err
	}

	loopCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(loopCtx)
	return c, nil
}

// API returns the Vault client. Its token changes at every login; do not
// call SetToken or ClearToken on it.
func (c *Client) API() *api.Client { return c.api }

// Close stops the renewals and waits for them. It does not revoke the
// token, which expires at the end of its TTL. Close may be called more than
// once. After it, the Client still sends requests with its last token and
// still logs in again after a 403.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.cancel()
		close(c.stop)
	})
	<-c.done
}

// wrapHTTPClient returns a copy of hc (api.DefaultConfig's when nil) whose
// transport is a retryTransport for c.
func wrapHTTPClient(hc *http.Client, c *Client) (*http.Client, error) {
	if hc == nil || hc.Transport == nil {
		def := api.DefaultConfig()
		if def.Error != nil {
			return nil, fmt.Errorf("read Vault settings from the environment: %w", def.Error)
		}
		if hc == nil {
			hc = def.HttpClient
		} else {
			copied := *hc
			copied.Transport = def.HttpClient.Transport
			hc = &copied
		}
	}
	copied := *hc
	copied.Transport = &retryTransport{next: hc.Transport, client: c}
	return &copied, nil
}
