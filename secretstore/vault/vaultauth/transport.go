package vaultauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// tokenHeader is the header that carries the Vault token.
const tokenHeader = "X-Vault-Token"

// maxDrain bounds how much of a 403 response body is read so that its
// connection can be reused.
const maxDrain = 64 << 10

// retryTransport sends a request again, once, after a login when Vault
// responds to it with 403. It sits below the Vault client's own retries
// (after a connection error, 412, 429 or 5xx), so each attempt of the
// client gets at most one login and one repeat, and the repeat carries the
// token of that login.
type retryTransport struct {
	next   http.RoundTripper
	client *Client
}

type noRetryKey struct{}

// withoutRetry marks ctx so that retryTransport passes its requests
// through. Renewals use it: a renewal that Vault rejects calls for a login
// by the background loop, not for a renewal of the new token.
func withoutRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := req.Header.Get(tokenHeader)
	if sent == "" || t.client.method == nil || req.Context().Value(noRetryKey{}) != nil || !t.client.issuedToken(sent) {
		// A login, a renewal, a client that cannot log in, or a request
		// with a token that a caller set on a copy of the Vault client.
		return t.next.RoundTrip(req)
	}

	first, getBody, err := replayable(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		return resp, err
	}

	token, err := t.client.loginAfterRejection(req.Context(), sent)
	if err != nil {
		// The caller gets Vault's 403, which is what it would have got
		// without this transport.
		t.client.log.Error("log in to Vault again after a 403", "error", err, "method", req.Method, "path", req.URL.Path)
		return resp, nil
	}

	again := req.Clone(req.Context())
	again.Header.Set(tokenHeader, token)
	if getBody != nil {
		body, err := getBody()
		if err != nil {
			t.client.log.Error("send a request to Vault again after a login", "error", err, "method", req.Method, "path", req.URL.Path)
			return resp, nil
		}
		again.Body = body
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	return t.next.RoundTrip(again)
}

// replayable returns req, or a copy of it with its body in memory, and a
// function that returns the body again, nil when req has none. The Vault
// client's requests carry GetBody already; others are read into memory,
// which suits Vault's small JSON bodies.
func replayable(req *http.Request) (*http.Request, func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil, nil
	}
	if req.GetBody != nil {
		return req, req.GetBody, nil
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("read the body of the request to Vault: %w", err)
	}
	getBody := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	first := req.Clone(req.Context())
	first.Body, _ = getBody()
	first.GetBody = getBody
	return first, getBody, nil
}

// loginAfterRejection returns the token to repeat a request with after
// Vault rejected it with 403 while it carried the token rejected. That is
// the current token when a login has replaced rejected since, or else the
// token of a new login. Concurrent callers with the same rejected token
// share one login.
func (c *Client) loginAfterRejection(ctx context.Context, rejected string) (string, error) {
	if err := c.acquire(ctx); err != nil {
		return "", err
	}
	defer c.release()

	if current := c.currentLease().token; current != rejected {
		return current, nil
	}
	c.log.Info("Vault rejected the token with 403; logging in again")
	if err := c.login(ctx); err != nil {
		return "", err
	}
	// Wake the background loop, which waits for the old token's renewal
	// time.
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return c.currentLease().token, nil
}

// acquire takes c.sem, or gives up when ctx ends.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) release() { <-c.sem }
