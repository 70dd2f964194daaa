package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
)

// BenchmarkListPages serves the first and a middle page of the credential
// list (JSON) and of the dashboard over 10,000 credentials in Postgres, in
// process, for a CPU profile of where a request's time goes. The latency
// under load comes from scripts/benchserve and scripts/loadgen instead.
func BenchmarkListPages(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	now := time.Now().UTC()
	rows := make([][]any, 10_000)
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
		b.Fatalf("copy credentials: %v", err)
	}
	store := pgstore.New(pool, time.Now)
	log := slog.New(slog.DiscardHandler)
	srv, err := api.New(api.Options{
		Service: rotation.NewService(rotation.Options{Store: store, Logger: log}),
		Auth:    api.Fixed{Name: "bench", Role: api.RoleViewer}, Logger: log, Reminders: store,
	})
	if err != nil {
		b.Fatalf("api.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)

	// A cursor halfway through the list, to show that a later page costs
	// what the first one does.
	_, middle, err := store.ListCredentialPage(ctx, rotation.CredentialCursor{}, 5_000)
	if err != nil {
		b.Fatalf("ListCredentialPage: %v", err)
	}
	for _, page := range []struct{ name, path string }{
		{"json/first", "/api/v1/credentials?limit=100"},
		{"json/middle", "/api/v1/credentials?limit=100&cursor=" + middle.Encode()},
		{"dashboard/first", "/"},
		{"dashboard/middle", "/?cursor=" + middle.Encode()},
	} {
		path := page.path
		b.Run(page.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Get(ts.URL + path)
				if err != nil {
					b.Fatalf("GET %s: %v", path, err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: status %d", path, resp.StatusCode)
				}
				b.SetBytes(n)
			}
		})
	}
}
