package tokencheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/rotorhq/rotor/secret"
)

// check describes the request whose response is being classified.
type check struct {
	clientID string
	method   AuthMethod
	secret   secret.Value
	scrub    scrubber
}

// oauthResponse holds the fields of a token response or an OAuth error
// response (RFC 6749 sections 5.1 and 5.2). AccessToken stays raw JSON so
// the token is never copied into a Go string.
type oauthResponse struct {
	AccessToken      json.RawMessage `json:"access_token"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// hasAccessToken reports whether access_token is a non-empty JSON string.
func (o oauthResponse) hasAccessToken() bool {
	return len(o.AccessToken) > 2 && o.AccessToken[0] == '"'
}

// classify turns a response into a Result.
func (c *Checker) classify(resp *http.Response, body []byte, truncated bool, chk check) Result {
	res := Result{
		Status:      resp.StatusCode,
		ContentType: sanitizeLine(resp.Header.Get("Content-Type"), chk.scrub, 100),
	}
	kind := bodyKindOf(resp.Header.Get("Content-Type"), body)

	var parsed oauthResponse
	validJSON := kind == kindJSON && json.Unmarshal(body, &parsed) == nil

	code := resp.StatusCode
	switch {
	case code >= 300 && code < 400:
		res.Outcome = Inconclusive
		res.Detail = c.describe("inconclusive", res, "", redirectHint(c.tokenURL, resp.Header.Get("Location"), chk.scrub))
		return res

	case code == http.StatusOK && validJSON && parsed.hasAccessToken():
		res.Outcome = Accepted
		res.Detail = fmt.Sprintf("accepted: POST %s returned HTTP 200 (%s) with an access token, which rotor discarded", c.displayURL, orNone(res.ContentType))
		return res

	case (code == http.StatusBadRequest || code == http.StatusUnauthorized) && validJSON &&
		(parsed.Error == "invalid_client" || parsed.Error == "unauthorized_client"):
		res.Outcome = Rejected
		hint := "The token endpoint rejected the client credentials."
		if chk.method == Basic && encodesDifferently(chk.clientID, chk.secret) {
			hint += " The client id or secret contains characters that client_secret_basic form-encodes before Base64, as RFC 6749 section 2.3.1 requires, and a server that does not decode them rejects a correct secret. Check again with auth method \"post\" (client_secret_post) before you conclude that the secret is wrong."
		}
		res.Detail = c.describe("rejected", res, excerpt(kind, code, body, truncated, chk.scrub), hint)
		return res
	}

	res.Outcome = Inconclusive
	res.Detail = c.describe("inconclusive", res, excerpt(kind, code, body, truncated, chk.scrub), inconclusiveHint(code, kind, validJSON, parsed, c.tokenURL))
	return res
}

// inconclusiveHint explains what a response that is neither a token nor a
// client rejection probably means.
func inconclusiveHint(code int, kind bodyKind, validJSON bool, parsed oauthResponse, tokenURL *url.URL) string {
	switch {
	case code == http.StatusNotFound:
		hint := "Nothing answers at this path: check the token URL path, which for Keycloak is /realms/REALM/protocol/openid-connect/token."
		if strings.Contains(tokenURL.Path, "/auth/realms/") {
			hint += " The URL has the legacy /auth prefix, which Keycloak 17 and later no longer serve by default; try the path without /auth."
		}
		return hint
	case code >= 500:
		return "The token endpoint or a proxy in front of it failed; try again later, and ask the vendor if it persists."
	case kind == kindHTML:
		return "An HTML page is not an OAuth response: it is usually a login page, a proxy's error page, or the sign of a wrong token URL."
	case code == http.StatusOK && validJSON:
		return "A 200 response without an access_token is not a token response; check that the token URL points at the token endpoint."
	case validJSON && parsed.Error != "":
		return "The endpoint returned an OAuth error that is unrelated to the secret; check the grant type and the client's configuration at the vendor."
	case code == http.StatusOK:
		return "A 200 response that is not JSON is not a token response; check that the token URL points at the token endpoint."
	case code == http.StatusUnauthorized || code == http.StatusBadRequest:
		return "A 400 or 401 without a JSON invalid_client or unauthorized_client error does not say whether the secret is wrong; check the token URL and any proxy in front of it."
	default:
		return "This response does not show whether the secret works; check the token URL and try again."
	}
}

// redirectHint describes where a redirect pointed, without user
// information, query or fragment.
func redirectHint(base *url.URL, location string, scrub scrubber) string {
	const never = "rotor never follows redirects, so the check sent no second request."
	if location == "" {
		return "The endpoint redirected without a Location header. " + never
	}
	target, err := base.Parse(location)
	if err != nil {
		return "The endpoint redirected to a Location that is not a valid URL. " + never
	}

	redacted := sanitizeLine(displayURL(target), scrub, 200)
	if target.Scheme != "https" {
		return fmt.Sprintf("The endpoint redirected to %s, which is not HTTPS and would carry the credentials unencrypted. %s Set the token URL to the endpoint itself.", redacted, never)
	}
	return fmt.Sprintf("The endpoint redirected to %s. %s If that address is the real token endpoint, set the token URL to it.", redacted, never)
}

// describe builds a Detail for a response that arrived.
func (c *Checker) describe(verdict string, res Result, bodyExcerpt, hint string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: POST %s returned HTTP %d (%s)", verdict, c.displayURL, res.Status, orNone(res.ContentType))
	if bodyExcerpt != "" {
		fmt.Fprintf(&b, "; body: %s", bodyExcerpt)
	}
	b.WriteString(". ")
	b.WriteString(hint)
	return b.String()
}

// orNone names a missing content type.
func orNone(contentType string) string {
	if contentType == "" {
		return "no content type"
	}
	return contentType
}

// encodesDifferently reports whether form encoding changes the client id
// or the secret, which is when client_secret_basic differs from sending
// them as they are.
func encodesDifferently(clientID string, s secret.Value) bool {
	return url.QueryEscape(clientID) != clientID || url.QueryEscape(s.Reveal()) != s.Reveal()
}

// transportFailure describes a request that got no response.
func (c *Checker) transportFailure(ctx context.Context, err error, scrub scrubber) Result {
	cause, hint := transportCause(ctx, err, c)
	return Result{
		Outcome: Inconclusive,
		Detail: fmt.Sprintf("inconclusive: POST %s got no response: %s (%s). %s",
			c.displayURL, cause, sanitizeLine(err.Error(), scrub, 200), hint),
	}
}

// bodyFailure describes a response whose body could not be read.
func (c *Checker) bodyFailure(ctx context.Context, resp *http.Response, err error, scrub scrubber) Result {
	cause, hint := transportCause(ctx, err, c)
	contentType := sanitizeLine(resp.Header.Get("Content-Type"), scrub, 100)
	return Result{
		Outcome:     Inconclusive,
		Status:      resp.StatusCode,
		ContentType: contentType,
		Detail: fmt.Sprintf("inconclusive: POST %s returned HTTP %d (%s) but reading the body failed: %s (%s). %s",
			c.displayURL, resp.StatusCode, orNone(contentType), cause, sanitizeLine(err.Error(), scrub, 200), hint),
	}
}

// transportCause names the kind of a transport error and a hint for it.
func transportCause(ctx context.Context, err error, c *Checker) (cause, hint string) {
	var (
		dnsErr        *net.DNSError
		unknownAuth   x509.UnknownAuthorityError
		hostnameErr   x509.HostnameError
		invalidCert   x509.CertificateInvalidError
		verifyErr     *tls.CertificateVerificationError
		recordErr     tls.RecordHeaderError
		alertErr      tls.AlertError
		netTimeoutErr net.Error
		opErr         *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &netTimeoutErr) && netTimeoutErr.Timeout()):
		return fmt.Sprintf("timed out after %s", c.timeout), "The token endpoint did not respond in time; try again later, or raise the check time-out if the endpoint is known to be slow."
	case errors.Is(err, context.Canceled):
		return "cancelled", "The check was cancelled before the endpoint responded; run it again."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", "Nothing accepts connections at that host and port; check the token URL's host and port, and the network path."
	case errors.As(err, &dnsErr):
		return "host not found", "The token URL's host name does not resolve; check the host name and DNS."
	case errors.As(err, &unknownAuth), errors.As(err, &hostnameErr), errors.As(err, &invalidCert), errors.As(err, &verifyErr):
		return "TLS certificate not trusted", "The endpoint's certificate does not verify; check the host name, the certificate and the CA bundle (CA file) that rotor trusts."
	case errors.As(err, &recordErr):
		return "TLS handshake failed", "The endpoint does not speak TLS on this port; check that the token URL's port serves HTTPS."
	case errors.As(err, &alertErr), errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error"):
		// crypto/tls reports a TLS alert over TCP as a net.OpError with
		// one of these two operations.
		return "TLS handshake failed", "The TLS handshake failed; rotor requires TLS 1.2 or later and a certificate the endpoint accepts."
	default:
		return "request failed", "The request did not complete; check the token URL and the network path, then try again."
	}
}

// bodyKind is the format of a response body, for excerpts and hints.
type bodyKind int

const (
	kindText bodyKind = iota
	kindJSON
	kindHTML
)

// bodyKindOf decides from the Content-Type header and, when that does not
// settle it, from the start of the body.
func bodyKindOf(contentType string, body []byte) bodyKind {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch {
		case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
			return kindJSON
		case mediaType == "text/html" || mediaType == "application/xhtml+xml":
			return kindHTML
		}
	}
	start := strings.ToLower(strings.TrimSpace(string(body[:min(len(body), 512)])))
	if strings.HasPrefix(start, "<!doctype html") || strings.HasPrefix(start, "<html") {
		return kindHTML
	}
	return kindText
}
