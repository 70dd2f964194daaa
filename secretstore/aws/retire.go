package aws

import (
	"context"
	"errors"
	"slices"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// Retire removes every staging label from v.Old and from every other
// labelled version whose secret equals the old one, so that nothing reads
// the old value by label any more. The AWSCURRENT version is never
// touched: when it contains the old secret, Retire returns ErrConflict.
//
// Secrets Manager cannot destroy a single version, so RetireDisable and
// RetireDestroy do the same: the versions become deprecated. A deprecated
// version keeps its value until Secrets Manager deletes it, and anyone
// allowed to read the secret can read it with GetSecretValue and its
// VersionId. Secrets Manager deletes it only once the secret has more than
// 100 versions and the version is at least 24 hours old. Deleting the old
// value at once means deleting the whole secret. RetireDestroy therefore
// logs a warning that names the deprecated versions.
//
// When v.Old no longer exists, Retire returns ErrNotFound and touches
// nothing, because the old secret can no longer be known. A repeat after
// success writes nothing.
func (s *Store) Retire(ctx context.Context, rotationID string, v secretstore.Versions, mode secretstore.RetireMode) error {
	const op = "retire"
	if !mode.Valid() {
		return secretstore.Errorf(secretstore.ErrInvalid, op, "unknown retire mode %q", mode)
	}
	oldID := string(v.Old)
	if !validID(oldID) {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s recorded no old version of %s", rotationID, s.where(""))
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return err
	}
	current := labels.current()
	if oldID == current {
		return secretstore.Errorf(secretstore.ErrConflict, op, "%s still carries AWSCURRENT; promote before retiring it", s.where(oldID))
	}
	old, err := s.getVersion(ctx, op, oldID)
	if errors.Is(err, secretstore.ErrNotFound) {
		// TODO: a repeat long after a successful retire cannot tell that
		// Secrets Manager deleted the deprecated version since, and reports
		// it as missing too.
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s, the old value of rotation %s, no longer exists; nothing was retired, so check by hand which versions still hold the old secret", s.where(oldID), rotationID)
	}
	if err != nil {
		return err
	}
	oldValue, err := s.decode(op, old)
	if err != nil {
		return err
	}
	currentVersion, err := s.getVersion(ctx, op, current)
	if err != nil {
		return err
	}
	currentValue, err := s.decode(op, currentVersion)
	if err != nil {
		return err
	}
	if currentValue.Equal(oldValue) {
		return secretstore.Errorf(secretstore.ErrConflict, op, "the AWSCURRENT version %s of %s contains the old value; promote before retiring", current, s.where(""))
	}

	targets, err := s.copiesOf(ctx, op, oldValue, labels)
	if err != nil {
		return err
	}
	for _, id := range targets {
		for _, label := range labels.stages[id] {
			if err := s.removeLabel(ctx, op, rotationID, label, id); err != nil {
				return err
			}
		}
	}
	if mode == secretstore.RetireDestroy {
		deprecated := targets
		if !slices.Contains(deprecated, oldID) {
			deprecated = append(slices.Clone(deprecated), oldID)
		}
		s.log.Warn("secrets manager cannot destroy a single version; the old value stays in deprecated versions until secrets manager deletes them",
			"backend", "aws", "op", op, "rotation_id", rotationID, "secret", s.id, "versions", deprecated)
	}
	return nil
}

// copiesOf returns the labelled versions, other than the AWSCURRENT one,
// that hold value. A labelled version without a value or with a document
// the format cannot read holds no copy.
func (s *Store) copiesOf(ctx context.Context, op string, value secret.Value, labels labelState) ([]string, error) {
	current := labels.current()
	var out []string
	for _, id := range labels.versions() {
		if id == current {
			continue
		}
		v, err := s.getVersion(ctx, op, id)
		if errors.Is(err, secretstore.ErrNotFound) || errors.Is(err, secretstore.ErrInvalid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if held, err := s.format.Decode(v.doc); err == nil && held.Equal(value) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Discard removes every label from version rotationID when it carries the
// pending label and is not current, so that it becomes deprecated. This
// includes AWSPREVIOUS, which a rollback leaves on it. Nothing staged for
// rotationID is not an error, and a version pending for someone else is
// left alone.
func (s *Store) Discard(ctx context.Context, rotationID string, v secretstore.Versions) error {
	const op = "discard"
	if !validID(rotationID) {
		return nil
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return err
	}
	if rotationID == labels.current() || !labels.has(rotationID, s.pending) {
		return nil
	}
	// The pending label goes last, so that a discard stopped half-way is
	// repeated.
	stages := slices.DeleteFunc(slices.Clone(labels.stages[rotationID]), func(l string) bool { return l == s.pending })
	for _, label := range append(stages, s.pending) {
		if err := s.removeLabel(ctx, op, rotationID, label, rotationID); err != nil {
			return err
		}
	}
	return nil
}
