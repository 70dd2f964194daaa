package vaultfake

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The fake's auth methods follow Vault's AppRole auth method, the
// Kubernetes auth plugin (hashicorp/vault-plugin-auth-kubernetes) and the
// token store in these parts:
//
//   - auth/{mount}/login needs no token in the request. It issues a service
//     token with the role's TTL and max TTL and returns it in Vault's shape
//     (auth.client_token, auth.lease_duration, auth.renewable);
//   - auth/token/renew-self extends the calling token by the requested
//     increment, or by the role's TTL without one, but never past its max
//     TTL: a capped renewal carries Vault's warning, and a non-renewable
//     token gets 400 "lease is not renewable";
//   - auth/token/lookup-self returns the token's ttl, expire_time,
//     creation_ttl and renewable;
//   - a token past its TTL or max TTL gets 403 "permission denied" on every
//     path, as Vault revokes it when it expires.
//
// Time comes from the server's clock (see SetClock). Unsupported: secret_id
// TTLs and use counts, CIDR bindings, periodic tokens, response wrapping,
// policies (every login token may do everything), and the token store's
// other paths.

// Defaults of Vault's system configuration (default_lease_ttl and
// max_lease_ttl), which apply when a role leaves token_ttl or token_max_ttl
// at 0.
const (
	systemDefaultTTL = 768 * time.Hour
	systemMaxTTL     = 768 * time.Hour
)

// Default mount paths of the auth methods, as `vault auth enable` picks them.
const (
	DefaultAppRoleMount    = "approle"
	DefaultKubernetesMount = "kubernetes"
)

// TokenPolicy is the lifetime of the tokens that a role issues, as Vault's
// role parameters token_ttl, token_max_ttl and token_type set it.
type TokenPolicy struct {
	// TTL is the token's lifetime at login and the increment of a renewal
	// that requests none. 0 means Vault's default of 768h.
	TTL time.Duration

	// MaxTTL is the lifetime from login that no renewal extends. 0 means
	// Vault's maximum of 768h.
	MaxTTL time.Duration

	// NotRenewable makes the tokens non-renewable, as Vault's batch tokens
	// are.
	NotRenewable bool
}

// AppRole is a role of an AppRole auth mount.
type AppRole struct {
	Name     string
	RoleID   string
	SecretID string // the one secret_id the role accepts; tests must not print it
	Token    TokenPolicy
}

// KubernetesRole is a role of a Kubernetes auth mount.
type KubernetesRole struct {
	Name string

	// JWT is the one service-account token the role accepts. Comparing it
	// replaces Vault's check of the JWT's signature and its review by the
	// Kubernetes TokenReview API. Tests must not print it.
	JWT string

	ServiceAccountName      string
	ServiceAccountNamespace string
	Token                   TokenPolicy
}

// authState is the fake's auth mounts and the tokens they issued. The zero
// value has no mounts.
type authState struct {
	appRoles map[string]map[string]AppRole        // mount → role name → role
	kubeRole map[string]map[string]KubernetesRole // mount → role name → role
	tokens   map[string]*loginToken
}

// loginToken is a token that a login issued.
type loginToken struct {
	id          string
	accessor    string
	entityID    string
	path        string // the login path, such as auth/approle/login
	displayName string
	meta        map[string]string

	issued      time.Time
	lastRenewal time.Time     // zero until the first renewal
	expires     time.Time     // issued or last renewal plus the granted TTL
	maxExpires  time.Time     // issued plus the max TTL
	creationTTL time.Duration // the TTL granted at login
	ttl         time.Duration // the role's TTL, the increment of a renewal without one
	renewable   bool
}

func (t *loginToken) live(now time.Time) bool {
	return now.Before(t.expires)
}

// SetClock makes now the server's clock for token lifetimes and KV
// timestamps. Tests pass a clock they advance, so that a token expires
// without waiting.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// AddAppRole adds role to the AppRole auth mount at mount (DefaultAppRoleMount
// when empty), enabling the mount if needed. A role with the same name is
// replaced; tokens it issued stay valid. It panics if the path is in use by
// a Kubernetes mount, because that is a mistake in the test.
func (s *Server) AddAppRole(mount string, role AppRole) {
	if mount == "" {
		mount = DefaultAppRoleMount
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth.kubeRole[mount]; ok {
		panic("vaultfake: auth mount " + mount + " is a Kubernetes mount")
	}
	if s.auth.appRoles == nil {
		s.auth.appRoles = map[string]map[string]AppRole{}
	}
	if s.auth.appRoles[mount] == nil {
		s.auth.appRoles[mount] = map[string]AppRole{}
	}
	s.auth.appRoles[mount][role.Name] = role
}

// AddKubernetesRole adds role to the Kubernetes auth mount at mount
// (DefaultKubernetesMount when empty), enabling the mount if needed. A role
// with the same name is replaced; tokens it issued stay valid. It panics if
// the path is in use by an AppRole mount, because that is a mistake in the
// test.
func (s *Server) AddKubernetesRole(mount string, role KubernetesRole) {
	if mount == "" {
		mount = DefaultKubernetesMount
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth.appRoles[mount]; ok {
		panic("vaultfake: auth mount " + mount + " is an AppRole mount")
	}
	if s.auth.kubeRole == nil {
		s.auth.kubeRole = map[string]map[string]KubernetesRole{}
	}
	if s.auth.kubeRole[mount] == nil {
		s.auth.kubeRole[mount] = map[string]KubernetesRole{}
	}
	s.auth.kubeRole[mount][role.Name] = role
}

// tokenValid reports whether a request with token may go to path: a login
// needs no token, and any other request needs a known token that has not
// expired. The caller holds mu.
//
// NOTE: the fake ignores a token sent with a login request, valid or not.
// Whether Vault rejects a login that carries an expired token was not
// checked; vaultauth sends none.
func (s *Server) tokenValid(token, path string) bool {
	if s.isLoginPath(path) {
		return true
	}
	if valid, ok := s.tokens[token]; ok {
		return valid
	}
	t := s.auth.tokens[token]
	return t != nil && t.live(s.now())
}

func (s *Server) isLoginPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "auth/")
	if !ok {
		return false
	}
	mount, ok := strings.CutSuffix(rest, "/login")
	if !ok {
		return false
	}
	_, approle := s.auth.appRoles[mount]
	_, kube := s.auth.kubeRole[mount]
	return approle || kube
}

// handleAuth serves the paths under auth/. rest is the path after it. The
// caller holds mu and has checked the token.
func (s *Server) handleAuth(c call, rest string) reply {
	switch rest {
	case "token/renew-self":
		if c.op != "write" {
			return unsupported
		}
		return s.renewSelf(c)
	case "token/lookup-self":
		if c.op != "read" {
			return unsupported
		}
		return s.lookupSelf(c)
	}

	if mount, ok := strings.CutSuffix(rest, "/login"); ok {
		if roles, ok := s.auth.appRoles[mount]; ok {
			if c.op != "write" {
				return unsupported
			}
			return s.appRoleLogin(c, mount, roles)
		}
		if roles, ok := s.auth.kubeRole[mount]; ok {
			if c.op != "write" {
				return unsupported
			}
			return s.kubernetesLogin(c, mount, roles)
		}
	}
	return errorReply(http.StatusNotFound, "no handler for route \""+c.path+"\". route entry not found.")
}

// appRoleLogin follows Vault's AppRole login: role_id is always required,
// and an unknown role_id or a wrong secret_id gets the same 400, so that a
// caller cannot tell which one was wrong.
func (s *Server) appRoleLogin(c call, mount string, roles map[string]AppRole) reply {
	roleID := strings.TrimSpace(stringField(c.body, "role_id"))
	if roleID == "" {
		return errorReply(http.StatusBadRequest, "missing role_id")
	}
	var role *AppRole
	for _, r := range roles {
		if r.RoleID == roleID {
			role = &r
			break
		}
	}
	if role == nil {
		return errorReply(http.StatusBadRequest, "invalid role or secret ID")
	}
	secretID := strings.TrimSpace(stringField(c.body, "secret_id"))
	if secretID == "" {
		return errorReply(http.StatusBadRequest, "missing secret_id")
	}
	if subtle.ConstantTimeCompare([]byte(secretID), []byte(role.SecretID)) != 1 {
		return errorReply(http.StatusBadRequest, "invalid role or secret ID")
	}
	return s.issue("auth/"+mount+"/login", "approle", map[string]string{"role_name": role.Name}, role.Token)
}

// kubernetesLogin follows the Kubernetes auth plugin: a missing field or an
// unknown role gets 400, and a JWT that the review rejects gets 403.
func (s *Server) kubernetesLogin(c call, mount string, roles map[string]KubernetesRole) reply {
	name := stringField(c.body, "role")
	if name == "" {
		return errorReply(http.StatusBadRequest, "missing role")
	}
	jwt := stringField(c.body, "jwt")
	if jwt == "" {
		return errorReply(http.StatusBadRequest, "missing jwt")
	}
	role, ok := roles[name]
	if !ok {
		return errorReply(http.StatusBadRequest, fmt.Sprintf("invalid role name %q", name))
	}
	if subtle.ConstantTimeCompare([]byte(jwt), []byte(role.JWT)) != 1 {
		return permissionDenied
	}
	meta := map[string]string{
		"role":                        role.Name,
		"service_account_name":        role.ServiceAccountName,
		"service_account_namespace":   role.ServiceAccountNamespace,
		"service_account_secret_name": "",
		"service_account_uid":         requestID(),
	}
	display := mount + "-" + role.ServiceAccountNamespace + "-" + role.ServiceAccountName
	return s.issue("auth/"+mount+"/login", display, meta, role.Token)
}

// issue creates a token for a login at path and returns Vault's login
// response.
func (s *Server) issue(path, displayName string, meta map[string]string, policy TokenPolicy) reply {
	ttl, maxTTL := policy.TTL, policy.MaxTTL
	if ttl <= 0 {
		ttl = systemDefaultTTL
	}
	if maxTTL <= 0 {
		maxTTL = systemMaxTTL
	}
	granted := min(ttl, maxTTL)

	now := s.now()
	t := &loginToken{
		id:          newToken(),
		accessor:    requestID()[:24],
		entityID:    requestID(),
		path:        path,
		displayName: displayName,
		meta:        meta,
		issued:      now,
		expires:     now.Add(granted),
		maxExpires:  now.Add(maxTTL),
		creationTTL: granted,
		ttl:         ttl,
		renewable:   !policy.NotRenewable,
	}
	if s.auth.tokens == nil {
		s.auth.tokens = map[string]*loginToken{}
	}
	s.auth.tokens[t.id] = t
	return authReply(t, granted, nil)
}

// renewSelf follows Vault's token renewal: the increment is the requested
// one or else the role's TTL, capped at the time left before the max TTL.
func (s *Server) renewSelf(c call) reply {
	t := s.auth.tokens[c.token]
	if t == nil {
		// A static token (the root token or one from AddToken) has no
		// lease, as Vault's root tokens.
		return errorReply(http.StatusBadRequest, "lease is not renewable")
	}
	if !t.renewable {
		return errorReply(http.StatusBadRequest, "lease is not renewable")
	}
	increment, err := durationField(c.body, "increment")
	if err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	ttl := t.ttl
	if increment > 0 {
		ttl = increment
	}

	now := s.now()
	var warnings []string
	if left := t.maxExpires.Sub(now); ttl > left {
		warnings = append(warnings, fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly", ttl, left))
		ttl = left
	}
	t.expires = now.Add(ttl)
	t.lastRenewal = now
	return authReply(t, ttl, warnings)
}

// lookupSelf returns the calling token's properties in Vault's shape.
func (s *Server) lookupSelf(c call) reply {
	now := s.now()
	t := s.auth.tokens[c.token]
	if t == nil {
		return dataReply(http.StatusOK, map[string]any{
			"accessor":         "",
			"creation_time":    now.Unix(),
			"creation_ttl":     0,
			"display_name":     "root",
			"entity_id":        "",
			"expire_time":      nil,
			"explicit_max_ttl": 0,
			"id":               c.token,
			"meta":             nil,
			"num_uses":         0,
			"orphan":           true,
			"path":             "auth/token/root",
			"policies":         []string{"root"},
			"renewable":        false,
			"ttl":              0,
			"type":             "service",
		})
	}
	data := map[string]any{
		"accessor":         t.accessor,
		"creation_time":    t.issued.Unix(),
		"creation_ttl":     seconds(t.creationTTL),
		"display_name":     t.displayName,
		"entity_id":        t.entityID,
		"expire_time":      t.expires.Format(time.RFC3339Nano),
		"explicit_max_ttl": 0,
		"id":               t.id,
		"issue_time":       t.issued.Format(time.RFC3339Nano),
		"meta":             maps.Clone(t.meta),
		"num_uses":         0,
		"orphan":           true,
		"path":             t.path,
		"policies":         []string{"default"},
		"renewable":        t.renewable,
		"ttl":              seconds(t.expires.Sub(now)),
		"type":             "service",
	}
	if !t.lastRenewal.IsZero() {
		data["last_renewal"] = t.lastRenewal.Format(time.RFC3339Nano)
		data["last_renewal_time"] = t.lastRenewal.Unix()
	}
	return dataReply(http.StatusOK, data)
}

// authReply is Vault's response to a login or a renewal: the token under
// "auth", and lease_duration its granted TTL in whole seconds.
func authReply(t *loginToken, granted time.Duration, warnings []string) reply {
	return reply{status: http.StatusOK, body: map[string]any{
		"request_id":     requestID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           nil,
		"wrap_info":      nil,
		"warnings":       warnings,
		"auth": map[string]any{
			"client_token":    t.id,
			"accessor":        t.accessor,
			"policies":        []string{"default"},
			"token_policies":  []string{"default"},
			"metadata":        maps.Clone(t.meta),
			"lease_duration":  seconds(granted),
			"renewable":       t.renewable,
			"entity_id":       t.entityID,
			"token_type":      "service",
			"orphan":          true,
			"mfa_requirement": nil,
			"num_uses":        0,
		},
	}}
}

// seconds returns d in whole seconds, as Vault's TTL fields carry it.
func seconds(d time.Duration) int64 {
	return int64(max(d, 0) / time.Second)
}

func stringField(body map[string]any, name string) string {
	s, _ := body[name].(string)
	return s
}

// durationField parses a duration parameter as Vault does: a number of
// seconds, or a string with a unit ("1h") or without one ("3600"). A
// missing field is 0.
func durationField(body map[string]any, name string) (time.Duration, error) {
	switch v := body[name].(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0, fmt.Errorf("invalid %s %q: not a whole number of seconds", name, v)
		}
		return time.Duration(n) * time.Second, nil
	case string:
		if v == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("invalid %s %q: not a duration", name, v)
		}
		return d, nil
	}
	return 0, fmt.Errorf("invalid %s: not a duration", name)
}
