package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baseYAML is a valid configuration that the rule tests edit. It uses
// every key, so that an edit can change any one of them.
const baseYAML = `persium:
  token_url: https://auth.persium.example/realms/customers/protocol/openid-connect/token
  api_url: https://api.persium.example/v1
  hosts:
    - auth.persium.example
    - api.persium.example
  timeout: 5s
server:
  addr: 127.0.0.1:9090
  time_zone: Europe/Berlin
backends:
  vault-main:
    type: vault
    vault:
      address: https://vault.example:8200
      mount: kv
      namespace: platform
  mem:
    type: memory
credentials:
  - id: cred-a
    organisation: Org A
    organisation_id: 3f2b8c1e-9d4a-4b6f-8e2d-5a7c9b1d0e4f
    client_id: client-a
    store:
      backend: vault-main
      path: persium/cred-a
  - id: cred-b
    organisation: Org B
    organisation_id: 8d1e6a2b-4c3f-4e7a-9b5d-2f0c8e6a1b3d
    client_id: client-b
    auth_method: post
    rotation_period: 30d
    min_dual_active: 2h
    overlap: 36h
    store:
      backend: mem
      path: cred-b
      format: json
      json_key: value
      retire: destroy
`

// fixture holds files that the tests point persium.ca_file at.
type fixture struct {
	dir        string
	caFile     string // a PEM file with one valid CA certificate
	keyFile    string // a PEM file with a certificate and its private key
	notPEMFile string // a text file without PEM blocks
}

func setup(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := newCA(t)

	f := fixture{
		dir:        dir,
		caFile:     filepath.Join(dir, "ca.pem"),
		keyFile:    filepath.Join(dir, "with-key.pem"),
		notPEMFile: filepath.Join(dir, "not-pem.txt"),
	}
	writeFile(t, f.caFile, string(certPEM))
	writeFile(t, f.keyFile, string(certPEM)+string(keyPEM))
	writeFile(t, f.notPEMFile, "this is not a certificate\n")
	return f
}

// newCA returns a self-signed CA certificate and its private key, in PEM.
func newCA(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rotor test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// edit applies replacements to text, each a pair of old and new, and fails
// the test when an old text is not in it, so that a stale edit cannot pass
// by changing nothing.
func edit(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("edit needs pairs of old and new text, got %d strings", len(pairs))
	}
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("edit: %q is not in the configuration", pairs[i])
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

// lineContaining returns the 1-based number of the first line of text that
// contains marker, or 0 for an empty marker.
func lineContaining(t *testing.T, text, marker string) int {
	t.Helper()
	if marker == "" {
		return 0
	}
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, marker) {
			return i + 1
		}
	}
	t.Fatalf("no line contains %q", marker)
	return 0
}

// parseProblems parses text and returns its problems, failing the test when
// Parse returns anything other than a *ProblemsError.
func parseProblems(t *testing.T, text string) []Problem {
	t.Helper()
	cfg, err := Parse("rotor.yaml", []byte(text))
	if err == nil {
		t.Fatalf("Parse returned no error, want problems")
	}
	if cfg != nil {
		t.Errorf("Parse returned a Config along with problems, want nil")
	}
	var pe *ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error is %T (%v), want *ProblemsError", err, err)
	}
	return pe.Problems
}

// mustParse parses text and fails the test on any problem.
func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	cfg, err := Parse("rotor.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}
