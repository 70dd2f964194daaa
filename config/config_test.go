package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "many-problems.yaml")
	_, err := Load(path)
	var pe *ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("Load error = %v, want *ProblemsError", err)
	}

	type located struct {
		Line int
		Key  string
	}
	var got []located
	for _, p := range pe.Problems {
		got = append(got, located{p.Line, p.Key})
		if p.File != path {
			t.Errorf("problem file = %q, want %q", p.File, path)
		}
	}
	want := []located{
		{4, "persium.token_url"},
		{7, "persium.timeout"},
		{10, "server.time_zone"},
		{15, "backends.vault-main.vault.vault_token"},
		{17, "backends.spare.type"},
		{21, "credentials[0].organisation_id"},
		{23, "credentials[0].client_secret"},
		{27, "credentials[1].id"},
		{31, "credentials[1].rotation_perod"},
		{33, "credentials[1].store.backend"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	for _, canary := range []string{"CANARY-VAULT-TOKEN", "CANARY-CLIENT-SECRET"} {
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error text contains the secret value %q:\n%s", canary, err)
		}
	}
}

func TestParseSecretLookingKeys(t *testing.T) {
	t.Parallel()
	const canary = "CANARY-SECRET-VALUE"
	tests := []struct {
		name  string
		edits []string
		key   string
		at    string
	}{
		{
			name:  "client_secret in a credential",
			edits: []string{"    client_id: client-a\n", "    client_id: client-a\n    client_secret: " + canary + "\n"},
			key:   "credentials[0].client_secret",
			at:    "client_secret:",
		},
		{
			name:  "secret in a store",
			edits: []string{"      path: persium/cred-a\n", "      path: persium/cred-a\n      secret: " + canary + "\n"},
			key:   "credentials[0].store.secret",
			at:    "secret: CANARY",
		},
		{
			name:  "token in vault settings",
			edits: []string{"      mount: kv\n", "      mount: kv\n      token: " + canary + "\n"},
			key:   "backends.vault-main.vault.token",
			at:    "token: CANARY",
		},
		{
			name:  "vault_token at the top",
			edits: []string{"server:\n", "vault_token: " + canary + "\nserver:\n"},
			key:   "vault_token",
			at:    "vault_token:",
		},
		{
			name:  "password in persium",
			edits: []string{"  timeout: 5s\n", "  timeout: 5s\n  password: " + canary + "\n"},
			key:   "persium.password",
			at:    "password:",
		},
		{
			name:  "key in another spelling",
			edits: []string{"    client_id: client-a\n", "    client_id: client-a\n    Client-Secret: " + canary + "\n"},
			key:   "credentials[0].Client-Secret",
			at:    "Client-Secret:",
		},
		{
			name:  "secret holding a mapping",
			edits: []string{"    client_id: client-a\n", "    client_id: client-a\n    client_secret:\n      value: " + canary + "\n"},
			key:   "credentials[0].client_secret",
			at:    "client_secret:",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := edit(t, baseYAML, tc.edits...)
			problems := parseProblems(t, text)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(problems), (&ProblemsError{Problems: problems}).Error())
			}
			checkSecretProblem(t, problems[0], tc.key, lineContaining(t, text, tc.at))
			if all := (&ProblemsError{Problems: problems}).Error(); strings.Contains(all, canary) {
				t.Errorf("error text contains the secret value:\n%s", all)
			}
		})
	}
}

func TestParseSecretLookingKeysUnderUnknownKeys(t *testing.T) {
	t.Parallel()
	const canary = "CANARY-SECRET-VALUE"
	text := baseYAML + "logging:\n  sink:\n    password: " + canary + "\n  hooks:\n    - api_key: " + canary + "\n"
	problems := parseProblems(t, text)
	if len(problems) != 3 {
		t.Fatalf("got %d problems, want 3:\n%s", len(problems), (&ProblemsError{Problems: problems}).Error())
	}

	unknown := problems[0]
	if unknown.Key != "logging" || !strings.Contains(unknown.Message, "unknown key; the keys here are persium, server, backends, channels, reminders, incidents, auth, credentials") {
		t.Errorf("first problem = %s, want logging as an unknown key listing the known ones", unknown)
	}
	checkSecretProblem(t, problems[1], "logging.sink.password", lineContaining(t, text, "password:"))
	checkSecretProblem(t, problems[2], "logging.hooks[0].api_key", lineContaining(t, text, "api_key:"))
	if all := (&ProblemsError{Problems: problems}).Error(); strings.Contains(all, canary) {
		t.Errorf("error text contains the secret value:\n%s", all)
	}
}

func checkSecretProblem(t *testing.T, p Problem, key string, line int) {
	t.Helper()
	if p.Key != key {
		t.Errorf("key = %q, want %q", p.Key, key)
	}
	if p.Line != line {
		t.Errorf("line = %d, want %d", p.Line, line)
	}
	for _, want := range []string{"looks like a secret", "secrets manager", "environment"} {
		if !strings.Contains(p.Message, want) {
			t.Errorf("message %q does not contain %q", p.Message, want)
		}
	}
}

func TestLooksSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"client_secret", true},
		{"secret", true},
		{"password", true},
		{"token", true},
		{"vault_token", true},
		{"VAULT-TOKEN", true},
		{"secret_id", true},
		{"role_secret_id", true},
		{"api_key", true},
		{"private_key", true},
		{"token_url", false},
		{"json_key", false},
		{"client_id", false},
		{"secrets_manager", false},
		{"ca_file", false},
	}
	for _, tc := range tests {
		if got := looksSecret(tc.key); got != tc.want {
			t.Errorf("looksSecret(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestParseFileProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		line int
		want string
	}{
		{"empty", "", 0, "the file is empty"},
		{"only comments", "# nothing here\n", 0, "the file is empty"},
		{"null document", "---\n", 0, "the file is empty"},
		{"unclosed list", "persium:\n  timeout: 5s\n  hosts: [a, b\n", 3, "invalid YAML: did not find expected ',' or ']'"},
		{"unclosed list reported at the end", "persium: [a, b\n", 2, "invalid YAML: did not find expected ',' or ']'"},
		{"list item in a mapping", "persium:\n  timeout: 5s\n- a\n", 3, "invalid YAML: did not find expected key"},
		{"unclosed quote", "persium:\n  timeout: 5s\n  addr: 'x\n", 3, "invalid YAML: found unexpected end of stream"},
		{"mapping in a plain value", "persium:\n  timeout: 5s\n  addr: a: b\n", 3, "invalid YAML: mapping values are not allowed in this context"},
		{"bad escape on the first line", "persium: \"\\q\"\n", 1, "invalid YAML: found unknown escape character"},
		{"bad escape", "persium:\n  addr: \"\\q\"\n", 2, "invalid YAML: found unknown escape character"},
		{"unknown anchor", "persium:\n  addr: *nowhere\n", 0, "invalid YAML: unknown anchor 'nowhere' referenced"},
		{"two documents", "persium: {}\n---\nserver: {}\n", 2, "more than one YAML document"},
		{"top-level list", "- persium\n", 1, "must be a YAML mapping"},
		{"top-level scalar", "persium\n", 1, "must be a YAML mapping"},
		{"too large", "# " + strings.Repeat("x", maxFileSize) + "\n", 0, "larger than 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			problems := parseProblems(t, tc.text)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(problems), problems)
			}
			if problems[0].Line != tc.line {
				t.Errorf("line = %d, want %d (%s)", problems[0].Line, tc.line, problems[0])
			}
			if !strings.Contains(problems[0].Message, tc.want) {
				t.Errorf("message %q does not contain %q", problems[0].Message, tc.want)
			}
		})
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	t.Parallel()
	const text = `persium:
  token_url: https://auth.persium.example/token
  api_url: https://api.persium.example/v1
  hosts: [auth.persium.example, api.persium.example]
  timeout:
backends:
  vault-main:
    type: vault
  mem:
    type: memory
credentials:
  - id: cred-a
    organisation: Org A
    organisation_id: 3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f
    client_id: client-a
    store: {backend: vault-main, path: persium/cred-a}
  - id: cred-b
    organisation: Org B
    organisation_id: 8d1e6a2b-4c3f-4e7a-9b5d-2f0c8e6a1b3d
    client_id: client-b
    min_dual_active: 0s
    store: {backend: mem, path: cred-b}
`
	got := mustParse(t, text)
	want := &Config{
		Persium: Persium{
			TokenURL: "https://auth.persium.example/token",
			APIURL:   "https://api.persium.example/v1",
			Hosts:    []string{"auth.persium.example", "api.persium.example"},
			Timeout:  10 * time.Second,
		},
		Server:    Server{Addr: "127.0.0.1:8080", TimeZone: "UTC"},
		Reminders: DefaultReminders,
		Incidents: Incidents{RemindEvery: DefaultIncidentRemindEvery},
		Backends: map[string]Backend{
			"vault-main": {Name: "vault-main", Type: "vault", Vault: VaultBackend{Mount: "secret", Auth: VaultAuth{Method: VaultAuthToken}}},
			"mem":        {Name: "mem", Type: "memory"},
		},
		Credentials: []Credential{
			{
				ID: "cred-a", Organisation: "Org A", OrganisationID: "3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f", ClientID: "client-a",
				AuthMethod: "basic", RotationPeriod: 2160 * time.Hour, MinDualActive: time.Hour,
				Store: Store{Backend: "vault-main", Path: "persium/cred-a", Format: "json", JSONKey: "client_secret", Retire: "disable"},
			},
			{
				ID: "cred-b", Organisation: "Org B", OrganisationID: "8d1e6a2b-4c3f-4e7a-9b5d-2f0c8e6a1b3d", ClientID: "client-b",
				AuthMethod: "basic", RotationPeriod: 2160 * time.Hour, MinDualActive: 0,
				Store: Store{Backend: "mem", Path: "cred-b", Format: "plain", Retire: "disable"},
			},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseReadsEveryKey(t *testing.T) {
	t.Parallel()
	got := mustParse(t, baseYAML)
	want := &Config{
		Persium: Persium{
			TokenURL: "https://auth.persium.example/realms/customers/protocol/openid-connect/token",
			APIURL:   "https://api.persium.example/v1",
			Hosts:    []string{"auth.persium.example", "api.persium.example"},
			Timeout:  5 * time.Second,
		},
		Server:    Server{Addr: "127.0.0.1:9090", TimeZone: "Europe/Berlin"},
		Reminders: DefaultReminders,
		Incidents: Incidents{RemindEvery: DefaultIncidentRemindEvery},
		Backends: map[string]Backend{
			"vault-main": {Name: "vault-main", Type: "vault", Vault: VaultBackend{Address: "https://vault.example:8200", Mount: "kv", Namespace: "platform", Auth: VaultAuth{Method: VaultAuthToken}}},
			"mem":        {Name: "mem", Type: "memory"},
		},
		Credentials: []Credential{
			{
				ID: "cred-a", Organisation: "Org A", OrganisationID: "3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f", ClientID: "client-a",
				AuthMethod: "basic", RotationPeriod: 2160 * time.Hour, MinDualActive: time.Hour,
				Store: Store{Backend: "vault-main", Path: "persium/cred-a", Format: "json", JSONKey: "client_secret", Retire: "disable"},
			},
			{
				ID: "cred-b", Organisation: "Org B", OrganisationID: "8d1e6a2b-4c3f-4e7a-9b5d-2f0c8e6a1b3d", ClientID: "client-b",
				AuthMethod: "post", RotationPeriod: 30 * 24 * time.Hour, MinDualActive: 2 * time.Hour, Overlap: 36 * time.Hour,
				Store: Store{Backend: "mem", Path: "cred-b", Format: "json", JSONKey: "value", Retire: "destroy"},
			},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseFollowsAliases(t *testing.T) {
	t.Parallel()
	text := edit(t, baseYAML,
		"      backend: vault-main\n      path: persium/cred-a\n", "      backend: &main vault-main\n      path: persium/cred-a\n",
		"    organisation: Org B\n", "    organisation: Org B\n    rotation_period: &period 30d\n",
		"    rotation_period: 30d\n", "",
		"      backend: mem\n", "      backend: *main\n",
		"      path: cred-b\n", "      path: persium/cred-b\n",
		"      format: json\n      json_key: value\n", "",
	)
	cfg := mustParse(t, text)
	if got := cfg.Credentials[1].Store.Backend; got != "vault-main" {
		t.Errorf("credentials[1].store.backend = %q, want the aliased %q", got, "vault-main")
	}
}

func TestLoadResolvesRelativeCAFile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	path := filepath.Join(f.dir, "rotor.yaml")
	writeFile(t, path, edit(t, baseYAML, "  timeout: 5s\n", "  timeout: 5s\n  ca_file: ca.pem\n"))

	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Persium.CAFile, f.caFile; got != want {
		t.Errorf("ca_file = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load error = %v, want one that wraps fs.ErrNotExist", err)
	}
	var pe *ProblemsError
	if errors.As(err, &pe) {
		t.Errorf("Load error is a *ProblemsError, want a read error")
	}
}

func TestExampleConfigurationLoads(t *testing.T) {
	t.Parallel()
	cfg, err := Load(filepath.Join("..", "examples", "rotor.yaml"))
	if err != nil {
		t.Fatalf("Load examples/rotor.yaml: %v", err)
	}
	if got := len(cfg.Credentials); got != 2 {
		t.Errorf("credentials = %d, want 2", got)
	}
	if got := len(cfg.Backends); got != 1 {
		t.Errorf("backends = %d, want 1", got)
	}
	for _, cred := range cfg.Credentials {
		if b := cfg.Backends[cred.Store.Backend]; b.Type != BackendVault {
			t.Errorf("credential %s is stored in backend type %q, want vault", cred.ID, b.Type)
		}
	}
}

// codeConfig returns a valid Config as rotor dev might build it.
func codeConfig() *Config {
	return &Config{
		Persium: Persium{
			TokenURL: "https://127.0.0.1:8443/token",
			APIURL:   "https://127.0.0.1:8443/api",
			Hosts:    []string{"127.0.0.1"},
		},
		Backends: map[string]Backend{"memory": {Type: BackendMemory}},
		Credentials: []Credential{{
			ID:             "demo-a",
			Organisation:   "Demo Org",
			OrganisationID: "3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f",
			ClientID:       "demo-client-a",
			Store:          Store{Backend: "memory", Path: "demo-a"},
		}},
	}
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	t.Parallel()

	t.Run("valid after SetDefaults", func(t *testing.T) {
		t.Parallel()
		cfg := codeConfig()
		cfg.SetDefaults()
		if problems := cfg.Validate(); len(problems) != 0 {
			t.Fatalf("Validate = %v, want none", problems)
		}
		cred, _ := cfg.Credential("demo-a")
		want := Credential{
			ID: "demo-a", Organisation: "Demo Org", OrganisationID: "3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f", ClientID: "demo-client-a",
			AuthMethod: "basic", RotationPeriod: DefaultRotationPeriod, MinDualActive: 0,
			Store: Store{Backend: "memory", Path: "demo-a", Format: "plain", Retire: "disable"},
		}
		if diff := cmp.Diff(want, cred); diff != "" {
			t.Errorf("credential after SetDefaults (-want +got):\n%s", diff)
		}
		if got := cfg.Backends["memory"].Name; got != "memory" {
			t.Errorf("backend name = %q, want %q", got, "memory")
		}
	})

	t.Run("problems without file or line", func(t *testing.T) {
		t.Parallel()
		cfg := codeConfig()
		cfg.SetDefaults()
		cfg.Credentials[0].ClientID = ""
		problems := cfg.Validate()
		want := []Problem{{Key: "credentials[0].client_id", Message: "is required; copy the client_id Persium issued"}}
		if diff := cmp.Diff(want, problems); diff != "" {
			t.Errorf("Validate (-want +got):\n%s", diff)
		}
		if got, want := problems[0].String(), "credentials[0].client_id: is required; copy the client_id Persium issued"; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	})

	t.Run("zero values without SetDefaults", func(t *testing.T) {
		t.Parallel()
		problems := codeConfig().Validate()
		var keys []string
		for _, p := range problems {
			keys = append(keys, p.Key)
		}
		want := []string{
			"persium.timeout",
			"server.addr",
			"server.time_zone",
			"credentials[0].auth_method",
			"credentials[0].rotation_period",
			"credentials[0].store.format",
			"credentials[0].store.retire",
		}
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Errorf("Validate keys (-want +got):\n%s", diff)
		}
	})

	t.Run("name differs from the map key", func(t *testing.T) {
		t.Parallel()
		cfg := codeConfig()
		cfg.Backends["memory"] = Backend{Name: "mem", Type: BackendMemory}
		cfg.SetDefaults()
		problems := cfg.Validate()
		if len(problems) != 1 || problems[0].Key != "backends.memory" || !strings.Contains(problems[0].Message, "must be the same") {
			t.Errorf("Validate = %v, want one problem saying name and key differ", problems)
		}
	})
}

func TestCredentialLookup(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, baseYAML)

	got, ok := cfg.Credential("cred-b")
	if !ok {
		t.Fatalf("Credential(cred-b) not found")
	}
	if got.ClientID != "client-b" {
		t.Errorf("Credential(cred-b).ClientID = %q, want %q", got.ClientID, "client-b")
	}
	if _, ok := cfg.Credential("cred-z"); ok {
		t.Errorf("Credential(cred-z) found, want not found")
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		problem Problem
		want    string
	}{
		{Problem{File: "rotor.yaml", Line: 12, Key: "credentials[1].store.backend", Message: "m"}, "rotor.yaml:12: credentials[1].store.backend: m"},
		{Problem{File: "rotor.yaml", Key: "persium", Message: "m"}, "rotor.yaml: persium: m"},
		{Problem{File: "rotor.yaml", Line: 3, Message: "m"}, "rotor.yaml:3: m"},
		{Problem{Line: 3, Key: "k", Message: "m"}, "line 3: k: m"},
		{Problem{Key: "k", Message: "m"}, "k: m"},
	}
	for _, tc := range tests {
		if got := tc.problem.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}

	err := &ProblemsError{Problems: []Problem{tests[0].problem, tests[1].problem}}
	if got, want := err.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"36h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"0", 0, true},
		{"-1h", -time.Hour, true},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"1d12h", 0, false},
		{"90 days", 0, false},
		{"90D", 0, false},
		{"30", 0, false},
		{"", 0, false},
		{"999999999999d", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseDuration(tc.in)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{90 * 24 * time.Hour, "90d"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{30 * time.Minute, "30m"},
		{-time.Hour, "-1h"},
		{0, "0s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tc := range tests {
		if got := formatDuration(tc.in); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseLimitsProblems(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(baseYAML)
	for i := range maxProblems + 100 {
		fmt.Fprintf(&b, "unknown_%d: x\n", i)
	}

	problems := parseProblems(t, b.String())
	if got, want := len(problems), maxProblems+1; got != want {
		t.Fatalf("got %d problems, want %d", got, want)
	}
	last := problems[len(problems)-1]
	if want := "100 more problems are not shown; fix the ones above and check again"; last.Message != want {
		t.Errorf("last problem = %q, want %q", last.Message, want)
	}
}

func TestParseLimitsAliases(t *testing.T) {
	t.Parallel()
	credentialsBlock := baseYAML[strings.Index(baseYAML, "credentials:"):]
	var b strings.Builder
	b.WriteString("credentials:\n  - &c {id: cred-a, organisation: Org A, client_id: client-a}\n")
	for range maxAliases + 1 {
		b.WriteString("  - *c\n")
	}
	text := edit(t, baseYAML, credentialsBlock, b.String())

	problems := parseProblems(t, text)
	aliasLine := lineContaining(t, text, "*c") + maxAliases
	found := false
	for _, p := range problems {
		if strings.Contains(p.Message, "more than 1000 aliases") {
			found = true
			if p.Line != aliasLine {
				t.Errorf("alias problem line = %d, want %d, the line of alias number %d", p.Line, aliasLine, maxAliases+1)
			}
		}
	}
	if !found {
		t.Errorf("no problem reports the aliases beyond %d", maxAliases)
	}
	if got := len(problems); got != maxProblems+1 {
		t.Errorf("got %d problems, want the limit %d and a count of the rest", got, maxProblems+1)
	}
}
