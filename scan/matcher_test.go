package scan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rotorhq/rotor/secret"
)

// canary is the secret the tests plant. It has the characters that
// URL-encoding and Basic authentication change: + / = : % space é.
const canary = "CANARY-scan+/=:% é-3b7d"

// nearMiss differs from canary in one byte in the middle, which every form
// encodes.
const nearMiss = "CANARY-scam+/=:% é-3b7d"

func newMatcher(t *testing.T, s string) *Matcher {
	t.Helper()
	m, err := NewMatcher(secret.New(s))
	if err != nil {
		t.Fatalf("NewMatcher: %v", err)
	}
	return m
}

// basicHeader is an HTTP Basic credential as RFC 6749 section 2.3.1 builds
// it: both parts form-encoded, then Base64.
func basicHeader(clientID, s string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(s)))
}

// leakForms lists, computed apart from the matcher, the encodings in which
// s must not appear in a scan's output.
func leakForms(s string) map[string]string {
	quoted, _ := json.Marshal(s)
	forms := map[string]string{
		"raw":            s,
		"query-escaped":  url.QueryEscape(s),
		"path-escaped":   url.PathEscape(s),
		"JSON-escaped":   strings.Trim(string(quoted), `"`),
		"base64":         base64.StdEncoding.EncodeToString([]byte(s)),
		"base64url":      base64.RawURLEncoding.EncodeToString([]byte(s)),
		"base64 escaped": base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(s))),
	}
	for _, id := range []string{"a", "ab", "abc"} {
		forms["Basic "+id] = basicHeader(id, s)
	}
	return forms
}

// assertNoLeak fails when out contains s in any form, checked both with
// forms computed apart from the matcher and with the matcher itself.
func assertNoLeak(t *testing.T, m *Matcher, s, out string) {
	t.Helper()
	if out == "" {
		t.Fatalf("no output to search; the leak check would pass vacuously")
	}
	for name, form := range leakForms(s) {
		if strings.Contains(out, form) {
			t.Errorf("the output contains the secret (%s form)", name)
		}
	}
	if m.Contains(out) {
		t.Errorf("the output contains the secret in a form the matcher searches for")
	}
}

func TestMatcherFindsEachForm(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	jsonSecret := `CANARY-json"\<x>&-9f`
	mj := newMatcher(t, jsonSecret)
	htmlEscaped, _ := json.Marshal(jsonSecret)
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(jsonSecret)

	tests := []struct {
		name string
		m    *Matcher
		text string
		want Form // "" for no match
	}{
		{"exact", m, "x=" + canary + "\n", FormExact},
		{"query escaped", m, "?secret=" + url.QueryEscape(canary) + "&a=1", FormURL},
		{"path escaped", m, "/v1/" + url.PathEscape(canary) + "/x", FormURL},
		{"base64 padded", m, base64.StdEncoding.EncodeToString([]byte(canary)), FormBase64},
		{"base64 raw url-safe", m, base64.RawURLEncoding.EncodeToString([]byte(canary)), FormBase64},
		{"base64 of query escape", m, base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(canary))), FormBase64},
		{"basic auth alignment 2", m, "Authorization: Basic " + basicHeader("a", canary), FormBase64},
		{"basic auth alignment 0", m, "Authorization: Basic " + basicHeader("ab", canary), FormBase64},
		{"basic auth alignment 1", m, "Authorization: Basic " + basicHeader("abc", canary), FormBase64},
		{"basic auth url-safe", m, base64.URLEncoding.EncodeToString([]byte("ab:" + canary)), FormBase64},
		{"basic auth unescaped", m, base64.StdEncoding.EncodeToString([]byte("abcd:" + canary + ":tail")), FormBase64},
		{"json html-escaped", mj, `{"s":` + string(htmlEscaped) + `}`, FormJSON},
		{"json plain", mj, `{"s":` + strings.TrimSpace(plain.String()) + `}`, FormJSON},
		{"near miss exact", m, nearMiss, ""},
		{"near miss query escaped", m, url.QueryEscape(nearMiss), ""},
		{"near miss base64", m, base64.StdEncoding.EncodeToString([]byte(nearMiss)), ""},
		{"near miss basic auth", m, basicHeader("a", nearMiss) + basicHeader("ab", nearMiss) + basicHeader("abc", nearMiss), ""},
		{"prefix only", m, canary[:len(canary)/2], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			matches, _, err := tt.m.search(strings.NewReader(tt.text))
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			if tt.want == "" {
				if len(matches) != 0 {
					t.Errorf("got %d matches (first: %s), want none", len(matches), matches[0].form)
				}
				return
			}
			if len(matches) != 1 || matches[0].form != tt.want {
				t.Errorf("got %v, want one match of form %s", matches, tt.want)
			}
		})
	}
}

func TestMatcherForms(t *testing.T) {
	t.Parallel()
	got := fmt.Sprint(newMatcher(t, canary).Forms())
	if want := "[exact url base64]"; got != want {
		t.Errorf("Forms() = %s, want %s (no JSON form: the canary needs no JSON escape)", got, want)
	}
	got = fmt.Sprint(newMatcher(t, "abcdefgh12345678").Forms())
	if want := "[exact base64]"; got != want {
		t.Errorf("Forms() of a plain secret = %s, want %s", got, want)
	}
}

func TestNewMatcherRejectsShortSecret(t *testing.T) {
	t.Parallel()
	_, err := NewMatcher(secret.New("short"))
	if !errors.Is(err, ErrShortSecret) {
		t.Errorf("NewMatcher(5 bytes) = %v, want ErrShortSecret", err)
	}
}

// A match that straddles two reads is found once, at the right offset and
// line, wherever the read boundary falls and however short the reads are.
func TestMatcherStraddlesReads(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	m.chunk = 7 // shorter than every needle
	basic := basicHeader("ab", canary)
	// In the Basic credential, "ab:" fills one 3-byte group, so the
	// secret's stable characters start after its 4 characters.
	for _, planted := range []struct {
		form Form
		text string
		skip int
	}{{FormExact, canary, 0}, {FormBase64, basic, 4}} {
		for at := range 3 * m.chunk {
			filler := strings.Repeat("x", at-at/3) + strings.Repeat("\n", at/3)
			text := filler + planted.text + "\nmore\ntext " + strings.Repeat("y", at)
			for name, r := range map[string]func() []match{
				"full reads": func() []match { got, _, _ := m.search(strings.NewReader(text)); return got },
				"byte reads": func() []match { got, _, _ := m.search(iotest.OneByteReader(strings.NewReader(text))); return got },
			} {
				got := r()
				want := []match{{form: planted.form, offset: int64(len(filler) + planted.skip), line: 1 + at/3}}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s planted at %d, %s: got %v, want %v", planted.form, at, name, got, want)
				}
			}
		}
	}
}

// The default read size holds, and a secret across its boundary is found.
func TestMatcherStraddlesDefaultChunk(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	at := m.maxLen - 1 + defaultChunk - 5 // the first read fills the whole buffer
	text := strings.Repeat("a", at-1) + "\n" + canary + strings.Repeat("b", 100)
	got, info, err := m.search(iotest.HalfReader(strings.NewReader(text)))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	want := []match{{form: FormExact, offset: int64(at), line: 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if info.size != int64(len(text)) || info.binary {
		t.Errorf("stream = %+v, want size %d, text", info, len(text))
	}
}

func TestMatcherBinaryAndRepeats(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	text := "a " + canary + " b " + canary + "\n" + canary
	got, _, _ := m.search(strings.NewReader(text))
	if len(got) != 2 || got[0].line != 1 || got[1].line != 2 {
		t.Errorf("text: got %v, want one match per line on lines 1 and 2", got)
	}

	bin := "\x00\x01" + canary + "\x00" + canary
	got, info, _ := m.search(strings.NewReader(bin))
	if !info.binary || len(got) != 2 || got[0].offset != 2 || got[1].offset != int64(3+len(canary)) {
		t.Errorf("binary: got %v (binary %v), want matches at offsets 2 and %d", got, info.binary, 3+len(canary))
	}
}

// The matcher prints, logs and encodes as [REDACTED], and Redact removes
// every form.
func TestMatcherRedacts(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	want := "scan.Matcher(" + secret.Redacted + ")"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{m, *m} {
			if got := fmt.Sprintf(verb, v); got != want {
				t.Errorf("Sprintf(%q, %T) = %q, want %q", verb, v, got, want)
			}
		}
	}
	var out bytes.Buffer
	raw, _ := json.Marshal(m)
	out.Write(raw)
	slog.New(slog.NewTextHandler(&out, nil)).Info("matcher", "m", m)
	assertNoLeak(t, m, canary, out.String())

	var all strings.Builder
	for _, form := range leakForms(canary) {
		all.WriteString("<" + form + ">")
	}
	redacted := m.Redact(all.String())
	assertNoLeak(t, m, canary, redacted)
	if !strings.Contains(redacted, "<"+secret.Redacted+">") {
		t.Errorf("Redact(%q) has no %s", redacted, secret.Redacted)
	}
}
