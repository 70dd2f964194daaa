// Package pgtest gives each test a clean, migrated Postgres schema of its
// own in the test database, so tests can commit and run in parallel without
// a database per test.
//
// The database comes from ROTOR_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/rotor_test?sslmode=disable). When it
// cannot be reached the test is skipped with a loud message, except under
// CI (CI=true), where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/migrations"
)

// DefaultURL is the test database used when ROTOR_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/rotor_test?sslmode=disable"

// URL returns the test database's URL.
func URL() string {
	if u := os.Getenv("ROTOR_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewPool returns a pool whose connections use a new schema with rotor's
// migrations applied. The schema is dropped when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	schema := NewSchema(t)
	pool, err := Open(ctx, URL(), schema)
	if err != nil {
		t.Fatalf("open pool on schema %s: %v", schema, err)
	}
	t.Cleanup(pool.Close)

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := migrations.Up(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate schema %s: %v", schema, err)
	}
	return pool
}

// SchemaURL returns the test database's URL with a new, empty schema as
// its search path, for tests that run rotor's own migrations. The schema is
// dropped when the test ends.
func SchemaURL(t testing.TB) (url, schema string) {
	t.Helper()
	schema = NewSchema(t)
	sep := "?"
	if strings.Contains(URL(), "?") {
		sep = "&"
	}
	return URL() + sep + "search_path=" + schema, schema
}

// NewSchema creates an empty schema and drops it when the test ends.
// Before it drops the schema, it reads every column of every table as text.
// It fails the test when one contains a canary secret (package canary) in
// any form, so every test on Postgres also checks that rotor wrote no
// secret to its database.
func NewSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, URL())
	if err != nil {
		unavailable(t, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))

	schema := "test_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, URL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if err := searchCanary(ctx, t, conn, schema); err != nil {
			t.Errorf("search schema %s for the canary secret: %v", schema, err)
		}
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Open returns a pool on url whose connections use schema as their search
// path.
func Open(ctx context.Context, url, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	return pgxpool.NewWithConfig(ctx, cfg)
}

// searchCanary fails t once for each column of a table in schema that holds
// a canary in any form. Each column is read as its own text output, so a
// text value is searched as it is stored, not as a quoted field of a row.
// It costs two round trips: one for the columns, one batch for the tables.
func searchCanary(ctx context.Context, t testing.TB, conn *pgx.Conn, schema string) error {
	t.Helper()
	rows, err := conn.Query(ctx, `
		SELECT c.relname, a.attname
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY c.relname, a.attnum`, schema)
	if err != nil {
		return fmt.Errorf("list columns: %w", err)
	}
	var tables []string
	columns := map[string][]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			return fmt.Errorf("list columns: %w", err)
		}
		if len(columns[table]) == 0 {
			tables = append(tables, table)
		}
		columns[table] = append(columns[table], column)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list columns: %w", err)
	}
	if len(tables) == 0 {
		return nil
	}

	batch := &pgx.Batch{}
	for _, table := range tables {
		selected := make([]string, len(columns[table]))
		for i, column := range columns[table] {
			selected[i] = pgx.Identifier{column}.Sanitize() + "::text"
		}
		batch.Queue("SELECT " + strings.Join(selected, ", ") + " FROM " + pgx.Identifier{schema, table}.Sanitize())
	}
	results := conn.SendBatch(ctx, batch)
	defer results.Close()
	for _, table := range tables {
		if err := searchTable(t, results, table, columns[table]); err != nil {
			return err
		}
	}
	return results.Close()
}

// searchTable reads the next result of results, the text of each column of
// table, and fails t once per column that holds a canary.
func searchTable(t testing.TB, results pgx.BatchResults, table string, columns []string) error {
	t.Helper()
	rows, err := results.Query()
	if err != nil {
		return fmt.Errorf("read table %s: %w", table, err)
	}
	defer rows.Close()

	reported := map[int]bool{}
	texts := make([]*string, len(columns))
	dest := make([]any, len(columns))
	for i := range texts {
		dest[i] = &texts[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read table %s: %w", table, err)
		}
		for i, text := range texts {
			if text == nil || reported[i] {
				continue
			}
			if form, found := canary.Find(*text); found {
				reported[i] = true
				t.Errorf("database column %s.%s contains the canary secret (%s form)", table, columns[i], form)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read table %s: %w", table, err)
	}
	return nil
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("Postgres test database unreachable at %s (%v); start Postgres and create the database, or set ROTOR_TEST_DATABASE_URL", redactURL(URL()), err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPING: " + msg)
}

// redactURL drops a password from a database URL before it is printed.
func redactURL(u string) string {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return "(unparseable URL)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
