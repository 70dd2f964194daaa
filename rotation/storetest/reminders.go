package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/rotation"
)

// testReminders is the rotation.ReminderStore part of the contract.
func testReminders(t *testing.T, newStore NewStore) {
	t.Run("plan inserts each key once", func(t *testing.T) { t.Parallel(); testPlanOnce(t, newStore) })
	t.Run("concurrent plans insert each key once", func(t *testing.T) { t.Parallel(); testPlanConcurrent(t, newStore) })
	t.Run("plan rejects invalid reminders", func(t *testing.T) { t.Parallel(); testPlanInvalid(t, newStore) })
	t.Run("claim takes due pending reminders", func(t *testing.T) { t.Parallel(); testClaimDue(t, newStore) })
	t.Run("claim honours limit and order", func(t *testing.T) { t.Parallel(); testClaimLimit(t, newStore) })
	t.Run("concurrent claims share nothing", func(t *testing.T) { t.Parallel(); testClaimConcurrent(t, newStore) })
	t.Run("expired lease allows one more claim", func(t *testing.T) { t.Parallel(); testLeaseExpiry(t, newStore) })
	t.Run("retries end in failed", func(t *testing.T) { t.Parallel(); testRetriesFail(t, newStore) })
	t.Run("skipped reminders are never claimed", func(t *testing.T) { t.Parallel(); testSkippedNeverClaimed(t, newStore) })
	t.Run("later reminder replaces a pending one", func(t *testing.T) { t.Parallel(); testSuperseded(t, newStore) })
	t.Run("finish checks its input", func(t *testing.T) { t.Parallel(); testFinishInvalid(t, newStore) })
	t.Run("plan due visits each credential when due", func(t *testing.T) { t.Parallel(); testPlanDueWhenDue(t, newStore) })
	t.Run("plan due honours limit and order", func(t *testing.T) { t.Parallel(); testPlanDueOrder(t, newStore) })
	t.Run("changes make a credential due for planning", func(t *testing.T) { t.Parallel(); testPlanDueAfterChanges(t, newStore) })
	t.Run("plan due inserts the reminders", func(t *testing.T) { t.Parallel(); testPlanDueInserts(t, newStore) })
	t.Run("plan due rejects an invalid plan", func(t *testing.T) { t.Parallel(); testPlanDueInvalid(t, newStore) })
	t.Run("concurrent plan due share nothing", func(t *testing.T) { t.Parallel(); testPlanDueConcurrent(t, newStore) })
}

type reminderFixture struct {
	fixture
	rs rotation.ReminderStore
}

func setupReminders(t *testing.T, newStore NewStore, credIDs ...string) reminderFixture {
	t.Helper()
	f := setup(t, newStore, credIDs...)
	rs, ok := f.store.(rotation.ReminderStore)
	if !ok {
		t.Fatalf("%T does not implement rotation.ReminderStore", f.store)
	}
	return reminderFixture{fixture: f, rs: rs}
}

// reminder returns a reminder for credID at the given offset before due.
func reminder(credID string, due time.Time, before time.Duration, channel string, status rotation.ReminderStatus) rotation.Reminder {
	r := rotation.Reminder{
		ReminderKey: rotation.ReminderKey{CredentialID: credID, DueAt: due, BeforeDue: before, Channel: channel},
		Status:      status,
	}
	if status == rotation.ReminderSkipped {
		r.SkipReason = rotation.SkipMissed
	}
	return r
}

func (f reminderFixture) plan(t *testing.T, rs ...rotation.Reminder) {
	t.Helper()
	if err := f.rs.PlanReminders(f.ctx, rs); err != nil {
		t.Fatalf("PlanReminders: %v", err)
	}
}

func (f reminderFixture) list(t *testing.T, credID string) []rotation.Reminder {
	t.Helper()
	got, err := f.rs.ListReminders(f.ctx, credID)
	if err != nil {
		t.Fatalf("ListReminders(%s): %v", credID, err)
	}
	return got
}

func (f reminderFixture) claim(t *testing.T, lease time.Duration, limit int) []rotation.Reminder {
	t.Helper()
	got, err := f.rs.ClaimReminders(f.ctx, lease, limit)
	if err != nil {
		t.Fatalf("ClaimReminders: %v", err)
	}
	return got
}

func (f reminderFixture) finish(t *testing.T, r rotation.Reminder, o rotation.ReminderOutcome) {
	t.Helper()
	if err := f.rs.FinishReminder(f.ctx, r, o); err != nil {
		t.Fatalf("FinishReminder(%s, %s): %v", r.ReminderKey, o.Status, err)
	}
}

func keys(rs []rotation.Reminder) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ReminderKey.String()
	}
	return out
}

func testPlanOnce(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	now := f.clock.Now()
	due := now.Add(10 * rotation.Day)
	f.plan(t,
		reminder("cred-a", due, 14*rotation.Day, "email", rotation.ReminderSkipped),
		reminder("cred-a", due, 7*rotation.Day, "email", rotation.ReminderPending),
		reminder("cred-a", due, 14*rotation.Day, "slack", rotation.ReminderSkipped),
		reminder("cred-a", due, 7*rotation.Day, "slack", rotation.ReminderPending),
	)

	key := func(before time.Duration, ch string) rotation.ReminderKey {
		return rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: before, Channel: ch}
	}
	want := []rotation.Reminder{
		{ReminderKey: key(14*rotation.Day, "email"), Status: rotation.ReminderSkipped, SkipReason: rotation.SkipMissed, CreatedAt: now, UpdatedAt: now, FinishedAt: now},
		{ReminderKey: key(14*rotation.Day, "slack"), Status: rotation.ReminderSkipped, SkipReason: rotation.SkipMissed, CreatedAt: now, UpdatedAt: now, FinishedAt: now},
		{ReminderKey: key(7*rotation.Day, "email"), Status: rotation.ReminderPending, NextAttemptAt: due.Add(-7 * rotation.Day), CreatedAt: now, UpdatedAt: now},
		{ReminderKey: key(7*rotation.Day, "slack"), Status: rotation.ReminderPending, NextAttemptAt: due.Add(-7 * rotation.Day), CreatedAt: now, UpdatedAt: now},
	}
	if diff := cmp.Diff(want, f.list(t, "cred-a")); diff != "" {
		t.Errorf("ListReminders after planning (-want +got):\n%s", diff)
	}

	// Planning the same keys again, even with another status, changes nothing.
	f.clock.Advance(time.Hour)
	f.plan(t,
		reminder("cred-a", due, 14*rotation.Day, "email", rotation.ReminderPending),
		reminder("cred-a", due, 7*rotation.Day, "email", rotation.ReminderSkipped),
	)
	if diff := cmp.Diff(want, f.list(t, "cred-a")); diff != "" {
		t.Errorf("ListReminders after planning the same keys again (-want +got):\n%s", diff)
	}

	if got := f.list(t, "cred-unknown"); len(got) != 0 {
		t.Errorf("ListReminders(unknown credential) = %v, want none", keys(got))
	}
}

func testPlanConcurrent(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b")
	due := f.clock.Now().Add(time.Hour)
	var batch []rotation.Reminder
	for _, cred := range []string{"cred-a", "cred-b"} {
		for _, ch := range []string{"email", "slack", "webhook"} {
			batch = append(batch,
				reminder(cred, due, 14*rotation.Day, ch, rotation.ReminderSkipped),
				reminder(cred, due, 1*rotation.Day, ch, rotation.ReminderPending))
		}
	}

	const planners = 6
	errs := make([]error, planners)
	var wg sync.WaitGroup
	for i := range planners {
		wg.Go(func() {
			// Each planner sends the batch in another order.
			rs := append(append([]rotation.Reminder(nil), batch[i:]...), batch[:i]...)
			errs[i] = f.rs.PlanReminders(f.ctx, rs)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("planner %d: %v", i, err)
		}
	}
	for _, cred := range []string{"cred-a", "cred-b"} {
		if got := f.list(t, cred); len(got) != 6 {
			t.Errorf("reminders of %s after concurrent plans: %d, want 6: %v", cred, len(got), keys(got))
		}
	}
}

func testPlanInvalid(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	due := f.clock.Now()
	valid := reminder("cred-a", due, 0, "email", rotation.ReminderPending)

	if err := f.rs.PlanReminders(f.ctx, []rotation.Reminder{valid, reminder("cred-x", due, 0, "email", rotation.ReminderPending)}); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("plan for an unknown credential: err = %v, want ErrNotFound", err)
	}
	if got := f.list(t, "cred-a"); len(got) != 0 {
		t.Errorf("a rejected plan inserted %v, want nothing", keys(got))
	}

	sent := valid
	sent.Status = rotation.ReminderSent
	noReason := valid
	noReason.Status = rotation.ReminderSkipped
	pendingWithReason := valid
	pendingWithReason.SkipReason = "why"
	noChannel := valid
	noChannel.Channel = ""
	noDue := valid
	noDue.DueAt = time.Time{}
	cases := map[string]rotation.Reminder{
		"sent status":              sent,
		"skipped without a reason": noReason,
		"pending with a reason":    pendingWithReason,
		"no channel":               noChannel,
		"no due date":              noDue,
	}
	for name, r := range cases {
		if err := f.rs.PlanReminders(f.ctx, []rotation.Reminder{r}); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("plan with %s: err = %v, want ErrInvalid", name, err)
		}
	}
	if got := f.list(t, "cred-a"); len(got) != 0 {
		t.Errorf("rejected plans inserted %v, want nothing", keys(got))
	}
}

func testClaimDue(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	due := f.clock.Now().Add(3 * rotation.Day)
	f.plan(t,
		reminder("cred-a", due, 14*rotation.Day, "email", rotation.ReminderSkipped),
		reminder("cred-a", due, 7*rotation.Day, "email", rotation.ReminderPending),
		reminder("cred-a", due, 1*rotation.Day, "email", rotation.ReminderPending), // in two days
	)

	const lease = 5 * time.Minute
	got := f.claim(t, lease, 10)
	if len(got) != 1 || got[0].BeforeDue != 7*rotation.Day {
		t.Fatalf("first claim = %v, want the 7-day reminder only", keys(got))
	}
	c := got[0]
	wantLease := f.clock.Now().Add(lease)
	if c.Status != rotation.ReminderSending || c.Attempts != 1 || !c.LeaseUntil.Equal(wantLease) || !c.NextAttemptAt.Equal(wantLease) {
		t.Errorf("claimed reminder: status %s, attempts %d, lease until %v, next attempt %v; want sending, 1, %v, %v",
			c.Status, c.Attempts, c.LeaseUntil, c.NextAttemptAt, wantLease, wantLease)
	}
	if diff := cmp.Diff(c, f.list(t, "cred-a")[1]); diff != "" {
		t.Errorf("stored reminder differs from the claimed one (-claim +list):\n%s", diff)
	}

	f.clock.Advance(lease - time.Second)
	if got := f.claim(t, lease, 10); len(got) != 0 {
		t.Errorf("claim while the lease holds = %v, want none", keys(got))
	}

	f.finish(t, c, rotation.ReminderOutcome{Status: rotation.ReminderSent})
	f.clock.Advance(2 * rotation.Day)
	got = f.claim(t, lease, 10)
	if len(got) != 1 || got[0].BeforeDue != rotation.Day {
		t.Errorf("claim two days later = %v, want the 1-day reminder only", keys(got))
	}
}

func testClaimLimit(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b")
	now := f.clock.Now()
	f.plan(t,
		reminder("cred-b", now.Add(2*time.Hour), 3*time.Hour, "email", rotation.ReminderPending), // due an hour ago
		reminder("cred-a", now.Add(time.Hour), 3*time.Hour, "email", rotation.ReminderPending),   // due two hours ago
		reminder("cred-a", now, 0, "email", rotation.ReminderPending),                            // due now
	)
	got := f.claim(t, time.Minute, 2)
	want := []string{
		rotation.ReminderKey{CredentialID: "cred-a", DueAt: now.Add(time.Hour), BeforeDue: 3 * time.Hour, Channel: "email"}.String(),
		rotation.ReminderKey{CredentialID: "cred-b", DueAt: now.Add(2 * time.Hour), BeforeDue: 3 * time.Hour, Channel: "email"}.String(),
	}
	if diff := cmp.Diff(want, keys(got)); diff != "" {
		t.Errorf("claim with limit 2 (-want +got):\n%s", diff)
	}
	if got := f.claim(t, time.Minute, 2); len(got) != 1 || got[0].CredentialID != "cred-a" || got[0].BeforeDue != 0 {
		t.Errorf("second claim = %v, want the reminder due now", keys(got))
	}

	if _, err := f.rs.ClaimReminders(f.ctx, 0, 1); !errors.Is(err, rotation.ErrInvalid) {
		t.Errorf("claim with no lease: err = %v, want ErrInvalid", err)
	}
	if _, err := f.rs.ClaimReminders(f.ctx, time.Minute, 0); !errors.Is(err, rotation.ErrInvalid) {
		t.Errorf("claim with limit 0: err = %v, want ErrInvalid", err)
	}
}

func testClaimConcurrent(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	due := f.clock.Now()
	var batch []rotation.Reminder
	for i := range 24 {
		batch = append(batch, reminder("cred-a", due, 0, fmt.Sprintf("channel-%02d", i), rotation.ReminderPending))
	}
	f.plan(t, batch...)

	const claimants = 6
	claimed := make([][]rotation.Reminder, claimants)
	errs := make([]error, claimants)
	var wg sync.WaitGroup
	for i := range claimants {
		wg.Go(func() {
			// More rounds than there are reminders, so a store that hands
			// out leased rows again cannot loop for ever.
			for range len(batch) + 1 {
				got, err := f.rs.ClaimReminders(f.ctx, time.Hour, 3)
				if err != nil || len(got) == 0 {
					errs[i] = err
					return
				}
				claimed[i] = append(claimed[i], got...)
			}
		})
	}
	wg.Wait()

	seen := make(map[string]int)
	for i := range claimants {
		if errs[i] != nil {
			t.Errorf("claimant %d: %v", i, errs[i])
		}
		for _, r := range claimed[i] {
			seen[r.Channel]++
		}
	}
	for _, r := range batch {
		if n := seen[r.Channel]; n != 1 {
			t.Errorf("reminder on %s claimed %d times, want once", r.Channel, n)
		}
	}
}

func testLeaseExpiry(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	f.plan(t, reminder("cred-a", f.clock.Now(), 0, "webhook", rotation.ReminderPending))

	const lease = 2 * time.Minute
	first := f.claim(t, lease, 10)
	if len(first) != 1 {
		t.Fatalf("first claim = %v, want one reminder", keys(first))
	}

	// The first claimant dies without reporting. Its lease expires.
	f.clock.Advance(lease)
	second := f.claim(t, lease, 10)
	if len(second) != 1 || second[0].ReminderKey != first[0].ReminderKey || second[0].Attempts != 2 {
		t.Fatalf("claim after the lease expired = %v (attempts %d), want the same reminder at attempt 2", keys(second), attemptsOf(second))
	}
	if got, want := second[0].IdempotencyKey(), first[0].IdempotencyKey(); got != want {
		t.Errorf("idempotency key after reclaim = %s, want %s", got, want)
	}

	// The first claimant's late report loses; the second one's wins.
	if err := f.rs.FinishReminder(f.ctx, first[0], rotation.ReminderOutcome{Status: rotation.ReminderSent}); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("finish by the expired claim: err = %v, want ErrConflict", err)
	}
	f.finish(t, second[0], rotation.ReminderOutcome{Status: rotation.ReminderSent})

	f.clock.Advance(24 * time.Hour)
	if got := f.claim(t, lease, 10); len(got) != 0 {
		t.Errorf("claim after the reminder was sent = %v, want none", keys(got))
	}
	got := f.list(t, "cred-a")[0]
	if got.Status != rotation.ReminderSent || got.Attempts != 2 || !got.LeaseUntil.IsZero() || !got.NextAttemptAt.IsZero() || got.FinishedAt.IsZero() {
		t.Errorf("sent reminder: status %s, attempts %d, lease %v, next attempt %v, finished %v",
			got.Status, got.Attempts, got.LeaseUntil, got.NextAttemptAt, got.FinishedAt)
	}
	if err := f.rs.FinishReminder(f.ctx, second[0], rotation.ReminderOutcome{Status: rotation.ReminderSent}); !errors.Is(err, rotation.ErrConflict) {
		t.Errorf("second finish of the same claim: err = %v, want ErrConflict", err)
	}
}

func attemptsOf(rs []rotation.Reminder) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Attempts
	}
	return out
}

func testRetriesFail(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a", "cred-b")
	f.plan(t, reminder("cred-a", f.clock.Now(), 0, "email", rotation.ReminderPending))

	const maxAttempts = 3
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		got := f.claim(t, time.Minute, 10)
		if len(got) != 1 || got[0].Attempts != attempt {
			t.Fatalf("claim %d = %v (attempts %v), want the reminder at attempt %d", attempt, keys(got), attemptsOf(got), attempt)
		}
		if attempt == maxAttempts {
			f.finish(t, got[0], rotation.ReminderOutcome{Status: rotation.ReminderFailed, Error: "smtp: 554 rejected"})
			break
		}
		delay := time.Duration(attempt) * 10 * time.Minute
		f.finish(t, got[0], rotation.ReminderOutcome{Status: rotation.ReminderPending, Error: fmt.Sprintf("smtp: 451 try later (%d)", attempt), RetryAfter: delay})

		stored := f.list(t, "cred-a")[0]
		if stored.Status != rotation.ReminderPending || !stored.NextAttemptAt.Equal(f.clock.Now().Add(delay)) || stored.LastError != fmt.Sprintf("smtp: 451 try later (%d)", attempt) {
			t.Errorf("after attempt %d: status %s, next attempt %v, last error %q", attempt, stored.Status, stored.NextAttemptAt, stored.LastError)
		}
		f.clock.Advance(delay - time.Second)
		if got := f.claim(t, time.Minute, 10); len(got) != 0 {
			t.Fatalf("claim during the retry delay = %v, want none", keys(got))
		}
		f.clock.Advance(time.Second)
	}

	got := f.list(t, "cred-a")[0]
	if got.Status != rotation.ReminderFailed || got.Attempts != maxAttempts || got.LastError != "smtp: 554 rejected" || got.FinishedAt.IsZero() {
		t.Errorf("failed reminder: status %s, attempts %d, last error %q, finished %v", got.Status, got.Attempts, got.LastError, got.FinishedAt)
	}
	f.clock.Advance(rotation.Day)
	if got := f.claim(t, time.Minute, 10); len(got) != 0 {
		t.Errorf("claim after failure = %v, want none", keys(got))
	}
	counts, err := f.rs.CountFailedReminders(f.ctx)
	if err != nil {
		t.Fatalf("CountFailedReminders: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"cred-a": 1}, counts); diff != "" {
		t.Errorf("CountFailedReminders (-want +got):\n%s", diff)
	}
}

func testSkippedNeverClaimed(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	due := f.clock.Now()
	f.plan(t,
		reminder("cred-a", due, 7*rotation.Day, "email", rotation.ReminderSkipped),
		reminder("cred-a", due, 0, "email", rotation.ReminderSkipped),
	)
	for _, advance := range []time.Duration{0, rotation.Day, 365 * rotation.Day} {
		f.clock.Advance(advance)
		if got := f.claim(t, time.Minute, 10); len(got) != 0 {
			t.Errorf("claim %v later = %v, want none", advance, keys(got))
		}
	}
	for _, r := range f.list(t, "cred-a") {
		if r.Status != rotation.ReminderSkipped || r.Attempts != 0 {
			t.Errorf("reminder %s: status %s, attempts %d; want skipped, 0", r.ReminderKey, r.Status, r.Attempts)
		}
	}
}

func testSuperseded(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	due := f.clock.Now().Add(14 * rotation.Day)
	f.plan(t,
		reminder("cred-a", due, 14*rotation.Day, "email", rotation.ReminderPending),
		reminder("cred-a", due, 14*rotation.Day, "slack", rotation.ReminderPending),
	)
	// The slack reminder is being sent; the e-mail one waits to retry.
	for _, r := range f.claim(t, 30*rotation.Day, 10) {
		if r.Channel == "email" {
			f.finish(t, r, rotation.ReminderOutcome{Status: rotation.ReminderPending, Error: "smtp: 451", RetryAfter: 30 * rotation.Day})
		}
	}

	// A later reminder planned before its time replaces nothing yet.
	f.plan(t, reminder("cred-a", due, 7*rotation.Day, "email", rotation.ReminderPending))
	if got := f.list(t, "cred-a")[0]; got.Channel != "email" || got.Status != rotation.ReminderPending {
		t.Errorf("e-mail reminder before the 7-day one is due: %s is %s, want pending", got.ReminderKey, got.Status)
	}

	f.clock.Advance(7 * rotation.Day)
	f.plan(t,
		reminder("cred-a", due, 7*rotation.Day, "email", rotation.ReminderPending),
		reminder("cred-a", due, 7*rotation.Day, "slack", rotation.ReminderPending),
	)
	status := make(map[string]rotation.Reminder)
	for _, r := range f.list(t, "cred-a") {
		status[fmt.Sprintf("%s %s", rotation.DescribeOffset(r.BeforeDue), r.Channel)] = r
	}
	if got := status["14 days before the due date email"]; got.Status != rotation.ReminderSkipped || got.SkipReason != rotation.SkipSuperseded || got.LastError != "smtp: 451" {
		t.Errorf("replaced e-mail reminder: status %s, skip reason %q, last error %q; want skipped, %q, kept", got.Status, got.SkipReason, got.LastError, rotation.SkipSuperseded)
	}
	if got := status["14 days before the due date slack"]; got.Status != rotation.ReminderSending {
		t.Errorf("slack reminder being sent: status %s, want sending", got.Status)
	}
	got := f.claim(t, time.Hour, 10)
	if len(got) != 2 || got[0].BeforeDue != 7*rotation.Day || got[1].BeforeDue != 7*rotation.Day {
		t.Errorf("claim = %v, want the two 7-day reminders", keys(got))
	}
}

func testFinishInvalid(t *testing.T, newStore NewStore) {
	f := setupReminders(t, newStore, "cred-a")
	f.plan(t, reminder("cred-a", f.clock.Now(), 0, "email", rotation.ReminderPending))
	claimed := f.claim(t, time.Minute, 1)
	if len(claimed) != 1 {
		t.Fatalf("claim = %v, want one reminder", keys(claimed))
	}
	r := claimed[0]

	cases := map[string]rotation.ReminderOutcome{
		"failed without an error":  {Status: rotation.ReminderFailed},
		"skipped without a reason": {Status: rotation.ReminderSkipped},
		"negative retry delay":     {Status: rotation.ReminderPending, RetryAfter: -time.Second},
		"sending":                  {Status: rotation.ReminderSending},
	}
	for name, o := range cases {
		if err := f.rs.FinishReminder(f.ctx, r, o); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("finish with %s: err = %v, want ErrInvalid", name, err)
		}
	}
	if got := f.list(t, "cred-a")[0]; got.Status != rotation.ReminderSending || got.Attempts != 1 {
		t.Errorf("after rejected outcomes: status %s, attempts %d; want sending, 1", got.Status, got.Attempts)
	}

	unknown := r
	unknown.Channel = "pager"
	if err := f.rs.FinishReminder(f.ctx, unknown, rotation.ReminderOutcome{Status: rotation.ReminderSent}); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("finish an unknown reminder: err = %v, want ErrNotFound", err)
	}

	f.finish(t, r, rotation.ReminderOutcome{Status: rotation.ReminderSkipped, SkipReason: "rotation 42 is open"})
	got := f.list(t, "cred-a")[0]
	if got.Status != rotation.ReminderSkipped || got.SkipReason != "rotation 42 is open" || got.FinishedAt.IsZero() {
		t.Errorf("skipped by the claimant: status %s, reason %q, finished %v", got.Status, got.SkipReason, got.FinishedAt)
	}
}
