package vaultauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/rotorhq/rotor/secret"
)

// loginMethod logs in with one of Vault's auth methods.
type loginMethod interface {
	// authMethod returns the method with its credentials read afresh.
	authMethod() (api.AuthMethod, error)

	// hint returns what an operator should check when Vault rejects the
	// login.
	hint() string
}

// newLoginMethod returns the method cfg selects, or nil for the token
// method. cfg has its defaults.
func newLoginMethod(cfg Config) loginMethod {
	switch cfg.Method {
	case MethodAppRole:
		return appRoleLogin{mount: cfg.Mount, roleID: cfg.RoleID, secretIDFile: cfg.SecretIDFile, getenv: cfg.Getenv}
	case MethodKubernetes:
		return kubernetesLogin{mount: cfg.Mount, role: cfg.Role, jwtFile: cfg.JWTFile}
	}
	return nil
}

type appRoleLogin struct {
	mount        string
	roleID       string
	secretIDFile string
	getenv       func(string) string
}

func (a appRoleLogin) authMethod() (api.AuthMethod, error) {
	var secretID secret.Value
	if a.secretIDFile != "" {
		v, err := readCredential(a.secretIDFile, "AppRole secret_id")
		if err != nil {
			return nil, err
		}
		secretID = v
	} else {
		secretID = secret.New(strings.TrimSpace(a.getenv(EnvSecretID)))
		if secretID.IsZero() {
			return nil, fmt.Errorf("the AppRole secret_id is missing; set %s or auth.secret_id_file", EnvSecretID)
		}
	}
	return approle.NewAppRoleAuth(a.roleID, &approle.SecretID{FromString: secretID.Reveal()}, approle.WithMountPath(a.mount))
}

func (a appRoleLogin) hint() string {
	source := EnvSecretID
	if a.secretIDFile != "" {
		source = a.secretIDFile
	}
	return fmt.Sprintf("check auth.mount, the role_id and the secret_id in %s", source)
}

type kubernetesLogin struct {
	mount   string
	role    string
	jwtFile string
}

func (k kubernetesLogin) authMethod() (api.AuthMethod, error) {
	// The file is read at every login because Kubernetes replaces a
	// projected service-account token before it expires.
	jwt, err := readCredential(k.jwtFile, "Kubernetes service-account token")
	if err != nil {
		return nil, err
	}
	return kubernetes.NewKubernetesAuth(k.role, kubernetes.WithServiceAccountToken(jwt.Reveal()), kubernetes.WithMountPath(k.mount))
}

func (k kubernetesLogin) hint() string {
	return fmt.Sprintf("check auth.mount, the role %q and that Vault accepts the service-account token in %s", k.role, k.jwtFile)
}

// readCredential reads a secret from a file, without surrounding white
// space. The error names the file but never shows its content.
func readCredential(path, what string) (secret.Value, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return secret.Value{}, fmt.Errorf("read the %s from %s: %w", what, path, err)
	}
	v := secret.New(strings.TrimSpace(string(b)))
	if v.IsZero() {
		return secret.Value{}, fmt.Errorf("read the %s from %s: the file is empty", what, path)
	}
	return v, nil
}

// login logs in and makes the new token the client's. The caller holds
// c.sem, or is NewClient before the Client is shared.
func (c *Client) login(ctx context.Context) error {
	method, err := c.method.authMethod()
	if err != nil {
		return fmt.Errorf("log in to Vault at auth/%s: %w", c.mount, err)
	}

	// The login goes out on a copy of the client without a token but with
	// the namespace and other headers, because a login needs no token and
	// the current one may be expired.
	loginClient, err := c.api.CloneWithHeaders()
	if err != nil {
		return fmt.Errorf("log in to Vault at auth/%s: copy the client: %w", c.mount, err)
	}
	loginClient.ClearToken()

	sent := c.now()
	resp, err := method.Login(ctx, loginClient)
	if err != nil {
		return c.loginError(err)
	}
	if resp == nil || resp.Auth == nil || resp.Auth.ClientToken == "" {
		return fmt.Errorf("log in to Vault at auth/%s: the response has no token", c.mount)
	}

	l := lease{
		token:     resp.Auth.ClientToken,
		obtained:  sent,
		ttl:       seconds(resp.Auth.LeaseDuration),
		renewable: resp.Auth.Renewable,
	}
	l.increment = l.ttl
	c.api.SetToken(l.token)
	c.setLease(l)
	c.log.Info("logged in to Vault", "mount", "auth/"+c.mount, "ttl", l.ttl, "renewable", l.renewable)
	return nil
}

// loginError describes a failed login. It never contains Vault's response
// body, because Vault (AppRole's "invalid secret_id" message) and proxies
// in front of it can echo the request, credentials included.
func (c *Client) loginError(err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("log in to Vault at auth/%s: %w", c.mount, err)
	}
	switch re.StatusCode {
	case http.StatusBadRequest, http.StatusForbidden:
		return fmt.Errorf("log in to Vault at auth/%s: %w (status %d); %s", c.mount, ErrLoginRejected, re.StatusCode, c.method.hint())
	case http.StatusNotFound:
		return fmt.Errorf("log in to Vault at auth/%s: Vault has no such auth method (404); check auth.mount", c.mount)
	}
	return fmt.Errorf("log in to Vault at auth/%s: Vault responded with status %d", c.mount, re.StatusCode)
}

// useStaticToken makes token (or, when empty, the VAULT_TOKEN that the
// Vault client read itself) the client's token and looks up its lifetime.
// A token whose lookup Vault denies is used without renewal, because a
// policy may deny auth/token/lookup-self to a working token.
func (c *Client) useStaticToken(ctx context.Context, token string) error {
	if token != "" {
		c.api.SetToken(token)
	}
	if c.api.Token() == "" {
		return fmt.Errorf("%s is not set; rotor needs a Vault token with access to the secret's path, or another auth.method", EnvToken)
	}

	sent := c.now()
	resp, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			c.log.Warn("Vault denied the lookup of the token (403), so rotor does not renew it; the token is invalid or expired, or its policy denies auth/token/lookup-self")
			c.setLease(lease{token: c.api.Token()})
			return nil
		}
		return fmt.Errorf("look up the Vault token: %w", safeError(err))
	}

	l := lease{token: c.api.Token(), obtained: sent}
	if resp != nil {
		l.ttl = seconds(intField(resp.Data, "ttl"))
		l.increment = seconds(intField(resp.Data, "creation_ttl"))
		l.renewable, _ = resp.Data["renewable"].(bool)
	}
	if l.increment <= 0 {
		l.increment = l.ttl
	}
	c.setLease(l)

	switch {
	case l.ttl <= 0:
		c.log.Info("using the Vault token from the environment; it does not expire")
	case !l.renewable:
		c.log.Warn("the Vault token is not renewable, so rotor loses access to Vault when it expires; use auth.method approle or kubernetes", "expires_at", sent.Add(l.ttl).UTC())
	default:
		c.log.Info("using the Vault token from the environment", "ttl", l.ttl, "renewable", l.renewable)
	}
	return nil
}

// responseStatusError is a Vault error response reduced to its status,
// because the body can echo the request, credentials included.
type responseStatusError struct{ status int }

func (e *responseStatusError) Error() string {
	return fmt.Sprintf("Vault responded with status %d", e.status)
}

// safeError returns err with a Vault error response reduced to its status.
func safeError(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return &responseStatusError{status: re.StatusCode}
	}
	return err
}

// isStatus reports whether err, from safeError, is a Vault response with
// one of statuses.
func isStatus(err error, statuses ...int) bool {
	var se *responseStatusError
	return errors.As(err, &se) && slices.Contains(statuses, se.status)
}
