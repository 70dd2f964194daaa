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
		owner := "another tool"
		if p.owner != "" {
			owner = "rotation " + p.owner
		}
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"pending version %d belongs to %s now, not to rotation %s", staged, owner, rotationID)
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
	if s.pending != nil {
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %d was staged by another tool while rotation %s is promoted", s.pending.version, rotationID)
	}
	return nil
}

// verifyCurrent checks that version want is current and readable and that
// no version was added after newest, the newest version rotor recorded. The
// caller holds mu.
func (s *Store) verifyCurrent(op string, want, newest int) error {
	if s.next > newest {
		written := fmt.Sprintf("version %d was", s.next)
		if s.next > newest+1 {
			written = fmt.Sprintf("versions %d to %d were", newest+1, s.next)
		}
		edit := ""
		if s.format.JSONKey != "" {
			edit = fmt.Sprintf(" (an edit of any field of the document, not only %q, adds a version)", s.format.JSONKey)
		}
		if s.current > newest {
			return secretstore.Errorf(secretstore.ErrDrift, op,
				"%s written by another tool%s; consumers read version %d now, not version %d", written, edit, s.current, want)
		}
		return secretstore.Errorf(secretstore.ErrDrift, op, "%s written by another tool%s", written, edit)
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
