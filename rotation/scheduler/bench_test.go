package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/scheduler"
	"github.com/rotorhq/rotor/rotation/storetest"
)

// benchScheduler returns a scheduler on pool that sends to one channel
// and counts the credentials it plans and the messages it sends.
func benchScheduler(pool *pgxpool.Pool, clock *storetest.Clock, planned, sent *atomic.Int64) *scheduler.Scheduler {
	return &scheduler.Scheduler{
		Store: pgstore.New(pool, clock.Now),
		Sender: scheduler.SenderFunc(func(context.Context, string, scheduler.Message, string) error {
			sent.Add(1)
			return nil
		}),
		Channels: func(string) []string {
			planned.Add(1)
			return []string{"email"}
		},
		Now: clock.Now,
	}
}

// BenchmarkTickNoneDue times one reminder tick over n credentials, all
// rotated an hour ago, so no reminder is due and none is planned. Before
// the timer starts, one tick plans every credential, as the first tick
// after a start does; its time is logged. It logs the plans of the
// planning and the claim queries at each size.
func BenchmarkTickNoneDue(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("credentials=%d", n), func(b *testing.B) {
			ctx := context.Background()
			clock := storetest.NewClock()
			pool := pgtest.NewPool(b)
			seedCredentials(b, pool, n, func(int) time.Time { return clock.Now().Add(-time.Hour) })
			var planned, sent atomic.Int64
			s := benchScheduler(pool, clock, &planned, &sent)

			first := time.Now()
			if err := s.Tick(ctx); err != nil {
				b.Fatalf("first Tick: %v", err)
			}
			b.Logf("first tick after the start planned %d credentials in %s", planned.Load(), time.Since(first).Round(time.Millisecond))
			analyze(b, pool)
			planned.Store(0)

			b.ResetTimer()
			for b.Loop() {
				if err := s.Tick(ctx); err != nil {
					b.Fatalf("Tick: %v", err)
				}
			}
			b.StopTimer()
			if planned.Load() != 0 || sent.Load() != 0 {
				b.Fatalf("planned %d credentials and sent %d reminders, want none: the seed made some due", planned.Load(), sent.Load())
			}
			b.Logf("planning query plan at %d credentials:\n%s", n, explain(b, pool, explainPlanDue, clock.Now(), 500))
			b.Logf("claim query plan at %d credentials:\n%s", n, explain(b, pool, explainClaim, clock.Now(), scheduler.DefaultBatchSize))
		})
	}
}

// planOnly is a store on which the scheduler claims nothing, so that a
// tick only plans.
type planOnly struct{ *pgstore.Store }

func (planOnly) ClaimReminders(context.Context, time.Duration, int) ([]rotation.Reminder, error) {
	return nil, nil
}

// BenchmarkTickDue times a tick in which due credentials out of 100,000
// reach their 14-day reminder. Their retirements are one second apart, so
// each tick moves the clock by due seconds. In the "plan" runs the
// scheduler claims nothing, so the tick only plans the due credentials. In
// the "tick" runs it also sends up to scheduler.DefaultBatchSize
// reminders.
func BenchmarkTickDue(b *testing.B) {
	const n = 100_000
	for _, mode := range []string{"plan", "tick"} {
		for _, due := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/credentials=%d/due=%d", mode, n, due), func(b *testing.B) {
				benchTickDue(b, n, due, mode == "plan")
			})
		}
	}
}

func benchTickDue(b *testing.B, n, due int, planOnlyStore bool) {
	ctx := context.Background()
	clock := storetest.NewClock()
	pool := pgtest.NewPool(b)
	// The 14-day reminder of credential i is at start + i seconds.
	start := clock.Now()
	seedCredentials(b, pool, n, func(i int) time.Time {
		return start.Add(-76*24*time.Hour + time.Duration(i)*time.Second)
	})
	var planned, sent atomic.Int64
	s := benchScheduler(pool, clock, &planned, &sent)
	if planOnlyStore {
		s.Store = planOnly{s.Store.(*pgstore.Store)}
	}
	clock.Advance(-time.Second)
	if err := s.Tick(ctx); err != nil {
		b.Fatalf("first Tick: %v", err)
	}
	analyze(b, pool)
	planned.Store(0)

	ticks := 0
	b.ResetTimer()
	for b.Loop() {
		clock.Advance(time.Duration(due) * time.Second)
		if err := s.Tick(ctx); err != nil {
			b.Fatalf("Tick: %v", err)
		}
		ticks++
	}
	b.StopTimer()
	if got, want := planned.Load(), int64(ticks*due); got != want {
		b.Fatalf("%d ticks planned %d credentials, want %d: the seed ran out of due credentials", ticks, got, want)
	}
	b.ReportMetric(float64(sent.Load())/float64(ticks), "sent/tick")

	clock.Advance(time.Duration(due) * time.Second)
	b.Logf("planning query plan with %d of %d credentials due:\n%s", due, n, explain(b, pool, explainPlanDue, clock.Now(), 500))
}

// seedCredentials copies n credentials, credential i last retired at
// retired(i), into the credentials table, each with one reminder sent for
// its previous due date, so the reminders table holds history that the
// claim must pass over.
func seedCredentials(b *testing.B, pool *pgxpool.Pool, n int, retired func(i int) time.Time) {
	b.Helper()
	rows := make([][]any, n)
	for i := range rows {
		id := fmt.Sprintf("cred-%06d", i)
		at := retired(i)
		rows[i] = []any{id, "Org " + id, uuid.NewSHA1(uuid.NameSpaceOID, []byte(id)), "client-" + id, "basic",
			int64(90 * 24 * time.Hour / time.Microsecond), int64(time.Hour / time.Microsecond), int64(0),
			"memory", "persium/" + id, "disable", at, at, at}
	}
	cols := []string{"id", "organisation", "organisation_id", "client_id", "auth_method",
		"rotation_period", "min_dual_active", "overlap", "backend", "secret_path", "retire_mode",
		"last_retired_at", "created_at", "updated_at"}
	if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{"credentials"}, cols, pgx.CopyFromRows(rows)); err != nil {
		b.Fatalf("copy %d credentials: %v", n, err)
	}
	_, err := pool.Exec(context.Background(), `
		INSERT INTO reminders (credential_id, due_at, before_due, channel, status, send_at, attempts,
			created_at, updated_at, finished_at)
		SELECT id, last_retired_at, 604800000000, 'email', 'sent', last_retired_at - interval '7 days', 1,
			last_retired_at, last_retired_at, last_retired_at
		FROM credentials`)
	if err != nil {
		b.Fatalf("seed sent reminders: %v", err)
	}
	analyze(b, pool)
}

func analyze(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), "VACUUM ANALYZE"); err != nil {
		b.Fatalf("vacuum analyze: %v", err)
	}
}

// NOTE: explainPlanDue and explainClaim repeat the queries of
// PlanDueReminders (with a shorter select list) and ClaimReminders, which
// the store keeps unexported, so a change to those queries must be copied
// here. Each takes $1 now and $2 the limit.
const (
	explainPlanDue = `SELECT c.id FROM credentials c
		WHERE c.next_reminder_at <= $1
		ORDER BY c.next_reminder_at, c.id
		LIMIT $2
		FOR NO KEY UPDATE OF c SKIP LOCKED`
	explainClaim = `SELECT id FROM reminders
		WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
		ORDER BY next_attempt_at, id
		LIMIT $2
		FOR UPDATE SKIP LOCKED`
)

// explain returns the plan of query as EXPLAIN ANALYZE runs it, in a
// transaction that it rolls back, so the rows it locks are let go.
func explain(b *testing.B, pool *pgxpool.Pool, query string, now time.Time, limit int) string {
	b.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) `+query, now, limit)
	if err != nil {
		b.Fatalf("explain: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatalf("explain: %v", err)
	}
	return strings.Join(lines, "\n")
}
