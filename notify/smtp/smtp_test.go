package smtp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/notify"
	smtpchannel "github.com/rotorhq/rotor/notify/smtp"
	"github.com/rotorhq/rotor/secret"
)

const username = "rotor"

// password is the shared canary, so that the searches of logs and errors
// find it in any form, its AUTH PLAIN encoding included.
var password = canary.Value.Reveal()

// received is one message as the server stored it.
type received struct {
	from  string
	to    []string
	data  []byte
	inTLS bool
}

// backend is an SMTP server that accepts AUTH PLAIN for one user, as a
// submission server does, and fails RCPT or DATA with a chosen reply.
type backend struct {
	mechanisms []string
	rcptErr    error
	dataErr    error

	mu       sync.Mutex
	logins   int
	messages []received
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	return &session{backend: b, conn: c}, nil
}

func (b *backend) snapshot() (logins int, messages []received) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logins, append([]received(nil), b.messages...)
}

type session struct {
	backend *backend
	conn    *gosmtp.Conn
	authed  bool
	from    string
	to      []string
}

func (s *session) AuthMechanisms() []string { return s.backend.mechanisms }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.backend.mu.Lock()
		s.backend.logins++
		s.backend.mu.Unlock()
		if user != username || pass != password {
			return gosmtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if !s.authed {
		return gosmtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.backend.rcptErr != nil {
		return s.backend.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.backend.dataErr != nil {
		return s.backend.dataErr
	}
	_, inTLS := s.conn.TLSConnectionState()
	s.backend.mu.Lock()
	defer s.backend.mu.Unlock()
	s.backend.messages = append(s.backend.messages, received{s.from, s.to, data, inTLS})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

type harness struct {
	backend *backend
	port    int
	roots   *x509.CertPool
	logs    *testlog.Buffer
	now     time.Time
}

// config returns a channel configuration for the test server that trusts
// its certificate and logs to h.logs.
func (h *harness) config() smtpchannel.Config {
	return smtpchannel.Config{
		Host:      "127.0.0.1",
		Port:      h.port,
		Username:  username,
		Password:  secret.New(password),
		From:      "rotor <rotor@example.com>",
		To:        []string{"ops@example.com", "Platform Team <platform@example.com>"},
		TLSConfig: &tls.Config{RootCAs: h.roots},
		Timeout:   10 * time.Second,
		Logger:    slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       func() time.Time { return h.now },
	}
}

func (h *harness) channel(t *testing.T, cfg smtpchannel.Config) *smtpchannel.Channel {
	t.Helper()
	ch, err := smtpchannel.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ch
}

// setup starts an SMTP server on 127.0.0.1 with STARTTLS (a self-signed
// certificate made for the test) and AUTH PLAIN. change adjusts the server
// and backend before the server starts.
func setup(t *testing.T, change ...func(*gosmtp.Server, *backend)) *harness {
	t.Helper()
	cert, roots := selfSigned(t)
	be := &backend{mechanisms: []string{sasl.Plain}}
	srv := gosmtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	for _, f := range change {
		f(srv, be)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})

	return &harness{
		backend: be,
		port:    l.Addr().(*net.TCPAddr).Port,
		roots:   roots,
		logs:    testlog.New(t),
		now:     time.Date(2025, 10, 25, 8, 0, 0, 0, time.UTC),
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

func message() notify.Message {
	return notify.Message{
		Kind:           notify.KindReminder,
		CredentialID:   "cred-a",
		Organisation:   "Müller & Söhne GmbH",
		ClientID:       "client-a",
		DueAt:          time.Date(2025, 11, 8, 9, 0, 0, 0, time.UTC),
		DaysLeft:       14,
		Offset:         "14d",
		URL:            "https://rotor.example/credentials/cred-a",
		IdempotencyKey: "cred-a/2025-11-08/14d/smtp",
	}
}

// assertNoSecret fails when the password, or its AUTH PLAIN form, appears
// in any of texts.
func assertNoSecret(t *testing.T, texts ...string) {
	t.Helper()
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + username + "\x00" + password))
	for _, text := range texts {
		if strings.Contains(text, password) || strings.Contains(text, "CANARY") || strings.Contains(text, plain) {
			t.Errorf("secret leaked into %q", text)
		}
		canary.Check(t, "a text of the SMTP channel", text)
	}
}

func TestSendDeliversMail(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ch := h.channel(t, h.config())
	m := message()

	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send = %v; want nil", err)
	}

	logins, messages := h.backend.snapshot()
	if logins != 1 || len(messages) != 1 {
		t.Fatalf("server saw %d logins and %d messages; want 1 and 1", logins, len(messages))
	}
	got := messages[0]
	if !got.inTLS {
		t.Errorf("message arrived without TLS")
	}
	if got.from != "rotor@example.com" {
		t.Errorf("MAIL FROM = %q; want rotor@example.com", got.from)
	}
	if diff := cmp.Diff([]string{"ops@example.com", "platform@example.com"}, got.to); diff != "" {
		t.Errorf("RCPT TO mismatch (-want +got):\n%s", diff)
	}

	parsed, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	header := parsed.Header
	from, err := header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "rotor@example.com" || from[0].Name != "rotor" {
		t.Errorf("From = %v (%v); want rotor <rotor@example.com>", from, err)
	}
	to, err := header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Platform Team" {
		t.Errorf("To = %v (%v); want both recipients with their names", to, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode Subject: %v", err)
	}
	if want := "[rotor] Rotate the client secret of Müller & Söhne GmbH (cred-a) within 14 days, by 2025-11-08"; subject != want {
		t.Errorf("Subject = %q; want %q", subject, want)
	}
	if date, err := header.Date(); err != nil || !date.Equal(h.now) {
		t.Errorf("Date = %v (%v); want %v", date, err, h.now)
	}
	if id := header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{40}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q; want <40 hex digits@example.com>", id)
	}
	for name, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if got := header.Get(name); got != want {
			t.Errorf("%s = %q; want %q", name, got, want)
		}
	}

	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	for _, want := range []string{
		"Credential:   cred-a",
		"Organisation: Müller & Söhne GmbH",
		"Due date:     Sat 2025-11-08 09:00 UTC",
		"Days left:    14",
		"Open in rotor: https://rotor.example/credentials/cred-a",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body does not contain %q; body:\n%s", want, body)
		}
	}
	if !bytes.Contains(got.data, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(got.data, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("message does not use CRLF line endings throughout")
	}
	assertNoSecret(t, string(got.data), h.logs.String())
}

// A resend after a crash must be recognisable: the same idempotency key
// gives the same Message-ID, whatever the time.
func TestResendKeepsMessageID(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ch := h.channel(t, h.config())
	other := message()
	other.IdempotencyKey = "cred-a/2025-11-08/7d/smtp"

	for _, m := range []notify.Message{message(), message(), other} {
		if err := ch.Send(context.Background(), m); err != nil {
			t.Fatalf("Send = %v", err)
		}
	}

	_, messages := h.backend.snapshot()
	if len(messages) != 3 {
		t.Fatalf("server saw %d messages; want 3", len(messages))
	}
	var ids []string
	for _, msg := range messages {
		parsed, err := mail.ReadMessage(bytes.NewReader(msg.data))
		if err != nil {
			t.Fatalf("read message: %v", err)
		}
		ids = append(ids, parsed.Header.Get("Message-ID"))
	}
	if ids[0] != ids[1] {
		t.Errorf("Message-IDs of a resend differ: %q and %q", ids[0], ids[1])
	}
	if ids[0] != smtpchannel.MessageID(message().IdempotencyKey, "rotor@example.com") {
		t.Errorf("Message-ID = %q; want MessageID(key, from)", ids[0])
	}
	if ids[0] == ids[2] {
		t.Errorf("another idempotency key has the same Message-ID %q", ids[2])
	}
}

func TestSendWithWrongPassword(t *testing.T) {
	t.Parallel()
	h := setup(t)
	cfg := h.config()
	cfg.Password = secret.New(password + "-wrong")
	ch := h.channel(t, cfg)

	err := ch.Send(context.Background(), message())

	var sendErr *notify.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("Send = %v; want a *notify.SendError", err)
	}
	if want := "smtp 127.0.0.1: auth as rotor: SMTP 535 5.7.8 (permanent)"; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	if !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("errors.Is(err, ErrPermanent) = false; want true")
	}
	assertNoSecret(t, err.Error(), h.logs.String())
	if _, messages := h.backend.snapshot(); len(messages) != 0 {
		t.Errorf("server stored %d messages; want none", len(messages))
	}
}

func TestSendClassifiesReplies(t *testing.T) {
	t.Parallel()
	reply := func(code int, enhanced gosmtp.EnhancedCode) error {
		// The text echoes a canary to show that reply text never reaches
		// the error.
		return &gosmtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: "rejected CANARY-echo"}
	}
	tests := []struct {
		name          string
		rcptErr       error
		dataErr       error
		wantError     string
		wantPermanent bool
	}{
		{"unknown mailbox", reply(550, gosmtp.EnhancedCode{5, 1, 1}), nil, "smtp 127.0.0.1: rcpt to ops@example.com: SMTP 550 5.1.1 (permanent)", true},
		{"relay denied", reply(554, gosmtp.EnhancedCode{5, 7, 1}), nil, "smtp 127.0.0.1: rcpt to ops@example.com: SMTP 554 5.7.1 (permanent)", true},
		{"mailbox busy", reply(450, gosmtp.EnhancedCode{4, 2, 1}), nil, "smtp 127.0.0.1: rcpt to ops@example.com: SMTP 450 4.2.1", false},
		{"greylisted", reply(451, gosmtp.EnhancedCode{4, 7, 1}), nil, "smtp 127.0.0.1: rcpt to ops@example.com: SMTP 451 4.7.1", false},
		{"message refused", nil, reply(554, gosmtp.EnhancedCode{5, 6, 0}), "smtp 127.0.0.1: data: SMTP 554 5.6.0 (permanent)", true},
		{"storage full", nil, reply(452, gosmtp.EnhancedCode{4, 3, 1}), "smtp 127.0.0.1: data: SMTP 452 4.3.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, func(_ *gosmtp.Server, be *backend) {
				be.rcptErr, be.dataErr = tt.rcptErr, tt.dataErr
			})
			ch := h.channel(t, h.config())

			err := ch.Send(context.Background(), message())

			if err == nil || err.Error() != tt.wantError {
				t.Errorf("Send = %v; want %q", err, tt.wantError)
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("errors.Is(err, ErrPermanent) = %v; want %v", got, tt.wantPermanent)
			}
			assertNoSecret(t, err.Error(), h.logs.String())
			if _, messages := h.backend.snapshot(); len(messages) != 0 {
				t.Errorf("server stored %d messages; want none", len(messages))
			}
		})
	}
}

func TestSendRequiresSTARTTLS(t *testing.T) {
	t.Parallel()
	// This server offers AUTH on a plain connection and no STARTTLS.
	h := setup(t, func(srv *gosmtp.Server, _ *backend) {
		srv.TLSConfig = nil
		srv.AllowInsecureAuth = true
	})
	ch := h.channel(t, h.config())

	err := ch.Send(context.Background(), message())

	if err == nil || !strings.Contains(err.Error(), "smtp 127.0.0.1: starttls:") {
		t.Fatalf("Send = %v; want a starttls error", err)
	}
	t.Logf("Send = %v", err)
	logins, messages := h.backend.snapshot()
	if logins != 0 || len(messages) != 0 {
		t.Errorf("server saw %d logins and %d messages; want none: the password must not cross a plain connection", logins, len(messages))
	}
	assertNoSecret(t, err.Error(), h.logs.String())
}

func TestSendRejectsUntrustedCertificate(t *testing.T) {
	t.Parallel()
	h := setup(t)
	cfg := h.config()
	cfg.TLSConfig = nil // the system roots do not trust the test certificate
	ch := h.channel(t, cfg)

	err := ch.Send(context.Background(), message())

	t.Logf("Send = %v", err)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("Send = %v; want an x509.UnknownAuthorityError", err)
	}
	if logins, _ := h.backend.snapshot(); logins != 0 {
		t.Errorf("server saw %d logins; want none", logins)
	}
}

func TestSendWithoutAuthPlain(t *testing.T) {
	t.Parallel()
	h := setup(t, func(_ *gosmtp.Server, be *backend) { be.mechanisms = []string{"XOAUTH2"} })
	ch := h.channel(t, h.config())

	err := ch.Send(context.Background(), message())

	if want := "smtp 127.0.0.1: auth: server does not offer AUTH PLAIN (permanent)"; err == nil || err.Error() != want {
		t.Errorf("Send = %v; want %q", err, want)
	}
	if !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("errors.Is(err, ErrPermanent) = false; want true")
	}
}

func TestSendPlainToLoopback(t *testing.T) {
	t.Parallel()
	h := setup(t, func(srv *gosmtp.Server, _ *backend) {
		srv.TLSConfig = nil
		srv.AllowInsecureAuth = true
	})
	cfg := h.config()
	cfg.AllowPlainLoopback = true
	ch := h.channel(t, cfg)

	if err := ch.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send = %v; want nil", err)
	}

	_, messages := h.backend.snapshot()
	if len(messages) != 1 || messages[0].inTLS {
		t.Errorf("server stored %d messages (first over TLS: %v); want 1 over plain SMTP", len(messages), len(messages) > 0 && messages[0].inTLS)
	}
}

func TestSendTimesOut(t *testing.T) {
	t.Parallel()
	// A server that accepts connections but never sends its greeting.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var conns sync.WaitGroup
	accepted := make(chan net.Conn, 1)
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		conns.Wait()
		close(accepted)
		for c := range accepted {
			_ = c.Close()
		}
	})
	ch, err := smtpchannel.New(smtpchannel.Config{
		Host:    "127.0.0.1",
		Port:    l.Addr().(*net.TCPAddr).Port,
		From:    "rotor@example.com",
		To:      []string{"ops@example.com"},
		Timeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	err = ch.Send(context.Background(), message())

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v; want context.DeadlineExceeded", err)
	}
	if errors.Is(err, notify.ErrPermanent) {
		t.Errorf("Send = %v; want a temporary error", err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	valid := smtpchannel.Config{
		Host:     "mail.example.com",
		Username: username,
		Password: secret.New(password),
		From:     "rotor@example.com",
		To:       []string{"ops@example.com"},
	}
	tests := []struct {
		name    string
		change  func(*smtpchannel.Config)
		wantErr string
	}{
		{"no host", func(c *smtpchannel.Config) { c.Host = "" }, "host is missing"},
		{"port out of range", func(c *smtpchannel.Config) { c.Port = 70000 }, "port 70000 is out of range"},
		{"plain to a remote host", func(c *smtpchannel.Config) { c.AllowPlainLoopback = true }, "only to a loopback host, not mail.example.com"},
		{"password without username", func(c *smtpchannel.Config) { c.Username = "" }, "username and password must be set together"},
		{"username without password", func(c *smtpchannel.Config) { c.Password = secret.Value{} }, "username and password must be set together"},
		{"invalid from", func(c *smtpchannel.Config) { c.From = "rotor" }, "from address"},
		{"no recipient", func(c *smtpchannel.Config) { c.To = nil }, "no recipient"},
		{"header injection", func(c *smtpchannel.Config) { c.To = []string{"ops@example.com\r\nBcc: x@example.com"} }, "line break"},
	}
	if _, err := smtpchannel.New(valid); err != nil {
		t.Fatalf("New(valid) = %v; want nil", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.change(&cfg)

			_, err := smtpchannel.New(cfg)

			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v; want an error containing %q", err, tt.wantErr)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct{ from, wantDomain string }{
		{"rotor@example.com", "@example.com>"},
		{"rotor@bücher.example", "@rotor.invalid>"},
		{"rotor@[127.0.0.1]", "@rotor.invalid>"},
	}
	for _, tt := range tests {
		if got := smtpchannel.MessageID("k", tt.from); !strings.HasSuffix(got, tt.wantDomain) {
			t.Errorf("MessageID(k, %q) = %q; want it to end in %q", tt.from, got, tt.wantDomain)
		}
	}
	if a, b := smtpchannel.MessageID("k1", "a@example.com"), smtpchannel.MessageID("k2", "a@example.com"); a == b {
		t.Errorf("MessageID gives %q for two keys", a)
	}
}

// The channel's name starts every error, so that errors of two SMTP
// channels can be distinguished.
func TestErrorsCarryChannelName(t *testing.T) {
	t.Parallel()
	h := setup(t)
	cfg := h.config()
	cfg.Name = "smtp-security"
	cfg.Password = secret.New("CANARY-wrong")
	ch := h.channel(t, cfg)

	err := ch.Send(context.Background(), message())

	if ch.Name() != "smtp-security" {
		t.Errorf("Name() = %q; want smtp-security", ch.Name())
	}
	if err == nil || !strings.HasPrefix(err.Error(), "smtp-security 127.0.0.1: ") {
		t.Errorf("Send = %v; want an error that starts with the channel name", err)
	}
}

// SendMail goes through the channel's server and login, from its sender,
// to the given recipients and copies only, with replies to the copies and
// without the Auto-Submitted mark of messages rotor sends on its own.
func TestSendMailToOtherRecipients(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ch := h.channel(t, h.config())

	m := smtpchannel.Mail{To: []string{"Persium Support <support@persium.example>"}, Cc: []string{"platform@example.com"}, Subject: "URGENT: suspected\r\nBcc: x@example.com compromise",
		Text: "Hello Persium support,\nplease revoke the old secret.\n", IdempotencyKey: "persium-request:inc-1:requested:emergency"}
	if err := ch.SendMail(context.Background(), m); err != nil {
		t.Fatalf("SendMail = %v", err)
	}

	logins, messages := h.backend.snapshot()
	if logins != 1 || len(messages) != 1 {
		t.Fatalf("server saw %d logins and %d messages; want 1 and 1", logins, len(messages))
	}
	got := messages[0]
	if diff := cmp.Diff([]string{"support@persium.example", "platform@example.com"}, got.to); diff != "" {
		t.Errorf("RCPT TO mismatch (-want +got):\n%s", diff)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	if to := parsed.Header.Get("To"); !strings.Contains(to, "support@persium.example") || strings.Contains(to, "ops@example.com") {
		t.Errorf("To = %q; want Persium's address only", to)
	}
	if cc, reply := parsed.Header.Get("Cc"), parsed.Header.Get("Reply-To"); !strings.Contains(cc, "platform@example.com") || !strings.Contains(reply, "platform@example.com") {
		t.Errorf("Cc = %q, Reply-To = %q; want the team's address in both", cc, reply)
	}
	if auto := parsed.Header.Get("Auto-Submitted"); auto != "" {
		t.Errorf("Auto-Submitted = %q on a message a person asked for; want none", auto)
	}
	if bcc := parsed.Header.Get("Bcc"); bcc != "" {
		t.Errorf("a line break in the subject added the header Bcc: %q", bcc)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil || subject != "URGENT: suspected Bcc: x@example.com compromise" {
		t.Errorf("Subject = %q (%v); want the subject on one line", subject, err)
	}
	if id := parsed.Header.Get("Message-ID"); id != smtpchannel.MessageID(m.IdempotencyKey, "rotor@example.com") {
		t.Errorf("Message-ID = %q; want MessageID(key, from)", id)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil || !strings.Contains(string(body), "please revoke the old secret.") {
		t.Errorf("body = %q (%v)", body, err)
	}
	assertNoSecret(t, string(got.data), h.logs.String())

	for name, bad := range map[string]smtpchannel.Mail{
		"no recipient":      {Subject: "s", Text: "t", IdempotencyKey: "k"},
		"invalid recipient": {To: []string{"support\r\nRCPT TO:<x@example.com>"}, Subject: "s", Text: "t", IdempotencyKey: "k"},
		"no subject":        {To: []string{"support@persium.example"}, Text: "t", IdempotencyKey: "k"},
	} {
		if err := ch.SendMail(context.Background(), bad); !errors.Is(err, notify.ErrPermanent) {
			t.Errorf("%s: SendMail = %v; want a permanent error", name, err)
		}
	}
	if _, messages := h.backend.snapshot(); len(messages) != 1 {
		t.Errorf("server saw %d messages after the invalid mails; want still 1", len(messages))
	}
}
