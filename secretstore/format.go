package secretstore

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/rotorhq/rotor/secret"
)

// Format describes how the secret sits in a stored document: as the whole
// document (plain) or as one string field of a JSON object. Backends whose
// values are opaque strings (AWS, GCP, memory) use it; Vault KV stores an
// object already and uses the key directly.
type Format struct {
	// JSONKey is the top-level key that holds the secret. Empty means the
	// document is the secret itself.
	JSONKey string
}

// Decode extracts the secret from a stored document.
func (f Format) Decode(doc []byte) (secret.Value, error) {
	if f.JSONKey == "" {
		return secret.FromBytes(doc), nil
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil {
		return secret.Value{}, Errorf(ErrInvalid, "decode", "the stored value is not a JSON object; set the format to plain or store a JSON object")
	}
	raw, ok := fields[f.JSONKey]
	if !ok {
		return secret.Value{}, Errorf(ErrInvalid, "decode", "the stored JSON object has no key %q; fix json_key in the configuration", f.JSONKey)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return secret.Value{}, Errorf(ErrInvalid, "decode", "the stored JSON key %q is not a string", f.JSONKey)
	}
	return secret.New(s), nil
}

// Encode returns the document to store for v. For the JSON format, base is
// the current document: only the value of JSONKey changes, and every other
// byte, including the order and spacing of the other keys, is kept. An
// empty base yields a new object with the one key.
func (f Format) Encode(base []byte, v secret.Value) ([]byte, error) {
	if f.JSONKey == "" {
		return []byte(v.Reveal()), nil
	}

	quoted, err := quote(v.Reveal())
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(base)) == 0 {
		key, _ := quote(f.JSONKey)
		return append(append(append([]byte("{"), key...), ':'), append(quoted, '}')...), nil
	}

	start, end, err := valueSpan(base, f.JSONKey)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(base)-(end-start)+len(quoted))
	out = append(out, base[:start]...)
	out = append(out, quoted...)
	out = append(out, base[end:]...)
	return out, nil
}

// quote encodes s as a JSON string without HTML escaping, so that a secret
// containing < or & is stored as the operator gave it.
func quote(s string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, Errorf(ErrInvalid, "encode", "the secret cannot be encoded as a JSON string")
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// valueSpan finds the byte range of the value of a top-level key in a JSON
// object.
func valueSpan(doc []byte, key string) (start, end int, err error) {
	notObject := Errorf(ErrInvalid, "encode", "the stored value is not a JSON object; set the format to plain or store a JSON object")
	dec := json.NewDecoder(bytes.NewReader(doc))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return 0, 0, notObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, 0, notObject
		}
		name, _ := tok.(string)

		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, 0, notObject
		}
		if name != key {
			continue
		}
		if len(raw) == 0 || raw[0] != '"' {
			return 0, 0, Errorf(ErrInvalid, "encode", "the stored JSON key %q is not a string", key)
		}
		end = int(dec.InputOffset())
		return end - len(raw), end, nil
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return 0, 0, notObject
	}
	return 0, 0, Errorf(ErrInvalid, "encode", "the stored JSON object has no key %q; fix json_key in the configuration", key)
}
