package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/migrations"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// Size of the race: raceProcesses pools on one schema, each with its own
// Service, as separate rotor processes would have, and raceWorkers
// goroutines per process, each making raceOps calls on raceCredentials
// credentials. With 4 credentials and 9 workers most calls collide.
const (
	raceProcesses   = 3
	raceWorkers     = 3
	raceOps         = 50
	raceCredentials = 4
)

// Many goroutines in several "processes" drive random transitions on a few
// credentials. The token endpoint is sometimes inconclusive, and the
// secrets manager sometimes fails, before or after a write takes effect.
// Afterwards every invariant holds in the database. Each credential has at
// most one open rotation. The audit log holds a contiguous state history
// with exactly one event per state change, and the version counts every
// change. Every successful call is reflected once, and no step is left in
// progress.
func TestServiceRaceInvariants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	started := time.Now()

	schema := pgtest.NewSchema(t)
	pools := make([]*pgxpool.Pool, raceProcesses)
	for i := range pools {
		pool, err := pgtest.Open(ctx, pgtest.URL(), schema)
		if err != nil {
			t.Fatalf("open pool %d on schema %s: %v", i, schema, err)
		}
		t.Cleanup(pool.Close)
		pools[i] = pool
	}
	db := stdlib.OpenDBFromPool(pools[0])
	if err := migrations.Up(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate schema %s: %v", schema, err)
	}
	_ = db.Close()

	// One backend and one token endpoint, shared by every process, as a
	// real Vault and Persium would be.
	token := &raceEndpoint{revoked: map[string]bool{}}
	backends := map[string]*faultyBackend{}
	var creds []rotation.Credential
	for i := range raceCredentials {
		c := storetest.Credential(fmt.Sprintf("race-%d", i))
		creds = append(creds, c)
		backends[c.ID] = &faultyBackend{Store: memory.New(secret.New("initial-"+c.ID), secretstore.Format{JSONKey: "client_secret"}), failRate: 0.06}
	}
	secrets := map[string]rotation.SecretStore{}
	for id, b := range backends {
		secrets[id] = b
	}

	services := make([]*rotation.Service, raceProcesses)
	for i, pool := range pools {
		store := pgstore.New(pool, time.Now)
		if err := store.SyncCredentials(ctx, creds); err != nil {
			t.Fatalf("SyncCredentials in process %d: %v", i, err)
		}
		services[i] = rotation.NewService(rotation.Options{Store: store, Secrets: secrets, Checker: token, StepTimeout: 10 * time.Second})
	}

	var (
		mu    sync.Mutex
		calls []raceCall
	)
	var wg sync.WaitGroup
	for p, svc := range services {
		for w := range raceWorkers {
			wg.Go(func() {
				d := raceDriver{svc: svc, store: svc.Store(), backends: backends, token: token,
					rng: rand.New(rand.NewPCG(uint64(p), uint64(w)))}
				for i := range raceOps {
					c := d.step(ctx, fmt.Sprintf("p%d-w%d-%03d", p, w, i), creds[d.rng.IntN(len(creds))].ID)
					mu.Lock()
					calls = append(calls, c)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d calls in %s", len(calls), time.Since(started).Round(time.Millisecond))

	checkCallErrors(t, calls)
	checkRaceDatabase(t, pools[0], calls)
	checkBackendsAgree(t, ctx, services[0], backends)
	t.Logf("outcomes: %s; backend faults injected: %d before the write, %d after it", summarize(calls),
		sumFaults(backends, false), sumFaults(backends, true))

	// Whatever the race left, an operator can finish every rotation once
	// the secrets manager works again.
	for _, b := range backends {
		b.failRate = 0
	}
	d := raceDriver{svc: services[1], store: services[1].Store(), backends: backends, token: token, rng: rand.New(rand.NewPCG(7, 7))}
	for _, c := range creds {
		d.finish(t, ctx, c.ID)
	}
	checkRaceDatabase(t, pools[2], nil)
}

// finish drives the credential's open rotation, if any, to a terminal
// state with the next step each time, as an operator would: resuming it
// with a reason when paused, and cancelling it when its staged version is
// gone.
func (d *raceDriver) finish(t *testing.T, ctx context.Context, credID string) {
	t.Helper()
	var errs []string
	for i := range 8 {
		cred, err := d.store.GetCredential(ctx, credID)
		if err != nil {
			t.Fatalf("GetCredential: %v", err)
		}
		if cred.OpenRotationID == "" {
			return
		}
		r, err := d.store.GetRotation(ctx, cred.OpenRotationID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		actor := fmt.Sprintf("finish-%s-%d", credID, i)
		switch {
		case !r.PausedAt.IsZero():
			_, err = d.svc.Resume(ctx, actor, r.ID, "accept what the race left")
		case r.State == rotation.StateRequested:
			_, err = d.svc.RecordIssued(ctx, actor, r.ID, rotation.IssuedInput{Secret: secret.New("new-" + actor), Reason: "finish the race"})
		case r.State == rotation.StateNewIssued && len(errs) > 0 && strings.Contains(errs[len(errs)-1], "The version rotor recorded is gone"):
			// A discard whose response was lost removed the staged
			// version: the operator cancels and starts again.
			_, err = d.svc.Cancel(ctx, actor, r.ID, "the staged version is gone")
		case r.State == rotation.StateNewIssued:
			_, err = d.svc.Promote(ctx, actor, r.ID, "")
		case r.State == rotation.StateDualActive:
			if old, rerr := d.backends[credID].Read(ctx, r.Versions.Old); rerr == nil {
				d.token.revoke(old)
			}
			_, err = d.svc.Retire(ctx, actor, r.ID, rotation.RetireInput{PersiumConfirmed: true, Reason: "finish the race"})
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s in %s: %v", actor, r.State, err))
		}
	}
	t.Errorf("the open rotation of %s cannot be finished after the race:\n%s", credID, strings.Join(errs, "\n"))
}

// raceCall is one Service call a worker made and what it returned.
type raceCall struct {
	actor      string // unique per call, so its audit events can be found
	op         string
	credential string
	rotationID string // "" for a request that failed
	result     rotation.Rotation
	err        error
}

// raceDriver picks a call from what it reads, usually the next step of the
// credential's open rotation and sometimes any call at all.
type raceDriver struct {
	svc      *rotation.Service
	store    rotation.Store
	backends map[string]*faultyBackend
	token    *raceEndpoint
	rng      *rand.Rand
}

var raceOpsByState = map[rotation.State][]string{
	rotation.StateRequested:  {"issued", "issued", "issued", "cancel"},
	rotation.StateNewIssued:  {"promote", "promote", "promote", "cancel"},
	rotation.StateDualActive: {"retire", "retire", "rollback"},
}

var raceAllOps = []string{"request", "issued", "promote", "rollback", "retire", "cancel", "resume"}

func (d *raceDriver) step(ctx context.Context, actor, credID string) raceCall {
	c := raceCall{actor: actor, credential: credID, op: "request"}
	cred, err := d.store.GetCredential(ctx, credID)
	if err != nil {
		c.err = fmt.Errorf("read credential: %w", err)
		return c
	}
	var r rotation.Rotation
	if cred.OpenRotationID != "" {
		if r, err = d.store.GetRotation(ctx, cred.OpenRotationID); err != nil {
			// The rotation exists, so only a failing database gets here.
			c.err = fmt.Errorf("read rotation: %w", err)
			return c
		}
		c.rotationID = r.ID
		switch {
		case d.rng.IntN(5) == 0 || r.State.Terminal():
			// Terminal: it ended since the credential was read.
			c.op = raceAllOps[d.rng.IntN(len(raceAllOps))]
		case !r.PausedAt.IsZero():
			c.op = "resume"
		default:
			ops := raceOpsByState[r.State]
			c.op = ops[d.rng.IntN(len(ops))]
		}
	}

	var out rotation.Rotation
	switch c.op {
	case "request":
		out, err = d.svc.Request(ctx, actor, credID, rotation.RequestInput{Kind: rotation.KindManual, Reason: actor})
	case "issued":
		var is rotation.Issued
		in := rotation.IssuedInput{Secret: secret.New("new-" + actor)}
		if d.rng.IntN(2) == 0 {
			in.Reason = "stage past an inconclusive check: " + actor
		}
		is, err = d.svc.RecordIssued(ctx, actor, c.rotationID, in)
		out = is.Rotation
	case "promote":
		out, err = d.svc.Promote(ctx, actor, c.rotationID, "")
	case "rollback":
		out, err = d.svc.Rollback(ctx, actor, c.rotationID, "")
	case "retire":
		// Persium retires the old secret first, as the operator confirms.
		if old, rerr := d.backends[credID].Read(ctx, r.Versions.Old); rerr == nil {
			d.token.revoke(old)
		}
		out, err = d.svc.Retire(ctx, actor, c.rotationID, rotation.RetireInput{PersiumConfirmed: true, Reason: "before the minimum time: " + actor})
	case "cancel":
		out, err = d.svc.Cancel(ctx, actor, c.rotationID, "cancelled by "+actor)
	case "resume":
		out, err = d.svc.Resume(ctx, actor, c.rotationID, "accepted by "+actor)
	}
	c.result, c.err = out, err
	if c.op == "request" && err == nil {
		c.rotationID = out.ID
	}
	return c
}

// checkCallErrors fails the test for an error that a race must not cause:
// anything but a conflict, an outcome of the token endpoint, or a failure
// of the secrets manager, which the test injects. Each has a message for
// the operator.
func checkCallErrors(t *testing.T, calls []raceCall) {
	t.Helper()
	for _, c := range calls {
		if c.err == nil {
			continue
		}
		e, ok := rotation.AsError(c.err)
		switch {
		case !ok:
			t.Errorf("%s %s: error without a message for the operator: %v", c.actor, c.op, c.err)
		case e.Message == "":
			t.Errorf("%s %s: empty message, code %s", c.actor, c.op, e.Code)
		case errors.Is(e.Kind, rotation.ErrConflict), errors.Is(e.Kind, rotation.ErrInconclusive), errors.Is(e.Kind, rotation.ErrRejected):
		case errors.Is(e.Kind, rotation.ErrUnavailable) && strings.HasPrefix(e.Code, "backend_") && e.Code != "backend_missing":
		default:
			t.Errorf("%s %s: unexpected error %s: %v", c.actor, c.op, e.Code, c.err)
		}
	}
}

// raceEvent is one audit event as the database holds it.
type raceEvent struct {
	id                  int64
	rotationID, credID  string
	actor, action       string
	from                *string
	to                  string
	rotationCredential  string
	rotationStateNow    string
	rotationVersion     int64
	rotationStep        *string
	rotationRequestedBy string
}

// transitionOf is the state change each state-changing action makes.
var transitionOf = map[string][2]rotation.State{
	"issue":    {rotation.StateRequested, rotation.StateNewIssued},
	"promote":  {rotation.StateNewIssued, rotation.StateDualActive},
	"rollback": {rotation.StateDualActive, rotation.StateNewIssued},
	"retire":   {rotation.StateDualActive, rotation.StateOldRetired},
}

// actionOf is the audit action a successful call of each operation appends.
var actionOf = map[string]string{
	"request": "request", "issued": "issue", "promote": "promote", "rollback": "rollback",
	"retire": "retire", "cancel": "cancel", "resume": "resumed",
}

func checkRaceDatabase(t *testing.T, pool *pgxpool.Pool, calls []raceCall) {
	t.Helper()
	ctx := context.Background()

	// At most one open rotation per credential. The unique index enforces
	// it; this checks that nothing got around it.
	var doubles int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT credential_id FROM rotations
		WHERE state IN ('requested', 'new_issued', 'dual_active') GROUP BY credential_id HAVING count(*) > 1) d`).Scan(&doubles); err != nil {
		t.Fatalf("count credentials with two open rotations: %v", err)
	}
	if doubles != 0 {
		t.Errorf("%d credentials have more than one open rotation", doubles)
	}

	// No step is left in progress: every failed write closed its step
	// with a step_failed event, and the database never failed.
	rows, err := pool.Query(ctx, `SELECT id::text, step::text FROM rotations WHERE step IS NOT NULL`)
	if err != nil {
		t.Fatalf("list rotations with a step: %v", err)
	}
	stuck, err := pgx.CollectRows(rows, pgx.RowTo[struct {
		ID   string
		Step string
	}])
	if err != nil {
		t.Fatalf("list rotations with a step: %v", err)
	}
	for _, s := range stuck {
		t.Errorf("rotation %s still has the %s step in progress after every call returned", s.ID, s.Step)
	}

	// Each credential's last retirement is its latest retired rotation's.
	var wrongRetired int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM credentials c
		WHERE c.last_retired_at IS DISTINCT FROM (SELECT max(r.retired_at) FROM rotations r WHERE r.credential_id = c.id)`).Scan(&wrongRetired); err != nil {
		t.Fatalf("compare last_retired_at: %v", err)
	}
	if wrongRetired != 0 {
		t.Errorf("%d credentials have a last_retired_at that is not their latest retirement", wrongRetired)
	}

	rows, err = pool.Query(ctx, `SELECT e.id, e.rotation_id::text, e.credential_id, e.actor, e.action, e.from_state::text, e.to_state::text,
			r.credential_id, r.state::text, r.version, r.step::text, r.requested_by
		FROM events e JOIN rotations r ON r.id = e.rotation_id ORDER BY e.rotation_id, e.id`)
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var events []raceEvent
	for rows.Next() {
		var e raceEvent
		if err := rows.Scan(&e.id, &e.rotationID, &e.credID, &e.actor, &e.action, &e.from, &e.to,
			&e.rotationCredential, &e.rotationStateNow, &e.rotationVersion, &e.rotationStep, &e.rotationRequestedBy); err != nil {
			t.Fatalf("scan event: %v", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var rotations int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM rotations`).Scan(&rotations); err != nil {
		t.Fatalf("count rotations: %v", err)
	}

	byRotation := map[string][]raceEvent{}
	var order []string
	for _, e := range events {
		if _, ok := byRotation[e.rotationID]; !ok {
			order = append(order, e.rotationID)
		}
		byRotation[e.rotationID] = append(byRotation[e.rotationID], e)
	}
	if len(byRotation) != rotations {
		t.Errorf("%d rotations have audit events, want all %d", len(byRotation), rotations)
	}
	for _, id := range order {
		checkHistory(t, id, byRotation[id])
	}
	checkCallsReflected(t, calls, byRotation)
}

// checkHistory checks one rotation's audit events against its row. The
// events form one contiguous state history from request to the current
// state, and each action makes the state change it stands for. The version
// counts every change, including the ones without an event (starting a
// step).
func checkHistory(t *testing.T, id string, events []raceEvent) {
	t.Helper()
	first := events[0]
	if first.action != "request" || first.from != nil || first.to != string(rotation.StateRequested) {
		t.Errorf("rotation %s: first event is %s %v→%s, want the request", id, first.action, first.from, first.to)
		return
	}
	if first.actor != first.rotationRequestedBy {
		t.Errorf("rotation %s: requested by %s, but its request event names %s", id, first.rotationRequestedBy, first.actor)
	}

	state := rotation.StateRequested
	stepsStarted := 0
	for _, e := range events[1:] {
		from := ""
		if e.from != nil {
			from = *e.from
		}
		if e.credID != e.rotationCredential {
			t.Errorf("rotation %s: event %d names credential %s, the rotation %s", id, e.id, e.credID, e.rotationCredential)
		}
		if from != string(state) {
			t.Errorf("rotation %s: event %d (%s) starts from %s, but the previous event left it %s: a lost or reordered change", id, e.id, e.action, from, state)
		}
		to := rotation.State(e.to)
		switch e.action {
		case "issue", "promote", "rollback", "retire":
			if tr := transitionOf[e.action]; tr != [2]rotation.State{rotation.State(from), to} {
				t.Errorf("rotation %s: event %d %s moved %s→%s, want %s→%s", id, e.id, e.action, from, to, tr[0], tr[1])
			}
			stepsStarted++
		case "cancel":
			if to != rotation.StateCancelled || (from != string(rotation.StateRequested) && from != string(rotation.StateNewIssued)) {
				t.Errorf("rotation %s: event %d cancel moved %s→%s", id, e.id, from, to)
			}
			if from == string(rotation.StateNewIssued) {
				stepsStarted++ // the discard step
			}
		case "step_failed":
			stepsStarted++
			fallthrough
		default:
			if from != e.to {
				t.Errorf("rotation %s: event %d %s changed the state %s→%s", id, e.id, e.action, from, e.to)
			}
		}
		if !rotation.Legal(rotation.State(from), to) {
			t.Errorf("rotation %s: event %d records the illegal move %s→%s", id, e.id, from, to)
		}
		state = to
	}

	if string(state) != first.rotationStateNow {
		t.Errorf("rotation %s is %s, but its events end in %s", id, first.rotationStateNow, state)
	}
	open := 0
	if first.rotationStep != nil {
		open = 1
	}
	if want := int64(len(events) + stepsStarted + open); first.rotationVersion != want {
		t.Errorf("rotation %s is at version %d, want %d: %d events and %d steps started; a change without its event, or an event without its change",
			id, first.rotationVersion, want, len(events), stepsStarted+open)
	}
}

// checkCallsReflected checks that each successful call left exactly one
// event of its action under its actor, in the state it returned, and that
// no two successful calls returned the same version of a rotation. A call
// that failed left at most one step_failed event, and one that failed as
// paused names a rotation that was paused.
func checkCallsReflected(t *testing.T, calls []raceCall, byRotation map[string][]raceEvent) {
	t.Helper()
	byActor := map[string][]raceEvent{}
	for _, events := range byRotation {
		for _, e := range events {
			byActor[e.actor] = append(byActor[e.actor], e)
		}
	}
	pausedOnce := map[string]bool{}
	for id, events := range byRotation {
		for _, e := range events {
			pausedOnce[id] = pausedOnce[id] || e.action == "paused"
		}
	}
	versions := map[string]map[int64]string{}
	for _, c := range calls {
		got := byActor[c.actor]
		if e, ok := rotation.AsError(c.err); ok && e.Code == "paused" && !pausedOnce[c.rotationID] {
			t.Errorf("%s %s: told the operator that rotation %s is paused, but it never was: %s", c.actor, c.op, c.rotationID, e.Message)
		}
		if c.err != nil {
			if len(got) > 1 || len(got) == 1 && got[0].action != "step_failed" {
				t.Errorf("%s %s failed (%v), yet left %d events, the first %s", c.actor, c.op, c.err, len(got), got[0].action)
			}
			continue
		}
		if len(got) != 1 || got[0].action != actionOf[c.op] || got[0].rotationID != c.result.ID || got[0].to != string(c.result.State) {
			t.Errorf("%s %s succeeded with rotation %s %s, but its events are %+v", c.actor, c.op, c.result.ID, c.result.State, got)
		}
		if versions[c.result.ID] == nil {
			versions[c.result.ID] = map[int64]string{}
		}
		if other, ok := versions[c.result.ID][c.result.Version]; ok {
			t.Errorf("%s and %s both returned version %d of rotation %s: a lost update", other, c.actor, c.result.Version, c.result.ID)
		}
		versions[c.result.ID][c.result.Version] = c.actor
	}
}

// checkBackendsAgree checks that every open rotation matches its secret,
// or is paused, or an operator accepted the difference when resuming.
// rotor's own writes, however they interleave, never look like a change
// made outside rotor. Only a write that took effect and then failed, as
// the test injects, may leave the secret ahead of the rotation, and the
// watch must then pause it.
func checkBackendsAgree(t *testing.T, ctx context.Context, svc *rotation.Service, backends map[string]*faultyBackend) {
	t.Helper()
	if err := svc.CheckOpenRotations(ctx); err != nil {
		t.Errorf("CheckOpenRotations: %v", err)
	}
	creds, err := svc.Store().ListCredentials(ctx)
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	for _, c := range creds {
		if c.OpenRotationID == "" {
			continue
		}
		r, err := svc.Store().GetRotation(ctx, c.OpenRotationID)
		if err != nil {
			t.Fatalf("GetRotation: %v", err)
		}
		b := backends[c.ID]
		if r.PausedAt.IsZero() && r.State != rotation.StateRequested {
			err := b.Verify(ctx, r.ID, r.State == rotation.StateDualActive, r.Versions)
			var se *secretstore.Error
			if err != nil && !(errors.As(err, &se) && se.Msg == r.DriftAccepted) {
				t.Errorf("rotation %s (%s) is not paused, yet its secret differs: %v", r.ID, r.State, err)
			}
		}
		if (!r.PausedAt.IsZero() || r.DriftAccepted != "") && b.failedAfter.Load() == 0 {
			t.Errorf("rotation %s was paused (%s%s), yet no write to its secret failed after taking effect", r.ID, r.PauseReason, r.DriftAccepted)
		}
	}
}

func summarize(calls []raceCall) string {
	counts := map[string]int{}
	for _, c := range calls {
		key := c.op + " ok"
		if e, ok := rotation.AsError(c.err); ok {
			key = c.op + " " + e.Code
		} else if c.err != nil {
			key = c.op + " error"
		}
		counts[key]++
	}
	var parts []string
	for _, op := range raceAllOps {
		for key, n := range counts {
			if strings.HasPrefix(key, op+" ") {
				parts = append(parts, fmt.Sprintf("%s %d", key, n))
			}
		}
	}
	return strings.Join(parts, ", ")
}

func sumFaults(backends map[string]*faultyBackend, applied bool) int64 {
	var n int64
	for _, b := range backends {
		if applied {
			n += b.failedAfter.Load()
		} else {
			n += b.failedBefore.Load()
		}
	}
	return n
}

// raceEndpoint plays Persium's token endpoint: it accepts every secret
// that was not revoked, and now and then returns an inconclusive result.
type raceEndpoint struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (e *raceEndpoint) revoke(s secret.Value) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revoked[s.Reveal()] = true
}

func (e *raceEndpoint) Check(ctx context.Context, clientID string, method tokencheck.AuthMethod, s secret.Value) tokencheck.Result {
	if rand.IntN(20) == 0 {
		return tokencheck.Result{Outcome: tokencheck.Inconclusive, Status: 502, Detail: "502 Bad Gateway (text/html)"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.revoked[s.Reveal()] {
		return tokencheck.Result{Outcome: tokencheck.Rejected, Status: 401, Detail: "401 invalid_client"}
	}
	return tokencheck.Result{Outcome: tokencheck.Accepted, Status: 200}
}

// faultyBackend is an in-memory secret that fails a share of writes with
// ErrUnavailable, half of them after the write took effect, as when a
// response is lost on the way back.
type faultyBackend struct {
	*memory.Store
	failRate     float64
	failedBefore atomic.Int64 // failures before the write took effect
	failedAfter  atomic.Int64 // failures after it
}

var errInjected = func(op string) error {
	return secretstore.Errorf(secretstore.ErrUnavailable, op, "the secrets manager failed on its side (injected 500); the outcome is unknown")
}

// write runs fn, or fails instead of it or after it.
func (b *faultyBackend) write(op string, fn func() error) error {
	if rand.Float64() >= b.failRate {
		return fn()
	}
	if rand.IntN(2) == 0 {
		b.failedBefore.Add(1)
		return errInjected(op)
	}
	if err := fn(); err != nil {
		return err
	}
	b.failedAfter.Add(1)
	return errInjected(op)
}

func (b *faultyBackend) Stage(ctx context.Context, id string, v secret.Value) (out secretstore.Versions, err error) {
	err = b.write("stage", func() error { out, err = b.Store.Stage(ctx, id, v); return err })
	return out, err
}

func (b *faultyBackend) Promote(ctx context.Context, id string, v secretstore.Versions) (out secretstore.Versions, err error) {
	err = b.write("promote", func() error { out, err = b.Store.Promote(ctx, id, v); return err })
	return out, err
}

func (b *faultyBackend) Rollback(ctx context.Context, id string, v secretstore.Versions) (out secretstore.Versions, err error) {
	err = b.write("rollback", func() error { out, err = b.Store.Rollback(ctx, id, v); return err })
	return out, err
}

func (b *faultyBackend) Retire(ctx context.Context, id string, v secretstore.Versions, m secretstore.RetireMode) error {
	return b.write("retire", func() error { return b.Store.Retire(ctx, id, v, m) })
}

func (b *faultyBackend) Discard(ctx context.Context, id string, v secretstore.Versions) error {
	return b.write("discard", func() error { return b.Store.Discard(ctx, id, v) })
}
