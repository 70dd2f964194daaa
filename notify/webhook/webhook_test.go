package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/webhook"
	"github.com/rotorhq/rotor/secret"
)

// token stands for a secret path segment of the webhook URL.
const token = "PATHTOKEN-7f3a9c"

// signingKey is the shared canary (more than the minimum of 32 bytes), so
// that the log search (testlog.New) finds it in any form.
var signingKey = canary.Value.Reveal()

type request struct {
	header http.Header
	body   []byte
}

type harness struct {
	channel *webhook.Channel
	logs    *testlog.Buffer

	mu       sync.Mutex
	now      time.Time
	requests []request
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

func (h *harness) received() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.requests...)
}

// setup starts a receiver over TLS that records each request and responds
// with reply. It returns a channel that posts to the receiver through a URL
// whose path contains token.
func setup(t *testing.T, reply http.HandlerFunc) *harness {
	t.Helper()
	h := &harness{
		logs: testlog.New(t),
		now:  time.Date(2025, 10, 25, 8, 0, 0, 0, time.UTC),
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.requests = append(h.requests, request{r.Header.Clone(), body})
		h.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(srv.Close)

	ch, err := webhook.New(webhook.Config{
		URL:        secret.New(srv.URL + "/hooks/" + token),
		SigningKey: secret.New(signingKey),
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        h.clock,
	})
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}
	h.channel = ch
	return h
}

func replyNoContent(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

func message() notify.Message {
	return notify.Message{
		Kind:           notify.KindOverdue,
		CredentialID:   "cred-a",
		Organisation:   "Acme GmbH",
		ClientID:       "client-a",
		DueAt:          time.Date(2025, 10, 22, 0, 0, 0, 0, time.UTC),
		DaysLeft:       -3,
		Offset:         "overdue",
		URL:            "https://rotor.example/credentials/cred-a",
		IdempotencyKey: "cred-a/2025-10-22/overdue/webhook",
	}
}

func TestSendSignsPayload(t *testing.T) {
	t.Parallel()
	h := setup(t, replyNoContent)
	m := message()

	if err := h.channel.Send(context.Background(), m); err != nil {
		t.Fatalf("Send = %v; want nil", err)
	}

	got := h.received()
	if len(got) != 1 {
		t.Fatalf("receiver saw %d requests; want 1", len(got))
	}
	req := got[0]
	timestamp := req.header.Get(webhook.HeaderTimestamp)
	if want := strconv.FormatInt(h.clock().Unix(), 10); timestamp != want {
		t.Errorf("%s = %q; want %q", webhook.HeaderTimestamp, timestamp, want)
	}
	if got := req.header.Get(webhook.HeaderIdempotencyKey); got != m.IdempotencyKey {
		t.Errorf("%s = %q; want %q", webhook.HeaderIdempotencyKey, got, m.IdempotencyKey)
	}
	if got := req.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	err := webhook.Verify(secret.New(signingKey), timestamp, req.body, req.header.Get(webhook.HeaderSignature), time.Minute, h.clock())
	if err != nil {
		t.Errorf("Verify = %v; want nil", err)
	}

	var payload webhook.Payload
	if err := json.Unmarshal(req.body, &payload); err != nil {
		t.Fatalf("body is not a Payload: %v", err)
	}
	subject, text := notify.Render(m, time.UTC)
	want := webhook.Payload{
		Kind:           notify.KindOverdue,
		CredentialID:   "cred-a",
		Organisation:   "Acme GmbH",
		ClientID:       "client-a",
		DueAt:          &m.DueAt,
		DaysLeft:       -3,
		Offset:         "overdue",
		URL:            "https://rotor.example/credentials/cred-a",
		Subject:        subject,
		Text:           text,
		IdempotencyKey: m.IdempotencyKey,
	}
	if diff := cmp.Diff(want, payload); diff != "" {
		t.Errorf("payload mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(req.body), `"due_at":"2025-10-22T00:00:00Z"`) {
		t.Errorf("body %s does not carry due_at in UTC RFC 3339", req.body)
	}
}

// A resend after a crash between sending and recording must carry the same
// idempotency key, so that the receiver can drop it.
func TestResendCarriesSameIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := setup(t, replyNoContent)
	m := message()

	if err := h.channel.Send(context.Background(), m); err != nil {
		t.Fatalf("first Send = %v", err)
	}
	h.advance(90 * time.Second)
	if err := h.channel.Send(context.Background(), m); err != nil {
		t.Fatalf("second Send = %v", err)
	}

	got := h.received()
	if len(got) != 2 {
		t.Fatalf("receiver saw %d requests; want 2", len(got))
	}
	first, second := got[0], got[1]
	if a, b := first.header.Get(webhook.HeaderIdempotencyKey), second.header.Get(webhook.HeaderIdempotencyKey); a != b || a != m.IdempotencyKey {
		t.Errorf("idempotency key headers = %q and %q; want both %q", a, b, m.IdempotencyKey)
	}
	if string(first.body) != string(second.body) {
		t.Errorf("bodies differ:\n%s\n%s", first.body, second.body)
	}
	if first.header.Get(webhook.HeaderTimestamp) == second.header.Get(webhook.HeaderTimestamp) {
		t.Errorf("both attempts carry timestamp %s; want the second one later", first.header.Get(webhook.HeaderTimestamp))
	}
	for i, req := range got {
		err := webhook.Verify(secret.New(signingKey), req.header.Get(webhook.HeaderTimestamp), req.body, req.header.Get(webhook.HeaderSignature), time.Minute, h.clock())
		if i == 0 && !errors.Is(err, webhook.ErrInvalidTimestamp) {
			t.Errorf("Verify(first attempt, 90s later, 1m window) = %v; want ErrInvalidTimestamp", err)
		}
		if i == 1 && err != nil {
			t.Errorf("Verify(second attempt) = %v; want nil", err)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := secret.New(signingKey)
	now := time.Date(2025, 10, 25, 8, 0, 0, 0, time.UTC)
	body := []byte(`{"kind":"reminder","credential_id":"cred-a"}`)
	timestamp := strconv.FormatInt(now.Unix(), 10)
	signature := webhook.Sign(key, timestamp, body)

	tests := []struct {
		name      string
		key       secret.Value
		timestamp string
		body      []byte
		signature string
		now       time.Time
		want      error
	}{
		{"valid", key, timestamp, body, signature, now, nil},
		{"valid at the window's edge", key, timestamp, body, signature, now.Add(5 * time.Minute), nil},
		{"valid among other entries", key, timestamp, body, "v0=abcd, v1=00ff," + signature, now, nil},
		{"tampered body", key, timestamp, []byte(`{"kind":"reminder","credential_id":"cred-b"}`), signature, now, webhook.ErrInvalidSignature},
		{"other timestamp", key, strconv.FormatInt(now.Unix()+1, 10), body, signature, now, webhook.ErrInvalidSignature},
		{"wrong key", secret.New(signingKey + "x"), timestamp, body, signature, now, webhook.ErrInvalidSignature},
		{"upper-case hex", key, timestamp, body, "v1=" + strings.ToUpper(strings.TrimPrefix(signature, "v1=")), now, nil},
		{"unknown scheme only", key, timestamp, body, "v2=" + strings.TrimPrefix(signature, "v1="), now, webhook.ErrInvalidSignature},
		{"missing signature", key, timestamp, body, "", now, webhook.ErrInvalidSignature},
		{"old timestamp", key, timestamp, body, signature, now.Add(5*time.Minute + time.Second), webhook.ErrInvalidTimestamp},
		{"future timestamp", key, timestamp, body, signature, now.Add(-6 * time.Minute), webhook.ErrInvalidTimestamp},
		{"missing timestamp", key, "", body, webhook.Sign(key, "", body), now, webhook.ErrInvalidTimestamp},
		{"signed timestamp", key, "+" + timestamp, body, webhook.Sign(key, "+"+timestamp, body), now, webhook.ErrInvalidTimestamp},
		{"timestamp in milliseconds", key, timestamp + "000", body, webhook.Sign(key, timestamp+"000", body), now, webhook.ErrInvalidTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := webhook.Verify(tt.key, tt.timestamp, tt.body, tt.signature, 0, tt.now)

			if tt.want == nil && err != nil {
				t.Errorf("Verify = %v; want nil", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), signingKey) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}

func TestSendClassifiesStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status        int
		retryAfter    string
		wantErr       bool
		wantPermanent bool
		wantWait      time.Duration
	}{
		{200, "", false, false, 0},
		{202, "", false, false, 0},
		{301, "", true, false, 0},
		{400, "", true, true, 0},
		{401, "", true, true, 0},
		{404, "", true, true, 0},
		{408, "", true, false, 0},
		{410, "", true, true, 0},
		{429, "120", true, false, 2 * time.Minute},
		{500, "", true, false, 0},
		{503, "Sat, 25 Oct 2025 08:01:00 GMT", true, false, time.Minute},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == http.StatusMovedPermanently {
					w.Header().Set("Location", "/moved")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "reply body with "+token)
			})

			err := h.channel.Send(context.Background(), message())

			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Send = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send = nil; want an error for status %d", tt.status)
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("errors.Is(err, ErrPermanent) = %v; want %v (err: %v)", got, tt.wantPermanent, err)
			}
			if got := notify.RetryAfter(err); got != tt.wantWait {
				t.Errorf("RetryAfter = %v; want %v", got, tt.wantWait)
			}
			if want := "webhook 127.0.0.1: post: HTTP " + strconv.Itoa(tt.status); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error = %q; want it to start with %q", err, want)
			}
			for _, text := range []string{err.Error(), h.logs.String()} {
				if strings.Contains(text, token) || strings.Contains(text, signingKey) {
					t.Errorf("URL token or signing key leaked into %q", text)
				}
			}
			if n := len(h.received()); n != 1 {
				t.Errorf("receiver saw %d requests; want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestSendTransportErrorOmitsSecrets(t *testing.T) {
	t.Parallel()
	// A listener closed at once leaves a port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	logs := testlog.New(t)
	ch, err := webhook.New(webhook.Config{
		URL:        secret.New("https://" + addr + "/hooks/" + token),
		SigningKey: secret.New(signingKey),
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}

	err = ch.Send(context.Background(), message())

	if err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("Send = %v; want a temporary error", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say what failed", err)
	}
	for _, text := range []string{err.Error(), logs.String()} {
		if strings.Contains(text, token) || strings.Contains(text, "/hooks/") || strings.Contains(text, signingKey) {
			t.Errorf("URL path or signing key leaked into %q", text)
		}
	}
}

func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := setup(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := h.channel.Send(ctx, message())

	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v; want context.Canceled", err)
	}
	if errors.Is(err, notify.ErrPermanent) {
		t.Errorf("Send = %v; want a temporary error", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		key     string
		wantErr string
	}{
		{"short key", "https://hooks.example.com/" + token, "CANARY-short", "signing key has 12 bytes, want at least 32"},
		{"plain http", "http://hooks.example.com/" + token, signingKey, "must use https"},
		{"no URL", "", signingKey, "webhook URL is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := webhook.New(webhook.Config{URL: secret.New(tt.url), SigningKey: secret.New(tt.key)})

			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v; want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "CANARY") {
				t.Errorf("error %q contains the URL token or the key", err)
			}
		})
	}
}
