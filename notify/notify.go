// Package notify defines the message that rotor's reminders and alerts carry
// and the Channel interface that delivers it. Each channel lives in its own
// sub-package: smtp (e-mail), slack (Slack incoming webhooks) and webhook
// (signed generic webhooks).
//
// A channel makes one delivery attempt per Send and never retries. The
// caller retries an error unless errors.Is(err, ErrPermanent) holds, and may
// use RetryAfter as the minimum wait. Exactly-once delivery per credential,
// due date, offset and channel is the caller's job. A channel only passes
// Message.IdempotencyKey on, so that a resend after a crash can be
// recognised: e-mail derives its Message-ID from it, and a webhook sends it
// as a header and a body field. Slack has no place for it.
package notify

import (
	"context"
	"fmt"
	"time"
)

// Kind is the reason a message is sent.
type Kind string

const (
	// KindReminder announces a rotation that falls due in DaysLeft days
	// (zero on the due date).
	KindReminder Kind = "reminder"
	// KindOverdue reports a rotation whose due date has passed; DaysLeft is
	// negative.
	KindOverdue Kind = "overdue"
	// KindUrgent reports a suspected compromise that opened or escalated an
	// emergency rotation.
	KindUrgent Kind = "urgent"
	// KindAlert reports an operational problem with a credential, such as an
	// old secret revoked before retirement or a version change that rotor
	// did not make. The caller sets Subject and Text, because Render has
	// only a generic wording for it.
	KindAlert Kind = "alert"
)

// valid reports whether k is one of the kinds above.
func (k Kind) valid() bool {
	switch k {
	case KindReminder, KindOverdue, KindUrgent, KindAlert:
		return true
	}
	return false
}

// Message is one reminder or alert about one credential. It never holds a
// secret.
type Message struct {
	Kind         Kind
	CredentialID string
	Organisation string
	ClientID     string
	// DueAt is the credential's due date in UTC. It may be zero for an
	// alert that is not about a due date.
	DueAt time.Time
	// DaysLeft counts whole days until DueAt; it is negative when overdue.
	DaysLeft int
	// Offset is the reminder offset that triggered the message, such as
	// "14d", "due" or "overdue+7d"; it is empty for alerts.
	Offset string
	// URL links to the credential's or the rotation's page in rotor's UI.
	URL string
	// Subject and Text replace what Render builds, each on its own when it
	// is not empty.
	Subject string
	Text    string
	// IdempotencyKey is the same for every attempt to deliver this message
	// on this channel, including a resend after a crash, and differs
	// between channels.
	IdempotencyKey string
}

// Validate checks the fields that every channel needs. An invalid message
// can never be delivered, so the error wraps ErrPermanent.
func (m Message) Validate() error {
	switch {
	case !m.Kind.valid():
		return fmt.Errorf("%w: invalid message kind %q", ErrPermanent, m.Kind)
	case m.CredentialID == "":
		return fmt.Errorf("%w: message has no credential id", ErrPermanent)
	case m.IdempotencyKey == "":
		return fmt.Errorf("%w: message for credential %s has no idempotency key", ErrPermanent, m.CredentialID)
	}
	return nil
}

// Channel delivers messages to one destination.
type Channel interface {
	// Name identifies the channel in logs and errors, for example "smtp".
	Name() string
	// Send makes one delivery attempt. It returns nil once the destination
	// has accepted the message, and otherwise an error that wraps
	// ErrPermanent when retrying cannot help. A time-out is a temporary
	// error, although the destination may have accepted the message: a
	// retry may then deliver it twice with the same IdempotencyKey.
	Send(ctx context.Context, m Message) error
}
