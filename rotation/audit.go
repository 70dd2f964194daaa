package rotation

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditSource names the log an audit entry comes from.
type AuditSource string

const (
	AuditRotation AuditSource = "rotation" // an Event of a rotation
	AuditIncident AuditSource = "incident" // an IncidentEvent of an incident
	AuditToken    AuditSource = "token"    // the creation or revocation of an API token
)

// auditSources lists every source, in the order of their rank.
var auditSources = []AuditSource{AuditRotation, AuditIncident, AuditToken}

// rank orders sources that share an instant: newest first, the higher
// rank comes first. An incident event comes before a rotation event of the
// same instant, so that read oldest first a retirement comes before the
// closing it caused, as in Timeline. Token events share no cause with the
// others, and come first only so that the order is total.
func (s AuditSource) rank() int {
	switch s {
	case AuditIncident:
		return 1
	case AuditToken:
		return 2
	}
	return 0
}

// TokenAction is the action of an audit entry about an API token. The
// token_events table of package apitoken stores the same actions without
// the "token_" prefix, which the audit log adds so that they cannot be
// mistaken for rotation or incident actions in one list.
type TokenAction string

const (
	TokenCreated TokenAction = "token_created" // an admin created the token
	TokenRevoked TokenAction = "token_revoked" // an admin revoked the token
)

// AuditEntry is one line of the audit log: a rotation event or an
// incident event, with the credential and rotation it concerns, or the
// creation or revocation of an API token. It never contains a secret, nor
// an API token or its hash.
type AuditEntry struct {
	Source AuditSource
	ID     int64 // the event's id, unique within its source
	At     time.Time
	Actor  string // the person, "token:" and a token's name, or "rotor"
	Action string // an Action, an IncidentAction or a TokenAction, after the source

	CredentialID string // "" for token events
	RotationID   string // for incident events the incident's rotation, and "" for token events
	IncidentID   string // "" for rotation and token events
	TokenID      string // token events only: the API token created or revoked
	TokenName    string // token events only: that token's name, which audit events record after "token:"

	From   State  // rotation events: the state before, "" for the request
	To     State  // rotation events: the state after, and "" for other sources
	Reason string // rotation events only
	Detail string // for token events, the token's name, role and expiry
	Item   int    // incident events: the checklist item of item_added and item_done, else 0
}

// Cursor returns the position of e in the audit log, for the page that
// follows it.
func (e AuditEntry) Cursor() AuditCursor {
	return AuditCursor{At: e.At.UTC().Truncate(time.Microsecond), Source: e.Source, ID: e.ID}
}

// AuditCursor is a position in the audit log, which is ordered newest
// first: by time descending, then token events, incident events and
// rotation events, then by id descending. The zero cursor is the start of
// the log.
type AuditCursor struct {
	At     time.Time // UTC, at the stores' microsecond precision
	Source AuditSource
	ID     int64
}

// IsZero reports whether c is the start of the log.
func (c AuditCursor) IsZero() bool { return c.Source == "" }

// String returns c as the parts of its token, for logs and test failures.
func (c AuditCursor) String() string {
	if c.IsZero() {
		return "start"
	}
	return fmt.Sprintf("%s/%s/%d", c.At.Format(time.RFC3339Nano), c.Source, c.ID)
}

// CompareAuditCursors orders positions as the audit log does: negative when
// a comes first, that is when a is newer.
func CompareAuditCursors(a, b AuditCursor) int {
	return cmp.Or(
		b.At.Compare(a.At),
		cmp.Compare(b.Source.rank(), a.Source.rank()),
		cmp.Compare(b.ID, a.ID),
	)
}

// Within returns c as a bound in the log of one source, which is ordered
// by (at, id) descending: the entries of source that follow c are those
// whose (at, id) is below the returned (at, id). At c's instant, a source
// ranked below c's still has all its entries to come, so the id is the
// largest int64. A source ranked above c's is done at that instant, so the
// id is 0, which is below every id. c must not be the zero cursor.
func (c AuditCursor) Within(source AuditSource) (time.Time, int64) {
	switch {
	case source.rank() < c.Source.rank():
		return c.At, math.MaxInt64
	case source.rank() > c.Source.rank():
		return c.At, 0
	}
	return c.At, c.ID
}

// auditCursorJSON is the content of an encoded AuditCursor.
type auditCursorJSON struct {
	At     int64       `json:"at"` // microseconds since the Unix epoch
	Source AuditSource `json:"src"`
	ID     int64       `json:"id"`
}

// maxAuditCursorBytes bounds a token: Encode writes at most about 100
// bytes.
const maxAuditCursorBytes = 160

// Encode returns c as an opaque token for a URL query, or "" for the zero
// cursor. ParseAuditCursor reads it back.
func (c AuditCursor) Encode() string {
	if c.IsZero() {
		return ""
	}
	raw, _ := json.Marshal(auditCursorJSON{At: c.At.UnixMicro(), Source: c.Source, ID: c.ID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// ParseAuditCursor reads a token that Encode returned. The empty token is
// the zero cursor. Anything else that Encode cannot have produced is
// ErrInvalid with the code invalid_cursor.
func ParseAuditCursor(token string) (AuditCursor, error) {
	if token == "" {
		return AuditCursor{}, nil
	}
	invalid := newError(ErrInvalid, "invalid_cursor",
		"The cursor %q was not issued by rotor. Pass next_cursor from the previous page unchanged, or leave the cursor out to start from the first page.",
		clipToken(token))
	if len(token) > maxAuditCursorBytes {
		return AuditCursor{}, invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return AuditCursor{}, invalid
	}
	var c auditCursorJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return AuditCursor{}, invalid
	}
	if !slices.Contains(auditSources, c.Source) || c.ID < 1 {
		return AuditCursor{}, invalid
	}
	return AuditCursor{At: time.UnixMicro(c.At).UTC(), Source: c.Source, ID: c.ID}, nil
}

// Page sizes of the audit log.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 200
)

// maxAuditFilterBytes bounds the text filters; no credential id or actor
// name is longer.
const maxAuditFilterBytes = 255

// AuditFilter selects entries of the audit log. Each field that is set
// narrows the search; the zero filter selects every entry.
type AuditFilter struct {
	CredentialID string // exact match; token events have no credential, so it excludes them
	Actor        string // exact match ignoring case: ASCII letters in both stores, other letters as lower() in Postgres and strings.ToLower in Go fold them
	Action       string // one of AuditActions, which also selects the source

	// Since and Until bound the time of an entry: Since <= At < Until.
	// Zero means unbounded.
	Since time.Time
	Until time.Time

	// Cursor is the position the page starts after: the NextCursor of
	// the previous page, or the zero cursor for the first page.
	Cursor AuditCursor

	// Limit is the page size, from 1 to MaxAuditLimit; 0 means
	// DefaultAuditLimit.
	Limit int
}

// PageSize returns f's page size, reading 0 as DefaultAuditLimit.
func (f AuditFilter) PageSize() int {
	if f.Limit == 0 {
		return DefaultAuditLimit
	}
	return f.Limit
}

// Sources returns the sources an entry matching f can come from, in the
// order of their rank: every source whose actions include f's action, but
// no token events when f names a credential. It returns none for a token
// action and a credential together, which no entry matches.
func (f AuditFilter) Sources() []AuditSource {
	var out []AuditSource
	for _, source := range auditSources {
		switch {
		case source == AuditToken && f.CredentialID != "":
		case f.Action == "" || slices.Contains(source.actions(), f.Action):
			out = append(out, source)
		}
	}
	return out
}

// Matches reports whether e passes every filter of f, the cursor included.
// The memory store filters with it, and the Postgres store's query applies
// the same conditions.
func (f AuditFilter) Matches(e AuditEntry) bool {
	switch {
	case f.CredentialID != "" && e.CredentialID != f.CredentialID:
		return false
	case f.Actor != "" && strings.ToLower(e.Actor) != strings.ToLower(f.Actor):
		return false
	case f.Action != "" && e.Action != f.Action:
		return false
	case !f.Since.IsZero() && e.At.Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.At.Before(f.Until):
		return false
	case !f.Cursor.IsZero() && CompareAuditCursors(e.Cursor(), f.Cursor) <= 0:
		return false
	}
	return true
}

// Check returns an ErrInvalid *Error for the first invalid field of f: a
// page size out of range, text that is not UTF-8 or is too long, an
// unknown action, or a Since that is not before Until. The message names
// the field as the query parameter of the same name does, and the fix.
func (f AuditFilter) Check() error {
	if f.Limit < 0 || f.Limit > MaxAuditLimit {
		return newError(ErrInvalid, "invalid_limit", "The limit %d is invalid. Use a whole number from 1 to %d, or leave it out for pages of %d.",
			f.Limit, MaxAuditLimit, DefaultAuditLimit)
	}
	for _, text := range []struct{ name, value string }{{"credential", f.CredentialID}, {"actor", f.Actor}, {"action", f.Action}} {
		if !utf8.ValidString(text.value) || len(text.value) > maxAuditFilterBytes {
			return newError(ErrInvalid, "invalid_"+text.name, "The %s filter is not valid UTF-8 text of at most %d bytes. Correct it, or leave it empty to search every %s.",
				text.name, maxAuditFilterBytes, text.name)
		}
	}
	if f.Action != "" && !slices.Contains(AuditActions(), f.Action) {
		return newError(ErrInvalid, "invalid_action", "The action %q is not one that rotor records. Use one of %s, or leave it empty for every action.",
			truncate(f.Action, 40), strings.Join(AuditActions(), ", "))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return newError(ErrInvalid, "invalid_until", "until (%s) is not after since (%s), so no entry can match. Pick an until later than since.",
			f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	return nil
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Entries []AuditEntry

	// NextCursor is the position after the last entry, or the zero cursor
	// when no entry matching the filter follows.
	NextCursor AuditCursor
}

// AuditLog searches the audit events of rotations, incidents and API
// tokens together. Both rotation stores implement it, and the memory store
// has no API tokens.
type AuditLog interface {
	// SearchAudit returns the entries matching f, newest first in the
	// order of CompareAuditCursors, up to f's page size, and the cursor of
	// the next page. Paging is stable under inserts: an event appended
	// while a client pages sorts before the first page, so each entry that
	// existed when paging started is returned once. An event whose
	// transaction commits after a later-stamped one may be missed by a
	// client already past its time. A filter that Check rejects is
	// ErrInvalid.
	SearchAudit(ctx context.Context, f AuditFilter) (AuditPage, error)
}

// RotationActions lists every Action, in the order of a rotation's life.
var RotationActions = []Action{
	ActionRequest, ActionIssue, ActionPromote, ActionRollback, ActionRetire, ActionCancel,
	ActionStepFailed, ActionPaused, ActionResumed, ActionEscalated, ActionOldRevoked, ActionApproved,
}

// IncidentActions lists every IncidentAction, in the order of an incident's
// life.
var IncidentActions = []IncidentAction{
	IncidentReported, IncidentNotified, IncidentNotifyFailed, IncidentPersiumSent, IncidentPersiumSendFailed,
	IncidentItemAdded, IncidentItemDone, IncidentClosed,
}

// TokenActions lists every TokenAction.
var TokenActions = []TokenAction{TokenCreated, TokenRevoked}

// AuditActions returns the name of every action the audit log records:
// the rotation actions, the incident actions, then the token actions.
func AuditActions() []string {
	var out []string
	for _, source := range auditSources {
		out = append(out, source.actions()...)
	}
	return out
}

// actions returns the name of every action of source.
func (s AuditSource) actions() []string {
	switch s {
	case AuditRotation:
		return actionNames(RotationActions)
	case AuditIncident:
		return actionNames(IncidentActions)
	case AuditToken:
		return actionNames(TokenActions)
	}
	return nil
}

func actionNames[A ~string](actions []A) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return out
}

// NextAuditPage trims entries, sorted newest first and holding up to one
// entry more than limit, to a page and the cursor of the page after it.
// Both stores read one entry more than a page to learn whether another
// page follows.
func NextAuditPage(entries []AuditEntry, limit int) AuditPage {
	if len(entries) <= limit {
		return AuditPage{Entries: entries}
	}
	entries = entries[:limit]
	return AuditPage{Entries: entries, NextCursor: entries[limit-1].Cursor()}
}

// SearchAudit returns one page of the audit log of every rotation,
// incident and API token, newest first. A filter that AuditFilter.Check
// rejects is ErrInvalid with a message for people.
func (s *Service) SearchAudit(ctx context.Context, f AuditFilter) (AuditPage, error) {
	if err := f.Check(); err != nil {
		return AuditPage{}, err
	}
	log, ok := s.store.(AuditLog)
	if !ok {
		return AuditPage{}, errors.New("search the audit log: the store does not implement rotation.AuditLog")
	}
	page, err := log.SearchAudit(ctx, f)
	if err != nil {
		return AuditPage{}, storeError(err, "search the audit log")
	}
	return page, nil
}
