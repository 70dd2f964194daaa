package aws

import (
	"context"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// Read returns the secret held in a labelled version. A version without
// labels (retired, discarded or otherwise deprecated) is ErrNotFound, as is
// one that does not exist.
func (s *Store) Read(ctx context.Context, version secretstore.Version) (secret.Value, error) {
	const op = "read"
	id := string(version)
	if !validID(id) {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "%q is not a version id of %s", id, s.where(""))
	}
	v, err := s.getVersion(ctx, op, id)
	if err != nil {
		return secret.Value{}, err
	}
	if len(v.stages) == 0 {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s carries no label: it was retired or discarded, and rotor reads only labelled versions", s.where(id))
	}
	return s.decode(op, v)
}

// Current returns the secret in the AWSCURRENT version and that version.
func (s *Store) Current(ctx context.Context) (secret.Value, secretstore.Version, error) {
	return s.current(ctx, "current")
}

func (s *Store) current(ctx context.Context, op string) (secret.Value, secretstore.Version, error) {
	v, err := s.getVersion(ctx, op, "")
	if err != nil {
		return secret.Value{}, "", err
	}
	value, err := s.decode(op, v)
	if err != nil {
		return secret.Value{}, "", err
	}
	return value, secretstore.Version(v.id), nil
}
