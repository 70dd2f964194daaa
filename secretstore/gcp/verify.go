package gcp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/rotorhq/rotor/secretstore"
)

// Verify implements rotation.DriftChecker with one GetSecret and one
// ListSecretVersions. It reads no payload and writes nothing.
//
// With promoted false (new_issued, also after a roll back), it expects
// what Stage, Adopt and Rollback leave. Current names v.Old, pending names
// v.Staged, and rotor's annotations record rotationID staging v.Staged
// over v.Old. Both versions are enabled, and no enabled version is newer
// than v.Staged.
//
// With promoted true (dual_active), it expects what Promote leaves.
// Current names v.New, previous names v.Old, and there is no pending alias
// and no stage annotation. Both versions are enabled, and no enabled
// version is newer than v.New.
//
// Every difference is reported in one error of kind secretstore.ErrDrift,
// in a fixed order, so the same change gives the same message each time.
// A secret that no longer exists is drift too. Other aliases (such as
// canary), labels and other annotations are not compared, and neither is
// the previous alias before promotion, because rotor relies on none of
// them then. A newer version that is disabled or destroyed is not drift:
// readers of versions/latest then get an error, but readers of
// versions/current are not affected. PERMISSION_DENIED, UNAVAILABLE and
// the other status codes are the usual kinds (see errors.go). Recorded
// versions that are not version numbers are ErrInvalid.
//
// Verify cannot tell a change made by hand from a step of this rotation
// whose completion rotor did not record, such as a promote whose response
// was lost, so the caller must not verify while a step is in flight.
func (s *Store) Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	const op = "verify"
	exp, err := s.expectation(op, rotationID, promoted, v)
	if err != nil {
		return err
	}

	sec, err := s.getSecret(ctx, op)
	if err != nil {
		return s.goneAsDrift(op, err)
	}
	list, err := s.listVersions(ctx, op)
	if err != nil {
		return s.goneAsDrift(op, err)
	}
	versions := make(map[int64]*secretmanagerpb.SecretVersion, len(list))
	for _, meta := range list {
		if n, ok := numberOf(meta.GetName()); ok {
			versions[n] = meta
		}
	}

	var changes []string
	if promoted {
		changes = s.promotedChanges(exp, sec, versions)
	} else {
		changes = s.stagedChanges(exp, sec, versions)
	}
	changes = append(changes, newerChanges(exp, versions)...)
	if len(changes) == 0 {
		return nil
	}
	return secretstore.Errorf(secretstore.ErrDrift, op, "%s: %s", s.name, strings.Join(changes, "; "))
}

// expectation is the rotation and the versions that Verify compares the
// secret with. fresh is the version with the new value: the staged one
// before promotion, the new one after.
type expectation struct {
	rotationID string
	old        int64
	fresh      int64
}

func (s *Store) expectation(op, rotationID string, promoted bool, v secretstore.Versions) (expectation, error) {
	fresh, role := v.Staged, "staged"
	if promoted {
		fresh, role = v.New, "new"
	}
	old, okOld := parseVersion(v.Old)
	n, okFresh := parseVersion(fresh)
	if !okOld || !okFresh {
		return expectation{}, secretstore.Errorf(secretstore.ErrInvalid, op,
			"rotation %s recorded old version %q and %s version %q of %s, which are not both version numbers", rotationID, v.Old, role, fresh, s.name)
	}
	return expectation{rotationID: rotationID, old: old, fresh: n}, nil
}

// goneAsDrift returns err, except that a secret that is not found any more
// becomes drift: it existed when the rotation staged its value.
func (s *Store) goneAsDrift(op string, err error) error {
	if !errors.Is(err, secretstore.ErrNotFound) {
		return err
	}
	return secretstore.Errorf(secretstore.ErrDrift, op,
		"%s: the secret no longer exists (NOT_FOUND), because it was deleted outside rotor or expired with every version, so every consumer of it gets an error", s.name)
}

// stagedChanges compares the secret with what Stage, Adopt and Rollback
// leave.
func (s *Store) stagedChanges(exp expectation, sec view, versions map[int64]*secretmanagerpb.SecretVersion) []string {
	var changes []string
	switch cur, ok := sec.alias(AliasCurrent); {
	case !ok:
		changes = append(changes, fmt.Sprintf(
			"the %s alias was removed from the old version %d, so consumers that read versions/%s get NOT_FOUND", AliasCurrent, exp.old, AliasCurrent))
	case cur == exp.fresh:
		changes = append(changes, fmt.Sprintf(
			"the %s alias names the staged version %d instead of the old version %d, so consumers that read versions/%s get the new value before promotion (promote leaves the same alias, so if a promote of this rotation was cut short, repeat it)",
			AliasCurrent, cur, exp.old, AliasCurrent))
	case cur != exp.old:
		changes = append(changes, fmt.Sprintf(
			"the %s alias names version %d instead of the old version %d, so consumers that read versions/%s get a value rotor did not put there", AliasCurrent, cur, exp.old, AliasCurrent))
	}

	switch p, ok := sec.alias(AliasPending); {
	case !ok:
		changes = append(changes, fmt.Sprintf(
			"the %s alias was removed from the staged version %d, which does not affect consumers but leaves promote without the staged value", AliasPending, exp.fresh))
	case p != exp.fresh:
		changes = append(changes, fmt.Sprintf(
			"the %s alias names version %d instead of the staged version %d, which does not affect consumers but leaves promote without the staged value", AliasPending, p, exp.fresh))
	}

	got := [3]string{sec.annotations[annotationRotation], sec.annotations[annotationVersion], sec.annotations[annotationOld]}
	want := [3]string{exp.rotationID, strconv.FormatInt(exp.fresh, 10), strconv.FormatInt(exp.old, 10)}
	if got != want {
		changes = append(changes, fmt.Sprintf(
			"rotor's annotations no longer record rotation %s staging version %d over version %d (%s=%s, %s=%s, %s=%s), which does not affect consumers but makes promote reject the stage",
			exp.rotationID, exp.fresh, exp.old,
			annotationRotation, quoteShort(got[0]), annotationVersion, quoteShort(got[1]), annotationOld, quoteShort(got[2])))
	}

	if state := unreadable(versions[exp.old]); state != "" {
		changes = append(changes, fmt.Sprintf(
			"the old version %d %s, so consumers that read it (through versions/%s or by number) get an error", exp.old, state, AliasCurrent))
	}
	if state := unreadable(versions[exp.fresh]); state != "" {
		changes = append(changes, fmt.Sprintf(
			"the staged version %d %s, so it can no longer be promoted (cancel the rotation and stage the new secret again)", exp.fresh, state))
	}
	return changes
}

// promotedChanges compares the secret with what Promote leaves.
func (s *Store) promotedChanges(exp expectation, sec view, versions map[int64]*secretmanagerpb.SecretVersion) []string {
	var changes []string
	switch cur, ok := sec.alias(AliasCurrent); {
	case !ok:
		changes = append(changes, fmt.Sprintf(
			"the %s alias was removed from the new version %d, so consumers that read versions/%s get NOT_FOUND", AliasCurrent, exp.fresh, AliasCurrent))
	case cur == exp.old:
		changes = append(changes, fmt.Sprintf(
			"the %s alias names the old version %d again instead of the new version %d, so consumers that read versions/%s get the old value (roll back leaves the same alias, so if a roll back of this rotation was cut short, repeat it)",
			AliasCurrent, cur, exp.fresh, AliasCurrent))
	case cur != exp.fresh:
		changes = append(changes, fmt.Sprintf(
			"the %s alias names version %d instead of the new version %d, so consumers that read versions/%s get a value rotor did not promote", AliasCurrent, cur, exp.fresh, AliasCurrent))
	}

	switch prev, ok := sec.alias(AliasPrevious); {
	case !ok:
		changes = append(changes, fmt.Sprintf(
			"the %s alias was removed from the old version %d, so consumers that read versions/%s get NOT_FOUND", AliasPrevious, exp.old, AliasPrevious))
	case prev != exp.old:
		changes = append(changes, fmt.Sprintf(
			"the %s alias names version %d instead of the old version %d, so consumers that read versions/%s no longer get the old value", AliasPrevious, prev, exp.old, AliasPrevious))
	}

	if p, ok := sec.alias(AliasPending); ok {
		changes = append(changes, fmt.Sprintf(
			"the %s alias names version %d as if another tool were staging a value, which does not affect consumers but makes roll back fail with a conflict", AliasPending, p))
	}
	if owner := sec.annotations[annotationRotation]; owner != "" {
		changes = append(changes, fmt.Sprintf(
			"rotor's annotations record a stage by rotation %s (%s=%s) after promote removed them, which does not affect consumers but makes roll back fail with a conflict",
			quoteShort(owner), annotationVersion, quoteShort(sec.annotations[annotationVersion])))
	}

	if state := unreadable(versions[exp.old]); state != "" {
		changes = append(changes, fmt.Sprintf(
			"the old version %d %s while both secrets should stay readable, so consumers that still read it (through versions/%s or by number) get an error and roll back is no longer possible (rotor's retire does the same, so unless a retire of this rotation was cut short, someone did it by hand)",
			exp.old, state, AliasPrevious))
	}
	if state := unreadable(versions[exp.fresh]); state != "" {
		changes = append(changes, fmt.Sprintf(
			"the new version %d %s, so consumers that read it (through versions/%s or by number) get an error", exp.fresh, state, AliasCurrent))
	}
	return changes
}

// newerChanges reports enabled versions newer than the one that contains
// the new value, and what readers of versions/latest get because of them.
func newerChanges(exp expectation, versions map[int64]*secretmanagerpb.SecretVersion) []string {
	var added []string
	for _, n := range slices.Sorted(maps.Keys(versions)) {
		if n > exp.fresh && versions[n].GetState() == secretmanagerpb.SecretVersion_ENABLED {
			added = append(added, strconv.FormatInt(n, 10))
		}
	}
	if len(added) == 0 {
		return nil
	}

	subject := "enabled version " + added[0] + " was"
	if len(added) > 1 {
		subject = "enabled versions " + strings.Join(added, ", ") + " were"
	}
	latest := slices.Max(slices.Collect(maps.Keys(versions)))
	reads := fmt.Sprintf("readers of versions/latest now read version %d", latest)
	if state := unreadable(versions[latest]); state != "" {
		reads = fmt.Sprintf("readers of versions/latest get an error, because the newest version, %d, %s", latest, state)
	}
	// TODO: a version that was already newer than an adopted version at
	// Adopt is reported as if it had been added during the rotation. That
	// happens when another tool staged a value and then added more. The
	// secret records no time of adoption to tell the two apart.
	return []string{fmt.Sprintf("%s added outside rotor after version %d, which contains the new value, so %s", subject, exp.fresh, reads)}
}

// unreadable returns how a version differs from an enabled one, such as
// "was disabled", and "" when it is enabled.
func unreadable(meta *secretmanagerpb.SecretVersion) string {
	switch {
	case meta == nil:
		return "no longer exists"
	case meta.GetState() == secretmanagerpb.SecretVersion_ENABLED:
		return ""
	case meta.GetState() == secretmanagerpb.SecretVersion_DESTROYED:
		return "was destroyed"
	case meta.GetScheduledDestroyTime() != nil:
		return "was disabled and is scheduled for destruction at " + meta.GetScheduledDestroyTime().AsTime().UTC().Format(time.RFC3339)
	case meta.GetState() == secretmanagerpb.SecretVersion_DISABLED:
		return "was disabled"
	}
	return "is in state " + meta.GetState().String()
}

// quoteShort quotes an annotation value for a message, cut to 64 bytes,
// because anyone who may edit the secret can write a long one.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "…"
	}
	return strconv.Quote(s)
}
