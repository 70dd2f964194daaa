package pgstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
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
		{"token_events_action_check", storedTokenActions()},
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

// storedTokenActions returns the names of rotation.TokenActions as
// token_events stores them, without the "token_" prefix.
func storedTokenActions() []string {
	out := actionNames(rotation.TokenActions)
	for i, a := range out {
		out[i] = strings.TrimPrefix(a, "token_")
	}
	return out
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

// tokenAuditFixture is a Postgres store whose schema also holds API tokens,
// created and revoked through package apitoken, as rotor serve does.
type tokenAuditFixture struct {
	ctx    context.Context
	store  *pgstore.Store
	tokens *apitoken.Store
	clock  *storetest.Clock
	values []secret.Value // every token created, none of which may appear in an entry
}

func setupTokenAudit(t *testing.T) *tokenAuditFixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	clock := storetest.NewClock()
	f := &tokenAuditFixture{ctx: context.Background(), store: pgstore.New(pool, clock.Now),
		tokens: apitoken.New(pool, clock.Now, nil), clock: clock}
	creds := []rotation.Credential{storetest.Credential("cred-a"), storetest.Credential("cred-b")}
	if err := f.store.SyncCredentials(f.ctx, creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	return f
}

func (f *tokenAuditFixture) createToken(t *testing.T, actor, name string, role api.Role) api.Token {
	t.Helper()
	tok, value, err := f.tokens.Create(f.ctx, actor, name, role, f.clock.Now().Add(90*24*time.Hour))
	if err != nil {
		t.Fatalf("Create token %q: %v", name, err)
	}
	f.values = append(f.values, value)
	return tok
}

func (f *tokenAuditFixture) search(t *testing.T, filter rotation.AuditFilter) rotation.AuditPage {
	t.Helper()
	page, err := f.store.SearchAudit(f.ctx, filter)
	if err != nil {
		t.Fatalf("SearchAudit(%+v): %v", filter, err)
	}
	return page
}

// searchAll pages through filter with pages of limit, through the encoded
// cursor, and calls between after each page but the last.
func (f *tokenAuditFixture) searchAll(t *testing.T, filter rotation.AuditFilter, limit int, between func()) []rotation.AuditEntry {
	t.Helper()
	filter.Limit = limit
	var all []rotation.AuditEntry
	for range 100 {
		page := f.search(t, filter)
		all = append(all, page.Entries...)
		if page.NextCursor.IsZero() {
			return all
		}
		next, err := rotation.ParseAuditCursor(page.NextCursor.Encode())
		if err != nil {
			t.Fatalf("ParseAuditCursor(%q): %v", page.NextCursor.Encode(), err)
		}
		filter.Cursor = next
		if between != nil {
			between()
		}
	}
	t.Fatalf("paging with limit %d did not end after 100 pages", limit)
	return nil
}

// tokenHistory writes rotation, incident and token events, with all three
// sources at one instant and two token events at another, and returns the
// token that bob revokes.
//
//	09:30  alice requests a rotation of cred-a. ada creates ci-deploy.
//	09:31  carol reports a compromise of cred-b, which writes a rotation
//	       event and an incident event. ada creates nightly, then reader.
//	09:32  bob revokes ci-deploy.
//	09:33  ada creates admin-bot.
func (f *tokenAuditFixture) tokenHistory(t *testing.T) api.Token {
	t.Helper()
	if _, err := f.store.CreateRotation(f.ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest}); err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}
	ci := f.createToken(t, "ada", "ci-deploy", api.RoleOperator)

	f.clock.Advance(time.Minute)
	_, _, err := f.store.ReportIncident(f.ctx, rotation.IncidentReport{
		Incident: rotation.Incident{ID: uuid.NewString(), CredentialID: "cred-b", What: rotation.WhatPublicCommit,
			DetectedAt: f.clock.Now().Add(-time.Hour), ReportedBy: "carol", Details: "pushed to a public fork",
			Checklist: []rotation.ChecklistItem{{Title: "search the logs"}}},
		Rotation: rotation.Rotation{ID: uuid.NewString(), Kind: rotation.KindEmergency, Reason: "suspected compromise", RequestedBy: "carol"},
	})
	if err != nil {
		t.Fatalf("ReportIncident: %v", err)
	}
	f.createToken(t, "ada", "nightly", api.RoleViewer)
	f.createToken(t, "ada", "reader", api.RoleViewer)

	f.clock.Advance(time.Minute)
	if _, err := f.tokens.Revoke(f.ctx, "bob", ci.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	f.clock.Advance(time.Minute)
	f.createToken(t, "ada", "admin-bot", api.RoleAdmin)
	return ci
}

// describeEntries returns each entry as "source action actor credential",
// with the token's name for token events.
func describeEntries(entries []rotation.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = fmt.Sprintf("%s %s %s %s%s", e.Source, e.Action, e.Actor, e.CredentialID, e.TokenName)
	}
	return out
}

func entryKeys(entries []rotation.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = fmt.Sprintf("%s/%d", e.Source, e.ID)
	}
	return out
}

// The creation and revocation of API tokens are audit entries, ordered
// with rotation and incident events, and name the token but never hold it.
func TestSearchAuditTokenEvents(t *testing.T) {
	t.Parallel()
	f := setupTokenAudit(t)
	ci := f.tokenHistory(t)

	all := f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}).Entries
	want := []string{
		"token token_created ada admin-bot",
		"token token_revoked bob ci-deploy",
		"token token_created ada reader",
		"token token_created ada nightly",
		"incident reported carol cred-b",
		"rotation request carol cred-b",
		"token token_created ada ci-deploy",
		"rotation request alice cred-a",
	}
	if diff := cmp.Diff(want, describeEntries(all)); diff != "" {
		t.Fatalf("audit log, newest first (-want +got):\n%s", diff)
	}

	revoked := all[1]
	wantRevoked := rotation.AuditEntry{
		Source: rotation.AuditToken, ID: revoked.ID, At: storetest.NewClock().Now().Add(2 * time.Minute),
		Actor: "bob", Action: string(rotation.TokenRevoked), TokenID: ci.ID, TokenName: "ci-deploy",
		Detail: "name ci-deploy, role operator, expires 2026-05-30T09:30:00Z",
	}
	if diff := cmp.Diff(wantRevoked, revoked); diff != "" {
		t.Errorf("the revocation's entry (-want +got):\n%s", diff)
	}
	if created := all[6]; created.TokenID != ci.ID || created.Detail != wantRevoked.Detail {
		t.Errorf("the creation's entry = %+v, want token %s with the detail %q", created, ci.ID, wantRevoked.Detail)
	}

	// Neither a token nor its hash appears in any entry.
	text := fmt.Sprintf("%+v", all)
	if len(f.values) != 4 {
		t.Fatalf("%d tokens created, want 4", len(f.values))
	}
	for _, v := range f.values {
		hash := sha256.Sum256([]byte(v.Reveal()))
		for _, form := range []string{v.Reveal(), strings.TrimPrefix(v.Reveal(), apitoken.Prefix),
			hex.EncodeToString(hash[:]), base64.StdEncoding.EncodeToString(hash[:])} {
			if strings.Contains(text, form) {
				t.Errorf("an audit entry holds a token or its hash")
			}
		}
	}
}

func TestSearchAuditTokenFilters(t *testing.T) {
	t.Parallel()
	f := setupTokenAudit(t)
	f.tokenHistory(t)
	start := storetest.NewClock().Now()

	cases := []struct {
		name   string
		filter rotation.AuditFilter
		want   []string
	}{
		{"actor ignores case", rotation.AuditFilter{Actor: "ADA"}, []string{
			"token token_created ada admin-bot", "token token_created ada reader",
			"token token_created ada nightly", "token token_created ada ci-deploy"}},
		{"actor across sources", rotation.AuditFilter{Actor: "carol"}, []string{
			"incident reported carol cred-b", "rotation request carol cred-b"}},
		{"revoked", rotation.AuditFilter{Action: string(rotation.TokenRevoked)}, []string{
			"token token_revoked bob ci-deploy"}},
		{"created by ada", rotation.AuditFilter{Action: string(rotation.TokenCreated), Actor: "ada"}, []string{
			"token token_created ada admin-bot", "token token_created ada reader",
			"token token_created ada nightly", "token token_created ada ci-deploy"}},
		{"created by bob", rotation.AuditFilter{Action: string(rotation.TokenCreated), Actor: "bob"}, []string{}},
		{"the stored action name", rotation.AuditFilter{Action: "created"}, nil}, // invalid, checked below
		{"credential excludes tokens", rotation.AuditFilter{CredentialID: "cred-a"}, []string{
			"rotation request alice cred-a"}},
		{"credential and a token action", rotation.AuditFilter{CredentialID: "cred-a", Action: string(rotation.TokenCreated)}, []string{}},
		{"since and until", rotation.AuditFilter{Since: start.Add(time.Minute), Until: start.Add(2 * time.Minute)}, []string{
			"token token_created ada reader", "token token_created ada nightly",
			"incident reported carol cred-b", "rotation request carol cred-b"}},
		{"until excludes its instant", rotation.AuditFilter{Until: start.Add(time.Minute)}, []string{
			"token token_created ada ci-deploy", "rotation request alice cred-a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.want == nil {
				if _, err := f.store.SearchAudit(f.ctx, c.filter); !errors.Is(err, rotation.ErrInvalid) {
					t.Errorf("SearchAudit(%+v): err = %v, want ErrInvalid", c.filter, err)
				}
				return
			}
			got := f.searchAll(t, c.filter, 1, nil)
			if diff := cmp.Diff(c.want, describeEntries(got)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// Pages of every size visit each entry of the three sources once, also
// when a page ends between entries of one instant, and while new events of
// every source arrive between pages.
func TestSearchAuditTokenPages(t *testing.T) {
	t.Parallel()
	f := setupTokenAudit(t)
	f.tokenHistory(t)
	want := entryKeys(f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}).Entries)
	if len(want) != 8 {
		t.Fatalf("the history has %d entries, want 8", len(want))
	}

	for limit := 1; limit <= len(want)+1; limit++ {
		got := entryKeys(f.searchAll(t, rotation.AuditFilter{}, limit, nil))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages of %d (-want +got):\n%s", limit, diff)
		}
	}

	n := 0
	between := func() {
		f.clock.Advance(time.Second)
		n++
		f.createToken(t, "ada", fmt.Sprintf("late-%d", n), api.RoleViewer)
		if _, err := f.store.CreateRotation(f.ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-a", Kind: rotation.KindManual, RequestedBy: "mallory"},
			rotation.Event{Actor: "mallory", Action: rotation.ActionRequest}); err != nil && !errors.Is(err, rotation.ErrConflict) {
			t.Fatalf("CreateRotation: %v", err)
		}
	}
	got := entryKeys(f.searchAll(t, rotation.AuditFilter{}, 2, between))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages of 2 under inserts (-want +got):\n%s", diff)
	}
	if n == 0 {
		t.Errorf("no events arrived between pages")
	}
}
