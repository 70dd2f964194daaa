// Package memstore is an in-memory rotation.Store for `rotor dev` and for
// tests that do not need Postgres. It enforces the same rules as the
// Postgres schema, so it passes the same contract suite; it keeps nothing
// across restarts.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// Store is safe for concurrent use. Each method holds one mutex for its
// whole duration, which plays the part of a transaction.
type Store struct {
	now func() time.Time

	mu          sync.Mutex
	credentials map[string]rotation.Credential
	rotations   map[string]rotation.Rotation
	events      []rotation.Event

	reminderRows *reminderTable // created on first use
	incidentRows *incidentTable // created on first use
}

// New returns an empty store that stamps times with now.
func New(now func() time.Time) *Store {
	return &Store{
		now:         now,
		credentials: make(map[string]rotation.Credential),
		rotations:   make(map[string]rotation.Rotation),
	}
}

func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) SyncCredentials(ctx context.Context, creds []rotation.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.stamp()
	seenClient := map[string]string{}
	for _, c := range s.credentials {
		seenClient[c.ClientID] = c.ID
	}
	for _, c := range creds {
		if other, ok := seenClient[c.ClientID]; ok && other != c.ID {
			return fmt.Errorf("sync credential %s: client id %s already belongs to credential %s: %w", c.ID, c.ClientID, other, rotation.ErrConflict)
		}
		if old, ok := s.credentials[c.ID]; ok {
			c.CreatedAt, c.LastRetiredAt = old.CreatedAt, old.LastRetiredAt
		} else {
			c.CreatedAt, c.LastRetiredAt = now, time.Time{}
		}
		c.OpenRotationID = ""
		s.credentials[c.ID] = c
		seenClient[c.ClientID] = c.ID
		s.planAtOnce(c.ID)
	}
	return nil
}

func (s *Store) ListCredentials(ctx context.Context) ([]rotation.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.sortedCredentials(), nil
}

// sortedCredentials returns every credential in the order of
// ListCredentials. The caller holds s.mu.
func (s *Store) sortedCredentials() []rotation.Credential {
	out := make([]rotation.Credential, 0, len(s.credentials))
	for _, c := range s.credentials {
		out = append(out, s.withOpen(c))
	}
	slices.SortFunc(out, func(a, b rotation.Credential) int {
		return compareCursors(rotation.CursorAfter(a), rotation.CursorAfter(b))
	})
	return out
}

// compareCursors orders positions as the credential list does: by due
// date at microsecond precision, as Postgres stores it, then by id.
func compareCursors(a, b rotation.CredentialCursor) int {
	return cmp.Or(a.NextDueAt.Compare(b.NextDueAt), cmp.Compare(a.ID, b.ID))
}

func (s *Store) GetCredential(ctx context.Context, id string) (rotation.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	c, ok := s.credentials[id]
	if !ok {
		return rotation.Credential{}, fmt.Errorf("get credential %s: %w", id, rotation.ErrNotFound)
	}
	return s.withOpen(c), nil
}

func (s *Store) withOpen(c rotation.Credential) rotation.Credential {
	c.OpenRotationID = ""
	for _, r := range s.rotations {
		if r.CredentialID == c.ID && r.Open() {
			c.OpenRotationID = r.ID
		}
	}
	return c
}

func (s *Store) CreateRotation(ctx context.Context, r rotation.Rotation, ev rotation.Event) (rotation.Rotation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if _, ok := s.credentials[r.CredentialID]; !ok {
		return rotation.Rotation{}, fmt.Errorf("create rotation for credential %s: %w", r.CredentialID, rotation.ErrNotFound)
	}
	if _, ok := s.rotations[r.ID]; ok {
		return rotation.Rotation{}, fmt.Errorf("create rotation %s: id in use: %w", r.ID, rotation.ErrConflict)
	}
	for _, o := range s.rotations {
		if o.CredentialID == r.CredentialID && o.Open() {
			return rotation.Rotation{}, fmt.Errorf("create rotation for credential %s: rotation %s is open: %w", r.CredentialID, o.ID, rotation.ErrConflict)
		}
	}

	now := s.stamp()
	r.State, r.Version, r.CreatedAt, r.UpdatedAt = rotation.StateRequested, 1, now, now
	if err := rotation.CheckInvariants(r); err != nil {
		return rotation.Rotation{}, fmt.Errorf("create rotation: %w", err)
	}
	s.rotations[r.ID] = r
	s.appendEvent(r, "", ev, now)
	return r, nil
}

func (s *Store) appendEvent(r rotation.Rotation, from rotation.State, ev rotation.Event, now time.Time) {
	ev.ID = int64(len(s.events) + 1)
	ev.RotationID, ev.CredentialID, ev.At, ev.From, ev.To = r.ID, r.CredentialID, now, from, r.State
	s.events = append(s.events, ev)
}

func (s *Store) GetRotation(ctx context.Context, id string) (rotation.Rotation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	r, ok := s.rotations[id]
	if !ok {
		return rotation.Rotation{}, fmt.Errorf("get rotation %s: %w", id, rotation.ErrNotFound)
	}
	return r, nil
}

// RotationWithCredential reads both under one lock, so the pair is
// consistent, as the single query of the Postgres store is.
func (s *Store) RotationWithCredential(ctx context.Context, rotationID string) (rotation.Rotation, rotation.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	r, ok := s.rotations[rotationID]
	if !ok {
		return rotation.Rotation{}, rotation.Credential{}, fmt.Errorf("get rotation %s: %w", rotationID, rotation.ErrNotFound)
	}
	c, ok := s.credentials[r.CredentialID]
	if !ok {
		return rotation.Rotation{}, rotation.Credential{}, fmt.Errorf("get credential %s of rotation %s: %w", r.CredentialID, rotationID, rotation.ErrNotFound)
	}
	return r, s.withOpen(c), nil
}

func (s *Store) ListRotations(ctx context.Context, credentialID string) ([]rotation.Rotation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var out []rotation.Rotation
	for _, r := range s.rotations {
		if r.CredentialID == credentialID {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b rotation.Rotation) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}

func (s *Store) Apply(ctx context.Context, c rotation.Change) (rotation.Rotation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	r, ok := s.rotations[c.RotationID]
	if !ok {
		return rotation.Rotation{}, fmt.Errorf("change rotation %s: %w", c.RotationID, rotation.ErrNotFound)
	}
	if r.State != c.From || r.Version != c.Version || r.Step != c.Step {
		return rotation.Rotation{}, fmt.Errorf("change rotation %s: it is %s at version %d, not %s at version %d: %w",
			c.RotationID, r.State, r.Version, c.From, c.Version, rotation.ErrConflict)
	}
	if !rotation.Legal(r.State, c.To) {
		return rotation.Rotation{}, fmt.Errorf("change rotation %s: %s to %s is not a legal transition", c.RotationID, r.State, c.To)
	}

	now := s.stamp()
	next := c.Result(r, now)
	if err := rotation.CheckInvariants(next); err != nil {
		return rotation.Rotation{}, fmt.Errorf("change rotation %s: %w", c.RotationID, err)
	}
	s.rotations[r.ID] = next
	if c.Event != nil {
		s.appendEvent(next, r.State, *c.Event, now)
	}
	if next.State == rotation.StateOldRetired {
		cred := s.credentials[r.CredentialID]
		cred.LastRetiredAt = now
		s.credentials[r.CredentialID] = cred
		s.closeIncidentsOfCredential(r.CredentialID, now)
	}
	if next.State.Terminal() {
		s.planAtOnce(r.CredentialID)
	}
	return next, nil
}

func (s *Store) ListEvents(ctx context.Context, rotationID string) ([]rotation.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if _, ok := s.rotations[rotationID]; !ok {
		return nil, fmt.Errorf("list events of rotation %s: %w", rotationID, rotation.ErrNotFound)
	}
	var out []rotation.Event
	for _, e := range s.events {
		if e.RotationID == rotationID {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Store) ListUnfinished(ctx context.Context) ([]rotation.Rotation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var out []rotation.Rotation
	for _, r := range s.rotations {
		if r.Step != rotation.StepNone {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b rotation.Rotation) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

var (
	_ rotation.Store                    = (*Store)(nil)
	_ rotation.RotationCredentialReader = (*Store)(nil)
)
