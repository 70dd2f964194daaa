package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/rotorhq/rotor/rotation"
)

// Message is one reminder as a channel delivers it: a subject and a plain
// text for people, and the fields behind them for structured channels such
// as webhooks. It never holds a secret.
type Message struct {
	CredentialID string
	Organisation string
	ClientID     string
	DueAt        time.Time // UTC

	// BeforeDue is how long before DueAt the reminder is for: 0 at the due
	// date, negative while overdue.
	BeforeDue time.Duration

	Subject string
	Text    string
}

// Overdue reports whether the due date had passed when the reminder fell due.
func (m Message) Overdue() bool { return m.BeforeDue < 0 }

// Sender delivers a message on one configured channel, such as an SMTP
// recipient list, a Slack incoming webhook or a signed webhook.
//
// idempotencyKey is the same for every attempt at one reminder, including
// the one resend that can follow a crash between sending and recording, so
// a channel that supports it (a signed webhook header) lets the receiver
// drop the copy. The error text is stored with the reminder and logged,
// after the scheduler cuts every URL in it to scheme and host. Apart from
// URLs, it must not contain a secret.
type Sender interface {
	Send(ctx context.Context, channel string, m Message, idempotencyKey string) error
}

// ErrPermanent marks a send error that no retry can fix, such as a
// rejected recipient or an archived Slack channel. A Sender wraps it, and
// the scheduler then fails the reminder at once instead of retrying.
var ErrPermanent = errors.New("permanent send failure")

// RetryAfterError carries how long the receiver asked rotor to wait, as a
// 429's Retry-After header does. The scheduler waits at least that long
// before the next attempt.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, channel string, m Message, idempotencyKey string) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, channel string, m Message, idempotencyKey string) error {
	return f(ctx, channel, m, idempotencyKey)
}

// NewMessage returns the message for reminder k about credential c.
func NewMessage(c rotation.Credential, k rotation.ReminderKey) Message {
	m := Message{
		CredentialID: c.ID,
		Organisation: c.Organisation,
		ClientID:     c.ClientID,
		DueAt:        k.DueAt.UTC(),
		BeforeDue:    k.BeforeDue,
	}
	client := fmt.Sprintf("%s (client ID %s)", c.Organisation, c.ClientID)
	due := m.DueAt.Format("2006-01-02 15:04 UTC")
	switch {
	case k.BeforeDue > 0:
		m.Subject = fmt.Sprintf("Persium client secret of %s is due for rotation in %s", client, amount(k.BeforeDue))
		m.Text = fmt.Sprintf("The Persium client secret of credential %s, %s, is due for rotation on %s.", c.ID, client, due)
	case k.BeforeDue == 0:
		m.Subject = fmt.Sprintf("Persium client secret of %s is due for rotation today", client)
		m.Text = fmt.Sprintf("The Persium client secret of credential %s, %s, is due for rotation now, on %s.", c.ID, client, due)
	default:
		m.Subject = fmt.Sprintf("Persium client secret of %s is %s overdue for rotation", client, amount(-k.BeforeDue))
		m.Text = fmt.Sprintf("The Persium client secret of credential %s, %s, was due for rotation on %s and is now %s overdue.", c.ID, client, due, amount(-k.BeforeDue))
	}
	m.Text += fmt.Sprintf("\n\nOpen rotor and request a rotation of %s. rotor shows the request to send to Persium and walks you through each step.", c.ID)
	return m
}

// amount returns a positive duration in days, hours or, failing both, Go's
// notation.
func amount(d time.Duration) string {
	switch {
	case d == rotation.Day:
		return "1 day"
	case d%rotation.Day == 0:
		return fmt.Sprintf("%d days", d/rotation.Day)
	case d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

// maxErrorBytes bounds the error text stored with a reminder.
const maxErrorBytes = 500

// urlPattern matches a URL with a scheme and an authority, up to the next
// space, quote or angle bracket.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// errorText returns err's text for storage and logs, cut to maxErrorBytes.
// Every URL in it is cut to its scheme and host, because a Slack webhook
// URL carries its secret in the path, and other URLs can carry credentials
// in userinfo or the query.
func errorText(err error) string {
	msg := urlPattern.ReplaceAllStringFunc(err.Error(), func(s string) string {
		u, perr := url.Parse(s)
		if perr != nil || u.Host == "" {
			return "[URL removed]"
		}
		return u.Scheme + "://" + u.Host + "/…"
	})
	if len(msg) <= maxErrorBytes {
		return msg
	}
	n := maxErrorBytes
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n] + "…"
}
