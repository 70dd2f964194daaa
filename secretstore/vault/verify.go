package vault

import (
	"context"
	"fmt"

	"github.com/rotorhq/rotor/secretstore"
)

// Verify implements rotation.DriftChecker from the metadata of the main
// path and of the staging path, without reading a value or writing
// anything. It returns an error of kind secretstore.ErrDrift when:
//
//   - promoted is false and the main path's latest version is not v.Old, or
//     the staging path is gone, has a latest version other than v.Staged,
//     or names another rotation or old version in its custom metadata;
//   - promoted is true and the main path's latest version is not v.New, or
//     v.Old was pruned, deleted or destroyed, or something is staged again;
//   - the version that consumers read was deleted or destroyed.
//
// Every write adds a version of the whole object, so an edit of another
// field by another tool is drift too. Vault's errors keep their kinds
// (ErrAccess for 403, ErrUnavailable for 5xx and time-outs), and recorded
// versions that this backend does not issue are ErrNotFound.
//
// The caller must finish or repeat an interrupted step before calling
// Verify, because a version that rotor wrote but did not record looks like
// one another tool wrote.
func (s *Store) Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	const op = "verify"
	meta, err := s.readMeta(ctx, op, s.path)
	if err != nil {
		return err
	}
	staging, err := s.readMeta(ctx, op, s.staging)
	if err != nil {
		return err
	}
	if !meta.found {
		return secretstore.Errorf(secretstore.ErrDrift, op, "secret %s was deleted outside rotor", s.where(s.path, 0))
	}
	if promoted {
		return s.verifyPromoted(op, rotationID, v, meta, staging)
	}
	return s.verifyStaged(op, rotationID, v, meta, staging)
}

// verifyStaged checks the state that Stage, Adopt and Rollback leave.
func (s *Store) verifyStaged(op, rotationID string, v secretstore.Versions, meta, staging keyMeta) error {
	old, okOld := parseMain(v.Old)
	staged, okStaged := parseStaged(v.Staged)
	if !okOld || !okStaged {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"rotation %s recorded old version %q and staged version %q, which are not versions of %s", rotationID, v.Old, v.Staged, s.where(s.path, 0))
	}
	if err := s.verifyLatest(op, meta, old); err != nil {
		return err
	}

	where := s.where(s.staging, 0)
	owner := staging.custom[metaRotation]
	switch {
	case !staging.found:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"staging path %s, which holds the new secret of rotation %s, was deleted outside rotor", where, rotationID)
	case owner != rotationID:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"the custom metadata of staging path %s names %s, not rotation %s", where, ownerName(owner), rotationID)
	case staging.current > staged:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %s was written at staging path %s by another tool after rotor staged version %s", stagedVersion(staging.current), where, v.Staged)
	case staging.current != staged:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"the latest version at staging path %s is %s, not %s; the path was deleted and written again outside rotor", where, stagedVersion(staging.current), v.Staged)
	case !staging.readable(staged):
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %s at staging path %s was deleted or destroyed outside rotor", v.Staged, where)
	case staging.custom[metaOldVersion] != string(v.Old):
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"the custom metadata of staging path %s names old version %q, not %s", where, staging.custom[metaOldVersion], v.Old)
	}
	return nil
}

// verifyPromoted checks the state that Promote leaves.
func (s *Store) verifyPromoted(op, rotationID string, v secretstore.Versions, meta, staging keyMeta) error {
	old, okOld := parseMain(v.Old)
	promoted, okNew := parseMain(v.New)
	if !okOld || !okNew {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"rotation %s recorded old version %q and new version %q, which are not versions of %s", rotationID, v.Old, v.New, s.where(s.path, 0))
	}
	if err := s.verifyLatest(op, meta, promoted); err != nil {
		return err
	}

	state, ok := meta.versions[old]
	switch {
	case !ok:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"%s, the old value of rotation %s, was pruned by max_versions; roll back and retire can no longer address it", s.where(s.path, old), rotationID)
	case state.destroyed:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"%s, the old value of rotation %s, was destroyed outside rotor", s.where(s.path, old), rotationID)
	case state.deleted:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"%s, the old value of rotation %s, was deleted outside rotor", s.where(s.path, old), rotationID)
	}

	// Promote deletes the staging path, so anything there now was staged by
	// someone else, and a roll back would conflict with it.
	if staging.found && staging.current > 0 {
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"version %s was staged at %s by %s while rotation %s is promoted",
			stagedVersion(staging.current), s.where(s.staging, 0), ownerName(staging.custom[metaRotation]), rotationID)
	}
	return nil
}

// verifyLatest checks that the main path's latest version is want and
// readable. Vault's current_version is the latest version even when it is
// deleted, and it only grows until the metadata is deleted.
//
// TODO: a promote or roll back that wrote its version of the main path and
// then failed before the service recorded it leaves a version that is
// reported here as written by another tool. The rotation service has no
// watch yet, so nothing makes it repeat such a step before calling Verify.
func (s *Store) verifyLatest(op string, meta keyMeta, want int) error {
	switch {
	case meta.current == want+1:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"%s was written by another tool; consumers read it now, not version %d. %s",
			s.where(s.path, meta.current), want, s.anyFieldNote())
	case meta.current > want:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"versions %d to %d of %s were written by another tool; consumers read version %d now, not version %d. %s",
			want+1, meta.current, s.where(s.path, 0), meta.current, want, s.anyFieldNote())
	case meta.current < want:
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"the latest version of %s is %d, lower than version %d that rotor recorded; the secret was deleted and written again outside rotor",
			s.where(s.path, 0), meta.current, want)
	case !meta.readable(want):
		return secretstore.Errorf(secretstore.ErrDrift, op,
			"%s, which consumers read, was deleted or destroyed outside rotor", s.where(s.path, want))
	}
	return nil
}

// anyFieldNote returns the sentence that warns an operator that a foreign
// write may have changed other fields only, not the secret.
func (s *Store) anyFieldNote() string {
	return fmt.Sprintf("A change to any field of the object, not only %q, writes a new version.", s.key)
}

// ownerName names the owner recorded in a staging path's custom metadata.
func ownerName(rotationID string) string {
	if rotationID == "" {
		return "another tool"
	}
	return "rotation " + rotationID
}
