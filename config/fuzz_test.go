package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds arbitrary bytes to Parse, which Load calls on the file's
// contents. Parse must not panic, must return either a Config or a
// *ProblemsError, and each problem must fit on one line of the file it
// names and must not repeat a value that the file puts under a
// secret-looking key or in a URL's password. The seed corpus is in
// testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	for _, path := range []string{
		filepath.Join("..", "examples", "rotor.yaml"),
		filepath.Join("testdata", "many-problems.yaml"),
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatalf("read seed: %v", err)
		}
		f.Add(data)
	}
	f.Add([]byte(baseYAML))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("rotor.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned Config %v and error %v, want exactly one", cfg != nil, err)
		}
		if err == nil {
			if problems := cfg.Validate(); len(problems) > 0 {
				t.Fatalf("Parse accepted a Config that Validate rejects: %v", problems)
			}
			return
		}

		var pe *ProblemsError
		if !errors.As(err, &pe) {
			t.Fatalf("Parse error is %T, want *ProblemsError", err)
		}
		if len(pe.Problems) == 0 {
			t.Fatalf("ProblemsError has no problems")
		}
		// YAML also breaks lines at \r, and the YAML library at NEL, LS
		// and PS.
		lines := 1
		for _, lineBreak := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			lines += strings.Count(string(data), lineBreak)
		}
		for _, p := range pe.Problems {
			if p.Message == "" {
				t.Errorf("problem without a message: %#v", p)
			}
			if p.File != "rotor.yaml" {
				t.Errorf("problem file = %q, want rotor.yaml", p.File)
			}
			if p.Line < 0 || p.Line > lines+1 {
				t.Errorf("problem line %d is outside the file's %d lines: %s", p.Line, lines, p)
			}
			if strings.ContainsAny(p.String(), "\n\r") {
				t.Errorf("problem spans more than one line: %q", p.String())
			}
			for _, v := range secretValues(data) {
				if strings.Contains(p.String(), v) {
					t.Errorf("problem repeats the secret value %q: %s", v, p)
				}
			}
		}
	})
}

// secretValues returns the scalars of data that sit under a key that
// looksSecret, and the passwords of URLs with user information. It skips
// values shorter than 8 bytes, values that data holds more than once and
// anchored values, because a problem may then quote the same text where
// it is not secret.
func secretValues(data []byte) []string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var out []string
	keep := func(v string) {
		if len(v) >= 8 && strings.Count(string(data), v) == 1 {
			out = append(out, v)
		}
	}
	var walk func(n *yaml.Node, secret bool)
	walk = func(n *yaml.Node, secret bool) {
		if n.Anchor != "" {
			return
		}
		switch n.Kind {
		case yaml.ScalarNode:
			if secret {
				keep(n.Value)
			}
			if u, err := url.Parse(n.Value); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok {
					keep(pw)
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], secret || looksSecret(n.Content[i].Value))
			}
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, secret)
			}
		}
	}
	walk(&root, false)
	return out
}
