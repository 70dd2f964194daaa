package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/secret"
)

const raw = "CANARY-secret+/=:% é"

func TestValueRedactsEverywhere(t *testing.T) {
	t.Parallel()
	v := secret.New(raw)

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		if got := fmt.Sprintf(verb, v); strings.Contains(got, "CANARY") || !strings.Contains(got, secret.Redacted) {
			t.Errorf("Sprintf(%s) = %q, want it redacted", verb, got)
		}
	}
	wrapped := struct{ S secret.Value }{v}
	if got := fmt.Sprintf("%+v %#v", wrapped, wrapped); strings.Contains(got, "CANARY") {
		t.Errorf("a struct holding a Value prints the secret: %q", got)
	}

	b, err := json.Marshal(wrapped)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if strings.Contains(string(b), "CANARY") {
		t.Errorf("JSON encoding leaks the secret: %s", b)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("test", "secret", v, "nested", wrapped)
	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("slog leaks the secret: %s", logs.String())
	}
}

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	var got struct{ Secret secret.Value }
	in, _ := json.Marshal(map[string]string{"Secret": raw})
	if err := json.Unmarshal(in, &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if got.Secret.Reveal() != raw {
		t.Errorf("Reveal() after decoding differs from the input")
	}
	if !got.Secret.Equal(secret.New(raw)) || got.Secret.Equal(secret.New(raw+"x")) {
		t.Errorf("Equal does not compare the bytes")
	}

	var bad struct{ Secret secret.Value }
	err := json.Unmarshal([]byte(`{"Secret": 12345}`), &bad)
	if err == nil || strings.Contains(err.Error(), "12345") {
		t.Errorf("Unmarshal of a number: err = %v, want an error that does not quote the input", err)
	}
}

func TestFingerprintIsKeyed(t *testing.T) {
	t.Parallel()
	v := secret.New(raw)
	a, b := v.Fingerprint([]byte("key-1")), v.Fingerprint([]byte("key-2"))
	if a == b || len(a) != 16 {
		t.Errorf("fingerprints %q and %q: want 16 characters that differ by key", a, b)
	}
	if v.Fingerprint([]byte("key-1")) != a {
		t.Errorf("fingerprint not stable for the same key")
	}
}
