package aws

import (
	"context"
	"errors"

	"github.com/rotorhq/rotor/secretstore"
)

// Preflight checks that the secret can be rotated safely: it exists, rotor
// can read its labels and its AWSCURRENT value, and the value holds the
// secret in the configured format. It also looks for a second rotation
// owner: Secrets Manager's own rotation turned on for the secret
// (RotationEnabled) is ErrInvalid naming its rotation function, and
// AWSPENDING on a version other than the current one, left by an
// unfinished rotation, is ErrConflict naming the version. All problems
// found are returned together (errors.Join), so errors.Is works for each.
//
// Other errors are ErrNotFound for a missing secret, and ErrAccess or
// ErrUnavailable as for the steps.
func (s *Store) Preflight(ctx context.Context) error {
	const op = "preflight"
	labels, err := s.describe(ctx, op)
	if errors.Is(err, secretstore.ErrNotFound) {
		return secretstore.Errorf(secretstore.ErrNotFound, op,
			"%s does not exist, or rotor's AWS identity cannot see it; create it or fix the secret name or ARN", s.where(""))
	}
	if err != nil {
		return err
	}

	var problems []error
	if labels.rotationEnabled {
		function := labels.rotationLambda
		if function == "" {
			function = "a rotation function or managed rotation"
		}
		problems = append(problems, secretstore.Errorf(secretstore.ErrInvalid, op,
			"%s has Secrets Manager rotation turned on (%s), a second rotation owner that would replace AWSCURRENT behind rotor; turn it off with aws secretsmanager cancel-rotate-secret --secret-id %s, or leave this secret to that rotation",
			s.where(""), function, s.id))
	}
	current := labels.current()
	for _, id := range labels.versions() {
		if id != current && labels.has(id, LabelPending) {
			problems = append(problems, secretstore.Errorf(secretstore.ErrConflict, op,
				"%s carries AWSPENDING, left by an unfinished rotation; finish or cancel that rotation, remove the label (aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s), or adopt the version with staged_version %s",
				s.where(id), s.id, id, id))
		}
	}
	if current == "" {
		problems = append(problems, secretstore.Errorf(secretstore.ErrInvalid, op, "%s has no AWSCURRENT version; store a value before rotating", s.where("")))
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}

	_, _, err = s.current(ctx, op)
	return err
}
