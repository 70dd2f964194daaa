package api

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/web"
	"github.com/rotorhq/rotor/window"
)

// pageNames lists every page template. parsePages fails if one is missing.
var pageNames = []string{"dashboard", "credential", "rotation", "issued", "incident", "tokens", "audit", "error"}

type pages struct {
	byName map[string]*template.Template
}

func parsePages(funcs template.FuncMap) (*pages, error) {
	p := &pages{byName: make(map[string]*template.Template)}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(web.Templates, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

func (s *Server) templateFuncs() template.FuncMap {
	return template.FuncMap{
		"fmtTime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.loc).Format("2006-01-02 15:04 MST")
		},
		"duration": formatDuration,
		"offset":   rotation.DescribeOffset,
	}
}

// formatDuration prints whole days as days, the rest as Go does.
func formatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		days := d / (24 * time.Hour)
		if days == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", days)
	}
	if d == 0 {
		return "none"
	}
	return d.String()
}

// page holds the fields every page template receives besides its own data.
type page struct {
	Title     string
	Principal Principal
	Dev       bool
	Notice    string
	NoticeKey string // the "done" key of Notice, for the element's id
	Error     string

	// Form is the form that Error rejected, shown again so that nothing
	// typed is lost; nil otherwise.
	Form url.Values
}

// render executes a page into a buffer, and writes status and headers only
// once it succeeded.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.byName[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "rotor could not render this page; see rotor's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) base(r *http.Request, title string) page {
	done := r.URL.Query().Get("done")
	p := page{Title: title, Principal: principal(r.Context()), Dev: s.dev != nil}
	if n, ok := notices[done]; ok {
		p.Notice, p.NoticeKey = n, done
	}
	return p
}

// notices are the confirmations shown after a redirect, keyed by the
// "done" query parameter, so no free text travels in a URL.
var notices = map[string]string{
	"requested":               "Rotation requested. Send Persium the text below.",
	"issued":                  "The token endpoint accepted the new secret, and it is staged. Consumers still read the old one.",
	"issued-current-rejected": "The new secret is staged, but the token endpoint already rejects the secret consumers use now, so they fail until you promote. Persium may have issued a second secret, which drops the current one. Promote now.",
	"in-progress":             "That step is already in progress, probably from a second click. This page shows its latest state.",
	"repeated":                "That step already happened, probably from a second click. This page shows its latest state.",
	"resumed":                 "Resumed: rotor checks the secret again before every step.",
	"promoted":                "Promoted: consumers now read the new secret. The old one still works until Persium retires it.",
	"retired":                 "The old secret is retired: the token endpoint rejects it, and its version is retired in the secrets manager.",
	"rolledback":              "Rolled back: consumers read the old secret again.",
	"cancelled":               "Rotation cancelled.",
	"persium-retired":         "The simulated Persium retired the old secret.",
	"reported":                "Compromise reported, and its rotation is open. Send Persium the urgent request below now, then follow the rotation's next step.",
	"force-revoked":           "Recorded: Persium revoked the old secret. Consumers on it fail until you promote, so promote and retire no longer wait for the low-traffic window or the minimum time in dual_active.",
	"item-added":              "Checklist item added.",
	"approved":                "Your approval is recorded. The operator can go ahead now.",
	"persium-sent":            "The urgent request was e-mailed to Persium's support. Watch for their reply, then record the new secret on the rotation.",
	"item-done":               "Checklist item ticked; the tick is in the audit log with your name.",
	"incident-closed":         "Checklist item ticked. The rotation is retired and every item is done, so the incident is closed.",
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	heading := http.StatusText(status)
	if heading == "" {
		heading = "Error"
	}
	s.render(w, r, status, "error", struct {
		page
		Heading, Message string
	}{s.base(r, heading), heading, message})
}

// uiHandler adapts an HTML handler that returns an error.
func (s *Server) uiHandler(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// staticFiles serves the style sheet. It needs no session, because the
// sign-in pages use it too, and it holds nothing but public assets.
func staticFiles() http.Handler {
	static, _ := fs.Sub(web.Static, "static")
	return http.StripPrefix("/static/", http.FileServerFS(static))
}

func (s *Server) uiRoutes(r chi.Router) {
	r.Get("/", s.uiHandler(s.dashboard))
	r.Get("/credentials/{id}", s.uiHandler(s.credentialPage))
	r.Post("/credentials/{id}/rotations", s.uiHandler(s.uiRequest))
	r.Get("/rotations/{id}", s.uiHandler(s.rotationPage))
	// A second paste is not harmless: it may carry another secret, and its
	// conflict must show.
	r.Post("/rotations/{id}/issued", s.uiTransition("", rotation.StepNone, s.uiIssued))
	r.Post("/rotations/{id}/promote", s.uiTransition(rotation.StateDualActive, rotation.StepPromote, s.uiPromote))
	r.Post("/rotations/{id}/rollback", s.uiTransition(rotation.StateNewIssued, rotation.StepRollback, s.uiRollback))
	r.Post("/rotations/{id}/retire", s.uiTransition(rotation.StateOldRetired, rotation.StepRetire, s.uiRetire))
	r.Post("/rotations/{id}/cancel", s.uiTransition(rotation.StateCancelled, rotation.StepDiscard, s.uiCancel))
	r.Post("/rotations/{id}/resume", s.uiTransition("", rotation.StepNone, s.uiResume))
	r.Post("/rotations/{id}/force-revoked", s.uiTransition("", rotation.StepNone, s.uiForceRevoked))
	r.Post("/rotations/{id}/approve", s.uiTransition("", rotation.StepNone, s.uiApprove))
	r.Post("/incidents", s.uiHandler(s.uiReport))
	r.Post("/credentials/{id}/incidents", s.uiHandler(s.uiReport))
	r.Get("/incidents/{id}", s.uiHandler(s.incidentPage))
	r.Get("/audit", s.uiHandler(s.auditPage))
	r.Get("/incidents/{id}.md", s.uiHandler(s.incidentMarkdown))
	r.Post("/incidents/{id}/checklist", s.uiHandler(s.uiAddItem))
	r.Post("/incidents/{id}/persium-request", s.uiHandler(s.uiSendPersiumRequest))
	r.Post("/incidents/{id}/checklist/{item}/done", s.uiHandler(s.uiCompleteItem))
	s.tokenUIRoutes(r)
}

// windowView describes a credential's low-traffic window at now.
type windowView struct {
	Text      string // the window as configured; empty for none
	NextStart string // the current or next window's start, in the display zone
	Inside    bool
}

func (s *Server) window(c rotation.Credential) windowView {
	if c.Window == "" {
		return windowView{}
	}
	w, err := window.Parse(c.Window)
	if err != nil {
		return windowView{Text: c.Window + " (cannot be read; fix the configuration)"}
	}
	now := s.now()
	start, _ := w.Next(now)
	return windowView{Text: w.String(), NextStart: start.In(s.loc).Format("2006-01-02 15:04 MST"), Inside: w.Contains(now)}
}

type dueView struct {
	NextDue  string
	DueText  string
	DueClass string
}

// dueSoonWithin is the window before a due date in which it shows as due
// soon. The page then reads "due in 13 days" or fewer, days rounded up.
const dueSoonWithin = 13 * rotation.Day

// due describes a due date relative to now: overdue, due soon, or later.
func (s *Server) due(c rotation.Credential) dueView {
	at := c.NextDueAt()
	left := at.Sub(s.now())
	days := int(math.Ceil(left.Hours() / 24))
	v := dueView{NextDue: at.In(s.loc).Format("2006-01-02 15:04 MST")}
	switch {
	case left < 0:
		v.DueClass, v.DueText = "overdue", fmt.Sprintf("overdue by %d days", int(-left.Hours()/24))
	case left <= dueSoonWithin:
		v.DueClass, v.DueText = "soon", fmt.Sprintf("due in %d days", days)
	default:
		v.DueText = fmt.Sprintf("in %d days", days)
	}
	return v
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	return s.renderDashboard(w, r, http.StatusOK, "", nil)
}

// renderDashboard renders the dashboard with status. A formError that is
// not empty is shown above the forms with form filled in again.
func (s *Server) renderDashboard(w http.ResponseWriter, r *http.Request, status int, formError string, form url.Values) error {
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
	// The counts cover every credential, not only this page.
	summary, err := s.svc.Store().SummarizeCredentials(r.Context(), s.now(), dueSoonWithin)
	if err != nil {
		return err
	}
	// A row names its fields instead of embedding the credential and
	// dueView: html/template finds a promoted field with a slow reflect
	// search, which took a sixth of the page's CPU.
	type row struct {
		ID, Organisation, ClientID string
		Due                        dueView
		Window                     windowView
		OpenRotationID             string
		OpenState                  rotation.State
		Failed                     int // reminders that could not be delivered
	}
	failed := map[string]int{}
	if s.reminders != nil {
		if counts, err := s.reminders.CountFailedReminders(r.Context()); err == nil {
			failed = counts
		} else {
			s.log.WarnContext(r.Context(), "count failed reminders", "error", err)
		}
	}
	rows := make([]row, len(creds))
	for i, c := range creds {
		rows[i] = row{ID: c.ID, Organisation: c.Organisation, ClientID: c.ClientID, Due: s.due(c), Window: s.window(c),
			OpenRotationID: c.OpenRotationID, Failed: failed[c.ID]}
		if c.OpenRotationID != "" {
			if open, err := s.svc.Store().GetRotation(r.Context(), c.OpenRotationID); err == nil {
				rows[i].OpenState = open.State
			}
		}
	}

	incidents, err := s.svc.ListIncidents(r.Context(), "")
	if err != nil {
		return err
	}

	type dashboardPage struct {
		page
		Credentials []row
		Summary     rotation.CredentialSummary
		Undelivered int // credentials with reminders that could not be delivered
		SoonDays    int
		FirstPage   string // "" on the first page
		NextPage    string // "" on the last page
		Zone        string
		Incidents   []rotation.Incident
		Whats       []rotation.IncidentWhat
		CanOperate  bool
	}
	base := s.base(r, "Credentials")
	base.Error, base.Form = formError, form
	if formError != "" {
		base.Notice = ""
	}
	s.render(w, r, status, "dashboard", dashboardPage{
		page:        base,
		Credentials: rows,
		Summary:     summary,
		Undelivered: len(failed),
		SoonDays:    int(dueSoonWithin / rotation.Day),
		FirstPage:   dashboardURL(rotation.CredentialCursor{}, limit, !after.IsZero()),
		NextPage:    dashboardURL(next, limit, !next.IsZero()),
		Zone:        s.loc.String(),
		Incidents:   incidents,
		Whats:       rotation.IncidentWhats,
		CanOperate:  principal(r.Context()).Role >= RoleOperator,
	})
	return nil
}

// dashboardURL returns the link to the dashboard page that starts after
// the cursor, keeping a page size other than the default, or "" when
// show is false.
func dashboardURL(after rotation.CredentialCursor, limit int, show bool) string {
	if !show {
		return ""
	}
	q := url.Values{}
	if !after.IsZero() {
		q.Set("cursor", after.Encode())
	}
	if limit != defaultPageSize {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

func (s *Server) credentialPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderCredential(w, r, http.StatusOK, "", nil)
}

// renderCredential renders a credential's page with status. A formError
// that is not empty is shown above the forms with form filled in again.
func (s *Server) renderCredential(w http.ResponseWriter, r *http.Request, status int, formError string, form url.Values) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	c, err := s.credential(r)
	if err != nil {
		return err
	}
	rotations, err := s.svc.Store().ListRotations(r.Context(), c.ID)
	if err != nil {
		return err
	}
	var reminders []rotation.Reminder
	if s.reminders != nil {
		if reminders, err = s.reminders.ListReminders(r.Context(), c.ID); err != nil {
			return err
		}
	}
	incidents, err := s.svc.ListIncidents(r.Context(), c.ID)
	if err != nil {
		return err
	}
	base := s.base(r, c.ID)
	base.Error, base.Form = formError, form
	if formError != "" {
		base.Notice = ""
	}
	s.render(w, r, status, "credential", struct {
		page
		Credential   rotation.Credential
		Due          dueView
		Window       windowView
		Rotations    []rotation.Rotation
		Reminders    []rotation.Reminder
		CanOperate   bool
		Incidents    []rotation.Incident
		Whats        []rotation.IncidentWhat
		Zone         string
		Fingerprints rotation.Fingerprints
	}{base, c, s.due(c), s.window(c), rotations, reminders, principal(r.Context()).Role >= RoleOperator,
		incidents, rotation.IncidentWhats, s.loc.String(), s.svc.FingerprintsOf(r.Context(), c, nil)})
	return nil
}

func (s *Server) rotationPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderRotation(w, r, http.StatusOK, "")
}

// renderRotation renders a rotation's page with status. A formError that is
// not empty is shown above the forms, in place of any notice.
func (s *Server) renderRotation(w http.ResponseWriter, r *http.Request, status int, formError string) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	rot, err := s.rotation(r)
	if err != nil {
		return err
	}
	c, err := s.svc.Store().GetCredential(r.Context(), rot.CredentialID)
	if err != nil {
		return err
	}
	events, err := s.svc.Store().ListEvents(r.Context(), rot.ID)
	if err != nil {
		return err
	}

	inc, hasIncident, err := s.svc.IncidentOfRotation(r.Context(), rot.ID)
	if err != nil {
		return err
	}
	var incident *rotation.Incident
	if hasIncident {
		incident = &inc
	}

	approvals, err := s.approvals(r, rot, c)
	if err != nil {
		return err
	}

	now := s.now()
	next := rotation.Next(rot, c, now)
	base := s.base(r, "Rotation of "+c.ID)
	base.Error = formError
	if formError != "" {
		base.Notice = ""
	}

	s.render(w, r, status, "rotation", struct {
		page
		Rotation     rotation.Rotation
		Credential   rotation.Credential
		Next         rotation.NextAction
		Events       []rotation.Event
		RequestText  string
		RetireText   string
		RetireEarly  bool
		Window       windowView
		CanOperate   bool
		Incident     *rotation.Incident
		Approvals    approvalsView
		Fingerprints rotation.Fingerprints
	}{
		Fingerprints: s.svc.FingerprintsOf(r.Context(), c, &rot),
		page:         base, Rotation: rot, Credential: c, Next: next, Events: events, Incident: incident, Approvals: approvals,
		RequestText: rotation.RequestText(c, rot, incident), RetireText: rotation.RetireText(c, rot),
		RetireEarly: next.Action == "retire" && now.Before(next.After),
		Window:      s.window(c),
		CanOperate:  principal(r.Context()).Role >= RoleOperator,
	})
	return nil
}

// parseForm reads a url-encoded form within maxBody and checks that every
// value is valid UTF-8.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &httpError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: fmt.Sprintf("The form is larger than %d bytes.", maxBody)}
		}
		return badRequest("invalid_form", "rotor could not read the form. Reload the page and submit it again.")
	}
	for name, values := range r.PostForm {
		for _, v := range values {
			if !utf8.ValidString(v) {
				if !utf8.ValidString(name) || len(name) > 64 {
					return badRequest("invalid_form", "The form contains a field name that is not valid UTF-8.")
				}
				return badRequest("invalid_form", fmt.Sprintf("The form field %q contains text that is not valid UTF-8. Retype it and submit the form again.", name))
			}
		}
	}
	return nil
}

// transitionResult redirects to the rotation page after a success, and
// re-renders the page with the error after a failure that belongs to the
// form (anything but an unknown rotation or an internal error).
func (s *Server) transitionResult(w http.ResponseWriter, r *http.Request, rotationID, done string, err error) error {
	if err == nil {
		http.Redirect(w, r, "/rotations/"+url.PathEscape(rotationID)+"?done="+done, http.StatusSeeOther)
		return nil
	}
	status, _, message, internal := describe(err, "")
	if internal || status == http.StatusNotFound || status == http.StatusForbidden {
		return err
	}
	if status >= 500 {
		s.log.WarnContext(r.Context(), "transition failed", "rotation_id", rotationID, "error", err)
	}
	return s.renderRotation(w, r, status, message)
}

func (s *Server) uiRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleOperator)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	c, err := s.credential(r)
	if err != nil {
		return err
	}
	rot, err := s.svc.Request(r.Context(), p.Name, c.ID, rotation.RequestInput{
		Kind: rotation.Kind(r.PostFormValue("kind")), Reason: r.PostFormValue("reason"), Ticket: r.PostFormValue("ticket"),
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/rotations/"+rot.ID+"?done=requested", http.StatusSeeOther)
	return nil
}

// uiTransition handles a form that moves a rotation: it checks the role,
// reads the form, runs do and redirects with the notice do names, or
// re-renders the rotation page with the error. A repeat of a transition
// that already happened, as from a double click, redirects as a success.
// target and step name the state and step the action leads to, and are
// empty where a repeat is not harmless.
func (s *Server) uiTransition(target rotation.State, step rotation.Step, do func(r *http.Request, actor, id string) (string, error)) http.HandlerFunc {
	return s.uiHandler(func(w http.ResponseWriter, r *http.Request) error {
		p, err := require(r, RoleOperator)
		if err != nil {
			return err
		}
		if err := parseForm(w, r); err != nil {
			return err
		}
		id := chi.URLParam(r, "id")
		done, err := do(r, p.Name, id)
		if errors.Is(err, rotation.ErrConflict) && target != "" {
			if now, gerr := s.svc.Store().GetRotation(r.Context(), id); gerr == nil {
				switch {
				case now.Step == step:
					err, done = nil, "in-progress"
				case now.State == target:
					err, done = nil, "repeated"
				}
			}
		}
		return s.transitionResult(w, r, id, done, err)
	})
}

func (s *Server) uiIssued(r *http.Request, actor, id string) (string, error) {
	v := secret.New(r.PostFormValue("secret"))
	r.PostForm.Del("secret")
	r.Form.Del("secret")
	issued, err := s.svc.RecordIssued(r.Context(), actor, id, rotation.IssuedInput{Secret: v, Reason: r.PostFormValue("reason")})
	if issued.CurrentRejected {
		return "issued-current-rejected", err
	}
	return "issued", err
}

func (s *Server) uiPromote(r *http.Request, actor, id string) (string, error) {
	_, err := s.svc.Promote(r.Context(), actor, id, r.PostFormValue("reason"))
	return "promoted", err
}

func (s *Server) uiRollback(r *http.Request, actor, id string) (string, error) {
	_, err := s.svc.Rollback(r.Context(), actor, id, r.PostFormValue("reason"))
	return "rolledback", err
}

func (s *Server) uiResume(r *http.Request, actor, id string) (string, error) {
	_, err := s.svc.Resume(r.Context(), actor, id, r.PostFormValue("reason"))
	return "resumed", err
}

func (s *Server) uiRetire(r *http.Request, actor, id string) (string, error) {
	_, err := s.svc.Retire(r.Context(), actor, id, rotation.RetireInput{
		PersiumConfirmed: r.PostFormValue("persium_confirmed") == "true",
		Reason:           r.PostFormValue("reason"),
	})
	return "retired", err
}

func (s *Server) uiCancel(r *http.Request, actor, id string) (string, error) {
	_, err := s.svc.Cancel(r.Context(), actor, id, r.PostFormValue("reason"))
	return "cancelled", err
}

// safeReturn accepts only a local rotation path as a redirect target.
func safeReturn(target string) string {
	if strings.HasPrefix(target, "/rotations/") && !strings.ContainsAny(target, "\\?#") && !strings.HasPrefix(target, "//") {
		return target
	}
	return "/"
}
