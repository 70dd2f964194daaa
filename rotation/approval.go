package rotation

import (
	"context"
	"fmt"
	"strings"
)

// ApprovalAction is an action that the four-eyes rule of a credential
// guards.
type ApprovalAction string

const (
	ApproveRetire      ApprovalAction = "retire"       // retiring the old secret
	ApproveForceRevoke ApprovalAction = "force_revoke" // recording that Persium revoked the old secret early
)

// Valid reports whether a is one of the actions above.
func (a ApprovalAction) Valid() bool { return a == ApproveRetire || a == ApproveForceRevoke }

// states returns the states in which a can be approved and done.
func (a ApprovalAction) states() []State {
	if a == ApproveRetire {
		return []State{StateDualActive}
	}
	return []State{StateRequested, StateNewIssued}
}

// approvalDetailPrefix starts the detail of every approved event; the
// action follows it.
const approvalDetailPrefix = "approved "

// Approve records that actor, a second operator, approves action on a
// rotation of a credential with the four-eyes rule. The approval holds
// until the rotation changes state, so a roll back and a new promotion
// need a new one. Approving what is already approved changes nothing.
//
// Errors: ErrInvalid for an unknown action; ErrConflict when the
// credential has no four-eyes rule, the rotation is in a state where the
// action cannot happen, or actor requested the rotation.
func (s *Service) Approve(ctx context.Context, actor, rotationID string, action ApprovalAction, reason string) (Rotation, error) {
	if !action.Valid() {
		return Rotation{}, newError(ErrInvalid, "invalid_action", "The action to approve must be retire or force_revoke, not %q.", truncate(string(action), 40))
	}
	if err := validText("reason", reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	r, err := s.rotation(ctx, rotationID)
	if err != nil {
		return Rotation{}, err
	}
	cred, err := s.credential(ctx, r.CredentialID)
	if err != nil {
		return Rotation{}, err
	}
	if !cred.FourEyes {
		return Rotation{}, newError(ErrConflict, "approval_not_required",
			"Credential %s has no four-eyes rule, so %s needs no approval. Go ahead with it.", cred.ID, action)
	}
	if !inStates(r.State, action.states()) {
		return Rotation{}, withPrefix(wrongState(r, action.states()...), fmt.Sprintf("A %s is approved in the state where it happens. ", action))
	}
	if r.Step != StepNone {
		return Rotation{}, newError(ErrConflict, "step_in_progress", "Rotation %s has a %s step in progress. Wait for it to finish and reload.", r.ID, r.Step)
	}
	if sameActor(actor, r.RequestedBy) {
		return Rotation{}, newError(ErrConflict, "approval_by_requester",
			"You requested rotation %s, so your approval does not count under the four-eyes rule of %s. Ask another operator to approve the %s.", r.ID, cred.ID, action)
	}
	if approver, err := s.approval(ctx, r, action); err != nil {
		return Rotation{}, err
	} else if approver != "" {
		return r, nil
	}

	done, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State,
		Event: &Event{Actor: actor, Action: ActionApproved, Reason: reason,
			Detail: approvalDetailPrefix + string(action) + " as the second operator; " + r.RequestedBy + " requested the rotation"}})
	if err != nil {
		return Rotation{}, storeError(err, "record the approval of rotation "+r.ID)
	}
	s.log.InfoContext(ctx, "four-eyes approval recorded", "rotation_id", r.ID, "credential_id", cred.ID, "action", action, "actor", actor)
	return done, nil
}

// approval returns who approved action on r since r entered its present
// state, or "" when no one did. An approval by the requester never counts.
func (s *Service) approval(ctx context.Context, r Rotation, action ApprovalAction) (string, error) {
	events, err := s.store.ListEvents(ctx, r.ID)
	if err != nil {
		return "", storeError(err, "read the events of rotation "+r.ID)
	}
	approver := ""
	for _, e := range events {
		if e.From != e.To {
			approver = "" // a change of state ends every earlier approval
			continue
		}
		if e.Action == ActionApproved && strings.HasPrefix(e.Detail, approvalDetailPrefix+string(action)+" ") && !sameActor(e.Actor, r.RequestedBy) {
			approver = e.Actor
		}
	}
	return approver, nil
}

// requireApproval returns nil when cred has no four-eyes rule or a second
// operator approved action on r, and otherwise an error that names who may
// approve and how. It returns the approver for the audit log.
func (s *Service) requireApproval(ctx context.Context, r Rotation, cred Credential, action ApprovalAction) (string, error) {
	if !cred.FourEyes {
		return "", nil
	}
	approver, err := s.approval(ctx, r, action)
	if err != nil {
		return "", err
	}
	if approver == "" {
		return "", newError(ErrConflict, "approval_required",
			"Credential %s has the four-eyes rule: an operator other than %s, who requested rotation %s, must approve the %s first (Approve on the rotation page, or POST /api/v1/rotations/%s/approve with {\"action\":%q}).",
			cred.ID, r.RequestedBy, r.ID, action, r.ID, string(action))
	}
	return approver, nil
}

func inStates(s State, states []State) bool {
	for _, want := range states {
		if s == want {
			return true
		}
	}
	return false
}

// sameActor reports whether two audit names are the same person. Names
// from the identity provider, such as e-mail addresses, compare without
// regard to case.
func sameActor(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// ApprovedBy returns who approved action on r since r entered its present
// state, or "" when no one did or r's credential has no four-eyes rule.
func (s *Service) ApprovedBy(ctx context.Context, r Rotation, action ApprovalAction) (string, error) {
	return s.approval(ctx, r, action)
}
