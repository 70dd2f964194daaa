package gcp

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// pendingConflict is the error for a pending version that belongs to
// someone else.
func (s *Store) pendingConflict(op string, p pending) error {
	if p.owner == "" {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"version %d of %s is under the %s alias, staged by another tool; adopt it or remove the alias", p.version, s.name, AliasPending)
	}
	return secretstore.Errorf(secretstore.ErrConflict, op, "version %d of %s is pending for rotation %s", p.version, s.name, p.owner)
}

// Stage adds value as a new version, built from the current version's
// payload with only the secret changed, and points the pending alias at
// it. A repeat for the same rotation and value returns the same versions.
// After a lost response or a crash, a repeat finds the version the first
// attempt added instead of adding another. A pending version of another
// rotation or tool, or of this rotation with another value, is ErrConflict.
func (s *Store) Stage(ctx context.Context, rotationID string, value secret.Value) (secretstore.Versions, error) {
	const op = "stage"
	if rotationID == "" {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrInvalid, op, "the rotation id is empty")
	}
	if value.IsZero() {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrInvalid, op, "the secret for rotation %s is empty", rotationID)
	}
	v, err := s.getSecret(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if p, ok := v.pending(); ok {
		return s.stagedBefore(ctx, op, rotationID, value, p)
	}

	old, err := s.current(op, v)
	if err != nil {
		return secretstore.Versions{}, err
	}
	base, err := s.readDoc(ctx, op, old)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if _, err := s.decode(op, old, base); err != nil {
		return secretstore.Versions{}, err
	}
	doc, err := s.format.Encode(base, value)
	if err != nil {
		return secretstore.Versions{}, s.formatError(op, old, err)
	}

	after, err := s.claimStage(ctx, op, rotationID, old, v)
	if err != nil {
		return secretstore.Versions{}, err
	}
	n, err := s.addOnce(ctx, op, rotationID, after, doc)
	if err != nil {
		return secretstore.Versions{}, err
	}

	err = s.updateMeta(ctx, op, rotationID, func(_ context.Context, v view, aliases map[string]int64, annotations map[string]string) (bool, error) {
		if p, ok := v.pending(); ok {
			if p.owner == rotationID && p.version == n {
				return true, nil
			}
			return false, s.pendingConflict(op, p)
		}
		if owner := annotations[annotationRotation]; owner != rotationID {
			return false, secretstore.Errorf(secretstore.ErrConflict, op,
				"rotation %q took over staging on %s while version %d was added for rotation %s", owner, s.name, n, rotationID)
		}
		aliases[AliasPending] = n
		annotations[annotationVersion] = strconv.FormatInt(n, 10)
		annotations[annotationOld] = strconv.FormatInt(old, 10)
		delete(annotations, annotationAfter)
		return false, nil
	})
	if err != nil {
		return secretstore.Versions{}, err
	}
	return secretstore.Versions{Old: versionID(old), Staged: versionID(n)}, nil
}

// stagedBefore handles a stage while a version is pending: a repeat of
// this rotation with the same value returns its versions, anything else is
// ErrConflict.
func (s *Store) stagedBefore(ctx context.Context, op, rotationID string, value secret.Value, p pending) (secretstore.Versions, error) {
	if p.owner != rotationID {
		return secretstore.Versions{}, s.pendingConflict(op, p)
	}
	staged, err := s.readValue(ctx, op, p.version)
	if errors.Is(err, secretstore.ErrNotFound) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"version %d of %s, pending for rotation %s, is disabled, destroyed or gone; cancel the rotation and start again", p.version, s.name, rotationID)
	}
	if err != nil {
		return secretstore.Versions{}, err
	}
	if !staged.Equal(value) {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"version %d of %s is already staged for rotation %s with a different value", p.version, s.name, rotationID)
	}
	return p.versions(), nil
}

// claimStage records in the annotations that rotationID is adding a
// version while old is current, and returns the newest version number
// before the add. A claim this rotation left with the same old version is
// kept, so a repeat searches the versions added since then.
func (s *Store) claimStage(ctx context.Context, op, rotationID string, old int64, v view) (int64, error) {
	if c, ok := v.claim(); ok && c.owner == rotationID && c.old == old && c.after > 0 {
		return c.after, nil
	}
	latest, err := s.getVersion(ctx, op, "latest")
	if err != nil {
		return 0, gcpError(op, "read the latest version of "+s.name, err)
	}
	after, _ := numberOf(latest.GetName())

	err = s.updateMeta(ctx, op, rotationID, func(_ context.Context, v view, _ map[string]int64, annotations map[string]string) (bool, error) {
		if p, ok := v.pending(); ok {
			return false, s.pendingConflict(op, p)
		}
		if c, ok := v.claim(); ok && c.owner != rotationID {
			s.log.WarnContext(ctx, "taking over an unfinished stage of another rotation", "op", op, "rotation_id", rotationID, "previous_rotation_id", c.owner)
		}
		if c, ok := v.claim(); ok && c.owner == rotationID && c.old == old && c.after == after {
			return true, nil
		}
		clearClaim(annotations)
		annotations[annotationRotation] = rotationID
		annotations[annotationOld] = strconv.FormatInt(old, 10)
		annotations[annotationAfter] = strconv.FormatInt(after, 10)
		return false, nil
	})
	return after, err
}

// addOnce adds doc as a version unless a version newer than after holds it
// already, and returns that version's number. AddSecretVersion has no
// idempotency key, so after an outcome that is unknown the versions are
// listed and matched before the next attempt.
func (s *Store) addOnce(ctx context.Context, op, rotationID string, after int64, doc []byte) (int64, error) {
	if n, found, err := s.findAdded(ctx, op, after, doc); err != nil || found {
		if found {
			s.log.InfoContext(ctx, "Secret Manager write outcome resolved by a re-read", "op", op, "rotation_id", rotationID, "version", n)
		}
		return n, err
	}
	sum := crc32c(doc)
	var lastErr error
	wait := s.retryWait
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		resp, err := s.client.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
			Parent:  s.name,
			Payload: &secretmanagerpb.SecretPayload{Data: doc, DataCrc32C: &sum},
		})
		if err == nil {
			n, ok := numberOf(resp.GetName())
			if !ok {
				return 0, secretstore.Errorf(secretstore.ErrUnavailable, op, "Secret Manager returned no version number for the version added to %s", s.name)
			}
			return n, nil
		}
		lastErr = gcpError(op, "add a version to "+s.name, err)
		if !transient(err) && !outcomeUnknown(err) {
			return 0, lastErr
		}
		if ctx.Err() != nil {
			return 0, lastErr
		}
		s.log.WarnContext(ctx, "adding a version failed; looking for it before trying again", "op", op, "rotation_id", rotationID, "code", code(err).String(), "attempt", attempt)
		if err := sleep(ctx, wait); err != nil {
			return 0, lastErr
		}
		wait *= 2
		n, found, err := s.findAdded(ctx, op, after, doc)
		if err != nil {
			return 0, err
		}
		if found {
			s.log.InfoContext(ctx, "Secret Manager write outcome resolved by a re-read", "op", op, "rotation_id", rotationID, "version", n)
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w; gave up after %d attempts", lastErr, maxAttempts)
}

// Adopt makes the version another tool put under the pending alias the
// staged version of rotationID, by recording the rotation in the
// annotations. It returns ErrNotFound when staged is not the pending
// version and ErrConflict when another rotation owns it.
func (s *Store) Adopt(ctx context.Context, rotationID string, staged secretstore.Version) (secretstore.Versions, error) {
	const op = "adopt"
	n, ok := parseVersion(staged)
	if !ok {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%q is not a version number of %s", staged, s.name)
	}
	var out secretstore.Versions
	err := s.updateMeta(ctx, op, rotationID, func(ctx context.Context, v view, _ map[string]int64, annotations map[string]string) (bool, error) {
		p, ok := v.pending()
		if !ok || p.version != n {
			return false, secretstore.Errorf(secretstore.ErrNotFound, op, "version %d of %s is not under the %s alias", n, s.name, AliasPending)
		}
		if p.owner == rotationID {
			out = p.versions()
			return true, nil
		}
		if p.owner != "" {
			return false, s.pendingConflict(op, p)
		}
		old, err := s.current(op, v)
		if err != nil {
			return false, err
		}
		if _, err := s.readValue(ctx, op, n); err != nil {
			return false, err
		}
		clearClaim(annotations)
		annotations[annotationRotation] = rotationID
		annotations[annotationVersion] = strconv.FormatInt(n, 10)
		annotations[annotationOld] = strconv.FormatInt(old, 10)
		out = secretstore.Versions{Old: versionID(old), Staged: versionID(n)}
		return false, nil
	})
	if err != nil {
		return secretstore.Versions{}, err
	}
	return out, nil
}

// Staged returns the versions staged for rotationID, or ErrNotFound. A
// stage that added its version but crashed before pointing the pending
// alias at it is not found: the value is needed to recognise the version,
// and the next Stage with that value finds it.
func (s *Store) Staged(ctx context.Context, rotationID string) (secretstore.Versions, error) {
	const op = "staged"
	v, err := s.getSecret(ctx, op)
	if err != nil {
		return secretstore.Versions{}, err
	}
	if p, ok := v.pending(); ok && p.owner == rotationID {
		return p.versions(), nil
	}
	return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "nothing is staged for rotation %s on %s", rotationID, s.name)
}

// Promote points the current alias at the staged version and the previous
// alias at v.Old, and drops the pending alias, in one UpdateSecret. It
// returns ErrNotFound when nothing is staged for rotationID (or the staged
// version is disabled or gone), and ErrConflict when current no longer
// names v.Old, because the staged payload was built from v.Old's.
func (s *Store) Promote(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "promote"
	staged, ok := parseVersion(v.Staged)
	if !ok {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s has no staged version of %s", rotationID, s.name)
	}
	old, _ := parseVersion(v.Old)
	err := s.updateMeta(ctx, op, rotationID, func(ctx context.Context, sec view, aliases map[string]int64, annotations map[string]string) (bool, error) {
		cur, err := s.current(op, sec)
		if err != nil {
			return false, err
		}
		if cur == staged {
			return true, nil
		}
		p, ok := sec.pending()
		if !ok || p.owner != rotationID || p.version != staged {
			return false, secretstore.Errorf(secretstore.ErrNotFound, op, "version %d of %s is not staged for rotation %s", staged, s.name, rotationID)
		}
		if cur != old {
			return false, secretstore.Errorf(secretstore.ErrConflict, op,
				"the %s alias of %s names version %d, not version %s as when the value was staged; cancel and stage again", AliasCurrent, s.name, cur, v.Old)
		}
		if _, err := s.readDoc(ctx, op, staged); err != nil {
			return false, err
		}
		aliases[AliasCurrent] = staged
		aliases[AliasPrevious] = old
		delete(aliases, AliasPending)
		clearClaim(annotations)
		return false, nil
	})
	if err != nil {
		return secretstore.Versions{}, err
	}
	v.New = v.Staged
	return v, nil
}

// Rollback points the current alias back at v.Old and the pending alias at
// v.New for rotationID, in one UpdateSecret. It drops the previous alias
// when that names v.Old. It returns ErrNotFound when v.Old is disabled,
// destroyed or gone. It returns ErrConflict when current names neither
// version or another version is pending.
func (s *Store) Rollback(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "rollback"
	old, okOld := parseVersion(v.Old)
	promoted, okNew := parseVersion(v.New)
	if !okOld || !okNew {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s has no promoted version of %s to roll back", rotationID, s.name)
	}
	back := secretstore.Versions{Old: v.Old, Staged: v.New}
	err := s.updateMeta(ctx, op, rotationID, func(ctx context.Context, sec view, aliases map[string]int64, annotations map[string]string) (bool, error) {
		cur, err := s.current(op, sec)
		if err != nil {
			return false, err
		}
		p, hasPending := sec.pending()
		if cur == old && hasPending && p.owner == rotationID && p.version == promoted {
			return true, nil
		}
		if _, err := s.readDoc(ctx, op, old); err != nil {
			return false, fmt.Errorf("%w; nothing was rolled back", err)
		}
		if cur != promoted {
			return false, secretstore.Errorf(secretstore.ErrConflict, op,
				"the %s alias of %s names version %d, not the promoted version %d", AliasCurrent, s.name, cur, promoted)
		}
		if hasPending {
			return false, s.pendingConflict(op, p)
		}
		aliases[AliasCurrent] = old
		aliases[AliasPending] = promoted
		if aliases[AliasPrevious] == old {
			delete(aliases, AliasPrevious)
		}
		clearClaim(annotations)
		annotations[annotationRotation] = rotationID
		annotations[annotationVersion] = strconv.FormatInt(promoted, 10)
		annotations[annotationOld] = strconv.FormatInt(old, 10)
		return false, nil
	})
	if err != nil {
		return secretstore.Versions{}, err
	}
	return back, nil
}

// Retire disables (RetireDisable) or destroys (RetireDestroy) every enabled
// version that holds the old secret, v.Old last, so a repeat after a
// failure half-way finds the copies again. It never touches the version
// under the current or the pending alias, and returns ErrConflict when
// current names v.Old or holds the old secret. It returns ErrNotFound when
// v.Old is gone, because the old secret can no longer be known. A repeat is
// not an error.
func (s *Store) Retire(ctx context.Context, rotationID string, v secretstore.Versions, mode secretstore.RetireMode) error {
	const op = "retire"
	if !mode.Valid() {
		return secretstore.Errorf(secretstore.ErrInvalid, op, "unknown retire mode %q", mode)
	}
	old, ok := parseVersion(v.Old)
	if !ok {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s recorded no old version of %s", rotationID, s.name)
	}
	sec, err := s.getSecret(ctx, op)
	if err != nil {
		return err
	}
	cur, err := s.current(op, sec)
	if err != nil {
		return err
	}
	if cur == old {
		return secretstore.Errorf(secretstore.ErrConflict, op, "%s is still under the %s alias; promote before retiring it", s.where(old), AliasCurrent)
	}
	meta, err := s.getVersion(ctx, op, strconv.FormatInt(old, 10))
	if code(err) == codes.NotFound {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s, the old value of rotation %s, does not exist; nothing was retired, so check by hand which versions still hold the old secret", s.where(old), rotationID)
	}
	if err != nil {
		return gcpError(op, "read "+s.where(old), err)
	}
	switch {
	case meta.GetState() == secretmanagerpb.SecretVersion_DESTROYED, meta.GetScheduledDestroyTime() != nil:
		return nil
	case meta.GetState() == secretmanagerpb.SecretVersion_DISABLED && mode == secretstore.RetireDisable:
		return nil
	case meta.GetState() == secretmanagerpb.SecretVersion_DISABLED:
		// TODO: a disabled version cannot be read, so after an earlier
		// RetireDisable the old secret is unknown here. Copies of it in
		// other disabled versions are not found and stay recoverable;
		// only v.Old is destroyed.
		return s.changeState(ctx, op, old, mode)
	}

	oldValue, err := s.readValue(ctx, op, old)
	if err != nil {
		return err
	}
	curValue, err := s.readValue(ctx, op, cur)
	if err != nil {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"%s, under the %s alias, cannot be read (%v); fix it before retiring the old value", s.where(cur), AliasCurrent, err)
	}
	if curValue.Equal(oldValue) {
		return secretstore.Errorf(secretstore.ErrConflict, op, "%s, under the %s alias, contains the old value; promote before retiring", s.where(cur), AliasCurrent)
	}

	targets, err := s.copiesOf(ctx, op, oldValue, sec, old, cur)
	if err != nil {
		return err
	}
	for _, n := range append(targets, old) {
		if err := s.changeState(ctx, op, n, mode); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "old version retired", "op", op, "rotation_id", rotationID, "version", n, "mode", string(mode))
	}
	return nil
}

// copiesOf returns the enabled versions other than old, cur and the pending
// one whose secret equals value.
func (s *Store) copiesOf(ctx context.Context, op string, value secret.Value, v view, old, cur int64) ([]int64, error) {
	versions, err := s.listVersions(ctx, op)
	if err != nil {
		return nil, err
	}
	p, _ := v.pending()
	var out []int64
	for _, meta := range versions {
		n, ok := numberOf(meta.GetName())
		if !ok || n == old || n == cur || n == p.version || meta.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			continue
		}
		doc, err := s.readDoc(ctx, op, n)
		if errors.Is(err, secretstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		copyValue, err := s.format.Decode(doc)
		if err != nil || !copyValue.Equal(value) {
			continue
		}
		for alias, an := range v.aliases {
			if an == n {
				s.log.WarnContext(ctx, "retiring a copy of the old value that an alias names", "op", op, "version", n, "alias", alias)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// Discard destroys the version staged for rotationID, then drops the
// pending alias. Nothing staged for rotationID is not an error, and a
// version pending for someone else is left alone.
func (s *Store) Discard(ctx context.Context, rotationID string, v secretstore.Versions) error {
	const op = "discard"
	sec, err := s.getSecret(ctx, op)
	if err != nil {
		return err
	}
	p, ok := sec.pending()
	if ok && p.owner == rotationID {
		err := s.changeState(ctx, op, p.version, secretstore.RetireDestroy)
		if err != nil && !errors.Is(err, secretstore.ErrNotFound) {
			return err
		}
	} else if c, claimed := sec.claim(); !claimed || c.owner != rotationID {
		return nil
	}
	// TODO: a stage that crashed after adding its version, but before
	// pointing pending at it, leaves that version enabled. Only its claim
	// is removed here, because the value that identifies it is unknown.
	return s.updateMeta(ctx, op, rotationID, func(_ context.Context, sec view, aliases map[string]int64, annotations map[string]string) (bool, error) {
		if q, ok := sec.pending(); ok && q.owner == rotationID {
			delete(aliases, AliasPending)
			clearClaim(annotations)
			return false, nil
		}
		if c, ok := sec.claim(); ok && c.owner == rotationID {
			clearClaim(annotations)
			return false, nil
		}
		return true, nil
	})
}

// Read returns the secret held in version, a version number. A version
// that is disabled, destroyed or gone is ErrNotFound.
func (s *Store) Read(ctx context.Context, version secretstore.Version) (secret.Value, error) {
	const op = "read"
	n, ok := parseVersion(version)
	if !ok {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%q is not a version number of %s", version, s.name)
	}
	return s.readValue(ctx, op, n)
}

// Current returns the secret in the version under the current alias and
// that version, read in one AccessSecretVersion call. A secret without the
// alias is ErrInvalid, with how to set it up; an alias that names a
// disabled or destroyed version is ErrConflict.
func (s *Store) Current(ctx context.Context) (secret.Value, secretstore.Version, error) {
	const op = "current"
	doc, n, err := s.access(ctx, op, AliasCurrent)
	switch {
	case errors.Is(err, errUnreadable):
		return secret.Value{}, "", secretstore.Errorf(secretstore.ErrConflict, op,
			"the version under the %s alias of %s is disabled or destroyed, so consumers cannot read it; point the alias at an enabled version", AliasCurrent, s.name)
	case code(err) == codes.NotFound:
		v, gerr := s.getSecret(ctx, op)
		if gerr != nil {
			return secret.Value{}, "", gerr
		}
		if _, ok := v.alias(AliasCurrent); !ok {
			return secret.Value{}, "", s.errNoCurrent(op)
		}
		return secret.Value{}, "", secretstore.Errorf(secretstore.ErrNotFound, op, "the version under the %s alias of %s does not exist", AliasCurrent, s.name)
	case err != nil:
		var se *secretstore.Error
		if errors.As(err, &se) {
			return secret.Value{}, "", err
		}
		return secret.Value{}, "", gcpError(op, "read the "+AliasCurrent+" version of "+s.name, err)
	}
	value, err := s.decode(op, n, doc)
	if err != nil {
		return secret.Value{}, "", err
	}
	return value, versionID(n), nil
}
