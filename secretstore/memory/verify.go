package memory

import (
	"context"
	"fmt"

	"github.com/rotorhq/rotor/secretstore"
)

// Verify implements rotation.DriftChecker. It returns an error of kind
// secretstore.ErrDrift when the store no longer looks as rotor left it for
// rotationID. With promoted false, v.Old must still be current, v.Staged
// must still be pending for rotationID, and no version may have been added
// after them. With promoted true, v.New must be current, v.Old must still
// be readable, and no version may have been added after v.New.
//
// A cancelled context is ErrUnavailable, and versions that this store does
// not issue are ErrNotFound. Verify changes nothing.
func (s *Store) Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	const op = "verify"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	if promoted {
		return s.verifyPromoted(op, rotationID, v)
	}
	return s.verifyStaged(op, rotationID, v)
}

// verifyStaged checks the state that Stage, Adopt and Rollback leave. The
// caller holds mu.
func (s *Store) verifyStaged(op, rotationID string, v secretstore.Versions) error {
	old, staged := parse(v.Old), parse(v.Staged)
	if old == 0 || staged == 0 {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"rotation %s recorded old version %q and staged version %q, which this store does not issue", rotationID, v.Old, v.Staged)
	}
	if err := s.verifyCurrent(op, old, max(old, staged)); err != nil {
		return err
	}

	p := s.pending
	switch {
	case p == nil:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %d, staged for rotation %s, is no longer pending; it was discarded or pruned outside rotor", staged, rotationID)
	case p.version != staged:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %d is pending instead of version %d, which rotor staged for rotation %s", p.version, staged, rotationID)
	case p.owner != rotationID:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"pending version %d belongs to %s now, not to rotation %s", staged, ownerName(p.owner), rotationID)
	}
	if _, err := s.readable(op, staged); err != nil {
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"staged version %d of rotation %s can no longer be read; it was disabled or destroyed outside rotor", staged, rotationID)
	}
	return nil
}

// verifyPromoted checks the state that Promote leaves. The caller holds mu.
func (s *Store) verifyPromoted(op, rotationID string, v secretstore.Versions) error {
	old, promoted := parse(v.Old), parse(v.New)
	if old == 0 || promoted == 0 {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"rotation %s recorded old version %q and new version %q, which this store does not issue", rotationID, v.Old, v.New)
	}
	// Promote clears the pending marker, so a pending version now was
	// staged by someone else, and a roll back would conflict with it.
	if p := s.pending; p != nil {
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %d was staged by %s while rotation %s is promoted", p.version, ownerName(p.owner), rotationID)
	}
	if err := s.verifyCurrent(op, promoted, max(old, promoted)); err != nil {
		return err
	}

	ver, ok := s.versions[old]
	switch {
	case !ok:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"old version %d of rotation %s was pruned; roll back and retire can no longer address it", old, rotationID)
	case ver.state != Enabled:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"old version %d of rotation %s was %s outside rotor while both secrets should stay readable", old, rotationID, ver.state)
	}
	return nil
}

// verifyCurrent checks that version want is current and readable and that
// no version was added after newest, the newest version rotor recorded. The
// caller holds mu.
func (s *Store) verifyCurrent(op string, want, newest int) error {
	if s.next > newest {
		msg := fmt.Sprintf("version %d was", s.next)
		if s.next > newest+1 {
			msg = fmt.Sprintf("versions %d to %d were", newest+1, s.next)
		}
		if s.current > newest {
			msg += fmt.Sprintf(" written by another tool; consumers read version %d now, not version %d.", s.current, want)
		} else {
			msg += " written by another tool."
		}
		if s.format.JSONKey != "" {
			msg += fmt.Sprintf(" A change to any field of the document, not only %q, adds a version.", s.format.JSONKey)
		}
		return secretstore.Errorf(secretstore.ErrDrift, op, "%s", msg)
	}
	if s.current != want {
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"consumers read version %d now, not version %d; the current version was moved outside rotor", s.current, want)
	}
	if _, err := s.readable(op, want); err != nil {
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"current version %d can no longer be read; it was disabled or destroyed outside rotor", want)
	}
	return nil
}

// ownerName names the owner of a pending version for messages.
func ownerName(rotationID string) string {
	if rotationID == "" {
		return "another tool"
	}
	return "rotation " + rotationID
}
