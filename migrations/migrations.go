// Package migrations embeds rotor's Postgres schema as numbered goose
// migrations and applies them.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// Up applies every migration that db has not seen, each in its own
// transaction, and logs each one applied. Calls on one schema take turns
// under a Postgres advisory lock, so several rotor processes can start at
// once on a new database.
func Up(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	locker, err := schemaLocker(ctx, db)
	if err != nil {
		return err
	}
	p, err := newProvider(db, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "migration", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
	}
	return nil
}

// Pending reports how many migrations db has not applied yet.
func Pending(ctx context.Context, db *sql.DB) (int, error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, err
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("read migration versions: %w", err)
	}
	if current >= target {
		return 0, nil
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("read migration status: %w", err)
	}
	n := 0
	for _, s := range statuses {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// schemaLocker returns an advisory lock keyed by the database and schema
// that db's connections use, so that migrations of other schemas, such as
// the tests' schemas, do not wait for each other. A waiting process tries
// again every second, for five minutes at most.
func schemaLocker(ctx context.Context, db *sql.DB) (lock.SessionLocker, error) {
	var where string
	if err := db.QueryRowContext(ctx, `SELECT current_database() || '.' || COALESCE(current_schema(), '')`).Scan(&where); err != nil {
		return nil, fmt.Errorf("read the schema to migrate: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("rotor migrations " + where))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("create the migration lock: %w", err)
	}
	return locker, nil
}

func newProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}
