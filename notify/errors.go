package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrPermanent marks a delivery failure that a retry of the same message
// cannot fix: an invalid address, a rejected login, a webhook that no
// longer exists, any HTTP 4xx other than 408 and 429, an SMTP 5xx reply.
// Check for it with errors.Is.
var ErrPermanent = errors.New("permanent delivery failure")

// SendError describes a failed delivery attempt. Its text contains the
// channel name, the operation, the host, and the server's status code or a
// short code from the server. It never contains a webhook URL, a password
// or a signing key, and a well-formed reply shows only by its codes, never
// by its free text.
type SendError struct {
	// Channel is the channel's name, such as "smtp", "slack" or "webhook".
	Channel string
	// Op names the step that failed, such as "post", "starttls" or
	// "rcpt to ops@example.com".
	Op string
	// Host is the destination host name or address, without port or path.
	Host string
	// Code is the HTTP status or the SMTP reply code, or 0 when the server
	// sent no reply.
	Code int
	// Reply describes the server's reply by its codes only, such as
	// "HTTP 410 channel_is_archived" or "SMTP 535 5.7.8". It is empty when
	// the server sent no reply.
	Reply string
	// Permanent reports whether retrying cannot help.
	Permanent bool
	// RetryAfter is the wait the server asked for (HTTP Retry-After), or 0.
	RetryAfter time.Duration
	// Err is the cause when the server sent no reply: a network, TLS or
	// time-out error, with any URL removed. It is nil when Code is set.
	Err error
}

// Error formats the failure, for example
// "slack hooks.slack.com: post: HTTP 410 channel_is_archived (permanent)".
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString(e.Channel)
	if e.Host != "" {
		b.WriteString(" " + e.Host)
	}
	b.WriteString(": " + e.Op + ": ")
	switch {
	case e.Reply != "":
		b.WriteString(e.Reply)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("no reply")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.Permanent {
		b.WriteString(" (permanent)")
	}
	return b.String()
}

// Unwrap returns ErrPermanent when the failure is permanent, and the cause.
func (e *SendError) Unwrap() []error {
	var errs []error
	if e.Permanent {
		errs = append(errs, ErrPermanent)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// RetryAfter returns the wait that the server asked for before the next
// attempt, or 0 when err carries none. It is a lower bound for the caller's
// backoff, not a promise that the next attempt succeeds.
func RetryAfter(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
