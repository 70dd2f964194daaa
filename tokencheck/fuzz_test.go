package tokencheck

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rotorhq/rotor/secret"
)

const (
	fuzzTokenURL = "https://auth.persium.example/realms/customers/protocol/openid-connect/token"
	fuzzClientID = "client-fuzz"
)

// FuzzReadResponse builds a token endpoint's response from a status code,
// a block of header lines and a body, parses it as the HTTP client does and
// classifies it as Check does. The secret that the check sent is
// "CANARY-" followed by secretTail, a text no fixed message contains.
//
// The properties checked: no input panics, and the same response always
// gets the same Result. The Result never contains the secret in any of its
// encodings, nor a JWT, nor the access token of an accepted response.
// Detail is one line of valid UTF-8. Accepted and Rejected follow the
// rules documented on Outcome. The seed corpus is in
// testdata/fuzz/FuzzReadResponse.
func FuzzReadResponse(f *testing.F) {
	checker, err := New(Config{TokenURL: fuzzTokenURL})
	if err != nil {
		f.Fatalf("New: %v", err)
	}

	f.Fuzz(func(t *testing.T, status int, header string, body []byte, secretTail string, post bool) {
		sec := "CANARY-" + secretTail
		if !plausibleSecret(sec) {
			return
		}
		method := Basic
		if post {
			method = Post
		}
		chk := check{clientID: fuzzClientID, method: method, secret: secret.New(sec), scrub: newScrubber(fuzzClientID, secret.New(sec))}
		raw := fmt.Sprintf("HTTP/1.1 %d Fuzz\r\n%s\r\n", status, header) + string(body)

		res := readRaw(checker, raw, chk)
		if again := readRaw(checker, raw, chk); again != res {
			t.Fatalf("the same response classified twice:\n%+v\n%+v", res, again)
		}

		printed := fmt.Sprintf("%+v", res)
		for name, form := range secretEncodings(fuzzClientID, sec) {
			if strings.Contains(printed, form) {
				t.Errorf("Result contains the secret (%s): %s", name, printed)
			}
		}
		if jwtPattern.MatchString(printed) {
			t.Errorf("Result contains a JWT: %s", printed)
		}
		if !utf8.ValidString(printed) || strings.ContainsAny(printed, "\r\n") {
			t.Errorf("Result is not one line of valid UTF-8: %q", printed)
		}
		if utf8.RuneCountInString(res.ContentType) > 101 {
			t.Errorf("ContentType has %d runes, want at most 100 and the cut mark", utf8.RuneCountInString(res.ContentType))
		}

		want := expectedOutcome(raw)
		switch res.Outcome {
		case Accepted, Rejected, Inconclusive:
		default:
			t.Fatalf("Outcome %q is not one of the three", res.Outcome)
		}
		if res.Outcome != want.outcome {
			t.Errorf("Outcome = %s, want %s (%s): %s", res.Outcome, want.outcome, want.reason, printed)
		}
		if res.Outcome == Accepted && len(want.token) >= 8 && !strings.Contains(header, want.token) && strings.Contains(printed, want.token) {
			t.Errorf("the Result of an accepted response contains its access token: %s", printed)
		}
	})
}

// readRaw parses raw as an HTTP response to a POST and classifies it. A
// response that does not parse gets the Result of a failed round trip,
// whose error text comes from the parser and can quote the response.
func readRaw(c *Checker, raw string, chk check) Result {
	ctx := context.Background()
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: http.MethodPost})
	if err != nil {
		return c.transportFailure(ctx, err, chk.scrub)
	}
	defer resp.Body.Close()
	return c.readResponse(ctx, resp, chk)
}

// plausibleSecret accepts what rotor stores as a client secret: UTF-8
// text of at most 4096 bytes without control characters or white space
// at either end.
func plausibleSecret(s string) bool {
	if len(s) > 4096 || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// secretEncodings lists the forms in which a server could echo the
// secret, built here independently of the scrubber.
func secretEncodings(clientID, sec string) map[string]string {
	jsonHTML, _ := json.Marshal(sec)
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(sec)
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(sec)))
	return map[string]string{
		"raw":                       sec,
		"form-encoded":              url.QueryEscape(sec),
		"path-encoded":              url.PathEscape(sec),
		"Basic credentials":         basic,
		"Basic without padding":     strings.TrimRight(basic, "="),
		"unencoded Basic":           base64.StdEncoding.EncodeToString([]byte(clientID + ":" + sec)),
		"JSON":                      unquote(string(jsonHTML)),
		"JSON without HTML escapes": unquote(strings.TrimSuffix(plain.String(), "\n")),
		"HTML-escaped":              html.EscapeString(sec),
	}
}

// unquote drops the quotes around a JSON string, and no other character.
func unquote(quoted string) string {
	return quoted[1 : len(quoted)-1]
}

type expectation struct {
	outcome Outcome
	reason  string
	token   string // the access token of a 200 JSON response
}

// expectedOutcome applies the rules documented on Outcome to raw. Accepted
// is a 200 whose complete JSON body has an access_token that is a
// non-empty string. Rejected is a 400 or 401 whose complete JSON body has
// the error invalid_client or unauthorized_client. Everything else is
// Inconclusive.
func expectedOutcome(raw string) expectation {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: http.MethodPost})
	if err != nil {
		return expectation{Inconclusive, "the response does not parse", ""}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		return expectation{Inconclusive, "the body cannot be read whole", ""}
	}
	mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
		return expectation{Inconclusive, "the body is not declared as JSON", ""}
	}
	var parsed struct {
		AccessToken any    `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		return expectation{Inconclusive, "the body is not a JSON object of the token response's types", ""}
	}
	token, _ := parsed.AccessToken.(string)
	switch {
	case resp.StatusCode == http.StatusOK && token != "":
		return expectation{Accepted, "a 200 with an access token", token}
	case (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) &&
		(parsed.Error == "invalid_client" || parsed.Error == "unauthorized_client"):
		return expectation{Rejected, "a client error", ""}
	}
	return expectation{Inconclusive, "neither a token nor a client error", token}
}
