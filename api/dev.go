package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/persiumsim"
)

// devRoutes serve the simulated Persium of `rotor dev`: JSON endpoints for
// scripts and form endpoints for the UI panel. They exist only when
// Options.Dev is set.
func (s *Server) devRoutes(r chi.Router) {
	r.Post("/dev/persium/clients/{client_id}/issue", s.jsonHandler(s.devIssue))
	r.Post("/dev/persium/clients/{client_id}/retire-old", s.jsonHandler(s.devRetireOld))
	r.Post("/simulated-persium/{client_id}/issue", s.uiHandler(s.devUIIssue))
	r.Post("/simulated-persium/{client_id}/retire-old", s.uiHandler(s.devUIRetireOld))
}

// devError explains why the simulated Persium refused an action.
func (s *Server) devError(clientID string, err error) error {
	s.log.Warn("simulated Persium refused", "client_id", clientID, "error", err)
	switch {
	case errors.Is(err, persiumsim.ErrNoRotatedSecret):
		return &httpError{status: http.StatusConflict, code: "no_old_secret",
			message: fmt.Sprintf("The simulated Persium has no old secret of client %q to retire: it was retired already, or no new secret was issued yet.", clip(clientID))}
	case errors.Is(err, persiumsim.ErrClientNotFound):
		return &httpError{status: http.StatusNotFound, code: "not_found",
			message: fmt.Sprintf("The simulated Persium has no client %q.", clip(clientID))}
	}
	return err
}

func (s *Server) devIssue(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleOperator); err != nil {
		return err
	}
	clientID := chi.URLParam(r, "client_id")
	v, err := s.dev.Issue(clientID)
	if err != nil {
		return s.devError(clientID, err)
	}
	// The one place rotor reveals a secret: the simulated Persium's
	// one-time response, as Persium's support would send it.
	writeJSON(w, http.StatusOK, map[string]string{"secret": v.Reveal()})
	return nil
}

func (s *Server) devRetireOld(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleOperator); err != nil {
		return err
	}
	clientID := chi.URLParam(r, "client_id")
	if err := s.dev.RetireOld(clientID); err != nil {
		return s.devError(clientID, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "old secret retired"})
	return nil
}

func (s *Server) devUIIssue(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleOperator); err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	clientID := chi.URLParam(r, "client_id")
	v, err := s.dev.Issue(clientID)
	if err != nil {
		return s.devError(clientID, err)
	}
	s.render(w, r, http.StatusOK, "issued", struct {
		page
		ClientID, Secret, Back string
	}{s.base(r, "New secret issued"), clientID, v.Reveal(), safeReturn(r.PostFormValue("return"))})
	return nil
}

func (s *Server) devUIRetireOld(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleOperator); err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	clientID := chi.URLParam(r, "client_id")
	if err := s.dev.RetireOld(clientID); err != nil {
		return s.devError(clientID, err)
	}
	back := safeReturn(r.PostFormValue("return"))
	if back == "/" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, back+"?done=persium-retired", http.StatusSeeOther)
	return nil
}
