package tokencheck

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rotorhq/rotor/secret"
)

// maxExcerptRunes bounds a body excerpt in a Detail.
const maxExcerptRunes = 160

// jwtPattern matches a compact JWS or JWE, the usual shape of an access
// token, so that an excerpt never carries one.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*`)

// percentEscape matches one percent-encoded byte.
var percentEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

// scrubber removes a secret from text in each form in which a server might
// echo it: as it is, form-encoded, path-encoded, inside the Basic
// credentials, JSON-escaped and HTML-escaped.
type scrubber struct {
	forms []string // sorted longest first, so that no shorter form splits a longer one
}

// newScrubber lists the forms of s. The client id is not secret and is
// only used to build the Basic credentials.
func newScrubber(clientID string, s secret.Value) scrubber {
	raw := s.Reveal()
	formEncoded := url.QueryEscape(raw)
	pathEncoded := url.PathEscape(raw)
	basic := basicCredentials(clientID, raw)
	plainBasic := base64.StdEncoding.EncodeToString([]byte(clientID + ":" + raw))
	jsonEscaped := jsonEscape(raw, true)

	candidates := []string{
		raw,
		formEncoded, lowerHexEscapes(formEncoded),
		pathEncoded, lowerHexEscapes(pathEncoded),
		basic, strings.TrimRight(basic, "="),
		plainBasic, strings.TrimRight(plainBasic, "="),
		jsonEscaped, jsonEscape(raw, false), strings.ReplaceAll(jsonEscaped, "/", `\/`),
		jsonEscapeASCII(raw, "%04x"), jsonEscapeASCII(raw, "%04X"),
		html.EscapeString(raw),
	}
	for _, c := range slices.Clone(candidates) {
		candidates = append(candidates, normalizeText(c))
	}

	var forms []string
	for _, c := range candidates {
		if c != "" && !slices.Contains(forms, c) {
			forms = append(forms, c)
		}
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return scrubber{forms: forms}
}

// scrub replaces every form of the secret in text with secret.Redacted.
func (sc scrubber) scrub(text string) string {
	for _, form := range sc.forms {
		text = strings.ReplaceAll(text, form, secret.Redacted)
	}
	return text
}

// sanitizeLine makes text safe for a one-line message: valid UTF-8, the
// secret and anything shaped like a JWT removed, control and format
// characters gone, white space collapsed, and at most maxRunes runes.
func sanitizeLine(text string, sc scrubber, maxRunes int) string {
	text = strings.ToValidUTF8(text, "")
	text = sc.scrub(text)
	text = normalizeText(text)
	// Again, because collapsing white space can join an echo that was
	// split by a line break.
	text = sc.scrub(text)
	text = jwtPattern.ReplaceAllString(text, "[token]")
	return truncateRunes(text, maxRunes)
}

// normalizeText turns control characters and white space into single
// spaces and drops format characters such as bidirectional overrides.
func normalizeText(text string) string {
	text = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, text)
	return strings.Join(strings.Fields(text), " ")
}

// truncateRunes cuts text to maxRunes runes and marks the cut with "…".
func truncateRunes(text string, maxRunes int) string {
	if utf8.RuneCountInString(text) <= maxRunes {
		return text
	}
	runes := []rune(text)
	return string(runes[:maxRunes]) + "…"
}

// excerpt returns a short, sanitised description of a response body. For
// a JSON object it shows only the OAuth error fields, or else the key
// names, so no value such as a token reaches the excerpt. The text of a
// successful response that is neither HTML nor a JSON object is not shown
// at all, because it may be a token response in another format.
func excerpt(kind bodyKind, status int, body []byte, truncated bool, sc scrubber) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "empty"
	}

	successful := status >= 200 && status < 300
	var text string
	switch kind {
	case kindJSON:
		if described, ok := jsonExcerpt(body, sc); ok {
			text = described
			break
		}
		text = plainExcerpt(body, successful, sc)
	case kindHTML:
		text = htmlExcerpt(body, sc)
	default:
		text = plainExcerpt(body, successful, sc)
	}

	if truncated {
		text += fmt.Sprintf(" (longer than %d KiB, not read to the end)", maxBodyBytes>>10)
	}
	return text
}

// plainExcerpt quotes the start of a body, or only counts its bytes when
// the response was successful.
func plainExcerpt(body []byte, successful bool, sc scrubber) string {
	if successful {
		return fmt.Sprintf("%d bytes of text, not shown because a successful response may carry a token", len(body))
	}
	return fmt.Sprintf("%q", sanitizeLine(string(body), sc, maxExcerptRunes))
}

// jsonExcerpt describes a JSON object. It reports false when body is not a
// JSON object.
func jsonExcerpt(body []byte, sc scrubber) (string, bool) {
	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil || object == nil {
		return "", false
	}

	var parts []string
	for _, key := range []string{"error", "error_description"} {
		var value string
		if raw, ok := object[key]; ok && json.Unmarshal(raw, &value) == nil {
			parts = append(parts, fmt.Sprintf("%s %q", key, sanitizeLine(value, sc, 120)))
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, ", "), true
	}

	keys := make([]string, 0, len(object))
	for key := range object {
		keys = append(keys, sanitizeLine(key, sc, 40))
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "an empty JSON object", true
	}
	const maxKeys = 10
	if len(keys) > maxKeys {
		keys = append(keys[:maxKeys], "…")
	}
	return "a JSON object with keys " + strings.Join(keys, ", "), true
}

// htmlExcerpt shows an HTML page's title, or the start of its text when it
// has none.
func htmlExcerpt(body []byte, sc scrubber) string {
	page := string(body)
	if title, ok := htmlTitle(page); ok {
		return fmt.Sprintf("an HTML page titled %q", sanitizeLine(html.UnescapeString(title), sc, maxExcerptRunes))
	}
	return fmt.Sprintf("an HTML page reading %q", sanitizeLine(html.UnescapeString(stripTags(page)), sc, maxExcerptRunes))
}

// htmlTitle returns the text of the first <title> element.
func htmlTitle(page string) (string, bool) {
	lower := strings.ToLower(page)
	open := strings.Index(lower, "<title")
	if open < 0 {
		return "", false
	}
	startTagEnd := strings.Index(lower[open:], ">")
	if startTagEnd < 0 {
		return "", false
	}
	start := open + startTagEnd + 1
	end := strings.Index(lower[start:], "</title")
	if end < 0 {
		return "", false
	}
	return page[start : start+end], true
}

// stripTags drops everything between < and >, which is enough for an
// excerpt of a login or error page.
func stripTags(page string) string {
	var b strings.Builder
	inTag := false
	for _, r := range page {
		switch {
		case r == '<':
			inTag = true
			b.WriteRune(' ')
		case r == '>':
			inTag = false
		case !inTag:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lowerHexEscapes rewrites %2B as %2b, as some servers echo it.
func lowerHexEscapes(text string) string {
	return percentEscape.ReplaceAllStringFunc(text, strings.ToLower)
}

// jsonEscape returns text as the inside of a JSON string, as
// encoding/json writes it.
func jsonEscape(text string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(text); err != nil {
		return ""
	}
	quoted := strings.TrimSuffix(buf.String(), "\n")
	return quoted[1 : len(quoted)-1]
}

// jsonEscapeASCII returns text as the inside of a JSON string with every
// rune outside printable ASCII written as \uXXXX, as ASCII-only encoders
// do. hexFormat chooses lower- or upper-case hex digits.
func jsonEscapeASCII(text, hexFormat string) string {
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			high, low := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u`+hexFormat+`\u`+hexFormat, high, low)
		default:
			fmt.Fprintf(&b, `\u`+hexFormat, r)
		}
	}
	return b.String()
}
