package vault

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// maxAttempts bounds the re-read and retry loop of a check-and-set write
// that lost to another writer or whose outcome was unknown.
const maxAttempts = 3

const stagedPrefix = "staged:"

func mainVersion(n int) secretstore.Version { return secretstore.Version(strconv.Itoa(n)) }
func stagedVersion(n int) secretstore.Version {
	return secretstore.Version(stagedPrefix + strconv.Itoa(n))
}

// parseMain returns the number of a main path version.
func parseMain(v secretstore.Version) (int, bool) {
	n, err := strconv.Atoi(string(v))
	return n, err == nil && n > 0 && mainVersion(n) == v
}

// parseStaged returns the number of a staging path version.
func parseStaged(v secretstore.Version) (int, bool) {
	rest, ok := strings.CutPrefix(string(v), stagedPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n > 0 && stagedVersion(n) == v
}

// staging is the state of the staging path.
type staging struct {
	meta    keyMeta
	live    bool         // its latest version is readable
	version int          // its latest version
	value   secret.Value // the staged secret, when live
	owner   string       // rotation id in its custom metadata; empty when staged by another tool
	old     secretstore.Version
}

func (st staging) versions() secretstore.Versions {
	return secretstore.Versions{Old: st.old, Staged: stagedVersion(st.version)}
}

func (s *Store) readStaging(ctx context.Context, op string) (staging, error) {
	meta, err := s.readMeta(ctx, op, s.staging)
	if err != nil || !meta.found {
		return staging{}, err
	}
	st := staging{
		meta:    meta,
		version: meta.current,
		owner:   meta.custom[metaRotation],
		old:     secretstore.Version(meta.custom[metaOldVersion]),
	}
	if meta.current == 0 || !meta.readable(meta.current) {
		return st, nil
	}
	value, found, err := s.readValue(ctx, op, s.staging, meta.current)
	if err != nil {
		return staging{}, err
	}
	st.live, st.value = found, value
	return st, nil
}

// pendingConflict is the error for a staged value that belongs to someone
// else.
func (s *Store) pendingConflict(op string, st staging) error {
	if st.owner == "" {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"version %s is pending at %s, staged by another tool; adopt it or delete that path", stagedVersion(st.version), s.where(s.staging, 0))
	}
	return secretstore.Errorf(secretstore.ErrConflict, op,
		"version %s is pending at %s for rotation %s", stagedVersion(st.version), s.where(s.staging, 0), st.owner)
}

func (s *Store) resolved(op, rotationID string, version secretstore.Version) {
	s.log.Info("vault write outcome resolved by a re-read",
		"backend", "vault", "op", op, "rotation_id", rotationID,
		"mount", s.mount, "path", s.path, "version", string(version))
}

// Stage writes value to the staging path for rotationID. See the package
// documentation for the layout.
func (s *Store) Stage(ctx context.Context, rotationID string, value secret.Value) (secretstore.Versions, error) {
	const op = "stage"
	if value.IsZero() {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrInvalid, op, "the secret for rotation %s is empty", rotationID)
	}
	// A repeat returns what the first stage recorded.
	st, err := s.readStaging(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if st.live {
		if st.owner != rotationID {
			return secretstore.Versions{}, s.pendingConflict(op, st)
		}
		if !st.value.Equal(value) {
			return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
				"version %s at %s is already staged for rotation %s with a different value", stagedVersion(st.version), s.where(s.staging, 0), rotationID)
		}
		return st.versions(), nil
	}

	current, found, err := s.readVersion(ctx, op, s.path, 0)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !found {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "the latest version of %s is missing or deleted", s.where(s.path, 0))
	}
	if _, err := s.secretOf(op, s.path, current); err != nil {
		return secretstore.Versions{}, err
	}
	old := mainVersion(current.version)
	n, err := s.stageValue(ctx, op, rotationID, value, old)
	if err != nil {
		return secretstore.Versions{}, err
	}
	return secretstore.Versions{Old: old, Staged: stagedVersion(n)}, nil
}

// stageValue puts value at the staging path for rotationID, recording old
// as the main path's version that serves the old value, and returns the
// staging path's version. A value already staged for rotationID is kept,
// not written again; only old is updated when it differs.
func (s *Store) stageValue(ctx context.Context, op, rotationID string, value secret.Value, old secretstore.Version) (int, error) {
	var lastErr error
	reread := false
	for range maxAttempts {
		st, err := s.readStaging(ctx, op)
		if err != nil {
			return 0, err
		}
		if st.live {
			if st.owner != rotationID {
				return 0, s.pendingConflict(op, st)
			}
			if !st.value.Equal(value) {
				return 0, secretstore.Errorf(secretstore.ErrConflict, op,
					"version %s at %s is already staged for rotation %s with a different value", stagedVersion(st.version), s.where(s.staging, 0), rotationID)
			}
			if reread {
				s.resolved(op, rotationID, stagedVersion(st.version))
			}
			if st.old != old {
				custom := withFields(st.meta.custom, map[string]string{metaOldVersion: string(old)})
				if err := s.writeCustomMetadata(ctx, op, s.staging, custom); err != nil {
					return 0, err
				}
			}
			return st.version, nil
		}

		// Claim the staging path before writing the value. A crash in
		// between leaves a claim without a value, which the next stage of
		// any rotation takes over.
		if !st.meta.found || st.owner != rotationID || st.old != old {
			custom := withFields(st.meta.custom, map[string]string{metaRotation: rotationID, metaOldVersion: string(old)})
			if err := s.writeCustomMetadata(ctx, op, s.staging, custom); err != nil {
				return 0, err
			}
		}
		n, err := s.writeVersion(ctx, op, s.staging, map[string]any{s.key: value.Reveal()}, st.meta.current)
		if err == nil {
			return n, nil
		}
		if !needsReread(err) {
			return 0, err
		}
		lastErr, reread = err, true
	}
	return 0, fmt.Errorf("%w; gave up after %d attempts", lastErr, maxAttempts)
}

// Adopt makes a value staged at the staging path by another tool the
// staged value of rotationID, by recording rotationID in the staging path's
// custom metadata.
func (s *Store) Adopt(ctx context.Context, rotationID string, staged secretstore.Version) (secretstore.Versions, error) {
	const op = "adopt"
	n, ok := parseStaged(staged)
	if !ok {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %q is not a version of the staging path %s", staged, s.where(s.staging, 0))
	}
	st, err := s.readStaging(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !st.live || st.version != n {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %s is not pending at %s", staged, s.where(s.staging, 0))
	}
	if st.owner == rotationID {
		return st.versions(), nil
	}
	if st.owner != "" {
		return secretstore.Versions{}, s.pendingConflict(op, st)
	}

	current, found, err := s.readVersion(ctx, op, s.path, 0)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !found {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "the latest version of %s is missing or deleted", s.where(s.path, 0))
	}
	st.owner, st.old = rotationID, mainVersion(current.version)
	custom := withFields(st.meta.custom, map[string]string{metaRotation: rotationID, metaOldVersion: string(st.old)})
	if err := s.writeCustomMetadata(ctx, op, s.staging, custom); err != nil {
		return secretstore.Versions{}, err
	}
	return st.versions(), nil
}

// Staged returns the versions staged for rotationID, or ErrNotFound.
func (s *Store) Staged(ctx context.Context, rotationID string) (secretstore.Versions, error) {
	const op = "staged"
	st, err := s.readStaging(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !st.live || st.owner != rotationID {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "nothing is staged for rotation %s at %s", rotationID, s.where(s.staging, 0))
	}
	return st.versions(), nil
}

// Promote writes the staged value as a new version of the main path, keeps
// every other field of the latest version, and deletes the staging path.
// It returns ErrConflict when the main path's secret changed since staging
// (an edit of other fields alone is re-read and kept), and ErrNotFound when
// nothing is staged for rotationID.
func (s *Store) Promote(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "promote"
	st, err := s.readStaging(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !st.live || st.owner != rotationID || stagedVersion(st.version) != v.Staged {
		return s.promotedBefore(ctx, op, rotationID, v)
	}

	n, err := s.replaceSecret(ctx, op, rotationID, st.value, func(current document, value secret.Value) (bool, error) {
		if value.Equal(st.value) {
			return true, nil
		}
		if mainVersion(current.version) == v.Old {
			return false, nil
		}
		return false, s.sameValueAs(ctx, op, v.Old, current.version, value)
	})
	if err != nil {
		return secretstore.Versions{}, err
	}
	v.New = mainVersion(n)

	// Record the promotion before the staging path goes, so that a repeat
	// after a crash finds the result.
	meta, err := s.readMeta(ctx, op, s.path)
	if err != nil {
		return secretstore.Versions{}, err
	}
	custom := withFields(meta.custom, map[string]string{metaPromotedRotation: rotationID, metaPromotedVersion: string(v.New)})
	if err := s.writeCustomMetadata(ctx, op, s.path, custom); err != nil {
		return secretstore.Versions{}, err
	}
	if err := s.deleteAll(ctx, op, s.staging); err != nil {
		return secretstore.Versions{}, err
	}
	return v, nil
}

// promotedBefore returns the result of an earlier promote of rotationID,
// recorded in the main path's custom metadata, or ErrNotFound.
func (s *Store) promotedBefore(ctx context.Context, op, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	meta, err := s.readMeta(ctx, op, s.path)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if meta.custom[metaPromotedRotation] == rotationID {
		if n, ok := parseMain(secretstore.Version(meta.custom[metaPromotedVersion])); ok && meta.readable(n) {
			v.New = mainVersion(n)
			return v, nil
		}
	}
	return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
		"version %s is not staged for rotation %s at %s", v.Staged, rotationID, s.where(s.staging, 0))
}

// sameValueAs returns nil when the latest version (number latest, holding
// value) holds the same secret as version old, so that only other fields
// changed since old was current. Otherwise the secret changed behind
// rotor's back, which is ErrConflict.
func (s *Store) sameValueAs(ctx context.Context, op string, old secretstore.Version, latest int, value secret.Value) error {
	n, ok := parseMain(old)
	if !ok {
		return secretstore.Errorf(secretstore.ErrConflict, op, "the latest version of %s is %d, and the rotation recorded no old version", s.where(s.path, 0), latest)
	}
	oldValue, found, err := s.readValue(ctx, op, s.path, n)
	if err != nil {
		return err
	}
	if !found {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"the latest version of %s is %d, not %d, and version %d is gone; the secret changed since it was staged", s.where(s.path, 0), latest, n, n)
	}
	if !oldValue.Equal(value) {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"%s contains a different secret than version %d; someone changed the secret since it was staged", s.where(s.path, latest), n)
	}
	return nil
}

// replaceSecret writes value as a new version of the main path whose other
// fields are those of the latest version, with check-and-set on the latest
// version. decide receives the latest version and its secret first and
// returns true when the write is already done. After a check-and-set mismatch or a
// write whose outcome is unknown it re-reads and asks decide again, so a
// retry never adds a second version. It returns the version that holds the
// result.
func (s *Store) replaceSecret(ctx context.Context, op, rotationID string, value secret.Value,
	decide func(current document, currentValue secret.Value) (done bool, err error)) (int, error) {
	var lastErr error
	reread := false
	for range maxAttempts {
		current, found, err := s.readVersion(ctx, op, s.path, 0)
		if err != nil {
			return 0, err
		}
		if !found {
			return 0, secretstore.Errorf(secretstore.ErrNotFound, op, "the latest version of %s is missing or deleted", s.where(s.path, 0))
		}
		currentValue, err := s.secretOf(op, s.path, current)
		if err != nil {
			return 0, err
		}
		done, err := decide(current, currentValue)
		if err != nil {
			return 0, err
		}
		if done {
			if reread {
				s.resolved(op, rotationID, mainVersion(current.version))
			}
			return current.version, nil
		}

		data := maps.Clone(current.data)
		data[s.key] = value.Reveal()
		n, err := s.writeVersion(ctx, op, s.path, data, current.version)
		if err == nil {
			return n, nil
		}
		if !needsReread(err) {
			return 0, err
		}
		lastErr, reread = err, true
	}
	return 0, fmt.Errorf("%w; gave up after %d attempts", lastErr, maxAttempts)
}

// Rollback writes the old value as a new version of the main path and
// stages the new value again for rotationID. The returned Old is the new
// version that serves the old value. It returns ErrNotFound when the
// recorded old or new version was pruned, deleted or destroyed, and
// ErrConflict when the latest version holds neither value.
func (s *Store) Rollback(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "rollback"
	oldN, okOld := parseMain(v.Old)
	newN, okNew := parseMain(v.New)
	if !okOld || !okNew {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s has no promoted version of %s to roll back", rotationID, s.where(s.path, 0))
	}
	st, err := s.readStaging(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if st.live && st.owner != rotationID {
		return secretstore.Versions{}, s.pendingConflict(op, st)
	}

	oldValue, found, err := s.readValue(ctx, op, s.path, oldN)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !found {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s, the old value, was pruned, deleted or destroyed; nothing was rolled back", s.where(s.path, oldN))
	}
	newValue := st.value
	if !st.live {
		newValue, found, err = s.readValue(ctx, op, s.path, newN)
		if err != nil {
			return secretstore.Versions{}, err
		}
		if !found {
			return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op,
				"%s, the new value, was pruned, deleted or destroyed; nothing was rolled back", s.where(s.path, newN))
		}
	}

	n, err := s.replaceSecret(ctx, op, rotationID, oldValue, func(_ document, value secret.Value) (bool, error) {
		if value.Equal(oldValue) {
			return true, nil
		}
		if !value.Equal(newValue) {
			return false, secretstore.Errorf(secretstore.ErrConflict, op,
				"the latest version of %s contains neither the old nor the new value; someone changed the secret", s.where(s.path, 0))
		}
		return false, nil
	})
	if err != nil {
		return secretstore.Versions{}, err
	}

	staged, err := s.stageValue(ctx, op, rotationID, newValue, mainVersion(n))
	if err != nil {
		return secretstore.Versions{}, err
	}
	return secretstore.Versions{Old: mainVersion(n), Staged: stagedVersion(staged)}, nil
}

// Retire soft-deletes (RetireDisable) or destroys (RetireDestroy) v.Old and
// every other readable version of the main path that holds the same secret,
// in one request. The latest version is never touched: when it holds the
// old secret, Retire returns ErrConflict. When v.Old was pruned it returns
// ErrNotFound and touches nothing, because the old secret can no longer be
// known.
func (s *Store) Retire(ctx context.Context, rotationID string, v secretstore.Versions, mode secretstore.RetireMode) error {
	const op = "retire"
	if !mode.Valid() {
		return secretstore.Errorf(secretstore.ErrInvalid, op, "unknown retire mode %q", mode)
	}
	oldN, ok := parseMain(v.Old)
	if !ok {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s recorded no old version of %s", rotationID, s.where(s.path, 0))
	}
	meta, err := s.readMeta(ctx, op, s.path)
	if err != nil {
		return err
	}
	if !meta.found {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "secret %s does not exist; nothing was retired", s.where(s.path, 0))
	}
	state, ok := meta.versions[oldN]
	if !ok {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s, the old value of rotation %s, was pruned by max_versions; nothing was retired, so check by hand which versions still hold the old secret", s.where(s.path, oldN), rotationID)
	}
	if oldN == meta.current {
		return secretstore.Errorf(secretstore.ErrConflict, op, "%s is still the latest version; promote before retiring it", s.where(s.path, oldN))
	}
	switch {
	case state.destroyed:
		return nil
	case state.deleted && mode == secretstore.RetireDisable:
		return nil
	case state.deleted:
		// TODO: after an earlier RetireDisable the old value cannot be read.
		// Copies of it in other soft-deleted versions are therefore not found
		// and stay recoverable, because only v.Old is destroyed here.
		return s.retireVersions(ctx, op, s.path, []int{oldN}, mode)
	}

	oldValue, found, err := s.readValue(ctx, op, s.path, oldN)
	if err != nil {
		return err
	}
	if !found {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "%s can no longer be read; nothing was retired", s.where(s.path, oldN))
	}
	latestValue, found, err := s.readValue(ctx, op, s.path, meta.current)
	if err != nil {
		return err
	}
	if !found {
		return secretstore.Errorf(secretstore.ErrConflict, op, "the latest version %d of %s is deleted or destroyed; restore it before retiring the old value", meta.current, s.where(s.path, 0))
	}
	if latestValue.Equal(oldValue) {
		return secretstore.Errorf(secretstore.ErrConflict, op, "the latest version %d of %s contains the old value; promote before retiring", meta.current, s.where(s.path, 0))
	}

	targets := []int{}
	for _, n := range slices.Sorted(maps.Keys(meta.versions)) {
		if n == oldN || n == meta.current || !meta.readable(n) {
			continue
		}
		value, found, err := s.readValue(ctx, op, s.path, n)
		if err != nil {
			return err
		}
		if found && value.Equal(oldValue) {
			targets = append(targets, n)
		}
	}
	return s.retireVersions(ctx, op, s.path, append(targets, oldN), mode)
}

// Discard deletes the staging path when rotationID owns it. Nothing staged
// for rotationID is not an error, and a value staged for someone else is
// left alone.
func (s *Store) Discard(ctx context.Context, rotationID string, v secretstore.Versions) error {
	const op = "discard"
	st, err := s.readStaging(ctx, op)
	if err != nil {
		return err
	}
	if !st.meta.found || st.owner != rotationID {
		return nil
	}
	return s.deleteAll(ctx, op, s.staging)
}

// Read returns the secret held in a version of the main path ("3") or of
// the staging path ("staged:1"). A version that was pruned, deleted or
// destroyed is ErrNotFound.
func (s *Store) Read(ctx context.Context, version secretstore.Version) (secret.Value, error) {
	const op = "read"
	path, n := s.path, 0
	if m, ok := parseMain(version); ok {
		n = m
	} else if m, ok := parseStaged(version); ok {
		path, n = s.staging, m
	} else {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%q is not a version of %s", version, s.where(s.path, 0))
	}
	value, found, err := s.readValue(ctx, op, path, n)
	if err != nil {
		return secret.Value{}, err
	}
	if !found {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%s was pruned, deleted or destroyed", s.where(path, n))
	}
	return value, nil
}

// Current returns the secret in the latest version of the main path and
// that version.
func (s *Store) Current(ctx context.Context) (secret.Value, secretstore.Version, error) {
	const op = "current"
	doc, found, err := s.readVersion(ctx, op, s.path, 0)
	if err != nil {
		return secret.Value{}, "", err
	}
	if !found {
		return secret.Value{}, "", secretstore.Errorf(secretstore.ErrNotFound, op, "the latest version of %s is missing or deleted", s.where(s.path, 0))
	}
	value, err := s.secretOf(op, s.path, doc)
	if err != nil {
		return secret.Value{}, "", err
	}
	return value, mainVersion(doc.version), nil
}
