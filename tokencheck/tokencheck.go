// Package tokencheck checks a client secret at an OAuth 2.0 token endpoint
// with one client_credentials request and reports whether the endpoint
// accepted it, rejected it, or returned no response that settles it.
//
// A check sends exactly one request over HTTPS (TLS 1.2 or later), never
// follows a redirect, reads at most 64 KiB of the response and discards any
// access token it obtains. A Result never contains the secret, in any
// encoding, nor a token.
package tokencheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rotorhq/rotor/secret"
)

// DefaultTimeout bounds a check when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxBodyBytes bounds how much of a response body a check reads. A token
// response or an OAuth error is a few hundred bytes, so anything longer is
// read only far enough to show an excerpt.
const maxBodyBytes = 64 << 10

// AuthMethod is the client authentication method at the token endpoint.
type AuthMethod string

const (
	// Basic sends the client id and secret in an HTTP Basic Authorization
	// header (client_secret_basic). Each is form-encoded
	// (application/x-www-form-urlencoded) before Base64, as RFC 6749
	// section 2.3.1 requires, so a server that does not decode them rejects
	// a secret that contains characters such as + / = : % or a space.
	Basic AuthMethod = "basic"
	// Post sends client_id and client_secret as parameters in the form body
	// (client_secret_post).
	Post AuthMethod = "post"
)

// Outcome is the verdict of one check.
type Outcome string

const (
	// Accepted means the endpoint responded 200 with a JSON access_token.
	Accepted Outcome = "accepted"
	// Rejected means the endpoint responded 400 or 401 with the JSON OAuth
	// error invalid_client or unauthorized_client.
	Rejected Outcome = "rejected"
	// Inconclusive is every other response, and no response at all: a 5xx, a
	// time-out, a refused connection, a TLS failure, an HTML page, a
	// redirect, a 404, or a 200 without an access token. Callers must not
	// read it as Accepted or as Rejected.
	Inconclusive Outcome = "inconclusive"
)

// Result is the outcome of one check and the facts behind it.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status code, or 0 when no response arrived.
	Status int
	// ContentType is the response's Content-Type header, stripped of
	// control characters and cut to 100 characters.
	ContentType string
	// Detail is a message for operators: the token URL without user
	// information or query, the status, the content type, a short
	// sanitised excerpt of the body and a hint on what to do. It never
	// contains the secret in any encoding, nor a token.
	Detail string
}

// Config configures a Checker.
type Config struct {
	// TokenURL is the token endpoint. It must be an absolute https URL
	// with a host and without user information or a fragment.
	TokenURL string
	// RootCAs are the certificate authorities that the endpoint's
	// certificate must chain to. Nil means the system pool.
	RootCAs *x509.CertPool
	// CAFile is an optional PEM bundle whose certificates are trusted in
	// addition to RootCAs (or to the system pool when RootCAs is nil).
	CAFile string
	// Timeout bounds one check from dialling to the end of the body.
	// Zero means DefaultTimeout.
	Timeout time.Duration
}

// Checker checks secrets at one token endpoint. It is safe for concurrent
// use.
type Checker struct {
	tokenURL   *url.URL
	displayURL string
	transport  *http.Transport
	timeout    time.Duration
}

// New returns a Checker for cfg.TokenURL. It returns an error when the URL
// is not an absolute https URL with a host, or when it contains user
// information, a fragment or surrounding white space. That error never
// repeats the URL, which may contain a password. New also returns an error
// when cfg.CAFile cannot be read or contains no certificate, or when
// cfg.Timeout is negative.
//
// The Checker ignores HTTP_PROXY and HTTPS_PROXY: a check carries the
// secret, so it goes straight to the token endpoint's host, which is the
// only host the outbound firewall needs to allow.
func New(cfg Config) (*Checker, error) {
	u, err := parseTokenURL(cfg.TokenURL)
	if err != nil {
		return nil, err
	}

	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("token check timeout %s is negative; use a positive duration or 0 for the default %s", cfg.Timeout, DefaultTimeout)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	pool, err := rootPool(cfg.RootCAs, cfg.CAFile)
	if err != nil {
		return nil, err
	}

	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxBodyBytes,
		// Checks are infrequent, so a connection per check costs
		// little, verifies the certificate every time and leaves no idle
		// connection behind.
		DisableKeepAlives: true,
	}

	return &Checker{
		tokenURL:   u,
		displayURL: displayURL(u),
		transport:  transport,
		timeout:    timeout,
	}, nil
}

// parseTokenURL validates a configured token URL. Its errors describe the
// problem without quoting the input, which may contain a password.
func parseTokenURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("token URL is empty; set it to the https URL of the token endpoint")
	}
	if strings.TrimSpace(raw) != raw {
		return nil, errors.New("token URL has white space before or after it; remove it")
	}

	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("token URL is not a valid URL; check it for spaces, control characters and a non-numeric port")
	}

	switch {
	case u.User != nil:
		return nil, errors.New("token URL must not contain user information (user:password@); keep the client credentials in the secrets manager")
	case u.Scheme == "":
		return nil, errors.New("token URL has no scheme; it must start with https://")
	case u.Scheme != "https":
		return nil, fmt.Errorf("token URL must use https, not %s; the secret must never travel unencrypted", u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return nil, errors.New("token URL has no host; it must look like https://host/realms/REALM/protocol/openid-connect/token")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("token URL must not contain a fragment (#...)")
	}
	return u, nil
}

// displayURL returns u without user information, query or fragment, fit
// for messages.
func displayURL(u *url.URL) string {
	redacted := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return redacted.String()
}

// rootPool returns the pool that verifies the endpoint's certificate. Nil
// means the system pool, which crypto/tls loads itself.
func rootPool(roots *x509.CertPool, caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return roots, nil
	}

	var pool *x509.CertPool
	if roots != nil {
		// Clone, so the caller's pool does not change.
		pool = roots.Clone()
	} else {
		system, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("load system certificate pool to add CA file %s: %w", caFile, err)
		}
		pool = system
	}

	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file for the token endpoint: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s contains no PEM certificate", caFile)
	}
	return pool, nil
}

// Check sends one client_credentials request that authenticates clientID
// with s by method, and classifies the response. It never returns an
// error. Every failure, including a cancelled ctx, is an Inconclusive
// Result whose Detail describes what happened. An unknown method, an empty client id or an
// empty secret give an Inconclusive Result without any request.
func (c *Checker) Check(ctx context.Context, clientID string, method AuthMethod, s secret.Value) Result {
	if method != Basic && method != Post {
		return Result{
			Outcome: Inconclusive,
			Detail:  fmt.Sprintf("inconclusive: no request sent, because auth method %q is unknown; use %q or %q", method, Basic, Post),
		}
	}
	if clientID == "" {
		return Result{Outcome: Inconclusive, Detail: "inconclusive: no request sent, because the client id is empty"}
	}
	if s.IsZero() {
		return Result{Outcome: Inconclusive, Detail: "inconclusive: no request sent, because the secret is empty"}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	scrub := newScrubber(clientID, s)
	req, err := c.newRequest(ctx, clientID, method, s)
	if err != nil {
		return Result{
			Outcome: Inconclusive,
			Detail:  fmt.Sprintf("inconclusive: build request to %s: %s", c.displayURL, sanitizeLine(err.Error(), scrub, 200)),
		}
	}

	// RoundTrip, not http.Client.Do: a transport never follows a redirect,
	// so a 3xx comes back as it is and no second request is ever sent.
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return c.transportFailure(ctx, err, scrub)
	}
	defer resp.Body.Close()
	return c.readResponse(ctx, resp, check{clientID: clientID, method: method, secret: s, scrub: scrub})
}

// readResponse reads at most maxBodyBytes of the response's body and
// classifies the response. It does not close the body.
func (c *Checker) readResponse(ctx context.Context, resp *http.Response, chk check) Result {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	// The body may hold an access token: clear it once it is classified.
	defer clear(body)
	if err != nil {
		return c.bodyFailure(ctx, resp, err, chk.scrub)
	}
	truncated := len(body) > maxBodyBytes
	if truncated {
		body = body[:maxBodyBytes]
	}

	return c.classify(resp, body, truncated, chk)
}

// newRequest builds the client_credentials request for method.
func (c *Checker) newRequest(ctx context.Context, clientID string, method AuthMethod, s secret.Value) (*http.Request, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if method == Post {
		form.Set("client_id", clientID)
		form.Set("client_secret", s.Reveal())
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "rotor-tokencheck")
	if method == Basic {
		req.Header.Set("Authorization", "Basic "+basicCredentials(clientID, s.Reveal()))
	}
	return req, nil
}

// basicCredentials returns the Base64 part of a client_secret_basic header.
// RFC 6749 section 2.3.1 form-encodes id and secret before joining them,
// which net/http's SetBasicAuth does not do.
func basicCredentials(clientID, secretText string) string {
	userPass := url.QueryEscape(clientID) + ":" + url.QueryEscape(secretText)
	return base64.StdEncoding.EncodeToString([]byte(userPass))
}
