package api

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/rotation"
)

type approveBody struct {
	Action rotation.ApprovalAction `json:"action"`
	Reason string                  `json:"reason"`
}

// requirePerson returns an error for a principal that is an API token. The
// four-eyes rule asks for a second person, and a token could be used by
// the same person who requested the rotation.
func requirePerson(p Principal) error {
	if strings.HasPrefix(p.Name, tokenPrefix) {
		return &httpError{status: http.StatusForbidden, code: "person_required",
			message: "An approval under the four-eyes rule needs a person signed in to rotor, not an API token."}
	}
	return nil
}

// tokenPrefix starts the audit name of every API token principal.
const tokenPrefix = "token:"

func (s *Server) approve(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	if err := requirePerson(p); err != nil {
		return err
	}
	var body approveBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	rot, err := s.svc.Approve(r.Context(), p.Name, chi.URLParam(r, "id"), body.Action, body.Reason)
	if err != nil {
		return err
	}
	return s.writeRotation(w, r, http.StatusOK, rot)
}

func (s *Server) uiApprove(r *http.Request, actor, id string) (string, error) {
	if err := requirePerson(principal(r.Context())); err != nil {
		return "", err
	}
	_, err := s.svc.Approve(r.Context(), actor, id, rotation.ApprovalAction(r.PostFormValue("action")), r.PostFormValue("reason"))
	return "approved", err
}

// approvalsView is the four-eyes state of a rotation for its page.
type approvalsView struct {
	Required    bool   // the credential has the four-eyes rule
	Retire      string // who approved retirement, or ""
	ForceRevoke string // who approved recording the revocation, or ""
	CanApprove  bool   // the viewer may approve: an operator who did not request the rotation
}

func (s *Server) approvals(r *http.Request, rot rotation.Rotation, c rotation.Credential) (approvalsView, error) {
	if !c.FourEyes {
		return approvalsView{}, nil
	}
	v := approvalsView{Required: true}
	var err error
	if v.Retire, err = s.svc.ApprovedBy(r.Context(), rot, rotation.ApproveRetire); err != nil {
		return approvalsView{}, err
	}
	if v.ForceRevoke, err = s.svc.ApprovedBy(r.Context(), rot, rotation.ApproveForceRevoke); err != nil {
		return approvalsView{}, err
	}
	p := principal(r.Context())
	v.CanApprove = p.Role >= RoleOperator && requirePerson(p) == nil && !strings.EqualFold(p.Name, rot.RequestedBy)
	return v, nil
}
