package gcp

import (
	"context"
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

// Preflight checks that the secret can be rotated safely:
//
//   - the secret exists and rotor may read it (ErrNotFound, ErrAccess);
//   - it has no expiration, because Secret Manager deletes an expired
//     secret with every version, the new one included (ErrInvalid);
//   - the current alias exists and names an enabled version whose payload
//     holds the secret in the configured format (ErrInvalid, ErrConflict).
//
// rotor never creates the current alias from "latest" itself, because
// consumers must move to the alias at the same time. The operator makes
// both changes, and the error gives the gcloud command for the alias. Preflight logs, without failing, a version_destroy_ttl
// (RetireDestroy then leaves the old value disabled until the TTL runs
// out), a rotation schedule of Secret Manager's own, and a "latest" that
// differs from current, which readers of latest get instead.
func (s *Store) Preflight(ctx context.Context) error {
	const op = "preflight"
	v, err := s.getSecret(ctx, op)
	if err != nil {
		return err
	}
	if t := v.raw.GetExpireTime(); t != nil {
		return secretstore.Errorf(secretstore.ErrInvalid, op,
			"secret %s expires at %s, when Secret Manager deletes it with every version; remove the expiration (gcloud secrets update %s --project %s --remove-expiration)",
			s.name, t.AsTime().UTC().Format(time.RFC3339), s.id, s.project)
	}
	cur, err := s.current(op, v)
	if err != nil {
		return err
	}

	if ttl := v.raw.GetVersionDestroyTtl(); ttl != nil && ttl.AsDuration() > 0 {
		s.log.WarnContext(ctx, "destroying a version is delayed on this secret; a destroyed old version stays disabled until the delay ends",
			"op", op, "version_destroy_ttl", ttl.AsDuration().String())
	}
	if r := v.raw.GetRotation(); r != nil && (r.GetNextRotationTime() != nil || r.GetRotationPeriod() != nil) {
		s.log.WarnContext(ctx, "the secret has a Secret Manager rotation schedule; make sure whatever acts on its notifications does not add versions during a rotor rotation", "op", op)
	}
	if latest, err := s.getVersion(ctx, op, "latest"); err == nil {
		if n, ok := numberOf(latest.GetName()); ok && n != cur {
			s.log.InfoContext(ctx, "latest differs from the current alias; consumers that read latest get another version", "op", op, "latest", n, "current", cur)
		}
	}

	_, _, err = s.Current(ctx)
	return err
}
