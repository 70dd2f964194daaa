package apitoken_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fixture struct {
	store *apitoken.Store
	pool  *pgxpool.Pool
	clock *storetest.Clock
	logs  *testlog.Buffer
	ctx   context.Context

	mu     sync.Mutex
	issued []secret.Value // every token created, for the search of the logs
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{pool: pgtest.NewPool(t), clock: storetest.NewClock(), logs: testlog.New(t), ctx: context.Background()}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.store = apitoken.New(f.pool, f.clock.Now, log)
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.issued {
			if strings.Contains(f.logs.String(), v.Reveal()) {
				t.Errorf("a token appears in the log:\n%s", f.logs)
			}
		}
	})
	return f
}

// create makes a token that expires in days and fails the test on error.
func (f *fixture) create(t *testing.T, name string, role api.Role, days int) (api.Token, secret.Value) {
	t.Helper()
	tok, v, err := f.store.Create(f.ctx, "alice", name, role, f.clock.Now().Add(time.Duration(days)*24*time.Hour))
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	f.mu.Lock()
	f.issued = append(f.issued, v)
	f.mu.Unlock()
	return tok, v
}

// request returns a request to path with the Authorization headers given.
func request(path string, authorization ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for _, a := range authorization {
		r.Header.Add("Authorization", a)
	}
	return r
}

func bearer(v secret.Value) string { return "Bearer " + v.Reveal() }

var tokenFormat = regexp.MustCompile(`^rotor_[A-Za-z0-9_-]{43}$`)

func TestCreateStoresOnlyHash(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok, v := f.create(t, "ci deploy", api.RoleOperator, 90)

	if !tokenFormat.MatchString(v.Reveal()) {
		t.Errorf("token has the wrong format (length %d); want rotor_ and 43 base64url characters", v.Len())
	}
	if tok.Name != "ci deploy" || tok.Role != api.RoleOperator || tok.CreatedBy != "alice" {
		t.Errorf("Create = %+v, want name ci deploy, role operator, created by alice", tok)
	}
	if want := f.clock.Now().Add(90 * 24 * time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", tok.ExpiresAt, want)
	}

	// Every column of both tables, as text, in every encoding Postgres
	// could hold the token in.
	var dump string
	err := f.pool.QueryRow(f.ctx, `
		SELECT coalesce((SELECT string_agg(t::text || encode(token_hash, 'hex') || encode(token_hash, 'base64'), E'\n') FROM api_tokens t), '')
		    || coalesce((SELECT string_agg(e::text, E'\n') FROM token_events e), '')`).Scan(&dump)
	if err != nil {
		t.Fatalf("dump tables: %v", err)
	}
	raw := v.Reveal()
	for _, part := range []string{raw, strings.TrimPrefix(raw, apitoken.Prefix), hex.EncodeToString([]byte(raw))} {
		if strings.Contains(dump, part) {
			t.Errorf("the database holds the token itself:\n%s", dump)
		}
	}
	sum := sha256.Sum256([]byte(raw))
	if !strings.Contains(dump, hex.EncodeToString(sum[:])) {
		t.Errorf("the database does not hold the token's SHA-256 hash:\n%s", dump)
	}
	if !strings.Contains(dump, "alice") || !strings.Contains(dump, "created") {
		t.Errorf("token_events has no created event naming alice:\n%s", dump)
	}
}

func TestTokensDiffer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, a := f.create(t, "a", api.RoleViewer, 30)
	_, b := f.create(t, "b", api.RoleViewer, 30)
	if a.Equal(b) {
		t.Errorf("two tokens are equal")
	}
}

func TestAuthenticateValidToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, v := f.create(t, "deploy-bot", api.RoleOperator, 30)

	for name, header := range map[string]string{
		"Bearer":            bearer(v),
		"lower-case":        "bearer " + v.Reveal(),
		"extra white space": "Bearer   " + v.Reveal() + " ",
	} {
		t.Run(name, func(t *testing.T) {
			p, err := f.store.Authenticate(request("/api/v1/credentials", header))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.Name != "token:deploy-bot" || p.Role != api.RoleOperator || p.Session != "" {
				t.Errorf("principal = %+v, want token:deploy-bot, operator, no session", p)
			}
		})
	}
}

func TestAuthenticatePassesOn(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, v := f.create(t, "deploy-bot", api.RoleAdmin, 30)

	uiForm := httptest.NewRequest(http.MethodPost, "/admin/tokens", strings.NewReader("name=x"))
	uiForm.Header.Set("Authorization", bearer(v))
	for name, r := range map[string]*http.Request{
		"no header":         request("/api/v1/credentials"),
		"other scheme":      request("/api/v1/credentials", "Basic YWxpY2U6cGFzcw=="),
		"UI page":           request("/", bearer(v)),
		"UI form":           uiForm,
		"path like the API": request("/apiv1/tokens", bearer(v)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.store.Authenticate(r)
			if !errors.Is(err, api.ErrUnauthenticated) {
				t.Errorf("Authenticate = %v, want api.ErrUnauthenticated", err)
			}
		})
	}
}

func TestAuthenticateRejects(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, valid := f.create(t, "valid", api.RoleViewer, 30)
	_, revoked := f.create(t, "revoked", api.RoleViewer, 30)
	revokedTok, err := f.store.List(f.ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, tok := range revokedTok {
		if tok.Name == "revoked" {
			if _, err := f.store.Revoke(f.ctx, "bob", tok.ID); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		}
	}
	_, expired := f.create(t, "expired", api.RoleViewer, 1)
	f.clock.Advance(24 * time.Hour)
	// The same shape as a token, never issued.
	unknown := apitoken.Prefix + strings.Repeat("A", 43)

	cases := map[string]struct {
		headers []string
		code    string
	}{
		"malformed":            {[]string{"Bearer not-a-token"}, "invalid_token"},
		"empty":                {[]string{"Bearer "}, "invalid_token"},
		"truncated":            {[]string{bearer(valid)[:len(bearer(valid))-1]}, "invalid_token"},
		"not base64url":        {[]string{"Bearer rotor_" + strings.Repeat("!", 43)}, "invalid_token"},
		"unknown":              {[]string{"Bearer " + unknown}, "invalid_token"},
		"revoked":              {[]string{bearer(revoked)}, "token_revoked"},
		"expired":              {[]string{bearer(expired)}, "token_expired"},
		"two headers":          {[]string{bearer(valid), bearer(valid)}, "invalid_token"},
		"valid with a suffix":  {[]string{bearer(valid) + "x"}, "invalid_token"},
		"valid without prefix": {[]string{"Bearer " + strings.TrimPrefix(valid.Reveal(), apitoken.Prefix)}, "invalid_token"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.store.Authenticate(request("/api/v1/credentials", c.headers...))
			var authErr *api.AuthError
			if !errors.As(err, &authErr) {
				t.Fatalf("Authenticate = %v, want an *api.AuthError", err)
			}
			if authErr.Code != c.code {
				t.Errorf("code = %q, want %q", authErr.Code, c.code)
			}
			if !strings.Contains(authErr.Message, "/admin/tokens") {
				t.Errorf("message %q does not say where to get a new token", authErr.Message)
			}
			for _, v := range []secret.Value{valid, revoked, expired} {
				if strings.Contains(authErr.Message, strings.TrimPrefix(v.Reveal(), apitoken.Prefix)) {
					t.Errorf("message %q contains a token", authErr.Message)
				}
			}
		})
	}
}

func TestLastUsedAtOncePerMinute(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, v := f.create(t, "poller", api.RoleViewer, 30)
	lastUsed := func() time.Time {
		t.Helper()
		tokens, err := f.store.List(f.ctx)
		if err != nil || len(tokens) != 1 {
			t.Fatalf("List = %v, %v; want one token", tokens, err)
		}
		return tokens[0].LastUsedAt
	}
	use := func() {
		t.Helper()
		if _, err := f.store.Authenticate(request("/api/v1/credentials", bearer(v))); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
	}

	if got := lastUsed(); !got.IsZero() {
		t.Errorf("LastUsedAt before any use = %v, want zero", got)
	}
	first := f.clock.Now()
	use()
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("LastUsedAt after the first use = %v, want %v", got, first)
	}
	f.clock.Advance(59 * time.Second)
	use()
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("LastUsedAt 59 seconds later = %v, want it kept at %v", got, first)
	}
	f.clock.Advance(time.Second)
	use()
	if got, want := lastUsed(), first.Add(time.Minute); !got.Equal(want) {
		t.Errorf("LastUsedAt a minute later = %v, want %v", got, want)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := f.clock.Now()
	day := 24 * time.Hour

	cases := map[string]struct {
		name      string
		role      api.Role
		expiresAt time.Time
		code      string
		mention   string
	}{
		"empty name":         {"", api.RoleViewer, now.Add(day), "invalid_token_name", "missing"},
		"long name":          {strings.Repeat("a", 65), api.RoleViewer, now.Add(day), "invalid_token_name", "65 bytes"},
		"leading space":      {" ci", api.RoleViewer, now.Add(day), "invalid_token_name", "space"},
		"slash in name":      {"ci/deploy", api.RoleViewer, now.Add(day), "invalid_token_name", `'/'`},
		"non-ASCII letter":   {"déploiement", api.RoleViewer, now.Add(day), "invalid_token_name", `'é'`},
		"no role":            {"ci", 0, now.Add(day), "invalid_role", "viewer, operator or admin"},
		"role beyond admin":  {"ci", api.RoleAdmin + 1, now.Add(day), "invalid_role", "viewer, operator or admin"},
		"no expiry":          {"ci", api.RoleViewer, time.Time{}, "invalid_token_expiry", "365 days"},
		"expiry now":         {"ci", api.RoleViewer, now, "invalid_token_expiry", "not in the future"},
		"expiry past a year": {"ci", api.RoleViewer, now.Add(365*day + time.Second), "invalid_token_expiry", "more than 365 days"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := f.store.Create(f.ctx, "alice", c.name, c.role, c.expiresAt)
			e, ok := rotation.AsError(err)
			if !ok || !errors.Is(err, rotation.ErrInvalid) {
				t.Fatalf("Create = %v, want a rotation.ErrInvalid", err)
			}
			if e.Code != c.code {
				t.Errorf("code = %q, want %q", e.Code, c.code)
			}
			if !strings.Contains(e.Message, c.mention) {
				t.Errorf("message %q does not mention %q", e.Message, c.mention)
			}
		})
	}

	if _, _, err := f.store.Create(f.ctx, "alice", "a year", api.RoleViewer, now.Add(365*day)); err != nil {
		t.Errorf("Create with an expiry of exactly 365 days: %v", err)
	}
	if _, _, err := f.store.Create(f.ctx, "alice", strings.Repeat("a", 64), api.RoleViewer, now.Add(day)); err != nil {
		t.Errorf("Create with a name of 64 characters: %v", err)
	}
}

func TestDuplicateName(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first, _ := f.create(t, "ci-deploy", api.RoleOperator, 1)

	_, _, err := f.store.Create(f.ctx, "bob", "CI-Deploy", api.RoleViewer, f.clock.Now().Add(time.Hour))
	e, ok := rotation.AsError(err)
	if !ok || !errors.Is(err, rotation.ErrConflict) || e.Code != "token_name_taken" {
		t.Fatalf("Create with a name in use = %v, want a rotation.ErrConflict with code token_name_taken", err)
	}
	for _, want := range []string{`"CI-Deploy"`, "alice", "another name", "revoke"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q does not mention %q", e.Message, want)
		}
	}

	t.Run("free after revocation", func(t *testing.T) {
		if _, err := f.store.Revoke(f.ctx, "bob", first.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		second, _ := f.create(t, "ci-deploy", api.RoleOperator, 2)
		t.Run("free after expiry", func(t *testing.T) {
			f.clock.Advance(2 * 24 * time.Hour)
			third, _ := f.create(t, "ci-deploy", api.RoleOperator, 30)
			if third.ID == second.ID {
				t.Errorf("the new token has the expired one's id")
			}
		})
	})
}

func TestConcurrentCreateSameName(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const n = 6
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, v, err := f.store.Create(f.ctx, "alice", "race", api.RoleViewer, f.clock.Now().Add(time.Hour))
			if err == nil {
				f.mu.Lock()
				f.issued = append(f.issued, v)
				f.mu.Unlock()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, rotation.ErrConflict):
			t.Errorf("Create: %v, want success or rotation.ErrConflict", err)
		}
	}
	if created != 1 {
		t.Errorf("%d concurrent creations of one name succeeded, want 1", created)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok, _ := f.create(t, "old", api.RoleViewer, 30)
	f.clock.Advance(time.Hour)

	got, err := f.store.Revoke(f.ctx, "bob", tok.ID)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got.RevokedBy != "bob" || !got.RevokedAt.Equal(f.clock.Now()) || got.Status(f.clock.Now()) != api.TokenRevoked {
		t.Errorf("Revoke = %+v, want revoked now by bob", got)
	}

	_, err = f.store.Revoke(f.ctx, "carol", tok.ID)
	if e, ok := rotation.AsError(err); !ok || !errors.Is(err, rotation.ErrConflict) || e.Code != "token_already_revoked" || !strings.Contains(e.Message, "bob") {
		t.Errorf("second Revoke = %v, want a rotation.ErrConflict with code token_already_revoked that names bob", err)
	}
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid", ""} {
		if _, err := f.store.Revoke(f.ctx, "bob", id); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("Revoke(%q) = %v, want rotation.ErrNotFound", id, err)
		}
	}

	rows, err := f.pool.Query(f.ctx, `SELECT actor, action FROM token_events WHERE token_id = $1 ORDER BY id`, tok.ID)
	if err != nil {
		t.Fatalf("read token_events: %v", err)
	}
	var events []string
	for rows.Next() {
		var actor, action string
		if err := rows.Scan(&actor, &action); err != nil {
			t.Fatalf("scan: %v", err)
		}
		events = append(events, actor+" "+action)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read token_events: %v", err)
	}
	if want := []string{"alice created", "bob revoked"}; strings.Join(events, ", ") != strings.Join(want, ", ") {
		t.Errorf("token_events = %v, want %v", events, want)
	}
}

func TestListNewestFirst(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tokens, err := f.store.List(f.ctx)
	if err != nil || len(tokens) != 0 {
		t.Fatalf("List of an empty table = %v, %v; want none", tokens, err)
	}
	for _, name := range []string{"first", "second", "third"} {
		f.create(t, name, api.RoleViewer, 1)
		f.clock.Advance(time.Hour)
	}
	f.clock.Advance(24 * time.Hour)

	tokens, err = f.store.List(f.ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, tok := range tokens {
		names = append(names, tok.Name+" "+string(tok.Status(f.clock.Now())))
	}
	if got, want := strings.Join(names, ", "), "third expired, second expired, first expired"; got != want {
		t.Errorf("List = %s, want %s", got, want)
	}
}

// The schema itself refuses to edit or delete a token and to rewrite its
// history, so neither a bug nor a manual statement can.
func TestSchemaGuards(t *testing.T) {
	t.Parallel()
	f := setup(t)
	active, _ := f.create(t, "active", api.RoleViewer, 30)
	revoked, _ := f.create(t, "revoked", api.RoleViewer, 30)
	if _, err := f.store.Revoke(f.ctx, "bob", revoked.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}

	for name, c := range map[string]struct{ sql, id string }{
		"raise the role":         {`UPDATE api_tokens SET role = 'admin' WHERE id = $1`, active.ID},
		"rename":                 {`UPDATE api_tokens SET name = 'other' WHERE id = $1`, active.ID},
		"extend the expiry":      {`UPDATE api_tokens SET expires_at = expires_at + interval '1 day' WHERE id = $1`, active.ID},
		"replace the hash":       {`UPDATE api_tokens SET token_hash = sha256('x') WHERE id = $1`, active.ID},
		"revoke without a name":  {`UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, active.ID},
		"undo the revocation":    {`UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE id = $1`, revoked.ID},
		"change the revoker":     {`UPDATE api_tokens SET revoked_by = 'mallory' WHERE id = $1`, revoked.ID},
		"delete a token":         {`DELETE FROM api_tokens WHERE id = $1`, active.ID},
		"edit an audit event":    {`UPDATE token_events SET actor = 'mallory' WHERE token_id = $1`, active.ID},
		"delete an audit event":  {`DELETE FROM token_events WHERE token_id = $1`, active.ID},
		"expiry beyond a year":   {`INSERT INTO api_tokens (id, name, role, token_hash, created_by, created_at, expires_at) VALUES ($1, 'x', 'viewer', sha256('y'), 'a', now(), now() + interval '366 days')`, "00000000-0000-4000-8000-000000000001"},
		"hash of the wrong size": {`INSERT INTO api_tokens (id, name, role, token_hash, created_by, created_at, expires_at) VALUES ($1, 'x', 'viewer', 'short', 'a', now(), now() + interval '1 day')`, "00000000-0000-4000-8000-000000000002"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.pool.Exec(f.ctx, c.sql, c.id); err == nil {
				t.Errorf("statement succeeded, want the schema to reject it")
			}
		})
	}
	for _, table := range []string{"api_tokens", "token_events"} {
		if _, err := f.pool.Exec(f.ctx, `TRUNCATE `+table+` CASCADE`); err == nil {
			t.Errorf("TRUNCATE %s succeeded, want the schema to reject it", table)
		}
	}
}

func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	// A port on which nothing listens any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+addr+"/rotor?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(pool.Close)
	store := apitoken.New(pool, time.Now, nil)

	_, _, err = store.Create(context.Background(), "alice", "ci", api.RoleViewer, time.Now().Add(time.Hour))
	if !errors.Is(err, rotation.ErrUnavailable) {
		t.Errorf("Create = %v, want rotation.ErrUnavailable", err)
	}
	_, err = store.Authenticate(request("/api/v1/credentials", "Bearer "+apitoken.Prefix+strings.Repeat("A", 43)))
	var authErr *api.AuthError
	if err == nil || errors.Is(err, api.ErrUnauthenticated) || errors.As(err, &authErr) {
		t.Errorf("Authenticate = %v, want an error that stops the chain without blaming the token", err)
	}
}
