package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/rotorhq/rotor/rotation"
)

// SearchAudit filters every rotation and incident event with
// rotation.AuditFilter.Matches and sorts the matches. It reads the whole
// log on each call, which suits `rotor dev` and tests, not a large log.
// It returns no token events: API tokens live only in Postgres (package
// apitoken), so a store in memory has none.
func (s *Store) SearchAudit(ctx context.Context, f rotation.AuditFilter) (rotation.AuditPage, error) {
	if err := f.Check(); err != nil {
		return rotation.AuditPage{}, fmt.Errorf("search the audit log: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	var matches []rotation.AuditEntry
	for _, source := range f.Sources() {
		for _, e := range s.auditEntries(source) {
			if f.Matches(e) {
				matches = append(matches, e)
			}
		}
	}
	slices.SortFunc(matches, func(a, b rotation.AuditEntry) int {
		return rotation.CompareAuditCursors(a.Cursor(), b.Cursor())
	})

	limit := f.PageSize()
	return rotation.NextAuditPage(matches[:min(len(matches), limit+1)], limit), nil
}

// auditEntries returns every event of source as audit entries, and none
// for rotation.AuditToken. The caller holds s.mu.
func (s *Store) auditEntries(source rotation.AuditSource) []rotation.AuditEntry {
	switch source {
	case rotation.AuditToken:
		return nil
	case rotation.AuditRotation:
		out := make([]rotation.AuditEntry, len(s.events))
		for i, e := range s.events {
			out[i] = rotation.AuditEntry{
				Source: rotation.AuditRotation, ID: e.ID, At: e.At, Actor: e.Actor, Action: string(e.Action),
				CredentialID: e.CredentialID, RotationID: e.RotationID,
				From: e.From, To: e.To, Reason: e.Reason, Detail: e.Detail,
			}
		}
		return out
	}

	if s.incidentRows == nil {
		return nil
	}
	t := s.incidentRows
	out := make([]rotation.AuditEntry, len(t.events))
	for i, e := range t.events {
		inc := t.byID[e.IncidentID]
		out[i] = rotation.AuditEntry{
			Source: rotation.AuditIncident, ID: e.ID, At: e.At, Actor: e.Actor, Action: string(e.Action),
			CredentialID: inc.CredentialID, RotationID: inc.RotationID, IncidentID: e.IncidentID,
			Detail: e.Detail, Item: e.Item,
		}
	}
	return out
}

var _ rotation.AuditLog = (*Store)(nil)
