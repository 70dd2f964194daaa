package rotation

import (
	"context"
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

// fingerprintTimeout bounds the secrets-manager reads behind the
// fingerprints of one page, so that a slow backend delays it only a little.
const fingerprintTimeout = 2 * time.Second

// Fingerprints are keyed hashes of the secrets a credential's versions
// hold: enough to tell two values apart, or to check with
// `rotor fingerprint` which secret a consumer has, and never enough to
// recover one. A field is "" when the version is not known or could not be
// read, as after its destruction at retirement.
type Fingerprints struct {
	Current string // the version consumers read now
	Old     string
	Staged  string
	New     string

	// Unavailable is the reason, without any secret, when the secrets
	// manager could not be read at all.
	Unavailable string
}

// FingerprintsOf reads the versions of r, or only the current version when
// r is nil, from the credential's secrets manager and returns their
// fingerprints. Without a fingerprint key it returns nothing. It reads only
// while rotor may still hold the values: a closed rotation's old version
// is retired, so only Current is given for one.
func (s *Service) FingerprintsOf(ctx context.Context, c Credential, r *Rotation) Fingerprints {
	store, ok := s.secrets[c.ID]
	if len(s.fingerprintKey) == 0 || !ok {
		return Fingerprints{}
	}
	ctx, cancel := context.WithTimeout(ctx, fingerprintTimeout)
	defer cancel()

	var out Fingerprints
	current, _, err := store.Current(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "read the current secret for its fingerprint", "credential_id", c.ID, "error", err)
		out.Unavailable = "the secrets manager could not be read: " + safeBackendMessage(err)
		return out
	}
	out.Current = current.Fingerprint(s.fingerprintKey)
	if r == nil || !r.Open() {
		return out
	}
	read := func(v secretstore.Version) string {
		if v == "" {
			return ""
		}
		value, err := store.Read(ctx, v)
		if err != nil {
			return ""
		}
		return value.Fingerprint(s.fingerprintKey)
	}
	out.Old, out.Staged, out.New = read(r.Versions.Old), read(r.Versions.Staged), read(r.Versions.New)
	return out
}
