package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authBlock configures sign-in with every role mapped.
const authBlock = `auth:
  oidc:
    issuer: https://id.example.com/realms/platform
    client_id: rotor
    client_secret_env: ROTOR_OIDC_CLIENT_SECRET
    scopes: [groups]
  roles:
    viewer: [platform-team]
    operator: [platform-oncall]
    admin: [platform-admins]
`

func withAuth(t *testing.T, block string) string {
	t.Helper()
	return edit(t, baseYAML, "server:\n", "server:\n  public_url: https://rotor.example.com\n") + block
}

func TestParseAuth(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, edit(t, withAuth(t, authBlock), "127.0.0.1:", "0.0.0.0:"))
	a := cfg.Auth
	if !a.Enabled() || a.OIDC.ClientID != "rotor" || a.OIDC.ClientSecretEnv != "ROTOR_OIDC_CLIENT_SECRET" {
		t.Errorf("Auth.OIDC = %+v", a.OIDC)
	}
	if a.OIDC.GroupsClaim != "groups" || a.OIDC.NameClaim != "email" || a.SessionTTL != 12*time.Hour || a.IdleTimeout != time.Hour {
		t.Errorf("defaults: groups claim %q, name claim %q, session %s, idle %s", a.OIDC.GroupsClaim, a.OIDC.NameClaim, a.SessionTTL, a.IdleTimeout)
	}
	if got := strings.Join(a.Roles["operator"], ","); got != "platform-oncall" {
		t.Errorf("operator groups = %q, want platform-oncall", got)
	}
	if got := cfg.RedirectURL(); got != "https://rotor.example.com/auth/callback" {
		t.Errorf("RedirectURL = %q", got)
	}
}

func TestParseAuthRules(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		text, key, message string
	}{
		"every interface without auth": {edit(t, baseYAML, "127.0.0.1:", "0.0.0.0:"), "server.addr", "Configure auth.oidc"},
		"roles without issuer":         {baseYAML + "auth:\n  roles:\n    admin: [a]\n", "auth.oidc.issuer", "is required"},
		"issuer over plain http":       {withAuth(t, strings.Replace(authBlock, "https://id.example.com", "http://id.example.com", 1)), "auth.oidc.issuer", "https"},
		"no client id":                 {withAuth(t, strings.Replace(authBlock, "    client_id: rotor\n", "", 1)), "auth.oidc.client_id", "is required"},
		"secret in place of variable":  {withAuth(t, strings.Replace(authBlock, "ROTOR_OIDC_CLIENT_SECRET", "s3cr=t", 1)), "auth.oidc.client_secret_env", "is not an environment variable name"},
		"no role mapped":               {withAuth(t, authBlock[:strings.Index(authBlock, "  roles:")]), "auth.roles", "is required"},
		"unknown role":                 {withAuth(t, authBlock+"    owner: [x]\n"), "auth.roles.owner", "unknown key"},
		"session too long":             {withAuth(t, authBlock+"  session_ttl: 30d\n"), "auth.session_ttl", "outside 5m to 7d"},
		"idle beyond session":          {withAuth(t, authBlock+"  session_ttl: 1h\n  idle_timeout: 2h\n"), "auth.idle_timeout", "at most auth.session_ttl"},
		"no public url":                {baseYAML + authBlock, "server.public_url", "is required with auth"},
		"http public url with TLS":     {edit(t, withAuth(t, authBlock), "public_url: https://", "public_url: http://", "server:\n", "server:\n  tls_cert_file: /nonexistent/c.pem\n  tls_key_file: /nonexistent/k.pem\n"), "server.public_url", "use https://"},
		"env example for the secret":   {withAuth(t, strings.Replace(authBlock, "    client_secret_env: ROTOR_OIDC_CLIENT_SECRET\n", "", 1)), "auth.oidc.client_secret_env", "such as ROTOR_OIDC_CLIENT_SECRET"},
		"one TLS file":                 {edit(t, baseYAML, "server:\n", "server:\n  tls_cert_file: /nonexistent/cert.pem\n"), "server.tls_key_file", "set both"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var found []string
			for _, p := range parseProblems(t, c.text) {
				if p.Key == c.key && strings.Contains(p.Message, c.message) {
					return
				}
				found = append(found, p.String())
			}
			t.Errorf("no problem %s containing %q; got:\n%s", c.key, c.message, strings.Join(found, "\n"))
		})
	}
}

func TestParseTLSFilesRelative(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := edit(t, baseYAML, "server:\n", "server:\n  tls_cert_file: tls.crt\n  tls_key_file: tls.key\n")
	cfg, err := Parse(filepath.Join(dir, "rotor.yaml"), []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Server.TLS.CertFile != filepath.Join(dir, "tls.crt") || cfg.Server.TLS.KeyFile != filepath.Join(dir, "tls.key") {
		t.Errorf("TLS = %+v, want both paths in %s", cfg.Server.TLS, dir)
	}
}

func TestParseFourEyes(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, edit(t, baseYAML, "    client_id: client-a\n", "    client_id: client-a\n    four_eyes: true\n"))
	if !cfg.Credentials[0].FourEyes {
		t.Errorf("FourEyes = false, want true")
	}
	problems := parseProblems(t, edit(t, baseYAML, "    client_id: client-a\n", "    client_id: client-a\n    four_eyes: yes\n"))
	if len(problems) != 1 || problems[0].Key != "credentials[0].four_eyes" || !strings.Contains(problems[0].Message, `must be true or false, not "yes"`) {
		t.Errorf("problems = %v, want one for four_eyes: yes", problems)
	}
}
