package pgstore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// roundTrips counts the statements a pool sends, begin and commit
// included: each is one round trip to Postgres.
type roundTrips struct {
	total atomic.Int64
	begin atomic.Int64

	mu   sync.Mutex
	byOp map[string]int // first words of the statement -> count
}

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.total.Add(1)
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(data.SQL)), "begin") {
		c.begin.Add(1)
	}
	words := strings.Fields(data.SQL)
	key := strings.Join(words[:min(len(words), 4)], " ")
	c.mu.Lock()
	if c.byOp == nil {
		c.byOp = map[string]int{}
	}
	c.byOp[key]++
	c.mu.Unlock()
	return ctx
}

func (c *roundTrips) reset() {
	c.total.Store(0)
	c.begin.Store(0)
	c.mu.Lock()
	c.byOp = nil
	c.mu.Unlock()
}

// log writes the statements counted, per rotation.
func (c *roundTrips) log(b *testing.B, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := slices.Sorted(maps.Keys(c.byOp))
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("  %5.2f  %s", float64(c.byOp[k])/float64(b.N), k))
	}
	b.Logf("%s statements per rotation (N=%d):\n%s", name, b.N, strings.Join(lines, "\n"))
}

func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedPool returns a pool on a new migrated schema whose statements are
// counted by c.
func tracedPool(b *testing.B, c *roundTrips) *pgxpool.Pool {
	b.Helper()
	base := pgtest.NewPool(b)
	cfg := base.Config()
	cfg.ConnConfig.Tracer = c
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatalf("open traced pool: %v", err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// scripted plays Persium's token endpoint: it accepts every secret until
// the benchmark revokes it.
type scripted struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (s *scripted) Check(_ context.Context, _ string, _ tokencheck.AuthMethod, v secret.Value) tokencheck.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked[v.Reveal()] {
		return tokencheck.Result{Outcome: tokencheck.Rejected, Status: 401}
	}
	return tokencheck.Result{Outcome: tokencheck.Accepted, Status: 200}
}

func (s *scripted) revoke(v secret.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[v.Reveal()] = true
}

// transitionsPerRotation is request, issued, promote and retire.
const transitionsPerRotation = 4

// BenchmarkTransitions drives full rotations through rotation.Service on
// the memory secrets backend and the Postgres store, and in the same loop
// the same writes as bare pgx statements (one transaction per transition,
// no reads). It reports the round trips of each, per transition, and the
// time ratio service/bare.
func BenchmarkTransitions(b *testing.B) {
	ctx := context.Background()
	clock := storetest.NewClock()

	var svcTrips, bareTrips roundTrips
	store := pgstore.New(tracedPool(b, &svcTrips), clock.Now)
	bare := tracedPool(b, &bareTrips)

	cred := storetest.Credential("bench")
	if err := store.SyncCredentials(ctx, []rotation.Credential{cred}); err != nil {
		b.Fatalf("SyncCredentials: %v", err)
	}
	if _, err := bare.Exec(ctx, `INSERT INTO credentials (id, organisation, organisation_id, client_id, auth_method,
		rotation_period, min_dual_active, overlap, backend, secret_path, retire_mode, created_at, updated_at)
		VALUES ('bench', 'Org', $1, 'client-bench', 'basic', 7776000000000, 3600000000, 0, 'memory', 'persium/bench', 'disable', now(), now())`,
		uuid.NewString()); err != nil {
		b.Fatalf("insert bare credential: %v", err)
	}

	current := secret.New("bench-secret-0")
	backend := memory.New(current, secretstore.Format{JSONKey: "client_secret"})
	checker := &scripted{revoked: map[string]bool{}}
	svc := rotation.NewService(rotation.Options{
		Store:   store,
		Secrets: map[string]rotation.SecretStore{"bench": backend},
		Checker: checker,
		Now:     clock.Now,
	})

	svcTrips.reset()
	bareTrips.reset()
	var svcTime, bareTime time.Duration

	b.ResetTimer()
	for i := range b.N {
		next := secret.New(fmt.Sprintf("bench-secret-%d", i+1))

		start := time.Now()
		r, err := svc.Request(ctx, "bench", "bench", rotation.RequestInput{Kind: rotation.KindManual, Reason: "benchmark"})
		if err != nil {
			b.Fatalf("Request: %v", err)
		}
		if _, err := svc.RecordIssued(ctx, "bench", r.ID, rotation.IssuedInput{Secret: next}); err != nil {
			b.Fatalf("RecordIssued: %v", err)
		}
		if _, err := svc.Promote(ctx, "bench", r.ID, ""); err != nil {
			b.Fatalf("Promote: %v", err)
		}
		clock.Advance(2 * time.Hour) // past the minimum time in dual_active
		checker.revoke(current)
		if _, err := svc.Retire(ctx, "bench", r.ID, rotation.RetireInput{PersiumConfirmed: true}); err != nil {
			b.Fatalf("Retire: %v", err)
		}
		svcTime += time.Since(start)
		current = next

		start = time.Now()
		if err := bareRotation(ctx, bare); err != nil {
			b.Fatalf("bare rotation: %v", err)
		}
		bareTime += time.Since(start)
	}
	b.StopTimer()

	n := float64(b.N * transitionsPerRotation)
	b.ReportMetric(n/svcTime.Seconds(), "transitions/s")
	b.ReportMetric(n/bareTime.Seconds(), "bare-transitions/s")
	b.ReportMetric(float64(svcTrips.total.Load())/n, "roundtrips/transition")
	b.ReportMetric(float64(bareTrips.total.Load())/n, "bare-roundtrips/transition")
	b.ReportMetric(float64(svcTrips.begin.Load())/n, "tx/transition")
	b.ReportMetric(svcTime.Seconds()/bareTime.Seconds(), "time-ratio")
	svcTrips.log(b, "service")
	bareTrips.log(b, "bare")
}

// bareRotation writes one rotation's four transitions with plain pgx: per
// transition, one transaction of the row change and its audit event.
func bareRotation(ctx context.Context, pool *pgxpool.Pool) error {
	id := uuid.NewString()
	steps := []struct {
		change, from, to, action string
	}{
		{`INSERT INTO rotations (id, credential_id, kind, state, version, requested_by, created_at, updated_at)
			VALUES ($1, 'bench', 'manual', 'requested', 1, 'bench', now(), now())`, "", "requested", "request"},
		{`UPDATE rotations SET state = 'new_issued', version = version + 1, issued_at = now(),
			old_version = '1', staged_version = '2', updated_at = now() WHERE id = $1`, "requested", "new_issued", "issue"},
		{`UPDATE rotations SET state = 'dual_active', version = version + 1, promoted_at = now(),
			new_version = '2', updated_at = now() WHERE id = $1`, "new_issued", "dual_active", "promote"},
		{`UPDATE rotations SET state = 'old_retired', version = version + 1, retired_at = now(),
			updated_at = now() WHERE id = $1`, "dual_active", "old_retired", "retire"},
	}
	for _, s := range steps {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.change, id); err != nil {
				return fmt.Errorf("%s: %w", s.action, err)
			}
			var from *string
			if s.from != "" {
				from = &s.from
			}
			_, err := tx.Exec(ctx, `INSERT INTO events (rotation_id, credential_id, at, actor, action, from_state, to_state)
				VALUES ($1, 'bench', now(), 'bench', $2, $3, $4)`, id, s.action, from, s.to)
			if err != nil {
				return fmt.Errorf("%s event: %w", s.action, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
