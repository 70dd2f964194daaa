// Package rotation is rotor's domain: the states a rotation moves through,
// the credentials it rotates, the audit events it leaves, the stores that
// persist them and the Service that runs each transition.
package rotation

import (
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

// State is the stage a rotation is in. The legal moves are
//
//	requested → new_issued → dual_active → old_retired
//	dual_active → new_issued (roll back)
//	requested | new_issued → cancelled
//
// and the database refuses any other.
type State string

const (
	// StateRequested: an operator asked to rotate. rotor waits for the
	// new secret from Persium. Left by record issued or cancel.
	StateRequested State = "requested"

	// StateNewIssued: the new secret passed the token endpoint and is
	// staged in the secrets manager; consumers still read the old one.
	// Entered by record issued or roll back, left by promote or cancel.
	StateNewIssued State = "new_issued"

	// StateDualActive: consumers read the new secret and the old one is
	// still valid at Persium and readable as "previous". Entered by
	// promote, left by retire or roll back.
	StateDualActive State = "dual_active"

	// StateOldRetired: Persium rejects the old secret and the old version
	// is retired in the secrets manager. Terminal.
	StateOldRetired State = "old_retired"

	// StateCancelled: the rotation was abandoned before promotion and its
	// staged version discarded. Terminal.
	StateCancelled State = "cancelled"
)

// States lists every state in the order of the happy path.
var States = []State{StateRequested, StateNewIssued, StateDualActive, StateOldRetired, StateCancelled}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StateRequested, StateNewIssued, StateDualActive, StateOldRetired, StateCancelled:
		return true
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s == StateOldRetired || s == StateCancelled }

// Kind is the reason a rotation was started.
type Kind string

const (
	KindScheduled   Kind = "scheduled"   // the 90-day (or configured) period ran out
	KindManual      Kind = "manual"      // an operator chose to rotate
	KindEmergency   Kind = "emergency"   // a suspected leak: the old version is destroyed at retirement
	KindOffboarding Kind = "offboarding" // someone with access left the team: the old version is destroyed at retirement
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindScheduled, KindManual, KindEmergency, KindOffboarding:
		return true
	}
	return false
}

// Compromised reports whether a rotation of kind k replaces a secret that
// must be presumed known to someone who should not have it: a suspected
// leak or a departed member of staff. Retiring such a rotation destroys
// the old version in every backend, whatever the credential's retire mode.
func (k Kind) Compromised() bool {
	return k == KindEmergency || k == KindOffboarding
}

// Step is a write to the secrets manager that a rotation has recorded as
// intended and not yet completed. After a crash the service finds rotations
// with a step and finishes or reports it.
type Step string

const (
	StepNone     Step = ""
	StepStage    Step = "stage"    // requested → new_issued
	StepPromote  Step = "promote"  // new_issued → dual_active
	StepRollback Step = "rollback" // dual_active → new_issued
	StepRetire   Step = "retire"   // dual_active → old_retired
	StepDiscard  Step = "discard"  // new_issued → cancelled
)

// Rotation is one rotation of one credential's secret. It never holds the
// secret itself, only the backend versions that hold it.
type Rotation struct {
	ID           string
	CredentialID string
	Kind         Kind
	State        State

	// Version increases by one with every change; a change names the
	// version it was computed from, and loses if another change won.
	Version int64

	Reason      string // the requester's reason
	Ticket      string // Persium's ticket reference, when known
	RequestedBy string

	// Step is the secrets-manager write in progress, with who asked for it
	// and why, so that a step finished after a restart is audited under
	// the right name.
	Step          Step
	StepBy        string
	StepReason    string
	StepStartedAt time.Time

	Versions secretstore.Versions

	// PausedAt is set while the rotation is paused because the secret
	// changed in a way rotor did not make. PauseReason describes the change.
	// DriftAccepted is the change an operator accepted when resuming.
	PausedAt      time.Time
	PauseReason   string
	DriftAccepted string

	// OldRevokedAt is when an operator recorded that Persium revoked the
	// old secret before promotion, as it may after a compromise. From then
	// on consumers of the old secret fail, so promote and retire no longer
	// wait for the low-traffic window or the minimum time in dual_active.
	// Zero when not revoked early.
	OldRevokedAt time.Time

	CreatedAt   time.Time
	UpdatedAt   time.Time
	IssuedAt    time.Time // zero until new_issued
	PromotedAt  time.Time // time of the latest promotion; zero when not promoted
	RetiredAt   time.Time
	CancelledAt time.Time
}

// Open reports whether the rotation has not reached a terminal state.
func (r Rotation) Open() bool { return !r.State.Terminal() }

// Credential is one Persium CLIENT_ID of one organisation, as configured,
// plus what rotor learned from its rotations.
type Credential struct {
	ID             string
	Organisation   string
	OrganisationID string
	ClientID       string
	AuthMethod     string // "basic" or "post"

	RotationPeriod time.Duration
	MinDualActive  time.Duration // the shortest time between promote and retire without a reason
	Overlap        time.Duration // how long Persium keeps the old secret valid; 0 when not declared

	Backend    string                 // the configured backend's name
	SecretPath string                 // where the secret lives in that backend
	RetireMode secretstore.RetireMode // disable or destroy; emergencies always destroy

	// IssuedAt is when Persium issued the secret in use, from the
	// configuration; zero when unknown.
	IssuedAt time.Time

	// Window is the low-traffic window for promote and retire, such as
	// "Tue 02:00-04:00 Europe/London"; empty for none.
	Window string

	// FourEyes requires a second operator, other than the rotation's
	// requester, to approve retirement and a recorded force-revoke.
	FourEyes bool

	LastRetiredAt  time.Time // zero when rotor never retired a secret of it
	CreatedAt      time.Time // when rotor first saw it in the configuration
	OpenRotationID string    // "" when no rotation is open
}

// NextDueAt returns when the credential is next due for rotation: its
// period after the last retirement, else after the configured issue date
// of the secret in use, else after rotor first saw it. Periods are exact
// durations in UTC, so a due date does not move with daylight saving time.
func (c Credential) NextDueAt() time.Time {
	base := c.LastRetiredAt
	if base.IsZero() {
		base = c.IssuedAt
	}
	if base.IsZero() {
		base = c.CreatedAt
	}
	return base.UTC().Add(c.RotationPeriod)
}

// Action names what an audit event records.
type Action string

const (
	ActionRequest    Action = "request"
	ActionIssue      Action = "issue"
	ActionPromote    Action = "promote"
	ActionRollback   Action = "rollback"
	ActionRetire     Action = "retire"
	ActionCancel     Action = "cancel"
	ActionStepFailed Action = "step_failed" // a secrets-manager write failed; the state did not change
	ActionPaused     Action = "paused"      // the secret changed outside rotor; transitions wait
	ActionResumed    Action = "resumed"     // an operator resumed a paused rotation
	ActionEscalated  Action = "escalated"   // a reported compromise made an open rotation an emergency
	ActionOldRevoked Action = "old_revoked" // Persium revoked the old secret before promotion
	ActionApproved   Action = "approved"    // a second operator approved retirement or force-revoke
)

// Event is one append-only audit record: who did what to a rotation, when,
// from which state to which, and why. It never contains a secret.
type Event struct {
	ID           int64
	RotationID   string
	CredentialID string
	At           time.Time
	Actor        string
	Action       Action
	From         State // "" for the request that created the rotation
	To           State
	Reason       string
	Detail       string
}
