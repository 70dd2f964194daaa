package sso_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/sso"
	"github.com/rotorhq/rotor/sso/ssotest"
)

// Test users: each one's groups grant the role in the name.
var (
	vera  = ssotest.User{Subject: "u-vera", Email: "vera@example.com", Name: "Vera Viewer", Username: "vera", Groups: []string{"platform-team"}}
	otto  = ssotest.User{Subject: "u-otto", Email: "otto@example.com", Name: "Otto Operator", Username: "otto", Groups: []string{"platform-oncall"}}
	ada   = ssotest.User{Subject: "u-ada", Email: "ada@example.com", Name: "Ada Admin", Username: "ada", Groups: []string{"platform-team", "platform-admins", "unrelated"}}
	nora  = ssotest.User{Subject: "u-nora", Email: "nora@example.com", Name: "Nora Nobody", Username: "nora", Groups: []string{"finance"}}
	users = []ssotest.User{vera, otto, ada, nora}
)

var roleGroups = map[api.Role][]string{
	api.RoleViewer:   {"platform-team"},
	api.RoleOperator: {"platform-oncall"},
	api.RoleAdmin:    {"platform-admins"},
}

// clock is the SignIn's time, moved by tests.
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

// harness is rotor's sign-in in front of a page that shows the principal,
// mounted as api.Server mounts it, and an identity provider.
type harness struct {
	t      *testing.T
	idp    *ssotest.Provider
	signIn *sso.SignIn
	pool   *pgxpool.Pool
	app    *httptest.Server
	clock  *clock
	logs   *testlog.Buffer
	cfg    sso.Config

	mu      sync.Mutex
	cookies []string // every session cookie value rotor set
	bodies  []string // every body rotor returned
}

type options struct {
	idp ssotest.Options
	cfg func(*sso.Config)
	tls bool

	// handler, when set, serves rotor instead of the harness's router.
	handler func(h *harness) http.Handler
}

func setup(t *testing.T, o options) *harness {
	t.Helper()
	logs := testlog.New(t)
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))

	app := httptest.NewUnstartedServer(nil)
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	appURL := scheme + "://" + app.Listener.Addr().String()

	if o.idp.Users == nil {
		o.idp.Users = users
	}
	o.idp.RedirectURIs = append(o.idp.RedirectURIs, appURL+sso.CallbackPath)
	o.idp.TLS = o.tls
	idp := ssotest.New(t, o.idp)

	c := &clock{now: time.Now()}
	cfg := sso.Config{
		Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: secret.New(idp.ClientSecret),
		RedirectURL: appURL + sso.CallbackPath,
		RoleGroups:  roleGroups,
		HTTPClient:  idp.Client(),
		Logger:      log,
		Now:         c.Now,
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	signIn, err := sso.New(ctx, cfg, pool)
	if err != nil {
		t.Fatalf("sso.New: %v", err)
	}

	h := &harness{t: t, idp: idp, signIn: signIn, pool: pool, app: app, clock: c, logs: logs, cfg: cfg}
	handler := h.router()
	if o.handler != nil {
		handler = o.handler(h)
	}
	app.Config.Handler = h.record(handler)
	if o.tls {
		app.StartTLS()
	} else {
		app.Start()
	}
	t.Cleanup(app.Close)
	t.Cleanup(h.assertNoSecrets)
	return h
}

// router mounts the sign-in as api.Server does: /auth without
// authentication, and every other page behind it, where a browser without
// a session is sent to sign in.
func (h *harness) router() http.Handler {
	r := chi.NewRouter()
	r.Route("/auth", h.signIn.Routes)
	r.Get("/*", func(w http.ResponseWriter, r *http.Request) {
		p, err := h.signIn.Authenticate(r)
		if errors.Is(err, api.ErrUnauthenticated) {
			http.Redirect(w, r, "/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err != nil {
			http.Error(w, "authenticate: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "path=%s name=%s role=%s session=%s\n", r.URL.RequestURI(), p.Name, p.Role, p.Session)
	})
	return r
}

// record keeps every session cookie and body rotor sends, for
// assertNoSecrets.
func (h *harness) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		h.mu.Lock()
		for _, c := range res.Cookies() {
			if c.Name == sso.SessionCookie && c.Value != "" {
				h.cookies = append(h.cookies, c.Value)
			}
		}
		h.bodies = append(h.bodies, rec.Body.String())
		h.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// assertNoSecrets searches the logs for every code, token and session
// cookie handed out during the test, and the client secret, and the pages
// for all but the cookies' own Set-Cookie headers.
func (h *harness) assertNoSecrets() {
	issued := h.idp.Issued()
	h.mu.Lock()
	defer h.mu.Unlock()
	values := map[string]string{"client secret": h.idp.ClientSecret, "client secret, form-encoded": url.QueryEscape(h.idp.ClientSecret)}
	for i, v := range issued.Codes {
		values[fmt.Sprintf("code %d", i)] = v
	}
	for i, v := range issued.AccessTokens {
		values[fmt.Sprintf("access token %d", i)] = v
	}
	for i, v := range issued.IDTokens {
		values[fmt.Sprintf("ID token %d", i)] = v
		values[fmt.Sprintf("ID token %d signature", i)] = v[strings.LastIndex(v, ".")+1:]
	}
	for i, v := range h.cookies {
		values[fmt.Sprintf("session cookie %d", i)] = v
	}
	logs := h.logs.String()
	bodies := strings.Join(h.bodies, "\n")
	for what, v := range values {
		if strings.Contains(logs, v) {
			h.t.Errorf("the logs contain the %s", what)
		}
		if strings.Contains(bodies, v) {
			h.t.Errorf("a page rotor served contains the %s", what)
		}
	}
}

// browser returns a client with a cookie jar that follows redirects, as a
// browser would.
func (h *harness) browser() *http.Client {
	h.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatalf("cookiejar.New: %v", err)
	}
	return &http.Client{Jar: jar, Transport: h.idp.Client().Transport, Timeout: 30 * time.Second}
}

// stepper returns a browser that does not follow redirects, so a test can
// step through the sign-in and change what it sends.
func (h *harness) stepper() *http.Client {
	c := h.browser()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// signInAs opens path as user in browser and returns the final response,
// after every redirect.
func (h *harness) signInAs(browser *http.Client, user ssotest.User, path string) (*http.Response, string) {
	h.t.Helper()
	h.idp.SelectUser(user.Subject)
	return h.get(browser, path)
}

func (h *harness) get(c *http.Client, path string) (*http.Response, string) {
	h.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = h.app.URL + path
	}
	res, err := c.Get(u)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return res, readBody(h.t, res)
}

func (h *harness) post(c *http.Client, path string) (*http.Response, string) {
	h.t.Helper()
	res, err := c.Post(h.app.URL+path, "application/x-www-form-urlencoded", nil)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	return res, readBody(h.t, res)
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body of %s: %v", res.Request.URL.Path, err)
	}
	return string(b)
}

// sessionCookie returns the session cookie browser holds for rotor.
func (h *harness) sessionCookie(browser *http.Client) string {
	h.t.Helper()
	u, _ := url.Parse(h.app.URL)
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == sso.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// withCookie returns a request for path that carries only the given
// session cookie.
func (h *harness) withCookie(path, value string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.app.URL+path, nil)
	if err != nil {
		h.t.Fatalf("NewRequest: %v", err)
	}
	req.AddCookie(&http.Cookie{Name: sso.SessionCookie, Value: value})
	return req
}

func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		h.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// dump returns every row of table as text.
func (h *harness) dump(table string) string {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), "SELECT t::text FROM "+table+" t")
	if err != nil {
		h.t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatalf("dump %s: %v", table, err)
		}
		b.WriteString(s + "\n")
	}
	if err := rows.Err(); err != nil {
		h.t.Fatalf("dump %s: %v", table, err)
	}
	return b.String()
}

// encodings returns the forms a cookie value could be stored in.
func encodings(cookie string) map[string]string {
	raw, _ := base64.RawURLEncoding.DecodeString(cookie)
	return map[string]string{
		"as sent":      cookie,
		"hex of bytes": hex.EncodeToString(raw),
		"std base64":   base64.StdEncoding.EncodeToString(raw),
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startLogin opens /auth/login with next in a stepper and returns the
// provider URL it redirects to.
func (h *harness) startLogin(c *http.Client, next string) *url.URL {
	h.t.Helper()
	path := "/auth/login"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	res, body := h.get(c, path)
	if res.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("GET %s = %d %s, want 303 to the provider", path, res.StatusCode, body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		h.t.Fatalf("login redirect %q: %v", res.Header.Get("Location"), err)
	}
	return u
}

// authorize approves authURL at the provider as user and returns rotor's
// callback URL with the code.
func (h *harness) authorize(c *http.Client, authURL *url.URL, user ssotest.User) *url.URL {
	h.t.Helper()
	h.idp.SelectUser(user.Subject)
	res, body := h.get(c, authURL.String())
	if res.StatusCode != http.StatusFound {
		h.t.Fatalf("GET provider /authorize = %d %s, want 302 to rotor", res.StatusCode, body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		h.t.Fatalf("provider redirect %q: %v", res.Header.Get("Location"), err)
	}
	return u
}
