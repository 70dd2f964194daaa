package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// The audit log is served as the page /audit and as GET /api/v1/audit,
// with the same query parameters:
//
//	credential  a credential id, exact. It leaves out API token events, which have no credential.
//	actor       who acted, exact but ignoring case, such as "alice" or "token:ci-deploy"
//	action      one of rotation.AuditActions, such as "retire", "closed" or "token_created"
//	since       the earliest time, included
//	until       the latest time, excluded for an RFC 3339 time; a date includes that whole day
//	cursor      next_cursor of the previous page
//	limit       the page size, 1 to rotation.MaxAuditLimit
//
// since and until take an RFC 3339 time, or a date (YYYY-MM-DD) in the
// display time zone, which means the start of that day for since and the
// end of it for until. So since=2026-03-01&until=2026-03-01 is the whole
// of 1 March.

// auditQuery is the audit filters as the request spelt them, trimmed, for
// the form and for the links to other pages.
type auditQuery struct {
	Credential, Actor, Action, Since, Until, Limit string
}

// Filtered reports whether any filter is set.
func (q auditQuery) Filtered() bool {
	return q.Credential != "" || q.Actor != "" || q.Action != "" || q.Since != "" || q.Until != ""
}

// url returns the address of the audit page or endpoint at path with these
// filters, starting after the cursor, with empty parameters left out.
func (q auditQuery) url(path string, after rotation.AuditCursor) string {
	v := url.Values{}
	for _, p := range []struct{ name, value string }{
		{"credential", q.Credential}, {"actor", q.Actor}, {"action", q.Action},
		{"since", q.Since}, {"until", q.Until}, {"limit", q.Limit},
	} {
		if p.value != "" {
			v.Set(p.name, p.value)
		}
	}
	if !after.IsZero() {
		v.Set("cursor", after.Encode())
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// auditFilter reads the audit query parameters of r. A value that cannot
// be read, a filter that rotation.AuditFilter.Check rejects, or an unknown
// credential is a 400 whose message names the parameter and the fix. The
// returned query is set even then, so the form can show what was sent.
func (s *Server) auditFilter(r *http.Request) (rotation.AuditFilter, auditQuery, error) {
	values := r.URL.Query()
	q := auditQuery{
		Credential: strings.TrimSpace(values.Get("credential")),
		Actor:      strings.TrimSpace(values.Get("actor")),
		Action:     strings.TrimSpace(values.Get("action")),
		Since:      strings.TrimSpace(values.Get("since")),
		Until:      strings.TrimSpace(values.Get("until")),
		Limit:      strings.TrimSpace(values.Get("limit")),
	}
	f := rotation.AuditFilter{CredentialID: q.Credential, Actor: q.Actor, Action: q.Action}

	if q.Limit != "" {
		n, err := strconv.Atoi(q.Limit)
		if err != nil || n < 1 || n > rotation.MaxAuditLimit {
			return f, q, badRequest("invalid_limit", fmt.Sprintf("The limit %q is not a whole number from 1 to %d. Leave it out for pages of %d.",
				clip(q.Limit), rotation.MaxAuditLimit, rotation.DefaultAuditLimit))
		}
		f.Limit = n
	}

	var err error
	if f.Since, err = s.auditTime("since", q.Since, false); err != nil {
		return f, q, err
	}
	if f.Until, err = s.auditTime("until", q.Until, true); err != nil {
		return f, q, err
	}
	if f.Cursor, err = rotation.ParseAuditCursor(values.Get("cursor")); err != nil {
		return f, q, err
	}
	if err := f.Check(); err != nil {
		return f, q, err
	}

	if f.CredentialID != "" {
		_, err := s.svc.Store().GetCredential(r.Context(), f.CredentialID)
		if errors.Is(err, rotation.ErrNotFound) {
			return f, q, badRequest("invalid_credential", fmt.Sprintf("There is no credential %q. Use a credential id as the dashboard lists them, or leave the credential empty to search every credential.",
				clip(f.CredentialID)))
		}
		if err != nil {
			return f, q, err
		}
	}
	return f, q, nil
}

// auditTime reads the parameter name: an RFC 3339 time, or a date in the
// display time zone. A date stands for the start of its day, or for the
// start of the next day when endOfDay is set, so that an exclusive until
// includes the day it names.
func (s *Server) auditTime(name, value string, endOfDay bool) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	day, err := time.ParseInLocation(time.DateOnly, value, s.loc)
	if err != nil {
		return time.Time{}, badRequest("invalid_"+name, fmt.Sprintf(
			"The %s value %q is neither a date such as 2026-03-01 (in %s) nor an RFC 3339 time such as 2026-03-01T09:30:00Z. Correct it, or leave it empty.",
			name, clip(value), s.loc))
	}
	if endOfDay {
		day = day.AddDate(0, 0, 1)
	}
	return day, nil
}

// Responses.

// auditEntryJSON is one entry of the audit log. Fields that the entry's
// source does not have are null, except the strings credential_id,
// rotation_id and reason, which are empty.
type auditEntryJSON struct {
	Source       rotation.AuditSource `json:"source"`
	ID           int64                `json:"id"`
	At           time.Time            `json:"at"`
	Actor        string               `json:"actor"`
	Action       string               `json:"action"`
	CredentialID string               `json:"credential_id"`
	RotationID   string               `json:"rotation_id"`
	IncidentID   *string              `json:"incident_id"`
	TokenID      *string              `json:"token_id"`
	TokenName    *string              `json:"token_name"`
	From         *rotation.State      `json:"from"`
	To           *rotation.State      `json:"to"`
	Reason       string               `json:"reason"`
	Detail       string               `json:"detail"`
	Item         *int                 `json:"item"`
}

// auditPageJSON is one page of the audit log. NextCursor is "" on the last
// page.
type auditPageJSON struct {
	Entries    []auditEntryJSON `json:"entries"`
	NextCursor string           `json:"next_cursor"`
}

func toAuditEntryJSON(e rotation.AuditEntry) auditEntryJSON {
	out := auditEntryJSON{
		Source: e.Source, ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action,
		CredentialID: e.CredentialID, RotationID: e.RotationID, Reason: e.Reason, Detail: e.Detail,
	}
	if e.IncidentID != "" {
		id := e.IncidentID
		out.IncidentID = &id
	}
	if e.TokenID != "" {
		id, name := e.TokenID, e.TokenName
		out.TokenID, out.TokenName = &id, &name
	}
	if e.From != "" {
		from := e.From
		out.From = &from
	}
	if e.To != "" {
		to := e.To
		out.To = &to
	}
	if e.Item != 0 {
		item := e.Item
		out.Item = &item
	}
	return out
}

// Handlers.

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	f, _, err := s.auditFilter(r)
	if err != nil {
		return err
	}
	page, err := s.svc.SearchAudit(r.Context(), f)
	if err != nil {
		return err
	}
	out := auditPageJSON{Entries: make([]auditEntryJSON, len(page.Entries)), NextCursor: page.NextCursor.Encode()}
	for i, e := range page.Entries {
		out.Entries[i] = toAuditEntryJSON(e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maxCredentialOptions is the maximum number of credentials that the
// audit form lists. With more, the form takes the id as text, because a
// list of thousands does not help and makes every page heavy.
const maxCredentialOptions = 200

// auditRow is one entry of the audit page.
type auditRow struct {
	rotation.AuditEntry
	Datetime      string // RFC 3339 in UTC, for the time element
	RotationLabel string // a short form of RotationID for the link
	IncidentLabel string
}

// auditPage renders the audit log with its filter form. A filter that
// cannot be used re-renders the form with a 400 and the message next to
// the field, so the person can correct it. Token events link to the
// tokens page for admins only, because only admins may open it. Others see
// the token's name.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleViewer)
	if err != nil {
		return err
	}
	f, q, err := s.auditFilter(r)
	var result rotation.AuditPage
	if err == nil {
		result, err = s.svc.SearchAudit(r.Context(), f)
	}
	status, filterError, invalidField := http.StatusOK, "", ""
	if err != nil {
		st, code, message, internal := describe(err, "")
		if internal || st != http.StatusBadRequest {
			return err
		}
		status, filterError = st, message
		invalidField = strings.TrimPrefix(code, "invalid_")
	}

	options, err := s.credentialOptions(r)
	if err != nil {
		return err
	}
	rows := make([]auditRow, len(result.Entries))
	for i, e := range result.Entries {
		rows[i] = auditRow{AuditEntry: e, Datetime: e.At.UTC().Format(time.RFC3339Nano),
			RotationLabel: shortID(e.RotationID), IncidentLabel: shortID(e.IncidentID)}
	}

	var firstPage, nextPage string
	if !f.Cursor.IsZero() {
		firstPage = q.url("/audit", rotation.AuditCursor{})
	}
	if !result.NextCursor.IsZero() {
		nextPage = q.url("/audit", result.NextCursor)
	}
	s.render(w, r, status, "audit", struct {
		page
		Query             auditQuery
		FilterError       string
		InvalidField      string // the form field the error is about, such as "since"
		Entries           []auditRow
		CredentialOptions []string
		CredentialAsText  bool // too many credentials to list, so the form takes the id as text
		RotationActions   []rotation.Action
		IncidentActions   []rotation.IncidentAction
		TokenActions      []rotation.TokenAction
		TokenLinks        bool // link token events to /admin/tokens
		Zone              string
		FirstPage         string // "" on the first page
		NextPage          string // "" on the last page
		LaterPage         bool
	}{
		page: s.base(r, "Audit log"), Query: q, FilterError: filterError, InvalidField: invalidField,
		Entries: rows, CredentialOptions: options, CredentialAsText: options == nil,
		RotationActions: rotation.RotationActions, IncidentActions: rotation.IncidentActions,
		TokenActions: rotation.TokenActions, TokenLinks: s.tokens != nil && p.Role >= RoleAdmin,
		Zone: s.loc.String(), FirstPage: firstPage, NextPage: nextPage, LaterPage: !f.Cursor.IsZero(),
	})
	return nil
}

// credentialOptions returns every credential id in order, or nil when
// there are more than maxCredentialOptions.
func (s *Server) credentialOptions(r *http.Request) ([]string, error) {
	creds, next, err := s.svc.Store().ListCredentialPage(r.Context(), rotation.CredentialCursor{}, maxCredentialOptions)
	if err != nil {
		return nil, err
	}
	if !next.IsZero() {
		return nil, nil
	}
	ids := make([]string, len(creds)) // not nil, even without credentials
	for i, c := range creds {
		ids[i] = c.ID
	}
	slices.Sort(ids)
	return ids, nil
}

// shortID returns the first block of a UUID, enough to tell rotations
// apart on one page.
func shortID(id string) string {
	if first, _, ok := strings.Cut(id, "-"); ok {
		return first
	}
	return id
}
