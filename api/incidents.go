package api

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/rotation"
)

// incidentData is everything the JSON, HTML and Markdown views of one
// incident show.
type incidentData struct {
	Incident   rotation.Incident
	Rotation   rotation.Rotation
	Credential rotation.Credential
	Timeline   []rotation.TimelineEntry
}

// loadIncident reads an incident with its rotation, credential and
// timeline.
func (s *Server) loadIncident(r *http.Request, id string) (incidentData, error) {
	inc, err := s.svc.Incident(r.Context(), id)
	if err != nil {
		return incidentData{}, err
	}
	rot, err := s.svc.Store().GetRotation(r.Context(), inc.RotationID)
	if err != nil {
		return incidentData{}, err
	}
	c, err := s.svc.Store().GetCredential(r.Context(), inc.CredentialID)
	if err != nil {
		return incidentData{}, err
	}
	timeline, err := s.svc.IncidentTimeline(r.Context(), inc)
	if err != nil {
		return incidentData{}, err
	}
	return incidentData{Incident: inc, Rotation: rot, Credential: c, Timeline: timeline}, nil
}

// entries returns the timeline's entries of the given actions, oldest first.
func (d incidentData) entries(actions ...rotation.IncidentAction) []rotation.TimelineEntry {
	var out []rotation.TimelineEntry
	for _, e := range d.Timeline {
		for _, a := range actions {
			if e.Action == string(a) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// notifications returns the outcomes of the urgent messages to the team.
func (d incidentData) notifications() []rotation.TimelineEntry {
	return d.entries(rotation.IncidentNotified, rotation.IncidentNotifyFailed)
}

// persiumRequests returns the attempts to e-mail Persium.
func (d incidentData) persiumRequests() []rotation.TimelineEntry {
	return d.entries(rotation.IncidentPersiumSent, rotation.IncidentPersiumSendFailed)
}

// Responses.

type incidentJSON struct {
	ID            string                `json:"id"`
	CredentialID  string                `json:"credential_id"`
	RotationID    string                `json:"rotation_id"`
	RotationState rotation.State        `json:"rotation_state"`
	What          rotation.IncidentWhat `json:"what"`
	DetectedAt    time.Time             `json:"detected_at"`
	ReportedAt    time.Time             `json:"reported_at"`
	ReportedBy    string                `json:"reported_by"`
	Reference     string                `json:"reference"`
	Details       string                `json:"details"`
	ForceRevoke   bool                  `json:"force_revoke"`
	Departing     string                `json:"departing,omitempty"`
	RotationKind  rotation.Kind         `json:"rotation_kind"`
	Escalated     bool                  `json:"escalated"`
	EscalatedFrom *rotation.Kind        `json:"escalated_from"`
	Status        string                `json:"status"` // "open" or "closed"
	ClosedAt      *time.Time            `json:"closed_at"`
	OldRevokedAt  *time.Time            `json:"old_revoked_at"`
	ItemsLeft     int                   `json:"items_left"`
	Checklist     []checklistItemJSON   `json:"checklist"`
	Notifications []notificationJSON    `json:"notifications"`
	Clock         clockJSON             `json:"clock"`
	RequestText   string                `json:"request_text"`

	// PersiumMailRoute is the address and channel that POST
	// …/persium-request e-mails RequestText through, and "" when rotor is
	// not configured to send it.
	PersiumMailRoute string            `json:"persium_mail_route"`
	PersiumRequests  []persiumMailJSON `json:"persium_requests"`
}

// persiumMailJSON is one attempt to e-mail the urgent request to Persium.
type persiumMailJSON struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Status string    `json:"status"` // "sent" or "failed"
	Detail string    `json:"detail"`
}

type checklistItemJSON struct {
	Item    int        `json:"item"`
	Title   string     `json:"title"`
	AddedBy string     `json:"added_by"`
	AddedAt time.Time  `json:"added_at"`
	Done    bool       `json:"done"`
	DoneBy  *string    `json:"done_by"`
	DoneAt  *time.Time `json:"done_at"`
	Note    string     `json:"note,omitempty"`
}

type notificationJSON struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"` // "sent" or "failed"
	Detail string    `json:"detail"`
}

// clockJSON counts seconds from the report. A pending step counts up to now.
type clockJSON struct {
	SinceReportSeconds    int64 `json:"since_report_seconds"`
	ToNewSecretSeconds    int64 `json:"to_new_secret_seconds"`
	NewSecretPending      bool  `json:"new_secret_pending"`
	RotationCancelled     bool  `json:"rotation_cancelled"`
	NewSecretBeforeReport bool  `json:"new_secret_before_report"`
	ToRetirementSeconds   int64 `json:"to_retirement_seconds"`
	RetirementPending     bool  `json:"retirement_pending"`
}

func (s *Server) toIncidentJSON(d incidentData) incidentJSON {
	inc := d.Incident
	out := incidentJSON{
		ID: inc.ID, CredentialID: inc.CredentialID, RotationID: inc.RotationID, RotationState: d.Rotation.State,
		What: inc.What, DetectedAt: inc.DetectedAt, ReportedAt: inc.ReportedAt, ReportedBy: inc.ReportedBy,
		Reference: inc.Reference, Details: inc.Details, ForceRevoke: inc.ForceRevoke, Escalated: inc.Escalated(),
		Departing: inc.Departing, RotationKind: d.Rotation.Kind,
		Status: "open", ClosedAt: timePtr(inc.ClosedAt), OldRevokedAt: timePtr(d.Rotation.OldRevokedAt),
		ItemsLeft: inc.ItemsLeft(), Checklist: make([]checklistItemJSON, len(inc.Checklist)),
		Notifications:    []notificationJSON{},
		RequestText:      rotation.RequestText(d.Credential, d.Rotation, &inc),
		PersiumMailRoute: s.svc.PersiumRoute(),
		PersiumRequests:  []persiumMailJSON{},
	}
	if !inc.Open() {
		out.Status = "closed"
	}
	if inc.Escalated() {
		from := inc.EscalatedFrom
		out.EscalatedFrom = &from
	}
	for i, it := range inc.Checklist {
		out.Checklist[i] = checklistItemJSON{Item: it.Item, Title: it.Title, AddedBy: it.AddedBy, AddedAt: it.AddedAt,
			Done: it.Done(), DoneAt: timePtr(it.DoneAt), Note: it.Note}
		if it.Done() {
			by := it.DoneBy
			out.Checklist[i].DoneBy = &by
		}
	}
	for _, e := range d.notifications() {
		status := "sent"
		if e.Action == string(rotation.IncidentNotifyFailed) {
			status = "failed"
		}
		out.Notifications = append(out.Notifications, notificationJSON{At: e.At, Status: status, Detail: e.Detail})
	}
	for _, e := range d.persiumRequests() {
		status := "sent"
		if e.Action == string(rotation.IncidentPersiumSendFailed) {
			status = "failed"
		}
		out.PersiumRequests = append(out.PersiumRequests, persiumMailJSON{At: e.At, By: e.Actor, Status: status, Detail: e.Detail})
	}
	c := inc.Clock(d.Rotation, s.now())
	out.Clock = clockJSON{
		SinceReportSeconds: int64(c.SinceReport / time.Second),
		ToNewSecretSeconds: int64(c.ToNewSecret / time.Second), NewSecretPending: c.NewSecretPending, NewSecretBeforeReport: c.NewSecretBeforeReport,
		RotationCancelled:   c.RotationCancelled,
		ToRetirementSeconds: int64(c.ToRetirement / time.Second), RetirementPending: c.RetirementPending,
	}
	return out
}

func (s *Server) writeIncident(w http.ResponseWriter, r *http.Request, status int, id string) error {
	d, err := s.loadIncident(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, status, s.toIncidentJSON(d))
	return nil
}

// JSON handlers.

type reportBody struct {
	What        rotation.IncidentWhat `json:"what"`
	DetectedAt  string                `json:"detected_at"`
	Reference   string                `json:"reference"`
	Details     string                `json:"details"`
	ForceRevoke bool                  `json:"force_revoke"`
	Departing   string                `json:"departing"`
}

// parseDetectedAt reads an RFC 3339 time. An empty value is the zero time,
// which the service rejects with its own message.
func parseDetectedAt(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badRequest("invalid_detected_at", "detected_at must be an RFC 3339 time with its UTC offset, such as 2026-03-01T09:30:00Z.")
	}
	return t, nil
}

func (s *Server) reportIncident(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body reportBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	detected, err := parseDetectedAt(body.DetectedAt)
	if err != nil {
		return err
	}
	rep, err := s.svc.ReportCompromise(r.Context(), p.Name, chi.URLParam(r, "id"), rotation.ReportInput{
		What: body.What, DetectedAt: detected, Reference: body.Reference, Details: body.Details, ForceRevoke: body.ForceRevoke,
		Departing: body.Departing,
	})
	if err != nil {
		return err
	}
	return s.writeIncident(w, r, http.StatusCreated, rep.Incident.ID)
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	d, err := s.loadIncident(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toIncidentJSON(d))
	return nil
}

// incidentSummaryJSON is one incident in a credential's list.
type incidentSummaryJSON struct {
	ID         string                `json:"id"`
	RotationID string                `json:"rotation_id"`
	What       rotation.IncidentWhat `json:"what"`
	ReportedAt time.Time             `json:"reported_at"`
	ReportedBy string                `json:"reported_by"`
	Status     string                `json:"status"` // "open" or "closed"
	ItemsLeft  int                   `json:"items_left"`
}

// listIncidents returns a credential's incidents, newest first, so that a
// script that lost the response of a report can find its incident again.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	c, err := s.credential(r)
	if err != nil {
		return err
	}
	incs, err := s.svc.ListIncidents(r.Context(), c.ID)
	if err != nil {
		return err
	}
	out := struct {
		Incidents []incidentSummaryJSON `json:"incidents"`
	}{Incidents: make([]incidentSummaryJSON, len(incs))}
	for i, inc := range incs {
		status := "open"
		if !inc.Open() {
			status = "closed"
		}
		out.Incidents[i] = incidentSummaryJSON{ID: inc.ID, RotationID: inc.RotationID, What: inc.What,
			ReportedAt: inc.ReportedAt, ReportedBy: inc.ReportedBy, Status: status, ItemsLeft: inc.ItemsLeft()}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type itemBody struct {
	Title string `json:"title"`
}

func (s *Server) addChecklistItem(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body itemBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	inc, err := s.svc.AddChecklistItem(r.Context(), p.Name, chi.URLParam(r, "id"), body.Title)
	if err != nil {
		return err
	}
	return s.writeIncident(w, r, http.StatusCreated, inc.ID)
}

// sendPersiumRequest e-mails the incident's urgent request to Persium.
// The body is optional and, when present, an empty object.
func (s *Server) sendPersiumRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	var body struct{}
	if err := decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	inc, err := s.svc.SendPersiumRequest(r.Context(), p.Name, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	return s.writeIncident(w, r, http.StatusOK, inc.ID)
}

type noteBody struct {
	Note string `json:"note"`
}

// checklistItem reads the path parameter "item": a positive number.
func checklistItem(r *http.Request) (int, error) {
	raw := chi.URLParam(r, "item")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, &httpError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("There is no checklist item %q; items are numbered from 1.", clip(raw))}
	}
	return n, nil
}

func (s *Server) completeChecklistItem(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	item, err := checklistItem(r)
	if err != nil {
		return err
	}
	var body noteBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	inc, err := s.svc.CompleteChecklistItem(r.Context(), p.Name, chi.URLParam(r, "id"), item, body.Note)
	if err != nil {
		return err
	}
	return s.writeIncident(w, r, http.StatusOK, inc.ID)
}

func (s *Server) forceRevoked(w http.ResponseWriter, r *http.Request) error {
	return s.simpleTransition(w, r, s.svc.RecordForceRevoked)
}

// UI handlers.

// parseFormTime reads a time from a form: the browser's datetime-local
// value in the display zone, or RFC 3339. Empty means now.
func (s *Server) parseFormTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return s.now(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, v, s.loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("invalid_detected_at",
		fmt.Sprintf("The detection time is not a date and time such as 2026-03-01 09:30 (in %s); leave it empty for now.", s.loc))
}

// uiReport handles the "Report a compromise" form of the dashboard, which
// names the credential in the field "credential", and of a credential page.
func (s *Server) uiReport(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	credentialID := chi.URLParam(r, "id")
	fromDashboard := credentialID == ""
	if fromDashboard {
		credentialID = r.PostFormValue("credential")
	}
	rep, err := s.report(r, p, credentialID)
	if err == nil {
		http.Redirect(w, r, "/incidents/"+url.PathEscape(rep.Incident.ID)+"?done=reported", http.StatusSeeOther)
		return nil
	}

	// A report the operator can fix comes back on the page it was sent
	// from, with the message and everything typed, so nothing is lost.
	status, code, message, internal := describe(err, "")
	if internal || status == http.StatusForbidden || status == http.StatusUnauthorized || (status == http.StatusNotFound && !fromDashboard) {
		return err
	}
	form := maps.Clone(r.PostForm)
	// Free text that contains a secret is never sent back in a page, also
	// when another check failed first and the secret went unnoticed.
	if code == "secret_in_text" || s.svc.TextContainsSecret(r.Context(), credentialID, form.Get("reference"), form.Get("details")) {
		delete(form, "reference")
		delete(form, "details")
	}
	if fromDashboard {
		return s.renderDashboard(w, r, status, message, form)
	}
	return s.renderCredential(w, r, status, message, form)
}

// report reads the report form and reports the compromise.
func (s *Server) report(r *http.Request, p Principal, credentialID string) (rotation.Report, error) {
	if credentialID == "" {
		return rotation.Report{}, badRequest("invalid_form", "Choose the credential whose secret may have leaked.")
	}
	detected, err := s.parseFormTime(r.PostFormValue("detected_at"))
	if err != nil {
		return rotation.Report{}, err
	}
	return s.svc.ReportCompromise(r.Context(), p.Name, credentialID, rotation.ReportInput{
		What: rotation.IncidentWhat(r.PostFormValue("what")), DetectedAt: detected,
		Reference: r.PostFormValue("reference"), Details: r.PostFormValue("details"),
		ForceRevoke: r.PostFormValue("force_revoke") == "true",
		Departing:   departingField(r),
	})
}

// clockView is an incident's clock as the page shows it.
type clockView struct {
	SinceReport, ToNewSecret, ToRetirement string
}

func (s *Server) clockView(d incidentData) clockView {
	c := d.Incident.Clock(d.Rotation, s.now())
	v := clockView{SinceReport: rotation.FormatElapsed(c.SinceReport)}
	switch {
	case c.RotationCancelled && d.Rotation.IssuedAt.IsZero():
		v.ToNewSecret = "none: the rotation was cancelled first"
	case c.NewSecretBeforeReport:
		v.ToNewSecret = "issued before the report"
	case c.NewSecretPending:
		v.ToNewSecret = "waiting, " + rotation.FormatElapsed(c.ToNewSecret) + " so far"
	default:
		v.ToNewSecret = rotation.FormatElapsed(c.ToNewSecret)
	}
	switch {
	case c.RotationCancelled:
		v.ToRetirement = "none: the rotation was cancelled, and a later emergency or offboarding rotation retires the secret"
	case c.RetirementPending:
		v.ToRetirement = "waiting, " + rotation.FormatElapsed(c.ToRetirement) + " so far"
	default:
		v.ToRetirement = rotation.FormatElapsed(c.ToRetirement)
	}
	if !d.Incident.Open() {
		v.SinceReport += " (closed)"
	}
	return v
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderIncident(w, r, http.StatusOK, "")
}

// renderIncident renders an incident's page with status. A formError that
// is not empty is shown above the forms, in place of any notice.
func (s *Server) renderIncident(w http.ResponseWriter, r *http.Request, status int, formError string) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	d, err := s.loadIncident(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	base := s.base(r, "Incident on "+d.Credential.ID)
	base.Error = formError
	if formError != "" {
		base.Notice = ""
	}
	failed := 0
	notifications := d.notifications()
	for _, n := range notifications {
		if n.Action == string(rotation.IncidentNotifyFailed) {
			failed++
		}
	}
	s.render(w, r, status, "incident", struct {
		page
		incidentData
		Next             rotation.NextAction
		Clock            clockView
		RequestText      string
		PersiumMailRoute string
		PersiumRequests  []rotation.TimelineEntry
		Notifications    []rotation.TimelineEntry
		Failed           int
		CanOperate       bool
	}{
		page: base, incidentData: d, Next: rotation.Next(d.Rotation, d.Credential, s.now()), Clock: s.clockView(d),
		RequestText:      rotation.RequestText(d.Credential, d.Rotation, &d.Incident),
		PersiumMailRoute: s.svc.PersiumRoute(), PersiumRequests: d.persiumRequests(),
		Notifications: notifications, Failed: failed,
		CanOperate: principal(r.Context()).Role >= RoleOperator,
	})
	return nil
}

// incidentResult redirects to the incident page after a success, and
// re-renders the page with the error after a failure that belongs to the
// form.
func (s *Server) incidentResult(w http.ResponseWriter, r *http.Request, incidentID, done string, err error) error {
	if err == nil {
		http.Redirect(w, r, "/incidents/"+url.PathEscape(incidentID)+"?done="+done, http.StatusSeeOther)
		return nil
	}
	status, _, message, internal := describe(err, "")
	// An unknown incident gets the error page; an unknown item is an error
	// of the form on the incident's page.
	unknownIncident := status == http.StatusNotFound && chi.URLParam(r, "item") == ""
	if internal || unknownIncident || status == http.StatusForbidden {
		return err
	}
	return s.renderIncident(w, r, status, message)
}

func (s *Server) uiAddItem(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	_, err = s.svc.AddChecklistItem(r.Context(), p.Name, id, r.PostFormValue("title"))
	return s.incidentResult(w, r, id, "item-added", err)
}

func (s *Server) uiCompleteItem(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	item, err := checklistItem(r)
	if err != nil {
		return s.incidentResult(w, r, id, "", err)
	}
	inc, err := s.svc.CompleteChecklistItem(r.Context(), p.Name, id, item, r.PostFormValue("note"))
	done := "item-done"
	if err == nil && !inc.Open() {
		done = "incident-closed"
	}
	return s.incidentResult(w, r, id, done, err)
}

func (s *Server) uiSendPersiumRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	_, err = s.svc.SendPersiumRequest(r.Context(), p.Name, id)
	return s.incidentResult(w, r, id, "persium-sent", err)
}

func (s *Server) uiForceRevoked(r *http.Request, actor, id string) (string, error) {
	_, err := s.svc.RecordForceRevoked(r.Context(), actor, id, r.PostFormValue("reason"))
	return "force-revoked", err
}

// incidentMarkdown serves the incident as a Markdown document for the
// post-mortem.
func (s *Server) incidentMarkdown(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	d, err := s.loadIncident(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	body := s.markdown(d)
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="incident-`+d.Incident.ID+`.md"`)
	_, _ = w.Write([]byte(body))
	return nil
}

// departingField returns the form's departing person. The report forms
// show the field for every kind of compromise, so a name typed before the
// operator chose another kind is dropped instead of rejected.
func departingField(r *http.Request) string {
	if rotation.IncidentWhat(r.PostFormValue("what")) != rotation.WhatOffboarding {
		return ""
	}
	return strings.TrimSpace(r.PostFormValue("departing"))
}

// markdown renders d as Markdown. Text that operators typed is escaped, so
// it reads as typed and cannot add headings, links or HTML.
func (s *Server) markdown(d incidentData) string {
	inc, c, rot := d.Incident, d.Credential, d.Rotation
	when := func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.In(s.loc).Format("2006-01-02 15:04:05 MST")
	}
	var b strings.Builder
	status := "open"
	if !inc.Open() {
		status = "closed " + when(inc.ClosedAt)
	}
	fmt.Fprintf(&b, "# Incident %s: suspected compromise of %s\n\n", inc.ID, mdEscape(c.ID))
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	row("Status", status)
	row("Credential", mdEscape(c.ID)+" ("+mdEscape(c.Organisation)+", client ID `"+strings.ReplaceAll(c.ClientID, "`", "")+"`)")
	row("What happened", mdEscape(inc.What.Describe())+" (`"+string(inc.What)+"`)")
	if inc.Departing != "" {
		row("Departing person", mdEscape(inc.Departing))
	}
	row("Detected", when(inc.DetectedAt))
	row("Reported", when(inc.ReportedAt)+" by "+mdEscape(inc.ReportedBy))
	if inc.Reference != "" {
		row("Reference", mdEscape(inc.Reference))
	}
	forceRevoke := "no: keep the old secret until the new one is deployed"
	if inc.ForceRevoke {
		forceRevoke = "yes: revoke the old secret at once"
	}
	row("Persium asked to revoke", forceRevoke)
	rotText := fmt.Sprintf("%s, %s", rot.ID, rot.State)
	if inc.Escalated() {
		rotText += fmt.Sprintf(" (a %s rotation turned into %s)", inc.EscalatedFrom, rot.Kind)
	}
	row("Rotation", rotText)
	if !rot.OldRevokedAt.IsZero() {
		row("Old secret revoked early", when(rot.OldRevokedAt))
	}
	clock := s.clockView(d)
	row("Time since the report", clock.SinceReport)
	row("Time to new secret", clock.ToNewSecret)
	row("Time to retirement", clock.ToRetirement)
	if inc.Details != "" {
		fmt.Fprintf(&b, "\n## Details\n\n%s\n", mdEscape(inc.Details))
	}

	fmt.Fprintf(&b, "\n## Blast-radius checklist\n\n")
	for _, it := range inc.Checklist {
		if it.Done() {
			fmt.Fprintf(&b, "- [x] %d. %s: done by %s on %s. %s\n", it.Item, mdEscape(it.Title), mdEscape(it.DoneBy), when(it.DoneAt), mdEscape(it.Note))
		} else {
			fmt.Fprintf(&b, "- [ ] %d. %s (added by %s)\n", it.Item, mdEscape(it.Title), mdEscape(it.AddedBy))
		}
	}

	fmt.Fprintf(&b, "\n## Timeline\n\n| Time | Who | What | Detail |\n|---|---|---|---|\n")
	for _, e := range d.Timeline {
		what := e.Source + " " + e.Action
		if e.Source == "rotation" && e.To != "" {
			what += " → " + string(e.To)
		}
		if e.Item != 0 {
			what += fmt.Sprintf(" (item %d)", e.Item)
		}
		detail := e.Detail
		if e.Reason != "" {
			detail = "Reason: " + e.Reason + ". " + detail
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", when(e.At), mdEscape(e.Actor), what, mdEscape(detail))
	}

	fmt.Fprintf(&b, "\n## Urgent request to Persium\n\n")
	fmt.Fprintf(&b, "As rotor words it for the rotation's state at this export; the timeline above lists each e-mail rotor sent to Persium.\n\n")
	for _, line := range strings.Split(strings.TrimRight(rotation.RequestText(c, rot, &inc), "\n"), "\n") {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	return b.String()
}

// mdEscape makes operator text safe inside a Markdown paragraph or table
// cell: every ASCII punctuation character that Markdown interprets gets a
// backslash, and line breaks become spaces.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case strings.ContainsRune("\\`*_[]<>#|!~&", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
