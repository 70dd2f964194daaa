package secretstore_test

import (
	"errors"
	"testing"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

var special = secret.New(`NEW-2 +/=:% é <&> "q" \b`)

func TestFormatPlain(t *testing.T) {
	t.Parallel()
	var f secretstore.Format

	doc, err := f.Encode([]byte("ignored"), special)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if string(doc) != special.Reveal() {
		t.Errorf("plain document is not the secret itself")
	}
	got, err := f.Decode(doc)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !got.Equal(special) {
		t.Errorf("Decode(Encode(secret)) differs from the secret")
	}
}

func TestFormatJSONEncode(t *testing.T) {
	t.Parallel()
	f := secretstore.Format{JSONKey: "client_secret"}
	tests := []struct {
		name string
		base string
		want string
	}{
		{
			name: "only the value changes",
			base: `{"client_id": "client-a",  "client_secret" : "OLD-1", "n": 1.50, "list":[1, 2]}`,
			want: `{"client_id": "client-a",  "client_secret" : "NEW-2 +/=:% é <&> \"q\" \\b", "n": 1.50, "list":[1, 2]}`,
		},
		{
			name: "nested key of the same name is left alone",
			base: `{"inner":{"client_secret":"keep"},"client_secret":"OLD-1"}`,
			want: `{"inner":{"client_secret":"keep"},"client_secret":"NEW-2 +/=:% é <&> \"q\" \\b"}`,
		},
		{
			name: "empty base gives a new object",
			base: "",
			want: `{"client_secret":"NEW-2 +/=:% é <&> \"q\" \\b"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.Encode([]byte(tt.base), special)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			// The documents hold a test secret only, so printing them is safe.
			if string(got) != tt.want {
				t.Errorf("Encode() = %s\nwant %s", got, tt.want)
			}
			decoded, err := f.Decode(got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !decoded.Equal(special) {
				t.Errorf("Decode(Encode(secret)) differs from the secret")
			}
		})
	}
}

func TestFormatJSONInvalid(t *testing.T) {
	t.Parallel()
	f := secretstore.Format{JSONKey: "client_secret"}
	tests := []struct {
		name string
		doc  string
	}{
		{"not an object", `["client_secret"]`},
		{"not JSON", `client_secret=OLD-1`},
		{"missing key", `{"secret":"OLD-1"}`},
		{"value not a string", `{"client_secret":42}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := f.Decode([]byte(tt.doc)); !errors.Is(err, secretstore.ErrInvalid) {
				t.Errorf("Decode() error = %v, want ErrInvalid", err)
			}
			if _, err := f.Encode([]byte(tt.doc), special); !errors.Is(err, secretstore.ErrInvalid) {
				t.Errorf("Encode() error = %v, want ErrInvalid", err)
			}
		})
	}
}
