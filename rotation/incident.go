package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/tokencheck"
)

// IncidentWhat is the cause of a suspected compromise, as an operator
// reports it.
type IncidentWhat string

const (
	WhatPublicCommit IncidentWhat = "public_commit" // the secret is in a commit others can read
	WhatLostDevice   IncidentWhat = "lost_device"   // a laptop or phone that held the secret is lost or stolen
	WhatOffboarding  IncidentWhat = "offboarding"   // someone with access left without being de-provisioned
	WhatOther        IncidentWhat = "other"         // any other suspected leak
)

// IncidentWhats lists every value of IncidentWhat, in the order forms show them.
var IncidentWhats = []IncidentWhat{WhatPublicCommit, WhatLostDevice, WhatOffboarding, WhatOther}

// Valid reports whether w is one of the values above.
func (w IncidentWhat) Valid() bool {
	switch w {
	case WhatPublicCommit, WhatLostDevice, WhatOffboarding, WhatOther:
		return true
	}
	return false
}

// Describe returns w as a phrase for people, such as "the secret was found
// in a public commit".
func (w IncidentWhat) Describe() string {
	switch w {
	case WhatPublicCommit:
		return "the secret was found in a public commit"
	case WhatLostDevice:
		return "a device that held the secret was lost or stolen"
	case WhatOffboarding:
		return "someone with access to the secret left without being de-provisioned"
	}
	return "another suspected leak of the secret"
}

// Limits on incident input.
const (
	MaxDepartingBytes = 200
	MaxReferenceBytes = 200
	MaxDetailsBytes   = 2000
	MaxItemTitleBytes = 200
	MaxNoteBytes      = 2000

	// DetectedAtSkew is how far in the future a detection time may lie, to
	// allow for a browser or script whose clock runs ahead of rotor's.
	DetectedAtSkew = time.Minute
)

// DefaultChecklist is the blast-radius checklist every incident starts
// with: the places where a leaked secret persists after rotation.
var DefaultChecklist = []string{"logs", "git history", "build artefacts"}

// Incident is one reported compromise of a credential's secret, with the
// emergency rotation opened for it and the blast-radius checklist that
// keeps it open until every place the old secret may persist was checked.
// It never contains a secret.
type Incident struct {
	ID           string
	CredentialID string
	RotationID   string // the emergency rotation it opened or escalated

	What        IncidentWhat
	DetectedAt  time.Time // when the compromise was detected, as reported
	ReportedAt  time.Time // when rotor recorded the report, from the store's clock
	ReportedBy  string
	Reference   string // the team's incident reference, such as a ticket id
	Details     string
	ForceRevoke bool // whether Persium is asked to revoke the old secret at once

	// Departing names the person whose departure is reported, for What
	// WhatOffboarding, and is "" otherwise.
	Departing string

	// EscalatedFrom is the kind of the open rotation that the report turned
	// into an emergency, and "" when the report opened a new rotation.
	EscalatedFrom Kind

	// ClosedAt is set when every checklist item is done and the leaked
	// secret is retired, whichever happens last. Zero while open. See
	// SecretRetired for when the secret counts as retired.
	ClosedAt time.Time

	Checklist []ChecklistItem // ordered by Item
}

// SecretRetired reports whether the secret that incident rotation r was
// opened for is retired, given the credential's rotations in rotations.
// That holds when r is old_retired. It also holds when r was cancelled and
// a later emergency or offboarding rotation of the same credential,
// requested at or after the cancellation, is old_retired.
// A cancellation leaves the leaked secret in use, so only a rotation of a
// Compromised kind, which destroys the old version at retirement, replaces
// it.
// Both stores and the Postgres trigger incidents_guard apply this rule.
func SecretRetired(r Rotation, rotations []Rotation) bool {
	switch r.State {
	case StateOldRetired:
		return true
	case StateCancelled:
		for _, next := range rotations {
			if next.CredentialID == r.CredentialID && next.Kind.Compromised() &&
				next.State == StateOldRetired && !next.CreatedAt.Before(r.CancelledAt) {
				return true
			}
		}
	}
	return false
}

// Open reports whether the incident is not closed yet.
func (i Incident) Open() bool { return i.ClosedAt.IsZero() }

// Escalated reports whether the report turned an open rotation into an
// emergency instead of opening one.
func (i Incident) Escalated() bool { return i.EscalatedFrom != "" }

// ItemsLeft returns how many checklist items are not done.
func (i Incident) ItemsLeft() int {
	n := 0
	for _, it := range i.Checklist {
		if !it.Done() {
			n++
		}
	}
	return n
}

// ChecklistItem is one place to search for the old secret after a
// compromise. An item is done once a named person ticked it with a note; a
// tick is final.
type ChecklistItem struct {
	Item    int // 1, 2, 3… within the incident
	Title   string
	AddedBy string
	AddedAt time.Time

	// DoneBy, DoneAt and Note are set together when the item is ticked.
	DoneBy string
	DoneAt time.Time
	Note   string
}

// Done reports whether the item was ticked.
func (c ChecklistItem) Done() bool { return !c.DoneAt.IsZero() }

// IncidentAction names what an incident event records.
type IncidentAction string

const (
	IncidentReported     IncidentAction = "reported"      // the compromise was reported
	IncidentNotified     IncidentAction = "notified"      // a channel accepted the urgent message
	IncidentNotifyFailed IncidentAction = "notify_failed" // a channel failed, or none is configured
	IncidentItemAdded    IncidentAction = "item_added"    // someone added a checklist item
	IncidentItemDone     IncidentAction = "item_done"     // someone ticked a checklist item
	IncidentClosed       IncidentAction = "closed"        // the leaked secret is retired (see SecretRetired) and every item is done

	IncidentPersiumSent       IncidentAction = "persium_sent"        // rotor e-mailed the urgent request to Persium's support
	IncidentPersiumSendFailed IncidentAction = "persium_send_failed" // that e-mail was not accepted
)

// IncidentEvent is one append-only record of an incident's history. Changes
// to the incident's rotation, such as its escalation, are rotation Events.
type IncidentEvent struct {
	ID         int64
	IncidentID string
	At         time.Time
	Actor      string
	Action     IncidentAction
	Item       int // the checklist item for item_added and item_done, else 0
	Detail     string
}

// IncidentReport is the input of IncidentStore.ReportIncident: one report
// of a compromise.
type IncidentReport struct {
	// Incident carries ID, CredentialID, What, DetectedAt, ReportedBy,
	// Reference, Details, ForceRevoke, Departing, and the titles of its
	// first checklist items. The store fills the rest.
	Incident Incident

	// Rotation carries ID, Kind (KindEmergency or KindOffboarding),
	// Reason and RequestedBy. It is created in StateRequested when the
	// credential has no open rotation; otherwise the open rotation takes
	// its Kind.
	Rotation Rotation
}

// IncidentStore persists incidents, their checklists and their events.
// Both rotation stores implement it.
//
// Errors: ErrNotFound for an unknown incident, item or credential;
// ErrConflict for a change that the incident's state forbids (a closed
// incident, a ticked item, a title already on the checklist) or that lost
// to a concurrent one.
type IncidentStore interface {
	// ReportIncident records a compromise in one transaction. If the
	// credential has an open rotation, it takes rep.Rotation.Kind with its
	// state, versions and times kept, its version increases by one, and an
	// "escalated" event is appended. Otherwise rep.Rotation is created with
	// a "request" event. The incident is inserted with its checklist and a
	// "reported" incident event, all stamped with one instant. An open
	// rotation with a step in progress, or one that already has an
	// incident, is ErrConflict and nothing is written.
	ReportIncident(ctx context.Context, rep IncidentReport) (Incident, Rotation, error)

	// GetIncident returns one incident with its checklist.
	GetIncident(ctx context.Context, id string) (Incident, error)

	// GetIncidentByRotation returns the incident of a rotation, or
	// ErrNotFound when the rotation has none.
	GetIncidentByRotation(ctx context.Context, rotationID string) (Incident, error)

	// ListIncidents returns a credential's incidents, newest first.
	ListIncidents(ctx context.Context, credentialID string) ([]Incident, error)

	// ListOpenIncidents returns every open incident, oldest report first.
	ListOpenIncidents(ctx context.Context) ([]Incident, error)

	// AddChecklistItem appends an item to an open incident's checklist
	// with an item_added event. A title already on the checklist, ignoring
	// case, is ErrConflict.
	AddChecklistItem(ctx context.Context, incidentID, title, actor string) (Incident, error)

	// CompleteChecklistItem ticks an item with actor, note and the store's
	// clock, appends an item_done event, and closes the incident with a
	// closed event if no item is left and SecretRetired holds. An item
	// already ticked is ErrConflict.
	CompleteChecklistItem(ctx context.Context, incidentID string, item int, actor, note string) (Incident, error)

	// ClaimIncidentReminder records that reminder round of an open
	// incident is being sent, and returns true for the first claim of that
	// round and false for every later one. A closed incident is
	// ErrConflict, and a round below 1 is ErrInvalid.
	ClaimIncidentReminder(ctx context.Context, incidentID string, round int) (bool, error)

	// AppendIncidentEvent appends ev, stamped with the store's clock, to
	// an incident's history.
	AppendIncidentEvent(ctx context.Context, ev IncidentEvent) error

	// ListIncidentEvents returns an incident's events, oldest first.
	ListIncidentEvents(ctx context.Context, incidentID string) ([]IncidentEvent, error)
}

// CheckIncidentReport reports the first rule that rep breaks: the same
// rules the Postgres schema enforces with constraints. Both stores call it,
// so that they reject the same reports.
func CheckIncidentReport(rep IncidentReport) error {
	inc := rep.Incident
	switch {
	case inc.ID == "" || inc.CredentialID == "":
		return fmt.Errorf("incident: id and credential are required: %w", ErrInvalid)
	case !inc.What.Valid():
		return fmt.Errorf("incident %s: unknown kind of compromise %q: %w", inc.ID, inc.What, ErrInvalid)
	case inc.DetectedAt.IsZero():
		return fmt.Errorf("incident %s: no detection time: %w", inc.ID, ErrInvalid)
	case strings.TrimSpace(inc.ReportedBy) == "":
		return fmt.Errorf("incident %s: no reporter: %w", inc.ID, ErrInvalid)
	case len(inc.Reference) > MaxReferenceBytes || len(inc.Details) > MaxDetailsBytes || len(inc.Departing) > MaxDepartingBytes:
		return fmt.Errorf("incident %s: reference, details or departing person too long: %w", inc.ID, ErrInvalid)
	case (inc.What == WhatOffboarding) != (strings.TrimSpace(inc.Departing) != ""):
		return fmt.Errorf("incident %s: a departing person is named for offboarding, and only for it: %w", inc.ID, ErrInvalid)
	case len(inc.Checklist) == 0:
		return fmt.Errorf("incident %s: empty checklist: %w", inc.ID, ErrInvalid)
	case rep.Rotation.ID == "" || !rep.Rotation.Kind.Compromised() || rep.Rotation.RequestedBy == "":
		return fmt.Errorf("incident %s: the rotation to open needs an id, kind emergency or offboarding, and a requester: %w", inc.ID, ErrInvalid)
	}
	seen := make(map[string]bool, len(inc.Checklist))
	for _, it := range inc.Checklist {
		if err := CheckItemTitle(it.Title); err != nil {
			return fmt.Errorf("incident %s: %w", inc.ID, err)
		}
		key := strings.ToLower(it.Title)
		if seen[key] {
			return fmt.Errorf("incident %s: checklist item %q twice: %w", inc.ID, it.Title, ErrConflict)
		}
		seen[key] = true
	}
	return nil
}

// ReportedDetail returns the detail of an incident's "reported" event. Both
// stores write it.
func ReportedDetail(in Incident) string {
	revoke := "keep the old secret until the new one is deployed"
	if in.ForceRevoke {
		revoke = "revoke the old secret at once"
	}
	departed := ""
	if in.Departing != "" {
		departed = " (" + in.Departing + " left)"
	}
	return fmt.Sprintf("%s%s, detected %s; Persium is asked to %s", in.What, departed, in.DetectedAt.UTC().Format(time.RFC3339), revoke)
}

// CheckItemTitle reports whether title can name a checklist item: not
// blank, at most MaxItemTitleBytes, one line of valid UTF-8.
func CheckItemTitle(title string) error {
	if strings.TrimSpace(title) == "" {
		return newError(ErrInvalid, "invalid_item", "Name the checklist item, such as \"CI caches\" or \"support tickets\".")
	}
	return validText("item", title, MaxItemTitleBytes, false)
}

// EscalationDetail returns the detail of the "escalated" event of a
// rotation of kind from, in state, that incident incidentID turned into
// kind to.
func EscalationDetail(from, to Kind, state State, incidentID string) string {
	return fmt.Sprintf("kind %s → %s because of incident %s; state %s and its progress kept", from, to, incidentID, state)
}

// OpenedDetail returns the detail of the "request" event of a rotation of
// kind that incident incidentID opened.
func OpenedDetail(kind Kind, incidentID string) string {
	return "kind " + string(kind) + ", opened by incident " + incidentID
}

// IncidentClock measures an incident against its rotation: the time since
// the report, and how long the new secret and the retirement took or have
// been awaited so far.
type IncidentClock struct {
	// SinceReport runs from the report to now, or to the closing time
	// once the incident is closed.
	SinceReport time.Duration

	// ToNewSecret runs from the report to the time Persium's new secret was
	// recorded, or to now while NewSecretPending. It is zero when the
	// secret was recorded before the report (NewSecretBeforeReport), as
	// when a report escalates a rotation in new_issued.
	ToNewSecret           time.Duration
	NewSecretPending      bool
	NewSecretBeforeReport bool

	// ToRetirement runs from the report to the retirement of the old
	// secret, or to now while RetirementPending.
	ToRetirement      time.Duration
	RetirementPending bool

	// RotationCancelled is set when the incident's rotation was cancelled:
	// neither step is pending then, and a step that did not happen before
	// the cancellation counts as zero. SecretRetired says what closes the
	// incident instead.
	RotationCancelled bool
}

// Clock returns the incident's clock at now, with r the incident's rotation.
func (i Incident) Clock(r Rotation, now time.Time) IncidentClock {
	end := now
	if !i.ClosedAt.IsZero() {
		end = i.ClosedAt
	}
	c := IncidentClock{SinceReport: nonNegative(end.Sub(i.ReportedAt)), RotationCancelled: r.State == StateCancelled}

	switch {
	case r.IssuedAt.IsZero() && c.RotationCancelled:
	case r.IssuedAt.IsZero():
		c.NewSecretPending = true
		c.ToNewSecret = nonNegative(end.Sub(i.ReportedAt))
	case r.IssuedAt.Before(i.ReportedAt):
		c.NewSecretBeforeReport = true
	default:
		c.ToNewSecret = r.IssuedAt.Sub(i.ReportedAt)
	}

	switch {
	case r.RetiredAt.IsZero() && c.RotationCancelled:
	case r.RetiredAt.IsZero():
		c.RetirementPending = true
		c.ToRetirement = nonNegative(end.Sub(i.ReportedAt))
	default:
		c.ToRetirement = nonNegative(r.RetiredAt.Sub(i.ReportedAt))
	}
	return c
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// FormatElapsed prints a duration for people in its two largest units,
// such as "2d 4h", "3h 5m", "12m 40s" or "9s".
func FormatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	days, hours := d/Day, (d%Day)/time.Hour
	minutes, seconds := (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, minutes)
	case minutes > 0:
		return fmt.Sprintf("%dm %ds", minutes, seconds)
	}
	return fmt.Sprintf("%ds", seconds)
}

// TimelineEntry is one line of an incident's timeline: an incident event or
// an event of its rotation.
type TimelineEntry struct {
	At     time.Time
	Actor  string
	Source string // "incident" or "rotation"
	Action string
	Item   int    // the checklist item, for item events
	From   State  // for rotation events: the state before, "" for the request
	To     State  // for rotation events: the state after
	Reason string // for rotation events
	Detail string
}

// Timeline merges an incident's events and its rotation's events in time
// order. At the same instant, rotation events come first, so that a report
// shows the escalation before the incident that caused it, and a
// retirement before the closing it caused.
func Timeline(incidentEvents []IncidentEvent, rotationEvents []Event) []TimelineEntry {
	out := make([]TimelineEntry, 0, len(incidentEvents)+len(rotationEvents))
	i, j := 0, 0
	for i < len(incidentEvents) || j < len(rotationEvents) {
		if j < len(rotationEvents) && (i == len(incidentEvents) || !rotationEvents[j].At.After(incidentEvents[i].At)) {
			e := rotationEvents[j]
			out = append(out, TimelineEntry{At: e.At, Actor: e.Actor, Source: "rotation", Action: string(e.Action),
				From: e.From, To: e.To, Reason: e.Reason, Detail: e.Detail})
			j++
			continue
		}
		e := incidentEvents[i]
		out = append(out, TimelineEntry{At: e.At, Actor: e.Actor, Source: "incident", Action: string(e.Action), Item: e.Item, Detail: e.Detail})
		i++
	}
	return out
}

// Delivery is the outcome of an urgent message on one channel.
type Delivery struct {
	Channel string
	Err     error // nil when the channel accepted the message
}

// UrgentMessage is the alert about a reported compromise that goes to
// every channel of the credential at once, outside the reminder schedule.
// It never holds a secret.
type UrgentMessage struct {
	Credential Credential
	IncidentID string
	RotationID string
	Subject    string
	Text       string
	Path       string // the incident page's path in rotor's UI, such as /incidents/{id}

	// IdempotencyKey is the same for every attempt at this incident's
	// message; a notifier derives one key per channel from it.
	IdempotencyKey string
}

// Notifier sends urgent messages. cmd/rotor implements it with the
// configured notification channels.
type Notifier interface {
	// NotifyUrgent makes one delivery attempt of m on every channel
	// configured for m.Credential. It returns one Delivery per channel in a
	// stable order, or none when the credential has no channel, once every
	// attempt ended or ctx is done. The service stores and logs each
	// Delivery's Err with URLs cut to scheme and host, so Err must contain
	// no other secret.
	NotifyUrgent(ctx context.Context, m UrgentMessage) []Delivery
}

// NewUrgentMessage returns the urgent message about inc.
func NewUrgentMessage(c Credential, r Rotation, inc Incident) UrgentMessage {
	var b strings.Builder
	fmt.Fprintf(&b, "%s reported a suspected compromise of the Persium client secret of %s (client ID %s, credential %s): %s.\n\n",
		inc.ReportedBy, c.Organisation, c.ClientID, c.ID, inc.What.Describe())
	fmt.Fprintf(&b, "Detected: %s\nReported: %s\n", inc.DetectedAt.UTC().Format(time.RFC3339), inc.ReportedAt.UTC().Format(time.RFC3339))
	if inc.Reference != "" {
		fmt.Fprintf(&b, "Reference: %s\n", inc.Reference)
	}
	if inc.Escalated() {
		fmt.Fprintf(&b, "Rotation %s, which was %s, is now an emergency rotation; its progress is kept.\n", r.ID, r.State)
	} else {
		fmt.Fprintf(&b, "Emergency rotation %s is open.\n", r.ID)
	}
	if inc.ForceRevoke {
		b.WriteString("Persium is asked to revoke the old secret at once: consumers still on it fail until the new secret is deployed.\n")
	} else {
		b.WriteString("Persium is asked to keep the old secret valid until the new one is deployed, then to retire it.\n")
	}
	b.WriteString("\nSend Persium the urgent request shown on the incident page now, then follow the rotation's next step.\n")
	return UrgentMessage{
		Credential: c, IncidentID: inc.ID, RotationID: r.ID,
		Subject:        fmt.Sprintf("URGENT: suspected compromise of the Persium client secret of %s (%s)", c.Organisation, c.ID),
		Text:           b.String(),
		Path:           "/incidents/" + inc.ID,
		IdempotencyKey: "rotor-incident-" + inc.ID,
	}
}

// maxDeliveryErrorBytes bounds a delivery error stored with an incident.
const maxDeliveryErrorBytes = 300

// deliveryErrorText returns a channel's error for the incident's history:
// every URL cut to its scheme and host, because a Slack webhook URL holds
// its secret in the path, and the text cut to maxDeliveryErrorBytes.
func deliveryErrorText(err error) string {
	fields := strings.Fields(err.Error())
	for i, f := range fields {
		scheme, rest, ok := strings.Cut(f, "://")
		if !ok || scheme == "" {
			continue
		}
		host, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
		host, _, _ = strings.Cut(host, "?")
		fields[i] = scheme + "://" + host + "/…"
	}
	msg := strings.Join(fields, " ")
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "?")
	}
	return truncate(msg, maxDeliveryErrorBytes)
}

// ReportInput is an operator's report of a suspected compromise.
type ReportInput struct {
	What        IncidentWhat
	DetectedAt  time.Time
	Reference   string // the team's incident reference, optional
	Details     string // optional
	ForceRevoke bool   // ask Persium to revoke the old secret at once

	// Departing names the person who left, and is required when What is
	// WhatOffboarding and rejected otherwise.
	Departing string
}

// Report is the outcome of ReportCompromise.
type Report struct {
	Incident   Incident
	Rotation   Rotation   // the emergency rotation, opened or escalated
	Deliveries []Delivery // the urgent message's outcome per channel
}

// ReportCompromise records a suspected compromise of a credential's
// secret. In one store transaction it turns the credential's open rotation
// into an emergency, keeping its progress, or opens an emergency rotation,
// and records the incident with the default blast-radius checklist. Then it
// sends the urgent message to every channel of the credential and records
// each outcome on the incident. A failed or missing channel is logged and
// recorded, and never fails the report.
//
// Errors: ErrInvalid for bad input, or for reference or details that
// contain one of the credential's secrets; ErrNotFound for an unknown
// credential; ErrConflict when the open rotation has a step in progress or
// already has an incident, or the credential changed during the report.
func (s *Service) ReportCompromise(ctx context.Context, actor, credentialID string, in ReportInput) (Report, error) {
	if err := s.validReport(in); err != nil {
		return Report{}, err
	}
	if s.incidents == nil {
		return Report{}, errors.New("report compromise: the store keeps no incidents")
	}
	cred, err := s.credential(ctx, credentialID)
	if err != nil {
		return Report{}, err
	}

	var open *Rotation
	if cred.OpenRotationID != "" {
		r, err := s.rotation(ctx, cred.OpenRotationID)
		if err != nil {
			return Report{}, err
		}
		if r.Step != StepNone {
			return Report{}, newError(ErrConflict, "step_in_progress",
				"Rotation %s of credential %s has a %s step in progress, so it cannot become an emergency this instant. Nothing was recorded: report the compromise again in a moment.",
				r.ID, cred.ID, r.Step)
		}
		if prior, err := s.incidents.GetIncidentByRotation(ctx, r.ID); err == nil {
			return Report{}, newError(ErrConflict, "already_reported",
				"Credential %s already has incident %s for its open rotation %s. Follow the emergency there, and add what you found as a checklist item.",
				cred.ID, prior.ID, r.ID)
		} else if !errors.Is(err, ErrNotFound) {
			return Report{}, storeError(err, "look for an incident of rotation "+r.ID)
		}
		open = &r
	}
	if s.secretInText(ctx, cred, open, in.Reference, in.Details) {
		return Report{}, newError(ErrInvalid, "secret_in_text",
			"The reference or details contain a client secret of credential %s. Remove it and report again: rotor keeps secrets only in the secrets manager.", cred.ID)
	}

	checklist := make([]ChecklistItem, len(DefaultChecklist))
	for i, title := range DefaultChecklist {
		checklist[i] = ChecklistItem{Title: title}
	}
	kind := reportKind(in.What, open)
	reason := "suspected compromise: " + in.What.Describe()
	if in.What == WhatOffboarding {
		reason = "staff offboarding: " + in.Departing + " left"
	}
	if in.Reference != "" {
		reason += " (reference " + in.Reference + ")"
	}
	inc, rot, err := s.incidents.ReportIncident(ctx, IncidentReport{
		Incident: Incident{ID: uuid.NewString(), CredentialID: cred.ID, What: in.What, DetectedAt: in.DetectedAt,
			ReportedBy: actor, Reference: in.Reference, Details: in.Details, ForceRevoke: in.ForceRevoke,
			Departing: in.Departing, Checklist: checklist},
		Rotation: Rotation{ID: uuid.NewString(), Kind: kind, Reason: reason, RequestedBy: actor},
	})
	switch {
	case errors.Is(err, ErrConflict):
		return Report{}, wrapError(err, ErrConflict, "concurrent_change",
			"Credential %s changed while the report was being recorded, so nothing was recorded. Report the compromise again.", cred.ID)
	case errors.Is(err, ErrInvalid):
		return Report{}, wrapError(err, ErrInvalid, "invalid_detected_at",
			"The detection time %s is after rotor's clock. Give the time the leak was detected, with its UTC offset.", in.DetectedAt.UTC().Format(time.RFC3339))
	case err != nil:
		return Report{}, storeError(err, "report compromise of credential "+cred.ID)
	}
	s.log.WarnContext(ctx, "compromise reported", "incident_id", inc.ID, "rotation_id", rot.ID, "credential_id", cred.ID,
		"what", inc.What, "escalated_from", inc.EscalatedFrom, "force_revoke", inc.ForceRevoke, "actor", actor)

	deliveries := s.notifyIncident(ctx, cred, rot, inc)
	return Report{Incident: inc, Rotation: rot, Deliveries: deliveries}, nil
}

// reportKind returns the kind of the rotation a report of what opens, or
// turns the open rotation into. A departure opens an offboarding rotation,
// anything else an emergency. An open emergency stays one, because a
// departure reported later changes nothing about its urgency.
func reportKind(what IncidentWhat, open *Rotation) Kind {
	if open != nil && open.Kind == KindEmergency {
		return KindEmergency
	}
	if what == WhatOffboarding {
		return KindOffboarding
	}
	return KindEmergency
}

func (s *Service) validReport(in ReportInput) error {
	if !in.What.Valid() {
		return newError(ErrInvalid, "invalid_what", "What happened must be one of public_commit, lost_device, offboarding or other, not %q.", truncate(string(in.What), 40))
	}
	switch {
	case in.What == WhatOffboarding && strings.TrimSpace(in.Departing) == "":
		return newError(ErrInvalid, "invalid_departing", "Name the person who left (departing), so that the audit log records whose access the rotation removes.")
	case in.What != WhatOffboarding && in.Departing != "":
		return newError(ErrInvalid, "invalid_departing", "A departing person (departing) belongs to a report of offboarding only; this report is %s. Remove it, or report offboarding.", in.What)
	}
	if err := validText("departing", in.Departing, MaxDepartingBytes, false); err != nil {
		return err
	}
	if in.DetectedAt.IsZero() {
		return newError(ErrInvalid, "invalid_detected_at", "Say when the compromise was detected (detected_at), as an RFC 3339 time such as 2026-03-01T09:30:00Z.")
	}
	if now := s.now(); in.DetectedAt.After(now.Add(DetectedAtSkew)) {
		return newError(ErrInvalid, "invalid_detected_at",
			"The detection time %s is in the future; rotor's clock says %s. Give the time the leak was detected, with its UTC offset.",
			in.DetectedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if err := validText("reference", in.Reference, MaxReferenceBytes, false); err != nil {
		return err
	}
	return validText("details", in.Details, MaxDetailsBytes, true)
}

// TextContainsSecret reports whether any of texts contains a secret of
// the credential, as secretInText screens a report. An unknown credential
// contains none.
func (s *Service) TextContainsSecret(ctx context.Context, credentialID string, texts ...string) bool {
	c, err := s.store.GetCredential(ctx, credentialID)
	if err != nil {
		return false
	}
	var open *Rotation
	if c.OpenRotationID != "" {
		if r, err := s.store.GetRotation(ctx, c.OpenRotationID); err == nil {
			open = &r
		}
	}
	return s.secretInText(ctx, c, open, texts...)
}

// secretInText reports whether any of texts contains a secret of the
// credential: the one consumers read now and, for an open rotation, its
// staged, new and old versions, each raw, form-encoded or JSON-escaped. A
// version that cannot be read is logged and skipped, so that a secrets
// manager outage does not block a report.
func (s *Service) secretInText(ctx context.Context, c Credential, open *Rotation, texts ...string) bool {
	joined := strings.Join(texts, "\n")
	if strings.TrimSpace(joined) == "" {
		return false
	}
	store, ok := s.secrets[c.ID]
	if !ok {
		return false
	}
	var values []secret.Value
	if v, _, err := store.Current(ctx); err == nil {
		values = append(values, v)
	} else {
		s.log.WarnContext(ctx, "read current secret to screen a report", "credential_id", c.ID, "error", err)
	}
	if open != nil {
		for _, version := range []secretstore.Version{open.Versions.Old, open.Versions.Staged, open.Versions.New} {
			if version == "" {
				continue
			}
			if v, err := store.Read(ctx, version); err == nil {
				values = append(values, v)
			}
		}
	}
	for _, v := range values {
		raw := v.Reveal()
		if raw == "" {
			continue
		}
		quoted, _ := json.Marshal(raw)
		for _, form := range []string{raw, url.QueryEscape(raw), strings.Trim(string(quoted), `"`)} {
			if strings.Contains(joined, form) {
				return true
			}
		}
	}
	return false
}

// notifyIncident sends the urgent message and records one incident event
// per channel. It runs detached from the request, within notifyTimeout, so
// a client that goes away does not stop the alert.
//
// TODO: each channel gets one attempt at the report. Retry a failed
// channel before the first reminder round, which RemindOpenIncidents sends
// after IncidentRemindEvery.
func (s *Service) notifyIncident(ctx context.Context, c Credential, r Rotation, inc Incident) []Delivery {
	return s.sendUrgent(ctx, c, inc, NewUrgentMessage(c, r, inc), "")
}

// sendUrgent sends m to the credential's channels within notifyTimeout,
// detached from ctx's cancellation, and records one incident event per
// channel, each detail starting with prefix.
func (s *Service) sendUrgent(ctx context.Context, c Credential, inc Incident, m UrgentMessage, prefix string) []Delivery {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.notifyTimeout)
	defer cancel()
	var deliveries []Delivery
	if s.notifier != nil {
		deliveries = s.notifier.NotifyUrgent(dctx, m)
	}

	log := s.log.With("incident_id", inc.ID, "credential_id", c.ID)
	record := func(action IncidentAction, detail string) {
		// A fresh context: the sends may have used up dctx.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.stepTimeout)
		defer cancel()
		err := s.incidents.AppendIncidentEvent(rctx, IncidentEvent{IncidentID: inc.ID, Actor: "rotor", Action: action, Detail: prefix + detail})
		if err != nil {
			log.ErrorContext(ctx, "record notification outcome", "action", action, "error", err)
		}
	}
	if len(deliveries) == 0 {
		log.WarnContext(ctx, "no notification channel for the incident")
		record(IncidentNotifyFailed, "no notification channel is configured for credential "+c.ID+", so nobody was notified; alert the team yourself")
	}
	for _, d := range deliveries {
		if d.Err == nil {
			log.InfoContext(ctx, "urgent message sent", "channel", d.Channel)
			record(IncidentNotified, "channel "+d.Channel+" accepted the urgent message")
			continue
		}
		text := deliveryErrorText(d.Err)
		log.ErrorContext(ctx, "send urgent message", "channel", d.Channel, "error", text)
		record(IncidentNotifyFailed, "channel "+d.Channel+": "+text)
	}
	return deliveries
}

// RecordForceRevoked records that Persium revoked the old secret before
// the new one was promoted. It checks the secret consumers read now, which
// is the old one before promotion, at the token endpoint: it must be
// rejected, or the operator gives a reason past an inconclusive check.
// Afterwards promote and retire skip the low-traffic window and the
// minimum time in dual_active, and roll back is refused.
func (s *Service) RecordForceRevoked(ctx context.Context, actor, rotationID, reason string) (Rotation, error) {
	if err := validText("reason", reason, MaxReasonBytes, true); err != nil {
		return Rotation{}, err
	}
	r, err := s.rotation(ctx, rotationID)
	if err != nil {
		return Rotation{}, err
	}
	if r.State != StateRequested && r.State != StateNewIssued {
		return Rotation{}, withPrefix(wrongState(r, StateRequested, StateNewIssued), "An early revocation is recorded before promotion. ")
	}
	if r.Step != StepNone {
		return Rotation{}, newError(ErrConflict, "step_in_progress", "Rotation %s has a %s step in progress. Wait for it to finish and reload.", r.ID, r.Step)
	}
	if !r.OldRevokedAt.IsZero() {
		return Rotation{}, newError(ErrConflict, "already_recorded", "Rotation %s already records that Persium revoked the old secret, on %s.", r.ID, r.OldRevokedAt.UTC().Format(time.RFC3339))
	}
	cred, err := s.credential(ctx, r.CredentialID)
	if err != nil {
		return Rotation{}, err
	}
	approver, err := s.requireApproval(ctx, r, cred, ApproveForceRevoke)
	if err != nil {
		return Rotation{}, err
	}
	store, ok := s.secrets[cred.ID]
	if !ok {
		return Rotation{}, newError(ErrUnavailable, "backend_missing",
			"No secrets manager is configured for credential %s. Check the configuration and restart rotor.", cred.ID)
	}

	old, _, err := store.Current(ctx)
	if err != nil {
		return Rotation{}, backendError(err, "read the current secret")
	}
	res := s.checker.Check(ctx, cred.ClientID, tokencheck.AuthMethod(cred.AuthMethod), old)
	switch res.Outcome {
	case tokencheck.Rejected:
	case tokencheck.Accepted:
		return Rotation{}, newError(ErrConflict, "old_secret_still_accepted",
			"The token endpoint still accepts the old secret of client %s, so Persium has not revoked it yet. Wait for Persium's confirmation, then record the revocation again.", cred.ClientID)
	default:
		if reason == "" {
			return Rotation{}, newError(ErrInconclusive, "check_inconclusive",
				"The token endpoint gave no clear answer for the old secret. Try again, or give a reason to record the revocation without a clear check. %s", res.Detail)
		}
	}

	done, err := s.store.Apply(ctx, Change{RotationID: r.ID, From: r.State, Version: r.Version, To: r.State, OldRevoked: true,
		Event: &Event{Actor: actor, Action: ActionOldRevoked, Reason: reason,
			Detail: "Persium revoked the old secret before promotion; old secret " + string(res.Outcome) + " at the token endpoint; promote and retire no longer wait for the low-traffic window or the minimum time in dual_active" + approvedNote(approver)}})
	if err != nil {
		return Rotation{}, storeError(err, "record the revocation of rotation "+r.ID)
	}
	s.log.WarnContext(ctx, "old secret revoked before promotion", "rotation_id", r.ID, "credential_id", r.CredentialID, "actor", actor)
	return done, nil
}

// approvedNote returns the part of an event's detail that names the
// four-eyes approver, or "" without one.
func approvedNote(approver string) string {
	if approver == "" {
		return ""
	}
	return "; approved by " + approver + " under the four-eyes rule"
}

// Incident returns one incident.
func (s *Service) Incident(ctx context.Context, id string) (Incident, error) {
	if s.incidents == nil {
		return Incident{}, errors.New("read incident: the store keeps no incidents")
	}
	inc, err := s.incidents.GetIncident(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Incident{}, wrapError(err, ErrNotFound, "not_found", "There is no incident %s.", QuoteID("incident", id))
	}
	if err != nil {
		return Incident{}, storeError(err, "read incident")
	}
	return inc, nil
}

// IncidentOfRotation returns the incident of a rotation, and false when
// the rotation has none.
func (s *Service) IncidentOfRotation(ctx context.Context, rotationID string) (Incident, bool, error) {
	if s.incidents == nil {
		return Incident{}, false, nil
	}
	inc, err := s.incidents.GetIncidentByRotation(ctx, rotationID)
	if errors.Is(err, ErrNotFound) {
		return Incident{}, false, nil
	}
	if err != nil {
		return Incident{}, false, storeError(err, "read the incident of rotation "+rotationID)
	}
	return inc, true, nil
}

// ListIncidents returns a credential's incidents, newest first, or every
// open incident, oldest first, when credentialID is empty.
func (s *Service) ListIncidents(ctx context.Context, credentialID string) ([]Incident, error) {
	if s.incidents == nil {
		return nil, nil
	}
	var (
		incs []Incident
		err  error
	)
	if credentialID == "" {
		incs, err = s.incidents.ListOpenIncidents(ctx)
	} else {
		incs, err = s.incidents.ListIncidents(ctx, credentialID)
	}
	if err != nil {
		return nil, storeError(err, "list incidents")
	}
	return incs, nil
}

// IncidentTimeline returns the merged history of an incident and its
// rotation.
func (s *Service) IncidentTimeline(ctx context.Context, inc Incident) ([]TimelineEntry, error) {
	if s.incidents == nil {
		return nil, errors.New("read incident timeline: the store keeps no incidents")
	}
	incidentEvents, err := s.incidents.ListIncidentEvents(ctx, inc.ID)
	if err != nil {
		return nil, storeError(err, "list events of incident "+inc.ID)
	}
	rotationEvents, err := s.store.ListEvents(ctx, inc.RotationID)
	if err != nil {
		return nil, storeError(err, "list events of rotation "+inc.RotationID)
	}
	return Timeline(incidentEvents, rotationEvents), nil
}

// AddChecklistItem adds a place to search for the old secret to an open
// incident's checklist, such as "CI caches". A title already on the
// checklist, ignoring case, or a closed incident is ErrConflict.
func (s *Service) AddChecklistItem(ctx context.Context, actor, incidentID, title string) (Incident, error) {
	if err := CheckItemTitle(title); err != nil {
		return Incident{}, err
	}
	if _, err := s.Incident(ctx, incidentID); err != nil {
		return Incident{}, err
	}
	inc, err := s.incidents.AddChecklistItem(ctx, incidentID, title, actor)
	if err == nil {
		s.log.InfoContext(ctx, "checklist item added", "incident_id", incidentID, "actor", actor)
		return inc, nil
	}
	if !errors.Is(err, ErrConflict) {
		return Incident{}, storeError(err, "add a checklist item to incident "+incidentID)
	}
	if now, gerr := s.Incident(ctx, incidentID); gerr == nil && !now.Open() {
		return Incident{}, closedIncidentError(now)
	}
	return Incident{}, wrapError(err, ErrConflict, "duplicate_item", "The checklist of incident %s already has an item %q.", incidentID, title)
}

// CompleteChecklistItem ticks a checklist item as done by actor, with a
// note on what was checked and found. The tick is final. When no item is
// left and SecretRetired holds, the incident closes in the same change.
func (s *Service) CompleteChecklistItem(ctx context.Context, actor, incidentID string, item int, note string) (Incident, error) {
	if strings.TrimSpace(note) == "" {
		return Incident{}, newError(ErrInvalid, "note_required", "Say what you checked and what you found; the note goes into the audit log with your name.")
	}
	if err := validText("note", note, MaxNoteBytes, true); err != nil {
		return Incident{}, err
	}
	before, err := s.Incident(ctx, incidentID)
	if err != nil {
		return Incident{}, err
	}
	inc, err := s.incidents.CompleteChecklistItem(ctx, incidentID, item, actor, note)
	if err == nil {
		s.log.InfoContext(ctx, "checklist item done", "incident_id", incidentID, "item", item, "actor", actor, "closed", !inc.Open())
		return inc, nil
	}
	now, gerr := s.Incident(ctx, incidentID)
	if gerr != nil {
		now = before
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return Incident{}, wrapError(err, ErrNotFound, "not_found", "Incident %s has no checklist item %d.", incidentID, item)
	case !errors.Is(err, ErrConflict):
		return Incident{}, storeError(err, "tick a checklist item of incident "+incidentID)
	case !now.Open():
		return Incident{}, closedIncidentError(now)
	}
	for _, it := range now.Checklist {
		if it.Item == item && it.Done() {
			return Incident{}, wrapError(err, ErrConflict, "already_done", "Item %d (%s) of incident %s was already ticked by %s on %s.",
				item, it.Title, incidentID, it.DoneBy, it.DoneAt.UTC().Format(time.RFC3339))
		}
	}
	return Incident{}, wrapError(err, ErrConflict, "concurrent_change", "Incident %s changed while you were looking at it. Reload it and try again.", incidentID)
}

func closedIncidentError(inc Incident) error {
	return newError(ErrConflict, "incident_closed", "Incident %s closed on %s, and its checklist can no longer change.", inc.ID, inc.ClosedAt.UTC().Format(time.RFC3339))
}
