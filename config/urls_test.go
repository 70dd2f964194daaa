package config

import (
	"strings"
	"testing"
)

// urlKeys are the keys that hold a URL, with the text that replaces a
// placeholder value in baseYAML. Each edit also lists the host "a" so that
// the host check does not add a problem of its own.
var urlKeys = []struct {
	key  string
	line string // the line that holds the URL in baseYAML
}{
	{"persium.token_url", "  token_url: https://auth.persium.example/realms/customers/protocol/openid-connect/token"},
	{"persium.api_url", "  api_url: https://api.persium.example/v1"},
	{"backends.vault-main.vault.address", "      address: https://vault.example:8200"},
}

// urlProblems sets the URL at key to value and returns the problems and the
// whole error text.
func urlProblems(t *testing.T, key, line, value string) (atKey []Problem, all string) {
	t.Helper()
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	name, _, _ := strings.Cut(strings.TrimSpace(line), ":")
	text := edit(t, baseYAML,
		line, indent+name+": \""+value+"\" # under test",
		"    - api.persium.example\n", "    - api.persium.example\n    - a\n",
	)
	problems := parseProblems(t, text)
	wantLine := lineContaining(t, text, "# under test")
	for _, p := range problems {
		if p.Key != key {
			t.Errorf("unexpected problem at another key: %s", p)
			continue
		}
		if p.Line != wantLine {
			t.Errorf("line = %d, want %d (%s)", p.Line, wantLine, p)
		}
		atKey = append(atKey, p)
	}
	return atKey, (&ProblemsError{Problems: problems}).Error()
}

// TestParseRejectsPlainHTTPURLs covers URLs that must never reach the token
// endpoint, the API or Vault. Each is rejected with a message that shows
// what to write instead.
func TestParseRejectsPlainHTTPURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  []string // texts that the problems at the key contain, in order
	}{
		{"http://a/t", []string{`"http://a/t" uses http;`, "must be https://"}},
		{"HTTP://a/t", []string{`"HTTP://a/t" uses http;`}},
		{" http://a/t", []string{`" http://a/t" has white space at the start or end; remove it`, "uses http;"}},
		{"https:/a/t", []string{`"https:/a/t" has no host; write it as https://HOST/PATH, with two slashes after the colon`}},
		{"https://user:pw@a/t", []string{`"https://…@a/t" contains a user name or password; remove them`}},
		{"//a/t", []string{`"//a/t" has no scheme; start it with https://`}},
	}
	for _, k := range urlKeys {
		for _, tc := range tests {
			t.Run(k.key+"/"+tc.value, func(t *testing.T) {
				t.Parallel()
				problems, all := urlProblems(t, k.key, k.line, tc.value)
				if len(problems) == 0 {
					t.Fatalf("no problem for %q at %s, want it rejected", tc.value, k.key)
				}
				var messages []string
				for _, p := range problems {
					messages = append(messages, p.Message)
				}
				joined := strings.Join(messages, "\n")
				for _, w := range tc.want {
					if !strings.Contains(joined, w) {
						t.Errorf("messages %q do not contain %q", joined, w)
					}
				}
				for _, leak := range []string{"user:pw", "user:", ":pw", "pw@"} {
					if strings.Contains(all, leak) {
						t.Errorf("error text contains %q from the URL's user name and password:\n%s", leak, all)
					}
				}
			})
		}
	}
}

func TestParseURLRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		want  string
		leak  string // text of the value that must not appear; "" for none
	}{
		{"scheme in capitals", "HTTPS://a/t", "writes the scheme in capitals; write https:// in lower case", ""},
		{"other scheme", "ftp://a/t", `"ftp://a/t" uses ftp;`, ""},
		{"relative", "a/t", `"a/t" is not an absolute URL`, ""},
		{"empty host", "https:///t", "has no host", ""},
		{"port out of range", "https://a:99999/t", `has port "99999", which is not a number from 1 to 65535`, ""},
		{"port zero", "https://a:0/t", `has port "0"`, ""},
		{"query", "https://a/t?client_secret=OLD-1", `"https://a/t?…" has a query (?…); remove it`, "OLD-1"},
		{"fragment", "https://a/t#section9", `"https://a/t#…" has a fragment (#…); remove it`, "section9"},
		{"user name only", "https://alice@a/t", "contains a user name or password", "alice"},
		{"password with a bad escape", "https://alice:p%zzword@a/t", "the value is not a valid URL; write it as https://HOST/PATH", "zz"},
		{"password without slashes", "https:alice:pw@a/t", "the value has no host", "alice"},
		{"tab inside", "https://a/\tt", "contains a space or a control character", ""},
		{"invalid host", "https://a b/t", "contains a space", ""},
	}
	for _, k := range urlKeys {
		for _, tc := range tests {
			t.Run(k.key+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				problems, all := urlProblems(t, k.key, k.line, tc.value)
				found := false
				for _, p := range problems {
					found = found || strings.Contains(p.Message, tc.want)
				}
				if !found {
					t.Errorf("no problem contains %q; got:\n%s", tc.want, all)
				}
				if tc.leak != "" && strings.Contains(all, tc.leak) {
					t.Errorf("error text contains %q from the URL:\n%s", tc.leak, all)
				}
			})
		}
	}
}

func TestParseVaultAddressOnLoopback(t *testing.T) {
	t.Parallel()
	for _, address := range []string{"http://127.0.0.1:8200", "http://localhost:8200", "http://[::1]:8200", "http://127.0.0.2:8200"} {
		t.Run(address, func(t *testing.T) {
			t.Parallel()
			cfg := mustParse(t, edit(t, baseYAML, "address: https://vault.example:8200", "address: "+address))
			if got := cfg.Backends["vault-main"].Vault.Address; got != address {
				t.Errorf("vault address = %q, want %q", got, address)
			}
		})
	}
}

func TestParsePersiumRejectsLoopbackHTTP(t *testing.T) {
	t.Parallel()
	text := edit(t, baseYAML,
		"token_url: https://auth.persium.example/realms", "token_url: http://localhost/realms",
		"    - api.persium.example\n", "    - api.persium.example\n    - localhost\n",
	)
	problems := parseProblems(t, text)
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "uses http; Persium's token endpoint must be https://") {
		t.Errorf("got %v, want one problem saying http is rejected for Persium even on localhost", problems)
	}
}
