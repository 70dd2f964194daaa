package awsfake

import (
	"fmt"
	"slices"
	"time"
)

// The methods in this file read and change the stored state directly, as an
// administrator or another tool would, without credentials or faults. They
// return an error for a secret or version that does not exist, and for a
// change AWS would reject.

// Version is one stored version of a secret.
type Version struct {
	ID string
	// Stages are the staging labels on the version, sorted; empty for a
	// deprecated version.
	Stages []string
	// SecretString is the stored value in clear, so tests must not print it.
	SecretString string
	Created      time.Time
}

// Deprecated reports whether the version has no staging label.
func (v Version) Deprecated() bool { return len(v.Stages) == 0 }

// Seed creates a secret whose first version holds secretString and carries
// AWSCURRENT, and returns that version's id.
func (s *Server) Seed(name, secretString string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.secrets[name]; ok {
		return "", fmt.Errorf("awsfake: secret %q exists", name)
	}
	sec := newSecret(name, s.now())
	s.secrets[name] = sec
	id := newVersionID()
	s.addVersion(sec, id, secretString, nil)
	return id, nil
}

// Put adds a version that holds secretString and carries labels, as
// PutSecretValue does: with no labels it becomes AWSCURRENT and the old
// current version AWSPREVIOUS. It returns the new version's id.
func (s *Server) Put(name, secretString string, labels ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return "", fmt.Errorf("awsfake: no secret %q", name)
	}
	id := newVersionID()
	s.addVersion(sec, id, secretString, labels)
	return id, nil
}

// PutPending adds a version that holds secretString and carries AWSPENDING,
// as the first step of Secrets Manager's own rotation does, and returns its
// id.
func (s *Server) PutPending(name, secretString string) (string, error) {
	return s.Put(name, secretString, LabelPending)
}

// Label moves label onto version id, taking it off any other version.
// Moving AWSCURRENT puts AWSPREVIOUS on the version it left. Use it to
// leave a foreign AWSPENDING on a stale version.
func (s *Server) Label(name, id, label string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return fmt.Errorf("awsfake: no secret %q", name)
	}
	if _, ok := sec.versions[id]; !ok {
		return fmt.Errorf("awsfake: secret %q has no version %s", name, id)
	}
	sec.attach(label, id)
	return nil
}

// Unlabel removes label from whichever version carries it. AWSCURRENT
// cannot be removed.
func (s *Server) Unlabel(name, label string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return fmt.Errorf("awsfake: no secret %q", name)
	}
	if label == LabelCurrent {
		return fmt.Errorf("awsfake: AWSCURRENT can only be moved")
	}
	delete(sec.labels, label)
	return nil
}

// Delete removes version id and its labels, as AWS does when it prunes a
// deprecated version. The AWSCURRENT version cannot be deleted.
func (s *Server) Delete(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return fmt.Errorf("awsfake: no secret %q", name)
	}
	if _, ok := sec.versions[id]; !ok {
		return fmt.Errorf("awsfake: secret %q has no version %s", name, id)
	}
	if sec.labels[LabelCurrent] == id {
		return fmt.Errorf("awsfake: version %s of %q carries AWSCURRENT", id, name)
	}
	sec.remove(id)
	return nil
}

// SetRotationEnabled turns Secrets Manager's own rotation on or off, as
// DescribeSecret reports it, with lambdaARN as its rotation function.
func (s *Server) SetRotationEnabled(name string, enabled bool, lambdaARN string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return fmt.Errorf("awsfake: no secret %q", name)
	}
	sec.rotationEnabled, sec.rotationLambda = enabled, lambdaARN
	if !enabled {
		sec.rotationLambda = ""
	}
	return nil
}

// ScheduleDeletion marks a secret for deletion at deleteAt, as DeleteSecret
// with a recovery window does: DescribeSecret reports DeletedDate, and
// GetSecretValue, PutSecretValue and UpdateSecretVersionStage fail with
// InvalidRequestException. The fake never deletes the secret. A zero
// deleteAt restores it, as RestoreSecret does.
func (s *Server) ScheduleDeletion(name string, deleteAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return fmt.Errorf("awsfake: no secret %q", name)
	}
	sec.deleted = deleteAt.UTC()
	return nil
}

// Versions returns every version of a secret, deprecated ones included,
// oldest first.
func (s *Server) Versions(name string) ([]Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return nil, fmt.Errorf("awsfake: no secret %q", name)
	}
	out := make([]Version, 0, len(sec.order))
	for _, id := range sec.order {
		v := sec.versions[id]
		out = append(out, Version{ID: id, Stages: sec.stages(id), SecretString: v.value, Created: v.created})
	}
	return out, nil
}

// Holder returns the id of the version that carries label, and false when
// no version does.
func (s *Server) Holder(name, label string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return "", false
	}
	id, ok := sec.labels[label]
	return id, ok
}

// ARN returns the ARN of a secret, and false when it does not exist.
func (s *Server) ARN(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return "", false
	}
	return sec.arn, true
}

// Labels returns the labels of every labelled version, as DescribeSecret's
// VersionIdsToStages does.
func (s *Server) Labels(name string) (map[string][]string, error) {
	versions, err := s.Versions(name)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, v := range versions {
		if !v.Deprecated() {
			out[v.ID] = slices.Clone(v.Stages)
		}
	}
	return out, nil
}
