package rotation

import (
	"context"
	"errors"
	"strings"

	"github.com/rotorhq/rotor/notify"
)

// PersiumMailer e-mails messages to Persium's support address through one
// of the team's SMTP channels.
type PersiumMailer interface {
	// SendToPersium delivers one message. The same idempotencyKey gives
	// the same Message-ID, so that Persium's mail system can drop a
	// duplicate.
	SendToPersium(ctx context.Context, subject, text, idempotencyKey string) error

	// Route names the address and the channel that messages go through,
	// for the audit log, such as "support@persium.example through channel
	// ops-mail".
	Route() string
}

// PersiumRoute returns where SendPersiumRequest e-mails the request, or ""
// when it cannot.
func (s *Service) PersiumRoute() string {
	if s.persium == nil {
		return ""
	}
	return s.persium.Route()
}

// SendPersiumRequest e-mails an incident's urgent request, as RequestText
// writes it for the rotation's present state, to Persium's support
// address, and records the attempt with actor on the incident. Sending
// twice in the same state of the rotation gives the same Message-ID.
//
// Errors: ErrNotFound for an unknown incident, and ErrInvalid when no
// mailer is configured. ErrConflict when the incident is closed or its
// rotation is no longer open, because there is nothing to request then.
// ErrUnavailable when the mail server did not accept the message; that
// failure is recorded on the incident too.
func (s *Service) SendPersiumRequest(ctx context.Context, actor, incidentID string) (Incident, error) {
	if s.persium == nil {
		return Incident{}, newError(ErrInvalid, "persium_mail_not_configured",
			"rotor cannot e-mail Persium: set incidents.persium_support_email and incidents.persium_channel (an smtp channel) in the configuration, or send the request shown on the incident page yourself.")
	}
	inc, err := s.Incident(ctx, incidentID)
	if err != nil {
		return Incident{}, err
	}
	if !inc.Open() {
		return Incident{}, closedIncidentError(inc)
	}
	r, err := s.rotation(ctx, inc.RotationID)
	if err != nil {
		return Incident{}, err
	}
	if !r.Open() {
		return Incident{}, newError(ErrConflict, "rotation_not_open",
			"Rotation %s of incident %s is %s, so there is nothing to request from Persium. Follow the incident page for the next step.", r.ID, inc.ID, r.State)
	}
	cred, err := s.credential(ctx, inc.CredentialID)
	if err != nil {
		return Incident{}, err
	}

	subject, text := splitSubject(RequestText(cred, r, &inc))
	key := "persium-request:" + inc.ID + ":" + string(r.State) + ":" + string(r.Kind)
	log := s.log.With("incident_id", inc.ID, "rotation_id", r.ID, "credential_id", cred.ID, "actor", actor)

	// The send runs detached from the request, like a secrets-manager
	// step, so that a client that goes away cannot leave it unrecorded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.notifyTimeout)
	sendErr := s.persium.SendToPersium(sctx, subject, text, key)
	cancel()

	route := s.persium.Route()
	ev := IncidentEvent{IncidentID: inc.ID, Actor: actor, Action: IncidentPersiumSent,
		Detail: "urgent request e-mailed to " + route + " while the rotation was " + string(r.State)}
	if sendErr != nil {
		ev.Action = IncidentPersiumSendFailed
		ev.Detail = "urgent request to " + route + " failed: " + deliveryErrorText(sendErr)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.stepTimeout)
	defer cancel()
	if err := s.incidents.AppendIncidentEvent(rctx, ev); err != nil {
		log.ErrorContext(ctx, "record e-mail to Persium", "action", ev.Action, "error", err)
		if sendErr == nil {
			return Incident{}, storeError(err, "record the e-mail to Persium of incident "+inc.ID)
		}
	}

	if sendErr != nil {
		log.ErrorContext(ctx, "e-mail urgent request to Persium", "route", route, "error", deliveryErrorText(sendErr))
		if errors.Is(sendErr, notify.ErrPermanent) {
			return Incident{}, wrapError(sendErr, ErrUnavailable, "persium_mail_rejected",
				"The mail server rejected the urgent request to %s for good: %s. A retry will not help: check the address and the smtp channel's settings, and send the request shown on the incident page yourself now.",
				route, deliveryErrorText(sendErr))
		}
		return Incident{}, wrapError(sendErr, ErrUnavailable, "persium_mail_failed",
			"The mail server did not accept the urgent request to %s: %s. Try again, or send the request shown on the incident page yourself.",
			route, deliveryErrorText(sendErr))
	}
	log.InfoContext(ctx, "urgent request e-mailed to Persium", "route", route)
	return inc, nil
}

// splitSubject separates the "Subject: …" line that RequestText starts
// with from the body.
func splitSubject(text string) (subject, body string) {
	first, rest, _ := strings.Cut(text, "\n")
	if s, ok := strings.CutPrefix(first, "Subject: "); ok {
		return s, strings.TrimLeft(rest, "\n")
	}
	return "Client secret request", text
}
