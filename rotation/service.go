package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/crashpoint"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/tokencheck"
	"github.com/rotorhq/rotor/window"
)

// Limits on operator input.
const (
	MaxSecretBytes = 4096 // longer than any client secret Keycloak generates
	MaxReasonBytes = 2000
	MaxTicketBytes = 200
)

// Checker tries a client secret at Persium's token endpoint.
// *tokencheck.Checker implements it.
type Checker interface {
	Check(ctx context.Context, clientID string, method tokencheck.AuthMethod, s secret.Value) tokencheck.Result
}

// Service runs rotations. A transition without an external effect is one
// store change. A transition that writes to the secrets manager records the
// step as intended, makes the write with the rotation id as idempotency key,
// and completes the step in a second change. A crash between the two leaves
// the step for Recover.
type Service struct {
	store          Store
	incidents      IncidentStore // nil when store keeps no incidents
	secrets        map[string]SecretStore
	checker        Checker
	notifier       Notifier      // nil when no channel is configured
	persium        PersiumMailer // nil when rotor cannot e-mail Persium
	fingerprintKey []byte        // nil when pages show no fingerprints
	now            func() time.Time
	log            *slog.Logger
	stepTimeout    time.Duration
	notifyTimeout  time.Duration
	remindEvery    time.Duration
}

// Options configure a Service.
type Options struct {
	Store   Store
	Secrets map[string]SecretStore // by credential id
	Checker Checker
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default discards

	// StepTimeout bounds one secrets-manager write. The write runs on a
	// context detached from the request, so a client that goes away does
	// not abort it half-way. Default 30s.
	StepTimeout time.Duration

	// Notifier sends the urgent message of a reported compromise to the
	// credential's channels. Without one, each report records that no
	// channel was notified.
	Notifier Notifier

	// NotifyTimeout bounds the urgent messages of one report, all channels
	// together; the report itself is recorded before they are sent.
	// Default 15s.
	NotifyTimeout time.Duration

	// IncidentRemindEvery is the time between reminders of an open
	// incident, counted from its report. Default
	// DefaultIncidentRemindEvery.
	IncidentRemindEvery time.Duration

	// PersiumMailer e-mails the urgent request of an incident to
	// Persium's support address. Without one, operators send it by hand.
	PersiumMailer PersiumMailer

	// FingerprintKey keys the fingerprints FingerprintsOf computes. Empty
	// means no fingerprints.
	FingerprintKey []byte
}

// NewService returns a Service.
func NewService(o Options) *Service {
	s := &Service{store: o.Store, secrets: o.Secrets, checker: o.Checker, notifier: o.Notifier, persium: o.PersiumMailer, fingerprintKey: o.FingerprintKey,
		now: o.Now, log: o.Logger, stepTimeout: o.StepTimeout, notifyTimeout: o.NotifyTimeout, remindEvery: o.IncidentRemindEvery}
	s.incidents, _ = o.Store.(IncidentStore)
	if s.notifyTimeout <= 0 {
		s.notifyTimeout = 15 * time.Second
	}
	if s.remindEvery <= 0 {
		s.remindEvery = DefaultIncidentRemindEvery
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.stepTimeout <= 0 {
		s.stepTimeout = 30 * time.Second
	}
	return s
}

// Store returns the store the service runs on, for read-only pages.
func (s *Service) Store() Store { return s.store }

// RequestInput is what an operator gives to start a rotation.
type RequestInput struct {
	Kind   Kind
	Reason string
	Ticket string // Persium's ticket reference, if there is one yet
}

// Request opens a rotation of a credential in StateRequested. A credential
// with an open rotation is ErrConflict: Persium keeps one old secret only.
func (s *Service) Request(ctx context.Context, actor, credentialID string, in RequestInput) (Rotation, error) {
	if in.Kind == "" {
		in.Kind = KindManual
	}
	if !in.Kind.Valid() {
		return Rotation{}, newError(ErrInvalid, "invalid_kind", "Kind %q is not one of scheduled, manual, emergency or offboarding.", truncate(string(in.Kind), 40))
	}
	if err := validText("reason", in.Reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	if err := validText("ticket", in.Ticket, MaxTicketBytes, false); err != nil {
		return Rotation{}, err
	}

	// The store refuses an unknown credential and a second open rotation,
	// so the credential is read only to word those errors.
	r := Rotation{
		ID: uuid.NewString(), CredentialID: credentialID, Kind: in.Kind,
		Reason: in.Reason, Ticket: in.Ticket, RequestedBy: actor,
	}
	r, err := s.store.CreateRotation(ctx, r, Event{Actor: actor, Action: ActionRequest, Reason: in.Reason,
		Detail: fmt.Sprintf("kind %s", in.Kind)})
	if errors.Is(err, ErrNotFound) {
		return Rotation{}, wrapError(err, ErrNotFound, "not_found", "There is no credential %s.", QuoteID("credential", credentialID))
	}
	if errors.Is(err, ErrConflict) {
		if cred, cerr := s.store.GetCredential(ctx, credentialID); cerr == nil && cred.OpenRotationID != "" {
			return Rotation{}, openRotationError(cred)
		}
		return Rotation{}, wrapError(err, ErrConflict, "open_rotation", "Credential %s already has an open rotation; finish or cancel it first.", credentialID)
	}
	if err != nil {
		return Rotation{}, storeError(err, "request rotation of credential "+credentialID)
	}
	s.log.InfoContext(ctx, "rotation requested", "rotation_id", r.ID, "credential_id", r.CredentialID, "kind", r.Kind, "actor", actor)
	return r, nil
}

func openRotationError(cred Credential) error {
	return newError(ErrConflict, "open_rotation",
		"Credential %s already has an open rotation (%s). Persium keeps only one old secret, so finish or cancel that rotation first.",
		cred.ID, cred.OpenRotationID)
}

// IssuedInput carries the new secret Persium issued, or names a version
// already staged in the secrets manager to adopt instead.
type IssuedInput struct {
	Secret        secret.Value
	StagedVersion secretstore.Version
	Reason        string // required to proceed past an inconclusive check
}

// Issued is the result of RecordIssued.
type Issued struct {
	Rotation

	// CurrentRejected is true when the token endpoint already rejects the
	// secret consumers read now, as when Persium issued a second secret and
	// dropped the current one. Consumers fail until the new one is promoted.
	CurrentRejected bool
}

// RecordIssued takes the new secret once, checks it at the token endpoint
// (it must be accepted, or the operator gives a reason past an
// inconclusive check) and stages it in the secrets manager. The secret is
// held in memory only; if the stage fails, the rotation stays requested and
// the operator submits it again.
func (s *Service) RecordIssued(ctx context.Context, actor, rotationID string, in IssuedInput) (Issued, error) {
	if err := validText("reason", in.Reason, MaxReasonBytes, true); err != nil {
		return Issued{}, err
	}
	adopt := in.StagedVersion != ""
	switch {
	case adopt && !in.Secret.IsZero():
		return Issued{}, newError(ErrInvalid, "invalid_input", "Give either the new secret or the staged version to adopt, not both.")
	case !adopt:
		if err := ValidateSecret(in.Secret); err != nil {
			return Issued{}, err
		}
	case len(in.StagedVersion) > 200 || !utf8.ValidString(string(in.StagedVersion)):
		return Issued{}, newError(ErrInvalid, "invalid_input", "The staged version is not a valid version identifier.")
	}

	r, cred, store, err := s.load(ctx, rotationID, StateRequested)
	if err != nil {
		return Issued{}, err
	}

	value := in.Secret
	if adopt {
		value, err = store.Read(ctx, in.StagedVersion)
		if err != nil {
			return Issued{}, backendError(err, "read the staged version "+string(in.StagedVersion))
		}
	}
	current, _, err := store.Current(ctx)
	if err != nil {
		return Issued{}, backendError(err, "read the current secret")
	}
	if current.Equal(value) {
		return Issued{}, newError(ErrInvalid, "secret_unchanged", "This is the secret consumers use now, not a new one. Paste the secret Persium issued for this rotation.")
	}

	res := s.checker.Check(ctx, cred.ClientID, tokencheck.AuthMethod(cred.AuthMethod), value)
	switch res.Outcome {
	case tokencheck.Accepted:
	case tokencheck.Rejected:
		return Issued{}, newError(ErrRejected, "secret_rejected",
			"The token endpoint rejects the new secret, so it was not stored. Check that you copied the whole secret Persium issued for client %s. %s", cred.ClientID, res.Detail)
	default:
		if in.Reason == "" {
			return Issued{}, newError(ErrInconclusive, "check_inconclusive",
				"The token endpoint gave no clear answer for the new secret, so it was not stored. Try again, or give a reason to store it without a clear check. %s", res.Detail)
		}
	}
	detail := "new secret " + string(res.Outcome) + " at the token endpoint"

	// Persium keeps one old secret: a second issue drops the current one.
	// Staging goes on, but the operator must learn that consumers fail now.
	currentRejected := s.checker.Check(ctx, cred.ClientID, tokencheck.AuthMethod(cred.AuthMethod), current).Outcome == tokencheck.Rejected
	if currentRejected {
		detail += "; the token endpoint already rejects the current secret, so consumers fail until the new one is promoted"
		s.log.WarnContext(ctx, "current secret already rejected", "rotation_id", r.ID, "credential_id", cred.ID)
	}

	step := func(ctx context.Context) (secretstore.Versions, error) {
		if adopt {
			return store.Adopt(ctx, r.ID, in.StagedVersion)
		}
		v, err := store.Stage(ctx, r.ID, value)
		if errors.Is(err, secretstore.ErrUnavailable) {
			// The write's outcome is unknown: read back before giving up.
			if found, ferr := store.Staged(ctx, r.ID); ferr == nil {
				detail += "; the stage's outcome was resolved by a re-read"
				return found, nil
			}
		}
		return v, redactSecret(err, value)
	}
	done, err := s.runStep(ctx, r, actor, in.Reason, StepStage, StateNewIssued, ActionIssue, func() string { return detail }, step)
	if e, ok := AsError(err); ok && e.Code != "step_unrecorded" {
		return Issued{}, withPrefix(err, "The new secret was not stored, and the rotation is still requested. ")
	}
	return Issued{Rotation: done, CurrentRejected: currentRejected}, err
}

// ValidateSecret reports what is wrong with a pasted secret, without
// quoting it. Whitespace at either end is reported, never trimmed: a
// secret may contain spaces, so rotor cannot tell a stray one from a real
// one.
func ValidateSecret(v secret.Value) error {
	raw := v.Reveal()
	switch {
	case raw == "":
		return newError(ErrInvalid, "invalid_secret", "The secret is empty. Paste the secret Persium issued.")
	case len(raw) > MaxSecretBytes:
		return newError(ErrInvalid, "invalid_secret", "The secret is %d bytes long; the limit is %d. Check that you pasted only the secret.", len(raw), MaxSecretBytes)
	case !utf8.ValidString(raw):
		return newError(ErrInvalid, "invalid_secret", "The secret is not valid UTF-8 text. Copy it again from Persium's message.")
	case strings.TrimSpace(raw) != raw:
		return newError(ErrInvalid, "invalid_secret", "The secret starts or ends with whitespace (a space, tab or line break). rotor does not trim it, because a secret may contain spaces: check the copy and paste it again.")
	case strings.IndexFunc(raw, unicode.IsControl) >= 0:
		return newError(ErrInvalid, "invalid_secret", "The secret contains a control character. Copy it again from Persium's message.")
	}
	return nil
}

// Promote makes the staged secret the one consumers read. The old version
// stays readable, and both secrets work at Persium.
func (s *Service) Promote(ctx context.Context, actor, rotationID, reason string) (Rotation, error) {
	if err := validText("reason", reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	r, cred, store, err := s.loadUnpaused(ctx, rotationID, StateNewIssued)
	if err != nil {
		return Rotation{}, err
	}
	note, err := s.windowGate(cred, "promote", gateReason(r, reason))
	if err != nil {
		return Rotation{}, err
	}
	return s.runStep(ctx, r, actor, reason, StepPromote, StateDualActive, ActionPromote, func() string { return note },
		func(ctx context.Context) (secretstore.Versions, error) { return store.Promote(ctx, r.ID, r.Versions) })
}

// Rollback points consumers back at the old secret while both still work.
func (s *Service) Rollback(ctx context.Context, actor, rotationID, reason string) (Rotation, error) {
	if err := validText("reason", reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	r, _, store, err := s.loadUnpaused(ctx, rotationID, StateDualActive)
	if err != nil {
		return Rotation{}, err
	}
	if !r.OldRevokedAt.IsZero() {
		return Rotation{}, newError(ErrConflict, "old_secret_revoked",
			"Persium revoked the old secret of rotation %s on %s, so rolling back would point consumers at a secret that no longer works. Fix the new secret's deployment instead.",
			r.ID, r.OldRevokedAt.UTC().Format(time.RFC3339))
	}
	return s.runStep(ctx, r, actor, reason, StepRollback, StateNewIssued, ActionRollback, nil,
		func(ctx context.Context) (secretstore.Versions, error) { return store.Rollback(ctx, r.ID, r.Versions) })
}

// RetireInput is the operator's signal that Persium retired the old secret.
type RetireInput struct {
	PersiumConfirmed bool
	Reason           string // required before the minimum time in dual_active, or past an inconclusive check
}

// RetireAvailableAt returns the earliest time retire is offered without a
// reason: the minimum time in dual_active after promotion, or promotion
// itself when Persium revoked the old secret early, because no consumer
// can still use it.
func RetireAvailableAt(r Rotation, c Credential) time.Time {
	if !r.OldRevokedAt.IsZero() {
		return r.PromotedAt
	}
	return r.PromotedAt.Add(c.MinDualActive)
}

// gateReason returns the reason that lets promote and retire past the
// low-traffic window: the operator's, or the early revocation of the old
// secret, after which consumers of it fail whatever the time of day.
func gateReason(r Rotation, reason string) string {
	if reason == "" && !r.OldRevokedAt.IsZero() {
		return "Persium revoked the old secret early"
	}
	return reason
}

// Retire ends a rotation after Persium retired the old secret. In one check
// run the token endpoint must reject the old secret and accept the new one.
// Then the old version is retired in the secrets manager (destroyed for an
// emergency), and the credential's next due date moves.
func (s *Service) Retire(ctx context.Context, actor, rotationID string, in RetireInput) (Rotation, error) {
	if err := validText("reason", in.Reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	if !in.PersiumConfirmed {
		return Rotation{}, newError(ErrInvalid, "not_confirmed",
			"Confirm that Persium retired the old secret (persium_confirmed: true). Ask Persium to retire it first.")
	}
	r, cred, store, err := s.loadUnpaused(ctx, rotationID, StateDualActive)
	if err != nil {
		return Rotation{}, err
	}

	var notes []string
	approver, err := s.requireApproval(ctx, r, cred, ApproveRetire)
	if err != nil {
		return Rotation{}, err
	}
	if approver != "" {
		notes = append(notes, "approved by "+approver+" under the four-eyes rule")
	}
	if note, err := s.windowGate(cred, "retire", gateReason(r, in.Reason)); err != nil {
		return Rotation{}, err
	} else if note != "" {
		notes = append(notes, note)
	}
	if !r.OldRevokedAt.IsZero() && s.now().Before(r.PromotedAt.Add(cred.MinDualActive)) {
		notes = append(notes, fmt.Sprintf("retired without waiting for the minimum time in dual_active (%s): Persium revoked the old secret before promotion", cred.MinDualActive))
	}
	if at := RetireAvailableAt(r, cred); s.now().Before(at) {
		if in.Reason == "" {
			return Rotation{}, newError(ErrConflict, "too_early",
				"Retire is offered from %s, %s after promotion, so consumers that cache the secret can pick up the new one. Wait, or give a reason to retire earlier.",
				at.UTC().Format(time.RFC3339), cred.MinDualActive)
		}
		notes = append(notes, fmt.Sprintf("retired before the minimum time in dual_active (%s)", cred.MinDualActive))
	}

	// An old version that can no longer be read was usually retired by an
	// earlier attempt whose response was lost. Its secret cannot be
	// checked, so the check of it is inconclusive and needs a reason,
	// rather than blocking the rotation for good.
	oldSecret, err := store.Read(ctx, r.Versions.Old)
	oldGone := errors.Is(err, secretstore.ErrNotFound)
	if err != nil && !oldGone {
		return Rotation{}, backendError(err, "read the old version "+string(r.Versions.Old))
	}
	newSecret, err := store.Read(ctx, r.Versions.New)
	if err != nil {
		return Rotation{}, backendError(err, "read the new version "+string(r.Versions.New))
	}
	method := tokencheck.AuthMethod(cred.AuthMethod)
	oldRes := tokencheck.Result{Outcome: tokencheck.Inconclusive,
		Detail: "The old version " + string(r.Versions.Old) + " can no longer be read in the secrets manager, so the old secret was not checked."}
	if !oldGone {
		oldRes = s.checker.Check(ctx, cred.ClientID, method, oldSecret)
	}
	newRes := s.checker.Check(ctx, cred.ClientID, method, newSecret)
	switch {
	case oldRes.Outcome == tokencheck.Accepted:
		return Rotation{}, newError(ErrConflict, "old_secret_still_accepted",
			"The token endpoint still accepts the old secret, so it is not retired yet. Ask Persium to revoke the old secret of client %s, then retire again.", cred.ClientID)
	case newRes.Outcome == tokencheck.Rejected:
		return Rotation{}, newError(ErrRejected, "new_secret_rejected",
			"The token endpoint rejects the new secret too. That is not a retirement: the client may be disabled or the endpoint broken. Contact Persium before going on. %s", newRes.Detail)
	case oldRes.Outcome != tokencheck.Rejected || newRes.Outcome != tokencheck.Accepted:
		if in.Reason == "" {
			return Rotation{}, newError(ErrInconclusive, "check_inconclusive",
				"The token endpoint gave no clear answer (old secret: %s, new secret: %s). Try again, or give a reason to retire without a clear check. %s",
				oldRes.Outcome, newRes.Outcome, firstNonEmpty(oldRes.Detail, newRes.Detail))
		}
	}
	notes = append(notes, fmt.Sprintf("old secret %s and new secret %s at the token endpoint", oldRes.Outcome, newRes.Outcome))

	mode := cred.RetireMode
	if r.Kind.Compromised() || !mode.Valid() {
		mode = secretstore.RetireDestroy
	}
	notes = append(notes, "old version "+string(r.Versions.Old)+" retired ("+string(mode)+")")
	return s.runStep(ctx, r, actor, in.Reason, StepRetire, StateOldRetired, ActionRetire,
		func() string { return strings.Join(notes, "; ") },
		func(ctx context.Context) (secretstore.Versions, error) {
			return r.Versions, store.Retire(ctx, r.ID, r.Versions, mode)
		})
}

// Cancel abandons a rotation before promotion and discards a staged
// version. It needs a reason.
func (s *Service) Cancel(ctx context.Context, actor, rotationID, reason string) (Rotation, error) {
	if err := validText("reason", reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return Rotation{}, newError(ErrInvalid, "reason_required", "Say why the rotation is cancelled; the reason goes into the audit log.")
	}
	r, err := s.rotation(ctx, rotationID)
	if err != nil {
		return Rotation{}, err
	}

	switch {
	case r.State == StateRequested && r.Step == StepNone:
		done, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, To: StateCancelled,
			Event: &Event{Actor: actor, Action: ActionCancel, Reason: reason}})
		if err != nil {
			return Rotation{}, storeError(err, "cancel rotation "+r.ID)
		}
		s.log.InfoContext(ctx, "rotation cancelled", "rotation_id", r.ID, "credential_id", r.CredentialID, "actor", actor)
		return done, nil
	case r.State == StateNewIssued:
		r, _, store, err := s.load(ctx, rotationID, StateNewIssued)
		if err != nil {
			return Rotation{}, err
		}
		return s.runStep(ctx, r, actor, reason, StepDiscard, StateCancelled, ActionCancel,
			func() string { return "staged version " + string(r.Versions.Staged) + " discarded" },
			func(ctx context.Context) (secretstore.Versions, error) {
				return r.Versions, store.Discard(ctx, r.ID, r.Versions)
			})
	default:
		return Rotation{}, wrongState(r, StateRequested, StateNewIssued)
	}
}

// windowGate checks that now is inside the credential's low-traffic
// window. Outside it, the action needs a reason, and the returned note
// records that it went ahead outside the window. A window that does not
// parse is reported, not ignored.
func (s *Service) windowGate(c Credential, action, reason string) (string, error) {
	if c.Window == "" {
		return "", nil
	}
	w, err := window.Parse(c.Window)
	if err != nil {
		return "", wrapError(err, ErrInvalid, "invalid_window", "Credential %s has a low-traffic window rotor cannot read; fix it in the configuration.", c.ID)
	}
	now := s.now()
	if w.Contains(now) {
		return "", nil
	}
	start, _ := w.Next(now)
	if reason == "" {
		return "", newError(ErrConflict, "outside_window",
			"It is outside the low-traffic window of credential %s (%s); the next one starts at %s. Wait for it, or give a reason to %s now.",
			c.ID, w, start.UTC().Format("2006-01-02 15:04 MST"), action)
	}
	return fmt.Sprintf("%s outside the low-traffic window (%s)", action, w), nil
}

// load reads a rotation that must be in state with no step in progress,
// with its credential and secret store.
func (s *Service) load(ctx context.Context, rotationID string, state State) (Rotation, Credential, SecretStore, error) {
	r, cred, err := s.rotationWithCredential(ctx, rotationID)
	if err != nil {
		return Rotation{}, Credential{}, nil, err
	}
	if r.State != state {
		return Rotation{}, Credential{}, nil, wrongState(r, state)
	}
	if r.Step != StepNone {
		return Rotation{}, Credential{}, nil, newError(ErrConflict, "step_in_progress",
			"Rotation %s has a %s step in progress since %s. Wait for it to finish and reload.", r.ID, r.Step, r.StepStartedAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	store, ok := s.secrets[cred.ID]
	if !ok {
		return Rotation{}, Credential{}, nil, newError(ErrUnavailable, "backend_missing",
			"No secrets manager is configured for credential %s. Check the configuration and restart rotor.", cred.ID)
	}
	return r, cred, store, nil
}

// loadUnpaused is load for the transitions that act on the versions rotor
// recorded (promote, roll back, retire): the rotation must not be paused,
// and the secret is checked for changes rotor did not make first.
func (s *Service) loadUnpaused(ctx context.Context, rotationID string, state State) (Rotation, Credential, SecretStore, error) {
	r, cred, store, err := s.load(ctx, rotationID, state)
	if err != nil {
		return Rotation{}, Credential{}, nil, err
	}
	if !r.PausedAt.IsZero() {
		return Rotation{}, Credential{}, nil, pausedError(r.ID, r.PauseReason)
	}
	if err := s.checkDrift(ctx, r, store); err != nil {
		return Rotation{}, Credential{}, nil, err
	}
	return r, cred, store, nil
}

func (s *Service) rotation(ctx context.Context, id string) (Rotation, error) {
	r, err := s.store.GetRotation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Rotation{}, wrapError(err, ErrNotFound, "not_found", "There is no rotation %s.", QuoteID("rotation", id))
	}
	if err != nil {
		return Rotation{}, storeError(err, "read rotation")
	}
	return r, nil
}

// rotationWithCredential reads a rotation and its credential: in one query
// when the store is a RotationCredentialReader, else one after the other.
func (s *Service) rotationWithCredential(ctx context.Context, id string) (Rotation, Credential, error) {
	reader, ok := s.store.(RotationCredentialReader)
	if !ok {
		r, err := s.rotation(ctx, id)
		if err != nil {
			return Rotation{}, Credential{}, err
		}
		cred, err := s.credential(ctx, r.CredentialID)
		return r, cred, err
	}

	r, cred, err := reader.RotationWithCredential(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Rotation{}, Credential{}, wrapError(err, ErrNotFound, "not_found", "There is no rotation %s.", QuoteID("rotation", id))
	}
	if err != nil {
		return Rotation{}, Credential{}, storeError(err, "read rotation")
	}
	return r, cred, nil
}

func (s *Service) credential(ctx context.Context, id string) (Credential, error) {
	c, err := s.store.GetCredential(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Credential{}, wrapError(err, ErrNotFound, "not_found", "There is no credential %s.", QuoteID("credential", id))
	}
	if err != nil {
		return Credential{}, storeError(err, "read credential")
	}
	return c, nil
}

// runStep records step as intended, runs write, and completes the step by
// moving the rotation to state to with an audit event. If write fails the
// step is closed with a step_failed event and the state does not change.
// detail, if not nil, is called after write for the audit event's detail.
func (s *Service) runStep(ctx context.Context, r Rotation, actor, reason string, step Step, to State, action Action,
	detail func() string, write func(context.Context) (secretstore.Versions, error)) (Rotation, error) {
	log := s.log.With("rotation_id", r.ID, "credential_id", r.CredentialID, "step", step, "actor", actor)

	started, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version,
		To: r.State, NewStep: step, StepBy: actor, StepReason: reason})
	if errors.Is(err, ErrConflict) {
		return Rotation{}, wrapError(err, ErrConflict, "concurrent_change",
			"Rotation %s changed while you were looking at it. Reload it and try again.", r.ID)
	}
	if err != nil {
		return Rotation{}, storeError(err, fmt.Sprintf("start %s of rotation %s", step, r.ID))
	}
	crashpoint.Hit(string(step), "after-intent")

	// The write runs detached from the request, so a client that goes
	// away does not abort it half-way.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.stepTimeout)
	versions, werr := write(wctx)
	cancel()
	crashpoint.Hit(string(step), "after-backend")
	// Completing or closing the step also runs detached: it must be
	// recorded even if the client went away.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.stepTimeout)
	defer cancel()

	if werr != nil {
		log.WarnContext(ctx, "secrets manager step failed", "error", werr)
		if _, err := s.recordStep(rctx, Change{RotationID: r.ID, From: started.State, Version: started.Version, Step: step,
			To: started.State, Event: &Event{Actor: actor, Action: ActionStepFailed, Reason: reason, Detail: string(step) + " failed: " + safeBackendMessage(werr)}}); err != nil {
			log.ErrorContext(ctx, "record failed step", "error", err)
		}
		return Rotation{}, backendError(werr, string(step))
	}

	ev := &Event{Actor: actor, Action: action, Reason: reason}
	if detail != nil {
		ev.Detail = detail()
	}
	done, err := s.recordStep(rctx, Change{RotationID: r.ID, From: started.State, Version: started.Version, Step: step,
		To: to, Versions: &versions, Event: ev})
	if err != nil {
		log.ErrorContext(ctx, "complete step", "error", err)
		return Rotation{}, wrapError(err, ErrUnavailable, "step_unrecorded",
			"The %s step was made in the secrets manager, but rotor could not record it. rotor finishes it when it next starts; reload the rotation later.", step)
	}
	log.InfoContext(ctx, "rotation moved", "from", r.State, "to", done.State)
	return done, nil
}

// recordStep applies c, the end of a step whose write was made or failed,
// and retries while the database is unavailable until ctx ends. A
// Postgres restart during a step then delays the response instead of
// leaving the step for the next start-up. A retry that finds c already
// applied, because the response to an earlier commit was lost, returns
// the rotation as c left it.
func (s *Service) recordStep(ctx context.Context, c Change) (Rotation, error) {
	wait := 100 * time.Millisecond
	retried := false
	for {
		done, err := s.store.Apply(ctx, c)
		if errors.Is(err, ErrConflict) && retried {
			if r, gerr := s.store.GetRotation(ctx, c.RotationID); gerr == nil && r.Version == c.Version+1 && r.State == c.To && r.Step == StepNone {
				return r, nil
			}
		}
		if !errors.Is(err, ErrUnavailable) {
			return done, err
		}
		s.log.WarnContext(ctx, "database unavailable; retrying to record the step", "rotation_id", c.RotationID, "step", c.Step, "wait", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Rotation{}, err
		case <-timer.C:
		}
		retried = true
		wait = min(2*wait, 2*time.Second)
	}
}

// Recover finishes or reports every step that was recorded as intended
// and not completed, as after a crash. It repeats the writes that are
// idempotent (promote, roll back, retire, discard). It completes a stage
// only if the secrets manager holds a version staged for the rotation,
// because the secret itself was never persisted. A repeat that fails with
// a conflict, a missing version or an invalid secret closes the step with
// a step_failed event. A repeat that fails otherwise leaves the step for
// the next start.
//
// NOTE: Recover takes every unfinished step as abandoned. rotor serve calls
// it once at start-up, which is right for one process. With several
// processes on one database it could repeat a step that another process
// is still making; the repeat is idempotent and the later of the two
// completions fails on the rotation's version. RecoverStale is the variant
// for a running rotor.
func (s *Service) Recover(ctx context.Context) error {
	return s.recoverSteps(ctx, time.Time{}, "after a restart")
}

// staleSteps is how many step timeouts a step must be old before
// RecoverStale takes it as abandoned. A step that is still being made is
// younger: its backend write and then the recording of its outcome are
// each bounded by the step timeout.
const staleSteps = 3

// RecoverStale finishes, as Recover does, every unfinished step that
// started more than three step timeouts ago. Such a step was abandoned,
// for example because the database went away between the backend write
// and its record, and without this it would block its rotation until
// rotor restarts. The watch calls it each round.
func (s *Service) RecoverStale(ctx context.Context) error {
	return s.recoverSteps(ctx, s.now().Add(-staleSteps*s.stepTimeout), "after an interruption")
}

// recoverSteps recovers the unfinished steps that started before cutoff,
// or all of them when cutoff is zero. when ends the detail of each event.
func (s *Service) recoverSteps(ctx context.Context, cutoff time.Time, when string) error {
	unfinished, err := s.store.ListUnfinished(ctx)
	if err != nil {
		return fmt.Errorf("list unfinished steps: %w", err)
	}
	var errs []error
	for _, r := range unfinished {
		if !cutoff.IsZero() && !r.StepStartedAt.Before(cutoff) {
			continue
		}
		if err := s.recoverOne(ctx, r, when); err != nil {
			s.log.ErrorContext(ctx, "recover step", "rotation_id", r.ID, "credential_id", r.CredentialID, "step", r.Step, "error", err)
			errs = append(errs, fmt.Errorf("recover %s of rotation %s: %w", r.Step, r.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) recoverOne(ctx context.Context, r Rotation, when string) error {
	cred, err := s.credential(ctx, r.CredentialID)
	if err != nil {
		return err
	}
	store, ok := s.secrets[cred.ID]
	if !ok {
		return fmt.Errorf("no secrets manager configured for credential %s", cred.ID)
	}

	finish := func(to State, action Action, v secretstore.Versions, detail string) error {
		crashpoint.Hit("recover", string(r.Step), "after-backend")
		_, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, Step: r.Step, To: to, Versions: &v,
			Event: &Event{Actor: r.StepBy, Action: action, Reason: r.StepReason, Detail: detail + " (completed by rotor " + when + ")"}})
		if err == nil {
			s.log.InfoContext(ctx, "step recovered", "rotation_id", r.ID, "credential_id", r.CredentialID, "step", r.Step, "to", to)
		}
		return err
	}
	fail := func(detail string) error {
		crashpoint.Hit("recover", string(r.Step), "after-backend")
		_, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, Step: r.Step, To: r.State,
			Event: &Event{Actor: r.StepBy, Action: ActionStepFailed, Reason: r.StepReason, Detail: detail}})
		return err
	}

	// giveUp closes the step as failed when the repeated write failed in a
	// way that another repeat cannot fix: the secret changed while rotor
	// was down, or a version is gone. A step kept open would block every
	// action on the rotation, cancel and a compromise report included,
	// through every restart. After an unreachable backend or a denied
	// access the step stays for the next start.
	giveUp := func(err error) error {
		if !errors.Is(err, secretstore.ErrConflict) && !errors.Is(err, secretstore.ErrNotFound) && !errors.Is(err, secretstore.ErrInvalid) {
			return err
		}
		if ferr := fail(string(r.Step) + " could not be completed " + when + ": " + safeBackendMessage(err)); ferr != nil {
			return errors.Join(err, ferr)
		}
		return fmt.Errorf("closed the step as failed: %w", err)
	}

	switch r.Step {
	case StepStage:
		v, err := store.Staged(ctx, r.ID)
		if errors.Is(err, secretstore.ErrNotFound) {
			return fail("stage not completed before rotor stopped, and nothing is staged for this rotation; submit it again with the same new secret, not another one from Persium, and rotor reuses any part already written")
		}
		if err != nil {
			return err
		}
		return finish(StateNewIssued, ActionIssue, v, "stage resolved by a re-read of the secrets manager")
	case StepPromote:
		v, err := store.Promote(ctx, r.ID, r.Versions)
		if err != nil {
			return giveUp(err)
		}
		return finish(StateDualActive, ActionPromote, v, "promote repeated")
	case StepRollback:
		v, err := store.Rollback(ctx, r.ID, r.Versions)
		if err != nil {
			return giveUp(err)
		}
		return finish(StateNewIssued, ActionRollback, v, "rollback repeated")
	case StepRetire:
		mode := cred.RetireMode
		if r.Kind.Compromised() || !mode.Valid() {
			mode = secretstore.RetireDestroy
		}
		if err := store.Retire(ctx, r.ID, r.Versions, mode); err != nil {
			return giveUp(err)
		}
		return finish(StateOldRetired, ActionRetire, r.Versions, "old version "+string(r.Versions.Old)+" retired ("+string(mode)+")")
	case StepDiscard:
		if err := store.Discard(ctx, r.ID, r.Versions); err != nil {
			return giveUp(err)
		}
		return finish(StateCancelled, ActionCancel, r.Versions, "staged version "+string(r.Versions.Staged)+" discarded")
	}
	return fmt.Errorf("unknown step %q", r.Step)
}
