package pgstore_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
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

// roundTrips counts what a pool sends to Postgres. A statement sent alone
// is one round trip, begin and commit included. A batch is one round trip
// whatever its length, because pgx sends it whole and then reads the
// results. A transaction is counted where it starts: at a begin, or at a
// statement or batch that writes while no transaction is open, which
// Postgres runs as one implicit transaction.
type roundTrips struct {
	total atomic.Int64 // round trips
	tx    atomic.Int64 // transactions that write
	reads atomic.Int64 // statements that only read, outside a transaction

	mu    sync.Mutex
	byOp  map[string]int       // statement description -> count
	known map[string]statement // by SQL text, so the benchmark times no parsing after the first call
}

// statement is what roundTrips learns from the text of a statement.
type statement struct {
	name   string // the tables it writes, or its first words
	writes bool
}

func (c *roundTrips) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	st := c.statement(data.SQL)
	c.total.Add(1)
	c.countStart(conn, st.writes || strings.EqualFold(strings.TrimSpace(data.SQL), "begin"))
	c.countOp(st.name)
	return ctx
}

func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *roundTrips) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	var (
		names  []string
		writes bool
	)
	for _, q := range data.Batch.QueuedQueries {
		st := c.statement(q.SQL)
		names = append(names, st.name)
		writes = writes || st.writes
	}
	c.total.Add(1)
	c.countStart(conn, writes)
	c.countOp("batch: " + strings.Join(names, "; "))
	return ctx
}

func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// countStart counts the transaction or the read that a statement or batch
// starts on conn: a transaction if it begins one or writes.
func (c *roundTrips) countStart(conn *pgx.Conn, startsTx bool) {
	switch {
	case conn.PgConn().TxStatus() != 'I':
		// Inside a transaction counted at its begin.
	case startsTx:
		c.tx.Add(1)
	default:
		c.reads.Add(1)
	}
}

// statement returns what sql is, parsing it on its first use only.
func (c *roundTrips) statement(sql string) statement {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.known[sql]; ok {
		return st
	}
	st := statement{name: describe(sql), writes: len(writtenTables(sql)) > 0}
	if c.known == nil {
		c.known = map[string]statement{}
	}
	c.known[sql] = st
	return st
}

func (c *roundTrips) countOp(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byOp == nil {
		c.byOp = map[string]int{}
	}
	c.byOp[key]++
}

func (c *roundTrips) reset() {
	c.total.Store(0)
	c.tx.Store(0)
	c.reads.Store(0)
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

var (
	writeVerb = regexp.MustCompile(`(?i)\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)`)
	rowLock   = regexp.MustCompile(`(?i)\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b`)
)

// writtenTables returns the tables that sql inserts into, updates or
// deletes from, in order. A row lock (FOR UPDATE) is not a write.
func writtenTables(sql string) []string {
	var out []string
	for _, m := range writeVerb.FindAllStringSubmatch(rowLock.ReplaceAllString(sql, ""), -1) {
		out = append(out, strings.ToLower(m[1]))
	}
	return out
}

// describe names a statement for the log: the tables it writes, or its
// first words.
func describe(sql string) string {
	if tables := writtenTables(sql); len(tables) > 0 {
		return "write " + strings.Join(tables, ", ")
	}
	words := strings.Fields(sql)
	return strings.Join(words[:min(len(words), 4)], " ")
}

// tracedPool returns a pool on a new migrated schema whose statements are
// counted by c.
func tracedPool(tb testing.TB, c *roundTrips) *pgxpool.Pool {
	tb.Helper()
	base := pgtest.NewPool(tb)
	cfg := base.Config()
	cfg.ConnConfig.Tracer = c
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open traced pool: %v", err)
	}
	tb.Cleanup(pool.Close)
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

// transitions are the ones a rotation makes in the benchmark, in order.
var transitions = []string{"request", "issued", "promote", "retire"}

// transitionRig is a Service on a traced Postgres store with one
// credential, "bench", on the memory secrets backend.
type transitionRig struct {
	svc     *rotation.Service
	trips   *roundTrips
	clock   *storetest.Clock
	checker *scripted
	backend *freshBackend
	current secret.Value // the secret consumers read
	issued  int          // secrets issued so far
}

// freshBackend is the rig's secrets manager: a memory store that the rig
// replaces before each rotation with one that holds only the current
// secret. memory.Store.Retire decodes every version the store holds, so a
// single store for the whole run would make each retire slower than the
// one before, and the benchmark would time the fake instead of rotor.
type freshBackend struct {
	*memory.Store
}

// newTransitionRig returns a rig whose service runs on wrap(store), or on
// the store itself when wrap is nil.
func newTransitionRig(tb testing.TB, wrap func(rotation.Store) rotation.Store) *transitionRig {
	tb.Helper()
	rig := &transitionRig{trips: &roundTrips{}, clock: storetest.NewClock(), checker: &scripted{revoked: map[string]bool{}},
		current: secret.New("bench-secret-0")}
	store := pgstore.New(tracedPool(tb, rig.trips), rig.clock.Now)
	if err := store.SyncCredentials(context.Background(), []rotation.Credential{storetest.Credential("bench")}); err != nil {
		tb.Fatalf("SyncCredentials: %v", err)
	}
	rig.backend = &freshBackend{}
	var svcStore rotation.Store = store
	if wrap != nil {
		svcStore = wrap(store)
	}
	rig.svc = rotation.NewService(rotation.Options{
		Store:   svcStore,
		Secrets: map[string]rotation.SecretStore{"bench": rig.backend},
		Checker: rig.checker,
		Now:     rig.clock.Now,
	})
	return rig
}

// rotate runs one rotation of the four transitions, and calls after, if
// not nil, with the name of each transition once it is made.
func (rig *transitionRig) rotate(ctx context.Context, after func(transition string)) error {
	done := func(transition string) {
		if after != nil {
			after(transition)
		}
	}
	rig.issued++
	next := secret.New(fmt.Sprintf("bench-secret-%d", rig.issued))
	rig.backend.Store = memory.New(rig.current, secretstore.Format{JSONKey: "client_secret"})

	r, err := rig.svc.Request(ctx, "bench", "bench", rotation.RequestInput{Kind: rotation.KindManual, Reason: "benchmark"})
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	done("request")
	if _, err := rig.svc.RecordIssued(ctx, "bench", r.ID, rotation.IssuedInput{Secret: next}); err != nil {
		return fmt.Errorf("record issued: %w", err)
	}
	done("issued")
	if _, err := rig.svc.Promote(ctx, "bench", r.ID, ""); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	done("promote")
	rig.clock.Advance(2 * time.Hour) // past the minimum time in dual_active
	rig.checker.revoke(rig.current)
	if _, err := rig.svc.Retire(ctx, "bench", r.ID, rotation.RetireInput{PersiumConfirmed: true}); err != nil {
		return fmt.Errorf("retire: %w", err)
	}
	done("retire")
	rig.current = next
	return nil
}

// BenchmarkTransitions drives full rotations through rotation.Service on
// the memory secrets backend and the Postgres store, and in the same loop
// the same writes as bare pgx statements: per transition one transaction
// of begin, row change, event and commit, and no reads. It reports the
// round trips, transactions and reads of the service per transition, the
// round trips of the bare writes, and the time ratio service/bare.
func BenchmarkTransitions(b *testing.B) {
	ctx := context.Background()
	rig := newTransitionRig(b, nil)

	var bareTrips roundTrips
	bare := tracedPool(b, &bareTrips)
	if _, err := bare.Exec(ctx, `INSERT INTO credentials (id, organisation, organisation_id, client_id, auth_method,
		rotation_period, min_dual_active, overlap, backend, secret_path, retire_mode, created_at, updated_at)
		VALUES ('bench', 'Org', $1, 'client-bench', 'basic', 7776000000000, 3600000000, 0, 'memory', 'persium/bench', 'disable', now(), now())`,
		uuid.NewString()); err != nil {
		b.Fatalf("insert bare credential: %v", err)
	}

	rig.trips.reset()
	bareTrips.reset()
	var svcTime, bareTime time.Duration

	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := rig.rotate(ctx, nil); err != nil {
			b.Fatalf("service rotation: %v", err)
		}
		svcTime += time.Since(start)

		start = time.Now()
		if err := bareRotation(ctx, bare); err != nil {
			b.Fatalf("bare rotation: %v", err)
		}
		bareTime += time.Since(start)
	}
	b.StopTimer()

	n := float64(b.N * len(transitions))
	b.ReportMetric(n/svcTime.Seconds(), "transitions/s")
	b.ReportMetric(n/bareTime.Seconds(), "bare-transitions/s")
	b.ReportMetric(float64(rig.trips.total.Load())/n, "roundtrips/transition")
	b.ReportMetric(float64(bareTrips.total.Load())/n, "bare-roundtrips/transition")
	b.ReportMetric(float64(rig.trips.tx.Load())/n, "tx/transition")
	b.ReportMetric(float64(rig.trips.reads.Load())/n, "reads/transition")
	b.ReportMetric(svcTime.Seconds()/bareTime.Seconds(), "time-ratio")
	rig.trips.log(b, "service")
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
