package config

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wantProblem is a problem a rule test expects: its key, a text on its line
// ("" for line 0), and texts its message contains.
type wantProblem struct {
	key     string
	at      string
	message []string
}

type ruleCase struct {
	name  string
	edits []string // pairs of old and new text applied to baseYAML
	want  []wantProblem
}

// checkRule parses baseYAML with the case's edits and checks that exactly
// the wanted problems come back, in order.
func checkRule(t *testing.T, tc ruleCase) {
	t.Helper()
	text := edit(t, baseYAML, tc.edits...)
	got := parseProblems(t, text)
	if len(got) != len(tc.want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), (&ProblemsError{Problems: got}).Error())
	}
	for i, w := range tc.want {
		p := got[i]
		if p.Key != w.key {
			t.Errorf("problem %d: key = %q, want %q (%s)", i, p.Key, w.key, p)
		}
		if want := lineContaining(t, text, w.at); p.Line != want {
			t.Errorf("problem %d: line = %d, want %d (%s)", i, p.Line, want, p)
		}
		if p.File != "rotor.yaml" {
			t.Errorf("problem %d: file = %q, want %q", i, p.File, "rotor.yaml")
		}
		for _, m := range w.message {
			if !strings.Contains(p.Message, m) {
				t.Errorf("problem %d: message %q does not contain %q", i, p.Message, m)
			}
		}
	}
}

func TestParseBaseIsValid(t *testing.T) {
	t.Parallel()
	mustParse(t, baseYAML)
}

func TestParsePersiumRules(t *testing.T) {
	t.Parallel()
	f := setup(t)
	persiumBlock := baseYAML[:strings.Index(baseYAML, "server:")]
	withCAFile := func(path string) []string {
		return []string{"  timeout: 5s\n", "  timeout: 5s\n  ca_file: " + path + "\n"}
	}

	tests := []ruleCase{
		{
			name:  "section missing",
			edits: []string{persiumBlock, ""},
			want:  []wantProblem{{"persium", "", []string{"is required", "token_url, api_url and hosts"}}},
		},
		{
			name:  "section not a mapping",
			edits: []string{persiumBlock, "persium:\n  - auth.persium.example\n"},
			want:  []wantProblem{{"persium", "- auth.persium.example", []string{"must be a mapping", "not a list"}}},
		},
		{
			name:  "token_url missing",
			edits: []string{"  token_url: https://auth.persium.example/realms/customers/protocol/openid-connect/token\n", ""},
			want:  []wantProblem{{"persium.token_url", "persium:", []string{"is required", "https:// URL of Persium's token endpoint"}}},
		},
		{
			name:  "api_url missing",
			edits: []string{"  api_url: https://api.persium.example/v1\n", ""},
			want:  []wantProblem{{"persium.api_url", "persium:", []string{"is required", "Persium's API"}}},
		},
		{
			name:  "api_url uses http",
			edits: []string{"api_url: https://api", "api_url: http://api"},
			want: []wantProblem{{"persium.api_url", "api_url:", []string{
				`"http://api.persium.example/v1" uses http; Persium's API must be https://`,
			}}},
		},
		{
			name:  "token_url host not in hosts",
			edits: []string{"https://auth.persium.example/realms", "https://login.persium.example/realms"},
			want: []wantProblem{{"persium.token_url", "token_url:", []string{
				`host "login.persium.example" is not in persium.hosts`, "add it there",
			}}},
		},
		{
			name:  "host compared without case",
			edits: []string{"https://auth.persium.example/realms", "https://AUTH.Persium.Example/realms"},
			want:  nil,
		},
		{
			name:  "hosts missing",
			edits: []string{"  hosts:\n    - auth.persium.example\n    - api.persium.example\n", ""},
			want:  []wantProblem{{"persium.hosts", "persium:", []string{"is required", "host names Persium provisioned"}}},
		},
		{
			name:  "hosts not a list",
			edits: []string{"  hosts:\n    - auth.persium.example\n    - api.persium.example\n", "  hosts: auth.persium.example\n"},
			want:  []wantProblem{{"persium.hosts", "hosts:", []string{"must be a list", "not a single value"}}},
		},
		{
			name:  "host given as a URL",
			edits: []string{"    - api.persium.example\n", "    - api.persium.example\n    - https://extra.persium.example\n"},
			want: []wantProblem{{"persium.hosts[2]", "- https://extra", []string{
				`"https://extra.persium.example" is not a host name`, "without scheme, port or path",
			}}},
		},
		{
			name:  "ca_file does not exist",
			edits: withCAFile(f.dir + "/missing.pem"),
			want:  []wantProblem{{"persium.ca_file", "ca_file:", []string{"missing.pem\" does not exist", "remove it to trust the system's"}}},
		},
		{
			name:  "ca_file without certificates",
			edits: withCAFile(f.notPEMFile),
			want:  []wantProblem{{"persium.ca_file", "ca_file:", []string{"holds no PEM certificate"}}},
		},
		{
			name:  "ca_file with a private key",
			edits: withCAFile(f.keyFile),
			want:  []wantProblem{{"persium.ca_file", "ca_file:", []string{"contains a private key", "holds only certificates"}}},
		},
		{
			name:  "ca_file is a directory",
			edits: withCAFile(f.dir),
			want:  []wantProblem{{"persium.ca_file", "ca_file:", []string{"is not a regular file"}}},
		},
		{
			name:  "ca_file with a certificate",
			edits: withCAFile(f.caFile),
			want:  nil,
		},
		{
			name:  "timeout not a duration",
			edits: []string{"timeout: 5s", "timeout: 5 seconds"},
			want: []wantProblem{{"persium.timeout", "timeout:", []string{
				`"5 seconds" is not a duration`, "36h or 90m", "whole days such as 90d",
			}}},
		},
		{
			name:  "timeout zero",
			edits: []string{"timeout: 5s", "timeout: 0s"},
			want:  []wantProblem{{"persium.timeout", "timeout:", []string{"must be positive"}}},
		},
		{
			name:  "timeout a list",
			edits: []string{"timeout: 5s", "timeout: [5s]"},
			want:  []wantProblem{{"persium.timeout", "timeout:", []string{"must be a duration", "not a list"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.want == nil {
				mustParse(t, edit(t, baseYAML, tc.edits...))
				return
			}
			checkRule(t, tc)
		})
	}
}

func TestParseServerRules(t *testing.T) {
	t.Parallel()
	tests := []ruleCase{
		{
			name:  "addr without port",
			edits: []string{"addr: 127.0.0.1:9090", "addr: localhost"},
			want:  []wantProblem{{"server.addr", "addr:", []string{`"localhost" is not host:port`}}},
		},
		{
			name:  "addr on every interface",
			edits: []string{"addr: 127.0.0.1:9090", "addr: 0.0.0.0:9090"},
			want:  []wantProblem{{"server.addr", "addr:", []string{`"0.0.0.0:9090" is not a loopback address`, "Configure auth.oidc"}}},
		},
		{
			name:  "addr without host",
			edits: []string{"addr: 127.0.0.1:9090", "addr: \":9090\""},
			want:  []wantProblem{{"server.addr", "addr:", []string{`":9090" is not a loopback address`}}},
		},
		{
			name:  "addr port out of range",
			edits: []string{"addr: 127.0.0.1:9090", "addr: 127.0.0.1:70000"},
			want:  []wantProblem{{"server.addr", "addr:", []string{`port "70000" is not a number from 0 to 65535`}}},
		},
		{
			name:  "addr port a name",
			edits: []string{"addr: 127.0.0.1:9090", "addr: 127.0.0.1:http"},
			want:  []wantProblem{{"server.addr", "addr:", []string{`port "http" is not a number`}}},
		},
		{
			name:  "time_zone unknown",
			edits: []string{"time_zone: Europe/Berlin", "time_zone: Mars/Olympus"},
			want:  []wantProblem{{"server.time_zone", "time_zone:", []string{`"Mars/Olympus" is not a known time zone`, "IANA"}}},
		},
		{
			name:  "time_zone Local",
			edits: []string{"time_zone: Europe/Berlin", "time_zone: Local"},
			want:  []wantProblem{{"server.time_zone", "time_zone:", []string{"depends on the machine"}}},
		},
		{
			name:  "unknown key suggests the close one",
			edits: []string{"  addr: 127.0.0.1:9090", "  adr: 127.0.0.1:9090"},
			want:  []wantProblem{{"server.adr", "adr:", []string{"unknown key; did you mean addr?"}}},
		},
		{
			name:  "merge key",
			edits: []string{"server:\n", "server:\n  <<: {addr: \"127.0.0.1:1\"}\n"},
			want:  []wantProblem{{"server", "<<:", []string{"merge keys (<<) are not supported"}}},
		},
		{
			name:  "key that is not a name",
			edits: []string{"  addr: 127.0.0.1:9090", "  ? [addr]\n  : 127.0.0.1:9090"},
			want:  []wantProblem{{"server", "? [addr]", []string{"key that is not a plain name"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkRule(t, tc)
		})
	}
}

func TestParseBackendRules(t *testing.T) {
	t.Parallel()
	backendsBlock := baseYAML[strings.Index(baseYAML, "backends:"):strings.Index(baseYAML, "credentials:")]

	tests := []ruleCase{
		{
			name:  "section missing",
			edits: []string{backendsBlock, ""},
			want: []wantProblem{
				{"backends", "", []string{"is required", "add at least one backend"}},
				{"credentials[0].store.backend", "backend: vault-main", []string{`"vault-main" is not a backend`, "define the backend under backends"}},
				{"credentials[1].store.backend", "backend: mem", []string{`"mem" is not a backend`}},
			},
		},
		{
			name:  "unknown type",
			edits: []string{"type: memory", "type: redis"},
			want: []wantProblem{{"backends.mem.type", "type: redis", []string{
				`unknown backend type "redis"`, "the supported types are vault, aws, gcp and memory",
			}}},
		},
		{
			name:  "aws region not a region",
			edits: []string{"type: memory", "type: aws\n    aws:\n      region: Frankfurt"},
			want:  []wantProblem{{"backends.mem.aws.region", "region:", []string{`"Frankfurt" is not an AWS region name`, "AWS_REGION"}}},
		},
		{
			name:  "aws endpoint over http",
			edits: []string{"type: memory", "type: aws\n    aws:\n      endpoint: http://secretsmanager.example"},
			want:  []wantProblem{{"backends.mem.aws.endpoint", "endpoint:", []string{"uses http", "must be https://"}}},
		},
		{
			name:  "aws reserved pending label",
			edits: []string{"type: memory", "type: aws\n    aws:\n      pending_label: AWSPENDING"},
			want:  []wantProblem{{"backends.mem.aws.pending_label", "pending_label:", []string{`"AWSPENDING" is reserved by AWS Secrets Manager`, "ROTOR_PENDING"}}},
		},
		{
			name:  "aws settings on a vault backend",
			edits: []string{"      namespace: platform\n", "      namespace: platform\n    aws: # on vault\n      region: eu-west-1\n"},
			want:  []wantProblem{{"backends.vault-main.aws", "aws: # on vault", []string{"applies only to backends of type aws"}}},
		},
		{
			name:  "gcp secret id without a project",
			edits: []string{"type: memory", "type: gcp"},
			want:  []wantProblem{{"credentials[1].store.path", "path: cred-b", []string{`"cred-b" is a secret id, but backend "mem" names no project`, "gcp.project"}}},
		},
		{
			name:  "gcp project not an id",
			edits: []string{"type: memory", "type: gcp\n    gcp:\n      project: Acme_Prod"},
			want:  []wantProblem{{"backends.mem.gcp.project", "project:", []string{`"Acme_Prod" is not a Google Cloud project id`}}},
		},
		{
			name:  "gcp endpoint without port",
			edits: []string{"type: memory", "type: gcp\n    gcp:\n      project: acme-payments-prod\n      endpoint: secretmanager.googleapis.com"},
			want:  []wantProblem{{"backends.mem.gcp.endpoint", "endpoint:", []string{"is not host:port"}}},
		},
		{
			name:  "vault approle without role_id",
			edits: []string{"      namespace: platform\n", "      namespace: platform\n      auth:\n        method: approle\n"},
			want:  []wantProblem{{"backends.vault-main.vault.auth.role_id", "auth:", []string{"is required for approle", "VAULT_SECRET_ID"}}},
		},
		{
			name:  "vault kubernetes without role",
			edits: []string{"      namespace: platform\n", "      namespace: platform\n      auth:\n        method: kubernetes\n"},
			want:  []wantProblem{{"backends.vault-main.vault.auth.role", "auth:", []string{"is required for kubernetes"}}},
		},
		{
			name:  "vault unknown login method",
			edits: []string{"      namespace: platform\n", "      namespace: platform\n      auth:\n        method: userpass\n"},
			want:  []wantProblem{{"backends.vault-main.vault.auth.method", "method:", []string{`"userpass" is not a Vault login method`}}},
		},
		{
			name:  "vault token login with a role",
			edits: []string{"      namespace: platform\n", "      namespace: platform\n      auth:\n        role: rotor\n"},
			want:  []wantProblem{{"backends.vault-main.vault.auth.role", "role:", []string{`applies only to another login method than "token"`}}},
		},
		{
			name:  "type missing",
			edits: []string{"    type: memory\n", ""},
			want:  []wantProblem{{"backends.mem.type", "  mem:", []string{"is required", "vault, aws, gcp and memory"}}},
		},
		{
			name:  "name not valid",
			edits: []string{"  mem:\n", "  Mem.Store:\n", "backend: mem", "backend: Mem.Store"},
			want:  []wantProblem{{`backends."Mem.Store"`, "Mem.Store:", []string{"is not a valid backend name", "lower-case letters"}}},
		},
		{
			name:  "name twice",
			edits: []string{"  mem:\n    type: memory\n", "  mem:\n    type: memory\n  mem: # again\n    type: vault\n"},
			want:  []wantProblem{{"backends.mem", "mem: # again", []string{"appears twice in this mapping (first on line 18)"}}},
		},
		{
			name:  "vault address uses http",
			edits: []string{"address: https://vault.example:8200", "address: http://vault.example:8200"},
			want: []wantProblem{{"backends.vault-main.vault.address", "address:", []string{
				`"http://vault.example:8200" uses http; Vault's address must be https:// unless it is on this machine`,
			}}},
		},
		{
			name:  "vault address with user name and password",
			edits: []string{"address: https://vault.example:8200", "address: https://root:hunter2@vault.example:8200"},
			want: []wantProblem{{"backends.vault-main.vault.address", "address:", []string{
				`"https://…@vault.example:8200" contains a user name or password`,
			}}},
		},
		{
			name:  "vault settings on a memory backend",
			edits: []string{"    type: memory\n", "    type: memory\n    vault: # on memory\n      mount: kv\n"},
			want:  []wantProblem{{"backends.mem.vault", "vault: # on memory", []string{"applies only to backends of type vault"}}},
		},
		{
			name:  "vault mount with slashes",
			edits: []string{"mount: kv", "mount: /kv/"},
			want:  []wantProblem{{"backends.vault-main.vault.mount", "mount:", []string{`"/kv/" starts or ends with /`}}},
		},
		{
			name:  "vault namespace with a space",
			edits: []string{"namespace: platform", `namespace: "plat form"`},
			want:  []wantProblem{{"backends.vault-main.vault.namespace", "namespace:", []string{"contains a space"}}},
		},
		{
			name:  "vault unknown key",
			edits: []string{"mount: kv", "mont: kv"},
			want:  []wantProblem{{"backends.vault-main.vault.mont", "mont:", []string{"unknown key; did you mean mount?"}}},
		},
		{
			name:  "backend not a mapping",
			edits: []string{"  mem:\n    type: memory\n", "  mem: memory\n"},
			want:  []wantProblem{{"backends.mem", "mem: memory", []string{"must be a mapping", "not a single value"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkRule(t, tc)
		})
	}
}

func TestParseCredentialRules(t *testing.T) {
	t.Parallel()
	credentialsBlock := baseYAML[strings.Index(baseYAML, "credentials:"):]
	storeB := "    store:\n      backend: mem\n      path: cred-b\n      format: json\n      json_key: value\n      retire: destroy\n"

	tests := []ruleCase{
		{
			name:  "section missing",
			edits: []string{credentialsBlock, ""},
			want:  []wantProblem{{"credentials", "", []string{"is required", "add at least one credential"}}},
		},
		{
			name:  "section not a list",
			edits: []string{credentialsBlock, "credentials:\n  id: cred-a\n"},
			want:  []wantProblem{{"credentials", "id: cred-a", []string{"must be a list of credentials", "not a mapping"}}},
		},
		{
			name:  "item not a mapping",
			edits: []string{"  - id: cred-a\n    organisation: Org A\n    organisation_id: 3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f\n    client_id: client-a\n    store:\n      backend: vault-main\n      path: persium/cred-a\n", "  - cred-a\n"},
			want:  []wantProblem{{"credentials[0]", "- cred-a", []string{"must be a mapping"}}},
		},
		{
			name:  "id missing",
			edits: []string{"  - id: cred-a\n    organisation: Org A", "  - organisation: Org A"},
			want:  []wantProblem{{"credentials[0].id", "- organisation: Org A", []string{"is required"}}},
		},
		{
			name:  "id not valid",
			edits: []string{"id: cred-a", "id: Cred_A"},
			want:  []wantProblem{{"credentials[0].id", "id: Cred_A", []string{`"Cred_A" is not a valid id`, "lower-case letters, digits and -"}}},
		},
		{
			name:  "id too long",
			edits: []string{"id: cred-a", "id: " + strings.Repeat("a", 64)},
			want:  []wantProblem{{"credentials[0].id", "- id: aaa", []string{"is not a valid id", "1 to 63"}}},
		},
		{
			name:  "id a mapping",
			edits: []string{"id: cred-a", "id: {name: cred-a}"},
			want:  []wantProblem{{"credentials[0].id", "- id:", []string{"must be a single value, not a mapping"}}},
		},
		{
			name:  "organisation blank",
			edits: []string{"organisation: Org A", `organisation: "  "`},
			want:  []wantProblem{{"credentials[0].organisation", `organisation: "  "`, []string{"is required"}}},
		},
		{
			name:  "organisation_id missing",
			edits: []string{"    organisation_id: 3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f\n", ""},
			want:  []wantProblem{{"credentials[0].organisation_id", "- id: cred-a", []string{"is required", "UUID"}}},
		},
		{
			name:  "organisation_id not a UUID",
			edits: []string{"organisation_id: 3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f", "organisation_id: 3f2b8c1e9d4a4b6f8e2d5a7c9b1d0e4f"},
			want:  []wantProblem{{"credentials[0].organisation_id", "organisation_id: 3f2b8c1e9d", []string{"is not a UUID", "xxxxxxxx-xxxx"}}},
		},
		{
			name:  "client_id missing",
			edits: []string{"    client_id: client-a\n", ""},
			want:  []wantProblem{{"credentials[0].client_id", "- id: cred-a", []string{"is required"}}},
		},
		{
			name:  "client_id with a space",
			edits: []string{"client_id: client-a", `client_id: "client-a "`},
			want:  []wantProblem{{"credentials[0].client_id", "client_id:", []string{"contains a space", "exactly as Persium issued it"}}},
		},
		{
			name:  "auth_method unknown",
			edits: []string{"auth_method: post", "auth_method: client_secret_post"},
			want: []wantProblem{{"credentials[1].auth_method", "auth_method:", []string{
				`"client_secret_post" is not an auth method`, "basic (client_secret_basic) or post (client_secret_post)",
			}}},
		},
		{
			name:  "rotation_period below the minimum",
			edits: []string{"rotation_period: 30d", "rotation_period: 30m"},
			want:  []wantProblem{{"credentials[1].rotation_period", "rotation_period:", []string{"30m is shorter than the minimum of 1h"}}},
		},
		{
			name:  "rotation_period not a duration",
			edits: []string{"rotation_period: 30d", "rotation_period: 30 days"},
			want: []wantProblem{{"credentials[1].rotation_period", "rotation_period:", []string{
				`"30 days" is not a duration`, "36h or 90m", "90d",
			}}},
		},
		{
			name:  "rotation_period in fractional days",
			edits: []string{"rotation_period: 30d", "rotation_period: 1.5d"},
			want:  []wantProblem{{"credentials[1].rotation_period", "rotation_period:", []string{`"1.5d" is not a duration`}}},
		},
		{
			name:  "rotation_period without a unit",
			edits: []string{"rotation_period: 30d", "rotation_period: 30"},
			want:  []wantProblem{{"credentials[1].rotation_period", "rotation_period:", []string{`"30" is not a duration`}}},
		},
		{
			name:  "min_dual_active negative",
			edits: []string{"min_dual_active: 2h", "min_dual_active: -1h"},
			want:  []wantProblem{{"credentials[1].min_dual_active", "min_dual_active:", []string{"-1h is negative", "0s for no minimum"}}},
		},
		{
			name:  "min_dual_active not shorter than rotation_period",
			edits: []string{"min_dual_active: 2h", "min_dual_active: 30d"},
			want: []wantProblem{
				{"credentials[1].min_dual_active", "min_dual_active:", []string{"30d is not shorter than rotation_period 30d"}},
				{"credentials[1].overlap", "overlap:", []string{"36h is not longer than min_dual_active 30d"}},
			},
		},
		{
			name:  "overlap not longer than min_dual_active",
			edits: []string{"overlap: 36h", "overlap: 2h"},
			want: []wantProblem{{"credentials[1].overlap", "overlap:", []string{
				"2h is not longer than min_dual_active 2h", "Persium would drop the old secret before rotor may retire it",
			}}},
		},
		{
			name:  "overlap negative",
			edits: []string{"overlap: 36h", "overlap: -36h"},
			want:  []wantProblem{{"credentials[1].overlap", "overlap:", []string{"-36h is negative"}}},
		},
		{
			name:  "unknown key suggests the close one",
			edits: []string{"rotation_period: 30d", "rotation_perod: 30d"},
			want:  []wantProblem{{"credentials[1].rotation_perod", "rotation_perod:", []string{"unknown key; did you mean rotation_period?"}}},
		},
		{
			name:  "store backend missing",
			edits: []string{"      backend: vault-main\n", ""},
			want:  []wantProblem{{"credentials[0].store.backend", "    store:", []string{"is required", "name one of the backends: mem, vault-main"}}},
		},
		{
			name:  "store backend unknown",
			edits: []string{"backend: mem", "backend: memory"},
			want:  []wantProblem{{"credentials[1].store.backend", "backend: memory", []string{`"memory" is not a backend`, "mem, vault-main"}}},
		},
		{
			name:  "store path missing",
			edits: []string{"      path: persium/cred-a\n", ""},
			want:  []wantProblem{{"credentials[0].store.path", "    store:", []string{"is required"}}},
		},
		{
			name:  "store path not a Vault path",
			edits: []string{"path: persium/cred-a", "path: persium//cred-a"},
			want:  []wantProblem{{"credentials[0].store.path", "path: persium//", []string{"is not a Vault secret path"}}},
		},
		{
			name:  "store format unknown",
			edits: []string{"format: json", "format: yaml"},
			want:  []wantProblem{{"credentials[1].store.format", "format:", []string{`"yaml" is not a format`, "json", "plain"}}},
		},
		{
			name:  "store format plain on vault",
			edits: []string{"      path: persium/cred-a\n", "      path: persium/cred-a\n      format: plain\n"},
			want:  []wantProblem{{"credentials[0].store.format", "format: plain", []string{"Vault stores each secret as a JSON object"}}},
		},
		{
			name:  "store json_key with format plain",
			edits: []string{"format: json", "format: plain"},
			want:  []wantProblem{{"credentials[1].store.json_key", "json_key:", []string{"applies only to format json"}}},
		},
		{
			name:  "store retire unknown",
			edits: []string{"retire: destroy", "retire: delete"},
			want:  []wantProblem{{"credentials[1].store.retire", "retire:", []string{`"delete" is not a retire mode`, "disable", "destroy"}}},
		},
		{
			name:  "store not a mapping",
			edits: []string{storeB, "    store: cred-b\n"},
			want:  []wantProblem{{"credentials[1].store", "store: cred-b", []string{"must be a mapping"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkRule(t, tc)
		})
	}
}

func TestParseDuplicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edits    []string
		key      string
		at       string // the duplicate's line
		firstAt  string // the first one's line, named in the message
		contains string
	}{
		{
			name:     "credential id",
			edits:    []string{"id: cred-b", "id: cred-a # again"},
			key:      "credentials[1].id",
			at:       "cred-a # again",
			firstAt:  "id: cred-a",
			contains: `"cred-a" is already the id of credentials[0]`,
		},
		{
			name:     "client_id",
			edits:    []string{"client_id: client-b", "client_id: client-a # again"},
			key:      "credentials[1].client_id",
			at:       "client-a # again",
			firstAt:  "client_id: client-a",
			contains: `"client-a" is already the client_id of credentials[0]`,
		},
		{
			name:     "store path in one backend",
			edits:    []string{"backend: mem", "backend: vault-main", "path: cred-b", "path: persium/cred-a # again"},
			key:      "credentials[1].store.path",
			at:       "cred-a # again",
			firstAt:  "path: persium/cred-a",
			contains: `"persium/cred-a" in backend "vault-main" is already the store of credentials[0]`,
		},
		{
			name:     "key in one mapping",
			edits:    []string{"    client_id: client-b\n", "    client_id: client-b\n    client_id: client-c # again\n"},
			key:      "credentials[1].client_id",
			at:       "client-c # again",
			firstAt:  "client_id: client-b",
			contains: "appears twice in this mapping",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := edit(t, baseYAML, tc.edits...)
			got := parseProblems(t, text)
			if len(got) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(got), (&ProblemsError{Problems: got}).Error())
			}
			p := got[0]
			if p.Key != tc.key {
				t.Errorf("key = %q, want %q", p.Key, tc.key)
			}
			if want := lineContaining(t, text, tc.at); p.Line != want {
				t.Errorf("line = %d, want %d", p.Line, want)
			}
			if !strings.Contains(p.Message, tc.contains) {
				t.Errorf("message %q does not contain %q", p.Message, tc.contains)
			}
			firstLine := lineContaining(t, text, tc.firstAt)
			if want := "line " + strconv.Itoa(firstLine); !strings.Contains(p.Message, want) {
				t.Errorf("message %q does not name the first one's line, want %q", p.Message, want)
			}
		})
	}
}

// Valid AWS, GCP and Vault login settings parse with their defaults.
func TestParseCloudBackends(t *testing.T) {
	t.Parallel()
	text := edit(t, baseYAML,
		"type: memory", "type: aws\n    aws:\n      region: eu-central-1\n      endpoint: https://vpce-1.secretsmanager.eu-central-1.vpce.amazonaws.com",
		"      namespace: platform\n", "      namespace: platform\n      auth:\n        method: kubernetes\n        role: rotor\n",
	)
	cfg, err := Parse("rotor.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	aws := cfg.Backends["mem"].AWS
	if aws.Region != "eu-central-1" || aws.PendingLabel != DefaultAWSPendingLabel {
		t.Errorf("aws backend = %+v, want region eu-central-1 and the default pending label", aws)
	}
	auth := cfg.Backends["vault-main"].Vault.Auth
	if auth.Method != VaultAuthKubernetes || auth.Mount != "kubernetes" || auth.JWTFile != DefaultKubernetesJWTFile {
		t.Errorf("vault auth = %+v, want kubernetes with its default mount and token file", auth)
	}

	text = edit(t, baseYAML, "type: memory", "type: gcp\n    gcp:\n      project: acme-payments-prod\n      endpoint: secretmanager.europe-west3.rep.googleapis.com:443")
	cfg, err = Parse("rotor.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse with a gcp backend: %v", err)
	}
	if got := cfg.Backends["mem"].GCP.Project; got != "acme-payments-prod" {
		t.Errorf("gcp project = %q", got)
	}
}

// channelsBlock adds one channel of each type before the credentials.
const channelsBlock = `channels:
  oncall-mail:
    type: smtp
    smtp:
      address: smtp.example.com:587
      username: rotor
      password_env: ROTOR_SMTP_PASSWORD
      from: rotor@example.com
      to: [platform@example.com]
  team-slack:
    type: slack
    slack:
      url_env: ROTOR_SLACK_WEBHOOK_URL
  sec-hook:
    type: webhook
    webhook:
      url_env: ROTOR_WEBHOOK_URL
      signing_key_env: ROTOR_WEBHOOK_SIGNING_KEY
reminders:
  before: [20d, 7d, 0d]
  overdue_every: 2d
credentials:
`

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	text := edit(t, baseYAML,
		"credentials:\n", channelsBlock,
		"    client_id: client-a\n", "    client_id: client-a\n    issued_at: 2026-10-01\n    channels: [oncall-mail, team-slack]\n    window: Tue 02:00-04:00 Europe/London\n",
		"time_zone: Europe/Berlin", "time_zone: Europe/Berlin\n  public_url: https://rotor.internal.example",
	)
	cfg, err := Parse("rotor.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Channels["oncall-mail"].SMTP; got.Address != "smtp.example.com:587" || got.PasswordEnv != "ROTOR_SMTP_PASSWORD" || len(got.To) != 1 {
		t.Errorf("smtp channel = %+v", got)
	}
	if got := cfg.Channels["sec-hook"].Webhook.SigningKeyEnv; got != "ROTOR_WEBHOOK_SIGNING_KEY" {
		t.Errorf("webhook signing key env = %q", got)
	}
	want := Reminders{Before: []time.Duration{20 * 24 * time.Hour, 7 * 24 * time.Hour, 0}, OverdueEvery: 48 * time.Hour}
	if diff := cmp.Diff(want, cfg.Reminders); diff != "" {
		t.Errorf("reminders (-want +got):\n%s", diff)
	}
	c := cfg.Credentials[0]
	if !c.IssuedAt.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) || len(c.Channels) != 2 || c.Window != "Tue 02:00-04:00 Europe/London" {
		t.Errorf("credential schedule: issued %v, channels %v, window %q", c.IssuedAt, c.Channels, c.Window)
	}
	if got := cfg.RemindersFor(c); got.OverdueEvery != 48*time.Hour {
		t.Errorf("credential without its own schedule: %+v, want the global one", got)
	}
	if cfg.Server.PublicURL != "https://rotor.internal.example" {
		t.Errorf("public_url = %q", cfg.Server.PublicURL)
	}
}

func TestParseScheduleRules(t *testing.T) {
	t.Parallel()
	withChannels := func(edits ...string) []string {
		return append([]string{"credentials:\n", channelsBlock}, edits...)
	}
	tests := []ruleCase{
		{
			name:  "unknown channel on a credential",
			edits: withChannels("    client_id: client-a\n", "    client_id: client-a\n    channels: [pager]\n"),
			want:  []wantProblem{{"credentials[0].channels[0]", "channels: [pager]", []string{`"pager" is not a channel`, "oncall-mail, sec-hook, team-slack"}}},
		},
		{
			name:  "window that does not parse",
			edits: withChannels("    client_id: client-a\n", "    client_id: client-a\n    window: Tue 25:00-04:00 Europe/London\n"),
			want:  []wantProblem{{"credentials[0].window", "window:", []string{"25:00"}}},
		},
		{
			name:  "issued_at not a date",
			edits: withChannels("    client_id: client-a\n", "    client_id: client-a\n    issued_at: last tuesday\n"),
			want:  []wantProblem{{"credentials[0].issued_at", "issued_at:", []string{`"last tuesday" is not a date`, "2026-10-01"}}},
		},
		{
			name:  "password in place of its variable",
			edits: withChannels("password_env: ROTOR_SMTP_PASSWORD", "password_env: hunter2!"),
			want:  []wantProblem{{"channels.oncall-mail.smtp.password_env", "password_env:", []string{"is not an environment variable name", "not the value itself"}}},
		},
		{
			name:  "slack without its variable",
			edits: withChannels("      url_env: ROTOR_SLACK_WEBHOOK_URL\n", ""),
			want:  []wantProblem{{"channels.team-slack.slack.url_env", "    slack:", []string{"is required", "ROTOR_SLACK_WEBHOOK_URL"}}},
		},
		{
			name:  "recipient not an address",
			edits: withChannels("to: [platform@example.com]", "to: [platform-team]"),
			want:  []wantProblem{{"channels.oncall-mail.smtp.to[0]", "to:", []string{`"platform-team" is not an e-mail address`}}},
		},
		{
			name:  "unknown channel type",
			edits: withChannels("type: slack", "type: teams"),
			want:  []wantProblem{{"channels.team-slack.type", "type: teams", []string{`unknown channel type "teams"`, "smtp, slack or webhook"}}},
		},
		{
			name:  "reminder offset twice",
			edits: withChannels("before: [20d, 7d, 0d]", "before: [7d, 7d]"),
			want:  []wantProblem{{"reminders.before[1]", "before:", []string{"7d appears twice"}}},
		},
		{
			name:  "credential reminders override",
			edits: withChannels("    client_id: client-a\n", "    client_id: client-a\n    reminders:\n      before: [-24h]\n"),
			want:  []wantProblem{{"credentials[0].reminders.before[0]", "before: [-24h]", []string{"is negative"}}},
		},
		{
			name:  "issued_at in the future",
			edits: withChannels("    client_id: client-a\n", "    client_id: client-a\n    issued_at: 2999-01-01\n"),
			want:  []wantProblem{{"credentials[0].issued_at", "issued_at: 2999", []string{"2999-01-01 is in the future"}}},
		},
		{
			name:  "reminder before the previous rotation",
			edits: withChannels("before: [20d, 7d, 0d]", "before: [45d, 7d, 0d]"),
			want:  []wantProblem{{"reminders.before[0]", "before:", []string{"45d is not shorter than the rotation period 30d of credential cred-b"}}},
		},
		{
			name:  "smtp password in the file",
			edits: withChannels("      password_env: ROTOR_SMTP_PASSWORD\n", "      password_env: ROTOR_SMTP_PASSWORD\n      password: hunter2\n"),
			want:  []wantProblem{{"channels.oncall-mail.smtp.password", "password: hunter2", []string{"password_env"}}},
		},
		{
			name:  "overdue reminders too often",
			edits: withChannels("overdue_every: 2d", "overdue_every: 5m"),
			want:  []wantProblem{{"reminders.overdue_every", "overdue_every:", []string{"shorter than 1h"}}},
		},
		{
			name:  "public_url with a password",
			edits: []string{"time_zone: Europe/Berlin", "time_zone: Europe/Berlin\n  public_url: https://admin:pw@rotor.example"},
			want:  []wantProblem{{"server.public_url", "public_url:", []string{"contains a user name or password"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkRule(t, tc)
		})
	}
}
