package rotation

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CredentialCursor is a position in the credential list, which is ordered
// by next due date, then id: the page after it starts with the first
// credential that sorts after this due date and id. The zero cursor is
// the start of the list.
type CredentialCursor struct {
	NextDueAt time.Time // UTC, at the stores' microsecond precision
	ID        string
}

// CursorAfter returns the cursor of the page that follows c.
func CursorAfter(c Credential) CredentialCursor {
	return CredentialCursor{NextDueAt: c.NextDueAt().Truncate(time.Microsecond), ID: c.ID}
}

// IsZero reports whether k is the start of the list.
func (k CredentialCursor) IsZero() bool { return k.ID == "" }

// Encode returns k as an opaque token for a URL query, or "" for the zero
// cursor. ParseCredentialCursor reads it back.
func (k CredentialCursor) Encode() string {
	if k.IsZero() {
		return ""
	}
	raw := strconv.FormatInt(k.NextDueAt.UnixMicro(), 10) + ":" + k.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// maxCursorBytes bounds a token: a 20-digit time, a colon and an id of at
// most 63 bytes, base64-encoded.
const maxCursorBytes = 120

// ParseCredentialCursor reads a token that Encode returned. The empty token
// is the zero cursor. Anything else that Encode cannot have produced is
// ErrInvalid.
func ParseCredentialCursor(token string) (CredentialCursor, error) {
	if token == "" {
		return CredentialCursor{}, nil
	}
	invalid := fmt.Errorf("cursor %q was not issued by rotor: %w", clipToken(token), ErrInvalid)
	if len(token) > maxCursorBytes {
		return CredentialCursor{}, invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return CredentialCursor{}, invalid
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return CredentialCursor{}, invalid
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return CredentialCursor{}, invalid
	}
	return CredentialCursor{NextDueAt: time.UnixMicro(n).UTC(), ID: id}, nil
}

func clipToken(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// CredentialSummary counts credentials by due date, over all of them.
type CredentialSummary struct {
	Total   int
	Overdue int // next due date before now
	DueSoon int // next due date from now to now plus the soon window

	// OpenRotations counts credentials with an open rotation: at most one
	// each, so it is also the number of open rotations.
	OpenRotations int
}
