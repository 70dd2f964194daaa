// Package smtp delivers rotor's reminders and alerts as plain-text e-mail
// through an SMTP submission server.
//
// Each attempt opens one connection and upgrades it with STARTTLS (TLS 1.2
// or later, with the certificate checked against Config.TLSConfig or the
// system roots). It then logs in with AUTH PLAIN when a username is set,
// and sends one message to every recipient in one transaction. Without STARTTLS nothing is sent and
// the password never leaves rotor; plain SMTP is possible only to a
// loopback host and only with Config.AllowPlainLoopback, for tests.
//
// The Message-ID is derived from the message's idempotency key, so a
// resend after a crash has the same Message-ID and mail clients and
// archives can recognise it as a duplicate.
//
// An SMTP 5xx reply is permanent, a 4xx reply temporary. Errors name the
// step, the host and the reply codes, never the password and never the
// server's reply text.
package smtp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/internal/wire"
	"github.com/rotorhq/rotor/secret"
)

// DefaultPort is the SMTP submission port (RFC 6409), used when
// Config.Port is zero.
const DefaultPort = 587

// DefaultTimeout bounds one delivery attempt when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// maxSubjectRunes bounds the Subject header, so that it stays far below
// the 998-character line limit of RFC 5322 once encoded.
const maxSubjectRunes = 200

// Config configures an e-mail channel.
type Config struct {
	// Name identifies the channel in errors, logs and idempotency keys;
	// "smtp" when empty.
	Name string
	// Host is the submission server's host name or address.
	Host string
	// Port is the server's port; DefaultPort when zero.
	Port int
	// Username and Password log in with AUTH PLAIN after STARTTLS. Both
	// are empty for a server that relays without login.
	Username string
	Password secret.Value
	// From is the sender, such as "rotor <rotor@example.com>".
	From string
	// To lists the recipients; each is an RFC 5322 address.
	To []string
	// TLSConfig verifies the server's certificate; nil means the system
	// roots. ServerName defaults to Host and MinVersion to TLS 1.2.
	TLSConfig *tls.Config
	// AllowPlainLoopback skips STARTTLS. New accepts it only when Host is
	// a loopback host; it exists for tests.
	AllowPlainLoopback bool
	// Location is the time zone for dates in messages; UTC when nil.
	Location *time.Location
	// Timeout bounds one attempt, from connecting to the server's reply to
	// the message; DefaultTimeout when zero.
	Timeout time.Duration
	// Logger receives one debug record per attempt; nil discards them.
	Logger *slog.Logger
	// Now is the clock for the Date header; time.Now when nil.
	Now func() time.Time
}

// Channel sends messages to a fixed list of recipients. It is safe for
// concurrent use: each Send opens its own connection.
type Channel struct {
	name     string
	host     string
	addr     string
	username string
	password secret.Value
	from     *mail.Address
	to       []*mail.Address
	tls      *tls.Config
	plain    bool
	loc      *time.Location
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
}

var _ notify.Channel = (*Channel)(nil)

// New checks cfg and returns a Channel. It does not contact the server.
func New(cfg Config) (*Channel, error) {
	c, err := newChannel(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure smtp channel: %w", err)
	}
	return c, nil
}

func newChannel(cfg Config) (*Channel, error) {
	if cfg.Host == "" {
		return nil, errors.New("host is missing")
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("port %d is out of range", port)
	}
	if cfg.AllowPlainLoopback && !wire.IsLoopback(cfg.Host) {
		return nil, fmt.Errorf("plain SMTP without STARTTLS is allowed only to a loopback host, not %s", cfg.Host)
	}
	if (cfg.Username == "") != cfg.Password.IsZero() {
		return nil, errors.New("username and password must be set together")
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("no recipient in to")
	}
	to := make([]*mail.Address, 0, len(cfg.To))
	for _, s := range cfg.To {
		a, err := parseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("to address: %w", err)
		}
		to = append(to, a)
	}

	tlsConfig := &tls.Config{}
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.Host
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)

	c := &Channel{
		name:     cfg.Name,
		host:     cfg.Host,
		addr:     net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		username: cfg.Username,
		password: cfg.Password,
		from:     from,
		to:       to,
		tls:      tlsConfig,
		plain:    cfg.AllowPlainLoopback,
		loc:      cfg.Location,
		timeout:  cfg.Timeout,
		log:      cfg.Logger,
		now:      cfg.Now,
	}
	if c.name == "" {
		c.name = "smtp"
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// parseAddress parses one RFC 5322 address and rejects line breaks, which
// would let an address add a header or an SMTP command.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("address contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", s, err)
	}
	return a, nil
}

// Recipients returns the channel's own recipients, as configured.
func (c *Channel) Recipients() []string {
	out := make([]string, len(c.to))
	for i, a := range c.to {
		out[i] = a.String()
	}
	return out
}

// Name returns the channel's configured name, "smtp" by default.
func (c *Channel) Name() string { return c.name }

// Send delivers m to every recipient in one SMTP transaction. It returns
// nil once the server has accepted the message. A rejected recipient
// aborts the whole transaction, so either all recipients get the message
// or none does. The error is a *notify.SendError, or a validation error of
// m; both wrap notify.ErrPermanent when a retry cannot help.
func (c *Channel) Send(ctx context.Context, m notify.Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	subject, text := notify.Render(m, c.loc)
	msg := c.compose(envelope{to: c.to, automatic: true}, subject, text, m.IdempotencyKey)

	start := time.Now()
	err := c.deliver(ctx, c.to, msg)

	attrs := []slog.Attr{
		slog.String("channel", c.name),
		slog.String("host", c.host),
		slog.String("credential_id", m.CredentialID),
		slog.String("idempotency_key", m.IdempotencyKey),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "e-mail not delivered", append(attrs, slog.String("error", err.Error()))...)
		return err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "e-mail delivered", attrs...)
	return nil
}

// deliver runs one SMTP session. The attempt's deadline closes the
// connection, which ends any command that is still waiting.
func (c *Channel) deliver(ctx context.Context, recipients []*mail.Address, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// TODO: implicit TLS (SMTPS, usually port 465) is missing, so a server
	// that offers only that cannot be used; only STARTTLS is spoken here.
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return c.fail(ctx, "connect", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	client, err := c.open(ctx, conn)
	if err != nil {
		return err
	}
	defer client.Close()

	if c.username != "" {
		if !client.SupportsAuth(sasl.Plain) {
			return &notify.SendError{Channel: c.name, Op: "auth", Host: c.host, Permanent: true,
				Err: errors.New("server does not offer AUTH PLAIN")}
		}
		if err := client.Auth(sasl.NewPlainClient("", c.username, c.password.Reveal())); err != nil {
			return c.fail(ctx, "auth as "+c.username, err)
		}
	}
	if err := client.Mail(c.from.Address, nil); err != nil {
		return c.fail(ctx, "mail from "+c.from.Address, err)
	}
	for _, to := range recipients {
		if err := client.Rcpt(to.Address, nil); err != nil {
			return c.fail(ctx, "rcpt to "+to.Address, err)
		}
	}
	w, err := client.Data()
	if err != nil {
		return c.fail(ctx, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return c.fail(ctx, "data", err)
	}
	if err := w.Close(); err != nil {
		return c.fail(ctx, "data", err)
	}
	// The server has accepted the message; a failed QUIT does not undo that.
	_ = client.Quit()
	return nil
}

// open greets the server on conn and, unless plain SMTP is allowed, upgrades
// the connection with STARTTLS. It closes conn when it fails.
func (c *Channel) open(ctx context.Context, conn net.Conn) (*gosmtp.Client, error) {
	if c.plain {
		client := gosmtp.NewClient(conn)
		client.CommandTimeout, client.SubmissionTimeout = c.timeout, c.timeout
		if err := client.Hello("localhost"); err != nil {
			_ = client.Close()
			return nil, c.fail(ctx, "hello", err)
		}
		return client, nil
	}

	// NewClientStartTLS reads the greeting and sends EHLO and STARTTLS; it
	// fails when the server does not offer STARTTLS. The TLS handshake
	// itself happens on the next command, so the second EHLO that Hello
	// sends is where a certificate is rejected.
	client, err := gosmtp.NewClientStartTLS(conn, c.tls.Clone())
	if err != nil {
		return nil, c.fail(ctx, "starttls", err)
	}
	client.CommandTimeout, client.SubmissionTimeout = c.timeout, c.timeout
	if err := client.Hello("localhost"); err != nil {
		_ = client.Close()
		return nil, c.fail(ctx, "starttls", err)
	}
	if _, ok := client.TLSConnectionState(); !ok {
		_ = client.Close()
		return nil, &notify.SendError{Channel: c.name, Op: "starttls", Host: c.host,
			Err: errors.New("connection is not encrypted after STARTTLS")}
	}
	return client, nil
}

// fail turns an error from one step into a *notify.SendError. A reply
// keeps only its codes, because the reply text is the server's and might
// echo what was sent.
func (c *Channel) fail(ctx context.Context, op string, err error) error {
	e := &notify.SendError{Channel: c.name, Op: op, Host: c.host}
	var reply *gosmtp.SMTPError
	switch {
	case errors.As(err, &reply):
		e.Code = reply.Code
		e.Reply = "SMTP " + strconv.Itoa(reply.Code)
		if code := reply.EnhancedCode; code != gosmtp.EnhancedCodeNotSet && code != gosmtp.NoEnhancedCode {
			e.Reply += fmt.Sprintf(" %d.%d.%d", code[0], code[1], code[2])
		}
		e.Permanent = reply.Code >= 500 && reply.Code <= 599
	case ctx.Err() != nil:
		// The deadline or a cancellation closed the connection. Only the
		// context's error shows which of the two it was.
		e.Err = ctx.Err()
	default:
		e.Err = err
	}
	return e
}

// compose builds the message: headers, a blank line and a quoted-printable
// UTF-8 body, with CRLF line endings.
// envelope is who a message goes to and how it presents itself.
type envelope struct {
	to, cc []*mail.Address

	// automatic marks a message that rotor sends on its own, such as a
	// reminder, with Auto-Submitted (RFC 3834), so that auto-responders
	// stay quiet. A message a person asked rotor to send has none.
	automatic bool
}

// addresses formats a list for a header.
func addresses(list []*mail.Address) string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.String()
	}
	return strings.Join(out, ", ")
}

func (c *Channel) compose(env envelope, subject, text, idempotencyKey string) []byte {
	subject = strings.Join(strings.Fields(subject), " ") // no header injection through line breaks
	if r := []rune(subject); len(r) > maxSubjectRunes {
		subject = string(r[:maxSubjectRunes-1]) + "…"
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name + ": " + value + "\r\n")
	}
	header("From", c.from.String())
	header("To", addresses(env.to))
	if len(env.cc) > 0 {
		// Replies, which may carry Persium's new secret, go to the team
		// rather than to rotor's sender address.
		header("Cc", addresses(env.cc))
		header("Reply-To", addresses(env.cc))
	}
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", c.now().Format(time.RFC1123Z))
	header("Message-ID", MessageID(idempotencyKey, c.from.Address))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	if env.automatic {
		header("Auto-Submitted", "auto-generated")
	}
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(text, "\r\n", "\n")))
	_ = qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// domainPattern matches a host name that may stand after the @ of a
// Message-ID as it is.
var domainPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// MessageID returns the Message-ID header for an idempotency key: the
// first 160 bits of SHA-256 of the key, in hex, at the domain of the
// sender's address ("rotor.invalid" when that domain is not plain ASCII).
// The same key and sender always give the same Message-ID.
func MessageID(idempotencyKey, from string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if !domainPattern.MatchString(domain) {
		domain = "rotor.invalid"
	}
	return "<" + hex.EncodeToString(sum[:20]) + "@" + domain + ">"
}

// Mail is one e-mail to recipients other than the channel's own, such as
// the urgent request to Persium's support address.
type Mail struct {
	To             []string // RFC 5322 addresses
	Cc             []string // copied, and the Reply-To of the message
	Subject        string
	Text           string // the plain-text body
	IdempotencyKey string // the same key gives the same Message-ID
}

// SendMail delivers m through the channel's server, from the channel's
// sender, to m.To instead of the channel's recipients. Errors are as for
// Send.
func (c *Channel) SendMail(ctx context.Context, m Mail) error {
	if len(m.To) == 0 {
		return fmt.Errorf("%s: mail without a recipient: %w", c.name, notify.ErrPermanent)
	}
	if strings.TrimSpace(m.Subject) == "" || m.IdempotencyKey == "" {
		return fmt.Errorf("%s: mail needs a subject and an idempotency key: %w", c.name, notify.ErrPermanent)
	}
	parse := func(list []string) ([]*mail.Address, error) {
		out := make([]*mail.Address, len(list))
		for i, s := range list {
			a, err := parseAddress(s)
			if err != nil {
				return nil, fmt.Errorf("%s: recipient %q: %w: %w", c.name, s, err, notify.ErrPermanent)
			}
			out[i] = a
		}
		return out, nil
	}
	to, err := parse(m.To)
	if err != nil {
		return err
	}
	cc, err := parse(m.Cc)
	if err != nil {
		return err
	}
	msg := c.compose(envelope{to: to, cc: cc}, m.Subject, m.Text, m.IdempotencyKey)

	start := time.Now()
	err = c.deliver(ctx, append(to, cc...), msg)
	attrs := []slog.Attr{
		slog.String("channel", c.name),
		slog.String("host", c.host),
		slog.String("idempotency_key", m.IdempotencyKey),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "e-mail not delivered", append(attrs, slog.String("error", err.Error()))...)
		return err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "e-mail delivered", attrs...)
	return nil
}
