package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/scheduler"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secretstore"
)

const day = rotation.Day

// delivery is one call of the recording sender.
type delivery struct {
	By      string // the scheduler that sent it
	Channel string
	Key     string
	Message scheduler.Message
}

// recorder is a channel that accepts every message and remembers it, or
// fails with the error that fail returns.
type recorder struct {
	mu       sync.Mutex
	sent     []delivery
	attempts int
	fail     func(channel string) error
}

func (r *recorder) sender(by string) scheduler.Sender {
	return scheduler.SenderFunc(func(ctx context.Context, channel string, m scheduler.Message, key string) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.attempts++
		if r.fail != nil {
			if err := r.fail(channel); err != nil {
				return err
			}
		}
		r.sent = append(r.sent, delivery{By: by, Channel: channel, Key: key, Message: m})
		return nil
	})
}

func (r *recorder) setFail(fail func(channel string) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = fail
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func (r *recorder) attemptCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// summary is what a test compares of a delivery: which reminder went
// where.
type summary struct {
	Credential string
	BeforeDue  time.Duration
	Channel    string
}

func summarize(ds []delivery) []summary {
	out := make([]summary, len(ds))
	for i, d := range ds {
		out[i] = summary{d.Message.CredentialID, d.Message.BeforeDue, d.Channel}
	}
	return out
}

type fixture struct {
	store scheduler.Store
	clock *storetest.Clock
	rec   *recorder
	log   *testlog.Buffer
	ctx   context.Context
	// pools opens another connection pool on the same database, as another
	// rotor process would; nil for the memory store.
	pool func() scheduler.Store
}

type storeKind string

const (
	postgres storeKind = "postgres"
	memory   storeKind = "memory"
)

// setup returns a store of the given kind holding the credentials, a fake
// clock at the moment they were created, and a recording sender.
func setup(t *testing.T, kind storeKind, credIDs ...string) fixture {
	t.Helper()
	f := fixture{clock: storetest.NewClock(), rec: &recorder{}, log: testlog.New(t), ctx: context.Background()}
	switch kind {
	case postgres:
		pool := pgtest.NewPool(t)
		f.store = pgstore.New(pool, f.clock.Now)
		schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
		f.pool = func() scheduler.Store {
			other, err := pgtest.Open(f.ctx, pgtest.URL(), schema)
			if err != nil {
				t.Fatalf("open another pool on schema %s: %v", schema, err)
			}
			t.Cleanup(other.Close)
			return pgstore.New(other, f.clock.Now)
		}
	case memory:
		f.store = memstore.New(f.clock.Now)
	}
	var creds []rotation.Credential
	for _, id := range credIDs {
		creds = append(creds, storetest.Credential(id))
	}
	if err := f.store.(rotation.Store).SyncCredentials(f.ctx, creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	return f
}

// scheduler returns a scheduler named by on store, sending to e-mail and a
// webhook for every credential.
func (f fixture) scheduler(t *testing.T, by string, store scheduler.Store) *scheduler.Scheduler {
	t.Helper()
	return &scheduler.Scheduler{
		Store:    store,
		Sender:   f.rec.sender(by),
		Channels: func(string) []string { return []string{"email", "webhook"} },
		Now:      f.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), f.log), &slog.HandlerOptions{Level: slog.LevelDebug})).With("scheduler", by),
	}
}

// advanceTo moves the clock to the given offset before the credentials'
// due date: they were all created at the clock's start, 90 days before it.
func (f fixture) advanceTo(t *testing.T, start time.Time, beforeDue time.Duration) {
	t.Helper()
	target := start.Add(90 * day).Add(-beforeDue)
	if d := target.Sub(f.clock.Now()); d < 0 {
		t.Fatalf("clock is at %v, past %v", f.clock.Now(), target)
	} else {
		f.clock.Advance(d)
	}
}

func tick(t *testing.T, s *scheduler.Scheduler) {
	t.Helper()
	if err := s.Tick(context.Background()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

func (f fixture) reminders(t *testing.T, credID string) map[string]rotation.Reminder {
	t.Helper()
	rs, err := f.store.ListReminders(f.ctx, credID)
	if err != nil {
		t.Fatalf("ListReminders(%s): %v", credID, err)
	}
	out := make(map[string]rotation.Reminder)
	for _, r := range rs {
		out[fmt.Sprintf("%s %s", rotation.DescribeOffset(r.BeforeDue), r.Channel)] = r
	}
	return out
}

// Three rotor processes on one Postgres, ticking at the same moments, send
// each reminder once.
func TestSchedulersShareOnePostgres(t *testing.T) {
	t.Parallel()
	f := setup(t, postgres, "cred-a", "cred-b", "cred-c")
	start := f.clock.Now()
	schedulers := []*scheduler.Scheduler{
		f.scheduler(t, "replica-1", f.pool()),
		f.scheduler(t, "replica-2", f.pool()),
		f.scheduler(t, "replica-3", f.pool()),
	}

	tickAll := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(schedulers))
		for i, s := range schedulers {
			wg.Go(func() {
				for range 3 {
					if err := s.Tick(f.ctx); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica-%d Tick: %v", i+1, err)
			}
		}
	}

	for _, offset := range []time.Duration{14 * day, 7 * day, day, 0} {
		f.advanceTo(t, start, offset)
		tickAll()
	}

	count := make(map[summary]int)
	keys := make(map[string]int)
	for _, d := range f.rec.deliveries() {
		count[summary{d.Message.CredentialID, d.Message.BeforeDue, d.Channel}]++
		keys[d.Key]++
	}
	for _, cred := range []string{"cred-a", "cred-b", "cred-c"} {
		for _, offset := range []time.Duration{14 * day, 7 * day, day, 0} {
			for _, ch := range []string{"email", "webhook"} {
				if n := count[summary{cred, offset, ch}]; n != 1 {
					t.Errorf("%s %s via %s sent %d times, want once", cred, rotation.DescribeOffset(offset), ch, n)
				}
			}
		}
	}
	if got, want := len(keys), 3*4*2; got != want {
		t.Errorf("distinct idempotency keys = %d, want %d", got, want)
	}
	for _, r := range f.reminders(t, "cred-a") {
		if r.Status != rotation.ReminderSent || r.Attempts != 1 {
			t.Errorf("reminder %s: status %s after %d attempts, want sent after 1", r.ReminderKey, r.Status, r.Attempts)
		}
	}
}

// A process that dies after the channel accepted a reminder and before it
// recorded that leaves a lease. Once the lease expires another process sends
// the reminder once more, with the same idempotency key, and nothing else
// twice.
func TestCrashAfterSendResendsOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range []storeKind{postgres, memory} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := setup(t, kind, "cred-a")
			start := f.clock.Now()
			other := f.store
			if f.pool != nil {
				other = f.pool()
			}
			survivor := f.scheduler(t, "survivor", other)
			doomed := f.scheduler(t, "doomed", f.store)
			send := doomed.Sender
			doomed.Sender = scheduler.SenderFunc(func(ctx context.Context, ch string, m scheduler.Message, key string) error {
				if err := send.Send(ctx, ch, m, key); err != nil {
					return err
				}
				runtime.Goexit() // the process dies here, before recording the send
				return nil
			})

			f.advanceTo(t, start, 14*day)
			died := make(chan struct{})
			go func() {
				defer close(died)
				_ = doomed.Tick(f.ctx)
				t.Error("doomed scheduler's Tick returned; it should have died in the sender")
			}()
			<-died

			first := f.rec.deliveries()
			if len(first) != 1 || first[0].By != "doomed" {
				t.Fatalf("deliveries before the crash = %+v, want one by the doomed scheduler", summarize(first))
			}

			// Both of its claims still hold: nothing goes out yet.
			tick(t, survivor)
			if got := f.rec.deliveries(); len(got) != 1 {
				t.Fatalf("deliveries while the dead scheduler's lease holds = %+v, want only the first", summarize(got))
			}

			f.clock.Advance(scheduler.DefaultLease)
			tick(t, survivor)
			f.clock.Advance(day)
			tick(t, survivor)

			got := f.rec.deliveries()
			byKey := make(map[string][]delivery)
			for _, d := range got {
				byKey[d.Key] = append(byKey[d.Key], d)
			}
			if len(got) != 3 || len(byKey) != 2 {
				t.Fatalf("deliveries = %+v, want 3 for 2 reminders", summarize(got))
			}
			resent := byKey[first[0].Key]
			if len(resent) != 2 || resent[1].By != "survivor" || resent[1].Channel != first[0].Channel {
				t.Errorf("reminder sent before the crash: deliveries %+v, want one resend by the survivor on %s", resent, first[0].Channel)
			}
			for key, ds := range byKey {
				if key != first[0].Key && (len(ds) != 1 || ds[0].By != "survivor") {
					t.Errorf("reminder claimed but not sent before the crash: deliveries %+v, want one by the survivor", ds)
				}
			}
			for name, r := range f.reminders(t, "cred-a") {
				if r.Status != rotation.ReminderSent || r.Attempts != 2 {
					t.Errorf("%s: status %s after %d attempts, want sent after 2", name, r.Status, r.Attempts)
				}
			}
		})
	}
}

// rotor is down from 15 days before the due date to 2 days before: on start
// the 7-day reminder goes out once, the 14-day one is recorded as skipped,
// and the 1-day one goes out on time.
func TestDowntimeSendsLatestMissedReminder(t *testing.T) {
	t.Parallel()
	for _, kind := range []storeKind{postgres, memory} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := setup(t, kind, "cred-a")
			start := f.clock.Now()
			s := f.scheduler(t, "replica-1", f.store)
			s.Channels = func(string) []string { return []string{"email"} }

			f.advanceTo(t, start, 15*day)
			tick(t, s)
			if got := f.rec.deliveries(); len(got) != 0 {
				t.Fatalf("deliveries 15 days before the due date = %+v, want none", summarize(got))
			}

			// Down for 13 days.
			f.advanceTo(t, start, 2*day)
			tick(t, s)
			tick(t, s)
			want := []summary{{"cred-a", 7 * day, "email"}}
			if diff := cmp.Diff(want, summarize(f.rec.deliveries())); diff != "" {
				t.Errorf("deliveries after the downtime (-want +got):\n%s", diff)
			}
			history := f.reminders(t, "cred-a")
			if r := history["14 days before the due date email"]; r.Status != rotation.ReminderSkipped || r.SkipReason != rotation.SkipMissed || r.Attempts != 0 {
				t.Errorf("14-day reminder: status %s, reason %q, attempts %d; want skipped as missed, never attempted", r.Status, r.SkipReason, r.Attempts)
			}
			if r := history["7 days before the due date email"]; r.Status != rotation.ReminderSent {
				t.Errorf("7-day reminder: status %s, want sent", r.Status)
			}

			f.advanceTo(t, start, day)
			tick(t, s)
			want = append(want, summary{"cred-a", day, "email"})
			if diff := cmp.Diff(want, summarize(f.rec.deliveries())); diff != "" {
				t.Errorf("deliveries at the 1-day reminder (-want +got):\n%s", diff)
			}

			cred, err := f.store.GetCredential(f.ctx, "cred-a")
			if err != nil {
				t.Fatalf("GetCredential: %v", err)
			}
			for _, d := range f.rec.deliveries() {
				if !d.Message.DueAt.Equal(cred.NextDueAt()) {
					t.Errorf("message due date %v, want the credential's NextDueAt %v", d.Message.DueAt, cred.NextDueAt())
				}
			}
		})
	}
}

// retire takes a new rotation of credID through to old_retired, as the
// service would.
func retire(t *testing.T, f fixture, credID string) {
	t.Helper()
	st := f.store.(rotation.Store)
	r, err := st.CreateRotation(f.ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: credID, Kind: rotation.KindScheduled, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest})
	if err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}
	steps := []struct {
		step     rotation.Step
		to       rotation.State
		versions secretstore.Versions
		action   rotation.Action
	}{
		{rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s2"}, rotation.ActionIssue},
		{rotation.StepPromote, rotation.StateDualActive, secretstore.Versions{Old: "1", Staged: "s2", New: "2"}, rotation.ActionPromote},
		{rotation.StepRetire, rotation.StateOldRetired, secretstore.Versions{Old: "1", New: "2"}, rotation.ActionRetire},
	}
	for _, s := range steps {
		r, err = st.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, NewStep: s.step, StepBy: "alice"})
		if err != nil {
			t.Fatalf("start %s: %v", s.step, err)
		}
		v := s.versions
		r, err = st.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, Step: s.step, To: s.to, Versions: &v,
			Event: &rotation.Event{Actor: "alice", Action: s.action}})
		if err != nil {
			t.Fatalf("complete %s: %v", s.step, err)
		}
	}
}

// No reminder goes out while a rotation of the credential is open, not even
// one planned before it opened. After retirement the due date moves and the
// reminders of the new one follow.
func TestOpenRotationStopsReminders(t *testing.T) {
	t.Parallel()
	for _, kind := range []storeKind{postgres, memory} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := setup(t, kind, "cred-a")
			start := f.clock.Now()
			s := f.scheduler(t, "replica-1", f.store)
			s.Channels = func(string) []string { return []string{"email"} }

			f.advanceTo(t, start, 14*day)
			tick(t, s)

			// The 7-day reminder fails once and waits to retry; meanwhile an
			// operator opens a rotation.
			f.advanceTo(t, start, 7*day)
			f.rec.setFail(func(string) error { return errors.New("smtp: 451 4.7.1 try again later") })
			tick(t, s)
			f.rec.setFail(nil)
			st := f.store.(rotation.Store)
			open, err := st.CreateRotation(f.ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindScheduled, RequestedBy: "alice"},
				rotation.Event{Actor: "alice", Action: rotation.ActionRequest})
			if err != nil {
				t.Fatalf("CreateRotation: %v", err)
			}
			f.clock.Advance(time.Hour)
			tick(t, s)
			f.advanceTo(t, start, day)
			tick(t, s)
			f.advanceTo(t, start, -8*day)
			tick(t, s)

			want := []summary{{"cred-a", 14 * day, "email"}}
			if diff := cmp.Diff(want, summarize(f.rec.deliveries())); diff != "" {
				t.Errorf("deliveries with a rotation open (-want +got):\n%s", diff)
			}
			history := f.reminders(t, "cred-a")
			if r := history["7 days before the due date email"]; r.Status != rotation.ReminderSkipped || !strings.Contains(r.SkipReason, open.ID) {
				t.Errorf("7-day reminder: status %s, reason %q; want skipped naming rotation %s", r.Status, r.SkipReason, open.ID)
			}
			if len(history) != 2 {
				t.Errorf("reminders planned while the rotation was open: %d rows, want the 14- and 7-day ones only", len(history))
			}

			// Cancel it and retire in a new rotation: the due date moves 90
			// days past the retirement.
			if _, err := st.Apply(f.ctx, rotation.Change{RotationID: open.ID, From: open.State, Version: open.Version, To: rotation.StateCancelled,
				Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel}}); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			retire(t, f, "cred-a")
			retiredAt := f.clock.Now()
			tick(t, s)
			f.clock.Advance(76 * day)
			tick(t, s)

			got := f.rec.deliveries()
			if len(got) != 2 {
				t.Fatalf("deliveries after retirement = %+v, want the old and the new 14-day reminder", summarize(got))
			}
			if want := retiredAt.Add(90 * day); !got[1].Message.DueAt.Equal(want) || got[1].Message.BeforeDue != 14*day {
				t.Errorf("reminder after retirement: due %v, %s; want due %v, 14 days before", got[1].Message.DueAt, rotation.DescribeOffset(got[1].Message.BeforeDue), want)
			}
			if got[1].Key == got[0].Key {
				t.Errorf("the new due date's reminder reuses idempotency key %s", got[0].Key)
			}
		})
	}
}

// A failing channel is retried with backoff, a bounded number of times;
// then the reminder is failed and counted. The stored error and the logs
// keep the webhook's host and drop its secret path.
func TestFailingChannelEndsFailed(t *testing.T) {
	t.Parallel()
	for _, kind := range []storeKind{postgres, memory} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			// The webhook's secret path is the canary, percent-encoded as
			// net/http sends it.
			token := url.PathEscape(canary.Value.Reveal())
			f := setup(t, kind, "cred-a")
			start := f.clock.Now()
			s := f.scheduler(t, "replica-1", f.store)
			s.MaxAttempts = 3
			f.rec.setFail(func(ch string) error {
				return fmt.Errorf("post reminder to %s: %w", ch, &url.Error{Op: "Post", URL: "https://hooks.example.test/services/" + token + "?sig=" + token, Err: errors.New("connection refused")})
			})

			f.advanceTo(t, start, 14*day)
			tick(t, s) // attempt 1
			tick(t, s) // within the backoff: nothing
			if got := f.rec.attemptCount(); got != 2 {
				t.Errorf("send attempts after the first tick = %d, want 2 (one per channel)", got)
			}
			f.clock.Advance(scheduler.DefaultBackoff(1))
			tick(t, s) // attempt 2
			f.clock.Advance(scheduler.DefaultBackoff(2) - time.Second)
			tick(t, s) // within the backoff: nothing
			if got := f.rec.attemptCount(); got != 4 {
				t.Errorf("send attempts before the second backoff ends = %d, want 4", got)
			}
			f.clock.Advance(time.Second)
			tick(t, s) // attempt 3, the last
			f.clock.Advance(day)
			tick(t, s)
			if got := f.rec.attemptCount(); got != 6 {
				t.Errorf("send attempts in all = %d, want 6 (3 per channel)", got)
			}

			for name, r := range f.reminders(t, "cred-a") {
				if r.Status != rotation.ReminderFailed || r.Attempts != 3 {
					t.Errorf("%s: status %s after %d attempts, want failed after 3", name, r.Status, r.Attempts)
				}
				if _, found := canary.Find(r.LastError); found || !strings.Contains(r.LastError, "https://hooks.example.test/") || !strings.Contains(r.LastError, "connection refused") {
					t.Errorf("%s: last error %q, want the host and the cause without the secret path", name, r.LastError)
				}
			}
			counts, err := f.store.CountFailedReminders(f.ctx)
			if err != nil {
				t.Fatalf("CountFailedReminders: %v", err)
			}
			if diff := cmp.Diff(map[string]int{"cred-a": 2}, counts); diff != "" {
				t.Errorf("CountFailedReminders (-want +got):\n%s", diff)
			}
			logs := f.log.String()
			if form, found := canary.Find(logs); found {
				t.Errorf("logs contain the webhook's secret path (%s form)", form)
			}
			if !strings.Contains(logs, "reminder failed") {
				t.Errorf("logs lack the failure:\n%s", logs)
			}
		})
	}
}

// A permanent failure (an archived channel, a rejected recipient) fails
// the reminder at once; a Retry-After hint stretches the backoff.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	f := setup(t, memory, "cred-a")
	start := f.clock.Now()
	s := f.scheduler(t, "replica-1", f.store)
	f.rec.setFail(func(ch string) error {
		if ch == "email" {
			return fmt.Errorf("send to %s: recipient rejected: %w", ch, scheduler.ErrPermanent)
		}
		return &scheduler.RetryAfterError{Err: errors.New("HTTP 429"), After: 6 * time.Hour}
	})

	f.advanceTo(t, start, 14*day)
	tick(t, s)
	f.clock.Advance(scheduler.DefaultBackoff(1))
	tick(t, s) // the webhook waits for its Retry-After; the e-mail is done
	if got := f.rec.attemptCount(); got != 2 {
		t.Errorf("send attempts = %d, want 2: no retry of the permanent failure, none before Retry-After", got)
	}
	reminders := f.reminders(t, "cred-a")
	if len(reminders) != 2 {
		t.Fatalf("reminders = %d, want one per channel", len(reminders))
	}
	for name, r := range reminders {
		switch {
		case strings.Contains(name, "email") && (r.Status != rotation.ReminderFailed || r.Attempts != 1):
			t.Errorf("%s: status %s after %d attempts, want failed after 1", name, r.Status, r.Attempts)
		case strings.Contains(name, "webhook") && r.Status != rotation.ReminderPending:
			t.Errorf("%s: status %s, want pending until the Retry-After passes", name, r.Status)
		}
	}
}

// The last attempt's lease expires without an outcome: the reminder is
// failed, not sent again.
func TestExpiredLastAttemptFails(t *testing.T) {
	t.Parallel()
	f := setup(t, memory, "cred-a")
	start := f.clock.Now()
	s := f.scheduler(t, "replica-1", f.store)
	s.MaxAttempts = 1
	s.Channels = func(string) []string { return []string{"email"} }

	f.advanceTo(t, start, 14*day)
	cred, err := f.store.GetCredential(f.ctx, "cred-a")
	if err != nil {
		t.Fatalf("GetCredential: %v", err)
	}
	if err := f.store.PlanReminders(f.ctx, rotation.RemindersDue(cred, rotation.DefaultReminderSchedule(), []string{"email"}, f.clock.Now())); err != nil {
		t.Fatalf("PlanReminders: %v", err)
	}
	if _, err := f.store.ClaimReminders(f.ctx, scheduler.DefaultLease, 10); err != nil {
		t.Fatalf("ClaimReminders: %v", err)
	}

	f.clock.Advance(scheduler.DefaultLease)
	tick(t, s)
	if got := f.rec.deliveries(); len(got) != 0 {
		t.Errorf("deliveries = %+v, want none after the last attempt's lease expired", summarize(got))
	}
	r := f.reminders(t, "cred-a")["14 days before the due date email"]
	if r.Status != rotation.ReminderFailed || !strings.Contains(r.LastError, "lease") {
		t.Errorf("reminder: status %s, last error %q; want failed for the expired lease", r.Status, r.LastError)
	}
}

func TestStartSendsAtOnceAndStops(t *testing.T) {
	t.Parallel()
	f := setup(t, memory, "cred-a")
	start := f.clock.Now()
	s := f.scheduler(t, "replica-1", f.store)
	s.Interval = time.Hour
	sent := make(chan struct{}, 10)
	send := s.Sender
	s.Sender = scheduler.SenderFunc(func(ctx context.Context, ch string, m scheduler.Message, key string) error {
		err := send.Send(ctx, ch, m, key)
		sent <- struct{}{}
		return err
	})

	s.Stop() // before Start: returns at once
	f.advanceTo(t, start, 7*day)
	s.Start(f.ctx)
	select {
	case <-sent:
		t.Fatalf("a scheduler stopped before Start sent a reminder")
	default:
	}

	s = f.scheduler(t, "replica-2", f.store)
	s.Interval = time.Hour
	s.Sender = scheduler.SenderFunc(func(ctx context.Context, ch string, m scheduler.Message, key string) error {
		err := send.Send(ctx, ch, m, key)
		sent <- struct{}{}
		return err
	})
	s.Start(f.ctx)
	for range 2 {
		select {
		case <-sent:
		case <-time.After(10 * time.Second):
			t.Fatalf("no reminder sent within 10s of Start")
		}
	}
	s.Stop()
	s.Stop()
	if got := len(f.rec.deliveries()); got != 2 {
		t.Errorf("deliveries = %d, want 2 (the 7-day reminder on each channel)", got)
	}
	if logs := f.log.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("logs contain an error:\n%s", logs)
	}
}

// Cancelling the context mid-send ends the loop without an error in the
// log. The interrupted reminder and the rest of the batch go back to
// pending for the next scheduler.
func TestCancelMidSendIsNotAnError(t *testing.T) {
	t.Parallel()
	f := setup(t, memory, "cred-a")
	start := f.clock.Now()
	s := f.scheduler(t, "replica-1", f.store)
	s.Interval = time.Hour
	sending := make(chan struct{})
	var once sync.Once
	s.Sender = scheduler.SenderFunc(func(ctx context.Context, ch string, m scheduler.Message, key string) error {
		once.Do(func() { close(sending) })
		<-ctx.Done()
		return fmt.Errorf("send to %s: %w", ch, ctx.Err())
	})

	f.advanceTo(t, start, 7*day)
	ctx, cancel := context.WithCancel(f.ctx)
	s.Start(ctx)
	<-sending
	cancel()
	s.Stop()

	if logs := f.log.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("logs after cancellation contain a warning or an error:\n%s", logs)
	}
	for name, r := range f.reminders(t, "cred-a") {
		if name == "14 days before the due date email" || name == "14 days before the due date webhook" {
			continue
		}
		if r.Status != rotation.ReminderPending || r.Attempts != 1 {
			t.Errorf("%s after cancellation: status %s, attempts %d; want pending after 1", name, r.Status, r.Attempts)
		}
	}
}

func TestTickNeedsStoreSenderAndChannels(t *testing.T) {
	t.Parallel()
	f := setup(t, memory, "cred-a")
	full := f.scheduler(t, "replica-1", f.store)
	cases := map[string]func(s *scheduler.Scheduler){
		"no store":                 func(s *scheduler.Scheduler) { s.Store = nil },
		"no sender":                func(s *scheduler.Scheduler) { s.Sender = nil },
		"no channels":              func(s *scheduler.Scheduler) { s.Channels = nil },
		"lease within the timeout": func(s *scheduler.Scheduler) { s.Lease, s.SendTimeout = time.Minute, time.Minute },
	}
	for name, breakIt := range cases {
		s := &scheduler.Scheduler{Store: full.Store, Sender: full.Sender, Channels: full.Channels, Now: full.Now}
		breakIt(s)
		if err := s.Tick(f.ctx); err == nil {
			t.Errorf("Tick with %s succeeded, want an error", name)
		}
	}
}

// A tick plans only the credentials whose next reminder time has passed.
// The scheduler calls Channels once per credential it plans, so the count
// of those calls measures the work a tick did.
func TestTickPlansOnlyDueCredentials(t *testing.T) {
	t.Parallel()
	for _, kind := range []storeKind{postgres, memory} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var ids []string
			for i := range 30 {
				ids = append(ids, fmt.Sprintf("cred-%02d", i))
			}
			f := setup(t, kind, ids...)
			start := f.clock.Now()
			// cred-early's secret is 3 days older, so each of its reminders
			// comes 3 days before the others' one.
			early := storetest.Credential("cred-early")
			early.IssuedAt = start.Add(-3 * day)
			if err := f.store.(rotation.Store).SyncCredentials(f.ctx, []rotation.Credential{early}); err != nil {
				t.Fatalf("SyncCredentials: %v", err)
			}

			s := f.scheduler(t, "replica-1", f.store)
			var mu sync.Mutex
			var planned []string
			s.Channels = func(id string) []string {
				mu.Lock()
				defer mu.Unlock()
				planned = append(planned, id)
				return []string{"email"}
			}
			tickPlanned := func() []string {
				t.Helper()
				mu.Lock()
				planned = nil
				mu.Unlock()
				tick(t, s)
				mu.Lock()
				defer mu.Unlock()
				return slices.Clone(planned)
			}

			if got := len(tickPlanned()); got != 31 {
				t.Errorf("first tick planned %d credentials, want all 31", got)
			}
			if got := tickPlanned(); len(got) != 0 {
				t.Errorf("second tick at the same time planned %v, want none", got)
			}
			f.clock.Advance(30 * day)
			if got := tickPlanned(); len(got) != 0 {
				t.Errorf("tick 30 days later, before any reminder is due, planned %v, want none", got)
			}

			// cred-early's 14-day reminder: only it is planned, and sent.
			f.advanceTo(t, start, 17*day)
			if diff := cmp.Diff([]string{"cred-early"}, tickPlanned()); diff != "" {
				t.Errorf("tick at cred-early's 14-day reminder planned (-want +got):\n%s", diff)
			}
			want := []summary{{"cred-early", 14 * day, "email"}}
			if diff := cmp.Diff(want, summarize(f.rec.deliveries())); diff != "" {
				t.Errorf("deliveries (-want +got):\n%s", diff)
			}

			// The others' 14-day reminders fall due together.
			f.advanceTo(t, start, 14*day)
			if got := len(tickPlanned()); got != 30 {
				t.Errorf("tick at the others' 14-day reminder planned %d credentials, want 30", got)
			}
			if got := len(f.rec.deliveries()); got != 1+30 {
				t.Errorf("deliveries after the others' 14-day reminder: %d, want 31", got)
			}
		})
	}
}
