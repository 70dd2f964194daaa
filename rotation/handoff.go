package rotation

import (
	"fmt"
	"strings"
	"time"
)

// NextAction is the single thing an operator should do next on a rotation.
type NextAction struct {
	Action string    // "record_issued", "promote", "retire", "wait", "none"
	Title  string    // a short imperative for a button or heading
	Detail string    // one or two sentences on why and how
	After  time.Time // for "retire": offered without a reason from this time
}

// Next returns the next action for r at now.
func Next(r Rotation, c Credential, now time.Time) NextAction {
	if !r.PausedAt.IsZero() {
		return NextAction{Action: "resume", Title: "Check the outside change, then resume",
			Detail: "rotor paused this rotation because the secret changed in a way rotor did not make: " + r.PauseReason +
				". Promote, roll back and retire wait, so they cannot act on versions that no longer mean what rotor recorded. Restore the secret in the secrets manager and resume, or resume with a reason to accept the change."}
	}
	if r.Step != StepNone {
		return NextAction{Action: "wait", Title: "Wait for the " + string(r.Step) + " step",
			Detail: "rotor is writing to the secrets manager. If an outage interrupted the write, rotor finishes it by itself a few step timeouts later, or when it next starts."}
	}
	switch r.State {
	case StateRequested:
		return NextAction{Action: "record_issued", Title: "Paste the new secret from Persium",
			Detail: "Send Persium the request below, unless you already did. When Persium sends the new secret, paste it here: rotor checks it at the token endpoint and stages it without changing what consumers read. If a paste failed, paste the same secret again rather than asking Persium for another one, because a second new secret invalidates the first."}
	case StateNewIssued:
		if !r.OldRevokedAt.IsZero() {
			return NextAction{Action: "promote", Title: "Promote the new secret now",
				Detail: "Persium revoked the old secret, so consumers fail until they read the new one. Promote now: the low-traffic window does not apply, and retire is offered right after promotion."}
		}
		return NextAction{Action: "promote", Title: "Promote the new secret",
			Detail: "Promoting makes consumers read the new secret. The old one stays readable and valid at Persium until retirement. Plan it in a low-traffic window."}
	case StateDualActive:
		at := RetireAvailableAt(r, c)
		d := "When every consumer uses the new secret, ask Persium to retire the old one. After Persium confirms, retire it here: rotor checks that the old secret is rejected and the new one accepted."
		if !r.OldRevokedAt.IsZero() {
			d = "Persium already revoked the old secret, so there is nothing to ask. Retire it here now: rotor checks that the old secret is rejected and the new one accepted, and removes the old version from the secrets manager."
		}
		if now.Before(at) {
			d += fmt.Sprintf(" Retire is offered from %s (minimum time in dual_active: %s) unless you give a reason.", at.UTC().Format("2006-01-02 15:04 MST"), c.MinDualActive)
		}
		return NextAction{Action: "retire", Title: "Retire the old secret", Detail: d, After: at}
	}
	return NextAction{Action: "none", Title: "Nothing to do", Detail: "This rotation is " + string(r.State) + "."}
}

// RequestText returns the message an operator sends Persium to ask for a
// new secret, or, when inc is not nil, the urgent request after a reported
// compromise. It contains no secret.
func RequestText(c Credential, r Rotation, inc *Incident) string {
	if inc != nil {
		return urgentRequestText(c, r, *inc)
	}
	var b strings.Builder
	urgency := ""
	if r.Kind.Compromised() {
		urgency = "URGENT: "
	}
	fmt.Fprintf(&b, "Subject: %sClient secret rotation for %s (client %s)\n\n", urgency, c.Organisation, c.ClientID)
	fmt.Fprintf(&b, "Hello Persium support,\n\n")
	fmt.Fprintf(&b, "please issue a new client secret for our machine-to-machine client.\n\n")
	fmt.Fprintf(&b, "Organisation: %s\nOrganisation ID: %s\nClient ID: %s\nReason: %s\n", c.Organisation, c.OrganisationID, c.ClientID, kindReason(r))
	fmt.Fprintf(&b, "Our reference: rotor rotation %s\n\n", r.ID)
	fmt.Fprintf(&b, "Please keep the current secret valid until we confirm that the new one is deployed; we will then ask you to retire it. ")
	fmt.Fprintf(&b, "This is our only open request for this client: please issue one new secret only, because a second one would invalidate the current secret while we still use it.\n\n")
	fmt.Fprintf(&b, "Thank you.\n")
	return b.String()
}

// RetireText returns the message that requests Persium to retire the old
// secret.
func RetireText(c Credential, r Rotation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: Please retire the old client secret of %s (client %s)\n\n", c.Organisation, c.ClientID)
	fmt.Fprintf(&b, "Hello Persium support,\n\n")
	fmt.Fprintf(&b, "we have deployed the new client secret for client %s", c.ClientID)
	if r.Ticket != "" {
		fmt.Fprintf(&b, " (your ticket %s)", r.Ticket)
	}
	fmt.Fprintf(&b, ". Please retire the previous secret now and confirm when it no longer works.\n\n")
	fmt.Fprintf(&b, "Our reference: rotor rotation %s\n\nThank you.\n", r.ID)
	return b.String()
}

func kindReason(r Rotation) string {
	switch r.Kind {
	case KindScheduled:
		return "scheduled rotation"
	case KindEmergency:
		return "suspected compromise of the current secret"
	case KindOffboarding:
		return "staff offboarding"
	}
	if r.Reason != "" {
		return r.Reason
	}
	return "routine rotation"
}

// urgentRequestText returns the request to Persium after a reported
// compromise. It requests a new secret only while the rotation is
// requested, because once Persium issued one, a second would invalidate
// it. It always states whether to revoke the old secret now, and what that
// costs.
//
// Service.SendPersiumRequest can e-mail it; otherwise the operator sends it.
func urgentRequestText(c Credential, r Rotation, inc Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: URGENT: suspected compromise of the client secret of %s (client %s)\n\n", c.Organisation, c.ClientID)
	fmt.Fprintf(&b, "Hello Persium support,\n\n")
	fmt.Fprintf(&b, "we treat the client secret of our machine-to-machine client as compromised: %s. We have no evidence of abuse yet.\n\n", inc.What.Describe())
	fmt.Fprintf(&b, "Organisation: %s\nOrganisation ID: %s\nClient ID: %s\n", c.Organisation, c.OrganisationID, c.ClientID)
	fmt.Fprintf(&b, "Detected: %s\n", inc.DetectedAt.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Reported to us: %s by %s\n", inc.ReportedAt.UTC().Format("2006-01-02 15:04 UTC"), inc.ReportedBy)
	if inc.Reference != "" {
		fmt.Fprintf(&b, "Our incident reference: %s\n", inc.Reference)
	}
	fmt.Fprintf(&b, "rotor reference: incident %s, rotation %s\n", inc.ID, r.ID)
	if r.Ticket != "" {
		fmt.Fprintf(&b, "Your ticket: %s\n", r.Ticket)
	}
	b.WriteString("\n")

	// A cancelled rotation counts as issued only if Persium issued its
	// secret before the cancellation.
	issued := r.State == StateNewIssued || r.State == StateDualActive || r.State == StateOldRetired || !r.IssuedAt.IsZero()
	if issued {
		b.WriteString("You have already issued a new secret for this client in our open rotation, and we hold it. Please do not issue another one: a second new secret would invalidate the one we are deploying.\n\n")
	} else {
		b.WriteString("Please issue a new client secret now, and only one: this is our only open request for this client.\n\n")
	}

	if inc.ForceRevoke {
		if issued {
			b.WriteString("Please revoke the previous (compromised) secret now, without waiting for our signal. ")
		} else {
			b.WriteString("Please revoke the current (compromised) secret now, as you issue the new one, without waiting for our signal. ")
		}
		b.WriteString("We accept the consequence: every consumer still using the old secret fails to get tokens until we have deployed the new one. Please confirm when the old secret no longer works.\n\n")
	} else {
		b.WriteString("Please keep the old secret valid for now: we have chosen not to have it revoked at once, because consumers still using it would fail until we have deployed the new one. We will deploy the new secret as fast as we can and then ask you to retire the old one; please act on that request at once.\n\n")
	}
	b.WriteString("Thank you.\n")
	return b.String()
}
