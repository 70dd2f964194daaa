// Package webhook delivers rotor's reminders and alerts to a generic HTTPS
// endpoint as signed JSON.
//
// # Request
//
// Each delivery attempt is one POST with Content-Type application/json.
// The body is a Payload object. Three headers come with it:
//
//	Rotor-Timestamp:       the time of the attempt, in Unix seconds
//	Rotor-Signature:       v1=<lowercase hex of HMAC-SHA256(key, timestamp + "." + body)>
//	Rotor-Idempotency-Key: the payload's idempotency_key
//
// The key is the shared signing key exactly as configured, used as raw
// bytes (it is not hex- or Base64-decoded). A resend of the same reminder,
// even after rotor crashed between sending and recording, carries the same
// idempotency key, but a new timestamp and therefore a new signature.
//
// # Verifying a delivery
//
// A receiver accepts a request only after these steps:
//
//  1. Read the raw body bytes, before any JSON decoding.
//  2. Compute HMAC-SHA256 over the Rotor-Timestamp value, a full stop and
//     the raw body, keyed with the signing key, and encode it as lowercase
//     hex.
//  3. Compare it, in constant time, with each v1= value in Rotor-Signature
//     (a comma-separated list; unknown schemes are ignored). Reject the
//     request when none matches.
//  4. Reject the request when Rotor-Timestamp is more than five minutes
//     away from the receiver's clock, in either direction. This bounds
//     how long a captured request can be replayed.
//  5. Drop a request whose Rotor-Idempotency-Key was already processed
//     (a resend, or a replay inside the window), but still respond 2xx.
//
// In Go, Verify does steps 2 to 4. In a shell, step 2 is
//
//	printf '%s.%s' "$timestamp" "$body" | openssl dgst -sha256 -hmac "$key"
//
// # Replies
//
// Any 2xx means delivered. A 4xx other than 408, 425 and 429 is a
// permanent failure: the error wraps notify.ErrPermanent, so the sender
// should not try again. Every other status, a time-out and a connection
// failure are temporary, and a Retry-After header (seconds or an HTTP date)
// is available to the sender through notify.RetryAfter. Redirects are not
// followed: a 3xx is a temporary failure.
//
// The URL and the signing key are secrets: both are held as secret.Value,
// and neither errors nor logs contain them, only the URL's host.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/internal/wire"
	"github.com/rotorhq/rotor/secret"
)

// Header names of a delivery.
const (
	HeaderTimestamp      = "Rotor-Timestamp"
	HeaderSignature      = "Rotor-Signature"
	HeaderIdempotencyKey = "Rotor-Idempotency-Key"
)

// DefaultTimeout bounds one delivery attempt when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultMaxAge is the replay window that Verify applies when maxAge is
// zero.
const DefaultMaxAge = 5 * time.Minute

// MinKeyBytes is the shortest signing key New accepts: 32 bytes, the
// output size of SHA-256.
const MinKeyBytes = 32

// Payload is the JSON body of a delivery.
type Payload struct {
	Kind         notify.Kind `json:"kind"`
	CredentialID string      `json:"credential_id"`
	Organisation string      `json:"organisation"`
	ClientID     string      `json:"client_id"`
	// DueAt is in UTC, RFC 3339; it is absent when the message has no due
	// date.
	DueAt    *time.Time `json:"due_at,omitempty"`
	DaysLeft int        `json:"days_left"`
	Offset   string     `json:"offset,omitempty"`
	URL      string     `json:"url,omitempty"`
	// Subject and Text are the rendered message, ready to forward.
	Subject        string `json:"subject"`
	Text           string `json:"text"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Config configures a webhook channel.
type Config struct {
	// Name identifies the channel in errors, logs and idempotency keys;
	// "webhook" when empty. Two webhook channels need two names.
	Name string
	// URL is the endpoint. It must use https.
	URL secret.Value
	// SigningKey is the shared HMAC key, at least MinKeyBytes long.
	SigningKey secret.Value
	// AllowLoopbackHTTP accepts an http URL whose host is a loopback
	// address, for tests and for rotor dev only.
	AllowLoopbackHTTP bool
	// Location is the time zone for dates in Subject and Text; UTC when
	// nil. DueAt is always sent in UTC.
	Location *time.Location
	// Timeout bounds one attempt, connection included; DefaultTimeout when
	// zero.
	Timeout time.Duration
	// HTTPClient supplies the transport, for example one that trusts a test
	// CA. The channel uses a copy that follows no redirects and has
	// Timeout set. nil means a client with http.DefaultTransport.
	HTTPClient *http.Client
	// Logger receives one debug record per attempt; nil discards them.
	Logger *slog.Logger
	// Now is the clock for Rotor-Timestamp; time.Now when nil.
	Now func() time.Time
}

// Channel posts signed messages to one endpoint. It is safe for concurrent
// use.
type Channel struct {
	name   string
	url    secret.Value
	key    secret.Value
	host   string
	allow  bool
	loc    *time.Location
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
}

var _ notify.Channel = (*Channel)(nil)

// New checks cfg and returns a Channel. An invalid URL or key is an error
// that names at most the URL's host.
func New(cfg Config) (*Channel, error) {
	u, err := wire.ParseURL(cfg.URL, cfg.AllowLoopbackHTTP)
	if err != nil {
		return nil, fmt.Errorf("configure webhook channel: %w", err)
	}
	if cfg.SigningKey.Len() < MinKeyBytes {
		return nil, fmt.Errorf("configure webhook channel for host %s: signing key has %d bytes, want at least %d", u.Hostname(), cfg.SigningKey.Len(), MinKeyBytes)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Channel{
		name:   cfg.Name,
		url:    cfg.URL,
		key:    cfg.SigningKey,
		host:   u.Hostname(),
		allow:  cfg.AllowLoopbackHTTP,
		loc:    cfg.Location,
		client: wire.NewClient(cfg.HTTPClient, timeout),
		log:    cfg.Logger,
		now:    cfg.Now,
	}
	if c.name == "" {
		c.name = "webhook"
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Name returns the channel's configured name, "webhook" by default.
func (c *Channel) Name() string { return c.name }

// Send posts m, signed, to the endpoint once. The error is a
// *notify.SendError, or a validation error of m; both wrap
// notify.ErrPermanent when a retry cannot help, and notify.RetryAfter
// returns the endpoint's Retry-After.
func (c *Channel) Send(ctx context.Context, m notify.Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	body, err := c.encode(m)
	if err != nil {
		return fmt.Errorf("%s: encode message for credential %s: %w", c.name, m.CredentialID, err)
	}

	// The URL was parsed in New, so this parse succeeds; it is repeated to
	// keep the parsed URL out of the Channel's fields.
	u, err := wire.ParseURL(c.url, c.allow)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}

	timestamp := strconv.FormatInt(c.now().Unix(), 10)
	header := http.Header{}
	header.Set(HeaderTimestamp, timestamp)
	header.Set(HeaderSignature, Sign(c.key, timestamp, body))
	header.Set(HeaderIdempotencyKey, m.IdempotencyKey)

	start := time.Now()
	resp, err := wire.Post(ctx, c.client, u, header, body)
	if err != nil {
		sendErr := &notify.SendError{Channel: c.name, Op: "post", Host: c.host, Err: err}
		c.logAttempt(ctx, m, 0, start, sendErr)
		return sendErr
	}
	if resp.Status >= 200 && resp.Status <= 299 {
		c.logAttempt(ctx, m, resp.Status, start, nil)
		return nil
	}

	sendErr := &notify.SendError{
		Channel:    c.name,
		Op:         "post",
		Host:       c.host,
		Code:       resp.Status,
		Reply:      "HTTP " + strconv.Itoa(resp.Status),
		Permanent:  wire.IsPermanent(resp.Status),
		RetryAfter: wire.RetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	c.logAttempt(ctx, m, resp.Status, start, sendErr)
	return sendErr
}

func (c *Channel) encode(m notify.Message) ([]byte, error) {
	subject, text := notify.Render(m, c.loc)
	p := Payload{
		Kind:           m.Kind,
		CredentialID:   m.CredentialID,
		Organisation:   m.Organisation,
		ClientID:       m.ClientID,
		DaysLeft:       m.DaysLeft,
		Offset:         m.Offset,
		URL:            m.URL,
		Subject:        subject,
		Text:           text,
		IdempotencyKey: m.IdempotencyKey,
	}
	if !m.DueAt.IsZero() {
		due := m.DueAt.UTC()
		p.DueAt = &due
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (c *Channel) logAttempt(ctx context.Context, m notify.Message, status int, start time.Time, err error) {
	attrs := []slog.Attr{
		slog.String("channel", c.name),
		slog.String("host", c.host),
		slog.String("credential_id", m.CredentialID),
		slog.String("idempotency_key", m.IdempotencyKey),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "webhook message not delivered", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "webhook message delivered", attrs...)
}

// Sign returns the Rotor-Signature value for a timestamp and a raw body:
// "v1=" and the lowercase hex HMAC-SHA256 of timestamp + "." + body, keyed
// with key.
func Sign(key secret.Value, timestamp string, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(key, timestamp, body))
}

func mac(key secret.Value, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(key.Reveal()))
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors that Verify returns.
var (
	// ErrInvalidSignature means that no v1 signature in the header matches
	// the body and timestamp: the request was not signed with this key, or
	// was changed on the way.
	ErrInvalidSignature = errors.New("webhook signature does not match")
	// ErrInvalidTimestamp means that the timestamp is missing, is not a
	// whole number of Unix seconds, or lies outside the replay window.
	ErrInvalidTimestamp = errors.New("webhook timestamp is invalid or outside the replay window")
)

// maxSignatures bounds how many comma-separated entries Verify examines in
// one Rotor-Signature header.
const maxSignatures = 8

// Verify checks a delivery as a receiver should: signature is the
// Rotor-Signature header, timestamp the Rotor-Timestamp header and body the
// raw request body. It returns nil when a v1 entry of signature equals
// Sign(key, timestamp, body), compared in constant time, and the timestamp
// lies within maxAge of now in either direction (DefaultMaxAge when maxAge
// is zero or negative). Otherwise it returns an error wrapping
// ErrInvalidSignature or ErrInvalidTimestamp. Verify does not detect a
// replay inside the window: the receiver drops repeated
// Rotor-Idempotency-Key values for that.
func Verify(key secret.Value, timestamp string, body []byte, signature string, maxAge time.Duration, now time.Time) error {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || timestamp == "" || timestamp[0] == '+' || timestamp[0] == '-' {
		return fmt.Errorf("verify webhook: timestamp %q is not a number of Unix seconds: %w", truncate(timestamp, 20), ErrInvalidTimestamp)
	}

	want := mac(key, timestamp, body)
	matched := false
	for i, entry := range strings.Split(signature, ",") {
		if i == maxSignatures {
			break
		}
		scheme, value, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || scheme != "v1" {
			continue
		}
		got, err := hex.DecodeString(value)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("verify webhook: %w", ErrInvalidSignature)
	}

	age := now.Sub(time.Unix(seconds, 0))
	if age > maxAge {
		return fmt.Errorf("verify webhook: timestamp is %s old, more than %s: %w", age.Round(time.Second), maxAge, ErrInvalidTimestamp)
	}
	if age < -maxAge {
		return fmt.Errorf("verify webhook: timestamp is %s in the future, more than %s: %w", (-age).Round(time.Second), maxAge, ErrInvalidTimestamp)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
