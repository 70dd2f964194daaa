package vaultauth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/vault"
	"github.com/rotorhq/rotor/secretstore/vault/vaultauth"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	roleID     = "7c1f0b52-rotor"
	secretID   = "9d2e41aa-secret-id-of-rotor"
	jwt        = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RvciJ9.c2lnbmF0dXJlLW9mLXJvdG9y"
	kvMount    = "secret"
	secretPath = "persium/cred-a"
	oldSecret  = "old-client-secret-value"
	newSecret  = "new-client-secret-value"
)

// tenMinutes is a token lifetime much shorter than a rotation: a TTL of 10
// minutes and a max TTL of 30 minutes.
var tenMinutes = vaultfake.TokenPolicy{TTL: 10 * time.Minute, MaxTTL: 30 * time.Minute}

// harness is a fake Vault on a fake clock, with an AppRole role, a
// Kubernetes role and a secret, and what a test needs to check that no
// credential leaks.
type harness struct {
	t       *testing.T
	fake    *vaultfake.Server
	clock   *fakeClock
	dir     string
	logs    *syncBuffer
	secrets []string // credentials and tokens that must not appear in logs or errors
}

func setup(t *testing.T, policy vaultfake.TokenPolicy) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		fake:    vaultfake.New(t),
		clock:   newFakeClock(),
		dir:     t.TempDir(),
		logs:    &syncBuffer{},
		secrets: []string{secretID, jwt},
	}
	h.fake.SetClock(h.clock.Now)
	h.fake.AddAppRole("", vaultfake.AppRole{Name: "rotor", RoleID: roleID, SecretID: secretID, Token: policy})
	h.fake.AddKubernetesRole("", vaultfake.KubernetesRole{
		Name: "rotor", JWT: jwt, ServiceAccountName: "rotor", ServiceAccountNamespace: "payments", Token: policy,
	})
	if _, err := h.fake.Put(kvMount, secretPath, map[string]any{"client_id": "client-a", "client_secret": oldSecret}); err != nil {
		t.Fatalf("put the initial secret: %v", err)
	}
	h.secrets = append(h.secrets, h.fake.Token())

	t.Cleanup(func() {
		logs := h.logs.String()
		for _, s := range h.secrets {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("the logs contain a credential or token")
			}
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})
	return h
}

// writeFile writes content to a file in the test's directory and returns
// its path.
func (h *harness) writeFile(name, content string) string {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		h.t.Fatalf("write %s: %v", name, err)
	}
	return path
}

// baseConfig returns a Vault client configuration for the fake with fast
// retries.
func (h *harness) baseConfig() *api.Config {
	cfg := api.DefaultConfig()
	cfg.Address = h.fake.URL()
	cfg.MaxRetries = 2
	cfg.MinRetryWait = time.Millisecond
	cfg.MaxRetryWait = 5 * time.Millisecond
	cfg.Timeout = 10 * time.Second
	return cfg
}

// appRoleConfig returns a Config for AppRole with the secret_id in a file.
func (h *harness) appRoleConfig() vaultauth.Config {
	return vaultauth.Config{
		Method:       vaultauth.MethodAppRole,
		RoleID:       roleID,
		SecretIDFile: h.writeFile("secret-id", secretID+"\n"),
	}
}

// newClient logs in with cfg on the fake clock and closes the Client when
// the test ends.
func (h *harness) newClient(cfg vaultauth.Config) (*vaultauth.Client, error) {
	h.t.Helper()
	cfg.Logger = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Now = h.clock.Now
	cfg.After = h.clock.After
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	c, err := vaultauth.NewClient(h.t.Context(), h.baseConfig(), cfg)
	if err != nil {
		h.checkError(err)
		return nil, err
	}
	h.t.Cleanup(c.Close)
	h.noteToken(c)
	return c, nil
}

func (h *harness) mustClient(cfg vaultauth.Config) *vaultauth.Client {
	h.t.Helper()
	c, err := h.newClient(cfg)
	if err != nil {
		h.t.Fatalf("NewClient: %v", err)
	}
	return c
}

// noteToken records c's current token among the values that must not leak.
func (h *harness) noteToken(c *vaultauth.Client) string {
	token := c.API().Token()
	h.secrets = append(h.secrets, token)
	return token
}

// checkError fails the test if err shows a credential or token.
func (h *harness) checkError(err error) {
	h.t.Helper()
	if err == nil {
		return
	}
	for _, s := range h.secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			h.t.Errorf("error %q contains a credential or token", strings.ReplaceAll(err.Error(), s, "[LEAKED]"))
		}
	}
}

// count returns how many requests the fake received for path.
func (h *harness) count(path string) int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func (h *harness) newStore(c *vaultauth.Client) *vault.Store {
	h.t.Helper()
	store, err := vault.New(vault.Config{Client: c.API(), Path: secretPath})
	if err != nil {
		h.t.Fatalf("vault.New: %v", err)
	}
	return store
}

// read reads the secret through c and fails the test on an error.
func (h *harness) read(c *vaultauth.Client) {
	h.t.Helper()
	if _, err := c.API().Logical().ReadWithContext(h.t.Context(), kvMount+"/data/"+secretPath); err != nil {
		h.checkError(err)
		h.t.Fatalf("read the secret: %v", err)
	}
}

// lookupSelf returns the data of auth/token/lookup-self for c's token.
func (h *harness) lookupSelf(c *vaultauth.Client) map[string]any {
	h.t.Helper()
	sec, err := c.API().Auth().Token().LookupSelfWithContext(h.t.Context())
	if err != nil {
		h.t.Fatalf("lookup-self: %v", err)
	}
	return sec.Data
}

func TestAppRoleLogin(t *testing.T) {
	t.Parallel()

	t.Run("secret_id from a file", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)

		c := h.mustClient(h.appRoleConfig())

		h.read(c)
		if got, want := h.lookupSelf(c)["path"], "auth/approle/login"; got != want {
			t.Errorf("token path = %v, want %v", got, want)
		}
		if got := h.count("auth/approle/login"); got != 1 {
			t.Errorf("logins = %d, want 1", got)
		}
	})

	t.Run("secret_id from VAULT_SECRET_ID", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)

		c := h.mustClient(vaultauth.Config{
			Method: vaultauth.MethodAppRole,
			RoleID: roleID,
			Getenv: func(name string) string {
				if name == vaultauth.EnvSecretID {
					return secretID
				}
				return ""
			},
		})

		h.read(c)
	})

	t.Run("custom mount", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		h.fake.AddAppRole("rotor-approle", vaultfake.AppRole{Name: "rotor", RoleID: roleID, SecretID: secretID, Token: tenMinutes})
		cfg := h.appRoleConfig()
		cfg.Mount = "/rotor-approle/"

		c := h.mustClient(cfg)

		h.read(c)
		if got := h.count("auth/rotor-approle/login"); got != 1 {
			t.Errorf("logins at auth/rotor-approle = %d, want 1", got)
		}
	})

	t.Run("wrong secret_id is rejected", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		cfg := h.appRoleConfig()
		cfg.SecretIDFile = h.writeFile("wrong", "not-the-secret-id")
		h.secrets = append(h.secrets, "not-the-secret-id")

		_, err := h.newClient(cfg)

		if !errors.Is(err, vaultauth.ErrLoginRejected) {
			t.Fatalf("error = %v, want ErrLoginRejected", err)
		}
		if !strings.Contains(err.Error(), cfg.SecretIDFile) {
			t.Errorf("error %q does not name the secret_id file", err)
		}
	})

	t.Run("echoed request stays out of error", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		h.fake.Inject(vaultfake.Fault{Count: 3, Path: "auth/approle/login", Status: http.StatusInternalServerError, EchoBody: true})

		_, err := h.newClient(h.appRoleConfig())

		if err == nil {
			t.Fatal("NewClient succeeded against a failing login")
		}
		if errors.Is(err, vaultauth.ErrLoginRejected) {
			t.Errorf("error = %v, a 500 is not a rejection", err)
		}
		if !strings.Contains(err.Error(), "status 500") {
			t.Errorf("error %q does not give the status", err)
		}
	})
}

func TestNamespace(t *testing.T) {
	t.Parallel()
	h := setup(t, tenMinutes)
	seen := &headerRecorder{next: http.DefaultTransport}
	base := h.baseConfig()
	base.HttpClient = &http.Client{Transport: seen}
	cfg := h.appRoleConfig()
	cfg.Namespace = "payments/"
	cfg.Logger = slog.New(slog.NewJSONHandler(h.logs, nil))

	c, err := vaultauth.NewClient(t.Context(), base, cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	h.noteToken(c)
	h.read(c)

	want := map[string]string{
		"/v1/auth/approle/login":                 "payments/",
		"/v1/" + kvMount + "/data/" + secretPath: "payments/",
	}
	got := seen.namespaces()
	for path, ns := range want {
		if got[path] != ns {
			t.Errorf("namespace of %s = %q, want %q", path, got[path], ns)
		}
	}
}

// headerRecorder records the X-Vault-Namespace header of each request
// path.
type headerRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]string
}

func (r *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]string{}
	}
	r.seen[req.URL.Path] = req.Header.Get("X-Vault-Namespace")
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *headerRecorder) namespaces() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.seen)
}

func TestKubernetesLogin(t *testing.T) {
	t.Parallel()

	t.Run("JWT from a file", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)

		c := h.mustClient(vaultauth.Config{Method: vaultauth.MethodKubernetes, Role: "rotor", JWTFile: h.writeFile("token", jwt)})

		h.read(c)
		if got, want := h.lookupSelf(c)["path"], "auth/kubernetes/login"; got != want {
			t.Errorf("token path = %v, want %v", got, want)
		}
	})

	t.Run("JWT is read again at each login", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		file := h.writeFile("token", jwt)
		c := h.mustClient(vaultauth.Config{Method: vaultauth.MethodKubernetes, Role: "rotor", JWTFile: file})
		rotated := jwt + "-rotated"
		h.secrets = append(h.secrets, rotated)
		h.writeFile("token", rotated)
		h.fake.AddKubernetesRole("", vaultfake.KubernetesRole{Name: "rotor", JWT: rotated, Token: tenMinutes})
		h.fake.ExpireToken(c.API().Token())

		h.read(c)

		h.noteToken(c)
		if got := h.count("auth/kubernetes/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
	})

	t.Run("JWT that Vault does not accept", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		other := "eyJhbGciOiJSUzI1NiJ9.b3RoZXI.c2ln"
		h.secrets = append(h.secrets, other)

		_, err := h.newClient(vaultauth.Config{Method: vaultauth.MethodKubernetes, Role: "rotor", JWTFile: h.writeFile("token", other)})

		if !errors.Is(err, vaultauth.ErrLoginRejected) {
			t.Errorf("error = %v, want ErrLoginRejected", err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	h := setup(t, tenMinutes)
	tests := []struct {
		name string
		cfg  vaultauth.Config
		want string
	}{
		{"unknown method", vaultauth.Config{Method: "userpass"}, `"userpass" is not a login method`},
		{"approle without role_id", vaultauth.Config{Method: vaultauth.MethodAppRole}, "role_id is missing"},
		{"approle without secret_id", vaultauth.Config{Method: vaultauth.MethodAppRole, RoleID: roleID}, "secret_id is missing; set VAULT_SECRET_ID"},
		{"approle with a missing file", vaultauth.Config{Method: vaultauth.MethodAppRole, RoleID: roleID, SecretIDFile: filepath.Join(h.dir, "absent")}, "no such file"},
		{"approle with an empty file", vaultauth.Config{Method: vaultauth.MethodAppRole, RoleID: roleID, SecretIDFile: h.writeFile("empty", "\n")}, "the file is empty"},
		{"kubernetes without role", vaultauth.Config{Method: vaultauth.MethodKubernetes}, "the role is missing"},
		{"kubernetes at an unknown mount", vaultauth.Config{Method: vaultauth.MethodKubernetes, Role: "rotor", Mount: "k8s", JWTFile: h.writeFile("jwt", jwt)}, "Vault rejected the login (status 403); check auth.mount"},
		{"token without VAULT_TOKEN", vaultauth.Config{Method: vaultauth.MethodToken}, "VAULT_TOKEN is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if os.Getenv(vaultauth.EnvToken) != "" && tt.cfg.Method == vaultauth.MethodToken {
				t.Skip("VAULT_TOKEN is set in the environment")
			}

			_, err := h.newClient(tt.cfg)

			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRenewal(t *testing.T) {
	t.Parallel()

	t.Run("renews two thirds into the TTL", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		start := h.clock.Now()
		c := h.mustClient(h.appRoleConfig())
		token := c.API().Token()

		at := h.clock.FireNext(t)

		if want := start.Add(400 * time.Second); !at.Equal(want) {
			t.Errorf("renewal at %v, want %v", at.Sub(start), want.Sub(start))
		}
		if next, want := h.clock.NextTimer(t), at.Add(400*time.Second); !next.Equal(want) {
			t.Errorf("next renewal at %v, want %v", next.Sub(start), want.Sub(start))
		}
		if got := h.count("auth/token/renew-self"); got != 1 {
			t.Errorf("renewals = %d, want 1", got)
		}
		if got := c.API().Token(); got != token {
			t.Errorf("the token changed at renewal")
		}
		if got, want := h.lookupSelf(c)["ttl"], json.Number("600"); got != want {
			t.Errorf("ttl after renewal = %v, want %v", got, want)
		}
		h.clock.Set(start.Add(15 * time.Minute)) // past the TTL of the login
		h.read(c)
	})

	t.Run("logs in again before the max TTL", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		start := h.clock.Now()
		c := h.mustClient(h.appRoleConfig())
		first := c.API().Token()

		var at time.Time
		for range 4 { // renewals at 400s, 800s and 1200s; the one at 1600s is capped at 200s
			at = h.clock.FireNext(t)
		}
		next := h.clock.NextTimer(t)

		if want := start.Add(1600 * time.Second); !at.Equal(want) {
			t.Errorf("last timer at %v, want %v", at.Sub(start), want.Sub(start))
		}
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
		second := h.noteToken(c)
		if second == first {
			t.Fatalf("the token did not change at the second login")
		}
		if want := at.Add(400 * time.Second); !next.Equal(want) {
			t.Errorf("next renewal at %v, want %v", next.Sub(start), want.Sub(start))
		}
		h.clock.Set(start.Add(31 * time.Minute)) // past the first token's max TTL
		h.read(c)
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins after the first token's max TTL = %d, want 2", got)
		}
	})

	t.Run("logs in again when the token is not renewable", func(t *testing.T) {
		t.Parallel()
		h := setup(t, vaultfake.TokenPolicy{TTL: 10 * time.Minute, NotRenewable: true})
		start := h.clock.Now()
		c := h.mustClient(h.appRoleConfig())

		at := h.clock.FireNext(t)

		if want := start.Add(400 * time.Second); !at.Equal(want) {
			t.Errorf("login at %v, want %v", at.Sub(start), want.Sub(start))
		}
		h.clock.NextTimer(t)
		h.noteToken(c)
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
		if got := h.count("auth/token/renew-self"); got != 0 {
			t.Errorf("renewals of a non-renewable token = %d, want 0", got)
		}
	})

	t.Run("token from VAULT_TOKEN is renewed", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		login, err := h.fake.Client(t).Logical().WriteWithContext(t.Context(), "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
		if err != nil {
			t.Fatalf("log in for a token: %v", err)
		}
		token := login.Auth.ClientToken
		h.secrets = append(h.secrets, token)
		start := h.clock.Now()
		c := h.mustClient(vaultauth.Config{Getenv: func(name string) string {
			if name == vaultauth.EnvToken {
				return token
			}
			return ""
		}})

		at := h.clock.FireNext(t)

		if want := start.Add(400 * time.Second); !at.Equal(want) {
			t.Errorf("renewal at %v, want %v", at.Sub(start), want.Sub(start))
		}
		h.clock.NextTimer(t)
		if got := h.count("auth/token/renew-self"); got != 1 {
			t.Errorf("renewals = %d, want 1", got)
		}
		if got := c.API().Token(); got != token {
			t.Errorf("the client does not use the token from VAULT_TOKEN")
		}
	})
}

func TestLoginAfterForbidden(t *testing.T) {
	t.Parallel()

	t.Run("expired token: login and repeat", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		h.fake.ExpireToken(c.API().Token())

		h.read(c)

		h.noteToken(c)
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
		if got := h.count(kvMount + "/data/" + secretPath); got != 2 {
			t.Errorf("reads = %d, want the rejected one and its repeat", got)
		}
	})

	t.Run("write is sent again with its body", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		store := h.newStore(c)
		staging := secretPath + vault.DefaultStagingSuffix
		h.fake.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: kvMount + "/data/" + staging, Status: http.StatusForbidden})

		_, err := store.Stage(t.Context(), "rot-1", secret.New(newSecret))

		h.checkError(err)
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		h.noteToken(c)
		staged, ok := h.fake.Secret(kvMount, staging)
		if !ok {
			t.Fatalf("nothing staged at %s", staging)
		}
		if got := len(staged.Versions); got != 1 {
			t.Errorf("staged versions = %d, want 1", got)
		}
		if !bytes.Contains(staged.Versions[staged.CurrentVersion].Data, []byte(newSecret)) {
			t.Errorf("the staged version does not hold the new secret")
		}
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
	})

	t.Run("body without GetBody is sent again", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		h.fake.ExpireToken(c.API().Token())
		body := `{"data":{"client_id":"client-a","client_secret":"` + newSecret + `"}}`
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, h.fake.URL()+"/v1/"+kvMount+"/data/"+secretPath, onlyReader{strings.NewReader(body)})
		if err != nil {
			t.Fatalf("new request: %v", err)
		}
		req.Header.Set("X-Vault-Token", c.API().Token())

		resp, err := c.API().CloneConfig().HttpClient.Do(req)

		if err != nil {
			t.Fatalf("PUT: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status = %d, want 200", resp.StatusCode)
		}
		h.noteToken(c)
		stored, _ := h.fake.Secret(kvMount, secretPath)
		if !bytes.Contains(stored.Versions[2].Data, []byte(newSecret)) {
			t.Errorf("version 2 does not hold the body of the repeated request")
		}
	})

	t.Run("403 after fresh login is ErrAccess", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		store := h.newStore(c)
		h.fake.Inject(vaultfake.Fault{Count: 2, Method: http.MethodGet, Path: kvMount + "/data/" + secretPath, Status: http.StatusForbidden})

		_, _, err := store.Current(t.Context())

		h.noteToken(c)
		h.checkError(err)
		if !errors.Is(err, secretstore.ErrAccess) {
			t.Errorf("error = %v, want ErrAccess", err)
		}
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2: one at start and one after the first 403", got)
		}
		if got := h.count(kvMount + "/data/" + secretPath); got != 2 {
			t.Errorf("reads = %d, want 2: no second repeat", got)
		}
	})

	t.Run("concurrent requests share one login", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		h.fake.ExpireToken(c.API().Token())

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := c.API().Logical().ReadWithContext(t.Context(), kvMount+"/data/"+secretPath)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)

		for err := range errs {
			h.checkError(err)
			if err != nil {
				t.Errorf("read: %v", err)
			}
		}
		h.noteToken(c)
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
	})

	t.Run("caller's own token is not replaced", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		other, err := c.API().Clone()
		if err != nil {
			t.Fatalf("clone: %v", err)
		}
		other.SetToken(h.fake.Token())
		h.fake.ExpireToken(h.fake.Token())

		_, err = other.Logical().ReadWithContext(t.Context(), kvMount+"/data/"+secretPath)

		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("error = %v, want a 403", err)
		}
		if got := h.count("auth/approle/login"); got != 1 {
			t.Errorf("logins = %d, want only the first", got)
		}
	})

	t.Run("token method passes the 403 on", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(vaultauth.Config{Getenv: func(name string) string {
			if name == vaultauth.EnvToken {
				return h.fake.Token()
			}
			return ""
		}})
		h.fake.ExpireToken(h.fake.Token())

		_, err := c.API().Logical().ReadWithContext(t.Context(), kvMount+"/data/"+secretPath)

		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("error = %v, want a 403", err)
		}
		if got := h.count("auth/approle/login"); got != 0 {
			t.Errorf("logins = %d, want 0", got)
		}
	})
}

// TestRotationOutlivesToken runs a rotation whose overlap lasts two days
// with tokens that live 10 minutes (30 at most), then retires it.
func TestRotationOutlivesToken(t *testing.T) {
	t.Parallel()

	// stageAndPromote brings a rotation to dual_active.
	stageAndPromote := func(t *testing.T, h *harness, store *vault.Store) secretstore.Versions {
		t.Helper()
		v, err := store.Stage(t.Context(), "rot-1", secret.New(newSecret))
		if err != nil {
			t.Fatalf("Stage: %v", err)
		}
		v, err = store.Promote(t.Context(), "rot-1", v)
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}
		return v
	}
	// retire retires the old version and checks that it is gone and the
	// new one is current.
	retire := func(t *testing.T, h *harness, store *vault.Store, v secretstore.Versions) {
		t.Helper()
		err := store.Retire(t.Context(), "rot-1", v, secretstore.RetireDestroy)
		h.checkError(err)
		if err != nil {
			t.Fatalf("Retire after two days: %v", err)
		}
		stored, _ := h.fake.Secret(kvMount, secretPath)
		if old := stored.Versions[1]; !old.Destroyed {
			t.Errorf("version 1 (the old secret) is not destroyed")
		}
		got, _, err := store.Current(t.Context())
		if err != nil || got.Reveal() != newSecret {
			t.Errorf("Current after retire: the new secret is not current (error %v)", err)
		}
	}

	t.Run("renewals and logins keep access", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		store := h.newStore(c)
		v := stageAndPromote(t, h, store)
		end := h.clock.Now().Add(48 * time.Hour)

		for h.clock.Now().Before(end) {
			h.clock.FireNext(t)
		}
		h.clock.NextTimer(t)

		h.noteToken(c)
		retire(t, h, store, v)
		// A login every 1600s (26m40s) in 48 hours.
		if got, want := h.count("auth/approle/login"), 1+int(48*time.Hour/(1600*time.Second)); got != want {
			t.Errorf("logins = %d, want %d", got, want)
		}
	})

	t.Run("clock jumps two days at once", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		store := h.newStore(c)
		v := stageAndPromote(t, h, store)

		h.clock.Advance(48 * time.Hour)
		retire(t, h, store, v)

		h.noteToken(c)
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2: the renewal loop and the rejected request share one", got)
		}
	})

	t.Run("token revoked before retire", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		store := h.newStore(c)
		v := stageAndPromote(t, h, store)
		h.fake.ExpireToken(c.API().Token())

		retire(t, h, store, v)

		h.noteToken(c)
		if got := h.count("auth/approle/login"); got != 2 {
			t.Errorf("logins = %d, want 2", got)
		}
	})

	t.Run("retire is repeated once access is back", func(t *testing.T) {
		t.Parallel()
		h := setup(t, tenMinutes)
		c := h.mustClient(h.appRoleConfig())
		store := h.newStore(c)
		v := stageAndPromote(t, h, store)
		h.fake.AddAppRole("", vaultfake.AppRole{Name: "rotor", RoleID: roleID, SecretID: "revoked-for-now", Token: tenMinutes})
		h.fake.ExpireToken(c.API().Token())

		err := store.Retire(t.Context(), "rot-1", v, secretstore.RetireDestroy)

		h.checkError(err)
		if !errors.Is(err, secretstore.ErrAccess) {
			t.Fatalf("Retire without access: error = %v, want ErrAccess", err)
		}
		h.fake.AddAppRole("", vaultfake.AppRole{Name: "rotor", RoleID: roleID, SecretID: secretID, Token: tenMinutes})
		retire(t, h, store, v)
		h.noteToken(c)
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	h := setup(t, tenMinutes)
	c := h.mustClient(h.appRoleConfig())
	h.clock.NextTimer(t)

	c.Close()
	c.Close()

	h.clock.Advance(time.Hour)
	if got := h.count("auth/token/renew-self") + h.count("auth/approle/login"); got != 1 {
		t.Errorf("requests to auth paths after Close = %d, want only the first login", got)
	}
}

// onlyReader hides every method but Read, so that http.NewRequest cannot
// set GetBody.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
