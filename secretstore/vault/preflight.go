package vault

import (
	"context"
	"errors"
	"strings"

	"github.com/rotorhq/rotor/secretstore"
)

// minMaxVersions is the lowest effective max_versions Preflight accepts: a
// rotation needs the old version, the new version and, after a rollback,
// the copy of the old value to survive Vault's pruning.
const minMaxVersions = 3

// vaultDefaultMaxVersions is the number of versions KV v2 keeps when
// neither the secret nor the mount sets max_versions.
const vaultDefaultMaxVersions = 10

// Preflight checks that the secret can be rotated safely. The mount must be
// a KV version 2 engine, because KV version 1 ignores check-and-set and
// keeps no versions. The effective max_versions must be at least 3, and the
// latest version must contain the secret as a string under the configured
// key. Vault's effective max_versions is the larger of the secret's and the
// mount's setting, and 10 when both are 0.
//
// Errors are ErrInvalid for a mount or secret rotor cannot rotate,
// ErrNotFound for a missing secret, and ErrAccess or ErrUnavailable as for
// the steps.
func (s *Store) Preflight(ctx context.Context) error {
	const op = "preflight"
	if err := s.checkMount(ctx, op); err != nil {
		return err
	}

	meta, err := s.readMeta(ctx, op, s.path)
	if err != nil {
		return err
	}
	if !meta.found || meta.current == 0 {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "secret %s does not exist; write it before rotating", s.where(s.path, 0))
	}

	mountMax, err := s.mountMaxVersions(ctx, op)
	switch {
	case errors.Is(err, secretstore.ErrAccess) && meta.maxVersions >= minMaxVersions:
		// Vault keeps at least the secret's own setting, whatever the
		// mount sets.
	case err != nil:
		return err
	default:
		effective := max(meta.maxVersions, mountMax)
		if effective == 0 {
			effective = vaultDefaultMaxVersions
		}
		if effective < minMaxVersions {
			return secretstore.Errorf(secretstore.ErrInvalid, op,
				"Vault keeps only %d versions of %s (max_versions %d on the secret, %d on the mount, where 0 means the default of 10); rotor needs at least %d so that the old value survives the rotation; raise max_versions on the secret's metadata",
				effective, s.where(s.path, 0), meta.maxVersions, mountMax, minMaxVersions)
		}
	}

	_, _, err = s.Current(ctx)
	return err
}

// checkMount rejects a mount that is not KV version 2. It looks up the
// secret's full path, as the Vault CLI does, because Vault permits that
// lookup to a token with any capability on the path.
func (s *Store) checkMount(ctx context.Context, op string) error {
	sec, err := s.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+s.mount+"/"+s.path)
	if err != nil {
		return vaultError(op, "look up mount "+s.mount, err)
	}
	if sec == nil || sec.Data == nil {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "Vault has no mount at %q", s.mount)
	}
	mountPath, _ := sec.Data["path"].(string)
	if strings.Trim(mountPath, "/") != s.mount {
		return secretstore.Errorf(secretstore.ErrInvalid, op,
			"%q is not a mount path; Vault resolves it to the mount %q, so set mount to that and path to the rest", s.mount, strings.Trim(mountPath, "/"))
	}
	if engine, _ := sec.Data["type"].(string); engine != "kv" {
		return secretstore.Errorf(secretstore.ErrInvalid, op, "mount %q is a %q secrets engine, not KV", s.mount, engine)
	}
	options, _ := sec.Data["options"].(map[string]any)
	if version, _ := options["version"].(string); version != "2" {
		return secretstore.Errorf(secretstore.ErrInvalid, op,
			"mount %q is KV version 1, which ignores check-and-set and keeps no versions; rotor needs KV version 2 (vault kv enable-versioning %s)", s.mount, s.mount)
	}
	return nil
}

// mountMaxVersions reads max_versions from the mount's configuration; 0
// means unset.
func (s *Store) mountMaxVersions(ctx context.Context, op string) (int, error) {
	sec, err := s.client.Logical().ReadWithContext(ctx, s.mount+"/config")
	if err != nil {
		return 0, vaultError(op, "read the configuration of mount "+s.mount, err)
	}
	if sec == nil {
		return 0, nil
	}
	n, _ := intField(sec.Data, "max_versions")
	return n, nil
}
