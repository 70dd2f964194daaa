package vaultfake_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

const (
	testRoleID   = "role-id-1"
	testSecretID = "secret-id-1"
	testJWT      = "eyJhbGciOiJSUzI1NiJ9.test-service-account.signature"
)

// testClock is a clock that moves only when the test advances it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// setupAuth starts a fake Vault on a test clock with an AppRole role and a
// Kubernetes role whose tokens have a TTL of 10 minutes and a max TTL of
// 30 minutes, and returns a client without a token.
func setupAuth(t *testing.T, policy vaultfake.TokenPolicy) (*vaultfake.Server, *api.Client, *testClock) {
	t.Helper()
	s, client := setup(t)
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.SetClock(clock.Now)
	s.AddAppRole("", vaultfake.AppRole{Name: "rotor", RoleID: testRoleID, SecretID: testSecretID, Token: policy})
	s.AddKubernetesRole("", vaultfake.KubernetesRole{
		Name:                    "rotor",
		JWT:                     testJWT,
		ServiceAccountName:      "rotor",
		ServiceAccountNamespace: "payments",
		Token:                   policy,
	})
	if _, err := s.Put("secret", "app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("put: %v", err)
	}
	client.ClearToken()
	return s, client, clock
}

var tenMinutes = vaultfake.TokenPolicy{TTL: 10 * time.Minute, MaxTTL: 30 * time.Minute}

func appRoleLogin(t *testing.T, client *api.Client) *api.Secret {
	t.Helper()
	sec, err := client.Logical().WriteWithContext(t.Context(), "auth/approle/login", map[string]any{
		"role_id":   testRoleID,
		"secret_id": testSecretID,
	})
	if err != nil {
		t.Fatalf("AppRole login: %v", err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("AppRole login returned no token: %+v", sec)
	}
	return sec
}

// readWith reads secret/data/app with token.
func readWith(t *testing.T, client *api.Client, token string) error {
	t.Helper()
	c, err := client.Clone()
	if err != nil {
		t.Fatalf("clone client: %v", err)
	}
	c.SetToken(token)
	_, err = c.Logical().ReadWithContext(t.Context(), "secret/data/app")
	return err
}

func renewSelf(t *testing.T, client *api.Client, token string, increment int) (*api.Secret, error) {
	t.Helper()
	return client.Auth().Token().RenewTokenAsSelfWithContext(t.Context(), token, increment)
}

func TestAppRoleLogin(t *testing.T) {
	t.Parallel()

	t.Run("issues a token with the role's TTL", func(t *testing.T) {
		t.Parallel()
		_, client, _ := setupAuth(t, tenMinutes)

		sec := appRoleLogin(t, client)

		if got, want := sec.Auth.LeaseDuration, 600; got != want {
			t.Errorf("auth.lease_duration = %d, want %d", got, want)
		}
		if !sec.Auth.Renewable {
			t.Errorf("auth.renewable = false, want true")
		}
		if diff := cmp.Diff(map[string]string{"role_name": "rotor"}, sec.Auth.Metadata); diff != "" {
			t.Errorf("auth.metadata (-want +got):\n%s", diff)
		}
		if err := readWith(t, client, sec.Auth.ClientToken); err != nil {
			t.Errorf("read with the login token: %v", err)
		}
	})

	t.Run("rejects bad credentials alike", func(t *testing.T) {
		t.Parallel()
		_, client, _ := setupAuth(t, tenMinutes)
		tests := []struct {
			name    string
			body    map[string]any
			message string
		}{
			{"wrong secret_id", map[string]any{"role_id": testRoleID, "secret_id": "wrong"}, "invalid role or secret ID"},
			{"unknown role_id", map[string]any{"role_id": "unknown", "secret_id": testSecretID}, "invalid role or secret ID"},
			{"missing secret_id", map[string]any{"role_id": testRoleID}, "missing secret_id"},
			{"missing role_id", map[string]any{"secret_id": testSecretID}, "missing role_id"},
		}
		for _, tt := range tests {
			_, err := client.Logical().WriteWithContext(t.Context(), "auth/approle/login", tt.body)
			t.Run(tt.name, func(t *testing.T) {
				wantResponseError(t, err, http.StatusBadRequest, tt.message)
			})
		}
	})

	t.Run("custom mount", func(t *testing.T) {
		t.Parallel()
		s, client, _ := setupAuth(t, tenMinutes)
		s.AddAppRole("ci", vaultfake.AppRole{Name: "ci", RoleID: "ci-role", SecretID: "ci-secret"})

		sec, err := client.Logical().WriteWithContext(t.Context(), "auth/ci/login", map[string]any{"role_id": "ci-role", "secret_id": "ci-secret"})

		if err != nil {
			t.Fatalf("login at auth/ci: %v", err)
		}
		if got, want := sec.Auth.LeaseDuration, int((768 * time.Hour).Seconds()); got != want {
			t.Errorf("auth.lease_duration with no token_ttl = %d, want Vault's default %d", got, want)
		}
	})
}

func TestKubernetesLogin(t *testing.T) {
	t.Parallel()

	t.Run("issues a token for the service account", func(t *testing.T) {
		t.Parallel()
		_, client, _ := setupAuth(t, tenMinutes)

		sec, err := client.Logical().WriteWithContext(t.Context(), "auth/kubernetes/login", map[string]any{"role": "rotor", "jwt": testJWT})

		if err != nil {
			t.Fatalf("Kubernetes login: %v", err)
		}
		if sec.Auth == nil || sec.Auth.ClientToken == "" {
			t.Fatalf("login returned no token: %+v", sec)
		}
		if got, want := sec.Auth.LeaseDuration, 600; got != want {
			t.Errorf("auth.lease_duration = %d, want %d", got, want)
		}
		for key, want := range map[string]string{"role": "rotor", "service_account_name": "rotor", "service_account_namespace": "payments"} {
			if got := sec.Auth.Metadata[key]; got != want {
				t.Errorf("auth.metadata[%q] = %q, want %q", key, got, want)
			}
		}
		if err := readWith(t, client, sec.Auth.ClientToken); err != nil {
			t.Errorf("read with the login token: %v", err)
		}
	})

	t.Run("rejects", func(t *testing.T) {
		t.Parallel()
		_, client, _ := setupAuth(t, tenMinutes)
		tests := []struct {
			name    string
			body    map[string]any
			status  int
			message string
		}{
			{"another JWT", map[string]any{"role": "rotor", "jwt": "eyJ.other.sig"}, http.StatusForbidden, "permission denied"},
			{"an unknown role", map[string]any{"role": "other", "jwt": testJWT}, http.StatusBadRequest, `invalid role name "other"`},
			{"a missing JWT", map[string]any{"role": "rotor"}, http.StatusBadRequest, "missing jwt"},
		}
		for _, tt := range tests {
			_, err := client.Logical().WriteWithContext(t.Context(), "auth/kubernetes/login", tt.body)
			t.Run(tt.name, func(t *testing.T) {
				wantResponseError(t, err, tt.status, tt.message)
			})
		}
	})
}

func TestTokenLifetime(t *testing.T) {
	t.Parallel()

	t.Run("token past its TTL gets permission denied", func(t *testing.T) {
		t.Parallel()
		_, client, clock := setupAuth(t, tenMinutes)
		token := appRoleLogin(t, client).Auth.ClientToken

		clock.Advance(10*time.Minute - time.Second)
		if err := readWith(t, client, token); err != nil {
			t.Fatalf("read 1s before the TTL ends: %v", err)
		}
		clock.Advance(time.Second)
		err := readWith(t, client, token)

		wantResponseError(t, err, http.StatusForbidden, "permission denied")
	})

	t.Run("renewal extends by the role's TTL", func(t *testing.T) {
		t.Parallel()
		_, client, clock := setupAuth(t, tenMinutes)
		token := appRoleLogin(t, client).Auth.ClientToken
		clock.Advance(7 * time.Minute)

		sec, err := renewSelf(t, client, token, 0)

		if err != nil {
			t.Fatalf("renew-self: %v", err)
		}
		if got, want := sec.Auth.LeaseDuration, 600; got != want {
			t.Errorf("auth.lease_duration = %d, want %d", got, want)
		}
		if got := sec.Auth.ClientToken; got != token {
			t.Errorf("auth.client_token is not the renewed token")
		}
		if len(sec.Warnings) != 0 {
			t.Errorf("warnings = %q, want none", sec.Warnings)
		}
		clock.Advance(9 * time.Minute)
		if err := readWith(t, client, token); err != nil {
			t.Errorf("read 16 minutes after login, 9 after renewal: %v", err)
		}
	})

	t.Run("renewal honours an increment given as a string", func(t *testing.T) {
		t.Parallel()
		_, client, _ := setupAuth(t, tenMinutes)
		token := appRoleLogin(t, client).Auth.ClientToken
		c, err := client.Clone()
		if err != nil {
			t.Fatalf("clone: %v", err)
		}
		c.SetToken(token)

		sec, err := c.Logical().WriteWithContext(t.Context(), "auth/token/renew-self", map[string]any{"increment": "5m"})

		if err != nil {
			t.Fatalf("renew-self: %v", err)
		}
		if got, want := sec.Auth.LeaseDuration, 300; got != want {
			t.Errorf("auth.lease_duration = %d, want %d", got, want)
		}
	})

	t.Run("renewal is capped at the max TTL", func(t *testing.T) {
		t.Parallel()
		_, client, clock := setupAuth(t, tenMinutes)
		token := appRoleLogin(t, client).Auth.ClientToken
		for range 3 {
			clock.Advance(6 * time.Minute)
			if _, err := renewSelf(t, client, token, 600); err != nil {
				t.Fatalf("renew-self: %v", err)
			}
		}
		clock.Advance(7 * time.Minute) // 25 minutes after login

		sec, err := renewSelf(t, client, token, 600)

		if err != nil {
			t.Fatalf("renew-self 25 minutes after login: %v", err)
		}
		if got, want := sec.Auth.LeaseDuration, 300; got != want {
			t.Errorf("auth.lease_duration = %d, want the %d seconds left before the max TTL", got, want)
		}
		want := []string{`TTL of "10m0s" exceeded the effective max_ttl of "5m0s"; TTL value is capped accordingly`}
		if diff := cmp.Diff(want, sec.Warnings); diff != "" {
			t.Errorf("warnings (-want +got):\n%s", diff)
		}
		clock.Advance(5 * time.Minute)
		wantResponseError(t, readWith(t, client, token), http.StatusForbidden, "permission denied")
		_, err = renewSelf(t, client, token, 600)
		wantResponseError(t, err, http.StatusForbidden, "permission denied")
	})

	t.Run("non-renewable token", func(t *testing.T) {
		t.Parallel()
		_, client, _ := setupAuth(t, vaultfake.TokenPolicy{TTL: time.Hour, NotRenewable: true})
		sec := appRoleLogin(t, client)
		if sec.Auth.Renewable {
			t.Errorf("auth.renewable = true, want false")
		}

		_, err := renewSelf(t, client, sec.Auth.ClientToken, 0)

		wantResponseError(t, err, http.StatusBadRequest, "lease is not renewable")
	})

	t.Run("root token has no lease", func(t *testing.T) {
		t.Parallel()
		s, client, _ := setupAuth(t, tenMinutes)

		_, err := renewSelf(t, client, s.Token(), 0)

		wantResponseError(t, err, http.StatusBadRequest, "lease is not renewable")
	})

	t.Run("ExpireToken ends a login token", func(t *testing.T) {
		t.Parallel()
		s, client, _ := setupAuth(t, tenMinutes)
		token := appRoleLogin(t, client).Auth.ClientToken

		s.ExpireToken(token)

		wantResponseError(t, readWith(t, client, token), http.StatusForbidden, "permission denied")
	})
}

func TestLookupSelf(t *testing.T) {
	t.Parallel()
	_, client, clock := setupAuth(t, tenMinutes)
	token := appRoleLogin(t, client).Auth.ClientToken
	login := clock.Now()
	clock.Advance(4 * time.Minute)
	if _, err := renewSelf(t, client, token, 0); err != nil {
		t.Fatalf("renew-self: %v", err)
	}
	clock.Advance(time.Minute)
	c, err := client.Clone()
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	c.SetToken(token)

	sec, err := c.Auth().Token().LookupSelfWithContext(t.Context())

	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	got := map[string]any{}
	for _, key := range []string{"ttl", "creation_ttl", "renewable", "path", "expire_time", "id", "policies"} {
		got[key] = sec.Data[key]
	}
	want := map[string]any{
		"ttl":          json.Number("540"),
		"creation_ttl": json.Number("600"),
		"renewable":    true,
		"path":         "auth/approle/login",
		"expire_time":  login.Add(14 * time.Minute).Format(time.RFC3339Nano),
		"id":           token,
		"policies":     []any{"default"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lookup-self data (-want +got):\n%s", diff)
	}
	ttl, err := sec.TokenTTL()
	if err != nil || ttl != 9*time.Minute {
		t.Errorf("TokenTTL() = %v, %v; want 9m0s", ttl, err)
	}
}
