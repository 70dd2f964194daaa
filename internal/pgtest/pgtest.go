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
