package rotation

import (
	"context"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

// Store persists credentials, rotations and audit events. The Postgres
// store is the real one; the memory store serves `rotor dev` and passes the
// same contract suite (rotation/storetest).
//
// Errors: ErrNotFound for an unknown id, ErrConflict when a change lost to
// another one or would open a second rotation for a credential. Methods
// never return a zero value with a nil error for something missing.
type Store interface {
	// SyncCredentials inserts or updates the configured credentials. It
	// keeps what rotor learned (CreatedAt, LastRetiredAt). Credentials
	// missing from creds are kept, because audit events refer to them.
	SyncCredentials(ctx context.Context, creds []Credential) error

	// ListCredentials returns every credential ordered by next due date,
	// then id, with OpenRotationID set. It reads every row, so pages for
	// people use ListCredentialPage instead.
	ListCredentials(ctx context.Context) ([]Credential, error)

	// ListCredentialPage returns up to limit credentials that follow the
	// cursor in the order of ListCredentials, with OpenRotationID set, and
	// the cursor of the next page. The zero cursor starts at the first
	// credential; the returned cursor is zero when no credential follows.
	// Paging stays stable under inserts: each credential is listed once,
	// except one whose due date moves past the cursor while a client pages.
	// A limit below 1 is ErrInvalid.
	ListCredentialPage(ctx context.Context, after CredentialCursor, limit int) ([]Credential, CredentialCursor, error)

	// SummarizeCredentials counts all credentials by their due date at now.
	// DueSoon counts those due from now to now + soon, both included.
	SummarizeCredentials(ctx context.Context, now time.Time, soon time.Duration) (CredentialSummary, error)

	// GetCredential returns one credential with OpenRotationID set.
	GetCredential(ctx context.Context, id string) (Credential, error)

	// CreateRotation inserts r in StateRequested, with Version 1 and the
	// store's clock for CreatedAt and UpdatedAt, and appends ev in the same
	// transaction. A credential with an open rotation is ErrConflict.
	CreateRotation(ctx context.Context, r Rotation, ev Event) (Rotation, error)

	// GetRotation returns one rotation.
	GetRotation(ctx context.Context, id string) (Rotation, error)

	// ListRotations returns a credential's rotations, newest first.
	ListRotations(ctx context.Context, credentialID string) ([]Rotation, error)

	// Apply makes one change in one transaction: it updates the rotation
	// only if it is still in c.From, at c.Version and with c.Step in
	// progress, and appends c.Event if there is one. A rotation that moved
	// on is ErrConflict.
	Apply(ctx context.Context, c Change) (Rotation, error)

	// ListEvents returns a rotation's audit events, oldest first.
	ListEvents(ctx context.Context, rotationID string) ([]Event, error)

	// ListUnfinished returns rotations with a step in progress.
	ListUnfinished(ctx context.Context) ([]Rotation, error)
}

// RotationCredentialReader is a Store that reads a rotation and its
// credential together. The service uses it, when the store offers it, to
// load both before a transition in one Postgres round trip instead of two.
type RotationCredentialReader interface {
	// RotationWithCredential returns the rotation and its credential, each
	// as GetRotation and GetCredential return them. An unknown rotation is
	// ErrNotFound.
	RotationWithCredential(ctx context.Context, rotationID string) (Rotation, Credential, error)
}

// Change is one optimistic update of a rotation. The store stamps "now"
// from its clock once: UpdatedAt, the timestamp of the state entered,
// StepStartedAt and the event's time all carry the same instant.
type Change struct {
	RotationID string

	// The state the caller read. The change applies only if it still holds.
	From    State
	Version int64
	Step    Step

	// The state the rotation moves to.
	To         State
	NewStep    Step   // the step now in progress, StepNone when it ends
	StepBy     string // who asked for NewStep
	StepReason string

	// Versions replaces the recorded backend versions when not nil.
	Versions *secretstore.Versions

	// Pause, when not empty, pauses the rotation with this reason. Resume
	// ends a pause and records AcceptDrift as the change the operator
	// accepted. A change of state ends a pause too.
	Pause       string
	Resume      bool
	AcceptDrift string

	// OldRevoked records that Persium revoked the old secret, at the
	// change's instant. A rotation keeps the first such time.
	OldRevoked bool

	// Event is appended in the same transaction when not nil. The store
	// fills RotationID, CredentialID, At, From and To.
	Event *Event
}

// Transitions lists the legal state changes. A Change whose From and To
// differ must be one of them; the database enforces the same set.
var Transitions = map[State][]State{
	StateRequested:  {StateNewIssued, StateCancelled},
	StateNewIssued:  {StateDualActive, StateCancelled},
	StateDualActive: {StateOldRetired, StateNewIssued},
}

// Legal reports whether a rotation may move from one state to another.
// Staying in the same open state is legal: it starts or ends a step.
func Legal(from, to State) bool {
	if from == to {
		return !from.Terminal()
	}
	for _, s := range Transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// stepStates maps each step to the state in which it may be in progress.
var stepStates = map[Step]State{
	StepStage:    StateRequested,
	StepPromote:  StateNewIssued,
	StepDiscard:  StateNewIssued,
	StepRollback: StateDualActive,
	StepRetire:   StateDualActive,
}

// CheckInvariants reports the first rule that r breaks: the same rules the
// Postgres schema enforces with CHECK constraints. The memory store calls it
// so that both stores refuse the same rows.
func CheckInvariants(r Rotation) error {
	switch {
	case !r.State.Valid():
		return fmt.Errorf("rotation %s: unknown state %q", r.ID, r.State)
	case !r.Kind.Valid():
		return fmt.Errorf("rotation %s: unknown kind %q", r.ID, r.Kind)
	case r.Version < 1:
		return fmt.Errorf("rotation %s: version %d below 1", r.ID, r.Version)
	case r.Step != StepNone && stepStates[r.Step] != r.State:
		return fmt.Errorf("rotation %s: step %q cannot be in progress in state %s", r.ID, r.Step, r.State)
	case (r.Step == StepNone) != r.StepStartedAt.IsZero() || (r.Step == StepNone) != (r.StepBy == ""):
		return fmt.Errorf("rotation %s: step, its start time and its actor must be set together", r.ID)
	case r.State == StateRequested && (!r.IssuedAt.IsZero() || r.Versions.Staged != ""):
		return fmt.Errorf("rotation %s: requested yet issued", r.ID)
	case r.State == StateNewIssued && (r.IssuedAt.IsZero() || r.Versions.Staged == "" || !r.PromotedAt.IsZero()):
		return fmt.Errorf("rotation %s: new_issued needs an issue time and a staged version and no promotion time", r.ID)
	case r.State == StateDualActive && (r.PromotedAt.IsZero() || r.Versions.New == "" || r.Versions.Old == ""):
		return fmt.Errorf("rotation %s: dual_active needs a promotion time and old and new versions", r.ID)
	case r.State == StateOldRetired && (r.RetiredAt.IsZero() || r.PromotedAt.IsZero()):
		return fmt.Errorf("rotation %s: old_retired needs retirement and promotion times", r.ID)
	case r.State == StateCancelled && (r.CancelledAt.IsZero() || !r.PromotedAt.IsZero()):
		return fmt.Errorf("rotation %s: cancelled needs a cancellation time and no promotion", r.ID)
	case r.PausedAt.IsZero() != (r.PauseReason == ""):
		return fmt.Errorf("rotation %s: pause time and reason must be set together", r.ID)
	case !r.PausedAt.IsZero() && r.State != StateNewIssued && r.State != StateDualActive:
		return fmt.Errorf("rotation %s: only a new_issued or dual_active rotation can be paused", r.ID)
	case !r.OldRevokedAt.IsZero() && !r.PromotedAt.IsZero() && r.PromotedAt.Before(r.OldRevokedAt):
		return fmt.Errorf("rotation %s: the old secret can be recorded as revoked only before promotion", r.ID)
	}
	return nil
}

// Result returns the rotation that c makes of r at now, without checking
// that c matches r. The memory store uses it; the Postgres store's UPDATE
// computes the same fields, and the contract suite compares the two.
func (c Change) Result(r Rotation, now time.Time) Rotation {
	stateChanged := c.To != r.State
	if stateChanged {
		switch c.To {
		case StateNewIssued:
			if r.IssuedAt.IsZero() {
				r.IssuedAt = now
			}
			r.PromotedAt = time.Time{}
		case StateDualActive:
			r.PromotedAt = now
		case StateOldRetired:
			r.RetiredAt = now
		case StateCancelled:
			r.CancelledAt = now
		}
	}
	r.State = c.To
	r.Step, r.StepBy, r.StepReason, r.StepStartedAt = c.NewStep, c.StepBy, c.StepReason, time.Time{}
	if c.NewStep != StepNone {
		r.StepStartedAt = now
	}
	if c.Versions != nil {
		r.Versions = *c.Versions
	}
	if c.OldRevoked && r.OldRevokedAt.IsZero() {
		r.OldRevokedAt = now
	}
	switch {
	case c.Pause != "":
		r.PausedAt, r.PauseReason = now, c.Pause
	case c.Resume:
		r.PausedAt, r.PauseReason, r.DriftAccepted = time.Time{}, "", c.AcceptDrift
	case stateChanged:
		r.PausedAt, r.PauseReason = time.Time{}, ""
	}
	r.Version++
	r.UpdatedAt = now
	return r
}
