package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzCanary replaces each "$SECRET" in a fuzzed body. The token endpoint
// rejects it as a secret, and no response or log line may show it unless
// the body also puts it in a field that rotor stores as text.
const fuzzCanary = "CANARYfuzz7Q2xW9"

// FuzzJSONAPI sends POST requests with fuzzed paths, Content-Types and
// bodies through the whole handler, with Postgres behind it. In a path,
// {credential}, {rotation} and {incident} stand for cred-a's ids, and the
// same names with -b for cred-b's.
//
// The properties checked: no response is a 5xx, which includes the 500 of
// a recovered panic. Every error is JSON with exactly a code and a
// message, and every response is valid UTF-8. A secret sent in the field
// "secret" appears in no response and no log line. The seed corpus is in
// testdata/fuzz/FuzzJSONAPI, besides one seed per route of mutatingRoutes.
func FuzzJSONAPI(f *testing.F) {
	for _, route := range mutatingRoutes("{rotation}", "{incident}") {
		if strings.HasPrefix(route.path, "/api/v1/") {
			f.Add(strings.ReplaceAll(route.path, "cred-a", "{credential}"), "application/json", []byte(route.body))
		}
	}
	fx := setupTwoCredentials(f)
	placeholders := strings.NewReplacer(
		"{credential}", "cred-a", "{rotation}", fx.rotations["cred-a"], "{incident}", fx.incidents["cred-a"],
		"{credential-b}", "cred-b", "{rotation-b}", fx.rotations["cred-b"], "{incident-b}", fx.incidents["cred-b"],
	)

	f.Fuzz(func(t *testing.T, path, contentType string, body []byte) {
		if !strings.HasPrefix(path, "/api/v1/") || !validHeaderValue(contentType) {
			return
		}
		path = placeholders.Replace(path)
		body = bytes.ReplaceAll(body, []byte("$SECRET"), []byte(fuzzCanary))
		req, err := http.NewRequest(http.MethodPost, fx.url+path, bytes.NewReader(body))
		if err != nil {
			return // not a URL that a client could send
		}
		req.Header.Set("X-Test-Role", "operator")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}

		fx.logs.Reset()
		status, header, got := fx.do(t, req)

		if status >= 500 {
			t.Fatalf("POST %q (%q, %q): %d %s\nlog:\n%s", path, contentType, body, status, got, fx.logs.String())
		}
		if !utf8.Valid(got) {
			t.Errorf("response is not valid UTF-8: %q", got)
		}
		if status >= 400 {
			checkErrorBody(t, status, header, got)
		} else if !json.Valid(got) {
			t.Errorf("%d response is not JSON: %s", status, got)
		}

		if strings.Contains(path+contentType, fuzzCanary) || canaryOutsideSecret(body) {
			return
		}
		seen := string(got) + fmtHeader(header) + fx.logs.String()
		for _, form := range canaryForms() {
			if strings.Contains(seen, form) {
				t.Fatalf("the secret sent in %q appears in the response or log:\n%s", body, seen)
			}
		}
	})
}

// do sends req and returns the response, failing t when none arrives.
func (f *twoCredentials) do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("POST %q: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatalf("read response to POST %q: %v", req.URL.Path, err)
	}
	return resp.StatusCode, resp.Header, buf.Bytes()
}

// checkErrorBody checks that an error response is JSON of the form
// {"error": {"code", "message"}} with both set and nothing else.
func checkErrorBody(t *testing.T, status int, header http.Header, body []byte) {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%d response has Content-Type %q, want application/json", status, ct)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%d response is not a JSON error (%v): %s", status, err, body)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%d error without a code or a message: %s", status, body)
	}
}

// canaryOutsideSecret reports whether body, decoded as encoding/json does,
// holds the canary outside the value of the field secret, where rotor may
// store and show it as operator text. Field names match without regard to
// case, as encoding/json matches them. A body that does not decode holds
// it nowhere that rotor shows.
func canaryOutsideSecret(body []byte) bool {
	var fields map[string]any
	if json.Unmarshal(body, &fields) != nil {
		return false
	}
	for name, value := range fields {
		if strings.Contains(name, fuzzCanary) {
			return true
		}
		if strings.EqualFold(name, "secret") {
			continue
		}
		// The canary has only letters and digits, so encoding the value
		// again keeps it as it is, in a string or in a field name.
		if text, _ := json.Marshal(value); strings.Contains(string(text), fuzzCanary) {
			return true
		}
	}
	return false
}

// canaryForms are the canary as it is and inside the Basic credentials of
// either client, the other forms being equal for its letters and digits.
func canaryForms() []string {
	forms := []string{fuzzCanary}
	for _, client := range []string{"client-cred-a", "client-cred-b"} {
		forms = append(forms, strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(client+":"+fuzzCanary)), "="))
	}
	return forms
}

func fmtHeader(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// validHeaderValue reports whether net/http sends v as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
