package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/scheduler"
	"github.com/rotorhq/rotor/rotation/storetest"
)

// BenchmarkTickNoneDue times one reminder tick over n credentials, all
// rotated an hour ago, so no reminder is due and none is planned. It logs
// the plan of the claim query at each size.
func BenchmarkTickNoneDue(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("credentials=%d", n), func(b *testing.B) {
			ctx := context.Background()
			clock := storetest.NewClock()
			pool := pgtest.NewPool(b)
			seedCredentials(b, pool, n, clock.Now().Add(-time.Hour))
			sent := 0
			s := &scheduler.Scheduler{
				Store: pgstore.New(pool, clock.Now),
				Sender: scheduler.SenderFunc(func(context.Context, string, scheduler.Message, string) error {
					sent++
					return nil
				}),
				Channels: func(string) []string { return []string{"email"} },
				Now:      clock.Now,
			}
			b.ResetTimer()
			for b.Loop() {
				if err := s.Tick(ctx); err != nil {
					b.Fatalf("Tick: %v", err)
				}
			}
			b.StopTimer()
			if sent != 0 {
				b.Fatalf("sent %d reminders, want none: the seed made some due", sent)
			}
			b.Logf("claim query plan at %d credentials:\n%s", n, explainClaim(b, pool, clock.Now()))
		})
	}
}

// seedCredentials copies n credentials last retired at retired into the
// credentials table, each with one reminder sent for its previous due date,
// so the reminders table holds history that the claim must pass over.
func seedCredentials(b *testing.B, pool *pgxpool.Pool, n int, retired time.Time) {
	b.Helper()
	rows := make([][]any, n)
	for i := range rows {
		id := fmt.Sprintf("cred-%06d", i)
		rows[i] = []any{id, "Org " + id, uuid.NewSHA1(uuid.NameSpaceOID, []byte(id)), "client-" + id, "basic",
			int64(90 * 24 * time.Hour / time.Microsecond), int64(time.Hour / time.Microsecond), int64(0),
			"memory", "persium/" + id, "disable", retired, retired, retired}
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
	if _, err := pool.Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatalf("analyze: %v", err)
	}
}

// explainClaim returns the plan of the query ClaimReminders runs.
// NOTE: it repeats the claim's SELECT, which the store keeps unexported, so
// a change to that query must be copied here.
func explainClaim(b *testing.B, pool *pgxpool.Pool, now time.Time) string {
	b.Helper()
	rows, err := pool.Query(context.Background(), `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
		SELECT id FROM reminders
		WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
		ORDER BY next_attempt_at, id
		LIMIT $2
		FOR UPDATE SKIP LOCKED`, now, scheduler.DefaultBatchSize)
	if err != nil {
		b.Fatalf("explain claim: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatalf("explain claim: %v", err)
	}
	return strings.Join(lines, "\n")
}
