package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// The op label of rotor_backend_calls_total: one per method of
// rotation.SecretStore, plus the optional Verify and Preflight.
const (
	opStage     = "stage"
	opAdopt     = "adopt"
	opStaged    = "staged"
	opPromote   = "promote"
	opRollback  = "rollback"
	opRetire    = "retire"
	opDiscard   = "discard"
	opRead      = "read"
	opCurrent   = "current"
	opVerify    = "verify"
	opPreflight = "preflight"
)

// resultOK is the result label of a call that returned no error.
const resultOK = "ok"

// errorKinds maps each portable error kind to its result label. The first
// kind that matches wins, so an error that wraps two kinds is counted once.
var errorKinds = []struct {
	kind  error
	label string
}{
	{secretstore.ErrConflict, "conflict"},
	{secretstore.ErrNotFound, "not_found"},
	{secretstore.ErrAccess, "access"},
	{secretstore.ErrUnavailable, "unavailable"},
	{secretstore.ErrInvalid, "invalid"},
	{secretstore.ErrDrift, "drift"},
}

// ResultLabel returns the result label for a secrets-manager call's error:
// "ok" for nil, the error's secretstore kind ("conflict", "not_found",
// "access", "unavailable", "invalid", "drift"), or "other" for an error of
// no kind. It never returns the error's text.
func ResultLabel(err error) string {
	if err == nil {
		return resultOK
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.kind) {
			return k.label
		}
	}
	return "other"
}

// preflighter is implemented by secret stores that can check, before a
// rotation starts, that the secret can be rotated safely.
type preflighter interface {
	Preflight(ctx context.Context) error
}

// InstrumentSecretStore returns s with each call counted and timed under
// the given backend name, the configured name such as "vault-prod". The
// result implements rotation.DriftChecker, and Preflight(ctx) error, only
// when s does, so callers that test for them with a type assertion see
// the same store as before. Values, versions and errors pass through
// unchanged.
func (m *Metrics) InstrumentSecretStore(backend string, s rotation.SecretStore) rotation.SecretStore {
	base := &instrumentedStore{inner: s, backend: backend, m: m}
	_, drift := s.(rotation.DriftChecker)
	_, preflight := s.(preflighter)
	switch {
	case drift && preflight:
		return &instrumentedDriftPreflightStore{base}
	case drift:
		return &instrumentedDriftStore{base}
	case preflight:
		return &instrumentedPreflightStore{base}
	}
	return base
}

// instrumentedStore counts and times the calls of rotation.SecretStore.
type instrumentedStore struct {
	inner   rotation.SecretStore
	backend string
	m       *Metrics
}

// observe records one call that started at start and returned err.
func (s *instrumentedStore) observe(op string, start time.Time, err error) {
	result := ResultLabel(err)
	s.m.backendDuration.WithLabelValues(s.backend, op).Observe(time.Since(start).Seconds())
	s.m.backendCalls.WithLabelValues(s.backend, op, result).Inc()
	s.m.statuses.record(BackendStatus{Backend: s.backend, At: time.Now(), Op: op, Result: result})
}

func (s *instrumentedStore) Stage(ctx context.Context, rotationID string, value secret.Value) (secretstore.Versions, error) {
	start := time.Now()
	v, err := s.inner.Stage(ctx, rotationID, value)
	s.observe(opStage, start, err)
	return v, err
}

func (s *instrumentedStore) Adopt(ctx context.Context, rotationID string, staged secretstore.Version) (secretstore.Versions, error) {
	start := time.Now()
	v, err := s.inner.Adopt(ctx, rotationID, staged)
	s.observe(opAdopt, start, err)
	return v, err
}

// Staged counts ErrNotFound as "not_found" like any other call, although
// for Staged it is the ordinary result when nothing is staged.
func (s *instrumentedStore) Staged(ctx context.Context, rotationID string) (secretstore.Versions, error) {
	start := time.Now()
	v, err := s.inner.Staged(ctx, rotationID)
	s.observe(opStaged, start, err)
	return v, err
}

func (s *instrumentedStore) Promote(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	start := time.Now()
	out, err := s.inner.Promote(ctx, rotationID, v)
	s.observe(opPromote, start, err)
	return out, err
}

func (s *instrumentedStore) Rollback(ctx context.Context, rotationID string, v secretstore.Versions) (secretstore.Versions, error) {
	start := time.Now()
	out, err := s.inner.Rollback(ctx, rotationID, v)
	s.observe(opRollback, start, err)
	return out, err
}

func (s *instrumentedStore) Retire(ctx context.Context, rotationID string, v secretstore.Versions, mode secretstore.RetireMode) error {
	start := time.Now()
	err := s.inner.Retire(ctx, rotationID, v, mode)
	s.observe(opRetire, start, err)
	return err
}

func (s *instrumentedStore) Discard(ctx context.Context, rotationID string, v secretstore.Versions) error {
	start := time.Now()
	err := s.inner.Discard(ctx, rotationID, v)
	s.observe(opDiscard, start, err)
	return err
}

func (s *instrumentedStore) Read(ctx context.Context, version secretstore.Version) (secret.Value, error) {
	start := time.Now()
	v, err := s.inner.Read(ctx, version)
	s.observe(opRead, start, err)
	return v, err
}

func (s *instrumentedStore) Current(ctx context.Context) (secret.Value, secretstore.Version, error) {
	start := time.Now()
	v, version, err := s.inner.Current(ctx)
	s.observe(opCurrent, start, err)
	return v, version, err
}

func (s *instrumentedStore) verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	start := time.Now()
	err := s.inner.(rotation.DriftChecker).Verify(ctx, rotationID, promoted, v)
	s.observe(opVerify, start, err)
	return err
}

func (s *instrumentedStore) preflight(ctx context.Context) error {
	start := time.Now()
	err := s.inner.(preflighter).Preflight(ctx)
	s.observe(opPreflight, start, err)
	return err
}

// instrumentedDriftStore wraps a store that is a rotation.DriftChecker.
type instrumentedDriftStore struct{ *instrumentedStore }

func (s *instrumentedDriftStore) Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	return s.verify(ctx, rotationID, promoted, v)
}

// instrumentedPreflightStore wraps a store that has Preflight.
type instrumentedPreflightStore struct{ *instrumentedStore }

func (s *instrumentedPreflightStore) Preflight(ctx context.Context) error { return s.preflight(ctx) }

// instrumentedDriftPreflightStore wraps a store that has both.
type instrumentedDriftPreflightStore struct{ *instrumentedStore }

func (s *instrumentedDriftPreflightStore) Verify(ctx context.Context, rotationID string, promoted bool, v secretstore.Versions) error {
	return s.verify(ctx, rotationID, promoted, v)
}

func (s *instrumentedDriftPreflightStore) Preflight(ctx context.Context) error {
	return s.preflight(ctx)
}
