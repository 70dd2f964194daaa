package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/config"
	testcanary "github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/crashpoint"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	awsstore "github.com/rotorhq/rotor/secretstore/aws"
	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
	"github.com/rotorhq/rotor/secretstore/gcp"
	"github.com/rotorhq/rotor/secretstore/gcp/gcpfake"
	"github.com/rotorhq/rotor/secretstore/vault"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

// The crash tests run `rotor serve` as a child process built with the
// crashpoints tag, kill it with SIGKILL at a boundary of a secrets-manager
// step, restart it, and check what the restart makes of the rotation. The
// backend fakes and the token endpoint run in the test process and
// Postgres outside it, so they outlive the child as real ones outlive
// rotor.

// crashParallel is how many crash cases run at once. Each case runs one
// child process at a time, which mostly waits for Postgres and the fakes.
const crashParallel = 4

// crashBuild is rotor built once with the crashpoints tag, shared by the
// tests that run it as a child. The last test using it removes it.
var crashBuild struct {
	mu    sync.Mutex
	users int
	dir   string
	path  string
}

// crashBinary returns the path of rotor built with -tags crashpoints,
// building it on first use.
func crashBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIPPING under -short: this test builds rotor with -tags crashpoints and kills it as a child process")
	}
	b := &crashBuild
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.path == "" {
		goTool, err := exec.LookPath("go")
		if err != nil {
			t.Fatalf("find the go command to build rotor with -tags crashpoints: %v", err)
		}
		dir, err := os.MkdirTemp("", "rotor-crashpoints-")
		if err != nil {
			t.Fatalf("create a directory for the crashpoints build: %v", err)
		}
		path := filepath.Join(dir, "rotor")
		started := time.Now()
		// The test runs in cmd/rotor, so "." is rotor's main package.
		out, err := exec.Command(goTool, "build", "-tags", "crashpoints", "-o", path, ".").CombinedOutput()
		if err != nil {
			_ = os.RemoveAll(dir)
			t.Fatalf("go build -tags crashpoints ./cmd/rotor: %v\n%s", err, out)
		}
		t.Logf("built rotor with -tags crashpoints in %s", time.Since(started).Round(time.Millisecond))
		b.dir, b.path = dir, path
	}
	b.users++
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.users--
		if b.users == 0 {
			_ = os.RemoveAll(b.dir)
			b.dir, b.path = "", ""
		}
	})
	return b.path
}

// lineLog collects a child's output and passes each complete line to
// onLine, in order.
type lineLog struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	var lines []string
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	l.mu.Unlock()
	for _, line := range lines {
		l.onLine(line)
	}
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// rotorChild is one rotor process started by a test.
type rotorChild struct {
	t       *testing.T
	name    string // such as "serve with promote/after-intent", for messages
	cmd     *exec.Cmd
	stdout  *lineLog
	stderr  *lineLog
	serving chan string // the URL, once rotor serves
	reached chan string // crash points reached
	done    chan struct{}
	waitErr error // set before done closes
}

// startChild starts the rotor binary bin with args and the environment
// env, which replaces the test's own.
func startChild(t *testing.T, bin, name string, env, args []string) *rotorChild {
	t.Helper()
	c := &rotorChild{t: t, name: name, serving: make(chan string, 1), reached: make(chan string, 4), done: make(chan struct{})}
	c.stdout = &lineLog{onLine: func(line string) {
		if u, ok := strings.CutPrefix(line, "rotor: serving "); ok {
			c.serving <- u
		}
	}}
	c.stderr = &lineLog{onLine: func(line string) {
		if rest, ok := strings.CutPrefix(line, "crashpoint "); ok {
			if point, ok := strings.CutSuffix(rest, " reached"); ok {
				c.reached <- point
			}
		}
	}}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start rotor (%s): %v", name, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// waitServing returns the URL rotor serves on, and fails the test if rotor
// exits, reaches a crash point or takes longer than a minute first.
func (c *rotorChild) waitServing() string {
	c.t.Helper()
	select {
	case u := <-c.serving:
		return u
	case point := <-c.reached:
		c.t.Fatalf("rotor (%s) stopped at crash point %s before serving", c.name, point)
	case <-c.done:
		c.t.Fatalf("rotor (%s) exited before serving (%v); stderr:\n%s", c.name, c.waitErr, redact(c.stderr.String()))
	case <-time.After(time.Minute):
		c.t.Fatalf("rotor (%s) did not serve within a minute; stderr:\n%s", c.name, redact(c.stderr.String()))
	}
	return ""
}

// waitCrashpoint waits until rotor writes that it reached point. A
// response to the request in flight, if any, arrives on answered and means
// that rotor went past the point.
func (c *rotorChild) waitCrashpoint(point string, answered <-chan apiResult) {
	c.t.Helper()
	select {
	case got := <-c.reached:
		if got != point {
			c.t.Fatalf("rotor (%s) stopped at crash point %s, want %s", c.name, got, point)
		}
	case res := <-answered:
		c.t.Fatalf("rotor (%s) responded %d without reaching crash point %s: %s", c.name, res.status, point, redact(res.raw))
	case <-c.done:
		c.t.Fatalf("rotor (%s) exited (%v) before crash point %s; stderr:\n%s", c.name, c.waitErr, point, redact(c.stderr.String()))
	case <-time.After(time.Minute):
		c.t.Fatalf("rotor (%s) did not reach crash point %s within a minute; stderr:\n%s", c.name, point, redact(c.stderr.String()))
	}
}

// kill sends SIGKILL to this child's process only and waits for its end.
func (c *rotorChild) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill rotor (%s): %v", c.name, err)
	}
	<-c.done
}

// terminate sends SIGTERM and returns the exit code and how long rotor took
// to exit. It fails the test after limit.
func (c *rotorChild) terminate(limit time.Duration) (int, time.Duration) {
	c.t.Helper()
	sent := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("send SIGTERM to rotor (%s): %v", c.name, err)
	}
	select {
	case <-c.done:
	case <-time.After(limit):
		c.t.Fatalf("rotor (%s) did not exit within %s of SIGTERM; stderr:\n%s", c.name, limit, redact(c.stderr.String()))
	}
	return c.cmd.ProcessState.ExitCode(), time.Since(sent)
}

// waitExit waits for a child that exits by itself, such as rotor migrate,
// and returns its exit code.
func (c *rotorChild) waitExit() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.t.Fatalf("rotor (%s) did not exit within a minute", c.name)
	}
	return c.cmd.ProcessState.ExitCode()
}

// redact replaces every secret the crash tests use, in each encoding it
// could leak in, so that a failure message never prints one.
func redact(s string) string {
	for _, v := range crashSecrets.all() {
		for _, form := range leakForms("client-a", v) {
			s = strings.ReplaceAll(s, form, "[secret]")
		}
	}
	return s
}

// crashSecrets are the new secrets the simulated Persium issued in these
// tests, for redact.
var crashSecrets secretList

type secretList struct {
	mu     sync.Mutex
	values []secret.Value
}

func (l *secretList) add(v secret.Value) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.values = append(l.values, v)
}

func (l *secretList) all() []secret.Value {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]secret.Value{canary}, l.values...)
}

// apiResult is one response of rotor's JSON API.
type apiResult struct {
	status int
	body   map[string]any
	raw    string
	err    error
}

// crashView reads a backend fake's own state, beside the consumer's view
// that the end-to-end tests use.
type crashView interface {
	consumerView

	// copies lists the stored versions whose secret is value, deleted,
	// disabled and deprecated ones included, but not destroyed ones.
	copies(t *testing.T, value string) []storedCopy

	// copyLimits returns how many copies of the new secret the backend
	// may hold after promotes promote steps for one rotation.
	copyLimits(promotes int) copyLimits
}

// storedCopy is one stored version that holds a given secret.
type storedCopy struct {
	version  string
	staged   bool // in the backend's staged position: pending label, pending alias, staging path
	readable bool // a consumer or rotor can read it: not deleted, disabled or without labels
}

// copyLimits bound the copies of one rotation's new secret in a backend.
type copyLimits struct {
	staged   int // in the staged position
	unstaged int
	total    int
}

func (v vaultView) copies(t *testing.T, value string) []storedCopy {
	t.Helper()
	var out []storedCopy
	for _, p := range []struct {
		path   string
		prefix string
	}{{"persium/cred-a", ""}, {"persium/cred-a" + vault.DefaultStagingSuffix, "staged:"}} {
		sec, ok := v.fake.Secret("secret", p.path)
		if !ok {
			continue
		}
		for n, ver := range sec.Versions {
			if ver.Data == nil || decodeDoc(t, ver.Data)["client_secret"] != value {
				continue
			}
			out = append(out, storedCopy{version: fmt.Sprintf("%s%d", p.prefix, n), staged: p.prefix != "",
				readable: !ver.Destroyed && ver.Deleted.IsZero()})
		}
	}
	return out
}

// copyLimits: the staging path holds the new secret until promotion, and
// each promotion writes it as one new version of the main path.
func (vaultView) copyLimits(promotes int) copyLimits {
	return copyLimits{staged: 1, unstaged: promotes, total: promotes + 1}
}

func (v awsView) copies(t *testing.T, value string) []storedCopy {
	t.Helper()
	versions, err := v.fake.Versions(v.name)
	if err != nil {
		t.Fatalf("list versions: %v", err)
	}
	var out []storedCopy
	for _, ver := range versions {
		if doc := decodeDoc(t, []byte(ver.SecretString)); doc["client_secret"] != value {
			continue
		}
		out = append(out, storedCopy{version: ver.ID, staged: slices.Contains(ver.Stages, awsstore.DefaultPendingLabel), readable: !ver.Deprecated()})
	}
	return out
}

// copyLimits: one version per rotation, whose id is the rotation id; every
// step moves labels only.
func (awsView) copyLimits(int) copyLimits { return copyLimits{staged: 1, unstaged: 1, total: 1} }

func (v gcpView) copies(t *testing.T, value string) []storedCopy {
	t.Helper()
	sec, _ := v.fake.Secret(v.name)
	var out []storedCopy
	for n, ver := range sec.Versions {
		if ver.Data == nil || decodeDoc(t, ver.Data)["client_secret"] != value {
			continue
		}
		out = append(out, storedCopy{version: fmt.Sprint(n), staged: sec.Aliases[gcp.AliasPending] == n,
			readable: ver.State == secretmanagerpb.SecretVersion_ENABLED})
	}
	return out
}

// copyLimits: stage adds one version; every other step moves aliases or
// changes the state of a version.
func (gcpView) copyLimits(int) copyLimits { return copyLimits{staged: 1, unstaged: 1, total: 1} }

// crashBackend is a backend the crash tests run against.
type crashBackend struct {
	name  string
	setup func(t *testing.T, current map[string]any) (backendYAML, storeYAML string, env map[string]string, view consumerView)
}

var crashBackends = []crashBackend{
	{name: "vault", setup: setupVault},
	{name: "aws", setup: setupAWS},
	{name: "gcp", setup: setupGCP},
}

// crashStep is one secrets-manager step and the rotation around it.
type crashStep struct {
	step     rotation.Step
	from, to rotation.State
	before   []string // the actions that lead up to the step
	action   string   // the action that runs the step
	after    []string // the actions that end the rotation once the step is done
	// recorded is the audit log once the step is done.
	recorded []rotation.Action
}

var crashSteps = []crashStep{
	{step: rotation.StepStage, from: rotation.StateRequested, to: rotation.StateNewIssued,
		action: "issue", after: []string{"promote", "retire"},
		recorded: []rotation.Action{rotation.ActionRequest, rotation.ActionIssue}},
	{step: rotation.StepPromote, from: rotation.StateNewIssued, to: rotation.StateDualActive,
		before: []string{"issue"}, action: "promote", after: []string{"retire"},
		recorded: []rotation.Action{rotation.ActionRequest, rotation.ActionIssue, rotation.ActionPromote}},
	{step: rotation.StepRollback, from: rotation.StateDualActive, to: rotation.StateNewIssued,
		before: []string{"issue", "promote"}, action: "rollback", after: []string{"promote", "retire"},
		recorded: []rotation.Action{rotation.ActionRequest, rotation.ActionIssue, rotation.ActionPromote, rotation.ActionRollback}},
	{step: rotation.StepRetire, from: rotation.StateDualActive, to: rotation.StateOldRetired,
		before: []string{"issue", "promote"}, action: "retire",
		recorded: []rotation.Action{rotation.ActionRequest, rotation.ActionIssue, rotation.ActionPromote, rotation.ActionRetire}},
	{step: rotation.StepDiscard, from: rotation.StateNewIssued, to: rotation.StateCancelled,
		before: []string{"issue"}, action: "cancel",
		recorded: []rotation.Action{rotation.ActionRequest, rotation.ActionIssue, rotation.ActionCancel}},
}

// Where a case kills rotor. pointRecover kills it after the intent, then
// again in the restart's Recover, after the repeated backend call and
// before its record.
const (
	pointAfterIntent  = "after-intent"
	pointAfterBackend = "after-backend"
	pointRecover      = "recover"
)

var crashPoints = []string{pointAfterIntent, pointAfterBackend, pointRecover}

// Kill `rotor serve` at every boundary of every secrets-manager step, and
// between the step's writes, on every backend. The restart must finish the
// step or report what an operator must do. The backend must never hold a
// second staged copy of the new secret, and the old and new secrets stay
// readable until retirement. The audit log has one event per change, and
// no secret leaks.
func TestCrashAtStepBoundaries(t *testing.T) {
	t.Parallel()
	crashBinary(t)

	sem := make(chan struct{}, crashParallel)
	var wg sync.WaitGroup
	// The chains of kills between writes start first, because they run
	// longest.
	for _, bc := range crashBackends {
		for _, cs := range crashSteps {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				for k := 1; ; k++ {
					more := false
					t.Run(fmt.Sprintf("%s/%s/before-write-%d", bc.name, cs.step, k), func(t *testing.T) {
						more = runMidStepCase(t, bc, cs, k)
					})
					if !more {
						break
					}
				}
			})
		}
	}
	for _, bc := range crashBackends {
		for _, cs := range crashSteps {
			for _, point := range crashPoints {
				// The subtests run in goroutines of this test, not with
				// t.Parallel, so that more of them run at once than the
				// machine has cores: each mostly waits for its child.
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					t.Run(bc.name+"/"+string(cs.step)+"/"+point, func(t *testing.T) {
						runCrashCase(t, bc, cs, point)
					})
				})
			}
		}
	}
	wg.Wait()
}

// crashHarness is one rotation's world: Postgres schema, token endpoint,
// backend fake, configuration, and the rotor children run on them.
type crashHarness struct {
	t         *testing.T
	bin       string
	config    string // the configuration file's path
	schema    string
	env       []string
	sim       *persiumsim.Server
	view      crashView
	store     rotation.SecretStore // the credential's store, opened as rotor opens it
	newSecret secret.Value
	client    *http.Client

	mu       sync.Mutex
	children []*rotorChild
	bodies   []string
}

func newCrashHarness(t *testing.T, bc crashBackend) *crashHarness {
	t.Helper()
	h := &crashHarness{t: t, bin: crashBinary(t), client: &http.Client{Timeout: time.Minute}}
	dir := t.TempDir()
	dbURL, schema := pgtest.SchemaURL(t)
	h.schema = schema

	sim, ts, caFile := tokenEndpoint(t, dir)
	sim.AddClient("client-a", canary)
	h.sim = sim
	original := map[string]any{"client_id": "client-a", "client_secret": canary.Reveal(), "token_url": ts.URL + sim.TokenPath()}
	backendYAML, storeYAML, backendEnv, view := bc.setup(t, original)
	h.view = view.(crashView)
	configPath := serveConfig{tokenEndpoint: ts.URL, caFile: caFile, backendYAML: backendYAML, storeYAML: storeYAML,
		credential: "    min_dual_active: 0s\n"}.write(t, dir)
	h.config = configPath

	// The child gets only what it needs. HOME points at the test's
	// directory, so no shared AWS configuration of this machine is read.
	vars := map[string]string{"DATABASE_URL": dbURL, "PATH": os.Getenv("PATH"), "HOME": dir, "AWS_EC2_METADATA_DISABLED": "true"}
	for k, v := range backendEnv {
		vars[k] = v
	}
	for k, v := range vars {
		h.env = append(h.env, k+"="+v)
	}

	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatalf("load the configuration: %v", err)
	}
	stores := newBackends(cfg, func(k string) string { return vars[k] }, slog.New(slog.DiscardHandler))
	t.Cleanup(stores.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opened, err := stores.openAll(ctx)
	if err != nil {
		t.Fatalf("open the credential's store in the test: %v", err)
	}
	h.store = opened["cred-a"]

	h.newSecret, err = sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	crashSecrets.add(h.newSecret)

	migrate := h.start("migrate", "", "migrate")
	if code := migrate.waitExit(); code != 0 {
		t.Fatalf("rotor migrate exited with %d; stderr:\n%s", code, redact(migrate.stderr.String()))
	}
	return h
}

// start runs the binary with args, stopping at point when it is not empty.
func (h *crashHarness) start(name, point string, args ...string) *rotorChild {
	h.t.Helper()
	env := slices.Clone(h.env)
	if point != "" {
		env = append(env, crashpoint.EnvVar+"="+point)
	}
	c := startChild(h.t, h.bin, name, env, args)
	h.mu.Lock()
	h.children = append(h.children, c)
	h.mu.Unlock()
	return c
}

// serve starts rotor serve, stopping at point when it is not empty. The
// drift watch runs rarely so that it adds no events of its own; the
// transitions check for drift themselves.
func (h *crashHarness) serve(name, point string) *rotorChild {
	h.t.Helper()
	return h.start(name, point, "serve", "-config", h.config, "-addr", "127.0.0.1:0", "-drift-interval", "1h")
}

// call sends one request to rotor's API and records the response body
// for the search for leaked secrets.
func (h *crashHarness) call(base, method, path, body string) apiResult {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return apiResult{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return apiResult{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(raw))
	h.mu.Unlock()
	res := apiResult{status: resp.StatusCode, raw: string(raw), err: err}
	_ = json.Unmarshal(raw, &res.body)
	return res
}

func (h *crashHarness) must(base string, status int, method, path, body string) map[string]any {
	h.t.Helper()
	res := h.call(base, method, path, body)
	if res.err != nil {
		h.t.Fatalf("%s %s: %v", method, path, res.err)
	}
	if res.status != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.status, status, redact(res.raw))
	}
	return res.body
}

// request opens the rotation and returns its id.
func (h *crashHarness) request(base string) string {
	h.t.Helper()
	return h.must(base, http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"crash test"}`)["id"].(string)
}

// send sends the request of an action on rotation id and returns the
// response without checking it.
func (h *crashHarness) send(base, id, action string) apiResult {
	h.t.Helper()
	path := "/api/v1/rotations/" + id + "/" + action
	switch action {
	case "issue":
		body, _ := json.Marshal(map[string]string{"secret": h.newSecret.Reveal()})
		return h.call(base, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))
	case "promote", "rollback":
		return h.call(base, http.MethodPost, path, "")
	case "retire":
		// Persium retires the old secret first, as the operator confirms.
		if err := h.sim.RetireOld("client-a"); err != nil && !errors.Is(err, persiumsim.ErrNoRotatedSecret) {
			h.t.Fatalf("RetireOld: %v", err)
		}
		return h.call(base, http.MethodPost, path, `{"persium_confirmed":true}`)
	case "cancel":
		return h.call(base, http.MethodPost, path, `{"reason":"crash test cancels"}`)
	}
	h.t.Fatalf("unknown action %q", action)
	return apiResult{}
}

// act runs an action and requires it to succeed.
func (h *crashHarness) act(base, id, action string) map[string]any {
	h.t.Helper()
	res := h.send(base, id, action)
	if res.err != nil {
		h.t.Fatalf("%s: %v", action, res.err)
	}
	if res.status != http.StatusOK {
		h.t.Fatalf("%s: status %d, want 200: %s", action, res.status, redact(res.raw))
	}
	return res.body
}

// row reads the rotation's state and step from Postgres.
func (h *crashHarness) row(id string) (state, step string, events []string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		h.t.Fatalf("connect to Postgres: %v", err)
	}
	defer conn.Close(ctx)
	q := fmt.Sprintf(`SELECT state::text, coalesce(step::text, '') FROM %s WHERE id = $1`, pgx.Identifier{h.schema, "rotations"}.Sanitize())
	if err := conn.QueryRow(ctx, q, id).Scan(&state, &step); err != nil {
		h.t.Fatalf("read rotation %s: %v", id, err)
	}
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT action FROM %s WHERE rotation_id = $1 ORDER BY id`, pgx.Identifier{h.schema, "events"}.Sanitize()), id)
	if err != nil {
		h.t.Fatalf("read events of rotation %s: %v", id, err)
	}
	events, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		h.t.Fatalf("read events of rotation %s: %v", id, err)
	}
	return state, step, events
}

// checkBackend checks the backend fake once its writes have brought the
// rotation to state, after at most promotes promote steps. Consumers read
// the secret that state calls for, the old secret is readable until
// retirement, the new one once staged, and the new one's copies are within
// the backend's limits.
func (h *crashHarness) checkBackend(when string, state rotation.State, promotes int) {
	t := h.t
	t.Helper()
	old, updated := canary.Reveal(), h.newSecret.Reveal()

	wantCurrent, currentName := old, "old"
	if state == rotation.StateDualActive || state == rotation.StateOldRetired {
		wantCurrent, currentName = updated, "new"
	}
	if got := h.view.current(t)["client_secret"]; got != wantCurrent {
		t.Errorf("%s: consumers do not read the %s secret (backend at %s)", when, currentName, state)
	}

	readable := func(copies []storedCopy) bool {
		return slices.ContainsFunc(copies, func(c storedCopy) bool { return c.readable })
	}
	oldCopies := h.view.copies(t, old)
	if wantOld := state != rotation.StateOldRetired; readable(oldCopies) != wantOld {
		t.Errorf("%s: old secret readable = %v, want %v (backend at %s)", when, !wantOld, wantOld, state)
	}
	newCopies := h.view.copies(t, updated)
	wantNew := state == rotation.StateNewIssued || state == rotation.StateDualActive || state == rotation.StateOldRetired
	if readable(newCopies) != wantNew {
		t.Errorf("%s: new secret readable = %v, want %v (backend at %s)", when, !wantNew, wantNew, state)
	}

	h.checkCopyLimits(when, newCopies, promotes)
}

// checkCopyLimits checks the copies of the new secret against the
// backend's limits after promotes promote steps.
func (h *crashHarness) checkCopyLimits(when string, newCopies []storedCopy, promotes int) {
	h.t.Helper()
	limits := h.view.copyLimits(promotes)
	staged, unstaged := 0, 0
	for _, c := range newCopies {
		if c.staged {
			staged++
		} else {
			unstaged++
		}
	}
	if staged > limits.staged || unstaged > limits.unstaged || staged+unstaged > limits.total {
		h.t.Errorf("%s: the backend holds %d staged and %d other copies of the new secret %v; at most %d staged, %d other and %d in all after %d promotions",
			when, staged, unstaged, versionsOf(newCopies), limits.staged, limits.unstaged, limits.total, promotes)
	}
}

func versionsOf(copies []storedCopy) []string {
	out := make([]string, len(copies))
	for i, c := range copies {
		out[i] = c.version
		if !c.readable {
			out[i] += " (not readable)"
		}
	}
	return out
}

// checkRecorded reads the versions the rotation recorded with the store's
// Read and checks that each holds the secret it should in the rotation's
// state.
func (h *crashHarness) checkRecorded(when string, r map[string]any) {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	versions, _ := r["versions"].(map[string]any)
	version := func(name string) secretstore.Version {
		v, _ := versions[name].(string)
		if v == "" {
			t.Errorf("%s: rotation in %v recorded no %s version", when, r["state"], name)
		}
		return secretstore.Version(v)
	}
	holds := func(name string, v secretstore.Version, want secret.Value, wantName string) {
		got, err := h.store.Read(ctx, v)
		if err != nil {
			t.Errorf("%s: Read of the %s version %s: %v", when, name, v, err)
		} else if !got.Equal(want) {
			t.Errorf("%s: the %s version %s does not hold the %s secret", when, name, v, wantName)
		}
	}
	gone := func(name string, v secretstore.Version) {
		if _, err := h.store.Read(ctx, v); !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("%s: Read of the %s version %s = %v, want ErrNotFound", when, name, v, err)
		}
	}

	current := canary
	switch rotation.State(r["state"].(string)) {
	case rotation.StateRequested:
		if len(versions) != 0 {
			t.Errorf("%s: a requested rotation recorded versions %v", when, versions)
		}
	case rotation.StateNewIssued:
		holds("old", version("old"), canary, "old")
		holds("staged", version("staged"), h.newSecret, "new")
	case rotation.StateDualActive:
		holds("old", version("old"), canary, "old")
		holds("new", version("new"), h.newSecret, "new")
		current = h.newSecret
	case rotation.StateOldRetired:
		holds("new", version("new"), h.newSecret, "new")
		gone("old", version("old"))
		current = h.newSecret
	case rotation.StateCancelled:
		holds("old", version("old"), canary, "old")
		gone("staged", version("staged"))
	}
	got, _, err := h.store.Current(ctx)
	if err != nil {
		t.Errorf("%s: Current: %v", when, err)
	} else if !got.Equal(current) {
		t.Errorf("%s: Current does not return the secret rotation state %v calls for", when, r["state"])
	}
}

// events returns the rotation's audit events from the API.
func (h *crashHarness) events(base, id string) []map[string]any {
	h.t.Helper()
	list, _ := h.must(base, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+id+"/events", "")["events"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)
	}
	return out
}

// checkEvents checks that the audit log holds exactly want, and that each
// event starts in the state where the one before ended: a duplicate or a
// missing change shows as a gap.
func (h *crashHarness) checkEvents(when string, events []map[string]any, want []rotation.Action) {
	t := h.t
	t.Helper()
	got := make([]string, len(events))
	for i, e := range events {
		got[i], _ = e["action"].(string)
	}
	wantNames := make([]string, len(want))
	for i, a := range want {
		wantNames[i] = string(a)
	}
	if !slices.Equal(got, wantNames) {
		t.Errorf("%s: audit events %s, want %s", when, strings.Join(got, ","), strings.Join(wantNames, ","))
	}
	for i := 1; i < len(events); i++ {
		if events[i]["from"] != events[i-1]["to"] {
			t.Errorf("%s: event %d (%v) starts in %v, but event %d ended in %v", when, i, events[i]["action"], events[i]["from"], i-1, events[i-1]["to"])
		}
	}
}

// checkNoLeak searches everything rotor wrote for the secrets: the
// children's output, the API's responses, and every row of the schema.
func (h *crashHarness) checkNoLeak(id string) {
	t := h.t
	t.Helper()
	dump := dumpSchema(t, h.schema)
	if !strings.Contains(dump, id) {
		t.Fatalf("the database dump does not contain rotation %s; the search for leaked secrets would miss a leak", id)
	}
	h.mu.Lock()
	var b strings.Builder
	for _, c := range h.children {
		b.WriteString(c.stdout.String() + "\n" + c.stderr.String() + "\n")
	}
	b.WriteString(strings.Join(h.bodies, "\n") + "\n" + dump)
	h.mu.Unlock()
	written := b.String()
	testcanary.Check(t, "rotor's output, API responses or database", written)
	for name, s := range map[string]secret.Value{"old": canary, "new": h.newSecret} {
		for form, leaked := range leakForms("client-a", s) {
			if strings.Contains(written, leaked) {
				t.Errorf("the %s secret (%s form) appears in rotor's output, API responses or database", name, form)
			}
		}
	}
}

// holdWrite makes the backend fake hold the k-th write to the secret
// (counting from 1) back for delay before it takes effect, and returns a
// channel that receives when that write arrives. A write whose client goes
// away earlier never takes effect, so killing rotor while the write is held
// stops it after its first k-1 writes.
func holdWrite(t *testing.T, view crashView, k int, delay time.Duration) <-chan struct{} {
	t.Helper()
	arrived := make(chan struct{}, 1)
	signal := func() { arrived <- struct{}{} }
	switch v := view.(type) {
	case vaultView:
		// The path keeps token renewals, which are writes too, out.
		if k > 1 {
			v.fake.Inject(vaultfake.Fault{Count: k - 1, Method: "write", Path: "secret/"})
		}
		v.fake.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: "secret/", Delay: delay, Before: signal})
	case gcpView:
		if k > 1 {
			v.fake.Inject(gcpfake.Fault{Count: k - 1, Methods: gcpfake.WriteMethods})
		}
		v.fake.Inject(gcpfake.Fault{Count: 1, Methods: gcpfake.WriteMethods, Delay: delay, Before: signal})
	case awsView:
		v.fake.Inject(awsfake.Fault{Op: awsfake.WriteOps, Skip: k - 1, Count: 1, Delay: delay, Before: signal})
	default:
		t.Fatalf("the %T fake cannot hold a write back", view)
	}
	return arrived
}

// stageOutcome is what a restart may make of a stage that rotor was killed
// in.
type stageOutcome int

const (
	stageKept   stageOutcome = iota // the backend holds the staged secret: new_issued
	stageLost                       // nothing staged: requested, and the operator submits the secret again
	stageEither                     // killed between the stage's writes: either
)

// crashRun is one rotation taken to a secrets-manager step, where rotor is
// killed.
type crashRun struct {
	*crashHarness
	cs       crashStep
	id       string
	base     string // the URL of the rotor that runs the rotation
	promotes int    // promote steps started, the one killed included
}

// runUpTo requests a rotation from child and runs the actions before cs.
func (h *crashHarness) runUpTo(child *rotorChild, cs crashStep) *crashRun {
	h.t.Helper()
	run := &crashRun{crashHarness: h, cs: cs, base: child.waitServing()}
	run.id = h.request(run.base)
	for _, action := range cs.before {
		h.act(run.base, run.id, action)
		if action == "promote" {
			run.promotes++
		}
	}
	if cs.action == "promote" {
		run.promotes++
	}
	return run
}

// trigger sends the step's request and returns a channel for its response.
func (run *crashRun) trigger() <-chan apiResult {
	answered := make(chan apiResult, 1)
	go func() { answered <- run.send(run.base, run.id, run.cs.action) }()
	return answered
}

// checkKilled checks the rotation after a kill during the step: the step
// is recorded as intended, the state has not moved, and no event was
// added.
func (run *crashRun) checkKilled(when string) {
	t := run.t
	t.Helper()
	state, step, events := run.row(run.id)
	if state != string(run.cs.from) || step != string(run.cs.step) {
		t.Errorf("%s: rotation is %s with step %q, want %s with step %q", when, state, step, run.cs.from, run.cs.step)
	}
	if want := len(run.cs.before) + 1; len(events) != want {
		t.Errorf("%s: %d audit events %v, want %d", when, len(events), events, want)
	}
}

// checkBackendMidStep checks the backend after a kill between two writes
// of the step, when only some of them took effect. Consumers read a secret
// that works: the old one until promotion is under way, the new one once
// retirement is. Neither secret is lost before retirement, and the new one
// has no extra copies.
func (run *crashRun) checkBackendMidStep(when string) {
	t := run.t
	t.Helper()
	old, updated := canary.Reveal(), run.newSecret.Reveal()
	allowed := map[string]bool{}
	switch run.cs.step {
	case rotation.StepStage, rotation.StepDiscard:
		allowed[old] = true
	case rotation.StepPromote, rotation.StepRollback:
		allowed[old], allowed[updated] = true, true
	case rotation.StepRetire:
		allowed[updated] = true
	}
	if !allowed[fmt.Sprint(run.view.current(t)["client_secret"])] {
		t.Errorf("%s: consumers read a secret that %s must not leave current", when, run.cs.step)
	}
	readable := func(copies []storedCopy) bool {
		return slices.ContainsFunc(copies, func(c storedCopy) bool { return c.readable })
	}
	if run.cs.step != rotation.StepRetire && !readable(run.view.copies(t, old)) {
		t.Errorf("%s: the old secret is no longer readable", when)
	}
	newCopies := run.view.copies(t, updated)
	switch run.cs.step {
	case rotation.StepPromote, rotation.StepRollback, rotation.StepRetire:
		if !readable(newCopies) {
			t.Errorf("%s: the new secret is no longer readable", when)
		}
	}
	run.checkCopyLimits(when, newCopies, run.promotes)
}

// checkUnfinishedStage checks the backend after Recover reported a stage
// as lost that was killed between its writes. On GCP the new secret may
// then be in a version that the pending alias does not name yet: Staged
// cannot tell that version from one another tool added, so it reports
// nothing staged. Consumers must still read the old secret, nothing may be
// staged, and the copy limits must hold, which they do only if submitting
// the secret again reuses that version.
func (run *crashRun) checkUnfinishedStage(when string) {
	t := run.t
	t.Helper()
	if run.view.current(t)["client_secret"] != canary.Reveal() {
		t.Errorf("%s: consumers do not read the old secret", when)
	}
	newCopies := run.view.copies(t, run.newSecret.Reveal())
	if slices.ContainsFunc(newCopies, func(c storedCopy) bool { return c.staged }) {
		t.Errorf("%s: a version of the new secret is staged, but the rotation is requested", when)
	}
	run.checkCopyLimits(when, newCopies, run.promotes)
}

// recoverAndFinish restarts rotor after the kill, checks what Recover made
// of the step, and runs the rotation to its end.
func (run *crashRun) recoverAndFinish(stage stageOutcome) {
	t := run.t
	t.Helper()
	cs := run.cs
	restarted := run.serve("restarted serve", "")
	run.base = restarted.waitServing()
	r := run.must(run.base, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+run.id, "")

	recorded, wantState, after := cs.recorded, cs.to, cs.after
	lost := cs.step == rotation.StepStage && (stage == stageLost || stage == stageEither && r["state"] == string(rotation.StateRequested))
	if lost {
		// The new secret lived only in the memory of the killed process.
		wantState = rotation.StateRequested
		recorded = []rotation.Action{rotation.ActionRequest, rotation.ActionStepFailed}
		after = append([]string{"issue"}, cs.after...)
	}
	if r["state"] != string(wantState) || r["step"] != nil {
		t.Fatalf("after the restart the rotation is %v with step %v, want %s with no step", r["state"], r["step"], wantState)
	}
	events := run.events(run.base, run.id)
	run.checkEvents("after the restart", events, recorded)
	last := events[len(events)-1]
	if last["actor"] != events[0]["actor"] {
		t.Errorf("the restart recorded its event as %v, not as %v who started the step", last["actor"], events[0]["actor"])
	}
	detail, _ := last["detail"].(string)
	switch {
	case lost:
		if !strings.Contains(detail, "submit it again with the same new secret") || r["next_action"] != "record_issued" {
			t.Errorf("after the restart the operator is not asked to submit the secret again: event %q, next action %v", detail, r["next_action"])
		}
	case !strings.Contains(detail, "completed by rotor after a restart"):
		t.Errorf("the event that the restart recorded does not say so: %q", detail)
	}
	if lost && stage == stageEither {
		run.checkUnfinishedStage("after the restart")
	} else {
		run.checkBackend("after the restart", wantState, run.promotes)
	}
	run.checkRecorded("after the restart", r)

	for _, action := range after {
		if action == "promote" {
			run.promotes++
		}
		r = run.act(run.base, run.id, action)
		recorded = append(recorded, rotation.Action(action))
		run.checkBackend("after "+action, rotation.State(r["state"].(string)), run.promotes)
	}
	wantEnd := rotation.StateOldRetired
	if cs.step == rotation.StepDiscard {
		wantEnd = rotation.StateCancelled
	}
	if r["state"] != string(wantEnd) {
		t.Errorf("the rotation ended %v, want %s", r["state"], wantEnd)
	}
	run.checkEvents("at the end", run.events(run.base, run.id), recorded)
	run.checkRecorded("at the end", r)

	if code, took := restarted.terminate(35 * time.Second); code != 0 {
		t.Errorf("rotor exited with %d %s after SIGTERM; stderr:\n%s", code, took, redact(restarted.stderr.String()))
	}
	run.checkNoLeak(run.id)
}

// runCrashCase kills rotor at a crash point of cs, or with pointRecover
// twice, and checks the restart.
func runCrashCase(t *testing.T, bc crashBackend, cs crashStep, point string) {
	h := newCrashHarness(t, bc)
	step := string(cs.step)
	killAt := step + "/" + point
	if point == pointRecover {
		killAt = step + "/" + pointAfterIntent
	}

	first := h.serve("first serve", killAt)
	run := h.runUpTo(first, cs)
	first.waitCrashpoint(killAt, run.trigger())
	first.kill()

	backendAt := cs.from
	if point == pointAfterBackend {
		backendAt = cs.to
	}
	run.checkKilled("after the kill at " + killAt)
	run.checkBackend("after the kill at "+killAt, backendAt, run.promotes)

	if point == pointRecover {
		// The restart repeats the step in Recover and is killed again
		// before it records the result.
		recoverAt := "recover/" + step + "/" + pointAfterBackend
		second := h.serve("second serve", recoverAt)
		second.waitCrashpoint(recoverAt, nil)
		second.kill()
		if cs.step != rotation.StepStage {
			backendAt = cs.to
		}
		run.checkKilled("after the kill at " + recoverAt)
		run.checkBackend("after the kill at "+recoverAt, backendAt, run.promotes)
	}

	outcome := stageLost
	if point == pointAfterBackend {
		outcome = stageKept
	}
	run.recoverAndFinish(outcome)
}

// runMidStepCase kills rotor while the k-th write of cs to the backend is
// held back, so that only the writes before it took effect. It returns
// false, without killing, when the step makes fewer than k writes.
func runMidStepCase(t *testing.T, bc crashBackend, cs crashStep, k int) bool {
	h := newCrashHarness(t, bc)
	first := h.serve("first serve", "")
	run := h.runUpTo(first, cs)

	arrived := holdWrite(t, h.view, k, time.Minute)
	answered := run.trigger()
	select {
	case <-arrived:
	case res := <-answered:
		if res.err != nil || res.status != http.StatusOK {
			t.Fatalf("%s with its first %d writes let through: status %d, error %v: %s", cs.action, k-1, res.status, res.err, redact(res.raw))
		}
		if k == 1 {
			t.Errorf("%s made no write to the backend", cs.step)
		}
		t.Logf("%s makes %d writes to the %s backend", cs.step, k-1, bc.name)
		return false
	case <-time.After(time.Minute):
		t.Fatalf("the %s step made neither its write %d nor a response within a minute", cs.step, k)
	}
	first.kill()

	when := fmt.Sprintf("after the kill before write %d", k)
	run.checkKilled(when)
	run.checkBackendMidStep(when)
	outcome := stageKept
	if k == 1 {
		outcome = stageLost
	} else if cs.step == rotation.StepStage {
		outcome = stageEither
	}
	run.recoverAndFinish(outcome)
	return true
}

// outsideValue is the secret another tool writes during the outage in
// TestCrashRecoveryConflict.
const outsideValue = "outside-change-4d1c"

// changeOutside makes another tool write outsideValue as the secret
// consumers read, as an operator fixing an outage by hand might.
func changeOutside(t *testing.T, view crashView) {
	t.Helper()
	doc := map[string]any{"client_id": "client-a", "client_secret": outsideValue}
	raw, _ := json.Marshal(doc)
	var err error
	switch v := view.(type) {
	case vaultView:
		_, err = v.fake.Put("secret", "persium/cred-a", doc)
	case awsView:
		_, err = v.fake.Put(v.name, string(raw))
	case gcpView:
		var n int64
		if n, err = v.fake.AddVersion(v.name, raw); err == nil {
			err = v.fake.SetAlias(v.name, gcp.AliasCurrent, n)
		}
	default:
		t.Fatalf("the %T fake cannot be changed outside rotor", view)
	}
	if err != nil {
		t.Fatalf("change the secret outside rotor: %v", err)
	}
}

// A step that Recover cannot repeat, because the secret changed while
// rotor was down, is closed with a step_failed event that names the cause. The
// rotation does not keep a step that blocks every action, so the operator
// can cancel it.
func TestCrashRecoveryConflict(t *testing.T) {
	t.Parallel()
	crashBinary(t)
	cs := crashSteps[1] // promote
	for _, bc := range crashBackends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			h := newCrashHarness(t, bc)
			killAt := string(cs.step) + "/" + pointAfterIntent
			first := h.serve("first serve", killAt)
			run := h.runUpTo(first, cs)
			first.waitCrashpoint(killAt, run.trigger())
			first.kill()
			changeOutside(t, h.view)

			restarted := h.serve("restarted serve", "")
			base := restarted.waitServing()
			r := h.must(base, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+run.id, "")
			if r["state"] != string(cs.from) || r["step"] != nil {
				t.Errorf("after the restart the rotation is %v with step %v, want %s with no step", r["state"], r["step"], cs.from)
			}
			events := h.events(base, run.id)
			h.checkEvents("after the restart", events, []rotation.Action{rotation.ActionRequest, rotation.ActionIssue, rotation.ActionStepFailed})
			if detail, _ := events[len(events)-1]["detail"].(string); !strings.Contains(detail, "promote") || !strings.Contains(detail, "restart") {
				t.Errorf("the step_failed event does not say that the promote failed after a restart: %q", detail)
			}

			r = h.act(base, run.id, "cancel")
			if r["state"] != string(rotation.StateCancelled) {
				t.Errorf("after cancel the rotation is %v, want cancelled", r["state"])
			}
			if copies := h.view.copies(t, h.newSecret.Reveal()); slices.ContainsFunc(copies, func(c storedCopy) bool { return c.readable }) {
				t.Errorf("the new secret is still readable after cancel: %v", versionsOf(copies))
			}
			if got := h.view.current(t)["client_secret"]; got != outsideValue {
				t.Errorf("consumers no longer read the secret the other tool wrote")
			}
			if code, took := restarted.terminate(35 * time.Second); code != 0 {
				t.Errorf("rotor exited with %d %s after SIGTERM; stderr:\n%s", code, took, redact(restarted.stderr.String()))
			}
			h.checkNoLeak(run.id)
		})
	}
}
