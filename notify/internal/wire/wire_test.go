package wire_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/notify/internal/wire"
	"github.com/rotorhq/rotor/secret"
)

const token = "PATHTOKEN0123456789"

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		raw       string
		allowHTTP bool
		wantErr   string
	}{
		{"https", "https://hooks.example.com/services/" + token, false, ""},
		{"http to loopback when allowed", "http://127.0.0.1:8080/" + token, true, ""},
		{"http to localhost when allowed", "http://localhost/" + token, true, ""},
		{"http to loopback when not allowed", "http://127.0.0.1/" + token, false, "must use https"},
		{"http to another host", "http://hooks.example.com/" + token, true, "must use https"},
		{"upper-case HTTP", "HTTP://hooks.example.com/" + token, true, "must use https"},
		{"other scheme", "ftp://hooks.example.com/" + token, false, "must use https"},
		{"no host", "https:///" + token, false, "no host"},
		{"relative", "/services/" + token, false, "no host"},
		{"unparsable", "https://hooks.example.com/%zz" + token, false, "invalid"},
		{"empty", "", false, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			u, err := wire.ParseURL(secret.New(tt.raw), tt.allowHTTP)

			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseURL = %v; want nil", err)
				}
				if !strings.HasSuffix(u.Path, token) {
					t.Errorf("path = %q; want it to end in the token", u.Path)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseURL = %v; want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the URL's token", err)
			}
		})
	}
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	tests := map[int]bool{
		200: false, 302: false, 400: true, 401: true, 403: true, 404: true,
		408: false, 410: true, 413: true, 425: false, 429: false, 500: false, 503: false,
	}
	for status, want := range tests {
		if got := wire.IsPermanent(status); got != want {
			t.Errorf("IsPermanent(%d) = %v; want %v", status, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 11, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"Fri, 07 Nov 2025 12:02:00 GMT", 2 * time.Minute},
		{"Fri, 07 Nov 2025 11:00:00 GMT", 0},
		{"999999999999", 24 * time.Hour},
		{"Sat, 07 Nov 2026 12:00:00 GMT", 24 * time.Hour},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := wire.RetryAfter(tt.value, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v; want %v", tt.value, got, tt.want)
		}
	}
}

func TestPostErrorOmitsURL(t *testing.T) {
	t.Parallel()
	// A listener that is closed at once leaves a port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	u, err := wire.ParseURL(secret.New("https://user:PASSWORD@"+addr+"/services/"+token+"?q="+token), false)
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}

	_, err = wire.Post(context.Background(), wire.NewClient(nil, time.Second), u, nil, []byte("{}"))

	if err == nil {
		t.Fatal("Post to a closed port = nil; want an error")
	}
	for _, leaked := range []string{token, "PASSWORD", "/services/"} {
		if strings.Contains(err.Error(), leaked) {
			t.Errorf("error %q contains %q", err, leaked)
		}
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %T does not unwrap to *net.OpError", err)
	}
}

func TestPostDoesNotFollowRedirect(t *testing.T) {
	t.Parallel()
	requests := make(chan string, 2)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- r.URL.Path
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	u, err := wire.ParseURL(secret.New(srv.URL+"/hook"), false)
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}

	resp, err := wire.Post(context.Background(), wire.NewClient(srv.Client(), time.Second), u, nil, []byte("{}"))

	if err != nil {
		t.Fatalf("Post = %v; want the redirect response", err)
	}
	if resp.Status != http.StatusTemporaryRedirect {
		t.Errorf("status = %d; want 307", resp.Status)
	}
	if got := len(requests); got != 1 {
		t.Errorf("server saw %d requests; want 1", got)
	}
}
