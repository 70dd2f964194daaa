package pgtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/canary"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestSearchCanaryNamesEachColumn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := NewSchema(t)
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)

	table := pgx.Identifier{schema, "notes"}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int, body text, doc jsonb, raw bytea, tags text[])"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	// The canary in body and raw is in a row of its own, and in doc inside
	// a JSON document; tags holds only clean text.
	inserts := []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO " + table + " VALUES (1, 'clean', '{\"a\": 1}', NULL, ARRAY['x', 'y'])", nil},
		{"INSERT INTO " + table + " (id, body, raw) VALUES (2, $1, $2)", []any{"note: " + canary.Value.Reveal(), []byte(canary.Third.Reveal())}},
		{"INSERT INTO " + table + " (id, doc) VALUES (3, jsonb_build_object('secret', $1::text))", []any{canary.Second.Reveal()}},
	}
	for _, in := range inserts {
		if _, err := conn.Exec(ctx, in.sql, in.args...); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}

	rec := &recorder{TB: t}
	if err := searchCanary(ctx, rec, conn, schema); err != nil {
		t.Fatalf("searchCanary: %v", err)
	}
	var columns []string
	for _, f := range rec.failures {
		column, _, _ := strings.Cut(strings.TrimPrefix(f, "database column "), " ")
		columns = append(columns, column)
		if _, found := canary.Find(f); found {
			t.Errorf("failure message shows a canary: %q", f)
		}
	}
	slices.Sort(columns)
	if want := []string{"notes.body", "notes.doc", "notes.raw"}; !slices.Equal(columns, want) {
		t.Errorf("failures name columns %q, want %q; messages: %q", columns, want, rec.failures)
	}

	// Leave the schema clean, so the search at cleanup passes.
	if _, err := conn.Exec(ctx, "TRUNCATE "+table); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	clean := &recorder{TB: t}
	if err := searchCanary(ctx, clean, conn, schema); err != nil {
		t.Fatalf("searchCanary: %v", err)
	}
	if len(clean.failures) != 0 {
		t.Errorf("search of an empty table failed: %q", clean.failures)
	}
}

func TestSearchCanaryMigratedSchemaIsClean(t *testing.T) {
	t.Parallel()
	pool := NewPool(t)
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()

	var schema string
	if err := conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatalf("current schema: %v", err)
	}
	var tables int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1", schema).Scan(&tables); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if tables < 5 {
		t.Fatalf("migrated schema has %d tables; the search would have little to read", tables)
	}

	rec := &recorder{TB: t}
	if err := searchCanary(t.Context(), rec, conn.Conn(), schema); err != nil {
		t.Fatalf("searchCanary over %d tables: %v", tables, err)
	}
	if len(rec.failures) != 0 {
		t.Errorf("search of a freshly migrated schema failed: %q", rec.failures)
	}
}
