package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Auth is the sign-in configuration: operators sign in with OpenID Connect
// and get a role from their groups. Without it, rotor serve listens on
// loopback only, as one local operator.
type Auth struct {
	OIDC OIDC

	// Roles lists, per role (viewer, operator, admin), the groups whose
	// members get it. A person gets the highest role of any group.
	Roles map[string][]string

	// SessionTTL is how long a sign-in lasts; IdleTimeout ends a session
	// that made no request for that long.
	SessionTTL  time.Duration
	IdleTimeout time.Duration
}

// Enabled reports whether sign-in is configured.
func (a Auth) Enabled() bool { return a.OIDC.Issuer != "" }

// OIDC is the team's OpenID Connect identity provider.
type OIDC struct {
	Issuer          string   // the issuer URL, such as https://id.example.com/realms/platform
	ClientID        string   // rotor's client at the provider
	ClientSecretEnv string   // the environment variable that holds the client secret
	Scopes          []string // requested beyond openid, profile and email, such as groups
	GroupsClaim     string   // the ID token claim that lists the groups; default "groups"
	NameClaim       string   // the claim that names the person in the audit log; default "email"

	// CAFile is an optional PEM bundle to trust for the provider instead
	// of the system pool. Parse resolves a relative path against the
	// directory of the configuration file.
	CAFile string
}

// Defaults of the auth section.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultIdleTimeout = time.Hour
	DefaultGroupsClaim = "groups"
	DefaultNameClaim   = "email"
)

// AuthRoles are the role names auth.roles accepts, lowest first.
var AuthRoles = []string{"viewer", "operator", "admin"}

func (d *decoder) auth(path string, n *yaml.Node, a *Auth) {
	d.mapping(path, n,
		field{"oidc", func(key string, v *yaml.Node) { d.oidc(key, v, &a.OIDC) }},
		field{"roles", func(key string, v *yaml.Node) { a.Roles = d.roles(key, v) }},
		field{"session_ttl", func(key string, v *yaml.Node) { d.duration(key, v, &a.SessionTTL) }},
		field{"idle_timeout", func(key string, v *yaml.Node) { d.duration(key, v, &a.IdleTimeout) }},
	)
}

func (d *decoder) oidc(path string, n *yaml.Node, o *OIDC) {
	d.mapping(path, n,
		field{"issuer", func(key string, v *yaml.Node) { d.str(key, v, &o.Issuer) }},
		field{"client_id", func(key string, v *yaml.Node) { d.str(key, v, &o.ClientID) }},
		field{"client_secret_env", func(key string, v *yaml.Node) { d.str(key, v, &o.ClientSecretEnv) }},
		field{"scopes", func(key string, v *yaml.Node) { d.strs(key, v, &o.Scopes) }},
		field{"groups_claim", func(key string, v *yaml.Node) { d.str(key, v, &o.GroupsClaim) }},
		field{"name_claim", func(key string, v *yaml.Node) { d.str(key, v, &o.NameClaim) }},
		field{"ca_file", func(key string, v *yaml.Node) { d.str(key, v, &o.CAFile) }},
	)
}

func (d *decoder) roles(path string, n *yaml.Node) map[string][]string {
	out := map[string][]string{}
	fields := make([]field, len(AuthRoles))
	for i, role := range AuthRoles {
		fields[i] = field{role, func(key string, v *yaml.Node) {
			var groups []string
			d.strs(key, v, &groups)
			out[role] = groups
		}}
	}
	d.mapping(path, n, fields...)
	return out
}

// setAuthDefaults fills the defaults of a configured auth section and
// resolves a relative ca_file against dir.
func (a *Auth) setAuthDefaults(dir string) {
	if !a.Enabled() {
		return
	}
	setIfZero(&a.SessionTTL, DefaultSessionTTL)
	setIfZero(&a.IdleTimeout, DefaultIdleTimeout)
	setIfZero(&a.OIDC.GroupsClaim, DefaultGroupsClaim)
	setIfZero(&a.OIDC.NameClaim, DefaultNameClaim)
	if a.OIDC.CAFile != "" && !filepath.IsAbs(a.OIDC.CAFile) && dir != "" {
		a.OIDC.CAFile = filepath.Join(dir, a.OIDC.CAFile)
	}
}

func (v *validator) auth() {
	a := v.c.Auth
	if !a.Enabled() {
		if a.OIDC.ClientID != "" || len(a.Roles) > 0 {
			v.add("auth.oidc.issuer", "is required; set the issuer URL of your identity provider, such as https://id.example.com/realms/platform")
		}
		return
	}

	if _, problems := checkURL(a.OIDC.Issuer, "the identity provider's issuer", true); len(problems) > 0 {
		for _, msg := range problems {
			v.add("auth.oidc.issuer", "%s", msg)
		}
	}
	if a.OIDC.ClientID == "" {
		v.add("auth.oidc.client_id", "is required; set rotor's client id at the identity provider")
	}
	v.env("auth.oidc.client_secret_env", a.OIDC.ClientSecretEnv, "the OpenID Connect client secret")
	if a.OIDC.CAFile != "" {
		if msg := checkCAFile(a.OIDC.CAFile); msg != "" {
			v.add("auth.oidc.ca_file", "%s", msg)
		}
	}

	if strings.HasPrefix(v.c.Server.PublicURL, "http://") && v.c.Server.TLS.Enabled() {
		v.add("server.public_url", "%s is http:// but rotor serves HTTPS with server.tls_cert_file; use https://, or the identity provider's redirect to /auth/callback cannot reach rotor", quote(v.c.Server.PublicURL))
	}
	if v.c.Server.PublicURL == "" {
		v.add("server.public_url", "is required with auth; set the URL operators reach rotor at, such as https://rotor.example.com, because the identity provider redirects back to its /auth/callback")
	}
	any := false
	for _, role := range AuthRoles {
		for i, g := range a.Roles[role] {
			if g == "" {
				v.add(fmt.Sprintf("auth.roles.%s[%d]", role, i), "is empty; name a group from the %s claim", a.OIDC.GroupsClaim)
			}
			any = true
		}
	}
	if !any {
		v.add("auth.roles", "is required; map at least one group to a role, such as operator: [platform-oncall]")
	}
	if a.SessionTTL < 5*time.Minute || a.SessionTTL > 7*24*time.Hour {
		v.add("auth.session_ttl", "%s is outside 5m to 7d; sessions last %s by default", formatDuration(a.SessionTTL), formatDuration(DefaultSessionTTL))
	}
	if a.IdleTimeout < time.Minute || a.IdleTimeout > a.SessionTTL {
		v.add("auth.idle_timeout", "%s must be at least 1m and at most auth.session_ttl (%s)", formatDuration(a.IdleTimeout), formatDuration(a.SessionTTL))
	}
}

// RedirectURL returns the URL the identity provider sends operators back
// to after sign-in: server.public_url with the path /auth/callback.
func (c *Config) RedirectURL() string {
	u, err := url.Parse(c.Server.PublicURL)
	if err != nil {
		return ""
	}
	return u.JoinPath("/auth/callback").String()
}

// TLS is a certificate and key for rotor to serve HTTPS itself.
type TLS struct {
	CertFile string // PEM certificate chain
	KeyFile  string // PEM private key
}

// Enabled reports whether rotor serves TLS itself.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (v *validator) tls() {
	t := v.c.Server.TLS
	if !t.Enabled() {
		return
	}
	for key, path := range map[string]string{"server.tls_cert_file": t.CertFile, "server.tls_key_file": t.KeyFile} {
		if path == "" {
			v.add(key, "is required with the other TLS file; set both server.tls_cert_file and server.tls_key_file, or neither")
			continue
		}
		if _, err := os.Stat(path); err != nil {
			v.add(key, "%s cannot be read: %v", quote(path), err)
		}
	}
}
