// Package apitoken issues, checks and revokes rotor's API tokens for
// automation, and keeps them in Postgres.
//
// A token is "rotor_" followed by the unpadded base64url encoding of 32
// random bytes, 49 characters in all. The prefix lets secret scanners
// recognise a leaked token. rotor stores only the token's SHA-256 hash,
// hands the token itself to the admin once as a secret.Value, and never
// logs it.
package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
)

// Prefix starts every token, so that secret scanners can find leaked ones.
const Prefix = "rotor_"

const (
	randomBytes   = 32
	encodedLength = 43 // unpadded base64 of randomBytes
	tokenLength   = len(Prefix) + encodedLength
)

// MaxLifetime is the longest time from a token's creation to its expiry.
// The migration's expires_within_a_year constraint enforces the same
// limit, as 8760 hours.
const MaxLifetime = 365 * 24 * time.Hour

// MaxNameLength is the longest token name, in characters.
const MaxNameLength = 64

// lastUsedResolution is the least time between two writes of a token's
// last_used_at, so a token used many times a minute costs one write a
// minute, not one per request.
const lastUsedResolution = time.Minute

// manageHint ends every authentication error with the client's next step.
const manageHint = "An administrator can create a new token on rotor's API tokens page, /admin/tokens."

// generate returns a new random token and its hash.
func generate() (secret.Value, [sha256.Size]byte) {
	b := make([]byte, randomBytes)
	// Since Go 1.24, crypto/rand.Read never returns an error: it crashes
	// the program when the system's random source fails.
	_, _ = rand.Read(b)
	token := Prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret.New(token), sha256.Sum256([]byte(token))
}

// hashToken checks that token has the shape of a rotor token and returns
// its SHA-256 hash. A fast hash suffices because a token carries 256
// random bits: no dictionary or brute-force search can reach it, so a slow
// password hash would only cost time on every request.
func hashToken(token string) ([sha256.Size]byte, bool) {
	encoded, ok := strings.CutPrefix(token, Prefix)
	if !ok || len(token) != tokenLength {
		return [sha256.Size]byte{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(encoded)
	if err != nil || len(raw) != randomBytes {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256([]byte(token)), true
}

// checkName enforces the rule of the migration's name constraint, with a
// message that names what is allowed: 1 to MaxNameLength ASCII letters,
// digits, hyphens, underscores, full stops and spaces, with no space at
// either end. ASCII keeps names that look alike from being different
// names in the audit log.
func checkName(name string) error {
	const rule = "Use 1 to 64 characters: letters A-Z and a-z, digits, hyphens, underscores, full stops and spaces, with no space at the start or end."
	switch {
	case name == "":
		return invalid("invalid_token_name", "The token name is missing. "+rule)
	case len(name) > MaxNameLength:
		return invalid("invalid_token_name", fmt.Sprintf("The token name is %d bytes long; the limit is %d. %s", len(name), MaxNameLength, rule))
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return invalid("invalid_token_name", fmt.Sprintf("The token name %q starts or ends with a space. %s", name, rule))
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_. ", c)
		if !ok {
			return invalid("invalid_token_name", fmt.Sprintf("The token name %q contains %q, which is not allowed. %s", name, c, rule))
		}
	}
	return nil
}

// checkExpiry requires an expiry after now and at most MaxLifetime later.
func checkExpiry(expiresAt, now time.Time) error {
	switch {
	case expiresAt.IsZero():
		return invalid("invalid_token_expiry", "The token has no expiry. Every token must expire within 365 days.")
	case !expiresAt.After(now):
		return invalid("invalid_token_expiry", fmt.Sprintf("The expiry %s is not in the future. Choose an expiry from 1 to 365 days from now.", expiresAt.UTC().Format(time.RFC3339)))
	case expiresAt.After(now.Add(MaxLifetime)):
		return invalid("invalid_token_expiry", fmt.Sprintf("The expiry %s is more than 365 days from now. Choose an expiry from 1 to 365 days from now.", expiresAt.UTC().Format(time.RFC3339)))
	}
	return nil
}

func checkRole(role api.Role) error {
	if _, ok := api.ParseRole(role.String()); !ok {
		return invalid("invalid_role", fmt.Sprintf("The role %q is not one of viewer, operator or admin.", role))
	}
	return nil
}

func invalid(code, message string) error {
	return &rotation.Error{Kind: rotation.ErrInvalid, Code: code, Message: message}
}

// authError returns the error a client sees with status 401.
func authError(code, message string) error {
	return &api.AuthError{Code: code, Message: message + " " + manageHint}
}

var (
	errMalformed = authError("invalid_token",
		`The Authorization header does not contain a rotor API token. Send "Authorization: Bearer " followed by the whole token, which starts with "rotor_" and is 49 characters long.`)
	errUnknown = authError("invalid_token",
		"rotor does not recognise this API token. Check that you sent the whole token; it may also belong to another rotor installation.")
	errSeveralHeaders = authError("invalid_token",
		"The request has more than one Authorization header. Send the token in exactly one.")
)

func errRevoked(t api.Token) error {
	return authError("token_revoked", fmt.Sprintf("The API token %q was revoked at %s, so rotor no longer accepts it.",
		t.Name, t.RevokedAt.UTC().Format(time.RFC3339)))
}

func errExpired(t api.Token) error {
	return authError("token_expired", fmt.Sprintf("The API token %q expired at %s, so rotor no longer accepts it.",
		t.Name, t.ExpiresAt.UTC().Format(time.RFC3339)))
}
