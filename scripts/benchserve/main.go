// Command benchserve seeds a Postgres schema with many credentials,
// rotations and audit events, and serves rotor's API and dashboard on it,
// for the load test in BENCHMARKS.md. It is a benchmark harness, not a
// way to run rotor: it has no secrets backend and no token endpoint.
//
//	go run ./scripts/benchserve -seed -addr 127.0.0.1:8090
//
// With -seed it drops and recreates the schema first. It prints the id of
// one rotation for the rotation-page test and the cursor of the page in
// the middle of the credential list, then "ready" when it listens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/migrations"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "benchserve: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	dbURL := flag.String("db", pgtest.URL(), "Postgres URL")
	schema := flag.String("schema", "bench_api", "schema to seed and serve")
	seed := flag.Bool("seed", false, "drop, recreate and seed the schema first")
	creds := flag.Int("credentials", 10_000, "credentials to seed")
	events := flag.Int("events", 1_000_000, "audit events to seed, four per rotation")
	addr := flag.String("addr", "127.0.0.1:8090", "loopback address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if *seed {
		start := time.Now()
		if err := seedSchema(ctx, *dbURL, *schema, *creds, *events); err != nil {
			return err
		}
		fmt.Printf("seeded %d credentials and %d events in %s\n", *creds, *events, time.Since(start).Round(time.Millisecond))
	}

	pool, err := pgtest.Open(ctx, *dbURL, *schema)
	if err != nil {
		return fmt.Errorf("open schema %s: %w", *schema, err)
	}
	defer pool.Close()
	var rotationID string
	if err := pool.QueryRow(ctx, `SELECT id::text FROM rotations ORDER BY credential_id, created_at DESC LIMIT 1`).Scan(&rotationID); err != nil {
		return fmt.Errorf("pick a rotation: %w", err)
	}
	fmt.Printf("rotation %s\n", rotationID)

	store := pgstore.New(pool, time.Now)
	_, middle, err := store.ListCredentialPage(ctx, rotation.CredentialCursor{}, max(1, *creds/2))
	if err != nil {
		return fmt.Errorf("find the middle of the credential list: %w", err)
	}
	fmt.Printf("cursor %s\n", middle.Encode())
	svc := rotation.NewService(rotation.Options{Store: store, Logger: log})
	srv, err := api.New(api.Options{
		Service: svc, Auth: api.Fixed{Name: "bench", Role: api.RoleViewer},
		Logger: log, Reminders: store, Ready: func(ctx context.Context) error { return store.Ping(ctx) },
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	fmt.Println("ready")
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// seedSchema recreates schema, migrates it and fills it: credentials by
// COPY, then per credential old_retired rotations with four events each,
// generated in the server. Each credential's rotations are shifted by a
// number of days taken from a hash of its id, so the due dates spread
// from 10 days overdue to 79 days ahead, as they would after rotor ran a
// while.
func seedSchema(ctx context.Context, dbURL, schema string, nCreds, nEvents int) error {
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE; CREATE SCHEMA "+ident); err != nil {
		return fmt.Errorf("recreate schema %s: %w", schema, err)
	}

	pool, err := pgtest.Open(ctx, dbURL, schema)
	if err != nil {
		return fmt.Errorf("open schema %s: %w", schema, err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := migrations.Up(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	if err := copyCredentials(ctx, pool, nCreds); err != nil {
		return err
	}

	perCred := max(1, nEvents/4/nCreds)
	_, err = pool.Exec(ctx, `
		INSERT INTO rotations (id, credential_id, kind, state, version, reason, requested_by,
			old_version, staged_version, new_version,
			created_at, updated_at, issued_at, promoted_at, retired_at)
		SELECT gen_random_uuid(), c.id, 'scheduled', 'old_retired', 5, 'quarterly rotation', 'seed',
			n::text, (n+1)::text, (n+1)::text,
			t, t + interval '3 hours', t + interval '1 hour', t + interval '2 hours', t + interval '3 hours'
		FROM credentials c, generate_series(1, $1) AS n,
			LATERAL (SELECT now() - (($1 - n + 1) * interval '90 days')
				+ ((abs(hashtext(c.id)) % 90) - 10) * interval '1 day' AS t) AS at`, perCred)
	if err != nil {
		return fmt.Errorf("seed rotations: %w", err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO events (rotation_id, credential_id, at, actor, action, from_state, to_state, detail)
		SELECT r.id, r.credential_id, r.created_at + (s.i * interval '1 hour'), 'seed', s.action,
			s.from_state::rotation_state, s.to_state::rotation_state, 'seeded for the benchmark'
		FROM rotations r, (VALUES
			(0, 'request', NULL, 'requested'),
			(1, 'issue', 'requested', 'new_issued'),
			(2, 'promote', 'new_issued', 'dual_active'),
			(3, 'retire', 'dual_active', 'old_retired')) AS s (i, action, from_state, to_state)
		ORDER BY r.id, s.i`)
	if err != nil {
		return fmt.Errorf("seed events: %w", err)
	}
	_, err = pool.Exec(ctx, `UPDATE credentials c SET last_retired_at = r.retired_at
		FROM (SELECT credential_id, max(retired_at) AS retired_at FROM rotations GROUP BY credential_id) r
		WHERE r.credential_id = c.id`)
	if err != nil {
		return fmt.Errorf("stamp last retirement: %w", err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

func copyCredentials(ctx context.Context, pool *pgxpool.Pool, n int) error {
	now := time.Now().UTC()
	rows := make([][]any, n)
	for i := range rows {
		id := fmt.Sprintf("cred-%06d", i)
		rows[i] = []any{id, "Organisation " + id, uuid.NewSHA1(uuid.NameSpaceOID, []byte(id)), "client-" + id, "basic",
			int64(90 * 24 * time.Hour / time.Microsecond), int64(time.Hour / time.Microsecond), int64(0),
			"vault", "persium/" + id, "disable", now, now}
	}
	cols := []string{"id", "organisation", "organisation_id", "client_id", "auth_method",
		"rotation_period", "min_dual_active", "overlap", "backend", "secret_path", "retire_mode",
		"created_at", "updated_at"}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"credentials"}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy %d credentials: %w", n, err)
	}
	return nil
}
