package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/rotation"
)

// testListing is the credential list part of the contract: pages and
// the summary counts.
func testListing(t *testing.T, newStore NewStore) {
	t.Run("pages follow the full list", func(t *testing.T) { t.Parallel(); testPagesFollowList(t, newStore) })
	t.Run("pages stay stable under inserts", func(t *testing.T) { t.Parallel(); testPagesStable(t, newStore) })
	t.Run("page rejects a bad limit", func(t *testing.T) { t.Parallel(); testPageLimit(t, newStore) })
	t.Run("summary counts every credential", func(t *testing.T) { t.Parallel(); testSummary(t, newStore) })
}

// credentialIssued returns a credential whose secret was issued at the
// given time, which sets its first due date.
func credentialIssued(id string, issued time.Time) rotation.Credential {
	c := Credential(id)
	c.IssuedAt = issued
	return c
}

// syncSpread syncs credentials cred-00 to cred-(n-1) whose due dates
// descend with the id, and two more, tie-x and tie-y, that share one due
// date, so the order is by due date first and then by id.
func syncSpread(t *testing.T, f fixture, n int) {
	t.Helper()
	start := f.clock.Now()
	var creds []rotation.Credential
	for i := range n {
		creds = append(creds, credentialIssued(fmt.Sprintf("cred-%02d", i), start.Add(-time.Duration(i)*time.Hour)))
	}
	tie := start.Add(-time.Duration(n/2)*time.Hour - time.Minute)
	creds = append(creds, credentialIssued("tie-y", tie), credentialIssued("tie-x", tie))
	if err := f.store.SyncCredentials(f.ctx, creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
}

func ids(cs []rotation.Credential) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// pageAll reads the whole list in pages of limit and returns the ids and
// the size of each page.
func (f fixture) pageAll(t *testing.T, limit int) (all []string, sizes []int) {
	t.Helper()
	var after rotation.CredentialCursor
	for range 100 {
		page, next, err := f.store.ListCredentialPage(f.ctx, after, limit)
		if err != nil {
			t.Fatalf("ListCredentialPage(after %+v, %d): %v", after, limit, err)
		}
		all, sizes = append(all, ids(page)...), append(sizes, len(page))
		if next.IsZero() {
			return all, sizes
		}
		// Clients see only the token, so the suite pages through it.
		after, err = rotation.ParseCredentialCursor(next.Encode())
		if err != nil {
			t.Fatalf("ParseCredentialCursor(%q): %v", next.Encode(), err)
		}
	}
	t.Fatalf("paging with limit %d did not end after 100 pages", limit)
	return nil, nil
}

func testPagesFollowList(t *testing.T, newStore NewStore) {
	f := setup(t, newStore)
	syncSpread(t, f, 7)
	open := f.create(t, "cred-03")

	list, err := f.store.ListCredentials(f.ctx)
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	want := ids(list)
	wantFirst := []string{"cred-06", "cred-05", "cred-04", "tie-x", "tie-y", "cred-03"}
	if diff := cmp.Diff(wantFirst, want[:len(wantFirst)]); diff != "" {
		t.Fatalf("ListCredentials order (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		limit int
		sizes []int
	}{
		{1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{4, []int{4, 4, 1}},
		{9, []int{9}},
		{500, []int{9}},
	} {
		got, sizes := f.pageAll(t, tc.limit)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ids paged by %d (-ListCredentials +pages):\n%s", tc.limit, diff)
		}
		if diff := cmp.Diff(tc.sizes, sizes); diff != "" {
			t.Errorf("page sizes with limit %d (-want +got):\n%s", tc.limit, diff)
		}
	}

	page, _, err := f.store.ListCredentialPage(f.ctx, rotation.CredentialCursor{}, 9)
	if err != nil {
		t.Fatalf("ListCredentialPage: %v", err)
	}
	if diff := cmp.Diff(list, page); diff != "" {
		t.Errorf("a page differs from ListCredentials (-list +page):\n%s", diff)
	}
	for _, c := range page {
		if c.ID == "cred-03" && c.OpenRotationID != open.ID {
			t.Errorf("cred-03 on a page: OpenRotationID %q, want %q", c.OpenRotationID, open.ID)
		}
	}

	// A cursor past the last credential gives an empty last page.
	last := list[len(list)-1]
	page, next, err := f.store.ListCredentialPage(f.ctx, rotation.CursorAfter(last), 10)
	if err != nil || len(page) != 0 || !next.IsZero() {
		t.Errorf("page after the last credential: %v, next %+v, err %v; want none, zero cursor, nil", ids(page), next, err)
	}
}

func testPagesStable(t *testing.T, newStore NewStore) {
	f := setup(t, newStore)
	syncSpread(t, f, 6)
	start := f.clock.Now()

	first, next, err := f.store.ListCredentialPage(f.ctx, rotation.CredentialCursor{}, 3)
	if err != nil {
		t.Fatalf("first page: %v", err)
	}
	if diff := cmp.Diff([]string{"cred-05", "cred-04", "tie-x"}, ids(first)); diff != "" {
		t.Fatalf("first page (-want +got):\n%s", diff)
	}

	// While the client reads the first page, one credential is added
	// before the cursor and one after it.
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{
		credentialIssued("early", start.Add(-100*time.Hour)),
		credentialIssued("late", start.Add(time.Hour)),
	}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}

	var rest []string
	for !next.IsZero() {
		var page []rotation.Credential
		page, next, err = f.store.ListCredentialPage(f.ctx, next, 3)
		if err != nil {
			t.Fatalf("next page: %v", err)
		}
		rest = append(rest, ids(page)...)
	}
	want := []string{"tie-y", "cred-03", "cred-02", "cred-01", "cred-00", "late"}
	if diff := cmp.Diff(want, rest); diff != "" {
		t.Errorf("pages after the inserts (-want +got):\n%s", diff)
	}
}

func testPageLimit(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, "cred-a")
	for _, limit := range []int{0, -1} {
		if _, _, err := f.store.ListCredentialPage(f.ctx, rotation.CredentialCursor{}, limit); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("ListCredentialPage with limit %d: err = %v, want ErrInvalid", limit, err)
		}
	}
}

func testSummary(t *testing.T, newStore NewStore) {
	f := setup(t, newStore)
	now := f.clock.Now()
	period := 90 * rotation.Day
	soon := 13 * rotation.Day
	// Each credential's due date is its issue date plus the period.
	dueAt := func(id string, due time.Time) rotation.Credential { return credentialIssued(id, due.Add(-period)) }
	if err := f.store.SyncCredentials(f.ctx, []rotation.Credential{
		dueAt("overdue-long", now.Add(-30*rotation.Day)),
		dueAt("overdue-just", now.Add(-time.Microsecond)),
		dueAt("due-now", now),
		dueAt("soon-edge", now.Add(soon)),
		dueAt("later-edge", now.Add(soon+time.Microsecond)),
		dueAt("later", now.Add(60*rotation.Day)),
	}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	f.create(t, "later")
	r := f.create(t, "due-now")
	if _, err := f.store.Apply(f.ctx, rotation.Change{RotationID: r.ID, From: r.State, Version: r.Version, To: rotation.StateCancelled,
		Event: &rotation.Event{Actor: "alice", Action: rotation.ActionCancel}}); err != nil {
		t.Fatalf("cancel: %v", err)
	}

	got, err := f.store.SummarizeCredentials(f.ctx, now, soon)
	if err != nil {
		t.Fatalf("SummarizeCredentials: %v", err)
	}
	want := rotation.CredentialSummary{Total: 6, Overdue: 2, DueSoon: 2, OpenRotations: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SummarizeCredentials (-want +got):\n%s", diff)
	}
}
