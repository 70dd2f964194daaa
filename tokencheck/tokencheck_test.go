package tokencheck_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/tokencheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	clientID    = "client-a"
	accessToken = "tok-9f8e7d6c5b4a"
)

// specialSecrets exercise every character that form encoding changes.
var specialSecrets = []string{
	"OLD-1",
	"a+b",
	"a/b==",
	"a:b",
	"100%",
	"with space",
	"caf\u00e9",
	"+/=: %\u00e9",
	"Zx+9/q=:%20 \u00e9\u00e9",
	canary.Value.Reveal(), // also a quote and "&"; the searches of results know it
}

// secretName names sec in a subtest's name, and the canary by its role,
// so that test output carries no form of it.
func secretName(sec string) string {
	if sec == canary.Value.Reveal() {
		return "canary"
	}
	return fmt.Sprintf("%q", sec)
}

// endpoint is a token endpoint for tests. It counts requests and records
// the last one, and respond writes the response.
type endpoint struct {
	mu       sync.Mutex
	requests int
	last     recordedRequest
	respond  http.HandlerFunc
}

type recordedRequest struct {
	Path          string
	Authorization string
	ContentType   string
	Form          url.Values
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	e.mu.Lock()
	e.requests++
	e.last = recordedRequest{
		Path:          r.URL.Path,
		Authorization: r.Header.Get("Authorization"),
		ContentType:   r.Header.Get("Content-Type"),
		Form:          r.PostForm,
	}
	respond := e.respond
	e.mu.Unlock()
	respond(w, r)
}

func (e *endpoint) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

func (e *endpoint) Last() recordedRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// fixture is a TLS token endpoint and a Checker that trusts it.
type fixture struct {
	server   *httptest.Server
	endpoint *endpoint
	checker  *tokencheck.Checker
}

func setup(t *testing.T, answer http.HandlerFunc) fixture {
	t.Helper()
	return setupWithTimeout(t, answer, 5*time.Second)
}

func setupWithTimeout(t *testing.T, answer http.HandlerFunc, timeout time.Duration) fixture {
	t.Helper()
	ep := &endpoint{respond: answer}
	srv := httptest.NewTLSServer(ep)
	t.Cleanup(srv.Close)

	checker, err := tokencheck.New(tokencheck.Config{
		TokenURL: srv.URL + "/realms/persium/protocol/openid-connect/token",
		RootCAs:  trusting(srv),
		Timeout:  timeout,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return fixture{server: srv, endpoint: ep, checker: checker}
}

func trusting(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// credentialsServer responds like an RFC 6749 token endpoint for one client.
// With decodeBasic false it skips the form decoding of Basic credentials,
// as some servers wrongly do.
func credentialsServer(wantID, wantSecret string, decodeBasic bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm.Get("grant_type") != "client_credentials" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
			return
		}
		id, sec := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if user, pass, ok := r.BasicAuth(); ok {
			id, sec = user, pass
			if decodeBasic {
				var errID, errSecret error
				id, errID = url.QueryUnescape(user)
				sec, errSecret = url.QueryUnescape(pass)
				if errID != nil || errSecret != nil {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
					return
				}
			}
		}
		if id != wantID || sec != wantSecret {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error":             "invalid_client",
				"error_description": "Invalid client or Invalid client credentials",
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 300})
	}
}

func TestNewRejectsInvalidTokenURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
	}{
		{"empty", ""},
		{"plain http", "http://a/t"},
		{"upper-case http", "HTTP://a/t"},
		{"leading space", " http://a/t"},
		{"trailing space", "https://a/t "},
		{"missing slash", "https:/a/t"},
		{"opaque", "https:a/t"},
		{"user information", "https://alice:hunter2@a/t"},
		{"user information on http", "http://alice:hunter2@a/t"},
		{"user name only", "https://alice@a/t"},
		{"scheme-relative", "//a/t"},
		{"other scheme", "ftp://a/t"},
		{"no host", "https:///t"},
		{"fragment", "https://a/t#frag"},
		{"control character", "https://a/t\x7f"},
		{"bad port", "https://a:port/t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checker, err := tokencheck.New(tokencheck.Config{TokenURL: tt.url})
			if err == nil {
				t.Fatalf("New(%q) = %v, nil; want an error", tt.url, checker)
			}
			for _, leak := range []string{"alice", "hunter2"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("New(%q) error %q echoes %q", tt.url, err, leak)
				}
			}
		})
	}
}

func TestNewAcceptsHTTPSURL(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"https://a/t",
		"HTTPS://a/t",
		"https://a:8443/realms/persium/protocol/openid-connect/token",
		"https://127.0.0.1/t?audience=x",
	} {
		if _, err := tokencheck.New(tokencheck.Config{TokenURL: raw}); err != nil {
			t.Errorf("New(%q): %v; want no error", raw, err)
		}
	}
}

func TestNewRejectsNegativeTimeout(t *testing.T) {
	t.Parallel()
	_, err := tokencheck.New(tokencheck.Config{TokenURL: "https://a/t", Timeout: -time.Second})
	if err == nil {
		t.Fatal("New with a negative timeout: got no error, want one")
	}
}

func TestNewCAFile(t *testing.T) {
	t.Parallel()
	ep := &endpoint{respond: credentialsServer(clientID, "OLD-1", true)}
	srv := httptest.NewTLSServer(ep)
	t.Cleanup(srv.Close)
	dir := t.TempDir()

	t.Run("trusts file certificates", func(t *testing.T) {
		caFile := filepath.Join(dir, "ca.pem")
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		checker, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + "/t", CAFile: caFile})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		res := checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("OLD-1"))
		if res.Outcome != tokencheck.Accepted {
			t.Errorf("Check outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Accepted)
		}
	})

	t.Run("keeps caller pool unchanged", func(t *testing.T) {
		caFile := filepath.Join(dir, "ca-again.pem")
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		empty := x509.NewCertPool()
		if _, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + "/t", RootCAs: empty, CAFile: caFile}); err != nil {
			t.Fatalf("New: %v", err)
		}
		if !empty.Equal(x509.NewCertPool()) {
			t.Error("New added the CA file to the caller's RootCAs pool; want a copy")
		}
	})

	t.Run("rejects a missing file", func(t *testing.T) {
		_, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + "/t", CAFile: filepath.Join(dir, "missing.pem")})
		if err == nil {
			t.Fatal("New with a missing CA file: got no error, want one")
		}
	})

	t.Run("rejects a file without certificates", func(t *testing.T) {
		caFile := filepath.Join(dir, "empty.pem")
		if err := os.WriteFile(caFile, []byte("not a certificate\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + "/t", CAFile: caFile})
		if err == nil {
			t.Fatal("New with a CA file without certificates: got no error, want one")
		}
	})
}

func TestCheckAcceptsSecret(t *testing.T) {
	t.Parallel()
	for _, method := range []tokencheck.AuthMethod{tokencheck.Basic, tokencheck.Post} {
		for _, sec := range specialSecrets {
			t.Run(fmt.Sprintf("%s %s", method, secretName(sec)), func(t *testing.T) {
				t.Parallel()
				f := setup(t, credentialsServer(clientID, sec, true))

				res := f.checker.Check(t.Context(), clientID, method, secret.New(sec))

				if res.Outcome != tokencheck.Accepted {
					t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Accepted)
				}
				if res.Status != http.StatusOK {
					t.Errorf("status = %d; want 200", res.Status)
				}
				if res.ContentType != "application/json" {
					t.Errorf("content type = %q; want application/json", res.ContentType)
				}
				if strings.Contains(res.Detail, accessToken) {
					t.Errorf("detail %q contains the access token", res.Detail)
				}
			})
		}
	}
}

func TestCheckEncodesCredentials(t *testing.T) {
	t.Parallel()
	const sec = "a+b/c=d:e%f g\u00e9"

	t.Run("basic form-encodes before Base64", func(t *testing.T) {
		t.Parallel()
		f := setup(t, credentialsServer("client a", sec, true))

		f.checker.Check(t.Context(), "client a", tokencheck.Basic, secret.New(sec))

		got := f.endpoint.Last()
		// Written out by hand from RFC 6749 appendix B, not computed.
		wantUserPass := "client+a:a%2Bb%2Fc%3Dd%3Ae%25f+g%C3%A9"
		want := recordedRequest{
			Path:          "/realms/persium/protocol/openid-connect/token",
			Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(wantUserPass)),
			ContentType:   "application/x-www-form-urlencoded",
			Form:          url.Values{"grant_type": {"client_credentials"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("post sends form credentials", func(t *testing.T) {
		t.Parallel()
		f := setup(t, credentialsServer(clientID, sec, true))

		f.checker.Check(t.Context(), clientID, tokencheck.Post, secret.New(sec))

		got := f.endpoint.Last()
		want := recordedRequest{
			Path:        "/realms/persium/protocol/openid-connect/token",
			ContentType: "application/x-www-form-urlencoded",
			Form: url.Values{
				"grant_type":    {"client_credentials"},
				"client_id":     {clientID},
				"client_secret": {sec},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestCheckRejectedSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		error  string
	}{
		{"401 invalid_client", http.StatusUnauthorized, "invalid_client"},
		{"400 invalid_client", http.StatusBadRequest, "invalid_client"},
		{"401 unauthorized_client", http.StatusUnauthorized, "unauthorized_client"},
		{"400 unauthorized_client", http.StatusBadRequest, "unauthorized_client"},
	}
	for _, tt := range tests {
		for _, method := range []tokencheck.AuthMethod{tokencheck.Basic, tokencheck.Post} {
			t.Run(fmt.Sprintf("%s %s", tt.name, method), func(t *testing.T) {
				t.Parallel()
				f := setup(t, func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, tt.status, map[string]string{"error": tt.error, "error_description": "Invalid client or Invalid client credentials"})
				})

				res := f.checker.Check(t.Context(), clientID, method, secret.New("NEW-2"))

				if res.Outcome != tokencheck.Rejected {
					t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Rejected)
				}
				if res.Status != tt.status {
					t.Errorf("status = %d; want %d", res.Status, tt.status)
				}
				for _, want := range []string{"rejected", fmt.Sprintf("HTTP %d", tt.status), tt.error, "Invalid client or Invalid client credentials"} {
					if !strings.Contains(res.Detail, want) {
						t.Errorf("detail %q does not contain %q", res.Detail, want)
					}
				}
				if strings.Contains(res.Detail, "client_secret_post") {
					t.Errorf("detail %q hints at encoding for a secret that form encoding leaves alone", res.Detail)
				}
			})
		}
	}
}

func TestCheckRejectionHintsAtEncoding(t *testing.T) {
	t.Parallel()
	for _, sec := range specialSecrets[1:] {
		t.Run(secretName(sec), func(t *testing.T) {
			t.Parallel()
			f := setup(t, credentialsServer(clientID, sec, false))

			basic := f.checker.Check(t.Context(), clientID, tokencheck.Basic, secret.New(sec))
			post := f.checker.Check(t.Context(), clientID, tokencheck.Post, secret.New(sec))

			if basic.Outcome != tokencheck.Rejected {
				t.Fatalf("basic outcome = %s (%s); want %s", basic.Outcome, basic.Detail, tokencheck.Rejected)
			}
			for _, want := range []string{"form-encodes", `"post"`, "client_secret_post"} {
				if !strings.Contains(basic.Detail, want) {
					t.Errorf("basic detail %q does not contain %q", basic.Detail, want)
				}
			}
			if post.Outcome != tokencheck.Accepted {
				t.Errorf("post outcome = %s (%s); want %s", post.Outcome, post.Detail, tokencheck.Accepted)
			}
		})
	}
}

func TestCheckInconclusiveAnswers(t *testing.T) {
	t.Parallel()
	const loginPage = `<!DOCTYPE html><html><head><title>Sign in to Persium</title></head><body><form>Username</form></body></html>`
	const gatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body></html>"
	tests := []struct {
		name        string
		path        string
		answer      http.HandlerFunc
		status      int
		contentType string
		detail      []string
		absent      []string
	}{
		{
			name: "200 HTML login page",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(loginPage))
			},
			status:      http.StatusOK,
			contentType: "text/html; charset=utf-8",
			detail:      []string{"HTTP 200", "text/html", `"Sign in to Persium"`, "login page"},
		},
		{
			name: "HTML without a content type",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = w.Write([]byte(loginPage))
			},
			status: http.StatusOK,
			detail: []string{"HTTP 200", "no content type", "Sign in to Persium", "HTML page"},
		},
		{
			name: "502 HTML from a load balancer",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte(gatewayPage))
			},
			status:      http.StatusBadGateway,
			contentType: "text/html",
			detail:      []string{"HTTP 502", "text/html", `"502 Bad Gateway"`, "try again later"},
		},
		{
			name: "500 JSON",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "unknown_error"})
			},
			status:      http.StatusInternalServerError,
			contentType: "application/json",
			detail:      []string{"HTTP 500", "unknown_error"},
		},
		{
			name: "503 with an empty body",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			status: http.StatusServiceUnavailable,
			detail: []string{"HTTP 503", "body: empty"},
		},
		{
			name: "JSON 404 on a legacy auth path",
			path: "/auth/realms/persium/protocol/openid-connect/token",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusNotFound, map[string]string{
					"error":             "Unable to find matching target resource method",
					"error_description": "For more on this error consult the server log.",
				})
			},
			status:      http.StatusNotFound,
			contentType: "application/json",
			detail:      []string{"HTTP 404", "/auth/realms/persium/protocol/openid-connect/token", "Unable to find matching target resource method", "path", "legacy /auth prefix"},
		},
		{
			name: "JSON 404 on the current path",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
			},
			status:      http.StatusNotFound,
			contentType: "application/json",
			detail:      []string{"HTTP 404", "Realm does not exist", "check the token URL path"},
		},
		{
			name: "200 JSON without access_token",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 300})
			},
			status:      http.StatusOK,
			contentType: "application/json",
			detail:      []string{"HTTP 200", "keys expires_in, token_type", "without an access_token"},
		},
		{
			name: "200 JSON with an empty access_token",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, map[string]any{"access_token": "", "token_type": "Bearer"})
			},
			status:      http.StatusOK,
			contentType: "application/json",
			detail:      []string{"HTTP 200", "without an access_token"},
		},
		{
			name: "200 JSON with a numeric access_token",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, map[string]any{"access_token": 42})
			},
			status:      http.StatusOK,
			contentType: "application/json",
			detail:      []string{"HTTP 200"},
		},
		{
			name: "200 with invalid JSON",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token": "abc`))
			},
			status:      http.StatusOK,
			contentType: "application/json",
			detail:      []string{"HTTP 200", "not JSON"},
		},
		{
			name: "200 plain text",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write([]byte("access_token=abc123opaque&token_type=bearer"))
			},
			status:      http.StatusOK,
			contentType: "text/plain",
			detail:      []string{"HTTP 200", "not JSON", "not shown"},
			absent:      []string{"abc123opaque"},
		},
		{
			name: "401 HTML",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte("<html><title>Unauthorized</title></html>"))
			},
			status:      http.StatusUnauthorized,
			contentType: "text/html",
			detail:      []string{"HTTP 401", "Unauthorized"},
		},
		{
			name: "401 JSON without an error",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "no"})
			},
			status:      http.StatusUnauthorized,
			contentType: "application/json",
			detail:      []string{"HTTP 401", "keys message", "does not say whether the secret is wrong"},
		},
		{
			name: "400 unsupported_grant_type",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
			},
			status:      http.StatusBadRequest,
			contentType: "application/json",
			detail:      []string{"HTTP 400", "unsupported_grant_type", "grant type"},
		},
		{
			name: "403 invalid_client",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "invalid_client"})
			},
			status:      http.StatusForbidden,
			contentType: "application/json",
			detail:      []string{"HTTP 403", "invalid_client"},
		},
		{
			name: "429 rate limited",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusTooManyRequests)
			},
			status: http.StatusTooManyRequests,
			detail: []string{"HTTP 429"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ep := &endpoint{respond: tt.answer}
			srv := httptest.NewTLSServer(ep)
			t.Cleanup(srv.Close)
			path := tt.path
			if path == "" {
				path = "/realms/persium/protocol/openid-connect/token"
			}
			checker, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + path, RootCAs: trusting(srv)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}

			for _, method := range []tokencheck.AuthMethod{tokencheck.Basic, tokencheck.Post} {
				res := checker.Check(t.Context(), clientID, method, secret.New("NEW-2"))

				if res.Outcome != tokencheck.Inconclusive {
					t.Errorf("%s: outcome = %s (%s); want %s", method, res.Outcome, res.Detail, tokencheck.Inconclusive)
				}
				if res.Status != tt.status {
					t.Errorf("%s: status = %d; want %d", method, res.Status, tt.status)
				}
				if tt.contentType != "" && res.ContentType != tt.contentType {
					t.Errorf("%s: content type = %q; want %q", method, res.ContentType, tt.contentType)
				}
				for _, want := range append([]string{"inconclusive", srv.URL + path}, tt.detail...) {
					if !strings.Contains(res.Detail, want) {
						t.Errorf("%s: detail %q does not contain %q", method, res.Detail, want)
					}
				}
				for _, unwanted := range tt.absent {
					if strings.Contains(res.Detail, unwanted) {
						t.Errorf("%s: detail %q contains %q", method, res.Detail, unwanted)
					}
				}
			}
		})
	}
}

func TestCheckDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()

	t.Run("to plain HTTP with user information", func(t *testing.T) {
		t.Parallel()
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://user:pw@127.0.0.1:1/realms/persium/token?client_secret=NEW-2#top")
			w.WriteHeader(http.StatusTemporaryRedirect)
		})

		res := f.checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

		if res.Outcome != tokencheck.Inconclusive {
			t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
		}
		if res.Status != http.StatusTemporaryRedirect {
			t.Errorf("status = %d; want 307", res.Status)
		}
		for _, want := range []string{"HTTP 307", "http://127.0.0.1:1/realms/persium/token", "not HTTPS", "never follows redirects"} {
			if !strings.Contains(res.Detail, want) {
				t.Errorf("detail %q does not contain %q", res.Detail, want)
			}
		}
		for _, leak := range []string{"user", "pw", "client_secret", "NEW-2", "#top"} {
			if strings.Contains(res.Detail, leak) {
				t.Errorf("detail %q contains %q from the Location", res.Detail, leak)
			}
		}
		if got := f.endpoint.Requests(); got != 1 {
			t.Errorf("requests = %d; want 1", got)
		}
	})

	t.Run("to HTTPS on the same server", func(t *testing.T) {
		t.Parallel()
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/moved" {
				writeJSON(w, http.StatusOK, map[string]string{"access_token": accessToken})
				return
			}
			http.Redirect(w, r, "/moved", http.StatusFound)
		})

		for _, method := range []tokencheck.AuthMethod{tokencheck.Basic, tokencheck.Post} {
			res := f.checker.Check(t.Context(), clientID, method, secret.New("NEW-2"))

			if res.Outcome != tokencheck.Inconclusive {
				t.Errorf("%s: outcome = %s (%s); want %s", method, res.Outcome, res.Detail, tokencheck.Inconclusive)
			}
			if want := f.server.URL + "/moved"; !strings.Contains(res.Detail, want) {
				t.Errorf("%s: detail %q does not name the target %q", method, res.Detail, want)
			}
		}
		if got := f.endpoint.Requests(); got != 2 {
			t.Errorf("requests = %d for two checks; want 2, one each", got)
		}
	})

	t.Run("without a Location", func(t *testing.T) {
		t.Parallel()
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPermanentRedirect)
		})

		res := f.checker.Check(t.Context(), clientID, tokencheck.Basic, secret.New("NEW-2"))

		if res.Outcome != tokencheck.Inconclusive {
			t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
		}
		if !strings.Contains(res.Detail, "without a Location") {
			t.Errorf("detail %q does not say that the Location is missing", res.Detail)
		}
	})
}

func TestCheckTimesOut(t *testing.T) {
	t.Parallel()
	f := setupWithTimeout(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, 100*time.Millisecond)

	res := f.checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

	if res.Outcome != tokencheck.Inconclusive {
		t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
	}
	if res.Status != 0 {
		t.Errorf("status = %d; want 0", res.Status)
	}
	if !strings.Contains(res.Detail, "timed out after 100ms") {
		t.Errorf("detail %q does not say that the check timed out", res.Detail)
	}
}

func TestCheckCancelled(t *testing.T) {
	t.Parallel()
	f := setup(t, credentialsServer(clientID, "NEW-2", true))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	res := f.checker.Check(ctx, clientID, tokencheck.Post, secret.New("NEW-2"))

	if res.Outcome != tokencheck.Inconclusive {
		t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
	}
	if !strings.Contains(res.Detail, "cancelled") {
		t.Errorf("detail %q does not say that the check was cancelled", res.Detail)
	}
}

func TestCheckConnectionRefused(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	if err := listener.Close(); err != nil {
		t.Fatal(err)
	}
	checker, err := tokencheck.New(tokencheck.Config{TokenURL: "https://" + addr + "/t"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	res := checker.Check(t.Context(), clientID, tokencheck.Basic, secret.New("NEW-2"))

	if res.Outcome != tokencheck.Inconclusive {
		t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
	}
	if res.Status != 0 {
		t.Errorf("status = %d; want 0", res.Status)
	}
	if !strings.Contains(res.Detail, "connection refused") {
		t.Errorf("detail %q does not say that the connection was refused", res.Detail)
	}
}

func TestCheckTLSFailures(t *testing.T) {
	t.Parallel()

	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		ep := &endpoint{respond: credentialsServer(clientID, "NEW-2", true)}
		srv := httptest.NewUnstartedServer(ep)
		srv.Config.ErrorLog = quietLog()
		srv.StartTLS()
		t.Cleanup(srv.Close)
		checker, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + "/t", RootCAs: x509.NewCertPool()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}

		res := checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

		if res.Outcome != tokencheck.Inconclusive {
			t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
		}
		if !strings.Contains(res.Detail, "TLS certificate not trusted") {
			t.Errorf("detail %q does not name the certificate problem", res.Detail)
		}
		if got := ep.Requests(); got != 0 {
			t.Errorf("requests that reached the handler = %d; want 0", got)
		}
	})

	t.Run("server below TLS 1.2", func(t *testing.T) {
		t.Parallel()
		ep := &endpoint{respond: credentialsServer(clientID, "NEW-2", true)}
		srv := httptest.NewUnstartedServer(ep)
		srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
		srv.Config.ErrorLog = quietLog()
		srv.StartTLS()
		t.Cleanup(srv.Close)
		checker, err := tokencheck.New(tokencheck.Config{TokenURL: srv.URL + "/t", RootCAs: trusting(srv)})
		if err != nil {
			t.Fatalf("New: %v", err)
		}

		res := checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

		if res.Outcome != tokencheck.Inconclusive {
			t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
		}
		if !strings.Contains(res.Detail, "TLS") {
			t.Errorf("detail %q does not name TLS", res.Detail)
		}
		if got := ep.Requests(); got != 0 {
			t.Errorf("requests that reached the handler = %d; want 0", got)
		}
	})

	t.Run("plain HTTP on the port", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(&endpoint{respond: credentialsServer(clientID, "NEW-2", true)})
		t.Cleanup(srv.Close)
		checker, err := tokencheck.New(tokencheck.Config{TokenURL: strings.Replace(srv.URL, "http://", "https://", 1) + "/t"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}

		res := checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

		if res.Outcome != tokencheck.Inconclusive {
			t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
		}
		if !strings.Contains(res.Detail, "does not speak TLS") {
			t.Errorf("detail %q does not say that the port does not speak TLS", res.Detail)
		}
	})
}

func TestCheckBoundsBodyRead(t *testing.T) {
	t.Parallel()
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		chunk := []byte(strings.Repeat("<p>login</p>", 1024))
		// An endless page: the check must stop reading on its own.
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})

	res := f.checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

	if res.Outcome != tokencheck.Inconclusive {
		t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Inconclusive)
	}
	if res.Status != http.StatusOK {
		t.Errorf("status = %d; want 200", res.Status)
	}
	if !strings.Contains(res.Detail, "not read to the end") {
		t.Errorf("detail %q does not say that the body was cut", res.Detail)
	}
}

func TestCheckSanitisesExcerpt(t *testing.T) {
	t.Parallel()
	body := "\x1b[31mError\x1b[0m\r\nline two\t\u202Eevil\u202C\x00 " + strings.Repeat("x", 500) +
		" eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbGllbnQtYSJ9.c2lnbmF0dXJl"
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(body))
	})

	res := f.checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("NEW-2"))

	for _, r := range res.Detail {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("detail %q contains control or format character %U", res.Detail, r)
		}
	}
	if !strings.Contains(res.Detail, "[31mError [0m line two evil") {
		t.Errorf("detail %q does not contain the cleaned start of the body", res.Detail)
	}
	if strings.Count(res.Detail, "x") > 200 {
		t.Errorf("detail has %d runes; want the excerpt cut short", len([]rune(res.Detail)))
	}
	if !strings.Contains(res.Detail, "…") {
		t.Errorf("detail %q does not mark the cut", res.Detail)
	}
}

func TestCheckSendsNothingWithoutInput(t *testing.T) {
	t.Parallel()
	f := setup(t, credentialsServer(clientID, "NEW-2", true))
	tests := []struct {
		name     string
		clientID string
		method   tokencheck.AuthMethod
		secret   secret.Value
		detail   string
	}{
		{"unknown method", clientID, "client_secret_jwt", secret.New("NEW-2"), "unknown"},
		{"empty method", clientID, "", secret.New("NEW-2"), "unknown"},
		{"empty client id", "", tokencheck.Post, secret.New("NEW-2"), "client id is empty"},
		{"empty secret", clientID, tokencheck.Basic, secret.Value{}, "secret is empty"},
	}
	for _, tt := range tests {
		res := f.checker.Check(t.Context(), tt.clientID, tt.method, tt.secret)
		if res.Outcome != tokencheck.Inconclusive {
			t.Errorf("%s: outcome = %s; want %s", tt.name, res.Outcome, tokencheck.Inconclusive)
		}
		if !strings.Contains(res.Detail, tt.detail) {
			t.Errorf("%s: detail %q does not contain %q", tt.name, res.Detail, tt.detail)
		}
	}
	if got := f.endpoint.Requests(); got != 0 {
		t.Errorf("requests = %d; want 0", got)
	}
}

// quietLog discards a test server's log of failed TLS handshakes.
func quietLog() *log.Logger {
	return log.New(io.Discard, "", 0)
}

// secretForms are the four forms in which a secret must never appear: as
// it is, form-encoded, as Basic credentials and JSON-escaped.
func secretForms(t *testing.T, id, sec string) []string {
	t.Helper()
	creds := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(sec)))
	quoted, err := json.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	return []string{sec, url.QueryEscape(sec), creds, "Basic " + creds, string(quoted[1 : len(quoted)-1])}
}

// echoHandlers respond in every way a check distinguishes, and each
// echoes the request's credentials in every form.
func echoHandlers(t *testing.T, id, sec string) map[string]http.HandlerFunc {
	forms := strings.Join(secretForms(t, id, sec), " | ")
	jsonEcho := func(status int, fields map[string]any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			answer := maps.Clone(fields)
			answer["echo"] = forms
			answer["authorization"] = r.Header.Get("Authorization")
			writeJSON(w, status, answer)
		}
	}
	htmlEcho := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><title>Login %s</title><body>%s\n%s\n%s</body></html>",
				forms, r.Header.Get("Authorization"), r.PostForm.Get("client_secret"), forms)
		}
	}
	return map[string]http.HandlerFunc{
		"accepted": jsonEcho(http.StatusOK, map[string]any{"access_token": accessToken}),
		"rejected": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error":             "invalid_client",
				"error_description": "Invalid secret " + forms + " " + r.Header.Get("Authorization") + " " + r.PostForm.Get("client_secret"),
			})
		},
		"200 without token": jsonEcho(http.StatusOK, map[string]any{"refresh_token": accessToken}),
		"json 404":          jsonEcho(http.StatusNotFound, map[string]any{"error": forms}),
		"html 200":          htmlEcho(http.StatusOK),
		"html 502":          htmlEcho(http.StatusBadGateway),
		"text 500": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, forms+" "+r.Header.Get("Authorization"), 500)
		},
		"bad grant with key": jsonEcho(http.StatusBadRequest, map[string]any{forms: "x"}),
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://"+url.QueryEscape(sec)+":"+url.QueryEscape(sec)+"@127.0.0.1:1/"+url.PathEscape(sec)+"?s="+url.QueryEscape(sec))
			w.WriteHeader(http.StatusTemporaryRedirect)
		},
		"content type echo": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; x="+url.QueryEscape(sec)+"; y="+r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

func TestCheckNeverLeaksSecret(t *testing.T) {
	t.Parallel()
	for _, sec := range specialSecrets {
		for name, answer := range echoHandlers(t, clientID, sec) {
			for _, method := range []tokencheck.AuthMethod{tokencheck.Basic, tokencheck.Post} {
				t.Run(fmt.Sprintf("%s %s %s", name, method, secretName(sec)), func(t *testing.T) {
					t.Parallel()
					f := setup(t, answer)

					res := f.checker.Check(t.Context(), clientID, method, secret.New(sec))

					printed := fmt.Sprintf("%+v %#v", res, res)
					for _, form := range secretForms(t, clientID, sec) {
						if strings.Contains(printed, form) {
							t.Errorf("result contains the secret form %q: %s", form, printed)
						}
					}
					if strings.Contains(printed, accessToken) {
						t.Errorf("result contains the access token: %s", printed)
					}
					canary.Check(t, "the check's result", printed)
				})
			}
		}
	}
}
