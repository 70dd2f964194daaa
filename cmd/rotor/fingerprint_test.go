package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	testcanary "github.com/rotorhq/rotor/internal/canary"
)

func TestFingerprintCommand(t *testing.T) {
	t.Parallel()
	const key = "fingerprint-test-key-0123456789abcdef"
	env := func(vars map[string]string) func(string) string {
		return func(name string) string { return vars[name] }
	}
	withKey := env(map[string]string{fingerprintKeyEnv: key})

	var stdout, stderr bytes.Buffer
	code := runFingerprint(context.Background(), nil, strings.NewReader(canary.Reveal()+"\n"), &stdout, &stderr, withKey)
	if code != 0 {
		t.Fatalf("rotor fingerprint = %d, stderr %q", code, stderr.String())
	}
	if got, want := strings.TrimSpace(stdout.String()), canary.Fingerprint([]byte(key)); got != want {
		t.Errorf("fingerprint = %q, want %q", got, want)
	}
	testcanary.Check(t, "rotor fingerprint output", stdout.String()+stderr.String())

	cases := map[string]struct {
		args  []string
		input string
		env   func(string) string
		code  int
		want  string
	}{
		"no key":        {nil, "s3cret\n", env(nil), 2, "ROTOR_FINGERPRINT_KEY is not set"},
		"short key":     {nil, "s3cret\n", env(map[string]string{fingerprintKeyEnv: "short"}), 2, "at least 32"},
		"empty input":   {nil, "", withKey, 1, "standard input is empty"},
		"blank line":    {nil, "\n", withKey, 1, "first line of standard input is empty"},
		"an argument":   {[]string{"s3cret"}, "", withKey, 2, "takes no arguments"},
		"line too long": {nil, strings.Repeat("x", 70<<10), withKey, 1, "longer than 64 KiB"},
	}
	for name, c := range cases {
		var stdout, stderr bytes.Buffer
		code := runFingerprint(context.Background(), c.args, strings.NewReader(c.input), &stdout, &stderr, c.env)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: code %d, stderr %q; want %d and %q", name, code, stderr.String(), c.code, c.want)
		}
		if strings.Contains(stdout.String()+stderr.String(), "s3cret") {
			t.Errorf("%s: the output repeats the input", name)
		}
	}
}
