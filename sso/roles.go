package sso

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rotorhq/rotor/api"
)

const (
	// maxGroups bounds the groups kept in a session's snapshot. A person in
	// more groups still gets the role of every group; only the snapshot is
	// cut.
	maxGroups = 200

	// maxNameBytes is the longest name a session records, as the sessions
	// table allows.
	maxNameBytes = 200
)

// roles lists the roles lowest first.
var roles = []api.Role{api.RoleViewer, api.RoleOperator, api.RoleAdmin}

// RoleGroupsFromNames converts groups keyed by role name (viewer,
// operator, admin), as the configuration file lists them, into
// Config.RoleGroups. An unknown role name is an error that names it.
func RoleGroupsFromNames(byName map[string][]string) (map[api.Role][]string, error) {
	out := make(map[api.Role][]string, len(byName))
	for name, groups := range byName {
		role, ok := api.ParseRole(name)
		if !ok {
			return nil, fmt.Errorf("sso: unknown role %q; use viewer, operator or admin", name)
		}
		out[role] = groups
	}
	return out, nil
}

// checkRoleGroups rejects a mapping that could never grant a role or that
// names something other than viewer, operator and admin.
func checkRoleGroups(m map[api.Role][]string) error {
	n := 0
	for role, groups := range m {
		if !slices.Contains(roles, role) {
			return fmt.Errorf("sso: role %d in the role groups is not viewer, operator or admin", int(role))
		}
		for i, g := range groups {
			if strings.TrimSpace(g) == "" {
				return fmt.Errorf("sso: group %d of role %s is empty; name a group from the groups claim", i, role)
			}
			n++
		}
	}
	if n == 0 {
		return errors.New("sso: no group grants a role, so nobody could sign in; map at least one group to viewer, operator or admin")
	}
	return nil
}

// roleFor returns the highest role that any of groups grants, or 0 when
// none does. Group names match exactly, case included, as the provider
// sends them.
func roleFor(m map[api.Role][]string, groups []string) api.Role {
	var best api.Role
	for role, granted := range m {
		if role <= best {
			continue
		}
		for _, g := range groups {
			if slices.Contains(granted, g) {
				best = role
				break
			}
		}
	}
	return best
}

// groupsClaim returns the string values of the claim name in claims, and
// whether the claim is present at all. A dotted name is looked up as nested
// objects when no claim has the exact name, so that realm_access.roles
// reaches Keycloak's realm roles.
func groupsClaim(claims map[string]any, name string) ([]string, bool) {
	v, ok := lookupClaim(claims, name)
	if !ok || v == nil {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, true
}

func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return nil, false
	}
	var cur any = claims
	for _, p := range parts {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// personName returns the name audit events record: the configured claim,
// else preferred_username, else the subject. A value that is not a string,
// is empty, too long or carries control or formatting characters is
// skipped, because it ends up in the audit log and on every page.
func personName(claims map[string]any, nameClaim, subject string) string {
	for _, c := range []string{nameClaim, "preferred_username"} {
		if s, ok := claims[c].(string); ok {
			if name, ok := cleanName(s); ok {
				return name
			}
		}
	}
	if name, ok := cleanName(subject); ok {
		return name
	}
	return "unnamed"
}

func cleanName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxNameBytes || !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	return s, true
}
