package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Parse, which Load calls on the file's
// contents. Parse must not panic, must return either a Config or a
// *ProblemsError, and each problem must fit on one line of the file it
// names. The seed corpus is in testdata/fuzz/FuzzLoad.
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
		}
	})
}
