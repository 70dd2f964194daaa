package rotation_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/rotation"
)

func TestAuditFilterSources(t *testing.T) {
	t.Parallel()
	all := []rotation.AuditSource{rotation.AuditRotation, rotation.AuditIncident, rotation.AuditToken}
	cases := []struct {
		name   string
		filter rotation.AuditFilter
		want   []rotation.AuditSource
	}{
		{"no filter", rotation.AuditFilter{}, all},
		{"actor", rotation.AuditFilter{Actor: "ada"}, all},
		{"credential", rotation.AuditFilter{CredentialID: "cred-a"}, []rotation.AuditSource{rotation.AuditRotation, rotation.AuditIncident}},
		{"rotation action", rotation.AuditFilter{Action: string(rotation.ActionRetire)}, []rotation.AuditSource{rotation.AuditRotation}},
		{"incident action", rotation.AuditFilter{Action: string(rotation.IncidentClosed)}, []rotation.AuditSource{rotation.AuditIncident}},
		{"token action", rotation.AuditFilter{Action: string(rotation.TokenRevoked)}, []rotation.AuditSource{rotation.AuditToken}},
		{"token action and credential", rotation.AuditFilter{Action: string(rotation.TokenCreated), CredentialID: "cred-a"}, nil},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, c.filter.Sources()); diff != "" {
			t.Errorf("%s: sources (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestAuditActionsIncludeTokenActions(t *testing.T) {
	t.Parallel()
	actions := rotation.AuditActions()
	for _, a := range []string{"token_created", "token_revoked", "request", "closed"} {
		if !slices.Contains(actions, a) {
			t.Errorf("AuditActions() lacks %q", a)
		}
		if err := (rotation.AuditFilter{Action: a}).Check(); err != nil {
			t.Errorf("Check of the action %q: %v", a, err)
		}
	}
	if err := (rotation.AuditFilter{Action: "created"}).Check(); err == nil {
		t.Errorf("Check accepts the action %q, which only token_events stores", "created")
	}
}

// A cursor at one instant bounds each source so that, per source, exactly
// the entries CompareAuditCursors puts after the cursor remain.
func TestAuditCursorWithin(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	sources := []rotation.AuditSource{rotation.AuditRotation, rotation.AuditIncident, rotation.AuditToken}
	for _, cursorSource := range sources {
		cursor := rotation.AuditCursor{At: at, Source: cursorSource, ID: 5}
		for _, source := range sources {
			boundAt, boundID := cursor.Within(source)
			if !boundAt.Equal(at) {
				t.Errorf("cursor at %s, source %s: bound at %v, want the cursor's instant", cursorSource, source, boundAt)
			}
			for _, id := range []int64{1, 4, 5, 6, math.MaxInt64 - 1} {
				after := rotation.CompareAuditCursors(rotation.AuditCursor{At: at, Source: source, ID: id}, cursor) > 0
				if below := id < boundID; below != after {
					t.Errorf("cursor %v, %s entry %d: below the bound %d is %v, but follows the cursor is %v",
						cursor, source, id, boundID, below, after)
				}
			}
		}
	}
}

func TestAuditCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, source := range []rotation.AuditSource{rotation.AuditRotation, rotation.AuditIncident, rotation.AuditToken} {
		want := rotation.AuditCursor{At: time.Date(2026, 3, 1, 9, 30, 0, 1000, time.UTC), Source: source, ID: 42}
		got, err := rotation.ParseAuditCursor(want.Encode())
		if err != nil {
			t.Errorf("ParseAuditCursor of a %s cursor: %v", source, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s cursor after a round trip (-want +got):\n%s", source, diff)
		}
	}
	forged := rotation.AuditCursor{At: time.Now(), Source: "api_tokens", ID: 1}.Encode()
	if _, err := rotation.ParseAuditCursor(forged); err == nil {
		t.Errorf("ParseAuditCursor accepts the unknown source api_tokens")
	}
}
