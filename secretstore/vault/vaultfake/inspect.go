package vaultfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// The methods in this file read and change the stored state directly, as an
// administrator or another tool would, without a token or faults.

// Secret is a copy of one KV v2 secret's metadata and versions.
type Secret struct {
	CurrentVersion int
	OldestVersion  int
	MaxVersions    int // the key's own setting; 0 means the mount's
	CASRequired    bool
	CustomMetadata map[string]string
	Versions       map[int]Version // pruned versions are absent
}

// Version is one stored version of a KV v2 secret.
type Version struct {
	// Data is the stored JSON object; nil once destroyed. It holds the
	// secret in clear, so tests must not print it.
	Data      json.RawMessage
	Created   time.Time
	Deleted   time.Time // zero unless soft-deleted
	Destroyed bool
}

// Secret returns a copy of the secret at path in a KV v2 mount, and false
// when it does not exist.
func (s *Server) Secret(mountPath, path string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	m := s.mounts[mountPath]
	if m == nil || m.keys[path] == nil {
		return Secret{}, false
	}
	k := m.keys[path]
	out := Secret{
		CurrentVersion: k.current,
		OldestVersion:  k.oldest,
		MaxVersions:    k.maxVersions,
		CASRequired:    k.casRequired,
		CustomMetadata: maps.Clone(k.custom),
		Versions:       map[int]Version{},
	}
	for n, v := range k.versions {
		out.Versions[n] = Version{
			Data:      append(json.RawMessage(nil), v.data...),
			Created:   v.created,
			Deleted:   v.deleted,
			Destroyed: v.destroyed,
		}
	}
	return out, true
}

// Put writes data as a new version of the secret at path, without
// check-and-set, and returns the version number. On a KV v1 mount it
// replaces the stored object and returns 0.
func (s *Server) Put(mountPath, path string, data map[string]any) (int, error) {
	doc, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("encode data for %s/%s: %w", mountPath, path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	m := s.mounts[mountPath]
	if m == nil {
		return 0, fmt.Errorf("no mount %q", mountPath)
	}
	if m.version == 1 {
		m.v1[path] = doc
		return 0, nil
	}
	k := m.keys[path]
	if k == nil {
		k = &key{versions: map[int]*version{}}
		m.keys[path] = k
	}
	n, _ := s.addVersion(m, k, doc)
	return n, nil
}

// SetKeyMetadata sets max_versions and cas_required of the secret at path
// in a KV v2 mount, creating its metadata if needed. Like Vault it prunes
// nothing until the next write.
func (s *Server) SetKeyMetadata(mountPath, path string, maxVersions int, casRequired bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	m := s.mounts[mountPath]
	if m == nil || m.version != 2 {
		return fmt.Errorf("no KV v2 mount %q", mountPath)
	}
	k := m.keys[path]
	if k == nil {
		now := s.now()
		k = &key{versions: map[int]*version{}, created: now, upd: now}
		m.keys[path] = k
	}
	k.maxVersions, k.casRequired = maxVersions, casRequired
	return nil
}

// Prune removes one version of the secret at path from the metadata and
// storage, as max_versions pruning does, without a write.
func (s *Server) Prune(mountPath, path string, version int) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	m := s.mounts[mountPath]
	if m == nil || m.keys[path] == nil || m.keys[path].versions[version] == nil {
		return fmt.Errorf("no version %d of %s/%s", version, mountPath, path)
	}
	k := m.keys[path]
	if version == k.current {
		return fmt.Errorf("version %d of %s/%s is the current version; Vault never prunes it", version, mountPath, path)
	}
	delete(k.versions, version)
	if version == k.oldest {
		k.oldest++
	}
	return nil
}
