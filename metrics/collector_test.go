package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/metrics"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secretstore"
)

// rotorStore is what the tests need of a rotation store: the collector's
// reads plus the writes that set the scene.
type rotorStore interface {
	rotation.Store
	rotation.ReminderStore
	rotation.IncidentStore
}

var stores = map[string]func(t *testing.T, now func() time.Time) rotorStore{
	"memory":   func(t *testing.T, now func() time.Time) rotorStore { return memstore.New(now) },
	"postgres": func(t *testing.T, now func() time.Time) rotorStore { return pgstore.New(pgtest.NewPool(t), now) },
}

// credential returns a test credential whose secret in use was issued
// age ago, so it is due in 90 days minus age.
func credential(id string, now time.Time, age time.Duration) rotation.Credential {
	c := storetest.Credential(id)
	c.IssuedAt = now.Add(-age)
	return c
}

// openRotation creates a rotation of kind for credID and moves it to state
// with the store's own changes.
func openRotation(t *testing.T, store rotation.Store, credID string, kind rotation.Kind, to rotation.State) rotation.Rotation {
	t.Helper()
	ctx := context.Background()
	r, err := store.CreateRotation(ctx, rotation.Rotation{
		ID: uuid.NewString(), CredentialID: credID, Kind: kind, Reason: "test", RequestedBy: "alice",
	}, rotation.Event{Actor: "alice", Action: rotation.ActionRequest})
	if err != nil {
		t.Fatalf("CreateRotation(%s): %v", credID, err)
	}
	path := map[rotation.State][]rotation.Change{
		rotation.StateRequested: nil,
		rotation.StateNewIssued: {
			{To: rotation.StateNewIssued, Versions: &secretstore.Versions{Old: "1", Staged: "2"}},
		},
		rotation.StateDualActive: {
			{To: rotation.StateNewIssued, Versions: &secretstore.Versions{Old: "1", Staged: "2"}},
			{To: rotation.StateDualActive, Versions: &secretstore.Versions{Old: "1", Staged: "2", New: "2"}},
		},
		rotation.StateCancelled: {
			{To: rotation.StateCancelled},
		},
	}[to]
	for _, c := range path {
		c.RotationID, c.From, c.Version = r.ID, r.State, r.Version
		if r, err = store.Apply(ctx, c); err != nil {
			t.Fatalf("Apply %s → %s for %s: %v", c.From, c.To, credID, err)
		}
	}
	return r
}

// failReminders records one failed reminder for credID on each channel.
func failReminders(t *testing.T, store rotation.ReminderStore, credID string, dueAt time.Time, channels ...string) {
	t.Helper()
	ctx := context.Background()
	var plan []rotation.Reminder
	for _, ch := range channels {
		plan = append(plan, rotation.Reminder{
			ReminderKey: rotation.ReminderKey{CredentialID: credID, DueAt: dueAt, BeforeDue: 0, Channel: ch},
			Status:      rotation.ReminderPending,
		})
	}
	if err := store.PlanReminders(ctx, plan); err != nil {
		t.Fatalf("PlanReminders: %v", err)
	}
	claimed, err := store.ClaimReminders(ctx, time.Minute, len(channels))
	if err != nil || len(claimed) != len(channels) {
		t.Fatalf("ClaimReminders: %d claimed, error %v; want %d", len(claimed), err, len(channels))
	}
	for _, r := range claimed {
		if err := store.FinishReminder(ctx, r, rotation.ReminderOutcome{Status: rotation.ReminderFailed, Error: "550 mailbox unavailable"}); err != nil {
			t.Fatalf("FinishReminder: %v", err)
		}
	}
}

func TestStoreMetrics(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := storetest.NewClock()
			now := clock.Now()
			store := newStore(t, clock.Now)
			err := store.SyncCredentials(context.Background(), []rotation.Credential{
				credential("cred-a", now, 80*rotation.Day),
				credential("cred-b", now, 30*rotation.Day),
				credential("cred-c", now, 100*rotation.Day),
				credential("cred-d", now, 0),
			})
			if err != nil {
				t.Fatalf("SyncCredentials: %v", err)
			}
			openRotation(t, store, "cred-a", rotation.KindManual, rotation.StateRequested)
			openRotation(t, store, "cred-b", rotation.KindEmergency, rotation.StateDualActive)
			openRotation(t, store, "cred-c", rotation.KindScheduled, rotation.StateNewIssued)
			openRotation(t, store, "cred-d", rotation.KindManual, rotation.StateCancelled)
			failReminders(t, store, "cred-c", now.Add(-10*rotation.Day), "ops-email", "ops-slack")

			f := setup(t, metrics.Options{Store: store, Now: clock.Now})
			got := f.scrape(t)

			t.Run("open rotations by credential, state and kind", func(t *testing.T) {
				want := map[string]string{
					`rotor_rotations_open{credential_id="cred-a",kind="manual",state="requested"}`:      "1",
					`rotor_rotations_open{credential_id="cred-b",kind="emergency",state="dual_active"}`: "1",
					`rotor_rotations_open{credential_id="cred-c",kind="scheduled",state="new_issued"}`:  "1",
				}
				if diff := cmp.Diff(want, got.withPrefix("rotor_rotations_open{")); diff != "" {
					t.Errorf("rotor_rotations_open (-want +got):\n%s", diff)
				}
			})
			t.Run("days until due, negative when overdue", func(t *testing.T) {
				want := map[string]string{
					`rotor_credential_days_until_due{credential_id="cred-a"}`: "10",
					`rotor_credential_days_until_due{credential_id="cred-b"}`: "60",
					`rotor_credential_days_until_due{credential_id="cred-c"}`: "-10",
					`rotor_credential_days_until_due{credential_id="cred-d"}`: "90",
				}
				if diff := cmp.Diff(want, got.withPrefix("rotor_credential_days_until_due{")); diff != "" {
					t.Errorf("rotor_credential_days_until_due (-want +got):\n%s", diff)
				}
			})
			t.Run("failed reminders with zero for the others", func(t *testing.T) {
				want := map[string]string{
					`rotor_reminders_failed{credential_id="cred-a"}`: "0",
					`rotor_reminders_failed{credential_id="cred-b"}`: "0",
					`rotor_reminders_failed{credential_id="cred-c"}`: "2",
					`rotor_reminders_failed{credential_id="cred-d"}`: "0",
				}
				if diff := cmp.Diff(want, got.withPrefix("rotor_reminders_failed{")); diff != "" {
					t.Errorf("rotor_reminders_failed (-want +got):\n%s", diff)
				}
			})
			t.Run("no scrape errors", func(t *testing.T) {
				want := map[string]string{
					`rotor_scrape_errors_total{query="count_failed_reminders"}`: "0",
					`rotor_scrape_errors_total{query="get_rotation"}`:           "0",
					`rotor_scrape_errors_total{query="list_credentials"}`:       "0",
					`rotor_scrape_errors_total{query="list_open_incidents"}`:    "0",
				}
				if diff := cmp.Diff(want, got.withPrefix("rotor_scrape_errors_total{")); diff != "" {
					t.Errorf("rotor_scrape_errors_total (-want +got):\n%s", diff)
				}
			})
			t.Run("help and type lines", func(t *testing.T) {
				for _, line := range []string{
					"# TYPE rotor_rotations_open gauge",
					"# TYPE rotor_credential_days_until_due gauge",
					"# TYPE rotor_reminders_failed gauge",
					"# TYPE rotor_scrape_errors_total counter",
					"# HELP rotor_credential_days_until_due Days until the credential is due for rotation",
				} {
					if !strings.Contains(got.text, line) {
						t.Errorf("exposition has no line starting %q", line)
					}
				}
			})
		})
	}
}

func TestStoreMetricsFollowStore(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock()
	store := memstore.New(clock.Now)
	if err := store.SyncCredentials(context.Background(), []rotation.Credential{credential("cred-a", clock.Now(), 0)}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	f := setup(t, metrics.Options{Store: store, Now: clock.Now})
	series := `rotor_rotations_open{credential_id="cred-a",kind="manual",state="requested"}`

	if got := f.scrape(t).value(series); got != "absent" {
		t.Errorf("before the rotation: %s = %s, want absent", series, got)
	}
	openRotation(t, store, "cred-a", rotation.KindManual, rotation.StateRequested)
	if got := f.scrape(t).value(series); got != "1" {
		t.Errorf("after the request: %s = %s, want 1", series, got)
	}

	clock.Advance(100 * rotation.Day)
	due := `rotor_credential_days_until_due{credential_id="cred-a"}`
	if got := f.scrape(t).value(due); got != "-10" {
		t.Errorf("100 days later: %s = %s, want -10", due, got)
	}
}

// failingStore is a collector store whose chosen queries fail the way the
// rotation stores fail when Postgres is down: an error that wraps
// rotation.ErrUnavailable. Queries that do not fail go to the memory store.
type failingStore struct {
	*memstore.Store
	fail map[string]bool // by query label
}

var errDatabaseDown = fmt.Errorf("query credentials: connect to 127.0.0.1:5432: connection refused: %w", rotation.ErrUnavailable)

func (s failingStore) ListCredentials(ctx context.Context) ([]rotation.Credential, error) {
	if s.fail["list_credentials"] {
		return nil, errDatabaseDown
	}
	return s.Store.ListCredentials(ctx)
}

func (s failingStore) GetRotation(ctx context.Context, id string) (rotation.Rotation, error) {
	if s.fail["get_rotation"] {
		return rotation.Rotation{}, errDatabaseDown
	}
	return s.Store.GetRotation(ctx, id)
}

func (s failingStore) CountFailedReminders(ctx context.Context) (map[string]int, error) {
	if s.fail["count_failed_reminders"] {
		return nil, errDatabaseDown
	}
	return s.Store.CountFailedReminders(ctx)
}

func (s failingStore) ListOpenIncidents(ctx context.Context) ([]rotation.Incident, error) {
	if s.fail["list_open_incidents"] {
		return nil, errDatabaseDown
	}
	return s.Store.ListOpenIncidents(ctx)
}

func TestStoreMetricsErrors(t *testing.T) {
	t.Parallel()

	// setupFailing returns metrics on a memory store with cred-a (a
	// rotation open, one failed reminder) whose queries in fail fail.
	setupFailing := func(t *testing.T, fail ...string) *fixture {
		t.Helper()
		clock := storetest.NewClock()
		store := memstore.New(clock.Now)
		if err := store.SyncCredentials(context.Background(), []rotation.Credential{credential("cred-a", clock.Now(), 0)}); err != nil {
			t.Fatalf("SyncCredentials: %v", err)
		}
		openRotation(t, store, "cred-a", rotation.KindManual, rotation.StateRequested)
		failReminders(t, store, "cred-a", clock.Now(), "ops-email")
		fs := failingStore{Store: store, fail: map[string]bool{}}
		for _, q := range fail {
			fs.fail[q] = true
		}
		return setup(t, metrics.Options{Store: fs, Now: clock.Now})
	}

	t.Run("credentials unreadable", func(t *testing.T) {
		t.Parallel()
		f := setupFailing(t, "list_credentials")
		got := f.scrape(t)
		if v := got.value(`rotor_scrape_errors_total{query="list_credentials"}`); v != "1" {
			t.Errorf("list_credentials errors = %s, want 1", v)
		}
		if n := len(got.withPrefix("rotor_rotations_open")) + len(got.withPrefix("rotor_credential_days_until_due")); n != 0 {
			t.Errorf("%d rotation and due date series without credentials, want 0", n)
		}
		// The reminder counts came from their own query.
		if v := got.value(`rotor_reminders_failed{credential_id="cred-a"}`); v != "1" {
			t.Errorf("failed reminders of cred-a = %s, want 1", v)
		}
		if v := got.value("rotor_build_info{version=\"unknown\"}"); v != "1" {
			t.Errorf("rotor_build_info = %s, want 1: other metrics are still served", v)
		}
	})

	t.Run("rotation unreadable", func(t *testing.T) {
		t.Parallel()
		f := setupFailing(t, "get_rotation")
		got := f.scrape(t)
		if v := got.value(`rotor_scrape_errors_total{query="get_rotation"}`); v != "1" {
			t.Errorf("get_rotation errors = %s, want 1", v)
		}
		if n := len(got.withPrefix("rotor_rotations_open")); n != 0 {
			t.Errorf("%d open rotation series, want 0", n)
		}
		if v := got.value(`rotor_credential_days_until_due{credential_id="cred-a"}`); v != "90" {
			t.Errorf("days until due of cred-a = %s, want 90", v)
		}
	})

	t.Run("reminders unreadable", func(t *testing.T) {
		t.Parallel()
		f := setupFailing(t, "count_failed_reminders")
		got := f.scrape(t)
		if v := got.value(`rotor_scrape_errors_total{query="count_failed_reminders"}`); v != "1" {
			t.Errorf("count_failed_reminders errors = %s, want 1", v)
		}
		if v := got.value(`rotor_reminders_failed{credential_id="cred-a"}`); v != "absent" {
			t.Errorf("failed reminders of cred-a = %s, want absent rather than a false 0", v)
		}
	})

	t.Run("incidents unreadable", func(t *testing.T) {
		t.Parallel()
		f := setupFailing(t, "list_open_incidents")
		got := f.scrape(t)
		if v := got.value(`rotor_scrape_errors_total{query="list_open_incidents"}`); v != "1" {
			t.Errorf("list_open_incidents errors = %s, want 1", v)
		}
		if v := got.value(`rotor_credential_days_until_due{credential_id="cred-a"}`); v != "90" {
			t.Errorf("days until due of cred-a = %s, want 90", v)
		}
	})

	t.Run("repeated errors counted and logged once", func(t *testing.T) {
		t.Parallel()
		f := setupFailing(t, "list_credentials")
		f.scrape(t)
		got := f.scrape(t)
		if v := got.value(`rotor_scrape_errors_total{query="list_credentials"}`); v != "2" {
			t.Errorf("list_credentials errors after two scrapes = %s, want 2", v)
		}
		logged := f.log.String()
		if n := strings.Count(logged, `"msg":"collect metrics from the store"`); n != 1 {
			t.Errorf("%d log lines about the failed query, want 1 within a minute; log:\n%s", n, logged)
		}
		for _, want := range []string{`"query":"list_credentials"`, `connection refused`} {
			if !strings.Contains(logged, want) {
				t.Errorf("log has no %s; log:\n%s", want, logged)
			}
		}
	})
}

// blockingStore returns from ListCredentials only when its context ends,
// like a database that accepted the connection and never replies.
type blockingStore struct{ *memstore.Store }

func (s blockingStore) ListCredentials(ctx context.Context) ([]rotation.Credential, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("list credentials: %w", ctx.Err())
}

func TestStoreMetricsTimeout(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock()
	store := blockingStore{memstore.New(clock.Now)}
	f := setup(t, metrics.Options{Store: store, Now: clock.Now, ScrapeTimeout: 50 * time.Millisecond})

	got := f.scrape(t)
	if v := got.value(`rotor_scrape_errors_total{query="list_credentials"}`); v != "1" {
		t.Errorf("list_credentials errors = %s, want 1", v)
	}
	if !strings.Contains(f.log.String(), context.DeadlineExceeded.Error()) {
		t.Errorf("log does not name the time-out; log:\n%s", f.log.String())
	}
}

func TestNoStore(t *testing.T) {
	t.Parallel()
	f := setup(t, metrics.Options{Version: "v1.2.3"})
	got := f.scrape(t)
	if n := len(got.withPrefix("rotor_scrape_errors_total")); n != 0 {
		t.Errorf("%d store collector series without a store, want 0", n)
	}
	if v := got.value(`rotor_build_info{version="v1.2.3"}`); v != "1" {
		t.Errorf("rotor_build_info = %s, want 1", v)
	}
	if v := got.value("go_goroutines"); v == "absent" {
		t.Error("go_goroutines absent; the Go runtime collector is missing")
	}
}
