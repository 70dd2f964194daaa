package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/canary"
)

func TestRunFindsCanaryInArtefact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "screenshots", "01-dashboard.html"), "<p>clean</p>")
	write(t, filepath.Join(dir, "screenshots", "02-leak.html"), "<p>"+base64.StdEncoding.EncodeToString([]byte("client-a:"+canary.Value.Reveal()))+"</p>")
	write(t, filepath.Join(dir, "screenshots", "03.png"), "\x89PNG\x00\x00")

	var stdout, stderr strings.Builder
	code := run([]string{dir}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code = %d, want 1; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "02-leak.html: contains the canary secret (Base64") || strings.Contains(stdout.String(), "01-dashboard") {
		t.Errorf("output does not name exactly the leaking file: %s", stdout.String())
	}
	canary.Check(t, "canarycheck's output", stdout.String()+stderr.String())
}

func TestRunCleanAndMissingDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "page.html"), "<p>clean</p>")

	var stdout, stderr strings.Builder
	if code := run([]string{dir, filepath.Join(dir, "missing"), dir}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code = %d, want 0; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "no canary secret in 1 files") {
		t.Errorf("output = %q, want the count of searched files", stdout.String())
	}
	if code := run(nil, &stdout, &stderr); code != 2 {
		t.Errorf("exit code without arguments = %d, want 2", code)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
