package rotation

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rotorhq/rotor/secretstore"
)

func wrongState(r Rotation, want ...State) error {
	names := make([]string, len(want))
	for i, s := range want {
		names[i] = string(s)
	}
	return newError(ErrConflict, "wrong_state", "Rotation %s is %s; this action needs it to be %s. Reload the rotation to see its next step.", r.ID, r.State, strings.Join(names, " or "))
}

// storeError wraps a store failure. A database that cannot be reached is
// ErrUnavailable; anything else is internal and its text is only logged.
func storeError(err error, doing string) error {
	if errors.Is(err, ErrUnavailable) {
		return wrapError(err, ErrUnavailable, "database_unavailable", "rotor's database is unavailable, so nothing was changed. Try again in a moment.")
	}
	if errors.Is(err, ErrConflict) {
		return wrapError(err, ErrConflict, "concurrent_change", "The rotation changed while you were looking at it. Reload it and try again.")
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// backendKinds maps the secrets manager's portable errors to rotor's kinds,
// codes and the advice an operator needs.
var backendKinds = []struct {
	kind   error
	to     error
	code   string
	advice string
}{
	{secretstore.ErrConflict, ErrConflict, "backend_conflict", "Resolve it in the secrets manager, then try again."},
	{secretstore.ErrNotFound, ErrConflict, "backend_version_missing", "The version rotor recorded is gone; check the secret's history in the secrets manager."},
	{secretstore.ErrAccess, ErrUnavailable, "backend_access_denied", "Check rotor's credentials and policy for the secrets manager, then try again."},
	{secretstore.ErrUnavailable, ErrUnavailable, "backend_unavailable", "Try again when the secrets manager is reachable."},
	{secretstore.ErrInvalid, ErrUnavailable, "backend_invalid", "Fix the secret's configuration, then try again."},
}

// backendError wraps a secrets-manager failure for the operator. The
// message comes from secretstore.Error, which never contains a value.
func backendError(err error, doing string) error {
	for _, k := range backendKinds {
		if errors.Is(err, k.kind) {
			return wrapError(err, k.to, k.code, "The secrets manager could not %s: %s. %s", doing, safeBackendMessage(err), k.advice)
		}
	}
	return fmt.Errorf("%s in the secrets manager: %w", doing, err)
}

// safeBackendMessage returns the operator-safe part of a backend error.
func safeBackendMessage(err error) string {
	var se *secretstore.Error
	if errors.As(err, &se) {
		return se.Msg
	}
	for _, k := range backendKinds {
		if errors.Is(err, k.kind) {
			return k.kind.Error()
		}
	}
	return "an unexpected error (see rotor's log)"
}

// withPrefix puts a sentence in front of an *Error's message.
func withPrefix(err error, prefix string) error {
	if e, ok := AsError(err); ok {
		c := *e
		c.Message = prefix + c.Message
		return &c
	}
	return err
}

// validText checks free text from an operator: valid UTF-8, within max
// bytes, and without control characters (line breaks and tabs allowed when
// multiline).
func validText(field, s string, max int, multiline bool) error {
	switch {
	case len(s) > max:
		return newError(ErrInvalid, "invalid_"+field, "The %s is %d bytes long; the limit is %d.", field, len(s), max)
	case !utf8.ValidString(s):
		return newError(ErrInvalid, "invalid_"+field, "The %s is not valid UTF-8 text.", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return newError(ErrInvalid, "invalid_"+field, "The %s contains a control character (U+%04X); remove it.", field, r)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// uuidShape and credentialShape match the ids rotor gives rotations and
// incidents, and the ids the configuration allows for credentials.
var (
	uuidShape       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	credentialShape = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// QuoteID returns id quoted for an error message when it has the shape of
// a rotor id of that kind ("rotation", "incident" or "credential"), and a
// description of its length otherwise. Text pasted into the wrong place,
// such as a secret in a URL, is then never repeated back.
func QuoteID(kind, id string) string {
	shape := uuidShape
	if kind == "credential" {
		shape = credentialShape
	}
	if shape.MatchString(id) {
		return strconv.Quote(id)
	}
	article := "a"
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		article = "an"
	}
	return fmt.Sprintf("with the %d-byte id given, which is not %s %s id", len(id), article, kind)
}
