package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// testAudit is the rotation.AuditLog part of the contract.
func testAudit(t *testing.T, newStore NewStore) {
	t.Run("empty log", func(t *testing.T) { t.Parallel(); testAuditEmpty(t, newStore) })
	t.Run("rotations and incidents newest first", func(t *testing.T) { t.Parallel(); testAuditOrder(t, newStore) })
	t.Run("each filter narrows", func(t *testing.T) { t.Parallel(); testAuditFilters(t, newStore) })
	t.Run("pages visit each entry once", func(t *testing.T) { t.Parallel(); testAuditPages(t, newStore) })
	t.Run("pages stay stable under inserts", func(t *testing.T) { t.Parallel(); testAuditPagesUnderInserts(t, newStore) })
	t.Run("invalid filters", func(t *testing.T) { t.Parallel(); testAuditInvalid(t, newStore) })
}

type auditFixture struct {
	incidentFixture
	log rotation.AuditLog
}

func setupAudit(t *testing.T, newStore NewStore, credIDs ...string) auditFixture {
	t.Helper()
	f := setupIncidents(t, newStore, credIDs...)
	log, ok := f.store.(rotation.AuditLog)
	if !ok {
		t.Fatalf("%T does not implement rotation.AuditLog", f.store)
	}
	return auditFixture{incidentFixture: f, log: log}
}

// search returns one page, failing the test on an error.
func (f auditFixture) search(t *testing.T, filter rotation.AuditFilter) rotation.AuditPage {
	t.Helper()
	page, err := f.log.SearchAudit(f.ctx, filter)
	if err != nil {
		t.Fatalf("SearchAudit(%+v): %v", filter, err)
	}
	return page
}

// searchAll pages through every entry matching filter with pages of
// limit, through the encoded cursor as clients see it, and calls between
// after each page but the last.
func (f auditFixture) searchAll(t *testing.T, filter rotation.AuditFilter, limit int, between func()) []rotation.AuditEntry {
	t.Helper()
	filter.Limit = limit
	var all []rotation.AuditEntry
	for range 200 {
		page := f.search(t, filter)
		if len(page.Entries) > limit {
			t.Fatalf("a page of limit %d has %d entries", limit, len(page.Entries))
		}
		all = append(all, page.Entries...)
		if page.NextCursor.IsZero() {
			return all
		}
		if len(page.Entries) < limit {
			t.Errorf("a page of %d entries, below the limit %d, has a next cursor", len(page.Entries), limit)
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
	t.Fatalf("paging with limit %d did not end after 200 pages", limit)
	return nil
}

// describeAudit returns each entry as "source action actor credential".
func describeAudit(entries []rotation.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = fmt.Sprintf("%s %s %s %s", e.Source, e.Action, e.Actor, e.CredentialID)
	}
	return out
}

// auditKeys returns each entry's source and id, which identify it.
func auditKeys(entries []rotation.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = fmt.Sprintf("%s/%d", e.Source, e.ID)
	}
	return out
}

// auditHistory writes a rotation of cred-a that stops at new_issued and a
// compromise of cred-b carried through to the incident's closing, a minute
// apart each, and returns the rotation of cred-a, the incident and its
// rotation. The report writes a rotation event and an incident event at
// one instant, and so does the retirement that closes the incident.
func (f auditFixture) auditHistory(t *testing.T) (rotation.Rotation, rotation.Incident, rotation.Rotation) {
	t.Helper()
	ra := f.create(t, "cred-a")
	f.clock.Advance(time.Minute)
	ra = f.step(t, ra, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})

	f.clock.Advance(time.Minute)
	inc, rb := f.mustReport(t, "cred-b")
	f.clock.Advance(time.Minute)
	if err := f.is.AppendIncidentEvent(f.ctx, rotation.IncidentEvent{IncidentID: inc.ID, Actor: "rotor",
		Action: rotation.IncidentNotifyFailed, Detail: "channel slack: HTTP 404"}); err != nil {
		t.Fatalf("AppendIncidentEvent: %v", err)
	}
	for item := 1; item <= len(rotation.DefaultChecklist); item++ {
		f.clock.Advance(time.Minute)
		f.tick(t, inc, item)
	}
	f.clock.Advance(time.Minute)
	rb = f.retire(t, rb)
	if closed := f.mustGetIncident(t, inc.ID); closed.Open() {
		t.Fatalf("incident %s is still open after its checklist and retirement", inc.ID)
	}
	return ra, inc, rb
}

func testAuditEmpty(t *testing.T, newStore NewStore) {
	f := setupAudit(t, newStore, "cred-a")
	page := f.search(t, rotation.AuditFilter{})
	if len(page.Entries) != 0 || !page.NextCursor.IsZero() {
		t.Errorf("empty log: %d entries, next cursor %v; want none and the zero cursor", len(page.Entries), page.NextCursor)
	}
}

func testAuditOrder(t *testing.T, newStore NewStore) {
	f := setupAudit(t, newStore, "cred-a", "cred-b")
	ra, inc, rb := f.auditHistory(t)

	page := f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit})
	want := []string{
		"incident closed rotor cred-b",
		"rotation retire bob cred-b",
		"rotation promote bob cred-b",
		"rotation issue bob cred-b",
		"incident item_done dave cred-b",
		"incident item_done dave cred-b",
		"incident item_done dave cred-b",
		"incident notify_failed rotor cred-b",
		"incident reported carol cred-b",
		"rotation request carol cred-b",
		"rotation issue bob cred-a",
		"rotation request alice cred-a",
	}
	if diff := cmp.Diff(want, describeAudit(page.Entries)); diff != "" {
		t.Fatalf("audit log, newest first (-want +got):\n%s", diff)
	}
	if !page.NextCursor.IsZero() {
		t.Errorf("a page holding the whole log has the next cursor %v", page.NextCursor)
	}

	for i := 1; i < len(page.Entries); i++ {
		if page.Entries[i].At.After(page.Entries[i-1].At) {
			t.Errorf("entry %d at %v is newer than entry %d at %v", i, page.Entries[i].At, i-1, page.Entries[i-1].At)
		}
	}
	if closed, retired := page.Entries[0], page.Entries[1]; !closed.At.Equal(retired.At) {
		t.Errorf("the closing at %v and the retirement at %v that caused it are not one instant", closed.At, retired.At)
	}

	// Each entry carries the ids a reader follows, and the fields of its
	// source.
	retire, reported, issueA := page.Entries[1], page.Entries[8], page.Entries[10]
	if retire.RotationID != rb.ID || retire.IncidentID != "" || retire.From != rotation.StateDualActive ||
		retire.To != rotation.StateOldRetired || retire.Reason != "step reason" || retire.Detail != "detail" {
		t.Errorf("retire entry = %+v, want rotation %s dual_active → old_retired with its reason and detail", retire, rb.ID)
	}
	if reported.RotationID != rb.ID || reported.IncidentID != inc.ID || reported.From != "" || reported.To != "" {
		t.Errorf("reported entry = %+v, want incident %s of rotation %s without states", reported, inc.ID, rb.ID)
	}
	if issueA.RotationID != ra.ID || issueA.From != rotation.StateRequested || issueA.To != rotation.StateNewIssued {
		t.Errorf("issue entry = %+v, want rotation %s requested → new_issued", issueA, ra.ID)
	}
	items := map[int]bool{}
	for _, e := range page.Entries[4:7] {
		items[e.Item] = true
	}
	if diff := cmp.Diff(map[int]bool{1: true, 2: true, 3: true}, items); diff != "" {
		t.Errorf("checklist items of the item_done entries (-want +got):\n%s", diff)
	}
	if notify := page.Entries[7]; notify.Detail != "channel slack: HTTP 404" {
		t.Errorf("notify_failed detail = %q, want the channel's failure", notify.Detail)
	}
}

func testAuditFilters(t *testing.T, newStore NewStore) {
	f := setupAudit(t, newStore, "cred-a", "cred-b")
	f.auditHistory(t)
	all := f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}).Entries
	if len(all) != 12 {
		t.Fatalf("the history has %d entries, want 12", len(all))
	}
	reportedAt := all[8].At // the report: a rotation request and an incident event

	cases := []struct {
		name   string
		filter rotation.AuditFilter
		want   []string
	}{
		{"credential", rotation.AuditFilter{CredentialID: "cred-a"}, []string{
			"rotation issue bob cred-a", "rotation request alice cred-a"}},
		{"unknown credential", rotation.AuditFilter{CredentialID: "cred-z"}, []string{}},
		{"actor ignores case", rotation.AuditFilter{Actor: "CaRoL"}, []string{
			"incident reported carol cred-b", "rotation request carol cred-b"}},
		{"actor is an exact match", rotation.AuditFilter{Actor: "caro"}, []string{}},
		{"rotation action", rotation.AuditFilter{Action: string(rotation.ActionIssue)}, []string{
			"rotation issue bob cred-b", "rotation issue bob cred-a"}},
		{"incident action", rotation.AuditFilter{Action: string(rotation.IncidentClosed)}, []string{
			"incident closed rotor cred-b"}},
		// No store in this suite has API tokens: the Postgres store's token
		// events are tested in package pgstore, with package apitoken.
		{"token action", rotation.AuditFilter{Action: string(rotation.TokenCreated)}, []string{}},
		{"token action and credential", rotation.AuditFilter{Action: string(rotation.TokenRevoked), CredentialID: "cred-a"}, []string{}},
		{"action and credential", rotation.AuditFilter{Action: string(rotation.ActionRequest), CredentialID: "cred-b"}, []string{
			"rotation request carol cred-b"}},
		{"actor and credential across sources", rotation.AuditFilter{Actor: "rotor", CredentialID: "cred-b"}, []string{
			"incident closed rotor cred-b", "incident notify_failed rotor cred-b"}},
		{"since includes its instant", rotation.AuditFilter{Since: reportedAt, Actor: "carol"}, []string{
			"incident reported carol cred-b", "rotation request carol cred-b"}},
		{"until excludes its instant", rotation.AuditFilter{Until: reportedAt}, []string{
			"rotation issue bob cred-a", "rotation request alice cred-a"}},
		{"since and until", rotation.AuditFilter{Since: reportedAt, Until: reportedAt.Add(time.Microsecond)}, []string{
			"incident reported carol cred-b", "rotation request carol cred-b"}},
		{"bounds finer than a microsecond", rotation.AuditFilter{Since: reportedAt.Add(-time.Nanosecond), Until: reportedAt.Add(time.Nanosecond)}, []string{
			"incident reported carol cred-b", "rotation request carol cred-b"}},
		{"since after everything", rotation.AuditFilter{Since: all[0].At.Add(time.Microsecond)}, []string{}},
	}
	for _, c := range cases {
		got := f.searchAll(t, c.filter, 1, nil)
		if diff := cmp.Diff(c.want, describeAudit(got)); diff != "" {
			t.Errorf("%s: entries (-want +got):\n%s", c.name, diff)
		}
	}
}

func testAuditPages(t *testing.T, newStore NewStore) {
	f := setupAudit(t, newStore, "cred-a", "cred-b")
	f.auditHistory(t)
	want := auditKeys(f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}).Entries)

	// Limit 1 puts a page boundary between every two entries, those of one
	// instant from both sources included.
	for _, limit := range []int{1, 2, 3, 5, 12, 13} {
		got := auditKeys(f.searchAll(t, rotation.AuditFilter{}, limit, nil))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages of %d (-want +got):\n%s", limit, diff)
		}
	}

	if page := f.search(t, rotation.AuditFilter{Limit: 12}); len(page.Entries) != 12 || !page.NextCursor.IsZero() {
		t.Errorf("a page exactly as large as the log: %d entries, next cursor %v; want 12 and the zero cursor",
			len(page.Entries), page.NextCursor)
	}
	if page := f.search(t, rotation.AuditFilter{}); len(page.Entries) != 12 {
		t.Errorf("the default page size returned %d of 12 entries", len(page.Entries))
	}
}

func testAuditPagesUnderInserts(t *testing.T, newStore NewStore) {
	f := setupAudit(t, newStore, "cred-a", "cred-b", "cred-c")
	_, inc, _ := f.auditHistory(t)
	want := auditKeys(f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}).Entries)

	// Between pages, new rotation and incident events arrive, each later
	// than every entry before it, as a store's clock stamps them.
	var open *rotation.Rotation
	between := func() {
		f.clock.Advance(time.Second)
		switch {
		case open == nil:
			r := f.create(t, "cred-c")
			open = &r
		case open.State == rotation.StateRequested:
			r := f.step(t, *open, rotation.StepStage, rotation.StateNewIssued, secretstore.Versions{Old: "1", Staged: "s1"})
			open = &r
		default:
			if err := f.is.AppendIncidentEvent(f.ctx, rotation.IncidentEvent{IncidentID: inc.ID, Actor: "rotor",
				Action: rotation.IncidentNotified, Detail: "late"}); err != nil {
				t.Fatalf("AppendIncidentEvent: %v", err)
			}
		}
	}
	got := auditKeys(f.searchAll(t, rotation.AuditFilter{}, 2, between))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages under inserts (-want +got):\n%s", diff)
	}

	now := f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}).Entries
	if len(now) <= len(want) {
		t.Fatalf("the log has %d entries after the inserts, want more than %d", len(now), len(want))
	}
	if diff := cmp.Diff(want, auditKeys(now[len(now)-len(want):])); diff != "" {
		t.Errorf("the entries written during paging do not all sort before the first page (-want +got):\n%s", diff)
	}
}

func testAuditInvalid(t *testing.T, newStore NewStore) {
	f := setupAudit(t, newStore, "cred-a")
	f.create(t, "cred-a")
	now := f.clock.Now()

	for name, filter := range map[string]rotation.AuditFilter{
		"negative limit":       {Limit: -1},
		"limit over maximum":   {Limit: rotation.MaxAuditLimit + 1},
		"unknown action":       {Action: "deleted"},
		"action of wrong case": {Action: "REQUEST"},
		"until before since":   {Since: now, Until: now.Add(-time.Second)},
		"until equal to since": {Since: now, Until: now},
		"actor not UTF-8":      {Actor: "\xff"},
		"credential too long":  {CredentialID: strings.Repeat("c", 300)},
	} {
		_, err := f.log.SearchAudit(f.ctx, filter)
		if !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}

	if page := f.search(t, rotation.AuditFilter{Limit: rotation.MaxAuditLimit}); len(page.Entries) != 1 {
		t.Errorf("the largest page returned %d entries, want the 1 request", len(page.Entries))
	}
}
