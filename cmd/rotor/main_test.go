package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	testcanary "github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/notify/webhook"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
	"github.com/rotorhq/rotor/secretstore/gcp/gcpfake"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

// canary is the secret consumers read before the rotation: the shared
// canary. The search at the end of the end-to-end test looks for it, in
// every encoding it could leak in, in everything rotor wrote. The package
// is imported as testcanary because the tests of this package call this
// value canary.
var canary = testcanary.Value

// rotorProcess is rotor's run function booted on port 0 in the test
// process, as `rotor serve` or `rotor dev` would run.
type rotorProcess struct {
	t      *testing.T
	url    string
	stderr *testlog.Buffer
	cancel context.CancelFunc
	done   chan int
	once   sync.Once

	mu     sync.Mutex
	bodies []string
}

func start(t *testing.T, args []string, env map[string]string) *rotorProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	p := &rotorProcess{t: t, stderr: testlog.New(t), cancel: cancel, done: make(chan int, 1)}
	go func() {
		code := run(ctx, args, outW, p.stderr, func(k string) string { return env[k] })
		outW.Close()
		p.done <- code
	}()

	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "rotor: serving "); ok {
				urls <- u
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatalf("rotor exited before serving: %s", p.stderr.String())
		}
		p.url = u
	case <-time.After(30 * time.Second):
		t.Fatalf("rotor did not serve within 30s: %s", p.stderr.String())
	}
	t.Cleanup(func() { p.stop() })
	return p
}

// stop cancels rotor's context, as SIGTERM does, and checks that it shut
// down cleanly.
func (p *rotorProcess) stop() {
	p.once.Do(func() {
		p.cancel()
		select {
		case code := <-p.done:
			if code != 0 {
				p.t.Errorf("rotor exited with %d: %s", code, p.stderr.String())
			}
		case <-time.After(30 * time.Second):
			p.t.Errorf("rotor did not stop within 30s")
		}
	})
}

func (p *rotorProcess) call(method, path, body string) (int, map[string]any) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatalf("NewRequest: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p.mu.Lock()
	p.bodies = append(p.bodies, string(raw))
	p.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func (p *rotorProcess) must(status int, method, path, body string) map[string]any {
	p.t.Helper()
	got, m := p.call(method, path, body)
	if got != status {
		p.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, m)
	}
	return m
}

// tokenEndpoint starts the simulated Persium over TLS and writes its CA
// certificate to a file for the configuration.
func tokenEndpoint(t *testing.T, dir string) (*persiumsim.Server, *httptest.Server, string) {
	t.Helper()
	sim := persiumsim.New(persiumsim.Options{})
	ts := httptest.NewTLSServer(sim)
	t.Cleanup(ts.Close)
	caFile := filepath.Join(dir, "persium-ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatalf("write CA file: %v", err)
	}
	return sim, ts, caFile
}

// backendCase is one secrets manager for the end-to-end test: its fake,
// seeded with the credential's current secret, and a consumer's view.
type backendCase struct {
	name string

	// setup starts the fake and returns the backends: YAML block, the
	// credential's store block and the environment rotor needs.
	setup func(t *testing.T, current map[string]any) (backendYAML, storeYAML string, env map[string]string, view consumerView)
}

// consumerView reads the secret the way a consumer configured as the
// README describes would.
type consumerView interface {
	// current returns the document consumers read now.
	current(t *testing.T) map[string]any
	// oldReadable reports whether the version that held the old secret can
	// still be read by a consumer that requests it.
	oldReadable(t *testing.T, secret string) bool
	// oldDestroyed reports whether the backend no longer holds the old
	// secret in any version that can be read or restored.
	oldDestroyed(t *testing.T, secret string) bool
}

var backendCases = []backendCase{
	{name: "vault", setup: setupVault},
	{name: "gcp", setup: setupGCP},
	{name: "aws", setup: setupAWS},
}

type awsView struct {
	fake *awsfake.Server
	name string
}

func setupAWS(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView) {
	fake := awsfake.New(t)
	name := "persium/cred-a"
	doc, _ := json.Marshal(current)
	if _, err := fake.Seed(name, string(doc)); err != nil {
		t.Fatalf("seed Secrets Manager: %v", err)
	}
	backend := fmt.Sprintf("  test-backend:\n    type: aws\n    aws:\n      region: %s\n      endpoint: %s\n", awsfake.Region, fake.URL())
	store := "      path: persium/cred-a\n      format: json\n      json_key: client_secret\n"
	env := map[string]string{"AWS_ACCESS_KEY_ID": awsfake.AccessKeyID, "AWS_SECRET_ACCESS_KEY": awsfake.SecretAccessKey}
	return backend, store, env, awsView{fake, name}
}

// current reads AWSCURRENT, as GetSecretValue does by default.
func (v awsView) current(t *testing.T) map[string]any {
	t.Helper()
	versions, err := v.fake.Versions(v.name)
	if err != nil {
		t.Fatalf("list versions: %v", err)
	}
	for _, ver := range versions {
		if slices.Contains(ver.Stages, "AWSCURRENT") {
			return decodeDoc(t, []byte(ver.SecretString))
		}
	}
	t.Fatalf("no version carries AWSCURRENT")
	return nil
}

// oldReadable reports whether a labelled version holds the old secret.
// AWS keeps a deprecated version readable by its id until it prunes it,
// which rotor cannot prevent, and the README warns about it.
func (v awsView) oldReadable(t *testing.T, old string) bool {
	versions, err := v.fake.Versions(v.name)
	if err != nil {
		t.Fatalf("list versions: %v", err)
	}
	for _, ver := range versions {
		if !ver.Deprecated() && decodeDoc(t, []byte(ver.SecretString))["client_secret"] == old {
			return true
		}
	}
	return false
}

// oldDestroyed is oldReadable's negation. Secrets Manager cannot destroy
// one version, so an emergency retirement removes every label from it, and
// AWS deletes it later, as the README documents.
func (v awsView) oldDestroyed(t *testing.T, old string) bool { return !v.oldReadable(t, old) }

type vaultView struct {
	fake *vaultfake.Server
}

func setupVault(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView) {
	vault := vaultfake.New(t)
	if _, err := vault.Put("secret", "persium/cred-a", current); err != nil {
		t.Fatalf("seed Vault: %v", err)
	}
	backend := fmt.Sprintf("  test-backend:\n    type: vault\n    vault:\n      address: %s\n      mount: secret\n", vault.URL())
	store := "      path: persium/cred-a\n      format: json\n      json_key: client_secret\n"
	return backend, store, map[string]string{"VAULT_TOKEN": vault.Token()}, vaultView{vault}
}

func (v vaultView) current(t *testing.T) map[string]any {
	t.Helper()
	sec, _ := v.fake.Secret("secret", "persium/cred-a")
	return decodeDoc(t, sec.Versions[sec.CurrentVersion].Data)
}

func (v vaultView) oldReadable(t *testing.T, old string) bool {
	sec, _ := v.fake.Secret("secret", "persium/cred-a")
	for _, ver := range sec.Versions {
		if ver.Destroyed || !ver.Deleted.IsZero() || ver.Data == nil {
			continue
		}
		if decodeDoc(t, ver.Data)["client_secret"] == old {
			return true
		}
	}
	return false
}

// oldDestroyed reports whether every version that held the old secret was
// destroyed, not only soft-deleted.
func (v vaultView) oldDestroyed(t *testing.T, old string) bool {
	sec, _ := v.fake.Secret("secret", "persium/cred-a")
	for _, ver := range sec.Versions {
		if ver.Data != nil && decodeDoc(t, ver.Data)["client_secret"] == old {
			return false
		}
	}
	return true
}

type gcpView struct {
	fake *gcpfake.Server
	name string
}

func setupGCP(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView) {
	fake := gcpfake.New(t)
	name := "projects/acme-payments-test/secrets/persium-cred-a"
	if err := fake.Create(name, gcpfake.Meta{Labels: map[string]string{"team": "payments"}}); err != nil {
		t.Fatalf("create GCP secret: %v", err)
	}
	doc, _ := json.Marshal(current)
	n, err := fake.AddVersion(name, doc)
	if err != nil {
		t.Fatalf("seed GCP secret: %v", err)
	}
	if err := fake.SetAlias(name, "current", n); err != nil {
		t.Fatalf("set alias: %v", err)
	}
	backend := fmt.Sprintf("  test-backend:\n    type: gcp\n    gcp:\n      project: acme-payments-test\n      endpoint: %s\n", fake.Addr())
	store := "      path: persium-cred-a\n      format: json\n      json_key: client_secret\n"
	return backend, store, nil, gcpView{fake, name}
}

func (v gcpView) current(t *testing.T) map[string]any {
	t.Helper()
	sec, _ := v.fake.Secret(v.name)
	return decodeDoc(t, sec.Versions[sec.Aliases["current"]].Data)
}

func (v gcpView) oldReadable(t *testing.T, old string) bool {
	sec, _ := v.fake.Secret(v.name)
	for _, ver := range sec.Versions {
		if ver.State == secretmanagerpb.SecretVersion_ENABLED && decodeDoc(t, ver.Data)["client_secret"] == old {
			return true
		}
	}
	return false
}

// oldDestroyed reports whether every version that held the old secret is
// DESTROYED, not only DISABLED.
func (v gcpView) oldDestroyed(t *testing.T, old string) bool {
	sec, _ := v.fake.Secret(v.name)
	for _, ver := range sec.Versions {
		if ver.Data != nil && decodeDoc(t, ver.Data)["client_secret"] == old {
			return false
		}
	}
	return true
}

func decodeDoc(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decode a stored document: %v", err)
	}
	return doc
}

// serveConfig is the configuration the rotor serve tests write: the TLS
// token endpoint, one backend, and the credential cred-a stored in it.
type serveConfig struct {
	tokenEndpoint string // the token endpoint's base URL
	caFile        string
	backendYAML   string // the entries under backends:, named test-backend
	storeYAML     string // the lines under the credential's store:, after backend
	webhook       bool   // adds the channel "security", a signed webhook, and public_url
	credential    string // more lines of the credential, each indented by four spaces
}

// write writes the configuration into dir and returns its path.
func (c serveConfig) write(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "persium:\n  token_url: %[1]s/realms/persium/protocol/openid-connect/token\n  api_url: %[1]s/api\n  hosts: [127.0.0.1]\n  ca_file: %[2]s\n", c.tokenEndpoint, c.caFile)
	if c.webhook {
		b.WriteString("server:\n  public_url: https://rotor.internal.example\n")
	}
	b.WriteString("backends:\n" + c.backendYAML)
	if c.webhook {
		b.WriteString("channels:\n  security:\n    type: webhook\n    webhook: {url_env: ROTOR_WEBHOOK_URL, signing_key_env: ROTOR_WEBHOOK_SIGNING_KEY}\n")
	}
	b.WriteString("credentials:\n  - id: cred-a\n    organisation: Org A\n    organisation_id: 6b0f7a52-3c1e-4d8e-9f2a-7e5b1c3d9a40\n    client_id: client-a\n")
	b.WriteString(c.credential)
	b.WriteString("    store:\n      backend: test-backend\n" + c.storeYAML)

	path := filepath.Join(dir, "rotor.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

// The whole rotation, end to end, for every backend: `rotor serve` on
// Postgres, the backend's fake, and the TLS token endpoint, driven through
// the JSON API.
func TestServeRotationEndToEnd(t *testing.T) {
	t.Parallel()
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			testServeRotation(t, bc)
		})
	}
}

func testServeRotation(t *testing.T, bc backendCase) {
	dir := t.TempDir()
	dbURL, schema := pgtest.SchemaURL(t)
	sim, ts, caFile := tokenEndpoint(t, dir)
	sim.AddClient("client-a", canary)

	original := map[string]any{"client_id": "client-a", "client_secret": canary.Reveal(), "token_url": ts.URL + sim.TokenPath(), "retries": 3.0}
	backendYAML, storeYAML, env, view := bc.setup(t, original)

	configPath := serveConfig{tokenEndpoint: ts.URL, caFile: caFile, backendYAML: backendYAML, storeYAML: storeYAML,
		credential: "    min_dual_active: 1h\n"}.write(t, dir)
	if env == nil {
		env = map[string]string{}
	}
	env["DATABASE_URL"] = dbURL

	rotor := start(t, []string{"serve", "-config", configPath, "-addr", "127.0.0.1:0", "-debug"}, env)

	if status, _ := rotor.call(http.MethodGet, "/readyz", ""); status != http.StatusOK {
		t.Errorf("/readyz: %d, want 200", status)
	}
	id := rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"e2e","ticket":"PER-9"}`)["id"].(string)
	rotor.must(http.StatusConflict, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{}`)

	newSecret, err := sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"secret": newSecret.Reveal()})
	if r := rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body)); r["state"] != "new_issued" {
		t.Fatalf("after issued: %v", r["state"])
	}
	if view.current(t)["client_secret"] != canary.Reveal() {
		t.Errorf("consumers read the new secret before promotion")
	}

	if r := rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", ""); r["state"] != "dual_active" {
		t.Fatalf("after promote: %v", r["state"])
	}
	current := view.current(t)
	if current["client_secret"] != newSecret.Reveal() {
		t.Errorf("consumers do not read the new secret after promotion")
	}
	for _, k := range []string{"client_id", "token_url", "retries"} {
		if fmt.Sprint(current[k]) != fmt.Sprint(original[k]) {
			t.Errorf("key %q changed by the rotation: %v → %v", k, original[k], current[k])
		}
	}
	if !view.oldReadable(t, canary.Reveal()) {
		t.Errorf("the old secret is not readable during dual_active")
	}

	// Too early, then Persium has not retired the old secret yet.
	rotor.must(http.StatusConflict, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`)
	rotor.must(http.StatusConflict, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true,"reason":"consumers restarted"}`)
	if err := sim.RetireOld("client-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	if r := rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true,"reason":"consumers restarted"}`); r["state"] != "old_retired" {
		t.Fatalf("after retire: %v", r["state"])
	}
	if view.oldReadable(t, canary.Reveal()) {
		t.Errorf("the old secret is still readable after retirement")
	}
	if view.current(t)["client_secret"] != newSecret.Reveal() {
		t.Errorf("consumers do not read the new secret after retirement")
	}

	events := rotor.must(http.StatusOK, http.MethodGet, "/api/v1/rotations/"+id+"/events", "")["events"].([]any)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if got, want := strings.Join(actions, ","), "request,issue,promote,retire"; got != want {
		t.Errorf("audit events %s, want %s", got, want)
	}

	rotor.stop()
	dump := dumpSchema(t, schema)
	if !strings.Contains(dump, id) {
		t.Fatalf("the database dump does not contain the rotation; the canary search would miss a leak")
	}
	rotor.mu.Lock()
	written := rotor.stderr.String() + "\n" + strings.Join(rotor.bodies, "\n") + "\n" + dump
	rotor.mu.Unlock()
	for _, s := range []secret.Value{canary, newSecret} {
		for name, form := range leakForms("client-a", s) {
			if strings.Contains(written, form) {
				t.Errorf("a secret (%s form) appears in rotor's logs, responses or database", name)
			}
		}
	}
	testcanary.Check(t, "rotor's logs, responses or database", written)
}

// leakForms lists the encodings in which a secret could leak.
func leakForms(clientID string, s secret.Value) map[string]string {
	raw := s.Reveal()
	quoted, _ := json.Marshal(raw)
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(raw)))
	return map[string]string{
		"raw":          raw,
		"form-encoded": url.QueryEscape(raw),
		"JSON-escaped": strings.Trim(string(quoted), `"`),
		"Basic header": basic,
	}
}

// dumpSchema returns every row of every table in schema as JSON text.
func dumpSchema(t *testing.T, schema string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		t.Fatalf("connect for dump: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT row_to_json(t)::text FROM %s.%s t`, pgx.Identifier{schema}.Sanitize(), pgx.Identifier{table}.Sanitize()))
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		b.WriteString(strings.Join(lines, "\n"))
	}
	return b.String()
}

// `rotor dev` needs no setup and serves a rotation end to end.
func TestDevWalkthrough(t *testing.T) {
	t.Parallel()
	rotor := start(t, []string{"dev", "--addr", "127.0.0.1:0"}, nil)

	if status, _ := rotor.call(http.MethodGet, "/", ""); status != http.StatusOK {
		t.Fatalf("GET /: %d", status)
	}
	creds := rotor.must(http.StatusOK, http.MethodGet, "/api/v1/credentials", "")["credentials"].([]any)
	if len(creds) != 2 {
		t.Fatalf("demo credentials: %d, want 2", len(creds))
	}
	for _, c := range creds {
		c := c.(map[string]any)
		credID, clientID := c["id"].(string), c["client_id"].(string)
		id := rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/"+credID+"/rotations", `{"reason":"walk-through"}`)["id"].(string)
		issued := rotor.must(http.StatusOK, http.MethodPost, "/dev/persium/clients/"+clientID+"/issue", "")
		body, _ := json.Marshal(map[string]any{"secret": issued["secret"]})
		rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))
		rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
		rotor.must(http.StatusOK, http.MethodPost, "/dev/persium/clients/"+clientID+"/retire-old", "")
		if r := rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`); r["state"] != "old_retired" {
			t.Errorf("%s: state %v after retire", credID, r["state"])
		}
	}

	exposition := fetch(t, rotor.url+"/metrics")
	for _, want := range []string{
		`rotor_backend_calls_total{backend="memory",op="promote",result="ok"} 2`,
		`rotor_http_requests_total{method="POST",route="/api/v1/rotations/{id}/retire",status="200"} 2`,
		`rotor_credential_days_until_due{credential_id="acme-prod"}`,
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestCheckCommandRejectsHTTP(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rotor.yaml")
	config := `persium:
  token_url: http://auth.persium.example/realms/x/protocol/openid-connect/token
  api_url: https://api.persium.example
  hosts: [auth.persium.example, api.persium.example]
backends:
  v:
    type: vault
credentials:
  - id: cred-a
    organisation: Org A
    organisation_id: 6b0f7a52-3c1e-4d8e-9f2a-7e5b1c3d9a40
    client_id: client-a
    store: {backend: v, path: persium/a}
`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "-config", path}, &stdout, &stderr, func(string) string { return "" })
	if code == 0 {
		t.Errorf("rotor check exited 0 on an http:// token URL")
	}
	if out := stdout.String() + stderr.String(); !strings.Contains(out, "persium.token_url") {
		t.Errorf("rotor check output does not name persium.token_url:\n%s", out)
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8080", "192.0.2.1:8080", ":8080"} {
		if err := requireLoopback(addr); err == nil {
			t.Errorf("requireLoopback(%q) = nil, want an error", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:8080", "localhost:8080"} {
		if err := requireLoopback(addr); err != nil {
			t.Errorf("requireLoopback(%q) = %v, want nil", addr, err)
		}
	}
}

// rotor check -online reaches each secret and reports, per credential,
// what would break a rotation.
func TestCheckOnline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vault := vaultfake.New(t)
	vault.EnableKV("legacy", 1)
	vault.AddAppRole("", vaultfake.AppRole{Name: "rotor", RoleID: "role-rotor", SecretID: "CANARY-secret-id-4f1e"})
	secretIDFile := filepath.Join(dir, "secret-id")
	if err := os.WriteFile(secretIDFile, []byte("CANARY-secret-id-4f1e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Put("secret", "persium/good", map[string]any{"client_secret": canary.Reveal()}); err != nil {
		t.Fatalf("seed Vault: %v", err)
	}
	if _, err := vault.Put("legacy", "persium/old-mount", map[string]any{"client_secret": canary.Reveal()}); err != nil {
		t.Fatalf("seed Vault: %v", err)
	}

	credential := func(id, backend, path string) string {
		return fmt.Sprintf(`  - id: %s
    organisation: Org
    organisation_id: 6b0f7a52-3c1e-4d8e-9f2a-7e5b1c3d9a40
    client_id: client-%s
    store: {backend: %s, path: %s}
`, id, id, backend, path)
	}
	config := fmt.Sprintf(`persium:
  token_url: https://auth.persium.example/realms/x/protocol/openid-connect/token
  api_url: https://api.persium.example
  hosts: [auth.persium.example, api.persium.example]
backends:
  kv2: {type: vault, vault: {address: %[1]s, mount: secret}}
  kv1: {type: vault, vault: {address: %[1]s, mount: legacy}}
  approle:
    type: vault
    vault: {address: %[1]s, mount: secret, auth: {method: approle, role_id: role-rotor, secret_id_file: %[2]s}}
channels:
  unsigned:
    type: webhook
    webhook: {url_env: ROTOR_WEBHOOK_URL, signing_key_env: ROTOR_WEBHOOK_KEY_UNSET}
credentials:
`, vault.URL(), secretIDFile) + credential("good", "kv2", "persium/good") + credential("missing", "kv2", "persium/nothing-here") +
		credential("old-mount", "kv1", "persium/old-mount") + credential("by-approle", "approle", "persium/good")
	path := filepath.Join(dir, "rotor.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	env := map[string]string{"VAULT_TOKEN": vault.Token(), "ROTOR_WEBHOOK_URL": "https://hooks.example/CANARY-hook-token"}
	code := run(context.Background(), []string{"check", "-online", "-config", path}, &stdout, &stderr, func(k string) string { return env[k] })
	t.Logf("rotor check -online output:\n%s", stdout.String())
	if code != 1 {
		t.Errorf("exit code %d, want 1; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"credential good (backend kv2, persium/good): OK",
		"credential missing (backend kv2, persium/nothing-here): ",
		"credential old-mount (backend kv1, persium/old-mount): ",
		"credential by-approle (backend approle, persium/good): OK",
		"channel unsigned: the environment variable ROTOR_WEBHOOK_KEY_UNSET, which holds the webhook signing key, is missing or empty",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "legacy") || strings.Contains(out, "old-mount): OK") {
		t.Errorf("the KV version 1 mount is not reported by name:\n%s", out)
	}
	if all := out + stderr.String(); strings.Contains(all, canary.Reveal()) || strings.Contains(all, vault.Token()) || strings.Contains(all, "CANARY-secret-id") || strings.Contains(all, "CANARY-hook-token") {
		t.Errorf("rotor check -online printed a secret or the Vault token")
	}
}

// rotor check -online on AWS and GCP: a secret with AWS's own rotation
// switched on has a second owner, and a GCP secret without the current
// alias has no version that consumers can follow.
func TestCheckOnlineClouds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	aws := awsfake.New(t)
	for _, name := range []string{"persium/plain", "persium/rotating"} {
		if _, err := aws.Seed(name, canary.Reveal()); err != nil {
			t.Fatalf("seed Secrets Manager: %v", err)
		}
	}
	if err := aws.SetRotationEnabled("persium/rotating", true, "arn:aws:lambda:us-east-1:123456789012:function:rotate"); err != nil {
		t.Fatalf("SetRotationEnabled: %v", err)
	}

	gcp := gcpfake.New(t)
	for _, name := range []string{"persium-aliased", "persium-unaliased"} {
		full := "projects/acme-payments-test/secrets/" + name
		if err := gcp.Create(full, gcpfake.Meta{}); err != nil {
			t.Fatalf("create GCP secret: %v", err)
		}
		n, err := gcp.AddVersion(full, []byte(canary.Reveal()))
		if err != nil {
			t.Fatalf("seed GCP secret: %v", err)
		}
		if name == "persium-aliased" {
			if err := gcp.SetAlias(full, "current", n); err != nil {
				t.Fatalf("set alias: %v", err)
			}
		}
	}

	credential := func(id, backend, path string) string {
		return fmt.Sprintf("  - id: %s\n    organisation: Org\n    organisation_id: 6b0f7a52-3c1e-4d8e-9f2a-7e5b1c3d9a40\n    client_id: client-%s\n    store: {backend: %s, path: %s}\n", id, id, backend, path)
	}
	config := fmt.Sprintf(`persium:
  token_url: https://auth.persium.example/realms/x/protocol/openid-connect/token
  api_url: https://api.persium.example
  hosts: [auth.persium.example, api.persium.example]
backends:
  aws: {type: aws, aws: {region: %s, endpoint: %s}}
  gcp: {type: gcp, gcp: {project: acme-payments-test, endpoint: "%s"}}
credentials:
`, awsfake.Region, aws.URL(), gcp.Addr()) +
		credential("aws-ok", "aws", "persium/plain") + credential("aws-rotating", "aws", "persium/rotating") +
		credential("gcp-ok", "gcp", "persium-aliased") + credential("gcp-unaliased", "gcp", "persium-unaliased")
	path := filepath.Join(dir, "rotor.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	env := map[string]string{"AWS_ACCESS_KEY_ID": awsfake.AccessKeyID, "AWS_SECRET_ACCESS_KEY": awsfake.SecretAccessKey}
	code := run(context.Background(), []string{"check", "-online", "-config", path}, &stdout, &stderr, func(k string) string { return env[k] })
	t.Logf("rotor check -online output:\n%s", stdout.String())
	if code != 1 {
		t.Errorf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"credential aws-ok (backend aws, persium/plain): OK", "credential gcp-ok (backend gcp, persium-aliased): OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "credential aws-rotating "):
			if strings.HasSuffix(line, ": OK") || !strings.Contains(line, "rotation") {
				t.Errorf("AWS rotation switched on is not reported: %s", line)
			}
		case strings.HasPrefix(line, "credential gcp-unaliased "):
			if strings.HasSuffix(line, ": OK") || !strings.Contains(line, "current") {
				t.Errorf("the missing current alias is not reported: %s", line)
			}
		}
	}
	if all := out + stderr.String(); strings.Contains(all, canary.Reveal()) || strings.Contains(all, awsfake.SecretAccessKey) {
		t.Errorf("rotor check -online printed a secret or the AWS secret key")
	}
}

// rotor serve sends a due reminder through a signed webhook once, shows
// it on the credential page, and lists the due date in the calendar feed.
func TestServeSendsReminder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL, _ := pgtest.SchemaURL(t)
	_, ts, caFile := tokenEndpoint(t, dir)
	backendYAML, storeYAML, env, _ := setupVault(t, map[string]any{"client_secret": canary.Reveal()})

	const signingKey = "CANARY-signing-key-0123456789abcdef0123456789"
	type delivery struct {
		header http.Header
		body   []byte
	}
	deliveries := make(chan delivery, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		deliveries <- delivery{r.Header.Clone(), body}
	}))
	t.Cleanup(receiver.Close)
	env["ROTOR_WEBHOOK_URL"] = receiver.URL + "/hooks/CANARY-path-token"
	env["ROTOR_WEBHOOK_SIGNING_KEY"] = signingKey
	env["DATABASE_URL"] = dbURL

	// Issued 80 days ago with a 90-day period: due in 10 days, so the
	// 14-day reminder is due now and the 7-day one is not.
	issued := time.Now().UTC().Add(-80 * 24 * time.Hour).Format(time.RFC3339)
	configPath := serveConfig{tokenEndpoint: ts.URL, caFile: caFile, backendYAML: backendYAML, storeYAML: storeYAML, webhook: true,
		credential: "    issued_at: " + issued + "\n    channels: [security]\n    window: daily 02:00-04:00 UTC\n"}.write(t, dir)
	rotor := start(t, []string{"serve", "-config", configPath, "-addr", "127.0.0.1:0"}, env)

	var got delivery
	select {
	case got = <-deliveries:
	case <-time.After(20 * time.Second):
		t.Fatalf("no reminder arrived within 20s; log:\n%s", rotor.stderr.String())
	}
	if err := webhook.Verify(secret.New(signingKey), got.header.Get(webhook.HeaderTimestamp), got.body, got.header.Get(webhook.HeaderSignature), time.Minute, time.Now()); err != nil {
		t.Errorf("the reminder's signature does not verify: %v", err)
	}
	var payload map[string]any
	if err := json.Unmarshal(got.body, &payload); err != nil {
		t.Fatalf("decode the payload: %v", err)
	}
	if payload["credential_id"] != "cred-a" || payload["url"] != "https://rotor.internal.example/credentials/cred-a" || got.header.Get(webhook.HeaderIdempotencyKey) == "" {
		t.Errorf("payload = %v, idempotency key %q", payload, got.header.Get(webhook.HeaderIdempotencyKey))
	}

	// The scheduler records the delivery after the receiver saw it, so
	// poll the page until it shows, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		page := fetch(t, rotor.url+"/credentials/cred-a")
		if strings.Contains(page, "14 days before the due date") && strings.Contains(page, "<td>sent") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the credential page does not list the sent reminder:\n%s", page)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cal := fetch(t, rotor.url+"/calendar.ics")
	if !strings.Contains(cal, "BEGIN:VEVENT") || !strings.Contains(cal, "Rotate the Persium secret of cred-a") || !strings.Contains(cal, "Low-traffic window for cred-a") {
		t.Errorf("calendar feed lacks the due date or the window:\n%s", cal)
	}

	select {
	case extra := <-deliveries:
		t.Errorf("a second reminder arrived: %s", extra.body)
	case <-time.After(500 * time.Millisecond):
	}
	rotor.stop()
	if log := rotor.stderr.String(); strings.Contains(log, "CANARY-path-token") || strings.Contains(log, signingKey) {
		t.Errorf("rotor's log contains the webhook URL's token or the signing key")
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body)
}

// A compromise reported while a rotation is new_issued, end to end for
// every backend. `rotor serve` escalates the rotation and alerts the
// credential's webhook channel at once. After Persium's early revocation it
// promotes and retires without waiting, and destroys the old secret in the
// backend. The incident stays open until its checklist is done. No secret
// reaches the logs, responses, database or the alert.
func TestServeIncidentEndToEnd(t *testing.T) {
	t.Parallel()
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			testServeIncident(t, bc)
		})
	}
}

func testServeIncident(t *testing.T, bc backendCase) {
	dir := t.TempDir()
	dbURL, schema := pgtest.SchemaURL(t)
	sim, ts, caFile := tokenEndpoint(t, dir)
	sim.AddClient("client-a", canary)
	backendYAML, storeYAML, env, view := bc.setup(t, map[string]any{"client_id": "client-a", "client_secret": canary.Reveal()})

	const signingKey = "CANARY-incident-signing-key-0123456789abcdef"
	deliveries := make(chan []byte, 10)
	var delivered strings.Builder
	var deliveredMu sync.Mutex
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret.New(signingKey), r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Minute, time.Now()); err != nil {
			t.Errorf("an alert's signature does not verify: %v", err)
		}
		deliveredMu.Lock()
		delivered.Write(body)
		deliveredMu.Unlock()
		deliveries <- body
	}))
	t.Cleanup(receiver.Close)
	if env == nil {
		env = map[string]string{}
	}
	env["DATABASE_URL"] = dbURL
	env["ROTOR_WEBHOOK_URL"] = receiver.URL + "/hooks/CANARY-incident-path"
	env["ROTOR_WEBHOOK_SIGNING_KEY"] = signingKey

	configPath := serveConfig{tokenEndpoint: ts.URL, caFile: caFile, backendYAML: backendYAML, storeYAML: storeYAML, webhook: true,
		credential: "    min_dual_active: 1h\n    channels: [security]\n"}.write(t, dir)
	rotor := start(t, []string{"serve", "-config", configPath, "-addr", "127.0.0.1:0", "-debug"}, env)

	id := rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"scheduled"}`)["id"].(string)
	newSecret, err := sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"secret": newSecret.Reveal()})
	rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))

	detected := time.Now().UTC().Add(-10 * time.Minute).Format(time.RFC3339)
	inc := rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/incidents",
		`{"what":"public_commit","detected_at":"`+detected+`","reference":"INC-42","force_revoke":true}`)
	incidentID := inc["id"].(string)
	if inc["rotation_id"] != id || inc["escalated"] != true || inc["rotation_state"] != "new_issued" {
		t.Errorf("incident = %v, want rotation %s escalated in new_issued", inc, id)
	}
	if notes, _ := inc["notifications"].([]any); len(notes) != 1 || notes[0].(map[string]any)["status"] != "sent" {
		t.Errorf("notifications = %v, want the security channel sent", inc["notifications"])
	}
	select {
	case got := <-deliveries:
		var payload map[string]any
		if err := json.Unmarshal(got, &payload); err != nil {
			t.Fatalf("decode the alert: %v", err)
		}
		if payload["kind"] != "urgent" || payload["url"] != "https://rotor.internal.example/incidents/"+incidentID ||
			!strings.Contains(payload["subject"].(string), "URGENT") || !strings.Contains(payload["text"].(string), "client-a") {
			t.Errorf("alert payload = %v", payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no alert reached the webhook channel; log:\n%s", rotor.stderr.String())
	}

	if err := sim.RetireOld("client-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/force-revoked", "")
	rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if r := rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`); r["state"] != "old_retired" {
		t.Fatalf("after retire: %v", r["state"])
	}
	if !view.oldDestroyed(t, canary.Reveal()) {
		t.Errorf("the %s backend still holds the old secret after an emergency retirement", bc.name)
	}
	if view.current(t)["client_secret"] != newSecret.Reveal() {
		t.Errorf("consumers do not read the new secret after retirement")
	}

	if got := rotor.must(http.StatusOK, http.MethodGet, "/api/v1/incidents/"+incidentID, "")["status"]; got != "open" {
		t.Errorf("incident after retirement: %v, want open until the checklist is done", got)
	}
	for _, item := range []string{"1", "2", "3"} {
		rotor.must(http.StatusOK, http.MethodPost, "/api/v1/incidents/"+incidentID+"/checklist/"+item+"/done", `{"note":"searched and cleaned"}`)
	}
	if got := rotor.must(http.StatusOK, http.MethodGet, "/api/v1/incidents/"+incidentID, "")["status"]; got != "closed" {
		t.Errorf("incident after the checklist: %v, want closed", got)
	}
	rotor.call(http.MethodGet, "/incidents/"+incidentID, "")
	rotor.call(http.MethodGet, "/incidents/"+incidentID+".md", "")
	rotor.call(http.MethodGet, "/rotations/"+id, "")

	events := rotor.must(http.StatusOK, http.MethodGet, "/api/v1/rotations/"+id+"/events", "")["events"].([]any)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if got, want := strings.Join(actions, ","), "request,issue,escalated,old_revoked,promote,retire"; got != want {
		t.Errorf("audit events %s, want %s", got, want)
	}

	rotor.stop()
	dump := dumpSchema(t, schema)
	if !strings.Contains(dump, incidentID) || !strings.Contains(dump, "searched and cleaned") {
		t.Fatalf("the database dump does not contain the incident; the canary search would miss a leak")
	}
	rotor.mu.Lock()
	deliveredMu.Lock()
	written := rotor.stderr.String() + "\n" + strings.Join(rotor.bodies, "\n") + "\n" + dump + "\n" + delivered.String()
	deliveredMu.Unlock()
	rotor.mu.Unlock()
	for _, s := range []secret.Value{canary, newSecret} {
		for name, form := range leakForms("client-a", s) {
			if strings.Contains(written, form) {
				t.Errorf("a secret (%s form) appears in rotor's logs, responses, database or alert", name)
			}
		}
	}
	testcanary.Check(t, "rotor's logs, responses, database or alert", written)
	if strings.Contains(written, "CANARY-incident-path") || strings.Contains(written, signingKey) {
		t.Errorf("rotor's output contains the webhook URL's path or its signing key")
	}
}
