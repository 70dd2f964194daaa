package gcpfake

import (
	"fmt"
	"maps"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

// The methods in this file read and change the stored state directly, as
// an administrator or another tool would, without faults. Changes get new
// etags, as the same change through the API would. Names are full secret
// names, projects/P/secrets/S.

// Meta holds the settings of a secret that Create makes.
type Meta struct {
	Labels      map[string]string
	Annotations map[string]string

	// ExpireTime, when set, deletes the secret and all its versions at
	// that time on the server's clock.
	ExpireTime time.Time

	// VersionDestroyTTL, when set, delays destruction: a destroyed version
	// stays disabled this long first.
	VersionDestroyTTL time.Duration

	// Rotation is Secret Manager's own rotation schedule, which publishes
	// reminders to Pub/Sub topics.
	Rotation *secretmanagerpb.Rotation
}

// Secret is a copy of one stored secret.
type Secret struct {
	Name              string
	Labels            map[string]string
	Annotations       map[string]string
	Aliases           map[string]int64
	Etag              string
	ExpireTime        time.Time // zero when the secret does not expire
	VersionDestroyTTL time.Duration
	Latest            int64 // the version "latest" resolves to; 0 for none
	Versions          map[int64]Version
}

// Version is a copy of one stored version.
type Version struct {
	Number int64
	State  secretmanagerpb.SecretVersion_State
	// Data is the stored payload, nil once destroyed. It holds the secret
	// in clear, so tests must not print it.
	Data   []byte
	CRC32C int64
	// ClientChecksum is true when AddSecretVersion carried data_crc32c.
	ClientChecksum       bool
	ScheduledDestroyTime time.Time
}

// Create creates the secret name with automatic replication.
func (s *Server) Create(name string, meta Meta) error {
	if _, _, ok := splitSecretName(name); !ok {
		return fmt.Errorf("invalid secret name %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.lookup(name); err == nil {
		return fmt.Errorf("secret %s exists", name)
	}
	labels := maps.Clone(meta.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	s.secrets[name] = &secretState{
		name:        name,
		created:     s.now(),
		labels:      labels,
		annotations: maps.Clone(meta.Annotations),
		aliases:     map[string]int64{},
		etag:        s.newEtag(),
		expireTime:  meta.ExpireTime,
		destroyTTL:  meta.VersionDestroyTTL,
		rotation:    meta.Rotation,
		replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}},
		versions:    map[int64]*versionState{},
	}
	return nil
}

// update runs change on the secret name under the lock and gives the
// secret a new etag.
func (s *Server) update(name string, change func(sec *secretState) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(name)
	if err != nil {
		return err
	}
	if err := change(sec); err != nil {
		return err
	}
	sec.etag = s.newEtag()
	return nil
}

// AddVersion adds data as a new enabled version of the secret name and
// returns its number. It moves no alias.
func (s *Server) AddVersion(name string, data []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(name)
	if err != nil {
		return 0, err
	}
	s.addVersion(sec, data, false)
	return sec.next, nil
}

// SetAlias points alias at version of the secret name; version 0 removes
// the alias.
func (s *Server) SetAlias(name, alias string, version int64) error {
	return s.update(name, func(sec *secretState) error {
		if version == 0 {
			delete(sec.aliases, alias)
			return nil
		}
		aliases := maps.Clone(sec.aliases)
		aliases[alias] = version
		if err := sec.checkAliases(aliases); err != nil {
			return err
		}
		sec.aliases = aliases
		return nil
	})
}

// SetLabel sets one label of the secret name.
func (s *Server) SetLabel(name, key, value string) error {
	return s.update(name, func(sec *secretState) error {
		labels := maps.Clone(sec.labels)
		labels[key] = value
		if err := checkLabels(labels); err != nil {
			return err
		}
		sec.labels = labels
		return nil
	})
}

// SetAnnotation sets one annotation of the secret name; an empty value
// removes it.
func (s *Server) SetAnnotation(name, key, value string) error {
	return s.update(name, func(sec *secretState) error {
		annotations := maps.Clone(sec.annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		if value == "" {
			delete(annotations, key)
		} else {
			annotations[key] = value
		}
		if err := checkAnnotations(annotations); err != nil {
			return err
		}
		sec.annotations = annotations
		return nil
	})
}

// SetVersionState sets the state of one version directly. DESTROYED drops
// the data.
func (s *Server) SetVersionState(name string, version int64, state secretmanagerpb.SecretVersion_State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(name)
	if err != nil {
		return err
	}
	v := sec.versions[version]
	if v == nil {
		return fmt.Errorf("no version %d of %s", version, name)
	}
	v.state, v.scheduledDestroyTime = state, time.Time{}
	if state == secretmanagerpb.SecretVersion_DESTROYED {
		v.data, v.destroyed = nil, s.now()
	}
	v.etag = s.newEtag()
	return nil
}

// RemoveVersion makes one version vanish, as if it had never existed, so
// every call that names it gets NOT_FOUND. Secret Manager never does this
// on its own. It models a version rotor recorded that is gone, for example
// because the secret was deleted and created again.
func (s *Server) RemoveVersion(name string, version int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(name)
	if err != nil {
		return err
	}
	if sec.versions[version] == nil {
		return fmt.Errorf("no version %d of %s", version, name)
	}
	delete(sec.versions, version)
	for alias, n := range sec.aliases {
		if n == version {
			delete(sec.aliases, alias)
		}
	}
	sec.etag = s.newEtag()
	return nil
}

// Secret returns a copy of the secret name, and false when it does not
// exist or has expired.
func (s *Server) Secret(name string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(name)
	if err != nil {
		return Secret{}, false
	}
	out := Secret{
		Name:              sec.name,
		Labels:            maps.Clone(sec.labels),
		Annotations:       maps.Clone(sec.annotations),
		Aliases:           maps.Clone(sec.aliases),
		Etag:              sec.etag,
		ExpireTime:        sec.expireTime,
		VersionDestroyTTL: sec.destroyTTL,
		Versions:          map[int64]Version{},
	}
	if n, err := sec.resolve("latest"); err == nil {
		out.Latest = n
	}
	for n, v := range sec.versions {
		out.Versions[n] = Version{
			Number:               n,
			State:                v.state,
			Data:                 append([]byte(nil), v.data...),
			CRC32C:               v.crc32c,
			ClientChecksum:       v.clientChecksum,
			ScheduledDestroyTime: v.scheduledDestroyTime,
		}
	}
	return out, true
}

// CorruptVersion flips one bit of the stored data of a version without
// changing its checksum, so AccessSecretVersion returns data that does not
// match data_crc32c, as after corruption on the way.
func (s *Server) CorruptVersion(name string, version int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(name)
	if err != nil {
		return err
	}
	v := sec.versions[version]
	if v == nil || len(v.data) == 0 {
		return fmt.Errorf("no data in version %d of %s", version, name)
	}
	v.data[0] ^= 1
	return nil
}
