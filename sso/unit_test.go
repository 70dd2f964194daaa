package sso

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/api"
)

func TestLocalPath(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                                       "/",
		"/":                                      "/",
		"/credentials/a?tab=1":                   "/credentials/a?tab=1",
		"/rotations/r1#timeline":                 "/rotations/r1#timeline",
		"/search?q=%2F%2Fx":                      "/search?q=%2F%2Fx",
		"//evil.example":                         "/",
		"///evil.example":                        "/",
		"https://evil.example/":                  "/",
		"http:/evil.example":                     "/",
		"javascript:alert(1)":                    "/",
		`/\evil.example`:                         "/",
		`\\evil.example`:                         "/",
		`/x\y`:                                   "/",
		"/\t/evil.example":                       "/",
		"/\n/evil.example":                       "/",
		"/%2F%2Fevil.example":                    "/",
		"evil.example":                           "/",
		"./x":                                    "/",
		"/auth/login?next=/x":                    "/",
		"/auth":                                  "/",
		"/authors":                               "/authors",
		"/" + string(make([]byte, maxNextBytes)): "/",
	}
	for in, want := range tests {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRoleFor(t *testing.T) {
	t.Parallel()
	m := map[api.Role][]string{
		api.RoleViewer:   {"team"},
		api.RoleOperator: {"oncall", "sre"},
		api.RoleAdmin:    {"leads"},
	}
	tests := []struct {
		groups []string
		want   api.Role
	}{
		{nil, 0},
		{[]string{"finance"}, 0},
		{[]string{"Team"}, 0}, // case matters
		{[]string{"team"}, api.RoleViewer},
		{[]string{"team", "sre"}, api.RoleOperator},
		{[]string{"leads", "team"}, api.RoleAdmin},
		{[]string{"team", "oncall", "leads"}, api.RoleAdmin},
	}
	for _, tt := range tests {
		if got := roleFor(m, tt.groups); got != tt.want {
			t.Errorf("roleFor(%v) = %s, want %s", tt.groups, got, tt.want)
		}
	}
}

func TestGroupsClaim(t *testing.T) {
	t.Parallel()
	var claims map[string]any
	err := json.Unmarshal([]byte(`{
		"groups": ["a", "b", 3, ""],
		"one": "solo",
		"number": 5,
		"realm_access": {"roles": ["admin-role"]},
		"https://example.com/groups": ["namespaced"]
	}`), &claims)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		want    []string
		present bool
	}{
		{"groups", []string{"a", "b"}, true},
		{"one", []string{"solo"}, true},
		{"number", nil, true},
		{"realm_access.roles", []string{"admin-role"}, true},
		{"https://example.com/groups", []string{"namespaced"}, true},
		{"missing", nil, false},
		{"realm_access.missing", nil, false},
	}
	for _, tt := range tests {
		got, present := groupsClaim(claims, tt.name)
		if !slices.Equal(got, tt.want) || present != tt.present {
			t.Errorf("groupsClaim(%q) = %v, %v; want %v, %v", tt.name, got, present, tt.want, tt.present)
		}
	}
}

func TestPersonName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"email": "a@example.com", "preferred_username": "a"}, "a@example.com"},
		{map[string]any{"email": "  ", "preferred_username": "a"}, "a"},
		{map[string]any{"email": 5, "preferred_username": "a"}, "a"},
		{map[string]any{"email": "evil\u202Egnp.exe", "preferred_username": "a"}, "a"},
		{map[string]any{"email": "line\nbreak"}, "sub-1"},
		{map[string]any{}, "sub-1"},
	}
	for _, tt := range tests {
		if got := personName(tt.claims, "email", "sub-1"); got != tt.want {
			t.Errorf("personName(%v) = %q, want %q", tt.claims, got, tt.want)
		}
	}
}

func TestRoleGroupsFromNames(t *testing.T) {
	t.Parallel()
	got, err := RoleGroupsFromNames(map[string][]string{"viewer": {"team"}, "admin": {"leads", "sre"}})
	if err != nil || len(got) != 2 || !slices.Equal(got[api.RoleViewer], []string{"team"}) || !slices.Equal(got[api.RoleAdmin], []string{"leads", "sre"}) {
		t.Errorf("RoleGroupsFromNames = %v, %v", got, err)
	}
	if _, err := RoleGroupsFromNames(map[string][]string{"owner": {"x"}}); err == nil || !strings.Contains(err.Error(), `unknown role "owner"`) {
		t.Errorf("RoleGroupsFromNames with owner = %v, want an error naming it", err)
	}
}
