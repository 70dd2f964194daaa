package rotation_test

import (
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// remind runs one RemindOpenIncidents and returns the messages it sent.
func (f *fixture) remind(t *testing.T, svc *rotation.Service, n *notifier) []rotation.UrgentMessage {
	t.Helper()
	before := len(n.messages())
	if err := svc.RemindOpenIncidents(f.ctx); err != nil {
		t.Fatalf("RemindOpenIncidents: %v", err)
	}
	return n.messages()[before:]
}

// An open incident is reminded once per IncidentRemindEvery after its
// report, on every channel, whatever the number of runs or of rotor
// processes. The reminder names the next thing to do.
func TestRemindOpenIncidents(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		n := &notifier{channels: []string{"mail", "slack"}, fail: map[string]error{"slack": errors.New("post https://hooks.slack.com/services/T0/B0/x: 500")}}
		f.withNotifier(t, n)
		rep := f.report(t, f.leak())

		f.clock.Advance(rotation.DefaultIncidentRemindEvery - time.Second)
		if got := f.remind(t, f.svc, n); len(got) != 0 {
			t.Errorf("before the first interval: %d reminders, want 0", len(got))
		}

		f.clock.Advance(time.Second)
		got := f.remind(t, f.svc, n)
		if len(got) != 1 {
			t.Fatalf("after the first interval: %d reminders, want 1", len(got))
		}
		first := got[0]
		if want := "still open after 4h 0m"; !strings.Contains(first.Subject, want) || !strings.HasPrefix(first.Subject, "URGENT") {
			t.Errorf("subject = %q, want URGENT and %q", first.Subject, want)
		}
		if want := "rotor-incident-" + rep.Incident.ID + "-reminder-1"; first.IdempotencyKey != want {
			t.Errorf("idempotency key = %q, want %q", first.IdempotencyKey, want)
		}
		if !strings.Contains(first.Text, "in state requested") {
			t.Errorf("reminder text does not name the rotation's state:\n%s", first.Text)
		}

		if got := f.remind(t, f.svc, n); len(got) != 0 {
			t.Errorf("second run in the same interval: %d reminders, want 0", len(got))
		}
		other := rotation.NewService(rotation.Options{Store: f.store, Now: f.clock.Now, Notifier: n, Logger: slog.New(slog.DiscardHandler)})
		if got := f.remind(t, other, n); len(got) != 0 {
			t.Errorf("another process in the same interval: %d reminders, want 0", len(got))
		}

		var details []string
		events, err := f.store.(rotation.IncidentStore).ListIncidentEvents(f.ctx, rep.Incident.ID)
		if err != nil {
			t.Fatalf("ListIncidentEvents: %v", err)
		}
		for _, e := range events {
			if strings.HasPrefix(e.Detail, "reminder 1, 4h 0m after the report: ") {
				details = append(details, string(e.Action)+" "+strings.TrimPrefix(e.Detail, "reminder 1, 4h 0m after the report: "))
			}
		}
		want := []string{"notified channel mail accepted the urgent message", "notify_failed channel slack: post https://hooks.slack.com/… 500"}
		if strings.Join(details, "\n") != strings.Join(want, "\n") {
			t.Errorf("reminder events:\n%s\nwant:\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
		}

		if _, err := f.svc.Cancel(f.ctx, "alice", rep.Rotation.ID, "opened by mistake"); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		f.clock.Advance(rotation.DefaultIncidentRemindEvery)
		got = f.remind(t, f.svc, n)
		if len(got) != 1 || got[0].IdempotencyKey != "rotor-incident-"+rep.Incident.ID+"-reminder-2" {
			t.Fatalf("after the second interval: %v, want reminder 2", got)
		}
		if !strings.Contains(got[0].Text, "leaked secret is still in use") {
			t.Errorf("reminder after a cancellation does not say the leaked secret is in use:\n%s", got[0].Text)
		}
	})
}

// The loop runs at once on Start, Stop waits for it and may run twice, and
// a Start after Stop does nothing.
func TestIncidentRemindersLoop(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, f *fixture) {
		n := &notifier{channels: []string{"mail"}}
		f.withNotifier(t, n)
		f.report(t, f.leak())
		f.clock.Advance(rotation.DefaultIncidentRemindEvery)

		loop := &rotation.IncidentReminders{Service: f.svc, Interval: time.Hour}
		loop.Start(f.ctx)
		deadline := time.Now().Add(5 * time.Second)
		for len(n.messages()) < 2 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		loop.Stop()
		loop.Stop()
		if got := len(n.messages()); got != 2 {
			t.Fatalf("messages after the first run: %d, want the report and one reminder", got)
		}

		f.clock.Advance(rotation.DefaultIncidentRemindEvery)
		loop.Start(f.ctx)
		loop.Stop()
		if got := len(n.messages()); got != 2 {
			t.Errorf("messages after a Start that follows Stop: %d, want 2", got)
		}

		never := &rotation.IncidentReminders{Service: f.svc}
		never.Stop()
		never.Start(f.ctx)
		if got := len(n.messages()); got != 2 {
			t.Errorf("messages after Stop before Start, then Start: %d, want 2", got)
		}
	})
}
