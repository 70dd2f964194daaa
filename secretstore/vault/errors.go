package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/secretstore"
)

// casMismatch is the error text of Vault's KV v2 engine, with status 400,
// when options.cas is not the current version.
const casMismatch = "check-and-set parameter did not match the current version"

// statusKinds maps Vault's HTTP status codes onto rotor's error kinds, with
// what to tell an operator. Every 5xx is ErrUnavailable; a status missing
// here is ErrUnavailable too, because the outcome of the request is
// unknown.
var statusKinds = map[int]struct {
	kind error
	text string
}{
	http.StatusBadRequest:          {secretstore.ErrInvalid, "Vault rejected the request as invalid (400)"},
	http.StatusForbidden:           {secretstore.ErrAccess, "Vault denied access (403); check that the token is valid and its policy grants this path"},
	http.StatusNotFound:            {secretstore.ErrNotFound, "Vault has no such secret or version (404)"},
	http.StatusMethodNotAllowed:    {secretstore.ErrInvalid, "Vault does not support this operation on the path (405); check that the mount is KV version 2"},
	http.StatusPreconditionFailed:  {secretstore.ErrUnavailable, "Vault has not caught up with an earlier write yet (412); try again"},
	http.StatusTooManyRequests:     {secretstore.ErrUnavailable, "Vault rate-limited the request (429); try again later"},
	http.StatusInternalServerError: {secretstore.ErrUnavailable, "Vault failed on its side (500); the outcome is unknown"},
	http.StatusBadGateway:          {secretstore.ErrUnavailable, "a proxy in front of Vault failed (502); the outcome is unknown"},
	http.StatusServiceUnavailable:  {secretstore.ErrUnavailable, "Vault is sealed, in standby or overloaded (503)"},
	http.StatusGatewayTimeout:      {secretstore.ErrUnavailable, "a proxy in front of Vault timed out (504); the outcome is unknown"},
}

// vaultError converts an error from the Vault client into a secretstore
// error for op. where names the request (mount, path and version). The
// message never contains Vault's response body, because Vault and proxies
// in front of it can echo the request, secret included. Only the known
// check-and-set text is recognised, and it is not copied either.
func vaultError(op, where string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode == http.StatusBadRequest && slices.ContainsFunc(re.Errors, isCASMismatch) {
			return secretstore.Errorf(secretstore.ErrConflict, op, "%s: the secret changed since it was read (check-and-set mismatch)", where)
		}
		entry, ok := statusKinds[re.StatusCode]
		if !ok {
			entry.kind = secretstore.ErrUnavailable
			entry.text = fmt.Sprintf("Vault responded with status %d; the outcome is unknown", re.StatusCode)
		}
		return secretstore.Errorf(entry.kind, op, "%s: %s", where, entry.text)
	}

	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the request to Vault timed out; the outcome is unknown", where)
	case errors.Is(err, context.Canceled):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the request to Vault was cancelled; the outcome is unknown", where)
	case errors.As(err, &netErr):
		return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: Vault could not be reached (%T)", where, netErr)
	}
	return secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the request to Vault failed (%T)", where, err)
}

func isCASMismatch(message string) bool { return strings.Contains(message, casMismatch) }

// needsReread reports whether a failed check-and-set write calls for a
// re-read before deciding again. On ErrUnavailable the write may have taken
// effect. On ErrConflict someone wrote in between, possibly the Vault client
// itself when it retried a write whose first response was lost.
func needsReread(err error) bool {
	return errors.Is(err, secretstore.ErrUnavailable) || errors.Is(err, secretstore.ErrConflict)
}
