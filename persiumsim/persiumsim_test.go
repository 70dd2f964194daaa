package persiumsim_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/tokencheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const clientID = "client-a"

var methods = []tokencheck.AuthMethod{tokencheck.Basic, tokencheck.Post}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects log output from server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a simulated Persium behind HTTPS with a tokencheck Checker
// and a plain HTTP client that both trust it.
type fixture struct {
	sim     *persiumsim.Server
	server  *persiumsim.TLSServer
	checker *tokencheck.Checker
	http    *http.Client
	clock   *clock
	logs    *logBuffer
}

func setup(t *testing.T, opts persiumsim.Options) fixture {
	t.Helper()
	clk := &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	opts.Logger = logger

	sim := persiumsim.New(opts)
	server, err := persiumsim.NewTLS(sim, logger)
	if err != nil {
		t.Fatalf("NewTLS: %v", err)
	}
	t.Cleanup(func() {
		if err := server.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		t.Logf("simulator log:\n%s", logs)
	})

	checker, err := tokencheck.New(tokencheck.Config{
		TokenURL: server.URL + sim.TokenPath(),
		RootCAs:  server.CertPool,
		Timeout:  5 * time.Second,
	})
	if err != nil {
		t.Fatalf("tokencheck.New: %v", err)
	}

	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: server.CertPool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return fixture{sim: sim, server: server, checker: checker, http: client, clock: clk, logs: logs}
}

// expect checks sec with both auth methods and compares the outcome.
func (f fixture) expect(t *testing.T, name string, sec secret.Value, want tokencheck.Outcome) {
	t.Helper()
	for _, method := range methods {
		res := f.checker.Check(t.Context(), clientID, method, sec)
		if res.Outcome != want {
			t.Errorf("%s with %s: outcome = %s (%s); want %s", name, method, res.Outcome, res.Detail, want)
		}
	}
}

func TestTokenPath(t *testing.T) {
	t.Parallel()
	if got, want := persiumsim.New(persiumsim.Options{}).TokenPath(), "/realms/persium/protocol/openid-connect/token"; got != want {
		t.Errorf("default TokenPath = %q; want %q", got, want)
	}
	if got, want := persiumsim.New(persiumsim.Options{Realm: "acme"}).TokenPath(), "/realms/acme/protocol/openid-connect/token"; got != want {
		t.Errorf("TokenPath for realm acme = %q; want %q", got, want)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()

	t.Run("current accepted, wrong rejected", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))

		f.expect(t, "OLD-1", secret.New("OLD-1"), tokencheck.Accepted)
		f.expect(t, "NEW-2", secret.New("NEW-2"), tokencheck.Rejected)
	})

	t.Run("both secrets work during the overlap", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))

		newSecret, err := f.sim.Issue(clientID)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}

		f.expect(t, "old secret", secret.New("OLD-1"), tokencheck.Accepted)
		f.expect(t, "new secret", newSecret, tokencheck.Accepted)
	})

	t.Run("retire old rejects old secret", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		newSecret, err := f.sim.Issue(clientID)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}

		if err := f.sim.RetireOld(clientID); err != nil {
			t.Fatalf("RetireOld: %v", err)
		}

		f.expect(t, "old secret", secret.New("OLD-1"), tokencheck.Rejected)
		f.expect(t, "new secret", newSecret, tokencheck.Accepted)
		if err := f.sim.RetireOld(clientID); !errors.Is(err, persiumsim.ErrNoRotatedSecret) {
			t.Errorf("second RetireOld error = %v; want ErrNoRotatedSecret", err)
		}
	})

	t.Run("second issue drops older secret", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		second, err := f.sim.Issue(clientID)
		if err != nil {
			t.Fatalf("first Issue: %v", err)
		}

		third, err := f.sim.Issue(clientID)
		if err != nil {
			t.Fatalf("second Issue: %v", err)
		}

		f.expect(t, "first secret", secret.New("OLD-1"), tokencheck.Rejected)
		f.expect(t, "second secret, now rotated", second, tokencheck.Accepted)
		f.expect(t, "third secret, now current", third, tokencheck.Accepted)
		if !strings.Contains(f.logs.String(), `"dropped_rotated_secret":true`) {
			t.Errorf("log does not record the dropped rotated secret:\n%s", f.logs)
		}
	})

	t.Run("rotated secret expires after its lifetime", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{RotatedSecretLifetime: time.Hour})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		newSecret, err := f.sim.Issue(clientID)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}

		f.clock.Advance(59 * time.Minute)
		f.expect(t, "old secret before expiry", secret.New("OLD-1"), tokencheck.Accepted)

		f.clock.Advance(time.Minute)
		f.expect(t, "old secret at expiry", secret.New("OLD-1"), tokencheck.Rejected)
		f.expect(t, "new secret", newSecret, tokencheck.Accepted)
	})

	t.Run("add client replaces secrets", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		if _, err := f.sim.Issue(clientID); err != nil {
			t.Fatalf("Issue: %v", err)
		}

		f.sim.AddClient(clientID, secret.New("NEW-3"))

		f.expect(t, "replaced secret", secret.New("OLD-1"), tokencheck.Rejected)
		f.expect(t, "added secret", secret.New("NEW-3"), tokencheck.Accepted)
		if err := f.sim.RetireOld(clientID); !errors.Is(err, persiumsim.ErrNoRotatedSecret) {
			t.Errorf("RetireOld error = %v; want ErrNoRotatedSecret", err)
		}
	})

	t.Run("unknown client", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})

		if _, err := f.sim.Issue("client-z"); !errors.Is(err, persiumsim.ErrClientNotFound) {
			t.Errorf("Issue error = %v; want ErrClientNotFound", err)
		}
		if err := f.sim.RetireOld("client-z"); !errors.Is(err, persiumsim.ErrClientNotFound) {
			t.Errorf("RetireOld error = %v; want ErrClientNotFound", err)
		}
		f.expect(t, "secret of an unknown client", secret.New("OLD-1"), tokencheck.Rejected)
	})
}

func TestIssuedSecretsExerciseEncoding(t *testing.T) {
	t.Parallel()
	sim := persiumsim.New(persiumsim.Options{})
	sim.AddClient(clientID, secret.New("OLD-1"))
	seen := make(map[string]bool)

	for range 50 {
		issued, err := sim.Issue(clientID)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		text := issued.Reveal()
		if len(text) != 32 {
			t.Errorf("issued secret has %d characters; want 32", len(text))
		}
		for _, want := range []string{"+", "/", "=="} {
			if !strings.Contains(text, want) {
				t.Errorf("issued secret lacks %q", want)
			}
		}
		if seen[text] {
			t.Error("Issue returned a secret it had returned before")
		}
		seen[text] = true
	}
}

func TestEncodedSecretsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sec := range []string{"a+b", "a/b==", "a:b", "100%", "with space", "caf\u00e9", "a+b/c=d:e%f g\u00e9"} {
		t.Run(fmt.Sprintf("%q", sec), func(t *testing.T) {
			t.Parallel()
			f := setup(t, persiumsim.Options{})
			f.sim.AddClient(clientID, secret.New(sec))

			f.expect(t, "secret", secret.New(sec), tokencheck.Accepted)
		})
	}
}

// tokenRequest describes one raw request to the simulator.
type tokenRequest struct {
	method      string
	path        string // empty means the token path
	contentType string // empty means a form
	basic       string // the Authorization header, if any
	form        string
}

// tokenResponse is the simulator's response.
type tokenResponse struct {
	Status          int
	Body            map[string]any
	WWWAuthenticate string
}

func (f fixture) send(t *testing.T, req tokenRequest) tokenResponse {
	t.Helper()
	path := req.path
	if path == "" {
		path = f.sim.TokenPath()
	}
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	httpReq, err := http.NewRequestWithContext(t.Context(), method, f.server.URL+path, strings.NewReader(req.form))
	if err != nil {
		t.Fatal(err)
	}
	contentType := req.contentType
	if contentType == "" {
		contentType = "application/x-www-form-urlencoded"
	}
	httpReq.Header.Set("Content-Type", contentType)
	if req.basic != "" {
		httpReq.Header.Set("Authorization", req.basic)
	}

	resp, err := f.http.Do(httpReq)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}

	answer := tokenResponse{Status: resp.StatusCode, WWWAuthenticate: resp.Header.Get("WWW-Authenticate")}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &answer.Body); err != nil {
			t.Fatalf("body %q is not a JSON object: %v", raw, err)
		}
	}
	return answer
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func oauthError(code, description string) map[string]any {
	return map[string]any{"error": code, "error_description": description}
}

func TestKeycloakAnswers(t *testing.T) {
	t.Parallel()
	const invalid = "Invalid client or Invalid client credentials"
	const consult = "For more on this error consult the server log."
	tests := []struct {
		name string
		req  tokenRequest
		want tokenResponse
	}{
		{
			name: "wrong secret",
			req:  tokenRequest{form: "grant_type=client_credentials&client_id=client-a&client_secret=NEW-2"},
			want: tokenResponse{Status: 401, Body: oauthError("unauthorized_client", invalid)},
		},
		{
			name: "unknown client",
			req:  tokenRequest{form: "grant_type=client_credentials&client_id=client-z&client_secret=OLD-1"},
			want: tokenResponse{Status: 401, Body: oauthError("invalid_client", invalid)},
		},
		{
			name: "missing secret",
			req:  tokenRequest{form: "grant_type=client_credentials&client_id=client-a"},
			want: tokenResponse{Status: 401, Body: oauthError("unauthorized_client", invalid)},
		},
		{
			name: "missing client id",
			req:  tokenRequest{form: "grant_type=client_credentials"},
			want: tokenResponse{Status: 400, Body: oauthError("invalid_client", "Missing client_id parameter")},
		},
		{
			name: "missing grant type",
			req:  tokenRequest{form: "client_id=client-a&client_secret=OLD-1"},
			want: tokenResponse{Status: 400, Body: oauthError("invalid_request", "Missing form parameter: grant_type")},
		},
		{
			name: "other grant type",
			req:  tokenRequest{form: "grant_type=password&client_id=client-a&client_secret=OLD-1&username=u&password=p"},
			want: tokenResponse{Status: 400, Body: oauthError("unsupported_grant_type", "Unsupported grant_type")},
		},
		{
			name: "duplicated parameter",
			req:  tokenRequest{form: "grant_type=client_credentials&client_id=client-a&client_secret=OLD-1&scope=a&scope=b"},
			want: tokenResponse{Status: 400, Body: oauthError("invalid_request", "duplicated parameter")},
		},
		{
			name: "Basic credentials without form encoding",
			req:  tokenRequest{form: "grant_type=client_credentials", basic: basicHeader("client-b", "a+b")},
			want: tokenResponse{Status: 401, Body: oauthError("unauthorized_client", invalid)},
		},
		{
			name: "Basic credentials with a malformed percent escape",
			req:  tokenRequest{form: "grant_type=client_credentials", basic: basicHeader("client-c", "100%")},
			want: tokenResponse{Status: 400, Body: oauthError("unauthorized_client", "Unexpected error when authenticating client")},
		},
		{
			name: "bearer header without a form client id",
			req:  tokenRequest{form: "grant_type=client_credentials", basic: "Bearer abc"},
			want: tokenResponse{Status: 401, WWWAuthenticate: `Basic realm="persium"`},
		},
		{
			name: "GET",
			req:  tokenRequest{method: http.MethodGet},
			want: tokenResponse{Status: 405, Body: oauthError("HTTP 405 Method Not Allowed", consult)},
		},
		{
			name: "JSON body",
			req:  tokenRequest{contentType: "application/json", form: `{"grant_type":"client_credentials"}`},
			want: tokenResponse{Status: 415, Body: oauthError("HTTP 415 Unsupported Media Type", consult)},
		},
		{
			name: "other realm",
			req:  tokenRequest{path: "/realms/other/protocol/openid-connect/token", form: "grant_type=client_credentials"},
			want: tokenResponse{Status: 404, Body: oauthError("Realm does not exist", consult)},
		},
		{
			name: "legacy auth prefix",
			req:  tokenRequest{path: "/auth/realms/persium/protocol/openid-connect/token", form: "grant_type=client_credentials"},
			want: tokenResponse{Status: 404, Body: oauthError("Unable to find matching target resource method", consult)},
		},
	}
	f := setup(t, persiumsim.Options{})
	f.sim.AddClient(clientID, secret.New("OLD-1"))
	f.sim.AddClient("client-b", secret.New("a+b"))
	f.sim.AddClient("client-c", secret.New("100%"))

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.send(t, tt.req)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeycloakTokenResponse(t *testing.T) {
	t.Parallel()
	f := setup(t, persiumsim.Options{})
	f.sim.AddClient(clientID, secret.New("a+b/c=d:e%f g\u00e9"))

	tests := []struct {
		name string
		req  tokenRequest
	}{
		{"post", tokenRequest{form: url.Values{
			"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"a+b/c=d:e%f g\u00e9"},
		}.Encode()}},
		{"basic, form-encoded", tokenRequest{
			form:  "grant_type=client_credentials",
			basic: basicHeader(url.QueryEscape(clientID), url.QueryEscape("a+b/c=d:e%f g\u00e9")),
		}},
		{"basic secret with form client id", tokenRequest{
			form:  "grant_type=client_credentials&client_id=client-a",
			basic: basicHeader("someone-else", url.QueryEscape("a+b/c=d:e%f g\u00e9")),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.send(t, tt.req)

			token, _ := got.Body["access_token"].(string)
			if token == "" {
				t.Fatalf("answer %+v has no access_token", got)
			}
			delete(got.Body, "access_token")
			want := tokenResponse{Status: 200, Body: map[string]any{
				"expires_in": 300.0, "refresh_expires_in": 0.0, "token_type": "Bearer", "not-before-policy": 0.0, "scope": "profile email",
			}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenResponseIsNotCached(t *testing.T) {
	t.Parallel()
	f := setup(t, persiumsim.Options{})
	f.sim.AddClient(clientID, secret.New("OLD-1"))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.server.URL+f.sim.TokenPath(),
		strings.NewReader("grant_type=client_credentials&client_id=client-a&client_secret=OLD-1"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	got := map[string]string{
		"Cache-Control": resp.Header.Get("Cache-Control"),
		"Pragma":        resp.Header.Get("Pragma"),
		"Content-Type":  resp.Header.Get("Content-Type"),
	}
	want := map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault  persiumsim.Fault
		status int
		detail string
	}{
		{persiumsim.FaultHTMLLogin, 200, `an HTML page titled "Sign in to persium"`},
		{persiumsim.FaultBadGateway, 502, `"502 Bad Gateway"`},
		{persiumsim.FaultNotFound, 404, "Unable to find matching target resource method"},
		{persiumsim.FaultNoAccessToken, 200, "keys expires_in, scope, token_type"},
		{persiumsim.FaultRedirectHTTP, 307, "redirected to http://127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			f := setup(t, persiumsim.Options{})
			f.sim.AddClient(clientID, secret.New("OLD-1"))
			f.sim.SetFault(tt.fault)

			for _, method := range methods {
				before := f.sim.Requests()
				res := f.checker.Check(t.Context(), clientID, method, secret.New("OLD-1"))

				if res.Outcome != tokencheck.Inconclusive {
					t.Errorf("%s: outcome = %s (%s); want %s", method, res.Outcome, res.Detail, tokencheck.Inconclusive)
				}
				if res.Status != tt.status {
					t.Errorf("%s: status = %d; want %d", method, res.Status, tt.status)
				}
				if !strings.Contains(res.Detail, tt.detail) {
					t.Errorf("%s: detail %q does not contain %q", method, res.Detail, tt.detail)
				}
				if got := f.sim.Requests() - before; got != 1 {
					t.Errorf("%s: the check sent %d requests; want 1", method, got)
				}
			}

			f.sim.SetFault(persiumsim.FaultNone)
			f.expect(t, "secret after the fault is cleared", secret.New("OLD-1"), tokencheck.Accepted)
		})
	}

	t.Run("delay past check time-out", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		f.sim.SetFault(persiumsim.FaultDelay)
		impatient, err := tokencheck.New(tokencheck.Config{
			TokenURL: f.server.URL + f.sim.TokenPath(),
			RootCAs:  f.server.CertPool,
			Timeout:  200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}

		for _, method := range methods {
			res := impatient.Check(t.Context(), clientID, method, secret.New("OLD-1"))

			if res.Outcome != tokencheck.Inconclusive {
				t.Errorf("%s: outcome = %s (%s); want %s", method, res.Outcome, res.Detail, tokencheck.Inconclusive)
			}
			if !strings.Contains(res.Detail, "timed out") {
				t.Errorf("%s: detail %q does not say that the check timed out", method, res.Detail)
			}
		}
	})

	t.Run("delay within check time-out", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{FaultDelay: 20 * time.Millisecond})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		f.sim.SetFault(persiumsim.FaultDelay)

		f.expect(t, "secret after a short delay", secret.New("OLD-1"), tokencheck.Accepted)
	})
}

func TestSetFaultRejectsUnknownFault(t *testing.T) {
	t.Parallel()
	sim := persiumsim.New(persiumsim.Options{})
	defer func() {
		if recover() == nil {
			t.Error("SetFault of an unknown fault did not panic")
		}
	}()

	sim.SetFault("teapot")
}

func TestFaultsAreValid(t *testing.T) {
	t.Parallel()
	for _, fault := range persiumsim.Faults() {
		if !fault.Valid() {
			t.Errorf("Faults() lists %q, which is not Valid", fault)
		}
	}
	if persiumsim.Fault("teapot").Valid() {
		t.Error(`Fault("teapot").Valid() = true; want false`)
	}
}

func TestNeverLogsSecret(t *testing.T) {
	t.Parallel()
	f := setup(t, persiumsim.Options{})
	secrets := []secret.Value{secret.New("OLD-1+/=: %\u00e9")}
	f.sim.AddClient(clientID, secrets[0])

	for range 2 {
		issued, err := f.sim.Issue(clientID)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		secrets = append(secrets, issued)
	}
	for _, sec := range secrets {
		// Some of these checks are accepted and some rejected; only the
		// log matters here.
		for _, method := range methods {
			f.checker.Check(t.Context(), clientID, method, sec)
		}
		f.send(t, tokenRequest{form: "grant_type=client_credentials", basic: basicHeader(clientID, sec.Reveal())})
		f.send(t, tokenRequest{form: "grant_type=client_credentials&client_id=client-z&client_secret=" + url.QueryEscape(sec.Reveal())})
	}
	if err := f.sim.RetireOld(clientID); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	f.sim.SetFault(persiumsim.FaultRedirectHTTP)
	f.expect(t, "secret", secrets[2], tokencheck.Inconclusive)

	logs := f.logs.String()
	if !strings.Contains(logs, "persiumsim token request") {
		t.Fatalf("log has no token requests, so the test proves nothing:\n%s", logs)
	}
	for i, sec := range secrets {
		raw := sec.Reveal()
		quoted, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		forms := []string{
			raw,
			url.QueryEscape(raw),
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(raw))),
			string(quoted[1 : len(quoted)-1]),
		}
		for _, form := range forms {
			if strings.Contains(logs, form) {
				t.Errorf("log contains secret %d in the form %q", i, form)
			}
		}
	}
}

func TestTLSServer(t *testing.T) {
	t.Parallel()

	t.Run("trusted only through its pool", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		systemOnly := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

		resp, err := systemOnly.Get(f.server.URL + f.sim.TokenPath())
		if err == nil {
			resp.Body.Close()
			t.Fatal("a client with the system pool connected; want a certificate error")
		}
		var unknownAuthority x509.UnknownAuthorityError
		if !errors.As(err, &unknownAuthority) {
			t.Errorf("error = %v; want x509.UnknownAuthorityError", err)
		}
	})

	t.Run("certificate valid for localhost", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		f.sim.AddClient(clientID, secret.New("OLD-1"))
		byName, err := tokencheck.New(tokencheck.Config{
			TokenURL: strings.Replace(f.server.URL, "127.0.0.1", "localhost", 1) + f.sim.TokenPath(),
			RootCAs:  f.server.CertPool,
		})
		if err != nil {
			t.Fatal(err)
		}

		res := byName.Check(t.Context(), clientID, tokencheck.Post, secret.New("OLD-1"))

		if res.Outcome != tokencheck.Accepted {
			t.Errorf("outcome = %s (%s); want %s", res.Outcome, res.Detail, tokencheck.Accepted)
		}
	})

	t.Run("rejects TLS below 1.2", func(t *testing.T) {
		t.Parallel()
		f := setup(t, persiumsim.Options{})
		old := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: f.server.CertPool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
			DisableKeepAlives: true,
		}}

		resp, err := old.Get(f.server.URL + f.sim.TokenPath())
		if err == nil {
			resp.Body.Close()
			t.Fatal("a TLS 1.1 client connected; want a handshake error")
		}
		if f.sim.Requests() != 0 {
			t.Errorf("requests = %d; want 0", f.sim.Requests())
		}
	})

	t.Run("close stops serving and is idempotent", func(t *testing.T) {
		t.Parallel()
		sim := persiumsim.New(persiumsim.Options{})
		server, err := persiumsim.NewTLS(sim, nil)
		if err != nil {
			t.Fatalf("NewTLS: %v", err)
		}
		checker, err := tokencheck.New(tokencheck.Config{TokenURL: server.URL + sim.TokenPath(), RootCAs: server.CertPool})
		if err != nil {
			t.Fatal(err)
		}

		if err := server.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := server.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}

		res := checker.Check(t.Context(), clientID, tokencheck.Post, secret.New("OLD-1"))
		if res.Outcome != tokencheck.Inconclusive || !strings.Contains(res.Detail, "connection refused") {
			t.Errorf("check after Close = %s (%s); want inconclusive, connection refused", res.Outcome, res.Detail)
		}
	})
}
