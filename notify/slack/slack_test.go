package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/slack"
	"github.com/rotorhq/rotor/secret"
)

// token stands for the secret part of a Slack webhook URL's path.
const token = "XyZ0SECRETPATHTOKEN9"

type request struct {
	method      string
	path        string
	contentType string
	body        []byte
}

type harness struct {
	channel *slack.Channel
	logs    *testlog.Buffer

	mu       sync.Mutex
	requests []request
}

func (h *harness) received() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.requests...)
}

// setup starts a Slack stand-in over TLS that records each request and
// responds with reply. It returns a channel that posts to the stand-in
// through a URL whose path contains token, as real Slack webhook URLs do.
func setup(t *testing.T, reply http.HandlerFunc) *harness {
	t.Helper()
	h := &harness{logs: testlog.New(t)}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.requests = append(h.requests, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
		h.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(srv.Close)

	ch, err := slack.New(slack.Config{
		WebhookURL: secret.New(srv.URL + "/services/T000/B000/" + token),
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("slack.New: %v", err)
	}
	h.channel = ch
	return h
}

func replyOK(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "ok")
}

func message() notify.Message {
	return notify.Message{
		Kind:           notify.KindReminder,
		CredentialID:   "cred-a",
		Organisation:   "Acme & Sons <!channel>",
		ClientID:       "client-a",
		DueAt:          time.Date(2025, 11, 8, 9, 0, 0, 0, time.UTC),
		DaysLeft:       7,
		Offset:         "7d",
		URL:            "https://rotor.example/credentials/cred-a?tab=history&x=1",
		IdempotencyKey: "cred-a/2025-11-08/7d/slack",
	}
}

func TestSendPostsEscapedText(t *testing.T) {
	t.Parallel()
	h := setup(t, replyOK)

	if err := h.channel.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send = %v; want nil", err)
	}

	got := h.received()
	if len(got) != 1 {
		t.Fatalf("server saw %d requests; want 1", len(got))
	}
	if got[0].method != http.MethodPost || got[0].contentType != "application/json" {
		t.Errorf("request = %s with Content-Type %q; want POST with application/json", got[0].method, got[0].contentType)
	}
	if want := "/services/T000/B000/" + token; got[0].path != want {
		t.Errorf("path = %q; want %q", got[0].path, want)
	}
	var payload map[string]any
	if err := json.Unmarshal(got[0].body, &payload); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if len(payload) != 1 {
		t.Errorf("payload has fields %v; want only text", payload)
	}
	text, _ := payload["text"].(string)
	for _, want := range []string{
		"*[rotor] Rotate the client secret of Acme &amp; Sons &lt;!channel&gt; (cred-a) within 7 days, by 2025-11-08*\n",
		"Credential:   cred-a",
		"Due date:     Sat 2025-11-08 09:00 UTC",
		"Days left:    7",
		"https://rotor.example/credentials/cred-a?tab=history&amp;x=1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text does not contain %q; text:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<!channel>") {
		t.Errorf("text contains an unescaped mention; text:\n%s", text)
	}
}

func TestSendClassifiesSlackReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		retryAfter    string
		wantPermanent bool
		wantReply     string
		wantWait      time.Duration
	}{
		{"invalid payload", 400, "invalid_payload", "", true, "HTTP 400 invalid_payload", 0},
		{"action prohibited", 403, "action_prohibited", "", true, "HTTP 403 action_prohibited", 0},
		{"webhook removed", 404, "no_service", "", true, "HTTP 404 no_service", 0},
		{"channel not found", 404, "channel_not_found", "", true, "HTTP 404 channel_not_found", 0},
		{"channel archived", 410, "channel_is_archived", "", true, "HTTP 410 channel_is_archived", 0},
		{"rate limited", 429, `{"ok":false,"error":"rate_limited"}`, "30", false, "HTTP 429 rate_limited", 30 * time.Second},
		{"server error", 500, "rollup_error", "", false, "HTTP 500 rollup_error", 0},
		{"unavailable with HTML", 503, "<html>down for maintenance</html>", "", false, "HTTP 503", 0},
		{"redirect", 302, "", "", false, "HTTP 302", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})

			err := h.channel.Send(context.Background(), message())

			var sendErr *notify.SendError
			if !errors.As(err, &sendErr) {
				t.Fatalf("Send = %v; want a *notify.SendError", err)
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("errors.Is(err, ErrPermanent) = %v; want %v (err: %v)", got, tt.wantPermanent, err)
			}
			if sendErr.Code != tt.status || sendErr.Reply != tt.wantReply {
				t.Errorf("Code, Reply = %d, %q; want %d, %q", sendErr.Code, sendErr.Reply, tt.status, tt.wantReply)
			}
			if got := notify.RetryAfter(err); got != tt.wantWait {
				t.Errorf("RetryAfter = %v; want %v", got, tt.wantWait)
			}
			if !strings.Contains(err.Error(), "slack 127.0.0.1: post:") {
				t.Errorf("error %q does not name the channel and host", err)
			}
			if strings.Contains(err.Error(), "maintenance") {
				t.Errorf("error %q quotes the reply body", err)
			}
			if n := len(h.received()); n != 1 {
				t.Errorf("server saw %d requests; want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestSendErrorsOmitWebhookURL(t *testing.T) {
	t.Parallel()
	// A listener closed at once leaves a port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	closedAddr := l.Addr().String()
	_ = l.Close()

	// A resolver whose DNS server cannot be reached fails every lookup
	// without sending a packet.
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	dialer := &net.Dialer{Resolver: noDNS}
	offline := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}

	tests := []struct {
		name     string
		url      string
		client   *http.Client
		wantHost string
	}{
		{"connection refused", "https://" + closedAddr + "/services/T000/B000/" + token, nil, "127.0.0.1"},
		{"host does not resolve", "https://hooks.slack.invalid/services/T000/B000/" + token, offline, "hooks.slack.invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := testlog.New(t)
			ch, err := slack.New(slack.Config{
				WebhookURL: secret.New(tt.url),
				HTTPClient: tt.client,
				Timeout:    5 * time.Second,
				Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err != nil {
				t.Fatalf("slack.New: %v", err)
			}

			err = ch.Send(context.Background(), message())

			if err == nil {
				t.Fatal("Send = nil; want an error")
			}
			t.Logf("Send = %v", err)
			if errors.Is(err, notify.ErrPermanent) {
				t.Errorf("Send = %v; want a temporary error", err)
			}
			if !strings.Contains(err.Error(), tt.wantHost) {
				t.Errorf("error %q does not name host %s", err, tt.wantHost)
			}
			for _, text := range []string{err.Error(), logs.String()} {
				if strings.Contains(text, token) || strings.Contains(text, "/services/") {
					t.Errorf("URL path leaked into %q", text)
				}
			}
			if !strings.Contains(logs.String(), "slack message not delivered") {
				t.Errorf("logs = %q; want a record of the failed attempt", logs.String())
			}
		})
	}
}

func TestSendRejectsInvalidMessage(t *testing.T) {
	t.Parallel()
	h := setup(t, replyOK)
	m := message()
	m.IdempotencyKey = ""

	err := h.channel.Send(context.Background(), m)

	if !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("Send = %v; want an error wrapping ErrPermanent", err)
	}
	if n := len(h.received()); n != 0 {
		t.Errorf("server saw %d requests; want none", n)
	}
}

func TestNewRejectsPlainHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		url   string
		allow bool
	}{
		{"remote host", "http://hooks.slack.com/services/T000/B000/" + token, true},
		{"loopback without opt-in", "http://127.0.0.1:9/services/T000/B000/" + token, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := slack.New(slack.Config{WebhookURL: secret.New(tt.url), AllowLoopbackHTTP: tt.allow})

			if err == nil || !strings.Contains(err.Error(), "must use https") {
				t.Fatalf("New = %v; want an error saying https is required", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the URL's token", err)
			}
		})
	}
}

func TestNameDefaultsToSlack(t *testing.T) {
	t.Parallel()
	url := secret.New("https://hooks.slack.com/services/T000/B000/" + token)
	tests := []struct{ configured, want string }{{"", "slack"}, {"slack-ops", "slack-ops"}}
	for _, tt := range tests {
		ch, err := slack.New(slack.Config{Name: tt.configured, WebhookURL: url})
		if err != nil {
			t.Fatalf("slack.New: %v", err)
		}
		if got := ch.Name(); got != tt.want {
			t.Errorf("Name() with %q configured = %q; want %q", tt.configured, got, tt.want)
		}
	}
}

func TestEscape(t *testing.T) {
	t.Parallel()
	if got, want := slack.Escape("a & b < c > d *e*"), "a &amp; b &lt; c &gt; d *e*"; got != want {
		t.Errorf("Escape = %q; want %q", got, want)
	}
}
