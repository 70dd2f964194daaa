package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
)

// listFixture serves rotor over seven credentials in Postgres: cred-0 is
// due first, 40 days ago, and each next one 10 days later, so cred-4 is
// due in 0 days, cred-5 in 10 and cred-6 in 20. cred-6 has an open
// rotation.
type listFixture struct {
	t      *testing.T
	server *httptest.Server
}

func setupList(t *testing.T) listFixture {
	t.Helper()
	clock := storetest.NewClock()
	now := clock.Now()
	store := pgstore.New(pgtest.NewPool(t), clock.Now)
	var creds []rotation.Credential
	for i := range 7 {
		c := storetest.Credential(fmt.Sprintf("cred-%d", i))
		c.IssuedAt = now.Add(-90 * rotation.Day).Add(time.Duration(i-4) * 10 * rotation.Day)
		creds = append(creds, c)
	}
	ctx := context.Background()
	if err := store.SyncCredentials(ctx, creds); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	if _, err := store.CreateRotation(ctx, rotation.Rotation{ID: uuid.NewString(), CredentialID: "cred-6", Kind: rotation.KindManual, RequestedBy: "alice"},
		rotation.Event{Actor: "alice", Action: rotation.ActionRequest}); err != nil {
		t.Fatalf("CreateRotation: %v", err)
	}
	srv, err := api.New(api.Options{
		Service: rotation.NewService(rotation.Options{Store: store, Now: clock.Now}),
		Auth:    api.Fixed{Name: "vera", Role: api.RoleOperator}, Now: clock.Now, Reminders: store,
	})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return listFixture{t: t, server: hs}
}

func (f listFixture) get(path string) (int, string) {
	f.t.Helper()
	resp, err := http.Get(f.server.URL + path)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

type credentialList struct {
	Credentials []struct {
		ID             string  `json:"id"`
		OpenRotationID *string `json:"open_rotation_id"`
	} `json:"credentials"`
	NextCursor *string `json:"next_cursor"`
}

func (f listFixture) list(query string) credentialList {
	f.t.Helper()
	status, body := f.get("/api/v1/credentials" + query)
	if status != http.StatusOK {
		f.t.Fatalf("GET /api/v1/credentials%s: %d %s", query, status, body)
	}
	var l credentialList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		f.t.Fatalf("GET /api/v1/credentials%s: %v in %s", query, err, body)
	}
	if l.NextCursor == nil {
		f.t.Fatalf("GET /api/v1/credentials%s: no next_cursor in %s", query, body)
	}
	return l
}

var allIDs = []string{"cred-0", "cred-1", "cred-2", "cred-3", "cred-4", "cred-5", "cred-6"}

func TestCredentialListPages(t *testing.T) {
	t.Parallel()
	f := setupList(t)

	whole := f.list("")
	var got []string
	for _, c := range whole.Credentials {
		got = append(got, c.ID)
	}
	if diff := cmp.Diff(allIDs, got); diff != "" {
		t.Errorf("default page (-want +got):\n%s", diff)
	}
	if *whole.NextCursor != "" {
		t.Errorf("default page of 7 credentials: next_cursor %q, want empty", *whole.NextCursor)
	}
	if last := whole.Credentials[6]; last.OpenRotationID == nil {
		t.Errorf("cred-6 has no open_rotation_id")
	}

	got = nil
	var sizes []int
	query := "?limit=3"
	for range 10 {
		page := f.list(query)
		sizes = append(sizes, len(page.Credentials))
		for _, c := range page.Credentials {
			got = append(got, c.ID)
		}
		if *page.NextCursor == "" {
			break
		}
		query = "?limit=3&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if diff := cmp.Diff(allIDs, got); diff != "" {
		t.Errorf("pages of 3 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
}

func TestCredentialListRejectsBadPaging(t *testing.T) {
	t.Parallel()
	f := setupList(t)
	cases := []struct{ query, code, value string }{
		{"?limit=0", "invalid_limit", `"0"`},
		{"?limit=501", "invalid_limit", `"501"`},
		{"?limit=-1", "invalid_limit", `"-1"`},
		{"?limit=ten", "invalid_limit", `"ten"`},
		{"?limit=1.5", "invalid_limit", `"1.5"`},
		{"?limit=", "invalid_limit", `""`},
		{"?cursor=not-issued-by-rotor", "invalid_cursor", `"not-issued-by-rotor"`},
	}
	for _, tc := range cases {
		status, body := f.get("/api/v1/credentials" + tc.query)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("GET %s: %v in %s", tc.query, err, body)
		}
		if status != http.StatusBadRequest || e.Error.Code != tc.code {
			t.Errorf("GET %s: %d %s, want 400 %s", tc.query, status, e.Error.Code, tc.code)
		}
		if !strings.Contains(e.Error.Message, tc.value) {
			t.Errorf("GET %s: message %q does not name the value %s", tc.query, e.Error.Message, tc.value)
		}
	}
}

var nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">Next</a>`)

func TestDashboardPages(t *testing.T) {
	t.Parallel()
	f := setupList(t)
	rowID := regexp.MustCompile(`<td><a href="/credentials/(cred-\d)">`)

	var got []string
	path := "/?limit=3"
	for page := 1; ; page++ {
		status, body := f.get(path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		for _, m := range rowID.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		// The counts cover all seven credentials on every page: cred-0 to
		// cred-3 are overdue, cred-4 (due now) is due soon, cred-5 (in 10
		// days) too, and cred-6 (in 20 days) is not.
		for _, want := range []string{"7 credentials", "4 overdue", "2 due within 13 days", "1 with an open rotation"} {
			if !strings.Contains(body, want) {
				t.Errorf("page %d lacks the count %q", page, want)
			}
		}
		if page > 1 && !strings.Contains(body, `<a href="/?limit=3">First page</a>`) {
			t.Errorf("page %d has no link to the first page", page)
		}
		m := nextLink.FindStringSubmatch(body)
		if m == nil {
			break
		}
		if page == 5 {
			t.Fatalf("the dashboard still links a next page after 5 pages of 3")
		}
		path = html.UnescapeString(m[1])
	}
	if diff := cmp.Diff(allIDs, got); diff != "" {
		t.Errorf("rows over all dashboard pages (-want +got):\n%s", diff)
	}

	status, body := f.get("/")
	if status != http.StatusOK || nextLink.MatchString(body) || strings.Contains(body, "First page") {
		t.Errorf("default dashboard of 7 credentials: %d, with page links; want 200 and no page links", status)
	}
	if !strings.Contains(body, `<option value="cred-6">`) {
		t.Errorf("the compromise form does not suggest the page's credentials")
	}

	if status, body := f.get("/?cursor=nonsense"); status != http.StatusBadRequest || !strings.Contains(body, "nonsense") {
		t.Errorf("dashboard with a bad cursor: %d, want 400 naming the cursor", status)
	}
}
