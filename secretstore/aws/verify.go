package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

// Verify reads the secret's labels with one DescribeSecret request and
// compares them with what rotor left for rotationID. It implements
// rotation.DriftChecker and writes nothing.
//
// With promoted false (new_issued, and after a rollback) rotor left
// AWSCURRENT on v.Old and the pending label on v.Staged. With promoted true
// (dual_active) it left AWSCURRENT on v.New, AWSPREVIOUS on v.Old and the
// pending label on no version. In both states no version other than v.Old
// may carry AWSPENDING, Secrets Manager's own rotation must stay turned
// off, and the secret must not be scheduled for deletion. Each difference is
// an error of kind secretstore.ErrDrift whose message names the label, the
// versions involved and what consumers read now. Several differences come
// back together (errors.Join), so errors.Is works for each.
//
// Verify accepts labels that may predate the rotation or that rotor does
// not rely on. These are AWSPENDING on v.Old, left there by a Secrets
// Manager rotation that finished before rotor staged (Stage rejects
// AWSPENDING on any other version), AWSPREVIOUS anywhere while promoted is
// false, and labels of other tools on other versions. DescribeSecret lists labelled versions only, so a version that
// another tool wrote without a label is not seen.
//
// Verify judges the labels a completed step left. A step of the same
// rotation that runs at the same time, or stopped half-way, looks like
// drift, so the caller must finish or wait for such a step first. Versions
// that this store did not issue for rotationID are ErrNotFound. A failed
// DescribeSecret is never drift. It has the kind the steps return for the
// same failure, such as ErrAccess for a denied request, ErrUnavailable for
// throttling or a 5xx, and ErrNotFound for a secret that no longer exists.
func (s *Store) Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	const op = "verify"
	if err := s.checkRecorded(op, rotationID, promoted, v); err != nil {
		return err
	}
	labels, err := s.describe(ctx, op)
	if err != nil {
		return err
	}

	var drift []string
	if !labels.deleted.IsZero() {
		drift = append(drift, fmt.Sprintf(
			"%s is scheduled for deletion on %s, so consumers can no longer read any version of it. Restore it with aws secretsmanager restore-secret --secret-id %s",
			s.where(""), labels.deleted.UTC().Format(time.RFC3339), s.id))
	}
	if promoted {
		drift = append(drift, s.promotedDrift(rotationID, v, labels)...)
	} else {
		drift = append(drift, s.stagedDrift(rotationID, v, labels)...)
	}
	drift = append(drift, s.ownerDrift(string(v.Old), labels)...)

	errs := make([]error, 0, len(drift))
	for _, msg := range drift {
		errs = append(errs, secretstore.Errorf(secretstore.ErrDrift, op, "%s", msg))
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// checkRecorded rejects versions that this store would not have returned
// for rotationID in that state, because the store names each rotation's
// version after the rotation id.
func (s *Store) checkRecorded(op, rotationID string, promoted bool, v secretstore.Versions) error {
	if !validID(string(v.Old)) {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s recorded no old version of %s to verify", rotationID, s.where(""))
	}
	mine, role := v.Staged, "staged"
	if promoted {
		mine, role = v.New, "promoted"
	}
	if string(mine) != rotationID || !validID(rotationID) {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"rotation %s recorded %q as its %s version of %s, but this store writes a rotation's value as the version named by the rotation id",
			rotationID, mine, role, s.where(""))
	}
	return nil
}

// stagedDrift compares the labels with those of new_issued (AWSCURRENT on
// v.Old, the pending label on v.Staged).
func (s *Store) stagedDrift(rotationID string, v secretstore.Versions, labels labelState) []string {
	oldID, staged := string(v.Old), string(v.Staged)
	var drift []string

	switch current := labels.current(); current {
	case oldID:
	case "":
		drift = append(drift, s.noCurrent())
	case staged:
		drift = append(drift, fmt.Sprintf(
			"AWSCURRENT of %s moved from the old version %s to version %s, the value staged for rotation %s, although rotor has not promoted it, so consumers read the new secret now",
			s.where(""), oldID, staged, rotationID))
	default:
		drift = append(drift, s.currentMoved(rotationID, oldID, current))
	}

	if !labels.has(staged, s.pending) {
		msg := fmt.Sprintf("rotor's pending label %s is no longer on %s, the value staged for rotation %s", s.pending, s.where(staged), rotationID)
		if holder := labels.holder(s.pending); holder != "" {
			msg += fmt.Sprintf(", but on version %s", holder)
		}
		if labels.labelled(staged) {
			msg += fmt.Sprintf(". The staged version carries %s, so promote would not find it", labelList(labels.stages[staged]))
		} else {
			msg += ". The staged version carries no label, so promote would not find it and Secrets Manager may delete it"
		}
		drift = append(drift, msg)
	}
	return drift
}

// promotedDrift compares the labels with those of dual_active (AWSCURRENT
// on v.New, AWSPREVIOUS on v.Old, the pending label on no version).
func (s *Store) promotedDrift(rotationID string, v secretstore.Versions, labels labelState) []string {
	oldID, newID := string(v.Old), string(v.New)
	var drift []string

	switch current := labels.current(); current {
	case newID:
	case "":
		drift = append(drift, s.noCurrent())
	case oldID:
		drift = append(drift, fmt.Sprintf(
			"AWSCURRENT of %s moved back from the new version %s to the old version %s, a rollback that rotor did not make, so consumers read the old secret again and retiring it would cut them off",
			s.where(""), newID, oldID))
	default:
		drift = append(drift, s.currentMoved(rotationID, newID, current))
	}

	if !labels.has(oldID, LabelPrevious) {
		msg := fmt.Sprintf("AWSPREVIOUS is no longer on %s, the old value of rotation %s", s.where(oldID), rotationID)
		if holder := labels.holder(LabelPrevious); holder != "" {
			msg += fmt.Sprintf(", but on version %s", holder)
		}
		if labels.labelled(oldID) {
			msg += fmt.Sprintf(". The old version carries %s, so consumers that read AWSPREVIOUS no longer get the old secret", labelList(labels.stages[oldID]))
		} else {
			// TODO: tell an old version whose labels were removed, whose value
			// anyone may still read by VersionId, from one that Secrets Manager
			// deleted. DescribeSecret lists neither, and GetSecretValue by
			// VersionId would tell them apart at one more request per Verify.
			msg += ". The old version carries no label or was deleted, so rollback has no version to return to and Secrets Manager may delete it before retirement"
		}
		drift = append(drift, msg)
	}

	if holder := labels.holder(s.pending); holder != "" {
		drift = append(drift, fmt.Sprintf(
			"rotor's pending label %s is on %s although rotation %s has been promoted, so another rotation or tool has staged a value there",
			s.pending, s.where(holder), rotationID))
	}
	return drift
}

// ownerDrift reports a second rotation owner, which is Secrets Manager's
// own rotation turned on or AWSPENDING on a version other than oldID.
func (s *Store) ownerDrift(oldID string, labels labelState) []string {
	var drift []string
	if holder := labels.holder(LabelPending); holder != "" && holder != oldID {
		drift = append(drift, fmt.Sprintf(
			"%s carries AWSPENDING, so Secrets Manager's own rotation or another tool has started a rotation that can move AWSCURRENT to its own version and change what consumers read",
			s.where(holder)))
	}
	if labels.rotationEnabled {
		function := labels.rotationLambda
		if function == "" {
			function = "a rotation function or managed rotation"
		}
		drift = append(drift, fmt.Sprintf(
			"%s has Secrets Manager rotation turned on (%s), a second rotation owner that can move AWSCURRENT to a version of its own at any time. Turn it off with aws secretsmanager cancel-rotate-secret --secret-id %s",
			s.where(""), function, s.id))
	}
	return drift
}

func (s *Store) noCurrent() string {
	return fmt.Sprintf("no version of %s carries AWSCURRENT, so consumers that read the current value get an error", s.where(""))
}

// currentMoved describes AWSCURRENT moved from version from, where rotor
// left it, to a version that rotationID did not write.
func (s *Store) currentMoved(rotationID, from, to string) string {
	return fmt.Sprintf("AWSCURRENT of %s moved from version %s to version %s, which rotation %s did not write, so consumers read version %s now",
		s.where(""), from, to, rotationID, to)
}
