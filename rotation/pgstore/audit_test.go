package pgstore_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
)

// The audit log's action filter accepts exactly the actions that the
// schema lets each event table hold, so a new action added to one and not
// the other fails here instead of being unsearchable.
func TestAuditActionsMatchSchema(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	quoted := regexp.MustCompile(`'([a-z_]+)'`)

	for _, c := range []struct {
		constraint string
		want       []string
	}{
		{"events_action_check", actionNames(rotation.RotationActions)},
		{"incident_events_action_check", actionNames(rotation.IncidentActions)},
	} {
		var def string
		err := pool.QueryRow(context.Background(),
			`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1 AND connamespace = current_schema()::regnamespace`,
			c.constraint).Scan(&def)
		if err != nil {
			t.Fatalf("read constraint %s: %v", c.constraint, err)
		}
		var got []string
		for _, m := range quoted.FindAllStringSubmatch(def, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("actions of %s (-rotation's list +schema):\n%s", c.constraint, diff)
		}
	}
}

func actionNames[A ~string](actions []A) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return out
}

// The audit search is planned with its arguments each time, never from a
// cached generic plan, which would scan for a rare action or actor.
func TestSearchAuditNotPrepared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewPool(t).Config()
	cfg.MaxConns = 1 // pg_prepared_statements lists one session's statements
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	store := pgstore.New(pool, storetest.NewClock().Now)

	for range 7 {
		if _, err := store.SearchAudit(ctx, rotation.AuditFilter{Action: "paused"}); err != nil {
			t.Fatalf("SearchAudit: %v", err)
		}
	}
	var prepared int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM events e%'`,
		pgx.QueryExecModeSimpleProtocol).Scan(&prepared)
	if err != nil {
		t.Fatalf("read pg_prepared_statements: %v", err)
	}
	if prepared != 0 {
		t.Errorf("the audit search is a prepared statement %d times, want an unnamed statement", prepared)
	}
}
