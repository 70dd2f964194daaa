package aws

import (
	"bytes"
	"context"
	"slices"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// checkRotationID rejects a rotation id that Secrets Manager would not take
// as a ClientRequestToken. rotor's rotation ids are UUIDs, which it takes.
func (s *Store) checkRotationID(op, rotationID string) error {
	if !validID(rotationID) {
		return secretstore.Errorf(secretstore.ErrInvalid, op,
			"rotation id %q cannot be a Secrets Manager ClientRequestToken, which takes 32 to 64 characters", rotationID)
	}
	return nil
}

// otherPending returns ErrConflict naming the first version, other than the
// current one and those in except, that carries a pending label: rotor's
// or AWSPENDING. Such a version belongs to another rotation. A pending
// label on the current version is left over from a finished rotation and
// means nothing.
func (s *Store) otherPending(op string, labels labelState, except ...string) error {
	current := labels.current()
	for _, id := range labels.versions() {
		if id == current || slices.Contains(except, id) {
			continue
		}
		switch {
		case labels.has(id, s.pending):
			return secretstore.Errorf(secretstore.ErrConflict, op,
				"%s carries rotor's pending label %s: rotation %s has staged a value there; finish or cancel that rotation first",
				s.where(id), s.pending, id)
		case labels.has(id, LabelPending):
			return secretstore.Errorf(secretstore.ErrConflict, op,
				"%s carries AWSPENDING, left by Secrets Manager's own rotation or another tool; finish or cancel that rotation, remove the label (aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s), or adopt the version with staged_version %s",
				s.where(id), s.id, id, id)
		}
	}
	return nil
}

// Stage writes value as version rotationID with the pending label, as the
// current document with only the secret changed, so that other JSON keys
// stay byte for byte. It reads the labels first and writes nothing when
// another version is pending (ErrConflict naming it). A repeat with the
// same value returns the same Versions. A different value is ErrConflict,
// and so is a version of rotationID that was discarded or promoted already.
func (s *Store) Stage(ctx context.Context, rotationID string, value secret.Value) (secretstore.Versions, error) {
	const op = "stage"
	if err := s.checkRotationID(op, rotationID); err != nil {
		return secretstore.Versions{}, err
	}
	if value.IsZero() {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrInvalid, op, "the secret for rotation %s is empty", rotationID)
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	current := labels.current()
	if current == "" {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrInvalid, op, "%s has no AWSCURRENT version; store a value before rotating", s.where(""))
	}
	if labels.labelled(rotationID) {
		return s.restage(ctx, op, rotationID, value, labels)
	}
	if err := s.otherPending(op, labels); err != nil {
		return secretstore.Versions{}, err
	}

	base, err := s.getVersion(ctx, op, current)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if _, err := s.decode(op, base); err != nil {
		return secretstore.Versions{}, err
	}
	doc, err := s.format.Encode(base.doc, value)
	if err != nil {
		return secretstore.Versions{}, s.formatError(op, current, err)
	}
	stages, err := s.putVersion(ctx, op, rotationID, doc)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !slices.Contains(stages, s.pending) {
		return secretstore.Versions{}, s.spentVersion(op, rotationID, stages)
	}
	return stagedAt(current, rotationID), nil
}

// restage handles a Stage for a rotation whose version exists already.
func (s *Store) restage(ctx context.Context, op, rotationID string, value secret.Value, labels labelState) (secretstore.Versions, error) {
	current := labels.current()
	if rotationID == current || !labels.has(rotationID, s.pending) {
		return secretstore.Versions{}, s.spentVersion(op, rotationID, labels.stages[rotationID])
	}
	staged, err := s.getVersion(ctx, op, rotationID)
	if err != nil {
		return secretstore.Versions{}, err
	}
	stagedValue, err := s.decode(op, staged)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !stagedValue.Equal(value) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"%s is already staged for rotation %s with a different value; cancel the rotation to stage another value", s.where(rotationID), rotationID)
	}
	return stagedAt(current, rotationID), nil
}

// stagedAt returns the Versions of a value staged as version id while
// version current carries AWSCURRENT.
func stagedAt(current, id string) secretstore.Versions {
	return secretstore.Versions{Old: secretstore.Version(current), Staged: secretstore.Version(id)}
}

// spentVersion is the conflict for a rotation whose version exists but is
// not staged: it was promoted, rolled back and discarded, or discarded.
func (s *Store) spentVersion(op, rotationID string, stages []string) error {
	return secretstore.Errorf(secretstore.ErrConflict, op,
		"%s exists already with %s and is not staged; a rotation whose value was discarded or promoted cannot be staged again, so start a new rotation",
		s.where(rotationID), labelList(stages))
}

// Adopt claims a version that another tool left with AWSPENDING: it copies
// that version's document byte for byte into version rotationID with the
// pending label, then removes AWSPENDING from the original, which Secrets
// Manager then treats as deprecated. The returned Staged is rotationID,
// not staged. A version that carries no pending label, or is current, is
// ErrNotFound; one staged by another rotor rotation is ErrConflict. A repeat
// returns the same Versions and writes nothing new.
func (s *Store) Adopt(ctx context.Context, rotationID string, staged secretstore.Version) (secretstore.Versions, error) {
	const op = "adopt"
	if err := s.checkRotationID(op, rotationID); err != nil {
		return secretstore.Versions{}, err
	}
	source := string(staged)
	if !validID(source) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%q is not a version id of %s", source, s.where(""))
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	current := labels.current()
	result := stagedAt(current, rotationID)

	if rotationID != current && labels.has(rotationID, s.pending) {
		if source != rotationID {
			if err := s.finishAdopt(ctx, op, rotationID, source, labels); err != nil {
				return secretstore.Versions{}, err
			}
		}
		return result, nil
	}
	if labels.labelled(rotationID) {
		return secretstore.Versions{}, s.spentVersion(op, rotationID, labels.stages[rotationID])
	}
	if source == current || !(labels.has(source, LabelPending) || labels.has(source, s.pending)) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s is not pending: it is current or carries neither AWSPENDING nor %s", s.where(source), s.pending)
	}
	if labels.has(source, s.pending) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"%s is staged by rotor rotation %s, not by another tool; finish or cancel that rotation first", s.where(source), source)
	}
	if err := s.otherPending(op, labels, source); err != nil {
		return secretstore.Versions{}, err
	}

	original, err := s.getVersion(ctx, op, source)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if _, err := s.decode(op, original); err != nil {
		return secretstore.Versions{}, err
	}
	stages, err := s.putVersion(ctx, op, rotationID, original.doc)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !slices.Contains(stages, s.pending) {
		return secretstore.Versions{}, s.spentVersion(op, rotationID, stages)
	}
	if err := s.removeLabel(ctx, op, rotationID, LabelPending, source); err != nil {
		return secretstore.Versions{}, err
	}
	return result, nil
}

// finishAdopt completes a repeated Adopt of source for rotationID, whose
// version exists already: the two must hold the same document, and
// AWSPENDING comes off source if a crash left it there.
func (s *Store) finishAdopt(ctx context.Context, op, rotationID, source string, labels labelState) error {
	original, err := s.getVersion(ctx, op, source)
	if err != nil {
		return err
	}
	copied, err := s.getVersion(ctx, op, rotationID)
	if err != nil {
		return err
	}
	if !bytes.Equal(original.doc, copied.doc) {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"rotation %s has already staged or adopted another value than %s; cancel the rotation to adopt another version", rotationID, s.where(source))
	}
	if labels.has(source, LabelPending) {
		return s.removeLabel(ctx, op, rotationID, LabelPending, source)
	}
	return nil
}

// Staged returns the versions staged for rotationID: version rotationID
// when it carries the pending label and is not current. Anything else is
// ErrNotFound. Old is the version that carries AWSCURRENT now.
func (s *Store) Staged(ctx context.Context, rotationID string) (secretstore.Versions, error) {
	const op = "staged"
	labels, err := s.describe(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	current := labels.current()
	if rotationID == current || !labels.has(rotationID, s.pending) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "nothing is staged for rotation %s in %s", rotationID, s.where(""))
	}
	return stagedAt(current, rotationID), nil
}
