package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
)

// auditSeed fills a migrated schema with 10,000 credentials, 225,000
// retired rotations with 4 events each (900,000 rows in events), and
// 10,000 incidents with 10 events each (100,000 rows in incident_events):
// 1,000,000 audit events over the two years before $1. Rotation n belongs
// to credential n mod 10,000 and starts 280 seconds after rotation n-1.
// Rare values let the filters be measured where they select few rows: the
// actor "auditor" acts in 45 events, the action old_revoked appears in 225.
var auditSeed = []string{
	`INSERT INTO credentials (id, organisation, organisation_id, client_id, auth_method, rotation_period,
		min_dual_active, overlap, backend, secret_path, retire_mode, created_at, updated_at)
	 SELECT format('cred-%s', lpad(c::text, 5, '0')), 'Organisation ' || c, md5('org' || c)::uuid, 'client-' || c,
		'basic', 7776000000000, 3600000000, 0, 'vault', 'persium/' || c, 'disable', $1::timestamptz - interval '3 years', $1
	 FROM generate_series(0, 9999) c`,
	`INSERT INTO rotations (id, credential_id, kind, state, version, reason, requested_by, old_version, staged_version,
		new_version, created_at, updated_at, issued_at, promoted_at, retired_at)
	 SELECT md5('rotation' || n)::uuid, format('cred-%s', lpad((n % 10000)::text, 5, '0')), 'manual', 'old_retired', 7,
		'quarterly', 'user-' || n % 50, '1', NULL, '2', start, start + interval '3 minutes',
		start + interval '1 minute', start + interval '2 minutes', start + interval '3 minutes'
	 FROM generate_series(0, 224999) n, LATERAL (SELECT $1::timestamptz - interval '2 years' + n * interval '280 seconds' AS start) s`,
	`INSERT INTO events (rotation_id, credential_id, at, actor, action, from_state, to_state, reason, detail)
	 SELECT md5('rotation' || n)::uuid, format('cred-%s', lpad((n % 10000)::text, 5, '0')),
		$1::timestamptz - interval '2 years' + n * interval '280 seconds' + k * interval '1 minute',
		CASE WHEN n % 5000 = 0 THEN 'auditor' WHEN k = 0 AND n % 10 = 0 THEN 'token:deploy-bot' ELSE 'user-' || (n + k) % 50 END,
		CASE WHEN k = 3 AND n % 1000 = 0 THEN 'old_revoked' ELSE (ARRAY['request', 'issue', 'promote', 'retire'])[k + 1] END,
		(ARRAY[NULL, 'requested', 'new_issued', 'dual_active'])[k + 1]::rotation_state,
		(ARRAY['requested', 'new_issued', 'dual_active', 'old_retired'])[k + 1]::rotation_state,
		CASE WHEN k = 0 THEN 'quarterly rotation ' || n ELSE '' END, ''
	 FROM generate_series(0, 224999) n, generate_series(0, 3) k
	 ORDER BY n, k`,
	`INSERT INTO incidents (id, credential_id, rotation_id, what, detected_at, reported_at, reported_by, force_revoke, closed_at)
	 SELECT md5('incident' || n)::uuid, format('cred-%s', lpad((n % 10000)::text, 5, '0')), md5('rotation' || n)::uuid,
		'lost_device', start, start, 'user-' || n % 50, false, start + interval '1 day'
	 FROM generate_series(215000, 224999) n, LATERAL (SELECT $1::timestamptz - interval '2 years' + n * interval '280 seconds' AS start) s`,
	`INSERT INTO incident_events (incident_id, at, actor, action, detail)
	 SELECT md5('incident' || n)::uuid, $1::timestamptz - interval '2 years' + n * interval '280 seconds' + k * interval '10 seconds',
		CASE WHEN k = 0 THEN 'user-' || n % 50 ELSE 'rotor' END,
		(ARRAY['reported', 'notified', 'notified', 'notify_failed', 'persium_sent', 'notified', 'notified',
		       'notified', 'notified', 'closed'])[k + 1],
		'channel ' || k
	 FROM generate_series(215000, 224999) n, generate_series(0, 9) k
	 ORDER BY n, k`,
	`ANALYZE`,
}

// statementLog keeps the last audit search a pool sent, to explain it.
type statementLog struct {
	mu   sync.Mutex
	sql  string
	args []any
}

func (l *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "FROM incident_events ie") || strings.Contains(data.SQL, "FROM events e") {
		l.mu.Lock()
		l.sql, l.args = data.SQL, data.Args
		l.mu.Unlock()
	}
	return ctx
}

func (l *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *statementLog) last() (string, []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sql, l.args
}

// BenchmarkAuditPages serves pages of the audit log, JSON and HTML, over
// 1,000,000 audit events and 10,000 credentials in Postgres, in process
// over loopback. It reports the 50th and 99th percentile of the request
// latency as p50-ms and p99-ms, and logs the plan of each query with
// EXPLAIN ANALYZE (go test -v). A plan that reads a whole event table
// fails the benchmark. Seeding takes about a minute.
func BenchmarkAuditPages(b *testing.B) {
	ctx := context.Background()
	statements := &statementLog{}
	base := pgtest.NewPool(b)
	cfg := base.Config()
	cfg.ConnConfig.Tracer = statements
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatalf("open traced pool: %v", err)
	}
	b.Cleanup(pool.Close)

	now := time.Now().UTC().Truncate(time.Second)
	seedStart := time.Now()
	for _, sql := range auditSeed {
		args := []any{now}
		if sql == "ANALYZE" {
			args = nil
		}
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, sql)
		}
	}
	var events, incidentEvents int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM incident_events)`).Scan(&events, &incidentEvents); err != nil {
		b.Fatalf("count events: %v", err)
	}
	b.Logf("seeded %d rotation events and %d incident events in %v", events, incidentEvents, time.Since(seedStart).Round(time.Second))

	store := pgstore.New(pool, time.Now)
	log := slog.New(slog.DiscardHandler)
	srv, err := api.New(api.Options{
		Service: rotation.NewService(rotation.Options{Store: store, Logger: log}),
		Auth:    api.Fixed{Name: "bench", Role: api.RoleViewer}, Logger: log,
	})
	if err != nil {
		b.Fatalf("api.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)

	// A cursor half-way down the log, to show that a deep page costs what
	// the first one does.
	middle, err := store.SearchAudit(ctx, rotation.AuditFilter{Until: now.AddDate(-1, 0, 0), Limit: 1})
	if err != nil || middle.NextCursor.IsZero() {
		b.Fatalf("find the middle of the log: %v", err)
	}
	deep := url.QueryEscape(middle.NextCursor.Encode())
	day := now.AddDate(0, -6, 0).Format(time.DateOnly)

	for _, page := range []struct{ name, path string }{
		{"json/first", "/api/v1/audit"},
		{"json/deep", "/api/v1/audit?cursor=" + deep},
		{"json/credential", "/api/v1/audit?credential=cred-05000"},
		{"json/credential-incidents", "/api/v1/audit?credential=cred-05000&action=notified"},
		{"json/actor-common", "/api/v1/audit?actor=user-7"},
		{"json/actor-rare", "/api/v1/audit?actor=AUDITOR"},
		{"json/action-rare", "/api/v1/audit?action=old_revoked"},
		{"json/incident-action", "/api/v1/audit?action=persium_sent"},
		{"json/one-day", "/api/v1/audit?since=" + day + "&until=" + day},
		{"json/limit-200", "/api/v1/audit?limit=200"},
		{"html/first", "/audit"},
		{"html/filtered", "/audit?credential=cred-05000&action=retire&since=" + now.AddDate(-1, 0, 0).Format(time.DateOnly)},
	} {
		b.Run(page.name, func(b *testing.B) {
			get(b, ts.URL+page.path)
			explainAudit(b, pool, statements)

			var latencies []time.Duration
			for b.Loop() {
				start := time.Now()
				n := get(b, ts.URL+page.path)
				latencies = append(latencies, time.Since(start))
				b.SetBytes(n)
			}
			slices.Sort(latencies)
			b.ReportMetric(percentile(latencies, 0.50), "p50-ms")
			b.ReportMetric(percentile(latencies, 0.99), "p99-ms")
		})
	}
}

// get requests url and returns the size of the body; any status but 200
// fails the benchmark.
func get(b *testing.B, url string) int64 {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	return n
}

// explainAudit logs the plan of the last audit search with EXPLAIN
// ANALYZE, planned with its arguments as the store's unnamed statement
// is, and fails the benchmark if the plan reads a whole event table.
func explainAudit(b *testing.B, pool *pgxpool.Pool, statements *statementLog) {
	sql, args := statements.last()
	if sql == "" {
		b.Fatalf("no audit search was traced")
	}
	rows, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sql, args...)
	if err != nil {
		b.Fatalf("explain: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatalf("explain: %v", err)
	}
	plan := strings.Join(lines, "\n")
	b.Logf("plan:\n%s", plan)
	for _, table := range []string{"events", "incident_events"} {
		if strings.Contains(plan, "Seq Scan on "+table+" ") {
			b.Errorf("the plan reads all of %s:\n%s", table, plan)
		}
	}
}

// percentile returns the p-th percentile of sorted durations, in
// milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(float64(len(sorted))*p), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}
