package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

// tcpProxy forwards TCP connections from a loopback port to a target. A
// test cuts and restores it to take a dependency away at the wire level
// (a Postgres restart, a token endpoint that is down) without touching
// the shared server behind it.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
}

// startProxy listens on 127.0.0.1 and forwards to target until the test ends.
func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &tcpProxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(client)
		}
	}()
}

func (p *tcpProxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	client.Close()
	server.Close()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// cut closes the listener and every open connection, so new connections
// are refused, as while a server restarts.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the same address.
func (p *tcpProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("proxy listen again on %s: %v", p.addr, err)
		return
	}
	p.serve(ln)
}

// outageRig is `rotor serve` with its Postgres and its token endpoint
// behind proxies, one backend fake, and a direct pool on the same schema
// to look at the rows while rotor cannot.
type outageRig struct {
	rotor   *rotorProcess
	db      *tcpProxy
	persium *tcpProxy
	sim     *persiumsim.Server
	pool    *pgxpool.Pool
}

// startOutageRig starts rotor serve on the backend that setup returns,
// with more flags from args.
func startOutageRig(t *testing.T, setup func(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView), args ...string) *outageRig {
	t.Helper()
	dir := t.TempDir()
	dbURL, schema := pgtest.SchemaURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse the test database URL: %v", err)
	}
	rig := &outageRig{db: startProxy(t, u.Host)}
	u.Host = rig.db.addr

	sim, ts, caFile := tokenEndpoint(t, dir)
	sim.AddClient("client-a", canary)
	rig.sim = sim
	rig.persium = startProxy(t, strings.TrimPrefix(ts.URL, "https://"))

	backendYAML, storeYAML, env, _ := setup(t, map[string]any{"client_id": "client-a", "client_secret": canary.Reveal()})
	if env == nil {
		env = map[string]string{}
	}
	env["DATABASE_URL"] = u.String()

	// A one-second check time-out keeps the slow token endpoint case short.
	config := fmt.Sprintf("persium:\n  token_url: https://%[1]s/realms/persium/protocol/openid-connect/token\n  api_url: https://%[1]s/api\n  hosts: [127.0.0.1]\n  ca_file: %[2]s\n  timeout: 1s\n", rig.persium.addr, caFile) +
		"backends:\n" + backendYAML +
		"credentials:\n  - id: cred-a\n    organisation: Org A\n    organisation_id: 6b0f7a52-3c1e-4d8e-9f2a-7e5b1c3d9a40\n    client_id: client-a\n    min_dual_active: 0s\n" +
		"    store:\n      backend: test-backend\n" + storeYAML
	path := filepath.Join(dir, "rotor.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	rig.rotor = start(t, append([]string{"serve", "-config", path, "-addr", "127.0.0.1:0"}, args...), env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rotor's log:\n%s", rig.rotor.stderr.String())
		}
	})

	rig.pool, err = pgtest.Open(context.Background(), pgtest.URL(), schema)
	if err != nil {
		t.Fatalf("open a direct pool on schema %s: %v", schema, err)
	}
	t.Cleanup(rig.pool.Close)
	return rig
}

// toNewIssued requests a rotation and records a new secret for it.
func (rig *outageRig) toNewIssued(t *testing.T) string {
	t.Helper()
	id := rig.rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"outage test"}`)["id"].(string)
	s, err := rig.sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"secret": s.Reveal()})
	rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))
	return id
}

// row returns the rotation's state and step, and its events' actions, as
// the database holds them.
func (rig *outageRig) row(t *testing.T, id string) (state, step string, actions []string) {
	t.Helper()
	ctx := context.Background()
	var stepPtr *string
	if err := rig.pool.QueryRow(ctx, `SELECT state::text, step::text FROM rotations WHERE id = $1`, id).Scan(&state, &stepPtr); err != nil {
		t.Fatalf("read rotation %s: %v", id, err)
	}
	if stepPtr != nil {
		step = *stepPtr
	}
	rows, err := rig.pool.Query(ctx, `SELECT action FROM events WHERE rotation_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatalf("scan event: %v", err)
		}
		actions = append(actions, a)
	}
	return state, step, actions
}

// timedCall makes one call and fails the test when it takes longer than max.
func (rig *outageRig) timedCall(t *testing.T, max time.Duration, method, path, body string) (int, string, string) {
	t.Helper()
	started := time.Now()
	status, m := rig.rotor.call(method, path, body)
	took := time.Since(started)
	if took > max {
		t.Errorf("%s %s took %s, want at most %s", method, path, took.Round(time.Millisecond), max)
	}
	code, message := "", ""
	if e, ok := m["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
		message, _ = e["message"].(string)
	}
	t.Logf("%s %s: %d %s in %s: %s", method, path, status, code, took.Round(time.Millisecond), message)
	return status, code, message
}

// readyz returns /readyz's status and body.
func (rig *outageRig) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(rig.rotor.url + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReady polls /readyz until it returns 200, for at most 15 seconds.
func (rig *outageRig) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := rig.readyz(t)
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q 15s after the dependency came back", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantContains(t *testing.T, what, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%s %q lacks %q", what, text, p)
		}
	}
}

// Postgres goes away between two transitions and comes back. While it is
// away, /readyz returns 503 and names the database, and a transition fails
// at once with 503 and the advice to try again, changing nothing. Once the
// proxy passes traffic again, the same rotor process serves and the
// transition goes through, without a restart.
func TestServeDatabaseOutage(t *testing.T) {
	t.Parallel()
	rig := startOutageRig(t, setupVault)
	id := rig.toNewIssued(t)

	rig.db.cut()
	status, body := rig.readyz(t)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "database") {
		t.Errorf("/readyz with the database down: %d %q, want 503 naming the database", status, body)
	}
	status, code, message := rig.timedCall(t, 10*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if status != http.StatusServiceUnavailable || code != "database_unavailable" {
		t.Errorf("promote with the database down: %d %s, want 503 database_unavailable", status, code)
	}
	wantContains(t, "message", message, "database", "Try again")
	status, code, _ = rig.timedCall(t, 10*time.Second, http.MethodGet, "/api/v1/rotations/"+id, "")
	if status != http.StatusServiceUnavailable || code != "database_unavailable" {
		t.Errorf("reading the rotation with the database down: %d %s, want 503 database_unavailable", status, code)
	}
	if state, step, _ := rig.row(t, id); state != "new_issued" || step != "" {
		t.Errorf("after the failed promote: %s with step %q, want new_issued and no step", state, step)
	}

	rig.db.restore()
	rig.waitReady(t)
	if r := rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", ""); r["state"] != "dual_active" {
		t.Errorf("promote after the database came back: %v", r["state"])
	}
	if _, _, actions := rig.row(t, id); strings.Join(actions, ",") != "request,issue,promote" {
		t.Errorf("events %v, want request,issue,promote", actions)
	}
}

// Postgres restarts in the middle of a promote: the database goes away
// just before Vault applies the write and is back two seconds later. rotor
// keeps trying to record the step for up to -step-timeout, so the promote
// completes without a restart and without a step left behind.
func TestServeDatabaseRestartMidTransition(t *testing.T) {
	t.Parallel()
	vault := vaultfake.New(t)
	rig := startOutageRig(t, vaultSetup(vault), "-step-timeout", "10s")
	id := rig.toNewIssued(t)

	restarted := make(chan struct{})
	vault.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: "secret/data/persium/cred-a", Before: func() {
		rig.db.cut()
		go func() {
			time.Sleep(2 * time.Second)
			rig.db.restore()
			close(restarted)
		}()
	}})
	status, code, _ := rig.timedCall(t, 10*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	<-restarted
	if status != http.StatusOK {
		t.Errorf("promote while Postgres restarts: %d %s, want 200 once it is back", status, code)
	}
	state, step, actions := rig.row(t, id)
	if state != "dual_active" || step != "" || strings.Join(actions, ",") != "request,issue,promote" {
		t.Errorf("after the restart: %s, step %q, events %v; want dual_active, no step, request,issue,promote", state, step, actions)
	}
}

// Postgres stays away for longer than -step-timeout in the middle of a
// promote. The operator learns that the write was made and that rotor
// finishes it, the step stays recorded as intended, and once Postgres is
// back rotor completes it without a restart.
func TestServeDatabaseOutageMidTransition(t *testing.T) {
	// The watch finishes a step older than three step timeouts (6 s here)
	// on its next round, without a restart.
	t.Parallel()
	vault := vaultfake.New(t)
	rig := startOutageRig(t, vaultSetup(vault), "-step-timeout", "2s", "-drift-interval", "500ms")
	id := rig.toNewIssued(t)

	vault.Inject(vaultfake.Fault{Count: 1, Method: "write", Path: "secret/data/persium/cred-a", Before: rig.db.cut})
	status, code, message := rig.timedCall(t, 10*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if status != http.StatusServiceUnavailable || code != "step_unrecorded" {
		t.Errorf("promote with the database gone: %d %s, want 503 step_unrecorded", status, code)
	}
	wantContains(t, "message", message, "made in the secrets manager")
	if state, step, _ := rig.row(t, id); state != "new_issued" || step != "promote" {
		t.Fatalf("after the unrecorded promote: %s with step %q, want new_issued with the promote step left for recovery", state, step)
	}

	rig.db.restore()
	rig.waitReady(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		state, step, _ := rig.row(t, id)
		if state == "dual_active" && step == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after the database came back the rotation is %s with step %q", state, step)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Vault hangs on every write. The promote gives up after -step-timeout
// with 503 and the advice to try again, records the failure, and succeeds
// once Vault responds again.
func TestServeVaultHang(t *testing.T) {
	t.Parallel()
	vault := vaultfake.New(t)
	rig := startOutageRig(t, vaultSetup(vault), "-step-timeout", "2s")
	id := rig.toNewIssued(t)

	vault.Inject(vaultfake.Fault{Count: 1000, Method: "write", Delay: 10 * time.Minute})
	status, code, message := rig.timedCall(t, 8*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	vault.ClearFaults()
	if status != http.StatusServiceUnavailable || code != "backend_unavailable" {
		t.Errorf("promote with Vault hanging: %d %s, want 503 backend_unavailable", status, code)
	}
	wantContains(t, "message", message, "timed out", "Try again")
	if state, step, actions := rig.row(t, id); state != "new_issued" || step != "" || actions[len(actions)-1] != "step_failed" {
		t.Errorf("after the timed-out promote: %s, step %q, events %v; want new_issued, no step, a step_failed event", state, step, actions)
	}
	if r := rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", ""); r["state"] != "dual_active" {
		t.Errorf("promote after Vault responded again: %v", r["state"])
	}
}

// vaultSetup returns setupVault's twin on a fake the test already holds,
// so it can inject faults.
func vaultSetup(vault *vaultfake.Server) func(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView) {
	return func(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView) {
		if _, err := vault.Put("secret", "persium/cred-a", current); err != nil {
			t.Fatalf("seed Vault: %v", err)
		}
		backend := fmt.Sprintf("  test-backend:\n    type: vault\n    vault:\n      address: %s\n      mount: secret\n", vault.URL())
		store := "      path: persium/cred-a\n      format: json\n      json_key: client_secret\n"
		return backend, store, map[string]string{"VAULT_TOKEN": vault.Token()}, vaultView{vault}
	}
}

// Vault fails every write with a 500. The promote fails within the Vault
// client's bounded retries with 503 and the advice to try again, the
// rotation stays new_issued with the failure in its audit log and no step
// left, and once Vault works again the promote succeeds.
func TestServeVaultFailure(t *testing.T) {
	t.Parallel()
	vault := vaultfake.New(t)
	rig := startOutageRig(t, vaultSetup(vault))
	id := rig.toNewIssued(t)

	vault.Inject(vaultfake.Fault{Count: 1000, Method: "write", Status: http.StatusInternalServerError})
	status, code, message := rig.timedCall(t, 20*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if status != http.StatusServiceUnavailable || code != "backend_unavailable" {
		t.Errorf("promote with Vault failing: %d %s, want 503 backend_unavailable", status, code)
	}
	wantContains(t, "message", message, "Vault", "500", "Try again when the secrets manager is reachable")
	if state, step, actions := rig.row(t, id); state != "new_issued" || step != "" || actions[len(actions)-1] != "step_failed" {
		t.Errorf("after the failed promote: %s, step %q, events %v; want new_issued, no step, a step_failed event", state, step, actions)
	}
	// rotor stays ready, because it still serves pages and reports, but
	// /readyz names the failing secrets manager.
	status, body := rig.readyz(t)
	if status != http.StatusOK {
		t.Errorf("/readyz with Vault failing: %d %q", status, body)
	}
	wantContains(t, "/readyz", body, "secrets manager", ": failing (last call promote: unavailable")

	vault.ClearFaults()
	if r := rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", ""); r["state"] != "dual_active" {
		t.Errorf("promote after Vault recovered: %v", r["state"])
	}
	if _, body := rig.readyz(t); !strings.Contains(body, ": ok (last call") || strings.Contains(body, "failing") {
		t.Errorf("/readyz after Vault recovered = %q, want the secrets manager ok", body)
	}
}

// Vault retires the old version, but every response to the retirement is
// lost. The retire fails, and a repeated retire cannot read the old secret
// any more to check it. rotor reports that and goes on with a reason,
// rather than leaving the rotation in dual_active for good.
//
// NOTE: the pause on the way blames the deleted old version on a change
// outside rotor, although rotor's own retire made it.
func TestServeVaultRetireResponseLost(t *testing.T) {
	t.Parallel()
	vault := vaultfake.New(t)
	rig := startOutageRig(t, vaultSetup(vault))
	id := rig.toNewIssued(t)
	rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if err := rig.sim.RetireOld("client-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}

	vault.Inject(vaultfake.Fault{Count: 1000, Method: "write", Status: http.StatusInternalServerError, Applied: true})
	status, code, _ := rig.timedCall(t, 20*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`)
	vault.ClearFaults()
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(code, "backend_") {
		t.Fatalf("retire with every response lost: %d %s, want 503 from the backend", status, code)
	}

	// Vault shows the old version deleted, which rotor takes for a change
	// made outside it, so it pauses the rotation. The operator, who saw the
	// retire fail, accepts the change.
	status, code, _ = rig.timedCall(t, 10*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`)
	if status != http.StatusConflict || code != "paused" {
		t.Errorf("retire again: %d %s, want 409 paused", status, code)
	}
	rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/resume", `{"reason":"the failed retire reached Vault"}`)

	status, code, message := rig.timedCall(t, 10*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`)
	if status != http.StatusBadGateway || code != "check_inconclusive" {
		t.Errorf("retire again: %d %s, want 502 check_inconclusive", status, code)
	}
	wantContains(t, "message", message, "can no longer be read", "give a reason")
	r := rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true,"reason":"the first retire reached Vault"}`)
	if r["state"] != "old_retired" {
		t.Errorf("retire with a reason: %v", r["state"])
	}
}

// Secrets Manager throttles every call that moves a label. The AWS SDK
// retries a bounded number of times, then the promote fails with 503 and
// the advice to try again, and succeeds once the throttling ends.
func TestServeAWSThrottling(t *testing.T) {
	t.Parallel()
	var fake *awsfake.Server
	rig := startOutageRig(t, func(t *testing.T, current map[string]any) (string, string, map[string]string, consumerView) {
		b, s, env, view := setupAWS(t, current)
		fake = view.(awsView).fake
		return b, s, env, view
	})
	id := rig.toNewIssued(t)

	fake.Throttle("UpdateSecretVersionStage", 1000)
	status, code, message := rig.timedCall(t, 20*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/promote", "")
	if status != http.StatusServiceUnavailable || code != "backend_unavailable" {
		t.Errorf("promote while throttled: %d %s, want 503 backend_unavailable", status, code)
	}
	wantContains(t, "message", message, "Try again")
	if state, step, _ := rig.row(t, id); state != "new_issued" || step != "" {
		t.Errorf("after the throttled promote: %s with step %q, want new_issued and no step", state, step)
	}

	fake.ClearFaults()
	if r := rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/promote", ""); r["state"] != "dual_active" {
		t.Errorf("promote after the throttling ended: %v", r["state"])
	}
}

// The token endpoint is down, slow, returns an HTML login page, or
// redirects. Each time, recording the new secret fails with 502 and a
// message that names what the endpoint did and what to do, nothing reaches
// Vault, and the rotation stays requested. Once the endpoint works again,
// the same rotor records the secret.
func TestServeTokenEndpointOutage(t *testing.T) {
	t.Parallel()
	vault := vaultfake.New(t)
	rig := startOutageRig(t, vaultSetup(vault))
	id := rig.rotor.must(http.StatusCreated, http.MethodPost, "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"outage test"}`)["id"].(string)
	newSecret, err := rig.sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"secret": newSecret.Reveal()})

	cases := []struct {
		name  string
		fault persiumsim.Fault
		down  bool
		want  []string // in the message
	}{
		{name: "down", down: true, want: []string{"no clear answer", "Try again"}},
		{name: "slow", fault: persiumsim.FaultDelay, want: []string{"no clear answer", "Try again"}},
		{name: "HTML", fault: persiumsim.FaultHTMLLogin, want: []string{"no clear answer", "HTML"}},
		{name: "redirect", fault: persiumsim.FaultRedirectHTTP, want: []string{"no clear answer", "redirect"}},
	}
	for _, c := range cases {
		if c.down {
			rig.persium.cut()
		} else {
			rig.sim.SetFault(c.fault)
		}
		status, code, message := rig.timedCall(t, 10*time.Second, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body))
		if c.down {
			rig.persium.restore()
		} else {
			rig.sim.SetFault(persiumsim.FaultNone)
		}
		if status != http.StatusBadGateway || code != "check_inconclusive" {
			t.Errorf("%s: %d %s, want 502 check_inconclusive", c.name, status, code)
		}
		wantContains(t, c.name+" message", message, c.want...)
		for _, form := range leakForms("client-a", newSecret) {
			if strings.Contains(message, form) {
				t.Errorf("%s: the message contains the secret", c.name)
			}
		}
		if state, step, _ := rig.row(t, id); state != "requested" || step != "" {
			t.Errorf("%s: the rotation is %s with step %q, want requested", c.name, state, step)
		}
		if sec, ok := vault.Secret("secret", "persium/cred-a-staged"); ok && len(sec.Versions) > 0 {
			t.Errorf("%s: something was staged in Vault without a clear check", c.name)
		}
	}

	if r := rig.rotor.must(http.StatusOK, http.MethodPost, "/api/v1/rotations/"+id+"/issued", string(body)); r["state"] != "new_issued" {
		t.Errorf("issued after the endpoint recovered: %v", r["state"])
	}
}
