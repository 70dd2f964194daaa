package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// shutdownGrace is how long rotor serve gives requests in flight after
// SIGTERM (listenAndServe).
const shutdownGrace = 30 * time.Second

// stepHang is how long the backend holds the first write of the step. It
// is well inside shutdownGrace, so the step must complete.
const stepHang = 2 * time.Second

// SIGTERM while a secrets-manager write hangs: rotor waits for the write,
// records the step's completion, responds to the request, and exits 0 within
// its grace period. The next start has nothing to recover, and the
// rotation goes on to its end.
func TestShutdownDuringStep(t *testing.T) {
	t.Parallel()
	crashBinary(t)
	for _, bc := range crashBackends {
		for _, cs := range crashSteps[:2] { // stage and promote
			t.Run(bc.name+"/"+string(cs.step), func(t *testing.T) {
				t.Parallel()
				testShutdownDuringStep(t, bc, cs)
			})
		}
	}
}

func testShutdownDuringStep(t *testing.T, bc crashBackend, cs crashStep) {
	h := newCrashHarness(t, bc)
	first := h.serve("first serve", "")
	base := first.waitServing()
	id := h.request(base)
	promotes := 0
	for _, action := range cs.before {
		h.act(base, id, action)
		if action == "promote" {
			promotes++
		}
	}
	if cs.action == "promote" {
		promotes++
	}

	arrived := holdWrite(t, h.view, 1, stepHang)
	answered := make(chan apiResult, 1)
	go func() { answered <- h.send(base, id, cs.action) }()
	select {
	case <-arrived:
	case res := <-answered:
		t.Fatalf("%s got status %d before its write reached the backend: %s", cs.action, res.status, redact(res.raw))
	case <-time.After(time.Minute):
		t.Fatalf("the %s write did not reach the backend within a minute", cs.action)
	}
	code, took := first.terminate(shutdownGrace + 5*time.Second)
	if code != 0 {
		t.Errorf("rotor exited with %d after SIGTERM; stderr:\n%s", code, redact(first.stderr.String()))
	}
	if took >= shutdownGrace {
		t.Errorf("rotor took %s to exit after SIGTERM; the grace period is %s", took, shutdownGrace)
	}
	t.Logf("rotor exited %s after SIGTERM, with a write held back for %s", took.Round(time.Millisecond), stepHang)

	// The request in flight got its response, and the step is complete.
	res := <-answered
	if res.err != nil || res.status != http.StatusOK || res.body["state"] != string(cs.to) {
		t.Errorf("%s in flight during shutdown: status %d, state %v, error %v; want 200 and %s", cs.action, res.status, res.body["state"], res.err, cs.to)
	}
	state, step, events := h.row(id)
	if state != string(cs.to) || step != "" {
		t.Errorf("after the shutdown the rotation is %s with step %q, want %s with no step", state, step, cs.to)
	}
	if want := len(cs.before) + 2; len(events) != want {
		t.Errorf("after the shutdown %d audit events %v, want %d", len(events), events, want)
	}
	h.checkBackend("after the shutdown", cs.to, promotes)

	// The next start has nothing to finish.
	restarted := h.serve("restarted serve", "")
	base = restarted.waitServing()
	r := h.must(base, http.StatusOK, http.MethodGet, "/api/v1/rotations/"+id, "")
	if r["state"] != string(cs.to) || r["step"] != nil {
		t.Fatalf("after the restart the rotation is %v with step %v, want %s with no step", r["state"], r["step"], cs.to)
	}
	list := h.events(base, id)
	h.checkEvents("after the restart", list, cs.recorded)
	for _, e := range list {
		if detail, _ := e["detail"].(string); strings.Contains(detail, "after a restart") {
			t.Errorf("the restart completed a step that the shutdown should have completed: %s %q", e["action"], detail)
		}
	}
	h.checkRecorded("after the restart", r)

	recorded := cs.recorded
	for _, action := range cs.after {
		if action == "promote" {
			promotes++
		}
		r = h.act(base, id, action)
		recorded = append(recorded, rotation.Action(action))
		h.checkBackend("after "+action, rotation.State(r["state"].(string)), promotes)
	}
	if r["state"] != string(rotation.StateOldRetired) {
		t.Errorf("the rotation ended %v, want old_retired", r["state"])
	}
	h.checkEvents("at the end", h.events(base, id), recorded)
	if code, took := restarted.terminate(shutdownGrace + 5*time.Second); code != 0 {
		t.Errorf("rotor exited with %d %s after SIGTERM; stderr:\n%s", code, took, redact(restarted.stderr.String()))
	}
	h.checkNoLeak(id)
}
