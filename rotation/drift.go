package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

// checkDrift checks with the credential's store that the secret still
// looks as rotor left it for r. A change rotor did not make, other than one an
// operator accepted when resuming, pauses r with an audit event and is
// returned as ErrConflict with code "paused". Stores that are not a
// DriftChecker, and rotations that are not new_issued or dual_active, are
// not checked.
func (s *Service) checkDrift(ctx context.Context, r Rotation, store SecretStore) error {
	dc, ok := store.(DriftChecker)
	if !ok || (r.State != StateNewIssued && r.State != StateDualActive) || r.Step != StepNone {
		return nil
	}
	err := dc.Verify(ctx, r.ID, r.State == StateDualActive, r.Versions)
	if err == nil {
		return nil
	}
	if !errors.Is(err, secretstore.ErrDrift) {
		return backendError(err, "check the secret for changes")
	}

	change := safeBackendMessage(err)
	if change == r.DriftAccepted {
		return nil
	}
	if r.PausedAt.IsZero() {
		_, perr := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, Pause: change,
			Event: &Event{Actor: "rotor", Action: ActionPaused, Detail: change}})
		if errors.Is(perr, ErrConflict) {
			// The rotation moved on since it was read, usually by another
			// request of rotor's whose write this check saw. Nothing was
			// paused, so the error must not claim a pause.
			return wrapError(perr, ErrConflict, "concurrent_change",
				"Rotation %s changed while you were looking at it. Reload it and try again.", r.ID)
		}
		if perr != nil {
			return storeError(perr, "pause rotation "+r.ID)
		}
		s.log.WarnContext(ctx, "rotation paused: secret changed outside rotor", "rotation_id", r.ID, "credential_id", r.CredentialID, "change", change)
	}
	return pausedError(r.ID, change)
}

func pausedError(id, change string) error {
	return newError(ErrConflict, "paused",
		"Rotation %s is paused because the secret changed outside rotor: %s. Restore the secret in the secrets manager and resume the rotation, or resume with a reason to accept the change.", id, change)
}

// Resume ends the pause of a rotation after checking the secret again. If
// the secret is back as rotor left it, the rotation resumes. If it still
// differs, resuming needs a reason, and the change is recorded as
// accepted, so the watch does not pause the rotation again for it.
func (s *Service) Resume(ctx context.Context, actor, rotationID, reason string) (Rotation, error) {
	if err := validText("reason", reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	r, err := s.rotation(ctx, rotationID)
	if err != nil {
		return Rotation{}, err
	}
	if r.PausedAt.IsZero() {
		return Rotation{}, newError(ErrConflict, "not_paused", "Rotation %s is not paused. Reload it to see its next step.", r.ID)
	}
	if r.Step != StepNone {
		// Resuming would end the step's record while its write runs.
		return Rotation{}, newError(ErrConflict, "step_in_progress",
			"Rotation %s has a %s step in progress. Wait for it to finish and reload.", r.ID, r.Step)
	}
	store, ok := s.secrets[r.CredentialID]
	if !ok {
		return Rotation{}, newError(ErrUnavailable, "backend_missing",
			"No secrets manager is configured for credential %s. Check the configuration and restart rotor.", r.CredentialID)
	}

	accepted, detail := "", "the secret is as rotor left it"
	if dc, ok := store.(DriftChecker); ok {
		err := dc.Verify(ctx, r.ID, r.State == StateDualActive, r.Versions)
		switch {
		case err == nil:
		case !errors.Is(err, secretstore.ErrDrift):
			return Rotation{}, backendError(err, "check the secret for changes")
		case reason == "":
			return Rotation{}, newError(ErrConflict, "still_changed",
				"The secret still differs from what rotor left: %s. Restore it in the secrets manager, or give a reason to accept the change.", safeBackendMessage(err))
		default:
			accepted = safeBackendMessage(err)
			detail = "change accepted: " + accepted
		}
	}

	done, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, Step: r.Step, To: r.State,
		Resume: true, AcceptDrift: accepted,
		Event: &Event{Actor: actor, Action: ActionResumed, Reason: reason, Detail: detail}})
	if err != nil {
		return Rotation{}, storeError(err, "resume rotation "+r.ID)
	}
	s.log.InfoContext(ctx, "rotation resumed", "rotation_id", r.ID, "credential_id", r.CredentialID, "actor", actor)
	return done, nil
}

// CheckOpenRotations checks every open rotation for changes rotor did not
// make, and pauses the ones whose secret changed. It returns the first
// error other than a pause, after checking all of them.
func (s *Service) CheckOpenRotations(ctx context.Context) error {
	creds, err := s.store.ListCredentials(ctx)
	if err != nil {
		return fmt.Errorf("list credentials: %w", err)
	}
	var errs []error
	for _, c := range creds {
		if c.OpenRotationID == "" {
			continue
		}
		r, err := s.store.GetRotation(ctx, c.OpenRotationID)
		if err != nil {
			errs = append(errs, fmt.Errorf("read rotation %s: %w", c.OpenRotationID, err))
			continue
		}
		store, ok := s.secrets[c.ID]
		if !ok {
			continue
		}
		if err := s.checkDrift(ctx, r, store); err != nil {
			if e, ok := AsError(err); ok && (e.Code == "paused" || e.Code == "concurrent_change") {
				continue
			}
			errs = append(errs, fmt.Errorf("check rotation %s: %w", r.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Watch checks open rotations for changes rotor did not make, every
// Interval, until Stop. Start and Stop may be called once each.
type Watch struct {
	Service  *Service
	Interval time.Duration // default one minute
	Logger   *slog.Logger

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start runs the watch in the background until ctx ends or Stop is called.
func (w *Watch) Start(ctx context.Context) {
	if w.Interval <= 0 {
		w.Interval = time.Minute
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		ticker := time.NewTicker(w.Interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			case <-ticker.C:
			}
			// Each round has a deadline, so a hanging backend cannot stop
			// the watch for good.
			rctx, cancel := context.WithTimeout(ctx, w.Interval)
			err := w.Service.CheckOpenRotations(rctx)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				w.Logger.Error("check open rotations for outside changes", "error", err)
			}

			// Steps that an outage left open are finished here too, so
			// that rotor recovers without a restart.
			rctx, cancel = context.WithTimeout(ctx, w.Interval)
			err = w.Service.RecoverStale(rctx)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				w.Logger.Error("recover abandoned steps", "error", err)
			}
		}
	}()
}

// Stop ends the watch and waits for the round in progress. It is safe to
// call more than once, and before Start.
func (w *Watch) Stop() {
	w.once.Do(func() {
		if w.stop == nil {
			return
		}
		close(w.stop)
		<-w.done
	})
}
