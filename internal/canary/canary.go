// Package canary provides the canary secrets of rotor's tests and the
// search for them. A test that hands rotor a client secret hands it Value
// (and Second or Third where it needs more than one secret), and searches
// everything rotor wrote with Check: logs, database rows, HTTP response
// bodies, metrics and test artefacts. Because every test uses the same
// values, one search finds a leak from any test.
//
// The values contain characters that change under URL, JSON, HTML and
// Base64 encoding, so that each encoding is a different string, and Forms
// lists each of them. A search reports the form it found but never the
// value.
package canary

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"html"
	"html/template"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rotorhq/rotor/scan"
	"github.com/rotorhq/rotor/secret"
)

// The bodies are fixed random hex, so a hit cannot be a coincidence, around
// a space, the characters that URL, form, JSON and HTML encoding change, a
// non-ASCII letter and the colon of HTTP Basic credentials.
const (
	valueText  = `CANARY-35e445b5ec19905c +/=&%"é:a3efb4a7b228af24`
	secondText = `CANARY-cf03be4527def61d +/=&%"é:14f88b5e1fb9b985`
	thirdText  = `CANARY-aa18939fa763d1c4 +/=&%"é:7111c0fedd613a25`
)

var (
	// Value is the canary secret: the secret a test gives rotor wherever
	// rotor handles one, such as the current secret of a test credential.
	Value = secret.New(valueText)

	// Second is the canary for a test that needs a second secret, such as
	// the new secret of a rotation whose old one is Value.
	Second = secret.New(secondText)

	// Third is the canary for a test that needs a third secret, such as the
	// secret of a second rotation.
	Third = secret.New(thirdText)
)

// Form is one encoding of a canary: Text is what a test searches for, Name
// describes it in a failure message. Text contains the secret, so print
// only Name.
type Form struct {
	Name string
	Text string
}

// Forms returns every form in which rotor could write one of the canaries,
// in a fixed order:
//
//   - as it is;
//   - percent-encoded as a query or form value (url.QueryEscape, with
//     uppercase and lowercase hex digits) and as a path segment
//     (url.PathEscape), the latter also inside JSON and HTML text;
//   - inside a JSON string, with and without encoding/json's HTML escaping,
//     and escaped twice, as a quoted (%q) or JSON-encoded value inside a
//     JSON log record;
//   - HTML-escaped, by html.EscapeString and by html/template in text, in
//     an unquoted attribute and in a URL;
//   - hex-encoded, in lowercase and uppercase;
//   - in Base64 alone or inside a longer text, such as the
//     "client_id:secret" of an HTTP Basic Authorization header. That is in
//     the standard and the URL-safe alphabet, padded or not, of the secret
//     and of its form-encoded form, because RFC 6749 section 2.3.1
//     form-encodes a client secret before Base64. These forms are the parts
//     that depend on the secret alone (scan.Base64Fragments).
func Forms() []Form { return slices.Clone(forms()) }

var forms = sync.OnceValue(func() []Form {
	var out []Form
	for _, c := range []struct{ prefix, text string }{
		{"", valueText},
		{"second canary, ", secondText},
		{"third canary, ", thirdText},
	} {
		for _, f := range formsOf(c.text) {
			out = append(out, Form{Name: c.prefix + f.Name, Text: f.Text})
		}
	}
	return out
})

// formsOf lists the forms of one secret, without repeats.
func formsOf(raw string) []Form {
	var out []Form
	add := func(name, text string) {
		for _, f := range out {
			if f.Text == text {
				return
			}
		}
		out = append(out, Form{Name: name, Text: text})
	}

	add("raw", raw)
	query := url.QueryEscape(raw)
	add("URL query", query)
	add("URL query with lowercase hex", lowercaseEscapes(query))
	path := url.PathEscape(raw)
	add("URL path", path)
	// A path segment keeps "&" and "+", so a message that quotes a
	// request's path changes it again in JSON and HTML.
	add("URL path inside JSON", jsonString(path, true))
	add("URL path inside html/template text", renderIn(templateContexts[0].before, templateContexts[0].after, path))
	add("JSON", jsonString(raw, true))
	add("JSON without HTML escaping", jsonString(raw, false))
	// An error that quotes a value (%q, or a JSON request body) and is then
	// logged as JSON is escaped twice.
	for _, inner := range []struct{ name, text string }{
		{"Go-quoted", goQuoted(raw)},
		{"JSON", jsonString(raw, true)},
		{"JSON without HTML escaping", jsonString(raw, false)},
	} {
		add(inner.name+" inside JSON", jsonString(inner.text, true))
		add(inner.name+" inside JSON without HTML escaping", jsonString(inner.text, false))
	}
	add("HTML", html.EscapeString(raw))
	for _, t := range templateContexts {
		add("html/template "+t.name, renderIn(t.before, t.after, raw))
	}
	add("hex", hex.EncodeToString([]byte(raw)))
	add("uppercase hex", strings.ToUpper(hex.EncodeToString([]byte(raw))))
	for _, src := range []struct{ name, text string }{{"", raw}, {" of the URL query form", query}} {
		for i, fragment := range scan.Base64Fragments([]byte(src.text)) {
			alphabet := "standard"
			if i >= 3 {
				alphabet = "URL-safe"
			}
			add("Base64"+src.name+" ("+alphabet+" alphabet, offset "+string(rune('0'+i%3))+")", string(fragment))
		}
	}
	return out
}

// jsonString returns s as encoding/json writes it inside a string literal,
// without the quotes.
func jsonString(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(b.String(), "\n"), `"`), `"`)
}

// goQuoted returns s as strconv.Quote (and so %q) writes it, without the
// quotes.
func goQuoted(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// templateContexts are the places in which rotor's pages could show a
// value, as the markup before and after it. html/template escapes
// differently in each: it also escapes "+" in text, "=" and spaces in an
// unquoted attribute, and percent-encodes with lowercase hex in a URL.
var templateContexts = []struct{ name, before, after string }{
	{"text", `<p>`, `</p>`},
	{"unquoted attribute", `<input value=`, `>`},
	{"URL", `<a href="/?s=`, `">`},
}

// renderIn returns s as html/template renders it between before and after,
// without that markup.
func renderIn(before, after, s string) string {
	t := template.Must(template.New("").Parse(before + "{{.}}" + after))
	var b strings.Builder
	_ = t.Execute(&b, s) // a string always renders
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), before), after)
}

var percentEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

// lowercaseEscapes returns s with the hex digits of its percent escapes in
// lowercase, as some encoders other than Go's write them.
func lowercaseEscapes(s string) string {
	return percentEscape.ReplaceAllStringFunc(s, strings.ToLower)
}

// Find returns the name of the first form in Forms that text contains.
func Find(text string) (form string, found bool) {
	for _, f := range forms() {
		if strings.Contains(text, f.Text) {
			return f.Name, true
		}
	}
	return "", false
}

// Check fails t when text contains a canary in any form. The message names
// where the text came from and the form, never the text or the value.
func Check(t testing.TB, where, text string) {
	t.Helper()
	if form, found := Find(text); found {
		t.Errorf("%s contains the canary secret (%s form)", where, form)
	}
}
