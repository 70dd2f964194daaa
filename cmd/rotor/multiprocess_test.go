package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

// Size of the multi-process test: mpProcesses `rotor serve` instances on
// one schema and one Vault, mpClients HTTP clients making mpOps calls each
// on mpCredentials credentials.
const (
	mpProcesses   = 3
	mpClients     = 6
	mpOps         = 30
	mpCredentials = 3
)

// Several `rotor serve` instances on one Postgres schema and one Vault,
// started at the same moment (so their migrations race too) and driven by
// concurrent HTTP clients that pick an instance at random for each call.
// Each instance is rotor's run function on its own port in the test
// process, with its own database pool, Vault client and drift watch, as
// separate processes have. Building a binary would add several seconds
// and test nothing more.
//
// Afterwards the API and the database agree, and every invariant holds:
// at most one open rotation per credential, a contiguous state history in
// the audit log with one event per state change, every successful call
// reflected once, and no step left in progress.
func TestServeMultiProcessRace(t *testing.T) {
	t.Parallel()
	started := time.Now()
	dir := t.TempDir()
	dbURL, schema := pgtest.SchemaURL(t)
	sim, ts, caFile := tokenEndpoint(t, dir)
	vault := vaultfake.New(t)

	var creds []mpCredential
	for i := range mpCredentials {
		c := mpCredential{id: fmt.Sprintf("cred-%d", i), client: fmt.Sprintf("client-%d", i)}
		initial := secret.New("initial-" + c.id + "-" + uuid.NewString())
		sim.AddClient(c.client, initial)
		path := "persium/" + c.id
		if _, err := vault.Put("secret", path, map[string]any{"client_id": c.client, "client_secret": initial.Reveal()}); err != nil {
			t.Fatalf("seed Vault: %v", err)
		}
		// Room for every promote and roll back of a run, so that Vault's
		// pruning does not destroy an old version the test still needs.
		if err := vault.SetKeyMetadata("secret", path, 500, false); err != nil {
			t.Fatalf("set max_versions: %v", err)
		}
		creds = append(creds, c)
	}
	configPath := writeMultiConfig(t, dir, ts.URL, caFile, vault.URL(), creds)
	env := map[string]string{"DATABASE_URL": dbURL, "VAULT_TOKEN": vault.Token()}
	procs := startMany(t, mpProcesses, []string{"serve", "-config", configPath, "-addr", "127.0.0.1:0", "-drift-interval", "300ms"}, env)
	t.Logf("%d instances serving after %s", len(procs), time.Since(started).Round(time.Millisecond))

	var (
		mu    sync.Mutex
		calls []mpCall
		wg    sync.WaitGroup
	)
	issued := &mpIssued{secrets: map[string]secret.Value{}}
	for c := range mpClients {
		wg.Go(func() {
			d := mpDriver{procs: procs, sim: sim, vault: vault, issued: issued, rng: rand.New(rand.NewPCG(uint64(c), 42))}
			for i := range mpOps {
				call := d.step(fmt.Sprintf("c%d-%03d", c, i), creds[d.rng.IntN(len(creds))])
				mu.Lock()
				calls = append(calls, call)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d calls in %s", len(calls), time.Since(started).Round(time.Millisecond))

	for _, c := range calls {
		if !c.allowed() {
			t.Errorf("%s %s on instance %d: status %d %s: %s", c.tag, c.op, c.proc, c.status, c.code, c.message)
		}
		if c.status >= 400 && !strings.Contains(c.message, ".") {
			t.Errorf("%s %s: status %d without a message for the operator: %q", c.tag, c.op, c.status, c.message)
		}
	}

	ctx := context.Background()
	pool, err := pgtest.Open(ctx, pgtest.URL(), schema)
	if err != nil {
		t.Fatalf("open pool on schema %s: %v", schema, err)
	}
	t.Cleanup(pool.Close)
	checkMultiDatabase(t, pool, procs, calls)
	t.Logf("outcomes: %s", mpSummary(calls))
}

type mpCredential struct{ id, client string }

// writeMultiConfig writes a configuration with one Vault backend and the
// credentials in it, and returns its path.
func writeMultiConfig(t *testing.T, dir, tokenURL, caFile, vaultURL string, creds []mpCredential) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "persium:\n  token_url: %[1]s/realms/persium/protocol/openid-connect/token\n  api_url: %[1]s/api\n  hosts: [127.0.0.1]\n  ca_file: %[2]s\n", tokenURL, caFile)
	fmt.Fprintf(&b, "backends:\n  vault-main:\n    type: vault\n    vault:\n      address: %s\n      mount: secret\n", vaultURL)
	b.WriteString("credentials:\n")
	for _, c := range creds {
		fmt.Fprintf(&b, "  - id: %s\n    organisation: Org %s\n    organisation_id: %s\n    client_id: %s\n    min_dual_active: 0s\n",
			c.id, c.id, uuid.NewSHA1(uuid.NameSpaceOID, []byte(c.id)), c.client)
		fmt.Fprintf(&b, "    store:\n      backend: vault-main\n      path: persium/%s\n      format: json\n      json_key: client_secret\n", c.id)
	}
	path := filepath.Join(dir, "rotor.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

// startMany boots n rotor instances at the same moment, each on its own
// port, and waits until every one serves.
func startMany(t *testing.T, n int, args []string, env map[string]string) []*rotorProcess {
	t.Helper()
	procs := make([]*rotorProcess, n)
	urls := make(chan struct {
		i   int
		url string
	}, n)
	exited := make(chan int, n)
	for i := range procs {
		ctx, cancel := context.WithCancel(context.Background())
		p := &rotorProcess{t: t, stderr: &testlog.Buffer{}, cancel: cancel, done: make(chan int, 1)}
		procs[i] = p
		outR, outW := io.Pipe()
		go func() {
			code := run(ctx, args, outW, p.stderr, func(k string) string { return env[k] })
			outW.Close()
			exited <- i
			p.done <- code
		}()
		go func() {
			sc := bufio.NewScanner(outR)
			for sc.Scan() {
				if u, ok := strings.CutPrefix(sc.Text(), "rotor: serving "); ok {
					urls <- struct {
						i   int
						url string
					}{i, u}
				}
			}
		}()
		t.Cleanup(p.stop)
	}
	deadline := time.After(60 * time.Second)
	for range procs {
		select {
		case u := <-urls:
			procs[u.i].url = u.url
		case i := <-exited:
			t.Fatalf("instance %d exited before serving:\n%s", i, procs[i].stderr.String())
		case <-deadline:
			for i, p := range procs {
				t.Logf("instance %d log:\n%s", i, p.stderr.String())
			}
			t.Fatalf("not every instance served within 60s")
		}
	}
	return procs
}

// mpCall is one HTTP call of a client and its response.
type mpCall struct {
	tag     string // unique per call, sent as the reason, so its audit events can be found
	op      string
	proc    int
	rotID   string
	status  int
	code    string
	message string
	state   string
	rev     int64
}

// allowed reports whether the response is one that a race may cause. That
// is a success, a conflict, or an outcome of the token endpoint, whose
// secrets the clients also race to issue and retire. Vault may also be
// unavailable for a moment.
func (c mpCall) allowed() bool {
	switch {
	case c.status == http.StatusOK || c.status == http.StatusCreated:
		return true
	case c.status == http.StatusConflict, c.status == http.StatusUnprocessableEntity, c.status == http.StatusBadGateway:
		return true
	case c.status == http.StatusServiceUnavailable:
		return strings.HasPrefix(c.code, "backend_")
	}
	return false
}

// mpDriver picks each call from what one instance shows, usually the
// next step of the open rotation and sometimes any step at all.
type mpDriver struct {
	procs  []*rotorProcess
	sim    *persiumsim.Server
	vault  *vaultfake.Server
	issued *mpIssued
	rng    *rand.Rand
}

// mpIssued remembers the secret Persium issued for each rotation, so that
// clients that race to record it paste the same secret, as operators
// working from one Persium message would.
type mpIssued struct {
	mu      sync.Mutex
	secrets map[string]secret.Value
}

func (m *mpIssued) forRotation(sim *persiumsim.Server, client, rotationID string) (secret.Value, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.secrets[rotationID]; ok {
		return s, nil
	}
	s, err := sim.Issue(client)
	if err != nil {
		return secret.Value{}, err
	}
	m.secrets[rotationID] = s
	return s, nil
}

var mpNext = map[string][]string{
	"requested":   {"issued", "issued", "issued", "cancel"},
	"new_issued":  {"promote", "promote", "promote", "cancel"},
	"dual_active": {"retire", "retire", "rollback"},
}

var mpAllOps = []string{"request", "issued", "promote", "rollback", "retire", "cancel", "resume"}

func (d *mpDriver) step(tag string, c mpCredential) mpCall {
	call := mpCall{tag: tag, op: "request", proc: d.rng.IntN(len(d.procs))}
	p := d.procs[call.proc]

	status, cred := d.get(p, "/api/v1/credentials/"+c.id)
	if status != http.StatusOK {
		call.status, call.message = status, fmt.Sprint(cred)
		return call
	}
	if id, ok := cred["open_rotation_id"].(string); ok {
		call.rotID = id
		_, r := d.get(p, "/api/v1/rotations/"+id)
		state, _ := r["state"].(string)
		switch {
		case d.rng.IntN(5) == 0 || mpNext[state] == nil:
			call.op = mpAllOps[d.rng.IntN(len(mpAllOps))]
		case r["paused_at"] != nil:
			call.op = "resume"
		default:
			ops := mpNext[state]
			call.op = ops[d.rng.IntN(len(ops))]
		}
	}

	// Now and then Vault fails once, before or after the write takes
	// effect; the Vault client retries it.
	if d.rng.IntN(15) == 0 {
		d.vault.Inject(vaultfake.Fault{Count: 1, Method: "write", Status: http.StatusInternalServerError, Applied: d.rng.IntN(2) == 0})
	}

	path, body := "/api/v1/rotations/"+call.rotID+"/"+call.op, map[string]any{"reason": tag}
	switch call.op {
	case "request":
		path, body = "/api/v1/credentials/"+c.id+"/rotations", map[string]any{"kind": "manual", "reason": tag}
	case "issued":
		s, err := d.issued.forRotation(d.sim, c.client, call.rotID)
		if err != nil {
			call.status, call.message = 0, err.Error()
			return call
		}
		body["secret"] = s.Reveal()
	case "retire":
		_ = d.sim.RetireOld(c.client) // Persium retires the old secret first; there may be none
		body["persium_confirmed"] = true
	}
	if call.rotID == "" && call.op != "request" {
		call.op, path, body = "request", "/api/v1/credentials/"+c.id+"/rotations", map[string]any{"kind": "manual", "reason": tag}
	}

	raw, _ := json.Marshal(body)
	resp := d.post(p, path, string(raw))
	call.status = resp.status
	if e, ok := resp.body["error"].(map[string]any); ok {
		call.code, _ = e["code"].(string)
		call.message, _ = e["message"].(string)
	}
	call.state, _ = resp.body["state"].(string)
	if rev, ok := resp.body["revision"].(float64); ok {
		call.rev = int64(rev)
	}
	if id, ok := resp.body["id"].(string); ok && call.op == "request" {
		call.rotID = id
	}
	return call
}

type mpResponse struct {
	status int
	body   map[string]any
}

var mpHTTP = &http.Client{Timeout: 60 * time.Second}

func (d *mpDriver) get(p *rotorProcess, path string) (int, map[string]any) {
	resp, err := mpHTTP.Get(p.url + path)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (d *mpDriver) post(p *rotorProcess, path, body string) mpResponse {
	resp, err := mpHTTP.Post(p.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		return mpResponse{body: map[string]any{"error": map[string]any{"code": "transport", "message": err.Error()}}}
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return mpResponse{status: resp.StatusCode, body: m}
}

// mpEvent is one audit event as the database holds it.
type mpEvent struct {
	id     int64
	action string
	from   *string
	to     string
	reason string
}

// mpStepActions are the events that end a secrets-manager step.
var mpStepActions = map[string]bool{"issue": true, "promote": true, "rollback": true, "retire": true, "step_failed": true}

// mpActionOf is the audit action a successful call of each operation appends.
var mpActionOf = map[string]string{
	"request": "request", "issued": "issue", "promote": "promote", "rollback": "rollback",
	"retire": "retire", "cancel": "cancel", "resume": "resumed",
}

func checkMultiDatabase(t *testing.T, pool *pgxpool.Pool, procs []*rotorProcess, calls []mpCall) {
	t.Helper()
	ctx := context.Background()

	var doubles, stuck int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT credential_id FROM rotations
		WHERE state IN ('requested', 'new_issued', 'dual_active') GROUP BY credential_id HAVING count(*) > 1) d`).Scan(&doubles); err != nil {
		t.Fatalf("count credentials with two open rotations: %v", err)
	}
	if doubles != 0 {
		t.Errorf("%d credentials have more than one open rotation", doubles)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM rotations WHERE step IS NOT NULL`).Scan(&stuck); err != nil {
		t.Fatalf("count rotations with a step: %v", err)
	}
	if stuck != 0 {
		t.Errorf("%d rotations still have a step in progress after every call returned", stuck)
	}

	rows, err := pool.Query(ctx, `SELECT id::text, state::text, version FROM rotations ORDER BY created_at`)
	if err != nil {
		t.Fatalf("list rotations: %v", err)
	}
	type row struct {
		id, state string
		version   int64
	}
	var rots []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.state, &r.version); err != nil {
			t.Fatalf("scan rotation: %v", err)
		}
		rots = append(rots, r)
	}
	if err := rows.Err(); err != nil || len(rots) == 0 {
		t.Fatalf("list rotations: %d rows, %v", len(rots), err)
	}

	byReason := map[string][]mpEvent{}
	pausedOnce := map[string]bool{}
	for i, r := range rots {
		rows, err := pool.Query(ctx, `SELECT id, action, from_state::text, to_state::text, reason FROM events WHERE rotation_id = $1 ORDER BY id`, r.id)
		if err != nil {
			t.Fatalf("list events: %v", err)
		}
		var events []mpEvent
		for rows.Next() {
			var e mpEvent
			if err := rows.Scan(&e.id, &e.action, &e.from, &e.to, &e.reason); err != nil {
				t.Fatalf("scan event: %v", err)
			}
			events = append(events, e)
			byReason[e.reason] = append(byReason[e.reason], e)
			pausedOnce[r.id] = pausedOnce[r.id] || e.action == "paused"
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("list events: %v", err)
		}

		// The history: each event starts where the one before ended, and
		// the version counts every event and every step started.
		state, steps := "", 0
		for _, e := range events {
			from := ""
			if e.from != nil {
				from = *e.from
			}
			if from != state {
				t.Errorf("rotation %s: event %d (%s) starts from %q, but the one before ended in %q", r.id, e.id, e.action, from, state)
			}
			if mpStepActions[e.action] || e.action == "cancel" && from == "new_issued" {
				steps++
			}
			state = e.to
		}
		if state != r.state {
			t.Errorf("rotation %s is %s, but its events end in %s", r.id, r.state, state)
		}
		if want := int64(len(events) + steps); r.version != want {
			t.Errorf("rotation %s is at version %d, want %d from %d events and %d steps", r.id, r.version, want, len(events), steps)
		}

		// The API of any instance shows the same events.
		p := procs[i%len(procs)]
		status, body := p.call(http.MethodGet, "/api/v1/rotations/"+r.id+"/events", "")
		apiEvents, _ := body["events"].([]any)
		if status != http.StatusOK || len(apiEvents) != len(events) {
			t.Errorf("rotation %s: the API lists %d events (status %d), the database %d", r.id, len(apiEvents), status, len(events))
		}
		status, body = p.call(http.MethodGet, "/api/v1/rotations/"+r.id, "")
		if status != http.StatusOK || body["state"] != r.state || body["revision"] != float64(r.version) {
			t.Errorf("rotation %s: the API shows %v at revision %v (status %d), the database %s at %d", r.id, body["state"], body["revision"], status, r.state, r.version)
		}
	}

	// Every successful call left one event of its action with its tag, in
	// the state it returned, and no two returned the same revision.
	revisions := map[string]string{}
	for _, c := range calls {
		got := byReason[c.tag]
		if c.code == "paused" && !pausedOnce[c.rotID] {
			t.Errorf("%s %s: told the operator that rotation %s is paused, but it never was: %s", c.tag, c.op, c.rotID, c.message)
		}
		if c.status != http.StatusOK && c.status != http.StatusCreated {
			if len(got) > 1 || len(got) == 1 && got[0].action != "step_failed" {
				t.Errorf("%s %s failed (%d %s), yet left events %+v", c.tag, c.op, c.status, c.code, got)
			}
			continue
		}
		if len(got) != 1 || got[0].action != mpActionOf[c.op] || got[0].to != c.state {
			t.Errorf("%s %s succeeded in state %s, but its events are %+v", c.tag, c.op, c.state, got)
		}
		key := fmt.Sprintf("%s@%d", c.rotID, c.rev)
		if other, ok := revisions[key]; ok {
			t.Errorf("%s and %s both returned revision %d of rotation %s: a lost update", other, c.tag, c.rev, c.rotID)
		}
		revisions[key] = c.tag
	}
}

func mpSummary(calls []mpCall) string {
	counts := map[string]int{}
	for _, c := range calls {
		key := fmt.Sprintf("%s %d", c.op, c.status)
		if c.code != "" {
			key += " " + c.code
		}
		counts[key]++
	}
	var parts []string
	for _, op := range mpAllOps {
		for key, n := range counts {
			if strings.HasPrefix(key, op+" ") {
				parts = append(parts, fmt.Sprintf("%s: %d", key, n))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// Several `rotor migrate` runs at once on a new schema take turns, so
// every one succeeds and the schema ends up current.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dbURL, _ := pgtest.SchemaURL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	codes := make([]int, 4)
	outputs := make([]strings.Builder, len(codes))
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			codes[i] = run(context.Background(), []string{"migrate"}, io.Discard, &outputs[i], func(k string) string { return env[k] })
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != 0 {
			t.Errorf("rotor migrate %d exited with %d: %s", i, code, outputs[i].String())
		}
	}
}
