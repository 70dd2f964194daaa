package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	testcanary "github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/scan"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// outcomes plays the token endpoint at the level of outcomes: it accepts
// the secrets set to true.
type outcomes struct {
	mu       sync.Mutex
	accepted map[string]bool
}

func (o *outcomes) Check(ctx context.Context, clientID string, method tokencheck.AuthMethod, s secret.Value) tokencheck.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.accepted[s.Reveal()] {
		return tokencheck.Result{Outcome: tokencheck.Accepted, Status: 200}
	}
	return tokencheck.Result{Outcome: tokencheck.Rejected, Status: 401}
}

func (o *outcomes) set(s secret.Value, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.accepted[s.Reveal()] = ok
}

// The secret rotor scan searches for in each state of a rotation, on the
// memory stores. It is the current one while requested, and the recorded
// old version after the stage, also in dual_active where consumers read
// the new one. Once retirement destroyed it, the error says so.
func TestScanOldSecretThroughRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New(time.Now)
	cred := rotation.Credential{ID: "cred-a", Organisation: "Org A", ClientID: "client-a", AuthMethod: "post",
		RotationPeriod: 90 * 24 * time.Hour, Backend: "memory", SecretPath: "persium/a", RetireMode: secretstore.RetireDestroy}
	if err := store.SyncCredentials(ctx, []rotation.Credential{cred}); err != nil {
		t.Fatal(err)
	}
	secrets := memory.New(canary, secretstore.Format{})
	newSecret := testcanary.Second
	endpoint := &outcomes{accepted: map[string]bool{canary.Reveal(): true, newSecret.Reveal(): true}}
	svc := rotation.NewService(rotation.Options{Store: store, Secrets: map[string]rotation.SecretStore{"cred-a": secrets}, Checker: endpoint})

	wantOld := func(state rotation.State) {
		t.Helper()
		r, err := scanRotation(ctx, store, "cred-a", "")
		if err != nil {
			t.Fatalf("%s: scanRotation: %v", state, err)
		}
		if r.State != state {
			t.Fatalf("open rotation is %s, want %s", r.State, state)
		}
		v, version, err := oldSecret(ctx, secrets, r)
		if err != nil {
			t.Fatalf("%s: oldSecret: %v", state, err)
		}
		if !v.Equal(canary) || !strings.Contains(version, "1") {
			t.Errorf("%s: read %s, which is not the old secret in version 1", state, version)
		}
	}

	_, err := scanRotation(ctx, store, "cred-a", "")
	assertMessage(t, err, "has no open rotation", "report the compromise")

	r, err := svc.Request(ctx, "alice", "cred-a", rotation.RequestInput{Kind: rotation.KindManual, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	wantOld(rotation.StateRequested)
	if _, err := svc.RecordIssued(ctx, "alice", r.ID, rotation.IssuedInput{Secret: newSecret}); err != nil {
		t.Fatal(err)
	}
	wantOld(rotation.StateNewIssued)
	if _, err := svc.Promote(ctx, "alice", r.ID, ""); err != nil {
		t.Fatal(err)
	}
	wantOld(rotation.StateDualActive)

	endpoint.set(canary, false)
	if _, err := svc.Retire(ctx, "alice", r.ID, rotation.RetireInput{PersiumConfirmed: true}); err != nil {
		t.Fatal(err)
	}
	_, err = scanRotation(ctx, store, "cred-a", "")
	assertMessage(t, err, "has no open rotation", "-rotation ID", r.ID+" (old_retired")
	retired, err := scanRotation(ctx, store, "cred-a", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = oldSecret(ctx, secrets, retired)
	assertMessage(t, err, "no longer readable", "retired that version", "scan before retiring")

	_, err = scanRotation(ctx, store, "cred-b", r.ID)
	assertMessage(t, err, "belongs to credential cred-a, not cred-b")
	_, err = scanRotation(ctx, store, "cred-a", "no-such-rotation")
	assertMessage(t, err, `there is no rotation "no-such-rotation"`)

	// Cancelled before the stage: no old version was recorded.
	c, err := svc.Request(ctx, "alice", "cred-a", rotation.RequestInput{Kind: rotation.KindManual, Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = svc.Cancel(ctx, "alice", c.ID, "not now"); err != nil {
		t.Fatal(err)
	}
	_, _, err = oldSecret(ctx, secrets, c)
	assertMessage(t, err, "recorded no old version", "-rotation")
}

func assertMessage(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

func TestParseScanArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		ok      bool
		paths   string
		json    bool
		problem string
	}{
		{args: []string{"-config", "c.yaml", "--credential", "cred-a", "src", "-json", "docs"}, ok: true, paths: "src,docs", json: true},
		{args: []string{"-config", "c.yaml", "-credential", "cred-a", "--", "-odd-name", "-json"}, ok: true, paths: "-odd-name,-json"},
		{args: []string{"-config", "c.yaml", "src"}, problem: "-credential ID is required"},
		{args: []string{"-config", "c.yaml", "-credential", "cred-a"}, problem: "give at least one file or directory"},
		{args: []string{"-config", "c.yaml", "-credential", "cred-a", "-attach", "2", "-by", "alice", "."}, problem: "-attach needs -incident ID"},
		{args: []string{"-config", "c.yaml", "-credential", "cred-a", "-attach", "2", "-incident", "i", "."}, problem: "-attach needs -by NAME"},
		{args: []string{"-config", "c.yaml", "-credential", "cred-a", "-by", "alice", "."}, problem: "-by is only used with -attach"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		o, ok := parseScanArgs(tt.args, &stderr)
		if ok != tt.ok || (ok && (strings.Join(o.paths, ",") != tt.paths || o.json != tt.json)) {
			t.Errorf("parseScanArgs(%q) = paths %q, json %v, ok %v; want %q, %v, %v", tt.args, o.paths, o.json, ok, tt.paths, tt.json, tt.ok)
		}
		if !strings.Contains(stderr.String(), tt.problem) {
			t.Errorf("parseScanArgs(%q) printed %q, want %q", tt.args, stderr.String(), tt.problem)
		}
	}
}

// The title of the item that records hits fits the checklist's limit and
// counts the hits it leaves out.
func TestHitsTitleFits(t *testing.T) {
	t.Parallel()
	var hits []scan.Hit
	for i := range 40 {
		hits = append(hits, scan.Hit{Kind: scan.KindFile, Form: scan.FormExact, Path: fmt.Sprintf("/src/deploy/env/service-%02d.env", i), Line: i + 1})
	}
	hits = append(hits, scan.Hit{Kind: scan.KindBlob, Path: "a\nb", Commits: []scan.Commit{{ID: "0123456789abcdef"}}})
	title := hitsTitle(rotation.ChecklistItem{Item: 2, Title: "git history"}, []string{"/src/deploy"}, hits)
	if err := rotation.CheckItemTitle(title); err != nil {
		t.Errorf("title %q is not a valid checklist item: %v", title, err)
	}
	if !strings.HasPrefix(title, "Remove the old secret from 41 places rotor scan found for item 2: deploy/env/service-00.env:1; deploy/env/service-01.env:2;") ||
		!strings.HasSuffix(title, " more") {
		t.Errorf("title = %q", title)
	}
	if got := hitsTitle(rotation.ChecklistItem{Item: 2}, nil, hits[40:]); got != "Remove the old secret from 1 place rotor scan found for item 2: 01234567 a?b:0" {
		t.Errorf("title of one hit = %q", got)
	}
}

// gitIn runs git in dir for a test, with a fixed identity and date.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE=2024-03-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-03-01T10:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func plant(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// expect checks a run's exit code, and that text contains each of wants.
func expect(t *testing.T, name string, code, wantCode int, text string, wants ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d", name, code, wantCode)
	}
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s: output lacks %q", name, want)
		}
	}
}

// scanRun runs rotor scan and keeps everything it printed for the leak
// check at the end.
type scanRun struct {
	t       *testing.T
	env     map[string]string
	config  string
	printed strings.Builder
}

func (s *scanRun) run(args ...string) (code int, stdout, stderr string) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"scan", "-config", s.config}, args...)
	code = run(context.Background(), full, &out, &errOut, func(k string) string { return s.env[k] })
	s.printed.WriteString(out.String() + "\n" + errOut.String() + "\n")
	s.t.Logf("rotor %s → %d\nstdout:\n%sstderr:\n%s", strings.Join(full, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// rotor scan end to end. rotor serve on Postgres and the Vault fake holds
// the rotation and the incident. rotor scan reads the old secret from
// Vault and finds it planted in a working tree, in a commit deleted later,
// as Base64 in a Basic header and URL-encoded. It records the result on the
// incident's checklist, and fails once retirement destroyed the secret.
// Nothing it prints contains a secret.
func TestScanCommandEndToEnd(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("SKIPPING: git is not installed: %v", err)
	}
	dir := t.TempDir()
	dbURL, _ := pgtest.SchemaURL(t)
	sim, ts, caFile := tokenEndpoint(t, dir)
	sim.AddClient("client-a", canary)
	backendYAML, storeYAML, env, _ := setupVault(t, map[string]any{"client_id": "client-a", "client_secret": canary.Reveal()})
	env["DATABASE_URL"] = dbURL
	configPath := serveConfig{tokenEndpoint: ts.URL, caFile: caFile, backendYAML: backendYAML, storeYAML: storeYAML,
		credential: "    min_dual_active: 1h\n"}.write(t, dir)
	rotor := start(t, []string{"serve", "-config", configPath, "-addr", "127.0.0.1:0"}, env)
	scans := &scanRun{t: t, env: env, config: configPath}

	// The places: a repository whose history and working tree hold the
	// secret, and a clean directory with a near miss.
	app := filepath.Join(dir, "work", "app")
	gitIn(t, dir, "init", "-q", "-b", "main", app)
	plant(t, filepath.Join(app, "secrets.env"), "CLIENT_SECRET="+canary.Reveal()+"\n")
	gitIn(t, app, "add", "-A")
	gitIn(t, app, "commit", "-q", "-m", "add configuration")
	leaked := gitIn(t, app, "rev-parse", "HEAD")
	gitIn(t, app, "rm", "-q", "secrets.env")
	gitIn(t, app, "commit", "-q", "-m", "remove the secret")
	basic := base64.StdEncoding.EncodeToString([]byte("client-a:" + url.QueryEscape(canary.Reveal())))
	plant(t, filepath.Join(app, "ci", "smoke.sh"), "#!/bin/sh\ncurl -H 'Authorization: Basic "+basic+"' $TOKEN_URL\n")
	plant(t, filepath.Join(app, "deploy", "url.txt"), "https://auth.example/token?client_secret="+url.QueryEscape(canary.Reveal())+"\n")
	plant(t, filepath.Join(app, "config", "local.env"), "# local\nCLIENT_SECRET="+canary.Reveal()+"\n")
	clean := filepath.Join(dir, "work", "clean")
	// One character inside the canary differs.
	nearMiss := canary.Reveal()[:10] + "x" + canary.Reveal()[11:]
	plant(t, filepath.Join(clean, "app.env"), "CLIENT_SECRET="+nearMiss+"\n"+base64.StdEncoding.EncodeToString([]byte(nearMiss))+"\n")

	// Bad input fails before anything is read.
	code, _, stderr := scans.run("-credential", "cred-a", app)
	expect(t, "no rotation", code, 2, stderr, "credential cred-a has no open rotation", "report the compromise")
	code, _, stderr = scans.run("-credential", "nope", app)
	expect(t, "unknown credential", code, 2, stderr, `unknown credential "nope"`, "lists cred-a")
	code, _, stderr = scans.run("-credential", "cred-a", filepath.Join(dir, "missing"))
	expect(t, "missing path", code, 2, stderr, "does not exist")

	// A rotation in new_issued: the old secret is found in each place, the
	// new one (also planted) is not searched for.
	id := rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"scheduled"}`)["id"].(string)
	newSecret, err := sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"secret": newSecret.Reveal()})
	rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))
	plant(t, filepath.Join(app, "config", "next.env"), "CLIENT_SECRET="+newSecret.Reveal()+"\n")

	code, stdout, stderr := scans.run("-credential", "cred-a", app)
	expect(t, "scan", code, 1, stdout,
		app+"/config/local.env:2: exact\n",
		app+"/deploy/url.txt:1: url\n",
		app+"/ci/smoke.sh:2: base64\n",
		app+": commit "+leaked[:12]+" (2024-03-01) adds secrets.env:1: exact\n",
		"rotor scan: 4 hits of the old secret of credential cred-a (rotation "+id+", version 1) in forms exact, url, json, base64; searched ",
		"and 1 git repository (2 commits, 1 blob, 0 tags, all refs and reflogs).\n")
	if stderr != "" {
		t.Errorf("scan: stderr %q, want nothing", stderr)
	}

	code, stdout, _ = scans.run("-credential", "cred-a", app, "-json")
	var report struct {
		Credential, Rotation, Version string
		Hits                          []scan.Hit
		Errors                        []string
		Stats                         scan.Stats
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("decode -json output: %v", err)
	}
	if code != 1 {
		t.Errorf("-json: exit %d, want 1", code)
	}
	if report.Credential != "cred-a" || report.Rotation != id || report.Version != "version 1" {
		t.Errorf("-json: credential %q, rotation %q, %q; want cred-a, %s, version 1", report.Credential, report.Rotation, report.Version, id)
	}
	if len(report.Hits) != 4 || len(report.Errors) != 0 {
		t.Errorf("-json: %d hits and errors %q, want 4 hits and no errors", len(report.Hits), report.Errors)
	}

	// An incident: hits add an item and leave the chosen one open; a
	// second scan with the same hits adds nothing.
	detected := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	incidentID := rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/incidents",
		`{"what":"public_commit","detected_at":"`+detected+`"}`)["id"].(string)
	for range 2 {
		code, stdout, _ = scans.run("-credential", "cred-a", "-incident", incidentID, "-attach", "git history", "-by", "alice", app)
		if code != 1 {
			t.Errorf("attach with hits: exit %d, want 1", code)
		}
	}
	if !strings.Contains(stdout, "already lists these hits as item 4") {
		t.Errorf("the second attach does not say the hits are recorded already:\n%s", stdout)
	}
	code, stdout, _ = scans.run("-credential", "cred-a", "-incident", incidentID, app)
	expect(t, "-incident without -attach", code, 1, stdout, "rotor scan: 4 hits of the old secret of credential cred-a (rotation "+id)
	if strings.Contains(stdout, "item") {
		t.Errorf("-incident without -attach reports a checklist change:\n%s", stdout)
	}
	checklist := rotor.must(http.StatusOK, http.MethodGet, "/api/v1/incidents/"+incidentID, "")["checklist"].([]any)
	if len(checklist) != 4 {
		t.Fatalf("checklist has %d items, want 4", len(checklist))
	}
	item2, item4 := checklist[1].(map[string]any), checklist[3].(map[string]any)
	if item2["done"] != false {
		t.Errorf("item 2 was ticked although the scan found the secret")
	}
	if title := item4["title"].(string); !strings.HasPrefix(title, "Remove the old secret from 4 places rotor scan found for item 2: ") ||
		!strings.Contains(title, "app/config/local.env:2; ") || !strings.Contains(title, leaked[:8]+" secrets.env:1") || item4["added_by"] != "alice" {
		t.Errorf("item 4 = %v", item4)
	}

	// dual_active: consumers read the new secret, and rotor scan still
	// searches for the old one. A clean scan ticks the item.
	rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	code, stdout, _ = scans.run("-credential", "cred-a", app)
	expect(t, "dual_active", code, 1, stdout, "4 hits of the old secret")
	code, stdout, _ = scans.run("-credential", "cred-a", "-incident", incidentID, "-attach", "2", "-by", "alice", clean)
	expect(t, "clean attach", code, 0, stdout, "rotor scan: no trace of the old secret", "ticked item 2 (git history)")
	item2 = rotor.must(http.StatusOK, http.MethodGet, "/api/v1/incidents/"+incidentID, "")["checklist"].([]any)[1].(map[string]any)
	if note, _ := item2["note"].(string); item2["done"] != true || item2["done_by"] != "alice" ||
		!strings.Contains(note, "no trace of the old secret of credential cred-a (rotation "+id+", version 1)") || !strings.Contains(note, "Paths: "+clean) {
		t.Errorf("item 2 after a clean scan = %v", item2)
	}
	code, _, stderr = scans.run("-credential", "cred-a", "-incident", incidentID, "-attach", "2", "-by", "alice", clean)
	expect(t, "attach to a ticked item", code, 2, stderr, "was already ticked by alice")

	// Retired: the emergency retirement destroyed the old version.
	if err := sim.RetireOld("client-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true,"reason":"test"}`)
	code, _, stderr = scans.run("-credential", "cred-a", "-rotation", id, app)
	expect(t, "retired", code, 2, stderr, "is no longer readable: rotor retired that version", "scan before retiring")
	code, _, stderr = scans.run("-credential", "cred-a", app)
	expect(t, "retired, without -rotation", code, 2, stderr, "-rotation ID", id+" (old_retired")

	rotor.stop()
	written := scans.printed.String() + rotor.stderr.String()
	for _, s := range []secret.Value{canary, newSecret} {
		forms := leakForms("client-a", s)
		forms["base64"] = base64.StdEncoding.EncodeToString([]byte(s.Reveal()))
		forms["Basic header, unescaped id"] = basic
		for name, form := range forms {
			if strings.Contains(written, form) {
				t.Errorf("a secret (%s form) appears in rotor scan's output or rotor's log", name)
			}
		}
	}
	m, _ := scan.NewMatcher(canary)
	if m.Contains(written) {
		t.Errorf("rotor scan's output contains the old secret in a form the matcher searches for")
	}
}
