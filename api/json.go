package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// maxBody bounds every request body. The largest legitimate body is a
// secret of rotation.MaxSecretBytes plus a reason.
const maxBody = 64 << 10

func (s *Server) jsonRoutes(r chi.Router) {
	r.Get("/credentials", s.jsonHandler(s.listCredentials))
	r.Get("/credentials/{id}", s.jsonHandler(s.getCredential))
	r.Post("/credentials/{id}/rotations", s.jsonHandler(s.requestRotation))
	r.Get("/rotations/{id}", s.jsonHandler(s.getRotation))
	r.Get("/rotations/{id}/events", s.jsonHandler(s.listEvents))
	r.Post("/rotations/{id}/issued", s.jsonHandler(s.recordIssued))
	r.Post("/rotations/{id}/promote", s.jsonHandler(s.promote))
	r.Post("/rotations/{id}/rollback", s.jsonHandler(s.rollback))
	r.Post("/rotations/{id}/retire", s.jsonHandler(s.retire))
	r.Post("/rotations/{id}/cancel", s.jsonHandler(s.cancel))
	r.Post("/rotations/{id}/resume", s.jsonHandler(s.resume))
	r.Post("/rotations/{id}/force-revoked", s.jsonHandler(s.forceRevoked))
	r.Post("/rotations/{id}/approve", s.jsonHandler(s.approve))
	r.Post("/credentials/{id}/incidents", s.jsonHandler(s.reportIncident))
	r.Get("/credentials/{id}/incidents", s.jsonHandler(s.listIncidents))
	r.Get("/incidents/{id}", s.jsonHandler(s.getIncident))
	r.Get("/audit", s.jsonHandler(s.listAudit))
	r.Post("/incidents/{id}/checklist", s.jsonHandler(s.addChecklistItem))
	r.Post("/incidents/{id}/checklist/{item}/done", s.jsonHandler(s.completeChecklistItem))
	r.Post("/incidents/{id}/persium-request", s.jsonHandler(s.sendPersiumRequest))
	s.tokenJSONRoutes(r)
}

// jsonHandler adapts a handler that returns an error.
func (s *Server) jsonHandler(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// writeJSON encodes v into a buffer first, so an encoding failure cannot
// leave a half-written response behind a 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	// Compact, because indenting a page of 100 credentials cost more CPU
	// than reading it from Postgres and encoding it (BENCHMARKS.md).
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"rotor could not encode the response."}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Responses.

type credentialJSON struct {
	ID                    string     `json:"id"`
	Organisation          string     `json:"organisation"`
	OrganisationID        string     `json:"organisation_id"`
	ClientID              string     `json:"client_id"`
	AuthMethod            string     `json:"auth_method"`
	RotationPeriodSeconds int64      `json:"rotation_period_seconds"`
	MinDualActiveSeconds  int64      `json:"min_dual_active_seconds"`
	OverlapSeconds        int64      `json:"overlap_seconds,omitempty"`
	Backend               string     `json:"backend"`
	SecretPath            string     `json:"secret_path"`
	RetireMode            string     `json:"retire_mode"`
	NextDueAt             time.Time  `json:"next_due_at"`
	LastRetiredAt         *time.Time `json:"last_retired_at"`
	OpenRotationID        *string    `json:"open_rotation_id"`
	FourEyes              bool       `json:"four_eyes"`
}

func toCredentialJSON(c rotation.Credential) credentialJSON {
	out := credentialJSON{
		ID: c.ID, Organisation: c.Organisation, OrganisationID: c.OrganisationID, ClientID: c.ClientID,
		AuthMethod: c.AuthMethod, FourEyes: c.FourEyes,
		RotationPeriodSeconds: int64(c.RotationPeriod / time.Second),
		MinDualActiveSeconds:  int64(c.MinDualActive / time.Second),
		OverlapSeconds:        int64(c.Overlap / time.Second),
		Backend:               c.Backend, SecretPath: c.SecretPath, RetireMode: string(c.RetireMode),
		NextDueAt:     c.NextDueAt(),
		LastRetiredAt: timePtr(c.LastRetiredAt),
	}
	if c.OpenRotationID != "" {
		id := c.OpenRotationID
		out.OpenRotationID = &id
	}
	return out
}

type rotationJSON struct {
	ID           string               `json:"id"`
	CredentialID string               `json:"credential_id"`
	Kind         rotation.Kind        `json:"kind"`
	State        rotation.State       `json:"state"`
	Revision     int64                `json:"revision"`
	Reason       string               `json:"reason"`
	Ticket       string               `json:"ticket"`
	RequestedBy  string               `json:"requested_by"`
	Step         *string              `json:"step"`
	Versions     secretstore.Versions `json:"versions"`
	NextAction   string               `json:"next_action"`
	RetireFrom   *time.Time           `json:"retire_available_at,omitempty"`
	CreatedAt    time.Time            `json:"created_at"`
	UpdatedAt    time.Time            `json:"updated_at"`
	IssuedAt     *time.Time           `json:"issued_at"`
	PromotedAt   *time.Time           `json:"promoted_at"`
	RetiredAt    *time.Time           `json:"retired_at"`
	CancelledAt  *time.Time           `json:"cancelled_at"`
	PausedAt     *time.Time           `json:"paused_at"`
	PauseReason  string               `json:"pause_reason,omitempty"`
	OldRevokedAt *time.Time           `json:"old_revoked_at"`

	// Warnings are set only in the response to the request that caused
	// them, such as the one that recorded the issued secret.
	Warnings []string `json:"warnings,omitempty"`
}

func toRotationJSON(r rotation.Rotation, c rotation.Credential, now time.Time) rotationJSON {
	next := rotation.Next(r, c, now)
	out := rotationJSON{
		ID: r.ID, CredentialID: r.CredentialID, Kind: r.Kind, State: r.State, Revision: r.Version,
		Reason: r.Reason, Ticket: r.Ticket, RequestedBy: r.RequestedBy, Versions: r.Versions,
		NextAction: next.Action,
		CreatedAt:  r.CreatedAt, UpdatedAt: r.UpdatedAt,
		IssuedAt: timePtr(r.IssuedAt), PromotedAt: timePtr(r.PromotedAt),
		RetiredAt: timePtr(r.RetiredAt), CancelledAt: timePtr(r.CancelledAt),
		PausedAt: timePtr(r.PausedAt), PauseReason: r.PauseReason,
		OldRevokedAt: timePtr(r.OldRevokedAt),
	}
	if r.Step != rotation.StepNone {
		step := string(r.Step)
		out.Step = &step
	}
	if next.Action == "retire" {
		out.RetireFrom = timePtr(next.After)
	}
	return out
}

type eventJSON struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action rotation.Action `json:"action"`
	From   *rotation.State `json:"from"`
	To     rotation.State  `json:"to"`
	Reason string          `json:"reason"`
	Detail string          `json:"detail"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Handlers.

// credentialListJSON is one page of the credential list. NextCursor is ""
// on the last page.
type credentialListJSON struct {
	Credentials []credentialJSON `json:"credentials"`
	NextCursor  string           `json:"next_cursor"`
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	after, limit, err := credentialPage(r)
	if err != nil {
		return err
	}
	creds, next, err := s.svc.Store().ListCredentialPage(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := credentialListJSON{Credentials: make([]credentialJSON, len(creds)), NextCursor: next.Encode()}
	for i, c := range creds {
		out.Credentials[i] = toCredentialJSON(c)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	c, err := s.credential(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCredentialJSON(c))
	return nil
}

type requestBody struct {
	Kind   rotation.Kind `json:"kind"`
	Reason string        `json:"reason"`
	Ticket string        `json:"ticket"`
}

func (s *Server) requestRotation(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body requestBody
	if err := decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	rot, err := s.svc.Request(r.Context(), p.Name, chi.URLParam(r, "id"), rotation.RequestInput{Kind: body.Kind, Reason: body.Reason, Ticket: body.Ticket})
	if err != nil {
		return err
	}
	return s.writeRotation(w, r, http.StatusCreated, rot)
}

func (s *Server) getRotation(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	rot, err := s.rotation(r)
	if err != nil {
		return err
	}
	return s.writeRotation(w, r, http.StatusOK, rot)
}

func (s *Server) writeRotation(w http.ResponseWriter, r *http.Request, status int, rot rotation.Rotation) error {
	c, err := s.svc.Store().GetCredential(r.Context(), rot.CredentialID)
	if err != nil {
		return err
	}
	writeJSON(w, status, toRotationJSON(rot, c, s.now()))
	return nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	rot, err := s.rotation(r)
	if err != nil {
		return err
	}
	events, err := s.svc.Store().ListEvents(r.Context(), rot.ID)
	if err != nil {
		return err
	}
	out := make([]eventJSON, len(events))
	for i, e := range events {
		out[i] = eventJSON{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, To: e.To, Reason: e.Reason, Detail: e.Detail}
		if e.From != "" {
			from := e.From
			out[i].From = &from
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}

type issuedBody struct {
	Secret        secretField         `json:"secret"`
	StagedVersion secretstore.Version `json:"staged_version"`
	Reason        string              `json:"reason"`
}

// secretField decodes a secret with an error that the decoder reports
// without the input.
type secretField struct{ secret.Value }

func (f *secretField) UnmarshalJSON(data []byte) error {
	if err := f.Value.UnmarshalJSON(data); err != nil {
		return errSecretNotString
	}
	return nil
}

func (s *Server) recordIssued(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body issuedBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.Secret.IsZero() && body.StagedVersion == "" {
		return badRequest("invalid_body", `Send the new secret as "secret", or the version to adopt as "staged_version".`)
	}
	issued, err := s.svc.RecordIssued(r.Context(), p.Name, chi.URLParam(r, "id"), rotation.IssuedInput{
		Secret: body.Secret.Value, StagedVersion: body.StagedVersion, Reason: body.Reason,
	})
	if err != nil {
		return err
	}
	c, err := s.svc.Store().GetCredential(r.Context(), issued.CredentialID)
	if err != nil {
		return err
	}
	out := toRotationJSON(issued.Rotation, c, s.now())
	if issued.CurrentRejected {
		out.Warnings = append(out.Warnings, currentRejectedWarning)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// currentRejectedWarning is the warning that consumers fail until the new
// secret is promoted.
const currentRejectedWarning = "The token endpoint already rejects the secret consumers use now, so they fail until you promote the new one. Persium may have issued a second secret, which drops the current one. Promote now."

type reasonBody struct {
	Reason string `json:"reason"`
}

func (s *Server) promote(w http.ResponseWriter, r *http.Request) error {
	return s.simpleTransition(w, r, s.svc.Promote)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	return s.simpleTransition(w, r, s.svc.Rollback)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) error {
	return s.simpleTransition(w, r, s.svc.Resume)
}

func (s *Server) simpleTransition(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, actor, id, reason string) (rotation.Rotation, error)) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body reasonBody
	if err := decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	rot, err := do(r.Context(), p.Name, chi.URLParam(r, "id"), body.Reason)
	if err != nil {
		return err
	}
	return s.writeRotation(w, r, http.StatusOK, rot)
}

type retireBody struct {
	PersiumConfirmed bool   `json:"persium_confirmed"`
	Reason           string `json:"reason"`
}

func (s *Server) retire(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body retireBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	rot, err := s.svc.Retire(r.Context(), p.Name, chi.URLParam(r, "id"), rotation.RetireInput{PersiumConfirmed: body.PersiumConfirmed, Reason: body.Reason})
	if err != nil {
		return err
	}
	return s.writeRotation(w, r, http.StatusOK, rot)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body reasonBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	rot, err := s.svc.Cancel(r.Context(), p.Name, chi.URLParam(r, "id"), body.Reason)
	if err != nil {
		return err
	}
	return s.writeRotation(w, r, http.StatusOK, rot)
}

// credential and rotation read the path parameter "id" in one place.
func (s *Server) credential(r *http.Request) (rotation.Credential, error) {
	id := chi.URLParam(r, "id")
	c, err := s.svc.Store().GetCredential(r.Context(), id)
	if errors.Is(err, rotation.ErrNotFound) {
		return c, &httpError{status: http.StatusNotFound, code: "not_found", message: "There is no credential " + rotation.QuoteID("credential", id) + "."}
	}
	return c, err
}

func (s *Server) rotation(r *http.Request) (rotation.Rotation, error) {
	id := chi.URLParam(r, "id")
	rot, err := s.svc.Store().GetRotation(r.Context(), id)
	if errors.Is(err, rotation.ErrNotFound) {
		return rot, &httpError{status: http.StatusNotFound, code: "not_found", message: "There is no rotation " + rotation.QuoteID("rotation", id) + "."}
	}
	return rot, err
}

// clip cuts s to at most 64 bytes for a message, at a rune boundary.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	n := 64
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
