package canary_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/secret"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestValuesHaveDistinctEncodings(t *testing.T) {
	t.Parallel()
	for _, v := range []secret.Value{canary.Value, canary.Second, canary.Third} {
		raw := v.Reveal()
		if v.Len() < 32 {
			t.Errorf("a canary has %d bytes, want at least 32", v.Len())
		}
		quoted, _ := json.Marshal(raw)
		for name, encoded := range map[string]string{
			"URL query": url.QueryEscape(raw),
			"URL path":  url.PathEscape(raw),
			"JSON":      string(quoted[1 : len(quoted)-1]),
			"Base64":    base64.StdEncoding.EncodeToString([]byte(raw)),
		} {
			if encoded == raw {
				t.Errorf("the %s form of a canary equals the raw value, so a search could not tell them apart", name)
			}
		}
	}
	if canary.Value.Equal(canary.Second) || canary.Value.Equal(canary.Third) || canary.Second.Equal(canary.Third) {
		t.Error("two canaries are equal")
	}
}

func TestFindEachEncoding(t *testing.T) {
	t.Parallel()
	raw := canary.Value.Reveal()
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("leak", "secret", raw)
	var page strings.Builder
	if err := template.Must(template.New("").Parse(`<a href="/r?s={{.}}" title={{.}}>{{.}}</a>`)).Execute(&page, raw); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"client_id": {"client-a"}, "client_secret": {raw}}.Encode()

	tests := map[string]string{
		"raw":                      "x " + raw + " y",
		"query":                    "/token?secret=" + url.QueryEscape(raw),
		"form body":                form,
		"path":                     "/api/v1/rotations/" + url.PathEscape(raw),
		"JSON log":                 logs.String(),
		"template":                 page.String(),
		"hex":                      hex.EncodeToString([]byte("x" + raw)),
		"Basic header":             "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("client-a:"+raw)),
		"Basic, form-encoded":      base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("client-a") + ":" + url.QueryEscape(raw))),
		"Base64 raw URL, offset 1": base64.RawURLEncoding.EncodeToString([]byte("a" + raw)),
		"Base64 offset 2":          base64.StdEncoding.EncodeToString([]byte("ab" + raw + "c")),
		"quoted error in JSON log": jsonLog(t, fmt.Errorf("put %q: denied", raw)),
		"JSON body in JSON log":    jsonLog(t, fmt.Errorf("sdk: bad request %s", mustJSON(t, map[string]string{"v": raw}))),
		"path in JSON message":     string(mustJSON(t, fmt.Sprintf("There is no rotation %q.", url.PathEscape(raw)))),
		"second":                   "new=" + canary.Second.Reveal(),
		"third, JSON":              string(mustJSON(t, canary.Third.Reveal())),
	}
	for name, text := range tests {
		if _, found := canary.Find(text); !found {
			t.Errorf("Find misses the canary in the %s case", name)
		}
	}
}

// jsonLog returns err as slog's JSON handler logs it.
func jsonLog(t *testing.T, err error) string {
	t.Helper()
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Error("failed", "error", err)
	return b.String()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFindIgnoresOtherText(t *testing.T) {
	t.Parallel()
	raw := canary.Value.Reveal()
	for name, text := range map[string]string{
		"redacted":       fmt.Sprintf("secret=%v %q %x", canary.Value, canary.Value, canary.Value),
		"prefix only":    "CANARY-",
		"last bytes cut": raw[:len(raw)-2],
		"other secret":   "client_secret=" + url.QueryEscape("OLD-1 a+b/c=d:e%f é"),
	} {
		if form, found := canary.Find(text); found {
			t.Errorf("Find reports the %s form in the %s case", form, name)
		}
	}
}

func TestCheckNamesPlaceNotValue(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	canary.Check(rec, "the response body", "body: "+url.QueryEscape(canary.Second.Reveal()))
	if len(rec.failures) != 1 {
		t.Fatalf("Check recorded %d failures, want 1", len(rec.failures))
	}
	msg := rec.failures[0]
	if !strings.Contains(msg, "the response body") || !strings.Contains(msg, "second canary, URL query") {
		t.Errorf("failure message %q does not name the place and the form", msg)
	}
	if _, found := canary.Find(msg); found || strings.Contains(msg, "35e445") || strings.Contains(msg, "cf03be") {
		t.Errorf("failure message %q shows part of a canary", msg)
	}

	clean := &recorder{TB: t}
	canary.Check(clean, "a clean text", "nothing here")
	if len(clean.failures) != 0 {
		t.Errorf("Check failed on a clean text: %q", clean.failures)
	}
}

func TestFormsAreDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, f := range canary.Forms() {
		if f.Text == "" || f.Name == "" {
			t.Errorf("form %q is empty", f.Name)
		}
		if other, ok := seen[f.Text]; ok {
			t.Errorf("forms %q and %q are equal", other, f.Name)
		}
		seen[f.Text] = f.Name
	}
}
