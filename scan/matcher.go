// Package scan searches files, directories and the history of git
// repositories for one leaked secret, in the forms in which it is usually
// written down. It reports where it found the secret and never returns the
// value or any part of it.
//
// The secret enters as a secret.Value and is revealed once, inside
// NewMatcher, to derive the byte strings to search for. Those stay in an
// unexported field of the Matcher, which prints itself as [REDACTED]. Every
// string the package returns (paths, error messages, tag names) has passed
// through Matcher.Redact, so a file named after the secret cannot carry it
// into a report either.
package scan

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"

	"github.com/rotorhq/rotor/secret"
)

// Form is the encoding in which a hit contains the secret.
type Form string

const (
	// FormExact is the secret's bytes as they are.
	FormExact Form = "exact"

	// FormURL is the secret percent-encoded as a query value
	// (url.QueryEscape, spaces as "+") or as a path segment
	// (url.PathEscape, spaces as "%20"), with uppercase hex digits.
	FormURL Form = "url"

	// FormJSON is the secret inside a JSON string literal, escaped the way
	// encoding/json writes it, with and without HTML escaping.
	FormJSON Form = "json"

	// FormBase64 is the Base64 encoding of the secret or of its
	// QueryEscape form, in the standard or the URL-safe alphabet, padded
	// or not. It is found alone and inside the encoding of a longer text,
	// such as the "client_id:secret" of an HTTP Basic Authorization header.
	FormBase64 Form = "base64"
)

// MinSecretBytes is the length of the shortest secret the matcher accepts.
// A shorter value, and the Base64 fragments derived from it, would match
// unrelated text by chance.
const MinSecretBytes = 8

// ErrShortSecret is returned by NewMatcher for a secret shorter than
// MinSecretBytes.
var ErrShortSecret = fmt.Errorf("the secret is shorter than %d bytes, so a search for it would match unrelated text by chance", MinSecretBytes)

// defaultChunk is how many bytes the matcher reads per step. It bounds the
// memory a scan uses per file, whatever the file's size.
const defaultChunk = 64 << 10

// binarySniff is how many leading bytes decide whether content is binary:
// it is when they contain a NUL byte, as git decides.
const binarySniff = 8000

// needle is one byte string the matcher searches for.
type needle struct {
	text []byte
	form Form
}

// Matcher finds the secret, in each of its forms, in byte streams and
// strings. It is safe for concurrent use. It never exposes the byte strings
// it searches for: it formats, logs and encodes as [REDACTED], and its
// results carry only the form, the offset and the line of a match.
type Matcher struct {
	needles []needle
	maxLen  int
	forms   []Form
	chunk   int // bytes read per step; tests make it small
}

// NewMatcher derives the byte strings to search for from v: the exact
// value, its URL and JSON escapes where they differ from it, and the Base64
// fragments described at FormBase64. It returns ErrShortSecret for a value
// shorter than MinSecretBytes.
//
// Base64 maps each group of 3 input bytes to 4 characters. So the encoding
// of a text that contains the secret depends on where in a group the secret
// starts, and the characters at its edges also encode the neighbouring
// bytes. For each of the 3 alignments the matcher searches for the
// characters that depend on the secret alone. Those leave out at most the
// first 4 and the last 4 bits of the secret, so a value that differs from
// it only there also matches in that form.
func NewMatcher(v secret.Value) (*Matcher, error) {
	if v.Len() < MinSecretBytes {
		return nil, ErrShortSecret
	}
	m := &Matcher{chunk: defaultChunk}
	raw := []byte(v.Reveal())
	add := func(form Form, text []byte) {
		for _, n := range m.needles {
			if bytes.Equal(n.text, text) {
				return
			}
		}
		m.needles = append(m.needles, needle{text: text, form: form})
		m.maxLen = max(m.maxLen, len(text))
		if len(m.forms) == 0 || m.forms[len(m.forms)-1] != form {
			m.forms = append(m.forms, form)
		}
	}

	add(FormExact, raw)
	query := []byte(url.QueryEscape(string(raw)))
	add(FormURL, query)
	add(FormURL, []byte(url.PathEscape(string(raw))))
	for _, html := range []bool{true, false} {
		add(FormJSON, jsonEscape(raw, html))
	}
	for _, src := range [][]byte{raw, query} {
		for _, fragment := range Base64Fragments(src) {
			add(FormBase64, fragment)
		}
	}
	return m, nil
}

// Base64Fragments returns what every Base64 encoding of a text that contains
// src has in common. For the standard and the URL-safe alphabet, and for
// each of the 3 alignments of src in a 3-byte group, that is the characters
// that encode src alone (see NewMatcher). A text contains src in Base64, padded
// or not and whatever surrounds src, only if it contains one of the 6
// fragments. The 3 standard-alphabet fragments come first, then the 3
// URL-safe ones, each in the order of offsets 0, 1 and 2. Tests use them to
// search their own output for a canary secret.
func Base64Fragments(src []byte) [][]byte {
	var out [][]byte
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for align := range 3 {
			out = append(out, base64Inner(enc, src, align))
		}
	}
	return out
}

// jsonEscape returns src as encoding/json writes it inside a string literal,
// without the quotes.
func jsonEscape(src []byte, html bool) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(string(src)) // a string always encodes
	return bytes.TrimSuffix(bytes.TrimPrefix(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte(`"`)), []byte(`"`))
}

// base64Inner returns the characters of enc's encoding of a text in which
// src starts align bytes (0, 1 or 2) after the start of a 3-byte group,
// keeping only those that no byte outside src affects. At the start, the
// first 2 (align 1) or 3 (align 2) characters also encode the bytes before
// src. At the end, a group that src fills only partly yields 1 or 2
// characters that encode src alone and further ones that do not.
func base64Inner(enc *base64.Encoding, src []byte, align int) []byte {
	padded := make([]byte, align+len(src))
	copy(padded[align:], src)
	encoded := make([]byte, enc.EncodedLen(len(padded)))
	enc.Encode(encoded, padded)

	n := len(padded)
	end := n/3*4 + [3]int{0, 1, 2}[n%3]
	start := [3]int{0, 2, 3}[align]
	return encoded[start:end]
}

// Forms returns the forms the matcher searches for, in the order of the
// Form constants, without repeats. A form is missing when it equals the
// exact value, as the URL form of a secret without special characters.
func (m *Matcher) Forms() []Form { return append([]Form(nil), m.forms...) }

// Contains reports whether s contains the secret in any form.
func (m *Matcher) Contains(s string) bool {
	_, ok := m.find(s)
	return ok
}

// find returns the form of the first needle that s contains.
func (m *Matcher) find(s string) (Form, bool) {
	for _, n := range m.needles {
		if bytes.Contains([]byte(s), n.text) {
			return n.form, true
		}
	}
	return "", false
}

// Redact returns s with every occurrence of the secret, in any form,
// replaced by secret.Redacted. Everything the package reports passes
// through it.
func (m *Matcher) Redact(s string) string {
	b := []byte(s)
	for _, n := range m.needles {
		b = bytes.ReplaceAll(b, n.text, []byte(secret.Redacted))
	}
	return string(b)
}

// String returns [REDACTED], so that printing a Matcher shows no needle.
// The formatting methods have value receivers so that a copy of a Matcher
// redacts itself too.
func (m Matcher) String() string { return "scan.Matcher(" + secret.Redacted + ")" }

// GoString returns the same as String, for %#v.
func (m Matcher) GoString() string { return m.String() }

// Format writes String for every verb, including %x and %d.
func (m Matcher) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue implements slog.LogValuer.
func (m Matcher) LogValue() slog.Value { return slog.StringValue(m.String()) }

// MarshalJSON encodes the Matcher as the string [REDACTED].
func (m Matcher) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// match is one occurrence of the secret in a stream.
type match struct {
	form   Form
	offset int64 // of the first byte, from the start of the stream
	line   int   // 1-based line of the first byte
}

// stream describes one searched stream.
type stream struct {
	size   int64
	binary bool // a NUL byte in the first binarySniff bytes
}

// search reads r to its end and returns every match. Text content reports
// one match per line and form, binary content one per offset and form. It
// reads in chunks and carries the last maxLen-1 bytes of each window into
// the next, so a match that straddles two reads is found once.
func (m *Matcher) search(r io.Reader) ([]match, stream, error) {
	buf := make([]byte, m.maxLen-1+m.chunk)
	var (
		out   []match
		info  stream
		seen  = map[seenKey]bool{}
		tail  int   // bytes carried over at the start of buf
		base  int64 // stream offset of buf[0]
		line  = 1   // line number at buf[0]
		first = true
	)
	for {
		n, err := io.ReadFull(r, buf[tail:])
		if n > 0 {
			window := buf[:tail+n]
			info.size += int64(n)
			if first {
				info.binary = bytes.IndexByte(window[:min(len(window), binarySniff)], 0) >= 0
				first = false
			}
			for _, nd := range m.needles {
				for from := 0; ; {
					i := bytes.Index(window[from:], nd.text)
					if i < 0 {
						break
					}
					at := from + i
					from = at + 1
					if at+len(nd.text) <= tail {
						continue // entirely in the carried bytes: found in the previous window
					}
					mt := match{form: nd.form, offset: base + int64(at), line: line + bytes.Count(window[:at], []byte{'\n'})}
					key := seenKey{pos: int64(mt.line), form: nd.form}
					if info.binary {
						key.pos = mt.offset
					}
					if !seen[key] {
						seen[key] = true
						out = append(out, mt)
					}
				}
			}

			keep := min(m.maxLen-1, len(window))
			drop := len(window) - keep
			line += bytes.Count(window[:drop], []byte{'\n'})
			base += int64(drop)
			copy(buf, window[drop:])
			tail = keep
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			slices.SortStableFunc(out, func(a, b match) int { return cmp.Compare(a.offset, b.offset) })
			return out, info, nil
		}
		if err != nil {
			return out, info, err
		}
	}
}

// seenKey identifies a reported match: its line in text content, its
// offset in binary content.
type seenKey struct {
	pos  int64
	form Form
}
