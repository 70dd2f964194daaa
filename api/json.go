package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
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
	r.Post("/credentials/{id}/incidents", s.jsonHandler(s.reportIncident))
	r.Get("/incidents/{id}", s.jsonHandler(s.getIncident))
	r.Post("/incidents/{id}/checklist", s.jsonHandler(s.addChecklistItem))
	r.Post("/incidents/{id}/checklist/{item}/done", s.jsonHandler(s.completeChecklistItem))
	r.Post("/incidents/{id}/persium-request", s.jsonHandler(s.sendPersiumRequest))
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
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"rotor could not encode the response."}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeJSON reads a request body into v: JSON only, within maxBody, valid
// UTF-8, no unknown fields, one value. An empty body is allowed when
// optional, and leaves v as it is. Messages name the field at fault but
// never quote the body, which may hold a secret.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: fmt.Sprintf("The request body is larger than %d bytes.", maxBody)}
	}
	if err != nil {
		return badRequest("invalid_body", "rotor could not read the request body.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("invalid_body", "The request body is empty; send a JSON object.")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: "Send the body as JSON with the header Content-Type: application/json."}
	}
	if !utf8.Valid(body) {
		return badRequest("invalid_body", "The request body is not valid UTF-8.")
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid_body", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("invalid_body", "The request body holds more than one JSON value; send one object.")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var (
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.As(err, &typeError) && typeError.Field != "":
		return fmt.Sprintf("The field %q must be a JSON %s.", typeError.Field, jsonType(typeError.Type.Kind().String()))
	case errors.As(err, &typeError):
		return "The request body must be a JSON object."
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The request body ends in the middle of a JSON value."
	}
	// encoding/json reports unknown fields only as text.
	const prefix = "json: unknown field "
	if msg := err.Error(); len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return fmt.Sprintf("The field %s is not part of this request; remove it.", msg[len(prefix):])
	}
	if errors.Is(err, errSecretNotString) {
		return `The field "secret" must be a JSON string.`
	}
	return "The request body is not a valid JSON object for this request."
}

var errSecretNotString = errors.New("secret must be a JSON string")

func jsonType(kind string) string {
	switch kind {
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return "number"
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
}

func toCredentialJSON(c rotation.Credential) credentialJSON {
	out := credentialJSON{
		ID: c.ID, Organisation: c.Organisation, OrganisationID: c.OrganisationID, ClientID: c.ClientID,
		AuthMethod:            c.AuthMethod,
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

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	creds, err := s.svc.Store().ListCredentials(r.Context())
	if err != nil {
		return err
	}
	out := make([]credentialJSON, len(creds))
	for i, c := range creds {
		out[i] = toCredentialJSON(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
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
		return c, &httpError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("There is no credential %q.", clip(id))}
	}
	return c, err
}

func (s *Server) rotation(r *http.Request) (rotation.Rotation, error) {
	id := chi.URLParam(r, "id")
	rot, err := s.svc.Store().GetRotation(r.Context(), id)
	if errors.Is(err, rotation.ErrNotFound) {
		return rot, &httpError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("There is no rotation %q.", clip(id))}
	}
	return rot, err
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}
