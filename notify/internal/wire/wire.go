// Package wire holds what the notify channels share: the check for a
// loopback host, and an HTTP POST to a webhook URL that is a secret. No
// function here returns an error or a value that contains the URL.
package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/secret"
)

// maxResponseBytes bounds how much of a response body is kept. A webhook
// reply worth reading is a short code such as Slack's "ok" or
// "channel_is_archived".
const maxResponseBytes = 4 << 10

// maxDrainBytes bounds how much more of a response body is read and
// discarded so that the connection can be reused.
const maxDrainBytes = 64 << 10

// IsLoopback reports whether host (a name or an address, without port) is
// "localhost" or a loopback address such as 127.0.0.1 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseURL parses a webhook URL. It accepts https, and http only when
// allowLoopbackHTTP is set and the host is a loopback host. The error never
// quotes the URL.
func ParseURL(raw secret.Value, allowLoopbackHTTP bool) (*url.URL, error) {
	if raw.IsZero() {
		return nil, errors.New("webhook URL is empty")
	}
	u, err := url.Parse(strings.TrimSpace(raw.Reveal()))
	if err != nil {
		// A *url.Error quotes the whole URL, so only its cause is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, errors.New("webhook URL is invalid: " + err.Error())
	}
	if u.Hostname() == "" {
		return nil, errors.New("webhook URL has no host")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowLoopbackHTTP || !IsLoopback(u.Hostname()) {
			return nil, errors.New("webhook URL for host " + u.Hostname() + " must use https")
		}
	default:
		return nil, errors.New("webhook URL for host " + u.Hostname() + " must use https")
	}
	return u, nil
}

// NewClient returns a copy of base (a zero http.Client when base is nil)
// that never follows a redirect and gives up after timeout.
func NewClient(base *http.Client, timeout time.Duration) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	c.Timeout = timeout
	return c
}

// Response is the part of an HTTP response that a channel reads.
type Response struct {
	Status int
	Header http.Header
	// Body holds at most the first 4 KiB of the body.
	Body []byte
}

// Post sends body as JSON to u with the given extra headers. A transport
// error comes back without the URL: the *url.Error that net/http wraps
// around it is removed, and any remaining mention of the URL, its path, its
// query or its user information is replaced by secret.Redacted.
func Post(ctx context.Context, client *http.Client, u *url.URL, header http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, scrub(err, u)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rotor-notify")

	resp, err := client.Do(req)
	if err != nil {
		return nil, scrub(err, u)
	}
	defer resp.Body.Close()

	kept, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: kept}, nil
}

// IsPermanent reports whether an HTTP status means that sending the same
// request again cannot succeed: every 4xx except 408 Request Timeout, 425
// Too Early and 429 Too Many Requests.
func IsPermanent(status int) bool {
	if status < 400 || status > 499 {
		return false
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return true
}

// maxRetryAfter caps the wait taken from a Retry-After header, so a
// mistaken or hostile value cannot park a reminder for weeks.
const maxRetryAfter = 24 * time.Hour

// RetryAfter parses a Retry-After header, which holds either a number of
// seconds or an HTTP date (RFC 9110 section 10.2.3), and returns the wait
// from now, at most 24 hours. It returns 0 for an empty, malformed or past
// value.
func RetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	var wait time.Duration
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds <= 0 {
			return 0
		}
		wait = maxRetryAfter
		if seconds < int64(maxRetryAfter/time.Second) {
			wait = time.Duration(seconds) * time.Second
		}
	} else if at, err := http.ParseTime(value); err == nil && at.After(now) {
		wait = at.Sub(now)
	}
	return min(wait, maxRetryAfter)
}

// scrubbedError keeps a cause for errors.Is and errors.As but shows a text
// without the URL.
type scrubbedError struct {
	text  string
	cause error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.cause }

// scrub removes the *url.Error layer, which quotes the whole URL, and then
// redacts the URL's parts should the cause still mention them.
func scrub(err error, u *url.URL) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	parts := []string{u.String(), u.EscapedPath(), u.Path, u.RawQuery}
	if u.User != nil {
		parts = append(parts, u.User.String())
	}
	text := err.Error()
	redacted := text
	for _, part := range parts {
		if len(part) > 1 {
			redacted = strings.ReplaceAll(redacted, part, secret.Redacted)
		}
	}
	if redacted == text {
		return err
	}
	return &scrubbedError{text: redacted, cause: err}
}
