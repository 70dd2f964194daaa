package aws

import (
	"context"

	"github.com/rotorhq/rotor/secretstore"
)

// Promote moves AWSCURRENT from v.Old to the staged version in one request
// (Secrets Manager puts AWSPREVIOUS on v.Old), then removes the pending
// label. It returns ErrNotFound when nothing is staged for rotationID, and
// ErrConflict when AWSCURRENT is no longer on v.Old, because the staged
// document was built from v.Old and would undo the other change.
func (s *Store) Promote(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "promote"
	staged := string(v.Staged)
	if staged != rotationID {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%q is not the version of rotation %s in %s", staged, rotationID, s.where(""))
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	current := labels.current()
	if current == staged {
		// A repeat, or a promote that stopped after moving AWSCURRENT.
		if labels.has(staged, s.pending) {
			if err := s.removeLabel(ctx, op, rotationID, s.pending, staged); err != nil {
				return secretstore.Versions{}, err
			}
		}
		v.New = v.Staged
		return v, nil
	}
	if !labels.has(staged, s.pending) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s is not staged: it carries %s; it was discarded or never staged", s.where(staged), labelList(labels.stages[staged]))
	}
	if current != string(v.Old) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"AWSCURRENT of %s is on version %s, not on version %s as when the value was staged; someone changed the secret, so cancel this rotation and stage the value again",
			s.where(""), current, v.Old)
	}
	stagedVersion, err := s.getVersion(ctx, op, staged)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if _, err := s.decode(op, stagedVersion); err != nil {
		return secretstore.Versions{}, err
	}

	if err := s.moveLabel(ctx, op, rotationID, LabelCurrent, staged, current); err != nil {
		return secretstore.Versions{}, err
	}
	if err := s.removeLabel(ctx, op, rotationID, s.pending, staged); err != nil {
		return secretstore.Versions{}, err
	}
	v.New = v.Staged
	return v, nil
}

// Rollback moves AWSCURRENT from v.New back to v.Old in one request
// (Secrets Manager puts AWSPREVIOUS on v.New) and puts the pending label
// back on v.New. It returns ErrNotFound when v.Old or v.New has lost every
// label (retired, discarded or pruned), and ErrConflict when AWSCURRENT is
// on neither or another version is pending.
func (s *Store) Rollback(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "rollback"
	oldID, newID := string(v.Old), string(v.New)
	if oldID == "" || newID != rotationID {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s has no promoted version of %s to roll back", rotationID, s.where(""))
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	back := secretstore.Versions{Old: v.Old, Staged: v.New}
	current := labels.current()
	if current == oldID && labels.has(newID, s.pending) {
		return back, nil
	}
	if !labels.labelled(oldID) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s, the old value, carries no label any more: it was retired, or deprecated and pruned; nothing was rolled back", s.where(oldID))
	}
	if !labels.labelled(newID) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s, the new value, carries no label any more; nothing was rolled back", s.where(newID))
	}
	if current != oldID && current != newID {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"AWSCURRENT of %s is on version %s, neither the old version %s nor the new version %s; someone changed the secret", s.where(""), current, oldID, newID)
	}
	if err := s.otherPending(op, labels, newID); err != nil {
		return secretstore.Versions{}, err
	}

	if current == newID {
		old, err := s.getVersion(ctx, op, oldID)
		if err != nil {
			return secretstore.Versions{}, err
		}
		if _, err := s.decode(op, old); err != nil {
			return secretstore.Versions{}, err
		}
		if err := s.moveLabel(ctx, op, rotationID, LabelCurrent, oldID, newID); err != nil {
			return secretstore.Versions{}, err
		}
	}
	if err := s.moveLabel(ctx, op, rotationID, s.pending, newID, labels.holder(s.pending)); err != nil {
		return secretstore.Versions{}, err
	}
	return back, nil
}
