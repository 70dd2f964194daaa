package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/storetest"
)

func setupReminders(t *testing.T) (*pgxpool.Pool, *Store, *storetest.Clock) {
	t.Helper()
	pool := pgtest.NewPool(t)
	clock := storetest.NewClock()
	store := New(pool, clock.Now)
	if err := store.SyncCredentials(context.Background(), []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	return pool, store, clock
}

// The claim runs on every tick of every rotor process, while sent rows pile
// up for years: it must read the partial index, not the table.
func TestClaimRemindersReadsIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store, clock := setupReminders(t)

	_, err := pool.Exec(ctx, `
		INSERT INTO reminders (credential_id, due_at, before_due, channel, status, send_at, attempts, created_at, updated_at, finished_at)
		SELECT 'cred-a', d, 0, 'email', 'sent', d, 1, d, d, d
		FROM generate_series(timestamptz '2000-01-01', timestamptz '2000-01-01' + interval '19999 hours', interval '1 hour') AS d`)
	if err != nil {
		t.Fatalf("insert sent reminders: %v", err)
	}
	due := clock.Now()
	if err := store.PlanReminders(ctx, []rotation.Reminder{{
		ReminderKey: rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, Channel: "slack"},
		Status:      rotation.ReminderPending,
	}}); err != nil {
		t.Fatalf("PlanReminders: %v", err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE reminders`); err != nil {
		t.Fatalf("analyze: %v", err)
	}

	rows, err := pool.Query(ctx, `EXPLAIN `+claimRemindersSQL, due, due.Add(time.Minute), 10)
	if err != nil {
		t.Fatalf("explain claim: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain claim: %v", err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "reminders_claimable") || strings.Contains(plan, "Seq Scan on reminders") {
		t.Errorf("claim plan does not read reminders_claimable only:\n%s", plan)
	}

	got, err := store.ClaimReminders(ctx, time.Minute, 10)
	if err != nil {
		t.Fatalf("ClaimReminders: %v", err)
	}
	if len(got) != 1 || got[0].Channel != "slack" {
		t.Errorf("ClaimReminders among 20000 sent rows = %d reminders, want the slack one", len(got))
	}
}

// The schema refuses reminder rows that the stores never write.
func TestReminderSchemaGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store, clock := setupReminders(t)
	due := clock.Now()
	if err := store.PlanReminders(ctx, []rotation.Reminder{{
		ReminderKey: rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: rotation.Day, Channel: "email"},
		Status:      rotation.ReminderPending,
	}}); err != nil {
		t.Fatalf("PlanReminders: %v", err)
	}

	statements := map[string]string{
		"second row for one key": `INSERT INTO reminders (credential_id, due_at, before_due, channel, status, send_at, next_attempt_at, created_at, updated_at)
			SELECT credential_id, due_at, before_due, channel, 'pending', send_at, send_at, now(), now() FROM reminders`,
		"send time off the offset":     `UPDATE reminders SET send_at = send_at + interval '1 hour'`,
		"sending without a lease":      `UPDATE reminders SET status = 'sending', attempts = 1`,
		"lease and next attempt apart": `UPDATE reminders SET status = 'sending', attempts = 1, lease_until = now(), next_attempt_at = now() - interval '1 hour'`,
		"pending without next attempt": `UPDATE reminders SET next_attempt_at = NULL`,
		"sent without an attempt":      `UPDATE reminders SET status = 'sent', next_attempt_at = NULL, finished_at = now()`,
		"sent without a finish time":   `UPDATE reminders SET status = 'sent', attempts = 1, next_attempt_at = NULL`,
		"failed without an error":      `UPDATE reminders SET status = 'failed', attempts = 1, next_attempt_at = NULL, finished_at = now()`,
		"skipped without a reason":     `UPDATE reminders SET status = 'skipped', next_attempt_at = NULL, finished_at = now()`,
		"reason without a skip":        `UPDATE reminders SET skip_reason = 'why'`,
		"unknown credential":           `UPDATE reminders SET credential_id = 'cred-x'`,
		"empty channel":                `UPDATE reminders SET channel = ''`,
		"unknown status":               `UPDATE reminders SET status = 'delivered'`,
	}
	for name, sql := range statements {
		t.Run(name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, sql); err == nil {
				t.Errorf("%s: statement succeeded, want the schema to reject it", name)
			}
		})
	}
}
