package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// planDue calls PlanDueReminders once with a plan that plans no reminder
// and sets each credential's next planning time to next(c). It returns the
// ids that plan saw, in order, and fails the test on an error.
func (f reminderFixture) planDue(t *testing.T, now time.Time, limit int, next func(c rotation.Credential) time.Time) []string {
	t.Helper()
	var seen []string
	n, err := f.rs.PlanDueReminders(f.ctx, now, limit, func(c rotation.Credential) rotation.ReminderPlan {
		seen = append(seen, c.ID)
		return rotation.ReminderPlan{NextAt: next(c)}
	})
	if err != nil {
		t.Fatalf("PlanDueReminders(%v, %d): %v", now, limit, err)
	}
	if n != len(seen) {
		t.Errorf("PlanDueReminders returned %d, but plan saw %d credentials", n, len(seen))
	}
	return seen
}

func never(rotation.Credential) time.Time { return time.Time{} }

func testPlanDueWhenDue(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b", "cred-c")
	open := f.create(t, "cred-b")
	now := f.clock.Now()

	var openSeen string
	n, err := f.rs.PlanDueReminders(f.ctx, now, 10, func(c rotation.Credential) rotation.ReminderPlan {
		if c.ID == "cred-b" {
			openSeen = c.OpenRotationID
		}
		return rotation.ReminderPlan{NextAt: now.Add(time.Hour)}
	})
	if err != nil || n != 3 {
		t.Fatalf("first PlanDueReminders: planned %d, err %v; want all 3 new credentials", n, err)
	}
	if openSeen != open.ID {
		t.Errorf("plan saw cred-b with OpenRotationID %q, want %q", openSeen, open.ID)
	}

	if got := f.planDue(t, now, 10, never); len(got) != 0 {
		t.Errorf("planned again at once: %v, want none", got)
	}
	if got := f.planDue(t, now.Add(time.Hour-time.Microsecond), 10, never); len(got) != 0 {
		t.Errorf("planned just before the next planning time: %v, want none", got)
	}
	if diff := cmp.Diff([]string{"cred-a", "cred-b", "cred-c"}, f.planDue(t, now.Add(time.Hour), 10, never)); diff != "" {
		t.Errorf("planned at the next planning time (-want +got):\n%s", diff)
	}
}

func testPlanDueOrder(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b", "cred-c")
	now := f.clock.Now()
	nextOf := map[string]time.Duration{"cred-a": 3 * time.Hour, "cred-b": time.Hour, "cred-c": 2 * time.Hour}
	next := func(c rotation.Credential) time.Time { return now.Add(nextOf[c.ID]) }

	if diff := cmp.Diff([]string{"cred-a", "cred-b"}, f.planDue(t, now, 2, next)); diff != "" {
		t.Errorf("first page of new credentials (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cred-c"}, f.planDue(t, now, 2, next)); diff != "" {
		t.Errorf("second page of new credentials (-want +got):\n%s", diff)
	}

	// Earliest planning time first.
	later := now.Add(3 * time.Hour)
	var order []string
	for range 4 {
		order = append(order, f.planDue(t, later, 1, never)...)
	}
	if diff := cmp.Diff([]string{"cred-b", "cred-c", "cred-a"}, order); diff != "" {
		t.Errorf("order by planning time (-want +got):\n%s", diff)
	}
}

func testPlanDueAfterChanges(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b")
	now := f.clock.Now()
	yearLater := now.Add(365 * rotation.Day)
	f.planDue(t, now, 10, never)
	if got := f.planDue(t, yearLater, 10, never); len(got) != 0 {
		t.Fatalf("planned a credential whose plan said never: %v", got)
	}

	// Opening a rotation changes nothing; ending it does.
	r := f.create(t, "cred-a")
	if got := f.planDue(t, yearLater, 10, never); len(got) != 0 {
		t.Errorf("planned after a rotation opened: %v, want none", got)
	}
	if _, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel}}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if diff := cmp.Diff([]string{"cred-a"}, f.planDue(t, yearLater, 10, never)); diff != "" {
		t.Errorf("planned after a cancellation (-want +got):\n%s", diff)
	}

	// A retirement moves the due date.
	b := f.create(t, "cred-b")
	b = f.step(t, b, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
	b = f.step(t, b, rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s1", New: "2"})
	if got := f.planDue(t, yearLater, 10, never); len(got) != 0 {
		t.Errorf("planned while a rotation moved through open states: %v, want none", got)
	}
	f.step(t, b, rotation.StepRetire, rotation.StateOldRetired, b.Versions)
	if diff := cmp.Diff([]string{"cred-b"}, f.planDue(t, yearLater, 10, never)); diff != "" {
		t.Errorf("planned after a retirement (-want +got):\n%s", diff)
	}

	// A sync, even of an unchanged credential: the configuration may have
	// changed its reminder schedule or channels.
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	if diff := cmp.Diff([]string{"cred-a"}, f.planDue(t, yearLater, 10, never)); diff != "" {
		t.Errorf("planned after a sync (-want +got):\n%s", diff)
	}
}

func testPlanDueInserts(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore)
	now := f.clock.Now()
	due := now.Add(3 * rotation.Day)
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{credentialIssued("cred-a", due.Add(-90*rotation.Day))}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	// A 14-day reminder that waits to retry; the 7-day one replaces it.
	f.plan(t, reminder("cred-a", due, 14*rotation.Day, "webhook", rotation.ReminderPending))

	n, err := f.rs.PlanDueReminders(f.ctx, now, 10, func(c rotation.Credential) rotation.ReminderPlan {
		return rotation.ReminderPlan{
			Reminders: []rotation.Reminder{
				reminder(c.ID, due, 14*rotation.Day, "email", rotation.ReminderSkipped),
				reminder(c.ID, due, 7*rotation.Day, "email", rotation.ReminderPending),
				reminder(c.ID, due, 14*rotation.Day, "webhook", rotation.ReminderSkipped),
				reminder(c.ID, due, 7*rotation.Day, "webhook", rotation.ReminderPending),
			},
			NextAt: due.Add(-rotation.Day),
		}
	})
	if err != nil || n != 1 {
		t.Fatalf("PlanDueReminders: planned %d, err %v; want 1, nil", n, err)
	}

	type row struct {
		Key    string
		Status rotation.ReminderStatus
		Reason string
	}
	var got []row
	for _, r := range f.list(t, "cred-a") {
		got = append(got, row{fmt.Sprintf("%s %s", rotation.DescribeOffset(r.BeforeDue), r.Channel), r.Status, r.SkipReason})
	}
	want := []row{
		{"14 days before the due date email", rotation.ReminderSkipped, rotation.SkipMissed},
		{"14 days before the due date webhook", rotation.ReminderSkipped, rotation.SkipSuperseded},
		{"7 days before the due date email", rotation.ReminderPending, ""},
		{"7 days before the due date webhook", rotation.ReminderPending, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reminders after PlanDueReminders (-want +got):\n%s", diff)
	}

	if got := f.planDue(t, due.Add(-rotation.Day-time.Microsecond), 10, never); len(got) != 0 {
		t.Errorf("planned before NextAt: %v, want none", got)
	}
	if diff := cmp.Diff([]string{"cred-a"}, f.planDue(t, due.Add(-rotation.Day), 10, never)); diff != "" {
		t.Errorf("planned at NextAt (-want +got):\n%s", diff)
	}
}

func testPlanDueInvalid(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b")
	now := f.clock.Now()
	due := now.Add(time.Hour)
	good := func(c rotation.Credential) rotation.ReminderPlan {
		return rotation.ReminderPlan{
			Reminders: []rotation.Reminder{reminder(c.ID, due, 0, "email", rotation.ReminderPending)},
			NextAt:    now.Add(time.Hour),
		}
	}
	noChannel := reminder("cred-b", due, 0, "", rotation.ReminderPending)

	cases := map[string]func(c rotation.Credential) rotation.ReminderPlan{
		"next planning time now": func(c rotation.Credential) rotation.ReminderPlan {
			p := good(c)
			if c.ID == "cred-b" {
				p.NextAt = now
			}
			return p
		},
		"reminder of another credential": func(c rotation.Credential) rotation.ReminderPlan {
			p := good(c)
			if c.ID == "cred-b" {
				p.Reminders = append(p.Reminders, reminder("cred-a", due, time.Minute, "email", rotation.ReminderPending))
			}
			return p
		},
		"invalid reminder": func(c rotation.Credential) rotation.ReminderPlan {
			p := good(c)
			if c.ID == "cred-b" {
				p.Reminders = append(p.Reminders, noChannel)
			}
			return p
		},
	}
	for name, plan := range cases {
		if _, err := f.rs.PlanDueReminders(f.ctx, now, 10, plan); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := f.rs.PlanDueReminders(f.ctx, now, 0, good); !errors.Is(err, rotation.ErrInvalid) {
		t.Errorf("limit 0: err = %v, want ErrInvalid", err)
	}

	for _, id := range []string{"cred-a", "cred-b"} {
		if got := f.list(t, id); len(got) != 0 {
			t.Errorf("rejected plans inserted reminders of %s: %v", id, keys(got))
		}
	}
	if diff := cmp.Diff([]string{"cred-a", "cred-b"}, f.planDue(t, now, 10, never)); diff != "" {
		t.Errorf("credentials due after rejected plans (-want +got):\n%s", diff)
	}
}

func testPlanDueConcurrent(t *testing.T, newStore NewStore) {
	var credIDs []string
	for i := range 20 {
		credIDs = append(credIDs, fmt.Sprintf("cred-%02d", i))
	}
	f := setupReminders(t, newStore, credIDs...)
	now := f.clock.Now()

	var (
		mu     sync.Mutex
		visits = make(map[string]int)
		wg     sync.WaitGroup
	)
	const planners = 6
	errs := make([]error, planners)
	for i := range planners {
		wg.Go(func() {
			for {
				n, err := f.rs.PlanDueReminders(f.ctx, now, 3, func(c rotation.Credential) rotation.ReminderPlan {
					mu.Lock()
					visits[c.ID]++
					mu.Unlock()
					return rotation.ReminderPlan{NextAt: now.Add(time.Hour)}
				})
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("planner %d: %v", i, err)
		}
	}
	for _, id := range credIDs {
		if visits[id] != 1 {
			t.Errorf("%s planned %d times by concurrent planners, want once", id, visits[id])
		}
	}
}
