// Package slack delivers rotor's reminders and alerts to a Slack incoming
// webhook.
//
// A message is one POST of {"text": ...} with the subject in bold and the
// body below it. The characters &, < and > are sent as &amp;, &lt; and
// &gt;, as Slack's formatting reference requires for literal text. So an
// organisation name or a subject cannot form a link or a mention such as
// <!channel>.
//
// Slack's documented replies decide the outcome. A 2xx is delivered (Slack
// sends 200 with the body "ok"). These are permanent: 400 invalid_payload,
// 403 action_prohibited, 404 channel_not_found (or no_service for a removed
// webhook) and 410 channel_is_archived. These are temporary: 429 with
// Retry-After in seconds, and 5xx such as 500 rollup_error. Any other 4xx,
// except 408 and 425, is permanent, and any other status is temporary.
// Redirects are not followed. Sources: Slack's API changelog entry
// "Improving error conditions for Incoming Webhooks" (2016-05-17) and its
// rate limits page.
//
// The webhook URL is a secret: it is held as a secret.Value, and neither
// errors nor logs contain it, only its host.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/internal/wire"
	"github.com/rotorhq/rotor/secret"
)

// DefaultTimeout bounds one delivery attempt when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config configures a Slack channel.
type Config struct {
	// Name identifies the channel in errors, logs and idempotency keys;
	// "slack" when empty. Two Slack channels need two names.
	Name string
	// WebhookURL is the incoming webhook's URL, for example
	// https://hooks.slack.com/services/T…/B…/…. It must use https.
	WebhookURL secret.Value
	// AllowLoopbackHTTP accepts an http URL whose host is a loopback
	// address, for tests and for rotor dev only.
	AllowLoopbackHTTP bool
	// Location is the time zone for dates in messages; UTC when nil.
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
	// Now is the clock used to read an HTTP-date Retry-After; time.Now
	// when nil.
	Now func() time.Time
}

// Channel posts messages to one Slack incoming webhook. It is safe for
// concurrent use.
type Channel struct {
	name   string
	url    secret.Value
	host   string
	allow  bool
	loc    *time.Location
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
}

var _ notify.Channel = (*Channel)(nil)

// New checks cfg and returns a Channel. An invalid URL is an error that
// names at most the URL's host.
func New(cfg Config) (*Channel, error) {
	u, err := wire.ParseURL(cfg.WebhookURL, cfg.AllowLoopbackHTTP)
	if err != nil {
		return nil, fmt.Errorf("configure slack channel: %w", err)
	}
	c := &Channel{
		name:   cfg.Name,
		url:    cfg.WebhookURL,
		host:   u.Hostname(),
		allow:  cfg.AllowLoopbackHTTP,
		loc:    cfg.Location,
		client: wire.NewClient(cfg.HTTPClient, cmpOr(cfg.Timeout, DefaultTimeout)),
		log:    cfg.Logger,
		now:    cfg.Now,
	}
	if c.name == "" {
		c.name = "slack"
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

// Name returns the channel's configured name, "slack" by default.
func (c *Channel) Name() string { return c.name }

// Send posts m to the webhook once. The error is a *notify.SendError, or a
// validation error of m; both wrap notify.ErrPermanent when a retry cannot
// help, and notify.RetryAfter returns Slack's Retry-After.
func (c *Channel) Send(ctx context.Context, m notify.Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	subject, text := notify.Render(m, c.loc)
	body, err := payload(subject, text)
	if err != nil {
		return fmt.Errorf("%s: encode message for credential %s: %w", c.name, m.CredentialID, err)
	}

	// The URL was parsed in New, so this parse succeeds; it is repeated to
	// keep the parsed URL out of the Channel's fields.
	u, err := wire.ParseURL(c.url, c.allow)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}

	start := time.Now()
	resp, err := wire.Post(ctx, c.client, u, nil, body)
	if err != nil {
		sendErr := &notify.SendError{Channel: c.name, Op: "post", Host: c.host, Err: err}
		c.logAttempt(ctx, m, 0, start, sendErr)
		return sendErr
	}
	if resp.Status >= 200 && resp.Status <= 299 {
		c.logAttempt(ctx, m, resp.Status, start, nil)
		return nil
	}

	reply := "HTTP " + strconv.Itoa(resp.Status)
	if code := errorCode(resp.Body); code != "" {
		reply += " " + code
	}
	sendErr := &notify.SendError{
		Channel:    c.name,
		Op:         "post",
		Host:       c.host,
		Code:       resp.Status,
		Reply:      reply,
		Permanent:  wire.IsPermanent(resp.Status),
		RetryAfter: wire.RetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	c.logAttempt(ctx, m, resp.Status, start, sendErr)
	return sendErr
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
		c.log.LogAttrs(ctx, slog.LevelDebug, "slack message not delivered", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "slack message delivered", attrs...)
}

// payload encodes the Slack message: the subject in bold, then the body,
// both escaped.
func payload(subject, text string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	msg := struct {
		Text string `json:"text"`
	}{Text: "*" + Escape(subject) + "*\n" + Escape(text)}
	if err := enc.Encode(msg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape replaces the three characters that Slack reads as control
// characters in message text (&, < and >) with &amp;, &lt; and &gt;.
func Escape(s string) string { return escaper.Replace(s) }

// codePattern matches Slack's error codes, such as "channel_is_archived".
var codePattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// errorCode extracts Slack's error code from a reply body, which is either
// the bare code or a JSON object with an "error" field. It returns "" for
// anything else, so no free text from the reply reaches an error.
func errorCode(body []byte) string {
	s := strings.TrimSpace(string(body))
	if codePattern.MatchString(s) {
		return s
	}
	var obj struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &obj); err == nil && codePattern.MatchString(obj.Error) {
		return obj.Error
	}
	return ""
}

func cmpOr(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}
