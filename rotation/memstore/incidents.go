package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// incidentTable is a Store's incidents and their events. Every access holds
// the Store's mutex, as the Store's own maps do.
type incidentTable struct {
	byID      map[string]*rotation.Incident
	events    []rotation.IncidentEvent
	reminders map[reminderRound]time.Time // when each round was claimed
}

// reminderRound is one reminder round of one incident.
type reminderRound struct {
	incidentID string
	round      int
}

// incidents returns s's incident table, creating it on first use. The
// caller holds s.mu.
func (s *Store) incidents() *incidentTable {
	if s.incidentRows == nil {
		s.incidentRows = &incidentTable{byID: make(map[string]*rotation.Incident), reminders: make(map[reminderRound]time.Time)}
	}
	return s.incidentRows
}

// copyIncident returns inc with a checklist of its own, so callers cannot
// change the stored one.
func copyIncident(inc *rotation.Incident) rotation.Incident {
	out := *inc
	out.Checklist = slices.Clone(inc.Checklist)
	return out
}

func (t *incidentTable) appendEvent(ev rotation.IncidentEvent, now time.Time) {
	ev.ID, ev.At = int64(len(t.events)+1), now
	t.events = append(t.events, ev)
}

func (s *Store) ReportIncident(ctx context.Context, rep rotation.IncidentReport) (rotation.Incident, rotation.Rotation, error) {
	if err := rotation.CheckIncidentReport(rep); err != nil {
		return rotation.Incident{}, rotation.Rotation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	in := rep.Incident
	if _, ok := s.credentials[in.CredentialID]; !ok {
		return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("report incident for credential %s: %w", in.CredentialID, rotation.ErrNotFound)
	}
	t := s.incidents()
	if _, ok := t.byID[in.ID]; ok {
		return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("report incident %s: id in use: %w", in.ID, rotation.ErrConflict)
	}
	var open *rotation.Rotation
	for _, r := range s.rotations {
		if r.CredentialID == in.CredentialID && r.Open() {
			open = &r
		}
	}

	now := s.stamp()
	if in.DetectedAt.After(now.Add(rotation.DetectedAtSkew)) {
		return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("report incident %s: detected after the report: %w", in.ID, rotation.ErrInvalid)
	}
	var rot rotation.Rotation
	if open == nil {
		if _, ok := s.rotations[rep.Rotation.ID]; ok {
			return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("open rotation %s: id in use: %w", rep.Rotation.ID, rotation.ErrConflict)
		}
		rot = rotation.Rotation{ID: rep.Rotation.ID, CredentialID: in.CredentialID, Kind: rep.Rotation.Kind,
			State: rotation.StateRequested, Version: 1, Reason: rep.Rotation.Reason, RequestedBy: rep.Rotation.RequestedBy,
			CreatedAt: now, UpdatedAt: now}
		if err := rotation.CheckInvariants(rot); err != nil {
			return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("open %s rotation: %w", rep.Rotation.Kind, err)
		}
		s.rotations[rot.ID] = rot
		s.appendEvent(rot, "", rotation.Event{Actor: in.ReportedBy, Action: rotation.ActionRequest,
			Reason: rep.Rotation.Reason, Detail: rotation.OpenedDetail(rot.Kind, in.ID)}, now)
	} else {
		if open.Step != rotation.StepNone {
			return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("escalate rotation %s: a %s step is in progress: %w", open.ID, open.Step, rotation.ErrConflict)
		}
		for _, other := range t.byID {
			if other.RotationID == open.ID {
				return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("escalate rotation %s: it already has an incident: %w", open.ID, rotation.ErrConflict)
			}
		}
		rot = *open
		rot.Kind, rot.Version, rot.UpdatedAt = rep.Rotation.Kind, rot.Version+1, now
		s.rotations[rot.ID] = rot
		s.appendEvent(rot, rot.State, rotation.Event{Actor: in.ReportedBy, Action: rotation.ActionEscalated,
			Detail: rotation.EscalationDetail(open.Kind, rot.Kind, open.State, in.ID)}, now)
		in.EscalatedFrom = open.Kind
	}

	in.RotationID, in.ReportedAt, in.ClosedAt = rot.ID, now, time.Time{}
	in.DetectedAt = in.DetectedAt.UTC().Truncate(time.Microsecond)
	items := make([]rotation.ChecklistItem, len(in.Checklist))
	for i, it := range in.Checklist {
		items[i] = rotation.ChecklistItem{Item: i + 1, Title: it.Title, AddedBy: in.ReportedBy, AddedAt: now}
	}
	in.Checklist = items
	stored := in
	t.byID[in.ID] = &stored
	t.appendEvent(rotation.IncidentEvent{IncidentID: in.ID, Actor: in.ReportedBy, Action: rotation.IncidentReported,
		Detail: rotation.ReportedDetail(in)}, now)
	return copyIncident(&stored), rot, nil
}

func (s *Store) GetIncident(ctx context.Context, id string) (rotation.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	inc, ok := s.incidents().byID[id]
	if !ok {
		return rotation.Incident{}, fmt.Errorf("get incident %s: %w", id, rotation.ErrNotFound)
	}
	return copyIncident(inc), nil
}

func (s *Store) GetIncidentByRotation(ctx context.Context, rotationID string) (rotation.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	for _, inc := range s.incidents().byID {
		if inc.RotationID == rotationID {
			return copyIncident(inc), nil
		}
	}
	return rotation.Incident{}, fmt.Errorf("get incident of rotation %s: %w", rotationID, rotation.ErrNotFound)
}

func (s *Store) ListIncidents(ctx context.Context, credentialID string) ([]rotation.Incident, error) {
	return s.listIncidents(func(inc *rotation.Incident) bool { return inc.CredentialID == credentialID },
		func(a, b rotation.Incident) int {
			return cmp.Or(b.ReportedAt.Compare(a.ReportedAt), cmp.Compare(b.ID, a.ID))
		})
}

func (s *Store) ListOpenIncidents(ctx context.Context) ([]rotation.Incident, error) {
	return s.listIncidents(func(inc *rotation.Incident) bool { return inc.Open() },
		func(a, b rotation.Incident) int {
			return cmp.Or(a.ReportedAt.Compare(b.ReportedAt), cmp.Compare(a.ID, b.ID))
		})
}

func (s *Store) listIncidents(keep func(*rotation.Incident) bool, order func(a, b rotation.Incident) int) ([]rotation.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var out []rotation.Incident
	for _, inc := range s.incidents().byID {
		if keep(inc) {
			out = append(out, copyIncident(inc))
		}
	}
	slices.SortFunc(out, order)
	return out, nil
}

// openIncident returns a stored incident that may change. The caller holds
// s.mu.
func (s *Store) openIncident(id string) (*rotation.Incident, error) {
	inc, ok := s.incidents().byID[id]
	if !ok {
		return nil, fmt.Errorf("incident %s: %w", id, rotation.ErrNotFound)
	}
	if !inc.Open() {
		return nil, fmt.Errorf("incident %s is closed: %w", id, rotation.ErrConflict)
	}
	return inc, nil
}

func (s *Store) AddChecklistItem(ctx context.Context, incidentID, title, actor string) (rotation.Incident, error) {
	if err := rotation.CheckItemTitle(title); err != nil {
		return rotation.Incident{}, err
	}
	if actor == "" {
		return rotation.Incident{}, fmt.Errorf("add checklist item to incident %s: no actor: %w", incidentID, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	inc, err := s.openIncident(incidentID)
	if err != nil {
		return rotation.Incident{}, err
	}
	next := 1
	for _, it := range inc.Checklist {
		if strings.EqualFold(it.Title, title) {
			return rotation.Incident{}, fmt.Errorf("incident %s already has checklist item %q: %w", incidentID, it.Title, rotation.ErrConflict)
		}
		next = max(next, it.Item+1)
	}
	now := s.stamp()
	inc.Checklist = append(inc.Checklist, rotation.ChecklistItem{Item: next, Title: title, AddedBy: actor, AddedAt: now})
	s.incidents().appendEvent(rotation.IncidentEvent{IncidentID: incidentID, Actor: actor, Action: rotation.IncidentItemAdded,
		Item: next, Detail: title}, now)
	return copyIncident(inc), nil
}

func (s *Store) CompleteChecklistItem(ctx context.Context, incidentID string, item int, actor, note string) (rotation.Incident, error) {
	if actor == "" || strings.TrimSpace(note) == "" || len(note) > rotation.MaxNoteBytes {
		return rotation.Incident{}, fmt.Errorf("tick item %d of incident %s: a named actor and a note of at most %d bytes are required: %w",
			item, incidentID, rotation.MaxNoteBytes, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	inc, err := s.openIncident(incidentID)
	if err != nil {
		return rotation.Incident{}, err
	}
	i := slices.IndexFunc(inc.Checklist, func(it rotation.ChecklistItem) bool { return it.Item == item })
	if i < 0 {
		return rotation.Incident{}, fmt.Errorf("incident %s has no checklist item %d: %w", incidentID, item, rotation.ErrNotFound)
	}
	it := &inc.Checklist[i]
	if it.Done() {
		return rotation.Incident{}, fmt.Errorf("item %d of incident %s is already done: %w", item, incidentID, rotation.ErrConflict)
	}
	now := s.stamp()
	it.DoneBy, it.DoneAt, it.Note = actor, now, note
	s.incidents().appendEvent(rotation.IncidentEvent{IncidentID: incidentID, Actor: actor, Action: rotation.IncidentItemDone,
		Item: item, Detail: it.Title + ": " + note}, now)
	s.closeIfDone(inc, now)
	return copyIncident(inc), nil
}

// closeIfDone closes inc, with a closed event, if every checklist item is
// done and rotation.SecretRetired holds. The caller holds s.mu.
func (s *Store) closeIfDone(inc *rotation.Incident, now time.Time) {
	if !inc.Open() || inc.ItemsLeft() > 0 {
		return
	}
	r := s.rotations[inc.RotationID]
	var same []rotation.Rotation
	for _, other := range s.rotations {
		if other.CredentialID == r.CredentialID {
			same = append(same, other)
		}
	}
	if !rotation.SecretRetired(r, same) {
		return
	}
	inc.ClosedAt = now
	s.incidents().appendEvent(rotation.IncidentEvent{IncidentID: inc.ID, Actor: "rotor", Action: rotation.IncidentClosed,
		Detail: closedDetail(r)}, now)
}

// closedDetail returns the detail of the closed event of an incident of
// rotation r.
func closedDetail(r rotation.Rotation) string {
	if r.State == rotation.StateCancelled {
		return "a later emergency or offboarding rotation retired the secret that the cancelled rotation left in use, and every checklist item is done"
	}
	return "the rotation is retired and every checklist item is done"
}

// closeIncidentsOfCredential closes the open incidents of a credential
// whose rotation was just retired, each if its checklist is done. The
// caller holds s.mu.
func (s *Store) closeIncidentsOfCredential(credentialID string, now time.Time) {
	for _, inc := range s.incidents().byID {
		if inc.CredentialID == credentialID {
			s.closeIfDone(inc, now)
		}
	}
}

func (s *Store) ClaimIncidentReminder(ctx context.Context, incidentID string, round int) (bool, error) {
	if round < 1 {
		return false, fmt.Errorf("claim reminder round %d of incident %s: %w", round, incidentID, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.openIncident(incidentID); err != nil {
		return false, err
	}
	key := reminderRound{incidentID: incidentID, round: round}
	t := s.incidents()
	if _, ok := t.reminders[key]; ok {
		return false, nil
	}
	t.reminders[key] = s.now()
	return true, nil
}

func (s *Store) AppendIncidentEvent(ctx context.Context, ev rotation.IncidentEvent) error {
	if ev.Actor == "" || ev.Action == "" {
		return fmt.Errorf("append event to incident %s: actor and action are required: %w", ev.IncidentID, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	if _, ok := s.incidents().byID[ev.IncidentID]; !ok {
		return fmt.Errorf("append event to incident %s: %w", ev.IncidentID, rotation.ErrNotFound)
	}
	s.incidents().appendEvent(ev, s.stamp())
	return nil
}

func (s *Store) ListIncidentEvents(ctx context.Context, incidentID string) ([]rotation.IncidentEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	t := s.incidents()
	if _, ok := t.byID[incidentID]; !ok {
		return nil, fmt.Errorf("list events of incident %s: %w", incidentID, rotation.ErrNotFound)
	}
	var out []rotation.IncidentEvent
	for _, e := range t.events {
		if e.IncidentID == incidentID {
			out = append(out, e)
		}
	}
	return out, nil
}

var _ rotation.IncidentStore = (*Store)(nil)
