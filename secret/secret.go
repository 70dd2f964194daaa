// Package secret provides Value, the only type rotor uses to carry a client
// secret. A Value redacts itself wherever it could be printed, logged or
// encoded, so a secret reaches a wire or a secrets manager only through an
// explicit call to Reveal.
package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is the text a Value prints, logs and encodes as.
const Redacted = "[REDACTED]"

// Value is a secret held in memory. The zero Value is empty.
//
// Every formatting path (fmt verbs, slog, JSON and text marshalling) yields
// Redacted. Callers must not copy the result of Reveal into anything that
// outlives the request that needs it.
type Value struct {
	b []byte
}

// New returns a Value that holds a copy of s.
func New(s string) Value {
	return Value{b: []byte(s)}
}

// FromBytes returns a Value that holds a copy of b.
func FromBytes(b []byte) Value {
	return Value{b: append([]byte(nil), b...)}
}

// Reveal returns the secret itself. Use it only to hand the secret to the
// token endpoint or a secrets manager.
func (v Value) Reveal() string { return string(v.b) }

// IsZero reports whether the Value is empty.
func (v Value) IsZero() bool { return len(v.b) == 0 }

// Len returns the length of the secret in bytes.
func (v Value) Len() int { return len(v.b) }

// Equal compares two Values in constant time.
func (v Value) Equal(o Value) bool {
	return subtle.ConstantTimeCompare(v.b, o.b) == 1
}

// Fingerprint returns a keyed hash (HMAC-SHA256) of the secret, hex-encoded
// and cut to 16 characters. Without the key it does not help to guess the
// secret, so it may be shown and stored.
func (v Value) Fingerprint(key []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(v.b)
	return hex.EncodeToString(mac.Sum(nil))[:16]
}

// String returns Redacted.
func (v Value) String() string { return Redacted }

// GoString returns Redacted, so %#v does not print the bytes.
func (v Value) GoString() string { return "secret.Value(" + Redacted + ")" }

// Format writes Redacted for every verb, including %x and %q.
func (v Value) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(Redacted))
}

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON encodes the Value as the string Redacted.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText encodes the Value as Redacted.
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalJSON reads a JSON string into the Value, so request bodies can
// carry a secret. Any other JSON type is an error that does not quote the
// input.
func (v *Value) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("secret must be a JSON string")
	}
	v.b = []byte(s)
	return nil
}
