package memory

import (
	"slices"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// The methods in this file act on the store as an administrator or another
// tool would, bypassing rotor's steps. Tests and `rotor dev` use them.

// Versions lists every version that has not been pruned, oldest first.
func (s *Store) Versions() []VersionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()

	numbers := make([]int, 0, len(s.versions))
	for n := range s.versions {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)

	infos := make([]VersionInfo, 0, len(numbers))
	for _, n := range numbers {
		ver := s.versions[n]
		info := VersionInfo{Version: name(n), State: ver.state}
		if ver.doc != nil {
			// A document that no longer decodes is listed without a value.
			info.Value, _ = s.format.Decode(ver.doc)
		}
		if p := s.pending; p != nil && p.version == n {
			info.Pending, info.Owner = true, p.owner
		}
		infos = append(infos, info)
	}
	return infos
}

// Document returns a copy of the stored document of version, or ErrNotFound
// when it was pruned or destroyed. Unlike Read it returns disabled versions.
func (s *Store) Document(version secretstore.Version) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	ver, ok := s.versions[parse(version)]
	if !ok || ver.doc == nil {
		return nil, secretstore.Errorf(secretstore.ErrNotFound, "document", "version %q does not exist or was destroyed", version)
	}
	return append([]byte(nil), ver.doc...), nil
}

// Write adds a version that holds value and makes it current, as a tool
// other than rotor would. With a JSON format the other keys of the current
// document are kept.
func (s *Store) Write(value secret.Value) (secretstore.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	doc, err := s.format.Encode(s.versions[s.current].doc, value)
	if err != nil {
		return "", err
	}
	s.current = s.add(doc)
	return name(s.current), nil
}

// WriteDocument adds a version that holds doc and makes it current. It
// returns an error of kind ErrInvalid when the format finds no secret in doc.
func (s *Store) WriteDocument(doc []byte) (secretstore.Version, error) {
	if _, err := s.format.Decode(doc); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	s.current = s.add(append([]byte(nil), doc...))
	return name(s.current), nil
}

// StageExternal adds a version that holds value and marks it pending with
// no rotation as its owner, as another rotation tool would. It returns
// ErrConflict when a version is pending already.
func (s *Store) StageExternal(value secret.Value) (secretstore.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.pending != nil {
		return "", s.foreignPending("stage external")
	}
	doc, err := s.format.Encode(s.versions[s.current].doc, value)
	if err != nil {
		return "", err
	}
	s.pending = &pending{version: s.add(doc), old: s.current}
	return name(s.pending.version), nil
}

// Prune removes version entirely, as a backend that keeps a limited number
// of versions does. Pruning the current version is ErrConflict, because a
// secret always has a current version.
func (s *Store) Prune(version secretstore.Version) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	n := parse(version)
	if _, ok := s.versions[n]; !ok {
		return secretstore.Errorf(secretstore.ErrNotFound, "prune", "version %q does not exist", version)
	}
	if n == s.current {
		return secretstore.Errorf(secretstore.ErrConflict, "prune", "version %d is current", n)
	}
	delete(s.versions, n)
	if s.pending != nil && s.pending.version == n {
		s.pending = nil
	}
	return nil
}
