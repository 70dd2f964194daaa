// Package memory is an in-memory secrets-manager backend for tests and for
// `rotor dev`. It models a label-based backend. Every write adds a numbered
// version, a "current" pointer selects the version consumers read, and a
// pending marker records which rotation owns the staged version.
//
// A consumer of the current value reads the old value while a rotation is
// requested or new_issued, the new value from promotion on, and the old
// value again after a rollback. Promotion moves the pointer, so the
// staged version and the new version are the same version.
//
// Nothing survives the process.
package memory

import (
	"context"
	"strconv"
	"sync"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// State is the state of one stored version.
type State string

const (
	// Enabled versions can be read.
	Enabled State = "enabled"
	// Disabled versions keep their value but cannot be read through the
	// store; RetireDisable leaves the old version in this state.
	Disabled State = "disabled"
	// Destroyed versions have lost their value for good.
	Destroyed State = "destroyed"
)

// VersionInfo describes one stored version for inspection by tests.
type VersionInfo struct {
	Version secretstore.Version
	State   State
	// Value is the secret the version holds; zero once destroyed.
	Value secret.Value
	// Pending is true for the staged version, and Owner is the rotation
	// that owns it, empty when another tool staged it.
	Pending bool
	Owner   string
}

type version struct {
	doc   []byte // nil once destroyed
	state State
}

type pending struct {
	version int
	owner   string // rotation id; empty when staged by another tool
	old     int    // the current version when the value was staged or adopted
}

// Store is one secret held in memory. It is safe for concurrent use. The
// zero Store is not usable; call New or NewDocument.
type Store struct {
	mu       sync.Mutex
	format   secretstore.Format
	versions map[int]*version // pruned versions are absent
	next     int
	current  int
	pending  *pending
}

// New returns a Store whose version "1" holds initial and is current. With a
// JSON format the document is an object with the one key.
func New(initial secret.Value, format secretstore.Format) *Store {
	doc, err := format.Encode(nil, initial)
	if err != nil {
		// Encode fails only for a value that cannot be a JSON string, and
		// every Go string can.
		panic("memory: encode initial secret: " + err.Error())
	}
	s, _ := NewDocument(doc, format)
	return s
}

// NewDocument returns a Store whose version "1" holds doc and is current. It
// returns an error of kind secretstore.ErrInvalid if format cannot find the
// secret in doc.
func NewDocument(doc []byte, format secretstore.Format) (*Store, error) {
	if _, err := format.Decode(doc); err != nil {
		return nil, err
	}
	s := &Store{format: format, versions: map[int]*version{}}
	s.current = s.add(append([]byte(nil), doc...))
	return s, nil
}

// add stores doc as a new enabled version and returns its number. The
// caller holds mu.
func (s *Store) add(doc []byte) int {
	s.next++
	s.versions[s.next] = &version{doc: doc, state: Enabled}
	return s.next
}

func name(n int) secretstore.Version { return secretstore.Version(strconv.Itoa(n)) }

// parse returns the version number of v, or 0 when v is not one this store
// issues.
func parse(v secretstore.Version) int {
	n, err := strconv.Atoi(string(v))
	if err != nil || n <= 0 || name(n) != v {
		return 0
	}
	return n
}

// readable returns the value of version n, or ErrNotFound when it was
// pruned, disabled or destroyed. The caller holds mu.
func (s *Store) readable(op string, n int) (secret.Value, error) {
	ver, ok := s.versions[n]
	if !ok {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %d does not exist or was pruned", n)
	}
	if ver.state != Enabled {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %d is %s", n, ver.state)
	}
	return s.format.Decode(ver.doc)
}

func canceled(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "request cancelled: %v", err)
	}
	return nil
}

// Stage adds value as a new version and marks it pending for rotationID. The
// new document is the current one with only the secret changed.
func (s *Store) Stage(ctx context.Context, rotationID string, value secret.Value) (secretstore.Versions, error) {
	const op = "stage"
	if err := canceled(ctx, op); err != nil {
		return secretstore.Versions{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	if p := s.pending; p != nil {
		if p.owner != rotationID {
			return secretstore.Versions{}, s.foreignPending(op)
		}
		staged, err := s.readable(op, p.version)
		if err != nil {
			return secretstore.Versions{}, err
		}
		if !staged.Equal(value) {
			return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
				"version %d is already staged for rotation %s with a different value", p.version, rotationID)
		}
		return p.versions(), nil
	}

	doc, err := s.format.Encode(s.versions[s.current].doc, value)
	if err != nil {
		return secretstore.Versions{}, err
	}
	s.pending = &pending{version: s.add(doc), owner: rotationID, old: s.current}
	return s.pending.versions(), nil
}

// foreignPending is the conflict for a pending version that belongs to
// someone else. The caller holds mu and has checked that s.pending is set.
func (s *Store) foreignPending(op string) error {
	p := s.pending
	if p.owner == "" {
		return secretstore.Errorf(secretstore.ErrConflict, op, "version %d is pending, staged by another tool", p.version)
	}
	return secretstore.Errorf(secretstore.ErrConflict, op, "version %d is pending for rotation %s", p.version, p.owner)
}

func (p *pending) versions() secretstore.Versions {
	return secretstore.Versions{Old: name(p.old), Staged: name(p.version)}
}

// Adopt makes the pending version staged by another tool the staged version
// of rotationID. It returns ErrNotFound when staged is not the pending
// version and ErrConflict when another rotation owns it.
func (s *Store) Adopt(ctx context.Context, rotationID string, staged secretstore.Version) (secretstore.Versions, error) {
	const op = "adopt"
	if err := canceled(ctx, op); err != nil {
		return secretstore.Versions{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	p := s.pending
	if p == nil || name(p.version) != staged {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %q is not pending", staged)
	}
	if p.owner != "" && p.owner != rotationID {
		return secretstore.Versions{}, s.foreignPending(op)
	}
	if _, err := s.readable(op, p.version); err != nil {
		return secretstore.Versions{}, err
	}
	if p.owner == "" {
		p.owner = rotationID
		p.old = s.current
	}
	return p.versions(), nil
}

// Staged returns the versions staged for rotationID.
func (s *Store) Staged(ctx context.Context, rotationID string) (secretstore.Versions, error) {
	const op = "staged"
	if err := canceled(ctx, op); err != nil {
		return secretstore.Versions{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.pending == nil || s.pending.owner != rotationID {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "nothing is staged for rotation %s", rotationID)
	}
	return s.pending.versions(), nil
}

// Promote makes the staged version current. It returns ErrConflict when the
// current version is no longer v.Old, because the staged document was built
// from v.Old and would undo the other change.
func (s *Store) Promote(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "promote"
	if err := canceled(ctx, op); err != nil {
		return secretstore.Versions{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	staged := parse(v.Staged)
	if staged != 0 && s.current == staged {
		v.New = v.Staged
		return v, nil
	}
	p := s.pending
	if p == nil || p.owner != rotationID || p.version != staged {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %q is not staged for rotation %s", v.Staged, rotationID)
	}
	if _, err := s.readable(op, staged); err != nil {
		return secretstore.Versions{}, err
	}
	if name(s.current) != v.Old {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"the current version is %d, not version %s as when the value was staged", s.current, v.Old)
	}
	s.current = staged
	s.pending = nil
	v.New = v.Staged
	return v, nil
}

// Rollback makes v.Old current again and marks v.New pending for
// rotationID. It returns ErrNotFound when v.Old was pruned, disabled or
// destroyed, and ErrConflict when neither v.Old nor v.New is current.
func (s *Store) Rollback(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	const op = "rollback"
	if err := canceled(ctx, op); err != nil {
		return secretstore.Versions{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	old, promoted := parse(v.Old), parse(v.New)
	if old == 0 || promoted == 0 {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrNotFound, op, "rotation %s has no promoted version to roll back", rotationID)
	}
	back := secretstore.Versions{Old: v.Old, Staged: v.New}

	if s.current == old && s.pending != nil && s.pending.owner == rotationID && s.pending.version == promoted {
		return back, nil
	}
	if _, err := s.readable(op, old); err != nil {
		return secretstore.Versions{}, err
	}
	if s.current != promoted {
		return secretstore.Versions{}, secretstore.Errorf(secretstore.ErrConflict, op,
			"the current version is %d, not the promoted version %d", s.current, promoted)
	}
	if s.pending != nil {
		return secretstore.Versions{}, s.foreignPending(op)
	}
	s.current = old
	s.pending = &pending{version: promoted, owner: rotationID, old: old}
	return back, nil
}

// Retire disables or destroys v.Old and every other version that holds the
// same value. It returns ErrNotFound when v.Old was pruned, and ErrConflict
// when the old value is still current. A repeat is not an error.
func (s *Store) Retire(ctx context.Context, rotationID string, v secretstore.Versions, mode secretstore.RetireMode) error {
	const op = "retire"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	if !mode.Valid() {
		return secretstore.Errorf(secretstore.ErrInvalid, op, "unknown retire mode %q", mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	old := parse(v.Old)
	oldVersion, ok := s.versions[old]
	if !ok {
		return secretstore.Errorf(secretstore.ErrNotFound, op, "old version %s of rotation %s does not exist or was pruned; nothing was retired", v.Old, rotationID)
	}
	if old == s.current {
		return secretstore.Errorf(secretstore.ErrConflict, op, "old version %d is still current", old)
	}
	if oldVersion.state == Destroyed {
		return nil
	}
	oldValue, err := s.format.Decode(oldVersion.doc)
	if err != nil {
		return err
	}
	currentValue, err := s.format.Decode(s.versions[s.current].doc)
	if err != nil {
		return err
	}
	if currentValue.Equal(oldValue) {
		return secretstore.Errorf(secretstore.ErrConflict, op, "current version %d contains the old value", s.current)
	}

	for n, ver := range s.versions {
		if ver.state == Destroyed || (s.pending != nil && s.pending.version == n) {
			continue
		}
		value, err := s.format.Decode(ver.doc)
		if err != nil || !value.Equal(oldValue) {
			continue
		}
		if mode == secretstore.RetireDestroy {
			ver.doc, ver.state = nil, Destroyed
		} else if ver.state == Enabled {
			ver.state = Disabled
		}
	}
	return nil
}

// Discard destroys the version staged for rotationID. Nothing staged for it
// is not an error; a version pending for someone else is left alone.
func (s *Store) Discard(ctx context.Context, rotationID string, v secretstore.Versions) error {
	const op = "discard"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	p := s.pending
	if p == nil || p.owner != rotationID {
		return nil
	}
	if ver, ok := s.versions[p.version]; ok {
		ver.doc, ver.state = nil, Destroyed
	}
	s.pending = nil
	return nil
}

// Read returns the secret held in version. Disabled, destroyed and pruned
// versions are ErrNotFound.
func (s *Store) Read(ctx context.Context, version secretstore.Version) (secret.Value, error) {
	const op = "read"
	if err := canceled(ctx, op); err != nil {
		return secret.Value{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	n := parse(version)
	if n == 0 {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrNotFound, op, "version %q does not exist", version)
	}
	return s.readable(op, n)
}

// Current returns the secret consumers read now and its version.
func (s *Store) Current(ctx context.Context) (secret.Value, secretstore.Version, error) {
	const op = "current"
	if err := canceled(ctx, op); err != nil {
		return secret.Value{}, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	value, err := s.readable(op, s.current)
	if err != nil {
		return secret.Value{}, "", err
	}
	return value, name(s.current), nil
}
